"""Every spec a docs table shows is valid Python as written, and the porting tables are true.

1. In README.md and every ``docs/**/*.md`` page, each backticked span in a markdown table cell
   that starts with the name of one of optfn's spec classes followed by ``(`` is evaluated
   with ``from optfn import *`` in scope and must build an instance of that class (keywords,
   concrete numbers: ``LinearWarmup(W, warmup_ramp="s/W")`` fails, as it would for a user).
2. ``docs/porting.md``'s three conversion tables hold: each torch row's scheduler, stepped on
   an optimizer at ``lr=0.1``, gives the row's spec's curve; each Hugging Face row's
   ``schedule_from_hf`` call gives the row's spec's curve; each optax row's schedule, evaluated
   by optax in float64, is the row's base LR times the row's spec's curve.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch

import optfn

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
PORTING = ROOT / "docs" / "porting.md"

#: The spec classes a table may show: every attrs class optfn exports.
SPEC_CLASSES: dict[str, type] = {
    name: obj
    for name in optfn.__all__
    if isinstance(obj := getattr(optfn, name), type) and attrs.has(obj)
}
_NAMES = "|".join(sorted(SPEC_CLASSES, key=len, reverse=True))
_SPEC_CALL = re.compile(rf"^({_NAMES})\(")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _tables(text: str) -> Iterator[tuple[int, list[list[str]]]]:
    """(line number of its header, rows of cells) for every markdown table outside code fences."""
    rows: list[list[str]] = []
    start = 0
    fenced = False
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            if not rows:
                start = number
            cells = line.strip().strip("|").split("|")
            if not all(re.fullmatch(r"\s*:?-+:?\s*", c) for c in cells):  # not the --- line
                rows.append([c.strip() for c in cells])
            continue
        if rows:
            yield start, rows
            rows = []


def _spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _spec_cells(path: Path) -> list[tuple[int, str]]:
    found = []
    for line, rows in _tables(path.read_text(encoding="utf-8")):
        for row in rows:
            for cell in row:
                found.extend((line, span) for span in _spans(cell) if _SPEC_CALL.match(span))
    return found


def _namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec("from optfn import *", namespace)
    return namespace


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_spec_in_a_table_builds_as_written(page: Path) -> None:
    namespace = _namespace()
    failures = []
    for line, code in _spec_cells(page):
        cls = SPEC_CLASSES[code.split("(", 1)[0]]
        try:
            value = eval(code, dict(namespace))
        except Exception as err:  # every failure is reported, with its cell
            where = f"{page.name}, table at line {line}: `{code}`"
            failures.append(f"{where}: {type(err).__name__}: {err}")
            continue
        if not isinstance(value, cls):
            failures.append(f"{page.name}, table at line {line}: `{code}` is not a {cls.__name__}")
    assert not failures, "\n".join(failures)


def test_the_spec_cells_are_found() -> None:
    """The finder sees the porting page's specs (a regex that matches nothing passes vacuously)."""
    cells = _spec_cells(PORTING)
    assert len(cells) >= 40
    assert any(code.startswith("Join(pieces=(LinearWarmup(") for _, code in cells)


def test_a_positional_spec_in_a_table_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '| a | b |\n|---|---|\n| `LinearWarmup(W, warmup_ramp="s/W")` | `Constant()` |\n\n'
        "```text\n| `LinearWarmup(1)` | in a code block: not a table |\n```\n"
    )
    cells = [code for _, code in _spec_cells(page)]
    assert cells == ['LinearWarmup(W, warmup_ramp="s/W")', "Constant()"]
    with pytest.raises(NameError):
        eval(cells[0], _namespace())


# ---- docs/porting.md: the conversion tables against the libraries they name ------------------


def _porting_table(first_header: str) -> list[list[str]]:
    for _, rows in _tables(PORTING.read_text(encoding="utf-8")):
        if rows[0][0] == first_header:
            return rows[1:]
    raise AssertionError(f"docs/porting.md has no table whose first column is {first_header!r}")


def _close(ours: np.ndarray, theirs: np.ndarray, *, rel: float, peak_abs: float) -> None:
    """Relative on values >= 1e-4 of the peak, absolute (``peak_abs`` of the peak) below."""
    peak = float(np.max(np.abs(theirs)))
    big = np.abs(theirs) >= 1e-4 * peak
    diff = np.abs(ours - theirs)
    worst = float(np.max(diff[big] / np.abs(theirs[big])))
    assert np.all(diff[big] <= rel * np.abs(theirs[big])), worst
    assert np.all(diff[~big] <= peak_abs * peak)


TORCH_ROWS = _porting_table("torch scheduler")


@pytest.mark.parametrize("row", TORCH_ROWS, ids=[_spans(r[0])[0].split("(")[0] for r in TORCH_ROWS])
def test_torch_rows_match_torch(row: list[str]) -> None:
    lr_scheduler = torch.optim.lr_scheduler
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    scope = {
        name: getattr(lr_scheduler, name)
        if name == "ChainedScheduler"  # takes the schedulers first, not the optimizer
        else functools.partial(getattr(lr_scheduler, name), opt)
        for name in dir(lr_scheduler)
        if isinstance(cls := getattr(lr_scheduler, name), type)
        and issubclass(cls, lr_scheduler.LRScheduler)
    }
    sched = eval(_spans(row[0])[0], scope)
    spec = eval(_spans(row[1])[0], _namespace())
    # steps 0 .. 999: every row's scheduler ends by step 1,000, and past its end torch climbs
    # back up (CosineAnnealingLR) or refuses to step (OneCycleLR) where optfn holds, by design
    lrs: list[float] = []
    for _ in range(1_000):
        lrs.append(opt.param_groups[0]["lr"] / 0.1)
        opt.step()
        sched.step()
    ours = optfn.lr_curve(spec, len(lrs))
    _close(ours, np.array(lrs), rel=1e-12, peak_abs=1e-15)


HF_ROWS = _porting_table("`schedule_from_hf(...)` name and keywords")


@pytest.mark.parametrize("row", HF_ROWS, ids=[_spans(r[0])[0] for r in HF_ROWS])
def test_hugging_face_rows_are_what_schedule_from_hf_gives(row: list[str]) -> None:
    namespace = _namespace()
    call = f"schedule_from_hf({_spans(row[0])[0]}, num_warmup_steps=500, num_training_steps=10_000)"
    converted = eval(call, namespace)
    spec = eval(_spans(row[1])[0], namespace)
    n = 12_000
    ours, theirs = optfn.lr_curve(spec, n), optfn.lr_curve(converted, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


OPTAX_ROWS = _porting_table("optax")


@pytest.mark.parametrize("row", OPTAX_ROWS, ids=[_spans(r[0])[0].split("(")[0] for r in OPTAX_ROWS])
def test_optax_rows_match_optax(row: list[str]) -> None:
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)
    scope = {name: getattr(optax, name) for name in dir(optax) if not name.startswith("_")}
    schedule = eval(_spans(row[0])[0], scope)
    spec = eval(_spans(row[1])[0], _namespace())
    base = float(eval(_spans(row[2])[0]))
    n = 1_500
    counts = jax.numpy.arange(n, dtype=jax.numpy.int64)
    theirs = np.asarray(jax.vmap(schedule)(counts), dtype=np.float64)
    ours = base * optfn.lr_curve(spec, n)
    assert np.all(np.abs(ours - theirs) <= 1e-12 * np.abs(theirs) + 1e-15 * base)
