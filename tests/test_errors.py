"""optfn.errors: one hierarchy; each kind of mistake has its class, all under OptfnError."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optfn import (
    AdamWSpec,
    WarmupCosine,
    load_checkpoint,
    make_optimizer,
    make_scheduler,
    restore,
    save_checkpoint,
)
from optfn.checkpoint import check_layout, param_layout
from optfn.errors import ConfigError, OptfnError, SpecError, SpecTypeError, StateError
from optfn.io import from_dict
from optfn.optim.muon import MuonWithAdamW


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (SpecError, ValueError),
        (SpecTypeError, TypeError),
        (StateError, ValueError),
        (ConfigError, ValueError),
    ],
)
def test_every_error_is_an_optfn_error_and_a_builtin_one(cls: type, builtin: type) -> None:
    assert issubclass(cls, OptfnError) and issubclass(cls, builtin)
    assert not issubclass(OptfnError, (ValueError, TypeError))


def test_spec_errors_keep_their_parts() -> None:
    err = SpecError("AdamWSpec", "eps", "must be > 0, got 0")
    assert str(err) == "AdamWSpec.eps: must be > 0, got 0"
    assert (err.owner, err.field, err.reason) == ("AdamWSpec", "eps", "must be > 0, got 0")
    arg = SpecTypeError("", "param group 0 (route 'muon')", "'lr' must be a real number")
    assert str(arg) == "param group 0 (route 'muon'): 'lr' must be a real number"
    assert ConfigError(["a: b"], "f.toml").problems == ["a: b"]


def test_catching_optfn_error_catches_optfn_mistakes_only() -> None:
    caught = []
    for make in (
        lambda: AdamWSpec(learning_rate=0.0),
        lambda: AdamWSpec(learning_rate="1"),
        lambda: from_dict({"type": "adamw", "lr": 1}),
    ):
        with pytest.raises(OptfnError) as info:
            make()
        caught.append(type(info.value).__name__)
    assert caught == ["SpecError", "SpecTypeError", "ConfigError"]
    with pytest.raises(ZeroDivisionError):  # a bug is not an OptfnError
        try:
            _ = 1 / 0
        except OptfnError:  # pragma: no cover - must not happen
            pytest.fail("ZeroDivisionError caught as an OptfnError")


def _muon_group(w: torch.Tensor) -> dict[str, object]:
    return {
        "params": [w],
        "param_names": ["w"],
        "route": "muon",
        "lr": 0.02,
        "weight_decay": 0.0,
        "momentum": 0.95,
        "nesterov": True,
        "ns_coefficients": (3.4445, -4.775, 2.0315),
        "ns_steps": 5,
        "eps": 1e-7,
        "adjust_lr_fn": "original",
    }


def _adamw_group(b: torch.Tensor) -> dict[str, object]:
    return {
        "params": [b],
        "param_names": ["b"],
        "route": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
    }


def test_muon_group_values_are_spec_errors_and_loaded_states_state_errors() -> None:
    w, b = torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4))
    with pytest.raises(SpecError) as info:
        MuonWithAdamW([{**_muon_group(w), "route": "sgd"}])
    assert str(info.value) == (
        "param group 0: unknown route 'sgd'; expected one of ('muon', 'adamw')"
    )
    with pytest.raises(SpecTypeError) as type_info:
        MuonWithAdamW([{**_muon_group(w), "nesterov": 1}])
    assert str(type_info.value) == "param group 0 (route 'muon'): 'nesterov' must be a bool, got 1"
    opt = MuonWithAdamW([_muon_group(w), _adamw_group(b)])
    swapped = MuonWithAdamW([_adamw_group(b), _muon_group(w)])
    with pytest.raises(StateError) as state_info:
        opt.load_state_dict(swapped.state_dict())
    assert str(state_info.value) == (
        "param group 0: loaded state_dict has route 'adamw', this optimizer 'muon'"
    )
    one = MuonWithAdamW([_muon_group(w)])
    with pytest.raises(
        StateError, match=r"^loaded state_dict has 2 param groups, this optimizer 1$"
    ):
        one.load_state_dict(opt.state_dict())


def test_checkpoint_mismatches_are_state_errors(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    opt = make_optimizer(model, AdamWSpec())
    save_checkpoint(tmp_path / "c.pt", config=AdamWSpec(), optimizer=opt)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    other = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    with pytest.raises(StateError, match=r"does not match the checkpoint at parameter #0"):
        restore(ckpt, make_optimizer(other, AdamWSpec()))
    with pytest.raises(StateError, match="saved without a model state"):
        restore(ckpt, make_optimizer(model, AdamWSpec()), model=model)
    fresh = make_optimizer(model, AdamWSpec())
    with pytest.raises(StateError, match="saved without a scheduler state"):
        restore(ckpt, fresh, make_scheduler(fresh, WarmupCosine(warmup_steps=1, total_steps=5)))
    with pytest.raises(StateError, match="'w' \\[3\\] in group 0"):
        check_layout(((("w", (2,)),),), ((("w", (3,)),),))
    torch.save({"not": "a checkpoint"}, tmp_path / "x.pt")
    with pytest.raises(StateError, match="is not an optfn checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    unnamed = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(SpecError) as info:
        param_layout(unnamed)
    assert info.value.field == "optimizer.param_groups[0]"


def test_config_error_message_is_bounded_and_escaped() -> None:
    err = ConfigError([f"k{i}: unknown key" for i in range(200)], "run\x1b[2J.toml")
    text = str(err)
    assert len(err.problems) == 200
    assert text.splitlines()[0] == "invalid config 'run\\x1b[2J.toml' (200 problems):"
    assert len(text.splitlines()) == ConfigError.MAX_SHOWN + 2
    assert text.endswith(f"  ... and {200 - ConfigError.MAX_SHOWN} more")
    assert str(ConfigError(["x: bad"], "plain.toml")).startswith("invalid config plain.toml (1")
