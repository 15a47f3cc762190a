"""Checkpoints: weights_only loading, exact resume in a fresh process, refused mismatches."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from optfn.checkpoint import (
    Checkpoint,
    check_layout,
    load_checkpoint,
    param_layout,
    restore,
    save_checkpoint,
)
from optfn.errors import ConfigError
from optfn.io import to_dict
from optfn.specs.optimizers import AdamWSpec

WORKER = Path(__file__).resolve().parents[1] / "data" / "resume_worker.py"
_spec = importlib.util.spec_from_file_location("resume_worker", WORKER)
assert _spec is not None and _spec.loader is not None
worker: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path: Path) -> None:
    k, n = 7, 15
    net, opt, sched = worker.build(worker.CONFIG, seed=0)
    worker.train(net, opt, sched, 0, n)  # uninterrupted

    net2, opt2, sched2 = worker.build(worker.CONFIG, seed=0)
    worker.train(net2, opt2, sched2, 0, k)
    ckpt = tmp_path / "run.pt"
    save_checkpoint(
        ckpt, config=worker.CONFIG, optimizer=opt2, scheduler=sched2, model=net2, extra={"step": k}
    )
    # decay/no-decay and the head's LR scale: four groups, each resumed into its own
    assert [(g["param_names"], g["weight_decay"]) for g in opt2.param_groups] == [
        (["body.0.weight", "body.3.weight"], 0.1),
        (["body.0.bias", "body.1.weight", "body.1.bias", "body.3.bias"], 0.0),
        (["head.weight"], 0.1),
        (["head.bias"], 0.0),
    ]
    assert sched2.base_lrs == [0.05, 0.05, 0.05 * 3.0, 0.05 * 3.0]
    out = tmp_path / "final.pt"
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(ckpt), str(out), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    resumed = torch.load(out, weights_only=True)
    expected = net.state_dict()
    assert list(resumed) == list(expected)
    for name, value in expected.items():
        assert torch.equal(resumed[name], value), name
    assert not torch.equal(resumed["head.weight"], net2.state_dict()["head.weight"])  # it trained


def _tiny(names: list[str], model: nn.Module) -> torch.optim.Optimizer:
    params = dict(model.named_parameters())
    return torch.optim.AdamW([{"params": [params[n] for n in names], "param_names": names}])


def _stepped(names: list[str], model: nn.Module) -> torch.optim.Optimizer:
    opt = _tiny(names, model)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    return opt


def _two_layers(out: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(4, out))


def test_saved_file_is_plain_data(tmp_path: Path) -> None:
    model = _two_layers()
    opt = _tiny(["0.weight", "1.weight", "0.bias", "1.bias"], model)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    path = tmp_path / "c.pt"
    save_checkpoint(path, config=AdamWSpec(), optimizer=opt, scheduler=sched, extra={"epoch": 3})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left
    raw = torch.load(path, weights_only=True)
    assert raw["config"] == to_dict(AdamWSpec())
    assert raw["layout"][0][0] == ["0.weight", [4, 4]]
    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert ckpt.config == AdamWSpec()
    assert ckpt.layout == param_layout(opt)
    assert ckpt.extra == {"epoch": 3} and ckpt.model_state is None
    fresh = _tiny(["0.weight", "1.weight", "0.bias", "1.bias"], model)
    fresh_sched = torch.optim.lr_scheduler.ExponentialLR(fresh, gamma=0.9)
    restore(ckpt, fresh, fresh_sched)
    assert fresh_sched.last_epoch == 1
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(opt.param_groups[0]["params"], fresh.param_groups[0]["params"], strict=True):
        assert torch.equal(opt.state[p]["exp_avg"], fresh.state[q]["exp_avg"])


def test_reordered_parameters_are_refused(tmp_path: Path) -> None:
    model = _two_layers()
    opt = _stepped(["0.weight", "1.weight"], model)
    path = tmp_path / "c.pt"
    save_checkpoint(path, config=AdamWSpec(), optimizer=opt)
    ckpt = load_checkpoint(path)
    swapped = _tiny(["1.weight", "0.weight"], model)  # same shapes, other order
    swapped.load_state_dict(ckpt.optimizer_state)  # torch itself would load it silently
    with pytest.raises(ValueError, match=r"parameter #0: the checkpoint has '0\.weight' \[4, 4\]"):
        restore(ckpt, _tiny(["1.weight", "0.weight"], model))


@pytest.mark.parametrize(
    ("names", "out", "words"),
    [
        (
            ["0.weight", "1.weight"],
            3,
            r"#1: the checkpoint has '1\.weight' \[4, 4\] in group 0, "
            r"the optimizer has '1\.weight' \[3, 4\]",
        ),
        (
            ["0.weight"],
            4,
            r"#1: the checkpoint has '1\.weight' \[4, 4\] in group 0, the "
            r"optimizer has nothing",
        ),
        (
            ["0.weight", "1.weight", "1.bias"],
            4,
            r"#2: the checkpoint has nothing, the optimizer "
            r"has '1\.bias' \[4\]",
        ),
    ],
)
def test_shape_and_count_mismatch(tmp_path: Path, names: list[str], out: int, words: str) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(
        path, config=AdamWSpec(), optimizer=_stepped(["0.weight", "1.weight"], _two_layers())
    )
    with pytest.raises(ValueError, match=words):
        restore(load_checkpoint(path), _tiny(names, _two_layers(out)))


def test_group_boundaries_count() -> None:
    a = ((("w", (2,)),), (("b", (2,)),))
    b = ((("w", (2,)), ("b", (2,))),)
    with pytest.raises(
        ValueError,
        match=r"#1: the checkpoint has 'b' \[2\] in group 1, the "
        r"optimizer has 'b' \[2\] in group 0",
    ):
        check_layout(a, b)


def test_groups_need_names(tmp_path: Path) -> None:
    model = _two_layers()
    unnamed = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\]: needs a 'param_names' list"):
        save_checkpoint(tmp_path / "c.pt", config=AdamWSpec(), optimizer=unnamed)
    assert not list(tmp_path.iterdir())
    save_checkpoint(tmp_path / "c.pt", config=AdamWSpec(), optimizer=_tiny(["0.weight"], model))
    with pytest.raises(ValueError, match=r"param_groups\[0\]: needs a 'param_names' list"):
        restore(load_checkpoint(tmp_path / "c.pt"), unnamed)


def test_missing_parts_and_bad_files(tmp_path: Path) -> None:
    model = _two_layers()
    path = tmp_path / "c.pt"
    save_checkpoint(path, config=AdamWSpec(), optimizer=_tiny(["0.weight"], model))
    ckpt = load_checkpoint(path)
    fresh = _tiny(["0.weight"], model)
    with pytest.raises(ValueError, match="saved without a scheduler state"):
        restore(ckpt, fresh, torch.optim.lr_scheduler.ExponentialLR(fresh, gamma=0.5))
    with pytest.raises(ValueError, match="saved without a model state"):
        restore(ckpt, fresh, model=model)

    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not an optfn checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="unsupported checkpoint version 99"):
        load_checkpoint(tmp_path / "future.pt")
    torch.save({**raw, "config": {"type": "adamw", "lr": 1}}, tmp_path / "edited.pt")
    with pytest.raises(ConfigError, match=r"\[config\].*\n  lr: unknown key"):
        load_checkpoint(tmp_path / "edited.pt")


def test_restore_refuses_before_changing_anything(tmp_path: Path) -> None:
    """A scheduler running another schedule is refused before model/optimizer are touched."""
    import torch

    from optfn import (
        AdamWSpec,
        Constant,
        OptimConfig,
        WarmupCosine,
        load_checkpoint,
        make_optimizer,
        make_scheduler,
        restore,
        save_checkpoint,
    )

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = make_optimizer(model, AdamWSpec())
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=10))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    path = tmp_path / "ck.pt"
    save_checkpoint(path, config=OptimConfig(), optimizer=opt, scheduler=sched, model=model)

    fresh = torch.nn.Linear(3, 2)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    opt2 = make_optimizer(fresh, AdamWSpec())
    with pytest.raises(ValueError, match="saved under WarmupCosine"):
        restore(load_checkpoint(path), opt2, make_scheduler(opt2, Constant()), fresh)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())
    assert len(opt2.state) == 0

    other = torch.nn.Linear(3, 2, bias=False)  # same optimizer layout is impossible; model only
    with pytest.raises(ValueError, match=r"model: 'bias' is only in the checkpoint"):
        restore(load_checkpoint(path), opt2, None, other)
    assert len(opt2.state) == 0


# ---- issue 19: every bad file is a StateError, extra loads back, restore is atomic -----------
import datetime  # noqa: E402
import fractions  # noqa: E402

import numpy as np  # noqa: E402

from optfn import (  # noqa: E402
    OptimConfig,
    WarmupCosine,
    make_optimizer,
    make_scheduler,
)
from optfn.errors import OptfnError, SpecTypeError, StateError  # noqa: E402


def _run(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A stepped run saved to a checkpoint; returns the path and the raw payload."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 4))
    opt = make_optimizer(model, AdamWSpec())
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=10))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(2, 4)).sum().backward()
        opt.step()
        sched.step()
    path = tmp_path / "run.pt"
    config = OptimConfig(schedule=WarmupCosine(warmup_steps=2, total_steps=10))
    save_checkpoint(path, config=config, optimizer=opt, scheduler=sched, model=model)
    return path, torch.load(path, weights_only=True)


def _fresh() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 4))
    opt = make_optimizer(model, AdamWSpec())
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=10))
    return model, opt, sched


def _rewrite(tmp_path: Path, raw: dict[str, Any], **changes: Any) -> Path:
    path = tmp_path / "edited.pt"
    torch.save({**raw, **changes}, path)
    return path


@pytest.mark.parametrize("key", ["layout", "config", "optimizer", "scheduler", "model", "extra"])
def test_a_missing_entry_is_a_state_error(tmp_path: Path, key: str) -> None:
    _, raw = _run(tmp_path)
    del raw[key]
    path = tmp_path / "edited.pt"
    torch.save(raw, path)
    with pytest.raises(StateError, match=f"not a complete optfn checkpoint: no '{key}' entry"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"layout": {"a": 1}}, r"layout: must be a list of param groups, got \{'a': 1\} \(dict\)"),
        ({"layout": [[["0.weight", [8.7, 4.2]]]]}, r"layout\[0\]\[0\]: the shape must be a list"),
        ({"layout": [[[3, [8, 4]]]]}, r"layout\[0\]\[0\]: the name must be a string, got 3"),
        ({"layout": [["x"]]}, r"layout\[0\]\[0\]: must be \[name, shape\], got 'x'"),
        ({"version": 1.0}, "unsupported checkpoint version 1.0"),
        ({"version": True}, "unsupported checkpoint version True"),
        ({"model": [1, 2]}, r"model: must be a dict \(a state_dict\), got \[1, 2\] \(list\)"),
        ({"model": {0: torch.zeros(2)}}, r"model: keys must be strings, got 0 \(int\)"),
        ({"model": {"0.weight": 3}}, r"model\['0.weight'\]: must be a tensor, got 3 \(int\)"),
        ({"optimizer": 7}, r"optimizer: must be a dict \(a state_dict\), got 7 \(int\)"),
        ({"optimizer": {"state": {}}}, "optimizer: has no 'param_groups' entry"),
        ({"scheduler": [1]}, r"scheduler: must be a dict \(a state_dict\), got \[1\]"),
        ({"extra": [1]}, r"extra: must be a dict, got \[1\] \(list\)"),
        ({"extra": {"when": "x", 3: 1}}, r"extra: dict keys must be strings, got 3 \(int\)"),
        ({"surplus": 1}, "unknown entry 'surplus'"),
        ({"format": "other"}, r"is not an optfn checkpoint \(format 'other'\)"),
    ],
)
def test_malformed_entries_are_state_errors(
    tmp_path: Path, changes: dict[str, Any], words: str
) -> None:
    _, raw = _run(tmp_path)
    with pytest.raises(StateError, match=words):
        load_checkpoint(_rewrite(tmp_path, raw, **changes))


def test_a_config_that_is_a_nested_list_is_a_config_error(tmp_path: Path) -> None:
    _, raw = _run(tmp_path)
    deep: list[Any] = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ConfigError, match=r"(?s)\[config\].*must be a table/mapping") as info:
        load_checkpoint(_rewrite(tmp_path, raw, config=deep))
    assert len(str(info.value)) < 400
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        load_checkpoint(_rewrite(tmp_path, raw, config={"type": "adamw", "betas": deep}))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is not a readable optfn checkpoint"),
        (b"\x1b[2J\x1b[31m" + bytes(range(256)) * 4, "is not a readable optfn checkpoint"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(StateError, match=words) as info:
        load_checkpoint(path)
    assert "\x1b" not in str(info.value)  # never a terminal escape code
    assert len(str(info.value)) < 600


def test_a_truncated_file_and_a_missing_one(tmp_path: Path) -> None:
    path, _ = _run(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        short = tmp_path / f"cut{cut}.pt"
        short.write_bytes(data[:cut])
        with pytest.raises(StateError, match="is not a readable optfn checkpoint"):
            load_checkpoint(short)
    with pytest.raises(StateError, match=r"missing\.pt': cannot read: No such file"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(StateError, match="cannot read: Is a directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("value", "where", "kind"),
    [
        (np.zeros(3), "extra['rng']", "numpy.ndarray"),
        (np.float64(1.0), "extra['rng']", "numpy.float64"),
        (np.random.get_state(), "extra['rng'][1]", "numpy.ndarray"),
        ({"t": datetime.datetime(2026, 1, 1)}, "extra['rng']['t']", "datetime.datetime"),
        ([Path("x")], "extra['rng'][0]", "pathlib.PosixPath"),
        (fractions.Fraction(1, 3), "extra['rng']", "fractions.Fraction"),
        (AdamWSpec(), "extra['rng']", "optfn.specs.optimizers.AdamWSpec"),
        ({1: 2}, "extra['rng']", None),
    ],
)
def test_save_refuses_extra_that_would_not_load(
    tmp_path: Path, value: Any, where: str, kind: str | None
) -> None:
    model = _two_layers()
    old = tmp_path / "c.pt"
    save_checkpoint(old, config=AdamWSpec(), optimizer=_tiny(["0.weight"], model))
    before = old.read_bytes()
    with pytest.raises(SpecTypeError) as info:
        save_checkpoint(
            old, config=AdamWSpec(), optimizer=_tiny(["0.weight"], model), extra={"rng": value}
        )
    assert info.value.field == where
    if kind is not None:
        assert f"a {kind} cannot be read back by torch.load(weights_only=True)" in str(info.value)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_what_save_accepts_load_reads_back(tmp_path: Path) -> None:
    extra = {
        "none": None,
        "flags": [True, False],
        "n": 2**70,
        "x": -1.5,
        "nan": float("nan"),
        "s": "é\x1b",
        "b": b"\x00\xff",
        "t": torch.arange(3),
        "p": torch.nn.Parameter(torch.ones(2)),
        "nested": {"a": (1, [2, {"b": ()}])},
        "spec": to_dict(AdamWSpec()),
    }
    path = tmp_path / "c.pt"
    save_checkpoint(
        path, config=AdamWSpec(), optimizer=_tiny(["0.weight"], _two_layers()), extra=extra
    )
    back = load_checkpoint(path).extra
    assert back.keys() == extra.keys()
    assert torch.equal(back["t"], extra["t"]) and torch.equal(back["p"], extra["p"])
    for key in ("none", "flags", "n", "x", "s", "b", "nested", "spec"):
        assert back[key] == extra[key], key
    deep: Any = 0
    for _ in range(70):
        deep = [deep]
    with pytest.raises(SpecTypeError, match="nested deeper than 64 levels"):
        save_checkpoint(
            path,
            config=AdamWSpec(),
            optimizer=_tiny(["0.weight"], _two_layers()),
            extra={"d": deep},
        )


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
    import copy

    return (
        copy.deepcopy(model.state_dict()),
        copy.deepcopy(opt.state_dict()),
        copy.deepcopy(sched.state_dict()),
        [g["lr"] for g in opt.param_groups],
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _stepped_fresh() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    """A fresh build that has already taken a step: restore must not lose that state."""
    model, opt, sched = _fresh()
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda s: s["scheduler"].pop("lr_lambdas"), "lr_lambdas"),
        (lambda s: s["scheduler"].update(last_epoch="x"), "last_epoch"),
        (lambda s: s["scheduler"].update(last_epoch=-5), "last_epoch"),
        (lambda s: s["scheduler"].update(base_lrs=7), "base_lrs"),
        (lambda s: s["scheduler"].update(step=3), "step"),
        (lambda s: s["optimizer"]["state"][0].update(exp_avg=torch.zeros(3, 3)), "exp_avg"),
        (lambda s: s["optimizer"]["param_groups"][0].update(lr="x"), "lr"),
        (lambda s: s["model"].update({"0.weight": torch.zeros(3, 3)}), "0.weight"),
        (lambda s: s["model"].pop("1.bias"), "1.bias"),
        (lambda s: s["optimizer"]["state"][0].pop("step"), "load_state_dict refused"),
        (
            lambda s: s["scheduler"]["schedule"].update(version="x" * 5000),
            r"ScheduleLR\.state_dict\['schedule'\]: the state was saved under \{'version': "
            r"'x{20,80}\.\.\., but this scheduler runs WarmupCosine",
        ),
        (lambda s: s["scheduler"]["schedule"].update(total_steps=torch.zeros(1, 0)), "plain"),
        (lambda s: s["optimizer"]["state"][0].update(step=None), "step"),
        (lambda s: s["optimizer"]["state"][0].update(step=10**400), "step"),
        (lambda s: s["optimizer"]["param_groups"][0].update(amsgrad=[[1]]), "amsgrad"),
        (lambda s: s["model"].update({"0.bias": torch.zeros(8, dtype=torch.complex64)}), "bias"),
    ],
)
def test_a_refused_restore_changes_nothing(tmp_path: Path, edit: Any, words: str) -> None:
    _, raw = _run(tmp_path)
    edit(raw)
    ckpt = load_checkpoint(_rewrite(tmp_path, raw))
    model, opt, sched = _stepped_fresh()
    before = _snapshot(model, opt, sched)
    with pytest.raises(StateError, match=words) as info:
        restore(ckpt, opt, sched, model)
    assert _same(_snapshot(model, opt, sched), before)
    assert len(str(info.value)) < 600


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("stage", ["optimizer", "scheduler", "model"])
def test_a_failure_while_loading_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, when: str
) -> None:
    path, _ = _run(tmp_path)
    ckpt = load_checkpoint(path)
    model, opt, sched = _stepped_fresh()
    before = _snapshot(model, opt, sched)
    cls = type({"optimizer": opt, "scheduler": sched, "model": model}[stage])
    real = cls.load_state_dict

    def fail(self: Any, state: Any, *args: Any, **kwargs: Any) -> None:
        if when == "after":
            real(self, state, *args, **kwargs)  # it loaded, then something broke
        raise RuntimeError("injected failure")

    monkeypatch.setattr(cls, "load_state_dict", fail)
    # what torch's loading of the optimizer or scheduler raises is a StateError, undone
    expected = RuntimeError if stage == "model" else StateError
    with pytest.raises(expected, match="injected failure"):
        restore(ckpt, opt, sched, model)
    monkeypatch.undo()
    after = _snapshot(model, opt, sched)
    # the optimizer and the scheduler are put back; the model is only loaded last
    assert _same(after[1:], before[1:])
    if stage != "model" or when == "before":
        assert _same(after[0], before[0])
    restore(ckpt, opt, sched, model)  # and the restore still works afterwards
    assert _same(opt.state_dict()["state"], ckpt.optimizer_state["state"])


def test_a_restored_run_matches_after_a_refusal(tmp_path: Path) -> None:
    path, raw = _run(tmp_path)
    ckpt = load_checkpoint(path)
    model, opt, sched = _fresh()
    bad = Checkpoint(
        config=ckpt.config,
        optimizer_state=ckpt.optimizer_state,
        layout=ckpt.layout,
        scheduler_state={**raw["scheduler"], "last_epoch": -5},
        model_state=ckpt.model_state,
    )
    with pytest.raises(StateError):
        restore(bad, opt, sched, model)
    restore(ckpt, opt, sched, model)
    assert sched.last_epoch == 3 and len(opt.state) == 4


def test_wrong_arguments_are_optfn_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecTypeError, match="optimizer: must be a torch optimizer"):
        save_checkpoint(tmp_path / "c.pt", config=AdamWSpec(), optimizer=3)  # type: ignore[arg-type]
    with pytest.raises(SpecTypeError, match="extra: must be a dict"):
        save_checkpoint(
            tmp_path / "c.pt",
            config=AdamWSpec(),
            optimizer=_tiny(["0.weight"], _two_layers()),
            extra=[1],  # type: ignore[arg-type]
        )
    with pytest.raises(OptfnError):
        restore("x", _tiny(["0.weight"], _two_layers()))  # type: ignore[arg-type]
    with pytest.raises(SpecTypeError, match="load_checkpoint.path: must be a str or a Path"):
        load_checkpoint(3)  # type: ignore[arg-type]  (open(3) would read file descriptor 3)
    path, _ = _run(tmp_path)
    _, opt, _ = _fresh()
    with pytest.raises(SpecTypeError, match="restore.scheduler: must be an LR scheduler"):
        restore(load_checkpoint(path), opt, 5)  # type: ignore[arg-type]
