"""torch LR schedulers driven by optfn schedules: :func:`make_scheduler` and the epoch-based
builders.

The scheduler is a ``torch.optim.lr_scheduler.LambdaLR`` whose multiplier is
:func:`optfn.schedules.lr_lambda`, so the LR of group ``g`` at step ``s`` is
``base_lr[g] * λ(s)``: a closed form of ``s`` alone. Nothing is chained from step to step, so
resuming from a saved state gives the very LRs of an uninterrupted run.

>>> import torch
>>> from optfn.schedules import WarmupCosine
>>> from optfn.scheduler import make_scheduler
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
>>> sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=4))
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(round(opt.param_groups[0]["lr"], 6))
...     opt.step()
...     sched.step()
>>> lrs
[0.05, 0.1, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.errors import ConfigError, SpecError, SpecTypeError, StateError
from optfn.io import from_dict, is_plain, to_dict
from optfn.schedules import Constant, HyperSchedules, Schedule, lr_curve, lr_lambda
from optfn.schedules.hyper import BOUNDED_KEYS
from optfn.specs.checks import in_range, is_int, is_real, step_arg
from optfn.specs.render import brief, show

__all__ = [
    "HyperScheduleLR",
    "ScheduleLR",
    "is_lr",
    "make_scheduler",
    "schedule_record",
]

#: Multipliers are looked up from blocks of this many steps, computed by ``lr_curve``.
_BLOCK = 1024
#: From this step on, each step is evaluated alone: blocks stay where steps are exact floats.
_BLOCK_LIMIT = 2**53 - _BLOCK
#: Every key a ScheduleLR state may hold (LambdaLR's, and the schedule record).
_STATE_KEYS = frozenset(
    {
        "schedule",
        "base_lrs",
        "last_epoch",
        "_step_count",
        "_is_initial",
        "_get_lr_called_within_step",
        "_last_lr",
        "lr_lambdas",
        "verbose",
    }
)
#: Attributes of ScheduleLR that are caches or fixed at construction, never state.
_CACHE_KEYS = ("_lr_blocks", "_plans", "_targets")


class _Blocks:
    """A schedule's multipliers looked up from blocks of ``_BLOCK`` steps (one ``lr_curve``
    call per block, equal to ``lr_lambda`` bit for bit); huge steps are evaluated alone."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.scalar = lr_lambda(schedule)
        self.values: list[float] = []
        self.start = 0

    def at(self, step: Any) -> float:
        if type(step) is int and 0 <= step < _BLOCK_LIMIT:
            i = step - self.start
            if not 0 <= i < len(self.values):
                self.values, self.start, i = (
                    lr_curve(self.schedule, _BLOCK, start=step).tolist(),
                    step,
                    0,
                )
            return self.values[i]
        return self.scalar(step)  # huge or invalid steps: the checked scalar form


def schedule_record(schedule: Schedule | HyperSchedules) -> dict[str, Any]:
    """The schedule as optfn's serialized form (:func:`optfn.to_dict`): tagged plain data.

    It holds only dicts, lists, numbers and strings, which is what
    ``torch.load(weights_only=True)`` reads. :class:`ScheduleLR` stores it in its state, in
    the same format as config files.

    >>> from optfn.schedules import WarmupCosine
    >>> from optfn.scheduler import schedule_record
    >>> record = schedule_record(WarmupCosine(warmup_steps=5, total_steps=50))
    >>> record["type"], record["warmup_steps"], record["total_steps"]
    ('warmup_cosine', 5, 50)
    """
    return to_dict(schedule)


def _render(record: Any) -> str:
    """A record written back as the spec's repr, or as the raw data (bounded) if it is not a
    schedule."""
    if is_plain(record):
        try:
            return brief(from_dict(record), 300)
        except (ConfigError, TypeError, ValueError):
            pass
    return brief(record)


class ScheduleLR(LambdaLR):
    """``LambdaLR`` with the multiplier of an optfn schedule: ``lr_g(s) = base_lr_g · λ(s)``.

    ``λ = lr_lambda(schedule)``, and each group's base LR is its LR when the scheduler is built
    (its ``initial_lr``), so groups keep their LR ratios at every step. It works with any
    ``torch.optim.Optimizer``. The multiplier is computed once per step for all groups, looked up
    from blocks of steps evaluated by the vectorized form (equal to ``λ`` bit for bit).

    ``state_dict()`` holds the usual ``LambdaLR`` entries (step count, base LRs) plus the
    schedule as plain data (:func:`schedule_record`); ``load_state_dict`` refuses a state saved
    under a different schedule, and sets the groups' LRs for the loaded step, so that
    optimizer → scheduler → load both states → continue gives the LRs of an uninterrupted run.

    A group whose ``lr`` is a 0-D tensor (torch's way to compile ``optimizer.step`` once for
    every LR; ``make_optimizer(..., tensor_lr=True)`` makes them) gets its new LR written into
    that tensor (``fill_``), never a new object; its base LR is then a tensor too (as torch's
    ``LambdaLR`` keeps it), and the state holds 0-D tensors where it would hold floats.

    Checked before anything is set, so that a refusal changes nothing: ``last_epoch`` (an
    integer >= -1; above -1, a resumed scheduler, every group must hold its ``initial_lr``, as
    torch requires, else a :class:`~optfn.errors.StateError`); ``step(epoch)``'s ``epoch`` (an
    integer >= 0); and at each step, the param groups: the scheduler schedules the groups it
    was built with, so a group added with ``add_param_group`` afterwards makes every
    ``step()`` a :class:`~optfn.errors.StateError` naming both counts (build the scheduler
    after the last ``add_param_group``, or build a new one).

    >>> import torch
    >>> from optfn.schedules import LinearDecay
    >>> from optfn.scheduler import ScheduleLR
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = ScheduleLR(opt, LinearDecay(decay_steps=4))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.75]
    """

    schedule: Schedule
    #: Every key a state of this class may hold.
    _state_keys: frozenset[str] = _STATE_KEYS

    def __init__(
        self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise SpecTypeError(
                "ScheduleLR",
                "optimizer",
                f"must be a torch.optim.Optimizer, got {show(optimizer)}",
            )
        if not isinstance(schedule, Schedule):
            raise SpecTypeError(
                "ScheduleLR",
                "schedule",
                f"must be a Schedule, got {brief(schedule)} ({type(schedule).__name__})",
            )
        last_epoch = _check_resume(type(self).__name__, optimizer, last_epoch)
        self.schedule = schedule
        self._lr_blocks = _Blocks(schedule)
        super().__init__(optimizer, self._lr_blocks.scalar, last_epoch)

    def step(self, epoch: int | None = None) -> None:
        """Step to ``last_epoch + 1`` (or to ``epoch``, torch's deprecated form) and set the
        groups' LRs for it. Checked first, so that a refused step changes nothing: ``epoch``
        must be an integer >= 0 (else a :class:`~optfn.errors.SpecTypeError` or
        :class:`~optfn.errors.SpecError`), and the optimizer must hold the param groups the
        scheduler was built with (a group added by ``add_param_group`` afterwards is a
        :class:`~optfn.errors.StateError`: build the scheduler after the last
        ``add_param_group``, or build a new one)."""
        epoch = self._check_step(epoch)
        if epoch is None:
            super().step()
        else:
            super().step(epoch)  # torch's deprecated form

    def _check_step(self, epoch: object) -> int | None:
        """``epoch`` as an ``int`` (or ``None``) once the step is known to be possible; an
        error else. Changes nothing."""
        owner = f"{type(self).__name__}.step"
        now, built = len(self.optimizer.param_groups), len(self.base_lrs)
        if now != built:
            raise StateError(
                f"{owner}: the optimizer has {now} param group(s) now, {built} when the "
                "scheduler was built (a group added with add_param_group afterwards?); a "
                "scheduler only schedules the groups it was built with: build it after the "
                "last add_param_group, or build a new one"
            )
        return None if epoch is None else step_arg(owner, "epoch", epoch)

    def _multiplier(self, step: Any) -> float:
        return self._lr_blocks.at(step)

    def get_lr(self) -> list[float | torch.Tensor]:
        """``[base_lr · λ(last_epoch) for each group]`` (the same product as ``LambdaLR``)."""
        m = self._multiplier(self.last_epoch)
        return [base_lr * m for base_lr in self.base_lrs]

    def _record(self) -> dict[str, Any]:
        """What the state records as the schedule (plain data)."""
        return schedule_record(self.schedule)

    def state_dict(self) -> dict[str, Any]:
        """``LambdaLR``'s state plus ``"schedule"``: the schedule as plain data."""
        state = {k: x for k, x in super().state_dict().items() if k not in _CACHE_KEYS}
        state["schedule"] = self._record()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by a ``ScheduleLR`` running the same schedule, else ``ValueError``."""
        self.check_state_dict(state_dict)
        self._load(state_dict)

    def _load(self, state_dict: Mapping[str, Any]) -> None:
        """Load a checked state (``LambdaLR``'s part) and set the groups' LRs for its step."""
        rest = {k: x for k, x in state_dict.items() if k != "schedule" and k not in _CACHE_KEYS}
        super().load_state_dict(rest)
        # The optimizer decides whether an LR is a tensor: a tensor LR is filled in place (a
        # compiled step keeps reading the same tensor), a float one stays a float, whichever
        # kind the state was saved with.
        groups = self.optimizer.param_groups
        self.base_lrs = [
            b if isinstance(g["lr"], torch.Tensor) or not isinstance(b, torch.Tensor) else b.item()
            for g, b in zip(groups, self.base_lrs, strict=True)
        ]
        for group, lr in zip(groups, self.get_lr(), strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(float(lr))
            else:
                group["lr"] = lr

    def check_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Raise :class:`~optfn.errors.StateError` (a ``ValueError``) unless ``state_dict`` can
        be loaded: saved by a ``ScheduleLR`` running the same schedule, over as many groups,
        every entry of the kind ``LambdaLR`` keeps, and no other key (``LambdaLR`` copies every
        key of a state into the scheduler's attributes).

        Changes nothing: :func:`optfn.restore` calls it before loading anything.
        """
        where = f"{type(self).__name__}.state_dict"
        if not isinstance(state_dict, Mapping):
            raise StateError(f"{where}: must be a dict, got {type(state_dict).__name__}")
        mine = self._record()
        if "schedule" not in state_dict:
            raise StateError(
                f"{where}: has no 'schedule' record (not saved by a ScheduleLR?), "
                f"so it cannot be checked against this scheduler's {_render(mine)}"
            )
        saved = state_dict["schedule"]
        if not is_plain(saved):
            raise StateError(
                f"{where}['schedule']: must be plain data (a schedule record), got {brief(saved)}"
            )
        if saved != mine:
            raise StateError(
                f"{where}['schedule']: the state was saved under {_render(saved)}, but this "
                f"scheduler runs {_render(mine)}; build the scheduler with the saved schedule "
                "to resume"
            )
        unknown = sorted(map(repr, state_dict.keys() - self._state_keys))
        if unknown:
            raise StateError(f"{where}: unknown key(s) {', '.join(unknown)[:200]}")
        n_groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "lr_lambdas"):
            if key not in state_dict:
                raise StateError(f"{where}: has no {brief(key)}")
        base_lrs = state_dict["base_lrs"]
        if not isinstance(base_lrs, list | tuple) or len(base_lrs) != n_groups:
            got = f"{len(base_lrs)} value(s)" if isinstance(base_lrs, list | tuple) else "none"
            raise StateError(
                f"{where}['base_lrs']: has {got} but the optimizer has {n_groups} param group(s)"
            )
        for i, lr in enumerate(base_lrs):
            if not is_lr(lr):
                raise StateError(
                    f"{where}['base_lrs'][{i}]: must be a finite number >= 0, got {show(lr)}"
                )
        lambdas = state_dict["lr_lambdas"]
        if not isinstance(lambdas, list | tuple) or len(lambdas) != n_groups:
            raise StateError(
                f"{where}['lr_lambdas']: must be a list of {n_groups} entries, got {show(lambdas)}"
            )
        if any(x is not None and x != {} for x in lambdas):
            raise StateError(
                f"{where}['lr_lambdas']: must hold only empty entries (an optfn multiplier has "
                f"no state), got {show(lambdas)}"
            )
        last = state_dict.get("last_epoch", 0)
        if not is_int(last) or last < 0:
            raise StateError(f"{where}['last_epoch']: must be an integer >= 0, got {show(last)}")
        count = state_dict.get("_step_count", 0)
        if not is_int(count) or count < 0:
            raise StateError(f"{where}['_step_count']: must be an integer >= 0, got {show(count)}")
        for key in ("_is_initial", "_get_lr_called_within_step"):
            if key in state_dict and not isinstance(state_dict[key], bool):
                raise StateError(
                    f"{where}[{brief(key)}]: must be true or false, got {show(state_dict[key])}"
                )
        last_lr = state_dict.get("_last_lr", [])
        if not isinstance(last_lr, list | tuple) or not all(is_lr(x) for x in last_lr):
            raise StateError(f"{where}['_last_lr']: must be a list of LRs, got {show(last_lr)}")


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
    >>> from optfn.scheduler import make_scheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    >>> sched = make_scheduler(opt, HyperSchedules(
    ...     lr=LinearDecay(decay_steps=4), momentum=Ramp(steps=2, start_scale=0.5)))
    >>> opt.param_groups[0]["momentum"]
    0.45
    >>> opt.step(); sched.step(); opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    (0.75, 0.675)
    """

    hyper: HyperSchedules
    _state_keys = _STATE_KEYS | {"base_hyper"}

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
        last_epoch = _check_resume(type(self).__name__, optimizer, last_epoch)
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
        self._plans: dict[str, list[tuple[_Blocks, list[int]]]] = {}
        for key, by_group in chosen.items():
            same: dict[Schedule, list[int]] = {}
            for i, sched in by_group.items():
                same.setdefault(sched, []).append(i)
            self._plans[key] = [(_Blocks(sched), sorted(idx)) for sched, idx in same.items()]
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


def _check_shape_base(
    schedule: Schedule, key: str, i: int, base: float | None, opt: str
) -> None:
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


def _not_resumable(owner: str, i: int, name: str, last_epoch: int) -> StateError:
    """The error for a group without the ``initial_<key>`` a resumed scheduler reads."""
    return StateError(
        f"{owner}: param group {i} has no {name!r}, which a scheduler built with "
        f"last_epoch={last_epoch} takes as the group's base value; build it with last_epoch=-1 "
        f"(the default) and load its state_dict, or load the optimizer's state (which holds "
        f"{name!r}) before building it"
    )


def _check_resume(owner: str, optimizer: torch.optim.Optimizer, last_epoch: object) -> int:
    """``last_epoch`` as an ``int``: an integer >= -1; above -1 (a resumed scheduler) every
    group must hold its ``initial_lr``, as torch requires, checked here so that the error is
    optfn's. Changes nothing."""
    last = step_arg(owner, "last_epoch", last_epoch, minimum=-1)
    if last != -1:
        for i, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise _not_resumable(owner, i, "initial_lr", last)
            if not is_lr(group["initial_lr"]):
                raise StateError(
                    f"{owner}: param group {i}'s 'initial_lr' must be a finite number >= 0, "
                    f"got {show(group['initial_lr'])}"
                )
    return last


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
        raise _not_resumable("HyperScheduleLR", i, name, last_epoch)
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


def is_lr(x: object) -> bool:
    """A learning rate as a state holds one: a finite number >= 0, or such a 0-D tensor.

    >>> import torch
    >>> is_lr(0.1), is_lr(torch.tensor(0.1)), is_lr(-1.0), is_lr("0.1")
    (True, True, False, False)
    """
    if isinstance(x, torch.Tensor):
        return x.ndim == 0 and x.is_floating_point() and bool(torch.isfinite(x) & (x >= 0))
    return is_real(x) and in_range(x, 0.0)


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule | HyperSchedules
) -> ScheduleLR:
    """A torch LR scheduler for ``schedule``: ``lr_g(s) = base_lr_g · lr_lambda(schedule)(s)``;
    for a :class:`~optfn.schedules.HyperSchedules`, a :class:`HyperScheduleLR` that sets every
    scheduled hyper-parameter the same way.

    Step it once per optimizer step (after ``optimizer.step()``). See :class:`ScheduleLR`.

    >>> import torch
    >>> from optfn.schedules import MultiStepDecay
    >>> from optfn.scheduler import make_scheduler
    >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = make_scheduler(opt, MultiStepDecay(boundaries=(1,), gamma=0.5))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    """
    if isinstance(schedule, HyperSchedules):
        return HyperScheduleLR(optimizer, schedule)
    return ScheduleLR(optimizer, schedule)
