"""Zero-redundancy NorMuon (``optfn.optim.normuon.distributed``) on 2 and 3 CPU ranks (gloo).

One launch per world size (``tests/optim/normuon_dist_workers.py``) runs every case; the tests check
what each rank recorded:

- the weights equal one process's bit for bit (the gradients replayed here, no process
  group), with ``zero_redundancy`` on and off: tall, wide, square, 4-D and ``reshape``-viewed
  banks, Polar Express and Newton–Schulz, per-matrix LR factors, Adam every 2 steps, a
  gradient missing at one step;
- each matrix is orthogonalized by exactly one rank per step (``distributed_stats``; with
  ``zero_redundancy=False`` every rank does every matrix), owners agree and follow the plan,
  and the exchanged bytes are counted;
- ``state_dict`` is the same on every rank and equal to one process's; loaded into a fresh
  optimizer, the next steps are still one process's;
- a DTensor parameter and parameters that differ between ranks are refused, naming the
  parameter, and nothing changes;
- ``torch.compile`` of the step runs the zero-redundancy step eagerly (the weights are one
  process's), and ``fullgraph=True`` refuses it with the reason, before anything moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from optfn.optim.normuon.distributed import plan_owners
from optfn.optim.normuon.groups import bank_shape
from tests.optim import dist_workers as w
from tests.optim import normuon_dist_workers as m

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module", params=[2, 3], ids=["2ranks", "3ranks"])
def ranks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``(world, [what rank r recorded for r in range(world)])``, one launch per world size."""
    world: int = request.param
    out = tmp_path_factory.mktemp(f"nm{world}")
    w.launch(m.normuon_checks, world, str(out))
    return world, [
        torch.load(Path(out) / f"nm_{world}_{r}.pt", weights_only=False) for r in range(world)
    ]


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, torch.Tensor]]:
    """One process: the weights and state_dict after STEPS steps, the weights after all."""
    at_steps, state, opt = m.replay(m.STEPS + m.MORE_STEPS)
    final = {n: p.detach().clone() for n, p in zip(m.SHAPES, _params(opt), strict=True)}
    return at_steps, state, final


def _params(opt: Any) -> list[torch.Tensor]:
    by_name: dict[str, torch.Tensor] = {}
    for g in opt.param_groups:
        by_name.update(zip(g["param_names"], g["params"], strict=True))
    return [by_name[n] for n in m.SHAPES]


def assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], where: str) -> None:
    assert a.keys() == b.keys(), where
    for name in a:
        diff = (a[name].float() - b[name].float()).abs().max().item()
        assert torch.equal(a[name], b[name]), f"{where} {name}: max abs diff {diff}"


def assert_equal_state(a: dict[str, Any], b: dict[str, Any], where: str) -> None:
    assert a["param_groups"] == b["param_groups"], where
    assert a["state"].keys() == b["state"].keys(), where
    for pid, entry in a["state"].items():
        other = b["state"][pid]
        assert entry.keys() == other.keys(), (where, pid)
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == other[key].dtype, (where, pid, key)
                assert torch.equal(value, other[key]), (where, pid, key)
            else:
                assert value == other[key], (where, pid, key)


def test_weights_equal_one_process_bit_for_bit(ranks: Any, reference: Any) -> None:
    world, results = ranks
    at_steps, _, final = reference
    for rank, result in enumerate(results):
        for label in ("shared", "off"):
            case = result[label]
            where = f"{world} ranks, rank {rank}, {label}"
            assert any(not torch.equal(case["final"][n], case["start"][n]) for n in m.SHAPES)
            assert_equal(case["final"], at_steps, f"{where} vs 1 process")
            assert_equal(case["after_load"], final, f"{where}, state_dict loaded, vs 1 process")


def test_state_dict_is_one_process_and_the_same_on_every_rank(ranks: Any, reference: Any) -> None:
    world, results = ranks
    _, state, _ = reference
    for rank, result in enumerate(results):
        for label in ("shared", "off"):
            where = f"{world} ranks, rank {rank}, {label}"
            assert_equal_state(result[label]["state_dict"], state, where)
    normuon = [n for key in ("A", "B") for n in m.LAYOUT[key]]
    saved = results[0]["shared"]["state_dict"]["state"]
    assert all("second_momentum_buffer" in saved[i] for i in range(len(normuon)))


def matrices_with_grad(step: int) -> int:
    params = m.make_params()
    grads = m.grads_at(step)
    names = [n for key in ("A", "B") for n in m.LAYOUT[key]]
    return sum(bank_shape("", n, params[n])[0] for n in names if grads[n] is not None)


def test_each_matrix_orthogonalized_by_exactly_one_rank(ranks: Any) -> None:
    world, results = ranks
    total = [matrices_with_grad(s) for s in range(m.STEPS + m.MORE_STEPS)]
    assert total[0] == 4 + 2 + 1 + 4 + 4 and total[1] == total[0] - 1  # "square" has no grad
    for step, expected in enumerate(total):
        calls = [r["shared"]["stats"][step]["ns_calls"] for r in results]
        assert sum(calls) == expected, (step, calls)
        assert all(c > 0 for c in calls), calls  # every rank does its share
        assert max(calls) - min(calls) <= 3, calls  # balanced (the costs differ a little)
        for r in results:
            stats = r["shared"]["stats"][step]
            assert stats["steps"] == 1 and 1 <= stats["collectives"] <= 4, stats
            off = r["off"]["stats"][step]
            assert off["ns_calls"] == expected  # redundant: every rank, every matrix
            assert off["collectives"] == off["bytes_sent"] == off["steps"] == 0
        sent = [r["shared"]["stats"][step]["bytes_sent"] for r in results]
        received = [r["shared"]["stats"][step]["bytes_received"] for r in results]
        assert sum(sent) == sum(received) > 0
    print(
        f"{world} ranks: matrices orthogonalized per rank per step",
        [[r["shared"]["stats"][s]["ns_calls"] for r in results] for s in range(len(total))],
    )


def test_owners_agree_and_follow_the_plan(ranks: Any) -> None:
    world, results = ranks
    owners = results[0]["shared"]["owners"]
    assert all(r["shared"]["owners"] == owners for r in results)
    assert all(r["off"]["owners"] is None for r in results)  # off: no plan
    params = m.make_params()
    names = [n for key in ("A", "B") for n in m.LAYOUT[key]]
    banks = [bank_shape("", n, params[n]) for n in names]
    assert owners == plan_owners(banks, world)
    assert [len(o) for o in owners] == [b[0] for b in banks]  # one owner per matrix
    assert len(set(owners[0])) > 1  # a bank's matrices are split between ranks


def test_dtensor_and_differing_ranks_refused_unchanged(ranks: Any) -> None:
    _, results = ranks
    for r in results:
        refused = r["refused"]
        assert refused["dtensor_error"].startswith("SpecTypeError: param group 0 (route 'normuon')")
        assert "parameter 'w' is a DTensor" in refused["dtensor_error"]
        assert "zero_redundancy=False" in refused["dtensor_error"]
        assert refused["differ_error"].startswith("SpecError: NorMuonWithAdam.zero_redundancy")
        assert "different NorMuon parameters" in refused["differ_error"]
        assert "'w'" in refused["differ_error"]
        assert refused["dtensor_unchanged"] and refused["differ_unchanged"]


def test_compiled_step_runs_the_exchange_eagerly(ranks: Any, reference: Any) -> None:
    world, results = ranks
    _, _, final = reference
    for rank, result in enumerate(results):
        case = result["compiled"]
        assert_equal(case["final"], final, f"{world} ranks, rank {rank}, compiled")
        assert case["fullgraph_unchanged"], case
        assert "zero-redundancy exchange" in case["fullgraph_error"], case["fullgraph_error"]
