"""Checks of a param group's values shared by optfn's own optimizers (``MuonWithAdamW``,
``NorMuonWithAdam``): how messages name a group, real numbers and bools, and the
``params``/``param_names`` lists.

>>> where(0, "muon")
"param group 0 (route 'muon')"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.checks import in_range, is_bool, is_real
from optfn.specs.render import brief

__all__ = ["check_bool", "check_real", "params_and_names", "where"]


def where(index: int, route: object) -> str:
    """How messages name a group: ``"param group 0 (route 'muon')"``."""
    return f"param group {index} (route {brief(route)})"


def check_real(
    at: str,
    key: str,
    value: object,
    lo: float,
    *,
    lo_open: bool = False,
    hi: float | None = None,
) -> None:
    """``value`` is a finite real number in ``[lo, hi)`` (``(lo, hi)`` with ``lo_open``)."""
    if not is_real(value):
        raise SpecTypeError("", at, f"{brief(key)} must be a real number, got {brief(value)}")
    if not in_range(value, lo, hi, lo_open=lo_open, hi_open=True):
        lo_txt = f"> {lo}" if lo_open else f">= {lo}"
        hi_txt = f" and < {hi}" if hi is not None else ""
        raise SpecError(
            "", at, f"{brief(key)} must be finite and {lo_txt}{hi_txt}, got {brief(value)}"
        )


def check_bool(at: str, key: str, value: object) -> None:
    """``value`` is ``True`` or ``False``."""
    if not is_bool(value):
        raise SpecTypeError("", at, f"{brief(key)} must be a bool, got {brief(value)}")


def params_and_names(at: str, params: Any, names: Any) -> tuple[list[Any], list[str]]:
    """``params`` as a list of tensors and ``names`` as a list of as many str, else an error
    naming the group (``at``). ``names=None`` names them ``params[i]``."""
    if isinstance(params, Tensor) or not isinstance(params, Iterable) or isinstance(params, set):
        raise SpecTypeError(
            "", at, f"'params' must be a list of tensors, got {type(params).__name__}"
        )
    params = list(params)
    if names is None:
        names = [f"params[{i}]" for i in range(len(params))]
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise SpecTypeError("", at, f"'param_names' must be a list of str, got {brief(names)}")
    names = list(names)
    if len(names) != len(params):
        raise SpecError(
            "", at, f"'params' has {len(params)} entries but 'param_names' has {len(names)}"
        )
    for name, p in zip(names, params, strict=True):
        if not isinstance(name, str):
            raise SpecTypeError("", at, f"'param_names' must hold str, got {brief(name)}")
        if not isinstance(p, Tensor):
            raise SpecTypeError(
                "", at, f"parameter {brief(name)} is a {type(p).__name__}, not a tensor"
            )
    return params, names
