"""Sanity checks of the Hugging Face Trainer reference against the Trainer itself."""

from __future__ import annotations

import math
from typing import Any

import pytest
from torch import nn
from transformers import Trainer, TrainerCallback

from examples.hf_trainer import RandomTokens
from tests.recipes import ref_hf_trainer_llama as ref


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _names(groups: list[dict[str, Any]], model: nn.Module) -> list[list[str]]:
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [[name_of[id(p)] for p in g["params"]] for g in groups]


def test_norm_weights_do_not_decay_everything_else_does() -> None:
    model = ref.build_model()
    groups = ref.reference_param_groups(model)
    assert [set(g) for g in groups] == [{"params", "weight_decay"}] * 2
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    decay, no_decay = _names(groups, model)
    norms = ("input_layernorm.weight", "post_attention_layernorm.weight")
    assert no_decay == [n for n, _ in model.named_parameters() if n.endswith(norms)] + [
        "model.norm.weight"
    ]
    assert decay[0] == "model.embed_tokens.weight"
    assert decay[-1] == "lm_head.weight"
    assert sorted(decay + no_decay) == sorted(n for n, _ in model.named_parameters())


def test_defaults_are_training_arguments_defaults() -> None:
    assert ref.REFERENCE_OPTIMIZER == "AdamW"
    assert ref.REFERENCE_DEFAULTS["lr"] == 5e-5
    assert ref.REFERENCE_DEFAULTS["betas"] == (0.9, 0.999)
    assert ref.REFERENCE_DEFAULTS["eps"] == 1e-8
    assert ref.RUN["warmup_steps"] == math.ceil(1000 * 0.03) == 30


def _lrs(step: int, kind: str | None = None) -> float:
    groups: list[dict[str, Any]] = [{"params": []}]
    ref.apply_schedule(groups, step, lr_scheduler_type=kind)
    return float(groups[0]["lr"])


def test_cosine_schedule_facts() -> None:
    assert _lrs(0) == 0.0  # Hugging Face's warm-up starts at 0
    assert _lrs(15) == 5e-5 * 0.5
    assert _lrs(30) == 5e-5  # the peak, at the end of warm-up
    assert math.isclose(_lrs(30 + 485), 5e-5 / 2, rel_tol=1e-12)  # half way down
    assert 0.0 < _lrs(999) < 1e-9
    assert _lrs(1000) == 0.0
    assert math.isclose(_lrs(1970), 5e-5, rel_tol=1e-12)  # past T the cosine climbs back


def test_linear_schedule_facts() -> None:
    assert _lrs(0, "linear") == 0.0
    assert _lrs(30, "linear") == 5e-5
    assert _lrs(30 + 485, "linear") == 5e-5 * 0.5
    assert _lrs(1000, "linear") == 0.0
    assert _lrs(1500, "linear") == 0.0


class _Record(TrainerCallback):  # type: ignore[misc]
    """Every group's LR just before each optimizer step; stops after ``n`` steps."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.lrs: list[list[float]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append([g["lr"] for g in kw["optimizer"].param_groups])

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        control.should_training_stop = state.global_step >= self.n
        return control


def test_the_real_trainer_applies_the_reference_lrs(tmp_path: Any) -> None:
    model = ref.build_model()
    record = _Record(3)
    args = ref.training_arguments(
        str(tmp_path), per_device_train_batch_size=8, save_strategy="no", seed=0
    )
    trainer = Trainer(model=model, args=args, train_dataset=RandomTokens(), callbacks=[record])
    trainer.train()
    groups = ref.reference_param_groups(ref.build_model())
    want = []
    for step in range(3):
        ref.apply_schedule(groups, step)
        want.append([g["lr"] for g in groups])
    assert record.lrs == want
    assert want[1] == [5e-5 / 30] * 2


@pytest.mark.parametrize("step", [-3, 0.5, True])
def test_bad_step_is_refused(step: Any) -> None:
    groups: list[dict[str, Any]] = [{"params": [], "lr": 1.0}]
    with pytest.raises(ValueError, match="step"):
        ref.apply_schedule(groups, step)
    assert groups == [{"params": [], "lr": 1.0}]
