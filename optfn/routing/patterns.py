"""Name patterns: fnmatch syntax over dotted names, matched against a whole name or any tail
of it that starts after a dot (the one matcher of optfn).

``"bias"`` matches ``"bias"`` and ``"encoder.fc.bias"``; ``"head.*"`` matches
``"head.weight"`` and ``"model.head.weight"`` but not ``"multihead.weight"``.

>>> from optfn.routing.patterns import name_matcher
>>> name_matcher(("head.*", "bias")).first("model.head.bias")
'head.*'
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache

import attrs

__all__ = ["NameMatcher", "name_matcher"]

_WILDCARDS = frozenset("*?[")


def _regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching a name whose whole or dotted tail matches any of ``patterns``."""
    if not patterns:
        return None
    body = "|".join(fnmatch.translate(p)[: -len(r"\Z")] for p in patterns)  # '(?s:BODY)\Z'
    return re.compile(r"(?:\A|\.)(?:" + body + r")\Z", re.DOTALL)


@attrs.frozen
class NameMatcher:
    """Compiled name patterns: the one way optfn matches parameter and module names.

    Built by :func:`name_matcher` (cached per tuple of patterns). A literal pattern without a
    dot (``"bias"``) matches exactly when the name's last component equals it: one set
    lookup. ``"*S"`` with a literal ``S`` is one ``str.endswith``. A literal dotted pattern
    matches the whole name or a dotted tail. Other wildcard patterns go through one regex.

    >>> m = name_matcher(("bias", "head.*"))
    >>> m.matches("encoder.fc.bias"), m.matches("multihead.weight"), m.first("model.head.bias")
    (True, False, 'head.*')
    """

    patterns: tuple[str, ...]
    last: frozenset[str]
    exact: frozenset[str]
    suffixes: tuple[str, ...]
    ends: tuple[str, ...]
    regex: re.Pattern[str] | None

    def matches(self, name: str, last: str | None = None) -> bool:
        """Whether any pattern matches ``name`` (``last``: its last component, if known)."""
        if last is None:
            last = name.rpartition(".")[2]
        return (
            last in self.last
            or (bool(self.ends) and name.endswith(self.ends))
            or (bool(self.suffixes) and (name in self.exact or name.endswith(self.suffixes)))
            or (self.regex is not None and self.regex.search(name) is not None)
        )

    def first(self, name: str) -> str | None:
        """The first pattern that matches ``name`` (to explain a match), or ``None``."""
        for pat in self.patterns:
            if name_matcher((pat,)).matches(name):
                return pat
        return None


@cache
def name_matcher(patterns: tuple[str, ...]) -> NameMatcher:
    """The :class:`NameMatcher` for ``patterns`` (no patterns: a matcher that matches nothing).

    >>> name_matcher(("*_bias",)).matches("attn.in_proj_bias")
    True
    """
    literal = [p for p in patterns if not _WILDCARDS & set(p)]
    dotted = [p for p in literal if "." in p]
    # "*S" with a literal S matches some dotted tail exactly when the whole name ends with S
    ends = tuple(p[1:] for p in patterns if p.startswith("*") and not _WILDCARDS & set(p[1:]))
    wild = tuple(
        p for p in patterns if _WILDCARDS & set(p) and not (p.startswith("*") and p[1:] in ends)
    )
    return NameMatcher(
        patterns=patterns,
        last=frozenset(p for p in literal if "." not in p),
        exact=frozenset(dotted),
        suffixes=tuple("." + p for p in dotted),
        ends=ends,
        regex=_regex(wild),
    )
