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
from optfn.routing.patterns import matching_type, name_matcher
from optfn.specs.labels import LabelRule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.render import brief

__all__ = ["assign_labels", "label_specs", "rule_matches"]

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


def rule_matches(
    rule: LabelRule, name: str, param: nn.Parameter, owner: nn.Module | None
) -> bool:
    """Whether ``rule``'s conditions hold for one parameter (whatever the earlier rules say)."""
    return bool(_compile(rule)(name, name.rpartition(".")[2], param, owner))


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
    won_any = set(out)
    for i, rule in enumerate(rules):
        if i not in won_any:
            _raise_unused(i, rule, rules, out, names, params, owners)
    return out


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


def label_specs(
    rules: tuple[LabelRule, ...],
    kind: OptimizerKind,
    spec: OptimizerSpecification,
    pairs: set[tuple[int, str]],
) -> dict[tuple[int, str], OptimizerSpecification]:
    """For each (rule index, route) that parameters take, the spec with the rule's ``hyper``
    applied on that route, checked by the spec's own validators; also checks that a rule that
    sets a weight decay is on routes that have one."""
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
