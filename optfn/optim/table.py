"""optfn's one table of kinds: every spec class by its ``"type"`` tag, with its family and,
for an optimizer, everything optfn needs to build it.

:data:`KINDS` (a :class:`KindTable`) holds one entry per tag. An optimizer's entry is an
:class:`OptimizerKind`: the spec class (whose ``optimizer_type`` is the tag in configs and in
``from_serialized``), how its spec fields become the hyper-parameters of a param group on each
of its :class:`Route`\\ s, and the function that builds the torch optimizer from those groups.
Every other spec class (schedule shapes, rules and labels, configs) is a :class:`SpecKind`:
class, tag and family. Everything reads this table: :func:`optfn.partition_params` (which
routes), :func:`optfn.make_param_groups` (which hyper-parameters), :func:`optfn.make_optimizer`
(which class), the converter (which tag names which class), ``optfn plan``, checkpoints and
:mod:`optfn.strategies` (which kinds to draw).

Adding a built-in optimizer is its spec class plus one entry in :func:`_library_kinds`; adding
your own is a frozen spec class and one call of :func:`register_optimizer` (the README shows a
whole example); any other spec class is added with :func:`register_spec`. Config files can only
name a registered tag: the table is closed to files and open to code.

>>> from optfn import MuonSpec
>>> from optfn.optim.table import KINDS, OPTIMIZERS
>>> [k.tag for k in OPTIMIZERS][:5]
['adam', 'adamw', 'muon', 'sgd', 'nadam']
>>> OPTIMIZERS.get(MuonSpec()).matrix_route
'muon'
>>> KINDS.kinds["warmup_cosine"].family, KINDS.kinds["muon"].family
('schedule', 'optimizer')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from inspect import isabstract
from typing import Any, Literal

import attrs
import torch

from optfn import schedules
from optfn.config import OptimConfig
from optfn.errors import SpecError, SpecTypeError
from optfn.optim.muon import MuonWithAdamW
from optfn.optim.normuon import NorMuonWithAdam
from optfn.schedules import Schedule
from optfn.specs import torch_optimizers as torch_specs
from optfn.specs.checks import plain_number
from optfn.specs.labels import LabelRule
from optfn.specs.normuon import NorMuonSpec
from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "FAMILIES",
    "IMPLEMENTATION_KEYS",
    "KINDS",
    "OPTIMIZERS",
    "TAG_KEY",
    "VERSION_KEY",
    "Family",
    "Kind",
    "KindTable",
    "OptimizerKind",
    "OptimizerTable",
    "Route",
    "SpecKind",
    "TorchBuilder",
    "check_implementation",
    "family_of",
    "kind_of",
    "register_optimizer",
    "register_spec",
    "torch_builder",
]

#: Builds the torch optimizer from optfn's param groups and the spec.
Builder = Callable[[list[dict[str, Any]], Any], torch.optim.Optimizer]

_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")

#: What a spec's ``implementation`` puts in each param group (and in torch's constructor):
#: ``"auto"`` nothing (torch's own default), the others torch's ``foreach``/``fused`` flags.
IMPLEMENTATION_KEYS: dict[str, tuple[tuple[str, bool], ...]] = {
    "auto": (),
    "foreach": (("foreach", True),),
    "fused": (("fused", True),),
    "for_loop": (("foreach", False),),
}


@attrs.frozen
class Route:
    """One kind of param group of an optimizer, and how a spec's fields fill it.

    - ``name``: the group's ``"route"`` value (``"adamw"``, ``"muon"``...).
    - ``lr``: the spec field holding the base LR of this route (times the parameter's LR scale).
    - ``weight_decay``: the spec field holding the decay (0.0 for parameters that do not
      decay), or ``None`` when the optimizer has no weight decay.
    - ``keys``: ``(group key, spec field)`` pairs copied as they are (``("betas", "betas")``).
    - ``fixed``: ``(group key, value)`` pairs every group of the route carries.
    - ``implementation``: the spec field holding the implementation choice (``"auto"``,
      ``"foreach"``, ``"fused"``, ``"for_loop"``; see :data:`IMPLEMENTATION_KEYS`), or ``None``.

    >>> r = Route("adamw", keys=(("betas", "betas"), ("eps", "eps")))
    >>> from optfn import AdamWSpec
    >>> r.hyper(AdamWSpec(learning_rate=0.1), decay=False, scale=2.0)
    {'route': 'adamw', 'lr': 0.2, 'weight_decay': 0.0, 'betas': (0.9, 0.999), 'eps': 1e-08}
    """

    name: str
    lr: str = "learning_rate"
    weight_decay: str | None = "weight_decay"
    keys: tuple[tuple[str, str], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    implementation: str | None = None

    def hyper(self, spec: OptimizerSpecification, decay: bool, scale: float) -> dict[str, Any]:
        """The hyper-parameters of one group (everything but the parameters)."""
        out: dict[str, Any] = {
            "route": self.name,
            "lr": _plain(getattr(spec, self.lr)) * scale,
        }
        if self.weight_decay is not None:
            out["weight_decay"] = _plain(getattr(spec, self.weight_decay)) if decay else 0.0
        for key, field in self.keys:
            out[key] = _plain(getattr(spec, field))
        if self.fixed:
            out.update(self.fixed)
        if self.implementation is not None:
            flags = IMPLEMENTATION_KEYS[getattr(spec, self.implementation)]
            if flags:
                out.update(flags)
        return out

    def with_keys(
        self, spec: OptimizerSpecification, values: Mapping[str, Any], owner: str
    ) -> OptimizerSpecification:
        """``spec`` with the fields behind the group keys ``values`` replaced, validated by the
        spec's own checks (a label's ``hyper``). Errors name ``owner.hyper[key]``.

        >>> from optfn import AdamWSpec
        >>> r = Route("adamw", keys=(("betas", "betas"),))
        >>> r.with_keys(AdamWSpec(), {"betas": (0.8, 0.9)}, "rule").betas
        (0.8, 0.9)
        """
        fields = dict(self.keys)
        changes: dict[str, Any] = {}
        for key, value in values.items():
            field = fields.get(key)
            if field is None:
                held = ", ".join(k for k, _ in self.keys) or "none"
                raise SpecError(
                    owner,
                    f"hyper[{brief(key)}]",
                    f"route {self.name!r} of {type(spec).__name__} has no group key "
                    f"{brief(key)}; the keys a label can set there: {held}",
                )
            if isinstance(getattr(type(spec), field, None), property):
                raise SpecError(
                    owner,
                    f"hyper[{brief(key)}]",
                    f"{type(spec).__name__} computes {key!r} from other fields; "
                    "set those in the spec instead",
                )
            changes[field] = value
        if not changes:
            return spec
        try:
            return attrs.evolve(spec, **changes)
        except (SpecError, SpecTypeError) as exc:
            at = next((k for k, f in fields.items() if f == exc.field.split("[")[0]), None)
            where = f"hyper[{brief(at)}]" if at is not None else "hyper"
            err = SpecTypeError if isinstance(exc, TypeError) else SpecError
            raise err(owner, where, f"{exc.reason} (checked as {exc})") from exc


def _plain(value: Any) -> Any:
    """A spec's value as a group holds it: numpy scalars (also inside a tuple) become the Python
    numbers they equal, so groups and optimizer state_dicts hold only what weights_only loading
    reads. Plain values, the common case, are returned at once."""
    kind = type(value)
    if kind is float or kind is int or kind is bool or kind is str or value is None:
        return value
    if kind is tuple:
        if all(type(x) is float or type(x) is int for x in value):
            return value
        return tuple(map(plain_number, value))
    return plain_number(value)


@attrs.frozen
class OptimizerKind:
    """One optimizer optfn can build: spec class, routes and builder.

    ``routes[0]`` is the route of every parameter, except that when ``matrix_route`` names
    another of the routes, the parameters that ``ParamRules.muon`` picks take that route
    (Muon's matrices).
    """

    spec: type[OptimizerSpecification]
    build: Builder
    routes: tuple[Route, ...]
    matrix_route: str | None = None

    @property
    def tag(self) -> str:
        """The type tag: the spec class's ``optimizer_type``."""
        return self.spec.optimizer_type

    @property
    def family(self) -> Family:
        """Always ``"optimizer"``."""
        return "optimizer"

    @property
    def default_route(self) -> Route:
        return self.routes[0]

    def route(self, name: str) -> Route:
        """The route called ``name`` (``KeyError`` naming the routes if there is none)."""
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(
            f"{self.tag}: no route {brief(name)}; routes: {[r.name for r in self.routes]}"
        )


def _check_kind(kind: OptimizerKind) -> None:
    cls: object = kind.spec
    if not (isinstance(cls, type) and issubclass(cls, OptimizerSpecification)):
        raise SpecTypeError(
            "", "spec", f"must be an attrs subclass of OptimizerSpecification, got {brief(cls)}"
        )
    tag: object = cls.optimizer_type
    if not attrs.has(cls):
        raise SpecTypeError("", "spec", f"{cls.__name__} must be an attrs class (@attrs.frozen)")
    if not (isinstance(tag, str) and _TAG.fullmatch(tag)):
        raise SpecError(
            cls.__name__, "optimizer_type", f"must be a name like 'my_optimizer', got {brief(tag)}"
        )
    if not callable(kind.build):
        raise SpecTypeError(
            "", "build", f"must be callable (groups, spec) -> Optimizer, got {brief(kind.build)}"
        )
    if not kind.routes or not all(isinstance(r, Route) for r in kind.routes):
        raise SpecTypeError(
            "", "routes", f"must be a non-empty tuple of Route, got {brief(kind.routes)}"
        )
    names = [r.name for r in kind.routes]
    if len(set(names)) != len(names):
        raise SpecError("", "routes", f"route names must be distinct, got {names}")
    if kind.matrix_route is not None and kind.matrix_route not in names[1:]:
        raise SpecError(
            "",
            "matrix_route",
            f"must name one of the routes after the first {names[1:]}, "
            f"got {brief(kind.matrix_route)}",
        )
    fields = {a.name for a in attrs.fields(cls)}
    clash = {TAG_KEY, VERSION_KEY} & fields
    if clash:
        raise SpecError("", "spec", f"a spec field cannot be named {sorted(clash)[0]!r}")
    for r in kind.routes:
        used = [
            r.lr,
            *([r.weight_decay] if r.weight_decay else []),
            *(f for _, f in r.keys),
            *([r.implementation] if r.implementation else []),
        ]
        # a field, or a property computed from fields (AdafactorSpec.eps)
        missing = [
            f for f in used if f not in fields and not isinstance(getattr(cls, f, None), property)
        ]
        if missing:
            raise SpecError(
                "",
                "routes",
                f"route {brief(r.name)} reads {missing} but {cls.__name__} has no such field",
            )


#: The key of a spec's tag in files and dicts, and of a config file's version: no spec field
#: can be named either.
TAG_KEY = "type"
VERSION_KEY = "version"
#: Abstract bases whose fields hold any registered subclass, chosen by the ``"type"`` tag.
FAMILIES: tuple[type, ...] = (OptimizerSpecification, Schedule)

#: What a kind is: ``"optimizer"`` (an :class:`OptimizerKind`, with its builder and routes),
#: ``"schedule"`` (a shape, a ``Join``...), ``"rules"`` (routing rules and labels),
#: ``"config"`` (bundles of the others) or ``"other"`` (a class registered with
#: :func:`register_spec` that is none of these).
Family = Literal["optimizer", "schedule", "rules", "config", "other"]


@attrs.frozen
class SpecKind:
    """A kind that is not an optimizer: its spec class, its tag and its family.

    >>> from optfn import WarmupCosine
    >>> KINDS.by_tag["warmup_cosine"] is WarmupCosine, KINDS.kinds["warmup_cosine"].family
    (True, 'schedule')
    """

    spec: type
    tag: str
    family: Family = "other"


#: An entry of the table: an optimizer kind or another spec kind.
Kind = OptimizerKind | SpecKind


def _snake_case(name: str) -> str:
    """``"WarmupCosine"`` -> ``"warmup_cosine"`` (the default tag of a spec class)."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def family_of(cls: type) -> Family:
    """The family a spec class belongs to by its base (``"other"`` when none says), so that an
    entry written back through a view (:attr:`KindTable.others`) keeps its family.

    >>> from optfn import OptimConfig, ParamRules
    >>> family_of(ParamRules), family_of(OptimConfig), family_of(int)
    ('rules', 'config', 'other')
    """
    if issubclass(cls, OptimizerSpecification):
        return "optimizer"
    if issubclass(cls, Schedule):
        return "schedule"
    if issubclass(cls, (LabelRule, LayerDecay, MuonRouting, ParamRules)):
        return "rules"
    if issubclass(cls, (schedules.HyperSchedules, OptimConfig)):
        return "config"
    return "other"


def _check_spec_kind(kind: SpecKind) -> None:
    cls: object = kind.spec
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise SpecTypeError("", "cls", f"must be an attrs class, got {cls!r}")
    if cls in FAMILIES:
        raise SpecTypeError(
            "", "cls", f"{cls.__name__} is an abstract base; register its subclasses"
        )
    if not (isinstance(kind.tag, str) and _TAG.fullmatch(kind.tag)):
        raise SpecError("", "tag", f"must be a name like 'my_schedule', got {kind.tag!r}")
    if issubclass(cls, OptimizerSpecification) and cls.optimizer_type != kind.tag:
        raise SpecError(
            "",
            "tag",
            f"an optimizer spec is tagged by its optimizer_type "
            f"{cls.optimizer_type!r}, got {kind.tag!r}",
        )
    clash = {TAG_KEY, VERSION_KEY} & {a.name for a in attrs.fields(cls)}
    if clash:
        raise SpecError("", "cls", f"a spec field cannot be named {sorted(clash)[0]!r}")


@attrs.define
class KindTable:
    """optfn's one table: every kind of spec by tag, with its family, its spec class and, for an
    optimizer, its builder and routes (:class:`OptimizerKind`). :data:`KINDS` is optfn's.

    The converter reads it (which class a ``"type"`` tag names), the builders read its optimizer
    entries (:func:`kind_of`), :mod:`optfn.strategies` draws every kind of it.
    :func:`register_optimizer` and :func:`register_spec` add to it; nothing in a file can.
    ``SpecRegistry`` (:mod:`optfn.io.registry`) is this class, and :class:`OptimizerTable`
    its optimizer entries.

    >>> from optfn import MuonSpec, OptimizerSpecification, WarmupCosine
    >>> KINDS.tag_of(WarmupCosine), KINDS.members(OptimizerSpecification)["muon"] is MuonSpec
    ('warmup_cosine', True)
    >>> sorted({k.family for k in KINDS.kinds.values()})
    ['config', 'optimizer', 'rules', 'schedule']
    """

    kinds: dict[str, Kind] = attrs.field(factory=dict)

    # ---- reading -----------------------------------------------------------------------------
    @property
    def by_tag(self) -> dict[str, type]:
        """Tag -> spec class for every kind."""
        return {t: k.spec for t, k in self.kinds.items()}

    def family(self, family: Family) -> dict[str, Kind]:
        """Tag -> entry for the kinds of one family, in the table's order."""
        return {t: k for t, k in self.kinds.items() if k.family == family}

    def tag_of(self, cls: type) -> str | None:
        """The tag of a registered class, else ``None``."""
        kind = self.kinds.get(getattr(cls, "optimizer_type", None) or "")
        if kind is not None and kind.spec is cls:
            return kind.tag
        return next((t for t, k in self.kinds.items() if k.spec is cls), None)

    def members(self, base: type) -> dict[str, type]:
        """Tag -> class for the registered classes that are ``base`` or below it."""
        return {t: k.spec for t, k in self.kinds.items() if issubclass(k.spec, base)}

    @property
    def optimizers(self) -> OptimizerTable:
        """The optimizer entries, as an :class:`OptimizerTable` (a view: it writes here)."""
        return OptimizerTable(self)

    @property
    def others(self) -> MutableMapping[str, type]:
        """Tag -> class of every kind that is not an optimizer (a view: it writes here)."""
        return _OthersView(self)

    # ---- adding ------------------------------------------------------------------------------
    def add(self, kind: Kind) -> Kind:
        """Add an entry after checking it; adding an equal entry again does nothing."""
        if isinstance(kind, OptimizerKind):
            _check_kind(kind)
        elif isinstance(kind, SpecKind):
            _check_spec_kind(kind)
        else:
            raise SpecTypeError(
                "", "kind", f"must be an OptimizerKind or a SpecKind, got {brief(kind)}"
            )
        have = self.kinds.get(kind.tag)
        if have is not None and have != kind:
            if isinstance(kind, OptimizerKind):
                raise SpecError(
                    "",
                    "optimizer_type",
                    f"{brief(kind.tag)} is taken by {have.spec.__name__}; "
                    "give your spec another optimizer_type",
                )
            raise SpecError("", "tag", f"{kind.tag!r} is taken by {have.spec.__name__}")
        old = self.tag_of(kind.spec)
        if old is not None and old != kind.tag:
            if isinstance(kind, OptimizerKind):
                raise SpecError(
                    "", "spec", f"{kind.spec.__name__} is already registered as {brief(old)}"
                )
            raise SpecError(
                "", "tag", f"cls: {kind.spec.__name__} is already registered as {old!r}"
            )
        self.kinds[kind.tag] = kind
        return kind

    def register(self, cls: type, tag: str | None = None, family: Family | None = None) -> str:
        """Add the spec class ``cls`` (not an optimizer: see :func:`register_optimizer`) under
        ``tag`` (default: its snake_case name) and ``family`` (default: by its base, see
        :func:`family_of`); returns the tag. The same pair again does nothing."""
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise SpecTypeError("", "cls", f"must be an attrs class, got {cls!r}")
        if tag is None:
            tag = getattr(cls, "optimizer_type", "") or _snake_case(cls.__name__)
        kind = SpecKind(cls, tag, family_of(cls) if family is None else family)
        _check_spec_kind(kind)
        if issubclass(cls, OptimizerSpecification):
            have = self.kinds.get(kind.tag)
            if have is not None and have.spec is not cls:
                raise SpecError("", "tag", f"{kind.tag!r} is taken by {have.spec.__name__}")
            if have is not None:
                return kind.tag
            raise SpecTypeError(
                "",
                "cls",
                f"{cls.__name__} is an optimizer spec; register it with "
                "optfn.register_optimizer(cls, build=...), which also tells optfn how to build it",
            )
        self.add(kind)
        return kind.tag

    @classmethod
    def library(cls) -> KindTable:
        """A new table holding optfn's own kinds: the optimizers (in :func:`_library_kinds`'s
        order), every schedule shape, the rules, labels and configs."""
        table = cls()
        for kind in _library_kinds():
            table.add(kind)
        for name in sorted(schedules.__all__):
            obj = getattr(schedules, name)
            if isinstance(obj, type) and issubclass(obj, Schedule) and not isabstract(obj):
                table.register(obj)
        for other in (
            LabelRule,
            LayerDecay,
            MuonRouting,
            ParamRules,
            schedules.HyperSchedules,
            OptimConfig,
        ):
            table.register(other)  # its family by family_of: "rules" or "config"
        return table


class _OthersView(MutableMapping[str, type]):
    """Tag -> class of a table's kinds that are not optimizers (writes go to the table)."""

    def __init__(self, table: KindTable) -> None:
        self._table = table

    def __getitem__(self, tag: str) -> type:
        kind = self._table.kinds[tag]
        if isinstance(kind, OptimizerKind):
            raise KeyError(tag)
        return kind.spec

    def __setitem__(self, tag: str, cls: type) -> None:
        if isinstance(cls, type) and issubclass(cls, OptimizerSpecification):
            raise SpecTypeError(
                "", "cls", f"{cls.__name__} is an optimizer spec: use register_optimizer"
            )
        kind = SpecKind(cls, tag, family_of(cls) if isinstance(cls, type) else "other")
        _check_spec_kind(kind)
        have = self._table.kinds.get(tag)
        if isinstance(have, OptimizerKind):
            raise SpecError("", "tag", f"{tag!r} is taken by the optimizer {have.spec.__name__}")
        self._table.kinds[tag] = kind

    def __delitem__(self, tag: str) -> None:
        self[tag]
        del self._table.kinds[tag]

    def __iter__(self) -> Iterator[str]:
        return iter([t for t, k in self._table.kinds.items() if not isinstance(k, OptimizerKind)])

    def __len__(self) -> int:
        return sum(not isinstance(k, OptimizerKind) for k in self._table.kinds.values())


class _OptimizersView(MutableMapping[str, OptimizerKind]):
    """Tag -> entry of a table's optimizer kinds (writes go to the table)."""

    def __init__(self, table: KindTable) -> None:
        self._table = table

    def __getitem__(self, tag: str) -> OptimizerKind:
        kind = self._table.kinds[tag]
        if not isinstance(kind, OptimizerKind):
            raise KeyError(tag)
        return kind

    def __setitem__(self, tag: str, kind: OptimizerKind) -> None:
        if not isinstance(kind, OptimizerKind):
            raise SpecTypeError("", "kind", f"must be an OptimizerKind, got {brief(kind)}")
        if kind.tag != tag:
            raise SpecError("", "tag", f"{tag!r} is not the kind's tag {kind.tag!r}")
        _check_kind(kind)
        have = self._table.kinds.get(tag)
        if have is not None and not isinstance(have, OptimizerKind):
            raise SpecError("", "tag", f"{tag!r} is taken by {have.spec.__name__}")
        self._table.kinds[tag] = kind

    def __delitem__(self, tag: str) -> None:
        self[tag]
        del self._table.kinds[tag]

    def __iter__(self) -> Iterator[str]:
        return iter([t for t, k in self._table.kinds.items() if isinstance(k, OptimizerKind)])

    def __len__(self) -> int:
        return sum(isinstance(k, OptimizerKind) for k in self._table.kinds.values())


class OptimizerTable:
    """The optimizer entries of a :class:`KindTable` (a view: reading and writing go to that
    table). :data:`OPTIMIZERS` is optfn's; add yours with :func:`register_optimizer`.

    ``OptimizerTable()`` is a view of a new empty table.
    """

    __slots__ = ("table",)

    def __init__(self, table: KindTable | None = None) -> None:
        self.table = KindTable() if table is None else table

    @property
    def by_tag(self) -> MutableMapping[str, OptimizerKind]:
        """Tag -> entry of every optimizer kind."""
        return _OptimizersView(self.table)

    def register(self, kind: OptimizerKind) -> OptimizerKind:
        """Add ``kind``; registering an equal kind again does nothing."""
        if not isinstance(kind, OptimizerKind):
            raise SpecTypeError("", "kind", f"must be an OptimizerKind, got {brief(kind)}")
        self.table.add(kind)
        return kind

    def get(self, spec: OptimizerSpecification | type) -> OptimizerKind | None:
        """The kind of a spec (or spec class): its own class's entry, else ``None``."""
        cls = spec if isinstance(spec, type) else type(spec)
        kind = self.table.kinds.get(getattr(cls, "optimizer_type", ""))
        return kind if isinstance(kind, OptimizerKind) and kind.spec is cls else None

    def specs(self) -> Mapping[str, type[OptimizerSpecification]]:
        return {t: k.spec for t, k in self.table.kinds.items() if isinstance(k, OptimizerKind)}

    @classmethod
    def library(cls) -> OptimizerTable:
        """The optimizer entries of a new :meth:`KindTable.library` (Adam, AdamW, Muon, then
        torch.optim's SGD, NAdam, RAdam, Adamax, Adagrad, RMSprop, Adadelta, Adafactor, ASGD and
        Rprop, then NorMuon)."""
        return cls(KindTable.library())

    def __iter__(self) -> Iterator[OptimizerKind]:
        return iter([k for k in self.table.kinds.values() if isinstance(k, OptimizerKind)])

    def __len__(self) -> int:
        return len(self.by_tag)


@attrs.frozen
class TorchBuilder:
    """A builder of a torch optimizer class taking ``(params, **hyper-parameters)`` (see
    :func:`torch_builder`); ``cls`` is that class."""

    cls: type[torch.optim.Optimizer]
    route: Route
    group_only: tuple[str, ...] = ()

    @property
    def torch_name(self) -> str:
        """``torch.optim.SGD`` for a class of torch.optim, else its module and name."""
        cls = self.cls
        in_torch = getattr(torch.optim, cls.__name__, None) is cls
        return f"torch.optim.{cls.__name__}" if in_torch else f"{cls.__module__}.{cls.__qualname__}"

    def __call__(self, groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
        defaults = self.route.hyper(spec, decay=True, scale=1.0)
        del defaults["route"]
        for key in self.group_only:
            del defaults[key]
        check_implementation(groups, spec, self.torch_name)
        return self.cls(groups, **defaults)


def torch_builder(
    cls: type[torch.optim.Optimizer], route: Route, *, group_only: tuple[str, ...] = ()
) -> TorchBuilder:
    """A builder for a torch optimizer class taking ``(params, **hyper-parameters)``: the groups
    carry every hyper-parameter, and ``optimizer.defaults`` are ``route``'s for the spec.

    ``group_only``: keys the groups carry but the class's constructor does not take (Rprop's
    ``weight_decay``, always 0.0, so that every optfn group states its decay).

    >>> torch_builder(torch.optim.SGD, Route("sgd")).cls is torch.optim.SGD
    True
    """
    return TorchBuilder(cls, route, tuple(group_only))


def _fused_devices() -> list[str]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # pragma: no cover - torch moved it: trust torch's own check
        return ["cpu", "cuda", "mps", "xpu", "hpu", "mtia"]
    return list(_get_fused_kernels_supported_devices())


def check_implementation(groups: list[dict[str, Any]], spec: Any, torch_name: str) -> None:
    """Refuse, before torch sees them, parameters the spec's ``implementation`` cannot run.

    ``"fused"`` needs every parameter to be a real floating-point tensor on a device with
    torch's fused kernels; anything else is a :class:`~optfn.errors.SpecError` (a
    ``ValueError``) naming the parameter, its dtype and device, and the choice.
    """
    if not any(g.get("fused") for g in groups):
        return
    devices = _fused_devices()
    for g in groups:
        if not g.get("fused"):
            continue
        names = g.get("param_names") or [f"#{i}" for i in range(len(g["params"]))]
        for name, p in zip(names, g["params"], strict=True):
            if p.device.type not in devices or not torch.is_floating_point(p):
                raise SpecError(
                    type(spec).__name__,
                    "implementation",
                    f"'fused' cannot run parameter {brief(name)} ({p.dtype} on {p.device.type}): "
                    f"{torch_name}'s fused kernels need real floating-point parameters on "
                    f"{', '.join(devices)}; choose 'foreach', 'for_loop' or 'auto'",
                )


def _muon_builder(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
    check_implementation(groups, spec, "MuonWithAdamW (AdamW groups)")
    return MuonWithAdamW(groups, zero_redundancy=spec.zero_redundancy)


def _normuon_builder(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
    return NorMuonWithAdam(groups, zero_redundancy=spec.zero_redundancy)


def _torch_kind(
    spec: type[OptimizerSpecification],
    cls: type[torch.optim.Optimizer],
    keys: tuple[str | tuple[str, str], ...],
    *,
    group_only: tuple[str, ...] = (),
) -> OptimizerKind:
    """The entry of a torch class whose group keys are the spec's field names (a pair renames).

    Every such spec has ``implementation``; the route is named after the tag."""
    pairs = tuple((k, k) if isinstance(k, str) else k for k in keys)
    route = Route(spec.optimizer_type, keys=pairs, implementation="implementation")
    return OptimizerKind(spec, torch_builder(cls, route, group_only=group_only), (route,))


_ADAM_KEYS = (("betas", "betas"), ("eps", "eps"), ("amsgrad", "amsgrad"), ("maximize", "maximize"))
_ADAM = Route(
    "adam",
    keys=(*_ADAM_KEYS, ("decoupled_weight_decay", "decoupled_weight_decay")),
    implementation="implementation",
)
_ADAMW = Route("adamw", keys=_ADAM_KEYS, implementation="implementation")


def _library_kinds() -> tuple[OptimizerKind, ...]:
    """optfn's optimizer kinds, one entry each, in the table's order.

    A built-in optimizer is its spec class (in :mod:`optfn.specs`) plus one entry here: the
    converter, the builders, ``optfn plan``, the exports, :mod:`optfn.strategies` (which draws
    every field from its validator) and the tests' lists of kinds read it. For a torch.optim
    class whose group keys are the spec's field names, the entry is one :func:`_torch_kind`.
    """
    optim = torch.optim
    return (
        OptimizerKind(AdamSpec, torch_builder(torch.optim.Adam, _ADAM), (_ADAM,)),
        OptimizerKind(AdamWSpec, torch_builder(torch.optim.AdamW, _ADAMW), (_ADAMW,)),
        OptimizerKind(
            MuonSpec,
            _muon_builder,
            (
                Route(
                    "adamw",
                    lr="adamw_lr",
                    keys=(("betas", "betas"), ("eps", "adamw_eps")),
                    fixed=(("amsgrad", False),),
                    implementation="implementation",
                ),
                Route(
                    "muon",
                    weight_decay="muon_weight_decay",
                    keys=(
                        ("momentum", "momentum"),
                        ("nesterov", "nesterov"),
                        ("ns_coefficients", "ns_coefficients"),
                        ("ns_steps", "ns_steps"),
                        ("eps", "muon_eps"),
                        ("adjust_lr_fn", "adjust_lr_fn"),
                    ),
                ),
            ),
            matrix_route="muon",
        ),
        _torch_kind(
            torch_specs.SGDSpec, optim.SGD, ("momentum", "dampening", "nesterov", "maximize")
        ),
        _torch_kind(
            torch_specs.NAdamSpec,
            optim.NAdam,
            ("betas", "eps", "momentum_decay", "decoupled_weight_decay", "maximize"),
        ),
        _torch_kind(
            torch_specs.RAdamSpec,
            optim.RAdam,
            ("betas", "eps", "decoupled_weight_decay", "maximize"),
        ),
        _torch_kind(torch_specs.AdamaxSpec, optim.Adamax, ("betas", "eps", "maximize")),
        _torch_kind(
            torch_specs.AdagradSpec,
            optim.Adagrad,
            ("lr_decay", "initial_accumulator_value", "eps", "maximize"),
        ),
        _torch_kind(
            torch_specs.RMSpropSpec,
            optim.RMSprop,
            ("alpha", "eps", "momentum", "centered", "maximize"),
        ),
        _torch_kind(torch_specs.AdadeltaSpec, optim.Adadelta, ("rho", "eps", "maximize")),
        _torch_kind(
            torch_specs.AdafactorSpec, optim.Adafactor, ("beta2_decay", "eps", "d", "maximize")
        ),
        _torch_kind(torch_specs.ASGDSpec, optim.ASGD, ("lambd", "alpha", "t0", "maximize")),
        # Rprop has no weight decay: its groups say weight_decay=0.0 (RpropSpec.weight_decay)
        _torch_kind(
            torch_specs.RpropSpec,
            optim.Rprop,
            ("etas", "step_sizes", "maximize"),
            group_only=("weight_decay",),
        ),
        # modded-nanogpt's NorMuon + Adam (optfn.optim.normuon)
        OptimizerKind(
            NorMuonSpec,
            _normuon_builder,
            (
                Route(
                    "adam",
                    lr="adam_lr",
                    weight_decay="adam_weight_decay",
                    keys=(
                        ("betas", "adam_betas"),
                        ("eps", "adam_eps"),
                        ("cautious_weight_decay", "adam_cautious_weight_decay"),
                        ("every", "adam_every"),
                    ),
                ),
                Route(
                    "normuon",
                    keys=(
                        ("momentum", "momentum"),
                        ("beta2", "beta2"),
                        ("orthogonalizer", "orthogonalizer"),
                        ("ns_steps", "ns_steps"),
                        ("cautious_weight_decay", "cautious_weight_decay"),
                        ("per_matrix_lr_mul", "per_matrix_lr_mul"),
                    ),
                ),
            ),
            matrix_route="normuon",
        ),
    )


#: optfn's one table: its own kinds, plus the ones added with :func:`register_optimizer` and
#: :func:`register_spec`.
KINDS = KindTable.library()
#: The optimizer entries of :data:`KINDS` (a view of it).
OPTIMIZERS = KINDS.optimizers


def kind_of(spec: object) -> OptimizerKind:
    """The table entry of ``spec`` (``TypeError`` listing the registered kinds if none).

    >>> from optfn import MuonSpec
    >>> [r.name for r in kind_of(MuonSpec()).routes]
    ['adamw', 'muon']
    """
    kind = OPTIMIZERS.get(spec) if isinstance(spec, OptimizerSpecification) else None
    if kind is None:
        known = ", ".join(k.spec.__name__ for k in OPTIMIZERS)
        raise SpecTypeError(
            "",
            "spec",
            f"expected a registered optimizer spec ({known}; add yours with "
            f"optfn.register_optimizer), got {type(spec).__name__}",
        )
    return kind


def register_optimizer(
    spec: type[OptimizerSpecification],
    *,
    build: Builder,
    routes: tuple[Route, ...] | None = None,
    matrix_route: str | None = None,
) -> OptimizerKind:
    """Add an optimizer kind to optfn's table; returns its entry.

    ``spec``: a frozen attrs subclass of :class:`~optfn.OptimizerSpecification` with its own
    ``optimizer_type`` (the tag in configs). ``build(groups, spec)`` returns the torch
    optimizer for optfn's param groups. ``routes`` (default: one route named after the tag,
    ``lr`` from ``learning_rate`` and ``weight_decay`` from ``weight_decay``) say how spec
    fields become group hyper-parameters. From then on :func:`optfn.make_optimizer`,
    :func:`optfn.from_dict` and TOML/JSON, ``optfn plan``, checkpoints and
    :func:`optfn.strategies.optimizer_specs` (which draws each field from its validator) know
    the kind. Registering the same kind again does nothing; a tag that any kind of the table
    holds (an optimizer's, a schedule's...) is a ``ValueError``.
    """
    if routes is None:
        routes = (Route(getattr(spec, "optimizer_type", "")),)
    return OPTIMIZERS.register(OptimizerKind(spec, build, tuple(routes), matrix_route))


def register_spec(cls: type, tag: str | None = None) -> str:
    """Add your own attrs spec class (not an optimizer) to optfn's table; returns its tag.

    ``tag`` defaults to the snake_case class name. A subclass of ``Schedule`` can then appear
    wherever a schedule can, e.g. in ``OptimConfig`` or a ``Join``; any registered class loads
    from files by its tag. An optimizer spec needs a builder: :func:`register_optimizer`.

    >>> from optfn import from_dict
    >>> @attrs.frozen(kw_only=True)
    ... class DataBudget:
    ...     steps: int = 10
    >>> register_spec(DataBudget)
    'data_budget'
    >>> from_dict({"type": "data_budget", "steps": 5})
    DataBudget(steps=5)
    >>> KINDS.others.pop("data_budget").__name__  # registrations last for the process
    'DataBudget'
    """
    return KINDS.register(cls, tag)
