"""``HyperScheduleLR``: a :class:`~optfn.ScheduleLR` that schedules every hyper-parameter of a
:class:`~optfn.schedules.HyperSchedules` (``lr``, ``weight_decay``, ``momentum``, ``beta1``,
``beta2``), per route and per label.

>>> import torch
>>> from optfn.schedules import HyperSchedules, LinearDecay
>>> from optfn.build.hyper_schedule_lr import HyperScheduleLR
>>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0, weight_decay=0.1)
>>> sched = HyperScheduleLR(opt, HyperSchedules(weight_decay=LinearDecay(decay_steps=2)))
>>> opt.step(); sched.step(); opt.param_groups[0]["lr"], opt.param_groups[0]["weight_decay"]
(1.0, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from optfn.build.schedule_lr import STATE_KEYS, MultiplierBlocks, ScheduleLR, schedule_record
from optfn.build.scheduler_guards import check_resume, not_resumable
from optfn.errors import SpecError, SpecTypeError, StateError
from optfn.schedules import Constant, HyperSchedules, Schedule
from optfn.schedules.hyper import BOUNDED_KEYS
from optfn.specs.checks import in_range, is_real
from optfn.specs.render import brief, show

__all__ = ["HyperScheduleLR"]


class HyperScheduleLR(ScheduleLR):
    """A :class:`ScheduleLR` for a :class:`~optfn.schedules.HyperSchedules`: every scheduled
    key of every targeted group is ``base · λ_key(s)`` at each step.

    The LR is scheduled as :class:`ScheduleLR` does (multiplier 1 where ``lr`` has no schedule
    or its route excludes the group). For ``weight_decay``, ``momentum``, ``beta1`` and
    ``beta2`` the base is the group's value when the scheduler is built, kept in the group as
    ``initial_<key>`` (as torch keeps ``initial_lr``) and in the state as ``base_hyper``. A key
    that no targeted group holds is refused at construction, naming the key and the optimizer.
    A momentum or beta that would leave [0, 1) (only a schedule of your own can do that) is
    refused at the step it would, before anything is set. ``last_epoch``, ``step(epoch)`` and
    the param groups are checked as :class:`ScheduleLR` checks them; resuming (``last_epoch``
    above -1) also needs each targeted group's ``initial_<key>``, refused in the same words as
    a missing ``initial_lr``.

    ``state_dict()`` records the whole :class:`~optfn.schedules.HyperSchedules`;
    ``load_state_dict`` refuses a state saved under different schedules and sets every key for
    the loaded step, so a resumed run gets the values of an uninterrupted one.

    >>> import torch
    >>> from optfn.schedules import HyperSchedules, LinearDecay, Ramp
    >>> from optfn.build import make_scheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    >>> sched = make_scheduler(opt, HyperSchedules(
    ...     lr=LinearDecay(decay_steps=4), momentum=Ramp(steps=2, start_scale=0.5)))
    >>> opt.param_groups[0]["momentum"]
    0.45
    >>> opt.step(); sched.step(); opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    (0.75, 0.675)
    """

    hyper: HyperSchedules
    _state_keys = STATE_KEYS | {"base_hyper"}

    def __init__(
        self, optimizer: torch.optim.Optimizer, hyper: HyperSchedules, last_epoch: int = -1
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise SpecTypeError(
                "HyperScheduleLR",
                "optimizer",
                f"must be a torch.optim.Optimizer, got {show(optimizer)}",
            )
        if not isinstance(hyper, HyperSchedules):
            raise SpecTypeError(
                "HyperScheduleLR",
                "hyper",
                f"must be a HyperSchedules, got {brief(hyper)} ({type(hyper).__name__})",
            )
        last_epoch = check_resume(type(self).__name__, optimizer, last_epoch)
        self.hyper = hyper
        chosen = _targets(optimizer, hyper)
        self._targets = {key: sorted(by_group) for key, by_group in chosen.items()}
        groups = optimizer.param_groups
        self.base_hyper: dict[str, list[float | None]] = {}
        for key, indices in self._targets.items():  # every base checked before any is kept
            if key == "lr":
                continue
            bases: list[float | None] = [None] * len(groups)
            for i in indices:
                bases[i] = _base(groups[i], i, key, last_epoch)
                _check_shape_base(chosen[key][i], key, i, bases[i], type(optimizer).__name__)
            self.base_hyper[key] = bases
        # per key, the groups that follow each schedule (one lookup per schedule and step)
        self._plans: dict[str, list[tuple[MultiplierBlocks, list[int]]]] = {}
        for key, by_group in chosen.items():
            same: dict[Schedule, list[int]] = {}
            for i, sched in by_group.items():
                same.setdefault(sched, []).append(i)
            self._plans[key] = [
                (MultiplierBlocks(sched), sorted(idx)) for sched, idx in same.items()
            ]
        self._hyper_values(last_epoch + 1, self.base_hyper)  # the first step's, or refuse now
        if last_epoch == -1:  # kept in the groups, as torch keeps initial_lr
            for key, bases in self.base_hyper.items():
                for group, b in zip(groups, bases, strict=True):
                    if b is not None:
                        group.setdefault(_INITIAL[key], b)
                        _unshare(groups, group, key)
        super().__init__(optimizer, hyper.lr or Constant(), last_epoch)

    def _record(self) -> dict[str, Any]:
        return schedule_record(self.hyper)

    def get_lr(self) -> list[float | torch.Tensor]:
        """``[base_lr · λ_lr(last_epoch)]`` for the groups ``lr`` targets (each by its own
        schedule: its label's, or the general one), ``base_lr`` else."""
        plan = self._plans.get("lr")
        if plan is None:
            return list(self.base_lrs)
        if len(plan) == 1 and len(plan[0][1]) == len(self.base_lrs):
            m = plan[0][0].at(self.last_epoch)
            return [base_lr * m for base_lr in self.base_lrs]
        out: list[float | torch.Tensor] = list(self.base_lrs)
        for blocks, indices in plan:
            m = blocks.at(self.last_epoch)
            for i in indices:
                out[i] = self.base_lrs[i] * m
        return out

    def step(self, epoch: int | None = None) -> None:
        """Step the LR (as ``LambdaLR``) and set every other scheduled key for the new step.
        Checked first, as :meth:`ScheduleLR.step` checks, and so are the new step's values: a
        refused step changes nothing."""
        epoch = self._check_step(epoch)
        values = self._hyper_values(self.last_epoch + 1 if epoch is None else epoch)
        super().step(epoch)
        self._set_hyper(values)

    def _hyper_values(
        self, step: int, bases: Mapping[str, list[float | None]] | None = None
    ) -> list[tuple[int, str, float]]:
        """``(group, key, value)`` of every scheduled key at ``step``; an error if a momentum
        or a beta would leave [0, 1). Changes nothing."""
        bases = self.base_hyper if bases is None else bases
        values: list[tuple[int, str, float]] = []
        for key, plan in self._plans.items():
            if key == "lr":
                continue
            for blocks, indices in plan:
                m = blocks.at(step)
                values.extend(self._values_of(key, indices, bases[key], m, step))
        return values

    @staticmethod
    def _values_of(
        key: str, indices: list[int], bases: list[float | None], m: float, step: int
    ) -> list[tuple[int, str, float]]:
        values: list[tuple[int, str, float]] = []
        for i in indices:
            base = bases[i]
            assert base is not None
            value = base * m
            if key in BOUNDED_KEYS and not 0.0 <= value < 1.0:
                raise SpecError(
                    "HyperSchedules",
                    key,
                    f"at step {step} param group {i} would get {key} = {value!r} "
                    f"({base!r} x multiplier {m!r}), outside [0, 1); a {key} schedule's "
                    "multiplier must stay in [0, 1] (optfn's shapes do)",
                )
            values.append((i, key, value))
        return values

    def _set_hyper(self, values: list[tuple[int, str, float]]) -> None:
        groups = self.optimizer.param_groups
        for i, key, value in values:
            _set(groups[i], key, value)

    def state_dict(self) -> dict[str, Any]:
        """:class:`ScheduleLR`'s state (with the whole HyperSchedules as ``"schedule"``) plus
        ``"base_hyper"``: each key's base value per group."""
        state = super().state_dict()
        state.pop("hyper", None)
        state["base_hyper"] = {k: list(v) for k, v in self.base_hyper.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by a ``HyperScheduleLR`` running the same schedules (else a
        :class:`~optfn.errors.StateError`) and set every scheduled key for the loaded step."""
        self.check_state_dict(state_dict)
        bases = {k: list(v) for k, v in state_dict["base_hyper"].items()}
        values = self._hyper_values(state_dict["last_epoch"], bases)  # checked: cannot fail
        self._load({k: x for k, x in state_dict.items() if k != "base_hyper"})
        self.base_hyper = bases
        self._set_hyper(values)

    def check_state_dict(self, state_dict: dict[str, Any]) -> None:
        """:meth:`ScheduleLR.check_state_dict`, and ``base_hyper`` holds a base value for
        exactly the groups each key targets here. Changes nothing."""
        super().check_state_dict(state_dict)
        where = "HyperScheduleLR.state_dict['base_hyper']"
        saved = state_dict.get("base_hyper")
        if not isinstance(saved, Mapping) or set(saved) != set(self.base_hyper):
            raise StateError(
                f"{where}: must map {sorted(self.base_hyper)} to per-group base values, "
                f"got {show(saved)}"
            )
        for key, mine in self.base_hyper.items():
            theirs = saved[key]
            if not isinstance(theirs, list | tuple) or len(theirs) != len(mine):
                raise StateError(
                    f"{where}[{key!r}]: must be a list of {len(mine)} entries, got {show(theirs)}"
                )
            bounded = key in BOUNDED_KEYS  # a momentum or beta is in [0, 1), as torch checks
            hi = 1.0 if bounded else None
            for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                if (a is None) != (b is None) or (
                    b is not None and not (is_real(b) and in_range(b, 0.0, hi, hi_open=True))
                ):
                    want = (
                        "nothing (the group is not scheduled)"
                        if a is None
                        else ("a number in [0, 1)" if bounded else "a number >= 0")
                    )
                    raise StateError(f"{where}[{key!r}][{i}]: expected {want}, got {show(b)}")
        step = state_dict.get("last_epoch", 0)
        try:  # the values the loaded step would set must be valid too
            self._hyper_values(step, {k: list(v) for k, v in saved.items()})
        except SpecError as exc:
            raise StateError(f"{where}: {exc.reason} (with the saved base values)") from None


_INITIAL = {k: f"initial_{k}" for k in ("weight_decay", "momentum", "beta1", "beta2")}
#: Where ``beta1`` and ``beta2`` stand in a group's ``betas``.
_BETA_INDEX = {"beta1": 0, "beta2": 1}


def _check_shape_base(schedule: Schedule, key: str, i: int, base: float | None, opt: str) -> None:
    """A momentum or beta schedule must have a value to scale: a base of 0 would silently stay
    0 (torch's SGD and RMSprop default to momentum 0); a momentum cycle (``OneCycleMomentum``,
    ``CyclicMomentum``) scales the group's value, which must be its ``max_momentum``."""
    if key not in BOUNDED_KEYS or base is None:
        return
    where = f"param group {i} of {opt} has {key} {base!r}"
    if base == 0.0:
        raise SpecError(
            "HyperSchedules",
            key,
            f"{where}: a schedule multiplies it and it would stay 0; give the optimizer a "
            f"{key} > 0 (its peak value)",
        )
    peak = getattr(schedule, "max_momentum", None)
    if peak is not None and not math.isclose(base, peak, rel_tol=1e-12):
        raise SpecError(
            "HyperSchedules",
            key,
            f"{where}, but {type(schedule).__name__}.max_momentum is {peak!r}: the "
            f"cycle is relative to the group's value, so set the optimizer's {key} to {peak!r}",
        )


def _unshare(groups: list[dict[str, Any]], group: dict[str, Any], key: str) -> None:
    """A tensor value (``betas`` entries, momentum) that ``group`` shares with another group
    (torch copies the defaults' tuple into every group) becomes its own, so that setting it
    does not set the others'."""
    i = _BETA_INDEX.get(key)
    if i is not None:
        betas = list(group["betas"])
        t = betas[i]
        if isinstance(t, torch.Tensor) and any(
            g is not group and any(x is t for x in g.get("betas", ())) for g in groups
        ):
            betas[i] = t.clone()
            group["betas"] = tuple(betas)
    else:
        t = group.get(key)
        if isinstance(t, torch.Tensor) and any(g is not group and g.get(key) is t for g in groups):
            group[key] = t.clone()


def _read(group: Mapping[str, Any], key: str) -> Any:
    i = _BETA_INDEX.get(key)
    if i is not None:
        betas = group.get("betas")
        return betas[i] if isinstance(betas, list | tuple) and len(betas) == 2 else None
    return group.get(key)


def _holds(group: Mapping[str, Any], key: str) -> bool:
    return key == "lr" or _read(group, key) is not None


def _base(group: Mapping[str, Any], i: int, key: str, last_epoch: int) -> float:
    """Group ``i``'s base value of ``key``: its ``initial_<key>`` if it has one (a resumed
    optimizer's), else, when starting, its value now. Changes nothing."""
    name = _INITIAL[key]
    if name in group:
        value = group[name]
    elif last_epoch == -1:
        value = _read(group, key)
        value = float(value) if isinstance(value, torch.Tensor) and value.ndim == 0 else value
    else:
        raise not_resumable("HyperScheduleLR", i, name, last_epoch)
    if not (is_real(value) and in_range(value, 0.0)):
        raise SpecError("HyperScheduleLR", name, f"must be a number >= 0, got {show(value)}")
    return float(value)


def _set(group: dict[str, Any], key: str, value: float) -> None:
    i = _BETA_INDEX.get(key)
    if i is not None:
        betas = list(group["betas"])
        if isinstance(betas[i], torch.Tensor):
            betas[i].fill_(value)
        else:
            betas[i] = value
        group["betas"] = tuple(betas)
    elif isinstance(group.get(key), torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _targets(
    optimizer: torch.optim.Optimizer, hyper: HyperSchedules
) -> dict[str, dict[int, Schedule]]:
    """``{key: {group index: its schedule}}``: a group of a label that schedules ``key``
    follows that schedule; else the general one, if the group is on the key's route (when
    restricted) and holds the key. A key that sets no group, a label that names no group, and
    a label's key that none of its groups holds are errors naming them and the optimizer."""
    groups = optimizer.param_groups
    name = type(optimizer).__name__
    out: dict[str, dict[int, Schedule]] = {}
    general = hyper.scheduled()
    for key in general:
        route = hyper.route_of(key)
        if route is not None:
            routes = sorted({str(g.get("route")) for g in groups if "route" in g})
            if route not in routes:
                raise SpecError(
                    "HyperSchedules",
                    f"routes[{key!r}]",
                    f"no param group of {name} has route {route!r} "
                    f"(its routes: {', '.join(map(repr, routes)) or 'none'})",
                )
        chosen = {
            i: general[key]
            for i, g in enumerate(groups)
            if (route is None or g.get("route") == route) and _holds(g, key)
        }
        if not chosen:
            _raise_not_held(groups, name, key, f" on route {route!r}" if route else "")
        out[key] = chosen
    labels = [g.get("label") for g in groups]
    for label, own in hyper.labels:
        where = f"labels[{label!r}]"
        mine = [i for i, x in enumerate(labels) if x == label]
        if not mine:
            present = sorted({str(x) for x in labels if x is not None})
            raise SpecError(
                "HyperSchedules",
                where,
                f"no param group of {name} has the label {label!r} (its labels: "
                f"{', '.join(map(repr, present)) or 'none: build it with make_optimizer'})",
            )
        for key, sched in own.scheduled().items():
            held = [i for i in mine if _holds(groups[i], key)]
            if not held:
                _raise_not_held([groups[i] for i in mine], name, key, f" labelled {label!r}")
            by_group = out.setdefault(key, {})
            for i in held:
                by_group[i] = sched
    return out


def _raise_not_held(groups: list[dict[str, Any]], name: str, key: str, which: str) -> None:
    held = sorted({k for g in groups for k in g if k not in ("params", "param_names")})
    hint = " (Adam's first-moment decay is beta1)" if key == "momentum" else ""
    raise SpecError(
        "HyperSchedules",
        key,
        f"no param group of {name}{which} holds {key!r}{hint}; its groups hold {', '.join(held)}",
    )
