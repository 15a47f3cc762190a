"""The one checker set of optfn: what a number, an integer, a step and a range are.

Every place that checks a number uses these: the spec fields' attrs validators, the
hyper-parameters of :class:`~optfn.optim.muon.MuonWithAdamW`'s param groups, the arguments of
optfn's functions (steps, counts, LR multipliers) and the config loader's scalar hooks. One
rule everywhere:

- a **real number** is a :class:`numbers.Real`: Python ``int``/``float``, numpy integer and
  floating scalars (``np.float32(1e-3)``, ``np.int64(5)``) and ``fractions.Fraction``, never
  a ``bool`` (nor numpy's ``bool_``), never a string, never a ``decimal.Decimal``, never a
  0-d tensor; it must be one that a float holds exactly (``2**53 + 1`` and ``Fraction(1,
  10)`` are refused: no float equals them);
- an **integer** is a :class:`numbers.Integral` (Python ``int``, numpy integers), never a
  ``bool``; ``2.0`` is not an integer;
- a spec **stores** what a file holds: a float field the Python ``float`` equal to the number
  it was given (``np.float32(0.1)`` becomes ``float(np.float32(0.1))``, exactly), an integer
  field the Python ``int`` (the field validators do it, after checking; strings and bools are
  refused, never converted);
- a **bool** is ``True`` or ``False``, nothing truthy.

Predicates (``True``/``False``, never raise): :func:`is_real`, :func:`is_int`,
:func:`is_bool`, :func:`in_range`, :func:`exact_float` (and :func:`plain_number`, a numpy
scalar as the Python number it equals). Every value that a message shows is rendered by
:mod:`optfn.specs.render` (bounded, depth-limited, control characters escaped). Checks for
values handed to a function (raise
:class:`~optfn.errors.SpecError`, a ``ValueError``, or :class:`~optfn.errors.SpecTypeError`,
a ``TypeError``, naming the owner, the field, the allowed range and the value):
:func:`check_real`, :func:`real_arg`, :func:`step_arg`. attrs validators for spec fields, each
with a ``repr`` that says what it checks: :func:`real`, :func:`real_tuple`, :func:`step_count`,
:func:`increasing_steps`, :func:`one_of`, :data:`boolean`, :func:`instance`,
:func:`instance_tuple`, :data:`str_tuple`, :data:`pattern_tuple`; ``None``-or-something is
``attrs.validators.optional(...)``.

>>> import numpy as np
>>> is_real(np.float32(0.5)), is_real(True), is_real("0.5"), is_int(np.int64(3)), is_int(3.0)
(True, False, False, True, False)
>>> in_range(0.5, 0.0, 1.0, hi_open=True), in_range(float("nan"))
(True, False)
>>> real_arg("f", "lr", np.float32(0.25), 0.0, lo_open=True)
0.25
>>> step_arg("lr_curve", "num_steps", -1)
Traceback (most recent call last):
    ...
optfn.errors.SpecError: lr_curve.num_steps: must be an integer >= 0, got -1
>>> real(0.0, 1.0, hi_open=True)
real(in [0, 1))
>>> exact_float(2**53 + 1)  # an int a float field would silently change: refused
False
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.render import brief

__all__ = [
    "Domain",
    "Validator",
    "as_float",
    "boolean",
    "check_pattern",
    "check_real",
    "check_text",
    "exact_float",
    "in_range",
    "increasing_steps",
    "inexact_reason",
    "instance",
    "instance_tuple",
    "is_bool",
    "is_int",
    "is_real",
    "one_of",
    "pattern_tuple",
    "plain_number",
    "range_text",
    "real",
    "real_arg",
    "real_tuple",
    "step_arg",
    "step_count",
    "store",
    "str_tuple",
    "to_pairs",
    "to_tuple",
]

Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


@attrs.frozen
class Domain:
    """What a validator accepts, as plain data (``optfn.strategies`` draws fields from it).

    ``kind``: ``"real"`` (a finite number within ``lo``/``hi``, each bound open or closed),
    ``"int"`` (a whole number in ``[lo, hi]``), ``"bool"``, ``"choice"`` (one of ``choices``)
    or ``"real_tuple"`` (a tuple of reals, each within the bounds: ``length`` of them, or
    any number from ``min_length`` when ``length`` is ``None``). ``none``: ``None`` is
    accepted too.

    >>> d = real(0.0, 1.0, hi_open=True).domain
    >>> d.kind, d.lo, d.hi, d.hi_open, one_of("a", "b").domain.choices
    ('real', 0.0, 1.0, True, ('a', 'b'))
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    length: int | None = None
    min_length: int = 0
    choices: tuple[Any, ...] = ()
    none: bool = False


class Validator:
    """An attrs validator (``validator(inst, attribute, value)``) that prints what it checks.

    optfn's own validators are used where ``attrs.validators`` cannot give optfn's messages
    (which name the owner, the field, the range and the value, and the index in a tuple).
    ``domain`` says what it accepts, as data, where that is a plain range or set of values.
    """

    __slots__ = ("_check", "_text", "domain")

    def __init__(self, text: str, check: Check, domain: Domain | None = None) -> None:
        self._text = text
        self._check = check
        self.domain = domain

    def __call__(self, inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        self._check(inst, attr, value)

    def __repr__(self) -> str:
        return self._text


def _owner(inst: Any) -> str:
    return type(inst).__name__


def store(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    """Replace a checked field's value by the plain Python number(s) it equals (a frozen
    spec's field, set as attrs' own ``__init__`` sets it), so that a spec holds what a file
    holds: a ``float`` field a ``float``, an integer field an ``int``."""
    object.__setattr__(inst, attr.name, value)


# ---- predicates -----------------------------------------------------------------------------
def is_real(v: object) -> bool:
    """A real number: Python ``int``/``float`` or a numpy integer/floating scalar, never a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def is_int(v: object) -> bool:
    """An integer: Python ``int`` or a numpy integer scalar, never a bool (nor ``2.0``)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_bool(v: object) -> bool:
    """``True`` or ``False`` (a Python ``bool``), nothing truthy."""
    return isinstance(v, bool)


def exact_float(v: object) -> bool:
    """Whether the real number ``v`` is exactly a float: always for a float, for an integer
    only when a float holds it (every one up to ``2**53`` in size, some beyond).

    A float field refuses other integers, since ``float(2**53 + 1) == 2**53`` would change the
    value silently (and a spec would no longer read back as itself).

    Any other real number (a :class:`fractions.Fraction`, a numpy float of more precision)
    is exact when the float nearest to it equals it: ``Fraction(1, 2)`` is, ``Fraction(1,
    10)`` is not (no float is 1/10).

    >>> from fractions import Fraction
    >>> exact_float(2**53), exact_float(2**53 + 1), exact_float(0.1)
    (True, False, True)
    >>> exact_float(Fraction(1, 2)), exact_float(Fraction(1, 10))
    (True, False)
    """
    if type(v) is float:
        return True
    if not is_int(v):
        try:
            f = float(v)  # type: ignore[arg-type]
        except (OverflowError, ValueError, TypeError):
            return False
        return bool(f == v) or (f != f and v != v)  # NaN is NaN
    try:
        f = float(v)  # type: ignore[arg-type]
    except OverflowError:
        return False
    return math.isfinite(f) and int(f) == int(v)  # type: ignore[call-overload]


def inexact_reason(v: object) -> str:
    """The words for a number that a float does not hold exactly (see :func:`exact_float`)."""
    try:
        nearest = f"the nearest float is {float(v)!r}"  # type: ignore[arg-type]
    except OverflowError:
        nearest = "it is beyond float range"
    return (
        f"must be a number that a float holds exactly, got {brief(v)} ({nearest}; "
        "write it as a float)"
    )


def as_float(v: Any) -> float:
    """``float(v)`` of a real number, ``inf`` (with ``v``'s sign) for an int beyond float range."""
    try:
        return float(v)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return math.inf if v > 0 else -math.inf


def plain_number(v: Any) -> Any:
    """A numpy integer/floating scalar as the Python ``int``/``float`` it equals; else ``v``.

    For what is stored where torch or a file reads it (a param group, a ``state_dict``):
    ``torch.load(..., weights_only=True)`` refuses numpy scalars.
    """
    if type(v) in _PLAIN_TYPES or not is_real(v):
        return v
    return int(v) if is_int(v) else float(v)


#: Kinds :func:`plain_number` returns as they are without asking ``numbers.Real`` (slower).
_PLAIN_TYPES = frozenset({int, float, bool, str, type(None)})


def in_range(
    v: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> bool:
    """Whether the real number ``v`` is finite and within the bounds (open or closed)."""
    x = as_float(v)
    if not math.isfinite(x):
        return False
    if lo is not None and (x <= lo if lo_open else x < lo):
        return False
    return not (hi is not None and (x >= hi if hi_open else x > hi))


def range_text(
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> str:
    """The words for a range: ``"in [0, 1)"``, ``"> 0"``, ``"a finite number"``..."""
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


# ---- checks of values handed to a function ------------------------------------------------
def check_real(
    owner: str,
    field: str,
    v: object,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    """Raise unless ``v`` is a finite real number within the bounds.

    A value that is not a real number is a :class:`SpecTypeError`, one out of range (or not
    finite) a :class:`SpecError`; the message is ``"owner.field: must be ..., got v"``.
    """
    rng = range_text(lo, hi, lo_open, hi_open)
    if not is_real(v):
        raise SpecTypeError(
            owner, field, f"must be a number ({rng}), got {brief(v)} ({type(v).__name__})"
        )
    if not in_range(v, lo, hi, lo_open=lo_open, hi_open=hi_open):
        what = "finite and " + rng if rng != "a finite number" else rng
        raise SpecError(owner, field, f"must be {what}, got {brief(v)}")
    if not exact_float(v):
        raise SpecError(owner, field, inexact_reason(v))


def real_arg(
    owner: str,
    field: str,
    v: object,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """:func:`check_real`, then ``float(v)``: a number passed to a function, as a ``float``."""
    check_real(owner, field, v, lo, hi, lo_open, hi_open)
    return float(v)  # type: ignore[arg-type]


def step_arg(owner: str, field: str, v: object, minimum: int = 0) -> int:
    """A whole number ``>= minimum`` passed to a function (a step, a count), as an ``int``.

    Python and numpy integers pass; a bool, a float (even ``2.0``) or a string is a
    :class:`SpecTypeError`, a value below ``minimum`` a :class:`SpecError`.
    """
    if not is_int(v):
        raise SpecTypeError(
            owner, field, f"must be an integer >= {minimum}, got {brief(v)} ({type(v).__name__})"
        )
    n: int = int(v)  # type: ignore[call-overload]
    if n < minimum:
        raise SpecError(owner, field, f"must be an integer >= {minimum}, got {brief(v)}")
    return n


# ---- attrs validators of spec fields --------------------------------------------------------
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
        if type(v) is not float:
            store(inst, attr, float(v))

    return Validator(
        f"real({range_text(lo, hi, lo_open, hi_open)})",
        check,
        Domain("real", lo, hi, lo_open, hi_open),
    )


def _check_tuple(owner: str, field: str, v: Any, items: str, min_len: int = 0) -> None:
    """``v`` is a tuple (of ``items``, as the message says) with at least ``min_len`` values."""
    if not isinstance(v, tuple):
        raise SpecTypeError(
            owner, field, f"must be a tuple of {items}, got {brief(v)} ({type(v).__name__})"
        )
    if len(v) < min_len:
        raise SpecError(
            owner, field, f"must have at least {min_len} value(s), got {len(v)}: {brief(v)}"
        )


def real_tuple(
    n: int | None, lo: float | None = None, hi: float | None = None, *, hi_open: bool = False
) -> Validator:
    """Exactly ``n`` finite numbers (``None``: any number of them), each within ``[lo, hi]``
    (``hi`` open if asked); a tuple. Stored as a tuple of floats."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        _check_tuple(owner, attr.name, v, "numbers" if n is None else f"{n} numbers")
        if n is not None and len(v) != n:
            raise SpecError(
                owner, attr.name, f"must have exactly {n} values, got {len(v)}: {brief(v)}"
            )
        for i, x in enumerate(v):
            check_real(owner, f"{attr.name}[{i}]", x, lo, hi, False, hi_open)
        if any(type(x) is not float for x in v):
            store(inst, attr, tuple(float(x) for x in v))

    return Validator(
        f"real_tuple({n}, {range_text(lo, hi, False, hi_open)})",
        check,
        Domain("real_tuple", lo, hi, hi_open=hi_open, length=n),
    )


def _steps_text(minimum: int, maximum: int | None) -> str:
    return f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"


def step_count(minimum: int = 0, maximum: int | None = None) -> Validator:
    """A whole number of steps ``>= minimum`` (and ``<= maximum`` if given)."""
    rng = _steps_text(minimum, maximum)

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not is_int(v):
            raise SpecTypeError(
                _owner(inst),
                attr.name,
                f"must be an integer {rng}, got {brief(v)} ({type(v).__name__})",
            )
        if v < minimum or (maximum is not None and v > maximum):
            raise SpecError(_owner(inst), attr.name, f"must be an integer {rng}, got {brief(v)}")
        if type(v) is not int:
            store(inst, attr, int(v))

    return Validator(f"step_count({rng})", check, Domain("int", minimum, maximum))


def increasing_steps(
    minimum: int = 1, maximum: int | None = None, *, min_len: int = 0
) -> Validator:
    """A tuple of at least ``min_len`` whole step numbers, each in range, strictly increasing."""
    rng = _steps_text(minimum, maximum)

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        _check_tuple(owner, attr.name, v, "integers", min_len)
        for i, x in enumerate(v):
            field = f"{attr.name}[{i}]"
            if not is_int(x):
                raise SpecTypeError(
                    owner, field, f"must be an integer {rng}, got {brief(x)} ({type(x).__name__})"
                )
            if x < minimum or (maximum is not None and x > maximum):
                raise SpecError(owner, field, f"must be an integer {rng}, got {brief(x)}")
            if i and x <= v[i - 1]:
                raise SpecError(
                    owner,
                    field,
                    f"must be > {attr.name}[{i - 1}] = {brief(v[i - 1])} (strictly increasing), "
                    f"got {brief(x)}",
                )
        if any(type(x) is not int for x in v):
            store(inst, attr, tuple(int(x) for x in v))

    return Validator(f"increasing_steps({rng}, min_len={min_len})", check)


def one_of(*allowed: object) -> Validator:
    """One of a fixed set of values (compared by equality, kind checked too)."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not any(type(v) is type(a) and v == a for a in allowed):
            choices = ", ".join(repr(a) for a in allowed)
            raise SpecError(_owner(inst), attr.name, f"must be one of {choices}, got {brief(v)}")

    return Validator(
        f"one_of({', '.join(repr(a) for a in allowed)})", check, Domain("choice", choices=allowed)
    )


def _boolean(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    if not is_bool(v):
        raise SpecTypeError(
            _owner(inst), attr.name, f"must be true or false, got {brief(v)} ({type(v).__name__})"
        )


#: ``True`` or ``False``, nothing truthy (``attrs.validators.instance_of(bool)`` with optfn's
#: message).
boolean = Validator("boolean", _boolean, Domain("bool"))


def check_text(owner: str, field: str, s: str, *, name: bool = True) -> None:
    r"""A string that a file can hold: valid Unicode (no lone surrogate, so that it encodes to
    UTF-8) and, for a ``name`` (a pattern, a class or module name), no control or other
    non-printable characters, which can never be part of one.

    >>> try:
    ...     check_text("ParamRules", "no_decay_names[0]", "bias\x1b")
    ... except SpecError as e:
    ...     print(e.reason)
    cannot contain control or other non-printable characters, got 'bias\x1b'
    """
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpecError(
            owner,
            field,
            f"must be valid Unicode text (it holds a lone surrogate at index {exc.start}, which "
            f"no file can hold), got {brief(s)}",
        ) from None
    if name and not s.isprintable():
        raise SpecError(
            owner,
            field,
            f"cannot contain control or other non-printable characters, got {brief(s)}",
        )


def _str_tuple(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    owner = _owner(inst)
    _check_tuple(owner, attr.name, v, "strings")
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise SpecTypeError(
                owner, f"{attr.name}[{i}]", f"must be a string, got {brief(s)} ({type(s).__name__})"
            )
        if not s:
            raise SpecError(owner, f"{attr.name}[{i}]", "must be a non-empty string, got ''")
        check_text(owner, f"{attr.name}[{i}]", s, name=False)


#: A tuple of non-empty names (printable, valid Unicode: see :func:`check_text`).
str_tuple = Validator("str_tuple", _str_tuple)


def check_pattern(owner: str, field: str, pat: str) -> None:
    """A name pattern: fnmatch syntax over dotted names, no whitespace, balanced brackets."""
    if any(c.isspace() for c in pat):
        raise SpecError(owner, field, f"a name pattern cannot contain whitespace, got {brief(pat)}")
    if pat.count("[") != pat.count("]"):
        raise SpecError(owner, field, f"unbalanced '[' ']' in name pattern {brief(pat)}")
    check_text(owner, field, pat)


def _pattern_tuple(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
    _str_tuple(inst, attr, v)
    for i, pat in enumerate(v):
        check_pattern(_owner(inst), f"{attr.name}[{i}]", pat)


#: A tuple of name patterns (see :func:`check_pattern`).
pattern_tuple = Validator("pattern_tuple", _pattern_tuple)


def to_pairs(val: Any) -> Any:
    """attrs converter: a mapping ``{name: value}`` (or a list of pairs, as configs carry) becomes
    a tuple of pairs sorted by name, so that equal mappings give equal specs. Anything else,
    and pairs whose names are not all strings, is left for the validator to refuse.

    >>> to_pairs({"b": 1, "a": 2}), to_pairs([["b", 1], ["a", 2]])
    ((('a', 2), ('b', 1)), (('a', 2), ('b', 1)))
    """
    if isinstance(val, Mapping):
        items = list(val.items())
    elif isinstance(val, (list, tuple)):
        items = [tuple(p) if isinstance(p, list) else p for p in val]
    else:
        return val
    if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in items):
        return tuple(sorted(items, key=lambda p: p[0]))
    return tuple(items)


def to_tuple(v: Any) -> Any:
    """attrs converter: a list (as configs carry) becomes a tuple; anything else is left as is.

    It changes the container only, never the values inside, so the validators still see
    exactly what the caller passed. A string is left alone (and then rejected by the validator).
    """
    if isinstance(v, list):
        return tuple(v)
    return v


def instance(*classes: type) -> Validator:
    """An instance of one of ``classes`` (a nested spec); the message names the field and the
    kinds."""
    kinds = " or ".join(c.__name__ for c in classes)

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        if not isinstance(v, classes):
            raise SpecTypeError(
                _owner(inst),
                attr.name,
                f"must be a {kinds}, got {brief(v)} ({type(v).__name__})",
            )

    return Validator(f"instance({kinds})", check)


def instance_tuple(cls: type, *, min_len: int = 0) -> Validator:
    """A tuple of at least ``min_len`` instances of ``cls`` (nested specs)."""

    def check(inst: Any, attr: attrs.Attribute[Any], v: Any) -> None:
        owner = _owner(inst)
        _check_tuple(owner, attr.name, v, f"{cls.__name__}s", min_len)
        for i, x in enumerate(v):
            if not isinstance(x, cls):
                raise SpecTypeError(
                    owner,
                    f"{attr.name}[{i}]",
                    f"must be a {cls.__name__}, got {brief(x)} ({type(x).__name__})",
                )

    return Validator(f"instance_tuple({cls.__name__}, min_len={min_len})", check)


def check_pairs(owner: str, field: str, val: Any, what: str) -> list[tuple[Any, Any]]:
    """``val`` as a mapping field holds it (:func:`to_pairs`): a tuple of ``(name, value)``
    pairs, each name once. ``what`` names the parts for the messages, e.g.
    ``"{key: route}"``. Returns the pairs; what the names and values may be is the caller's
    to check.

    >>> check_pairs("S", "routes", (("lr", "adamw"),), "{key: route}")
    [('lr', 'adamw')]
    """
    if not isinstance(val, tuple):
        raise SpecTypeError(owner, field, f"must be a mapping {what}, got {brief(val)}")
    seen: set[Any] = set()
    out: list[tuple[Any, Any]] = []
    for pair in val:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise SpecTypeError(owner, field, f"must be a mapping {what}, got {brief(pair)}")
        if isinstance(pair[0], str) and pair[0] in seen:
            raise SpecError(owner, f"{field}[{brief(pair[0])}]", "given twice")
        seen.add(pair[0])
        out.append(pair)
    return out
