"""Schedules: frozen specs of ``step -> multiplier`` and the functions that evaluate them."""

from optfn.schedules.base import (
    MAX_CURVE_LENGTH,
    MAX_JOIN_DEPTH,
    MAX_STEPS,
    DecayShape,
    Schedule,
)
from optfn.schedules.evaluate import lr_curve, lr_lambda
from optfn.schedules.join import Join, join_depth
from optfn.schedules.shapes import (
    Constant,
    CosineDecay,
    CosineRestarts,
    ExponentialDecay,
    InverseSqrt,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    PolynomialDecay,
    WarmupCosine,
    WarmupStableDecay,
)

__all__ = [
    "MAX_CURVE_LENGTH",
    "MAX_JOIN_DEPTH",
    "MAX_STEPS",
    "Constant",
    "CosineDecay",
    "CosineRestarts",
    "DecayShape",
    "ExponentialDecay",
    "InverseSqrt",
    "Join",
    "LinearDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "PolynomialDecay",
    "Schedule",
    "WarmupCosine",
    "WarmupStableDecay",
    "join_depth",
    "lr_curve",
    "lr_lambda",
]
