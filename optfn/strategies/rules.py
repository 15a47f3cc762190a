"""Strategies of routing rules: ``ParamRules``, ``MuonRouting``, ``LayerDecay``.

>>> from hypothesis import given, settings
>>> from optfn import ParamRules
>>> from optfn.strategies import param_rules
>>> @settings(max_examples=5)
... @given(param_rules())
... def test_rules(rules):
...     assert isinstance(rules, ParamRules)
>>> test_rules()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st
from torch import nn

from optfn.routing.labels import rule_matches
from optfn.routing.partition import partition_params
from optfn.specs.labels import LabelRule
from optfn.specs.rules import (
    DEFAULT_MUON_EXCLUDE,
    DEFAULT_NO_DECAY_NAMES,
    NORM_LAYER_TYPES,
    NORM_NAME_PATTERNS,
    LayerDecay,
    MuonRouting,
    ParamRules,
)
from optfn.strategies._args import (
    _check_bounds,
    _check_int,
    _check_model,
    _check_real,
    _reals,
)

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
_TYPE_POOL = (
    *NORM_LAYER_TYPES,
    *NORM_NAME_PATTERNS,
    "Embedding",
    "EmbeddingBag",
    "Linear",
    "mypkg.MyNorm",
    "torch.nn.modules.normalization.LayerNorm",
    "Batch*",
)
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


def _stem_kwargs(stem: list[str] | None) -> dict[str, Any]:
    """``{"stem": ...}`` when one was drawn, else nothing (LayerDecay's default stem)."""
    return {} if stem is None else {"stem": tuple(stem)}


@st.composite
def _layer_decays(draw: st.DrawFn) -> LayerDecay:
    stem = draw(st.just(None) | st.lists(_patterns, max_size=3))
    return LayerDecay(
        rate=draw(_reals(0.0, 1.0, exclude_min=True)),
        blocks=draw(st.just("blocks") | _prefixes),
        last_block=tuple(draw(st.lists(_patterns, max_size=2))),
        **_stem_kwargs(stem),
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
        min_matrix_side=draw(st.integers(1, 4)),
        min_matrix_size=draw(st.sampled_from((1, 4, 16, 1024))),
        exclude_grouped_conv=draw(st.booleans()),
    )


_ROUTING_PRESETS = (MuonRouting(), MuonRouting.hidden_matrices(), MuonRouting(include=("*",)))
_RULES_PRESETS = (ParamRules(), ParamRules.uniform(), ParamRules.timm(), ParamRules.hf())


def muon_routings() -> st.SearchStrategy[MuonRouting]:
    """Random valid :class:`~optfn.MuonRouting` specs: the presets (the spec-method API's default,
    ``hidden_matrices()``, every matrix) and random include/exclude patterns, module types
    ``min_ndim`` in [2, 5], ``min_matrix_side`` in [1, 4] and either ``exclude_grouped_conv``.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import muon_routings
    >>> @settings(max_examples=20)
    ... @given(muon_routings())
    ... def test_min_ndim(routing):
    ...     assert routing.min_ndim >= 2
    >>> test_min_ndim()
    """
    return st.sampled_from(_ROUTING_PRESETS) | _muon_routings(_patterns)


_LABELS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True).filter(
    lambda s: s != "default"
)
_HYPER = st.fixed_dictionaries(
    {},
    optional={
        "betas": st.tuples(st.floats(0.0, 0.999), st.floats(0.0, 0.999)),
        "eps": st.floats(1e-12, 1e-3),
        "momentum": st.floats(0.0, 0.99),
        "nesterov": st.booleans(),
    },
)


@st.composite
def _label_rules(draw: st.DrawFn, label: st.SearchStrategy[str] = _LABELS) -> LabelRule:
    wd = draw(st.sampled_from(("none", "scale", "value")))
    lo = draw(st.none() | st.integers(0, 3))
    hi = draw(st.none() | st.integers(lo or 0, 4))
    return LabelRule(
        label=draw(label),
        names=tuple(draw(st.lists(_patterns, max_size=3))),
        types=tuple(draw(st.lists(_type_names, max_size=2))),
        min_ndim=lo,
        max_ndim=hi,
        route=draw(st.none() | st.sampled_from(("adamw", "muon", "sgd"))),
        lr_scale=draw(st.just(0.0) | _reals(0.0, 100.0)),
        weight_decay_scale=draw(_reals(0.0, 10.0)) if wd == "scale" else None,
        weight_decay=draw(_reals(0.0, 1.0)) if wd == "value" else None,
        hyper=draw(_HYPER),
    )


def label_rules() -> st.SearchStrategy[LabelRule]:
    """Random valid :class:`~optfn.LabelRule` specs (not tied to a model or an optimizer: their
    routes and ``hyper`` keys may not apply to one; for rules that apply to a model use
    :func:`param_rules` with ``model``).

    >>> from hypothesis import given, settings
    >>> from optfn import from_toml, to_toml
    >>> from optfn.strategies import label_rules
    >>> @settings(max_examples=20)
    ... @given(label_rules())
    ... def test_toml_round_trip(rule):
    ...     assert from_toml(to_toml(rule)) == rule
    >>> test_toml_round_trip()
    """
    return _label_rules()


def _distinct_labels(rules: list[LabelRule]) -> tuple[LabelRule, ...]:
    seen: set[str] = set()
    out = []
    for r in rules:
        if r.label not in seen:
            seen.add(r.label)
            out.append(r)
    return tuple(out)


@st.composite
def _labels_for_model(
    draw: st.DrawFn, model: nn.Module, names: list[str], scales: st.SearchStrategy[float]
) -> tuple[LabelRule, ...]:
    """Up to 3 rules, each winning at least one parameter (first match wins): literal names
    of the model, an LR multiplier (0 included) and a weight-decay multiplier or value."""
    if not names:
        return ()
    params = dict(partition_params(model, ParamRules.uniform()).entry(n)[:2] for n in names)
    won: set[str] = set()
    out: list[LabelRule] = []
    for k in range(draw(st.integers(0, 3))):
        free = [n for n in names if n not in won]
        if not free:
            break
        picked = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
        wd = draw(st.sampled_from(("none", "scale", "value")))
        rule = LabelRule(
            label=f"label{k}",
            names=tuple(picked),
            lr_scale=draw(st.just(0.0) | scales),
            weight_decay_scale=draw(st.floats(0.0, 2.0)) if wd == "scale" else None,
            weight_decay=draw(st.floats(0.0, 0.5)) if wd == "value" else None,
        )
        wins = {n for n in free if rule_matches(rule, n, params[n], None)}
        if wins:  # a pattern can match other names too (a dotted tail): those are won as well
            won |= wins
            out.append(rule)
    return tuple(out)


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
        for t in sorted(
            {*NORM_LAYER_TYPES[:3], *NORM_NAME_PATTERNS, "LayerNorm", "Embedding", *own}
        )
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
            last_block=tuple(draw(st.lists(patterns, max_size=2))),
            **_stem_kwargs(stem),
        )
    labels = draw(_labels_for_model(model, names, scales))
    preset = draw(st.none() | st.sampled_from(_RULES_PRESETS))
    if preset is not None:  # a preset's decay rules, this model's LR scales
        return attrs.evolve(preset, lr_scales=lr_scales, layer_decay=layer_decay, labels=labels)
    return ParamRules(
        no_decay_types=tuple(draw(st.lists(st.sampled_from(type_pool), unique=True, max_size=4))),
        no_decay_names=tuple(draw(st.lists(patterns, unique=True, max_size=4))),
        no_decay_max_ndim=draw(st.none() | st.integers(0, 2)),
        model_no_weight_decay=draw(st.booleans()),
        lr_scales=lr_scales,
        layer_decay=layer_decay,
        muon=draw(st.sampled_from(_ROUTING_PRESETS) | _muon_routings(patterns)),
        labels=labels,
    )


@st.composite
def _any_rules(draw: st.DrawFn, max_lr_scales: int, scales: st.SearchStrategy[float]) -> ParamRules:
    return ParamRules(
        no_decay_types=tuple(draw(st.lists(_type_names, max_size=4))),
        no_decay_names=tuple(draw(st.lists(_patterns, max_size=4))),
        no_decay_max_ndim=draw(st.none() | st.integers(0, 4)),
        model_no_weight_decay=draw(st.booleans()),
        lr_scales=draw(st.dictionaries(st.just("") | _prefixes, scales, max_size=max_lr_scales)),
        layer_decay=draw(st.none() | _layer_decays()),
        muon=draw(muon_routings()),
        labels=_distinct_labels(draw(st.lists(_label_rules(), max_size=3))),
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
