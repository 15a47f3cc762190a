"""The compatibility APIs: the spec-method API and the epoch-based builders. This module holds
the spec-method API: methods on optimizer specs, in one mixin, each a one-line delegation.

:class:`SpecMethods` is the base of :class:`optfn.OptimizerSpecification`. Spec data sits at the
bottom of optfn's layers and imports nothing above it, so these methods reach the builders and
the converter through function-local imports: the one place where a lower layer calls a
higher one, kept here so that it is visible and small.

>>> from optfn import AdamSpec, OptimizerSpecification
>>> spec = AdamSpec(learning_rate=0.01)
>>> OptimizerSpecification.from_serialized(spec.optimizer_type, spec.to_dict()) == spec
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from optfn.specs.optimizers import OptimizerSpecification
    from optfn.specs.rules import ParamRules

__all__ = ["SeedMethods", "SpecMethods"]


class SpecMethods:
    """``create_optimizer``, ``create_optimizer_for_multiple``, ``create_scheduler``,
    ``to_dict`` and ``from_serialized``: the spec-method API."""

    __slots__ = ()

    lr_decay_gamma: float | None

    def create_optimizer(
        self,
        model: torch.nn.Module,
        lr_multipliers: Mapping[torch.nn.Module, float] | None = None,
        rules: ParamRules | None = None,
    ) -> torch.optim.Optimizer:
        """Build the optimizer for ``model`` (see :func:`optfn.compat.builders.create_optimizer`).

        ``lr_multipliers`` maps sub-modules of ``model`` to LR multipliers (the deepest wins);
        weight decay is uniform (``ParamRules.uniform()``) unless ``rules`` are given.
        """
        from optfn.compat.builders import create_optimizer

        return create_optimizer(self, [model], lr_multipliers, rules)  # type: ignore[arg-type]

    def create_optimizer_for_multiple(
        self,
        models: Sequence[torch.nn.Module],
        lr_multipliers: Mapping[torch.nn.Module, float] | None = None,
        rules: ParamRules | None = None,
    ) -> torch.optim.Optimizer:
        """One optimizer over several models; a parameter they share appears once."""
        from optfn.compat.builders import create_optimizer

        return create_optimizer(self, list(models), lr_multipliers, rules)  # type: ignore[arg-type]

    def create_scheduler(
        self, optimizer: torch.optim.Optimizer
    ) -> torch.optim.lr_scheduler.ExponentialLR | None:
        """``ExponentialLR(optimizer, lr_decay_gamma)`` (step it once per epoch), or ``None``."""
        from optfn.compat.builders import create_exponential_scheduler

        return create_exponential_scheduler(optimizer, self.lr_decay_gamma)

    def to_dict(self) -> dict[str, Any]:
        """The spec's parameters as a plain, JSON-safe dict (tuples become lists)."""
        from optfn.compat.serialized import optimizer_params

        return optimizer_params(self)  # type: ignore[arg-type]

    @staticmethod
    def from_serialized(optimizer_name: str, params: Mapping[str, Any]) -> OptimizerSpecification:
        """Rebuild a spec from ``optimizer_type`` and ``to_dict()`` output, strictly."""
        from optfn.compat.serialized import optimizer_from_serialized

        return optimizer_from_serialized(optimizer_name, params)


#: The mixin's earlier name, still importable.
SeedMethods = SpecMethods
