"""Building, every ``make_*`` in one place: partition -> param groups -> the torch optimizer
(:func:`make_param_groups`, :func:`make_optimizer`), and the torch scheduler that runs a
schedule on it (:func:`make_scheduler`: a :class:`ScheduleLR`, or a :class:`HyperScheduleLR`
for a :class:`~optfn.schedules.HyperSchedules`).

One module per job: ``groups`` (param groups), ``optimizer`` (the optimizer), ``schedule_lr``
(:class:`ScheduleLR`), ``hyper_schedule_lr`` (:class:`HyperScheduleLR`), ``scheduler_guards``
(the checks both schedulers share) and ``scheduler`` (:func:`make_scheduler`).
"""

from optfn.build.groups import make_param_groups
from optfn.build.hyper_schedule_lr import HyperScheduleLR
from optfn.build.optimizer import make_optimizer
from optfn.build.schedule_lr import ScheduleLR, schedule_record
from optfn.build.scheduler import make_scheduler

__all__ = [
    "HyperScheduleLR",
    "ScheduleLR",
    "make_optimizer",
    "make_param_groups",
    "make_scheduler",
    "schedule_record",
]
