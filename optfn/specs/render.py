"""Rendering values in messages: bounded, depth-limited, never failing, escapes escaped.

Every value an optfn message shows goes through :func:`brief` (:func:`show` adds its kind),
every free text (an exception's words, a file name) through :func:`escaped`, so that no input
can make a message huge, crash it, or put terminal escape codes into it.

>>> brief(list(range(100)))
'[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21...'
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SHOW_WIDTH", "brief", "escaped", "show"]

#: The most characters a value takes in a message (:func:`brief`); longer ones end in ``...``.
SHOW_WIDTH = 80
#: Containers nested deeper than this are shown as ``[...]``/``{...}`` in a message.
_SHOW_DEPTH = 4
#: Integers with more bits than this are shown by their size, not their digits.
_SHOW_INT_BITS = 256


class _Full(Exception):
    """The rendering is already longer than its width: stop."""


def _safe_repr(val: object) -> str:  # repr() that never fails
    try:
        text = repr(val)
    except Exception:  # a repr that fails (too deep, too many digits, a bug in it)
        return f"<{type(val).__name__} object>"
    return text if isinstance(text, str) else f"<{type(val).__name__} object>"


def brief(val: object, width: int = SHOW_WIDTH) -> str:
    r"""``repr(val)`` bounded to ``width`` characters (``...`` at the end if cut), never failing.

    Containers are shown at most a few levels deep (deeper ones as ``[...]``), strings with
    their control characters escaped (as ``repr`` does), huge integers by their size; the work
    done is bounded by ``width``, not by the size or depth of ``val``.

    >>> print(brief("\x1b[31mred"))
    '\x1b[31mred'
    >>> brief([[[[[[1]]]]]])
    '[[[[[...]]]]]'
    >>> brief(10**1000)
    '<int of about 1001 digits>'
    """
    out: list[str] = []
    size = [0]

    def emit(text: str) -> None:
        out.append(text)
        size[0] += len(text)
        if size[0] > width:
            raise _Full

    def walk(v: object, depth: int) -> None:
        if isinstance(v, (str, bytes)):
            emit(_safe_repr(v[: width + 1]))
        elif isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > _SHOW_INT_BITS:
            digits = math.floor(math.log10(abs(v))) + 1  # math.log10 takes any int
            emit(f"<{'-' if v < 0 else ''}int of about {digits} digits>")
        elif isinstance(v, (list, tuple, dict)) and type(v) in (list, tuple, dict):
            pair = {list: "[]", tuple: "()", dict: "{}"}[type(v)]
            opening, closing = pair[0], pair[1]
            if depth >= _SHOW_DEPTH and len(v):
                emit(f"{opening}...{closing}")
                return
            emit(opening)
            items: Any = v.items() if isinstance(v, dict) else v
            for i, item in enumerate(items):
                if i:
                    emit(", ")
                if isinstance(v, dict):
                    walk(item[0], depth + 1)
                    emit(": ")
                    walk(item[1], depth + 1)
                else:
                    walk(item, depth + 1)
            emit("," + closing if type(v) is tuple and len(v) == 1 else closing)
        else:
            emit(_safe_repr(v))

    try:
        walk(val, 0)
    except _Full:
        pass
    text = "".join(out)
    return text if len(text) <= width else text[: width - 3] + "..."


def show(val: object, width: int = SHOW_WIDTH) -> str:
    """:func:`brief` plus the kind: ``"'3e-4' (str)"``.

    >>> show([0.9] * 40)  # doctest: +ELLIPSIS
    '[0.9, 0.9, ..., 0.9,... (list)'
    """
    return f"{brief(val, width)} ({type(val).__name__})"


def escaped(text: object, width: int = 200) -> str:
    r"""Free text (an exception's message, a file name) with non-printable characters escaped
    (``\x1b``, ``\n``, ``\ud800``) and at most ``width`` characters (``...`` if cut).

    >>> print(escaped("bad key \x1b[2J"))
    bad key \x1b[2J
    """
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:
            text = f"<{type(text).__name__} object>"
    s = str(text)[: width + 1]
    out = "".join(c if c.isprintable() else _safe_repr(c)[1:-1] for c in s)
    return out if len(out) <= width else out[: width - 3] + "..."
