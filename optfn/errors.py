"""Error types of optfn: one base, one class per kind of mistake.

- :class:`OptfnError`: the base of every error optfn raises on purpose (a plain ``Exception``
  mixin), so that a caller (and the ``optfn`` command) can catch optfn's own errors and let a
  bug's traceback through.
- :class:`SpecError` (a ``ValueError``) / :class:`SpecTypeError` (a ``TypeError``): a field of
  a spec, or an argument given to one of optfn's functions (a step, a param group's
  hyper-parameter), has a value outside its range / of the wrong kind.
- :class:`StateError` (a ``ValueError``): a saved state (an optimizer's or a scheduler's
  ``state_dict``, a checkpoint) does not fit the object it is loaded into.
- :class:`ConfigError` (a ``ValueError``): everything wrong with one serialized config.

Every error that a spec raises names the field, the value it got and what is allowed,
so that a config loader can put the spec's own words behind the path of the field:

>>> from optfn import AdamWSpec
>>> try:
...     AdamWSpec(learning_rate=-1.0)
... except OptfnError as e:
...     print(type(e).__name__, isinstance(e, ValueError), e.field)
...     print(e)
SpecError True learning_rate
AdamWSpec.learning_rate: must be finite and > 0, got -1.0
"""

from __future__ import annotations

__all__ = ["ConfigError", "OptfnError", "SpecError", "SpecTypeError", "StateError"]


class OptfnError(Exception):
    """Base of every error optfn raises on purpose; each concrete class is also a builtin one.

    ``except OptfnError`` catches a user's mistake as optfn reports it (a bad spec value, a
    state that does not fit, a bad config file) and nothing else.
    """


class _FieldProblem:
    """Mixin carrying where a problem is (``owner.field``) and what it is (``reason``)."""

    owner: str
    field: str
    reason: str

    def _init_problem(self, owner: str, field: str, reason: str) -> str:
        self.owner = owner
        self.field = field
        self.reason = reason
        return f"{owner}.{field}: {reason}" if owner else f"{field}: {reason}"


class SpecError(_FieldProblem, OptfnError, ValueError):
    """A value outside its allowed range: a spec's field, or an argument of an optfn function.

    ``str(err)`` is ``"Owner.field: reason"`` (``"field: reason"`` when ``owner`` is empty, as
    for a function's argument: ``owner`` is then the function's name or empty, ``field`` the
    argument, e.g. ``"param group 0 (route 'muon')"``); ``err.owner``, ``err.field`` and
    ``err.reason`` hold the parts.
    """

    def __init__(self, owner: str, field: str, reason: str) -> None:
        super().__init__(self._init_problem(owner, field, reason))


class SpecTypeError(_FieldProblem, OptfnError, TypeError):
    """A value of the wrong kind (a string or a bool for a number...), a field or an argument.

    Same parts as :class:`SpecError`.
    """

    def __init__(self, owner: str, field: str, reason: str) -> None:
        super().__init__(self._init_problem(owner, field, reason))


class StateError(OptfnError, ValueError):
    """A saved state does not fit what it is loaded into.

    Raised when a checkpoint's layout, model state or missing parts do not match the fresh
    objects, when a scheduler's ``state_dict`` was saved under another schedule, and when an
    optimizer's ``state_dict`` has other param groups (other routes, another count).
    """


class ConfigError(OptfnError, ValueError):
    """Everything wrong with one serialized config, one line per problem, each with its path.

    ``err.problems`` is the list of lines, e.g.
    ``["optimizer.betas[1]: must be in [0, 1), got 1.2", "optimizer.lr: unknown key"]``;
    ``str(err)`` shows the first :attr:`MAX_SHOWN` of them, and ``source`` (the file) with any
    non-printable character escaped.
    """

    #: The message lists at most this many problems (``problems`` holds them all).
    MAX_SHOWN = 50

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid config{f' {_printable(source)}' if source else ''}"
        shown = self.problems[: self.MAX_SHOWN]
        body = "\n".join(f"  {p}" for p in shown)
        n = len(self.problems)
        if n > len(shown):
            body += f"\n  ... and {n - len(shown)} more"
        super().__init__(f"{head} ({n} problem{'s' if n != 1 else ''}):\n{body}")


def _printable(text: object) -> str:
    """``text`` as is if every character prints, else its ``repr`` (escape codes escaped)."""
    s = str(text)
    return s if s.isprintable() else repr(s)
