"""attrs validators shared by every spec: strict kinds, finite numbers, ranges.

Each validator raises :class:`optfn.errors.SpecError` (a ``ValueError``) or
:class:`optfn.errors.SpecTypeError` (a ``TypeError``) whose message names the owning class,
the field, the allowed range and the value. Booleans are never numbers here, strings never
numbers, and nothing is coerced.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError

__all__ = [
    "check_pattern",
    "check_real",
    "increasing_steps",
    "instance",
    "instance_tuple",
    "is_int",
    "is_real",
    "one_of",
    "opt",
    "pattern_tuple",
    "real",
    "real_tuple",
    "step_arg",
    "step_count",
    "str_tuple",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _owner(inst: Any) -> str:
    return type(inst).__name__


def is_real(v: object) -> bool:
    """True for Python ``int``/``float`` (and ``np.float64``, a float subclass), never ``bool``."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v: object) -> bool:
    """True for ``int`` (numpy ints excluded), never for ``bool``."""
    return isinstance(v, int) and not isinstance(v, bool)


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


def check_real(
    owner: str,
    field: str,
    v: object,
    lo: float | None,
    hi: float | None,
    lo_open: bool,
    hi_open: bool,
) -> None:
    rng = _range_text(lo, hi, lo_open, hi_open)
    if not is_real(v):
        raise SpecTypeError(
            owner, field, f"must be a number ({rng}), got {v!r} ({type(v).__name__})"
        )
    try:
        x = float(v)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range, e.g. 10**400
        x = math.inf
    bad = not math.isfinite(x)
    if not bad and lo is not None:
        bad = x <= lo if lo_open else x < lo
    if not bad and hi is not None:
        bad = x >= hi if hi_open else x > hi
    if bad:
        what = "finite and " + rng if rng != "a finite number" else rng
        raise SpecError(owner, field, f"must be {what}, got {v!r}")


def real(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Validator:
    """A finite real number within the given bounds (open or closed)."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        check_real(_owner(inst), attr.name, v, lo, hi, lo_open, hi_open)

    return check


def real_tuple(
    n: int, lo: float | None = None, hi: float | None = None, *, hi_open: bool = False
) -> Validator:
    """Exactly ``n`` finite numbers, each within ``[lo, hi]`` (``hi`` open if asked); a tuple."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        if not isinstance(v, tuple):
            raise SpecTypeError(
                owner, attr.name, f"must be a tuple of {n} numbers, got {v!r} ({type(v).__name__})"
            )
        if len(v) != n:
            raise SpecError(owner, attr.name, f"must have exactly {n} values, got {len(v)}: {v!r}")
        for i, x in enumerate(v):
            check_real(owner, f"{attr.name}[{i}]", x, lo, hi, False, hi_open)

    return check


def _steps_text(minimum: int, maximum: int | None) -> str:
    return f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"


def step_count(minimum: int = 0, maximum: int | None = None) -> Validator:
    """A whole number of steps ``>= minimum`` (and ``<= maximum`` if given); ``int`` only."""
    rng = _steps_text(minimum, maximum)

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not is_int(v):
            raise SpecTypeError(
                _owner(inst),
                attr.name,
                f"must be an integer {rng}, got {v!r} ({type(v).__name__})",
            )
        if v < minimum or (maximum is not None and v > maximum):
            raise SpecError(_owner(inst), attr.name, f"must be an integer {rng}, got {v!r}")

    return check


def increasing_steps(
    minimum: int = 1, maximum: int | None = None, *, min_len: int = 0
) -> Validator:
    """A tuple of at least ``min_len`` whole step numbers, each in range, strictly increasing."""
    rng = _steps_text(minimum, maximum)

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        if not isinstance(v, tuple):
            raise SpecTypeError(
                owner, attr.name, f"must be a tuple of integers, got {v!r} ({type(v).__name__})"
            )
        if len(v) < min_len:
            raise SpecError(
                owner, attr.name, f"must have at least {min_len} value(s), got {len(v)}: {v!r}"
            )
        for i, x in enumerate(v):
            field = f"{attr.name}[{i}]"
            if not is_int(x):
                raise SpecTypeError(
                    owner, field, f"must be an integer {rng}, got {x!r} ({type(x).__name__})"
                )
            if x < minimum or (maximum is not None and x > maximum):
                raise SpecError(owner, field, f"must be an integer {rng}, got {x!r}")
            if i and x <= v[i - 1]:
                raise SpecError(
                    owner,
                    field,
                    f"must be > {attr.name}[{i - 1}] = {v[i - 1]!r} (strictly increasing), "
                    f"got {x!r}",
                )

    return check


def one_of(*allowed: object) -> Validator:
    """One of a fixed set of values (compared by equality, kind checked too)."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not any(type(v) is type(a) and v == a for a in allowed):
            choices = ", ".join(repr(a) for a in allowed)
            raise SpecError(_owner(inst), attr.name, f"must be one of {choices}, got {v!r}")

    return check


def boolean(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    """``True`` or ``False``, nothing truthy."""
    if not isinstance(v, bool):
        raise SpecTypeError(
            _owner(inst), attr.name, f"must be true or false, got {v!r} ({type(v).__name__})"
        )


def opt(inner: Validator) -> Validator:
    """``None`` or whatever ``inner`` accepts."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if v is not None:
            inner(inst, attr, v)

    return check


def str_tuple(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    """A tuple of non-empty strings."""
    owner = _owner(inst)
    if not isinstance(v, tuple):
        raise SpecTypeError(
            owner, attr.name, f"must be a tuple of strings, got {v!r} ({type(v).__name__})"
        )
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise SpecTypeError(
                owner, f"{attr.name}[{i}]", f"must be a string, got {s!r} ({type(s).__name__})"
            )
        if not s:
            raise SpecError(owner, f"{attr.name}[{i}]", "must be a non-empty string, got ''")


def check_pattern(owner: str, field: str, pat: str) -> None:
    """A name pattern: fnmatch syntax over dotted names, no whitespace, balanced brackets."""
    if any(c.isspace() for c in pat):
        raise SpecError(owner, field, f"a name pattern cannot contain whitespace, got {pat!r}")
    if pat.count("[") != pat.count("]"):
        raise SpecError(owner, field, f"unbalanced '[' ']' in name pattern {pat!r}")


def pattern_tuple(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    """A tuple of name patterns (see :func:`check_pattern`)."""
    str_tuple(inst, attr, v)
    for i, pat in enumerate(v):
        check_pattern(_owner(inst), f"{attr.name}[{i}]", pat)


def to_tuple(v: Any) -> Any:
    """attrs converter: a list (as configs carry) becomes a tuple; anything else is left as is.

    It changes the container only, never the values inside, so the validators still see
    exactly what the caller passed. A string is left alone (and then rejected by the validator).
    """
    if isinstance(v, list):
        return tuple(v)
    return v


def instance(cls: type) -> Validator:
    """An instance of ``cls`` (a nested spec); the message names the field and the kind."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not isinstance(v, cls):
            raise SpecTypeError(
                _owner(inst),
                attr.name,
                f"must be a {cls.__name__}, got {v!r} ({type(v).__name__})",
            )

    return check


def instance_tuple(cls: type, *, min_len: int = 0) -> Validator:
    """A tuple of at least ``min_len`` instances of ``cls`` (nested specs)."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        if not isinstance(v, tuple):
            raise SpecTypeError(
                owner,
                attr.name,
                f"must be a tuple of {cls.__name__}s, got {v!r} ({type(v).__name__})",
            )
        if len(v) < min_len:
            raise SpecError(
                owner, attr.name, f"must have at least {min_len} value(s), got {len(v)}: {v!r}"
            )
        for i, x in enumerate(v):
            if not isinstance(x, cls):
                raise SpecTypeError(
                    owner,
                    f"{attr.name}[{i}]",
                    f"must be a {cls.__name__}, got {x!r} ({type(x).__name__})",
                )

    return check


def step_arg(owner: str, field: str, v: object, minimum: int = 0) -> int:
    """A whole number ``>= minimum`` passed to a function (a step, a count), as an ``int``.

    Python and numpy integers pass; a bool, a float (even ``2.0``) or a string is a
    :class:`SpecTypeError`, a value below ``minimum`` a :class:`SpecError`.
    """
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise SpecTypeError(
            owner, field, f"must be an integer >= {minimum}, got {v!r} ({type(v).__name__})"
        )
    n = int(v)
    if n < minimum:
        raise SpecError(owner, field, f"must be an integer >= {minimum}, got {v!r}")
    return n
