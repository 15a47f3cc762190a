"""The ownership plan of zero-redundancy Muon (``optfn.optim.muon.ownership``) is pure: it
imports and plans with no process group, and it is the plan the collectives carry out.

``tests/optim/test_muon_ownership.py`` checks :func:`assign_owners` itself; the ranks are in
``tests/optim/test_muon_zero_redundancy.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import torch
from hypothesis import given
from hypothesis import strategies as st

import optfn.optim.muon.distributed as collectives
import optfn.optim.muon.ownership as ownership
from optfn.optim.muon.ownership import (
    Kind,
    PlanEntry,
    ZeroRedundancyPlan,
    assign_owners,
    owners_by_kind,
    plan_entries,
    rows_per_rank,
)

KINDS: list[Kind] = ["replicated", "sharded"]
matrices = st.lists(
    st.tuples(st.sampled_from(KINDS), st.tuples(st.integers(1, 40), st.integers(1, 40))),
    max_size=30,
)


def test_imports_and_plans_without_torch_distributed() -> None:
    """In a fresh interpreter: no process group is made, torch.distributed's collectives are
    gone, and the module still imports and plans."""
    code = (
        "import torch.distributed as d\n"
        "for name in ('all_gather_single', 'all_gather_into_tensor', 'all_gather',\n"
        "             'all_to_all_single', 'init_process_group', 'new_group'):\n"
        "    if hasattr(d, name):\n"
        "        delattr(d, name)\n"
        "from optfn.optim.muon.ownership import plan_entries\n"
        "plan = plan_entries(['replicated', 'sharded', 'replicated', 'sharded'],\n"
        "                    [(8, 8), (6, 4), (2, 2), (3, 3)], world=2, comm=0)\n"
        "print([(e.owner, e.rows) for e in plan])\n"
        "print(d.is_available() and d.is_initialized())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["[(0, ()), (0, (3, 3)), (1, ()), (1, (2, 1))]", "False"]


def test_the_module_imports_nothing_of_torch_distributed_at_module_level() -> None:
    tree = ast.parse(open(ownership.__file__, encoding="utf-8").read())
    top = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom) and "distributed" in ast.unparse(node)
    ]
    assert not top


@given(matrices, st.integers(1, 6))
def test_owners_are_balanced_per_kind(
    items: list[tuple[Kind, tuple[int, int]]], world: int
) -> None:
    kinds = [k for k, _ in items]
    shapes = [s for _, s in items]
    owners = owners_by_kind(kinds, shapes, world)
    for kind in KINDS:
        at = [i for i, k in enumerate(kinds) if k == kind]
        assert [owners[i] for i in at] == assign_owners([shapes[i] for i in at], world)


@given(matrices, st.integers(1, 6), st.integers(0, 3))
def test_entries_carry_owner_shape_and_rows(
    items: list[tuple[Kind, tuple[int, int]]], world: int, comm: int
) -> None:
    kinds = [k for k, _ in items]
    shapes = [s for _, s in items]
    entries = plan_entries(kinds, shapes, world, comm)
    owners = owners_by_kind(kinds, shapes, world)
    assert [(e.kind, e.comm, e.owner, e.shape) for e in entries] == [
        (k, comm, o, s) for k, o, s in zip(kinds, owners, shapes, strict=True)
    ]
    for e in entries:
        if e.kind == "replicated":
            assert e.rows == ()
        else:  # torch.chunk's split (as DTensor's Shard(0)), empty ranks at the end
            chunks = [len(c) for c in torch.arange(e.shape[0]).chunk(world)]
            assert e.rows == (*chunks, *[0] * (world - len(chunks)))


def test_rows_per_rank_is_dtensors_split() -> None:
    assert rows_per_rank(10, 4) == (3, 3, 3, 1)
    assert rows_per_rank(2, 4) == (1, 1, 0, 0)
    assert rows_per_rank(7, 1) == (7,)


def test_a_plan_answers_per_parameter() -> None:
    a, b, c = (torch.zeros(4, 4) for _ in range(3))
    entries = plan_entries(["replicated", "sharded"], [(4, 4), (4, 4)], world=2, comm=0)
    plan = ZeroRedundancyPlan(
        signature=(id(a), id(b), id(c)),
        required=False,
        entries={id(a): entries[0], id(b): entries[1]},
        comms=(),
    )
    assert plan.kinds([a, b, c]) == ["replicated", "sharded", None]
    assert plan.owners([a, b, c]) == [0, 0, None]
    assert entries[1] == PlanEntry("sharded", 0, 0, (4, 4), (2, 2))


def test_the_collectives_module_plans_with_it() -> None:
    """One planner: the collectives' names are the ownership module's objects."""
    assert collectives.assign_owners is assign_owners
    assert collectives.ZeroRedundancyPlan is ZeroRedundancyPlan
    assert collectives.ns_cost is ownership.ns_cost
