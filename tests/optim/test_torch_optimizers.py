"""Every torch.optim spec: bit-identical to torch for every implementation, rules, round trips."""

from __future__ import annotations

import copy
import io
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
from hypothesis import find, given, settings
from torch import nn

from optfn import (
    AdamSpec,
    AdamWSpec,
    MuonRouting,
    MuonSpec,
    OptimConfig,
    OptimizerSpecification,
    ParamRules,
    SpecError,
    from_dict,
    from_toml,
    load_checkpoint,
    load_config,
    make_optimizer,
    restore,
    save_checkpoint,
    save_config,
    to_dict,
    to_toml,
)
from optfn.optim.table import OPTIMIZERS, TorchBuilder, kind_of
from optfn.specs.optimizers import IMPLEMENTATIONS
from optfn.specs.torch_optimizers import (
    AdadeltaSpec,
    AdafactorSpec,
    AdagradSpec,
    AdamaxSpec,
    ASGDSpec,
    NAdamSpec,
    RAdamSpec,
    RMSpropSpec,
    RpropSpec,
    SGDSpec,
)
from optfn.strategies import optimizer_specs


def _torch_kinds() -> dict[
    type[OptimizerSpecification], tuple[type[torch.optim.Optimizer], tuple[str, ...]]
]:
    """spec class -> (torch class, implementations torch offers it), for every kind of the table
    that builds a torch.optim class: read from the table's entries and the specs' validators."""
    out = {}
    for kind in OPTIMIZERS:
        build = kind.build
        if isinstance(build, TorchBuilder) and getattr(torch.optim, build.cls.__name__, None) is (
            build.cls
        ):
            impl = attrs.fields_dict(kind.spec)["implementation"].validator
            out[kind.spec] = (build.cls, tuple(impl.domain.choices))  # type: ignore[union-attr]
    return out


#: spec class -> (torch class, implementations torch offers it).
TORCH = _torch_kinds()

#: Specs away from the defaults (every math switch on in one of them), per torch class.
SPECS: list[OptimizerSpecification] = [
    AdamSpec(learning_rate=0.01, weight_decay=0.1, amsgrad=True),
    AdamSpec(learning_rate=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    AdamWSpec(learning_rate=0.01, betas=(0.8, 0.99), amsgrad=True, maximize=True),
    SGDSpec(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    SGDSpec(learning_rate=0.05, momentum=0.5, dampening=0.3, maximize=True),
    SGDSpec(learning_rate=0.05),
    NAdamSpec(weight_decay=0.1, momentum_decay=0.01),
    NAdamSpec(weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    RAdamSpec(weight_decay=0.1),
    RAdamSpec(weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    AdamaxSpec(weight_decay=0.1, betas=(0.8, 0.9), maximize=True),
    AdagradSpec(lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1),
    AdagradSpec(maximize=True),
    RMSpropSpec(alpha=0.9, weight_decay=0.1, momentum=0.9, centered=True),
    RMSpropSpec(maximize=True),
    AdadeltaSpec(rho=0.8, weight_decay=0.1, maximize=True),
    AdafactorSpec(weight_decay=0.1, d=2.0, beta2_decay=-0.5),
    AdafactorSpec(eps1=1e-20, eps2=1e-2, maximize=True),
    ASGDSpec(lambd=1e-3, alpha=0.5, t0=2.0, weight_decay=0.1),
    ASGDSpec(maximize=True),
    RpropSpec(etas=(0.4, 1.5), step_sizes=(1e-5, 10.0)),
    RpropSpec(maximize=True),
]

RULES = ParamRules(lr_scales={"3": 3.0})
FLAGS = {"auto": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
FLAGS["for_loop"] = {"foreach": False}


def _id(spec: Any) -> str:
    changed = {
        a.name: getattr(spec, a.name)
        for a in attrs.fields(type(spec))
        if getattr(spec, a.name) != a.default
    }
    return type(spec).__name__ + "(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")"


def cases() -> list[Any]:
    """SPECS, and every torch kind of the table at its defaults, in each implementation."""
    out = []
    defaults = [cls() for cls in TORCH if cls() not in SPECS]  # type: ignore[call-arg]
    for spec in [*SPECS, *defaults]:
        for impl in TORCH[type(spec)][1]:
            s = attrs.evolve(spec, implementation=impl)  # type: ignore[call-arg]
            out.append(pytest.param(s, id=f"{_id(spec)}-{impl}"))
    return out


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))


def deep_model() -> nn.Module:
    """With hidden matrices, which Muon takes."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 8),
        nn.Tanh(),
        nn.Linear(8, 8),
        nn.LayerNorm(8),
        nn.Linear(8, 8),
        nn.Tanh(),
        nn.Linear(8, 3),
    )


def torch_kwargs(spec: Any) -> dict[str, Any]:
    """torch's constructor arguments for ``spec``, written out by hand from the field names."""
    kw = attrs.asdict(spec, recurse=False)
    kw.pop("lr_decay_gamma")
    kw["lr"] = kw.pop("learning_rate")
    if isinstance(spec, AdafactorSpec):
        kw["eps"] = (kw.pop("eps1"), kw.pop("eps2"))
    kw.update(FLAGS[kw.pop("implementation")])
    return kw


def by_hand(net: nn.Module, opt: torch.optim.Optimizer, spec: Any) -> torch.optim.Optimizer:
    """torch's class on ``net`` with optfn's partition: per group only params, lr and decay."""
    cls = TORCH[type(spec)][0]
    groups = []
    for g in opt.param_groups:
        hand: dict[str, Any] = {"params": [net.get_parameter(n) for n in g["param_names"]]}
        hand["lr"] = g["lr"]
        if "weight_decay" in g:
            hand["weight_decay"] = g["weight_decay"]
        groups.append(hand)
    return cls(groups, **torch_kwargs(spec))


def steps(pairs: list[tuple[nn.Module, torch.optim.Optimizer]], n: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(4, 6, generator=gen)
        for net, opt in pairs:
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()


def assert_same(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("spec", cases())
def test_steps_like_torch_and_resumes(spec: OptimizerSpecification) -> None:
    net, ref_net = model(), model()
    opt = make_optimizer(net, spec, RULES)
    assert type(opt) is TORCH[type(spec)][0]
    # two LR scales x (decay, no decay); with no decay at all the two merge
    assert len(opt.param_groups) == (4 if getattr(spec, "weight_decay", 0) else 2)
    ref = by_hand(ref_net, opt, spec)
    steps([(net, opt), (ref_net, ref)], 5, seed=1)
    assert_same(net, ref_net)
    start = model().parameters()
    assert not all(torch.equal(p, q) for p, q in zip(net.parameters(), start, strict=True))
    # state_dict -> bytes -> a fresh optimizer on a copy of the model -> continue
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    net2 = copy.deepcopy(net)
    fresh = make_optimizer(net2, spec, RULES)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    steps([(net, opt), (net2, fresh), (ref_net, ref)], 3, seed=2)
    assert_same(net, net2)
    assert_same(net, ref_net)


def test_groups_carry_the_implementation() -> None:
    def flags(spec: Any) -> list[tuple[Any, Any]]:
        opt = make_optimizer(model(), spec)
        return [(g.get("foreach"), g.get("fused")) for g in opt.param_groups]

    assert flags(AdamWSpec()) == [(None, None)] * 2  # auto: torch's own defaults, untouched
    assert flags(AdamWSpec(implementation="foreach")) == [(True, None)] * 2
    assert flags(AdamWSpec(implementation="fused")) == [(None, True)] * 2
    assert flags(SGDSpec(implementation="for_loop", weight_decay=0.1)) == [(False, None)] * 2
    opt = make_optimizer(model(), AdagradSpec(implementation="fused"))
    assert opt.defaults["fused"] is True


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_muon_adamw_groups_honour_the_implementation(impl: str) -> None:
    """MuonWithAdamW with each implementation: its AdamW groups are torch.optim.AdamW's (with
    the same flags), its Muon groups torch.optim.Muon's, bit for bit, and resume exactly."""
    spec = MuonSpec(adamw_lr=0.01, implementation=impl)  # type: ignore[arg-type]
    net, ref_net = deep_model(), deep_model()
    rules = ParamRules(muon=MuonRouting.hidden_matrices())
    opt = make_optimizer(net, spec, rules)
    adamw = [g for g in opt.param_groups if g["route"] == "adamw"]
    muon = [g for g in opt.param_groups if g["route"] == "muon"]
    assert all(
        (g["foreach"], g["fused"])
        == {
            "auto": (None, None),
            "foreach": (True, None),
            "fused": (None, True),
            "for_loop": (False, None),
        }[impl]
        for g in adamw
    )

    def hand(groups: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {"params": [ref_net.get_parameter(n) for n in g["param_names"]]}
            | {k: g[k] for k in keys}
            for g in groups
        ]

    ref_adamw = torch.optim.AdamW(
        hand(adamw, ("lr", "weight_decay")),
        betas=spec.betas,
        eps=spec.adamw_eps,
        **FLAGS[impl],
    )
    ref_muon = torch.optim.Muon(
        hand(muon, ("lr", "weight_decay")),
        momentum=spec.momentum,
        nesterov=spec.nesterov,
        ns_coefficients=spec.ns_coefficients,
        eps=spec.muon_eps,
        ns_steps=spec.ns_steps,
        adjust_lr_fn=spec.adjust_lr_fn,
    )

    class Both(torch.optim.Optimizer):
        def __init__(self) -> None:
            self.parts = (ref_adamw, ref_muon)

        def zero_grad(self, set_to_none: bool = True) -> None:
            for o in self.parts:
                o.zero_grad()

        def step(self, closure: Any = None) -> None:  # type: ignore[override]
            for o in self.parts:
                o.step()

    steps([(net, opt), (ref_net, Both())], 5, seed=3)
    assert_same(net, ref_net)
    net2 = copy.deepcopy(net)
    fresh = make_optimizer(net2, spec, rules)
    fresh.load_state_dict(copy.deepcopy(opt.state_dict()))
    steps([(net, opt), (net2, fresh)], 3, seed=4)
    assert_same(net, net2)


# ---- rules at construction ---------------------------------------------------------------------

BAD: list[tuple[Callable[[], object], str]] = [
    (
        lambda: SGDSpec(nesterov=True),
        r"SGDSpec.nesterov: needs momentum > 0 and dampening == 0, "
        r"got momentum=0.0",
    ),
    (lambda: SGDSpec(nesterov=True, momentum=0.9, dampening=0.1), r"got dampening=0.1"),
    (lambda: SGDSpec(momentum=-0.1), r"SGDSpec.momentum: must be finite and >= 0"),
    (lambda: SGDSpec(dampening=1.5), r"SGDSpec.dampening: must be finite and in \[0, 1\]"),
    (lambda: SGDSpec(learning_rate=0.0), r"SGDSpec.learning_rate: must be finite and > 0"),
    (lambda: NAdamSpec(betas=(0.9, 1.0)), r"NAdamSpec.betas\[1\]: must be finite and in \[0, 1\)"),
    (lambda: NAdamSpec(momentum_decay=-1.0), r"NAdamSpec.momentum_decay: must be"),
    (lambda: RAdamSpec(eps=0.0), r"RAdamSpec.eps: must be finite and > 0"),
    (lambda: AdamaxSpec(weight_decay=-1e-3), r"AdamaxSpec.weight_decay: must be"),
    (lambda: AdagradSpec(lr_decay=-1.0), r"AdagradSpec.lr_decay: must be"),
    (lambda: AdagradSpec(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: RMSpropSpec(alpha=1.5), r"RMSpropSpec.alpha: must be finite and in \[0, 1\]"),
    (lambda: RMSpropSpec(momentum=-0.5), r"RMSpropSpec.momentum: must be"),
    (lambda: AdadeltaSpec(rho=1.1), r"AdadeltaSpec.rho: must be finite and in \[0, 1\]"),
    (lambda: AdafactorSpec(beta2_decay=0.1), r"AdafactorSpec.beta2_decay: must be finite and <= 0"),
    (lambda: AdafactorSpec(d=0.5), r"AdafactorSpec.d: must be finite and >= 1"),
    (lambda: AdafactorSpec(eps1=-1.0), r"AdafactorSpec.eps1: must be finite and > 0"),
    (lambda: AdafactorSpec(eps2=-1.0), r"AdafactorSpec.eps2: must be finite and >= 0"),
    (lambda: ASGDSpec(t0=-1.0), r"ASGDSpec.t0: must be"),
    (lambda: ASGDSpec(lambd=-1.0), r"ASGDSpec.lambd: must be"),
    (
        lambda: RpropSpec(etas=(0.5, 0.9)),
        r"RpropSpec.etas: needs 0 < etas\[0\] < 1 < etas\[1\], "
        r"got \(0.5, 0.9\)",
    ),
    (lambda: RpropSpec(etas=(1.0, 1.2)), r"RpropSpec.etas: needs 0 < etas\[0\] < 1"),
    (lambda: RpropSpec(step_sizes=(1.0, 0.5)), r"RpropSpec.step_sizes: needs step_sizes\[0\] <= "),
    (
        lambda: RMSpropSpec(implementation="fused"),
        r"RMSpropSpec.implementation: "
        r"torch.optim.RMSprop does not offer 'fused'; must be one of 'auto', 'foreach', 'for_loop'",
    ),
    (lambda: AdafactorSpec(implementation="fused"), "torch.optim.Adafactor does not offer"),
    (
        lambda: AdamWSpec(implementation="fast"),  # type: ignore[arg-type]
        r"AdamWSpec.implementation: must be one of "
        r"'auto', 'foreach', 'fused', 'for_loop', got 'fast'",
    ),
    (
        lambda: MuonSpec(implementation="cuda"),  # type: ignore[arg-type]
        r"MuonSpec.implementation: must be one of",
    ),
]


@pytest.mark.parametrize("make, match", BAD)
def test_rules_checked_at_construction(make: Callable[[], object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        make()


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="SGDSpec.nesterov: must be true or false"):
        SGDSpec(nesterov=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RMSpropSpec.centered: must be true or false"):
        RMSpropSpec(centered="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RpropSpec.etas: must be a tuple of 2 numbers"):
        RpropSpec(etas="0.5")


@pytest.mark.filterwarnings("ignore::optfn.RoutingWarning")
def test_fused_refused_before_torch_for_parameters_it_cannot_run() -> None:
    net = nn.Linear(2, 2, device="meta")
    with pytest.raises(
        SpecError,
        match=r"SGDSpec.implementation: 'fused' cannot run parameter 'weight' "
        r"\(torch.float32 on meta\): torch.optim.SGD's fused kernels need real floating-point",
    ):
        make_optimizer(net, SGDSpec(implementation="fused"))
    cplx = nn.ParameterDict({"z": nn.Parameter(torch.zeros(3, dtype=torch.complex64))})
    with pytest.raises(SpecError, match=r"cannot run parameter 'z' \(torch.complex64 on cpu\)"):
        make_optimizer(cplx, AdamWSpec(implementation="fused"))
    with pytest.raises(SpecError, match=r"MuonSpec.implementation: 'fused' cannot run"):
        make_optimizer(cplx, MuonSpec(implementation="fused"))
    # the other choices run them (torch's own paths)
    make_optimizer(cplx, AdamWSpec(implementation="foreach"))


# ---- serialization -----------------------------------------------------------------------------


DEFAULTS: list[Any] = [cls() for cls in TORCH]  # type: ignore[call-arg]


@pytest.mark.parametrize("spec", [*SPECS, *DEFAULTS], ids=_id)
def test_round_trips(spec: OptimizerSpecification) -> None:
    d = to_dict(spec)
    assert d["type"] == spec.optimizer_type
    assert from_dict(d) == spec
    assert from_toml(to_toml(spec)) == spec
    assert tomllib.loads(to_toml(spec)) == d
    assert OptimizerSpecification.from_serialized(spec.optimizer_type, spec.to_dict()) == spec


def test_old_configs_still_load() -> None:
    """Configs written before ``amsgrad``/``maximize``/``implementation`` existed."""
    old = {
        "type": "adamw",
        "learning_rate": 0.001,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.01,
    }
    assert from_dict(old) == AdamWSpec(learning_rate=0.001)
    assert from_dict({"type": "muon"}) == MuonSpec()


@settings(max_examples=150, deadline=None)
@given(optimizer_specs(kinds=tuple(k.tag for k in OPTIMIZERS if k.spec in TORCH)))
def test_drawn_specs_round_trip_and_build(spec: OptimizerSpecification) -> None:
    assert from_dict(to_dict(spec)) == spec
    assert from_toml(to_toml(spec)) == spec
    assert kind_of(spec).spec is type(spec)
    opt = make_optimizer(model(), spec)
    assert type(opt) is TORCH[type(spec)][0]
    scheduler = spec.create_scheduler(opt)
    assert (scheduler is None) == (spec.lr_decay_gamma is None)


def test_every_library_kind_is_covered() -> None:
    """Every optimizer of the table steps like its torch class here (each implementation it
    offers), or is optfn's own (Muon, NorMuon: tests/optim/test_muon.py,
    tests/optim/test_normuon.py)."""
    assert {k.tag for k in OPTIMIZERS} == {c.optimizer_type for c in TORCH} | {"muon", "normuon"}
    covered = {type(p.values[0]) for p in cases()}
    assert covered == set(TORCH)
    assert {(type(p.values[0]), p.values[0].implementation) for p in cases()} == {
        (cls, impl) for cls, (_, impls) in TORCH.items() for impl in impls
    }
    assert {torch.optim.SGD, torch.optim.Adam, torch.optim.Rprop} <= {c for c, _ in TORCH.values()}


# ---- bring your own: pytorch-optimizer's Lion, as docs/extending.md writes it ---------------

README = Path(__file__).resolve().parents[2] / "docs" / "extending.md"  # the Lion block


@pytest.fixture
def lion() -> Iterator[dict[str, Any]]:
    """Run the README's Lion block (it registers "lion"), and restore the table afterwards."""
    import pytorch_optimizer  # noqa: F401  (the dev extra installs it: fail, never skip)

    text = README.read_text().split("### A third-party optimizer", 1)[1]
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match is not None
    code = match.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    saved = dict(OPTIMIZERS.by_tag)
    namespace: dict[str, Any] = {}
    try:
        exec(compile(code, "README Lion", "exec"), namespace)
        yield namespace
    finally:
        OPTIMIZERS.by_tag.clear()
        OPTIMIZERS.by_tag.update(saved)


def test_lion_from_readme(lion: dict[str, Any], tmp_path: Path) -> None:
    from pytorch_optimizer import Lion

    spec_cls = lion["LionSpec"]
    spec = spec_cls(learning_rate=3e-4, weight_decay=0.1)
    assert isinstance(lion["opt"], Lion)
    # it steps exactly like Lion built by hand with the same groups
    net, ref_net = model(), model()
    opt = make_optimizer(net, spec, RULES)
    assert type(opt) is Lion and len(opt.param_groups) == 4
    ref = Lion(
        [
            {
                "params": [ref_net.get_parameter(n) for n in g["param_names"]],
                "lr": g["lr"],
                "weight_decay": g["weight_decay"],
            }
            for g in opt.param_groups
        ],
        betas=(0.9, 0.99),
    )
    steps([(net, opt), (ref_net, ref)], 5, seed=5)
    assert_same(net, ref_net)
    # configs: dict, TOML text and file, the spec-method API's form
    assert from_dict(to_dict(spec)) == spec
    assert from_toml('type = "lion"\nlearning_rate = 3e-4\nweight_decay = 0.1\n') == spec
    save_config(OptimConfig(optimizer=spec, rules=RULES), tmp_path / "run.toml")
    assert load_config(tmp_path / "run.toml") == OptimConfig(optimizer=spec, rules=RULES)
    assert OptimizerSpecification.from_serialized("lion", spec.to_dict()) == spec
    assert spec_cls(lr_decay_gamma=0.9).create_scheduler(opt) is not None
    # a checkpoint restores it into a fresh optimizer, and training continues identically
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, config=OptimConfig(optimizer=spec, rules=RULES), optimizer=opt, model=net)
    loaded = load_checkpoint(ckpt)
    assert loaded.config.optimizer == spec
    net2 = model()
    fresh = make_optimizer(net2, loaded.config.optimizer, loaded.config.rules)
    restore(loaded, fresh, model=net2)
    steps([(net, opt), (net2, fresh)], 3, seed=6)
    assert_same(net, net2)

    # the strategies draw it (with its defaults), beside every library kind
    assert find(optimizer_specs(kinds=("lion",)), lambda _: True) == spec_cls()
    for kind in OPTIMIZERS:
        drawn = find(optimizer_specs(), lambda s, tag=kind.tag: s.optimizer_type == tag)
        assert from_dict(to_dict(drawn)) == drawn


def test_muon_with_adamw_groups_check_fused_themselves() -> None:
    from optfn import MuonWithAdamW

    z = nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    group = {
        "params": [z],
        "param_names": ["z"],
        "route": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
    }
    with pytest.raises(SpecError, match=r"fused=True cannot run parameter 'z' \(torch.complex64"):
        MuonWithAdamW([{**group, "fused": True}])
    with pytest.raises(SpecError, match="'foreach' and 'fused' cannot both be True"):
        MuonWithAdamW(
            [{**group, "params": [nn.Parameter(torch.zeros(3))], "fused": True, "foreach": True}]
        )
    with pytest.raises(TypeError, match="'fused' must be a bool"):
        MuonWithAdamW([{**group, "fused": "yes"}])
