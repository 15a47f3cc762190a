"""The labels that partition_params decides during its module walk (LabelPlanner: per module
and per parameter name) are those of assign_labels' full test of every rule per parameter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optfn import LabelRule, ParamRules, partition_params
from optfn.routing.labels import assign_labels
from optfn.routing.walk import iter_modules


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.norm = nn.LayerNorm(3)
        self.gamma = nn.Parameter(torch.ones(3))
        self.attn = nn.MultiheadAttention(4, 2)


def _model() -> nn.Module:
    root = nn.ModuleDict(
        {
            "embed": nn.Embedding(5, 3),
            "blocks": nn.Sequential(*[_Block() for _ in range(3)]),
            "head": nn.Linear(3, 2),
        }
    )
    root.blocks[1].register_module("head", nn.Linear(2, 2))
    return root


def _rows(models: object) -> tuple[list[str], list[nn.Parameter], list[nn.Module]]:
    """Every trainable parameter once, with its module, as partition_params orders them."""
    names, params, owners, seen = [], [], [], set()
    prefixes = [("", models)] if isinstance(models, nn.Module) else list(models.items())  # type: ignore[attr-defined]
    for prefix, m in prefixes:
        for mname, mod in iter_modules(m, f"{prefix}." if prefix else ""):
            for pname, p in mod._parameters.items():
                if p is None or not p.requires_grad or id(p) in seen:
                    continue
                seen.add(id(p))
                names.append(f"{mname}.{pname}" if mname else pname)
                params.append(p)
                owners.append(mod)
    return names, params, owners


_RULE_SETS = {
    "modules, types, ends, ndim": (
        LabelRule(label="first", names=["blocks.0.*"], lr_scale=0.5),
        LabelRule(label="heads", names=["head.*"]),
        LabelRule(label="norms", types=["LayerNorm"]),
        LabelRule(label="biases", names=["*bias"]),
        LabelRule(label="matrices", min_ndim=2),
    ),
    "literals, dotted literals, regex": (
        LabelRule(label="gain", names=["gamma"]),
        LabelRule(label="dotted", names=["fc.weight", "embed.weight"]),
        LabelRule(label="wild", names=["blocks.?.attn.*"], max_ndim=1),
        LabelRule(label="rest", names=["*"]),
    ),
    "types with ndim, names mixed": (
        LabelRule(label="lin2d", types=["Linear"], min_ndim=2, names=["*weight", "head.*"]),
        LabelRule(label="mha", types=["MultiheadAttention"], names=["in_proj_*"]),
        LabelRule(label="vectors", max_ndim=1, names=["1.*", "bias", "*_bias"]),
        LabelRule(label="tail", names=["*.bias", "weight"]),
    ),
}


@pytest.mark.parametrize("which", sorted(_RULE_SETS))
@pytest.mark.parametrize("several", [False, True])
def test_planned_labels_are_the_full_test_labels(which: str, several: bool) -> None:
    rules = _RULE_SETS[which]
    models: object = {"a": _model(), "b": _model()} if several else _model()
    names, params, owners = _rows(models)
    expected = assign_labels(rules, names, params, owners)
    part = partition_params(models, ParamRules(labels=rules))  # type: ignore[arg-type]
    assert list(part.names) == names
    got = [part._why_label[i] for i in range(len(part))]
    assert got == expected
    assert len(set(got)) > 2  # the rules do split the model


def test_module_key_with_a_dot_is_matched_by_its_whole_path() -> None:
    # torch refuses dots in module names, but a module dict written directly can hold one
    model = nn.Sequential(nn.Linear(2, 2))
    inner = nn.Sequential(nn.Linear(2, 2))
    model._modules["x.head"] = inner
    rules = (
        LabelRule(label="heads", names=["head.*"]),
        LabelRule(label="other", names=["*"]),
    )
    names, params, owners = _rows(model)
    expected = assign_labels(rules, names, params, owners)
    part = partition_params(model, ParamRules(labels=rules))
    assert list(part._why_label) == expected
    assert expected.count(0) == 2  # x.head.0.weight and x.head.0.bias


def test_one_rules_object_reused_across_models_and_specs() -> None:
    """Planners and label specs are remembered per (frozen) rules object: reusing one across
    models of other shapes and specs of other numbers gives each call its own right answer."""
    from optfn import AdamWSpec, make_param_groups

    rules = ParamRules(labels=_RULE_SETS["types with ndim, names mixed"])
    wide = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    models: list[object] = [_model(), {"a": _model(), "b": _model()}, _model()]
    for models_ in models:
        names, params, owners = _rows(models_)
        part = partition_params(models_, rules)  # type: ignore[arg-type]
        assert list(part._why_label) == assign_labels(rules.labels, names, params, owners)
    tail = ParamRules(
        labels=[LabelRule(label="w", names=["*weight"], hyper={"eps": 1e-6}), LabelRule(label="r")]
    )
    for beta in (0.5, 0.7, 0.5):
        spec = AdamWSpec(betas=(beta, 0.9))
        groups = make_param_groups(partition_params(wide, tail, spec=spec), spec)
        assert {(g["label"], g["betas"], g["eps"]) for g in groups} == {
            ("w", (beta, 0.9), 1e-6),
            ("r", (beta, 0.9), 1e-8),
        }
