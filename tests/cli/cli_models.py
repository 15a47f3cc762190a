"""Model factories for the CLI tests (``--model tests.cli.cli_models:tiny``)."""

from torch import nn


def tiny() -> nn.Module:
    return nn.ModuleDict({"body": nn.Linear(3, 3), "norm": nn.LayerNorm(3)})


def not_a_module() -> str:
    return "not a module"
