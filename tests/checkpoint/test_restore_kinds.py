"""restore refuses an optimizer state of another kind, and a scheduler of another optimizer.

torch's ``load_state_dict`` takes any state with as many groups and parameters: an Adam state
makes an AdamW run Adam's hyper-parameters, an RMSprop state breaks SGD's next step
(``KeyError: 'dampening'``). Every pair of the optimizer table is tried here, with the
checkpoint's recorded optimizer class and without it (files written before it was recorded).
"""

from __future__ import annotations

import copy
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from optfn import MuonRouting, ParamRules, make_optimizer, make_scheduler
from optfn.checkpoint import (
    Checkpoint,
    load_checkpoint,
    param_layout,
    restore,
    save_checkpoint,
)
from optfn.checkpoint.files import optimizer_class_name
from optfn.errors import StateError
from optfn.optim.table import OPTIMIZERS
from optfn.schedules import HyperSchedules, LinearDecay, Ramp
from optfn.specs.optimizers import AdamSpec, AdamWSpec
from optfn.specs.torch_optimizers import SGDSpec

TAGS = [kind.tag for kind in OPTIMIZERS]
#: One matrix, which Muon takes on its muon route: every kind has one group holding it.
RULES = ParamRules(muon=MuonRouting(include=("hidden.*",)))
SCHEDULE = LinearDecay(decay_steps=10)


def _spec(tag: str) -> Any:
    """The default spec of a kind (every field has a default)."""
    spec: Any = OPTIMIZERS.by_tag[tag].spec
    return spec()


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(hidden=nn.Linear(3, 3, bias=False)))


def _build(tag: str, seed: int) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    model = _model(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = make_optimizer(model, _spec(tag), RULES)
    return model, opt, make_scheduler(opt, SCHEDULE)


def _train(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        model(torch.ones(2, 3)).square().sum().backward()
        opt.step()
        sched.step()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A checkpoint of each kind, after two steps (model, optimizer and scheduler)."""
    folder = tmp_path_factory.mktemp("kinds")
    out = {}
    for tag in TAGS:
        model, opt, sched = _build(tag, seed=0)
        _train(model, opt, sched, 2)
        out[tag] = folder / f"{tag}.pt"
        save_checkpoint(
            out[tag],
            config=_spec(tag),
            optimizer=opt,
            scheduler=sched,
            model=model,
        )
    return out


def _without_class(ckpt: Checkpoint) -> Checkpoint:
    """The checkpoint as today's files hold it before the optimizer class was recorded."""
    return Checkpoint(
        config=ckpt.config,
        optimizer_state=ckpt.optimizer_state,
        layout=ckpt.layout,
        scheduler_state=ckpt.scheduler_state,
        model_state=ckpt.model_state,
        extra=ckpt.extra,
    )


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
    return copy.deepcopy(
        (
            model.state_dict(),
            opt.state_dict(),
            [dict(g, params=None) for g in opt.param_groups],
            sched.state_dict(),
            [g["lr"] for g in sched.optimizer.param_groups],
        )
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


@pytest.mark.parametrize("recorded", [True, False], ids=["class-recorded", "old-file"])
@pytest.mark.parametrize("saved_tag", TAGS)
def test_every_cross_kind_restore_is_refused_and_every_same_kind_one_runs(
    saved: dict[str, Path], saved_tag: str, recorded: bool
) -> None:
    ckpt = load_checkpoint(saved[saved_tag])
    if recorded:
        assert ckpt.optimizer_class is not None
    else:
        ckpt = _without_class(ckpt)
    for tag in TAGS:
        model, opt, sched = _build(tag, seed=1)
        if tag != saved_tag:
            before = _snapshot(model, opt, sched)
            mine = optimizer_class_name(opt)
            words = (
                f"the checkpoint's optimizer is {re.escape(str(ckpt.optimizer_class))}, this "
                f"optimizer is {re.escape(mine)}"
                if recorded
                else rf"optimizer state\['param_groups'\]\[0\].*this {re.escape(mine)}"
            )
            with pytest.raises(StateError, match=words):
                restore(ckpt, opt, sched, model)
            assert _same(_snapshot(model, opt, sched), before), (saved_tag, tag)
            _train(model, opt, sched, 1)  # and it still trains as it was built
            continue
        restore(ckpt, opt, sched, model)
        assert sched.last_epoch == 2
        assert _same(opt.state_dict()["state"], ckpt.optimizer_state["state"])
        _train(model, opt, sched, 1)  # the next step runs
        assert sched.last_epoch == 3


def test_old_files_still_load_and_restore(saved: dict[str, Path], tmp_path: Path) -> None:
    raw = torch.load(saved["adamw"], weights_only=True)
    assert raw["optimizer_class"] == "torch.optim.AdamW"
    del raw["optimizer_class"]
    torch.save(raw, tmp_path / "old.pt")
    ckpt = load_checkpoint(tmp_path / "old.pt")
    assert ckpt.optimizer_class is None
    model, opt, sched = _build("adamw", seed=1)
    restore(ckpt, opt, sched, model)
    _train(model, opt, sched, 1)
    _, other, other_sched = _build("adam", seed=1)
    with pytest.raises(StateError, match=r"\['route'\]: is 'adamw' in the checkpoint and 'adam'"):
        restore(ckpt, other, other_sched)


def test_a_malformed_optimizer_class_is_a_state_error(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    raw = torch.load(saved["sgd"], weights_only=True)
    torch.save({**raw, "optimizer_class": ["torch.optim.SGD"]}, tmp_path / "bad.pt")
    with pytest.raises(StateError, match=r"optimizer_class: must be a string, got \['torch"):
        load_checkpoint(tmp_path / "bad.pt")


def test_adam_and_adamw_swapped_are_refused_with_their_hyper_parameters_untouched(
    tmp_path: Path,
) -> None:
    model = _model(0)
    adam = make_optimizer(model, AdamSpec(learning_rate=0.01, weight_decay=0.1))
    save_checkpoint(tmp_path / "adam.pt", config=AdamSpec(), optimizer=adam)
    adamw = make_optimizer(model, AdamWSpec(learning_rate=0.001, weight_decay=0.01))
    with pytest.raises(
        StateError,
        match="checkpoint's optimizer is torch.optim.Adam, this optimizer is torch.optim.AdamW",
    ):
        restore(load_checkpoint(tmp_path / "adam.pt"), adamw)
    group = adamw.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["decoupled_weight_decay"]) == (
        0.001,
        0.01,
        True,
    )
    save_checkpoint(tmp_path / "adamw.pt", config=AdamWSpec(), optimizer=adamw)
    with pytest.raises(
        StateError, match="is torch.optim.AdamW, this optimizer is torch.optim.Adam"
    ):
        restore(load_checkpoint(tmp_path / "adamw.pt"), adam)
    assert adam.param_groups[0]["decoupled_weight_decay"] is False


def _hand_built(cls: Any, model: nn.Module) -> torch.optim.Optimizer:
    """A torch optimizer built without optfn: no ``route`` in its groups."""
    params = dict(model.named_parameters())
    opt: torch.optim.Optimizer = cls(
        [{"params": list(params.values()), "param_names": list(params)}], lr=0.01
    )
    return opt


def _state_of(opt: torch.optim.Optimizer, model: nn.Module) -> Checkpoint:
    """An old-format checkpoint (no recorded class) of ``opt`` after one step."""
    opt.zero_grad()
    model(torch.ones(2, 3)).square().sum().backward()
    opt.step()
    return Checkpoint(
        config=AdamWSpec(), optimizer_state=opt.state_dict(), layout=param_layout(opt)
    )


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (torch.optim.RMSprop, torch.optim.SGD, "has no 'dampening'"),
        (torch.optim.AdamW, torch.optim.SGD, "has no 'dampening'"),
        (torch.optim.Adagrad, torch.optim.Adam, "has no 'betas'"),
        (torch.optim.Adam, torch.optim.AdamW, r"\['decoupled_weight_decay'\]: is False in the"),
        (torch.optim.AdamW, torch.optim.Adam, r"\['decoupled_weight_decay'\]: is True in the"),
    ],
)
def test_an_old_file_of_a_hand_built_optimizer_is_checked_by_its_group_keys(
    old: type[torch.optim.Optimizer], new: type[torch.optim.Optimizer], words: str
) -> None:
    model = _model(0)
    ckpt = _state_of(_hand_built(old, model), model)
    fresh = _hand_built(new, model)
    before = copy.deepcopy(fresh.state_dict())
    with pytest.raises(StateError, match=words):
        restore(ckpt, fresh)
    assert _same(fresh.state_dict(), before)
    model(torch.ones(2, 3)).square().sum().backward()
    fresh.step()  # still the optimizer it was


def test_keys_torch_fills_in_for_older_states_are_not_required() -> None:
    model = _model(0)
    ckpt = _state_of(_hand_built(torch.optim.Adam, model), model)
    for group in ckpt.optimizer_state["param_groups"]:  # as an older torch saved it
        for key in ("decoupled_weight_decay", "fused", "capturable", "differentiable"):
            del group[key]
    fresh = _hand_built(torch.optim.Adam, model)
    restore(ckpt, fresh)
    assert fresh.param_groups[0]["decoupled_weight_decay"] is False  # filled in by torch
    model(torch.ones(2, 3)).square().sum().backward()
    fresh.step()


def test_a_scheduler_of_another_optimizer_is_refused(saved: dict[str, Path]) -> None:
    ckpt = load_checkpoint(saved["adamw"])
    _, old_opt, old_sched = _build("adamw", seed=1)
    model, new_opt, new_sched = _build("adamw", seed=1)
    before = _snapshot(model, new_opt, new_sched), _snapshot(model, old_opt, old_sched)
    with pytest.raises(
        StateError,
        match=r"scheduler: it drives another optimizer \(a torch\.optim\.AdamW\), not the "
        r"torch\.optim\.AdamW being restored.*build the scheduler on the optimizer you restore",
    ):
        restore(ckpt, new_opt, old_sched, model)
    after = _snapshot(model, new_opt, new_sched), _snapshot(model, old_opt, old_sched)
    assert _same(after, before)
    restore(ckpt, new_opt, new_sched, model)  # its own scheduler: resumed
    assert new_sched.last_epoch == 2
    assert new_opt.param_groups[0]["lr"] == ckpt.optimizer_state["param_groups"][0]["lr"]


SCHEDULERS: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "ScheduleLR": lambda opt: make_scheduler(opt, SCHEDULE),
    "HyperScheduleLR": lambda opt: make_scheduler(
        opt, HyperSchedules(lr=SCHEDULE, momentum=Ramp(steps=4, start_scale=0.5))
    ),
    "torch ExponentialLR": lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5),
}


@pytest.mark.parametrize("kind", list(SCHEDULERS))
def test_every_kind_of_scheduler_of_another_optimizer_is_refused(kind: str, tmp_path: Path) -> None:
    def build() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
        model = _model(0)
        opt = make_optimizer(model, SGDSpec(learning_rate=0.1, momentum=0.9))
        return model, opt, SCHEDULERS[kind](opt)

    model, opt, sched = build()
    _train(model, opt, sched, 2)
    save_checkpoint(tmp_path / "c.pt", config=SGDSpec(), optimizer=opt, scheduler=sched)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    _, old_opt, old_sched = build()
    model, new_opt, new_sched = build()
    before = _snapshot(model, new_opt, new_sched), _snapshot(model, old_opt, old_sched)
    with pytest.raises(StateError, match=r"scheduler: it drives another optimizer"):
        restore(ckpt, new_opt, old_sched)
    after = _snapshot(model, new_opt, new_sched), _snapshot(model, old_opt, old_sched)
    assert _same(after, before)
    restore(ckpt, new_opt, new_sched)
    assert new_sched.last_epoch == 2
    assert [g["lr"] for g in new_opt.param_groups] == [g["lr"] for g in opt.param_groups]
