"""Strategies of whole configs (optimizer + rules + schedule).

>>> from hypothesis import given, settings
>>> from optfn import OptimConfig, from_dict, to_dict
>>> from optfn.strategies import configs
>>> @settings(max_examples=5, deadline=None)
... @given(configs())
... def test_round_trip(cfg):
...     assert from_dict(to_dict(cfg)) == cfg
>>> test_round_trip()
"""

from __future__ import annotations

from hypothesis import strategies as st
from torch import nn

from optfn.config import OptimConfig
from optfn.schedules import (
    HyperSchedules,
    Schedule,
)
from optfn.specs.optimizers import (
    OptimizerSpecification,
)
from optfn.specs.rules import (
    ParamRules,
)
from optfn.strategies._args import (
    _check_model,
    _check_strategy,
)
from optfn.strategies.optimizers import optimizer_specs
from optfn.strategies.rules import param_rules
from optfn.strategies.schedules import hyper_schedules, schedule_specs

# ---- configs ---------------------------------------------------------------------------------


def configs(
    model: nn.Module | None = None,
    *,
    optimizers: st.SearchStrategy[OptimizerSpecification] | None = None,
    schedules: st.SearchStrategy[Schedule | HyperSchedules] | None = None,
    rules: st.SearchStrategy[ParamRules] | None = None,
) -> st.SearchStrategy[OptimConfig]:
    """Random valid :class:`~optfn.OptimConfig` s: an optimizer spec, rules and a schedule.

    Each part comes from the strategy given, by default :func:`optimizer_specs`,
    :func:`schedule_specs` and :func:`param_rules` (for ``model`` when one is given, so that
    ``make_optimizer(model, cfg.optimizer, cfg.rules)`` succeeds); the default schedules are
    schedule shapes and :func:`hyper_schedules` of the LR alone (a key every optimizer's groups
    hold). Pass your own to bound them:
    ``configs(model, schedules=schedule_specs(max_total_steps=50))``.

    >>> import torch
    >>> from hypothesis import given, settings
    >>> from optfn import from_json, to_json
    >>> from optfn.strategies import configs, optimizer_specs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(configs(optimizers=optimizer_specs(kinds=("adamw",))))
    ... def test_json_round_trip(cfg):
    ...     assert from_json(to_json(cfg)) == cfg
    >>> test_json_round_trip()
    """
    _check_model(model)
    _check_strategy("optimizers", optimizers)
    _check_strategy("schedules", schedules)
    _check_strategy("rules", rules)
    return st.builds(
        OptimConfig,
        optimizer=optimizer_specs() if optimizers is None else optimizers,
        rules=param_rules(model) if rules is None else rules,
        schedule=(
            schedule_specs() | hyper_schedules(keys=("lr",), routes=())
            if schedules is None
            else schedules
        ),
    )
