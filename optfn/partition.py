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
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import attrs
from torch import nn

from optfn.optimizer_specs import AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.rules import ParamRules, compile_patterns, first_match

__all__ = ["ModelsLike", "ParamEntry", "Partition", "RoutingWarning", "partition_params"]

#: One module, a sequence of modules (names prefixed ``"0."``, ``"1."``...), or a mapping
#: ``{name: module}`` (names prefixed ``"name."``).
ModelsLike = nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]


class RoutingWarning(UserWarning):
    """A routing rule had no effect where one was expected (e.g. Muon got no parameter)."""


class ParamEntry(NamedTuple):
    """One trainable parameter of a :class:`Partition`."""

    name: str
    param: nn.Parameter
    route: str
    decay: bool
    lr_scale: float


# Reason codes, kept compact so that partitioning stays one cheap pass; turned into text by
# Partition.reasons(). decay: ("type", cls) | ("name", None) | ("ndim", n) | None.
# lr: (prefix or None, layer depth or None). route: ("muon", None) | ("adamw", why) | None.
_Why = tuple[tuple[str, object] | None, tuple[str | None, int | None], tuple[str, str] | None]


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
    rules: ParamRules
    spec: OptimizerSpecification
    _why: tuple[_Why, ...] = attrs.field(alias="why", repr=False)
    _owners: tuple[type, ...] = attrs.field(alias="owners", repr=False)
    _num_blocks: int = attrs.field(alias="num_blocks", repr=False, default=0)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[ParamEntry]:
        return map(ParamEntry, self.names, self.params, self.routes, self.decays, self.lr_scales)

    def entry(self, name: str) -> ParamEntry:
        """The row of the parameter called ``name`` (KeyError listing close names if absent)."""
        i = self._index(name)
        return ParamEntry(
            self.names[i], self.params[i], self.routes[i], self.decays[i], self.lr_scales[i]
        )

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            close = difflib.get_close_matches(name, self.names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"no trainable parameter named {name!r}{hint}") from None

    def reasons(self, name: str) -> tuple[str, ...]:
        """Why the parameter ``name`` has its route, decay and LR scale, in words."""
        return self._reasons_at(self._index(name))

    def _reasons_at(self, i: int) -> tuple[str, ...]:
        name = self.names[i]
        decay_why, (prefix, depth), route_why = self._why[i]
        out: list[str] = []
        if route_why is not None:
            kind, detail = route_why
            out.append(f"{detail} -> {kind}")
        if decay_why is not None:
            kind, detail = decay_why
            if kind == "type":
                out.append(f"{detail} -> no weight decay")
            elif kind == "name":
                pat = first_match(self.rules.no_decay_names, name)
                out.append(f"{pat} -> no weight decay")
            else:
                out.append(f"ndim {detail} <= {self.rules.no_decay_max_ndim} -> no weight decay")
        if prefix is not None:
            scale = dict(self.rules.lr_scales)[prefix]
            out.append(f"{prefix or '<all>'} -> lr x{scale:g}")
        if depth is not None and self.rules.layer_decay is not None:
            ld = self.rules.layer_decay
            exp = self._num_blocks + 1 - depth
            out.append(f"layer depth {depth}/{self._num_blocks + 1} -> lr x{ld.rate:g}^{exp}")
        return tuple(out)

    def explain(self) -> str:
        """A plain-text table: name, shape, route, decay, LR scale, reasons."""
        rows = [("name", "shape", "route", "decay", "lr x", "why")]
        for i, e in enumerate(self):
            rows.append(
                (
                    e.name,
                    "x".join(map(str, e.param.shape)) or "scalar",
                    e.route,
                    "yes" if e.decay else "no",
                    f"{e.lr_scale:g}",
                    "; ".join(self._reasons_at(i)) or "-",
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        lines = []
        for r in rows:
            cells = [r[c].ljust(widths[c]) for c in range(5)]
            lines.append("  ".join([*cells, r[5]]).rstrip())
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)


def _unwrap(module: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / torch.compile wrappers (any nesting)."""
    while True:
        inner = getattr(module, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(inner, nn.Module):
            module = inner
            continue
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
            continue
        return module


def _named_models(models: ModelsLike) -> list[tuple[str, nn.Module]]:
    if isinstance(models, nn.Module):
        return [("", _unwrap(models))]
    if isinstance(models, Mapping):
        out = []
        for key, m in models.items():
            if not isinstance(key, str) or not key or "." in key:
                raise ValueError(
                    f"models: mapping keys name the models and must be non-empty strings "
                    f"without dots, got {key!r}"
                )
            if not isinstance(m, nn.Module):
                raise TypeError(f"models[{key!r}]: must be a torch.nn.Module, got {type(m)!r}")
            out.append((key + ".", _unwrap(m)))
        return out
    if isinstance(models, Sequence) and not isinstance(models, str):
        out = []
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise TypeError(f"models[{i}]: must be a torch.nn.Module, got {type(m)!r}")
            out.append((f"{i}.", _unwrap(m)))
        if not out:
            raise ValueError("models: got an empty sequence; pass at least one torch.nn.Module")
        return out
    raise TypeError(
        f"models: expected a torch.nn.Module, a sequence of them or a mapping name -> module, "
        f"got {type(models).__name__}"
    )


def iter_modules(root: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) in registration order, each module once, wrappers see-through.

    ``prefix`` is ``""`` or ends with a dot; the root itself is yielded as ``prefix[:-1]``.
    """
    seen: set[int] = set()
    stack: list[tuple[str, nn.Module]] = [(prefix[:-1], root)]
    while stack:
        name, mod = stack.pop()
        mod = _unwrap(mod)
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        yield name, mod
        children = [(k, c) for k, c in mod._modules.items() if c is not None]
        base = f"{name}." if name else ""
        for k, c in reversed(children):
            stack.append((base + k, c))


def _matching_type(cls: type, names: frozenset[str]) -> str | None:
    for base in cls.__mro__:
        if base.__name__ in names or f"{base.__module__}.{base.__qualname__}" in names:
            return base.__name__
    return None


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
    ``MuonSpec`` the parameters that ``rules.muon`` picks go to ``"muon"``. As seed 000 says,
    LR scales apply only to the AdamW part of a Muon setup.

    Raises ``ValueError`` when a prefix of ``rules.lr_scales`` or the ``blocks`` of
    ``rules.layer_decay`` matches no parameter. Warns (:class:`RoutingWarning`) when a
    ``MuonSpec`` gets no Muon parameter: seed 000 then trains everything with AdamW, which is
    legal but rarely meant.

    >>> import torch
    >>> from optfn import MuonSpec, partition_params
    >>> m = torch.nn.ModuleDict({"transformer": torch.nn.Linear(8, 8)})
    >>> [(e.name, e.route) for e in partition_params(m, spec=MuonSpec())]
    [('transformer.weight', 'muon'), ('transformer.bias', 'adamw')]
    """
    rules = ParamRules() if rules is None else rules
    spec = AdamWSpec() if spec is None else spec
    if not isinstance(rules, ParamRules):
        raise TypeError(f"rules: expected ParamRules, got {type(rules).__name__}")
    if not isinstance(spec, OptimizerSpecification):
        raise TypeError(f"spec: expected an optimizer spec, got {type(spec).__name__}")

    use_muon = isinstance(spec, MuonSpec)
    base_route = "adamw" if use_muon else spec.optimizer_type
    muon = rules.muon
    muon_inc = compile_patterns(muon.include) if use_muon else None
    muon_exc = compile_patterns(muon.exclude) if use_muon else None
    muon_types = frozenset(muon.exclude_types)
    nd_names = compile_patterns(rules.no_decay_names)
    nd_types = frozenset(rules.no_decay_types)
    max_ndim = rules.no_decay_max_ndim
    scales = dict(rules.lr_scales)
    used_prefixes: set[str] = set()
    ld = rules.layer_decay
    ld_stem = compile_patterns(ld.stem) if ld is not None else None
    ld_block_prefix = f"{ld.blocks}." if ld is not None else ""

    type_cache: dict[type, str | None] = {}
    muon_type_cache: dict[type, bool] = {}
    seen_params: set[int] = set()
    names: list[str] = []
    params: list[nn.Parameter] = []
    routes: list[str] = []
    decays: list[bool] = []
    lr_scales: list[float] = []
    why: list[_Why] = []
    owners: list[type] = []
    depths: list[int | None] = []
    total = 0

    root_scale: tuple[float, str | None] = (scales[""], "") if "" in scales else (1.0, None)
    for prefix, root in _named_models(models):
        # module name -> (LR scale, the deepest prefix that set it), inherited by children
        mod_scale: dict[str, tuple[float, str | None]] = {}
        root_name = prefix[:-1]
        for mname, mod in iter_modules(root, prefix):
            inherited = (
                root_scale if mname == root_name else mod_scale[mname.rpartition(".")[0]]
            )
            own = scales.get(mname) if mname else None
            cur = (own, mname) if own is not None else inherited
            mod_scale[mname] = cur
            plist = mod._parameters
            if not plist:
                continue
            cls = type(mod)
            if cls not in type_cache:
                type_cache[cls] = _matching_type(cls, nd_types)
            norm_type = type_cache[cls]
            base = f"{mname}." if mname else ""
            for pname, p in plist.items():
                if p is None:
                    continue
                total += 1
                if not p.requires_grad or id(p) in seen_params:
                    continue
                seen_params.add(id(p))
                name = base + pname
                ndim = p.ndim
                # weight decay
                decay_why: tuple[str, object] | None
                if norm_type is not None:
                    decay_why = ("type", norm_type)
                elif nd_names is not None and nd_names.search(name):
                    decay_why = ("name", None)
                elif max_ndim is not None and ndim <= max_ndim:
                    decay_why = ("ndim", ndim)
                else:
                    decay_why = None
                # route
                route = base_route
                route_why: tuple[str, str] | None = None
                if use_muon:
                    if ndim < muon.min_ndim:
                        route_why = ("adamw", f"ndim {ndim} < {muon.min_ndim}")
                    elif muon_inc is None or not muon_inc.search(name):
                        route_why = ("adamw", "no muon.include pattern matches")
                    elif muon_exc is not None and muon_exc.search(name):
                        pat = first_match(muon.exclude, name)
                        route_why = ("adamw", f"muon.exclude {pat!r}")
                    else:
                        if cls not in muon_type_cache:
                            muon_type_cache[cls] = _matching_type(cls, muon_types) is not None
                        if muon_type_cache[cls]:
                            route_why = ("adamw", f"{cls.__name__} in muon.exclude_types")
                        else:
                            route = "muon"
                            pat = first_match(muon.include, name)
                            route_why = ("muon", f"ndim {ndim}, {pat!r}")
                # LR scale: deepest prefix (a parameter's own full name is deepest of all)
                own_p = scales.get(name)
                scale, sprefix = (own_p, name) if own_p is not None else cur
                if sprefix is not None:
                    used_prefixes.add(sprefix)
                depth: int | None = None
                if ld is not None:
                    depth = _layer_depth(name, prefix, ld_block_prefix, ld_stem)
                if route == "muon":  # seed 000: Muon parameters always use the Muon LR
                    scale, sprefix = 1.0, None
                names.append(name)
                params.append(p)
                routes.append(route)
                decays.append(decay_why is None)
                lr_scales.append(scale)
                why.append((decay_why, (sprefix, depth), route_why))
                owners.append(cls)
                depths.append(depth)

    for p in scales:  # a prefix shadowed by deeper ones still matches: only "none" is an error
        if p not in used_prefixes and not any(n.startswith(p + ".") or n == p for n in names):
            _raise_unused_prefix(p, names)

    num_blocks = 0
    if ld is not None:
        block_depths = [d for d in depths if d is not None and d > 0]
        if not block_depths:
            raise ValueError(
                f"ParamRules.layer_decay.blocks: {ld.blocks!r} matches no parameter "
                f"(expected names like '{ld.blocks}.0.weight'); "
                f"first names are {', '.join(map(repr, names[:3]))}"
            )
        num_blocks = max(block_depths)  # block i has depth i + 1; the head has L + 1
        final: list[float] = []
        for i, d in enumerate(depths):
            if d is None or routes[i] == "muon":
                final.append(lr_scales[i])
                continue
            dd = num_blocks + 1 if d < 0 else d
            fixed_why = why[i]
            why[i] = (fixed_why[0], (fixed_why[1][0], dd), fixed_why[2])
            final.append(lr_scales[i] * ld.rate ** (num_blocks + 1 - dd))
        lr_scales = final

    if use_muon and names and "muon" not in routes:
        warnings.warn(
            f"MuonSpec: rules.muon routes no parameter to Muon (include={muon.include!r}); "
            "every parameter will use AdamW. Use MuonRouting.hidden_matrices() or your own "
            "include patterns to pick the matrices.",
            RoutingWarning,
            stacklevel=2,
        )

    return Partition(
        names=tuple(names),
        params=tuple(params),
        routes=tuple(routes),
        decays=tuple(decays),
        lr_scales=tuple(lr_scales),
        rules=rules,
        spec=spec,
        why=tuple(why),
        owners=tuple(owners),
        num_blocks=num_blocks,
    )


def _layer_depth(name: str, prefix: str, block_prefix: str, stem: re.Pattern[str] | None) -> int:
    """Depth under layer decay: i + 1 in block i, 0 in the stem, -1 (= head) otherwise."""
    local = name[len(prefix) :]
    if local.startswith(block_prefix):
        m = _BLOCK_INDEX.match(local, len(block_prefix))
        if m:
            return int(m.group(1)) + 1
    if stem is not None and stem.search(name):
        return 0
    return -1


def _raise_unused_prefix(prefix: str, names: list[str]) -> None:
    if not names:
        raise ValueError(f"ParamRules.lr_scales[{prefix!r}]: the model has no trainable parameter")
    modules = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
    close = difflib.get_close_matches(prefix, modules + names, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"ParamRules.lr_scales[{prefix!r}]: the prefix matches no trainable parameter{hint} "
        f"(a prefix is a qualified module or parameter name, e.g. {(modules or names)[0]!r})"
    )
