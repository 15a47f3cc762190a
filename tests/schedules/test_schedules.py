"""Schedule specs, lr_lambda and lr_curve: the math (hypothesis) and the validation (examples).

The specs come from :mod:`optfn.strategies` (the strategies optfn ships to its users).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optfn.schedules
from optfn.errors import SpecError, SpecTypeError
from optfn.schedules import (
    MAX_STEPS,
    Constant,
    CosineDecay,
    CosineRestarts,
    Cyclic,
    CyclicMomentum,
    ExponentialDecay,
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
    lr_curve,
    lr_lambda,
)
from optfn.strategies import joins, schedule_specs

#: Steps the tests look at: every step count and boundary of ``schedules()`` lies within them.
N = 1200
HUGE_STEPS = (2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64 + 7, 10**30)
EPS = 1e-12

# ---- strategies (optfn.strategies: one source of truth) ------------------------------------

DECAYS = ("linear_decay", "cosine_decay", "polynomial_decay")  # start at 1.0, end on their floor


def shapes(max_total_steps: int = 300) -> st.SearchStrategy[Schedule]:
    """One random valid spec of every shape (no joins)."""
    return schedule_specs(max_total_steps=max_total_steps, max_depth=0)


def schedules(max_total_steps: int = N - 1) -> st.SearchStrategy[Schedule]:
    """Any valid schedule, (nested) joins included: every piece starts before step ``N``."""
    return schedule_specs(max_total_steps=max_total_steps)


def one_shape(kind: str, max_total_steps: int = 300) -> st.SearchStrategy[Any]:
    return schedule_specs(kinds=(kind,), max_total_steps=max_total_steps)


# ---- what each shape promises --------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """Per shape: where it ramps up, where it decays, where it ends, its floor and its slope."""

    warmup_end: int  # [0, warmup_end) is a non-decreasing ramp
    decay_start: int | None  # from here on non-increasing and within [floor, 1]
    end: int | None  # from here on exactly ``floor`` (None: it never settles)
    floor: float
    slope: float | None  # no step changes the multiplier by more (None: jumps by design)
    peak: int | None = None  # the warm-up reaches exactly 1.0 here (default: warmup_end - 1)


def _ramp_of(s: Schedule) -> str:
    return str(getattr(s, "warmup_ramp", "(s+1)/W"))


def _peak(s: Schedule, w: int) -> int:
    """Where a warm-up of ``w`` steps reaches 1.0: ``w - 1`` (the default ``(s+1)/W``, DINOv2's
    ``s/(W-1)``), ``w`` (``s/W``, nanoGPT's ``(s+1)/(W+1)``: what follows takes over there)."""
    return w - 1 if _ramp_of(s) in ("(s+1)/W", "s/(W-1)") else w


_WARMUP_SLOPE = {"linear": 1.0, "cosine": math.pi / 2}


def _warmup_slope(shape: str, w: int, ramp: str = "(s+1)/W") -> float:
    """The steepest step of a warm-up of ``w`` steps: its fraction moves by ``1 / n`` a step,
    ``n = w - 1`` for ``s/(W-1)`` (``w`` otherwise; ``w + 1`` for ``(s+1)/(W+1)``, which its
    last jump, to 1.0 at ``w``, also stays within)."""
    n = w - 1 if ramp == "s/(W-1)" else w
    return _WARMUP_SLOPE[shape] / n if shape in _WARMUP_SLOPE else n**-0.5


def facts(s: Schedule) -> Facts:
    if isinstance(s, Constant):
        return Facts(0, 0, 0, 1.0, 0.0)
    if isinstance(s, ExponentialDecay):
        if s.gamma == 1.0:
            return Facts(0, 0, 0, 1.0, None)
        return Facts(0, 0, None, s.end_scale, None)
    if isinstance(s, MultiStepDecay):
        return Facts(0, 0, s.boundaries[-1], s.gamma ** len(s.boundaries), None)
    if isinstance(s, WarmupCosine):
        w, total, a = s.warmup_steps, s.total_steps, s.min_lr_scale
        d = max(1, total - w)
        warm = _warmup_slope("linear", w, s.warmup_ramp) if w else 1.0
        slope = max(warm, (1 - a) * math.pi / 2 / d)
        return Facts(w, w, total if w < total else total + 1, a, slope, _peak(s, w))
    if isinstance(s, LinearWarmup):
        w = s.warmup_steps
        slope = _warmup_slope("linear", w, s.warmup_ramp)
        return Facts(w, None, _peak(s, w), 1.0, slope, _peak(s, w))
    if isinstance(s, (LinearDecay, CosineDecay, PolynomialDecay)):
        d, a = s.decay_steps, s.min_lr_scale
        if isinstance(s, LinearDecay):
            drop = 1 / d
        elif isinstance(s, CosineDecay):
            drop = math.pi / 2 / d
        else:
            drop = max(s.power / d, d**-s.power)
        return Facts(0, 0, d, a, (1 - a) * drop)
    if isinstance(s, InverseSqrt):
        a, w = s.min_lr_scale, s.warmup_steps
        scale = min(x for x in (w - 1 if s.warmup_ramp == "s/(W-1)" else w, s.timescale) if x)
        return Facts(w, _peak(s, w) if w else 0, None, a, 1 / scale, _peak(s, w) if w else None)
    if isinstance(s, CosineRestarts):
        return Facts(0, None, None, s.min_lr_scale, None)
    if isinstance(s, WarmupStableDecay):
        d, a, w = s.decay_steps, s.min_lr_scale, s.warmup_steps
        warm = _warmup_slope(s.warmup_shape, w, s.warmup_ramp) if w else 0.0
        if not d:  # no cool-down: 1.0 from the warm-up's peak on, forever
            return Facts(w, w, _peak(s, w) if w else 0, 1.0, warm, _peak(s, w) if w else None)
        drop = {"linear": 1 / d, "cosine": math.pi / 2 / d, "1-sqrt": d**-0.5}[s.decay_shape]
        slope = max(warm, (1 - a) * drop)
        return Facts(w, w, s.total_steps, a, slope, _peak(s, w) if w else None)
    if isinstance(s, Ramp):
        a, e, n = s.start_scale, s.end_scale, s.steps
        if not _plain_ramp(s):  # powers, cycles: endpoints and bounds only
            return Facts(0, None, n, e if s.shape != "cosine" else lr_lambda(s)(n), None)
        per_step = (math.pi / 2 if s.shape == "cosine" else 1.0) / n
        # a rising ramp is checked by test_ramp_endpoints_and_direction (it need not end on 1)
        return Facts(0, 0 if a >= e else None, n, e, abs(e - a) * per_step)
    if isinstance(s, PiecewiseConstant):
        return Facts(0, None, (0, *s.boundaries)[-1], s.values[-1], None)
    if isinstance(s, Product | Sum):
        return Facts(0, None, None, 0.0, None)
    if isinstance(s, OneCycle | OneCycleMomentum):
        return _one_cycle_facts(s)
    if isinstance(s, Cyclic | CyclicMomentum):
        up = s.step_size_up
        down = up if s.step_size_down is None else s.step_size_down
        b = s.min_lr_scale if isinstance(s, Cyclic) else s.base_momentum / s.max_momentum
        return Facts(0, None, None, b, (1 - b) * (1 / min(up, down) + (1 - s.gamma)))
    raise AssertionError(f"no facts for {s!r}")


def _plain_ramp(s: Ramp) -> bool:
    """A linear ramp, or a half-cosine one without a power: its slope is known."""
    if s.shape == "linear":
        return True
    return s.shape == "cosine" and s.wave_count() == 0.5 and s.power == 1.0


def _monotone_ramp(s: Ramp) -> bool:
    return s.shape != "cosine_restarts" and (s.shape != "cosine" or s.wave_count() == 0.5)


def _one_cycle_facts(s: OneCycle | OneCycleMomentum) -> Facts:
    """torch's phases: ends at pct·T - 1 (, 2·pct·T - 2), T - 1; levels as torch's."""
    total, p = s.total_steps, s.pct_start
    ends = [p * total - 1.0, *([2 * p * total - 2.0] if s.three_phase else []), total - 1.0]
    if isinstance(s, OneCycle):
        initial = 1 / s.div_factor
        final = initial / s.final_div_factor
        levels = [initial, 1.0, initial, final] if s.three_phase else [initial, 1.0, final]
    else:
        low = s.base_momentum / s.max_momentum
        levels = [1.0, low, 1.0, 1.0] if s.three_phase else [1.0, low, 1.0]
    per = math.pi / 2 if s.anneal_strategy == "cos" else 1.0
    starts = [0.0, *ends[:-1]]
    slope = max(
        abs(levels[i + 1] - levels[i]) * per / (ends[i] - starts[i]) for i in range(len(ends))
    )
    peak = math.floor(ends[0]) + 1
    if isinstance(s, OneCycle):  # up to the peak, then down to the floor
        # torch's linear anneal cancels near a tiny end: within 1e-15 of the peak (documented)
        # (its rise need not end on exactly 1: the torch parity tests check the shape there)
        return Facts(0, peak, None, final - 1e-15, slope * (1 + 1e-9))
    return Facts(0, None, None, min(levels), slope * (1 + 1e-9))


def ulps(a: float, b: float) -> float:
    return abs(a - b) / math.ulp(max(abs(a), abs(b), 1e-300))


def scalar_curve(s: Schedule, n: int) -> np.ndarray:
    f = lr_lambda(s)
    return np.array([f(i) for i in range(n)], dtype=np.float64)


# ---- the closed form and its vectorized twin ---------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_curve_equals_lambda_at_every_step(s: Schedule) -> None:
    curve = lr_curve(s, N)
    assert curve.dtype == np.float64 and curve.shape == (N,) and curve.flags.c_contiguous
    assert np.array_equal(curve, scalar_curve(s, N))  # bit for bit, so within 4 ulp


@settings(max_examples=100, deadline=None)
@given(schedules(), st.integers(0, 2**53 - 64))
def test_vector_form_equals_scalar_form_at_any_offset(s: Schedule, start: int) -> None:
    # ScheduleLR looks multipliers up from blocks computed this way, at any step.
    steps = np.arange(start, start + 64, dtype=np.int64)
    f = lr_lambda(s)
    assert lr_curve(s, 64, start=start).tolist() == [f(int(i)) for i in steps]


@settings(max_examples=100, deadline=None)
@given(schedules())
def test_huge_steps_neither_overflow_nor_raise(s: Schedule) -> None:
    f = lr_lambda(s)
    for step in HUGE_STEPS:
        value = f(step)
        assert type(value) is float and 0.0 <= value <= 1.0
    assert f(np.int64(2**62)) == f(2**62)


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_bounds_between_floor_and_peak(s: Schedule) -> None:
    curve, fx = lr_curve(s, N), facts(s)
    assert np.all(curve >= 0.0) and np.all(curve <= 1.0)
    if fx.decay_start is not None:
        tail = curve[fx.decay_start :]
        # MultiStepDecay's floor here is Python's gamma ** n; optfn's is numpy's (within an ulp)
        slack = 4 * math.ulp(fx.floor) if isinstance(s, MultiStepDecay) else 0.0
        assert np.all(tail >= fx.floor - slack) and np.all(tail <= 1.0)
    if isinstance(s, LinearWarmup):
        assert np.all(curve >= s.init_scale)
    if isinstance(s, CosineRestarts):
        assert np.all(curve >= s.min_lr_scale)


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_warmups_rise_and_decays_fall(s: Schedule) -> None:
    curve, fx = lr_curve(s, N), facts(s)
    assert np.all(np.diff(curve[: fx.warmup_end]) >= 0)
    # OneCycle's linear anneal is torch's (end - start) * pct + start, which cancels near a
    # tiny end: between phases it may rise by a rounding error (within 1e-15 of the peak)
    slack = 1e-15 if isinstance(s, OneCycle) and s.anneal_strategy == "linear" else 0.0
    if fx.decay_start is not None:
        assert np.all(np.diff(curve[fx.decay_start :]) <= slack)
    if fx.warmup_end:  # the ramp ends on exactly 1.0 (W - 1 by the default (s + 1) / W; or W)
        peak = fx.warmup_end - 1 if fx.peak is None else fx.peak
        assert curve[peak] == 1.0


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_no_jump_larger_than_the_shapes_own_slope(s: Schedule) -> None:
    fx = facts(s)
    if fx.slope is None:
        return
    jumps = np.abs(np.diff(lr_curve(s, N)))
    assert jumps.max(initial=0.0) <= fx.slope * (1 + 1e-9) + EPS


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_endpoints_exact_and_held_forever(s: Schedule) -> None:
    fx = facts(s)
    f = lr_lambda(s)
    if fx.decay_start is not None and not isinstance(
        s, (InverseSqrt, WarmupCosine, Ramp, OneCycle)
    ):
        assert f(fx.decay_start) == 1.0  # a decay starts on exactly 1.0
    if fx.end is None:
        return
    curve = lr_curve(s, fx.end + 50)
    expected = curve[fx.end]
    if isinstance(s, MultiStepDecay):  # gamma ** n through numpy's pow: within an ulp of Python's
        assert ulps(expected, fx.floor) <= 4
    else:
        assert expected == fx.floor
    assert np.all(curve[fx.end :] == expected)
    assert all(f(step) == expected for step in HUGE_STEPS)


@settings(max_examples=100, deadline=None)
@given(one_shape("ramp"))
def test_ramp_endpoints_and_direction(s: Ramp) -> None:
    a, e, n = s.start_scale, s.end_scale, s.steps
    curve = lr_curve(s, n + 20)
    # exact at the end, then held; exact at the start of a rise, within an ulp of a fall's
    # (anchored at its lower value: e + (a - e))
    assert curve[0] == a if a <= e else abs(curve[0] - a) <= math.ulp(a)
    if not _monotone_ramp(s):
        assert np.all(curve >= min(a, e)) and np.all(curve <= max(a, e) + math.ulp(max(a, e)))
        return
    assert np.all(curve[n:] == e)
    d = np.diff(curve[: n + 1])
    slack = math.ulp(max(a, e))
    assert np.all(d >= -slack) if a <= e else np.all(d <= slack)
    assert np.all(curve >= min(a, e)) and np.all(curve <= max(a, e) + slack)


@settings(max_examples=60, deadline=None)
@given(one_shape("warmup_cosine"))
def test_warmup_cosine_edges(s: WarmupCosine) -> None:
    w, total, a = s.warmup_steps, s.total_steps, s.min_lr_scale
    f = lr_lambda(s)
    assert f(w) == 1.0  # cosine starts on exactly 1.0 (t = 0)
    if w == total:  # no cosine phase: λ(S) = 1, then the floor from S + 1 on
        assert f(total) == 1.0 and f(total + 1) == a and f(total + 2) == a
    else:
        assert f(total) == a and f(total + 1) == a and f(2 * total + 7) == a


@settings(max_examples=60, deadline=None)
@given(one_shape("cosine_restarts", max_total_steps=40))
def test_cosine_restarts_cycles_fall_from_one_to_floor(s: CosineRestarts) -> None:
    curve = lr_curve(s, N)
    start, length = 0, s.cycle_steps
    while start + length <= N:
        cycle = curve[start : start + length]
        if s.cycle_ends_on_floor:
            assert cycle[0] == 1.0 and cycle[-1] == s.min_lr_scale
        else:  # torch's SGDR: restarts one step before it would reach the floor
            assert cycle[0] == 1.0 and (length == 1 or cycle[-1] >= s.min_lr_scale)
        assert np.all(np.diff(cycle) <= 0)
        start, length = start + length, length * s.cycle_mult
    rises = np.flatnonzero(np.diff(curve) > 0) + 1  # only restarts go up
    assert all(curve[i] == 1.0 for i in rises)


def test_builders_formula_literally() -> None:
    """WarmupCosine is the epoch-based builders' λ(s) (clamped past S), compared with a literal
    transcription."""

    def literal(s: int, w: int, total: int, a: float) -> float:
        if s < w:
            return max(1e-8, (s + 1) / max(1, w))
        t = (s - w) / max(1, total - w)
        return a + (1 - a) / 2 * (1 + math.cos(math.pi * t))

    for w, total, a in [(0, 1, 0.0), (5, 100, 0.1), (100, 100, 0.2), (1, 2, 0.0), (7, 50, 1.0)]:
        f = lr_lambda(WarmupCosine(warmup_steps=w, total_steps=total, min_lr_scale=a))
        for s in range(total + 1 if w < total else total + 2):
            assert ulps(f(s), literal(s, w, total, a)) <= 4, (w, total, a, s)
        # past the end the literal formula climbs back up (to 1 at t = 2); optfn holds the floor
        s2 = w + 2 * max(1, total - w)
        assert literal(s2, w, total, a) == 1.0 and f(s2) == a


# ---- joins ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(joins(max_total_steps=N - 1, max_depth=1))  # pieces of every shape, not nested
def test_join_pieces_see_their_own_local_steps(j: Join) -> None:
    curve = lr_curve(j, N)
    starts = (0, *j.boundaries)
    stops = (*j.boundaries, N)
    for piece, lo, hi in zip(j.pieces, starts, stops, strict=True):
        origin = lo if j.clock == "local" else 0  # "global": every piece on the step itself
        assert np.array_equal(curve[lo:hi], lr_curve(piece, hi - lo, start=lo - origin))
        f, g = lr_lambda(j), lr_lambda(piece)
        assert f(lo) == g(lo - origin) and f(hi - 1) == g(hi - 1 - origin)


@st.composite
def continuous_joins(draw: st.DrawFn) -> tuple[Join, float]:
    """Warmup and decay pieces in turn, each starting where the previous one ended.

    Returns the join and the largest per-step slope of its pieces.
    """
    pieces: list[Schedule] = []
    bounds: list[int] = []
    level, at, slope = 0.0, 0, 0.0
    warm = draw(st.booleans())
    for i in range(draw(st.integers(2, 5))):
        if warm:
            ramp = draw(one_shape("linear_warmup", max_total_steps=200))
            # it starts just above the previous piece's floor (or anywhere, first)
            piece: Schedule = ramp if i == 0 else attrs.evolve(ramp, init_scale=level)
            at += ramp.warmup_steps  # it reaches 1.0 on its last step; the next starts at 1.0
            level = 1.0
        else:
            decay = draw(schedule_specs(kinds=DECAYS, max_total_steps=300, max_depth=0))
            assert isinstance(decay, (LinearDecay, CosineDecay, PolynomialDecay))
            piece = decay
            at += decay.decay_steps + draw(st.integers(0, 20))  # may hold its floor a while
            level = facts(piece).floor
        slope = max(slope, facts(piece).slope or 0.0)
        pieces.append(piece)
        bounds.append(at)
        warm = not warm
    return Join(pieces=tuple(pieces), boundaries=tuple(bounds[:-1])), slope


@settings(max_examples=100, deadline=None)
@given(continuous_joins())
def test_continuous_join_has_no_jump(case: tuple[Join, float]) -> None:
    j, slope = case
    curve = lr_curve(j, N)
    assert np.abs(np.diff(curve)).max() <= slope * (1 + 1e-9) + EPS
    assert np.array_equal(curve, scalar_curve(j, N))


@settings(max_examples=60, deadline=None)
@given(one_shape("warmup_cosine"))
def test_warmup_then_cosine_is_a_join(s: WarmupCosine) -> None:
    w, total, a = s.warmup_steps, s.total_steps, s.min_lr_scale
    if not 0 < w < total:
        return
    ramp = LinearWarmup(warmup_steps=w, warmup_ramp=s.warmup_ramp)
    joined = Join(
        pieces=(ramp, CosineDecay(decay_steps=total - w, min_lr_scale=a)),
        boundaries=(w,),
    )
    wsd = WarmupStableDecay(
        warmup_steps=w,
        total_steps=total,
        decay_steps=total - w,
        min_lr_scale=a,
        decay_shape="cosine",
        warmup_ramp=s.warmup_ramp,
    )
    n = total + 20
    assert np.array_equal(lr_curve(s, n), lr_curve(joined, n))
    assert np.array_equal(lr_curve(s, n), lr_curve(wsd, n))


@settings(max_examples=60, deadline=None)
@given(one_shape("exponential_decay", max_total_steps=20), st.integers(1, 6))
def test_exponential_decay_is_multi_step_at_epoch_boundaries(
    exp: ExponentialDecay, epochs: int
) -> None:
    if not exp.staircase or exp.end_scale:
        return  # smooth decays and floors are not MultiStepDecay's
    k = exp.steps_per_epoch
    multi = MultiStepDecay(boundaries=tuple(k * e for e in range(1, epochs + 1)), gamma=exp.gamma)
    n = k * (epochs + 1)
    assert np.array_equal(lr_curve(exp, n), lr_curve(multi, n))


#: gammas for which libm's pow(gamma, 2.0) and the product gamma * gamma differ by an ulp
POW2_GAMMAS = (0.9503546630566793, 0.3578680612554048, 0.8064621134539653)


def test_squares_agree_where_pow_and_product_differ() -> None:
    # numpy computes power(x, 2.0) with a scalar exponent as x * x (glibc's pow(x, 2.0) is off
    # by an ulp for these x); the vector form, whose exponents are an array, must do the same.
    for g in POW2_GAMMAS:
        for s in (ExponentialDecay(gamma=g), MultiStepDecay(boundaries=(1, 2, 3), gamma=g)):
            assert np.array_equal(lr_curve(s, 5), scalar_curve(s, 5)), s
            assert lr_lambda(s)(2) == g * g


def test_exponential_decay_is_gamma_to_the_epoch() -> None:
    f = lr_lambda(ExponentialDecay(gamma=0.95, steps_per_epoch=10))
    for s in range(0, 300, 7):
        assert ulps(f(s), 0.95 ** (s // 10)) <= 1


def test_inverse_sqrt_values() -> None:
    f = lr_lambda(InverseSqrt(warmup_steps=100))
    assert f(0) == 0.01 and f(99) == 1.0
    assert f(399) == 0.5 and f(9999) == 0.1  # sqrt(100 / (s + 1))


# ---- the lambda's contract -------------------------------------------------------------------


def test_lambda_pickles_and_is_a_partial() -> None:
    import functools

    s = Join(pieces=(LinearWarmup(warmup_steps=3), CosineDecay(decay_steps=9)), boundaries=(3,))
    f = lr_lambda(s)
    assert isinstance(f, functools.partial) and f.__dict__ == {}
    g = pickle.loads(pickle.dumps(f))
    assert [g(i) for i in range(20)] == [f(i) for i in range(20)]


@pytest.mark.parametrize(
    "step", [1.5, 2.0, True, False, np.float64(3.0), "3", None, np.bool_(True)]
)
def test_lambda_rejects_non_integer_steps(step: object) -> None:
    with pytest.raises(TypeError, match=r"lr_lambda\.step: must be an integer >= 0"):
        lr_lambda(Constant())(step)  # type: ignore[arg-type]


@pytest.mark.parametrize("step", [-1, -(2**60), np.int64(-3)])
def test_lambda_rejects_negative_steps(step: int) -> None:
    with pytest.raises(
        ValueError, match=r"lr_lambda\.step: must be an integer >= 0, got (np\.int64\()?-"
    ):
        lr_lambda(LinearDecay(decay_steps=5))(step)


def test_lambda_takes_numpy_integers() -> None:
    f = lr_lambda(CosineDecay(decay_steps=10))
    for kind in (np.int8, np.int32, np.int64, np.uint16, np.uint64):
        assert f(kind(3)) == f(3)


def test_curve_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"lr_curve\.num_steps: must be an integer >= 0, got -1"):
        lr_curve(Constant(), -1)
    with pytest.raises(TypeError, match=r"lr_curve\.num_steps"):
        lr_curve(Constant(), 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"lr_curve\.schedule: must be a Schedule"):
        lr_curve("cosine", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"lr_lambda\.schedule: must be a Schedule"):
        lr_lambda(lambda s: 1.0)  # type: ignore[arg-type]
    assert lr_curve(Constant(), 0).shape == (0,)
    assert lr_curve(Constant(), np.int64(3)).tolist() == [1.0, 1.0, 1.0]


# ---- specs: frozen, keyword-only, validated once ------------------------------------------------

SCHEDULE_CLASSES = [
    getattr(optfn.schedules, n)
    for n in optfn.schedules.__all__
    if isinstance(getattr(optfn.schedules, n), type)
    and issubclass(getattr(optfn.schedules, n), Schedule)
    and getattr(optfn.schedules, n) is not Schedule
]


def test_every_shape_is_exported_frozen_and_keyword_only() -> None:
    assert len(SCHEDULE_CLASSES) == 20
    for cls in SCHEDULE_CLASSES:
        assert all(a.kw_only for a in attrs.fields(cls)), cls
        assert cls.__setattr__ is not object.__setattr__  # frozen
    with pytest.raises(TypeError, match="abstract"):
        Schedule()  # type: ignore[abstract]
    s = WarmupCosine(warmup_steps=1, total_steps=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.total_steps = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        WarmupCosine(1, 2)  # type: ignore[misc]


def test_lists_become_tuples() -> None:
    j = Join(pieces=[Constant(), LinearDecay(decay_steps=2)], boundaries=[4])
    assert j.pieces == (Constant(), LinearDecay(decay_steps=2)) and j.boundaries == (4,)
    assert MultiStepDecay(boundaries=[3, 9], gamma=0.5).boundaries == (3, 9)


def _raises(exc: type[Exception], owner_field: str, value: str, make: object) -> None:
    with pytest.raises(exc) as info:
        make()  # type: ignore[operator]
    text = str(info.value)
    assert text.startswith(owner_field + ":"), text
    assert value in text, text


@pytest.mark.parametrize(
    ("make", "owner_field", "value"),
    [
        (
            lambda: WarmupCosine(warmup_steps=1.5, total_steps=10),
            "WarmupCosine.warmup_steps",
            "1.5",
        ),
        (
            lambda: WarmupCosine(warmup_steps=1, total_steps=True),
            "WarmupCosine.total_steps",
            "True",
        ),
        (lambda: LinearDecay(decay_steps=10.0), "LinearDecay.decay_steps", "10.0"),
        (lambda: CosineRestarts(cycle_steps=4, cycle_mult=1.5), "CosineRestarts.cycle_mult", "1.5"),
        (
            lambda: MultiStepDecay(boundaries=(2, 3.0), gamma=0.5),
            "MultiStepDecay.boundaries[1]",
            "3.0",
        ),
        (
            lambda: Join(pieces=(Constant(), Constant()), boundaries=(1.0,)),
            "Join.boundaries[0]",
            "1.0",
        ),
        (
            lambda: Join(pieces=(Constant(), "cosine"), boundaries=(4,)),
            "Join.pieces[1]",
            "'cosine'",
        ),
        (lambda: Join(pieces=Constant()), "Join.pieces", "Constant()"),
        (lambda: MultiStepDecay(boundaries="12", gamma=0.5), "MultiStepDecay.boundaries", "'12'"),
        (
            lambda: WarmupCosine(warmup_steps=1, total_steps=5, min_lr_scale="0.1"),
            "WarmupCosine.min_lr_scale",
            "'0.1'",
        ),
        (
            lambda: WarmupStableDecay(
                warmup_steps=0, total_steps=5, decay_steps=1, min_lr_scale=True
            ),
            "WarmupStableDecay.min_lr_scale",
            "True",
        ),
    ],
)
def test_wrong_kinds_are_type_errors(make: object, owner_field: str, value: str) -> None:
    _raises(TypeError, owner_field, value, make)


@pytest.mark.parametrize(
    ("make", "owner_field", "value"),
    [
        # negative or zero step counts where they must be positive
        (lambda: WarmupCosine(warmup_steps=0, total_steps=0), "WarmupCosine.total_steps", "0"),
        (lambda: WarmupCosine(warmup_steps=-1, total_steps=5), "WarmupCosine.warmup_steps", "-1"),
        (lambda: LinearWarmup(warmup_steps=0), "LinearWarmup.warmup_steps", "0"),
        (lambda: LinearDecay(decay_steps=0), "LinearDecay.decay_steps", "0"),
        (lambda: CosineDecay(decay_steps=-3), "CosineDecay.decay_steps", "-3"),
        (lambda: PolynomialDecay(decay_steps=0), "PolynomialDecay.decay_steps", "0"),
        (lambda: InverseSqrt(warmup_steps=0), "InverseSqrt.warmup_steps", "0"),
        (lambda: CosineRestarts(cycle_steps=1), "CosineRestarts.cycle_steps", "1"),
        (lambda: CosineRestarts(cycle_steps=5, cycle_mult=0), "CosineRestarts.cycle_mult", "0"),
        (
            lambda: ExponentialDecay(gamma=0.5, steps_per_epoch=0),
            "ExponentialDecay.steps_per_epoch",
            "0",
        ),
        (
            lambda: WarmupStableDecay(warmup_steps=0, total_steps=5, decay_steps=-1),
            "WarmupStableDecay.decay_steps",
            "-1",
        ),
        (
            lambda: LinearDecay(decay_steps=MAX_STEPS + 1),
            "LinearDecay.decay_steps",
            str(MAX_STEPS + 1),
        ),
        # warmup longer than the whole schedule
        (
            lambda: WarmupCosine(warmup_steps=11, total_steps=10),
            "WarmupCosine.warmup_steps",
            "must be <= total_steps (10), got 11",
        ),
        (
            lambda: WarmupStableDecay(warmup_steps=6, total_steps=10, decay_steps=5),
            "WarmupStableDecay.decay_steps",
            "got 6 + 5",
        ),
        # floors are ratios in [0, 1]
        (
            lambda: WarmupCosine(warmup_steps=1, total_steps=5, min_lr_scale=-0.1),
            "WarmupCosine.min_lr_scale",
            "in [0, 1], got -0.1",
        ),
        (
            lambda: LinearDecay(decay_steps=5, min_lr_scale=1.5),
            "LinearDecay.min_lr_scale",
            "in [0, 1], got 1.5",
        ),
        (lambda: LinearWarmup(warmup_steps=5, init_scale=2.0), "LinearWarmup.init_scale", "2.0"),
        # NaN and inf anywhere
        (
            lambda: CosineDecay(decay_steps=5, min_lr_scale=math.nan),
            "CosineDecay.min_lr_scale",
            "finite and in [0, 1], got nan",
        ),
        (
            lambda: PolynomialDecay(decay_steps=5, power=math.inf),
            "PolynomialDecay.power",
            "finite and > 0, got inf",
        ),
        (lambda: ExponentialDecay(gamma=math.nan), "ExponentialDecay.gamma", "nan"),
        (lambda: MultiStepDecay(boundaries=(3,), gamma=-math.inf), "MultiStepDecay.gamma", "-inf"),
        # gamma <= 0 (and > 1: a multiplier never exceeds the peak)
        (lambda: ExponentialDecay(gamma=0.0), "ExponentialDecay.gamma", "in (0, 1], got 0.0"),
        (lambda: ExponentialDecay(gamma=-0.5), "ExponentialDecay.gamma", "got -0.5"),
        (lambda: MultiStepDecay(boundaries=(3,), gamma=0), "MultiStepDecay.gamma", "got 0"),
        (lambda: ExponentialDecay(gamma=1.01), "ExponentialDecay.gamma", "got 1.01"),
        (lambda: PolynomialDecay(decay_steps=5, power=0.0), "PolynomialDecay.power", "got 0.0"),
        # joins: no pieces, non-increasing or non-positive boundaries, a count mismatch
        (lambda: Join(pieces=()), "Join.pieces", "at least 1 value(s), got 0"),
        (
            lambda: Join(pieces=(Constant(), Constant(), Constant()), boundaries=(5, 5)),
            "Join.boundaries[1]",
            "must be > boundaries[0] = 5 (strictly increasing), got 5",
        ),
        (
            lambda: Join(pieces=(Constant(), Constant(), Constant()), boundaries=(5, 3)),
            "Join.boundaries[1]",
            "got 3",
        ),
        (
            lambda: Join(pieces=(Constant(), Constant()), boundaries=(0,)),
            "Join.boundaries[0]",
            "got 0",
        ),
        (
            lambda: Join(pieces=(Constant(), Constant()), boundaries=()),
            "Join.boundaries",
            "len(pieces) - 1 = 1",
        ),
        (lambda: Join(pieces=(Constant(),), boundaries=(3,)), "Join.boundaries", "got 1: (3,)"),
        (
            lambda: MultiStepDecay(boundaries=(), gamma=0.5),
            "MultiStepDecay.boundaries",
            "at least 1",
        ),
        (
            lambda: MultiStepDecay(boundaries=(4, 2), gamma=0.5),
            "MultiStepDecay.boundaries[1]",
            "got 2",
        ),
        # a cool-down shape that does not exist
        (
            lambda: WarmupStableDecay(
                warmup_steps=0, total_steps=5, decay_steps=2, decay_shape="exponential"
            ),
            "WarmupStableDecay.decay_shape",
            "'exponential'",
        ),
    ],
)
def test_bad_values_are_value_errors(make: object, owner_field: str, value: str) -> None:
    _raises(ValueError, owner_field, value, make)


def test_errors_are_spec_errors_and_evolve_revalidates() -> None:
    with pytest.raises(SpecError) as info:
        LinearDecay(decay_steps=0)
    assert (info.value.owner, info.value.field) == ("LinearDecay", "decay_steps")
    with pytest.raises(SpecTypeError):
        LinearDecay(decay_steps=2.5)
    s = WarmupCosine(warmup_steps=5, total_steps=10)
    with pytest.raises(SpecError, match="warmup_steps"):
        attrs.evolve(s, total_steps=4)


def test_multiplier_is_a_float_even_for_int_fields() -> None:
    from optfn.schedules import ExponentialDecay, InverseSqrt, lr_lambda

    assert type(lr_lambda(InverseSqrt(warmup_steps=4, min_lr_scale=1))(10)) is float
    assert type(lr_lambda(ExponentialDecay(gamma=1))(3)) is float


def test_scalar_equals_vector_when_a_cycle_exceeds_2_53() -> None:
    """Found by hypothesis: a CosineRestarts cycle longer than 2**53 near step 3.4e15."""
    import numpy as np

    from optfn.schedules import CosineRestarts, InverseSqrt, lr_lambda

    s = CosineRestarts(cycle_steps=33, cycle_mult=4, min_lr_scale=0.0)
    start = 3_428_053_743_434_267
    steps = np.arange(start, start + 64, dtype=np.int64)
    f = lr_lambda(s)
    assert lr_curve(s, 64, start=start).tolist() == [f(int(i)) for i in steps]
    big = np.array([2**53 - 1, 2**53], dtype=np.int64)
    inv = InverseSqrt(warmup_steps=7)
    assert lr_curve(inv, 2, start=2**53 - 1).tolist() == [lr_lambda(inv)(int(i)) for i in big]


# ---- a user's own schedule: the public protocol ----------------------------------------------


@attrs.frozen(kw_only=True)
class TwoCosines(Schedule):
    """A user's shape: the mean of two cosines of different periods, through ``xp`` only."""

    period: int = 37
    gamma: float = 0.75

    def formula(self, x: Any, xp: Any) -> Any:
        t = xp.to_float(x % self.period) / float(self.period)
        a = 0.5 * (1.0 + xp.cos(math.pi * t))
        b = xp.pow(self.gamma, xp.to_float(x // self.period))
        return xp.maximum(0.0, xp.minimum(1.0, 0.5 * (a + b) + 0.0 * xp.sqrt(t)))


def test_user_schedule_curve_equals_lambda_bit_for_bit() -> None:
    s = TwoCosines()
    f = lr_lambda(s)
    assert np.array_equal(lr_curve(s, N), scalar_curve(s, N))
    start = 2**53 - 100
    assert lr_curve(s, 64, start=start).tolist() == [f(i) for i in range(start, start + 64)]
    assert 0.0 <= f(10**30) <= 1.0  # a huge step saturates to inf instead of raising
    g = pickle.loads(pickle.dumps(f))
    assert [g(i) for i in range(50)] == [f(i) for i in range(50)]


def test_user_schedule_in_a_join() -> None:
    user = TwoCosines(period=11)
    j = Join(
        pieces=(LinearWarmup(warmup_steps=5), user, CosineDecay(decay_steps=40)),
        boundaries=(5, 300),
    )
    curve = lr_curve(j, N)
    assert np.array_equal(curve, scalar_curve(j, N))
    assert np.array_equal(curve[5:300], lr_curve(user, 295))
    nested = Join(pieces=(Constant(), j), boundaries=(7,))
    assert np.array_equal(lr_curve(nested, N)[7:], curve[: N - 7])
    assert np.array_equal(lr_curve(nested, N), scalar_curve(nested, N))


def test_formula_of_a_piecewise_shape_is_the_whole_schedule() -> None:
    from optfn.schedules.xp import SCALAR, VECTOR

    for s in (
        WarmupCosine(warmup_steps=5, total_steps=40, min_lr_scale=0.1),
        Join(pieces=(LinearWarmup(warmup_steps=3), TwoCosines()), boundaries=(3,)),
        MultiStepDecay(boundaries=(4, 9), gamma=0.5),
        CosineRestarts(cycle_steps=3, cycle_mult=3),
    ):
        steps = np.array([60, 0, 5, 17, 3, 2**40], dtype=np.int64)  # any order
        want = [lr_lambda(s)(int(i)) for i in steps]
        assert s.formula(steps, VECTOR).tolist() == want
        assert [s.formula(int(i), SCALAR) for i in steps] == want


def test_curve_start_argument() -> None:
    s = WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.1)
    assert np.array_equal(lr_curve(s, 50, start=30), lr_curve(s, 80)[30:])
    assert lr_curve(s, 0, start=2**63).shape == (0,)
    with pytest.raises(ValueError, match=r"lr_curve\.start: must be an integer >= 0, got -1"):
        lr_curve(s, 5, start=-1)
    with pytest.raises(TypeError, match=r"lr_curve\.start"):
        lr_curve(s, 5, start=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lr_curve\.start: start \+ num_steps must be <= 2\*\*63"):
        lr_curve(s, 5, start=2**63 - 4)


def test_numpy_integer_fields_are_the_same_schedule() -> None:
    """One rule for numpy scalars everywhere (optfn.specs.checks): an int64 field is accepted
    and the schedule is the one of the equal Python int, value for value."""
    a = ExponentialDecay(gamma=0.9, steps_per_epoch=np.int64(3))
    b = ExponentialDecay(gamma=0.9, steps_per_epoch=3)
    assert a == b and hash(a) == hash(b)
    assert np.array_equal(lr_curve(a, 50), lr_curve(b, 50))
    assert lr_lambda(a)(2**80) == lr_lambda(b)(2**80)


def _nested_join(depth: int) -> Schedule:
    s: Schedule = LinearDecay(decay_steps=4)
    for i in range(depth):
        s = Join(pieces=(LinearWarmup(warmup_steps=1 + i), s), boundaries=(1 + i,))
    return s


def test_joins_work_at_every_depth_construction_allows() -> None:
    """Issue 19: every operation works at MAX_JOIN_DEPTH; one deeper is refused, by name."""
    from optfn import from_dict, from_json, from_toml, to_dict, to_json, to_toml
    from optfn.schedules import MAX_JOIN_DEPTH, join_depth

    deepest = _nested_join(MAX_JOIN_DEPTH)
    assert join_depth(deepest) == MAX_JOIN_DEPTH
    for dump, load in ((to_dict, from_dict), (to_json, from_json), (to_toml, from_toml)):
        back = load(dump(deepest))  # type: ignore[operator]
        assert back == deepest and hash(back) == hash(deepest) and repr(back) == repr(deepest)
    assert np.array_equal(lr_curve(deepest, 300), scalar_curve(deepest, 300))
    with pytest.raises(
        SpecError, match=r"Join\.pieces: Joins, Products and Sums nest 17 deep; at most 16"
    ) as info:
        Join(pieces=(deepest, Constant()), boundaries=(3,))
    assert (info.value.owner, info.value.field) == ("Join", "pieces")
    # the same refusal from a file, with the path of the field
    data = to_dict(Join(pieces=(Constant(), Constant()), boundaries=(3,)))
    data["pieces"][0] = {k: x for k, x in to_dict(deepest).items() if k != "version"}
    with pytest.raises(ValueError, match=r"pieces: Joins, Products and Sums nest 17 deep"):
        from_dict(data)


def test_lr_curve_length_is_bounded_and_memory_errors_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optfn.schedules import MAX_CURVE_LENGTH

    for n in (MAX_CURVE_LENGTH + 1, 2**62, 2**63 - 1, 10**18):
        with pytest.raises(SpecError, match=r"lr_curve\.num_steps: must be <= 1,073,741,824"):
            lr_curve(Constant(), n)

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(np, "empty", no_memory)
    with pytest.raises(SpecError, match=r"1,000 steps need 8,000 bytes.*chunks with start="):
        lr_curve(Constant(), 1000)


@settings(max_examples=150, deadline=None)
@given(schedule_specs(), st.sampled_from([2**64, 2**200, 2**1023, 2**1024, 2**5000]))
def test_astronomical_steps_give_a_multiplier_never_an_overflow(s: Schedule, step: int) -> None:
    value = lr_lambda(s)(step)
    assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def test_new_pieces_refuse_bad_input_naming_the_field() -> None:
    from optfn.schedules import MAX_JOIN_DEPTH

    inner: Schedule = Constant()
    for _ in range(MAX_JOIN_DEPTH):
        inner = Product(factors=(inner,))
    with pytest.raises(SpecError, match=r"Product\.factors: Joins, Products and Sums nest 17"):
        Product(factors=(inner,))
    with pytest.raises(SpecError, match=r"Ramp\.power: applies to the 'polynomial'"):
        Ramp(steps=4, start_scale=0.0, power=2.0)
    with pytest.raises(SpecError, match=r"Ramp\.cycles: applies to the 'cosine'"):
        Ramp(steps=4, start_scale=0.0, cycles=2.0)
    with pytest.raises(SpecError, match=r"Ramp\.end_scale"):
        Ramp(steps=4, start_scale=0.0, end_scale=math.inf)
    with pytest.raises(SpecError, match=r"PiecewiseConstant\.values: must hold len\(boundaries\)"):
        PiecewiseConstant(boundaries=(2, 3), values=(1.0,))
    with pytest.raises(SpecError, match=r"PiecewiseConstant\.values\[1\]"):
        PiecewiseConstant(boundaries=(2,), values=(1.0, -0.5))
    with pytest.raises(SpecTypeError, match=r"Product\.factors"):
        Product(factors=("cosine",))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"InverseSqrt\.timescale: is required"):
        InverseSqrt(warmup_steps=0, warmup_ramp="s/W")
    with pytest.raises(SpecError, match=r"CosineRestarts\.cycle_steps: must be >= 2"):
        CosineRestarts(cycle_steps=1)
    with pytest.raises(SpecError, match=r"LinearWarmup\.warmup_ramp"):
        LinearWarmup(warmup_steps=4, warmup_ramp="(s+1)/(W-1)")  # type: ignore[arg-type]
