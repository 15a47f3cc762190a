"""A tiny training run for the resume test: run as a script, it resumes from a checkpoint.

``python resume_worker.py CKPT OUT STOP`` loads CKPT into a fresh model, optimizer and
scheduler built from the checkpoint's own config, trains up to step STOP and saves the model's
parameters to OUT. The test imports the same functions for the uninterrupted run.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from optfn.build.optimizer import make_optimizer
from optfn.build.schedule_lr import ScheduleLR
from optfn.build.scheduler import make_scheduler
from optfn.checkpoint import load_checkpoint, restore
from optfn.config import OptimConfig
from optfn.schedules import CosineDecay, Join, LinearWarmup
from optfn.specs.optimizers import AdamWSpec
from optfn.specs.rules import ParamRules

CONFIG = OptimConfig(
    optimizer=AdamWSpec(learning_rate=0.05, weight_decay=0.1, betas=(0.8, 0.95)),
    rules=ParamRules(no_decay_max_ndim=1, lr_scales={"head": 3.0}),
    schedule=Join(
        pieces=[LinearWarmup(warmup_steps=3), CosineDecay(decay_steps=20)], boundaries=[3]
    ),
)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(torch.tanh(self.body(x)))
        return out


def build(cfg: OptimConfig, seed: int) -> tuple[Net, torch.optim.Optimizer, ScheduleLR]:
    torch.manual_seed(seed)
    net = Net()
    opt = make_optimizer(net, cfg.optimizer, cfg.rules)
    return net, opt, make_scheduler(opt, cfg.schedule)


def train(
    net: Net,
    opt: torch.optim.Optimizer,
    sched: ScheduleLR,
    start: int,
    stop: int,
) -> None:
    for step in range(start, stop):
        gen = torch.Generator().manual_seed(step)  # the batch depends on the step alone
        x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 2, generator=gen)
        loss = torch.nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def main(ckpt_path: str, out_path: str, stop: int) -> None:
    ckpt = load_checkpoint(ckpt_path)
    net, opt, sched = build(ckpt.config, seed=12345)  # other initial weights: restored below
    restore(ckpt, opt, sched, model=net)
    train(net, opt, sched, ckpt.extra["step"], stop)
    torch.save(net.state_dict(), out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
