"""The scenario: a frozen, validated description of a sales organisation and its market.

Every number the model uses lives here, as a field with a default, a unit and a source. The
engine only reads a :class:`Scenario`; a what-if is a new copy (``model_copy`` or a dot-path
override through :func:`pipesim.loader.load_scenario`).

Times are in days inside the engine; fields say their unit in their name (``_days``, ``_weeks``,
``_per_week``). Money is in the scenario's currency.

Sources are cited as ``domain.md §N (seed file)``, pointing at the team's domain brief; values
marked *judgement* are modelling choices tuned so the baseline reproduces the seed figures (see
``docs/model.md``, calibration table).
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipesim.scenario.edit import merge
from pipesim.scenario.registry import policy_registry

STAGES: tuple[str, ...] = ("awareness", "interest", "preference", "decision")
"""The four phases of every buying journey, in order (domain.md §1, 003)."""

TERMINAL_STATES: tuple[str, ...] = (
    "won",
    "lost",
    "no_decision",
    "disqualified",
    "uncaptured",
    "open_at_end",
)
"""Every lead ends a replication in exactly one of these states."""

QUALIFICATION_CHECKS: tuple[str, ...] = ("budget", "authority", "timing")


def param(default: Any, description: str, source: str, **constraints: Any) -> Any:
    """Declare a scenario parameter with its default, meaning and source.

    Numeric parameters are strict (``"40"`` or ``true`` is not a number) and finite.
    """
    if isinstance(default, int | float) and not isinstance(default, bool):
        constraints.setdefault("strict", True)
        constraints.setdefault("allow_inf_nan", False)
    return Field(
        default,
        description=description,
        json_schema_extra={"source": source},
        **constraints,
    )


class Spec(BaseModel):
    """Base for every scenario block: immutable, and unknown keys are errors.

    A block given in part keeps the defaults *of its context* for the keys it omits: setting
    ``journey.awareness.mean_days`` keeps the awareness stage's own stall hazard rather than the
    generic stage default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _fill_partial_blocks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, info in cls.model_fields.items():
            given = filled.get(name)
            if isinstance(given, dict) and isinstance(info.default, BaseModel):
                filled[name] = merge(info.default.model_dump(), given)
        return filled


# --------------------------------------------------------------------------- distributions
class SizeDistribution(Spec):
    """A positive amount drawn from a lognormal with the given mean and coefficient of variation."""

    mean: float = param(50_000.0, "Mean deal value (currency).", "judgement", gt=0)
    cv: float = param(0.6, "Coefficient of variation (sd / mean).", "judgement", ge=0)


class BetaShare(Spec):
    """A share in [0, 1] drawn from a Beta with the given mean and concentration (a + b)."""

    mean: float = param(0.55, "Mean of the share.", "judgement", gt=0, lt=1)
    concentration: float = param(
        6.0, "Concentration a + b of the Beta; larger means less spread.", "judgement", gt=0
    )


# --------------------------------------------------------------------------- market
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
        8.0, "Beta concentration of each impact factor across buyers.", "judgement", gt=0
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
    criteria_weights: dict[str, float] = param(
        {"functionality": 0.35, "price": 0.25, "service": 0.2, "risk": 0.2},
        "Mean weight the segment's buyers give each purchase criterion (normalised to sum 1).",
        "domain.md §2 (003 flanking example)",
    )
    weight_noise: float = param(
        0.3,
        "Lognormal sigma of buyer-to-buyer variation in criteria weights (0 = identical buyers).",
        "judgement",
        ge=0,
    )
    status_quo_score: float = param(
        5.6,
        "Score (0-10 scale) of doing nothing: the status quo's option in the logit choice.",
        "domain.md §1 (003: no decision is usually rational)",
    )
    status_quo_noise: float = param(
        0.5, "Sd of the buyer-to-buyer status-quo score.", "judgement", ge=0
    )
    buying_group_mean: float = param(
        6.8, "Mean number of people in the buying group.", "domain.md §1 (001)", ge=1
    )
    journey_scale: float = param(
        1.0,
        "Multiplier on every stage dwell time (complex purchases take longer).",
        "domain.md §1 (001)",
        gt=0,
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

    mean_days: float = param(30.0, "Mean dwell time in the stage (days).", "judgement", gt=0)
    cv: float = param(
        0.6,
        "Coefficient of variation of the gamma dwell time (1 = exponential).",
        "judgement",
        gt=0,
    )
    stall_hazard_per_week: float = param(
        0.01,
        "Hazard per week of the buying group giving up in this stage (indecision).",
        "domain.md §1 (003, 004: most journeys end in no decision)",
        ge=0,
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
    )
    group_dwell_elasticity: float = param(
        0.5,
        "Elasticity of dwell times to buying-group size: (size/ref)^e.",
        "domain.md §1 (001: decision time stretches)",
        ge=0,
    )
    group_hazard_elasticity: float = param(
        1.0,
        "Elasticity of the stall hazard to buying-group size: (size/ref)^e.",
        "domain.md §1 (001, 003)",
        ge=0,
    )

    def stages(self) -> tuple[StageTiming, ...]:
        """Stage timings in journey order."""
        return (self.awareness, self.interest, self.preference, self.decision)


class Engagement(Spec):
    """When a buyer contacts vendors, as a fraction of its journey (domain.md §1, 003)."""

    mean_fraction: float = param(
        0.55,
        "Mean journey fraction at which an average-impact inbound buyer contacts vendors. "
        "Tuned so the *observed* mean over the baseline's inbound leads is the 57% point "
        "(buyers who would engage late stall more often first; low-impact segments engage later).",
        "domain.md §1 (003: 57%)",
        gt=0,
        lt=1,
    )
    concentration: float = param(
        10.0, "Beta concentration of the engagement fraction across buyers.", "judgement", gt=0
    )
    impact_effect: float = param(
        -1.0,
        "Shift of the engagement fraction's logit per unit of impact above 0.5 "
        "(negative: high-impact purchases engage earlier).",
        "domain.md §1 (003)",
    )
    frequency_effect: float = param(
        1.0,
        "Shift of the logit per unit of purchase frequency above 0.5 (frequent = later).",
        "domain.md §1 (003: copier paper never needs a seller)",
    )
    policy: str = param(
        "reactive",
        "Engagement-timing policy: 'reactive' (wait for the buyer's contact) or 'proactive' "
        "(account planning reaches a share of inbound buyers earlier).",
        "domain.md §1 (003: engage first rather than react)",
    )
    proactive_share: float = param(
        0.3,
        "Proactive policy: share of inbound buyers our account planning reaches early.",
        "judgement",
        ge=0,
        le=1,
    )
    proactive_fraction: BetaShare = param(
        BetaShare(mean=0.25, concentration=6.0),
        "Proactive policy: journey fraction at which account planning reaches a buyer.",
        "domain.md §1 (003: awareness or interest, before the preference forms)",
    )
    proactive_hours_per_week: float = param(
        3.0, "Proactive policy: account-planning hours per rep per week.", "judgement", ge=0
    )


class Flanking(Spec):
    """Flanking: shift a buyer who prefers a competitor toward our unique value (003)."""

    policy: str = param(
        "none",
        "Flanking policy: 'none' or 'flank' (attempt when a competitor is preferred).",
        "domain.md §2 (003: flanking)",
    )
    sponsor_probability: float = param(
        0.4,
        "Probability the buyer has a supporter who backs our reframing (executive sponsor).",
        "domain.md §2 (003: someone to flank with)",
        ge=0,
        le=1,
    )
    max_success: float = param(
        0.6,
        "Success probability of a flank with a sponsor and a large uniqueness gap.",
        "judgement",
        ge=0,
        le=1,
    )
    gap_scale: float = param(
        1.0,
        "Uniqueness gap (score points) at which success reaches 63% of its maximum.",
        "domain.md §2 (003: something the competitor cannot match)",
        gt=0,
    )
    weight_shift: float = param(
        0.3,
        "Share of the buyer's criteria weight moved onto our unique criterion by a success.",
        "domain.md §2 (003: efficacy+safety 70%, duration 10% -> duration key)",
        ge=0,
        le=1,
    )
    hours_per_week: float = param(
        2.0, "Extra rep hours per week while a flank is under way.", "judgement", ge=0
    )
    move_last: bool = param(
        True,
        "Flank at the decision stage (move last) rather than as soon as the preference forms.",
        "domain.md §2 (003: make your move last)",
    )
    early_move_success: float = param(
        0.5,
        "Multiplier on success when flanking early: the competitor has time to respond.",
        "domain.md §2 (003: make your move last)",
        ge=0,
        le=1,
    )


class Choice(Spec):
    """Multinomial-logit choice among us, competitors and the status quo (design.md)."""

    sensitivity: float = param(
        1.0,
        "Logit scale per score point: larger makes choices more deterministic.",
        "judgement",
        ge=0,
    )
    fit_effect: float = param(
        4.0,
        "Score points our offer gains per unit of buyer fit above 0.5 (we solve the need).",
        "domain.md §2 (000, 002: pursue only what you can solve 100%)",
    )
    early_shaping: float = param(
        1.2,
        "Score points a skill-1.0 rep adds to our offer when engaged before the preference forms.",
        "domain.md §1 (003: engaging earlier gives more chance to create value)",
    )
    late_effect: float = param(
        0.3,
        "Score points a skill-1.0 rep adds at the decision when engaged after the preference.",
        "domain.md §2 (000: expertise wins the detailed decision phase)",
    )
    unengaged_penalty: float = param(
        1.0,
        "Score points we lack at preference formation when no rep of ours is engaged yet.",
        "domain.md §1 (003: after the 57% point a competitor is usually preferred)",
        ge=0,
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
    )


class Campaign(Spec):
    """A marketing campaign that reaches segments and generates leads (domain.md §3)."""

    segments: dict[str, float] = param(
        {}, "Share of the campaign's responses per segment (normalised).", "domain.md §3 (000, 002)"
    )
    budget_per_week: float = param(
        2000.0, "Spend per week while active (currency).", "judgement", ge=0
    )
    cost_per_lead: float = param(400.0, "Spend per responding buyer (currency).", "judgement", gt=0)
    fit_shift: float = param(
        0.0, "Shift of responders' mean fit (profile match of the campaign).", "domain.md §3 (002)"
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.4, concentration=6.0),
        "Journey fraction at which responders are reached (campaigns reach buyers earlier).",
        "domain.md §1 (003)",
    )
    start_week: float = param(0.0, "Week the campaign starts.", "judgement", ge=0)
    end_week: float | None = param(None, "Week the campaign ends (default: horizon).", "judgement")


class Prospecting(Spec):
    """Cold leads the reps find themselves: cost rep hours, lower quality (domain.md §2-3)."""

    hours_per_week: float = param(
        4.0, "Hours per rep per week spent prospecting.", "judgement", ge=0
    )
    hours_per_lead: float = param(5.0, "Prospecting hours per lead found.", "judgement", gt=0)
    fit_shift: float = param(
        -0.15, "Shift of prospects' mean fit (cold leads fit worse).", "domain.md §2 (003)"
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.35, concentration=3.0),
        "Journey fraction at which a prospect is reached.",
        "judgement",
    )


class Referrals(Spec):
    """Warm leads from referrals and champions who change jobs (domain.md §2, 001)."""

    per_week: float = param(0.6, "Referral leads per week, team-wide.", "domain.md §2 (001)", ge=0)
    fit_shift: float = param(0.15, "Shift of referral leads' mean fit.", "domain.md §2 (001)")
    engagement: BetaShare = param(
        BetaShare(mean=0.3, concentration=6.0),
        "Journey fraction at which a referral reaches us.",
        "domain.md §2 (001)",
    )
    segments: dict[str, float] | None = param(
        None, "Share of referrals per segment (default: in proportion to buyer flow).", "judgement"
    )


class Outbound(Spec):
    """Opportunities each rep opens from its own outbound work (account planning, calls).

    The planner's lever "new opportunities per rep per week" (domain.md §4, 001): each rep opens
    this many opportunities a week, already qualified, which it pursues itself. Finding and
    opening each costs rep hours, taken from the time left for new leads.
    """

    opportunities_per_rep_week: float = param(
        0.0,
        "Opportunities each rep opens per week from outbound work, on top of qualified leads; "
        "per segment at most the segment's buyers_per_week x (1 - inbound_share), the buyers "
        "who do not come to us by themselves.",
        "domain.md §4 (001: 9 new opportunities a week instead of 7)",
        ge=0,
    )
    hours_per_opportunity: float = param(
        3.0, "Rep hours to find and open one outbound opportunity.", "judgement", ge=0
    )
    fit_shift: float = param(
        0.05,
        "Shift of outbound opportunities' mean fit (reps pick accounts they can serve).",
        "domain.md §2 (004: stop chasing customers you can't help)",
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.35, concentration=5.0),
        "Journey fraction at which the rep opens the opportunity (account planning is early).",
        "domain.md §1 (003: engage before the 57% point)",
    )
    segments: dict[str, float] | None = param(
        None, "Share of outbound opportunities per segment (default: by buyer flow).", "judgement"
    )


class Leads(Spec):
    """Lead sources other than campaigns, and lead follow-up."""

    prospecting: Prospecting = Prospecting()
    referrals: Referrals = Referrals()
    outbound: Outbound = Outbound()
    max_wait_days: float = param(
        5.0,
        "A lead not picked up by a rep within this many days goes cold (uncaptured).",
        "domain.md §2 (003: follow up promptly)",
        gt=0,
    )
    follow_up: str = param(
        "fifo",
        "Follow-up policy: 'fifo' (first come, first served) or 'inbound_first' (leads from "
        "buyers who contacted us, and referrals, before campaign and prospecting leads).",
        "domain.md §2 (003: inbound converts better; follow up promptly)",
    )
    response_days: float = param(
        0.0,
        "Days before a new lead enters the reps' queue (slow routing or follow-up).",
        "domain.md §2 (003: reps must follow up promptly and sometimes do not)",
        ge=0,
    )


class RepSpec(Spec):
    """One named rep, overriding the team's drawn attributes."""

    name: str = param(..., "Rep's name, used in reps.csv and reports (unique).", "user data")
    skill: float | None = param(
        None, "Skill multiplier (1.0 = team average).", "domain.md §2 (000)", ge=0
    )
    qualification_noise: float | None = param(
        None, "Sd of the rep's perceived-fit error.", "domain.md §2 (003)", ge=0
    )
    tenure_weeks: float | None = param(
        None, "Weeks since hire at the start (drives ramp-up).", "domain.md §2 (004)", ge=0
    )


class Reps(Spec):
    """The sales team: finite hours, uneven skill, ramp-up, attrition (domain.md §2)."""

    count: int = param(
        15, "Number of rep seats (ignored when members are listed).", "judgement", ge=1
    )
    members: list[RepSpec] | None = param(None, "Explicit reps (names and overrides).", "judgement")
    hours_per_week: float = param(40.0, "Working hours per rep per week.", "judgement", gt=0)
    admin_share: float = param(
        0.25, "Share of hours lost to admin and internal work.", "judgement", ge=0, lt=1
    )
    skill_mean: float = param(1.0, "Mean rep skill multiplier.", "domain.md §2 (000, 001)", ge=0)
    skill_sd: float = param(
        0.2,
        "Sd of rep skill across reps (uneven skill; a top seller at 1.3).",
        "domain.md §2 (001, 002: top seller at 130% of average)",
        ge=0,
    )
    qualification_noise_mean: float = param(
        0.15,
        "Mean sd of a rep's error when judging a lead's fit.",
        "domain.md §2 (003: 80% think they qualify well, 51% of forecast deals do not close)",
        ge=0,
    )
    qualification_noise_sd: float = param(
        0.05, "Sd of that error level across reps.", "judgement", ge=0
    )
    check_accuracy: float = param(
        0.6,
        "Probability a rep notices a failed budget/authority/timing check.",
        "domain.md §2 (003: 61% good at uncovering problems, 54% reach key players)",
        ge=0,
        le=1,
    )
    ramp_weeks: float = param(
        16.0, "Weeks for a new hire to reach full productivity.", "domain.md §2 (004)", ge=0
    )
    ramp_start: float = param(
        0.3, "Productivity of a new hire on day one (share of full).", "judgement", ge=0, le=1
    )
    tenure_weeks: float = param(
        104.0, "Weeks since hire of the initial team (unless set per member).", "judgement", ge=0
    )
    attrition_per_year: float = param(
        0.3,
        "Rate per year at which a rep leaves (constant hazard: exponential tenure with mean "
        "1/rate years; 0.3 means 26% leave within a year).",
        "domain.md §2 (004: rep churn is high)",
        ge=0,
    )
    backfill_weeks: float = param(
        8.0, "Weeks a seat stays empty after a rep leaves.", "judgement", ge=0
    )
    qualify_hours: float = param(2.0, "Mean rep hours to qualify one lead.", "judgement", gt=0)
    qualify_hours_cv: float = param(
        0.5, "Coefficient of variation of qualification hours (1 = exponential).", "judgement", ge=0
    )
    pursue_hours_per_week: float = param(
        1.6, "Rep hours per week each open opportunity takes.", "judgement", ge=0
    )
    min_lead_hours_per_week: float = param(
        4.0, "Hours a rep always keeps for new leads, however loaded.", "judgement", gt=0
    )
    cost_per_hour: float = param(
        60.0, "Fully loaded cost of a rep hour (currency).", "judgement", ge=0
    )

    @property
    def seats(self) -> int:
        """Number of rep seats."""
        return len(self.members) if self.members else self.count

    def labels(self) -> list[str]:
        """Each seat's label: the member's name, else rep01, rep02, ..."""
        names = [m.name for m in self.members or []]
        return [names[k] if k < len(names) else f"rep{k + 1:02d}" for k in range(self.seats)]


class Qualification(Spec):
    """How a rep decides to pursue or disqualify a lead (pluggable policy)."""

    policy: str = param(
        "threshold",
        "Policy name: 'threshold' (perceived fit and checks, never deviate), 'discretion' "
        "(the rep sometimes pursues a lead the rule rejects) or 'pursue_all'.",
        "domain.md §2 (000, 002: never deviate)",
    )
    deviation_rate: float = param(
        0.3,
        "Discretion policy: probability the rep pursues a lead the rule rejects.",
        "domain.md §2 (003: 80% believe they qualify well, 51% of forecast deals do not close)",
        ge=0,
        le=1,
    )
    threshold: float = param(
        0.45, "Pursue when perceived fit is at least this.", "domain.md §2 (002)", ge=0, le=1
    )
    checks: list[Literal["budget", "authority", "timing"]] = param(
        ["budget", "authority", "timing"],
        "Checks that must pass (as the rep perceives them).",
        "domain.md §2 (003)",
    )


class OpenOpportunities(Spec):
    """Opportunities already in the pipeline at the start of the horizon."""

    segment: str = param(..., "Segment of these opportunities (a key of segments).", "user data")
    stage: Literal["awareness", "interest", "preference", "decision"] = param(
        "interest", "Journey stage the buyers are in at day 0.", "user data"
    )
    count: int = param(1, "Number of such opportunities.", "user data", ge=1)
    value: float | None = param(
        None, "Value of each (default: drawn from the segment).", "user data", gt=0
    )
    days_in_stage: float | None = param(
        None,
        "Days already spent in the stage (default: a random point of the stage).",
        "user data",
        ge=0,
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
        "Rep who owns it: a name from reps.members or a seat label rep01, rep02, ... "
        "(default: open deals are dealt to seats in turn).",
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
    )
    activity_planned: bool = param(
        True,
        "Whether the owner has a next activity planned; without one the rep's effort does not "
        "reach the buyer (no shaping, no flank).",
        "user data",
    )

    @model_validator(mode="after")
    def _preference_needs_stage(self) -> OpenOpportunities:
        if self.preferred is not None and self.stage in ("awareness", "interest"):
            raise ValueError(
                f"preferred is only known once the buyer's preference formed: stage must be "
                f"preference or decision, not {self.stage}"
            )
        return self


class Uncertainty(Spec):
    """How uncertain one parameter's value is (``pipesim run --parameter-uncertainty``)."""

    sd: float = param(
        ...,
        "Standard deviation: of the value (normal) or of its logarithm (lognormal).",
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

    revenue: float = param(..., "Bookings target over the horizon (currency).", "user data", gt=0)
    horizon_weeks: float = param(52.0, "Length of the forecast horizon (weeks).", "user data", gt=0)
    start_date: _dt.date = param(
        _dt.date(2026, 1, 1), "Calendar date of day 0 (for reports).", "user data"
    )
    rep_quota: float | None = param(
        None, "Quota per rep seat over the horizon (default: revenue / seats).", "user data", gt=0
    )


class Economics(Spec):
    """Money beyond bookings."""

    currency: str = param("EUR", "ISO currency code used in reports.", "user data")
    gross_margin: float = param(
        0.7, "Gross margin on bookings.", "domain.md §3 (000, 002)", ge=0, le=1
    )


class Scenario(Spec):
    """A complete, validated scenario: market, vendors, team, lead sources, policy and target."""

    name: str = param(
        ..., "Scenario name (used for output folders and reports).", "user data", min_length=1
    )
    description: str = param("", "Free-text description of the scenario.", "user data")
    target: Target
    segments: dict[str, Segment] = param(
        {
            "S1": Segment(),
            "S2": Segment(),
            "S3": Segment(),
            "S4": Segment(),
        },
        "Market segments by name.",
        "domain.md §3 (000, 002)",
    )
    criteria: list[str] = param(
        ["functionality", "price", "service", "risk"],
        "Purchase criteria buyers weigh.",
        "domain.md §2 (003)",
    )
    us: Vendor = Vendor()
    competitors: dict[str, Competitor] = param({}, "Competitors by name.", "domain.md §2 (003)")
    journey: Journey = Journey()
    engagement: Engagement = Engagement()
    choice: Choice = Choice()
    reps: Reps = Reps()
    qualification: Qualification = Qualification()
    flanking: Flanking = Flanking()
    leads: Leads = Leads()
    campaigns: dict[str, Campaign] = param({}, "Marketing campaigns by name.", "domain.md §3")
    open_pipeline: list[OpenOpportunities] = param(
        [], "Opportunities open at the start of the horizon.", "user data"
    )
    economics: Economics = Economics()
    uncertainty: dict[str, Uncertainty] = param(
        {},
        "Parameter uncertainty by dotted path (e.g. segments.S1.deal_size.mean): with "
        "`pipesim run --parameter-uncertainty` each replication draws these parameters first, "
        "so P(target) reflects how little history there is. Written by `pipesim calibrate`.",
        "calibration (pipesim calibrate)",
    )
    prehistory_days: float = param(
        400.0,
        "Days of buyer arrivals simulated before day 0 so inbound flow is in steady state.",
        "judgement",
        ge=0,
    )

    @property
    def horizon_days(self) -> float:
        """Horizon length in days."""
        return self.target.horizon_weeks * 7.0

    @property
    def rep_quota(self) -> float:
        """Quota per seat over the horizon."""
        return self.target.rep_quota or self.target.revenue / self.reps.seats


def reference_errors(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Check names that refer to other parts of the scenario.

    Returns a list of ``(key path, message)``; empty when every reference resolves.
    """
    errors: list[tuple[tuple[str | int, ...], str]] = []
    criteria = set(scenario.criteria)
    segments = set(scenario.segments)

    def allowed(names: set[str]) -> str:
        return ", ".join(sorted(names)) or "(none defined)"

    def check_scores(path: tuple[str | int, ...], scores: dict[str, float]) -> None:
        for key in scores:
            if key not in criteria:
                errors.append(
                    ((*path, key), f"unknown criterion {key!r}; allowed: {allowed(criteria)}"),
                )

    check_scores(("us", "scores"), scenario.us.scores)
    for name, comp in scenario.competitors.items():
        check_scores(("competitors", name, "scores"), comp.scores)
    for seg_name, seg in scenario.segments.items():
        check_scores(("segments", seg_name, "criteria_weights"), seg.criteria_weights)
        if sum(seg.criteria_weights.values()) <= 0:
            errors.append(
                (("segments", seg_name, "criteria_weights"), "weights must not all be zero")
            )
        for i, comp_name in enumerate(seg.competitors or []):
            if comp_name not in scenario.competitors:
                errors.append(
                    (
                        ("segments", seg_name, "competitors", i),
                        f"unknown competitor {comp_name!r}; allowed: "
                        f"{allowed(set(scenario.competitors))}",
                    )
                )
    for camp_name, camp in scenario.campaigns.items():
        for seg_name in camp.segments:
            if seg_name not in segments:
                errors.append(
                    (
                        ("campaigns", camp_name, "segments", seg_name),
                        f"unknown segment {seg_name!r}; allowed: {allowed(segments)}",
                    )
                )
    for block in ("referrals", "outbound"):
        for seg_name in getattr(scenario.leads, block).segments or {}:
            if seg_name not in segments:
                errors.append(
                    (
                        ("leads", block, "segments", seg_name),
                        f"unknown segment {seg_name!r}; allowed: {allowed(segments)}",
                    )
                )
    labels = scenario.reps.labels()
    seen_ids: dict[str, int] = {}
    for i, opp in enumerate(scenario.open_pipeline):
        if opp.segment not in segments:
            errors.append(
                (
                    ("open_pipeline", i, "segment"),
                    f"unknown segment {opp.segment!r}; allowed: {allowed(segments)}",
                )
            )
        if opp.owner is not None and opp.owner not in labels:
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            errors.append(
                (("open_pipeline", i, "owner"), f"unknown rep {opp.owner!r}; allowed: {shown}")
            )
        if opp.id is not None:
            if opp.id in seen_ids:
                errors.append(
                    (
                        ("open_pipeline", i, "id"),
                        f"duplicate id {opp.id!r} (also open_pipeline[{seen_ids[opp.id]}])",
                    )
                )
            seen_ids.setdefault(opp.id, i)
    for key in scenario.uncertainty:
        problem = numeric_path_error(scenario, key)
        if problem is None and isinstance(resolve_path(scenario, key)[0], int):
            problem = f"{key!r} is a count; only continuous parameters can be uncertain"
        if problem is None and key.split(".")[0] in ("target", "economics", "prehistory_days"):
            problem = f"{key!r} is not a model parameter (the target and economics are given)"
        if problem:
            errors.append((("uncertainty", key), problem))
    if not segments:
        errors.append((("segments",), "at least one segment is required"))
    # policy names resolve against the registries (which plugins may extend)
    for path, name, registry in (
        (
            ("qualification", "policy"),
            scenario.qualification.policy,
            policy_registry("qualification"),
        ),
        (("engagement", "policy"), scenario.engagement.policy, policy_registry("engagement")),
        (("flanking", "policy"), scenario.flanking.policy, policy_registry("flanking")),
        (("leads", "follow_up"), scenario.leads.follow_up, policy_registry("follow_up")),
    ):
        if name not in registry.names():
            errors.append(
                (
                    path,
                    f"unknown {registry.family} policy {name!r}; allowed: "
                    f"{', '.join(registry.names())}",
                )
            )
    names = [m.name for m in scenario.reps.members or []]
    if len(names) != len(set(names)):
        errors.append((("reps", "members"), "rep names must be unique"))
    return errors


def resolve_path(scenario: Scenario, dotted: str) -> tuple[Any, str]:
    """The value at a dotted path (``segments.S1.deal_size.mean``) and the field's name.

    Raises ``KeyError`` naming the first part that does not resolve.
    """
    node: Any = scenario
    name = ""
    for part in dotted.split("."):
        if isinstance(node, BaseModel):
            if part not in type(node).model_fields:
                raise KeyError(part)
            node, name = getattr(node, part), part
        elif isinstance(node, dict):
            if part not in node:
                raise KeyError(part)
            node, name = node[part], part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(part)
            node, name = node[int(part)], part
        else:
            raise KeyError(part)
    return node, name


def numeric_path_error(scenario: Scenario, dotted: str) -> str | None:
    """Why ``dotted`` is not a numeric parameter of ``scenario`` (None when it is)."""
    try:
        value, _ = resolve_path(scenario, dotted)
    except KeyError as exc:
        return f"{dotted!r} is not a scenario parameter ({exc.args[0]!r} does not resolve)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{dotted!r} is not a numeric parameter (its value is {value!r})"
    return None
