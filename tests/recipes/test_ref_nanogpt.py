"""Sanity checks of the nanoGPT reference against facts of the original code."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from tests.recipes import ref_nanogpt as ref


def _names(groups: list[dict[str, Any]], model: nn.Module) -> list[list[str]]:
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [[name_of[id(p)] for p in g["params"]] for g in groups]


@pytest.mark.parametrize("bias", [False, True])
def test_two_groups_split_by_dimension(bias: bool) -> None:
    model = ref.build_model(bias=bias)
    groups = ref.reference_param_groups(model)
    assert [set(g) for g in groups] == [{"params", "weight_decay"}] * 2
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    decay, no_decay = _names(groups, model)
    params = dict(model.named_parameters())
    # every trainable parameter exactly once, in named_parameters() order
    assert decay + no_decay == [n for n in params if n in decay] + [
        n for n in params if n in no_decay
    ]
    assert sorted(decay + no_decay) == sorted(params)
    assert all(params[n].dim() >= 2 for n in decay)
    assert all(params[n].dim() < 2 for n in no_decay)
    # embeddings decay (wte is the tied lm_head, listed once), LayerNorms never do
    assert decay[:2] == ["transformer.wte.weight", "transformer.wpe.weight"]
    assert "lm_head.weight" not in decay + no_decay
    assert model.lm_head.weight is model.transformer.wte.weight
    n_layer = len(model.transformer.h)
    assert len(decay) == 2 + 4 * n_layer
    assert len(no_decay) == (8 * n_layer + 2 if bias else 2 * n_layer + 1)
    assert all(".ln_" in n for n in no_decay if n.endswith(".weight"))


def test_optimizer_defaults_are_train_py_defaults() -> None:
    assert ref.REFERENCE_OPTIMIZER == "AdamW"
    assert ref.REFERENCE_DEFAULTS["lr"] == 6e-4
    assert ref.REFERENCE_DEFAULTS["betas"] == (0.9, 0.95)
    assert ref.REFERENCE_DEFAULTS["eps"] == 1e-8
    assert ref.REFERENCE_DEFAULTS["amsgrad"] is False


def _lrs(step: int) -> list[float]:
    groups: list[dict[str, Any]] = [{"params": []}, {"params": []}]
    ref.apply_schedule(groups, step)
    return [g["lr"] for g in groups]


def test_warmup_starts_above_zero_and_peaks_at_2000() -> None:
    assert _lrs(0) == [6e-4 * 1 / 2001] * 2  # the fix of commit dc81cb36: not zero
    assert _lrs(1999) == [6e-4 * 2000 / 2001] * 2
    assert _lrs(2000) == [6e-4, 6e-4]  # the documented max learning rate
    warm = [_lrs(s)[0] for s in range(0, 2001, 50)]
    assert warm == sorted(warm)


def test_cosine_decays_to_min_lr_at_the_last_iteration() -> None:
    assert ref.RUN["steps"] == 600_001  # train.py runs iterations 0 .. max_iters
    assert _lrs(600_000) == [6e-5, 6e-5]
    assert _lrs(600_001) == [6e-5, 6e-5]
    mid = (2000 + 600_000) // 2
    assert math.isclose(_lrs(mid)[0], (6e-4 + 6e-5) / 2, rel_tol=1e-12)
    decay = [_lrs(s)[0] for s in range(2000, 600_001, 10_000)]
    assert decay == sorted(decay, reverse=True)


def test_schedule_sets_every_group_of_the_real_optimizer() -> None:
    model = ref.build_model()
    opt = torch.optim.AdamW(
        ref.reference_param_groups(model),
        lr=ref.REFERENCE_DEFAULTS["lr"],
        betas=ref.REFERENCE_DEFAULTS["betas"],
    )
    ref.apply_schedule(opt.param_groups, 1234)
    assert {g["lr"] for g in opt.param_groups} == {6e-4 * 1235 / 2001}


@pytest.mark.parametrize("step", [-1, 1.0, True, "3"])
def test_bad_step_is_refused(step: Any) -> None:
    groups: list[dict[str, Any]] = [{"params": [], "lr": 1.0}]
    with pytest.raises(ValueError, match="step"):
        ref.apply_schedule(groups, step)
    assert groups[0]["lr"] == 1.0


def test_full_size_is_gpt2_124m() -> None:
    with torch.device("meta"):
        model = ref.build_model(size="full")
    params = dict(model.named_parameters())
    assert params["transformer.wte.weight"].shape == (50304, 768)
    assert params["transformer.wpe.weight"].shape == (1024, 768)
    assert len(model.transformer.h) == 12
    assert not any(n.endswith(".bias") for n in params)  # train.py's bias=False
    assert round(sum(p.numel() for p in params.values()) / 1e6) == 124
    with pytest.raises(ValueError, match="size"):
        ref.build_model(size="medium")
