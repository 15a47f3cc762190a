"""The optimizer table: adding an optimizer is one entry, and everything reads it."""

from __future__ import annotations

import math
import re
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
from optfn.optim.table import (
    KINDS,
    OPTIMIZERS,
    KindTable,
    OptimizerKind,
    OptimizerTable,
    SpecKind,
    kind_of,
    torch_builder,
)
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
    """The built-in kinds are the table's (a new one is its spec class plus one entry)."""
    library = [k.tag for k in OptimizerTable.library()]
    assert [k.tag for k in OPTIMIZERS][: len(library)] == library == list(OPTIMIZER_KINDS)
    assert library[:3] == ["adam", "adamw", "muon"] and library[-1] == "normuon"
    assert {"sgd", "nadam", "radam", "adamax", "adagrad", "rmsprop", "adadelta"} <= set(library)
    assert {"adafactor", "asgd", "rprop"} <= set(library)
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
    allowed = ", ".join(repr(t) for t in sorted(KINDS.kinds))
    with pytest.raises(ConfigError, match=re.escape(f"unknown type 'loose'; allowed: {allowed}")):
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


def test_one_table_refuses_a_tag_that_another_family_holds() -> None:
    """Optimizers and the other specs share one table keyed by tag: a clash is refused when it
    is registered, and nothing changes."""

    @attrs.frozen(kw_only=True)
    class Clash(OptimizerSpecification):
        optimizer_type = "warmup_cosine"
        learning_rate: float = 0.1
        lr_decay_gamma: float | None = None
        weight_decay: float = 0.0

    table = KindTable.library()
    before = dict(table.kinds)
    kind = OptimizerKind(Clash, torch_builder(torch.optim.SGD, Route("x")), (Route("x"),))
    with pytest.raises(ValueError, match="'warmup_cosine' is taken by WarmupCosine; give your"):
        table.optimizers.register(kind)
    with pytest.raises(ValueError, match="'warmup_cosine' is taken by WarmupCosine"):
        register_optimizer(Clash, build=kind.build, routes=kind.routes)
    assert table.kinds == before and KINDS.tag_of(Clash) is None

    @attrs.frozen(kw_only=True)
    class Budget:
        steps: int = 1

    with pytest.raises(ValueError, match="'sgd' is taken by SGDSpec"):
        table.register(Budget, "sgd")
    assert table.kinds == before


def test_the_views_write_to_the_one_table() -> None:
    table = KindTable.library()
    opts, others = table.optimizers, table.others
    assert [k.tag for k in opts] == list(opts.by_tag) == list(table.family("optimizer"))
    assert set(others) == set(table.kinds) - set(opts.by_tag)
    assert table.by_tag == {**opts.specs(), **others}
    saved = dict(opts.by_tag)
    opts.by_tag.clear()
    assert len(opts) == 0 and set(table.kinds) == set(others)
    opts.by_tag.update(saved)
    assert dict(opts.by_tag) == saved
    cosine = others.pop("warmup_cosine")
    assert "warmup_cosine" not in table.kinds
    others["warmup_cosine"] = cosine
    assert table.kinds["warmup_cosine"] == SpecKind(cosine, "warmup_cosine", "schedule")
    with pytest.raises(KeyError):
        others["adam"]  # an optimizer is not among the others
    with pytest.raises(KeyError):
        del opts.by_tag["warmup_cosine"]
    # the registry of the io side is the same object
    assert REGISTRY is KINDS and OPTIMIZERS.table is KINDS


def test_route_hyper_is_the_spec_fields() -> None:
    route = kind_of(MuonSpec()).route("muon")
    hp = route.hyper(MuonSpec(learning_rate=0.03, muon_weight_decay=0.2), decay=True, scale=2.0)
    assert hp["route"] == "muon" and math.isclose(hp["lr"], 0.06) and hp["weight_decay"] == 0.2
    assert route.hyper(MuonSpec(), decay=False, scale=1.0)["weight_decay"] == 0.0
    with pytest.raises(KeyError, match=r"muon: no route 'sgd'; routes: \['adamw', 'muon'\]"):
        kind_of(MuonSpec()).route("sgd")
