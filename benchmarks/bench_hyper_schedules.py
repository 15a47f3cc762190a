"""Benchmark: scheduling LR, momentum and weight decay, optfn against torch's ``OneCycleLR``.

1. Per-step overhead: ``make_scheduler(opt, HyperSchedules(lr=OneCycle, momentum=
   OneCycleMomentum, weight_decay=Ramp))`` on SGD with 8 param groups, against torch's
   ``OneCycleLR(cycle_momentum=True)`` stepping the same kind of optimizer (it schedules LR
   and momentum; optfn does one key more). µs per ``scheduler.step()``, medians of runs
   round-robin after a warm-up (goal: optfn / torch <= 1.0).
2. Whole curves: ``hyper_curves`` of the LR and momentum schedules for ``--curve-steps``
   steps (median of repeats after a warm-up), against stepping ``OneCycleLR`` that many times
   (once: it takes seconds) and reading the LR and momentum (goal >= 100x), with the maximum
   relative error of torch's values against optfn's. The time of all three curves (weight
   decay too) is printed beside it.

Never asserts a time.

    python benchmarks/bench_hyper_schedules.py [--quick] [--steps N] [--curve-steps N]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import OneCycleLR

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _timing import header, interleaved_medians, median_seconds

from optfn.build.scheduler import make_scheduler
from optfn.schedules import HyperSchedules, OneCycle, OneCycleMomentum, Ramp, hyper_curves

MAX_LR, BASE_M, MAX_M = 0.5, 0.85, 0.95


def _optimizer(groups: int) -> torch.optim.SGD:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.SGD(
        [{"params": [p], "lr": MAX_LR * (i + 1) / groups} for i, p in enumerate(params)],
        lr=MAX_LR,
        momentum=MAX_M,
        weight_decay=0.01,
    )


def _hyper(total: int) -> HyperSchedules:
    return HyperSchedules(
        lr=OneCycle(total_steps=total),
        momentum=OneCycleMomentum(total_steps=total, base_momentum=BASE_M, max_momentum=MAX_M),
        weight_decay=Ramp(steps=total, start_scale=0.1),
    )


def _torch(opt: torch.optim.Optimizer, total: int) -> OneCycleLR:
    max_lrs = [g["lr"] for g in opt.param_groups]
    return OneCycleLR(
        opt, max_lr=max_lrs, total_steps=total, base_momentum=BASE_M, max_momentum=MAX_M
    )


def _stepping(make: Callable[[torch.optim.Optimizer], Any], groups: int, steps: int) -> Any:
    """A function that builds a scheduler and calls its ``step()`` ``steps`` times."""

    def run() -> None:
        opt = _optimizer(groups)
        sched = make(opt)
        opt.step()  # once, so that torch does not warn about the order of the first step
        for _ in range(steps):
            sched.step()

    return run


def _torch_curves(n: int) -> np.ndarray:
    opt = _optimizer(1)
    sched = _torch(opt, n)
    opt.step()
    g = opt.param_groups[0]
    out = np.empty((n, 2), dtype=np.float64)
    for i in range(n):
        out[i] = (g["lr"], g["momentum"])
        if i < n - 1:
            sched.step()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small runs, 3 repeats (CI)")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed run (100,000)")
    ap.add_argument("--curve-steps", type=int, default=None, help="curve length (1,000,000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per candidate")
    args = ap.parse_args(argv)
    steps = args.steps or (3_000 if args.quick else 100_000)
    n = args.curve_steps or (20_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    total = steps + 10  # the timed run stays inside the cycle (torch refuses to go past it)

    header("bench_hyper_schedules: LR + momentum (+ weight decay) schedules vs OneCycleLR")
    makers: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
        "optfn lr+momentum+wd": lambda opt: make_scheduler(opt, _hyper(total)),
        "torch OneCycleLR lr+momentum": lambda opt: _torch(opt, total),
    }
    print(
        f"   1. µs per scheduler.step(), 8 groups, {steps:,} steps per run, "
        f"medians of {repeats} (goal: ratio <= 1)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fns = {name: _stepping(make, 8, steps) for name, make in makers.items()}
        us = {k: t / steps * 1e6 for k, t in interleaved_medians(fns, repeats=repeats).items()}
        for name, t in us.items():
            print(f"      {name:<30}{t:>8.2f} µs/step")
        a, b = us["optfn lr+momentum+wd"], us["torch OneCycleLR lr+momentum"]
        print(f"   ratio optfn / torch OneCycleLR per step (8 groups): {a / b:.2f}")

        print(f"   2. every curve for {n:,} steps (optfn: median of {repeats} after a warm-up)")
        full = _hyper(n)
        same = HyperSchedules(lr=full.lr, momentum=full.momentum)  # what torch computes
        t_ours = median_seconds(lambda: hyper_curves(same, n), repeats=repeats)
        t_all = median_seconds(lambda: hyper_curves(full, n), repeats=repeats)
        ours = hyper_curves(same, n)
        t0 = time.perf_counter()
        theirs = _torch_curves(n)
        t_torch = time.perf_counter() - t0
    lr, mom = ours["lr"] * MAX_LR, ours["momentum"] * MAX_M
    err_lr = float(np.max(np.abs(lr - theirs[:, 0]) / theirs[:, 0]))
    err_m = float(np.max(np.abs(mom - theirs[:, 1]) / theirs[:, 1]))
    print(f"      optfn hyper_curves (lr, momentum)               {t_ours * 1e3:>10.2f} ms")
    print(f"      optfn hyper_curves (lr, momentum, weight_decay) {t_all * 1e3:>10.2f} ms")
    print(f"      stepping torch OneCycleLR (lr, momentum), once  {t_torch * 1e3:>10.2f} ms")
    print(f"      max relative difference: lr {err_lr:.1e}, momentum {err_m:.1e}")
    print(f"   ratio hyper_curves vs stepping OneCycleLR: {t_torch / t_ours:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
