"""The checks that :class:`~optfn.ScheduleLR` and
:class:`~optfn.build.hyper_schedule_lr.HyperScheduleLR` share: what a state's learning rate
may be, and what resuming (``last_epoch`` above -1) needs.

>>> import torch
>>> from optfn.build.scheduler_guards import check_resume, is_lr
>>> is_lr(0.1), is_lr(-1.0)
(True, False)
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> check_resume("ScheduleLR", opt, -1)
-1
>>> check_resume("ScheduleLR", opt, 3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
optfn.errors.StateError: ScheduleLR: param group 0 has no 'initial_lr', which a scheduler ...
"""

from __future__ import annotations

import torch

from optfn.errors import StateError
from optfn.specs.checks import in_range, is_real, step_arg
from optfn.specs.render import show

__all__ = ["check_resume", "is_lr", "not_resumable"]


def is_lr(x: object) -> bool:
    """A learning rate as a state holds one: a finite number >= 0, or such a 0-D tensor.

    >>> import torch
    >>> is_lr(0.1), is_lr(torch.tensor(0.1)), is_lr(-1.0), is_lr("0.1")
    (True, True, False, False)
    """
    if isinstance(x, torch.Tensor):
        return x.ndim == 0 and x.is_floating_point() and bool(torch.isfinite(x) & (x >= 0))
    return is_real(x) and in_range(x, 0.0)


def not_resumable(owner: str, i: int, name: str, last_epoch: int) -> StateError:
    """The error for a group without the ``initial_<key>`` a resumed scheduler reads."""
    return StateError(
        f"{owner}: param group {i} has no {name!r}, which a scheduler built with "
        f"last_epoch={last_epoch} takes as the group's base value; build it with last_epoch=-1 "
        f"(the default) and load its state_dict, or load the optimizer's state (which holds "
        f"{name!r}) before building it"
    )


def check_resume(owner: str, optimizer: torch.optim.Optimizer, last_epoch: object) -> int:
    """``last_epoch`` as an ``int``: an integer >= -1; above -1 (a resumed scheduler) every
    group must hold its ``initial_lr``, as torch requires, checked here so that the error is
    optfn's. Changes nothing."""
    last = step_arg(owner, "last_epoch", last_epoch, minimum=-1)
    if last != -1:
        for i, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise not_resumable(owner, i, "initial_lr", last)
            if not is_lr(group["initial_lr"]):
                raise StateError(
                    f"{owner}: param group {i}'s 'initial_lr' must be a finite number >= 0, "
                    f"got {show(group['initial_lr'])}"
                )
    return last
