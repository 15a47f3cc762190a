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


def _run_recipe(heading: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(_block_after(heading, "python"), heading, "exec"), namespace)
    return namespace


def _step(ns: dict[str, object], n: int) -> None:
    opt, sched = ns["opt"], ns["sched"]
    for _ in range(n):
        opt.step()  # type: ignore[attr-defined]
        sched.step()  # type: ignore[attr-defined]


def test_recipe_muon_momentum_warmup() -> None:
    ns = _run_recipe("#### Recipe: Muon momentum warm-up")
    muon = [g for g in ns["opt"].param_groups if g["route"] == "muon"]  # type: ignore[attr-defined]
    assert muon and abs(muon[0]["momentum"] - 0.85) < 1e-15
    _step(ns, 150)
    assert abs(muon[0]["momentum"] - 0.90) < 1e-12  # halfway: (1 - 0.5) * 0.85 + 0.5 * 0.95
    assert muon[0]["lr"] == 0.02  # stable phase of the WSD LR
    _step(ns, 150)
    assert muon[0]["momentum"] == 0.95


def test_recipe_cosine_weight_decay() -> None:
    ns = _run_recipe("#### Recipe: a cosine weight-decay schedule")
    groups = ns["opt"].param_groups  # type: ignore[attr-defined]
    decaying = [g for g in groups if g["weight_decay"] > 0]
    assert decaying and abs(decaying[0]["weight_decay"] - 0.04) < 1e-15
    _step(ns, 5000)
    assert abs(decaying[0]["weight_decay"] - 0.22) < 1e-12  # the cosine's midpoint
    _step(ns, 5000)
    assert decaying[0]["weight_decay"] == 0.4
    assert all(g["weight_decay"] == 0.0 for g in groups if all(g is not d for d in decaying))


def test_recipe_one_cycle_sgd_matches_torch() -> None:
    ns = _run_recipe("#### Recipe: OneCycle with SGD")
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.5)
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=0.1, total_steps=10_000)
    ours = ns["opt"].param_groups[0]  # type: ignore[attr-defined]
    for _ in range(10_000):
        t = theirs_opt.param_groups[0]
        assert abs(ours["lr"] - t["lr"]) <= 1e-12 * t["lr"]
        assert abs(ours["momentum"] - t["momentum"]) <= 1e-12 * t["momentum"]
        theirs_opt.step()
        theirs.step()
        _step(ns, 1)


def test_bring_your_recipe_block_reproduces_torch_and_hf() -> None:
    import numpy as np

    from optfn import Join, WarmupCosine, lr_curve

    ns = _run_recipe("### Bring your recipe")
    schedule, seq, opt = ns["schedule"], ns["seq"], ns["opt"]
    assert isinstance(schedule, Join)
    lrs = []
    for _ in range(200):
        lrs.append(opt.param_groups[0]["lr"] / 0.1)  # type: ignore[attr-defined]
        opt.step()  # type: ignore[attr-defined]
        seq.step()  # type: ignore[attr-defined]
    curve = lr_curve(schedule, 200)
    assert curve[0] == 0.01
    np.testing.assert_allclose(curve, lrs, rtol=1e-12, atol=1e-15)
    from optfn import schedule_from_hf

    assert schedule_from_hf("cosine", num_warmup_steps=500, num_training_steps=10_000) == (
        WarmupCosine(warmup_steps=500, total_steps=10_000, warmup_ramp="s/W")
    )


def _run(heading: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(_block_after(heading, "python"), heading, "exec"), namespace)
    return namespace


def test_labeled_groups_example_runs() -> None:
    ns = _run("### Labeled groups: `LabelRule`")
    groups = ns["opt"].param_groups  # type: ignore[attr-defined]
    head = next(g for g in groups if "head.weight" in g["param_names"])
    assert head["label"] == "head" and head["lr"] == 5e-4 and head["weight_decay"] == 0.1


def test_global_step_and_sum_example_runs() -> None:
    from optfn import lr_curve

    ns = _run("**Pieces on the global step, and sums.**")
    assert lr_curve(ns["timm"], 501)[500] < 1.0  # type: ignore[arg-type]  # the cosine runs on
    assert lr_curve(ns["modded"], 1600)[-1] == 0.6 * 0.0 + 0.15  # type: ignore[arg-type]


def test_normuon_example_runs() -> None:
    ns = _run("## NorMuon: Muon as the speedrun runs it")
    routes = [(g["route"], g["label"]) for g in ns["opt"].param_groups]  # type: ignore[attr-defined]
    assert routes == [("normuon", "mlp_bank"), ("adam", "scalars")]
