"""optfn on torch's distributed engine: DDP, FSDP2 (``fully_shard``) and DCP, on CPU with gloo.

Each test spawns its ranks (``tests/optim/dist_workers.py``) and checks what they wrote.

Two references, both single-process runs of the same model on the same global batches:

- ``accumulated``: each step's gradient accumulated over the ranks' shares, ``loss / 2``
  each. Data parallelism computes exactly this: halving is exact in binary floating point
  and a sum of two numbers does not depend on their order, so the distributed runs must
  match it bit for bit.
- ``full``: the whole batch in one pass, which rounds differently. The difference stays
  at float32 rounding (~1e-7) except where the optimizer magnifies it: Adam turns the
  rounding noise of a gradient that is zero in exact arithmetic (the attention key bias,
  ``in_proj_bias``) into steps of up to ``lr``, and Muon's bfloat16 Newton–Schulz turns a
  changed input rounding into a changed bfloat16 output now and then. Tolerances are a few
  times what was measured on torch 2.13 CPU (docs/muon.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.optim import dist_workers as w

pytestmark = pytest.mark.distributed

WORLD = 2
# Max abs parameter difference after w.STEPS steps, distributed vs the ``full`` reference.
TOL_FULL = {"adamw": 1e-6, "muon": 1e-2}
TOL_KEY_BIAS = 2e-3  # Adam on the attention key bias, whose exact gradient is zero
KEY_BIAS = "self_attn.in_proj_bias"


def diffs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    assert a.keys() == b.keys()
    return {k: (a[k].float() - b[k].float()).abs().max().item() for k in a}


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Bit-for-bit equality of nested dicts/lists of tensors and numbers."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where}: max abs diff {(a - b).abs().max().item()}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def check_parity(label: str, kind: str, r: dict[str, Any]) -> None:
    full, accumulated = r["reference"]["full"], r["reference"]["accumulated"]
    assert r["lrs"] == full["lrs"] == accumulated["lrs"]  # the schedule, step by step
    assert_same(r["params"], accumulated["params"], f"{label} {kind} vs accumulated")
    d = diffs(r["params"], full["params"])
    key_bias = max(v for k, v in d.items() if KEY_BIAS in k)
    rest = max(v for k, v in d.items() if KEY_BIAS not in k)
    moved = max(diffs(r["params"], w.full_params(w.tiny_model())).values())
    print(
        f"{label} {kind}: vs accumulated 0 (bitwise); vs full batch max abs diff {rest:.3g}, "
        f"{KEY_BIAS} {key_bias:.3g}; parameters moved up to {moved:.3g}"
    )
    assert rest < TOL_FULL[kind]
    assert key_bias < TOL_KEY_BIAS
    assert moved > 3e-2  # trained weights, far beyond the tolerances above


def test_ddp_same_partition_and_matches_one_process(tmp_path: Path) -> None:
    w.launch(w.ddp_parity, WORLD, str(tmp_path))
    result = torch.load(tmp_path / "ddp.pt", weights_only=False)
    for kind in ("adamw", "muon"):
        r = result[kind]
        # rules written for the bare model route the DDP-wrapped one identically
        assert r["partition_ddp"] == r["partition_bare"]
        assert r["groups_ddp"] == r["groups_bare"]
        assert not any(n.startswith("module.") for g in r["groups_ddp"] for n in g)
        assert r["same_tensors"]
        check_parity("DDP", kind, r)
    assert result["muon"]["type"] == "MuonWithAdamW"
    assert {route for _, route, *_ in result["muon"]["partition_ddp"]} == {"muon", "adamw"}


def test_fsdp2_optimizer_after_sharding_matches_one_process(tmp_path: Path) -> None:
    w.launch(w.fsdp_parity, WORLD, str(tmp_path))
    result = torch.load(tmp_path / "fsdp.pt", weights_only=False)

    # Muon on a row-sharded matrix: the full matrix is orthogonalized, so the update is the
    # unsharded one bit for bit, uneven shards and a conv weight included.
    for row in result["muon_steps"]:
        assert row["moved"] > 1e-3
        assert row["buffer_is_dtensor"]
        assert torch.equal(row["sharded"], row["plain"]), row["shape"]
    assert [r["local_rows"] for r in result["muon_steps"]] == [24, 3, 4, 3]

    for kind in ("adamw", "muon"):
        r = result[kind]
        assert r["all_dtensors"] and r["state_dtensors"]
        assert r["partition_fsdp"] == r["partition_bare"]
        assert r["groups_fsdp"] == r["groups_bare"]
        # an optimizer built before fully_shard holds tensors the model no longer uses
        assert not r["early_sees_live_params"]
        check_parity("FSDP2", kind, r)


def test_dcp_saved_on_two_ranks_resumes_on_two_and_on_one(tmp_path: Path) -> None:
    w.launch(w.dcp_save_and_resume, WORLD, str(tmp_path))
    result = torch.load(tmp_path / "dcp.pt", weights_only=False)
    at_save, uninterrupted = result["at_save"], result["uninterrupted"]
    assert max(diffs(uninterrupted["model"], at_save["model"]).values()) > 1e-2

    # 2 ranks -> 2 ranks: the load restores model, optimizer state, LRs and step exactly, and
    # training continues bit for bit as if never stopped.
    assert result["loaded_2"].pop("last_epoch") == w.SAVE_AT
    assert_same(result["loaded_2"], at_save, "loaded_2")
    assert_same(result["resumed_2"], uninterrupted, "resumed_2")

    # 2 ranks -> 1 process (plain model, no process group): the same state, bit for bit;
    # training on with the two halves' gradients accumulated continues bit for bit too ...
    ckpt = str(tmp_path / "ckpt")
    one = w.dcp_resume_one_process(ckpt, micro=WORLD)
    assert one["loaded_1"].pop("last_epoch") == w.SAVE_AT
    assert_same(one["loaded_1"], at_save, "loaded_1")
    assert_same(one["resumed_1"], uninterrupted, "resumed_1")
    # ... and with one pass over the whole batch, within the float tolerance of the above.
    full = w.dcp_resume_one_process(ckpt, micro=1)["resumed_1"]
    assert full["step_lrs"] == uninterrupted["step_lrs"]
    d = diffs(full["model"], uninterrupted["model"])
    rest = max(v for k, v in d.items() if KEY_BIAS not in k)
    print(f"DCP 2 -> 1 process, full-batch steps: max abs diff {max(d.values()):.3g}")
    assert rest < TOL_FULL["muon"]
    assert max(d.values()) < TOL_KEY_BIAS


def test_docs_example_runs_under_torchrun_environment(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "ckpt")
    runs = [
        ["--parallel", "fsdp", "--steps", "8", "--stop-after", "4", "--save", ckpt],
        ["--parallel", "fsdp", "--steps", "8", "--resume", ckpt],
        ["--parallel", "ddp", "--steps", "8"],
    ]
    w.launch(w.run_example, WORLD, str(tmp_path), runs, stores=len(runs))
    for rank in range(WORLD):
        first, resumed, ddp = torch.load(tmp_path / f"example_losses_{rank}.pt")
        assert len(first) == 4 and len(resumed) == 4 and len(ddp) == 8
        # FSDP2 stopped at step 4 and resumed from DCP == DDP straight through, bit for bit
        # (both compute the accumulated gradient exactly, see the module docstring)
        assert first + resumed == ddp
        assert ddp[-1] < ddp[0]  # this rank's share of the batch: its loss went down
