"""Rendering problems: one ``"path: reason"`` line per problem, every value bounded.

Values are shown by :func:`optfn.specs.render.brief` (at most
:data:`~optfn.specs.checks.SHOW_WIDTH` characters, a few levels deep, control characters
escaped), free text by :func:`~optfn.specs.render.escaped`, and a key of the user's that is not
a plain name (``lr``, ``betas``) by its bounded ``repr``, so that no input can make a problem
line huge or put terminal escape codes into it.

Data nested deeper than :data:`MAX_DEPTH` levels is refused before anything recurses into it
(:func:`nesting_problem`).

>>> from optfn.errors import SpecError
>>> render_problems(SpecError("AdamSpec", "eps", "must be > 0, got 0"), "optimizer")
['optimizer.eps: must be > 0, got 0']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.render import SHOW_WIDTH, brief, escaped, show

__all__ = [
    "MAX_DEPTH",
    "ROOT",
    "deep_text",
    "join_path",
    "key_text",
    "nesting_problem",
    "render_problems",
    "show",
]

ROOT = "(top level)"

#: The deepest nesting of mappings and lists that optfn reads (a config, a checkpoint's
#: ``extra``): the top-level table is level 1. optfn's own configs use a few levels; deeper
#: data is refused before anything recurses into it.
MAX_DEPTH = 64

#: The most characters of a path shown in a problem line.
_PATH_WIDTH = 120
#: The most characters of a free-text reason (an exception's own message) in a problem line.
_REASON_WIDTH = 2000

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_text(key: object) -> str:
    """A key of the user's as a path segment: as is if it is a plain name, else its
    bounded ``repr`` (so that control characters are escaped).

    >>> key_text("betas"), key_text("\\x1b[2J"), key_text(3)
    ('betas', "'\\\\x1b[2J'", '3')
    """
    if isinstance(key, str) and len(key) <= SHOW_WIDTH and _PLAIN_KEY.fullmatch(key):
        return key
    return brief(key)


def join_path(path: str, segment: str) -> str:
    if not path:
        return segment.lstrip(".")
    return path + (segment if segment.startswith("[") else "." + segment.lstrip("."))


def _bounded_path(path: str) -> str:
    return path if len(path) <= _PATH_WIDTH else path[: _PATH_WIDTH - 3] + "..."


def deep_text() -> str:
    """The reason given for data nested too deep."""
    return f"nested deeper than {MAX_DEPTH} levels (optfn's limit for configs and checkpoints)"


def nesting_problem(data: object, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first mapping or list nested deeper than ``limit`` levels in ``data``,
    or ``None``; a walk with its own stack, so that it never recurses itself.

    >>> deep: list = []
    >>> for _ in range(100):
    ...     deep = [deep]
    >>> nesting_problem({"betas": deep}, limit=3)
    'betas[0][0]'
    >>> nesting_problem({"betas": [0.9, 0.95]}) is None
    True
    """
    if not isinstance(data, (Mapping, list, tuple)):
        return None
    # (container, depth, parent entry, key in parent)
    stack: list[tuple[Any, int, Any, Any]] = [(data, 1, None, None)]
    while stack:
        entry = stack.pop()
        obj, depth, _, _ = entry
        if depth > limit:
            keys = []
            node: Any = entry
            while node[2] is not None:
                keys.append(node[3])
                node = node[2]
            path = ""
            for key in reversed(keys):
                path = join_path(path, f"[{key}]" if isinstance(key, int) else key_text(key))
            return _bounded_path(path) or ROOT
        items = obj.items() if isinstance(obj, Mapping) else enumerate(obj)
        for key, val in items:
            if isinstance(val, (Mapping, list, tuple)):
                if isinstance(obj, Mapping) and isinstance(key, int):
                    key = brief(key)  # a mapping's int key, not an index
                stack.append((val, depth + 1, entry, key))
    return None


def _unknown_key(path: str, key: object, allowed: list[str]) -> str:
    initials = [a for a in allowed if "".join(w[:1] for w in a.split("_")) == key]
    near = initials or difflib.get_close_matches(str(key)[:SHOW_WIDTH], allowed, n=1)
    hint = f"did you mean {near[0]!r}?" if near else "allowed: " + ", ".join(allowed)
    return f"{_bounded_path(join_path(path, key_text(key)))}: unknown key ({hint})"


def render_problems(exc: BaseException, path: str = "") -> list[str]:
    """One ``"path: reason"`` line per problem in a (cattrs) structuring error.

    A :class:`~optfn.errors.SpecError` raised by a spec's validator is reported at the path of
    the spec plus the error's ``field``, with its own ``reason``.

    >>> render_problems(SpecError("AdamSpec", "eps", "must be > 0, got 0"), "optimizer")
    ['optimizer.eps: must be > 0, got 0']
    """
    if isinstance(exc, ClassValidationError):
        with_notes, rest = exc.group_exceptions()
        out = [p for e, n in with_notes for p in render_problems(e, join_path(path, n.name))]
        return out + [p for e in rest for p in render_problems(e, path)]
    if isinstance(exc, IterableValidationError):
        with_index, rest_i = exc.group_exceptions()
        out = [
            p for e, n in with_index for p in render_problems(e, join_path(path, f"[{n.index}]"))
        ]
        return out + [p for e in rest_i for p in render_problems(e, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl) if a.init]
        return [_unknown_key(path, k, allowed) for k in sorted(exc.extra_fields, key=str)]
    where = _bounded_path(path) or ROOT
    if isinstance(exc, (SpecError, SpecTypeError)):
        field = _bounded_path(join_path(path, exc.field))
        return [f"{field}: {escaped(exc.reason, _REASON_WIDTH)}"]
    if isinstance(exc, KeyError):  # cattrs: a required field is missing
        return [f"{where}: required field missing"]
    if isinstance(exc, (ValueError, TypeError)):
        return [f"{where}: {escaped(exc, _REASON_WIDTH)}"]
    return [f"{where}: {type(exc).__name__}: {escaped(exc, _REASON_WIDTH)}"]
