"""Strict, exact and inert (de)serialization of every optfn spec: dicts, JSON, TOML, files.

One cattrs converter, built by :func:`make_converter`, handles every spec class in a closed
registry: optfn's own classes plus the ones registered in code with :func:`register_spec`.
Nothing in a file chooses code to import or run: a ``"type"`` tag can only name a registered
class.

Format (``version`` 1):

- A spec is a mapping of its fields. ``to_dict`` adds ``"version"`` and a ``"type"`` tag at
  the top; a field declared as a family base (``OptimizerSpecification``, ``Schedule``, and
  so the pieces of a ``Join``) carries its own ``"type"`` tag; a field of a concrete class
  (``ParamRules.muon``) does not need one, and one that is given must be that class's tag.
- Tags: ``"adam"``, ``"adamw"``, ``"muon"`` for the optimizer specs (their ``optimizer_type``),
  the snake_case class name for every other spec (``"warmup_cosine"``, ``"param_rules"``,
  ``"optim_config"``). Tags are exact and case-sensitive.
- Tuples are written as lists; a tuple of ``(name, value)`` pairs (``ParamRules.lr_scales``)
  as a mapping ``{name: value}``.
- A field whose value is ``None`` and whose default is ``None`` is left out (TOML has no
  null), in every format, and reads back as ``None``.
- A missing ``version`` reads as the current one; any other version is an error.

Reading is strict: a number must be an int or a float (an int is fine for a float field, a
float is never an int, a bool is never a number), finite; a string is never a number nor a
list; lists have the declared length; unknown keys, missing required fields and unknown tags
are errors. Every problem of one input is reported at once in one
:class:`~optfn.errors.ConfigError`, one line per problem, each with its path and the spec's own
words:

>>> from optfn.io.serialization import from_dict
>>> try:
...     from_dict({"type": "adamw", "learning_rate": "3e-4", "betas": [0.9], "lr": 1})
... except ValueError as e:
...     print(e)
invalid config (3 problems):
  learning_rate: must be a number, got '3e-4' (str)
  betas: must be a list of exactly 2 values, got 1: [0.9]
  lr: unknown key (did you mean 'learning_rate'?)
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from inspect import isabstract
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, overload

import attrs
import cattrs
import tomli_w
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from optfn.config import OptimConfig
from optfn.errors import ConfigError, SpecError, SpecTypeError
from optfn.optim.table import OPTIMIZERS, OptimizerTable
from optfn.schedules import Schedule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "CONFIG_VERSION",
    "SpecRegistry",
    "from_dict",
    "from_json",
    "from_toml",
    "load_config",
    "make_converter",
    "register_spec",
    "render_problems",
    "save_config",
    "to_dict",
    "to_json",
    "to_toml",
]

T = TypeVar("T")
#: A spec class or family base, as the expected type of what is read. (``Callable`` rather
#: than ``type[T]`` so that the abstract bases, ``Schedule`` and ``OptimizerSpecification``,
#: type-check.)
SpecType = Callable[..., T]

#: The format version written by this optfn, and the only one it reads.
CONFIG_VERSION = 1
TAG_KEY = "type"
VERSION_KEY = "version"
ROOT = "(top level)"
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
            raise ValueError(
                f"tag {tag!r} names both the optimizer {opts[tag].__name__} and the spec "
                f"{self.others[tag].__name__}; give one of them another tag"
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
            raise TypeError(f"cls: must be an attrs class, got {cls!r}")
        if cls in FAMILIES:
            raise TypeError(f"cls: {cls.__name__} is an abstract base; register its subclasses")
        if tag is None:
            tag = getattr(cls, "optimizer_type", "") or _snake_case(cls.__name__)
        if not (isinstance(tag, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", tag)):
            raise ValueError(f"tag: must be a name like 'my_schedule', got {tag!r}")
        if issubclass(cls, OptimizerSpecification) and cls.optimizer_type != tag:
            raise ValueError(
                f"tag: an optimizer spec is tagged by its optimizer_type "
                f"{cls.optimizer_type!r}, got {tag!r}"
            )
        clash = {TAG_KEY, VERSION_KEY} & {a.name for a in attrs.fields(cls)}
        if clash:
            raise ValueError(f"cls: a spec field cannot be named {sorted(clash)[0]!r}")
        by_tag = self.by_tag
        have, old = by_tag.get(tag), self.tag_of(cls)
        if (have is not None and have is not cls) or (old is not None and old != tag):
            raise ValueError(
                f"tag: {tag!r} is taken by {have.__name__}"
                if have is not None and have is not cls
                else f"cls: {cls.__name__} is already registered as {old!r}"
            )
        if issubclass(cls, OptimizerSpecification):
            if old is not None:
                return tag
            raise TypeError(
                f"cls: {cls.__name__} is an optimizer spec; register it with "
                "optfn.register_optimizer(cls, build=...), which also tells optfn how to build it"
            )
        self.others[tag] = cls
        return tag

    @classmethod
    def library(cls) -> SpecRegistry:
        """optfn's own specs: optimizer specs, every schedule shape, rules and the config."""
        from optfn import schedules

        reg = cls(optimizers=OptimizerTable.library())
        for name in sorted(getattr(schedules, "__all__", ())):
            obj = getattr(schedules, name)
            if isinstance(obj, type) and issubclass(obj, Schedule) and not isabstract(obj):
                reg.register(obj)
        for other in (LayerDecay, MuonRouting, ParamRules, OptimConfig):
            reg.register(other)
        return reg


# ---- strict hooks ----------------------------------------------------------------------------


def _show(val: object) -> str:
    text = repr(val)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(val).__name__})"


def _float(val: Any, _: Any) -> float:
    if not isinstance(val, (int, float)) or isinstance(val, bool):
        raise TypeError(f"must be a number, got {_show(val)}")
    try:
        out = float(val)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise ValueError(f"must be a finite number, got {val!r}")
    return out


def _int(val: Any, _: Any) -> int:
    if not isinstance(val, int) or isinstance(val, bool):
        raise TypeError(f"must be an integer, got {_show(val)}")
    return val


def _bool(val: Any, _: Any) -> bool:
    if not isinstance(val, bool):
        raise TypeError(f"must be true or false, got {_show(val)}")
    return val


def _str(val: Any, _: Any) -> str:
    if not isinstance(val, str):
        raise TypeError(f"must be a string, got {_show(val)}")
    return val


def _literal(val: Any, typ: Any) -> Any:
    allowed = get_args(typ)
    if not any(type(val) is type(a) and val == a for a in allowed):
        raise ValueError(f"must be one of {', '.join(map(repr, allowed))}, got {val!r}")
    return val


def _is_literal(typ: Any) -> bool:
    origin: object = get_origin(typ)
    return origin is Literal


def _is_tuple(typ: Any) -> bool:
    origin: object = get_origin(typ)
    return origin is tuple


def _is_pairs(typ: Any) -> bool:
    """``tuple[tuple[str, V], ...]``: written as a mapping ``{name: value}``."""
    args = get_args(typ)
    return (
        _is_tuple(typ)
        and len(args) == 2
        and args[1] is Ellipsis
        and _is_tuple(args[0])
        and get_args(args[0])[:1] == (str,)
        and len(get_args(args[0])) == 2
    )


def _items(
    conv: cattrs.Converter, typ: Any, pairs: Sequence[tuple[int | str, Any, Any]]
) -> list[Any]:
    """Structure ``(index, value, type)`` items, collecting every failure with its index."""
    out, errors = [], []
    for index, val, t in pairs:
        try:
            out.append(conv.structure(val, t))
        except Exception as exc:
            exc.add_note(IterableValidationNote(f"Structuring {typ} @ {index!r}", index, t))
            errors.append(exc)
    if errors:
        raise IterableValidationError(f"While structuring {typ}", errors, typ)
    return out


def _noted(exc: Exception, field: str) -> Exception:
    """``exc`` marked as being about ``field`` (how cattrs builds paths)."""
    exc.add_note(AttributeValidationNote(f"@ attribute {field}", field, Any))
    return exc


def _validator_problems(
    conv: cattrs.Converter, cls: type, data: dict[str, Any], known: list[Exception]
) -> list[Exception]:
    """What every field validator says about ``data``, beyond the ``known`` problems.

    attrs stops at the first failing validator and cattrs does not build an instance when a
    field is malformed, so each validator is run here on its own field, with a bare instance
    (optfn's validators only read its class name). Malformed fields are skipped.
    """
    malformed = {n.name for e in known for n in getattr(e, "__notes__", ()) if hasattr(n, "name")}
    seen = {(e.field, e.reason) for e in known if isinstance(e, (SpecError, SpecTypeError))}
    stub: Any = object.__new__(cls)
    found: list[Exception] = []
    for a in attrs.fields(cls):
        if a.validator is None or a.name not in data or a.name in malformed:
            continue
        try:
            val = conv.structure(data[a.name], a.type)
            a.validator(stub, a, a.converter(val) if callable(a.converter) else val)
        except (SpecError, SpecTypeError) as exc:
            if (exc.field, exc.reason) not in seen:
                found.append(exc)
        except Exception:  # a validator that needs the whole instance: not ours to run
            continue
    return found


def _spec_hook(conv: cattrs.Converter, registry: SpecRegistry, cls: type) -> Any:
    inner: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(cls, conv)

    def structure(val: Any, _: Any) -> Any:
        if not isinstance(val, Mapping):
            raise TypeError(f"must be a table/mapping of {cls.__name__} fields, got {_show(val)}")
        data = dict(val)
        problems: list[Exception] = []
        want = registry.tag_of(cls)
        if TAG_KEY in data and want is not None:  # else: an unknown key, reported below
            tag = data.pop(TAG_KEY)
            if tag != want or type(tag) is not str:
                msg = f"must be {want!r} here (a {cls.__name__}), got {tag!r}"
                problems.append(_noted(ValueError(msg), TAG_KEY))
        try:
            spec = inner(data, cls)
        except ClassValidationError as err:
            problems.extend(err.exceptions)
        else:
            if not problems:
                return spec
        problems += _validator_problems(conv, cls, data, problems)
        raise ClassValidationError(f"While structuring {cls.__name__}", problems, cls)

    return structure


def _family_hook(conv: cattrs.Converter, registry: SpecRegistry) -> Callable[[Any, Any], Any]:
    def structure(val: Any, base: type) -> Any:
        return conv.structure(val, _pick_class(registry, val, base))

    return structure


def _pick_class(registry: SpecRegistry, val: Any, base: type) -> type:
    """The registered class below ``base`` that ``val``'s ``"type"`` tag names (exactly)."""
    allowed = registry.members(base)
    choices = ", ".join(repr(t) for t in sorted(allowed))
    if not isinstance(val, Mapping):
        raise TypeError(f"must be a table/mapping with a 'type' key, got {_show(val)}")
    if TAG_KEY not in val:
        exc = ValueError(f"required field missing; one of {choices}")
    elif not (isinstance(val[TAG_KEY], str) and val[TAG_KEY] in allowed):
        exc = ValueError(f"unknown type {val[TAG_KEY]!r}; allowed: {choices}")
    else:
        return allowed[val[TAG_KEY]]
    raise ClassValidationError(f"While structuring {base.__name__}", [_noted(exc, TAG_KEY)], base)


def make_converter(registry: SpecRegistry) -> cattrs.Converter:
    """A strict converter for the spec classes of ``registry`` (looked up at each call).

    >>> from optfn import AdamSpec
    >>> conv = make_converter(SpecRegistry.library())
    >>> conv.structure({"learning_rate": 1, "betas": [0.9, 0.95]}, AdamSpec).betas
    (0.9, 0.95)
    """
    conv = cattrs.Converter(
        forbid_extra_keys=True,
        detailed_validation=True,
        unstruct_collection_overrides={tuple: list},
    )
    # Scalars first: every hook built later picks these up.
    for typ, hook in ((float, _float), (int, _int), (bool, _bool), (str, _str)):
        conv.register_structure_hook(typ, hook)
    conv.register_structure_hook_func(_is_literal, _literal)
    conv.register_unstructure_hook(float, float)  # an int given to a float field is written 1.0

    def structure_tuple(val: Any, typ: Any) -> tuple[Any, ...]:
        if not isinstance(val, (list, tuple)):
            raise TypeError(f"must be a list, got {_show(val)}")
        args = get_args(typ)
        if len(args) == 2 and args[1] is Ellipsis:
            types = [args[0]] * len(val)
        elif len(val) != len(args):
            raise ValueError(
                f"must be a list of exactly {len(args)} values, got {len(val)}: {val!r}"
            )
        else:
            types = list(args)
        items = [(i, x, t) for i, (x, t) in enumerate(zip(val, types, strict=True))]
        return tuple(_items(conv, typ, items))

    def structure_pairs(val: Any, typ: Any) -> tuple[tuple[str, Any], ...]:
        if not isinstance(val, Mapping):
            raise TypeError(f"must be a table/mapping {{name: value}}, got {_show(val)}")
        vt = get_args(get_args(typ)[0])[1]
        keys = _items(conv, typ, [(repr(k), k, str) for k in val])
        values = _items(conv, typ, [(repr(k), x, vt) for k, x in val.items()])
        return tuple(zip(keys, values, strict=True))

    conv.register_structure_hook_func(_is_tuple, structure_tuple)
    conv.register_structure_hook_func(_is_pairs, structure_pairs)

    def unstructure_pairs(typ: Any) -> Callable[[Any], dict[str, Any]]:
        vt = get_args(get_args(typ)[0])[1]
        return lambda pairs: {k: conv.unstructure(v, vt) for k, v in pairs}

    conv.register_unstructure_hook_factory(_is_pairs, unstructure_pairs)

    # Specs: concrete classes by their own fields, family bases through the tag.
    def is_spec(t: Any) -> bool:
        return isinstance(t, type) and attrs.has(t) and t not in FAMILIES

    def unstructure_fn(cls: type) -> Any:
        omit: dict[str, Any] = {
            a.name: override(omit_if_default=True) for a in attrs.fields(cls) if a.default is None
        }
        return make_dict_unstructure_fn(cls, conv, **omit)

    def unstructure_member(obj: Any) -> dict[str, Any]:
        tag = registry.tag_of(type(obj))
        if tag is None:
            raise TypeError(f"{type(obj).__name__} is not a registered spec (see register_spec)")
        out: dict[str, Any] = conv.unstructure(obj, type(obj))
        return {TAG_KEY: tag, **out}

    conv.register_structure_hook_factory(is_spec, lambda cls: _spec_hook(conv, registry, cls))
    conv.register_unstructure_hook_factory(is_spec, unstructure_fn)
    conv.register_structure_hook_func(lambda t: t in FAMILIES, _family_hook(conv, registry))
    conv.register_unstructure_hook_func(lambda t: t in FAMILIES, unstructure_member)
    return conv


# ---- error rendering (pure) ------------------------------------------------------------------


def _join(path: str, segment: str) -> str:
    if not path:
        return segment.lstrip(".")
    return path + (segment if segment.startswith("[") else "." + segment.lstrip("."))


def _unknown_key(path: str, key: object, allowed: list[str]) -> str:
    initials = [a for a in allowed if "".join(w[:1] for w in a.split("_")) == key]
    near = initials or difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {near[0]!r}?" if near else "allowed: " + ", ".join(allowed)
    return f"{_join(path, str(key))}: unknown key ({hint})"


def render_problems(exc: BaseException, path: str = "") -> list[str]:
    """One ``"path: reason"`` line per problem in a (cattrs) structuring error.

    A :class:`~optfn.errors.SpecError` raised by a spec's validator is reported at the path of
    the spec plus the error's ``field``, with its own ``reason``.

    >>> render_problems(SpecError("AdamSpec", "eps", "must be > 0, got 0"), "optimizer")
    ['optimizer.eps: must be > 0, got 0']
    """
    if isinstance(exc, ClassValidationError):
        with_notes, rest = exc.group_exceptions()
        out = [p for e, n in with_notes for p in render_problems(e, _join(path, n.name))]
        return out + [p for e in rest for p in render_problems(e, path)]
    if isinstance(exc, IterableValidationError):
        with_index, rest_i = exc.group_exceptions()
        out = [p for e, n in with_index for p in render_problems(e, _join(path, f"[{n.index}]"))]
        return out + [p for e in rest_i for p in render_problems(e, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl) if a.init]
        return [_unknown_key(path, k, allowed) for k in sorted(exc.extra_fields, key=str)]
    where = path or ROOT
    if isinstance(exc, (SpecError, SpecTypeError)):
        return [f"{_join(path, exc.field)}: {exc.reason}"]
    if isinstance(exc, KeyError):  # cattrs: a required field is missing
        return [f"{where}: required field missing"]
    if isinstance(exc, (ValueError, TypeError)):
        return [f"{where}: {exc}"]
    return [f"{where}: {type(exc).__name__}: {exc}"]


# ---- the library converter and the public functions ------------------------------------------

_REGISTRY = attrs.evolve(SpecRegistry.library(), optimizers=OPTIMIZERS)
_CONVERTER = make_converter(_REGISTRY)


def register_spec(cls: type, tag: str | None = None) -> str:
    """Add your own attrs spec class to the closed registry; returns its tag.

    ``tag`` defaults to ``optimizer_type`` for an optimizer spec and to the snake_case class
    name otherwise. A subclass of ``Schedule`` (or ``OptimizerSpecification``) can then appear
    wherever a schedule (optimizer spec) can, e.g. in ``OptimConfig`` or a ``Join``.

    >>> @attrs.frozen(kw_only=True)
    ... class DataBudget:
    ...     steps: int = 10
    >>> register_spec(DataBudget)
    'data_budget'
    >>> from_dict({"type": "data_budget", "steps": 5})
    DataBudget(steps=5)
    """
    return _REGISTRY.register(cls, tag)


def to_dict(spec: Any) -> dict[str, Any]:
    """``spec`` as plain, JSON/TOML-safe data with ``"version"`` and ``"type"`` at the top.

    >>> to_dict(LayerDecay(rate=0.5, stem=()))
    {'version': 1, 'type': 'layer_decay', 'rate': 0.5, 'blocks': 'blocks', 'stem': []}
    >>> to_dict(ParamRules(lr_scales={"head": 5.0}))["lr_scales"]
    {'head': 5.0}
    """
    tag = _REGISTRY.tag_of(type(spec))
    if tag is None:
        raise TypeError(f"spec: {type(spec).__name__} is not a registered spec (see register_spec)")
    body: dict[str, Any] = _CONVERTER.unstructure(spec, type(spec))
    return {VERSION_KEY: CONFIG_VERSION, TAG_KEY: tag, **body}


def _structure(data: Any, target: type | None, source: str | None, versioned: bool = True) -> Any:
    problems: list[str]
    if not isinstance(data, Mapping):
        problems = [f"{ROOT}: must be a table/mapping of a spec's fields, got {_show(data)}"]
        raise ConfigError(problems, source)
    data = dict(data)
    version = data.pop(VERSION_KEY, CONFIG_VERSION) if versioned else CONFIG_VERSION
    if type(version) is not int or version != CONFIG_VERSION:
        problems = [
            f"{VERSION_KEY}: unsupported config version {version!r}; this optfn reads version "
            f"{CONFIG_VERSION} (a newer optfn may have written it)"
        ]
        raise ConfigError(problems, source)
    try:
        cls = target if target is not None and target not in FAMILIES else None
        if cls is None:
            cls = _pick_class(_REGISTRY, data, target or object)
        elif _REGISTRY.tag_of(cls) is None:
            raise TypeError(f"cls: {cls.__name__} is not a registered spec (see register_spec)")
        return _CONVERTER.structure(data, cls)
    except (ClassValidationError, IterableValidationError, ValueError, KeyError) as err:
        raise ConfigError(render_problems(err), source) from None


@overload
def from_dict(data: Any, cls: SpecType[T], *, source: str | None = None) -> T: ...
@overload
def from_dict(data: Any, cls: None = None, *, source: str | None = None) -> Any: ...
def from_dict(data: Any, cls: Any = None, *, source: str | None = None) -> Any:
    """The spec that ``data`` (``to_dict`` output, or hand-written) describes, strictly.

    ``cls`` (optional) is the class or family base (``Schedule``) expected; without it the
    ``"type"`` tag decides among every registered class. ``source`` names the input in errors.
    Raises :class:`~optfn.errors.ConfigError` listing every problem.

    >>> from_dict({"type": "muon", "learning_rate": 0.05}).learning_rate
    0.05
    """
    return _structure(data, cls, source)


def to_json(spec: Any, *, indent: int | None = 2) -> str:
    """``to_dict(spec)`` as JSON text (never NaN or Infinity).

    >>> print(to_json(LayerDecay(rate=0.75, stem=()), indent=None))
    {"version": 1, "type": "layer_decay", "rate": 0.75, "blocks": "blocks", "stem": []}
    """
    return json.dumps(to_dict(spec), indent=indent, allow_nan=False)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = val
    return out


@overload
def from_json(text: str, cls: SpecType[T], *, source: str | None = None) -> T: ...
@overload
def from_json(text: str, cls: None = None, *, source: str | None = None) -> Any: ...
def from_json(text: str, cls: Any = None, *, source: str | None = None) -> Any:
    """The spec in JSON ``text`` (see :func:`from_dict`); duplicate keys are errors.

    >>> from_json('{"type": "adamw", "learning_rate": 1}').learning_rate
    1.0
    """
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as err:
        raise ConfigError([f"{ROOT}: not valid JSON: {err}"], source) from None
    return _structure(data, cls, source)


def _no_none(data: Any, path: str) -> None:
    if data is None:
        raise ValueError(f"{path or ROOT}: TOML has no null; this None cannot be written")
    if isinstance(data, dict):
        for key, val in data.items():
            _no_none(val, _join(path, key))
    elif isinstance(data, list):
        for i, val in enumerate(data):
            _no_none(val, _join(path, f"[{i}]"))


def to_toml(spec: Any) -> str:
    """``to_dict(spec)`` as TOML text.

    >>> print(to_toml(LayerDecay(rate=0.75)))
    version = 1
    type = "layer_decay"
    rate = 0.75
    blocks = "blocks"
    stem = [
        "*embed*",
        "cls_token",
        "pos_embed",
    ]
    <BLANKLINE>
    """
    data = to_dict(spec)
    _no_none(data, "")
    return tomli_w.dumps(data)


@overload
def from_toml(text: str, cls: SpecType[T], *, source: str | None = None) -> T: ...
@overload
def from_toml(text: str, cls: None = None, *, source: str | None = None) -> Any: ...
def from_toml(text: str, cls: Any = None, *, source: str | None = None) -> Any:
    """The spec in TOML ``text`` (see :func:`from_dict`).

    >>> from_toml('type = "adam"\\nlearning_rate = 1e-3').learning_rate
    0.001
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{ROOT}: not valid TOML: {err}"], source) from None
    return _structure(data, cls, source)


_FORMATS: dict[str, tuple[Callable[[Any], str], Callable[..., Any]]] = {
    ".toml": (to_toml, from_toml),
    ".json": (to_json, from_json),
}


def _format(path: str | os.PathLike[str]) -> tuple[Callable[[Any], str], Callable[..., Any]]:
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"path: {str(path)!r} must end in .toml or .json, got {suffix!r}")
    return _FORMATS[suffix]


def save_config(spec: Any, path: str | os.PathLike[str]) -> None:
    """Write ``spec`` to ``path`` as TOML or JSON, chosen by the suffix.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run.toml"
    >>> save_config(OptimConfig(), path)
    >>> load_config(path) == OptimConfig()
    True
    """
    text = _format(path)[0](spec)  # fails before the file is touched
    Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


@overload
def load_config(path: str | os.PathLike[str], cls: SpecType[T]) -> T: ...
@overload
def load_config(path: str | os.PathLike[str], cls: None = None) -> Any: ...
def load_config(path: str | os.PathLike[str], cls: Any = None) -> Any:
    """Read the spec in a ``.toml`` or ``.json`` file (see :func:`from_dict`).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "opt.json"
    >>> from optfn import AdamWSpec
    >>> save_config(AdamWSpec(learning_rate=3e-4), path)
    >>> load_config(path, AdamWSpec).learning_rate
    0.0003
    """
    read = _format(path)[1]
    return read(Path(path).read_text(encoding="utf-8"), cls, source=str(path))
