"""Scheduling every hyper-parameter: OneCycle/Cyclic against torch stepped side by side,
HyperSchedules through the scheduler (targets, routes, refusals, resume), curves."""

from __future__ import annotations

import math
import warnings
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from optfn import (
    AdamWSpec,
    Constant,
    Cyclic,
    CyclicMomentum,
    HyperSchedules,
    LinearDecay,
    MuonSpec,
    MuonWithAdamW,
    OneCycle,
    OneCycleMomentum,
    OptimConfig,
    ParamRules,
    Ramp,
    Schedule,
    SGDSpec,
    WarmupStableDecay,
    from_dict,
    hyper_curves,
    hyper_lambdas,
    load_checkpoint,
    make_optimizer,
    make_scheduler,
    restore,
    save_checkpoint,
    to_dict,
    to_toml,
)
from optfn.build.hyper_schedule_lr import HyperScheduleLR
from optfn.errors import SpecError, StateError
from optfn.io import register_spec
from optfn.io.registry import REGISTRY
from optfn.strategies import hyper_schedules, schedule_specs

N = 10_000
SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _param() -> nn.Parameter:
    return nn.Parameter(torch.zeros(2))


def _values(opt: torch.optim.Optimizer, sched: Any, steps: int, key: str) -> np.ndarray:
    """``(lr, key)`` of group 0 before each of ``steps`` optimizer steps."""
    out = []
    for _ in range(steps):
        g = opt.param_groups[0]
        second = g["betas"][0] if key == "beta1" else g[key]
        out.append((g["lr"], second))
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about its own schedulers' internals
            sched.step()
    return np.array(out, dtype=np.float64)


def _close(ours: np.ndarray, theirs: np.ndarray, peak: float, slack: float = 0.0) -> None:
    """Within 1e-12 relative, or ``slack`` of the peak where torch's arithmetic cancels."""
    err = np.abs(ours - theirs)
    assert np.all(err <= 1e-12 * np.abs(theirs) + slack * peak), err.max()


# ---- OneCycle and Cyclic against torch -------------------------------------------------------


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize(("pct", "div", "final_div"), [(0.3, 25.0, 1e4), (0.45, 10.0, 100.0)])
def test_one_cycle_matches_torch_with_sgd_momentum(
    anneal: str, three_phase: bool, pct: float, div: float, final_div: float
) -> None:
    max_lr, base_m, max_m = 0.7, 0.85, 0.95
    theirs_opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.5)
    theirs = torch.optim.lr_scheduler.OneCycleLR(
        theirs_opt, max_lr=max_lr, total_steps=N, pct_start=pct, anneal_strategy=anneal,
        div_factor=div, final_div_factor=final_div, three_phase=three_phase,
        base_momentum=base_m, max_momentum=max_m,
    )  # fmt: skip
    ours_opt = torch.optim.SGD([_param()], lr=max_lr, momentum=max_m)
    shape = {"total_steps": N, "pct_start": pct, "anneal_strategy": anneal}
    ours = make_scheduler(
        ours_opt,
        HyperSchedules(
            lr=OneCycle(**shape, div_factor=div, final_div_factor=final_div,
                        three_phase=three_phase),
            momentum=OneCycleMomentum(**shape, three_phase=three_phase, base_momentum=base_m,
                                      max_momentum=max_m),
        ),
    )  # fmt: skip
    a, b = _values(ours_opt, ours, N, "momentum"), _values(theirs_opt, theirs, N, "momentum")
    # torch's linear anneal, (end - start) * pct + start, cancels near a tiny end value
    _close(a[:, 0], b[:, 0], max_lr, slack=1e-15 if anneal == "linear" else 0.0)
    _close(a[:, 1], b[:, 1], max_m)


def test_one_cycle_cycles_adams_beta1() -> None:
    theirs_opt = torch.optim.AdamW([_param()], lr=0.1, betas=(0.5, 0.99))
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=0.01, total_steps=N)
    ours_opt = make_optimizer(nn.Linear(2, 2), AdamWSpec(learning_rate=0.01, betas=(0.95, 0.99)))
    ours = make_scheduler(
        ours_opt,
        HyperSchedules(lr=OneCycle(total_steps=N), beta1=OneCycleMomentum(total_steps=N)),
    )
    a, b = _values(ours_opt, ours, N, "beta1"), _values(theirs_opt, theirs, N, "beta1")
    _close(a[:, 0], b[:, 0], 0.01)
    _close(a[:, 1], b[:, 1], 0.95)
    assert all(g["betas"][1] == 0.99 for g in ours_opt.param_groups)  # beta2 untouched


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize(("up", "down"), [(2000, None), (700, 1300), (3, 7)])
def test_cyclic_matches_torch_with_momentum(mode: str, up: int, down: int | None) -> None:
    base_lr, max_lr, gamma = 0.01, 0.7, 0.9997
    steps = N if mode != "triangular2" or up > 100 else 9000  # torch overflows past cycle 1024
    theirs_opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.5)
    theirs = torch.optim.lr_scheduler.CyclicLR(
        theirs_opt, base_lr=base_lr, max_lr=max_lr, step_size_up=up, step_size_down=down,
        mode=mode, gamma=gamma, base_momentum=0.8, max_momentum=0.9,
    )  # fmt: skip
    ours_opt = torch.optim.SGD([_param()], lr=max_lr, momentum=0.9)
    shape: dict[str, Any] = {"step_size_up": up, "step_size_down": down, "mode": mode}
    ours = make_scheduler(
        ours_opt,
        HyperSchedules(
            lr=Cyclic(**shape, gamma=gamma, min_lr_scale=base_lr / max_lr),
            momentum=CyclicMomentum(**shape, gamma=gamma, base_momentum=0.8, max_momentum=0.9),
        ),
    )
    a, b = (
        _values(ours_opt, ours, steps, "momentum"),
        _values(theirs_opt, theirs, steps, "momentum"),
    )
    _close(a[:, 0], b[:, 0], max_lr)
    _close(a[:, 1], b[:, 1], 0.9)


def test_cyclic_goes_on_where_torch_overflows() -> None:
    f = hyper_lambdas(HyperSchedules(lr=Cyclic(step_size_up=1, mode="triangular2")))["lr"]
    assert f(2 * 2000 + 1) == 0.0  # cycle 2001: 1 / 2**2000 underflows; torch raises
    assert f(2**80) == 0.0 and f(2**5000) == 0.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"total_steps": 10, "pct_start": 0.05}, "phase 1 of 2 has no length"),
        ({"total_steps": 10, "pct_start": 0.6, "three_phase": True}, "phase 3 of 3 has no length"),
        ({"total_steps": 10, "div_factor": 0.5}, "OneCycle.div_factor"),
        ({"total_steps": 1}, "OneCycle.total_steps"),
        ({"total_steps": 10, "anneal_strategy": "cosine"}, "OneCycle.anneal_strategy"),
    ],
)
def test_one_cycle_refuses_a_phase_without_steps(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        OneCycle(**fields)


def test_momentum_shapes_refuse_base_above_max() -> None:
    with pytest.raises(SpecError, match=r"OneCycleMomentum\.base_momentum: must be <= max"):
        OneCycleMomentum(total_steps=10, base_momentum=0.99, max_momentum=0.9)
    with pytest.raises(SpecError, match=r"CyclicMomentum\.base_momentum"):
        CyclicMomentum(base_momentum=0.95, max_momentum=0.9)
    with pytest.raises(SpecError, match=r"Cyclic\.step_size_down"):
        Cyclic(step_size_down=0)


# ---- the scheduler ----------------------------------------------------------------------------


def muon_setup() -> tuple[nn.Module, MuonWithAdamW]:
    torch.manual_seed(0)
    model = nn.ModuleDict({"transformer": nn.Linear(4, 4), "head": nn.Linear(4, 1)})
    opt = make_optimizer(model, MuonSpec(momentum=0.95, weight_decay=0.01, muon_weight_decay=0.1))
    assert isinstance(opt, MuonWithAdamW)
    return model, opt


def test_muon_momentum_and_adamw_beta1_are_separate_targets() -> None:
    _, opt = muon_setup()
    hs = HyperSchedules(
        momentum=Ramp(steps=4, start_scale=0.5), beta1=Ramp(steps=4, start_scale=0.25)
    )
    sched = make_scheduler(opt, hs)
    assert isinstance(sched, HyperScheduleLR)
    muon = [g for g in opt.param_groups if g["route"] == "muon"]
    adamw = [g for g in opt.param_groups if g["route"] == "adamw"]
    assert [g["momentum"] for g in muon] == [0.95 * 0.5]
    assert {g["betas"] for g in adamw} == {(0.9 * 0.25, 0.999)}
    for _ in range(4):
        opt.step()
        sched.step()
    assert [g["momentum"] for g in muon] == [0.95]
    assert {g["betas"] for g in adamw} == {(0.9, 0.999)}


def test_a_route_restricts_a_key_and_zero_stays_zero() -> None:
    _, opt = muon_setup()
    before = [(g["route"], g["weight_decay"], g["lr"]) for g in opt.param_groups]
    sched = make_scheduler(
        opt,
        HyperSchedules(weight_decay=LinearDecay(decay_steps=2), routes={"weight_decay": "muon"}),
    )
    opt.step()
    sched.step()
    for (route, wd, lr), g in zip(before, opt.param_groups, strict=True):
        assert g["lr"] == lr  # no LR schedule: multiplier 1
        assert g["weight_decay"] == (wd * 0.5 if route == "muon" else wd)
    assert any(g["weight_decay"] == 0.0 for g in opt.param_groups)  # no-decay group stays 0


@pytest.mark.parametrize(
    ("optimizer", "hyper", "message"),
    [
        (
            "adamw",
            HyperSchedules(momentum=Constant()),
            r"HyperSchedules\.momentum: no param group of AdamW holds 'momentum' "
            r"\(Adam's first-moment decay is beta1\); its groups hold",
        ),
        (
            "sgd",
            HyperSchedules(beta1=Constant()),
            r"HyperSchedules\.beta1: no param group of SGD holds 'beta1'",
        ),
        (
            "muon",
            HyperSchedules(momentum=Constant(), routes={"momentum": "adamw"}),
            r"no param group of MuonWithAdamW on route 'adamw' holds 'momentum'",
        ),
        (
            "adamw",
            HyperSchedules(lr=Constant(), routes={"lr": "muon"}),
            r"routes\['lr'\]: no param group of AdamW has route 'muon' \(its routes: 'adamw'\)",
        ),
    ],
)
def test_a_key_no_group_holds_is_refused_naming_key_and_optimizer(
    optimizer: str, hyper: HyperSchedules, message: str
) -> None:
    specs = {"adamw": AdamWSpec(), "sgd": SGDSpec(momentum=0.9), "muon": MuonSpec()}
    model = nn.ModuleDict({"transformer": nn.Linear(4, 4)})
    opt = make_optimizer(model, specs[optimizer])
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(SpecError, match=message):
        make_scheduler(opt, hyper)
    assert [dict(g) for g in opt.param_groups] == before  # nothing changed


@attrs.frozen(kw_only=True)
class Overshoot(Schedule):
    """A user's schedule that leaves [0, 1] at step 2."""

    def formula(self, x: Any, xp: Any) -> Any:
        return 0.5 + xp.to_float(x) * 0.5


def test_a_momentum_leaving_its_range_is_refused_at_that_step_and_nothing_is_set() -> None:
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9, weight_decay=0.1)
    sched = make_scheduler(
        opt, HyperSchedules(weight_decay=LinearDecay(decay_steps=4), momentum=Overshoot())
    )
    opt.step()
    sched.step()  # step 1: momentum 0.9, fine
    state = dict(opt.param_groups[0])
    opt.step()
    with pytest.raises(SpecError, match=r"at step 2 param group 0 would get momentum = 1\.35"):
        sched.step()
    g = opt.param_groups[0]
    assert (g["momentum"], g["weight_decay"]) == (state["momentum"], state["weight_decay"])


def test_state_records_every_schedule_and_refuses_others() -> None:
    _, opt = muon_setup()
    hs = HyperSchedules(lr=LinearDecay(decay_steps=10), momentum=Ramp(steps=5, start_scale=0.9))
    sched = make_scheduler(opt, hs)
    state = sched.state_dict()
    assert from_dict(state["schedule"]) == hs
    assert set(state["base_hyper"]) == {"momentum"}
    _, opt2 = muon_setup()
    other = make_scheduler(opt2, attrs.evolve(hs, momentum=Ramp(steps=6, start_scale=0.9)))
    with pytest.raises(StateError, match=r"the state was saved under HyperSchedules"):
        other.load_state_dict(state)
    plain = make_scheduler(opt2, LinearDecay(decay_steps=10))
    with pytest.raises(StateError, match=r"this scheduler runs LinearDecay"):
        plain.load_state_dict(state)
    bad = {**state, "base_hyper": {"momentum": [0.95]}}
    with pytest.raises(StateError, match=r"\['base_hyper'\]\['momentum'\]: must be a list of 3"):
        make_scheduler(muon_setup()[1], hs).load_state_dict(bad)


def _fit(hs: HyperSchedules, peaks: dict[str, float]) -> HyperSchedules:
    """``hs`` with each momentum cycle's ``max_momentum`` set to the group's value (the
    scheduler refuses a cycle relative to another value)."""
    fitted = {}
    for key, sched in hs.scheduled().items():
        if isinstance(sched, OneCycleMomentum | CyclicMomentum) and key in peaks:
            peak = peaks[key]
            sched = attrs.evolve(
                sched, max_momentum=peak, base_momentum=min(sched.base_momentum, peak)
            )
        fitted[key] = sched
    return attrs.evolve(hs, **fitted)


def _run(hs: HyperSchedules, steps: int, split: int | None, optimizer_first: bool) -> list[Any]:
    """Every group's (lr, weight_decay, momentum, betas) at each step; with ``split``, the run
    is stopped there, saved, rebuilt from scratch and resumed."""
    _, opt = muon_setup()
    sched = make_scheduler(opt, hs)
    seen = []
    for s in range(steps):
        if s == split:
            opt_state, sched_state = opt.state_dict(), sched.state_dict()
            _, opt = muon_setup()
            sched = make_scheduler(opt, hs)
            if optimizer_first:
                opt.load_state_dict(opt_state)
                sched.load_state_dict(sched_state)
            else:
                sched.load_state_dict(sched_state)
                opt.load_state_dict(opt_state)
        seen.append(
            [
                (g["lr"], g["weight_decay"], g.get("momentum"), g.get("betas"))
                for g in opt.param_groups
            ]
        )
        opt.step()
        sched.step()
    return seen


@SOME
@given(
    hs=hyper_schedules(schedule_specs(max_total_steps=40, max_depth=1)),
    split=st.integers(0, 30),
    optimizer_first=st.booleans(),
)
def test_resume_at_any_step_is_exact_in_either_order(
    hs: HyperSchedules, split: int, optimizer_first: bool
) -> None:
    # both routes hold lr and weight_decay; momentum is the muon group's, betas the adamw's
    hs = attrs.evolve(hs, routes={k: r for k, r in hs.routes if k in ("lr", "weight_decay")})
    hs = _fit(hs, {"momentum": 0.95, "beta1": 0.9, "beta2": 0.999})
    whole = _run(hs, 31, None, True)
    assert _run(hs, 31, split, optimizer_first) == whole


def test_checkpoint_round_trip_with_hyper_schedules(tmp_path: Any) -> None:
    hs = HyperSchedules(lr=LinearDecay(decay_steps=8), momentum=Ramp(steps=8, start_scale=0.5))
    _, opt = muon_setup()
    sched = make_scheduler(opt, hs)
    for _ in range(3):
        opt.step()
        sched.step()
    save_checkpoint(tmp_path / "c.pt", config=OptimConfig(optimizer=MuonSpec(), schedule=hs),
                    optimizer=opt, scheduler=sched)  # fmt: skip
    _, fresh = muon_setup()
    fresh_sched = make_scheduler(fresh, hs)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt.config == OptimConfig(optimizer=MuonSpec(), schedule=hs)
    restore(ckpt, fresh, fresh_sched)
    assert [g["momentum"] for g in fresh.param_groups if g["route"] == "muon"] == [
        g["momentum"] for g in opt.param_groups if g["route"] == "muon"
    ]
    assert fresh_sched.last_epoch == 3


# ---- curves, ranges, configs ------------------------------------------------------------------


@SOME
@given(hyper_schedules(schedule_specs(max_total_steps=300)), st.integers(0, 2**40))
def test_curves_equal_the_scalar_form_bit_for_bit(hs: HyperSchedules, start: int) -> None:
    curves = hyper_curves(hs, 200, start=start)
    lambdas = hyper_lambdas(hs)
    assert list(curves) == list(hs.scheduled())
    for key, curve in curves.items():
        assert curve.dtype == np.float64
        assert curve.tolist() == [lambdas[key](start + i) for i in range(200)]


@SOME
@given(hyper_schedules(schedule_specs(max_total_steps=200), keys=("momentum", "weight_decay")))
def test_scheduled_values_stay_in_their_fields_range(hs: HyperSchedules) -> None:
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.99, weight_decay=0.3)
    sched = make_scheduler(opt, _fit(attrs.evolve(hs, routes={}), {"momentum": 0.99}))
    for _ in range(220):
        g = opt.param_groups[0]
        assert 0.0 <= g["momentum"] < 1.0 and g["weight_decay"] >= 0.0
        assert math.isfinite(g["lr"])
        opt.step()
        sched.step()


def test_hyper_schedules_validation() -> None:
    with pytest.raises(SpecError, match=r"HyperSchedules\.lr: no schedule given"):
        HyperSchedules()
    with pytest.raises(SpecError, match=r"routes\['momentum'\]: 'momentum' has no schedule here"):
        HyperSchedules(lr=Constant(), routes={"momentum": "muon"})
    with pytest.raises(SpecError, match=r"HyperSchedules\.routes: keys are hyper-parameters"):
        HyperSchedules(lr=Constant(), routes={"betas": "muon"})
    with pytest.raises(TypeError, match=r"HyperSchedules\.momentum: must be a Schedule"):
        HyperSchedules(momentum=0.9)  # type: ignore[arg-type]


def test_config_with_hyper_schedules_round_trips_and_builds() -> None:
    hs = HyperSchedules(
        lr=WarmupStableDecay(warmup_steps=10, total_steps=100, decay_steps=20),
        momentum=Ramp(steps=30, start_scale=0.85 / 0.95),
        routes={"momentum": "muon"},
    )
    cfg = OptimConfig(optimizer=MuonSpec(), rules=ParamRules(), schedule=hs)
    assert from_dict(to_dict(cfg)) == cfg
    assert 'type = "hyper_schedules"' in to_toml(cfg)
    model = nn.ModuleDict({"transformer": nn.Linear(4, 4)})
    sched = make_scheduler(make_optimizer(model, cfg.optimizer, cfg.rules), cfg.schedule)
    assert isinstance(sched, HyperScheduleLR)


# ---- refusals change nothing (the review's findings) --------------------------------------------


def _snapshot(opt: torch.optim.Optimizer, sched: Any = None) -> Any:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return groups, None if sched is None else (sched.last_epoch, list(sched.get_last_lr()))


def test_a_refused_step_changes_neither_the_lr_nor_the_step() -> None:
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    sched = make_scheduler(opt, HyperSchedules(lr=LinearDecay(decay_steps=4), momentum=Overshoot()))
    opt.step()
    sched.step()
    before = _snapshot(opt, sched)
    opt.step()
    with pytest.raises(SpecError, match="at step 2"):
        sched.step()
    assert _snapshot(opt, sched) == before


def test_a_refused_build_leaves_the_groups_untouched() -> None:
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    before = _snapshot(opt)
    hs = HyperSchedules(lr=LinearDecay(decay_steps=4), momentum=attrs.evolve(Overshoot()))
    Big = type("Big", (Overshoot,), {"formula": lambda self, x, xp: xp.full(x, 2.0)})
    with pytest.raises(SpecError, match="at step 0"):
        make_scheduler(opt, attrs.evolve(hs, momentum=attrs.frozen(Big)()))
    assert _snapshot(opt) == before  # no initial_lr, no initial_momentum


@pytest.mark.parametrize(
    ("optimizer", "hyper", "message"),
    [
        (
            lambda: torch.optim.SGD([_param()], lr=0.1),  # torch's default momentum: 0
            HyperSchedules(momentum=Ramp(steps=3, start_scale=0.5)),
            r"param group 0 of SGD has momentum 0\.0: a schedule multiplies it and it would "
            r"stay 0; give the optimizer a momentum > 0",
        ),
        (
            lambda: torch.optim.SGD([_param()], lr=0.1, momentum=0.9),
            HyperSchedules(momentum=OneCycleMomentum(total_steps=10)),
            r"has momentum 0\.9, but OneCycleMomentum\.max_momentum is 0\.95: .* set the "
            r"optimizer's momentum to 0\.95",
        ),
        (
            lambda: torch.optim.AdamW([_param()], lr=0.1),
            HyperSchedules(beta1=CyclicMomentum(step_size_up=3)),
            r"has beta1 0\.9, but CyclicMomentum\.max_momentum is 0\.9",
        ),
    ],
)
def test_momentum_schedules_that_would_mislead_are_refused(
    optimizer: Any, hyper: HyperSchedules, message: str
) -> None:
    opt = optimizer()
    before = _snapshot(opt)
    if "CyclicMomentum" in message:  # equal to max_momentum: accepted
        make_scheduler(opt, hyper)
        return
    with pytest.raises(SpecError, match=message):
        make_scheduler(opt, hyper)
    assert _snapshot(opt) == before


def test_a_state_whose_bases_would_break_a_step_is_refused_before_loading() -> None:
    hs = HyperSchedules(lr=LinearDecay(decay_steps=8), momentum=Ramp(steps=8, start_scale=0.5))
    opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    sched = make_scheduler(opt, hs)
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    fresh_opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    fresh = make_scheduler(fresh_opt, hs)
    before = _snapshot(fresh_opt, fresh)
    for bad in (5.0, 1.0, 1.2):
        with pytest.raises(StateError, match=r"\['momentum'\]\[0\]: expected a number in \[0, 1\)"):
            fresh.load_state_dict({**state, "base_hyper": {"momentum": [bad]}})
        assert _snapshot(fresh_opt, fresh) == before
    # a valid base with a user's schedule that overshoots at the saved step
    register_spec(Overshoot)
    try:
        _overshoot_at_the_saved_step()
    finally:
        REGISTRY.others.pop("overshoot")


def _overshoot_at_the_saved_step() -> None:
    opt2 = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    over = make_scheduler(opt2, HyperSchedules(momentum=Overshoot()))
    opt2.step()
    over.step()  # step 1: 0.9
    saved = over.state_dict()
    saved["last_epoch"] = 2  # as if saved at step 2, where 0.9 x 1.5 leaves [0, 1)
    target_opt = torch.optim.SGD([_param()], lr=0.1, momentum=0.9)
    target = make_scheduler(target_opt, HyperSchedules(momentum=Overshoot()))
    before = _snapshot(target_opt, target)
    with pytest.raises(StateError, match=r"would get momentum = 1\.35.*\(with the saved base"):
        target.load_state_dict(saved)
    assert _snapshot(target_opt, target) == before


def test_shared_tensor_betas_are_scheduled_per_group() -> None:
    _, opt = muon_setup()
    b = (torch.tensor(0.9), torch.tensor(0.999))
    for g in opt.param_groups:
        if g["route"] == "adamw":
            g["betas"] = b  # one tensor shared by both AdamW groups
    adamw = [g for g in opt.param_groups if g["route"] == "adamw"]
    adamw[0]["route_tag"] = "first"
    make_scheduler(opt, HyperSchedules(beta1=Ramp(steps=4, start_scale=0.5)))
    once = torch.tensor(0.9).mul(0.5).item()  # 0.45 in float32: each set once, not twice
    assert [g["betas"][0].item() for g in adamw] == [once, once]
    assert adamw[0]["betas"][0] is not adamw[1]["betas"][0]  # no longer shared


def test_routes_compare_equal_in_any_form_and_bad_keys_are_clear() -> None:
    a = HyperSchedules(
        lr=Constant(), momentum=Constant(), routes={"momentum": "muon", "lr": "adamw"}
    )
    b = HyperSchedules(
        lr=Constant(), momentum=Constant(), routes=[("lr", "adamw"), ("momentum", "muon")]
    )
    assert a == b and hash(a) == hash(b)
    with pytest.raises(SpecError, match=r"routes: keys are hyper-parameters .* got 1"):
        HyperSchedules(lr=Constant(), routes={1: "a", "lr": "b"})  # type: ignore[dict-item]
