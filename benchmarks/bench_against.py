"""Benchmark: today's optfn against optfn at an earlier commit, on the three hot paths.

Group building (``partition_params`` + ``make_param_groups``, default rules and an LR scale),
``lr_curve`` of a ``WarmupCosine`` and one ``optimizer.step()`` of the AdamW that
``make_optimizer`` builds, each timed round-robin (now / then) in one process on the same
inputs, so that a change of layout or bookkeeping shows as a ratio that machine load cannot
bend. A ratio ``then / now`` below 1 means today's code is slower.

    python benchmarks/bench_against.py REF [--quick]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _baseline import describe, load
from _timing import header, interleaved_medians

import optfn


def _synthetic(n_params: int) -> nn.Module:
    return nn.Sequential(
        *[nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)) for _ in range(n_params // 4)]
    )


def _mlp(width: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.LayerNorm(width)]
    return nn.Sequential(*layers)


def _cases(lib: Any, quick: bool) -> dict[str, Callable[[], object]]:
    """The three paths, written once against ``lib`` (today's optfn or the baseline)."""
    spec = lib.AdamWSpec(weight_decay=0.1)
    rules = lib.ParamRules(lr_scales={"0": 5.0})
    n = 10_000 if quick else 100_000
    model = _synthetic(n)
    schedule = lib.WarmupCosine(warmup_steps=1_000, total_steps=100_000, min_lr_scale=0.1)
    torch.manual_seed(0)
    net = _mlp(256, 2 if quick else 8)
    for p in net.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opt = lib.make_optimizer(net, spec, rules)
    return {
        f"groups ({n // 1000}k params)": lambda: lib.make_param_groups(
            lib.partition_params(model, rules, spec=spec), spec
        ),
        "lr_curve (100k steps)": lambda: lib.lr_curve(schedule, 100_000),
        "AdamW step (optfn groups)": opt.step,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", help="the git commit to compare with")
    ap.add_argument("--quick", action="store_true", help="small inputs, few repeats (CI)")
    args = ap.parse_args(argv)
    # one thread: on a shared 2-core machine a 2-thread op waits on the busy core
    torch.set_num_threads(1)
    header("bench_against: optfn now against an earlier commit")
    print(f"   baseline: {describe(args.ref)}")
    base = load(args.ref)
    now, then = _cases(optfn, args.quick), _cases(base, args.quick)
    repeats = 5 if args.quick else 21
    print(f"   {'path':<30}{'now ms':>10}{'then ms':>10}{'then / now':>12}")
    for key in now:
        t = interleaved_medians({"now": now[key], "then": then[key]}, repeats=repeats)
        ratio = t["then"] / t["now"]
        print(f"   {key:<30}{t['now'] * 1e3:>10.3f}{t['then'] * 1e3:>10.3f}{ratio:>12.3f}")
        print(f"   ratio then / now [{key}]: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
