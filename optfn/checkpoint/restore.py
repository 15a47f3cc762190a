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

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import torch
from torch.optim.lr_scheduler import LambdaLR

from optfn.checkpoint.files import (
    PARAM_SHAPED_STATE,
    Checkpoint,
    check_layout,
    check_model_entries,
    check_optimizer_state,
    check_str_keys,
    optimizer_class_name,
    param_layout,
    read_layout,
)
from optfn.errors import OptfnError, SpecTypeError, StateError
from optfn.io import is_plain
from optfn.routing.walk import unwrap
from optfn.scheduler import ScheduleLR, is_lr
from optfn.specs.checks import in_range, is_int, is_real
from optfn.specs.render import brief, escaped, show

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
    _check_optimizer_class(checkpoint.optimizer_class, optimizer)  # before a layout's details
    layout = read_layout(checkpoint.layout, "checkpoint")
    check_layout(layout, current_layout)
    if scheduler is not None and checkpoint.scheduler_state is None:
        raise StateError("scheduler: the checkpoint was saved without a scheduler state")
    if model is not None and checkpoint.model_state is None:
        raise StateError("model: the checkpoint was saved without a model state")
    _check_optimizer_fits(
        checkpoint.optimizer_state, optimizer, known_class=checkpoint.optimizer_class is not None
    )
    if scheduler is not None and checkpoint.scheduler_state is not None:
        _check_scheduler_state(checkpoint.scheduler_state, scheduler)  # kinds first
        if isinstance(scheduler, ScheduleLR):
            scheduler.check_state_dict(checkpoint.scheduler_state)  # e.g. another schedule
    model_state = None
    if model is not None and checkpoint.model_state is not None:
        check_model_entries(checkpoint.model_state, "model")
        model_state = _fit_model_state(checkpoint.model_state, model)
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


def _check_optimizer_class(saved: str | None, optimizer: torch.optim.Optimizer) -> None:
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


def _check_optimizer_fits(
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


def _check_scheduler_state(saved: object, scheduler: Any) -> None:
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


# ---- the model's state: names seen through torch.compile and DDP -----------------------------
#: The names under which torch's wrappers hold the model they wrap, as ``state_dict`` keys show
#: them: torch.compile's ``_orig_mod`` and DistributedDataParallel's ``module`` (the wrappers
#: :func:`optfn.routing.walk.unwrap` sees through).
WRAPPER_SLOTS = ("_orig_mod", "module")
#: Names with more dot-separated parts than this are compared as they are, never unwrapped.
_MAX_PARTS = 256


def _fit_model_state(saved: Mapping[str, Any], model: torch.nn.Module) -> Mapping[str, Any]:
    """The saved model state, keyed by ``model``'s own names, once its keys, shapes and kinds of
    tensors were checked; else a :class:`~optfn.errors.StateError` naming the first difference.

    Names match as they are or, failing that, as partition names parameters: without the
    wrapper parts of torch.compile (``_orig_mod.``) and DDP (``module.``), at any depth, on
    either side. The model's wrapper parts are known from its modules; a part of a saved name
    is only removed where every saved name below its parent has it and the names without it
    are exactly the model's, so a submodule really called ``module`` keeps its name.
    """
    current = model.state_dict()
    if saved.keys() == current.keys():
        _check_model_tensors(saved, current, [(k, k, k) for k in saved], "")
        return saved
    module_paths, model_removed = _unwrapped_module_paths(model)
    unwrapped = {key: _unwrapped_key(key, module_paths) for key in current}
    collide = len(set(unwrapped.values())) != len(unwrapped)
    pairs = None if collide else _match_names(saved.keys(), unwrapped.values())
    if pairs is None:
        _raise_key_mismatch(saved, current, None if collide else unwrapped, model_removed)
    saved_removed: dict[str, str] = {}
    for _, c, part in pairs:
        if part is not None:
            saved_removed[c.path] = saved_removed.get(c.path, "") + part + "."
    note = _unwrapped_note(saved_removed, model_removed)
    own_key = {name: key for key, name in unwrapped.items()}
    keys = [
        (s.key, own_key[c.key], c.key)
        for s, c, _ in pairs
        if s.key is not None and c.key is not None  # paired nodes both end a name, or neither
    ]
    _check_model_tensors(saved, current, keys, note)
    renamed: OrderedDict[str, Any] = OrderedDict((own, saved[key]) for key, own, _ in keys)
    metadata = getattr(saved, "_metadata", None)  # the modules' versions, keyed by their paths
    if isinstance(metadata, Mapping):
        saved_path = {c.path: s.path for s, c, _ in pairs}  # the wrapped module's path wins
        own_path = {name: path for path, name in sorted(module_paths.items(), key=_path_len)}
        renamed._metadata = OrderedDict(  # type: ignore[attr-defined]
            (own_path[name], metadata[path])
            for name, path in saved_path.items()
            if path in metadata and name in own_path
        )
    return renamed


def _path_len(item: tuple[str, str]) -> int:
    return len(item[0])


def _check_model_tensors(
    saved: Mapping[str, Any],
    current: Mapping[str, Any],
    keys: list[tuple[str, str, str]],
    note: str,
) -> None:
    """Each ``(saved key, model key, name shown)``: a tensor of the model's shape that can be
    copied into the model's tensor."""
    for key, own, name in keys:
        value, now = saved[key], current[own]
        if not isinstance(now, torch.Tensor):
            continue
        if not isinstance(value, torch.Tensor):
            raise StateError(f"model: {brief(name)} must be a tensor, got {show(value)}{note}")
        if tuple(value.shape) != tuple(now.shape):
            raise StateError(
                f"model: {brief(name)} has shape {list(value.shape)} in the checkpoint and "
                f"{list(now.shape)} in the model{note}"
            )
        if value.device.type == "meta" or (value.is_complex() and not now.is_complex()):
            raise StateError(
                f"model: {brief(name)} is a {value.dtype} tensor on {value.device.type} in the "
                f"checkpoint, which cannot be copied into the model's {now.dtype}{note}"
            )


def _unwrapped_module_paths(model: torch.nn.Module) -> tuple[dict[str, str], dict[str, str]]:
    """``{module path: the path without wrapper parts}`` for every module of ``model`` (as
    ``state_dict`` walks them), and ``{unwrapped path: the wrapper parts removed there}``."""
    paths: dict[str, str] = {}
    removed: dict[str, str] = {}
    stack: list[tuple[torch.nn.Module, str, str]] = [(model, "", "")]
    while stack:
        mod, path, name = stack.pop()
        paths[path] = name
        inner = unwrap(mod)
        for part, child in mod._modules.items():
            if child is None:
                continue
            child_path = f"{path}.{part}" if path else part
            if inner is not mod and unwrap(child) is inner:  # the wrapper's slot
                removed[name] = removed.get(name, "") + part + "."
                stack.append((child, child_path, name))
            else:
                stack.append((child, child_path, f"{name}.{part}" if name else part))
    return paths, removed


def _unwrapped_key(key: str, module_paths: Mapping[str, str]) -> str:
    path, dot, leaf = key.rpartition(".")
    name = module_paths.get(path)
    if name is None:  # not a module's entry (a state_dict hook's?): compared as it is
        return key
    return f"{name}{dot}{leaf}" if name else leaf


class _Node:
    """A node of the tree of dotted names: one part of a name, with the parts below it."""

    __slots__ = ("children", "key", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.children: dict[str, _Node] = {}
        self.key: str | None = None  # the whole name, where one ends here


def _tree(names: Iterable[str]) -> _Node:
    root = _Node("")
    for name in names:
        node = root
        for part in name.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node(f"{node.path}.{part}" if node.path else part)
            node = child
        node.key = name
    return root


_Pairs = list[tuple[_Node, _Node, str | None]]


def _match_names(saved: Iterable[str], unwrapped: Iterable[str]) -> _Pairs | None:
    """Pair the tree of saved names with the tree of the model's unwrapped names: each pair
    ``(saved node, unwrapped node, the wrapper part removed below the saved node or None)``,
    outer ones first; ``None`` if they cannot be paired."""
    saved, unwrapped = list(saved), list(unwrapped)
    if any(name.count(".") >= _MAX_PARTS for name in [*saved, *unwrapped]):
        return None
    return _pair(_tree(saved), _tree(unwrapped), set())


def _pair(s: _Node, c: _Node, failed: set[tuple[int, int]]) -> _Pairs | None:
    if (id(s), id(c)) in failed:
        return None
    if s.key is None and len(s.children) == 1:
        ((part, only),) = s.children.items()
        if part in WRAPPER_SLOTS:  # every saved name below here has it: try without it first
            inner = _pair(only, c, failed)
            if inner is not None:
                return [(s, c, part), *inner]
    if (s.key is None) == (c.key is None) and s.children.keys() == c.children.keys():
        out: _Pairs = [(s, c, None)]
        for part, child in s.children.items():
            below = _pair(child, c.children[part], failed)
            if below is None:
                break
            out.extend(below)
        else:
            return out
    failed.add((id(s), id(c)))
    return None


def _unwrapped_note(saved_removed: Mapping[str, str], model_removed: Mapping[str, str]) -> str:
    """`` (after removing the wrapper prefix '_orig_mod.' from the checkpoint's names)``..."""
    parts = []
    for removed, whose in ((saved_removed, "checkpoint's"), (model_removed, "model's")):
        if not removed:
            continue
        shown = [
            brief(prefix) + (f" after {brief(where + '.')}" if where else "")
            for where, prefix in list(removed.items())[:2]
        ]
        more = f" and {len(removed) - 2} more" if len(removed) > 2 else ""
        parts.append(f"{', '.join(shown)}{more} from the {whose} names")
    return f" (after removing the wrapper prefix {' and '.join(parts)})" if parts else ""


def _raise_key_mismatch(
    saved: Mapping[str, Any],
    current: Mapping[str, Any],
    unwrapped: Mapping[str, str] | None,
    model_removed: Mapping[str, str],
) -> NoReturn:
    """The first key only on one side, as compared with the fewest differences: the names as
    they are, or without leading wrapper parts (the saved names without 0, 1... of them against
    the model's unwrapped names)."""
    tries: list[tuple[set[str], set[str], str]] = [(set(saved), set(current), "")]
    if unwrapped is not None:
        mine, names, prefix = set(unwrapped.values()), list(saved), ""
        while True:
            tries.append(
                (set(names), mine, _unwrapped_note({"": prefix} if prefix else {}, model_removed))
            )
            first = names[0].partition(".")[0] if names else ""
            if first not in WRAPPER_SLOTS or not all(n.startswith(first + ".") for n in names):
                break
            names = [n[len(first) + 1 :] for n in names]
            prefix += first + "."
    theirs, mine, note = min((t for t in tries if t[0] ^ t[1]), key=lambda t: len(t[0] ^ t[1]))
    key = min(theirs ^ mine)
    where = "checkpoint" if key in theirs else "model"
    raise StateError(f"model: {brief(key)} is only in the {where}{note}; the model does not match")
