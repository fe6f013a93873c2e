"""The sales side of a scenario.

When we engage buyers and how we flank competitors, the lead sources (campaigns, prospecting,
referrals, outbound) and their follow-up, the reps, and how reps qualify leads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pipesim.scenario.schema.base import (
    MAX_CONCENTRATION,
    MAX_HOURS_PER_WEEK,
    MAX_SHARE_WEIGHT,
    MAX_WEEKS,
    BetaShare,
    Spec,
    param,
)

MAX_REPS = 1000
"""Largest team (rep seats)."""
MAX_LEADS_PER_WEEK = 10_000.0
"""Largest weekly flow of referral leads."""
MAX_SPEND_PER_WEEK = 1e7
"""Largest campaign spend per week (currency)."""

Weights = dict[str, Annotated[float, Field(ge=0, le=MAX_SHARE_WEIGHT, allow_inf_nan=False)]]
"""Relative weights by segment, normalised to sum 1 (each 0-100, so percentages work too)."""


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
        10.0,
        "Beta concentration of the engagement fraction across buyers.",
        "judgement",
        gt=0,
        le=MAX_CONCENTRATION,
    )
    impact_effect: float = param(
        -1.0,
        "Shift of the engagement fraction's logit per unit of impact above 0.5 "
        "(negative: high-impact purchases engage earlier).",
        "domain.md §1 (003)",
        ge=-20,
        le=20,
    )
    frequency_effect: float = param(
        1.0,
        "Shift of the logit per unit of purchase frequency above 0.5 (frequent = later).",
        "domain.md §1 (003: copier paper never needs a seller)",
        ge=-20,
        le=20,
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
        3.0,
        "Proactive policy: account-planning hours per rep per week.",
        "judgement",
        ge=0,
        le=MAX_HOURS_PER_WEEK,
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
        le=10,
    )
    weight_shift: float = param(
        0.3,
        "Share of the buyer's criteria weight moved onto our unique criterion by a success.",
        "domain.md §2 (003: efficacy+safety 70%, duration 10% -> duration key)",
        ge=0,
        le=1,
    )
    hours_per_week: float = param(
        2.0,
        "Extra rep hours per week while a flank is under way.",
        "judgement",
        ge=0,
        le=MAX_HOURS_PER_WEEK,
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


class Campaign(Spec):
    """A marketing campaign that reaches segments and generates leads (domain.md §3)."""

    segments: Weights = param(
        {},
        "Share of the campaign's responses per segment (normalised; default: by buyer flow).",
        "domain.md §3 (000, 002)",
    )
    budget_per_week: float = param(
        2000.0,
        "Spend per week while active (currency).",
        "judgement",
        ge=0,
        le=MAX_SPEND_PER_WEEK,
    )
    cost_per_lead: float = param(
        400.0,
        "Spend per responding buyer (currency).",
        "judgement",
        ge=1,
        le=MAX_SPEND_PER_WEEK,
    )
    fit_shift: float = param(
        0.0,
        "Shift of responders' mean fit (profile match of the campaign).",
        "domain.md §3 (002)",
        ge=-1,
        le=1,
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.4, concentration=6.0),
        "Journey fraction at which responders are reached (campaigns reach buyers earlier).",
        "domain.md §1 (003)",
    )
    start_week: float = param(0.0, "Week the campaign starts.", "judgement", ge=0, le=MAX_WEEKS)
    end_week: float | None = param(
        None,
        "Week the campaign ends, after start_week (default: horizon).",
        "judgement",
        gt=0,
        le=MAX_WEEKS,
    )

    @field_validator("end_week")
    @classmethod
    def _after_start(cls, end: float | None, info: ValidationInfo) -> float | None:
        start = info.data.get("start_week")
        if end is not None and isinstance(start, int | float) and end <= start:
            raise ValueError(
                f"must be after start_week ({start:g}), or the campaign never runs (got {end:g})"
            )
        return end


class Prospecting(Spec):
    """Cold leads the reps find themselves: cost rep hours, lower quality (domain.md §2-3)."""

    hours_per_week: float = param(
        4.0, "Hours per rep per week spent prospecting.", "judgement", ge=0, le=MAX_HOURS_PER_WEEK
    )
    hours_per_lead: float = param(
        5.0, "Prospecting hours per lead found.", "judgement", ge=0.1, le=MAX_HOURS_PER_WEEK
    )
    fit_shift: float = param(
        -0.15,
        "Shift of prospects' mean fit (cold leads fit worse).",
        "domain.md §2 (003)",
        ge=-1,
        le=1,
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.35, concentration=3.0),
        "Journey fraction at which a prospect is reached.",
        "judgement",
    )


class Referrals(Spec):
    """Warm leads from referrals and champions who change jobs (domain.md §2, 001)."""

    per_week: float = param(
        0.6,
        "Referral leads per week, team-wide.",
        "domain.md §2 (001)",
        ge=0,
        le=MAX_LEADS_PER_WEEK,
    )
    fit_shift: float = param(
        0.15, "Shift of referral leads' mean fit.", "domain.md §2 (001)", ge=-1, le=1
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.3, concentration=6.0),
        "Journey fraction at which a referral reaches us.",
        "domain.md §2 (001)",
    )
    segments: Weights | None = param(
        None, "Share of referrals per segment (default: in proportion to buyer flow).", "judgement"
    )


OUTBOUND_HOURS_SOURCE = (
    "judgement from SDR benchmark reports (e.g. The Bridge Group's SDR Metrics): a full-time "
    "outbound sales development rep books about 12-15 qualified meetings (opportunities) a "
    "month, 4-6 for enterprise deals; at 40 h a week less 25% admin (about 130 selling hours a "
    "month) that is 9-11 h per opportunity, 22-32 h for enterprise. domain.md and its seeds give "
    "no figure (003: a cold call is no match for an inbound lead)"
)
"""Where the default rep hours per outbound opportunity come from."""


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
        le=100,
    )
    hours_per_opportunity: float = param(
        10.0,
        "Rep hours to find and open one outbound opportunity.",
        OUTBOUND_HOURS_SOURCE,
        ge=0,
        le=MAX_HOURS_PER_WEEK,
    )
    fit_shift: float = param(
        0.05,
        "Shift of outbound opportunities' mean fit (reps pick accounts they can serve).",
        "domain.md §2 (004: stop chasing customers you can't help)",
        ge=-1,
        le=1,
    )
    engagement: BetaShare = param(
        BetaShare(mean=0.35, concentration=5.0),
        "Journey fraction at which the rep opens the opportunity (account planning is early).",
        "domain.md §1 (003: engage before the 57% point)",
    )
    segments: Weights | None = param(
        None, "Share of outbound opportunities per segment (default: by buyer flow).", "judgement"
    )


LEAD_RESPONSE_SOURCE = (
    "Oldroyd, McElheran & Elkington, 'The Short Life of Online Sales Leads', HBR March 2011 "
    "(1.25 M leads at 42 firms): firms that tried to contact a lead within an hour were nearly "
    "7 times as likely to qualify it as those that tried an hour later, and over 60 times as "
    "likely as those that waited 24 hours or more"
)
"""Where the default lead response curve comes from."""


class ResponseCurve(Spec):
    """How the chance of reaching a lead (and finding it still qualified) decays with response time.

    The chance relative to a prompt response, by the hours from the lead reaching us to a rep's
    first attempt: 1 up to ``prompt_hours``, then log-linear through ``hour_later_relative`` at
    ``hour_later_hours`` to ``day_relative`` at ``day_hours``, and flat after it. A lead a rep
    fails to reach goes cold (uncaptured) after one contact attempt.
    """

    prompt_hours: float = param(
        0.5,
        "Responses within this many hours reach the lead at full chance (the middle of the "
        "study's 'within an hour' band).",
        LEAD_RESPONSE_SOURCE,
        ge=0,
        le=24 * 365,
    )
    hour_later_hours: float = param(
        1.5,
        "Response time (hours) of the study's 'an hour later' band (its middle).",
        LEAD_RESPONSE_SOURCE,
        gt=0,
        le=24 * 365,
    )
    hour_later_relative: float = param(
        1 / 7,
        "Chance of reaching the lead at hour_later_hours, relative to a prompt response.",
        LEAD_RESPONSE_SOURCE + " (1/7)",
        gt=0,
        le=1,
    )
    day_hours: float = param(
        24.0,
        "Response time (hours) from which the chance stays at day_relative.",
        LEAD_RESPONSE_SOURCE,
        gt=0,
        le=24 * 365,
    )
    day_relative: float = param(
        1 / 60,
        "Chance of reaching the lead at day_hours or later, relative to a prompt response.",
        LEAD_RESPONSE_SOURCE + " (1/60)",
        gt=0,
        le=1,
    )

    @model_validator(mode="after")
    def _ordered(self) -> ResponseCurve:
        if not self.prompt_hours < self.hour_later_hours < self.day_hours:
            raise ValueError(
                "prompt_hours < hour_later_hours < day_hours is required (got "
                f"{self.prompt_hours}, {self.hour_later_hours}, {self.day_hours})"
            )
        if self.day_relative > self.hour_later_relative:
            raise ValueError(
                f"day_relative ({self.day_relative}) may not exceed hour_later_relative "
                f"({self.hour_later_relative}): the chance does not grow with waiting"
            )
        return self


FLAT = ResponseCurve(hour_later_relative=1.0, day_relative=1.0)
"""A curve that never decays (leads a rep finds itself: nobody is waiting for the call)."""


class LeadResponse(Spec):
    """Lead response time: the chance a rep still reaches a lead, by source (domain.md §2, 003)."""

    inbound: ResponseCurve = param(
        ResponseCurve(),
        "Buyers who contacted us (the study's web-generated leads).",
        LEAD_RESPONSE_SOURCE,
    )
    campaign: ResponseCurve = param(
        ResponseCurve(),
        "Campaign responses (web forms, webinar and trade-show contacts, as in the study).",
        LEAD_RESPONSE_SOURCE,
    )
    referral: ResponseCurve = param(
        ResponseCurve(),
        "Referred buyers (treated like the study's inbound leads).",
        "judgement: " + LEAD_RESPONSE_SOURCE,
    )
    prospecting: ResponseCurve = param(
        FLAT,
        "Leads reps find themselves: nobody waits for the call, so no decay.",
        "judgement (the study covers leads that contacted the firm)",
    )
    attempt_hours: float = param(
        0.25,
        "Rep hours spent on a lead it fails to reach (a few call attempts and an e-mail).",
        "judgement",
        ge=0,
        le=MAX_HOURS_PER_WEEK,
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
        le=365,
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
        le=365,
    )
    response: LeadResponse = param(
        LeadResponse(),
        "How the chance of reaching a lead decays with the hours until a rep first responds.",
        LEAD_RESPONSE_SOURCE,
    )


class RepSpec(Spec):
    """One named rep, overriding the team's drawn attributes."""

    name: str = param(..., "Rep's name, used in reps.csv and reports (unique).", "user data")
    skill: float | None = param(
        None, "Skill multiplier (1.0 = team average).", "domain.md §2 (000)", ge=0, le=10
    )
    qualification_noise: float | None = param(
        None, "Sd of the rep's perceived-fit error.", "domain.md §2 (003)", ge=0, le=5
    )
    tenure_weeks: float | None = param(
        None,
        "Weeks since hire at the start (drives ramp-up).",
        "domain.md §2 (004)",
        ge=0,
        le=52 * 50,
    )
    start_week: float | None = param(
        None,
        "A planned hire: the week the rep starts (the seat is empty until then, then ramps up "
        "from reps.ramp_start; its attrition clock starts that day). Written by `pipesim hiring`.",
        "user data",
        ge=0,
        le=MAX_WEEKS,
    )

    @model_validator(mode="after")
    def _planned_hire_is_new(self) -> RepSpec:
        if self.start_week and self.tenure_weeks:
            raise ValueError(
                f"rep {self.name!r}: a planned hire (start_week {self.start_week:g}) starts with "
                f"no tenure; leave out tenure_weeks (got {self.tenure_weeks:g})"
            )
        return self


class Reps(Spec):
    """The sales team: finite hours, uneven skill, ramp-up, attrition (domain.md §2)."""

    count: int = param(
        15,
        "Number of rep seats. When members are listed they are the team and count is their "
        "number: a file, plan, --set or what-if that sets count to another number than the "
        "members is an error.",
        "judgement",
        ge=1,
        le=MAX_REPS,
    )
    members: list[RepSpec] | None = param(
        None,
        f"Explicit reps (names and overrides; at most {MAX_REPS}).",
        "judgement",
        max_length=MAX_REPS,
    )
    hours_per_week: float = param(
        40.0, "Working hours per rep per week.", "judgement", gt=0, le=MAX_HOURS_PER_WEEK
    )
    admin_share: float = param(
        0.25, "Share of hours lost to admin and internal work.", "judgement", ge=0, lt=1
    )
    skill_mean: float = param(
        1.0, "Mean rep skill multiplier.", "domain.md §2 (000, 001)", ge=0, le=10
    )
    skill_sd: float = param(
        0.2,
        "Sd of rep skill across reps (uneven skill; a top seller at 1.3).",
        "domain.md §2 (001, 002: top seller at 130% of average)",
        ge=0,
        le=10,
    )
    qualification_noise_mean: float = param(
        0.15,
        "Mean sd of a rep's error when judging a lead's fit.",
        "domain.md §2 (003: 80% think they qualify well, 51% of forecast deals do not close)",
        ge=0,
        le=5,
    )
    qualification_noise_sd: float = param(
        0.05, "Sd of that error level across reps.", "judgement", ge=0, le=5
    )
    check_accuracy: float = param(
        0.6,
        "Probability a rep notices a failed budget/authority/timing check.",
        "domain.md §2 (003: 61% good at uncovering problems, 54% reach key players)",
        ge=0,
        le=1,
    )
    ramp_weeks: float = param(
        16.0,
        "Weeks for a new hire to reach full productivity.",
        "domain.md §2 (004)",
        ge=0,
        le=MAX_WEEKS,
    )
    ramp_start: float = param(
        0.3, "Productivity of a new hire on day one (share of full).", "judgement", ge=0, le=1
    )
    tenure_weeks: float = param(
        104.0,
        "Weeks since hire of the initial team (unless set per member).",
        "judgement",
        ge=0,
        le=52 * 50,
    )
    attrition_per_year: float = param(
        0.3,
        "Rate per year at which a rep leaves (constant hazard: exponential tenure with mean "
        "1/rate years; 0.3 means 26% leave within a year).",
        "domain.md §2 (004: rep churn is high)",
        ge=0,
        le=10,
    )
    backfill_weeks: float = param(
        8.0, "Weeks a seat stays empty after a rep leaves.", "judgement", ge=0, le=MAX_WEEKS
    )
    qualify_hours: float = param(
        2.0, "Mean rep hours to qualify one lead.", "judgement", gt=0, le=MAX_HOURS_PER_WEEK
    )
    qualify_hours_cv: float = param(
        0.5,
        "Coefficient of variation of qualification hours (1 = exponential; 0 = every lead takes "
        "exactly qualify_hours; else at least 0.01).",
        "judgement",
        ge=0,
        le=5,
    )
    pursue_hours_per_week: float = param(
        1.6,
        "Rep hours per week each open opportunity takes.",
        "judgement",
        ge=0,
        le=MAX_HOURS_PER_WEEK,
    )
    min_lead_hours_per_week: float = param(
        4.0,
        "Hours a rep always keeps for new leads, however loaded.",
        "judgement",
        gt=0,
        le=MAX_HOURS_PER_WEEK,
    )
    cost_per_hour: float = param(
        60.0, "Fully loaded cost of a rep hour (currency).", "judgement", ge=0, le=1e6
    )

    @field_validator("qualify_hours_cv")
    @classmethod
    def _cv_zero_or_some(cls, cv: float) -> float:
        if 0 < cv < 0.01:
            raise ValueError(f"must be 0 (fixed hours) or between 0.01 and 5 (got {cv:g})")
        return cv

    @property
    def seats(self) -> int:
        """Number of rep seats."""
        return len(self.members) if self.members else self.count

    @model_validator(mode="before")
    @classmethod
    def _count_is_the_members(cls, data: Any) -> Any:
        # members are the team: count follows them, so a saved scenario never holds a count that
        # is not used (a count the user set to another number is refused before this, by layer)
        if isinstance(data, dict) and isinstance(data.get("members"), list) and data["members"]:
            data = {**data, "count": len(data["members"])}
        return data

    def start_days(self) -> list[float]:
        """Per seat, the day its planned hire starts (``members[].start_week``; else 0)."""
        members = self.members or []
        return [
            7.0 * (members[k].start_week or 0.0) if k < len(members) else 0.0
            for k in range(self.seats)
        ]

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
