"""The closed registry of spec classes by ``"type"`` tag: optfn's one table of kinds, as the
converter reads it.

The table lives in :mod:`optfn.optim.table` (:data:`~optfn.optim.table.KINDS`: every kind by
tag, with its family, its spec class and, for an optimizer, its builder and routes); this module
names it for the serialization side. :data:`REGISTRY` *is* that table and ``SpecRegistry`` its
class. Add an optimizer with :func:`optfn.register_optimizer`, any other spec class with
:func:`register_spec`. Nothing in a file can add to it: a tag can only name a registered class.

>>> from optfn import OptimizerSpecification, WarmupCosine
>>> REGISTRY.tag_of(WarmupCosine), REGISTRY.members(OptimizerSpecification)["muon"].__name__
('warmup_cosine', 'MuonSpec')
"""

from __future__ import annotations

from optfn.optim.table import (
    FAMILIES,
    KINDS,
    TAG_KEY,
    VERSION_KEY,
    KindTable,
    register_spec,
)

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "TAG_KEY",
    "VERSION_KEY",
    "SpecRegistry",
    "register_spec",
]

#: The class of the registry: optfn's one table (:class:`optfn.optim.table.KindTable`).
SpecRegistry = KindTable
#: optfn's registry: the one table, :data:`optfn.optim.table.KINDS`.
REGISTRY = KINDS
