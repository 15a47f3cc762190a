"""Restoring a checkpoint: check everything first, then load everything (and undo on failure).

>>> import tempfile, torch
>>> from pathlib import Path
>>> from optfn import AdamWSpec, load_checkpoint, make_optimizer, restore, save_checkpoint
>>> model = torch.nn.Linear(2, 1)
>>> opt = make_optimizer(model, AdamWSpec())
>>> model(torch.ones(1, 2)).sum().backward(); opt.step()
>>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> save_checkpoint(path, config=AdamWSpec(), optimizer=opt)
>>> fresh = make_optimizer(model, AdamWSpec())
>>> restore(load_checkpoint(path), fresh)
>>> fresh.state_dict()["state"][0]["step"]
tensor(1.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from optfn.build.schedule_lr import ScheduleLR
from optfn.checkpoint.files import (
    Checkpoint,
    check_layout,
    check_model_entries,
    optimizer_class_name,
    param_layout,
    read_layout,
)
from optfn.checkpoint.state_checks import (
    check_optimizer_class,
    check_optimizer_fits,
    check_scheduler_state,
)
from optfn.checkpoint.wrapper_keys import fit_model_state
from optfn.errors import OptfnError, SpecTypeError, StateError
from optfn.specs.render import escaped, show

__all__ = ["restore"]


def restore(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    model: torch.nn.Module | None = None,
) -> None:
    """Load ``checkpoint`` into a freshly built optimizer (and scheduler, and model).

    Checks first, loads after: the optimizer must be of the kind that was saved, parameter
    names and shapes must match group by group, the optimizer state's tensors must have their
    parameters' shapes, the scheduler must drive this optimizer, the scheduler's state must
    hold the entries of this scheduler (each of its kind; a :class:`~optfn.ScheduleLR` also
    checks the schedule) and the model's state its keys and shapes; a scheduler or model given
    must have been saved. The model's names may be the bare model's or those of a model
    wrapped by ``torch.compile`` or DDP, on either side: if they differ as they are, they are
    compared as partition names parameters, without the wrappers' ``_orig_mod.`` and
    ``module.`` parts (a saved part only where every name below it has it and the result is
    exactly the model's names, so a submodule really called ``module`` keeps its name), and the
    state loads under the model's own names. A mismatch is a :class:`~optfn.errors.StateError`
    (a ``ValueError``) and leaves everything unchanged. If loading itself fails, the optimizer
    and the scheduler are put back as they were (what torch's ``load_state_dict`` of either
    refuses is a ``StateError`` too); the model is loaded last, after its keys, shapes and
    kinds of tensors were checked.

    The optimizer's kind: a checkpoint records the saved optimizer's class
    (:func:`~optfn.checkpoint.files.optimizer_class_name`, e.g. ``torch.optim.AdamW``), which
    must be this optimizer's (torch would load an Adam state into an AdamW, which then runs
    Adam's hyper-parameters, or an RMSprop state into an SGD, whose next step fails). In every
    checkpoint, recorded class or not (files written before it was recorded), each saved group
    must hold every hyper-parameter this optimizer's groups hold (``optimizer.defaults``' keys,
    after the defaults torch's own ``load_state_dict`` fills in for older states) and no
    hyper-parameter they lack, and be on the same optfn route (``"route"``); without a recorded
    class, Adam's and AdamW's states, whose groups hold the same keys, are told apart by
    ``decoupled_weight_decay`` too.
    """
    if not isinstance(checkpoint, Checkpoint):
        raise SpecTypeError(
            "restore", "checkpoint", f"must be a Checkpoint, got {show(checkpoint)}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SpecTypeError(
            "restore", "optimizer", f"must be a torch optimizer, got {show(optimizer)}"
        )
    if model is not None and not isinstance(model, torch.nn.Module):
        raise SpecTypeError("restore", "model", f"must be a torch.nn.Module, got {show(model)}")
    if scheduler is not None and not (
        hasattr(scheduler, "state_dict") and hasattr(scheduler, "load_state_dict")
    ):
        raise SpecTypeError(
            "restore", "scheduler", f"must be an LR scheduler or None, got {show(scheduler)}"
        )
    driven = getattr(scheduler, "optimizer", None)
    if isinstance(driven, torch.optim.Optimizer) and driven is not optimizer:
        raise StateError(
            f"scheduler: it drives another optimizer (a {optimizer_class_name(driven)}), not "
            f"the {optimizer_class_name(optimizer)} being restored, whose LRs it would never "
            "set; build the scheduler on the optimizer you restore (make_scheduler(optimizer, "
            "schedule)) and pass that one"
        )
    current_layout = param_layout(optimizer)  # every group has its names
    check_optimizer_class(checkpoint.optimizer_class, optimizer)  # before a layout's details
    layout = read_layout(checkpoint.layout, "checkpoint")
    check_layout(layout, current_layout)
    if scheduler is not None and checkpoint.scheduler_state is None:
        raise StateError("scheduler: the checkpoint was saved without a scheduler state")
    if model is not None and checkpoint.model_state is None:
        raise StateError("model: the checkpoint was saved without a model state")
    check_optimizer_fits(
        checkpoint.optimizer_state, optimizer, known_class=checkpoint.optimizer_class is not None
    )
    if scheduler is not None and checkpoint.scheduler_state is not None:
        check_scheduler_state(checkpoint.scheduler_state, scheduler)  # kinds first
        if isinstance(scheduler, ScheduleLR):
            scheduler.check_state_dict(checkpoint.scheduler_state)  # e.g. another schedule
    model_state = None
    if model is not None and checkpoint.model_state is not None:
        check_model_entries(checkpoint.model_state, "model")
        model_state = fit_model_state(checkpoint.model_state, model)
    # every check passed: only now change anything, and undo it if loading fails
    with _Undo(optimizer, scheduler):
        with _refused("optimizer state"):
            optimizer.load_state_dict(checkpoint.optimizer_state)
        if scheduler is not None and checkpoint.scheduler_state is not None:
            with _refused("scheduler state"):
                scheduler.load_state_dict(checkpoint.scheduler_state)
        if model is not None and model_state is not None:
            model.load_state_dict(model_state)


@contextmanager
def _refused(what: str) -> Iterator[None]:
    """What torch's ``load_state_dict`` raises about a state's content, as a StateError."""
    try:
        yield
    except OptfnError:
        raise
    except Exception as exc:
        raise StateError(
            f"{what}: torch's load_state_dict refused it ({type(exc).__name__}: "
            f"{escaped(exc, 300)}); nothing was changed"
        ) from exc


class _Undo:
    """Put the optimizer's and the scheduler's attributes back if the block raises.

    ``Optimizer.load_state_dict`` replaces ``state`` and ``param_groups`` with new objects and
    a scheduler's ``load_state_dict`` updates its ``__dict__`` (and its multipliers'), so
    keeping the old objects and shallow copies of the dicts is enough to undo them.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        # the scheduler drives this optimizer (restore refuses one that drives another)
        groups = optimizer.param_groups
        self.optimizers = [
            (optimizer, optimizer.__dict__.get("state"), groups, [dict(g) for g in groups])
        ]
        self.scheduler = scheduler
        self.scheduler_dict = dict(scheduler.__dict__) if scheduler is not None else {}
        lambdas = getattr(scheduler, "lr_lambdas", None) or []
        self.lambdas = [
            (fn, dict(fn.__dict__))
            for fn in lambdas
            if isinstance(getattr(fn, "__dict__", None), dict)
        ]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            return
        for o, state, groups, copies in self.optimizers:
            for group, copy in zip(groups, copies, strict=True):
                group.clear()
                group.update(copy)
            o.__dict__["state"] = state
            o.__dict__["param_groups"] = groups
        if self.scheduler is not None:
            self.scheduler.__dict__.clear()
            self.scheduler.__dict__.update(self.scheduler_dict)
        for fn, saved in self.lambdas:
            fn.__dict__.clear()
            fn.__dict__.update(saved)
