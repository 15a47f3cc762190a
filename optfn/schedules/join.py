"""``Join``: schedules in sequence, each on its own local step (a warm-up followed by anything).

>>> from optfn.schedules import Join, LinearDecay, LinearWarmup, lr_curve
>>> lr_curve(Join(pieces=(LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=2)),
...               boundaries=(2,)), 5).tolist()
[0.5, 1.0, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

__all__ = ["Join", "join_depth"]


@attrs.frozen(kw_only=True)
class Join(Schedule):
    """Schedules in sequence, each on its own local step: with ``b_0 = 0`` and
    ``boundaries = (b_1, ..., b_{n-1})``,
    ``λ(s) = pieces[i](s - b_i)`` for ``b_i <= s < b_{i+1}`` (the last piece runs forever).

    ``boundaries`` are strictly increasing step numbers ``>= 1``, one fewer than ``pieces``.
    Continuity is the caller's business: join a piece that ends at 1.0 (a
    :class:`LinearWarmup` of ``W`` steps at boundary ``W``) with one that starts at 1.0 (any
    decay), or a decay that ends at ``α`` with a ``LinearWarmup(init_scale=α)``.

    >>> from optfn.schedules import Join, LinearDecay, LinearWarmup, lr_curve
    >>> sched = Join(pieces=[LinearWarmup(warmup_steps=2), LinearDecay(decay_steps=4)],
    ...              boundaries=[2])
    >>> lr_curve(sched, 8).tolist()
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    pieces: tuple[Schedule, ...] = attrs.field(
        converter=v.to_tuple, validator=v.instance_tuple(Schedule, min_len=1)
    )
    boundaries: tuple[int, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.increasing_steps(1, MAX_STEPS)
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

    def nested(self) -> tuple[Schedule, ...]:
        return self.pieces

    def formula(self, x: Any, xp: MathNamespace) -> Any:
        return evaluate_segments(self, x, xp)

    def segments(self, stop: int) -> Sequence[Segment]:
        starts = (0, *self.boundaries)
        return tuple(zip(starts, starts, self.pieces, strict=True))


def join_depth(schedule: Schedule) -> int:
    """How deep Joins (and Products) nest in ``schedule``: 0 for a shape, 1 for a Join of
    shapes, ... (:func:`optfn.schedules.base.nesting_depth`).

    >>> from optfn.schedules import Constant, Join
    >>> join_depth(Join(pieces=(Constant(), Join(pieces=(Constant(),))), boundaries=(5,)))
    2
    """
    return nesting_depth(schedule)
