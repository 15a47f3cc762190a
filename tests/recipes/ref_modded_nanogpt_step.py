"""Plain single-process reference of one modded-nanogpt optimizer step (NorMuon + Adam) on CPU.

Source: KellerJordan/modded-nanogpt @ f411b3d346aa52d3504324ca93c230fd84c6c07f (MIT),
``train_gpt.py``; re-implemented here in eager PyTorch (no Triton, no torch.compile, no
process group) with the original's operations in the original's order and dtypes. Lines:

- 167-174 ``polar_express_coeffs`` (5 iterations) and 176-255 ``polar_express``: Nesterov
  momentum in fp32 by two ``lerp_`` (191-192), cast to bf16 (194), ``X / (||X||_F * 1.02 +
  1e-6)`` per matrix over the last two dims (198), then per coefficient ``(a, b, c)``: tall
  matrices (rows > cols) ``A = X.mT @ X; B = b*A + c*A@A; X = a*X + X@B``, others
  ``A = X @ X.mT; B = b*A + c*A@A; X = a*X + B@X`` (202-253). The Triton kernels of the
  original (``XTX``, ``XXT``, ``ba_plus_cAA``, triton_kernels.py 100-400) are the plain-PyTorch
  ones of ``tests/recipes/plain_kernels.py`` (fp32 products of the bf16 operands, one rounding
  to bf16); the ``torch.baddbmm``/``addmm`` (``beta=a``) and, for matrices with more than 1024
  rows (``split_baddbmm``: the full model's MLP), ``torch.bmm``/``mm`` + ``add_(X, alpha=a)``
  calls are the original's own, so they follow the device's BLAS (MKL on CPU, cuBLAS on GPU).
- 828-864 Adam (``_adam_update`` / ``_adam_update_step``): ``lr = lr * lr_mul``; per Adam step
  ``t += 1``; ``step_size = lr * sqrt(1 - b2^t) / (1 - b1^t)`` and ``eff_wd = lr * lr * wd *
  wd_mul``, both rounded to fp32 (0-D fp32 tensors, 844-845); ``m = b1*m + (1-b1) g``,
  ``v = b2*v + (1-b2) g^2``, ``u = m / (sqrt(v) + eps) * step_size``; cautious decay
  ``u += eff_wd * p`` where ``u * p > 0``; ``p -= u``.
- 869-912 NorMuon (``_normuon_update``): gradient viewed as ``.reshape`` and cast to fp32;
  ``momentum``, ``eff_lr = lr_mul * lr`` and ``eff_wd = wd_mul * weight_decay * lr`` rounded
  to fp32; Polar Express (with ``split_baddbmm = rows > 1024``); variance reduction
  (934-947: second moment EMA ``lerp_(mean(v^2), 1 - beta2)`` over columns for rows >= cols,
  over rows otherwise, no bias correction, rescaled to keep ``||v||_F``); mlp_bank: per matrix
  ``eff_lr = lr_mul * per_matrix_lr_mul[i] * lr`` (2.0 on odd matrices, c_proj).
- 914-932 ``_cautious_wd_and_update_inplace``: the bf16 parameter plus its uint16 mantissa
  buffer form an exact fp32 value ``p``; ``p = p - p*[v*p >= 0]*eff_wd*eff_lr - v*eff_lr``; the
  high 16 bits go back to the bf16 parameter (truncation) and the low 16 to the mantissa. The
  original shifts uint32 tensors (not implemented on CPU); here the same bits are moved with
  int32 shifts and masks.
- 723-823 ``step``: Adam parameters only when ``do_adam``; while the embedding is tied
  (before the split) ``lm_head.grad += embed.grad.T`` (Triton ``transpose_add``), the embed
  gets no update of its own and ``embed = lm_head.T`` after the step (``transpose_copy``);
  gradients of Adam parameters are kept on even steps (so the odd step sees the sum).
- 657-694 ``copy_lm_state_to_embed`` at the split step: the embed's Adam step counter and its
  moments become the lm_head's (transposed).
- 2104-2106 and 2131-2147 ``step_optimizers``: schedule, ``do_adam = step % 2 == 1``, step,
  then the split at ``step == split_step``.

Differences left with the GPU original: torch.compile's fused kernels may keep some bf16
intermediates of Polar Express in fp32, and Triton/cuBLAS sum dot products in another order;
so agreement with a GPU run is to bf16 rounding, not bit for bit. Against the original code run
eagerly on CPU (tests/recipes/test_ref_modded_nanogpt_step.py) it is bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .plain_kernels import XTX, XXT, ba_plus_cAA
from .ref_modded_nanogpt import RUN, apply_schedule, is_adam_step

__all__ = [
    "POLAR_EXPRESS_COEFFS",
    "adam_update",
    "cautious_wd_and_update",
    "init_state",
    "normuon_update",
    "normuon_variance_reduction",
    "polar_express",
    "reference_step",
]

#: train_gpt.py 167-174: computed for num_iters=5, safety_factor=2e-2, cushion=2.
POLAR_EXPRESS_COEFFS: tuple[tuple[float, float, float], ...] = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)


def _f32(x: float) -> Tensor:
    """A Python float stored in a 0-D fp32 CPU tensor, as the original's ``*_t.fill_(x)``."""
    return torch.tensor(x, dtype=torch.float32)


def polar_express(
    grad: Tensor, momentum_buffer: Tensor, momentum: float, split_baddbmm: bool = False
) -> Tensor:
    """Nesterov momentum (fp32, in place on ``grad`` and ``momentum_buffer``) + Polar Express.

    Returns the bf16 orthogonalized update, one matrix per leading index. train_gpt.py 176-255
    operation for operation; the three Triton kernels are the plain ones of ``plain_kernels``,
    the ``torch.(b)mm`` / ``torch.baddbmm`` / ``torch.addmm`` calls are the original's.
    """
    m = _f32(momentum).to(grad.dtype)
    momentum_buffer.lerp_(grad, 1 - m)
    g = grad.lerp_(momentum_buffer, m)

    x = g.bfloat16()
    is_tall = g.size(-2) > g.size(-1)
    x = x / (x.norm(dim=(-2, -1), keepdim=True) * (1 + 2e-2) + 1e-6)
    x = x.contiguous()
    batched = x.ndim > 2
    if is_tall:
        a_buf = torch.empty((*x.shape[:-2], x.size(-1), x.size(-1)), dtype=x.dtype)
    else:
        a_buf = torch.empty((*x.shape[:-1], x.size(-2)), dtype=x.dtype)
    b_buf = torch.empty_like(a_buf)
    c_buf = torch.empty_like(x)
    for a, b, c in POLAR_EXPRESS_COEFFS:
        if is_tall:
            XTX(x, out=a_buf)  # A = X.T @ X
        else:
            XXT(x, out=a_buf)  # A = X @ X.mT
        ba_plus_cAA(a_buf, alpha=c, beta=b, out=b_buf)  # B = b*A + c*(A@A)
        if split_baddbmm:
            matmul = torch.bmm if batched else torch.mm
            if is_tall:
                matmul(x, b_buf, out=c_buf)  # C = X @ B
            else:
                matmul(b_buf, x, out=c_buf)  # C = B @ X
            c_buf.add_(x, alpha=a)  # C = C + a*X
        else:
            addmm = torch.baddbmm if batched else torch.addmm
            if is_tall:
                addmm(x, x, b_buf, beta=a, out=c_buf)  # C = a*X + X @ B
            else:
                addmm(x, b_buf, x, beta=a, out=c_buf)  # C = a*X + B @ X
        x, c_buf = c_buf, x
    return x


def normuon_variance_reduction(
    v: Tensor, second_momentum_buffer: Tensor, beta2: float, red_dim: int
) -> Tensor:
    """train_gpt.py 936-947, operation for operation (updates the buffer and ``v`` in place)."""
    v_mean = v.float().square().mean(dim=red_dim, keepdim=True)
    red_dim_size = v.size(red_dim)
    v_norm_sq = v_mean.sum(dim=(-2, -1), keepdim=True).mul_(red_dim_size)
    v_norm = v_norm_sq.sqrt_()
    second_momentum_buffer.lerp_(v_mean.to(dtype=second_momentum_buffer.dtype), 1 - beta2)
    step_size = second_momentum_buffer.clamp_min(1e-10).rsqrt_()
    scaled_sq_sum = (v_mean * red_dim_size) * step_size.float().square()
    v_norm_new = scaled_sq_sum.sum(dim=(-2, -1), keepdim=True).sqrt_()
    final_scale = step_size * (v_norm / v_norm_new.clamp_min_(1e-10))
    return v.mul_(final_scale.type_as(v))


def cautious_wd_and_update(
    p: Tensor, mantissa: Tensor, update: Tensor, eff_wd: Tensor, eff_lr: Tensor
) -> None:
    """train_gpt.py 916-932 on a bf16 parameter ``p`` and its uint16 ``mantissa`` (in place).

    ``p`` may also be the parameter's ``uint16`` view, as the original passes it.
    """
    if p.dtype not in (torch.bfloat16, torch.uint16) or mantissa.dtype != torch.uint16:
        raise TypeError(
            f"need a bf16 (or uint16-viewed) parameter and a uint16 mantissa, "
            f"got {p.dtype} and {mantissa.dtype}"
        )
    grad = update.float()
    wd_factor = eff_wd.to(torch.float32)
    lr_factor = eff_lr.to(torch.float32)
    p_bits = p.view(torch.int16)
    raw = ((p_bits.to(torch.int32) & 0xFFFF) << 16) | mantissa.to(torch.int32)
    p_precise = raw.view(torch.float32)
    mask = (grad * p_precise) >= 0
    new = p_precise - (p_precise * mask * wd_factor * lr_factor) - (grad * lr_factor)
    new_raw = new.view(torch.int32)
    p_bits.copy_((new_raw >> 16).to(torch.int16))
    mantissa.copy_((new_raw & 0xFFFF).to(torch.uint16))


def adam_update(p: Tensor, grad: Tensor, st: dict[str, Any], cfg: Mapping[str, Any]) -> None:
    """train_gpt.py 828-864 for one parameter (``st``: step, exp_avg, exp_avg_sq)."""
    beta1, beta2 = cfg["adam_betas"]
    lr = cfg["lr"] * cfg["lr_mul"]
    st["step"] += 1
    t = st["step"]
    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
    step_size_t = _f32(lr * (bias2**0.5 / bias1))
    eff_wd_t = _f32(lr * lr * cfg["weight_decay"] * cfg["wd_mul"])
    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    update = exp_avg.div(exp_avg_sq.sqrt().add_(cfg["eps"])).mul_(step_size_t)
    mask = (update * p) > 0
    update.addcmul_(p, mask, value=eff_wd_t.item())
    p.add_(other=update, alpha=-1.0)


def normuon_update(p: Tensor, grad: Tensor, st: dict[str, Tensor], cfg: Mapping[str, Any]) -> None:
    """train_gpt.py 869-912 for one bank (single process: the whole bank is one chunk)."""
    reshape = cfg["reshape"]
    g = grad.view(reshape).to(torch.float32, copy=True)  # .float(): a new fp32 tensor
    momentum = float(_f32(cfg["momentum"]))
    eff_lr = _f32(cfg["lr_mul"] * cfg["lr"])
    eff_wd = _f32(cfg["wd_mul"] * cfg["weight_decay"] * cfg["lr"])
    is_large_matrix = g.shape[-2] > 1024
    v = polar_express(g, st["momentum_buffer"], momentum, split_baddbmm=is_large_matrix)
    red_dim = -1 if g.shape[-2] >= g.shape[-1] else -2
    v = normuon_variance_reduction(v, st["second_momentum_buffer"], cfg["beta2"], red_dim)
    p_view = p.data.view(reshape)
    per_matrix = cfg["per_matrix_lr_mul"]
    if per_matrix is not None:
        for i in range(p_view.shape[0]):
            eff_lr_i = _f32(cfg["lr_mul"] * per_matrix[i] * cfg["lr"])
            cautious_wd_and_update(p_view[i], st["mantissa"][i], v[i], eff_wd, eff_lr_i)
    else:
        cautious_wd_and_update(p_view, st["mantissa"], v, eff_wd, eff_lr)


def init_state(groups: list[dict[str, Any]], *, split_step: int | None = None) -> dict[str, Any]:
    """Fresh optimizer state for ``reference_param_groups(model)`` (train_gpt.py 545-583).

    ``split_step`` (default ``RUN["split_step"]`` = 847) is the step after which the embedding
    is untied from the lm_head.
    """
    cfgs: dict[str, dict[str, Any]] = {}
    states: dict[str, dict[str, Any]] = {}
    for g in groups:
        label = g["label"]
        (param,) = g["params"]
        cfgs[label] = {k: v for k, v in g.items() if k != "params"}
        if g["optim"] == "adam":
            exp_avg = torch.zeros_like(param, dtype=torch.float32)
            states[label] = {"step": 0, "exp_avg": exp_avg, "exp_avg_sq": torch.zeros_like(exp_avg)}
        else:
            shape = tuple(g["reshape"])
            rows, cols = shape[-2], shape[-1]
            second = (*shape[:-1], 1) if rows >= cols else (*shape[:-2], 1, cols)
            states[label] = {
                "momentum_buffer": torch.zeros(shape, dtype=torch.float32),
                "second_momentum_buffer": torch.zeros(second, dtype=torch.float32),
                "mantissa": torch.zeros(shape, dtype=torch.uint16),
            }
    return {
        "cfgs": cfgs,
        "states": states,
        "pending_grads": {},
        "split_embed": False,
        "split_step": RUN["split_step"] if split_step is None else split_step,
    }


#: train_gpt.py 2054-2063.
WORK_ORDER = (
    "scalars", "smear_gate", "ve_gate_bank", "mudd_b2", "mudd_gate_b2", "_mudd_gate_scale",
    "post_lambdas", "resid_lambdas", "mudd_w2", "mudd_gate_w2", "value_embeds", "bigram_embed",
    "mudd_w1", "mudd_gate_w1", "lm_head", "embed", "qk_bank", "vo_bank", "mlp_bank",
)  # fmt: skip


def reference_step(
    params: Mapping[str, Tensor],
    grads: Mapping[str, Tensor | None],
    state: dict[str, Any],
    step: int,
) -> None:
    """One ``TrainingManager.step_optimizers(step)`` (train_gpt.py 2131-2147), in place.

    ``params``: label -> parameter tensor (bf16 banks, as in the run). ``grads``: label -> the
    gradient this step's backward produced (averaged over ranks; ``None``/absent: no gradient).
    ``state``: from :func:`init_state`, updated in place; it keeps the Adam gradients of even
    steps (``pending_grads``) as the original keeps them in ``.grad``.
    """
    cfgs: dict[str, dict[str, Any]] = state["cfgs"]
    groups = list(cfgs.values())
    apply_schedule(groups, step)  # lr = initial_lr * get_lr(step); NorMuon momentum
    do_adam = is_adam_step(step)
    pending: dict[str, Tensor] = state["pending_grads"]
    split = state["split_embed"]

    # .grad as the original sees it: Adam gradients accumulate over the even step before.
    current: dict[str, Tensor] = {}
    for label in cfgs:
        g = grads.get(label)
        prev = pending.pop(label, None)
        if prev is not None and g is not None:
            g = prev + g
        elif prev is not None:
            g = prev
        if g is not None:
            current[label] = g

    # Phase 1 (746-764): which parameters get updated; tied lm_head collects embed.grad.T.
    to_update: dict[str, Tensor] = {}
    for label in cfgs:  # scatter order = the parameter table order (2081)
        cfg = cfgs[label]
        if cfg["optim"] == "adam" and not do_adam:
            continue
        g = current.get(label)
        if g is None:
            continue
        if label == "lm_head" and do_adam and not split:
            embed_grad = current.get("embed")
            if embed_grad is not None:
                g = (g.float() + embed_grad.T.float()).to(g.dtype)  # transpose_add
        if label == "embed" and not split:
            continue
        to_update[label] = g

    # Phase 2 (770-801): updates in work order.
    for label in WORK_ORDER:
        if label not in to_update:
            continue
        cfg = cfgs[label]
        p = params[label]
        if cfg["optim"] == "adam":
            adam_update(p.data, to_update[label], state["states"][label], cfg)
        else:
            normuon_update(p, to_update[label], state["states"][label], cfg)

    # Phase 3 (808-810): tied embed = lm_head.T.
    if do_adam and not split and "embed" in params and "lm_head" in params:
        params["embed"].data.copy_(params["lm_head"].data.T)

    # Gradients kept for the next step (819-823): Adam's on even steps.
    if not do_adam:
        for label, g in current.items():
            if cfgs[label]["optim"] == "adam":
                pending[label] = g.clone()

    # copy_lm_state_to_embed at the split step (2145-2147, 657-694).
    if step == state["split_step"]:
        lm, emb = state["states"]["lm_head"], state["states"]["embed"]
        emb["step"] = lm["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            emb[key].copy_(lm[key].T)
        state["split_embed"] = True
