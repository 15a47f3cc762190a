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
from collections.abc import Iterator
from itertools import repeat
from operator import is_, mul
from typing import NamedTuple

import attrs
from torch import nn

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.table import kind_of
from optfn.routing.collect import DecayWhy, collect_rows
from optfn.routing.decisions import (
    RoutingWarning,
    apply_layer_decay,
    check_prefixes,
    drop_excluded,
    label_routes,
    matrix_lr_scales,
    matrix_routes,
)
from optfn.routing.explain import explain_table, row_reasons
from optfn.routing.labels import (
    LabelPlanner,
    check_routes,
    check_winners,
    label_specs,
)
from optfn.routing.walk import ModelsLike
from optfn.specs.labels import DEFAULT_LABEL
from optfn.specs.optimizers import AdamWSpec, OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.rules import ParamRules

__all__ = ["ParamEntry", "Partition", "RoutingWarning", "partition_params"]


class ParamEntry(NamedTuple):
    """One trainable parameter of a :class:`Partition`."""

    name: str
    param: nn.Parameter
    route: str
    decay: bool
    lr_scale: float
    label: str = DEFAULT_LABEL


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
    _why_decay: tuple[DecayWhy, ...] = attrs.field(alias="why_decay", repr=False)
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


# Frozen specs, so one shared default instance each is safe (and saves re-validating them).
_DEFAULT_RULES = ParamRules()
_DEFAULT_SPEC = AdamWSpec()


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

    # the owner module of each row is needed by the matrix route; label rules on types are
    # decided per module class during the walk, so their owners are only needed to explain
    # a rule that wins nothing (collected again then)
    with_owners = matrix_route is not None
    planner = LabelPlanner.for_rules(label_rules) if label_rules else None
    rows = collect_rows(models, rules, with_owners=with_owners, planner=planner)
    check_prefixes(rules, rows)
    if label_rules:
        winners = rows.winners
        if with_owners or not any(r.types for r in label_rules):
            check_winners(label_rules, winners, rows.names, rows.params, rows.owners or None)
        else:
            try:
                check_winners(label_rules, winners, rows.names, rows.params, None)
            except SpecError:  # a rule wins nothing: word it with the modules, walked again
                owners = collect_rows(models, rules, with_owners=True).owners
                check_winners(label_rules, winners, rows.names, rows.params, owners)
                raise
    else:
        winners = [-1] * len(rows.names)
    left_out: tuple[str, ...] = ()
    if any(r.exclude for r in label_rules):
        winners, left_out = drop_excluded(label_rules, rows, winners, with_owners)
    why_route: list[tuple[str, str]] = []
    if matrix_route is None:
        routes = [kind.default_route.name] * len(rows.names)
    else:
        routes, why_route = matrix_routes(rows, rules.muon, kind.default_route.name, matrix_route)
    if label_rules and any(r.route is not None for r in label_rules):
        if matrix_route is None:  # one route unless a label says otherwise: by table lookup
            default = kind.default_route.name
            by_winner = [r.route or default for r in label_rules] + [default]
            routes = list(map(by_winner.__getitem__, winners))
        else:
            label_routes(label_rules, winners, routes, why_route)
    if matrix_route is not None:
        matrix_lr_scales(rules, rows, routes, matrix_route)
    depths, num_blocks = apply_layer_decay(rules.layer_decay, rows, routes, matrix_route)
    specs = {}
    # Per-row work on the label columns goes through C-level map/zip passes; a winner of -1
    # (no rule) picks the last entry of each per-rule table.
    if label_rules:
        scale_of = [r.lr_scale for r in label_rules]
        if any(x != 1.0 for x in scale_of):
            scale_of.append(1.0)  # x * 1.0 == x exactly: unlabeled rows keep their scale
            rows.lr_scales = list(map(mul, rows.lr_scales, map(scale_of.__getitem__, winners)))
        if matrix_route is None and all(r.route is None for r in label_rules):
            used = {(w, routes[0]) for w in set(winners) if w >= 0}  # one route
        else:
            used = {pair for pair in set(zip(winners, routes, strict=True)) if pair[0] >= 0}
        specs = label_specs(label_rules, kind, spec, used)
        label_of = [r.label for r in label_rules] + [DEFAULT_LABEL]
        labels = tuple(map(label_of.__getitem__, winners))
    else:
        labels = (DEFAULT_LABEL,) * len(winners)

    return Partition(
        names=tuple(rows.names),
        params=tuple(rows.params),
        routes=tuple(routes),
        decays=tuple(map(is_, rows.why_decay, repeat(None))),
        lr_scales=tuple(rows.lr_scales),
        labels=labels,
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
