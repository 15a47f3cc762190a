"""What optfn's own optimizers check first when they load a ``state_dict``: the same number
of param groups, each on the same route (``"muon"``/``"adamw"``, ``"normuon"``/``"adam"``).

>>> import torch
>>> from optfn.optim.loaded import saved_groups
>>> mine = [{"route": "adam", "params": [torch.zeros(1)]}]
>>> len(saved_groups(mine, {"param_groups": [{"route": "adam", "params": [0]}]}))
1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optfn.errors import StateError
from optfn.specs.render import brief

__all__ = ["saved_groups"]


def saved_groups(
    mine: Sequence[Mapping[str, Any]], state_dict: object
) -> list[Mapping[str, Any]]:
    """The saved param groups of ``state_dict``, once they are as many as ``mine`` and each on
    the route of its counterpart; a :class:`~optfn.errors.StateError` else. Changes nothing."""
    saved = state_dict.get("param_groups") if isinstance(state_dict, Mapping) else None
    if not isinstance(saved, list) or len(saved) != len(mine):
        n = len(saved) if isinstance(saved, list) else "no"
        raise StateError(f"loaded state_dict has {n} param groups, this optimizer {len(mine)}")
    for i, (group, theirs) in enumerate(zip(mine, saved, strict=True)):
        if not isinstance(theirs, Mapping) or theirs.get("route") != group["route"]:
            got = theirs.get("route") if isinstance(theirs, Mapping) else theirs
            raise StateError(
                f"param group {i}: loaded state_dict has route {brief(got)}, "
                f"this optimizer {brief(group['route'])}"
            )
    return saved
