"""Benchmark 1: building param groups, optfn against the alternatives users pick.

optfn (partition_params + make_param_groups, with the default rules and an LR scale) against
a naive one-loop split (``ndim <= 1 or name.endswith('.bias')``, the floor), Hugging Face's
Trainer grouping (``get_parameter_names`` with its norm and bias exclusions) and timm's
``param_groups_weight_decay`` / ``param_groups_layer_decay``, on a GPT-2-small-sized stack and
synthetic models of 1k/10k/100k small parameters. Prints µs per parameter and ratios.

    python benchmarks/bench_param_groups.py [--quick] [--against REF]

``--against REF`` adds optfn as it was at git commit REF (extracted and imported beside the
current one, see ``_baseline.py``) as a candidate, timed round-robin with the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from torch import nn

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _baseline import describe, load
from _timing import header, interleaved_medians

from optfn import AdamWSpec, LabelRule, ParamRules, make_param_groups, partition_params


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.norm = nn.LayerNorm(2)


def synthetic(n_params: int) -> nn.Module:
    """A model of ``n_params`` small parameters (4 per block: Linear + LayerNorm)."""
    return nn.Sequential(*[_Block() for _ in range(n_params // 4)])


def gpt2_small(layers: int = 12, d: int = 768) -> nn.Module:
    layer = nn.TransformerEncoderLayer(d, 12 if d % 12 == 0 else 8, 4 * d, batch_first=True)
    return nn.ModuleDict(
        {
            "embed": nn.Embedding(50257 if d == 768 else 1000, d),
            "blocks": nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).layers,
            "norm": nn.LayerNorm(d),
            "head": nn.Linear(d, 1),
        }
    )


def naive(model: nn.Module) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]


_SPEC = AdamWSpec()
_RULES = {  # built once, as a user would: the rules are config, not per-call work
    True: ParamRules(lr_scales={"0": 5.0}),
    False: ParamRules(lr_scales={"head": 5.0}),
}


def _six_labels(first: str, second: str, third: str) -> tuple[LabelRule, ...]:
    """A six-label recipe: three named parts, norms with their own betas, biases without
    decay, matrices at twice the LR (first match wins)."""
    return (
        LabelRule(label="first", names=[first], lr_scale=0.5),
        LabelRule(label="second", names=[second], hyper={"eps": 1e-10}),
        LabelRule(label="third", names=[third], weight_decay_scale=2.0),
        LabelRule(label="norms", types=["LayerNorm"], hyper={"betas": (0.9, 0.95)}),
        LabelRule(label="biases", names=["*bias"], weight_decay=0.0),
        LabelRule(label="matrices", min_ndim=2, lr_scale=2.0),
    )


_LABELED = {
    True: ParamRules(lr_scales={"0": 5.0}, labels=_six_labels("0.*", "1.*", "2.*")),
    False: ParamRules(lr_scales={"head": 5.0}, labels=_six_labels("embed.*", "head.*", "norm.*")),
}


def optfn_labeled_groups(model: nn.Module) -> list[dict[str, Any]]:
    """optfn with a six-label recipe on top of the default rules."""
    rules = _LABELED[isinstance(model, nn.Sequential)]
    return make_param_groups(partition_params(model, rules, spec=_SPEC), _SPEC)


def optfn_groups(model: nn.Module) -> list[dict[str, Any]]:
    """Everything optfn does: norm types, name rules, an LR scale, minimal groups."""
    rules = _RULES[isinstance(model, nn.Sequential)]
    return make_param_groups(partition_params(model, rules, spec=_SPEC), _SPEC)


def baseline_groups_fn(ref: str) -> Callable[[nn.Module], list[dict[str, Any]]]:
    """The same work as :func:`optfn_groups`, by optfn at commit ``ref``."""
    base = load(ref)
    spec = base.AdamWSpec()
    rules = {
        True: base.ParamRules(lr_scales={"0": 5.0}),
        False: base.ParamRules(lr_scales={"head": 5.0}),
    }

    def groups(model: nn.Module) -> list[dict[str, Any]]:
        r = rules[isinstance(model, nn.Sequential)]
        return base.make_param_groups(base.partition_params(model, r, spec=spec), spec)  # type: ignore[no-any-return]

    return groups


def hf_groups_fn() -> Callable[[nn.Module], list[dict[str, Any]]] | str:
    try:
        from transformers.trainer_pt_utils import get_parameter_names
    except Exception as exc:
        return f"transformers not importable ({type(exc).__name__}: {exc})"

    def hf(model: nn.Module) -> list[dict[str, Any]]:
        # what Trainer.get_decay_parameter_names + create_optimizer do
        names = get_parameter_names(
            model,
            [nn.LayerNorm],
            [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"],
        )
        decay = set(names)
        return [
            {
                "params": [
                    p for n, p in model.named_parameters() if n in decay and p.requires_grad
                ],
                "weight_decay": 0.01,
            },
            {
                "params": [
                    p for n, p in model.named_parameters() if n not in decay and p.requires_grad
                ],
                "weight_decay": 0.0,
            },
        ]

    return hf


def timm_fns() -> dict[str, Callable[[nn.Module], Any]] | str:
    try:
        from timm.optim import param_groups_layer_decay, param_groups_weight_decay
    except Exception as exc:
        return f"timm not importable ({type(exc).__name__}: {str(exc)[:120]})"
    return {
        "timm weight_decay": lambda m: param_groups_weight_decay(m, 0.01),
        "timm layer_decay": lambda m: param_groups_layer_decay(m, 0.01, layer_decay=0.75),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small models, few repeats (CI)")
    ap.add_argument("--against", metavar="REF", help="also time optfn at this git commit")
    args = ap.parse_args(argv)
    header("bench_param_groups: building param groups")
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    repeats = 3 if args.quick else 7
    models: list[tuple[str, nn.Module]] = [(f"synthetic {n // 1000}k", synthetic(n)) for n in sizes]
    models.insert(
        0,
        (
            "gpt2-small-sized" if not args.quick else "transformer (2 x d=256)",
            gpt2_small() if not args.quick else gpt2_small(2, 256),
        ),
    )
    methods: dict[str, Callable[[nn.Module], Any]] = {
        "naive loop": naive,
        "optfn": optfn_groups,
        "optfn 6 labels": optfn_labeled_groups,
    }
    if args.against:
        methods[f"optfn@{args.against}"] = baseline_groups_fn(args.against)
        print(f"   baseline: {describe(args.against)}")
    hf = hf_groups_fn()
    if isinstance(hf, str):
        print(f"   NOTE: Hugging Face baseline not run: {hf}")
    else:
        methods["hugging face"] = hf
    timm = timm_fns()
    if isinstance(timm, str):
        print(f"   NOTE: timm baselines not run: {timm}")
    else:
        methods.update(timm)
    print(
        f"   {'model':<26}{'params':>8}  {'method':<20}{'median ms':>10}{'us/param':>10}"
        f"{'x naive':>9}{'optfn speedup':>15}"
    )
    for label, model in models:
        n = sum(1 for _ in model.parameters())
        times = interleaved_medians(
            {k: (lambda f=f, m=model: f(m)) for k, f in methods.items()}, repeats=repeats
        )
        for k, t in times.items():
            speedup = times[k] / times["optfn"] if k != "optfn" else 1.0
            print(
                f"   {label:<26}{n:>8}  {k:<20}{t * 1e3:>10.2f}{t / n * 1e6:>10.2f}"
                f"{t / times['naive loop']:>9.2f}{speedup:>14.2f}x"
            )
        for k, t in times.items():
            if k == "naive loop":
                continue
            if k.startswith("optfn") and "@" not in k:
                print(f"   ratio {k} / naive loop [{label}]: {t / times['naive loop']:.2f}")
            else:
                print(f"   ratio {k} / optfn [{label}]: {t / times['optfn']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
