"""Checkpoints of a run's optimization state that ``torch.load(..., weights_only=True)`` reads.

A checkpoint holds plain data only: the config (``to_dict`` of any registered spec), the
optimizer's ``state_dict``, the name and shape of every parameter in every param group, and
optionally the scheduler's and the model's ``state_dict`` and small ``extra`` values (step
counters...). Nothing in it is pickled code.

Restoring checks that the fresh optimizer holds the same parameters, by name and shape, in the
same groups and order as the saved one, and names the first one that differs (a
:class:`~optfn.errors.StateError`). (torch's own
``load_state_dict`` matches by position only, so it would load one parameter's moments into
another of the same shape.) Every param group needs a ``"param_names"`` list, which the groups
of :func:`optfn.make_optimizer` have.

>>> import tempfile, torch
>>> from pathlib import Path
>>> from optfn.specs.optimizers import AdamWSpec
>>> model = torch.nn.Linear(2, 1)
>>> def fresh():
...     groups = [{"params": list(model.parameters()), "param_names": ["weight", "bias"]}]
...     return torch.optim.AdamW(groups, lr=1e-3)
>>> opt = fresh()
>>> model(torch.ones(1, 2)).sum().backward(); opt.step()
>>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> save_checkpoint(path, config=AdamWSpec(), optimizer=opt, model=model)
>>> ckpt = load_checkpoint(path)
>>> ckpt.config == AdamWSpec()
True
>>> opt2 = fresh()
>>> restore(ckpt, opt2, model=model)
>>> opt2.state_dict()["state"][0]["step"]
tensor(1.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from optfn.errors import SpecError, StateError
from optfn.io import from_dict, to_dict
from optfn.scheduler import ScheduleLR

__all__ = [
    "FORMAT",
    "Checkpoint",
    "check_layout",
    "load_checkpoint",
    "param_layout",
    "restore",
    "save_checkpoint",
]

FORMAT = "optfn.checkpoint"
FORMAT_VERSION = 1

#: Per param group, the ``(name, shape)`` of each parameter, in the optimizer's order.
Layout = tuple[tuple[tuple[str, tuple[int, ...]], ...], ...]


@attrs.frozen(kw_only=True, eq=False)
class Checkpoint:
    """What :func:`load_checkpoint` returns; hand it to :func:`restore`.

    ``config`` is the spec itself (read back strictly), the ``*_state`` fields are the
    ``state_dict`` objects as saved, ``layout`` the saved :func:`param_layout`.
    """

    config: Any
    optimizer_state: dict[str, Any]
    layout: Layout
    scheduler_state: dict[str, Any] | None = None
    model_state: Mapping[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


def param_layout(optimizer: torch.optim.Optimizer) -> Layout:
    """The ``(name, shape)`` of every parameter, group by group, from ``"param_names"``.

    >>> p = torch.nn.Parameter(torch.zeros(3, 2))
    >>> param_layout(torch.optim.SGD([{"params": [p], "param_names": ["w"]}], lr=0.1))
    ((('w', (3, 2)),),)
    """
    out = []
    for g, group in enumerate(optimizer.param_groups):
        names = group.get("param_names")
        if not isinstance(names, list) or len(names) != len(group["params"]):
            raise SpecError(
                "",
                f"optimizer.param_groups[{g}]",
                "needs a 'param_names' list with one name per "
                "parameter to be checkpointed; build the optimizer with optfn.make_optimizer "
                "or give each group its names",
            )
        out.append(
            tuple((str(n), tuple(p.shape)) for n, p in zip(names, group["params"], strict=True))
        )
    return tuple(out)


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    config: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    model: torch.nn.Module | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint to ``path`` (atomically: a crash leaves the old file whole).

    ``config`` is any registered spec (an ``OptimConfig``, an optimizer spec...); ``extra``
    holds your own values that ``weights_only`` loading accepts (numbers, strings, tensors,
    lists and dicts of them).
    """
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": to_dict(config),
        "layout": [[[name, list(shape)] for name, shape in g] for g in param_layout(optimizer)],
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "model": None if model is None else model.state_dict(),
        "extra": dict(extra or {}),
    }
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device | None = None
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True``).

    The config is read back strictly (:func:`optfn.from_dict`).
    """
    data = torch.load(path, map_location=map_location, weights_only=True)
    if not (isinstance(data, dict) and data.get("format") == FORMAT):
        raise StateError(f"{os.fspath(path)!r} is not an optfn checkpoint")
    if data.get("version") != FORMAT_VERSION:
        raise StateError(
            f"{os.fspath(path)!r}: unsupported checkpoint version {data.get('version')!r}; "
            f"this optfn reads version {FORMAT_VERSION}"
        )
    layout = tuple(
        tuple((str(name), tuple(int(n) for n in shape)) for name, shape in g)
        for g in data["layout"]
    )
    return Checkpoint(
        config=from_dict(data["config"], source=f"{os.fspath(path)} [config]"),
        optimizer_state=data["optimizer"],
        layout=layout,
        scheduler_state=data["scheduler"],
        model_state=data["model"],
        extra=data["extra"],
    )


def _describe(entry: tuple[int, str, tuple[int, ...]] | None) -> str:
    if entry is None:
        return "nothing"
    g, name, shape = entry
    return f"{name!r} {list(shape)} in group {g}"


def check_layout(saved: Layout, current: Layout) -> None:
    """Raise :class:`~optfn.errors.StateError` naming the first parameter where layouts differ."""
    flat_saved = [(g, n, s) for g, group in enumerate(saved) for n, s in group]
    flat_now = [(g, n, s) for g, group in enumerate(current) for n, s in group]
    for i in range(max(len(flat_saved), len(flat_now))):
        a = flat_saved[i] if i < len(flat_saved) else None
        b = flat_now[i] if i < len(flat_now) else None
        if a != b:
            raise StateError(
                f"the optimizer does not match the checkpoint at parameter #{i}: the checkpoint "
                f"has {_describe(a)}, the optimizer has {_describe(b)} (build the optimizer "
                "from the same model and config)"
            )


def restore(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    model: torch.nn.Module | None = None,
) -> None:
    """Load ``checkpoint`` into a freshly built optimizer (and scheduler, and model).

    Checks first, loads after: parameter names and shapes must match group by group, and a
    scheduler or model given must have been saved. A mismatch is a
    :class:`~optfn.errors.StateError` (a ``ValueError``) and leaves everything unchanged.
    """
    check_layout(checkpoint.layout, param_layout(optimizer))
    if scheduler is not None and checkpoint.scheduler_state is None:
        raise StateError("scheduler: the checkpoint was saved without a scheduler state")
    if model is not None and checkpoint.model_state is None:
        raise StateError("model: the checkpoint was saved without a model state")
    if isinstance(scheduler, ScheduleLR) and checkpoint.scheduler_state is not None:
        scheduler.check_state_dict(checkpoint.scheduler_state)  # e.g. another schedule
    if model is not None and checkpoint.model_state is not None:
        _check_model_state(checkpoint.model_state, model)
    # every check passed: only now change anything
    optimizer.load_state_dict(checkpoint.optimizer_state)
    if scheduler is not None and checkpoint.scheduler_state is not None:
        scheduler.load_state_dict(checkpoint.scheduler_state)
    if model is not None and checkpoint.model_state is not None:
        model.load_state_dict(checkpoint.model_state)


def _check_model_state(saved: Mapping[str, Any], model: torch.nn.Module) -> None:
    """:class:`~optfn.errors.StateError` naming the first key or shape where they differ."""
    current = model.state_dict()
    for key in sorted(saved.keys() ^ current.keys()):
        where = "checkpoint" if key in saved else "model"
        raise StateError(f"model: {key!r} is only in the {where}; the model does not match")
    for key, value in saved.items():
        if tuple(value.shape) != tuple(current[key].shape):
            raise StateError(
                f"model: {key!r} has shape {list(value.shape)} in the checkpoint and "
                f"{list(current[key].shape)} in the model"
            )
