"""Benchmark: µs per ``scheduler.step()``, optfn's scheduler against torch's.

``make_scheduler(opt, WarmupCosine(...))`` against torch ``LambdaLR`` with an equivalent
plain-Python lambda (the epoch-based builders' formula) and
``SequentialLR(LinearLR, CosineAnnealingLR)``, with 1 and 8 param groups. Each figure is the
median over repeats (run round-robin, after a warm-up) of a run of ``--steps`` steps; ratio
lines compare with ``LambdaLR`` (goal: optfn's is no more than LambdaLR's). Never asserts a time.

    python benchmarks/bench_scheduler_step.py [--quick] [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _timing import header
from bench_lr_curve import builders_lambda

from optfn.build.scheduler import make_scheduler
from optfn.schedules import WarmupCosine


def _optimizer(groups: int) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.SGD(
        [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], lr=0.1
    )


def _run(make: Callable[[torch.optim.Optimizer], Any], groups: int, steps: int) -> float:
    """Seconds for ``steps`` calls of ``scheduler.step()`` (building it is not timed)."""
    opt = _optimizer(groups)
    sched = make(opt)
    opt.step()  # once, so that torch does not warn about the order of the first step
    step = sched.step
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 steps, 3 repeats (CI)")
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default 200,000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per scheduler")
    args = ap.parse_args(argv)
    steps = args.steps or (5_000 if args.quick else 200_000)
    repeats = args.repeats or (3 if args.quick else 7)
    w, total, alpha = 1_000, 10 * steps, 0.1  # the whole run stays inside the schedule
    schedule = WarmupCosine(warmup_steps=w, total_steps=total, min_lr_scale=alpha)
    lam = functools.partial(builders_lambda, w=w, total=total, alpha=alpha)

    makers: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
        "optfn make_scheduler": lambda opt: make_scheduler(opt, schedule),
        "torch LambdaLR": lambda opt: LambdaLR(opt, lam),
        "torch SequentialLR": lambda opt: SequentialLR(
            opt,
            [
                LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1),
                # eta_min is absolute in torch, one value for all groups: group 0's floor
                CosineAnnealingLR(opt, T_max=total - w, eta_min=alpha * 0.1),
            ],
            milestones=[w],
        ),
    }
    header(f"bench_scheduler_step: µs per scheduler.step(), WarmupCosine, {steps:,} steps per run")
    print(f"   medians of {repeats} runs, round-robin, after a warm-up")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's step(0) deprecation note
        for groups in (1, 8):
            times: dict[str, list[float]] = {k: [] for k in makers}
            for make in makers.values():
                _run(make, groups, min(steps, 2_000))  # warm-up
            for _ in range(repeats):
                for name, make in makers.items():
                    times[name].append(_run(make, groups, steps))
            us = {k: statistics.median(v) / steps * 1e6 for k, v in times.items()}
            for name, t in us.items():
                print(f"   {groups} group{'s' if groups > 1 else ' '}  {name:<22}{t:>8.2f} µs/step")
            for name in ("torch LambdaLR", "torch SequentialLR"):
                print(
                    f"   ratio optfn make_scheduler / {name} ({groups} group"
                    f"{'s' if groups > 1 else ''}): {us['optfn make_scheduler'] / us[name]:.2f}"
                    + (" (goal <= 1)" if name == "torch LambdaLR" else "")
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
