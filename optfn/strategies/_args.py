"""Argument checks and number strategies shared by the strategies.

>>> _check_kinds(["adam", "adam"], ("adam", "adamw"))
('adam',)
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from torch import nn

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.checks import is_int, real_arg

# ---- argument checks -------------------------------------------------------------------------


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if not is_int(value):
        raise SpecTypeError(
            "", name, f"must be an integer {rng}, got {value!r} ({type(value).__name__})"
        )
    n: int = int(value)  # type: ignore[call-overload]
    if n < lo or (hi is not None and n > hi):
        raise SpecError("", name, f"must be an integer {rng}, got {value!r}")
    return n


def _check_real(name: str, value: object, lo: float, *, lo_open: bool) -> float:
    return real_arg("", name, value, lo, lo_open=lo_open)


def _check_bounds(name: str, lo: float, hi: float, lo_name: str, hi_name: str) -> None:
    if lo > hi:
        raise SpecError("", name, f"{lo_name} ({lo!r}) must be <= {hi_name} ({hi!r})")


def _check_kinds(kinds: object, allowed: Sequence[str]) -> tuple[str, ...]:
    choices = ", ".join(repr(k) for k in allowed)
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise SpecTypeError(
            "",
            "kinds",
            f"must be a sequence of kind names like ({allowed[0]!r},), got {kinds!r}; "
            f"allowed: {choices}",
        )
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        what = f"unknown {', '.join(repr(k) for k in bad)}" if bad else "no kind given"
        raise SpecError("", "kinds", f"{what}; allowed: {choices}")
    return tuple(dict.fromkeys(kinds))


def _check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise SpecTypeError("", name, f"must be a hypothesis strategy or None, got {value!r}")


def _check_model(model: object) -> None:
    if model is not None and not isinstance(model, nn.Module):
        raise SpecTypeError(
            "", "model", f"must be a torch.nn.Module or None, got {type(model).__name__}"
        )


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
