"""schedule_from_torch: every torch scheduler it reads, stepped side by side with the converted
spec (10,000 steps and more per scheduler, two param groups with base LRs 1.0 and 0.1), and
every refusal.

Run as a script to write the error table (``python tests/convert/test_convert_torch.py OUT.md``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tl

from optfn import from_dict, make_scheduler, schedule_from_torch, to_dict
from optfn.convert import base_lrs_from_torch
from optfn.errors import SpecError, SpecTypeError
from optfn.schedules import (
    Constant,
    CosineDecay,
    CosineRestarts,
    Cyclic,
    ExponentialDecay,
    Join,
    MultiStepDecay,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    Product,
    Ramp,
    Schedule,
    WarmupCosine,
    lr_curve,
)

#: The base LRs of the two param groups every case steps.
LRS = (1.0, 0.1)
#: Below this fraction of the curve's peak a value counts as "tiny" and the bound is absolute:
#: there ``1 + cos(x)`` near ``x = π`` (torch's cosine, recursive or closed, and optfn's) and
#: torch's linear anneal ``(end - start)·pct + start`` cancel, so that each is ~1e-11 relative
#: from the exact value at 1e-5 of the peak (measured with mpmath), ~1e-17 of the peak.
TINY = 1e-4
REL_BOUND = 1e-12
ABS_BOUND = 1e-15

Make = Callable[[torch.optim.Optimizer], Any]


def _optimizer(lrs: Sequence[float] = LRS) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def _step_torch(sched: Any, opt: torch.optim.Optimizer, n: int) -> np.ndarray:
    """The groups' LRs at steps 0 .. n-1, shape (n, groups), stepping as a training loop does."""
    out = np.empty((n, len(opt.param_groups)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            out[i] = [float(g["lr"]) for g in opt.param_groups]
            if i < n - 1:
                opt.step()
                sched.step()
    return out


def _errors(torch_ratio: np.ndarray, ours: np.ndarray) -> dict[str, float]:
    """rel: max relative error where the value is not tiny; abs_tiny: max absolute error / peak
    where it is; rel_all: max relative error at every nonzero value; abs_all: max abs / peak."""
    peak = float(np.max(np.abs(torch_ratio)))
    diff = np.abs(torch_ratio - ours)
    big = np.abs(torch_ratio) >= TINY * peak
    nz = torch_ratio != 0
    return {
        "rel": float(np.max(diff[big] / np.abs(torch_ratio[big]))) if big.any() else 0.0,
        "abs_tiny": float(np.max(diff[~big])) / peak if (~big).any() and peak else 0.0,
        "rel_all": float(np.max(diff[nz] / np.abs(torch_ratio[nz]))) if nz.any() else 0.0,
        "abs_all": float(np.max(diff)) / peak if peak else float(np.max(diff)),
    }


def measure(make: Make, n: int) -> dict[str, Any]:
    """Convert a fresh scheduler, step it ``n`` steps, compare each group's LR / reference."""
    opt = _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
    specs = [schedule_from_torch(sched, group=g) for g in range(len(LRS))]
    refs = base_lrs_from_torch(sched)
    lrs = _step_torch(sched, opt, n)
    worst: dict[str, Any] = {"rel": 0.0, "abs_tiny": 0.0, "rel_all": 0.0, "abs_all": 0.0}
    exact = True
    for g, (spec, ref) in enumerate(zip(specs, refs, strict=True)):
        ratio = lrs[:, g] / ref
        ours = lr_curve(spec, n)
        for key, value in _errors(ratio, ours).items():
            worst[key] = max(worst[key], value)
        exact = exact and bool(np.array_equal(ratio, ours))
    worst["exact"] = exact
    worst["specs"] = specs
    return worst


def _cos(o: Any, t: int, eta_min: float = 0.0) -> Any:
    return tl.CosineAnnealingLR(o, T_max=t, eta_min=eta_min)


def _warmup_cosine(w: int) -> Make:
    """torch's warm-up + cosine: LinearLR for W steps, then CosineAnnealingLR to step N."""
    return lambda o: tl.SequentialLR(
        o, [tl.LinearLR(o, 0.1, 1.0, w), _cos(o, max(1, N - w))], milestones=[w]
    )


#: (row, parameters, steps compared, factory). CosineAnnealingLR and OneCycleLR are compared
#: up to their end (T_max, total_steps - 1): past it torch's curve goes on, optfn holds.
N = 10_000
#: Steps for edge cases whose curve is constant (or nearly) after a few steps.
EDGE = 2_000
CASES: list[tuple[str, str, int, Make]] = [
    ("StepLR", "step_size=30, γ=0.1", N, lambda o: tl.StepLR(o, 30, 0.1)),
    ("StepLR", "step_size=1, γ=0.9995", N, lambda o: tl.StepLR(o, 1, 0.9995)),
    ("StepLR", "step_size=7, γ=1", EDGE, lambda o: tl.StepLR(o, 7, 1.0)),
    ("StepLR", "step_size=20000, γ=0.5", N, lambda o: tl.StepLR(o, 20_000, 0.5)),
    ("MultiStepLR", "milestones=[1], γ=0.1", N, lambda o: tl.MultiStepLR(o, [1], 0.1)),
    (
        "MultiStepLR",
        "milestones=[1,2,3,500,9000], γ=0.5",
        N,
        lambda o: tl.MultiStepLR(o, [1, 2, 3, 500, 9000], 0.5),
    ),
    (
        "MultiStepLR",
        "milestones=[0,5,5,100], γ=0.3 (0 and repeats)",
        N,
        lambda o: tl.MultiStepLR(o, [0, 5, 5, 100], 0.3),
    ),
    ("MultiStepLR", "milestones=[10,20], γ=1.5", N, lambda o: tl.MultiStepLR(o, [10, 20], 1.5)),
    ("ExponentialLR", "γ=0.9995", N, lambda o: tl.ExponentialLR(o, 0.9995)),
    ("ExponentialLR", "γ=0.9", N, lambda o: tl.ExponentialLR(o, 0.9)),
    ("ExponentialLR", "γ=1", EDGE, lambda o: tl.ExponentialLR(o, 1.0)),
    ("ExponentialLR", "γ=0", EDGE, lambda o: tl.ExponentialLR(o, 0.0)),
    ("LinearLR", "1/3 → 1, total_iters=5", N, lambda o: tl.LinearLR(o, 1 / 3, 1.0, 5)),
    ("LinearLR", "0.1 → 1, total_iters=10000", N + 1, lambda o: tl.LinearLR(o, 0.1, 1.0, N)),
    ("LinearLR", "1 → 0, total_iters=10000", N + 1, lambda o: tl.LinearLR(o, 1.0, 0.0, N)),
    ("LinearLR", "0.5 → 0.25, total_iters=3000", N, lambda o: tl.LinearLR(o, 0.5, 0.25, 3000)),
    ("LinearLR", "0.001 → 1, total_iters=1", EDGE, lambda o: tl.LinearLR(o, 0.001, 1.0, 1)),
    ("LinearLR", "0.5 → 1, total_iters=0", EDGE, lambda o: tl.LinearLR(o, 0.5, 1.0, 0)),
    ("ConstantLR", "factor=1/3, total_iters=5", N, lambda o: tl.ConstantLR(o, 1 / 3, 5)),
    ("ConstantLR", "factor=0.1, total_iters=1", N, lambda o: tl.ConstantLR(o, 0.1, 1)),
    ("ConstantLR", "factor=0.25, total_iters=9999", N, lambda o: tl.ConstantLR(o, 0.25, 9999)),
    ("ConstantLR", "factor=0.5, total_iters=0", EDGE, lambda o: tl.ConstantLR(o, 0.5, 0)),
    ("ConstantLR", "factor=1, total_iters=3", EDGE, lambda o: tl.ConstantLR(o, 1.0, 3)),
    ("CosineAnnealingLR", "T_max=10000, η=0", N + 1, lambda o: _cos(o, N)),
    ("CosineAnnealingLR", "T_max=10000, η=0.01", N + 1, lambda o: _cos(o, N, 0.01)),
    ("CosineAnnealingLR", "T_max=3333, η=1e-4", 3334, lambda o: _cos(o, 3333, 1e-4)),
    ("CosineAnnealingLR", "T_max=1", 2, lambda o: _cos(o, 1)),
    ("PolynomialLR", "total_iters=10000, p=1", N + 1, lambda o: tl.PolynomialLR(o, N, 1.0)),
    ("PolynomialLR", "total_iters=10000, p=2", N + 1, lambda o: tl.PolynomialLR(o, N, 2.0)),
    ("PolynomialLR", "total_iters=5000, p=0.5", N, lambda o: tl.PolynomialLR(o, 5000, 0.5)),
    ("PolynomialLR", "total_iters=1, p=3", EDGE, lambda o: tl.PolynomialLR(o, 1, 3.0)),
    ("PolynomialLR", "total_iters=0", EDGE, lambda o: tl.PolynomialLR(o, 0, 1.0)),
    (
        "CosineAnnealingWarmRestarts",
        "T_0=1, T_mult=1",
        N,
        lambda o: tl.CosineAnnealingWarmRestarts(o, 1),
    ),
    (
        "CosineAnnealingWarmRestarts",
        "T_0=1, T_mult=2",
        N,
        lambda o: tl.CosineAnnealingWarmRestarts(o, 1, 2),
    ),
    (
        "CosineAnnealingWarmRestarts",
        "T_0=100, T_mult=2, η=0.005",
        N,
        lambda o: tl.CosineAnnealingWarmRestarts(o, 100, 2, 0.005),
    ),
    (
        "CosineAnnealingWarmRestarts",
        "T_0=7, T_mult=3, η=1e-4",
        N,
        lambda o: tl.CosineAnnealingWarmRestarts(o, 7, 3, 1e-4),
    ),
    (
        "CosineAnnealingWarmRestarts",
        "T_0=10000",
        N,
        lambda o: tl.CosineAnnealingWarmRestarts(o, N),
    ),
    (
        "OneCycleLR",
        "total=10000 (defaults)",
        N,
        lambda o: tl.OneCycleLR(o, max_lr=[2.0, 0.2], total_steps=N),
    ),
    (
        "OneCycleLR",
        "total=10000, linear, three_phase, pct=0.25",
        N,
        lambda o: tl.OneCycleLR(
            o,
            max_lr=[2.0, 0.2],
            total_steps=N,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
        ),
    ),
    (
        "OneCycleLR",
        "epochs=100×spe=100, cos, pct=0.1, div=10, final=100",
        N,
        lambda o: tl.OneCycleLR(
            o,
            max_lr=[1.0, 0.1],
            epochs=100,
            steps_per_epoch=100,
            pct_start=0.1,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    (
        "OneCycleLR",
        "total=10, three_phase",
        10,
        lambda o: tl.OneCycleLR(o, max_lr=[1.0, 0.1], total_steps=10, three_phase=True),
    ),
    (
        "CyclicLR",
        "triangular, up=2000",
        N,
        lambda o: tl.CyclicLR(o, base_lr=[0.1, 0.01], max_lr=[1.0, 0.1], step_size_up=2000),
    ),
    (
        "CyclicLR",
        "triangular2, up=100, down=300",
        N,
        lambda o: tl.CyclicLR(
            o, [0.1, 0.01], [1.0, 0.1], step_size_up=100, step_size_down=300, mode="triangular2"
        ),
    ),
    (
        "CyclicLR",
        "exp_range γ=0.9995, up=50",
        N,
        lambda o: tl.CyclicLR(
            o, [0.0, 0.0], [1.0, 0.1], step_size_up=50, mode="exp_range", gamma=0.9995
        ),
    ),
    (
        "CyclicLR",
        "triangular, up=1, down=1",
        N,
        lambda o: tl.CyclicLR(o, [0.5, 0.05], [1.0, 0.1], step_size_up=1),
    ),
    *[
        (
            "SequentialLR",
            f"LinearLR(0.1, W={w}) → CosineAnnealingLR(T={max(1, N - w)}) at [{w}]",
            N + 1,
            _warmup_cosine(w),
        )
        for w in (0, 1, 100, N)
    ],
    (
        "SequentialLR",
        "ConstantLR(0.1, 20) → ExponentialLR(0.999) at [20]",
        N,
        lambda o: tl.SequentialLR(
            o, [tl.ConstantLR(o, 0.1, 20), tl.ExponentialLR(o, 0.999)], milestones=[20]
        ),
    ),
    (
        "SequentialLR",
        "Exp(0.999), ConstantLR(0.5, 0), MultiStepLR([-1,0,3000]) at [100, 100, 5000]",
        N,
        lambda o: tl.SequentialLR(
            o,
            [
                tl.ExponentialLR(o, 0.999),
                tl.StepLR(o, 3, 0.5),
                tl.ConstantLR(o, 0.5, 0),
                tl.MultiStepLR(o, [-1, 0, 3000], 0.5),
            ],
            milestones=[100, 100, 5000],
        ),
    ),
    (
        "SequentialLR",
        "StepLR never runs, WarmRestarts(64, 2) at [0]",
        N,
        lambda o: tl.SequentialLR(
            o, [tl.StepLR(o, 3, 0.5), tl.CosineAnnealingWarmRestarts(o, 64, 2)], milestones=[0]
        ),
    ),
    (
        "SequentialLR",
        "Linear(0.01, 500) → Poly(9500, 2) at [500]",
        N,
        lambda o: tl.SequentialLR(
            o, [tl.LinearLR(o, 0.01, 1.0, 500), tl.PolynomialLR(o, 9500, 2.0)], milestones=[500]
        ),
    ),
    (
        "SequentialLR",
        "ExponentialLR(0.999) → LinearLR(0.5 → 1, 200) at [300]",
        N,
        lambda o: tl.SequentialLR(
            o, [tl.ExponentialLR(o, 0.999), tl.LinearLR(o, 0.5, 1.0, 200)], milestones=[300]
        ),
    ),
    (
        "SequentialLR",
        "ConstantLR(0.5, 50) → WarmRestarts(100, 2, η=1e-3) at [50]",
        N,
        lambda o: tl.SequentialLR(
            o,
            [tl.ConstantLR(o, 0.5, 50), tl.CosineAnnealingWarmRestarts(o, 100, 2, 1e-3)],
            milestones=[50],
        ),
    ),
    (
        "ChainedScheduler",
        "ConstantLR(0.5, 100) × ExponentialLR(0.9995)",
        N,
        lambda o: tl.ChainedScheduler([tl.ConstantLR(o, 0.5, 100), tl.ExponentialLR(o, 0.9995)]),
    ),
    (
        "ChainedScheduler",
        "LinearLR(0.01, 500) × CosineAnnealingLR(10000)",
        N + 1,
        lambda o: tl.ChainedScheduler([tl.LinearLR(o, 0.01, 1.0, 500), _cos(o, N)]),
    ),
    (
        "ChainedScheduler",
        "StepLR(100, 0.9) × MultiStepLR([3000, 6000]) × (PolynomialLR(10000, 2) × ConstantLR)",
        N + 1,
        lambda o: tl.ChainedScheduler(
            [
                tl.StepLR(o, 100, 0.9),
                tl.MultiStepLR(o, [3000, 6000], 0.1),
                tl.ChainedScheduler([tl.PolynomialLR(o, N, 2.0), tl.ConstantLR(o, 0.2, 7)]),
            ]
        ),
    ),
]


@pytest.mark.parametrize("row, params, n, make", CASES, ids=[f"{r}-{p}" for r, p, _, _ in CASES])
def test_converted_curve_equals_stepping_torch(row: str, params: str, n: int, make: Make) -> None:
    m = measure(make, n)
    assert m["rel"] <= REL_BOUND, (row, params, m)
    assert m["abs_tiny"] <= ABS_BOUND, (row, params, m)


def test_enough_steps_per_scheduler() -> None:
    steps: dict[str, int] = {}
    for row, _, n, _ in CASES:
        steps[row] = steps.get(row, 0) + n
    assert all(total >= 10_000 for total in steps.values()), steps
    assert len(steps) == 12


# ------------------------------------------------------------------------- what it returns


def _fresh(make: Make, lrs: Sequence[float] = LRS) -> tuple[Any, torch.optim.Optimizer]:
    opt = _optimizer(lrs)
    return make(opt), opt


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda o: tl.StepLR(o, 30, 0.1), ExponentialDecay(gamma=0.1, steps_per_epoch=30)),
        (lambda o: tl.ExponentialLR(o, 0.9), ExponentialDecay(gamma=0.9)),
        (lambda o: tl.MultiStepLR(o, [3, 1], 0.1), MultiStepDecay(boundaries=(1, 3), gamma=0.1)),
        (
            lambda o: tl.MultiStepLR(o, [0, 2, 2], 0.5),
            PiecewiseConstant(boundaries=(2,), values=(0.5, 0.125)),
        ),
        (
            lambda o: tl.ConstantLR(o, 0.25, 4),
            PiecewiseConstant(boundaries=(4,), values=(0.25, 1.0)),
        ),
        (lambda o: tl.ConstantLR(o, 0.25, 0), PiecewiseConstant(values=(0.25,))),
        (
            lambda o: tl.LinearLR(o, 0.1, 0.5, 10),
            Ramp(steps=10, start_scale=0.1, end_scale=0.5),
        ),
        (lambda o: _cos(o, 100), CosineDecay(decay_steps=100)),
        (lambda o: tl.PolynomialLR(o, 10, 2.0), PolynomialDecay(decay_steps=10, power=2.0)),
        (lambda o: tl.PolynomialLR(o, 0, 2.0), Constant()),
        (
            lambda o: tl.CosineAnnealingWarmRestarts(o, 10, 2),
            CosineRestarts(cycle_steps=10, cycle_mult=2, cycle_ends_on_floor=False),
        ),
        (
            lambda o: tl.OneCycleLR(o, max_lr=[2.0, 0.2], total_steps=100, pct_start=0.25),
            OneCycle(total_steps=100, pct_start=0.25),
        ),
        (
            lambda o: tl.CyclicLR(o, [0.1, 0.01], [1.0, 0.1], step_size_up=5, step_size_down=7),
            Cyclic(step_size_up=5, step_size_down=7, min_lr_scale=0.1),
        ),
        (
            lambda o: tl.SequentialLR(
                o, [tl.LinearLR(o, 0.1, 1.0, 5), _cos(o, 95)], milestones=[5]
            ),
            Join(
                pieces=(Ramp(steps=5, start_scale=0.1), CosineDecay(decay_steps=95)),
                boundaries=(5,),
            ),
        ),
        (
            lambda o: tl.ChainedScheduler([tl.LinearLR(o, 0.1, 1.0, 5), _cos(o, 95)]),
            Product(factors=(Ramp(steps=5, start_scale=0.1), CosineDecay(decay_steps=95))),
        ),
    ],
)
def test_the_spec_read(make: Make, expected: Schedule) -> None:
    sched, _ = _fresh(make)
    got = schedule_from_torch(sched)
    assert got == expected
    assert from_dict(to_dict(got)) == got  # a plain, serializable spec


def test_sequential_milestone_uses_torchs_closed_form_at_step_zero() -> None:
    """At a milestone torch restarts a piece from its closed form: ConstantLR(total_iters=0)
    gives 1.0 there (factor forever when it runs first), pieces that never run are left out."""
    sched, _ = _fresh(
        lambda o: tl.SequentialLR(
            o,
            [tl.ExponentialLR(o, 0.5), tl.StepLR(o, 2, 0.1), tl.ConstantLR(o, 0.5, 0)],
            milestones=[2, 2],
        )
    )
    assert schedule_from_torch(sched) == Join(
        pieces=(ExponentialDecay(gamma=0.5), Constant()), boundaries=(2,)
    )


def test_optfn_steps_the_converted_spec_to_torchs_lrs() -> None:
    """OneCycleLR → OneCycle, set the groups' LR to base_lrs_from_torch, make_scheduler."""
    torch_sched, torch_opt = _fresh(lambda o: tl.OneCycleLR(o, max_lr=[2.0, 0.2], total_steps=500))
    spec = schedule_from_torch(torch_sched)
    ours_opt = _optimizer(base_lrs_from_torch(torch_sched))
    ours = make_scheduler(ours_opt, spec)
    theirs = _step_torch(torch_sched, torch_opt, 500)
    mine = _step_torch(ours, ours_opt, 500)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=0)


def test_schedule_lr_gives_its_own_schedule() -> None:
    spec = WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.1)
    sched, _ = _fresh(lambda o: make_scheduler(o, spec))
    assert schedule_from_torch(sched) is spec
    assert base_lrs_from_torch(sched) == list(LRS)


# ------------------------------------------------------------------------------ groups


def test_groups_with_different_ratios_are_refused_or_converted_one_by_one() -> None:
    sched, _ = _fresh(lambda o: _cos(o, 100, eta_min=0.01))
    with pytest.raises(SpecError, match=r"CosineAnnealingLR\.eta_min: .*group=1") as e:
        schedule_from_torch(sched)
    assert e.value.field == "eta_min"
    assert schedule_from_torch(sched, group=0) == CosineDecay(decay_steps=100, min_lr_scale=0.01)
    one = schedule_from_torch(sched, group=1)
    assert isinstance(one, CosineDecay)
    assert one.min_lr_scale == pytest.approx(0.1, rel=1e-15)  # 0.01 / 0.1
    cyc, _ = _fresh(lambda o: tl.CyclicLR(o, base_lr=0.1, max_lr=[1.0, 0.5], step_size_up=4))
    with pytest.raises(SpecError, match=r"CyclicLR\.base_lr: "):
        schedule_from_torch(cyc)


def test_group_argument_is_checked() -> None:
    sched, _ = _fresh(lambda o: tl.StepLR(o, 3))
    with pytest.raises(SpecError, match=r"group: must be a param group index in \[0, 2\)"):
        schedule_from_torch(sched, group=2)
    with pytest.raises(SpecTypeError, match="group: must be an int or None"):
        schedule_from_torch(sched, group=True)


# ---------------------------------------------------------------------- stepped schedulers


def test_a_stepped_scheduler_converts_to_its_whole_curve_from_step_0() -> None:
    make: Make = lambda o: tl.SequentialLR(  # noqa: E731
        o, [tl.LinearLR(o, 0.1, 1.0, 50), _cos(o, 950)], milestones=[50]
    )
    fresh, _ = _fresh(make)
    stepped, opt = _fresh(make)
    _step_torch(stepped, opt, 701)  # at step 700
    assert stepped.last_epoch == 700
    assert schedule_from_torch(stepped) == schedule_from_torch(fresh)


def test_a_stepped_scheduler_whose_lr_departs_from_its_curve_is_refused() -> None:
    sched, opt = _fresh(lambda o: tl.ExponentialLR(o, 0.9))
    _step_torch(sched, opt, 11)
    opt.param_groups[1]["lr"] *= 0.5  # set by hand
    with pytest.raises(SpecError, match=r"ExponentialLR\.last_epoch: at step 10 param group 1"):
        schedule_from_torch(sched)
    past, opt = _fresh(lambda o: _cos(o, 10))
    _step_torch(past, opt, 13)  # torch's cosine climbs back up after T_max
    with pytest.raises(SpecError, match="past its own end"):
        schedule_from_torch(past)


def test_chained_schedulers_stepped_apart_are_refused() -> None:
    opt = _optimizer()
    a, b = tl.ExponentialLR(opt, 0.9), tl.StepLR(opt, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b.step()
    with pytest.raises(SpecError, match=r"ChainedScheduler\.schedulers: are at different steps"):
        schedule_from_torch(tl.ChainedScheduler([a, b]))


# ----------------------------------------------------------------------------- refusals


class MyStepLR(tl.StepLR):
    pass


class Custom(tl.LRScheduler):
    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [float(g["lr"]) for g in self.optimizer.param_groups]


@pytest.mark.parametrize(
    "make, pattern",
    [
        (
            lambda o: tl.LambdaLR(o, lambda s: 0.9**s),
            r"LambdaLR\.lr_lambdas: .*no spec.*ScheduleLR",
        ),
        (
            lambda o: tl.MultiplicativeLR(o, lambda s: 0.9),
            r"MultiplicativeLR\.lr_lambdas: an arbitrary Python function has no spec",
        ),
        (lambda o: tl.ReduceLROnPlateau(o), r"ReduceLROnPlateau\.metrics: .*metrics"),
        (
            lambda o: tl.CyclicLR(o, 0.1, 1.0, scale_fn=lambda x: 0.5),
            r"CyclicLR\.scale_fn: is a custom function",
        ),
        (
            lambda o: tl.CyclicLR(o, 0.1, 1.0, step_size_up=2.5),  # type: ignore[arg-type]
            r"CyclicLR\.step_size_up: .*whole step sizes",
        ),
        (lambda o: MyStepLR(o, 3), r"MyStepLR\.get_lr: is a subclass of StepLR"),
        (lambda o: Custom(o), r"Custom\.get_lr: is not a scheduler schedule_from_torch reads"),
        (
            lambda o: tl.ChainedScheduler([tl.StepLR(o, 3), tl.CosineAnnealingWarmRestarts(o, 5)]),
            r"ChainedScheduler\.schedulers\[1\]\(CosineAnnealingWarmRestarts\)\.get_lr: .*"
            "not a product",
        ),
        (
            lambda o: tl.ChainedScheduler([tl.StepLR(o, 3), _cos(o, 10, 0.001)]),
            r"schedulers\[1\]\(CosineAnnealingLR\)\.eta_min: .*not a product",
        ),
        (
            lambda o: tl.ChainedScheduler(
                [tl.StepLR(o, 3), tl.SequentialLR(o, [tl.StepLR(o, 3)], milestones=[])]
            ),
            r"ChainedScheduler\.schedulers\[1\]\.SequentialLR: is refused inside",
        ),
        (
            lambda o: tl.SequentialLR(
                o, [tl.LinearLR(o, 0.1), tl.OneCycleLR(o, 1.0, total_steps=100)], milestones=[5]
            ),
            r"SequentialLR\.schedulers\[1\]\.OneCycleLR: is refused inside a SequentialLR",
        ),
        (
            lambda o: tl.SequentialLR(
                o, [tl.StepLR(o, 3), tl.LinearLR(o, 0.5, 1.0, 0)], milestones=[5]
            ),
            r"schedulers\[1\]\(LinearLR\)\.total_iters: is 0: at a SequentialLR milestone",
        ),
        (lambda o: tl.ExponentialLR(o, 1.5), r"ExponentialLR\.gamma: has no optfn equivalent"),
        (lambda o: _cos(o, 10, eta_min=5.0), r"CosineAnnealingLR\.eta_min: has no optfn"),
        (
            lambda o: tl.OneCycleLR(o, 1.0, total_steps=10, pct_start=0.05),
            r"OneCycleLR\.pct_start: has no optfn equivalent here: OneCycle\.pct_start",
        ),
    ],
)
def test_refused_with_the_scheduler_and_field_named(make: Make, pattern: str) -> None:
    opt = _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
    with pytest.raises(SpecError, match=pattern):
        schedule_from_torch(sched)


def test_not_a_scheduler_is_a_type_error() -> None:
    opt = _optimizer()
    for thing in (opt, None, lambda s: 1.0, WarmupCosine(warmup_steps=1, total_steps=2)):
        with pytest.raises(SpecTypeError, match="scheduler: must be a torch.optim.lr_scheduler"):
            schedule_from_torch(thing)
    with pytest.raises(TypeError):
        base_lrs_from_torch(object())


# -------------------------------------------------------------------------- error table


def write_table(path: str) -> None:
    lines = [
        "# schedule_from_torch vs torch 2.13 stepped side by side",
        "",
        "Each row: a fresh scheduler on SGD with two param groups (base LRs 1.0 and 0.1; "
        "OneCycleLR/CyclicLR max_lr 1.0/2.0 and 0.1/0.2), converted per group, stepped "
        "(`opt.step(); sched.step()`); the group's LR / its reference LR "
        "(`base_lrs_from_torch`) against `lr_curve(spec, steps)`; worst of the two groups. "
        "'any nonzero value' includes subnormal values (0.1**330, 0.9**7000), where a "
        "relative error means nothing.",
        "",
        "| scheduler | params | steps | max rel error (value ≥ 1e-4 peak) | "
        "max abs error / peak (value < 1e-4 peak) | max rel error (any nonzero value) | "
        "max abs error / peak (all) | bit-exact |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row, params, n, make in CASES:
        m = measure(make, n)
        lines.append(
            f"| {row} | {params} | {n} | {m['rel']:.2g} | {m['abs_tiny']:.2g} | "
            f"{m['rel_all']:.2g} | {m['abs_all']:.2g} | {'yes' if m['exact'] else 'no'} |"
        )
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    write_table(sys.argv[1] if len(sys.argv) > 1 else "/tmp/convert_torch_errors.md")
