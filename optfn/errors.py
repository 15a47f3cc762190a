"""Error types of optfn.

Every error that a spec raises names the field, the value it got and what is allowed,
so that a config loader can put the spec's own words behind the path of the field:

>>> from optfn import AdamWSpec
>>> try:
...     AdamWSpec(learning_rate=-1.0)
... except ValueError as e:
...     print(e)
AdamWSpec.learning_rate: must be finite and > 0, got -1.0
"""

from __future__ import annotations

__all__ = ["ConfigError", "SpecError", "SpecTypeError"]


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


class SpecError(_FieldProblem, ValueError):
    """A field of a spec has a value outside its allowed range.

    ``str(err)`` is ``"Owner.field: reason"``; ``err.field`` and ``err.reason`` hold the parts.
    """

    def __init__(self, owner: str, field: str, reason: str) -> None:
        super().__init__(self._init_problem(owner, field, reason))


class SpecTypeError(_FieldProblem, TypeError):
    """A field of a spec got a value of the wrong kind (a string or a bool for a number...)."""

    def __init__(self, owner: str, field: str, reason: str) -> None:
        super().__init__(self._init_problem(owner, field, reason))


class ConfigError(ValueError):
    """Everything wrong with one serialized config, one line per problem, each with its path.

    ``err.problems`` is the list of lines, e.g.
    ``["optimizer.betas[1]: must be in [0, 1), got 1.2", "optimizer.lr: unknown key"]``.
    """

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid config{f' {source}' if source else ''}"
        body = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{head} ({n} problem{'s' if n != 1 else ''}):\n{body}")
