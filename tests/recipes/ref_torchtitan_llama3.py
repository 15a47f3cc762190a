"""Reference of torchtitan's Llama 3 8B recipe: one AdamW group, warm-up + linear decay.

Source: pytorch/torchtitan @ b5bcd76c66d0acb1a08b176d9639425bc55e0b2a (2026-08-21, the newest
commit of the stored snapshot; BSD-3-Clause). There the recipe is no longer a TOML file:
``torchtitan/models/llama3/config_registry.py`` 194-226 ``llama3_8b()`` (the TOML config system
was replaced by Python dataclasses in 76d5c72e, "Config System Refactor: TOML to Python
Dataclass Registry"; the last ``train_configs/llama3_8b.toml``, at 4a950eaa, lines 23-30 and
32-37, says the same: ``[optimizer] name "AdamW", lr 3e-4, eps 1e-8``, ``[lr_scheduler]
warmup_steps 200``, ``[training] steps 1000``, with the job-config defaults ``beta1 0.9, beta2
0.95, weight_decay 0.1, implementation "fused"`` and the same LR formula). The schedule and
grouping code is vendored under ``tests/recipes/vendor/torchtitan/`` (see its README.md).
Every line range used (at b5bcd76c):

- ``config_registry.py`` 194-226: ``optimizer=default_adamw(lr=3e-4)``, no ``lr_scheduler``
  (so ``LRSchedulersContainer.Config()``'s defaults), ``training=TrainingConfig(steps=1000)``.
- ``components/optimizer/optimizer.py`` 378-399 ``default_adamw``: one ``ParamGroupConfig``,
  pattern ``r".*"``, ``"AdamW"``, kwargs ``lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight_decay
  0.1``; 102-125 ``implementation "fused"``; 152-165 ``_build_impl_kwargs``: ``fused True,
  foreach False``; 167-216 ``_build_param_groups``: first matching pattern wins, the group
  dict is ``{"params", "param_names" (canonical FQNs), **impl_kwargs, **optimizer_kwargs}``;
  218-243 ``__init__``: ``torch.optim.AdamW(groups)`` per model part (142-150), nothing else
  passed, so torch's own defaults sit under the group's values. Every trainable parameter --
  embeddings, norms, output projection -- is in that one group and decays: torchtitan splits
  no no-decay group by default.
- ``components/checkpointer/utils.py`` 16-26 ``canonical_fqn`` (drops
  ``_checkpoint_wrapped_module`` segments).
- ``components/optimizer/lr_scheduler.py`` 50-194 ``LRSchedulersContainer.Config`` and
  ``build``: ``warmup_steps 200``, ``total_steps None`` (so ``training.steps`` = 1000),
  ``decay_ratio None``, ``decay_type "linear"``, ``min_lr_factor 0.0``; step counts at
  100-126, the lambda ``linear_warmup_stable_decay`` at 130-184; 198-203 one ``LambdaLR`` per
  optimizer with that lambda (``lr = initial_lr * lambda(last_epoch)``).
- ``trainer.py`` 97-102 the config's defaults, 535-545 optimizers then ``lr_scheduler.build(
  optimizers=..., training_steps=config.training.steps)``, 1028-1031 and 1073-1074 ``step``
  goes ``1 .. training.steps``, 955-957 ``self.optimizers.step()`` then
  ``self.lr_schedulers.step()``: the optimizer step with index ``k = step - 1`` (0-based) runs
  with ``lambda(k)``.
- The model (re-built here): ``models/llama3/__init__.py`` 45-111 ``_build_llama3_layers``
  (``fuse_qkv=True``), 236-274 ``_8b`` (dim 4096, 32 layers, 32 heads, 8 KV heads, vocabulary
  128256, FFN ``compute_ffn_hidden_dim(4096, multiple_of=1024, ffn_dim_multiplier=1.3)`` =
  14336, untied); ``models/llama3/model.py`` 19-50 ``Llama3TransformerBlock`` (``attention``,
  ``feed_forward``, ``attention_norm``, ``ffn_norm``); ``models/common/decoder.py`` 244-259
  ``Decoder.__init__`` (``tok_embeddings``, ``layers`` a ``ModuleDict`` keyed "0".., ``norm``,
  ``lm_head``); ``models/common/attention.py`` 722-751 ``FusedQKVLinear`` (``wqkv``,
  ``(n_heads + 2 * n_kv_heads) * head_dim`` outputs), 870-917 ``GQAttention`` (``rope`` with a
  non-persistent buffer, ``qkv_linear``, ``wo``, ``inner_attention``); ``config_utils.py``
  187-279 ``make_gqa_config``, 281-309 ``make_ffn_config``; ``feed_forward.py`` 18-53;
  ``linear.py`` 26-40 (``nn.Linear``, bias False); ``nn_modules.py`` 134-148 (``nn.RMSNorm``,
  eps 1e-5); ``embedding.py`` 24-37 (``nn.Embedding``).

``layout="legacy"`` builds the TOML-era model instead (at 4a950eaa,
``torchtitan/models/llama3/model/model.py``: ``tok_embeddings``, ``layers.N.attention.wq/wk/
wv/wo``, ``layers.N.feed_forward.w1/w2/w3``, ``attention_norm``, ``ffn_norm``, ``norm``,
``output``, all plain ``nn`` modules, biases off). The grouping does not depend on the layout.

Scaled-down test model (``size="test"``): dim 64, 2 layers, 4 heads, 2 KV heads, vocabulary
256, FFN ``compute_ffn_hidden_dim(64, multiple_of=32, ffn_dim_multiplier=1.3)`` = 224. Names,
module types and the grouping are the full model's. ``size="full"`` is the 8B (build it under
``torch.device("meta")``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .vendor.torchtitan.components.optimizer.lr_scheduler import LRSchedulersContainer
from .vendor.torchtitan.components.optimizer.optimizer import (
    OptimizersContainer,
    default_adamw,
)

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "TRAINING_STEPS",
    "apply_schedule",
    "build_model",
    "lr_lambda",
    "optimizer_config",
    "reference_param_groups",
    "step_counts",
]

#: config_registry.py 215: ``TrainingConfig(steps=1000)``.
TRAINING_STEPS = 1000
#: config_registry.py 211: ``default_adamw(lr=3e-4)``.
LR = 3e-4


def compute_ffn_hidden_dim(
    dim: int, *, multiple_of: int = 1, ffn_dim_multiplier: float | None = None
) -> int:
    """torchtitan/models/common/feed_forward.py 18-31, verbatim arithmetic."""
    hidden_dim = int(2 * 4 * dim / 3)
    if ffn_dim_multiplier is not None:
        hidden_dim = int(ffn_dim_multiplier * hidden_dim)
    return multiple_of * ((hidden_dim + multiple_of - 1) // multiple_of)


# -- the model (current layout, b5bcd76c) -----------------------------------------------------


class Linear(nn.Linear):
    """models/common/linear.py 26-40: ``nn.Linear`` without bias."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)


class RMSNorm(nn.RMSNorm):
    """models/common/nn_modules.py 134-148: ``nn.RMSNorm`` with eps 1e-5."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, eps=1e-5, elementwise_affine=True)


class Embedding(nn.Embedding):
    """models/common/embedding.py 24-37."""


class RoPE(nn.Module):
    """Stands for ComplexRoPE: its cache is a non-persistent buffer, not a parameter."""

    def __init__(self, head_dim: int, max_len: int = 64, theta: float = 500000.0) -> None:
        super().__init__()
        freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer(
            "cache", torch.outer(torch.arange(max_len).float(), freqs), persistent=False
        )


class FusedQKVLinear(nn.Module):
    """models/common/attention.py 722-751: one ``wqkv`` projection."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.wqkv = Linear(dim, (n_heads + 2 * n_kv_heads) * head_dim)
        self.heads_per_kv = n_heads // n_kv_heads
        self.r_dim = self.heads_per_kv + 2


class InnerAttention(nn.Module):
    """Stands for the attention backend (flex / SDPA): no parameters."""


class GQAttention(nn.Module):
    """models/common/attention.py 870-917 (``qk_norm`` None, so no ``q_norm``/``k_norm``)."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, dim // n_heads
        self.rope = RoPE(self.head_dim)
        self.qkv_linear = FusedQKVLinear(dim, n_heads, n_kv_heads, self.head_dim)
        self.wo = Linear(n_heads * self.head_dim, dim)
        self.inner_attention = InnerAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q_out = self.n_heads * self.head_dim
        kv_out = self.n_kv_heads * self.head_dim
        q, k, v = self.qkv_linear.wqkv(x).split([q_out, kv_out, kv_out], dim=-1)
        q = q.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.wo(y.transpose(1, 2).reshape(b, t, q_out))


class FeedForward(nn.Module):
    """models/common/feed_forward.py 34-53: SwiGLU ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, dim: int, hidden_dim: int, linear: Callable[[int, int], nn.Linear] = Linear):
        super().__init__()
        self.w1 = linear(dim, hidden_dim)
        self.w2 = linear(hidden_dim, dim)
        self.w3 = linear(dim, hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Llama3TransformerBlock(nn.Module):
    """models/llama3/model.py 19-50."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, hidden_dim: int) -> None:
        super().__init__()
        self.attention = GQAttention(dim, n_heads, n_kv_heads)
        self.feed_forward = FeedForward(dim, hidden_dim)
        self.attention_norm = RMSNorm(dim)
        self.ffn_norm = RMSNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x))
        return h + self.feed_forward(self.ffn_norm(h))


class Llama3Model(nn.Module):
    """models/common/decoder.py 244-259 (``Decoder.__init__``), untied."""

    def __init__(
        self,
        *,
        dim: int,
        n_layers: int,
        n_heads: int,
        n_kv_heads: int,
        vocab_size: int,
        hidden_dim: int,
    ) -> None:
        super().__init__()
        self.tok_embeddings = Embedding(vocab_size, dim)
        self.layers = nn.ModuleDict(
            {
                str(i): Llama3TransformerBlock(dim, n_heads, n_kv_heads, hidden_dim)
                for i in range(n_layers)
            }
        )
        self.norm = RMSNorm(dim)
        self.lm_head = Linear(dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok_embeddings(tokens)
        for layer in self.layers.values():
            h = layer(h)
        return self.lm_head(self.norm(h))


# -- the TOML-era model (4a950eaa, torchtitan/models/llama3/model/model.py) ---------------------


class Attention(nn.Module):
    """Legacy ``Attention``: ``wq``, ``wk``, ``wv``, ``wo`` (``nn.Linear``, no bias)."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        head_dim = dim // n_heads
        self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wo = nn.Linear(n_heads * head_dim, dim, bias=False)


class TransformerBlock(nn.Module):
    """Legacy ``TransformerBlock``: attention, feed_forward, attention_norm, ffn_norm."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, hidden_dim: int) -> None:
        super().__init__()
        self.attention = Attention(dim, n_heads, n_kv_heads)
        self.feed_forward = FeedForward(dim, hidden_dim, functools.partial(nn.Linear, bias=False))
        self.attention_norm = nn.RMSNorm(dim, eps=1e-5)
        self.ffn_norm = nn.RMSNorm(dim, eps=1e-5)


class Transformer(nn.Module):
    """Legacy ``Transformer``: tok_embeddings, freqs_cis buffer, layers, norm, output."""

    def __init__(
        self,
        *,
        dim: int,
        n_layers: int,
        n_heads: int,
        n_kv_heads: int,
        vocab_size: int,
        hidden_dim: int,
    ) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab_size, dim)
        self.register_buffer("freqs_cis", torch.zeros(64, dim // n_heads // 2), persistent=False)
        self.layers = nn.ModuleDict(
            {
                str(i): TransformerBlock(dim, n_heads, n_kv_heads, hidden_dim)
                for i in range(n_layers)
            }
        )
        self.norm = nn.RMSNorm(dim, eps=1e-5)
        self.output = nn.Linear(dim, vocab_size, bias=False)


_SIZES: dict[str, dict[str, Any]] = {
    "test": {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 256,
             "hidden_dim": compute_ffn_hidden_dim(64, multiple_of=32, ffn_dim_multiplier=1.3)},
    # models/llama3/__init__.py 236-274
    "full": {"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
             "hidden_dim": compute_ffn_hidden_dim(4096, multiple_of=1024, ffn_dim_multiplier=1.3)},
}  # fmt: skip


def build_model(size: str = "test", layout: str = "current") -> nn.Module:
    """torchtitan's Llama 3 parameter structure (``layout="current"``: b5bcd76c; ``"legacy"``:
    the TOML-era model of 4a950eaa)."""
    if size not in _SIZES:
        raise ValueError(f"size must be 'test' or 'full', got {size!r}")
    if layout == "current":
        return Llama3Model(**_SIZES[size])
    if layout == "legacy":
        return Transformer(**_SIZES[size])
    raise ValueError(f"layout must be 'current' or 'legacy', got {layout!r}")


# -- the optimizer ---------------------------------------------------------------------------


def optimizer_config() -> OptimizersContainer.Config:
    """config_registry.py 211: ``default_adamw(lr=3e-4)`` (vendored)."""
    return default_adamw(lr=LR)


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The groups ``OptimizersContainer`` hands to ``torch.optim.AdamW`` (optimizer.py 219-233).

    One group: ``{"params": every trainable parameter, "param_names": their names,
    "fused": True, "foreach": False, "lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-8,
    "weight_decay": 0.1}`` (vendored ``_build_param_groups``).
    """
    config = optimizer_config()
    impl_kwargs = OptimizersContainer._build_impl_kwargs(config)
    groups_by_opt_name, _patterns = OptimizersContainer._build_param_groups(
        model, config.param_groups, impl_kwargs
    )
    if list(groups_by_opt_name) != ["AdamW"]:
        raise AssertionError(f"expected AdamW groups only, got {list(groups_by_opt_name)}")
    groups: list[dict[str, Any]] = groups_by_opt_name["AdamW"]
    return groups


def _defaults() -> dict[str, Any]:
    # optimizer.py 230-233: AdamW(opt_param_groups, **{}) -- torch's own defaults.
    dummy = [{"params": [torch.zeros(1, requires_grad=True)]}]
    return dict(torch.optim.AdamW(dummy).defaults)


#: ``torch.optim.AdamW(groups)``'s defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8,
#: weight_decay 1e-2): all overridden by the group's own keys.
REFERENCE_DEFAULTS: dict[str, Any] = _defaults()
REFERENCE_OPTIMIZER = "AdamW"


# -- the schedule ----------------------------------------------------------------------------


@functools.cache
def lr_lambda(
    training_steps: int = TRAINING_STEPS,
    *,
    warmup_steps: int = 200,
    total_steps: int | None = None,
    decay_ratio: float | None = None,
    decay_type: str = "linear",
    min_lr_factor: float = 0.0,
) -> functools.partial[float]:
    """The multiplier torchtitan's ``LambdaLR`` holds, from the vendored ``Config.build``.

    The defaults are the 8B recipe's (``LRSchedulersContainer.Config()``, 1000 steps); its
    keywords (``lr_lambda().keywords``) hold the derived ``warmup_steps``, ``stable_steps`` and
    ``decay_steps``.
    """
    config = LRSchedulersContainer.Config(
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        decay_ratio=decay_ratio,
        decay_type=decay_type,
        min_lr_factor=min_lr_factor,
    )
    dummy = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1.0)
    container = config.build(optimizers=[dummy], training_steps=training_steps)
    fn: functools.partial[float] = container.schedulers[0].lr_lambdas[0]
    return fn


def step_counts(training_steps: int = TRAINING_STEPS, **config: Any) -> dict[str, int]:
    """``warmup_steps``, ``stable_steps``, ``decay_steps`` as torchtitan derives them."""
    keywords = lr_lambda(training_steps, **config).keywords
    return {k: keywords[k] for k in ("warmup_steps", "stable_steps", "decay_steps")}


def apply_schedule(groups: list[dict[str, Any]], step: int) -> None:
    """Set every group's ``lr`` for optimizer step ``step`` (0-based), as ``LambdaLR`` does.

    ``initial_lr`` is stored on first use (``setdefault`` from the group's ``lr``), then
    ``lr = initial_lr * lambda(step)`` with W = 200, S = 1, D = 800 (1000 steps):
    ``(step + 1) / W`` for ``step < W`` (step 0 gets ``lr / 200``, step 199 the full LR);
    ``1.0`` at step 200; then ``1 - (step + 1 - (W + S)) / D``: 0.99875 at 201, 0.00125 at
    999 (the last step of the run: the "virtual last step" keeps it above 0), 0.0 at 1000,
    negative after (no clamp; never reached).
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    missing = [i for i, g in enumerate(groups) if "lr" not in g and "initial_lr" not in g]
    if missing:
        raise ValueError(f"groups {missing} have no 'lr' (torchtitan's groups always carry one)")
    fn = lr_lambda()
    for group in groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * fn(int(step))


_SRC = "pytorch/torchtitan@b5bcd76c66d0acb1a08b176d9639425bc55e0b2a"

#: The run assumed and where each part comes from.
RUN: dict[str, Any] = {
    "steps": TRAINING_STEPS,  # optimizer steps 0 .. 999 (torchtitan's step 1 .. 1000)
    "epoch_length": None,  # a token stream: no epochs
    **step_counts(),  # warmup_steps 200, stable_steps 1, decay_steps 800
    "lr": LR,
    "betas": (0.9, 0.95),
    "eps": 1e-8,
    "weight_decay": 0.1,
    "decay_type": "linear",
    "min_lr_factor": 0.0,
    "sources": {
        "recipe": f"{_SRC} torchtitan/models/llama3/config_registry.py 194-226"
        " (TOML era: 4a950eaabff274567873322c206ddb481dae3567"
        " torchtitan/models/llama3/train_configs/llama3_8b.toml 23-37)",
        "param_groups": f"{_SRC} torchtitan/components/optimizer/optimizer.py 40-67 102-136"
        " 152-243 378-399, torchtitan/components/checkpointer/utils.py 16-26",
        "schedule": f"{_SRC} torchtitan/components/optimizer/lr_scheduler.py 50-203",
        "loop": f"{_SRC} torchtitan/trainer.py 97-102 535-545 955-957 1028-1031 1073-1074",
        "model": f"{_SRC} torchtitan/models/llama3/__init__.py 45-111 236-274,"
        " torchtitan/models/llama3/model.py 19-50, torchtitan/models/common/decoder.py 244-259,"
        " attention.py 722-751 870-917, config_utils.py 187-309, feed_forward.py 18-53,"
        " linear.py 26-40, nn_modules.py 134-148, embedding.py 24-37",
    },
}
