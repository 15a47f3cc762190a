"""``ScheduleLR``: a torch LR scheduler driven by an optfn schedule.

The scheduler is a ``torch.optim.lr_scheduler.LambdaLR`` whose multiplier is
:func:`optfn.schedules.lr_lambda`, so the LR of group ``g`` at step ``s`` is
``base_lr[g] * λ(s)``: a closed form of ``s`` alone. Nothing is chained from step to step, so
resuming from a saved state gives the very LRs of an uninterrupted run.

>>> import torch
>>> from optfn.schedules import WarmupCosine
>>> from optfn.build.schedule_lr import ScheduleLR
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
>>> sched = ScheduleLR(opt, WarmupCosine(warmup_steps=2, total_steps=4))
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(round(opt.param_groups[0]["lr"], 6))
...     opt.step()
...     sched.step()
>>> lrs
[0.05, 0.1, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.build.scheduler_guards import check_resume, is_lr
from optfn.errors import ConfigError, SpecTypeError, StateError
from optfn.io import from_dict, is_plain, to_dict
from optfn.schedules import HyperSchedules, Schedule, lr_curve, lr_lambda
from optfn.specs.checks import is_int, step_arg
from optfn.specs.render import brief, show

__all__ = ["STATE_KEYS", "MultiplierBlocks", "ScheduleLR", "schedule_record"]

#: Multipliers are looked up from blocks of this many steps, computed by ``lr_curve``.
_BLOCK = 1024
#: From this step on, each step is evaluated alone: blocks stay where steps are exact floats.
_BLOCK_LIMIT = 2**53 - _BLOCK
#: Every key a ScheduleLR state may hold (LambdaLR's, and the schedule record).
STATE_KEYS = frozenset(
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


class MultiplierBlocks:
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
    >>> from optfn.build import schedule_record
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
    >>> from optfn.build import ScheduleLR
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = ScheduleLR(opt, LinearDecay(decay_steps=4))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.75]
    """

    schedule: Schedule
    #: Every key a state of this class may hold.
    _state_keys: frozenset[str] = STATE_KEYS

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
        last_epoch = check_resume(type(self).__name__, optimizer, last_epoch)
        self.schedule = schedule
        self._lr_blocks = MultiplierBlocks(schedule)
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
