"""Param groups: the minimal set of torch param-group dicts for a partition and a spec.

Parameters whose hyper-parameters are identical share one group (fewer groups make a faster
foreach step). Groups come in the order in which their first parameter was registered, and the
parameters inside a group in registration order, so the same model always gives the same
groups (an optimizer ``state_dict`` saved in one process loads in another). Each group's
hyper-parameters come from the spec's entry in the optimizer table (:mod:`optfn.optim.table`).

>>> import torch
>>> from optfn import AdamWSpec, make_param_groups, partition_params
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
>>> groups = make_param_groups(partition_params(model), AdamWSpec(weight_decay=0.1))
>>> [(g["param_names"], g["weight_decay"]) for g in groups]
[(['0.weight', '1.weight'], 0.1), (['0.bias', '1.bias'], 0.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

from optfn.errors import SpecError
from optfn.optim.table import kind_of
from optfn.routing.labels import label_specs
from optfn.routing.partition import Partition
from optfn.specs.labels import DEFAULT_LABEL
from optfn.specs.optimizers import OptimizerSpecification

__all__ = ["make_param_groups"]


def make_param_groups(
    partition: Partition, spec: OptimizerSpecification | None = None
) -> list[dict[str, Any]]:
    """The minimal, deterministic list of param groups for ``partition``.

    ``spec`` defaults to the spec the partition was made for; another spec of the same kind
    (other numbers) is fine, a spec of another kind is an error since the routes depend on it.
    Each group has ``params``, ``param_names``, ``route``, ``label`` (``"default"`` for the
    parameters no :class:`~optfn.LabelRule` matched), ``lr`` (the route's LR times the
    parameter's LR scale), ``weight_decay`` (0.0 for parameters that do not decay; a label's
    ``weight_decay`` or ``weight_decay_scale`` for those that do) and the rest of the route's
    hyper-parameters, a label's ``hyper`` applied. Every parameter of the partition is in
    exactly one group: checked before returning.
    """
    spec = partition.spec if spec is None else spec
    if type(spec) is not type(partition.spec):
        raise SpecError(
            "",
            "spec",
            f"the partition was made for {type(partition.spec).__name__} "
            f"(routes {sorted(set(partition.routes))}), got {type(spec).__name__}; "
            "call partition_params(models, rules, spec=spec) with this spec",
        )
    kind = kind_of(spec)
    routes = {r.name: r for r in kind.routes}
    rules = partition.rules.labels
    specs = partition._label_specs
    if rules and spec is not partition.spec:  # other numbers: the labels' values on them
        specs = label_specs(rules, kind, spec, set(specs))
    labels = partition._why_label
    # (route, decay, scale, label) in order of first appearance -> that group's two lists.
    # Keys whose hyper-parameters come out equal (e.g. weight_decay 0 and no decay) share a
    # group, within one label.
    # without labels the label column is constant: keys of three columns, as before labels
    cols: tuple[Sequence[Any], ...] = (partition.routes, partition.decays, partition.lr_scales)
    if rules:
        cols = (*cols, labels)
    # One pass over the rows: each distinct key gets its two lists (in registration order).
    slots: dict[tuple[Any, ...], tuple[list[Any], list[str]]] = {}
    get = slots.get
    for key, name, param in zip(
        zip(*cols, strict=True), partition.names, partition.params, strict=True
    ):
        slot = get(key)
        if slot is None:
            slot = slots[key] = ([], [])
        slot[0].append(param)
        slot[1].append(name)
    # Then per key (a handful): its hyper-parameters; keys whose hyper-parameters come out
    # equal (e.g. weight_decay 0 and no decay) share a group, within one label.
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    merged_keys: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for key, (plist, nlist) in slots.items():
        route, decay, scale = key[:3]
        w = key[3] if rules else -1
        if w < 0:
            hp = routes[route].hyper(spec, decay, scale)
            label = DEFAULT_LABEL
        else:
            rule = rules[w]
            hp = routes[route].hyper(specs[(w, route)], decay, scale)
            if decay and "weight_decay" in hp:
                if rule.weight_decay is not None:
                    hp["weight_decay"] = float(rule.weight_decay)
                elif rule.weight_decay_scale is not None:
                    hp["weight_decay"] *= rule.weight_decay_scale
            label = rule.label
        hp["label"] = label
        merged = (route, hp["lr"], hp.get("weight_decay", 0.0), w)
        if merged in groups:
            merged_keys[merged].append(key)
        else:
            groups[merged] = {"params": plist, "param_names": nlist, **hp}
            merged_keys[merged] = [key]
    for merged, keys in merged_keys.items():
        if len(keys) > 1:  # rare: rebuild the shared group's lists in registration order
            group = groups[merged]
            wanted = set(keys)
            group["params"], group["param_names"] = [], []
            for key, name, param in zip(
                zip(*cols, strict=True), partition.names, partition.params, strict=True
            ):
                if key in wanted:
                    group["params"].append(param)
                    group["param_names"].append(name)
    out = list(groups.values())
    _check_exactly_once(partition, out)
    return out


def _check_exactly_once(partition: Partition, groups: list[dict[str, Any]]) -> None:
    # grouped parameters come only from the partition's rows, which are distinct: so the same
    # count and the same number of distinct ids mean every row is in exactly one group
    # (checked for every partition, not assumed from how it was made)
    count = sum(len(g["params"]) for g in groups)
    distinct = len(set(map(id, chain.from_iterable(g["params"] for g in groups))))
    if count != len(partition) or distinct != len(partition):
        raise RuntimeError(  # an optfn bug, never a user error
            f"optfn bug: {count} parameters ({distinct} distinct) in groups for "
            f"{len(partition)} in the partition"
        )
