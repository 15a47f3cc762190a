"""``benchmarks/muon_scaling.py``: the paper model of zero-redundancy Muon (no torch, no ranks)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "muon_scaling.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("muon_scaling", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ms = _load()
RANKS = (1, 2, 7, 8, 64, 512)


def _costs(model: str) -> list[int]:
    return [ms.ns_flops(m.rows, m.cols) for m in ms.MODELS[model]]


def test_muon_parameter_counts() -> None:
    elements = {name: sum(m.numel for m in mats) for name, mats in ms.MODELS.items()}
    assert elements["GPT-2-small"] == 12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) == 84_934_656
    assert elements["TinyLlama-1.1B"] == 22 * (2 * 2048**2 + 2 * 256 * 2048 + 3 * 2048 * 5632)
    assert elements["Llama-2-7B"] == 32 * (4 * 4096**2 + 3 * 4096 * 11008) == 6_476_005_376
    assert {n: len(m) for n, m in ms.MODELS.items()} == {
        "GPT-2-small": 48,
        "TinyLlama-1.1B": 154,
        "Llama-2-7B": 224,
    }


def test_ns_flops_formula() -> None:
    # 5 steps of X Xᵀ (2m²n), G·G (2m³), U·X (2m²n), on the wide orientation (m <= n)
    assert ms.ns_flops(768, 3072) == ms.ns_flops(3072, 768) == 5 * (4 * 768**2 * 3072 + 2 * 768**3)
    assert ms.ns_flops(4, 4, steps=1) == 6 * 4**3


@pytest.mark.parametrize("model", list(ms.MODELS))
@pytest.mark.parametrize("n", RANKS)
def test_assignment_and_flops(model: str, n: int) -> None:
    costs = _costs(model)
    owner = ms.assign(costs, n)
    assert len(owner) == len(costs) and all(0 <= o < n for o in owner)  # one owner each
    row = ms.analyse(ms.MODELS[model], n)
    total = sum(costs)
    assert row["ns_flops_rank_today"] == row["ns_flops_total"] == total
    zr = row["ns_flops_rank_zr"]
    assert zr * n >= total and zr >= max(costs)
    assert zr == max(sum(c for c, o in zip(costs, owner, strict=True) if o == r) for r in range(n))
    assert total / zr <= n
    assert row["ddp_bytes_today"] == 0
    if n == 1:
        assert zr == total and row["ddp_bytes_zr"] == row["fsdp_bytes_today"] == 0
        assert row["fsdp_bytes_zr"] == 0


def test_greedy_puts_largest_first_on_least_loaded() -> None:
    assert ms.assign([1, 5, 3, 3], 2) == [0, 0, 1, 1]  # 5 -> r0, 3 -> r1, 3 -> r1, 1 -> r0
    assert ms.max_load([1, 5, 3, 3], 2) == 6


@pytest.mark.parametrize("model", list(ms.MODELS))
def test_floor_detection(model: str) -> None:
    costs = _costs(model)
    floor = ms.floor_ranks(costs)
    assert -(-sum(costs) // max(costs)) <= floor <= len(costs)
    assert ms.max_load(costs, floor) == max(costs) < ms.max_load(costs, floor - 1)
    for n in (8, 64, 512):
        assert ms.analyse(ms.MODELS[model], n)["floor_bound"] == (n >= floor)


def test_floors_and_headline_numbers() -> None:
    assert {m: ms.floor_ranks(_costs(m)) for m in ms.MODELS} == {
        "GPT-2-small": 40,
        "TinyLlama-1.1B": 88,
        "Llama-2-7B": 160,
    }
    row = ms.analyse(ms.MODELS["Llama-2-7B"], 512)
    assert row["ns_flops_rank_zr"] == row["ns_flops_largest"]  # one down_proj-sized matrix
    assert row["idle_ranks"] == 512 - 224
    assert row["ddp_bytes_zr"] == 2 * row["muon_elements"]  # an idle rank receives all


def test_fsdp_bytes_one_matrix_two_ranks() -> None:
    row = ms.analyse([ms.Matrix("w", 4, 3)], 2)
    # today: all-gather of 2-row fp32 shards; zero-redundancy: the owner receives the other
    # rank's fp32 shard (24 B) and sends its bf16 rows back (12 B)
    assert row["fsdp_bytes_today"] == 2 * 3 * 4
    assert row["fsdp_bytes_zr"] == 2 * 3 * 4
    assert row["ddp_bytes_zr"] == 2 * 12  # the idle rank receives the whole bf16 result
    assert row["fsdp_full_bytes_zr"] == row["fsdp_full_bytes_today"] == 12 * 4


def test_main_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert ms.main(["--quick"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 3 * 3
    assert "| Llama-2-7B | 512 | 684,446.0 | 4,380.9 | 156.24 |" in out
    ratios = [line for line in out.splitlines() if line.startswith("ratio ")]
    assert len(ratios) == 9 and all(": " in r for r in ratios)
    assert ms.main(["--json", "--ranks", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["ranks"] for r in data["rows"]] == [4, 4, 4]
