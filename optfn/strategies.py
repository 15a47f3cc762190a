"""Hypothesis strategies for optfn's specs and for small random models.

Install with ``pip install 'optfn[testing]'`` (hypothesis is an optional dependency). Every
value these strategies generate is valid (constructs without error) and round-trips through
optfn's serialization.

>>> from hypothesis import given
>>> from optfn import make_optimizer, partition_params
>>> from optfn.strategies import modules, optimizer_specs
>>> @given(modules(), optimizer_specs(kinds=("adam", "adamw")))
... def test_every_param_once(model, spec):
...     opt = make_optimizer(model, spec)
...     ids = [id(p) for g in opt.param_groups for p in g["params"]]
...     assert len(ids) == len(set(ids))
>>> test_every_param_once()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("optfn.strategies needs hypothesis: pip install 'optfn[testing]'") from exc

import torch
from torch import nn

from optfn.optimizer_specs import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.partition import iter_modules
from optfn.rules import NORM_LAYER_TYPES, LayerDecay, MuonRouting, ParamRules

__all__ = ["modules", "optimizer_specs", "param_rules"]

_lr = st.floats(1e-6, 1.0, allow_nan=False, allow_infinity=False)
_beta = st.floats(0.0, 0.9999, allow_nan=False, allow_infinity=False, exclude_max=True)
_eps = st.floats(1e-12, 1e-3, allow_nan=False, allow_infinity=False)
_wd = st.floats(0.0, 0.5, allow_nan=False, allow_infinity=False)
_gamma = st.none() | st.floats(0.5, 1.0, allow_nan=False, exclude_min=True)
_OPTIMIZER_KINDS = ("adam", "adamw", "muon")


@st.composite
def _adam_like(draw: st.DrawFn, cls: type[AdamSpec] | type[AdamWSpec]) -> OptimizerSpecification:
    return cls(
        learning_rate=draw(_lr),
        lr_decay_gamma=draw(_gamma),
        betas=(draw(_beta), draw(_beta)),
        eps=draw(_eps),
        weight_decay=draw(_wd),
    )


@st.composite
def _muon(draw: st.DrawFn) -> MuonSpec:
    return MuonSpec(
        learning_rate=draw(_lr),
        adamw_lr=draw(_lr),
        lr_decay_gamma=draw(_gamma),
        momentum=draw(st.floats(0.0, 0.99, allow_nan=False)),
        nesterov=draw(st.booleans()),
        weight_decay=draw(_wd),
        betas=(draw(_beta), draw(_beta)),
        adamw_eps=draw(_eps),
        muon_weight_decay=draw(_wd),
        ns_steps=draw(st.integers(1, 8)),
        muon_eps=draw(_eps),
        adjust_lr_fn=draw(st.sampled_from(["original", "match_rms_adamw"])),
    )


def optimizer_specs(
    kinds: Sequence[str] = _OPTIMIZER_KINDS,
) -> st.SearchStrategy[OptimizerSpecification]:
    """Random valid optimizer specs of the given kinds (``"adam"``, ``"adamw"``, ``"muon"``)."""
    unknown = [k for k in kinds if k not in _OPTIMIZER_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds: each must be one of {_OPTIMIZER_KINDS}, got {tuple(kinds)!r}")
    table: dict[str, st.SearchStrategy[Any]] = {
        "adam": _adam_like(AdamSpec),
        "adamw": _adam_like(AdamWSpec),
        "muon": _muon(),
    }
    return st.one_of(*(table[k] for k in kinds))


# ---- random module trees ----------------------------------------------------------------


class _Leaf(nn.Module):
    """A module with raw parameters of several ranks (like a ViT's tokens and scales)."""

    def __init__(self, dim: int, with_tokens: bool) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.gain = nn.Parameter(torch.ones(dim))
        if with_tokens:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 3, dim))


class _Node(nn.Module):
    """A container whose children are drawn at random."""


def _layer(kind: str, dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(dim, dim)
    if kind == "linear_nobias":
        return nn.Linear(dim, dim, bias=False)
    if kind == "layernorm":
        return nn.LayerNorm(dim)
    if kind == "batchnorm":
        return nn.BatchNorm1d(dim)
    if kind == "groupnorm":
        return nn.GroupNorm(1, dim)
    if kind == "embedding":
        return nn.Embedding(5, dim)
    if kind == "conv":
        return nn.Conv1d(dim, dim, 3)
    if kind == "leaf":
        return _Leaf(dim, with_tokens=False)
    return _Leaf(dim, with_tokens=True)


_LAYER_KINDS = (
    "linear",
    "linear_nobias",
    "layernorm",
    "batchnorm",
    "groupnorm",
    "embedding",
    "conv",
    "leaf",
    "tokens",
)
_CHILD_NAMES = ("encoder", "transformer", "blocks", "head", "scoring_head", "norm", "proj")


@st.composite
def _tree(draw: st.DrawFn, depth: int, dim: int) -> nn.Module:
    node = _Node()
    n_children = draw(st.integers(1, 3))
    names = draw(
        st.lists(
            st.sampled_from(_CHILD_NAMES), min_size=n_children, max_size=n_children, unique=True
        )
    )
    for name in names:
        if name == "blocks":
            count = draw(st.integers(1, 3))
            node.add_module(name, nn.ModuleList([nn.Linear(dim, dim) for _ in range(count)]))
        elif depth > 0 and draw(st.booleans()):
            node.add_module(name, draw(_tree(depth - 1, dim)))
        else:
            node.add_module(name, _layer(draw(st.sampled_from(_LAYER_KINDS)), dim))
    return node


@st.composite
def modules(
    draw: st.DrawFn,
    *,
    max_depth: int = 2,
    shared: bool = True,
    frozen: bool = True,
) -> nn.Module:
    """Small random module trees: linear/conv/norm/embedding layers, raw tokens and scalars,
    ``blocks`` lists, a tied weight and a shared sub-module (``shared``), and some frozen
    parameters (``frozen``). At least one parameter stays trainable.
    """
    dim = draw(st.sampled_from([2, 3, 4]))
    root = draw(_tree(max_depth, dim))
    mods = [m for _, m in iter_modules(root, "")]
    if shared and draw(st.booleans()):
        linears = [m for m in mods if isinstance(m, nn.Linear)]
        if len(linears) >= 2:
            linears[-1].weight = linears[0].weight  # a tied weight
        root.add_module("alias", mods[-1])  # the same module under a second name
    params = list(root.parameters())
    if frozen and len(params) > 1:
        mask = draw(st.lists(st.booleans(), min_size=len(params), max_size=len(params)))
        for p, freeze in zip(params[1:], mask[1:], strict=True):
            if freeze:
                p.requires_grad_(False)
    return root


# ---- rules ------------------------------------------------------------------------------

_NAME_POOL = ("bias", "cls_token", "pos_embed", "scale", "*.gain", "head.*", "norm.*")


@st.composite
def param_rules(draw: st.DrawFn, model: nn.Module | None = None) -> ParamRules:
    """Random valid :class:`ParamRules`; with ``model``, rules that apply to that model (every
    ``lr_scales`` prefix names one of its modules or trainable parameters, ``layer_decay`` only
    when it has a ``blocks`` list).
    """
    types = draw(
        st.lists(
            st.sampled_from((*NORM_LAYER_TYPES[:3], "LayerNorm", "GroupNorm", "Embedding")),
            unique=True,
            max_size=4,
        )
    )
    names = draw(st.lists(st.sampled_from(_NAME_POOL), unique=True, max_size=4))
    max_ndim = draw(st.none() | st.integers(0, 2))
    scales: dict[str, float] = {}
    layer_decay = None
    if model is not None:
        candidates: list[str] = []
        for mname, mod in iter_modules(model, ""):
            own = [
                f"{mname}.{k}" if mname else k
                for k, p in mod._parameters.items()
                if p is not None and p.requires_grad
            ]
            candidates.extend(own)
            if mname:
                candidates.append(mname)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        usable = sorted(
            c for c in set(candidates) if any(t == c or t.startswith(c + ".") for t in trainable)
        )
        if usable:
            picked = draw(st.lists(st.sampled_from(usable), unique=True, max_size=3))
            for prefix in picked:
                scales[prefix] = draw(st.sampled_from([0.1, 0.5, 2.0, 5.0, 10.0]))
        has_blocks = any(n.startswith("blocks.") for n in trainable)
        if has_blocks and draw(st.booleans()):
            layer_decay = LayerDecay(rate=draw(st.floats(0.5, 1.0)))
    muon = draw(st.sampled_from([MuonRouting(), MuonRouting.hidden_matrices()]))
    return ParamRules(
        no_decay_types=tuple(types),
        no_decay_names=tuple(names),
        no_decay_max_ndim=max_ndim,
        lr_scales=scales,
        layer_decay=layer_decay,
        muon=muon,
    )
