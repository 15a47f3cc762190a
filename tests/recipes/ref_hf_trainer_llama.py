"""Reference of the Hugging Face ``Trainer``'s own optimizer and LR schedule, Llama fine-tune.

transformers is importable here, so this reference calls transformers' real code (version
pinned by the venv; the line numbers below are transformers 5.25.0's):

- ``trainer.py`` 1274-1361 ``Trainer.create_optimizer``: ``decay_parameters =
  self.get_decay_parameter_names(model)``; group 0 = ``[p for n, p in
  model.named_parameters() if n in decay_parameters and p.requires_grad]`` with
  ``weight_decay = args.weight_decay``, group 1 = the other trainable parameters with
  ``weight_decay 0.0``; ``optimizer_cls(optimizer_grouped_parameters, **optimizer_kwargs)``.
- ``trainer.py`` 1423-1434 ``get_decay_parameter_names``: ``get_parameter_names(model,
  [nn.LayerNorm], [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\\.)norm(?:$|\\.)",
  r"_norm(?:$|\\.)"])`` (``trainer_pt_utils.py`` 1348-1369: a parameter decays unless it sits
  inside an ``nn.LayerNorm`` or its full lower-cased name matches one of the patterns with
  ``re.search``).
- ``trainer.py`` 1393-1421 ``get_optimizer_cls_and_kwargs`` and ``trainer_optimizer.py``
  201-208 ``_get_adamw_torch``: ``torch.optim.AdamW`` with ``lr=learning_rate,
  betas=(adam_beta1, adam_beta2), eps=adam_epsilon`` (``"fused": True`` added only for
  ``adamw_torch_fused``, the default ``optim`` with torch >= 2.8; the recipe names
  ``adamw_torch``; no hyper-parameter differs).
- ``trainer.py`` 1362-1391 ``create_scheduler``: ``get_scheduler(lr_scheduler_type, optimizer,
  num_warmup_steps=args.get_warmup_steps(num_training_steps),
  num_training_steps=num_training_steps)`` with ``num_training_steps = max_steps``
  (1793, 2546); ``training_args.py`` 2154-2161 ``get_warmup_steps``: ``int(warmup_steps)`` if
  ``>= 1`` else ``math.ceil(num_training_steps * warmup_steps)`` (transformers 5 folded
  ``warmup_ratio`` into a float ``warmup_steps``).
- ``optimization.py`` 960-1054 ``get_scheduler``; 143-174 ``get_cosine_schedule_with_warmup``
  binds ``_get_cosine_schedule_with_warmup_lr_lambda`` by its module-level name, which the
  second definition at 326-334 (with ``min_lr_rate=0.0``) shadows: that one runs; 101-104 the
  linear lambda; torch's ``LambdaLR.get_lr`` (``torch/optim/lr_scheduler.py`` 463-466):
  ``lr = base_lr * lr_lambda(last_epoch)`` with ``base_lr = initial_lr``.
- ``trainer.py`` 1979-1989: ``self.optimizer.step()`` then ``self.lr_scheduler.step()``
  (skipped only when accelerate reports a skipped optimizer step, i.e. an fp16 overflow): the
  optimizer step with index ``k`` (0-based) runs with ``lr = initial_lr * lr_lambda(k)``.

The run (:data:`TRAINING_ARGS`), a short Llama fine-tune: the schedule shape of the
Stanford Alpaca recipe (``lr_scheduler_type="cosine"``, warm-up 3 % of the steps, given in
transformers 5 as ``warmup_steps=0.03``: 30 of 1000 steps), ``max_steps=1000``,
``optim="adamw_torch"``, ``learning_rate=5e-5`` (the ``TrainingArguments`` default),
``weight_decay=0.01`` (not the default 0.0: with 0.0 both groups would carry the same
hyper-parameters and the decay split could not be seen; 0.01 is the value the transformers
task guides pass), Adam's betas (0.9, 0.999) and eps 1e-8 (the defaults).
``apply_schedule(..., lr_scheduler_type="linear")`` gives the same run with the
``TrainingArguments`` default schedule.

Model: ``examples.zoo_models.llama`` (a ``LlamaForCausalLM`` from a config: hidden 16, 2 heads,
1 KV head, MLP 32, vocabulary 64), ``layers=2`` by default. Its parameters are the real
``LlamaForCausalLM``'s (``model.embed_tokens``, ``model.layers.N.self_attn.{q,k,v,o}_proj``,
``model.layers.N.mlp.{gate,up,down}_proj``, ``input_layernorm``,
``post_attention_layernorm``, ``model.norm``, ``lm_head``; untied) at a small width.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import transformers
from torch import nn
from transformers import Trainer, TrainingArguments, get_scheduler

from examples.zoo_models import llama

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_OPTIMIZER",
    "RUN",
    "TRAINING_ARGS",
    "apply_schedule",
    "build_model",
    "lr_lambda",
    "reference_param_groups",
    "training_arguments",
]

#: The recipe's ``TrainingArguments`` (see the module docstring for the choice).
TRAINING_ARGS: dict[str, Any] = {
    "optim": "adamw_torch",
    "learning_rate": 5e-5,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.03,
    "max_steps": 1000,
}


def build_model(layers: int = 2) -> nn.Module:
    """``examples.zoo_models.llama(layers)``: a small ``LlamaForCausalLM`` built from a config."""
    return llama(layers)


def training_arguments(output_dir: str, **overrides: Any) -> TrainingArguments:
    """Real ``TrainingArguments`` of the recipe (CPU, no reporting), with ``overrides``."""
    return TrainingArguments(
        output_dir=output_dir,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        **{**TRAINING_ARGS, **overrides},
    )


def reference_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The two groups of the real ``Trainer.create_optimizer`` (trainer.py 1284-1298).

    ``[{"params": decaying, "weight_decay": 0.01}, {"params": the rest, "weight_decay": 0.0}]``,
    each in ``named_parameters()`` order. ``lr``, ``betas`` and ``eps`` are the optimizer's
    constructor arguments (:data:`REFERENCE_DEFAULTS`).
    """
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model=model, args=training_arguments(out))
        optimizer = trainer.create_optimizer()
    return [
        {"params": list(g["params"]), "weight_decay": g["weight_decay"]}
        for g in optimizer.param_groups
    ]


def _defaults() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(training_arguments(out))
    if cls is not torch.optim.AdamW:
        raise AssertionError(f"adamw_torch should give torch.optim.AdamW, got {cls!r}")
    dummy = [{"params": [torch.zeros(1, requires_grad=True)]}]
    return dict(cls(dummy, **kwargs).defaults)


#: ``torch.optim.AdamW(groups, lr=5e-5, betas=(0.9, 0.999), eps=1e-8)``'s defaults
#: (``weight_decay`` there is torch's 1e-2, never used: both groups set their own).
REFERENCE_DEFAULTS: dict[str, Any] = _defaults()
REFERENCE_OPTIMIZER = "AdamW"


@functools.cache
def lr_lambda(
    lr_scheduler_type: str = TRAINING_ARGS["lr_scheduler_type"],
) -> Callable[[int], float]:
    """The multiplier function the Trainer's scheduler holds (``LambdaLR.lr_lambdas[0]``).

    Built by transformers' own ``get_scheduler`` with the recipe's ``num_warmup_steps =
    args.get_warmup_steps(max_steps)`` (30) and ``num_training_steps = max_steps`` (1000).
    """
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(out, lr_scheduler_type=lr_scheduler_type)
    dummy = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer=dummy,
        num_warmup_steps=args.get_warmup_steps(args.max_steps),
        num_training_steps=args.max_steps,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
    fn: Callable[[int], float] = scheduler.lr_lambdas[0]
    return fn


def apply_schedule(
    groups: list[dict[str, Any]], step: int, *, lr_scheduler_type: str | None = None
) -> None:
    """Set every group's ``lr`` for optimizer step ``step`` (0-based), as ``LambdaLR`` does.

    ``initial_lr`` is stored on first use (``setdefault`` from the group's ``lr``, or from
    ``learning_rate`` for a group without one, as the optimizer would fill it), then
    ``lr = initial_lr * lr_lambda(step)``. Cosine (W = 30, T = 1000): ``step / 30`` for
    ``step < 30`` (step 0 gets 0.0), else with ``progress = (step - 30) / 970``:
    ``max(0, 0.5 * (1.0 + cos(pi * 0.5 * 2.0 * progress)) * (1 - 0.0) + 0.0)``; past
    ``T`` the cosine climbs back (step 1970 is the peak again). Linear:
    ``step / 30`` then ``max(0.0, (1000 - step) / 970)``, 0 from step 1000 on.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    fn = lr_lambda(lr_scheduler_type or TRAINING_ARGS["lr_scheduler_type"])
    for group in groups:
        group.setdefault("lr", REFERENCE_DEFAULTS["lr"])
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * fn(int(step))


_SRC = f"transformers {transformers.__version__}"

#: The run assumed and where each part comes from.
RUN: dict[str, Any] = {
    "steps": TRAINING_ARGS["max_steps"],  # optimizer steps 0 .. 999
    "epoch_length": None,  # max_steps bounds the run; the schedule counts optimizer steps
    "warmup_steps": 30,  # ceil(1000 * 0.03)
    "lr": TRAINING_ARGS["learning_rate"],
    "weight_decay": TRAINING_ARGS["weight_decay"],
    "betas": (TRAINING_ARGS["adam_beta1"], TRAINING_ARGS["adam_beta2"]),
    "eps": TRAINING_ARGS["adam_epsilon"],
    "lr_scheduler_type": TRAINING_ARGS["lr_scheduler_type"],
    "sources": {
        "param_groups": f"{_SRC} trainer.py 1274-1361 1423-1434, trainer_pt_utils.py 1348-1369",
        "optimizer": f"{_SRC} trainer.py 1393-1421, trainer_optimizer.py 201-208",
        "schedule": f"{_SRC} trainer.py 1362-1391, training_args.py 2154-2161,"
        " optimization.py 101-104 143-174 326-334 960-1054; torch lr_scheduler.py 463-466",
        "loop": f"{_SRC} trainer.py 1756 1793 1979-1989 2546",
        "model": "examples/zoo_models.py llama (transformers LlamaForCausalLM)",
    },
}
