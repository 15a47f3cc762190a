"""ParamRules: presets, name patterns, validation."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from optfn import LayerDecay, MuonRouting, ParamRules
from optfn.errors import SpecError, SpecTypeError
from optfn.routing.patterns import matching_type as _matching_type
from optfn.routing.patterns import name_matcher
from optfn.specs.rules import NORM_LAYER_TYPES


def test_default_has_the_builders_exclusions() -> None:
    rules = ParamRules()
    assert {"bias", "*_bias", "cls_token", "pos_embed"} <= set(rules.no_decay_names)
    assert "*Norm" in rules.no_decay_types  # LayerNorm, RMSNorm, LlamaRMSNorm...
    assert rules.model_no_weight_decay
    assert rules.no_decay_max_ndim is None and rules.lr_scales == ()


def test_every_torch_norm_layer_is_listed() -> None:
    norm_bases = (
        nn.modules.batchnorm._NormBase,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.RMSNorm,
        nn.LocalResponseNorm,
        nn.CrossMapLRN2d,
    )
    shipped = {
        name
        for name in dir(nn)
        if isinstance(getattr(nn, name), type)
        and issubclass(getattr(nn, name), norm_bases)
        and not name.startswith("_")
    }
    assert shipped <= set(NORM_LAYER_TYPES), shipped - set(NORM_LAYER_TYPES)
    # and the default's class-name patterns match every one of them
    types = ParamRules().no_decay_types
    assert all(_matching_type(getattr(nn, name), types) == name for name in shipped)


def test_uniform_preset_decays_everything() -> None:
    rules = ParamRules.uniform()
    assert rules.no_decay_types == () and rules.no_decay_names == ()
    assert ParamRules.uniform(lr_scales={"a": 2.0}).lr_scales == (("a", 2.0),)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("bias", "bias", True),
        ("bias", "encoder.fc.bias", True),
        ("bias", "encoder.bias_scale", False),
        ("*.bias", "fc.bias", True),
        ("head.*", "head.weight", True),
        ("head.*", "model.head.weight", True),
        ("head.*", "multihead.weight", False),
        ("*transformer*", "model.transformer.layers.0.w", True),
        ("*transformer*", "encoder.w", False),
        ("pos_embed", "encoder.pos_embed", True),
        ("layers.[0-1].*", "layers.1.w", True),
        ("layers.[0-1].*", "layers.2.w", False),
    ],
)
def test_name_patterns_match_whole_name_or_dotted_tail(
    pattern: str, name: str, expected: bool
) -> None:
    matcher = name_matcher((pattern,))
    assert matcher.matches(name) is expected
    assert (matcher.first(name) == pattern) is expected


def test_lr_scales_mapping_is_sorted_pairs_and_hashable() -> None:
    a = ParamRules(lr_scales={"b": 2.0, "a": 0.5})
    b = ParamRules(lr_scales={"a": 0.5, "b": 2.0})
    assert a.lr_scales == (("a", 0.5), ("b", 2.0))
    assert a == b and hash(a) == hash(b)


BAD = [
    ({"lr_scales": {"head*": 2.0}}, SpecError, "lr_scales['head*']"),
    ({"lr_scales": {"head": 0}}, SpecError, "lr_scales['head']"),
    ({"lr_scales": {"head": float("nan")}}, SpecError, "lr_scales['head']"),
    ({"lr_scales": {"head": "5"}}, SpecTypeError, "lr_scales['head']"),
    ({"lr_scales": {"head": True}}, SpecTypeError, "lr_scales['head']"),
    ({"lr_scales": {".head": 2.0}}, SpecError, "lr_scales['.head']"),
    ({"no_decay_names": ("a b",)}, SpecError, "no_decay_names[0]"),
    ({"no_decay_names": "bias"}, SpecTypeError, "no_decay_names"),
    ({"no_decay_names": ("",)}, SpecError, "no_decay_names[0]"),
    ({"no_decay_types": ("Layer Norm",)}, SpecError, "no_decay_types[0]"),
    ({"no_decay_max_ndim": -1}, SpecError, "no_decay_max_ndim"),
    ({"no_decay_max_ndim": 1.0}, SpecTypeError, "no_decay_max_ndim"),
    ({"layer_decay": 0.5}, SpecTypeError, "layer_decay"),
    ({"muon": "transformer"}, SpecTypeError, "muon"),
]


@pytest.mark.parametrize(("kwargs", "exc", "where"), BAD)
def test_bad_rules(kwargs: dict[str, object], exc: type[Exception], where: str) -> None:
    with pytest.raises(exc) as info:
        ParamRules(**kwargs)
    assert str(info.value).startswith(f"ParamRules.{where}: ")


def test_muon_routing_refuses_vectors() -> None:
    with pytest.raises(SpecError, match=r"MuonRouting.min_ndim: must be >= 2.*got 1"):
        MuonRouting(min_ndim=1)


def test_layer_decay_validation() -> None:
    with pytest.raises(SpecError, match=r"LayerDecay.rate: .*\(0, 1\].*got 0"):
        LayerDecay(rate=0)
    # a '*' stands for one whole component (blocks nested in chunks), never part of one,
    # and never first
    assert LayerDecay(rate=0.5, blocks="blocks.*").blocks == "blocks.*"
    for bad in ("blocks*", "*.blocks", "blocks.b*", "blocks..x", "blocks.?", ".blocks"):
        with pytest.raises(SpecError, match="LayerDecay.blocks"):
            LayerDecay(rate=0.5, blocks=bad)
    with pytest.raises(SpecError, match=r"LayerDecay.min_scale"):
        LayerDecay(rate=0.5, min_scale=1.5)


def test_hidden_matrices_preset() -> None:
    r = MuonRouting.hidden_matrices(exclude=("out.*",))
    assert r.include == ("*",) and r.exclude == ("out.*",)
    assert "Embedding" in r.exclude_types


_ATOMS = ["bias", "weight", "head", "fc", "norm", "pos_embed", "0", "1"]
_PATTERN_ATOMS = [*_ATOMS, "*", "*ias", "*_bias", "?ias", "[hn]*"]


@given(
    st.lists(
        st.lists(st.sampled_from(_PATTERN_ATOMS), min_size=1, max_size=3).map(".".join),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=4).map(".".join),
)
@settings(max_examples=300, deadline=None)
def test_name_matcher_is_fnmatch_on_the_name_or_a_dotted_tail(
    patterns: list[str], name: str
) -> None:
    """The definition, written the slow way: some pattern fnmatches the whole name or a tail
    of it that starts after a dot; ``first`` is the first such pattern."""
    parts = name.split(".")
    tails = [".".join(parts[i:]) for i in range(len(parts))]
    want = [p for p in patterns if any(fnmatch.fnmatchcase(t, p) for t in tails)]
    matcher = name_matcher(tuple(patterns))
    assert matcher.matches(name) is bool(want)
    assert matcher.matches(name, name.rpartition(".")[2]) is bool(want)
    assert matcher.first(name) == (want[0] if want else None)


def test_min_matrix_size_keeps_tiny_matrices_off_muon_and_says_why() -> None:
    import torch

    from optfn import MuonSpec, partition_params

    model = nn.Module()
    model.post_lambdas = nn.Parameter(torch.ones(11, 2))  # modded-nanogpt's gates: tiny
    model.mudd_b2 = nn.Parameter(torch.zeros(2, 14))
    model.proj = nn.Linear(64, 64, bias=False)
    rules = ParamRules(muon=MuonRouting.hidden_matrices(min_matrix_size=1024))
    part = partition_params(model, rules, spec=MuonSpec())
    routes = dict(zip(part.names, part.routes, strict=True))
    assert routes == {"post_lambdas": "adamw", "mudd_b2": "adamw", "proj.weight": "muon"}
    assert part.reasons("post_lambdas")[0] == "22 elements < min_matrix_size 1024 -> adamw"
    hidden = ParamRules(muon=MuonRouting.hidden_matrices())
    default = partition_params(model, hidden, spec=MuonSpec())
    assert set(default.routes) == {"muon"}  # without it, every matrix of two sides >= 2
    with pytest.raises(SpecError, match="MuonRouting.min_matrix_size"):
        MuonRouting(min_matrix_size=0)
