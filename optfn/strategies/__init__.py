"""Hypothesis strategies for every optfn spec, and small random models to apply them to.

Property-test your own training code with random *valid* specs instead of hand-written
generators: every value these strategies generate constructs without error, and round-trips
exactly through :func:`optfn.to_dict` / :func:`optfn.from_dict`, JSON and TOML.

hypothesis is an optional dependency: ``pip install 'optfn[testing]'``.

- :func:`optimizer_specs`: ``AdamSpec``, ``AdamWSpec``, ``MuonSpec`` (``kinds=``, LR bounds);
- :func:`schedule_specs`: every schedule shape and (nested) ``Join`` of them
  (``kinds=``, ``max_total_steps=``, ``max_depth=``); :func:`joins`: always a ``Join``;
- :func:`param_rules`: ``ParamRules`` (with ``model``: rules that apply to that model),
  built from :func:`muon_routings` and :func:`layer_decays`;
- :func:`configs`: ``OptimConfig`` (optimizer + rules + schedule);
- :func:`modules`: small random module trees with tied weights, shared and frozen parameters;
- :func:`spec_strategies` / :func:`register_type_strategies`: one strategy per spec class, and
  registering them with hypothesis so that ``st.from_type(WarmupCosine)`` works.

>>> from hypothesis import given, settings
>>> from optfn import make_optimizer
>>> from optfn.strategies import modules, optimizer_specs
>>> @settings(max_examples=10, deadline=None)
... @given(modules(), optimizer_specs(kinds=("adam", "adamw")))
... def test_every_param_once(model, spec):
...     opt = make_optimizer(model, spec)
...     ids = [id(p) for g in opt.param_groups for p in g["params"]]
...     assert len(ids) == len(set(ids))
>>> test_every_param_once()
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # exercised by tests/test_strategies.py with hypothesis hidden
    raise ImportError(
        "optfn.strategies needs hypothesis, an optional dependency of optfn: "
        "pip install 'optfn[testing]' (or pip install hypothesis)"
    ) from exc

import attrs
import torch
from torch import nn

from optfn.config import OptimConfig
from optfn.io.serialization import SpecRegistry
from optfn.routing.partition import partition_params
from optfn.routing.walk import iter_modules
from optfn.schedules import (
    MAX_STEPS,
    Constant,
    CosineDecay,
    CosineRestarts,
    ExponentialDecay,
    InverseSqrt,
    Join,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    PolynomialDecay,
    Schedule,
    WarmupCosine,
    WarmupStableDecay,
)
from optfn.specs.optimizers import (
    TORCH_MUON_NS_COEFFICIENTS,
    AdamSpec,
    AdamWSpec,
    MuonSpec,
    OptimizerSpecification,
)
from optfn.specs.rules import (
    DEFAULT_MUON_EXCLUDE,
    DEFAULT_NO_DECAY_NAMES,
    NORM_LAYER_TYPES,
    LayerDecay,
    MuonRouting,
    ParamRules,
)

__all__ = [
    "OPTIMIZER_KINDS",
    "SCHEDULE_KINDS",
    "configs",
    "joins",
    "layer_decays",
    "modules",
    "muon_routings",
    "optimizer_specs",
    "param_rules",
    "register_type_strategies",
    "schedule_specs",
    "spec_strategies",
]


# ---- argument checks -------------------------------------------------------------------------


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: must be an integer {rng}, got {value!r} ({type(value).__name__})")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name}: must be an integer {rng}, got {value!r}")
    return value


def _check_real(name: str, value: object, lo: float, *, lo_open: bool) -> float:
    rng = f"{'>' if lo_open else '>='} {lo:g}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}: must be a number {rng}, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or x < lo or (lo_open and x == lo):
        raise ValueError(f"{name}: must be a finite number {rng}, got {value!r}")
    return x


def _check_bounds(name: str, lo: float, hi: float, lo_name: str, hi_name: str) -> None:
    if lo > hi:
        raise ValueError(f"{name}: {lo_name} ({lo!r}) must be <= {hi_name} ({hi!r})")


def _check_kinds(kinds: object, allowed: Sequence[str]) -> tuple[str, ...]:
    choices = ", ".join(repr(k) for k in allowed)
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise TypeError(
            f"kinds: must be a sequence of kind names like ({allowed[0]!r},), got {kinds!r}; "
            f"allowed: {choices}"
        )
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        what = f"unknown {', '.join(repr(k) for k in bad)}" if bad else "no kind given"
        raise ValueError(f"kinds: {what}; allowed: {choices}")
    return tuple(dict.fromkeys(kinds))


def _check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise TypeError(f"{name}: must be a hypothesis strategy or None, got {value!r}")


def _check_model(model: object) -> None:
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model: must be a torch.nn.Module or None, got {type(model).__name__}")


# ---- numbers ---------------------------------------------------------------------------------

#: Small whole numbers that float fields are sometimes given as (a spec accepts ``1`` for 1.0).
_WHOLE = (0, 1, 2, 10)


def _reals(
    lo: float, hi: float, *, exclude_min: bool = False, exclude_max: bool = False
) -> st.SearchStrategy[float]:
    """Finite floats in the range and, one draw in eight, a whole number in it."""
    floats = st.floats(
        lo,
        hi,
        exclude_min=exclude_min,
        exclude_max=exclude_max,
        allow_nan=False,
        allow_infinity=False,
    )
    whole = [
        i
        for i in _WHOLE
        if (lo < i or (lo == i and not exclude_min)) and (i < hi or (i == hi and not exclude_max))
    ]
    if not whole:
        return floats
    ints: st.SearchStrategy[float] = st.sampled_from(whole)
    return st.integers(0, 7).flatmap(lambda k: ints if k == 7 else floats)


#: Floors and initial values of schedules: ratios in [0, 1], the ends often, ints 0/1 too
#: (a hand-written config may say ``min_lr_scale = 1``).
_SCALES: st.SearchStrategy[float] = st.sampled_from([0, 0.0, 0.1, 0.5, 1, 1.0]) | st.floats(
    0.0, 1.0
)
#: Decay factors in (0, 1].
_GAMMAS: st.SearchStrategy[float] = st.sampled_from([0.1, 0.5, 0.9, 1.0]) | st.floats(
    0.0, 1.0, exclude_min=True
)

# ---- optimizer specs -------------------------------------------------------------------------

OPTIMIZER_KINDS: tuple[str, ...] = (
    AdamSpec.optimizer_type,
    AdamWSpec.optimizer_type,
    MuonSpec.optimizer_type,
)
"""The ``kinds`` :func:`optimizer_specs` knows: ``("adam", "adamw", "muon")``."""

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
    kinds: Sequence[str] = OPTIMIZER_KINDS,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    max_weight_decay: float = 0.5,
) -> st.SearchStrategy[OptimizerSpecification]:
    """Random valid optimizer specs of the given ``kinds`` (see :data:`OPTIMIZER_KINDS`).

    Every field varies over its valid range; the learning rates (``learning_rate`` and Muon's
    ``adamw_lr``) lie in ``[min_lr, max_lr]``, the weight decays in ``[0, max_weight_decay]``,
    ``eps`` in [1e-12, 1e-3], and Muon's ``ns_coefficients`` are ones that converge. Float
    fields are sometimes whole numbers (``1`` for 1.0), which specs accept.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import optimizer_specs
    >>> @settings(max_examples=20)
    ... @given(optimizer_specs(kinds=("adamw", "muon"), max_lr=0.1))
    ... def test_lr_in_bounds(spec):
    ...     assert spec.optimizer_type in ("adamw", "muon") and 0 < spec.learning_rate <= 0.1
    >>> test_lr_in_bounds()
    """
    kinds = _check_kinds(kinds, OPTIMIZER_KINDS)
    lo = _check_real("min_lr", min_lr, 0.0, lo_open=True)
    hi = _check_real("max_lr", max_lr, 0.0, lo_open=True)
    _check_bounds("max_lr", lo, hi, "min_lr", "max_lr")
    wd = _check_real("max_weight_decay", max_weight_decay, 0.0, lo_open=False)
    lrs, wds = _reals(lo, hi), _reals(0.0, wd)
    table: dict[str, st.SearchStrategy[Any]] = {
        "adam": _adam_like(AdamSpec, lrs, wds),
        "adamw": _adam_like(AdamWSpec, lrs, wds),
        "muon": _muon(lrs, wds),
    }
    return st.one_of(*(table[k] for k in kinds))


# ---- schedules -------------------------------------------------------------------------------


@st.composite
def _exponential(draw: st.DrawFn, budget: int) -> ExponentialDecay:
    return ExponentialDecay(gamma=draw(_GAMMAS), steps_per_epoch=draw(st.integers(1, budget)))


@st.composite
def _multi_step(draw: st.DrawFn, budget: int) -> MultiStepDecay:
    bounds = draw(
        st.lists(st.integers(1, budget), min_size=1, max_size=min(5, budget), unique=True)
    )
    return MultiStepDecay(boundaries=tuple(sorted(bounds)), gamma=draw(_GAMMAS))


@st.composite
def _warmup_cosine(draw: st.DrawFn, budget: int) -> WarmupCosine:
    total = draw(st.integers(1, budget))
    warmup = draw(st.integers(0, total) | st.just(total))
    return WarmupCosine(warmup_steps=warmup, total_steps=total, min_lr_scale=draw(_SCALES))


@st.composite
def _linear_warmup(draw: st.DrawFn, budget: int) -> LinearWarmup:
    return LinearWarmup(warmup_steps=draw(st.integers(1, budget)), init_scale=draw(_SCALES))


@st.composite
def _decay(
    draw: st.DrawFn, budget: int, cls: type[LinearDecay] | type[CosineDecay]
) -> LinearDecay | CosineDecay:
    return cls(decay_steps=draw(st.integers(1, budget)), min_lr_scale=draw(_SCALES))


@st.composite
def _polynomial(draw: st.DrawFn, budget: int) -> PolynomialDecay:
    power = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]) | st.floats(0.0, 10.0, exclude_min=True))
    return PolynomialDecay(
        decay_steps=draw(st.integers(1, budget)), power=power, min_lr_scale=draw(_SCALES)
    )


@st.composite
def _inverse_sqrt(draw: st.DrawFn, budget: int) -> InverseSqrt:
    return InverseSqrt(warmup_steps=draw(st.integers(1, budget)), min_lr_scale=draw(_SCALES))


@st.composite
def _cosine_restarts(draw: st.DrawFn, budget: int) -> CosineRestarts:
    return CosineRestarts(
        cycle_steps=draw(st.integers(2, budget)),
        cycle_mult=draw(st.integers(1, 4)),
        min_lr_scale=draw(_SCALES),
    )


@st.composite
def _wsd(draw: st.DrawFn, budget: int) -> WarmupStableDecay:
    total = draw(st.integers(1, budget))
    decay = draw(st.integers(1, total))
    return WarmupStableDecay(
        warmup_steps=draw(st.integers(0, total - decay)),
        total_steps=total,
        decay_steps=decay,
        min_lr_scale=draw(_SCALES),
        decay_shape=draw(st.sampled_from(["linear", "cosine", "1-sqrt"])),
    )


#: Per shape: the fewest steps it needs, and its strategy given the most steps it may use.
_SHAPES: dict[type[Schedule], tuple[int, Callable[[int], st.SearchStrategy[Schedule]]]] = {
    Constant: (0, lambda b: st.just(Constant())),
    ExponentialDecay: (1, _exponential),
    MultiStepDecay: (1, _multi_step),
    WarmupCosine: (1, _warmup_cosine),
    LinearWarmup: (1, _linear_warmup),
    LinearDecay: (1, lambda b: _decay(b, LinearDecay)),
    CosineDecay: (1, lambda b: _decay(b, CosineDecay)),
    PolynomialDecay: (1, _polynomial),
    InverseSqrt: (1, _inverse_sqrt),
    CosineRestarts: (2, _cosine_restarts),
    WarmupStableDecay: (1, _wsd),
}
_SCHEDULE_TAGS: dict[str, type[Schedule]] = {
    tag: cls
    for tag, cls in SpecRegistry.library().members(Schedule).items()
    if cls in _SHAPES or cls is Join
}
SCHEDULE_KINDS: tuple[str, ...] = tuple(_SCHEDULE_TAGS)
"""The ``kinds`` :func:`schedule_specs` knows: the tag of every schedule shape, and ``"join"``."""


@attrs.frozen
class _ScheduleGen:
    """Draws schedules of some shapes; a shape with step counts uses at most ``budget`` steps."""

    shapes: tuple[type[Schedule], ...]
    joins: bool
    max_pieces: int

    @property
    def fewest(self) -> int:
        return min(_SHAPES[c][0] for c in self.shapes)

    def any(self, budget: int, depth: int) -> st.SearchStrategy[Schedule]:
        leaves = [_SHAPES[c][1](budget) for c in self.shapes if _SHAPES[c][0] <= budget]
        options: list[st.SearchStrategy[Schedule]] = [st.one_of(*leaves)]
        if self.joins and depth > 0:
            options.append(self.join(budget, depth))
        return st.one_of(*options)

    def join(self, budget: int, depth: int) -> st.SearchStrategy[Join]:
        @st.composite
        def draw_join(draw: st.DrawFn) -> Join:
            room = budget - self.fewest  # a boundary leaves its piece at least `fewest` steps
            n = draw(st.integers(1, max(1, min(self.max_pieces, room + 1))))
            bounds: list[int] = []
            if n > 1:
                cuts = st.lists(st.integers(1, room), min_size=n - 1, max_size=n - 1, unique=True)
                bounds = sorted(draw(cuts))
            pieces = [draw(self.any(budget - b, depth - 1)) for b in (0, *bounds)]
            return Join(pieces=tuple(pieces), boundaries=tuple(bounds))

        return draw_join()


def _schedule_gen(
    kinds: Sequence[str],
    max_total_steps: int,
    max_depth: int,
    max_pieces: int,
) -> tuple[_ScheduleGen, tuple[str, ...]]:
    kinds = _check_kinds(kinds, SCHEDULE_KINDS)
    _check_int("max_total_steps", max_total_steps, 1, MAX_STEPS)
    _check_int("max_depth", max_depth, 0)
    _check_int("max_pieces", max_pieces, 1)
    shapes = tuple(_SCHEDULE_TAGS[k] for k in kinds if k != "join")
    if not shapes:
        raise ValueError(
            "kinds: a join needs pieces; name at least one shape besides 'join' "
            f"(allowed: {', '.join(repr(k) for k in SCHEDULE_KINDS)})"
        )
    fits = [c for c in shapes if _SHAPES[c][0] <= max_total_steps]
    if not fits:
        raise ValueError(
            f"max_total_steps: {max_total_steps} is too few for {kinds!r} "
            f"(cosine_restarts needs >= 2)"
        )
    return _ScheduleGen(shapes, "join" in kinds, max_pieces), kinds


def schedule_specs(
    *,
    kinds: Sequence[str] = SCHEDULE_KINDS,
    max_total_steps: int = 1000,
    max_depth: int = 2,
    max_pieces: int = 4,
) -> st.SearchStrategy[Schedule]:
    """Random valid schedule specs of the given ``kinds`` (see :data:`SCHEDULE_KINDS`).

    ``kinds`` names the shapes a schedule, and every piece of a join, may have; with
    ``"join"`` among them, ``Join`` s of up to ``max_pieces`` pieces, nested up to
    ``max_depth`` deep (``max_depth=0``: no joins), with strictly increasing boundaries.

    ``max_total_steps`` bounds every step number in the spec, counted from the start of the
    schedule: step counts (``warmup_steps``, ``decay_steps``, ``total_steps``,
    ``cycle_steps``, ``steps_per_epoch``), boundaries, and for a piece of a join its own step
    counts plus the boundary where it starts. So by step ``max_total_steps`` every piece has
    started and every warmup and decay has ended (a shape without an end, such as
    ``ExponentialDecay`` or ``CosineRestarts``, goes on).

    >>> from hypothesis import given, settings
    >>> from optfn import lr_curve
    >>> from optfn.strategies import schedule_specs
    >>> @settings(max_examples=20)
    ... @given(schedule_specs(kinds=("linear_warmup", "cosine_decay", "join"),
    ...                       max_total_steps=100))
    ... def test_multipliers_in_unit_interval(schedule):
    ...     curve = lr_curve(schedule, 120)
    ...     assert ((0 <= curve) & (curve <= 1)).all()
    >>> test_multipliers_in_unit_interval()
    """
    gen, kinds = _schedule_gen(kinds, max_total_steps, max_depth, max_pieces)
    return gen.any(max_total_steps, max_depth)


def joins(
    *,
    kinds: Sequence[str] = SCHEDULE_KINDS,
    max_total_steps: int = 1000,
    max_depth: int = 2,
    max_pieces: int = 4,
) -> st.SearchStrategy[Join]:
    """Random valid :class:`~optfn.Join` s: like :func:`schedule_specs`, but always a join
    (of 1 to ``max_pieces`` pieces of the given ``kinds``; pieces are joins themselves only
    when ``"join"`` is among ``kinds`` and ``max_depth >= 2``). Needs ``max_depth >= 1``.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import joins
    >>> @settings(max_examples=20)
    ... @given(joins(kinds=("linear_warmup", "cosine_decay"), max_total_steps=50))
    ... def test_boundaries(j):
    ...     assert len(j.boundaries) == len(j.pieces) - 1 and all(0 < b < 50 for b in j.boundaries)
    >>> test_boundaries()
    """
    gen, _ = _schedule_gen(kinds, max_total_steps, max_depth, max_pieces)
    _check_int("max_depth", max_depth, 1)
    return gen.join(max_total_steps, max_depth)


# ---- names (rules without a model) -------------------------------------------------------------

#: Characters of names that need quoting or escaping in TOML and JSON, and a non-ASCII one.
_NAME_CHARS = "abzAZ09_-é\"'\\=#"
_PATTERN_POOL = (
    *DEFAULT_NO_DECAY_NAMES,
    *DEFAULT_MUON_EXCLUDE,
    "*",
    "*transformer*",
    "*.gain",
    "norm.*",
    "scale",
    "[bc]*",
    "blocks.?.weight",
)
_TYPE_POOL = (*NORM_LAYER_TYPES, "Embedding", "EmbeddingBag", "Linear", "mypkg.MyNorm")
_PREFIX_POOL = ("head", "scoring_head", "encoder", "encoder.layers.0", "blocks.1", "norm")

_patterns: st.SearchStrategy[str] = st.sampled_from(_PATTERN_POOL) | st.text(
    _NAME_CHARS + "*?.", min_size=1, max_size=8
)
_type_names: st.SearchStrategy[str] = st.sampled_from(_TYPE_POOL) | st.from_regex(
    r"[A-Za-z][A-Za-z0-9_.]{0,8}", fullmatch=True
)
_prefixes: st.SearchStrategy[str] = st.sampled_from(_PREFIX_POOL) | st.lists(
    st.text(_NAME_CHARS, min_size=1, max_size=5), min_size=1, max_size=3
).map(".".join)


@st.composite
def _layer_decays(draw: st.DrawFn) -> LayerDecay:
    stem = draw(st.just(None) | st.lists(_patterns, max_size=3))
    return LayerDecay(
        rate=draw(_reals(0.0, 1.0, exclude_min=True)),
        blocks=draw(st.just("blocks") | _prefixes),
        **({} if stem is None else {"stem": tuple(stem)}),
    )


def layer_decays() -> st.SearchStrategy[LayerDecay]:
    """Random valid :class:`~optfn.LayerDecay` specs: any ``rate`` in (0, 1], ``blocks`` and
    ``stem`` names with characters that JSON and TOML must escape. For rules that apply to a
    model, use :func:`param_rules` with ``model``.

    >>> from hypothesis import given, settings
    >>> from optfn import from_toml, to_toml
    >>> from optfn.strategies import layer_decays
    >>> @settings(max_examples=20)
    ... @given(layer_decays())
    ... def test_toml_round_trip(ld):
    ...     assert from_toml(to_toml(ld)) == ld
    >>> test_toml_round_trip()
    """
    return _layer_decays()


@st.composite
def _muon_routings(draw: st.DrawFn, patterns: st.SearchStrategy[str]) -> MuonRouting:
    return MuonRouting(
        include=tuple(draw(st.lists(patterns, max_size=3))),
        exclude=tuple(draw(st.lists(patterns, max_size=3))),
        exclude_types=tuple(draw(st.lists(_type_names, max_size=3))),
        min_ndim=draw(st.integers(2, 5)),
    )


_ROUTING_PRESETS = (MuonRouting(), MuonRouting.hidden_matrices(), MuonRouting(include=("*",)))


def muon_routings() -> st.SearchStrategy[MuonRouting]:
    """Random valid :class:`~optfn.MuonRouting` specs: the presets (seed 000's default,
    ``hidden_matrices()``, every matrix) and random include/exclude patterns, module types
    and ``min_ndim`` in [2, 5].

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import muon_routings
    >>> @settings(max_examples=20)
    ... @given(muon_routings())
    ... def test_min_ndim(routing):
    ...     assert routing.min_ndim >= 2
    >>> test_min_ndim()
    """
    return st.sampled_from(_ROUTING_PRESETS) | _muon_routings(_patterns)


# ---- rules ------------------------------------------------------------------------------------


def _dotted_prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _block_containers(names: Sequence[str]) -> list[str]:
    """Qualified names ``X`` with parameters named ``X.<i>`` or ``X.<i>.<...>``."""
    out = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            if parts[i].isdecimal() and parts[i].isascii():
                out.add(".".join(parts[:i]))
    return sorted(out)


def _valid(cls: Callable[..., object], **fields: Any) -> bool:
    """Whether ``cls(**fields)`` constructs (filters names a model has that a spec rejects)."""
    try:
        cls(**fields)
    except (ValueError, TypeError):
        return False
    return True


@st.composite
def _rules_for_model(
    draw: st.DrawFn, model: nn.Module, max_lr_scales: int, scales: st.SearchStrategy[float]
) -> ParamRules:
    # The names partition_params gives (trainable parameters, each shared one once).
    names = list(partition_params(model, ParamRules.uniform()).names)
    own = sorted({type(m).__name__ for m in model.modules()})
    type_pool = [
        t
        for t in sorted({*NORM_LAYER_TYPES[:3], "LayerNorm", "GroupNorm", "Embedding", *own})
        if _valid(ParamRules, no_decay_types=(t,))
    ]
    last = sorted({n.rsplit(".", 1)[-1] for n in names})
    name_pool = sorted(
        {p for p in (*_PATTERN_POOL, *last) if _valid(ParamRules, no_decay_names=(p,))}
    )
    patterns = st.sampled_from(name_pool)
    lr_scales: dict[str, float] = {}
    if names and max_lr_scales:
        usable = sorted({"", *(p for n in names for p in _dotted_prefixes(n))})
        usable = [u for u in usable if _valid(ParamRules, lr_scales={u: 1.0})]
        picked = draw(st.lists(st.sampled_from(usable), unique=True, max_size=max_lr_scales))
        lr_scales = {prefix: draw(scales) for prefix in picked}
    layer_decay = None
    containers = [c for c in _block_containers(names) if _valid(LayerDecay, rate=1.0, blocks=c)]
    with_layer_decay: bool = draw(st.booleans()) if containers else False
    if with_layer_decay:
        stem = draw(st.just(None) | st.lists(patterns, max_size=3))
        layer_decay = LayerDecay(
            rate=draw(st.floats(0.5, 1.0)),
            blocks=draw(st.sampled_from(containers)),
            **({} if stem is None else {"stem": tuple(stem)}),
        )
    return ParamRules(
        no_decay_types=tuple(draw(st.lists(st.sampled_from(type_pool), unique=True, max_size=4))),
        no_decay_names=tuple(draw(st.lists(patterns, unique=True, max_size=4))),
        no_decay_max_ndim=draw(st.none() | st.integers(0, 2)),
        lr_scales=lr_scales,
        layer_decay=layer_decay,
        muon=draw(st.sampled_from(_ROUTING_PRESETS) | _muon_routings(patterns)),
    )


@st.composite
def _any_rules(draw: st.DrawFn, max_lr_scales: int, scales: st.SearchStrategy[float]) -> ParamRules:
    return ParamRules(
        no_decay_types=tuple(draw(st.lists(_type_names, max_size=4))),
        no_decay_names=tuple(draw(st.lists(_patterns, max_size=4))),
        no_decay_max_ndim=draw(st.none() | st.integers(0, 4)),
        lr_scales=draw(st.dictionaries(st.just("") | _prefixes, scales, max_size=max_lr_scales)),
        layer_decay=draw(st.none() | _layer_decays()),
        muon=draw(muon_routings()),
    )


def param_rules(
    model: nn.Module | None = None,
    *,
    max_lr_scales: int = 3,
    min_lr_scale: float = 0.01,
    max_lr_scale: float = 100.0,
) -> st.SearchStrategy[ParamRules]:
    """Random valid :class:`~optfn.ParamRules`, with at most ``max_lr_scales`` LR-scale
    prefixes, each scale in ``[min_lr_scale, max_lr_scale]``.

    Without ``model``: any valid rules (names with characters that JSON and TOML must escape;
    a prefix need not exist in any model). With ``model``: rules that apply to that model, so
    that ``make_optimizer(model, spec, rules)`` succeeds: every ``lr_scales`` prefix is a
    module or parameter name over trainable parameters, ``layer_decay`` (rate in
    [0.5, 1]) names a container of numbered blocks of the model (and is drawn only when the
    model has one), and the no-decay names and types are those of the model or the usual
    ones. The Muon routing may pick no parameter (``make_optimizer`` then warns
    :class:`~optfn.RoutingWarning`).

    >>> import torch
    >>> from hypothesis import given, settings
    >>> from optfn import make_optimizer, AdamWSpec
    >>> from optfn.strategies import param_rules
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    >>> @settings(max_examples=20, deadline=None)
    ... @given(param_rules(model))
    ... def test_rules_apply(rules):
    ...     opt = make_optimizer(model, AdamWSpec(), rules)
    ...     assert sum(len(g["params"]) for g in opt.param_groups) == 4
    >>> test_rules_apply()
    """
    _check_model(model)
    _check_int("max_lr_scales", max_lr_scales, 0)
    lo = _check_real("min_lr_scale", min_lr_scale, 0.0, lo_open=True)
    hi = _check_real("max_lr_scale", max_lr_scale, 0.0, lo_open=True)
    _check_bounds("max_lr_scale", lo, hi, "min_lr_scale", "max_lr_scale")
    presets = [s for s in (0.1, 0.5, 2.0, 5.0, 10.0) if lo <= s <= hi]
    scales = (st.sampled_from(presets) if presets else st.nothing()) | _reals(lo, hi)
    if model is None:
        return _any_rules(max_lr_scales, scales)
    return _rules_for_model(model, max_lr_scales, scales)


# ---- configs ---------------------------------------------------------------------------------


def configs(
    model: nn.Module | None = None,
    *,
    optimizers: st.SearchStrategy[OptimizerSpecification] | None = None,
    schedules: st.SearchStrategy[Schedule] | None = None,
    rules: st.SearchStrategy[ParamRules] | None = None,
) -> st.SearchStrategy[OptimConfig]:
    """Random valid :class:`~optfn.OptimConfig` s: an optimizer spec, rules and a schedule.

    Each part comes from the strategy given, by default :func:`optimizer_specs`,
    :func:`schedule_specs` and :func:`param_rules` (for ``model`` when one is given, so that
    ``make_optimizer(model, cfg.optimizer, cfg.rules)`` succeeds). Pass your own to bound them:
    ``configs(model, schedules=schedule_specs(max_total_steps=50))``.

    >>> import torch
    >>> from hypothesis import given, settings
    >>> from optfn import from_json, to_json
    >>> from optfn.strategies import configs, optimizer_specs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(configs(optimizers=optimizer_specs(kinds=("adamw",))))
    ... def test_json_round_trip(cfg):
    ...     assert from_json(to_json(cfg)) == cfg
    >>> test_json_round_trip()
    """
    _check_model(model)
    _check_strategy("optimizers", optimizers)
    _check_strategy("schedules", schedules)
    _check_strategy("rules", rules)
    return st.builds(
        OptimConfig,
        optimizer=optimizer_specs() if optimizers is None else optimizers,
        rules=param_rules(model) if rules is None else rules,
        schedule=schedule_specs() if schedules is None else schedules,
    )


# ---- random module trees ----------------------------------------------------------------


class _Leaf(nn.Module):
    """A module with raw parameters of several ranks (like a ViT's tokens and scales)."""

    def __init__(self, dim: int, with_tokens: bool) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.gain = nn.Parameter(torch.ones(dim))
        if with_tokens:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 3, dim))


class _Node(nn.Module):
    """A container whose children are drawn at random."""


def _layer(kind: str, dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(dim, dim)
    if kind == "linear_nobias":
        return nn.Linear(dim, dim, bias=False)
    if kind == "layernorm":
        return nn.LayerNorm(dim)
    if kind == "batchnorm":
        return nn.BatchNorm1d(dim)
    if kind == "groupnorm":
        return nn.GroupNorm(1, dim)
    if kind == "embedding":
        return nn.Embedding(5, dim)
    if kind == "conv":
        return nn.Conv1d(dim, dim, 3)
    if kind == "attention":
        return nn.MultiheadAttention(dim, 1)  # in_proj_weight, in_proj_bias, out_proj
    if kind == "leaf":
        return _Leaf(dim, with_tokens=False)
    return _Leaf(dim, with_tokens=True)


_LAYER_KINDS = (
    "linear",
    "linear_nobias",
    "layernorm",
    "batchnorm",
    "groupnorm",
    "embedding",
    "conv",
    "attention",
    "leaf",
    "tokens",
)
_CHILD_NAMES = ("encoder", "transformer", "blocks", "head", "scoring_head", "norm", "proj")


@st.composite
def _tree(draw: st.DrawFn, depth: int, dim: int, max_children: int) -> nn.Module:
    node = _Node()
    n_children = draw(st.integers(1, max_children))
    names = draw(
        st.lists(
            st.sampled_from(_CHILD_NAMES), min_size=n_children, max_size=n_children, unique=True
        )
    )
    for name in names:
        if name == "blocks":
            count = draw(st.integers(1, 3))
            node.add_module(name, nn.ModuleList([nn.Linear(dim, dim) for _ in range(count)]))
        elif depth > 0 and draw(st.booleans()):
            node.add_module(name, draw(_tree(depth - 1, dim, max_children)))
        else:
            node.add_module(name, _layer(draw(st.sampled_from(_LAYER_KINDS)), dim))
    return node


@st.composite
def _modules(
    draw: st.DrawFn, max_depth: int, shared: bool, frozen: bool, max_children: int
) -> nn.Module:
    dim = draw(st.sampled_from([2, 3, 4]))
    root = draw(_tree(max_depth, dim, max_children))
    mods = [m for _, m in iter_modules(root, "")]
    if shared and draw(st.booleans()):
        linears = [m for m in mods if type(m) is nn.Linear]
        if len(linears) >= 2:
            linears[-1].weight = linears[0].weight  # a tied weight
        root.add_module("alias", mods[-1])  # the same module under a second name
    params = list(root.parameters())
    if frozen and len(params) > 1:
        mask = draw(st.lists(st.booleans(), min_size=len(params), max_size=len(params)))
        for p, freeze in zip(params[1:], mask[1:], strict=True):
            if freeze:
                p.requires_grad_(False)
    return root


def modules(
    *,
    max_depth: int = 2,
    shared: bool = True,
    frozen: bool = True,
    max_children: int = 3,
) -> st.SearchStrategy[nn.Module]:
    """Small random module trees (for routing and grouping properties; they have no
    ``forward``): up to ``max_children`` children per container, nested up to ``max_depth``
    deep, of linear/conv/norm/embedding/attention layers, raw tokens and scalars, numbered
    ``blocks`` lists; with ``shared``, sometimes a tied weight and a sub-module under a second
    name; with ``frozen``, some frozen parameters. At least one parameter stays trainable.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import modules
    >>> @settings(max_examples=20)
    ... @given(modules(max_depth=1, frozen=False))
    ... def test_all_trainable(model):
    ...     assert all(p.requires_grad for p in model.parameters())
    >>> test_all_trainable()
    """
    _check_int("max_depth", max_depth, 0)
    _check_int("max_children", max_children, 1, len(_CHILD_NAMES))
    for name, flag in (("shared", shared), ("frozen", frozen)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: must be True or False, got {flag!r}")
    return _modules(max_depth, shared, frozen, max_children)


# ---- one strategy per spec class ---------------------------------------------------------------


def spec_strategies() -> dict[type, st.SearchStrategy[Any]]:
    """One strategy per optfn spec class, and for the family bases ``OptimizerSpecification``
    and ``Schedule`` (any member), with the default bounds.

    >>> from optfn import WarmupCosine
    >>> from optfn.strategies import spec_strategies
    >>> table = spec_strategies()
    >>> WarmupCosine in table
    True
    """
    table: dict[type, st.SearchStrategy[Any]] = {
        OptimizerSpecification: optimizer_specs(),
        AdamSpec: optimizer_specs(kinds=(AdamSpec.optimizer_type,)),
        AdamWSpec: optimizer_specs(kinds=(AdamWSpec.optimizer_type,)),
        MuonSpec: optimizer_specs(kinds=(MuonSpec.optimizer_type,)),
        Schedule: schedule_specs(),
    }
    for tag, cls in _SCHEDULE_TAGS.items():
        table[cls] = joins() if cls is Join else schedule_specs(kinds=(tag,))
    table.update(
        {
            LayerDecay: layer_decays(),
            MuonRouting: muon_routings(),
            ParamRules: param_rules(),
            OptimConfig: configs(),
        }
    )
    return table


def register_type_strategies() -> dict[type, st.SearchStrategy[Any]]:
    """Register :func:`spec_strategies` with hypothesis, so that ``st.from_type(cls)``,
    ``st.builds`` and ``@given(x=...)`` with type hints produce valid optfn specs. Call it
    once (in a ``conftest.py``); calling it again re-registers the same strategies. Returns
    what it registered.

    >>> from hypothesis import given, settings, strategies as st
    >>> from optfn import WarmupCosine
    >>> from optfn.strategies import register_type_strategies
    >>> _ = register_type_strategies()
    >>> @settings(max_examples=20)
    ... @given(st.from_type(WarmupCosine))
    ... def test_warmup_within_total(s):
    ...     assert s.warmup_steps <= s.total_steps
    >>> test_warmup_within_total()
    """
    table = spec_strategies()
    for cls, strategy in table.items():
        st.register_type_strategy(cls, strategy)
    return table
