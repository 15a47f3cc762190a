"""The examples of the README and the docs do what their text says.

``tests/docs/test_docs_pages.py`` checks that every block runs; here, a page is run as a reader
would (top to bottom, in a fresh interpreter, see ``tests/docs/docs_runner.py``) up to one example,
and then assertions on what the example built. Each test names the page and the heading (or a
line of the example) it checks.
"""

from __future__ import annotations

from pathlib import Path

from tests.docs.docs_runner import ROOT, run_until

README = ROOT / "README.md"
DOCS = ROOT / "docs"


def check(page: Path, marker: str, code: str) -> None:
    result = run_until(page, marker, code)
    assert result.ok, result.report()


def test_readme_is_a_front_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    for command in ("make demo", "make test"):
        assert command in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci and "\nmake docs\n" in ci  # CI runs the README's test command


def test_readme_links_resolve() -> None:
    import re

    text = README.read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "the README links into the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_quick_start_runs() -> None:
    check(
        README,
        "## Quick start",
        "assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 4\n"
        "assert sched.last_epoch == 1000\n",
    )


def test_toml_config_example_loads_and_builds() -> None:
    check(
        README,
        "## Configs that travel",
        "from optfn import MuonWithAdamW, OptimConfig\n"
        "assert isinstance(cfg, OptimConfig)\n"
        "assert isinstance(opt, MuonWithAdamW)\n"
        "assert cfg.schedule.warmup_steps == 100\n"
        "assert dict(cfg.rules.lr_scales)['scoring_head'] == 5.0\n",
    )


def test_own_optimizer_example_registers_and_builds() -> None:
    check(
        DOCS / "extending.md",
        "### Your own optimizer",
        "import torch\n"
        "from optfn import from_dict, to_dict\n"
        "assert isinstance(opt, torch.optim.SGD)\n"
        "got = [(g['lr'], g['momentum'], g['weight_decay']) for g in opt.param_groups]\n"
        "assert got == [(0.05, 0.9, 1e-4), (0.05, 0.9, 0.0)], got\n"
        "spec = SGDMomentumSpec(momentum=0.5)\n"
        "assert from_dict(to_dict(spec)) == spec\n",
    )


_STEP = """
def step(n):
    for _ in range(n):
        opt.step()
        sched.step()
"""


def test_recipe_muon_momentum_warmup() -> None:
    check(
        DOCS / "hyperparameters.md",
        "#### Recipe: Muon momentum warm-up",
        _STEP
        + """
muon = [g for g in opt.param_groups if g["route"] == "muon"]
assert muon and abs(muon[0]["momentum"] - 0.85) < 1e-15
step(150)
assert abs(muon[0]["momentum"] - 0.90) < 1e-12  # halfway: (1 - 0.5) * 0.85 + 0.5 * 0.95
assert muon[0]["lr"] == 0.02  # stable phase of the WSD LR
step(150)
assert muon[0]["momentum"] == 0.95
""",
    )


def test_recipe_cosine_weight_decay() -> None:
    check(
        DOCS / "hyperparameters.md",
        "#### Recipe: a cosine weight-decay schedule",
        _STEP
        + """
groups = opt.param_groups
decaying = [g for g in groups if g["weight_decay"] > 0]
assert decaying and abs(decaying[0]["weight_decay"] - 0.04) < 1e-15
step(5000)
assert abs(decaying[0]["weight_decay"] - 0.22) < 1e-12  # the cosine's midpoint
step(5000)
assert decaying[0]["weight_decay"] == 0.4
assert all(g["weight_decay"] == 0.0 for g in groups if all(g is not d for d in decaying))
""",
    )


def test_recipe_one_cycle_sgd_matches_torch() -> None:
    check(
        DOCS / "hyperparameters.md",
        "#### Recipe: OneCycle with SGD",
        _STEP
        + """
import torch
theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.5)
theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=0.1, total_steps=10_000)
ours = opt.param_groups[0]
for _ in range(10_000):
    t = theirs_opt.param_groups[0]
    assert abs(ours["lr"] - t["lr"]) <= 1e-12 * t["lr"]
    assert abs(ours["momentum"] - t["momentum"]) <= 1e-12 * t["momentum"]
    theirs_opt.step()
    theirs.step()
    step(1)
""",
    )


def test_porting_block_reproduces_torch_and_hf() -> None:
    check(
        DOCS / "porting.md",
        "seq = torch.optim.lr_scheduler.SequentialLR",
        """
import numpy as np
from optfn import Join, WarmupCosine, lr_curve, schedule_from_hf
assert isinstance(schedule, Join)
lrs = []
for _ in range(200):
    lrs.append(opt.param_groups[0]["lr"] / 0.1)
    opt.step()
    seq.step()
curve = lr_curve(schedule, 200)
assert curve[0] == 0.01
np.testing.assert_allclose(curve, lrs, rtol=1e-12, atol=1e-15)
assert schedule_from_hf("cosine", num_warmup_steps=500, num_training_steps=10_000) == (
    WarmupCosine(warmup_steps=500, total_steps=10_000, warmup_ramp="s/W")
)
""",
    )


def test_labeled_groups_example_runs() -> None:
    check(
        DOCS / "routing.md",
        "## Labeled groups: `LabelRule`",
        """
head = next(g for g in opt.param_groups if "head.weight" in g["param_names"])
assert head["label"] == "head" and head["lr"] == 5e-4 and head["weight_decay"] == 0.1
""",
    )


def test_global_step_and_sum_example_runs() -> None:
    check(
        DOCS / "schedules.md",
        "modded = Sum(",
        """
from optfn import lr_curve
assert lr_curve(timm, 501)[500] < 1.0  # the cosine runs on the global step
assert lr_curve(modded, 1600)[-1] == 0.6 * 0.0 + 0.15
""",
    )


def test_normuon_example_runs() -> None:
    check(
        DOCS / "muon.md",
        "## NorMuon: Muon as the speedrun runs it",
        """
routes = [(g["route"], g["label"]) for g in opt.param_groups]
assert routes == [("normuon", "mlp_bank"), ("adam", "scalars")], routes
""",
    )
