"""Small random module trees: tied weights, shared and frozen parameters, many layer kinds.

>>> import torch
>>> from hypothesis import given, settings
>>> from optfn.strategies import modules
>>> @settings(max_examples=5, deadline=None)
... @given(modules())
... def test_is_module(model):
...     assert isinstance(model, torch.nn.Module)
>>> test_is_module()
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from torch import nn

from optfn.errors import SpecTypeError
from optfn.routing.walk import iter_modules
from optfn.strategies._args import (
    _check_int,
)

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
    if kind == "attention":
        return nn.MultiheadAttention(dim, 1)  # in_proj_weight, in_proj_bias, out_proj
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
    "attention",
    "leaf",
    "tokens",
)
_CHILD_NAMES = ("encoder", "transformer", "blocks", "head", "scoring_head", "norm", "proj")


@st.composite
def _tree(draw: st.DrawFn, depth: int, dim: int, max_children: int) -> nn.Module:
    node = _Node()
    n_children = draw(st.integers(1, max_children))
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
            node.add_module(name, draw(_tree(depth - 1, dim, max_children)))
        else:
            node.add_module(name, _layer(draw(st.sampled_from(_LAYER_KINDS)), dim))
    return node


@st.composite
def _modules(
    draw: st.DrawFn, max_depth: int, shared: bool, frozen: bool, max_children: int
) -> nn.Module:
    dim = draw(st.sampled_from([2, 3, 4]))
    root = draw(_tree(max_depth, dim, max_children))
    mods = [m for _, m in iter_modules(root, "")]
    if shared and draw(st.booleans()):
        linears = [m for m in mods if type(m) is nn.Linear]
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


def modules(
    *,
    max_depth: int = 2,
    shared: bool = True,
    frozen: bool = True,
    max_children: int = 3,
) -> st.SearchStrategy[nn.Module]:
    """Small random module trees (for routing and grouping properties; they have no
    ``forward``): up to ``max_children`` children per container, nested up to ``max_depth``
    deep, of linear/conv/norm/embedding/attention layers, raw tokens and scalars, numbered
    ``blocks`` lists; with ``shared``, sometimes a tied weight and a sub-module under a second
    name; with ``frozen``, some frozen parameters. At least one parameter stays trainable.

    >>> from hypothesis import given, settings
    >>> from optfn.strategies import modules
    >>> @settings(max_examples=20)
    ... @given(modules(max_depth=1, frozen=False))
    ... def test_all_trainable(model):
    ...     assert all(p.requires_grad for p in model.parameters())
    >>> test_all_trainable()
    """
    _check_int("max_depth", max_depth, 0)
    _check_int("max_children", max_children, 1, len(_CHILD_NAMES))
    for name, flag in (("shared", shared), ("frozen", frozen)):
        if not isinstance(flag, bool):
            raise SpecTypeError("", name, f"must be True or False, got {flag!r}")
    return _modules(max_depth, shared, frozen, max_children)
