"""Tests of optfn.optim.muon.MuonWithAdamW: parity with torch.optim.Muon / AdamW, resume, errors."""

from __future__ import annotations

import copy
import io
import itertools
import math
from typing import Any

import pytest
import torch
from torch import nn

from optfn.optim.muon import MuonWithAdamW

COEFFS = (3.4445, -4.7750, 2.0315)
SHAPES = [(12, 5), (5, 12), (7, 7)]  # tall, wide, square


def muon_group(params: list[torch.Tensor], **hyper: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "params": params,
        "param_names": [f"m{i}" for i in range(len(params))],
        "route": "muon",
        "lr": 0.02,
        "weight_decay": 0.1,
        "momentum": 0.95,
        "nesterov": True,
        "ns_coefficients": COEFFS,
        "ns_steps": 5,
        "eps": 1e-7,
        "adjust_lr_fn": "original",
    }
    group.update(hyper)
    return group


def adamw_group(params: list[torch.Tensor], **hyper: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "params": params,
        "param_names": [f"a{i}" for i in range(len(params))],
        "route": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.01,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "amsgrad": False,
    }
    group.update(hyper)
    return group


def torch_muon_kwargs(group: dict[str, Any]) -> dict[str, Any]:
    keys = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "ns_steps", "eps")
    return {k: group[k] for k in keys} | {"adjust_lr_fn": group["adjust_lr_fn"]}


def make_params(shapes: list[tuple[int, ...]], seed: int) -> list[nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]


def clone_params(params: list[nn.Parameter]) -> list[nn.Parameter]:
    return [nn.Parameter(p.detach().clone()) for p in params]


def set_grads(param_sets: list[list[nn.Parameter]], gen: torch.Generator) -> None:
    """The same random gradient on the matching parameter of every set."""
    for ps in zip(*param_sets, strict=True):
        g = torch.randn(ps[0].shape, generator=gen)
        for p in ps:
            p.grad = g.clone().reshape(p.shape)


def lam(step: int) -> float:
    return 1.0 / (1.0 + 0.3 * step)


def step_in_lockstep(
    params: list[list[nn.Parameter]],
    optimizers: list[torch.optim.Optimizer],
    gen: torch.Generator,
    steps: int,
) -> None:
    """Same gradients, then one step of each optimizer and of a LambdaLR(lam) on each."""
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lam) for opt in optimizers]
    for _ in range(steps):
        set_grads(params, gen)
        for opt in optimizers:
            opt.step()
        for sched in schedulers:
            sched.step()


# ---- parity ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("adjust", "nesterov", "wd"),
    list(itertools.product(["original", "match_rms_adamw"], [True, False], [0.0, 0.1])),
)
def test_muon_groups_equal_torch_muon(adjust: str, nesterov: bool, wd: float) -> None:
    ours = make_params(SHAPES, seed=0)
    ref = clone_params(ours)
    hyper = {"adjust_lr_fn": adjust, "nesterov": nesterov, "weight_decay": wd}
    group = muon_group(list(ours), **hyper)
    opt = MuonWithAdamW([group])
    ref_opt = torch.optim.Muon(ref, **torch_muon_kwargs(group))
    step_in_lockstep([ours, ref], [opt, ref_opt], torch.Generator().manual_seed(1), steps=3)
    for p, q in zip(ours, ref, strict=True):
        assert torch.equal(p, q)
        assert torch.equal(opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"])


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_groups_equal_torch_adamw(amsgrad: bool) -> None:
    shapes: list[tuple[int, ...]] = [(6,), (4, 3), (2, 3, 2)]
    ours = make_params(shapes, seed=2)
    ref = clone_params(ours)
    opt = MuonWithAdamW([adamw_group(list(ours), amsgrad=amsgrad, weight_decay=0.05)])
    ref_opt = torch.optim.AdamW(ref, lr=1e-3, weight_decay=0.05, amsgrad=amsgrad)
    step_in_lockstep([ours, ref], [opt, ref_opt], torch.Generator().manual_seed(3), steps=4)
    for p, q in zip(ours, ref, strict=True):
        assert torch.equal(p, q)
        mine, theirs = opt.state[p], ref_opt.state[q]
        assert sorted(mine) == sorted(theirs)
        for key in mine:
            assert mine[key].dtype == theirs[key].dtype
            assert mine[key].device == theirs[key].device
            assert torch.equal(mine[key], theirs[key])


def test_hybrid_equals_two_torch_optimizers_under_exponential_lr() -> None:
    m_ours, a_ours = make_params(SHAPES, seed=4), make_params([(5,), (3, 4)], seed=5)
    m_ref, a_ref = clone_params(m_ours), clone_params(a_ours)
    mg = muon_group(list(m_ours), adjust_lr_fn="match_rms_adamw")
    opt = MuonWithAdamW([mg, adamw_group(list(a_ours))])
    ref_m = torch.optim.Muon(m_ref, **torch_muon_kwargs(mg))
    ref_a = torch.optim.AdamW(a_ref, lr=1e-3, weight_decay=0.01)
    scheds = [torch.optim.lr_scheduler.ExponentialLR(o, 0.9) for o in (opt, ref_m, ref_a)]
    gen = torch.Generator().manual_seed(6)
    for _ in range(4):
        set_grads([m_ours + a_ours, m_ref + a_ref], gen)
        for o in (opt, ref_m, ref_a):
            o.step()
        for s in scheds:
            s.step()
    assert opt.param_groups[0]["lr"] == ref_m.param_groups[0]["lr"]
    assert opt.param_groups[1]["lr"] == ref_a.param_groups[0]["lr"]
    for p, q in zip(m_ours + a_ours, m_ref + a_ref, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("adjust", ["original", "match_rms_adamw"])
def test_conv_weight_uses_matrix_view(adjust: str) -> None:
    (w,) = make_params([(8, 4, 3, 3)], seed=7)
    ref = nn.Parameter(w.detach().reshape(8, -1).clone())
    group = muon_group([w], adjust_lr_fn=adjust)
    opt = MuonWithAdamW([group])
    ref_opt = torch.optim.Muon([ref], **torch_muon_kwargs(group))
    gen = torch.Generator().manual_seed(8)
    for _ in range(3):
        g = torch.randn(w.shape, generator=gen)
        w.grad, ref.grad = g.clone(), g.reshape(8, -1).clone()
        opt.step()
        ref_opt.step()
    assert w.shape == (8, 4, 3, 3)
    assert torch.equal(w.reshape(8, -1), ref)
    assert opt.state[w]["momentum_buffer"].shape == w.shape


@pytest.mark.parametrize("nesterov", [True, False])
def test_batched_newton_schulz_matches_per_matrix(nesterov: bool) -> None:
    """The batched path (the GPU default) agrees with the per-matrix one to bf16 rounding."""
    shapes = [(12, 5), (12, 5), (12, 5), (5, 12), (5, 12), (2, 3, 4), (2, 3, 4), (7, 7)]
    ours = make_params(shapes, seed=9)
    ref = clone_params(ours)
    start = [p.detach().clone() for p in ref]
    opt = MuonWithAdamW([muon_group(list(ours), nesterov=nesterov)], batch_newton_schulz=True)
    ref_opt = MuonWithAdamW([muon_group(list(ref), nesterov=nesterov)], batch_newton_schulz=False)
    gen = torch.Generator().manual_seed(10)
    for _ in range(3):
        set_grads([ours, ref], gen)
        opt.step()
        ref_opt.step()
    for p, q, p0 in zip(ours, ref, start, strict=True):
        moved = (q - p0).abs().max()
        assert (p - q).abs().max() <= 0.01 * moved
        torch.testing.assert_close(
            opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"]
        )


def test_add_param_group_is_checked() -> None:
    w, b, v = make_params([(4, 4), (4,), (3,)], seed=23)
    opt = MuonWithAdamW([muon_group([w])])
    opt.add_param_group(adamw_group([b]))
    assert opt.param_groups[1]["foreach"] is None and opt.param_groups[1]["maximize"] is False
    with pytest.raises(ValueError, match=r"param group 2 \(route 'muon'\).*'m0'.*ndim 1"):
        opt.add_param_group(muon_group([v]))


def test_none_grads_are_skipped() -> None:
    ps = make_params([(6, 4), (6, 4), (3,)], seed=11)
    before = [p.detach().clone() for p in ps]
    opt = MuonWithAdamW([muon_group(ps[:2]), adamw_group(ps[2:])])
    ps[0].grad = torch.ones(6, 4)
    opt.step()
    assert not torch.equal(ps[0], before[0])
    assert torch.equal(ps[1], before[1]) and torch.equal(ps[2], before[2])
    assert ps[1] not in opt.state and ps[2] not in opt.state


# ---- state_dict, clip, zero_grad --------------------------------------------------------------
def build(params: list[nn.Parameter]) -> MuonWithAdamW:
    return MuonWithAdamW([muon_group(params[:3]), adamw_group(params[3:], amsgrad=True)])


def test_state_dict_resume_is_bit_identical() -> None:
    shapes: list[tuple[int, ...]] = [*SHAPES, (5,), (3, 4)]
    straight = make_params(shapes, seed=12)
    first = clone_params(straight)
    gen_grads = torch.Generator().manual_seed(13)
    grads = [[torch.randn(s, generator=gen_grads) for s in shapes] for _ in range(6)]

    opt = build(straight)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    for gs in grads:
        for p, g in zip(straight, gs, strict=True):
            p.grad = g.clone()
        opt.step()
        sched.step()

    opt1 = build(first)
    sched1 = torch.optim.lr_scheduler.LambdaLR(opt1, lam)
    for gs in grads[:3]:
        for p, g in zip(first, gs, strict=True):
            p.grad = g.clone()
        opt1.step()
        sched1.step()
    buf = io.BytesIO()
    torch.save({"opt": opt1.state_dict(), "sched": sched1.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=False)

    resumed = clone_params(first)
    opt2 = build(resumed)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lam)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    for gs in grads[3:]:
        for p, g in zip(resumed, gs, strict=True):
            p.grad = g.clone()
        opt2.step()
        sched2.step()
    for p, q in zip(straight, resumed, strict=True):
        assert torch.equal(p, q)
    assert opt2.param_groups[0]["route"] == "muon"
    assert opt2.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    assert opt2.state[resumed[3]]["step"].device.type == "cpu"


def test_clip_grad_norm_and_zero_grad() -> None:
    ps = make_params([(6, 4), (4,)], seed=14)
    opt = MuonWithAdamW([muon_group(ps[:1]), adamw_group(ps[1:])])
    for p in ps:
        p.grad = torch.full(p.shape, 10.0)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert total.item() == pytest.approx(10.0 * math.sqrt(28))
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ps])) <= 1.0 + 1e-6
    opt.step()
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    for p in ps:
        p.grad = torch.ones(p.shape)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in ps)


# ---- errors ---------------------------------------------------------------------------------
def test_vector_in_muon_group_names_the_parameter() -> None:
    w, b = make_params([(4, 4), (4,)], seed=15)
    group = muon_group([w, b])
    group["param_names"] = ["layer.weight", "layer.bias"]
    with pytest.raises(ValueError, match=r"param group 0 \(route 'muon'\).*'layer\.bias'.*ndim 1"):
        MuonWithAdamW([group])


@pytest.mark.parametrize("route", ["muon", "adamw"])
def test_missing_key_names_group_route_and_key(route: str) -> None:
    w, b = make_params([(4, 4), (4,)], seed=16)
    mg, ag = muon_group([w]), adamw_group([b])
    target = mg if route == "muon" else ag
    del target["eps"]
    with pytest.raises(ValueError, match=rf"param group 1 \(route '{route}'\): .*'eps'"):
        MuonWithAdamW([ag, mg] if route == "muon" else [mg, ag])


def test_unknown_or_missing_route() -> None:
    (w,) = make_params([(4, 4)], seed=17)
    with pytest.raises(ValueError, match=r"param group 0: unknown route 'sgd'"):
        MuonWithAdamW([muon_group([w], route="sgd")])
    group = muon_group([w])
    del group["route"]
    with pytest.raises(ValueError, match=r"param group 0: missing required key 'route'"):
        MuonWithAdamW([group])


@pytest.mark.parametrize(
    ("override", "exc", "pattern"),
    [
        ({"ns_steps": 0}, ValueError, "'ns_steps'"),
        ({"ns_steps": 2.0}, TypeError, "'ns_steps'"),
        ({"adjust_lr_fn": "sqrt"}, ValueError, "'adjust_lr_fn'"),
        ({"momentum": 1.0}, ValueError, "'momentum'"),
        ({"lr": -1.0}, ValueError, "'lr'"),
        ({"lr": "0.1"}, TypeError, "'lr'"),
        ({"nesterov": 1}, TypeError, "'nesterov'"),
        ({"ns_coefficients": (1.0, 2.0)}, TypeError, "'ns_coefficients'"),
        ({"param_names": ["a", "b"]}, ValueError, "'param_names' has 2"),
    ],
)
def test_bad_muon_values(override: dict[str, Any], exc: type[Exception], pattern: str) -> None:
    (w,) = make_params([(4, 4)], seed=18)
    with pytest.raises(exc, match=pattern):
        MuonWithAdamW([muon_group([w], **override)])


def test_bad_adamw_values_and_inputs() -> None:
    (b,) = make_params([(4,)], seed=19)
    with pytest.raises(ValueError, match=r"'betas\[1\]'"):
        MuonWithAdamW([adamw_group([b], betas=(0.9, 1.0))])
    with pytest.raises(ValueError, match="fused"):
        MuonWithAdamW([adamw_group([b], fused=True, foreach=True)])
    with pytest.raises(TypeError, match="list of param-group dicts"):
        MuonWithAdamW([b])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no param groups"):
        MuonWithAdamW([])


def test_capturable_is_a_bool_and_refused_eagerly_off_gpu_before_any_group_moves() -> None:
    """capturable=True is torch's (and what torch.compile sets on a GPU group); an eager step
    on CPU parameters is refused before any group moves, where torch asserts mid-step."""
    w, b = make_params([(4, 4), (4,)], seed=22)
    with pytest.raises(TypeError, match=r"route 'adamw'.*'capturable'"):
        MuonWithAdamW([adamw_group([b], capturable=1)])
    with pytest.raises(ValueError, match=r"differentiable=True is not supported"):
        MuonWithAdamW([adamw_group([b], differentiable=True)])
    opt = MuonWithAdamW([muon_group([w]), adamw_group([b], capturable=True)])
    assert opt.param_groups[1]["capturable"] is True
    before = [w.detach().clone(), b.detach().clone()]
    w.grad, b.grad = torch.ones(4, 4), torch.ones(4)
    with pytest.raises(
        ValueError,
        match=r"param group 1 \(route 'adamw'\): capturable=True needs parameter 'a0' "
        r"\(on cpu\) and its 'step' state \(not created yet\) on one device of type cuda, "
        r".*set opt.param_groups\[1\]\['capturable'\] = False",
    ):
        opt.step()
    assert torch.equal(w, before[0]) and torch.equal(b, before[1])  # nothing moved
    assert len(opt.state) == 0  # and no state was created
    opt.param_groups[1]["capturable"] = False  # what the error advises
    opt.step()
    assert not torch.equal(b, before[1])


def test_capturable_reaches_torch_and_its_state_is_torchs(monkeypatch: Any) -> None:
    """The group's capturable goes to torch's functional adamw (a spy records it), and the
    ``step`` state is created where torch.optim.AdamW creates it: on the parameter's device
    when fused (float32) or capturable (the default scalar dtype), else a CPU scalar. Fused
    groups are not refused on CPU: torch's fused kernel takes capturable on any device."""
    import optfn.optim.muon.optimizer as module

    seen: list[bool] = []
    real = module._torch_adamw

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(kwargs["capturable"])
        real(*args, **kwargs)

    monkeypatch.setattr(module, "_torch_adamw", spy)
    mine, theirs = make_params([(5,)], seed=23), make_params([(5,)], seed=23)
    opt = MuonWithAdamW([adamw_group(mine, fused=True, capturable=True)])
    ref = torch.optim.AdamW(theirs, lr=1e-3, weight_decay=0.01, fused=True, capturable=True)
    gen = torch.Generator().manual_seed(4)
    for _ in range(3):
        set_grads([mine, theirs], gen)
        opt.step()
        ref.step()
    assert seen == [True] * 3
    assert torch.equal(mine[0], theirs[0])
    for key in ("step", "exp_avg", "exp_avg_sq"):
        a, b = opt.state[mine[0]][key], ref.state[theirs[0]][key]
        assert (a.dtype, a.device) == (b.dtype, b.device) and torch.equal(a, b), key

    # state creation off CPU, without running a step: parameters on the meta device (fused
    # is checked above: torch's fused kernels refuse meta)
    for capturable, where_ in [(True, "meta"), (False, "cpu")]:
        p = nn.Parameter(torch.empty(3, device="meta"))
        p.grad = torch.empty(3, device="meta")
        dtype = torch.get_default_dtype()
        group = adamw_group([p], capturable=capturable)
        meta_opt = MuonWithAdamW([group])
        lists: list[list[torch.Tensor]] = [[], [], [], [], [], []]
        meta_opt._init_group(0, meta_opt.param_groups[0], *lists)
        step = meta_opt.state[p]["step"]
        assert (step.device.type, step.dtype) == (where_, dtype), capturable
        assert lists[0] == [p] and lists[5] == [step]


def test_torch_cyclic_schedulers_with_cycle_momentum_fail_loudly_on_mixed_groups() -> None:
    """torch's OneCycleLR/CyclicLR cycle ``betas`` of every group once ``defaults`` has
    ``betas``, and a muon group has none: a KeyError at construction, not a momentum silently
    written into groups that do not run one. cycle_momentum=False works; optfn's
    HyperSchedules cycles muon momentum and AdamW beta1 separately (see the README)."""
    w, b = make_params([(4, 4), (4,)], seed=24)
    opt = MuonWithAdamW([muon_group([w]), adamw_group([b])])
    with pytest.raises(KeyError, match="betas"):
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)
    assert "betas" not in opt.param_groups[0] and "momentum" not in opt.param_groups[1]


def test_complex_and_sparse() -> None:
    c = nn.Parameter(torch.randn(4, 4, dtype=torch.complex64))
    with pytest.raises(TypeError, match="'m0'.*complex64"):
        MuonWithAdamW([muon_group([c])])
    (w,) = make_params([(4, 4)], seed=20)
    opt = MuonWithAdamW([muon_group([w])])
    w.grad = torch.eye(4).to_sparse()
    with pytest.raises(TypeError, match="'m0' has a sparse gradient"):
        opt.step()


def test_load_state_dict_with_other_routes_is_refused() -> None:
    w, b = make_params([(4, 4), (4,)], seed=21)
    opt = MuonWithAdamW([muon_group([w]), adamw_group([b])])
    other = MuonWithAdamW([adamw_group([b]), muon_group([w])])
    with pytest.raises(ValueError, match=r"param group 0: loaded state_dict has route 'adamw'"):
        opt.load_state_dict(other.state_dict())


# ---- end to end -----------------------------------------------------------------------------
class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(8, 32)
        layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.transformer(self.embed(x))).squeeze(-1)


def test_tiny_transformer_trains() -> None:
    torch.manual_seed(0)
    model = TinyModel()
    muon_names, muon_ps, other_names, other_ps = [], [], [], []
    for name, p in model.named_parameters():
        if p.ndim >= 2 and "transformer" in name:
            muon_names.append(name)
            muon_ps.append(p)
        else:
            other_names.append(name)
            other_ps.append(p)
    assert len(muon_ps) == 8
    mg = muon_group(muon_ps, param_names=muon_names, lr=0.02)
    opt = MuonWithAdamW([mg, adamw_group(other_ps, param_names=other_names, lr=3e-3)])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 5))
    x = torch.randn(64, 6, 8)
    y = x[..., 0] * 2.0 - x[..., 1:].mean(-1)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1])
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_deepcopy_and_pickle_roundtrip() -> None:
    ps = make_params([(4, 4), (4,)], seed=22)
    opt = MuonWithAdamW([muon_group(ps[:1]), adamw_group(ps[1:])])
    for p in ps:
        p.grad = torch.ones(p.shape)
    opt.step()
    clone = copy.deepcopy(opt)
    assert clone.param_groups[1]["decoupled_weight_decay"] is True
    assert sorted(clone.state_dict()["state"]) == [0, 1]


def test_refused_state_dict_leaves_the_optimizer_unchanged() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    groups = [
        {
            "params": [w],
            "param_names": ["w"],
            "route": "muon",
            "lr": 0.02,
            "weight_decay": 0.1,
            "momentum": 0.95,
            "nesterov": True,
            "ns_coefficients": (3.4445, -4.775, 2.0315),
            "ns_steps": 5,
            "eps": 1e-7,
            "adjust_lr_fn": "original",
        },
    ]
    opt = MuonWithAdamW(groups)
    w.grad = torch.randn(4, 3)
    opt.step()
    sd = opt.state_dict()
    sd["param_groups"][0]["ns_steps"] = 500
    fresh_w = torch.nn.Parameter(torch.randn(4, 3))
    fresh = MuonWithAdamW([{**groups[0], "params": [fresh_w]}])
    with pytest.raises(ValueError, match="ns_steps"):
        fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["ns_steps"] == 5 and len(fresh.state) == 0
