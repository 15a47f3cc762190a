"""Reference of modded-nanogpt's optimizer setup: per-parameter NorMuon/Adam table and schedules.

Source: KellerJordan/modded-nanogpt @ f411b3d346aa52d3504324ca93c230fd84c6c07f (MIT),
``train_gpt.py``. The optimizer, its configuration and the schedules are vendored (trimmed,
verbatim blocks) in ``tests/recipes/vendor/modded_nanogpt/train_gpt.py``; the GPT's parameter
structure is re-built here because the original class needs CUDA, an initialised process group
and the full-size ``args`` at construction. Line ranges used (all in ``train_gpt.py``):

- 956-983 ``CastedLinearT`` (lm_head, weight stored (in, out) in bf16), 988-1055 ``Yarn``,
  1082-1162 ``CausalSelfAttention`` (no parameters: weights live in the banks) — vendored.
- 1208-1245 ``GPT.__init__`` (vocab rounded up to a multiple of 128; lm_head normal(0, 0.005);
  embed = lm_head.T at init; every parameter labelled ``name.replace('.weight', '')``),
  1247-1294 ``init_attn`` (value_embeds (5V, D) bf16; ve_gate_bank (5, H, 12); qk_bank
  (pad(L-1)*2*(H/2), 2*hd, D) and vo_bank (pad(2(L-1)), H*hd, H*hd) with ``.reshape`` equal to
  their shapes, padding to a multiple of world_size zero-initialised), 1296-1323 ``init_mlp``
  (mlp_bank (12, 2, 4D, D), ``.reshape = (24, 4D, D)``), 1325-1350 ``init_misc`` (smear_gate
  Linear(12, 1), bigram_embed Embedding(bigram_vocab, bigram_dim), post_lambdas, resid_lambdas,
  scalars (2L + 2 + pad)), 1352-1395 ``init_mudd``, 1436-1463 ``init_mudd_gate`` — re-built.
- 1880-1906 ``Hyperparameters`` (1270 scheduled + 15 extension iterations; bigram sizes).
- 2234-2254 the run's model (vocab 50257, 11 layers, 6 heads, head_dim 128, dim 768) and the
  bf16 casts (every Embedding/Linear weight, ve_gate_bank, the three banks, mudd_* and
  mudd_gate_* weights and biases; post_lambdas, resid_lambdas, scalars, _mudd_gate_scale stay
  fp32).
- 352-371 ``ParamConfig``, 425-543 ``NorMuonAndAdam.__init__`` / ``_build_param_cfg`` — vendored
  and run as is (single process: world_size 1, so every ``comms`` becomes ``"none"``).
- 2019-2090 ``TrainingManager.__init__``: the parameter table (2026-2050), work order
  (2054-2063), ``adam_defaults`` (2065-2069), ``normuon_defaults`` (2071-2076) — vendored and
  run as is.
- 1908-1992 ``TrainingStage`` / ``TrainingSchedule`` / ``TRAINING_STAGES`` (``get_lr``
  1968-1976, ``lookup`` 1960-1966), 1995-2007 ``get_muon_momentum``, 2104-2106
  ``_is_adam_step``, 2131-2147 ``step_optimizers`` — vendored; :func:`apply_schedule` replays
  lines 2132-2140.
- 2319-2364 the loop: optimizer steps ``0 .. total_steps - 1`` = 0 .. 1284 (step 1285 only
  validates).

Scaled-down test model (``size="test"``): every parameter, label, ``.reshape``, dtype and the
number of matrices per bank are the original's; the widths shrink: ``head_dim=8`` (so
``model_dim = 6 * 8 = 48``, MLP width 192: the bank matrices keep the full model's aspect ratios
1:3, 1:1 and 4:1), vocabulary 256 (already a multiple of 128), bigram vocabulary
``256 * 15 // 2 = 1920`` with ``bigram_dim = model_dim``, 64 bigram sign-table rows and
``max_seq_len=64`` for the rotary tables. Fixed widths of the original stay (11 layers, 6 heads,
12 MLP layers in the bank, 12 smear inputs, MUDD widths 64 with 14 and 41 coefficients).
Buffers that need CUDA at construction (``_mlp_down_partial_amax``,
``_mlp_down_weight_partial_amax``) are left out; they hold no parameters.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import torch
from torch import nn

from .vendor.modded_nanogpt import train_gpt as _orig

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "apply_schedule",
    "build_model",
    "is_adam_step",
    "reference_param_groups",
]

_SIZES: dict[str, dict[str, int]] = {
    # train_gpt.py 2234-2240 and 1902-1904 (world_size 8: grad_accum_steps 1)
    "full": {
        "vocab_size": 50257,
        "head_dim": 128,
        "bigram_vocab_size": 50304 * 15 // 2,
        "bigram_dim": 768,
        "bigram_sign_table_rows": 8192,
        "max_seq_len": 4 * 64 * 1024 * 8 // (1 * 8),
    },
    "test": {
        "vocab_size": 256,
        "head_dim": 8,
        "bigram_vocab_size": 256 * 15 // 2,
        "bigram_dim": 48,
        "bigram_sign_table_rows": 64,
        "max_seq_len": 64,
    },
}
_NUM_LAYERS = 11
_NUM_HEADS = 6


class GPT(nn.Module):
    """The parameter structure of modded-nanogpt's ``GPT`` (train_gpt.py 1208-1463), no forward.

    Attribute names, registration order (hence ``named_parameters()`` order), shapes, dtypes
    after the run's casts (2242-2254), ``.label`` on every parameter and ``.reshape`` on the
    three banks are the original's.
    """

    def __init__(
        self,
        vocab_size: int,
        num_layers: int,
        num_heads: int,
        head_dim: int,
        model_dim: int,
        max_seq_len: int,
        *,
        world_size: int,
        bigram_vocab_size: int,
        bigram_dim: int,
        bigram_sign_table_rows: int,
    ) -> None:
        super().__init__()
        nmn = _orig.next_multiple_of_n
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.vocab_size = nmn(vocab_size, n=128)
        self.register_buffer(
            "prefix_table",
            torch.full((self.vocab_size,), -1, dtype=torch.int64),
            persistent=False,
        )
        grad_scale = 1 / (8 // world_size)
        use_fp8 = not os.environ.get("DISABLE_FP8", False)
        self.lm_head = _orig.CastedLinearT(
            model_dim,
            self.vocab_size,
            use_fp8=use_fp8,
            x_s=100 / 448,
            w_s=1.6 / 448,
            grad_s=grad_scale * 0.75 / 448,
        )
        nn.init.normal_(self.lm_head.weight, mean=0, std=0.005)
        self.embed = nn.Embedding(self.vocab_size, model_dim)
        with torch.no_grad():
            self.embed.weight.copy_(self.lm_head.weight.T)

        # init_attn (1247-1294)
        self.cache_layers = [3, 7]
        self.paired_head_layers = [0, 2, 5, 9]
        self.attn = _orig.CausalSelfAttention(model_dim, head_dim, num_heads, paired=False)
        self.attn_paired = _orig.CausalSelfAttention(model_dim, head_dim, num_heads, paired=True)
        self.yarn = _orig.Yarn(head_dim, max_seq_len)
        self.yarn_paired_head = _orig.Yarn(head_dim, max_seq_len, paired=True)
        self.value_embeds = nn.Parameter(
            0.01 * torch.randn(5 * self.vocab_size, model_dim, dtype=torch.bfloat16)
        )
        self.ve_gate_bank = nn.Parameter(torch.zeros(5, num_heads, 12))
        self.gate_filler_nones = [None] * (num_layers - 6)
        num_attn_layers = num_layers - 1
        hdim = num_heads * head_dim
        self._num_attn_layers = num_attn_layers
        num_qk_groups = num_attn_layers * 2 * (num_heads // 2)
        self._num_qk_groups = num_qk_groups
        num_qk_padded = nmn(num_qk_groups, n=world_size)
        self.qk_bank = nn.Parameter(torch.empty(num_qk_padded, head_dim * 2, model_dim))
        self.qk_bank.reshape = (num_qk_padded, head_dim * 2, model_dim)  # type: ignore[assignment]
        num_vo_real = num_attn_layers * 2
        num_vo_padded = nmn(num_vo_real, n=world_size)
        self.vo_bank = nn.Parameter(torch.empty(num_vo_padded, hdim, hdim))
        self.vo_bank.reshape = (num_vo_padded, hdim, hdim)  # type: ignore[assignment]
        std = 0.5 * model_dim**-0.5
        bound = (3**0.5) * std
        with torch.no_grad():
            self.qk_bank[:num_qk_groups].uniform_(-bound, bound)
            self.qk_bank[num_qk_groups:].zero_()
            self.vo_bank[:num_vo_real].uniform_(-bound, bound)
            self.vo_bank[num_vo_real:].zero_()

        # init_mlp (1296-1323), without the two CUDA-sized partial-amax buffers
        mlp_hdim = 4 * model_dim
        self.mlp_bank = nn.Parameter(torch.empty(12, 2, mlp_hdim, model_dim))
        self.mlp_bank.reshape = (24, mlp_hdim, model_dim)  # type: ignore[assignment]
        with torch.no_grad():
            self.mlp_bank[:, 0, :, :].uniform_(-bound, bound)
            self.mlp_bank[:, 1, :, :].zero_()
        self.register_buffer("_mlp_down_act_scales", torch.ones(12, dtype=torch.float32))
        self.register_buffer("_mlp_down_proj_scales", torch.ones(12, dtype=torch.float32))
        self.register_buffer("_mlp_down_proj_next_scales", torch.ones(12, dtype=torch.float32))

        # init_misc (1325-1350)
        self.smear_gate = nn.Linear(12, 1, bias=False)
        nn.init.zeros_(self.smear_gate.weight)
        self.bigram_embed = nn.Embedding(bigram_vocab_size, bigram_dim)
        nn.init.zeros_(self.bigram_embed.weight)
        sign_table = torch.randn(bigram_sign_table_rows, bigram_dim).sign().to(torch.bfloat16)
        self.register_buffer("bigram_sign_table", sign_table)
        self.post_lambdas = nn.Parameter(torch.ones(num_layers, 2))
        self.resid_lambdas = nn.Parameter(torch.full((num_layers, 2), 1.1**0.5))
        pad = (-num_layers * 2 - 2) % world_size
        self.scalars = nn.Parameter(
            torch.cat(
                [
                    *[torch.tensor([0.5, 1.0]) for _ in range(num_layers)],
                    torch.zeros(1),
                    -1.5 * torch.ones(1),
                    torch.ones(pad),
                ]
            )
        )

        # init_mudd (1352-1395)
        num_mudd_layers, mudd_dim, max_num_coef = 2, 64, 14
        self._mudd_scale = 0.1
        self.mudd_w1 = nn.Parameter(torch.empty(num_mudd_layers, mudd_dim, model_dim))
        for j in range(num_mudd_layers):
            nn.init.kaiming_uniform_(self.mudd_w1.data[j], a=math.sqrt(5))
        self.mudd_w2 = nn.Parameter(torch.zeros(num_mudd_layers, max_num_coef, mudd_dim))
        bs_init = torch.zeros(num_mudd_layers, max_num_coef)
        bs_init[0, 6] = 2.0 / self._mudd_scale
        bs_init[0, 7] = 2.0 / self._mudd_scale
        bs_init[0, 8] = 1.1**0.5 / self._mudd_scale
        bs_init[0, 9] = 1.0 / self._mudd_scale
        bs_init[0, 10] = 0.0
        bs_init[0, 11] = 0.05 / self._mudd_scale
        bs_init[0, 12] = 1.1**0.5 / self._mudd_scale
        bs_init[0, 13] = 1.0 / self._mudd_scale
        bs_init[1, 1] = -0.5 / self._mudd_scale
        self.mudd_b2 = nn.Parameter(bs_init)

        self.xsa_layers = [1, 3, 4, 7]
        self.dc_layers = [10]
        self.attn_gate_layers = [3, 10]

        # init_mudd_gate (1436-1463)
        self._mudd_gate_scale = nn.Parameter(torch.tensor(0.1))
        mudd_gate_dim, gate_coef = 64, 41
        assert self.num_heads == 6
        self._mudd_gate_pre_num_coef = 26
        self._mudd_gate_post_num_coef = 41
        self.mudd_gate_w1 = nn.Parameter(torch.empty(2, mudd_gate_dim, model_dim))
        self.mudd_gate_w2 = nn.Parameter(torch.zeros(2, gate_coef, mudd_gate_dim))
        for j in range(2):
            nn.init.kaiming_uniform_(self.mudd_gate_w1.data[j], a=math.sqrt(5))
        gate_init = torch.zeros(2, gate_coef)
        gate_init[0, 12:18].fill_(0.25 / 0.1)
        gate_init[0, 19:26:2].fill_(0.05 / 0.1)
        gate_init[1, 12:18].fill_(0.25 / 0.1)
        gate_init[1, 19:28:2].fill_(0.05 / 0.1)
        gate_init[1, 28].fill_(0.5 / 0.1)
        gate_init[1, 29:35].fill_(1.0 / 0.1)
        self.mudd_gate_b2 = nn.Parameter(gate_init)

        # Auto-label parameters (1243-1245)
        for name, param in self.named_parameters():
            param.label = name.replace(".weight", "")  # type: ignore[attr-defined]

    def cast_like_the_run(self) -> None:
        """The bf16 casts of train_gpt.py 2242-2254 (``.data`` reassigned: attributes kept)."""
        for m in self.modules():
            if isinstance(m, nn.Embedding | nn.Linear):
                m.weight.data = m.weight.data.bfloat16()
        for name in (
            "ve_gate_bank",
            "qk_bank",
            "vo_bank",
            "mlp_bank",
            "mudd_w1",
            "mudd_w2",
            "mudd_b2",
            "mudd_gate_w1",
            "mudd_gate_w2",
            "mudd_gate_b2",
        ):
            p = getattr(self, name)
            p.data = p.data.bfloat16()


def build_model(size: str = "test", *, world_size: int = 8, seed: int | None = 0) -> GPT:
    """The GPT's parameters as the optimizer receives them (after the run's bf16 casts).

    ``size="test"`` (default) is the scaled-down model of the module docstring; ``size="full"``
    the record's (~644 M parameters, ~290 M of them the bigram table: tens of seconds and
    several GB).
    ``world_size`` (8 in the record) sets the bank and ``scalars`` padding. ``seed`` makes the
    initialisation reproducible (``None``: the global RNG as is).
    """
    if size not in _SIZES:
        raise ValueError(f"size must be one of {sorted(_SIZES)}, got {size!r}")
    if world_size < 1 or 8 % world_size != 0:
        raise ValueError(f"world_size must divide 8 (train_gpt.py line 56), got {world_size}")
    s = _SIZES[size]
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = GPT(
            vocab_size=s["vocab_size"],
            num_layers=_NUM_LAYERS,
            num_heads=_NUM_HEADS,
            head_dim=s["head_dim"],
            model_dim=_NUM_HEADS * s["head_dim"],
            max_seq_len=s["max_seq_len"],
            world_size=world_size,
            bigram_vocab_size=s["bigram_vocab_size"],
            bigram_dim=s["bigram_dim"],
            bigram_sign_table_rows=s["bigram_sign_table_rows"],
        )
    model.cast_like_the_run()
    return model


def make_training_manager(model: nn.Module) -> Any:
    """The original ``TrainingManager(model)`` (vendored, single process on CPU).

    It builds the ``NorMuonAndAdam`` optimizer from the original parameter table and defaults
    and holds the original ``step_optimizers``. Its ``step`` needs the Triton/compiled kernels
    replaced (see ``ref_modded_nanogpt_step``).
    """
    return _orig.TrainingManager(model)


_PARAM_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(_orig.ParamConfig))


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """One dict per parameter: ``params`` and every ``ParamConfig`` field as the original builds it.

    Built by the original code itself (``TrainingManager.__init__`` -> ``NorMuonAndAdam``,
    single process). Keys: ``label, optim, comms, adam_betas, lr_mul, wd_mul, lr, initial_lr,
    weight_decay, eps, reshape, chunk_size, momentum, beta2, per_matrix_lr_mul``. ``lr`` equals
    ``initial_lr`` (the base LR) until :func:`apply_schedule` runs. NorMuon's ``lr_mul``
    already includes the shape factor ``sqrt(max(1, rows / cols))``. Order: the model's
    ``named_parameters()`` order.
    """
    optimizer = make_training_manager(model).optimizer
    groups = []
    for param, cfg in optimizer.param_cfgs.items():
        group: dict[str, Any] = {"params": [param]}
        for field in _PARAM_CONFIG_FIELDS:
            value = getattr(cfg, field)
            group[field] = list(value) if isinstance(value, list) else value
        groups.append(group)
    return groups


#: The optimizer defaults of ``TrainingManager.__init__`` (train_gpt.py 2065-2076).
REFERENCE_DEFAULTS: dict[str, dict[str, float]] = {
    "adam": {"lr": 0.008, "eps": 1e-10, "weight_decay": 0.005},
    "normuon": {"lr": 0.023, "momentum": 0.95, "beta2": 0.9, "weight_decay": 1.2},
}
#: Custom optimizer (``NorMuonAndAdam``), not a torch class.
REFERENCE_OPTIMIZER = None


def is_adam_step(step: int) -> bool:
    """Adam parameters are updated on odd steps only (train_gpt.py 2104-2106)."""
    return step % 2 == 1


def apply_schedule(groups: list[dict[str, Any]], step: int) -> None:
    """Set ``lr`` (every parameter) and ``momentum`` (NorMuon) as ``step_optimizers`` does.

    train_gpt.py 2132-2140: ``lr = initial_lr * training_schedule.get_lr(step)``, and for
    NorMuon parameters ``momentum = get_muon_momentum(step)``. Betas, eps, beta2 and
    weight_decay are constant; whether Adam parameters step at all is :func:`is_adam_step`.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    step_lr = _orig.training_schedule.get_lr(step)
    muon_momentum = _orig.get_muon_momentum(step)
    for group in groups:
        group["lr"] = group["initial_lr"] * step_lr
        if group["optim"] == "normuon":
            group["momentum"] = muon_momentum


_SRC = "KellerJordan/modded-nanogpt@f411b3d346aa52d3504324ca93c230fd84c6c07f train_gpt.py"
_TS = _orig.training_schedule

#: The run assumed (8 GPUs, the record's defaults) and where each part comes from.
RUN: dict[str, Any] = {
    "steps": _TS.total_steps,  # 1285 optimizer steps: 0 .. 1284
    "epoch_length": None,  # no epochs: a token stream
    "scheduled_iterations": _TS.scheduled_iterations,  # 1270
    "extension_iterations": _TS.total_steps - _TS.scheduled_iterations,  # 15
    "stage_boundaries": list(_TS.boundaries),  # [(0, 423), (423, 847), (847, 1270), (1270, 1285)]
    "stage_lr_mul": [s.lr_mul for s in _TS.stages],  # [1.0, 1.52, 1.73, 1.0]
    "cooldown_frac": _TS.cooldown_frac,  # 0.6
    "cooldown_start": int(_TS.scheduled_iterations * (1 - _TS.cooldown_frac)),  # 508
    "cooldown_floor": 0.15,
    "split_step": _TS.split_step,  # 847: embed untied from lm_head after this step
    "muon_momentum": {"min": 0.85, "max": 0.95, "warmup_steps": 300, "cooldown_steps": 50},
    "adam_steps": "odd steps only; gradients of the even step before are summed in",
    "world_size": 8,
    "sources": {
        "model": f"{_SRC} 956-983 988-1055 1082-1162 1208-1463 2234-2254",
        "param_config": f"{_SRC} 352-371 425-543",
        "param_table": f"{_SRC} 2026-2063",
        "defaults": f"{_SRC} 2065-2076",
        "schedule": f"{_SRC} 1880-1906 1908-1992 1995-2007",
        "apply": f"{_SRC} 2104-2106 2131-2147",
        "loop": f"{_SRC} 2319-2365",
    },
}
