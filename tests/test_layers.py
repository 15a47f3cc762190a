"""optfn's modules import one way only: each from its own layer or the layers below.

The layers follow the data flow: spec data at the bottom, then schedule math, the bundled
config, the table of kinds (optimizers with their builders) and Muon, routing, file formats,
building (every ``make_*``: param groups, the optimizer, the torch schedulers), the old
scheduler path kept as an alias, the converters, checkpoints, the compatibility APIs (the
spec-method API and the epoch-based builders), testing strategies, the demo and the command
line. The one exception is documented:
the spec-method API's methods on spec classes (``optfn.compat.methods``) reach the builders
through function-local imports.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import optfn

#: Bottom to top. A module belongs to the first entry that is its name or a parent of it.
LAYERS: list[tuple[str, ...]] = [
    ("optfn.errors",),
    ("optfn.specs", "optfn.compat.methods"),
    ("optfn.schedules",),
    ("optfn.convert.hf",),  # pure spec building: nothing of torch's
    ("optfn.config",),
    ("optfn.optim",),
    ("optfn.routing",),
    ("optfn.io",),
    ("optfn.build",),  # every make_*: param groups, the optimizer, the schedulers
    ("optfn.scheduler",),  # the schedulers' old path: an alias for pickles saved before
    ("optfn.convert",),
    ("optfn.checkpoint",),
    ("optfn.compat",),
    ("optfn.strategies",),
    ("optfn.demo",),
    ("optfn.cli",),
    ("optfn.integrations",),  # framework adapters: never imported by optfn itself
    ("optfn",),
]

#: (importer, imported) pairs allowed to point up: function-local imports only.
UPWARD_ALLOWED = {"optfn.compat.methods"}


def layer_of(module: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[1]:
                    best = (i, len(name))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def all_modules() -> list[tuple[str, Path]]:
    out = [("optfn", Path(optfn.__file__))]
    for info in pkgutil.walk_packages(optfn.__path__, "optfn."):
        spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
        assert spec is not None and spec.origin is not None
        out.append((info.name, Path(spec.origin)))
    return out


def optfn_imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported optfn module, whether at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only, never executed
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend((a.name, top) for a in child.names if a.name.startswith("optfn"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = module.split(".")
                    keep = len(parts) - child.level + (1 if is_pkg else 0)
                    base = ".".join([*parts[:keep], *([base] if base else [])])
                if base.startswith("optfn"):
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        out.append((sub if _is_module(sub) else base, top))
            visit(child, inner)

    visit(tree, True)
    return out


def _is_module(name: str) -> bool:
    return any(name == m for m, _ in MODULES)


MODULES = all_modules()


def test_every_module_is_in_a_layer() -> None:
    for name, _ in MODULES:
        layer_of(name)


def test_imports_point_down_only() -> None:
    wrong = []
    for name, path in MODULES:
        mine = layer_of(name)
        for imported, top in optfn_imports(name, path):
            if imported == "optfn" or layer_of(imported) <= mine:
                continue
            if name in UPWARD_ALLOWED and not top:
                continue
            wrong.append(f"{name} (layer {mine}) imports {imported} (layer {layer_of(imported)})")
    assert not wrong, "\n".join(wrong)


def test_the_mixin_imports_nothing_above_at_module_level() -> None:
    path = dict(MODULES)["optfn.compat.methods"]
    assert all(not top for _, top in optfn_imports("optfn.compat.methods", path))


def test_no_import_cycle_between_modules() -> None:
    """Module-level imports of optfn modules form no cycle (what Python executes on import)."""
    graph: dict[str, set[str]] = {name: set() for name, _ in MODULES}
    for name, path in MODULES:
        for imported, top in optfn_imports(name, path):
            if top and imported in graph and imported != name:
                graph[name].add(imported)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_every_make_function_lives_in_optfn_build() -> None:
    """One place for building: each public ``make_*`` is defined in a module of optfn.build."""
    makers = {name: getattr(optfn, name) for name in optfn.__all__ if name.startswith("make_")}
    assert {"make_optimizer", "make_param_groups", "make_scheduler"} <= makers.keys()
    elsewhere = {
        name: fn.__module__
        for name, fn in makers.items()
        if not fn.__module__.startswith("optfn.build.")
    }
    assert not elsewhere, elsewhere


def test_the_old_scheduler_path_only_re_exports() -> None:
    """``optfn.scheduler`` defines nothing: every name it holds is optfn.build's object."""
    import optfn.scheduler

    path = dict(MODULES)["optfn.scheduler"]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert not defined
    for name in optfn.scheduler.__all__:
        assert getattr(optfn.scheduler, name).__module__.startswith("optfn.build."), name
