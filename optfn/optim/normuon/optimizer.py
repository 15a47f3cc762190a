"""``NorMuonWithAdam``: modded-nanogpt's NorMuon + Adam as one ``torch.optim.Optimizer``.

The update of each route is modded-nanogpt's (``KellerJordan/modded-nanogpt``, ``train_gpt.py``
at commit ``f411b3d3``; line numbers below are that file's), re-written in plain PyTorch for any
device: no Triton kernels, no sharding, no bf16 mantissa buffer (a float32 parameter holds the
exact value the original keeps as bf16 + mantissa). The groups are what
:func:`optfn.make_param_groups` builds from a :class:`~optfn.NorMuonSpec`; by hand:

>>> import torch
>>> from optfn.optim.normuon import NorMuonWithAdam
>>> bank, b = torch.nn.Parameter(torch.randn(4, 8, 6)), torch.nn.Parameter(torch.zeros(8))
>>> opt = NorMuonWithAdam([
...     {"params": [bank], "route": "normuon", "lr": 0.023, "weight_decay": 1.2,
...      "momentum": 0.95, "beta2": 0.9, "orthogonalizer": "polar_express", "ns_steps": 5,
...      "cautious_weight_decay": True, "per_matrix_lr_mul": (1.0, 2.0)},
...     {"params": [b], "route": "adam", "lr": 0.008, "weight_decay": 0.005,
...      "betas": (0.9, 0.99), "eps": 1e-10, "cautious_weight_decay": True, "every": 2},
... ])
>>> (bank.sum() + b.sum()).backward()
>>> opt.step()
>>> sorted(opt.state[bank]), opt.state[bank]["second_momentum_buffer"].shape
(['momentum_buffer', 'second_momentum_buffer'], torch.Size([4, 8, 1]))
>>> sorted(opt.state[b]), bool(b.abs().sum() == 0)  # every=2: kept the gradient, no step yet
(['calls', 'grad_sum', 'step'], True)
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from optfn.errors import SpecTypeError, StateError
from optfn.optim.loaded import saved_groups
from optfn.optim.muon.distributed import DistributedStats
from optfn.optim.normuon.distributed import (
    NorMuonPlan,
    SharedNorMuonStep,
    build_plan,
    distributed_world,
)
from optfn.optim.normuon.groups import (
    ADAM_GROUP_KEYS,
    NORMUON_GROUP_KEYS,
    bank_shape,
    normalize_group,
    where,
)
from optfn.optim.normuon.orthogonalize import normuon_variance_reduction, orthogonalize_bank
from optfn.specs.render import brief

__all__ = ["DEFAULTS", "NorMuonWithAdam"]

#: ``optimizer.defaults``: a value for every key a group of either route holds (the
#: :class:`~optfn.NorMuonSpec` defaults; a key both routes hold has NorMuon's). Groups are
#: strict: nothing is filled from here.
DEFAULTS: dict[str, Any] = {
    "betas": (0.9, 0.99),
    "eps": 1e-10,
    "every": 1,
    "lr": 0.023,
    "weight_decay": 1.2,
    "momentum": 0.95,
    "beta2": 0.9,
    "orthogonalizer": "polar_express",
    "ns_steps": 5,
    "cautious_weight_decay": True,
    "per_matrix_lr_mul": None,
}


def _f32(x: float) -> float:
    """``x`` rounded to float32, as the original's 0-D float32 tensors (``*_t.fill_(x)``) hold
    its scalars: the arithmetic is float64 (Python), the value used is float32."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _lr(group: Mapping[str, Any]) -> float:
    lr = group["lr"]
    return float(lr.item()) if isinstance(lr, Tensor) else float(lr)


@dataclasses.dataclass(frozen=True)
class _NorMuonHyper:
    """One ``"normuon"`` group's numbers for one step (read once per group and step)."""

    at: str
    lr: float
    momentum: float  # train_gpt.py 876: a 0-D fp32 tensor
    one_minus: float  # exact: the fp32 subtraction of line 190
    beta2: float
    weight_decay: float
    factors: tuple[float, ...] | None
    cautious: bool
    method: str
    steps: int

    @classmethod
    def of(cls, index: int, group: Mapping[str, Any]) -> _NorMuonHyper:
        momentum = _f32(group["momentum"])
        return cls(
            at=where(index, "normuon"),
            lr=_lr(group),
            momentum=momentum,
            one_minus=1.0 - momentum,
            beta2=group["beta2"],
            weight_decay=group["weight_decay"],
            factors=group["per_matrix_lr_mul"],
            cautious=group["cautious_weight_decay"],
            method=group["orthogonalizer"],
            steps=group["ns_steps"],
        )


class NorMuonWithAdam(torch.optim.Optimizer):
    """NorMuon on the ``"normuon"`` param groups, Adam on the ``"adam"`` ones, in one optimizer.

    Groups (checked by :func:`~optfn.optim.normuon.groups.normalize_group`; every key
    required, ``param_names`` optional):

    - ``"normuon"``: ``lr``, ``weight_decay``, ``momentum``, ``beta2``, ``orthogonalizer``
      (``"polar_express"``/``"newton_schulz"``), ``ns_steps``, ``cautious_weight_decay``,
      ``per_matrix_lr_mul`` (``None`` or factors repeated over each bank's matrices). Each
      parameter is a bank ``(n, rows, cols)`` (:func:`~optfn.optim.normuon.groups.bank_shape`:
      a tuple ``reshape`` attribute, else the last two dims; the ``reshape`` *method* of the
      parameter is never called). Per step (train_gpt.py 869-947):

      1. ``g = grad`` as the bank, in float32; Nesterov momentum ``buf.lerp_(g, 1 - m)``,
         ``g.lerp_(buf, m)`` (874, 190-191);
      2. each matrix orthogonalized on its own, batched over the bank, in bfloat16
         (:func:`~optfn.optim.normuon.orthogonalize.orthogonalize_bank`; 193-253);
      3. ``v`` normalized by the EMA of its per-row (rows >= cols) or per-column mean square,
         no bias correction, rescaled to keep each matrix's norm (890, 936-948);
      4. ``lr_eff = lr * sqrt(max(1, rows / cols)) * per_matrix_lr_mul[i % k]`` (509-522, 897-902)
         and
         ``p -= p * [v * p >= 0] * (weight_decay * lr) * lr_eff + v * lr_eff`` in float32
         (914-932; without ``cautious_weight_decay`` the mask is 1). A bfloat16 parameter gets
         the float32 result rounded to nearest (the original keeps the lost bits in a mantissa
         buffer: use float32 parameters for its precision).

      ``lr`` is the group's (a label's ``lr_scale`` included): the original's decay uses its
      base LR without the parameter's ``lr_mul``, the same for its banks, whose ``lr_mul`` is 1.
      State: ``momentum_buffer`` (shaped like the parameter) and ``second_momentum_buffer``
      ``(n, rows, 1)`` or ``(n, 1, cols)``, float32.
    - ``"adam"``: ``lr``, ``weight_decay``, ``betas``, ``eps``, ``cautious_weight_decay``,
      ``every``. Per Adam step (828-864): ``t += 1``; ``m``, ``v`` the usual float32 moments;
      ``u = m / (sqrt(v) + eps) * lr * sqrt(1 - b2^t) / (1 - b1^t)``; decay
      ``u += lr**2 * weight_decay * p`` where ``u * p > 0`` (everywhere without
      ``cautious_weight_decay``); ``p -= u``. The step sizes are computed in float64 and used
      as float32, as the original. Cadence: the group's parameters step on every
      ``every``-th call of :meth:`step` (calls ``s = 0, 1, ...`` with
      ``(s + 1) % every == 0``), on the sum of the gradients of the calls since their last
      step, which the optimizer keeps (state ``grad_sum``; ``calls`` counts the calls since
      the parameter joined); ``t`` counts Adam steps only. State: ``step`` (int), ``calls``
      (int), ``exp_avg``, ``exp_avg_sq`` (float32, from the first Adam step), ``grad_sum``
      (between Adam steps).

    ``zero_redundancy`` (keyword, default ``True``): under an initialized process group of
    more than one rank, each matrix of each ``"normuon"`` bank is orthogonalized by one owner
    rank only and the bfloat16 results are exchanged in a few ``all_gather`` calls per step
    (:mod:`optfn.optim.normuon.distributed`); the state stays whole and identical on every
    rank, and the update is one process's, bit for bit. The parameters must be plain tensors
    holding the same values on every rank (DDP; checked once): a ``DTensor`` (FSDP2) is
    refused naming it, ranks holding different parameters are refused. ``False``: every rank
    computes every update. ``distributed_stats`` (a
    :class:`~optfn.optim.muon.distributed.DistributedStats`) counts the matrices this rank
    orthogonalized (``ns_calls``), the exchange's collectives and bytes; ``reset()`` zeroes it.

    ``lr`` may be a 0-D tensor (read with ``.item()`` each step). Parameters whose ``.grad`` is
    ``None`` are skipped (an Adam parameter still counts the call). A bad group raises
    :class:`~optfn.errors.SpecError` / :class:`~optfn.errors.SpecTypeError` naming the group,
    its route and the key; a ``state_dict`` whose groups do not match is a
    :class:`~optfn.errors.StateError`. ``load_state_dict`` keeps the saved state's dtypes
    (float32 moments of a bfloat16 parameter stay float32).
    """

    def __init__(
        self, param_groups: Iterable[Mapping[str, Any]], *, zero_redundancy: bool = True
    ) -> None:
        if isinstance(param_groups, Tensor | Mapping) or not isinstance(param_groups, Iterable):
            raise SpecTypeError(
                "NorMuonWithAdam",
                "param_groups",
                "must be a list of param-group dicts (see optfn.make_param_groups), "
                f"got {type(param_groups).__name__}",
            )
        groups = list(param_groups)
        if not groups:
            raise SpecTypeError("NorMuonWithAdam", "param_groups", "got no param groups")
        for i, g in enumerate(groups):
            if not isinstance(g, Mapping):
                raise SpecTypeError(
                    "NorMuonWithAdam",
                    "param_groups",
                    f"must hold param-group dicts; item {i} is a {type(g).__name__}",
                )
        if not isinstance(zero_redundancy, bool):
            raise SpecTypeError(
                "NorMuonWithAdam",
                "zero_redundancy",
                f"must be a bool, got {brief(zero_redundancy)}",
            )
        # every group checked before any is added: a refused list builds nothing
        checked = [normalize_group(i, g) for i, g in enumerate(groups)]
        #: Whether the ``"normuon"`` banks are shared out under a process group (see the class).
        self.zero_redundancy = zero_redundancy
        #: Per-rank counters: matrices orthogonalized, collectives, bytes (DistributedStats).
        self.distributed_stats = DistributedStats()
        self._zero_redundancy_plan: NorMuonPlan | None = None
        super().__init__(checked, dict(DEFAULTS))

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state["zero_redundancy"] = self.zero_redundancy
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("zero_redundancy", True)  # a pickle from before it existed
        self.__dict__.setdefault("distributed_stats", DistributedStats())
        self.__dict__.setdefault("_zero_redundancy_plan", None)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Check ``param_group`` against its route's contract, then add it."""
        group = normalize_group(len(self.param_groups), param_group)
        own = set(group)
        super().add_param_group(group)
        for key in set(group) - own:  # torch fills every key of ``defaults``: keep the route's
            del group[key]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, refusing groups of other routes and keeping the saved
        state's dtypes (torch would cast float32 moments to a bfloat16 parameter's dtype).

        The loaded hyper-parameters are checked before anything is replaced."""
        saved = saved_groups(self.param_groups, state_dict)
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            if len(theirs.get("params", ())) != len(mine["params"]):
                raise StateError(
                    f"param group {i}: loaded state_dict has {len(theirs.get('params', ()))} "
                    f"parameters, this optimizer {len(mine['params'])}"
                )
            try:
                normalize_group(i, {**theirs, "params": mine["params"]})
            except (ValueError, TypeError) as exc:
                raise StateError(f"loaded state_dict: {exc}") from exc
        ids = [pid for g in saved for pid in g["params"]]
        params = [p for g in self.param_groups for p in g["params"]]
        saved_state = state_dict.get("state", {})
        super().load_state_dict(state_dict)
        for pid, p in zip(ids, params, strict=True):
            entry = saved_state.get(pid)
            if not isinstance(entry, Mapping):
                continue
            st = self.state[p]
            for key, value in entry.items():
                if isinstance(value, Tensor):
                    st[key] = value.to(device=p.device, copy=True)
        for i, group in enumerate(self.param_groups):
            group.update(normalize_group(i, group))

    @torch._disable_dynamo  # type: ignore[attr-defined]
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One step of every group: NorMuon for ``"normuon"`` groups, Adam for ``"adam"``.

        Under ``torch.compile`` the step runs eagerly (dynamo skips it: a graph break, not a
        graph): its float64 scalar arithmetic, read from the groups at every step, is the
        original's, which a traced graph would not keep."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            for name, p in zip(group["param_names"], group["params"], strict=True):
                if p.grad is not None and p.grad.is_sparse:
                    raise SpecTypeError(
                        "",
                        where(index, group["route"]),
                        f"parameter {brief(name)} has a sparse gradient; "
                        "NorMuonWithAdam supports dense gradients only",
                    )
        # built (a collective) and checked before anything changes: a refusal changes nothing
        shared = self._shared_step()
        for index, group in enumerate(self.param_groups):
            if group["route"] != "normuon":
                continue
            if shared is None:
                self._normuon_step(index, group)
            else:
                self._add_shared(index, group, shared)
        if shared is not None:
            shared.finish()
        for group in self.param_groups:
            if group["route"] == "adam":
                self._adam_step(group)
        return loss

    # ---- NorMuon -------------------------------------------------------------------------
    def _shared_step(self) -> SharedNorMuonStep | None:
        """This step's zero-redundancy exchange, or ``None`` (off, 1 rank, no NorMuon bank)."""
        if not self.zero_redundancy or not distributed_world():
            return None
        params: list[Tensor] = []
        names: list[str] = []
        wheres: list[str] = []
        for index, group in enumerate(self.param_groups):
            if group["route"] == "normuon":
                at = where(index, "normuon")
                params.extend(group["params"])
                names.extend(group["param_names"])
                wheres.extend([at] * len(group["params"]))
        if not params:
            return None
        banks = [bank_shape(at, n, p) for at, n, p in zip(wheres, names, params, strict=True)]
        signature = tuple((id(p), b) for p, b in zip(params, banks, strict=True))
        plan = self._zero_redundancy_plan
        if plan is None or plan.signature != signature or plan.world != dist.get_world_size():
            plan = build_plan(params, names, wheres, banks)
            self._zero_redundancy_plan = plan
        return SharedNorMuonStep(plan, self.distributed_stats)

    def _add_shared(self, index: int, group: dict[str, Any], shared: SharedNorMuonStep) -> None:
        hyper = _NorMuonHyper.of(index, group)
        for name, p in zip(group["param_names"], group["params"], strict=True):
            if p.grad is None:
                continue
            shape = bank_shape(hyper.at, name, p)

            def prepare(
                nesterov: bool, p: Tensor = p, shape: tuple[int, int, int] = shape
            ) -> Tensor | None:
                return self._momentum(hyper, p, shape, nesterov)

            def finish(v: Tensor, p: Tensor = p, shape: tuple[int, int, int] = shape) -> None:
                self._apply_normuon(hyper, p, shape, v)

            shared.add(p, shape, hyper.method, hyper.steps, prepare, finish)

    def _normuon_step(self, index: int, group: dict[str, Any]) -> None:
        hyper = _NorMuonHyper.of(index, group)
        for name, p in zip(group["param_names"], group["params"], strict=True):
            if p.grad is None:
                continue
            shape = bank_shape(hyper.at, name, p)
            g = self._momentum(hyper, p, shape, True)
            assert g is not None
            v = orthogonalize_bank(g, hyper.method, hyper.steps)
            self.distributed_stats.add(ns_calls=shape[0])
            self._apply_normuon(hyper, p, shape, v)

    def _momentum(
        self, hyper: _NorMuonHyper, p: Tensor, shape: tuple[int, int, int], nesterov: bool
    ) -> Tensor | None:
        """The state (created on the first step) and the momentum step of ``p``; with
        ``nesterov``, returns the Nesterov update as the bank ``(n, rows, cols)`` in float32."""
        n, rows, cols = shape
        state = self.state[p]
        if not state:  # train_gpt.py 545-583: fp32 buffers (the momentum shaped like p)
            state["momentum_buffer"] = torch.zeros(p.shape, dtype=torch.float32, device=p.device)
            second = (n, rows, 1) if rows >= cols else (n, 1, cols)
            state["second_momentum_buffer"] = torch.zeros(
                second, dtype=torch.float32, device=p.device
            )
        if not state["momentum_buffer"].is_contiguous():  # e.g. loaded from elsewhere
            state["momentum_buffer"] = state["momentum_buffer"].contiguous()
        buf = state["momentum_buffer"].view(shape)  # a view: updates reach the state
        # 874: the gradient as the bank, a new float32 tensor
        assert p.grad is not None
        g = torch.reshape(p.grad, shape).to(torch.float32, copy=True)
        buf.lerp_(g, hyper.one_minus)  # 190-191: Nesterov momentum by lerp
        if not nesterov:
            return None
        return g.lerp_(buf, hyper.momentum)

    def _apply_normuon(
        self, hyper: _NorMuonHyper, p: Tensor, shape: tuple[int, int, int], v: Tensor
    ) -> None:
        """Second-moment normalization of the orthogonalized bank ``v``, then the update."""
        n, rows, cols = shape
        state = self.state[p]
        red_dim = -1 if rows >= cols else -2  # 890: per row (rows >= cols), else per column
        v = normuon_variance_reduction(v, state["second_momentum_buffer"], hyper.beta2, red_dim)
        shape_mult = max(1.0, rows / cols) ** 0.5  # 509
        lr, factors = hyper.lr, hyper.factors
        lr_eff: float | Tensor
        if factors is None:
            lr_eff = _f32(shape_mult * lr)
        else:  # 897-902: per-matrix factor (repeated over the bank)
            k = len(factors)
            lr_eff = torch.tensor(
                [_f32(shape_mult * factors[i % k] * lr) for i in range(n)],
                dtype=torch.float32,
                device=p.device,
            ).view(n, 1, 1)
        wd_eff = _f32(hyper.weight_decay * lr)  # 878: wd * wd_mul * lr
        # 914-932: p - p * [v * p >= 0] * wd_eff * lr_eff - v * lr_eff, in float32
        p32 = torch.reshape(p.detach(), shape).float()
        update = v.float()
        decay = p32 * ((update * p32) >= 0) if hyper.cautious else p32
        new = p32 - decay * wd_eff * lr_eff - update * lr_eff
        p.copy_(torch.reshape(new, p.shape))

    # ---- Adam ----------------------------------------------------------------------------
    def _adam_step(self, group: dict[str, Any]) -> None:
        every = group["every"]
        for p in group["params"]:
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["calls"] = 0
            state["calls"] += 1
            grad = p.grad
            if every > 1:
                # 819-823: the gradients of the skipped calls are kept and summed in
                if grad is not None:
                    held = state.get("grad_sum")
                    if held is None:
                        state["grad_sum"] = grad.clone()
                    else:
                        held.add_(grad)
                if state["calls"] % every:
                    continue
                grad = state.pop("grad_sum", None)
            if grad is not None:
                self._adam_update(p, grad, state, group)

    @staticmethod
    def _adam_update(
        p: Tensor, grad: Tensor, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        """train_gpt.py 828-864 on one parameter (in place)."""
        beta1, beta2 = group["betas"]
        lr = _lr(group)
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
        state["step"] += 1
        t = state["step"]
        step_size = _f32(lr * (math.sqrt(1 - beta2**t) / (1 - beta1**t)))  # 844
        wd_eff = _f32(lr * lr * group["weight_decay"])  # 845: lr^2 * wd * wd_mul
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        update = exp_avg.div(exp_avg_sq.sqrt().add_(group["eps"])).mul_(step_size)
        if group["cautious_weight_decay"]:
            mask = (update * p) > 0  # 863-864: decay only where the update agrees with p
            update.addcmul_(p, mask, value=wd_eff)
        else:
            update.add_(p, alpha=wd_eff)
        p.add_(update, alpha=-1.0)


#: Every key a group of each route holds (for readers of the contract).
ROUTE_KEYS: dict[str, tuple[str, ...]] = {"normuon": NORMUON_GROUP_KEYS, "adam": ADAM_GROUP_KEYS}
