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
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optfn import strategies
from optfn.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint
from optfn.cli import main
from optfn.errors import OptfnError
from optfn.io import MAX_DEPTH, from_dict, from_json, from_toml, to_dict, to_json
from optfn.specs.render import SHOW_WIDTH

#: More examples for a long local run: ``OPTFN_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py``.
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
