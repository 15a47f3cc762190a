"""mkdocs hooks: the schedule gallery, drawn at build time.

For every schedule shape in optfn's registry of spec classes, one small representative instance
(:data:`EXAMPLES`) is evaluated with :func:`optfn.lr_curve` and drawn with matplotlib (Agg) into a
PNG that exists only in the built site (``gallery/<tag>.png``): nothing is written into the
source tree. ``docs/gallery.md`` holds a ``<!-- gallery -->`` marker that is replaced by one
section per shape (its first docstring line, the spec as Python, the curve). A registered shape
without an example here fails the build, so a new shape cannot be left out of the gallery.
"""

from __future__ import annotations

import inspect
import io
import re
from dataclasses import dataclass
from typing import Any

MARKER = "<!-- gallery -->"
PAGE = "gallery.md"
FOLDER = "gallery"


@dataclass(frozen=True)
class Example:
    spec: Any  # a Schedule instance
    steps: int
    note: str = ""


def registered_shapes() -> dict[str, type]:
    """Every registered schedule spec class by its ``"type"`` tag (the converter's registry)."""
    from optfn import Schedule

    try:
        from optfn.io.registry import REGISTRY as table
    except ImportError:  # the registry's module moved: the one table of kinds
        from optfn.optim.table import KINDS as table
    return dict(table.members(Schedule))


def examples() -> dict[str, Example]:
    """One small representative instance per schedule shape, keyed by class name."""
    from optfn import (
        Constant,
        CosineDecay,
        CosineRestarts,
        Cyclic,
        CyclicMomentum,
        ExponentialDecay,
        InverseSqrt,
        Join,
        LinearDecay,
        LinearWarmup,
        MultiStepDecay,
        OneCycle,
        OneCycleMomentum,
        PiecewiseConstant,
        PolynomialDecay,
        Product,
        Ramp,
        Sum,
        WarmupCosine,
        WarmupStableDecay,
    )

    found = [
        Example(Constant(), 1000),
        Example(LinearWarmup(warmup_steps=200), 1000, "1 after the warm-up."),
        Example(WarmupCosine(warmup_steps=100, total_steps=1000, min_lr_scale=0.1), 1000),
        Example(
            WarmupStableDecay(warmup_steps=100, total_steps=1000, decay_steps=200),
            1000,
            "Warm-up, a long stable phase, then a decay over the last `decay_steps`.",
        ),
        Example(CosineDecay(decay_steps=1000), 1000),
        Example(LinearDecay(decay_steps=1000, min_lr_scale=0.1), 1000),
        Example(PolynomialDecay(decay_steps=1000, power=2.0), 1000),
        Example(ExponentialDecay(gamma=0.9, steps_per_epoch=50), 1000),
        Example(InverseSqrt(warmup_steps=100), 1000),
        Example(MultiStepDecay(boundaries=(300, 600, 800), gamma=0.5), 1000),
        Example(PiecewiseConstant(boundaries=(250, 500), values=(1.0, 0.5, 0.1)), 1000),
        Example(CosineRestarts(cycle_steps=150, cycle_mult=2, min_lr_scale=0.05), 1050),
        Example(Cyclic(step_size_up=100, min_lr_scale=0.1), 1000),
        Example(
            CyclicMomentum(step_size_up=100),
            1000,
            "A multiplier of `max_momentum`: schedule the momentum (or Adam's beta1) with it in "
            "`HyperSchedules`, beside a `Cyclic` LR.",
        ),
        Example(OneCycle(total_steps=1000), 1000),
        Example(
            OneCycleMomentum(total_steps=1000),
            1000,
            "A multiplier of `max_momentum`: schedule the momentum (or Adam's beta1) with it in "
            "`HyperSchedules`, beside a `OneCycle` LR.",
        ),
        Example(
            Join(
                pieces=(LinearWarmup(warmup_steps=100), CosineDecay(decay_steps=900)),
                boundaries=(100,),
            ),
            1000,
            "Each later piece starts its own clock at its boundary.",
        ),
        Example(Ramp(steps=500, start_scale=0.1, shape="cosine"), 1000),
        Example(
            Product(
                factors=(
                    CosineDecay(decay_steps=1000),
                    Cyclic(step_size_up=50, min_lr_scale=0.5),
                )
            ),
            1000,
            "The step-wise product of its factors.",
        ),
        Example(
            Sum(
                terms=(
                    Join(
                        pieces=(Constant(), CosineDecay(decay_steps=500)),
                        boundaries=(500,),
                    ),
                    Ramp(steps=1000, start_scale=0.0, end_scale=0.2),
                )
            ),
            1000,
            "The step-wise sum of its terms.",
        ),
    ]
    return {type(e.spec).__name__: e for e in found}


_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj):`~?([^`]+)`")


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return _ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1]}`", first)


def spec_source(spec: Any, indent: int = 0) -> str:
    """``spec`` as the Python that builds it: keywords, only the fields that differ from their
    defaults, nested specs one per line when the whole does not fit on one line."""
    import attrs

    if isinstance(spec, tuple):
        items = [spec_source(x, indent + 4) for x in spec]
        one = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if len(one) + indent <= 88 and "\n" not in one:
            return one
        pad = " " * (indent + 4)
        return "(\n" + "".join(f"{pad}{x},\n" for x in items) + " " * indent + ")"
    if not attrs.has(type(spec)):
        return repr(spec)
    args = []
    for f in attrs.fields(type(spec)):
        value = getattr(spec, f.name)
        if f.default is not attrs.NOTHING and not hasattr(f.default, "takes_self"):  # no Factory
            if value == f.default and type(value) is type(f.default):
                continue
        args.append(f"{f.name}={spec_source(value, indent + 4)}")
    one = f"{type(spec).__name__}(" + ", ".join(args) + ")"
    if len(one) + indent <= 88 and "\n" not in one:
        return one
    pad = " " * (indent + 4)
    body = "".join(f"{pad}{a},\n" for a in args)
    return f"{type(spec).__name__}(\n{body}" + " " * indent + ")"


def draw(example: Example) -> bytes:
    """The PNG of one example's curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optfn import lr_curve

    curve = lr_curve(example.spec, example.steps)
    fig, ax = plt.subplots(figsize=(6.0, 2.6), dpi=100)
    try:
        ax.plot(range(example.steps), curve, color="#3f51b5", linewidth=1.6)
        ax.set_xlabel("step")
        ax.set_ylabel("multiplier")
        ax.set_xlim(0, example.steps)
        ax.set_ylim(bottom=min(0.0, float(curve.min())))
        ax.grid(True, alpha=0.3)
        ax.set_title(type(example.spec).__name__, fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def gallery() -> list[tuple[str, type, Example]]:
    """(tag, class, example) for every registered shape, in the order of :func:`examples`; an
    error names any registered shape that has no example."""
    tags = {cls: tag for tag, cls in registered_shapes().items()}
    table = examples()
    missing = sorted(cls.__name__ for cls in tags if cls.__name__ not in table)
    if missing:
        raise RuntimeError(
            f"docs/hooks.py: registered schedule shapes without a gallery example: {missing}"
        )
    return [
        (tags[type(ex.spec)], type(ex.spec), ex) for ex in table.values() if type(ex.spec) in tags
    ]


def gallery_markdown() -> str:
    parts = []
    for tag, cls, ex in gallery():
        name = cls.__name__
        parts += [
            f"## {name}",
            "",
            _summary(cls) + (f" {ex.note}" if ex.note else ""),
            "",
            "```python",
            spec_source(ex.spec),
            "```",
            "",
            f"![{name}: {ex.steps} steps]({FOLDER}/{tag}.png)",
            "",
            f"Tag `{tag}` · [API reference](reference/schedules.md#optfn.{name})",
            "",
        ]
    return "\n".join(parts)


# ---- mkdocs event hooks --------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for tag, _cls, ex in gallery():
        files.append(File.generated(config, f"{FOLDER}/{tag}.png", content=draw(ex)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise RuntimeError(f"docs/{PAGE} has lost its {MARKER} marker")
    return markdown.replace(MARKER, gallery_markdown())
