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

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.adamw import adamw as _torch_adamw
from torch.optim.optimizer import _get_capturable_supported_devices

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.loaded import saved_groups
from optfn.optim.muon.distributed import (
    DistributedStats,
    SharedMuonStep,
    ZeroRedundancyPlan,
    build_plan,
)
from optfn.optim.muon.groups import (
    ADAMW_OPTIONAL,
    OPTIMIZER_DEFAULTS,
    normalize_group,
    where,
)
from optfn.optim.muon.newton_schulz import (
    adjusted_lr,
    is_dtensor,
    matrix_shape,
    orthogonalize_batched,
    orthogonalized_update,
)
from optfn.specs.render import brief

__all__ = ["MuonWithAdamW"]


def _distributed_world() -> bool:
    """Whether a default process group of more than one rank is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _scalar_dtype() -> torch.dtype:
    """The dtype torch's Adam gives ``state["step"]`` (float64 only under a float64 default)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_capturable(index: int, group: dict[str, Any], state: Mapping[Tensor, Any]) -> None:
    """An eager capturable step needs every parameter with a gradient, and its ``step`` state,
    on a device of a kind torch's capturable kernels support (CUDA, XPU, ...), as
    ``torch.optim.AdamW`` asserts mid-step: said before any group moves, naming the parameter.
    Not checked for a fused group (torch's fused kernels take capturable on any device) nor
    under ``torch.compile`` (the compiler checks, and runs CPU ones too, as in torch).
    """
    if group["fused"]:
        return
    # torch's foreach path leaves XLA out; its for-loop path (and foreach=None off CUDA) not
    supported = _get_capturable_supported_devices(supports_xla=not group["foreach"])
    for name, p in zip(group["param_names"], group["params"], strict=True):
        if p.grad is None:
            continue
        step = state.get(p, {}).get("step")
        if p.device.type in supported and (step is None or step.device == p.device):
            continue
        where_step = "not created yet" if step is None else f"on {step.device}"
        raise SpecError(
            "",
            where(index, group["route"]),
            f"capturable=True needs parameter {brief(name)} (on {p.device}) and its 'step' "
            f"state ({where_step}) on one device of type {', '.join(supported)} outside "
            f"torch.compile; set opt.param_groups[{index}]['capturable'] = False to step "
            "here",
        )


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
      ``maximize`` (default ``False``), ``foreach`` and ``fused`` (default ``None``: torch's
      own choice, i.e. foreach on CUDA; not both ``True``), ``capturable`` (default
      ``False``; ``True`` needs the parameters on CUDA/XPU outside ``torch.compile``, and is
      what ``torch.compile`` sets on a GPU group whose state is not yet created, as it does
      for ``torch.optim.AdamW``). The step calls torch's functional
      ``torch.optim.adamw.adamw`` and keeps torch.optim.AdamW's state (``step`` as a CPU
      tensor, or on the parameter's device when fused (float32) or capturable, ``exp_avg``,
      ``exp_avg_sq``), so it is ``torch.optim.AdamW`` exactly, for each of these choices.
      ``differentiable`` is not supported (the group carries torch's default ``False``).

    A missing key, an unknown route or a bad value raises :class:`~optfn.errors.SpecError` (a
    ``ValueError``) or :class:`~optfn.errors.SpecTypeError` (a ``TypeError``) naming the group
    index, its route and the key (or the parameter's name); numbers are checked by optfn's one
    checker set (numpy scalars are numbers, bools are not). A ``state_dict`` whose groups do
    not match is a :class:`~optfn.errors.StateError` (a ``ValueError``).

    ``lr`` may be a 0-D floating-point tensor (``torch.tensor(0.02)``), as torch's ``Muon``
    and ``AdamW`` allow: it stays a tensor through the step (no ``.item()``; the Muon update is
    torch.optim.Muon's with a tensor LR, bit for bit), so ``torch.compile`` of the step does
    not recompile when a scheduler fills it with a new value. It must be finite and ``>= 0``,
    not require grad, and sit on the CPU or on its parameters' device; an adamw group with a
    tensor LR takes ``foreach=True`` only with ``capturable=True``, as in torch.
    ``load_state_dict`` keeps a saved tensor LR a tensor.

    ``defaults`` (read by monitors and wrappers) has a default for every key a group holds,
    with torch's values (:data:`~optfn.optim.muon.groups.OPTIMIZER_DEFAULTS`; each route's
    own in :data:`~optfn.optim.muon.groups.ROUTE_DEFAULTS`), ``betas`` included. Groups are
    still strict: ``add_param_group`` fills nothing from ``defaults``, each group states its
    route's keys and holds no key of the other route. (Lightning's ``LearningRateMonitor``
    reads ``betas[0]`` of every group once ``defaults`` has ``betas``, which a muon group does
    not hold: with ``log_momentum=True`` use
    :class:`optfn.integrations.lightning.LearningRateMonitor`, which reads each group's own.)

    ``batch_newton_schulz`` (keyword): orthogonalize the same-shape matrices of a muon group
    together, one batched Newton–Schulz (``bmm``/``baddbmm``) per shape, with the element-wise
    steps as foreach kernels. ``None`` (default) batches on non-CPU devices only. On CPU the
    per-matrix path keeps bit-equality with ``torch.optim.Muon`` (batched bfloat16 GEMMs are
    not promised to round like single ones, though they did on the machine this was written
    on, and on CPU batching buys little); on a GPU it turns about twenty kernel launches per
    matrix into twenty per shape, and the result matches torch's to bfloat16 rounding.

    ``zero_redundancy`` (keyword): under an initialized process group of more than one rank,
    each Muon matrix is orthogonalized by one owner rank only and the bfloat16 results are
    exchanged in a few bucketed collectives per step (:mod:`optfn.optim.muon.distributed`):
    plain tensors are taken to be replicated (DDP), ``Shard(0)`` DTensors on a 1-D mesh
    (FSDP2) are gathered to their owner and the result's rows sent back. The update is the
    same, bit for bit. ``None`` (default): on where it applies, other placements (``Shard(1)``,
    ``Replicate``, 2-D meshes) gather and orthogonalize on every rank as before; ``True``: the
    same, but such a placement is a ``ValueError``; ``False``: off, every rank orthogonalizes
    every matrix. Every rank must step an optimizer with the same Muon parameters (checked
    once, on the first step); pass ``False`` when ranks hold different models (pipeline
    stages). ``distributed_stats`` (a :class:`~optfn.optim.muon.distributed.DistributedStats`)
    counts this rank's Newton–Schulz calls, collectives and bytes; ``reset()`` zeroes it.

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
        zero_redundancy: bool | None = None,
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
                f"batch_newton_schulz must be a bool or None, got {brief(batch_newton_schulz)}"
            )
        self.batch_newton_schulz = batch_newton_schulz
        if zero_redundancy is not None and not isinstance(zero_redundancy, bool):
            raise TypeError(f"zero_redundancy must be a bool or None, got {brief(zero_redundancy)}")
        self.zero_redundancy = zero_redundancy
        #: Per-rank counters: Newton–Schulz calls, collectives, bytes (see DistributedStats).
        self.distributed_stats = DistributedStats()
        self._zero_redundancy_plan: ZeroRedundancyPlan | None = None
        super().__init__([dict(g) for g in groups], dict(OPTIMIZER_DEFAULTS))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Check ``param_group`` against the route's contract, then add it (see the class)."""
        group = normalize_group(len(self.param_groups), param_group)
        own = set(group)
        super().add_param_group(group)
        # torch fills every key of ``defaults`` into the group: keep only the route's own
        for key in set(group) - own:
            del group[key]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for key, default in OPTIMIZER_DEFAULTS.items():  # a pickle from before they were kept
            self.defaults.setdefault(key, default)
        # a pickle from before these existed: today's defaults
        self.__dict__.setdefault("distributed_stats", DistributedStats())
        self.__dict__.setdefault("zero_redundancy", None)
        self.__dict__.setdefault("_zero_redundancy_plan", None)
        for group in self.param_groups:
            if group.get("route") == "adamw":
                for key, default in ADAMW_OPTIONAL.items():
                    group.setdefault(key, default)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, refusing a state whose groups have other routes.

        The loaded groups' hyper-parameters replace the current ones (as in torch); they are
        checked like groups given to the constructor, before anything is loaded, so a refused
        state leaves the optimizer as it was.
        """
        saved = saved_groups(self.param_groups, state_dict)
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            # check the loaded hyper-parameters before anything is replaced
            normalize_group(i, {**theirs, "params": mine["params"]})
        super().load_state_dict(state_dict)
        for i, group in enumerate(self.param_groups):
            group.update(normalize_group(i, group))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One step of every group: Muon for ``"muon"`` groups, AdamW for ``"adamw"`` ones.

        ``closure`` (optional) re-evaluates the model and returns the loss, as in torch.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not torch.compiler.is_compiling():  # refused before any group moves
            for index, group in enumerate(self.param_groups):
                if group.get("capturable"):
                    _check_capturable(index, group, self.state)
        shared = self._shared_step()
        for index, group in enumerate(self.param_groups):
            if group["route"] == "muon":
                self._muon_step(index, group, shared)
            else:
                self._adamw_step(index, group)
        if shared is not None:
            shared.finish()
        return loss

    # ---- state ---------------------------------------------------------------------------
    def _init_group(
        self,
        index: int,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        *state_lists: list[Tensor],
    ) -> bool:
        """Collect ``group``'s parameters that have a gradient, with their gradients and state
        tensors, creating the state on a parameter's first step; whether any is complex.

        The lists are filled in place, as in torch's optimizers: ``state_lists`` is
        ``(momentum_buffers,)`` for a muon group and ``(exp_avgs, exp_avg_sqs,
        max_exp_avg_sqs, steps)`` for an adamw group. The name and the contract are torch's:
        under ``torch.compile`` dynamo runs a method called ``_init_group`` eagerly instead of
        tracing it, so the step that creates the state and the steps that find it share one
        graph (no recompile after the first step).
        """
        muon = group["route"] == "muon"
        has_complex = False
        for name, p in zip(group["param_names"], group["params"], strict=True):
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise SpecTypeError(
                    "",
                    where(index, group["route"]),
                    f"parameter {brief(name)} has a sparse gradient; "
                    "MuonWithAdamW supports dense gradients only",
                )
            params.append(p)
            grads.append(grad)
            state = self.state[p]
            if muon:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(
                        grad, memory_format=torch.preserve_format
                    )
                state_lists[0].append(state["momentum_buffer"])
                continue
            has_complex |= torch.is_complex(p)
            if len(state) == 0:  # torch.optim.Adam._init_group's lazy init
                # ``step`` on the parameter's device when fused (float32) or capturable, else
                # a CPU scalar, as torch keeps it
                state["step"] = torch.zeros(
                    (),
                    dtype=torch.float32 if group["fused"] else _scalar_dtype(),
                    device=p.device if group["fused"] or group["capturable"] else "cpu",
                )
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
            exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = state_lists
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        return has_complex

    # ---- muon ----------------------------------------------------------------------------
    def _shared_step(self) -> SharedMuonStep | None:
        """This step's zero-redundancy exchange, or ``None`` (off, or nothing to share)."""
        mode = self.zero_redundancy
        if mode is False or not _distributed_world():
            return None
        params: list[Tensor] = []
        names: list[str] = []
        for group in self.param_groups:
            if group["route"] == "muon":
                params.extend(group["params"])
                names.extend(group["param_names"])
        if not params:
            return None
        plan = self._zero_redundancy_plan
        signature = tuple(id(p) for p in params)
        if plan is None or plan.signature != signature or plan.required != (mode is True):
            plan = build_plan(params, names, require=mode is True)
            self._zero_redundancy_plan = plan
        if not plan.entries:
            return None
        return SharedMuonStep(plan, self.distributed_stats, self._batched)

    def _batched(self, device: torch.device) -> bool:
        if self.batch_newton_schulz is None:
            return device.type != "cpu"
        return self.batch_newton_schulz

    def _muon_step(
        self, index: int, group: dict[str, Any], shared: SharedMuonStep | None = None
    ) -> None:
        params: list[Tensor] = []
        grads: list[Tensor] = []
        bufs: list[Tensor] = []
        self._init_group(index, group, params, grads, bufs)
        if not params:
            return
        # A tensor LR stays a tensor (as in torch.optim.Muon): no .item(), so a compiled step
        # reads it without recompiling when a scheduler fills it.
        lr: float | Tensor = group["lr"]
        if not isinstance(lr, Tensor):
            lr = float(lr)
        decay = 1 - lr * group["weight_decay"]
        momentum = group["momentum"]
        nesterov = group["nesterov"]
        coefficients = tuple(group["ns_coefficients"])
        steps, eps, adjust = group["ns_steps"], group["eps"], group["adjust_lr_fn"]

        def apply(p: Tensor, ortho: Tensor) -> None:
            """Decoupled decay, then the orthogonalized update at the shape-adjusted LR."""
            p.mul_(decay)
            # alpha: a float, or a 0-D tensor as torch.optim.Muon passes a tensor LR
            p.add_(ortho, alpha=-adjusted_lr(lr, adjust, *matrix_shape(p)))  # type: ignore[arg-type]

        # Buckets for the batched path: (device, dtype, matrix shape) -> indices.
        buckets: dict[tuple[torch.device, torch.dtype, tuple[int, int]], list[int]] = {}
        for i, (p, grad, buf) in enumerate(zip(params, grads, bufs, strict=True)):
            if shared is not None and shared.accepts(p):
                # Zero-redundancy: momentum here, Newton–Schulz by the matrix's owner rank,
                # then ``apply`` (below) once the results are exchanged, in shared.finish().
                buf.lerp_(grad, 1 - momentum)
                ns = (coefficients, steps, eps)
                shared.add(p, grad, buf, momentum if nesterov else None, ns, apply)
                continue
            if self._batched(p.device) and not is_dtensor(p):  # DTensors: gathered below
                buckets.setdefault((p.device, grad.dtype, matrix_shape(p)), []).append(i)
                continue
            # Per-matrix path: op for op torch.optim.Muon's loop body.
            buf.lerp_(grad, 1 - momentum)
            update = grad.lerp(buf, momentum) if nesterov else buf
            shape = matrix_shape(p)
            apply(p, orthogonalized_update(update, shape, coefficients, steps, eps))
            self.distributed_stats.add(ns_calls=1)

        # Batched path: the same element-wise math with foreach kernels, and one Newton–Schulz
        # per bucket of same-shape matrices.
        for (_, _, shape), members in buckets.items():
            ps = [params[i] for i in members]
            gs = [grads[i] for i in members]
            bs = [bufs[i] for i in members]
            torch._foreach_lerp_(bs, gs, 1 - momentum)
            updates = torch._foreach_lerp(gs, bs, momentum) if nesterov else bs
            orthos = orthogonalize_batched(
                [u.reshape(shape) for u in updates], coefficients, steps, eps
            )
            self.distributed_stats.add(ns_calls=len(members))
            torch._foreach_mul_(ps, decay)
            torch._foreach_add_(
                ps,
                [o.reshape(p.shape) for o, p in zip(orthos, ps, strict=True)],
                alpha=-adjusted_lr(lr, adjust, *shape),  # type: ignore[arg-type]
            )

    # ---- adamw --------------------------------------------------------------------------
    def _adamw_step(self, index: int, group: dict[str, Any]) -> None:
        params: list[Tensor] = []
        grads: list[Tensor] = []
        exp_avgs: list[Tensor] = []
        exp_avg_sqs: list[Tensor] = []
        max_exp_avg_sqs: list[Tensor] = []
        steps: list[Tensor] = []
        has_complex = self._init_group(
            index, group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps
        )
        if not params:
            return
        beta1, beta2 = group["betas"]
        _torch_adamw(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            steps,
            foreach=group["foreach"],
            capturable=group["capturable"],
            differentiable=False,
            fused=group["fused"],
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
