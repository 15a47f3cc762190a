"""NorMuonSpec / NorMuonWithAdam against the faithful reference of modded-nanogpt's step.

The reference is ``tests/recipes/ref_modded_nanogpt_step.py`` (train_gpt.py @ f411b3d3,
re-implemented with line citations); the model and parameter table are the original's
(``tests/recipes/ref_modded_nanogpt.py``).
"""

from __future__ import annotations

import copy
import io
import math
from typing import Any

import pytest
import torch
from torch import nn

from optfn import (
    LabelRule,
    MuonSpec,
    NorMuonSpec,
    NorMuonWithAdam,
    ParamRules,
    SpecError,
    SpecTypeError,
    StateError,
    from_toml,
    make_optimizer,
    to_toml,
)
from optfn.optim.muon.newton_schulz import orthogonalize
from optfn.optim.normuon.orthogonalize import orthogonalize_bank
from optfn.optim.table import kind_of
from tests.recipes import ref_modded_nanogpt as ref
from tests.recipes import ref_modded_nanogpt_step as ref_step
from tests.recipes.vendor.modded_nanogpt import train_gpt as orig

BF16_EPS = 2.0**-8


def normuon_group(p: torch.Tensor, **over: Any) -> dict[str, Any]:
    group = {
        "params": [p],
        "route": "normuon",
        "lr": 0.023,
        "weight_decay": 1.2,
        "momentum": 0.95,
        "beta2": 0.9,
        "orthogonalizer": "polar_express",
        "ns_steps": 5,
        "cautious_weight_decay": True,
        "per_matrix_lr_mul": None,
    }
    group.update(over)
    return group


def adam_group(p: torch.Tensor, **over: Any) -> dict[str, Any]:
    group = {
        "params": [p],
        "route": "adam",
        "lr": 0.008,
        "weight_decay": 0.005,
        "betas": (0.9, 0.99),
        "eps": 1e-10,
        "cautious_weight_decay": True,
        "every": 1,
    }
    group.update(over)
    return group


# ---- the spec and its table entry ----------------------------------------------------------


def test_spec_defaults_are_the_records() -> None:
    spec = NorMuonSpec()
    defaults = ref.REFERENCE_DEFAULTS
    assert spec.learning_rate == defaults["normuon"]["lr"]
    assert (spec.momentum, spec.beta2) == (defaults["normuon"]["momentum"], 0.9)
    assert spec.weight_decay == defaults["normuon"]["weight_decay"]
    assert (spec.adam_lr, spec.adam_eps) == (defaults["adam"]["lr"], defaults["adam"]["eps"])
    assert spec.adam_weight_decay == defaults["adam"]["weight_decay"]
    assert spec.orthogonalizer == "polar_express" and spec.cautious_weight_decay
    assert spec.adam_cautious_weight_decay and spec.adam_every == 1
    assert spec.per_matrix_lr_mul is None and spec.lr_decay_gamma is None


def test_table_entry_routes() -> None:
    kind = kind_of(NorMuonSpec())
    assert [r.name for r in kind.routes] == ["adam", "normuon"]
    assert kind.matrix_route == "normuon"
    spec = NorMuonSpec(adam_every=2, per_matrix_lr_mul=(1.0, 2.0))
    adam = kind.route("adam").hyper(spec, decay=True, scale=2.0)
    assert adam == {
        "route": "adam",
        "lr": 0.016,
        "weight_decay": 0.005,
        "betas": (0.9, 0.99),
        "eps": 1e-10,
        "cautious_weight_decay": True,
        "every": 2,
    }
    normuon = kind.route("normuon").hyper(spec, decay=True, scale=1.0)
    assert "betas" not in normuon and "eps" not in normuon
    assert normuon["momentum"] == 0.95 and normuon["beta2"] == 0.9
    assert normuon["per_matrix_lr_mul"] == (1.0, 2.0) and normuon["weight_decay"] == 1.2
    assert "momentum" not in adam


def test_spec_round_trips_through_toml() -> None:
    spec = NorMuonSpec(per_matrix_lr_mul=[1.0, 2.0], adam_every=2, orthogonalizer="newton_schulz")
    assert from_toml(to_toml(spec)) == spec
    assert from_toml(to_toml(NorMuonSpec())) == NorMuonSpec()


@pytest.mark.parametrize(
    ("fields", "err", "match"),
    [
        ({"orthogonalizer": "svd"}, SpecError, r"NorMuonSpec\.orthogonalizer: must be one of"),
        ({"ns_steps": 0}, SpecError, r"NorMuonSpec\.ns_steps"),
        ({"ns_steps": 100}, SpecError, r"NorMuonSpec\.ns_steps: must be an integer in \[1, 100\)"),
        ({"momentum": 1.0}, SpecError, r"NorMuonSpec\.momentum"),
        ({"beta2": -0.1}, SpecError, r"NorMuonSpec\.beta2"),
        ({"adam_every": 0}, SpecError, r"NorMuonSpec\.adam_every"),
        ({"adam_every": 2.0}, SpecTypeError, r"NorMuonSpec\.adam_every"),
        ({"adam_betas": (0.9, 1.0)}, SpecError, r"NorMuonSpec\.adam_betas\[1\]"),
        ({"adam_eps": 0.0}, SpecError, r"NorMuonSpec\.adam_eps"),
        ({"per_matrix_lr_mul": ()}, SpecError, r"per_matrix_lr_mul: must hold at least one"),
        ({"per_matrix_lr_mul": (1.0, -2.0)}, SpecError, r"per_matrix_lr_mul\[1\]"),
        ({"per_matrix_lr_mul": "12"}, SpecTypeError, r"per_matrix_lr_mul"),
        ({"cautious_weight_decay": 1}, SpecTypeError, r"cautious_weight_decay"),
    ],
)
def test_spec_validation(fields: dict[str, Any], err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        NorMuonSpec(**fields)


# ---- orthogonalization -----------------------------------------------------------------------


def designed_matrix() -> torch.Tensor:
    """32x48 with singular values spread from 1 to 1e-3 (where the methods differ most)."""
    gen = torch.Generator().manual_seed(3)
    u, _ = torch.linalg.qr(torch.randn(32, 32, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(48, 32, generator=gen))
    s = torch.logspace(0, -3, 32)
    return (u * s) @ v.T


@pytest.mark.parametrize("transpose", [False, True])
def test_polar_express_matches_the_reference_and_not_torch_quintic(transpose: bool) -> None:
    g = designed_matrix()
    if transpose:  # a tall matrix takes the original's X^T X branch
        g = g.T.contiguous()
    want = ref_step.polar_express(g.clone(), torch.zeros_like(g), 0.0).float()
    got = orthogonalize_bank(g, "polar_express", 5).float()
    quintic = orthogonalize(g, (3.4445, -4.775, 2.0315), steps=5, eps=1e-7).float()
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= 4 * BF16_EPS * scale
    assert (quintic - want).abs().max().item() > 0.1 * scale  # the test tells them apart
    # the newton_schulz choice is torch.optim.Muon's quintic
    ns = orthogonalize_bank(g, "newton_schulz", 5).float()
    assert (ns - quintic).abs().max().item() <= 4 * BF16_EPS * quintic.abs().max().item()


def test_each_matrix_of_a_bank_is_orthogonalized_on_its_own() -> None:
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(4, 8, 12, generator=gen)
    start = torch.randn(4, 8, 12, generator=gen)

    def updates(g: torch.Tensor) -> torch.Tensor:
        p = nn.Parameter(start.clone())
        opt = NorMuonWithAdam([normuon_group(p, per_matrix_lr_mul=(1.0, 2.0))])
        for _ in range(2):
            p.grad = g.clone()
            opt.step()
        return p.detach() - start

    base = updates(grads)
    changed = grads.clone()
    changed[2] *= -3.0
    changed[2, 0] += 5.0
    other = updates(changed)
    assert not torch.equal(base[2], other[2])
    for i in (0, 1, 3):
        assert torch.equal(base[i], other[i]), f"matrix {i} moved when matrix 2's grad did"
    # and a bank equals its matrices orthogonalized alone
    bank = orthogonalize_bank(grads, "polar_express", 5)
    for i in range(4):
        alone = orthogonalize_bank(grads[i], "polar_express", 5)
        assert torch.allclose(bank[i].float(), alone.float(), atol=2 * BF16_EPS, rtol=0)


def test_bank_rule_reshape_attribute_and_leading_dims() -> None:
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(3, 2, 6, 4, generator=gen)
    g = torch.randn(3, 2, 6, 4, generator=gen)
    # no attribute: a bank of 3 * 2 matrices 6x4; a tuple attribute (6, 6, 4): the same bank
    outs = []
    for attr in (None, (6, 6, 4), (1, 6, 24)):
        p = nn.Parameter(w.clone())
        if attr is not None:
            p.reshape = attr  # type: ignore[assignment,method-assign]
        opt = NorMuonWithAdam([normuon_group(p)])
        p.grad = g.clone()
        opt.step()
        outs.append(p.detach().clone())
        if attr is not None:
            assert p.reshape == attr  # the attribute is read, never called
        assert opt.state[p]["momentum_buffer"].shape == p.shape
        second = {None: (6, 6, 1), (6, 6, 4): (6, 6, 1), (1, 6, 24): (1, 1, 24)}[attr]
        assert opt.state[p]["second_momentum_buffer"].shape == second  # per row / per column
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])  # (1, 6, 24): one flattened matrix


def test_bad_reshape_attribute_and_groups_are_refused() -> None:
    p = nn.Parameter(torch.randn(4, 6, 8))
    p.reshape = [4, 6, 8]  # type: ignore[assignment,method-assign]
    with pytest.raises(SpecTypeError, match=r"'reshape' attribute \[4, 6, 8\] \(list\).*tuple"):
        NorMuonWithAdam([normuon_group(p)])
    p.reshape = (5, 6, 8)  # type: ignore[assignment,method-assign]
    with pytest.raises(SpecError, match=r"reshape=\(5, 6, 8\).*product"):
        NorMuonWithAdam([normuon_group(p)])
    q = nn.Parameter(torch.randn(3, 6, 8))
    with pytest.raises(SpecError, match=r"3 matrices \(not a multiple of 2\)"):
        NorMuonWithAdam([normuon_group(q, per_matrix_lr_mul=(1.0, 2.0))])
    with pytest.raises(SpecError, match=r"ndim 1.*route it to 'adam'"):
        NorMuonWithAdam([normuon_group(nn.Parameter(torch.zeros(3)))])
    with pytest.raises(SpecError, match=r"param group 0 \(route 'adam'\): holds 'momentum'"):
        NorMuonWithAdam([adam_group(q, momentum=0.9)])
    with pytest.raises(SpecError, match=r"missing required key 'beta2'"):
        group = normuon_group(q)
        del group["beta2"]
        NorMuonWithAdam([group])
    with pytest.raises(SpecError, match=r"'every' must be in \[1, "):
        NorMuonWithAdam([adam_group(q, every=0)])
    with pytest.raises(SpecError, match=r"unknown route 'muon'"):
        NorMuonWithAdam([{**adam_group(q), "route": "muon"}])


# ---- the Adam part -----------------------------------------------------------------------------


def test_adam_cadence_keeps_and_sums_the_skipped_gradients() -> None:
    gen = torch.Generator().manual_seed(2)
    grads = [torch.randn(5, 3, generator=gen) for _ in range(6)]
    start = torch.randn(5, 3, generator=gen)
    p = nn.Parameter(start.clone())
    q = nn.Parameter(start.clone())  # every=1 fed the summed gradients
    opt = NorMuonWithAdam([adam_group(p, every=2)])
    plain = NorMuonWithAdam([adam_group(q, every=1)])
    for step, g in enumerate(grads):
        before = p.detach().clone()
        p.grad = g.clone()
        opt.step()
        if step % 2 == 0:  # even steps: nothing moves, the gradient is kept
            assert torch.equal(p.detach(), before)
            assert torch.equal(opt.state[p]["grad_sum"], g)
        else:  # odd steps: one Adam step on the sum of both gradients
            q.grad = grads[step - 1] + g
            plain.step()
            assert torch.equal(p.detach(), q.detach())
            assert "grad_sum" not in opt.state[p]
    # bias correction: 3 Adam steps; calls: since the last Adam step (0 after an odd call)
    assert opt.state[p]["step"] == 3 and opt.state[p]["calls"] == 0


def test_adam_cautious_decay_is_lr_squared_and_masked() -> None:
    p = nn.Parameter(torch.tensor([1.0, 1.0, -1.0]))
    opt = NorMuonWithAdam([adam_group(p, lr=0.1, weight_decay=2.0, eps=1e-12)])
    p.grad = torch.tensor([1.0, -1.0, -1.0])
    opt.step()
    # first step: update = lr * sign(g) (m / sqrt(v) with bias correction); decay lr^2 * wd * p
    # where update * p > 0: entries 0 (1 * 1) and 2 (-1 * -1), not entry 1
    lr = 0.1
    want = torch.tensor([1 - lr - lr * lr * 2.0, 1 + lr, -1 + lr + lr * lr * 2.0])
    assert torch.allclose(p.detach(), want, atol=1e-6)


# ---- against the reference step, every parameter of the test model -------------------------------


def _rules_from_the_param_table(model: nn.Module) -> ParamRules:
    """The original parameter table (train_gpt.py 2026-2050) as LabelRules, one per label."""
    table = ref.make_training_manager(model).param_table
    labels = []
    for name, p in model.named_parameters():
        entry = table[p.label]
        hyper: dict[str, Any] = {}
        if entry["optim"] == "adam":
            hyper["betas"] = tuple(entry["adam_betas"])
        if p.label == "mlp_bank":  # c_proj (odd matrices) at 2x: train_gpt.py 514-522
            hyper["per_matrix_lr_mul"] = (1.0, 2.0)
        labels.append(
            LabelRule(
                label=p.label,
                names=[name],
                route=entry["optim"],
                lr_scale=entry.get("lr_mul", 1.0),
                weight_decay_scale=entry.get("wd_mul", 1.0),
                hyper=hyper,
            )
        )
    return ParamRules.uniform(labels=labels)


def _exact(p: torch.Tensor, state: dict[str, Any] | None) -> torch.Tensor:
    """The reference parameter's exact value: bf16 bits + mantissa for NorMuon banks."""
    if state is None or "mantissa" not in state:
        return p.detach().float().clone()
    high = p.detach().view(torch.int16).to(torch.int32) & 0xFFFF
    low = state["mantissa"].view(p.shape).to(torch.int32)
    return ((high << 16) | low).view(torch.float32).clone()


def test_updates_equal_the_reference_step_at_bf16_noise() -> None:
    model = ref.build_model()
    ref_groups = ref.reference_param_groups(model)
    mine = copy.deepcopy(model)
    for (_, a), (_, b) in zip(model.named_parameters(), mine.named_parameters(), strict=True):
        for key, value in vars(a).items():  # .label and the banks' .reshape tuples
            setattr(b, key, value)
    optims = {g["label"]: g["optim"] for g in ref_groups}
    for p in mine.parameters():  # float32 banks: the exact value of bf16 + mantissa
        if optims[p.label] == "normuon":
            p.data = p.data.float()
    spec = NorMuonSpec(adam_every=2)
    opt = make_optimizer(mine, spec, _rules_from_the_param_table(mine))
    assert isinstance(opt, NorMuonWithAdam)
    table = ref.make_training_manager(model).param_table

    state = ref_step.init_state(ref_groups)
    state["split_embed"] = True  # the embed/lm_head tie is out of scope: both train alone
    params = {p.label: p for p in model.parameters()}
    mparams = {p.label: p for p in mine.parameters()}
    gen = torch.Generator().manual_seed(1)
    worst: dict[str, float] = {}
    steps = 8
    for step in range(steps):
        # the schedule, as step_optimizers sets it (train_gpt.py 2132-2140)
        lr_mul = orig.training_schedule.get_lr(step)
        for g in opt.param_groups:
            base = spec.learning_rate if g["route"] == "normuon" else spec.adam_lr
            g["lr"] = base * table[g["label"]].get("lr_mul", 1.0) * lr_mul
            if g["route"] == "normuon":
                g["momentum"] = orig.get_muon_momentum(step)
        grads = {
            label: (torch.randn(p.shape, generator=gen) * 0.01).to(p.dtype)
            for label, p in params.items()
        }
        before = {lab: _exact(p, state["states"][lab]) for lab, p in params.items()}
        mine_before = {lab: p.detach().float().clone() for lab, p in mparams.items()}
        ref_step.reference_step(params, grads, state, step)
        for label, p in mparams.items():
            p.grad = grads[label].to(p.dtype).clone()
        opt.step()
        for label, p in params.items():
            want = _exact(p, state["states"][label]) - before[label]
            got = mparams[label].detach().float() - mine_before[label]
            if optims[label] == "adam" and step % 2 == 0:
                assert not got.any() and not want.any(), f"{label} moved on even step {step}"
                continue
            scale = want.abs().max().item()
            assert scale > 0, f"{label} did not move at step {step}"
            err = (got - want).abs().max().item() / scale
            worst[label] = max(worst.get(label, 0.0), err)
            if optims[label] == "normuon":
                frob = ((got - want).norm() / want.norm()).item()
                assert frob <= 2 * BF16_EPS, (label, step, frob)
                assert err <= 8 * BF16_EPS, (label, step, err)
            else:  # the same operations in the same dtypes: one bf16 rounding at most
                assert err <= BF16_EPS, (label, step, err)
        # the next step starts from the reference's values (per-step updates compared)
        with torch.no_grad():
            for label, p in mparams.items():
                p.copy_(_exact(params[label], state["states"][label]).to(p.dtype))
    assert set(worst) == set(params)
    print("largest per-step difference / largest update:", max(worst.values()), worst)


# ---- state ---------------------------------------------------------------------------------------


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.bank = nn.Parameter(torch.randn(4, 6, 8))
        self.bank.reshape = (4, 6, 8)  # type: ignore[assignment,method-assign]
        self.proj = nn.Linear(8, 6, bias=True)
        self.gain = nn.Parameter(torch.ones(6, dtype=torch.bfloat16))


def _tiny_optimizer(model: Tiny) -> torch.optim.Optimizer:
    rules = ParamRules(
        labels=[
            LabelRule(label="bank", names=["bank"], route="normuon",
                      hyper={"per_matrix_lr_mul": [1.0, 2.0]}),
            LabelRule(label="proj", names=["proj.weight"], route="normuon"),
        ]
    )  # fmt: skip
    return make_optimizer(model, NorMuonSpec(adam_every=2), rules)


def _feed(model: Tiny, opt: torch.optim.Optimizer, seed: int, steps: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen).to(p.dtype)
        opt.step()


def test_state_dict_round_trip_keeps_the_cadence_and_dtypes() -> None:
    a = Tiny()
    opt_a = _tiny_optimizer(a)
    routes = {g["label"]: g["route"] for g in opt_a.param_groups}
    assert routes == {"bank": "normuon", "proj": "normuon", "default": "adam"}
    _feed(a, opt_a, seed=0, steps=3)  # 3 calls: the Adam part holds a gradient sum
    assert "grad_sum" in opt_a.state[a.gain]
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    b = Tiny()
    with torch.no_grad():
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            pb.copy_(pa)
    opt_b = _tiny_optimizer(b)
    opt_b.load_state_dict(saved)
    assert opt_b.state[b.gain]["exp_avg"].dtype == torch.float32  # not cast to bf16
    assert opt_b.state[b.gain]["calls"] == 1  # 3 calls, every=2: one held gradient
    _feed(a, opt_a, seed=1, steps=3)
    _feed(b, opt_b, seed=1, steps=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_load_state_dict_refuses_other_routes() -> None:
    a = Tiny()
    opt = _tiny_optimizer(a)
    _feed(a, opt, seed=0, steps=1)
    saved = opt.state_dict()
    saved["param_groups"][0]["route"] = "adam"
    with pytest.raises(StateError, match=r"param group 0: loaded state_dict has route 'adam'"):
        opt.load_state_dict(saved)
    saved = opt.state_dict()
    saved["param_groups"][0]["beta2"] = 2.0
    with pytest.raises(StateError, match=r"'beta2' must be finite"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["beta2"] == 0.9  # refused: nothing changed


def test_float32_and_bfloat16_parameters_step() -> None:
    for dtype in (torch.float32, torch.bfloat16):
        p = nn.Parameter(torch.randn(2, 8, 4).to(dtype))
        opt = NorMuonWithAdam([normuon_group(p, orthogonalizer="newton_schulz")])
        p.grad = torch.randn(2, 8, 4).to(dtype)
        before = p.detach().clone()
        opt.step()
        assert p.dtype == dtype and not torch.equal(p.detach(), before)
        assert torch.isfinite(p.detach().float()).all()


def test_shape_factor_and_per_matrix_factor() -> None:
    """lr_eff = lr * sqrt(max(1, rows / cols)) * factor: with zero decay, the update of a
    tall bank's matrix 1 (factor 2) is twice matrix 0's for equal gradients."""
    g = torch.randn(8, 2, generator=torch.Generator().manual_seed(4))
    p = nn.Parameter(torch.zeros(2, 8, 2))
    opt = NorMuonWithAdam([normuon_group(p, weight_decay=0.0, per_matrix_lr_mul=(1.0, 2.0))])
    p.grad = torch.stack([g, g])
    opt.step()
    first, second = p.detach()[0], p.detach()[1]
    assert torch.allclose(second, 2 * first, rtol=1e-6)
    # the first matrix's update: -lr * 2 (sqrt(8 / 2)) * v, ||v||_F that of Polar Express of
    # the Nesterov gradient (the normalization keeps the norm)
    momentum = torch.tensor(0.95).item()  # as float32
    buf = torch.zeros_like(g).lerp_(g, 1 - momentum)
    v = orthogonalize_bank(g.clone().lerp_(buf, momentum), "polar_express", 5).float()
    assert math.isclose(first.norm().item(), 0.023 * 2 * v.norm().item(), rel_tol=2 * BF16_EPS)


def test_default_muon_spec_is_untouched() -> None:
    opt = make_optimizer(nn.ModuleDict({"transformer": nn.Linear(4, 4)}), MuonSpec())
    assert type(opt).__name__ == "MuonWithAdamW"
    assert sorted(g["route"] for g in opt.param_groups) == ["adamw", "muon"]


def test_step_under_torch_compile_equals_eager() -> None:
    """A compiled ``opt.step()`` with float LRs: dynamo traces the step (the ``"eager"``
    backend runs the traced operations as they are), bit for bit the eager step, the Adam
    cadence included. (``fullgraph``, graph counts, tensor LRs, inductor:
    tests/optim/test_compile.py.)"""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from optfn import LabelRule, NorMuonSpec, ParamRules, make_optimizer

    def build() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        m = torch.nn.Module()
        m.bank = torch.nn.Parameter(torch.randn(4, 16, 8))
        m.vec = torch.nn.Parameter(torch.randn(8))
        rules = ParamRules.uniform(labels=[LabelRule(label="b", names=["bank"], route="normuon")])
        return m, make_optimizer(m, NorMuonSpec(adam_every=2), rules)

    grads = [(torch.randn(4, 16, 8), torch.randn(8)) for _ in range(4)]
    eager, opt_e = build()
    compiled, opt_c = build()
    torch._dynamo.reset()
    counters.clear()
    step = torch.compile(opt_c.step, backend="eager", fullgraph=True)
    for g_bank, g_vec in grads:
        for m in (eager, compiled):
            m.bank.grad, m.vec.grad = g_bank.clone(), g_vec.clone()
        opt_e.step()
        step()
    assert counters["stats"]["unique_graphs"] == 2  # traced: one graph per Adam phase
    assert torch.equal(eager.bank, compiled.bank) and torch.equal(eager.vec, compiled.vec)


def test_tensor_lrs_step_bit_for_bit_as_their_float_values() -> None:
    """A 0-D tensor ``lr`` (what ``tensor_lr=True`` gives, and what a compiled step reads
    without recompiling) is used without ``.item()``, in the same float64 arithmetic rounded
    to float32: the same updates as the float it holds, bit for bit, on both routes."""
    gen = torch.Generator().manual_seed(7)
    grads = [(torch.randn(4, 6, 3, generator=gen), torch.randn(5, generator=gen)) for _ in range(5)]
    start = torch.randn(4, 6, 3, generator=gen), torch.randn(5, generator=gen)
    out = {}
    for kind in ("float", "tensor"):
        bank, vec = nn.Parameter(start[0].clone()), nn.Parameter(start[1].clone())

        def lr(x: float, kind: str = kind) -> Any:
            t = torch.tensor(x)
            return t if kind == "tensor" else float(t)

        opt = NorMuonWithAdam([
            normuon_group(bank, lr=lr(0.023), per_matrix_lr_mul=(1.0, 2.0)),
            adam_group(vec, lr=lr(0.008), every=2),
            adam_group(nn.Parameter(start[1].clone()), lr=lr(0.1), cautious_weight_decay=False),
        ])  # fmt: skip
        third = opt.param_groups[2]["params"][0]
        for g_bank, g_vec in grads:
            bank.grad, vec.grad, third.grad = g_bank.clone(), g_vec.clone(), g_vec.clone()
            opt.step()
        out[kind] = [bank.detach().clone(), vec.detach().clone(), third.detach().clone()]
        assert isinstance(opt.param_groups[0]["lr"], torch.Tensor) is (kind == "tensor")
    for a, b in zip(out["float"], out["tensor"], strict=True):
        assert torch.equal(a, b)


def test_adam_state_saved_before_the_compiled_step_loads() -> None:
    """An Adam state saved by optfn before the compiled step (``step`` an int, ``calls`` the
    count of every call) loads and steps as the state saved today: ``step`` becomes a float32
    0-D tensor, ``calls`` (now the calls since the last Adam step) keeps its phase."""
    gen = torch.Generator().manual_seed(8)
    grads = [torch.randn(5, generator=gen) for _ in range(6)]
    p = nn.Parameter(torch.randn(5, generator=gen))
    opt = NorMuonWithAdam([adam_group(p, every=2)])
    for g in grads[:5]:  # 5 calls: 2 Adam steps, a gradient held
        p.grad = g.clone()
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    entry = saved["state"][0]
    assert entry["step"].dtype == torch.float32 and entry["step"] == 2 and entry["calls"] == 1
    old = copy.deepcopy(saved)
    old["state"][0].update(step=2, calls=5)  # as optfn saved it before
    for state in (saved, old):
        q = nn.Parameter(p.detach().clone())
        fresh = NorMuonWithAdam([adam_group(q, every=2)])
        fresh.load_state_dict(state)
        step = fresh.state[q]["step"]
        assert isinstance(step, torch.Tensor) and step.dtype == torch.float32 and step == 2
        q.grad = grads[5].clone()
        fresh.step()  # the 6th call: an Adam step on the held gradient + this one
        twin = copy.deepcopy(opt)  # the optimizer that saved it, one call further
        twin.param_groups[0]["params"][0].grad = grads[5].clone()
        twin.step()
        assert torch.equal(q.detach(), twin.param_groups[0]["params"][0].detach())
        assert fresh.state[q]["step"] == 3 and fresh.state[q]["calls"] == 0


# ---- the zero-redundancy switch and its pieces (the ranks: test_normuon_distributed.py) -------


def test_zero_redundancy_switch_travels_from_the_spec() -> None:
    assert NorMuonSpec().zero_redundancy is True
    assert from_toml(to_toml(NorMuonSpec(zero_redundancy=False))) == NorMuonSpec(
        zero_redundancy=False
    )
    model = nn.Linear(6, 4)
    rules = ParamRules.uniform(labels=[LabelRule(label="w", names=["weight"], route="normuon")])
    for switch in (True, False):
        opt = make_optimizer(model, NorMuonSpec(zero_redundancy=switch), rules)
        assert isinstance(opt, NorMuonWithAdam) and opt.zero_redundancy is switch
    with pytest.raises(SpecTypeError, match=r"NorMuonSpec\.zero_redundancy"):
        NorMuonSpec(zero_redundancy=1)  # type: ignore[arg-type]
    p = nn.Parameter(torch.ones(3, 2))
    with pytest.raises(SpecTypeError, match=r"NorMuonWithAdam\.zero_redundancy: must be a bool"):
        NorMuonWithAdam([normuon_group(p)], zero_redundancy=None)  # type: ignore[arg-type]


def test_zero_redundancy_survives_pickle_and_deepcopy() -> None:
    p = nn.Parameter(torch.ones(3, 2))
    opt = NorMuonWithAdam([normuon_group(p)], zero_redundancy=False)
    buf = io.BytesIO()
    torch.save(opt, buf)
    buf.seek(0)
    for other in (copy.deepcopy(opt), torch.load(buf, weights_only=False)):
        assert other.zero_redundancy is False
        assert other.distributed_stats.ns_calls == 0 and other._zero_redundancy_plan is None


def test_one_process_counts_every_matrix_it_orthogonalizes() -> None:
    bank, mat = nn.Parameter(torch.randn(4, 6, 5)), nn.Parameter(torch.randn(6, 5))
    opt = NorMuonWithAdam([normuon_group(bank), normuon_group(mat)])
    bank.grad, mat.grad = torch.randn(4, 6, 5), torch.randn(6, 5)
    opt.step()
    mat.grad = None
    opt.step()
    stats = opt.distributed_stats
    assert (stats.ns_calls, stats.steps, stats.collectives, stats.bytes_sent) == (9, 0, 0, 0)


@pytest.mark.parametrize("method", ["polar_express", "newton_schulz"])
@pytest.mark.parametrize("shape", [(5, 12, 7), (5, 7, 12), (5, 9, 9)])
def test_owner_pieces_equal_the_bank_orthogonalized_whole(
    method: str, shape: tuple[int, int, int]
) -> None:
    """What an owner rank runs: the bank normalized whole, the iterations on its matrices."""
    from optfn.optim.normuon.orthogonalize import iterate_bank, normalize_bank

    g = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    whole = orthogonalize_bank(g, method, 5)
    x = normalize_bank(g, method)
    assert torch.equal(iterate_bank(x, method, 5), whole)
    tall = shape[1] > shape[2]
    assert iterate_bank(x, method, 5).is_contiguous() is not tall  # tall: the .mT view
    for owned in ([0], [1, 3], [0, 2, 4], [4]):
        part = iterate_bank(x[torch.tensor(owned)], method, 5)
        assert torch.equal(part, whole[torch.tensor(owned)]), owned
    with pytest.raises(ValueError, match="orthogonalizer must be"):
        normalize_bank(g, "svd")


def test_plan_owners_split_banks_per_matrix_by_cost() -> None:
    from optfn.optim.muon.distributed import assign_owners
    from optfn.optim.normuon.distributed import plan_owners

    banks = [(4, 8, 8), (2, 8, 32), (3, 12, 5)]
    owners = plan_owners(banks, 3)
    assert [len(o) for o in owners] == [4, 2, 3]
    flat = assign_owners([(r, c) for n, r, c in banks for _ in range(n)], 3)
    assert [o for bank in owners for o in bank] == flat
    assert plan_owners(banks, 1) == [(0,) * 4, (0,) * 2, (0,) * 3]


def test_adam_state_only_for_parameters_with_a_gradient() -> None:
    """As torch's Adam: an Adam parameter that never gets a gradient holds only its step
    counters (no moments, no gradient-sum buffer); one whose only gradient comes on a skipped
    call still takes its Adam step on the next call, from the kept sum."""
    from optfn import LabelRule, NorMuonSpec, ParamRules, make_optimizer

    model = torch.nn.Module()
    model.bank = torch.nn.Parameter(torch.randn(2, 8, 4))
    model.used = torch.nn.Parameter(torch.ones(5))
    model.idle = torch.nn.Parameter(torch.ones(7))
    model.late = torch.nn.Parameter(torch.ones(3))
    rules = ParamRules.uniform(
        labels=[
            LabelRule(label="bank", names=["bank"], route="normuon"),
            LabelRule(label="rest", route="adam"),
        ]
    )
    opt = make_optimizer(model, NorMuonSpec(adam_every=2), rules)
    for call in range(4):
        model.bank.grad = torch.randn(2, 8, 4)
        model.used.grad = torch.full((5,), 0.5)
        model.late.grad = torch.full((3,), 0.25) if call == 0 else None
        opt.step()
    assert set(opt.state[model.idle]) == {"step", "calls"}
    assert model.idle not in opt._grad_sums
    assert torch.equal(model.idle, torch.ones(7))
    assert {"exp_avg", "exp_avg_sq"} <= set(opt.state[model.used])
    # late: its one gradient (call 0, skipped) was applied at call 1, the first Adam step
    assert int(opt.state[model.late]["step"]) == 1
    assert not torch.equal(model.late, torch.ones(3))
