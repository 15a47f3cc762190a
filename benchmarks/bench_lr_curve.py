"""Benchmark: a whole LR curve by optfn's closed form against stepping torch schedulers.

``lr_curve(WarmupCosine(...), n)`` (one vectorized pass) against producing the same curve by
stepping (a) torch ``LambdaLR`` with an equivalent plain-Python lambda (the epoch-based
builders' formula), (b) torch ``SequentialLR(LinearLR, CosineAnnealingLR)`` set up to the same
curve and (c) Hugging Face's ``get_cosine_schedule_with_warmup`` when ``transformers``
imports. Prints the medians,
the speed ratios and each baseline's maximum relative error against the closed form (and
optfn's own error: ``lr_curve`` against ``lr_lambda`` at every step). Never asserts a time.

    python benchmarks/bench_lr_curve.py [--quick] [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _timing import header

from optfn.schedules import WarmupCosine, lr_curve, lr_lambda


def builders_lambda(step: int, *, w: int, total: int, alpha: float) -> float:
    """The epoch-based builders' λ(s), written the way a user would hand it to ``LambdaLR``."""
    if step < w:
        return max(1e-8, (step + 1) / max(1, w))
    t = min(1.0, (step - w) / max(1, total - w))
    return alpha + (1 - alpha) / 2 * (1 + math.cos(math.pi * t))


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)  # LR == multiplier


def _stepped(make: Callable[[torch.optim.Optimizer], Any], n: int) -> np.ndarray:
    """The LR of each of ``n`` steps, produced by stepping the scheduler ``make`` builds."""
    opt = _optimizer()
    sched = make(opt)
    opt.step()  # once, so that torch does not warn about the order of the first step
    group = opt.param_groups[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = group["lr"]
        sched.step()
    return out


def _timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], fn()
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / np.abs(want))) if want.size else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 steps, 3 repeats (CI)")
    ap.add_argument("--steps", type=int, default=None, help="curve length (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per method")
    args = ap.parse_args(argv)
    n = args.steps or (20_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    stepped_repeats = max(1, min(repeats, 3))
    w, alpha = max(2, n // 100), 0.1
    schedule = WarmupCosine(warmup_steps=w, total_steps=n, min_lr_scale=alpha)
    lam = functools.partial(builders_lambda, w=w, total=n, alpha=alpha)

    header(f"bench_lr_curve: {n:,} steps of WarmupCosine(warmup {w:,}, min_lr_scale {alpha})")
    print(f"   medians of {repeats} runs (stepped baselines: {stepped_repeats}) after a warm-up")

    # optfn: the whole curve in one vectorized call
    t_ours, curve = _timed(lambda: lr_curve(schedule, n), repeats)
    f = lr_lambda(schedule)
    scalar = np.fromiter((f(i) for i in range(n)), dtype=np.float64, count=n)
    own = max_rel_err(curve, scalar)
    print(
        f"   {'optfn lr_curve':<46}{t_ours * 1e3:>10.2f} ms   own max rel err vs lr_lambda "
        f"{own:.1e} (bit-identical: {np.array_equal(curve, scalar)})"
    )

    baselines: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
        "(a) LambdaLR stepped, equivalent lambda": lambda opt: LambdaLR(opt, lam),
        "(b) SequentialLR(LinearLR, CosineAnnealingLR)": lambda opt: SequentialLR(
            opt,
            [
                LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1),
                CosineAnnealingLR(opt, T_max=n - w, eta_min=alpha),
            ],
            milestones=[w],
        ),
    }
    results: dict[str, tuple[float, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's step(0) deprecation note
        for name, make in baselines.items():
            _stepped(make, min(n, 10_000))  # warm-up
            t, lrs = _timed(lambda make=make: _stepped(make, n), stepped_repeats)
            results[name] = (t, max_rel_err(lrs, curve))
            print(
                f"   {name:<46}{t * 1e3:>10.2f} ms   max rel err vs closed form "
                f"{results[name][1]:.1e}"
            )

    try:
        from transformers import get_cosine_schedule_with_warmup
    except ImportError:
        print(
            "   (c) HF get_cosine_schedule_with_warmup: "
            "transformers not installed: skipped HF baseline"
        )
    else:
        # HF warms up with s / W (optfn's default: (s + 1) / W) and decays to 0, so its
        # error is measured on the cosine phase against WarmupCosine(min_lr_scale=0).
        hf_make = functools.partial(
            get_cosine_schedule_with_warmup, num_warmup_steps=w, num_training_steps=n
        )
        _stepped(hf_make, min(n, 10_000))
        t, lrs = _timed(lambda: _stepped(hf_make, n), stepped_repeats)
        zero_floor = lr_curve(WarmupCosine(warmup_steps=w, total_steps=n), n)
        err = max_rel_err(lrs[w : n - 1], zero_floor[w : n - 1])  # λ(S-1) > 0 = λ(S)
        name = "(c) HF get_cosine_schedule_with_warmup"
        results[name] = (t, err)
        print(
            f"   {name:<46}{t * 1e3:>10.2f} ms   max rel err vs closed form (cosine phase) "
            f"{err:.1e}"
        )

    for name, (t, _) in results.items():
        print(f"   ratio lr_curve vs {name}: {t / t_ours:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
