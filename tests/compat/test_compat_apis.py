"""The compatibility APIs' documented examples, run against optfn: the epoch-based builders
(build_optimizer, build_scheduler, build_warmup_cosine) and the spec-method API
(create_optimizer, to_dict, from_serialized, create_scheduler)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from optfn import (
    AdamSpec,
    AdamWSpec,
    MuonSpec,
    OptimizerSpecification,
    build_optimizer,
    build_scheduler,
    build_warmup_cosine,
)
from optfn.demo import ScoringModel


class ViTish(nn.Module):
    """A small model with everything the epoch-based builders' exclusions name."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 9, d))
        self.patch = nn.Linear(4, d)
        self.blocks = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, 2, 2 * d, batch_first=True),
            2,
            enable_nested_tensor=False,
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)


# ---- the epoch-based builders ------------------------------------------------------------


def test_builders_inspect_groups_example() -> None:
    model = ViTish()
    optimizer = build_optimizer(model, lr=1e-4, weight_decay=0.05)
    assert isinstance(optimizer, torch.optim.AdamW)
    groups = [(len(g["params"]), g["weight_decay"]) for g in optimizer.param_groups]
    assert len(groups) == 2 and groups[0][1] == 0.05 and groups[1][1] == 0.0
    decay = set(optimizer.param_groups[0]["param_names"])
    no_decay = set(optimizer.param_groups[1]["param_names"])
    assert {"cls_token", "pos_embed", "norm.weight", "norm.bias", "head.bias"} <= no_decay
    assert all(n.endswith("weight") and "norm" not in n for n in decay)
    assert "blocks.layers.0.norm1.weight" in no_decay  # LayerNorm inside the blocks
    # every trainable parameter once
    assert len(decay) + len(no_decay) == sum(1 for _ in model.parameters())


def test_builders_minimal_tests() -> None:
    model = ViTish()
    # Optimizer groups exist
    opt = build_optimizer(model)
    assert any(g["weight_decay"] > 0 for g in opt.param_groups)
    assert any(g["weight_decay"] == 0 for g in opt.param_groups)
    # Scheduler decreases after warmup. The builders' snippet reads base_lr after
    # build_scheduler has already scaled the LR to base_lr * λ(0); the base LR is the one read
    # before (or sched.base_lrs[0]), which is what the check means.
    base_lr = opt.param_groups[0]["lr"]
    sched = build_scheduler(opt, steps_per_epoch=100, epochs=2, warmup_epochs=1)
    assert sched.base_lrs[0] == base_lr
    mult0 = sched.get_last_lr()[0]
    assert mult0 == pytest.approx(base_lr * 1 / 100)  # λ(0) = (0+1)/W
    for _ in range(150):
        opt.step()
        sched.step()
    mult1 = sched.get_last_lr()[0]
    assert mult1 <= base_lr
    assert mult1 < base_lr  # halfway through the cosine: strictly below the peak


def test_builders_formula_through_build_scheduler() -> None:
    opt = build_optimizer(nn.Linear(3, 3), lr=2e-4)
    steps_per_epoch, epochs, warmup_epochs, alpha = 7, 5, 2, 0.1
    sched = build_scheduler(
        opt, steps_per_epoch=steps_per_epoch, epochs=epochs, warmup_epochs=warmup_epochs
    )
    s_total, w = steps_per_epoch * epochs, steps_per_epoch * warmup_epochs
    for s in range(s_total + 5):
        if s < w:
            lam = max(1e-8, (s + 1) / max(1, w))
        else:
            t = min(1.0, (s - w) / max(1, s_total - w))
            lam = alpha + (1 - alpha) / 2 * (1 + math.cos(math.pi * t))
        assert sched.get_last_lr()[0] == pytest.approx(2e-4 * lam, rel=1e-12), s
        opt.step()
        sched.step()


def test_builders_custom_loop_example() -> None:
    model = nn.Linear(4, 1)
    opt = build_optimizer(model, lr=2e-4)
    sched = build_warmup_cosine(opt, warmup_steps=10, total_steps=50, min_lr_scale=0.2)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    lrs = []
    for _ in range(50):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        lrs.append(sched.get_last_lr()[0])
    assert max(lrs) == pytest.approx(2e-4)
    assert lrs[-1] == pytest.approx(2e-4 * 0.2)


# ---- the spec-method API ----------------------------------------------------------------


def test_spec_methods_usage_examples() -> None:
    adam = AdamSpec(learning_rate=0.001, lr_decay_gamma=0.95, weight_decay=0.01)
    assert (adam.optimizer_type, adam.weight_decay) == ("adam", 0.01)
    adamw = AdamWSpec(learning_rate=0.001, lr_decay_gamma=0.95)
    my_model = nn.ModuleDict({"body": nn.Linear(4, 4), "output_head": nn.Linear(4, 1)})
    optimizer = adamw.create_optimizer(
        model=my_model, lr_multipliers={my_model["output_head"]: 5.0}
    )
    head_lr = {n: g["lr"] for g in optimizer.param_groups for n in g["param_names"]}[
        "output_head.weight"
    ]
    assert head_lr == pytest.approx(0.005)
    muon = MuonSpec(learning_rate=0.02, adamw_lr=0.0003, lr_decay_gamma=0.98)
    assert muon.optimizer_type == "muon"


def test_spec_methods_serialization_example() -> None:
    for optimizer_spec in (
        AdamSpec(lr_decay_gamma=0.9),
        AdamWSpec(betas=(0.8, 0.9)),
        MuonSpec(adamw_lr=1e-3, nesterov=False),
    ):
        state_dict = {
            "optimizer_type": optimizer_spec.optimizer_type,
            "optimizer_params": optimizer_spec.to_dict(),
        }
        restored = torch.load(_through_bytes(state_dict), weights_only=True)
        spec = OptimizerSpecification.from_serialized(
            restored["optimizer_type"], restored["optimizer_params"]
        )
        assert spec == optimizer_spec and type(spec) is type(optimizer_spec)
        assert isinstance(state_dict["optimizer_params"]["betas"], list)  # JSON-safe


def _through_bytes(obj: object):  # type: ignore[no-untyped-def]
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def test_spec_methods_model_default_spec_and_checkpoint() -> None:
    model = ScoringModel()
    assert model.optimizer_spec == AdamWSpec(learning_rate=0.001)
    custom = ScoringModel(optimizer_spec=AdamWSpec(learning_rate=0.001, lr_decay_gamma=0.95))
    state = custom.checkpoint()
    assert state["optimizer_type"] == "adamw"
    again = ScoringModel.from_checkpoint(state)
    assert again.optimizer_spec == custom.optimizer_spec


def test_spec_methods_exponential_decay_per_epoch() -> None:
    net = nn.Linear(3, 1)
    spec = AdamWSpec(learning_rate=0.1, lr_decay_gamma=0.95)
    opt = spec.create_optimizer(net)
    sched = spec.create_scheduler(opt)
    assert isinstance(sched, torch.optim.lr_scheduler.ExponentialLR)
    for _epoch in range(4):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.95**4)
