"""Temporary: being removed (imports move to optfn.io)."""

from optfn.io import *  # noqa: F403
from optfn.io import __all__  # noqa: F401
from optfn.io.converter import make_converter  # noqa: F401
from optfn.io.problems import render_problems  # noqa: F401
