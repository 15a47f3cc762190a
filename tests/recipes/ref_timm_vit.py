"""Reference of timm fine-tuning: ViT + AdamW with layer-wise LR decay + per-update cosine.

The setup::

    optimizer = create_optimizer_v2(model, opt="adamw", lr=5e-4, weight_decay=0.05,
                                    layer_decay=0.75)
    scheduler = CosineLRScheduler(optimizer, t_initial=10_000, lr_min=1e-6, warmup_t=500,
                                  warmup_lr_init=1e-6, warmup_prefix=False, t_in_epochs=False)

stepped as timm's ``train.py`` steps it (``step_update(num_updates)`` after every update).

Sources: timm 1.0.31 (``huggingface/pytorch-image-models`` tag ``v1.0.31``, Apache-2.0), read
from the PyPI distribution ``timm-1.0.31`` (the stored repository snapshot ends at
``aa4b5850c1543fa488abf260f18390eda46cf85d``, version ``1.0.29.dev0``; there the vendored
files differ from 1.0.31 only by a logged warning in ``param_groups_layer_decay`` and the
``noise_std`` factor in ``Scheduler._calculate_noise``, and ``create_optimizer``'s
``layer_decay_min_scale`` defaults to None instead of 0.0). ``train.py`` is
not in the distribution: it is read at that snapshot commit. timm cannot be imported beside
this project's torch (its ``__init__`` loads torchvision); the self-contained files are
vendored under ``tests/recipes/vendor/timm/`` (see its README.md). Line ranges (1.0.31):

- ``timm/optim/_optim_factory.py`` 1242-1347 ``create_optimizer_v2`` -> 228-348
  ``OptimizerRegistry.create_optimizer``: 273 ``no_weight_decay = model.no_weight_decay()``;
  278-290 with ``layer_decay`` set, ``params = param_groups_layer_decay(model,
  weight_decay=0.05, layer_decay=0.75, no_weight_decay_list=no_weight_decay, fallback_list=(),
  fallback_no_weight_decay=False, weight_decay_exclude_1d=True, min_scale=0.0,
  no_opt_scale=None)`` then ``weight_decay = 0.``; 313-342 ``opt_args = {'weight_decay': 0.,
  'lr': 5e-4}`` (``adamw``, 399-404, has no defaults, keeps betas/eps, ``foreach`` None is not
  passed): ``torch.optim.AdamW(params, weight_decay=0.0, lr=5e-4)``.
- ``timm/optim/_param_groups.py`` 14-16 ``_matches_pattern`` (``fnmatch``), 113-199
  ``param_groups_layer_decay`` (vendored, import line changed).
- ``timm/models/_manipulate.py`` 78-149 ``MATCH_PREV_GROUP``, ``group_with_matcher``,
  ``group_parameters`` (vendored verbatim).
- ``timm/scheduler/scheduler.py`` 27-98 ``Scheduler`` (``initial_lr``, ``step_update``,
  ``update_groups`` with ``lr_scale``), ``timm/scheduler/cosine_lr.py`` 30-109
  ``CosineLRScheduler`` (both vendored verbatim).
- ``train.py`` (snapshot ``aa4b5850``) 972-976 the optimizer, 1079-1084 the scheduler,
  1091-1095 (resume only), 1141-1143 and 1199-1201 ``lr_scheduler.step(epoch + 1)`` at epoch
  ends (no-ops with ``t_in_epochs=False``: ``scheduler.py`` 71-75), 1269 ``num_updates =
  epoch * updates_per_epoch``, 1319-1326 ``optimizer.step()``, 1391 ``num_updates += 1``,
  1438-1439 ``lr_scheduler.step_update(num_updates=num_updates, ...)``: the update with index
  ``k`` (0-based) runs with the LR set by ``step_update(k)`` (``k >= 1``) or, for ``k = 0``,
  by the scheduler's constructor (``cosine_lr.py`` 75-77: ``warmup_lr_init * lr_scale``,
  which equals ``_get_lr(0) * lr_scale``).
- The model (re-built here, not vendored): ``timm/models/vision_transformer.py`` 166-252
  ``Block``, 757-949 ``VisionTransformer.__init__``, 1000-1003 ``no_weight_decay``, 1005-1018
  ``group_matcher``, 3445-3451 ``vit_small_patch16_224`` (patch 16, dim 384, depth 12, 6
  heads), 3784-3792 ``vit_base_patch16_clip_224`` (patch 16, dim 768, depth 12, 12 heads,
  ``pre_norm=True``, ``norm_layer=partial(LayerNorm, eps=1e-5)``), 3352-3405
  ``_create_vision_transformer``; ``timm/layers/norm.py`` 70-90 ``LayerNorm(nn.LayerNorm)``
  (eps 1e-6), ``timm/layers/patch_embed.py`` 26-63 ``PatchEmbed`` (``proj`` ``nn.Conv2d``,
  ``norm`` Identity), ``timm/layers/attention.py`` 43-109 ``Attention`` (``qkv``, ``q_norm``,
  ``k_norm``, ``attn_drop``, ``norm``, ``proj``, ``proj_drop``), ``timm/layers/mlp.py`` 14-45
  ``Mlp`` (``fc1``, ``act``, ``drop1``, ``norm``, ``fc2``, ``drop2``).

Scaled-down test model (``size="test"``): ``embed_dim 32, num_heads 2, img_size 32`` (2 x 2
patches of 16, so ``pos_embed`` is ``1 x 5 x 32``), ``num_classes 10``; depth stays 12, so the
layer ids and LR scales are the real ones. ``size="full"``: the real widths, ``img_size 224``,
``num_classes 1000`` (the default pretrained tags, ``augreg_in21k_ft_in1k`` and
``laion2b_ft_in12k_in1k``, have 1000 classes).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .vendor.timm.optim._param_groups import param_groups_layer_decay
from .vendor.timm.scheduler.cosine_lr import CosineLRScheduler

__all__ = [
    "ARCHS",
    "OPTIMIZER_ARGS",
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "SCHEDULER_ARGS",
    "VisionTransformer",
    "apply_schedule",
    "build_model",
    "reference_param_groups",
]

#: ``create_optimizer_v2``'s arguments.
OPTIMIZER_ARGS: dict[str, Any] = {
    "opt": "adamw",
    "lr": 5e-4,
    "weight_decay": 0.05,
    "layer_decay": 0.75,
}

#: ``CosineLRScheduler``'s arguments (the rest are its defaults: ``cycle_mul 1.``,
#: ``cycle_decay 1.``, ``cycle_limit 1``, ``noise_range_t None``, ``k_decay 1.0``).
SCHEDULER_ARGS: dict[str, Any] = {
    "t_initial": 10_000,
    "lr_min": 1e-6,
    "warmup_t": 500,
    "warmup_lr_init": 1e-6,
    "warmup_prefix": False,
    "t_in_epochs": False,
}


# -- the model: timm's VisionTransformer parameter structure ---------------------------------


class LayerNorm(nn.LayerNorm):
    """timm.layers.norm.LayerNorm (norm.py 70-90): ``nn.LayerNorm`` with eps 1e-6."""

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=affine)


class PatchEmbed(nn.Module):
    """timm.layers.patch_embed.PatchEmbed (26-63): ``proj`` convolution, ``norm`` Identity."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int, bias: bool):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=bias
        )
        self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class Attention(nn.Module):
    """timm.layers.attention.Attention (43-109) without qk-norm, scale-norm or gating."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, proj_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = nn.Identity()
        self.k_norm = nn.Identity()
        self.attn_drop = nn.Dropout(0.0)
        self.norm = nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(self.q_norm(q), self.k_norm(k), v)
        return self.proj_drop(self.proj(self.norm(y.transpose(1, 2).reshape(b, n, c))))


class Mlp(nn.Module):
    """timm.layers.mlp.Mlp (14-45)."""

    def __init__(self, in_features: int, hidden_features: int, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(0.0)
        self.norm = nn.Identity()
        self.fc2 = nn.Linear(hidden_features, in_features, bias=bias)
        self.drop2 = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.norm(self.drop1(self.act(self.fc1(x))))))


class Block(nn.Module):
    """timm.models.vision_transformer.Block (166-252) without LayerScale or drop path."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, norm_layer: Any) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=True, proj_bias=True)
        self.ls1 = nn.Identity()
        self.drop_path1 = nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=True)
        self.ls2 = nn.Identity()
        self.drop_path2 = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class VisionTransformer(nn.Module):
    """timm's ``VisionTransformer`` (vision_transformer.py 757-949) for ``global_pool='token'``.

    Attributes are assigned in the original's order, so ``named_parameters()`` has the
    original's names and order: ``cls_token``, ``pos_embed``, ``patch_embed.proj.*``,
    (``norm_pre.*``), ``blocks.N.*``, ``norm.*``, ``head.*``.
    """

    def __init__(
        self,
        *,
        img_size: int,
        patch_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        num_classes: int,
        mlp_ratio: float = 4.0,
        pre_norm: bool = False,
        norm_layer: Any = LayerNorm,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.num_prefix_tokens = 1
        # 863-872: the patch embedding loses its bias when pre_norm (CLIP)
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, bias=not pre_norm)
        num_patches = self.patch_embed.num_patches
        # 876-882 (class_token=True, reg_tokens=0, pos_embed='learn', no_embed_class=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.reg_token = None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(p=0.0)
        self.patch_drop = nn.Identity()
        self.norm_pre = norm_layer(embed_dim) if pre_norm else nn.Identity()  # 891
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, mlp_ratio, norm_layer) for _ in range(depth)]
        )
        # 918 and 941: global_pool 'token' -> use_fc_norm False: final norm, no fc_norm
        self.norm = norm_layer(embed_dim)
        self.attn_pool = None
        self.fc_norm = nn.Identity()
        self.head_drop = nn.Dropout(0.0)
        self.head = nn.Linear(embed_dim, num_classes)
        # 970-977, simplified: the values do not matter to the optimizer setup
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def no_weight_decay(self) -> set[str]:
        """vision_transformer.py 1000-1003, verbatim."""
        return {"pos_embed", "cls_token", "reg_token", "dist_token"}

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list[Any]]:
        """vision_transformer.py 1005-1018, verbatim."""
        return dict(
            stem=r"^cls_token|reg_token|pos_embed|patch_embed|norm_pre",  # stem and embed
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, x], dim=1) + self.pos_embed)
        x = self.norm(self.blocks(self.norm_pre(self.patch_drop(x))))
        return self.head(self.head_drop(self.fc_norm(x[:, 0])))


#: Per architecture: (full widths, test widths) and the architecture's own arguments.
ARCHS: dict[str, dict[str, Any]] = {
    # vision_transformer.py 3445-3451
    "vit_small_patch16_224": {
        "full": {"embed_dim": 384, "num_heads": 6},
        "kwargs": {"patch_size": 16, "depth": 12},
    },
    # vision_transformer.py 3784-3792
    "vit_base_patch16_clip_224": {
        "full": {"embed_dim": 768, "num_heads": 12},
        "kwargs": {
            "patch_size": 16,
            "depth": 12,
            "pre_norm": True,
            "norm_layer": partial(LayerNorm, eps=1e-5),
        },
    },
}
_TEST = {"embed_dim": 32, "num_heads": 2, "img_size": 32, "num_classes": 10}


def build_model(arch: str = "vit_small_patch16_224", size: str = "test") -> VisionTransformer:
    """The parameter structure of ``timm.create_model(arch, pretrained=False)``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")
    if size not in ("test", "full"):
        raise ValueError(f"size must be 'test' or 'full', got {size!r}")
    spec = ARCHS[arch]
    dims = dict(_TEST) if size == "test" else {**spec["full"], "img_size": 224, "num_classes": 1000}
    return VisionTransformer(**dims, **spec["kwargs"])


# -- the optimizer ---------------------------------------------------------------------------


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """``param_groups_layer_decay`` as ``create_optimizer_v2`` calls it (_optim_factory.py 273-289).

    Each group: ``{"lr_scale", "weight_decay", "params"}`` (no ``lr``: AdamW's default 5e-4).
    """
    no_weight_decay = getattr(model, "no_weight_decay", lambda: set())()
    return param_groups_layer_decay(
        model,
        weight_decay=OPTIMIZER_ARGS["weight_decay"],
        layer_decay=OPTIMIZER_ARGS["layer_decay"],
        no_weight_decay_list=no_weight_decay,
        fallback_list=(),
        fallback_no_weight_decay=False,
        weight_decay_exclude_1d=True,
        min_scale=0.0,
        no_opt_scale=None,
    )


def _defaults() -> dict[str, Any]:
    # _optim_factory.py 313-342: opt_args = {'weight_decay': 0., 'lr': 5e-4};
    # AdamW(params, **opt_args)
    dummy = [{"params": [torch.zeros(1, requires_grad=True)]}]
    return dict(torch.optim.AdamW(dummy, weight_decay=0.0, lr=OPTIMIZER_ARGS["lr"]).defaults)


#: ``torch.optim.AdamW(params, weight_decay=0.0, lr=5e-4)``'s defaults: lr 5e-4, torch's betas
#: (0.9, 0.999) and eps 1e-8, weight_decay 0.0 (never used: every group sets its own).
REFERENCE_DEFAULTS: dict[str, Any] = _defaults()
REFERENCE_OPTIMIZER = "AdamW"


# -- the schedule ----------------------------------------------------------------------------


class _GroupsHolder:
    """What timm's Scheduler reads from the optimizer: its param_groups."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.param_groups = groups


def apply_schedule(groups: list[dict[str, Any]], step: int) -> None:
    """Set every group's ``lr`` for the update with index ``step`` (0-based), as train.py does.

    Runs the vendored scheduler: constructing it stores ``initial_lr = lr`` in each group
    (``setdefault``, so later calls keep the first value; a group without ``lr`` gets
    AdamW's default 5e-4 first, as the optimizer would give it) and sets
    ``lr = warmup_lr_init * lr_scale`` (the LR of update 0); for ``step >= 1`` it then calls
    ``step_update(step)``: ``lr = _get_lr(step) * lr_scale`` with

    - ``step < 500``: ``1e-6 + step * ((5e-4 - 1e-6) / 500)``;
    - ``500 <= step < 10000``: ``1e-6 + 0.5 * (5e-4 - 1e-6) * (1 + cos(pi * step / 10000))``
      (``warmup_prefix=False``: the cosine counts from step 0, not from the warm-up's end);
    - ``step >= 10000``: ``1e-6`` (past the single cycle).

    The warm-up start and the floor are multiplied by ``lr_scale`` too.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    for group in groups:
        group.setdefault("lr", REFERENCE_DEFAULTS["lr"])
    scheduler = CosineLRScheduler(_GroupsHolder(groups), **SCHEDULER_ARGS)
    if step > 0:
        scheduler.step_update(num_updates=int(step))


_TIMM = "timm 1.0.31 (huggingface/pytorch-image-models v1.0.31)"
_TRAIN = "huggingface/pytorch-image-models@aa4b5850c1543fa488abf260f18390eda46cf85d train.py"

#: The run assumed and where each part comes from.
RUN: dict[str, Any] = {
    "steps": SCHEDULER_ARGS["t_initial"],  # 10000 updates: indices 0 .. 9999
    "epoch_length": None,  # per-update schedule; epoch ends call step(), a no-op here
    "warmup_steps": SCHEDULER_ARGS["warmup_t"],
    "lr": OPTIMIZER_ARGS["lr"],
    "min_lr": SCHEDULER_ARGS["lr_min"],
    "warmup_lr_init": SCHEDULER_ARGS["warmup_lr_init"],
    "weight_decay": OPTIMIZER_ARGS["weight_decay"],
    "layer_decay": OPTIMIZER_ARGS["layer_decay"],
    "num_layers": 14,  # stem 0, blocks 1..12 (final norm with block 11), head 13
    "lr_scales": [OPTIMIZER_ARGS["layer_decay"] ** (13 - i) for i in range(14)],
    "sources": {
        "optimizer": f"{_TIMM} timm/optim/_optim_factory.py 228-348 399-404 1242-1347",
        "param_groups": f"{_TIMM} timm/optim/_param_groups.py 14-16 113-199,"
        " timm/models/_manipulate.py 78-149",
        "scheduler": f"{_TIMM} timm/scheduler/scheduler.py 27-98,"
        " timm/scheduler/cosine_lr.py 30-109",
        "model": f"{_TIMM} timm/models/vision_transformer.py 166-252 757-949 1000-1018"
        " 3352-3405 3445-3451 3784-3792, timm/layers/norm.py 70-90,"
        " timm/layers/patch_embed.py 26-63, timm/layers/attention.py 43-109,"
        " timm/layers/mlp.py 14-45",
        "loop": f"{_TRAIN} 972-976 1079-1095 1141-1143 1199-1201 1269 1319-1326 1391 1438-1439",
    },
}
