"""The two example property tests of docs/testing.md, verbatim: what a user writes."""

from __future__ import annotations

import attrs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import optfn
from optfn.strategies import configs, optimizer_specs, param_rules, schedule_specs


class Net(nn.Module):
    """Your model (a tiny one here): an embedding, a body of blocks, a norm and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = x + torch.tanh(block(x))
        return self.head(self.norm(x))


def build(cfg: optfn.OptimConfig) -> tuple[Net, torch.optim.Optimizer, optfn.ScheduleLR]:
    """Your setup code: the model, its optimizer and its LR scheduler, from a config."""
    torch.manual_seed(0)
    model = Net()
    opt = optfn.make_optimizer(model, cfg.optimizer, cfg.rules)
    return model, opt, optfn.make_scheduler(opt, cfg.schedule)


def train(model: Net, opt: torch.optim.Optimizer, sched: optfn.ScheduleLR, steps: range) -> None:
    """Your training loop: one optimizer step and one scheduler step per batch."""
    for step in steps:
        batch = torch.Generator().manual_seed(step)  # the data of step `step`
        x, y = torch.randn(8, 4, generator=batch), torch.randn(8, 2, generator=batch)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


# -- (a) for any valid optimizer spec and schedule, my loop checkpoints and resumes exactly


@pytest.mark.filterwarnings("ignore::optfn.RoutingWarning")  # a Muon routing may pick nothing
@settings(max_examples=10, deadline=None)
@given(
    cfg=configs(Net(), schedules=schedule_specs(max_total_steps=8)),
    stop=st.integers(1, 5),
)
def test_checkpoint_and_resume_is_exact(
    cfg: optfn.OptimConfig, stop: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    straight, opt, sched = build(cfg)
    train(straight, opt, sched, range(6))  # straight through

    model, opt, sched = build(cfg)
    train(model, opt, sched, range(stop))  # interrupted at step `stop` ...
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    optfn.save_checkpoint(path, config=cfg, optimizer=opt, scheduler=sched, model=model)

    ckpt = optfn.load_checkpoint(path)  # ... and resumed, as a new process would
    resumed, opt, sched = build(ckpt.config)
    optfn.restore(ckpt, opt, sched, model=resumed)
    train(resumed, opt, sched, range(stop, 6))

    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        # bit for bit (an LR of 1.0 with Nesterov may diverge: NaN where the other has NaN)
        torch.testing.assert_close(p, q, rtol=0, atol=0, equal_nan=True)


# -- (b) for any rules that scale the head's LR by > 1, my model's head always gets the higher LR


@settings(max_examples=25, deadline=None)
@given(
    spec=optimizer_specs(kinds=("adam", "adamw")),
    rules=param_rules(Net(), max_lr_scales=0),  # any rules for Net: no-decay, layer decay...
    head_scale=st.floats(1.0, 100.0, exclude_min=True),
    schedule=schedule_specs(max_total_steps=20),
)
def test_head_gets_the_higher_lr(
    spec: optfn.OptimizerSpecification,
    rules: optfn.ParamRules,
    head_scale: float,
    schedule: optfn.Schedule,
) -> None:
    # labels set LR multipliers of their own (a 0 freezes): this property is about lr_scales
    rules = attrs.evolve(rules, lr_scales={"head": head_scale}, labels=())
    # Net's layer-decay stem is its embedding: a stem that matches the head (hypothesis found
    # `stem=("*",)`) would give the head the smallest LR of all, and a `last_block` pattern
    # that matches it would put it with the last block.
    if rules.layer_decay is not None:
        ld = attrs.evolve(rules.layer_decay, stem=("embed.*",), last_block=())
        rules = attrs.evolve(rules, layer_decay=ld)
    model = Net()
    opt = optfn.make_optimizer(model, spec, rules)
    head = {id(p) for p in model.head.parameters()}

    def lrs(in_head: bool) -> list[float]:
        return [
            group["lr"]
            for group in opt.param_groups
            for p in group["params"]
            if (id(p) in head) is in_head
        ]

    assert min(lrs(True)) > max(lrs(False))
    sched = optfn.make_scheduler(opt, schedule)
    for _ in range(25):  # the schedule scales every group alike: the head is never behind
        opt.step()
        sched.step()
        assert min(lrs(True)) >= max(lrs(False))
