"""Reference of DINOv2's optimizer setup: ViT-S/14 student + DINO head, AdamW, per-step schedules.

Source: facebookresearch/dinov2 @ b8931f7bf91576930313be2c6d6af376033b35f0 (Apache-2.0). The
files used are vendored under ``tests/recipes/vendor/dinov2/`` (see its README.md); the parts
that depend on the whole training harness (config loading, ``SSLMetaArch``) are re-implemented
here with citations. Every line range used:

- ``dinov2/configs/ssl_default_config.yaml`` (vendored verbatim): all defaults, in particular
  ``train`` (lines 61-70: batch_size_per_gpu 64, OFFICIAL_EPOCH_LENGTH 1250), ``student``
  (71-85), ``teacher`` (86-91), ``optim`` (92-106), ``dino`` (44-50), ``ibot.separate_head``
  (51-60), ``crops.global_crops_size`` (107-117). Overridden here as the recipe asks:
  ``student.arch = vit_small`` and ``student.patch_size = 14`` (the file's own defaults are
  vit_large / 16).
- ``dinov2/utils/config.py`` 21-29 ``apply_scaling_rules_to_cfg`` (re-implemented in
  :func:`_apply_scaling_rules_to_cfg`): ``lr = base_lr; lr *= sqrt(batch_per_gpu * world / 1024)``.
- ``dinov2/models/__init__.py`` 13-42 ``build_model`` / ``build_model_from_cfg`` (vendored).
- ``dinov2/models/vision_transformer.py`` 45-171 ``DinoVisionTransformer``, 341-352 ``vit_small``
  (vendored; only the ``dinov2.layers`` import made relative).
- ``dinov2/layers/*.py`` (vendored verbatim): ``dino_head.py`` 12-58 (``DINOHead``, whose
  ``last_layer`` is ``torch.nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))``),
  ``layer_scale.py`` 15-34 (``LayerScale.gamma``), ``block.py``, ``attention.py`` (xFormers
  fall-back: ``XFORMERS_DISABLED`` is set here before import, and xFormers is absent anyway).
- ``dinov2/train/ssl_meta_arch.py`` 65-72 and 81-83 (the DINO head built with
  ``in_dim=embed_dim, out_dim=dino.head_n_prototypes, hidden_dim, bottleneck_dim, nlayers``),
  115 (``self.student = nn.ModuleDict({"backbone": ..., "dino_head": ...})``), 371-388
  (``get_maybe_fused_params_for_submodel`` / ``get_params_groups``: re-implemented in
  :func:`reference_param_groups`).
- ``dinov2/utils/param_groups.py`` 13-103 (vendored verbatim): ``get_vit_lr_decay_rate``,
  ``get_params_groups_with_decay``, ``fuse_params_groups``.
- ``dinov2/train/train.py`` 61-62 ``build_optimizer``, 65-110 ``build_schedulers``, 113-119
  ``apply_optim_scheduler`` (vendored verbatim); 134-160 and 215-292 ``do_train`` (how the
  schedules are indexed: ``lr_schedule[iteration]`` etc., applied before ``optimizer.step()``).
- ``dinov2/utils/utils.py`` 67-87 ``CosineScheduler`` (vendored verbatim).
- ``dinov2/logging/helpers.py`` 93-127 ``MetricLogger.log_every``: iterations
  ``start_iter .. max_iter - 1`` run (break once ``i >= n_iterations``).

Scaled-down test model (``size="test"``): the backbone keeps every structural choice of
``vit_small`` (depth 12, mlp_ratio 4, MemEffAttention blocks, patch 14 on 224 px so 256 patches,
LayerScale 1e-5, drop path 0.3 uniform, biases everywhere, no registers) but its width is
``embed_dim=32`` with ``num_heads=4`` (4 heads x 8 instead of 6 x 64). The DINO head keeps
``nlayers=3`` but uses ``hidden_dim=64, bottleneck_dim=32, out_dim=256`` (instead of 2048, 256,
65536). Parameter names, module types, the number of blocks (hence every layer-decay
multiplier) and the grouping are the full model's. ``size="full"`` builds the real thing
through the vendored ``build_model_from_cfg``.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

# The vendored layers pick xFormers when importable; the reference must not depend on it.
os.environ.setdefault("XFORMERS_DISABLED", "1")

with warnings.catch_warnings():
    # "xFormers is disabled/not available (...)" warnings from the vendored layers' imports.
    warnings.simplefilter("ignore")
    from .vendor.dinov2.layers import DINOHead, MemEffAttention, NestedTensorBlock
    from .vendor.dinov2.models import build_model_from_cfg
    from .vendor.dinov2.models import vision_transformer as vits
    from .vendor.dinov2.train.train import (
        apply_optim_scheduler,
        build_optimizer,
        build_schedulers,
    )
    from .vendor.dinov2.utils.param_groups import (
        fuse_params_groups,
        get_params_groups_with_decay,
    )

__all__ = [
    "CFG",
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "apply_schedule",
    "build_model",
    "reference_param_groups",
    "reference_param_table",
]

_CONFIG_FILE = Path(__file__).parent / "vendor" / "dinov2" / "configs" / "ssl_default_config.yaml"

#: Number of GPUs assumed: 16 x batch_size_per_gpu 64 = global batch 1024, so the
#: ``sqrt_wrt_1024`` rule leaves ``lr = base_lr = 0.004``.
WORLD_SIZE = 16


class _Cfg(dict[str, Any]):
    """A dict that also reads and writes its keys as attributes (what OmegaConf offers)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def _wrap(obj: Any) -> Any:
    if isinstance(obj, dict):
        return _Cfg({k: _wrap(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [_wrap(v) for v in obj]
    return obj


def _apply_scaling_rules_to_cfg(cfg: _Cfg, world_size: int) -> _Cfg:
    # dinov2/utils/config.py 21-29 (distributed.get_global_size() -> world_size)
    if cfg.optim.scaling_rule == "sqrt_wrt_1024":
        base_lr = cfg.optim.base_lr
        cfg.optim.lr = base_lr
        cfg.optim.lr *= math.sqrt(cfg.train.batch_size_per_gpu * world_size / 1024.0)
    else:
        raise NotImplementedError
    return cfg


def _load_cfg(world_size: int = WORLD_SIZE) -> _Cfg:
    with open(_CONFIG_FILE) as f:
        cfg = _wrap(yaml.safe_load(f))
    # The recipe: ViT-S/14 student (the file's defaults are vit_large / 16).
    cfg.student.arch = "vit_small"
    cfg.student.patch_size = 14
    return _apply_scaling_rules_to_cfg(cfg, world_size)


#: The run's configuration: the vendored defaults + vit_small/14 + the scaling rule applied.
CFG: _Cfg = _load_cfg()

#: Test-size widths (see the module docstring).
_TEST_BACKBONE = {"embed_dim": 32, "num_heads": 4}
_TEST_HEAD = {"out_dim": 256, "hidden_dim": 64, "bottleneck_dim": 32}


def _build_test_backbone(cfg: _Cfg) -> nn.Module:
    # The kwargs of dinov2/models/__init__.py 16-37 (student branch), with vit_small's
    # structure (vision_transformer.py 341-352) at a smaller width.
    args = cfg.student
    vit_kwargs = dict(
        img_size=cfg.crops.global_crops_size,
        patch_size=args.patch_size,
        init_values=args.layerscale,
        ffn_layer=args.ffn_layer,
        block_chunks=args.block_chunks,
        qkv_bias=args.qkv_bias,
        proj_bias=args.proj_bias,
        ffn_bias=args.ffn_bias,
        num_register_tokens=args.num_register_tokens,
        interpolate_offset=args.interpolate_offset,
        interpolate_antialias=args.interpolate_antialias,
    )
    return vits.DinoVisionTransformer(
        depth=12,
        mlp_ratio=4,
        block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
        **_TEST_BACKBONE,
        **vit_kwargs,
        drop_path_rate=args.drop_path_rate,
        drop_path_uniform=args.drop_path_uniform,
    )


def build_model(
    size: str = "test", *, arch: str = "vit_small", block_chunks: int | None = None
) -> nn.Module:
    """The student as the optimizer sees it: ``nn.ModuleDict(backbone=..., dino_head=...)``.

    ``size="test"`` (default) is the scaled-down model of the module docstring; ``size="full"``
    is the real student (``arch`` among vit_small/vit_base/vit_large/vit_giant2, patch 14).
    ``block_chunks`` overrides ``student.block_chunks`` (0 in the config): with ``k > 0`` the
    blocks are wrapped as ``blocks.<chunk>.<global index>`` (vision_transformer.py 154-161).
    """
    if size not in ("test", "full"):
        raise ValueError(f"size must be 'test' or 'full', got {size!r}")
    cfg = copy.deepcopy(CFG)
    if block_chunks is not None:
        cfg.student.block_chunks = block_chunks
    with warnings.catch_warnings():
        # torch.nn.utils.weight_norm's deprecation FutureWarning (dino_head.py line 27).
        warnings.simplefilter("ignore", FutureWarning)
        if size == "full":
            cfg.student.arch = arch
            student_backbone, _teacher, embed_dim = build_model_from_cfg(cfg)
            head = DINOHead(
                in_dim=embed_dim,
                out_dim=cfg.dino.head_n_prototypes,
                hidden_dim=cfg.dino.head_hidden_dim,
                bottleneck_dim=cfg.dino.head_bottleneck_dim,
                nlayers=cfg.dino.head_nlayers,
            )
        else:
            if arch != "vit_small":
                raise ValueError(f"size='test' scales vit_small only, got arch={arch!r}")
            student_backbone = _build_test_backbone(cfg)
            head = DINOHead(
                in_dim=student_backbone.embed_dim,
                nlayers=cfg.dino.head_nlayers,
                **_TEST_HEAD,
            )
    # ssl_meta_arch.py 81-83 and 115: ibot.separate_head is false, so no "ibot_head".
    return nn.ModuleDict({"backbone": student_backbone, "dino_head": head})


def _submodels(model: nn.Module) -> Iterator[nn.Module]:
    if not isinstance(model, nn.ModuleDict):
        raise TypeError(f"model must be the nn.ModuleDict of build_model, got {type(model)}")
    yield from model.values()


def reference_param_table(model: nn.Module) -> list[dict[str, Any]]:
    """Per-parameter entries before fusing (param_groups.py 51-89), one per submodel in order.

    Each dict holds ``params`` (one tensor), ``name`` (relative to its submodel, as the original
    sees it), ``lr_multiplier``, ``wd_multiplier`` and ``is_last_layer``.
    """
    table: list[dict[str, Any]] = []
    for m in _submodels(model):
        table += get_params_groups_with_decay(
            model=m,
            lr_decay_rate=CFG.optim.layerwise_decay,
            patch_embed_lr_mult=CFG.optim.patch_embed_lr_mult,
        )
    return table


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The fused groups of ``SSLMetaArch.get_params_groups`` (ssl_meta_arch.py 371-388).

    For each submodel (backbone, then dino_head): per-parameter multipliers, fused by equal
    ``(lr_multiplier, wd_multiplier, is_last_layer)`` in first-seen order, ``foreach=True``.
    Groups carry no ``lr``/``weight_decay`` yet: AdamW fills its defaults, and
    :func:`apply_schedule` overwrites both before every step.
    """
    all_params_groups: list[dict[str, Any]] = []
    for m in _submodels(model):
        params_groups = get_params_groups_with_decay(
            model=m,
            lr_decay_rate=CFG.optim.layerwise_decay,
            patch_embed_lr_mult=CFG.optim.patch_embed_lr_mult,
        )
        fused_params_groups = fuse_params_groups(params_groups)
        for g in fused_params_groups:
            g["foreach"] = True
        all_params_groups += fused_params_groups
    return all_params_groups


def _optimizer_defaults() -> dict[str, Any]:
    # train.py 61-62: torch.optim.AdamW(params_groups, betas=(beta1, beta2)), all else default.
    dummy = [{"params": [torch.zeros(1, requires_grad=True)]}]
    return dict(build_optimizer(CFG, dummy).defaults)


#: ``torch.optim.AdamW``'s defaults as train.py builds it: betas (0.9, 0.999) from the config,
#: torch's own lr 1e-3 / weight_decay 1e-2 / eps 1e-8 (lr and weight_decay are overwritten
#: per group before every step).
REFERENCE_DEFAULTS: dict[str, Any] = _optimizer_defaults()
REFERENCE_OPTIMIZER = "AdamW"


@cache
def _schedules() -> tuple[Any, ...]:
    # train.py 65-110: (lr, wd, momentum, teacher_temp, last_layer_lr) CosineSchedulers.
    return tuple(build_schedulers(CFG))


class _GroupsHolder:
    """What apply_optim_scheduler reads from the optimizer: its param_groups."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.param_groups = groups


def apply_schedule(groups: list[dict[str, Any]], step: int) -> None:
    """Set ``lr`` and ``weight_decay`` of every group for iteration ``step`` (train.py 235-240).

    ``lr = (last_layer_lr if is_last_layer else lr) * lr_multiplier`` and
    ``weight_decay = wd * wd_multiplier``, with the schedules indexed by the iteration
    (values are ``numpy.float64`` inside the run; past the end each schedule returns its
    ``final_value``). The teacher momentum and teacher temperature schedules (also indexed at
    this step in the original) do not touch the optimizer.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    lr_schedule, wd_schedule, _momentum, _teacher_temp, last_layer_lr_schedule = _schedules()
    lr = lr_schedule[step]
    wd = wd_schedule[step]
    last_layer_lr = last_layer_lr_schedule[step]
    apply_optim_scheduler(_GroupsHolder(groups), lr, wd, last_layer_lr)


_EPOCH = CFG.train.OFFICIAL_EPOCH_LENGTH
_SRC = "facebookresearch/dinov2@b8931f7bf91576930313be2c6d6af376033b35f0"

#: The run assumed and where each part comes from.
RUN: dict[str, Any] = {
    "steps": CFG.optim.epochs * _EPOCH,  # 125000: iterations 0 .. 124999
    "epoch_length": _EPOCH,  # 1250
    "epochs": CFG.optim.epochs,  # 100
    "warmup_steps": CFG.optim.warmup_epochs * _EPOCH,  # 12500
    "freeze_last_layer_steps": CFG.optim.freeze_last_layer_epochs * _EPOCH,  # 1250
    "teacher_temp_warmup_steps": CFG.teacher.warmup_teacher_temp_epochs * _EPOCH,  # 37500
    "global_batch": CFG.train.batch_size_per_gpu * WORLD_SIZE,  # 1024
    "world_size": WORLD_SIZE,
    "lr": CFG.optim.lr,  # 0.004 = base_lr * sqrt(1024 / 1024)
    "min_lr": CFG.optim.min_lr,
    "weight_decay": CFG.optim.weight_decay,
    "weight_decay_end": CFG.optim.weight_decay_end,
    "layerwise_decay": CFG.optim.layerwise_decay,
    "patch_embed_lr_mult": CFG.optim.patch_embed_lr_mult,
    "betas": (CFG.optim.adamw_beta1, CFG.optim.adamw_beta2),
    "sources": {
        "config": f"{_SRC} dinov2/configs/ssl_default_config.yaml 1-119"
        " (+ student.arch=vit_small, student.patch_size=14)",
        "lr_scaling": f"{_SRC} dinov2/utils/config.py 21-29",
        "model": f"{_SRC} dinov2/models/__init__.py 13-42,"
        " dinov2/models/vision_transformer.py 45-171 341-352, dinov2/layers/*.py",
        "student_dict": f"{_SRC} dinov2/train/ssl_meta_arch.py 65-83 115",
        "param_groups": f"{_SRC} dinov2/train/ssl_meta_arch.py 371-388,"
        " dinov2/utils/param_groups.py 13-103",
        "optimizer": f"{_SRC} dinov2/train/train.py 61-62",
        "schedules": f"{_SRC} dinov2/train/train.py 65-119 235-240, dinov2/utils/utils.py 67-87",
        "loop_bounds": f"{_SRC} dinov2/train/train.py 153-156 215-232,"
        " dinov2/logging/helpers.py 93-127",
    },
}
