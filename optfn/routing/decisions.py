"""The routing decisions taken over all rows at once, after the walk
(:mod:`optfn.routing.collect`): unused ``lr_scales`` prefixes, ``exclude`` labels, label
routes, the matrix route (Muon) of each parameter, and layer-wise LR decay depths.

Each is a function of the rows and the rules; :func:`optfn.routing.partition.partition_params`
calls them in order and builds the :class:`~optfn.Partition`.

>>> import torch
>>> from optfn import MuonRouting, ParamRules
>>> from optfn.routing.collect import collect_rows
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
>>> rows = collect_rows(model, ParamRules(), with_owners=True)
>>> routes, why = matrix_routes(rows, MuonRouting(include=("0.*",)), "adamw", "muon")
>>> routes
['muon', 'adamw', 'adamw', 'adamw']
>>> why[2]
('adamw', 'no muon.include pattern matches')
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterator

from optfn.errors import SpecError
from optfn.routing.collect import Rows
from optfn.routing.patterns import NameMatcher, matching_type, name_matcher
from optfn.specs.labels import LabelRule
from optfn.specs.render import brief
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "RoutingWarning",
    "apply_layer_decay",
    "check_prefixes",
    "drop_excluded",
    "label_routes",
    "matrix_lr_scales",
    "matrix_routes",
]


class RoutingWarning(UserWarning):
    """A routing rule had no effect where one was expected (e.g. Muon got no parameter)."""


_BLOCK_INDEX = re.compile(r"(\d+)(?:\.|\Z)")


def check_prefixes(rules: ParamRules, rows: Rows) -> None:
    """Every ``lr_scales`` prefix matches some parameter (a shadowed one still matches)."""
    for pfx, _ in rules.lr_scales:
        if pfx not in rows.used_prefixes and not any(
            pfx == "" or n == pfx or n.startswith(pfx + ".") for n in rows.names
        ):
            _raise_unused_prefix(pfx, rows.names, rows.shared)


def drop_excluded(
    rules: tuple[LabelRule, ...], rows: Rows, winners: list[int], with_owners: bool
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


def label_routes(
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


def matrix_lr_scales(rules: ParamRules, rows: Rows, routes: list[str], matrix: str) -> None:
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


def matrix_routes(
    rows: Rows, muon: MuonRouting, other: str, matrix: str
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


def apply_layer_decay(
    ld: LayerDecay | None, rows: Rows, routes: list[str], matrix: str | None
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
