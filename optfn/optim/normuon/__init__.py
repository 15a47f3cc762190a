"""``NorMuonWithAdam``: modded-nanogpt's NorMuon + Adam as one ``torch.optim.Optimizer``.

In three parts: :mod:`~optfn.optim.normuon.orthogonalize` (Polar Express, Newton–Schulz and
NorMuon's normalization on banks of matrices), :mod:`~optfn.optim.normuon.groups` (the
param-group contract, the rule for parameters of more than two dimensions) and
:mod:`~optfn.optim.normuon.optimizer` (the optimizer). The public names are re-exported here:

>>> from optfn.optim.normuon import ROUTES, NorMuonWithAdam
>>> ROUTES, NorMuonWithAdam.__module__
(('adam', 'normuon'), 'optfn.optim.normuon.optimizer')
"""

from optfn.optim.normuon.groups import ADAM_GROUP_KEYS, NORMUON_GROUP_KEYS, ROUTES, bank_shape
from optfn.optim.normuon.optimizer import NorMuonWithAdam

__all__ = ["ADAM_GROUP_KEYS", "NORMUON_GROUP_KEYS", "ROUTES", "NorMuonWithAdam", "bank_shape"]
