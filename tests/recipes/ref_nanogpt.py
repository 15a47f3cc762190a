"""Reference of nanoGPT's optimizer setup: GPT-2 (124M) on OpenWebText, AdamW, cosine LR.

Source: karpathy/nanoGPT @ 3adf61e154c3fe3fca428ad6bc3818b27a3b8291 (MIT). ``model.py`` and
the parts of ``train.py`` used are vendored under ``tests/recipes/vendor/nanogpt/`` (see its
README.md); what the training loop does with them is re-stated here. Every line range used:

- ``model.py`` 18-27 ``LayerNorm`` (``weight`` always, ``bias`` only with ``bias=True``),
  29-106 the blocks (``c_attn``, ``c_proj``, ``c_fc`` are ``nn.Linear`` with ``bias=config.bias``),
  108-116 ``GPTConfig``, 118-145 ``GPT.__init__`` (line 138 ties
  ``transformer.wte.weight = lm_head.weight``; ``named_parameters()`` therefore yields it once,
  as ``transformer.wte.weight``), 148 the parameter-count ``print``.
- ``model.py`` 263-287 ``GPT.configure_optimizers``: trainable parameters (``requires_grad``) in
  ``named_parameters()`` order; group 0 = every parameter with ``dim() >= 2`` with
  ``weight_decay``, group 1 = every parameter with ``dim() < 2`` with ``weight_decay 0.0``;
  ``torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)`` with
  ``fused=True`` only when ``device_type == 'cuda'`` (281-283); three ``print`` calls.
- ``train.py`` 47-68 defaults: ``learning_rate 6e-4``, ``max_iters 600000``, ``weight_decay
  1e-1``, ``beta1 0.9``, ``beta2 0.95``, ``decay_lr True``, ``warmup_iters 2000``,
  ``lr_decay_iters 600000``, ``min_lr 6e-5``; 50-56 the model (``n_layer 12, n_head 12,
  n_embd 768, block_size 1024, dropout 0.0, bias False``); 72 ``device 'cuda'``;
  147-157 ``vocab_size`` 50304 when the dataset has no ``meta.pkl`` (openwebtext has none).
- ``train.py`` 199 ``optimizer = model.configure_optimizers(weight_decay, learning_rate,
  (beta1, beta2), device_type)``.
- ``train.py`` 231-242 ``get_lr`` (vendored verbatim); 255-260 at the top of every iteration
  ``lr = get_lr(iter_num) if decay_lr else learning_rate`` is written into every group's
  ``lr`` before that iteration's ``scaler.step(optimizer)`` (311); 134 ``iter_num = 0``;
  328-333 ``iter_num += 1`` then ``break`` once ``iter_num > max_iters``: iterations
  ``0 .. max_iters`` (600001 optimizer steps, the last one at ``get_lr(600000) = min_lr``).

Scaled-down test model (``size="test"``): ``n_layer 2, n_head 2, n_embd 32, block_size 64,
vocab_size 128``. Names, module types, the tying and the grouping rule do not depend on the
size (the group sizes do: decay ``2 + 4 * n_layer`` tensors; no decay ``2 * n_layer + 1``
with ``bias=False``, ``8 * n_layer + 2`` with ``bias=True``). ``size="full"`` builds the
train.py defaults (124M parameters; build it under ``torch.device("meta")`` to skip the
allocation).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from torch import nn

from .vendor.nanogpt import train as _train
from .vendor.nanogpt.model import GPT, GPTConfig

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "apply_schedule",
    "build_model",
    "get_lr",
    "reference_param_groups",
]

#: The original ``get_lr`` (train.py 231-242), reading train.py's default globals.
get_lr = _train.get_lr

#: train.py 109: ``device_type = 'cuda' if 'cuda' in device else 'cpu'``. The run's device is
#: ``'cuda'`` (line 72), which only adds ``fused=True`` to AdamW (model.py 281-283): no
#: hyper-parameter changes. The reference uses ``'cpu'`` so that it runs anywhere.
DEVICE_TYPE = "cpu"

_TEST = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 64, "vocab_size": 128}
# train.py 50-56 and 155: the defaults of the run.
_FULL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50304}


def build_model(size: str = "test", *, bias: bool = False, dropout: float = 0.0) -> nn.Module:
    """nanoGPT's ``GPT`` (vendored ``model.py``), quietly (its ``__init__`` prints).

    ``bias=False`` is train.py's default (line 56); ``bias=True`` is ``GPTConfig``'s own default
    and GPT-2's layout (biases in every ``nn.Linear`` but ``lm_head`` and in every LayerNorm).
    """
    if size not in ("test", "full"):
        raise ValueError(f"size must be 'test' or 'full', got {size!r}")
    dims = _TEST if size == "test" else _FULL
    config = GPTConfig(**dims, bias=bias, dropout=dropout)
    with contextlib.redirect_stdout(io.StringIO()):
        return GPT(config)


def _configure(model: nn.Module) -> torch.optim.Optimizer:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be the vendored nanoGPT GPT, got {type(model).__name__}")
    # train.py 199, with train.py's defaults (57-62); configure_optimizers prints three lines.
    with contextlib.redirect_stdout(io.StringIO()):
        optimizer: torch.optim.Optimizer = model.configure_optimizers(
            _train.weight_decay, _train.learning_rate, (_train.beta1, _train.beta2), DEVICE_TYPE
        )
    return optimizer


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The two groups ``configure_optimizers`` builds (model.py 272-275), from the real call.

    ``[{"params": [dim >= 2], "weight_decay": 0.1}, {"params": [dim < 2], "weight_decay": 0.0}]``
    in ``named_parameters()`` order (the tied ``lm_head.weight`` is ``transformer.wte.weight``,
    once, in the first group). No other key: ``lr`` and ``betas`` are AdamW's defaults
    (:data:`REFERENCE_DEFAULTS`).
    """
    optimizer = _configure(model)
    return [
        {"params": list(g["params"]), "weight_decay": g["weight_decay"]}
        for g in optimizer.param_groups
    ]


def _defaults() -> dict[str, Any]:
    return dict(_configure(build_model()).defaults)


#: ``torch.optim.AdamW(optim_groups, lr=6e-4, betas=(0.9, 0.95))``'s defaults (model.py 284):
#: lr 6e-4, betas (0.9, 0.95), torch's eps 1e-8, weight_decay 1e-2 (never used: both groups
#: set their own), amsgrad False; ``fused`` is None here, True in the CUDA run.
REFERENCE_DEFAULTS: dict[str, Any] = _defaults()
REFERENCE_OPTIMIZER = "AdamW"


def apply_schedule(groups: list[dict[str, Any]], step: int) -> None:
    """Set every group's ``lr`` for iteration ``step`` (train.py 257-260).

    ``lr = get_lr(step)`` (``decay_lr`` is True), the same value for every group:

    - ``step < 2000``: ``6e-4 * (step + 1) / 2001`` (Python floats, in that order: product
      first, then the division; step 0 gets ``6e-4 / 2001``, step 1999 ``6e-4 * 2000 / 2001``);
    - ``2000 <= step <= 600000``: ``decay_ratio = (step - 2000) / 598000``,
      ``coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))``,
      ``6e-5 + coeff * (6e-4 - 6e-5)`` (step 2000 gives exactly ``6e-4``, step 600000 exactly
      ``6e-5``);
    - ``step > 600000``: ``6e-5`` (never reached: the run ends at 600000).
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    lr = get_lr(int(step)) if _train.decay_lr else _train.learning_rate
    for param_group in groups:
        param_group["lr"] = lr


_SRC = "karpathy/nanoGPT@3adf61e154c3fe3fca428ad6bc3818b27a3b8291"

#: The run assumed and where each part comes from.
RUN: dict[str, Any] = {
    "steps": _train.max_iters + 1,  # 600001: iterations 0 .. 600000 inclusive
    "epoch_length": None,  # no epochs: every iteration draws random windows (train.py 116-131)
    "warmup_steps": _train.warmup_iters,  # 2000
    "lr_decay_iters": _train.lr_decay_iters,  # 600000
    "lr": _train.learning_rate,
    "min_lr": _train.min_lr,
    "weight_decay": _train.weight_decay,
    "betas": (_train.beta1, _train.beta2),
    "grad_clip": _train.grad_clip,
    "peak_lr_step": _train.warmup_iters,
    "min_lr_step": _train.lr_decay_iters,
    "sources": {
        "defaults": f"{_SRC} train.py 47-68 72 147-157",
        "model": f"{_SRC} model.py 18-145",
        "param_groups": f"{_SRC} model.py 263-287, train.py 199",
        "optimizer": f"{_SRC} model.py 281-284",
        "schedule": f"{_SRC} train.py 231-242",
        "loop": f"{_SRC} train.py 134 255-260 311 328-333",
    },
}
