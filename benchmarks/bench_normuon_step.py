"""NorMuon: ``NorMuonWithAdam.step`` vs modded-nanogpt's step, and batched bank orthogonalization.

1. **Step**: the scaled-down modded-nanogpt model of ``tests/recipes/ref_modded_nanogpt.py``
   (every parameter, label, bank and dtype of the record; widths shrunk), its optimizer built
   by optfn from a ``NorMuonSpec`` and LabelRules mirroring the original parameter table, against
   the faithful reference step (``tests/recipes/ref_modded_nanogpt_step.py``: train_gpt.py's
   operations, eager, plain-PyTorch stand-ins for the Triton kernels). Gradients are set once;
   one optimizer step each (an Adam step included: an odd step), timed round-robin. Ratio
   ours / reference (goal <= 1.1).
2. **Bank**: Polar Express on a bank of ``n`` matrices, one batched call
   (``orthogonalize_bank(bank)``) against a Python loop over the matrices. Ratio loop / batched
   (goal >= 2 for a bank of 8 or more). Each row also gives the matrix-product throughput
   of both (GFLOP/s: ``n * steps * (4 r^2 c + 2 r^3)`` for ``r x c`` matrices, ``r <= c``,
   over the time), and the section opens with a practical bfloat16 peak of this machine (the
   best ``torch.mm`` of two sizes): batching cannot beat a loop by more than the loop's
   distance from it.

    python benchmarks/bench_normuon_step.py            # CPU (+ CUDA for part 2 when available)
    python benchmarks/bench_normuon_step.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Sequence
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _timing import header, interleaved_medians

from optfn import LabelRule, NorMuonSpec, ParamRules, make_optimizer
from optfn.optim.normuon.orthogonalize import orthogonalize_bank

BANKS = [(8, 128, 128), (24, 192, 48), (64, 16, 48), (16, 256, 1024)]


def _setup_step() -> tuple[Any, Any]:
    from tests.recipes import ref_modded_nanogpt as ref
    from tests.recipes import ref_modded_nanogpt_step as ref_step

    model = ref.build_model()
    groups = ref.reference_param_groups(model)
    table = ref.make_training_manager(model).param_table
    mine = copy.deepcopy(model)
    labels = []
    for (name, a), (_, b) in zip(model.named_parameters(), mine.named_parameters(), strict=True):
        for key, value in vars(a).items():
            setattr(b, key, value)
        entry = table[a.label]
        hyper: dict[str, Any] = {}
        if entry["optim"] == "adam":
            hyper["betas"] = tuple(entry["adam_betas"])
        else:
            b.data = b.data.float()
        if a.label == "mlp_bank":
            hyper["per_matrix_lr_mul"] = (1.0, 2.0)
        labels.append(
            LabelRule(
                label=a.label,
                names=[name],
                route=entry["optim"],
                lr_scale=entry.get("lr_mul", 1.0),
                weight_decay_scale=entry.get("wd_mul", 1.0),
                hyper=hyper,
            )
        )
    opt = make_optimizer(mine, NorMuonSpec(), ParamRules.uniform(labels=labels))
    gen = torch.Generator().manual_seed(0)
    grads = {}
    for a, b in zip(model.parameters(), mine.parameters(), strict=True):
        g = torch.randn(a.shape, generator=gen) * 0.01
        grads[a.label] = g.to(a.dtype)
        b.grad = g.to(b.dtype)
    state = ref_step.init_state(groups)
    state["split_embed"] = True
    params = {p.label: p for p in model.parameters()}

    def reference() -> None:
        ref_step.reference_step(params, grads, state, 1)  # an odd step: Adam steps too

    return opt.step, reference


def bench_step(repeats: int) -> dict[str, float]:
    ours, reference = _setup_step()
    return interleaved_medians({"optfn": ours, "reference": reference}, repeats=repeats)


def polar_express_flops(shape: tuple[int, int, int], steps: int = 5) -> float:
    """Floating-point operations of ``steps`` Polar Express iterations on a bank: per
    iteration ``A = X X^T`` (2 r^2 c), ``A @ A`` (2 r^3), ``B @ X`` (2 r^2 c), ``r <= c``."""
    n, rows, cols = shape
    r, c = min(rows, cols), max(rows, cols)
    return float(n * steps * (4 * r * r * c + 2 * r**3))


def bf16_peak_gflops(device: torch.device, repeats: int) -> float:
    """The best GFLOP/s of a bfloat16 ``torch.mm`` of 512^3 and of 2048^3: a practical peak of
    this machine's BLAS (on the CPU here the smaller one runs about twice as fast)."""
    gen = torch.Generator().manual_seed(2)
    best = 0.0
    for size in (512, 2048):
        a = torch.randn(size, size, generator=gen).bfloat16().to(device)
        b = torch.randn(size, size, generator=gen).bfloat16().to(device)

        def mm(a: torch.Tensor = a, b: torch.Tensor = b) -> None:
            torch.mm(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize()

        t = interleaved_medians({"mm": mm}, repeats=repeats)["mm"]
        best = max(best, 2 * size**3 / t / 1e9)
    return best


def bench_banks(
    device: torch.device, repeats: int
) -> list[tuple[tuple[int, int, int], float, float]]:
    out = []
    gen = torch.Generator().manual_seed(1)
    for shape in BANKS:
        bank = torch.randn(shape, generator=gen).to(device)

        def batched(bank: torch.Tensor = bank) -> None:
            orthogonalize_bank(bank, "polar_express", 5)
            if device.type == "cuda":
                torch.cuda.synchronize()

        def loop(bank: torch.Tensor = bank) -> None:
            for i in range(bank.shape[0]):
                orthogonalize_bank(bank[i], "polar_express", 5)
            if device.type == "cuda":
                torch.cuda.synchronize()

        t = interleaved_medians({"batched": batched, "loop": loop}, repeats=repeats)
        out.append((shape, t["batched"], t["loop"]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 15)

    header("NorMuon step: NorMuonWithAdam vs modded-nanogpt's reference step (CPU)")
    t = bench_step(repeats)
    print(
        f"   optfn {t['optfn'] * 1e3:8.2f} ms   reference {t['reference'] * 1e3:8.2f} ms   "
        f"ratio optfn/reference {t['optfn'] / t['reference']:.2f} (goal <= 1.1)"
    )
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    for device in devices:
        header(f"Polar Express on a bank: one batched call vs a loop over matrices ({device})")
        peak = bf16_peak_gflops(device, repeats)
        print(f"   bf16 peak (best torch.mm of 512^3, 2048^3): {peak:.0f} GFLOP/s")
        for shape, batched, loop in bench_banks(device, repeats):
            flops = polar_express_flops(shape) / 1e9
            print(
                f"   bank {shape!s:18} batched {batched * 1e3:8.2f} ms   loop {loop * 1e3:8.2f} ms"
                f"   ratio loop/batched {loop / batched:5.2f} (goal >= 2)"
                f"   GFLOP/s batched {flops / batched:4.0f}, loop {flops / loop:4.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
