"""LR schedules as frozen specs: each multiplier is a closed form of the step.

A schedule gives the *multiplier* of each param group's own base LR at step ``s`` (so a group
with an LR scale keeps its ratio at every step; floors such as ``min_lr_scale`` are ratios, and
the peak is always 1.0). Two pure functions evaluate it:

* :func:`lr_lambda` returns ``step -> multiplier`` (a picklable ``functools.partial``), the
  function that :func:`optfn.scheduler.make_scheduler` hands to torch;
* :func:`lr_curve` returns the multipliers of steps ``0 .. n-1`` (or ``start ..``) as a
  float64 array, computed vectorized, equal to :func:`lr_lambda` at every step: bit for bit,
  by construction, and proved by the tests.

One formula per shape: each shape writes its closed form once, ``formula(x, xp)``, against a
math namespace that is scalar for :func:`lr_lambda` and numpy for :func:`lr_curve` (the same
float64 operations in the same order, through the same numpy kernels; see
:mod:`optfn.schedules.xp`). Piecewise structure is data, not branches: a shape lists its
:meth:`Schedule.segments` (a warmup ramp, a decay, a constant hold, the pieces of a
:class:`Join`), and one evaluator serves both forms: it looks a step's segment up with
``bisect`` (scalar) or cuts a range of steps at the segment starts and fills each slice, a
constant one without computing (vector). Every warmup is the one :class:`LinearWarmup` ramp.

Every shape is defined for every step ``>= 0``: shapes with an end hold their last value past
it, and steps as large as ``2**53`` (or larger) neither overflow nor raise.

Conventions (one vocabulary everywhere): ``warmup_steps`` ramp up with seed 002's rule
``max(1e-8, (s + 1) / W)`` (the ramp reaches 1.0 on its last step ``W - 1``, and step 0 is
never 0); ``decay_steps`` is the length of a decay, which goes from exactly 1.0 to exactly its
floor ``min_lr_scale`` and then holds; ``total_steps`` is the step at which a whole schedule
reaches its floor. Warmup followed by anything is a :class:`Join`, not a new class.

>>> from optfn.schedules import CosineDecay, Join, LinearWarmup, lr_curve
>>> sched = Join(pieces=(LinearWarmup(warmup_steps=2), CosineDecay(decay_steps=4)),
...              boundaries=(2,))
>>> lr_curve(sched, 8).round(3).tolist()
[0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from optfn.errors import SpecError
from optfn.schedules.base import (
    MAX_STEPS,
    RAMP_FLOOR,
    Compound,
    DecayShape,
    Schedule,
    Segment,
    cached_segments,
    evaluate_segments,
    scale_field,
    step_field,
)
from optfn.schedules.xp import SCALAR, VECTOR, MathNamespace
from optfn.specs import checks as v

__all__ = [
    "Constant",
    "CosineDecay",
    "CosineRestarts",
    "ExponentialDecay",
    "InverseSqrt",
    "LinearDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "PolynomialDecay",
    "WarmupCosine",
    "WarmupStableDecay",
]


def _decay_segments(decay: Schedule, steps: int) -> tuple[Segment, ...]:
    """A decay over ``steps`` steps, then its hold: the formula's own value at ``steps``."""
    hold = float(decay.formula(steps, SCALAR))  # the same value as the vector form's
    return ((0, 0, decay), (steps, steps, hold))


def _tail(alpha: float, f: Any) -> Any:
    """``alpha + (1 - alpha) * f``: every decay, ``f`` falling from exactly 1 to exactly 0.

    So every decay starts at exactly 1.0 (``alpha + fl(1 - alpha) == 1`` for every double
    ``alpha`` in [0, 1]), ends at exactly ``alpha`` and stays within ``[alpha, 1]``.
    """
    return alpha + (1.0 - alpha) * f


def _linear_fall(x: Any, d: int, alpha: float, xp: MathNamespace) -> Any:
    return _tail(alpha, 1.0 - xp.ratio(x, d))


def _cosine_fall(x: Any, d: int, alpha: float, xp: MathNamespace) -> Any:
    # xp.ratio is float / float in both forms: a cycle length can exceed 2**53 (CosineRestarts
    # with cycle_mult > 1), where Python's exact int / int would round differently
    return _tail(alpha, 0.5 * (1.0 + xp.cos(math.pi * xp.ratio(x, d))))


def _sqrt_fall(x: Any, d: int, alpha: float, xp: MathNamespace) -> Any:
    return _tail(alpha, 1.0 - xp.sqrt(xp.ratio(x, d)))


_FALLS: dict[str, Callable[[Any, int, float, MathNamespace], Any]] = {
    "linear": _linear_fall,
    "cosine": _cosine_fall,
    "1-sqrt": _sqrt_fall,
}


@attrs.frozen(kw_only=True)
class _Fall(Schedule):
    """A decay piece of a compound shape (no step limit: a restart cycle may exceed 2**53)."""

    fall: Callable[[Any, int, float, MathNamespace], Any]
    steps: int
    floor: float
    hold: bool = True  # hold the floor after the decay (a restart cycle ends on it instead)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return self.fall(x, self.steps, self.floor, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _decay_segments(self, self.steps) if self.hold else ((0, 0, self),)


@attrs.frozen(kw_only=True)
class Constant(Schedule):
    """The base LR at every step: ``λ(s) = 1``.

    >>> from optfn.schedules import Constant, lr_lambda
    >>> lr_lambda(Constant())(10**6)
    1.0
    """

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return xp.full(x, 1.0)

    def segments(self, stop: int) -> Sequence[Segment]:
        return ((0, 0, 1.0),)


@attrs.frozen(kw_only=True)
class ExponentialDecay(Schedule):
    """Multiply by ``gamma`` once per epoch: ``λ(s) = gamma ** (s // steps_per_epoch)``.

    This is what seed 000's ``lr_decay_gamma`` means (torch's ``ExponentialLR`` stepped once per
    epoch) and, with ``steps_per_epoch=k``, torch's ``StepLR(step_size=k, gamma=gamma)``.
    ``gamma`` is in (0, 1]; ``steps_per_epoch >= 1``. It has no end: it tends to 0.

    >>> from optfn.schedules import ExponentialDecay, lr_curve
    >>> lr_curve(ExponentialDecay(gamma=0.5, steps_per_epoch=2), 6).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    gamma: float = attrs.field(validator=v.real(0.0, 1.0, lo_open=True))
    steps_per_epoch: int = attrs.field(default=1, validator=step_field(1))

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return xp.pow(float(self.gamma), xp.to_float(x // int(self.steps_per_epoch)))


@attrs.frozen(kw_only=True)
class MultiStepDecay(Compound):
    """Multiply by ``gamma`` at each boundary: ``λ(s) = gamma ** #{b in boundaries : b <= s}``.

    torch's ``MultiStepLR(milestones=boundaries, gamma=gamma)``. ``boundaries`` are strictly
    increasing step numbers ``>= 1`` (at least one); from the last one it holds its floor
    ``gamma ** len(boundaries)``.

    >>> from optfn.schedules import MultiStepDecay, lr_curve
    >>> lr_curve(MultiStepDecay(boundaries=(2, 3), gamma=0.1), 5).round(6).tolist()
    [1.0, 1.0, 0.1, 0.01, 0.01]
    """

    boundaries: tuple[int, ...] = attrs.field(
        converter=v.to_tuple, validator=v.increasing_steps(1, MAX_STEPS, min_len=1)
    )
    gamma: float = attrs.field(validator=v.real(0.0, 1.0, lo_open=True))

    def _segments(self) -> tuple[Segment, ...]:
        # gamma ** k for k = 0 .. n: constants between boundaries, computed once
        n = len(self.boundaries)
        values = VECTOR.pow(float(self.gamma), np.arange(n + 1, dtype=np.float64)).tolist()
        return tuple(zip((0, *self.boundaries), (0, *self.boundaries), values, strict=True))


@attrs.frozen(kw_only=True)
class WarmupCosine(Compound):
    """Seed 002's linear warmup then cosine decay, with ``W = warmup_steps``,
    ``S = total_steps``, ``α = min_lr_scale``:

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W``;
    * ``λ(s) = α + (1 - α)/2 · (1 + cos(π t))`` for ``s >= W``, with
      ``t = min(1, (s - W) / max(1, S - W))``.

    The seed leaves one thing open, decided here: past ``S`` the seed's unclamped ``t`` would
    exceed 1 and the cosine would climb back up to 1; optfn clamps ``t`` to 1, so the
    multiplier holds at ``α`` from step ``S`` on. Otherwise the formula is the seed's, edge
    included: when ``W == S`` the cosine phase has no length, so ``λ(S) = 1`` and
    ``λ(s) = α`` for every ``s > S``. Requires ``0 <= W <= S``, ``S >= 1``, ``α`` in [0, 1].

    >>> from optfn.schedules import WarmupCosine, lr_curve
    >>> lr_curve(WarmupCosine(warmup_steps=2, total_steps=6, min_lr_scale=0.1), 8).round(4)
    ... # doctest: +NORMALIZE_WHITESPACE
    array([0.5  , 1.   , 1.   , 0.8682, 0.55  , 0.2318, 0.1  , 0.1  ])
    """

    warmup_steps: int = attrs.field(validator=step_field(0))
    total_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "warmup_steps",
                f"must be <= total_steps ({self.total_steps}), got {self.warmup_steps}",
            )

    def _segments(self) -> tuple[Segment, ...]:
        w = self.warmup_steps
        decay = CosineDecay(
            decay_steps=max(1, self.total_steps - w), min_lr_scale=self.min_lr_scale
        )
        ramp: tuple[Segment, ...] = ((0, 0, LinearWarmup(warmup_steps=w)),) if w else ()
        return (*ramp, (w, w, decay))


@attrs.frozen(kw_only=True)
class LinearWarmup(Schedule):
    """A linear ramp to 1.0 (the warmup piece of a :class:`Join`), ``W = warmup_steps``,
    ``i = init_scale``:

    * ``λ(s) = i + (1 - i) · max(1e-8, (s + 1) / W)`` for ``s < W`` (seed 002's ramp, which
      starts just above ``i``: step 0 already gets ``i + (1 - i)/W``, never ``i`` itself);
    * ``λ(s) = 1`` for ``s >= W``; ``λ(W - 1)`` is exactly 1.0.

    Join it at boundary ``W`` with a decay that starts at 1.0 for a schedule without a jump.

    >>> from optfn.schedules import LinearWarmup, lr_curve
    >>> lr_curve(LinearWarmup(warmup_steps=4), 6).tolist()
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """

    warmup_steps: int = attrs.field(validator=step_field(1))
    init_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        # the one warmup ramp of every shape: init_scale = 0 gives seed 002's ramp exactly
        # the hottest scalar path, so _tail is written out and the step meets a float by
        # promotion (x + 1.0 converts x as xp.to_float does; x < W <= 2**53 here)
        init = self.init_scale
        return init + (1.0 - init) * xp.maximum(RAMP_FLOOR, (x + 1.0) / self.warmup_steps)

    def segments(self, stop: int) -> Sequence[Segment]:
        return ((0, 0, self), (self.warmup_steps, self.warmup_steps, 1.0))


@attrs.frozen(kw_only=True)
class LinearDecay(Schedule):
    """A linear decay from 1.0 to ``α = min_lr_scale`` over ``D = decay_steps``, then hold:
    ``λ(s) = α + (1 - α) · (1 - t)``, ``t = min(s, D) / D``.

    >>> from optfn.schedules import LinearDecay, lr_curve
    >>> lr_curve(LinearDecay(decay_steps=4, min_lr_scale=0.2), 6).round(6).tolist()
    [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]
    """

    decay_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _linear_fall(x, self.decay_steps, self.min_lr_scale, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _decay_segments(self, self.decay_steps)


@attrs.frozen(kw_only=True)
class CosineDecay(Schedule):
    """A half-cosine from 1.0 to ``α = min_lr_scale`` over ``D = decay_steps``, then hold:
    ``λ(s) = α + (1 - α)/2 · (1 + cos(π t))``, ``t = min(s, D) / D``.

    ``Join(pieces=(LinearWarmup(warmup_steps=W), CosineDecay(decay_steps=S - W,
    min_lr_scale=α)), boundaries=(W,))`` equals ``WarmupCosine(W, S, α)`` for ``0 < W < S``.

    >>> from optfn.schedules import CosineDecay, lr_curve
    >>> lr_curve(CosineDecay(decay_steps=4), 6).round(4).tolist()
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """

    decay_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _cosine_fall(x, self.decay_steps, self.min_lr_scale, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _decay_segments(self, self.decay_steps)


@attrs.frozen(kw_only=True)
class PolynomialDecay(Schedule):
    """A polynomial decay from 1.0 to ``α = min_lr_scale`` over ``D = decay_steps``, then hold:
    ``λ(s) = α + (1 - α) · (1 - t) ** power``, ``t = min(s, D) / D``, ``power > 0``.

    ``power=1`` is a linear decay; torch's ``PolynomialLR(total_iters=D, power=p)`` is ``α = 0``.

    >>> from optfn.schedules import PolynomialDecay, lr_curve
    >>> lr_curve(PolynomialDecay(decay_steps=4, power=2.0), 6).tolist()
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    decay_steps: int = attrs.field(validator=step_field(1))
    power: float = attrs.field(default=1.0, validator=v.real(0.0, lo_open=True))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        t = xp.ratio(x, self.decay_steps)
        return _tail(self.min_lr_scale, xp.pow(1.0 - t, float(self.power)))

    def segments(self, stop: int) -> Sequence[Segment]:
        return _decay_segments(self, self.decay_steps)


@attrs.frozen(kw_only=True)
class InverseSqrt(Schedule):
    """Linear warmup then inverse square root ("Noam"), ``W = warmup_steps``,
    ``α = min_lr_scale``:

    * ``λ(s) = max(1e-8, (s + 1) / W)`` for ``s < W`` (1.0 at ``s = W - 1``);
    * ``λ(s) = max(α, sqrt(W / (s + 1)))`` for ``s >= W``.

    With ``α = 0`` it never ends (it tends to 0); with ``α > 0`` it holds ``α`` exactly from
    the step where ``sqrt(W / (s + 1))`` falls below it.

    >>> from optfn.schedules import InverseSqrt, lr_curve
    >>> lr_curve(InverseSqrt(warmup_steps=4, min_lr_scale=0.5), 20)[[0, 3, 7, 15, 19]].tolist()
    [0.25, 1.0, 0.7071067811865476, 0.5, 0.5]
    """

    warmup_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        # on the absolute step s (origin 0): sqrt(W / (s + 1)); float(s) + 1.0, as s may
        # exceed 2**53, where s + 1 is not a float (and a huge int saturates to inf: 0)
        w = self.warmup_steps  # an int, promoted to float64 by the division in both forms
        return xp.maximum(self.min_lr_scale, xp.sqrt(w / (xp.to_float(x) + 1.0)))

    def segments(self, stop: int) -> Sequence[Segment]:
        return cached_segments(self)

    def _segments(self) -> tuple[Segment, ...]:
        w = self.warmup_steps
        return ((0, 0, LinearWarmup(warmup_steps=w)), (w, 0, self))


@attrs.frozen(kw_only=True)
class CosineRestarts(Schedule):
    """Cosine with warm restarts (SGDR): cycles of ``T_i = cycle_steps · cycle_mult**i`` steps,
    each a half-cosine from 1.0 at its first step to exactly ``α = min_lr_scale`` at its last:
    ``λ(s) = α + (1 - α)/2 · (1 + cos(π · p / (T_i - 1)))``, ``p`` = the step within its cycle.

    It restarts forever (each restart jumps back up to 1.0 by design). Unlike torch's
    ``CosineAnnealingWarmRestarts``, whose cycles stop one step short of ``eta_min``, every
    cycle here ends exactly on its floor. ``cycle_steps >= 2``, ``cycle_mult >= 1``.

    >>> from optfn.schedules import CosineRestarts, lr_curve
    >>> lr_curve(CosineRestarts(cycle_steps=3, cycle_mult=2), 10).round(3).tolist()
    [1.0, 0.5, 0.0, 1.0, 0.905, 0.655, 0.345, 0.095, 0.0, 1.0]
    """

    cycle_steps: int = attrs.field(validator=step_field(2))
    cycle_mult: int = attrs.field(default=1, validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        if self.cycle_mult != 1:  # cycles of growing length: segments
            return evaluate_segments(self, x, xp)
        first = int(self.cycle_steps)
        return _cosine_fall(x % first, first - 1, self.min_lr_scale, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        if self.cycle_mult == 1:
            return ((0, 0, self),)
        out: list[Segment] = []
        start, length = 0, int(self.cycle_steps)
        while not out or start < stop:  # cycles of first * mult**i steps, up to stop
            out.append(
                (
                    start,
                    start,
                    _Fall(fall=_cosine_fall, steps=length - 1, floor=self.min_lr_scale, hold=False),
                )
            )
            start += length
            length *= int(self.cycle_mult)
        return out


@attrs.frozen(kw_only=True)
class WarmupStableDecay(Compound):
    """Warmup, a stable phase at 1.0, then a cool-down to ``α = min_lr_scale`` ending at
    ``total_steps`` (WSD), with ``W = warmup_steps``, ``S = total_steps``, ``D = decay_steps``:

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W``;
    * ``λ(s) = 1`` for ``W <= s < S - D``;
    * ``λ(s) = α + (1 - α) · f(t)`` for ``s >= S - D``, ``t = (min(s, S) - (S - D)) / D``, with
      ``f(t) = 1 - t`` (``decay_shape="linear"``), ``(1 + cos(π t))/2`` (``"cosine"``) or
      ``1 - sqrt(t)`` (``"1-sqrt"``); it holds ``α`` from step ``S`` on.

    Requires ``W + D <= S``, ``D >= 1``. With ``D = S - W`` and ``"cosine"`` it equals
    :class:`WarmupCosine` for ``W < S``.

    >>> from optfn.schedules import WarmupStableDecay, lr_curve
    >>> wsd = WarmupStableDecay(warmup_steps=2, total_steps=8, decay_steps=4,
    ...                         decay_shape="1-sqrt")
    >>> lr_curve(wsd, 10).round(3).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.293, 0.134, 0.0, 0.0]
    """

    warmup_steps: int = attrs.field(validator=step_field(0))
    total_steps: int = attrs.field(validator=step_field(1))
    decay_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)
    decay_shape: DecayShape = attrs.field(default="linear", validator=v.one_of(*_FALLS))

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "decay_steps",
                f"warmup_steps + decay_steps must be <= total_steps ({self.total_steps}), "
                f"got {self.warmup_steps} + {self.decay_steps}",
            )

    def _segments(self) -> tuple[Segment, ...]:
        w, d = self.warmup_steps, self.decay_steps
        start = self.total_steps - d
        out: list[Segment] = []
        if w:
            out.append((0, 0, LinearWarmup(warmup_steps=w)))
        if start > w:
            out.append((w, w, 1.0))
        fall = _Fall(fall=_FALLS[self.decay_shape], steps=d, floor=self.min_lr_scale)
        out.append((start, start, fall))
        return tuple(out)
