"""Building torch optimizers: ``make_optimizer`` and the seeds' builders on top of it.

``make_optimizer`` is the composition specs -> :func:`partition_params` ->
:func:`make_param_groups` -> the spec's torch optimizer class.

>>> import torch
>>> from optfn import AdamWSpec, ParamRules, make_optimizer
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))
>>> opt = make_optimizer(model, AdamWSpec(learning_rate=1e-3), ParamRules(lr_scales={"2": 5.0}))
>>> [(len(g["params"]), g["lr"], g["weight_decay"]) for g in opt.param_groups]
[(1, 0.001, 0.01), (3, 0.001, 0.0), (1, 0.005, 0.01), (1, 0.005, 0.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from optfn._validate import check_real
from optfn.groups import make_param_groups
from optfn.optimizer_specs import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.partition import ModelsLike, iter_modules, partition_params
from optfn.rules import ParamRules

__all__ = ["build_optimizer", "create_exponential_scheduler", "create_optimizer", "make_optimizer"]


def _adam(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=spec.learning_rate, betas=spec.betas, eps=spec.eps)


def _adamw(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=spec.learning_rate, betas=spec.betas, eps=spec.eps)


def _muon(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
    from optfn.muon import MuonWithAdamW

    return MuonWithAdamW(groups)


_BUILDERS: dict[type, Callable[[list[dict[str, Any]], Any], torch.optim.Optimizer]] = {
    AdamSpec: _adam,
    AdamWSpec: _adamw,
    MuonSpec: _muon,
}


def _describe(models: ModelsLike) -> str:
    if isinstance(models, nn.Module):
        return type(models).__name__
    if isinstance(models, Mapping):
        return "{" + ", ".join(f"{k!r}: {type(m).__name__}" for k, m in models.items()) + "}"
    return "[" + ", ".join(type(m).__name__ for m in models) + "]"


def make_optimizer(
    models: ModelsLike,
    spec: OptimizerSpecification,
    rules: ParamRules | None = None,
) -> torch.optim.Optimizer:
    """The torch optimizer for ``models`` under ``spec`` and ``rules`` (default ``ParamRules()``).

    ``AdamSpec`` -> ``torch.optim.Adam``, ``AdamWSpec`` -> ``torch.optim.AdamW``,
    ``MuonSpec`` -> :class:`optfn.MuonWithAdamW`. Raises ``ValueError`` when the models have no
    trainable parameter.
    """
    builder = next((_BUILDERS[c] for c in type(spec).__mro__ if c in _BUILDERS), None)
    if builder is None:
        raise TypeError(
            f"spec: expected AdamSpec, AdamWSpec or MuonSpec, got {type(spec).__name__}"
        )
    return builder(_groups(models, spec, rules), spec)


def _groups(
    models: ModelsLike, spec: OptimizerSpecification, rules: ParamRules | None
) -> list[dict[str, Any]]:
    part = partition_params(models, rules, spec=spec)
    if not len(part):
        raise ValueError(
            f"models: {_describe(models)} has no trainable parameter (every parameter has "
            "requires_grad=False); unfreeze some before building the optimizer"
        )
    return make_param_groups(part, spec)


def _multiplier_prefixes(
    models: Sequence[nn.Module], lr_multipliers: Mapping[nn.Module, float]
) -> dict[str, float]:
    """Seed 000's ``{module: multiplier}`` as ``{qualified name prefix: scale}``."""
    names: dict[int, str] = {}
    for i, model in enumerate(models):
        prefix = "" if len(models) == 1 else f"{i}."
        for name, mod in iter_modules(model, prefix):
            names.setdefault(id(mod), name)
    out: dict[str, float] = {}
    for mod, mult in lr_multipliers.items():
        if not isinstance(mod, nn.Module):
            raise TypeError(
                f"lr_multipliers: keys must be sub-modules of the model, got {type(mod).__name__}"
            )
        label = type(mod).__name__
        check_real("", f"lr_multipliers[{label}]", mult, 0.0, None, True, False)
        qualname = names.get(id(mod))
        if qualname is None:
            raise ValueError(
                f"lr_multipliers: the {label} module given as a key is not inside the model(s) "
                "being optimized; pass sub-modules of the model (e.g. model.scoring_head)"
            )
        out[qualname] = float(mult)
    return out


def create_optimizer(
    spec: OptimizerSpecification,
    models: Sequence[nn.Module],
    lr_multipliers: Mapping[nn.Module, float] | None = None,
    rules: ParamRules | None = None,
) -> torch.optim.Optimizer:
    """Seed 000's ``create_optimizer``/``create_optimizer_for_multiple``.

    Weight decay is uniform (``ParamRules.uniform()``) unless ``rules`` are given;
    ``lr_multipliers`` become ``rules.lr_scales`` (the deepest module wins; with a
    ``MuonSpec`` they scale only the AdamW part, as the seed says).
    """
    rules = ParamRules.uniform() if rules is None else rules
    if lr_multipliers:
        scales = dict(rules.lr_scales)
        for prefix, scale in _multiplier_prefixes(models, lr_multipliers).items():
            if prefix in scales and scales[prefix] != scale:
                raise ValueError(
                    f"lr_multipliers: {prefix!r} is scaled x{scale:g} here and "
                    f"x{scales[prefix]:g} by rules.lr_scales; give it in one place"
                )
            scales[prefix] = scale
        rules = attrs.evolve(rules, lr_scales=scales)
    target: ModelsLike = models[0] if len(models) == 1 else list(models)
    return make_optimizer(target, spec, rules)


def create_exponential_scheduler(
    optimizer: torch.optim.Optimizer, gamma: float | None
) -> torch.optim.lr_scheduler.ExponentialLR | None:
    """Seed 000's ``create_scheduler``: ``ExponentialLR(optimizer, gamma)``, or ``None``."""
    if gamma is None:
        return None
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


def build_optimizer(
    model: nn.Module,
    lr: float = 3e-4,
    weight_decay: float = 0.05,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """Seed 002's builder: AdamW with the standard weight-decay exclusions.

    Biases, normalization layers, ``cls_token`` and ``pos_embed`` get no weight decay
    (``ParamRules()``); everything else decays by ``weight_decay``. Two groups: decay first.

    >>> import torch
    >>> from optfn import build_optimizer
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
    >>> opt = build_optimizer(model, lr=1e-4, weight_decay=0.05)
    >>> [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
    [(1, 0.05), (3, 0.0)]
    """
    spec = AdamWSpec(learning_rate=lr, weight_decay=weight_decay, betas=betas, eps=eps)
    groups = _groups(model, spec, ParamRules())
    groups.sort(key=lambda g: g["weight_decay"] == 0.0)  # the seed's order: decay group first
    return torch.optim.AdamW(groups, lr=lr, betas=spec.betas, eps=eps)
