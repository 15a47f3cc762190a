"""The plain step reference against the original optimizer code run eagerly, and known facts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from tests.recipes import ref_modded_nanogpt as ref
from tests.recipes import ref_modded_nanogpt_step as step_ref
from tests.recipes.vendor.modded_nanogpt import train_gpt as orig


def _eager(fn: Any) -> Any:
    """The function under a ``torch.compile`` decorator."""
    return fn._torchdynamo_orig_callable


@pytest.fixture
def eager_original(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The original NorMuonAndAdam with its compiled pieces run eagerly on CPU.

    ``_cautious_wd_and_update_inplace`` shifts uint32 tensors, which CPU PyTorch does not
    implement: the reference's bit-equivalent version stands in for it (and is checked on its
    own below).
    """
    cls = orig.NorMuonAndAdam
    monkeypatch.setattr(orig, "polar_express", _eager(orig.polar_express))
    monkeypatch.setattr(cls, "_adam_update_step", staticmethod(_eager(cls._adam_update_step)))
    monkeypatch.setattr(
        cls,
        "_apply_normuon_variance_reduction",
        staticmethod(_eager(cls._apply_normuon_variance_reduction)),
    )
    monkeypatch.setattr(
        cls, "_cautious_wd_and_update_inplace", staticmethod(step_ref.cautious_wd_and_update)
    )
    yield


def _grads(model: torch.nn.Module, step: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + step)
    return {
        p.label: torch.randn(p.shape, generator=gen).to(p.dtype)  # type: ignore[attr-defined]
        for p in model.parameters()
    }


def test_polar_express_matches_the_original_eagerly() -> None:
    gen = torch.Generator().manual_seed(0)
    for shape, split in (((6, 16, 48), False), ((4, 48, 48), True), ((5, 192, 48), False)):
        g = torch.randn(shape, generator=gen)
        buf = torch.randn(shape, generator=gen)
        g2, buf2 = g.clone(), buf.clone()
        want = _eager(orig.polar_express)(g, buf, torch.tensor(0.9), split_baddbmm=split)
        got = step_ref.polar_express(g2, buf2, 0.9, split_baddbmm=split)
        assert torch.equal(got, want)
        assert torch.equal(buf2, buf) and torch.equal(g2, g)  # Nesterov buffers, in place


def test_polar_express_orthogonalizes() -> None:
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(3, 48, 48, generator=gen)
    out = step_ref.polar_express(g, torch.zeros_like(g), 0.0)
    s = torch.linalg.svdvals(out.float())
    assert s.min() > 0.6 and s.max() < 1.3  # Polar Express drives singular values near 1


def test_cautious_update_tracks_fp32_in_bf16_plus_mantissa() -> None:
    gen = torch.Generator().manual_seed(2)
    p = torch.randn(8, 8, generator=gen).bfloat16()
    mantissa = torch.zeros(8, 8, dtype=torch.uint16)
    v = torch.randn(8, 8, generator=gen).bfloat16()
    wd, lr = torch.tensor(1.2 * 0.02), torch.tensor(0.02)
    p32 = p.float()
    mask = (v.float() * p32) >= 0
    want = p32 - (p32 * mask * wd * lr) - (v.float() * lr)
    step_ref.cautious_wd_and_update(p, mantissa, v, wd, lr)
    bits = (p.view(torch.int16).to(torch.int32) & 0xFFFF) << 16 | mantissa.to(torch.int32)
    assert torch.equal(bits.view(torch.float32), want)  # exact fp32 kept across the two halves
    # the bf16 parameter is the fp32 value truncated toward zero
    assert torch.all(p.float().abs() <= want.abs())
    with pytest.raises(TypeError, match="uint16 mantissa"):
        step_ref.cautious_wd_and_update(p, mantissa.to(torch.int32), v, wd, lr)


@pytest.mark.usefixtures("eager_original")
def test_reference_step_matches_the_original_optimizer() -> None:
    """Original TrainingManager.step_optimizers vs reference_step, bit for bit.

    Covers NorMuon every step, Adam on odd steps with the even step's gradients summed in,
    the tied embedding (lm_head gets embed.grad.T, embed = lm_head.T), the split (moved to step
    5 here) and late steps (LR cool-down, momentum cool-down).
    """
    split_step = 5
    model_a = ref.build_model(seed=0)
    manager = ref.make_training_manager(model_a)
    manager.split_step = split_step
    model_b = ref.build_model(seed=0)
    params = {p.label: p for p in model_b.parameters()}  # type: ignore[attr-defined]
    state = step_ref.init_state(ref.reference_param_groups(model_b), split_step=split_step)

    steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 1240, 1241, 1283, 1284]
    for step in steps:
        grads = _grads(model_a, step)
        for p in model_a.parameters():
            g = grads[p.label]  # type: ignore[attr-defined]
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad += g  # autograd accumulation into the kept Adam gradient
        manager.step_optimizers(step)
        step_ref.reference_step(params, grads, state, step)
        for (name, pa), pb in zip(model_a.named_parameters(), model_b.parameters(), strict=True):
            assert torch.equal(pa, pb), (step, name)

    opt = manager.optimizer
    assert opt.split_embed is state["split_embed"] is True
    for p, st in opt.param_states.items():
        mine = state["states"][p.label]
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, mine[key]), (p.label, key)
            else:
                assert value == mine[key], (p.label, key)
    # Adam steps counted: odd steps only (1, 3, 5, 7, 1241, 1283); the embed inherited the
    # lm_head's count at the split (3 at step 5) and then stepped on 7, 1241, 1283.
    assert state["states"]["scalars"]["step"] == 6
    assert state["states"]["embed"]["step"] == 6


def test_adam_waits_for_odd_steps_and_sums_gradients() -> None:
    model = ref.build_model(seed=0)
    params = {p.label: p for p in model.parameters()}  # type: ignore[attr-defined]
    state = step_ref.init_state(ref.reference_param_groups(model))
    before = {k: v.detach().clone() for k, v in params.items()}
    g0 = _grads(model, 0)
    step_ref.reference_step(params, g0, state, 0)
    assert torch.equal(params["scalars"], before["scalars"])  # Adam: no update on step 0
    assert not torch.equal(params["qk_bank"], before["qk_bank"])  # NorMuon: updated
    assert state["states"]["scalars"]["step"] == 0
    g1 = _grads(model, 1)
    step_ref.reference_step(params, g1, state, 1)
    assert state["states"]["scalars"]["step"] == 1
    # First Adam step: m/(sqrt(v)+eps) * lr*sqrt(1-b2)/(1-b1) = ~lr*sign(g), g = g0 + g1, and
    # scalars have wd_mul 0: each moves by lr * lr_mul = 0.008 * 5 against its gradient sum.
    g = g0["scalars"] + g1["scalars"]
    moved = params["scalars"].detach() - before["scalars"]
    assert torch.allclose(moved, -0.04 * g.sign(), rtol=1e-5, atol=0)
    # tied: the embedding follows the lm_head exactly
    assert torch.equal(params["embed"], params["lm_head"].T)
