"""Benchmark 3: one AdamW step with optfn's merged groups against other groupings.

On a GPT-2-small-sized stack (12 x TransformerEncoderLayer, d=768): optfn's minimal groups
(default rules + head LR x5: four groups) against one group for all parameters, two hand-made
groups (decay / no decay) and one group per parameter. Only ``optimizer.step()`` is timed
(gradients are set once). Prints medians and the ratio to the single-group time.

    python benchmarks/bench_optimizer_step.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys

import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _timing import header, interleaved_medians
from bench_param_groups import gpt2_small

from optfn import AdamWSpec, ParamRules, make_optimizer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 layers of d=256, few repeats (CI)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    header(f"bench_optimizer_step: AdamW step on {args.device}")
    torch.manual_seed(0)
    model = (gpt2_small(2, 256) if args.quick else gpt2_small()).to(args.device)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    named = list(model.named_parameters())
    params = [p for _, p in named]
    decay = [p for n, p in named if p.ndim > 1 and not n.endswith(".bias")]
    no_decay = [p for n, p in named if not (p.ndim > 1 and not n.endswith(".bias"))]
    candidates = {
        "one group": lambda: torch.optim.AdamW(params, lr=1e-3),
        "two hand-made groups": lambda: torch.optim.AdamW(
            [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3
        ),
        "optfn merged groups": lambda: make_optimizer(
            model, AdamWSpec(learning_rate=1e-3), ParamRules(lr_scales={"head": 5.0})
        ),
        "one group per param": lambda: torch.optim.AdamW(
            [{"params": [p]} for p in params], lr=1e-3
        ),
    }
    repeats = 3 if args.quick else 10
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    optimizers = {label: build() for label, build in candidates.items()}

    def stepper(opt: torch.optim.Optimizer):  # type: ignore[no-untyped-def]
        def step() -> None:
            opt.step()
            sync()

        return step

    times = interleaved_medians(
        {k: stepper(o) for k, o in optimizers.items()}, repeats=repeats, warmup=2
    )
    for label, opt in optimizers.items():
        print(f"   {label:<22} {len(opt.param_groups):>4} groups  {times[label] * 1e3:9.2f} ms")
    base = times["one group"]
    n = sum(p.numel() for p in params)
    print(f"   {n / 1e6:.1f}M parameters in {len(params)} tensors")
    for label, t in times.items():
        print(f"   ratio {label} / one group: {t / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
