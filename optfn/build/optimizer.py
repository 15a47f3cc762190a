"""Building torch optimizers: ``make_optimizer``.

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

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from optfn.build.groups import make_param_groups
from optfn.errors import SpecError
from optfn.optim.table import kind_of
from optfn.routing.partition import partition_params
from optfn.routing.walk import ModelsLike
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.rules import ParamRules

__all__ = ["ModelsLike", "make_optimizer", "param_groups_for"]


def _describe(models: ModelsLike) -> str:
    if isinstance(models, nn.Module):
        return type(models).__name__
    if isinstance(models, Mapping):
        return "{" + ", ".join(f"{brief(k)}: {type(m).__name__}" for k, m in models.items()) + "}"
    return "[" + ", ".join(type(m).__name__ for m in models) + "]"


def make_optimizer(
    models: ModelsLike,
    spec: OptimizerSpecification,
    rules: ParamRules | None = None,
) -> torch.optim.Optimizer:
    """The torch optimizer for ``models`` under ``spec`` and ``rules`` (default ``ParamRules()``).

    The spec's entry in the optimizer table builds it (``AdamSpec`` -> ``torch.optim.Adam``,
    ``AdamWSpec`` -> ``torch.optim.AdamW``, ``MuonSpec`` -> :class:`optfn.MuonWithAdamW`, and
    any kind added with :func:`optfn.register_optimizer`). Raises ``ValueError`` when the
    models have no trainable parameter, ``TypeError`` for a spec that is not registered.
    """
    kind = kind_of(spec)
    return kind.build(param_groups_for(models, spec, rules), spec)


def param_groups_for(
    models: ModelsLike, spec: OptimizerSpecification, rules: ParamRules | None
) -> list[dict[str, Any]]:
    part = partition_params(models, rules, spec=spec)
    if not len(part):
        raise SpecError(
            "",
            "models",
            f"{_describe(models)} has no trainable parameter (every parameter has "
            "requires_grad=False); unfreeze some before building the optimizer",
        )
    return make_param_groups(part, spec)
