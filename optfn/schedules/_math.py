"""The closed forms of optfn's LR schedules: one scalar function and one vectorized twin each.

Everything here works on plain numbers (no spec classes, no torch). A scalar function takes
the step as a Python ``int`` (any size: steps are clamped in the integer domain before they
meet a float, so ``2**80`` neither overflows nor raises) and returns a Python ``float``; its
``*_v`` twin takes a non-negative, *ascending* ``int64`` array (``lr_curve`` passes an
``arange``, a join slices of one), cuts it into its phases with ``searchsorted`` and fills a
``float64`` array phase by phase, so that no element pays for a phase it is not in.

Why the two agree bit for bit
-----------------------------
* Each pair performs the same IEEE-754 operations on the same operands in the same order.
  ``+ - * /`` and ``sqrt`` are correctly rounded in Python and in numpy alike. Divisions
  convert both integer operands to float first, in both forms: a derived count (a
  ``CosineRestarts`` cycle with ``cycle_mult > 1``) or a step can exceed 2**53, where
  Python's exact ``int / int`` would round differently from numpy's float division.
* The transcendental functions (``cos``, ``pow``) may differ by an ulp between libm (Python's
  ``math``) and numpy's SIMD kernels on some CPUs, so the scalar forms call the *same* numpy
  ufuncs on float64 scalars (``_cos_pi``, ``_pow``, ``_gamma_pow``) as the vector forms do on
  arrays (never in place, so that no overlap check can send them to another kernel). numpy
  evaluates these kernels lane by lane, so an element does not depend on its neighbours.
* Powers go through one routine, ``_power``, with the exponent always an *array* (length 1
  for the scalar form). numpy versions differ in which scalar exponents they shortcut, so
  that is never left to numpy: the only shortcut, ``x * x`` for an exponent of 2 (the
  correctly rounded square), is taken explicitly in ``_power``.

The tests check ``lr_curve == lr_lambda`` exactly (0 ulp). Should a numpy build ever break the
lane-by-lane assumption, the forms would differ by one ``cos``/``pow`` evaluation (an ulp of a
value in [-1, 1], i.e. about 1e-16 absolute); near the end of a cosine decaying to 0 that is
more than 4 ulp *relative* to the tiny multiplier, which is why the scalar form does not use
``math.cos``.

Decays use one form, ``alpha + (1 - alpha) * f`` with ``f`` going from exactly 1 to exactly 0,
so every decay starts at exactly 1.0 (``alpha + fl(1 - alpha) == 1`` for every double ``alpha``
in [0, 1]), ends at exactly ``alpha``, stays within ``[alpha, 1]`` and is monotone wherever
``f`` is.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Seed 002's lower bound of the warmup multiplier.
RAMP_FLOOR = 1e-8
#: An exponent so large that ``gamma ** k`` is 0.0 for every double ``gamma < 1`` (and 1.0 for
#: ``gamma == 1``): ``(1 - 2**-53) ** 2**64 = exp(-2048)``. Scalar exponents are clamped to it so
#: that ``float(k)`` never overflows.
_EXPONENT_CAP = 2**64

# ---- primitives: the same numpy kernels in both forms ----------------------------------------


def _cos_pi(t: float) -> float:
    return float(np.cos(math.pi * t))


def _power(x: FloatArray, p: FloatArray) -> FloatArray:
    """``x ** p`` element-wise, the one power routine of both forms.

    The exponent is always an array: numpy versions differ in which *scalar* exponents
    they shortcut (2.0 as ``x * x``, 0.5 as ``sqrt``, ...), so letting numpy decide would tie
    bit-identity to a numpy version. The one shortcut taken here is explicit: ``x * x`` for
    an exponent of 2 (the correctly rounded square; ``pow(x, 2.0)`` can be off by an ulp).
    """
    out: FloatArray = np.power(x, p)
    two = p == 2.0
    if two.any():
        out[two] = x[two] * x[two]
    return out


def _pow(x: float, p: float) -> float:
    """``x ** p`` for one value, through :func:`_power` like :func:`_pow_v`."""
    return float(_power(np.array([x], dtype=np.float64), np.array([p], dtype=np.float64))[0])


def _pow_v(x: FloatArray, p: float) -> FloatArray:
    return _power(x, np.full(x.shape, p, dtype=np.float64))


def _gamma_pow(gamma: float, k: float) -> float:
    """``gamma ** k`` for a whole ``k``, through :func:`_power` like :func:`_gamma_pow_v`."""
    return _pow(gamma, k)


def _gamma_pow_v(gamma: float, k: FloatArray) -> FloatArray:
    return _power(np.full(k.shape, gamma, dtype=np.float64), k)


# ---- phases ------------------------------------------------------------------------------------


def _cut(s: IntArray, step: int) -> int:
    """Index of the first element of the ascending ``s`` that is ``>= step``."""
    return int(np.searchsorted(s, step, side="left"))


def _tail(alpha: float, f: float) -> float:
    return alpha + (1.0 - alpha) * f


def _tail_v(alpha: float, f: FloatArray) -> FloatArray:
    f *= 1.0 - alpha  # in place; (1 - alpha) * f and f * (1 - alpha) are the same product
    f += alpha
    return f


def ramp(s: int, w: int) -> float:
    """Seed 002's warmup: ``max(1e-8, (s + 1) / max(1, w))`` (1.0 on the last warmup step)."""
    return max(RAMP_FLOOR, (s + 1) / max(1, w))


def ramp_v(s: IntArray, w: int) -> FloatArray:
    r = s.astype(np.float64)
    r += 1.0  # exact: s + 1 <= 2**53
    r /= float(max(1, w))
    return np.maximum(r, RAMP_FLOOR, out=r)


DECAY_SHAPES = ("linear", "cosine", "1-sqrt")


def decay(x: int, d: int, alpha: float, shape: str, power: float = 1.0) -> float:
    """``alpha + (1 - alpha) * f(x / d)`` for ``0 <= x <= d``; ``f`` falls from 1 to 0."""
    # float / float, as the vector form does: a cycle length can exceed 2**53 (CosineRestarts
    # with cycle_mult > 1), and Python's exact int / int would then round differently
    t = float(x) / float(d)
    if shape == "cosine":
        f = 0.5 * (1.0 + _cos_pi(t))
    elif shape == "linear":
        f = 1.0 - t
    elif shape == "1-sqrt":
        f = 1.0 - math.sqrt(t)
    elif shape == "polynomial":
        f = _pow(1.0 - t, power)
    else:
        raise ValueError(f"unknown decay shape {shape!r}")
    return _tail(alpha, f)


def decay_v(x: IntArray, d: int, alpha: float, shape: str, power: float = 1.0) -> FloatArray:
    f = x.astype(np.float64)
    f /= float(d)  # t, exactly as the scalar form computes it
    if shape == "cosine":
        f *= math.pi
        f = np.cos(f)  # not in place: an overlap check could pick another kernel
        f += 1.0
        f *= 0.5
    elif shape == "linear":
        np.subtract(1.0, f, out=f)
    elif shape == "1-sqrt":
        np.sqrt(f, out=f)
        np.subtract(1.0, f, out=f)
    elif shape == "polynomial":
        f = _pow_v(1.0 - f, power)
    else:
        raise ValueError(f"unknown decay shape {shape!r}")
    return _tail_v(alpha, f)


def _hold(d: int, alpha: float, shape: str, power: float = 1.0) -> float:
    """The value a decay holds after its end (``alpha``, computed as the vector form does)."""
    return float(decay_v(np.array([d], dtype=np.int64), d, alpha, shape, power)[0])


# ---- shapes ------------------------------------------------------------------------------------


def constant(s: int) -> float:
    return 1.0


def constant_v(s: IntArray) -> FloatArray:
    return np.ones(s.shape, dtype=np.float64)


def exponential(s: int, gamma: float, steps_per_epoch: int) -> float:
    return _gamma_pow(gamma, float(min(s // steps_per_epoch, _EXPONENT_CAP)))


def exponential_v(s: IntArray, gamma: float, steps_per_epoch: int) -> FloatArray:
    return _gamma_pow_v(gamma, (s // steps_per_epoch).astype(np.float64))


def multi_step(s: int, gamma: float, boundaries: Sequence[int]) -> float:
    return _gamma_pow(gamma, float(bisect_right(boundaries, s)))


def multi_step_v(s: IntArray, gamma: float, boundaries: Sequence[int]) -> FloatArray:
    k = np.searchsorted(np.asarray(boundaries, dtype=np.int64), s, side="right")
    return _gamma_pow_v(gamma, k.astype(np.float64))


def decay_then_hold(s: int, d: int, alpha: float, shape: str, power: float = 1.0) -> float:
    """A decay over ``d`` steps from step 0, then hold: ``decay(min(s, d), d, ...)``."""
    return decay(min(s, d), d, alpha, shape, power)


def decay_then_hold_v(
    s: IntArray, d: int, alpha: float, shape: str, power: float = 1.0
) -> FloatArray:
    out = np.empty(s.shape, dtype=np.float64)
    j = _cut(s, d)
    out[:j] = decay_v(s[:j], d, alpha, shape, power)
    out[j:] = _hold(d, alpha, shape, power)
    return out


def warmup_cosine(s: int, w: int, total: int, alpha: float) -> float:
    if s < w:
        return ramp(s, w)
    d = max(1, total - w)
    return decay(min(s - w, d), d, alpha, "cosine")  # t = min(1, (s - w) / d): holds at alpha


def warmup_cosine_v(s: IntArray, w: int, total: int, alpha: float) -> FloatArray:
    d = max(1, total - w)
    out = np.empty(s.shape, dtype=np.float64)
    i = _cut(s, w)
    out[:i] = ramp_v(s[:i], w)
    out[i:] = decay_then_hold_v(s[i:] - w, d, alpha, "cosine")
    return out


def linear_warmup(s: int, w: int, init: float) -> float:
    if s >= w:
        return 1.0
    return _tail(init, ramp(s, w))


def linear_warmup_v(s: IntArray, w: int, init: float) -> FloatArray:
    out = np.ones(s.shape, dtype=np.float64)
    i = _cut(s, w)
    out[:i] = _tail_v(init, ramp_v(s[:i], w))
    return out


def warmup_stable_decay(s: int, w: int, total: int, d: int, alpha: float, shape: str) -> float:
    if s < w:
        return ramp(s, w)
    start = total - d
    if s < start:
        return 1.0
    return decay(min(s, total) - start, d, alpha, shape)


def warmup_stable_decay_v(
    s: IntArray, w: int, total: int, d: int, alpha: float, shape: str
) -> FloatArray:
    start = total - d
    out = np.ones(s.shape, dtype=np.float64)
    i, j = _cut(s, w), _cut(s, start)
    out[:i] = ramp_v(s[:i], w)
    out[j:] = decay_then_hold_v(s[j:] - start, d, alpha, shape)
    return out


def inverse_sqrt(s: int, w: int, alpha: float) -> float:
    if s < w:
        return ramp(s, w)
    # float(s) + 1.0 as the vector form: s may exceed 2**53, where s + 1 is not a float
    return max(alpha, math.sqrt(float(w) / (float(s) + 1.0)))


def inverse_sqrt_v(s: IntArray, w: int, alpha: float) -> FloatArray:
    out = np.empty(s.shape, dtype=np.float64)
    i = _cut(s, w)
    out[:i] = ramp_v(s[:i], w)
    x = s[i:].astype(np.float64)
    x += 1.0
    np.divide(float(w), x, out=x)
    np.sqrt(x, out=x)
    out[i:] = np.maximum(x, alpha, out=x)
    return out


def _cycle(s: int, first: int, mult: int) -> tuple[int, int]:
    """(step within its cycle, that cycle's length) for cycles of ``first * mult**i`` steps."""
    if mult == 1:
        return s % first, first
    start, length = 0, first
    while s >= start + length:
        start += length
        length *= mult
    return s - start, length


def cosine_restarts(s: int, first: int, mult: int, alpha: float) -> float:
    pos, length = _cycle(s, first, mult)
    return decay(pos, length - 1, alpha, "cosine")


def cosine_restarts_v(s: IntArray, first: int, mult: int, alpha: float) -> FloatArray:
    if mult == 1:
        return decay_v(s % first, first - 1, alpha, "cosine")
    out = np.empty(s.shape, dtype=np.float64)
    top = int(s[-1]) if s.size else 0
    start, length = 0, first
    while start <= top:
        lo, hi = _cut(s, start), _cut(s, start + length)
        out[lo:hi] = decay_v(s[lo:hi] - start, length - 1, alpha, "cosine")
        start += length
        length *= mult
    return out
