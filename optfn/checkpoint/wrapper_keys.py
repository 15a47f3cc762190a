"""Matching a saved model state to a model by name, seen through torch's wrappers: a model
saved bare, or under ``torch.compile`` (``_orig_mod.``) or DDP (``module.``), restores into
the model as it is now, wrapped or not (:func:`fit_model_state`).

>>> import torch
>>> from optfn.checkpoint.wrapper_keys import fit_model_state
>>> class Wrapper(torch.nn.Module):  # stands for DDP: holds the model as ``module``
...     def __init__(self, module):
...         super().__init__()
...         self.module = module
>>> saved = Wrapper(torch.nn.Linear(2, 1)).state_dict()
>>> list(saved)
['module.weight', 'module.bias']
>>> list(fit_model_state(saved, torch.nn.Linear(2, 1)))
['weight', 'bias']
>>> fit_model_state(saved, torch.nn.Linear(3, 1))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
optfn.errors.StateError: model: 'weight' has shape [1, 2] in the checkpoint and [1, 3] in ...
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import torch

from optfn.errors import StateError
from optfn.routing.walk import unwrap
from optfn.specs.render import brief, show

__all__ = ["WRAPPER_SLOTS", "fit_model_state"]

#: The names under which torch's wrappers hold the model they wrap, as ``state_dict`` keys show
#: them: torch.compile's ``_orig_mod`` and DistributedDataParallel's ``module`` (the wrappers
#: :func:`optfn.routing.walk.unwrap` sees through).
WRAPPER_SLOTS = ("_orig_mod", "module")
#: Names with more dot-separated parts than this are compared as they are, never unwrapped.
_MAX_PARTS = 256


def fit_model_state(saved: Mapping[str, Any], model: torch.nn.Module) -> Mapping[str, Any]:
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
