"""Shared timing helpers for the benchmarks: warm up, repeat, report medians and ratios."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def header(title: str) -> None:
    """Print what ran where: every figure comes with its versions and machine."""
    print(f"== {title}")
    print(
        f"   torch {torch.__version__}, python {platform.python_version()}, "
        f"{platform.machine()}, {torch.get_num_threads()} threads"
    )


def interleaved_medians(
    fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 1
) -> dict[str, float]:
    """Median time of each function, timed round-robin so that load drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
