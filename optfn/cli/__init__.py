"""The ``optfn`` command: ``demo``, ``plan``, ``curve``, ``validate``.

In parts: :mod:`optfn.cli.load` (reading the user's files and model), :mod:`optfn.cli.plot`
(terminal and PNG plots), :mod:`optfn.cli.commands` (the four commands); here the parser and
:func:`main`, the console script ``optfn`` (also ``python -m optfn.cli``).

A user's mistake (a missing file, a bad config, a bad ``--model``, a spec or rule that does not
fit the model, a file that cannot be read or written) prints what is wrong and exits with
status 2, never a traceback: that is every :class:`~optfn.errors.OptfnError` (optfn's own
errors and the command's :class:`~optfn.cli.load.UserError`). Anything else is a bug and
keeps its traceback (status 1). What is printed is bounded and never holds a control
character (a terminal escape code from a file's content or name is shown escaped).

>>> main(["curve", "missing.toml", "--steps", "5"])
2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from optfn.cli.commands import cmd_curve, cmd_demo, cmd_plan, cmd_validate
from optfn.cli.load import UserError, console
from optfn.errors import ConfigError, OptfnError
from optfn.specs.render import escaped

__all__ = ["EXIT_USAGE", "UserError", "main"]

EXIT_USAGE = 2


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
    d.add_argument(
        "--config", metavar="FILE", help="a .toml/.json/.yaml config (default: built in)"
    )
    d.add_argument("--steps", type=int, default=300, metavar="N", help="steps (default 300)")
    d.add_argument("--out", default="out/demo", metavar="DIR", help="output dir (out/demo)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.set_defaults(func=cmd_demo)

    pl = sub.add_parser(
        "plan",
        help="show where each parameter goes: route, weight decay, LR, and why",
        description="Print the partition table and the merged param groups for a model.",
    )
    pl.add_argument("--config", metavar="FILE", help="a .toml/.json/.yaml config (default: demo's)")
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
    c.add_argument("file", metavar="FILE", help="a .toml/.json/.yaml schedule or config")
    c.add_argument(
        "--steps",
        type=int,
        required=True,
        metavar="N",
        help="number of steps, 1 to 10,000,000 (the whole curve is held in memory)",
    )
    c.add_argument(
        "--png",
        metavar="PATH",
        help="write a plot: PNG, or the format its suffix names (svg, pdf...; needs matplotlib)",
    )
    c.add_argument("--csv", metavar="PATH", help="write step,multiplier[,lr] rows")
    c.set_defaults(func=cmd_curve)

    v = sub.add_parser(
        "validate",
        help="check a config file; exit 0, or list every problem and exit 2",
        description="Load a config strictly. Exit 0 with a summary, or print every problem "
        "with its path and exit 2.",
    )
    v.add_argument("file", metavar="FILE", help="a .toml/.json/.yaml/.yml file")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a user's mistake)."""
    args = _parser().parse_args(argv)
    err = console(stderr=True)
    try:
        return int(args.func(args))
    except ConfigError as exc:  # every problem of the file, one per line
        err.print(_clean(str(exc)), markup=False)
        return EXIT_USAGE
    except OptfnError as exc:  # UserError, SpecError, StateError...: no traceback
        err.print(_clean(f"optfn {args.command}: {exc}"), markup=False)
        return EXIT_USAGE


def _clean(message: str) -> str:
    """A message as printed: each line bounded, control characters (escape codes) escaped."""
    return "\n".join(escaped(line, 2000) for line in message.split("\n"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
