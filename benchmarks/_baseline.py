"""An earlier optfn, from a git commit, importable beside the current one in the same process.

``load("645344b")`` extracts that commit's ``optfn/`` into a temporary folder as the package
``optfn_base`` (every ``optfn`` import inside it rewritten to ``optfn_base``) and imports it,
so a benchmark can time today's code and the baseline round-robin, in one process, on the
same inputs: a ratio against the past that machine load cannot bend.
"""

from __future__ import annotations

import atexit
import importlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

_ROOT = Path(__file__).resolve().parent.parent
_IMPORT = re.compile(r"\b(from|import)\s+optfn\b")
_DOTTED = re.compile(r"\boptfn\.(?=[a-z_])")


def load(ref: str, name: str = "optfn_base") -> ModuleType:
    """Import commit ``ref``'s optfn as the package ``name`` (cached per process)."""
    if name in sys.modules:
        return sys.modules[name]
    blob = subprocess.run(
        ["git", "-C", str(_ROOT), "archive", "--format=tar", ref, "optfn"],
        check=True,
        capture_output=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # modules import lazily
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(folder, filter="data")
    pkg = folder / "optfn"
    for path in pkg.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = _IMPORT.sub(lambda m: f"{m.group(1)} {name}", text)
        text = _DOTTED.sub(f"{name}.", text)
        path.write_text(text, encoding="utf-8")
    pkg.rename(folder / name)
    sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def describe(ref: str) -> str:
    """``ref`` as ``"<short hash> <subject>"`` for the benchmark's header."""
    out = subprocess.run(
        ["git", "-C", str(_ROOT), "log", "-1", "--format=%h %s", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out[:90]
