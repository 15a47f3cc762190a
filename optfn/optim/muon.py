"""``MuonWithAdamW``: one ``torch.optim.Optimizer`` running Muon and AdamW on routed param groups.

Every param group carries a ``"route"``: ``"muon"`` groups get exactly ``torch.optim.Muon``'s
update, ``"adamw"`` groups exactly ``torch.optim.AdamW``'s (through torch's own functional
``adamw``). One optimizer instead of two means one ``step``/``zero_grad``/``state_dict`` and one
LR scheduler over both kinds of group. The groups are what :func:`optfn.make_param_groups`
builds from a ``MuonSpec``; writing them by hand works too:

>>> import torch
>>> from optfn.optim.muon import MuonWithAdamW
>>> w, b = torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.zeros(4))
>>> opt = MuonWithAdamW([
...     {"params": [w], "param_names": ["w"], "route": "muon", "lr": 0.02,
...      "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
...      "ns_coefficients": (3.4445, -4.775, 2.0315), "ns_steps": 5, "eps": 1e-7,
...      "adjust_lr_fn": "original"},
...     {"params": [b], "param_names": ["b"], "route": "adamw", "lr": 3e-4,
...      "weight_decay": 0.01, "betas": (0.9, 0.999), "eps": 1e-8},
... ])
>>> (w.sum() + b.sum()).backward()
>>> opt.step()
>>> sorted(opt.state[w]), sorted(opt.state[b])
(['momentum_buffer'], ['exp_avg', 'exp_avg_sq', 'step'])
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim.adamw import adamw as _torch_adamw

__all__ = ["ADAMW_GROUP_KEYS", "MUON_GROUP_KEYS", "ROUTES", "MuonWithAdamW"]

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

# Optional keys of an adamw group, filled with torch.optim.AdamW's defaults when absent, so that
# the group (and the state_dict) looks like one of torch's AdamW groups. Only ``amsgrad``,
# ``maximize`` and ``foreach`` may differ from these; the others are fixed.
_ADAMW_OPTIONAL: dict[str, Any] = {
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
    "decoupled_weight_decay": True,
}
_ADAMW_FIXED = ("capturable", "differentiable", "fused", "decoupled_weight_decay")

_ADJUST_LR_FNS = ("original", "match_rms_adamw")
_MAX_NS_STEPS = 100  # torch.optim.Muon refuses ns_steps >= 100


# ---- Newton–Schulz and the LR adjustment (torch.optim.Muon's math, same op order) ---------------
def _orthogonalize(
    matrix: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> Tensor:
    """Quintic Newton–Schulz on one 2-D matrix in bfloat16, op for op as torch.optim.Muon.

    Out-of-place ``div`` where torch writes ``div_``: same values, but a bfloat16 input (whose
    ``.bfloat16()`` is itself) is never modified.
    """
    a, b, c = coefficients
    x = matrix.bfloat16()
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T
    x = x.div(x.norm().clamp(min=eps))
    for _ in range(steps):
        gram = x @ x.T
        gram_update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def _orthogonalize_batched(
    matrices: Sequence[Tensor], coefficients: tuple[float, float, float], steps: int, eps: float
) -> list[Tensor]:
    """Newton–Schulz on a stack of same-shape matrices at once (``bmm``/``baddbmm``).

    The same sequence of operations as :func:`_orthogonalize`, batched: one kernel per operation
    for the whole stack instead of one per matrix, which is what makes it fast on a GPU.
    """
    a, b, c = coefficients
    rows, cols = matrices[0].shape
    x = torch.empty((len(matrices), rows, cols), dtype=torch.bfloat16, device=matrices[0].device)
    for i, m in enumerate(matrices):
        x[i].copy_(m)
    tall = rows > cols
    if tall:
        x = x.mT
    x = x.div(torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True).clamp(min=eps))
    for _ in range(steps):
        gram = x @ x.mT
        gram_update = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, gram_update, x, beta=a)
    if tall:
        x = x.mT
    return list(x.unbind(0))


def _matrix_shape(param: Tensor) -> tuple[int, int]:
    """The 2-D shape Muon works on: ``(shape[0], -1)``."""
    rows = param.shape[0]
    return rows, param.numel() // rows


def _is_dtensor(t: Tensor) -> bool:
    """Whether ``t`` is a ``torch.distributed.tensor.DTensor`` (FSDP2 / tensor-parallel shard).

    Looked up in ``sys.modules``: if that module was never imported, no tensor is a DTensor,
    and optfn does not pay for importing it.
    """
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def _orthogonalized_update(
    update: Tensor,
    shape: tuple[int, int],
    coefficients: tuple[float, float, float],
    steps: int,
    eps: float,
) -> Tensor:
    """Newton–Schulz of ``update`` viewed as the matrix ``shape``, shaped like ``update``.

    A DTensor (a parameter sharded by FSDP2's ``fully_shard`` or tensor parallelism) is
    gathered whole (``full_tensor()``), orthogonalized on every rank exactly as an unsharded
    matrix, and each rank keeps its own shard of the result (``distribute_tensor`` with
    ``src_data_rank=None``: a local split, no communication). Orthogonalizing the shards, or
    letting DTensor run Newton–Schulz as distributed bfloat16 matmuls, would give another
    update; this gives the unsharded one, bit for bit.
    """
    if _is_dtensor(update):
        from torch.distributed.tensor import distribute_tensor

        full = update.full_tensor()  # type: ignore[attr-defined]
        ortho = _orthogonalize(full.reshape(shape), coefficients, steps, eps).reshape(full.shape)
        return distribute_tensor(
            ortho,
            update.device_mesh,  # type: ignore[attr-defined]
            update.placements,  # type: ignore[attr-defined]
            src_data_rank=None,
        )
    return _orthogonalize(update.reshape(shape), coefficients, steps, eps).reshape(update.shape)


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, rows: int, cols: int) -> float:
    """torch.optim.Muon's ``_adjust_lr`` on the matrix shape ``(rows, cols)``."""
    if adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:  # "original" (or None, torch's spelling of it)
        ratio = math.sqrt(max(1, rows / cols))
    return lr * ratio


# ---- group validation -----------------------------------------------------------------------
def _where(index: int, route: object) -> str:
    return f"param group {index} (route {route!r})"


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_real(
    where: str,
    key: str,
    value: object,
    lo: float,
    *,
    lo_open: bool = False,
    hi: float | None = None,
) -> None:
    if not _is_real(value):
        raise TypeError(f"{where}: {key!r} must be a real number, got {value!r}")
    x = float(value)  # type: ignore[arg-type]
    bad = not math.isfinite(x) or (x <= lo if lo_open else x < lo) or (hi is not None and x >= hi)
    if bad:
        lo_txt = f"> {lo}" if lo_open else f">= {lo}"
        hi_txt = f" and < {hi}" if hi is not None else ""
        raise ValueError(f"{where}: {key!r} must be finite and {lo_txt}{hi_txt}, got {value!r}")


def _check_bool(where: str, key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {key!r} must be a bool, got {value!r}")


def _check_muon_hyper(where: str, group: Mapping[str, Any]) -> None:
    _check_real(where, "lr", group["lr"], 0.0)
    _check_real(where, "weight_decay", group["weight_decay"], 0.0)
    _check_real(where, "momentum", group["momentum"], 0.0, hi=1.0)
    _check_bool(where, "nesterov", group["nesterov"])
    coefficients = group["ns_coefficients"]
    if (
        not isinstance(coefficients, Sequence)
        or isinstance(coefficients, str)
        or len(coefficients) != 3
        or not all(_is_real(c) and math.isfinite(c) for c in coefficients)
    ):
        raise TypeError(
            f"{where}: 'ns_coefficients' must be 3 finite real numbers, got {coefficients!r}"
        )
    steps = group["ns_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise TypeError(f"{where}: 'ns_steps' must be an int, got {steps!r}")
    if not 1 <= steps < _MAX_NS_STEPS:
        raise ValueError(f"{where}: 'ns_steps' must be in [1, {_MAX_NS_STEPS}), got {steps!r}")
    _check_real(where, "eps", group["eps"], 0.0, lo_open=True)
    if group["adjust_lr_fn"] is not None and group["adjust_lr_fn"] not in _ADJUST_LR_FNS:
        raise ValueError(
            f"{where}: 'adjust_lr_fn' must be one of {_ADJUST_LR_FNS} (or None, meaning "
            f"'original'), got {group['adjust_lr_fn']!r}"
        )


def _check_adamw_hyper(where: str, group: Mapping[str, Any]) -> None:
    _check_real(where, "lr", group["lr"], 0.0)
    _check_real(where, "weight_decay", group["weight_decay"], 0.0)
    betas = group["betas"]
    if (
        not isinstance(betas, Sequence)
        or isinstance(betas, str)
        or len(betas) != 2
        or not all(_is_real(x) for x in betas)
    ):
        raise TypeError(f"{where}: 'betas' must be 2 real numbers, got {betas!r}")
    for i, beta in enumerate(betas):
        _check_real(where, f"betas[{i}]", beta, 0.0, hi=1.0)
    _check_real(where, "eps", group["eps"], 0.0)
    _check_bool(where, "amsgrad", group["amsgrad"])
    _check_bool(where, "maximize", group["maximize"])
    if group["foreach"] is not None:
        _check_bool(where, "foreach", group["foreach"])
    for key in _ADAMW_FIXED:
        if group[key] != _ADAMW_OPTIONAL[key]:
            raise ValueError(
                f"{where}: {key}={group[key]!r} is not supported by MuonWithAdamW "
                f"(only {key}={_ADAMW_OPTIONAL[key]!r})"
            )


def _normalize_group(index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check one param group against the contract and return the dict the optimizer keeps."""
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"param group {index}: must be a dict with 'params', 'param_names', 'route', ...; "
            f"got {type(raw).__name__}"
        )
    if "route" not in raw:
        raise ValueError(f"param group {index}: missing required key 'route' ({ROUTES})")
    route = raw["route"]
    if route not in ROUTES:
        raise ValueError(f"param group {index}: unknown route {route!r}; expected one of {ROUTES}")
    where = _where(index, route)
    required = (
        "params",
        "param_names",
        *(MUON_GROUP_KEYS if route == "muon" else ADAMW_GROUP_KEYS),
    )
    for key in required:
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")
    group = dict(raw)
    if route == "adamw":
        for key, default in _ADAMW_OPTIONAL.items():
            group.setdefault(key, default)

    params, names = group["params"], group["param_names"]
    if isinstance(params, Tensor) or not isinstance(params, Iterable) or isinstance(params, set):
        raise TypeError(f"{where}: 'params' must be a list of tensors, got {type(params).__name__}")
    params = list(params)
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(f"{where}: 'param_names' must be a list of str, got {names!r}")
    names = list(names)
    if len(names) != len(params):
        raise ValueError(
            f"{where}: 'params' has {len(params)} entries but 'param_names' has {len(names)}"
        )
    for name, p in zip(names, params, strict=True):
        if not isinstance(name, str):
            raise TypeError(f"{where}: 'param_names' must hold str, got {name!r}")
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameter {name!r} is a {type(p).__name__}, not a tensor")
        if route == "muon":
            if p.ndim < 2:
                raise ValueError(
                    f"{where}: parameter {name!r} has shape {tuple(p.shape)} (ndim {p.ndim}); "
                    "Muon needs ndim >= 2, route it to 'adamw'"
                )
            if p.numel() == 0:
                raise ValueError(f"{where}: parameter {name!r} is empty {tuple(p.shape)}")
            if torch.is_complex(p) or not p.is_floating_point():
                raise TypeError(
                    f"{where}: parameter {name!r} has dtype {p.dtype}; Muon needs a real "
                    "floating-point parameter"
                )
    group["params"], group["param_names"] = params, names
    if route == "muon":
        _check_muon_hyper(where, group)
    else:
        _check_adamw_hyper(where, group)
    return group


def _scalar_dtype() -> torch.dtype:
    """The dtype torch's Adam gives ``state["step"]`` (float64 only under a float64 default)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


# ---- the optimizer --------------------------------------------------------------------------
class MuonWithAdamW(torch.optim.Optimizer):
    """Muon on the ``"muon"`` param groups, AdamW on the ``"adamw"`` ones, in one optimizer.

    ``param_groups`` is a list of dicts, each with ``params`` (tensors), ``param_names`` (str,
    same length), ``route`` and the route's hyper-parameters:

    - ``"muon"``: ``lr``, ``weight_decay``, ``momentum``, ``nesterov``, ``ns_coefficients``,
      ``ns_steps``, ``eps``, ``adjust_lr_fn`` (``"original"``, ``"match_rms_adamw"``; ``None``
      means ``"original"`` as in torch). The update is ``torch.optim.Muon``'s, op for op
      (momentum ``lerp_``, Nesterov ``grad.lerp(buf, momentum)``, bfloat16 Newton–Schulz,
      decoupled decay ``p *= 1 - lr * wd``, then ``p -= adjusted_lr * update``); state key
      ``momentum_buffer``. Parameters need ``ndim >= 2``; one with ``ndim > 2`` (a conv weight)
      is orthogonalized as its ``(shape[0], -1)`` matrix, the update reshaped back, and the LR
      adjustment uses that matrix's shape (torch's Muon refuses ``ndim != 2``).
    - ``"adamw"``: ``lr``, ``weight_decay``, ``betas``, ``eps``; optional ``amsgrad``,
      ``maximize`` (default ``False``) and ``foreach`` (default ``None``: torch's own choice,
      i.e. foreach on CUDA). The step calls torch's functional ``torch.optim.adamw.adamw`` and
      keeps torch.optim.AdamW's state (``step`` as a CPU tensor, ``exp_avg``, ``exp_avg_sq``),
      so it is ``torch.optim.AdamW`` exactly. ``fused``/``capturable``/``differentiable`` are
      not supported (the group carries torch's defaults ``None``/``False``/``False``).

    A missing key, an unknown route or a bad value raises ``ValueError``/``TypeError`` naming
    the group index, its route and the key (or the parameter's name). ``defaults`` is
    ``{"differentiable": False}``: no hyper-parameter is defaulted, each group states its own.

    ``batch_newton_schulz`` (keyword): orthogonalize the same-shape matrices of a muon group
    together, one batched Newton–Schulz (``bmm``/``baddbmm``) per shape, with the element-wise
    steps as foreach kernels. ``None`` (default) batches on non-CPU devices only. On CPU the
    per-matrix path keeps bit-equality with ``torch.optim.Muon`` (batched bfloat16 GEMMs are
    not promised to round like single ones, though they did on the machine this was written
    on, and on CPU batching buys little); on a GPU it turns about twenty kernel launches per
    matrix into twenty per shape, and the result matches torch's to bfloat16 rounding.

    Parameters whose ``.grad`` is ``None`` are skipped; sparse gradients raise ``TypeError``.

    >>> import torch
    >>> from optfn.optim.muon import MuonWithAdamW
    >>> conv = torch.nn.Conv2d(2, 4, 3)
    >>> opt = MuonWithAdamW([
    ...     {"params": [conv.weight], "param_names": ["weight"], "route": "muon", "lr": 0.02,
    ...      "weight_decay": 0.0, "momentum": 0.95, "nesterov": True,
    ...      "ns_coefficients": (3.4445, -4.775, 2.0315), "ns_steps": 5, "eps": 1e-7,
    ...      "adjust_lr_fn": "match_rms_adamw"},
    ...     {"params": [conv.bias], "param_names": ["bias"], "route": "adamw", "lr": 1e-3,
    ...      "weight_decay": 0.0, "betas": (0.9, 0.999), "eps": 1e-8},
    ... ])
    >>> conv(torch.randn(1, 2, 5, 5)).square().mean().backward()
    >>> opt.step()
    >>> opt.state[conv.weight]["momentum_buffer"].shape
    torch.Size([4, 2, 3, 3])
    """

    def __init__(
        self,
        param_groups: Iterable[Mapping[str, Any]],
        *,
        batch_newton_schulz: bool | None = None,
    ) -> None:
        if isinstance(param_groups, Tensor | Mapping) or not isinstance(param_groups, Iterable):
            raise TypeError(
                "MuonWithAdamW takes a list of param-group dicts (see optfn.make_param_groups), "
                f"got {type(param_groups).__name__}"
            )
        groups = list(param_groups)
        if not groups:
            raise ValueError("MuonWithAdamW got no param groups")
        for i, g in enumerate(groups):
            if not isinstance(g, Mapping):
                raise TypeError(
                    "MuonWithAdamW takes a list of param-group dicts (see "
                    f"optfn.make_param_groups); item {i} is a {type(g).__name__}"
                )
        if batch_newton_schulz is not None and not isinstance(batch_newton_schulz, bool):
            raise TypeError(
                f"batch_newton_schulz must be a bool or None, got {batch_newton_schulz!r}"
            )
        self.batch_newton_schulz = batch_newton_schulz
        super().__init__([dict(g) for g in groups], {"differentiable": False})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Check ``param_group`` against the route's contract, then add it (see the class)."""
        super().add_param_group(_normalize_group(len(self.param_groups), param_group))

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            if group.get("route") == "adamw":
                for key, default in _ADAMW_OPTIONAL.items():
                    group.setdefault(key, default)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, refusing a state whose groups have other routes.

        The loaded groups' hyper-parameters replace the current ones (as in torch); they are
        checked like groups given to the constructor, before anything is loaded, so a refused
        state leaves the optimizer as it was.
        """
        saved = state_dict.get("param_groups")
        if not isinstance(saved, list) or len(saved) != len(self.param_groups):
            n = len(saved) if isinstance(saved, list) else "no"
            raise ValueError(
                f"loaded state_dict has {n} param groups, this optimizer {len(self.param_groups)}"
            )
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            if not isinstance(theirs, Mapping) or theirs.get("route") != mine["route"]:
                got = theirs.get("route") if isinstance(theirs, Mapping) else theirs
                raise ValueError(
                    f"param group {i}: loaded state_dict has route {got!r}, "
                    f"this optimizer {mine['route']!r}"
                )
            # check the loaded hyper-parameters before anything is replaced
            _normalize_group(i, {**theirs, "params": mine["params"]})
        super().load_state_dict(state_dict)
        for i, group in enumerate(self.param_groups):
            group.update(_normalize_group(i, group))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One step of every group: Muon for ``"muon"`` groups, AdamW for ``"adamw"`` ones.

        ``closure`` (optional) re-evaluates the model and returns the loss, as in torch.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            if group["route"] == "muon":
                self._muon_step(index, group)
            else:
                self._adamw_step(index, group)
        return loss

    # ---- muon ---------------------------------------------------------------------------
    def _with_grad(self, index: int, group: dict[str, Any]) -> tuple[list[Tensor], list[Tensor]]:
        params: list[Tensor] = []
        grads: list[Tensor] = []
        for name, p in zip(group["param_names"], group["params"], strict=True):
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise TypeError(
                    f"{_where(index, group['route'])}: parameter {name!r} has a sparse gradient; "
                    "MuonWithAdamW supports dense gradients only"
                )
            params.append(p)
            grads.append(grad)
        return params, grads

    def _batched(self, device: torch.device) -> bool:
        if self.batch_newton_schulz is None:
            return device.type != "cpu"
        return self.batch_newton_schulz

    def _muon_step(self, index: int, group: dict[str, Any]) -> None:
        params, grads = self._with_grad(index, group)
        if not params:
            return
        lr = float(group["lr"])
        decay = 1 - lr * group["weight_decay"]
        momentum = group["momentum"]
        nesterov = group["nesterov"]
        coefficients = tuple(group["ns_coefficients"])
        steps, eps, adjust = group["ns_steps"], group["eps"], group["adjust_lr_fn"]

        # Buckets for the batched path: (device, dtype, matrix shape) -> indices.
        buckets: dict[tuple[torch.device, torch.dtype, tuple[int, int]], list[int]] = {}
        bufs: list[Tensor] = []
        for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(
                    grad, memory_format=torch.preserve_format
                )
            buf = state["momentum_buffer"]
            bufs.append(buf)
            if self._batched(p.device) and not _is_dtensor(p):  # DTensors: gathered below
                buckets.setdefault((p.device, grad.dtype, _matrix_shape(p)), []).append(i)
                continue
            # Per-matrix path: op for op torch.optim.Muon's loop body.
            buf.lerp_(grad, 1 - momentum)
            update = grad.lerp(buf, momentum) if nesterov else buf
            shape = _matrix_shape(p)
            ortho = _orthogonalized_update(update, shape, coefficients, steps, eps)
            p.mul_(decay)
            p.add_(ortho, alpha=-_adjusted_lr(lr, adjust, *shape))

        # Batched path: the same element-wise math with foreach kernels, and one Newton–Schulz
        # per bucket of same-shape matrices.
        for (_, _, shape), members in buckets.items():
            ps = [params[i] for i in members]
            gs = [grads[i] for i in members]
            bs = [bufs[i] for i in members]
            torch._foreach_lerp_(bs, gs, 1 - momentum)
            updates = torch._foreach_lerp(gs, bs, momentum) if nesterov else bs
            orthos = _orthogonalize_batched(
                [u.reshape(shape) for u in updates], coefficients, steps, eps
            )
            torch._foreach_mul_(ps, decay)
            torch._foreach_add_(
                ps,
                [o.reshape(p.shape) for o, p in zip(orthos, ps, strict=True)],
                alpha=-_adjusted_lr(lr, adjust, *shape),
            )

    # ---- adamw --------------------------------------------------------------------------
    def _adamw_step(self, index: int, group: dict[str, Any]) -> None:
        params, grads = self._with_grad(index, group)
        if not params:
            return
        exp_avgs: list[Tensor] = []
        exp_avg_sqs: list[Tensor] = []
        max_exp_avg_sqs: list[Tensor] = []
        steps: list[Tensor] = []
        has_complex = False
        for p in params:
            has_complex |= torch.is_complex(p)
            state = self.state[p]
            if len(state) == 0:  # torch.optim.Adam._init_group's lazy init (not fused/capturable)
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype(), device="cpu")
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        beta1, beta2 = group["betas"]
        _torch_adamw(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            steps,
            foreach=group["foreach"],
            capturable=False,
            differentiable=False,
            fused=None,
            grad_scale=None,
            found_inf=None,
            has_complex=has_complex,
            amsgrad=group["amsgrad"],
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )
