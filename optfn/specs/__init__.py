"""Spec data: frozen, validated attrs classes that hold numbers and names, never torch objects.

The bottom of optfn's layers: nothing here imports anything above it (the spec-method API's
methods on :class:`OptimizerSpecification` reach the builders through function-local imports in
:mod:`optfn.compat.methods`, the one documented exception).
"""

from optfn.specs.labels import LabelRule
from optfn.specs.normuon import NorMuonSpec
from optfn.specs.optimizers import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules
from optfn.specs.torch_optimizers import (
    AdadeltaSpec,
    AdafactorSpec,
    AdagradSpec,
    AdamaxSpec,
    ASGDSpec,
    NAdamSpec,
    RAdamSpec,
    RMSpropSpec,
    RpropSpec,
    SGDSpec,
)

__all__ = [
    "ASGDSpec",
    "AdadeltaSpec",
    "AdafactorSpec",
    "AdagradSpec",
    "AdamSpec",
    "AdamWSpec",
    "AdamaxSpec",
    "LabelRule",
    "LayerDecay",
    "MuonRouting",
    "MuonSpec",
    "NAdamSpec",
    "NorMuonSpec",
    "OptimizerSpecification",
    "ParamRules",
    "RAdamSpec",
    "RMSpropSpec",
    "RpropSpec",
    "SGDSpec",
]
