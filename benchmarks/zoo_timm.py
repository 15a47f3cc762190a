"""timm model zoo: optfn's rules against timm's own grouping, before and after the zoo defaults.

timm imports torchvision, which does not load beside the project's CPU torch 2.13, so this
runs in a separate environment (the same one as ``bench_param_groups.py``'s timm column)::

    python3 -m venv /tmp/timmenv
    /tmp/timmenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm attrs cattrs numpy \\
        tomli-w rich
    /tmp/timmenv/bin/pip install --no-deps -e .
    /tmp/timmenv/bin/python benchmarks/zoo_timm.py

Eight models built with ``pretrained=False``. For each it prints, as a markdown table, the
parameters on which optfn and timm disagree (``+``: only optfn; ``-``: only timm):

* weight decay: the no-decay set of ``timm.optim.create_optimizer_v2(model, "adamw",
  weight_decay=0.05)`` (``param_groups_weight_decay`` with the model's ``no_weight_decay()``)
  against optfn's old default, ``ParamRules()`` and ``ParamRules.timm()``;
* Muon: the parameters timm's Muon sends to Muon (``timm.optim.muon._is_suitable_for_muon``)
  against ``MuonRouting.hidden_matrices()``, old and new (the README lists why they differ);
* layer decay (ViT, DeiT, DeiT-III): the LR scale of ``param_groups_layer_decay(...,
  layer_decay=0.75)`` against ``ParamRules.timm(layer_decay=LayerDecay(0.75, "blocks"))``,
  without and with ``last_block=("norm.*",)``.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import timm
import torch
from timm.optim import create_optimizer_v2, param_groups_layer_decay
from timm.optim.muon import _is_suitable_for_muon
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _zoo_before import OLD_MUON, OLD_RULES

from optfn import LayerDecay, MuonRouting, MuonSpec, ParamRules, partition_params

MODELS = (
    "vit_tiny_patch16_224",
    "deit_tiny_distilled_patch16_224",
    "deit3_small_patch16_224",
    "convnext_atto",
    "convnextv2_atto",
    "swin_tiny_patch4_window7_224",
    "resnet18",
    "efficientnet_b0",
)


def _diff(ours: set[str], theirs: set[str]) -> str:
    rows = [f"+{n}" for n in sorted(ours - theirs)] + [f"-{n}" for n in sorted(theirs - ours)]
    if not rows:
        return "0"
    shown = ", ".join(rows[:3]) + (f", … ({len(rows) - 3} more)" if len(rows) > 3 else "")
    return f"{len(rows)}: {shown}"


def timm_no_decay(model: nn.Module) -> set[str]:
    opt = create_optimizer_v2(model, "adamw", weight_decay=0.05)
    ids = {id(p) for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def optfn_no_decay(model: nn.Module, rules: ParamRules) -> set[str]:
    return {e.name for e in partition_params(model, rules) if not e.decay}


def timm_muon(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if _is_suitable_for_muon(p)}


def optfn_muon(model: nn.Module, routing: MuonRouting) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = partition_params(model, ParamRules(muon=routing), spec=MuonSpec())
    return {e.name for e in part if e.route == "muon"}


def layer_decay_diff(model: nn.Module, last_block: tuple[str, ...]) -> str:
    groups = param_groups_layer_decay(
        model, weight_decay=0.05, layer_decay=0.75, no_weight_decay_list=model.no_weight_decay()
    )
    name_of = {id(p): n for n, p in model.named_parameters()}
    theirs = {name_of[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}
    rules = ParamRules.timm(layer_decay=LayerDecay(rate=0.75, last_block=last_block))
    ours = {e.name: e.lr_scale for e in partition_params(model, rules)}
    bad = [n for n in ours if not math.isclose(ours[n], theirs[n], rel_tol=1e-12)]
    if not bad:
        return "0"
    return f"{len(bad)}: " + ", ".join(f"{n} {ours[n]:g} vs {theirs[n]:g}" for n in bad[:2])


def main() -> None:
    print(f"torch {torch.__version__}, timm {timm.__version__}")
    print(
        "| model | params | old default vs timm | `ParamRules()` vs timm | `ParamRules.timm()` "
        "vs timm | old `hidden_matrices()` vs timm Muon | `hidden_matrices()` vs timm Muon "
        "| layer decay | layer decay, `last_block` |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        model = timm.create_model(name, pretrained=False)
        no_decay, muon = timm_no_decay(model), timm_muon(model)
        is_vit = name.startswith(("vit", "deit"))
        cells = [
            _diff(optfn_no_decay(model, OLD_RULES), no_decay),
            _diff(optfn_no_decay(model, ParamRules()), no_decay),
            _diff(optfn_no_decay(model, ParamRules.timm()), no_decay),
            _diff(optfn_muon(model, OLD_MUON), muon),
            _diff(optfn_muon(model, MuonRouting.hidden_matrices()), muon),
            layer_decay_diff(model, ()) if is_vit else "n/a",
            layer_decay_diff(model, ("norm.*",)) if is_vit else "n/a",
        ]
        count = sum(1 for p in model.parameters() if p.requires_grad)
        print(f"| {name} | {count} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
