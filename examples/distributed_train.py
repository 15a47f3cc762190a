"""Data-parallel training with an optfn optimizer and schedule: DDP or FSDP2, DCP checkpoints.

Run on 2 CPU processes (gloo); ``--parallel`` picks DDP or FSDP2 (``fully_shard``)::

    torchrun --nproc-per-node 2 examples/distributed_train.py --parallel fsdp \\
        --steps 60 --stop-after 30 --save out/ckpt
    torchrun --nproc-per-node 2 examples/distributed_train.py --parallel fsdp \\
        --steps 60 --resume out/ckpt

The second command loads the model, optimizer (Muon + AdamW) and scheduler state saved by the
first with ``torch.distributed.checkpoint`` and trains steps 30..59. A checkpoint saved on N
processes loads on M (``--nproc-per-node 1`` works too). ``main(argv)`` is what
``tests/optim/test_distributed.py`` runs, with the environment torchrun would set.

The order that matters: wrap (DDP) or shard (``fully_shard``) the model first, then build
the optimizer from the wrapped/sharded model. optfn sees through the DDP wrapper (rules and
parameter names are those of the bare model), and FSDP2 keeps the names, so the same
``ParamRules`` work unchanged.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.stateful import Stateful
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from optfn import (
    MuonSpec,
    OptimConfig,
    ParamRules,
    ScheduleLR,
    WarmupCosine,
    make_optimizer,
    make_scheduler,
)
from optfn.demo import ScoringModel, SyntheticScores

# The demo model returns ``score.squeeze(-1)``, a view; FSDP2 warns that an in-place op on it
# would skip a hook. This script does none.
warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")


def config(steps: int) -> OptimConfig:
    """Muon on the transformer's matrices, AdamW on the rest, warmup-cosine over ``steps``."""
    return OptimConfig(
        optimizer=MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
        rules=ParamRules(lr_scales={"scoring_head": 5.0}),  # bare-model names, also under DDP
        schedule=WarmupCosine(warmup_steps=max(1, steps // 10), total_steps=steps),
    )


class TrainState(Stateful):
    """Model + optimizer + scheduler as one ``Stateful`` for ``dcp.save``/``dcp.load``.

    ``get_state_dict`` keys the optimizer state by parameter name (FQN) and holds DTensor
    shards under FSDP2, which is what lets a checkpoint saved on N ranks load on M.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: ScheduleLR):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def state_dict(self) -> dict[str, Any]:
        model_state, optim_state = get_state_dict(self.model, self.optimizer)
        return {"model": model_state, "optim": optim_state, "sched": self.scheduler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_state_dict(
            self.model,
            self.optimizer,
            model_state_dict=state_dict["model"],
            optim_state_dict=state_dict["optim"],
        )
        self.scheduler.load_state_dict(state_dict["sched"])


def parallelize(model: ScoringModel, mode: str) -> nn.Module:
    """DDP-wrap or FSDP2-shard ``model`` (each encoder layer, then the root)."""
    if mode == "ddp":
        return DistributedDataParallel(model)
    if mode == "fsdp":
        for layer in model.transformer.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    raise ValueError(f"--parallel: expected 'ddp' or 'fsdp', got {mode!r}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--parallel", choices=("ddp", "fsdp"), default="fsdp")
    p.add_argument("--steps", type=int, default=60, help="schedule length (total steps)")
    p.add_argument("--stop-after", type=int, default=None, help="stop at this step")
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over ranks")
    p.add_argument("--save", default=None, help="DCP checkpoint directory to write at the end")
    p.add_argument("--resume", default=None, help="DCP checkpoint directory to start from")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[float]:
    """Train; return this rank's per-step losses (of the steps run here)."""
    args = parse_args(argv)
    dist.init_process_group("gloo")  # torchrun's environment: RANK, WORLD_SIZE, MASTER_*
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.batch_size % world:
            raise ValueError(f"--batch-size {args.batch_size} must divide by {world} ranks")
        cfg = config(args.steps)
        torch.manual_seed(0)  # the same initial weights on every rank
        model = parallelize(ScoringModel(d_model=32, layers=2, heads=4), args.parallel)
        optimizer = make_optimizer(model, cfg.optimizer, cfg.rules)  # after wrapping/sharding
        scheduler = make_scheduler(optimizer, cfg.schedule)
        state = TrainState(model, optimizer, scheduler)
        if args.resume:
            dcp.load({"train": state}, checkpoint_id=args.resume)
        start = scheduler.last_epoch  # the step to run next
        stop = args.steps if args.stop_after is None else args.stop_after
        data = SyntheticScores(d_in=8, batch_size=args.batch_size, seed=0)
        losses: list[float] = []
        for step in range(start, stop):
            x, y = data.batch(step)  # the global batch; each rank takes its share
            x, y = x.chunk(world)[rank], y.chunk(world)[rank]
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if rank == 0 and (step % 10 == 0 or step == stop - 1):
                lr = scheduler.get_last_lr()[0]
                print(f"step {step:4d}  loss (rank 0's share) {loss.item():.4f}  lr {lr:.2e}")
        if args.save:
            dcp.save({"train": state}, checkpoint_id=args.save)
            if rank == 0:
                print(f"saved step {stop} to {args.save}")
        return losses
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    if "RANK" not in os.environ:
        raise SystemExit(
            "run with torchrun, e.g.: torchrun --nproc-per-node 2 examples/distributed_train.py"
        )
    main()
