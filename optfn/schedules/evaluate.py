"""Evaluating a schedule: :func:`lr_lambda` (one step at a time) and :func:`lr_curve` (a range of
steps, vectorized), one evaluator over the flattened segments for both.

>>> from optfn.schedules import WarmupCosine, lr_curve, lr_lambda
>>> s = WarmupCosine(warmup_steps=2, total_steps=6)
>>> lr_curve(s, 6).tolist() == [lr_lambda(s)(i) for i in range(6)]
True
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from optfn.errors import SpecError, SpecTypeError
from optfn.schedules.base import MAX_CURVE_LENGTH, Schedule, evaluate_segments, flatten
from optfn.schedules.xp import _SCALAR_FAST, SCALAR, VECTOR, FloatArray, MathNamespace
from optfn.specs import checks as v
from optfn.specs.render import brief

__all__ = ["lr_curve", "lr_lambda"]


def _check_schedule(owner: str, schedule: object) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise SpecTypeError(
            owner,
            "schedule",
            f"must be a Schedule, got {brief(schedule)} ({type(schedule).__name__})",
        )
    return schedule


#: The scalar form's table lists segments up to this step (every int64 and uint64 step); from
#: there on, a step looks its segment up alone.
_TABLE_STOP = 2**64
#: One past the last step that :func:`lr_curve` evaluates: steps are ``int64``.
_CURVE_STOP = 2**63


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
        return evaluate_segments(self.schedule, x, xp)


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
    flat = flatten(schedule, 0, _TABLE_STOP)
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
    for a, b, origin, fn in flatten(sched, s0, s0 + n):
        if isinstance(fn, float):
            out[a - s0 : b - s0] = fn
        else:
            x = np.arange(a - origin, b - origin, dtype=np.int64)
            out[a - s0 : b - s0] = fn(x, VECTOR)
    return out
