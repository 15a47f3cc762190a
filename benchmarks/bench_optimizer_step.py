"""Benchmark 3: one optimizer step: optfn's merged groups, and each ``implementation``.

On a GPT-2-small-sized stack (12 x TransformerEncoderLayer, d=768), two tables:

- ``groups``: one AdamW step with optfn's minimal groups (default rules + head LR x5: four
  groups) against one group for all parameters, two hand-made groups (decay / no decay) and
  one group per parameter; ratios to the single-group time.
- ``implementations``: for AdamW, Adam, SGD (momentum 0.9) and Adagrad built by
  ``make_optimizer``, the step time of each ``implementation`` torch accepts on the device
  (``"auto"``, ``"foreach"``, ``"fused"``, ``"for_loop"``), as ratios to ``"auto"`` (torch's
  default) measured in the same run, interleaved.

Only ``optimizer.step()`` is timed (gradients are set once). ``--quick`` (CI) is a 2-layer
d=256 model with few repeats and, unless ``--table`` says otherwise, the groups table only.

    python benchmarks/bench_optimizer_step.py [--quick] [--device cuda] [--table all]
"""

from __future__ import annotations

import argparse
import sys

import attrs
import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _timing import header, interleaved_medians
from bench_param_groups import gpt2_small

from optfn import ParamRules, make_optimizer
from optfn.specs import (
    AdagradSpec,
    AdamSpec,
    AdamWSpec,
    OptimizerSpecification,
    SGDSpec,
)

#: The optimizers of the implementations table, and the implementations each offers.
KINDS: dict[str, tuple[OptimizerSpecification, tuple[str, ...]]] = {
    "AdamW": (AdamWSpec(learning_rate=1e-4), ("auto", "foreach", "fused", "for_loop")),
    "Adam": (AdamSpec(learning_rate=1e-4), ("auto", "foreach", "fused", "for_loop")),
    "SGD momentum": (
        SGDSpec(learning_rate=1e-3, momentum=0.9, weight_decay=1e-4),
        ("auto", "foreach", "fused", "for_loop"),
    ),
    "Adagrad": (AdagradSpec(learning_rate=1e-3), ("auto", "foreach", "fused", "for_loop")),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 layers of d=256, few repeats (CI)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--table",
        choices=("groups", "implementations", "all"),
        default=None,
        help="which table (default: all; groups only with --quick)",
    )
    args = ap.parse_args(argv)
    table = args.table or ("groups" if args.quick else "all")
    if table in ("groups", "all"):
        groups_table(args.quick, args.device)
    if table in ("implementations", "all"):
        implementations_table(args.quick, args.device)
    return 0


def _sync(device: str):  # type: ignore[no-untyped-def]
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _stepper(opt: torch.optim.Optimizer, sync):  # type: ignore[no-untyped-def]
    def step() -> None:
        opt.step()
        sync()

    return step


def implementations_table(quick: bool, device: str) -> None:
    """Each implementation's step time, per optimizer, as a ratio to ``"auto"``."""
    header(f"bench_optimizer_step: step time per implementation on {device}")
    torch.manual_seed(0)
    model = (gpt2_small(2, 256) if quick else gpt2_small()).to(device)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    n = sum(p.numel() for p in model.parameters())
    print(f"   {n / 1e6:.1f}M parameters in {len(list(model.parameters()))} tensors")
    repeats = 3 if quick else 10
    sync = _sync(device)
    rules = ParamRules(lr_scales={"head": 5.0})
    results: list[tuple[str, str, float, float]] = []
    for name, (spec, choices) in KINDS.items():
        # one kind at a time (its optimizers' state is freed before the next kind)
        optimizers = {}
        for impl in choices:
            try:
                optimizers[impl] = make_optimizer(
                    model, attrs.evolve(spec, implementation=impl), rules
                )
            except ValueError as err:  # e.g. no fused kernel on this device: say so, go on
                print(f"   {name} {impl}: skipped ({err})")
        times = interleaved_medians(
            {impl: _stepper(o, sync) for impl, o in optimizers.items()}, repeats=repeats, warmup=2
        )
        del optimizers
        for impl, t in times.items():
            results.append((name, impl, t, t / times["auto"]))
    print(f"   {'optimizer':<14} {'implementation':<15} {'ms/step':>9}  vs auto")
    for name, impl, t, r in results:
        print(f"   {name:<14} {impl:<15} {t * 1e3:9.2f}  {r:6.3f}")
    for name, impl, _, r in results:
        if impl != "auto":
            print(f"   ratio {name} {impl} / auto: {r:.3f}")


def groups_table(quick: bool, device: str) -> None:
    """One AdamW step with optfn's merged groups against other groupings."""
    header(f"bench_optimizer_step: AdamW step on {device}")
    torch.manual_seed(0)
    model = (gpt2_small(2, 256) if quick else gpt2_small()).to(device)
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
    repeats = 3 if quick else 10
    sync = _sync(device)
    optimizers = {label: build() for label, build in candidates.items()}

    times = interleaved_medians(
        {k: _stepper(o, sync) for k, o in optimizers.items()}, repeats=repeats, warmup=2
    )
    for label, opt in optimizers.items():
        print(f"   {label:<22} {len(opt.param_groups):>4} groups  {times[label] * 1e3:9.2f} ms")
    base = times["one group"]
    n = sum(p.numel() for p in params)
    print(f"   {n / 1e6:.1f}M parameters in {len(params)} tensors")
    for label, t in times.items():
        print(f"   ratio {label} / one group: {t / base:.3f}")


if __name__ == "__main__":
    sys.exit(main())
