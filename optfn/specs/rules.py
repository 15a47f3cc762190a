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

from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly
from optfn.specs.labels import LabelRule, check_labels
from optfn.specs.render import brief

__all__ = [
    "DEFAULT_MUON_EXCLUDE",
    "DEFAULT_NO_DECAY_NAMES",
    "DEFAULT_NO_DECAY_TYPES",
    "HF_NO_DECAY_NAMES",
    "NORM_LAYER_TYPES",
    "NORM_NAME_PATTERNS",
    "LayerDecay",
    "MuonRouting",
    "ParamRules",
]

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

#: Class-name patterns of normalization layers that torch does not ship: Hugging Face's
#: ``LlamaRMSNorm``, ``Qwen2RMSNorm``, ``T5LayerNorm``, timm's ``LayerNorm2d`` and
#: ``GlobalResponseNorm``, apex's ``FusedLayerNorm`` (``*Norm``, ``*Norm?d``) and the
#: ``ConvNextV2GRN`` of Hugging Face (``*GRN``).
NORM_NAME_PATTERNS: tuple[str, ...] = ("*Norm", "*Norm?d", "*GRN")

#: The default of ``ParamRules.no_decay_types``: the class-name patterns above, which match
#: every normalization layer torch ships too, and torch's ``CrossMapLRN2d``.
DEFAULT_NO_DECAY_TYPES: tuple[str, ...] = (*NORM_NAME_PATTERNS, "CrossMapLRN2d")

#: The default of ``ParamRules.no_decay_names``: the epoch-based builders' biases (``*_bias``
#: also catches ``nn.MultiheadAttention``'s ``in_proj_bias``), special tokens and position
#: embeddings, widened to what the model zoos use: every ``*_token`` (timm's ``dist_token``,
#: ``reg_token``, Hugging Face's ``mask_token``), position parameters (``absolute_pos_embed``,
#: Hugging Face ViT's ``position_embeddings``; an ``nn.Embedding`` table's parameter is
#: ``...position_embeddings.weight`` and is not matched), LayerScale gains (timm's ``gamma``,
#: CaiT's and BEiT's ``gamma_1``/``gamma_2``, Hugging Face's ``layer_scale_parameter`` and
#: Dinov2's ``layer_scale1.lambda1``) and relative-position bias tables (Swin's
#: ``relative_position_bias_table``, T5's ``relative_attention_bias``). Every pattern is a
#: literal or ``*literal``, which match without a regex (the partition's hot loop).
DEFAULT_NO_DECAY_NAMES: tuple[str, ...] = (
    "bias",
    "*_bias",
    "cls_token",
    "*_token",
    "pos_embed",
    "*_pos_embed",
    "position_embeddings",
    "gamma",
    "gamma_1",
    "gamma_2",
    "layer_scale_parameter",
    "layer_scale1.lambda1",
    "layer_scale2.lambda1",
    "*_bias_table",
    "relative_attention_bias.weight",
)

#: Name patterns kept off Muon by ``hidden_matrices()``: embeddings and output heads, special
#: tokens, relative-position bias tables. An output projection called ``output`` is matched
#: by its weight only (``output.weight``), since BERT-style models hold hidden matrices
#: under ``attention.output.dense``.
DEFAULT_MUON_EXCLUDE: tuple[str, ...] = (
    "*embed*",
    "head.*",
    "lm_head.*",
    "scoring_head.*",
    "classifier.*",
    "output.weight",
    "fc_out.*",
    "*_token",
    "*_bias_table",
)


def _any_case(word: str) -> str:
    """An fnmatch pattern matching ``word`` in any ASCII case: ``"ab"`` -> ``"[aA][bB]"``."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in word)


#: Hugging Face ``Trainer.get_decay_parameter_names``'s name regexes (searched in the
#: lower-cased name) as optfn patterns: ``bias``, ``layernorm``, ``rmsnorm`` anywhere, a
#: component ``norm``, a component ending in ``_norm``.
HF_NO_DECAY_NAMES: tuple[str, ...] = (
    f"*{_any_case('bias')}*",
    f"*{_any_case('layernorm')}*",
    f"*{_any_case('rmsnorm')}*",
    _any_case("norm"),
    f"{_any_case('norm')}.*",
    f"*_{_any_case('norm')}",
    f"*_{_any_case('norm')}.*",
)


_TYPE_NAME_CHARS = frozenset("._*?[]!")


def _type_names(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    v.str_tuple(inst, attr, val)
    for i, name in enumerate(val):
        bare = "".join(c for c in name if c not in _TYPE_NAME_CHARS)
        if not bare or not bare.isalnum():
            raise SpecError(
                type(inst).__name__,
                f"{attr.name}[{i}]",
                "must be a class name like 'LayerNorm' or 'mypkg.MyNorm', or a class-name "
                f"pattern like '*Norm', got {brief(name)}",
            )


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
    if any(type(scale) is not float for _, scale in val):  # stored as floats, as files hold them
        v.store(inst, attr, tuple((prefix, float(scale)) for prefix, scale in val))


@attrs.frozen(kw_only=True)
class LayerDecay(KeywordOnly):
    """timm-style layer-wise LR decay: the LR scale shrinks by ``rate`` per block from the head.

    Parameters under ``{blocks}.{i}`` (``i`` = 0..L-1) have depth ``i + 1``; parameters whose
    name matches ``stem`` (embeddings, special tokens, register tokens, a norm before the
    blocks as timm's ``norm_pre``) have depth 0; parameters whose name
    matches ``last_block`` share the last block's depth ``L``; every other parameter (final
    norm, head) has depth ``L + 1``. The scale is ``max(min_scale, rate ** (L + 1 - depth))``
    (timm's ``min_scale``, default 0). timm's
    ``param_groups_layer_decay`` puts a ViT's final ``norm`` with the last block:
    ``last_block=("norm.*",)`` gives the same scales.

    ``blocks`` is the qualified name of the container, relative to each model when there are
    several; a ``*`` component stands for any one name component, for blocks nested in chunks:
    DINOv2's ``block_chunks`` keep block ``i`` at ``blocks.<chunk>.<i>``, which
    ``blocks="blocks.*"`` reads (the index is the number after the matched container).

    >>> LayerDecay(rate=0.75, blocks="encoder.layers").rate
    0.75
    >>> LayerDecay(rate=0.75, last_block=["norm.*"]).last_block
    ('norm.*',)
    >>> LayerDecay(rate=0.9, blocks="blocks.*").blocks
    'blocks.*'
    """

    rate: float = attrs.field(validator=v.real(0.0, 1.0, lo_open=True))
    blocks: str = attrs.field(default="blocks")
    stem: tuple[str, ...] = attrs.field(
        default=("*embed*", "*_token", "*_tokens", "norm_pre.*"),
        converter=v.to_tuple,
        validator=v.pattern_tuple,
    )
    last_block: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.pattern_tuple
    )
    min_scale: float = attrs.field(default=0.0, validator=v.real(0.0, 1.0))

    @blocks.validator
    def _check_blocks(self, attr: attrs.Attribute[Any], val: Any) -> None:
        if not isinstance(val, str):
            raise SpecTypeError("LayerDecay", "blocks", f"must be a string, got {brief(val)}")
        parts = val.split(".")
        if (
            not val
            or any(c in val for c in "?[] ")
            or not all(parts)
            or any("*" in p and p != "*" for p in parts)
            or parts[0] == "*"
        ):
            raise SpecError(
                "LayerDecay",
                "blocks",
                "must be the qualified name of the container of the blocks, like "
                "'encoder.layers', where a component '*' stands for any one component "
                f"(not the first: 'blocks.*'), got {brief(val)}",
            )
        v.check_text("LayerDecay", "blocks", val)


@attrs.frozen(kw_only=True)
class MuonRouting(KeywordOnly):
    """Which parameters go to Muon when the optimizer is a :class:`~optfn.MuonSpec`.

    A parameter goes to Muon when it has at least ``min_ndim`` (>= 2) dimensions, both sides
    of its matrix view (``shape[0]`` rows, the product of the other dimensions as columns, as
    Muon orthogonalizes it) are at least ``min_matrix_side`` and it has at least
    ``min_matrix_size`` elements in all (a gate of 11x2 or 2x14 numbers gains nothing from
    orthogonalization: ``min_matrix_size=1024`` keeps such tiny matrices on AdamW, with the
    reason in ``explain()``), its name matches one of
    ``include`` and none of ``exclude``, its module's type is not in ``exclude_types``, and,
    with ``exclude_grouped_conv``, it is not the weight of a grouped or depthwise convolution
    (a module with ``groups > 1``: each output channel sees only its own group, so the
    weight is a stack of small blocks, not one matrix). The default is the spec-method API's
    rule: matrices whose name contains ``transformer``. Other specs ignore this rule.

    >>> MuonRouting().include
    ('*transformer*',)
    >>> MuonRouting.hidden_matrices().min_matrix_side
    2
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
    min_matrix_side: int = attrs.field(default=1, validator=v.step_count(1))
    exclude_grouped_conv: bool = attrs.field(default=False, validator=v.boolean)
    min_matrix_size: int = attrs.field(default=1, validator=v.step_count(1, 2**62))

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
        min_matrix_size: int = 1,
    ) -> MuonRouting:
        """Every hidden weight matrix, and only matrices: parameters with ndim >= 2 whose
        matrix view has two sides >= 2, except embeddings and output heads (``exclude``,
        ``exclude_types``), special tokens, relative-position bias tables and grouped or
        depthwise convolution weights; with ``min_matrix_size``, also matrices of fewer
        elements.

        >>> import torch
        >>> from optfn import MuonSpec, ParamRules, partition_params
        >>> model = torch.nn.Module()
        >>> model.cls_token = torch.nn.Parameter(torch.zeros(1, 1, 8))
        >>> model.proj = torch.nn.Linear(8, 8, bias=False)
        >>> part = partition_params(model, ParamRules(muon=MuonRouting.hidden_matrices()),
        ...                         spec=MuonSpec())
        >>> part.routes
        ('adamw', 'muon')
        """
        return cls(
            include=("*",),
            exclude=exclude,
            exclude_types=exclude_types,
            min_matrix_side=2,
            exclude_grouped_conv=True,
            min_matrix_size=min_matrix_size,
        )


@attrs.frozen(kw_only=True)
class ParamRules(KeywordOnly):
    """How parameters are routed: weight-decay exclusions, LR scales, layer decay, Muon.

    - ``no_decay_types``: module class names or class-name patterns (``*Norm``), matched
      against the module's class and its bases (so subclasses count; a name may be qualified,
      ``torch.nn.LayerNorm`` or ``torch.nn.modules.normalization.LayerNorm``), whose own
      parameters get no weight decay. Default: the patterns ``*Norm``, ``*Norm?d``, ``*GRN``
      and ``CrossMapLRN2d``, which match every normalization layer torch ships
      (``NORM_LAYER_TYPES``) and those of the model zoos (``LlamaRMSNorm``, ``T5LayerNorm``,
      timm's ``LayerNorm2d``...).
    - ``no_decay_names``: name patterns that get no weight decay. Default: biases, special
      tokens (``*_token``), position parameters (``pos_embed``, ``position_embeddings``),
      LayerScale gains (``gamma``, ``gamma_1``...) and relative-position bias tables; see
      ``DEFAULT_NO_DECAY_NAMES``.
    - ``no_decay_max_ndim``: parameters with at most this many dimensions get no weight decay
      (``None``: off; ``1`` is timm's rule).
    - ``model_no_weight_decay``: the names a module gives in its ``no_weight_decay``
      (timm's convention: a method; a property or an attribute holding the names works too;
      relative to that module, exact names or fnmatch patterns) get no weight decay. Every
      module is asked (timm asks only the root). Names that match no parameter are ignored,
      as timm does.
    - ``lr_scales``: ``{prefix: scale}``; a parameter under a prefix (a qualified module or
      parameter name, ``""`` for everything) has its LR multiplied by the scale of the deepest
      matching prefix. A prefix that matches no parameter is an error when the rules are applied.
    - ``layer_decay``: optional :class:`LayerDecay`, multiplied with ``lr_scales``.
    - ``muon``: :class:`MuonRouting`, used only with a ``MuonSpec``.
    - ``labels``: :class:`~optfn.LabelRule` rules, tried in order, the first match wins: each
      names a set of parameters and sets their LR and weight-decay multipliers, route and
      any other hyper-parameter; the parameters of a label get param groups of their own
      (see :mod:`optfn.specs.labels`).

    Presets: :meth:`uniform` (everything decays, as in the spec-method API), :meth:`timm` and
    :meth:`hf` (the exact grouping of timm's and Hugging Face's optimizer factories).

    >>> rules = ParamRules(no_decay_max_ndim=1, lr_scales={"head": 10.0})
    >>> rules.no_decay_max_ndim, rules.lr_scales
    (1, (('head', 10.0),))
    """

    no_decay_types: tuple[str, ...] = attrs.field(
        default=DEFAULT_NO_DECAY_TYPES, converter=v.to_tuple, validator=_type_names
    )
    no_decay_names: tuple[str, ...] = attrs.field(
        default=DEFAULT_NO_DECAY_NAMES, converter=v.to_tuple, validator=v.pattern_tuple
    )
    no_decay_max_ndim: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.step_count(0))
    )
    model_no_weight_decay: bool = attrs.field(default=True, validator=v.boolean)
    lr_scales: tuple[tuple[str, float], ...] = attrs.field(
        default=(), converter=v.to_pairs, validator=_scale_pairs
    )
    layer_decay: LayerDecay | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.instance(LayerDecay))
    )
    muon: MuonRouting = attrs.field(factory=MuonRouting, validator=v.instance(MuonRouting))
    labels: tuple[LabelRule, ...] = attrs.field(default=(), converter=v.to_tuple)

    @labels.validator
    def _check_labels(self, attr: attrs.Attribute[Any], val: Any) -> None:
        check_labels("ParamRules", "labels", val)

    @classmethod
    def uniform(cls, **overrides: Any) -> ParamRules:
        """Every parameter decays: what the spec-method API does. Other fields as given.

        >>> ParamRules.uniform().no_decay_names
        ()
        """
        base: dict[str, Any] = {
            "no_decay_types": (),
            "no_decay_names": (),
            "model_no_weight_decay": False,
        }
        base.update(overrides)
        return cls(**base)

    @classmethod
    def timm(cls, **overrides: Any) -> ParamRules:
        """timm's ``create_optimizer_v2`` grouping: no weight decay for parameters with at
        most one dimension, names ending in ``.bias`` and the names the model lists in
        ``no_weight_decay()`` (``param_groups_weight_decay``). Other fields as given.

        >>> rules = ParamRules.timm()
        >>> rules.no_decay_names, rules.no_decay_max_ndim, rules.model_no_weight_decay
        (('*.bias',), 1, True)
        """
        base: dict[str, Any] = {
            "no_decay_types": (),
            "no_decay_names": ("*.bias",),
            "no_decay_max_ndim": 1,
            "model_no_weight_decay": True,
        }
        base.update(overrides)
        return cls(**base)

    @classmethod
    def hf(cls, **overrides: Any) -> ParamRules:
        """Hugging Face ``Trainer.get_decay_parameter_names``: no weight decay inside
        ``torch.nn.LayerNorm`` (and subclasses) and for names that contain ``bias``,
        ``layernorm`` or ``rmsnorm``, or have a component ``norm`` or ending in ``_norm``, in
        any ASCII case (``HF_NO_DECAY_NAMES``). Other fields as given.

        >>> ParamRules.hf().no_decay_types
        ('torch.nn.modules.normalization.LayerNorm',)
        """
        base: dict[str, Any] = {
            "no_decay_types": ("torch.nn.modules.normalization.LayerNorm",),
            "no_decay_names": HF_NO_DECAY_NAMES,
            "no_decay_max_ndim": None,
            "model_no_weight_decay": False,
        }
        base.update(overrides)
        return cls(**base)
