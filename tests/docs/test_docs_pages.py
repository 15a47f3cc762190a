"""Every ```python block of README.md and of every docs/**/*.md page runs, page by page, top to
bottom, in a fresh interpreter (see tests/docs/docs_runner.py); and the runner itself works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.docs_runner import ROOT, pages, parse_blocks, run_page

PAGES = pages()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_blocks_run(page: Path) -> None:
    result = run_page(page)
    assert result.ok, result.report()


def test_pages_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    assert "README.md" in names and any(n.startswith("docs/") for n in names)


def test_parse_blocks_languages_lines_and_files() -> None:
    text = (
        "# T\n"  # 1
        "```python\n"  # 2
        "x = 1\n"  # 3
        "```\n"  # 4
        "<!-- file: run.toml -->\n"  # 5
        "```toml\n"  # 6
        "a = 1\n"  # 7
        "```\n"  # 8
        "```text\n"  # 9
        "not python (\n"  # 10
        "```\n"
        "- item\n"
        "  ```python\n"
        "  y = x\n"
        "  ```\n"
    )
    blocks = parse_blocks(text)
    assert [(b.lang, b.line, b.file, b.runs) for b in blocks] == [
        ("python", 3, None, True),
        ("toml", 7, "run.toml", False),
        ("text", 10, None, False),
        ("python", 14, None, True),
    ]
    assert blocks[3].code == "y = x\n"


def test_runner_writes_files_shares_namespace_and_reports_the_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- file: cfg/run.toml -->\n"
        "```toml\n"
        "lr = 0.5\n"
        "```\n"
        "```python\n"
        "import tomllib\n"
        "from pathlib import Path\n"
        "lr = tomllib.loads(Path('cfg/run.toml').read_text())['lr']\n"
        "assert Path('examples').is_dir() and Path('docs').is_dir()\n"
        "```\n"
        "```python\n"
        "assert lr == 0.5\n"
        "raise RuntimeError('boom')\n"
        "```\n"
    )
    result = run_page(page)
    assert not result.ok and result.blocks == 2
    assert result.failed_line == 12
    assert "RuntimeError: boom" in result.output
    assert f'File "{page}", line 13' in result.output


def test_runner_passes_a_good_page(tmp_path: Path) -> None:
    page = tmp_path / "good.md"
    page.write_text("```python\nfrom optfn import AdamWSpec\nspec = AdamWSpec()\n```\n")
    result = run_page(page)
    assert result.ok, result.report()


def test_runner_never_writes_into_the_repository(tmp_path: Path) -> None:
    for name in ("docs/x.toml", "../x.toml", "/tmp/x.toml", "examples/recipes/x.toml"):
        page = tmp_path / "page.md"
        page.write_text(f"<!-- file: {name} -->\n```toml\na = 1\n```\n```python\nx = 1\n```\n")
        result = run_page(page)
        assert not result.ok and "must name a new file" in result.output, name
