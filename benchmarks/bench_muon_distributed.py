"""Muon step on 2 CPU ranks (gloo): every rank orthogonalizing every matrix vs zero-redundancy.

The Muon matrices are 24 of 256x256 and 8 of 256x1024 (``--quick``: 24 of 64x64 and 8 of
64x256), plain tensors with the same gradients on every rank, as DDP leaves them. Each rank
steps a ``MuonWithAdamW`` with ``zero_redundancy=False`` (the redundant path: every rank runs
Newton–Schulz on all 32 matrices) and one with the default (each matrix orthogonalized by
one owner, the bfloat16 results all-gathered), the two timed round-robin, each step started
together (a barrier) and timed on the slowest rank. Medians are reported, with Newton–Schulz
calls and bytes per rank per step, and whether the two optimizers' weights are bit-identical
after all steps.

    python benchmarks/bench_muon_distributed.py            # full size
    python benchmarks/bench_muon_distributed.py --quick    # a few seconds

Each rank uses ``--threads`` CPU threads (default 1: 2 ranks on a 2-core machine).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(__file__))
from _timing import header
from bench_muon_step import MUON  # the same Muon hyper-parameters as the 1-process benchmark

from optfn.optim.muon import MuonWithAdamW

MODES = {"redundant": False, "zero-redundancy": None}


def shapes(size: int) -> list[tuple[int, int]]:
    return [(size, size)] * 24 + [(size, 4 * size)] * 8


def make(size: int, zero_redundancy: bool | None) -> tuple[MuonWithAdamW, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes(size)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    names = [f"m{i}" for i in range(len(params))]
    group = {"params": params, "param_names": names, "route": "muon"} | MUON
    return MuonWithAdamW([group], zero_redundancy=zero_redundancy), params


def rank_main(rank: int, world: int, port: int, args: dict[str, Any], out: str) -> None:
    torch.set_num_threads(args["threads"])
    store = dist.TCPStore("127.0.0.1", port, world, False, timedelta(seconds=300))
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
    try:
        opts = {label: make(args["size"], mode) for label, mode in MODES.items()}
        times: dict[str, list[float]] = {label: [] for label in MODES}
        for i in range(args["warmup"] + args["repeats"]):
            if i == args["warmup"]:  # count the timed steps only
                for opt, _ in opts.values():
                    opt.distributed_stats.reset()
            for label, (opt, _) in opts.items():
                dist.barrier()
                t0 = time.perf_counter()
                opt.step()
                dt = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
                dist.all_reduce(dt, op=dist.ReduceOp.MAX)  # the step ends on the slowest rank
                if i >= args["warmup"]:
                    times[label].append(float(dt))
        steps = args["repeats"]
        result: dict[str, Any] = {}
        for label, (opt, _) in opts.items():
            s = opt.distributed_stats
            result[label] = {
                "median_s": statistics.median(times[label]),
                "ns_calls": s.ns_calls / steps,
                "bytes_sent": s.bytes_sent / steps,
                "bytes_received": s.bytes_received / steps,
                "collectives": s.collectives / steps,
            }
        a, b = (opts[label][1] for label in MODES)
        result["bit_identical"] = all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def run(world: int, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Spawn ``world`` ranks; what each reported."""
    store = dist.TCPStore(
        "127.0.0.1", 0, None, True, timedelta(seconds=300), wait_for_workers=False
    )
    # the ranks unpickle rank_main by its module's name: when this file was loaded from its
    # path (not imported), hand them the importable module's function (its folder is on
    # sys.path, see the top)
    target = rank_main
    if rank_main.__module__ != "__main__" and sys.modules.get(__name__) is None:
        target = importlib.import_module(__name__).rank_main
    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(
            target, args=(world, store.port, args, out), nprocs=world, start_method="spawn"
        )
        return [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(world)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="64x64 and 64x256 matrices")
    parser.add_argument("--size", type=int, default=None, help="default 256 (quick: 64)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=None, help="default 1")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per rank")
    a = parser.parse_args(argv)
    size = a.size if a.size is not None else (64 if a.quick else 256)
    warmup = a.warmup if a.warmup is not None else 1
    repeats = a.repeats if a.repeats is not None else (3 if a.quick else 5)
    if size < 1 or a.ranks < 2 or repeats < 1 or warmup < 0 or a.threads < 1:
        parser.error("--size, --repeats, --threads >= 1, --ranks >= 2, --warmup >= 0")
    args = {"size": size, "warmup": warmup, "repeats": repeats, "threads": a.threads}

    header("bench_muon_distributed: Muon step, redundant vs zero-redundancy (gloo, CPU)")
    print(
        f"   {a.ranks} ranks x {a.threads} thread(s); 24 matrices {size}x{size} and 8 of "
        f"{size}x{4 * size}; warmup={warmup} repeats={repeats}"
    )
    reports = run(a.ranks, args)
    for label in MODES:
        r0 = reports[0][label]
        calls = [int(r[label]["ns_calls"]) for r in reports]
        received = [int(r[label]["bytes_received"]) for r in reports]
        sent = [int(r[label]["bytes_sent"]) for r in reports]
        print(f"   {label:16s} step {r0['median_s'] * 1e3:9.1f} ms (median, slowest rank)")
        print(
            f"   {label:16s} per rank per step: NS calls {calls}, bytes sent {sent}, "
            f"received {received}, collectives {r0['collectives']:g}"
        )
    print(f"   weights bit-identical after all steps: {reports[0]['bit_identical']}")
    ratio = reports[0]["redundant"]["median_s"] / reports[0]["zero-redundancy"]["median_s"]
    print(f"   ratio zero-redundancy vs redundant Muon step ({a.ranks} ranks): {ratio:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
