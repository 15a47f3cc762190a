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

import abc
import functools
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs
import numpy as np

from optfn.errors import SpecError, SpecTypeError
from optfn.schedules.xp import _SCALAR_FAST, SCALAR, VECTOR, FloatArray, MathNamespace
from optfn.specs import checks as v

__all__ = [
    "MAX_CURVE_LENGTH",
    "MAX_JOIN_DEPTH",
    "MAX_STEPS",
    "Constant",
    "CosineDecay",
    "CosineRestarts",
    "DecayShape",
    "ExponentialDecay",
    "InverseSqrt",
    "Join",
    "LinearDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "PolynomialDecay",
    "Schedule",
    "WarmupCosine",
    "WarmupStableDecay",
    "join_depth",
    "lr_curve",
    "lr_lambda",
]

#: The largest step count a spec accepts: every step count is then exact in float64.
MAX_STEPS = 2**53
#: How deep :class:`Join`\ s may nest (a Join of Joins); deeper is refused at construction, so
#: that every operation (evaluation, ``repr``, ``==``, configs, checkpoints) works at every
#: depth a spec can have.
MAX_JOIN_DEPTH = 16
#: The most steps one :func:`lr_curve` call returns (8 GiB of float64); take longer ranges in
#: chunks with ``start=``.
MAX_CURVE_LENGTH = 2**30

#: The cool-down shapes of :class:`WarmupStableDecay`.
DecayShape = Literal["linear", "cosine", "1-sqrt"]

#: Seed 002's lower bound of the warmup multiplier.
RAMP_FLOOR = 1e-8

#: ``(start, origin, piece)``: from step ``start`` on (until the next segment's start), the
#: multiplier is ``piece.formula(s - origin, xp)``, or ``piece`` itself if it is a float (a
#: constant, filled without computing). ``piece`` is the schedule itself or another schedule,
#: whose own segments are then used (shifted by ``origin``).
Segment = tuple[int, int, "Schedule | float"]

_scale = v.real(0.0, 1.0)


def _steps(minimum: int) -> v.Validator:
    return v.step_count(minimum, MAX_STEPS)


@attrs.frozen(kw_only=True)
class Schedule(abc.ABC):
    """Base of every schedule spec: a frozen, validated description of ``step -> multiplier``.

    Evaluate a schedule with :func:`lr_lambda` (one step) and :func:`lr_curve` (many steps);
    ``Schedule`` itself cannot be instantiated. A schedule is defined by two methods:

    * :meth:`formula` (abstract): its closed form, written once for both evaluations;
    * :meth:`segments`: where that formula applies. By default it applies at every step;
      piecewise shapes list their pieces (a warmup ramp, a decay, a constant hold), so that
      their formulas stay free of branches.

    **Your own schedule**: subclass ``Schedule``, decorate it with
    ``@attrs.frozen(kw_only=True)``, give it fields, and implement ``formula``. Then
    :func:`lr_lambda`, :func:`lr_curve`, :class:`Join` and :class:`optfn.scheduler.ScheduleLR`
    all work with it, and ``lr_curve`` equals ``lr_lambda`` bit for bit by construction.
    (Register it with :func:`optfn.register_spec` to save it in configs and checkpoints.)

    >>> import attrs
    >>> from optfn.schedules import Constant, Schedule, lr_curve, lr_lambda
    >>> isinstance(Constant(), Schedule)
    True
    >>> @attrs.frozen(kw_only=True)
    ... class Halving(Schedule):
    ...     every: int
    ...     def formula(self, x, xp):
    ...         return xp.pow(0.5, xp.to_float(x // self.every))
    >>> lr_curve(Halving(every=2), 5).tolist(), lr_lambda(Halving(every=2))(4)
    ([1.0, 1.0, 0.5, 0.5, 0.25], 0.25)
    """

    @abc.abstractmethod
    def formula(self, x: Any, xp: MathNamespace) -> Any:
        """The multiplier at local step ``x``, element-wise, written once for both forms.

        ``x`` is a Python ``int >= 0`` (of any size) with ``xp`` =
        :data:`optfn.schedules.xp.SCALAR`, or an ``int64`` numpy array of steps ``>= 0`` with
        ``xp`` = :data:`optfn.schedules.xp.VECTOR`; return a float, or a float64 array of
        ``x``'s shape (a float is broadcast). Use ``+ - * /`` with floats, ``//`` and ``%``
        with ints, and ``xp.to_float``, ``xp.cos``, ``xp.sqrt``, ``xp.pow``, ``xp.maximum``,
        ``xp.minimum``, ``xp.full`` (see :mod:`optfn.schedules.xp`); no ``if`` on ``x`` and
        no ``math``/``np`` transcendentals. ``x`` is measured from the segment's origin (step
        ``s - b`` for a piece joined at boundary ``b``).
        """

    def segments(self, stop: int) -> Sequence[Segment]:
        """The schedule's pieces, ascending by start, the first at 0: ``(start, origin, piece)``.

        They must cover the local steps ``0 .. stop - 1`` (only cycles that never end need
        ``stop``). The default, ``((0, 0, self),)``, applies :meth:`formula` everywhere.
        """
        return ((0, 0, self),)


def _evaluate(schedule: Schedule, x: Any, xp: MathNamespace) -> Any:
    """The formula of a piecewise schedule: its segments evaluated at arbitrary local steps."""
    if not xp.vector:
        step = int(x)
        _, _, origin, fn = _flatten(schedule, step, step + 1)[0]
        return fn if isinstance(fn, float) else fn(step - origin, xp)
    steps = np.asarray(x, dtype=np.int64)
    out = np.empty(steps.shape, dtype=np.float64)
    if steps.size:
        for a, b, origin, fn in _flatten(schedule, int(steps.min()), int(steps.max()) + 1):
            inside = (steps >= a) & (steps < b)
            out[inside] = fn if isinstance(fn, float) else fn(steps[inside] - origin, xp)
    return out


@functools.lru_cache(maxsize=256)
def _cached_segments(schedule: Any) -> tuple[Segment, ...]:
    """The segments of a compound shape, built once per spec value (not a ``cached_property``:
    that gives an attrs slotted class a ``__getattr__``, which slows every field access)."""
    segments: tuple[Segment, ...] = schedule._segments()
    return segments


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
    steps_per_epoch: int = attrs.field(default=1, validator=_steps(1))

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return xp.pow(float(self.gamma), xp.to_float(x // int(self.steps_per_epoch)))


@attrs.frozen(kw_only=True)
class MultiStepDecay(Schedule):
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

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _evaluate(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _cached_segments(self)

    def _segments(self) -> tuple[Segment, ...]:
        # gamma ** k for k = 0 .. n: constants between boundaries, computed once
        n = len(self.boundaries)
        values = VECTOR.pow(float(self.gamma), np.arange(n + 1, dtype=np.float64)).tolist()
        return tuple(zip((0, *self.boundaries), (0, *self.boundaries), values, strict=True))


@attrs.frozen(kw_only=True)
class WarmupCosine(Schedule):
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

    warmup_steps: int = attrs.field(validator=_steps(0))
    total_steps: int = attrs.field(validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "warmup_steps",
                f"must be <= total_steps ({self.total_steps}), got {self.warmup_steps}",
            )

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _evaluate(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _cached_segments(self)

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

    warmup_steps: int = attrs.field(validator=_steps(1))
    init_scale: float = attrs.field(default=0.0, validator=_scale)

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

    decay_steps: int = attrs.field(validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

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

    decay_steps: int = attrs.field(validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

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

    decay_steps: int = attrs.field(validator=_steps(1))
    power: float = attrs.field(default=1.0, validator=v.real(0.0, lo_open=True))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

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

    warmup_steps: int = attrs.field(validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        # on the absolute step s (origin 0): sqrt(W / (s + 1)); float(s) + 1.0, as s may
        # exceed 2**53, where s + 1 is not a float (and a huge int saturates to inf: 0)
        w = self.warmup_steps  # an int, promoted to float64 by the division in both forms
        return xp.maximum(self.min_lr_scale, xp.sqrt(w / (xp.to_float(x) + 1.0)))

    def segments(self, stop: int) -> Sequence[Segment]:
        return _cached_segments(self)

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

    cycle_steps: int = attrs.field(validator=_steps(2))
    cycle_mult: int = attrs.field(default=1, validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        if self.cycle_mult != 1:  # cycles of growing length: segments
            return _evaluate(self, x, xp)
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
class WarmupStableDecay(Schedule):
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

    warmup_steps: int = attrs.field(validator=_steps(0))
    total_steps: int = attrs.field(validator=_steps(1))
    decay_steps: int = attrs.field(validator=_steps(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=_scale)
    decay_shape: DecayShape = attrs.field(default="linear", validator=v.one_of(*_FALLS))

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "decay_steps",
                f"warmup_steps + decay_steps must be <= total_steps ({self.total_steps}), "
                f"got {self.warmup_steps} + {self.decay_steps}",
            )

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _evaluate(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return _cached_segments(self)

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


@attrs.frozen(kw_only=True)
class Join(Schedule):
    """Schedules in sequence, each on its own local step: with ``b_0 = 0`` and
    ``boundaries = (b_1, ..., b_{n-1})``,
    ``λ(s) = pieces[i](s - b_i)`` for ``b_i <= s < b_{i+1}`` (the last piece runs forever).

    ``boundaries`` are strictly increasing step numbers ``>= 1``, one fewer than ``pieces``.
    Continuity is the caller's business: join a piece that ends at 1.0 (a
    :class:`LinearWarmup` of ``W`` steps at boundary ``W``) with one that starts at 1.0 (any
    decay), or a decay that ends at ``α`` with a ``LinearWarmup(init_scale=α)``.

    >>> from optfn.schedules import Join, LinearDecay, LinearWarmup, lr_curve
    >>> sched = Join(pieces=[LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=4)],
    ...              boundaries=[2])
    >>> lr_curve(sched, 8).tolist()
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    pieces: tuple[Schedule, ...] = attrs.field(
        converter=v.to_tuple, validator=v.instance_tuple(Schedule, min_len=1)
    )
    boundaries: tuple[int, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.increasing_steps(1, MAX_STEPS)
    )

    def __attrs_post_init__(self) -> None:
        if len(self.boundaries) != len(self.pieces) - 1:
            raise SpecError(
                type(self).__name__,
                "boundaries",
                f"must hold len(pieces) - 1 = {len(self.pieces) - 1} step(s), "
                f"got {len(self.boundaries)}: {v.brief(self.boundaries)}",
            )
        depth = join_depth(self)
        if depth > MAX_JOIN_DEPTH:
            raise SpecError(
                type(self).__name__,
                "pieces",
                f"Joins nest {depth} deep; at most {MAX_JOIN_DEPTH} are allowed (a Join of "
                "Joins flattens: list the pieces of the inner Joins in one Join instead)",
            )

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _evaluate(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        starts = (0, *self.boundaries)
        return tuple(zip(starts, starts, self.pieces, strict=True))


def join_depth(schedule: Schedule) -> int:
    """How deep Joins nest in ``schedule``: 0 for a shape, 1 for a Join of shapes, ...

    Walked without recursion (construction keeps it at most :data:`MAX_JOIN_DEPTH`).

    >>> from optfn.schedules import Constant, Join
    >>> join_depth(Join(pieces=(Constant(), Join(pieces=(Constant(),))), boundaries=(5,)))
    2
    """
    deepest, todo = 0, [(schedule, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, Join):
            depth += 1
            deepest = max(deepest, depth)
            todo.extend((p, depth) for p in node.pieces)
    return deepest


def _check_schedule(owner: str, schedule: object) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise SpecTypeError(
            owner,
            "schedule",
            f"must be a Schedule, got {v.brief(schedule)} ({type(schedule).__name__})",
        )
    return schedule


#: The scalar form's table lists segments up to this step (every int64 and uint64 step); from
#: there on, a step looks its segment up alone.
_TABLE_STOP = 2**64
#: One past the last step that :func:`lr_curve` evaluates: steps are ``int64``.
_CURVE_STOP = 2**63

#: A flattened segment: steps ``[start, stop)`` get ``fn(s - origin, xp)``, or ``fn`` if a float.
_Flat = tuple[int, int, int, "Callable[[Any, MathNamespace], Any] | float"]


def _flatten(schedule: Schedule, lo: int, hi: int, shift: int = 0) -> list[_Flat]:
    """The primitive segments of ``schedule`` (local step 0 at absolute step ``shift``) that
    cover the absolute steps ``lo .. hi - 1``, nested schedules (joins) flattened, ascending."""
    out: list[_Flat] = []
    segs = schedule.segments(hi - shift)
    last = len(segs) - 1
    for k, (start, origin, piece) in enumerate(segs):
        a = max(lo, shift + int(start))  # int(): a spec may hold numpy ints
        b = hi if k == last else min(hi, shift + int(segs[k + 1][0]))
        origin = int(origin)
        if a >= b:
            continue
        if piece is schedule:
            out.append((a, b, shift + origin, piece.formula))
        elif isinstance(piece, Schedule):
            out.extend(_flatten(piece, a, b, shift + origin))
        else:
            out.append((a, b, shift + origin, float(piece)))
    return out


#: The scalar form's table: the starts of the segments after the first, and per segment
#: ``(origin, formula, hold)`` (``formula`` is ``None`` for a constant ``hold``).
_Table = tuple[
    tuple[int, ...],
    tuple[tuple[int, "Callable[[Any, MathNamespace], Any] | None", float], ...],
]


@attrs.frozen
class _Beyond:
    """The table's last segment, from step 2**64 on: the schedule's segments there, looked up
    per call (steps that large are rare; only endless cycles have segments there)."""

    schedule: Schedule

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return _evaluate(self.schedule, x, xp)


def _multiplier(table: _Table, step: int) -> float:
    if type(step) is not int or step < 0:
        step = v.step_arg("lr_lambda", "step", step)
    starts, segs = table
    origin, fn, hold = segs[bisect_right(starts, step)]
    if fn is None:
        return hold
    try:
        value = fn(step - origin, _SCALAR_FAST)
    except OverflowError:  # a float conversion beyond float64's range: saturate it
        value = fn(step - origin, SCALAR)
    # a spec may hold ints (gamma=1, min_lr_scale=0); the multiplier is always a float
    return value if value.__class__ is float else float(value)


def _table(schedule: Schedule) -> _Table:
    flat = _flatten(schedule, 0, _TABLE_STOP)
    flat.append((_TABLE_STOP, _TABLE_STOP + 1, 0, _Beyond(schedule).formula))
    starts = tuple(a for a, _, _, _ in flat[1:])  # segment i + 1 starts at starts[i]
    segs = tuple(
        (origin, None, fn) if isinstance(fn, float) else (origin, fn, 0.0)
        for _, _, origin, fn in flat
    )
    return starts, segs


def lr_lambda(schedule: Schedule) -> Callable[[int], float]:
    """The schedule's multiplier as a function of the step: ``step -> λ(step)``.

    Defined for every integer step ``>= 0`` (Python or numpy ints, any size; past a schedule's
    end it holds the last value); a float or a bool is a ``TypeError``, a negative step a
    ``ValueError``. It has no state, and it is a ``functools.partial`` of a module-level
    function over the schedule's segments (plain data and bound methods of frozen specs), so
    it pickles and ``torch.optim.lr_scheduler.LambdaLR.state_dict()`` works.

    >>> from optfn.schedules import WarmupCosine, lr_lambda
    >>> f = lr_lambda(WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.1))
    >>> f(0), f(9), f(100), f(2**53)
    (0.1, 1.0, 0.1, 0.1)
    """
    sched = _check_schedule("lr_lambda", schedule)
    return functools.partial(_multiplier, _table(sched))


def lr_curve(schedule: Schedule, num_steps: int, *, start: int = 0) -> FloatArray:
    """The multipliers of steps ``start .. start + num_steps - 1``: ``[λ(start), ...]``.

    A float64 array of shape ``(num_steps,)``, computed vectorized by the same formulas as
    :func:`lr_lambda` and equal to it at every step. Multiply by a group's base LR for its LRs.
    ``start`` (default 0) and ``num_steps`` are integers ``>= 0`` with
    ``num_steps <= MAX_CURVE_LENGTH`` (2**30) and ``start + num_steps <= 2**63``; memory that
    runs out below that limit is a ``SpecError`` too.

    >>> from optfn.schedules import LinearDecay, lr_curve
    >>> c = lr_curve(LinearDecay(decay_steps=1000), 1_000_000)
    >>> c.dtype, c.shape, c[[0, 500, -1]].tolist()
    (dtype('float64'), (1000000,), [1.0, 0.5, 0.0])
    >>> lr_curve(LinearDecay(decay_steps=1000), 3, start=999).round(6).tolist()
    [0.001, 0.0, 0.0]
    """
    sched = _check_schedule("lr_curve", schedule)
    n = v.step_arg("lr_curve", "num_steps", num_steps)
    s0 = v.step_arg("lr_curve", "start", start)
    if n > MAX_CURVE_LENGTH:
        raise SpecError(
            "lr_curve",
            "num_steps",
            f"must be <= {MAX_CURVE_LENGTH:,} (2**30 float64 values, 8 GiB) per call, got {n:,}; "
            "take longer ranges in chunks with start=",
        )
    if s0 + n > _CURVE_STOP:
        raise SpecError(
            "lr_curve",
            "start",
            f"start + num_steps must be <= 2**63 (steps are int64), got {s0} + {n}",
        )
    try:
        out = np.empty(n, dtype=np.float64)
    except MemoryError:
        raise SpecError(
            "lr_curve",
            "num_steps",
            f"{n:,} steps need {8 * n:,} bytes, more than this machine can give; "
            "take the range in chunks with start=",
        ) from None
    for a, b, origin, fn in _flatten(sched, s0, s0 + n):
        if isinstance(fn, float):
            out[a - s0 : b - s0] = fn
        else:
            x = np.arange(a - origin, b - origin, dtype=np.int64)
            out[a - s0 : b - s0] = fn(x, VECTOR)
    return out
