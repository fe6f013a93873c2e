"""The market side of a scenario.

Segments and their buyers, our and the competitors' scores per criterion, the buyer's journey
through its stages, and the buyer's choice among us, the competitors and the status quo.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pipesim.scenario.schema.base import (
    MAX_CONCENTRATION,
    MAX_DAYS,
    MAX_GROUP,
    MAX_SCORE_POINTS,
    MAX_SHARE_WEIGHT,
    BetaShare,
    SizeDistribution,
    Spec,
    param,
)

MAX_BUYERS_PER_WEEK = 10_000.0
"""Largest flow of buyer organisations into one segment per week."""


class Impact(Spec):
    """Organisational impact of the purchase, each a mean share in [0, 1] (domain.md §1, 003)."""

    cost: float = param(
        0.5, "Mean cost intensity of the purchase.", "domain.md §1 (003)", ge=0, le=1
    )
    ip_intensity: float = param(
        0.5, "Mean intellectual-property intensity.", "domain.md §1 (003)", ge=0, le=1
    )
    risk: float = param(
        0.5, "Mean risk of the purchase to the buyer.", "domain.md §1 (003)", ge=0, le=1
    )
    frequency: float = param(
        0.5, "Mean purchase frequency (1 = bought all the time).", "domain.md §1 (003)", ge=0, le=1
    )
    concentration: float = param(
        8.0,
        "Beta concentration of each impact factor across buyers.",
        "judgement",
        gt=0,
        le=MAX_CONCENTRATION,
    )


class Segment(Spec):
    """A market segment (S1-S4 by price x complexity in domain.md §3, or user-defined)."""

    description: str = param(
        "", "Free-text description of the segment (e.g. price x complexity).", "user data"
    )
    buyers_per_week: float = param(
        10.0,
        "Buyer organisations entering awareness per week (the segment's market flow).",
        "judgement",
        ge=0,
        le=MAX_BUYERS_PER_WEEK,
    )
    inbound_share: float = param(
        0.35,
        "Share of the segment's buyers who contact us at their engagement point (inbound leads).",
        "judgement",
        ge=0,
        le=1,
    )
    deal_size: SizeDistribution = SizeDistribution()
    fit: BetaShare = param(
        BetaShare(),
        "True product fit of a buyer's need to our solution, 0-1.",
        "domain.md §2 (000, 002)",
    )
    criteria_weights: dict[
        str, Annotated[float, Field(ge=0, le=MAX_SHARE_WEIGHT, allow_inf_nan=False)]
    ] = param(
        {"functionality": 0.35, "price": 0.25, "service": 0.2, "risk": 0.2},
        "Mean weight the segment's buyers give each purchase criterion (normalised to sum 1; "
        "each 0-100).",
        "domain.md §2 (003 flanking example)",
    )
    weight_noise: float = param(
        0.3,
        "Lognormal sigma of buyer-to-buyer variation in criteria weights (0 = identical buyers).",
        "judgement",
        ge=0,
        le=3,
    )
    status_quo_score: float = param(
        5.6,
        "Score (0-10 scale) of doing nothing: the status quo's option in the logit choice.",
        "domain.md §1 (003: no decision is usually rational)",
        ge=0,
        le=10,
    )
    status_quo_noise: float = param(
        0.5, "Sd of the buyer-to-buyer status-quo score.", "judgement", ge=0, le=MAX_SCORE_POINTS
    )
    buying_group_mean: float = param(
        6.8, "Mean number of people in the buying group.", "domain.md §1 (001)", ge=1, le=MAX_GROUP
    )
    journey_scale: float = param(
        1.0,
        "Multiplier on every stage dwell time (complex purchases take longer).",
        "domain.md §1 (001)",
        gt=0,
        le=100,
    )
    impact: Impact = Impact()
    p_budget: float = param(
        0.8,
        "Probability the buyer has budget for the purchase.",
        "domain.md §2 (000, 002)",
        ge=0,
        le=1,
    )
    p_authority: float = param(
        0.8,
        "Probability the buyer's decision maker is involved and reachable (authority).",
        "domain.md §2 (000, 002: access to the decision maker)",
        ge=0,
        le=1,
    )
    p_timing: float = param(
        0.85, "Probability the buyer's timing is real.", "domain.md §2 (000, 002)", ge=0, le=1
    )
    competitors: list[str] | None = param(
        None,
        "Competitors active in this segment (default: every competitor).",
        "judgement",
    )


class Vendor(Spec):
    """A vendor's scores per purchase criterion, 0-10."""

    scores: dict[str, Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]] = param(
        {"functionality": 7.0, "price": 6.0, "service": 7.0, "risk": 6.5},
        "Score per criterion on a 0-10 scale.",
        "judgement",
    )


class Competitor(Vendor):
    """A named competitor: scores, and how often it is in a deal."""

    presence: float = param(
        0.8, "Probability the competitor is in a given buyer's evaluation.", "judgement", ge=0, le=1
    )


class StageTiming(Spec):
    """Dwell time in a journey stage and the hazard of stalling into no decision."""

    mean_days: float = param(
        30.0, "Mean dwell time in the stage (days).", "judgement", gt=0, le=MAX_DAYS
    )
    cv: float = param(
        0.6,
        "Coefficient of variation of the gamma dwell time (1 = exponential).",
        "judgement",
        ge=0.01,
        le=5,
    )
    stall_hazard_per_week: float = param(
        0.01,
        "Hazard per week of the buying group giving up in this stage (indecision).",
        "domain.md §1 (003, 004: most journeys end in no decision)",
        ge=0,
        le=10,
    )


def _stage(mean: float, hazard: float) -> StageTiming:
    return StageTiming(mean_days=mean, cv=0.6, stall_hazard_per_week=hazard)


class Journey(Spec):
    """The buyer's own clock: awareness -> interest -> preference -> decision (design.md)."""

    awareness: StageTiming = _stage(35.0, 0.015)
    interest: StageTiming = _stage(45.0, 0.015)
    preference: StageTiming = _stage(35.0, 0.015)
    decision: StageTiming = _stage(25.0, 0.015)
    reference_group_size: float = param(
        6.8,
        "Buying-group size at which the dwell and hazard multipliers are 1.",
        "domain.md §1 (001: 6.8 people)",
        ge=1,
        le=MAX_GROUP,
    )
    group_dwell_elasticity: float = param(
        0.5,
        "Elasticity of dwell times to buying-group size: (size/ref)^e.",
        "domain.md §1 (001: decision time stretches)",
        ge=0,
        le=3,
    )
    group_hazard_elasticity: float = param(
        1.0,
        "Elasticity of the stall hazard to buying-group size: (size/ref)^e.",
        "domain.md §1 (001, 003)",
        ge=0,
        le=3,
    )

    def stages(self) -> tuple[StageTiming, ...]:
        """Stage timings in journey order."""
        return (self.awareness, self.interest, self.preference, self.decision)


class Choice(Spec):
    """Multinomial-logit choice among us, competitors and the status quo (design.md)."""

    sensitivity: float = param(
        1.0,
        "Logit scale per score point: larger makes choices more deterministic.",
        "judgement",
        ge=0,
        le=20,
    )
    fit_effect: float = param(
        4.0,
        "Score points our offer gains per unit of buyer fit above 0.5 (we solve the need).",
        "domain.md §2 (000, 002: pursue only what you can solve 100%)",
        ge=0,
        le=2 * MAX_SCORE_POINTS,
    )
    early_shaping: float = param(
        1.2,
        "Score points a skill-1.0 rep adds to our offer when engaged before the preference forms.",
        "domain.md §1 (003: engaging earlier gives more chance to create value)",
        ge=0,
        le=MAX_SCORE_POINTS,
    )
    late_effect: float = param(
        0.3,
        "Score points a skill-1.0 rep adds at the decision when engaged after the preference.",
        "domain.md §2 (000: expertise wins the detailed decision phase)",
        ge=0,
        le=MAX_SCORE_POINTS,
    )
    unengaged_penalty: float = param(
        1.0,
        "Score points we lack at preference formation when no rep of ours is engaged yet.",
        "domain.md §1 (003: after the 57% point a competitor is usually preferred)",
        ge=0,
        le=MAX_SCORE_POINTS,
    )
    stickiness: float = param(
        0.7,
        "Probability the buyer decides for the option it preferred, without re-evaluating.",
        "domain.md §1 (003)",
        ge=0,
        le=1,
    )
    missing_check_penalty: float = param(
        1.5,
        "Score points added to the status quo per failed check (budget, authority, timing).",
        "domain.md §2 (003: bad qualification ends in loss or no decision)",
        ge=0,
        le=MAX_SCORE_POINTS,
    )
