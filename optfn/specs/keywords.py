"""Specs take keyword arguments only, and say so: :class:`KeywordOnly`, the base that checks it.

Every optfn spec is ``@attrs.frozen(kw_only=True)``: ``LinearWarmup(500)`` is refused. attrs'
own refusal (``__init__() takes 1 positional argument but 2 were given``) does not say what to
write; this base's ``__new__`` refuses positional arguments first with a
:class:`~optfn.errors.SpecTypeError` (a ``TypeError``) that names the fields.

>>> import attrs
>>> @attrs.frozen(kw_only=True)
... class Budget(KeywordOnly):
...     steps: int
...     scale: float = 1.0
>>> Budget(10)
Traceback (most recent call last):
    ...
optfn.errors.SpecTypeError: Budget takes keyword arguments only: write Budget(steps=..., ...) \
(fields: steps, scale)
"""

from __future__ import annotations

from typing import Any

import attrs

from optfn.errors import SpecTypeError

__all__ = ["KeywordOnly", "keyword_only_message", "positional_error"]


class KeywordOnly:
    """Base of the spec classes: positional arguments are a :class:`SpecTypeError` naming the
    fields to write (``X takes keyword arguments only: write X(a=..., ...) (fields: a, b)``).

    A class whose own ``__init__`` takes positional arguments (an attrs class without
    ``kw_only``) is left alone.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and _keyword_only(cls):
            raise positional_error(cls)
        return object.__new__(cls)  # (no base of a spec has a __new__ of its own)


def positional_error(cls: type) -> SpecTypeError:
    """The refusal of positional arguments: ``owner`` the class, no ``field`` (the call as a
    whole), ``str()`` the sentence of :func:`keyword_only_message`."""
    message = keyword_only_message(cls)
    err = SpecTypeError(cls.__name__, "", message.removeprefix(f"{cls.__name__} "))
    err.args = (message,)
    return err


def _keyword_only(cls: type) -> bool:
    return attrs.has(cls) and all(a.kw_only for a in attrs.fields(cls) if a.init)


def keyword_only_message(cls: type) -> str:
    """The words of the refusal: the fields to write, required ones first (a class without
    fields: ``"Constant takes no arguments: write Constant()"``).

    >>> from optfn.schedules import LinearWarmup
    >>> keyword_only_message(LinearWarmup)
    'LinearWarmup takes keyword arguments only: write LinearWarmup(warmup_steps=..., ...) \
(fields: warmup_steps, init_scale, warmup_ramp)'
    """
    name = cls.__name__
    fields = [a for a in attrs.fields(cls) if a.init] if attrs.has(cls) else []
    names = [a.alias or a.name for a in fields]
    if not names:
        return f"{name} takes no arguments: write {name}()"
    required = [a.alias or a.name for a in fields if a.default is attrs.NOTHING]
    shown = required or names[:1]
    more = ", ..." if len(shown) < len(names) else ""
    call = ", ".join(f"{n}=..." for n in shown) + more
    return f"{name} takes keyword arguments only: write {name}({call}) (fields: {', '.join(names)})"
