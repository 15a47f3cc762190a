"""Every docstring example in optfn runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import optfn

#: Package __init__ modules that only re-export: their modules carry the examples.
WITHOUT_EXAMPLES = {
    "optfn.build",
    "optfn.compat",
    "optfn.integrations",
    "optfn.optim",
    "optfn.routing",
    "optfn.schedules",
    "optfn.specs",
}

MODULES = [
    "optfn",
    *(
        m.name
        for m in pkgutil.walk_packages(optfn.__path__, "optfn.")
        if m.name != "optfn.cli.__main__"
    ),
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0 or name in WITHOUT_EXAMPLES, f"{name} has no docstring example"
