"""Hypothesis strategies for every optfn spec, and small random models to apply them to.

Property-test your own training code with random *valid* specs instead of hand-written
generators: every value these strategies generate constructs without error, and round-trips
exactly through :func:`optfn.to_dict` / :func:`optfn.from_dict`, JSON and TOML.

hypothesis is an optional dependency: ``pip install 'optfn[testing]'``.

- :func:`optimizer_specs`: every kind of the optimizer table (Adam, AdamW, Muon, SGD, ...,
  and yours from :func:`optfn.register_optimizer`; ``kinds=``, LR bounds);
- :func:`schedule_specs`: every schedule shape and (nested) ``Join`` of them
  (``kinds=``, ``max_total_steps=``, ``max_depth=``); :func:`joins`: always a ``Join``;
  :func:`hyper_schedules`: ``HyperSchedules`` of them;
- :func:`param_rules`: ``ParamRules`` (with ``model``: rules that apply to that model),
  built from :func:`muon_routings` and :func:`layer_decays`;
- :func:`configs`: ``OptimConfig`` (optimizer + rules + schedule);
- :func:`modules`: small random module trees with tied weights, shared and frozen parameters;
- :func:`spec_strategies` / :func:`register_type_strategies`: one strategy per spec class, and
  registering them with hypothesis so that ``st.from_type(WarmupCosine)`` works.

>>> from hypothesis import given, settings
>>> from optfn import make_optimizer
>>> from optfn.strategies import modules, optimizer_specs
>>> @settings(max_examples=10, deadline=None)
... @given(modules(), optimizer_specs(kinds=("adam", "adamw")))
... def test_every_param_once(model, spec):
...     opt = make_optimizer(model, spec)
...     ids = [id(p) for g in opt.param_groups for p in g["params"]]
...     assert len(ids) == len(set(ids))
>>> test_every_param_once()
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # tests/strategies/test_strategies.py runs this without hypothesis
    raise ImportError(
        "optfn.strategies needs hypothesis, an optional dependency of optfn: "
        "pip install 'optfn[testing]' (or pip install hypothesis)"
    ) from exc

from optfn.config import OptimConfig
from optfn.optim.table import OPTIMIZERS
from optfn.schedules import HyperSchedules, Join, Schedule
from optfn.specs.labels import LabelRule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.rules import LayerDecay, MuonRouting, ParamRules
from optfn.strategies.configs import configs
from optfn.strategies.models import modules
from optfn.strategies.optimizers import OPTIMIZER_KINDS, optimizer_specs
from optfn.strategies.rules import label_rules, layer_decays, muon_routings, param_rules
from optfn.strategies.schedules import (
    _SCHEDULE_TAGS,
    SCHEDULE_KINDS,
    hyper_schedules,
    joins,
    schedule_specs,
)

__all__ = [
    "OPTIMIZER_KINDS",
    "SCHEDULE_KINDS",
    "configs",
    "hyper_schedules",
    "joins",
    "label_rules",
    "layer_decays",
    "modules",
    "muon_routings",
    "optimizer_specs",
    "param_rules",
    "register_type_strategies",
    "schedule_specs",
    "spec_strategies",
]


# ---- one strategy per spec class ---------------------------------------------------------------


def spec_strategies() -> dict[type, st.SearchStrategy[Any]]:
    """One strategy per optfn spec class, and for the family bases ``OptimizerSpecification``
    and ``Schedule`` (any member), with the default bounds.

    >>> from optfn import WarmupCosine
    >>> from optfn.strategies import spec_strategies
    >>> table = spec_strategies()
    >>> WarmupCosine in table
    True
    """
    table: dict[type, st.SearchStrategy[Any]] = {
        OptimizerSpecification: optimizer_specs(),
        Schedule: schedule_specs(),
    }
    for kind in OPTIMIZERS:
        table[kind.spec] = optimizer_specs(kinds=(kind.tag,))
    for tag, cls in _SCHEDULE_TAGS.items():
        table[cls] = joins() if cls is Join else schedule_specs(kinds=(tag,))
    table.update(
        {
            LabelRule: label_rules(),
            LayerDecay: layer_decays(),
            MuonRouting: muon_routings(),
            ParamRules: param_rules(),
            HyperSchedules: hyper_schedules(),
            OptimConfig: configs(),
        }
    )
    return table


def register_type_strategies() -> dict[type, st.SearchStrategy[Any]]:
    """Register :func:`spec_strategies` with hypothesis, so that ``st.from_type(cls)``,
    ``st.builds`` and ``@given(x=...)`` with type hints produce valid optfn specs. Call it
    once (in a ``conftest.py``); calling it again re-registers the same strategies. Returns
    what it registered.

    >>> from hypothesis import given, settings, strategies as st
    >>> from optfn import WarmupCosine
    >>> from optfn.strategies import register_type_strategies
    >>> _ = register_type_strategies()
    >>> @settings(max_examples=20)
    ... @given(st.from_type(WarmupCosine))
    ... def test_warmup_within_total(s):
    ...     assert s.warmup_steps <= s.total_steps
    >>> test_warmup_within_total()
    """
    table = spec_strategies()
    for cls, strategy in table.items():
        st.register_type_strategy(cls, strategy)
    return table
