"""What the ``optfn`` command reads and writes for the user: config files, models, outputs.

A user's mistake found here (a missing file, a file that holds the wrong kind of spec, a
``--model`` that cannot be imported or built, a file that cannot be read or written) is a
:class:`UserError`, which the command prints without a traceback (exit status 2).

>>> model_factory("no-colon")
Traceback (most recent call last):
    ...
optfn.cli.load.UserError: --model: expected 'demo' or 'package.module:factory', got 'no-colon'
>>> with user_file("out/x.csv", "write"):
...     raise PermissionError(13, "Permission denied")
Traceback (most recent call last):
    ...
optfn.cli.load.UserError: out/x.csv: cannot write: Permission denied
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from optfn.config import OptimConfig
from optfn.errors import OptfnError
from optfn.schedules import HyperSchedules, Schedule
from optfn.specs.optimizers import OptimizerSpecification
from optfn.specs.render import brief, escaped

__all__ = [
    "UserError",
    "as_config",
    "console",
    "load",
    "model_factory",
    "schedule_of",
    "user_file",
]


class UserError(OptfnError):
    """A mistake of the user's: printed without a traceback, exit status 2."""


def console(stderr: bool = False) -> Console:
    """Messages never wrap (soft_wrap); tables get a wide page when not on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


@contextmanager
def user_file(path: str | Path, doing: str) -> Iterator[None]:
    """Turn an ``OSError`` on the user's file ``path`` into a :class:`UserError`.

    ``doing`` is ``"read"`` or ``"write"``; only an ``OSError`` (or, reading, a file that is
    not UTF-8 text) raised inside the block is turned, so it wraps exactly the reading or
    writing of that file.
    """
    try:
        yield
    except OSError as exc:
        reason = escaped(exc.strerror or exc)
        raise UserError(f"{escaped(path)}: cannot {doing}: {reason}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{escaped(path)}: cannot {doing}: not UTF-8 text ({exc.reason})") from exc


def load(path: str | None) -> Any:
    """The spec in the config file ``path`` (``None`` for no file), read strictly."""
    from optfn.io import load_config

    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise UserError(f"{escaped(path)}: no such file")
    if p.is_dir():
        raise UserError(
            f"{escaped(path)}: is a directory, expected a .toml, .json or .yaml config file"
        )
    with user_file(path, "read"):
        return load_config(p)


def as_config(spec: Any, source: str) -> OptimConfig:
    """A loaded spec as a full config (an optimizer spec alone gets default rules/schedule)."""
    if isinstance(spec, OptimConfig):
        return spec
    if isinstance(spec, OptimizerSpecification):
        return OptimConfig(optimizer=spec)
    raise UserError(
        f"{escaped(source)}: holds a {type(spec).__name__}, expected an optimizer spec or a "
        "full config"
    )


def schedule_of(spec: Any, source: str) -> tuple[Schedule | HyperSchedules, float | None]:
    """The schedule in a file (a schedule or HyperSchedules alone, or a config's), and the base
    LR if known."""
    if isinstance(spec, Schedule | HyperSchedules):
        return spec, None
    if isinstance(spec, OptimConfig):
        return spec.schedule, float(spec.optimizer.learning_rate)
    raise UserError(
        f"{escaped(source)}: holds a {type(spec).__name__}, expected a schedule or a config"
    )


def model_factory(ref: str) -> Callable[[], Any]:
    """The model builder ``--model`` names: ``"demo"`` or ``"package.module:factory"``.

    Importing the module or calling the factory is the user's code: whatever it raises
    becomes a :class:`UserError` naming the factory (the cause stays chained).
    """
    if ref == "demo":
        from optfn.demo import ScoringModel

        return ScoringModel
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"--model: expected 'demo' or 'package.module:factory', got {brief(ref)}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: ImportError, SyntaxError, its own errors...
        raise UserError(f"--model: cannot import {brief(module_name)}: {escaped(exc)}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UserError(f"--model: {brief(module_name)} has no callable {brief(attr)}")

    def build() -> Any:
        from torch import nn

        try:
            model = factory()
        except Exception as exc:  # the user's factory failed: name it, not optfn
            raise UserError(
                f"--model: {escaped(ref)} raised {type(exc).__name__}: {escaped(exc)}"
            ) from exc
        if not isinstance(model, nn.Module):
            raise UserError(
                f"--model: {escaped(ref)} returned {type(model).__name__}, not an nn.Module"
            )
        return model

    return build
