"""The recipe zoo: each ``examples/recipes/*.toml`` against the original code it reproduces.

Each recipe is built exactly as a user builds it (``load_config``, ``make_optimizer``,
``make_scheduler``) and compared with the original's optimizer setup
(``tests/recipes/ref_<name>.py``: vendored original code, or a faithful re-statement citing
its lines):

- the same parameter -> group assignment: the two optimizers' groups split the parameters
  the same way (optfn's groups may merge reference groups whose values are equal at every
  step, and only those);
- every hyper-parameter of every parameter at every step of the run: optfn's scheduler is
  stepped as the trainer steps it, the reference's schedule is applied as its training loop
  applies it, and each value must agree within 1e-12 relative plus 1e-15 of the key's peak
  absolute value over the run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import optfn

#: The comparisons step the schedulers alone (reading hyper-parameters needs no optimizer step).
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Detected call of `lr_scheduler.step\(\)`:UserWarning"
)

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "recipes"

#: Group keys that say how torch computes, not what: never compared.
_FLAGS = frozenset(
    {"params", "param_names", "foreach", "fused", "capturable", "differentiable", "route", "label"}
)
#: The originals' bookkeeping keys, whose effect is in ``lr`` / ``weight_decay`` (timm's
#: ``lr_scale``, DINOv2's multipliers and last-layer flag, names): compared through those.
_BOOKKEEPING = frozenset(
    {"lr_scale", "lr_multiplier", "wd_multiplier", "is_last_layer", "name", "initial_lr"}
)
#: Keys every reference must have the same value for (each recipe's optimizer holds them).
REL, ABS = 1e-12, 1e-15


def _ref(name: str) -> ModuleType:
    return importlib.import_module(f"tests.recipes.ref_{name}")


def build(name: str, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
    """The recipe file, built exactly as the README says."""
    cfg = optfn.load_config(RECIPES / f"{name}.toml")
    opt = optfn.make_optimizer(model, cfg.optimizer, cfg.rules)
    sched = optfn.make_scheduler(opt, cfg.schedule)
    return opt, sched


def _reference_groups(ref: ModuleType, model: nn.Module) -> list[dict[str, Any]]:
    groups = ref.reference_param_groups(model)
    for g in groups:
        for k, v in ref.REFERENCE_DEFAULTS.items():
            g.setdefault(k, v)
    return groups


def _flat(group: dict[str, Any], keys: list[str]) -> list[float]:
    out: list[float] = []
    for k in keys:
        v = group[k]
        if isinstance(v, tuple | list):
            out.extend(float(x) for x in v)
        else:
            out.append(float(v))
    return out


def compare(
    name: str,
    model: nn.Module,
    steps: int,
    *,
    ref: ModuleType | None = None,
    apply: Callable[[list[dict[str, Any]], int], None] | None = None,
) -> dict[str, float]:
    """Build both sides on ``model``, check the grouping, then every value at every step.
    Returns the largest relative difference of each key (for the notes)."""
    ref = _ref(name) if ref is None else ref
    apply = ref.apply_schedule if apply is None else apply
    opt, sched = build(name, model)
    ref_groups = _reference_groups(ref, model)

    # the same parameters, each in exactly one group on both sides
    ours = {id(p): i for i, g in enumerate(opt.param_groups) for p in g["params"]}
    theirs = {id(p): i for i, g in enumerate(ref_groups) for p in g["params"]}
    assert ours.keys() == theirs.keys(), "optfn and the original optimize different parameters"
    assert sum(len(g["params"]) for g in opt.param_groups) == len(ours)
    pairs = sorted({(ours[p], theirs[p]) for p in ours})
    # optfn's grouping is the original's or merges some of its groups (checked below to have
    # equal values at every step): never does one original group split across optfn groups
    split = {r for _, r in pairs if sum(1 for _, r2 in pairs if r2 == r) > 1}
    assert not split, f"original groups {sorted(split)} are split across optfn groups"

    keys = sorted(
        k
        for k in ref_groups[0]
        if k not in _FLAGS | _BOOKKEEPING
        and isinstance(ref_groups[0][k], int | float | tuple | list | bool)
    )
    for g in opt.param_groups:
        missing = [k for k in keys if k not in g]
        assert not missing, f"optfn's group lacks {missing}"
    # keys only optfn's groups hold would be hyper-parameters the original does not have
    extra = {
        k
        for g in opt.param_groups
        for k in g
        if k not in _FLAGS and k not in keys and not k.startswith("initial_")
    }
    assert extra <= {"decoupled_weight_decay", "amsgrad", "maximize"} or not extra, extra

    a = np.empty((steps, len(pairs), len(_flat(ref_groups[0], keys))))
    b = np.empty_like(a)
    og, rg = opt.param_groups, ref_groups
    for step in range(steps):
        apply(rg, step)
        if step:
            sched.step()
        for j, (o, r) in enumerate(pairs):
            a[step, j] = _flat(og[o], keys)
            b[step, j] = _flat(rg[r], keys)

    peak = np.abs(b).max(axis=(0, 1))
    tol = REL * np.abs(b) + ABS * peak
    bad = np.argwhere(np.abs(a - b) > tol)
    if len(bad):
        s, j, c = bad[0]
        raise AssertionError(
            f"{name}: {len(bad)} values differ; first at step {s}, groups {pairs[j]}, "
            f"column {c} of {keys}: optfn {a[s, j, c]!r}, original {b[s, j, c]!r}"
        )
    # merged original groups really are equal at every step
    for o in {o for o, _ in pairs}:
        cols = [j for j, (o2, _) in enumerate(pairs) if o2 == o]
        for j in cols[1:]:
            np.testing.assert_array_equal(b[:, cols[0]], b[:, j])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(b != 0, np.abs(a - b) / np.abs(b), np.abs(a - b))
    flat_cols = []
    for k in keys:
        n = len(_flat({k: ref_groups[0][k]}, [k]))
        flat_cols.extend([k] * n)
    worst: dict[str, float] = {}
    for c, k in enumerate(flat_cols):
        worst[k] = max(worst.get(k, 0.0), float(rel[:, :, c].max()))
    return worst


# ---- the recipes ------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_nanogpt(bias: bool) -> None:
    ref = _ref("nanogpt")
    model = ref.build_model(bias=bias)
    steps = ref.RUN["steps"] if not bias else 3000  # the schedule once in full; groups both
    worst = compare("nanogpt", model, steps)
    assert worst["lr"] <= REL


@pytest.mark.parametrize("arch", ["vit_small_patch16_224", "vit_base_patch16_clip_224"])
def test_timm_vit_finetune(arch: str) -> None:
    ref = _ref("timm_vit")
    compare("timm_vit_finetune", ref.build_model(arch), ref.RUN["steps"], ref=ref)


def test_hf_trainer_llama() -> None:
    ref = _ref("hf_trainer_llama")
    compare("hf_trainer_llama", ref.build_model(), ref.RUN["steps"], ref=ref)


@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_torchtitan_llama3(layout: str) -> None:
    ref = _ref("torchtitan_llama3")
    compare("torchtitan_llama3", ref.build_model(layout=layout), ref.RUN["steps"], ref=ref)


def test_every_recipe_file_is_small_and_names_its_source() -> None:
    for path in sorted(RECIPES.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        assert len(text) < 8192, f"{path.name} is {len(text)} bytes: a recipe is not a table"
        assert text.startswith("#"), f"{path.name} must say what it reproduces"
        assert "commit" in text or "1.0.31" in text or "5.25.0" in text, path.name
        optfn.load_config(path)  # and it loads


@pytest.mark.parametrize("block_chunks", [0, 4])
def test_dinov2(block_chunks: int) -> None:
    ref = _ref("dinov2")
    model = ref.build_model(block_chunks=block_chunks)
    if block_chunks:  # the chunked layout reads its block index one level deeper
        cfg = optfn.load_config(RECIPES / "dinov2.toml")
        ld = cfg.rules.layer_decay
        assert ld is not None
        import attrs

        rules = attrs.evolve(cfg.rules, layer_decay=attrs.evolve(ld, blocks="backbone.blocks.*"))
        opt = optfn.make_optimizer(model, cfg.optimizer, rules)
        ref_groups = _reference_groups(ref, model)
        ref.apply_schedule(ref_groups, 20_000)
        sched = optfn.make_scheduler(opt, cfg.schedule)
        for _ in range(20_000):
            sched.step()
        lr_of = {id(p): g["lr"] for g in ref_groups for p in g["params"]}
        for g in opt.param_groups:
            for p in g["params"]:
                assert g["lr"] == pytest.approx(lr_of[id(p)], rel=REL)
        return
    compare("dinov2", model, ref.RUN["steps"], ref=ref)


def _modded_values(group: dict[str, Any], optfn_side: bool) -> dict[str, Any]:
    """The values that reach one parameter's update, on either side. The original keeps a
    label's multipliers apart from ``lr``/``weight_decay`` (``lr_mul``, ``wd_mul``) and applies
    them in the update; optfn bakes them into the group (a label's ``lr_scale`` and
    ``weight_decay_scale``). NorMuon's shape factor ``sqrt(max(1, rows/cols))`` is part of the
    update on both sides (the original folds it into ``lr_mul``, optfn computes it)."""
    if optfn_side:
        route = group["route"]
        out = {"route": route, "lr": group["lr"], "weight_decay": group["weight_decay"]}
        if route == "adam":
            out.update(betas=tuple(group["betas"]), eps=group["eps"])
        else:
            pm = group.get("per_matrix_lr_mul")
            out.update(
                momentum=group["momentum"],
                beta2=group["beta2"],
                per_matrix_lr_mul=None if pm is None else tuple(pm),
            )
        return out
    route = group["optim"]
    out = {"route": route, "weight_decay": group["weight_decay"] * group["wd_mul"]}
    if route == "adam":
        out.update(lr=group["lr"] * group["lr_mul"], betas=tuple(group["adam_betas"]))
        out["eps"] = group["eps"]
    else:
        pm = group["per_matrix_lr_mul"]
        out.update(
            lr=group["lr"],
            momentum=group["momentum"],
            beta2=group["beta2"],
            per_matrix_lr_mul=None if pm is None else tuple(pm),
        )
    return out


def test_modded_nanogpt() -> None:
    """Every parameter of the speedrun's table: its route, and every value that reaches its
    update, at every step 0 .. 1284."""
    ref = _ref("modded_nanogpt")
    model = ref.build_model()
    opt, sched = build("modded_nanogpt", model)
    ref_groups = ref.reference_param_groups(model)
    theirs = {id(g["params"][0]): g for g in ref_groups}
    ours = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert ours.keys() == theirs.keys()
    for group in opt.param_groups:  # a NorMuon group holds momentum and no betas, and back
        assert ("momentum" in group) is (group["route"] == "normuon") is ("betas" not in group)
    worst = 0.0
    for step in range(ref.RUN["steps"]):
        ref.apply_schedule(ref_groups, step)
        if step:
            sched.step()
        for pid, g in ours.items():
            a, b = _modded_values(g, True), _modded_values(theirs[pid], False)
            assert a.keys() == b.keys(), (step, a, b)
            for k in a:
                x, y = a[k], b[k]
                if isinstance(y, float):
                    assert abs(x - y) <= REL * abs(y) + ABS, (step, k, x, y)
                    if y:
                        worst = max(worst, abs(x - y) / abs(y))
                else:
                    assert x == y, (step, k, x, y)
    assert worst <= REL


def test_plan_on_a_recipe_shows_labels(capsys: pytest.CaptureFixture[str]) -> None:
    from optfn.cli import main

    code = main(
        [
            "plan",
            "--model",
            "tests.recipes.ref_dinov2:build_model",
            "--config",
            str(RECIPES / "dinov2.toml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "label" in out and "last_layer" in out
    row = next(line for line in out.splitlines() if "last_layer.weight_v" in line)
    assert "last_layer" in row.split("│")[4]  # the label column
