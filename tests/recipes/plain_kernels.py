"""Plain-PyTorch stand-ins for the Triton kernels that modded-nanogpt's optimizer calls.

KellerJordan/modded-nanogpt @ f411b3d346aa52d3504324ca93c230fd84c6c07f, ``triton_kernels.py``:

- ``XXT`` (lines 34-145): ``out = A @ A.mT``; bf16 loads, fp32 accumulation (``tl.dot``), one
  rounding to ``out``'s dtype; only the upper-triangle blocks are computed and mirrored, so the
  result is exactly symmetric.
- ``XTX`` (147-279): ``out = A.mT @ A``, same precision rules.
- ``ba_plus_cAA`` (281-400): ``out = alpha * (A @ A.mT) + beta * A`` with ``A`` symmetric,
  everything in fp32 (``accumulator *= alpha; accumulator += a_add * beta``), one rounding.
- ``transpose_copy`` (788-848): ``dst = src.T``.
- ``transpose_add`` (850-900): ``dst += src.T`` (``dst_tile + tl.trans(src_tile)``).

Here each product is computed in float32 from the (bf16) inputs, then rounded once to the
output's dtype, and mirrored from its upper triangle like the kernels; the only difference left
is the order of the fp32 additions inside a dot product (block order in Triton, BLAS order
here).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["XTX", "XXT", "ba_plus_cAA", "transpose_add", "transpose_copy"]


def _mirror_upper(c: Tensor) -> Tensor:
    upper = torch.triu(torch.ones(c.shape[-2:], dtype=torch.bool, device=c.device))
    return torch.where(upper, c, c.mT)


def XXT(A: Tensor, out: Tensor) -> Tensor:
    """``out = A @ A.mT`` (fp32 accumulation, one rounding, symmetric)."""
    a = A.float()
    out.copy_(_mirror_upper(a @ a.mT).to(out.dtype))
    return out


def XTX(A: Tensor, out: Tensor) -> Tensor:
    """``out = A.mT @ A`` (fp32 accumulation, one rounding, symmetric)."""
    a = A.float()
    out.copy_(_mirror_upper(a.mT @ a).to(out.dtype))
    return out


def ba_plus_cAA(A: Tensor, alpha: float, beta: float, out: Tensor) -> Tensor:
    """``out = alpha * A @ A.mT + beta * A`` in fp32, rounded once (A square, symmetric)."""
    a = A.float()
    acc = a @ a.mT
    acc = acc * alpha
    acc = acc + a * beta
    out.copy_(_mirror_upper(acc).to(out.dtype))
    return out


def transpose_copy(src: Tensor, dst: Tensor) -> None:
    """``dst = src.T`` for 2-D tensors."""
    dst.copy_(src.T)


def transpose_add(src: Tensor, dst: Tensor) -> None:
    """``dst += src.T`` for 2-D tensors (one rounding to ``dst``'s dtype)."""
    dst.copy_((dst.float() + src.T.float()).to(dst.dtype))
