"""The param-group contract of :class:`~optfn.optim.normuon.NorMuonWithAdam`, and its check.

Every group has ``params``, a ``route`` (``"normuon"`` or ``"adam"``) and that route's keys
(:data:`NORMUON_GROUP_KEYS`, :data:`ADAM_GROUP_KEYS`); ``param_names`` is optional (names
``"params[i]"`` otherwise) and any other key (``label``, ``initial_lr``...) is kept as is.
:func:`normalize_group` checks one group and returns the dict the optimizer keeps, numbers as
plain Python numbers. Errors name the group, its route and the key:

>>> import torch
>>> w = torch.nn.Parameter(torch.zeros(2))
>>> normalize_group(0, {"params": [w], "route": "adam", "lr": 0.1, "weight_decay": 0.0,
...     "betas": (0.9, 1.5), "eps": 1e-10, "cautious_weight_decay": True, "every": 1})
Traceback (most recent call last):
    ...
optfn.errors.SpecError: param group 0 (route 'adam'): 'betas[1]' must be finite and >= 0.0 ...

**Parameters of more than two dimensions** on the ``"normuon"`` route (:func:`bank_shape`):
a parameter whose ``reshape`` attribute is a tuple (modded-nanogpt's convention, which
shadows ``Tensor.reshape``) is the bank of that view, ``(n, rows, cols)`` (its last two
numbers are the matrix, the ones before it count the matrices); any other parameter of three
or more dimensions is a bank of matrices on its last two dims (``(d0, d1, ..., rows, cols)``
holds ``d0 * d1 * ...`` matrices); a 2-D parameter is one matrix. A convolution weight that
should be one flattened ``(out, in * kh * kw)`` matrix, as :class:`~optfn.MuonWithAdamW`
orthogonalizes it, says so with ``weight.reshape = (1, out, in * kh * kw)`` or goes to a
``MuonSpec``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.group_checks import check_bool as _bool
from optfn.optim.group_checks import check_real as _real
from optfn.optim.group_checks import params_and_names, where
from optfn.specs.checks import is_bool, is_int, plain_number
from optfn.specs.normuon import MAX_ADAM_EVERY, ORTHOGONALIZERS
from optfn.specs.optimizers import MAX_NS_STEPS
from optfn.specs.render import brief

__all__ = [
    "ADAM_GROUP_KEYS",
    "NORMUON_GROUP_KEYS",
    "ROUTES",
    "bank_shape",
    "normalize_group",
    "where",
]

#: The routes a param group may name.
ROUTES: tuple[str, ...] = ("adam", "normuon")

#: Keys every ``"normuon"`` group must have (besides ``params`` and ``route``).
NORMUON_GROUP_KEYS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "momentum",
    "beta2",
    "orthogonalizer",
    "ns_steps",
    "cautious_weight_decay",
    "per_matrix_lr_mul",
)

#: Keys every ``"adam"`` group must have (besides ``params`` and ``route``).
ADAM_GROUP_KEYS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "betas",
    "eps",
    "cautious_weight_decay",
    "every",
)


def _lr(at: str, lr: object) -> None:
    """A real number >= 0, or a 0-D floating-point tensor holding one (read with ``float``)."""
    if not isinstance(lr, Tensor):
        _real(at, "lr", lr, 0.0)
        return
    if lr.ndim != 0 or not lr.is_floating_point() or lr.requires_grad:
        raise SpecError(
            "",
            at,
            "'lr' as a tensor must be a 0-D floating-point tensor that does not require grad, "
            f"got {brief(lr)}",
        )
    if lr.device.type == "meta" or not bool(torch.isfinite(lr) & (lr >= 0)):
        raise SpecError("", at, f"'lr' must be finite and >= 0.0, got {brief(lr)}")


def _int(at: str, key: str, value: object, lo: int, hi: int) -> None:
    if not is_int(value):
        raise SpecTypeError("", at, f"{brief(key)} must be an int, got {brief(value)}")
    if not lo <= value <= hi:  # type: ignore[operator]
        raise SpecError("", at, f"{brief(key)} must be in [{lo}, {hi}], got {brief(value)}")


def bank_shape(at: str, name: str, p: Tensor) -> tuple[int, int, int]:
    """The ``(n, rows, cols)`` bank a ``"normuon"`` parameter is orthogonalized as.

    The rule (module docstring): a tuple ``reshape`` attribute is the view; else the last two
    dims are the matrix and the leading ones count the matrices. ``Tensor.reshape`` itself is
    never called on the parameter. A ``reshape`` attribute that is not a tuple of positive
    ints whose product is the parameter's size is a clear error.
    """
    attr = vars(p).get("reshape")
    if attr is not None:
        if not isinstance(attr, tuple):
            raise SpecTypeError(
                "",
                at,
                f"parameter {brief(name)} has a 'reshape' attribute {brief(attr)} "
                f"({type(attr).__name__}); NorMuon reads it as the bank's view (n, rows, cols) "
                "and needs a tuple of ints: set param.reshape = tuple(...)",
            )
        if (
            len(attr) < 2
            or not all(is_int(d) and not is_bool(d) and d > 0 for d in attr)
            or math.prod(attr) != p.numel()
        ):
            raise SpecError(
                "",
                at,
                f"parameter {brief(name)} of shape {tuple(p.shape)} ({p.numel()} values) has "
                f"reshape={brief(attr)}; it must be 2 or more positive ints whose product is "
                "the parameter's size, the last two being the matrix",
            )
        shape = tuple(int(d) for d in attr)
    else:
        if p.ndim < 2:
            raise SpecError(
                "",
                at,
                f"parameter {brief(name)} has shape {tuple(p.shape)} (ndim {p.ndim}); "
                "NorMuon needs a matrix or a bank of matrices, route it to 'adam'",
            )
        shape = tuple(p.shape)
    rows, cols = shape[-2], shape[-1]
    return math.prod(shape[:-2]), rows, cols


def _params(at: str, route: str, group: dict[str, Any]) -> None:
    params, names = params_and_names(at, group["params"], group.get("param_names"))
    for name, p in zip(names, params, strict=True):
        if torch.is_complex(p) or not p.is_floating_point():
            raise SpecTypeError(
                "", at, f"parameter {brief(name)} has dtype {p.dtype}; need a real float"
            )
        if route == "normuon":
            bank_shape(at, name, p)
            if p.numel() == 0:
                raise SpecError("", at, f"parameter {brief(name)} is empty {tuple(p.shape)}")
    group["params"], group["param_names"] = params, names


def _normuon(at: str, group: dict[str, Any]) -> None:
    _lr(at, group["lr"])
    _real(at, "weight_decay", group["weight_decay"], 0.0)
    _real(at, "momentum", group["momentum"], 0.0, hi=1.0)
    _real(at, "beta2", group["beta2"], 0.0, hi=1.0)
    if group["orthogonalizer"] not in ORTHOGONALIZERS:
        raise SpecError(
            "",
            at,
            f"'orthogonalizer' must be one of {ORTHOGONALIZERS}, "
            f"got {brief(group['orthogonalizer'])}",
        )
    _int(at, "ns_steps", group["ns_steps"], 1, MAX_NS_STEPS - 1)
    _bool(at, "cautious_weight_decay", group["cautious_weight_decay"])
    factors = group["per_matrix_lr_mul"]
    if factors is None:
        return
    if not isinstance(factors, Sequence) or isinstance(factors, str) or not factors:
        raise SpecTypeError(
            "", at, f"'per_matrix_lr_mul' must be None or 1+ real numbers, got {brief(factors)}"
        )
    for i, x in enumerate(factors):
        _real(at, f"per_matrix_lr_mul[{i}]", x, 0.0)
    for name, p in zip(group["param_names"], group["params"], strict=True):
        n = bank_shape(at, name, p)[0]
        if n % len(factors):
            raise SpecError(
                "",
                at,
                f"'per_matrix_lr_mul' has {len(factors)} factors, repeated over the matrices "
                f"of each bank, but parameter {brief(name)} holds {n} matrices (not a multiple "
                f"of {len(factors)})",
            )


def _adam(at: str, group: dict[str, Any]) -> None:
    _lr(at, group["lr"])
    _real(at, "weight_decay", group["weight_decay"], 0.0)
    betas = group["betas"]
    if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
        raise SpecTypeError("", at, f"'betas' must be 2 real numbers, got {brief(betas)}")
    for i, beta in enumerate(betas):
        _real(at, f"betas[{i}]", beta, 0.0, hi=1.0)
    _real(at, "eps", group["eps"], 0.0, lo_open=True)
    _bool(at, "cautious_weight_decay", group["cautious_weight_decay"])
    _int(at, "every", group["every"], 1, MAX_ADAM_EVERY)


def normalize_group(index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check one param group against the contract; return the dict the optimizer keeps.

    Numbers given as numpy scalars become the Python numbers they equal, sequences
    (``betas``, ``per_matrix_lr_mul``) tuples; nothing else is changed.
    """
    if not isinstance(raw, Mapping):
        raise SpecTypeError(
            "",
            f"param group {index}",
            f"must be a dict with 'params', 'route', ...; got {type(raw).__name__}",
        )
    if "route" not in raw:
        raise SpecError("", f"param group {index}", f"missing required key 'route' ({ROUTES})")
    route = raw["route"]
    if route not in ROUTES:
        raise SpecError(
            "", f"param group {index}", f"unknown route {brief(route)}; expected one of {ROUTES}"
        )
    at = where(index, route)
    keys = NORMUON_GROUP_KEYS if route == "normuon" else ADAM_GROUP_KEYS
    for key in ("params", *keys):
        if key not in raw:
            raise SpecError("", at, f"missing required key {brief(key)}")
    other = set(ADAM_GROUP_KEYS if route == "normuon" else NORMUON_GROUP_KEYS) - set(keys)
    stray = sorted(k for k in other if k in raw)
    if stray:
        raise SpecError(
            "", at, f"holds {', '.join(map(repr, stray))}, keys of the other route; remove them"
        )
    group = dict(raw)
    _params(at, route, group)
    if route == "normuon":
        _normuon(at, group)
    else:
        _adam(at, group)
    for key in keys:
        value = group[key]
        if isinstance(value, tuple | list):
            group[key] = tuple(plain_number(x) for x in value)
        elif not isinstance(value, Tensor | str) and value is not None:
            group[key] = plain_number(value)
    return group
