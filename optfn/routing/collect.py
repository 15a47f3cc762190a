"""The walk that fills a partition's rows: every trainable parameter of the models, in
registration order, with its no-decay verdict (and why), its ``lr_scales`` prefix, and the
label rule that wins it.

One pass over the modules decides what the rules decide per parameter; module-level facts
(wrapper, no-decay type, ``no_weight_decay`` listing, label plan) are worked out once per
module or per class. :func:`optfn.routing.partition.partition_params` turns the rows into a
:class:`~optfn.Partition`; the rules that need every row (Muon routes, layer decay,
exclusions) are in :mod:`optfn.routing.decisions`.

>>> import torch
>>> from optfn import ParamRules
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
>>> rows = collect_rows(model, ParamRules(lr_scales={"1": 2.0}), with_owners=False)
>>> rows.names, rows.lr_scales
(['0.weight', '0.bias', '1.weight', '1.bias'], [1.0, 1.0, 2.0, 2.0])
>>> rows.why_decay
[None, ('name', None), ('type', 'LayerNorm'), ('type', 'LayerNorm')]
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from functools import lru_cache

import attrs
from torch import nn

from optfn.errors import SpecError, SpecTypeError
from optfn.routing.labels import (
    BY_NAME,
    BY_NAME_NDIM,
    CONSTANT,
    LabelPlan,
    LabelPlanner,
)
from optfn.routing.patterns import WILDCARDS, NameMatcher, matching_type, name_matcher
from optfn.routing.walk import NO_SCALE, ModelsLike, Scale, named_models, unwrap, wrapper_attr
from optfn.specs.render import brief
from optfn.specs.rules import ParamRules

__all__ = ["DecayWhy", "Rows", "collect_rows"]

# Reason codes, kept compact so that partitioning stays one cheap pass; Partition.reasons()
# turns them into text. Decay: ("type", class name) | ("name", None) | ("ndim", n) | None.
DecayWhy = tuple[str, object] | None


_BY_NAME: DecayWhy = ("name", None)


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


@attrs.define
class Rows:
    """The columns :func:`_collect` fills, one row per trainable parameter."""

    names: list[str] = attrs.Factory(list)
    params: list[nn.Parameter] = attrs.Factory(list)
    lr_scales: list[float] = attrs.Factory(list)
    why_decay: list[DecayWhy] = attrs.Factory(list)
    why_prefix: list[str | None] = attrs.Factory(list)
    owners: list[nn.Module] = attrs.Factory(list)  # module of each row (with a matrix route)
    used_prefixes: set[str] = attrs.Factory(set)
    shared: dict[str, str] = attrs.Factory(dict)  # a tied parameter's other name -> its row's
    model_starts: list[tuple[int, str]] = attrs.Factory(list)  # (first row, model prefix)
    winners: list[int] = attrs.Factory(list)  # the winning label rule (with a planner)


def collect_rows(
    models: ModelsLike,
    rules: ParamRules,
    *,
    with_owners: bool,
    planner: LabelPlanner | None = None,
) -> Rows:
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
    class_info: dict[type, tuple[str | None, bool, DecayWhy]] = {}
    scales = dict(rules.lr_scales)
    get_scale = scales.get
    rows = Rows()
    names, params, why_decay, owners = rows.names, rows.params, rows.why_decay, rows.owners
    lr_scales, why_prefix, used_prefixes = rows.lr_scales, rows.why_prefix, rows.used_prefixes
    winners = rows.winners
    seen_params: dict[int, int] = {}  # id -> row
    own_prefixes: list[int] = []  # rows whose full parameter name is itself an lr_scales key
    root_scale: Scale = (scales[""], "") if "" in scales else NO_SCALE
    # a parameter's own full name is an lr_scales key only if its last component is one's
    scale_lasts = {k.rpartition(".")[2] for k in scales}
    # the no-decay name test per parameter name, where that name alone decides it
    nd_by_pname = _verdicts(rules.no_decay_names, True) if nd_match is not None else None
    # modules whose name cannot end in a dotted literal's module part get verdicts that
    # ignore the dotted literals (no full test per "weight" for "relative_attention_bias.weight")
    nd_plain = nd_by_pname
    dotted_modules: set[str] = set()
    if nd_by_pname is not None and nd_by_pname.by_name_only and nd_by_pname.dotted_lasts:
        nd_plain = _verdicts(rules.no_decay_names, False)
        dotted_modules = nd_by_pname.dotted_modules
    nd_verdicts = nd_plain
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
                    if dotted_modules:
                        nd_verdicts = (
                            nd_by_pname if key in dotted_modules or "." in key else nd_plain
                        )
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
                            dwhy: DecayWhy = type_why
                        elif nd_verdicts is not None and (
                            (hit := nd_verdicts[pname]) or (hit is None and nd_match(name, pname))  # type: ignore[misc]
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
    cache: dict[type, tuple[str | None, bool, DecayWhy]],
    cls: type,
    honour_listing: bool,
    nd_types: tuple[str, ...],
) -> tuple[str | None, bool, DecayWhy]:
    """Once per class: its wrapper attribute, whether it lists no-decay names, and whether
    it is a no-decay type."""
    lists = honour_listing and hasattr(cls, "no_weight_decay")
    norm = matching_type(cls, nd_types)
    info = cache[cls] = (wrapper_attr(cls), lists, None if norm is None else ("type", norm))
    return info


@lru_cache(maxsize=32)
def _verdicts(patterns: tuple[str, ...], dotted: bool) -> _PnameVerdicts:
    """One verdict table per pattern set, shared by every call (it only ever learns names)."""
    return _PnameVerdicts(name_matcher(patterns), dotted=dotted)


class _PnameVerdicts(dict[str, "bool | None"]):
    """Parameter name (last component) -> whether the no-decay name patterns match every
    qualified name ending in it (``True``/``False``), or ``None`` where the qualified name
    decides (then the matcher's full test runs). Filled on first sight of each name."""

    __slots__ = ("by_name_only", "dotted_lasts", "dotted_modules", "ends", "lits")

    def __init__(self, matcher: NameMatcher, *, dotted: bool = True) -> None:
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
        # a dotted literal "M.P" (or "A.M.P") can match a parameter only if the last
        # component of its module's name is M
        self.dotted_modules = {p.rpartition(".")[0].rpartition(".")[2] for p in rest}
        if not dotted and self.by_name_only:  # for modules that no dotted literal can reach
            self.dotted_lasts = set()

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
