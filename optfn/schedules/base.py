"""The schedule protocol: :class:`Schedule`, its segments, and the limits every shape keeps.

A schedule writes its closed form once, :meth:`Schedule.formula`, against a math namespace
(:mod:`optfn.schedules.xp`); piecewise shapes list their :meth:`Schedule.segments`. Segments
of nested schedules flatten into one list (:func:`flatten`), which both evaluations walk.

>>> from optfn.schedules import Constant, Join, LinearDecay
>>> from optfn.schedules.base import flatten
>>> [(a, b, origin) for a, b, origin, _ in flatten(
...     Join(pieces=(Constant(), LinearDecay(decay_steps=4)), boundaries=(2,)), 0, 10)]
[(0, 2, 0), (2, 6, 2), (6, 10, 6)]
"""

from __future__ import annotations

import abc
import functools
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs
import numpy as np

from optfn.errors import SpecError
from optfn.schedules.xp import MathNamespace
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly

__all__ = [
    "MAX_CURVE_LENGTH",
    "MAX_JOIN_DEPTH",
    "MAX_STEPS",
    "RAMP_FLOOR",
    "Compound",
    "DecayShape",
    "Schedule",
    "Segment",
    "check_depth",
    "combined_bound",
    "flatten",
    "nesting_depth",
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

#: The lower bound of the default warm-up multiplier (the epoch-based builders' ``(s+1)/W`` ramp).
RAMP_FLOOR = 1e-8

#: ``(start, origin, piece)``: from step ``start`` on (until the next segment's start), the
#: multiplier is ``piece.formula(s - origin, xp)``, or ``piece`` itself if it is a float (a
#: constant, filled without computing). ``piece`` is the schedule itself or another schedule,
#: whose own segments are then used (shifted by ``origin``).
Segment = tuple[int, int, "Schedule | float"]

scale_field = v.real(0.0, 1.0)


def step_field(minimum: int) -> v.Validator:
    return v.step_count(minimum, MAX_STEPS)


@attrs.frozen(kw_only=True)
class Schedule(KeywordOnly, abc.ABC):
    """Base of every schedule spec: a frozen, validated description of ``step -> multiplier``.

    Evaluate a schedule with :func:`lr_lambda` (one step) and :func:`lr_curve` (many steps);
    ``Schedule`` itself cannot be instantiated. A schedule is defined by two methods:

    * :meth:`formula` (abstract): its closed form, written once for both evaluations;
    * :meth:`segments`: where that formula applies. By default it applies at every step;
      piecewise shapes list their pieces (a warmup ramp, a decay, a constant hold), so that
      their formulas stay free of branches.

    **Your own schedule**: subclass ``Schedule``, decorate it with
    ``@attrs.frozen(kw_only=True)``, give it fields, and implement ``formula``. Then
    :func:`lr_lambda`, :func:`lr_curve`, :class:`Join` and :class:`optfn.ScheduleLR`
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

    def nested(self) -> tuple[Schedule, ...]:
        """The schedules a combinator is made of (a Join's pieces, a Product's factors, a
        Sum's terms); a shape has none. Its nesting is bounded by :data:`MAX_JOIN_DEPTH`."""
        return ()

    def max_multiplier(self) -> float | None:
        """An upper bound of the multiplier over every step (a finite float), or ``None`` when
        it is not known.

        optfn's shapes keep every multiplier in [0, 1] (1.0); :class:`~optfn.schedules.Ramp`
        and :class:`~optfn.schedules.PiecewiseConstant` give their largest value, a
        :class:`~optfn.schedules.Join` its pieces' largest, a
        :class:`~optfn.schedules.Product` its factors' bounds multiplied (a
        :class:`~optfn.schedules.Sum` its terms' bounds added). A schedule of your own gives
        ``None`` unless it overrides this method. Combinators use it to refuse, at
        construction, parts whose values would multiply (or add up) beyond float64's range.

        >>> from optfn.schedules import PiecewiseConstant, Product, WarmupCosine
        >>> WarmupCosine(warmup_steps=1, total_steps=5).max_multiplier()
        1.0
        >>> Product(factors=(PiecewiseConstant(values=(4.0,)),) * 2).max_multiplier()
        16.0
        """
        return 1.0 if type(self).__module__ in _UNIT_MODULES else None


#: The modules whose shapes keep every multiplier in [0, 1]: optfn's shapes and cycles (a
#: subclass defined elsewhere may change the formula, so it says ``None`` unless it overrides
#: :meth:`Schedule.max_multiplier`).
_UNIT_MODULES = frozenset({"optfn.schedules.shapes", "optfn.schedules.cycles"})


def combined_bound(
    spec: Schedule, field: str, parts: Sequence[Schedule], *, product: bool
) -> float | None:
    """The bound of ``parts`` multiplied (``product``) or added, in the order the formula
    combines them: a :class:`SpecError` naming ``field`` when it is beyond float64's range
    (the combined multiplier could then be ``inf``), ``None`` when a part's bound is unknown.

    Each partial result of the formula is at most the same partial result of the bounds
    (rounding is monotone and every value is >= 0), so a finite bound means finite values.
    """
    bounds = [p.max_multiplier() for p in parts]
    known = [b for b in bounds if b is not None]
    if len(known) < len(bounds):
        return None
    out = known[0]
    for b in known[1:]:
        out = out * b if product else out + b
    if not math.isfinite(out):
        raise SpecError(
            type(spec).__name__,
            field,
            f"the largest multipliers of its parts ({', '.join(f'{b:g}' for b in known)}) "
            f"{'multiply' if product else 'add up'} to more than the largest float "
            f"({sys.float_info.max:.3g}): the schedule's multiplier would overflow to inf; "
            "lower the values",
        )
    return out


def nesting_depth(schedule: Schedule) -> int:
    """How deep combinators (:class:`~optfn.schedules.Join`, :class:`~optfn.schedules.Product`,
    :class:`~optfn.schedules.Sum`) nest in ``schedule``: 0 for a shape, 1 for a Join of
    shapes, ... Walked without recursion.

    >>> from optfn.schedules import Constant, Join, Product
    >>> nesting_depth(Join(pieces=(Constant(), Product(factors=(Constant(),))), boundaries=(5,)))
    2
    """
    deepest, todo = 0, [(schedule, 0)]
    while todo:
        node, depth = todo.pop()
        children = node.nested()
        if children:
            depth += 1
            deepest = max(deepest, depth)
            todo.extend((p, depth) for p in children)
    return deepest


def check_depth(spec: Schedule, field: str) -> None:
    """Refuse a combinator nested deeper than :data:`MAX_JOIN_DEPTH` (so that every operation,
    evaluation, ``repr``, ``==``, configs and checkpoints, works at every depth a spec has)."""
    depth = nesting_depth(spec)
    if depth > MAX_JOIN_DEPTH:
        raise SpecError(
            type(spec).__name__,
            field,
            f"Joins, Products and Sums nest {depth} deep; at most {MAX_JOIN_DEPTH} are allowed "
            "(a Join of Joins flattens: list the pieces of the inner Joins in one Join instead; "
            "likewise the factors of a Product of Products, the terms of a Sum of Sums)",
        )


#: A flattened segment: steps ``[start, stop)`` get ``fn(s - origin, xp)``, or ``fn`` if a float.
_Flat = tuple[int, int, int, "Callable[[Any, MathNamespace], Any] | float"]


def flatten(schedule: Schedule, lo: int, hi: int, shift: int = 0) -> list[_Flat]:
    """The primitive segments of ``schedule`` (local step 0 at absolute step ``shift``) that
    cover the absolute steps ``lo .. hi - 1``, nested schedules (joins) flattened, ascending.

    A segment may start after its origin (a piece of a ``Join(clock="global")`` has its step 0
    at step 0 but starts at its boundary): the piece's own segments (a warm-up, a hold, the
    pieces of an inner join) are clipped to the segment's steps, each keeping its origin, so
    from its boundary on the piece shows the values it has there.
    """
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
            out.extend(flatten(piece, a, b, shift + origin))
        else:
            out.append((a, b, shift + origin, float(piece)))
    return out


def evaluate_segments(schedule: Schedule, x: Any, xp: MathNamespace) -> Any:
    """The formula of a piecewise schedule: its segments evaluated at arbitrary local steps."""
    if not xp.vector:
        step = int(x)
        _, _, origin, fn = flatten(schedule, step, step + 1)[0]
        return fn if isinstance(fn, float) else fn(step - origin, xp)
    steps = np.asarray(x, dtype=np.int64)
    out = np.empty(steps.shape, dtype=np.float64)
    if steps.size:
        for a, b, origin, fn in flatten(schedule, int(steps.min()), int(steps.max()) + 1):
            inside = (steps >= a) & (steps < b)
            out[inside] = fn if isinstance(fn, float) else fn(steps[inside] - origin, xp)
    return out


@functools.lru_cache(maxsize=256)
def cached_segments(schedule: Any) -> tuple[Segment, ...]:
    """The segments of a compound shape, built once per spec value (not a ``cached_property``:
    that gives an attrs slotted class a ``__getattr__``, which slows every field access)."""
    segments: tuple[Segment, ...] = schedule._segments()
    return segments


@attrs.frozen(kw_only=True)
class Compound(Schedule):
    """A shape made of pieces: it lists them once, in :meth:`_segments` (built once per spec
    value and cached), and its formula is the evaluation of those segments."""

    @abc.abstractmethod
    def _segments(self) -> tuple[Segment, ...]:
        """The pieces, as :meth:`Schedule.segments` returns them."""

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return evaluate_segments(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        return cached_segments(self)
