"""One optimizer step: ``MuonWithAdamW`` against ``torch.optim.Muon`` + ``torch.optim.AdamW``.

The model is a GPT-2-small-sized stack of ``nn.TransformerEncoderLayer`` (d=768, 12 heads,
feed-forward 4*d, 12 layers, batch_first) plus a linear head. The split is the same for both
sides: parameters with ndim >= 2 and "transformer" in their name go to Muon (48 matrices of
4 shapes), every other one (biases, norms, the head) to AdamW. Gradients are set once; only the
``.step()`` calls are timed (after warm-up), medians are reported with the ratio
ours / baseline (< 1 means faster). Nothing is asserted.

    python benchmarks/bench_muon_step.py            # full size, CPU (+ CUDA when available)
    python benchmarks/bench_muon_step.py --quick    # d=128, 2 layers: a few seconds

On a CPU without native bfloat16 GEMMs the bfloat16 Newton–Schulz of the full size takes
minutes per step; use ``--layers``/``--repeats``/``--warmup`` to bound the run.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from _timing import header

from optfn.optim.muon import MuonWithAdamW

MUON = {
    "lr": 0.02,
    "weight_decay": 0.1,
    "momentum": 0.95,
    "nesterov": True,
    "ns_coefficients": (3.4445, -4.7750, 2.0315),
    "ns_steps": 5,
    "eps": 1e-7,
    "adjust_lr_fn": "original",
}
ADAMW = {"lr": 3e-4, "weight_decay": 0.01, "betas": (0.9, 0.999), "eps": 1e-8}


class Stack(nn.Module):
    def __init__(self, d_model: int, nhead: int, layers: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=4 * d_model, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, d_model)


def split(
    model: nn.Module,
) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    muon: list[tuple[str, nn.Parameter]] = []
    adamw: list[tuple[str, nn.Parameter]] = []
    for name, p in model.named_parameters():
        (muon if p.ndim >= 2 and "transformer" in name else adamw).append((name, p))
    return muon, adamw


def groups(model: nn.Module) -> list[dict[str, Any]]:
    muon, adamw = split(model)
    return [
        {"params": [p for _, p in muon], "param_names": [n for n, _ in muon], "route": "muon"}
        | MUON,
        {"params": [p for _, p in adamw], "param_names": [n for n, _ in adamw], "route": "adamw"}
        | ADAMW,
    ]


def set_grads(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen).to(p.device)


def timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    torch.manual_seed(0)
    ours_model = Stack(args.d_model, args.nhead, args.layers).to(device)
    base_model = copy.deepcopy(ours_model)
    set_grads(ours_model, 1)
    set_grads(base_model, 1)

    ours = MuonWithAdamW(groups(ours_model))
    muon, adamw = split(base_model)
    base_muon = torch.optim.Muon([p for _, p in muon], **MUON)  # type: ignore[arg-type]
    base_adamw = torch.optim.AdamW([p for _, p in adamw], **ADAMW)  # type: ignore[arg-type]

    def base_step() -> None:
        base_muon.step()  # type: ignore[no-untyped-call]
        base_adamw.step()

    def ours_step() -> None:
        ours.step()

    t_ours: list[float] = []
    t_base: list[float] = []
    for i in range(args.warmup + args.repeats):
        # alternate the order so that drift (clocks, caches) hits both sides alike
        pair = [(ours_step, t_ours), (base_step, t_base)]
        for fn, out in pair if i % 2 == 0 else pair[::-1]:
            dt = timed(fn, device)
            if i >= args.warmup:
                out.append(dt)
    same = all(
        torch.equal(p, q)
        for p, q in zip(ours_model.parameters(), base_model.parameters(), strict=True)
    )
    shapes = sorted({tuple(p.shape) for _, p in muon})
    return {
        "device": str(device),
        "muon_matrices": len(muon),
        "muon_shapes": shapes,
        "adamw_params": len(adamw),
        "ours": statistics.median(t_ours),
        "base": statistics.median(t_base),
        "bit_identical": same,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="d=128, 4 heads, 2 layers")
    parser.add_argument("--layers", type=int, default=None, help="default 12 (quick: 2)")
    parser.add_argument("--d-model", type=int, default=None, help="default 768 (quick: 128)")
    parser.add_argument("--nhead", type=int, default=None, help="default 12 (quick: 4)")
    parser.add_argument("--warmup", type=int, default=None, help="default 1")
    parser.add_argument("--repeats", type=int, default=None, help="default 5")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    quick = args.quick
    args.layers = args.layers if args.layers is not None else (2 if quick else 12)
    args.d_model = args.d_model if args.d_model is not None else (128 if quick else 768)
    args.nhead = args.nhead if args.nhead is not None else (4 if quick else 12)
    args.warmup = args.warmup if args.warmup is not None else 1
    args.repeats = args.repeats if args.repeats is not None else 5
    if args.repeats < 1 or args.warmup < 0 or args.layers < 1:
        parser.error("--repeats and --layers must be >= 1, --warmup >= 0")

    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = [torch.device("cpu")]
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
    elif args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    else:
        devices = [torch.device(args.device)]

    header("bench_muon_step: one MuonWithAdamW step vs torch.optim.Muon + torch.optim.AdamW")
    print(
        f"   d={args.d_model} heads={args.nhead} layers={args.layers} "
        f"warmup={args.warmup} repeats={args.repeats}"
    )
    for device in devices:
        r = bench(args, device)
        dev = r["device"]
        print(
            f"   [{dev}] muon: {r['muon_matrices']} matrices {r['muon_shapes']}; "
            f"adamw: {r['adamw_params']} tensors"
        )
        print(f"   [{dev}] MuonWithAdamW.step       {r['ours'] * 1e3:10.1f} ms (median)")
        print(f"   [{dev}] Muon.step + AdamW.step   {r['base'] * 1e3:10.1f} ms (median)")
        print(f"   [{dev}] params bit-identical after all steps: {r['bit_identical']}")
        print(f"   ratio MuonWithAdamW / (Muon + AdamW) on {dev}: {r['ours'] / r['base']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
