"""Ranks for tests/optim/test_muon_zero_redundancy.py: zero-redundancy Muon on 2 and 3 CPU ranks.

One launch per world size runs every case in :func:`zero_redundancy_checks`. Each case
records, on every rank, the starting weights, the gradients fed to each step (whole, as one
process would see them), the final weights (whole), this rank's ``distributed_stats`` and the
owners; the test replays the gradients in its own process, with no process group, for the
1-process reference (:func:`replay`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from optfn import ScheduleLR, WarmupCosine, make_scheduler
from optfn.optim.muon import MuonWithAdamW
from tests.optim.dist_workers import COEFFS, init

STEPS = 3
SCHEDULE = WarmupCosine(warmup_steps=1, total_steps=6, min_lr_scale=0.1)

#: Synthetic matrices: tall, wide, a conv weight, and same-shape squares (batched together
#: by an owner with ``batch_newton_schulz=True``, across the two muon groups).
SHAPES: dict[str, tuple[int, ...]] = {
    "tall": (12, 5),
    "conv": (6, 2, 3, 3),
    "sq0": (8, 8),
    "sq1": (8, 8),
    "wide": (5, 12),
    "sq2": (8, 8),
    "sq3": (8, 8),
    "tall2": (12, 5),
    "bias": (7,),
}
#: Muon group A (Nesterov, "original"), group B (no Nesterov, "match_rms_adamw"), AdamW.
LAYOUT = {
    "A": ["tall", "conv", "sq0", "sq1"],
    "B": ["wide", "sq2", "sq3", "tall2"],
    "adamw": ["bias"],
}
#: The gradient of this parameter is None at step 1 (skipped by every rank).
NO_GRAD_AT_1 = "sq1"


def groups(named: dict[str, torch.Tensor], layout: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Two muon groups with different hyper-parameters and one adamw group."""
    muon = {"ns_coefficients": COEFFS, "ns_steps": 5, "eps": 1e-7, "momentum": 0.95}
    hyper = {
        "A": {
            **muon,
            "lr": 0.02,
            "weight_decay": 0.1,
            "nesterov": True,
            "adjust_lr_fn": "original",
        },
        "B": {
            **muon,
            "lr": 0.03,
            "weight_decay": 0.05,
            "nesterov": False,
            "adjust_lr_fn": "match_rms_adamw",
        },
        "adamw": {"lr": 1e-3, "weight_decay": 0.01, "betas": (0.9, 0.999), "eps": 1e-8},
    }
    out = []
    for key, names in layout.items():
        if names:
            route = "adamw" if key == "adamw" else "muon"
            params = [named[n] for n in names]
            out.append({"params": params, "param_names": names, "route": route} | hyper[key])
    return out


def whole(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).clone()


def run(
    named: dict[str, nn.Parameter],
    layout: dict[str, list[str]],
    grads_at: Callable[[int], dict[str, torch.Tensor | None]],
    **options: Any,
) -> dict[str, Any]:
    """STEPS optimizer + scheduler steps; what the test compares and counts."""
    opt = MuonWithAdamW(groups(dict(named), layout), **options)
    sched: ScheduleLR = make_scheduler(opt, SCHEDULE)
    start = {n: whole(p) for n, p in named.items()}
    fed: list[dict[str, torch.Tensor | None]] = []
    stats = []
    for step in range(STEPS):
        grads = grads_at(step)
        for n, p in named.items():
            if n in grads:
                p.grad = grads[n]
        fed.append({n: None if p.grad is None else whole(p.grad) for n, p in named.items()})
        opt.distributed_stats.reset()
        opt.step()
        stats.append(dataclasses.asdict(opt.distributed_stats))
        sched.step()
    muon = [p for g in opt.param_groups if g["route"] == "muon" for p in g["params"]]
    plan = opt._zero_redundancy_plan
    return {
        "start": start,
        "grads": fed,
        "final": {n: whole(p) for n, p in named.items()},
        "stats": stats,
        "owners": None if plan is None else plan.owners(muon),
        "kinds": None if plan is None else plan.kinds(muon),
        "muon_names": [
            n for g in opt.param_groups if g["route"] == "muon" for n in g["param_names"]
        ],
        "muon_shapes": [tuple(p.shape) for p in muon],
        "layout": layout,
        "options": {k: v for k, v in options.items() if k == "batch_newton_schulz"},
    }


def replay(case: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The 1-process reference: the recorded gradients on plain tensors, no process group."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the same kernels, the same rounding
    try:
        named = {n: nn.Parameter(t.clone()) for n, t in case["start"].items()}
        fed = case["grads"]
        result = run(named, case["layout"], lambda s: fed[s], **case["options"])
        return result["final"]  # type: ignore[no-any-return]
    finally:
        torch.set_num_threads(threads)


# ---- the cases ------------------------------------------------------------------------------
def synthetic_grads(
    step: int, place: Callable[[torch.Tensor], torch.Tensor]
) -> dict[str, torch.Tensor | None]:
    """The same gradients on every rank (what DDP's averaging leaves), placed by ``place``."""
    gen = torch.Generator().manual_seed(100 + step)
    out: dict[str, torch.Tensor | None] = {
        n: place(torch.randn(s, generator=gen)) for n, s in SHAPES.items()
    }
    if step == 1:
        out[NO_GRAD_AT_1] = None
    return out


def synthetic_params(place: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    return {n: nn.Parameter(place(torch.randn(s, generator=gen))) for n, s in SHAPES.items()}


def replicated_cases() -> dict[str, Any]:
    """Plain tensors, equal on every rank (DDP-style): auto, off, batched."""
    out = {}
    for label, options in {
        "auto": {},
        "off": {"zero_redundancy": False},
        "batched": {"batch_newton_schulz": True},
    }.items():
        out[label] = run(
            synthetic_params(lambda t: t),
            LAYOUT,
            lambda s: synthetic_grads(s, lambda t: t),
            **options,
        )
    return out


def sharded_cases(world: int) -> dict[str, Any]:
    """Shard(0) DTensors (uneven shards; with 3 ranks the conv weight's 6 rows split 2/2/2,
    the 5-row wide matrix 2/2/1), mixed with plain tensors in the same groups."""
    from torch.distributed.tensor import Shard, distribute_tensor, init_device_mesh

    mesh = init_device_mesh("cpu", (world,))
    plain = {"sq3", "bias"}  # these stay plain tensors in the same groups

    def place_named(named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            n: t if n in plain else distribute_tensor(t, mesh, [Shard(0)], src_data_rank=None)
            for n, t in named.items()
        }

    def params() -> dict[str, nn.Parameter]:
        gen = torch.Generator().manual_seed(0)
        full = {n: torch.randn(s, generator=gen) for n, s in SHAPES.items()}
        return {n: nn.Parameter(t) for n, t in place_named(full).items()}

    def grads(step: int) -> dict[str, torch.Tensor | None]:
        g = synthetic_grads(step, lambda t: t)
        placed = place_named({n: t for n, t in g.items() if t is not None})
        return {n: placed.get(n) for n in g}

    return {
        "auto": run(params(), LAYOUT, grads),
        "off": run(params(), LAYOUT, grads, zero_redundancy=False),
        "batched": run(params(), LAYOUT, grads, batch_newton_schulz=True),
    }


class Tiny(nn.Module):
    """A conv, then three linears: conv (4, 2, 3, 3), a wide (7, 36), tall (12, 7), wide (3, 12)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(2, 4, 3)
        self.a = nn.Linear(36, 7)
        self.b = nn.Linear(7, 12)
        self.c = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).flatten(1)
        return self.c(torch.relu(self.b(torch.relu(self.a(h)))))


TINY_LAYOUT = {
    "A": ["conv.weight", "a.weight"],
    "B": ["b.weight", "c.weight"],
    "adamw": ["conv.bias", "a.bias", "b.bias", "c.bias"],
}


def fsdp2_case(zero_redundancy: bool | None) -> dict[str, Any]:
    """FSDP2: ``fully_shard`` on conv, a and b; c stays a plain module (mixed groups). Every
    rank gets the same batch, so c's local gradient is the same everywhere."""
    from torch.distributed.fsdp import fully_shard

    model = Tiny()
    for m in (model.conv, model.a, model.b):
        fully_shard(m)
    named = dict(model.named_parameters())

    def grads(step: int) -> dict[str, torch.Tensor | None]:
        gen = torch.Generator().manual_seed(200 + step)
        x, y = torch.randn(4, 2, 5, 5, generator=gen), torch.randn(4, 3, generator=gen)
        for p in named.values():
            p.grad = None
        nn.functional.mse_loss(model(x), y).backward()  # type: ignore[no-untyped-call]
        return {n: p.grad for n, p in named.items()}

    return run(named, TINY_LAYOUT, grads, zero_redundancy=zero_redundancy)


def refused_cases(world: int) -> dict[str, Any]:
    """Shard(1) and a 2-D mesh: refused with zero_redundancy=True, the old path otherwise;
    plain tensors that differ between ranks (not replicated) likewise."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh

    mesh = init_device_mesh("cpu", (world,))
    mesh2 = init_device_mesh("cpu", (1, world), mesh_dim_names=("dp", "tp"))
    layout = {"A": ["w"], "B": [], "adamw": []}
    out: dict[str, Any] = {}
    placers: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "shard1": lambda t: distribute_tensor(t, mesh, [Shard(1)], src_data_rank=None),
        "mesh2d": lambda t: distribute_tensor(
            t, mesh2, [Replicate(), Shard(0)], src_data_rank=None
        ),
        "differ": lambda t: t + dist.get_rank(),  # plain, but not the same on every rank
    }
    for label, place in placers.items():
        gen = torch.Generator().manual_seed(1)
        w0, gs = (
            torch.randn(10, 6, generator=gen),
            [torch.randn(10, 6, generator=gen) for _ in range(STEPS)],
        )
        p = nn.Parameter(place(w0))
        p.grad = place(gs[0])
        try:
            MuonWithAdamW(groups({"w": p}, layout), zero_redundancy=True).step()
        except ValueError as e:
            out[f"{label}_error"] = str(e)
        out[f"{label}_unchanged"] = torch.equal(whole(p), whole(place(w0)))
        out[label] = run(
            {"w": nn.Parameter(place(w0))},
            layout,
            lambda s, place=place, gs=gs: {"w": place(gs[s])},
        )
    return out


def zero_redundancy_checks(rank: int, world: int, out: str) -> None:
    """Every case on this rank; writes ``zr_<world>_<rank>.pt``."""
    init()
    try:
        result = {
            "replicated": replicated_cases(),
            "sharded": sharded_cases(world),
            "fsdp2": {"auto": fsdp2_case(None), "off": fsdp2_case(False)},
            "refused": refused_cases(world),
        }
        torch.save(result, Path(out) / f"zr_{world}_{rank}.pt")
    finally:
        dist.destroy_process_group()
