"""Cyclical policies as closed forms: torch's ``OneCycleLR`` and ``CyclicLR``, for the LR and,
inverted, for momentum (or Adam's ``beta1``).

Each is a multiplier of a param group's base value, like every optfn schedule, written with
torch's own arithmetic so that stepping torch's scheduler and evaluating the closed form agree
to rounding. The group's base value is the cycle's peak: a group's LR is ``max_lr``, its
momentum (or ``beta1``) ``max_momentum``. Use the momentum shapes as the ``momentum`` or
``beta1`` entry of :class:`~optfn.schedules.hyper.HyperSchedules`.

>>> from optfn.schedules import OneCycle, lr_curve
>>> lr_curve(OneCycle(total_steps=10, pct_start=0.3), 10).round(3).tolist()
[0.04, 0.52, 1.0, 0.95, 0.812, 0.611, 0.389, 0.188, 0.05, 0.0]
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from optfn.errors import SpecError
from optfn.schedules.base import (
    Compound,
    Schedule,
    Segment,
    scale_field,
    step_field,
)
from optfn.schedules.xp import SCALAR, MathNamespace
from optfn.specs import checks as v

__all__ = ["Cyclic", "CyclicMomentum", "OneCycle", "OneCycleMomentum"]

#: ``OneCycleLR``'s anneals between two levels.
AnnealStrategy = Literal["cos", "linear"]
#: ``CyclicLR``'s policies.
CyclicMode = Literal["triangular", "triangular2", "exp_range"]


@attrs.frozen(kw_only=True)
class _Phase(Schedule):
    """One phase of a one-cycle policy, evaluated at absolute steps (origin 0) with torch's
    arithmetic: ``pct = (s - start_step) / (end_step - start_step)`` (float steps), then its
    cosine ``end + (start - end) / 2 * (cos(pi pct) + 1)`` or linear
    ``(end - start) * pct + start`` anneal."""

    start_step: float
    end_step: float
    start: float
    end: float
    cos: bool

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        pct = (xp.to_float(x) - self.start_step) / (self.end_step - self.start_step)
        if self.cos:
            cos_out = xp.cos(math.pi * pct) + 1.0
            return self.end + (self.start - self.end) / 2.0 * cos_out
        return (self.end - self.start) * pct + self.start


def _phase_segments(
    total: int, ends: Sequence[float], levels: Sequence[float], cos: bool
) -> tuple[Segment, ...]:
    """torch's phases: phase ``i`` runs from level ``levels[i]`` to ``levels[i + 1]`` over the
    steps ``s <= ends[i]`` after the previous phase (the last phase up to ``total - 1``), then
    the value of step ``total - 1`` holds from step ``total`` on."""
    out: list[Segment] = []
    start_step = 0.0
    first = 0
    phase = None
    for i, end_step in enumerate(ends):
        phase = _Phase(
            start_step=start_step, end_step=end_step, start=levels[i], end=levels[i + 1], cos=cos
        )
        out.append((first, 0, phase))
        first = max(first, math.floor(end_step) + 1)
        start_step = end_step
    assert phase is not None
    # the value at step total - 1 (the last level, to rounding: torch's linear anneal may miss
    # it by an ulp), so the curve never moves after its last step
    out.append((total, total, float(phase.formula(total - 1, SCALAR))))
    return tuple(out)


def _check_phases(owner: str, total: int, pct_start: float, three_phase: bool) -> list[float]:
    """The phase ends ``OneCycleLR`` computes, checked to be strictly increasing: a phase with
    no steps is refused (torch skips one that ends before it starts, and divides by zero on
    one of exactly no length)."""
    ends = [float(pct_start * total) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total) - 2)
    ends.append(float(total - 1))
    previous = 0.0
    for i, end in enumerate(ends):
        if not end > previous:
            raise SpecError(
                owner,
                "pct_start",
                f"phase {i + 1} of {len(ends)} has no length with total_steps={total} and "
                f"pct_start={pct_start} (it would end at step {end:g}, after {previous:g}); "
                "raise total_steps or move pct_start "
                + ("below 0.5" if three_phase and i == 2 else "inside (1/total_steps, 1)"),
            )
        previous = end
    return ends


_PCT = v.real(0.0, 1.0, lo_open=True, hi_open=True)
_DIV = v.real(1.0, None)


@attrs.frozen(kw_only=True)
class _OneCyclePhases(Compound):
    """What :class:`OneCycle` and :class:`OneCycleMomentum` share: torch's phases and anneal;
    a subclass gives the levels the phases run between."""

    total_steps: int = attrs.field(validator=step_field(2))
    pct_start: float = attrs.field(default=0.3, validator=_PCT)
    anneal_strategy: AnnealStrategy = attrs.field(
        default="cos", validator=v.one_of("cos", "linear")
    )
    three_phase: bool = attrs.field(default=False, validator=v.boolean)

    def __attrs_post_init__(self) -> None:
        _check_phases(type(self).__name__, self.total_steps, self.pct_start, self.three_phase)

    @abc.abstractmethod
    def _levels(self) -> tuple[float, ...]:
        """The level at the start and at the end of each phase."""

    def _segments(self) -> tuple[Segment, ...]:
        total = self.total_steps
        ends = _check_phases(type(self).__name__, total, self.pct_start, self.three_phase)
        return _phase_segments(total, ends, self._levels(), self.anneal_strategy == "cos")


@attrs.frozen(kw_only=True)
class OneCycle(_OneCyclePhases):
    """torch's ``OneCycleLR`` LR, as a multiplier of ``max_lr`` (the group's LR).

    With ``T = total_steps``: from ``1/div_factor`` up to 1 over the steps up to
    ``pct_start·T - 1``, then down to ``1/(div_factor·final_div_factor)`` at step ``T - 1``
    (``three_phase``: up, back down to ``1/div_factor`` at ``2·pct_start·T - 2``, then to the
    floor), each phase a cosine (``"cos"``) or linear anneal, computed as torch does.

    Matches ``OneCycleLR(opt, max_lr, total_steps=T, ...)`` stepped side by side at steps
    ``0 .. T - 1`` (tests: 10,000 steps, ≤ 1e-12 relative; with ``"linear"`` torch's
    ``(end - start)·pct + start`` cancels near a tiny end, and there the bound is 1e-15 of
    the peak). torch refuses to step past ``T`` and extrapolates at step ``T``; optfn holds
    its value of step ``T - 1`` (the floor) from step ``T`` on. ``div_factor`` and
    ``final_div_factor`` are ``>= 1`` (so the multiplier peaks at 1, like every optfn shape;
    torch accepts smaller factors), and ``pct_start`` must leave every phase at least one
    step.

    >>> from optfn.schedules import OneCycle, lr_lambda
    >>> f = lr_lambda(OneCycle(total_steps=100, div_factor=25.0, final_div_factor=1e4))
    >>> round(f(0), 12), f(29), f(100)
    (0.04, 1.0, 4e-06)
    """

    div_factor: float = attrs.field(default=25.0, validator=_DIV)
    final_div_factor: float = attrs.field(default=1e4, validator=_DIV)

    def _levels(self) -> tuple[float, ...]:
        initial = 1.0 / self.div_factor
        final = initial / self.final_div_factor
        return (initial, 1.0, initial, final) if self.three_phase else (initial, 1.0, final)


@attrs.frozen(kw_only=True)
class OneCycleMomentum(_OneCyclePhases):
    """torch's ``OneCycleLR`` momentum cycle (``cycle_momentum=True``), as a multiplier of
    ``max_momentum`` (the group's momentum, or Adam's ``beta1``): from 1 down to
    ``base_momentum / max_momentum`` while :class:`OneCycle` rises, and back while it falls
    (``three_phase``: then it holds 1). Same phases, anneal and end as :class:`OneCycle`.

    >>> from optfn.schedules import OneCycleMomentum, lr_lambda
    >>> f = lr_lambda(OneCycleMomentum(total_steps=100, base_momentum=0.85, max_momentum=0.95))
    >>> round(0.95 * f(0), 12), round(0.95 * f(29), 12), round(0.95 * f(99), 12)
    (0.95, 0.85, 0.95)
    """

    base_momentum: float = attrs.field(default=0.85, validator=v.real(0.0, 1.0))
    max_momentum: float = attrs.field(default=0.95, validator=v.real(0.0, 1.0, lo_open=True))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _check_momenta(self)

    def _levels(self) -> tuple[float, ...]:
        low = self.base_momentum / self.max_momentum
        return (1.0, low, 1.0, 1.0) if self.three_phase else (1.0, low, 1.0)


def _check_momenta(spec: Any) -> None:
    if spec.base_momentum > spec.max_momentum:
        raise SpecError(
            type(spec).__name__,
            "base_momentum",
            f"must be <= max_momentum ({spec.max_momentum}), got {spec.base_momentum}",
        )


_HUGE_STEP = 2.0**62


def _cycle_height(spec: Any, x: Any, xp: MathNamespace) -> Any:
    """``CyclicLR``'s ``scale_factor · scale_fn``: 0 at a cycle's start, 1 at its peak."""
    up, down = _step_sizes(spec)
    # exact: the spec refuses a cycle length that no float holds, so 0 < ratio < 1 (a ratio
    # that rounded to 1 would divide by ratio - 1 = 0 below)
    total = float(up + down)
    ratio = up / total
    # steps as floats, as torch has them; beyond 2**62 (no float position within a cycle is
    # meaningful there) clamped, so that an astronomical step gives a value, never a NaN
    q = xp.minimum(xp.to_float(x), _HUGE_STEP) / total
    cycle = xp.floor(1.0 + q)
    pos = 1.0 + q - cycle
    # torch's branch (x <= ratio ? x / ratio : (x - 1) / (ratio - 1)) is the smaller of the two
    factor = xp.minimum(pos / ratio, (pos - 1.0) / (ratio - 1.0))
    if spec.mode == "triangular":
        return factor
    if spec.mode == "triangular2":
        # torch's 1 / 2**(cycle - 1), exactly (powers of two), without overflowing: torch
        # itself raises OverflowError from cycle 1025 on
        return factor * xp.pow(0.5, cycle - 1.0)
    return factor * xp.pow(float(spec.gamma), xp.to_float(x))


def _step_sizes(spec: Any) -> tuple[int, int]:
    up = int(spec.step_size_up)
    return up, up if spec.step_size_down is None else int(spec.step_size_down)


@attrs.frozen(kw_only=True)
class _CyclicTriangle(Schedule):
    """What :class:`Cyclic` and :class:`CyclicMomentum` share: ``CyclicLR``'s triangle."""

    step_size_up: int = attrs.field(default=2000, validator=step_field(1))
    step_size_down: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(step_field(1))
    )
    mode: CyclicMode = attrs.field(
        default="triangular", validator=v.one_of("triangular", "triangular2", "exp_range")
    )
    gamma: float = attrs.field(default=1.0, validator=v.real(0.0, 1.0, lo_open=True))

    def __attrs_post_init__(self) -> None:
        up, down = _step_sizes(self)
        if float(up + down) != up + down:
            raise SpecError(
                type(self).__name__,
                "step_size_down",
                f"step_size_up + step_size_down = {up + down} is not exactly a float (the "
                "cycle length must be, as torch computes with it; every length up to 2**53 "
                f"is), got step_size_up={up}, step_size_down={down}",
            )


@attrs.frozen(kw_only=True)
class Cyclic(_CyclicTriangle):
    """torch's ``CyclicLR`` LR, as a multiplier of ``max_lr`` (the group's LR):
    ``λ(s) = b + (1 - b) · h(s)`` with ``b = min_lr_scale`` (torch's ``base_lr / max_lr``) and
    ``h`` the triangle that rises over ``step_size_up`` steps and falls over
    ``step_size_down`` (default: the same), scaled per cycle by ``1 / 2**(cycle - 1)``
    (``"triangular2"``) or per step by ``gamma**s`` (``"exp_range"``). It never ends.

    Matches ``CyclicLR(opt, base_lr=b·max_lr, max_lr, ...)`` stepped side by side (tests:
    10,000 steps, ≤ 1e-12 relative). The cycle length ``step_size_up + step_size_down`` must
    be a number a float holds exactly (every length up to 2**53 is; ``2**53 + 1`` is
    refused): torch computes in floats with it, and a rounded length would put the peak at
    the cycle's end (a division by zero). A position within a cycle is a float, as in torch,
    so a cycle of more than about 2**40 steps is resolved to ``length · 2**-52`` steps; its
    multipliers stay in ``[min_lr_scale, 1]``.

    >>> from optfn.schedules import Cyclic, lr_curve
    >>> lr_curve(Cyclic(step_size_up=2, min_lr_scale=0.5), 6).tolist()
    [0.5, 0.75, 1.0, 0.75, 0.5, 0.75]
    """

    min_lr_scale: float = attrs.field(default=0.0, validator=scale_field)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        b = float(self.min_lr_scale)
        return b + (1.0 - b) * _cycle_height(self, x, xp)


@attrs.frozen(kw_only=True)
class CyclicMomentum(_CyclicTriangle):
    """torch's ``CyclicLR`` momentum cycle (``cycle_momentum=True``), as a multiplier of
    ``max_momentum`` (the group's momentum, or Adam's ``beta1``): ``λ(s) = 1 - (1 - b)·h(s)``
    with ``b = base_momentum / max_momentum`` and ``h`` the same triangle as :class:`Cyclic`'s,
    so the momentum falls while the LR rises.

    >>> from optfn.schedules import CyclicMomentum, lr_curve
    >>> c = lr_curve(CyclicMomentum(step_size_up=2, base_momentum=0.8, max_momentum=0.9), 5)
    >>> (0.9 * c).round(12).tolist()
    [0.9, 0.85, 0.8, 0.85, 0.9]
    """

    base_momentum: float = attrs.field(default=0.8, validator=v.real(0.0, 1.0))
    max_momentum: float = attrs.field(default=0.9, validator=v.real(0.0, 1.0, lo_open=True))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _check_momenta(self)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        b = self.base_momentum / self.max_momentum
        return 1.0 - (1.0 - b) * _cycle_height(self, x, xp)
