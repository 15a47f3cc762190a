"""Newton–Schulz orthogonalization and Muon's LR adjustment: ``torch.optim.Muon``'s math.

The same operations in the same order as ``torch.optim.Muon`` (quintic Newton–Schulz in
bfloat16, then the LR scaled by the matrix's shape), so that :class:`~optfn.MuonWithAdamW`'s
per-matrix path is bit-equal to torch's; :func:`orthogonalize_batched` runs the same sequence
on a stack of same-shape matrices.

>>> import torch
>>> from optfn.optim.muon.newton_schulz import adjusted_lr, orthogonalize
>>> x = orthogonalize(torch.randn(3, 5), (3.4445, -4.775, 2.0315), steps=5, eps=1e-7)
>>> x.dtype, x.shape
(torch.bfloat16, torch.Size([3, 5]))
>>> adjusted_lr(0.02, "original", 8, 2), adjusted_lr(0.02, "match_rms_adamw", 8, 2)
(0.04, 0.011313708498984762)
>>> adjusted_lr(torch.tensor(0.02), "original", 8, 2)
tensor(0.0400)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import overload

import torch
from torch import Tensor

__all__ = [
    "adjusted_lr",
    "is_dtensor",
    "matrix_shape",
    "orthogonalize",
    "orthogonalize_batched",
    "orthogonalized_update",
]


def orthogonalize(
    matrix: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> Tensor:
    """Quintic Newton–Schulz on one 2-D matrix in bfloat16, op for op as torch.optim.Muon.

    Out-of-place ``div`` where torch writes ``div_``: same values, but a bfloat16 input (whose
    ``.bfloat16()`` is itself) is never modified.
    """
    a, b, c = coefficients
    x = matrix.bfloat16()
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T
    x = x.div(x.norm().clamp(min=eps))
    for _ in range(steps):
        gram = x @ x.T
        gram_update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def orthogonalize_batched(
    matrices: Sequence[Tensor], coefficients: tuple[float, float, float], steps: int, eps: float
) -> list[Tensor]:
    """Newton–Schulz on a stack of same-shape matrices at once (``bmm``/``baddbmm``).

    The same sequence of operations as :func:`orthogonalize`, batched: one kernel per operation
    for the whole stack instead of one per matrix, which is what makes it fast on a GPU.
    """
    a, b, c = coefficients
    rows, cols = matrices[0].shape
    x = torch.empty((len(matrices), rows, cols), dtype=torch.bfloat16, device=matrices[0].device)
    for i, m in enumerate(matrices):
        x[i].copy_(m)
    tall = rows > cols
    if tall:
        x = x.mT
    x = x.div(torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True).clamp(min=eps))
    for _ in range(steps):
        gram = x @ x.mT
        gram_update = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, gram_update, x, beta=a)
    if tall:
        x = x.mT
    return list(x.unbind(0))


def matrix_shape(param: Tensor) -> tuple[int, int]:
    """The 2-D shape Muon works on: ``(shape[0], -1)``."""
    rows = param.shape[0]
    return rows, param.numel() // rows


def is_dtensor(t: Tensor) -> bool:
    """Whether ``t`` is a ``torch.distributed.tensor.DTensor`` (FSDP2 / tensor-parallel shard).

    Looked up in ``sys.modules``: if that module was never imported, no tensor is a DTensor,
    and optfn does not pay for importing it.
    """
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def orthogonalized_update(
    update: Tensor,
    shape: tuple[int, int],
    coefficients: tuple[float, float, float],
    steps: int,
    eps: float,
) -> Tensor:
    """Newton–Schulz of ``update`` viewed as the matrix ``shape``, shaped like ``update``.

    A DTensor (a parameter sharded by FSDP2's ``fully_shard`` or tensor parallelism) is
    gathered whole (``full_tensor()``), orthogonalized on every rank exactly as an unsharded
    matrix, and each rank keeps its own shard of the result (``distribute_tensor`` with
    ``src_data_rank=None``: a local split, no communication). Orthogonalizing the shards, or
    letting DTensor run Newton–Schulz as distributed bfloat16 matmuls, would give another
    update; this gives the unsharded one, bit for bit.
    """
    if is_dtensor(update):
        from torch.distributed.tensor import distribute_tensor

        full = update.full_tensor()  # type: ignore[attr-defined]
        ortho = orthogonalize(full.reshape(shape), coefficients, steps, eps).reshape(full.shape)
        return distribute_tensor(
            ortho,
            update.device_mesh,  # type: ignore[attr-defined]
            update.placements,  # type: ignore[attr-defined]
            src_data_rank=None,
        )
    return orthogonalize(update.reshape(shape), coefficients, steps, eps).reshape(update.shape)


@overload
def adjusted_lr(lr: float, adjust_lr_fn: str | None, rows: int, cols: int) -> float: ...
@overload
def adjusted_lr(lr: Tensor, adjust_lr_fn: str | None, rows: int, cols: int) -> Tensor: ...
def adjusted_lr(
    lr: float | Tensor, adjust_lr_fn: str | None, rows: int, cols: int
) -> float | Tensor:
    """torch.optim.Muon's ``_adjust_lr`` on the matrix shape ``(rows, cols)``.

    A tensor ``lr`` (0-D) gives a tensor, ``lr * ratio``, as torch's does: no ``.item()``,
    so a compiled step keeps reading the LR from the tensor.
    """
    if adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:  # "original" (or None, torch's spelling of it)
        ratio = math.sqrt(max(1, rows / cols))
    return lr * ratio
