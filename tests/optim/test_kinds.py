"""optfn's one table of kinds: every list of kinds comes from it, and every spec class in it is
keyword-only with an error that names the fields to write."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optfn
from optfn import OptimizerSpecification, Schedule, SpecTypeError, from_dict, to_dict
from optfn.io import SpecRegistry
from optfn.io.registry import REGISTRY
from optfn.optim.table import KINDS, OPTIMIZERS, KindTable, OptimizerKind, SpecKind, family_of
from optfn.specs.keywords import keyword_only_message
from optfn.strategies import OPTIMIZER_KINDS, SCHEDULE_KINDS, optimizer_specs, spec_strategies

LIBRARY = KindTable.library()
CLASSES = [k.spec for k in LIBRARY.kinds.values()]


def test_one_table_for_every_kind() -> None:
    assert SpecRegistry is KindTable and REGISTRY is KINDS
    assert LIBRARY.by_tag == SpecRegistry.library().by_tag
    for tag, kind in LIBRARY.kinds.items():
        assert kind.tag == tag
        if isinstance(kind, OptimizerKind):
            assert kind.family == "optimizer" and kind.spec.optimizer_type == tag
        else:
            assert isinstance(kind, SpecKind) and kind.family != "optimizer"
            if issubclass(kind.spec, Schedule):
                assert kind.family == family_of(kind.spec) == "schedule"
    assert {k.family for k in LIBRARY.kinds.values()} == {
        "optimizer",
        "schedule",
        "rules",
        "config",
    }


def test_the_lists_of_kinds_come_from_the_table() -> None:
    optimizers = LIBRARY.family("optimizer")
    assert OPTIMIZER_KINDS == tuple(optimizers)
    assert set(SCHEDULE_KINDS) == set(LIBRARY.family("schedule"))
    assert [k.tag for k in OPTIMIZERS][: len(optimizers)] == list(optimizers)
    # every spec class of the table is exported under its own name
    for kind in LIBRARY.kinds.values():
        name = kind.spec.__name__
        assert name in optfn.__all__ and getattr(optfn, name) is kind.spec, name
    # and has a strategy
    assert set(spec_strategies()) >= set(CLASSES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_optimizer_kind_is_drawn_and_round_trips(data: st.DataObject) -> None:
    tag = data.draw(st.sampled_from(OPTIMIZER_KINDS))
    spec = data.draw(optimizer_specs(kinds=(tag,)))
    assert type(spec) is OPTIMIZERS.by_tag[tag].spec
    assert from_dict(to_dict(spec)) == spec == attrs.evolve(spec)


# ---- keyword-only ---------------------------------------------------------------------------


def _required(cls: type) -> dict[str, Any]:
    """Values for the fields without default, so that only the positional argument is wrong."""
    return {a.alias or a.name: None for a in attrs.fields(cls) if a.default is attrs.NOTHING}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_positional_arguments_name_the_fields_to_write(cls: type) -> None:
    fields = [a.alias or a.name for a in attrs.fields(cls) if a.init]
    with pytest.raises(SpecTypeError) as info:
        cls(1, **_required(cls))
    msg = str(info.value)
    assert isinstance(info.value, TypeError)
    assert msg == keyword_only_message(cls)
    if fields:
        assert msg.startswith(f"{cls.__name__} takes keyword arguments only: write {cls.__name__}(")
        assert msg.endswith(f"(fields: {', '.join(fields)})")
    else:
        assert msg == f"{cls.__name__} takes no arguments: write {cls.__name__}()"
    assert info.value.owner == cls.__name__


def test_the_message_shows_the_required_fields_first() -> None:
    from optfn import AdamWSpec, LinearWarmup, WarmupCosine

    with pytest.raises(TypeError, match=r"^LinearWarmup takes keyword arguments only: write "):
        LinearWarmup(500)  # type: ignore[misc]
    assert keyword_only_message(LinearWarmup).startswith(
        "LinearWarmup takes keyword arguments only: write LinearWarmup(warmup_steps=..., ...) "
        "(fields: warmup_steps, "
    )
    assert "write WarmupCosine(warmup_steps=..., total_steps=..., ...)" in (
        keyword_only_message(WarmupCosine)
    )
    with pytest.raises(TypeError, match=r"write AdamWSpec\(learning_rate=\.\.\., \.\.\.\)"):
        AdamWSpec(1e-3)  # type: ignore[misc]
    # keywords work as before, and so do copies, pickles and evolve
    import copy
    import pickle

    spec = AdamWSpec(learning_rate=1e-3)
    assert pickle.loads(pickle.dumps(spec)) == spec == copy.deepcopy(spec)
    assert attrs.evolve(spec, eps=1e-6).eps == 1e-6


def test_a_user_class_on_the_base_and_the_abstract_bases() -> None:
    @attrs.frozen(kw_only=True)
    class Mine(OptimizerSpecification):
        optimizer_type = "mine"
        learning_rate: float = 0.1
        lr_decay_gamma: float | None = None

    with pytest.raises(SpecTypeError, match=r"^Mine takes keyword arguments only: write Mine\("):
        Mine(0.1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="abstract"):
        Schedule()  # type: ignore[abstract]

    @attrs.frozen
    class Positional(optfn.specs.keywords.KeywordOnly):  # its __init__ takes positions
        x: int

    assert Positional(3).x == 3


def test_entries_written_back_through_the_views_keep_their_family() -> None:
    """Saving ``REGISTRY.others`` and writing it back (as a test fixture or a user undoing a
    registration does) leaves the one table as it was, families included."""
    before = {t: (k.spec, k.family) for t, k in KINDS.kinds.items()}
    saved_others = dict(REGISTRY.others)
    saved_optimizers = dict(OPTIMIZERS.by_tag)
    try:
        REGISTRY.others.clear()
        OPTIMIZERS.by_tag.clear()
        assert not KINDS.kinds
        REGISTRY.others.update(saved_others)
        OPTIMIZERS.by_tag.update(saved_optimizers)
        after = {t: (k.spec, k.family) for t, k in KINDS.kinds.items()}
        assert after == before
        assert {k.family for k in KINDS.kinds.values()} == {
            "optimizer",
            "schedule",
            "rules",
            "config",
        }
    finally:
        KINDS.kinds.clear()
        for tag, (cls, _family) in before.items():
            if tag in saved_optimizers:
                KINDS.kinds[tag] = saved_optimizers[tag]
            else:
                REGISTRY.others[tag] = cls


def test_writes_through_the_views_are_checked() -> None:
    """The views write to the one table, so a write that would put a kind of one sort under
    another's tag, or an unchecked entry, is refused and changes nothing."""
    from optfn import AdamWSpec, SpecError, WarmupCosine

    before = dict(KINDS.kinds)
    with pytest.raises(SpecError, match="'adamw' is taken by the optimizer AdamWSpec"):
        REGISTRY.others["adamw"] = WarmupCosine
    with pytest.raises(SpecTypeError, match="AdamWSpec is an optimizer spec: use register_opt"):
        REGISTRY.others["adamw_again"] = AdamWSpec
    with pytest.raises(SpecTypeError, match="must be an attrs class"):
        REGISTRY.others["free"] = dict
    with pytest.raises(SpecTypeError, match="must be an OptimizerKind"):
        OPTIMIZERS.by_tag["warmup_cosine"] = WarmupCosine  # type: ignore[assignment]
    adamw = OPTIMIZERS.by_tag["adamw"]
    with pytest.raises(SpecError, match="'adam' is not the kind's tag 'adamw'"):
        OPTIMIZERS.by_tag["adam"] = adamw
    assert KINDS.kinds == before
