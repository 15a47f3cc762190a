"""Spec data: frozen, validated attrs classes that hold numbers and names, never torch objects.

The bottom of optfn's layers: nothing here imports anything above it (the seed-API methods
of :class:`OptimizerSpecification` reach the builders through function-local imports in
:mod:`optfn.compat.methods`, the one documented exception).
"""

from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "AdamSpec",
    "AdamWSpec",
    "LayerDecay",
    "MuonRouting",
    "MuonSpec",
    "OptimizerSpecification",
    "ParamRules",
]
