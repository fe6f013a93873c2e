"""What a forecast starts from and aims at.

The pipeline open at day 0, how uncertain the parameters are, the target and the economics.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pipesim.scenario.schema.base import (
    MAX_DAYS,
    MAX_GROUP,
    MAX_MONEY,
    MAX_TARGET,
    MAX_WEEKS,
    Spec,
    param,
)

MAX_OPEN_PER_ROW = 10_000
"""Largest count of one open-pipeline row."""


class OpenOpportunities(Spec):
    """Opportunities already in the pipeline at the start of the horizon."""

    segment: str = param(..., "Segment of these opportunities (a key of segments).", "user data")
    stage: Literal["awareness", "interest", "preference", "decision"] = param(
        "interest", "Journey stage the buyers are in at day 0.", "user data"
    )
    count: int = param(1, "Number of such opportunities.", "user data", ge=1, le=MAX_OPEN_PER_ROW)
    value: float | None = param(
        None, "Value of each (default: drawn from the segment).", "user data", gt=0, le=MAX_MONEY
    )
    days_in_stage: float | None = param(
        None,
        "Days already spent in the stage (default: a random point of the stage).",
        "user data",
        ge=0,
        le=MAX_DAYS,
    )
    engaged_early: bool = param(
        True,
        "Whether our rep was engaged before the buyer's preference formed.",
        "user data",
    )
    id: str | None = param(
        None,
        "Opportunity id, e.g. the CRM's (with count > 1: suffixed -1, -2, ...; default: "
        "segment, stage and position).",
        "user data",
        min_length=1,
    )
    name: str = param("", "Account or opportunity name shown in deals.csv.", "user data")
    owner: str | None = param(
        None,
        "Rep who owns it: a name from reps.members or a seat label rep01, rep02, ..., or a "
        "team (its deals are dealt to the team's reps in turn) (default: open deals are dealt "
        "to all seats in turn).",
        "user data",
    )
    preferred: Literal["us", "competitor", "status_quo"] | None = param(
        None,
        "Whom the buyer already prefers, when known (stage preference or decision only); "
        "default: drawn by the model like any buyer's preference.",
        "user data",
    )
    buying_group: int | None = param(
        None,
        "People in the buying group, when known (default: drawn from the segment).",
        "user data",
        ge=1,
        le=int(MAX_GROUP),
    )
    activity_planned: bool = param(
        True,
        "Whether the owner has a next activity planned; without one the rep's effort does not "
        "reach the buyer (no shaping, no flank).",
        "user data",
    )
    close_date: _dt.date | None = param(
        None,
        "Expected close date the CRM shows: the buyer does not decide before it (a deal pushed "
        "out cannot close earlier; the wait leaves more time to stall); a date on or before "
        "target.start_date sets nothing (default: the journey's own clock).",
        "user data (modelling choice: a stated close date as the earliest decision)",
    )

    @model_validator(mode="after")
    def _preference_needs_stage(self) -> OpenOpportunities:
        if self.preferred is not None and self.stage in ("awareness", "interest"):
            raise ValueError(
                f"preferred is only known once the buyer's preference formed: stage must be "
                f"preference or decision, not {self.stage}"
            )
        return self


class BookedDeal(Spec):
    """A deal already won in the target period before ``target.start_date``."""

    id: str = param(..., "Opportunity id, e.g. the CRM's.", "user data", min_length=1)
    name: str = param("", "Account or opportunity name.", "user data")
    value: float = param(..., "Amount booked (currency).", "user data", gt=0, le=MAX_MONEY)
    segment: str | None = param(None, "Segment of the deal, when known.", "user data")
    closed: _dt.date | None = param(None, "Day it was won, when known.", "user data")
    owner: str | None = param(None, "Rep or CRM owner who won it, when known.", "user data")


class Uncertainty(Spec):
    """How uncertain one parameter's value is (``pipesim run --parameter-uncertainty``)."""

    sd: float = param(
        ...,
        "Standard deviation: of the value (normal; at most the width of the parameter's range) "
        "or of its logarithm (lognormal; at most 3).",
        "calibration (pipesim calibrate)",
        ge=0,
    )
    distribution: Literal["normal", "lognormal"] = param(
        "normal",
        "normal: value + sd * z, redrawn until inside the parameter's bounds; lognormal: "
        "value * exp(sd * z) (for positive scales).",
        "calibration (pipesim calibrate)",
    )


class Target(Spec):
    """What we must book over the horizon."""

    revenue: float = param(
        ..., "Bookings target over the horizon (currency).", "user data", gt=0, le=MAX_TARGET
    )
    horizon_weeks: float = param(
        52.0, "Length of the forecast horizon (weeks).", "user data", gt=0, le=MAX_WEEKS
    )
    start_date: _dt.date = param(
        _dt.date(2026, 1, 1), "Calendar date of day 0 (for reports).", "user data"
    )
    period_start: _dt.date | None = param(
        None,
        "First day of the target period when it began before start_date (a forecast part-way "
        "through a quarter): the deals in `booked` were won from then to start_date and count "
        "toward the target; a CRM export as --pipeline fills `booked` from this day (default: "
        "start_date, nothing booked yet).",
        "user data",
    )
    rep_quota: float | None = param(
        None,
        "Quota per rep seat over the horizon (default: revenue / seats).",
        "user data",
        gt=0,
        le=MAX_TARGET,
    )
    rep_quotas: dict[str, Annotated[float, Field(gt=0, le=MAX_TARGET, allow_inf_nan=False)]] = (
        param(
            {},
            "Quota over the horizon of named rep seats (a member's name, or rep01, rep02, ...); "
            "a seat not named takes rep_quota. Written by `pipesim quotas` (equal-chance quotas).",
            "user data",
        )
    )


class Economics(Spec):
    """Money beyond bookings."""

    currency: str = param("EUR", "ISO currency code used in reports.", "user data")
    gross_margin: float = param(
        0.7, "Gross margin on bookings.", "domain.md §3 (000, 002)", ge=0, le=1
    )
