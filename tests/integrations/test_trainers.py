"""optfn inside the trainers people use: Hugging Face ``Trainer`` and Lightning.

Both run the examples (``examples/hf_trainer.py``, ``examples/lightning_module.py``) on CPU
with tiny models, with ``MuonWithAdamW`` and with ``AdamW``, and check that

- the LR every param group gets at every step is ``base LR x lr_curve(schedule)[step]``,
  exactly (and so is what the trainer logs), and
- resuming from a checkpoint with a fresh model, optimizer and scheduler built from the same
  specs ends on parameters ``torch.equal`` to an uninterrupted run's.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from transformers import TrainerCallback

from examples import hf_trainer, lightning_module
from optfn import lr_curve, make_optimizer, to_dict

STEPS = 10

pytestmark = [
    # Lightning's own notices, irrelevant here: its pytree helper's deprecation, a resumed
    # run writing checkpoints to a new folder, a mid-epoch resume with a plain DataLoader
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
    pytest.mark.filterwarnings("ignore:The dirpath has changed"),
    pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    # the README's TrainingArguments leave pin_memory on; these machines have no accelerator
    pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true"),
]


@pytest.fixture(autouse=True)
def _offline_and_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach the network (the models are built from configs); the trainers'
    info logs are noise in a test report."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for name in ("transformers", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)


def expected_lrs(model: nn.Module, spec: Any, rules: Any, schedule: Any) -> list[list[float]]:
    """``[step][group]``: each group's base LR (as optfn builds it) x the schedule's curve."""
    bases = [g["lr"] for g in make_optimizer(model, spec, rules).param_groups]
    return [[b * m for b in bases] for m in lr_curve(schedule, STEPS).tolist()]


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_equal_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"parameters differ after resume: {differ}"


# -- Hugging Face Trainer(optimizers=(opt, sched))


class RecordLRs(TrainerCallback):  # type: ignore[misc]
    """Every group's LR as the optimizer step of ``global_step`` is about to use it."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.lrs[state.global_step] = [g["lr"] for g in kwargs["optimizer"].param_groups]


@pytest.mark.parametrize("muon", [True, False], ids=["muon", "adamw"])
def test_hf_trainer_lrs_follow_the_curve_and_resume_is_exact(muon: bool, tmp_path: Path) -> None:
    spec, rules, schedule = hf_trainer.specs(muon)
    want = expected_lrs(hf_trainer.tiny_llama(), spec, rules, schedule)
    start = params(hf_trainer.tiny_llama())

    straight_rec = RecordLRs()
    straight = hf_trainer.build_trainer(str(tmp_path), STEPS, muon=muon, callbacks=[straight_rec])
    straight.train()
    inner = straight.optimizer.optimizer  # accelerate wraps it; the object is optfn's
    assert type(inner).__name__ == ("MuonWithAdamW" if muon else "AdamW")
    assert straight.lr_scheduler.schedule == schedule
    assert straight_rec.lrs == dict(enumerate(want))
    # what the Trainer logs as "learning_rate" is group 0's LR of the step just taken
    logged = [(h["step"], h["learning_rate"]) for h in straight.state.log_history if "loss" in h]
    assert logged == [(s + 1, want[s][0]) for s in range(STEPS)]
    final = params(straight.model)

    # the checkpoint holds plain data that Trainer's torch.load(weights_only=True) reads
    ckpt = tmp_path / "checkpoint-4"
    sched_state = torch.load(ckpt / "scheduler.pt", weights_only=True)
    assert sched_state["last_epoch"] == 4 and sched_state["schedule"] == to_dict(schedule)
    torch.load(ckpt / "optimizer.pt", weights_only=True)

    resumed_rec = RecordLRs()
    resumed = hf_trainer.build_trainer(
        str(tmp_path / "resumed"), STEPS, muon=muon, callbacks=[resumed_rec]
    )  # a fresh model, optimizer and scheduler from the same specs
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert resumed.state.global_step == STEPS
    assert resumed_rec.lrs == {s: want[s] for s in range(4, STEPS)}
    assert_equal_params(params(resumed.model), final)
    assert any(not torch.equal(start[k], final[k]) for k in final)  # it did train


# -- Lightning: configure_optimizers returns {"scheduler": sched, "interval": "step"}


class RecordBatchLRs(L.Callback):
    """Every group's LR when a training batch starts (the LR its optimizer step uses)."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.lrs[trainer.global_step] = [g["lr"] for g in trainer.optimizers[0].param_groups]


def monitored_lrs(root: Path) -> dict[int, list[float]]:
    """What ``LearningRateMonitor(logging_interval="step")`` wrote to the CSV log."""
    with open(root / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    columns = sorted((k for k in rows[0] if k.startswith("lr-")), key=lambda k: k[-3:])
    return {int(r["step"]): [float(r[c]) for c in columns] for r in rows if r[columns[0]]}


Fitted = tuple[lightning_module.TinyLM, dict[int, list[float]]]


def fit(root: Path, save_every: int, ckpt_path: Path | None = None, *, muon: bool) -> Fitted:
    """Fit a fresh :class:`TinyLM` to step ``STEPS`` (from ``ckpt_path`` if given): the model
    and every group's LR at each step it ran."""
    model = lightning_module.tiny_lm(muon)
    rec = RecordBatchLRs()
    trainer = lightning_module.build_trainer(
        str(root), STEPS, save_every=save_every, callbacks=[rec]
    )
    trainer.fit(model, lightning_module.data(), ckpt_path=ckpt_path)
    assert trainer.global_step == STEPS
    assert type(trainer.optimizers[0]).__name__ == ("MuonWithAdamW" if muon else "AdamW")
    return model, rec.lrs


@pytest.mark.parametrize("muon", [True, False], ids=["muon", "adamw"])
def test_lightning_lrs_follow_the_curve_and_resume_is_exact(muon: bool, tmp_path: Path) -> None:
    spec, rules, schedule = lightning_module.specs(muon)
    want = expected_lrs(lightning_module.tiny_lm(muon), spec, rules, schedule)
    start = params(lightning_module.tiny_lm(muon))

    # 32 samples in batches of 8: 4 steps an epoch, so step 4's checkpoint ends epoch 0
    model, lrs = fit(tmp_path / "straight", save_every=4, muon=muon)
    assert lrs == dict(enumerate(want))
    assert monitored_lrs(tmp_path / "straight") == dict(enumerate(want))
    final = params(model)

    ckpt = tmp_path / "straight" / "ckpt" / "epoch=0-step=4.ckpt"
    resumed, lrs = fit(tmp_path / "resumed", save_every=4, ckpt_path=ckpt, muon=muon)
    assert lrs == {s: want[s] for s in range(4, STEPS)}
    assert monitored_lrs(tmp_path / "resumed") == {s: want[s] for s in range(4, STEPS)}
    assert_equal_params(params(resumed), final)
    assert any(not torch.equal(start[k], final[k]) for k in final)  # it did train


def test_lightning_mid_epoch_resume_keeps_the_schedule(tmp_path: Path) -> None:
    """From step 3 (mid-epoch), Lightning replays a plain DataLoader's epoch from its first
    batch (it warns), so the parameters differ from a straight run's; the schedule does not:
    the scheduler's restored step gives the curve's LRs from step 3 on."""
    spec, rules, schedule = lightning_module.specs(True)
    want = expected_lrs(lightning_module.tiny_lm(True), spec, rules, schedule)
    fit(tmp_path / "straight", save_every=3, muon=True)
    ckpt = tmp_path / "straight" / "ckpt" / "epoch=0-step=3.ckpt"
    _, lrs = fit(tmp_path / "resumed", save_every=3, ckpt_path=ckpt, muon=True)
    assert lrs == {s: want[s] for s in range(3, STEPS)}


# -- the README's "Works with" blocks run as written

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_blocks() -> list[str]:
    section = README.split("## Works with", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_trainer_block_runs(tmp_path: Path) -> None:
    hf_block = readme_blocks()[0]
    code = hf_block.replace('"out"', repr(str(tmp_path))).replace("max_steps=1_000", "max_steps=2")
    assert code != hf_block
    namespace: dict[str, Any] = {
        "model": hf_trainer.tiny_llama(),
        "train_dataset": hf_trainer.RandomTokens(),
    }
    exec(compile(code, "README Works with: Trainer", "exec"), namespace)
    trainer = namespace["trainer"]
    assert type(trainer.optimizer.optimizer).__name__ == "MuonWithAdamW"
    assert trainer.state.global_step == 2 and trainer.lr_scheduler.last_epoch == 2


def test_readme_lightning_block_builds() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(readme_blocks()[1], "README Works with: Lightning", "exec"), namespace)

    class Net(namespace["LitModel"]):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8))

    config = Net().configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.AdamW)
    assert config["lr_scheduler"]["interval"] == "step"
    assert config["lr_scheduler"]["scheduler"].optimizer is config["optimizer"]
