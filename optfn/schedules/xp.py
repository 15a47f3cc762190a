"""The two math namespaces a schedule's one formula is written against: scalar and vector.

Every schedule shape writes its closed form *once*, as ``formula(self, x, xp)``: ``x`` is the
local step, either a Python ``int`` (any size) or an ``int64`` numpy array, and ``xp`` is
:data:`SCALAR` or :data:`VECTOR` accordingly. :func:`optfn.schedules.lr_lambda` evaluates the
formula with ``SCALAR`` and :func:`optfn.schedules.lr_curve` with ``VECTOR``, so the two agree
bit for bit by construction, provided the formula keeps to these rules:

* ``+ - * /`` with Python floats, and ``xp.sqrt``: correctly rounded in Python and numpy alike;
* ``x // k`` and ``x % k`` with an ``int`` ``k``: exact for Python and numpy integers alike;
* turn a step into a float with ``xp.to_float`` (a huge Python int saturates to ``inf``
  instead of raising ``OverflowError``), then divide float by float;
* transcendentals only through ``xp.cos`` and ``xp.pow``, which call the *same* numpy kernels
  in both namespaces (Python's ``math.cos`` may differ from numpy's by an ulp). ``xp.pow``
  always passes numpy an *array* exponent, because numpy versions differ in which scalar
  exponents they shortcut; its one shortcut, ``x * x`` for an exponent of 2 (the correctly
  rounded square), is taken explicitly in both namespaces;
* ``xp.maximum`` / ``xp.minimum`` instead of ``max`` / ``min``, ``xp.full(x, value)`` for a
  constant of ``x``'s shape. No ``if`` on ``x``: piecewise structure is data
  (:meth:`optfn.schedules.Schedule.segments`).

Each vector function returns a fresh array (or works on a fresh temporary), never overwrites
its argument, and never calls a transcendental ufunc in place (an overlap check could pick
another kernel). numpy evaluates its kernels lane by lane, so an element does not depend on its
neighbours: the tests check ``lr_curve == lr_lambda`` exactly (0 ulp).

>>> import numpy as np
>>> from optfn.schedules.xp import SCALAR, VECTOR
>>> def half_cosine(x, xp):
...     return 0.5 * (1.0 + xp.cos(3.141592653589793 * (xp.to_float(x) / 4.0)))
>>> [half_cosine(s, SCALAR) for s in range(5)] == half_cosine(np.arange(5), VECTOR).tolist()
True
>>> SCALAR.to_float(2**2000), SCALAR.pow(0.5, SCALAR.to_float(2**2000))
(inf, 0.0)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SCALAR", "VECTOR", "FloatArray", "IntArray", "MathNamespace"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MathNamespace:
    """The functions a schedule formula may call, for one kind of ``x`` (see the module doc).

    ``vector`` is ``False`` for :data:`SCALAR` (Python ints and floats) and ``True`` for
    :data:`VECTOR` (``int64`` and ``float64`` arrays). The functions:

    * ``to_float(x)``: a step (or step count) as float64; a Python int too large saturates to
      ``inf``;
    * ``cos(t)``, ``sqrt(t)``: element-wise;
    * ``pow(x, p)``: ``x ** p`` element-wise, either operand a float or (vector) an array;
    * ``maximum(a, b)``, ``minimum(a, b)``: element-wise, either operand a float;
    * ``full(x, value)``: ``value`` in ``x``'s shape (the float itself for a scalar ``x``);
    * ``floor(t)``: the largest whole number ``<= t``, as a float, element-wise;
    * ``ratio(x, d)``: ``x / d`` for a whole count ``d``, as ``float(x) / float(d)`` (so a
      count beyond 2**53 rounds alike in both forms); past float64's range (scalar steps
      beyond 2**1023), Python's correctly rounded ``x / d``.

    >>> from optfn.schedules.xp import SCALAR, VECTOR
    >>> SCALAR, VECTOR.vector
    (MathNamespace('scalar'), True)
    """

    name: str
    vector: bool
    to_float: Callable[[Any], Any]
    cos: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    pow: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    minimum: Callable[[Any, Any], Any]
    full: Callable[[Any, float], Any]
    ratio: Callable[[Any, int], Any]
    floor: Callable[[Any], Any]

    def __init__(
        self,
        name: str,
        *,
        vector: bool,
        to_float: Callable[[Any], Any],
        cos: Callable[[Any], Any],
        sqrt: Callable[[Any], Any],
        pow: Callable[[Any, Any], Any],
        maximum: Callable[[Any, Any], Any],
        minimum: Callable[[Any, Any], Any],
        full: Callable[[Any, float], Any],
        ratio: Callable[[Any, int], Any],
        floor: Callable[[Any], Any],
    ) -> None:
        self.name = name
        self.vector = vector
        self.to_float = to_float
        self.cos = cos
        self.sqrt = sqrt
        self.pow = pow
        self.maximum = maximum
        self.minimum = minimum
        self.full = full
        self.ratio = ratio
        self.floor = floor

    def __repr__(self) -> str:
        return f"MathNamespace({self.name!r})"


# ---- scalar --------------------------------------------------------------------------------


def _to_float(x: Any) -> float:
    try:
        return float(x)
    except OverflowError:  # an int beyond float64's range: its limit
        return math.inf if x > 0 else -math.inf


def _cos(t: float) -> float:
    return float(np.cos(t))


def _pow(x: float, p: float) -> float:
    if p == 2.0:
        return x * x
    return float(np.power(np.array([x], dtype=np.float64), np.array([p], dtype=np.float64))[0])


def _ratio(x: int, d: int) -> float:
    try:
        return float(x) / float(d)
    except OverflowError:  # only a scalar step beyond 2**1023 gets here: exact int division
        try:
            return x / d
        except OverflowError:  # a quotient beyond float64's range: its limit (steps are >= 0)
            return math.inf


def _full(x: Any, value: float) -> float:
    return value


def _floor(t: float) -> float:
    return float(np.floor(t))  # inf stays inf (math.floor would raise)


def _maximum(a: Any, b: Any) -> Any:
    return b if b > a else a  # builtin max(a, b), without its argument parsing


def _minimum(a: Any, b: Any) -> Any:
    return b if b < a else a  # builtin min(a, b)


#: The scalar namespace: ``x`` is a Python ``int``, values are Python floats.
SCALAR = MathNamespace(
    "scalar",
    vector=False,
    to_float=_to_float,
    cos=_cos,
    sqrt=math.sqrt,
    pow=_pow,
    maximum=_maximum,
    minimum=_minimum,
    full=_full,
    ratio=_ratio,
    floor=_floor,
)


#: ``SCALAR`` with the builtin ``float`` as ``to_float`` (it raises ``OverflowError`` instead of
#: saturating): what ``lr_lambda`` uses first, falling back to ``SCALAR`` if it raises. For steps
#: below 2**64 no formula of optfn's converts a value out of range, so a call costs one Python
#: frame less.
_SCALAR_FAST = copy.copy(SCALAR)
_SCALAR_FAST.to_float = float


# ---- vector --------------------------------------------------------------------------------


def _to_float_v(x: IntArray) -> FloatArray:
    return x.astype(np.float64)


def _cos_v(t: FloatArray) -> FloatArray:
    out: FloatArray = np.cos(t)  # never in place
    return out


def _sqrt_v(t: FloatArray) -> FloatArray:
    out: FloatArray = np.sqrt(t)
    return out


def _pow_v(x: Any, p: Any) -> FloatArray:
    """``x ** p`` with the exponent always an array, and ``x * x`` wherever it is 2."""
    xa = np.asarray(x, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    if pa.ndim == 0:
        if pa == 2.0:
            square: FloatArray = xa * xa
            return square
        pa = np.full(xa.shape, pa, dtype=np.float64)
    if xa.ndim == 0:
        xa = np.full(pa.shape, xa, dtype=np.float64)
    out: FloatArray = np.power(xa, pa)
    two = pa == 2.0
    if two.any():
        out[two] = xa[two] * xa[two]
    return out


def _maximum_v(a: Any, b: Any) -> FloatArray:
    out: FloatArray = np.maximum(a, b)
    return out


def _minimum_v(a: Any, b: Any) -> FloatArray:
    out: FloatArray = np.minimum(a, b)
    return out


def _ratio_v(x: IntArray, d: int) -> FloatArray:
    out: FloatArray = x.astype(np.float64)
    out /= float(d)
    return out


def _full_v(x: IntArray, value: float) -> FloatArray:
    return np.full(x.shape, value, dtype=np.float64)


def _floor_v(t: FloatArray) -> FloatArray:
    out: FloatArray = np.floor(t)
    return out


#: The vector namespace: ``x`` is an ``int64`` array, values are ``float64`` arrays.
VECTOR = MathNamespace(
    "vector",
    vector=True,
    to_float=_to_float_v,
    cos=_cos_v,
    sqrt=_sqrt_v,
    pow=_pow_v,
    maximum=_maximum_v,
    minimum=_minimum_v,
    full=_full_v,
    ratio=_ratio_v,
    floor=_floor_v,
)
