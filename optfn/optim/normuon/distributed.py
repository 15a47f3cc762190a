"""Zero-redundancy NorMuon: each matrix of each bank orthogonalized by exactly one rank.

Under an initialized process group of ``N > 1`` ranks, :class:`~optfn.NorMuonWithAdam`
(``zero_redundancy=True``, the default) gives every matrix of every ``"normuon"`` bank one
**owner** rank: :func:`~optfn.optim.muon.distributed.assign_owners`, Muon's planner (greedy,
largest cost first onto the least-loaded rank), over the matrices of all banks in group
order, so a bank of 8 matrices on 2 ranks is split between them. The parameters are plain
tensors replicated on every rank, as under DDP (checked once, when the plan is built); a
``DTensor`` (FSDP2, tensor parallel) is refused, naming the parameter.

Per step, bucket by bucket (a few buckets of about equal cost, so that one bucket's
collective overlaps the next one's work), every rank:

1. updates the momentum buffer of every bank (element-wise, so the buffers stay identical);
2. for the matrices it owns only: normalizes the bank
   (:func:`~optfn.optim.normuon.orthogonalize.normalize_bank`, on the whole bank as one
   process does) and runs the Polar Express / Newton–Schulz iterations
   (:func:`~optfn.optim.normuon.orthogonalize.iterate_bank`) on its matrices, batched;
3. sends its bfloat16 results in one ``all_gather`` per bucket (flat, padded to the longest);
4. puts each bank's orthogonalized matrices back together (same memory layout as one
   process's) and applies NorMuon's second-moment normalization and the update on the whole
   bank, exactly as one process does.

So the whole state (both buffers) is on every rank, the same on every rank and equal to one
process's: ``state_dict`` is that of a 1-process run, and loads on any world size. Only the
orthogonalization (the matrix products, the cost) is split; the element-wise steps run on
every rank as they do under DDP anyway. The update equals the 1-process one bit for bit as
long as a batched matrix product gives each matrix the same result whatever the number of
matrices in the batch (true of the CPU kernels the tests run; a GPU library may choose
another algorithm for another batch size).

>>> plan_owners([(4, 8, 8), (2, 8, 32)], world=2)
[(0, 1, 0, 1), (0, 1)]
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.muon.distributed import DistributedStats, assign_owners, ns_cost
from optfn.optim.muon.newton_schulz import is_dtensor
from optfn.optim.normuon.orthogonalize import iterate_bank, normalize_bank
from optfn.specs.render import brief

__all__ = [
    "NorMuonPlan",
    "SharedNorMuonStep",
    "build_plan",
    "distributed_world",
    "plan_owners",
]

#: Each step's banks go out in up to this many buckets (contiguous runs of about equal cost).
_BUCKETS = 4

Bank = tuple[int, int, int]


def distributed_world() -> bool:
    """Whether a default process group of more than one rank is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def plan_owners(banks: Sequence[Bank], world: int) -> list[tuple[int, ...]]:
    """The owner rank of each matrix of each bank ``(n, rows, cols)``: Muon's
    :func:`~optfn.optim.muon.distributed.assign_owners` over every matrix of every bank, in
    order. Depends on the shapes and their order only, so every rank computes the same."""
    shapes = [(rows, cols) for n, rows, cols in banks for _ in range(n)]
    flat = assign_owners(shapes, world)
    out: list[tuple[int, ...]] = []
    start = 0
    for n, _, _ in banks:
        out.append(tuple(flat[start : start + n]))
        start += n
    return out


@dataclasses.dataclass(frozen=True)
class NorMuonPlan:
    """Who orthogonalizes what: the owner of each matrix of each NorMuon bank.

    ``signature``: what the plan was built for (each parameter's ``id`` and bank shape, in
    group order) and ``world``: the process group's size; ``owners`` maps ``id(param)`` to the
    owner (rank of the default group) of each of its matrices; ``rank``: this rank.
    """

    signature: tuple[tuple[int, Bank], ...]
    world: int
    rank: int
    owners: dict[int, tuple[int, ...]]

    def owners_of(self, params: Sequence[Tensor]) -> list[tuple[int, ...]]:
        """The owner of each matrix of each of ``params``."""
        return [self.owners[id(p)] for p in params]


def _digest(params: Sequence[Tensor], banks: Sequence[Bank]) -> Tensor:
    """What every rank must agree on: count, shapes, dtypes, banks and the values."""
    text = repr([(tuple(p.shape), str(p.dtype), b) for p, b in zip(params, banks, strict=True)])
    device = params[0].device
    total = torch.zeros((), dtype=torch.float64, device=device)
    squares = torch.zeros((), dtype=torch.float64, device=device)
    for p in params:
        v = p.detach().double()
        total += v.sum()
        squares += v.square().sum()
    row = [float(len(params)), float(zlib.crc32(text.encode())), float(total), float(squares)]
    return torch.tensor(row, dtype=torch.float64, device=device)


def build_plan(
    params: Sequence[Tensor],
    names: Sequence[str],
    wheres: Sequence[str],
    banks: Sequence[Bank],
) -> NorMuonPlan:
    """The plan for the NorMuon ``params`` (every ``"normuon"`` group's, in order), on the
    default process group.

    Collective: every rank must call it with the same parameters. Refuses (before any
    collective) a ``DTensor`` with :class:`~optfn.errors.SpecTypeError` naming it and its
    group (``wheres``), and (after one small ``all_gather``) parameters that are not the same
    on every rank with :class:`~optfn.errors.SpecError`.
    """
    for name, at, p in zip(names, wheres, params, strict=True):
        if is_dtensor(p):
            raise SpecTypeError(
                "",
                at,
                f"parameter {brief(name)} is a DTensor (placements "
                f"{tuple(getattr(p, 'placements', ()))}); NorMuonWithAdam's zero-redundancy "
                "path shares plain tensors replicated on every rank (as under DDP), not "
                "FSDP2/tensor-parallel shards: pass zero_redundancy=False to have every rank "
                "compute every update instead",
            )
    world, rank = dist.get_world_size(), dist.get_rank()
    mine = _digest(params, banks)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    if not all(torch.equal(d, mine) for d in every):
        raise SpecError(
            "NorMuonWithAdam",
            "zero_redundancy",
            "the ranks hold different NorMuon parameters (count, shapes or values differ; "
            f"first: {brief(names[0])}); zero_redundancy=True shares plain tensors replicated "
            "on every rank, as under DDP: pass zero_redundancy=False when the ranks hold "
            "different models",
        )
    owners = plan_owners(banks, world)
    return NorMuonPlan(
        tuple((id(p), b) for p, b in zip(params, banks, strict=True)),
        world,
        rank,
        {id(p): o for p, o in zip(params, owners, strict=True)},
    )


@dataclasses.dataclass
class _Item:
    param: Tensor
    bank: Bank
    owners: tuple[int, ...]
    method: str
    steps: int
    #: the momentum step; with ``True``, returns the Nesterov update (the bank, float32)
    prepare: Callable[[bool], Tensor | None]
    #: second-moment normalization and the update, given the orthogonalized bank
    finish: Callable[[Tensor], None]

    @property
    def cost(self) -> int:
        n, rows, cols = self.bank
        return n * ns_cost(rows, cols)


def _split_by_cost(items: list[_Item], n: int) -> list[list[_Item]]:
    """``items`` in order, cut into ``n`` runs of about equal cost (some may be empty)."""
    total = sum(it.cost for it in items) or 1
    out: list[list[_Item]] = [[] for _ in range(n)]
    before = 0
    for it in items:
        out[min(n - 1, before * n // total)].append(it)
        before += it.cost
    return out


@dataclasses.dataclass
class _Bucket:
    work: Any
    received: Tensor  # (world, size) bfloat16
    layout: list[tuple[_Item, list[list[int]], list[int]]]  # item, indices and offset per rank


class SharedNorMuonStep:
    """One step's zero-redundancy exchange: :meth:`add` each bank, then :meth:`finish`
    (collective: every rank calls it, with the same banks in the same order)."""

    def __init__(self, plan: NorMuonPlan, stats: DistributedStats) -> None:
        self.plan, self.stats = plan, stats
        self.items: list[_Item] = []

    def add(
        self,
        param: Tensor,
        bank: Bank,
        method: str,
        steps: int,
        prepare: Callable[[bool], Tensor | None],
        finish: Callable[[Tensor], None],
    ) -> None:
        """Queue ``param`` (bank ``bank``, orthogonalized by ``method`` in ``steps``)."""
        owners = self.plan.owners[id(param)]
        self.items.append(_Item(param, bank, owners, method, steps, prepare, finish))

    def finish(self) -> None:
        """Momentum, the owned orthogonalizations, the exchange and every bank's update."""
        items, self.items = self.items, []
        if not items:
            return
        self.stats.add(steps=1)
        pending: _Bucket | None = None
        for bucket in _split_by_cost(items, min(_BUCKETS, len(items))):
            if not bucket:
                continue
            sent = self._send(bucket)
            if pending is not None:
                self._receive(pending)
            pending = sent
        if pending is not None:
            self._receive(pending)

    def _send(self, bucket: list[_Item]) -> _Bucket:
        me, world = self.plan.rank, self.plan.world
        device = bucket[0].param.device
        sizes = [0] * world
        parts: list[Tensor] = []
        layout: list[tuple[_Item, list[list[int]], list[int]]] = []
        for it in bucket:
            _, rows, cols = it.bank
            at = [[i for i, o in enumerate(it.owners) if o == r] for r in range(world)]
            offsets = list(sizes)
            for r in range(world):
                sizes[r] += len(at[r]) * rows * cols
            update = it.prepare(bool(at[me]))
            if at[me]:
                assert update is not None
                x = normalize_bank(update, it.method)
                del update
                if len(at[me]) < len(it.owners):
                    x = x.index_select(0, torch.tensor(at[me], device=device))
                y = iterate_bank(x, it.method, it.steps)
                # the working orientation (contiguous): a tall result is a transposed view
                parts.append((y.mT if rows > cols else y).reshape(-1))
                self.stats.add(ns_calls=len(at[me]))
            layout.append((it, at, offsets))
        size = max(sizes)
        send = torch.empty(size, dtype=torch.bfloat16, device=device)
        if parts:
            torch.cat(parts, out=send[: sizes[me]])
        received = torch.empty(world * size, dtype=torch.bfloat16, device=device)
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        # bytes, not bfloat16: every backend moves them
        work = gather(received.view(torch.uint8), send.view(torch.uint8), async_op=True)
        received = received.view(world, size)
        nbytes = size * torch.bfloat16.itemsize * (world - 1)
        self.stats.add(collectives=1, bytes_sent=nbytes, bytes_received=nbytes)
        return _Bucket(work, received, layout)

    @staticmethod
    def _receive(bucket: _Bucket) -> None:
        bucket.work.wait()
        for it, at, offsets in bucket.layout:
            n, rows, cols = it.bank
            tall = rows > cols
            a, b = (cols, rows) if tall else (rows, cols)
            device = it.param.device
            whole = torch.empty((n, a, b), dtype=torch.bfloat16, device=device)
            for r, (indices, offset) in enumerate(zip(at, offsets, strict=True)):
                if not indices:
                    continue
                piece = bucket.received[r, offset : offset + len(indices) * a * b]
                piece = piece.view(len(indices), a, b)
                if len(indices) == n:
                    whole.copy_(piece)
                else:
                    whole.index_copy_(0, torch.tensor(indices, device=device), piece)
            # one process's layout: a tall bank's result is the .mT view of (n, cols, rows)
            it.finish(whole.mT if tall else whole)
