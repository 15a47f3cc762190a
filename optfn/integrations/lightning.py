"""Lightning's ``LearningRateMonitor``, reading each param group's own momentum.

Lightning's monitor reads one key for all the groups of an optimizer: ``betas[0]`` when
``optimizer.defaults`` has ``betas``, else ``group.get("momentum", 0)``. An optimizer whose
groups differ, such as :class:`~optfn.MuonWithAdamW` (muon groups hold ``momentum``, adamw
groups ``betas``), gets a ``KeyError`` on the groups without ``betas``, or a silent 0 for
those without ``momentum``. This monitor takes each group's own: ``betas[0]`` where the group
holds ``betas``, else its ``momentum``, else 0 (Lightning's value for a group with neither).
Everything else is Lightning's.

Needs ``lightning`` (``pip install 'optfn[lightning]'``).

>>> from optfn.integrations.lightning import group_momentum
>>> group_momentum({"route": "muon", "momentum": 0.95})
0.95
>>> group_momentum({"route": "adamw", "betas": (0.9, 0.999)})
0.9
>>> group_momentum({"lr": 0.1})
0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.callbacks import LearningRateMonitor as _LightningMonitor
except ImportError as exc:  # pragma: no cover - the dev extra installs lightning
    raise ImportError(
        "optfn.integrations.lightning needs lightning: pip install 'optfn[lightning]'"
    ) from exc

__all__ = ["LearningRateMonitor", "group_momentum"]


def group_momentum(group: Mapping[str, Any]) -> Any:
    """The momentum ``group`` runs: ``betas[0]`` if it holds ``betas``, else ``momentum``,
    else 0 (a group with neither, as Lightning logs it)."""
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum", 0)


class LearningRateMonitor(_LightningMonitor):
    """``lightning.pytorch.callbacks.LearningRateMonitor``, same arguments and log names;
    with ``log_momentum=True`` each group's value is :func:`group_momentum` of that group.

    >>> from optfn.integrations.lightning import LearningRateMonitor
    >>> monitor = LearningRateMonitor(logging_interval="step", log_momentum=True)
    >>> monitor._extract_momentum({"momentum": 0.95}, "lr-pg1-momentum", use_betas=True)
    {'lr-pg1-momentum': 0.95}
    """

    def _extract_momentum(
        self, param_group: dict[str, Any], name: str, use_betas: bool
    ) -> dict[str, float]:
        if not self.log_momentum:
            return {}
        momentum = group_momentum(param_group)
        self.last_momentum_values[name] = momentum
        return {name: momentum}
