"""The compatibility APIs: the spec-method API and the epoch-based builders.

The spec-method API is a set of methods on optimizer specs (``create_optimizer``,
``create_optimizer_for_multiple``, ``create_scheduler``, ``to_dict``, ``from_serialized``), in
one mixin; the epoch-based builders are ``build_optimizer``, ``build_scheduler`` and
``build_warmup_cosine``.

This package's ``__init__`` imports nothing, so that :mod:`optfn.specs` can take the mixin
from :mod:`optfn.compat.methods` without loading anything above it.
"""
