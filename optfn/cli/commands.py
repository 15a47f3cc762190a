"""The four commands of ``optfn``: ``demo``, ``plan``, ``curve`` and ``validate``.

Each takes the parsed arguments and returns the exit status; a user's mistake is raised (a
:class:`~optfn.cli.load.UserError` or one of optfn's own errors) and printed by
:func:`optfn.cli.main`.

>>> import argparse, tempfile
>>> from pathlib import Path
>>> from optfn import WarmupCosine, save_config
>>> path = Path(tempfile.mkdtemp()) / "sched.toml"
>>> save_config(WarmupCosine(warmup_steps=2, total_steps=10), path)
>>> cmd_validate(argparse.Namespace(file=str(path)))  # doctest: +ELLIPSIS
/.../sched.toml: ok (WarmupCosine)
0
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from optfn.cli.load import (
    UserError,
    as_config,
    console,
    load,
    model_factory,
    schedule_of,
    user_file,
)
from optfn.cli.plot import check_plot_path, terminal_plot, write_png
from optfn.config import OptimConfig
from optfn.specs.render import escaped

__all__ = [
    "MAX_CURVE_STEPS",
    "check_steps",
    "cmd_curve",
    "cmd_demo",
    "cmd_plan",
    "cmd_validate",
    "plan_tables",
]

#: The longest curve the command computes (``--steps``): the whole curve is held in memory
#: (8 bytes a step, more for a CSV or a plot). For longer ranges call
#: :func:`optfn.lr_curve` in Python, in chunks with ``start=``.
MAX_CURVE_STEPS = 10**7


def check_steps(steps: int) -> None:
    """``--steps``: from 1 to :data:`MAX_CURVE_STEPS`, else a :class:`UserError` saying why."""
    if steps < 1:
        raise UserError(f"--steps: must be >= 1, got {steps}")
    if steps > MAX_CURVE_STEPS:
        raise UserError(
            f"--steps: must be <= {MAX_CURVE_STEPS:,} (the command holds the whole curve in "
            f"memory), got {steps:,}; for a longer run call optfn.lr_curve in chunks with start="
        )


def implementation_of(group: dict[str, Any]) -> str:
    """Which torch kernel a param group asks for: ``fused``, ``foreach``, ``for_loop`` or
    ``auto`` (torch's own choice), from its ``fused``/``foreach`` flags.

    >>> implementation_of({"foreach": None}), implementation_of({"foreach": False})
    ('auto', 'for_loop')
    """
    if group.get("fused"):
        return "fused"
    foreach = group.get("foreach")
    return "auto" if foreach is None else "foreach" if foreach else "for_loop"


def plan_tables(model: Any, config: OptimConfig) -> tuple[Table, Table]:
    """The partition table (one row per parameter) and the param-group summary."""
    from optfn.build.groups import make_param_groups
    from optfn.routing.partition import partition_params

    part = partition_params(model, config.rules, spec=config.optimizer)
    groups = make_param_groups(part)
    lr_of = {n: g["lr"] for g in groups for n in g["param_names"]}
    wd_of = {n: g.get("weight_decay", 0.0) for g in groups for n in g["param_names"]}
    labelled = bool(config.rules.labels)  # a label column when the rules have labels
    table = Table(title="partition", title_justify="left")
    for col in ("name", "shape", "route", *(("label",) if labelled else ()), "weight decay"):
        table.add_column(col, overflow="fold")
    for col in ("lr", "why"):
        table.add_column(col, overflow="fold")
    for e in part:
        table.add_row(
            e.name,
            "x".join(map(str, e.param.shape)) or "scalar",
            e.route,
            *((e.label,) if labelled else ()),
            f"{wd_of[e.name]:g}",
            f"{lr_of[e.name]:.3g}",
            "; ".join(part.reasons(e.name)) or "-",
        )
    if part.left_out:
        table.caption = f"left out of the optimizer (exclude): {', '.join(part.left_out)}"
    summary = Table(title=f"{len(groups)} param groups", title_justify="left")
    head = ("#", "route", *(("label",) if labelled else ()), "params", "elements", "lr")
    for col in (*head, "weight decay", "implementation"):
        summary.add_column(col)
    for i, g in enumerate(groups):
        summary.add_row(
            str(i),
            g["route"],
            *((g["label"],) if labelled else ()),
            str(len(g["params"])),
            f"{sum(p.numel() for p in g['params']):,}",
            f"{g['lr']:.3g}",
            f"{g.get('weight_decay', 0.0):g}",
            implementation_of(g),
        )
    return table, summary


def _demo_config(steps: int) -> OptimConfig:
    from optfn.demo import default_config

    return default_config(steps)


def cmd_plan(args: argparse.Namespace) -> int:
    """``optfn plan``: where each parameter of a model goes, and the merged param groups."""
    spec = load(args.config)
    config = as_config(spec, args.config) if spec is not None else _demo_config(300)
    model = model_factory(args.model)()
    table, summary = plan_tables(model, config)
    out = console()
    out.print(table)
    out.print(summary)
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    """``optfn curve``: the LR curve of a schedule or config (or every curve of a
    HyperSchedules), plotted, or as CSV/PNG."""
    from optfn.schedules import HyperSchedules, hyper_curves, lr_curve

    check_steps(args.steps)
    if args.png:
        check_plot_path(args.png)  # before anything is written: a refusal changes nothing
    schedule, base_lr = schedule_of(load(args.file), args.file)
    title = type(schedule).__name__
    columns: dict[str, Any]  # CSV column -> values; the plotted ones are `panels`
    if isinstance(schedule, HyperSchedules):
        # multipliers of each group's own base value (groups differ: no one base to show)
        columns = {f"{k}_multiplier": c for k, c in hyper_curves(schedule, args.steps).items()}
        panels = columns
    else:
        mult = lr_curve(schedule, args.steps)
        columns = {"multiplier": mult}
        if base_lr is not None:
            columns["lr"] = mult * base_lr
        panels = {"lr" if base_lr is not None else "multiplier": columns.get("lr", mult)}
    out = console()
    if args.csv:
        with user_file(args.csv, "write"), open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", *columns])
            values = list(columns.values())
            for s in range(args.steps):
                w.writerow([s, *(repr(float(c[s])) for c in values)])
        out.print(f"wrote {args.csv}")
    if args.png:
        write_png(args.png, panels, title=title)
        out.print(f"wrote {args.png}")
    if not args.csv and not args.png:
        warm = getattr(schedule, "warmup_steps", None)
        points = [("start", 0)]
        if isinstance(warm, int) and 0 < warm <= args.steps:
            points.append(("warmup end", warm - 1))
        points += [("midpoint", (args.steps - 1) // 2), ("end", args.steps - 1)]
        for label, values in panels.items():
            out.print(f"{title}: {label} over {args.steps} steps")
            out.print(terminal_plot(values))
            for what, s in points:
                out.print(f"  {what:>10} (step {s}): {label} = {float(values[s]):.6g}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """``optfn validate``: load a config strictly and summarize it (or raise every problem)."""
    spec = load(args.file)
    what = type(spec).__name__
    if isinstance(spec, OptimConfig):
        what = (
            f"OptimConfig: {spec.optimizer.optimizer_type} lr={spec.optimizer.learning_rate:g}, "
            f"schedule {type(spec.schedule).__name__}, {len(spec.rules.lr_scales)} LR scale(s)"
        )
    console().print(f"{escaped(args.file)}: ok ({what})", markup=False)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``optfn demo``: train the built-in model; write config, checkpoint and LR curve."""
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from optfn.demo import ScoringModel, route_lr_curves, save_demo_checkpoint, train
    from optfn.io import save_config
    from optfn.optim.table import kind_of

    check_steps(args.steps)
    spec = load(args.config)
    config = as_config(spec, args.config) if spec is not None else _demo_config(args.steps)
    out_dir = Path(args.out)
    with user_file(out_dir, "write"):
        out_dir.mkdir(parents=True, exist_ok=True)
    out = console()

    torch.manual_seed(args.seed)  # the model's initial weights too: same seed, same run
    model = ScoringModel(config.optimizer)
    table, summary = plan_tables(model, config)
    out.print(table)
    out.print(summary)

    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("lr {task.fields[lr]:.3g}"),
        TimeElapsedColumn(),
        console=out,
        disable=not out.is_terminal,
    ) as progress:
        task = progress.add_task("train", total=args.steps, loss=float("nan"), lr=0.0)

        def on_step(step: int, loss: float, lr: float) -> None:
            progress.update(task, completed=step + 1, loss=loss, lr=lr)

        result = train(model, config, steps=args.steps, seed=args.seed, on_step=on_step)
    seconds = time.perf_counter() - started

    with user_file(out_dir / "config.toml", "write"):
        save_config(config, out_dir / "config.toml")
    with user_file(out_dir / "checkpoint.pt", "write"):
        save_demo_checkpoint(out_dir / "checkpoint.pt", config, result, extra={"seed": args.seed})
    # one curve per route, each from its own base LR (MuonSpec: learning_rate and adamw_lr)
    curves = route_lr_curves(config, result.optimizer, args.steps)
    with user_file(out_dir / "lr_curve.csv", "write"):
        with open(out_dir / "lr_curve.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", *(f"{route}_lr" for route in curves)])
            values = list(curves.values())
            w.writerows([s, *(repr(float(c[s])) for c in values)] for s in range(args.steps))
    kind = kind_of(config.optimizer)
    panels = {f"{route}: {kind.route(route).lr} x multiplier": c for route, c in curves.items()}
    wrote = ["config.toml", "checkpoint.pt", "lr_curve.csv"]
    try:
        write_png(str(out_dir / "lr_curve.png"), panels, "demo LR schedule")
        wrote.append("lr_curve.png")
    except UserError as exc:
        out.print(f"[yellow]note:[/] {exc}")
    first = sum(result.losses[:10]) / min(10, len(result.losses))
    last = sum(result.losses[-10:]) / min(10, len(result.losses))
    out.print(
        f"loss {first:.4f} -> {last:.4f} (mean of first/last 10 steps) over {args.steps} "
        f"steps in {seconds:.1f} s"
    )
    out.print(f"wrote {', '.join(wrote)} under {out_dir}/")
    return 0
