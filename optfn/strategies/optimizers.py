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
from typing import Any, cast

from hypothesis import strategies as st

from optfn.optim.table import OPTIMIZERS, OptimizerTable
from optfn.specs.normuon import ORTHOGONALIZERS, NorMuonSpec
from optfn.specs.optimizers import (
    IMPLEMENTATIONS,
    TORCH_MUON_NS_COEFFICIENTS,
    WITHOUT_FUSED,
    AdamSpec,
    AdamWSpec,
    Implementation,
    MuonSpec,
    OptimizerSpecification,
)
from optfn.specs.torch_optimizers import (
    AdadeltaSpec,
    AdafactorSpec,
    AdagradSpec,
    AdamaxSpec,
    ASGDSpec,
    NAdamSpec,
    RAdamSpec,
    RMSpropSpec,
    RpropSpec,
    SGDSpec,
)
from optfn.strategies._args import (
    _check_bounds,
    _check_kinds,
    _check_real,
    _reals,
)

# ---- optimizer specs -------------------------------------------------------------------------

OPTIMIZER_KINDS: tuple[str, ...] = tuple(k.tag for k in OptimizerTable.library())
"""optfn's own optimizer kinds: ``("adam", "adamw", "muon", "sgd", "nadam", "radam",
"adamax", "adagrad", "rmsprop", "adadelta", "adafactor", "asgd", "rprop", "normuon")``.
:func:`optimizer_specs` draws these and every kind added to the optimizer table with
:func:`optfn.register_optimizer`."""

#: Newton-Schulz coefficients that converge: torch's default, the cubic and a plain quintic.
_NS_COEFFICIENTS = (TORCH_MUON_NS_COEFFICIENTS, (1.5, -0.5, 0.0), (2.0, -1.5, 0.5))
_BETAS = st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 1.0, exclude_max=True))
_EPS = st.floats(1e-12, 1e-3)
_GAMMA = st.none() | _reals(0.0, 1.0, exclude_min=True)
_UNIT = _reals(0.0, 1.0)
_WITH_FUSED: st.SearchStrategy[Implementation] = st.sampled_from(
    cast("tuple[Implementation, ...]", IMPLEMENTATIONS)
)
_NO_FUSED: st.SearchStrategy[Implementation] = st.sampled_from(
    cast("tuple[Implementation, ...]", WITHOUT_FUSED)
)


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
        amsgrad=draw(st.booleans()),
        maximize=draw(st.booleans()),
        implementation=draw(_WITH_FUSED),
        **({"decoupled_weight_decay": draw(st.booleans())} if cls is AdamSpec else {}),
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
        implementation=draw(_WITH_FUSED),
        zero_redundancy=draw(st.none() | st.booleans()),
    )


@st.composite
def _normuon(
    draw: st.DrawFn, lrs: st.SearchStrategy[float], wds: st.SearchStrategy[float]
) -> NorMuonSpec:
    factors = st.lists(_reals(0.0, 4.0), min_size=1, max_size=4).map(tuple)
    return NorMuonSpec(
        learning_rate=draw(lrs),
        lr_decay_gamma=draw(_GAMMA),
        momentum=draw(_reals(0.0, 1.0, exclude_max=True)),
        beta2=draw(_reals(0.0, 1.0, exclude_max=True)),
        weight_decay=draw(wds),
        orthogonalizer=draw(st.sampled_from(ORTHOGONALIZERS)),
        ns_steps=draw(st.integers(1, 10)),
        cautious_weight_decay=draw(st.booleans()),
        per_matrix_lr_mul=draw(st.none() | factors),
        adam_lr=draw(lrs),
        adam_betas=draw(_BETAS),
        adam_eps=draw(_EPS),
        adam_weight_decay=draw(wds),
        adam_cautious_weight_decay=draw(st.booleans()),
        adam_every=draw(st.integers(1, 8)),
        zero_redundancy=draw(st.booleans()),
    )


def _torch_specs(
    lrs: st.SearchStrategy[float], wds: st.SearchStrategy[float]
) -> dict[str, st.SearchStrategy[Any]]:
    """One strategy per torch.optim kind, every field over its valid range."""
    common: dict[str, Any] = {
        "learning_rate": lrs,
        "lr_decay_gamma": _GAMMA,
        "maximize": st.booleans(),
    }

    def kind(cls: type[OptimizerSpecification], fused: bool, **fields: Any) -> Any:
        impl = _WITH_FUSED if fused else _NO_FUSED
        return st.builds(cls, **common, implementation=impl, **fields)

    @st.composite
    def sgd(draw: st.DrawFn) -> SGDSpec:
        nesterov = draw(st.booleans())
        spec: SGDSpec = draw(
            kind(
                SGDSpec,
                True,
                momentum=_reals(0.0, 1.0, exclude_min=nesterov, exclude_max=True),
                dampening=st.just(0.0) if nesterov else _UNIT,
                nesterov=st.just(nesterov),
                weight_decay=wds,
            )
        )
        return spec

    @st.composite
    def rprop(draw: st.DrawFn) -> RpropSpec:
        lo = draw(_reals(0.0, 1.0))
        hi = draw(_reals(lo, 100.0))
        spec: RpropSpec = draw(
            kind(
                RpropSpec,
                False,
                etas=st.tuples(
                    _reals(0.0, 1.0, exclude_min=True, exclude_max=True),
                    _reals(1.0, 10.0, exclude_min=True),
                ),
                step_sizes=st.just((lo, hi)),
            )
        )
        return spec

    adam_like = {"betas": _BETAS, "eps": _EPS, "weight_decay": wds}
    return {
        "sgd": sgd(),
        "nadam": kind(
            NAdamSpec,
            False,
            **adam_like,
            momentum_decay=_reals(0.0, 0.1),
            decoupled_weight_decay=st.booleans(),
        ),
        "radam": kind(RAdamSpec, False, **adam_like, decoupled_weight_decay=st.booleans()),
        "adamax": kind(AdamaxSpec, False, **adam_like),
        "adagrad": kind(
            AdagradSpec,
            True,
            lr_decay=_reals(0.0, 0.1),
            weight_decay=wds,
            initial_accumulator_value=_reals(0.0, 1.0),
            eps=_EPS,
        ),
        "rmsprop": kind(
            RMSpropSpec,
            False,
            alpha=_UNIT,
            eps=_EPS,
            weight_decay=wds,
            momentum=_reals(0.0, 1.0, exclude_max=True),
            centered=st.booleans(),
        ),
        "adadelta": kind(AdadeltaSpec, False, rho=_UNIT, eps=_EPS, weight_decay=wds),
        "adafactor": kind(
            AdafactorSpec,
            False,
            beta2_decay=_reals(-1.0, 0.0),
            eps1=st.none() | _EPS,
            eps2=_reals(0.0, 1e-2),
            d=_reals(1.0, 10.0),
            weight_decay=wds,
        ),
        "asgd": kind(
            ASGDSpec,
            False,
            lambd=_reals(0.0, 1e-2),
            alpha=_reals(0.0, 1.0),
            t0=_reals(0.0, 1e6),
            weight_decay=wds,
        ),
        "rprop": rprop(),
    }


def optimizer_specs(
    kinds: Sequence[str] | None = None,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    max_weight_decay: float = 0.5,
) -> st.SearchStrategy[OptimizerSpecification]:
    """Random valid optimizer specs of the given ``kinds`` (default: every kind in the
    optimizer table, :data:`optfn.optim.table.OPTIMIZERS`).

    For optfn's own kinds (torch.optim's included) every field varies over its valid range,
    ``implementation`` over the choices the kind offers; the learning rates (``learning_rate``,
    Muon's ``adamw_lr`` and NorMuon's ``adam_lr``) lie in ``[min_lr, max_lr]``, the weight
    decays in ``[0, max_weight_decay]``, ``eps`` in [1e-12, 1e-3], and Muon's
    ``ns_coefficients`` are ones that converge. Float fields are sometimes whole numbers (``1``
    for 1.0), which specs accept. A kind added with :func:`optfn.register_optimizer` is drawn
    with its defaults, since optfn cannot know its valid ranges; to vary it, give your class a
    strategy with ``hypothesis.strategies.register_type_strategy`` and draw
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
        "normuon": _normuon(lrs, wds),
        **_torch_specs(lrs, wds),
    }
    # A kind added with register_optimizer: its defaults (optfn cannot know its valid ranges)
    return st.one_of(*(own[k] if k in own else st.builds(OPTIMIZERS.by_tag[k].spec) for k in kinds))
