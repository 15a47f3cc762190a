"""optfn: optimizers and learning-rate schedules for PyTorch from frozen, serializable specs.

>>> import torch
>>> from optfn import AdamWSpec, ParamRules, make_optimizer
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
>>> opt = make_optimizer(model, AdamWSpec(learning_rate=1e-3), ParamRules())
>>> [g["weight_decay"] for g in opt.param_groups]
[0.01, 0.0]
"""

from optfn.build import build_optimizer, make_optimizer
from optfn.errors import ConfigError, SpecError, SpecTypeError
from optfn.groups import make_param_groups
from optfn.optimizer_specs import AdamSpec, AdamWSpec, MuonSpec, OptimizerSpecification
from optfn.partition import ParamEntry, Partition, RoutingWarning, partition_params
from optfn.rules import LayerDecay, MuonRouting, ParamRules

__all__ = [
    "AdamSpec",
    "AdamWSpec",
    "ConfigError",
    "LayerDecay",
    "MuonRouting",
    "MuonSpec",
    "OptimizerSpecification",
    "ParamEntry",
    "ParamRules",
    "Partition",
    "RoutingWarning",
    "SpecError",
    "SpecTypeError",
    "build_optimizer",
    "make_optimizer",
    "make_param_groups",
    "partition_params",
]
