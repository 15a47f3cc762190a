"""The checks :func:`~optfn.restore` runs on a checkpoint's optimizer and scheduler states
before it loads anything: the optimizer's kind (its recorded class, its groups'
hyper-parameters and route), the groups, parameters and per-parameter tensors' shapes, and the
scheduler state's entries. Each raises a :class:`~optfn.errors.StateError` naming the first
difference, and changes nothing.

>>> import torch
>>> from optfn.checkpoint.state_checks import check_optimizer_class, check_optimizer_fits
>>> p = torch.nn.Parameter(torch.zeros(2))
>>> opt = torch.optim.AdamW([{"params": [p], "param_names": ["w"]}])
>>> check_optimizer_fits(opt.state_dict(), opt)
>>> check_optimizer_class("torch.optim.Adam", opt)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
optfn.errors.StateError: optimizer: the checkpoint's optimizer is torch.optim.Adam, this ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.build.scheduler_guards import is_lr
from optfn.checkpoint.files import (
    PARAM_SHAPED_STATE,
    check_optimizer_state,
    check_str_keys,
    optimizer_class_name,
)
from optfn.errors import StateError
from optfn.io import is_plain
from optfn.specs.checks import in_range, is_int, is_real
from optfn.specs.render import brief, escaped, show

__all__ = ["check_optimizer_class", "check_optimizer_fits", "check_scheduler_state"]


def _kind(x: object) -> str:
    if isinstance(x, bool):
        return "true or false"
    if is_real(x):
        return "a number"
    if isinstance(x, torch.Tensor):
        return "a tensor"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, (list, tuple)):
        return "a list"
    if isinstance(x, Mapping):
        return "a dict"
    return f"a {type(x).__name__}"


def _same_kind(saved: object, now: object) -> bool:
    if saved is None or now is None:
        return True
    a, b = _kind(saved), _kind(now)
    # a number may be saved as a 0-d tensor (a tensor LR) and the other way round
    return a == b or {a, b} == {"a number", "a tensor"}


def _is_step(x: object) -> bool:
    if isinstance(x, torch.Tensor):
        return x.numel() == 1 and not x.is_complex() and bool(torch.isfinite(x).all() & (x >= 0))
    return is_real(x) and in_range(x, 0.0) and float(x) <= 2.0**53  # type: ignore[arg-type]


def check_optimizer_class(saved: str | None, optimizer: torch.optim.Optimizer) -> None:
    """The checkpoint's optimizer class (if it records one) is ``optimizer``'s."""
    mine = optimizer_class_name(optimizer)
    if saved is not None and saved != mine:
        raise StateError(
            f"optimizer: the checkpoint's optimizer is {escaped(saved)}, this optimizer is "
            f"{mine}; {_SAVED_KIND}"
        )


_SAVED_KIND = (
    "restore into the kind of optimizer that was saved (build it from the checkpoint's config)"
)

#: Group values that make torch's Adam an AdamW (and NAdam, RAdam their decoupled forms):
#: compared when a checkpoint does not record its optimizer's class.
_ALGORITHM_KEYS = ("decoupled_weight_decay",)


def _groups_after_load(
    saved_groups: Sequence[Mapping[str, Any]], optimizer: torch.optim.Optimizer
) -> Sequence[Mapping[str, Any]]:
    """The saved groups as ``optimizer.load_state_dict`` would leave them: with the keys that
    the class's ``__setstate__`` fills in for states of older versions (torch's Adam adds
    ``decoupled_weight_decay``, SGD ``nesterov``...). Run on copies, in an empty instance of
    the class; the saved groups as they are if that fails. Changes nothing."""
    cls = type(optimizer)
    copies = [{**g, "params": []} for g in saved_groups]
    try:
        probe = cls.__new__(cls)
        state = {"defaults": dict(optimizer.defaults), "state": {}, "param_groups": copies}
        cls.__setstate__(probe, state)
    except Exception:
        return saved_groups
    return copies


def _check_group_kind(
    g: int,
    mine: Mapping[str, Any],
    saved: Mapping[str, Any],
    loaded: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    known_class: bool,
) -> None:
    """Group ``g`` of the saved state (``saved``; ``loaded``: as ``load_state_dict`` would
    leave it) holds the hyper-parameters of ``optimizer``'s group ``g``: every key of
    ``optimizer.defaults`` the group holds and none it lacks, the same route, and (without a
    recorded class) the same :data:`_ALGORITHM_KEYS` values as saved (torch's AdamW sets
    ``decoupled_weight_decay`` when it loads a state, Adam keeps the saved one)."""
    at = f"optimizer state['param_groups'][{g}]"
    name = optimizer_class_name(optimizer)
    other = f"(a state saved by another kind of optimizer?); {_SAVED_KIND}"
    hyper = optimizer.defaults.keys()
    missing = sorted(k for k in mine if k in hyper and k not in loaded)
    if missing:
        raise StateError(
            f"{at}: has no {brief(missing[0])}, which param group {g} of this {name} holds {other}"
        )
    alien = sorted(k for k in loaded if k in hyper and k not in mine)
    if alien:
        raise StateError(
            f"{at}: holds {brief(alien[0])}, which param group {g} of this {name} does not {other}"
        )
    for key in ("route", *(() if known_class else _ALGORITHM_KEYS)):
        if key in mine and key in saved and _differ(saved[key], mine[key]):
            raise StateError(
                f"{at}[{key!r}]: is {brief(saved[key])} in the checkpoint and "
                f"{brief(mine[key])} in this {name} {other}"
            )


def _differ(a: object, b: object) -> bool:
    try:
        return bool(a != b)
    except Exception:  # e.g. tensors of several values
        return True


def check_optimizer_fits(
    saved: object, optimizer: torch.optim.Optimizer, *, known_class: bool = False
) -> None:
    """The saved optimizer state fits ``optimizer``: groups, ids, hyper-parameters (those of
    this kind of optimizer: :func:`_check_group_kind`; ``known_class``: the checkpoint
    recorded its class, already compared), their kinds, and the shapes of the per-parameter
    tensors (:data:`PARAM_SHAPED_STATE`)."""
    where = "optimizer state"
    check_optimizer_state(saved, where)
    assert isinstance(saved, Mapping)
    groups = optimizer.param_groups
    saved_groups = saved["param_groups"]
    if len(saved_groups) != len(groups):
        raise StateError(
            f"{where}: has {len(saved_groups)} param group(s), the optimizer {len(groups)}"
        )
    loaded = _groups_after_load(list(saved_groups), optimizer)
    for g, (mine, theirs, after) in enumerate(zip(groups, saved_groups, loaded, strict=True)):
        _check_group_kind(g, mine, theirs, after, optimizer, known_class)
    params: dict[int, tuple[str, torch.Tensor]] = {}
    for g, (mine, theirs) in enumerate(zip(groups, saved_groups, strict=True)):
        at = f"{where}['param_groups'][{g}]"
        if len(theirs["params"]) != len(mine["params"]):
            raise StateError(
                f"{at}: has {len(theirs['params'])} parameter(s), the optimizer's group "
                f"{len(mine['params'])}"
            )
        names = mine.get("param_names") or [f"#{i}" for i in range(len(mine["params"]))]
        if "param_names" in theirs and theirs["param_names"] != mine.get("param_names"):
            raise StateError(f"{at}['param_names']: does not match the optimizer's names")
        for key, value in theirs.items():
            if key in ("params", "param_names") or key not in mine:
                continue
            if not _same_kind(value, mine[key]):
                raise StateError(
                    f"{at}[{brief(key)}]: must be {_kind(mine[key])}, got {show(value)}"
                )
            if key == "lr" and not is_lr(value):
                raise StateError(f"{at}['lr']: must be a finite number >= 0, got {show(value)}")
        for pid, name, p in zip(theirs["params"], names, mine["params"], strict=True):
            params[pid] = (str(name), p)
    for pid, entry in saved["state"].items():
        name, p = params[pid]
        if "step" in entry and not _is_step(entry["step"]):
            raise StateError(
                f"{where}: the step of {brief(name)} must be a finite number >= 0, got "
                f"{show(entry['step'])}"
            )
        for key, value in entry.items():
            if key in PARAM_SHAPED_STATE and isinstance(value, torch.Tensor):
                if tuple(value.shape) != tuple(p.shape):
                    raise StateError(
                        f"{where}: {brief(key)} of {brief(name)} has shape "
                        f"{list(value.shape)}, the parameter {list(p.shape)}"
                    )


def check_scheduler_state(saved: object, scheduler: Any) -> None:
    """The generic ``LRScheduler`` entries: the same keys as this scheduler's state, each of
    the same kind, ``last_epoch`` an integer >= 0 that the multipliers accept, one base LR and
    one multiplier entry per param group."""
    where = "scheduler state"
    check_str_keys(saved, where)
    assert isinstance(saved, Mapping)
    current = scheduler.state_dict()
    unknown = sorted(saved.keys() - current.keys())
    if unknown:
        raise StateError(
            f"{where}: unknown entry {brief(unknown[0])} (saved by another kind of scheduler "
            f"than {type(scheduler).__name__}?)"
        )
    missing = sorted(current.keys() - saved.keys())
    if missing:
        raise StateError(f"{where}: has no {missing[0]!r} entry")
    for key, now in current.items():
        value = saved[key]
        if not _same_kind(value, now):
            raise StateError(f"{where}[{key!r}]: must be {_kind(now)}, got {show(value)}")
        if isinstance(now, Mapping) and not is_plain(value):  # e.g. ScheduleLR's schedule record
            raise StateError(
                f"{where}[{key!r}]: must hold plain data (numbers, strings, lists, dicts), got "
                f"{show(value)}"
            )
        if isinstance(now, (list, tuple)) and key in ("base_lrs", "_last_lr", "lr_lambdas"):
            if len(value) != len(now):
                raise StateError(
                    f"{where}[{key!r}]: has {len(value)} value(s), the scheduler {len(now)}"
                )
    if "last_epoch" in saved:
        last = saved["last_epoch"]
        if not is_int(last) or last < 0:
            raise StateError(f"{where}['last_epoch']: must be an integer >= 0, got {show(last)}")
    for key in ("base_lrs", "_last_lr"):
        for i, lr in enumerate(saved.get(key) or ()):
            if not is_lr(lr):
                raise StateError(
                    f"{where}[{key!r}][{i}]: must be a finite number >= 0, got {show(lr)}"
                )
    if isinstance(scheduler, LambdaLR):
        for i, fn in enumerate(saved.get("lr_lambdas") or ()):
            if fn is not None and not (isinstance(fn, Mapping) and all(type(k) is str for k in fn)):
                raise StateError(
                    f"{where}['lr_lambdas'][{i}]: must be None or a dict, got {show(fn)}"
                )
        step = saved.get("last_epoch", 0)
        for i, fn in enumerate(scheduler.lr_lambdas):
            try:
                fn(step)
            except Exception as exc:
                raise StateError(
                    f"{where}['last_epoch']: the multiplier of group {i} refuses step "
                    f"{brief(step)}: {escaped(exc)}"
                ) from None
