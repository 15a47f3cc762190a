"""``torch.compile`` of optfn's optimizers and schedulers: with tensor LRs, a changing schedule
costs no recompile.

How the counts are read: ``torch._dynamo.utils.counters["stats"]["unique_graphs"]`` (every
graph dynamo compiled since ``torch._dynamo.reset()``). A function ``opt.step(); sched.step()``
compiles in pieces (torch's scheduler code is skipped by dynamo, so the scheduler step runs
eagerly, as with torch's own schedulers), and the count is of the optimizer's graphs.

Measured with torch 2.13 (CPU): compiled ``torch.optim.Muon`` with a tensor LR makes 1 graph
over 10 steps, and so does ``MuonWithAdamW``: its state is created in an ``_init_group``
method, which dynamo runs eagerly instead of tracing (as for torch's optimizers), so the step
that creates the state and the steps that find it share one graph. (Before that method, the
first step's state creation cost one recompile; and a per-step Python counter, which
``DistributedStats.add`` now skips while compiling, cost another.) With float LRs, torch 2.13
recompiles once when the LR first changes and then treats it as a dynamic float: torch's Muon
makes 2 graphs; the tensor LR is what makes the count independent of the schedule.

Most tests count with ``backend="eager"`` (dynamo's capture without code generation: the
recompile logic is the same, and a 2-core CPU runs them in seconds); one test runs inductor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

from optfn import (
    AdamWSpec,
    LabelRule,
    MuonRouting,
    MuonSpec,
    NorMuonSpec,
    ParamRules,
    make_optimizer,
)
from optfn.build.scheduler import make_scheduler
from optfn.optim.muon import MuonWithAdamW
from optfn.schedules import WarmupCosine
from tests.optim.test_muon import adamw_group, muon_group, torch_muon_kwargs

STEPS = 10
SCHEDULE = WarmupCosine(warmup_steps=3, total_steps=12)  # a new LR at every step


def graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


def fresh_dynamo() -> None:
    torch._dynamo.reset()
    counters.clear()


def run_compiled(
    params: list[nn.Parameter],
    opt: torch.optim.Optimizer,
    backend: str,
    *,
    compiled: bool = True,
) -> list[int]:
    """10 steps of ``opt.step(); sched.step()`` (compiled as one function) under
    ``SCHEDULE``, on fixed random gradients; the graph count after each step."""
    sched = make_scheduler(opt, SCHEDULE)

    def step() -> None:
        opt.step()
        sched.step()

    fn: Callable[[], None] = torch.compile(step, backend=backend) if compiled else step
    gen = torch.Generator().manual_seed(1)
    fresh_dynamo()
    counts = []
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        fn()
        counts.append(graphs())
    return counts


def muon_params(seed: int = 0) -> list[nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [
        nn.Parameter(torch.randn(8, 4, generator=gen)),
        nn.Parameter(torch.randn(5, 5, generator=gen)),
    ]


def hybrid(tensor: bool) -> tuple[list[nn.Parameter], MuonWithAdamW]:
    ps = [*muon_params(), nn.Parameter(torch.zeros(6))]

    def lr(x: float) -> Any:
        return torch.tensor(x) if tensor else x

    opt = MuonWithAdamW([muon_group(ps[:2], lr=lr(0.02)), adamw_group(ps[2:], lr=lr(1e-2))])
    return ps, opt


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_muon_with_adamw_tensor_lrs_compile_once_like_torch_muon() -> None:
    ps, opt = hybrid(tensor=True)
    lrs = [g["lr"] for g in opt.param_groups]
    mine = run_compiled(ps, opt, "eager")
    assert [g["lr"] for g in opt.param_groups] == lrs  # the same tensors, filled in place
    assert mine == [1] * STEPS, f"recompiled under the schedule: {mine}"
    assert all(len(opt.state[p]) > 0 for p in ps)  # the state was created (eagerly)

    theirs_params = muon_params()
    theirs = run_compiled(
        theirs_params,
        torch.optim.Muon(theirs_params, lr=torch.tensor(0.02), adjust_lr_fn="original"),
        "eager",
    )
    assert theirs == [1] * STEPS, theirs  # torch's own: one graph, no recompile


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_compiled_step_equals_compiled_torch_muon_and_eager_to_bf16() -> None:
    """Compiled, optfn's Muon step is compiled torch.optim.Muon's, bit for bit. Compiled and
    eager differ by bfloat16 rounding, for torch as for optfn: dynamo turns the tensor
    ``alpha`` of ``p.add_(ortho, alpha=-lr)`` into a product with the bfloat16 update."""
    results = {}
    for who in ("optfn", "torch"):
        for compiled in (True, False):
            ps = muon_params()
            group = muon_group(ps, lr=torch.tensor(0.02))
            opt: torch.optim.Optimizer = (
                MuonWithAdamW([group])
                if who == "optfn"
                else torch.optim.Muon(ps, **(torch_muon_kwargs(group) | {"lr": group["lr"]}))
            )
            run_compiled(ps, opt, "eager", compiled=compiled)
            results[who, compiled] = [p.detach().clone() for p in ps]
    for a, b in zip(results["optfn", True], results["torch", True], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(results["optfn", False], results["torch", False], strict=True):
        assert torch.equal(a, b)
    # each step moves a parameter by at most ~lr * sqrt(max(1, rows/cols)) (the update's
    # entries are < 1); bfloat16 rounds that product to 2**-8 relative
    bound = STEPS * 0.02 * 2**0.5 * 2**-8
    for a, b in zip(results["optfn", True], results["optfn", False], strict=True):
        diff = (a - b).abs().max().item()
        assert 0 < diff <= bound, diff  # not equal: bf16 rounding, as measured


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_adamw_groups_compiled_equal_compiled_torch_adamw() -> None:
    """Compiled, an adamw group's step is compiled torch.optim.AdamW's, bit for bit; both
    differ from eager by float32 rounding (compiled, torch computes the bias corrections in
    float32 tensors where eager uses Python floats)."""
    results = {}
    for who in ("optfn", "torch"):
        for compiled in (True, False):
            ps = [nn.Parameter(torch.linspace(-1, 1, 6))]
            group = adamw_group(ps, lr=torch.tensor(1e-2))
            opt: torch.optim.Optimizer = (
                MuonWithAdamW([group])
                if who == "optfn"
                else torch.optim.AdamW(
                    ps, lr=group["lr"], betas=group["betas"], weight_decay=group["weight_decay"]
                )
            )
            run_compiled(ps, opt, "aot_eager", compiled=compiled)
            results[who, compiled] = ps[0].detach().clone()
    assert torch.equal(results["optfn", True], results["torch", True])
    assert torch.equal(results["optfn", False], results["torch", False])
    torch.testing.assert_close(
        results["optfn", True], results["optfn", False], rtol=1e-4, atol=1e-6
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_adamw_groups_compiled_equal_compiled_capturable_torch_adamw(
    foreach: bool,
) -> None:
    """capturable=True (what torch.compile sets on GPU groups before their first step) runs
    torch's capturable kernels: compiled on CPU (torch allows capturable there only under
    compile), bit for bit compiled torch.optim.AdamW(capturable=True); foreach with a tensor
    LR too, as torch allows it when capturable. (That the flag reaches torch's kernel and
    where ``step`` is created: tests/optim/test_muon.py, with a spy and meta parameters.)"""
    results = {}
    for who in ("optfn", "torch"):
        ps = [nn.Parameter(torch.linspace(-1, 1, 6)), nn.Parameter(torch.linspace(2, 0, 4))]
        group = adamw_group(ps, lr=torch.tensor(1e-2), capturable=True, foreach=foreach)
        opt: torch.optim.Optimizer = (
            MuonWithAdamW([group])
            if who == "optfn"
            else torch.optim.AdamW(
                ps,
                lr=group["lr"],
                betas=group["betas"],
                weight_decay=group["weight_decay"],
                capturable=True,
                foreach=foreach,
            )
        )
        counts = run_compiled(ps, opt, "aot_eager")
        assert counts == [1] * STEPS, (who, counts)
        results[who] = [p.detach().clone() for p in ps]
    for a, b in zip(results["optfn"], results["torch"], strict=True):
        assert torch.equal(a, b)


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))


def train_compiled(opt: torch.optim.Optimizer, model: nn.Module, backend: str) -> list[int]:
    """Issue 16: the model and ``opt.step`` compiled apart, the scheduler stepped eagerly;
    the graph count after each step."""
    sched = make_scheduler(opt, SCHEDULE)
    cmodel = torch.compile(model, backend=backend)
    cstep = torch.compile(opt.step, backend=backend)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    fresh_dynamo()
    counts = []
    for _ in range(STEPS):
        (cmodel(x) - y).square().mean().backward()
        cstep()
        sched.step()
        opt.zero_grad()
        counts.append(graphs())
    return counts


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_inductor_adamw_from_make_optimizer_no_recompile_under_the_schedule() -> None:
    """The one inductor test (about 20 s on 2 CPU cores with a cold inductor cache): torch's
    AdamW built by optfn with ``tensor_lr=True``, the model and the step compiled, a
    WarmupCosine schedule."""
    model = tiny_model()
    opt = make_optimizer(model, AdamWSpec(learning_rate=1e-2), tensor_lr=True)
    counts = train_compiled(opt, model, "inductor")
    assert counts == [counts[0]] * STEPS, counts


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_muon_from_make_optimizer_no_recompile_under_the_schedule() -> None:
    model = tiny_model()
    rules = ParamRules(muon=MuonRouting.hidden_matrices())
    opt = make_optimizer(model, MuonSpec(), rules, tensor_lr=True)
    assert {g["route"] for g in opt.param_groups} == {"muon", "adamw"}
    counts = train_compiled(opt, model, "aot_eager")
    assert counts == [counts[0]] * STEPS, counts


# ---- NorMuon: the step as one graph per phase of the Adam cadence -----------------------------


def normuon_model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Module()
    m.bank = nn.Parameter(torch.randn(4, 16, 8))  # a tall bank, per-matrix LR factors
    m.wide = nn.Parameter(torch.randn(2, 6, 12))  # a wide bank
    m.vec = nn.Parameter(torch.randn(8))  # Adam
    return m


def normuon_optimizer(m: nn.Module, every: int) -> torch.optim.Optimizer:
    rules = ParamRules.uniform(
        labels=[
            LabelRule(label="bank", names=["bank"], route="normuon",
                      hyper={"per_matrix_lr_mul": [1.0, 2.0]}),
            LabelRule(label="wide", names=["wide"], route="normuon"),
        ]
    )  # fmt: skip
    return make_optimizer(m, NorMuonSpec(adam_every=every), rules, tensor_lr=True)


def normuon_twins(
    backend: str, *, every: int = 2, options: dict[str, Any] | None = None
) -> tuple[list[int], list[dict[str, tuple[torch.Tensor, torch.Tensor]]]]:
    """An eager optimizer and a ``fullgraph`` compiled one, fed the same gradients for STEPS
    steps under SCHEDULE (tensor LRs). Before each step the compiled twin's weights are set to
    the eager twin's, so each step's updates are compared from the same weights. Returns the
    graph count after each step and, per step and parameter, (eager update, compiled update).
    """
    eager_m, compiled_m = normuon_model(), normuon_model()
    eager, compiled = normuon_optimizer(eager_m, every), normuon_optimizer(compiled_m, every)
    fresh_dynamo()
    # compiled before the scheduler wraps ``opt.step`` (torch's wrapper lives in a file
    # dynamo skips, so fullgraph=True refuses it; torch's own optimizers alike)
    step = torch.compile(compiled.step, backend=backend, fullgraph=True, options=options)
    scheds = [make_scheduler(eager, SCHEDULE), make_scheduler(compiled, SCHEDULE)]
    gen = torch.Generator().manual_seed(1)
    counts, updates = [], []
    for _ in range(STEPS):
        with torch.no_grad():
            for a, b in zip(eager_m.parameters(), compiled_m.parameters(), strict=True):
                b.copy_(a)
        start = {n: p.detach().clone() for n, p in eager_m.named_parameters()}
        for a, b in zip(eager_m.parameters(), compiled_m.parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        eager.step()
        step()
        for sched in scheds:
            sched.step()
        counts.append(graphs())
        updates.append(
            {
                n: (a.detach() - start[n], b.detach() - start[n])
                for (n, a), b in zip(
                    eager_m.named_parameters(), compiled_m.parameters(), strict=True
                )
            }
        )
    return counts, updates


def assert_adam_close(updates: list[dict[str, tuple[torch.Tensor, torch.Tensor]]]) -> None:
    """The Adam parameter moves on odd steps only (every=2), in both; compiled, its update is
    eager's to float32 rounding (the traced ``add(alpha=...)`` is a multiply and an add)."""
    for s, step in enumerate(updates):
        want, got = step["vec"]
        assert bool(want.any()) is (s % 2 == 1) and bool(got.any()) is (s % 2 == 1), s
        assert (got - want).abs().max() <= 1e-5 * want.abs().max(), s


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_normuon_step_compiles_fullgraph_one_graph_per_adam_phase() -> None:
    """``fullgraph=True`` (no graph break) with tensor LRs under a changing schedule: one graph
    for the calls where Adam keeps the gradient, one for those where it steps, and no
    recompile after; every bank update equal to the eager one, bit for bit."""
    counts, updates = normuon_twins("aot_eager")
    assert counts == [1] + [2] * (STEPS - 1), counts
    for s, step in enumerate(updates):
        for name in ("bank", "wide"):
            want, got = step[name]
            assert want.abs().max() > 0 and torch.equal(got, want), (s, name)
    assert_adam_close(updates)
    counts, _ = normuon_twins("aot_eager", every=1)
    assert counts == [1] * STEPS, counts  # Adam on every call: one graph


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_normuon_step_has_no_graph_break() -> None:
    opt = normuon_optimizer(m := normuon_model(), every=2)
    for p in m.parameters():
        p.grad = torch.ones_like(p)
    fresh_dynamo()
    explained = torch._dynamo.explain(opt.step)()
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_normuon_inductor_equals_eager() -> None:
    """Inductor, the CPU code it generates (about 35 s on 2 shared cores, cold cache).

    With ``emulate_precision_casts`` (inductor rounds every bfloat16 intermediate as eager
    does) every bank update is eager's bit for bit. Without it (the default), inductor keeps
    the Polar Express normalization ``X / (||X|| * 1.02 + 1e-6)`` in float32 before one
    rounding, so the iteration starts a bfloat16 ulp away and ends at its own bfloat16 noise:
    per-step bank updates 3-9% apart (Frobenius) on these tiny matrices, measured with torch
    2.13, where eager bf16 Polar Express itself lands ~5% from the float64 one."""
    counts, updates = normuon_twins("inductor", options={"emulate_precision_casts": True})
    assert counts == [1] + [2] * (STEPS - 1), counts
    for s, step in enumerate(updates):
        for name in ("bank", "wide"):
            want, got = step[name]
            assert torch.equal(got, want), (s, name, (got - want).abs().max())
    assert_adam_close(updates)

    counts, updates = normuon_twins("inductor")
    assert counts == [1] + [2] * (STEPS - 1), counts
    for s, step in enumerate(updates):
        for name in ("bank", "wide"):
            want, got = step[name]
            assert (got - want).norm() <= 0.2 * want.norm(), (s, name)
    assert_adam_close(updates)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_normuon_float_lr_and_momentum_recompile_once() -> None:
    """Float ``lr`` and ``momentum`` written into the groups at every step (the record's
    momentum warm-up): the first graph holds them as constants, then dynamo makes them graph
    inputs, one graph per Adam phase, and no further recompile; the updates equal the eager
    ones (banks bit for bit)."""
    models = normuon_model(), normuon_model()
    opts = [
        make_optimizer(m, NorMuonSpec(adam_every=2), ParamRules.uniform(labels=[
            LabelRule(label="bank", names=["bank"], route="normuon",
                      hyper={"per_matrix_lr_mul": [1.0, 2.0]}),
        ]))
        for m in models
    ]  # fmt: skip
    fresh_dynamo()
    step = torch.compile(opts[1].step, backend="aot_eager", fullgraph=True)
    gen = torch.Generator().manual_seed(3)
    counts = []
    for s in range(STEPS):
        for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        for opt in opts:
            for g in opt.param_groups:
                g["lr"] = (0.02 if g["route"] == "normuon" else 0.008) * (1 - 0.05 * s)
                if g["route"] == "normuon":
                    g["momentum"] = 0.85 + 0.01 * s
        opts[0].step()
        step()
        counts.append(graphs())
        assert torch.equal(models[0].bank, models[1].bank), s
        diff = (models[0].vec - models[1].vec).abs().max()
        assert diff <= 1e-5 * models[0].vec.abs().max(), s
    assert counts == [1, 2] + [3] * (STEPS - 2), counts
