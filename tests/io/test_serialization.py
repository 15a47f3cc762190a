"""Round trips of every spec through dicts, JSON and TOML; the format; the spec-method API."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optfn import strategies
from optfn.compat.serialized import optimizer_from_serialized, optimizer_params
from optfn.config import OptimConfig
from optfn.errors import ConfigError, SpecError
from optfn.io import (
    SpecRegistry,
    from_dict,
    from_json,
    from_toml,
    load_config,
    register_spec,
    save_config,
    to_dict,
    to_json,
    to_toml,
)
from optfn.io.registry import REGISTRY
from optfn.schedules import (
    MAX_STEPS,
    Constant,
    Join,
    Schedule,
    WarmupCosine,
)
from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.rules import ParamRules

# ---- strategies: optfn.strategies, at the widest bounds ----------------------------------------

#: Learning rates from the smallest subnormal to 1e6, every step count up to MAX_STEPS.
WIDE_LR = {"min_lr": 5e-324, "max_lr": 1e6, "max_weight_decay": 10.0}
optimizer_specs = strategies.optimizer_specs(**WIDE_LR)
schedules = strategies.schedule_specs(max_total_steps=MAX_STEPS)
param_rules = strategies.param_rules(max_lr_scales=4, min_lr_scale=5e-324, max_lr_scale=1e6)
optim_configs = strategies.configs(
    optimizers=optimizer_specs, schedules=schedules, rules=param_rules
)

#: One strategy per tag of optfn's registry.
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    **{k: strategies.optimizer_specs((k,), **WIDE_LR) for k in strategies.OPTIMIZER_KINDS},
    **{
        k: strategies.schedule_specs(kinds=(k,), max_total_steps=MAX_STEPS)
        for k in strategies.SCHEDULE_KINDS
        if k != "join"
    },
    "join": strategies.joins(max_total_steps=MAX_STEPS),
    "label_rule": strategies.label_rules(),
    "layer_decay": strategies.layer_decays(),
    "muon_routing": strategies.muon_routings(),
    "param_rules": param_rules,
    "hyper_schedules": strategies.hyper_schedules(schedules),
    "optim_config": optim_configs,
}

fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_library_spec_has_a_strategy() -> None:
    registry = SpecRegistry.library().by_tag
    assert set(STRATEGIES) == set(registry)
    families = {OptimizerSpecification, Schedule}
    assert set(strategies.spec_strategies()) == set(registry.values()) | families


# ---- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", sorted(STRATEGIES))
@fast
@given(data=st.data())
def test_round_trip_dict_json_toml(tag: str, data: st.DataObject) -> None:
    spec = data.draw(STRATEGIES[tag])
    d = to_dict(spec)
    assert d["type"] == tag and d["version"] == 1
    assert from_dict(d) == spec
    assert from_dict(d, type(spec)) == spec
    assert from_json(to_json(spec)) == spec
    assert from_toml(to_toml(spec)) == spec
    # to_dict is plain data: JSON and TOML hold it unchanged.
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert tomllib.loads(to_toml(spec)) == d


@fast
@given(spec=optimizer_specs)
def test_spec_methods_to_dict_from_serialized(spec: OptimizerSpecification) -> None:
    params = spec.to_dict()
    assert list(params) == [a.name for a in attrs.fields(type(spec))]  # every field, no tag
    assert json.loads(json.dumps(params, allow_nan=False)) == params  # JSON-safe
    assert OptimizerSpecification.from_serialized(spec.optimizer_type, params) == spec
    tagged: dict[str, Any] = {"optimizer_type": spec.optimizer_type, **params}
    assert optimizer_from_serialized(spec.optimizer_type, tagged) == spec


@fast
@given(cfg=optim_configs)
def test_config_files_round_trip(
    cfg: OptimConfig, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    for name in ("run.toml", "run.json", "RUN.TOML"):
        save_config(cfg, folder / name)
        assert load_config(folder / name) == cfg
        assert load_config(folder / name, OptimConfig) == cfg


# ---- the format ------------------------------------------------------------------------------


def test_spec_methods_checkpoint_example() -> None:
    spec = AdamWSpec(learning_rate=0.001, lr_decay_gamma=0.95)
    state_dict: dict[str, Any] = {
        "optimizer_type": spec.optimizer_type,
        "optimizer_params": spec.to_dict(),
    }
    assert state_dict["optimizer_params"] == {
        "learning_rate": 0.001,
        "lr_decay_gamma": 0.95,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "amsgrad": False,  # torch.optim.AdamW's own options, with its defaults
        "maximize": False,
        "weight_decay": 0.01,
        "implementation": "auto",
    }
    restored = OptimizerSpecification.from_serialized(
        state_dict["optimizer_type"], state_dict["optimizer_params"]
    )
    assert restored == spec and type(restored) is AdamWSpec


def test_spec_methods_params_keep_none_fields() -> None:
    assert optimizer_params(AdamSpec())["lr_decay_gamma"] is None
    assert AdamSpec.from_serialized("adam", {"lr_decay_gamma": None}) == AdamSpec()


def test_tags_and_layout() -> None:
    cfg = OptimConfig(
        optimizer=MuonSpec(),
        rules=ParamRules(lr_scales={"head": 5.0, "encoder.layers.0": 0.5}),
        schedule=Join(
            pieces=[Constant(), WarmupCosine(warmup_steps=0, total_steps=10)], boundaries=[5]
        ),
    )
    d = to_dict(cfg)
    assert list(d)[:2] == ["version", "type"] and d["type"] == "optim_config"
    assert d["optimizer"]["type"] == "muon"
    assert "type" not in d["rules"] and "type" not in d["rules"]["muon"]  # concrete fields
    assert d["rules"]["lr_scales"] == {"encoder.layers.0": 0.5, "head": 5.0}
    assert [p["type"] for p in d["schedule"]["pieces"]] == ["constant", "warmup_cosine"]
    assert d["schedule"]["boundaries"] == [5]
    assert "lr_decay_gamma" not in d["optimizer"]  # None with a None default: left out
    assert "layer_decay" not in d["rules"]
    assert [to_dict(c())["type"] for c in (AdamSpec, AdamWSpec, MuonSpec)] == [
        "adam",
        "adamw",
        "muon",
    ]


def test_hand_written_toml() -> None:
    text = """
        type = "optim_config"   # version may be left out: the current one
        [optimizer]
        type = "adamw"
        learning_rate = 1       # an int is fine for a float field
        [rules]
        type = "param_rules"    # a redundant tag is fine when it is the right one
        lr_scales = { head = 5, "encoder.layers.0" = 0.5 }
        [schedule]
        type = "warmup_cosine"
        warmup_steps = 100
        total_steps = 1000
    """
    cfg = from_toml(text)
    assert cfg.optimizer == AdamWSpec(learning_rate=1.0)
    assert type(cfg.optimizer.learning_rate) is float
    assert cfg.rules.lr_scales == (("encoder.layers.0", 0.5), ("head", 5.0))
    assert cfg.schedule == WarmupCosine(warmup_steps=100, total_steps=1000)
    written = to_dict(cfg)  # and written back as floats
    assert repr(written["optimizer"]["learning_rate"]) == "1.0"
    assert repr(written["rules"]["lr_scales"]) == "{'encoder.layers.0': 0.5, 'head': 5.0}"


def test_expected_class_or_family() -> None:
    d = to_dict(WarmupCosine(warmup_steps=0, total_steps=10))
    assert from_dict(d, Schedule) == WarmupCosine(warmup_steps=0, total_steps=10)
    del d["type"]
    assert from_dict(d, WarmupCosine) == WarmupCosine(
        warmup_steps=0, total_steps=10
    )  # the class decides
    with pytest.raises(ConfigError, match=r"type: required field missing; one of 'constant'"):
        from_dict(d, Schedule)
    with pytest.raises(ConfigError, match=r"type: unknown type 'adam'; allowed: 'constant'"):
        from_dict(to_dict(AdamSpec()), Schedule)
    with pytest.raises(ConfigError, match=r"type: must be 'param_rules' here"):
        from_dict(to_dict(AdamSpec()), ParamRules)


def test_unknown_suffix_and_unregistered_class(tmp_path: Path) -> None:
    suffixes = r"\.toml, \.json, \.yaml or \.yml"
    with pytest.raises(ValueError, match=rf"must end in {suffixes}, got '\.ini'"):
        save_config(AdamSpec(), tmp_path / "x.ini")
    assert not (tmp_path / "x.ini").exists()

    @attrs.frozen
    class Unregistered:
        x: int = 1

    with pytest.raises(TypeError, match="not a registered spec"):
        to_dict(Unregistered())


def test_file_names_version(tmp_path: Path) -> None:
    save_config(AdamSpec(), tmp_path / "a.toml")
    assert tomllib.loads((tmp_path / "a.toml").read_text())["version"] == 1
    save_config(AdamSpec(), tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())["version"] == 1
    (tmp_path / "b.json").write_text('{"version": 7, "type": "adam"}')
    with pytest.raises(ConfigError, match=r"b\.json.*\n  version: unsupported config version 7"):
        load_config(tmp_path / "b.json")


# ---- user registration -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Plateau(Constant):
    """A user's schedule shape (registered once, below)."""

    patience: int = 3


@attrs.frozen(kw_only=True)
class Budget:
    """A user's own spec with a field that is None by default and one that is not."""

    steps: int = 10
    note: str | None = None
    cap: float | None = 1.0


@pytest.fixture
def own_registrations() -> Iterator[None]:
    """Registrations made by a test are undone after it (the registry is the process's)."""
    from optfn.io.registry import REGISTRY

    saved = dict(REGISTRY.others)
    yield
    REGISTRY.others.clear()
    REGISTRY.others.update(saved)


@pytest.mark.usefixtures("own_registrations")
def test_register_spec_user_classes() -> None:
    assert register_spec(Plateau) == "plateau"
    assert register_spec(Plateau, "plateau") == "plateau"  # the same pair again: fine
    assert register_spec(Budget, "budget") == "budget"
    cfg = OptimConfig(schedule=Join(pieces=[Plateau(patience=5), Constant()], boundaries=[9]))
    assert from_toml(to_toml(cfg)) == cfg
    assert from_dict({"type": "budget", "steps": 4}) == Budget(steps=4)
    assert from_json(to_json(Budget(cap=None))) == Budget(cap=None)
    with pytest.raises(ValueError, match=r"cap: TOML has no null"):
        to_toml(Budget(cap=None))


@pytest.mark.usefixtures("own_registrations")
def test_register_spec_refusals() -> None:
    @attrs.frozen
    class Typed:
        type: str = "x"

    @attrs.frozen(kw_only=True)
    class MyAdam(AdamSpec):
        pass

    with pytest.raises(ValueError, match="'adam' is taken by AdamSpec"):
        register_spec(Plateau, "adam")
    with pytest.raises(ValueError, match="already registered as 'param_rules'"):
        register_spec(ParamRules, "rules")
    with pytest.raises(TypeError, match="must be an attrs class"):
        register_spec(dict, "dict")
    with pytest.raises(TypeError, match="abstract base"):
        register_spec(Schedule, "schedule")
    with pytest.raises(ValueError, match="cannot be named 'type'"):
        register_spec(Typed, "typed")
    with pytest.raises(ValueError, match="tagged by its optimizer_type 'adam'"):
        register_spec(MyAdam, "my_adam")
    with pytest.raises(ValueError, match="must be a name"):
        register_spec(Budget, "has space")


# ---- issue 19: save_config never touches the old file on failure ------------------------------
@attrs.frozen(kw_only=True)
class FreeText:
    """A user's spec with a free string field (no validator): it can hold a lone surrogate."""

    note: str = "ok"


def _saved(tmp_path: Path, suffix: str) -> tuple[Path, bytes]:
    path = tmp_path / f"run{suffix}"
    save_config(OptimConfig(), path)
    return path, path.read_bytes()


def _unchanged(tmp_path: Path, path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize("stage", ["text", "encoding", "writing", "renaming"])
def test_save_config_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, stage: str
) -> None:
    import optfn.io.formats as formats

    path, before = _saved(tmp_path, suffix)
    spec: Any = OptimConfig(rules=ParamRules(lr_scales={"head": 2.0}))
    expected: type[BaseException] = RuntimeError
    if stage == "text":

        def no_text(_: Any) -> str:
            raise RuntimeError("injected")

        monkeypatch.setitem(formats._FORMATS, suffix, (no_text, formats._FORMATS[suffix][1]))
    elif stage == "encoding":
        # registered for this test only (undone below): other tests list every registered tag
        monkeypatch.setitem(REGISTRY.others, "free_text", FreeText)
        spec, expected = FreeText(note="a\ud800b"), SpecError
    elif stage == "writing":
        real_fdopen = formats.os.fdopen

        class Broken:
            def __init__(self, f: Any) -> None:
                self.f = f

            def __enter__(self) -> Broken:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.f.close()

            def write(self, data: bytes) -> None:
                self.f.write(data[:5])  # part of it, then the disk is full
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(formats.os, "fdopen", lambda fd, mode: Broken(real_fdopen(fd, mode)))
        expected = OSError
    else:

        def no_rename(src: Any, dst: Any) -> None:
            raise OSError(13, "Permission denied")

        monkeypatch.setattr(formats.os, "replace", no_rename)
        expected = OSError
    with pytest.raises(expected):
        save_config(spec, path)
    monkeypatch.undo()
    _unchanged(tmp_path, path, before)
    assert REGISTRY.tag_of(FreeText) is None


def test_a_lone_surrogate_is_refused_at_construction() -> None:
    from optfn.specs.rules import LayerDecay, MuonRouting

    for make in (
        lambda: ParamRules(no_decay_names=("a\ud800",)),
        lambda: ParamRules(no_decay_types=("Layer\udfffNorm",)),
        lambda: ParamRules(lr_scales={"head\ud800": 2.0}),
        lambda: MuonRouting(include=("\ud800*",)),
        lambda: LayerDecay(rate=0.5, blocks="blocks\ud800"),
        lambda: LayerDecay(rate=0.5, stem=("x\ud800",)),
    ):
        with pytest.raises(SpecError, match="lone surrogate|class name"):
            make()
    with pytest.raises(ConfigError, match="lone surrogate"):
        from_json('{"type": "param_rules", "no_decay_names": ["a\\ud800"]}')


def test_control_characters_are_refused_in_names() -> None:
    from optfn.specs.rules import LayerDecay

    with pytest.raises(SpecError, match="non-printable"):
        ParamRules(no_decay_names=("bias\x1b",))
    with pytest.raises(SpecError, match="non-printable"):
        ParamRules(lr_scales={"head\x00": 2.0})
    with pytest.raises(SpecError, match="non-printable"):
        LayerDecay(rate=0.5, blocks="blocks\x07")
    with pytest.raises(SpecError, match="cannot contain whitespace"):  # the older, sharper words
        ParamRules(no_decay_names=("a\tb",))
    assert ParamRules(no_decay_names=("é*",)).no_decay_names == ("é*",)  # Unicode is fine


@given(spec=strategies.configs())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_dict_round_trip_is_exact(spec: Any) -> None:
    assert from_dict(to_dict(spec)) == spec
    assert from_json(to_json(spec)) == spec


def test_the_deepest_join_fits_in_the_nesting_limit() -> None:
    from optfn.io import MAX_DEPTH
    from optfn.schedules import MAX_JOIN_DEPTH, Constant, Join

    sched: Any = Constant()
    for _ in range(MAX_JOIN_DEPTH - 1):
        sched = Join(pieces=(Constant(), sched), boundaries=(1,))
    config = OptimConfig(schedule=sched)
    assert from_json(to_json(config)) == config and from_toml(to_toml(config)) == config
    assert 2 * MAX_JOIN_DEPTH + 2 <= MAX_DEPTH
