"""Labeled parameter groups: LabelRule matching (first match wins), the values a label sets,
the errors of rules that cannot apply, and configs that carry them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optfn import (
    AdamWSpec,
    LabelRule,
    LayerDecay,
    MuonRouting,
    MuonSpec,
    OptimConfig,
    ParamRules,
    SGDSpec,
    from_toml,
    make_optimizer,
    make_param_groups,
    partition_params,
    to_toml,
)
from optfn.errors import SpecError, SpecTypeError


def _net() -> nn.Module:
    m = nn.Module()
    m.embed = nn.Embedding(10, 8)
    m.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
    m.norm = nn.LayerNorm(8)
    m.head = nn.Linear(8, 3)
    return m


def _groups(opt: torch.optim.Optimizer) -> dict[str, dict[str, object]]:
    """Each parameter name -> its group's values (without params)."""
    out = {}
    for g in opt.param_groups:
        values = {k: v for k, v in g.items() if k not in ("params", "param_names")}
        for n in g["param_names"]:
            out[n] = values
    return out


def test_first_matching_rule_wins_and_sets_its_values() -> None:
    rules = ParamRules(
        labels=[
            LabelRule(label="head_w", names=["head.weight"], lr_scale=10.0),
            LabelRule(label="head", names=["head.*"], lr_scale=2.0, hyper={"betas": [0.8, 0.95]}),
            LabelRule(label="matrices", min_ndim=2, weight_decay_scale=0.5),
        ]
    )
    opt = make_optimizer(_net(), AdamWSpec(learning_rate=0.1, weight_decay=0.2), rules)
    g = _groups(opt)
    assert g["head.weight"]["label"] == "head_w" and g["head.weight"]["lr"] == pytest.approx(1.0)
    assert g["head.weight"]["betas"] == (0.9, 0.999)  # head_w won: head's betas do not apply
    assert g["head.bias"]["label"] == "head" and g["head.bias"]["betas"] == (0.8, 0.95)
    assert g["head.bias"]["lr"] == pytest.approx(0.2) and g["head.bias"]["weight_decay"] == 0.0
    assert g["blocks.0.weight"]["label"] == "matrices"
    assert g["blocks.0.weight"]["weight_decay"] == pytest.approx(0.1)
    assert g["embed.weight"]["label"] == "matrices"
    assert g["norm.weight"]["label"] == "default" and g["norm.weight"]["weight_decay"] == 0.0
    assert g["blocks.0.bias"]["label"] == "default"
    # every group holds exactly one label, and labels never share a group
    for group in opt.param_groups:
        assert len({n.split(".")[0] for n in group["param_names"]}) >= 1
        assert isinstance(group["label"], str)


def test_weight_decay_value_replaces_and_keeps_no_decay_params_at_zero() -> None:
    rules = ParamRules(labels=[LabelRule(label="blocks", names=["blocks.*"], weight_decay=0.7)])
    g = _groups(make_optimizer(_net(), AdamWSpec(weight_decay=0.1), rules))
    assert g["blocks.1.weight"]["weight_decay"] == 0.7
    assert g["blocks.1.bias"]["weight_decay"] == 0.0  # a bias does not decay (ParamRules())
    assert g["head.weight"]["weight_decay"] == 0.1


def test_zero_lr_scale_freezes_at_lr_zero_while_state_moves() -> None:
    torch.manual_seed(0)
    model = _net()
    rules = ParamRules(labels=[LabelRule(label="frozen", names=["head.*"], lr_scale=0.0)])
    opt = make_optimizer(model, AdamWSpec(learning_rate=0.1, weight_decay=0.0), rules)
    before = model.head.weight.detach().clone()
    model.head(model.embed(torch.tensor([1, 2])).tanh()).sum().backward()
    opt.step()
    assert torch.equal(model.head.weight, before)
    assert opt.state[model.head.weight]["exp_avg"].abs().sum() > 0


def test_labels_compose_with_lr_scales_and_layer_decay() -> None:
    rules = ParamRules(
        lr_scales={"head": 4.0},
        layer_decay=LayerDecay(rate=0.5),
        labels=[LabelRule(label="h", names=["head.*"], lr_scale=3.0)],
    )
    part = partition_params(_net(), rules)
    head = part.entry("head.weight")
    assert head.label == "h" and head.lr_scale == pytest.approx(4.0 * 3.0 * 1.0)
    block0 = part.entry("blocks.0.weight")
    assert block0.label == "default" and block0.lr_scale == pytest.approx(0.5**2)


def test_types_and_ndim_conditions() -> None:
    rules = ParamRules(
        labels=[
            LabelRule(label="norms", types=["*Norm"]),
            LabelRule(label="vectors", max_ndim=1),
            LabelRule(label="tables", types=["torch.nn.Embedding"]),
        ]
    )
    part = partition_params(_net(), rules)
    labels = dict(zip(part.names, part.labels, strict=True))
    assert labels["norm.weight"] == labels["norm.bias"] == "norms"
    assert labels["head.bias"] == "vectors" and labels["embed.weight"] == "tables"
    assert labels["head.weight"] == "default"


def test_label_routes_override_muon_routing() -> None:
    rules = ParamRules(
        muon=MuonRouting.hidden_matrices(),
        labels=[
            LabelRule(label="adam_blocks", names=["blocks.1.weight"], route="adamw"),
            LabelRule(label="muon_head", names=["head.weight"], route="muon", lr_scale=0.5),
        ],
    )
    part = partition_params(_net(), rules, spec=MuonSpec())
    routes = dict(zip(part.names, part.routes, strict=True))
    assert routes["blocks.0.weight"] == "muon" and routes["blocks.1.weight"] == "adamw"
    assert routes["head.weight"] == "muon"
    assert part.entry("head.weight").lr_scale == 0.5  # a label's scale applies on Muon too
    assert "label 'muon_head'" in part.reasons("head.weight")[0]
    groups = make_param_groups(part)
    head = next(g for g in groups if "head.weight" in g["param_names"])
    assert head["route"] == "muon" and head["lr"] == pytest.approx(0.02 * 0.5)


def test_hyper_per_route_and_label() -> None:
    rules = ParamRules(
        muon=MuonRouting.hidden_matrices(),
        labels=[
            LabelRule(label="m", names=["blocks.*"], min_ndim=2, hyper={"momentum": 0.9}),
            LabelRule(label="a", names=["head.*"], hyper={"betas": [0.5, 0.6], "eps": 1e-10}),
        ],
    )
    g = _groups(make_optimizer(_net(), MuonSpec(), rules))
    assert g["blocks.0.weight"]["momentum"] == 0.9 and g["blocks.0.weight"]["route"] == "muon"
    assert g["head.weight"]["betas"] == (0.5, 0.6) and g["head.weight"]["eps"] == 1e-10
    assert g["embed.weight"]["betas"] == (0.9, 0.999)


def test_unused_rule_is_an_error_naming_the_shadowing_rule() -> None:
    rules = ParamRules(
        labels=[LabelRule(label="all", names=["*"]), LabelRule(label="head", names=["head.*"])]
    )
    with pytest.raises(SpecError, match=r"labels\[1\].*'head' wins no parameter.*labels\[0\]"):
        partition_params(_net(), rules)
    with pytest.raises(SpecError, match=r"labels\[0\].*'typo' matches no trainable parameter"):
        partition_params(_net(), ParamRules(labels=[LabelRule(label="typo", names=["haed.*"])]))


def test_shadowed_type_rule_names_a_parameter_of_that_type() -> None:
    """Type rules are decided per module class during the walk; the message for a type rule
    that wins nothing still names one of the parameters of that type and the earlier rule."""
    rules = ParamRules(
        labels=[
            LabelRule(label="all1d", max_ndim=1),
            LabelRule(label="norms", types=["LayerNorm"]),
        ]
    )
    with pytest.raises(
        SpecError, match=r"labels\[1\].*'norms' wins no parameter.*'norm\.weight'.*labels\[0\]"
    ):
        partition_params(_net(), rules)
    with pytest.raises(SpecError, match=r"labels\[0\].*'bn' matches no trainable parameter"):
        partition_params(_net(), ParamRules(labels=[LabelRule(label="bn", types=["BatchNorm*"])]))


@pytest.mark.parametrize(
    ("rule", "spec", "message"),
    [
        (
            LabelRule(label="x", names=["head.*"], hyper={"momentum": 0.9}),
            AdamWSpec(),
            r"labels\[0\]\.hyper\['momentum'\]: route 'adamw' of AdamWSpec has no group key",
        ),
        (
            LabelRule(label="x", names=["head.*"], hyper={"betas": [0.9, 1.0]}),
            AdamWSpec(),
            r"labels\[0\]\.hyper\['betas'\]: must be finite and in \[0, 1\), got 1\.0",
        ),
        (
            LabelRule(label="x", names=["head.*"], hyper={"nesterov": True}),
            SGDSpec(),
            r"labels\[0\]\.hyper\['nesterov'\]: .*momentum > 0",
        ),
        (
            LabelRule(label="x", names=["head.*"], route="muon"),
            AdamWSpec(),
            r"labels\[0\]\.route: AdamWSpec has the routes 'adamw', got 'muon'",
        ),
    ],
)
def test_bad_label_values_are_refused_before_anything_is_built(
    rule: LabelRule, spec: object, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        make_optimizer(_net(), spec, ParamRules(labels=[rule]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"label": "default"}, SpecError, r"LabelRule\.label: 'default' is the label"),
        ({"label": "a b"}, SpecError, r"LabelRule\.label: must be a name"),
        ({"label": 3}, SpecTypeError, r"LabelRule\.label: must be a string"),
        ({"label": "x", "lr_scale": -1.0}, SpecError, r"LabelRule\.lr_scale"),
        ({"label": "x", "lr_scale": float("nan")}, SpecError, r"LabelRule\.lr_scale"),
        ({"label": "x", "hyper": {"lr": 0.1}}, SpecError, r"hyper\['lr'\]: .*use lr_scale"),
        ({"label": "x", "hyper": {"eps": "1e-8"}}, SpecTypeError, r"hyper\['eps'\]"),
        ({"label": "x", "hyper": {"eps": float("inf")}}, SpecError, r"hyper\['eps'\]"),
        ({"label": "x", "hyper": {"betas": []}}, SpecError, r"hyper\['betas'\]"),
        ({"label": "x", "hyper": 0.5}, SpecTypeError, r"LabelRule\.hyper"),
        ({"label": "x", "min_ndim": 3, "max_ndim": 1}, SpecError, r"LabelRule\.max_ndim"),
        ({"label": "x", "names": ["a b"]}, SpecError, r"LabelRule\.names\[0\]"),
        ({"label": "x", "types": ["a-b"]}, SpecError, r"LabelRule\.types\[0\]"),
        ({"label": "x", "route": 1}, SpecTypeError, r"LabelRule\.route"),
        (
            {"label": "x", "weight_decay": 0.1, "weight_decay_scale": 1.0},
            SpecError,
            "not both",
        ),
    ],
)
def test_label_rule_construction_errors(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        LabelRule(**kwargs)  # type: ignore[arg-type]


def test_duplicate_labels_refused() -> None:
    with pytest.raises(SpecError, match=r"ParamRules\.labels\[1\]\.label: 'a' is already"):
        ParamRules(labels=[LabelRule(label="a"), LabelRule(label="a", names=["x"])])
    with pytest.raises(SpecTypeError, match=r"ParamRules\.labels\[0\]"):
        ParamRules(labels=[{"label": "a"}])  # type: ignore[list-item]


def test_explain_and_plan_show_labels() -> None:
    rules = ParamRules(
        labels=[LabelRule(label="head", names=["head.*"], lr_scale=5.0, hyper={"eps": 1e-6})]
    )
    table = partition_params(_net(), rules).explain()
    header = table.splitlines()[0].split()
    assert "label" in header
    head_line = next(line for line in table.splitlines() if line.startswith("head.weight"))
    assert "head" in head_line.split() and "lr x5" in head_line and "eps 1e-06" in head_line


def test_labels_round_trip_through_toml_and_build_the_same_groups() -> None:
    cfg = OptimConfig(
        optimizer=AdamWSpec(weight_decay=0.1),
        rules=ParamRules(
            labels=[
                LabelRule(
                    label="head",
                    names=["head.*"],
                    types=["Linear"],
                    max_ndim=2,
                    lr_scale=2.0,
                    weight_decay=0.3,
                    hyper={"betas": (0.8, 0.9), "amsgrad": True},
                )
            ]
        ),
    )
    text = to_toml(cfg)
    back = from_toml(text, OptimConfig)
    assert back == cfg
    model = _net()
    a = _groups(make_optimizer(model, cfg.optimizer, cfg.rules))
    b = _groups(make_optimizer(model, back.optimizer, back.rules))
    assert a == b


def test_unknown_key_in_a_label_table_is_a_config_error() -> None:
    text = """
type = "param_rules"
version = 1
[[labels]]
label = "x"
lr_scael = 2.0
"""
    from optfn import ConfigError

    with pytest.raises(ConfigError, match="lr_scael"):
        from_toml(text, ParamRules)


def test_make_param_groups_with_another_spec_of_the_same_kind_applies_labels() -> None:
    rules = ParamRules(labels=[LabelRule(label="h", names=["head.*"], hyper={"eps": 1e-3})])
    part = partition_params(_net(), rules, spec=AdamWSpec())
    groups = make_param_groups(part, AdamWSpec(learning_rate=0.5, eps=1e-5))
    by = {n: g for g in groups for n in g["param_names"]}
    assert by["head.weight"]["eps"] == 1e-3 and by["head.weight"]["lr"] == 0.5
    assert by["blocks.0.weight"]["eps"] == 1e-5


# ---- schedules per label ----------------------------------------------------------------


def test_label_schedules_replace_the_general_one_for_their_groups_only() -> None:
    from optfn import HyperSchedules, make_scheduler
    from optfn.schedules import Constant, LinearDecay, PiecewiseConstant, Product

    rules = ParamRules(labels=[LabelRule(label="head", names=["head.*"])])
    opt = make_optimizer(_net(), AdamWSpec(learning_rate=1.0, weight_decay=0.5), rules)
    frozen_first = Product(
        factors=(LinearDecay(decay_steps=10), PiecewiseConstant(boundaries=(3,), values=(0, 1)))
    )
    hs = HyperSchedules(
        lr=LinearDecay(decay_steps=10),
        weight_decay=Constant(),
        labels={"head": HyperSchedules(lr=frozen_first)},
    )
    sched = make_scheduler(opt, hs)
    for step in range(6):
        for g in opt.param_groups:
            want = 1.0 - step / 10 if g["label"] == "default" or step >= 3 else 0.0
            assert g["lr"] == pytest.approx(want), (step, g["label"])
            assert g["weight_decay"] in (0.0, 0.5)  # the general weight-decay schedule
        opt.step()
        sched.step()
    state = sched.state_dict()
    fresh = make_optimizer(_net(), AdamWSpec(learning_rate=1.0, weight_decay=0.5), rules)
    again = make_scheduler(fresh, hs)
    again.load_state_dict(state)
    assert [g["lr"] for g in fresh.param_groups] == [g["lr"] for g in opt.param_groups]


def test_label_schedules_must_name_labels_and_keys_the_groups_have() -> None:
    from optfn import HyperSchedules, make_scheduler
    from optfn.schedules import Constant

    rules = ParamRules(labels=[LabelRule(label="head", names=["head.*"])])
    opt = make_optimizer(_net(), AdamWSpec(), rules)
    with pytest.raises(SpecError, match=r"labels\['haed'\]: no param group .* label 'haed'"):
        make_scheduler(opt, HyperSchedules(labels={"haed": HyperSchedules(lr=Constant())}))
    with pytest.raises(SpecError, match=r"momentum: no param group of AdamW labelled 'head'"):
        make_scheduler(opt, HyperSchedules(labels={"head": HyperSchedules(momentum=Constant())}))
    with pytest.raises(SpecError, match=r"cannot have routes or labels"):
        HyperSchedules(
            labels={"head": HyperSchedules(lr=Constant(), routes={"lr": "adamw"})}
        )
    before = [dict(g) for g in opt.param_groups]
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in before]


# ---- one matching vocabulary, and errors that say which ---------------------------------


def test_layer_decay_blocks_with_several_models_names_the_fix() -> None:
    enc = nn.Module()
    enc.blocks = nn.ModuleList([nn.Linear(2, 2)])
    models = {"enc": enc, "head": nn.Linear(2, 2)}
    with pytest.raises(SpecError, match=r"relative to each model .* write 'blocks'"):
        partition_params(models, ParamRules(layer_decay=LayerDecay(rate=0.5, blocks="enc.blocks")))
    part = partition_params(models, ParamRules(layer_decay=LayerDecay(rate=0.5, blocks="blocks")))
    assert part.lr_scales == (0.5, 0.5, 1.0, 1.0)


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("smear_gate", "smear_gate.weight", False),  # a pattern names a parameter ...
        ("smear_gate.*", "smear_gate.weight", True),  # ... or, with '.*', a module's
        ("smear_gate.*", "model.smear_gate.weight", True),
        ("gate.*", "model.smear_gate.weight", False),  # whole components only
        ("blocks.0.*", "enc.blocks.0.fc.weight", True),
        ("blocks.0.*", "enc.blocks.10.fc.weight", False),
        ("bias", "fc.bias", True),
    ],
)
def test_one_name_semantics_for_labels_and_no_decay(pattern: str, name: str, hit: bool) -> None:
    from optfn.routing.patterns import name_matcher

    assert name_matcher((pattern,)).matches(name) is hit
    rule = LabelRule(label="x", names=[pattern])
    from optfn.routing.labels import rule_matches

    assert rule_matches(rule, name, nn.Parameter(torch.zeros(2)), None) is hit


def test_exclude_leaves_parameters_out_of_the_optimizer() -> None:
    model = _net()
    rules = ParamRules(
        layer_decay=LayerDecay(rate=0.5),
        labels=[LabelRule(label="teacher", names=["embed.*", "blocks.0.*"], exclude=True)],
    )
    part = partition_params(model, rules)
    assert part.left_out == ("embed.weight", "blocks.0.weight", "blocks.0.bias")
    assert "embed.weight" not in part.names and len(part) == 6
    assert "left out of the optimizer" in part.explain()
    opt = make_optimizer(model, AdamWSpec(), rules)
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model.embed.weight) not in held and id(model.blocks[1].weight) in held
    # layer decay still counts the blocks the optimizer keeps: block 1 is the last one
    assert part.entry("blocks.1.weight").lr_scale == pytest.approx(0.5)
    with pytest.raises(SpecError, match=r"LabelRule\.exclude: .*lr_scale"):
        LabelRule(label="t", names=["x"], exclude=True, lr_scale=2.0)
    assert from_toml(to_toml(rules), ParamRules) == rules


def test_model_names_may_hold_dots_unless_they_overlap() -> None:
    models = {"student.backbone": _net(), "student.head": nn.Linear(2, 2)}
    rules = ParamRules(
        lr_scales={"student.head": 2.0},
        labels=[LabelRule(label="h", names=["student.head.*"], weight_decay_scale=2.0)],
    )
    part = partition_params(models, rules)
    assert part.entry("student.head.weight").label == "h"
    assert part.entry("student.head.weight").lr_scale == 2.0
    assert part.entry("student.backbone.head.weight").label == "default"
    with pytest.raises(SpecError, match=r"model names 'a' and 'a.b' overlap"):
        partition_params({"a": nn.Linear(2, 2), "a.b": nn.Linear(2, 2)})
    for bad in ("a.", ".a", "a..b", ""):
        with pytest.raises(SpecError, match="neither start nor end with a dot"):
            partition_params({bad: nn.Linear(2, 2)})
