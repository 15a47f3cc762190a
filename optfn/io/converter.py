"""The strict cattrs converter of every registered spec (one object, built here).

Reading is strict: a number must be an int or a float (an int is fine for a float field, a
float is never an int, a bool is never a number), finite; a string is never a number nor a
list; lists have the declared length; unknown keys, missing required fields and unknown tags
are errors, each reported with its path (see :mod:`optfn.io.problems`).

>>> from optfn import AdamSpec
>>> CONVERTER.structure({"learning_rate": 1, "betas": [0.9, 0.95]}, AdamSpec).betas
(0.9, 0.95)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from optfn.errors import SpecError, SpecTypeError
from optfn.io.registry import FAMILIES, REGISTRY, TAG_KEY, SpecRegistry
from optfn.specs.checks import (
    as_float,
    check_text,
    exact_float,
    inexact_reason,
    is_int,
    is_real,
)
from optfn.specs.render import brief
from optfn.specs.render import show as _show

__all__ = ["CONVERTER", "make_converter", "pick_class"]


def _float(val: Any, _: Any) -> float:
    if not is_real(val):
        raise TypeError(f"must be a number, got {_show(val)}")
    out = as_float(val)
    if not math.isfinite(out):
        raise ValueError(f"must be a finite number, got {brief(val)}")
    if not exact_float(val):  # 2**53 + 1 would silently become 2**53
        raise ValueError(inexact_reason(val))
    return out


def _int(val: Any, _: Any) -> int:
    if not is_int(val):
        raise TypeError(f"must be an integer, got {_show(val)}")
    return int(val)


def _bool(val: Any, _: Any) -> bool:
    if not isinstance(val, bool):
        raise TypeError(f"must be true or false, got {_show(val)}")
    return val


def _str(val: Any, _: Any) -> str:
    if not isinstance(val, str):
        raise TypeError(f"must be a string, got {_show(val)}")
    try:
        check_text("", "", val, name=False)  # a lone surrogate: no file can hold it
    except SpecError as exc:
        raise ValueError(exc.reason) from None
    return val


def _literal(val: Any, typ: Any) -> Any:
    allowed = get_args(typ)
    if not any(type(val) is type(a) and val == a for a in allowed):
        raise ValueError(f"must be one of {', '.join(map(repr, allowed))}, got {brief(val)}")
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
                msg = f"must be {want!r} here (a {cls.__name__}), got {brief(tag)}"
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
        return conv.structure(val, pick_class(registry, val, base))

    return structure


def pick_class(registry: SpecRegistry, val: Any, base: type) -> type:
    """The registered class below ``base`` that ``val``'s ``"type"`` tag names (exactly)."""
    return pick_from(registry.members(base), val, base)


def pick_from(allowed: Mapping[str, type], val: Any, base: Any) -> type:
    """The class of ``allowed`` (by tag) that ``val``'s ``"type"`` tag names (exactly)."""
    name = getattr(base, "__name__", None) or " | ".join(
        getattr(a, "__name__", str(a)) for a in get_args(base)
    )
    choices = ", ".join(repr(t) for t in sorted(allowed))
    if not isinstance(val, Mapping):
        raise TypeError(f"must be a table/mapping with a 'type' key, got {_show(val)}")
    if TAG_KEY not in val:
        exc = ValueError(f"required field missing; one of {choices}")
    elif not (isinstance(val[TAG_KEY], str) and val[TAG_KEY] in allowed):
        exc = ValueError(f"unknown type {brief(val[TAG_KEY])}; allowed: {choices}")
    else:
        return allowed[val[TAG_KEY]]
    raise ClassValidationError(f"While structuring {name}", [_noted(exc, TAG_KEY)], base)


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
    conv.register_unstructure_hook(int, int)  # a numpy integer in an int field is written an int
    conv.register_unstructure_hook(bool, bool)  # after int's: a bool is an int, keep True/False

    def structure_tuple(val: Any, typ: Any) -> tuple[Any, ...]:
        if not isinstance(val, (list, tuple)):
            raise TypeError(f"must be a list, got {_show(val)}")
        args = get_args(typ)
        if len(args) == 2 and args[1] is Ellipsis:
            types = [args[0]] * len(val)
        elif len(val) != len(args):
            raise ValueError(
                f"must be a list of exactly {len(args)} values, got {len(val)}: {brief(val)}"
            )
        else:
            types = list(args)
        items = [(i, x, t) for i, (x, t) in enumerate(zip(val, types, strict=True))]
        return tuple(_items(conv, typ, items))

    def structure_pairs(val: Any, typ: Any) -> tuple[tuple[str, Any], ...]:
        if not isinstance(val, Mapping):
            raise TypeError(f"must be a table/mapping {{name: value}}, got {_show(val)}")
        vt = get_args(get_args(typ)[0])[1]
        keys = _items(conv, typ, [(brief(k), k, str) for k in val])
        values = _items(conv, typ, [(brief(k), x, vt) for k, x in val.items()])
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
        # left out when at their default: optional fields (None), and fields added after files
        # were written (metadata "omit_if_default"), so that those files' records still match
        omit: dict[str, Any] = {
            a.name: override(omit_if_default=True)
            for a in attrs.fields(cls)
            if a.default is None or a.metadata.get("omit_if_default")
        }
        return make_dict_unstructure_fn(cls, conv, **omit)

    def unstructure_member(obj: Any) -> dict[str, Any]:
        tag = registry.tag_of(type(obj))
        if tag is None:
            raise TypeError(f"{type(obj).__name__} is not a registered spec (see register_spec)")
        out: dict[str, Any] = conv.unstructure(obj, type(obj))
        return {TAG_KEY: tag, **out}

    def spec_union(t: Any) -> tuple[type, ...] | None:
        """The members of a union of two or more spec classes or families, else ``None``."""
        if get_origin(t) not in (Union, UnionType):
            return None
        members = tuple(a for a in get_args(t) if a is not type(None))
        if len(members) < 2 or not all(m in FAMILIES or is_spec(m) for m in members):
            return None
        return members

    def structure_union(val: Any, typ: Any) -> Any:
        if val is None and type(None) in get_args(typ):
            return None
        allowed: dict[str, type] = {}
        for m in spec_union(typ) or ():
            if m in FAMILIES:
                allowed.update(registry.members(m))
            elif (tag := registry.tag_of(m)) is not None:
                allowed[tag] = m
        return conv.structure(val, pick_from(allowed, val, typ))

    conv.register_structure_hook_func(lambda t: spec_union(t) is not None, structure_union)
    conv.register_unstructure_hook_func(lambda t: spec_union(t) is not None, unstructure_member)
    conv.register_structure_hook_factory(is_spec, lambda cls: _spec_hook(conv, registry, cls))
    conv.register_unstructure_hook_factory(is_spec, unstructure_fn)
    conv.register_structure_hook_func(lambda t: t in FAMILIES, _family_hook(conv, registry))
    conv.register_unstructure_hook_func(lambda t: t in FAMILIES, unstructure_member)
    return conv


#: The library's converter, over :data:`optfn.io.registry.REGISTRY`.
CONVERTER = make_converter(REGISTRY)
