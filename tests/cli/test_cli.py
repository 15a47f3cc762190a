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
    load_checkpoint,
    load_config,
    lr_curve,
    make_optimizer,
    make_scheduler,
    restore,
    save_config,
)
from optfn.cli import main
from optfn.cli.plot import terminal_plot
from optfn.demo import ScoringModel, SyntheticScores, train

DATA = Path(__file__).resolve().parents[1] / "data"


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


def test_plan_shows_each_group_s_implementation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for implementation in ("fused", "for_loop", "auto"):
        cfg = tmp_path / f"{implementation}.toml"
        save_config(AdamWSpec(implementation=implementation), cfg)
        assert main(["plan", "--config", str(cfg), "--model", "tests.cli.cli_models:tiny"]) == 0
        out = capsys.readouterr().out
        header = [line for line in out.splitlines() if line.count("┃") == 8]
        assert [c.strip() for c in header[-1].split("┃")[1:-1]][-1] == "implementation"
        rows = [line for line in out.splitlines() if line.count("│") == 8]
        groups = [[c.strip() for c in r.split("│")[1:-1]] for r in rows]
        assert len(groups) == 2 and all(g[-1] == implementation for g in groups), groups


def test_plan_with_a_factory(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", str(config_file), "--model", "tests.cli.cli_models:tiny"]) == 2
    err = capsys.readouterr().err
    assert "lr_scales['scoring_head']" in err  # the tiny model has no scoring head
    assert main(["plan", "--model", "tests.cli.cli_models:tiny"]) == 2
    cfg = config_file.with_name("plain.toml")
    save_config(AdamWSpec(), cfg)
    assert main(["plan", "--config", str(cfg), "--model", "tests.cli.cli_models:tiny"]) == 0
    assert "body.weight" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--model", "nope.module:factory"], "cannot import 'nope.module'"),
        (["plan", "--model", "tests.cli.cli_models:missing"], "has no callable 'missing'"),
        (["plan", "--model", "tests.cli.cli_models:not_a_module"], "not an nn.Module"),
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
    assert err.splitlines()[0] == f"invalid config {DATA / 'bad_config.toml'} (10 problems):"
    assert [line for line in err.splitlines() if line.startswith("  ")] == [
        "  optimizer.learning_rate: must be a number, got '3e-4' (str)",
        "  optimizer.betas: must be a list of exactly 2 values, got 1: [0.9]",
        "  optimizer.weight_decay: must be a number, got True (bool)",
        "  optimizer.lr: unknown key (did you mean 'learning_rate'?)",
        "  rules.lr_scales['head']: must be finite and > 0, got -5.0",
        "  schedule.pieces[0].type: unknown type 'LinearWarmup'; allowed: 'constant', "
        "'cosine_decay', 'cosine_restarts', 'cyclic', 'cyclic_momentum', 'exponential_decay', "
        "'inverse_sqrt', 'join', 'linear_decay', 'linear_warmup', 'multi_step_decay', "
        "'one_cycle', 'one_cycle_momentum', 'piecewise_constant', 'polynomial_decay', 'product', "
        "'ramp', 'sum', 'warmup_cosine', 'warmup_stable_decay'",
        "  schedule.pieces[1].warmup_steps: must be an integer in [0, 9007199254740992], got -5",
        "  schedule.pieces[1].total_steps: must be an integer in [1, 9007199254740992], got 0",
        "  schedule.boundaries[0]: must be an integer, got 100.0 (float)",
        "  _target_: unknown key (allowed: optimizer, rules, schedule)",
    ]
    assert "Traceback" not in err


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


def test_curve_of_hyper_schedules_one_column_and_panel_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from optfn import HyperSchedules, OneCycle, OneCycleMomentum, OptimConfig, SGDSpec, hyper_curves

    hs = HyperSchedules(lr=OneCycle(total_steps=100), momentum=OneCycleMomentum(total_steps=100))
    path = tmp_path / "hyper.toml"
    save_config(OptimConfig(optimizer=SGDSpec(momentum=0.95), schedule=hs), path)
    csv_path, png_path = tmp_path / "h.csv", tmp_path / "h.png"
    args = ["curve", str(path), "--steps", "120", "--csv", str(csv_path), "--png", str(png_path)]
    assert main(args) == 0
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "lr_multiplier", "momentum_multiplier"]
    curves = hyper_curves(hs, 120)
    for key in ("lr", "momentum"):
        got = np.array([float(r[f"{key}_multiplier"]) for r in rows])
        assert np.array_equal(got, curves[key])
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["curve", str(path), "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "HyperSchedules: lr_multiplier over 50 steps" in out
    assert "HyperSchedules: momentum_multiplier over 50 steps" in out


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
    sched = load_config(path)
    plot = terminal_plot([float(v) for v in lr_curve(sched, 30)])
    assert plot in out  # the whole plot, row by row
    top, bottom = plot.splitlines()[0], plot.splitlines()[9]
    assert top.startswith("        1 │") and "█" in top  # the peak, after the warmup
    assert bottom == "        0 │" + "█" * 64  # every column reaches the floor row


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
    ckpt = load_checkpoint(out_dir / "checkpoint.pt")  # optfn's own format, weights_only
    assert ckpt.config == cfg
    assert ckpt.extra["seed"] == 0
    spec = OptimizerSpecification.from_serialized(
        ckpt.extra["optimizer_type"], ckpt.extra["optimizer_params"]
    )
    assert spec == cfg.optimizer


def test_demo_checkpoint_restores_into_a_fresh_build(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    assert main(["demo", "--steps", "6", "--out", str(out_dir), "--seed", "3"]) == 0
    ckpt = load_checkpoint(out_dir / "checkpoint.pt")
    cfg = ckpt.config
    assert isinstance(cfg, OptimConfig)
    # the run the command made, redone in this process: same seed, same weights, same steps
    torch.manual_seed(3)
    ran = train(ScoringModel(cfg.optimizer), cfg, steps=6, seed=3)
    torch.manual_seed(123)  # other initial weights: restore must replace them
    model = ScoringModel(cfg.optimizer)
    opt = make_optimizer(model, cfg.optimizer, cfg.rules)
    sched = make_scheduler(opt, cfg.schedule)
    restore(ckpt, opt, sched, model=model)
    for key, value in ran.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert sched.last_epoch == ran.scheduler.last_epoch == 6
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ran.optimizer.param_groups]
    # one more step from the restored state is the next step of the original run
    x, y = SyntheticScores(d_in=model.d_in, seed=3).batch(6)
    for m, o in ((model, opt), (ran.model, ran.optimizer)):
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        o.step()
    for key, value in ran.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_model_factory_errors_name_the_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "user_models.py").write_text(
        "def broken():\n    raise RuntimeError('no weights here')\n"
    )
    (tmp_path / "user_bad_import.py").write_text("raise KeyError('at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["plan", "--model", "user_models:broken"]) == 2
    err = capsys.readouterr().err
    assert "--model: user_models:broken raised RuntimeError: no weights here" in err
    assert "Traceback" not in err
    assert main(["plan", "--model", "user_bad_import:f"]) == 2
    err = capsys.readouterr().err
    assert "--model: cannot import 'user_bad_import': 'at import'" in err


def test_unwritable_output_is_a_user_error(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no_such_dir" / "c.csv"
    assert main(["curve", str(config_file), "--steps", "5", "--csv", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"optfn curve: {target}: cannot write: No such file or directory" in err
    assert "Traceback" not in err


def test_an_internal_bug_keeps_its_traceback(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optfn.cli.commands as commands

    def bug(*args: object, **kwargs: object) -> None:
        raise ValueError("an optfn bug, not the user's mistake")

    monkeypatch.setattr(commands, "terminal_plot", bug)
    with pytest.raises(ValueError, match="an optfn bug"):
        main(["curve", str(config_file), "--steps", "5"])
    run = subprocess.run(
        [sys.executable, "-m", "optfn.cli", "curve", str(config_file), "--steps", "0"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "--steps: must be >= 1, got 0" in run.stderr


def test_unreadable_config_files_are_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    assert main(["validate", str(binary)]) == 2
    err = capsys.readouterr().err
    assert f"invalid config {binary} (1 problem):" in err
    assert "(top level): not UTF-8 text (byte 0: invalid start byte)" in err
    text = tmp_path / "c.txt"
    text.write_text("x")
    assert main(["validate", str(text)]) == 2
    err = capsys.readouterr().err
    suffixes = ".toml, .json, .yaml or .yml"
    assert f"optfn validate: path: '{text}' must end in {suffixes}, got '.txt'" in err
    assert main(["validate", str(tmp_path)]) == 2
    assert "is a directory, expected a .toml, .json or .yaml config file" in capsys.readouterr().err


# ---- issue 19: hostile files and arguments exit 2 with one message, no traceback ---------------
def _deep_files(tmp_path: Path) -> list[Path]:
    texts = {
        "deep.json": "[" * 1000 + "]" * 1000,
        "deep_array.toml": "type = " + "[" * 500 + "]" * 500,
        "deep_table.toml": "type = " + "{a = " * 330 + "1" + "}" * 330,
        "dotted.toml": "type." + ".".join(["a"] * 1000) + " = 1",
        "deep_version.json": '{"version": ' + "[" * 60 + "]" * 60 + ', "type": "adamw"}',
    }
    out = []
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        out.append(tmp_path / name)
    return out


def test_validate_deep_files_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in _deep_files(tmp_path):
        assert main(["validate", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert "Traceback" not in err and "RecursionError" not in err
        assert "(1 problem)" in err and max(map(len, err.splitlines())) < 300, err


@pytest.mark.parametrize("steps", ["1000000000000000000", "9223372036854775808", "10000001"])
def test_curve_steps_beyond_the_maximum_exit_2(
    config_file: Path, steps: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["curve", str(config_file), "--steps", steps]) == 2
    err = capsys.readouterr().err
    assert "--steps: must be <= 10,000,000 (the command holds the whole curve in memory)" in err


def test_curve_at_the_maximum_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from optfn.cli.commands import MAX_CURVE_STEPS

    path = tmp_path / "c.toml"
    path.write_text('type = "constant"\n')
    assert main(["curve", str(path), "--steps", str(MAX_CURVE_STEPS)]) == 0
    assert f"end (step {MAX_CURVE_STEPS - 1})" in capsys.readouterr().out


def test_a_factory_that_raises_and_a_module_that_fails_exit_2(tmp_path: Path) -> None:
    (tmp_path / "fails_at_import.py").write_text("import no_such_module_anywhere\n")
    for ref in ("asyncio:get_running_loop", "fails_at_import:f"):
        run = subprocess.run(
            [sys.executable, "-m", "optfn.cli", "plan", "--model", ref],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
        )
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
        assert "--model" in run.stderr


def test_user_text_is_escaped_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        '{"type": "adamw", "\\u001b[2J\\u001b[31mred": 1, "betas": [' + "0.5, " * 10_000 + "0.5]}"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "'\\x1b[2J\\x1b[31mred': unknown key" in err
    assert max(map(len, err.splitlines())) < 300
    odd = tmp_path / "odd\x1bname.toml"
    assert main(["validate", str(odd)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "odd\\x1bname.toml: no such file" in err
