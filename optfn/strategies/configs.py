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

import warnings

from hypothesis import strategies as st
from torch import nn

from optfn.build import make_optimizer
from optfn.config import OptimConfig
from optfn.errors import SpecError, SpecTypeError
from optfn.routing import RoutingWarning
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
    :func:`schedule_specs` and :func:`param_rules` (for ``model`` when one is given; with a
    ``model``, every config is one that ``make_optimizer(model, cfg.optimizer, cfg.rules)``
    builds); the default schedules are
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
    built = st.builds(
        OptimConfig,
        optimizer=optimizer_specs() if optimizers is None else optimizers,
        rules=param_rules(model) if rules is None else rules,
        schedule=(
            schedule_specs() | hyper_schedules(keys=("lr",), routes=())
            if schedules is None
            else schedules
        ),
    )
    if model is None:
        return built
    # a spec can hold values that only some models fit (NorMuon's per_matrix_lr_mul must divide
    # each bank's matrix count): keep the configs that build for this model
    return built.filter(lambda cfg: _builds_for(model, cfg))


def _builds_for(model: nn.Module, cfg: OptimConfig) -> bool:
    """Whether ``make_optimizer(model, cfg.optimizer, cfg.rules)`` succeeds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoutingWarning)  # a Muon routing may pick nothing
        try:
            make_optimizer(model, cfg.optimizer, cfg.rules)
        except (SpecError, SpecTypeError):
            return False
    return True
