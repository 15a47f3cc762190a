"""Owner assignment of zero-redundancy Muon (``assign_owners``), and the keyword's checks.

No process group: these are the pure parts.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from optfn.optim.muon import MuonWithAdamW
from optfn.optim.muon.distributed import DistributedStats, placement_of
from optfn.optim.muon.ownership import assign_owners, ns_cost

shapes_lists = st.lists(st.tuples(st.integers(1, 64), st.integers(1, 64)), min_size=0, max_size=40)


@given(shapes_lists, st.integers(1, 8))
def test_every_matrix_has_exactly_one_owner_in_range(
    shapes: list[tuple[int, int]], world: int
) -> None:
    owners = assign_owners(shapes, world)
    assert len(owners) == len(shapes)
    assert all(0 <= o < world for o in owners)


@given(shapes_lists, st.integers(1, 8))
def test_deterministic(shapes: list[tuple[int, int]], world: int) -> None:
    assert assign_owners(shapes, world) == assign_owners(list(shapes), world)


@given(shapes_lists, st.integers(1, 8))
def test_balanced_within_the_largest_matrix(shapes: list[tuple[int, int]], world: int) -> None:
    """Greedy largest-first: no rank's load exceeds the least loaded one's by more than the
    largest single cost (the classic LPT bound)."""
    owners = assign_owners(shapes, world)
    load = [0] * world
    for (r, c), o in zip(shapes, owners, strict=True):
        load[o] += ns_cost(r, c)
    biggest = max((ns_cost(r, c) for r, c in shapes), default=0)
    assert max(load) - min(load) <= biggest


def test_benchmark_model_splits_evenly() -> None:
    shapes = [(256, 256)] * 24 + [(256, 1024)] * 8
    owners = assign_owners(shapes, 2)
    assert owners[24:].count(0) == owners[24:].count(1) == 4
    assert owners[:24].count(0) == owners[:24].count(1) == 12


def test_ties_go_to_lower_index_then_lower_rank() -> None:
    assert assign_owners([(4, 4)] * 5, 3) == [0, 1, 2, 0, 1]
    assert assign_owners([(2, 2), (8, 8), (2, 2)], 2) == [1, 0, 1]
    assert assign_owners([], 4) == []


@pytest.mark.parametrize("world", [0, -1, 1.5, True, "2"])
def test_bad_world(world: object) -> None:
    with pytest.raises(ValueError, match="world must be an int >= 1"):
        assign_owners([(2, 2)], world)  # type: ignore[arg-type]


def test_stats_reset() -> None:
    stats = DistributedStats(steps=1, ns_calls=2, collectives=3, bytes_sent=4, bytes_received=5)
    stats.reset()
    assert stats == DistributedStats()


def test_plain_tensor_is_replicated() -> None:
    assert placement_of(torch.zeros(2, 2))[0] == "replicated"


def group(p: torch.Tensor) -> dict[str, object]:
    return {
        "params": [p],
        "param_names": ["w"],
        "route": "muon",
        "lr": 0.02,
        "weight_decay": 0.1,
        "momentum": 0.95,
        "nesterov": True,
        "ns_coefficients": (3.4445, -4.775, 2.0315),
        "ns_steps": 5,
        "eps": 1e-7,
        "adjust_lr_fn": "original",
    }


@pytest.mark.parametrize("value", ["off", 1, 0.0])
def test_zero_redundancy_keyword_type(value: object) -> None:
    with pytest.raises(TypeError, match="zero_redundancy must be a bool or None, got"):
        MuonWithAdamW([group(torch.nn.Parameter(torch.ones(3, 2)))], zero_redundancy=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [None, True, False])
def test_without_process_group_every_mode_is_the_plain_step(mode: bool | None) -> None:
    """No process group: nothing to share, the step is the ordinary one (and counts NS)."""
    gen = torch.Generator().manual_seed(0)
    w0, g = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    ps = [torch.nn.Parameter(w0.clone()) for _ in range(2)]
    opts = [MuonWithAdamW([group(ps[0])], zero_redundancy=mode), MuonWithAdamW([group(ps[1])])]
    for p, opt in zip(ps, opts, strict=True):
        p.grad = g.clone()
        opt.step()
    assert torch.equal(ps[0], ps[1])
    assert opts[0].distributed_stats == DistributedStats(ns_calls=1)
    assert opts[0].zero_redundancy is mode


def test_muon_spec_carries_the_switch_to_the_optimizer() -> None:
    import torch

    from optfn import MuonRouting, MuonSpec, ParamRules, from_dict, make_optimizer, to_dict
    from optfn.errors import SpecTypeError

    rules = ParamRules(muon=MuonRouting.hidden_matrices())
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    for switch in (None, True, False):
        spec = MuonSpec(zero_redundancy=switch)
        assert from_dict(to_dict(spec)) == spec
        assert make_optimizer(model, spec, rules).zero_redundancy is switch
    with pytest.raises(SpecTypeError, match=r"MuonSpec\.zero_redundancy: must be true or false"):
        MuonSpec(zero_redundancy=1)  # type: ignore[arg-type]


def test_optfn_imports_where_torch_has_no_distributed_collectives() -> None:
    """A torch built without distributed has no collective functions: optfn looks them up
    when it runs one, never at import (checked in a fresh interpreter with them removed)."""
    import subprocess
    import sys

    code = (
        "import torch.distributed as d\n"
        "for name in ('all_gather_single', 'all_gather_into_tensor', 'all_gather',\n"
        "             'all_to_all_single', 'broadcast', 'all_reduce'):\n"
        "    if hasattr(d, name):\n"
        "        delattr(d, name)\n"
        "import optfn, optfn.optim.muon.distributed\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
