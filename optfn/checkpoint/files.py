"""The checkpoint file: what :func:`save_checkpoint` writes (atomically) and
:func:`load_checkpoint` reads back, every entry checked.

>>> import tempfile, torch
>>> from pathlib import Path
>>> from optfn import AdamWSpec, make_optimizer
>>> opt = make_optimizer(torch.nn.Linear(2, 1), AdamWSpec())
>>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> save_checkpoint(path, config=AdamWSpec(), optimizer=opt, extra={"epoch": 3})
>>> ckpt = load_checkpoint(path)
>>> ckpt.config == AdamWSpec(), ckpt.extra, ckpt.layout[0][0]
(True, {'epoch': 3}, ('weight', (1, 2)))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, BinaryIO

import attrs
import torch

from optfn.errors import SpecError, SpecTypeError, StateError
from optfn.io import MAX_DEPTH, from_dict, to_dict
from optfn.io.atomic import check_file_path, write_atomic
from optfn.io.problems import deep_text
from optfn.specs.checks import is_int
from optfn.specs.render import brief, escaped, show

__all__ = [
    "FORMAT",
    "Checkpoint",
    "check_extra",
    "check_layout",
    "load_checkpoint",
    "optimizer_class_name",
    "param_layout",
    "save_checkpoint",
]

FORMAT = "optfn.checkpoint"
FORMAT_VERSION = 1
#: The entries of a checkpoint file, every one required.
ENTRIES = ("format", "version", "config", "layout", "optimizer", "scheduler", "model", "extra")
#: Entries a checkpoint may lack: ``optimizer_class`` (:func:`optimizer_class_name` of the saved
#: optimizer), which files written before it was recorded do not hold.
OPTIONAL_ENTRIES = ("optimizer_class",)
#: Per-parameter optimizer state that has the parameter's shape (torch's first-order
#: optimizers and optfn's Muon): checked against the fresh parameter before anything loads.
PARAM_SHAPED_STATE = frozenset(
    {
        "exp_avg",
        "exp_avg_sq",
        "max_exp_avg_sq",
        "momentum_buffer",
        "square_avg",
        "grad_avg",
        "acc_delta",
        "sum",
        "ax",
        "prev",
        "step_size",
    }
)

#: Per param group, the ``(name, shape)`` of each parameter, in the optimizer's order.
Layout = tuple[tuple[tuple[str, tuple[int, ...]], ...], ...]


@attrs.frozen(kw_only=True, eq=False)
class Checkpoint:
    """What :func:`load_checkpoint` returns; hand it to :func:`restore`.

    ``config`` is the spec itself (read back strictly), the ``*_state`` fields are the
    ``state_dict`` objects as saved, ``layout`` the saved :func:`param_layout`,
    ``optimizer_class`` the saved optimizer's :func:`optimizer_class_name` (``None`` in a file
    written before it was recorded).
    """

    config: Any
    optimizer_state: dict[str, Any]
    layout: Layout
    scheduler_state: dict[str, Any] | None = None
    model_state: Mapping[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    optimizer_class: str | None = None


def optimizer_class_name(optimizer: torch.optim.Optimizer) -> str:
    """The optimizer's class as a checkpoint records it: ``torch.optim.<name>`` for torch's
    own classes, ``<module>.<qualified name>`` for any other.

    >>> optimizer_class_name(torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]))
    'torch.optim.AdamW'
    """
    cls = type(optimizer)
    if getattr(torch.optim, cls.__name__, None) is cls:
        return f"torch.optim.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


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


# ---- what `extra` may hold -------------------------------------------------------------------
_LEAVES = (type(None), bool, int, float, str, bytes, torch.Tensor, torch.nn.Parameter)
_EXTRA_KINDS = (
    "None, bool, int, float, str, bytes, tensors, and lists, tuples and dicts (string keys) of them"
)


def _path_of(entry: Any, root: str) -> str:
    keys = []
    while entry[1] is not None:
        keys.append(entry[2])
        entry = entry[1]
    return root + "".join(f"[{brief(k)}]" for k in reversed(keys))


def extra_problem(extra: object, root: str = "extra") -> tuple[str, str] | None:
    """``(where, what)`` of the first value in ``extra`` that a checkpoint cannot hold, or
    ``None``: see :func:`check_extra`. A walk with its own stack (it never recurses)."""
    stack: list[tuple[Any, Any, Any, int]] = [(extra, None, None, 1)]
    while stack:
        entry = stack.pop()
        val, _, _, depth = entry
        kind = type(val)
        if kind in _LEAVES:
            continue
        if kind not in (list, tuple, dict):
            return _path_of(entry, root), (
                f"a {kind.__module__}.{kind.__qualname__} cannot be read back by "
                f"torch.load(weights_only=True); a checkpoint's extra holds {_EXTRA_KINDS}"
            )
        if depth > MAX_DEPTH:
            return _path_of(entry, root), deep_text()
        if kind is dict:
            bad = next((k for k in val if type(k) is not str), None)
            if bad is not None:
                return _path_of(entry, root), f"dict keys must be strings, got {show(bad)}"
            items: Any = list(val.items())
        else:
            items = list(enumerate(val))
        for key, x in reversed(items):
            stack.append((x, entry, key, depth + 1))
    return None


def check_extra(extra: object) -> None:
    """Raise :class:`~optfn.errors.SpecTypeError` naming the key path and the kind of the first
    value in ``extra`` that ``torch.load(weights_only=True)`` could not read back.

    >>> import datetime
    >>> check_extra({"seed": 0, "losses": [0.5, 0.25], "note": "ok"})
    >>> try:
    ...     check_extra({"log": {"started": datetime.date(2026, 1, 1)}})
    ... except SpecTypeError as e:
    ...     print(e.field, "|", e.reason[:60])
    extra['log']['started'] | a datetime.date cannot be read back by torch.load(weights_on
    """
    if not isinstance(extra, Mapping):
        raise SpecTypeError("", "extra", f"must be a dict of plain values, got {show(extra)}")
    problem = extra_problem(dict(extra))
    if problem is not None:
        raise SpecTypeError("", problem[0], problem[1])


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    config: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    model: torch.nn.Module | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint to ``path``, whole or not at all.

    ``torch.save`` writes to a temporary file in the target's folder, which is ``fsync``-ed,
    renamed over ``path``, and the folder ``fsync``-ed (:func:`optfn.io.atomic.write_atomic`).
    What that guarantees:

    - a save that fails (an error, a full disk) or is killed at any stage leaves at ``path``
      the old checkpoint or the new one, complete; never a mix or a truncated file;
    - after a power loss, the new checkpoint if ``save_checkpoint`` had returned, else the
      old one or the new one, complete (on a filesystem that honours ``fsync``).

    A symbolic link at ``path`` (``last.pt -> step_1000.pt``) is kept and the file it points
    to is replaced; a replaced file keeps its permissions, a new one gets ``0o666`` less the
    umask. A path that names a folder (``"ckpt.pt/"``) is a :class:`~optfn.errors.SpecError`;
    errors of the file system (no such folder, no permission, no space) are raised as
    ``OSError``. Temporary files left by a killed save are removed by the next successful
    save of the same path.

    ``config`` is any registered spec (an ``OptimConfig``, an optimizer spec...); ``extra``
    holds your own values, which ``weights_only`` loading must read back: ``None``, ``bool``,
    ``int``, ``float``, ``str``, ``bytes``, tensors, and lists, tuples and dicts with string
    keys of them (at most :data:`~optfn.io.MAX_DEPTH` levels deep). Anything else (a numpy
    array or scalar, a ``datetime``, a ``Path``, a spec: store ``to_dict(spec)``) is refused
    before anything is written, naming its key path and its kind (see :func:`check_extra`).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise SpecTypeError("save_checkpoint", "path", f"must be a str or a Path, got {show(path)}")
    check_file_path("save_checkpoint", "path", path)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SpecTypeError(
            "save_checkpoint", "optimizer", f"must be a torch optimizer, got {show(optimizer)}"
        )
    if scheduler is not None and not hasattr(scheduler, "state_dict"):
        raise SpecTypeError(
            "save_checkpoint",
            "scheduler",
            f"must be an LR scheduler or None, got {show(scheduler)}",
        )
    if model is not None and not isinstance(model, torch.nn.Module):
        raise SpecTypeError(
            "save_checkpoint", "model", f"must be a torch.nn.Module or None, got {show(model)}"
        )
    extra = {} if extra is None else extra
    check_extra(extra)
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": to_dict(config),
        "layout": [[[name, list(shape)] for name, shape in g] for g in param_layout(optimizer)],
        "optimizer": optimizer.state_dict(),
        "optimizer_class": optimizer_class_name(optimizer),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "model": None if model is None else model.state_dict(),
        "extra": dict(extra),
    }

    def write(f: BinaryIO) -> None:
        torch.save(payload, f)

    write_atomic(path, write)


# ---- reading a file ---------------------------------------------------------------------------
def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device | None = None
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True``).

    The config is read back strictly (:func:`optfn.from_dict`). A file that cannot be read, is
    not an optfn checkpoint of this version, or has a missing or malformed entry is a
    :class:`~optfn.errors.StateError` (a :class:`~optfn.errors.ConfigError` for the config)
    that names the file and the entry; nothing read from the file is printed unescaped.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise SpecTypeError("load_checkpoint", "path", f"must be a str or a Path, got {show(path)}")
    name = repr(os.fspath(path))
    try:
        f = open(path, "rb")  # closed by the `with f` below
    except OSError as exc:
        raise StateError(f"{name}: cannot read: {escaped(exc.strerror or exc)}") from exc
    try:
        with f:
            data = torch.load(f, map_location=map_location, weights_only=True)
    except Exception as exc:  # empty, truncated, not a torch file, refused by weights_only...
        what = f"{type(exc).__name__}: {escaped(exc, 300)}" if str(exc) else type(exc).__name__
        raise StateError(f"{name} is not a readable optfn checkpoint ({what})") from None
    if not (isinstance(data, dict) and type(data.get("format")) is str):
        raise StateError(f"{name} is not an optfn checkpoint")
    if data["format"] != FORMAT:
        raise StateError(f"{name} is not an optfn checkpoint (format {brief(data['format'])})")
    version = data.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise StateError(
            f"{name}: unsupported checkpoint version {brief(version)}; "
            f"this optfn reads version {FORMAT_VERSION}"
        )
    missing = [k for k in ENTRIES if k not in data]
    if missing:
        raise StateError(f"{name}: not a complete optfn checkpoint: no {missing[0]!r} entry")
    unknown = sorted((k for k in data if k not in ENTRIES + OPTIONAL_ENTRIES), key=repr)
    if unknown:
        raise StateError(f"{name}: unknown entry {brief(unknown[0])} in an optfn checkpoint")
    layout = read_layout(data["layout"], name)
    check_optimizer_state(data["optimizer"], f"{name}: optimizer")
    check_str_keys(data["scheduler"], f"{name}: scheduler", optional=True)
    check_model_entries(data["model"], f"{name}: model")
    problem = extra_problem(data["extra"]) if isinstance(data["extra"], dict) else None
    if not isinstance(data["extra"], dict):
        raise StateError(f"{name}: extra: must be a dict, got {show(data['extra'])}")
    if problem is not None:
        raise StateError(f"{name}: {problem[0]}: {problem[1]}")
    optimizer_class = data.get("optimizer_class")
    if optimizer_class is not None and type(optimizer_class) is not str:
        raise StateError(f"{name}: optimizer_class: must be a string, got {show(optimizer_class)}")
    return Checkpoint(
        config=from_dict(data["config"], source=f"{os.fspath(path)} [config]"),
        optimizer_state=data["optimizer"],
        layout=layout,
        scheduler_state=data["scheduler"],
        model_state=data["model"],
        extra=data["extra"],
        optimizer_class=optimizer_class,
    )


def read_layout(raw: object, name: str) -> Layout:
    where = f"{name}: layout"
    if not isinstance(raw, (list, tuple)):
        raise StateError(f"{where}: must be a list of param groups, got {show(raw)}")
    groups = []
    for g, group in enumerate(raw):
        if not isinstance(group, (list, tuple)):
            raise StateError(f"{where}[{g}]: must be a list of [name, shape], got {show(group)}")
        entries = []
        for i, entry in enumerate(group):
            at = f"{where}[{g}][{i}]"
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
                raise StateError(f"{at}: must be [name, shape], got {show(entry)}")
            pname, shape = entry
            if type(pname) is not str:
                raise StateError(f"{at}: the name must be a string, got {show(pname)}")
            if not (isinstance(shape, (list, tuple)) and all(is_int(n) and n >= 0 for n in shape)):
                raise StateError(
                    f"{at}: the shape must be a list of integers >= 0, got {show(shape)}"
                )
            entries.append((pname, tuple(int(n) for n in shape)))
        groups.append(tuple(entries))
    return tuple(groups)


def check_str_keys(raw: object, where: str, *, optional: bool = False) -> None:
    if raw is None and optional:
        return
    if not isinstance(raw, Mapping):
        raise StateError(f"{where}: must be a dict (a state_dict), got {show(raw)}")
    bad = next((k for k in raw if type(k) is not str), None)
    if bad is not None:
        raise StateError(f"{where}: keys must be strings, got {show(bad)}")


def check_model_entries(raw: object, where: str) -> None:
    if raw is None:
        return
    check_str_keys(raw, where)
    assert isinstance(raw, Mapping)
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor) and not key.endswith("_extra_state"):
            raise StateError(f"{where}[{brief(key)}]: must be a tensor, got {show(value)}")


def check_optimizer_state(raw: object, where: str) -> None:
    """The shape of an optimizer's ``state_dict``: ``{"state": {int: {str: ...}},
    "param_groups": [{"params": [int, ...], ...}, ...]}``."""
    check_str_keys(raw, where)
    assert isinstance(raw, Mapping)
    for key in ("state", "param_groups"):
        if key not in raw:
            raise StateError(f"{where}: has no {key!r} entry (not an optimizer's state_dict)")
    state, groups = raw["state"], raw["param_groups"]
    if not isinstance(state, Mapping):
        raise StateError(f"{where}['state']: must be a dict, got {show(state)}")
    if not isinstance(groups, (list, tuple)):
        raise StateError(f"{where}['param_groups']: must be a list, got {show(groups)}")
    ids: set[int] = set()
    for g, group in enumerate(groups):
        at = f"{where}['param_groups'][{g}]"
        check_str_keys(group, at)
        params = group.get("params")
        if not (isinstance(params, (list, tuple)) and all(type(i) is int for i in params)):
            raise StateError(f"{at}['params']: must be a list of integer ids, got {show(params)}")
        if ids & set(params) or len(set(params)) != len(params):
            raise StateError(f"{at}['params']: an id appears twice, got {show(params)}")
        ids.update(params)
    for key, entry in state.items():
        if type(key) is not int or key not in ids:
            raise StateError(
                f"{where}['state']: key {brief(key)} is not the id of a parameter in param_groups"
            )
        check_str_keys(entry, f"{where}['state'][{key}]")


# ---- restoring --------------------------------------------------------------------------------
def _describe(entry: tuple[int, str, tuple[int, ...]] | None) -> str:
    if entry is None:
        return "nothing"
    g, name, shape = entry
    return f"{brief(name)} {list(shape)} in group {g}"


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
