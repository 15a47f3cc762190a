"""``schedule_from_hf`` against transformers' own schedulers, step by step.

Every row builds Hugging Face's ``LambdaLR`` with ``transformers.get_scheduler`` on a torch
optimizer and compares its ``lr_lambdas[0](s)`` (the closed form) with ``lr_curve`` of the
converted spec over ``s = 0 .. T``: bit for bit where optfn mirrors Hugging Face's arithmetic
(``EXACT``), else within a stated relative error. The scheduler is also stepped for a while.
Past ``T``, optfn holds its last value; the rows check where Hugging Face agrees and where it
goes on (its cosines climb back up).

``python tests/convert/test_convert_hf.py`` writes the table of max errors to
``/tmp/convert_hf_errors.md``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from transformers import SchedulerType, get_scheduler

from optfn import SpecError, SpecTypeError, from_json, lr_curve, lr_lambda, to_json
from optfn.convert.hf import HF_SCHEDULER_NAMES, schedule_from_hf
from optfn.schedules import Schedule

logging.getLogger("transformers").setLevel(logging.ERROR)

#: (id, name, W, T, lr_init, kwargs, tolerance): tolerance 0.0 means bit for bit.
Row = tuple[str, str, int, "int | None", float, dict[str, Any], float]

#: The relative error allowed where optfn's arithmetic differs from Hugging Face's by a few
#: roundings (numpy's ``pow`` vs Python's ``**``, a product taken in another order).
ULPS = 1e-15

ROWS: list[Row] = [
    # constant, constant_with_warmup: T is ignored by Hugging Face; compared over 0..T
    ("constant", "constant", 0, 10_000, 1.0, {}, 0.0),
    ("cww-W0", "constant_with_warmup", 0, 10_000, 1.0, {}, 0.0),
    ("cww-W1", "constant_with_warmup", 1, 10_000, 1.0, {}, 0.0),
    ("cww-W3000", "constant_with_warmup", 3000, 10_000, 1.0, {}, 0.0),
    ("cww-W=T", "constant_with_warmup", 10_000, 10_000, 1.0, {}, 0.0),
    # linear
    ("linear-W0", "linear", 0, 10_000, 1.0, {}, 0.0),
    ("linear-W1", "linear", 1, 10_000, 1.0, {}, 0.0),
    ("linear-W500", "linear", 500, 12_345, 1.0, {}, 0.0),
    ("linear-W=T", "linear", 10_000, 10_000, 1.0, {}, 0.0),
    ("linear-small", "linear", 1, 3, 1.0, {}, 0.0),
    ("linear-T1", "linear", 0, 1, 1.0, {}, 0.0),
    ("linear-W=T-small", "linear", 3, 3, 1.0, {}, 0.0),
    # cosine
    ("cosine-W0", "cosine", 0, 10_000, 1.0, {}, 0.0),
    ("cosine-W1", "cosine", 1, 10_000, 1.0, {}, 0.0),
    ("cosine-W777", "cosine", 777, 20_000, 1.0, {}, 0.0),
    ("cosine-W=T", "cosine", 10_000, 10_000, 1.0, {}, 0.0),
    ("cosine-small", "cosine", 1, 2, 1.0, {}, 0.0),
    ("cosine-cycles1", "cosine", 100, 10_000, 1.0, {"num_cycles": 1.0}, 0.0),
    ("cosine-cycles0.25", "cosine", 0, 10_000, 1.0, {"num_cycles": 0.25}, 0.0),
    ("cosine-cycles2.5", "cosine", 250, 10_007, 1.0, {"num_cycles": 2.5}, 0.0),
    ("cosine-cycles0.7-W=T", "cosine", 10_000, 10_000, 1.0, {"num_cycles": 0.7}, 0.0),
    # cosine_with_restarts
    ("restarts-W0", "cosine_with_restarts", 0, 10_000, 1.0, {}, 0.0),
    ("restarts-c3", "cosine_with_restarts", 100, 10_000, 1.0, {"num_cycles": 3}, 0.0),
    ("restarts-c2.5", "cosine_with_restarts", 1, 12_001, 1.0, {"num_cycles": 2.5}, 0.0),
    ("restarts-c7", "cosine_with_restarts", 64, 10_000, 1.0, {"num_cycles": 7}, 0.0),
    ("restarts-W=T", "cosine_with_restarts", 10_000, 10_000, 1.0, {"num_cycles": 4}, 0.0),
    ("restarts-small", "cosine_with_restarts", 1, 3, 1.0, {"num_cycles": 2}, 0.0),
    # polynomial (lr_end is absolute: lr_init is the optimizer's LR)
    ("poly-W0", "polynomial", 0, 10_000, 1.0, {}, 0.0),
    ("poly-p2", "polynomial", 100, 10_000, 1.0, {"power": 2.0, "lr_end": 0.0}, ULPS),
    ("poly-p0.5", "polynomial", 1, 10_000, 1.0, {"power": 0.5}, ULPS),
    ("poly-p3.7", "polynomial", 300, 11_000, 1.0, {"power": 3.7, "lr_end": 0.01}, ULPS),
    ("poly-lr1e-3", "polynomial", 200, 10_000, 1e-3, {"lr_end": 1e-5}, ULPS),
    ("poly-lr3e-4-p2", "polynomial", 0, 10_000, 3e-4, {"lr_end": 1e-6, "power": 2.0}, ULPS),
    ("poly-small", "polynomial", 1, 2, 1.0, {"power": 1.5}, ULPS),
    # inverse_sqrt (no T: compared over 0..T)
    ("isqrt-W0", "inverse_sqrt", 0, 30_000, 1.0, {}, 0.0),
    ("isqrt-W1", "inverse_sqrt", 1, 10_000, 1.0, {}, 0.0),
    ("isqrt-W1000", "inverse_sqrt", 1000, 10_000, 1.0, {}, 0.0),
    ("isqrt-W4000-t100", "inverse_sqrt", 4000, 10_000, 1.0, {"timescale": 100}, 0.0),
    ("isqrt-W0-t10", "inverse_sqrt", 0, 10_000, 1.0, {"timescale": 10}, 0.0),
    # cosine_with_min_lr
    ("cmin-rate0.1", "cosine_with_min_lr", 100, 10_000, 1.0, {"min_lr_rate": 0.1}, 0.0),
    ("cmin-rate0-W0", "cosine_with_min_lr", 0, 10_000, 1.0, {"min_lr_rate": 0.0}, 0.0),
    ("cmin-minlr", "cosine_with_min_lr", 500, 10_000, 1e-3, {"min_lr": 1e-5}, 0.0),
    ("cmin-W=T", "cosine_with_min_lr", 10_000, 10_000, 1.0, {"min_lr_rate": 0.3}, 0.0),
    (
        "cmin-cycles1.5",
        "cosine_with_min_lr",
        10,
        10_000,
        1.0,
        {"min_lr_rate": 0.05, "num_cycles": 1.5},
        0.0,
    ),
    ("cmin-small", "cosine_with_min_lr", 1, 2, 1.0, {"min_lr_rate": 0.5}, 0.0),
    # cosine_warmup_with_min_lr: compared over 0..T-1 (its floor is at T - 1; see past_t)
    ("cwmin-W1", "cosine_warmup_with_min_lr", 1, 10_000, 1.0, {"min_lr_rate": 0.1}, 0.0),
    ("cwmin-W2", "cosine_warmup_with_min_lr", 2, 10_000, 1.0, {"min_lr_rate": 0.1}, 0.0),
    ("cwmin-W500", "cosine_warmup_with_min_lr", 500, 10_000, 1.0, {"min_lr_rate": 0.0}, 0.0),
    (
        "cwmin-W=T",
        "cosine_warmup_with_min_lr",
        10_000,
        10_000,
        1.0,
        {"min_lr_rate": 0.2},
        0.0,
    ),
    ("cwmin-minlr", "cosine_warmup_with_min_lr", 300, 10_000, 2e-4, {"min_lr": 2e-6}, 0.0),
    (
        "cwmin-cycles1",
        "cosine_warmup_with_min_lr",
        300,
        10_000,
        1.0,
        {"min_lr_rate": 0.1, "num_cycles": 1.0},
        0.0,
    ),
    (
        "cwmin-rate-W1",
        "cosine_warmup_with_min_lr",
        1,
        10_000,
        1.0,
        {"min_lr_rate": 0.1, "warmup_lr_rate": 0.25},
        0.0,
    ),
    (
        "cwmin-rate-W2",
        "cosine_warmup_with_min_lr",
        2,
        10_000,
        1.0,
        {"min_lr_rate": 0.1, "warmup_lr_rate": 0.25},
        ULPS,
    ),
    (
        "cwmin-rate-W997",
        "cosine_warmup_with_min_lr",
        997,
        10_000,
        1.0,
        {"min_lr_rate": 0.1, "warmup_lr_rate": 0.013},
        ULPS,
    ),
    ("cwmin-small", "cosine_warmup_with_min_lr", 1, 2, 1.0, {"min_lr_rate": 0.5}, 0.0),
    # warmup_stable_decay
    *(
        (
            f"wsd-{wt}-{dt}-m{m}",
            "warmup_stable_decay",
            1000,
            10_000,
            1.0,
            {"num_decay_steps": 2000, "warmup_type": wt, "decay_type": dt, "min_lr_ratio": m},
            0.0,
        )
        for wt in ("linear", "cosine", "1-sqrt")
        for dt in ("linear", "cosine", "1-sqrt")
        for m in (0.0, 0.1)
    ),
    ("wsd-W0", "warmup_stable_decay", 0, 10_000, 1.0, {"num_decay_steps": 3000}, 0.0),
    (
        "wsd-W0-m",
        "warmup_stable_decay",
        0,
        10_000,
        1.0,
        {"num_decay_steps": 3000, "min_lr_ratio": 0.2},
        0.0,
    ),
    (
        "wsd-cycles1",
        "warmup_stable_decay",
        500,
        10_000,
        1.0,
        {"num_decay_steps": 4000, "num_cycles": 1.0, "min_lr_ratio": 0.1},
        0.0,
    ),
    ("wsd-D0", "warmup_stable_decay", 500, 10_000, 1.0, {"num_decay_steps": 0}, 0.0),
    (
        "wsd-D0-m",
        "warmup_stable_decay",
        500,
        10_000,
        1.0,
        {"num_decay_steps": 0, "min_lr_ratio": 0.3, "warmup_type": "cosine"},
        0.0,
    ),
    (
        "wsd-noStable",
        "warmup_stable_decay",
        4000,
        10_000,
        1.0,
        {"num_decay_steps": 6000, "decay_type": "1-sqrt"},
        0.0,
    ),
    (
        "wsd-stable-given",
        "warmup_stable_decay",
        1000,
        None,
        1.0,
        {"num_decay_steps": 2000, "num_stable_steps": 7000},
        0.0,
    ),
    ("wsd-small", "warmup_stable_decay", 1, 3, 1.0, {"num_decay_steps": 1}, 0.0),
]

#: Names whose Hugging Face lambda goes on past T with values other than optfn's hold.
GOES_ON_PAST_T = {"cosine", "cosine_with_min_lr", "cosine_warmup_with_min_lr"}


def hf_scheduler(row: Row) -> torch.optim.lr_scheduler.LambdaLR:
    _, name, w, t, lr, kw, _ = row
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = get_scheduler(
            name,
            opt,
            num_warmup_steps=w,
            num_training_steps=t,
            scheduler_specific_kwargs=dict(kw),
        )
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    return sched


def ours(row: Row) -> Schedule:
    _, name, w, t, lr, kw, _ = row
    return schedule_from_hf(name, num_warmup_steps=w, num_training_steps=t, lr_init=lr, **kw)


def last_step(row: Row) -> int:
    """The last step compared: T (T - 1 for cosine_warmup_with_min_lr, whose floor is there)."""
    _, name, w, t, _, kw, _ = row
    if t is None:
        t = w + kw["num_stable_steps"] + kw["num_decay_steps"]
    return t - 1 if name == "cosine_warmup_with_min_lr" and w != t else t


def curves(row: Row, stop: int) -> tuple[np.ndarray, np.ndarray]:
    lam = hf_scheduler(row).lr_lambdas[0]
    theirs = np.array([float(lam(s)) for s in range(stop)], dtype=np.float64)
    return theirs, lr_curve(ours(row), stop)


def max_rel_error(theirs: np.ndarray, mine: np.ndarray) -> float:
    diff = np.abs(theirs - mine)
    scale = np.maximum(np.abs(theirs), np.abs(mine))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    return float(rel.max(initial=0.0))


def ulps(theirs: np.ndarray, mine: np.ndarray) -> int:
    a, b = theirs.view(np.int64), mine.view(np.int64)
    return int(np.abs(a - b).max(initial=0))


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_equals_hugging_face_up_to_t(row: Row) -> None:
    stop = last_step(row) + 1
    assert stop >= 2
    theirs, mine = curves(row, stop)
    tol = row[-1]
    if tol == 0.0:
        mismatch = np.flatnonzero(theirs != mine)
        assert mismatch.size == 0, (
            f"first mismatch at step {mismatch[0]}: HF {theirs[mismatch[0]]!r}, "
            f"optfn {mine[mismatch[0]]!r}"
        )
    else:
        assert max_rel_error(theirs, mine) <= tol


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_stepping_the_lambda_lr(row: Row) -> None:
    """Hugging Face's scheduler stepped: each LR is lr_init times optfn's multiplier."""
    sched = hf_scheduler(row)
    lr = row[4]
    f = lr_lambda(ours(row))
    opt = sched.optimizer
    for s in range(min(60, last_step(row) + 1)):
        got = opt.param_groups[0]["lr"]
        want = lr * f(s)
        if row[-1] == 0.0:
            assert got == want, s
        else:
            assert got == pytest.approx(want, rel=row[-1], abs=0.0), s
        opt.step()
        sched.step()


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_past_t_optfn_holds(row: Row) -> None:
    """Past T optfn holds its last value (T - 1 for cosine_warmup_with_min_lr; with W = T a
    cosine's one step at 1.0 comes first); Hugging Face agrees except for its cosines, which
    go on with their formula (back up, or around again)."""
    _, name, w, t, _, kw, _ = row
    end = last_step(row)
    theirs, mine = curves(row, end + 60)
    if name in ("constant", "constant_with_warmup", "inverse_sqrt"):
        # no end: T means nothing to them, and the two formulas go on alike
        np.testing.assert_array_equal(theirs, mine)
        return
    one_more = name in ("cosine", "cosine_with_min_lr", "cosine_with_restarts")
    hold = end + 1 if w == t and one_more else end
    assert (mine[hold:] == mine[hold]).all()
    if name in GOES_ON_PAST_T:
        assert (theirs[hold + 1 :] != mine[hold + 1 :]).any()
        half_wave = kw.get("num_cycles", 0.5) == 0.5
        if name != "cosine_warmup_with_min_lr" and half_wave and end - w > 60:
            # the half-cosine climbs back up from its floor, step after step
            assert (np.diff(theirs[end:]) > 0).all()
    else:
        np.testing.assert_array_equal(theirs[end:], mine[end:])


def test_every_name_is_tested_and_scheduler_type_accepted() -> None:
    assert {r[1] for r in ROWS} == set(HF_SCHEDULER_NAMES)
    refused = {"reduce_lr_on_plateau", "greedy"}
    assert {t.value for t in SchedulerType} == set(HF_SCHEDULER_NAMES) | refused
    for member in SchedulerType:
        if member.value in refused:
            continue
        extra: dict[str, dict[str, Any]] = {
            "cosine_with_min_lr": {"min_lr_rate": 0.1},
            "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1},
            "warmup_stable_decay": {"num_decay_steps": 10},
        }
        kw = extra.get(member.value, {})
        lr = 1.0 if member.value == "polynomial" else None
        a = schedule_from_hf(member, num_warmup_steps=5, num_training_steps=100, lr_init=lr, **kw)
        b = schedule_from_hf(
            member.value, num_warmup_steps=5, num_training_steps=100, lr_init=lr, **kw
        )
        assert a == b


def test_readable_specs() -> None:
    assert repr(schedule_from_hf("cosine", num_warmup_steps=10, num_training_steps=100)) == (
        "WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.0, warmup_ramp='s/W')"
    )
    assert schedule_from_hf("constant") == schedule_from_hf(
        "constant", num_warmup_steps=7, num_training_steps=9
    )
    wsd = schedule_from_hf(
        "warmup_stable_decay", num_warmup_steps=10, num_training_steps=100, num_decay_steps=20
    )
    assert type(wsd).__name__ == "WarmupStableDecay"


@pytest.mark.parametrize("row", ROWS[::4], ids=[r[0] for r in ROWS[::4]])
def test_converted_specs_travel_in_configs(row: Row) -> None:
    spec = ours(row)
    assert from_json(to_json(spec), Schedule) == spec


# ---- refusals -----------------------------------------------------------------------------


def refused(exc: type[Exception], match: str, name: Any, **kw: Any) -> SpecError | SpecTypeError:
    with pytest.raises(exc, match=match) as info:
        schedule_from_hf(name, **kw)
    err = info.value
    assert isinstance(err, SpecError | SpecTypeError)
    return err


def test_unknown_name_lists_the_known_ones() -> None:
    err = refused(SpecError, "unknown Hugging Face scheduler 'cosin'", "cosin")
    assert err.field == "name"
    for name in HF_SCHEDULER_NAMES:
        assert name in str(err)
    refused(SpecTypeError, "a str or a SchedulerType", 3, num_warmup_steps=0)


@pytest.mark.parametrize("name", ["reduce_lr_on_plateau", "greedy"])
def test_metric_driven_schedulers_are_refused_with_the_reason(name: str) -> None:
    refused(SpecError, "not of the step", name, num_warmup_steps=0)
    refused(SpecError, "not of the step", SchedulerType(name))


def test_unknown_keyword_lists_the_allowed_ones() -> None:
    err = refused(
        SpecTypeError,
        "power: is not a keyword of 'cosine'; it takes: num_cycles",
        "cosine",
        num_warmup_steps=0,
        num_training_steps=10,
        power=2.0,
    )
    assert err.field == "power"
    refused(
        SpecTypeError,
        "it takes: none",
        "linear",
        num_warmup_steps=0,
        num_training_steps=9,
        num_cycles=1,
    )
    refused(
        SpecTypeError,
        "last_epoch is where",
        "linear",
        num_warmup_steps=0,
        num_training_steps=9,
        last_epoch=3,
    )
    refused(
        SpecTypeError,
        "num_decay_steps, num_stable_steps, warmup_type, decay_type, min_lr_ratio, num_cycles",
        "warmup_stable_decay",
        num_warmup_steps=0,
        num_training_steps=9,
        decay_steps=3,
    )


def test_missing_and_bad_step_counts() -> None:
    refused(
        SpecError, r"num_warmup_steps: is required for 'linear'", "linear", num_training_steps=10
    )
    refused(
        SpecError, r"num_training_steps: is required for 'cosine'", "cosine", num_warmup_steps=0
    )
    refused(
        SpecError,
        r"num_warmup_steps: must be an integer >= 0, got -1",
        "linear",
        num_warmup_steps=-1,
        num_training_steps=10,
    )
    refused(
        SpecError,
        r"num_training_steps: must be an integer >= 1, got 0",
        "linear",
        num_warmup_steps=0,
        num_training_steps=0,
    )
    refused(
        SpecTypeError,
        r"num_warmup_steps: must be an integer",
        "linear",
        num_warmup_steps=2.0,
        num_training_steps=10,
    )
    refused(
        SpecError,
        r"num_training_steps: must be an integer >= 1",
        "constant_with_warmup",
        num_warmup_steps=3,
        num_training_steps=-5,
    )


@pytest.mark.parametrize(
    "name",
    [
        "linear",
        "cosine",
        "cosine_with_restarts",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "polynomial",
    ],
)
def test_warmup_longer_than_training_is_refused(name: str) -> None:
    err = refused(
        SpecError,
        r"must be <=? num_training_steps \(10\)",
        name,
        num_warmup_steps=11,
        num_training_steps=10,
        lr_init=1.0,
        **({"min_lr_rate": 0.1} if "min_lr" in name else {}),
    )
    assert err.field == "num_warmup_steps"


def test_polynomial_needs_lr_init_and_w_below_t() -> None:
    refused(
        SpecError,
        "lr_init: 'polynomial' needs the optimizer's LR",
        "polynomial",
        num_warmup_steps=0,
        num_training_steps=10,
    )
    refused(
        SpecError,
        r"must be < num_training_steps \(10\).*divides by",
        "polynomial",
        num_warmup_steps=10,
        num_training_steps=10,
        lr_init=1.0,
    )
    # Hugging Face itself divides by zero there
    row: Row = ("", "polynomial", 10, 10, 1.0, {}, 0.0)
    with pytest.raises(ZeroDivisionError):
        hf_scheduler(row).lr_lambdas[0](10)
    refused(
        SpecError,
        r"lr_end: must be < lr_init \(0.001\)",
        "polynomial",
        num_warmup_steps=0,
        num_training_steps=10,
        lr_init=1e-3,
        lr_end=1e-3,
    )
    refused(
        SpecError,
        "lr_end: must be finite and in",
        "polynomial",
        num_warmup_steps=0,
        num_training_steps=10,
        lr_init=1e-3,
        lr_end=-1e-5,
    )
    refused(
        SpecError,
        "power: must be finite and > 0",
        "polynomial",
        num_warmup_steps=0,
        num_training_steps=10,
        lr_init=1e-3,
        power=0.0,
    )
    refused(
        SpecError,
        "lr_init: must be finite and > 0",
        "polynomial",
        num_warmup_steps=0,
        num_training_steps=10,
        lr_init=0.0,
    )


def test_min_lr_cosines_need_exactly_one_floor() -> None:
    for name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        base = {"num_warmup_steps": 2, "num_training_steps": 10}
        refused(SpecError, "exactly one of min_lr", name, **base)
        refused(SpecError, "exactly one of min_lr", name, **base, min_lr=1e-5, min_lr_rate=0.1)
        refused(SpecError, "needs the optimizer's LR: min_lr", name, **base, min_lr=1e-5)
        refused(
            SpecError,
            r"min_lr: must be finite and in \[0, 0.001\]",
            name,
            **base,
            lr_init=1e-3,
            min_lr=2e-3,
        )
        refused(
            SpecError, r"min_lr_rate: must be finite and in \[0, 1\]", name, **base, min_lr_rate=1.5
        )
        refused(
            SpecError,
            "num_cycles: must be finite and > 0",
            name,
            **base,
            min_lr_rate=0.1,
            num_cycles=0,
        )


def test_cosine_warmup_with_min_lr_without_warmup_is_refused() -> None:
    refused(
        SpecError,
        "num_warmup_steps: must be >= 1 for 'cosine_warmup_with_min_lr'",
        "cosine_warmup_with_min_lr",
        num_warmup_steps=0,
        num_training_steps=10,
        min_lr_rate=0.1,
    )
    refused(
        SpecError,
        r"warmup_lr_rate: must be finite and in \[0, 1\]",
        "cosine_warmup_with_min_lr",
        num_warmup_steps=3,
        num_training_steps=10,
        min_lr_rate=0.1,
        warmup_lr_rate=2.0,
    )


def test_warmup_stable_decay_refusals() -> None:
    name = "warmup_stable_decay"
    refused(
        SpecError, "num_decay_steps: is required", name, num_warmup_steps=1, num_training_steps=10
    )
    refused(
        SpecError,
        "needs num_training_steps or num_stable_steps",
        name,
        num_warmup_steps=1,
        num_decay_steps=3,
    )
    refused(
        SpecError,
        r"num_warmup_steps \+ num_decay_steps must be <= num_training_steps "
        r"\(10\), got 8 \+ 3",
        name,
        num_warmup_steps=8,
        num_training_steps=10,
        num_decay_steps=3,
    )
    refused(
        SpecError,
        "warmup_type: must be one of 'linear', 'cosine', '1-sqrt', got 'cos'",
        name,
        num_warmup_steps=1,
        num_training_steps=10,
        num_decay_steps=3,
        warmup_type="cos",
    )
    refused(
        SpecError,
        "decay_type: must be one of",
        name,
        num_warmup_steps=1,
        num_training_steps=10,
        num_decay_steps=3,
        decay_type="exp",
    )
    refused(
        SpecError,
        r"min_lr_ratio: must be finite and in \[0, 1\]",
        name,
        num_warmup_steps=1,
        num_training_steps=10,
        num_decay_steps=3,
        min_lr_ratio=-0.1,
    )
    refused(
        SpecError,
        "num_stable_steps: must be an integer >= 0",
        name,
        num_warmup_steps=1,
        num_training_steps=10,
        num_decay_steps=3,
        num_stable_steps=-1,
    )


def test_inverse_sqrt_timescale() -> None:
    refused(
        SpecError,
        "timescale: must be an integer >= 1, got 0",
        "inverse_sqrt",
        num_warmup_steps=5,
        timescale=0,
    )
    refused(
        SpecTypeError,
        "timescale: must be an integer",
        "inverse_sqrt",
        num_warmup_steps=5,
        timescale=10.0,
    )
    # Hugging Face's default: num_warmup_steps, or 10_000 without a warm-up
    assert schedule_from_hf("inverse_sqrt", num_warmup_steps=0) == schedule_from_hf(
        "inverse_sqrt", num_warmup_steps=0, timescale=10_000
    )


# ---- the report -----------------------------------------------------------------------------


def report_rows() -> Iterator[str]:
    yield (
        "| row | HF name | W | T | lr_init | kwargs | steps compared | max rel. error | max ulps |"
    )
    yield "|---|---|---|---|---|---|---|---|---|"
    for row in ROWS:
        rid, name, w, t, lr, kw, _ = row
        stop = last_step(row) + 1
        theirs, mine = curves(row, stop)
        err = max_rel_error(theirs, mine)
        shown = "0 (bit for bit)" if err == 0.0 else f"{err:.3g}"
        yield (
            f"| {rid} | {name} | {w} | {t} | {lr:g} | {kw or ''} | 0..{stop - 1} | {shown} "
            f"| {ulps(theirs, mine)} |"
        )


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/convert_hf_errors.md"
    lines = ["# schedule_from_hf vs transformers.get_scheduler (lr_lambdas[0])", ""]
    lines += list(report_rows())
    text = "\n".join(lines) + "\n"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(text)
