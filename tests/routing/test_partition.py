"""partition_params + make_param_groups: invariants (hypothesis) and an independent oracle."""

from __future__ import annotations

import fnmatch
import math
import re
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from optfn import (
    AdamSpec,
    AdamWSpec,
    LabelRule,
    LayerDecay,
    MuonRouting,
    MuonSpec,
    ParamRules,
    RoutingWarning,
    make_param_groups,
    partition_params,
)
from optfn.optim.table import kind_of
from optfn.strategies import modules, optimizer_specs, param_rules

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- an independent, naive oracle --------------------------------------------------------


def _tail_match(pattern: str, name: str) -> bool:
    parts = name.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[i:]), pattern) for i in range(len(parts)))


def _owners(model: nn.Module) -> dict[int, nn.Module]:
    owners: dict[int, nn.Module] = {}
    for _, mod in model.named_modules():
        for p in mod._parameters.values():
            if p is not None:
                owners.setdefault(id(p), mod)
    return owners


def _type_match(cls: type, patterns: tuple[str, ...]) -> bool:
    """A class or one of its bases (not nn.Module, not object) matches a class-name pattern."""
    return any(
        fnmatch.fnmatchcase(c.__name__, t)
        or fnmatch.fnmatchcase(f"{c.__module__}.{c.__qualname__}", t)
        for c in cls.__mro__
        if c not in (nn.Module, object)
        for t in patterns
    )


def _oracle(
    model: nn.Module, rules: ParamRules, spec: object
) -> dict[str, tuple[str, bool, float]]:
    """name -> (route, decays, lr scale), computed the slow, obvious way."""
    owners = _owners(model)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    kind = kind_of(spec)
    is_muon = kind.matrix_route is not None  # Muon and NorMuon: matrices take that route
    blocks = {
        int(m.group(1))
        for n, _ in trainable
        if rules.layer_decay
        and (m := re.match(re.escape(rules.layer_decay.blocks) + r"\.(\d+)\.", n))
    }
    num_blocks = max(blocks) + 1 if blocks else 0
    out = {}
    for name, p in trainable:
        owner = owners[id(p)]
        if _type_match(type(owner), rules.no_decay_types):
            decays = False
        elif any(_tail_match(pat, name) for pat in rules.no_decay_names):
            decays = False
        elif rules.no_decay_max_ndim is not None and p.ndim <= rules.no_decay_max_ndim:
            decays = False
        else:
            decays = True
        route = kind.default_route.name
        mr = rules.muon
        if (
            is_muon
            and p.ndim >= mr.min_ndim
            and min(p.shape[0], math.prod(p.shape[1:])) >= mr.min_matrix_side
            and p.numel() >= mr.min_matrix_size
            and not (mr.exclude_grouped_conv and p.ndim > 2 and getattr(owner, "groups", 1) > 1)
            and any(_tail_match(pat, name) for pat in mr.include)
            and not any(_tail_match(pat, name) for pat in mr.exclude)
            and not _type_match(type(owner), mr.exclude_types)
        ):
            route = str(kind.matrix_route)
        matching = [
            (pfx, s)
            for pfx, s in rules.lr_scales
            if pfx == "" or name == pfx or name.startswith(pfx + ".")
        ]
        scale = max(matching, key=lambda t: len(t[0]))[1] if matching else 1.0
        if rules.layer_decay is not None:
            ld = rules.layer_decay
            m = re.match(re.escape(ld.blocks) + r"\.(\d+)(\.|$)", name)
            if m:
                depth = int(m.group(1)) + 1
            elif any(_tail_match(pat, name) for pat in ld.stem):
                depth = 0
            elif any(_tail_match(pat, name) for pat in ld.last_block):
                depth = num_blocks
            else:
                depth = num_blocks + 1
            scale *= ld.rate ** (num_blocks + 1 - depth)
        rule = next((r for r in rules.labels if _label_match(r, name, p, owner)), None)
        if rule is not None and rule.route is not None:
            route = rule.route
        if route == kind.matrix_route:
            scale = 1.0
        if rule is not None:
            scale *= rule.lr_scale
        out[name] = (route, decays, scale)
    return out


def _label_match(rule: LabelRule, name: str, p: nn.Parameter, owner: nn.Module) -> bool:
    """A LabelRule's conditions, the obvious way (the first rule that holds wins)."""
    return (
        (not rule.names or any(_tail_match(pat, name) for pat in rule.names))
        and (not rule.types or _type_match(type(owner), rule.types))
        and (rule.min_ndim is None or p.ndim >= rule.min_ndim)
        and (rule.max_ndim is None or p.ndim <= rule.max_ndim)
    )


def _label_wd(rules: ParamRules, label: str, base: float) -> float:
    """The weight decay of a decaying parameter of ``label``."""
    rule = next((r for r in rules.labels if r.label == label), None)
    if rule is None:
        return base
    if rule.weight_decay is not None:
        return rule.weight_decay
    if rule.weight_decay_scale is not None:
        return base * rule.weight_decay_scale
    return base


def _base_lr(spec: object, route: str) -> float:
    return float(getattr(spec, kind_of(spec).route(route).lr))


def _wd(spec: object, route: str) -> float:
    field = kind_of(spec).route(route).weight_decay
    return 0.0 if field is None else float(getattr(spec, field))


@st.composite
def _setups(draw: st.DrawFn) -> tuple[nn.Module, ParamRules, object]:
    model = draw(modules())
    rules = draw(param_rules(model))
    spec = draw(optimizer_specs())
    return model, rules, spec


def _build(model: nn.Module, rules: ParamRules, spec: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoutingWarning)
        part = partition_params(model, rules, spec=spec)  # type: ignore[arg-type]
    return part, make_param_groups(part)


@SETTINGS
@given(_setups())
def test_every_trainable_param_in_exactly_one_group(setup: tuple) -> None:  # type: ignore[type-arg]
    model, rules, spec = setup
    _, groups = _build(model, rules, spec)
    grouped = [id(p) for g in groups for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(grouped) == len(set(grouped))  # nothing twice (tied weights appear once)
    assert set(grouped) == trainable  # nothing frozen, nothing lost
    for g in groups:
        assert len(g["params"]) == len(g["param_names"])


@SETTINGS
@given(_setups())
def test_groups_are_minimal(setup: tuple) -> None:  # type: ignore[type-arg]
    model, rules, spec = setup
    _, groups = _build(model, rules, spec)
    hyper = [
        tuple((k, v) for k, v in g.items() if k not in ("params", "param_names")) for g in groups
    ]
    assert len(hyper) == len(set(hyper))


@SETTINGS
@given(_setups())
def test_order_is_deterministic_and_follows_registration(setup: tuple) -> None:  # type: ignore[type-arg]
    model, rules, spec = setup
    p1, g1 = _build(model, rules, spec)
    _, g2 = _build(model, rules, spec)
    assert [g["param_names"] for g in g1] == [g["param_names"] for g in g2]
    registration = [n for n, p in model.named_parameters() if p.requires_grad]
    assert list(p1.names) == registration
    for g in g1:  # inside a group, registration order
        idx = [registration.index(n) for n in g["param_names"]]
        assert idx == sorted(idx)
    firsts = [registration.index(g["param_names"][0]) for g in g1]
    assert firsts == sorted(firsts)


@SETTINGS
@given(_setups())
def test_lr_and_decay_match_oracle_and_reasons(setup: tuple) -> None:  # type: ignore[type-arg]
    model, rules, spec = setup
    part, groups = _build(model, rules, spec)
    expected = _oracle(model, rules, spec)
    assert set(expected) == set(part.names)
    for g in groups:
        for name in g["param_names"]:
            route, decays, scale = expected[name]
            entry = part.entry(name)
            assert (entry.route, entry.decay) == (route, decays), name
            assert math.isclose(entry.lr_scale, scale, rel_tol=1e-12), name
            assert g["route"] == route
            assert math.isclose(g["lr"], _base_lr(spec, route) * scale, rel_tol=1e-12)
            want_wd = _label_wd(rules, entry.label, _wd(spec, route)) if decays else 0.0
            assert math.isclose(g["weight_decay"], want_wd, rel_tol=1e-12, abs_tol=0.0)
            assert g["label"] == entry.label
            reasons = " | ".join(part.reasons(name))
            assert ("-> no weight decay" in reasons) is (not decays), reasons
            assert (f"-> {route}" in reasons) is (kind_of(spec).matrix_route is not None), reasons
            if scale != 1.0:
                assert "-> lr x" in reasons, reasons


# ---- examples ------------------------------------------------------------------------------


class _Scorer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.transformer = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2
        )
        self.norm = nn.LayerNorm(8)
        self.scoring_head = nn.Linear(8, 1)


def test_reasons_and_explain() -> None:
    part = partition_params(_Scorer(), ParamRules(lr_scales={"scoring_head": 5.0}))
    assert part.reasons("scoring_head.bias") == ("bias -> no weight decay", "scoring_head -> lr x5")
    assert part.reasons("norm.weight") == ("LayerNorm -> no weight decay",)
    assert part.reasons("embed.weight") == ()
    table = part.explain()
    assert table.splitlines()[0].split() == ["name", "shape", "route", "decay", "lr", "x", "why"]
    row = next(line for line in table.splitlines() if line.startswith("scoring_head.weight"))
    assert row.split()[:6] == ["scoring_head.weight", "1x8", "adamw", "yes", "5", "scoring_head"]
    with pytest.raises(KeyError, match="did you mean 'scoring_head.bias'"):
        part.reasons("scoring_head.bas")


def test_deepest_prefix_wins() -> None:
    model = _Scorer()
    rules = ParamRules(
        lr_scales={
            "transformer": 0.5,
            "transformer.layers.1": 2.0,
            "transformer.layers.1.norm1.bias": 3.0,
        }
    )
    part = partition_params(model, rules)
    assert part.entry("transformer.layers.0.linear1.weight").lr_scale == 0.5
    assert part.entry("transformer.layers.1.linear1.weight").lr_scale == 2.0
    assert part.entry("transformer.layers.1.norm1.bias").lr_scale == 3.0
    assert part.entry("embed.weight").lr_scale == 1.0


def test_prefix_matching_nothing_is_an_error() -> None:
    with pytest.raises(
        ValueError, match=r"lr_scales\['scoring_hed'\].*did you mean 'scoring_head'"
    ):
        partition_params(_Scorer(), ParamRules(lr_scales={"scoring_hed": 5.0}))
    # a prefix is a whole name component, not a string prefix
    with pytest.raises(ValueError, match=r"lr_scales\['scoring'\]"):
        partition_params(_Scorer(), ParamRules(lr_scales={"scoring": 5.0}))


def test_frozen_params_left_out_and_prefix_on_frozen_only_is_an_error() -> None:
    model = _Scorer()
    model.embed.requires_grad_(False)
    part = partition_params(model)
    assert not any(n.startswith("embed.") for n in part.names)
    with pytest.raises(ValueError, match=r"lr_scales\['embed'\]"):
        partition_params(model, ParamRules(lr_scales={"embed": 2.0}))


def test_several_models_shared_param_once() -> None:
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = a.weight
    part = partition_params([a, b])
    assert part.names == ("0.weight", "0.bias", "1.bias")
    named = partition_params({"enc": a, "dec": b}, ParamRules(lr_scales={"dec": 2.0}))
    assert named.names == ("enc.weight", "enc.bias", "dec.bias")
    assert named.entry("dec.bias").lr_scale == 2.0


def test_wrapped_model_has_bare_names() -> None:
    model = _Scorer()
    bare = partition_params(model, ParamRules(lr_scales={"scoring_head": 5.0}))
    compiled = torch.compile(model)  # not run: only its module structure matters here
    wrapped = partition_params(compiled, ParamRules(lr_scales={"scoring_head": 5.0}))
    assert wrapped.names == bare.names and wrapped.lr_scales == bare.lr_scales
    holder = nn.ModuleDict({"net": compiled})
    nested = partition_params(holder)
    assert nested.names == tuple(f"net.{n}" for n in bare.names)


def test_muon_default_route_is_transformer_names() -> None:
    part = partition_params(_Scorer(), spec=MuonSpec())
    for e in part:
        expect = "muon" if (e.param.ndim >= 2 and "transformer" in e.name) else "adamw"
        assert e.route == expect, e.name
    hidden = partition_params(
        _Scorer(), ParamRules(muon=MuonRouting.hidden_matrices()), spec=MuonSpec()
    )
    routes = {e.name: e.route for e in hidden}
    assert routes["embed.weight"] == "adamw"  # Embedding type excluded
    assert routes["scoring_head.weight"] == "adamw"  # head pattern excluded
    assert routes["transformer.layers.0.linear1.weight"] == "muon"


def test_muon_lr_scales_apply_to_adamw_part_only() -> None:
    rules = ParamRules(lr_scales={"transformer": 0.1})
    part = partition_params(_Scorer(), rules, spec=MuonSpec())
    assert part.entry("transformer.layers.0.linear1.weight").lr_scale == 1.0  # muon
    assert part.entry("transformer.layers.0.linear1.bias").lr_scale == 0.1  # adamw


def test_muon_with_nothing_routed_warns() -> None:
    with pytest.warns(RoutingWarning, match="routes no parameter to Muon"):
        partition_params(nn.Linear(3, 3), spec=MuonSpec())


def test_layer_decay_blocks_must_exist() -> None:
    with pytest.raises(ValueError, match=r"layer_decay.blocks: 'blocks' matches no parameter"):
        partition_params(_Scorer(), ParamRules(layer_decay=LayerDecay(rate=0.5)))


def test_param_groups_for_other_spec_kind_refused() -> None:
    part = partition_params(_Scorer(), spec=AdamWSpec())
    with pytest.raises(ValueError, match="made for AdamWSpec.*got AdamSpec"):
        make_param_groups(part, AdamSpec())
    same_kind = make_param_groups(part, AdamWSpec(learning_rate=0.5))
    assert {g["lr"] for g in same_kind} == {0.5}


def test_bad_models_argument() -> None:
    with pytest.raises(TypeError, match=r"models\[1\]: must be a torch.nn.Module"):
        partition_params([nn.Linear(2, 2), "x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty sequence"):
        partition_params([])
    with pytest.raises(TypeError, match="rules: expected ParamRules"):
        partition_params(nn.Linear(2, 2), {"lr_scales": {}})  # type: ignore[arg-type]


def test_root_prefix_shadowed_by_deeper_prefixes_is_not_an_error() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    part = partition_params(model, ParamRules(lr_scales={"": 0.1, "0": 2.0}))
    assert part.lr_scales == (2.0, 2.0)


def test_lr_scale_on_muon_only_params_warns_and_says_ignored() -> None:
    model = nn.ModuleDict({"transformer": nn.Linear(4, 4, bias=False), "head": nn.Linear(4, 1)})
    with pytest.warns(RoutingWarning, match=r"'transformer': covers only Muon parameters"):
        part = partition_params(model, ParamRules(lr_scales={"transformer": 5.0}), spec=MuonSpec())
    assert part.entry("transformer.weight").lr_scale == 1.0
    assert "transformer -> lr x5 ignored (Muon uses its own LR)" in part.reasons(
        "transformer.weight"
    )


def test_oversized_numbers_are_spec_errors() -> None:
    from optfn import SpecError

    with pytest.raises(SpecError, match=r"lr_scales\[''\]: must be finite and > 0"):
        ParamRules(lr_scales={"": 10**400})
    with pytest.raises(SpecError, match="learning_rate: must be finite"):
        AdamWSpec(learning_rate=10**400)
