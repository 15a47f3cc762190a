"""Zero-redundancy Muon's collectives: each matrix orthogonalized by exactly one rank.

Under a process group of ``N > 1`` ranks, :class:`~optfn.MuonWithAdamW` gives every Muon
matrix one **owner** rank, planned without any collective by
:mod:`optfn.optim.muon.ownership` (:func:`~optfn.optim.muon.ownership.assign_owners`: greedy,
largest Newton–Schulz cost first, onto the least-loaded rank; deterministic, from the shapes
and their order alone). This module holds what talks to the other ranks: finding each
parameter's placement and process group and checking that the ranks agree
(:func:`build_plan`), and the exchange of every step (:class:`SharedMuonStep`). Only the
owner runs Newton–Schulz on a matrix; the bfloat16 result travels to the other ranks in a few
bucketed collectives per step, never one per matrix:

- **replicated** parameters (plain tensors, as under DDP: every rank holds the whole matrix
  and the same averaged gradient): every rank updates every momentum buffer (element-wise,
  so the buffers stay identical), each owner orthogonalizes its own matrices, and one
  ``all_gather`` of the owners' flat bfloat16 buffers (padded to the longest) gives every rank
  every result;
- **row-sharded** parameters (``DTensor`` with ``Shard(0)`` on a 1-D mesh, as FSDP2's
  ``fully_shard`` makes them): one ``all_to_all`` sends each owner the rows of its matrices'
  momentum updates, the owner orthogonalizes each full matrix once, and a second
  ``all_to_all`` sends every rank back its own rows of the result (bfloat16). No rank holds a
  full matrix it does not own.

Newton–Schulz of a matrix is deterministic, so the update is bit for bit the one every rank
would compute alone. Other placements (``Shard(1)``, ``Replicate``, 2-D meshes) keep
gathering and orthogonalizing on every rank, or are refused with ``zero_redundancy=True``.

>>> import torch
>>> placement_of(torch.zeros(4, 4))
('replicated', 'a plain tensor')
>>> stats = DistributedStats()
>>> stats.add(ns_calls=3)
>>> stats.ns_calls
3
>>> stats.reset()
>>> stats
DistributedStats(steps=0, ns_calls=0, collectives=0, bytes_sent=0, bytes_received=0)
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from optfn.optim.muon.newton_schulz import (
    is_dtensor,
    matrix_shape,
    orthogonalize,
    orthogonalize_batched,
)
from optfn.optim.muon.ownership import (
    Kind,
    PlanComm,
    PlanEntry,
    ZeroRedundancyPlan,
    assign_owners,
    ns_cost,
    plan_entries,
)
from optfn.specs.render import brief

__all__ = [
    "DistributedStats",
    "SharedMuonStep",
    "ZeroRedundancyPlan",
    "assign_owners",
    "build_plan",
    "ns_cost",
    "placement_of",
]


def _all_gather_flat(output: Tensor, input: Tensor, group: Any, *, async_op: bool) -> Any:
    """One collective into one flat output (``all_gather_single``; ``all_gather_into_tensor``,
    its name before torch 2.13): on gloo/CPU faster than ``all_gather`` into a list. Looked up
    at call time, so that a torch built without distributed still imports optfn."""
    gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    return gather(output, input, group=group, async_op=async_op)


#: Byte alignment of each matrix's segment in a flat communication buffer (any dtype's view).
_ALIGN = 16
#: Replicated parameters: each owner's matrices go out in this many buckets (by cost), so that
#: one bucket's all_gather overlaps the next one's Newton–Schulz.
_BUCKETS = 4

NsArgs = tuple[tuple[float, float, float], int, float]


@dataclasses.dataclass
class DistributedStats:
    """Per-rank counters of Muon's Newton–Schulz work and communication (cumulative).

    ``steps``: optimizer steps that ran the zero-redundancy exchange; ``ns_calls``: matrices
    this rank orthogonalized (on any path, so the redundant path counts every matrix on every
    rank); ``collectives``: collective calls of the exchange; ``bytes_sent`` /
    ``bytes_received``: payload bytes this rank delivered to / got from the *other* ranks
    (padding included, what a rank keeps for itself excluded; summed over the ranks, sent ==
    received). ``add(...)`` counts, ``reset()`` zeroes them.

    Eager steps only: inside ``torch.compile`` :meth:`add` does nothing (a Python int that
    changed every step would be a new guard value, a recompile per step).
    """

    steps: int = 0
    ns_calls: int = 0
    collectives: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def add(
        self,
        *,
        steps: int = 0,
        ns_calls: int = 0,
        collectives: int = 0,
        bytes_sent: int = 0,
        bytes_received: int = 0,
    ) -> None:
        """Add to the counters (a no-op while ``torch.compile`` traces)."""
        if torch.compiler.is_compiling():
            return
        self.steps += steps
        self.ns_calls += ns_calls
        self.collectives += collectives
        self.bytes_sent += bytes_sent
        self.bytes_received += bytes_received

    def reset(self) -> None:
        """Zero every counter."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, 0)


def placement_of(p: Tensor) -> tuple[Kind | None, str]:
    """How zero-redundancy Muon shares ``p``: ``("replicated" | "sharded" | None, why)``.

    A plain tensor is ``"replicated"`` (assumed equal on every rank, as under DDP); a
    ``DTensor`` with ``Shard(0)`` on a 1-D mesh of several ranks is ``"sharded"``; anything
    else is ``None`` (the gathering path), with the reason.
    """
    if not is_dtensor(p):
        return "replicated", "a plain tensor"
    from torch.distributed.tensor import Shard

    mesh, placements = p.device_mesh, p.placements  # type: ignore[attr-defined]
    if mesh.ndim != 1:
        return None, f"a DTensor on a {mesh.ndim}-D mesh"
    if len(placements) != 1 or type(placements[0]) is not Shard or placements[0].dim != 0:
        return None, f"a DTensor placed {tuple(placements)}, not (Shard(dim=0),)"
    if mesh.size() < 2:
        return None, "a DTensor on a 1-rank mesh"

    if dist.get_process_group_ranks(mesh.get_group()) != mesh.mesh.tolist():
        return None, "a DTensor whose mesh orders its ranks unlike its process group"
    return "sharded", "a Shard(0) DTensor on a 1-D mesh"


def _digest(kinds: list[Kind], params: list[Tensor], device: torch.device) -> Tensor:
    """What every rank of a group must agree on: count, shapes and kinds, replicated values."""
    text = repr([(k, tuple(p.shape), str(p.dtype)) for k, p in zip(kinds, params, strict=True)])
    values = [p.detach().double() for k, p in zip(kinds, params, strict=True) if k == "replicated"]
    total = sum((v.sum() for v in values), torch.zeros((), dtype=torch.float64))
    squares = sum((v.square().sum() for v in values), torch.zeros((), dtype=torch.float64))
    row = [float(len(params)), float(zlib.crc32(text.encode())), float(total), float(squares)]
    return torch.tensor(row, dtype=torch.float64, device=device)


def build_plan(
    params: Sequence[Tensor], names: Sequence[str], *, require: bool
) -> ZeroRedundancyPlan:
    """The zero-redundancy plan for the Muon ``params`` (every muon group's, in order).

    Collective: every rank of each process group involved must call it with the same
    parameters (shapes, order). Plain tensors use the default group and must hold the same
    values on every rank (checked once, here, with one small ``all_gather``: a group whose
    ranks disagree takes the per-rank path). ``require``: raise ``ValueError`` naming the
    parameter instead of taking the per-rank path.
    """

    groups: dict[tuple[tuple[int, ...], str], tuple[Any, list[int]]] = {}
    kinds: list[Kind | None] = []
    for name, p in zip(names, params, strict=True):
        kind, why = placement_of(p)
        kinds.append(kind)
        if kind is None:
            if require:
                raise ValueError(
                    f"zero_redundancy=True cannot share Muon parameter {brief(name)}: it is "
                    f"{why}; zero-redundancy Muon takes plain (replicated) tensors and "
                    "Shard(0) DTensors on a 1-D mesh (pass zero_redundancy=None to gather it)"
                )
            continue
        group = (
            dist.group.WORLD if kind == "replicated" else p.device_mesh.get_group()  # type: ignore[attr-defined]
        )
        key = (tuple(dist.get_process_group_ranks(group)), p.device.type)
        groups.setdefault(key, (group, []))[1].append(len(kinds) - 1)

    entries: dict[int, PlanEntry] = {}
    comms: list[PlanComm] = []
    for group, members in groups.values():
        size, rank = dist.get_world_size(group), dist.get_rank(group)
        member_kinds: list[Kind] = [k for k in (kinds[i] for i in members) if k is not None]
        member_params = [params[i] for i in members]
        mine = _digest(member_kinds, member_params, member_params[0].device)
        every = [torch.empty_like(mine) for _ in range(size)]
        dist.all_gather(every, mine, group=group)
        if not all(torch.equal(d, mine) for d in every):
            if require:
                raise ValueError(
                    "zero_redundancy=True: the ranks hold different Muon parameters "
                    f"(count, shapes or values differ; first: {brief(names[members[0]])}); "
                    "plain tensors must be replicated, as under DDP"
                )
            continue
        shapes = [matrix_shape(p) for p in member_params]
        comm = len(comms)
        comms.append(PlanComm(group, size, rank))
        planned = plan_entries(member_kinds, shapes, size, comm)  # owners balanced per kind
        for i, entry in zip(members, planned, strict=True):
            entries[id(params[i])] = entry
    return ZeroRedundancyPlan(tuple(id(p) for p in params), require, entries, tuple(comms))


@dataclasses.dataclass
class _Item:
    param: Tensor
    grad: Tensor
    buf: Tensor
    nesterov: float | None  # the momentum for Nesterov's lerp; None: the buffer itself
    ns: NsArgs
    apply: Callable[[Tensor, Tensor], None]
    entry: PlanEntry

    def update(self) -> Tensor:
        return self.grad.lerp(self.buf, self.nesterov) if self.nesterov is not None else self.buf


def _split_by_cost(items: list[_Item], n: int) -> list[list[_Item]]:
    """``items`` in order, cut into ``n`` runs of about equal Newton–Schulz cost."""
    costs = [ns_cost(*it.entry.shape) for it in items]
    total = sum(costs) or 1
    out: list[list[_Item]] = [[] for _ in range(n)]
    before = 0
    for it, cost in zip(items, costs, strict=True):
        out[min(n - 1, before * n // total)].append(it)
        before += cost
    return out


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


class _Packer:
    """Segments laid out one after another in a flat byte buffer, each ``_ALIGN``-aligned."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, Tensor | None, int]] = []  # (offset, tensor, nbytes)
        self.size = 0

    def add(self, t: Tensor | None, nbytes: int) -> int:
        offset = self.size
        self.parts.append((offset, t, nbytes))
        self.size += _aligned(nbytes)
        return offset

    def pad_to(self, size: int) -> None:
        self.size = max(self.size, size)

    def buffer(self, device: torch.device) -> Tensor:
        out = torch.empty(self.size, dtype=torch.uint8, device=device)
        for offset, t, nbytes in self.parts:
            if t is not None and nbytes:
                _view(out, offset, t.dtype, t.numel()).copy_(t.reshape(-1))
        return out


def _view(buf: Tensor, offset: int, dtype: torch.dtype, numel: int) -> Tensor:
    nbytes = numel * dtype.itemsize
    return buf[offset : offset + nbytes].view(dtype)


class SharedMuonStep:
    """One optimizer step's zero-redundancy exchange: :meth:`add` each matrix, then
    :meth:`finish` (collective: every rank of the plan's groups calls it).

    ``apply(param, ortho)`` is the optimizer's own update (decay, then the scaled add), so the
    zero-redundancy and the per-rank paths share it. ``batched(device)`` says whether the
    owner orthogonalizes same-shape matrices together.
    """

    def __init__(
        self,
        plan: ZeroRedundancyPlan,
        stats: DistributedStats,
        batched: Callable[[torch.device], bool],
    ) -> None:
        self.plan, self.stats, self.batched = plan, stats, batched
        self.items: list[_Item] = []

    def accepts(self, param: Tensor) -> bool:
        """Whether ``param`` is shared (has an owner); otherwise take the per-rank path."""
        return id(param) in self.plan.entries

    def add(
        self,
        param: Tensor,
        grad: Tensor,
        buf: Tensor,
        nesterov: float | None,
        ns: NsArgs,
        apply: Callable[[Tensor, Tensor], None],
    ) -> None:
        """Queue ``param`` whose momentum buffer ``buf`` is already updated with ``grad``.

        ``nesterov``: the momentum for the Nesterov update ``grad.lerp(buf, nesterov)``, or
        ``None`` to orthogonalize ``buf`` itself. ``ns``: (coefficients, steps, eps).
        """
        entry = self.plan.entries[id(param)]
        if entry.kind == "sharded" and (
            not is_dtensor(grad) or grad.placements != param.placements  # type: ignore[attr-defined]
        ):
            raise RuntimeError(
                "zero-redundancy Muon: the gradient of a Shard(0) DTensor parameter must be "
                f"a DTensor placed like it, got {type(grad).__name__} "
                f"{getattr(grad, 'placements', '')}"
            )
        self.items.append(_Item(param, grad, buf, nesterov, ns, apply, entry))

    def finish(self) -> None:
        """Orthogonalize the owned matrices, exchange the results, apply every update."""
        if not self.items:
            return
        self.stats.add(steps=1)
        results: dict[int, Tensor] = {}
        for c, comm in enumerate(self.plan.comms):
            items = [it for it in self.items if it.entry.comm == c]
            if items:
                results.update(self._exchange(comm, items))
        # The replicated updates are applied as they arrive, inside _exchange; the sharded ones
        # here. (An error in a later process group's exchange, which the plan's checks make
        # unlikely, would leave the earlier groups' replicated updates applied: the momentum
        # buffers have moved by then anyway, as in any optimizer that fails mid-step.)
        for it in self.items:
            if it.entry.kind == "sharded":
                it.apply(it.param, results[id(it.param)])
        self.items = []

    # ---- the exchange of one process group -------------------------------------------------
    def _exchange(self, comm: PlanComm, items: list[_Item]) -> dict[int, Tensor]:
        me = comm.rank
        device = items[0].param.device
        sharded = [it for it in items if it.entry.kind == "sharded"]
        replicated = [it for it in items if it.entry.kind == "replicated"]
        out: dict[int, Tensor] = {}
        if sharded:
            inputs = self._gather_rows(comm, sharded, device)
            mine = [it for it in sharded if it.entry.owner == me]
            orthos = self._orthogonalize(mine, inputs, device)
            out.update(self._scatter_rows(comm, sharded, orthos, device))
        if replicated:
            self._all_gather_and_apply(comm, replicated, device)
        return out

    def _orthogonalize(
        self, mine: list[_Item], inputs: dict[int, Tensor], device: torch.device
    ) -> dict[int, Tensor]:
        out: dict[int, Tensor] = {}
        if self.batched(device):
            buckets: dict[tuple[tuple[int, int], NsArgs], list[_Item]] = {}
            for it in mine:
                buckets.setdefault((it.entry.shape, it.ns), []).append(it)
            for (_, (coefficients, steps, eps)), members in buckets.items():
                xs = [inputs[id(it.param)] for it in members]
                for it, o in zip(
                    members, orthogonalize_batched(xs, coefficients, steps, eps), strict=True
                ):
                    out[id(it.param)] = o
        else:
            for it in mine:
                coefficients, steps, eps = it.ns
                out[id(it.param)] = orthogonalize(inputs[id(it.param)], coefficients, steps, eps)
        self.stats.add(ns_calls=len(mine))
        return out

    def _count(self, sent: int, received: int) -> None:
        self.stats.add(collectives=1, bytes_sent=sent, bytes_received=received)

    def _all_gather_and_apply(
        self, comm: PlanComm, items: list[_Item], device: torch.device
    ) -> None:
        """Replicated: every owner's bfloat16 results, in a few buckets, one padded flat buffer
        per rank and bucket, each update applied as soon as it is here. While bucket ``b``'s
        ``all_gather`` runs, this rank applies its own results of ``b`` and computes ``b + 1``;
        the other ranks' results of ``b`` are applied after that (at most two in flight)."""

        me, world = comm.rank, comm.size
        # same shapes side by side, so that a bucket still batches them (batch_newton_schulz)
        owned = [
            sorted((it for it in items if it.entry.owner == r), key=lambda it: it.entry.shape)
            for r in range(world)
        ]
        n_buckets = min(_BUCKETS, max(len(o) for o in owned))
        chunks = [_split_by_cost(o, n_buckets) for o in owned]
        pending: tuple[Any, list[Tensor], list[tuple[_Item, int]]] | None = None
        for b in range(n_buckets):
            mine = chunks[me][b]
            inputs = {id(it.param): it.update().reshape(it.entry.shape) for it in mine}
            orthos = self._orthogonalize(mine, inputs, device)
            packers = [_Packer() for _ in range(world)]
            layout: list[tuple[_Item, int]] = []  # (item, offset) of the other ranks' results
            for r in range(world):
                for it in chunks[r][b]:
                    nbytes = it.entry.shape[0] * it.entry.shape[1] * torch.bfloat16.itemsize
                    offset = packers[r].add(orthos.get(id(it.param)), nbytes)
                    if r != me:
                        layout.append((it, offset))
            size = max(p.size for p in packers)
            packers[me].pad_to(size)
            flat = torch.empty(world * size, dtype=torch.uint8, device=device)
            work = _all_gather_flat(flat, packers[me].buffer(device), comm.group, async_op=True)
            self._count(size * (world - 1), size * (world - 1))
            for it in mine:  # while the all_gather runs
                it.apply(it.param, orthos[id(it.param)].reshape(it.param.shape))
            if pending is not None:
                self._apply_received(*pending)
            pending = (work, list(flat.view(world, size)), layout)
        if pending is not None:
            self._apply_received(*pending)

    @staticmethod
    def _apply_received(work: Any, received: list[Tensor], layout: list[tuple[_Item, int]]) -> None:
        work.wait()
        for it, offset in layout:
            rows, cols = it.entry.shape
            ortho = _view(received[it.entry.owner], offset, torch.bfloat16, rows * cols)
            it.apply(it.param, ortho.reshape(it.param.shape))

    def _gather_rows(
        self, comm: PlanComm, items: list[_Item], device: torch.device
    ) -> dict[int, Tensor]:
        """Sharded: each owner gets every rank's rows of its matrices' momentum updates."""
        me, world = comm.rank, comm.size
        send = [_Packer() for _ in range(world)]
        recv = [_Packer() for _ in range(world)]
        at: dict[tuple[int, int], int] = {}  # (id, source rank) -> offset in recv[source]
        for it in items:
            (_, cols), owner, rows = it.entry.shape, it.entry.owner, it.entry.rows
            itemsize = it.grad.dtype.itemsize
            local = it.update().to_local()  # type: ignore[attr-defined]
            if local.shape[0] != rows[me]:
                raise RuntimeError(
                    f"zero-redundancy Muon: this rank holds {local.shape[0]} rows of a "
                    f"{it.entry.shape} matrix, expected {rows[me]} (Shard(0)'s split)"
                )
            send[owner].add(local, rows[me] * cols * itemsize)
            if owner == me:
                for src in range(world):
                    at[id(it.param), src] = recv[src].add(None, rows[src] * cols * itemsize)
        received = self._all_to_all(comm, send, recv, device)
        out: dict[int, Tensor] = {}
        for it in items:
            if it.entry.owner != me:
                continue
            (_, cols), rows, dtype = it.entry.shape, it.entry.rows, it.grad.dtype
            parts = [
                _view(received[src], at[id(it.param), src], dtype, rows[src] * cols).view(
                    rows[src], cols
                )
                for src in range(world)
            ]
            out[id(it.param)] = torch.cat(parts)
        return out

    def _scatter_rows(
        self, comm: PlanComm, items: list[_Item], orthos: dict[int, Tensor], device: torch.device
    ) -> dict[int, Tensor]:
        """Sharded: each owner sends every rank its rows of the bfloat16 results."""
        from torch.distributed.tensor import DTensor

        me, world = comm.rank, comm.size
        send = [_Packer() for _ in range(world)]
        recv = [_Packer() for _ in range(world)]
        at: dict[int, int] = {}
        itemsize = torch.bfloat16.itemsize
        for it in items:
            (_, cols), owner, rows = it.entry.shape, it.entry.owner, it.entry.rows
            if owner == me:
                ortho, start = orthos[id(it.param)], 0
                for dst in range(world):
                    send[dst].add(ortho[start : start + rows[dst]], rows[dst] * cols * itemsize)
                    start += rows[dst]
            at[id(it.param)] = recv[owner].add(None, rows[me] * cols * itemsize)
        received = self._all_to_all(comm, send, recv, device)
        out: dict[int, Tensor] = {}
        for it in items:
            (_, cols), rows, p = it.entry.shape, it.entry.rows, it.param
            local = _view(received[it.entry.owner], at[id(p)], torch.bfloat16, rows[me] * cols)
            local_shape = (rows[me], *p.shape[1:])
            out[id(p)] = DTensor.from_local(
                local.reshape(local_shape),
                p.device_mesh,  # type: ignore[attr-defined]
                p.placements,  # type: ignore[attr-defined]
                run_check=False,
                shape=p.shape,
                stride=p.stride(),
            )
        return out

    def _all_to_all(
        self, comm: PlanComm, send: list[_Packer], recv: list[_Packer], device: torch.device
    ) -> list[Tensor]:
        """One ``all_to_all_single`` of the packed segments; the received bytes by source."""

        me = comm.rank
        send_sizes = [p.size for p in send]
        recv_sizes = [p.size for p in recv]
        flat_send = torch.cat([p.buffer(device) for p in send])
        flat_recv = torch.empty(sum(recv_sizes), dtype=torch.uint8, device=device)
        dist.all_to_all_single(flat_recv, flat_send, recv_sizes, send_sizes, group=comm.group)
        self._count(sum(send_sizes) - send_sizes[me], sum(recv_sizes) - recv_sizes[me])
        return list(torch.split(flat_recv, recv_sizes))
