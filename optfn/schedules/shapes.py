"""LR schedules as frozen specs: each multiplier is a closed form of the step.

A schedule gives the *multiplier* of each param group's own base LR at step ``s`` (so a group
with an LR scale keeps its ratio at every step; floors such as ``min_lr_scale`` are ratios, and
the peak is always 1.0). Two pure functions evaluate it:

* :func:`lr_lambda` returns ``step -> multiplier`` (a picklable ``functools.partial``), the
  function that :func:`optfn.make_scheduler` hands to torch;
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

Conventions (one vocabulary everywhere): ``warmup_steps`` ramp up by default with the
epoch-based builders' rule ``max(1e-8, (s + 1) / W)`` (the ramp reaches 1.0 on its last step
``W - 1``, and step 0 is never 0), or by another ``warmup_ramp``: ``"s/W"`` (torch, Hugging
Face, optax), ``"(s+1)/(W+1)"`` (nanoGPT), ``"s/(W-1)"`` (DINOv2's ``np.linspace``);
``decay_steps`` is the length of a decay, which goes from exactly 1.0 to exactly its floor
``min_lr_scale`` and then holds; ``total_steps`` is the step at which a whole schedule
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
from typing import Any, Literal

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
from optfn.schedules.pieces import Ramp
from optfn.schedules.xp import SCALAR, VECTOR, MathNamespace
from optfn.specs import checks as v
from optfn.specs.render import brief

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
    "WarmupRamp",
    "WarmupStableDecay",
]

#: The four warm-up conventions, by their formula for step ``s < W`` (from step ``W`` on, the
#: value is what follows the warm-up, 1.0 where that is a hold or a decay):
#:
#: * ``"(s+1)/W"``: the epoch-based builders' (step 0 already gets ``1/W``; 1.0 at step ``W - 1``);
#: * ``"s/W"``: torch's, Hugging Face's and optax's (step 0 gets exactly the start value; the
#:   ramp reaches 1.0 at step ``W``, where what follows takes over);
#: * ``"(s+1)/(W+1)"``: nanoGPT's ``learning_rate * (it + 1) / (warmup_iters + 1)`` (step
#:   ``W - 1`` gets ``W / (W + 1)``; 1.0 at step ``W``); ``W < 2**53``, so that ``W + 1`` is
#:   exact;
#: * ``"s/(W-1)"``: DINOv2's ``np.linspace(0, v, W)[s]`` (step 0 gets exactly the start value,
#:   step ``W - 1`` exactly 1.0); ``W >= 2``.
WarmupRamp = Literal["(s+1)/W", "s/W", "(s+1)/(W+1)", "s/(W-1)"]
_RAMPS = ("(s+1)/W", "s/W", "(s+1)/(W+1)", "s/(W-1)")
_DEFAULT_RAMP: WarmupRamp = "(s+1)/W"
_RAMP_CHECK = v.one_of(*_RAMPS)
#: The conventions whose warm-up hands over to what follows at ``W`` (not ``W - 1``).
_PEAK_AT_W = ("s/W", "(s+1)/(W+1)")


def _check_ramp_steps(owner: str, w: int, ramp: WarmupRamp) -> None:
    """Refuse a warm-up length its convention cannot compute (``w = 0``, no warm-up, is the
    caller's business)."""
    if ramp == "s/(W-1)" and w == 1:
        raise SpecError(
            owner,
            "warmup_steps",
            "must be >= 2 with warmup_ramp='s/(W-1)' (np.linspace's step divides by W - 1; "
            "its one point would be the start value, never 1.0), got 1",
        )
    if ramp == "(s+1)/(W+1)" and w >= MAX_STEPS:
        raise SpecError(
            owner,
            "warmup_steps",
            f"must be < 2**53 with warmup_ramp='(s+1)/(W+1)' (W + 1 must be exact in float64), "
            f"got {brief(w)}",
        )


def _warmup_segments(
    w: int, ramp: WarmupRamp, shape: DecayShape = "linear"
) -> tuple[Segment, ...]:
    """The warm-up of a compound shape: ``w`` steps from 0 to 1 along ``shape``, by ``ramp``."""
    if not w:
        return ()
    if shape == "linear":
        return ((0, 0, LinearWarmup(warmup_steps=w, warmup_ramp=ramp)),)
    # the shape's rise over the ramp's fraction p: s / W ("s/W"); (s + 1) / W, the ramp one
    # step ahead (its step s + 1 at step s), so 1.0 lands on W - 1 ("(s+1)/W"); (s + 1) /
    # (W + 1) ("(s+1)/(W+1)"); s / (W - 1), exactly 1.0 at W - 1, held there ("s/(W-1)")
    steps, origin = {"s/W": (w, 0), "(s+1)/W": (w, -1), "(s+1)/(W+1)": (w + 1, -1)}.get(
        ramp, (w - 1, 0)
    )
    rise = Ramp(steps=steps, start_scale=0.0, end_scale=1.0, shape=shape)
    return ((0, origin, rise),)


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


#: A cycle length past which torch's ``pi * T_cur / T_i`` would overflow a float64.
_HUGE_CYCLE = 2**1000


def _sgdr_fall(x: Any, d: int, alpha: float, xp: MathNamespace) -> Any:
    # torch's CosineAnnealingWarmRestarts, op for op: eta_min + (base - eta_min) *
    # (1 + cos(pi * T_cur / T_i)) / 2, with base = 1
    if d < _HUGE_CYCLE:
        theta = math.pi * xp.to_float(x) / float(d)
    else:  # a cycle beyond float64's range (cycle_mult > 1, astronomical steps): x / d first
        theta = math.pi * xp.ratio(x, d)
    return alpha + (1.0 - alpha) * (1.0 + xp.cos(theta)) / 2.0


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
    """Multiply by ``gamma`` once per epoch: ``λ(s) = gamma ** (s // k)``, ``k =
    steps_per_epoch``; or smoothly, ``gamma ** (s / k)`` (``staircase=False``); never below
    ``end_scale``: ``λ(s) = max(end_scale, ...)``.

    This is what the spec-method API's ``lr_decay_gamma`` means (torch's ``ExponentialLR``
    stepped once per epoch) and, with ``steps_per_epoch=k``, torch's
    ``StepLR(step_size=k, gamma=gamma)``; optax's
    ``exponential_decay(transition_steps=k, decay_rate=gamma, staircase=..., end_value=...)``
    as a multiplier of its ``init_value``. ``gamma`` is in (0, 1]; ``steps_per_epoch >= 1``;
    ``end_scale`` in [0, 1]. With ``end_scale = 0`` it has no end: it tends to 0.

    >>> from optfn.schedules import ExponentialDecay, lr_curve
    >>> lr_curve(ExponentialDecay(gamma=0.5, steps_per_epoch=2), 6).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    >>> lr_curve(ExponentialDecay(gamma=0.25, steps_per_epoch=2, staircase=False,
    ...                           end_scale=0.2), 4).tolist()
    [1.0, 0.5, 0.25, 0.2]
    """

    gamma: float = attrs.field(validator=v.real(0.0, 1.0, lo_open=True))
    steps_per_epoch: int = attrs.field(default=1, validator=step_field(1))
    staircase: bool = attrs.field(default=True, validator=v.boolean)
    end_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        k = int(self.steps_per_epoch)
        # optax: rate ** (count / transition_steps), a float quotient; staircase: floored
        exponent = xp.to_float(x // k) if self.staircase else xp.ratio(x, k)
        out = xp.pow(float(self.gamma), exponent)
        return xp.maximum(float(self.end_scale), out) if self.end_scale else out


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
    """Linear warmup then cosine decay (the epoch-based builders' formula), with
    ``W = warmup_steps``, ``S = total_steps``, ``α = min_lr_scale``:

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W`` (``s / W`` with
      ``warmup_ramp="s/W"``: Hugging Face's ``get_cosine_schedule_with_warmup`` and
      ``cosine_with_min_lr``, bit for bit up to ``S``; nanoGPT's ``(s + 1) / (W + 1)`` with
      ``"(s+1)/(W+1)"``, its ``get_lr`` with ``lr_decay_iters = S``; DINOv2's
      ``np.linspace(0, 1, W)[s]`` with ``"s/(W-1)"``, its ``CosineScheduler``; see
      :class:`LinearWarmup`);
    * ``λ(s) = α + (1 - α)/2 · (1 + cos(π t))`` for ``s >= W``, with
      ``t = min(1, (s - W) / max(1, S - W))``.

    The formula leaves one thing open, decided here: past ``S`` an unclamped ``t`` would
    exceed 1 and the cosine would climb back up to 1; optfn clamps ``t`` to 1, so the
    multiplier holds at ``α`` from step ``S`` on. Otherwise the formula is the builders', edge
    included: when ``W == S`` the cosine phase has no length, so ``λ(S) = 1`` and
    ``λ(s) = α`` for every ``s > S``. Requires ``0 <= W <= S``, ``S >= 1``, ``α`` in [0, 1].

    >>> from optfn.schedules import WarmupCosine, lr_curve
    >>> lr_curve(WarmupCosine(warmup_steps=2, total_steps=6, min_lr_scale=0.1), 8).round(4)
    ... # doctest: +NORMALIZE_WHITESPACE
    array([0.5  , 1.   , 1.   , 0.8682, 0.55  , 0.2318, 0.1  , 0.1  ])
    >>> nanogpt = WarmupCosine(warmup_steps=3, total_steps=7, warmup_ramp="(s+1)/(W+1)")
    >>> lr_curve(nanogpt, 8).round(4).tolist()
    [0.25, 0.5, 0.75, 1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    warmup_steps: int = attrs.field(validator=step_field(0))
    total_steps: int = attrs.field(validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)
    warmup_ramp: WarmupRamp = attrs.field(default=_DEFAULT_RAMP, validator=_RAMP_CHECK)

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "warmup_steps",
                f"must be <= total_steps ({self.total_steps}), got {self.warmup_steps}",
            )
        _check_ramp_steps(type(self).__name__, self.warmup_steps, self.warmup_ramp)

    def _segments(self) -> tuple[Segment, ...]:
        w = self.warmup_steps
        decay = CosineDecay(
            decay_steps=max(1, self.total_steps - w), min_lr_scale=self.min_lr_scale
        )
        return (*_warmup_segments(w, self.warmup_ramp), (w, w, decay))


@attrs.frozen(kw_only=True)
class LinearWarmup(Schedule):
    """A linear ramp to 1.0 (the warmup piece of a :class:`Join`), ``W = warmup_steps``,
    ``i = init_scale``, by one of four conventions (``warmup_ramp``):

    * ``"(s+1)/W"`` (default, the epoch-based builders' ramp):
      ``λ(s) = i + (1 - i) · max(1e-8, (s + 1) / W)`` for ``s < W``, so step 0 already gets
      ``i + (1 - i)/W``, never ``i`` itself, and ``λ(W - 1)`` is exactly 1.0;
    * ``"s/W"`` (torch's ``LinearLR(start_factor=i, total_iters=W)``, Hugging Face's and
      optax's warm-ups): ``λ(s) = i + (1 - i) · s / W`` for ``s < W``, exactly ``i`` at step 0;
    * ``"(s+1)/(W+1)"`` (nanoGPT's ``get_lr``: ``learning_rate * (it + 1) / (warmup_iters +
      1)``): ``λ(s) = i + (1 - i) · (s + 1) / (W + 1)`` for ``s < W``, so ``λ(W - 1) = W / (W
      + 1)`` (with ``i = 0``); nanoGPT multiplies by the LR before it divides, so its LR is
      ``base · λ(s)`` within an ulp or two (1e-15 relative); ``W < 2**53``;
    * ``"s/(W-1)"`` (DINOv2's ``np.linspace(start, v, W)``): ``λ(s) = i + s · ((1 - i) / (W -
      1))`` for ``s < W - 1``, numpy's arithmetic op for op, so ``λ`` equals
      ``np.linspace(i, 1.0, W)`` bit for bit, and ``λ(W - 1)`` is exactly 1.0 (numpy sets the
      endpoint too); for a base value ``v != 1``, ``v · λ(s)`` is within an ulp (2.3e-16
      relative) of ``np.linspace(0, v, W)[s]``, which rounds ``v / (W - 1)`` instead of
      ``1 / (W - 1)``; ``W >= 2``;
    * ``λ(s) = 1`` for ``s >= W``.

    Join it at boundary ``W`` with a decay that starts at 1.0 for a schedule without a jump.

    >>> from optfn.schedules import LinearWarmup, lr_curve
    >>> lr_curve(LinearWarmup(warmup_steps=4), 6).tolist()
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    >>> lr_curve(LinearWarmup(warmup_steps=4, warmup_ramp="s/W"), 6).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> lr_curve(LinearWarmup(warmup_steps=4, warmup_ramp="(s+1)/(W+1)"), 6).tolist()
    [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    >>> lr_curve(LinearWarmup(warmup_steps=5, warmup_ramp="s/(W-1)"), 6).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    warmup_steps: int = attrs.field(validator=step_field(1))
    init_scale: float = attrs.field(default=0.0, validator=scale_field)
    warmup_ramp: WarmupRamp = attrs.field(default=_DEFAULT_RAMP, validator=_RAMP_CHECK)

    def __attrs_post_init__(self) -> None:
        _check_ramp_steps(type(self).__name__, self.warmup_steps, self.warmup_ramp)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        # the one warmup ramp of every shape: init_scale = 0 gives the builders' ramp exactly
        # the hottest scalar path, so _tail is written out and the step meets a float by
        # promotion (x + 1.0 converts x as xp.to_float does; x < W <= 2**53 here)
        init, ramp, w = self.init_scale, self.warmup_ramp, self.warmup_steps
        if ramp == "(s+1)/W":
            return init + (1.0 - init) * xp.maximum(RAMP_FLOOR, (x + 1.0) / w)
        if ramp == "s/W":  # HF: float(s) / float(W), exactly 0 at step 0
            return init + (1.0 - init) * xp.ratio(x, w)
        if ramp == "(s+1)/(W+1)":  # nanoGPT: (it + 1) / (warmup_iters + 1), W + 1 exact
            return init + (1.0 - init) * ((x + 1.0) / (w + 1))
        # np.linspace(init, 1.0, W): step = (stop - start) / (num - 1), then i * step + start
        return xp.to_float(x) * ((1.0 - init) / (w - 1)) + init

    def segments(self, stop: int) -> Sequence[Segment]:
        w = self.warmup_steps
        if self.warmup_ramp == "s/(W-1)":  # exactly 1.0 from W - 1 on, as np.linspace's end
            return ((0, 0, self), (w - 1, w - 1, 1.0))
        return ((0, 0, self), (w, w, 1.0))


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
    ``α = min_lr_scale``, ``τ = timescale`` (default ``W``), by the warm-up convention
    ``warmup_ramp``:

    * ``"(s+1)/W"`` (default, the epoch-based builders'): ``λ(s) = max(1e-8, (s + 1) / W)``
      for ``s < W`` (1.0 at ``s = W - 1``), then ``λ(s) = max(α, sqrt(W / (s + 1)))`` (with a
      timescale, ``sqrt(τ / (s + 1 + τ - W))``);
    * ``"s/W"`` (Hugging Face's ``get_inverse_sqrt_schedule``, bit for bit):
      ``λ(s) = s / W`` for ``s < W``, then ``λ(s) = max(α, 1 / sqrt((s + τ - W) / τ))``, 1.0
      at ``s = W``. ``W = 0`` is allowed here (no warm-up), with an explicit ``timescale``
      (Hugging Face then uses 10,000);
    * ``"(s+1)/(W+1)"`` (nanoGPT's ramp, see :class:`LinearWarmup`): that ramp for ``s < W``,
      then the decay of ``"s/W"`` (1.0 at ``s = W``, where the ramp hands over); ``W = 0``
      as with ``"s/W"``;
    * ``"s/(W-1)"`` (DINOv2's ``np.linspace``): that ramp for ``s < W`` (1.0 at ``s = W -
      1``), then the decay of ``"(s+1)/W"`` (1.0 at ``s = W - 1``, the ramp's last step);
      ``W >= 2``.

    With ``α = 0`` it never ends (it tends to 0); with ``α > 0`` it holds ``α`` exactly from
    the step where the inverse square root falls below it.

    >>> from optfn.schedules import InverseSqrt, lr_curve
    >>> lr_curve(InverseSqrt(warmup_steps=4, min_lr_scale=0.5), 20)[[0, 3, 7, 15, 19]].tolist()
    [0.25, 1.0, 0.7071067811865476, 0.5, 0.5]
    >>> lr_curve(InverseSqrt(warmup_steps=4, warmup_ramp="s/W"), 20)[[0, 4, 16]].tolist()
    [0.0, 1.0, 0.5]
    >>> lr_curve(InverseSqrt(warmup_steps=4, warmup_ramp="(s+1)/(W+1)"), 20)[[0, 4, 16]].tolist()
    [0.2, 1.0, 0.5]
    """

    warmup_steps: int = attrs.field(validator=step_field(0))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)
    timescale: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(step_field(1))
    )
    warmup_ramp: WarmupRamp = attrs.field(default=_DEFAULT_RAMP, validator=_RAMP_CHECK)

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps == 0 and self.warmup_ramp not in _PEAK_AT_W:
            raise SpecError(
                type(self).__name__,
                "warmup_steps",
                f"must be >= 1 with warmup_ramp={self.warmup_ramp!r} (its decay is 1.0 at "
                "step W - 1), got 0; for no warm-up use warmup_ramp='s/W' and a timescale",
            )
        _check_ramp_steps(type(self).__name__, self.warmup_steps, self.warmup_ramp)
        if self.warmup_steps == 0 and self.timescale is None:
            raise SpecError(
                type(self).__name__,
                "timescale",
                "is required when warmup_steps = 0 (it defaults to warmup_steps); Hugging "
                "Face's get_inverse_sqrt_schedule uses 10000 then",
            )

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        w = self.warmup_steps  # an int, promoted to float64 by the division in both forms
        tau = self.timescale
        if self.warmup_ramp in _PEAK_AT_W:  # 1.0 at step W
            # HF: 1.0 / math.sqrt((s + shift) / timescale), shift = timescale - W (exact ints)
            t = w if tau is None else tau
            decay = 1.0 / xp.sqrt((xp.to_float(x) + float(t - w)) / float(t))
        elif tau is None:
            # on the absolute step s (origin 0): sqrt(W / (s + 1)); float(s) + 1.0, as s may
            # exceed 2**53, where s + 1 is not a float (and a huge int saturates to inf: 0)
            decay = xp.sqrt(w / (xp.to_float(x) + 1.0))
        else:
            decay = xp.sqrt(tau / (xp.to_float(x) + float(1 + tau - w)))
        return xp.maximum(self.min_lr_scale, decay)

    def segments(self, stop: int) -> Sequence[Segment]:
        return cached_segments(self)

    def _segments(self) -> tuple[Segment, ...]:
        w = self.warmup_steps
        return (*_warmup_segments(w, self.warmup_ramp), (w, 0, self))


@attrs.frozen(kw_only=True)
class CosineRestarts(Schedule):
    """Cosine with warm restarts (SGDR): cycles of ``T_i = cycle_steps · cycle_mult**i`` steps,
    each a half-cosine from 1.0 at its first step, ``p`` = the step within its cycle:

    * ``cycle_ends_on_floor=True`` (default): each cycle ends exactly on ``α = min_lr_scale``
      at its last step: ``λ(s) = α + (1 - α)/2 · (1 + cos(π · p / (T_i - 1)))``
      (``cycle_steps >= 2``);
    * ``cycle_ends_on_floor=False``: torch's ``CosineAnnealingWarmRestarts(T_0=cycle_steps,
      T_mult=cycle_mult, eta_min=α·lr)``, computed as torch does:
      ``λ(s) = α + (1 - α) · (1 + cos(π · p / T_i)) / 2``, which restarts one step before it
      would reach ``α`` (optax's ``sgdr_schedule`` and Hugging Face's hard restarts follow
      the same rule; ``cycle_steps >= 1``).

    It restarts forever (each restart jumps back up to 1.0 by design); ``cycle_mult >= 1``.

    >>> from optfn.schedules import CosineRestarts, lr_curve
    >>> lr_curve(CosineRestarts(cycle_steps=3, cycle_mult=2), 10).round(3).tolist()
    [1.0, 0.5, 0.0, 1.0, 0.905, 0.655, 0.345, 0.095, 0.0, 1.0]
    >>> lr_curve(CosineRestarts(cycle_steps=2, cycle_ends_on_floor=False), 4).tolist()
    [1.0, 0.5, 1.0, 0.5]
    """

    cycle_steps: int = attrs.field(validator=step_field(1))
    cycle_mult: int = attrs.field(default=1, validator=step_field(1))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)
    cycle_ends_on_floor: bool = attrs.field(default=True, validator=v.boolean)

    def __attrs_post_init__(self) -> None:
        if self.cycle_ends_on_floor and self.cycle_steps < 2:
            raise SpecError(
                type(self).__name__,
                "cycle_steps",
                f"must be >= 2 when each cycle ends on its floor, got {brief(self.cycle_steps)} "
                "(cycle_ends_on_floor=False, torch's SGDR, allows 1)",
            )

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        if self.cycle_mult != 1:  # cycles of growing length: segments
            return evaluate_segments(self, x, xp)
        first = int(self.cycle_steps)
        if self.cycle_ends_on_floor:
            return _cosine_fall(x % first, first - 1, self.min_lr_scale, xp)
        return _sgdr_fall(x % first, first, self.min_lr_scale, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        if self.cycle_mult == 1:
            return ((0, 0, self),)
        out: list[Segment] = []
        start, length = 0, int(self.cycle_steps)
        while not out or start < stop:  # cycles of first * mult**i steps, up to stop
            if self.cycle_ends_on_floor:
                fall = _Fall(
                    fall=_cosine_fall, steps=length - 1, floor=self.min_lr_scale, hold=False
                )
            else:
                fall = _Fall(fall=_sgdr_fall, steps=length, floor=self.min_lr_scale, hold=False)
            out.append((start, start, fall))
            start += length
            length *= int(self.cycle_mult)
        return out


@attrs.frozen(kw_only=True)
class WarmupStableDecay(Compound):
    """Warmup, a stable phase at 1.0, then a cool-down to ``α = min_lr_scale`` ending at
    ``total_steps`` (WSD), with ``W = warmup_steps``, ``S = total_steps``, ``D = decay_steps``:

    * ``λ(s) = max(1e-8, (s + 1) / max(1, W))`` for ``s < W``, or by another
      ``warmup_ramp`` (``s / W``, ``(s + 1) / (W + 1)``, ``s / (W - 1)``: see
      :class:`LinearWarmup`); with ``warmup_shape`` ``"cosine"`` or ``"1-sqrt"`` the
      warm-up rises along ``(1 - cos(π p))/2`` or ``1 - sqrt(1 - p)`` of that fraction ``p``
      (Hugging Face's ``warmup_type``);
    * ``λ(s) = 1`` for ``W <= s < S - D``;
    * ``λ(s) = α + (1 - α) · f(t)`` for ``s >= S - D``, ``t = (min(s, S) - (S - D)) / D``, with
      ``f(t) = 1 - t`` (``decay_shape="linear"``), ``(1 + cos(π t))/2`` (``"cosine"``) or
      ``1 - sqrt(t)`` (``"1-sqrt"``); it holds ``α`` from step ``S`` on.

    Requires ``W + D <= S``. ``D = 0`` is no cool-down: the warm-up, then 1.0 to the end and
    after (torchtitan's WSD when its warm-up fills the run); ``α`` and ``decay_shape`` then
    play no part. With ``D = S - W`` and ``"cosine"`` it equals :class:`WarmupCosine` for
    ``W < S``. With ``warmup_ramp="s/W"`` it is Hugging Face's ``get_wsd_schedule``
    (``min_lr_ratio = α``, which Hugging Face's warm-up also starts from: for ``α > 0`` there,
    see ``optfn.schedule_from_hf``), bit for bit.

    >>> from optfn.schedules import WarmupStableDecay, lr_curve
    >>> wsd = WarmupStableDecay(warmup_steps=2, total_steps=8, decay_steps=4,
    ...                         decay_shape="1-sqrt")
    >>> lr_curve(wsd, 10).round(3).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.293, 0.134, 0.0, 0.0]
    >>> lr_curve(WarmupStableDecay(warmup_steps=4, total_steps=4, decay_steps=0), 6).tolist()
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """

    warmup_steps: int = attrs.field(validator=step_field(0))
    total_steps: int = attrs.field(validator=step_field(1))
    decay_steps: int = attrs.field(validator=step_field(0))
    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)
    decay_shape: DecayShape = attrs.field(default="linear", validator=v.one_of(*_FALLS))
    warmup_ramp: WarmupRamp = attrs.field(default=_DEFAULT_RAMP, validator=_RAMP_CHECK)
    warmup_shape: DecayShape = attrs.field(default="linear", validator=v.one_of(*_FALLS))

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise SpecError(
                type(self).__name__,
                "decay_steps",
                f"warmup_steps + decay_steps must be <= total_steps ({self.total_steps}), "
                f"got {self.warmup_steps} + {self.decay_steps}",
            )
        _check_ramp_steps(type(self).__name__, self.warmup_steps, self.warmup_ramp)

    def _segments(self) -> tuple[Segment, ...]:
        w, d = self.warmup_steps, self.decay_steps
        start = self.total_steps - d
        out = list(_warmup_segments(w, self.warmup_ramp, self.warmup_shape))
        if start > w or not d:  # the stable phase; with no cool-down, it holds forever
            out.append((w, w, 1.0))
        if d:
            fall = _Fall(fall=_FALLS[self.decay_shape], steps=d, floor=self.min_lr_scale)
            out.append((start, start, fall))
        return tuple(out)
