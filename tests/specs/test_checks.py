"""optfn.specs.checks: one rule for numbers everywhere (specs, muon param groups, arguments).

A real number is any ``numbers.Real`` (numpy integer and floating scalars included), never a
bool or numpy's ``bool_``; an integer any ``numbers.Integral``, never a bool, never ``2.0``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs
import numpy as np
import pytest
import torch

from optfn import AdamWSpec, MuonSpec, WarmupCosine, lr_curve, lr_lambda
from optfn.errors import SpecError, SpecTypeError
from optfn.io import from_dict, from_json, from_toml, to_dict, to_json, to_toml
from optfn.optim.muon import MuonWithAdamW
from optfn.specs import checks, render
from optfn.specs.optimizers import MAX_NS_STEPS

REALS = [0, 1, 2.5, np.float32(0.5), np.float64(0.5), np.float16(0.5), np.int64(3), Fraction(1, 2)]
NOT_REALS = [True, False, np.bool_(True), "0.5", None, b"1", [1.0], (1.0,), torch.tensor(0.5)]
INTS = [0, 7, np.int8(3), np.int64(5), np.uint16(2)]
NOT_INTS = [True, np.bool_(False), 2.0, np.float32(2.0), "2", None, Fraction(2, 1)]


@pytest.mark.parametrize("v", REALS, ids=repr)
def test_is_real_accepts_python_and_numpy_numbers(v: Any) -> None:
    assert checks.is_real(v)


@pytest.mark.parametrize("v", NOT_REALS, ids=repr)
def test_is_real_refuses_bools_strings_and_containers(v: Any) -> None:
    assert not checks.is_real(v)


@pytest.mark.parametrize("v", INTS, ids=repr)
def test_is_int_accepts_python_and_numpy_integers(v: Any) -> None:
    assert checks.is_int(v)


@pytest.mark.parametrize("v", NOT_INTS, ids=repr)
def test_is_int_refuses_bools_floats_and_strings(v: Any) -> None:
    assert not checks.is_int(v)


def test_is_bool_is_python_bool_only() -> None:
    assert checks.is_bool(True) and checks.is_bool(False)
    assert not any(checks.is_bool(v) for v in (1, 0, np.bool_(True), "true", None))


@pytest.mark.parametrize(
    ("v", "lo", "hi", "lo_open", "hi_open", "ok"),
    [
        (0.0, 0.0, None, False, False, True),
        (0.0, 0.0, None, True, False, False),
        (1.0, 0.0, 1.0, False, True, False),
        (1.0, 0.0, 1.0, False, False, True),
        (np.float32(0.999), 0.0, 1.0, False, True, True),
        (math.nan, None, None, False, False, False),
        (-math.inf, None, None, False, False, False),
        (10**400, 0.0, None, False, False, False),  # beyond float range: not finite
        (-(10**400), None, None, False, False, False),
    ],
)
def test_in_range(v: Any, lo: Any, hi: Any, lo_open: bool, hi_open: bool, ok: bool) -> None:
    assert checks.in_range(v, lo, hi, lo_open=lo_open, hi_open=hi_open) is ok


def test_as_float_and_plain_number() -> None:
    assert checks.as_float(10**400) == math.inf and checks.as_float(-(10**400)) == -math.inf
    assert checks.as_float(np.float32(0.5)) == 0.5
    for v, want in ((np.float32(0.25), 0.25), (np.int64(4), 4), (np.float64(1.5), 1.5)):
        out = checks.plain_number(v)
        assert out == want and type(out) is type(want)
    for v in (1, 1.5, True, "x", None, (np.float32(1.0),)):
        assert checks.plain_number(v) is v  # Python numbers and non-numbers are left alone


def test_check_real_messages() -> None:
    with pytest.raises(SpecTypeError) as info:
        checks.check_real("f", "x", np.bool_(True), 0.0, None, True, False)
    assert str(info.value) == "f.x: must be a number (> 0), got np.True_ (bool)"
    with pytest.raises(SpecError) as err:
        checks.check_real("f", "x", np.float32(-1.0), 0.0, None, True, False)
    assert str(err.value) == "f.x: must be finite and > 0, got np.float32(-1.0)"
    assert (err.value.owner, err.value.field) == ("f", "x")
    checks.check_real("f", "x", np.float32(0.5), 0.0, 1.0)  # passes


def test_real_arg_returns_a_float() -> None:
    out = checks.real_arg("f", "lr", np.float32(0.5), 0.0, lo_open=True)
    assert out == 0.5 and type(out) is float
    with pytest.raises(SpecError, match=r"^f\.lr: must be finite and > 0, got 0$"):
        checks.real_arg("f", "lr", 0, 0.0, lo_open=True)


@pytest.mark.parametrize("v", [np.int64(7), np.int32(7), 7])
def test_step_arg_takes_numpy_integers(v: Any) -> None:
    out = checks.step_arg("f", "n", v, 1)
    assert out == 7 and type(out) is int


@pytest.mark.parametrize(
    ("v", "exc", "message"),
    [
        (True, SpecTypeError, "f.n: must be an integer >= 1, got True (bool)"),
        (np.float64(2.0), SpecTypeError, "f.n: must be an integer >= 1, got np.float64(2.0)"),
        (np.int64(0), SpecError, "f.n: must be an integer >= 1, got np.int64(0)"),
    ],
)
def test_step_arg_refuses(v: Any, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        checks.step_arg("f", "n", v, 1)
    assert str(info.value).startswith(message)


def test_step_functions_take_numpy_integers_like_ints() -> None:
    sched = WarmupCosine(warmup_steps=np.int64(3), total_steps=np.int32(10))
    assert sched == WarmupCosine(warmup_steps=3, total_steps=10)
    assert np.array_equal(lr_curve(sched, np.int64(10)), lr_curve(sched, 10))
    assert lr_lambda(sched)(np.int64(4)) == lr_lambda(sched)(4)


def test_validators_print_what_they_check() -> None:
    fields = attrs.fields(MuonSpec)
    assert repr(fields.learning_rate.validator) == "real(> 0)"
    assert repr(fields.momentum.validator) == "real(in [0, 1))"
    assert repr(fields.nesterov.validator) == "boolean"
    assert repr(fields.betas.validator) == "real_tuple(2, in [0, 1))"
    assert repr(fields.adjust_lr_fn.validator) == "one_of('original', 'match_rms_adamw')"
    assert "step_count(>= 1)" in repr(fields.ns_steps.validator)
    assert repr(attrs.fields(AdamWSpec).lr_decay_gamma.validator) == (
        "<optional validator for real(in (0, 1]) or None>"
    )


# ---- one rule for spec fields and muon param groups ----------------------------------------
LR32 = np.float32(1e-3)  # not exactly 1e-3: float(LR32) == 0.0010000000474974513


def test_a_numpy_learning_rate_is_accepted_by_every_spec() -> None:
    adamw = AdamWSpec(learning_rate=LR32)
    assert adamw == AdamWSpec(learning_rate=float(LR32))
    assert hash(adamw) == hash(AdamWSpec(learning_rate=float(LR32)))
    muon = MuonSpec(learning_rate=LR32, adamw_lr=np.float64(3e-4), ns_steps=np.int64(5))
    assert muon == MuonSpec(learning_rate=float(LR32), adamw_lr=3e-4, ns_steps=5)


@pytest.mark.parametrize("cls", [AdamWSpec, MuonSpec])
@pytest.mark.parametrize(
    ("value", "exc", "message"),
    [
        (
            np.float32(-1.0),
            SpecError,
            "learning_rate: must be finite and > 0, got np.float32(-1.0)",
        ),
        (
            np.float64(np.nan),
            SpecError,
            "learning_rate: must be finite and > 0, got np.float64(nan)",
        ),
        (np.bool_(True), SpecTypeError, "learning_rate: must be a number (> 0), got np.True_"),
    ],
)
def test_a_bad_numpy_learning_rate_is_refused_alike(
    cls: type, value: Any, exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc) as info:
        cls(learning_rate=value)
    assert str(info.value).startswith(f"{cls.__name__}.{message}")


def _groups(lr: Any, w: torch.Tensor, b: torch.Tensor) -> list[dict[str, Any]]:
    return [
        {
            "params": [w],
            "param_names": ["w"],
            "route": "muon",
            "lr": lr,
            "weight_decay": np.float64(0.1),
            "momentum": np.float32(0.5),
            "nesterov": True,
            "ns_coefficients": (3.4445, -4.775, 2.0315),
            "ns_steps": np.int64(5),
            "eps": 1e-7,
            "adjust_lr_fn": "original",
        },
        {
            "params": [b],
            "param_names": ["b"],
            "route": "adamw",
            "lr": lr,
            "weight_decay": 0.01,
            "betas": (np.float32(0.5), 0.999),
            "eps": 1e-8,
        },
    ]


def _plain_groups(w: torch.Tensor, b: torch.Tensor) -> list[dict[str, Any]]:
    groups = _groups(float(LR32), w, b)
    groups[0].update(weight_decay=0.1, momentum=0.5, ns_steps=5)
    groups[1].update(betas=(0.5, 0.999))
    return groups


def test_a_numpy_group_steps_exactly_like_its_python_twin() -> None:
    torch.manual_seed(0)
    w, b = torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))
    w2, b2 = torch.nn.Parameter(w.detach().clone()), torch.nn.Parameter(b.detach().clone())
    numpy_opt = MuonWithAdamW(_groups(LR32, w, b))
    plain_opt = MuonWithAdamW(_plain_groups(w2, b2))
    for step in range(3):
        g = torch.randn(4, 3, generator=torch.Generator().manual_seed(step))
        for p, q, grad in ((w, w2, g), (b, b2, g[:, 0])):
            p.grad, q.grad = grad.clone(), grad.clone()
        numpy_opt.step()
        plain_opt.step()
    assert torch.equal(w, w2) and torch.equal(b, b2)
    # the kept groups hold Python numbers: the state_dict loads with weights_only=True
    kept = numpy_opt.param_groups
    assert type(kept[0]["lr"]) is float and type(kept[0]["ns_steps"]) is int
    assert kept[1]["betas"] == (0.5, 0.999) and type(kept[1]["betas"][0]) is float


@pytest.mark.parametrize(
    ("override", "exc", "message"),
    [
        (
            {"lr": np.float32(-1.0)},
            SpecError,
            "'lr' must be finite and >= 0.0, got np.float32(-1.0)",
        ),
        ({"lr": np.bool_(True)}, SpecTypeError, "'lr' must be a real number, got np.True_"),
        ({"ns_steps": np.int64(MAX_NS_STEPS)}, SpecError, "'ns_steps' must be in [1, 100)"),
        ({"ns_steps": np.float64(5.0)}, SpecTypeError, "'ns_steps' must be an int"),
        ({"nesterov": np.bool_(True)}, SpecTypeError, "'nesterov' must be a bool"),
    ],
)
def test_a_bad_numpy_group_value_is_refused_like_a_spec_field(
    override: dict[str, Any], exc: type[Exception], message: str
) -> None:
    w, b = torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))
    groups = _groups(LR32, w, b)
    groups[0].update(override)
    with pytest.raises(exc) as info:
        MuonWithAdamW(groups)
    assert str(info.value).startswith(f"param group 0 (route 'muon'): {message}")
    assert info.value.field == "param group 0 (route 'muon')"


def test_ns_steps_is_one_rule_for_the_spec_and_the_group() -> None:
    assert MuonSpec(ns_steps=MAX_NS_STEPS - 1).ns_steps == 99
    with pytest.raises(SpecError) as info:
        MuonSpec(ns_steps=MAX_NS_STEPS)
    assert str(info.value) == (
        "MuonSpec.ns_steps: must be an integer in [1, 100) (torch.optim.Muon's limit), got 100"
    )
    with pytest.raises(SpecError, match=r"^MuonSpec\.ns_steps: must be an integer >= 1, got 0$"):
        MuonSpec(ns_steps=0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    group = _groups(0.02, w, torch.nn.Parameter(torch.randn(4)))[0]
    assert MuonWithAdamW([{**group, "ns_steps": 99}]).param_groups[0]["ns_steps"] == 99
    with pytest.raises(SpecError, match=r"'ns_steps' must be in \[1, 100\), got 100"):
        MuonWithAdamW([{**group, "ns_steps": 100}])


# ---- a spec holding numpy scalars still serializes ------------------------------------------
def test_numpy_floats_serialize_and_compare_equal_after_a_round_trip() -> None:
    spec = AdamWSpec(
        learning_rate=LR32,
        lr_decay_gamma=np.float32(0.9),
        betas=(np.float32(0.9), np.float64(0.99)),
        weight_decay=np.float16(0.5),
    )
    data = to_dict(spec)
    assert type(data["learning_rate"]) is float and type(data["betas"][0]) is float
    assert type(data["lr_decay_gamma"]) is float
    for dump, read in ((to_toml, from_toml), (to_json, from_json), (to_dict, from_dict)):
        back = read(dump(spec))  # type: ignore[operator]
        assert back == spec and hash(back) == hash(spec)


def test_numpy_integers_serialize_and_compare_equal_after_a_round_trip() -> None:
    spec = MuonSpec(ns_steps=np.int64(7), nesterov=False)
    sched = WarmupCosine(warmup_steps=np.int64(3), total_steps=np.int32(10))
    for obj in (spec, sched):
        assert from_toml(to_toml(obj)) == obj
        assert from_json(to_json(obj)) == obj
    data = to_dict(spec)
    assert type(data["ns_steps"]) is int and data["nesterov"] is False


def test_an_optimizer_built_from_a_numpy_spec_checkpoints(tmp_path: Any) -> None:
    from optfn import load_checkpoint, make_optimizer, save_checkpoint

    model = torch.nn.Linear(3, 2)
    spec = AdamWSpec(learning_rate=LR32)
    opt = make_optimizer(model, spec)
    assert all(type(g["lr"]) is float for g in opt.param_groups)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.pt", config=spec, optimizer=opt)
    assert load_checkpoint(tmp_path / "c.pt").config == spec


# ---- issue 19: one bounded rendering of values; exact floats; text a file can hold -------------
class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _nested(n: int) -> Any:
    out: Any = 0
    for _ in range(n):
        out = [out]
    return out


@pytest.mark.parametrize(
    "value",
    [
        _nested(100_000),
        {"a": _nested(5000)},
        list(range(1_000_000)),
        "x" * 1_000_000,
        b"\x00" * 1_000_000,
        10**100_000,
        -(10**5000),
        _BadRepr(),
        np.zeros(10_000),
        torch.zeros(1000, 1000),
        {i: str(i) * 50 for i in range(1000)},
    ],
    ids=lambda v: type(v).__name__,
)
def test_brief_is_bounded_and_never_fails(value: Any) -> None:
    text = render.brief(value)
    assert len(text) <= render.SHOW_WIDTH
    assert len(render.show(value)) <= render.SHOW_WIDTH + 3 + len(type(value).__name__)


def test_brief_reads_like_repr_when_short() -> None:
    for value in (0.1, 3, "lr", (0.9, 0.95), [1, 2], {"a": 1}, None, True, (1,), np.float32(2)):
        assert render.brief(value) == repr(value)
    assert render.brief("\x1b[31m") == repr("\x1b[31m")  # control characters escaped
    assert render.brief(_nested(10)) == "[[[[[...]]]]]"
    assert render.brief(10**1000) == "<int of about 1001 digits>"
    assert render.brief(_BadRepr()) == "<_BadRepr object>"


def test_escaped_escapes_control_characters_and_bounds() -> None:
    assert render.escaped("a\x1b[2Jb\nc\ud800") == "a\\x1b[2Jb\\nc\\ud800"
    assert render.escaped("é ok") == "é ok"
    assert len(render.escaped("x" * 10_000)) == 200
    assert render.escaped(ValueError("bad \x07")) == "bad \\x07"


@pytest.mark.parametrize(
    ("value", "exact"),
    [
        (2**53, True),
        (2**53 + 1, False),
        (-(2**53) - 1, False),
        (2**60, True),
        (10**400, False),
        (np.int64(2**53 + 1), False),
        (np.uint64(2**64 - 1), False),
        (0.1, True),
        (Fraction(1, 2), True),  # a Fraction that a float holds: exact
        (Fraction(1, 3), False),  # no float is 1/3 (issue 24: refused, never rounded)
        (np.float32(0.1), True),  # float(np.float32(0.1)) is exactly it
    ],
)
def test_exact_float(value: Any, exact: bool) -> None:
    assert checks.exact_float(value) is exact


def test_an_inexact_int_is_refused_by_spec_and_converter_alike() -> None:
    with pytest.raises(SpecError) as spec_err:
        AdamWSpec(eps=2**53 + 1)
    assert spec_err.value.reason == checks.inexact_reason(2**53 + 1)
    with pytest.raises(ValueError, match="write it as a float"):
        from_dict({"type": "adamw", "eps": 2**53 + 1})
    assert AdamWSpec(eps=2**53).eps == 2**53


def test_check_text() -> None:
    checks.check_text("O", "f", "layers.*")
    checks.check_text("O", "f", "tab\there", name=False)
    with pytest.raises(SpecError, match="lone surrogate at index 1"):
        checks.check_text("O", "f", "a\ud800", name=False)
    with pytest.raises(SpecError, match="non-printable"):
        checks.check_text("O", "f", "a\x00")
