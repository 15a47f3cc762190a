"""Strategies of schedules: every shape and (nested) ``Join`` of them (on either clock); the
combinators ``Product`` and ``Sum`` of general pieces.

>>> from hypothesis import given, settings
>>> from optfn import WarmupCosine
>>> from optfn.strategies import schedule_specs
>>> @settings(max_examples=5)
... @given(schedule_specs(kinds=("warmup_cosine",)))
... def test_shape(s):
...     assert isinstance(s, WarmupCosine) and s.warmup_steps <= s.total_steps
>>> test_shape()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
from hypothesis import reject
from hypothesis import strategies as st

from optfn.errors import SpecError
from optfn.io import SpecRegistry
from optfn.schedules import (
    HYPER_KEYS,
    MAX_JOIN_DEPTH,
    MAX_STEPS,
    Constant,
    CosineDecay,
    CosineRestarts,
    Cyclic,
    CyclicMomentum,
    ExponentialDecay,
    HyperSchedules,
    InverseSqrt,
    Join,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    OneCycle,
    OneCycleMomentum,
    PiecewiseConstant,
    PolynomialDecay,
    Product,
    Ramp,
    Schedule,
    Sum,
    WarmupCosine,
    WarmupStableDecay,
)
from optfn.schedules.base import DecayShape
from optfn.schedules.join import Clock
from optfn.schedules.pieces import RampShape
from optfn.schedules.shapes import WarmupRamp
from optfn.strategies._args import (
    _GAMMAS,
    _SCALES,
    _check_int,
    _check_kinds,
)

# ---- schedules -------------------------------------------------------------------------------


@st.composite
def _exponential(draw: st.DrawFn, budget: int) -> ExponentialDecay:
    return ExponentialDecay(
        gamma=draw(_GAMMAS),
        steps_per_epoch=draw(st.integers(1, budget)),
        staircase=draw(st.booleans()),
        end_scale=draw(st.just(0.0) | _SCALES),
    )


_RAMP_NAMES: list[WarmupRamp] = ["(s+1)/W", "s/W", "(s+1)/(W+1)", "s/(W-1)"]
_WARMUP_RAMPS = st.sampled_from(_RAMP_NAMES)
_DECAY_SHAPES: list[DecayShape] = ["linear", "cosine", "1-sqrt"]
_SHAPE_NAMES = st.sampled_from(_DECAY_SHAPES)
_CLOCKS: list[Clock] = ["local", "global"]
_RAMP_SHAPES: list[RampShape] = ["linear", "cosine", "1-sqrt", "polynomial", "cosine_restarts"]


@st.composite
def _multi_step(draw: st.DrawFn, budget: int) -> MultiStepDecay:
    bounds = draw(
        st.lists(st.integers(1, budget), min_size=1, max_size=min(5, budget), unique=True)
    )
    return MultiStepDecay(boundaries=tuple(sorted(bounds)), gamma=draw(_GAMMAS))


@st.composite
def _warmup_cosine(draw: st.DrawFn, budget: int) -> WarmupCosine:
    total = draw(st.integers(1, budget))
    ramp = draw(_WARMUP_RAMPS)
    warmup = draw(st.integers(0, total) | st.just(total))
    return WarmupCosine(
        warmup_steps=_fit_ramp(warmup, ramp, total),
        total_steps=total,
        min_lr_scale=draw(_SCALES),
        warmup_ramp=ramp,
    )


def _fit_ramp(warmup: int, ramp: WarmupRamp, most: int) -> int:
    """``warmup`` steps, or the nearest count within ``[0, most]`` that ``ramp`` takes: ``s/(W-1)``
    needs two steps (or none), ``(s+1)/(W+1)`` fewer than 2**53."""
    if ramp == "s/(W-1)" and warmup == 1:
        return 2 if most >= 2 else 0
    if ramp == "(s+1)/(W+1)" and warmup >= MAX_STEPS:
        return MAX_STEPS - 1
    return warmup


@st.composite
def _linear_warmup(draw: st.DrawFn, budget: int) -> LinearWarmup:
    ramp = draw(_WARMUP_RAMPS if budget >= 2 else st.sampled_from(_RAMP_NAMES[:3]))
    warmup = _fit_ramp(draw(st.integers(1, budget)), ramp, budget)
    return LinearWarmup(warmup_steps=warmup, init_scale=draw(_SCALES), warmup_ramp=ramp)


@st.composite
def _decay(
    draw: st.DrawFn, budget: int, cls: type[LinearDecay] | type[CosineDecay]
) -> LinearDecay | CosineDecay:
    return cls(decay_steps=draw(st.integers(1, budget)), min_lr_scale=draw(_SCALES))


@st.composite
def _polynomial(draw: st.DrawFn, budget: int) -> PolynomialDecay:
    power = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]) | st.floats(0.0, 10.0, exclude_min=True))
    return PolynomialDecay(
        decay_steps=draw(st.integers(1, budget)), power=power, min_lr_scale=draw(_SCALES)
    )


@st.composite
def _inverse_sqrt(draw: st.DrawFn, budget: int) -> InverseSqrt:
    ramp = draw(_WARMUP_RAMPS if budget >= 2 else st.sampled_from(_RAMP_NAMES[:3]))
    no_warmup = ramp in ("s/W", "(s+1)/(W+1)")  # whose decay is 1.0 at W: W = 0 is allowed
    warmup = _fit_ramp(draw(st.integers(0 if no_warmup else 1, budget)), ramp, budget)
    timescale = draw(st.none() | st.integers(1, budget)) if warmup else draw(st.integers(1, budget))
    return InverseSqrt(
        warmup_steps=warmup, min_lr_scale=draw(_SCALES), timescale=timescale, warmup_ramp=ramp
    )


@st.composite
def _cosine_restarts(draw: st.DrawFn, budget: int) -> CosineRestarts:
    on_floor = draw(st.booleans())
    return CosineRestarts(
        cycle_steps=draw(st.integers(2 if on_floor else 1, budget)),
        cycle_mult=draw(st.integers(1, 4)),
        min_lr_scale=draw(_SCALES),
        cycle_ends_on_floor=on_floor,
    )


@st.composite
def _wsd(draw: st.DrawFn, budget: int) -> WarmupStableDecay:
    total = draw(st.integers(1, budget))
    decay = draw(st.integers(0, total))
    ramp = draw(_WARMUP_RAMPS)
    return WarmupStableDecay(
        warmup_steps=_fit_ramp(draw(st.integers(0, total - decay)), ramp, total - decay),
        total_steps=total,
        decay_steps=decay,
        min_lr_scale=draw(_SCALES),
        decay_shape=draw(_SHAPE_NAMES),
        warmup_ramp=ramp,
        warmup_shape=draw(_SHAPE_NAMES),
    )


_PCTS = st.sampled_from([0.25, 0.3, 0.45, 0.6]) | st.floats(
    0.0, 1.0, exclude_min=True, exclude_max=True
)


def _momenta(draw: st.DrawFn) -> tuple[float, float]:
    hi = draw(st.sampled_from([0.9, 0.95, 0.99]) | st.floats(0.0, 1.0, exclude_min=True))
    lo = draw(st.sampled_from([0.0, hi, hi * 0.85]) | st.floats(0.0, hi))
    return lo, hi


@st.composite
def _one_cycle(draw: st.DrawFn, budget: int, momentum: bool) -> OneCycle | OneCycleMomentum:
    common: dict[str, Any] = {
        "total_steps": draw(st.integers(2, budget)),
        "pct_start": draw(_PCTS),
        "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
        "three_phase": draw(st.booleans()),
    }
    try:
        if momentum:
            lo, hi = _momenta(draw)
            return OneCycleMomentum(**common, base_momentum=lo, max_momentum=hi)
        divs = st.sampled_from([1.0, 25.0, 1e4]) | st.floats(1.0, 1e6)
        return OneCycle(**common, div_factor=draw(divs), final_div_factor=draw(divs))
    except SpecError:  # a phase of no length for this total_steps and pct_start
        reject()


@st.composite
def _cyclic(draw: st.DrawFn, budget: int, momentum: bool) -> Cyclic | CyclicMomentum:
    up = draw(st.integers(1, budget))
    down = draw(st.none() | st.integers(1, budget))
    if down is not None and float(up + down) != up + down:
        down = None  # a cycle length no float holds is refused; up + up always is one
    common: dict[str, Any] = {
        "step_size_up": up,
        "step_size_down": down,
        "mode": draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
        "gamma": draw(_GAMMAS),
    }
    if momentum:
        lo, hi = _momenta(draw)
        return CyclicMomentum(**common, base_momentum=lo, max_momentum=hi)
    return Cyclic(**common, min_lr_scale=draw(_SCALES))


@st.composite
def _ramp(draw: st.DrawFn, budget: int) -> Ramp:
    shape = draw(st.sampled_from(_RAMP_SHAPES))
    powered = shape in ("polynomial", "cosine", "cosine_restarts")
    waves = shape in ("cosine", "cosine_restarts")
    return Ramp(
        steps=draw(st.integers(1, budget)),
        start_scale=draw(_SCALES),
        end_scale=draw(_SCALES),
        shape=shape,
        power=draw(st.sampled_from([1.0, 2.0]) | st.floats(0.1, 8.0)) if powered else 1.0,
        cycles=draw(st.none() | st.sampled_from([0.5, 1.0, 3.0]) | st.floats(0.1, 8.0))
        if waves
        else None,
    )


@st.composite
def _piecewise_constant(draw: st.DrawFn, budget: int) -> PiecewiseConstant:
    bounds = sorted(draw(st.lists(st.integers(1, budget), max_size=min(5, budget), unique=True)))
    values = draw(st.lists(_SCALES, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return PiecewiseConstant(boundaries=tuple(bounds), values=tuple(values))


@st.composite
def _product(draw: st.DrawFn, budget: int) -> Product:
    leaves = [_ramp(budget), _exponential(budget), _piecewise_constant(budget)]
    leaves.append(_decay(budget, CosineDecay))
    factors = draw(st.lists(st.one_of(*leaves), min_size=1, max_size=3))
    return Product(factors=tuple(factors))


@st.composite
def _sum(draw: st.DrawFn, budget: int) -> Sum:
    """1 to 4 terms, each a leaf in [0, 1] weighted by a power of two ``2**-k`` with
    ``2**k >= `` the number of terms, so that the sum stays in [0, 1] exactly (a power of two
    scales without rounding; the rounded sum of values whose exact sum is <= 1 is <= 1)."""
    n = draw(st.integers(1, 4))
    if n == 1:
        return Sum(terms=(draw(_leaf(budget)),))
    least = (n - 1).bit_length()  # 2**least >= n
    terms = []
    for _ in range(n):
        weight = 2.0 ** -draw(st.integers(least, least + 3))
        leaf = draw(_leaf(budget))
        terms.append(Product(factors=(leaf, PiecewiseConstant(values=(weight,)))))
    return Sum(terms=tuple(terms))


def _leaf(budget: int) -> st.SearchStrategy[Schedule]:
    """A term of a drawn sum: a general piece, a decay, or a product of them."""
    leaves = [_ramp(budget), _exponential(budget), _piecewise_constant(budget)]
    leaves.append(_decay(budget, CosineDecay))
    return st.one_of(*leaves, _product(budget))


#: Per shape: the fewest steps it needs, and its strategy given the most steps it may use.
_SHAPES: dict[type[Schedule], tuple[int, Callable[[int], st.SearchStrategy[Schedule]]]] = {
    Constant: (0, lambda b: st.just(Constant())),
    ExponentialDecay: (1, _exponential),
    MultiStepDecay: (1, _multi_step),
    WarmupCosine: (1, _warmup_cosine),
    LinearWarmup: (1, _linear_warmup),
    LinearDecay: (1, lambda b: _decay(b, LinearDecay)),
    CosineDecay: (1, lambda b: _decay(b, CosineDecay)),
    PolynomialDecay: (1, _polynomial),
    InverseSqrt: (1, _inverse_sqrt),
    CosineRestarts: (2, _cosine_restarts),
    WarmupStableDecay: (1, _wsd),
    OneCycle: (2, lambda b: _one_cycle(b, False)),
    OneCycleMomentum: (2, lambda b: _one_cycle(b, True)),
    Cyclic: (1, lambda b: _cyclic(b, False)),
    CyclicMomentum: (1, lambda b: _cyclic(b, True)),
    Ramp: (1, _ramp),
    PiecewiseConstant: (1, _piecewise_constant),
    Product: (1, _product),
    Sum: (1, _sum),
}
_SCHEDULE_TAGS: dict[str, type[Schedule]] = {
    tag: cls
    for tag, cls in SpecRegistry.library().members(Schedule).items()
    if cls in _SHAPES or cls is Join
}
SCHEDULE_KINDS: tuple[str, ...] = tuple(_SCHEDULE_TAGS)
"""The ``kinds`` :func:`schedule_specs` knows: the tag of every schedule shape, and ``"join"``."""


@attrs.frozen
class _ScheduleGen:
    """Draws schedules of some shapes; a shape with step counts uses at most ``budget`` steps."""

    shapes: tuple[type[Schedule], ...]
    joins: bool
    max_pieces: int

    @property
    def fewest(self) -> int:
        return min(_SHAPES[c][0] for c in self.shapes)

    def any(self, budget: int, depth: int) -> st.SearchStrategy[Schedule]:
        leaves = [_SHAPES[c][1](budget) for c in self.shapes if _SHAPES[c][0] <= budget]
        options: list[st.SearchStrategy[Schedule]] = [st.one_of(*leaves)]
        if self.joins and depth > 0:
            options.append(self.join(budget, depth))
        return st.one_of(*options)

    def join(self, budget: int, depth: int) -> st.SearchStrategy[Join]:
        @st.composite
        def draw_join(draw: st.DrawFn) -> Join:
            room = budget - self.fewest  # a boundary leaves its piece at least `fewest` steps
            n = draw(st.integers(1, max(1, min(self.max_pieces, room + 1))))
            bounds: list[int] = []
            if n > 1:
                cuts = st.lists(st.integers(1, room), min_size=n - 1, max_size=n - 1, unique=True)
                bounds = sorted(draw(cuts))
            clock = draw(st.sampled_from(_CLOCKS))
            # a piece's step counts are counted from its boundary (local) or from step 0
            local = clock == "local"
            pieces = [
                draw(self.any(budget - b if local else budget, depth - 1)) for b in (0, *bounds)
            ]
            return Join(pieces=tuple(pieces), boundaries=tuple(bounds), clock=clock)

        return draw_join()


def _schedule_gen(
    kinds: Sequence[str],
    max_total_steps: int,
    max_depth: int,
    max_pieces: int,
) -> tuple[_ScheduleGen, tuple[str, ...]]:
    kinds = _check_kinds(kinds, SCHEDULE_KINDS)
    _check_int("max_total_steps", max_total_steps, 1, MAX_STEPS)
    _check_int("max_depth", max_depth, 0, MAX_JOIN_DEPTH)
    _check_int("max_pieces", max_pieces, 1)
    shapes = tuple(_SCHEDULE_TAGS[k] for k in kinds if k != "join")
    if not shapes:
        raise SpecError(
            "",
            "kinds",
            "a join needs pieces; name at least one shape besides 'join' "
            f"(allowed: {', '.join(repr(k) for k in SCHEDULE_KINDS)})",
        )
    fits = [c for c in shapes if _SHAPES[c][0] <= max_total_steps]
    if not fits:
        raise SpecError(
            "",
            "max_total_steps",
            f"{max_total_steps} is too few for {kinds!r} (cosine_restarts and one_cycle need >= 2)",
        )
    return _ScheduleGen(shapes, "join" in kinds, max_pieces), kinds


def schedule_specs(
    *,
    kinds: Sequence[str] = SCHEDULE_KINDS,
    max_total_steps: int = 1000,
    max_depth: int = 2,
    max_pieces: int = 4,
) -> st.SearchStrategy[Schedule]:
    """Random valid schedule specs of the given ``kinds`` (see :data:`SCHEDULE_KINDS`).

    ``kinds`` names the shapes a schedule, and every piece of a join, may have; with
    ``"join"`` among them, ``Join`` s of up to ``max_pieces`` pieces, nested up to
    ``max_depth`` deep (``max_depth=0``: no joins), with strictly increasing boundaries.

    ``max_total_steps`` bounds every step number in the spec, counted from the start of the
    schedule: step counts (``warmup_steps``, ``decay_steps``, ``total_steps``,
    ``cycle_steps``, ``steps_per_epoch``), boundaries, and for a piece of a join its own step
    counts plus the boundary where it starts (on a join's ``"local"`` clock; on its
    ``"global"`` clock, which joins are drawn with too, its own step counts, which count from
    step 0 there). So by step ``max_total_steps`` every piece has
    started and every warmup and decay has ended (a shape without an end, such as
    ``ExponentialDecay`` or ``CosineRestarts``, goes on).

    >>> from hypothesis import given, settings
    >>> from optfn import lr_curve
    >>> from optfn.strategies import schedule_specs
    >>> @settings(max_examples=20)
    ... @given(schedule_specs(kinds=("linear_warmup", "cosine_decay", "join"),
    ...                       max_total_steps=100))
    ... def test_multipliers_in_unit_interval(schedule):
    ...     curve = lr_curve(schedule, 120)
    ...     assert ((0 <= curve) & (curve <= 1)).all()
    >>> test_multipliers_in_unit_interval()
    """
    gen, kinds = _schedule_gen(kinds, max_total_steps, max_depth, max_pieces)
    return gen.any(max_total_steps, max_depth)


def joins(
    *,
    kinds: Sequence[str] = SCHEDULE_KINDS,
    max_total_steps: int = 1000,
    max_depth: int = 2,
    max_pieces: int = 4,
) -> st.SearchStrategy[Join]:
    """Random valid :class:`~optfn.Join` s: like :func:`schedule_specs`, but always a join
    (of 1 to ``max_pieces`` pieces of the given ``kinds``; pieces are joins themselves only
    when ``"join"`` is among ``kinds`` and ``max_depth >= 2``). Needs ``max_depth >= 1``.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import joins
    >>> @settings(max_examples=20)
    ... @given(joins(kinds=("linear_warmup", "cosine_decay"), max_total_steps=50))
    ... def test_boundaries(j):
    ...     assert len(j.boundaries) == len(j.pieces) - 1 and all(0 < b < 50 for b in j.boundaries)
    >>> test_boundaries()
    """
    gen, _ = _schedule_gen(kinds, max_total_steps, max_depth, max_pieces)
    _check_int("max_depth", max_depth, 1)
    return gen.join(max_total_steps, max_depth)


@st.composite
def _hyper(
    draw: st.DrawFn,
    schedules: st.SearchStrategy[Schedule],
    keys: tuple[str, ...],
    routes: tuple[str, ...],
) -> HyperSchedules:
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True))
    picked = {k: draw(schedules) for k in chosen}
    routed = draw(st.lists(st.sampled_from(chosen), unique=True, max_size=2)) if routes else []
    return HyperSchedules(**picked, routes={k: draw(st.sampled_from(routes)) for k in routed})


def hyper_schedules(
    schedules: st.SearchStrategy[Schedule] | None = None,
    *,
    keys: Sequence[str] = HYPER_KEYS,
    routes: Sequence[str] = ("muon", "adamw"),
) -> st.SearchStrategy[HyperSchedules]:
    """Random valid :class:`~optfn.HyperSchedules`: some of ``keys`` (default: all five), each
    with a schedule from ``schedules`` (default :func:`schedule_specs`), up to two of them
    restricted to one of ``routes`` (none if ``routes`` is empty). Which keys an optimizer's
    groups hold is the optimizer's business: ``keys=("lr", "momentum")`` for SGD.

    >>> from hypothesis import given, settings
    >>> from optfn import hyper_curves
    >>> from optfn.strategies import hyper_schedules, schedule_specs
    >>> @settings(max_examples=20)
    ... @given(hyper_schedules(schedule_specs(max_total_steps=50)))
    ... def test_multipliers_in_unit_interval(hs):
    ...     for curve in hyper_curves(hs, 60).values():
    ...         assert ((0 <= curve) & (curve <= 1)).all()
    >>> test_multipliers_in_unit_interval()
    """
    if schedules is not None and not isinstance(schedules, st.SearchStrategy):
        raise SpecError("", "schedules", f"must be a hypothesis strategy, got {schedules!r}")
    keys = _check_kinds(keys, HYPER_KEYS)
    if isinstance(routes, str) or not all(isinstance(r, str) and r for r in routes):
        raise SpecError("", "routes", f"must be a sequence of route names, got {routes!r}")
    return _hyper(schedule_specs() if schedules is None else schedules, tuple(keys), tuple(routes))
