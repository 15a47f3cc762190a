"""Issue 25, the schedule algebra: ``Join(clock="global")``, ``Sum``, nanoGPT's and DINOv2's
warm-up conventions, and ``WarmupStableDecay(decay_steps=0)``.

Each is checked against the plain Python (or numpy) formula of the library it comes from, and
the specs are drawn by :mod:`optfn.strategies`, so the property tests of ``test_schedules.py``
(``lr_curve == lr_lambda`` bit for bit, bounds, huge steps) cover them too.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import reduce
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import optfn.schedules
from optfn import from_dict, from_json, from_toml, to_dict, to_json, to_toml
from optfn.errors import SpecError
from optfn.schedules import (
    MAX_JOIN_DEPTH,
    MAX_STEPS,
    Constant,
    CosineDecay,
    InverseSqrt,
    Join,
    LinearDecay,
    LinearWarmup,
    PiecewiseConstant,
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


def scalar_curve(s: Schedule, n: int, start: int = 0) -> np.ndarray:
    f = lr_lambda(s)
    return np.array([f(i) for i in range(start, start + n)], dtype=np.float64)


def both(s: Schedule, n: int) -> np.ndarray:
    """``lr_curve``, after checking that it equals ``lr_lambda`` bit for bit."""
    curve = lr_curve(s, n)
    assert np.array_equal(curve, scalar_curve(s, n))
    return curve


def max_rel(got: np.ndarray, want: np.ndarray) -> float:
    scale = np.maximum(np.abs(want), 1e-300)
    return float(np.max(np.abs(got - want) / scale))


# ---- 1. Join on the global step ------------------------------------------------------------


def timm_cosine(t: int) -> float:
    """timm's ``CosineLRScheduler._get_lr`` (timm/scheduler/cosine_lr.py) with its defaults
    ``warmup_prefix=False``, ``cycle_mul=1``, ``cycle_decay=1``, ``cycle_limit=1``, for
    ``lr=5e-4, t_initial=10000, warmup_t=500, lr_min=1e-6, warmup_lr_init=1e-6``, as a
    multiplier of the base LR: the warm-up, then the cosine on the *global* step ``t``."""
    lr, lr_min, warmup_lr_init, warmup_t, t_initial = 5e-4, 1e-6, 1e-6, 500, 10_000
    if t < warmup_t:
        return (warmup_lr_init + t * (lr - warmup_lr_init) / warmup_t) / lr
    if t < t_initial:  # warmup_prefix=False: t itself, not t - warmup_t
        return (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t / t_initial))) / lr
    return lr_min / lr  # i = t // t_initial >= cycle_limit


@pytest.mark.parametrize(
    "cosine",
    [
        CosineDecay(decay_steps=10_000, min_lr_scale=0.002),
        Ramp(steps=10_000, start_scale=1.0, end_scale=0.002, shape="cosine"),
    ],
)
def test_timm_cosine_under_a_warmup_is_a_global_join(cosine: Schedule) -> None:
    sched = Join(
        pieces=(Ramp(steps=500, start_scale=0.002), cosine), boundaries=(500,), clock="global"
    )
    n = 12_001
    want = np.array([timm_cosine(t) for t in range(n)])
    got = both(sched, n)
    assert max_rel(got, want) <= 1e-13
    # the cosine is the global one: at the boundary it is already below 1.0 (the local clock
    # would restart it at 1.0 there)
    assert got[500] == lr_lambda(cosine)(500) < 1.0
    local = lr_curve(Join(pieces=sched.pieces, boundaries=(500,)), n)
    assert local[500] == 1.0 and max_rel(local[500:], want[500:]) > 1e-3
    assert lr_lambda(sched)(10**9) == lr_lambda(cosine)(10**9)


def reference(s: Schedule, step: int) -> float:
    """A Join by its definition, piece by piece: ``pieces[i](s - b_i)`` on the local clock,
    ``pieces[i](s)`` on the global one; anything else by ``lr_lambda``."""
    if not isinstance(s, Join):
        return lr_lambda(s)(step)
    starts = (0, *s.boundaries)
    i = bisect_right(starts, step) - 1
    origin = starts[i] if s.clock == "local" else 0
    return reference(s.pieces[i], step - origin)


NESTED = [
    # a Join of Joins on the global clock, the inner ones on either clock
    Join(
        pieces=(
            LinearWarmup(warmup_steps=20),
            Join(pieces=(CosineDecay(decay_steps=200), Constant()), boundaries=(150,)),
            Join(
                pieces=(LinearDecay(decay_steps=400), Ramp(steps=50, start_scale=0.1)),
                boundaries=(320,),
                clock="global",
            ),
        ),
        boundaries=(20, 300),
        clock="global",
    ),
    # a compound shape with segments of its own as a global piece (its warm-up is over by the
    # boundary, its cosine is under way)
    Join(
        pieces=(
            Ramp(steps=40, start_scale=0.0),
            WarmupCosine(warmup_steps=30, total_steps=300, min_lr_scale=0.1),
        ),
        boundaries=(40,),
        clock="global",
    ),
    # ... and one that is still warming up at its boundary
    Join(
        pieces=(
            Constant(),
            WarmupStableDecay(warmup_steps=100, total_steps=400, decay_steps=100),
        ),
        boundaries=(60,),
        clock="global",
    ),
    # a global Join inside a local one: its step 0 is the outer boundary
    Join(
        pieces=(
            LinearWarmup(warmup_steps=10),
            Join(
                pieces=(LinearDecay(decay_steps=50), CosineDecay(decay_steps=100)),
                boundaries=(30,),
                clock="global",
            ),
        ),
        boundaries=(10,),
    ),
]


@pytest.mark.parametrize("sched", NESTED, ids=range(len(NESTED)))
def test_nested_global_joins_follow_their_definition(sched: Join) -> None:
    n = 600
    got = both(sched, n)
    assert got.tolist() == [reference(sched, s) for s in range(n)]
    # any window of the vector form, and the scalar form's far steps
    assert lr_curve(sched, 37, start=271).tolist() == got[271:308].tolist()
    for step in (2**53, 2**64 + 3, 10**30):
        assert lr_lambda(sched)(step) == reference(sched, step)


def test_global_piece_shows_its_values_from_its_boundary() -> None:
    wc = WarmupCosine(warmup_steps=30, total_steps=300, min_lr_scale=0.1)
    j = NESTED[1]
    assert np.array_equal(lr_curve(j, 500)[40:], lr_curve(wc, 460, start=40))
    wsd = WarmupStableDecay(warmup_steps=100, total_steps=400, decay_steps=100)
    j = NESTED[2]
    curve = lr_curve(j, 500)
    assert np.all(curve[:60] == 1.0)
    assert np.array_equal(curve[60:], lr_curve(wsd, 440, start=60))
    assert curve[60] == lr_lambda(wsd)(60) == 0.61  # mid-warm-up: (60 + 1) / 100


@settings(max_examples=80, deadline=None)
@given(joins(max_total_steps=300, max_depth=3))
def test_drawn_joins_follow_their_definition(j: Join) -> None:
    n = 320
    assert both(j, n).tolist() == [reference(j, s) for s in range(n)]


def test_clock_is_validated_and_serialized() -> None:
    with pytest.raises(SpecError, match=r"Join\.clock: must be one of 'local', 'global'"):
        Join(pieces=(Constant(),), clock="wall")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"Join\.clock: must be one of .*got None"):
        Join(pieces=(Constant(),), clock=None)  # type: ignore[arg-type]
    j = NESTED[0]
    for dump, load in ((to_dict, from_dict), (to_json, from_json), (to_toml, from_toml)):
        back = load(dump(j))  # type: ignore[operator]
        assert back == j and back.clock == "global"
    # a local Join's record is the one written before the clock existed (a scheduler's state
    # compares records as data: saved runs resume)
    assert to_dict(Join(pieces=(Constant(),))) == {
        "version": 1,
        "type": "join",
        "pieces": [{"type": "constant"}],
        "boundaries": [],
    }
    assert to_dict(attrs.evolve(j, clock="local")).keys() == to_dict(j).keys() - {"clock"}
    # the repr names the clock only when it is not the default
    assert repr(Join(pieces=(Constant(),))) == "Join(pieces=(Constant(),), boundaries=())"
    g = Join(pieces=(Constant(), LinearDecay(decay_steps=3)), boundaries=(2,), clock="global")
    assert repr(g).endswith("boundaries=(2,), clock='global')")
    assert eval(repr(g), vars(optfn.schedules)) == g
    # a file without the key: today's local clock
    data = to_dict(Join(pieces=(Constant(), LinearDecay(decay_steps=4)), boundaries=(2,)))
    assert "clock" not in data and from_dict(data).clock == "local"
    assert from_dict({**data, "clock": "global"}).clock == "global"
    with pytest.raises(ValueError, match=r"clock"):
        from_dict({**data, "clock": "Global"})


def test_scheduler_states_of_local_joins_keep_their_record() -> None:
    """A ScheduleLR state compares its schedule record as data: a local Join's record has no
    "clock" key, as states saved before the field existed, so those resume."""
    import torch

    from optfn import make_scheduler

    j = Join(pieces=(LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=4)), boundaries=(2,))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = make_scheduler(opt, j)
    opt.step()
    sched.step()
    state = sched.state_dict()
    assert state["schedule"] == {
        "version": 1,
        "type": "join",
        "pieces": [
            {
                "type": "linear_warmup",
                "warmup_steps": 2,
                "init_scale": 0.0,
                "warmup_ramp": "(s+1)/W",
            },
            {"type": "linear_decay", "decay_steps": 4, "min_lr_scale": 0.0},
        ],
        "boundaries": [2],
    }
    again = make_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), j)
    again.load_state_dict(state)
    assert again.last_epoch == 1
    g = attrs.evolve(j, clock="global")
    other = make_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), g)
    with pytest.raises(ValueError, match=r"saved under"):
        other.load_state_dict(state)  # another clock is another schedule


# ---- 2. Sum --------------------------------------------------------------------------------


def modded_nanogpt(step: int, stages: list[tuple[int, float]], cool: int, length: int) -> float:
    """modded-nanogpt's cool-down over its stage multipliers, as plain Python: the stage's
    ``lr`` until the cool-down starts at step ``cool``, then ``lr * (1 - t) + 0.15 * t`` with
    ``t = (step - cool) / length`` rising to 1 (and held there)."""
    lr = next(v for end, v in stages if step < end) if step < stages[-1][0] else stages[-1][1]
    t = min(max(step - cool, 0) / length, 1.0)
    return lr * (1 - t) + 0.15 * t


def test_modded_nanogpt_cooldown_is_a_sum() -> None:
    stages = [(600, 1.0), (1200, 0.8), (10**9, 0.6)]
    cool, length = 1000, 500
    stage = PiecewiseConstant(boundaries=(600, 1200), values=(1.0, 0.8, 0.6))
    fall = Join(
        pieces=(Constant(), Ramp(steps=length, start_scale=1.0, end_scale=0.0)),
        boundaries=(cool,),
    )
    rise = Join(
        pieces=(
            PiecewiseConstant(values=(0.0,)),
            Ramp(steps=length, start_scale=0.0, end_scale=0.15),
        ),
        boundaries=(cool,),
    )
    sched = Sum(terms=(Product(factors=(stage, fall)), rise))
    n = 1800
    got = both(sched, n)
    want = np.array([modded_nanogpt(s, stages, cool, length) for s in range(n)])
    assert max_rel(got, want) <= 1e-15
    assert np.array_equal(got[:cool], lr_curve(stage, cool))  # before the cool-down: the stages
    assert np.all(got[cool + length :] == 0.15)  # after it: exactly 0.15
    assert lr_lambda(sched)(10**12) == 0.15


@settings(max_examples=60, deadline=None)
@given(schedule_specs(kinds=("sum",), max_total_steps=300))
def test_sum_is_its_terms_added_in_order(s: Sum) -> None:
    n = 320
    terms = [lr_curve(t, n) for t in s.terms]
    assert np.array_equal(both(s, n), reduce(lambda a, b: a + b, terms))


def test_sum_is_validated_bounded_and_serialized() -> None:
    with pytest.raises(SpecError, match=r"Sum\.terms: must have at least 1 value\(s\), got 0"):
        Sum(terms=())
    with pytest.raises(TypeError, match=r"Sum\.terms\[1\]"):
        Sum(terms=(Constant(), "cosine"))  # type: ignore[arg-type]
    inner: Schedule = Constant()
    for _ in range(MAX_JOIN_DEPTH):
        inner = Sum(terms=(inner,))
    with pytest.raises(SpecError, match=r"Sum\.terms: Joins, Products and Sums nest 17 deep"):
        Sum(terms=(inner,))
    # every multiplier stays finite: terms that could add up past the largest float are refused
    big = PiecewiseConstant(values=(1e308,))
    with pytest.raises(SpecError, match=r"Sum\.terms: .*add up to more than the largest float"):
        Sum(terms=(big, big))
    assert lr_lambda(Sum(terms=(big, PiecewiseConstant(values=(1e307,)))))(5) == 1e308 + 1e307
    s = Sum(terms=(Ramp(steps=4, start_scale=0.0, end_scale=2.0), LinearDecay(decay_steps=4)))
    assert both(s, 6).tolist() == [1.0, 1.25, 1.5, 1.75, 2.0, 2.0]  # a sum may exceed 1.0
    for dump, load in ((to_dict, from_dict), (to_json, from_json), (to_toml, from_toml)):
        assert load(dump(s)) == s  # type: ignore[operator]
    assert to_dict(s)["type"] == "sum"


# ---- 3. nanoGPT's and DINOv2's warm-ups ----------------------------------------------------


def nanogpt_get_lr(it: int, learning_rate: float, min_lr: float, warmup: int, decay: int) -> float:
    """nanoGPT's ``get_lr`` (train.py), transcribed."""
    if it < warmup:
        return learning_rate * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    decay_ratio = (it - warmup) / (decay - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_nanogpt_warmup_ramp() -> None:
    lr, w = 6e-4, 2000
    got = both(LinearWarmup(warmup_steps=w, warmup_ramp="(s+1)/(W+1)"), w + 10)
    want = np.array([lr * (it + 1) / (w + 1) for it in range(w)])
    assert max_rel(got[:w] * lr, want) <= 1e-15  # lr * (it + 1) first, then / (W + 1)
    assert got[:w].tolist() == [(s + 1) / (w + 1) for s in range(w)]  # the multiplier exactly
    assert got[w - 1] == w / (w + 1) and np.all(got[w:] == 1.0)


def test_nanogpt_get_lr_is_a_warmup_cosine() -> None:
    lr, min_lr, w, decay = 6e-4, 6e-5, 200, 6000
    sched = WarmupCosine(
        warmup_steps=w, total_steps=decay, min_lr_scale=min_lr / lr, warmup_ramp="(s+1)/(W+1)"
    )
    n = decay + 100
    got = both(sched, n) * lr
    want = np.array([nanogpt_get_lr(it, lr, min_lr, w, decay) for it in range(n)])
    assert max_rel(got, want) <= 1e-15
    assert lr_lambda(sched)(w) == 1.0  # the cosine's start: what follows the warm-up


def dinov2_cosine(base: float, final: float, total: int, warmup: int) -> np.ndarray:
    """DINOv2's ``CosineScheduler`` (dinov2/utils/utils.py, start_warmup_value=0,
    freeze_iters=0), transcribed: its whole schedule array."""
    warmup_schedule = np.linspace(0, base, warmup)
    iters = np.arange(total - warmup)
    schedule = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup_schedule, schedule))


def test_dinov2_linspace_warmup_ramp() -> None:
    v, w = 0.004, 12_500
    ramp = LinearWarmup(warmup_steps=w, warmup_ramp="s/(W-1)")
    got = both(ramp, w + 10)
    # the multiplier is np.linspace(0, 1, W), bit for bit (numpy's i * (1 / (W - 1)), and its
    # endpoint set to exactly 1.0); with an init_scale, np.linspace(init, 1, W)
    assert np.array_equal(got[:w], np.linspace(0.0, 1.0, w))
    assert got[w - 1] == 1.0 and np.all(got[w:] == 1.0)
    for init in (0.1, 0.37, 1.0):
        warm = LinearWarmup(warmup_steps=w, init_scale=init, warmup_ramp="s/(W-1)")
        assert np.array_equal(lr_curve(warm, w), np.linspace(init, 1.0, w))
    # DINOv2's values np.linspace(0, v, W) round v / (W - 1) instead: within an ulp of v * λ
    lin = np.linspace(0, v, w)
    assert max_rel(got[:w], lin / v) <= 2.3e-16 and max_rel(got[:w] * v, lin) <= 2.3e-16
    assert lin[-1] == v and got[w - 1] * v == v


def test_dinov2_cosine_scheduler_is_a_warmup_cosine() -> None:
    base, final, total, w = 0.004, 1e-6, 5000, 500
    sched = WarmupCosine(
        warmup_steps=w, total_steps=total, min_lr_scale=final / base, warmup_ramp="s/(W-1)"
    )
    got = both(sched, total + 50) * base
    want = dinov2_cosine(base, final, total, w)
    assert max_rel(got[:w], want[:w]) <= 2.3e-16  # the warm-up: within an ulp
    # the cosine: DINOv2's angle is (pi * i) / n, optfn's pi * (i / n) (Hugging Face's and
    # nanoGPT's); an ulp of the angle is up to 7e-14 relative near the floor, where 1 + cos
    # cancels
    assert max_rel(got[:total], want) <= 1e-13
    assert np.all(got[total:] == (final / base) * base)  # DINOv2: final_value from total on
    assert lr_lambda(sched)(w - 1) == 1.0 == lr_lambda(sched)(w)


@pytest.mark.parametrize("ramp", ["(s+1)/(W+1)", "s/(W-1)"])
@pytest.mark.parametrize("shape", ["cosine", "1-sqrt"])
def test_new_ramps_on_shaped_warmups(ramp: Any, shape: Any) -> None:
    w = 40
    wsd = WarmupStableDecay(
        warmup_steps=w, total_steps=100, decay_steps=20, warmup_ramp=ramp, warmup_shape=shape
    )
    got = both(wsd, 120)
    p = (np.arange(w) + 1) / (w + 1) if ramp == "(s+1)/(W+1)" else np.arange(w) / (w - 1)
    rise = 0.5 * (1 - np.cos(np.pi * p)) if shape == "cosine" else 1 - np.sqrt(1 - p)
    assert max_rel(got[1:w], rise[1:]) <= 1e-14 and got[0] == rise[0]
    assert np.all(np.diff(got[:w]) > 0) and np.all(got[w:80] == 1.0)
    assert (got[w - 1] == 1.0) == (ramp == "s/(W-1)")


def test_inverse_sqrt_new_ramps() -> None:
    tau = 100
    nano = InverseSqrt(warmup_steps=10, timescale=tau, warmup_ramp="(s+1)/(W+1)")
    got = both(nano, 300)
    assert got[:10].tolist() == [(s + 1) / 11 for s in range(10)]
    assert got[10] == 1.0  # the decay of "s/W": 1.0 at W, where the ramp hands over
    hf = lr_curve(attrs.evolve(nano, warmup_ramp="s/W"), 300)
    assert np.array_equal(got[10:], hf[10:])
    dino = InverseSqrt(warmup_steps=10, warmup_ramp="s/(W-1)")
    got = both(dino, 300)
    assert got[9] == 1.0 and got[:10].tolist() == np.linspace(0, 1, 10).tolist()
    default = lr_curve(InverseSqrt(warmup_steps=10), 300)
    assert np.array_equal(got[10:], default[10:])  # the default decay: 1.0 at W - 1, sqrt(W/(s+1))
    # no warm-up: as "s/W"
    none = InverseSqrt(warmup_steps=0, timescale=tau, warmup_ramp="(s+1)/(W+1)")
    hf = InverseSqrt(warmup_steps=0, timescale=tau, warmup_ramp="s/W")
    assert np.array_equal(both(none, 50), lr_curve(hf, 50))


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: LinearWarmup(warmup_steps=1, warmup_ramp="s/(W-1)"), "LinearWarmup"),
        (
            lambda: WarmupCosine(warmup_steps=1, total_steps=5, warmup_ramp="s/(W-1)"),
            "WarmupCosine",
        ),
        (
            lambda: WarmupStableDecay(
                warmup_steps=1, total_steps=5, decay_steps=2, warmup_ramp="s/(W-1)"
            ),
            "WarmupStableDecay",
        ),
        (lambda: InverseSqrt(warmup_steps=1, warmup_ramp="s/(W-1)"), "InverseSqrt"),
    ],
)
def test_linspace_ramp_refuses_one_step(make: Any, where: str) -> None:
    with pytest.raises(SpecError, match=rf"{where}\.warmup_steps: must be >= 2 .*got 1"):
        make()


def test_ramp_edges_refused_or_allowed_by_name() -> None:
    with pytest.raises(SpecError, match=r"LinearWarmup\.warmup_steps: must be < 2\*\*53"):
        LinearWarmup(warmup_steps=MAX_STEPS, warmup_ramp="(s+1)/(W+1)")
    assert lr_lambda(LinearWarmup(warmup_steps=MAX_STEPS - 1, warmup_ramp="(s+1)/(W+1)"))(0) > 0
    with pytest.raises(SpecError, match=r"InverseSqrt\.warmup_steps: must be >= 1 .*'s/\(W-1\)'"):
        InverseSqrt(warmup_steps=0, timescale=10, warmup_ramp="s/(W-1)")
    with pytest.raises(SpecError, match=r"InverseSqrt\.timescale: is required"):
        InverseSqrt(warmup_steps=0, warmup_ramp="(s+1)/(W+1)")
    # no warm-up at all is fine for the shapes that allow W = 0, by any convention
    for ramp in ("(s+1)/(W+1)", "s/(W-1)"):
        wc = WarmupCosine(warmup_steps=0, total_steps=10, warmup_ramp=ramp)  # type: ignore[arg-type]
        assert np.array_equal(lr_curve(wc, 20), lr_curve(CosineDecay(decay_steps=10), 20))


# ---- 4. WarmupStableDecay without a cool-down --------------------------------------------


@pytest.mark.parametrize(("w", "total"), [(4, 4), (4, 10), (0, 7), (1, 1)])
def test_wsd_without_decay_is_warmup_then_stable_forever(w: int, total: int) -> None:
    """torchtitan gives decay_steps = 0 when the warm-up fills the run."""
    wsd = WarmupStableDecay(warmup_steps=w, total_steps=total, decay_steps=0, min_lr_scale=0.1)
    want = Join(pieces=(LinearWarmup(warmup_steps=w), Constant()), boundaries=(w,)) if w else None
    got = both(wsd, total + 20)
    if want is not None:
        assert np.array_equal(got, lr_curve(want, total + 20))
    assert np.all(got[w:] == 1.0) and lr_lambda(wsd)(10**20) == 1.0
    for dump, load in ((to_dict, from_dict), (to_toml, from_toml)):
        assert load(dump(wsd)) == wsd  # type: ignore[operator]


def test_wsd_decay_steps_still_validated() -> None:
    with pytest.raises(SpecError, match=r"WarmupStableDecay\.decay_steps: .* got -1"):
        WarmupStableDecay(warmup_steps=0, total_steps=5, decay_steps=-1)
    with pytest.raises(SpecError, match=r"WarmupStableDecay\.decay_steps: .*got 6 \+ 0"):
        WarmupStableDecay(warmup_steps=6, total_steps=5, decay_steps=0)


# ---- the strategies draw all of it -------------------------------------------------------


@pytest.mark.parametrize(
    "wanted",
    [
        lambda s: isinstance(s, Join) and s.clock == "global",
        lambda s: isinstance(s, Sum) and len(s.terms) > 1,
        lambda s: getattr(s, "warmup_ramp", None) == "(s+1)/(W+1)",
        lambda s: getattr(s, "warmup_ramp", None) == "s/(W-1)",
        lambda s: isinstance(s, WarmupStableDecay) and s.decay_steps == 0,
    ],
    ids=["global-join", "sum", "nanogpt-ramp", "dinov2-ramp", "wsd-no-decay"],
)
def test_strategies_draw_the_new_specs(wanted: Any) -> None:
    found = find(
        schedule_specs(max_total_steps=300),
        wanted,
        settings=settings(max_examples=2000, database=None, deadline=None),
    )
    assert wanted(found)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["(s+1)/(W+1)", "s/(W-1)"]), st.integers(2, 400))
def test_new_ramps_reach_one_where_their_library_does(ramp: Any, w: int) -> None:
    curve = both(LinearWarmup(warmup_steps=w, warmup_ramp=ramp), w + 3)
    assert np.all(np.diff(curve) >= 0) and curve[0] == (1 / (w + 1) if ramp[0] == "(" else 0.0)
    first_one = int(np.argmax(curve == 1.0))
    assert first_one == (w if ramp == "(s+1)/(W+1)" else w - 1)
