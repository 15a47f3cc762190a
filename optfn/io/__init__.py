"""Serialization: one strict cattrs converter, error rendering, dicts, JSON, TOML, YAML, files.

- :mod:`optfn.io.registry`: the closed set of spec classes by ``"type"`` tag;
- :mod:`optfn.io.converter`: the strict converter built over it (one object);
- :mod:`optfn.io.problems`: one ``"path: reason"`` line per problem, every value bounded, and
  the nesting limit :data:`MAX_DEPTH` (64 levels), checked before anything recurses;
- :mod:`optfn.io.yaml_text`: the strict YAML reader (over PyYAML's events) and writer;
- :mod:`optfn.io.formats`: ``to_dict``/``from_dict``, JSON, TOML, YAML,
  ``save_config``/``load_config``.

>>> from optfn.io import from_toml, to_toml
>>> from optfn import WarmupCosine
>>> s = WarmupCosine(warmup_steps=5, total_steps=50)
>>> from_toml(to_toml(s)) == s
True
"""

from optfn.io.formats import (
    CONFIG_VERSION,
    MAX_DEPTH,
    from_dict,
    from_json,
    from_toml,
    from_yaml,
    is_plain,
    load_config,
    save_config,
    to_dict,
    to_json,
    to_toml,
    to_yaml,
)
from optfn.io.registry import SpecRegistry, register_spec

__all__ = [
    "CONFIG_VERSION",
    "MAX_DEPTH",
    "SpecRegistry",
    "from_dict",
    "from_json",
    "from_toml",
    "from_yaml",
    "is_plain",
    "load_config",
    "register_spec",
    "save_config",
    "to_dict",
    "to_json",
    "to_toml",
    "to_yaml",
]
