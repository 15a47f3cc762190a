"""Who orthogonalizes which Muon matrix under zero-redundancy Muon: the ownership plan.

Pure planning, no process group and no collective: from the matrices' shapes (and, per
process group, how each is shared) every rank computes the same owners. Under ``N > 1``
ranks each matrix gets one **owner** (:func:`assign_owners`: greedy, largest Newton–Schulz
cost first, onto the least-loaded rank); owners are balanced per kind of sharing
(:func:`owners_by_kind`), since the sharded and the replicated exchanges run one after the
other. :func:`plan_entries` turns them into a :class:`ZeroRedundancyPlan`'s entries. The
collectives that find the process groups and carry out the plan are in
:mod:`optfn.optim.muon.distributed`.

>>> assign_owners([(256, 256), (256, 1024), (256, 256), (256, 1024)], world=2)
[0, 0, 1, 1]
>>> ns_cost(256, 1024) == 256 * 1024 * 256
True
>>> owners_by_kind(["replicated", "sharded", "replicated"], [(4, 4), (8, 8), (4, 4)], world=2)
[0, 0, 1]
>>> plan_entries(["replicated", "replicated"], [(4, 4), (2, 2)], world=2, comm=0)[1]
PlanEntry(kind='replicated', comm=0, owner=1, shape=(2, 2), rows=())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor

from optfn.specs.render import brief

__all__ = [
    "Kind",
    "PlanComm",
    "PlanEntry",
    "ZeroRedundancyPlan",
    "assign_owners",
    "ns_cost",
    "owners_by_kind",
    "plan_entries",
    "rows_per_rank",
]

#: How zero-redundancy Muon shares a parameter: whole on every rank, or ``Shard(0)`` rows.
Kind = Literal["replicated", "sharded"]


def ns_cost(rows: int, cols: int) -> int:
    """Newton–Schulz cost of a ``rows x cols`` matrix, up to a constant: ``rows*cols*min``."""
    return rows * cols * min(rows, cols)


def assign_owners(shapes: Sequence[tuple[int, int]], world: int) -> list[int]:
    """One owner rank in ``range(world)`` for each matrix shape, balanced by :func:`ns_cost`.

    Greedy longest-processing-time: matrices by decreasing cost (ties: lower index first),
    each onto the rank with the least cost so far (ties: lower rank). Depends on the shapes
    and their order only, so every rank computes the same owners.
    """
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise ValueError(f"world must be an int >= 1, got {brief(world)}")
    costs = [ns_cost(r, c) for r, c in shapes]
    load = [0] * world
    owners = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(world), key=lambda r: (load[r], r))
        owners[i] = rank
        load[rank] += costs[i]
    return owners


def owners_by_kind(
    kinds: Sequence[Kind], shapes: Sequence[tuple[int, int]], world: int
) -> list[int]:
    """The owner of each matrix, balanced per kind: :func:`assign_owners` over the sharded
    matrices, then over the replicated ones (each in their order), so that each of the two
    exchanges, which run one after the other, keeps every rank equally busy."""
    owners = [0] * len(shapes)
    for kind in ("sharded", "replicated"):
        at = [j for j, k in enumerate(kinds) if k == kind]
        for j, owner in zip(at, assign_owners([shapes[j] for j in at], world), strict=True):
            owners[j] = owner
    return owners


def rows_per_rank(rows: int, world: int) -> tuple[int, ...]:
    """Rows of each rank under ``Shard(0)`` (torch.chunk's split, as DTensor does: DTensor's
    own arithmetic, imported when called; no process group needed).

    >>> rows_per_rank(10, 4)
    (3, 3, 3, 1)
    """
    from torch.distributed.tensor import Shard

    split: Any = getattr(Shard, "local_shard_size_and_offset", None)
    if split is None:  # older torch: the private spelling
        split = getattr(Shard, "_local_shard_size_and_offset")  # noqa: B009
    return tuple(int(split(rows, world, r)[0]) for r in range(world))


@dataclasses.dataclass(frozen=True)
class PlanEntry:
    """One shared matrix of a :class:`ZeroRedundancyPlan`: how it is shared, its process group
    (an index into :attr:`ZeroRedundancyPlan.comms`), its owner (a rank of that group), its
    shape as a matrix, and each rank's rows (sharded; ``()`` for replicated)."""

    kind: Kind
    comm: int  # index into ZeroRedundancyPlan.comms
    owner: int  # group rank
    shape: tuple[int, int]
    rows: tuple[int, ...]  # each rank's rows (sharded), () for replicated


@dataclasses.dataclass(frozen=True)
class PlanComm:
    """One process group of a plan: the group object (opaque here), its size and this rank's
    rank in it."""

    group: Any  # ProcessGroup
    size: int
    rank: int


@dataclasses.dataclass(frozen=True)
class ZeroRedundancyPlan:
    """Who orthogonalizes what: an owner for each shared Muon parameter (by ``id``).

    ``entries`` maps ``id(param)`` to its kind, process group, owner and shape; parameters
    missing from it take the per-rank (gathering) path. ``signature`` is what the plan was
    built for (the ids of the Muon parameters, in order); ``required``: whether it was built
    with ``require=True``.
    """

    signature: tuple[int, ...]
    required: bool
    entries: dict[int, PlanEntry]
    comms: tuple[PlanComm, ...]

    def kinds(self, params: Sequence[Tensor]) -> list[Kind | None]:
        """How each of ``params`` is shared; ``None`` where not shared."""
        return [e.kind if (e := self.entries.get(id(p))) is not None else None for p in params]

    def owners(self, params: Sequence[Tensor]) -> list[int | None]:
        """The owner (group rank) of each of ``params``; ``None`` where not shared."""
        out: list[int | None] = []
        for p in params:
            e = self.entries.get(id(p))
            out.append(None if e is None else e.owner)
        return out


def plan_entries(
    kinds: Sequence[Kind], shapes: Sequence[tuple[int, int]], world: int, comm: int
) -> list[PlanEntry]:
    """The plan's entry of each matrix of one process group of ``world`` ranks (``comm``: the
    group's index in :attr:`ZeroRedundancyPlan.comms`): its owner (:func:`owners_by_kind`) and,
    for a sharded one, each rank's rows (:func:`rows_per_rank`)."""
    owners = owners_by_kind(kinds, shapes, world)
    return [
        PlanEntry(
            kind, comm, owner, shape, rows_per_rank(shape[0], world) if kind == "sharded" else ()
        )
        for kind, shape, owner in zip(kinds, shapes, owners, strict=True)
    ]
