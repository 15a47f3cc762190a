"""Hugging Face models built from small configs (no download): optfn's default rules, the
``ParamRules.hf()`` preset and ``MuonRouting.hidden_matrices()`` against what ``Trainer``
does and what Muon needs."""

from __future__ import annotations

import logging
import math
import re
import warnings
from functools import cache

import pytest
from torch import nn
from transformers import Trainer

from examples import zoo_models as zoo
from optfn import MuonRouting, MuonSpec, ParamRules, partition_params

logging.getLogger("transformers").setLevel(logging.ERROR)

MODELS = sorted(zoo.MODELS)

#: Where optfn's default deliberately differs from Trainer: ViT's class token and position
#: parameters get no weight decay (timm's ``no_weight_decay()`` and the epoch-based builders agree).
DEFAULT_DIFFERS = {
    "vit": {"vit.embeddings.cls_token", "vit.embeddings.position_embeddings"},
}


@cache
def model(name: str) -> nn.Module:
    """The model of that name with 2 blocks (so "every block" means something)."""
    built: nn.Module = zoo.MODELS[name](layers=2)
    return built


def trainer_decays(m: nn.Module) -> set[str]:
    """The parameters that Trainer's optimizer decays: ``get_decay_parameter_names`` lists
    tied weights under every alias; Trainer then keeps ``named_parameters()``'s first name."""
    listed = set(Trainer.get_decay_parameter_names(None, m))  # type: ignore[arg-type]
    return {n for n, p in m.named_parameters() if n in listed and p.requires_grad}


def optfn_decays(m: nn.Module, rules: ParamRules) -> set[str]:
    return {e.name for e in partition_params(m, rules) if e.decay}


@pytest.mark.parametrize("name", MODELS)
def test_hf_preset_equals_trainer(name: str) -> None:
    m = model(name)
    assert optfn_decays(m, ParamRules.hf()) == trainer_decays(m)


@pytest.mark.parametrize("name", MODELS)
def test_default_agrees_with_trainer_except_where_documented(name: str) -> None:
    m = model(name)
    ours, theirs = optfn_decays(m, ParamRules()), trainer_decays(m)
    assert ours <= theirs
    assert theirs - ours == DEFAULT_DIFFERS.get(name, set())


@pytest.mark.parametrize("name", MODELS)
def test_default_gives_every_norm_no_decay(name: str) -> None:
    m = model(name)
    part = partition_params(m)
    norms = {
        f"{mn}.{pn}"
        for mn, mod in m.named_modules()
        if type(mod).__name__.endswith("Norm")
        for pn, _ in mod.named_parameters(recurse=False)
    }
    assert norms, "every one of these models has normalization layers"
    for n in norms & set(part.names):
        assert not part.entry(n).decay
        assert part.reasons(n)[0].endswith("Norm -> no weight decay")


def test_llama_rmsnorm_reason_names_the_class() -> None:
    part = partition_params(model("llama"))
    assert part.reasons("model.norm.weight") == ("LlamaRMSNorm -> no weight decay",)
    assert part.reasons("model.layers.1.post_attention_layernorm.weight") == (
        "LlamaRMSNorm -> no weight decay",
    )


_BLOCK = re.compile(r"\.(layers?|h|block)\.\d+\.")


@pytest.mark.parametrize("name", MODELS)
def test_hidden_matrices_sends_only_true_hidden_matrices_to_muon(name: str) -> None:
    m = model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = partition_params(m, ParamRules(muon=MuonRouting.hidden_matrices()), spec=MuonSpec())
    owner = {
        f"{mn}.{pn}" if mn else pn: mod
        for mn, mod in m.named_modules()
        for pn, _ in mod.named_parameters(recurse=False)
    }
    muon = [e for e in part if e.route == "muon"]
    assert muon
    for e in muon:
        rows = e.param.shape[0]
        assert e.param.ndim >= 2 and min(rows, math.prod(e.param.shape[1:])) >= 2, e.name
        assert not isinstance(owner[e.name], nn.Embedding), e.name
        assert not re.search(r"embed|token|position|head|classifier", e.name), e.name
    # every hidden weight matrix of the blocks (attention, MLP) goes to Muon
    for e in part:
        if _BLOCK.search("." + e.name) and e.param.ndim == 2 and "relative_attention" not in e.name:
            assert e.route == "muon", (e.name, part.reasons(e.name))


def test_readme_plan_examples_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's ``optfn plan`` excerpts: ``examples/zoo_models.py`` under the config of
    ``MuonRouting.hidden_matrices()``."""
    from pathlib import Path

    from optfn.cli import main

    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root))
    config = str(root / "examples" / "muon_hidden_matrices.toml")
    assert main(["plan", "--model", "examples.zoo_models:llama", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "LlamaRMSNorm -> no weight decay" in out
    assert "muon.exclude 'lm_head.*' -> adamw" in out
    assert main(["plan", "--model", "examples.zoo_models:vit", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "matrix view 1x16 has a side < 2 -> adamw; cls_token -> no weight decay" in out
