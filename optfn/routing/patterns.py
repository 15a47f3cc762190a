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
from torch import nn

__all__ = ["WILDCARDS", "NameMatcher", "matching_type", "name_matcher"]

WILDCARDS = frozenset("*?[")


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
    literal = [p for p in patterns if not WILDCARDS & set(p)]
    dotted = [p for p in literal if "." in p]
    # "*S" with a literal S matches some dotted tail exactly when the whole name ends with S
    ends = tuple(p[1:] for p in patterns if p.startswith("*") and not WILDCARDS & set(p[1:]))
    # "M.*" with a literal M (a module's parameters) matches some dotted tail exactly when
    # the name starts with "M." or holds ".M." (the tail then runs to the end: ".*" takes it)
    modules = tuple(
        p[:-2] for p in patterns if p.endswith(".*") and p[:-2] and not WILDCARDS & set(p[:-2])
    )
    wild = tuple(
        p
        for p in patterns
        if WILDCARDS & set(p)
        and not (p.startswith("*") and p[1:] in ends)
        and not (p.endswith(".*") and p[:-2] in modules)
    )
    test = _compile(
        frozenset(p for p in literal if "." not in p),
        frozenset(dotted),
        tuple("." + p for p in dotted),
        ends,
        _regex(wild),
    )
    if modules:
        heads, mids = tuple(m + "." for m in modules), tuple(f".{m}." for m in modules)
        test = _with_modules(test, heads, mids)
    return NameMatcher(patterns, test)


def _with_modules(
    rest: Callable[[str, str], bool], heads: tuple[str, ...], mids: tuple[str, ...]
) -> Callable[[str, str], bool]:
    """``rest``, or the name lies under one of the modules (``heads`` = ``"M."``, ``mids`` =
    ``".M."``)."""
    if len(mids) == 1:
        (mid,) = mids
        return lambda name, lst: name.startswith(heads) or mid in name or rest(name, lst)
    return lambda name, lst: (
        name.startswith(heads) or any(m in name for m in mids) or rest(name, lst)
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


_NOT_MATCHED = frozenset({nn.Module, object})


_TYPE_HITS: dict[tuple[type, tuple[str, ...]], str | None] = {}


def matching_type(cls: type, names: tuple[str, ...]) -> str | None:
    """The name of the first class in ``cls``'s MRO that one of ``names`` (class names or
    class-name patterns) matches by class name or qualified name, else ``None``; ``nn.Module``
    and ``object`` never match. Cached: classes and rules are few, parameters many."""
    key = (cls, names)
    try:
        return _TYPE_HITS[key]
    except KeyError:
        pass
    if len(_TYPE_HITS) > 4096:  # classes made on the fly: keep the cache bounded
        _TYPE_HITS.clear()
    hit = _TYPE_HITS[key] = _first_match(cls, names)
    return hit


def _first_match(cls: type, names: tuple[str, ...]) -> str | None:
    exact = frozenset(n for n in names if not WILDCARDS & set(n))
    wild = [n for n in names if WILDCARDS & set(n)]
    regex = re.compile("|".join(fnmatch.translate(w) for w in wild)) if wild else None
    for base in cls.__mro__:
        if base in _NOT_MATCHED:
            continue
        short = base.__name__
        # the class's own path, and the shorter public ones a package re-exports it under:
        # torch.nn.modules.normalization.LayerNorm is also torch.nn.LayerNorm
        parts = base.__module__.split(".")
        paths = [f"{'.'.join(parts[:k])}.{base.__qualname__}" for k in range(len(parts), 0, -1)]
        if short in exact or any(p in exact for p in paths):
            return short
        if regex is not None and (regex.fullmatch(short) or regex.fullmatch(paths[0])):
            return short
    return None

