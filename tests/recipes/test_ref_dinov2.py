"""Sanity checks of the DINOv2 reference against facts of the original code and config."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from tests.recipes import ref_dinov2 as ref


def _names(model: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in model.named_parameters()}


def _group_of(groups: list[dict[str, Any]], model: nn.Module) -> dict[str, dict[str, Any]]:
    names = _names(model)
    return {names[id(p)]: g for g in groups for p in g["params"]}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return ref.build_model()


def test_config_is_vits14_with_lr_0004() -> None:
    assert ref.CFG.student.arch == "vit_small"
    assert ref.CFG.student.patch_size == 14
    assert ref.RUN["global_batch"] == 1024
    assert ref.RUN["lr"] == 0.004
    assert ref.RUN["steps"] == 125000
    assert ref.RUN["warmup_steps"] == 12500
    assert ref.REFERENCE_OPTIMIZER == "AdamW"
    assert ref.REFERENCE_DEFAULTS["betas"] == (0.9, 0.999)
    assert ref.REFERENCE_DEFAULTS["eps"] == 1e-8


def test_every_trainable_parameter_in_exactly_one_group(model: nn.Module) -> None:
    groups = ref.reference_param_groups(model)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    # 12 blocks x (decay, no decay) + tokens + patch_embed w/b + final norm = 28 backbone
    # groups; the head's weights, biases and last layer are fused separately: 3 more.
    assert len(groups) == 31
    assert all(g["foreach"] is True for g in groups)
    assert {k for g in groups for k in g} == {
        "params",
        "lr_multiplier",
        "wd_multiplier",
        "is_last_layer",
        "foreach",
    }


def test_which_parameters_decay(model: nn.Module) -> None:
    by_name = _group_of(ref.reference_param_groups(model), model)
    decays = {n for n, g in by_name.items() if g["wd_multiplier"] == 1.0}
    no_decay = {n for n, g in by_name.items() if g["wd_multiplier"] == 0.0}
    assert decays | no_decay == set(by_name)
    for n in (
        "backbone.cls_token",
        "backbone.pos_embed",
        "backbone.mask_token",
        "backbone.patch_embed.proj.weight",
        "backbone.blocks.3.attn.qkv.weight",
        "backbone.blocks.3.mlp.fc2.weight",
        "dino_head.mlp.0.weight",
        "dino_head.last_layer.weight_g",
        "dino_head.last_layer.weight_v",
    ):
        assert n in decays, n
    for n in (
        "backbone.patch_embed.proj.bias",
        "backbone.blocks.3.norm1.weight",
        "backbone.blocks.3.attn.qkv.bias",
        "backbone.blocks.3.ls1.gamma",
        "backbone.blocks.3.ls2.gamma",
        "backbone.norm.weight",
        "dino_head.mlp.4.bias",
    ):
        assert n in no_decay, n
    last = {n for n, g in by_name.items() if g["is_last_layer"]}
    assert last == {"dino_head.last_layer.weight_g", "dino_head.last_layer.weight_v"}


def test_layerwise_lr_multipliers(model: nn.Module) -> None:
    by_name = _group_of(ref.reference_param_groups(model), model)
    assert by_name["backbone.cls_token"]["lr_multiplier"] == 0.9**13
    assert by_name["backbone.pos_embed"]["lr_multiplier"] == 0.9**13
    assert by_name["backbone.patch_embed.proj.weight"]["lr_multiplier"] == 0.9**13 * 0.2
    for i in range(12):
        assert by_name[f"backbone.blocks.{i}.mlp.fc1.weight"]["lr_multiplier"] == 0.9 ** (12 - i)
    assert by_name["backbone.norm.bias"]["lr_multiplier"] == 1.0
    assert by_name["dino_head.mlp.2.weight"]["lr_multiplier"] == 1.0
    assert by_name["dino_head.last_layer.weight_v"]["lr_multiplier"] == 1.0


def test_chunked_blocks_keep_global_layer_ids() -> None:
    chunked = ref.build_model(block_chunks=4)
    by_name = _group_of(ref.reference_param_groups(chunked), chunked)
    for i in range(12):
        name = f"backbone.blocks.{i // 3}.{i}.attn.proj.weight"
        assert by_name[name]["lr_multiplier"] == 0.9 ** (12 - i)
    assert len(ref.reference_param_groups(chunked)) == 31


def test_schedule_warmup_peak_and_last_layer_freeze(model: nn.Module) -> None:
    groups = ref.reference_param_groups(model)
    by_name = _group_of(groups, model)
    head = by_name["dino_head.mlp.0.weight"]
    last = by_name["dino_head.last_layer.weight_v"]
    block0 = by_name["backbone.blocks.0.mlp.fc1.weight"]

    ref.apply_schedule(groups, 0)
    assert head["lr"] == 0.0 and last["lr"] == 0.0
    assert head["weight_decay"] == pytest.approx(0.04)

    ref.apply_schedule(groups, 100)
    assert head["lr"] == 100 * (0.004 / 12499)  # np.linspace(0, 0.004, 12500)
    assert last["lr"] == 0.0  # frozen for the first epoch (1250 steps)
    assert block0["lr"] == head["lr"] * 0.9**12

    ref.apply_schedule(groups, 1249)
    assert last["lr"] == 0.0
    ref.apply_schedule(groups, 1250)
    assert last["lr"] == head["lr"] > 0.0

    ref.apply_schedule(groups, 12499)  # last warm-up step reaches the peak exactly
    assert head["lr"] == 0.004
    ref.apply_schedule(groups, 12500)  # first cosine step: cos(0) = 1
    assert head["lr"] == 0.004

    ref.apply_schedule(groups, 60000)
    k = 60000 - 12500
    expected = 1e-6 + 0.5 * (0.004 - 1e-6) * (1 + math.cos(math.pi * k / 112500))
    assert head["lr"] == pytest.approx(expected, rel=1e-15)
    no_decay = by_name["backbone.blocks.0.norm1.weight"]
    assert no_decay["weight_decay"] == 0.0
    assert head["weight_decay"] == pytest.approx(
        0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(math.pi * 60000 / 125000)), rel=1e-15
    )

    ref.apply_schedule(groups, 125000)  # past the end: final values
    assert head["lr"] == 1e-6 and last["lr"] == 1e-6
    assert head["weight_decay"] == 0.4


def test_groups_build_the_original_optimizer(model: nn.Module) -> None:
    groups = ref.reference_param_groups(model)
    opt = torch.optim.AdamW(groups, betas=ref.REFERENCE_DEFAULTS["betas"])
    ref.apply_schedule(opt.param_groups, 20000)
    lrs = {g["lr"] for g in opt.param_groups}
    assert max(lrs) < 0.004 and min(lrs) > 0.0


def test_test_model_has_the_full_models_names_and_module_types(model: nn.Module) -> None:
    full = ref.build_model("full")
    assert [n for n, _ in full.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert [(n, type(m)) for n, m in full.named_modules()] == [
        (n, type(m)) for n, m in model.named_modules()
    ]
    assert full["backbone"].embed_dim == 384 and len(full["backbone"].blocks) == 12
    assert full["dino_head"].last_layer.weight_v.shape == (65536, 256)
    assert len(ref.reference_param_groups(full)) == 31
