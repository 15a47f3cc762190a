"""YAML configs (issue 25): ``to_yaml``/``from_yaml``, ``.yaml``/``.yml`` files, ``optfn validate``.

The reader is strict plain data (no tags, anchors, aliases, duplicate or non-string keys; only
``true``/``false`` as booleans; ``1e-3`` a float; ``yes``, ``0x1f``, ``1_000``, dates stay
strings) and reports like the TOML/JSON readers. Every reading test runs with each parser that
PyYAML has here (libyaml's ``CSafeLoader`` and the pure-Python ``SafeLoader``): they must say
the same.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optfn.io.yaml_text as yaml_text
from optfn import strategies
from optfn.cli import main
from optfn.config import OptimConfig
from optfn.errors import ConfigError, OptfnError, SpecError, SpecTypeError
from optfn.io import (
    MAX_DEPTH,
    from_dict,
    from_json,
    from_toml,
    from_yaml,
    load_config,
    save_config,
    to_dict,
    to_toml,
    to_yaml,
)
from optfn.io.problems import deep_text
from optfn.io.registry import REGISTRY
from optfn.io.yaml_text import dump_yaml, parse_yaml, plain_value
from optfn.schedules import WarmupCosine
from optfn.specs.optimizers import AdamWSpec
from optfn.specs.rules import LayerDecay, ParamRules
from tests.strategies.test_fuzz import mutated_configs

DATA = Path(__file__).resolve().parents[1] / "data"
DEEP = f"(top level): {deep_text()}"

#: The parsers PyYAML has here: libyaml's (the default where PyYAML was built with it) and
#: PyYAML's own, always there.
PARSERS = {"pyyaml": yaml.SafeLoader}
if hasattr(yaml, "CSafeLoader"):
    PARSERS["libyaml"] = yaml.CSafeLoader

fast = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(params=sorted(PARSERS))
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every reader (``from_yaml``, ``load_config``, the CLI) uses this parser in the test."""
    monkeypatch.setattr(yaml_text, "PARSER", PARSERS[request.param])
    yield PARSERS[request.param]


def _problems(call: Any, *args: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        call(*args)
    return info.value.problems


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types, floats bit for bit (``-0.0`` is not ``0.0``)."""
    if isinstance(a, float):
        return isinstance(b, float) and struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# ---- round trips ------------------------------------------------------------------------------

#: Every spec class (and family base), with default bounds, and the widest bounds.
WIDE_LR = {"min_lr": 5e-324, "max_lr": 1e6, "max_weight_decay": 10.0}
SPECS: dict[str, st.SearchStrategy[Any]] = {
    cls.__name__: strat for cls, strat in strategies.spec_strategies().items()
}
SPECS["wide OptimConfig"] = strategies.configs(
    optimizers=strategies.optimizer_specs(**WIDE_LR),
    rules=strategies.param_rules(max_lr_scales=4, min_lr_scale=5e-324, max_lr_scale=1e6),
)


@pytest.mark.parametrize("name", sorted(SPECS))
@fast
@given(data=st.data())
def test_every_spec_round_trips(name: str, data: st.DataObject) -> None:
    spec = data.draw(SPECS[name])
    text = to_yaml(spec)
    d = to_dict(spec)
    for cls in PARSERS.values():
        assert _same(parse_yaml(text, parser=cls), d)  # to_dict exactly, keys in order
    assert from_yaml(text) == spec
    assert from_yaml(text, type(spec)) == spec
    assert _same(yaml.safe_load(text), d)  # what another YAML reader makes of it
    assert text.startswith(f"version: 1\ntype: {d['type']}\n")


def test_every_registered_class_is_drawn() -> None:
    assert {n for n in SPECS if n != "wide OptimConfig"} >= {
        cls.__name__ for cls in REGISTRY.by_tag.values()
    }


PLAIN = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
        st.sampled_from(["yes", "No", "on", "1e3", "0x1f", "0o17", "017", "1_000", "1:30", "~"]),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=PLAIN)
def test_plain_data_round_trips_bit_identical(data: Any) -> None:
    text = dump_yaml(data)
    for cls in PARSERS.values():
        assert _same(parse_yaml(text, parser=cls), data), text
    assert _same(yaml.safe_load(text), data), text


@pytest.mark.parametrize(
    "value",
    [1e-08, 1e20, 0.1, 5e-324, -0.0, 1.7976931348623157e308, 2.0**53, 3e-4, 1e16, 123456789.125],
)
def test_floats_read_back_bit_identical(value: float, parser: Any) -> None:
    text = dump_yaml({"x": value})
    assert _same(parse_yaml(text), {"x": value}), text
    assert _same(yaml.safe_load(text), {"x": value})
    spec = AdamWSpec(learning_rate=abs(value) or 1.0, eps=abs(value) or 1e-8)
    assert from_yaml(to_yaml(spec)) == spec


def test_floats_are_written_as_repr_with_a_point() -> None:
    assert dump_yaml({"a": 1e-08, "b": 1e20, "c": 0.1, "d": -0.0}) == (
        "a: 1.0e-08\nb: 1.0e+20\nc: 0.1\nd: -0.0\n"
    )


LOOK_ALIKES = [
    *["true", "false", "True", "FALSE", "yes", "No", "ON", "off", "y", "n", "Y", "N"],
    *["null", "Null", "NULL", "~", ""],
    *["12", "-3", "+4", "1e3", "1E5", "1e-3", ".5", "1.", "0x1f", "0o17", "017", "1_000"],
    *["1:30", "190:20:30", "2024-01-01", "2001-12-14t21:59:43.10-05:00", ".inf", "-.Inf"],
    *[".nan", "<<", "=", "-", "3.14_15"],
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_strings_that_look_like_other_values_are_quoted(text: str, parser: Any) -> None:
    written = dump_yaml({"k": text, text: 1})
    lines = written.splitlines()
    assert f"k: {text}" not in lines and (f"{text}: 1" not in lines or not text)  # quoted
    assert parse_yaml(written) == {"k": text, text: 1}
    assert yaml.safe_load(written) == {"k": text, text: 1}


def test_a_spec_with_look_alike_strings_round_trips(parser: Any) -> None:
    spec = LayerDecay(rate=0.5, blocks="yes", stem=("on", "1e3", "null", "2024-01-01"))
    text = to_yaml(spec)
    assert "blocks: 'yes'\n" in text and "- '1e3'\n" in text
    assert from_yaml(text) == spec


def test_to_yaml_refuses_what_no_reader_takes_back() -> None:
    for data, problem in [
        ({"a": [1.0, math.inf]}, r"a\[1\]: must be finite to be written, got inf"),
        ({"a": {"b": math.nan}}, r"a\.b: must be finite to be written, got nan"),
        ({"a": -(10**4300)}, r"a: an integer of more than 4300 digits cannot be written"),
        ({"a": ["x\ud800"]}, r"a\[0\]: holds text that is not valid Unicode, got 'x\\ud800'"),
        ({"\udc00": 1}, r"'\\udc00': a key that is not valid Unicode"),
    ]:
        with pytest.raises(SpecError, match=problem):
            dump_yaml(data)
    with pytest.raises(SpecError, match=r"nested deeper than 64 levels"):
        dump_yaml({"a": _nest(MAX_DEPTH)})
    with pytest.raises(SpecTypeError, match="not a registered spec"):
        to_yaml(object())


# ---- what plain scalars mean ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(t, None) for t in ("", "~", "null")],
        ("true", True),
        ("false", False),
        *[(t, t) for t in ("True", "TRUE", "False", "yes", "no", "on", "off", "y", "n", "Null")],
        *[("0", 0), ("-12", -12), ("+7", 7)],
        *[(t, t) for t in ("017", "00", "0x1f", "0o17", "0b101", "1_000", "1:30", "-0x1")],
        *[("1e-3", 0.001), ("1E5", 1e5), (".5", 0.5), ("-.5", -0.5), ("2.", 2.0), ("3.e-4", 3e-4)],
        *[("1.0e+20", 1e20), ("01.5", 1.5), ("6.02E+23", 6.02e23), ("0e0", 0.0)],
        *[(t, t) for t in ("2024-01-01", "2001-12-14 21:59:43.10 -5", "1e", "e5", ".", "1.2.3")],
        *[("inf", "inf"), ("nan", "nan"), ("1_0.5", "1_0.5")],
    ],
)
def test_plain_scalars(text: str, value: Any, parser: Any) -> None:
    assert _same(plain_value(text), value)
    got = parse_yaml(f"k: {text}")
    assert _same(got, {"k": value}), got
    assert parse_yaml(f"k: '{text}'") == {"k": text}  # quoted: always a string


def test_non_finite_floats_read_then_refused_as_json_s_are(parser: Any) -> None:
    for yaml_value, json_value in [(".inf", "Infinity"), ("-.Inf", "-Infinity"), (".nan", "NaN")]:
        got = _problems(from_yaml, f"type: adamw\nlearning_rate: {yaml_value}")
        assert got == _problems(from_json, f'{{"type": "adamw", "learning_rate": {json_value}}}')
        assert got[0].startswith("learning_rate: must be a finite number, got ")


def test_1e_minus_3_is_a_float(parser: Any) -> None:
    spec = from_yaml("type: adamw\nlearning_rate: 1e-3\neps: 1E-8\nbetas: [.9, 0.95]")
    assert spec == AdamWSpec(learning_rate=0.001, eps=1e-8, betas=(0.9, 0.95))
    assert type(spec.learning_rate) is float


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "True", "FALSE", "'true'"])
def test_a_yaml_1_1_boolean_is_refused_naming_the_field(word: str, parser: Any) -> None:
    problems = _problems(from_yaml, f"type: adamw\namsgrad: {word}")
    assert problems == [f"amsgrad: must be true or false, got {word.strip(chr(39))!r} (str)"]
    assert from_yaml("type: adamw\namsgrad: true").amsgrad is True


@pytest.mark.parametrize("number", ["0x10", "0o17", "017", "1_000", "1:30", "1e2"])
def test_other_number_forms_are_refused_where_an_int_is_wanted(number: str, parser: Any) -> None:
    problems = _problems(from_yaml, f"type: warmup_cosine\nwarmup_steps: {number}\ntotal_steps: 9")
    assert len(problems) == 1 and problems[0].startswith("warmup_steps: must be an integer")
    assert repr(plain_value(number)) in problems[0]


def test_a_date_stays_a_string(parser: Any) -> None:
    assert from_yaml("type: layer_decay\nrate: 0.5\nblocks: 2024-01-01").blocks == "2024-01-01"


def test_null_reads_as_json_s_null(parser: Any) -> None:
    json_none = from_json('{"type": "adamw", "lr_decay_gamma": null}')
    for null in ("~", "null", ""):
        assert from_yaml(f"type: adamw\nlr_decay_gamma: {null}") == json_none
        assert _problems(from_yaml, f"type: adamw\nlearning_rate: {null}") == _problems(
            from_json, '{"type": "adamw", "learning_rate": null}'
        )


# ---- refusals ---------------------------------------------------------------------------------

TAG_HINT = "; write the plain value (quoted, for a string)"
ALIAS_HINT = "; write the value out in full"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "type: adamw\nlearning_rate: !!python/object/apply:os.system ['echo hi']",
            "learning_rate: tags are not allowed, got '!!python/object/apply:os.system' at line "
            "2, column 16" + TAG_HINT,
        ),
        (
            "!!python/object:optfn.AdamWSpec\nlearning_rate: 0.1",
            "(top level): tags are not allowed, got '!!python/object:optfn.AdamWSpec' at line 1, "
            "column 1" + TAG_HINT,
        ),
        (
            "type: adamw\nbetas: !!binary aGVsbG8=",
            "betas: tags are not allowed, got '!!binary' at line 2, column 8" + TAG_HINT,
        ),
        (
            "type: adamw\nbetas: !!set {0.9, 0.95}",
            "betas: tags are not allowed, got '!!set' at line 2, column 8" + TAG_HINT,
        ),
        (
            "type: !!str adamw",
            "type: tags are not allowed, got '!!str' at line 1, column 7" + TAG_HINT,
        ),
        (
            "type: adamw\nbetas: [0.9, !custom 0.95]",
            "betas[1]: tags are not allowed, got '!custom' at line 2, column 14" + TAG_HINT,
        ),
        ("type: ! adamw", "type: tags are not allowed, got '!' at line 1, column 7" + TAG_HINT),
        (
            "%TAG !o! tag:optfn:\n---\ntype: !o!x adamw",
            "type: tags are not allowed, got 'tag:optfn:x' at line 3, column 7" + TAG_HINT,
        ),
        (
            "type: adamw\nbetas: &b [0.9, 0.95]",
            "betas: anchors and aliases are not allowed, got &b at line 2, column 8" + ALIAS_HINT,
        ),
        (
            "type: adamw\nbetas: [0.9, *b]",
            "betas[1]: anchors and aliases are not allowed, got *b at line 2, column 14"
            + ALIAS_HINT,
        ),
        (
            "type: optim_config\noptimizer:\n  type: adamw\n  learning_rate: 0.1\n  type: adam",
            "optimizer: duplicate key 'type' at line 5, column 3",
        ),
        (
            "{type: adamw, type: adamw}",
            "(top level): duplicate key 'type' at line 1, column 15",
        ),
        ("type: adamw\n1: x", "(top level): keys must be strings, got 1 at line 2, column 1"),
        ("type: adamw\n1.5: x", "(top level): keys must be strings, got 1.5 at line 2, column 1"),
        ("true: x", "(top level): keys must be strings, got True at line 1, column 1"),
        ("~: x", "(top level): keys must be strings, got None at line 1, column 1"),
        ("? \n: x", "(top level): keys must be strings, got None at line 1, column 2"),
        ("? [a, b]\n: x", "(top level): keys must be strings, got a list at line 1, column 3"),
        ("{{a: 1}: x}", "(top level): keys must be strings, got a mapping at line 1, column 2"),
        (
            "type: adamw\n---\ntype: adam",
            "(top level): more than one document ('---') at line 2, column 1; a config is one "
            "document",
        ),
        (
            "type: adamw\nlearning_rate: " + "1" * 5000,
            "learning_rate: an integer of 5000 digits is too long at line 2, column 16",
        ),
        (
            "type: adamw\nnote: 'ok \x1b[2J'",
            "(top level): not valid YAML: the character '\\x1b' is not allowed at line 2, "
            "column 11",
        ),
        (
            "type: adamw\n# café \ud800",
            "(top level): not valid YAML: the character '\\ud800' is not allowed at line 2, "
            "column 8",
        ),
    ],
)
def test_refusals(text: str, problem: str, parser: Any) -> None:
    with pytest.raises(ConfigError) as info:
        from_yaml(text, source="run.yaml")
    assert info.value.problems == [problem]
    assert str(info.value).startswith("invalid config run.yaml (1 problem):\n")


def test_a_lone_surrogate_escape_is_refused(parser: Any) -> None:
    # libyaml refuses the escape as it scans, PyYAML's parser reads it and optfn refuses it
    (problem,) = _problems(from_yaml, 'type: adamw\nno_decay_names: ["\\ud800"]')
    assert problem in (
        "no_decay_names[0]: a lone surrogate is not valid Unicode at line 2, column 18",
        "(top level): not valid YAML: while parsing a quoted scalar found invalid Unicode "
        "character escape code at line 2, column 21",
    )


@pytest.mark.parametrize(
    "text", ["type: [adamw", "type: adamw\n  lr: 1", "a: b: c", "type: 'adamw", "- a\nb: c"]
)
def test_text_that_is_not_yaml(text: str, parser: Any) -> None:
    problems = _problems(from_yaml, text)
    assert len(problems) == 1 and problems[0].startswith("(top level): not valid YAML: ")
    assert " at line " in problems[0] and "\n" not in problems[0]


@pytest.mark.parametrize(
    ("text", "shown"),
    [("", "None"), ("# nothing\n", "None"), ("- a\n- b", "['a', 'b']"), ("adamw", "'adamw'")],
)
def test_the_top_level_must_be_a_mapping(text: str, shown: str, parser: Any) -> None:
    problems = _problems(from_yaml, text)
    assert problems == [
        f"(top level): must be a table/mapping of a spec's fields, got {shown} "
        f"({type(yaml.safe_load(text)).__name__})"
    ]


def test_api_misuse_names_the_argument() -> None:
    with pytest.raises(SpecTypeError, match=r"from_yaml\.text: must be YAML text .*decode"):
        from_yaml(b"type: adamw")  # type: ignore[arg-type]
    with pytest.raises(SpecTypeError, match=r"from_yaml\.cls: must be a spec class"):
        from_yaml("type: adamw", "adamw")  # type: ignore[call-overload]
    with pytest.raises(SpecTypeError, match=r"from_yaml\.source: must be a string"):
        from_yaml("type: adamw", source=3)  # type: ignore[arg-type]


# ---- one problem-listing ConfigError, as TOML's and JSON's ------------------------------------

BAD_YAML = """\
# The same mistakes as tests/data/bad_config.toml, as a YAML user writes them.
version: 1
type: optim_config
_target_: torch.optim.SGD
optimizer:
  type: adamw
  learning_rate: "3e-4"
  betas: [0.9]
  weight_decay: true
  lr: 0.1
rules:
  lr_scales: {head: -5.0}
schedule:
  type: join
  boundaries: [100.0]
  pieces:
    - type: LinearWarmup
      warmup_steps: 100
    - type: warmup_cosine
      warmup_steps: -5
      total_steps: 0
"""


def test_every_converter_problem_is_listed_as_toml_lists_them(parser: Any) -> None:
    toml_text = (DATA / "bad_config.toml").read_text(encoding="utf-8")
    expected = _problems(from_toml, toml_text)
    assert len(expected) == 10
    assert _problems(from_yaml, BAD_YAML) == expected
    assert _problems(from_yaml, dump_yaml(tomllib.loads(toml_text))) == expected
    assert _problems(from_yaml, BAD_YAML, OptimConfig) == _problems(
        from_toml, toml_text, OptimConfig
    )


# ---- a DINOv2-style recipe --------------------------------------------------------------------

DINO_STYLE = """\
# optfn's part of a DINOv2-style recipe (ViT-L/14): comments, nested mappings, 1e-3 numbers.
version: 1
type: optim_config

optimizer:          # AdamW, as the recipe's `optim:` block has it
  type: adamw
  learning_rate: 1e-3   # written as DINOv2 writes it; read as a float
  betas: [0.9, 0.999]
  weight_decay: 0.04
  eps: 1e-8

rules:
  lr_scales:
    patch_embed: 0.2    # patch_embed_lr_mult
    "head": 1.0         # a quoted key is a key too
  no_decay_names:
    - bias
    - '*_token'
    - pos_embed

schedule:
  type: warmup_cosine
  warmup_steps: 100     # warmup_epochs x steps per epoch
  total_steps: 1000
  min_lr_scale: 1.0e-3  # min_lr / lr
...
"""


def test_a_dinov2_style_recipe(parser: Any, tmp_path: Path) -> None:
    cfg = from_yaml(DINO_STYLE, OptimConfig)
    assert cfg == OptimConfig(
        optimizer=AdamWSpec(learning_rate=1e-3, betas=(0.9, 0.999), weight_decay=0.04, eps=1e-8),
        rules=ParamRules(
            lr_scales={"patch_embed": 0.2, "head": 1.0},
            no_decay_names=("bias", "*_token", "pos_embed"),
        ),
        schedule=WarmupCosine(warmup_steps=100, total_steps=1000, min_lr_scale=1e-3),
    )
    assert from_yaml(to_yaml(cfg)) == cfg and from_toml(to_toml(cfg)) == cfg
    path = tmp_path / "dinov2_vitl14.yaml"
    path.write_text(DINO_STYLE, encoding="utf-8")
    assert load_config(path) == cfg


# ---- files and the command line ---------------------------------------------------------------


@fast
@given(cfg=strategies.configs())
def test_yaml_files_round_trip(cfg: OptimConfig, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    for name in ("run.yaml", "run.yml", "RUN.YAML"):
        save_config(cfg, folder / name)
        assert (folder / name).read_text(encoding="utf-8") == to_yaml(cfg)
        assert load_config(folder / name) == cfg
        assert load_config(folder / name, OptimConfig) == cfg


def test_yaml_file_problems_name_the_file(tmp_path: Path, parser: Any) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("type: adamw\nlearning_rate: &lr 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.source == str(bad) and str(bad) in str(info.value)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("type: adamw\n# caf\xe9\n".encode("latin-1"))
    assert _problems(load_config, latin)[0].startswith("(top level): not UTF-8 text (byte 17:")


def test_validate_takes_yaml(
    tmp_path: Path, parser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "dino.yaml"
    good.write_text(DINO_STYLE, encoding="utf-8")
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{good}: ok (OptimConfig: adamw lr=0.001, schedule WarmupCosine, 2 LR scale(s))"
    )
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_YAML, encoding="utf-8")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"invalid config {bad} (10 problems):"
    assert "  optimizer.learning_rate: must be a number, got '3e-4' (str)" in err.splitlines()
    assert "Traceback" not in err
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("!!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    assert main(["validate", str(tagged)]) == 2
    out = capsys.readouterr()
    assert "tags are not allowed, got '!!python/object/apply:os.system'" in out.err
    assert "hacked" not in out.out


def test_curve_takes_a_yaml_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sched.yml"
    path.write_text("type: warmup_cosine\nwarmup_steps: 3\ntotal_steps: 20\n", encoding="utf-8")
    assert main(["curve", str(path), "--steps", "20"]) == 0
    assert "WarmupCosine" in capsys.readouterr().out


def test_validate_yaml_via_subprocess_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: adamw\nlearning_rate: 1e-3\namsgrad: yes\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "optfn.cli", "validate", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "amsgrad: must be true or false, got 'yes' (str)" in run.stderr
    assert "learning_rate" not in run.stderr and "Traceback" not in run.stderr


# ---- hostile documents ------------------------------------------------------------------------


def _nest(n: int, leaf: Any = 1) -> Any:
    out = leaf
    for _ in range(n):
        out = [out]
    return out


def _billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\ntype: *l{levels}\n"


def _refused_quickly(text: str, problem: str, seconds: float = 10.0) -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        from_yaml(text)
    assert time.perf_counter() - start < seconds
    assert info.value.problems == [problem]
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained error
    assert len(traceback.extract_tb(info.tb)) < 8  # no deep traceback


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_billion_laughs(), "l0: anchors and aliases are not allowed, got &l0 at line 1, column 5"),
        ("type: adamw\nbetas: " + "[" * 100_000 + "]" * 100_000, DEEP),  # libyaml's own limit
        ("type: adamw\nbetas: " + "[" * 65 + "]" * 65, DEEP),
        ("a: " + "{a: " * 5000 + "1" + "}" * 5000, DEEP),
        ("".join(" " * i + "a:\n" for i in range(3000)) + " " * 3000 + "b: 1", DEEP),
        ("".join(" " * i + "- \n" for i in range(0, 6000, 2)), DEEP),
        ("a:\n" + "".join(" " * (i + 1) + "[\n" for i in range(200)), DEEP),
    ],
)
def test_hostile_documents_are_refused_quickly(text: str, problem: str, parser: Any) -> None:
    if "anchors" in problem:
        problem += ALIAS_HINT
    _refused_quickly(text, problem)


def test_depth_up_to_the_limit_is_read(parser: Any) -> None:
    # the top-level mapping + 63 lists: 64 levels, read (and refused for their content only)
    problems = _problems(from_yaml, "type: adamw\nbetas: " + "[" * 63 + "]" * 63)
    assert problems == [_problems(from_dict, {"type": "adamw", "betas": _nest(62, [])})[0]]
    block = "type: adamw\nbetas:\n" + "".join("  " * i + "-\n" for i in range(1, 63))
    assert DEEP not in _problems(from_yaml, block)
    assert _problems(from_yaml, block + "  " * 63 + "- []\n") == [DEEP]


def test_a_10_mb_scalar_is_read_like_json_s(tmp_path: Path) -> None:
    # no size limit beyond memory, as for TOML and JSON: a huge value is read and refused for
    # what it is, in one bounded problem line (with libyaml where PyYAML has it)
    huge = "x" * 10_000_000
    start = time.perf_counter()
    problems = _problems(from_yaml, f"type: adamw\nlearning_rate: {huge}\n")
    assert time.perf_counter() - start < 30
    assert problems == _problems(from_json, json.dumps({"type": "adamw", "learning_rate": huge}))
    assert len(problems[0]) < 200


# ---- libyaml and PyYAML agree; fuzzing --------------------------------------------------------

CORPUS = [
    DINO_STYLE,
    BAD_YAML,
    _billion_laughs(2),
    "type: adamw\nlearning_rate: !!float 1e-3",
    "a: |\n  literal\n   text\nb: >\n  folded\n  text\n",
    "a: 'it''s'\nb: \"\\t\\u00e9\\x41\"\nc: plain text # comment\n",
    "%YAML 1.2\n---\na: [1, 2.5, -.inf, ~, true, '', \"\"]\n...\n",
    "? complex key\n: value\n",
    "a:\n- b: 1\n  c: [x, {d: e}]\n",
    "\ufeffa: 1",
    "{a: 1, b: [2, 3], c: {d: 4}}",
    "a: b\n  c",
    "a: [1, 2",
]


@pytest.mark.parametrize("text", CORPUS)
def test_both_parsers_read_the_same(text: str) -> None:
    outcomes = []
    for cls in PARSERS.values():
        try:
            outcomes.append(("value", parse_yaml(text, parser=cls)))
        except ConfigError as err:
            # the same refusal; only a syntax error's wording is the parser's own
            first = err.problems[0]
            outcomes.append(("refused", "not valid YAML" if "not valid YAML" in first else first))
    assert all(_same(o, outcomes[0]) for o in outcomes)


def _outcome(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except OptfnError as exc:
        text = str(exc)
        assert "\x1b" not in text and all(len(line) < 2500 for line in text.splitlines())
        return exc


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.text(alphabet="[]{}\"'!&*:-?|>#~.,%@`\n\t 01ae", max_size=300),
    )
)
def test_random_texts_give_a_value_or_an_optfn_error(text: str) -> None:
    for cls in PARSERS.values():
        _outcome(parse_yaml, text, None, cls)
    _outcome(from_yaml, text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=mutated_configs())
def test_mutated_configs_read_as_from_dict_reads_them(data: Any) -> None:
    try:
        text = dump_yaml(data)
    except SpecError:  # NaN, infinity or too deep: YAML refuses to write it
        return
    read = _outcome(parse_yaml, text)
    if isinstance(read, ConfigError):  # an integer of thousands of digits, as JSON refuses
        assert "digits is too long" in read.problems[0]
        return
    assert _same(read, data)
    got, expected = _outcome(from_yaml, text), _outcome(from_dict, data)
    if isinstance(expected, ConfigError):
        assert isinstance(got, ConfigError) and got.problems == expected.problems
    else:
        assert got == expected
