"""The compatibility APIs: the spec-method API and the epoch-based builders, on top of optfn's
pure functions: the spec-method API's ``create_optimizer``/``create_scheduler`` and the
epoch-based builders ``build_optimizer``, ``build_scheduler`` and ``build_warmup_cosine``.

>>> import torch
>>> from optfn import build_optimizer, build_scheduler
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
>>> opt = build_optimizer(model, lr=1e-4, weight_decay=0.05)
>>> sched = build_scheduler(opt, steps_per_epoch=10, epochs=2, warmup_epochs=1)
>>> [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
[(1, 0.05), (3, 0.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import torch
from torch import nn

from optfn.build import ScheduleLR
from optfn.build.optimizer import ModelsLike, make_optimizer, param_groups_for
from optfn.errors import SpecError, SpecTypeError
from optfn.routing.walk import iter_modules
from optfn.schedules import WarmupCosine
from optfn.specs import checks as v
from optfn.specs.optimizers import AdamWSpec, OptimizerSpecification
from optfn.specs.render import show
from optfn.specs.rules import ParamRules

__all__ = [
    "build_optimizer",
    "build_scheduler",
    "build_warmup_cosine",
    "create_exponential_scheduler",
    "create_optimizer",
]


def _multiplier_prefixes(
    models: Sequence[nn.Module], lr_multipliers: Mapping[nn.Module, float]
) -> dict[str, float]:
    """The spec-method API's ``{module: multiplier}`` as ``{qualified name prefix: scale}``."""
    names: dict[int, str] = {}
    for i, model in enumerate(models):
        prefix = "" if len(models) == 1 else f"{i}."
        for name, mod in iter_modules(model, prefix):
            names.setdefault(id(mod), name)
    out: dict[str, float] = {}
    for mod, mult in lr_multipliers.items():
        if not isinstance(mod, nn.Module):
            raise SpecTypeError(
                "",
                "lr_multipliers",
                f"keys must be sub-modules of the model, got {type(mod).__name__}",
            )
        label = type(mod).__name__
        v.check_real("", f"lr_multipliers[{label}]", mult, 0.0, None, True, False)
        qualname = names.get(id(mod))
        if qualname is None:
            raise SpecError(
                "",
                "lr_multipliers",
                f"the {label} module given as a key is not inside the model(s) "
                "being optimized; pass sub-modules of the model (e.g. model.scoring_head)",
            )
        out[qualname] = float(mult)
    return out


def create_optimizer(
    spec: OptimizerSpecification,
    models: Sequence[nn.Module],
    lr_multipliers: Mapping[nn.Module, float] | None = None,
    rules: ParamRules | None = None,
) -> torch.optim.Optimizer:
    """The spec-method API's ``create_optimizer``/``create_optimizer_for_multiple``.

    Weight decay is uniform (``ParamRules.uniform()``) unless ``rules`` are given;
    ``lr_multipliers`` become ``rules.lr_scales`` (the deepest module wins; with a
    ``MuonSpec`` they scale only the AdamW part, as that API defines).
    """
    if lr_multipliers is not None and not isinstance(lr_multipliers, Mapping):
        raise SpecTypeError(
            "create_optimizer",
            "lr_multipliers",
            f"must be a mapping {{sub-module: multiplier}} (a dict) or None, got "
            f"{show(lr_multipliers)}",
        )
    if rules is not None and not isinstance(rules, ParamRules):
        raise SpecTypeError(
            "create_optimizer", "rules", f"must be a ParamRules or None, got {show(rules)}"
        )
    rules = ParamRules.uniform() if rules is None else rules
    if lr_multipliers:
        scales = dict(rules.lr_scales)
        for prefix, scale in _multiplier_prefixes(models, lr_multipliers).items():
            if prefix in scales and scales[prefix] != scale:
                raise SpecError(
                    "",
                    "lr_multipliers",
                    f"{prefix!r} is scaled x{scale:g} here and "
                    f"x{scales[prefix]:g} by rules.lr_scales; give it in one place",
                )
            scales[prefix] = scale
        rules = attrs.evolve(rules, lr_scales=scales)
    target: ModelsLike = models[0] if len(models) == 1 else list(models)
    return make_optimizer(target, spec, rules)


def create_exponential_scheduler(
    optimizer: torch.optim.Optimizer, gamma: float | None
) -> torch.optim.lr_scheduler.ExponentialLR | None:
    """The spec-method API's ``create_scheduler``: ``ExponentialLR(optimizer, gamma)``/``None``."""
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
    """The epoch-based builders' optimizer: AdamW with the standard weight-decay exclusions.

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
    groups = param_groups_for(model, spec, ParamRules())
    groups.sort(key=lambda g: g["weight_decay"] == 0.0)  # the builders' order: decay group first
    return torch.optim.AdamW(groups, lr=lr, betas=spec.betas, eps=eps)


def build_warmup_cosine(
    optimizer: torch.optim.Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    min_lr_scale: float = 0.0,
) -> ScheduleLR:
    """The epoch-based builders' linear warmup + cosine decay over global steps (a
    ``LambdaLR``), with ``W = warmup_steps``, ``S = total_steps``, ``α = min_lr_scale``:

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W``;
    * ``λ(s) = α + (1 - α)/2 · (1 + cos(π t))``, ``t = min(1, (s - W) / max(1, S - W))``.

    ``lr(s) = base_lr · λ(s)``; past ``S`` it holds ``base_lr · α`` (see
    :class:`~optfn.schedules.WarmupCosine`).

    >>> import torch
    >>> from optfn.compat.builders import build_warmup_cosine
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    >>> sched = build_warmup_cosine(opt, warmup_steps=1_000, total_steps=50_000,
    ...                             min_lr_scale=0.2)
    >>> sched.get_last_lr() == [2e-4 * (1 / 1_000)]  # step 0: base_lr / W
    True
    """
    return ScheduleLR(
        optimizer,
        WarmupCosine(warmup_steps=warmup_steps, total_steps=total_steps, min_lr_scale=min_lr_scale),
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: int = 1,
    min_lr_scale: float = 0.1,
) -> ScheduleLR:
    """The epoch-based builders' scheduler in epochs: :func:`build_warmup_cosine` with
    ``W = steps_per_epoch · warmup_epochs`` and ``S = steps_per_epoch · epochs``, i.e.

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W``;
    * ``λ(s) = α + (1 - α)/2 · (1 + cos(π t))``, ``t = min(1, (s - W) / max(1, S - W))``,
      ``α = min_lr_scale``; the final LR is ``base_lr · min_lr_scale``.

    Step it once per optimizer step. ``steps_per_epoch >= 1``, ``epochs >= 1`` and
    ``0 <= warmup_epochs <= epochs``.

    >>> import torch
    >>> from optfn.compat.builders import build_scheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    >>> sched = build_scheduler(opt, steps_per_epoch=100, epochs=2, warmup_epochs=1)
    >>> for _ in range(200):
    ...     opt.step(); sched.step()
    >>> sched.get_last_lr()[0] == 3e-4 * 0.1
    True
    """
    spe = v.step_arg("build_scheduler", "steps_per_epoch", steps_per_epoch, 1)
    n_epochs = v.step_arg("build_scheduler", "epochs", epochs, 1)
    n_warmup = v.step_arg("build_scheduler", "warmup_epochs", warmup_epochs, 0)
    if n_warmup > n_epochs:
        raise SpecError(
            "build_scheduler", "warmup_epochs", f"must be <= epochs ({n_epochs}), got {n_warmup}"
        )
    return build_warmup_cosine(
        optimizer,
        warmup_steps=spe * n_warmup,
        total_steps=spe * n_epochs,
        min_lr_scale=min_lr_scale,
    )
