"""The built-in demo: a small transformer scoring model trained on synthetic data.

No downloads: each batch is generated on the fly from a seeded generator, and the target is
a fixed random "teacher" function of the sequence, so the loss has something to learn.

>>> from optfn.demo import ScoringModel, default_config, train
>>> result = train(ScoringModel(), default_config(steps=20), steps=20)
>>> len(result.losses), result.losses[-1] < result.losses[0]
(20, True)

A run is saved as an optfn checkpoint (:func:`save_demo_checkpoint`), which
:func:`optfn.load_checkpoint` reads and :func:`optfn.restore` loads into a fresh build:

>>> import tempfile
>>> from pathlib import Path
>>> from optfn import load_checkpoint
>>> path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
>>> save_demo_checkpoint(path, default_config(steps=20), result)
>>> ckpt = load_checkpoint(path)
>>> ckpt.extra["optimizer_type"], ckpt.config == default_config(steps=20)
('muon', True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from optfn.build import make_scheduler
from optfn.build.optimizer import make_optimizer
from optfn.checkpoint import save_checkpoint
from optfn.config import OptimConfig
from optfn.optim.table import kind_of
from optfn.schedules import HyperSchedules, WarmupCosine, lr_curve, lr_lambda, lr_schedule_of
from optfn.schedules.xp import FloatArray
from optfn.specs.optimizers import AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.rules import ParamRules

__all__ = [
    "ScoringModel",
    "SyntheticScores",
    "TrainResult",
    "default_config",
    "route_lr_curves",
    "save_demo_checkpoint",
    "train",
]


class ScoringModel(nn.Module):
    """A small scoring model: an input projection, a transformer and a scoring head.

    Takes an ``optimizer_spec`` (default ``AdamWSpec(learning_rate=0.001)``) and stores it in
    its checkpoint as the spec-method API does (``optimizer_type`` and ``optimizer_params``).
    """

    def __init__(
        self,
        optimizer_spec: OptimizerSpecification | None = None,
        *,
        d_in: int = 8,
        d_model: int = 32,
        layers: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.optimizer_spec = (
            AdamWSpec(learning_rate=0.001) if optimizer_spec is None else (optimizer_spec)
        )
        self.embed = nn.Linear(d_in, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout=0.0, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.scoring_head = nn.Linear(d_model, 1)
        self.d_in = d_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.transformer(self.embed(x))
        score: torch.Tensor = self.scoring_head(self.norm(h.mean(dim=1)))
        return score.squeeze(-1)

    def checkpoint(self) -> dict[str, Any]:
        """Weights plus the optimizer spec as the spec-method API stores it."""
        return {
            "optimizer_type": self.optimizer_spec.optimizer_type,
            "optimizer_params": self.optimizer_spec.to_dict(),
            "model_state": self.state_dict(),
        }

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> ScoringModel:
        """Rebuild the model and its spec (``OptimizerSpecification.from_serialized``)."""
        spec = OptimizerSpecification.from_serialized(
            state["optimizer_type"], state["optimizer_params"]
        )
        model = cls(spec)
        model.load_state_dict(state["model_state"])
        return model


class SyntheticScores:
    """Batches of random sequences scored by a fixed random teacher network."""

    def __init__(self, d_in: int = 8, seq_len: int = 12, batch_size: int = 32, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.w1 = torch.randn(d_in, 16, generator=gen) / d_in**0.5
        self.w2 = torch.randn(16, generator=gen) / 4.0
        self.d_in, self.seq_len, self.batch_size, self.seed = d_in, seq_len, batch_size, seed

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of ``step`` (the same step always gives the same batch)."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 1)
        x = torch.randn(self.batch_size, self.seq_len, self.d_in, generator=gen)
        y = (torch.tanh(x @ self.w1) @ self.w2).mean(dim=1) * 3.0
        return x, y


def default_config(steps: int = 300) -> OptimConfig:
    """The demo's setup: Muon + AdamW, warmup-cosine over ``steps``, scoring head LR x5."""
    return OptimConfig(
        optimizer=MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
        rules=ParamRules(lr_scales={"scoring_head": 5.0}),
        schedule=WarmupCosine(
            warmup_steps=max(1, steps // 10), total_steps=max(1, steps), min_lr_scale=0.1
        ),
    )


@attrs.frozen
class TrainResult:
    """What :func:`train` returns: per-step losses and LR multipliers, and the live objects."""

    losses: list[float]
    multipliers: list[float]
    model: ScoringModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def train(
    model: ScoringModel,
    config: OptimConfig,
    *,
    steps: int,
    seed: int = 0,
    on_step: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` for ``steps`` steps with ``config``; ``on_step(step, loss, lr)``."""
    torch.manual_seed(seed)
    data = SyntheticScores(d_in=model.d_in, seed=seed)
    optimizer = make_optimizer(model, config.optimizer, config.rules)
    scheduler = make_scheduler(optimizer, config.schedule)
    mult = lr_lambda(lr_schedule_of(config.schedule))
    losses: list[float] = []
    multipliers: list[float] = []
    for step in range(steps):
        x, y = data.batch(step)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        lr = float(optimizer.param_groups[0]["lr"])  # what group 0 uses at this step
        optimizer.step()
        scheduler.step()
        value = loss.detach().item()
        losses.append(value)
        multipliers.append(mult(step))
        if on_step is not None:
            on_step(step, value, lr)
    return TrainResult(losses, multipliers, model, optimizer, scheduler)


def route_lr_curves(
    config: OptimConfig, optimizer: torch.optim.Optimizer, steps: int
) -> dict[str, FloatArray]:
    """``{route: LR of steps 0 .. steps - 1}``, one curve per route that ``optimizer``'s param
    groups have, in the optimizer kind's route order: the route's own base LR (its spec
    field: ``MuonSpec.learning_rate`` for ``"muon"``, ``MuonSpec.adamw_lr`` for ``"adamw"``,
    before ``ParamRules.lr_scales``) times the LR multiplier that reaches the route's groups
    (1 where a ``HyperSchedules`` restricts ``lr`` to another route). Groups whose label has
    an LR schedule of its own (``HyperSchedules.labels``) follow that one instead: they are
    not what these curves show.

    >>> model = ScoringModel()
    >>> config = default_config(steps=10)
    >>> opt = make_optimizer(model, config.optimizer, config.rules)
    >>> curves = route_lr_curves(config, opt, 10)  # warm-up of 1 step, then a cosine to 0.1
    >>> {r: (float(c[0]), round(float(c[-1] / c[0]), 4)) for r, c in curves.items()}
    {'adamw': (0.003, 0.1271), 'muon': (0.02, 0.1271)}
    """
    kind = kind_of(config.optimizer)
    present = {g.get("route") for g in optimizer.param_groups}
    schedule = config.schedule
    only = schedule.route_of("lr") if isinstance(schedule, HyperSchedules) else None
    mult = lr_curve(lr_schedule_of(schedule), steps)
    out: dict[str, FloatArray] = {}
    for route in kind.routes:
        if route.name not in present:
            continue
        base = float(getattr(config.optimizer, route.lr))
        out[route.name] = base * (mult if only in (None, route.name) else np.ones(steps))
    return out


def save_demo_checkpoint(
    path: str | os.PathLike[str],
    config: OptimConfig,
    result: TrainResult,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Save a demo run as optfn's checkpoint (:func:`optfn.save_checkpoint`).

    The checkpoint holds ``config``, the optimizer's, scheduler's and model's states, and in
    ``extra`` the spec-method API's checkpoint keys ``optimizer_type`` and ``optimizer_params``
    (``config.optimizer``, the spec the run's optimizer was built from, as ``to_dict`` gives it:
    ``OptimizerSpecification.from_serialized`` rebuilds it) besides your own ``extra`` values.
    Read it back with :func:`optfn.load_checkpoint`, build a fresh model, optimizer and
    scheduler from ``checkpoint.config`` and call :func:`optfn.restore`.
    """
    spec = config.optimizer
    save_checkpoint(
        path,
        config=config,
        optimizer=result.optimizer,
        scheduler=result.scheduler,
        model=result.model,
        extra={
            "optimizer_type": spec.optimizer_type,
            "optimizer_params": spec.to_dict(),
            **(extra or {}),
        },
    )
