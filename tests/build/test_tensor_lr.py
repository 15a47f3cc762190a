"""Tensor learning rates (0-D tensors, as torch's Muon and AdamW take them) through optfn:
``MuonWithAdamW``'s groups, its step, ``state_dict``, the schedulers and ``make_optimizer``;
and ``MuonWithAdamW.defaults`` as monitors read it."""

from __future__ import annotations

import copy
import io
import itertools
import pickle
from typing import Any

import pytest
import torch
from torch import nn

from optfn import AdamWSpec, MuonRouting, MuonSpec, ParamRules, make_optimizer
from optfn.build.scheduler import make_scheduler
from optfn.optim.muon import MuonWithAdamW
from optfn.optim.muon.groups import (
    ADAMW_DEFAULTS,
    MUON_DEFAULTS,
    OPTIMIZER_DEFAULTS,
    ROUTE_DEFAULTS,
    normalize_group,
)
from optfn.schedules import HyperSchedules, Ramp, WarmupCosine
from tests.optim.test_muon import (
    SHAPES,
    adamw_group,
    clone_params,
    make_params,
    muon_group,
    set_grads,
    torch_muon_kwargs,
)

STEPS = 6


def lam(step: int) -> float:
    return 1.0 / (1.0 + 0.3 * step)


def lockstep(
    params: list[list[nn.Parameter]], optimizers: list[torch.optim.Optimizer], steps: int
) -> None:
    """The same gradients, one step of each optimizer, then of a LambdaLR(lam) on each."""
    gen = torch.Generator().manual_seed(7)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lam) for opt in optimizers]
    for _ in range(steps):
        set_grads(params, gen)
        for opt in optimizers:
            opt.step()
        for sched in schedulers:
            sched.step()


def hybrid(tensor: bool, seed: int = 0, **kw: Any) -> tuple[list[nn.Parameter], MuonWithAdamW]:
    """A MuonWithAdamW over two matrices (muon) and a vector (adamw)."""
    ps = make_params([(6, 4), (4, 6), (5,)], seed)

    def lr(x: float) -> float | torch.Tensor:
        return torch.tensor(x) if tensor else x

    opt = MuonWithAdamW(
        [
            muon_group(ps[:2], lr=lr(0.02)),
            adamw_group(ps[2:], lr=lr(1e-3)),
        ],
        **kw,
    )
    return ps, opt


# ---- the group contract ------------------------------------------------------------------
def test_a_tensor_lr_is_kept_as_the_same_tensor() -> None:
    lr = torch.tensor(0.02)
    for group in (muon_group(make_params([(3, 2)], 0), lr=lr), adamw_group([], lr=lr)):
        assert normalize_group(0, group)["lr"] is lr


@pytest.mark.parametrize(
    ("lr", "exc", "pattern"),
    [
        (torch.tensor([0.02]), ValueError, r"'lr' as a tensor must be 0-D .*got shape \(1,\)"),
        (torch.tensor(2), TypeError, r"'lr' as a tensor must be a floating-point .*torch.int64"),
        (torch.tensor(0.1, requires_grad=True), ValueError, r"'lr' as a tensor must not req"),
        (torch.tensor(-0.1), ValueError, r"'lr' must be finite and >= 0.0, got tensor\(-0.1"),
        (torch.tensor(float("nan")), ValueError, r"'lr' must be finite and >= 0.0, got tensor"),
        (torch.tensor(float("inf")), ValueError, r"'lr' must be finite"),
        (torch.tensor(0.1, device="meta"), ValueError, r"'lr' must be finite"),
    ],
)
@pytest.mark.parametrize("route", ["muon", "adamw"])
def test_bad_tensor_lrs_name_group_route_and_key(
    route: str, lr: torch.Tensor, exc: type[Exception], pattern: str
) -> None:
    ps = make_params([(3, 2)], 0)
    group = muon_group(ps, lr=lr) if route == "muon" else adamw_group(ps, lr=lr)
    with pytest.raises(exc, match=rf"param group 1 \(route '{route}'\): {pattern}"):
        normalize_group(1, group)
    with pytest.raises(exc, match=pattern):
        MuonWithAdamW([group])


def test_a_tensor_lr_cannot_run_with_foreach_true() -> None:
    group = adamw_group(make_params([(3,)], 0), lr=torch.tensor(1e-3), foreach=True)
    with pytest.raises(ValueError, match=r"route 'adamw'.*tensor 'lr' cannot run with foreach"):
        MuonWithAdamW([group])
    for foreach in (None, False):  # torch picks the for-loop kernel for a tensor LR
        MuonWithAdamW([{**group, "foreach": foreach}])
    MuonWithAdamW([{**group, "capturable": True}])  # torch's rule: capturable takes it


# ---- the step: torch's, bit for bit ------------------------------------------------------
@pytest.mark.parametrize(
    ("adjust", "nesterov", "wd"),
    list(itertools.product(["original", "match_rms_adamw"], [True, False], [0.0, 0.1])),
)
def test_muon_tensor_lr_equals_torch_muon_with_a_tensor_lr(
    adjust: str, nesterov: bool, wd: float
) -> None:
    mine = make_params(SHAPES, 0)
    theirs = clone_params(mine)
    group = muon_group(mine, lr=torch.tensor(0.02), adjust_lr_fn=adjust, nesterov=nesterov)
    group["weight_decay"] = wd
    opt = MuonWithAdamW([group])
    kwargs = torch_muon_kwargs(group) | {"lr": torch.tensor(0.02)}
    ref = torch.optim.Muon(theirs, **kwargs)
    lockstep([mine, theirs], [opt, ref], STEPS)
    assert isinstance(opt.param_groups[0]["lr"], torch.Tensor)
    assert torch.equal(opt.param_groups[0]["lr"], ref.param_groups[0]["lr"])
    for p, q in zip(mine, theirs, strict=True):
        assert torch.equal(p, q)
        assert torch.equal(opt.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"])


def test_a_tensor_lr_and_a_float_lr_differ_only_by_the_lr_rounding() -> None:
    """A float32 LR is not the float: the two runs agree to float32 rounding, not bit for bit
    (torch's Muon behaves the same)."""
    ps_t, opt_t = hybrid(True)
    ps_f, opt_f = hybrid(False)
    lockstep([ps_t, ps_f], [opt_t, opt_f], STEPS)
    for p, q in zip(ps_t, ps_f, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("amsgrad", "flags"),
    list(
        itertools.product([False, True], [{"foreach": None}, {"foreach": False}, {"fused": True}])
    ),
)
def test_adamw_tensor_lr_equals_torch_adamw_with_a_tensor_lr(
    amsgrad: bool, flags: dict[str, Any]
) -> None:
    mine = make_params([(5, 3), (7,)], 1)
    theirs = clone_params(mine)
    group = adamw_group(mine, lr=torch.tensor(1e-2), amsgrad=amsgrad, **flags)
    opt = MuonWithAdamW([group])
    ref = torch.optim.AdamW(
        theirs,
        lr=torch.tensor(1e-2),
        betas=group["betas"],
        eps=group["eps"],
        weight_decay=group["weight_decay"],
        amsgrad=amsgrad,
        **flags,
    )
    lockstep([mine, theirs], [opt, ref], STEPS)
    for p, q in zip(mine, theirs, strict=True):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], ref.state[q][key])


def test_batched_newton_schulz_with_a_tensor_lr_matches_per_matrix() -> None:
    ps_a, opt_a = hybrid(True, batch_newton_schulz=False)
    ps_b, opt_b = hybrid(True, batch_newton_schulz=True)
    lockstep([ps_a, ps_b], [opt_a, opt_b], STEPS)
    for p, q in zip(ps_a, ps_b, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-3)  # bf16 GEMMs batched


# ---- state_dict ----------------------------------------------------------------------------
def test_an_optimizer_with_tensor_lrs_loads_its_own_state() -> None:
    ps, opt = hybrid(True)
    lockstep([ps], [opt], 2)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    assert all(isinstance(g["lr"], torch.Tensor) for g in saved["param_groups"])
    _, fresh = hybrid(True)
    fresh.load_state_dict(saved)
    for a, b in zip(opt.param_groups, fresh.param_groups, strict=True):
        assert isinstance(b["lr"], torch.Tensor)
        assert torch.equal(a["lr"], b["lr"])
    opt.load_state_dict(opt.state_dict())  # the case: its own state, unchanged


def test_a_refused_tensor_lr_state_changes_nothing() -> None:
    ps, opt = hybrid(True)
    lockstep([ps], [opt], 1)
    bad = copy.deepcopy(opt.state_dict())
    bad["param_groups"][1]["lr"] = torch.tensor([1e-3, 1e-3])
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"param group 1 \(route 'adamw'\): 'lr' as a tensor"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert [g["lr"] for g in after["param_groups"]] == [g["lr"] for g in before["param_groups"]]
    for k, state in before["state"].items():
        for key, value in state.items():
            assert torch.equal(after["state"][k][key], value)


# ---- schedulers ----------------------------------------------------------------------------
def test_schedule_lr_fills_the_tensors_and_resumes_exactly() -> None:
    schedule = WarmupCosine(warmup_steps=2, total_steps=8)
    ps_t, opt_t = hybrid(True)
    ps_f, opt_f = hybrid(False)
    tensors = [g["lr"] for g in opt_t.param_groups]
    sched_t, sched_f = make_scheduler(opt_t, schedule), make_scheduler(opt_f, schedule)
    gen = torch.Generator().manual_seed(3)
    for _ in range(4):
        set_grads([ps_t, ps_f], gen)
        opt_t.step()
        opt_f.step()
        sched_t.step()
        sched_f.step()
        for g_t, g_f, t in zip(opt_t.param_groups, opt_f.param_groups, tensors, strict=True):
            assert g_t["lr"] is t  # the same tensor, filled in place
            assert t.item() == pytest.approx(g_f["lr"], rel=1e-6)
    # resume: a fresh optimizer + scheduler with tensor LRs, both states loaded
    state = (copy.deepcopy(opt_t.state_dict()), copy.deepcopy(sched_t.state_dict()))
    ps_r, opt_r = hybrid(True)
    with torch.no_grad():
        for p, q in zip(ps_r, ps_t, strict=True):
            p.copy_(q)
    sched_r = make_scheduler(opt_r, schedule)
    opt_r.load_state_dict(state[0])
    sched_r.load_state_dict(state[1])
    for _ in range(3):
        set_grads([ps_t, ps_r], gen)
        for opt, sched in ((opt_t, sched_t), (opt_r, sched_r)):
            opt.step()
            sched.step()
    for p, q in zip(ps_t, ps_r, strict=True):
        assert torch.equal(p, q)
    # a tensor-LR scheduler state loaded under float LRs keeps them floats
    sched_f.load_state_dict(sched_t.state_dict())
    assert all(type(g["lr"]) is float for g in opt_f.param_groups)


def test_hyper_schedule_lr_with_tensor_lrs() -> None:
    ps, opt = hybrid(True)
    lr = opt.param_groups[0]["lr"]
    sched = make_scheduler(
        opt,
        HyperSchedules(
            lr=WarmupCosine(warmup_steps=2, total_steps=6),
            momentum=Ramp(steps=2, start_scale=0.9),
            routes={"momentum": "muon"},
        ),
    )
    lockstep([ps], [opt], 0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        set_grads([ps], gen)
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] is lr
    state = sched.state_dict()
    assert all(isinstance(b, torch.Tensor) for b in state["base_lrs"])
    sched.load_state_dict(copy.deepcopy(state))
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)


# ---- make_optimizer(tensor_lr=True) -------------------------------------------------------
def test_make_optimizer_tensor_lr() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    floats = make_optimizer(model, AdamWSpec(learning_rate=1e-3))
    tensors = make_optimizer(model, AdamWSpec(learning_rate=1e-3), tensor_lr=True)
    for a, b in zip(floats.param_groups, tensors.param_groups, strict=True):
        assert isinstance(b["lr"], torch.Tensor) and b["lr"].ndim == 0
        assert b["lr"].item() == pytest.approx(a["lr"])
    rules = ParamRules(muon=MuonRouting.hidden_matrices())
    muon = make_optimizer(model, MuonSpec(), rules, tensor_lr=True)
    assert all(isinstance(g["lr"], torch.Tensor) for g in muon.param_groups)
    with pytest.raises(ValueError, match=r"AdamWSpec.implementation: 'foreach' cannot run a"):
        make_optimizer(model, AdamWSpec(implementation="foreach"), tensor_lr=True)
    with pytest.raises(TypeError, match=r"tensor_lr.*must be a bool"):
        make_optimizer(model, AdamWSpec(), tensor_lr=1)  # type: ignore[arg-type]


# ---- defaults ------------------------------------------------------------------------------
def test_defaults_cover_every_key_a_group_holds() -> None:
    _, opt = hybrid(False)
    assert opt.defaults == OPTIMIZER_DEFAULTS
    assert opt.defaults["momentum"] == 0.95 and opt.defaults["betas"] == (0.9, 0.999)
    for group in opt.param_groups:
        keys = set(group) - {"params", "param_names", "route", "initial_lr"}
        assert keys <= set(opt.defaults)
        route = ROUTE_DEFAULTS[group["route"]]
        assert {k: opt.defaults[k] for k in keys if k not in ("lr", "weight_decay", "eps")} == {
            k: route[k] for k in keys if k not in ("lr", "weight_decay", "eps")
        }
    assert set(MUON_DEFAULTS) == set(opt.param_groups[0]) - {"params", "param_names", "route"}
    assert set(ADAMW_DEFAULTS) == set(opt.param_groups[1]) - {"params", "param_names", "route"}
    assert ADAMW_DEFAULTS == {
        k: x
        for k, x in torch.optim.AdamW([nn.Parameter(torch.zeros(1))]).defaults.items()
        if k in ADAMW_DEFAULTS
    }
    muon = torch.optim.Muon([nn.Parameter(torch.zeros(2, 2))]).defaults
    assert MUON_DEFAULTS == {k: muon[k] for k in MUON_DEFAULTS}


def test_add_param_group_stays_strict_and_adds_no_foreign_key() -> None:
    _, opt = hybrid(False)
    extra = make_params([(3, 3), (3,)], 9)
    opt.add_param_group(muon_group(extra[:1]))
    opt.add_param_group(adamw_group(extra[1:]))
    assert "betas" not in opt.param_groups[2] and "amsgrad" not in opt.param_groups[2]
    assert "momentum" not in opt.param_groups[3] and "ns_steps" not in opt.param_groups[3]
    incomplete = muon_group(make_params([(2, 2)], 3))
    del incomplete["momentum"]
    with pytest.raises(ValueError, match=r"param group 4 \(route 'muon'\): missing .*'momentum'"):
        opt.add_param_group(incomplete)


def test_pickled_optimizer_from_before_gets_the_defaults() -> None:
    _, opt = hybrid(False)
    opt.defaults = {"differentiable": False}  # as optfn used to keep them
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.defaults == OPTIMIZER_DEFAULTS


def fit_with_monitor(monitor: Any, root: Any, sgd: bool = False) -> None:
    """Two Lightning steps of a tiny model, ``MuonWithAdamW`` (or SGD) watched by ``monitor``."""
    import lightning

    class Tiny(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self) -> Any:
            if sgd:
                return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.8)
            return MuonWithAdamW(
                [
                    muon_group([self.net[0].weight, self.net[1].weight]),
                    adamw_group([self.net[0].bias, self.net[1].bias], betas=(0.85, 0.99)),
                ]
            )

    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    trainer = lightning.Trainer(
        max_steps=2,
        log_every_n_steps=1,
        callbacks=[monitor],
        logger=lightning.pytorch.loggers.CSVLogger(root),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=4))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lightning_lr_monitor_logs_each_groups_own_momentum(tmp_path: Any) -> None:
    """optfn's ``LearningRateMonitor`` logs the muon group's ``momentum`` and the adamw
    group's ``betas[0]``, each its own; Lightning's stock monitor reads one key for all groups
    (``betas[0]``, as ``defaults`` has ``betas``) and fails on the muon group: loud, not a
    silent 0. On a plain torch optimizer the two monitors log the same."""
    lightning = pytest.importorskip("lightning")
    from optfn.integrations.lightning import LearningRateMonitor

    mine = LearningRateMonitor(log_momentum=True, logging_interval="step")  # every step
    fit_with_monitor(mine, tmp_path / "mine")
    momenta = dict(mine.last_momentum_values)
    assert momenta["lr-MuonWithAdamW/pg1-momentum"] == 0.95
    assert momenta["lr-MuonWithAdamW/pg2-momentum"] == 0.85
    (metrics,) = (tmp_path / "mine").rglob("metrics.csv")
    header = metrics.read_text().splitlines()[0].split(",")
    assert {"lr-MuonWithAdamW/pg1-momentum", "lr-MuonWithAdamW/pg2-momentum"} <= set(header)

    stock = lightning.pytorch.callbacks.LearningRateMonitor(log_momentum=True)
    with pytest.raises(KeyError, match="betas"):
        fit_with_monitor(stock, tmp_path / "stock")

    both = []
    for monitor in (
        LearningRateMonitor(log_momentum=True),
        lightning.pytorch.callbacks.LearningRateMonitor(log_momentum=True),
    ):
        fit_with_monitor(monitor, tmp_path / f"sgd{len(both)}", sgd=True)
        both.append(dict(monitor.last_momentum_values))
    assert both[0] == both[1] == {"lr-SGD-momentum": 0.8}
