"""``make_scheduler``: the torch scheduler for an optfn schedule (a :class:`~optfn.ScheduleLR`),
or for a :class:`~optfn.schedules.HyperSchedules` (a
:class:`~optfn.build.hyper_schedule_lr.HyperScheduleLR`).

>>> import torch
>>> from optfn.schedules import WarmupCosine
>>> from optfn.build import make_scheduler
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> type(make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=4))).__name__
'ScheduleLR'
"""

from __future__ import annotations

import torch

from optfn.build.hyper_schedule_lr import HyperScheduleLR
from optfn.build.schedule_lr import ScheduleLR
from optfn.schedules import HyperSchedules, Schedule

__all__ = ["make_scheduler"]


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule | HyperSchedules
) -> ScheduleLR:
    """A torch LR scheduler for ``schedule``: ``lr_g(s) = base_lr_g · lr_lambda(schedule)(s)``;
    for a :class:`~optfn.schedules.HyperSchedules`, a :class:`HyperScheduleLR` that sets every
    scheduled hyper-parameter the same way.

    Step it once per optimizer step (after ``optimizer.step()``). See :class:`ScheduleLR`.

    >>> import torch
    >>> from optfn.schedules import MultiStepDecay
    >>> from optfn.build import make_scheduler
    >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = make_scheduler(opt, MultiStepDecay(boundaries=(1,), gamma=0.5))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    """
    if isinstance(schedule, HyperSchedules):
        return HyperScheduleLR(optimizer, schedule)
    return ScheduleLR(optimizer, schedule)
