"""YAML text: a strict reader over PyYAML's event stream, and a writer that reads back exactly.

The reader takes PyYAML's parser (libyaml's ``CSafeLoader`` where PyYAML was built with it,
else the pure-Python ``SafeLoader``) and builds the data itself, one event at a time, with its
own stack: nothing recurses, nothing is constructed from a tag, and every refusal names its
place (the path of keys, the line and the column). The two parsers read the same text to the
same data and refusals, but for a few corners of the syntax (libyaml takes a tab after
``key:`` and refuses ``%YAML 1.3``; each words its syntax errors its own way). What the reader
takes is plain data, a stricter YAML 1.2 core schema:

- **no tags** (``!!python/object``, ``!!binary``, ``!!set``, ``!custom``, even ``!!str``), **no
  anchors or aliases** (``&a``/``*a``, which let a small file expand into a huge one), one
  document only;
- mapping **keys are strings**, each once per mapping (a duplicate is an error, as in JSON);
- a **quoted** scalar (``'...'``, ``"..."``) or a block scalar (``|``, ``>``) is a string; a
  plain one is read by :func:`plain_value`: ``null``, ``~`` or nothing is ``None``; only
  ``true``/``false`` are booleans; decimal integers (``-12``, no leading zeros); floats with a
  point or an exponent (``0.1``, ``.5``, ``1e-3``, ``1E5``, ``2.``) and ``.inf``/``-.inf``/
  ``.nan`` (which the spec checks then refuse as not finite); anything else is a string.
  So ``yes``/``no``/``on``/``off``, ``0x1f``, ``0o17``, ``017``, ``1_000``, ``1:30`` and
  dates stay strings, refused where a bool or a number is wanted;
- nested at most :data:`~optfn.io.problems.MAX_DEPTH` levels: deeper is refused at the first
  mapping or list past the limit, before anything below it is read.

The writer emits block style, keys in their order, and quotes every string that a YAML
reader (this one, YAML 1.1's or 1.2's) could take for something else (``'true'``, ``'1e3'``,
``'yes'``, ``'null'``, ``'0o17'``); floats are written as ``repr`` (with ``.0`` added to an
exponent form: ``1.0e-08``, which every YAML reader takes as a float), so they read back
bit-identical.

>>> parse_yaml("lr: 1e-3  # a float\\nnesterov: yes\\nbetas: [0.9, .95]\\nnote: ~\\n")
{'lr': 0.001, 'nesterov': 'yes', 'betas': [0.9, 0.95], 'note': None}
>>> print(dump_yaml({"type": "adamw", "learning_rate": 1e-08, "tags": ["yes", "1e3", "x"]}))
type: adamw
learning_rate: 1.0e-08
tags:
- 'yes'
- '1e3'
- x
<BLANKLINE>
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from optfn.errors import ConfigError, SpecError
from optfn.io.problems import MAX_DEPTH, ROOT, deep_text, join_path, key_text, nesting_problem
from optfn.specs.render import brief, escaped

__all__ = ["PARSER", "dump_yaml", "parse_yaml", "plain_value", "unwritable"]

#: The PyYAML loader class whose parser (only) is used: libyaml's where PyYAML has it.
PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = frozenset({"", "~", "null"})
_BOOL = {"true": True, "false": False}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)"
)
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
#: The most digits of an integer read (Python's own default limit for ``int(str)``).
_MAX_DIGITS = 4300
#: Plain text that other YAML readers (1.1, 1.2 core) take for a non-string while this one
#: does not (``True``, ``yes``, ``0o17``, ``0x1f``, ``1_000``, ``1:30``, dates...): the writer
#: quotes it, so that a file optfn writes means the same to every reader.
_OTHERS = re.compile(
    r"[-+]?0o[0-7]+|[-+]?0x[0-9a-fA-F]+|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+.]?|="
    r"|<<|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|True|TRUE|False|FALSE|Null|NULL",
    re.DOTALL,
)
_YAML_TAG = "tag:yaml.org,2002:"
#: A character that YAML text cannot hold (a control character, a lone surrogate...).
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    """One problem line of the document; ends the read."""


def plain_value(text: str) -> Any:
    """The value of a plain (unquoted) scalar: ``None``, a bool, an int, a float or ``text``.

    >>> [plain_value(t) for t in ("~", "true", "yes", "-12", "017", "1e-3", ".5", "1_000")]
    [None, True, 'yes', -12, '017', 0.001, 0.5, '1_000']
    """
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        if len(text.lstrip("+-")) > _MAX_DIGITS:
            raise ValueError(f"an integer of {len(text.lstrip('+-'))} digits is too long")
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def _at(mark: Any) -> str:
    return f"at line {mark.line + 1}, column {mark.column + 1}"


def _tag_text(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


def _where(path: str) -> str:
    return path if len(path) <= 120 else path[:117] + "..."


class _Builder:
    """Plain data from parser events, with an explicit stack of open mappings and lists."""

    def __init__(self) -> None:
        self.root: Any = None
        self.documents = 0
        # [container, its path, the key whose value comes next (None: a key comes next)]
        self.stack: list[list[Any]] = []

    def refuse(self, path: str, reason: str, event: Any, hint: str = "") -> _Refused:
        hint = f"; {hint}" if hint else ""
        return _Refused(f"{_where(path) or ROOT}: {reason} {_at(event.start_mark)}{hint}")

    def place(self) -> str:
        """The path of the value that comes next."""
        if not self.stack:
            return ""
        container, path, key = self.stack[-1]
        if isinstance(container, list):
            return join_path(path, f"[{len(container)}]")
        return path if key is None else join_path(path, key_text(key))

    def check_node(self, event: Any) -> None:
        if event.anchor is not None:
            raise self.refuse(
                self.place(),
                f"anchors and aliases are not allowed, got &{escaped(event.anchor, 40)}",
                event,
                "write the value out in full",
            )
        if event.tag is not None:
            raise self.refuse(
                self.place(),
                f"tags are not allowed, got {brief(_tag_text(event.tag))}",
                event,
                "write the plain value (quoted, for a string)",
            )

    def add(self, value: Any, event: Any, kind: str) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        container, path, key = top
        if isinstance(container, list):
            container.append(value)
        elif key is not None:
            container[key] = value
            top[2] = None
        elif not isinstance(value, str):
            got = f"a {kind}" if kind != "scalar" else brief(value)
            raise self.refuse(path, f"keys must be strings, got {got}", event)
        elif value in container:
            raise self.refuse(path, f"duplicate key {brief(value)}", event)
        else:
            top[2] = value

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.check_node(event)
            value: Any = event.value
            if event.style == '"' and _SURROGATE.search(value):  # PyYAML's reader takes it
                raise self.refuse(self.place(), "a lone surrogate is not valid Unicode", event)
            if not event.style:  # plain: its text decides its type
                try:
                    value = plain_value(value)
                except ValueError as err:
                    raise self.refuse(self.place(), str(err), event) from None
            self.add(value, event, "scalar")
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.check_node(event)
            if len(self.stack) >= MAX_DEPTH:  # checked before anything inside is read
                raise _Refused(f"{ROOT}: {deep_text()}")
            mapping = isinstance(event, yaml.MappingStartEvent)
            new: Any = {} if mapping else []
            path = self.place()
            self.add(new, event, "mapping" if mapping else "list")
            self.stack.append([new, path, None])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self.stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            raise self.refuse(
                self.place(),
                f"anchors and aliases are not allowed, got *{escaped(event.anchor, 40)}",
                event,
                "write the value out in full",
            )
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.refuse(
                    ROOT, "more than one document ('---')", event, "a config is one document"
                )


def _syntax_problem(err: yaml.YAMLError) -> str:
    """A parser's error as one problem line: what is wrong, and where."""
    if isinstance(err, yaml.MarkedYAMLError):
        if "maximum nesting depth" in str(err.problem):  # libyaml's own limit (1000 levels)
            return f"{ROOT}: {deep_text()}"
        mark = err.problem_mark or err.context_mark
        where = f" {_at(mark)}" if mark is not None else ""
        what = " ".join(str(p) for p in (err.context, err.problem) if p)
        return f"{ROOT}: not valid YAML: {escaped(what)}{where}"
    return f"{ROOT}: not valid YAML: {escaped(err)}"


def parse_yaml(text: str, source: str | None = None, parser: Any = None) -> Any:
    """The plain data in YAML ``text`` (see the module), or a
    :class:`~optfn.errors.ConfigError` with the first problem. ``parser`` (a PyYAML loader
    class, default :data:`PARSER`) is for tests that compare libyaml's and PyYAML's.

    >>> try:
    ...     parse_yaml("a: 1\\nb: &x 2\\nc: *x")
    ... except ValueError as e:
    ...     print(e.problems[0])
    b: anchors and aliases are not allowed, got &x at line 2, column 4; write the value out...
    """
    bad = _NOT_YAML.search(text)  # found here, so that both parsers say the same
    if bad is not None:
        at = bad.start()
        line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        problem = (
            f"{ROOT}: not valid YAML: the character {brief(bad.group())} is not allowed at line "
            f"{line}, column {column}"
        )
        raise ConfigError([problem], source)
    builder = _Builder()
    loader = None
    try:
        loader = (parser or PARSER)(text)
        while loader.check_event():
            builder.feed(loader.get_event())
    except _Refused as refused:
        raise ConfigError([str(refused)], source) from None
    except yaml.YAMLError as err:
        raise ConfigError([_syntax_problem(err)], source) from None
    except RecursionError:  # not expected: nothing here recurses; never a raw RecursionError
        raise ConfigError([f"{ROOT}: {deep_text()}"], source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return builder.root


_TOO_BIG = 10**_MAX_DIGITS


def unwritable(data: Any) -> tuple[str, str] | None:
    """``(path, reason)`` of the first value in plain ``data`` that no YAML reader would take
    back as it was (a float that is not finite, an integer of more than 4300 digits, text with
    a lone surrogate), or ``None``.

    >>> unwritable({"betas": [0.9, float("nan")]})
    ('betas[1]', 'must be finite to be written, got nan')
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, val = stack.pop()
        if isinstance(val, float) and not math.isfinite(val):
            return where or ROOT, f"must be finite to be written, got {val!r}"
        if isinstance(val, int) and not isinstance(val, bool) and abs(val) >= _TOO_BIG:
            return where or ROOT, f"an integer of more than {_MAX_DIGITS} digits cannot be written"
        if isinstance(val, str) and _SURROGATE.search(val):
            return where or ROOT, f"holds text that is not valid Unicode, got {brief(val)}"
        if isinstance(val, Mapping):
            for key in val:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return join_path(where, key_text(key)), "a key that is not valid Unicode"
            stack.extend((join_path(where, key_text(k)), v) for k, v in reversed(list(val.items())))
        elif isinstance(val, list | tuple):
            stack.extend((join_path(where, f"[{i}]"), v) for i, v in reversed(list(enumerate(val))))
    return None


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no type hints
    """PyYAML's safe dumper, taking a plain scalar as this module's reader and others do."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and isinstance(value, str):
            try:
                mine = plain_value(value)
            except ValueError:  # too many digits: a string that must be quoted
                mine = 0
            if not isinstance(mine, str):  # the node's own tag, if it is a value of this kind
                name = {type(None): "null", bool: "bool", int: "int", float: "float"}
                return _YAML_TAG + name[type(mine)]
            if _OTHERS.fullmatch(value):  # another reader's non-string: never plain
                return _YAML_TAG + "int"
        return tag


def _represent_str(dumper: Any, text: str) -> Any:
    # A string with a line break, a tab, a control or a format character is written
    # double-quoted, with escapes: PyYAML's plain and single-quoted forms of some of them
    # (NEL, U+2028) do not read back.
    style = None if text.isprintable() else '"'
    return dumper.represent_scalar(_YAML_TAG + "str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """Plain data (a ``to_dict``) as YAML text, block style, keys in order. Data nested deeper
    than :data:`~optfn.io.problems.MAX_DEPTH` or holding a value that is :func:`unwritable` is
    a :class:`~optfn.errors.SpecError`: no reader would take it back.

    >>> print(dump_yaml({"a": [1, 2.5], "b": {}, "c": "null"}), end="")
    a:
    - 1
    - 2.5
    b: {}
    c: 'null'
    """
    deep = nesting_problem(data)
    if deep is not None:
        raise SpecError("", deep, deep_text())
    bad = unwritable(data)
    if bad is not None:
        raise SpecError("", *bad)
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=2**31 - 1,
    )
    return text
