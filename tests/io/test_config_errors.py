"""A corpus of bad configs: each is refused with one ConfigError naming every bad path.

Each case gives the input (a Python value, TOML text, JSON text, or the spec-method
API's ``(optimizer_name, params)``) and the exact problems expected, as ``(path, words)``: the error
must have exactly one line per expected problem, starting with ``path: `` and containing
``words``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from optfn.compat.serialized import optimizer_from_serialized
from optfn.errors import ConfigError
from optfn.io import from_dict, from_json, from_toml, load_config, to_dict
from optfn.optim.table import KindTable

#: The first tags of the table, sorted (the start of every "allowed: ..." list of all kinds).
TAGS = "".join(f"{t!r}, " for t in sorted(KindTable.library().kinds)[:7])
#: Every optimizer kind's tag, sorted (torch.optim's optimizers, Muon, NorMuon): the table's.
OPTIMIZER_TAGS = ", ".join(repr(t) for t in sorted(KindTable.library().family("optimizer")))
Problems = list[tuple[str, str]]


def dict_case(name: str, data: Any, *problems: tuple[str, str]) -> Any:
    return pytest.param(from_dict, data, list(problems), id=f"dict-{name}")


def toml_case(name: str, text: str, *problems: tuple[str, str]) -> Any:
    return pytest.param(from_toml, text, list(problems), id=f"toml-{name}")


def json_case(name: str, text: str, *problems: tuple[str, str]) -> Any:
    return pytest.param(from_json, text, list(problems), id=f"json-{name}")


def serialized_case(name: str, args: tuple[Any, Any], *problems: tuple[str, str]) -> Any:
    return pytest.param(
        lambda a: optimizer_from_serialized(*a), args, list(problems), id=f"serialized-{name}"
    )


CFG = 'type = "optim_config"\n'
ADAMW = CFG + '[optimizer]\ntype = "adamw"\n'
CASES = [
    # -- a string, a bool, NaN or inf where a number belongs
    toml_case(
        "lr-quoted",
        ADAMW + 'learning_rate = "3e-4"',
        ("optimizer.learning_rate", "must be a number, got '3e-4' (str)"),
    ),
    toml_case(
        "lr-bool",
        ADAMW + "learning_rate = true",
        ("optimizer.learning_rate", "must be a number, got True (bool)"),
    ),
    toml_case("lr-nan", ADAMW + "eps = nan", ("optimizer.eps", "must be a finite number, got nan")),
    toml_case("lr-inf", ADAMW + "eps = inf", ("optimizer.eps", "must be a finite number, got inf")),
    toml_case(
        "wd-minus-inf",
        ADAMW + "weight_decay = -inf",
        ("optimizer.weight_decay", "must be a finite number, got -inf"),
    ),
    json_case(
        "json-NaN",
        '{"type": "adam", "learning_rate": NaN}',
        ("learning_rate", "must be a finite number, got nan"),
    ),
    json_case(
        "json-Infinity",
        '{"type": "adam", "betas": [0.9, Infinity]}',
        ("betas[1]", "must be a finite number, got inf"),
    ),
    dict_case("huge-int", {"type": "adam", "eps": 10**400}, ("eps", "must be a finite number")),
    dict_case(
        "nested-gamma-str",
        {"type": "muon", "lr_decay_gamma": "0.9"},
        ("lr_decay_gamma", "must be a number, got '0.9' (str)"),
    ),
    # -- a float or a bool where an int belongs; a number or a string where a bool belongs
    toml_case(
        "ns-steps-float",
        CFG + '[optimizer]\ntype = "muon"\nns_steps = 5.0',
        ("optimizer.ns_steps", "must be an integer, got 5.0 (float)"),
    ),
    dict_case(
        "max-ndim-bool",
        {"type": "param_rules", "no_decay_max_ndim": True},
        ("no_decay_max_ndim", "must be an integer, got True (bool)"),
    ),
    dict_case(
        "nesterov-str",
        {"type": "muon", "nesterov": "false"},
        ("nesterov", "must be true or false, got 'false' (str)"),
    ),
    dict_case(
        "nesterov-int", {"type": "muon", "nesterov": 1}, ("nesterov", "must be true or false")
    ),
    dict_case(
        "literal-case",
        {"type": "muon", "adjust_lr_fn": "ORIGINAL"},
        ("adjust_lr_fn", "must be one of 'original', 'match_rms_adamw', got 'ORIGINAL'"),
    ),
    # -- lists of the wrong length or kind
    toml_case(
        "betas-one",
        ADAMW + "betas = [0.9]",
        ("optimizer.betas", "must be a list of exactly 2 values, got 1"),
    ),
    toml_case(
        "betas-three",
        ADAMW + "betas = [0.9, 0.99, 0.999]",
        ("optimizer.betas", "must be a list of exactly 2 values, got 3"),
    ),
    toml_case(
        "betas-string", ADAMW + 'betas = "12"', ("optimizer.betas", "must be a list, got '12'")
    ),
    dict_case(
        "patterns-string",
        {"type": "muon_routing", "include": "*"},
        ("include", "must be a list, got '*' (str)"),
    ),
    dict_case(
        "ns-coefficient-kind",
        {"type": "muon", "ns_coefficients": [1, "2", 3]},
        ("ns_coefficients[1]", "must be a number, got '2' (str)"),
    ),
    # -- unknown keys (nothing is imported or run because of what a file says)
    toml_case(
        "target-top",
        '_target_ = "os.system"\ntype = "optim_config"',
        ("_target_", "unknown key (allowed: optimizer, rules, schedule)"),
    ),
    toml_case(
        "target-nested",
        ADAMW + '_target_ = "torch.optim.SGD"',
        ("optimizer._target_", "unknown key"),
    ),
    toml_case(
        "misspelled",
        ADAMW + "learning_rat = 0.1\nlr = 0.1",
        ("optimizer.learning_rat", "unknown key (did you mean 'learning_rate'?)"),
        ("optimizer.lr", "unknown key (did you mean 'learning_rate'?)"),
    ),
    dict_case(
        "dotted-path-tag",
        {"type": "optfn.specs.optimizers.AdamSpec"},
        ("type", f"unknown type 'optfn.specs.optimizers.AdamSpec'; allowed: {TAGS}"),
    ),
    dict_case(
        "version-nested",
        {"type": "optim_config", "rules": {"version": 1}},
        ("rules.version", "unknown key"),
    ),
    # -- missing required fields, unknown or missing tags (exact and case-sensitive)
    dict_case(
        "missing-rate",
        {"type": "param_rules", "layer_decay": {"blocks": "encoder.layers"}},
        ("layer_decay.rate", "required field missing"),
    ),
    dict_case("no-tag-top", {"learning_rate": 0.1}, ("type", "required field missing; one of")),
    toml_case(
        "no-tag-optimizer",
        CFG + "[optimizer]\nlearning_rate = 0.1",
        ("optimizer.type", f"required field missing; one of {OPTIMIZER_TAGS}"),
    ),
    toml_case(
        "tag-upper",
        CFG + '[optimizer]\ntype = "ADAMW"',
        ("optimizer.type", f"unknown type 'ADAMW'; allowed: {OPTIMIZER_TAGS}"),
    ),
    dict_case("tag-top-upper", {"type": "AdamW"}, ("type", f"allowed: {TAGS}")),
    dict_case("tag-not-str", {"type": 3}, ("type", "unknown type 3")),
    toml_case(
        "schedule-tag-in-optimizer",
        CFG + '[optimizer]\ntype = "constant"',
        ("optimizer.type", f"unknown type 'constant'; allowed: {OPTIMIZER_TAGS}"),
    ),
    dict_case(
        "wrong-tag-concrete",
        {"type": "optim_config", "rules": {"type": "adam"}},
        ("rules.type", "must be 'param_rules' here (a ParamRules), got 'adam'"),
    ),
    # -- the top level (and a nested spec) must be a mapping
    dict_case("top-none", None, ("(top level)", "must be a table/mapping")),
    dict_case("top-list", [{"type": "adam"}], ("(top level)", "got [{'type': 'adam'}] (list)")),
    dict_case("top-str", "adamw", ("(top level)", "got 'adamw' (str)")),
    json_case("json-top-list", "[1, 2]", ("(top level)", "got [1, 2] (list)")),
    json_case("json-top-null", "null", ("(top level)", "got None (NoneType)")),
    dict_case(
        "nested-not-mapping",
        {"type": "optim_config", "optimizer": 0.1},
        ("optimizer", "must be a table/mapping with a 'type' key, got 0.1 (float)"),
    ),
    dict_case(
        "rules-not-mapping",
        {"type": "optim_config", "rules": ["bias"]},
        ("rules", "must be a table/mapping of ParamRules fields"),
    ),
    # -- the spec's own validators: their words, at the path of the field
    toml_case(
        "betas-range",
        ADAMW + "betas = [0.9, 1.2]",
        ("optimizer.betas[1]", "must be finite and in [0, 1), got 1.2"),
    ),
    dict_case(
        "all-range-errors",
        {"type": "adam", "learning_rate": -1, "eps": 0, "weight_decay": -2},
        ("learning_rate", "must be finite and > 0, got -1.0"),
        ("eps", "must be finite and > 0, got 0.0"),
        ("weight_decay", "must be finite and >= 0, got -2.0"),
    ),
    dict_case(
        "post-init-check",
        {"type": "param_rules", "muon": {"min_ndim": 1}},
        ("muon.min_ndim", "must be >= 2"),
    ),
    toml_case(
        "lr-scales-list",
        CFG + '[rules]\nlr_scales = [["head", 5.0]]',
        ("rules.lr_scales", "must be a table/mapping {name: value}"),
    ),
    toml_case(
        "lr-scales-value",
        CFG + '[rules]\nlr_scales = { head = "5", body = 0.5 }',
        ("rules.lr_scales['head']", "must be a number, got '5' (str)"),
    ),
    toml_case(
        "lr-scales-wildcard",
        CFG + '[rules]\nlr_scales = { "he*d" = 5.0 }',
        ("rules.lr_scales['he*d']", "no wildcards"),
    ),
    dict_case(
        "layer-decay-blocks",
        {"type": "layer_decay", "rate": 0.5, "blocks": "a.b*"},
        ("blocks", "must be the qualified name of the container"),
    ),
    # -- schedules
    dict_case(
        "join-piece",
        {
            "type": "join",
            "pieces": [{"type": "constant"}, {"type": "warmup_cosine", "warmup_steps": -5}],
            "boundaries": [10.0],
        },
        ("pieces[1].warmup_steps", "must be an integer in [0, 9007199254740992], got -5"),
        ("pieces[1].total_steps", "required field missing"),
        ("boundaries[0]", "must be an integer, got 10.0 (float)"),
    ),
    toml_case(
        "schedule-piece-range",
        CFG + '[schedule]\ntype = "join"\nboundaries = [10]\n'
        '[[schedule.pieces]]\ntype = "constant"\n'
        '[[schedule.pieces]]\ntype = "warmup_cosine"\nwarmup_steps = -5\ntotal_steps = 100\n',
        ("schedule.pieces[1].warmup_steps", "must be an integer in [0, 9007199254740992], got -5"),
    ),
    # -- version
    dict_case(
        "future-version",
        {"version": 2, "type": "adam"},
        ("version", "unsupported config version 2; this optfn reads version 1"),
    ),
    dict_case("version-str", {"version": "1", "type": "adam"}, ("version", "version '1'")),
    dict_case("version-bool", {"version": True, "type": "adam"}, ("version", "version True")),
    # -- syntax
    toml_case("toml-syntax", "learning_rate = = 1", ("(top level)", "not valid TOML")),
    toml_case("toml-duplicate", "a = 1\na = 2", ("(top level)", "not valid TOML")),
    json_case("json-syntax", '{"type": "adam",}', ("(top level)", "not valid JSON")),
    json_case(
        "json-duplicate",
        '{"type": "adam", "eps": 1e-8, "eps": 1e-3}',
        ("(top level)", "duplicate key 'eps'"),
    ),
    # -- the spec-method API's from_serialized
    serialized_case(
        "upper",
        ("ADAMW", {}),
        ("optimizer_type", f"unknown 'ADAMW'; allowed: {OPTIMIZER_TAGS}"),
    ),
    serialized_case(
        "tag-mismatch",
        ("adam", {"optimizer_type": "adamw"}),
        ("optimizer_type", "params say 'adamw', but the optimizer is 'adam'"),
    ),
    serialized_case("params-none", ("adam", None), ("(top level)", "got None (NoneType)")),
    serialized_case(
        "coercion",
        ("adamw", {"learning_rate": "0.1", "betas": "12", "weight_decay": True}),
        ("learning_rate", "must be a number, got '0.1' (str)"),
        ("betas", "must be a list, got '12' (str)"),
        ("weight_decay", "must be a number, got True (bool)"),
    ),
    serialized_case("version", ("adam", {"version": 1}), ("version", "unknown key")),
]


@pytest.mark.parametrize(("load", "data", "expected"), CASES)
def test_bad_config(load: Any, data: Any, expected: Problems) -> None:
    with pytest.raises(ConfigError) as info:
        load(data)
    err = info.value
    assert isinstance(err, ValueError)
    lines = err.problems
    assert len(lines) == len(expected), lines
    for path, words in expected:
        hits = [ln for ln in lines if ln.startswith(f"{path}: ") and words in ln]
        assert hits, f"no line for {path!r} with {words!r} in {lines}"
        assert f"\n  {hits[0]}" in str(err)


@pytest.mark.parametrize(("load", "data", "expected"), CASES)
def test_message_is_a_counted_header_then_every_problem_in_order(
    load: Any, data: Any, expected: Problems
) -> None:
    with pytest.raises(ConfigError) as info:
        load(data)
    err = info.value
    n = len(expected)
    head, *body = str(err).split("\n")
    assert head == f"invalid config ({n} problem{'s' if n != 1 else ''}):"
    assert body == [f"  {line}" for line in err.problems]
    assert err.source is None


def test_every_kind_of_mistake_is_in_the_corpus() -> None:
    """The corpus covers each input form and each kind of reason the loader gives."""
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids)
    assert {i.split("-")[0] for i in ids} == {"dict", "toml", "json", "serialized"}
    reasons = [words for case in CASES for _, words in case.values[2]]
    for kind in (
        "must be a number, got",
        "must be a finite number",
        "must be an integer, got",
        "must be true or false",
        "must be one of",
        "must be a list",
        "unknown key",
    ):
        assert any(kind in r for r in reasons), kind


def test_whole_file_reports_everything() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "bad_config.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines()[0] == f"invalid config {path} (10 problems):"
    assert info.value.source == str(path)
    assert [ln.split(": ")[0] for ln in info.value.problems] == [
        "optimizer.learning_rate",
        "optimizer.betas",
        "optimizer.weight_decay",
        "optimizer.lr",
        "rules.lr_scales['head']",
        "schedule.pieces[0].type",
        "schedule.pieces[1].warmup_steps",
        "schedule.pieces[1].total_steps",
        "schedule.boundaries[0]",
        "_target_",
    ]


def test_nothing_is_imported() -> None:
    name = "a_module_that_must_never_be_imported"
    for data in ({"type": name}, {"type": "adam", "_target_": name}, {"_target_": name}):
        with pytest.raises(ConfigError):
            from_dict(data)
    assert name not in sys.modules


# ---- issue 19: deep, huge and hostile input is refused by one ConfigError ----------------------
from optfn import AdamWSpec, OptimizerSpecification  # noqa: E402
from optfn.errors import OptfnError, SpecError, SpecTypeError  # noqa: E402
from optfn.io import MAX_DEPTH  # noqa: E402

DEEP_TEXT = "nested deeper than 64 levels"


def _deep(n: int, leaf: Any = 1) -> Any:
    out = leaf
    for _ in range(n):
        out = [out]
    return out


def _one_problem(err: ConfigError) -> str:
    assert len(err.problems) == 1, err.problems
    return err.problems[0]


@pytest.mark.parametrize(
    ("read", "text"),
    [
        (from_json, "[" * 1000 + "]" * 1000),
        (from_json, '{"a": ' * 500 + "1" + "}" * 500),
        (from_json, '{"type": "adamw", "betas": ' + "[" * 100 + "]" * 100 + "}"),
        (from_toml, "type = " + "[" * 500 + "]" * 500),
        (from_toml, "type = " + "{a = " * 330 + "1" + "}" * 330),
        (from_toml, "type." + ".".join(["a"] * 1000) + " = 1"),
        (from_toml, "[" + ".".join(["a"] * 200) + "]\nx = 1"),
        (from_toml, 'type = "adamw"\nbetas = ' + "[" * 70 + "]" * 70),
    ],
)
def test_deep_text_is_one_config_error(read: Any, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        read(text)
    problem = _one_problem(info.value)
    assert DEEP_TEXT in problem and len(problem) < 250


def test_depth_up_to_the_limit_is_read_past_it_refused() -> None:
    # MAX_DEPTH levels of mappings and lists are read (and refused for their content only)
    ok = {"type": "adamw", "betas": _deep(MAX_DEPTH - 1)}  # the dict + 63 lists: 64 levels
    with pytest.raises(ConfigError) as info:
        from_dict(ok)
    assert DEEP_TEXT not in str(info.value)
    with pytest.raises(ConfigError, match=DEEP_TEXT):
        from_dict({"type": "adamw", "betas": _deep(MAX_DEPTH)})
    assert MAX_DEPTH == 64


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda d: from_dict({"version": d, "type": "adamw"}), "version[0][0]"),
        (lambda d: from_dict({"type": "adamw", "betas": d}), "betas[0][0]"),
        (lambda d: from_dict({"type": d}), "type[0][0]"),
        (lambda d: optimizer_from_serialized("adamw", {"eps": d}), "eps[0][0]"),
    ],
)
def test_a_deep_value_is_refused_with_a_bounded_path(call: Any, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        call(_deep(2000))
    problem = _one_problem(info.value)
    assert problem.startswith(where) and DEEP_TEXT in problem and len(problem) < 250


def test_a_deep_name_or_constructor_value_is_rendered_bounded() -> None:
    with pytest.raises(ConfigError) as info:
        OptimizerSpecification.from_serialized(_deep(2000), {})  # type: ignore[arg-type]
    assert "optimizer_type: unknown [[[[[...]]]]]" in _one_problem(info.value)
    with pytest.raises(SpecTypeError) as spec_info:
        AdamWSpec(learning_rate=_deep(5000))
    assert str(spec_info.value) == (
        "AdamWSpec.learning_rate: must be a number (> 0), got [[[[[...]]]]] (list)"
    )


@pytest.mark.parametrize("value", [2**53 + 1, -(2**60) - 1, 10**17 + 1])
@pytest.mark.parametrize("read", ["dict", "json", "toml"])
def test_an_int_a_float_cannot_hold_is_refused(value: int, read: str) -> None:
    data = {"type": "adamw", "learning_rate": value}
    with pytest.raises(ConfigError) as info:
        if read == "dict":
            from_dict(data)
        elif read == "json":
            from_json(json.dumps(data))
        else:
            from_toml(f'type = "adamw"\nlearning_rate = {value}')
    problem = _one_problem(info.value)
    assert problem.startswith("learning_rate: must be a number that a float holds exactly")
    with pytest.raises(SpecError, match="a float holds exactly"):
        AdamWSpec(eps=abs(value))


def test_ints_a_float_holds_still_read_and_round_trip() -> None:
    for value in (1, 2**53, 2**60, 2**900):
        spec = AdamWSpec(eps=value)
        assert from_dict(to_dict(spec)) == spec
    assert from_dict({"type": "adamw", "learning_rate": 2**53}).learning_rate == 2.0**53


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: from_toml(None), r"from_toml.text: must be TOML text \(a str\), got None"),
        (lambda: from_toml(b'type = "adam"'), r"got b'type = \"adam\"' \(bytes\); decode"),
        (lambda: from_json(5), r"from_json.text: must be JSON text \(a str\), got 5 \(int\)"),
        (lambda: from_json(b"{}"), r"from_json.text: must be JSON text"),
        (lambda: from_dict({"type": "adamw"}, "adamw"), r"from_dict.cls: must be a spec class"),
        (lambda: from_json("{}", 3), r"from_json.cls: must be a spec class"),
        (lambda: from_dict({}, source=3), r"from_dict.source: must be a string or None"),
        (lambda: load_config(3), r"load_config.path: must be a str or a Path"),
    ],
)
def test_api_misuse_names_the_argument(call: Any, words: str) -> None:
    with pytest.raises(SpecTypeError, match=words):
        call()


def test_lr_multipliers_must_be_a_mapping() -> None:
    import torch

    model = torch.nn.Linear(2, 2)
    with pytest.raises(SpecTypeError, match=r"create_optimizer.lr_multipliers: must be a mapping"):
        AdamWSpec().create_optimizer(model, lr_multipliers=[(model, 2.0)])  # type: ignore[arg-type]


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('type = "adamw"\n# caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(bad) in str(info.value) and info.value.source == str(bad)
    assert _one_problem(info.value).startswith("(top level): not UTF-8 text (byte 20:")
    with pytest.raises(ConfigError, match=r"(?s)missing\.json.*cannot read the file: No such"):
        load_config(tmp_path / "missing.json")
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"(?s)dir\.toml.*cannot read the file: Is a directory"):
        load_config(folder)


def test_user_text_is_escaped_and_bounded_in_problems() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"type": "adamw", "\x1b[31mred": 1, "x" * 10_000: 2})
    text = str(info.value)
    assert "\x1b" not in text and "'\\x1b[31mred': unknown key" in text
    assert max(len(line) for line in text.splitlines()) < 300
    with pytest.raises(ConfigError) as info:
        from_dict({"type": "\x1b[2J"})
    assert "unknown type '\\x1b[2J'" in str(info.value) and "\x1b" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        from_json('{"type": "adamw", "betas": [' + ", ".join(["0.5"] * 100_000) + "]}")
    problem = _one_problem(info.value)
    assert problem.startswith("betas: must be a list of exactly 2 values, got 100000: [0.5, ")
    assert len(problem) < 200
    with pytest.raises(ConfigError) as info:
        from_dict({"type": "adamw", "learning_rate": 10**5000})
    assert "<int of about 5001 digits>" in _one_problem(info.value)


def test_many_problems_are_listed_up_to_a_bound() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"type": "adamw", **{f"k{i}": i for i in range(500)}})
    assert len(info.value.problems) == 500
    assert str(info.value).endswith(f"... and {500 - ConfigError.MAX_SHOWN} more")


def test_every_outcome_of_bad_input_is_an_optfn_error() -> None:
    for call in (
        lambda: from_json("\ud800"),
        lambda: from_json('{"type": "param_rules", "no_decay_names": ["\\ud800"]}'),
        lambda: from_toml('type = "layer_decay"\nrate = 0.5\nblocks = "a\\u0007b"'),
    ):
        with pytest.raises(OptfnError):
            call()
