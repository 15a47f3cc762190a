"""torch's LR schedulers read as optfn schedules: :func:`schedule_from_torch`.

A live ``torch.optim.lr_scheduler`` object becomes the optfn spec whose curve is the one that
stepping the scheduler gives, as a multiplier of the group's reference LR
(:func:`base_lrs_from_torch`): its ``initial_lr`` for most schedulers, its ``max_lr`` for
``OneCycleLR`` and ``CyclicLR``. The spec is a closed form of the step (no recursion), it
serializes, and :func:`optfn.make_scheduler` steps it again.

>>> import torch
>>> from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
>>> from optfn.schedules import lr_curve
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> torch_sched = SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=3),
...                                   CosineAnnealingLR(opt, T_max=4)], milestones=[3])
>>> spec = schedule_from_torch(torch_sched)
>>> spec
Join(pieces=(Ramp(steps=3, start_scale=0.1, ...), CosineDecay(decay_steps=4, ...)), ...)
>>> lr_curve(spec, 8).round(4).tolist()
[0.1, 0.4, 0.7, 1.0, 0.8536, 0.5, 0.1464, 0.0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs
import torch
from torch.optim import lr_scheduler as tl

from optfn.build import HyperScheduleLR, ScheduleLR
from optfn.errors import SpecError, SpecTypeError
from optfn.schedules import (
    Constant,
    CosineDecay,
    CosineRestarts,
    Cyclic,
    ExponentialDecay,
    Join,
    MultiStepDecay,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    Product,
    Ramp,
    Schedule,
    lr_lambda,
)
from optfn.specs.checks import is_int, is_real
from optfn.specs.render import brief

__all__ = ["base_lrs_from_torch", "schedule_from_torch"]

#: How a scheduler's local step 0 is computed: by its own first step (alone, chained, or the
#: first piece of a ``SequentialLR``), or by ``SequentialLR`` at a milestone, which calls
#: ``_update_lr(0)``: the closed form at 0 where torch has one (``ConstantLR`` with
#: ``total_iters=0`` then gives 1.0, not ``factor``; ``LinearLR`` with ``total_iters=0``
#: divides by zero).
_Start = Literal["first", "milestone"]

#: How far the group's current LR may be from ``reference · λ(step)`` (torch's recursive
#: formulas drift by rounding): relative to the value, plus a little of the reference LR.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12
#: The same for an LR held in a tensor of less than float64's precision (float32 rounds each
#: recursive step to ~6e-8).
_LOW_PRECISION_TOL = 1e-3

_REFUSED_FUNCTIONS = (
    "an arbitrary Python function has no spec: write the schedule as optfn specs (Join, "
    "Ramp, Product, ...) and step it with optfn.make_scheduler / optfn.ScheduleLR, which give "
    "the closed form and a serializable config"
)


@attrs.frozen
class _Where:
    """Where a scheduler sits: for messages, and for the rules that depend on it."""

    path: str = ""  # "SequentialLR.schedulers[1]" when nested
    start: _Start = "first"
    chained: bool = False  # inside a ChainedScheduler: must be a factor of the current LR

    def owner(self, sched: object) -> str:
        name = type(sched).__name__
        return f"{self.path}({name})" if self.path else name


#: A converted scheduler: the schedule (the same for every converted group) and, per group,
#: the reference LR it multiplies.
_Converted = tuple[Schedule, list[float]]


def schedule_from_torch(scheduler: object, *, group: int | None = None) -> Schedule:
    """The optfn schedule whose curve is the one torch's ``scheduler`` steps through.

    ``lr_curve(schedule_from_torch(sched), n)[s] * base`` is the LR that
    ``opt.step(); sched.step()`` gives at step ``s`` (``sched.get_last_lr()``), where
    ``base`` is the group's reference LR (:func:`base_lrs_from_torch`):

    * the group's ``initial_lr`` (``scheduler.base_lrs``) for every scheduler but two;
    * ``max_lr`` for ``OneCycleLR`` and ``CyclicLR``: optfn's :class:`OneCycle` and
      :class:`Cyclic` are multipliers of the peak, so **set each group's ``lr`` to its
      ``max_lr``** before :func:`optfn.make_scheduler` (not to torch's starting LR).

    Read (each measured against torch 2.13 stepped side by side, 10,000 steps, to ≤ 1e-12
    relative; see ``tests/convert/test_convert_torch.py``):

    ===============================  =========================================================
    torch                            optfn
    ===============================  =========================================================
    ``StepLR(k, γ)``                 ``ExponentialDecay(gamma=γ, steps_per_epoch=k)``
    ``ExponentialLR(γ)``             ``ExponentialDecay(gamma=γ)``
    ``MultiStepLR(ms, γ)``           ``MultiStepDecay`` (``PiecewiseConstant`` for repeated
                                     milestones, a milestone 0, or ``γ > 1``)
    ``ConstantLR(f, k)``             ``PiecewiseConstant(boundaries=(k,), values=(f, 1.0))``
    ``LinearLR(a, e, T)``            ``Ramp(steps=T, start_scale=a, end_scale=e)``
    ``CosineAnnealingLR(T, η)``      ``CosineDecay(decay_steps=T, min_lr_scale=η / base)``
    ``PolynomialLR(T, p)``           ``PolynomialDecay(decay_steps=T, power=p)``
    ``CosineAnnealingWarmRestarts``  ``CosineRestarts(..., cycle_ends_on_floor=False)``
    ``OneCycleLR``                   ``OneCycle`` (of ``max_lr``)
    ``CyclicLR``                     ``Cyclic`` (of ``max_lr``; the LR only)
    ``SequentialLR``                 ``Join`` at its milestones (each piece from its step 0)
    ``ChainedScheduler``             ``Product`` of multiplicative schedulers
    ``optfn.ScheduleLR``             its own schedule
    ===============================  =========================================================

    torch's edge cases are kept: ``total_iters=0`` (``ConstantLR``/``LinearLR`` hold their
    factor forever, ``PolynomialLR`` holds 1.0); a repeated ``MultiStepLR`` milestone
    applies ``γ`` once per repetition; a ``SequentialLR`` piece starts at a milestone from
    torch's closed form at its step 0 (so ``ConstantLR(total_iters=0)`` there gives 1.0), and
    pieces that never run (milestone 0, repeated milestones) are left out.

    **Past a scheduler's own end** optfn holds its final value, where torch does not:
    ``CosineAnnealingLR`` beyond ``T_max`` climbs back up (its cosine goes on), and
    ``OneCycleLR`` extrapolates at step ``total_steps`` and raises after it; optfn holds
    ``eta_min`` / the final LR from there on. Everywhere else the curves agree.

    **Param groups**: the multiplier is one for all groups when their ratios agree (every
    scheduler, but ``eta_min`` of the cosine ones and ``base_lr``/``max_lr`` of the cyclic
    ones are absolute LRs, whose ratio to the group's reference LR may differ per group).
    With ``group=None`` (the default) a multiplier that differs between groups (by more than
    1e-12 relative, the rounding of those ratios) is refused, naming the field, and otherwise
    group 0's is returned; pass ``group=i`` to convert group ``i`` alone.

    **Stepped schedulers**: a schedule is a function of the absolute step, so a scheduler
    that has been stepped (or restored from a ``state_dict``) converts to its whole curve
    from step 0 on; continue it at its step with ``optfn.ScheduleLR(opt, spec,
    last_epoch=step)``, or look ahead with ``lr_curve(spec, n, start=step)``. Its groups'
    current LRs are checked against the converted curve at its current step
    (``last_epoch``), to ``1e-9`` relative (``1e-3`` for an LR in a float32 tensor): an LR
    set by hand, a second scheduler on the same optimizer, a ``step(epoch)`` jump, or a step
    past the scheduler's end (see above) is refused rather than converted into another curve.

    Refused (a :class:`~optfn.errors.SpecError`, a ``ValueError``, naming the scheduler
    class and field): ``LambdaLR`` and ``MultiplicativeLR`` (an arbitrary Python function
    has no spec: write the schedule with optfn's specs and :class:`optfn.ScheduleLR`);
    ``ReduceLROnPlateau`` (its LR depends on the metrics); ``CyclicLR`` with a custom
    ``scale_fn``; a subclass or an unknown scheduler; in a ``ChainedScheduler``, anything
    that sets the LR from its base LR rather than multiplying the current one (torch's
    chained LR is then not a product: ``CosineAnnealingLR`` with ``eta_min > 0``,
    ``CosineAnnealingWarmRestarts``, ``OneCycleLR``, ``CyclicLR``, ``SequentialLR``,
    ``ScheduleLR``); inside a ``SequentialLR``, ``OneCycleLR``/``CyclicLR`` (they rewrite
    the groups' ``initial_lr``) and nested ``SequentialLR``/``ChainedScheduler`` (torch
    cannot restart them at a milestone); values outside what the optfn spec allows (``γ > 1``,
    ``eta_min`` above the base LR, a ``OneCycleLR`` phase without steps, ...). Something
    that is not an ``LRScheduler`` is a :class:`~optfn.errors.SpecTypeError`.

    ``CyclicLR``'s and ``OneCycleLR``'s momentum cycles (``cycle_momentum=True``) are not part
    of the LR curve: schedule them with :class:`optfn.CyclicMomentum` /
    :class:`optfn.OneCycleMomentum` in a :class:`optfn.HyperSchedules`.

    Args:
        scheduler: a torch LR scheduler, as built (or stepped).
        group: the param group to convert; ``None`` for all of them (one multiplier).

    Returns:
        The schedule: a multiplier of each group's reference LR (:func:`base_lrs_from_torch`),
        ``initial_lr`` or, for ``OneCycleLR``/``CyclicLR``, ``max_lr``.

    >>> import torch
    >>> from torch.optim.lr_scheduler import OneCycleLR, StepLR
    >>> from optfn.schedules import lr_lambda
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    >>> schedule_from_torch(StepLR(opt, step_size=30, gamma=0.5))
    ExponentialDecay(gamma=0.5, steps_per_epoch=30, ...)
    >>> one_cycle = OneCycleLR(opt, max_lr=2.0, total_steps=100)
    >>> spec = schedule_from_torch(one_cycle)
    >>> base_lrs_from_torch(one_cycle)  # the LR the multiplier scales: max_lr
    [2.0]
    >>> round(one_cycle.get_last_lr()[0], 12), round(2.0 * lr_lambda(spec)(0), 12)
    (0.08, 0.08)
    >>> schedule_from_torch(torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.9**s))
    Traceback (most recent call last):
    ...
    optfn.errors.SpecError: LambdaLR.lr_lambdas: ... has no spec: write the schedule as ...
    """
    return _top(scheduler, group)[0]


def base_lrs_from_torch(scheduler: object) -> list[float]:
    """Each param group's reference LR: what :func:`schedule_from_torch`'s multiplier scales.

    The group's ``initial_lr`` (``scheduler.base_lrs``), or its ``max_lr`` for ``OneCycleLR``
    and ``CyclicLR``. Set each group's ``lr`` to it before :func:`optfn.make_scheduler` to
    get torch's LRs back. Each group is converted alone (``group=i``), so groups whose
    multipliers differ are fine here.

    >>> import torch
    >>> from torch.optim.lr_scheduler import CyclicLR
    >>> opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]},
    ...                        {"params": [torch.nn.Parameter(torch.zeros(1))]}], lr=1.0)
    >>> base_lrs_from_torch(CyclicLR(opt, base_lr=[0.01, 0.1], max_lr=[0.1, 1.0]))
    [0.1, 1.0]
    """
    n = len(_param_groups(scheduler))
    return [_top(scheduler, g)[1][0] for g in range(n)]


def _top(scheduler: object, group: int | None) -> _Converted:
    groups = _param_groups(scheduler)
    if group is None:
        chosen = list(range(len(groups)))
    else:
        if not is_int(group):
            raise SpecTypeError(
                "schedule_from_torch", "group", f"must be an int or None, got {brief(group)}"
            )
        if not 0 <= group < len(groups):
            raise SpecError(
                "schedule_from_torch",
                "group",
                f"must be a param group index in [0, {len(groups)}), got {group}",
            )
        chosen = [int(group)]
    spec, refs = _convert(scheduler, chosen, _Where())
    _check_current(scheduler, spec, chosen, refs)
    return spec, refs


def _param_groups(scheduler: object) -> list[dict[str, Any]]:
    if not isinstance(scheduler, tl.LRScheduler | tl.ReduceLROnPlateau):
        raise SpecTypeError(
            "schedule_from_torch",
            "scheduler",
            "must be a torch.optim.lr_scheduler.LRScheduler, got "
            f"{brief(scheduler)} ({type(scheduler).__name__})",
        )
    opt = getattr(scheduler, "optimizer", None)
    if not isinstance(opt, torch.optim.Optimizer):
        raise SpecTypeError(
            type(scheduler).__name__,
            "optimizer",
            f"must be a torch.optim.Optimizer, got {type(opt).__name__}",
        )
    groups: list[dict[str, Any]] = opt.param_groups
    return groups


# ---------------------------------------------------------------------------------- reading


def _attr(sched: object, name: str, where: _Where) -> Any:
    if not hasattr(sched, name):
        raise SpecError(
            where.owner(sched),
            name,
            "is missing: not a scheduler as torch 2.x builds it (restored from another version?)",
        )
    return getattr(sched, name)


def _real(sched: object, name: str, where: _Where, value: Any = None) -> float:
    """A finite real number, from ``sched.name`` (or ``value``): int, float or 0-d tensor."""
    x = _attr(sched, name, where) if value is None else value
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if not is_real(x) or not math.isfinite(float(x)):
        raise SpecError(where.owner(sched), name, f"must be a finite number, got {brief(x)}")
    return float(x)


def _int(sched: object, name: str, where: _Where, lo: int | None = None) -> int:
    """A whole number (an integral float too: torch computes with it as with the int)."""
    x = _attr(sched, name, where)
    if is_real(x) and not is_int(x) and math.isfinite(float(x)) and float(x).is_integer():
        x = int(x)
    if not is_int(x):
        raise SpecError(where.owner(sched), name, f"must be a whole number, got {brief(x)}")
    if lo is not None and x < lo:
        raise SpecError(
            where.owner(sched), name, f"must be >= {lo} to be read as a schedule, got {x}"
        )
    return int(x)


def _base(sched: object, g: int, where: _Where, name: str = "base_lrs") -> float:
    lrs = _attr(sched, name, where)
    if not isinstance(lrs, Sequence) or g >= len(lrs):
        raise SpecError(where.owner(sched), name, f"has no entry for param group {g}")
    return _real(sched, f"{name}[{g}]", where, lrs[g])


def _ratio(sched: object, name: str, value: float, base: float, g: int, where: _Where) -> float:
    """``value / base``: an absolute LR (``eta_min``) as a multiplier of the base LR."""
    if base == 0.0:
        if value == 0.0:
            return 0.0
        raise SpecError(
            where.owner(sched),
            name,
            f"is {value!r} while param group {g}'s base LR is 0: no multiplier of 0 gives it",
        )
    return value / base


def _build(
    sched: object,
    field: str,
    where: _Where,
    make: Callable[[], Schedule],
    fields: Mapping[str, str] | None = None,
) -> Schedule:
    """``make()``, with an optfn spec's refusal reworded as the scheduler's own field's.

    ``fields`` maps the spec's fields to the scheduler's (``{"pct_start": "pct_start"}``): a
    refusal of a mapped field names the scheduler's; any other names ``field``.
    """
    try:
        return make()
    except (SpecError, SpecTypeError) as e:
        at = re.split(r"[.\[]", e.field, maxsplit=1)[0]
        blame = fields.get(at, field) if fields else field
        raise SpecError(where.owner(sched), blame, f"has no optfn equivalent here: {e}") from None


# ------------------------------------------------------------------------- one scheduler


def _step_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    k = _int(s, "step_size", w, lo=1)
    gamma = _real(s, "gamma", w)
    return _exponential(s, w, gamma, k), _base(s, g, w)


def _exponential_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    return _exponential(s, w, _real(s, "gamma", w), 1), _base(s, g, w)


def _exponential(s: Any, w: _Where, gamma: float, k: int) -> Schedule:
    if gamma == 0.0:  # torch's LR is 0 from the first decay on
        return PiecewiseConstant(boundaries=(k,), values=(1.0, 0.0))
    return _build(s, "gamma", w, lambda: ExponentialDecay(gamma=gamma, steps_per_epoch=k))


def _multistep_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    raw = _attr(s, "milestones", w)
    gamma = _real(s, "gamma", w)
    counts: Counter[int] = Counter()
    for m, n in Counter(raw).items():
        if not is_int(m) and not (is_real(m) and float(m).is_integer()):
            raise SpecError(w.owner(s), "milestones", f"must be whole numbers, got {brief(m)}")
        counts[int(m)] += n
    if w.start == "first":  # get_lr at step 0: a milestone 0 applies, negative ones never
        first = counts.get(0, 0)
    else:  # the closed form: gamma ** bisect_right(milestones, 0)
        first = sum(n for m, n in counts.items() if m <= 0)
    later = sorted((m, n) for m, n in counts.items() if m >= 1)
    if first == 0 and not later:
        return Constant(), _base(s, g, w)
    if first == 0 and all(n == 1 for _, n in later) and 0.0 < gamma <= 1.0:
        bounds = tuple(m for m, _ in later)
        return (
            _build(s, "gamma", w, lambda: MultiStepDecay(boundaries=bounds, gamma=gamma)),
            _base(s, g, w),
        )
    values = [gamma**first]  # torch's running product, one power per milestone step
    for _, n in later:
        values.append(values[-1] * gamma**n)
    spec = _build(
        s,
        "gamma",
        w,
        lambda: PiecewiseConstant(boundaries=tuple(m for m, _ in later), values=tuple(values)),
    )
    return spec, _base(s, g, w)


def _constant_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    f = _real(s, "factor", w)
    k = _int(s, "total_iters", w, lo=0)
    if k == 0:
        # alone (or first) torch multiplies by f at step 0 and never undoes it (it undoes it
        # at step total_iters = 0, which comes before); at a milestone its closed form is 1
        return (Constant() if w.start == "milestone" else _constant(s, w, f)), _base(s, g, w)
    if f == 0.0:
        raise SpecError(
            w.owner(s),
            "factor",
            f"is 0: torch divides by it at step total_iters={k} (ZeroDivisionError)",
        )
    spec = _build(s, "factor", w, lambda: PiecewiseConstant(boundaries=(k,), values=(f, 1.0)))
    return spec, _base(s, g, w)


def _constant(s: Any, w: _Where, value: float) -> Schedule:
    return _build(s, "factor", w, lambda: PiecewiseConstant(values=(value,)))


def _linear_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    a = _real(s, "start_factor", w)
    e = _real(s, "end_factor", w)
    t = _int(s, "total_iters", w, lo=0)
    if t == 0:
        if w.start == "milestone":
            raise SpecError(
                w.owner(s),
                "total_iters",
                "is 0: at a SequentialLR milestone torch's closed form divides by it "
                "(ZeroDivisionError)",
            )
        return _constant(s, w, a), _base(s, g, w)  # torch holds start_factor forever
    spec = _build(
        s,
        "start_factor",
        w,
        lambda: Ramp(steps=t, start_scale=a, end_scale=e),
        {"steps": "total_iters", "start_scale": "start_factor", "end_scale": "end_factor"},
    )
    return spec, _base(s, g, w)


def _polynomial_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    t = _int(s, "total_iters", w, lo=0)
    p = _real(s, "power", w)
    if p < 0.0:
        raise SpecError(
            w.owner(s), "power", f"must be >= 0, got {p!r} (torch divides by zero at the end)"
        )
    if t == 0 and w.start == "milestone":
        raise SpecError(
            w.owner(s),
            "total_iters",
            "is 0: at a SequentialLR milestone torch's closed form divides by it "
            "(ZeroDivisionError)",
        )
    if t == 0 or p == 0.0:  # torch never changes the LR
        return Constant(), _base(s, g, w)
    spec = _build(
        s,
        "power",
        w,
        lambda: PolynomialDecay(decay_steps=t, power=p),
        {"decay_steps": "total_iters", "power": "power"},
    )
    return spec, _base(s, g, w)


def _cosine_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    t = _int(s, "T_max", w, lo=1)
    eta = _real(s, "eta_min", w)
    if w.chained and eta != 0.0:
        raise SpecError(
            w.owner(s),
            "eta_min",
            f"is {eta!r}: chained, torch's cosine step moves the LR towards eta_min, not by a "
            "factor, so the chained LR is not a product of the schedulers (eta_min=0 is)",
        )
    base = _base(s, g, w)
    alpha = _ratio(s, "eta_min", eta, base, g, w)
    spec = _build(
        s,
        "eta_min",
        w,
        lambda: CosineDecay(decay_steps=t, min_lr_scale=alpha),
        {"decay_steps": "T_max", "min_lr_scale": "eta_min"},
    )
    return spec, base


def _warm_restarts(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    t0 = _int(s, "T_0", w, lo=1)
    mult = _int(s, "T_mult", w, lo=1)
    eta = _real(s, "eta_min", w)
    base = _base(s, g, w)
    alpha = _ratio(s, "eta_min", eta, base, g, w)
    spec = _build(
        s,
        "eta_min",
        w,
        lambda: CosineRestarts(
            cycle_steps=t0, cycle_mult=mult, min_lr_scale=alpha, cycle_ends_on_floor=False
        ),
        {"cycle_steps": "T_0", "cycle_mult": "T_mult", "min_lr_scale": "eta_min"},
    )
    return spec, base


#: OneCycleLR's phases, as (start_lr, end_lr) keys of the group, two- and three-phase.
_ONE_CYCLE_PHASES = (
    (("initial_lr", "max_lr"), ("max_lr", "min_lr")),
    (("initial_lr", "max_lr"), ("max_lr", "initial_lr"), ("initial_lr", "min_lr")),
)


def _one_cycle_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    total = _int(s, "total_steps", w, lo=1)
    phases = _attr(s, "_schedule_phases", w)
    keys = tuple((p.get("start_lr"), p.get("end_lr")) for p in phases)
    if keys not in _ONE_CYCLE_PHASES:
        raise SpecError(w.owner(s), "_schedule_phases", f"are not torch's: {brief(keys)}")
    three = len(keys) == 3
    ends = [float(p["end_step"]) for p in phases]
    anneal = getattr(s, "_anneal_func_type", None)
    if anneal not in ("cos", "linear"):
        raise SpecError(w.owner(s), "anneal_strategy", f"must be 'cos' or 'linear': {anneal!r}")
    grp = s.optimizer.param_groups[g]
    peak = _real(s, "max_lr", w, grp.get("max_lr"))
    initial = _real(s, "initial_lr", w, grp.get("initial_lr"))
    final = _real(s, "min_lr", w, grp.get("min_lr"))
    if peak <= 0.0 or initial <= 0.0 or final <= 0.0:
        raise SpecError(
            w.owner(s),
            "max_lr",
            f"param group {g} has max_lr={peak!r}, initial_lr={initial!r}, min_lr={final!r}: "
            "optfn's OneCycle needs them > 0",
        )
    pct = _pct_start(s, w, total, ends, three)
    spec = _build(
        s,
        "div_factor",
        w,
        lambda: OneCycle(
            total_steps=total,
            pct_start=pct,
            anneal_strategy=anneal,
            three_phase=three,
            div_factor=peak / initial,
            final_div_factor=initial / final,
        ),
        {f: f for f in attrs.fields_dict(OneCycle)},
    )
    return spec, peak


def _pct_start(s: Any, w: _Where, total: int, ends: list[float], three: bool) -> float:
    """The ``pct_start`` whose phase ends are torch's, to the bit (torch keeps only the ends)."""

    def ends_of(p: float) -> list[float]:
        out = [float(p * total) - 1]
        if three:
            out.append(float(2 * p * total) - 2)
        return [*out, float(total - 1)]

    guess = (ends[0] + 1.0) / total
    below = above = guess
    for _ in range(8):  # the guess, then its neighbours a few ulps either way
        for p in (above, below):
            if ends_of(p) == ends:
                return p
        below, above = math.nextafter(below, -math.inf), math.nextafter(above, math.inf)
    raise SpecError(w.owner(s), "pct_start", f"no pct_start gives torch's phase ends {brief(ends)}")


def _cyclic_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    if getattr(s, "_scale_fn_custom", None) is not None:
        raise SpecError(
            w.owner(s),
            "scale_fn",
            "is a custom function: an arbitrary Python function has no spec (optfn's Cyclic "
            "has the modes 'triangular', 'triangular2' and 'exp_range')",
        )
    mode = _attr(s, "mode", w)
    if mode not in ("triangular", "triangular2", "exp_range"):
        raise SpecError(w.owner(s), "mode", f"must be a built-in mode, got {brief(mode)}")
    total = _real(s, "total_size", w)
    ratio = _real(s, "step_ratio", w)
    up = round(total * ratio)
    down = round(total - up)
    if not (up >= 1 and down >= 1 and float(up) + float(down) == total and up / total == ratio):
        raise SpecError(
            w.owner(s),
            "step_size_up",
            f"a cycle of {total!r} steps rising for a fraction {ratio!r} of it: optfn's Cyclic "
            "needs whole step sizes >= 1",
        )
    gamma = _real(s, "gamma", w) if mode == "exp_range" else 1.0
    low = _base(s, g, w)
    peak = _base(s, g, w, "max_lrs")
    if peak == 0.0:
        raise SpecError(w.owner(s), "max_lr", f"is 0 for param group {g}: no multiplier of 0")
    scale = low / peak
    spec = _build(
        s,
        "base_lr",
        w,
        lambda: Cyclic(
            step_size_up=up,
            step_size_down=None if down == up else down,
            mode=mode,
            gamma=gamma,
            min_lr_scale=scale,
        ),
        {f: f for f in ("step_size_up", "step_size_down", "mode", "gamma")}
        | {"min_lr_scale": "base_lr"},
    )
    return spec, peak


def _schedule_lr(s: Any, g: int, w: _Where) -> tuple[Schedule, float]:
    spec: Schedule = s.schedule
    if isinstance(s, HyperScheduleLR):
        targets = getattr(s, "_targets", {}).get("lr")
        if targets is not None and g not in targets:
            spec = Constant()  # its route leaves this group's LR alone
    return spec, _base(s, g, w)


_Leaf = Callable[[Any, int, _Where], "tuple[Schedule, float]"]

#: The schedulers read, the torch field that can make their multiplier differ per param
#: group, and whether a ChainedScheduler may hold them (a factor of the current LR).
_LEAVES: dict[type, tuple[_Leaf, str, bool]] = {
    tl.StepLR: (_step_lr, "step_size", True),
    tl.MultiStepLR: (_multistep_lr, "milestones", True),
    tl.ExponentialLR: (_exponential_lr, "gamma", True),
    tl.ConstantLR: (_constant_lr, "factor", True),
    tl.LinearLR: (_linear_lr, "start_factor", True),
    tl.PolynomialLR: (_polynomial_lr, "power", True),
    tl.CosineAnnealingLR: (_cosine_lr, "eta_min", True),
    tl.CosineAnnealingWarmRestarts: (_warm_restarts, "eta_min", False),
    tl.OneCycleLR: (_one_cycle_lr, "max_lr", False),
    tl.CyclicLR: (_cyclic_lr, "base_lr", False),
    ScheduleLR: (_schedule_lr, "schedule", False),
    HyperScheduleLR: (_schedule_lr, "hyper", False),
}


def _convert(s: object, groups: list[int], where: _Where) -> _Converted:
    kind = type(s)
    if isinstance(s, tl.ReduceLROnPlateau):
        raise SpecError(
            where.owner(s),
            "metrics",
            "sets the LR from the metrics passed to step(), not from the step: it has no "
            "schedule (choose the decay up front, e.g. MultiStepDecay, or keep the scheduler)",
        )
    if kind is tl.SequentialLR:
        return _sequential(s, groups, where)
    if kind is tl.ChainedScheduler:
        return _chained(s, groups, where)
    if kind in _LEAVES:
        return _leaf(s, groups, where)
    if isinstance(s, tl.LambdaLR | tl.MultiplicativeLR):
        raise SpecError(where.owner(s), "lr_lambdas", _REFUSED_FUNCTIONS)
    if not isinstance(s, tl.LRScheduler):
        raise SpecTypeError(
            where.owner(s), "scheduler", "must be a torch.optim.lr_scheduler.LRScheduler"
        )
    known = next((k.__name__ for k in _LEAVES if isinstance(s, k)), None)
    why = (
        f"is a subclass of {known}, which may compute other LRs"
        if known
        else "is not a scheduler schedule_from_torch reads"
    )
    raise SpecError(
        where.owner(s),
        "get_lr",
        f"{why}; it reads {', '.join(sorted(k.__name__ for k in _LEAVES))}, SequentialLR and "
        "ChainedScheduler (write the schedule as optfn specs instead)",
    )


def _leaf(s: Any, groups: list[int], where: _Where) -> _Converted:
    convert, varying, chainable = _LEAVES[type(s)]
    if where.chained and not chainable:
        raise SpecError(
            where.owner(s),
            "get_lr",
            "sets the LR from its base LR, not as a factor of the current LR: chained, "
            "torch's LR is then not a product of the schedulers",
        )
    specs: list[Schedule] = []
    refs: list[float] = []
    for g in groups:
        spec, ref = convert(s, g, where)
        if specs and not _same_spec(spec, specs[0]):
            raise SpecError(
                where.owner(s),
                varying,
                f"gives param group {g} another multiplier ({brief(spec)}) than group "
                f"{groups[0]} ({brief(specs[0])}): their LRs keep no common ratio; pass "
                f"group={g} to convert one group",
            )
        specs.append(spec)
        refs.append(ref)
    return specs[0], refs


#: Two groups' multipliers are one when their numbers agree to this (relative): ratios of
#: absolute LRs round differently (0.01 / 0.1 is 0.09999999999999999, 0.1 / 1.0 is 0.1).
_SAME_REL = 1e-12


def _same_spec(a: object, b: object) -> bool:
    """``a == b``, floats compared to :data:`_SAME_REL` relative (specs, tuples, numbers)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return math.isclose(a, b, rel_tol=_SAME_REL, abs_tol=0.0)
    if isinstance(a, tuple):
        assert isinstance(b, tuple)
        return len(a) == len(b) and all(_same_spec(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Schedule):  # a frozen attrs spec: field by field
        return all(
            _same_spec(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a))
        )
    return a == b


def _children(s: object, where: _Where) -> list[Any]:
    children = list(_attr(s, "_schedulers", where))
    if len({id(c) for c in children}) != len(children):
        raise SpecError(
            where.owner(s),
            "schedulers",
            "hold one scheduler twice: its second run continues its state, which has no spec",
        )
    return children


def _same_refs(s: object, where: _Where, i: int, refs: list[float], first: list[float]) -> None:
    if refs != first:
        raise SpecError(
            where.owner(s),
            f"schedulers[{i}]",
            f"scales base LRs {brief(refs)}, the schedulers before it {brief(first)}: one "
            "multiplier cannot scale both",
        )


def _sequential(s: Any, groups: list[int], where: _Where) -> _Converted:
    children = _children(s, where)
    raw = list(_attr(s, "_milestones", where))
    if not all(is_int(m) for m in raw) or raw != sorted(raw):
        raise SpecError(
            where.owner(s), "milestones", f"must be non-decreasing ints, got {brief(raw)}"
        )
    pieces: list[Schedule] = []
    bounds: list[int] = []
    refs: list[float] = []
    for i, child in enumerate(children):
        start = max(0, int(raw[i - 1])) if i else 0
        if i < len(raw) and int(raw[i]) <= start:
            continue  # torch never runs it: the next milestone comes first
        path = f"{where.owner(s)}.schedulers[{i}]"
        if type(child) in (tl.SequentialLR, tl.ChainedScheduler) or isinstance(
            child, tl.OneCycleLR | tl.CyclicLR
        ):
            why = (
                "torch cannot restart it at a milestone (it has no get_lr)"
                if type(child) in (tl.SequentialLR, tl.ChainedScheduler)
                else "it rewrites the groups' initial_lr and is a multiple of max_lr, not of "
                "the base LR the other pieces scale"
            )
            raise SpecError(path, type(child).__name__, f"is refused inside a SequentialLR: {why}")
        inner = _Where(path=path, start="first" if start == 0 else "milestone")
        spec, child_refs = _convert(child, groups, inner)
        if refs:
            _same_refs(s, where, i, child_refs, refs)
        refs = child_refs
        pieces.append(spec)
        if start:
            bounds.append(start)
    if len(pieces) == 1:
        return pieces[0], refs
    return _build(s, "milestones", where, lambda: Join(pieces=pieces, boundaries=bounds)), refs


def _chained(s: Any, groups: list[int], where: _Where) -> _Converted:
    factors: list[Schedule] = []
    refs: list[float] = []
    for i, child in enumerate(_children(s, where)):
        inner = _Where(path=f"{where.owner(s)}.schedulers[{i}]", chained=True)
        if type(child) is tl.SequentialLR:
            raise SpecError(
                inner.path,
                "SequentialLR",
                "is refused inside a ChainedScheduler: at its milestones it sets the LR from "
                "its base LR, so torch's chained LR is not a product",
            )
        spec, child_refs = _convert(child, groups, inner)
        if refs:
            _same_refs(s, where, i, child_refs, refs)
        refs = child_refs
        factors.extend(spec.factors if isinstance(spec, Product) else (spec,))
    if len(factors) == 1:
        return factors[0], refs
    return _build(s, "schedulers", where, lambda: Product(factors=factors)), refs


# ------------------------------------------------------------------- the scheduler's state


def _step_of(s: Any) -> int:
    """The step the scheduler is at (its ``last_epoch``; a chain's, all its schedulers')."""
    if type(s) is tl.ChainedScheduler:
        steps = {_step_of(c) for c in s._schedulers}
        if len(steps) != 1:
            raise SpecError(
                "ChainedScheduler",
                "schedulers",
                f"are at different steps {sorted(steps)}: they were stepped apart",
            )
        return steps.pop()
    step: Any = getattr(s, "last_epoch", None)
    if not is_int(step) or step < 0:
        raise SpecError(type(s).__name__, "last_epoch", f"must be a step >= 0, got {brief(step)}")
    return int(step)


def _check_current(s: Any, spec: Schedule, groups: list[int], refs: list[float]) -> None:
    """The groups' LRs now are the converted curve at the scheduler's step: else refuse."""
    step = _step_of(s)
    m = lr_lambda(spec)(step)
    params = s.optimizer.param_groups
    for g, ref in zip(groups, refs, strict=True):
        lr = params[g]["lr"]
        low = isinstance(lr, torch.Tensor) and lr.dtype != torch.float64
        now = float(lr.item() if isinstance(lr, torch.Tensor) else lr)
        expected = ref * m
        rel, absolute = (_LOW_PRECISION_TOL, 0.0) if low else (_REL_TOL, _ABS_TOL)
        if not abs(now - expected) <= rel * abs(expected) + absolute * abs(ref):
            raise SpecError(
                type(s).__name__,
                "last_epoch",
                f"at step {step} param group {g}'s LR is {now!r}, but the converted schedule "
                f"gives {expected!r} ({ref!r} x {m!r}): the LR was changed outside this "
                "scheduler (by hand, by another scheduler, by step(epoch)), or the scheduler "
                "is past its own end, where optfn holds the last value and torch does not",
            )
