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
        out.append(f"layer depth {depth}/{top} -> lr x{ld.rate:g}^{top - depth}")
    return tuple(out)


def explain_table(part: Partition) -> str:
    """A plain-text table: name, shape, route, decay, LR scale, reasons."""
    rows = [("name", "shape", "route", "decay", "lr x", "why")]
    for i, e in enumerate(part):
        rows.append(
            (
                e.name,
                "x".join(map(str, e.param.shape)) or "scalar",
                e.route,
                "yes" if e.decay else "no",
                f"{e.lr_scale:g}",
                "; ".join(row_reasons(part, i)) or "-",
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = []
    for r in rows:
        cells = [r[c].ljust(widths[c]) for c in range(5)]
        lines.append("  ".join([*cells, r[5]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
