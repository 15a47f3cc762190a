"""Rendering problems: one ``"path: reason"`` line per problem, every value bounded.

>>> from optfn.errors import SpecError
>>> render_problems(SpecError("AdamSpec", "eps", "must be > 0, got 0"), "optimizer")
['optimizer.eps: must be > 0, got 0']
"""

from __future__ import annotations

import difflib

import attrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from optfn.errors import SpecError, SpecTypeError

__all__ = ["ROOT", "join_path", "render_problems", "show"]

ROOT = "(top level)"


def show(val: object) -> str:
    text = repr(val)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(val).__name__})"


def join_path(path: str, segment: str) -> str:
    if not path:
        return segment.lstrip(".")
    return path + (segment if segment.startswith("[") else "." + segment.lstrip("."))


def _unknown_key(path: str, key: object, allowed: list[str]) -> str:
    initials = [a for a in allowed if "".join(w[:1] for w in a.split("_")) == key]
    near = initials or difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {near[0]!r}?" if near else "allowed: " + ", ".join(allowed)
    return f"{join_path(path, str(key))}: unknown key ({hint})"


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
    where = path or ROOT
    if isinstance(exc, (SpecError, SpecTypeError)):
        return [f"{join_path(path, exc.field)}: {exc.reason}"]
    if isinstance(exc, KeyError):  # cattrs: a required field is missing
        return [f"{where}: required field missing"]
    if isinstance(exc, (ValueError, TypeError)):
        return [f"{where}: {exc}"]
    return [f"{where}: {type(exc).__name__}: {exc}"]
