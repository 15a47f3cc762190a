"""LR schedules as frozen specs: each multiplier is a closed form of the step.

A schedule gives the *multiplier* of each param group's own base LR at step ``s`` (so a group
with an LR scale keeps its ratio at every step; floors such as ``min_lr_scale`` are ratios, and
the peak is always 1.0). Two pure functions evaluate it:

* :func:`lr_lambda` returns ``step -> multiplier`` (a picklable ``functools.partial``), the
  function that :func:`optfn.scheduler.make_scheduler` hands to torch;
* :func:`lr_curve` returns the multipliers of steps ``0 .. n-1`` as a float64 array, computed
  vectorized by the same math, equal to :func:`lr_lambda` at every step: bit for bit, by
  construction (the same float64 operations in the same order, through the same numpy
  kernels; see :mod:`optfn.schedules._math`), and proved by the tests.

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
from bisect import bisect_right
from collections.abc import Callable
from typing import Literal

import attrs
import numpy as np

from optfn.errors import SpecError, SpecTypeError
from optfn.schedules import _math as m
from optfn.schedules._math import FloatArray, IntArray
from optfn.specs import checks as v

__all__ = [
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
    "lr_curve",
    "lr_lambda",
]

#: The largest step count a spec accepts: every step count is then exact in float64.
MAX_STEPS = 2**53

#: The cool-down shapes of :class:`WarmupStableDecay`.
DecayShape = Literal["linear", "cosine", "1-sqrt"]

_scale = v.real(0.0, 1.0)


def _steps(minimum: int) -> v.Validator:
    return v.step_count(minimum, MAX_STEPS)


@attrs.frozen(kw_only=True)
class Schedule(abc.ABC):
    """Base of every schedule spec: a frozen, validated description of ``step -> multiplier``.

    Subclasses hold plain numbers (or nested schedules) and delegate their scalar closed form
    and its vectorized twin to :mod:`optfn.schedules._math`. Evaluate them with
    :func:`lr_lambda` and :func:`lr_curve`; ``Schedule`` itself cannot be instantiated.

    >>> from optfn.schedules import Constant, Schedule
    >>> isinstance(Constant(), Schedule)
    True
    """

    @abc.abstractmethod
    def _at(self, s: int) -> float:
        """The multiplier at step ``s`` (a non-negative ``int``)."""

    @abc.abstractmethod
    def _curve(self, s: IntArray) -> FloatArray:
        """The multipliers at the steps ``s`` (a non-negative, ascending ``int64`` array)."""


@attrs.frozen(kw_only=True)
class Constant(Schedule):
    """The base LR at every step: ``λ(s) = 1``.

    >>> from optfn.schedules import Constant, lr_lambda
    >>> lr_lambda(Constant())(10**6)
    1.0
    """

    def _at(self, s: int) -> float:
        return m.constant(s)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.constant_v(s)


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

    def _at(self, s: int) -> float:
        return m.exponential(s, self.gamma, self.steps_per_epoch)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.exponential_v(s, self.gamma, self.steps_per_epoch)


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

    def _at(self, s: int) -> float:
        return m.multi_step(s, self.gamma, self.boundaries)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.multi_step_v(s, self.gamma, self.boundaries)


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

    def _at(self, s: int) -> float:
        return m.warmup_cosine(s, self.warmup_steps, self.total_steps, self.min_lr_scale)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.warmup_cosine_v(s, self.warmup_steps, self.total_steps, self.min_lr_scale)


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

    def _at(self, s: int) -> float:
        return m.linear_warmup(s, self.warmup_steps, self.init_scale)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.linear_warmup_v(s, self.warmup_steps, self.init_scale)


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

    def _at(self, s: int) -> float:
        return m.decay_then_hold(s, self.decay_steps, self.min_lr_scale, "linear")

    def _curve(self, s: IntArray) -> FloatArray:
        return m.decay_then_hold_v(s, self.decay_steps, self.min_lr_scale, "linear")


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

    def _at(self, s: int) -> float:
        return m.decay_then_hold(s, self.decay_steps, self.min_lr_scale, "cosine")

    def _curve(self, s: IntArray) -> FloatArray:
        return m.decay_then_hold_v(s, self.decay_steps, self.min_lr_scale, "cosine")


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

    def _at(self, s: int) -> float:
        return m.decay_then_hold(s, self.decay_steps, self.min_lr_scale, "polynomial", self.power)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.decay_then_hold_v(s, self.decay_steps, self.min_lr_scale, "polynomial", self.power)


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

    def _at(self, s: int) -> float:
        return m.inverse_sqrt(s, self.warmup_steps, self.min_lr_scale)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.inverse_sqrt_v(s, self.warmup_steps, self.min_lr_scale)


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

    def _at(self, s: int) -> float:
        return m.cosine_restarts(s, self.cycle_steps, self.cycle_mult, self.min_lr_scale)

    def _curve(self, s: IntArray) -> FloatArray:
        return m.cosine_restarts_v(s, self.cycle_steps, self.cycle_mult, self.min_lr_scale)


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
    decay_shape: DecayShape = attrs.field(default="linear", validator=v.one_of(*m.DECAY_SHAPES))

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "decay_steps",
                f"warmup_steps + decay_steps must be <= total_steps ({self.total_steps}), "
                f"got {self.warmup_steps} + {self.decay_steps}",
            )

    def _at(self, s: int) -> float:
        return m.warmup_stable_decay(
            s,
            self.warmup_steps,
            self.total_steps,
            self.decay_steps,
            self.min_lr_scale,
            self.decay_shape,
        )

    def _curve(self, s: IntArray) -> FloatArray:
        return m.warmup_stable_decay_v(
            s,
            self.warmup_steps,
            self.total_steps,
            self.decay_steps,
            self.min_lr_scale,
            self.decay_shape,
        )


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
                f"got {len(self.boundaries)}: {self.boundaries!r}",
            )

    def _at(self, s: int) -> float:
        i = bisect_right(self.boundaries, s)
        return self.pieces[i]._at(s - self.boundaries[i - 1] if i else s)

    def _curve(self, s: IntArray) -> FloatArray:
        out = np.empty(s.shape, dtype=np.float64)
        cuts = [0, *np.searchsorted(s, self.boundaries, side="left").tolist(), s.size]
        starts = (0, *self.boundaries)
        for i, sched in enumerate(self.pieces):
            lo, hi = cuts[i], cuts[i + 1]
            if hi > lo:
                out[lo:hi] = sched._curve(s[lo:hi] - starts[i])
        return out


def _check_schedule(owner: str, schedule: object) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise SpecTypeError(
            owner,
            "schedule",
            f"must be a Schedule, got {schedule!r} ({type(schedule).__name__})",
        )
    return schedule


def _multiplier(schedule: Schedule, step: int) -> float:
    if type(step) is not int or step < 0:
        step = v.step_arg("lr_lambda", "step", step)
    # float(): a spec may hold ints (gamma=1, min_lr_scale=0); the multiplier is always a float
    return float(schedule._at(step))


def lr_lambda(schedule: Schedule) -> Callable[[int], float]:
    """The schedule's multiplier as a function of the step: ``step -> λ(step)``.

    Defined for every integer step ``>= 0`` (Python or numpy ints, any size; past a schedule's
    end it holds the last value); a float or a bool is a ``TypeError``, a negative step a
    ``ValueError``. It has no state, and it is a ``functools.partial`` of a module-level
    function, so it pickles and ``torch.optim.lr_scheduler.LambdaLR.state_dict()`` works.

    >>> from optfn.schedules import WarmupCosine, lr_lambda
    >>> f = lr_lambda(WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.1))
    >>> f(0), f(9), f(100), f(2**53)
    (0.1, 1.0, 0.1, 0.1)
    """
    return functools.partial(_multiplier, _check_schedule("lr_lambda", schedule))


def lr_curve(schedule: Schedule, num_steps: int) -> FloatArray:
    """The multipliers of steps ``0 .. num_steps - 1``: ``[λ(0), ..., λ(num_steps - 1)]``.

    A float64 array of shape ``(num_steps,)``, computed vectorized by the same math as
    :func:`lr_lambda` and equal to it at every step. Multiply by a group's base LR for its LRs.

    >>> from optfn.schedules import LinearDecay, lr_curve
    >>> c = lr_curve(LinearDecay(decay_steps=1000), 1_000_000)
    >>> c.dtype, c.shape, c[[0, 500, -1]].tolist()
    (dtype('float64'), (1000000,), [1.0, 0.5, 0.0])
    """
    sched = _check_schedule("lr_curve", schedule)
    n = v.step_arg("lr_curve", "num_steps", num_steps)
    out = sched._curve(np.arange(n, dtype=np.int64))
    return np.ascontiguousarray(out, dtype=np.float64)
