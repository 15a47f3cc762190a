"""ScheduleLR and HyperScheduleLR check a step, a resume and their groups before anything moves.

A refused ``step(epoch)`` used to leave ``last_epoch`` at the refused value (every later step
then failed), a group added with ``add_param_group`` made every step raise torch's raw
``ValueError`` after ``last_epoch`` and group 0's LR had moved, and ``last_epoch=5`` on a
fresh optimizer was torch's raw ``KeyError``.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

from optfn.build import HyperScheduleLR, ScheduleLR, make_scheduler
from optfn.errors import SpecError, SpecTypeError, StateError
from optfn.schedules import HyperSchedules, LinearDecay, Ramp

LR = LinearDecay(decay_steps=10)
KINDS: dict[str, Callable[[torch.optim.Optimizer, int], ScheduleLR]] = {
    "ScheduleLR": lambda opt, last: ScheduleLR(opt, LR, last_epoch=last),
    "HyperScheduleLR-lr": lambda opt, last: HyperScheduleLR(
        opt, HyperSchedules(lr=LR), last_epoch=last
    ),
    "HyperScheduleLR-momentum": lambda opt, last: HyperScheduleLR(
        opt, HyperSchedules(lr=LR, momentum=Ramp(steps=4, start_scale=0.5)), last_epoch=last
    ),
}
OWNER = {"ScheduleLR": "ScheduleLR"} | dict.fromkeys(
    ["HyperScheduleLR-lr", "HyperScheduleLR-momentum"], "HyperScheduleLR"
)


def _optimizer() -> torch.optim.Optimizer:
    p = torch.nn.Parameter(torch.ones(2))
    return torch.optim.SGD([{"params": [p]}], lr=0.1, momentum=0.9)


def _train(opt: torch.optim.Optimizer, sched: ScheduleLR) -> None:
    p = opt.param_groups[0]["params"][0]
    p.grad = torch.ones_like(p)
    opt.step()
    sched.step()


def _snapshot(opt: torch.optim.Optimizer, sched: ScheduleLR) -> Any:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return copy.deepcopy((groups, sched.state_dict()))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("epoch", "error", "words"),
    [
        (3.0, SpecTypeError, r"step\.epoch: must be an integer >= 0, got 3\.0 \(float\)"),
        (-5, SpecError, r"step\.epoch: must be an integer >= 0, got -5"),
        (True, SpecTypeError, r"step\.epoch: must be an integer >= 0, got True \(bool\)"),
        ("3", SpecTypeError, r"step\.epoch: must be an integer >= 0, got '3' \(str\)"),
    ],
)
def test_a_refused_step_changes_nothing(
    kind: str, epoch: object, error: type[Exception], words: str
) -> None:
    opt = _optimizer()
    sched = KINDS[kind](opt, -1)
    _train(opt, sched)
    before = _snapshot(opt, sched)
    with pytest.raises(error, match=f"^{OWNER[kind]}\\.{words}"):
        sched.step(epoch)  # type: ignore[arg-type]
    assert sched.last_epoch == 1
    assert _snapshot(opt, sched) == before
    _train(opt, sched)  # later steps work as before
    assert sched.last_epoch == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_valid_epoch_still_jumps(kind: str) -> None:
    opt = _optimizer()
    sched = KINDS[kind](opt, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation of step(epoch)
        sched.step(4)
    assert sched.last_epoch == 4 and type(sched.last_epoch) is int
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_group_added_after_the_scheduler_is_refused_before_anything_moves(kind: str) -> None:
    opt = _optimizer()
    sched = KINDS[kind](opt, -1)
    _train(opt, sched)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
    before = _snapshot(opt, sched)
    words = (
        f"{OWNER[kind]}.step: the optimizer has 2 param group(s) now, 1 when the scheduler was "
        "built (a group added with add_param_group afterwards?); a scheduler only schedules "
        "the groups it was built with: build it after the last add_param_group, or build a "
        "new one"
    )
    for _ in range(2):  # every step is refused the same way, and changes nothing
        with pytest.raises(StateError, match=re.escape(words)):
            sched.step()
        assert sched.last_epoch == 1
        assert _snapshot(opt, sched) == before
    fresh = KINDS[kind](opt, -1)  # the fix: a scheduler built after the last add_param_group
    _train(opt, fresh)
    assert fresh.last_epoch == 1 and len(fresh.get_last_lr()) == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_resuming_on_a_fresh_optimizer_is_a_state_error(kind: str) -> None:
    opt = _optimizer()
    before = copy.deepcopy(
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    )
    words = (
        f"{OWNER[kind]}: param group 0 has no 'initial_lr', which a scheduler built with "
        "last_epoch=5 takes as the group's base value; build it with last_epoch=-1 (the "
        "default) and load its state_dict, or load the optimizer's state (which holds "
        "'initial_lr') before building it"
    )
    with pytest.raises(StateError, match=re.escape(words)):
        KINDS[kind](opt, 5)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == before


def test_a_missing_initial_momentum_has_the_same_wording() -> None:
    opt = _optimizer()
    make_scheduler(opt, LR)  # the groups get initial_lr, not initial_momentum
    with pytest.raises(
        StateError,
        match=re.escape(
            "HyperScheduleLR: param group 0 has no 'initial_momentum', which a scheduler built "
            "with last_epoch=3 takes as the group's base value; build it with last_epoch=-1"
        ),
    ):
        KINDS["HyperScheduleLR-momentum"](opt, 3)


@pytest.mark.parametrize("kind", list(KINDS))
def test_resuming_where_the_groups_hold_their_base_values(kind: str) -> None:
    opt = _optimizer()
    first = KINDS[kind](opt, -1)
    for _ in range(3):
        _train(opt, first)
    lrs = [g["lr"] for g in opt.param_groups]
    resumed = KINDS[kind](opt, 2)  # continues from step 3, as torch does
    assert resumed.last_epoch == 3
    assert [g["lr"] for g in opt.param_groups] == lrs


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("last", "error"),
    [(2.5, SpecTypeError), (True, SpecTypeError), (-2, SpecError), ("0", SpecTypeError)],
)
def test_a_bad_last_epoch_is_refused(kind: str, last: object, error: type[Exception]) -> None:
    opt = _optimizer()
    with pytest.raises(error, match=rf"^{OWNER[kind]}\.last_epoch: must be an integer >= -1"):
        KINDS[kind](opt, last)  # type: ignore[arg-type]
    assert "initial_lr" not in opt.param_groups[0]


def test_a_bad_initial_lr_on_resume_is_a_state_error() -> None:
    opt = _optimizer()
    opt.param_groups[0]["initial_lr"] = float("nan")
    with pytest.raises(StateError, match=r"param group 0's 'initial_lr' must be a finite number"):
        ScheduleLR(opt, LR, last_epoch=4)
