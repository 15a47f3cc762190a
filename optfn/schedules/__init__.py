"""Schedules: frozen specs of ``step -> multiplier`` and the functions that evaluate them."""

from optfn.schedules.base import (
    MAX_CURVE_LENGTH,
    MAX_JOIN_DEPTH,
    MAX_STEPS,
    DecayShape,
    Schedule,
)
from optfn.schedules.cycles import Cyclic, CyclicMomentum, OneCycle, OneCycleMomentum
from optfn.schedules.evaluate import lr_curve, lr_lambda
from optfn.schedules.hyper import (
    HYPER_KEYS,
    HyperSchedules,
    hyper_curves,
    hyper_lambdas,
    lr_schedule_of,
)
from optfn.schedules.join import Join, join_depth
from optfn.schedules.pieces import PiecewiseConstant, Product, Ramp, Sum
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
    "HYPER_KEYS",
    "MAX_CURVE_LENGTH",
    "MAX_JOIN_DEPTH",
    "MAX_STEPS",
    "Constant",
    "CosineDecay",
    "CosineRestarts",
    "Cyclic",
    "CyclicMomentum",
    "DecayShape",
    "ExponentialDecay",
    "HyperSchedules",
    "InverseSqrt",
    "Join",
    "LinearDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "OneCycle",
    "OneCycleMomentum",
    "PiecewiseConstant",
    "PolynomialDecay",
    "Product",
    "Ramp",
    "Schedule",
    "Sum",
    "WarmupCosine",
    "WarmupStableDecay",
    "hyper_curves",
    "hyper_lambdas",
    "join_depth",
    "lr_curve",
    "lr_lambda",
    "lr_schedule_of",
]
