"""Sanity checks of the torchtitan Llama 3 8B reference against facts of torchtitan."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
import torch
from torch import nn

from tests.recipes import ref_torchtitan_llama3 as ref


@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_one_group_everything_decays(layout: str) -> None:
    model = ref.build_model(layout=layout)
    groups = ref.reference_param_groups(model)
    assert len(groups) == 1
    (group,) = groups
    names = [n for n, _ in model.named_parameters()]
    assert group["param_names"] == names
    assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters()]
    assert {k: v for k, v in group.items() if k not in ("params", "param_names")} == {
        "fused": True,
        "foreach": False,
        "lr": 3e-4,
        "betas": (0.9, 0.95),
        "eps": 1e-8,
        "weight_decay": 0.1,
    }
    # embeddings, norms and the output projection decay like every matrix
    output = "lm_head.weight" if layout == "current" else "output.weight"
    assert {"tok_embeddings.weight", "norm.weight", output} <= set(names)
    assert "layers.0.attention_norm.weight" in names
    # the groups build a working torch AdamW (its own defaults all overridden)
    opt = torch.optim.AdamW(groups)
    assert opt.param_groups[0]["lr"] == 3e-4
    assert ref.REFERENCE_OPTIMIZER == "AdamW"
    assert ref.REFERENCE_DEFAULTS["lr"] == 1e-3  # torch's: never used


def test_current_layout_names() -> None:
    names = [n for n, _ in ref.build_model().named_parameters()]
    layer = [n.removeprefix("layers.0.") for n in names if n.startswith("layers.0.")]
    assert layer == [
        "attention.qkv_linear.wqkv.weight",
        "attention.wo.weight",
        "feed_forward.w1.weight",
        "feed_forward.w2.weight",
        "feed_forward.w3.weight",
        "attention_norm.weight",
        "ffn_norm.weight",
    ]
    assert names[0] == "tok_embeddings.weight"
    assert names[-2:] == ["norm.weight", "lm_head.weight"]
    assert not any(n.endswith(".bias") for n in names)


def test_full_8b_shapes() -> None:
    with torch.device("meta"):
        model = ref.build_model(size="full")
    params = dict(model.named_parameters())
    assert params["tok_embeddings.weight"].shape == (128256, 4096)
    assert params["layers.31.attention.qkv_linear.wqkv.weight"].shape == (6144, 4096)
    assert params["layers.0.feed_forward.w1.weight"].shape == (14336, 4096)
    assert round(sum(p.numel() for p in params.values()) / 1e9, 2) == 8.03
    assert isinstance(model.layers["0"].attention_norm, nn.RMSNorm)
    with pytest.raises(ValueError, match="layout"):
        ref.build_model(layout="toml")


def _lr(step: int) -> float:
    groups: list[dict[str, Any]] = [{"params": [], "lr": 3e-4}]
    ref.apply_schedule(groups, step)
    return float(groups[0]["lr"])


def test_default_schedule_warmup_stable_decay_counts() -> None:
    assert ref.step_counts() == {"warmup_steps": 200, "stable_steps": 1, "decay_steps": 800}
    assert ref.RUN["steps"] == 1000


def test_default_schedule_values() -> None:
    assert _lr(0) == 3e-4 * (1 / 200)  # (step + 1) / W: step 0 is not 0
    assert _lr(199) == 3e-4  # warm-up ends at full LR
    assert _lr(200) == 3e-4  # the one stable step
    assert _lr(201) == 3e-4 * (1 - 1 / 800)
    assert _lr(999) == 3e-4 * (1 - 799 / 800)  # the run's last step stays above 0
    assert _lr(1000) == 0.0  # one past the run
    assert _lr(1001) < 0.0  # no clamp past the end
    decay = [_lr(s) for s in range(200, 1000)]
    assert decay == sorted(decay, reverse=True)


def test_warmup_filling_the_run_gives_zero_decay_steps(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        counts = ref.step_counts(10, warmup_steps=200)
    assert counts == {"warmup_steps": 10, "stable_steps": 1, "decay_steps": 0}
    assert "Adjusting warmup steps to 10" in caplog.text
    fn = ref.lr_lambda(10, warmup_steps=200)
    assert [fn(k) for k in range(10)] == [(k + 1) / 10 for k in range(10)]
    assert fn(10) == 1.0
    with pytest.raises(AssertionError, match="decay_steps must not be zero"):
        fn(11)


def test_decay_ratio_rounds_and_is_capped() -> None:
    # round(total * ratio), Python's round-half-even: round(12.5) == 12
    assert ref.step_counts(50, warmup_steps=5, decay_ratio=0.25)["decay_steps"] == 12
    assert ref.step_counts(100, warmup_steps=10, decay_ratio=0.2) == {
        "warmup_steps": 10,
        "stable_steps": 71,
        "decay_steps": 20,
    }
    # warm-up + decay over the total: decay shrinks to total - warmup
    assert ref.step_counts(10, warmup_steps=6, decay_ratio=0.5)["decay_steps"] == 4


def test_min_lr_factor_and_decay_types() -> None:
    cos = ref.lr_lambda(100, warmup_steps=10, decay_type="cosine", min_lr_factor=0.1)
    assert cos(9) == 1.0
    assert cos(10) == 1.0  # the stable step
    # step 99 is torchtitan's step 100: progress (100 - 11) / 90
    assert cos(99) == 0.1 + (1 - 0.1) * (0.5 * (1.0 + math.cos(math.pi * (89 / 90))))
    assert cos(100) == 0.1  # min_lr_factor is the floor one past the end
    sqrt = ref.lr_lambda(100, warmup_steps=10, decay_type="sqrt")
    assert sqrt(100) == 0.0


@pytest.mark.parametrize("step", [-1, 1.5, True])
def test_bad_step_is_refused(step: Any) -> None:
    groups: list[dict[str, Any]] = [{"params": [], "lr": 1.0}]
    with pytest.raises(ValueError, match="step"):
        ref.apply_schedule(groups, step)
    assert groups == [{"params": [], "lr": 1.0}]
