"""Schedules for several hyper-parameters at once: :class:`HyperSchedules`, and its curves.

Every scheduled value is the group's base value times a multiplier, as for the LR:
``value_g(s) = base_g · λ_key(s)``, so per-group ratios survive (a group without weight decay
stays at 0). The keys are the param-group entries torch optimizers hold: ``lr``,
``weight_decay``, ``momentum`` (SGD, RMSprop, Muon) and ``beta1``/``beta2`` (the two entries
of ``betas``: the Adam family and the AdamW part of :class:`~optfn.MuonWithAdamW`).

>>> from optfn.schedules import Constant, HyperSchedules, Ramp, hyper_curves
>>> hs = HyperSchedules(lr=Constant(), momentum=Ramp(steps=2, start_scale=0.5))
>>> {k: c.tolist() for k, c in hyper_curves(hs, 3).items()}
{'lr': [1.0, 1.0, 1.0], 'momentum': [0.5, 0.75, 1.0]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.schedules.base import Schedule
from optfn.schedules.evaluate import _check_schedule, lr_curve, lr_lambda
from optfn.schedules.shapes import Constant
from optfn.schedules.xp import FloatArray
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly
from optfn.specs.labels import LABEL_PATTERN
from optfn.specs.render import brief

__all__ = ["HYPER_KEYS", "HyperSchedules", "hyper_curves", "hyper_lambdas", "lr_schedule_of"]

#: The hyper-parameters a :class:`HyperSchedules` can schedule, in this order everywhere.
HYPER_KEYS: tuple[str, ...] = ("lr", "weight_decay", "momentum", "beta1", "beta2")

#: Keys whose values must stay in [0, 1) (the multiplier of a momentum must stay <= 1).
BOUNDED_KEYS: frozenset[str] = frozenset({"momentum", "beta1", "beta2"})


def _route_pairs(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    for key, route in v.check_pairs("HyperSchedules", "routes", val, "{key: route}"):
        if not isinstance(key, str) or key not in HYPER_KEYS:
            raise SpecError(
                "HyperSchedules",
                "routes",
                f"keys are hyper-parameters ({', '.join(HYPER_KEYS)}), got {brief(key)}",
            )
        if not isinstance(route, str) or not route:
            raise SpecTypeError(
                "HyperSchedules",
                f"routes[{key!r}]",
                f"must be a route name such as 'muon' or 'adamw', got {brief(route)}",
            )
        v.check_text("HyperSchedules", f"routes[{key!r}]", route)


_OPTIONAL_SCHEDULE = attrs.validators.optional(v.instance(Schedule))



def _label_pairs(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    pairs = v.check_pairs("HyperSchedules", "labels", val, "{label: HyperSchedules}")
    for label, inner in pairs:
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label) or len(label) > 100:
            raise SpecError(
                "HyperSchedules",
                "labels",
                f"keys are labels of LabelRules (or 'default'), got {brief(label)}",
            )
        where = f"labels[{label!r}]"
        if not isinstance(inner, HyperSchedules):
            raise SpecTypeError(
                "HyperSchedules", where, f"must be a HyperSchedules, got {brief(inner)}"
            )
        if inner.routes or inner.labels:
            raise SpecError(
                "HyperSchedules",
                where,
                "a label's schedules cannot have routes or labels of their own",
            )


@attrs.frozen(kw_only=True)
class HyperSchedules(KeywordOnly):
    """A schedule for each of several hyper-parameters of one optimizer.

    ``lr``, ``weight_decay``, ``momentum``, ``beta1``, ``beta2``: a
    :class:`~optfn.schedules.Schedule` each, or ``None`` (left as the optimizer has it); at
    least one is given. Each group's value at step ``s`` is its base value (its value when the
    scheduler is built) times the schedule's multiplier. ``routes`` ({key: route}) restricts a
    key to the groups of one route (``"muon"`` or ``"adamw"`` of a Muon setup); otherwise a
    key applies to every group that holds it (``momentum`` is in Muon's groups and SGD's,
    ``beta1`` in the Adam family's and Muon's AdamW groups). ``labels``
    ({label: HyperSchedules}) gives the groups of one label (see :class:`~optfn.LabelRule`)
    schedules of their own: a key the label schedules replaces the general schedule of that
    key in that label's groups (whatever ``routes`` says); the label's other keys follow the
    general ones. A label that names no group of the optimizer is an error when the
    scheduler is built. DINOv2 freezes its last layer for the first epoch:
    ``labels={"last_layer": HyperSchedules(lr=Product(factors=(<the LR schedule>,
    PiecewiseConstant(boundaries=(1250,), values=(0.0, 1.0)))))}``.

    optfn's shapes keep every multiplier in [0, 1], so a scheduled momentum or beta stays in
    [0, base]; a schedule of your own whose multiplier leaves that range for one of these keys
    is refused by the scheduler at the step it does.

    Build the scheduler with :func:`optfn.make_scheduler`; :func:`hyper_curves` gives every
    curve at once.

    >>> from optfn.schedules import HyperSchedules, Ramp, WarmupStableDecay
    >>> hs = HyperSchedules(
    ...     lr=WarmupStableDecay(warmup_steps=10, total_steps=100, decay_steps=20),
    ...     momentum=Ramp(steps=30, start_scale=0.85 / 0.95),
    ...     routes={"momentum": "muon"},
    ... )
    >>> sorted(hs.scheduled())
    ['lr', 'momentum']
    """

    lr: Schedule | None = attrs.field(default=None, validator=_OPTIONAL_SCHEDULE)
    weight_decay: Schedule | None = attrs.field(default=None, validator=_OPTIONAL_SCHEDULE)
    momentum: Schedule | None = attrs.field(default=None, validator=_OPTIONAL_SCHEDULE)
    beta1: Schedule | None = attrs.field(default=None, validator=_OPTIONAL_SCHEDULE)
    beta2: Schedule | None = attrs.field(default=None, validator=_OPTIONAL_SCHEDULE)
    routes: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=v.to_pairs, validator=_route_pairs
    )
    labels: tuple[tuple[str, HyperSchedules], ...] = attrs.field(
        default=(), converter=v.to_pairs, validator=_label_pairs
    )

    def __attrs_post_init__(self) -> None:
        scheduled = self.scheduled()
        if not scheduled and not self.labels:
            raise SpecError(
                "HyperSchedules",
                "lr",
                f"no schedule given; give at least one of {', '.join(HYPER_KEYS)}",
            )
        for key, _ in self.routes:
            if key not in scheduled:
                raise SpecError(
                    "HyperSchedules",
                    f"routes[{key!r}]",
                    f"{key!r} has no schedule here (scheduled: {', '.join(scheduled)})",
                )

    def scheduled(self) -> dict[str, Schedule]:
        """``{key: schedule}`` for the keys that have one, in :data:`HYPER_KEYS` order."""
        out = {}
        for key in HYPER_KEYS:
            sched = getattr(self, key)
            if sched is not None:
                out[key] = sched
        return out

    def route_of(self, key: str) -> str | None:
        """The route ``key`` is restricted to, or ``None`` (every group that holds it)."""
        return dict(self.routes).get(key)

    def for_label(self, label: str) -> dict[str, Schedule]:
        """``{key: schedule}`` that the groups of ``label`` follow: the label's own schedules,
        and for the other keys the general ones (:meth:`scheduled`, routes aside).

        >>> from optfn.schedules import Constant, HyperSchedules, LinearDecay
        >>> hs = HyperSchedules(lr=Constant(), labels={"head": HyperSchedules(
        ...     lr=LinearDecay(decay_steps=5))})
        >>> hs.for_label("head")["lr"], hs.for_label("body")["lr"]
        (LinearDecay(decay_steps=5, min_lr_scale=0.0), Constant())
        """
        out = self.scheduled()
        own = dict(self.labels).get(label)
        if own is not None:
            out.update(own.scheduled())
        return {k: out[k] for k in HYPER_KEYS if k in out}


def _check(owner: str, hyper: object) -> HyperSchedules:
    if not isinstance(hyper, HyperSchedules):
        raise SpecTypeError(owner, "hyper", f"must be a HyperSchedules, got {brief(hyper)}")
    return hyper


def hyper_lambdas(hyper: HyperSchedules) -> dict[str, Callable[[int], float]]:
    """``{key: step -> multiplier}`` for every scheduled key (each an :func:`lr_lambda`).

    >>> from optfn.schedules import HyperSchedules, LinearDecay, hyper_lambdas
    >>> hyper_lambdas(HyperSchedules(weight_decay=LinearDecay(decay_steps=4)))["weight_decay"](2)
    0.5
    """
    return {k: lr_lambda(s) for k, s in _check("hyper_lambdas", hyper).scheduled().items()}


def hyper_curves(hyper: HyperSchedules, num_steps: int, *, start: int = 0) -> dict[str, FloatArray]:
    """``{key: multipliers of steps start .. start + num_steps - 1}`` for every scheduled key:
    float64 arrays, each equal to :func:`hyper_lambdas`' function at every step (it is
    :func:`lr_curve` of that key's schedule).

    >>> from optfn.schedules import HyperSchedules, LinearDecay, Ramp, hyper_curves
    >>> c = hyper_curves(HyperSchedules(lr=LinearDecay(decay_steps=2), beta1=Ramp(steps=2,
    ...     start_scale=0.5)), 3)
    >>> c["lr"].tolist(), c["beta1"].tolist()
    ([1.0, 0.5, 0.0], [0.5, 0.75, 1.0])
    """
    scheduled = _check("hyper_curves", hyper).scheduled()
    return {k: lr_curve(s, num_steps, start=start) for k, s in scheduled.items()}


def lr_schedule_of(schedule: Schedule | HyperSchedules) -> Schedule:
    """The LR part: ``schedule`` itself, or a HyperSchedules' ``lr`` (``Constant()`` if none).

    >>> from optfn.schedules import Constant, HyperSchedules, Ramp, lr_schedule_of
    >>> lr_schedule_of(HyperSchedules(momentum=Ramp(steps=3, start_scale=0.5)))
    Constant()
    """
    if isinstance(schedule, HyperSchedules):
        return schedule.lr if schedule.lr is not None else Constant()
    return _check_schedule("lr_schedule_of", schedule)
