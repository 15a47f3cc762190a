"""Hugging Face's LR schedulers as optfn specs: :func:`schedule_from_hf`.

``transformers.get_scheduler(name, optimizer, num_warmup_steps=W, num_training_steps=T,
scheduler_specific_kwargs=kw)`` builds a ``LambdaLR`` around a closed form of the step;
``schedule_from_hf(name, num_warmup_steps=W, num_training_steps=T, **kw)`` returns the optfn
spec with the same multipliers, written with Hugging Face's own arithmetic (same operations in
the same order), so that ``lr_curve(spec, T + 1)`` equals Hugging Face's ``lr_lambda(s)`` for
``s = 0 .. T``, bit for bit for every name except where noted in :func:`schedule_from_hf`. The
spec is plain data: it saves to a config and restores without transformers installed.

>>> from optfn.convert.hf import schedule_from_hf
>>> from optfn.schedules import lr_curve
>>> spec = schedule_from_hf("linear", num_warmup_steps=2, num_training_steps=6)
>>> spec  # doctest: +NORMALIZE_WHITESPACE
Join(pieces=(LinearWarmup(warmup_steps=2, init_scale=0.0, warmup_ramp='s/W'),
             Ramp(steps=4, start_scale=1.0, end_scale=0.0, shape='linear', power=1.0,
                  cycles=None)), boundaries=(2,))
>>> lr_curve(spec, 8).tolist()
[0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
>>> schedule_from_hf("cosine", num_warmup_steps=100, num_training_steps=1000)
WarmupCosine(warmup_steps=100, total_steps=1000, min_lr_scale=0.0, warmup_ramp='s/W')
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, cast, get_args

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.schedules import (
    Constant,
    DecayShape,
    InverseSqrt,
    Join,
    LinearWarmup,
    PiecewiseConstant,
    Product,
    Ramp,
    Schedule,
    WarmupCosine,
    WarmupStableDecay,
)
from optfn.specs import checks as v
from optfn.specs.render import brief

__all__ = ["HF_SCHEDULER_NAMES", "schedule_from_hf"]

_OWNER = "schedule_from_hf"
#: Hugging Face's warm-up and decay shapes of ``warmup_stable_decay``.
#: The warm-up and decay shapes of HF's WSD: optfn's own ``DecayShape`` values.
_WSD_SHAPES: tuple[str, ...] = get_args(DecayShape)


@attrs.frozen
class _Call:
    """One conversion's arguments, checked: ``w``/``t`` the warm-up/training steps (``t``
    ``None`` where the name does without), ``kw`` the scheduler-specific keywords with Hugging
    Face's defaults filled in."""

    name: str
    w: int
    t: int | None
    lr_init: float | None
    kw: Mapping[str, Any]

    def total(self) -> int:
        assert self.t is not None  # checked before any builder runs (_Recipe.needs_total)
        return self.t

    def lr(self, why: str) -> float:
        """The optimizer's LR, which ``why`` needs to become a ratio; refused if not given."""
        if self.lr_init is None:
            raise SpecError(
                _OWNER,
                "lr_init",
                f"{self.name!r} needs the optimizer's LR: {why} (Hugging Face divides by "
                "optimizer.defaults['lr']); pass lr_init=<that LR>",
            )
        return self.lr_init


@attrs.frozen
class _Recipe:
    """How one Hugging Face name becomes a spec: its keywords (with Hugging Face's defaults),
    whether it needs ``num_warmup_steps`` / ``num_training_steps``, and the builder."""

    build: Callable[[_Call], Schedule]
    keywords: Mapping[str, Any] = attrs.field(factory=dict)
    needs_warmup: bool = True
    needs_total: bool = True


# ---- checks of the scheduler-specific keywords ----------------------------------------------


def _real(call: _Call, key: str, lo: float | None, hi: float | None, *, lo_open: bool) -> float:
    return v.real_arg(_OWNER, key, call.kw[key], lo, hi, lo_open=lo_open)


def _cycles(call: _Call) -> float:
    return _real(call, "num_cycles", 0.0, None, lo_open=True)


def _count(call: _Call, key: str, minimum: int) -> int:
    return v.step_arg(_OWNER, key, call.kw[key], minimum)


def _shape(call: _Call, key: str) -> DecayShape:
    value = call.kw[key]
    if not isinstance(value, str) or value not in _WSD_SHAPES:
        raise SpecError(
            _OWNER, key, f"must be one of {', '.join(map(repr, _WSD_SHAPES))}, got {brief(value)}"
        )
    return cast(DecayShape, value)


def _warmup_within_total(call: _Call, *, strict: bool = False) -> None:
    w, t = call.w, call.total()
    if w > t or (strict and w == t):
        rel = "<" if strict else "<="
        why = (
            "Hugging Face divides by num_training_steps - num_warmup_steps at step T"
            if strict
            else "Hugging Face's decay would then start past T, on a progress (s - W) / 1: "
            "a drop to 0 or a cosine that flips between its ends"
        )
        raise SpecError(
            _OWNER,
            "num_warmup_steps",
            f"must be {rel} num_training_steps ({t}) for {call.name!r}, got {w} ({why})",
        )


# ---- the pieces ----------------------------------------------------------------------------


def _after_warmup(call: _Call, decay: Schedule) -> Schedule:
    """Hugging Face's ``float(s) / float(max(1, W))`` warm-up joined at ``W`` with ``decay``."""
    if call.w == 0:
        return decay
    warmup = LinearWarmup(warmup_steps=call.w, warmup_ramp="s/W")
    return Join(pieces=(warmup, decay), boundaries=(call.w,))


def _hold(value: float) -> Schedule:
    return PiecewiseConstant(values=(value,))


def _decay_steps(call: _Call) -> int:
    """Hugging Face's ``max(1, T - W)``: the length of every cosine's progress."""
    return max(1, call.total() - call.w)


# ---- one builder per name ------------------------------------------------------------------


def _constant(call: _Call) -> Schedule:
    return Constant()


def _constant_with_warmup(call: _Call) -> Schedule:
    return _after_warmup(call, Constant())


def _linear(call: _Call) -> Schedule:
    _warmup_within_total(call)
    w, t = call.w, call.total()
    # float(T - s) / float(max(1, T - W)), clamped at 0: a falling linear Ramp; with W = T it
    # is (T - s) / 1, already 0 at step W
    decay = _hold(0.0) if w == t else Ramp(steps=t - w, start_scale=1.0, end_scale=0.0)
    return _after_warmup(call, decay)


def _cosine_ramp(steps: int, floor: float, cycles: float) -> Schedule:
    """Hugging Face's cosine decay ``0.5 * (1 + cos(pi * num_cycles * 2 * p))`` to ``floor``."""
    return Ramp(steps=steps, start_scale=1.0, end_scale=floor, shape="cosine", cycles=cycles)


def _cosine(call: _Call) -> Schedule:
    _warmup_within_total(call)
    cycles = _cycles(call)
    if cycles == 0.5:
        return WarmupCosine(warmup_steps=call.w, total_steps=call.total(), warmup_ramp="s/W")
    return _after_warmup(call, _cosine_ramp(_decay_steps(call), 0.0, cycles))


def _cosine_with_restarts(call: _Call) -> Schedule:
    _warmup_within_total(call)
    restarts = Ramp(
        steps=_decay_steps(call),
        start_scale=1.0,
        end_scale=0.0,
        shape="cosine_restarts",
        cycles=_cycles(call),
    )
    return _after_warmup(call, restarts)


def _polynomial(call: _Call) -> Schedule:
    _warmup_within_total(call, strict=True)
    lr = call.lr("lr_end is an absolute LR")
    lr_end = _real(call, "lr_end", 0.0, lr, lo_open=False)
    if not lr_end < lr:
        raise SpecError(_OWNER, "lr_end", f"must be < lr_init ({lr}), got {lr_end}")
    power = _real(call, "power", 0.0, None, lo_open=True)
    decay = Ramp(
        steps=call.total() - call.w,
        start_scale=1.0,
        end_scale=lr_end / lr,
        shape="polynomial",
        power=power,
    )
    return _after_warmup(call, decay)


def _inverse_sqrt(call: _Call) -> Schedule:
    timescale = call.kw["timescale"]
    if timescale is None:  # Hugging Face: num_warmup_steps or 10_000
        timescale = call.w or 10_000
    tau = v.step_arg(_OWNER, "timescale", timescale, 1)
    return InverseSqrt(warmup_steps=call.w, timescale=tau, warmup_ramp="s/W")


def _min_lr_rate(call: _Call) -> float:
    """``min_lr_rate``, or ``min_lr / lr_init`` (exactly one of the two, as Hugging Face asks)."""
    min_lr, rate = call.kw["min_lr"], call.kw["min_lr_rate"]
    if (min_lr is None) == (rate is None):
        raise SpecError(
            _OWNER,
            "min_lr_rate",
            f"{call.name!r} needs exactly one of min_lr (an absolute LR, with lr_init) and "
            f"min_lr_rate (a ratio of the peak LR), got min_lr={brief(min_lr)}, "
            f"min_lr_rate={brief(rate)}",
        )
    if rate is not None:
        return v.real_arg(_OWNER, "min_lr_rate", rate, 0.0, 1.0)
    lr = call.lr("min_lr is an absolute LR")
    low = v.real_arg(_OWNER, "min_lr", min_lr, 0.0, lr)
    return low / lr


def _cosine_with_min_lr(call: _Call) -> Schedule:
    _warmup_within_total(call)
    floor, cycles = _min_lr_rate(call), _cycles(call)
    if cycles == 0.5:
        return WarmupCosine(
            warmup_steps=call.w, total_steps=call.total(), min_lr_scale=floor, warmup_ramp="s/W"
        )
    return _after_warmup(call, _cosine_ramp(_decay_steps(call), floor, cycles))


def _cosine_warmup_with_min_lr(call: _Call) -> Schedule:
    # Hugging Face: warm-up (s + 1.0) / max(1.0, W), or r + (1 - r) * s / max(1, W - 1) with
    # r = warmup_lr_rate; the cosine's progress (s - W + 1.0) / max(1.0, T - W) is one step
    # ahead, so it starts at boundary W - 1 (where both warm-ups reach 1.0) and reaches its
    # floor at T - 1
    _warmup_within_total(call)
    w = call.w
    if w == 0:
        raise SpecError(
            _OWNER,
            "num_warmup_steps",
            "must be >= 1 for 'cosine_warmup_with_min_lr': with no warm-up Hugging Face's "
            "cosine runs on (s + 1) / T from step 0, one step ahead of every optfn piece "
            "(a Join starts its pieces at step 0); use num_warmup_steps >= 1, or "
            "'cosine_with_min_lr' (progress s / T)",
        )
    floor, cycles = _min_lr_rate(call), _cycles(call)
    decay = _cosine_ramp(_decay_steps(call), floor, cycles)
    rate = call.kw["warmup_lr_rate"]
    if rate is None:
        if w == 1:  # step 0: (0 + 1) / 1 = 1.0 = the cosine's start
            return decay
        return Join(pieces=(LinearWarmup(warmup_steps=w), decay), boundaries=(w - 1,))
    r = v.real_arg(_OWNER, "warmup_lr_rate", rate, 0.0, 1.0)
    if w == 1:  # step 0 gets r, then the cosine on its own step s (origin 0)
        step0 = PiecewiseConstant(boundaries=(1,), values=(r, 1.0))
        return Product(factors=(step0, decay))
    warmup = LinearWarmup(warmup_steps=w - 1, init_scale=r, warmup_ramp="s/W")
    return Join(pieces=(warmup, decay), boundaries=(w - 1,))


def _warmup_stable_decay(call: _Call) -> Schedule:
    w = call.w
    decay_steps = call.kw["num_decay_steps"]
    if decay_steps is None:
        raise SpecError(_OWNER, "num_decay_steps", "is required for 'warmup_stable_decay'")
    d = v.step_arg(_OWNER, "num_decay_steps", decay_steps)
    if call.kw["num_stable_steps"] is not None:  # Hugging Face: it wins over T
        stable = _count(call, "num_stable_steps", 0)
    elif call.t is None:
        raise SpecError(
            _OWNER,
            "num_training_steps",
            "'warmup_stable_decay' needs num_training_steps or num_stable_steps",
        )
    else:
        stable = call.t - w - d
        if stable < 0:
            raise SpecError(
                _OWNER,
                "num_decay_steps",
                f"num_warmup_steps + num_decay_steps must be <= num_training_steps "
                f"({call.t}), got {w} + {d}",
            )
    warmup_type, decay_type = _shape(call, "warmup_type"), _shape(call, "decay_type")
    floor = _real(call, "min_lr_ratio", 0.0, 1.0, lo_open=False)
    cycles = _cycles(call)
    if d and (decay_type != "cosine" or cycles == 0.5):
        tail = WarmupStableDecay(
            warmup_steps=0 if floor else w,
            total_steps=(0 if floor else w) + stable + d,
            decay_steps=d,
            min_lr_scale=floor,
            decay_shape=decay_type,
            warmup_ramp="s/W",
            warmup_shape=warmup_type,
        )
        if not floor or not w:
            return tail
        # Hugging Face's warm-up rises from min_lr_ratio, not from 0
        rise = Ramp(steps=w, start_scale=floor, end_scale=1.0, shape=warmup_type)
        return Join(pieces=(rise, tail), boundaries=(w,))
    # a cosine of other than half a wave, or no decay at all: the phases one by one
    pieces: list[Schedule] = []
    starts: list[int] = []

    def phase(start: int, piece: Schedule) -> None:
        pieces.append(piece)
        starts.append(start)

    if w:
        phase(0, Ramp(steps=w, start_scale=floor, end_scale=1.0, shape=warmup_type))
    if stable:
        phase(w, Constant())
    if d:
        phase(w + stable, _cosine_ramp(d, floor, cycles))
    phase(w + stable + d, _hold(floor))  # Hugging Face returns min_lr_ratio from there on
    if len(pieces) == 1:
        return pieces[0]
    return Join(pieces=pieces, boundaries=starts[1:])


_RECIPES: dict[str, _Recipe] = {
    "linear": _Recipe(_linear),
    "cosine": _Recipe(_cosine, {"num_cycles": 0.5}),
    "cosine_with_restarts": _Recipe(_cosine_with_restarts, {"num_cycles": 1}),
    "polynomial": _Recipe(_polynomial, {"lr_end": 1e-7, "power": 1.0}),
    "constant": _Recipe(_constant, needs_warmup=False, needs_total=False),
    "constant_with_warmup": _Recipe(_constant_with_warmup, needs_total=False),
    "inverse_sqrt": _Recipe(_inverse_sqrt, {"timescale": None}, needs_total=False),
    "cosine_with_min_lr": _Recipe(
        _cosine_with_min_lr, {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None}
    ),
    "cosine_warmup_with_min_lr": _Recipe(
        _cosine_warmup_with_min_lr,
        {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None, "warmup_lr_rate": None},
    ),
    "warmup_stable_decay": _Recipe(
        _warmup_stable_decay,
        {
            "num_decay_steps": None,
            "num_stable_steps": None,
            "warmup_type": "linear",
            "decay_type": "cosine",
            "min_lr_ratio": 0.0,
            "num_cycles": 0.5,
        },
        needs_total=False,
    ),
}

#: Hugging Face's schedulers that are not a function of the step, and why.
_REFUSED = {
    "reduce_lr_on_plateau": "it lowers the LR when a metric stops improving: a function of the "
    "metrics, not of the step, so no schedule spec can hold it (use torch's ReduceLROnPlateau)",
    "greedy": "it raises and lowers the LR by watching the loss: a function of the metrics, not "
    "of the step, so no schedule spec can hold it",
}

#: The Hugging Face ``SchedulerType`` names :func:`schedule_from_hf` converts.
HF_SCHEDULER_NAMES: tuple[str, ...] = tuple(_RECIPES)


def _name_of(name: object) -> str:
    if isinstance(name, enum.Enum):  # transformers.SchedulerType (also a str: use its value)
        name = name.value
    if not isinstance(name, str):
        raise SpecTypeError(
            _OWNER,
            "name",
            f"must be a Hugging Face scheduler name (a str or a SchedulerType), got "
            f"{brief(name)} ({type(name).__name__})",
        )
    if name in _REFUSED:
        raise SpecError(_OWNER, "name", f"{name!r} cannot be converted: {_REFUSED[name]}")
    if name not in _RECIPES:
        raise SpecError(
            _OWNER,
            "name",
            f"unknown Hugging Face scheduler {brief(name)}; known: {', '.join(_RECIPES)} "
            f"(and {', '.join(_REFUSED)}, which are not functions of the step)",
        )
    return name


def schedule_from_hf(
    name: str | enum.Enum,
    *,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    lr_init: float | None = None,
    **scheduler_specific_kwargs: Any,
) -> Schedule:
    """The optfn spec of Hugging Face's scheduler ``name``, with ``get_scheduler``'s arguments.

    ``name`` is a ``transformers.SchedulerType`` or its value; ``num_warmup_steps`` (``W``)
    and ``num_training_steps`` (``T``) are ``get_scheduler``'s, and the keywords are its
    ``scheduler_specific_kwargs`` (``TrainingArguments.lr_scheduler_kwargs``), by Hugging Face's
    names and with its defaults. ``lr_init`` is the optimizer's LR: Hugging Face turns an
    absolute LR into a ratio by dividing by ``optimizer.defaults["lr"]`` (``polynomial``'s
    ``lr_end``, the min-LR cosines' ``min_lr``); optfn's multipliers are ratios, so such a
    conversion needs ``lr_init`` and is refused without it. The result is an ordinary spec::

        TrainingArguments(lr_scheduler_type=name, warmup_steps=W, max_steps=T,
                          lr_scheduler_kwargs=kw, learning_rate=lr)
        ==  schedule_from_hf(name, num_warmup_steps=W, num_training_steps=T, lr_init=lr, **kw)

    =============================  ====================================================  =====
    ``name`` (keywords)            spec (``ramp = LinearWarmup(W, warmup_ramp="s/W")``)    exact
    =============================  ====================================================  =====
    ``constant``                   ``Constant()``                                          yes
    ``constant_with_warmup``       ``Join(ramp, Constant())``                              yes
    ``linear``                     ``Join(ramp, Ramp(T - W, 1 -> 0, "linear"))``           yes
    ``cosine`` (``num_cycles``)    ``WarmupCosine(W, T, warmup_ramp="s/W")``; other        yes
                                   ``num_cycles``: ``Join(ramp, Ramp(.., "cosine",
                                   cycles=num_cycles))``
    ``cosine_with_restarts``       ``Join(ramp, Ramp(T - W, 1 -> 0, "cosine_restarts",     yes
    (``num_cycles``)               cycles=num_cycles))``
    ``polynomial`` (``lr_end``,    ``Join(ramp, Ramp(T - W, 1 -> lr_end / lr_init,        ulp
    ``power``)                     "polynomial", power=power))``
    ``inverse_sqrt``               ``InverseSqrt(W, timescale=τ, warmup_ramp="s/W")``,     yes
    (``timescale``)                ``τ`` = ``timescale`` or ``W`` or 10,000
    ``cosine_with_min_lr``         ``WarmupCosine(W, T, min_lr_scale=rate, ...)``          yes
    (``min_lr``/``min_lr_rate``,
    ``num_cycles``)
    ``cosine_warmup_with_min_lr``  a default ``LinearWarmup(W)`` (or from                   yes
    (``min_lr``/``min_lr_rate``,   ``warmup_lr_rate``) joined at ``W - 1`` with the        (ulp)
    ``num_cycles``,                cosine ``Ramp``
    ``warmup_lr_rate``)
    ``warmup_stable_decay``        ``WarmupStableDecay(W, W + S + D, D, decay_shape=...,   yes
    (``num_decay_steps``,          warmup_ramp="s/W", warmup_shape=...)``; with
    ``num_stable_steps``,          ``min_lr_ratio > 0`` its warm-up is a ``Ramp`` from
    ``warmup_type``,               ``min_lr_ratio`` joined at ``W``
    ``decay_type``,
    ``min_lr_ratio``,
    ``num_cycles``)
    =============================  ====================================================  =====

    "yes" is bit for bit for ``s = 0 .. T`` (optfn's ``cos``, ``sqrt`` and divisions are the
    same IEEE operations as Hugging Face's ``math`` ones, on a platform whose numpy ``cos``
    matches libm's, as the tests check). ``polynomial`` with a ``power`` other than 1 and 2
    differs by at most an ulp (numpy's ``pow`` for Python's ``**``), and with ``lr_init`` other
    than 1.0 by the rounding of Hugging Face's ``(lr_range · h + lr_end) / lr_init``;
    ``cosine_warmup_with_min_lr``'s ``warmup_lr_rate`` ramp computes ``r + (1 - r)·(s / n)``
    where Hugging Face computes ``r + ((1 - r)·s) / n`` (an ulp).

    **Past ``num_training_steps``** Hugging Face's lambdas go on with their formulas: its
    cosines (``num_cycles`` any) climb back up (``cos`` of a progress beyond 1), the
    ``linear`` one stays at 0, ``polynomial`` at ``lr_end``, the restarts at 0. optfn's specs
    hold the value of the last step instead (``0``, ``lr_end / lr_init``, the floor), so they
    equal Hugging Face's up to ``T`` and wherever its value holds after. Two more steps where
    they part: ``cosine_warmup_with_min_lr``'s progress is one step ahead, so its floor comes
    at ``T - 1`` (the last step trained) and Hugging Face's ``λ(T)`` is already past it, a bit
    above the floor (optfn holds the floor); and ``warmup_stable_decay`` ends at
    ``W + S + D``, which equals ``T`` unless ``num_stable_steps`` is given (Hugging Face then
    uses it and ignores ``T``, and so does optfn).

    **Refused** (a :class:`~optfn.errors.SpecError`, a ``ValueError``, naming the field):
    an unknown name (the message lists the known ones), ``reduce_lr_on_plateau`` and
    ``greedy`` (functions of the metrics, not of the step), a missing argument Hugging Face
    requires, negative step counts, ``W > T`` (Hugging Face's decay then runs on a negative or
    oscillating progress), ``polynomial`` with ``W = T`` (Hugging Face divides by zero at step
    ``T``), a conversion that needs ``lr_init`` without it, ratios outside [0, 1],
    ``cosine_warmup_with_min_lr`` with ``W = 0`` (see below). A keyword the name does not take
    is a :class:`~optfn.errors.SpecTypeError` (a ``TypeError``, as Python and Hugging Face
    raise), listing those it takes; ``num_training_steps`` is checked and ignored by the names
    that do without it (``constant``, ``constant_with_warmup``, ``inverse_sqrt``), as Hugging
    Face ignores it.

    ``cosine_warmup_with_min_lr`` with no warm-up runs its cosine on ``(s + 1) / T`` from step
    0: a piece one step ahead of its own step 0, which no optfn piece expresses (a ``Join``
    starts each piece at its boundary), so it is refused rather than approximated. Its
    warm-up ``(s + 1) / W`` is optfn's default ramp, whose floor ``1e-8`` matters only for
    ``W > 10**8``.

    >>> from optfn.convert.hf import schedule_from_hf
    >>> from optfn.schedules import lr_curve
    >>> wsd = schedule_from_hf("warmup_stable_decay", num_warmup_steps=2,
    ...                        num_training_steps=8, num_decay_steps=4, decay_type="linear")
    >>> lr_curve(wsd, 10).tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    >>> poly = schedule_from_hf("polynomial", num_warmup_steps=0, num_training_steps=4,
    ...                         lr_init=1e-3, lr_end=1e-4, power=2.0)
    >>> lr_curve(poly, 5).round(6).tolist()
    [1.0, 0.60625, 0.325, 0.15625, 0.1]
    >>> schedule_from_hf("polynomial", num_warmup_steps=0, num_training_steps=4)
    Traceback (most recent call last):
        ...
    optfn.errors.SpecError: schedule_from_hf.lr_init: 'polynomial' needs the optimizer's LR: \
lr_end is an absolute LR (Hugging Face divides by optimizer.defaults['lr']); pass lr_init=<that LR>
    >>> schedule_from_hf("cosine", num_warmup_steps=0, num_training_steps=4, lr_end=0.0)
    Traceback (most recent call last):
        ...
    optfn.errors.SpecTypeError: schedule_from_hf.lr_end: is not a keyword of 'cosine'; \
it takes: num_cycles
    """
    key = _name_of(name)
    recipe = _RECIPES[key]
    unknown = [k for k in scheduler_specific_kwargs if k not in recipe.keywords]
    if unknown:
        takes = ", ".join(recipe.keywords) or "none"
        hint = (
            " (last_epoch is where a resumed torch scheduler stands, not part of the schedule: "
            "give it to the scheduler)"
            if unknown[0] == "last_epoch"
            else ""
        )
        raise SpecTypeError(
            _OWNER, unknown[0], f"is not a keyword of {key!r}; it takes: {takes}{hint}"
        )
    w = 0
    if num_warmup_steps is not None:
        w = v.step_arg(_OWNER, "num_warmup_steps", num_warmup_steps)
    elif recipe.needs_warmup:
        raise SpecError(_OWNER, "num_warmup_steps", f"is required for {key!r}")
    t = None
    if num_training_steps is not None:
        t = v.step_arg(_OWNER, "num_training_steps", num_training_steps, 1)
    elif recipe.needs_total:
        raise SpecError(_OWNER, "num_training_steps", f"is required for {key!r}")
    lr = None if lr_init is None else v.real_arg(_OWNER, "lr_init", lr_init, 0.0, lo_open=True)
    kw = {**recipe.keywords, **scheduler_specific_kwargs}
    return recipe.build(_Call(name=key, w=w, t=t, lr_init=lr, kw=kw))
