"""The ``optfn`` command: ``demo``, ``plan``, ``curve``, ``validate``.

A user mistake (missing file, bad config, bad ``--model``) prints what is wrong and exits
with status 2, never a traceback.

>>> from optfn.cli import main
>>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from optfn.config import OptimConfig
from optfn.errors import ConfigError
from optfn.schedules import Schedule
from optfn.specs.optimizers import OptimizerSpecification

__all__ = ["main"]

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake of the user's: printed without a traceback, exit status 2."""


def _console(stderr: bool = False) -> Console:
    """Messages never wrap (soft_wrap); tables get a wide page when not on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


# ---- loading -----------------------------------------------------------------------------


def _load(path: str | None) -> Any:
    from optfn.io.serialization import load_config

    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file")
    if p.is_dir():
        raise UserError(f"{path}: is a directory, expected a .toml or .json config file")
    return load_config(p)


def _as_config(spec: Any, source: str) -> OptimConfig:
    """A loaded spec as a full config (an optimizer spec alone gets default rules/schedule)."""
    if isinstance(spec, OptimConfig):
        return spec
    if isinstance(spec, OptimizerSpecification):
        return OptimConfig(optimizer=spec)
    raise UserError(
        f"{source}: holds a {type(spec).__name__}, expected an optimizer spec or a full config"
    )


def _schedule_of(spec: Any, source: str) -> tuple[Schedule, float | None]:
    """The schedule in a file (a schedule alone, or a config's), and the base LR if known."""
    if isinstance(spec, Schedule):
        return spec, None
    if isinstance(spec, OptimConfig):
        return spec.schedule, float(spec.optimizer.learning_rate)
    raise UserError(f"{source}: holds a {type(spec).__name__}, expected a schedule or a config")


def _model_factory(ref: str) -> Callable[[], Any]:
    from torch import nn

    from optfn.demo import ScoringModel

    if ref == "demo":
        return ScoringModel
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"--model: expected 'demo' or 'package.module:factory', got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"--model: cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UserError(f"--model: {module_name!r} has no callable {attr!r}")

    def build() -> Any:
        model = factory()
        if not isinstance(model, nn.Module):
            raise UserError(f"--model: {ref} returned {type(model).__name__}, not an nn.Module")
        return model

    return build


# ---- commands ----------------------------------------------------------------------------


def _plan_table(model: Any, config: OptimConfig) -> tuple[Table, Table]:
    from optfn.build.groups import make_param_groups
    from optfn.routing.partition import partition_params

    part = partition_params(model, config.rules, spec=config.optimizer)
    groups = make_param_groups(part)
    lr_of = {n: g["lr"] for g in groups for n in g["param_names"]}
    wd_of = {n: g["weight_decay"] for g in groups for n in g["param_names"]}
    table = Table(title="partition", title_justify="left")
    for col in ("name", "shape", "route", "weight decay", "lr", "why"):
        table.add_column(col, overflow="fold")
    for e in part:
        table.add_row(
            e.name,
            "x".join(map(str, e.param.shape)) or "scalar",
            e.route,
            f"{wd_of[e.name]:g}",
            f"{lr_of[e.name]:.3g}",
            "; ".join(part.reasons(e.name)) or "-",
        )
    summary = Table(title=f"{len(groups)} param groups", title_justify="left")
    for col in ("#", "route", "params", "elements", "lr", "weight decay"):
        summary.add_column(col)
    for i, g in enumerate(groups):
        summary.add_row(
            str(i),
            g["route"],
            str(len(g["params"])),
            f"{sum(p.numel() for p in g['params']):,}",
            f"{g['lr']:.3g}",
            f"{g['weight_decay']:g}",
        )
    return table, summary


def cmd_plan(args: argparse.Namespace) -> int:
    spec = _load(args.config)
    config = _as_config(spec, args.config) if spec is not None else _demo_config(300)
    model = _model_factory(args.model)()
    table, summary = _plan_table(model, config)
    out = _console()
    out.print(table)
    out.print(summary)
    return 0


def _demo_config(steps: int) -> OptimConfig:
    from optfn.demo import default_config

    return default_config(steps)


def _terminal_plot(values: Sequence[float], width: int = 64, height: int = 10) -> str:
    """A compact text plot of ``values`` (resampled to ``width`` columns)."""
    n = len(values)
    cols = [values[min(n - 1, round(i * (n - 1) / max(1, width - 1)))] for i in range(width)]
    lo, hi = min(cols), max(cols)
    span = (hi - lo) or 1.0
    rows = []
    for r in range(height - 1, -1, -1):
        level = lo + span * r / (height - 1)
        line = "".join("█" if v >= level - 1e-12 else " " for v in cols)
        label = f"{level:9.3g} │" if r in (0, height - 1) else "          │"
        rows.append(label + line)
    rows.append("          └" + "─" * width)
    rows.append(f"           0{' ' * (width - len(str(n - 1)) - 1)}{n - 1}")
    return "\n".join(rows)


def cmd_curve(args: argparse.Namespace) -> int:
    from optfn.schedules import lr_curve

    if args.steps < 1:
        raise UserError(f"--steps: must be >= 1, got {args.steps}")
    schedule, base_lr = _schedule_of(_load(args.file), args.file)
    mult = lr_curve(schedule, args.steps)
    values = mult * base_lr if base_lr is not None else mult
    label = "lr" if base_lr is not None else "multiplier"
    out = _console()
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "multiplier", *(["lr"] if base_lr is not None else [])])
            for s, m in enumerate(mult):
                w.writerow([s, repr(float(m)), *([repr(float(m * base_lr))] if base_lr else [])])
        out.print(f"wrote {args.csv}")
    if args.png:
        _write_png(args.png, values, label, title=type(schedule).__name__)
        out.print(f"wrote {args.png}")
    if not args.csv and not args.png:
        out.print(f"{type(schedule).__name__}: {label} over {args.steps} steps")
        out.print(_terminal_plot(list(map(float, values))))
        warm = getattr(schedule, "warmup_steps", None)
        points = [("start", 0)]
        if isinstance(warm, int) and 0 < warm <= args.steps:
            points.append(("warmup end", warm - 1))
        points += [("midpoint", (args.steps - 1) // 2), ("end", args.steps - 1)]
        for what, s in points:
            out.print(f"  {what:>10} (step {s}): {label} = {float(values[s]):.6g}")
    return 0


def _write_png(path: str, values: Any, label: str, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "--png needs matplotlib: pip install 'optfn[plot]' (or use --csv)"
        ) from None
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.plot(range(len(values)), values, lw=1.6)
    ax.set_xlabel("step")
    ax.set_ylabel(label if label != "lr" else "lr (learning_rate x multiplier)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _load(args.file)
    what = type(spec).__name__
    if isinstance(spec, OptimConfig):
        what = (
            f"OptimConfig: {spec.optimizer.optimizer_type} lr={spec.optimizer.learning_rate:g}, "
            f"schedule {type(spec.schedule).__name__}, {len(spec.rules.lr_scales)} LR scale(s)"
        )
    _console().print(f"{args.file}: ok ({what})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from optfn.demo import ScoringModel, train
    from optfn.io.serialization import save_config

    if args.steps < 1:
        raise UserError(f"--steps: must be >= 1, got {args.steps}")
    spec = _load(args.config)
    config = _as_config(spec, args.config) if spec is not None else _demo_config(args.steps)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    console = _console()
    import torch

    torch.manual_seed(args.seed)  # the model's initial weights too: same seed, same run
    model = ScoringModel(config.optimizer)
    table, summary = _plan_table(model, config)
    console.print(table)
    console.print(summary)

    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("lr {task.fields[lr]:.3g}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("train", total=args.steps, loss=float("nan"), lr=0.0)

        def on_step(step: int, loss: float, lr: float) -> None:
            progress.update(task, completed=step + 1, loss=loss, lr=lr)

        result = train(model, config, steps=args.steps, seed=args.seed, on_step=on_step)
    seconds = time.perf_counter() - started

    from optfn.schedules import lr_curve

    save_config(config, out_dir / "config.toml")
    state = model.checkpoint()
    state["optimizer_state"] = result.optimizer.state_dict()
    state["scheduler_state"] = result.scheduler.state_dict()
    torch.save(state, out_dir / "checkpoint.pt")
    curve = lr_curve(config.schedule, args.steps) * float(config.optimizer.learning_rate)
    with open(out_dir / "lr_curve.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "lr"])
        w.writerows((s, repr(float(v))) for s, v in enumerate(curve))
    wrote = ["config.toml", "checkpoint.pt", "lr_curve.csv"]
    try:
        _write_png(str(out_dir / "lr_curve.png"), curve, "lr", "demo LR schedule")
        wrote.append("lr_curve.png")
    except UserError as exc:
        console.print(f"[yellow]note:[/] {exc}")
    first = sum(result.losses[:10]) / min(10, len(result.losses))
    last = sum(result.losses[-10:]) / min(10, len(result.losses))
    console.print(
        f"loss {first:.4f} -> {last:.4f} (mean of first/last 10 steps) over {args.steps} "
        f"steps in {seconds:.1f} s"
    )
    console.print(f"wrote {', '.join(wrote)} under {out_dir}/")
    return 0


# ---- entry point -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="optfn",
        description="See and run an optimization setup (optimizer, routing rules, LR schedule).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser(
        "demo",
        help="train the built-in transformer scoring model on synthetic data",
        description="Train a small built-in transformer on synthetic data (no downloads) with "
        "a config (default: Muon + warmup-cosine, scoring head LR x5). Prints the partition "
        "table, a progress bar and the loss drop; writes config, checkpoint and LR curve.",
    )
    d.add_argument("--config", metavar="FILE", help="a .toml/.json config (default: built in)")
    d.add_argument("--steps", type=int, default=300, metavar="N", help="steps (default 300)")
    d.add_argument("--out", default="out/demo", metavar="DIR", help="output dir (out/demo)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.set_defaults(func=cmd_demo)

    pl = sub.add_parser(
        "plan",
        help="show where each parameter goes: route, weight decay, LR, and why",
        description="Print the partition table and the merged param groups for a model.",
    )
    pl.add_argument("--config", metavar="FILE", help="a .toml/.json config (default: demo's)")
    pl.add_argument(
        "--model",
        default="demo",
        metavar="MODEL",
        help="'demo' (default) or 'package.module:factory' returning an nn.Module",
    )
    pl.set_defaults(func=cmd_plan)

    c = sub.add_parser(
        "curve",
        help="the LR curve of a schedule or config file",
        description="Compute the schedule's curve with lr_curve; with neither --png nor --csv, "
        "plot it in the terminal and print the LR at warmup end, midpoint and end.",
    )
    c.add_argument("file", metavar="FILE", help="a .toml/.json schedule or config")
    c.add_argument("--steps", type=int, required=True, metavar="N", help="number of steps")
    c.add_argument("--png", metavar="PATH", help="write a PNG plot (needs matplotlib)")
    c.add_argument("--csv", metavar="PATH", help="write step,multiplier[,lr] rows")
    c.set_defaults(func=cmd_curve)

    v = sub.add_parser(
        "validate",
        help="check a config file; exit 0, or list every problem and exit 2",
        description="Load a config strictly. Exit 0 with a summary, or print every problem "
        "with its path and exit 2.",
    )
    v.add_argument("file", metavar="FILE", help="a .toml/.json file")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    err = _console(stderr=True)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        err.print(str(exc), markup=False)
        return EXIT_USAGE
    except UserError as exc:
        err.print(f"optfn {args.command}: {exc}", markup=False)
        return EXIT_USAGE
    except (ValueError, TypeError) as exc:  # a spec or rule that does not fit the model
        err.print(f"optfn {args.command}: {exc}", markup=False)
        return EXIT_USAGE
    except OSError as exc:
        err.print(f"optfn {args.command}: {exc}", markup=False)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
