"""Specs of torch.optim's other optimizers: SGD, NAdam, RAdam, Adamax, Adagrad, RMSprop,
Adadelta, Adafactor, ASGD and Rprop.

Each spec has torch's own defaults under optfn's field names (``learning_rate`` for ``lr``,
and torch's names for the rest), the spec-method API's ``lr_decay_gamma``, and
``implementation`` where the torch class offers a choice (``"auto"``: torch's default;
``"foreach"``; ``"fused"`` for SGD and Adagrad; ``"for_loop"``). Ranges are torch's, checked
at construction with optfn's message; a few are closed where torch's would let a step diverge
or divide by zero (``eps > 0`` as in :class:`~optfn.AdamSpec`, decay rates in ``[0, 1]``),
each said in the field's doc.
LBFGS (closure-driven) and SparseAdam (sparse gradients only) have no spec.

>>> from optfn.specs.torch_optimizers import SGDSpec
>>> SGDSpec(learning_rate=0.1, momentum=0.9, nesterov=True).optimizer_type
'sgd'
>>> SGDSpec(nesterov=True)
Traceback (most recent call last):
    ...
optfn.errors.SpecError: SGDSpec.nesterov: needs momentum > 0 and dampening == 0, got momentum=0.0
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from optfn.errors import SpecError
from optfn.specs import checks as v
from optfn.specs.optimizers import (
    BETAS,
    DECAY_GAMMA,
    IMPLEMENTATIONS,
    NONNEGATIVE,
    POSITIVE,
    WITHOUT_FUSED,
    Implementation,
    OptimizerSpecification,
    implementation_choice,
)
from optfn.specs.render import brief

__all__ = [
    "ASGDSpec",
    "AdadeltaSpec",
    "AdafactorSpec",
    "AdagradSpec",
    "AdamaxSpec",
    "NAdamSpec",
    "RAdamSpec",
    "RMSpropSpec",
    "RpropSpec",
    "SGDSpec",
]

_unit = v.real(0.0, 1.0)


def _lr(default: float) -> float:
    return attrs.field(default=default, validator=POSITIVE)


def _flag() -> bool:
    return attrs.field(default=False, validator=v.boolean)


def _gamma_field() -> float | None:
    return attrs.field(default=None, validator=DECAY_GAMMA)


def _betas_field() -> tuple[float, float]:
    return attrs.field(default=(0.9, 0.999), converter=v.to_tuple, validator=BETAS)


@attrs.frozen(kw_only=True)
class SGDSpec(OptimizerSpecification):
    """SGD (``torch.optim.SGD``): ``momentum``, ``dampening`` (in [0, 1]), ``nesterov`` (needs
    ``momentum > 0`` and ``dampening == 0``), ``weight_decay`` (L2, added to the gradient),
    ``maximize``; ``implementation`` ``"auto"``/``"foreach"``/``"fused"``/``"for_loop"``.

    >>> SGDSpec().learning_rate, SGDSpec().momentum
    (0.001, 0.0)
    """

    optimizer_type: ClassVar[str] = "sgd"

    learning_rate: float = _lr(1e-3)
    lr_decay_gamma: float | None = _gamma_field()
    momentum: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    dampening: float = attrs.field(default=0.0, validator=_unit)
    nesterov: bool = _flag()
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(IMPLEMENTATIONS, "torch.optim.SGD")
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            got = (
                f"momentum={brief(self.momentum)}"
                if self.momentum <= 0
                else f"dampening={brief(self.dampening)}"
            )
            raise SpecError(
                type(self).__name__, "nesterov", f"needs momentum > 0 and dampening == 0, got {got}"
            )


@attrs.frozen(kw_only=True)
class NAdamSpec(OptimizerSpecification):
    """NAdam (``torch.optim.NAdam``): ``betas``, ``eps``, ``weight_decay`` (L2, or AdamW's
    with ``decoupled_weight_decay=True``), ``momentum_decay`` (>= 0), ``maximize``.

    >>> NAdamSpec().learning_rate, NAdamSpec().momentum_decay
    (0.002, 0.004)
    """

    optimizer_type: ClassVar[str] = "nadam"

    learning_rate: float = _lr(2e-3)
    lr_decay_gamma: float | None = _gamma_field()
    betas: tuple[float, float] = _betas_field()
    eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    momentum_decay: float = attrs.field(default=4e-3, validator=NONNEGATIVE)
    decoupled_weight_decay: bool = _flag()
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.NAdam")
    )


@attrs.frozen(kw_only=True)
class RAdamSpec(OptimizerSpecification):
    """RAdam (``torch.optim.RAdam``): ``betas``, ``eps``, ``weight_decay`` (L2, or AdamW's
    with ``decoupled_weight_decay=True``), ``maximize``.

    >>> RAdamSpec().learning_rate
    0.001
    """

    optimizer_type: ClassVar[str] = "radam"

    learning_rate: float = _lr(1e-3)
    lr_decay_gamma: float | None = _gamma_field()
    betas: tuple[float, float] = _betas_field()
    eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    decoupled_weight_decay: bool = _flag()
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.RAdam")
    )


@attrs.frozen(kw_only=True)
class AdamaxSpec(OptimizerSpecification):
    """Adamax (``torch.optim.Adamax``): ``betas``, ``eps``, ``weight_decay`` (L2), ``maximize``.

    >>> AdamaxSpec().learning_rate
    0.002
    """

    optimizer_type: ClassVar[str] = "adamax"

    learning_rate: float = _lr(2e-3)
    lr_decay_gamma: float | None = _gamma_field()
    betas: tuple[float, float] = _betas_field()
    eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.Adamax")
    )


@attrs.frozen(kw_only=True)
class AdagradSpec(OptimizerSpecification):
    """Adagrad (``torch.optim.Adagrad``): ``lr_decay`` (>= 0), ``weight_decay`` (L2),
    ``initial_accumulator_value`` (>= 0), ``eps``, ``maximize``; ``implementation``
    ``"auto"``/``"foreach"``/``"fused"``/``"for_loop"``.

    >>> AdagradSpec().learning_rate, AdagradSpec().eps
    (0.01, 1e-10)
    """

    optimizer_type: ClassVar[str] = "adagrad"

    learning_rate: float = _lr(1e-2)
    lr_decay_gamma: float | None = _gamma_field()
    lr_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    initial_accumulator_value: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    eps: float = attrs.field(default=1e-10, validator=POSITIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(IMPLEMENTATIONS, "torch.optim.Adagrad")
    )


@attrs.frozen(kw_only=True)
class RMSpropSpec(OptimizerSpecification):
    """RMSprop (``torch.optim.RMSprop``): ``alpha`` (the smoothing constant, in [0, 1]),
    ``eps``, ``weight_decay`` (L2), ``momentum`` (>= 0), ``centered``, ``maximize``.

    >>> RMSpropSpec().alpha, RMSpropSpec().learning_rate
    (0.99, 0.01)
    """

    optimizer_type: ClassVar[str] = "rmsprop"

    learning_rate: float = _lr(1e-2)
    lr_decay_gamma: float | None = _gamma_field()
    alpha: float = attrs.field(default=0.99, validator=_unit)
    eps: float = attrs.field(default=1e-8, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    momentum: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    centered: bool = _flag()
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.RMSprop")
    )


@attrs.frozen(kw_only=True)
class AdadeltaSpec(OptimizerSpecification):
    """Adadelta (``torch.optim.Adadelta``): ``rho`` (in [0, 1]), ``eps``, ``weight_decay``
    (L2), ``maximize``. torch's default LR is 1.0.

    >>> AdadeltaSpec().learning_rate, AdadeltaSpec().rho
    (1.0, 0.9)
    """

    optimizer_type: ClassVar[str] = "adadelta"

    learning_rate: float = _lr(1.0)
    lr_decay_gamma: float | None = _gamma_field()
    rho: float = attrs.field(default=0.9, validator=_unit)
    eps: float = attrs.field(default=1e-6, validator=POSITIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.Adadelta")
    )


@attrs.frozen(kw_only=True)
class AdafactorSpec(OptimizerSpecification):
    """Adafactor (``torch.optim.Adafactor``): ``beta2_decay`` (<= 0), torch's
    ``eps=(eps1, eps2)`` as two fields (``eps1`` ``None``: the parameter dtype's machine
    epsilon, as in torch; ``eps2`` >= 0), ``d`` (the clipping threshold, >= 1),
    ``weight_decay`` (decoupled, as AdamW's), ``maximize``.

    >>> AdafactorSpec().eps
    (None, 0.001)
    """

    optimizer_type: ClassVar[str] = "adafactor"

    learning_rate: float = _lr(1e-2)
    lr_decay_gamma: float | None = _gamma_field()
    beta2_decay: float = attrs.field(default=-0.8, validator=v.real(hi=0.0))
    eps1: float | None = attrs.field(default=None, validator=attrs.validators.optional(POSITIVE))
    eps2: float = attrs.field(default=1e-3, validator=NONNEGATIVE)
    d: float = attrs.field(default=1.0, validator=v.real(1.0))
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.Adafactor")
    )

    @property
    def eps(self) -> tuple[float | None, float]:
        """torch's ``eps`` argument: ``(eps1, eps2)``."""
        return (self.eps1, self.eps2)


@attrs.frozen(kw_only=True)
class ASGDSpec(OptimizerSpecification):
    """Averaged SGD (``torch.optim.ASGD``): ``lambd`` (the decay term, >= 0), ``alpha`` (the
    power of the eta update, >= 0), ``t0`` (the step averaging starts at, >= 0),
    ``weight_decay`` (L2), ``maximize``.

    >>> ASGDSpec().t0
    1000000.0
    """

    optimizer_type: ClassVar[str] = "asgd"

    learning_rate: float = _lr(1e-2)
    lr_decay_gamma: float | None = _gamma_field()
    lambd: float = attrs.field(default=1e-4, validator=NONNEGATIVE)
    alpha: float = attrs.field(default=0.75, validator=NONNEGATIVE)
    t0: float = attrs.field(default=1e6, validator=NONNEGATIVE)
    weight_decay: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.ASGD")
    )


@attrs.frozen(kw_only=True)
class RpropSpec(OptimizerSpecification):
    """Rprop (``torch.optim.Rprop``): ``etas=(etaminus, etaplus)`` with
    ``0 < etaminus < 1 < etaplus``, ``step_sizes=(min, max)`` with ``0 <= min <= max``,
    ``maximize``. Rprop has no weight decay: ``weight_decay`` reads 0.0 (every optfn param
    group states its decay; torch.optim.Rprop ignores the key).

    >>> RpropSpec().etas, RpropSpec().step_sizes
    ((0.5, 1.2), (1e-06, 50.0))
    """

    optimizer_type: ClassVar[str] = "rprop"

    learning_rate: float = _lr(1e-2)
    lr_decay_gamma: float | None = _gamma_field()
    etas: tuple[float, float] = attrs.field(
        default=(0.5, 1.2), converter=v.to_tuple, validator=v.real_tuple(2, 0.0)
    )
    step_sizes: tuple[float, float] = attrs.field(
        default=(1e-6, 50.0), converter=v.to_tuple, validator=v.real_tuple(2, 0.0)
    )
    maximize: bool = _flag()
    implementation: Implementation = attrs.field(
        default="auto", validator=implementation_choice(WITHOUT_FUSED, "torch.optim.Rprop")
    )

    @property
    def weight_decay(self) -> float:
        """Always 0.0: torch.optim.Rprop has no weight decay."""
        return 0.0

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        minus, plus = self.etas
        if not 0 < minus < 1 < plus:
            raise SpecError(
                type(self).__name__,
                "etas",
                f"needs 0 < etas[0] < 1 < etas[1], got {brief(self.etas)}",
            )
        lo, hi = self.step_sizes
        if lo > hi:
            raise SpecError(
                type(self).__name__,
                "step_sizes",
                f"needs step_sizes[0] <= step_sizes[1], got {brief(self.step_sizes)}",
            )
