"""Optimizer specs: the spec-method API's fields and defaults, validation at construction."""

from __future__ import annotations

import math

import attrs
import pytest

from optfn import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.errors import SpecError, SpecTypeError


def test_spec_method_api_defaults() -> None:
    adam = AdamSpec()
    assert (adam.learning_rate, adam.lr_decay_gamma, adam.betas, adam.eps, adam.weight_decay) == (
        0.001,
        None,
        (0.9, 0.999),
        1e-8,
        0.0,
    )
    adamw = AdamWSpec()
    assert (adamw.learning_rate, adamw.weight_decay, adamw.betas) == (0.001, 0.01, (0.9, 0.999))
    muon = MuonSpec()
    assert (muon.learning_rate, muon.adamw_lr, muon.momentum, muon.nesterov) == (
        0.02,
        3e-4,
        0.95,
        True,
    )
    assert (muon.weight_decay, muon.betas, muon.lr_decay_gamma) == (0.01, (0.9, 0.999), None)


def test_muon_knobs_default_to_torch_muon() -> None:
    import inspect

    import torch

    sig = inspect.signature(torch.optim.Muon.__init__).parameters
    spec = MuonSpec()
    assert spec.muon_weight_decay == sig["weight_decay"].default
    assert spec.ns_steps == sig["ns_steps"].default
    assert spec.ns_coefficients == sig["ns_coefficients"].default
    assert spec.muon_eps == sig["eps"].default
    assert sig["adjust_lr_fn"].default in (None, spec.adjust_lr_fn)


def test_type_tags() -> None:
    assert [c.optimizer_type for c in (AdamSpec, AdamWSpec, MuonSpec)] == ["adam", "adamw", "muon"]
    assert AdamWSpec().optimizer_type == "adamw"
    assert all(issubclass(c, OptimizerSpecification) for c in (AdamSpec, AdamWSpec, MuonSpec))


def test_frozen_comparable_hashable() -> None:
    a, b = AdamWSpec(learning_rate=0.1), AdamWSpec(learning_rate=0.1)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != AdamSpec(learning_rate=0.1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.learning_rate = 0.2  # type: ignore[misc]


def test_betas_list_is_stored_as_tuple() -> None:
    assert AdamWSpec(betas=[0.8, 0.9]).betas == (0.8, 0.9)  # type: ignore[arg-type]


def test_keyword_only_and_base_is_abstract() -> None:
    with pytest.raises(SpecTypeError, match=r"^AdamWSpec takes keyword arguments only: write "):
        AdamWSpec(0.1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="abstract"):
        OptimizerSpecification(learning_rate=0.1, lr_decay_gamma=None)


BAD = [
    (AdamWSpec, {"learning_rate": "0.1"}, SpecTypeError, "learning_rate", "'0.1'"),
    (AdamWSpec, {"learning_rate": True}, SpecTypeError, "learning_rate", "True"),
    (AdamWSpec, {"learning_rate": math.nan}, SpecError, "learning_rate", "nan"),
    (AdamWSpec, {"learning_rate": math.inf}, SpecError, "learning_rate", "inf"),
    (AdamWSpec, {"learning_rate": -1}, SpecError, "learning_rate", "-1"),
    (AdamWSpec, {"learning_rate": 0.0}, SpecError, "learning_rate", "> 0"),
    (AdamWSpec, {"betas": (0.9,)}, SpecError, "betas", "exactly 2"),
    (AdamWSpec, {"betas": (1.0, 0.9)}, SpecError, "betas[0]", "[0, 1)"),
    (AdamWSpec, {"betas": (0.9, -0.1)}, SpecError, "betas[1]", "[0, 1)"),
    (AdamWSpec, {"betas": "12"}, SpecTypeError, "betas", "'12'"),
    (AdamWSpec, {"betas": (0.9, True)}, SpecTypeError, "betas[1]", "True"),
    (AdamWSpec, {"lr_decay_gamma": 0}, SpecError, "lr_decay_gamma", "(0, 1]"),
    (AdamWSpec, {"lr_decay_gamma": 1.5}, SpecError, "lr_decay_gamma", "(0, 1]"),
    (AdamWSpec, {"eps": 0.0}, SpecError, "eps", "> 0"),
    (AdamWSpec, {"weight_decay": -0.1}, SpecError, "weight_decay", ">= 0"),
    (AdamSpec, {"weight_decay": math.nan}, SpecError, "weight_decay", "nan"),
    (MuonSpec, {"momentum": 1.0}, SpecError, "momentum", "[0, 1)"),
    (MuonSpec, {"momentum": -0.5}, SpecError, "momentum", "[0, 1)"),
    (MuonSpec, {"ns_steps": 0}, SpecError, "ns_steps", ">= 1"),
    (MuonSpec, {"ns_steps": 2.0}, SpecTypeError, "ns_steps", "2.0"),
    (MuonSpec, {"nesterov": 1}, SpecTypeError, "nesterov", "true or false"),
    (MuonSpec, {"adjust_lr_fn": "ORIGINAL"}, SpecError, "adjust_lr_fn", "'ORIGINAL'"),
    (MuonSpec, {"ns_coefficients": (1.0, 2.0)}, SpecError, "ns_coefficients", "exactly 3"),
    (MuonSpec, {"adamw_lr": 0}, SpecError, "adamw_lr", "> 0"),
    (MuonSpec, {"muon_weight_decay": -1.0}, SpecError, "muon_weight_decay", ">= 0"),
]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "field", "shown"), BAD)
def test_bad_values_name_field_value_and_range(
    cls: type, kwargs: dict[str, object], exc: type[Exception], field: str, shown: str
) -> None:
    with pytest.raises(exc) as info:
        cls(**kwargs)
    msg = str(info.value)
    assert msg.startswith(f"{cls.__name__}.{field}: ")
    assert shown in msg
    assert info.value.field == field  # type: ignore[attr-defined]
    # ValueError for bad values, TypeError for wrong kinds
    assert isinstance(info.value, ValueError if exc is SpecError else TypeError)


def test_evolve_revalidates() -> None:
    with pytest.raises(SpecError, match="learning_rate"):
        attrs.evolve(AdamWSpec(), learning_rate=-1.0)


def test_torch_specs_default_to_torch() -> None:
    """Every spec of a torch.optim class has that class's own defaults (and every argument of
    torch's that changes the math is a field)."""
    import inspect

    from optfn.optim.table import OPTIMIZERS

    plumbing = {"self", "params", "foreach", "fused", "capturable", "differentiable", "kwargs"}
    for kind in OPTIMIZERS:
        if kind.tag in ("muon", "normuon"):  # optfn's own optimizers, not torch classes
            continue
        cls = kind.build.cls  # type: ignore[attr-defined]  # a TorchBuilder
        sig = inspect.signature(cls.__init__).parameters
        spec = kind.spec()  # type: ignore[call-arg]
        fields = attrs.asdict(spec, recurse=False)
        fields["lr"] = fields.pop("learning_rate")
        if "eps1" in fields:
            fields["eps"] = (fields.pop("eps1"), fields.pop("eps2"))
        assert fields.pop("implementation") == "auto"
        assert fields.pop("lr_decay_gamma") is None
        assert set(sig) - plumbing == set(fields), kind.tag
        for name, value in fields.items():
            assert value == sig[name].default, (kind.tag, name, value)
