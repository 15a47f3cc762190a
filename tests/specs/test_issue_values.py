"""Issue 24: finite multipliers at extreme values, plain numbers in specs, truthful messages.

A. every multiplier a valid schedule gives is finite (or the spec is refused, naming the
   field); B. a spec holds Python floats and ints, as a file does; C. messages and outputs
   that say what is true (torch conversion, tied parameters, empty models, the demo's curves,
   ``optfn curve --png``, the exported errors).
"""

from __future__ import annotations

import csv
import math
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from torch import nn

import optfn
from optfn import (
    AdamWSpec,
    Constant,
    Cyclic,
    CyclicMomentum,
    HyperSchedules,
    Join,
    MuonSpec,
    OptimConfig,
    ParamRules,
    PiecewiseConstant,
    Product,
    Ramp,
    WarmupCosine,
    lr_curve,
    lr_lambda,
    make_optimizer,
    partition_params,
    save_config,
)
from optfn.cli import main
from optfn.errors import ConfigError, OptfnError, SpecError, SpecTypeError, StateError
from optfn.io import from_toml, to_toml

MAX = sys.float_info.max


def _finite(values: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float64))))


# ---- A: no valid spec gives a non-finite multiplier -------------------------------------------


def test_cyclic_whose_cycle_length_no_float_holds_is_refused() -> None:
    for cls in (Cyclic, CyclicMomentum):
        with pytest.raises(SpecError) as info:
            cls(step_size_up=2**53, step_size_down=1)
        assert info.value.field == "step_size_down"
        assert "9007199254740993" in str(info.value)


@pytest.mark.parametrize(
    ("up", "down"), [(2**53 - 1, 1), (2**52, 3), (1, 2**53 - 1), (2**53, 2**53), (2**53, None)]
)
def test_cyclic_of_huge_cycles_is_finite_and_in_range(up: int, down: int | None) -> None:
    spec = Cyclic(step_size_up=up, step_size_down=down)
    f = lr_lambda(spec)  # computing a step used to divide by ratio - 1 == 0
    steps = [0, 1, 2, up - 1, up, up + 1, 2**53 - 1, 2**53, 2**62, 2**70]
    values = [f(s) for s in steps]
    assert _finite(values) and all(0.0 <= x <= 1.0 for x in values), values
    for start in (0, max(0, up - 4), 2**53 - 8):
        curve = lr_curve(spec, 8, start=start)
        assert _finite(curve) and ((curve >= 0.0) & (curve <= 1.0)).all()
        assert curve.tolist() == [f(start + k) for k in range(8)]


def test_product_whose_values_multiply_past_float_range_is_refused() -> None:
    big = PiecewiseConstant(values=(1e200,))
    with pytest.raises(SpecError) as info:
        Product(factors=(big, big))
    assert info.value.owner == "Product" and info.value.field == "factors"
    assert "overflow" in str(info.value)
    ok = Product(factors=(big, PiecewiseConstant(values=(1e100,))))
    assert ok.max_multiplier() == 1e300 and lr_lambda(ok)(10) == 1e300
    nested = Join(pieces=(Constant(), big), boundaries=(3,))
    with pytest.raises(SpecError, match=r"Product\.factors"):
        Product(factors=(nested, Ramp(steps=2, start_scale=1e200)))


def test_ramp_near_the_largest_float_stays_finite_and_in_range() -> None:
    # lo + (hi - lo) rounds half an ulp past the largest float here: it was inf at step 0
    spec = Ramp(steps=3, start_scale=MAX, end_scale=3 * 2.0**970)
    curve = lr_curve(spec, 5)
    assert _finite(curve) and curve[0] == MAX and (curve <= MAX).all()
    assert lr_lambda(spec)(0) == MAX


def test_ramp_cosine_with_too_many_cycles_is_refused() -> None:
    with pytest.raises(SpecError) as info:  # its angle was inf, its multiplier NaN
        Ramp(steps=4, start_scale=1.0, end_scale=0.0, shape="cosine", cycles=1e308)
    assert info.value.field == "cycles"
    ok = Ramp(steps=4, start_scale=1.0, end_scale=0.0, shape="cosine", cycles=1e300)
    assert _finite(lr_curve(ok, 6))
    # cosine_restarts computes (cycles * p) % 1: any finite count is fine
    assert _finite(lr_curve(Ramp(steps=4, start_scale=1.0, shape="cosine_restarts",
                                 cycles=MAX), 6))  # fmt: skip


def test_max_multiplier_bounds() -> None:
    assert WarmupCosine(warmup_steps=1, total_steps=4).max_multiplier() == 1.0
    assert Ramp(steps=2, start_scale=3.0, end_scale=0.5).max_multiplier() == 3.0
    assert PiecewiseConstant(boundaries=(2,), values=(0.5, 7.0)).max_multiplier() == 7.0
    join = Join(pieces=(Ramp(steps=2, start_scale=3.0), Constant()), boundaries=(2,))
    assert join.max_multiplier() == 3.0

    @attrs.frozen(kw_only=True)
    class Mine(optfn.Schedule):
        def formula(self, x: Any, xp: Any) -> Any:
            return xp.full(x, 2.0)

    assert Mine().max_multiplier() is None  # unknown: a Product of it is not checked
    assert Product(factors=(Mine(), PiecewiseConstant(values=(1e300,)))).max_multiplier() is None


# ---- B: a spec holds Python floats and ints ---------------------------------------------------


def test_numbers_are_stored_as_python_floats_and_ints() -> None:
    spec = AdamWSpec(
        learning_rate=np.float32(0.1),  # type: ignore[arg-type]
        eps=np.int64(1),  # type: ignore[arg-type]
        betas=(Fraction(1, 2), np.float64(0.25)),
    )
    assert spec.learning_rate == float(np.float32(0.1)) and type(spec.learning_rate) is float
    assert type(spec.eps) is float and spec.eps == 1.0
    assert spec.betas == (0.5, 0.25) and all(type(b) is float for b in spec.betas)
    sched = PiecewiseConstant(boundaries=[np.int64(5)], values=[np.float32(0.5), 1])
    assert type(sched.boundaries[0]) is int and all(type(x) is float for x in sched.values)
    muon = MuonSpec(ns_steps=np.int64(5))  # type: ignore[arg-type]
    assert type(muon.ns_steps) is int
    rules = ParamRules(lr_scales={"head": np.float32(2.0)})
    assert rules.lr_scales == (("head", 2.0),) and type(rules.lr_scales[0][1]) is float
    warm = WarmupCosine(warmup_steps=np.uint8(3), total_steps=np.int32(10))  # type: ignore[arg-type]
    assert type(warm.warmup_steps) is int and type(warm.total_steps) is int
    for s in (spec, sched, muon, rules, warm):
        assert from_toml(to_toml(s)) == s


def test_fraction_no_float_holds_is_refused() -> None:
    with pytest.raises(SpecError) as info:
        AdamWSpec(learning_rate=Fraction(1, 10))  # type: ignore[arg-type]
    assert info.value.field == "learning_rate" and "Fraction(1, 10)" in str(info.value)
    with pytest.raises(SpecError, match=r"values\[0\]"):
        PiecewiseConstant(values=(Fraction(1, 3),))


@pytest.mark.parametrize("bad", [Decimal("0.5"), "0.5", True, np.bool_(True)])
def test_other_kinds_of_numbers_are_refused(bad: Any) -> None:
    with pytest.raises(SpecTypeError) as info:
        AdamWSpec(learning_rate=bad)
    assert info.value.field == "learning_rate"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PiecewiseConstant(values=0.5), "values"),
        (lambda: PiecewiseConstant(boundaries=3, values=(1.0, 0.5)), "boundaries"),
        (lambda: Join(pieces=Constant()), "pieces"),
        (lambda: Product(factors=Constant()), "factors"),
        (lambda: optfn.MultiStepDecay(boundaries=3, gamma=0.5), "boundaries"),
        (lambda: AdamWSpec(betas=0.9), "betas"),
        (lambda: MuonSpec(ns_coefficients=3.0), "ns_coefficients"),
        (lambda: ParamRules(lr_scales=5.0), "lr_scales"),
        (lambda: ParamRules(no_decay_names="bias"), "no_decay_names"),
    ],
)
def test_a_scalar_for_a_sequence_field_is_a_spec_type_error(make: Any, field: str) -> None:
    with pytest.raises(SpecTypeError) as info:  # PiecewiseConstant: "float has no len()"
        make()
    assert info.value.field == field


# ---- C: messages and outputs -------------------------------------------------------------------


def test_state_error_and_base_are_exported() -> None:
    assert optfn.StateError is StateError and optfn.OptfnError is OptfnError
    for name in ("ConfigError", "OptfnError", "SpecError", "SpecTypeError", "StateError"):
        assert name in optfn.__all__
    assert issubclass(ConfigError, OptfnError) and issubclass(StateError, OptfnError)


def test_one_cycle_refusal_names_pct_start() -> None:
    from torch.optim.lr_scheduler import OneCycleLR

    from optfn import schedule_from_torch

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(SpecError) as info:
        schedule_from_torch(OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.05))
    assert info.value.field == "pct_start"
    assert str(info.value).startswith("OneCycleLR.pct_start: ")
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(SpecError) as info:  # a div_factor below 1 is div_factor's fault
        schedule_from_torch(OneCycleLR(opt, max_lr=1.0, total_steps=10, div_factor=0.5))
    assert info.value.field == "div_factor"


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight


def test_prefix_covering_only_a_tied_parameter_says_so() -> None:
    with pytest.raises(SpecError) as info:
        partition_params(_Tied(), ParamRules(lr_scales={"head": 5.0}))
    msg = str(info.value)
    assert info.value.field == "lr_scales['head']"
    assert "matches no trainable parameter" not in msg
    assert "'head.weight' is shared with 'emb.weight'" in msg and "routed under" in msg
    # a real typo keeps the old message
    with pytest.raises(SpecError, match="matches no trainable parameter"):
        partition_params(_Tied(), ParamRules(lr_scales={"haed": 5.0}))


def test_model_without_parameters_says_so() -> None:
    with pytest.raises(SpecError) as info:
        make_optimizer(nn.ReLU(), AdamWSpec())
    assert "ReLU has no parameters" in str(info.value)
    assert "requires_grad" not in str(info.value)
    with pytest.raises(SpecError, match=r"requires_grad=False"):
        make_optimizer(nn.Linear(2, 2).requires_grad_(False), AdamWSpec())


def test_curve_png_with_an_unknown_suffix_exits_2_listing_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    save_config(WarmupCosine(warmup_steps=2, total_steps=10), path)
    out_csv = tmp_path / "c.csv"
    code = main(["curve", str(path), "--steps", "10", "--png", str(tmp_path / "out.xyz"),
                 "--csv", str(out_csv)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "'xyz'" in err and "png" in err and "svg" in err and "pdf" in err
    assert not out_csv.exists() and not (tmp_path / "out.xyz").exists()  # refused: nothing
    assert main(["curve", str(path), "--steps", "10", "--png", str(tmp_path / "o.svg")]) == 0
    assert (tmp_path / "o.svg").read_text().lstrip().startswith("<?xml")


def _demo_csv(tmp_path: Path, config: OptimConfig) -> tuple[list[str], np.ndarray]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "cfg.toml"
    save_config(config, path)
    out = tmp_path / "demo"
    assert main(["demo", "--config", str(path), "--steps", "6", "--out", str(out)]) == 0
    with open(out / "lr_curve.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert (out / "lr_curve.png").exists()
    return rows[0], np.array([[float(x) for x in r] for r in rows[1:]])


def test_demo_writes_one_lr_curve_per_route(tmp_path: Path) -> None:
    sched = WarmupCosine(warmup_steps=2, total_steps=6)
    lam = lr_curve(sched, 6)
    config = OptimConfig(
        optimizer=MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
        schedule=HyperSchedules(lr=sched, routes={"lr": "adamw"}),
    )
    head, table = _demo_csv(tmp_path, config)
    assert head == ["step", "adamw_lr", "muon_lr"]
    np.testing.assert_array_equal(table[:, 1], 3e-3 * lam)  # the AdamW groups follow λ
    np.testing.assert_array_equal(table[:, 2], np.full(6, 0.02))  # Muon's LR is untouched
    plain = OptimConfig(optimizer=MuonSpec(learning_rate=0.02, adamw_lr=3e-3), schedule=sched)
    head, table = _demo_csv(tmp_path / "plain", plain)
    np.testing.assert_array_equal(table[:, 1], 3e-3 * lam)
    np.testing.assert_array_equal(table[:, 2], 0.02 * lam)
    head, table = _demo_csv(tmp_path / "adamw", OptimConfig(optimizer=AdamWSpec(), schedule=sched))
    assert head == ["step", "adamw_lr"]
    np.testing.assert_array_equal(table[:, 1], 1e-3 * lam)


def test_demo_route_curves_are_what_the_groups_hold() -> None:
    from optfn.demo import ScoringModel, route_lr_curves, train

    config = OptimConfig(
        optimizer=MuonSpec(learning_rate=0.02, adamw_lr=3e-3),
        rules=ParamRules(),
        schedule=HyperSchedules(lr=WarmupCosine(warmup_steps=2, total_steps=5),
                                routes={"lr": "muon"}),
    )  # fmt: skip
    torch.manual_seed(0)
    result = train(ScoringModel(config.optimizer), config, steps=1)
    opt, sched = result.optimizer, result.scheduler
    curves = route_lr_curves(config, opt, 5)
    assert math.isfinite(float(curves["muon"][0]))
    for step in range(1, 5):  # the LR each route's groups hold at the step (no lr_scales)
        held = {g["route"]: g["lr"] for g in opt.param_groups}
        assert {r: float(c[step]) for r, c in curves.items()} == pytest.approx(held, rel=1e-15)
        opt.step()
        sched.step()
