"""A griffe extension for the API reference: optfn's docstrings are written for ``help()`` and
doctest, not for Markdown. Before mkdocstrings renders them, this

- fences every doctest example (a run of lines from ``>>>`` to the next blank line) as a
  ```` ```pycon ```` block, so that ``>>>`` is not read as a quote and the outputs
  (``[0.01, 0.0]``) are not read as links;
- fences every reStructuredText simple table (rows between ``=====  =====`` borders) as a
  ```` ```text ```` block, so that its columns stay aligned;
- turns Sphinx roles (``:class:`optfn.Join```, ``:func:`~optfn.io.to_toml```) into inline code.

The docstrings themselves are not changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc|py:\w+):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _table_end(lines: list[str], start: int) -> int | None:
    """The last line of the simple table whose top border is ``lines[start]``, or None."""
    borders = 1
    for j in range(start + 1, len(lines)):
        if _BORDER.match(lines[j]):
            borders += 1
            if borders >= 2 and (j + 1 == len(lines) or not lines[j + 1].strip()):
                return j
    return None


def _blank_before(out: list[str]) -> None:
    """A fence opens a block of its own: after a blank line."""
    if out and out[-1].strip():
        out.append("")


def fence_doctests(text: str) -> str:
    """``text`` with each doctest example fenced as pycon, each simple table as text, and
    Sphinx roles as inline code."""
    out: list[str] = []
    lines = text.splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        end = _table_end(lines, i) if not in_fence and _BORDER.match(line) else None
        if end is not None:
            indent = line[: len(line) - len(stripped)]
            _blank_before(out)
            out += [f"{indent}```text", *lines[i : end + 1], f"{indent}```"]
            i = end + 1
            continue
        if not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            _blank_before(out)
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line if in_fence else _ROLE.sub(_role, line))
        i += 1
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Rewrites every docstring of the loaded objects (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
