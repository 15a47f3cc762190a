"""Name patterns: fnmatch syntax over dotted names, matched against a whole name or any tail
of it that starts after a dot (the one matcher of optfn).

``"bias"`` matches ``"bias"`` and ``"encoder.fc.bias"``; ``"head.*"`` matches
``"head.weight"`` and ``"model.head.weight"`` but not ``"multihead.weight"``.

>>> from optfn.routing.patterns import first_match
>>> first_match(("head.*", "bias"), "model.head.bias")
'head.*'
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache

import attrs

__all__ = ["NameMatcher", "compile_patterns", "first_match", "name_matcher"]


@cache
def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching a name whose whole or dotted tail matches any of ``patterns``."""
    if not patterns:
        return None
    parts = []
    for pat in patterns:
        rx = fnmatch.translate(pat)  # '(?s:BODY)\\Z'
        parts.append(rx[: -len(r"\Z")])
    return re.compile(r"(?:\A|\.)(?:" + "|".join(parts) + r")\Z", re.DOTALL)


_WILDCARDS = frozenset("*?[")


@attrs.frozen
class NameMatcher:
    """Compiled name patterns, with fast paths for the common literal ones.

    A literal pattern without a dot (``"bias"``) matches exactly when the parameter's own
    name (its last component) equals it: one set lookup. A literal dotted pattern matches the
    whole name or a dotted tail. Wildcard patterns go through one regex.
    """

    last: frozenset[str]
    exact: frozenset[str]
    suffixes: tuple[str, ...]
    ends: tuple[str, ...]
    regex: re.Pattern[str] | None

    def __call__(self, name: str, last: str) -> bool:
        return (
            last in self.last
            or (bool(self.ends) and name.endswith(self.ends))
            or (bool(self.suffixes) and (name in self.exact or name.endswith(self.suffixes)))
            or (self.regex is not None and self.regex.search(name) is not None)
        )


@cache
def name_matcher(patterns: tuple[str, ...]) -> NameMatcher | None:
    """A :class:`NameMatcher` for ``patterns`` (``None`` when there are none)."""
    if not patterns:
        return None
    literal = [p for p in patterns if not _WILDCARDS & set(p)]
    dotted = [p for p in literal if "." in p]
    # "*S" with a literal S matches some dotted tail exactly when the whole name ends with S
    ends = tuple(p[1:] for p in patterns if p.startswith("*") and not _WILDCARDS & set(p[1:]))
    wild = tuple(
        p for p in patterns if _WILDCARDS & set(p) and not (p.startswith("*") and p[1:] in ends)
    )
    return NameMatcher(
        last=frozenset(p for p in literal if "." not in p),
        exact=frozenset(dotted),
        suffixes=tuple("." + p for p in dotted),
        ends=ends,
        regex=compile_patterns(wild),
    )


def first_match(patterns: tuple[str, ...], name: str) -> str | None:
    """The first pattern of ``patterns`` that matches ``name`` (for explaining), or ``None``."""
    for pat in patterns:
        rx = compile_patterns((pat,))
        if rx is not None and rx.search(name):
            return pat
    return None
