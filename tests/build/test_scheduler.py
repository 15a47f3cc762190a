"""make_scheduler / ScheduleLR and the epoch-based builders: LRs, state, resume, errors."""

from __future__ import annotations

import copy
import functools
import io
import math
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lr_scheduler import ExponentialLR, LambdaLR

from optfn.build import (
    ScheduleLR,
    make_scheduler,
    schedule_record,
)
from optfn.compat.builders import build_scheduler, build_warmup_cosine
from optfn.errors import StateError
from optfn.schedules import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    Join,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    Schedule,
    WarmupCosine,
    lr_curve,
    lr_lambda,
)
from optfn.strategies import schedule_specs

BASE_LRS = (0.1, 0.5, 3e-4)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))


def _optimizer(model: torch.nn.Module, kind: str = "adamw") -> torch.optim.Optimizer:
    """Three param groups with different base LRs (the LR scales of a partition)."""
    params = list(model.parameters())
    groups = [
        {"params": params[:2], "lr": BASE_LRS[0]},
        {"params": params[2:3], "lr": BASE_LRS[1]},
        {"params": params[3:], "lr": BASE_LRS[2]},
    ]
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=1.0, weight_decay=0.01)
    return torch.optim.SGD(groups, lr=1.0, momentum=0.9)


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, i: int) -> None:
    x = torch.linspace(-1, 1, 6).reshape(2, 3) * (1 + i % 3)
    opt.zero_grad(set_to_none=True)
    model(x).square().mean().backward()
    opt.step()


def _roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    out: dict[str, Any] = torch.load(buf, weights_only=True)
    return out


# ---- the LRs ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(schedule_specs(max_total_steps=400), st.integers(1, 400))
def test_stepping_from_zero_gives_the_curve_exactly(s: Schedule, n: int) -> None:
    opt = _optimizer(_model())
    sched = make_scheduler(opt, s)
    curve, f = lr_curve(s, n), lr_lambda(s)
    for step in range(n):
        expected = [base * f(step) for base in BASE_LRS]  # LambdaLR's product: base_lr * λ(s)
        assert sched.get_last_lr() == expected == [g["lr"] for g in opt.param_groups]
        assert expected == [float(curve[step]) * base for base in BASE_LRS]
        opt.step()
        sched.step()


@pytest.mark.parametrize(
    "s",
    [
        WarmupCosine(warmup_steps=300, total_steps=2000, min_lr_scale=0.1),
        Join(
            pieces=(LinearWarmup(warmup_steps=700), CosineDecay(decay_steps=1500)),
            boundaries=(700,),
        ),
        ExponentialDecay(gamma=0.999),
    ],
)
def test_many_steps_across_lookup_blocks(s: Schedule) -> None:
    opt = _optimizer(_model(), "sgd")
    sched = make_scheduler(opt, s)
    n = 2600  # crosses ScheduleLR's blocks of 1024 steps
    seen = []
    for _ in range(n):
        seen.append(opt.param_groups[1]["lr"])
        opt.step()
        sched.step()
    assert seen == (lr_curve(s, n) * BASE_LRS[1]).tolist()


def test_groups_keep_their_lr_ratios() -> None:
    opt = _optimizer(_model())
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=5, total_steps=50, min_lr_scale=0.1))
    f = lr_lambda(sched.schedule)
    for step in range(60):
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs == [base * f(step) for base in BASE_LRS]
        assert math.isclose(lrs[1] / lrs[0], 5.0, rel_tol=1e-15)
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [base * 0.1 for base in BASE_LRS]


def test_huge_steps_use_the_scalar_form() -> None:
    opt = _optimizer(_model(), "sgd")
    s = Join(pieces=(Constant(), LinearDecay(decay_steps=10, min_lr_scale=0.25)), boundaries=(5,))
    sched = make_scheduler(opt, s)
    for start in (2**53 - 3, 2**70):
        sched.last_epoch = start
        for k in range(1, 6):
            opt.step()
            sched.step()
            assert sched.last_epoch == start + k
            assert sched.get_last_lr() == [base * 0.25 for base in BASE_LRS]


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.SGD(p, lr=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.Adam(p, lr=1e-3),
        lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=False),
        lambda p: torch.optim.Adamax(p, lr=2e-3),
        lambda p: torch.optim.Adagrad(p, lr=1e-2),
        lambda p: torch.optim.Adadelta(p, lr=1.0),
        lambda p: torch.optim.RMSprop(p, lr=1e-3),
        lambda p: torch.optim.NAdam(p, lr=1e-3),
        lambda p: torch.optim.RAdam(p, lr=1e-3),
        lambda p: torch.optim.ASGD(p, lr=1e-2),
        lambda p: torch.optim.Rprop(p, lr=1e-2),
        lambda p: torch.optim.Muon([q for q in p if q.ndim == 2], lr=2e-2),
    ],
)
def test_works_with_any_torch_optimizer(make: Any) -> None:
    model = _model()
    opt = make(list(model.parameters()))
    base = opt.param_groups[0]["lr"]
    s = Join(
        pieces=(LinearWarmup(warmup_steps=4), CosineDecay(decay_steps=8, min_lr_scale=0.1)),
        boundaries=(4,),
    )
    sched = make_scheduler(opt, s)
    curve = lr_curve(s, 15)
    for step in range(15):
        assert opt.param_groups[0]["lr"] == base * curve[step]
        _train_step(model, opt, step)
        sched.step()
    state = _roundtrip(sched.state_dict())
    sched2 = make_scheduler(make(list(_model().parameters())), s)
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 15 and sched2.get_last_lr() == sched.get_last_lr()


def test_tensor_learning_rates() -> None:
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    s = LinearDecay(decay_steps=10, min_lr_scale=0.5)
    sched = make_scheduler(opt, s)
    for step in range(12):
        lr = opt.param_groups[0]["lr"]
        assert isinstance(lr, torch.Tensor)
        assert math.isclose(float(lr), 0.01 * lr_lambda(s)(step), rel_tol=1e-6)
        _train_step(model, opt, step)
        sched.step()


# ---- state and resume ------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    schedule_specs(max_total_steps=180),
    st.integers(0, 120),
    st.integers(1, 60),
    st.sampled_from(["opt", "sched"]),
)
def test_save_load_at_a_random_split_resumes_identically(
    s: Schedule, split: int, more: int, load_first: str
) -> None:
    n = split + more
    model = _model()
    opt = _optimizer(model)
    sched = make_scheduler(opt, s)
    straight = []
    for i in range(n):
        straight.append([g["lr"] for g in opt.param_groups])
        _train_step(model, opt, i)
        sched.step()
    final = [p.detach().clone() for p in model.parameters()]

    model = _model()
    opt = _optimizer(model)
    sched = make_scheduler(opt, s)
    resumed = []
    for i in range(split):
        resumed.append([g["lr"] for g in opt.param_groups])
        _train_step(model, opt, i)
        sched.step()
    saved = _roundtrip(
        {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
    )

    # a fresh process: build optimizer -> build scheduler -> load both states -> continue
    model = _model()
    model.load_state_dict(saved["model"])
    opt = _optimizer(model)
    sched = make_scheduler(opt, s)
    if load_first == "opt":
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
    else:
        sched.load_state_dict(saved["sched"])
        opt.load_state_dict(saved["opt"])
    for i in range(split, n):
        resumed.append([g["lr"] for g in opt.param_groups])
        _train_step(model, opt, i)
        sched.step()
    assert resumed == straight
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), final, strict=True))


def test_resume_when_the_optimizer_state_was_loaded_before_the_scheduler_was_built() -> None:
    s = WarmupCosine(warmup_steps=3, total_steps=20, min_lr_scale=0.1)
    model = _model()
    opt = _optimizer(model)
    sched = make_scheduler(opt, s)
    for i in range(7):
        _train_step(model, opt, i)
        sched.step()
    opt_state, sched_state = _roundtrip(opt.state_dict()), _roundtrip(sched.state_dict())

    opt2 = _optimizer(_model())
    opt2.load_state_dict(opt_state)
    sched2 = make_scheduler(opt2, s)  # this resets the groups' LRs to step 0 ...
    sched2.load_state_dict(sched_state)  # ... and loading the state sets them for step 7 again
    f = lr_lambda(s)
    assert [g["lr"] for g in opt2.param_groups] == [b * f(7) for b in BASE_LRS]


def test_state_is_plain_data_and_records_the_schedule() -> None:
    s = Join(
        pieces=[
            LinearWarmup(warmup_steps=2, init_scale=0.1),
            MultiStepDecay(boundaries=[3, 6], gamma=0.5),
        ],
        boundaries=[2],
    )
    opt = _optimizer(_model())
    sched = make_scheduler(opt, s)
    for _ in range(4):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert (
        state["schedule"]
        == schedule_record(s)
        == {
            "version": 1,
            "type": "join",
            "pieces": [
                {
                    "type": "linear_warmup",
                    "warmup_steps": 2,
                    "init_scale": 0.1,
                    "warmup_ramp": "(s+1)/W",
                },
                {"type": "multi_step_decay", "boundaries": [3, 6], "gamma": 0.5},
            ],
            "boundaries": [2],
        }
    )
    assert not any(k.startswith("_block") for k in state)
    assert _roundtrip(state) == state  # weights_only=True reads it
    assert state["last_epoch"] == 4 and state["base_lrs"] == list(BASE_LRS)


def test_loading_a_state_saved_under_another_schedule_is_refused() -> None:
    opt = _optimizer(_model())
    saved = make_scheduler(opt, WarmupCosine(warmup_steps=10, total_steps=100)).state_dict()
    other = make_scheduler(_optimizer(_model()), WarmupCosine(warmup_steps=10, total_steps=200))
    with pytest.raises(ValueError) as info:
        other.load_state_dict(saved)
    text = str(info.value)
    assert "WarmupCosine(warmup_steps=10, total_steps=100, min_lr_scale=0.0, " in text
    assert "WarmupCosine(warmup_steps=10, total_steps=200, min_lr_scale=0.0, " in text
    assert other.last_epoch == 0  # nothing was loaded

    plain = LambdaLR(_optimizer(_model()), lr_lambda(Constant())).state_dict()
    with pytest.raises(ValueError, match="no 'schedule' record"):
        make_scheduler(_optimizer(_model()), Constant()).load_state_dict(plain)

    one_group = torch.optim.SGD(_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"has 3 value\(s\) but the optimizer has 1 param group"):
        make_scheduler(one_group, Constant()).load_state_dict(
            make_scheduler(_optimizer(_model()), Constant()).state_dict()
        )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda st: st.pop("lr_lambdas"), r"has no 'lr_lambdas'"),
        (lambda st: st.pop("base_lrs"), r"has no 'base_lrs'"),
        (
            lambda st: st.update(last_epoch="x"),
            r"\['last_epoch'\]: must be an integer >= 0, got 'x'",
        ),
        (lambda st: st.update(last_epoch=-5), r"\['last_epoch'\]: must be an integer >= 0, got -5"),
        (lambda st: st.update(last_epoch=True), r"\['last_epoch'\]: must be an integer"),
        (lambda st: st.update(_step_count=2.5), r"\['_step_count'\]: must be an integer"),
        (lambda st: st.update(base_lrs=[0.1, "x", 0.3]), r"\['base_lrs'\]\[1\]: must be a finite"),
        (lambda st: st.update(base_lrs=[0.1, float("nan"), 0.3]), r"\['base_lrs'\]\[1\]"),
        (lambda st: st.update(lr_lambdas=[{"func": print}, {}, {}]), r"only empty entries"),
        (lambda st: st.update(optimizer="hijack"), r"unknown key\(s\) 'optimizer'"),
        (lambda st: st.update(_is_initial="no"), r"\['_is_initial'\]: must be true or false"),
        (lambda st: st.update(_last_lr="0.1"), r"\['_last_lr'\]: must be a list of LRs"),
    ],
)
def test_a_malformed_state_is_refused_and_changes_nothing(
    change: Callable[[dict[str, Any]], object], match: str
) -> None:
    """Every entry is checked before anything is loaded (LambdaLR would copy any key into the
    scheduler's attributes, e.g. replace its optimizer)."""
    opt = _optimizer(_model())
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=10))
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    change(state)
    fresh_opt = _optimizer(_model())
    fresh = make_scheduler(fresh_opt, WarmupCosine(warmup_steps=2, total_steps=10))
    before = (fresh.last_epoch, list(fresh.base_lrs), [g["lr"] for g in fresh_opt.param_groups])
    with pytest.raises(StateError, match=match):
        fresh.load_state_dict(state)
    assert fresh.optimizer is fresh_opt
    assert (fresh.last_epoch, list(fresh.base_lrs), [g["lr"] for g in fresh_opt.param_groups]) == (
        before
    )


def test_lr_lambda_works_in_a_plain_lambda_lr() -> None:
    s = Join(pieces=(LinearWarmup(warmup_steps=3), CosineDecay(decay_steps=9)), boundaries=(3,))
    opt = _optimizer(_model())
    plain = LambdaLR(opt, lr_lambda(s))
    for _ in range(5):
        opt.step()
        plain.step()
    state = plain.state_dict()  # a slotted attrs instance as the lambda would break this
    assert state["lr_lambdas"] == [{}, {}, {}]
    pickle.dumps(plain.lr_lambdas)
    assert plain.get_last_lr() == [b * lr_lambda(s)(5) for b in BASE_LRS]


def test_schedule_lr_is_a_lambda_lr_and_checks_its_arguments() -> None:
    opt = _optimizer(_model())
    sched = make_scheduler(opt, Constant())
    assert isinstance(sched, ScheduleLR) and isinstance(sched, LambdaLR)
    assert sched.schedule == Constant()
    with pytest.raises(TypeError, match=r"ScheduleLR\.schedule: must be a Schedule"):
        make_scheduler(opt, lambda s: 1.0)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"ScheduleLR\.optimizer: must be a torch\.optim\.Optimizer"
    ):
        make_scheduler("sgd", Constant())  # type: ignore[arg-type]
    sched.last_epoch = 2.5  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"lr_lambda\.step: must be an integer >= 0"):
        sched.get_lr()
    copy.deepcopy(sched.schedule)


# ---- the epoch-based builders --------------------------------------------------------------


def _builders_lambda(s: int, w: int, total: int, a: float) -> float:
    if s < w:
        return max(1e-8, (s + 1) / max(1, w))
    t = min(1.0, (s - w) / max(1, total - w))  # clamped past S (optfn's documented decision)
    return a + (1 - a) / 2 * (1 + math.cos(math.pi * t))


@pytest.mark.parametrize(
    ("steps_per_epoch", "epochs", "warmup_epochs", "min_lr_scale"),
    [(100, 2, 1, 0.1), (7, 10, 3, 0.0), (5, 4, 0, 0.5), (3, 2, 2, 0.2), (1, 1, 1, 0.1)],
)
def test_build_scheduler_is_the_builders_formula(
    steps_per_epoch: int, epochs: int, warmup_epochs: int, min_lr_scale: float
) -> None:
    opt = _optimizer(_model())
    sched = build_scheduler(
        opt,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        min_lr_scale=min_lr_scale,
    )
    assert isinstance(sched, LambdaLR)
    w, total = steps_per_epoch * warmup_epochs, steps_per_epoch * epochs
    assert sched.schedule == WarmupCosine(
        warmup_steps=w, total_steps=total, min_lr_scale=min_lr_scale
    )
    for step in range(total + 5):
        want = _builders_lambda(step, w, total, min_lr_scale)
        got = sched.get_last_lr()[0] / BASE_LRS[0]
        assert math.isclose(got, want, rel_tol=4 * 2**-52, abs_tol=1e-300), step
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [b * min_lr_scale for b in BASE_LRS]


def test_build_scheduler_defaults_and_builders_minimal_test() -> None:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
    sched = build_scheduler(opt, steps_per_epoch=100, epochs=2)
    assert sched.schedule == WarmupCosine(warmup_steps=100, total_steps=200, min_lr_scale=0.1)
    # The builders' snippet reads base_lr from group["lr"] *after* building the scheduler, which
    # is already base_lr * λ(0) = base_lr / W, so its `mult1 <= base_lr` cannot hold for any
    # LambdaLR; the base LR it means is the group's initial_lr.
    assert opt.param_groups[0]["lr"] == 3e-4 * 0.01
    base_lr = opt.param_groups[0]["initial_lr"]
    for _ in range(150):
        opt.step()
        sched.step()
    assert sched.get_last_lr()[0] <= base_lr
    assert sched.get_last_lr()[0] < lr_lambda(sched.schedule)(100) * 3e-4  # decreasing


def test_build_warmup_cosine() -> None:
    opt = _optimizer(_model())
    sched = build_warmup_cosine(opt, warmup_steps=1_000, total_steps=50_000, min_lr_scale=0.2)
    assert isinstance(sched, LambdaLR)
    assert sched.schedule == WarmupCosine(warmup_steps=1000, total_steps=50000, min_lr_scale=0.2)
    assert build_warmup_cosine(_optimizer(_model()), warmup_steps=0, total_steps=5).schedule == (
        WarmupCosine(warmup_steps=0, total_steps=5, min_lr_scale=0.0)
    )
    curve = lr_curve(sched.schedule, 3000)
    for step in range(3000):
        assert sched.get_last_lr()[2] == BASE_LRS[2] * curve[step]
        opt.step()
        sched.step()


@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        (
            {"steps_per_epoch": 0, "epochs": 2},
            ValueError,
            "build_scheduler.steps_per_epoch: must be an integer >= 1, got 0",
        ),
        ({"steps_per_epoch": 10, "epochs": 1.5}, TypeError, "build_scheduler.epochs"),
        ({"steps_per_epoch": True, "epochs": 2}, TypeError, "build_scheduler.steps_per_epoch"),
        (
            {"steps_per_epoch": 10, "epochs": 2, "warmup_epochs": -1},
            ValueError,
            "build_scheduler.warmup_epochs: must be an integer >= 0, got -1",
        ),
        (
            {"steps_per_epoch": 10, "epochs": 2, "warmup_epochs": 3},
            ValueError,
            "build_scheduler.warmup_epochs: must be <= epochs (2), got 3",
        ),
        (
            {"steps_per_epoch": 10, "epochs": 2, "min_lr_scale": 1.5},
            ValueError,
            "WarmupCosine.min_lr_scale: must be finite and in [0, 1], got 1.5",
        ),
        (
            {"steps_per_epoch": 10, "epochs": 2, "min_lr_scale": math.nan},
            ValueError,
            "min_lr_scale: must be finite",
        ),
    ],
)
def test_build_scheduler_errors(kwargs: dict[str, Any], exc: type[Exception], text: str) -> None:
    with pytest.raises(exc) as info:
        build_scheduler(_optimizer(_model()), **kwargs)
    assert text in str(info.value)


def test_build_warmup_cosine_errors() -> None:
    with pytest.raises(ValueError, match=r"WarmupCosine\.warmup_steps: must be <= total_steps"):
        build_warmup_cosine(_optimizer(_model()), warmup_steps=11, total_steps=10)
    with pytest.raises(TypeError, match=r"WarmupCosine\.warmup_steps"):
        build_warmup_cosine(_optimizer(_model()), warmup_steps=1.5, total_steps=10)  # type: ignore[arg-type]


# ---- the spec-method API's exponential decay ----------------------------------------------


@pytest.mark.parametrize(("gamma", "steps_per_epoch"), [(0.95, 1), (0.9, 7), (0.5, 3), (1.0, 2)])
def test_exponential_decay_matches_exponential_lr_stepped_per_epoch(
    gamma: float, steps_per_epoch: int
) -> None:
    torch_opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    # what the spec-method API's create_scheduler returns
    torch_sched = ExponentialLR(torch_opt, gamma=gamma)
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    sched = make_scheduler(opt, ExponentialDecay(gamma=gamma, steps_per_epoch=steps_per_epoch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExponentialLR stepped without optimizer.step()
        for epoch in range(40):
            for _ in range(steps_per_epoch):
                lr = opt.param_groups[0]["lr"]
                # ExponentialLR chains products (about an ulp per epoch); ours is the closed form
                assert math.isclose(lr, torch_opt.param_groups[0]["lr"], rel_tol=1e-13)
                assert math.isclose(lr, 0.1 * gamma**epoch, rel_tol=4 * 2**-52)
                opt.step()
                sched.step()
            torch_sched.step()


def test_partial_of_module_function() -> None:
    f = lr_lambda(Constant())
    assert isinstance(f, functools.partial)
    # a module-level function of the schedules package: it pickles by reference
    assert f.func.__module__.startswith("optfn.schedules.") and "." not in f.func.__qualname__
    assert pickle.loads(pickle.dumps(f))(0) == 1.0


def test_scheduler_runs_a_users_own_schedule() -> None:
    import attrs
    import numpy as np

    from optfn.schedules.xp import MathNamespace

    @attrs.frozen(kw_only=True)
    class Sawtooth(Schedule):
        period: int

        def formula(self, x: Any, xp: MathNamespace) -> Any:
            return 1.0 - xp.to_float(x % self.period) / float(self.period)

    s = Join(pieces=(LinearWarmup(warmup_steps=4), Sawtooth(period=7)), boundaries=(4,))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = ScheduleLR(opt, s)
    seen = []
    for _ in range(2100):  # across two blocks
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == (lr_curve(s, 2100) * 2.0).tolist()
    assert np.array_equal(lr_curve(s, 2100), [lr_lambda(s)(i) for i in range(2100)])
