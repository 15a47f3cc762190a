"""The optimizer table: adding an optimizer is one entry, and everything reads it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import torch
from hypothesis import find, given, settings
from torch import nn

from optfn import (
    AdamWSpec,
    ConfigError,
    MuonSpec,
    OptimConfig,
    OptimizerSpecification,
    ParamRules,
    Route,
    from_dict,
    load_checkpoint,
    load_config,
    make_optimizer,
    make_param_groups,
    partition_params,
    register_optimizer,
    register_spec,
    restore,
    save_checkpoint,
    save_config,
    to_dict,
)
from optfn.io.registry import REGISTRY
from optfn.optim.table import OPTIMIZERS, OptimizerKind, OptimizerTable, kind_of, torch_builder
from optfn.strategies import optimizer_specs
from optfn.strategies.optimizers import OPTIMIZER_KINDS


@attrs.frozen(kw_only=True)
class ToySGDSpec(OptimizerSpecification):
    """A user's optimizer spec: torch's SGD with momentum, under the tag "toy_sgd"."""

    optimizer_type = "toy_sgd"

    learning_rate: float = attrs.field(default=0.1)
    lr_decay_gamma: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4


TOY_ROUTE = Route("toy_sgd", keys=(("momentum", "momentum"),))


@pytest.fixture
def toy() -> Iterator[OptimizerKind]:
    """Register the toy optimizer (the one entry), and restore the table afterwards."""
    saved = dict(OPTIMIZERS.by_tag)
    kind = register_optimizer(
        ToySGDSpec, build=torch_builder(torch.optim.SGD, TOY_ROUTE), routes=(TOY_ROUTE,)
    )
    yield kind
    OPTIMIZERS.by_tag.clear()
    OPTIMIZERS.by_tag.update(saved)


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))


def test_builtin_kinds() -> None:
    assert [k.tag for k in OPTIMIZERS][:3] == ["adam", "adamw", "muon"]
    assert OPTIMIZER_KINDS == (
        "adam",
        "adamw",
        "muon",
        "sgd",
        "nadam",
        "radam",
        "adamax",
        "adagrad",
        "rmsprop",
        "adadelta",
        "adafactor",
        "asgd",
        "rprop",
        "normuon",
    )
    muon = kind_of(MuonSpec())
    assert [r.name for r in muon.routes] == ["adamw", "muon"] and muon.matrix_route == "muon"
    assert kind_of(AdamWSpec()).matrix_route is None


def test_one_entry_makes_every_part_work(toy: OptimizerKind, tmp_path: Path) -> None:
    spec = ToySGDSpec(learning_rate=0.05, momentum=0.8, weight_decay=0.01)
    net = model()
    # routing and groups read the entry: one route, decay exclusions and LR scales as usual
    part = partition_params(net, ParamRules(lr_scales={"2": 2.0}), spec=spec)
    assert set(part.routes) == {"toy_sgd"}
    groups = make_param_groups(part)
    assert [(g["lr"], g["weight_decay"], g["momentum"]) for g in groups] == [
        (0.05, 0.01, 0.8),
        (0.05, 0.0, 0.8),
        (0.1, 0.01, 0.8),
        (0.1, 0.0, 0.8),
    ]
    # building: the entry's torch class, with the spec's values as defaults
    opt = make_optimizer(net, spec, ParamRules(lr_scales={"2": 2.0}))
    assert type(opt) is torch.optim.SGD
    assert opt.defaults["lr"] == 0.05 and opt.defaults["momentum"] == 0.8
    # ... and it steps exactly like SGD built by hand from the same groups
    ref_net = model()
    ref = torch.optim.SGD(
        [
            {"params": [g_p for g_p in (ref_net.get_parameter(n) for n in g["param_names"])]}
            | {k: v for k, v in g.items() if k not in ("params", "param_names", "route")}
            for g in opt.param_groups
        ],
        lr=0.05,
    )
    for _ in range(3):
        for m, o in ((net, opt), (ref_net, ref)):
            o.zero_grad()
            m(torch.ones(2, 4)).square().sum().backward()
            o.step()
    for a, b in zip(net.parameters(), ref_net.parameters(), strict=True):
        assert torch.equal(a, b)
    # serialization reads the same entry: dict, TOML file, the spec-method API's form
    assert from_dict(to_dict(spec)) == spec
    path = tmp_path / "run.toml"
    save_config(OptimConfig(optimizer=spec), path)
    assert load_config(path) == OptimConfig(optimizer=spec)
    assert OptimizerSpecification.from_serialized("toy_sgd", spec.to_dict()) == spec
    # the spec-method API works on it too
    assert type(spec.create_optimizer(model())) is torch.optim.SGD
    assert ToySGDSpec(lr_decay_gamma=0.5).create_scheduler(opt) is not None
    # checkpoints
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, config=OptimConfig(optimizer=spec), optimizer=opt, model=net)
    loaded = load_checkpoint(ckpt)
    assert loaded.config.optimizer == spec
    fresh = make_optimizer(net, spec, ParamRules(lr_scales={"2": 2.0}))
    restore(loaded, fresh, model=net)
    assert fresh.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_strategies_draw_registered_kinds(toy: OptimizerKind) -> None:
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None)
    @given(optimizer_specs())
    def draw(spec: OptimizerSpecification) -> None:
        seen.add(spec.optimizer_type)
        assert from_dict(to_dict(spec)) == spec
        if isinstance(spec, ToySGDSpec):  # optfn cannot know a user's ranges: its defaults
            assert spec == ToySGDSpec()

    draw()
    assert seen
    # every kind, the registered one included, is drawn
    for tag in (*OPTIMIZER_KINDS, "toy_sgd"):
        assert find(optimizer_specs(), lambda s, tag=tag: s.optimizer_type == tag)


def test_unregistered_optimizer_is_refused_everywhere() -> None:
    @attrs.frozen(kw_only=True)
    class Loose(OptimizerSpecification):
        optimizer_type = "loose"
        learning_rate: float = 0.1
        lr_decay_gamma: float | None = None

    with pytest.raises(TypeError, match=r"expected a registered optimizer spec .* got Loose"):
        make_optimizer(model(), Loose())
    with pytest.raises(TypeError, match=r"expected a registered optimizer spec"):
        partition_params(model(), spec=Loose())
    with pytest.raises(TypeError, match=r"register it with optfn.register_optimizer"):
        register_spec(Loose)
    with pytest.raises(
        ConfigError,
        match=r"unknown type 'loose'; allowed: 'adadelta', 'adafactor', 'adagrad', 'adam'",
    ):
        from_dict({"type": "loose", "learning_rate": 0.1})


def test_register_refusals(toy: OptimizerKind) -> None:
    @attrs.frozen(kw_only=True)
    class Other(OptimizerSpecification):
        optimizer_type = "toy_sgd"
        learning_rate: float = 0.1
        lr_decay_gamma: float | None = None
        weight_decay: float = 0.0

    build = torch_builder(torch.optim.SGD, TOY_ROUTE)
    with pytest.raises(ValueError, match="'toy_sgd' is taken by ToySGDSpec"):
        register_optimizer(Other, build=build)
    # the same kind again changes nothing
    assert register_optimizer(ToySGDSpec, build=toy.build, routes=(TOY_ROUTE,)) is not None
    assert OPTIMIZERS.by_tag["toy_sgd"] == toy
    with pytest.raises(ValueError, match=r"reads \['nesterov'\] but ToySGDSpec has no"):
        OptimizerTable().register(
            OptimizerKind(ToySGDSpec, build, (Route("toy_sgd", keys=(("n", "nesterov"),)),))
        )
    with pytest.raises(ValueError, match="matrix_route: must name one of the routes"):
        OptimizerTable().register(OptimizerKind(ToySGDSpec, build, (TOY_ROUTE,), "muon"))
    with pytest.raises(TypeError, match="must be an attrs subclass of OptimizerSpecification"):
        OptimizerTable().register(OptimizerKind(dict, build, (TOY_ROUTE,)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="routes: must be a non-empty tuple of Route"):
        OptimizerTable().register(OptimizerKind(ToySGDSpec, build, ()))
    with pytest.raises(TypeError, match="build: must be callable"):
        OptimizerTable().register(OptimizerKind(ToySGDSpec, "SGD", (TOY_ROUTE,)))  # type: ignore[arg-type]


def test_a_registered_tag_clashing_with_a_spec_tag_is_named() -> None:
    @attrs.frozen(kw_only=True)
    class Clash(OptimizerSpecification):
        optimizer_type = "warmup_cosine"
        learning_rate: float = 0.1
        lr_decay_gamma: float | None = None
        weight_decay: float = 0.0

    table = OptimizerTable.library()
    table.register(OptimizerKind(Clash, torch_builder(torch.optim.SGD, Route("x")), (Route("x"),)))
    registry = attrs.evolve(REGISTRY, optimizers=table)
    with pytest.raises(ValueError, match="'warmup_cosine' names both the optimizer Clash"):
        registry.by_tag  # noqa: B018


def test_route_hyper_is_the_spec_fields() -> None:
    route = kind_of(MuonSpec()).route("muon")
    hp = route.hyper(MuonSpec(learning_rate=0.03, muon_weight_decay=0.2), decay=True, scale=2.0)
    assert hp["route"] == "muon" and math.isclose(hp["lr"], 0.06) and hp["weight_decay"] == 0.2
    assert route.hyper(MuonSpec(), decay=False, scale=1.0)["weight_decay"] == 0.0
    with pytest.raises(KeyError, match=r"muon: no route 'sgd'; routes: \['adamw', 'muon'\]"):
        kind_of(MuonSpec()).route("sgd")
