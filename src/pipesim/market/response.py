"""Lead response time: the chance a rep still reaches a lead, by the hours it took to respond.

Field studies of lead follow-up find the chance of reaching a web-generated lead, and finding it
still qualified, falls steeply within hours of the lead's contact (domain.md §2, 003; the
default curve and its source are :class:`pipesim.scenario.schema.ResponseCurve`). The engine asks
:meth:`Reach.chance` when a rep first picks a lead up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipesim.scenario.schema import ResponseCurve


@dataclass(frozen=True, slots=True)
class Reach:
    """A :class:`ResponseCurve` in the form the engine evaluates once per lead picked up."""

    prompt_hours: float
    hour_later_hours: float
    log_hour_later: float
    day_hours: float
    log_day: float

    @classmethod
    def of(cls, curve: ResponseCurve) -> Reach | None:
        """The curve's evaluator, or None when it never decays."""
        if curve.hour_later_relative >= 1.0 and curve.day_relative >= 1.0:
            return None
        return cls(
            curve.prompt_hours,
            curve.hour_later_hours,
            math.log(curve.hour_later_relative),
            curve.day_hours,
            math.log(curve.day_relative),
        )

    def chance(self, hours: float) -> float:
        """Chance of reaching the lead after ``hours``, relative to a prompt response (0-1]."""
        if hours <= self.prompt_hours:
            return 1.0
        if hours >= self.day_hours:
            return math.exp(self.log_day)
        if hours <= self.hour_later_hours:
            lo_h, lo, hi_h, hi = self.prompt_hours, 0.0, self.hour_later_hours, self.log_hour_later
        else:
            lo_h, lo = self.hour_later_hours, self.log_hour_later
            hi_h, hi = self.day_hours, self.log_day
        return math.exp(lo + (hi - lo) * (hours - lo_h) / (hi_h - lo_h))
