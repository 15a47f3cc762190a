"""NorMuon's math on a bank of matrices: Polar Express, Newton–Schulz, variance reduction.

A *bank* is a tensor of shape ``(n, rows, cols)``: ``n`` matrices of one shape, each
orthogonalized on its own, all at once with batched matrix products (``torch.bmm`` /
``torch.baddbmm``): one kernel per operation for the whole bank instead of one per matrix.
The operations follow modded-nanogpt's ``train_gpt.py`` (commit ``f411b3d3``); line numbers
below are that file's.

>>> import torch
>>> from optfn.optim.normuon.orthogonalize import orthogonalize_bank
>>> x = orthogonalize_bank(torch.randn(3, 4, 6), "polar_express", 5)
>>> x.dtype, x.shape
(torch.bfloat16, torch.Size([3, 4, 6]))
>>> s = torch.linalg.svdvals(x.float())
>>> bool(((s > 0.6) & (s < 1.3)).all())
True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "NEWTON_SCHULZ_COEFFICIENTS",
    "POLAR_EXPRESS_COEFFICIENTS",
    "coefficients",
    "iterate_bank",
    "normalize_bank",
    "normuon_variance_reduction",
    "orthogonalize_bank",
]

#: train_gpt.py 167-174: Polar Express coefficients, computed for 5 iterations with
#: ``safety_factor=2e-2`` and ``cushion=2``; iteration ``k`` uses triple ``k``.
POLAR_EXPRESS_COEFFICIENTS: tuple[tuple[float, float, float], ...] = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)
#: torch.optim.Muon's default quintic, the same triple on every iteration.
NEWTON_SCHULZ_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.775, 2.0315)


def coefficients(method: str, steps: int) -> list[tuple[float, float, float]]:
    """The ``(a, b, c)`` triple of each of ``steps`` iterations of ``method``.

    Polar Express past its fifth iteration repeats the last triple (which is then close to a
    fixed point of the iteration); Newton–Schulz uses torch's triple on every iteration.

    >>> len(coefficients("polar_express", 7)), coefficients("newton_schulz", 2)[1]
    (7, (3.4445, -4.775, 2.0315))
    """
    if method == "polar_express":
        table = POLAR_EXPRESS_COEFFICIENTS
        return [table[min(k, len(table) - 1)] for k in range(steps)]
    if method == "newton_schulz":
        return [NEWTON_SCHULZ_COEFFICIENTS] * steps
    raise ValueError(f"orthogonalizer must be 'polar_express' or 'newton_schulz', got {method!r}")


def normalize_bank(bank: Tensor, method: str) -> Tensor:
    """The first part of :func:`orthogonalize_bank`: ``bank`` (``(..., rows, cols)``) as a new
    ``(n, rows, cols)`` bfloat16 tensor, each matrix divided by its norm as ``method`` does.

    Element-wise but for the per-matrix norm: the zero-redundancy path runs it on the whole
    bank on every rank, exactly as one process does, and hands each owner its matrices."""
    if bank.ndim < 2:
        raise ValueError(f"need a matrix or a bank of matrices, got shape {tuple(bank.shape)}")
    rows, cols = bank.shape[-2], bank.shape[-1]
    coefficients(method, 1)  # a clear ValueError for an unknown method, before any work
    x = torch.reshape(bank.bfloat16(), (-1, rows, cols))
    norm: Tensor = torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True)
    if method == "polar_express":
        return x / (norm * (1 + 2e-2) + 1e-6)
    return x / norm.clamp(min=1e-7)


def iterate_bank(x: Tensor, method: str, steps: int) -> Tensor:
    """The second part of :func:`orthogonalize_bank`: ``steps`` iterations of ``method`` on the
    normalized bfloat16 bank ``x`` (``(n, rows, cols)``), on the wide orientation (a tall
    bank is transposed first and back after: the result of a tall bank is the ``.mT`` view
    of a contiguous ``(n, cols, rows)`` tensor, a wide or square one is contiguous).

    Batched matrix products only, each matrix on its own: an owner rank runs it on its
    matrices of a bank (a sub-batch) in the zero-redundancy path."""
    rows, cols = x.shape[-2], x.shape[-1]
    tall = rows > cols
    if tall:
        x = x.mT
    for a, b, c in coefficients(method, steps):
        gram = torch.bmm(x, x.mT)
        poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, poly, x, beta=a)
    return x.mT if tall else x


def orthogonalize_bank(bank: Tensor, method: str, steps: int) -> Tensor:
    """Orthogonalize each matrix of ``bank`` (``(..., rows, cols)``) on its own, in bfloat16.

    - ``"polar_express"`` (train_gpt.py 193-253): ``X = bank.bfloat16()``, divided by
      ``||X||_F * 1.02 + 1e-6`` per matrix (the norm over the last two dims), then per
      coefficient triple ``A = X X^T``, ``B = b A + c A A``, ``X = a X + B X`` on the wide
      orientation (a tall matrix is transposed first and back after, which is the original's
      ``A = X^T X``, ``X = a X + X B``: the same products, transposed).
    - ``"newton_schulz"``: torch.optim.Muon's quintic, ``X / max(||X||_F, 1e-7)`` per matrix.

    Each matrix is normalized and iterated independently of the others (batched products,
    no reduction across the leading dims). Returns a new bfloat16 tensor shaped like ``bank``.
    It is :func:`normalize_bank`, then :func:`iterate_bank`.
    """
    x = iterate_bank(normalize_bank(bank, method), method, steps)
    return torch.reshape(x, (*bank.shape[:-2], bank.shape[-2], bank.shape[-1]))


def normuon_variance_reduction(
    update: Tensor, second_moment: Tensor, beta2: float, red_dim: int
) -> Tensor:
    """NorMuon's per-neuron normalization (train_gpt.py 936-948), in place on both tensors.

    ``update``: the orthogonalized bank ``(n, rows, cols)`` (bfloat16); ``second_moment``:
    its float32 EMA, ``(n, rows, 1)`` when ``red_dim == -1`` (rows >= cols: one value per
    row) or ``(n, 1, cols)`` when ``red_dim == -2``. The EMA ``lerp``\\ s towards the mean
    square over ``red_dim`` with weight ``1 - beta2`` (no bias correction); the update is
    scaled by its ``rsqrt`` and then rescaled per matrix so that its Frobenius norm is what it
    was before. Returns ``update``.
    """
    mean_sq = update.float().square().mean(dim=red_dim, keepdim=True)
    size = update.size(red_dim)
    norm = mean_sq.sum(dim=(-2, -1), keepdim=True).mul_(size).sqrt_()
    second_moment.lerp_(mean_sq.to(second_moment.dtype), 1 - beta2)
    step = second_moment.clamp_min(1e-10).rsqrt_()
    scaled = (mean_sq * size) * step.float().square()
    new_norm = scaled.sum(dim=(-2, -1), keepdim=True).sqrt_()
    scale = step * (norm / new_norm.clamp_min_(1e-10))
    return update.mul_(scale.type_as(update))
