"""``MuonWithAdamW``: one ``torch.optim.Optimizer`` running Muon and AdamW on routed param groups.

In three parts: :mod:`~optfn.optim.muon.newton_schulz` (torch.optim.Muon's math),
:mod:`~optfn.optim.muon.groups` (the param-group contract and its check) and
:mod:`~optfn.optim.muon.optimizer` (the optimizer). The public names are re-exported here:

>>> from optfn.optim.muon import ROUTES, MuonWithAdamW
>>> ROUTES, MuonWithAdamW.__module__
(('muon', 'adamw'), 'optfn.optim.muon.optimizer')
"""

from optfn.optim.muon.groups import ADAMW_GROUP_KEYS, MUON_GROUP_KEYS, ROUTES
from optfn.optim.muon.optimizer import MuonWithAdamW

__all__ = ["ADAMW_GROUP_KEYS", "MUON_GROUP_KEYS", "ROUTES", "MuonWithAdamW"]
