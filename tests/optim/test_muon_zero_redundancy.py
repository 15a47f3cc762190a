"""Zero-redundancy Muon (``optfn.optim.muon.distributed``) on 2 and 3 CPU ranks with gloo.

One launch per world size (``tests/optim/muon_dist_workers.py``) runs every case; the tests check
what each rank recorded:

- the update equals the 1-process one bit for bit (the recorded gradients replayed here, no
  process group) and the old redundant path's, for replicated (DDP-style) plain tensors,
  ``Shard(0)`` DTensors mixed with plain tensors in the same groups, and FSDP2
  ``fully_shard`` modules beside a plain one; tall, wide, conv and same-shape (batched)
  matrices; Nesterov on and off; both ``adjust_lr_fn``; under a warmup-cosine schedule;
- each matrix is orthogonalized exactly once per step summed over the ranks (every rank
  does it with ``zero_redundancy=False``), with a gradient missing at one step;
- bytes are counted (sent == received summed over the ranks) and owners agree everywhere;
- ``Shard(1)``, a 2-D mesh and plain tensors that differ between ranks are refused with
  ``zero_redundancy=True`` (nothing changed) and take the old path by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from optfn.optim.muon.newton_schulz import matrix_shape
from optfn.optim.muon.ownership import assign_owners
from tests.optim import dist_workers as w
from tests.optim import muon_dist_workers as m

pytestmark = pytest.mark.distributed

SHARED = [("replicated", "auto"), ("replicated", "batched"), ("sharded", "auto")]
SHARED += [("sharded", "batched"), ("fsdp2", "auto")]
OFF = [("replicated", "off"), ("sharded", "off"), ("fsdp2", "off")]


@pytest.fixture(scope="module", params=[2, 3], ids=["2ranks", "3ranks"])
def ranks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``(world, [what rank r recorded for r in range(world)])``, one launch per world size."""
    world: int = request.param
    out = tmp_path_factory.mktemp(f"zr{world}")
    w.launch(m.zero_redundancy_checks, world, str(out))
    return world, [
        torch.load(Path(out) / f"zr_{world}_{r}.pt", weights_only=False) for r in range(world)
    ]


def assert_equal_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], where: str) -> None:
    assert a.keys() == b.keys(), where
    for name in a:
        assert a[name].dtype == b[name].dtype, (where, name)
        diff = (a[name].float() - b[name].float()).abs().max().item()
        assert torch.equal(a[name], b[name]), f"{where} {name}: max abs diff {diff}"


def test_bit_identical_to_one_process_and_to_the_redundant_path(ranks: Any) -> None:
    world, results = ranks
    for rank, result in enumerate(results):
        for section, label in SHARED + OFF:
            case = result[section][label]
            where = f"{world} ranks, rank {rank}, {section}/{label}"
            # trained: the weights moved
            assert any(not torch.equal(case["final"][n], case["start"][n]) for n in case["final"])
            assert_equal_params(case["final"], m.replay(case), f"{where} vs 1 process")
            assert_equal_params(case["final"], results[0][section][label]["final"], where)
        for section in ("replicated", "sharded", "fsdp2"):
            auto, off = result[section]["auto"], result[section]["off"]
            assert_equal_params(auto["final"], off["final"], f"{section}: zero-redundancy vs off")


def with_grads(case: dict[str, Any], step: int) -> int:
    """How many Muon matrices had a gradient at ``step``."""
    return sum(case["grads"][step][n] is not None for n in case["muon_names"])


def test_each_matrix_orthogonalized_once_per_step_across_ranks(ranks: Any) -> None:
    world, results = ranks
    for section, label in SHARED:
        cases = [r[section][label] for r in results]
        for step in range(m.STEPS):
            calls = [c["stats"][step]["ns_calls"] for c in cases]
            assert sum(calls) == with_grads(cases[0], step), (section, label, step, calls)
            assert all(c["stats"][step]["steps"] == 1 for c in cases)
        print(
            f"{world} ranks {section}/{label}: NS calls per rank per step",
            [[c["stats"][s]["ns_calls"] for c in cases] for s in range(m.STEPS)],
        )
    assert with_grads(results[0]["replicated"]["auto"], 1) == 7  # one gradient was None
    for section, label in OFF:  # the redundant path: every rank orthogonalizes every matrix
        for r in results:
            case = r[section][label]
            for step in range(m.STEPS):
                assert case["stats"][step]["ns_calls"] == with_grads(case, step)
                assert case["stats"][step]["collectives"] == case["stats"][step]["bytes_sent"] == 0


def test_bytes_per_rank_counted_and_consistent(ranks: Any) -> None:
    world, results = ranks
    for section, label in SHARED:
        for step in range(m.STEPS):
            stats = [r[section][label]["stats"][step] for r in results]
            sent = [s["bytes_sent"] for s in stats]
            received = [s["bytes_received"] for s in stats]
            assert sum(sent) == sum(received) > 0, (section, label, step)
            assert all(s["collectives"] == stats[0]["collectives"] for s in stats)
            # plain tensors: all_gathers in up to 4 buckets; Shard(0) DTensors: two all_to_alls
            low, high = (1, 4) if section == "replicated" else (3, 6)
            assert low <= stats[0]["collectives"] <= high, (section, stats[0])
        print(
            f"{world} ranks {section}/{label}: bytes received per rank at step 0",
            [r[section][label]["stats"][0]["bytes_received"] for r in results],
        )


def test_owners_agree_on_every_rank_and_follow_assign_owners(ranks: Any) -> None:
    world, results = ranks
    for section, label in SHARED:
        cases = [r[section][label] for r in results]
        owners = cases[0]["owners"]
        assert all(c["owners"] == owners for c in cases)
        shapes = [matrix_shape(torch.empty(s)) for s in cases[0]["muon_shapes"]]
        kinds = cases[0]["kinds"]
        assert all(c["kinds"] == kinds for c in cases)
        assert set(kinds) == (
            {"replicated"} if section == "replicated" else {"sharded", "replicated"}
        )
        for kind in set(kinds):  # balanced per kind (the two exchanges run one after the other)
            at = [i for i, k in enumerate(kinds) if k == kind]
            assert [owners[i] for i in at] == assign_owners([shapes[i] for i in at], world)
        assert set(owners) == set(range(world))  # every rank owns something here


def test_unsupported_placements_refused_or_take_the_old_path(ranks: Any) -> None:
    _, results = ranks
    for r in results:
        refused = r["refused"]
        assert "Shard(dim=1)" in refused["shard1_error"]
        assert "2-D mesh" in refused["mesh2d_error"]
        assert "different Muon parameters" in refused["differ_error"]
        for label in ("shard1", "mesh2d", "differ"):
            assert "'w'" in refused[f"{label}_error"]
            assert refused[f"{label}_unchanged"]  # the refused step changed nothing
            case = refused[label]
            assert case["owners"] == [None]  # not shared: every rank orthogonalizes it
            assert [s["ns_calls"] for s in case["stats"]] == [1] * m.STEPS
            assert_equal_params(case["final"], m.replay(case), f"{label} vs 1 process")


def test_benchmark_quick_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks/bench_muon_distributed.py --quick``: 2 ranks, its ratio and counts."""
    from tests.test_benchmarks_smoke import _ratio_lines, _ratios, load_benchmark

    bench = load_benchmark("bench_muon_distributed")
    assert bench.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    ratios = _ratios(_ratio_lines(out))
    assert list(ratios) == ["zero-redundancy vs redundant Muon step (2 ranks)"], out
    assert "redundant        per rank per step: NS calls [32, 32]" in out, out
    assert "zero-redundancy  per rank per step: NS calls [16, 16]" in out, out
    assert "weights bit-identical after all steps: True" in out, out
