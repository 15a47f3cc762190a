"""Strategies of optimizer specs: every kind of the table, each field drawn from its validator.

No kind has a strategy of its own: :func:`optimizer_specs` reads each field's validator (optfn's
:mod:`optfn.specs.checks` validators say what they accept as a
:class:`~optfn.specs.checks.Domain`; attrs' ``optional``, ``and_``, ``in_``, ``gt``/``ge``/
``lt``/``le`` and ``instance_of(bool)`` are read too) and draws a value from it. So a new
optimizer kind (a spec class and one table entry) is drawn over its valid ranges at once.

>>> from hypothesis import given, settings
>>> from optfn.strategies import optimizer_specs
>>> @settings(max_examples=5)
... @given(optimizer_specs(kinds=("adamw",)))
... def test_kind(spec):
...     assert spec.optimizer_type == "adamw"
>>> test_kind()
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from hypothesis import reject
from hypothesis import strategies as st

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.table import OPTIMIZERS, OptimizerTable
from optfn.specs.checks import Domain, in_range, is_real
from optfn.specs.optimizers import OptimizerSpecification
from optfn.strategies._args import (
    _check_bounds,
    _check_kinds,
    _check_real,
    _reals,
)

# ---- optimizer specs -------------------------------------------------------------------------

OPTIMIZER_KINDS: tuple[str, ...] = tuple(k.tag for k in OptimizerTable.library())
"""optfn's own optimizer kinds, in the table's order (``"adam"``, ``"adamw"``, ``"muon"``, then
torch.optim's, then ``"normuon"``). :func:`optimizer_specs` draws these and every kind added to
the table with :func:`optfn.register_optimizer`."""

#: The ``eps`` of every optimizer (fields named ``eps``, ``eps1``, ``adam_eps``...) is drawn in
#: this range (within its validator's): smaller or larger values are valid but do not train.
EPS_RANGE = (1e-12, 1e-3)
#: How far a value is drawn beyond a bound on one side only (``>= 0``: ``[0, 1]`` and, one draw
#: in two, ``[0, 10]``); an integer, up to 10 past its bound.
_SPANS = (1.0, 10.0)
#: Tries at a spec whose own checks refuse a combination (the field they name is drawn again).
_TRIES = 20

_LR = re.compile(r"(.*_)?(learning_rate|lr)")
_WD = re.compile(r"(.*_)?weight_decay")
_EPS = re.compile(r"(.*_)?eps\d*")
_MOMENTUM = re.compile(r"(.*_)?momentum")
#: Momentum fields are drawn where they train: a momentum above 1 is valid for SGD and
#: RMSprop but makes the iterates grow without bound.
MOMENTUM_RANGE = (0.0, 0.99)


# ---- what a validator accepts ----------------------------------------------------------------

#: attrs' number validators by ``compare_op``: (a lower bound?, open?).
_NUMBER_OPS: dict[str, tuple[bool, bool]] = {
    ">": (True, True),
    ">=": (True, False),
    "<": (False, True),
    "<=": (False, False),
}


def domain_of(validator: Any, annotation: Any = None) -> Domain | None:
    """What ``validator`` accepts, as a :class:`~optfn.specs.checks.Domain`, or ``None`` when
    it cannot be read (the field is then left at its default).

    >>> from optfn.specs.optimizers import BETAS, DECAY_GAMMA
    >>> domain_of(BETAS).kind, domain_of(DECAY_GAMMA).none, domain_of(DECAY_GAMMA).hi
    ('real_tuple', True, 1.0)
    >>> domain_of(attrs.validators.gt(0)).lo_open
    True
    """
    if validator is None:
        return None
    own = getattr(validator, "domain", None)
    if isinstance(own, Domain):
        return own
    name = type(validator).__name__
    if name == "_OptionalValidator":
        inner = domain_of(getattr(validator, "validator", None), annotation)
        return None if inner is None else attrs.evolve(inner, none=True)
    if name == "_AndValidator":
        parts = [domain_of(v, annotation) for v in getattr(validator, "_validators", ())]
        known = [d for d in parts if d is not None]
        if not known:
            return None
        out = known[0]
        for d in known[1:]:
            out = _intersect(out, d)
        return out
    if name == "_InValidator":
        options = getattr(validator, "options", ())
        return Domain("choice", choices=tuple(options)) if options else None
    if name == "_InstanceOfValidator" and getattr(validator, "type", None) is bool:
        return Domain("bool")
    if name == "_NumberValidator":
        bound, op = getattr(validator, "bound", None), getattr(validator, "compare_op", "")
        if op not in _NUMBER_OPS or isinstance(bound, bool) or not isinstance(bound, int | float):
            return None
        kind = "int" if annotation in (int, "int") else "real"
        lower, is_open = _NUMBER_OPS[op]
        if lower:
            return Domain(kind, lo=float(bound), lo_open=is_open)
        return Domain(kind, hi=float(bound), hi_open=is_open)
    return None


def _intersect(a: Domain, b: Domain) -> Domain:
    """Both at once (same kind: the tighter bounds; otherwise the first)."""
    if a.kind != b.kind:
        return a
    lo, lo_open = _tighter(a.lo, a.lo_open, b.lo, b.lo_open, max)
    hi, hi_open = _tighter(a.hi, a.hi_open, b.hi, b.hi_open, min)
    return attrs.evolve(a, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, none=a.none and b.none)


def _tighter(
    x: float | None,
    x_open: bool,
    y: float | None,
    y_open: bool,
    pick: Callable[[float, float], float],
) -> tuple[float | None, bool]:
    if x is None:
        return y, y_open
    if y is None or x == y:
        return x, x_open or (y_open and x == y)
    return (x, x_open) if pick(x, y) == x else (y, y_open)


# ---- a strategy per field --------------------------------------------------------------------


def _between(
    lo: float | None, hi: float | None, lo_open: bool, hi_open: bool
) -> st.SearchStrategy[float]:
    """Reals in the bounds; an open side is drawn up to :data:`_SPANS` past the other bound."""
    if lo is not None and hi is not None:
        return _reals(lo, hi, exclude_min=lo_open, exclude_max=hi_open)
    if lo is not None:
        return st.one_of(*(_reals(lo, lo + s, exclude_min=lo_open) for s in _SPANS))
    if hi is not None:
        return st.one_of(*(_reals(hi - s, hi, exclude_max=hi_open) for s in _SPANS))
    return st.one_of(*(_reals(-s, s) for s in _SPANS))


def _within(d: Domain, lo: float, hi: float) -> tuple[float, float, bool, bool] | None:
    """The domain's bounds narrowed to ``[lo, hi]``, or ``None`` when nothing is left."""
    nlo, nlo_open = _tighter(d.lo, d.lo_open, lo, False, max)
    nhi, nhi_open = _tighter(d.hi, d.hi_open, hi, False, min)
    assert nlo is not None and nhi is not None
    if nlo > nhi or (nlo == nhi and (nlo_open or nhi_open)):
        return None
    return nlo, nhi, nlo_open, nhi_open


def _accepts(bounds: tuple[float, float, bool, bool], x: Any) -> bool:
    lo, hi, lo_open, hi_open = bounds
    return is_real(x) and in_range(x, lo, hi, lo_open=lo_open, hi_open=hi_open)


def _typical(name: str, limits: _Limits) -> tuple[float, float] | None:
    """The range a real field is drawn in by its name (within its validator's), if any."""
    if _LR.fullmatch(name):
        return limits.lr
    if _WD.fullmatch(name):
        return (0.0, limits.wd)
    if _EPS.fullmatch(name):
        return EPS_RANGE
    if _MOMENTUM.fullmatch(name):
        return MOMENTUM_RANGE
    return None


@attrs.frozen
class _Limits:
    """The bounds of :func:`optimizer_specs`: learning rates and weight decays."""

    lr: tuple[float, float]
    wd: float


def field_strategy(field: attrs.Attribute[Any], limits: _Limits) -> st.SearchStrategy[Any] | None:
    """A strategy of valid values of one spec field, or ``None`` (the field keeps its default).

    The field's ``metadata["examples"]`` (values known to train, when the validator accepts
    more) are drawn as they are. Learning rates (``learning_rate``, ``*_lr``) lie in the LR
    bounds, weight decays (``*weight_decay``) in ``[0, max_weight_decay]``, ``eps`` fields in
    :data:`EPS_RANGE`, momentum fields in :data:`MOMENTUM_RANGE`, each within the validator's
    range. The default is drawn one time in
    eight, and is where a failing example shrinks to.
    """
    default = field.default
    has_default = default is not attrs.NOTHING and not isinstance(default, attrs.Factory)  # type: ignore[arg-type]
    examples = field.metadata.get("examples")
    if examples:
        return st.sampled_from(tuple(examples))
    d = domain_of(field.validator, field.type)
    if d is None:
        return None
    strategy: st.SearchStrategy[Any]
    narrowed: tuple[float, float, bool, bool] | None = None
    if d.kind == "real":
        within = _typical(field.name, limits)
        if within is None:
            strategy = _between(d.lo, d.hi, d.lo_open, d.hi_open)
        else:
            narrowed = _within(d, *within)
            if narrowed is None:
                return None
            lo, hi, lo_open, hi_open = narrowed
            strategy = _reals(lo, hi, exclude_min=lo_open, exclude_max=hi_open)
    elif d.kind == "int":
        lo = 0 if d.lo is None else math.ceil(d.lo)
        hi = lo + 10 if d.hi is None else math.floor(d.hi)
        strategy = st.integers(lo, hi)
    elif d.kind == "bool":
        strategy = st.booleans()
    elif d.kind == "choice":
        strategy = st.sampled_from(d.choices)
    elif d.kind == "real_tuple":
        item = _between(d.lo, d.hi, d.lo_open, d.hi_open)
        if d.length is not None:
            strategy = st.tuples(*([item] * d.length))
        else:
            size = max(d.min_length, 1)
            strategy = st.lists(item, min_size=size, max_size=size + 3).map(tuple)
    else:
        return None
    if d.none:
        strategy = st.none() | strategy
    keep_default = has_default and (
        narrowed is None or default is None or _accepts(narrowed, default)
    )
    if not keep_default:
        return strategy
    return st.integers(0, 7).flatmap(lambda k: st.just(default) if k == 0 else strategy)


def spec_from_fields(
    cls: type[OptimizerSpecification], limits: _Limits
) -> st.SearchStrategy[OptimizerSpecification]:
    """A spec of ``cls`` with every field drawn by :func:`field_strategy`.

    A combination that the spec's own checks refuse (SGD's ``nesterov`` without momentum,
    Rprop's ``etas`` out of order) is drawn again: every field, then the field the error
    names; a spec whose checks name no drawn field is drawn with its defaults."""
    fields = {
        (a.alias or a.name): s
        for a in attrs.fields(cls)
        if a.init and (s := field_strategy(a, limits)) is not None
    }

    @st.composite
    def draw_spec(draw: st.DrawFn) -> OptimizerSpecification:
        values = {name: draw(s) for name, s in fields.items()}
        for attempt in range(_TRIES):
            try:
                return cls(**values)
            except (SpecError, SpecTypeError) as exc:
                name = exc.field.split("[")[0]
                if exc.owner != cls.__name__ or name not in fields:
                    break
                # the first half of the tries draws everything again (the field named may be
                # fine and another wrong: nesterov needs momentum), the second half that field
                again = fields if attempt < _TRIES // 2 else {name: fields[name]}
                values.update({n: draw(s) for n, s in again.items()})
            except (ValueError, TypeError):
                break
        else:
            reject()
        spec: OptimizerSpecification = draw(st.builds(cls))
        return spec

    return draw_spec()


def optimizer_specs(
    kinds: Sequence[str] | None = None,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    max_weight_decay: float = 0.5,
) -> st.SearchStrategy[OptimizerSpecification]:
    """Random valid optimizer specs of the given ``kinds`` (default: every optimizer kind of the
    table, :data:`optfn.optim.table.OPTIMIZERS`).

    Every field is drawn from its validator (:func:`field_strategy`), for optfn's kinds and
    yours alike: ``implementation`` over the choices the kind offers, bounded fields over their
    range, edges included, fields bounded on one side up to 10 past their bound; the learning
    rates (``learning_rate``, Muon's ``adamw_lr`` and NorMuon's ``adam_lr``) lie in
    ``[min_lr, max_lr]``, the weight decays in ``[0, max_weight_decay]``, ``eps`` in
    [1e-12, 1e-3], momentum fields in [0, 0.99], and Muon's ``ns_coefficients`` are ones
    that converge. Float fields are sometimes whole numbers (``1`` for 1.0), which specs
    accept. A field whose validator optfn cannot read (a kind added with
    :func:`optfn.register_optimizer` whose fields have none, or a validator of your own) keeps
    its default; to vary it, give your class a strategy with
    ``hypothesis.strategies.register_type_strategy`` and draw ``st.from_type(YourSpec)``
    beside this one.

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
    limits = _Limits((lo, hi), wd)
    return st.one_of(*(spec_from_fields(OPTIMIZERS.by_tag[k].spec, limits) for k in kinds))
