"""The bundled config: a run's whole optimization setup as one frozen spec.

>>> from optfn import AdamWSpec, OptimConfig, ParamRules, WarmupCosine
>>> cfg = OptimConfig(
...     optimizer=AdamWSpec(learning_rate=3e-4),
...     rules=ParamRules(lr_scales={"head": 5.0}),
...     schedule=WarmupCosine(warmup_steps=100, total_steps=1000),
... )
>>> cfg.optimizer.optimizer_type, cfg.schedule.total_steps
('adamw', 1000)
"""

from __future__ import annotations

import attrs

from optfn.schedules import Constant, HyperSchedules, Schedule
from optfn.specs import checks as v
from optfn.specs.keywords import KeywordOnly
from optfn.specs.optimizers import AdamWSpec, OptimizerSpecification
from optfn.specs.rules import ParamRules

__all__ = ["OptimConfig"]


@attrs.frozen(kw_only=True)
class OptimConfig(KeywordOnly):
    """Optimizer spec + routing rules + LR schedule (a :class:`~optfn.Schedule`, or a
    :class:`~optfn.HyperSchedules` for several hyper-parameters).

    Build everything from it with :func:`optfn.make_optimizer` and :func:`optfn.make_scheduler`:
    ``opt = make_optimizer(model, cfg.optimizer, cfg.rules)``,
    ``sched = make_scheduler(opt, cfg.schedule)``.
    """

    optimizer: OptimizerSpecification = attrs.field(
        factory=AdamWSpec, validator=v.instance(OptimizerSpecification)
    )
    rules: ParamRules = attrs.field(factory=ParamRules, validator=v.instance(ParamRules))
    schedule: Schedule | HyperSchedules = attrs.field(
        factory=Constant, validator=v.instance(Schedule, HyperSchedules)
    )
