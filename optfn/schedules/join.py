"""``Join``: schedules in sequence, each on its own local step (a warm-up followed by anything),
or each on the global step (``clock="global"``: timm's warm-up over a running schedule).

>>> from optfn.schedules import Join, LinearDecay, LinearWarmup, lr_curve
>>> lr_curve(Join(pieces=(LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=2)),
...               boundaries=(2,)), 5).tolist()
[0.5, 1.0, 1.0, 0.5, 0.0]
>>> lr_curve(Join(pieces=(LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=4)),
...               boundaries=(2,), clock="global"), 5).tolist()
[0.5, 1.0, 0.5, 0.25, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

from optfn.errors import SpecError
from optfn.schedules.base import (
    MAX_STEPS,
    Schedule,
    Segment,
    check_depth,
    evaluate_segments,
    nesting_depth,
)
from optfn.schedules.xp import MathNamespace
from optfn.specs import checks as v
from optfn.specs.render import brief

__all__ = ["Clock", "Join", "join_depth"]

#: Which step a :class:`Join`'s pieces see: their own local one, or the schedule's.
Clock = Literal["local", "global"]


@attrs.frozen(kw_only=True)
class Join(Schedule):
    """Schedules in sequence: with ``b_0 = 0`` and ``boundaries = (b_1, ..., b_{n-1})``,
    piece ``i`` gives the multiplier for ``b_i <= s < b_{i+1}`` (the last piece runs forever),
    on the step that ``clock`` says:

    * ``"local"`` (default): each piece on its own local step, ``λ(s) = pieces[i](s - b_i)``:
      a piece starts from its step 0 at its boundary;
    * ``"global"``: every piece on the schedule's step itself, ``λ(s) = pieces[i](s)``: a
      piece shows its values from ``b_i`` on, as if it had run from step 0 underneath the
      pieces before it. timm's ``CosineLRScheduler(warmup_prefix=False)`` (its default) is a
      warm-up over a cosine of the global step: ``Join(pieces=(Ramp(steps=W,
      start_scale=w0), CosineDecay(decay_steps=T, min_lr_scale=α)), boundaries=(W,),
      clock="global")``.

    ``boundaries`` are strictly increasing step numbers ``>= 1``, one fewer than ``pieces``.
    Continuity is the caller's business: join a piece that ends at 1.0 (a
    :class:`LinearWarmup` of ``W`` steps at boundary ``W``) with one that starts at 1.0 (any
    decay), or a decay that ends at ``α`` with a ``LinearWarmup(init_scale=α)``. (On the
    global clock a piece joins at whatever value it has at its boundary.)

    >>> from optfn.schedules import Join, LinearDecay, LinearWarmup, lr_curve
    >>> sched = Join(pieces=[LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=4)],
    ...              boundaries=[2])
    >>> lr_curve(sched, 8).tolist()
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    >>> lr_curve(attrs.evolve(sched, clock="global"), 8).tolist()
    [0.5, 1.0, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0]
    """

    pieces: tuple[Schedule, ...] = attrs.field(
        converter=v.to_tuple, validator=v.instance_tuple(Schedule, min_len=1)
    )
    boundaries: tuple[int, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.increasing_steps(1, MAX_STEPS)
    )
    # left out of a file when "local", as Joins were written before the field existed (a
    # scheduler's state compares schedule records as data)
    clock: Clock = attrs.field(
        default="local",
        validator=v.one_of("local", "global"),
        metadata={"omit_if_default": True},
    )

    def __attrs_post_init__(self) -> None:
        if len(self.boundaries) != len(self.pieces) - 1:
            raise SpecError(
                type(self).__name__,
                "boundaries",
                f"must hold len(pieces) - 1 = {len(self.pieces) - 1} step(s), "
                f"got {len(self.boundaries)}: {brief(self.boundaries)}",
            )
        check_depth(self, "pieces")

    def __repr__(self) -> str:
        # the default clock is left out, so that a local Join reads as it always has
        clock = "" if self.clock == "local" else f", clock={self.clock!r}"
        return (
            f"{type(self).__name__}(pieces={self.pieces!r}, boundaries={self.boundaries!r}{clock})"
        )

    def nested(self) -> tuple[Schedule, ...]:
        return self.pieces

    def max_multiplier(self) -> float | None:
        bounds = [p.max_multiplier() for p in self.pieces]
        return None if None in bounds else max(b for b in bounds if b is not None)

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return evaluate_segments(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        starts = (0, *self.boundaries)
        # a piece's origin: its own boundary (local), or step 0 (global: a segment may then
        # start after its origin, which flatten handles by clipping the piece's segments)
        origins = starts if self.clock == "local" else (0,) * len(starts)
        return tuple(zip(starts, origins, self.pieces, strict=True))


def join_depth(schedule: Schedule) -> int:
    """How deep Joins (and Products) nest in ``schedule``: 0 for a shape, 1 for a Join of
    shapes, ... (:func:`optfn.schedules.base.nesting_depth`).

    >>> from optfn.schedules import Constant, Join
    >>> join_depth(Join(pieces=(Constant(), Join(pieces=(Constant(),))), boundaries=(5,)))
    2
    """
    return nesting_depth(schedule)
