"""Labeled parameter groups: rules that pick parameters, name them, and set their values.

A :class:`LabelRule` matches parameters (by name pattern, by module type, by number of
dimensions), gives them a label, and sets what their param groups hold: an LR multiplier, a
weight-decay multiplier or value, the route, and any other hyper-parameter the route's
optimizer takes (``betas``, ``eps``, ``momentum``, ``nesterov``...). The rules of
:attr:`optfn.ParamRules.labels` are tried in order and **the first rule that matches a
parameter wins**, as torchtitan's ``ParamGroupConfig`` and the original recipes do: put
specific rules before broad ones. A parameter that no rule matches has the label
``"default"`` and keeps what the other rules give it. A rule that wins no parameter is an
error when the rules are applied (it is misspelled, or an earlier rule shadows it).

A label's numbers act on top of the rest of :class:`~optfn.ParamRules`: its ``lr_scale``
multiplies the LR the other rules give (``lr_scales``, ``layer_decay``);
``weight_decay_scale`` multiplies, and ``weight_decay`` replaces, the weight decay of its
parameters that decay (a parameter the no-decay rules exempt keeps 0). Each label's
parameters get groups of their own, which hold the key ``"label"``, so that a schedule can
target them (:attr:`optfn.HyperSchedules.labels`).

>>> from optfn import LabelRule
>>> rule = LabelRule(label="head", names=["lm_head.*"], lr_scale=5.0, hyper={"betas": [0.8, 0.95]})
>>> rule.hyper
(('betas', (0.8, 0.95)),)
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from optfn.errors import SpecError, SpecTypeError
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly
from optfn.specs.render import brief

__all__ = ["DEFAULT_LABEL", "LABEL_PATTERN", "RESERVED_HYPER_KEYS", "LabelRule", "check_labels"]

#: The label of every parameter that no :class:`LabelRule` matches.
DEFAULT_LABEL = "default"

#: Group keys a rule cannot set through ``hyper``: the LR and the weight decay have their own
#: fields (multipliers compose with the other rules), ``params`` and the rest are optfn's.
RESERVED_HYPER_KEYS: frozenset[str] = frozenset(
    {"lr", "weight_decay", "params", "param_names", "route", "label", "initial_lr"}
)

#: What a label (and a route name) looks like.
LABEL_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _label(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    if not isinstance(val, str):
        raise SpecTypeError("LabelRule", "label", f"must be a string, got {brief(val)}")
    if not LABEL_PATTERN.fullmatch(val) or len(val) > 100:
        raise SpecError(
            "LabelRule",
            "label",
            "must be a name of letters, digits, '_', '.' or '-' starting with a letter or '_' "
            f"(at most 100 characters), like 'no_decay' or 'head', got {brief(val)}",
        )
    if val == DEFAULT_LABEL:
        raise SpecError(
            "LabelRule",
            "label",
            f"{DEFAULT_LABEL!r} is the label of the parameters no rule matches; choose another",
        )


def _type_patterns(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    v.str_tuple(inst, attr, val)
    for i, name in enumerate(val):
        bare = "".join(c for c in name if c not in "._*?[]!")
        if not bare or not bare.isalnum():
            raise SpecError(
                "LabelRule",
                f"{attr.name}[{i}]",
                "must be a class name like 'LayerNorm' or 'mypkg.MyNorm', or a class-name "
                f"pattern like '*Norm', got {brief(name)}",
            )


def _to_hyper(val: Any) -> Any:
    """Converter: a mapping or list of pairs becomes sorted pairs; list values become tuples
    (as files carry them). Values are not touched otherwise: the validator judges them."""
    pairs = v.to_pairs(val)
    if not isinstance(pairs, tuple):
        return pairs
    return tuple(
        (p[0], tuple(p[1]) if isinstance(p[1], list) else p[1])
        if isinstance(p, tuple) and len(p) == 2
        else p
        for p in pairs
    )


def _hyper(inst: Any, attr: attrs.Attribute[Any], val: Any) -> None:
    for key, value in v.check_pairs("LabelRule", "hyper", val, "{group key: value}"):
        where = f"hyper[{brief(key)}]"
        if not isinstance(key, str):
            raise SpecTypeError("LabelRule", "hyper", f"keys are group keys, got {brief(key)}")
        v.check_text("LabelRule", where, key)
        if key in RESERVED_HYPER_KEYS:
            fix = {
                "lr": "use lr_scale",
                "weight_decay": "use weight_decay or weight_decay_scale",
            }.get(key, "optfn sets it")
            raise SpecError("LabelRule", where, f"cannot be set through hyper: {fix}")
        items = value if isinstance(value, tuple) else (value,)
        if not items or len(items) > 4096:
            raise SpecError(
                "LabelRule",
                where,
                f"must be a number, a bool or 1 to 4096 numbers, got {brief(value)}",
            )
        for x in items:
            if not (v.is_bool(x) or v.is_real(x)):
                raise SpecTypeError(
                    "LabelRule",
                    where,
                    f"must be a number, a bool or a list of numbers, got {brief(value)}",
                )
            if v.is_real(x) and not v.is_bool(x):
                v.check_real("LabelRule", where, x, None, None, False, False)
    # held as plain Python numbers (a numpy scalar or a Fraction as the int/float it equals)
    plain = tuple((k, _plain(x)) for k, x in val)
    if _kinds(plain) != _kinds(val):
        v.store(inst, attr, plain)


def _plain(x: Any) -> Any:
    return tuple(map(v.plain_number, x)) if isinstance(x, tuple) else v.plain_number(x)


def _kinds(pairs: tuple[tuple[str, Any], ...]) -> list[object]:
    return [tuple(map(type, x)) if isinstance(x, tuple) else type(x) for _, x in pairs]


_OPTIONAL_NDIM = attrs.validators.optional(v.step_count(0, 64))
_OPTIONAL_SCALE = attrs.validators.optional(v.real(0.0, None))


@attrs.frozen(kw_only=True)
class LabelRule(KeywordOnly):
    """Parameters that match get ``label`` and the values this rule sets.

    Conditions (all that are given must hold; a rule with none matches every parameter):

    - ``names``: name patterns, as everywhere in optfn: fnmatch syntax (``*``, ``?``,
      ``[...]``) matched against the whole qualified name or any tail of it that starts
      after a dot. ``"bias"`` matches ``"fc.bias"``; ``"lm_head.*"`` matches
      ``"lm_head.weight"`` and ``"model.lm_head.weight"``; a module's parameters are
      ``"module.*"`` (``"smear_gate"`` alone matches a *parameter* called ``smear_gate``).
    - ``types``: class names or class-name patterns of the module that owns the parameter,
      matched through its bases (``"LayerNorm"``, ``"*Norm"``, ``"torch.nn.Embedding"``).
    - ``min_ndim``, ``max_ndim``: bounds on the parameter's number of dimensions.

    Values (each optional):

    - ``route``: the route of the optimizer its parameters take (``"muon"`` or ``"adamw"`` of
      a ``MuonSpec``), overriding ``ParamRules.muon``; must be a route of the spec's kind.
    - ``lr_scale`` (>= 0; 0 freezes at LR 0 while the optimizer keeps its state moving):
      multiplies the LR the other rules give, on every route (Muon's too).
    - ``weight_decay_scale`` (>= 0) multiplies the route's weight decay, or ``weight_decay``
      (>= 0) replaces it, for the parameters that decay; not both.
    - ``hyper``: ``{group key: value}`` for any other hyper-parameter the route's param groups
      hold (``betas``, ``eps``, ``momentum``, ``nesterov``, ``amsgrad``...), checked against
      the optimizer spec's own ranges when the rules are applied.
    - ``exclude``: leave the label's parameters out of the optimizer (no param group; a
      teacher network, an EMA copy, a part another optimizer trains), with none of the values
      above. ``explain()`` and ``optfn plan`` list them as left out.

    >>> LabelRule(label="norms", types=["*Norm"], weight_decay=0.0).weight_decay
    0.0
    >>> LabelRule(label="x", weight_decay=0.1, weight_decay_scale=2.0)
    Traceback (most recent call last):
    ...
    optfn.errors.SpecError: LabelRule.weight_decay: give weight_decay or weight_decay_scale, ...
    """

    label: str = attrs.field(validator=_label)
    names: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.pattern_tuple
    )
    types: tuple[str, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=_type_patterns
    )
    min_ndim: int | None = attrs.field(default=None, validator=_OPTIONAL_NDIM)
    max_ndim: int | None = attrs.field(default=None, validator=_OPTIONAL_NDIM)
    route: str | None = attrs.field(default=None)
    lr_scale: float = attrs.field(default=1.0, validator=v.real(0.0, None))
    weight_decay_scale: float | None = attrs.field(default=None, validator=_OPTIONAL_SCALE)
    weight_decay: float | None = attrs.field(default=None, validator=_OPTIONAL_SCALE)
    hyper: tuple[tuple[str, Any], ...] = attrs.field(
        default=(), converter=_to_hyper, validator=_hyper
    )
    exclude: bool = attrs.field(default=False, validator=v.boolean)

    @route.validator
    def _check_route(self, attr: attrs.Attribute[Any], val: Any) -> None:
        if val is None:
            return
        if not isinstance(val, str):
            raise SpecTypeError("LabelRule", "route", f"must be a route name, got {brief(val)}")
        if not LABEL_PATTERN.fullmatch(val):
            raise SpecError(
                "LabelRule", "route", f"must be a route name like 'adamw', got {brief(val)}"
            )

    def __attrs_post_init__(self) -> None:
        if self.exclude:
            set_too = [
                f
                for f, on in (
                    ("route", self.route is not None),
                    ("lr_scale", self.lr_scale != 1.0),
                    ("weight_decay_scale", self.weight_decay_scale is not None),
                    ("weight_decay", self.weight_decay is not None),
                    ("hyper", bool(self.hyper)),
                )
                if on
            ]
            if set_too:
                raise SpecError(
                    "LabelRule",
                    "exclude",
                    f"an excluded label's parameters get no param group, so {', '.join(set_too)} "
                    "would do nothing; remove them or set exclude=false",
                )
        if self.weight_decay is not None and self.weight_decay_scale is not None:
            raise SpecError(
                "LabelRule", "weight_decay", "give weight_decay or weight_decay_scale, not both"
            )
        if (
            self.min_ndim is not None
            and self.max_ndim is not None
            and self.min_ndim > self.max_ndim
        ):
            raise SpecError(
                "LabelRule",
                "max_ndim",
                f"must be >= min_ndim ({self.min_ndim}), got {self.max_ndim}",
            )

    def hyper_dict(self) -> dict[str, Any]:
        """``hyper`` as a dict."""
        return dict(self.hyper)


def check_labels(owner: str, field: str, rules: Any) -> None:
    """``rules`` is a tuple of :class:`LabelRule` with distinct labels."""
    if not isinstance(rules, tuple):
        raise SpecTypeError(owner, field, f"must be a list of LabelRule, got {brief(rules)}")
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, LabelRule):
            raise SpecTypeError(
                owner, f"{field}[{i}]", f"must be a LabelRule, got {brief(rule)}"
            )
        if rule.label in seen:
            raise SpecError(
                owner,
                f"{field}[{i}].label",
                f"{rule.label!r} is already the label of {field}[{seen[rule.label]}]; "
                "labels are unique (put all the patterns of one label in one rule)",
            )
        seen[rule.label] = i
