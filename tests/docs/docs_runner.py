"""Run the ```python blocks of README.md and the docs pages, page by page, as a reader would.

Each page runs in one fresh interpreter (a subprocess), its blocks top to bottom in one
namespace, with the current directory a fresh temporary folder in which ``examples`` and
``docs`` are symlinks to the repository's folders (so ``load_config("examples/recipes/x.toml")``
works as written). A ```toml / ```json / ```yaml block whose fence line is immediately preceded
by a ``<!-- file: NAME -->`` comment line is written to NAME in that folder before the page's
next python block runs. Other blocks (```text, ```bash, ...) are not run; output is not compared.

Command line::

    .venv/bin/python tests/docs/docs_runner.py docs/routing.md [more.md ...]

prints OK or FAILED per page (with the failing block's line number and its traceback) and exits
non-zero when a page fails. With no argument it runs README.md and every docs/**/*.md page.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGS = frozenset({"python", "py"})
FILE_LANGS = frozenset({"toml", "json", "yaml", "yml"})
LINKED = ("examples", "docs")
DEFAULT_TIMEOUT_S = 180.0

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_FILE_COMMENT = re.compile(r"^\s*<!--\s*file:\s*(?P<name>\S+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: ``line`` is the 1-based line of its first code line."""

    lang: str
    code: str
    line: int
    file: str | None = None  # for a config block: the name it is written to
    origin: str | None = None  # the file name tracebacks show, when not the page's

    @property
    def end(self) -> int:
        """The line of the closing fence."""
        return self.line + self.code.count("\n")

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGS

    @property
    def writes(self) -> bool:
        return self.file is not None


@dataclass(frozen=True)
class PageResult:
    page: Path
    ok: bool
    blocks: int  # python blocks on the page
    seconds: float
    failed_line: int | None = None  # first code line of the failing block
    output: str = ""  # the subprocess's stderr + stdout when it failed

    def report(self) -> str:
        name = _display(self.page)
        if self.ok:
            return f"OK      {name} ({self.blocks} python blocks, {self.seconds:.1f} s)"
        where = f" block at line {self.failed_line}" if self.failed_line else ""
        return f"FAILED  {name}{where} ({self.seconds:.1f} s)\n{self.output.rstrip()}\n"


def _display(page: Path) -> str:
    try:
        return str(page.resolve().relative_to(ROOT))
    except ValueError:
        return str(page)


def _dedent(lines: list[str], indent: str) -> list[str]:
    return [ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines]


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block of a markdown text, in order (the language is the info string's first
    word, lower-cased; a config block preceded by ``<!-- file: NAME -->`` carries NAME)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, indent = m.group("fence"), m.group("indent")
        info = m.group("info").strip()
        lang = info.split()[0].lower().lstrip("{.").rstrip("}") if info else ""
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and not close.strip(fence[0]):
                break
            j += 1
        body = _dedent(lines[i + 1 : j], indent)
        file = None
        if lang in FILE_LANGS and i > 0:
            c = _FILE_COMMENT.match(lines[i - 1])
            if c is not None:
                file = c.group("name")
        blocks.append(Block(lang=lang, code="\n".join(body) + "\n", line=i + 2, file=file))
        i = j + 1
    return blocks


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/**/*.md page, in a stable order."""
    found = [root / "README.md", *sorted((root / "docs").glob("**/*.md"))]
    return [p for p in found if p.is_file()]


# The driver runs inside the fresh interpreter: blocks arrive as JSON on stdin. Python blocks are
# compiled under the page's path with their real line numbers, so tracebacks point into the page.
_DRIVER = r"""
import json, sys, traceback
from pathlib import Path
spec = json.load(sys.stdin)
ns = {"__name__": "__main__"}
for block in spec["blocks"]:
    if block["file"] is not None:
        target = Path(block["file"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block["code"])
        continue
    code = "\n" * (block["line"] - 1) + block["code"]
    try:
        exec(compile(code, block["origin"] or spec["page"], "exec"), ns)
    except BaseException:
        sys.stdout.flush()
        traceback.print_exc()
        sys.stderr.write("@@FAILED_LINE %d\n" % block["line"])
        sys.exit(1)
"""


def run_page(page: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> PageResult:
    """Run one page's python blocks (and write its config blocks) in a fresh interpreter."""
    page = Path(page).resolve()
    return run_blocks(page, parse_blocks(page.read_text()), timeout_s)


def block_at(page: Path, marker: str) -> int:
    """The index (in :func:`parse_blocks`) of the first python block that contains ``marker`` or
    comes after its first occurrence in the page (a heading, a sentence or a line of code)."""
    text = Path(page).read_text()
    pos = text.find(marker)
    if pos < 0:
        raise LookupError(f"{_display(Path(page))}: {marker!r} not found")
    line = text.count("\n", 0, pos) + 1
    for i, block in enumerate(parse_blocks(text)):
        if block.runs and block.end > line:
            return i
    raise LookupError(f"{_display(Path(page))}: no python block at or after {marker!r}")


def run_until(
    page: Path, marker: str, check: str = "", timeout_s: float = DEFAULT_TIMEOUT_S
) -> PageResult:
    """Run ``page`` as a reader would, top to bottom, up to and including the python block at
    ``marker`` (see :func:`block_at`); then ``check``, Python run in the same namespace (a
    test's assertions on what the blocks built)."""
    page = Path(page).resolve()
    blocks = parse_blocks(page.read_text())[: block_at(page, marker) + 1]
    if check:
        origin = f"<check after {marker!r}>"
        blocks.append(Block(lang="python", code=check, line=1, origin=origin))
    return run_blocks(page, blocks, timeout_s)


def run_blocks(page: Path, blocks: list[Block], timeout_s: float = DEFAULT_TIMEOUT_S) -> PageResult:
    """Run ``blocks`` (of ``page``) in a fresh interpreter: see the module docstring."""
    blocks = [b for b in blocks if b.runs or b.writes]
    n_python = sum(b.runs for b in blocks)
    for b in blocks:
        parts = Path(b.file).parts if b.file else ()
        if b.file and (Path(b.file).is_absolute() or ".." in parts or parts[0] in LINKED):
            # the folder's `examples` and `docs` are links into the repository: never write there
            message = f"<!-- file: {b.file} --> must name a new file inside the page's folder"
            return PageResult(page, False, n_python, 0.0, b.line, message)
    start = time.perf_counter()
    if n_python == 0:
        return PageResult(page, True, 0, 0.0)
    payload = json.dumps(
        {
            "page": str(page),
            "blocks": [
                {"file": b.file, "code": b.code, "line": b.line, "origin": b.origin} for b in blocks
            ],
        }
    )
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="optfn-docs-") as tmp:
        for name in LINKED:
            (Path(tmp) / name).symlink_to(ROOT / name, target_is_directory=True)
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _DRIVER],
                input=payload,
                capture_output=True,
                text=True,
                cwd=tmp,
                env=env,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr or ""
            text = err.decode(errors="replace") if isinstance(err, bytes) else err
            seconds = time.perf_counter() - start
            message = f"timed out after {timeout_s:.0f} s\n{text}"
            return PageResult(page, False, n_python, seconds, None, message)
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return PageResult(page, True, n_python, seconds)
    line = None
    err_lines = []
    for ln in proc.stderr.splitlines():
        if ln.startswith("@@FAILED_LINE "):
            line = int(ln.split()[1])
        else:
            err_lines.append(ln)
    output = "\n".join(err_lines)
    if proc.stdout.strip():
        output += "\n--- stdout ---\n" + proc.stdout
    return PageResult(page, False, n_python, seconds, line, output)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    targets = [Path(a) for a in args] if args else pages()
    failed = 0
    for target in targets:
        if not target.is_file():
            print(f"MISSING {target}")
            failed += 1
            continue
        result = run_page(target)
        print(result.report(), flush=True)
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
