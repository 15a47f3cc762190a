"""torch LR schedulers driven by optfn schedules: :func:`make_scheduler` and seed 002's builders.

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

from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.errors import ConfigError, SpecTypeError, StateError
from optfn.io import from_dict, is_plain, to_dict
from optfn.schedules import Schedule, lr_curve, lr_lambda
from optfn.specs.checks import in_range, is_int, is_real
from optfn.specs.render import brief, show

__all__ = [
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
#: Attributes of ScheduleLR that are caches, never state.
_CACHE_KEYS = ("_block", "_block_start")


def schedule_record(schedule: Schedule) -> dict[str, Any]:
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
            return brief(from_dict(record, Schedule), 300)
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

    >>> import torch
    >>> from optfn.schedules import LinearDecay
    >>> from optfn.scheduler import ScheduleLR
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = ScheduleLR(opt, LinearDecay(decay_steps=4))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.75]
    """

    schedule: Schedule

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
        self.schedule = schedule
        self._block: list[float] = []
        self._block_start = 0
        super().__init__(optimizer, lr_lambda(schedule), last_epoch)

    def _multiplier(self, step: Any) -> float:
        if type(step) is int and 0 <= step < _BLOCK_LIMIT:
            i = step - self._block_start
            if not 0 <= i < len(self._block):
                block = lr_curve(self.schedule, _BLOCK, start=step)
                self._block, self._block_start, i = block.tolist(), step, 0
            return self._block[i]
        return self.lr_lambdas[0](step)  # huge or invalid steps: the checked scalar form

    def get_lr(self) -> list[float | torch.Tensor]:
        """``[base_lr · λ(last_epoch) for each group]`` (the same product as ``LambdaLR``)."""
        m = self._multiplier(self.last_epoch)
        return [base_lr * m for base_lr in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        """``LambdaLR``'s state plus ``"schedule"``: the schedule as plain data."""
        state = {k: x for k, x in super().state_dict().items() if k not in _CACHE_KEYS}
        state["schedule"] = schedule_record(self.schedule)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by a ``ScheduleLR`` running the same schedule, else ``ValueError``."""
        self.check_state_dict(state_dict)
        rest = {k: x for k, x in state_dict.items() if k != "schedule" and k not in _CACHE_KEYS}
        super().load_state_dict(rest)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
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
        where = "ScheduleLR.state_dict"
        if not isinstance(state_dict, Mapping):
            raise StateError(f"{where}: must be a dict, got {type(state_dict).__name__}")
        mine = schedule_record(self.schedule)
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
        unknown = sorted(map(repr, state_dict.keys() - _STATE_KEYS))
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


def is_lr(x: object) -> bool:
    """A learning rate as a state holds one: a finite number >= 0, or such a 0-D tensor.

    >>> import torch
    >>> is_lr(0.1), is_lr(torch.tensor(0.1)), is_lr(-1.0), is_lr("0.1")
    (True, True, False, False)
    """
    if isinstance(x, torch.Tensor):
        return x.ndim == 0 and x.is_floating_point() and bool(torch.isfinite(x) & (x >= 0))
    return is_real(x) and in_range(x, 0.0)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule) -> ScheduleLR:
    """A torch LR scheduler for ``schedule``: ``lr_g(s) = base_lr_g · lr_lambda(schedule)(s)``.

    Step it once per optimizer step (after ``optimizer.step()``). See :class:`ScheduleLR`.

    >>> import torch
    >>> from optfn.schedules import MultiStepDecay
    >>> from optfn.scheduler import make_scheduler
    >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = make_scheduler(opt, MultiStepDecay(boundaries=(1,), gamma=0.5))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    """
    return ScheduleLR(optimizer, schedule)
