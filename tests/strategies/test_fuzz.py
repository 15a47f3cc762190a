"""Property-based fuzzing of everything that reads user input (issue 19).

Mutated valid configs through dicts, JSON and TOML, random texts, deep nesting, huge numbers,
corrupt checkpoints and the command line: every outcome is either a value or one of optfn's
own errors (an :class:`~optfn.errors.OptfnError`), never anything else. Each test's example
count is small enough for the whole file to run in well under a minute (CI derandomizes it,
see ``conftest.py``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import types
import typing
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import tomli_w
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optfn import strategies
from optfn.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint
from optfn.cli import main
from optfn.errors import OptfnError, SpecError, SpecTypeError
from optfn.io import (
    MAX_DEPTH,
    SpecRegistry,
    from_dict,
    from_json,
    from_toml,
    to_dict,
    to_json,
    to_toml,
)
from optfn.schedules import (
    MAX_STEPS,
    Constant,
    PiecewiseConstant,
    Ramp,
    Schedule,
    lr_curve,
    lr_lambda,
)
from optfn.specs.checks import is_real
from optfn.specs.render import SHOW_WIDTH
from optfn.strategies import spec_strategies

#: More examples for a long local run:
#: ``OPTFN_FUZZ_EXAMPLES=2000 pytest tests/strategies/test_fuzz.py``.
EXAMPLES = int(os.environ.get("OPTFN_FUZZ_EXAMPLES", "60"))
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SLOW = settings(FAST, max_examples=max(1, EXAMPLES // 3))

#: Values a hostile or careless file can hold in any place.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**53 - 2, max_value=2**70),
    st.sampled_from([10**400, -(10**5000), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\x1b[2J", "\ud800", "adamw", "", "AdamW", "warmup_cosine", "x" * 5000]),
    st.lists(st.integers(), max_size=5),
    st.builds(lambda n: _nest(n), st.integers(min_value=MAX_DEPTH - 3, max_value=400)),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _nest(n: int, leaf: Any = 0.5) -> Any:
    out = leaf
    for _ in range(n):
        out = [out] if n % 2 else {"a": out}
    return out


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in plain data (dict keys, list indexes), the root included."""
    out = [path]
    if isinstance(data, dict):
        for key, val in data.items():
            out += _paths(val, (*path, key))
    elif isinstance(data, list):
        for i, val in enumerate(data):
            out += _paths(val, (*path, i))
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> Any:
    """``to_dict`` of a valid config, with a few places replaced, removed or added."""
    data = to_dict(draw(strategies.configs()))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _paths(data)
        place = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not place:
            if action == "replace":
                data = draw(JUNK)
            continue
        parent = data
        for key in place[:-1]:
            parent = parent[key]
        last = place[-1]
        if action == "replace":
            parent[last] = draw(JUNK)
        elif action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["lr", "\x1b[31m", "type", "version", "x" * 200]))] = draw(
                JUNK
            )
        else:
            parent.append(draw(JUNK))
    return data


def _outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The value of ``call``, or ``None`` when it raised one of optfn's own errors."""
    try:
        return call(*args, **kwargs)
    except OptfnError as exc:
        text = str(exc)
        assert "\x1b" not in text
        assert all(len(line) < 2500 for line in text.splitlines())
        return None


def _round_trips(spec: Any) -> None:
    if spec is not None:
        assert from_dict(to_dict(spec)) == spec
        assert from_json(to_json(spec)) == spec


# ---- configs ----------------------------------------------------------------------------------
@given(data=mutated_configs())
@FAST
def test_mutated_configs_through_dict_json_and_toml(data: Any) -> None:
    _round_trips(_outcome(from_dict, data))
    try:
        text = json.dumps(data)
    except (ValueError, TypeError, RecursionError):  # what json cannot write
        text = None
    if text is not None:
        _round_trips(_outcome(from_json, text))
    try:
        toml_text = tomli_w.dumps(data) if isinstance(data, dict) else None
    except (ValueError, TypeError, RecursionError):  # None, NaN keys... TOML cannot write
        toml_text = None
    if toml_text is not None:
        _round_trips(_outcome(from_toml, toml_text))


@given(text=st.one_of(st.text(max_size=200), st.text(alphabet="[]{}\"'=.,:#\n a1", max_size=400)))
@FAST
def test_random_texts(text: str) -> None:
    _outcome(from_json, text)
    _outcome(from_toml, text)


@given(
    depth=st.integers(min_value=MAX_DEPTH - 2, max_value=3000),
    opening=st.sampled_from(["[", '{"a": ', "{a = ", "a."]),
)
@FAST
def test_deep_nesting_texts(depth: int, opening: str) -> None:
    if opening == "a.":
        toml = "type." + "a." * depth + "a = 1"
        assert _outcome(from_toml, toml) is None
        return
    closing = {"[": "]", '{"a": ': "}", "{a = ": "}"}[opening]
    body = opening * depth + "1" + closing * depth
    assert _outcome(from_json, body) is None
    assert _outcome(from_toml, "type = " + body) is None
    assert _outcome(from_dict, {"type": "adamw", "betas": _nest(depth)}) is None


@given(
    field=st.sampled_from(["learning_rate", "eps", "weight_decay", "betas", "lr_decay_gamma"]),
    value=st.one_of(
        st.integers(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.sampled_from([2**53 + 1, 10**400, 10**5000, 2**1024]),
        st.floats(),
    ),
)
@FAST
def test_huge_numbers(field: str, value: Any) -> None:
    from optfn import AdamWSpec

    spec = _outcome(from_dict, {"type": "adamw", field: value})
    _round_trips(spec)
    if spec is not None:
        assert math.isfinite(float(getattr(spec, field) if field != "betas" else 0.0))
    built = _outcome(lambda: AdamWSpec(**{field: value}))
    _round_trips(built)


# ---- checkpoints --------------------------------------------------------------------------------
def _build() -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    from optfn import AdamWSpec, WarmupCosine, make_optimizer, make_scheduler

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = make_optimizer(model, AdamWSpec())
    return model, opt, make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=8))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, dict[str, Any]]:
    from optfn import OptimConfig

    model, opt, sched = _build()
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    sched.step()
    path = tmp_path_factory.mktemp("fuzz") / "run.pt"
    save_checkpoint(
        path, config=OptimConfig(), optimizer=opt, scheduler=sched, model=model, extra={"k": 1}
    )
    return path, path.read_bytes(), torch.load(path, weights_only=True)


def _load_and_restore(path: Path) -> None:
    ckpt = _outcome(load_checkpoint, path)
    if ckpt is not None:
        assert isinstance(ckpt, Checkpoint)
        model, opt, sched = _build()
        _outcome(restore, ckpt, opt, sched, model)


@given(
    cut=st.integers(min_value=0, max_value=10**6),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
)
@SLOW
def test_corrupt_checkpoint_bytes(
    saved: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, cut: int, flips: list[Any]
) -> None:
    _, raw, _ = saved
    data = bytearray(raw[: cut % (len(raw) + 1)])
    for at, byte in flips:
        if data:
            data[at % len(data)] = byte
    path = tmp_path / "corrupt.pt"
    path.write_bytes(bytes(data))
    _load_and_restore(path)


@given(data=st.data())
@SLOW
def test_corrupt_checkpoint_entries(
    saved: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    _, _, payload = saved
    payload = torch.load(saved[0], weights_only=True)  # a fresh copy to edit
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        places = [p for p in _paths(payload) if p]
        place = data.draw(st.sampled_from(places))
        parent = payload
        for key in place[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[place[-1]]
        else:
            parent[place[-1]] = data.draw(
                st.one_of(JUNK, st.builds(torch.zeros, st.integers(0, 3), st.integers(0, 3)))
            )
    path = tmp_path / "edited.pt"
    try:
        torch.save(payload, path)
    except RecursionError:  # too deep for pickle itself: nothing to load
        return
    _load_and_restore(path)


# ---- the command line ---------------------------------------------------------------------------
@given(data=mutated_configs(), suffix=st.sampled_from([".json", ".toml"]))
@SLOW
def test_cli_validate_exits_0_or_2(tmp_path: Path, data: Any, suffix: str) -> None:
    path = tmp_path / f"config{suffix}"
    try:
        text = json.dumps(data) if suffix == ".json" else tomli_w.dumps(data)
    except (ValueError, TypeError, RecursionError, AttributeError):
        return
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert main(["validate", str(path)]) in (0, 2)


@given(
    steps=st.one_of(st.integers(-3, 40), st.integers(min_value=10**7 + 1, max_value=2**80)),
)
@SLOW
def test_cli_curve_exits_0_or_2(tmp_path: Path, steps: int) -> None:
    path = tmp_path / "sched.toml"
    path.write_text('type = "warmup_cosine"\nwarmup_steps = 3\ntotal_steps = 20\n')
    assert main(["curve", str(path), "--steps", str(steps)]) == (0 if 1 <= steps <= 40 else 2)


def test_show_width_is_what_messages_use() -> None:
    assert SHOW_WIDTH == 80


# ---- extreme but accepted schedule values (issue 24) -------------------------------------------

#: Step counts at the edges of what a spec accepts (every one is exact in float64).
EXTREME_INTS = st.one_of(
    st.sampled_from([1, 3, 2**26, 2**52, 2**53 - 1, 2**53, 2**53 + 1]),
    st.integers(0, 4),
    st.integers(1, 2**53),
)
_BIG = sys.float_info.max
#: Values from 0 to the largest float, the edges of float64 included.
EXTREME_FLOATS = st.one_of(
    st.sampled_from(
        [0.0, 5e-324, 1e-300, 0.5, 1.0, 2.0, 1e200, 1e300, _BIG, _BIG / 2, 3 * 2.0**970, 2.9e307]
    ),
    st.floats(0.0, 1.0),
    st.floats(0.0, _BIG),
)
_SCHEDULE_CLASSES = sorted(
    SpecRegistry.library().members(Schedule).values(), key=lambda c: c.__name__
)
_SIMPLE = st.sampled_from(
    [Constant(), PiecewiseConstant(values=(1e200,)), Ramp(steps=2**53, start_scale=_BIG)]
)


def _value_strategy(hint: Any, n: int, depth: int) -> st.SearchStrategy[Any]:
    """Extreme values of a field's type: ``n`` sets the length of sequences that go with
    ``n - 1`` boundaries (values, pieces), so that most drawn specs are valid."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return EXTREME_INTS
    if hint is float:
        return EXTREME_FLOATS
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(_value_strategy(a, n, depth) for a in args if a is not type(None)),
                         st.none())  # fmt: skip
    if hint is type(None):
        return st.none()
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if item is int:  # boundaries: strictly increasing steps
            return st.lists(EXTREME_INTS, min_size=n - 1, max_size=n - 1, unique=True).map(
                lambda xs: tuple(sorted(xs))
            )
        if item is Schedule:
            return st.lists(_extreme_schedules(depth - 1), min_size=n, max_size=n).map(tuple)
        return st.lists(_value_strategy(item, n, depth), min_size=n, max_size=n).map(tuple)
    raise AssertionError(f"no extreme values for {hint!r}")


@st.composite
def _extreme_kwargs(draw: st.DrawFn, cls: type, depth: int) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    n = draw(st.integers(1, 3))
    return {
        (f.alias or f.name): draw(_value_strategy(hints[f.name], n, depth))
        for f in attrs.fields(cls)
        # a field with a default keeps it half the time (a Ramp's power and cycles each fit
        # only some shapes): more of the drawn specs are valid
        if f.default is attrs.NOTHING or draw(st.booleans())
    }


def _built(cls: type, kwargs: dict[str, Any]) -> Any:
    """The spec, or the refusal, which must name one of the class's own fields."""
    try:
        return cls(**kwargs)
    except (SpecError, SpecTypeError) as exc:
        assert exc.owner == cls.__name__, exc
        names = {f.alias or f.name for f in attrs.fields(cls)}
        assert exc.field.split("[")[0].split(".")[0] in names, exc
        return None


def _nests(cls: type) -> bool:
    """Whether ``cls`` is made of other schedules (a Join's pieces, a Product's factors)."""
    return any(typing.get_args(h)[:1] == (Schedule,) for h in typing.get_type_hints(cls).values())


def _extreme_schedules(depth: int) -> st.SearchStrategy[Schedule]:
    classes = [c for c in _SCHEDULE_CLASSES if depth > 0 or not _nests(c)]
    built = st.sampled_from(classes).flatmap(
        lambda c: _extreme_kwargs(c, depth).map(lambda kw: _built(c, kw))
    )
    return st.one_of(_SIMPLE, built.filter(lambda s: s is not None))


_HUGE_STARTS = (0, 2**26 - 3, 2**52 - 3, 2**53 - 3, 2**62, 2**63 - 8)
_HUGE_STEPS = (0, 1, 2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64 + 1, 2**80, 2**200)


@pytest.mark.parametrize("cls", _SCHEDULE_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
@FAST
def test_extreme_valid_schedules_have_finite_multipliers(cls: type, data: Any) -> None:
    """Steps up to 2**53 and beyond, values up to the largest float: every valid spec gives
    finite multipliers >= 0 within its bound, lr_lambda equal to lr_curve; an invalid one
    is refused naming its field (issue 24: Cyclic's -inf, Product's inf, Ramp's inf/NaN).
    The specs: the library's strategies with step counts up to 2**53, and every field of
    ``cls`` drawn from extreme values."""
    if data.draw(st.integers(0, 3)) == 0:
        spec = data.draw(strategies.schedule_specs(max_total_steps=MAX_STEPS, max_depth=1))
    else:
        spec = _built(cls, data.draw(_extreme_kwargs(cls, 2)))
    if spec is None:
        return
    bound = spec.max_multiplier()
    top = math.inf if bound is None else bound * (1 + 2**-50)
    f = lr_lambda(spec)
    for start in _HUGE_STARTS:
        curve = lr_curve(spec, 8, start=start)
        assert np.isfinite(curve).all() and (curve >= 0).all() and (curve <= top).all(), (
            spec, start, curve)  # fmt: skip
        assert curve.tolist() == [f(start + k) for k in range(8)], (spec, start)
    for step in _HUGE_STEPS:
        value = f(step)
        assert math.isfinite(value) and 0.0 <= value <= top, (spec, step, value)


# ---- numbers of other kinds in spec fields (issue 24) ------------------------------------------


def _numeric_places(spec: Any) -> list[tuple[str, Any, int | None]]:
    """(field, value, index in a tuple or None) for every number a spec's own fields hold."""
    out: list[tuple[str, Any, int | None]] = []
    for f in attrs.fields(type(spec)):
        val = getattr(spec, f.name)
        if is_real(val):
            out.append((f.alias or f.name, val, None))
        elif isinstance(val, tuple):
            for i, x in enumerate(val):
                if is_real(x):
                    out.append((f.alias or f.name, x, i))
                elif isinstance(x, tuple) and len(x) == 2 and is_real(x[1]):  # {name: number}
                    out.append((f.alias or f.name, x[1], i))
    return out


def _all_plain(obj: Any) -> bool:
    """Every number in a spec, nested specs and tuples included, is a Python float or int."""
    if is_real(obj):
        return type(obj) in (float, int)
    if isinstance(obj, tuple):
        return all(_all_plain(x) for x in obj)
    if attrs.has(type(obj)):
        return all(_all_plain(getattr(obj, f.name)) for f in attrs.fields(type(obj)))
    return True


def _other_kinds(value: Any) -> list[Any]:
    """``value`` as other kinds of number: the ones that equal it, and Decimal (refused)."""
    if type(value) is int:
        return [np.int64(value) if value < 2**63 else np.uint64(value), Fraction(value),
                Decimal(value), float(value)]  # fmt: skip
    kinds: list[Any] = [Fraction(value), np.float64(value), Decimal(value)]
    if float(np.float32(value)) == value:
        kinds.append(np.float32(value))
    if value.is_integer() and abs(value) < 2**63:
        kinds.append(np.int64(int(value)))
    return kinds


_TAGS = sorted(SpecRegistry.library().by_tag)
_SPEC_STRATEGIES = spec_strategies()


@pytest.mark.parametrize("tag", _TAGS)
@given(data=st.data())
@SLOW
def test_every_numeric_field_stores_plain_numbers_or_refuses(data: Any, tag: str) -> None:
    """A number of another kind (numpy, Fraction, Decimal) in any numeric field of any spec:
    the spec holds the Python float or int it equals, and reads back from TOML as itself;
    or it is refused naming the field (a Decimal, an inexact Fraction, a float for an
    integer) (issue 24)."""
    cls = SpecRegistry.library().by_tag[tag]
    spec = data.draw(_SPEC_STRATEGIES[cls])
    places = _numeric_places(spec)
    if not places:
        assert _all_plain(spec)
        return
    name, value, index = data.draw(st.sampled_from(places))
    other = data.draw(st.sampled_from(_other_kinds(value)))
    if index is None:
        new: Any = other
    else:
        held = list(getattr(spec, next(f.name for f in attrs.fields(cls) if
                                       (f.alias or f.name) == name)))  # fmt: skip
        held[index] = (held[index][0], other) if isinstance(held[index], tuple) else other
        new = tuple(held)
    try:
        changed = attrs.evolve(spec, **{name: new})
    except (SpecError, SpecTypeError) as e:
        # refused (a Decimal, a Fraction for an integer, a float for an integer), by name
        assert e.owner == cls.__name__, e
        assert e.field == name or e.field.startswith(f"{name}["), e
        return
    assert not isinstance(other, Decimal)
    assert changed == spec and _all_plain(changed)
    assert from_toml(to_toml(changed)) == changed
