"""The seeds' API: seed 000's spec methods (one mixin) and seed 002's builders.

This package's ``__init__`` imports nothing, so that :mod:`optfn.specs` can take the mixin
from :mod:`optfn.compat.methods` without loading anything above it.
"""
