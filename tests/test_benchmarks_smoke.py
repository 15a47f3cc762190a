"""Smoke tests: each benchmark runs in its --quick mode and prints its ratio lines.

No timing is asserted: only that the script runs, returns 0 and reports what it promises.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ratio_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r"^\s*ratio .*: \d+(\.\d+)?", line)]


def _ratios(lines: list[str]) -> dict[str, float]:
    """``{what: value}`` of ratio lines ``ratio <what>: <value>[x faster]``; values are numbers."""
    out = {}
    for line in lines:
        m = re.fullmatch(r"\s*ratio (.+): (\d+(?:\.\d+)?)(x faster)?", line)
        assert m, line
        out[m.group(1)] = float(m.group(2))
    assert all(v > 0 for v in out.values()), out
    return out


def test_bench_lr_curve_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_lr_curve")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = _ratio_lines(out)
    assert any("(a) LambdaLR" in line for line in lines), out
    assert any("(b) SequentialLR" in line for line in lines), out
    assert all(re.search(r": \d+(\.\d+)?x faster$", line) for line in lines), out
    assert re.search(r"own max rel err vs lr_lambda 0\.0e\+00 \(bit-identical: True\)", out), out
    ratios = _ratios(lines)
    hf = "lr_curve vs (c) HF get_cosine_schedule_with_warmup"
    skipped = "(c) HF get_cosine_schedule_with_warmup: transformers not installed: skipped HF"
    assert (hf in ratios) != (skipped in out), out  # HF either ran (and has a ratio) or says why


def test_bench_lr_curve_says_when_it_skips_hf(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now fails
    bench = load_benchmark("bench_lr_curve")
    assert bench.main(["--quick", "--steps", "3000", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "transformers not installed: skipped HF baseline" in out
    assert len(_ratio_lines(out)) == 2


def test_bench_scheduler_step_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_scheduler_step")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = _ratio_lines(out)
    assert len(lines) == 4, out
    assert any("torch LambdaLR (1 group): " in line for line in lines), out
    assert re.search(r"optfn make_scheduler\s+\d+\.\d+ µs/step", out), out


def test_bench_hyper_schedules_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_hyper_schedules")
    assert bench.main(["--quick", "--steps", "500", "--curve-steps", "2000"]) == 0
    out = capsys.readouterr().out
    ratios = _ratios(_ratio_lines(out))
    assert set(ratios) == {
        "optfn / torch OneCycleLR per step (8 groups)",
        "hyper_curves vs stepping OneCycleLR",
    }, out
    # the curves agree with torch's stepped values (to rounding)
    m = re.search(r"max relative difference: lr (\S+), momentum (\S+)", out)
    assert m and float(m.group(1)) <= 1e-12 and float(m.group(2)) <= 1e-12, out


def test_bench_param_groups_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_param_groups")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = _ratio_lines(out)
    ratios = _ratios(lines)
    models = [k[len("optfn / naive loop [") : -1] for k in ratios if k.startswith("optfn / naive")]
    assert models[:2] == ["transformer (2 x d=256)", "synthetic 1k"], out
    assert "torch 2." in out
    # timm either ran (a ratio per timm method and model) or the script says why not
    timm_ratios = [k for k in ratios if k.startswith("timm ")]
    note = re.search(r"NOTE: timm baselines not run: timm not importable \(\w+: .+\)", out)
    assert bool(timm_ratios) != bool(note), out
    if timm_ratios:
        assert {k.split(" / ")[0] for k in timm_ratios} == {"timm weight_decay", "timm layer_decay"}


def test_bench_optimizer_step_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_optimizer_step")
    assert bench.main(["--quick"]) == 0
    lines = _ratio_lines(capsys.readouterr().out)
    assert len(lines) == 4 and any("optfn merged groups" in line for line in lines)
    assert len(_ratios(lines)) == 4


def test_bench_against_quick(capsys: pytest.CaptureFixture[str]) -> None:
    """The three hot paths against a commit (here HEAD itself) print one ratio each."""
    bench = load_benchmark("bench_against")
    assert bench.main(["HEAD", "--quick"]) == 0
    out = capsys.readouterr().out
    ratios = _ratios(_ratio_lines(out))
    assert set(ratios) == {
        "then / now [groups (10k params)]",
        "then / now [lr_curve (100k steps)]",
        "then / now [AdamW step (optfn groups)]",
    }, out
