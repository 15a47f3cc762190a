"""Optimizer specs: frozen, validated descriptions of an optimizer (with the spec-method API).

A spec holds numbers only (no torch objects); :func:`optfn.make_optimizer` turns it into a
``torch.optim.Optimizer``. The spec-method API's methods (``create_optimizer``, ``to_dict``, ...)
are one-line delegations to optfn's pure functions.

>>> from optfn import AdamWSpec
>>> spec = AdamWSpec(learning_rate=1e-3, lr_decay_gamma=0.95)
>>> spec.optimizer_type, spec.weight_decay, spec.betas
('adamw', 0.01, (0.9, 0.999))
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from optfn.compat.methods import SpecMethods
from optfn.errors import SpecError
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly
from optfn.specs.render import brief

__all__ = [
    "BETAS",
    "DECAY_GAMMA",
    "IMPLEMENTATIONS",
    "MAX_NS_STEPS",
    "NONNEGATIVE",
    "POSITIVE",
    "AdamSpec",
    "AdamWSpec",
    "Implementation",
    "MuonSpec",
    "OptimizerSpecification",
    "implementation_choice",
    "ns_steps_ok",
]

#: torch.optim.Muon's defaults, which the spec-method API's Muon gets by passing nothing.
TORCH_MUON_WEIGHT_DECAY = 0.1
TORCH_MUON_NS_STEPS = 5
TORCH_MUON_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
TORCH_MUON_EPS = 1e-7
#: Newton-Schulz coefficients known to converge (torch's, the cubic, a plain quintic): what
#: :mod:`optfn.strategies` draws for ``MuonSpec.ns_coefficients`` (any finite triple is valid,
#: few of them orthogonalize; a field's ``metadata["examples"]`` names the values to draw).
NS_COEFFICIENTS_THAT_CONVERGE = (TORCH_MUON_NS_COEFFICIENTS, (1.5, -0.5, 0.0), (2.0, -1.5, 0.5))
#: Newton–Schulz iterations allowed: ``1 <= ns_steps < MAX_NS_STEPS`` (torch.optim.Muon refuses
#: ``ns_steps >= 100``); one rule for ``MuonSpec.ns_steps`` and for a muon param group.
MAX_NS_STEPS = 100

AdjustLr = Literal["original", "match_rms_adamw"]

#: How torch runs an optimizer's step: ``"auto"`` (torch's own default: foreach on CUDA, a
#: for-loop on CPU), ``"foreach"`` (multi-tensor kernels), ``"fused"`` (one fused kernel per
#: device and dtype) or ``"for_loop"`` (one parameter at a time).
Implementation = Literal["auto", "foreach", "fused", "for_loop"]
IMPLEMENTATIONS: tuple[str, ...] = ("auto", "foreach", "fused", "for_loop")
#: The choices of a torch class with no fused kernel (``fused=`` is not an argument).
WITHOUT_FUSED: tuple[str, ...] = ("auto", "foreach", "for_loop")

#: Field validators every optimizer spec shares (> 0, >= 0, an optional decay factor in
#: (0, 1], two betas in [0, 1)).
POSITIVE = v.real(0.0, lo_open=True)
NONNEGATIVE = v.real(0.0)
DECAY_GAMMA = attrs.validators.optional(v.real(0.0, 1.0, lo_open=True))
BETAS = v.real_tuple(2, 0.0, 1.0, hi_open=True)


def ns_steps_ok(n: int) -> bool:
    """The one ``ns_steps`` rule (of a spec and of a muon param group): ``1 <= n < 100``."""
    return 1 <= n < MAX_NS_STEPS


def _check_below_max_ns_steps(inst: Any, attr: attrs.Attribute[Any], n: int) -> None:
    if not ns_steps_ok(n):  # step_count(1) has checked the kind and the lower bound
        raise SpecError(
            type(inst).__name__,
            attr.name,
            f"must be an integer in [1, {MAX_NS_STEPS}) (torch.optim.Muon's limit), got {brief(n)}",
        )


_below_max_ns_steps = v.Validator(
    f"below({MAX_NS_STEPS})", _check_below_max_ns_steps, v.Domain("int", 1, MAX_NS_STEPS - 1)
)


def implementation_choice(offered: tuple[str, ...], torch_name: str) -> v.Validator:
    """The validator of an ``implementation`` field: one of the choices ``offered`` by the
    torch class ``torch_name``; a choice it does not offer is a :class:`SpecError`."""
    names = ", ".join(repr(c) for c in offered)

    def check(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if not (type(value) is str and value in offered):
            known = type(value) is str and value in IMPLEMENTATIONS
            why = f"{torch_name} does not offer {brief(value)}; " if known else ""
            raise SpecError(
                type(inst).__name__, attr.name, f"{why}must be one of {names}, got {brief(value)}"
            )

    return v.Validator(f"one_of({names})", check, v.Domain("choice", choices=offered))


@attrs.frozen(kw_only=True)
class OptimizerSpecification(SpecMethods, KeywordOnly):
    """Base of every optimizer spec (the spec-method API's abstract base).

    The spec-method API's methods (``create_optimizer``, ``to_dict``, ``from_serialized``, ...)
    come from :class:`optfn.compat.methods.SpecMethods`, each a one-line delegation.

    Subclasses set ``optimizer_type`` (the type tag used by :meth:`from_serialized` and in
    configs) and define their fields. Instances are frozen, comparable and hashable.
    """

    optimizer_type: ClassVar[str] = ""

    learning_rate: float
    lr_decay_gamma: float | None

    def __attrs_post_init__(self) -> None:
        if not type(self).optimizer_type:
            raise TypeError(
                f"{type(self).__name__} is abstract: use AdamSpec, AdamWSpec or MuonSpec"
            )


@attrs.frozen(kw_only=True)
class _AdamFamily(OptimizerSpecification):
    """The fields Adam and AdamW share (the spec-method API gives both the same names and
    defaults)."""

    learning_rate: float = attrs.field(default=0.001, validator=POSITIVE)
    lr_decay_gamma: float | None = attrs.field(default=None, validator=DECAY_GAMMA)
    betas: tuple[float, float] = attrs.field(
        default=(0.9, 0.999), converter=v.to_tuple, validator=BETAS
    )
    eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    amsgrad: bool = attrs.field(default=False, validator=v.boolean)
    maximize: bool = attrs.field(default=False, validator=v.boolean)


@attrs.frozen(kw_only=True)
class AdamSpec(_AdamFamily):
    """Adam (``torch.optim.Adam``); its ``weight_decay`` is an L2 penalty added to the gradient
    (``decoupled_weight_decay=True`` makes it AdamW's decay, as in torch).

    ``amsgrad``, ``maximize`` and ``implementation`` (``"auto"``, ``"foreach"``, ``"fused"``,
    ``"for_loop"``) are torch's arguments of the same names, with torch's defaults.

    >>> AdamSpec(learning_rate=0.001, lr_decay_gamma=0.95, weight_decay=0.01).optimizer_type
    'adam'
    """

    optimizer_type: ClassVar[str] = "adam"

    decoupled_weight_decay: bool = attrs.field(default=False, validator=v.boolean)
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(IMPLEMENTATIONS, "torch.optim.Adam")
    )


@attrs.frozen(kw_only=True)
class AdamWSpec(_AdamFamily):
    """AdamW (``torch.optim.AdamW``) with decoupled weight decay (default 0.01).

    ``amsgrad``, ``maximize`` and ``implementation`` as in :class:`AdamSpec`.

    >>> AdamWSpec(learning_rate=0.001).weight_decay
    0.01
    """

    optimizer_type: ClassVar[str] = "adamw"

    weight_decay: float = attrs.field(default=0.01, validator=NONNEGATIVE)
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(IMPLEMENTATIONS, "torch.optim.AdamW")
    )


@attrs.frozen(kw_only=True)
class MuonSpec(OptimizerSpecification):
    """Muon for the matrices that the routing rule picks, AdamW for every other parameter.

    The spec-method API's fields keep their names and defaults: ``learning_rate`` (Muon's LR),
    ``adamw_lr``, ``lr_decay_gamma``, ``momentum``, ``nesterov``, ``weight_decay`` (the AdamW
    part's), ``betas`` (AdamW's). The knobs that API leaves to ``torch.optim.Muon``'s defaults
    are explicit fields with those defaults: ``muon_weight_decay=0.1``, ``ns_steps=5``,
    ``ns_coefficients=(3.4445, -4.7750, 2.0315)``, ``muon_eps=1e-7`` and
    ``adjust_lr_fn="original"``; ``adamw_eps=1e-8`` is AdamW's. ``ns_steps`` is in
    ``[1, 100)`` (``MAX_NS_STEPS``: torch.optim.Muon refuses 100 and more).
    ``implementation`` is the AdamW groups' (``"auto"``, ``"foreach"``, ``"fused"``,
    ``"for_loop"``, as torch.optim.AdamW's); the Muon groups have one implementation.
    ``zero_redundancy`` is :class:`~optfn.MuonWithAdamW`'s switch (``None``: on under a
    process group of more than one rank; ``False``: every rank orthogonalizes every matrix).

    >>> spec = MuonSpec(learning_rate=0.02, adamw_lr=0.0003, lr_decay_gamma=0.98)
    >>> spec.optimizer_type, spec.muon_weight_decay, spec.ns_steps
    ('muon', 0.1, 5)
    """

    optimizer_type: ClassVar[str] = "muon"

    learning_rate: float = attrs.field(default=0.02, validator=POSITIVE)
    adamw_lr: float = attrs.field(default=3e-4, validator=POSITIVE)
    lr_decay_gamma: float | None = attrs.field(default=None, validator=DECAY_GAMMA)
    momentum: float = attrs.field(default=0.95, validator=v.real(0.0, 1.0, hi_open=True))
    nesterov: bool = attrs.field(default=True, validator=v.boolean)
    weight_decay: float = attrs.field(default=0.01, validator=NONNEGATIVE)
    betas: tuple[float, float] = attrs.field(
        default=(0.9, 0.999), converter=v.to_tuple, validator=BETAS
    )
    adamw_eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    muon_weight_decay: float = attrs.field(default=TORCH_MUON_WEIGHT_DECAY, validator=NONNEGATIVE)
    ns_steps: int = attrs.field(
        default=TORCH_MUON_NS_STEPS, validator=[v.step_count(1), _below_max_ns_steps]
    )
    ns_coefficients: tuple[float, float, float] = attrs.field(
        default=TORCH_MUON_NS_COEFFICIENTS,
        converter=v.to_tuple,
        validator=v.real_tuple(3),
        metadata={"examples": NS_COEFFICIENTS_THAT_CONVERGE},
    )
    muon_eps: float = attrs.field(default=TORCH_MUON_EPS, validator=POSITIVE)
    adjust_lr_fn: AdjustLr = attrs.field(
        default="original", validator=v.one_of("original", "match_rms_adamw")
    )
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(IMPLEMENTATIONS, "torch.optim.AdamW")
    )
    zero_redundancy: bool | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.boolean)
    )
