"""Strategies of optimizer specs: every kind of the optimizer table.

>>> from hypothesis import given, settings
>>> from optfn.strategies import optimizer_specs
>>> @settings(max_examples=5)
... @given(optimizer_specs(kinds=("adamw",)))
... def test_kind(spec):
...     assert spec.optimizer_type == "adamw"
>>> test_kind()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from optfn.optim.table import OPTIMIZERS, OptimizerTable
from optfn.specs.optimizers import (
    TORCH_MUON_NS_COEFFICIENTS,
    AdamSpec,
    AdamWSpec,
    MuonSpec,
    OptimizerSpecification,
)
from optfn.strategies._args import (
    _check_bounds,
    _check_kinds,
    _check_real,
    _reals,
)

# ---- optimizer specs -------------------------------------------------------------------------

OPTIMIZER_KINDS: tuple[str, ...] = tuple(k.tag for k in OptimizerTable.library())
"""optfn's own optimizer kinds: ``("adam", "adamw", "muon")``. :func:`optimizer_specs` draws
these and every kind added to the optimizer table with :func:`optfn.register_optimizer`."""

#: Newton-Schulz coefficients that converge: torch's default, the cubic and a plain quintic.
_NS_COEFFICIENTS = (TORCH_MUON_NS_COEFFICIENTS, (1.5, -0.5, 0.0), (2.0, -1.5, 0.5))
_BETAS = st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 1.0, exclude_max=True))
_EPS = st.floats(1e-12, 1e-3)


@st.composite
def _adam_like(
    draw: st.DrawFn,
    cls: type[AdamSpec] | type[AdamWSpec],
    lrs: st.SearchStrategy[float],
    wds: st.SearchStrategy[float],
) -> OptimizerSpecification:
    return cls(
        learning_rate=draw(lrs),
        lr_decay_gamma=draw(st.none() | _reals(0.0, 1.0, exclude_min=True)),
        betas=draw(_BETAS),
        eps=draw(_EPS),
        weight_decay=draw(wds),
    )


@st.composite
def _muon(
    draw: st.DrawFn, lrs: st.SearchStrategy[float], wds: st.SearchStrategy[float]
) -> MuonSpec:
    return MuonSpec(
        learning_rate=draw(lrs),
        adamw_lr=draw(lrs),
        lr_decay_gamma=draw(st.none() | _reals(0.0, 1.0, exclude_min=True)),
        momentum=draw(_reals(0.0, 1.0, exclude_max=True)),
        nesterov=draw(st.booleans()),
        weight_decay=draw(wds),
        betas=draw(_BETAS),
        adamw_eps=draw(_EPS),
        muon_weight_decay=draw(wds),
        ns_steps=draw(st.integers(1, 10)),
        ns_coefficients=draw(st.sampled_from(_NS_COEFFICIENTS)),
        muon_eps=draw(_EPS),
        adjust_lr_fn=draw(st.sampled_from(["original", "match_rms_adamw"])),
    )


def optimizer_specs(
    kinds: Sequence[str] | None = None,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    max_weight_decay: float = 0.5,
) -> st.SearchStrategy[OptimizerSpecification]:
    """Random valid optimizer specs of the given ``kinds`` (default: every kind in the
    optimizer table, :data:`optfn.optim.table.OPTIMIZERS`).

    For optfn's own kinds every field varies over its valid range; the learning rates
    (``learning_rate`` and Muon's ``adamw_lr``) lie in ``[min_lr, max_lr]``, the weight
    decays in ``[0, max_weight_decay]``, ``eps`` in [1e-12, 1e-3], and Muon's
    ``ns_coefficients`` are ones that converge. Float fields are sometimes whole numbers
    (``1`` for 1.0), which specs accept. A kind added with :func:`optfn.register_optimizer`
    is drawn with its defaults, since optfn cannot know its valid ranges; to vary it, give
    your class a strategy with ``hypothesis.strategies.register_type_strategy`` and draw
    ``st.from_type(YourSpec)`` beside this one.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import optimizer_specs
    >>> @settings(max_examples=20)
    ... @given(optimizer_specs(kinds=("adamw", "muon"), max_lr=0.1))
    ... def test_lr_in_bounds(spec):
    ...     assert spec.optimizer_type in ("adamw", "muon") and 0 < spec.learning_rate <= 0.1
    >>> test_lr_in_bounds()
    """
    registered = tuple(k.tag for k in OPTIMIZERS)
    kinds = registered if kinds is None else _check_kinds(kinds, registered)
    lo = _check_real("min_lr", min_lr, 0.0, lo_open=True)
    hi = _check_real("max_lr", max_lr, 0.0, lo_open=True)
    _check_bounds("max_lr", lo, hi, "min_lr", "max_lr")
    wd = _check_real("max_weight_decay", max_weight_decay, 0.0, lo_open=False)
    lrs, wds = _reals(lo, hi), _reals(0.0, wd)
    own: dict[str, st.SearchStrategy[Any]] = {
        "adam": _adam_like(AdamSpec, lrs, wds),
        "adamw": _adam_like(AdamWSpec, lrs, wds),
        "muon": _muon(lrs, wds),
    }
    # A kind added with register_optimizer: its defaults (optfn cannot know its valid ranges)
    return st.one_of(
        *(own[k] if k in own else st.builds(OPTIMIZERS.by_tag[k].spec) for k in kinds)
    )
