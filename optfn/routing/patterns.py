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
from collections.abc import Callable
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
    >>> m.matches("encoder.fc.bias"), m.matches("multihead.weight"), m.first("model.head.weight")
    (True, False, 'head.*')
    """

    patterns: tuple[str, ...]
    #: ``test(name, last)``: the match, compiled to only the checks these patterns need
    #: (``last`` is the name's last component); what the partition's hot loop calls.
    test: Callable[[str, str], bool] = attrs.field(eq=False, repr=False)

    def matches(self, name: str, last: str | None = None) -> bool:
        """Whether any pattern matches ``name`` (``last``: its last component, if known)."""
        return self.test(name, name.rpartition(".")[2] if last is None else last)

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
        patterns,
        _compile(
            frozenset(p for p in literal if "." not in p),
            frozenset(dotted),
            tuple("." + p for p in dotted),
            ends,
            _regex(wild),
        ),
    )


def _compile(
    last: frozenset[str],
    exact: frozenset[str],
    suffixes: tuple[str, ...],
    ends: tuple[str, ...],
    regex: re.Pattern[str] | None,
) -> Callable[[str, str], bool]:
    """The cheapest test for these parts: pattern sets without a regex (literal last
    components, ``*suffix`` patterns, dotted literals) get a one-line closure, the rest the
    general one."""
    if not regex:
        if not (ends or suffixes):
            return lambda name, lst: lst in last
        if not suffixes:
            return lambda name, lst: lst in last or name.endswith(ends)
        tails = ends + suffixes  # "*S" and a dotted literal's ".D" are both name endings
        return lambda name, lst: lst in last or name.endswith(tails) or name in exact
    search = regex.search if regex is not None else None

    def test(name: str, lst: str) -> bool:
        return (
            lst in last
            or (bool(ends) and name.endswith(ends))
            or (bool(suffixes) and (name in exact or name.endswith(suffixes)))
            or (search is not None and search(name) is not None)
        )

    return test
