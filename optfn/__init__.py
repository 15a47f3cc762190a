"""optfn: optimizers and learning-rate schedules for PyTorch from frozen, serializable specs.

Specs (frozen attrs classes) describe an optimizer, the routing rules and an LR schedule;
pure functions turn them into torch objects; one strict cattrs converter saves and loads them.

>>> import torch
>>> from optfn import AdamWSpec, ParamRules, WarmupCosine, make_optimizer, make_scheduler
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
>>> opt = make_optimizer(model, AdamWSpec(learning_rate=1e-3), ParamRules())
>>> [g["weight_decay"] for g in opt.param_groups]
[0.01, 0.0]
>>> sched = make_scheduler(opt, WarmupCosine(warmup_steps=10, total_steps=100))
"""

from optfn.build import ScheduleLR, make_optimizer, make_param_groups, make_scheduler
from optfn.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint
from optfn.compat.builders import build_optimizer, build_scheduler, build_warmup_cosine
from optfn.config import OptimConfig
from optfn.convert import schedule_from_hf, schedule_from_torch
from optfn.errors import ConfigError, OptfnError, SpecError, SpecTypeError, StateError
from optfn.io import (
    from_dict,
    from_json,
    from_toml,
    from_yaml,
    load_config,
    register_spec,
    save_config,
    to_dict,
    to_json,
    to_toml,
    to_yaml,
)
from optfn.optim.muon import MuonWithAdamW
from optfn.optim.normuon import NorMuonWithAdam
from optfn.optim.table import OptimizerKind, Route, register_optimizer
from optfn.routing import ParamEntry, Partition, RoutingWarning, partition_params
from optfn.schedules import (
    Constant,
    CosineDecay,
    CosineRestarts,
    Cyclic,
    CyclicMomentum,
    ExponentialDecay,
    HyperSchedules,
    InverseSqrt,
    Join,
    LinearDecay,
    LinearWarmup,
    MultiStepDecay,
    OneCycle,
    OneCycleMomentum,
    PiecewiseConstant,
    PolynomialDecay,
    Product,
    Ramp,
    Schedule,
    Sum,
    WarmupCosine,
    WarmupStableDecay,
    hyper_curves,
    hyper_lambdas,
    lr_curve,
    lr_lambda,
)
from optfn.specs import (
    AdamSpec,
    AdamWSpec,
    LabelRule,
    LayerDecay,
    MuonRouting,
    MuonSpec,
    NorMuonSpec,
    OptimizerSpecification,
    ParamRules,
)
from optfn.specs import torch_optimizers as _torch_optimizers

# every spec of a torch.optim class (SGDSpec, AdagradSpec...): its module's __all__ is the list
from optfn.specs.torch_optimizers import *  # noqa: F403

__all__ = [
    "AdamSpec",
    "AdamWSpec",
    "Checkpoint",
    "ConfigError",
    "Constant",
    "CosineDecay",
    "CosineRestarts",
    "Cyclic",
    "CyclicMomentum",
    "ExponentialDecay",
    "HyperSchedules",
    "InverseSqrt",
    "Join",
    "LabelRule",
    "LayerDecay",
    "LinearDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "MuonRouting",
    "MuonSpec",
    "MuonWithAdamW",
    "NorMuonSpec",
    "NorMuonWithAdam",
    "OneCycle",
    "OneCycleMomentum",
    "OptfnError",
    "OptimConfig",
    "OptimizerKind",
    "OptimizerSpecification",
    "ParamEntry",
    "ParamRules",
    "Partition",
    "PiecewiseConstant",
    "PolynomialDecay",
    "Product",
    "Ramp",
    "Route",
    "RoutingWarning",
    "Schedule",
    "ScheduleLR",
    "SpecError",
    "SpecTypeError",
    "StateError",
    "Sum",
    "WarmupCosine",
    "WarmupStableDecay",
    "build_optimizer",
    "build_scheduler",
    "build_warmup_cosine",
    "from_dict",
    "from_json",
    "from_toml",
    "from_yaml",
    "hyper_curves",
    "hyper_lambdas",
    "load_checkpoint",
    "load_config",
    "lr_curve",
    "lr_lambda",
    "make_optimizer",
    "make_param_groups",
    "make_scheduler",
    "partition_params",
    "register_optimizer",
    "register_spec",
    "restore",
    "save_checkpoint",
    "save_config",
    "schedule_from_hf",
    "schedule_from_torch",
    "to_dict",
    "to_json",
    "to_toml",
    "to_yaml",
]
__all__ += _torch_optimizers.__all__
