"""Argument checks and number strategies shared by the strategies.

>>> _check_kinds(["adam", "adam"], ("adam", "adamw"))
('adam',)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import strategies as st
from torch import nn

# ---- argument checks -------------------------------------------------------------------------


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: must be an integer {rng}, got {value!r} ({type(value).__name__})")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name}: must be an integer {rng}, got {value!r}")
    return value


def _check_real(name: str, value: object, lo: float, *, lo_open: bool) -> float:
    rng = f"{'>' if lo_open else '>='} {lo:g}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}: must be a number {rng}, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or x < lo or (lo_open and x == lo):
        raise ValueError(f"{name}: must be a finite number {rng}, got {value!r}")
    return x


def _check_bounds(name: str, lo: float, hi: float, lo_name: str, hi_name: str) -> None:
    if lo > hi:
        raise ValueError(f"{name}: {lo_name} ({lo!r}) must be <= {hi_name} ({hi!r})")


def _check_kinds(kinds: object, allowed: Sequence[str]) -> tuple[str, ...]:
    choices = ", ".join(repr(k) for k in allowed)
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise TypeError(
            f"kinds: must be a sequence of kind names like ({allowed[0]!r},), got {kinds!r}; "
            f"allowed: {choices}"
        )
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        what = f"unknown {', '.join(repr(k) for k in bad)}" if bad else "no kind given"
        raise ValueError(f"kinds: {what}; allowed: {choices}")
    return tuple(dict.fromkeys(kinds))


def _check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise TypeError(f"{name}: must be a hypothesis strategy or None, got {value!r}")


def _check_model(model: object) -> None:
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model: must be a torch.nn.Module or None, got {type(model).__name__}")


# ---- numbers ---------------------------------------------------------------------------------

#: Small whole numbers that float fields are sometimes given as (a spec accepts ``1`` for 1.0).
_WHOLE = (0, 1, 2, 10)


def _reals(
    lo: float, hi: float, *, exclude_min: bool = False, exclude_max: bool = False
) -> st.SearchStrategy[float]:
    """Finite floats in the range and, one draw in eight, a whole number in it."""
    floats = st.floats(
        lo,
        hi,
        exclude_min=exclude_min,
        exclude_max=exclude_max,
        allow_nan=False,
        allow_infinity=False,
    )
    whole = [
        i
        for i in _WHOLE
        if (lo < i or (lo == i and not exclude_min)) and (i < hi or (i == hi and not exclude_max))
    ]
    if not whole:
        return floats
    ints: st.SearchStrategy[float] = st.sampled_from(whole)
    return st.integers(0, 7).flatmap(lambda k: ints if k == 7 else floats)


#: Floors and initial values of schedules: ratios in [0, 1], the ends often, ints 0/1 too
#: (a hand-written config may say ``min_lr_scale = 1``).
_SCALES: st.SearchStrategy[float] = st.sampled_from([0, 0.0, 0.1, 0.5, 1, 1.0]) | st.floats(
    0.0, 1.0
)
#: Decay factors in (0, 1].
_GAMMAS: st.SearchStrategy[float] = st.sampled_from([0.1, 0.5, 0.9, 1.0]) | st.floats(
    0.0, 1.0, exclude_min=True
)
