"""Sales reps: finite hours, uneven skill, ramp-up after hire, and the load of open deals.

A :class:`Rep` is the person currently in a *seat*; attrition empties a seat and a backfill
puts a new hire (with a fresh skill draw and a ramp-up) in it. Revenue and quota are counted
per seat, the unit a sales manager plans with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipesim.scenario.schema import Reps


@dataclass(slots=True)
class Rep:
    """The person in one seat."""

    seat: int
    skill: float
    noise: float  # sd of perceived-fit error
    hired_at: float  # day of hire (negative: before the horizon)
    productive_hours: float  # hours per week after admin
    ramp_days: float
    ramp_start: float
    prospecting_hours: float
    pursue_hours: float
    min_lead_hours: float
    open_opportunities: int = 0
    extra_hours: float = 0.0  # hours per week taken by extra work under way (e.g. flanking)
    ramped_at: float = 0.0  # day the rep reaches full productivity (set by :meth:`start`)

    def __post_init__(self) -> None:
        self.start(self.hired_at, self.skill, self.noise)

    def start(self, hired_at: float, skill: float, noise: float) -> None:
        """A new person takes the seat on day ``hired_at`` (the seat's load stays)."""
        self.hired_at = hired_at
        self.skill = skill
        self.noise = noise
        self.ramped_at = hired_at + self.ramp_days if self.ramp_days > 0 else -math.inf

    def productivity(self, now: float) -> float:
        """Share of full productivity at day ``now`` (linear ramp from ``ramp_start``)."""
        if now >= self.ramped_at:
            return 1.0
        progress = (now - self.hired_at) / self.ramp_days
        return self.ramp_start + (1.0 - self.ramp_start) * max(progress, 0.0)

    def lead_hours(self, now: float) -> float:
        """Hours per week left for new leads after prospecting and open deals."""
        free = (
            self.productive_hours * self.productivity(now)
            - self.prospecting_hours
            - self.pursue_hours * self.open_opportunities
            - self.extra_hours
        )
        return max(free, self.min_lead_hours)

    def coverage(self, now: float) -> float:
        """Share of the pursuit hours its open deals need that the rep can give (0-1)."""
        need = self.pursue_hours * (self.open_opportunities + 1)
        if need <= 0:
            return 1.0
        have = (
            self.productive_hours * self.productivity(now)
            - self.prospecting_hours
            - self.min_lead_hours
        )
        return min(1.0, max(have, 0.0) / need)


def hire(
    spec: Reps, seat: int, skill: float, noise: float, hired_at: float, prospecting_hours: float
) -> Rep:
    """A rep for ``seat`` with the team's hours and ramp, and its own skill and judgement."""
    return Rep(
        seat=seat,
        skill=skill,
        noise=noise,
        hired_at=hired_at,
        productive_hours=spec.hours_per_week * (1.0 - spec.admin_share),
        ramp_days=spec.ramp_weeks * 7.0,
        ramp_start=spec.ramp_start,
        prospecting_hours=prospecting_hours,
        pursue_hours=spec.pursue_hours_per_week,
        min_lead_hours=spec.min_lead_hours_per_week,
    )
