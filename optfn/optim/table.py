"""The optimizer table: one entry per optimizer kind, everything optfn needs to know about it.

An :class:`OptimizerKind` holds the spec class (whose ``optimizer_type`` is the tag in configs
and in ``from_serialized``), how its spec fields become the hyper-parameters of a param group
on each of its :class:`Route`\\ s, and the function that builds the torch optimizer from those
groups. Everything else reads this table: :func:`optfn.partition_params` (which routes),
:func:`optfn.make_param_groups` (which hyper-parameters), :func:`optfn.make_optimizer` (which
class), the converter (which tags), ``optfn plan``, checkpoints and :mod:`optfn.strategies`.

Adding an optimizer is one entry: write a frozen spec class, then call
:func:`register_optimizer` once, from code (the README shows a whole example). Config files can
only name a registered tag: the table is closed to files and open to code.

>>> from optfn import MuonSpec
>>> from optfn.optim.table import OPTIMIZERS
>>> [k.tag for k in OPTIMIZERS][:5]
['adam', 'adamw', 'muon', 'sgd', 'nadam']
>>> OPTIMIZERS.get(MuonSpec()).matrix_route
'muon'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import torch

from optfn.errors import SpecError, SpecTypeError
from optfn.optim.muon import MuonWithAdamW
from optfn.optim.normuon import NorMuonWithAdam
from optfn.specs.checks import plain_number
from optfn.specs.normuon import NorMuonSpec
from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.render import brief
from optfn.specs.torch_optimizers import (
    AdadeltaSpec,
    AdafactorSpec,
    AdagradSpec,
    AdamaxSpec,
    ASGDSpec,
    NAdamSpec,
    RAdamSpec,
    RMSpropSpec,
    RpropSpec,
    SGDSpec,
)

__all__ = [
    "IMPLEMENTATION_KEYS",
    "OPTIMIZERS",
    "OptimizerKind",
    "OptimizerTable",
    "Route",
    "check_implementation",
    "kind_of",
    "register_optimizer",
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


@attrs.define
class OptimizerTable:
    """The kinds by tag. :data:`OPTIMIZERS` is optfn's; add yours with
    :func:`register_optimizer`."""

    by_tag: dict[str, OptimizerKind] = attrs.field(factory=dict)

    def register(self, kind: OptimizerKind) -> OptimizerKind:
        """Add ``kind``; registering an equal kind again does nothing."""
        _check_kind(kind)
        have = self.by_tag.get(kind.tag)
        if have is not None and have != kind:
            raise SpecError(
                "",
                "optimizer_type",
                f"{brief(kind.tag)} is taken by {have.spec.__name__}; "
                "give your spec another optimizer_type",
            )
        other = next((k for k in self.by_tag.values() if k.spec is kind.spec), None)
        if other is not None and other.tag != kind.tag:
            raise SpecError(
                "", "spec", f"{kind.spec.__name__} is already registered as {brief(other.tag)}"
            )
        self.by_tag[kind.tag] = kind
        return kind

    def get(self, spec: OptimizerSpecification | type) -> OptimizerKind | None:
        """The kind of a spec (or spec class): its own class's entry, else ``None``."""
        cls = spec if isinstance(spec, type) else type(spec)
        kind = self.by_tag.get(getattr(cls, "optimizer_type", ""))
        return kind if kind is not None and kind.spec is cls else None

    def specs(self) -> Mapping[str, type[OptimizerSpecification]]:
        return {t: k.spec for t, k in self.by_tag.items()}

    @classmethod
    def library(cls) -> OptimizerTable:
        """A new table holding optfn's own kinds (Adam, AdamW, Muon, then torch.optim's SGD,
        NAdam, RAdam, Adamax, Adagrad, RMSprop, Adadelta, Adafactor, ASGD and Rprop, then
        NorMuon)."""
        table = cls()
        for kind in _library_kinds():
            table.register(kind)
        return table

    def __iter__(self) -> Iterator[OptimizerKind]:
        return iter(list(self.by_tag.values()))

    def __len__(self) -> int:
        return len(self.by_tag)


def torch_builder(
    cls: type[torch.optim.Optimizer], route: Route, *, group_only: tuple[str, ...] = ()
) -> Builder:
    """A builder for a torch optimizer class taking ``(params, **hyper-parameters)``: the groups
    carry every hyper-parameter, and ``optimizer.defaults`` are ``route``'s for the spec.

    ``group_only``: keys the groups carry but the class's constructor does not take (Rprop's
    ``weight_decay``, always 0.0, so that every optfn group states its decay)."""

    def build(groups: list[dict[str, Any]], spec: Any) -> torch.optim.Optimizer:
        defaults = route.hyper(spec, decay=True, scale=1.0)
        del defaults["route"]
        for key in group_only:
            del defaults[key]
        check_implementation(groups, spec, name)
        return cls(groups, **defaults)

    in_torch = getattr(torch.optim, cls.__name__, None) is cls
    name = f"torch.optim.{cls.__name__}" if in_torch else f"{cls.__module__}.{cls.__qualname__}"

    build.__qualname__ = f"build_{cls.__name__}"
    return build


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
        _torch_kind(SGDSpec, optim.SGD, ("momentum", "dampening", "nesterov", "maximize")),
        _torch_kind(
            NAdamSpec,
            optim.NAdam,
            ("betas", "eps", "momentum_decay", "decoupled_weight_decay", "maximize"),
        ),
        _torch_kind(RAdamSpec, optim.RAdam, ("betas", "eps", "decoupled_weight_decay", "maximize")),
        _torch_kind(AdamaxSpec, optim.Adamax, ("betas", "eps", "maximize")),
        _torch_kind(
            AdagradSpec,
            optim.Adagrad,
            ("lr_decay", "initial_accumulator_value", "eps", "maximize"),
        ),
        _torch_kind(
            RMSpropSpec, optim.RMSprop, ("alpha", "eps", "momentum", "centered", "maximize")
        ),
        _torch_kind(AdadeltaSpec, optim.Adadelta, ("rho", "eps", "maximize")),
        _torch_kind(AdafactorSpec, optim.Adafactor, ("beta2_decay", "eps", "d", "maximize")),
        _torch_kind(ASGDSpec, optim.ASGD, ("lambd", "alpha", "t0", "maximize")),
        # Rprop has no weight decay: its groups say weight_decay=0.0 (RpropSpec.weight_decay)
        _torch_kind(
            RpropSpec,
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


#: optfn's optimizer table: the built-in kinds, plus the ones added with
#: :func:`register_optimizer`.
OPTIMIZERS = OptimizerTable.library()


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
    :func:`optfn.strategies.optimizer_specs` know the kind. Registering the same kind again
    does nothing; another kind under a taken tag is a ``ValueError``.
    """
    if routes is None:
        routes = (Route(getattr(spec, "optimizer_type", "")),)
    return OPTIMIZERS.register(OptimizerKind(spec, build, tuple(routes), matrix_route))
