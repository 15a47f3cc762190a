"""optax's schedules as optfn specs: each recipe here against optax itself, in float64.

For every optax schedule function a recipe writes the optfn spec by hand (what the README's
table shows); the test evaluates optax's schedule at counts ``0 .. n`` with ``jax.vmap``,
divides by the value the spec's multipliers are relative to (the peak, or ``init_value``), and
compares with ``lr_curve``. optfn's formulas are optax's up to the order of a few roundings (and
numpy's ``cos``/``pow`` for XLA's), so the check is ``|optax - optfn| <= 1e-12·|optax| +
1e-15``: relative everywhere except at values within 1e-15 of 0, where optax's ``1 - (1 - p)``
or a cosine's ``1 + cos(~π)`` leave an absolute rounding of about 1e-16.

Two evaluations: eager (``jax.vmap`` op by op, IEEE arithmetic, the one asserted) and jitted
(what a training step sees: XLA fuses ``1 - count / n`` with an FMA on a reciprocal, so a
fraction that should be exactly 0 can come out ``-5e-17``; ``polynomial_schedule`` with a
non-integer power then returns NaN from ``transition_steps`` on). ``python
tests/convert/test_convert_optax.py`` writes both to ``/tmp/convert_optax_errors.md`` and the
recipes to ``/tmp/optax_table.md``.

jax is imported by this module only, and ``jax_enable_x64`` (process-global) is set here: it
changes nothing outside jax.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

from optfn import (  # noqa: E402
    Constant,
    CosineDecay,
    ExponentialDecay,
    Join,
    LinearWarmup,
    Ramp,
    Schedule,
    WarmupCosine,
    lr_curve,
)
from optfn.schedules import PiecewiseConstant  # noqa: E402

#: Allowed difference: relative, plus an absolute floor for values within 1e-15 of 0.
RTOL, ATOL = 1e-12, 1e-15


# ---- the recipes: optax function -> optfn spec (and the value it is relative to) ----------


def _begin(begin: int, start: float, piece: Schedule) -> Schedule:
    """optax's ``transition_begin``: the start value held for ``begin`` steps, then ``piece``."""
    if not begin:
        return piece
    return Join(pieces=(PiecewiseConstant(values=(start,)), piece), boundaries=(begin,))


def constant_schedule(value: float) -> tuple[Schedule, float]:
    return Constant(), value


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> tuple[Schedule, float]:
    peak = max(init_value, end_value)
    a, e = init_value / peak, end_value / peak
    return _begin(
        transition_begin, a, Ramp(steps=transition_steps, start_scale=a, end_scale=e)
    ), peak


def polynomial_schedule(
    init_value: float,
    end_value: float,
    power: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> tuple[Schedule, float]:
    peak = max(init_value, end_value)
    a, e = init_value / peak, end_value / peak
    ramp = Ramp(steps=transition_steps, start_scale=a, end_scale=e, shape="polynomial", power=power)
    return _begin(transition_begin, a, ramp), peak


def cosine_decay_schedule(
    init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
) -> tuple[Schedule, float]:
    if exponent == 1.0:
        return CosineDecay(decay_steps=decay_steps, min_lr_scale=alpha), init_value
    ramp = Ramp(steps=decay_steps, start_scale=1.0, end_scale=alpha, shape="cosine", power=exponent)
    return ramp, init_value


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> tuple[Schedule, float]:
    alpha = end_value / peak_value
    if init_value == 0.0 and exponent == 1.0:
        spec: Schedule = WarmupCosine(
            warmup_steps=warmup_steps,
            total_steps=decay_steps,
            min_lr_scale=alpha,
            warmup_ramp="s/W",
        )
        return spec, peak_value
    cosine = Ramp(
        steps=decay_steps - warmup_steps,
        start_scale=1.0,
        end_scale=alpha,
        shape="cosine",
        power=exponent,
    )
    if not warmup_steps:
        return cosine, peak_value
    warmup = LinearWarmup(
        warmup_steps=warmup_steps, init_scale=init_value / peak_value, warmup_ramp="s/W"
    )
    return Join(pieces=(warmup, cosine), boundaries=(warmup_steps,)), peak_value


def warmup_constant_schedule(
    init_value: float, peak_value: float, warmup_steps: int
) -> tuple[Schedule, float]:
    ramp = LinearWarmup(
        warmup_steps=warmup_steps, init_scale=init_value / peak_value, warmup_ramp="s/W"
    )
    return ramp, peak_value


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> tuple[Schedule, float]:
    decay = ExponentialDecay(
        gamma=decay_rate,
        steps_per_epoch=transition_steps,
        staircase=staircase,
        end_scale=0.0 if end_value is None else end_value / init_value,
    )
    return _begin(transition_begin, 1.0, decay), init_value


def warmup_exponential_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> tuple[Schedule, float]:
    decay, _ = exponential_decay(
        peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    warmup, _ = warmup_constant_schedule(init_value, peak_value, warmup_steps)
    return Join(pieces=(warmup, decay), boundaries=(warmup_steps,)), peak_value


def _running_products(
    init_value: float, boundaries_and_scales: Mapping[int, float]
) -> tuple[list[int], list[float]]:
    """optax's boundaries and values (``init · s_1 · ... · s_i``, divided by ``init``); a
    boundary at 0 applies from the start."""
    bounds: list[int] = []
    values = [1.0]
    for b, scale in sorted(boundaries_and_scales.items()):
        if b <= 0:
            values[0] *= scale
        else:
            bounds.append(b)
            values.append(values[-1] * scale)
    return bounds, values


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: Mapping[int, float]
) -> tuple[Schedule, float]:
    bounds, values = _running_products(init_value, boundaries_and_scales)
    return PiecewiseConstant(boundaries=bounds, values=values), init_value


def piecewise_interpolate_schedule(
    interpolate_type: str, init_value: float, boundaries_and_scales: Mapping[int, float]
) -> tuple[Schedule, float]:
    # optax: v_i -> v_{i+1} over [b_i, b_{i+1}) (b_0 = 0), then v_n held
    bounds, values = _running_products(init_value, boundaries_and_scales)
    if not bounds:
        return PiecewiseConstant(values=values), init_value
    starts = [0, *bounds]
    pieces = [
        Ramp(
            steps=starts[i + 1] - starts[i],
            start_scale=values[i],
            end_scale=values[i + 1],
            shape=interpolate_type,  # type: ignore[arg-type]
        )
        for i in range(len(bounds))
    ]
    if len(pieces) == 1:
        return pieces[0], init_value
    return Join(pieces=pieces, boundaries=bounds[:-1]), init_value


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> tuple[Schedule, float]:
    # optax: peak/div -> peak -> peak/div -> peak/div/final_div, linearly, at these steps
    b1, b2 = int(pct_start * transition_steps), int(pct_final * transition_steps)
    low = 1.0 / div_factor
    spec = Join(
        pieces=(
            Ramp(steps=b1, start_scale=low, end_scale=1.0),
            Ramp(steps=b2 - b1, start_scale=1.0, end_scale=low),
            Ramp(steps=transition_steps - b2, start_scale=low, end_scale=low / final_div_factor),
        ),
        boundaries=(b1, b2),
    )
    return spec, peak_value


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> tuple[Schedule, float]:
    # optax: peak/div -> peak -> peak/(div * final_div), on half-cosines
    b1 = int(pct_start * transition_steps)
    spec = Join(
        pieces=(
            Ramp(steps=b1, start_scale=1.0 / div_factor, shape="cosine"),
            Ramp(
                steps=transition_steps - b1,
                start_scale=1.0,
                end_scale=1.0 / (div_factor * final_div_factor),
                shape="cosine",
            ),
        ),
        boundaries=(b1,),
    )
    return spec, peak_value


def join_schedules(
    parts: Sequence[tuple[str, dict[str, Any]]], boundaries: Sequence[int]
) -> tuple[Schedule, float]:
    built = [RECIPES[name](**kw) for name, kw in parts]
    peak = built[0][1]
    assert all(p == peak for _, p in built), "join pieces relative to one base value"
    return Join(pieces=[s for s, _ in built], boundaries=boundaries), peak


def sgdr_schedule(cosine_kwargs: Sequence[dict[str, Any]]) -> tuple[Schedule, float]:
    built = [warmup_cosine_decay_schedule(**kw) for kw in cosine_kwargs]
    peak = built[0][1]
    assert all(p == peak for _, p in built)
    bounds = np.cumsum([kw["decay_steps"] for kw in cosine_kwargs])[:-1].tolist()
    return Join(pieces=[s for s, _ in built], boundaries=bounds), peak


RECIPES: dict[str, Callable[..., tuple[Schedule, float]]] = {
    f.__name__: f
    for f in (
        constant_schedule,
        linear_schedule,
        polynomial_schedule,
        cosine_decay_schedule,
        warmup_cosine_decay_schedule,
        warmup_constant_schedule,
        exponential_decay,
        warmup_exponential_decay_schedule,
        piecewise_constant_schedule,
        piecewise_interpolate_schedule,
        linear_onecycle_schedule,
        cosine_onecycle_schedule,
    )
}


def optax_schedule(name: str, args: Any) -> Any:
    if name == "join_schedules":
        parts, bounds = args
        return optax.join_schedules([getattr(optax, n)(**kw) for n, kw in parts], bounds)
    if name == "sgdr_schedule":
        return optax.sgdr_schedule(args)
    if name == "piecewise_interpolate_schedule":
        return optax.piecewise_interpolate_schedule(*args)
    return getattr(optax, name)(**args)


def optfn_spec(name: str, args: Any) -> tuple[Schedule, float]:
    if name == "join_schedules":
        return join_schedules(*args)
    if name == "sgdr_schedule":
        return sgdr_schedule(args)
    if name == "piecewise_interpolate_schedule":
        return piecewise_interpolate_schedule(*args)
    return RECIPES[name](**args)


# ---- the rows: (id, optax function, its arguments, steps compared) -----------------------

N = 10_001
ROWS: list[tuple[str, str, Any, int]] = [
    ("constant", "constant_schedule", {"value": 3e-4}, N),
    (
        "linear-decay",
        "linear_schedule",
        {"init_value": 1.0, "end_value": 0.1, "transition_steps": 10_000},
        N,
    ),
    (
        "linear-decay-begin",
        "linear_schedule",
        {
            "init_value": 2e-3,
            "end_value": 0.0,
            "transition_steps": 8_000,
            "transition_begin": 1_500,
        },
        N + 2_000,
    ),
    (
        "linear-warmup",
        "linear_schedule",
        {"init_value": 0.0, "end_value": 1.0, "transition_steps": 10_000},
        N + 100,
    ),
    (
        "linear-rise-from",
        "linear_schedule",
        {"init_value": 1e-4, "end_value": 1e-3, "transition_steps": 12_000},
        N + 3_000,
    ),
    (
        "poly-p1",
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.0, "power": 1.0, "transition_steps": 10_000},
        N,
    ),
    (
        "poly-p2",
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.0, "power": 2.0, "transition_steps": 10_000},
        N + 10,
    ),
    (
        "poly-p0.7-begin",
        "polynomial_schedule",
        {
            "init_value": 1.0,
            "end_value": 0.01,
            "power": 0.7,
            "transition_steps": 10_000,
            "transition_begin": 777,
        },
        N + 1_000,
    ),
    (
        "poly-p3-rise",
        "polynomial_schedule",
        {"init_value": 0.25, "end_value": 1.0, "power": 3.0, "transition_steps": 10_000},
        N,
    ),
    ("cosine-a0", "cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 10_000}, N + 10),
    (
        "cosine-a0.1",
        "cosine_decay_schedule",
        {"init_value": 1.0, "decay_steps": 10_000, "alpha": 0.1},
        N,
    ),
    (
        "cosine-exp2",
        "cosine_decay_schedule",
        {"init_value": 1.0, "decay_steps": 10_000, "alpha": 0.05, "exponent": 2.0},
        N,
    ),
    (
        "cosine-exp1.5",
        "cosine_decay_schedule",
        {"init_value": 3e-4, "decay_steps": 12_345, "exponent": 1.5},
        12_400,
    ),
    (
        "warmup-cosine",
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 500, "decay_steps": 10_000},
        N + 10,
    ),
    (
        "warmup-cosine-end",
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 1.0,
            "warmup_steps": 1_000,
            "decay_steps": 10_000,
            "end_value": 0.1,
        },
        N,
    ),
    (
        "warmup-cosine-init-exp",
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.1,
            "peak_value": 1.0,
            "warmup_steps": 300,
            "decay_steps": 10_000,
            "end_value": 0.01,
            "exponent": 2.0,
        },
        N,
    ),
    (
        "warmup-cosine-W0",
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 0, "decay_steps": 10_000},
        N,
    ),
    (
        "warmup-constant",
        "warmup_constant_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2_000},
        N,
    ),
    (
        "warmup-constant-init",
        "warmup_constant_schedule",
        {"init_value": 0.1, "peak_value": 1.0, "warmup_steps": 9_999},
        N,
    ),
    (
        "exp-smooth",
        "exponential_decay",
        {"init_value": 1.0, "transition_steps": 100, "decay_rate": 0.97},
        N,
    ),
    (
        "exp-stair",
        "exponential_decay",
        {"init_value": 1.0, "transition_steps": 100, "decay_rate": 0.97, "staircase": True},
        N,
    ),
    (
        "exp-begin-end",
        "exponential_decay",
        {
            "init_value": 1.0,
            "transition_steps": 250,
            "decay_rate": 0.9,
            "transition_begin": 1_000,
            "end_value": 0.05,
        },
        N,
    ),
    (
        "exp-stair-begin",
        "exponential_decay",
        {
            "init_value": 1.0,
            "transition_steps": 1_000,
            "decay_rate": 0.5,
            "staircase": True,
            "transition_begin": 333,
        },
        N,
    ),
    (
        "warmup-exp",
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 1.0,
            "warmup_steps": 400,
            "transition_steps": 500,
            "decay_rate": 0.8,
        },
        N,
    ),
    (
        "piecewise-constant",
        "piecewise_constant_schedule",
        {"init_value": 1.0, "boundaries_and_scales": {3_000: 0.5, 6_000: 0.1, 9_000: 0.3}},
        N,
    ),
    (
        "piecewise-constant-0",
        "piecewise_constant_schedule",
        {"init_value": 1.0, "boundaries_and_scales": {0: 0.5, 5_000: 4.0}},
        N,
    ),
    (
        "interp-linear",
        "piecewise_interpolate_schedule",
        ("linear", 1.0, {3_000: 0.5, 7_000: 0.1, 9_000: 2.0}),
        N,
    ),
    (
        "interp-cosine",
        "piecewise_interpolate_schedule",
        ("cosine", 1.0, {3_000: 0.5, 7_000: 0.1}),
        N,
    ),
    ("interp-cosine-1", "piecewise_interpolate_schedule", ("cosine", 1.0, {10_000: 0.01}), N + 5),
    (
        "onecycle-linear",
        "linear_onecycle_schedule",
        {"transition_steps": 10_000, "peak_value": 1.0},
        N + 5,
    ),
    (
        "onecycle-linear-odd",
        "linear_onecycle_schedule",
        {
            "transition_steps": 12_347,
            "peak_value": 1.0,
            "pct_start": 0.25,
            "pct_final": 0.9,
            "div_factor": 10.0,
        },
        12_400,
    ),
    (
        "onecycle-cosine",
        "cosine_onecycle_schedule",
        {"transition_steps": 10_000, "peak_value": 1.0},
        N + 5,
    ),
    (
        "onecycle-cosine-odd",
        "cosine_onecycle_schedule",
        {
            "transition_steps": 11_111,
            "peak_value": 1.0,
            "pct_start": 0.1,
            "div_factor": 8.0,
            "final_div_factor": 100.0,
        },
        11_200,
    ),
    (
        "join",
        "join_schedules",
        (
            [
                (
                    "warmup_constant_schedule",
                    {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 1_000},
                ),
                ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 9_000, "alpha": 0.1}),
            ],
            [1_000],
        ),
        N,
    ),
    (
        "sgdr",
        "sgdr_schedule",
        [
            {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 100, "decay_steps": 2_000},
            {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 100, "decay_steps": 3_000},
            {
                "init_value": 0.1,
                "peak_value": 1.0,
                "warmup_steps": 50,
                "decay_steps": 5_000,
                "end_value": 0.01,
            },
        ],
        N,
    ),
]


def optax_values(name: str, args: Any, n: int, jit: bool) -> np.ndarray:
    fn = jax.vmap(optax_schedule(name, args))
    if jit:
        fn = jax.jit(fn)
    return np.asarray(fn(jnp.arange(n, dtype=jnp.int64)), dtype=np.float64)


def compare(name: str, args: Any, n: int, jit: bool) -> tuple[np.ndarray, np.ndarray]:
    spec, base = optfn_spec(name, args)
    return optax_values(name, args, n, jit) / base, lr_curve(spec, n)


def errors(theirs: np.ndarray, mine: np.ndarray) -> tuple[float, float, int]:
    """(max relative error, max absolute error, count of optax's non-finite values)."""
    ok = np.isfinite(theirs)
    diff = np.abs(theirs - mine)[ok]
    scale = np.maximum(np.abs(theirs), np.abs(mine))[ok]
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    return float(rel.max(initial=0.0)), float(diff.max(initial=0.0)), int((~ok).sum())


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_recipe_equals_optax(row: tuple[str, str, Any, int]) -> None:
    _, name, args, n = row
    assert n >= 10_001
    theirs, mine = compare(name, args, n, jit=False)
    assert np.isfinite(theirs).all() and np.isfinite(mine).all()
    bad = np.flatnonzero(np.abs(theirs - mine) > RTOL * np.abs(theirs) + ATOL)
    assert bad.size == 0, f"step {bad[0]}: optax {theirs[bad[0]]!r}, optfn {mine[bad[0]]!r}"


def test_jitted_optax_agrees_where_finite() -> None:
    """Jitted, XLA's fused arithmetic moves a few values by an ulp (and makes some NaN, see the
    module doc); where optax's values are finite, the same bound holds."""
    for _, name, args, n in ROWS[::3]:  # a sample: each row compiles
        theirs, mine = compare(name, args, n, jit=True)
        ok = np.isfinite(theirs)
        assert (np.abs(theirs - mine)[ok] <= RTOL * np.abs(theirs[ok]) + ATOL).all(), name


def test_every_optax_schedule_of_the_brief_has_a_row() -> None:
    wanted = {
        "constant_schedule", "linear_schedule", "polynomial_schedule", "cosine_decay_schedule",
        "warmup_cosine_decay_schedule", "warmup_constant_schedule", "exponential_decay",
        "piecewise_constant_schedule", "piecewise_interpolate_schedule",
        "linear_onecycle_schedule", "cosine_onecycle_schedule", "join_schedules",
        "sgdr_schedule",
    }  # fmt: skip
    assert wanted <= {r[1] for r in ROWS}


# ---- the report -----------------------------------------------------------------------------


def report_rows() -> Iterator[str]:
    yield (
        "| row | optax function | steps | eager max rel | eager max abs | jit max rel | "
        "jit max abs | jit non-finite |"
    )
    yield "|---|---|---|---|---|---|---|---|"
    for rid, name, args, n in ROWS:
        e = errors(*compare(name, args, n, jit=False))
        j = errors(*compare(name, args, n, jit=True))
        yield (
            f"| {rid} | {name} | 0..{n - 1} | {e[0]:.3g} | {e[1]:.3g} | {j[0]:.3g} | "
            f"{j[1]:.3g} | {j[2]} |"
        )


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/convert_optax_errors.md"
    text = "\n".join(["# optfn recipes vs optax (float64)", "", *report_rows()]) + "\n"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(text)
