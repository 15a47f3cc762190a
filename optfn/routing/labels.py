"""Applying :class:`~optfn.LabelRule`\\ s: which rule wins each parameter, and what it sets.

The rules are tried in order and the first that matches a parameter wins it; a rule that wins
no parameter is an error (naming the earlier rule that shadows it, if one does). A rule's
route must be one of the optimizer's routes, and its ``hyper`` keys must be keys the route's
groups hold, with values the optimizer spec accepts: all checked here, before any group is
built.

>>> import torch
>>> from optfn import AdamWSpec, LabelRule, ParamRules, partition_params
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
>>> rules = ParamRules(labels=[LabelRule(label="head", names=["1.*"], lr_scale=5.0)])
>>> part = partition_params(model, rules, spec=AdamWSpec())
>>> [(e.name, e.label, e.lr_scale) for e in part]  # doctest: +NORMALIZE_WHITESPACE
[('0.weight', 'default', 1.0), ('0.bias', 'default', 1.0),
 ('1.weight', 'head', 5.0), ('1.bias', 'head', 5.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from optfn.errors import SpecError
from optfn.optim.table import OptimizerKind
from optfn.routing.patterns import WILDCARDS, matching_type, name_matcher
from optfn.specs.labels import LabelRule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.render import brief

__all__ = ["LabelPlanner", "assign_labels", "check_winners", "label_specs", "rule_matches"]

_Test = Any  # (name, last component, param, owner) -> bool


def _compile(rule: LabelRule) -> _Test:
    """One test for ``rule``'s conditions, doing only the checks it has (the hot loop of
    labelling: one call per parameter and rule until one matches)."""
    names = name_matcher(rule.names).test if rule.names else None
    types = rule.types
    lo, hi = rule.min_ndim, rule.max_ndim
    if not types and lo is None and hi is None:
        if names is None:
            return lambda name, last, param, owner: True
        return lambda name, last, param, owner: names(name, last)
    by_class: dict[type, bool] = {}  # the owner's class decides the type condition

    def type_ok(owner: nn.Module | None) -> bool:
        if owner is None:
            return False
        cls = type(owner)
        hit = by_class.get(cls)
        if hit is None:
            hit = by_class[cls] = matching_type(cls, types) is not None
        return hit

    def test(name: str, last: str, param: nn.Parameter, owner: nn.Module | None) -> bool:
        if lo is not None and param.ndim < lo:
            return False
        if hi is not None and param.ndim > hi:
            return False
        if names is not None and not names(name, last):
            return False
        return not types or type_ok(owner)

    return test


def rule_matches(rule: LabelRule, name: str, param: nn.Parameter, owner: nn.Module | None) -> bool:
    """Whether ``rule``'s conditions hold for one parameter (whatever the earlier rules say)."""
    return bool(_compile(rule)(name, name.rpartition(".")[2], param, owner))


# A candidate rule of a module's plan: (index, literal last components, "*S" endings,
# min_ndim, max_ndim, whether the name parts still have to be checked)
_Candidate = tuple[int, frozenset[str], tuple[str, ...], int | None, int | None, bool]

#: Plan kinds: one winner for every parameter of the module; a winner per parameter name;
#: per (name, ndim); the full test of every rule per parameter.
CONSTANT, BY_NAME, BY_NAME_NDIM, FULL = 0, 1, 2, 3


class LabelPlan:
    """What decides the labels of one module's parameters (see :class:`LabelPlanner`)."""

    __slots__ = ("cache", "candidates", "kind", "winner")

    def __init__(self, kind: int, winner: int, candidates: list[_Candidate]) -> None:
        self.kind = kind
        self.winner = winner  # with CONSTANT
        #: parameter name (BY_NAME) or (name, ndim) (BY_NAME_NDIM) -> winner
        self.cache: dict[Any, int] = {}
        self.candidates = candidates


#: how many recent answers each memo below keeps
_MEMO_SIZE = 32
#: planners of recent rule tuples, by identity (each holds its tuple)
_PLANNERS: dict[int, LabelPlanner] = {}


class LabelPlanner:
    """:func:`assign_labels` decided during the module walk, as far as possible per module.

    A rule's ``types`` depend only on the module's class, and its ``"M.*"`` name patterns
    (``M`` literal) only on the module's path: they are decided once per module, the path's
    hits inherited down the walk (:meth:`state`). What remains per parameter (literal
    patterns without a dot and ``"*S"`` with a literal ``S`` without a dot, which depend only
    on the parameter's own name, and ndim bounds) is decided once per module plan and
    parameter name (and ndim). Where a rule with other name patterns (dotted literals,
    general wildcards) is still in play, the parameter gets the full test of every rule, as
    :func:`assign_labels` does. The winners are the same as :func:`assign_labels`'s.
    """

    def __init__(self, rules: tuple[LabelRule, ...]) -> None:
        self.rules = rules
        self.tests = [_compile(r) for r in rules]
        #: (bit of the rule, M) per "M.*" pattern, and by M's last component
        self.module_patterns: list[tuple[int, str]] = []
        self.by_last: dict[str, list[tuple[int, str]]] = {}
        self._parts: list[tuple[frozenset[str], tuple[str, ...], bool]] = []
        for i, rule in enumerate(rules):
            lits: set[str] = set()
            ends: list[str] = []
            full = False
            for pat in rule.names:
                if not WILDCARDS & set(pat):
                    if "." in pat:
                        full = True
                    else:
                        lits.add(pat)
                elif pat.endswith(".*") and pat[:-2] and not WILDCARDS & set(pat[:-2]):
                    mod = pat[:-2]
                    self.module_patterns.append((1 << i, mod))
                    self.by_last.setdefault(mod.rpartition(".")[2], []).append((1 << i, mod))
                elif pat.startswith("*") and "." not in pat and not WILDCARDS & set(pat[1:]):
                    ends.append(pat[1:])
                else:
                    full = True
            self._parts.append((frozenset(lits), tuple(ends), full))
        self._type_ok: dict[tuple[int, type], bool] = {}
        #: (state, module class) -> plan
        self.plans: dict[tuple[int, type], LabelPlan] = {}

    @classmethod
    def for_rules(cls, rules: tuple[LabelRule, ...]) -> LabelPlanner:
        """The planner of ``rules`` (frozen), shared by calls with the same tuple: its plans
        depend only on the rules and module classes, so they carry over."""
        hit = _PLANNERS.get(id(rules))
        if hit is not None and hit.rules is rules:
            return hit
        if len(_PLANNERS) >= _MEMO_SIZE:
            _PLANNERS.clear()
        planner = _PLANNERS[id(rules)] = cls(rules)
        return planner

    def state(self, parent: int, name: str, key: str) -> int:
        """The rules whose ``"M.*"`` patterns cover the parameters of the module ``name``
        (its key in its parent: ``key``), as bits; ``parent``: its parent's state."""
        if "." in key:  # not one path component: decide from the whole path
            base = f"{name}."
            bits = 0
            for bit, mod in self.module_patterns:
                if base.startswith(f"{mod}.") or f".{mod}." in base:
                    bits |= bit
            return bits
        hits = self.by_last.get(key)
        if hits:
            for bit, mod in hits:
                if name == mod or name.endswith(f".{mod}"):
                    parent |= bit
        return parent

    def plan(self, state: int, cls: type) -> LabelPlan:
        """The plan for the parameters of a module of class ``cls`` in ``state``."""
        cands: list[_Candidate] = []
        kind = BY_NAME
        for i, rule in enumerate(self.rules):
            if rule.types and not self._types(i, cls):
                continue
            lits, ends, full = self._parts[i]
            check_name = bool(rule.names) and not state >> i & 1
            if check_name:
                if full:
                    kind = FULL
                    break
                if not (lits or ends):
                    continue
            lo, hi = rule.min_ndim, rule.max_ndim
            if lo is not None or hi is not None:
                kind = BY_NAME_NDIM
            cands.append((i, lits, ends, lo, hi, check_name))
            if not check_name and lo is None and hi is None:
                break  # this rule wins every parameter that reaches it
        if kind != FULL and (
            not cands or not (cands[0][5] or cands[0][3] is not None or cands[0][4] is not None)
        ):
            kind = CONSTANT
        plan = self.plans[(state, cls)] = LabelPlan(kind, cands[0][0] if cands else -1, cands)
        return plan

    def _types(self, i: int, cls: type) -> bool:
        key = (i, cls)
        hit = self._type_ok.get(key)
        if hit is None:
            hit = self._type_ok[key] = matching_type(cls, self.rules[i].types) is not None
        return hit

    def winner(
        self, plan: LabelPlan, name: str, pname: str, param: nn.Parameter, owner: nn.Module
    ) -> int:
        """The winner of one parameter (``pname``: its name in its module) under ``plan``,
        cached in the plan where only ``pname`` and the ndim decide it."""
        if plan.kind == FULL or "." in pname:
            return self.full(name, param, owner)
        ndim = param.ndim
        won = -1
        for i, lits, ends, lo, hi, check_name in plan.candidates:
            if lo is not None and ndim < lo:
                continue
            if hi is not None and ndim > hi:
                continue
            if check_name and not (pname in lits or pname.endswith(ends)):
                continue
            won = i
            break
        plan.cache[(pname, ndim) if plan.kind == BY_NAME_NDIM else pname] = won
        return won

    def full(self, name: str, param: nn.Parameter, owner: nn.Module) -> int:
        """The winner by the full test of every rule, as :func:`assign_labels` does."""
        last = name.rpartition(".")[2]
        for i, test in enumerate(self.tests):
            if test(name, last, param, owner):
                return i
        return -1


def assign_labels(
    rules: tuple[LabelRule, ...],
    names: Sequence[str],
    params: Sequence[nn.Parameter],
    owners: Sequence[nn.Module] | None,
) -> list[int]:
    """The index of the rule that wins each parameter, ``-1`` where none matches.

    Raises :class:`~optfn.SpecError` naming ``ParamRules.labels[i]`` for a rule that wins no
    parameter."""
    if not rules:
        return [-1] * len(names)
    tests = [_compile(r) for r in rules]
    no_owner = [None] * len(names)
    out: list[int] = []
    for name, param, owner in zip(names, params, owners or no_owner, strict=True):
        last = name.rpartition(".")[2]
        won = -1
        for i, test in enumerate(tests):
            if test(name, last, param, owner):
                won = i
                break
        out.append(won)
    check_winners(rules, out, names, params, owners)
    return out


def check_winners(
    rules: tuple[LabelRule, ...],
    winners: list[int],
    names: Sequence[str],
    params: Sequence[nn.Parameter],
    owners: Sequence[nn.Module] | None,
) -> None:
    """Raise :class:`~optfn.SpecError` naming ``ParamRules.labels[i]`` for the first rule
    that wins no parameter (``winners``: as :func:`assign_labels` returns them)."""
    won_any = set(winners)
    for i, rule in enumerate(rules):
        if i not in won_any:
            _raise_unused(i, rule, rules, winners, names, params, owners)


def _raise_unused(
    i: int,
    rule: LabelRule,
    rules: tuple[LabelRule, ...],
    winners: list[int],
    names: Sequence[str],
    params: Sequence[nn.Parameter],
    owners: Sequence[nn.Module] | None,
) -> None:
    where = f"labels[{i}]"
    for row, name in enumerate(names):
        owner = owners[row] if owners is not None else None
        if rule_matches(rule, name, params[row], owner):
            first = rules[winners[row]]
            raise SpecError(
                "ParamRules",
                where,
                f"label {rule.label!r} wins no parameter: every parameter it matches, such as "
                f"{brief(name)}, is taken by the earlier rule labels[{winners[row]}] "
                f"({first.label!r}); the first matching rule wins, so put the more specific "
                "rule first",
            )
    shown = ", ".join(map(repr, names[:4])) + (", ..." if len(names) > 4 else "")
    raise SpecError(
        "ParamRules",
        where,
        f"label {rule.label!r} matches no trainable parameter (names={brief(rule.names)}, "
        f"types={brief(rule.types)}, min_ndim={rule.min_ndim}, max_ndim={rule.max_ndim}); "
        f"the parameters are named like {shown or 'nothing: the model has none'}",
    )


#: label_specs results of recent calls, by the identity of their (frozen) inputs, which each
#: entry holds so that no id is reused while it is cached
_SPECS_MEMO: dict[
    tuple[int, int, int, frozenset[tuple[int, str]]],
    tuple[object, object, object, dict[tuple[int, str], OptimizerSpecification]],
] = {}


def label_specs(
    rules: tuple[LabelRule, ...],
    kind: OptimizerKind,
    spec: OptimizerSpecification,
    pairs: set[tuple[int, str]],
) -> dict[tuple[int, str], OptimizerSpecification]:
    """For each (rule index, route) that parameters take, the spec with the rule's ``hyper``
    applied on that route, checked by the spec's own validators; also checks that a rule that
    sets a weight decay is on routes that have one. Rules, kind and spec are frozen, so the
    answer for the same objects is remembered (building a spec runs its validators)."""
    key = (id(rules), id(kind), id(spec), frozenset(pairs))
    hit = _SPECS_MEMO.get(key)
    if hit is not None and hit[0] is rules and hit[1] is kind and hit[2] is spec:
        return dict(hit[3])
    out = _label_specs(rules, kind, spec, pairs)
    if len(_SPECS_MEMO) >= _MEMO_SIZE:
        _SPECS_MEMO.clear()
    _SPECS_MEMO[key] = (rules, kind, spec, out)
    return dict(out)


def _label_specs(
    rules: tuple[LabelRule, ...],
    kind: OptimizerKind,
    spec: OptimizerSpecification,
    pairs: set[tuple[int, str]],
) -> dict[tuple[int, str], OptimizerSpecification]:
    out: dict[tuple[int, str], OptimizerSpecification] = {}
    for i, route_name in sorted(pairs):
        rule = rules[i]
        route = kind.route(route_name)
        owner = f"ParamRules.labels[{i}]"
        if route.weight_decay is None and (
            rule.weight_decay is not None or rule.weight_decay_scale is not None
        ):
            field = "weight_decay" if rule.weight_decay is not None else "weight_decay_scale"
            raise SpecError(
                owner,
                field,
                f"route {route_name!r} of {type(spec).__name__} has no weight decay; "
                f"remove {field} from label {rule.label!r}",
            )
        out[(i, route_name)] = route.with_keys(spec, rule.hyper_dict(), owner)
    return out


def check_routes(rules: tuple[LabelRule, ...], kind: OptimizerKind) -> None:
    """Every rule's ``route`` is one of the kind's routes."""
    names = [r.name for r in kind.routes]
    for i, rule in enumerate(rules):
        if rule.route is not None and rule.route not in names:
            raise SpecError(
                "ParamRules",
                f"labels[{i}].route",
                f"{kind.spec.__name__} has the routes {', '.join(map(repr, names))}, "
                f"got {brief(rule.route)}",
            )
