"""The closed registry of spec classes, by ``"type"`` tag: one mechanism with the optimizer table.

Optimizer specs are read from :data:`optfn.optim.table.OPTIMIZERS` (one entry per kind, with its
builder; add yours with :func:`optfn.register_optimizer`), every other spec class is added with
:func:`register_spec`. Nothing in a file can add to it: a tag can only name a registered class.

>>> from optfn import OptimizerSpecification, WarmupCosine
>>> REGISTRY.tag_of(WarmupCosine), REGISTRY.members(OptimizerSpecification)["muon"].__name__
('warmup_cosine', 'MuonSpec')
"""

from __future__ import annotations

import re
from inspect import isabstract

import attrs

from optfn import schedules
from optfn.config import OptimConfig
from optfn.errors import SpecError, SpecTypeError
from optfn.optim.table import OPTIMIZERS, OptimizerTable
from optfn.schedules import Schedule
from optfn.specs.labels import LabelRule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "TAG_KEY",
    "VERSION_KEY",
    "SpecRegistry",
    "register_spec",
]

TAG_KEY = "type"
VERSION_KEY = "version"
#: Abstract bases whose fields hold any registered subclass, chosen by the ``"type"`` tag.
FAMILIES: tuple[type, ...] = (OptimizerSpecification, Schedule)


def _snake_case(name: str) -> str:
    """``"WarmupCosine"`` -> ``"warmup_cosine"`` (the default tag of a spec class)."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# ---- the closed registry ---------------------------------------------------------------------


@attrs.define
class SpecRegistry:
    """The closed set of spec classes a converter reads and writes, by tag (mutable).

    Optimizer specs come from an optimizer table (:mod:`optfn.optim.table`: one entry per kind,
    with its builder), every other spec class from ``others``. One lookup serves both.
    """

    optimizers: OptimizerTable = attrs.field(factory=OptimizerTable)
    others: dict[str, type] = attrs.field(factory=dict)

    @property
    def by_tag(self) -> dict[str, type]:
        """Tag -> class for every registered spec."""
        opts = self.optimizers.specs()
        clash = opts.keys() & self.others.keys()
        if clash:
            tag = sorted(clash)[0]
            raise SpecError(
                "",
                "tag",
                f"{tag!r} names both the optimizer {opts[tag].__name__} and the spec "
                f"{self.others[tag].__name__}; give one of them another tag",
            )
        return {**opts, **self.others}

    def tag_of(self, cls: type) -> str | None:
        kind = self.optimizers.get(cls)
        if kind is not None:
            return kind.tag
        return next((t for t, c in self.others.items() if c is cls), None)

    def members(self, base: type) -> dict[str, type]:
        """Tag -> class for the registered classes that are ``base`` or below it."""
        return {t: c for t, c in self.by_tag.items() if issubclass(c, base)}

    def register(self, cls: type, tag: str | None = None) -> str:
        """Add ``cls`` under ``tag``; registering the same pair again does nothing."""
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise SpecTypeError("", "cls", f"must be an attrs class, got {cls!r}")
        if cls in FAMILIES:
            raise SpecTypeError(
                "", "cls", f"{cls.__name__} is an abstract base; register its subclasses"
            )
        if tag is None:
            tag = getattr(cls, "optimizer_type", "") or _snake_case(cls.__name__)
        if not (isinstance(tag, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", tag)):
            raise SpecError("", "tag", f"must be a name like 'my_schedule', got {tag!r}")
        if issubclass(cls, OptimizerSpecification) and cls.optimizer_type != tag:
            raise SpecError(
                "",
                "tag",
                f"an optimizer spec is tagged by its optimizer_type "
                f"{cls.optimizer_type!r}, got {tag!r}",
            )
        clash = {TAG_KEY, VERSION_KEY} & {a.name for a in attrs.fields(cls)}
        if clash:
            raise SpecError("", "cls", f"a spec field cannot be named {sorted(clash)[0]!r}")
        by_tag = self.by_tag
        have, old = by_tag.get(tag), self.tag_of(cls)
        if (have is not None and have is not cls) or (old is not None and old != tag):
            raise SpecError(
                "",
                "tag",
                f"{tag!r} is taken by {have.__name__}"
                if have is not None and have is not cls
                else f"cls: {cls.__name__} is already registered as {old!r}",
            )
        if issubclass(cls, OptimizerSpecification):
            if old is not None:
                return tag
            raise SpecTypeError(
                "",
                "cls",
                f"{cls.__name__} is an optimizer spec; register it with "
                "optfn.register_optimizer(cls, build=...), which also tells optfn how to build it",
            )
        self.others[tag] = cls
        return tag

    @classmethod
    def library(cls) -> SpecRegistry:
        """optfn's own specs: optimizer specs, every schedule shape, rules and the config."""
        reg = cls(optimizers=OptimizerTable.library())
        for name in sorted(getattr(schedules, "__all__", ())):
            obj = getattr(schedules, name)
            if isinstance(obj, type) and issubclass(obj, Schedule) and not isabstract(obj):
                reg.register(obj)
        for other in (
            LabelRule,
            LayerDecay,
            MuonRouting,
            ParamRules,
            schedules.HyperSchedules,
            OptimConfig,
        ):
            reg.register(other)
        return reg


#: optfn's registry: its own specs, the optimizer table and what code registered.
REGISTRY = attrs.evolve(SpecRegistry.library(), optimizers=OPTIMIZERS)


def register_spec(cls: type, tag: str | None = None) -> str:
    """Add your own attrs spec class to the closed registry; returns its tag.

    ``tag`` defaults to ``optimizer_type`` for an optimizer spec and to the snake_case class
    name otherwise. A subclass of ``Schedule`` (or ``OptimizerSpecification``) can then appear
    wherever a schedule (optimizer spec) can, e.g. in ``OptimConfig`` or a ``Join``.

    >>> from optfn import from_dict
    >>> @attrs.frozen(kw_only=True)
    ... class DataBudget:
    ...     steps: int = 10
    >>> register_spec(DataBudget)
    'data_budget'
    >>> from_dict({"type": "data_budget", "steps": 5})
    DataBudget(steps=5)
    >>> REGISTRY.others.pop("data_budget").__name__  # registrations last for the process
    'DataBudget'
    """
    return REGISTRY.register(cls, tag)
