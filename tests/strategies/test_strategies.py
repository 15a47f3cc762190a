"""optfn.strategies: every value is valid, round-trips, respects its bounds; bad arguments fail."""

from __future__ import annotations

import importlib
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from torch import nn

import optfn.strategies
from optfn import (
    AdamWSpec,
    Constant,
    CosineRestarts,
    ExponentialDecay,
    InverseSqrt,
    Join,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    MuonSpec,
    OptimizerSpecification,
    PiecewiseConstant,
    PolynomialDecay,
    Product,
    RoutingWarning,
    Schedule,
    Sum,
    WarmupCosine,
    WarmupStableDecay,
    from_dict,
    from_json,
    from_toml,
    make_optimizer,
    make_scheduler,
    partition_params,
    to_dict,
    to_json,
    to_toml,
)
from optfn.io import SpecRegistry
from optfn.schedules import (
    MAX_STEPS,
    CosineDecay,
    Cyclic,
    CyclicMomentum,
    OneCycle,
    OneCycleMomentum,
    Ramp,
)
from optfn.strategies import (
    OPTIMIZER_KINDS,
    SCHEDULE_KINDS,
    configs,
    joins,
    modules,
    optimizer_specs,
    param_rules,
    register_type_strategies,
    schedule_specs,
    spec_strategies,
)

MANY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOME = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def round_trips(spec: Any) -> None:
    """``spec`` constructs (rebuilding it re-runs every validator) and round-trips exactly."""
    assert attrs.evolve(spec) == spec
    d = to_dict(spec)
    assert from_dict(d) == spec
    assert from_dict(d, type(spec)) == spec
    assert to_dict(from_dict(d)) == d
    assert from_json(to_json(spec)) == spec
    assert from_toml(to_toml(spec)) == spec


# ---- every strategy: valid values that round-trip -----------------------------------------------

#: Every public strategy: through spec_strategies() (one per spec class, default bounds; the
#: optimizer_specs, schedule_specs, joins, layer_decays, muon_routings, param_rules and configs
#: of this module), and at the extremes of their bounds.
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    **{c.__name__: s for c, s in spec_strategies().items()},
    "optimizer_specs(wide)": optimizer_specs(min_lr=5e-324, max_lr=1e6, max_weight_decay=10.0),
    "schedule_specs(MAX_STEPS)": schedule_specs(max_total_steps=MAX_STEPS),
    "schedule_specs(1 step)": schedule_specs(max_total_steps=1),
    "joins(deep)": joins(max_total_steps=50, max_depth=4, max_pieces=3),
    "param_rules(wide)": param_rules(max_lr_scales=6, min_lr_scale=5e-324, max_lr_scale=1e300),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@MANY
@given(data=st.data())
def test_every_value_constructs_and_round_trips(name: str, data: st.DataObject) -> None:
    round_trips(data.draw(STRATEGIES[name]))


def test_every_spec_class_has_a_strategy() -> None:
    table = spec_strategies()
    registry = SpecRegistry.library().by_tag
    assert set(table) == set(registry.values()) | {OptimizerSpecification, Schedule}
    assert set(SCHEDULE_KINDS) == {t for t, c in registry.items() if issubclass(c, Schedule)}
    assert set(OPTIMIZER_KINDS) == {
        t for t, c in registry.items() if issubclass(c, OptimizerSpecification)
    }


@pytest.mark.parametrize("cls", list(spec_strategies()), ids=lambda c: c.__name__)
def test_registered_with_hypothesis(cls: type) -> None:
    table = register_type_strategies()
    assert table.keys() == spec_strategies().keys()

    @settings(max_examples=10, deadline=None, database=None)
    @given(st.from_type(cls))
    def drawn_by_type(spec: Any) -> None:
        assert isinstance(spec, cls)
        round_trips(spec)

    drawn_by_type()


# ---- with a model: rules and configs that apply to it -------------------------------------------


def _names(model: nn.Module) -> int:
    """How many names the parameters have (a tied or shared parameter has several)."""
    return len(list(model.named_parameters(remove_duplicate=False)))


def _trainable(model: nn.Module) -> set[int]:
    return {id(p) for p in model.parameters() if p.requires_grad}


@SOME
@given(data=st.data())
def test_rules_and_configs_for_a_model_apply_to_it(data: st.DataObject) -> None:
    model = data.draw(modules())
    rules = data.draw(param_rules(model))
    round_trips(rules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoutingWarning)  # a Muon routing may pick nothing
        for spec in (AdamWSpec(), MuonSpec()):
            partition_params(model, rules, spec=spec)  # no unused prefix, no missing blocks
        cfg = data.draw(configs(model))
        opt = make_optimizer(model, cfg.optimizer, cfg.rules)
    sched = make_scheduler(opt, cfg.schedule)
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) and set(grouped) == _trainable(model)
    opt.step()
    sched.step()
    round_trips(cfg)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(4, 3)
        self.encoder = nn.ModuleDict({"blocks": nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])})
        self.head = nn.Linear(3, 2)


def test_rules_for_a_model_name_its_parts() -> None:
    net = _Net()
    found = find(
        param_rules(net),
        lambda r: r.layer_decay is not None and len(r.lr_scales) == 3,
        settings=settings(max_examples=500, database=None, deadline=None),
    )
    assert found.layer_decay is not None and found.layer_decay.blocks == "encoder.blocks"
    names = {n for n, _ in net.named_parameters()}
    for prefix, _ in found.lr_scales:
        assert prefix == "" or any(n == prefix or n.startswith(prefix + ".") for n in names)


# ---- bounds --------------------------------------------------------------------------------------


def span(s: Schedule) -> int:
    """The last step number a schedule names, counted from its start."""
    if isinstance(s, Join):
        if s.clock == "global":  # a piece's step counts count from step 0
            return max((*s.boundaries, *(span(p) for p in s.pieces)))
        return max(b + span(p) for b, p in zip((0, *s.boundaries), s.pieces, strict=True))
    if isinstance(s, (WarmupCosine, WarmupStableDecay)):
        return s.total_steps
    if isinstance(s, LinearWarmup):
        return s.warmup_steps
    if isinstance(s, (LinearDecay, CosineDecay, PolynomialDecay)):
        return s.decay_steps
    if isinstance(s, CosineRestarts):
        return s.cycle_steps
    if isinstance(s, ExponentialDecay):
        return s.steps_per_epoch
    if isinstance(s, MultiStepDecay):
        return s.boundaries[-1]
    if isinstance(s, (OneCycle, OneCycleMomentum)):
        return s.total_steps
    if isinstance(s, (Cyclic, CyclicMomentum)):
        return max(s.step_size_up, s.step_size_down or 0)
    if isinstance(s, Ramp):
        return s.steps
    if isinstance(s, PiecewiseConstant):
        return max((0, *s.boundaries))
    if isinstance(s, Product):
        return max(span(f) for f in s.factors)
    if isinstance(s, Sum):
        return max(span(t) for t in s.terms)
    if isinstance(s, InverseSqrt):
        return max(s.warmup_steps, s.timescale or 0)
    assert isinstance(s, Constant), s
    return 0


def walk(s: Schedule, depth: int = 0) -> Iterator[tuple[Schedule, int]]:
    """Every schedule inside ``s`` (``s`` too), with its depth of joins."""
    yield s, depth
    if isinstance(s, Join):
        for p in s.pieces:
            yield from walk(p, depth + 1)


@SOME
@given(data=st.data())
def test_schedule_specs_respect_their_bounds(data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.sampled_from(SCHEDULE_KINDS), min_size=1, unique=True))
    max_total_steps = data.draw(st.integers(1, 60) | st.integers(1, MAX_STEPS))
    max_depth, max_pieces = data.draw(st.integers(0, 3)), data.draw(st.integers(1, 5))
    shapes = [k for k in kinds if k != "join"]
    needs_two = {"cosine_restarts", "one_cycle", "one_cycle_momentum"}
    if not shapes or (set(shapes) <= needs_two and max_total_steps < 2):
        with pytest.raises(ValueError, match=r"kinds: a join needs pieces|too few"):
            schedule_specs(kinds=kinds, max_total_steps=max_total_steps)
        return
    strategy = schedule_specs(
        kinds=kinds, max_total_steps=max_total_steps, max_depth=max_depth, max_pieces=max_pieces
    )
    s = data.draw(strategy)
    assert span(s) <= max_total_steps
    allowed = {optfn.strategies._SCHEDULE_TAGS[k] for k in kinds}
    for part, depth in walk(s):
        assert type(part) in allowed
        if isinstance(part, Join):
            assert depth < max_depth and 1 <= len(part.pieces) <= max_pieces
            assert all(0 < b <= max_total_steps for b in part.boundaries)
    if data.draw(st.booleans()) and max_depth >= 1:
        j = data.draw(joins(kinds=kinds, max_total_steps=max_total_steps, max_depth=max_depth))
        assert isinstance(j, Join) and span(j) <= max_total_steps
        assert all(type(part) in allowed | {Join} for part, _ in walk(j))


@SOME
@given(data=st.data())
def test_optimizer_specs_respect_their_bounds(data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.sampled_from(OPTIMIZER_KINDS), min_size=1, unique=True))
    lo = data.draw(st.floats(1e-8, 1.0))
    hi = data.draw(st.floats(lo, 10.0))
    wd = data.draw(st.floats(0.0, 1.0))
    spec = data.draw(optimizer_specs(kinds, min_lr=lo, max_lr=hi, max_weight_decay=wd))
    assert spec.optimizer_type in kinds
    lrs = [spec.learning_rate] + ([spec.adamw_lr] if isinstance(spec, MuonSpec) else [])
    assert all(lo <= lr <= hi for lr in lrs)
    wds = [spec.weight_decay] + ([spec.muon_weight_decay] if isinstance(spec, MuonSpec) else [])
    assert all(0 <= w <= wd for w in wds)


@SOME
@given(data=st.data())
def test_param_rules_respect_their_bounds(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 4))
    lo = data.draw(st.floats(1e-3, 10.0))
    hi = data.draw(st.floats(lo, 100.0))
    model = data.draw(st.none() | modules(max_depth=1))
    rules = data.draw(param_rules(model, max_lr_scales=n, min_lr_scale=lo, max_lr_scale=hi))
    assert len(rules.lr_scales) <= n
    assert all(lo <= s <= hi for _, s in rules.lr_scales)


def _node_depth(model: nn.Module) -> int:
    """The most nested random container under ``model`` (the root is depth 0)."""
    inner = [_node_depth(c) for c in model.children() if type(c) is type(model)]
    return 1 + max(inner) if inner else 0


@SOME
@given(data=st.data())
def test_modules_respect_their_bounds(data: st.DataObject) -> None:
    max_depth, max_children = data.draw(st.integers(0, 2)), data.draw(st.integers(1, 4))
    shared, frozen = data.draw(st.booleans()), data.draw(st.booleans())
    model = data.draw(
        modules(max_depth=max_depth, shared=shared, frozen=frozen, max_children=max_children)
    )
    assert _node_depth(model) <= max_depth
    assert len(list(model.children())) <= max_children + shared  # + the shared alias
    params = list(model.parameters())
    assert _trainable(model)
    if not frozen:
        assert all(p.requires_grad for p in params)
    if not shared:
        assert _names(model) == len(params)


@pytest.mark.parametrize(
    ("strategy", "condition"),
    [
        (schedule_specs(), lambda s: max(d for _, d in walk(s)) == 2),  # nested joins
        (joins(max_pieces=4), lambda j: len(j.pieces) == 4),
        (schedule_specs(), lambda s: isinstance(s, Constant)),
        (
            schedule_specs(kinds=("warmup_cosine",)),
            lambda s: 0 < s.warmup_steps == s.total_steps,
        ),
        # a whole learning rate (given as an int, a spec holds the float it equals)
        (optimizer_specs(("adam",)), lambda s: s.learning_rate.is_integer()),
        (optimizer_specs(("muon",)), lambda s: s.lr_decay_gamma is not None),
        (param_rules(), lambda r: r.layer_decay is not None and "" in dict(r.lr_scales)),
        (param_rules(), lambda r: any(c in str(to_dict(r)) for c in '"\\é')),
        (modules(), lambda m: _names(m) > len(list(m.parameters()))),  # tied or shared
        (modules(), lambda m: not all(p.requires_grad for p in m.parameters())),
    ],
)
def test_edge_cases_are_reached(
    strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]
) -> None:
    assert reaches(strategy, condition)


class _Reached(Exception):
    pass


def reaches(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> bool:
    """Whether ``strategy`` generates a value that meets ``condition`` (no shrinking)."""

    @settings(
        max_examples=1000,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def probe(value: Any) -> None:
        if condition(value):
            raise _Reached

    try:
        probe()
    except _Reached:
        return True
    return False


# ---- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (
            lambda: optimizer_specs(("lion",)),
            ValueError,
            "unknown 'lion'; allowed: 'adam', 'adamw'",
        ),
        (lambda: optimizer_specs(kinds=()), ValueError, "no kind given; allowed: 'adam'"),
        (lambda: optimizer_specs(kinds="adamw"), TypeError, "sequence of kind names"),
        (lambda: optimizer_specs(min_lr=0.0), ValueError, "min_lr: must be finite and > 0"),
        (
            lambda: optimizer_specs(max_lr=math.inf),
            ValueError,
            "max_lr: must be finite and > 0, got inf",
        ),
        (lambda: optimizer_specs(max_lr="1"), TypeError, "max_lr: must be a number"),
        (lambda: optimizer_specs(min_lr=0.1, max_lr=0.01), ValueError, r"min_lr \(0.1\) must be"),
        (lambda: optimizer_specs(max_weight_decay=-1.0), ValueError, "max_weight_decay"),
        (lambda: schedule_specs(kinds=("cosine",)), ValueError, "unknown 'cosine'; allowed: 'con"),
        (lambda: schedule_specs(kinds=("join",)), ValueError, "a join needs pieces"),
        (lambda: joins(kinds=("join",)), ValueError, "a join needs pieces"),
        (lambda: schedule_specs(max_total_steps=0), ValueError, r"max_total_steps: .* in \[1, "),
        (lambda: schedule_specs(max_total_steps=MAX_STEPS + 1), ValueError, "max_total_steps"),
        (lambda: schedule_specs(max_total_steps=10.0), TypeError, "max_total_steps"),
        (lambda: schedule_specs(max_total_steps=True), TypeError, "max_total_steps"),
        (
            lambda: schedule_specs(kinds=("cosine_restarts",), max_total_steps=1),
            ValueError,
            "too few",
        ),
        (
            lambda: schedule_specs(max_depth=-1),
            ValueError,
            r"max_depth: must be an integer in \[0, 16\]",
        ),
        (
            lambda: schedule_specs(max_depth=17),
            ValueError,
            r"max_depth: must be an integer in \[0, 16\]",
        ),
        (lambda: schedule_specs(max_pieces=0), ValueError, "max_pieces"),
        (lambda: joins(max_depth=0), ValueError, "max_depth: must be an integer >= 1"),
        (lambda: param_rules(model="net"), TypeError, "model: must be a torch.nn.Module"),
        (lambda: param_rules(max_lr_scales=-1), ValueError, "max_lr_scales"),
        (lambda: param_rules(min_lr_scale=0), ValueError, "min_lr_scale"),
        (lambda: param_rules(min_lr_scale=2.0, max_lr_scale=1.0), ValueError, "min_lr_scale"),
        (lambda: configs(optimizers=AdamWSpec()), TypeError, "optimizers: must be a hypothesis"),
        (lambda: configs(model=[nn.Linear(2, 2)]), TypeError, "model: must be a torch.nn.Module"),
        (lambda: modules(max_depth=-1), ValueError, "max_depth"),
        (lambda: modules(max_children=0), ValueError, "max_children"),
        (lambda: modules(shared=1), TypeError, "shared: must be True or False"),
    ],
)
def test_bad_arguments_are_rejected_when_called(
    make: Callable[[], object], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_a_clear_message_without_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # what `import` sees when it is missing
    monkeypatch.delitem(sys.modules, "optfn.strategies")
    with pytest.raises(ImportError, match=r"pip install 'optfn\[testing\]'"):
        importlib.import_module("optfn.strategies")


def test_docs_examples_are_the_tests_that_run() -> None:
    """docs/testing.md shows tests/docs/test_user_examples.py verbatim, so its examples run."""
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "testing.md").read_text(encoding="utf-8")
    source = (root / "tests" / "docs" / "test_user_examples.py").read_text(encoding="utf-8")
    examples = doc[doc.index("## Two property tests") :]
    blocks = re.findall(r"```python\n(.*?)```", examples, flags=re.DOTALL)
    assert len(blocks) == 3
    assert all(block in source for block in blocks)
    shown = "".join(blocks)
    assert "def test_checkpoint_and_resume_is_exact" in shown
    assert "def test_head_gets_the_higher_lr" in shown


# ---- optimizer fields come from their validators ---------------------------------------------


def test_every_field_of_every_builtin_optimizer_is_drawn_from_its_validator() -> None:
    from optfn.optim.table import OptimizerTable
    from optfn.strategies.optimizers import _Limits, field_strategy

    limits = _Limits((1e-6, 1.0), 0.5)
    for kind in OptimizerTable.library():
        for a in attrs.fields(kind.spec):
            assert field_strategy(a, limits) is not None, (kind.tag, a.name)


@pytest.mark.parametrize("tag", OPTIMIZER_KINDS)
def test_every_field_of_every_kind_varies(tag: str) -> None:
    from optfn.optim.table import OPTIMIZERS

    cls = OPTIMIZERS.by_tag[tag].spec
    seen: dict[str, set[Any]] = {a.name: set() for a in attrs.fields(cls)}

    @settings(max_examples=150, deadline=None, database=None)
    @given(optimizer_specs(kinds=(tag,)))
    def collect(spec: OptimizerSpecification) -> None:
        for name, values in seen.items():
            values.add(getattr(spec, name))

    collect()
    assert all(len(values) >= 2 for values in seen.values()), {
        n: v for n, v in seen.items() if len(v) < 2
    }


def test_attrs_validators_are_read_too() -> None:
    from optfn.strategies.optimizers import domain_of

    v = attrs.validators
    assert domain_of(v.optional(v.in_(["a", "b"]))) == attrs.evolve(
        domain_of(v.in_(["a", "b"])),
        none=True,  # type: ignore[arg-type]
    )
    both = domain_of(v.and_(v.ge(0), v.lt(1)))
    assert both is not None and (both.lo, both.hi, both.lo_open, both.hi_open) == (
        0,
        1,
        False,
        True,
    )
    assert domain_of(v.gt(2), int) == domain_of(v.gt(2), "int")
    assert domain_of(v.instance_of(bool)) is not None and domain_of(v.instance_of(str)) is None
    assert domain_of(lambda inst, attr, val: None) is None  # a check of one's own: unread

    @attrs.frozen(kw_only=True)
    class Heavy(OptimizerSpecification):
        optimizer_type = "heavy_ball"
        learning_rate: float = attrs.field(default=0.1, validator=v.gt(0))
        lr_decay_gamma: float | None = None
        momentum: float = attrs.field(default=0.9, validator=[v.ge(0), v.lt(1)])
        dampening: float = 0.0  # no validator: stays at its default

    from optfn.strategies.optimizers import _Limits, spec_from_fields

    drawn = spec_from_fields(Heavy, _Limits((1e-3, 0.5), 0.1))
    assert reaches(drawn, lambda s: s.momentum not in (0.9, 0.0) and s.learning_rate != 0.1)

    @settings(max_examples=50, deadline=None, database=None)
    @given(drawn)
    def within(s: Any) -> None:
        assert 0 <= s.momentum < 1 and 1e-3 <= s.learning_rate <= 0.5 and s.dampening == 0.0

    within()


def test_momentum_fields_are_drawn_where_they_train() -> None:
    """SGD and RMSprop accept any momentum >= 0, but one above 1 diverges: every built-in
    kind's momentum fields are drawn in MOMENTUM_RANGE, and still vary."""
    from optfn.strategies.optimizers import MOMENTUM_RANGE

    lo, hi = MOMENTUM_RANGE
    for tag in ("sgd", "rmsprop", "muon", "normuon"):
        drawn = optimizer_specs(kinds=[tag])
        assert reaches(drawn, lambda s: 0.0 < s.momentum < 0.9), tag

        @settings(max_examples=40, deadline=None, database=None)
        @given(drawn)
        def within(s: Any) -> None:
            assert lo <= s.momentum <= hi, (type(s).__name__, s.momentum)

        within()
