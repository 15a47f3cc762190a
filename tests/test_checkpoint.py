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

WORKER = Path(__file__).parent / "data" / "resume_worker.py"
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
