"""The README's quick start and config example run as written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _block_after(heading: str, lang: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert match is not None, heading
    return match.group(1)


def test_quick_start_runs() -> None:
    namespace: dict[str, object] = {}
    exec(compile(_block_after("## Quick start", "python"), "README quick start", "exec"), namespace)
    opt = namespace["opt"]
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 4
    sched = namespace["sched"]
    assert sched.last_epoch == 1000  # type: ignore[attr-defined]


def test_toml_config_example_loads_and_builds(tmp_path: Path) -> None:
    from optfn import MuonWithAdamW, OptimConfig
    from optfn.demo import ScoringModel

    (tmp_path / "run.toml").write_text(_block_after("## Configs that travel", "toml"))
    code = _block_after("## Configs that travel", "python").replace(
        "run.toml", str(tmp_path / "run.toml")
    )
    namespace: dict[str, object] = {"model": ScoringModel()}
    exec(compile(code, "README config example", "exec"), namespace)
    assert isinstance(namespace["cfg"], OptimConfig)
    assert isinstance(namespace["opt"], MuonWithAdamW)


def test_own_optimizer_example_registers_and_builds() -> None:
    from optfn import from_dict, to_dict
    from optfn.optim.table import OPTIMIZERS

    saved = dict(OPTIMIZERS.by_tag)
    try:
        namespace: dict[str, object] = {}
        code = _block_after("### Your own optimizer", "python")
        exec(compile(code, "README own optimizer", "exec"), namespace)
        opt = namespace["opt"]
        assert isinstance(opt, torch.optim.SGD)
        assert [(g["lr"], g["momentum"], g["weight_decay"]) for g in opt.param_groups] == [
            (0.05, 0.9, 1e-4),
            (0.05, 0.9, 0.0),
        ]
        spec = namespace["SGDMomentumSpec"](momentum=0.5)  # type: ignore[operator]
        assert from_dict(to_dict(spec)) == spec
    finally:
        OPTIMIZERS.by_tag.clear()
        OPTIMIZERS.by_tag.update(saved)
