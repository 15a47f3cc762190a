"""make_optimizer and the spec-method API (create_optimizer & co.)."""

from __future__ import annotations

import math
import socket

import pytest
import torch
from torch import nn

from optfn import (
    AdamSpec,
    AdamWSpec,
    ParamRules,
    build_optimizer,
    make_optimizer,
    partition_params,
)


class DenseNetwork(nn.Module):
    """A small network: an encoder and a scoring head."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 8))
        self.scoring_head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scoring_head(self.encoder(x))


def _lr_of(opt: torch.optim.Optimizer, param: torch.Tensor) -> float:
    for g in opt.param_groups:
        if any(p is param for p in g["params"]):
            return float(g["lr"])
    raise AssertionError("parameter not in any group")


def _wd_of(opt: torch.optim.Optimizer, param: torch.Tensor) -> float:
    return next(
        float(g["weight_decay"]) for g in opt.param_groups if any(p is param for p in g["params"])
    )


@pytest.mark.parametrize(
    ("spec", "cls"),
    [(AdamSpec(), torch.optim.Adam), (AdamWSpec(), torch.optim.AdamW)],
)
def test_make_optimizer_picks_the_torch_class(spec: object, cls: type) -> None:
    opt = make_optimizer(DenseNetwork(), spec, ParamRules())  # type: ignore[arg-type]
    assert type(opt) is cls
    g = opt.param_groups[0]
    assert g["betas"] == spec.betas and g["eps"] == spec.eps  # type: ignore[attr-defined]


def test_spec_methods_create_optimizer_with_multipliers() -> None:
    net = DenseNetwork()
    spec = AdamWSpec(learning_rate=0.001, lr_decay_gamma=0.95)
    opt = spec.create_optimizer(model=net, lr_multipliers={net.scoring_head: 5.0})
    assert isinstance(opt, torch.optim.AdamW)
    assert _lr_of(opt, net.scoring_head.weight) == pytest.approx(0.005)
    assert _lr_of(opt, net.scoring_head.bias) == pytest.approx(0.005)
    assert _lr_of(opt, net.encoder[0].weight) == 0.001
    # the spec-method API decays uniformly: biases and norms too
    assert {_wd_of(opt, p) for p in net.parameters()} == {0.01}


def test_spec_methods_nested_multipliers_deepest_wins() -> None:
    net = DenseNetwork()
    opt = AdamSpec().create_optimizer(net, {net.encoder: 0.1, net.encoder[3]: 2.0})
    assert _lr_of(opt, net.encoder[0].weight) == pytest.approx(1e-4)
    assert _lr_of(opt, net.encoder[3].weight) == pytest.approx(2e-3)
    assert _lr_of(opt, net.scoring_head.weight) == 1e-3


def test_spec_methods_rules_can_be_passed() -> None:
    net = DenseNetwork()
    opt = AdamWSpec().create_optimizer(net, rules=ParamRules())
    assert _wd_of(opt, net.encoder[0].bias) == 0.0 and _wd_of(opt, net.encoder[0].weight) == 0.01


def test_spec_methods_multiple_models_shared_once() -> None:
    a, b = DenseNetwork(), DenseNetwork()
    b.scoring_head = a.scoring_head  # shared module
    opt = AdamWSpec().create_optimizer_for_multiple([a, b], {a.scoring_head: 3.0})
    params = [p for g in opt.param_groups for p in g["params"]]
    assert (
        len(params)
        == len({id(p) for p in params})
        == len({id(p) for p in [*a.parameters(), *b.parameters()]})
    )
    assert _lr_of(opt, b.scoring_head.weight) == pytest.approx(0.003)
    names = [n for g in opt.param_groups for n in g["param_names"]]
    assert "0.scoring_head.weight" in names and "1.encoder.0.weight" in names


def test_spec_methods_create_scheduler_is_exponential_lr() -> None:
    net = DenseNetwork()
    spec = AdamWSpec(learning_rate=0.01, lr_decay_gamma=0.9)
    opt = spec.create_optimizer(net, {net.scoring_head: 5.0})
    sched = spec.create_scheduler(opt)
    assert type(sched) is torch.optim.lr_scheduler.ExponentialLR
    for _ in range(3):
        opt.step()
        sched.step()
    assert _lr_of(opt, net.encoder[0].weight) == pytest.approx(0.01 * 0.9**3)
    assert _lr_of(opt, net.scoring_head.weight) == pytest.approx(0.05 * 0.9**3)
    assert AdamWSpec().create_scheduler(opt) is None


@pytest.mark.parametrize(
    ("mult", "exc", "text"),
    [
        (0.0, ValueError, "must be finite and > 0, got 0.0"),
        (math.nan, ValueError, "must be finite and > 0, got nan"),
        (-2.0, ValueError, "must be finite and > 0"),
        ("5", TypeError, "must be a number"),
        (True, TypeError, "must be a number"),
    ],
)
def test_bad_multiplier(mult: object, exc: type[Exception], text: str) -> None:
    net = DenseNetwork()
    with pytest.raises(exc, match=r"lr_multipliers\[Linear\]: " + text.replace("(", r"\(")):
        AdamWSpec().create_optimizer(net, {net.scoring_head: mult})  # type: ignore[dict-item]


def test_multiplier_key_not_in_model() -> None:
    with pytest.raises(ValueError, match="not inside the model"):
        AdamWSpec().create_optimizer(DenseNetwork(), {nn.Linear(8, 1): 5.0})


def test_all_frozen_is_a_clear_error() -> None:
    net = DenseNetwork().requires_grad_(False)
    with pytest.raises(ValueError, match="DenseNetwork has no trainable parameter"):
        make_optimizer(net, AdamWSpec())
    with pytest.raises(ValueError, match=r"\[DenseNetwork, Linear\] has no trainable"):
        make_optimizer([net, nn.Linear(2, 2).requires_grad_(False)], AdamWSpec())


def test_spec_of_unknown_kind() -> None:
    with pytest.raises(
        TypeError,
        match=r"expected a registered optimizer spec \(AdamSpec, AdamWSpec, MuonSpec, SGDSpec, ",
    ):
        make_optimizer(DenseNetwork(), ParamRules())  # type: ignore[arg-type]


def test_state_dict_loads_into_a_fresh_build() -> None:
    torch.manual_seed(0)
    net = DenseNetwork()
    rules = ParamRules(lr_scales={"scoring_head": 5.0})
    opt = make_optimizer(net, AdamWSpec(), rules)
    x = torch.randn(16, 6)
    for _ in range(3):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    again = make_optimizer(net, AdamWSpec(), rules)
    again.load_state_dict(opt.state_dict())
    for g1, g2 in zip(opt.param_groups, again.param_groups, strict=True):
        assert g1["param_names"] == g2["param_names"]
        for p in g1["params"]:
            assert torch.equal(opt.state[p]["exp_avg"], again.state[p]["exp_avg"])


def test_builders_build_optimizer_groups() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    opt = build_optimizer(model)
    assert isinstance(opt, torch.optim.AdamW)
    assert [(g["weight_decay"], g["param_names"]) for g in opt.param_groups] == [
        (0.05, ["0.weight", "2.weight"]),
        (0.0, ["0.bias", "1.weight", "1.bias", "2.bias"]),
    ]
    assert opt.param_groups[0]["betas"] == (0.9, 0.95) and opt.param_groups[0]["lr"] == 3e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ddp_wrapped_model_has_bare_names() -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        net = DenseNetwork()
        rules = ParamRules(lr_scales={"scoring_head": 5.0})
        bare = partition_params(net, rules)
        ddp = nn.parallel.DistributedDataParallel(net)
        assert next(iter(ddp.named_parameters()))[0].startswith("module.")
        wrapped = partition_params(ddp, rules)
        assert wrapped.names == bare.names and wrapped.lr_scales == bare.lr_scales
    finally:
        dist.destroy_process_group()
