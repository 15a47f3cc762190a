"""Ranks for tests/optim/test_normuon_distributed.py: zero-redundancy NorMuon on 2 and 3 CPU ranks.

One launch per world size runs every case in :func:`normuon_checks`. Each case records, on
every rank, the starting weights, the gradients fed to each step, the final weights, this
rank's ``distributed_stats`` per step, the owners and the optimizer's ``state_dict``; the test
replays the gradients in its own process, with no process group (:func:`replay`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from optfn import NorMuonWithAdam
from tests.optim.dist_workers import init

STEPS = 3
#: The round-trip case: STEPS steps, state_dict into a fresh optimizer, then this many more.
MORE_STEPS = 2

#: Banks: tall (4 matrices 12x5), one viewed through a ``reshape`` attribute (RESHAPE), a
#: square matrix, a 4-D bank (4 matrices 6x6), a wide bank (for the per-matrix factors).
SHAPES: dict[str, tuple[int, ...]] = {
    "tall_bank": (4, 12, 5),
    "viewed": (12, 8),
    "square": (8, 8),
    "bank4d": (2, 2, 6, 6),
    "wide_bank": (4, 5, 12),
    "bias": (7,),
    "gain": (3,),
}
#: ``param.reshape`` (modded-nanogpt's view attribute): "viewed" is a bank of 2 wide 6x8.
RESHAPE = {"viewed": (2, 6, 8)}
LAYOUT = {
    "A": ["tall_bank", "viewed", "square"],
    "B": ["bank4d", "wide_bank"],
    "adam": ["bias", "gain"],
}
#: The gradient of this parameter is None at step 1 (skipped by every rank).
NO_GRAD_AT_1 = "square"


def groups(named: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Two normuon groups (Polar Express; Newton–Schulz with per-matrix factors) and Adam."""
    hyper: dict[str, dict[str, Any]] = {
        "A": {
            "lr": 0.023,
            "weight_decay": 1.2,
            "momentum": 0.95,
            "beta2": 0.9,
            "orthogonalizer": "polar_express",
            "ns_steps": 5,
            "cautious_weight_decay": True,
            "per_matrix_lr_mul": None,
        },
        "B": {
            "lr": 0.03,
            "weight_decay": 0.5,
            "momentum": 0.9,
            "beta2": 0.95,
            "orthogonalizer": "newton_schulz",
            "ns_steps": 4,
            "cautious_weight_decay": False,
            "per_matrix_lr_mul": (1.0, 2.0),
        },
        "adam": {
            "lr": 0.008,
            "weight_decay": 0.005,
            "betas": (0.9, 0.99),
            "eps": 1e-10,
            "cautious_weight_decay": True,
            "every": 2,
        },
    }
    out = []
    for key, names in LAYOUT.items():
        route = "adam" if key == "adam" else "normuon"
        params = [named[n] for n in names]
        out.append({"params": params, "param_names": names, "route": route} | hyper[key])
    return out


def make_params(start: dict[str, torch.Tensor] | None = None) -> dict[str, nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    out = {}
    for n, s in SHAPES.items():
        p = nn.Parameter(torch.randn(s, generator=gen) if start is None else start[n].clone())
        if n in RESHAPE:
            p.reshape = RESHAPE[n]  # type: ignore[assignment,method-assign]
        out[n] = p
    return out


def grads_at(step: int) -> dict[str, torch.Tensor | None]:
    """The same gradients on every rank (what DDP's averaging leaves)."""
    gen = torch.Generator().manual_seed(100 + step)
    out: dict[str, torch.Tensor | None] = {
        n: torch.randn(s, generator=gen) for n, s in SHAPES.items()
    }
    if step == 1:
        out[NO_GRAD_AT_1] = None
    return out


def steps(
    opt: NorMuonWithAdam,
    named: dict[str, nn.Parameter],
    at: range,
    step: Callable[[], object] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``opt.step()`` (or ``step``) at each step of ``at`` on :func:`grads_at`."""
    fed: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    for at_step in at:
        grads = grads_at(at_step)
        for n, p in named.items():
            p.grad = grads[n]
        fed.append({n: None if g is None else g.clone() for n, g in grads.items()})
        opt.distributed_stats.reset()
        (step or opt.step)()
        stats.append(dataclasses.asdict(opt.distributed_stats))
    return fed, stats


def snapshot(named: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in named.items()}


def run(**options: Any) -> dict[str, Any]:
    """STEPS steps; then the state_dict into a fresh optimizer on fresh parameters (the
    weights copied), MORE_STEPS more steps there."""
    named = make_params()
    start = snapshot(named)
    opt = NorMuonWithAdam(groups(dict(named)), **options)
    _, stats = steps(opt, named, range(STEPS))
    plan = opt._zero_redundancy_plan
    normuon = [p for g in opt.param_groups if g["route"] == "normuon" for p in g["params"]]
    state = copy.deepcopy(opt.state_dict())
    final = snapshot(named)
    fresh = make_params(final)
    loaded = NorMuonWithAdam(groups(dict(fresh)), **options)
    loaded.load_state_dict(copy.deepcopy(state))
    _, more_stats = steps(loaded, fresh, range(STEPS, STEPS + MORE_STEPS))
    return {
        "start": start,
        "final": final,
        "state_dict": state,
        "after_load": snapshot(fresh),
        "stats": stats + more_stats,
        "owners": None if plan is None else plan.owners_of(normuon),
    }


def replay(total: int) -> tuple[dict[str, torch.Tensor], dict[str, Any], NorMuonWithAdam]:
    """The 1-process reference: ``total`` steps of one optimizer, no process group; the
    weights and state_dict after STEPS steps, and the optimizer (its params at ``total``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the same kernels, the same rounding
    try:
        named = make_params()
        opt = NorMuonWithAdam(groups(dict(named)))
        steps(opt, named, range(STEPS))
        at_steps, state = snapshot(named), copy.deepcopy(opt.state_dict())
        steps(opt, named, range(STEPS, total))
        return at_steps, state, opt
    finally:
        torch.set_num_threads(threads)


def whole(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).clone()


def refused_cases(world: int) -> dict[str, Any]:
    """A Shard(0) DTensor and plain parameters that differ between ranks: refused, nothing
    changed."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (world,))
    placers: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "dtensor": lambda t: distribute_tensor(t, mesh, [Shard(0)], src_data_rank=None),
        "differ": lambda t: t + dist.get_rank(),
    }
    out: dict[str, Any] = {}
    for label, place in placers.items():
        w0 = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(1))
        w = nn.Parameter(place(w0))
        w.grad = place(torch.ones_like(w0))
        group = groups({n: w for n in SHAPES})[0]
        group.update(params=[w], param_names=["w"])
        opt = NorMuonWithAdam([group])
        try:
            opt.step()
        except (TypeError, ValueError) as e:
            out[f"{label}_error"] = f"{type(e).__name__}: {e}"
        out[f"{label}_unchanged"] = torch.equal(whole(w), whole(place(w0))) and not opt.state
    return out


def compiled_cases() -> dict[str, Any]:
    """``torch.compile`` of the step under the process group: the zero-redundancy step runs
    eagerly (dynamo skips it), so the weights are the eager ones; ``fullgraph=True`` refuses
    it before anything moves, with the reason."""
    torch._dynamo.reset()
    named = make_params()
    opt = NorMuonWithAdam(groups(dict(named)))
    out: dict[str, Any] = {}
    start = snapshot(named)
    try:
        grads = grads_at(0)
        for n, p in named.items():
            p.grad = grads[n]
        torch.compile(opt.step, backend="eager", fullgraph=True)()
    except Exception as e:  # dynamo's Unsupported (a RuntimeError)
        out["fullgraph_error"] = f"{type(e).__name__}: {e}"
    out["fullgraph_unchanged"] = (
        all(torch.equal(p, start[n]) for n, p in named.items()) and not opt.state
    )
    step = torch.compile(opt.step, backend="eager")
    steps(opt, named, range(STEPS + MORE_STEPS), step)
    out["final"] = snapshot(named)
    return out


def normuon_checks(rank: int, world: int, out: str) -> None:
    """Every case on this rank; writes ``nm_<world>_<rank>.pt``."""
    init()
    try:
        result = {
            "shared": run(),
            "off": run(zero_redundancy=False),
            "refused": refused_cases(world),
            "compiled": compiled_cases(),
        }
        torch.save(result, Path(out) / f"nm_{world}_{rank}.pt")
    finally:
        dist.destroy_process_group()
