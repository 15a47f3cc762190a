"""The general pieces every recipe is built from: :class:`Ramp` (from one value to another, with
a shape), :class:`PiecewiseConstant` (a value per interval), :class:`Product` (schedules
multiplied) and :class:`Sum` (schedules added). With :class:`~optfn.schedules.Join` (pieces
in sequence) they express torch's, Hugging Face's and optax's schedules exactly (README:
"Bring your recipe").

Each is a spec like every shape: frozen, serialized, drawn by the strategies, written once as a
closed form, so that ``lr_lambda`` and ``lr_curve`` agree bit for bit.

>>> from optfn.schedules import Join, PiecewiseConstant, Product, Ramp, lr_curve
>>> lr_curve(Join(pieces=(PiecewiseConstant(values=(0.5,)), Ramp(steps=2, start_scale=0.5)),
...               boundaries=(2,)), 5).tolist()
[0.5, 0.5, 0.5, 0.75, 1.0]
>>> lr_curve(Product(factors=(Ramp(steps=4, start_scale=0.0), PiecewiseConstant(
...     boundaries=(2,), values=(1.0, 0.5)))), 5).tolist()
[0.0, 0.25, 0.25, 0.375, 0.5]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import numpy as np

from optfn.errors import SpecError
from optfn.schedules.base import (
    MAX_STEPS,
    Compound,
    Schedule,
    Segment,
    check_depth,
    combined_bound,
    evaluate_segments,
    step_field,
)
from optfn.schedules.xp import SCALAR, MathNamespace
from optfn.specs import checks as v
from optfn.specs.render import brief

__all__ = ["PiecewiseConstant", "Product", "Ramp", "RampShape", "Sum"]

#: :class:`Ramp`'s shapes.
RampShape = Literal["linear", "cosine", "1-sqrt", "polynomial", "cosine_restarts"]
_RAMP_SHAPES = ("linear", "cosine", "1-sqrt", "polynomial", "cosine_restarts")
_COSINES = ("cosine", "cosine_restarts")

#: The most cosine periods a ``Ramp(shape="cosine")`` may have: ``pi * cycles * 2`` stays
#: a finite float (beyond, its angle is inf and the multiplier NaN).
_MAX_COSINE_CYCLES = sys.float_info.max / (2.0 * math.pi)

#: Values from which ``lo + (hi - lo)`` may round past the largest float.
_NEAR_OVERFLOW = 2.0**1023

#: A multiplier a piece may take: any finite value >= 0 (a recipe may go above its base LR).
value_field = v.real(0.0, None)


def _height(ramp: Ramp, x: Any, xp: MathNamespace, falling: bool) -> Any:
    """How far above the lower of the two values step ``x`` is, as a fraction of the gap:
    1 at step 0 of a falling ramp, 0 at step 0 of a rising one (the arithmetic of the library
    each shape comes from, so that ported recipes agree to the last bit)."""
    n, shape = ramp.steps, ramp.shape
    if shape == "linear":  # HF: float(T - s) / float(T - W); its warm-up float(s) / float(W)
        return xp.ratio(n - x, n) if falling else xp.ratio(x, n)
    p = xp.ratio(x, n)
    if shape == "1-sqrt":  # HF's WSD: 1 - sqrt(p) down, 1 - sqrt(1 - p) up
        return 1.0 - xp.sqrt(p) if falling else 1.0 - xp.sqrt(1.0 - p)
    power = float(ramp.power)
    if shape == "polynomial":  # HF's polynomial and optax's polynomial_schedule: (1 - p)**k
        h = xp.pow(1.0 - p, power)
        return h if falling else 1.0 - h
    cycles = ramp.wave_count()
    if shape == "cosine":  # HF: cos(pi * float(num_cycles) * 2.0 * progress)
        theta = math.pi * cycles * 2.0 * p
    else:  # HF's hard restarts: cos(pi * ((float(num_cycles) * progress) % 1.0))
        theta = math.pi * ((cycles * p) % 1.0)
    h = 0.5 * (1.0 + xp.cos(theta)) if falling else 0.5 * (1.0 - xp.cos(theta))
    return h if power == 1.0 else xp.pow(h, power)  # optax's exponent


@attrs.frozen(kw_only=True)
class Ramp(Schedule):
    """From ``start_scale`` at step 0 to ``end_scale`` at step ``steps``, along ``shape``; then
    it holds. With ``a``, ``e`` the two values, ``lo``/``hi`` the smaller/larger of them,
    ``n = steps`` and ``p = s / n``:

    ``λ(s) = lo + (hi - lo) · h(s)``, ``h`` the height above ``lo`` (1 at step 0 when the ramp
    falls, 0 when it rises):

    * ``"linear"``: ``h = (n - s) / n`` falling, ``s / n`` rising: ``a + (e - a)·s/n``
      (torch's ``LinearLR``, Hugging Face's linear decay and warm-up, bit for bit);
    * ``"cosine"``: ``h = (1 ± cos(2π·c·p)) / 2`` (+ falling, - rising) with
      ``c = cycles`` cosine periods over the ramp (default 0.5: one half-wave from ``a`` to
      ``e``; Hugging Face's ``num_cycles``), raised to ``power`` (optax's ``exponent``);
    * ``"1-sqrt"``: ``h = 1 - sqrt(p)`` falling, ``1 - sqrt(1 - p)`` rising (Hugging Face's
      WSD shapes);
    * ``"polynomial"``: ``h = (1 - p)**power`` falling, ``1 - (1 - p)**power`` rising
      (Hugging Face's polynomial decay, optax's ``polynomial_schedule``);
    * ``"cosine_restarts"``: ``h = (1 + cos(π·((c·p) mod 1))) / 2`` falling: ``c = cycles``
      falls of ``n / c`` steps each (default 1; they may be fractional, as in Hugging Face's
      hard restarts), raised to ``power``.

    From step ``n`` on it holds exactly ``e`` (``"cosine_restarts"`` too, as Hugging Face's
    hard restarts do), except a ``"cosine"`` of other than half a period, which holds its
    value at ``n``. Step 0 of a rising ramp is exactly ``a``; of a falling one, ``e + (a - e)``
    (``a`` to the ulp). The values are
    any finite numbers ``>= 0`` (a multiplier may exceed 1); ``power > 0`` applies to the
    polynomial and cosine shapes only, ``cycles > 0`` to the cosine ones.

    Muon's momentum warm-up from 0.85 to 0.95 over 300 steps (modded-nanogpt):
    ``Ramp(steps=300, start_scale=0.85 / 0.95)`` on a group momentum of 0.95; DINO's weight
    decay from 0.04 to 0.4 on a cosine: ``Ramp(steps=T, start_scale=0.1, shape="cosine")`` on
    a weight decay of 0.4.

    >>> from optfn.schedules import Ramp, lr_curve
    >>> lr_curve(Ramp(steps=4, start_scale=0.2), 6).round(6).tolist()
    [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    >>> lr_curve(Ramp(steps=4, start_scale=1.0, end_scale=0.0, shape="cosine", cycles=1.0),
    ...          6).round(6).tolist()
    [1.0, 0.5, 0.0, 0.5, 1.0, 1.0]
    """

    steps: int = attrs.field(validator=step_field(1))
    start_scale: float = attrs.field(validator=value_field)
    end_scale: float = attrs.field(default=1.0, validator=value_field)
    shape: RampShape = attrs.field(default="linear", validator=v.one_of(*_RAMP_SHAPES))
    power: float = attrs.field(default=1.0, validator=v.real(0.0, None, lo_open=True))
    cycles: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.real(0.0, None, lo_open=True))
    )

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        if self.power != 1.0 and self.shape not in ("polynomial", *_COSINES):
            raise SpecError(
                owner,
                "power",
                f"applies to the 'polynomial', 'cosine' and 'cosine_restarts' shapes, not "
                f"{self.shape!r}; got {brief(self.power)} (leave it at 1.0)",
            )
        if self.cycles is not None and self.shape not in _COSINES:
            raise SpecError(
                owner,
                "cycles",
                f"applies to the 'cosine' and 'cosine_restarts' shapes, not {self.shape!r}; "
                f"got {brief(self.cycles)} (leave it None)",
            )
        if self.shape == "cosine" and not math.isfinite(math.pi * self.wave_count() * 2.0):
            raise SpecError(
                owner,
                "cycles",
                f"must be <= {_MAX_COSINE_CYCLES:.6g} with shape='cosine' (its angle "
                f"pi * cycles * 2 * p must be a finite float), got {brief(self.cycles)}",
            )

    def wave_count(self) -> float:
        """``cycles``, or its default: 0.5 for ``"cosine"``, 1 for ``"cosine_restarts"``."""
        if self.cycles is not None:
            return float(self.cycles)
        return 0.5 if self.shape == "cosine" else 1.0

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        a, e = float(self.start_scale), float(self.end_scale)
        falling = a > e
        lo, hi = (e, a) if falling else (a, e)
        h = _height(self, x, xp, falling)
        # lo + (hi - lo) may round one ulp above hi: never past it (nor, near the largest
        # float, to inf, which numpy would warn of before the clamp)
        if hi < _NEAR_OVERFLOW:
            return xp.minimum(hi, lo + (hi - lo) * h)
        with np.errstate(over="ignore"):
            return xp.minimum(hi, lo + (hi - lo) * h)

    def max_multiplier(self) -> float:
        return float(max(self.start_scale, self.end_scale))

    def segments(self, stop: int) -> Sequence[Segment]:
        n = self.steps
        if self.shape == "cosine" and self.wave_count() != 0.5:  # not a ramp: where it is at n
            hold = float(self.formula(n, SCALAR))
        else:  # exactly end_scale (the formula may miss it by an ulp: lo + (hi - lo))
            hold = float(self.end_scale)
        return ((0, 0, self), (n, n, hold))


@attrs.frozen(kw_only=True)
class PiecewiseConstant(Compound):
    """A constant value per interval: ``λ(s) = values[i]`` for ``b_i <= s < b_{i+1}``, with
    ``b_0 = 0`` and ``boundaries = (b_1, ..., b_n)``; the last value holds forever.

    ``boundaries`` are strictly increasing steps ``>= 1`` (none: one constant), ``values`` has
    one more entry, each finite and ``>= 0``. torch's ``ConstantLR(factor=f, total_iters=k)``
    is ``PiecewiseConstant(boundaries=(k,), values=(f, 1.0))``; optax's
    ``piecewise_constant_schedule`` lists the running products of its scales.

    >>> from optfn.schedules import PiecewiseConstant, lr_curve
    >>> lr_curve(PiecewiseConstant(boundaries=(2, 3), values=(1.0, 0.5, 0.1)), 5).tolist()
    [1.0, 1.0, 0.5, 0.1, 0.1]
    """

    boundaries: tuple[int, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.increasing_steps(1, MAX_STEPS)
    )
    values: tuple[float, ...] = attrs.field(
        converter=v.to_tuple, validator=v.real_tuple(None, 0.0, None)
    )

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        n = len(self.boundaries) + 1
        if len(self.values) != n:
            raise SpecError(
                owner,
                "values",
                f"must hold len(boundaries) + 1 = {n} value(s), got {len(self.values)}: "
                f"{brief(self.values)}",
            )

    def max_multiplier(self) -> float:
        return float(max(self.values))

    def _segments(self) -> tuple[Segment, ...]:
        starts = (0, *self.boundaries)
        return tuple(zip(starts, starts, (float(x) for x in self.values), strict=True))


@attrs.frozen(kw_only=True)
class Product(Schedule):
    """Schedules multiplied step by step: ``λ(s) = factors[0](s) · factors[1](s) · ...``
    (in that order), each factor on the same step.

    torch's ``ChainedScheduler`` of multiplicative schedulers; a warm-up times any decay; a
    per-cycle envelope times a cycle (``CyclicLR``'s triangular2). ``factors``: at least one
    schedule; Joins, Products and Sums nest at most :data:`~optfn.schedules.MAX_JOIN_DEPTH`
    deep.

    >>> from optfn.schedules import ExponentialDecay, Product, Ramp, lr_curve
    >>> lr_curve(Product(factors=(Ramp(steps=2, start_scale=0.5),
    ...                           ExponentialDecay(gamma=0.5))), 4).tolist()
    [0.5, 0.375, 0.25, 0.125]
    """

    factors: tuple[Schedule, ...] = attrs.field(
        converter=v.to_tuple, validator=v.instance_tuple(Schedule, min_len=1)
    )

    def __attrs_post_init__(self) -> None:
        check_depth(self, "factors")
        combined_bound(self, "factors", self.factors, product=True)

    def nested(self) -> tuple[Schedule, ...]:
        return self.factors

    def max_multiplier(self) -> float | None:
        return combined_bound(self, "factors", self.factors, product=True)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        out = evaluate_segments(self.factors[0], x, xp)
        for factor in self.factors[1:]:
            out = out * evaluate_segments(factor, x, xp)
        return out


@attrs.frozen(kw_only=True)
class Sum(Schedule):
    """Schedules added step by step: ``λ(s) = terms[0](s) + terms[1](s) + ...`` (in that
    order, left to right), each term on the same step.

    A blend of two schedules, as modded-nanogpt's cool-down ``lr·(1 - t) + 0.15·t`` over its
    stage multipliers ``lr``: ``Sum(terms=(Product(factors=(<stages>, <1 -> 0>)), <0 ->
    0.15>))``, with ``t`` a :class:`Ramp` (on a :class:`~optfn.schedules.Join` where the
    cool-down starts later). ``terms``: at least one schedule; Joins, Products and Sums nest at
    most :data:`~optfn.schedules.MAX_JOIN_DEPTH` deep. A sum may exceed 1.0 (a multiplier of
    the base LR, as a :class:`Ramp` may).

    >>> from optfn.schedules import Product, Ramp, Sum, lr_curve
    >>> lr_curve(Sum(terms=(Ramp(steps=4, start_scale=1.0, end_scale=0.0),
    ...                     Ramp(steps=4, start_scale=0.0, end_scale=0.5))), 6).tolist()
    [1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
    """

    terms: tuple[Schedule, ...] = attrs.field(
        converter=v.to_tuple, validator=v.instance_tuple(Schedule, min_len=1)
    )

    def __attrs_post_init__(self) -> None:
        check_depth(self, "terms")
        combined_bound(self, "terms", self.terms, product=False)

    def nested(self) -> tuple[Schedule, ...]:
        return self.terms

    def max_multiplier(self) -> float | None:
        return combined_bound(self, "terms", self.terms, product=False)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        out = evaluate_segments(self.terms[0], x, xp)
        for term in self.terms[1:]:
            out = out + evaluate_segments(term, x, xp)
        return out
