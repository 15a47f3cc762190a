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
(['calls', 'exp_avg', 'exp_avg_sq', 'grad_sum', 'step'], True)
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


#: A step's scalar: a Python float (an eager step with float hyper-parameters) or a 0-D tensor
#: (a tensor LR, or any step traced by ``torch.compile``).
Scalar = float | Tensor
#: A ``"normuon"`` parameter as a bank: ``(n, rows, cols)``.
Bank = tuple[int, int, int]


def _traced() -> bool:
    """Whether ``torch.compile`` is tracing the step (its scalars are then 0-D tensors)."""
    return bool(torch.compiler.is_compiling())


def _lr(group: Mapping[str, Any]) -> Scalar:
    """The group's LR: a Python float eagerly; as a float64 0-D tensor when it is a tensor or
    the step is traced (no ``.item()``: a compiled step reads the tensor a scheduler fills)."""
    lr = group["lr"]
    if isinstance(lr, Tensor):
        return lr.to(torch.float64)
    if _traced():
        return _traced_scalar(lr)
    return float(lr)


def _traced_scalar(x: float) -> Tensor:
    """A Python float as a float64 0-D tensor inside a traced step, by an addition (exact):
    a float that changes between steps then becomes a graph input, where ``torch.tensor(x)``
    would specialize the graph on its value (one recompile per value)."""
    return torch.zeros((), dtype=torch.float64) + x


def _rounded(x: Scalar) -> Scalar:
    """``x`` (float64 arithmetic) as the float32 value the original uses (see :func:`_f32`);
    a tensor gives a float32 0-D tensor (the same value: one float64 -> float32 rounding)."""
    if isinstance(x, Tensor):
        return x.to(torch.float32)
    if _traced():
        return _traced_scalar(x).to(torch.float32)
    return _f32(x)


@dataclasses.dataclass(frozen=True)
class _NorMuonHyper:
    """One ``"normuon"`` group's numbers for one step (read once per group and step)."""

    at: str
    lr: Scalar
    momentum: Scalar  # train_gpt.py 876: a 0-D fp32 tensor
    one_minus: Scalar  # exact: the fp32 subtraction of line 190
    beta2: float
    weight_decay: float
    factors: tuple[float, ...] | None
    cautious: bool
    method: str
    steps: int

    @classmethod
    def of(cls, index: int, group: Mapping[str, Any]) -> _NorMuonHyper:
        momentum = _rounded(group["momentum"])
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
      step, which the optimizer keeps (state ``grad_sum``); ``t`` counts Adam steps only.
      State (from the parameter's first call): ``step`` (``t``, a float32 0-D CPU tensor, as
      torch's Adam keeps it), ``calls`` (int, the calls since the last Adam step: ``0`` to
      ``every - 1``), ``exp_avg``, ``exp_avg_sq`` (float32), ``grad_sum`` (while it holds a
      gradient). A state saved with an int ``step`` and ``calls`` counting every call (optfn
      before the compiled step) loads and steps the same.

    ``zero_redundancy`` (keyword, default ``True``): under an initialized process group of
    more than one rank, each matrix of each ``"normuon"`` bank is orthogonalized by one owner
    rank only and the bfloat16 results are exchanged in a few ``all_gather`` calls per step
    (:mod:`optfn.optim.normuon.distributed`); the state stays whole and identical on every
    rank, and the update is one process's, bit for bit. The parameters must be plain tensors
    holding the same values on every rank (DDP; checked once): a ``DTensor`` (FSDP2) is
    refused naming it, ranks holding different parameters are refused. ``False``: every rank
    computes every update. ``distributed_stats`` (a
    :class:`~optfn.optim.muon.distributed.DistributedStats`) counts the matrices this rank
    orthogonalized (``ns_calls``), the exchange's collectives and bytes; ``reset()`` zeroes it
    (eager steps count; a compiled step leaves it as it is).

    ``lr`` may be a 0-D floating tensor (``make_optimizer(..., tensor_lr=True)``): it stays a
    tensor through the step (no ``.item()``), in the same float64 arithmetic rounded to float32,
    so the updates are those of the float it holds, bit for bit.

    **torch.compile.** ``torch.compile(opt.step, fullgraph=True)`` traces the whole step, both
    routes, with no graph break: one graph per phase of the Adam cadence (``calls``, a small
    int, is a guard: 2 graphs for ``every=2``, 1 for ``every=1``), the state created eagerly by
    :meth:`_init_group` as in torch's optimizers. With tensor LRs a schedule causes no
    recompile; a float LR or ``momentum`` that changes recompiles once, then dynamo treats it as
    a dynamic float. Compile the step before ``make_scheduler`` (or any torch LR scheduler)
    wraps ``opt.step``: the wrapper lives in a file dynamo skips, which ``fullgraph=True``
    refuses, for torch's optimizers too. The compiled step runs the same bfloat16 matrix
    products; inductor's fusion keeps the Polar Express normalization's bfloat16 intermediates
    in float32 unless compiled with ``options={"emulate_precision_casts": True}``, with which
    the bank updates are the eager ones bit for bit (without: within Polar Express's own
    bfloat16 noise); the Adam update differs from eager by float32 rounding. Under a
    zero-redundancy process group the step is not traced (:meth:`_step_eagerly`).

    Parameters whose ``.grad`` is ``None`` are skipped (an Adam parameter still counts the
    call). A bad group raises
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
        #: Per Adam parameter with ``every > 1``: the buffer its ``grad_sum`` lives in.
        self._grad_sums: dict[Tensor, Tensor] = {}
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
        self.__dict__.setdefault("_grad_sums", {})

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

        The loaded hyper-parameters are checked before anything is replaced. An Adam ``step``
        saved as an int (optfn before the compiled step) becomes the 0-D tensor kept today."""
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
                if key == "step":
                    st[key] = _step_tensor(value)
                elif isinstance(value, Tensor):
                    st[key] = value.to(device=p.device, copy=True)
        for i, group in enumerate(self.param_groups):
            group.update(normalize_group(i, group))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One step of every group: NorMuon for ``"normuon"`` groups, Adam for ``"adam"``.

        ``torch.compile(opt.step, fullgraph=True)`` traces it as one graph per Adam phase
        (see the class docstring), except under a zero-redundancy process group, where it runs
        eagerly (:meth:`_step_eagerly`)."""
        if _traced() and self.zero_redundancy and distributed_world():
            loss: float | None = self._step_eagerly(closure)
            return loss
        return self._step(closure)

    @torch.compiler.disable(  # type: ignore[untyped-decorator, no-untyped-call]
        reason="NorMuonWithAdam's zero-redundancy exchange (an owner plan built in Python, "
        "bucketed all_gathers whose sizes depend on the ranks) runs eagerly"
    )
    def _step_eagerly(self, closure: Callable[[], float] | None) -> float | None:
        """The step, never traced: what a compiled step runs under a zero-redundancy process
        group. Its exchange builds an owner plan in Python, sizes and issues its bucketed
        ``all_gather`` calls per step from it, and hands each rank's results back through
        Python callbacks; dynamo does not trace that, so the compiled step skips it (a graph
        break: ``fullgraph=True`` raises with this function's reason). Compile with
        ``zero_redundancy=False`` for a graph (every rank then orthogonalizes every matrix)."""
        return self._step(closure)

    def _step(self, closure: Callable[[], float] | None) -> float | None:
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
        shared = None if _traced() else self._shared_step()
        banks = self._init_group()
        for index, group in enumerate(self.param_groups):
            if group["route"] != "normuon":
                continue
            if shared is None:
                self._normuon_step(index, group, banks[index])
            else:
                self._add_shared(index, group, banks[index], shared)
        if shared is not None:
            shared.finish()
        for group in self.param_groups:
            if group["route"] == "adam":
                self._adam_step(group)
        return loss

    # ---- state ---------------------------------------------------------------------------
    def _init_group(self) -> tuple[tuple[Bank | None, ...], ...]:
        """Create the state every parameter needs for this step, in every group; return each
        group's banks (per parameter: its ``(n, rows, cols)`` on a ``"normuon"`` group, where
        :func:`~optfn.optim.normuon.groups.bank_shape` reads it, ``None`` on an ``"adam"`` one).

        A ``"normuon"`` parameter with a gradient: ``momentum_buffer`` (shaped like the
        parameter) and ``second_momentum_buffer``, float32 zeros (train_gpt.py 545-583). An
        ``"adam"`` parameter: ``step`` (a float32 0-D CPU tensor, as torch's Adam keeps it;
        an int from an older pickle becomes one) and ``calls`` (0), and once it has a gradient
        ``exp_avg``, ``exp_avg_sq`` (float32 zeros).

        The name is torch's contract: under ``torch.compile`` dynamo runs a method called
        ``_init_group`` eagerly instead of tracing it, so the step that creates the state and
        the steps that find it share their graphs. It is one call for all the groups, made
        before the step reads any state: the traced step then sees every entry it creates.
        """
        banks: list[tuple[Bank | None, ...]] = []
        for index, group in enumerate(self.param_groups):
            at = where(index, group["route"])
            mine: list[Bank | None] = []
            for name, p in zip(group["param_names"], group["params"], strict=True):
                state = self.state[p]
                if group["route"] == "adam":
                    mine.append(None)
                    if not state:
                        state["step"] = _step_tensor(0)
                        state["calls"] = 0
                    elif not isinstance(state["step"], Tensor):  # an int: an older pickle
                        state["step"] = _step_tensor(state["step"])
                    # the moments and the gradient-sum buffer only for a parameter that has
                    # (or holds) a gradient, as torch's Adam: one that never gets one costs
                    # nothing beyond its step counters
                    if p.grad is None and "grad_sum" not in state:
                        continue
                    if "exp_avg" not in state:
                        state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                        state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
                    if group["every"] > 1 and p not in self._grad_sums:
                        self._grad_sums[p] = torch.empty_like(
                            p, memory_format=torch.contiguous_format
                        )
                    continue
                n, rows, cols = bank = bank_shape(at, name, p)
                mine.append(bank)
                if p.grad is None:
                    continue
                if not state:
                    state["momentum_buffer"] = torch.zeros(
                        p.shape, dtype=torch.float32, device=p.device
                    )
                    second = (n, rows, 1) if rows >= cols else (n, 1, cols)
                    state["second_momentum_buffer"] = torch.zeros(
                        second, dtype=torch.float32, device=p.device
                    )
                if not state["momentum_buffer"].is_contiguous():  # e.g. loaded from elsewhere
                    state["momentum_buffer"] = state["momentum_buffer"].contiguous()
            banks.append(tuple(mine))
        return tuple(banks)

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

    def _add_shared(
        self,
        index: int,
        group: dict[str, Any],
        banks: tuple[Bank | None, ...],
        shared: SharedNorMuonStep,
    ) -> None:
        hyper = _NorMuonHyper.of(index, group)
        for p, shape in zip(group["params"], banks, strict=True):
            if p.grad is None or shape is None:
                continue

            def prepare(
                nesterov: bool, p: Tensor = p, shape: tuple[int, int, int] = shape
            ) -> Tensor | None:
                return self._momentum(hyper, p, shape, nesterov)

            def finish(v: Tensor, p: Tensor = p, shape: tuple[int, int, int] = shape) -> None:
                self._apply_normuon(hyper, p, shape, v)

            shared.add(p, shape, hyper.method, hyper.steps, prepare, finish)

    def _normuon_step(
        self, index: int, group: dict[str, Any], banks: tuple[Bank | None, ...]
    ) -> None:
        hyper = _NorMuonHyper.of(index, group)
        for p, shape in zip(group["params"], banks, strict=True):
            if p.grad is None or shape is None:
                continue
            g = self._momentum(hyper, p, shape, True)
            assert g is not None
            v = orthogonalize_bank(g, hyper.method, hyper.steps)
            self.distributed_stats.add(ns_calls=shape[0])
            self._apply_normuon(hyper, p, shape, v)

    def _momentum(
        self, hyper: _NorMuonHyper, p: Tensor, shape: tuple[int, int, int], nesterov: bool
    ) -> Tensor | None:
        """The momentum step of ``p`` (its state made by :meth:`_init_group`); with
        ``nesterov``, returns the Nesterov update as the bank ``(n, rows, cols)`` in float32."""
        buf = self.state[p]["momentum_buffer"].view(shape)  # a view: updates reach the state
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
        lr_eff: Scalar
        if factors is None:
            lr_eff = _rounded(shape_mult * lr)
        elif isinstance(lr, Tensor):  # 897-902, the same float64 products, then float32
            k = len(factors)
            muls = torch.tensor(
                [shape_mult * factors[i % k] for i in range(n)],
                dtype=torch.float64,
                device=lr.device,
            )
            lr_eff = (muls * lr).to(device=p.device, dtype=torch.float32).view(n, 1, 1)
        else:  # 897-902: per-matrix factor (repeated over the bank)
            k = len(factors)
            lr_eff = torch.tensor(
                [_f32(shape_mult * factors[i % k] * lr) for i in range(n)],
                dtype=torch.float32,
                device=p.device,
            ).view(n, 1, 1)
        wd_eff = _rounded(hyper.weight_decay * lr)  # 878: wd * wd_mul * lr
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
            # the calls since the last Adam step: a small int, so that a compiled step makes
            # one graph per phase of the cadence (an int that grew would be one per call)
            calls = (state["calls"] + 1) % every
            state["calls"] = calls
            grad = p.grad
            if every > 1:
                # 819-823: the gradients of the skipped calls are kept and summed in
                if grad is not None:
                    held = state.get("grad_sum")
                    if held is None:
                        # the first gradient of a cycle, copied into the parameter's own
                        # buffer: the same tensor every cycle (a compiled step guards on it)
                        held = self._grad_sum_buffer(p, grad)
                        state["grad_sum"] = held.copy_(grad)
                    else:
                        held.add_(grad)
                if calls:
                    continue
                grad = state.pop("grad_sum", None)
            if grad is not None:
                self._adam_update(p, grad, state, group)

    def _grad_sum_buffer(self, p: Tensor, like: Tensor) -> Tensor:
        """The tensor that holds ``p``'s gradient sum between Adam steps (state ``grad_sum``
        while it holds one): kept across cycles, outside the state, made by
        :meth:`_init_group` (or here, for a gradient of another dtype or device)."""
        buf = self._grad_sums.get(p)
        if buf is None or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty_like(like, memory_format=torch.contiguous_format)
            self._grad_sums[p] = buf
        return buf

    @staticmethod
    def _adam_update(
        p: Tensor, grad: Tensor, state: dict[str, Any], group: Mapping[str, Any]
    ) -> None:
        """train_gpt.py 828-864 on one parameter (in place)."""
        beta1, beta2 = group["betas"]
        lr = _lr(group)
        state["step"] += 1
        step_size: Scalar
        if isinstance(lr, Tensor):  # the same float64 arithmetic on 0-D tensors
            t = state["step"].to(torch.float64)
            step_size = (lr * ((1 - beta2**t).sqrt() / (1 - beta1**t))).to(torch.float32)
        else:
            t = float(state["step"])
            step_size = _f32(lr * (math.sqrt(1 - beta2**t) / (1 - beta1**t)))  # 844
        wd_eff = _rounded(lr * lr * group["weight_decay"])  # 845: lr^2 * wd * wd_mul
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        update = exp_avg.div(exp_avg_sq.sqrt().add_(group["eps"])).mul_(step_size)
        if group["cautious_weight_decay"]:
            mask = (update * p) > 0  # 863-864: decay only where the update agrees with p
            if isinstance(wd_eff, Tensor):
                update.addcmul_(p * wd_eff, mask)  # (wd * p) * mask, as addcmul's value
            else:
                update.addcmul_(p, mask, value=wd_eff)
        elif isinstance(wd_eff, Tensor):
            update.addcmul_(p, wd_eff)
        else:
            update.add_(p, alpha=wd_eff)
        p.add_(update, alpha=-1.0)


def _step_tensor(step: Any) -> Tensor:
    """An Adam ``step`` count as kept in the state: a float32 0-D CPU tensor (an int or a
    tensor in; torch's Adam keeps its ``step`` the same way)."""
    if isinstance(step, Tensor):
        return step.detach().to(device="cpu", dtype=torch.float32, copy=True).reshape(())
    return torch.tensor(float(step), dtype=torch.float32)


#: Every key a group of each route holds (for readers of the contract).
ROUTE_KEYS: dict[str, tuple[str, ...]] = {"normuon": NORMUON_GROUP_KEYS, "adam": ADAM_GROUP_KEYS}
