"""Processes for tests/optim/test_distributed.py: a launcher and the functions each rank runs.

``launch(fn, nprocs, *args)`` spawns ``nprocs`` processes on CPU, with the environment
torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``...). The rendezvous
store is a ``TCPStore`` served by the test process itself on a port the OS picks, and every
rank connects to it as a client (torchrun's ``TORCHELASTIC_USE_AGENT_STORE``), so tests
running side by side never race for a port. Workers must be importable by the spawned
processes, hence this module; they write what they measured under ``out`` for the test to
check.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from optfn import (
    AdamWSpec,
    MuonSpec,
    OptimizerSpecification,
    ParamRules,
    ScheduleLR,
    WarmupCosine,
    make_optimizer,
    make_scheduler,
    partition_params,
)
from optfn.demo import ScoringModel, SyntheticScores
from optfn.optim.muon import MuonWithAdamW

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "distributed_train.py"

SPECS: dict[str, OptimizerSpecification] = {
    "adamw": AdamWSpec(learning_rate=3e-3, weight_decay=0.05),
    "muon": MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
}
RULES = ParamRules(lr_scales={"scoring_head": 5.0, "embed": 0.5})  # bare-model names
SCHEDULE = WarmupCosine(warmup_steps=2, total_steps=10, min_lr_scale=0.1)
STEPS = 6
GLOBAL_BATCH = 8
COEFFS = (3.4445, -4.775, 2.0315)

# The demo model's forward returns a view (``squeeze``); FSDP2 warns about in-place ops on
# such outputs, which these loops never do.
_FSDP_VIEW_WARNING = "FSDP2-wrapped module .* returned a view tensor"


# ---- launching ----------------------------------------------------------------------------
#: How long ranks may run. A test takes 1-3 s alone, but gloo's polling collectives slow down
#: sharply when the 2 cores are oversubscribed (2 ranks beside another xdist worker and any
#: other load), so the limits are generous: they exist to turn a real hang into a failure.
_LAUNCH_TIMEOUT_S = 180.0
#: After this many seconds a rank dumps its threads' stacks to stderr (the launcher gives up
#: a little later), so that a hang in CI says where it is.
_HANG_REPORT_S = _LAUNCH_TIMEOUT_S - 15.0


def _entry(
    rank: int, fn: Callable[..., None], world: int, ports: list[int], args: tuple[Any, ...]
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(ports[0]),
        TORCHELASTIC_USE_AGENT_STORE="True",  # the store is served by the launching process
        OPTFN_TEST_PORTS=",".join(map(str, ports)),
    )
    torch.set_num_threads(1)  # 2 cores, 2 ranks, and xdist runs another test beside this one
    # a rank still running shortly before the launcher gives up prints where it is
    faulthandler.dump_traceback_later(_HANG_REPORT_S, exit=False)
    warnings.filterwarnings("ignore", message=_FSDP_VIEW_WARNING)
    fn(rank, world, *args)
    faulthandler.cancel_dump_traceback_later()
    # Leave together (a rank that exits while another still reads from it breaks the other),
    # then skip the interpreter's teardown (~1.5 s with torch loaded); files are closed.
    store = dist.TCPStore("127.0.0.1", ports[0], world, False, timedelta(seconds=120))
    store.add("optfn_test_done", 1)
    while store.add("optfn_test_done", 0) < world:
        time.sleep(0.005)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def launch(
    fn: Callable[..., None],
    nprocs: int,
    *args: Any,
    stores: int = 1,
    timeout_s: float = _LAUNCH_TIMEOUT_S,
) -> None:
    """Run ``fn(rank, world, *args)`` in ``nprocs`` spawned processes; re-raise a failure.

    ``stores``: how many rendezvous stores to serve (one per ``init_process_group`` a rank
    makes; their ports are in ``OPTFN_TEST_PORTS``, the first is ``MASTER_PORT``).
    """
    # Each rank is a fresh interpreter ("spawn"): a few seconds to import torch, but nothing is
    # inherited from a forked process. Ranks forked from a forkserver that had imported
    # torch._dynamo started faster, and twice hung (once in CI) when the 2 cores were busy.
    timeout = timedelta(seconds=timeout_s)
    served = [
        dist.TCPStore("127.0.0.1", 0, None, True, timeout, wait_for_workers=False)
        for _ in range(stores)
    ]
    ctx = mp.start_processes(
        _entry,
        args=(fn, nprocs, [s.port for s in served], args),
        nprocs=nprocs,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout_s
    try:
        while not ctx.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{fn.__name__}: ranks still running after {timeout_s} s")
    finally:
        for proc in ctx.processes:
            if proc.is_alive():
                proc.kill()
        del served


def init(timeout_s: float = _LAUNCH_TIMEOUT_S - 10.0) -> tuple[int, int]:
    dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


# ---- the model, data and training loop --------------------------------------------------------
def tiny_model(seed: int = 0) -> ScoringModel:
    """The demo's transformer scoring model, small: 2 encoder layers, d_model 16, 2 heads."""
    torch.manual_seed(seed)
    return ScoringModel(d_in=8, d_model=16, layers=2, heads=2)


def shard(model: ScoringModel) -> ScoringModel:
    """FSDP2: ``fully_shard`` each encoder layer, then the root (every parameter a DTensor)."""
    from torch.distributed.fsdp import fully_shard

    for layer in model.transformer.layers:
        fully_shard(layer)
    fully_shard(model)
    return model


def batches(start: int, stop: int, rank: int, world: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """The global batch of each step, this rank's share of it (``world=1``: all of it)."""
    data = SyntheticScores(d_in=8, batch_size=GLOBAL_BATCH, seed=0)
    for step in range(start, stop):
        x, y = data.batch(step)
        yield x.chunk(world)[rank], y.chunk(world)[rank]


def train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: ScheduleLR,
    data: Iterator[tuple[torch.Tensor, ...]],
    micro: int = 1,
) -> list[list[float]]:
    """One optimizer and scheduler step per batch; returns the LRs used at each step.

    ``micro > 1``: the batch is split into ``micro`` equal parts whose gradients are
    accumulated, ``loss / micro`` each: in exact arithmetic, what data parallelism does.
    """
    lrs = []
    for x, y in data:
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad(set_to_none=True)
        for xs, ys in zip(x.chunk(micro), y.chunk(micro), strict=True):
            loss = nn.functional.mse_loss(model(xs), ys) / micro
            loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
    return lrs


def full_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter by name, whole (FSDP2 shards are gathered: call on every rank)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach()
        out[name] = (t.full_tensor() if hasattr(t, "full_tensor") else t).clone()
    return out


def partition_summary(model: nn.Module, spec: OptimizerSpecification) -> list[tuple[Any, ...]]:
    part = partition_params(model, RULES, spec=spec)
    return list(zip(part.names, part.routes, part.decays, part.lr_scales, strict=True))


def group_names(opt: torch.optim.Optimizer) -> list[list[str]]:
    return [list(g["param_names"]) for g in opt.param_groups]


def reference_run(spec: OptimizerSpecification, micro: int) -> dict[str, Any]:
    """The single-process run on the whole global batch (no process group needed), its
    gradient computed in one pass (``micro=1``) or accumulated over ``micro`` parts."""
    model = tiny_model()
    opt = make_optimizer(model, spec, RULES)
    if isinstance(opt, MuonWithAdamW):  # stepped by rank 0 alone: no collectives
        opt.zero_redundancy = False
    lrs = train(model, opt, make_scheduler(opt, SCHEDULE), batches(0, STEPS, 0, 1), micro)
    return {"params": full_params(model), "lrs": lrs}


def references(spec: OptimizerSpecification, world: int) -> dict[str, Any]:
    """``full``: one pass over the global batch; ``accumulated``: ``world`` parts (each rank's
    share, in rank order), gradients summed: what the ranks compute, in one process."""
    return {"full": reference_run(spec, 1), "accumulated": reference_run(spec, world)}


# ---- DDP ------------------------------------------------------------------------------------
def ddp_parity(rank: int, world: int, out: str) -> None:
    """DDP: partition of bare vs wrapped model; 2-rank training vs the 1-process reference."""
    from torch.nn.parallel import DistributedDataParallel

    init()
    try:
        result: dict[str, Any] = {}
        for kind, spec in SPECS.items():
            bare = tiny_model()
            ddp = DistributedDataParallel(bare)
            opt = make_optimizer(ddp, spec, RULES)
            result[kind] = {
                "partition_bare": partition_summary(bare, spec),
                "partition_ddp": partition_summary(ddp, spec),
                "groups_bare": group_names(make_optimizer(tiny_model(), spec, RULES)),
                "groups_ddp": group_names(opt),
                "same_tensors": {id(p) for g in opt.param_groups for p in g["params"]}
                == {id(p) for p in ddp.parameters()},
                "type": type(opt).__name__,
            }
            lrs = train(ddp, opt, make_scheduler(opt, SCHEDULE), batches(0, STEPS, rank, world))
            result[kind].update(params=full_params(bare), lrs=lrs)
            if rank == 0:
                result[kind]["reference"] = references(spec, world)
        if rank == 0:
            torch.save(result, Path(out) / "ddp.pt")
    finally:
        dist.destroy_process_group()


# ---- FSDP2 ----------------------------------------------------------------------------------
def _muon_group(p: torch.Tensor, nesterov: bool, adjust: str) -> dict[str, Any]:
    return {
        "params": [p],
        "param_names": ["w"],
        "route": "muon",
        "lr": 0.02,
        "weight_decay": 0.1,
        "momentum": 0.95,
        "nesterov": nesterov,
        "ns_coefficients": COEFFS,
        "ns_steps": 5,
        "eps": 1e-7,
        "adjust_lr_fn": adjust,
    }


def muon_sharded_steps(world: int) -> list[dict[str, Any]]:
    """Muon steps on a row-sharded DTensor vs the same matrix unsharded, same gradients.

    Shapes include rows that do not divide by the world size (uneven shards), a wide and a
    tall matrix and a conv weight (orthogonalized as its ``(shape[0], -1)`` matrix), with
    ``batch_newton_schulz`` default and on.
    """
    from torch.distributed.tensor import Shard, distribute_tensor, init_device_mesh

    mesh = init_device_mesh("cpu", (world,))
    gen = torch.Generator().manual_seed(0)
    rows = []
    cases = [
        ((48, 16), True, "original", None),
        ((5, 7), False, "original", True),
        ((7, 5), True, "match_rms_adamw", None),
        ((6, 2, 3, 3), True, "original", True),
    ]
    for shape, nesterov, adjust, batch in cases:
        w = torch.randn(shape, generator=gen)
        plain = nn.Parameter(w.clone())
        sharded = nn.Parameter(distribute_tensor(w.clone(), mesh, [Shard(0)]))
        opts = [
            MuonWithAdamW([_muon_group(plain, nesterov, adjust)]),
            # asking for batched Newton-Schulz must not change a DTensor's (gathered) update
            MuonWithAdamW([_muon_group(sharded, nesterov, adjust)], batch_newton_schulz=batch),
        ]
        for _ in range(3):
            g = torch.randn(shape, generator=gen)
            plain.grad = g.clone()
            sharded.grad = distribute_tensor(g.clone(), mesh, [Shard(0)])
            for o in opts:
                o.step()
        buf = opts[1].state[sharded]["momentum_buffer"]
        rows.append(
            {
                "shape": shape,
                "plain": plain.detach().clone(),
                "sharded": sharded.detach().full_tensor(),
                "local_rows": sharded.detach().to_local().shape[0],
                "buffer_is_dtensor": type(buf).__name__ == "DTensor",
                "moved": (plain.detach() - w).abs().max().item(),
            }
        )
    return rows


def fsdp_parity(rank: int, world: int, out: str) -> None:
    """FSDP2: optimizer built after ``fully_shard``; a few steps vs the 1-process reference."""
    init()
    try:
        result: dict[str, Any] = {"muon_steps": muon_sharded_steps(world)}
        for kind, spec in SPECS.items():
            model = tiny_model()
            early = make_optimizer(model, spec, RULES)  # built BEFORE sharding: the trap
            shard(model)
            opt = make_optimizer(model, spec, RULES)
            live = {id(p) for p in model.parameters()}
            result[kind] = {
                "partition_bare": partition_summary(tiny_model(), spec),
                "partition_fsdp": partition_summary(model, spec),
                "groups_bare": group_names(make_optimizer(tiny_model(), spec, RULES)),
                "groups_fsdp": group_names(opt),
                "early_sees_live_params": any(
                    id(p) in live for g in early.param_groups for p in g["params"]
                ),
                "all_dtensors": all(type(p).__name__ == "DTensor" for p in model.parameters()),
            }
            lrs = train(model, opt, make_scheduler(opt, SCHEDULE), batches(0, STEPS, rank, world))
            result[kind].update(params=full_params(model), lrs=lrs)
            result[kind]["state_dtensors"] = all(
                type(v).__name__ == "DTensor"
                for s in opt.state.values()
                for k, v in s.items()
                if k != "step"
            )
            if rank == 0:
                result[kind]["reference"] = references(spec, world)
        if rank == 0:
            torch.save(result, Path(out) / "fsdp.pt")
    finally:
        dist.destroy_process_group()


# ---- DCP ------------------------------------------------------------------------------------
SAVE_AT = 3  # steps before the checkpoint; training then runs to STEPS


class TrainState:
    """Model + optimizer + scheduler, a ``Stateful`` for ``dcp.save``/``dcp.load``."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, sched: ScheduleLR) -> None:
        self.model, self.opt, self.sched = model, opt, sched

    def state_dict(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_state, optim_state = get_state_dict(self.model, self.opt)
        return {"model": model_state, "optim": optim_state, "sched": self.sched.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import set_state_dict

        set_state_dict(
            self.model,
            self.opt,
            model_state_dict=state["model"],
            optim_state_dict=state["optim"],
        )
        self.sched.load_state_dict(state["sched"])


def full_snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Whole model parameters and optimizer state by name (gathers shards: every rank calls)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    model_state, optim_state = get_state_dict(model, opt, options=options)
    states: dict[str, dict[str, Any]] = optim_state["state"]  # type: ignore[assignment]
    return {
        "model": {k: v.detach().clone() for k, v in model_state.items()},  # type: ignore[union-attr]
        "state": {
            name: {k: v.detach().clone() for k, v in s.items()} for name, s in states.items()
        },
        "lrs": [g["lr"] for g in opt.param_groups],
    }


def fsdp_run(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, ScheduleLR]:
    model = shard(tiny_model(seed))
    opt = make_optimizer(model, SPECS["muon"], RULES)
    return model, opt, make_scheduler(opt, SCHEDULE)


def dcp_save_and_resume(rank: int, world: int, out: str) -> None:
    """Train SAVE_AT steps, save with DCP, train on (the uninterrupted run); then a fresh
    model/optimizer/scheduler from another seed loads the checkpoint and trains the same steps.
    """
    import torch.distributed.checkpoint as dcp

    init()
    try:
        ckpt = str(Path(out) / "ckpt")
        model, opt, sched = fsdp_run(seed=0)
        train(model, opt, sched, batches(0, SAVE_AT, rank, world))
        dcp.save({"train": TrainState(model, opt, sched)}, checkpoint_id=ckpt)
        at_save = full_snapshot(model, opt)
        lrs = train(model, opt, sched, batches(SAVE_AT, STEPS, rank, world))
        uninterrupted = full_snapshot(model, opt) | {"step_lrs": lrs}

        model2, opt2, sched2 = fsdp_run(seed=1)  # other weights: the load must restore all
        dcp.load({"train": TrainState(model2, opt2, sched2)}, checkpoint_id=ckpt)
        loaded = full_snapshot(model2, opt2) | {"last_epoch": sched2.last_epoch}
        lrs2 = train(model2, opt2, sched2, batches(SAVE_AT, STEPS, rank, world))
        resumed = full_snapshot(model2, opt2) | {"step_lrs": lrs2}
        if rank == 0:
            torch.save(
                {
                    "at_save": at_save,
                    "uninterrupted": uninterrupted,
                    "loaded_2": loaded,
                    "resumed_2": resumed,
                },
                Path(out) / "dcp.pt",
            )
    finally:
        dist.destroy_process_group()


def dcp_resume_one_process(ckpt: str, micro: int) -> dict[str, Any]:
    """Load the 2-rank checkpoint into a plain (unsharded) model in this process, no process
    group at all, and train the remaining steps on the whole global batch (its gradient
    accumulated over ``micro`` parts, see :func:`train`)."""
    import torch.distributed.checkpoint as dcp

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the same kernels, the same rounding
    try:
        return _resume_one_process(dcp, ckpt, micro)
    finally:
        torch.set_num_threads(threads)


def _resume_one_process(dcp: Any, ckpt: str, micro: int) -> dict[str, Any]:
    model = tiny_model(seed=1)
    opt = make_optimizer(model, SPECS["muon"], RULES)
    sched = make_scheduler(opt, SCHEDULE)
    with warnings.catch_warnings():  # DCP says it assumes a single process: it is one
        warnings.filterwarnings("ignore", "torch.distributed is disabled, unavailable or un")
        dcp.load({"train": TrainState(model, opt, sched)}, checkpoint_id=ckpt, no_dist=True)
    loaded = full_snapshot(model, opt) | {"last_epoch": sched.last_epoch}
    lrs = train(model, opt, sched, batches(SAVE_AT, STEPS, 0, 1), micro=micro)
    return {"loaded_1": loaded, "resumed_1": full_snapshot(model, opt) | {"step_lrs": lrs}}


# ---- the docs' example ------------------------------------------------------------------------
def run_example(rank: int, world: int, out: str, runs: list[list[str]]) -> None:
    """``examples/distributed_train.py``'s ``main(argv)`` for each ``argv`` in ``runs``, one
    after the other in the same processes, each with a fresh rendezvous store (as torchrun
    would give each command)."""
    spec = importlib.util.spec_from_file_location("distributed_train", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ports = os.environ["OPTFN_TEST_PORTS"].split(",")
    losses = []
    for port, argv in zip(ports, runs, strict=True):
        os.environ["MASTER_PORT"] = port
        losses.append(module.main(argv))
    torch.save(losses, Path(out) / f"example_losses_{rank}.pt")
