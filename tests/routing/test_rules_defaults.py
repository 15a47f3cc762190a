"""The defaults that real models need: norms by class-name pattern, gains, tokens, position
and bias tables, ``no_weight_decay()``, the timm and Hugging Face presets, Muon routing of
true matrices only, and timm's final-norm placement under layer decay."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
import torch
from torch import nn

from optfn import (
    LayerDecay,
    MuonRouting,
    MuonSpec,
    ParamRules,
    from_dict,
    partition_params,
    to_dict,
)
from optfn.errors import SpecError, SpecTypeError
from optfn.specs.rules import HF_NO_DECAY_NAMES


class LlamaLikeRMSNorm(nn.Module):  # not a torch class: recognised by its name
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.input_layernorm = LlamaLikeRMSNorm(d)
        self.proj = nn.Linear(d, d)
        self.gamma = nn.Parameter(torch.ones(d))  # LayerScale (timm ConvNeXt)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(9, 2))  # Swin


class Tiny(nn.Module):
    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, d))
        self.blocks = nn.ModuleList([Block(d), Block(d)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 3)


def decays(model: nn.Module, rules: ParamRules) -> dict[str, bool]:
    return {e.name: e.decay for e in partition_params(model, rules)}


def test_default_recognises_norms_gains_tokens_and_tables() -> None:
    got = decays(Tiny(), ParamRules())
    decaying = {n for n, d in got.items() if d}
    assert decaying == {"blocks.0.proj.weight", "blocks.1.proj.weight", "head.weight"}
    part = partition_params(Tiny())
    assert part.reasons("blocks.0.input_layernorm.weight") == (
        "LlamaLikeRMSNorm -> no weight decay",
    )
    assert part.reasons("blocks.1.gamma") == ("gamma -> no weight decay",)
    assert part.reasons("dist_token") == ("*_token -> no weight decay",)
    assert part.reasons("blocks.0.relative_position_bias_table") == (
        "*_bias_table -> no weight decay",
    )


def test_class_name_patterns_match_through_the_mro_but_never_module_or_object() -> None:
    class FancyNorm(nn.Linear):  # a subclass of a class that the pattern names
        pass

    class Wrapped(FancyNorm):
        pass

    model = nn.Sequential(Wrapped(2, 2), nn.Linear(2, 2))
    part = partition_params(model, ParamRules.uniform(no_decay_types=("*Norm",)))
    assert [e.decay for e in part] == [False, False, True, True]
    assert part.reasons("0.weight") == ("FancyNorm -> no weight decay",)
    # "Mod*" would match nn.Module and "obj*" object: neither is ever matched
    part = partition_params(model, ParamRules.uniform(no_decay_types=("Mod*", "obj*")))
    assert all(e.decay for e in part)


@pytest.mark.parametrize(
    "name",
    ["LayerNorm", "torch.nn.LayerNorm", "torch.nn.modules.LayerNorm",
     "torch.nn.modules.normalization.LayerNorm"],
)  # fmt: skip
def test_a_class_matches_by_its_name_its_path_and_the_public_paths_above_it(name: str) -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    got = decays(model, ParamRules.uniform(no_decay_types=(name,)))
    assert got == {"0.weight": True, "0.bias": True, "1.weight": False, "1.bias": False}
    other = decays(model, ParamRules.uniform(no_decay_types=("torch.optim.LayerNorm",)))
    assert all(other.values())


@pytest.mark.parametrize("bad", ["", "a b", "Layer-Norm", "*", "**", "?"])
def test_bad_type_names_are_refused(bad: str) -> None:
    with pytest.raises(SpecError, match=r"ParamRules\.no_decay_types\[0\]"):
        ParamRules(no_decay_types=(bad,))


# ---- no_weight_decay() ---------------------------------------------------------------------


class Listing(nn.Module):
    def __init__(self, listed: Any) -> None:
        super().__init__()
        self.listed = listed
        self.table = nn.Parameter(torch.zeros(4, 4))
        self.inner = Inner()
        self.other = nn.Parameter(torch.zeros(4, 4))

    def no_weight_decay(self) -> Any:
        if isinstance(self.listed, Exception):
            raise self.listed
        return self.listed


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rel = nn.Parameter(torch.zeros(4, 4))
        self.keep = nn.Parameter(torch.zeros(4, 4))

    def no_weight_decay(self) -> set[str]:
        return {"rel"}  # relative to this module: "inner.rel"


def test_no_weight_decay_names_are_honoured_relative_to_their_module() -> None:
    model = Listing({"table", "absent_name_is_ignored"})
    part = partition_params(model, ParamRules.uniform(model_no_weight_decay=True))
    assert {e.name: e.decay for e in part} == {
        "table": False,
        "other": True,
        "inner.rel": False,
        "inner.keep": True,
    }
    assert part.reasons("table") == ("listed by Listing.no_weight_decay() -> no weight decay",)
    assert part.reasons("inner.rel") == ("listed by Inner.no_weight_decay() -> no weight decay",)
    off = partition_params(model, ParamRules.uniform())
    assert all(e.decay for e in off)


class SwinLike(nn.Module):
    """A root without parameters of its own that lists its children's (timm's Swin)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith("1.weight")}


def test_a_root_without_parameters_still_lists_its_childrens() -> None:
    got = decays(SwinLike(), ParamRules.timm())
    assert got == {
        "layers.0.weight": True,
        "layers.0.bias": False,
        "layers.1.weight": False,
        "layers.1.bias": False,
    }


def test_no_weight_decay_patterns() -> None:
    model = Listing(["inner.*", "oth?r"])
    got = decays(model, ParamRules.uniform(model_no_weight_decay=True))
    assert got == {"table": True, "other": False, "inner.rel": False, "inner.keep": False}


@pytest.mark.parametrize(
    ("listed", "error", "message"),
    [
        (
            "table",
            SpecTypeError,
            "must give a set, list or tuple of parameter names, got 'table'",
        ),
        (3, SpecTypeError, "must give a set, list or tuple"),
        ({"table", 3}, SpecTypeError, "must give parameter names, got 3"),
        (RuntimeError("boom"), SpecError, "raised RuntimeError: 'boom'"),
    ],
)
def test_a_bad_no_weight_decay_is_a_clear_error(
    listed: Any, error: type[Exception], message: str
) -> None:
    model = nn.ModuleDict({"m": Listing(listed)})
    with pytest.raises(error) as info:
        partition_params(model, ParamRules(model_no_weight_decay=True))
    text = str(info.value)
    assert text.startswith("ParamRules.model_no_weight_decay: ")
    assert "Listing.no_weight_decay of module 'm'" in text
    assert message in text


# ---- presets ---------------------------------------------------------------------------------


def timm_rule(model: nn.Module) -> dict[str, bool]:
    """timm's ``param_groups_weight_decay`` with the model's ``no_weight_decay()``."""
    listed = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    return {
        n: not (p.ndim <= 1 or n.endswith(".bias") or n in listed)
        for n, p in model.named_parameters()
    }


class TimmLike(Tiny):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2, 2))  # a 2-D top-level "bias": timm decays it

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}


def test_timm_preset_equals_timms_rule() -> None:
    model = TimmLike()
    assert decays(model, ParamRules.timm()) == timm_rule(model)
    assert decays(model, ParamRules.timm())["bias"] is True


_HF_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def hf_rule(model: nn.Module) -> dict[str, bool]:
    """Hugging Face's ``get_decay_parameter_names`` (its regexes on the lower-cased name,
    and params of ``nn.LayerNorm`` modules), written out here."""
    out = {}
    in_ln = {
        f"{m}.{n}" if m else n
        for m, mod in model.named_modules()
        if isinstance(mod, nn.LayerNorm)
        for n, _ in mod.named_parameters()
    }
    for n, _ in model.named_parameters():
        out[n] = n not in in_ln and not any(re.search(p, n.lower()) for p in _HF_PATTERNS)
    return out


def test_hf_preset_equals_hfs_rule_on_tricky_names() -> None:
    model = nn.ModuleDict(
        {
            "LayerNorm": nn.Linear(2, 2),  # BERT's naming, any case
            "final_NORM": nn.Linear(2, 2),
            "norm": nn.Linear(2, 2),
            "normalizer": nn.Linear(2, 2),  # not a component "norm": decays
            "mynorm": nn.Linear(2, 2),
            "x_norm_y": nn.Linear(2, 2),
            "ln": nn.LayerNorm(2),
            "RMSNormish": nn.Linear(2, 2),
            "unbiased": nn.Linear(2, 2),
        }
    )
    ours = decays(model, ParamRules.hf())
    assert ours == hf_rule(model)
    assert ours["normalizer.weight"] and ours["mynorm.weight"] and ours["x_norm_y.weight"]
    assert not ours["final_NORM.weight"] and not ours["unbiased.weight"]
    assert len(HF_NO_DECAY_NAMES) == 7


def test_presets_round_trip_and_take_overrides() -> None:
    for rules in (ParamRules.timm(), ParamRules.hf(), ParamRules.uniform(), ParamRules()):
        assert from_dict(to_dict(rules)) == rules
    assert ParamRules.timm(lr_scales={"head": 2.0}).lr_scales == (("head", 2.0),)
    assert ParamRules.hf(no_decay_max_ndim=1).no_decay_max_ndim == 1


def test_configs_written_before_the_new_fields_still_load() -> None:
    old = {"version": 1, "type": "param_rules", "no_decay_names": ["bias"]}
    rules = from_dict(old)
    assert rules.model_no_weight_decay is True and rules.muon.min_matrix_side == 1
    old_ld = {"version": 1, "type": "layer_decay", "rate": 0.5, "blocks": "b", "stem": []}
    assert from_dict(old_ld).last_block == ()


# ---- Muon routing -----------------------------------------------------------------------------


class Vision(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.stem = nn.Conv2d(3, 8, 3)
        self.dw = nn.Conv2d(8, 8, 3, groups=8)  # depthwise
        self.grouped = nn.Conv2d(8, 8, 3, groups=2)
        self.pw = nn.Conv2d(8, 16, 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(169, 3))
        self.row = nn.Parameter(torch.zeros(1, 8))
        self.col = nn.Parameter(torch.zeros(8, 1, 1))
        # BERT's hidden matrix "attention.output.dense" is not an output head
        self.attention = nn.ModuleDict({"output": nn.ModuleDict({"dense": nn.Linear(8, 8)})})
        self.output = nn.Linear(8, 4)  # an output head


def muon_routes(model: nn.Module, routing: MuonRouting) -> dict[str, tuple[str, tuple[str, ...]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = partition_params(model, ParamRules(muon=routing), spec=MuonSpec())
    return {e.name: (e.route, part.reasons(e.name)) for e in part if e.param.ndim >= 2}


def test_hidden_matrices_routes_only_true_matrices_with_reasons() -> None:
    got = muon_routes(Vision(), MuonRouting.hidden_matrices())
    routes = {n: r for n, (r, _) in got.items()}
    assert routes == {
        "cls_token": "adamw",
        "stem.weight": "muon",
        "dw.weight": "adamw",
        "grouped.weight": "adamw",
        "pw.weight": "muon",
        "relative_position_bias_table": "adamw",
        "row": "adamw",
        "col": "adamw",
        "attention.output.dense.weight": "muon",
        "output.weight": "adamw",
    }
    assert got["cls_token"][1][0] == "matrix view 1x8 has a side < 2 -> adamw"
    assert got["col"][1][0] == "matrix view 8x1 has a side < 2 -> adamw"
    assert got["dw.weight"][1][0] == "grouped convolution (groups=8) -> adamw"
    assert got["grouped.weight"][1][0] == "grouped convolution (groups=2) -> adamw"
    assert got["relative_position_bias_table"][1][0] == "muon.exclude '*_bias_table' -> adamw"
    assert got["output.weight"][1][0] == "muon.exclude 'output.weight' -> adamw"


def test_spec_method_default_routing_is_unchanged() -> None:
    # the spec-method API's rule: every matrix whose name contains "transformer", whatever its shape
    model = nn.ModuleDict({"transformer": Vision()})
    routes = {n: r for n, (r, _) in muon_routes(model, MuonRouting()).items()}
    assert set(routes.values()) == {"muon"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_min_matrix_side_is_validated(bad: object) -> None:
    with pytest.raises((SpecError, SpecTypeError), match=r"MuonRouting\.min_matrix_side"):
        MuonRouting(min_matrix_side=bad)  # type: ignore[arg-type]


def test_exclude_grouped_conv_is_validated() -> None:
    with pytest.raises(SpecTypeError, match=r"MuonRouting\.exclude_grouped_conv"):
        MuonRouting(exclude_grouped_conv=1)  # type: ignore[arg-type]


# ---- layer decay: timm's final-norm placement --------------------------------------------------


def test_last_block_puts_the_final_norm_with_the_last_block() -> None:
    model = Tiny()
    plain = partition_params(model, ParamRules(layer_decay=LayerDecay(rate=0.5)))
    timm_like = partition_params(
        model, ParamRules(layer_decay=LayerDecay(rate=0.5, last_block=("norm.*",)))
    )
    scale = {e.name: e.lr_scale for e in plain}
    scale_t = {e.name: e.lr_scale for e in timm_like}
    # L = 2 blocks: stem 0.5**3, block 0 0.5**2, block 1 0.5, head 1
    assert scale["cls_token"] == scale_t["cls_token"] == 0.125
    assert scale["dist_token"] == 0.125  # "*_token" is in the default stem
    assert scale["blocks.1.proj.weight"] == scale_t["blocks.1.proj.weight"] == 0.5
    assert scale["norm.weight"] == 1.0 and scale_t["norm.weight"] == 0.5
    assert scale["head.weight"] == scale_t["head.weight"] == 1.0
    assert timm_like.reasons("norm.weight")[-1] == "layer depth 2/3 -> lr x0.5^1"


def test_a_norm_before_the_blocks_is_in_the_stem() -> None:
    model = Tiny()
    model.norm_pre = nn.LayerNorm(8)  # timm's CLIP-style ViT (pre_norm=True)
    part = partition_params(model, ParamRules(layer_decay=LayerDecay(rate=0.5)))
    assert part.entry("norm_pre.weight").lr_scale == part.entry("cls_token").lr_scale == 0.125


class WithProperty(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(2, 2))
        self.w = nn.Parameter(torch.ones(2, 2))

    @property
    def no_weight_decay(self) -> set[str]:
        return {"scale"}


def test_no_weight_decay_as_a_property_or_an_instance_attribute() -> None:
    assert decays(WithProperty(), ParamRules.timm()) == {"scale": False, "w": True}
    m = nn.Linear(2, 2)
    m.no_weight_decay = lambda: {"weight"}  # type: ignore[assignment]  # timm's hasattr sees it
    assert decays(m, ParamRules.timm()) == {"weight": False, "bias": False}
    assert decays(m, ParamRules.timm(model_no_weight_decay=False))["weight"] is True


def test_patterns_listed_under_a_module_name_with_glob_characters() -> None:
    inner = Listing(["oth*"])
    model = nn.ModuleDict({"enc[1]": inner, "enc*": Listing([])})
    got = decays(model, ParamRules.uniform(model_no_weight_decay=True))
    assert got["enc[1].other"] is False and got["enc[1].table"] is True
    assert got["enc*.other"] is True  # a sibling is not matched by the listing's prefix


def test_many_pattern_listings_match_each_under_its_own_module() -> None:
    blocks = nn.ModuleList([Listing(["oth?r"]) for _ in range(300)])
    part = partition_params(blocks, ParamRules.uniform(model_no_weight_decay=True))
    no_decay = {e.name for e in part if not e.decay}
    assert no_decay == {f"{i}.other" for i in range(300)} | {f"{i}.inner.rel" for i in range(300)}
