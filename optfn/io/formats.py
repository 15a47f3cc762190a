"""Config formats: every registered spec as dicts, JSON, TOML, YAML and files, strictly.

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

Reading is strict: a number must be an int or a float (an int is fine for a float field if a
float holds it exactly: ``2**53 + 1`` is refused; a float is never an int, a bool is never a
number), finite; a string is never a number nor a list, and must be valid Unicode; lists have
the declared length; unknown keys, missing required fields and unknown tags are errors; data
(or JSON/TOML/YAML text) nested deeper than :data:`MAX_DEPTH` = 64 levels is refused before
anything recurses into it. A reader's argument of the wrong kind (``from_toml(b"...")``,
``from_dict(d, "adamw")``) is a :class:`~optfn.errors.SpecTypeError` naming it; a file that
cannot be read or is not UTF-8 is a ``ConfigError`` naming the file. Every problem of one
input is reported at once in one :class:`~optfn.errors.ConfigError`, one line per problem, each
with its path and the spec's own words:

>>> from optfn.io import from_dict
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

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

import tomli_w
from cattrs.errors import ClassValidationError, IterableValidationError

from optfn.errors import ConfigError, SpecError, SpecTypeError
from optfn.io.atomic import check_file_path, write_atomic
from optfn.io.converter import CONVERTER, pick_class
from optfn.io.problems import (
    MAX_DEPTH,
    ROOT,
    deep_text,
    join_path,
    key_text,
    nesting_problem,
    render_problems,
)
from optfn.io.registry import FAMILIES, REGISTRY, TAG_KEY, VERSION_KEY
from optfn.io.yaml_text import dump_yaml, parse_yaml
from optfn.specs.render import brief, escaped
from optfn.specs.render import show as _show

__all__ = [
    "CONFIG_VERSION",
    "MAX_DEPTH",
    "from_dict",
    "from_json",
    "from_toml",
    "from_yaml",
    "is_plain",
    "load_config",
    "save_config",
    "to_dict",
    "to_json",
    "to_toml",
    "to_yaml",
    "write_atomic",
]

T = TypeVar("T")
#: A spec class or family base, as the expected type of what is read. (``Callable`` rather
#: than ``type[T]`` so that the abstract bases, ``Schedule`` and ``OptimizerSpecification``,
#: type-check.)
SpecType = Callable[..., T]

#: The format version written by this optfn, and the only one it reads.
CONFIG_VERSION = 1


def to_dict(spec: Any) -> dict[str, Any]:
    """``spec`` as plain, JSON/TOML-safe data with ``"version"`` and ``"type"`` at the top.

    >>> from optfn import LayerDecay, ParamRules
    >>> to_dict(LayerDecay(rate=0.5, blocks="layers", stem=()))  # doctest: +NORMALIZE_WHITESPACE
    {'version': 1, 'type': 'layer_decay', 'rate': 0.5, 'blocks': 'layers', 'stem': [],
     'last_block': [], 'min_scale': 0.0}
    >>> to_dict(ParamRules(lr_scales={"head": 5.0}))["lr_scales"]
    {'head': 5.0}
    """
    tag = REGISTRY.tag_of(type(spec))
    if tag is None:
        raise SpecTypeError(
            "", "spec", f"{type(spec).__name__} is not a registered spec (see register_spec)"
        )
    body: dict[str, Any] = CONVERTER.unstructure(spec, type(spec))
    return {VERSION_KEY: CONFIG_VERSION, TAG_KEY: tag, **body}


def _check_args(owner: str, target: Any, source: Any) -> None:
    """The ``cls`` and ``source`` arguments of a reader: a class (or ``None``), a string."""
    if target is not None and not isinstance(target, type):
        raise SpecTypeError(
            owner,
            "cls",
            f"must be a spec class or family base (AdamWSpec, Schedule...) or None, got "
            f"{_show(target)}; a type tag such as 'adamw' goes in the data, as {TAG_KEY!r}",
        )
    if source is not None and not isinstance(source, str):
        raise SpecTypeError(owner, "source", f"must be a string or None, got {_show(source)}")


def _structure(data: Any, target: type | None, source: str | None, versioned: bool = True) -> Any:
    problems: list[str]
    if not isinstance(data, Mapping):
        problems = [f"{ROOT}: must be a table/mapping of a spec's fields, got {_show(data)}"]
        raise ConfigError(problems, source)
    deep = nesting_problem(data)  # before anything recurses into the data
    if deep is not None:
        raise ConfigError([f"{deep}: {deep_text()}"], source)
    data = dict(data)
    version = data.pop(VERSION_KEY, CONFIG_VERSION) if versioned else CONFIG_VERSION
    if type(version) is not int or version != CONFIG_VERSION:
        problems = [
            f"{VERSION_KEY}: unsupported config version {brief(version)}; this optfn reads "
            f"version {CONFIG_VERSION} (a newer optfn may have written it)"
        ]
        raise ConfigError(problems, source)
    try:
        cls = target if target is not None and target not in FAMILIES else None
        if cls is None:
            cls = pick_class(REGISTRY, data, target or object)
        elif REGISTRY.tag_of(cls) is None:
            raise SpecTypeError(
                "", "cls", f"{cls.__name__} is not a registered spec (see register_spec)"
            )
        return CONVERTER.structure(data, cls)
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
    _check_args("from_dict", cls, source)
    return _structure(data, cls, source)


# Strings (skipped) and brackets (counted) of JSON and TOML text; TOML comments skipped too.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_TOML_TOKENS = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]',
    re.DOTALL,
)


def _text_depth(tokens: re.Pattern[str], text: str) -> int:
    """How deep the brackets of ``text`` nest (outside strings), up to just past the limit:
    checked before a parser recurses into them."""
    depth = deepest = 0
    for m in tokens.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        elif c in "]}":
            depth = max(0, depth - 1)
    return deepest


def _check_text(owner: str, what: str, text: Any) -> None:
    if not isinstance(text, str):
        hint = "; decode bytes first, e.g. data.decode('utf-8')" if isinstance(text, bytes) else ""
        raise SpecTypeError(owner, "text", f"must be {what} text (a str), got {_show(text)}{hint}")


def to_json(spec: Any, *, indent: int | None = 2) -> str:
    """``to_dict(spec)`` as JSON text (never NaN or Infinity).

    >>> from optfn import LayerDecay
    >>> print(to_json(LayerDecay(rate=0.75, stem=()), indent=None))  # doctest: +ELLIPSIS
    {"version": 1, "type": "layer_decay", "rate": 0.75, ..., "last_block": [], "min_scale": 0.0}
    """
    return json.dumps(to_dict(spec), indent=indent, allow_nan=False)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in pairs:
        if key in out:
            raise ValueError(f"duplicate key {brief(key)}")
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
    _check_args("from_json", cls, source)
    _check_text("from_json", "JSON", text)
    if _text_depth(_JSON_TOKENS, text) > MAX_DEPTH:
        raise ConfigError([f"{ROOT}: {deep_text()}"], source)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as err:
        raise ConfigError([f"{ROOT}: not valid JSON: {escaped(err)}"], source) from None
    except RecursionError:  # not expected after the scan above; never a raw RecursionError
        raise ConfigError([f"{ROOT}: {deep_text()}"], source) from None
    return _structure(data, cls, source)


def _no_none(data: Any, path: str) -> None:
    if data is None:
        raise SpecError("", path or ROOT, "TOML has no null; this None cannot be written")
    if isinstance(data, dict):
        for key, val in data.items():
            _no_none(val, join_path(path, key))
    elif isinstance(data, list):
        for i, val in enumerate(data):
            _no_none(val, join_path(path, f"[{i}]"))


def to_toml(spec: Any) -> str:
    """``to_dict(spec)`` as TOML text.

    >>> from optfn import LayerDecay
    >>> print(to_toml(LayerDecay(rate=0.75)))
    version = 1
    type = "layer_decay"
    rate = 0.75
    blocks = "blocks"
    stem = [
        "*embed*",
        "*_token",
        "*_tokens",
        "norm_pre.*",
    ]
    last_block = []
    min_scale = 0.0
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
    _check_args("from_toml", cls, source)
    _check_text("from_toml", "TOML", text)
    if _text_depth(_TOML_TOKENS, text) > MAX_DEPTH:
        raise ConfigError([f"{ROOT}: {deep_text()}"], source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{ROOT}: not valid TOML: {escaped(err)}"], source) from None
    except RecursionError:  # not expected after the scan above; never a raw RecursionError
        raise ConfigError([f"{ROOT}: {deep_text()}"], source) from None
    return _structure(data, cls, source)


def to_yaml(spec: Any) -> str:
    """``to_dict(spec)`` as YAML text: block style, keys in order, floats that read back
    bit-identical, and every string that a YAML reader could take for something else quoted
    (see :mod:`optfn.io.yaml_text`).

    >>> from optfn import LayerDecay
    >>> print(to_yaml(LayerDecay(rate=0.75, blocks="on", stem=("*_token",))), end="")
    version: 1
    type: layer_decay
    rate: 0.75
    blocks: 'on'
    stem:
    - '*_token'
    last_block: ...
    """
    return dump_yaml(to_dict(spec))


@overload
def from_yaml(text: str, cls: SpecType[T], *, source: str | None = None) -> T: ...
@overload
def from_yaml(text: str, cls: None = None, *, source: str | None = None) -> Any: ...
def from_yaml(text: str, cls: Any = None, *, source: str | None = None) -> Any:
    """The spec in YAML ``text`` (see :func:`from_dict`), read strictly as plain data: no
    tags, anchors or aliases, string keys each once, and only ``true``/``false`` as booleans,
    ``null``/``~``/nothing as null, decimal integers and floats with a point or an exponent
    (``1e-3``) as numbers; anything else is a string (see :mod:`optfn.io.yaml_text`).

    >>> from_yaml("type: adamw  # DINOv2 style\\nlearning_rate: 1e-3").learning_rate
    0.001
    """
    _check_args("from_yaml", cls, source)
    _check_text("from_yaml", "YAML", text)
    return _structure(parse_yaml(text, source), cls, source)


_FORMATS: dict[str, tuple[Callable[[Any], str], Callable[..., Any]]] = {
    ".toml": (to_toml, from_toml),
    ".json": (to_json, from_json),
    ".yaml": (to_yaml, from_yaml),
    ".yml": (to_yaml, from_yaml),
}


def _format(
    owner: str, path: str | os.PathLike[str]
) -> tuple[Callable[[Any], str], Callable[..., Any]]:
    if not isinstance(path, (str, os.PathLike)):
        raise SpecTypeError(owner, "path", f"must be a str or a Path, got {_show(path)}")
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise SpecError(
            "",
            "path",
            f"{os.fspath(path)!r} must end in .toml, .json, .yaml or .yml, got {brief(suffix)}",
        )
    return _FORMATS[suffix]


def save_config(spec: Any, path: str | os.PathLike[str]) -> None:
    """Write ``spec`` to ``path`` as TOML, JSON or YAML (by the suffix), whole or not at all.

    The text is made and encoded first, then written by :func:`optfn.io.atomic.write_atomic`:
    to a temporary file in the target's folder, ``fsync``-ed, renamed over ``path``, and the
    folder ``fsync``-ed. What that guarantees:

    - a save that fails (an error, a full disk) or is killed at any stage leaves at ``path``
      the old file or the new one, complete; never a mix or a truncated file;
    - after a power loss, the new file if ``save_config`` had returned, else the old one or
      the new one, complete (on a filesystem that honours ``fsync``).

    A symbolic link at ``path`` is kept and the file it points to is replaced; a replaced
    file keeps its permissions, a new one gets ``0o666`` less the umask. A path that names a
    folder (``"run.toml/"``) or has another suffix is a :class:`~optfn.errors.SpecError`, and
    so is a spec holding text that no file can hold (a lone surrogate, which optfn's own specs
    refuse at construction): nothing is written. Errors of the file system (no such folder, no
    permission, no space) are raised as ``OSError``. Temporary files left by a killed save are
    removed by the next successful save of the same path.

    >>> import tempfile
    >>> from optfn import OptimConfig
    >>> path = Path(tempfile.mkdtemp()) / "run.toml"
    >>> save_config(OptimConfig(), path)
    >>> load_config(path) == OptimConfig()
    True
    """
    write = _format("save_config", path)[0]
    check_file_path("save_config", "path", path)
    bad = _unencodable(to_dict(spec))
    if bad is not None:  # JSON would escape it, but no reader would take it back
        raise SpecError(
            "save_config",
            "spec",
            f"{bad[0]}: holds text that is not valid Unicode (a lone surrogate), got "
            f"{brief(bad[1])}; no file can hold it",
        )
    text = write(spec)
    data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    write_atomic(path, data)


def _unencodable(data: Any) -> tuple[str, str] | None:
    """``(path, text)`` of the first string (key or value) in ``data`` that UTF-8 cannot
    encode (a lone surrogate), or ``None``."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, val = stack.pop()
        items: Any = ()
        if isinstance(val, str):
            try:
                val.encode("utf-8")
            except UnicodeEncodeError:
                return path or ROOT, val
        elif isinstance(val, dict):
            for key in val:
                if isinstance(key, str) and _unencodable(key) is not None:
                    return join_path(path, key_text(key)), key
            items = [(join_path(path, key_text(k)), x) for k, x in val.items()]
        elif isinstance(val, list):
            items = [(join_path(path, f"[{i}]"), x) for i, x in enumerate(val)]
        stack.extend(reversed(items))
    return None


def is_plain(value: object) -> bool:
    """Whether ``value`` is plain data: ``None``, bools, numbers, strings, lists and dicts of
    them, at most :data:`~optfn.io.problems.MAX_DEPTH` levels deep (what a config holds).

    >>> is_plain({"a": [1, 2.0, None, "x"]}), is_plain({"a": {1, 2}})
    (True, False)
    """
    stack = [(value, 1)]
    while stack:
        val, depth = stack.pop()
        if isinstance(val, (list, tuple, dict)):
            if depth > MAX_DEPTH:
                return False
            items = val.values() if isinstance(val, dict) else val
            stack.extend((x, depth + 1) for x in items)
        elif not (val is None or type(val) in (bool, int, float, str)):
            return False
    return True


@overload
def load_config(path: str | os.PathLike[str], cls: SpecType[T]) -> T: ...
@overload
def load_config(path: str | os.PathLike[str], cls: None = None) -> Any: ...
def load_config(path: str | os.PathLike[str], cls: Any = None) -> Any:
    """Read the spec in a ``.toml``, ``.json``, ``.yaml`` or ``.yml`` file (see :func:`from_dict`).

    A file that cannot be read (missing, a directory), is not UTF-8 text or holds a bad config
    is a :class:`~optfn.errors.ConfigError` naming the file.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "opt.json"
    >>> from optfn import AdamWSpec
    >>> save_config(AdamWSpec(learning_rate=3e-4), path)
    >>> load_config(path, AdamWSpec).learning_rate
    0.0003
    """
    read = _format("load_config", path)[1]
    _check_args("load_config", cls, None)
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:  # missing, a directory, no permission...
        reason = escaped(exc.strerror or exc)
        raise ConfigError([f"{ROOT}: cannot read the file: {reason}"], source) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{ROOT}: not UTF-8 text (byte {exc.start}: {escaped(exc.reason)})"], source
        ) from None
    return read(text, cls, source=source)
