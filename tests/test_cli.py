"""The optfn command line, run through its entry point."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optfn import (
    AdamWSpec,
    Join,
    LinearDecay,
    LinearWarmup,
    MuonSpec,
    OptimConfig,
    OptimizerSpecification,
    ParamRules,
    WarmupCosine,
    load_config,
    lr_curve,
    save_config,
)
from optfn.cli import main

DATA = Path(__file__).parent / "data"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    cfg = OptimConfig(
        optimizer=AdamWSpec(learning_rate=0.002),
        rules=ParamRules(lr_scales={"scoring_head": 5.0}),
        schedule=WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.1),
    )
    path = tmp_path / "run.toml"
    save_config(cfg, path)
    return path


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "plan", "curve", "validate"):
        assert cmd in out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("optfn")
    run = subprocess.run([str(exe), "validate", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "every problem" in run.stdout


def test_plan_table_for_the_demo_model(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    head = [c.strip() for c in rows["scoring_head.weight"].split("│")[1:-1]]
    assert head[:5] == ["scoring_head.weight", "1x32", "adamw", "0.01", "0.01"]
    assert "scoring_head -> lr x5" in head[5]
    bias = [c.strip() for c in rows["scoring_head.bias"].split("│")[1:-1]]
    assert bias[3] == "0" and "bias -> no weight decay" in bias[5]
    norm = [c.strip() for c in rows["norm.weight"].split("│")[1:-1]]
    assert norm[3] == "0" and norm[4] == "0.002"
    assert "4 param groups" in out


def test_plan_with_a_factory(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", str(config_file), "--model", "tests.cli_models:tiny"]) == 2
    err = capsys.readouterr().err
    assert "lr_scales['scoring_head']" in err  # the tiny model has no scoring head
    assert main(["plan", "--model", "tests.cli_models:tiny"]) == 2
    cfg = config_file.with_name("plain.toml")
    save_config(AdamWSpec(), cfg)
    assert main(["plan", "--config", str(cfg), "--model", "tests.cli_models:tiny"]) == 0
    assert "body.weight" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--model", "nope.module:factory"], "cannot import 'nope.module'"),
        (["plan", "--model", "tests.cli_models:missing"], "has no callable 'missing'"),
        (["plan", "--model", "tests.cli_models:not_a_module"], "not an nn.Module"),
        (["plan", "--model", "no-colon"], "expected 'demo' or 'package.module:factory'"),
        (["validate", "missing.toml"], "missing.toml: no such file"),
        (["curve", "missing.toml", "--steps", "5"], "no such file"),
        (["demo", "--steps", "0"], "--steps: must be >= 1"),
    ],
)
def test_user_mistakes_exit_2_without_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_validate_ok_and_bad(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(config_file)]) == 0
    assert "ok (OptimConfig: adamw lr=0.002" in capsys.readouterr().out
    assert main(["validate", str(DATA / "bad_config.toml")]) == 2
    err = capsys.readouterr().err
    assert "optimizer.learning_rate: must be a number, got '3e-4' (str)" in err
    assert "_target_: unknown key" in err
    assert len([line for line in err.splitlines() if line.startswith("  ")]) >= 5


def test_validate_via_subprocess_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "type": "adamw", "learning_rate": "0.1"}')
    run = subprocess.run(
        [sys.executable, "-m", "optfn.cli", "validate", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "learning_rate: must be a number, got '0.1' (str)" in run.stderr
    assert "Traceback" not in run.stderr


def test_curve_csv_equals_lr_curve_and_png_written(tmp_path: Path, config_file: Path) -> None:
    csv_path, png_path = tmp_path / "c.csv", tmp_path / "c.png"
    assert (
        main(
            [
                "curve",
                str(config_file),
                "--steps",
                "150",
                "--csv",
                str(csv_path),
                "--png",
                str(png_path),
            ]
        )
        == 0
    )
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    cfg = load_config(config_file)
    expected = lr_curve(cfg.schedule, 150)
    got = np.array([float(r["multiplier"]) for r in rows])
    assert np.array_equal(got, expected)  # repr() round-trips floats exactly
    assert np.array_equal(np.array([float(r["lr"]) for r in rows]), expected * 0.002)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 5000


def test_curve_of_a_schedule_alone_in_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sched.json"
    save_config(
        Join(
            pieces=(LinearWarmup(warmup_steps=5), LinearDecay(decay_steps=20, min_lr_scale=0.0)),
            boundaries=(5,),
        ),
        path,
    )
    assert main(["curve", str(path), "--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "multiplier over 30 steps" in out and "end (step 29): multiplier = 0" in out
    assert "█" in out


def test_demo_trains_and_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "demo"
    assert main(["demo", "--steps", "30", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("loss "))
    first, last = (float(x) for x in line.split()[1:4:2])
    assert last < first
    assert {"config.toml", "checkpoint.pt", "lr_curve.csv", "lr_curve.png"} <= {
        p.name for p in out_dir.iterdir()
    }
    cfg = load_config(out_dir / "config.toml")
    assert isinstance(cfg.optimizer, MuonSpec)
    state = torch.load(out_dir / "checkpoint.pt", weights_only=True)
    spec = OptimizerSpecification.from_serialized(
        state["optimizer_type"], state["optimizer_params"]
    )
    assert spec == cfg.optimizer
