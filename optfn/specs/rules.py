"""Routing rules: which parameters decay, which get an LR scale, which go to Muon.

Rules are a frozen, serializable spec (names and numbers only, no module objects), applied to
a model by :func:`optfn.partition_params`.

Name patterns use fnmatch syntax (``*``, ``?``, ``[...]``, case-sensitive) and match a
parameter's qualified name when they match the whole name or any tail of it that starts after
a dot: ``"bias"`` matches ``"bias"`` and ``"encoder.fc.bias"``; ``"head.*"`` matches
``"head.weight"`` and ``"model.head.weight"`` but not ``"multihead.weight"``.

>>> from optfn import ParamRules
>>> rules = ParamRules(lr_scales={"scoring_head": 5.0})
>>> rules.lr_scales
(('scoring_head', 5.0),)
>>> ParamRules.uniform().no_decay_names
()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.specs import checks as v
from optfn.specs.render import brief

__all__ = ["NORM_LAYER_TYPES", "LayerDecay", "MuonRouting", "ParamRules"]

#: Every normalization layer torch ships (matched through the MRO, so subclasses count too).
NORM_LAYER_TYPES: tuple[str, ...] = (
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "SyncBatchNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "LocalResponseNorm",
    "CrossMapLRN2d",
)

#: Seed 002's name exclusions: biases (``*_bias`` also catches ``nn.MultiheadAttention``'s
#: ``in_proj_bias``) and the special tokens of vision transformers.
DEFAULT_NO_DECAY_NAMES: tuple[str, ...] = ("bias", "*_bias", "cls_token", "pos_embed")

#: Name patterns of embeddings and output heads, kept off Muon by ``hidden_matrices()``.
DEFAULT_MUON_EXCLUDE: tuple[str, ...] = (
    "*embed*",
    "head.*",
    "lm_head.*",
    "scoring_head.*",
    "classifier.*",
    "output.*",
    "fc_out.*",
)


def _type_names(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    v.str_tuple(inst, attr, val)
    for i, name in enumerate(val):
        if not name.replace(".", "").replace("_", "").isalnum():
            raise SpecError(
                type(inst).__name__,
                f"{attr.name}[{i}]",
                f"must be a class name like 'LayerNorm' or 'mypkg.MyNorm', got {brief(name)}",
            )


def _to_scale_pairs(val: Any) -> Any:
    """A mapping ``{prefix: scale}`` (or pairs) becomes a tuple of pairs sorted by prefix."""
    if isinstance(val, Mapping):
        items = list(val.items())
    elif isinstance(val, (list, tuple)):
        items = [tuple(p) if isinstance(p, list) else p for p in val]
    else:
        return val
    if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in items):
        return tuple(sorted(items, key=lambda p: p[0]))
    return tuple(items)


def _scale_pairs(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    owner = type(inst).__name__
    if not isinstance(val, tuple):
        raise SpecTypeError(
            owner, attr.name, f"must be a mapping {{prefix: scale}}, got {brief(val)}"
        )
    seen: set[str] = set()
    for pair in val:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise SpecTypeError(owner, attr.name, f"must map prefixes to scales, got {brief(pair)}")
        prefix, scale = pair
        if not isinstance(prefix, str):
            raise SpecTypeError(
                owner,
                attr.name,
                f"keys must be module-name prefixes (strings), got {brief(prefix)}",
            )
        where = f"{attr.name}[{brief(prefix)}]"
        if any(c in prefix for c in "*?[] \t") or prefix.startswith(".") or prefix.endswith("."):
            raise SpecError(
                owner,
                where,
                "a prefix is a qualified module or parameter name like 'encoder.layers.0' "
                f"(no wildcards, no leading/trailing dot), got {brief(prefix)}",
            )
        v.check_text(owner, where, prefix)
        if prefix in seen:
            raise SpecError(owner, where, "prefix given twice")
        seen.add(prefix)
        v.check_real(owner, where, scale, 0.0, None, True, False)


@attrs.frozen(kw_only=True)
class LayerDecay:
    """timm-style layer-wise LR decay: the LR scale shrinks by ``rate`` per block from the head.

    Parameters under ``{blocks}.{i}`` (``i`` = 0..L-1) have depth ``i + 1``; parameters whose
    name matches ``stem`` (embeddings, special tokens) have depth 0; every other parameter
    (final norm, head) has depth ``L + 1``. The scale is ``rate ** (L + 1 - depth)``.

    >>> LayerDecay(rate=0.75, blocks="encoder.layers").rate
    0.75
    """

    rate: float = attrs.field(validator=v.real(0.0, 1.0, lo_open=True))
    blocks: str = attrs.field(default="blocks")
    stem: tuple[str, ...] = attrs.field(
        default=("*embed*", "cls_token", "pos_embed"),
        converter=v.to_tuple,
        validator=v.pattern_tuple,
    )

    @blocks.validator
    def _check_blocks(self, attr: attrs.Attribute[Any], val: Any) -> None:
        if not isinstance(val, str):
            raise SpecTypeError("LayerDecay", "blocks", f"must be a string, got {brief(val)}")
        if not val or any(c in val for c in "*?[] ") or val.startswith(".") or val.endswith("."):
            raise SpecError(
                "LayerDecay",
                "blocks",
                "must be the qualified name of the container of the blocks, like "
                f"'encoder.layers', got {brief(val)}",
            )
        v.check_text("LayerDecay", "blocks", val)


@attrs.frozen(kw_only=True)
class MuonRouting:
    """Which parameters go to Muon when the optimizer is a :class:`~optfn.MuonSpec`.

    A parameter goes to Muon when it has at least ``min_ndim`` (>= 2) dimensions, its name
    matches one of ``include``, matches none of ``exclude``, and its module's type is not in
    ``exclude_types``. The default is seed 000's rule: matrices whose name contains
    ``transformer``. Other specs ignore this rule.

    >>> MuonRouting().include
    ('*transformer*',)
    >>> MuonRouting.hidden_matrices().include
    ('*',)
    """

    include: tuple[str, ...] = attrs.field(
        default=("*transformer*",), converter=v.to_tuple, validator=v.pattern_tuple
    )
    exclude: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.pattern_tuple
    )
    exclude_types: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=_type_names
    )
    min_ndim: int = attrs.field(default=2, validator=v.step_count(0))

    def __attrs_post_init__(self) -> None:
        if self.min_ndim < 2:
            raise SpecError(
                "MuonRouting",
                "min_ndim",
                f"must be >= 2: Muon orthogonalizes matrices, and a 0-D/1-D parameter has no "
                f"matrix to orthogonalize, got {self.min_ndim}",
            )

    @classmethod
    def hidden_matrices(
        cls,
        exclude: tuple[str, ...] = DEFAULT_MUON_EXCLUDE,
        exclude_types: tuple[str, ...] = ("Embedding", "EmbeddingBag"),
    ) -> MuonRouting:
        """Every hidden weight matrix (ndim >= 2) except embeddings and output heads."""
        return cls(include=("*",), exclude=exclude, exclude_types=exclude_types)


@attrs.frozen(kw_only=True)
class ParamRules:
    """How parameters are routed: weight-decay exclusions, LR scales, layer decay, Muon.

    - ``no_decay_types``: module class names (matched through the MRO, so subclasses count)
      whose own parameters get no weight decay. Default: every torch normalization layer.
    - ``no_decay_names``: name patterns that get no weight decay (default: seed 002's
      ``bias``, ``cls_token``, ``pos_embed``).
    - ``no_decay_max_ndim``: parameters with at most this many dimensions get no weight decay
      (``None``: off; ``1`` is timm's rule).
    - ``lr_scales``: ``{prefix: scale}``; a parameter under a prefix (a qualified module or
      parameter name, ``""`` for everything) has its LR multiplied by the scale of the deepest
      matching prefix. A prefix that matches no parameter is an error when the rules are applied.
    - ``layer_decay``: optional :class:`LayerDecay`, multiplied with ``lr_scales``.
    - ``muon``: :class:`MuonRouting`, used only with a ``MuonSpec``.

    >>> rules = ParamRules(no_decay_max_ndim=1, lr_scales={"head": 10.0})
    >>> rules.no_decay_max_ndim, rules.lr_scales
    (1, (('head', 10.0),))
    """

    no_decay_types: tuple[str, ...] = attrs.field(
        default=NORM_LAYER_TYPES, converter=v.to_tuple, validator=_type_names
    )
    no_decay_names: tuple[str, ...] = attrs.field(
        default=DEFAULT_NO_DECAY_NAMES, converter=v.to_tuple, validator=v.pattern_tuple
    )
    no_decay_max_ndim: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.step_count(0))
    )
    lr_scales: tuple[tuple[str, float], ...] = attrs.field(
        default=(), converter=_to_scale_pairs, validator=_scale_pairs
    )
    layer_decay: LayerDecay | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.instance(LayerDecay))
    )
    muon: MuonRouting = attrs.field(factory=MuonRouting, validator=v.instance(MuonRouting))

    @classmethod
    def uniform(cls, **overrides: Any) -> ParamRules:
        """Every parameter decays: what seed 000's specs do. Other fields as given."""
        base: dict[str, Any] = {"no_decay_types": (), "no_decay_names": ()}
        base.update(overrides)
        return cls(**base)
