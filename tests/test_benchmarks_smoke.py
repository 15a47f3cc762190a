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


def test_bench_lr_curve_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_lr_curve")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = _ratio_lines(out)
    assert any("(a) LambdaLR" in line for line in lines), out
    assert any("(b) SequentialLR" in line for line in lines), out
    assert all(re.search(r": \d+(\.\d+)?x faster$", line) for line in lines), out
    assert re.search(r"own max rel err vs lr_lambda 0\.0e\+00 \(bit-identical: True\)", out), out
    assert "(c) HF" in out  # either run or clearly skipped


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


def test_bench_param_groups_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_param_groups")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = _ratio_lines(out)
    assert any(line.strip().startswith("ratio optfn / naive loop") for line in lines), out
    assert "torch 2." in out
    # timm cannot load beside the CPU torch here: the script must say so, not skip silently
    assert "timm" in out


def test_bench_optimizer_step_quick(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("bench_optimizer_step")
    assert bench.main(["--quick"]) == 0
    lines = _ratio_lines(capsys.readouterr().out)
    assert len(lines) == 4 and any("optfn merged groups" in line for line in lines)
