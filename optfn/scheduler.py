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

from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.errors import ConfigError, SpecError, SpecTypeError
from optfn.io.serialization import from_dict, to_dict
from optfn.schedules import Schedule, lr_lambda

__all__ = [
    "ScheduleLR",
    "make_scheduler",
    "schedule_record",
]

#: Multipliers are looked up from blocks of this many steps, computed by the vectorized form.
_BLOCK = 1024
#: From this step on, each step is evaluated alone: blocks stay where steps are exact floats.
_BLOCK_LIMIT = 2**53 - _BLOCK
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
    """A record written back as the spec's repr, or as the raw data if it is not a schedule."""
    try:
        return repr(from_dict(record, Schedule))
    except (ConfigError, TypeError, ValueError):
        return repr(record)


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
                f"must be a torch.optim.Optimizer, got {optimizer!r} ({type(optimizer).__name__})",
            )
        if not isinstance(schedule, Schedule):
            raise SpecTypeError(
                "ScheduleLR",
                "schedule",
                f"must be a Schedule, got {schedule!r} ({type(schedule).__name__})",
            )
        self.schedule = schedule
        self._block: list[float] = []
        self._block_start = 0
        super().__init__(optimizer, lr_lambda(schedule), last_epoch)

    def _multiplier(self, step: Any) -> float:
        if type(step) is int and 0 <= step < _BLOCK_LIMIT:
            i = step - self._block_start
            if not 0 <= i < len(self._block):
                steps = np.arange(step, step + _BLOCK, dtype=np.int64)
                self._block, self._block_start, i = self.schedule._curve(steps).tolist(), step, 0
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
        """Raise ``ValueError`` unless ``state_dict`` can be loaded (same schedule, same groups).

        Changes nothing: :func:`optfn.restore` calls it before loading anything.
        """
        mine = schedule_record(self.schedule)
        if "schedule" not in state_dict:
            raise SpecError(
                "ScheduleLR",
                "state_dict",
                "has no 'schedule' record (not saved by a ScheduleLR?), "
                f"so it cannot be checked against this scheduler's {_render(mine)}",
            )
        saved = state_dict["schedule"]
        if saved != mine:
            raise SpecError(
                "ScheduleLR",
                "state_dict['schedule']",
                f"the state was saved under {_render(saved)}, but this scheduler runs "
                f"{_render(mine)}; build the scheduler with the saved schedule to resume",
            )
        n_groups = len(self.optimizer.param_groups)
        base_lrs = state_dict.get("base_lrs", ())
        if len(base_lrs) != n_groups:
            raise SpecError(
                "ScheduleLR",
                "state_dict['base_lrs']",
                f"has {len(base_lrs)} value(s) but the optimizer has {n_groups} param group(s)",
            )


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
