"""The param-group contract of :class:`~optfn.MuonWithAdamW`, and its check.

Every group names its ``route`` (:data:`ROUTES`), its ``params`` and their ``param_names``, and
the route's hyper-parameters (:data:`MUON_GROUP_KEYS` or :data:`ADAMW_GROUP_KEYS`; an adamw
group may add ``amsgrad``, ``maximize``, ``foreach`` and ``fused``). :func:`normalize_group`
checks one group with optfn's one checker set (:mod:`optfn.specs.checks`: a number is any
real number, numpy scalars included, never a bool) and returns the dict the optimizer keeps,
numpy scalars turned into Python numbers so that its ``state_dict`` loads with
``weights_only=True``.

A bad value raises :class:`~optfn.errors.SpecError` (a ``ValueError``) or
:class:`~optfn.errors.SpecTypeError` (a ``TypeError``) whose ``field`` is the group (its index
and route) and whose message names the key:

>>> import numpy as np, torch
>>> w = torch.nn.Parameter(torch.zeros(2))
>>> group = {"params": [w], "param_names": ["w"], "route": "adamw", "lr": np.float32(0.5),
...          "weight_decay": 0.0, "betas": (0.9, 0.999), "eps": 1e-8}
>>> g = normalize_group(0, group)
>>> g["lr"], type(g["lr"]).__name__, g["amsgrad"]
(0.5, 'float', False)
>>> normalize_group(1, {**group, "lr": -1.0})
Traceback (most recent call last):
    ...
optfn.errors.SpecError: param group 1 (route 'adamw'): 'lr' must be finite and >= 0.0, got -1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.group_checks import check_bool as _check_bool
from optfn.optim.group_checks import check_real as _check_real
from optfn.optim.group_checks import params_and_names, where
from optfn.specs.checks import is_int, is_real, plain_number
from optfn.specs.optimizers import MAX_NS_STEPS, ns_steps_ok
from optfn.specs.render import brief

__all__ = [
    "ADAMW_DEFAULTS",
    "ADAMW_FIXED",
    "ADAMW_GROUP_KEYS",
    "ADAMW_OPTIONAL",
    "ADJUST_LR_FNS",
    "MUON_DEFAULTS",
    "MUON_GROUP_KEYS",
    "OPTIMIZER_DEFAULTS",
    "ROUTES",
    "ROUTE_DEFAULTS",
    "normalize_group",
    "where",
]

#: The routes a param group may name.
ROUTES: tuple[str, ...] = ("muon", "adamw")

#: Keys every ``"muon"`` group must have (besides ``params``, ``param_names`` and ``route``).
MUON_GROUP_KEYS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "momentum",
    "nesterov",
    "ns_coefficients",
    "ns_steps",
    "eps",
    "adjust_lr_fn",
)

#: Keys every ``"adamw"`` group must have (besides ``params``, ``param_names`` and ``route``).
ADAMW_GROUP_KEYS: tuple[str, ...] = ("lr", "weight_decay", "betas", "eps")

#: Optional keys of an adamw group, filled with torch.optim.AdamW's defaults when absent, so
#: that the group (and the state_dict) looks like one of torch's AdamW groups. Only
#: ``amsgrad``, ``maximize``, ``foreach``, ``fused`` and ``capturable`` may differ from these;
#: the others are fixed.
ADAMW_OPTIONAL: dict[str, Any] = {
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
    "decoupled_weight_decay": True,
}
ADAMW_FIXED = ("differentiable", "decoupled_weight_decay")

#: torch.optim.Muon's defaults for the keys of a muon group (its constructor's defaults).
MUON_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 0.1,
    "momentum": 0.95,
    "nesterov": True,
    "ns_coefficients": (3.4445, -4.775, 2.0315),
    "ns_steps": 5,
    "eps": 1e-7,
    "adjust_lr_fn": None,
}

#: torch.optim.AdamW's defaults for the keys of an adamw group (its constructor's defaults).
ADAMW_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 0.01,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    **ADAMW_OPTIONAL,
}

#: Each route's defaults: exactly the keys (besides ``params``, ``param_names``, ``route``) a
#: group of that route holds, with torch's default values.
ROUTE_DEFAULTS: dict[str, dict[str, Any]] = {"muon": MUON_DEFAULTS, "adamw": ADAMW_DEFAULTS}

#: ``MuonWithAdamW.defaults``: a default for every key a group holds, for readers of
#: ``optimizer.defaults`` (monitors, wrappers). A key both routes hold (``lr``,
#: ``weight_decay``, ``eps``) has torch.optim.Muon's default; a route's own key its route's
#: default (``betas`` AdamW's, ``momentum`` Muon's). Lightning's stock
#: ``LearningRateMonitor(log_momentum=True)`` then reads ``betas[0]`` of every group and fails
#: on a muon group; :class:`optfn.integrations.lightning.LearningRateMonitor` reads each
#: group's own key.
OPTIMIZER_DEFAULTS: dict[str, Any] = {**ADAMW_DEFAULTS, **MUON_DEFAULTS}

#: The values of a muon group's ``adjust_lr_fn`` (``None`` means ``"original"``, as in torch).
ADJUST_LR_FNS = ("original", "match_rms_adamw")


def _check_lr(at: str, group: Mapping[str, Any]) -> None:
    """``lr``: a real number >= 0, or a 0-D floating tensor holding one (torch's tensor LR,
    which a compiled step reads without recompiling when a scheduler fills it)."""
    lr = group["lr"]
    if not isinstance(lr, Tensor):
        _check_real(at, "lr", lr, 0.0)
        return
    if lr.ndim != 0:
        raise SpecError(
            "",
            at,
            f"'lr' as a tensor must be 0-D (torch.tensor(0.01)), got shape {tuple(lr.shape)}",
        )
    if not lr.is_floating_point():
        raise SpecTypeError(
            "", at, f"'lr' as a tensor must be a floating-point tensor, got dtype {lr.dtype}"
        )
    if lr.requires_grad:
        raise SpecError(
            "", at, f"'lr' as a tensor must not require grad, got {brief(lr)}; pass lr.detach()"
        )
    if lr.device.type == "meta" or not bool(torch.isfinite(lr) & (lr >= 0)):
        raise SpecError("", at, f"'lr' must be finite and >= 0.0, got {brief(lr)}")
    devices = {p.device for p in group["params"] if isinstance(p, Tensor)}
    if lr.device.type != "cpu" and devices - {lr.device}:
        raise SpecError(
            "",
            at,
            f"'lr' is a tensor on {lr.device} but the group's parameters are on "
            f"{', '.join(sorted(map(str, devices)))}; keep a tensor LR on the CPU or on "
            "the parameters' device",
        )


def _check_muon_hyper(at: str, group: Mapping[str, Any]) -> None:
    _check_lr(at, group)
    _check_real(at, "weight_decay", group["weight_decay"], 0.0)
    _check_real(at, "momentum", group["momentum"], 0.0, hi=1.0)
    _check_bool(at, "nesterov", group["nesterov"])
    coefficients = group["ns_coefficients"]
    if (
        not isinstance(coefficients, Sequence)
        or isinstance(coefficients, str)
        or len(coefficients) != 3
        or not all(is_real(c) and math.isfinite(c) for c in coefficients)
    ):
        raise SpecTypeError(
            "", at, f"'ns_coefficients' must be 3 finite real numbers, got {brief(coefficients)}"
        )
    steps = group["ns_steps"]
    if not is_int(steps):
        raise SpecTypeError("", at, f"'ns_steps' must be an int, got {brief(steps)}")
    if not ns_steps_ok(steps):
        raise SpecError("", at, f"'ns_steps' must be in [1, {MAX_NS_STEPS}), got {brief(steps)}")
    _check_real(at, "eps", group["eps"], 0.0, lo_open=True)
    if group["adjust_lr_fn"] is not None and group["adjust_lr_fn"] not in ADJUST_LR_FNS:
        raise SpecError(
            "",
            at,
            f"'adjust_lr_fn' must be one of {ADJUST_LR_FNS} (or None, meaning "
            f"'original'), got {brief(group['adjust_lr_fn'])}",
        )


def _check_adamw_hyper(at: str, group: Mapping[str, Any]) -> None:
    _check_lr(at, group)
    _check_real(at, "weight_decay", group["weight_decay"], 0.0)
    betas = group["betas"]
    if (
        not isinstance(betas, Sequence)
        or isinstance(betas, str)
        or len(betas) != 2
        or not all(is_real(x) for x in betas)
    ):
        raise SpecTypeError("", at, f"'betas' must be 2 real numbers, got {brief(betas)}")
    for i, beta in enumerate(betas):
        _check_real(at, f"betas[{i}]", beta, 0.0, hi=1.0)
    _check_real(at, "eps", group["eps"], 0.0)
    _check_bool(at, "amsgrad", group["amsgrad"])
    _check_bool(at, "maximize", group["maximize"])
    _check_bool(at, "capturable", group["capturable"])
    for key in ("foreach", "fused"):
        if group[key] is not None:
            _check_bool(at, key, group[key])
    if group["foreach"] and group["fused"]:
        raise SpecError("", at, "'foreach' and 'fused' cannot both be True (as in torch)")
    if group["foreach"] and isinstance(group["lr"], Tensor) and not group["capturable"]:
        raise SpecError(
            "",
            at,
            "a tensor 'lr' cannot run with foreach=True and capturable=False: torch's foreach "
            "AdamW takes a tensor LR only with capturable=True (torch.optim.AdamW refuses it "
            "too); use foreach=None or False, fused=True, or capturable=True (CUDA/XPU parameters)",
        )
    for key in ADAMW_FIXED:
        if group[key] != ADAMW_OPTIONAL[key]:
            raise SpecError(
                "",
                at,
                f"{key}={brief(group[key])} is not supported by MuonWithAdamW "
                f"(only {key}={brief(ADAMW_OPTIONAL[key])})",
            )


def _check_params(at: str, route: str, group: dict[str, Any]) -> None:
    names = group["param_names"]
    if names is None:  # required here: make_param_groups names every parameter
        raise SpecTypeError("", at, "'param_names' must be a list of str, got None")
    params, names = params_and_names(at, group["params"], names)
    for name, p in zip(names, params, strict=True):
        if route == "muon":
            if p.ndim < 2:
                raise SpecError(
                    "",
                    at,
                    f"parameter {brief(name)} has shape {tuple(p.shape)} (ndim {p.ndim}); "
                    "Muon needs ndim >= 2, route it to 'adamw'",
                )
            if p.numel() == 0:
                raise SpecError("", at, f"parameter {brief(name)} is empty {tuple(p.shape)}")
            if torch.is_complex(p) or not p.is_floating_point():
                raise SpecTypeError(
                    "",
                    at,
                    f"parameter {brief(name)} has dtype {p.dtype}; Muon needs a real "
                    "floating-point parameter",
                )
    group["params"], group["param_names"] = params, names


def _check_fused(at: str, group: Mapping[str, Any]) -> None:
    """torch's fused AdamW runs real floating-point parameters on its fused devices only."""
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    devices = _get_fused_kernels_supported_devices()
    for name, p in zip(group["param_names"], group["params"], strict=True):
        if p.device.type not in devices or not torch.is_floating_point(p):
            raise SpecError(
                "",
                at,
                f"fused=True cannot run parameter {brief(name)} ({p.dtype} on {p.device.type}): "
                f"torch's fused AdamW needs real floating-point parameters on {', '.join(devices)}",
            )


def normalize_group(index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check one param group against the contract and return the dict the optimizer keeps.

    The adamw optional keys are filled with torch's defaults; real hyper-parameters given as
    numpy scalars become the Python numbers they equal (``betas``/``ns_coefficients`` become
    tuples only if one of their items was a numpy scalar).
    """
    if not isinstance(raw, Mapping):
        raise SpecTypeError(
            "",
            f"param group {index}",
            f"must be a dict with 'params', 'param_names', 'route', ...; got {type(raw).__name__}",
        )
    if "route" not in raw:
        raise SpecError("", f"param group {index}", f"missing required key 'route' ({ROUTES})")
    route = raw["route"]
    if route not in ROUTES:
        raise SpecError(
            "", f"param group {index}", f"unknown route {brief(route)}; expected one of {ROUTES}"
        )
    at = where(index, route)
    keys = MUON_GROUP_KEYS if route == "muon" else ADAMW_GROUP_KEYS
    for key in ("params", "param_names", *keys):
        if key not in raw:
            raise SpecError("", at, f"missing required key {brief(key)}")
    group = dict(raw)
    if route == "adamw":
        for key, default in ADAMW_OPTIONAL.items():
            group.setdefault(key, default)
    _check_params(at, route, group)
    if route == "muon":
        _check_muon_hyper(at, group)
    else:
        _check_adamw_hyper(at, group)
        if group["fused"]:
            _check_fused(at, group)
    for key in keys:
        value = group[key]
        if isinstance(value, tuple | list) and any(plain_number(x) is not x for x in value):
            group[key] = tuple(plain_number(x) for x in value)
        else:
            group[key] = plain_number(value)
    return group
