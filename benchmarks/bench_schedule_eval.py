"""Benchmark: schedule evaluation, one formula per shape (now) against the scalar/vector twins.

The baseline is optfn at commit ``645344b`` (every shape written twice, as a scalar ``_at``
and a vectorized ``_curve``), extracted with ``git archive`` into a temporary folder as the
package ``optfn_base`` and imported beside the working tree's ``optfn``, so both run in the
same process. Timed round-robin (median of the repeats, after a warm-up), with ratios
new / base (goals: ``lr_curve`` and ``ScheduleLR.step`` <= 1, ``lr_lambda`` <= 1.2):

* ``lr_lambda(s)(step)``: µs per call, a few shapes, steps in the warm-up and in the decay;
* ``lr_curve(s, n)``: ms per curve of ``n`` steps (1,000,000 by default) of
  ``WarmupCosine(10_000, 1_000_000, 0.1)``, a ``Join`` and a ``CosineRestarts``; the new
  curves are checked bit-identical to the baseline's;
* ``ScheduleLR.step()``: µs per step, 8 param groups, SGD; only the scheduler steps are timed.

Never asserts a time.

    python benchmarks/bench_schedule_eval.py [--quick] [--repeats R] [--rev REV]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import load
from _timing import header, interleaved_medians

import optfn.build
import optfn.schedules

BASE_REV = "645344b"


def extract_baseline(rev: str) -> tuple[ModuleType, ModuleType]:
    """``optfn`` at ``rev`` (see ``_baseline.py``): (its schedules, its scheduler)."""
    load(rev)
    return (
        importlib.import_module("optfn_base.schedules"),
        importlib.import_module("optfn_base.scheduler"),
    )


def _per_call(f: Callable[[int], float], steps: list[int]) -> Callable[[], object]:
    def run() -> None:
        for s in steps:
            f(s)

    return run


def _sched_steps(mod: ModuleType, schedule: Any, steps: int) -> Callable[[], float]:
    """A run of ``steps`` calls of ``ScheduleLR.step()`` (8 groups; building is not timed)."""

    def run() -> float:
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(8)]
        opt = torch.optim.SGD(
            [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], lr=0.1
        )
        sched = mod.ScheduleLR(opt, schedule)
        opt.step()  # once, so that torch does not warn about the order of the first step
        step = sched.step
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return time.perf_counter() - t0

    return run


def _timed_runs(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median of what each run reports (its own timed section), round-robin."""
    for fn in fns.values():
        fn()
    got: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            got[k].append(fn())
    return {k: float(np.median(v)) for k, v in got.items()}


def _specs(mod: ModuleType, n: int) -> dict[str, Any]:
    w = max(2, n // 100)
    return {
        "WarmupCosine": mod.WarmupCosine(warmup_steps=w, total_steps=n, min_lr_scale=0.1),
        "Join(LinearWarmup, CosineDecay)": mod.Join(
            pieces=(
                mod.LinearWarmup(warmup_steps=w),
                mod.CosineDecay(decay_steps=n - w, min_lr_scale=0.1),
            ),
            boundaries=(w,),
        ),
        "CosineRestarts(mult=2)": mod.CosineRestarts(
            cycle_steps=max(2, n // 100), cycle_mult=2, min_lr_scale=0.1
        ),
        "InverseSqrt": mod.InverseSqrt(warmup_steps=w, min_lr_scale=0.01),
        "ExponentialDecay": mod.ExponentialDecay(gamma=0.99, steps_per_epoch=max(1, n // 1000)),
        "WarmupStableDecay(1-sqrt)": mod.WarmupStableDecay(
            warmup_steps=w, total_steps=n, decay_steps=n // 5, decay_shape="1-sqrt"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats (CI)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per method")
    ap.add_argument("--rev", default=BASE_REV, help=f"baseline commit (default {BASE_REV})")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    n = 20_000 if args.quick else 1_000_000  # lr_curve length and schedule size
    calls = 2_000 if args.quick else 100_000  # lr_lambda calls per timed run
    sched_steps = 3_000 if args.quick else 100_000

    base_s, base_sched = extract_baseline(args.rev)
    new_s, new_sched = optfn.schedules, optfn.build
    header(f"bench_schedule_eval: new (working tree) / base ({args.rev}), same process")
    print(f"   medians of {repeats} runs, round-robin, after a warm-up")
    base_specs, new_specs = _specs(base_s, n), _specs(new_s, n)
    w = max(2, n // 100)

    print(f"-- lr_lambda: µs per call ({calls:,} calls per run)")
    probes = [
        ("WarmupCosine", "warm-up", w // 2),
        ("WarmupCosine", "decay", n // 2),
        ("Join(LinearWarmup, CosineDecay)", "warm-up", w // 2),
        ("Join(LinearWarmup, CosineDecay)", "decay", n // 2),
        ("CosineRestarts(mult=2)", "3rd cycle", 5 * w),
        ("InverseSqrt", "decay", n // 2),
        ("ExponentialDecay", "decay", n // 2),
        ("WarmupStableDecay(1-sqrt)", "cool-down", n - n // 10),
    ]
    worst = 0.0
    for name, where, step in probes:
        fb, fn = base_s.lr_lambda(base_specs[name]), new_s.lr_lambda(new_specs[name])
        assert fb(step) == fn(step), (name, step)
        steps = [step] * calls
        t = interleaved_medians(
            {"base": _per_call(fb, steps), "new": _per_call(fn, steps)}, repeats=repeats
        )
        r = t["new"] / t["base"]
        worst = max(worst, r)
        print(
            f"   {name + ' @ ' + where:<46} base {t['base'] / calls * 1e6:6.3f}  "
            f"new {t['new'] / calls * 1e6:6.3f}"
        )
        print(f"   ratio new/base lr_lambda [{name} @ {where}]: {r:.2f}")
    print("   goal: lr_lambda new/base <= 1.2")
    print(f"   ratio new/base lr_lambda [worst of the above]: {worst:.2f}")

    print(f"-- lr_curve: ms per curve of {n:,} steps (goal: new/base <= 1)")
    for name in ("WarmupCosine", "Join(LinearWarmup, CosineDecay)", "CosineRestarts(mult=2)"):
        sb, sn = base_specs[name], new_specs[name]
        same = np.array_equal(base_s.lr_curve(sb, n), new_s.lr_curve(sn, n))
        t = interleaved_medians(
            {
                "base": lambda sb=sb: base_s.lr_curve(sb, n),
                "new": lambda sn=sn: new_s.lr_curve(sn, n),
            },
            repeats=repeats,
        )
        print(
            f"   {name:<46} base {t['base'] * 1e3:7.2f}  new {t['new'] * 1e3:7.2f}   "
            f"bit-identical: {same}"
        )
        print(f"   ratio new/base lr_curve [{name}]: {t['new'] / t['base']:.2f}")

    print(
        f"-- ScheduleLR.step: µs per step, 8 groups, SGD ({sched_steps:,} steps per run; "
        "goal: new/base <= 1)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name in ("WarmupCosine", "Join(LinearWarmup, CosineDecay)"):
            t = _timed_runs(
                {
                    "base": _sched_steps(base_sched, base_specs[name], sched_steps),
                    "new": _sched_steps(new_sched, new_specs[name], sched_steps),
                },
                repeats,
            )
            print(
                f"   {name:<46} base {t['base'] / sched_steps * 1e6:6.3f}  "
                f"new {t['new'] / sched_steps * 1e6:6.3f}"
            )
            print(f"   ratio new/base ScheduleLR.step [{name}]: {t['new'] / t['base']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
