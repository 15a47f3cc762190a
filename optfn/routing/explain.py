"""Explaining a partition: each parameter's reasons in words, and the table of them all.

The partition keeps compact reason codes (cheap to build); this module turns them into text
only when asked for.

>>> import torch
>>> from optfn import partition_params
>>> part = partition_params(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2)))
>>> row_reasons(part, 3)
('LayerNorm -> no weight decay',)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optfn.optim.table import kind_of
from optfn.routing.patterns import name_matcher
from optfn.specs.labels import LabelRule

if TYPE_CHECKING:
    from optfn.routing.partition import Partition

__all__ = ["explain_table", "row_reasons"]


def row_reasons(part: Partition, i: int) -> tuple[str, ...]:
    """Why row ``i`` of ``part`` has its route, decay and LR scale, in words."""
    matrix_route = kind_of(part.spec).matrix_route
    name = part.names[i]
    out: list[str] = []
    if part._why_route:
        route, route_detail = part._why_route[i]
        out.append(f"{route_detail} -> {route}")
    decay_why = part._why_decay[i]
    if decay_why is not None:
        kind, detail = decay_why
        if kind == "type":
            out.append(f"{detail} -> no weight decay")
        elif kind == "name":
            out.append(f"{name_matcher(part.rules.no_decay_names).first(name)} -> no weight decay")
        elif kind == "model":
            out.append(f"listed by {detail}.no_weight_decay() -> no weight decay")
        else:
            out.append(f"ndim {detail} <= {part.rules.no_decay_max_ndim} -> no weight decay")
    prefix = part._why_prefix[i]
    if prefix is not None:
        scale = dict(part.rules.lr_scales)[prefix]
        if part.routes[i] == matrix_route:
            out.append(f"{prefix or '<all>'} -> lr x{scale:g} ignored (Muon uses its own LR)")
        else:
            out.append(f"{prefix or '<all>'} -> lr x{scale:g}")
    ld = part.rules.layer_decay
    if ld is not None and part.routes[i] != matrix_route:
        depth, top = part._depths[i], part._num_blocks + 1
        power = f"{ld.rate:g}^{top - depth}"
        if ld.min_scale and ld.rate ** (top - depth) < ld.min_scale:
            power = f"max({ld.min_scale:g}, {power})"
        out.append(f"layer depth {depth}/{top} -> lr x{power}")
    w = part._why_label[i]
    if w >= 0:
        out.append(_label_reason(part.rules.labels[w], w))
    return tuple(out)


def _label_reason(rule: LabelRule, index: int) -> str:
    """``label 'head' (labels[1]: names 'lm_head.*') -> lr x5, betas (0.8, 0.95)``."""
    matched = [
        f"{what} {', '.join(map(repr, vals))}"
        for what, vals in (("names", rule.names), ("types", rule.types))
        if vals
    ]
    if rule.min_ndim is not None:
        matched.append(f"ndim >= {rule.min_ndim}")
    if rule.max_ndim is not None:
        matched.append(f"ndim <= {rule.max_ndim}")
    sets = []
    if rule.route is not None:
        sets.append(f"route {rule.route}")
    if rule.lr_scale != 1.0:
        sets.append(f"lr x{rule.lr_scale:g}")
    if rule.weight_decay_scale is not None:
        sets.append(f"weight decay x{rule.weight_decay_scale:g}")
    if rule.weight_decay is not None:
        sets.append(f"weight decay {rule.weight_decay:g}")
    sets.extend(f"{k} {v!r}" for k, v in rule.hyper)
    where = f"labels[{index}]: {'; '.join(matched) or 'every parameter'}"
    return f"label {rule.label!r} ({where}) -> {', '.join(sets) or 'its own param groups'}"


def explain_table(part: Partition) -> str:
    """A plain-text table: name, shape, route, decay, LR scale, (label,) reasons. The label
    column is there when the rules have labels."""
    with_labels = bool(part.rules.labels)
    head = ("name", "shape", "route", "decay", "lr x", *(("label",) if with_labels else ()))
    rows = [(*head, "why")]
    for i, e in enumerate(part):
        rows.append(
            (
                e.name,
                "x".join(map(str, e.param.shape)) or "scalar",
                e.route,
                "yes" if e.decay else "no",
                f"{e.lr_scale:g}",
                *((e.label,) if with_labels else ()),
                "; ".join(row_reasons(part, i)) or "-",
            )
        )
    n = len(head)
    widths = [max(len(r[c]) for r in rows) for c in range(n)]
    lines = []
    for r in rows:
        cells = [r[c].ljust(widths[c]) for c in range(n)]
        lines.append("  ".join([*cells, r[n]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    if part.left_out:
        lines.append(
            f"left out of the optimizer (exclude): {', '.join(map(repr, part.left_out))}"
        )
    return "\n".join(lines)
