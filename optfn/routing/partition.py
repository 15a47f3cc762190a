"""Partition: which trainable parameter goes where, and why.

:func:`partition_params` applies :class:`~optfn.ParamRules` to one or more models and returns a
:class:`Partition`: plain data, one row per trainable parameter in module registration order,
with its qualified name, route (``"adam"``, ``"adamw"`` or ``"muon"``), whether it decays, its
LR scale, and the reasons (built only when asked for).

>>> import torch
>>> from optfn import ParamRules, partition_params
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
>>> part = partition_params(model, ParamRules(lr_scales={"1": 2.0}))
>>> [(e.name, e.decay, e.lr_scale) for e in part]
[('0.weight', True, 1.0), ('0.bias', False, 1.0), ('1.weight', False, 2.0), ('1.bias', False, 2.0)]
>>> part.reasons("0.bias")
('bias -> no weight decay',)
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
import warnings
from collections.abc import Iterator
from typing import NamedTuple

import attrs
from torch import nn

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.table import kind_of
from optfn.routing.explain import explain_table, row_reasons
from optfn.routing.labels import (
    BY_NAME,
    BY_NAME_NDIM,
    CONSTANT,
    LabelPlan,
    LabelPlanner,
    check_routes,
    check_winners,
    label_specs,
)
from optfn.routing.patterns import WILDCARDS, NameMatcher, matching_type, name_matcher
from optfn.routing.walk import NO_SCALE, ModelsLike, Scale, named_models, unwrap, wrapper_attr
from optfn.specs.labels import DEFAULT_LABEL, LabelRule
from optfn.specs.optimizers import AdamWSpec, OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = ["ParamEntry", "Partition", "RoutingWarning", "partition_params"]


class RoutingWarning(UserWarning):
    """A routing rule had no effect where one was expected (e.g. Muon got no parameter)."""


class ParamEntry(NamedTuple):
    """One trainable parameter of a :class:`Partition`."""

    name: str
    param: nn.Parameter
    route: str
    decay: bool
    lr_scale: float
    label: str = DEFAULT_LABEL


# Reason codes, kept compact so that partitioning stays one cheap pass; Partition.reasons()
# turns them into text. Decay: ("type", class name) | ("name", None) | ("ndim", n) | None.
_DecayWhy = tuple[str, object] | None
_BY_NAME: _DecayWhy = ("name", None)


@attrs.frozen(eq=False)
class Partition:
    """The result of :func:`partition_params` (columns, one row per trainable parameter).

    Iterate for :class:`ParamEntry` rows; :meth:`reasons` and :meth:`explain` say why.
    """

    names: tuple[str, ...]
    params: tuple[nn.Parameter, ...]
    routes: tuple[str, ...]
    decays: tuple[bool, ...]
    lr_scales: tuple[float, ...]
    labels: tuple[str, ...]
    rules: ParamRules
    spec: OptimizerSpecification
    _why_decay: tuple[_DecayWhy, ...] = attrs.field(alias="why_decay", repr=False)
    _why_prefix: tuple[str | None, ...] = attrs.field(alias="why_prefix", repr=False)
    _why_route: tuple[tuple[str, str], ...] = attrs.field(alias="why_route", repr=False)
    _depths: tuple[int, ...] = attrs.field(alias="depths", repr=False)
    _num_blocks: int = attrs.field(alias="num_blocks", repr=False)
    #: per row, the index of the LabelRule that won it (-1: none)
    _why_label: tuple[int, ...] = attrs.field(alias="why_label", repr=False)
    #: (rule index, route) -> the spec with that label's hyper-parameters on that route
    _label_specs: dict[tuple[int, str], OptimizerSpecification] = attrs.field(
        alias="label_specs", repr=False
    )
    #: trainable parameters an ``exclude`` label left out of the optimizer
    left_out: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[ParamEntry]:
        return map(
            ParamEntry,
            self.names,
            self.params,
            self.routes,
            self.decays,
            self.lr_scales,
            self.labels,
        )

    def entry(self, name: str) -> ParamEntry:
        """The row of the parameter called ``name`` (KeyError listing close names if absent)."""
        i = self._index(name)
        return ParamEntry(
            self.names[i],
            self.params[i],
            self.routes[i],
            self.decays[i],
            self.lr_scales[i],
            self.labels[i],
        )

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            close = difflib.get_close_matches(name, self.names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"no trainable parameter named {brief(name)}{hint}") from None

    def reasons(self, name: str) -> tuple[str, ...]:
        """Why the parameter ``name`` has its route, decay and LR scale, in words."""
        return self._reasons_at(self._index(name))

    def _reasons_at(self, i: int) -> tuple[str, ...]:
        return row_reasons(self, i)

    def explain(self) -> str:
        """A plain-text table: name, shape, route, decay, LR scale, reasons."""
        return explain_table(self)


def _listed_no_decay(mod: nn.Module, mname: str) -> tuple[set[str], re.Pattern[str] | None]:
    """The parameter names (qualified) that ``mod.no_weight_decay`` lists (a method, as timm
    writes it, or a property or attribute holding the names), and one regex of its fnmatch
    patterns, which match names relative to ``mod``."""
    where = "model_no_weight_decay"
    what = f"{type(mod).__name__}.no_weight_decay of module {brief(mname or '<root>')}"
    try:
        listed = mod.no_weight_decay
        if callable(listed):
            listed = listed()
    except Exception as exc:
        raise SpecError(
            "ParamRules",
            where,
            f"{what} raised {type(exc).__name__}: {brief(str(exc))}; fix it or "
            "set model_no_weight_decay=False",
        ) from exc
    if isinstance(listed, str) or not isinstance(listed, (set, frozenset, list, tuple)):
        raise SpecTypeError(
            "ParamRules",
            where,
            f"{what} must give a set, list or tuple of parameter names, got {brief(listed)}",
        )
    base = f"{mname}." if mname else ""
    names: set[str] = set()
    patterns: list[str] = []
    for n in listed:
        if not isinstance(n, str):
            raise SpecTypeError(
                "ParamRules", where, f"{what} must give parameter names, got {brief(n)}"
            )
        if WILDCARDS & set(n):
            patterns.append(n)
        else:
            names.add(base + n)
    regex = re.compile("|".join(fnmatch.translate(q) for q in patterns)) if patterns else None
    return names, regex


def _listed_by_pattern(name: str, patterns: dict[str, tuple[re.Pattern[str], str]]) -> str | None:
    """The class of the module whose ``no_weight_decay`` patterns match ``name`` relative to
    that module (its dotted prefix), else ``None``: one lookup per dot of the name."""
    hit = patterns.get("")
    if hit is not None and hit[0].fullmatch(name):
        return hit[1]
    at = name.find(".")
    while at >= 0:
        hit = patterns.get(name[: at + 1])
        if hit is not None and hit[0].fullmatch(name, at + 1):
            return hit[1]
        at = name.find(".", at + 1)
    return None


# Frozen specs, so one shared default instance each is safe (and saves re-validating them).
_DEFAULT_RULES = ParamRules()
_DEFAULT_SPEC = AdamWSpec()

_BLOCK_INDEX = re.compile(r"(\d+)(?:\.|\Z)")


def partition_params(
    models: ModelsLike,
    rules: ParamRules | None = None,
    *,
    spec: OptimizerSpecification | None = None,
) -> Partition:
    """Apply ``rules`` to every trainable parameter of ``models``.

    ``models``: one module, a sequence of modules (names prefixed ``"0."``, ``"1."``...) or a
    mapping ``{name: module}`` (names prefixed ``"name."``). Wrappers from
    ``DistributedDataParallel`` and ``torch.compile`` are seen through, so names (and rules)
    are those of the bare model. Frozen parameters are left out; a parameter shared between
    modules or models appears once, under its first name. ``spec`` (default ``AdamWSpec()``)
    decides the routes: ``spec.optimizer_type`` for every parameter, except that with a
    ``MuonSpec`` the parameters that ``rules.muon`` picks go to ``"muon"``. As the spec-method API
    defines, LR scales apply only to the AdamW part of a Muon setup.

    Raises ``ValueError`` when a prefix of ``rules.lr_scales`` or the ``blocks`` of
    ``rules.layer_decay`` matches no parameter. Warns (:class:`RoutingWarning`) when a
    ``MuonSpec`` gets no Muon parameter: everything is then trained with AdamW, which is
    legal but rarely meant.

    >>> import torch
    >>> from optfn import MuonSpec, partition_params
    >>> m = torch.nn.ModuleDict({"transformer": torch.nn.Linear(8, 8)})
    >>> [(e.name, e.route) for e in partition_params(m, spec=MuonSpec())]
    [('transformer.weight', 'muon'), ('transformer.bias', 'adamw')]
    """
    rules = _DEFAULT_RULES if rules is None else rules
    spec = _DEFAULT_SPEC if spec is None else spec
    if not isinstance(rules, ParamRules):
        raise SpecTypeError("", "rules", f"expected ParamRules, got {type(rules).__name__}")
    kind = kind_of(spec)
    matrix_route = kind.matrix_route
    label_rules = rules.labels
    check_routes(label_rules, kind)

    with_owners = matrix_route is not None or any(r.types for r in label_rules)
    planner = LabelPlanner(label_rules) if label_rules else None
    rows = _collect(models, rules, with_owners=with_owners, planner=planner)
    _check_prefixes(rules, rows)
    if label_rules:
        winners = rows.winners
        owners = rows.owners if with_owners else None
        check_winners(label_rules, winners, rows.names, rows.params, owners)
    else:
        winners = [-1] * len(rows.names)
    left_out: tuple[str, ...] = ()
    if any(r.exclude for r in label_rules):
        winners, left_out = _drop_excluded(label_rules, rows, winners, with_owners)
    why_route: list[tuple[str, str]] = []
    if matrix_route is None:
        routes = [kind.default_route.name] * len(rows.names)
    else:
        routes, why_route = _matrix_routes(rows, rules.muon, kind.default_route.name, matrix_route)
    if label_rules:
        _label_routes(label_rules, winners, routes, why_route)
    if matrix_route is not None:
        _matrix_lr_scales(rules, rows, routes, matrix_route)
    depths, num_blocks = _apply_layer_decay(rules.layer_decay, rows, routes, matrix_route)
    specs = {}
    if label_rules:
        for i, w in enumerate(winners):
            if w >= 0 and (scale := label_rules[w].lr_scale) != 1.0:
                rows.lr_scales[i] *= scale
        used = {(w, r) for w, r in zip(winners, routes, strict=True) if w >= 0}
        specs = label_specs(label_rules, kind, spec, used)
    label_names = [r.label for r in label_rules]

    return Partition(
        names=tuple(rows.names),
        params=tuple(rows.params),
        routes=tuple(routes),
        decays=tuple([w is None for w in rows.why_decay]),
        lr_scales=tuple(rows.lr_scales),
        labels=(
            tuple([label_names[w] if w >= 0 else DEFAULT_LABEL for w in winners])
            if label_rules
            else (DEFAULT_LABEL,) * len(winners)
        ),
        rules=rules,
        spec=spec,
        why_decay=tuple(rows.why_decay),
        why_prefix=tuple(rows.why_prefix),
        why_route=tuple(why_route),
        depths=tuple(depths),
        num_blocks=num_blocks,
        why_label=tuple(winners),
        label_specs=specs,
        left_out=left_out,
    )


def _drop_excluded(
    rules: tuple[LabelRule, ...], rows: _Rows, winners: list[int], with_owners: bool
) -> tuple[list[int], tuple[str, ...]]:
    """Remove the rows that an ``exclude`` label won from every column; their names."""
    keep = [i for i, w in enumerate(winners) if w < 0 or not rules[w].exclude]
    gone = tuple(rows.names[i] for i, w in enumerate(winners) if w >= 0 and rules[w].exclude)
    for col in ("names", "params", "lr_scales", "why_decay", "why_prefix"):
        values = getattr(rows, col)
        setattr(rows, col, [values[i] for i in keep])
    if with_owners:
        rows.owners = [rows.owners[i] for i in keep]
    kept_before = [0] * (len(winners) + 1)  # rows kept before each old row
    for i in keep:
        kept_before[i + 1] = 1
    for i in range(len(winners)):
        kept_before[i + 1] += kept_before[i]
    rows.model_starts = [(kept_before[start], p) for start, p in rows.model_starts]
    return [winners[i] for i in keep], gone


def _label_routes(
    rules: tuple[LabelRule, ...],
    winners: list[int],
    routes: list[str],
    why_route: list[tuple[str, str]],
) -> None:
    """A label's ``route`` overrides the route the other rules chose."""
    for i, w in enumerate(winners):
        if w >= 0 and (route := rules[w].route) is not None:
            routes[i] = route
            if why_route:
                why_route[i] = (route, f"label {rules[w].label!r}")


@attrs.define
class _Rows:
    """The columns :func:`_collect` fills, one row per trainable parameter."""

    names: list[str] = attrs.Factory(list)
    params: list[nn.Parameter] = attrs.Factory(list)
    lr_scales: list[float] = attrs.Factory(list)
    why_decay: list[_DecayWhy] = attrs.Factory(list)
    why_prefix: list[str | None] = attrs.Factory(list)
    owners: list[nn.Module] = attrs.Factory(list)  # module of each row (with a matrix route)
    used_prefixes: set[str] = attrs.Factory(set)
    shared: dict[str, str] = attrs.Factory(dict)  # a tied parameter's other name -> its row's
    model_starts: list[tuple[int, str]] = attrs.Factory(list)  # (first row, model prefix)
    winners: list[int] = attrs.Factory(list)  # the winning label rule (with a planner)


def _collect(
    models: ModelsLike,
    rules: ParamRules,
    *,
    with_owners: bool,
    planner: LabelPlanner | None = None,
) -> _Rows:
    """Walk the models once: every trainable parameter, its decay reason and LR scale, and
    with a ``planner`` the label rule that wins it (``rows.winners``).

    The walk of :func:`~optfn.routing.walk.walk` is inlined here (one loop, no generator).
    Per-module facts are computed once per module (or once per module type); the per-
    parameter loop only appends to columns. Reasons are kept as small shared codes.
    """
    nd_names = name_matcher(rules.no_decay_names)
    nd_match = nd_names.test if nd_names.patterns else None
    nd_types = rules.no_decay_types
    max_ndim = rules.no_decay_max_ndim
    listed: set[str] = set()  # what modules' no_weight_decay list, qualified
    listed_patterns: dict[str, tuple[re.Pattern[str], str]] = {}  # module prefix -> (regex, class)
    listed_by: dict[str, str] = {}  # qualified name -> the listing module's class
    honour_listing = rules.model_no_weight_decay
    # once per class: the wrapper attribute (see through), does it list names, is it a
    # no-decay type
    class_info: dict[type, tuple[str | None, bool, _DecayWhy]] = {}
    scales = dict(rules.lr_scales)
    get_scale = scales.get
    rows = _Rows()
    names, params, why_decay, owners = rows.names, rows.params, rows.why_decay, rows.owners
    lr_scales, why_prefix, used_prefixes = rows.lr_scales, rows.why_prefix, rows.used_prefixes
    winners = rows.winners
    seen_params: dict[int, int] = {}  # id -> row
    own_prefixes: list[int] = []  # rows whose full parameter name is itself an lr_scales key
    root_scale: Scale = (scales[""], "") if "" in scales else NO_SCALE
    # a parameter's own full name is an lr_scales key only if its last component is one's
    scale_lasts = {k.rpartition(".")[2] for k in scales}
    # the no-decay name test per parameter name, where that name alone decides it
    nd_by_pname = _PnameVerdicts(nd_names) if nd_match is not None else None
    # labels: the plan of each (module-path state, module class); the state stays 0 unless
    # a rule has "M.*" patterns
    plans = planner.plans if planner is not None else {}
    by_path = planner is not None and bool(planner.module_patterns)
    by_last = planner.by_last if planner is not None else {}
    count = 0  # rows so far (len(names))
    plan: LabelPlan | None = None
    for prefix, root in named_models(models):
        rows.model_starts.append((len(names), prefix))
        root = unwrap(root)
        seen: set[int] = set()
        # the root as the one child of a parent named "": its name is prefix[:-1]
        stack: list[tuple[str, Iterator[tuple[str, nn.Module | None]], Scale, int]] = [
            ("", iter(((prefix[:-1], root),)), root_scale, 0)
        ]
        while stack:
            parent, children, parent_scale, parent_state = stack[-1]
            for key, mod in children:
                if mod is None:
                    continue
                cls = type(mod)
                info = class_info.get(cls) or _class_info(class_info, cls, honour_listing, nd_types)
                if info[0] is not None:  # a wrapper
                    mod = unwrap(mod)
                    cls = type(mod)
                    info = class_info.get(cls) or _class_info(
                        class_info, cls, honour_listing, nd_types
                    )
                mid = id(mod)
                if mid in seen:
                    continue
                seen.add(mid)
                mname = parent + key
                own = get_scale(mname) if scales else None
                cur = (own, mname) if own is not None else parent_scale
                state = parent_state
                if by_path and (key in by_last or "." in key):
                    state = planner.state(parent_state, mname, key)  # type: ignore[union-attr]
                _, lists, type_why = info
                # before the parameter check: a model may list only its children's. An
                # instance attribute counts too (timm asks hasattr(model, "no_weight_decay")).
                if lists or (honour_listing and "no_weight_decay" in mod.__dict__):
                    more, regex = _listed_no_decay(mod, mname)
                    owner = cls.__name__
                    for n in more:
                        listed_by.setdefault(n, owner)
                    listed |= more
                    if regex is not None:
                        listed_patterns.setdefault(f"{mname}." if mname else "", (regex, owner))
                base = f"{mname}." if mname else ""
                plist = mod._parameters
                if plist:
                    if planner is not None:
                        plan = plans.get((state, cls)) or planner.plan(state, cls)
                    first = count
                    for pname, p in plist.items():
                        if p is None or not p.requires_grad:
                            continue
                        pid = id(p)
                        name = base + pname
                        if pid in seen_params:
                            if scales:  # to explain a prefix that covers only tied parameters
                                rows.shared.setdefault(name, names[seen_params[pid]])
                            continue
                        seen_params[pid] = count
                        count += 1
                        if type_why is not None:
                            dwhy: _DecayWhy = type_why
                        elif nd_by_pname is not None and (
                            (hit := nd_by_pname[pname]) or (hit is None and nd_match(name, pname))  # type: ignore[misc]
                        ):
                            dwhy = _BY_NAME
                        elif listed and name in listed:
                            dwhy = ("model", listed_by[name])
                        elif listed_patterns and (
                            lister := _listed_by_pattern(name, listed_patterns)
                        ):
                            dwhy = ("model", lister)
                        elif max_ndim is not None and p.ndim <= max_ndim:
                            dwhy = ("ndim", p.ndim)
                        else:
                            dwhy = None
                        names.append(name)
                        params.append(p)
                        why_decay.append(dwhy)
                        if with_owners:
                            owners.append(mod)
                        if pname in scale_lasts and name in scales:
                            own_prefixes.append(count - 1)
                        if plan is not None:
                            kind = plan.kind
                            if kind == CONSTANT:
                                won = plan.winner
                            elif kind == BY_NAME:
                                won = plan.cache.get(pname, -2)
                            elif kind == BY_NAME_NDIM:
                                won = plan.cache.get((pname, p.ndim), -2)
                            else:
                                won = -2
                            if won == -2:
                                won = planner.winner(plan, name, pname, p, mod)  # type: ignore[union-attr]
                            winners.append(won)
                    added = count - first
                    if scales and added:
                        scale, sprefix = cur
                        lr_scales.extend([scale] * added)
                        why_prefix.extend([sprefix] * added)
                        if sprefix is not None:
                            used_prefixes.add(sprefix)
                if mod._modules:
                    stack.append((base, iter(mod._modules.items()), cur, state))
                    break
            else:
                stack.pop()
    if scales:
        for i in own_prefixes:  # a parameter's own full name is the deepest prefix of all
            lr_scales[i] = scales[names[i]]
            why_prefix[i] = names[i]
            used_prefixes.add(names[i])
    else:
        rows.lr_scales = [1.0] * len(names)
        rows.why_prefix = [None] * len(names)
    return rows


def _class_info(
    cache: dict[type, tuple[str | None, bool, _DecayWhy]],
    cls: type,
    honour_listing: bool,
    nd_types: tuple[str, ...],
) -> tuple[str | None, bool, _DecayWhy]:
    """Once per class: its wrapper attribute, whether it lists no-decay names, and whether
    it is a no-decay type."""
    lists = honour_listing and hasattr(cls, "no_weight_decay")
    norm = matching_type(cls, nd_types)
    info = cache[cls] = (wrapper_attr(cls), lists, None if norm is None else ("type", norm))
    return info


class _PnameVerdicts(dict[str, "bool | None"]):
    """Parameter name (last component) -> whether the no-decay name patterns match every
    qualified name ending in it (``True``/``False``), or ``None`` where the qualified name
    decides (then the matcher's full test runs). Filled on first sight of each name."""

    __slots__ = ("by_name_only", "dotted_lasts", "ends", "lits")

    def __init__(self, matcher: NameMatcher) -> None:
        super().__init__()
        pats = matcher.patterns
        self.lits = {p for p in pats if not WILDCARDS & set(p) and "." not in p}
        self.ends = tuple(
            p[1:] for p in pats if p.startswith("*") and "." not in p and not WILDCARDS & set(p[1:])
        )
        # the other patterns: dotted literals can match only names ending in their last
        # component; anything else may match any name
        rest = [
            p for p in pats if p not in self.lits and not (p.startswith("*") and p[1:] in self.ends)
        ]
        self.by_name_only = all(not WILDCARDS & set(p) for p in rest)
        self.dotted_lasts = {p.rpartition(".")[2] for p in rest}

    def __missing__(self, pname: str) -> bool | None:
        if "." in pname:
            return None  # not a last component: never cached
        if pname in self.lits or pname.endswith(self.ends):
            verdict: bool | None = True
        elif self.by_name_only and pname not in self.dotted_lasts:
            verdict = False
        else:
            verdict = None
        self[pname] = verdict
        return verdict


def _check_prefixes(rules: ParamRules, rows: _Rows) -> None:
    """Every ``lr_scales`` prefix matches some parameter (a shadowed one still matches)."""
    for pfx, _ in rules.lr_scales:
        if pfx not in rows.used_prefixes and not any(
            pfx == "" or n == pfx or n.startswith(pfx + ".") for n in rows.names
        ):
            _raise_unused_prefix(pfx, rows.names, rows.shared)


def _matrix_lr_scales(rules: ParamRules, rows: _Rows, routes: list[str], matrix: str) -> None:
    """As the spec-method API defines, Muon parameters always use the Muon LR, so their LR scale
    is 1; warn when a prefix then scales nothing, or when no parameter took the matrix route."""
    for i, r in enumerate(routes):
        if r == matrix:
            rows.lr_scales[i] = 1.0  # why_prefix[i] is kept: reasons() says it was ignored
    effective = {rows.why_prefix[i] for i, r in enumerate(routes) if r != matrix}
    idle = [p for p, _ in rules.lr_scales if p not in effective and p in rows.used_prefixes]
    if idle:
        warnings.warn(
            f"ParamRules.lr_scales: {', '.join(map(repr, idle))}: covers only Muon "
            "parameters, which always use MuonSpec.learning_rate, so the scale "
            "has no effect; set MuonSpec.learning_rate, or route them to AdamW",
            RoutingWarning,
            stacklevel=3,
        )
    if rows.names and matrix not in routes:
        warnings.warn(
            f"MuonSpec: rules.muon routes no parameter to Muon "
            f"(include={brief(rules.muon.include)}); every parameter will use AdamW. Use "
            "MuonRouting.hidden_matrices() or your own include patterns to pick the matrices.",
            RoutingWarning,
            stacklevel=3,
        )


def _apply_layer_decay(
    ld: LayerDecay | None, rows: _Rows, routes: list[str], matrix: str | None
) -> tuple[list[int], int]:
    """Multiply each non-matrix row's LR scale by ``rate ** (L + 1 - depth)``."""
    if ld is None:
        return [], 0
    depths, num_blocks = _layer_depths(rows.names, ld, rows.model_starts)
    floor = float(ld.min_scale)
    for i, d in enumerate(depths):
        if routes[i] != matrix:
            rows.lr_scales[i] *= max(floor, ld.rate ** (num_blocks + 1 - d))
    return depths, num_blocks


def _local_names(names: list[str], model_starts: list[tuple[int, str]]) -> Iterator[str]:
    """Each name without its model prefix (``"0."``, ``"enc."``)."""
    bounds = [*model_starts[1:], (len(names), "")]
    for (start, prefix), (stop, _) in zip(model_starts, bounds, strict=True):
        cut = len(prefix)
        for i in range(start, stop):
            yield names[i][cut:]


def _matrix_routes(
    rows: _Rows, muon: MuonRouting, other: str, matrix: str
) -> tuple[list[str], list[tuple[str, str]]]:
    """Route of every parameter of an optimizer with a matrix route, with the reason:
    ``matrix`` for the parameters ``muon`` picks, ``other`` for the rest."""
    inc = name_matcher(muon.include)
    exc = name_matcher(muon.exclude)
    excluded_types = muon.exclude_types
    min_side = muon.min_matrix_side
    min_size = muon.min_matrix_size
    routes: list[str] = []
    why: list[tuple[str, str]] = []
    for name, p, owner in zip(rows.names, rows.params, rows.owners, strict=True):
        ndim = p.ndim
        if ndim < muon.min_ndim:
            routes.append(other)
            why.append((other, f"ndim {ndim} < {muon.min_ndim}"))
        elif min_side > 1 and min(p.shape[0], cols := math.prod(p.shape[1:])) < min_side:
            routes.append(other)
            why.append((other, f"matrix view {p.shape[0]}x{cols} has a side < {min_side}"))
        elif min_size > 1 and (size := p.numel()) < min_size:
            routes.append(other)
            why.append((other, f"{size} elements < min_matrix_size {min_size}"))
        elif (
            muon.exclude_grouped_conv
            and ndim > 2
            and isinstance(groups := getattr(owner, "groups", 1), int)
            and groups > 1
        ):
            routes.append(other)
            why.append((other, f"grouped convolution (groups={groups})"))
        elif not inc.matches(name):
            routes.append(other)
            why.append((other, "no muon.include pattern matches"))
        elif exc.matches(name):
            routes.append(other)
            why.append((other, f"muon.exclude {brief(exc.first(name))}"))
        elif muon.exclude_types and (hit := matching_type(type(owner), excluded_types)):
            routes.append(other)
            why.append((other, f"{hit} in muon.exclude_types"))
        else:
            routes.append(matrix)
            why.append((matrix, f"ndim {ndim}, {brief(inc.first(name))}"))
    return routes, why


def _layer_depths(
    names: list[str], ld: LayerDecay, model_starts: list[tuple[int, str]]
) -> tuple[list[int], int]:
    """Depth of every parameter under layer decay, and the number of blocks L."""
    stem = name_matcher(ld.stem)
    last = name_matcher(ld.last_block)
    block_prefix = _block_prefix(ld.blocks)
    raw = [_layer_depth(n, block_prefix, stem, last) for n in _local_names(names, model_starts)]
    blocks = [d for d in raw if d > 0]
    if not blocks:
        prefixes = [p for _, p in model_starts if p]
        if prefixes:  # several models: names in the rules carry the prefix, blocks does not
            local = list(_local_names(names, model_starts))
            hit = next((p for p in prefixes if ld.blocks.startswith(p)), None)
            fix = (
                f"; write {ld.blocks[len(hit) :]!r} (without the model's name {hit[:-1]!r})"
                if hit and ld.blocks[len(hit) :]
                else ""
            )
            raise SpecError(
                "ParamRules",
                "layer_decay.blocks",
                f"{brief(ld.blocks)} matches no parameter: with several models "
                f"({', '.join(repr(p[:-1]) for p in prefixes)}), blocks is relative to each "
                f"model (names like {', '.join(map(repr, local[:3]))}){fix}",
            )
        raise SpecError(
            "ParamRules",
            "layer_decay.blocks",
            f"{brief(ld.blocks)} matches no parameter "
            f"(expected names like '{ld.blocks}.0.weight'); "
            f"first names are {', '.join(map(repr, names[:3]))}",
        )
    num_blocks = max(blocks)  # block i has depth i + 1; the head has L + 1
    depth_of = {_HEAD: num_blocks + 1, _LAST_BLOCK: num_blocks}
    return [depth_of.get(d, d) for d in raw], num_blocks


_HEAD, _LAST_BLOCK = -1, -2


def _block_prefix(blocks: str) -> str | re.Pattern[str]:
    """The container ``blocks`` as a plain prefix ``"blocks."``, or, with ``*`` components, a
    regex whose match ends where the block index starts."""
    if "*" not in blocks:
        return f"{blocks}."
    body = r"\.".join("[^.]+" if p == "*" else re.escape(p) for p in blocks.split("."))
    return re.compile(body + r"\.")


def _layer_depth(
    local: str, block_prefix: str | re.Pattern[str], stem: NameMatcher, last: NameMatcher
) -> int:
    """Depth under layer decay: i + 1 in block i, 0 in the stem, ``_LAST_BLOCK`` for the
    ``last_block`` names, ``_HEAD`` otherwise."""
    if isinstance(block_prefix, str):
        at = len(block_prefix) if local.startswith(block_prefix) else -1
    else:
        hit = block_prefix.match(local)
        at = hit.end() if hit else -1
    if at >= 0:
        m = _BLOCK_INDEX.match(local, at)
        if m:
            return int(m.group(1)) + 1
    if stem.matches(local):
        return 0
    if last.patterns and last.matches(local):
        return _LAST_BLOCK
    return _HEAD


def _raise_unused_prefix(prefix: str, names: list[str], shared: dict[str, str]) -> None:
    tied = [(n, first) for n, first in shared.items() if n == prefix or n.startswith(prefix + ".")]
    if tied:
        n, first = tied[0]
        raise SpecError(
            "ParamRules",
            f"lr_scales[{brief(prefix)}]",
            f"the prefix covers only shared (tied) parameters: {brief(n)} is shared with "
            f"{brief(first)} and is routed under that name (a shared parameter appears once, "
            f"under its first name); put the scale on {brief(first)} instead",
        )
    if not names:
        raise SpecError(
            "ParamRules", f"lr_scales[{brief(prefix)}]", "the model has no trainable parameter"
        )
    modules = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
    close = difflib.get_close_matches(prefix, modules + names, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise SpecError(
        "ParamRules",
        f"lr_scales[{brief(prefix)}]",
        f"the prefix matches no trainable parameter{hint} "
        f"(a prefix is a qualified module or parameter name, e.g. {brief((modules or names)[0])})",
    )
