"""optfn's optimizer and LR scheduler in a Lightning ``LightningModule``.

``configure_optimizers`` returns the optimizer and ``{"scheduler": sched, "interval": "step"}``:
Lightning steps the scheduler after every optimizer step and keeps both states in its
checkpoints. The specs are the module's hyper-parameters (frozen, comparable, serializable).

Runs on CPU in a few seconds::

    python examples/lightning_module.py            # Muon + AdamW
    python examples/lightning_module.py --adamw    # AdamW alone

``tests/integrations/test_trainers.py`` imports :func:`build_trainer` and :class:`TinyLM`, and
checks that the LRs applied (and those ``LearningRateMonitor`` logs) are optfn's curve and that
``trainer.fit(model, ckpt_path=...)`` resumes bit-identically.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from optfn import (
    AdamWSpec,
    MuonRouting,
    MuonSpec,
    ParamRules,
    Schedule,
    WarmupCosine,
    make_optimizer,
    make_scheduler,
)

VOCAB, SEQ, BATCH = 32, 8, 8


class TinyLM(L.LightningModule):
    """A next-token model (embedding, two residual MLP blocks, a norm, a head) whose
    optimizer and LR schedule are optfn specs."""

    def __init__(
        self,
        spec: AdamWSpec | MuonSpec,
        rules: ParamRules,
        schedule: Schedule,
        width: int = 16,
    ) -> None:
        super().__init__()
        self.spec, self.rules, self.schedule = spec, rules, schedule
        self.embed = nn.Embedding(VOCAB, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
            for _ in range(2)
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for block in self.blocks:
            x = x + block(x)
        logits: torch.Tensor = self.head(self.norm(x))
        return logits

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        logits = self(batch[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))

    def configure_optimizers(self) -> Any:
        opt = make_optimizer(self, self.spec, self.rules)
        sched = make_scheduler(opt, self.schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def specs(muon: bool = True) -> tuple[AdamWSpec | MuonSpec, ParamRules, Schedule]:
    """The run's optimizer spec, routing rules and LR schedule."""
    schedule = WarmupCosine(warmup_steps=3, total_steps=10, min_lr_scale=0.1)
    if muon:  # the blocks' matrices on Muon; embedding, head, norm, biases on AdamW
        return (
            MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
            ParamRules(muon=MuonRouting.hidden_matrices()),
            schedule,
        )
    return AdamWSpec(learning_rate=3e-3, weight_decay=0.05), ParamRules(), schedule


def tiny_lm(muon: bool = True, seed: int = 0) -> TinyLM:
    """A fresh :class:`TinyLM`: the same seed always gives the same weights."""
    torch.manual_seed(seed)
    return TinyLM(*specs(muon))


def data(n: int = 32, seed: int = 0) -> torch.utils.data.DataLoader[torch.Tensor]:
    """``n`` fixed random token sequences, in order (``n / BATCH`` steps per epoch)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (n, SEQ), generator=g)
    return torch.utils.data.DataLoader(list(ids), batch_size=BATCH, shuffle=False)


def build_trainer(
    root: str, max_steps: int = 10, *, save_every: int = 4, callbacks: list[Any] | None = None
) -> L.Trainer:
    """A CPU Trainer that saves a checkpoint every ``save_every`` steps under ``root``/ckpt
    and logs each step's LR (``LearningRateMonitor``) to ``root``/logs (CSV)."""
    return L.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        devices=1,
        default_root_dir=root,
        logger=CSVLogger(root, name="logs", version=0),
        callbacks=[
            ModelCheckpoint(dirpath=f"{root}/ckpt", every_n_train_steps=save_every, save_top_k=-1),
            LearningRateMonitor(logging_interval="step"),
            *(callbacks or []),
        ],
        log_every_n_steps=1,
        enable_checkpointing=True,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--adamw", action="store_true", help="AdamW alone instead of Muon + AdamW")
    parser.add_argument("--steps", type=int, default=10)
    a = parser.parse_args()
    model = tiny_lm(muon=not a.adamw)
    loader = data()
    batch = next(iter(loader))
    with tempfile.TemporaryDirectory() as root:
        before = model.training_step(batch, 0).item()
        trainer = build_trainer(root, a.steps)
        trainer.fit(model, loader)
        after = model.training_step(batch, 0).item()
        opt = trainer.optimizers[0]
        print(
            type(opt).__name__, f"{len(opt.param_groups)} groups,", f"{trainer.global_step} steps"
        )
        print("LRs now:", [f"{g['lr']:.3e}" for g in opt.param_groups])
        print(f"loss on the first batch: {before:.4f} -> {after:.4f}")


if __name__ == "__main__":
    main()
