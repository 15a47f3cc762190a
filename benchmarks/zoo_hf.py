"""Hugging Face model zoo: optfn's rules before and after the zoo defaults, against Trainer.

Runs in the project's venv (transformers is a dev dependency)::

    .venv/bin/python benchmarks/zoo_hf.py

For each model of ``tests/convert/test_zoo_hf.py`` (built from small configs, no download) it prints
the parameters where optfn's no-decay choice differs from ``Trainer.get_decay_parameter_names``
(``+``: optfn decays, Trainer does not; ``-``: the reverse) under the old defaults, the new
default ``ParamRules()`` and ``ParamRules.hf()``, and what ``MuonRouting.hidden_matrices()``
sends to Muon that is not a true hidden matrix (a side < 2 in its matrix view) or leaves to
AdamW although it is a hidden matrix of a block.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ and examples/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _zoo_before import OLD_MUON, OLD_RULES

from optfn import MuonRouting, MuonSpec, ParamRules, partition_params
from tests.convert.test_zoo_hf import _BLOCK, MODELS, model, trainer_decays


def decay_diff(m: nn.Module, rules: ParamRules) -> list[str]:
    ours = {e.name for e in partition_params(m, rules) if e.decay}
    theirs = trainer_decays(m)
    return [f"+{n}" for n in sorted(ours - theirs)] + [f"-{n}" for n in sorted(theirs - ours)]


def muon_problems(m: nn.Module, routing: MuonRouting) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = partition_params(m, ParamRules(muon=routing), spec=MuonSpec())
    out = []
    for e in part:
        shape = tuple(e.param.shape)
        side = min(shape[0], math.prod(shape[1:])) if e.param.ndim >= 2 else 0
        hidden = bool(_BLOCK.search("." + e.name)) and e.param.ndim == 2
        if e.route == "muon" and side < 2:
            out.append(f"muon {e.name} {shape}")
        if e.route != "muon" and hidden and "relative_attention" not in e.name:
            out.append(f"adamw {e.name} {shape}")
    return out


def _cell(rows: list[str]) -> str:
    if not rows:
        return "0"
    more = f", … ({len(rows) - 3} more)" if len(rows) > 3 else ""
    return f"{len(rows)}: " + ", ".join(rows[:3]) + more


def main() -> None:
    print(
        "| model | params | old default vs Trainer | ParamRules() vs Trainer | "
        "hf() vs Trainer | old hidden_matrices | hidden_matrices() |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in MODELS:
        m = model(name)
        cells = [
            decay_diff(m, OLD_RULES),
            decay_diff(m, ParamRules()),
            decay_diff(m, ParamRules.hf()),
            muon_problems(m, OLD_MUON),
            muon_problems(m, MuonRouting.hidden_matrices()),
        ]
        n = len(partition_params(m))
        text = [_cell(c) for c in cells]
        print(f"| {name} | {n} | " + " | ".join(text) + " |")


if __name__ == "__main__":
    main()
