"""The docs site's frame: every public name has an API reference entry, every registered schedule
shape is in the gallery, every page of the nav exists, and the architecture page names every
part of the package. (The full build is ``make docs``: ``mkdocs build --strict``.)"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import optfn

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("optfn_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    raise AssertionError(f"unexpected nav entry {nav!r}")


def _mkdocs_config() -> dict[str, object]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())  # no mkdocs-only tags in it
    assert isinstance(config, dict)
    return config


def test_every_public_name_has_a_reference_entry() -> None:
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").glob("*.md")))
    documented = re.findall(r"^::: optfn\.(\w+)\s*$", text, re.M)
    assert len(documented) == len(set(documented)), "a name is documented twice"
    missing = sorted(set(optfn.__all__) - set(documented))
    assert not missing, f"public names without an API reference entry: {missing}"
    unknown = sorted(set(documented) - set(optfn.__all__) - {"strategies"})
    assert not unknown, f"reference entries for names optfn does not export: {unknown}"


def test_every_nav_page_exists() -> None:
    missing = [p for p in _nav_pages(_mkdocs_config()["nav"]) if not (DOCS / p).is_file()]
    assert not missing, missing


def test_every_page_is_in_the_nav() -> None:
    nav = set(_nav_pages(_mkdocs_config()["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.glob("**/*.md")}
    assert pages <= nav, f"pages no menu leads to: {sorted(pages - nav)}"


def test_gallery_draws_every_registered_shape() -> None:
    from optfn import Schedule, from_dict, lr_curve, to_dict

    hooks = _hooks()
    shapes = hooks.registered_shapes()
    assert shapes and all(issubclass(cls, Schedule) for cls in shapes.values())
    drawn = hooks.gallery()
    assert sorted(tag for tag, _, _ in drawn) == sorted(shapes)
    namespace: dict[str, object] = {}
    exec("from optfn import *", namespace)
    for tag, cls, example in drawn:
        assert type(example.spec) is cls, tag
        assert from_dict(to_dict(example.spec)) == example.spec
        # the code shown on the page builds the spec drawn
        assert eval(hooks.spec_source(example.spec), namespace) == example.spec, tag
        curve = lr_curve(example.spec, example.steps)
        assert len(curve) == example.steps and bool((curve == curve).all()), tag
    png = hooks.draw(drawn[0][2])
    assert png.startswith(b"\x89PNG")
    markdown = hooks.gallery_markdown()
    assert all(f"## {cls.__name__}\n" in markdown for cls in shapes.values())


def test_gallery_refuses_a_shape_without_an_example(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = _hooks()
    shapes = hooks.registered_shapes()

    class NewShape:  # stands for a registered shape nobody drew
        pass

    monkeypatch.setattr(hooks, "registered_shapes", lambda: {**shapes, "new_shape": NewShape})
    with pytest.raises(RuntimeError, match="NewShape"):
        hooks.gallery()


def test_architecture_page_names_every_part_of_the_package() -> None:
    text = (DOCS / "architecture.md").read_text()
    package = ROOT / "optfn"
    parts = sorted(
        p.name
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file())
        or (p.suffix == ".py" and p.name != "__init__.py")
    )
    missing = [name for name in parts if f"`optfn/{name}" not in text]
    assert not missing, f"docs/architecture.md does not place: {missing}"
