"""The schedulers moved from ``optfn.scheduler`` to ``optfn.build``: what was saved before loads.

optfn's checkpoints hold a scheduler's ``state_dict`` (plain data, no class path), but a
scheduler pickled whole names its classes by module. ``tests/data/
schedulers_pickled_from_optfn_scheduler.pt`` was written by ``torch.save`` with the schedulers
still in ``optfn/scheduler.py``: a ``ScheduleLR`` (``WarmupCosine(warmup_steps=2,
total_steps=6)``, 3 steps done, on an SGD with lr 0.1) and a ``HyperScheduleLR`` (``lr`` and
``momentum`` each ``LinearDecay(decay_steps=4)``, 1 step done, on an SGD with lr 1.0 and
momentum 0.9).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

import optfn
from optfn import make_scheduler
from optfn.build import HyperScheduleLR, ScheduleLR
from optfn.schedules import HyperSchedules, LinearDecay, WarmupCosine

DATA = Path(__file__).resolve().parents[1] / "data"
OLD = DATA / "schedulers_pickled_from_optfn_scheduler.pt"


def _uninterrupted(
    schedule: WarmupCosine | HyperSchedules, steps: int, **group: float
) -> list[tuple[float, ...]]:
    """(lr, momentum) of an uninterrupted run after each of ``steps`` steps."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], **group)  # type: ignore[arg-type]
    sched = make_scheduler(opt, schedule)
    out: list[tuple[float, ...]] = []
    for _ in range(steps):
        opt.step()
        sched.step()
        g = opt.param_groups[0]
        out.append((g["lr"], g["momentum"]))
    return out


def test_schedulers_pickled_under_the_old_path_load_and_continue() -> None:
    saved = torch.load(OLD, weights_only=False)
    plain, hyper = saved["scheduler"], saved["hyper"]
    assert type(plain) is ScheduleLR and type(hyper) is HyperScheduleLR
    assert (plain.last_epoch, hyper.last_epoch) == (3, 1)

    want = _uninterrupted(WarmupCosine(warmup_steps=2, total_steps=6), 6, lr=0.1, momentum=0.9)
    got = []
    for _ in range(3):
        plain.optimizer.step()
        plain.step()
        got.append((plain.optimizer.param_groups[0]["lr"], 0.9))
    assert got == want[3:]

    both = HyperSchedules(lr=LinearDecay(decay_steps=4), momentum=LinearDecay(decay_steps=4))
    want = _uninterrupted(both, 4, lr=1.0, momentum=0.9)
    got = []
    for _ in range(3):
        hyper.optimizer.step()
        hyper.step()
        g = hyper.optimizer.param_groups[0]
        got.append((g["lr"], g["momentum"]))
    assert got == want[1:]


def test_the_file_names_the_old_module() -> None:
    """The fixture really holds the old class paths (else the test above proves nothing)."""
    import zipfile

    with zipfile.ZipFile(OLD) as z:
        data = b"".join(z.read(n) for n in z.namelist() if n.endswith(".pkl"))
    names = set(re.findall(rb"optfn\.[\w.]+", data))
    assert b"optfn.scheduler" in names
    assert not any(n.startswith(b"optfn.build") for n in names)


def test_new_pickles_name_optfn_build_and_round_trip() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    sched = make_scheduler(opt, WarmupCosine(warmup_steps=2, total_steps=6))
    data = pickle.dumps(sched)
    names = set(re.findall(rb"optfn\.[\w.]+", data))
    assert b"optfn.build.schedule_lr" in names and b"optfn.scheduler" not in names
    back = pickle.loads(data)
    assert type(back) is ScheduleLR and back.state_dict() == sched.state_dict()


def test_the_old_import_path_gives_the_same_objects() -> None:
    import optfn.scheduler as old

    assert old.ScheduleLR is optfn.ScheduleLR is ScheduleLR
    assert old.HyperScheduleLR is HyperScheduleLR
    assert old.make_scheduler is optfn.make_scheduler
