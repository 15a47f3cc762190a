"""Plots of an LR curve for the ``optfn`` command: in the terminal, or a PNG (matplotlib).

>>> print(terminal_plot([0.0, 0.5, 1.0], width=3, height=2))
        1 │  █
        0 │███
          └───
           0 2
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from optfn.cli.load import UserError, user_file
from optfn.specs.render import escaped

__all__ = ["check_plot_path", "terminal_plot", "write_png"]


def terminal_plot(values: Sequence[float] | Any, width: int = 64, height: int = 10) -> str:
    """A compact text plot of ``values`` (a sequence or an array, resampled to ``width``
    columns: only those are read)."""
    n = len(values)
    cols = [float(values[min(n - 1, round(i * (n - 1) / max(1, width - 1)))]) for i in range(width)]
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


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (imported only when a plot is asked for)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "--png needs matplotlib: pip install 'optfn[plot]' (or use --csv)"
        ) from None
    return plt


def check_plot_path(path: str) -> None:
    """Refuse, before anything is computed or written, a plot file whose suffix names a
    format matplotlib cannot write (:class:`UserError` listing the formats); a name without
    a suffix gets matplotlib's default format, PNG. Needs matplotlib, as the plot does."""
    fmt = os.path.splitext(path)[1][1:].lower()  # how matplotlib's savefig reads it
    if not fmt:
        return
    _pyplot()
    from matplotlib.figure import Figure

    formats = sorted(Figure().canvas.get_supported_filetypes())
    if fmt not in formats:
        raise UserError(
            f"--png: {escaped(path)}: matplotlib cannot write the format {fmt!r} (the file's "
            f"suffix); use one of {', '.join(formats)}"
        )


def write_png(path: str, panels: Mapping[str, Any], title: str) -> None:
    """Plot each of ``panels`` ({label: values}) against the step, one panel each, stacked,
    into the PNG file ``path`` (needs matplotlib; the suffix picks the format, see
    :func:`check_plot_path`)."""
    check_plot_path(path)
    plt = _pyplot()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.2 + 2.0 * n), dpi=110, sharex=True, squeeze=False)
    for ax, (label, values) in zip(axes[:, 0], panels.items(), strict=True):
        ax.plot(range(len(values)), values, lw=1.6)
        ax.set_ylabel(label if label != "lr" else "lr (learning_rate x multiplier)")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    try:
        with user_file(path, "write"):
            fig.savefig(path)
    finally:
        plt.close(fig)
