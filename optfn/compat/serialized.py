"""The compatibility APIs: the spec-method API and the epoch-based builders. This module holds
the spec-method API's serialized form: ``spec.to_dict()`` and
``OptimizerSpecification.from_serialized``.

Two components, as that API saves them: the optimizer type (``"adamw"``...) and a dict of every
parameter, without a tag. Reading is as strict as optfn's own configs.

>>> from optfn import AdamWSpec
>>> optimizer_params(AdamWSpec())["betas"], optimizer_params(AdamWSpec())["lr_decay_gamma"]
([0.9, 0.999], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from optfn.errors import ConfigError, SpecTypeError
from optfn.io.converter import CONVERTER
from optfn.io.formats import _structure
from optfn.io.registry import REGISTRY
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.render import brief, show

__all__ = ["optimizer_from_serialized", "optimizer_params"]


def optimizer_params(spec: OptimizerSpecification) -> dict[str, Any]:
    """The spec-method API's ``spec.to_dict()``: every field, JSON-safe (lists, ``None``), no tag.

    >>> from optfn import AdamWSpec
    >>> optimizer_params(AdamWSpec())["betas"], optimizer_params(AdamWSpec())["lr_decay_gamma"]
    ([0.9, 0.999], None)
    """
    if not isinstance(spec, OptimizerSpecification) or REGISTRY.tag_of(type(spec)) is None:
        raise SpecTypeError("", "spec", f"must be a registered optimizer spec, got {show(spec)}")
    body = CONVERTER.unstructure(spec, type(spec))
    return {a.name: body.get(a.name) for a in attrs.fields(type(spec)) if a.init}


def optimizer_from_serialized(
    optimizer_name: str, params: Mapping[str, Any]
) -> OptimizerSpecification:
    """The spec-method API's ``OptimizerSpecification.from_serialized``: dispatch on the type name.

    ``params`` may repeat the name as ``"optimizer_type"``; any other problem (unknown name,
    a wrong kind, an unknown key, ...) raises :class:`~optfn.errors.ConfigError`.

    >>> optimizer_from_serialized("adamw", {"learning_rate": 0.01, "betas": [0.9, 0.95]}).betas
    (0.9, 0.95)
    """
    allowed = REGISTRY.members(OptimizerSpecification)
    if not (isinstance(optimizer_name, str) and optimizer_name in allowed):
        choices = ", ".join(repr(t) for t in sorted(allowed))
        raise ConfigError([f"optimizer_type: unknown {brief(optimizer_name)}; allowed: {choices}"])
    if isinstance(params, Mapping) and "optimizer_type" in params:
        params = dict(params)
        said = params.pop("optimizer_type")
        if said != optimizer_name:
            raise ConfigError(
                [
                    f"optimizer_type: params say {brief(said)}, but the optimizer is "
                    f"{optimizer_name!r}"
                ]
            )
    cls = allowed[optimizer_name]
    spec: OptimizerSpecification = _structure(params, cls, None, versioned=False)
    return spec
