"""``NorMuonSpec``: NorMuon + Adam, the optimizer of modded-nanogpt's speedrun records.

modded-nanogpt (``KellerJordan/modded-nanogpt``, ``train_gpt.py`` at commit ``f411b3d3``)
trains its weight banks with NorMuon (Nesterov momentum, Polar Express orthogonalization of
each matrix of a bank, a per-neuron second moment after it, cautious weight decay) and every
other parameter with an Adam that decays cautiously by ``lr**2 * wd`` and may step only every
few steps on the sum of the gradients since its last step. The defaults are the record's
(lines 2065-2076); per-parameter multipliers and betas come from :class:`~optfn.LabelRule`\\ s.

>>> from optfn import NorMuonSpec
>>> spec = NorMuonSpec(adam_every=2)
>>> spec.optimizer_type, spec.learning_rate, spec.orthogonalizer, spec.adam_lr
('normuon', 0.023, 'polar_express', 0.008)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from optfn.errors import SpecError
from optfn.specs import checks as v
from optfn.specs.optimizers import (
    BETAS,
    DECAY_GAMMA,
    MAX_NS_STEPS,
    NONNEGATIVE,
    POSITIVE,
    OptimizerSpecification,
)
from optfn.specs.render import brief

__all__ = ["MAX_ADAM_EVERY", "ORTHOGONALIZERS", "NorMuonSpec", "Orthogonalizer"]

#: How the NorMuon part orthogonalizes each matrix: ``"polar_express"`` (modded-nanogpt's
#: per-iteration coefficients on ``X / (||X||_F * 1.02 + 1e-6)``) or ``"newton_schulz"``
#: (``torch.optim.Muon``'s fixed quintic ``(3.4445, -4.775, 2.0315)`` on
#: ``X / max(||X||_F, 1e-7)``).
Orthogonalizer = Literal["polar_express", "newton_schulz"]
ORTHOGONALIZERS: tuple[str, ...] = ("polar_express", "newton_schulz")
#: The largest ``adam_every`` (a cadence, in optimizer steps).
MAX_ADAM_EVERY = 1_000_000

_UNIT_OPEN = v.real(0.0, 1.0, hi_open=True)


def _check_ns_steps(inst: Any, attr: attrs.Attribute[Any], n: Any) -> None:
    if v.is_int(n) and not 1 <= n < MAX_NS_STEPS:
        raise SpecError(
            type(inst).__name__,
            attr.name,
            f"must be an integer in [1, {MAX_NS_STEPS}), got {brief(n)}",
        )


def _check_per_matrix(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    if val is None:
        return
    v.real_tuple(None, 0.0)(inst, attr, val)
    if not val:
        raise SpecError(
            type(inst).__name__,
            attr.name,
            "must hold at least one factor (or be left out: every matrix gets 1.0), got ()",
        )


#: ``None`` or at least one factor >= 0 (its domain tells optfn.strategies what to draw).
_per_matrix = v.Validator(
    "per_matrix_lr_mul",
    _check_per_matrix,
    v.Domain("real_tuple", 0.0, min_length=1, none=True),
)


@attrs.frozen(kw_only=True)
class NorMuonSpec(OptimizerSpecification):
    """NorMuon for the matrices the routing rules pick (route ``"normuon"``), Adam for every
    other parameter (route ``"adam"``), in one :class:`~optfn.optim.normuon.NorMuonWithAdam`.

    NorMuon part (route ``"normuon"``; defaults: modded-nanogpt's ``normuon_defaults``):

    - ``learning_rate`` (0.023): times ``sqrt(max(1, rows / cols))`` of each matrix and its
      ``per_matrix_lr_mul`` factor.
    - ``momentum`` (0.95, in [0, 1)): Nesterov momentum, by ``lerp`` in float32.
    - ``beta2`` (0.9, in [0, 1)): the EMA of the per-row (rows >= cols) or per-column second
      moment of the orthogonalized update, no bias correction, norm-preserving rescale.
    - ``weight_decay`` (1.2): decoupled decay ``p -= p * weight_decay * lr * lr_eff``;
      ``cautious_weight_decay`` (True): only where the update and ``p`` agree in sign
      (``update * p >= 0``).
    - ``orthogonalizer`` (``"polar_express"`` or ``"newton_schulz"``) and ``ns_steps`` (5, in
      [1, 100)): Polar Express uses its first ``ns_steps`` coefficient triples (the last one
      repeated past the fifth); Newton–Schulz is torch.optim.Muon's quintic.
    - ``per_matrix_lr_mul`` (None: 1.0 for every matrix): LR factors repeated over the
      matrices of a bank (matrix ``i`` gets ``per_matrix_lr_mul[i % len]``; the bank's matrix
      count must be a multiple of the length). modded-nanogpt's ``mlp_bank`` is
      ``(1.0, 2.0)`` (set on its label with ``hyper``).

    Adam part (route ``"adam"``; defaults: modded-nanogpt's ``adam_defaults``):
    ``adam_lr`` (0.008), ``adam_betas`` ((0.9, 0.99)), ``adam_eps`` (1e-10),
    ``adam_weight_decay`` (0.005; the decay is ``lr**2 * weight_decay``),
    ``adam_cautious_weight_decay`` (True: decay only where ``update * p > 0``) and
    ``adam_every`` (1): Adam steps on every ``adam_every``-th optimizer step (counting from
    step 0, on the steps ``s`` with ``(s + 1) % adam_every == 0``), on the sum of the
    gradients since its last step, which the optimizer keeps; its bias correction counts Adam
    steps only. modded-nanogpt uses ``adam_every=2``.

    ``lr_decay_gamma``: as every spec's (the spec-method API's exponential scheduler).

    ``zero_redundancy`` (True): :class:`~optfn.NorMuonWithAdam`'s switch. Under an initialized
    process group of more than one rank (DDP: plain parameters, the same on every rank), each
    matrix of each bank is orthogonalized by one owner rank and the results are exchanged; the
    update and the state are one process's, bit for bit. ``False``: every rank computes every
    update.

    >>> NorMuonSpec(per_matrix_lr_mul=[1.0, 2.0]).per_matrix_lr_mul
    (1.0, 2.0)
    >>> NorMuonSpec(beta2=1.0)
    Traceback (most recent call last):
    ...
    optfn.errors.SpecError: NorMuonSpec.beta2: must be finite and in [0, 1), got 1.0
    """

    optimizer_type: ClassVar[str] = "normuon"

    learning_rate: float = attrs.field(default=0.023, validator=POSITIVE)
    lr_decay_gamma: float | None = attrs.field(default=None, validator=DECAY_GAMMA)
    momentum: float = attrs.field(default=0.95, validator=_UNIT_OPEN)
    beta2: float = attrs.field(default=0.9, validator=_UNIT_OPEN)
    weight_decay: float = attrs.field(default=1.2, validator=NONNEGATIVE)
    orthogonalizer: Orthogonalizer = attrs.field(
        default="polar_express", validator=v.one_of(*ORTHOGONALIZERS)
    )
    ns_steps: int = attrs.field(default=5, validator=[v.step_count(1), _check_ns_steps])
    cautious_weight_decay: bool = attrs.field(default=True, validator=v.boolean)
    per_matrix_lr_mul: tuple[float, ...] | None = attrs.field(
        default=None, converter=v.to_tuple, validator=_per_matrix
    )
    adam_lr: float = attrs.field(default=0.008, validator=POSITIVE)
    adam_betas: tuple[float, float] = attrs.field(
        default=(0.9, 0.99), converter=v.to_tuple, validator=BETAS
    )
    adam_eps: float = attrs.field(default=1e-10, validator=POSITIVE)
    adam_weight_decay: float = attrs.field(default=0.005, validator=NONNEGATIVE)
    adam_cautious_weight_decay: bool = attrs.field(default=True, validator=v.boolean)
    adam_every: int = attrs.field(default=1, validator=v.step_count(1, MAX_ADAM_EVERY))
    zero_redundancy: bool = attrs.field(default=True, validator=v.boolean)
