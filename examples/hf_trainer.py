"""optfn's optimizer and LR scheduler inside Hugging Face's ``Trainer``.

``Trainer(optimizers=(opt, sched))`` takes any ``torch.optim.Optimizer`` and LR scheduler, so
optfn's need no adapter: build them from specs and hand them over. The Trainer steps the
scheduler once per optimizer step, and saves and restores both states in its checkpoints.

Runs on CPU in a few seconds, with a tiny Llama built from a config (nothing downloaded)::

    python examples/hf_trainer.py            # Muon + AdamW
    python examples/hf_trainer.py --adamw    # AdamW alone

``tests/integrations/test_trainers.py`` imports :func:`build_trainer` and checks that the LRs
the Trainer applies are optfn's curve and that resuming from a checkpoint is bit-identical.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from optfn import (
    AdamWSpec,
    MuonRouting,
    MuonSpec,
    ParamRules,
    WarmupCosine,
    make_optimizer,
    make_scheduler,
)

VOCAB, SEQ = 64, 16


class RandomTokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """``n`` fixed sequences of random token ids (language modelling: labels = inputs)."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, VOCAB, (n, SEQ), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_llama(seed: int = 0) -> nn.Module:
    """A 2-layer Llama with hidden size 16 (no dropout, so a run is deterministic)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=SEQ,
        attention_dropout=0.0,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def specs(muon: bool = True) -> tuple[AdamWSpec | MuonSpec, ParamRules, WarmupCosine]:
    """The run's optimizer spec, routing rules and LR schedule (plain data: a config)."""
    if muon:  # hidden matrices on Muon; embeddings, LM head, norms on AdamW
        return (
            MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
            ParamRules(muon=MuonRouting.hidden_matrices()),
            WarmupCosine(warmup_steps=3, total_steps=10, min_lr_scale=0.1),
        )
    return (
        AdamWSpec(learning_rate=3e-3, weight_decay=0.05),
        ParamRules(),
        WarmupCosine(warmup_steps=3, total_steps=10, min_lr_scale=0.1),
    )


def build_trainer(
    output_dir: str,
    max_steps: int = 10,
    *,
    muon: bool = True,
    save_steps: int = 4,
    callbacks: list[Any] | None = None,
) -> Trainer:
    """A Trainer over a fresh model, with optfn's optimizer and scheduler built from
    :func:`specs`: the same arguments always build the same run."""
    model = tiny_llama()
    spec, rules, schedule = specs(muon)
    opt = make_optimizer(model, spec, rules)
    sched = make_scheduler(opt, schedule)
    args = TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=8,
        save_strategy="steps",
        save_steps=save_steps,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=RandomTokens(),
        optimizers=(opt, sched),
        callbacks=callbacks,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--adamw", action="store_true", help="AdamW alone instead of Muon + AdamW")
    parser.add_argument("--steps", type=int, default=10)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(out, a.steps, muon=not a.adamw)
        trainer.train()  # with disable_tqdm, the Trainer prints each step's log
        opt = trainer.optimizer.optimizer  # accelerate's wrapper around optfn's optimizer
        print(f"{type(opt).__name__}, {len(opt.param_groups)} groups, LRs now:")
        print([f"{g['lr']:.3e}" for g in opt.param_groups])


if __name__ == "__main__":
    main()
