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
from optfn.errors import SpecError, SpecTypeError
from optfn.optim.table import kind_of
from optfn.routing.partition import partition_params
from optfn.routing.walk import ModelsLike, named_models
from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.rules import ParamRules

__all__ = ["ModelsLike", "make_optimizer", "param_groups_for"]

#: The specs whose torch kernels (Adam, AdamW, MuonWithAdamW's AdamW) refuse a tensor LR with
#: foreach and without capturable.
_ADAM_SPECS = (AdamSpec, AdamWSpec, MuonSpec)


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
    *,
    tensor_lr: bool = False,
) -> torch.optim.Optimizer:
    """The torch optimizer for ``models`` under ``spec`` and ``rules`` (default ``ParamRules()``).

    The spec's entry in the optimizer table builds it (``AdamSpec`` -> ``torch.optim.Adam``,
    ``AdamWSpec`` -> ``torch.optim.AdamW``, ``MuonSpec`` -> :class:`optfn.MuonWithAdamW`, and
    any kind added with :func:`optfn.register_optimizer`). Raises ``ValueError`` when the
    models have no trainable parameter, ``TypeError`` for a spec that is not registered.

    ``tensor_lr=True`` gives every group's ``lr`` as a 0-D tensor (``torch.tensor(lr)``: the
    default dtype, on the CPU) instead of a float, which is how torch lets
    ``torch.compile(optimizer.step)`` run under a changing LR without recompiling: a
    scheduler (:func:`optfn.make_scheduler`) fills the tensor in place. Adam and AdamW (and
    MuonWithAdamW's adamw groups) cannot run a tensor LR with ``implementation="foreach"``
    (torch's foreach kernels need ``capturable=True`` for it): that is a ``ValueError`` here.

    >>> import torch
    >>> from optfn import AdamWSpec, make_optimizer
    >>> opt = make_optimizer(torch.nn.Linear(2, 1), AdamWSpec(learning_rate=1e-3), tensor_lr=True)
    >>> [g["lr"] for g in opt.param_groups]
    [tensor(0.0010), tensor(0.0010)]
    """
    if not isinstance(tensor_lr, bool):
        raise SpecTypeError(
            "make_optimizer", "tensor_lr", f"must be a bool, got {brief(tensor_lr)}"
        )
    kind = kind_of(spec)
    groups = param_groups_for(models, spec, rules)
    if tensor_lr:
        for g in groups:
            if g.get("foreach") and not g.get("capturable") and isinstance(spec, _ADAM_SPECS):
                raise SpecError(
                    type(spec).__name__,
                    "implementation",
                    "'foreach' cannot run a tensor LR (make_optimizer(..., tensor_lr=True)): "
                    "torch's foreach Adam/AdamW takes one only with capturable=True; choose "
                    "'auto', 'for_loop' or 'fused'",
                )
            g["lr"] = torch.tensor(float(g["lr"]))
    return kind.build(groups, spec)


def param_groups_for(
    models: ModelsLike, spec: OptimizerSpecification, rules: ParamRules | None
) -> list[dict[str, Any]]:
    part = partition_params(models, rules, spec=spec)
    if not len(part):
        if not any(True for _, m in named_models(models) for _ in m.parameters()):
            raise SpecError(
                "",
                "models",
                f"{_describe(models)} has no parameters; an optimizer needs a model with "
                "at least one trainable parameter",
            )
        raise SpecError(
            "",
            "models",
            f"{_describe(models)} has no trainable parameter (every parameter has "
            "requires_grad=False); unfreeze some before building the optimizer",
        )
    return make_param_groups(part, spec)
