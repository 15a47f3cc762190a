"""Model states of ``torch.compile``d and DDP-wrapped models restore into the bare model, and
the other way round, while a real mismatch is still refused and changes nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from optfn import make_optimizer
from optfn.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint
from optfn.errors import StateError
from optfn.routing.walk import unwrap
from optfn.specs.optimizers import AdamWSpec

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)

Wrap = Callable[[nn.Module], nn.Module]


def _compiled(m: nn.Module) -> nn.Module:
    out: nn.Module = torch.compile(m)  # an OptimizedModule: nothing compiles until a forward
    return out


#: How a model is held when it is saved or restored; the DDP ones need :func:`_group`.
WRAPS: dict[str, Wrap] = {
    "bare": lambda m: m,
    "compiled": _compiled,
    "ddp": DDP,
    "compiled_ddp": lambda m: _compiled(DDP(m)),
    "ddp_compiled": lambda m: DDP(_compiled(m)),
}
PREFIX = {
    "bare": "",
    "compiled": "_orig_mod.",
    "ddp": "module.",
    "compiled_ddp": "_orig_mod.module.",
    "ddp_compiled": "module._orig_mod.",
}


@pytest.fixture
def group() -> Iterator[None]:
    """A one-process gloo group, as DDP needs one."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _train(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    """One step on the bare model: every parameter, the moments and BatchNorm's statistics
    move away from a fresh build's."""
    bare = unwrap(model)
    if isinstance(bare, nn.Sequential):  # an inner compiled block: run it uncompiled
        bare = _unwrap_inner(bare)
    bare(torch.randn(5, 3)).pow(2).sum().backward()
    opt.step()
    opt.zero_grad()


def _unwrap_inner(model: nn.Sequential) -> nn.Sequential:
    """The same modules, each seen through its wrappers."""
    return nn.Sequential(*(unwrap(m) for m in model))


class Holder(nn.Module):
    """A user's own model whose only submodule is really called ``module`` (not a wrapper)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.module = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(x)
        return out


def _save(tmp_path: Path, model: nn.Module) -> tuple[Checkpoint, torch.optim.Optimizer]:
    opt = make_optimizer(model, AdamWSpec())
    _train(model, opt)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, config=AdamWSpec(), optimizer=opt, model=model)
    return load_checkpoint(path), opt


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[Any, Any]:
    return copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())


def _unchanged(before: tuple[Any, Any], model: nn.Module, opt: torch.optim.Optimizer) -> bool:
    def same(x: Any, y: Any) -> bool:
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and torch.equal(x, y)
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return len(x) == len(y) and all(same(p, q) for p, q in zip(x, y, strict=True))
        return bool(x == y)

    return same(before, _snapshot(model, opt))


def _edited(ckpt: Checkpoint, edit: Callable[[dict[str, Any]], object]) -> Checkpoint:
    assert ckpt.model_state is not None
    state = dict(ckpt.model_state)
    edit(state)
    return attrs.evolve(ckpt, model_state=state)


@pytest.mark.parametrize("loaded_as", list(WRAPS))
@pytest.mark.parametrize("saved_as", list(WRAPS))
def test_a_state_restores_through_any_wrapper(
    tmp_path: Path, request: pytest.FixtureRequest, saved_as: str, loaded_as: str
) -> None:
    if "ddp" in saved_as + loaded_as:
        request.getfixturevalue("group")
    source = _net(seed=0)
    ckpt, source_opt = _save(tmp_path, WRAPS[saved_as](source))
    assert ckpt.model_state is not None
    # the file holds the names as the saved model had them (the format is unchanged)
    assert sorted(ckpt.model_state) == sorted(PREFIX[saved_as] + k for k in source.state_dict())

    target = _net(seed=1)
    assert not _same_state(target, source)
    held = WRAPS[loaded_as](target)
    opt = make_optimizer(held, AdamWSpec())
    versions: list[object] = []
    target[1].register_load_state_dict_pre_hook(
        lambda _m, _s, _p, meta, *_: versions.append(meta.get("version"))
    )
    restore(ckpt, opt, model=held)

    assert _same_state(target, source)  # every parameter and buffer, BatchNorm's included
    assert torch.equal(
        opt.state[target[0].weight]["exp_avg"], source_opt.state[source[0].weight]["exp_avg"]
    )
    assert versions == [2]  # the saved modules' versions reach BatchNorm under its own path


@pytest.mark.parametrize(
    ("saved_as", "loaded_as"),
    [("bare", "bare"), ("ddp", "bare"), ("bare", "ddp"), ("ddp", "compiled"), ("compiled", "ddp")],
)
def test_a_submodule_called_module_keeps_its_name(
    tmp_path: Path, group: None, saved_as: str, loaded_as: str
) -> None:
    source = Holder(seed=0)
    assert all(k.startswith("module.") for k in source.state_dict())  # like a DDP state
    ckpt, _ = _save(tmp_path, WRAPS[saved_as](source))
    assert ckpt.model_state is not None
    assert sorted(ckpt.model_state) == sorted(PREFIX[saved_as] + k for k in source.state_dict())
    target = Holder(seed=1)
    held = WRAPS[loaded_as](target)
    restore(ckpt, make_optimizer(held, AdamWSpec()), model=held)
    assert _same_state(target, source)


def test_a_state_unwrapped_into_other_names_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """Every saved name starts with ``module.``, but without it they are not the model's."""
    ckpt, _ = _save(tmp_path, Holder(seed=0))  # module.weight, module.bias
    holder = Holder(seed=1)
    opt = make_optimizer(holder, AdamWSpec())
    _train(holder, opt)  # the optimizer has state a refused restore must keep
    other = nn.Sequential(nn.Linear(3, 2))  # 0.weight, 0.bias: not weight, bias
    before, before_holder = _snapshot(other, opt), _snapshot(holder, opt)
    with pytest.raises(StateError, match=r"model: '0\.bias' is only in the model; the model"):
        restore(ckpt, opt, model=other)
    assert _unchanged(before, other, opt) and _unchanged(before_holder, holder, opt)


def test_a_state_restores_around_an_inner_compiled_block(tmp_path: Path) -> None:
    """``model[0] = torch.compile(model[0])``: ``0._orig_mod.weight``, partition's ``0.weight``."""
    source = _net(seed=0)
    source[0] = _compiled(source[0])
    ckpt, _ = _save(tmp_path, source)
    assert ckpt.model_state is not None and "0._orig_mod.weight" in ckpt.model_state
    target = _net(seed=1)
    restore(ckpt, make_optimizer(target, AdamWSpec()), model=target)
    assert _same_state(target, _unwrap_inner(source))

    again = _net(seed=2)
    again[2] = _compiled(again[2])
    restore(ckpt, make_optimizer(again, AdamWSpec()), model=again)
    assert _same_state(_unwrap_inner(again), _unwrap_inner(source))


@pytest.mark.parametrize(
    ("saved_as", "loaded_as", "edit", "message"),
    [
        (
            "compiled",
            "bare",
            lambda s: s.update({"_orig_mod.extra": torch.zeros(1)}),
            r"model: 'extra' is only in the checkpoint \(after removing the wrapper prefix "
            r"'_orig_mod\.' from the checkpoint's names\); the model does not match",
        ),
        (
            "compiled",
            "bare",
            lambda s: s.pop("_orig_mod.2.bias"),
            r"model: '2\.bias' is only in the model \(after removing the wrapper prefix "
            r"'_orig_mod\.' from the checkpoint's names\)",
        ),
        (
            "compiled_ddp",
            "bare",
            lambda s: s.update({"_orig_mod.module.0.weight": torch.zeros(5, 5)}),
            r"model: '0\.weight' has shape \[5, 5\] in the checkpoint and \[4, 3\] in the model "
            r"\(after removing the wrapper prefix '_orig_mod\.module\.' from the checkpoint's",
        ),
        (
            "bare",
            "compiled",
            lambda s: s.update({"1.extra": torch.zeros(1)}),
            r"model: '1\.extra' is only in the checkpoint \(after removing the wrapper prefix "
            r"'_orig_mod\.' from the model's names\)",
        ),
        (
            "ddp",
            "compiled",
            lambda s: s.update({"module.1.weight": torch.zeros(4, dtype=torch.complex64)}),
            r"model: '1\.weight' is a torch\.complex64 tensor on cpu in the checkpoint, which "
            r"cannot be copied into the model's torch\.float32 \(after removing the wrapper "
            r"prefix 'module\.' from the checkpoint's names and '_orig_mod\.' from the model's",
        ),
        (
            "bare",
            "bare",
            lambda s: s.update({"_orig_mod.extra": torch.zeros(1)}),
            r"model: '_orig_mod\.extra' is only in the checkpoint; the model does not match",
        ),
    ],
)
def test_a_real_mismatch_is_still_refused_and_changes_nothing(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    saved_as: str,
    loaded_as: str,
    edit: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    if "ddp" in saved_as + loaded_as:
        request.getfixturevalue("group")
    ckpt, _ = _save(tmp_path, WRAPS[saved_as](_net(seed=0)))
    target = _net(seed=1)
    held = WRAPS[loaded_as](target)
    opt = make_optimizer(held, AdamWSpec())
    _train(held, opt)
    before = _snapshot(target, opt)
    with pytest.raises(StateError, match=message):
        restore(_edited(ckpt, edit), opt, model=held)
    assert _unchanged(before, target, opt)


def test_a_real_mismatch_under_a_module_submodule_names_it_as_saved(
    tmp_path: Path, group: None
) -> None:
    """DDP around a model with a real ``module``: one ``module.`` goes, the other stays."""
    ckpt, _ = _save(tmp_path, DDP(Holder(seed=0)))  # module.module.weight, module.module.bias
    target = Holder(seed=1)
    opt = make_optimizer(target, AdamWSpec())
    before = _snapshot(target, opt)
    edited = _edited(ckpt, lambda s: s.update({"module.module.extra": torch.zeros(1)}))
    with pytest.raises(
        StateError,
        match=r"model: 'module\.extra' is only in the checkpoint \(after removing the wrapper "
        r"prefix 'module\.' from the checkpoint's names\)",
    ):
        restore(edited, opt, model=target)
    assert _unchanged(before, target, opt)
