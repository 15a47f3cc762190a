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

Reliability:

- :func:`save_checkpoint` refuses, before writing, an ``extra`` value that
  ``torch.load(weights_only=True)`` could not read back: ``extra`` holds ``None``, ``bool``,
  ``int``, ``float``, ``str``, ``bytes``, tensors, and lists, tuples and dicts (string keys) of
  them, at most :data:`~optfn.io.MAX_DEPTH` levels deep. It writes a temporary file and renames
  it, so a failure leaves an old checkpoint whole.
- :func:`load_checkpoint` turns every way a file can be wrong (missing, empty, truncated, not a
  checkpoint, a missing or malformed entry, another version) into a
  :class:`~optfn.errors.StateError` (a :class:`~optfn.errors.ConfigError` for the config),
  with anything taken from the file escaped.
- :func:`restore` checks everything first (layout, optimizer state and its tensors' shapes,
  scheduler state, model state), then loads; a refused restore changes nothing, and a failure
  while loading the optimizer or the scheduler puts both back as they were. The model is loaded
  last, after its keys and shapes were checked.

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.errors import OptfnError, SpecError, SpecTypeError, StateError
from optfn.io import MAX_DEPTH, from_dict, is_plain, to_dict
from optfn.io.problems import deep_text
from optfn.scheduler import ScheduleLR, is_lr
from optfn.specs.checks import brief, escaped, in_range, is_int, is_real, show

__all__ = [
    "FORMAT",
    "Checkpoint",
    "check_extra",
    "check_layout",
    "load_checkpoint",
    "param_layout",
    "restore",
    "save_checkpoint",
]

FORMAT = "optfn.checkpoint"
FORMAT_VERSION = 1
#: The entries of a checkpoint file, every one required.
ENTRIES = ("format", "version", "config", "layout", "optimizer", "scheduler", "model", "extra")
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
    """Write a checkpoint to ``path`` (atomically: a crash leaves the old file whole).

    ``config`` is any registered spec (an ``OptimConfig``, an optimizer spec...); ``extra``
    holds your own values, which ``weights_only`` loading must read back: ``None``, ``bool``,
    ``int``, ``float``, ``str``, ``bytes``, tensors, and lists, tuples and dicts with string
    keys of them (at most :data:`~optfn.io.MAX_DEPTH` levels deep). Anything else (a numpy
    array or scalar, a ``datetime``, a ``Path``, a spec: store ``to_dict(spec)``) is refused
    before anything is written, naming its key path and its kind (see :func:`check_extra`).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise SpecTypeError("save_checkpoint", "path", f"must be a str or a Path, got {show(path)}")
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
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "model": None if model is None else model.state_dict(),
        "extra": dict(extra),
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
    unknown = sorted((k for k in data if k not in ENTRIES), key=repr)
    if unknown:
        raise StateError(f"{name}: unknown entry {brief(unknown[0])} in an optfn checkpoint")
    layout = _read_layout(data["layout"], name)
    _check_optimizer_state(data["optimizer"], f"{name}: optimizer")
    _check_str_keys(data["scheduler"], f"{name}: scheduler", optional=True)
    _check_model_entries(data["model"], f"{name}: model")
    problem = extra_problem(data["extra"]) if isinstance(data["extra"], dict) else None
    if not isinstance(data["extra"], dict):
        raise StateError(f"{name}: extra: must be a dict, got {show(data['extra'])}")
    if problem is not None:
        raise StateError(f"{name}: {problem[0]}: {problem[1]}")
    return Checkpoint(
        config=from_dict(data["config"], source=f"{os.fspath(path)} [config]"),
        optimizer_state=data["optimizer"],
        layout=layout,
        scheduler_state=data["scheduler"],
        model_state=data["model"],
        extra=data["extra"],
    )


def _read_layout(raw: object, name: str) -> Layout:
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


def _check_str_keys(raw: object, where: str, *, optional: bool = False) -> None:
    if raw is None and optional:
        return
    if not isinstance(raw, Mapping):
        raise StateError(f"{where}: must be a dict (a state_dict), got {show(raw)}")
    bad = next((k for k in raw if type(k) is not str), None)
    if bad is not None:
        raise StateError(f"{where}: keys must be strings, got {show(bad)}")


def _check_model_entries(raw: object, where: str) -> None:
    if raw is None:
        return
    _check_str_keys(raw, where)
    assert isinstance(raw, Mapping)
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor) and not key.endswith("_extra_state"):
            raise StateError(f"{where}[{brief(key)}]: must be a tensor, got {show(value)}")


def _check_optimizer_state(raw: object, where: str) -> None:
    """The shape of an optimizer's ``state_dict``: ``{"state": {int: {str: ...}},
    "param_groups": [{"params": [int, ...], ...}, ...]}``."""
    _check_str_keys(raw, where)
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
        _check_str_keys(group, at)
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
        _check_str_keys(entry, f"{where}['state'][{key}]")


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


def restore(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    model: torch.nn.Module | None = None,
) -> None:
    """Load ``checkpoint`` into a freshly built optimizer (and scheduler, and model).

    Checks first, loads after: parameter names and shapes must match group by group, the
    optimizer state's tensors must have their parameters' shapes, the scheduler's state must
    hold the entries of this scheduler (each of its kind; a :class:`~optfn.ScheduleLR` also
    checks the schedule) and the model's state its keys and shapes; a scheduler or model given
    must have been saved. A mismatch is a :class:`~optfn.errors.StateError` (a ``ValueError``)
    and leaves everything unchanged. If loading itself fails, the optimizer and the scheduler
    are put back as they were (what torch's ``load_state_dict`` of either refuses is a
    ``StateError`` too); the model is loaded last, after its keys, shapes and kinds of tensors
    were checked.
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
    layout = _read_layout(checkpoint.layout, "checkpoint")
    check_layout(layout, param_layout(optimizer))
    if scheduler is not None and checkpoint.scheduler_state is None:
        raise StateError("scheduler: the checkpoint was saved without a scheduler state")
    if model is not None and checkpoint.model_state is None:
        raise StateError("model: the checkpoint was saved without a model state")
    _check_optimizer_fits(checkpoint.optimizer_state, optimizer)
    if scheduler is not None and checkpoint.scheduler_state is not None:
        _check_scheduler_state(checkpoint.scheduler_state, scheduler)  # kinds first
        if isinstance(scheduler, ScheduleLR):
            scheduler.check_state_dict(checkpoint.scheduler_state)  # e.g. another schedule
    if model is not None and checkpoint.model_state is not None:
        _check_model_entries(checkpoint.model_state, "model")
        _check_model_state(checkpoint.model_state, model)
    # every check passed: only now change anything, and undo it if loading fails
    with _Undo(optimizer, scheduler):
        with _refused("optimizer state"):
            optimizer.load_state_dict(checkpoint.optimizer_state)
        if scheduler is not None and checkpoint.scheduler_state is not None:
            with _refused("scheduler state"):
                scheduler.load_state_dict(checkpoint.scheduler_state)
        if model is not None and checkpoint.model_state is not None:
            model.load_state_dict(checkpoint.model_state)


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
        optimizers = [optimizer]
        other = getattr(scheduler, "optimizer", None)
        if isinstance(other, torch.optim.Optimizer) and other is not optimizer:
            optimizers.append(other)
        self.optimizers = [
            (o, o.__dict__.get("state"), o.param_groups, [dict(g) for g in o.param_groups])
            for o in optimizers
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


def _check_optimizer_fits(saved: object, optimizer: torch.optim.Optimizer) -> None:
    """The saved optimizer state fits ``optimizer``: groups, ids, hyper-parameter kinds, and the
    shapes of the per-parameter tensors (:data:`PARAM_SHAPED_STATE`)."""
    where = "optimizer state"
    _check_optimizer_state(saved, where)
    assert isinstance(saved, Mapping)
    groups = optimizer.param_groups
    saved_groups = saved["param_groups"]
    if len(saved_groups) != len(groups):
        raise StateError(
            f"{where}: has {len(saved_groups)} param group(s), the optimizer {len(groups)}"
        )
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


def _check_scheduler_state(saved: object, scheduler: Any) -> None:
    """The generic ``LRScheduler`` entries: the same keys as this scheduler's state, each of
    the same kind, ``last_epoch`` an integer >= 0 that the multipliers accept, one base LR and
    one multiplier entry per param group."""
    where = "scheduler state"
    _check_str_keys(saved, where)
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


def _check_model_state(saved: Mapping[str, Any], model: torch.nn.Module) -> None:
    """:class:`~optfn.errors.StateError` naming the first key or shape where they differ."""
    current = model.state_dict()
    for key in sorted(saved.keys() ^ current.keys()):
        where = "checkpoint" if key in saved else "model"
        raise StateError(f"model: {brief(key)} is only in the {where}; the model does not match")
    for key, value in saved.items():
        now = current[key]
        if not isinstance(now, torch.Tensor):
            continue
        if not isinstance(value, torch.Tensor):
            raise StateError(f"model: {brief(key)} must be a tensor, got {show(value)}")
        if tuple(value.shape) != tuple(now.shape):
            raise StateError(
                f"model: {brief(key)} has shape {list(value.shape)} in the checkpoint and "
                f"{list(now.shape)} in the model"
            )
        if value.device.type == "meta" or (value.is_complex() and not now.is_complex()):
            raise StateError(
                f"model: {brief(key)} is a {value.dtype} tensor on {value.device.type} in the "
                f"checkpoint, which cannot be copied into the model's {now.dtype}"
            )
