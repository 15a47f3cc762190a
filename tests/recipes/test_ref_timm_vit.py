"""Sanity checks of the timm ViT fine-tuning reference against facts of timm 1.0.31."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from tests.recipes import ref_timm_vit as ref

ARCHS = sorted(ref.ARCHS)


def _by_name(model: nn.Module, groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    name_of = {id(p): n for n, p in model.named_parameters()}
    return {name_of[id(p)]: g for g in groups for p in g["params"]}


@pytest.mark.parametrize("arch", ARCHS)
def test_structure_is_timm_vit(arch: str) -> None:
    model = ref.build_model(arch)
    names = [n for n, _ in model.named_parameters()]
    clip = arch == "vit_base_patch16_clip_224"
    head = ["cls_token", "pos_embed", "patch_embed.proj.weight"]
    head += ["norm_pre.weight", "norm_pre.bias"] if clip else ["patch_embed.proj.bias"]
    assert names[:4] == head[:4]
    assert names[-4:] == ["norm.weight", "norm.bias", "head.weight", "head.bias"]
    assert len(model.blocks) == 12
    assert isinstance(model.patch_embed.proj, nn.Conv2d)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * 12 + 1 + clip
    assert {m.eps for m in norms} == ({1e-5} if clip else {1e-6})
    assert model.no_weight_decay() == {"pos_embed", "cls_token", "reg_token", "dist_token"}
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_decay_groups(arch: str) -> None:
    model = ref.build_model(arch)
    groups = ref.reference_param_groups(model)
    assert all(set(g) == {"params", "lr_scale", "weight_decay"} for g in groups)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    # 14 layer ids (stem, 12 blocks, head) x (no decay, decay)
    assert len(groups) == 28
    by_name = _by_name(model, groups)
    scale = {n: g["lr_scale"] for n, g in by_name.items()}
    # stem: 0.75 ** 13; block i: 0.75 ** (12 - i); final norm with the last block; head 1.0
    assert scale["cls_token"] == scale["pos_embed"] == 0.75**13
    assert scale["patch_embed.proj.weight"] == 0.75**13
    for i in range(12):
        assert scale[f"blocks.{i}.attn.qkv.weight"] == 0.75 ** (12 - i)
    assert scale["norm.weight"] == scale["blocks.11.mlp.fc2.weight"] == 0.75
    assert scale["head.weight"] == scale["head.bias"] == 1.0
    if arch == "vit_base_patch16_clip_224":
        assert scale["norm_pre.weight"] == 0.75**13
    # weight decay: 0.05 for matrices and the patch convolution; none for 1-D parameters
    # and for the model's no_weight_decay() names (cls_token and pos_embed are 3-D)
    params = dict(model.named_parameters())
    for name, g in by_name.items():
        decays = params[name].ndim > 1 and name not in ("cls_token", "pos_embed")
        assert g["weight_decay"] == (0.05 if decays else 0.0), name


def test_defaults() -> None:
    assert ref.REFERENCE_OPTIMIZER == "AdamW"
    assert ref.REFERENCE_DEFAULTS["lr"] == 5e-4
    assert ref.REFERENCE_DEFAULTS["betas"] == (0.9, 0.999)
    assert ref.REFERENCE_DEFAULTS["eps"] == 1e-8
    assert ref.RUN["steps"] == 10_000


def _lrs(step: int, scales: tuple[float, ...] = (1.0, 0.5)) -> list[float]:
    groups: list[dict[str, Any]] = [{"params": [], "lr_scale": s} for s in scales]
    ref.apply_schedule(groups, step)
    return [g["lr"] for g in groups]


def test_warmup_prefix_false_never_reaches_the_peak() -> None:
    step_size = (5e-4 - 1e-6) / 500
    assert _lrs(0) == [1e-6, 1e-6 * 0.5]  # warmup_lr_init, scaled too
    assert _lrs(1) == [1e-6 + step_size, (1e-6 + step_size) * 0.5]
    top_of_warmup = _lrs(499)[0]
    assert top_of_warmup == 1e-6 + 499 * step_size
    # the cosine counts from update 0: at 500 it has already left the peak
    at_500 = 1e-6 + 0.5 * (5e-4 - 1e-6) * (1 + math.cos(math.pi * 500 / 10_000))
    assert math.isclose(_lrs(500)[0], at_500, rel_tol=1e-15)
    run = [_lrs(s)[0] for s in range(0, 10_000, 50)]
    assert max(run) < 5e-4
    assert max(_lrs(s)[0] for s in range(495, 505)) == top_of_warmup


def test_floor_at_the_end_and_after() -> None:
    assert 1e-6 < _lrs(9_999)[0] < 1e-6 * (1 + 1e-4)  # the last update is just above lr_min
    assert _lrs(10_000) == [1e-6, 0.5e-6]  # lr_min, scaled by lr_scale
    assert _lrs(25_000) == [1e-6, 0.5e-6]


def test_schedule_on_the_real_optimizer_keeps_initial_lr() -> None:
    model = ref.build_model()
    opt = torch.optim.AdamW(ref.reference_param_groups(model), lr=5e-4, weight_decay=0.0)
    for step in (0, 3000, 7):
        ref.apply_schedule(opt.param_groups, step)
    assert {g["initial_lr"] for g in opt.param_groups} == {5e-4}
    for g in opt.param_groups:
        assert g["lr"] == _lrs(7, (g["lr_scale"],))[0]


@pytest.mark.parametrize("step", [-1, 2.0, False])
def test_bad_step_is_refused(step: Any) -> None:
    groups: list[dict[str, Any]] = [{"params": [], "lr": 1.0, "lr_scale": 1.0}]
    with pytest.raises(ValueError, match="step"):
        ref.apply_schedule(groups, step)
    assert groups == [{"params": [], "lr": 1.0, "lr_scale": 1.0}]


@pytest.mark.parametrize("arch", ARCHS)
def test_full_size(arch: str) -> None:
    with torch.device("meta"):
        model = ref.build_model(arch, size="full")
    params = dict(model.named_parameters())
    dim = 384 if arch == "vit_small_patch16_224" else 768
    assert params["pos_embed"].shape == (1, 197, dim)
    assert params["patch_embed.proj.weight"].shape == (dim, 3, 16, 16)
    assert params["head.weight"].shape == (1000, dim)
    with pytest.raises(ValueError, match="arch"):
        ref.build_model("vit_huge")
