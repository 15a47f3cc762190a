"""The old home of optfn's torch schedulers, kept as an alias: they live in :mod:`optfn.build`
now (:mod:`optfn.build.schedule_lr`, :mod:`optfn.build.hyper_schedule_lr`,
:mod:`optfn.build.scheduler`), beside ``make_optimizer``, and the public names are exported
from :mod:`optfn`.

Why this module stays: optfn's own checkpoints hold a scheduler's ``state_dict`` (plain data,
no class path), but a scheduler object pickled whole (``torch.save(scheduler)``, or a trainer
that pickles its schedulers) names its classes by module: ``optfn.scheduler.ScheduleLR``,
``optfn.scheduler.HyperScheduleLR`` and the multiplier lookup ``optfn.scheduler._Blocks``.
Pickle finds a class by that path, so those files load only while these names resolve here.
Code importing ``from optfn.scheduler import make_scheduler`` keeps working too. New code
imports from :mod:`optfn` (or :mod:`optfn.build`).

>>> import optfn, optfn.scheduler
>>> optfn.scheduler.ScheduleLR is optfn.ScheduleLR
True
>>> optfn.scheduler.make_scheduler is optfn.make_scheduler
True
"""

from optfn.build.hyper_schedule_lr import HyperScheduleLR

# named by pickles of schedulers saved before the move (private: not in __all__)
from optfn.build.schedule_lr import MultiplierBlocks as _Blocks  # noqa: F401
from optfn.build.schedule_lr import ScheduleLR, schedule_record
from optfn.build.scheduler import make_scheduler
from optfn.build.scheduler_guards import is_lr

__all__ = [
    "HyperScheduleLR",
    "ScheduleLR",
    "is_lr",
    "make_scheduler",
    "schedule_record",
]
