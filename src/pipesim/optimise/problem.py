"""The narrow interface the LP sees: index sets, response curves, coefficients and bounds.

:class:`Problem` is plain data. It knows nothing of SimPy, buyers or random streams: only rep
groups and their hours, segments, campaigns, the levers with their response curves, and the rep
hours each lead or opportunity costs. :func:`build_problem` assembles it from a scenario, the
curves, the measured loads (:class:`pipesim.optimise.pilot.LoadProfile`) and the settings; tests
and benchmarks build one by hand.

Units: hours are per rep per week unless a name says *team*; lead and opportunity flows are per
week averaged over the horizon; revenue and costs are over the horizon, in the scenario's currency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pipesim.engine.model import open_pipeline_seats
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.levers import Lever, levers_of, split
from pipesim.optimise.pilot import LoadProfile
from pipesim.optimise.settings import OptimiseSettings
from pipesim.scenario.schema import Scenario

ACTIVITIES: tuple[str, ...] = (
    "prospecting",
    "outbound",
    "qualifying",
    "pursuing",
    "flanking",
    "account_planning",
)
"""Activities a rep's selling hours go to (the plan's hours are reported per activity)."""

Objective = str  # "max-margin", "min-cost" or "max-revenue"


@dataclass(frozen=True)
class RepGroup:
    """Reps planned alike: the same hours, ramp, skill and book of open deals.

    The LP's variables are per rep of a group. A group of one rep is the usual case when reps
    are named with their own skill or tenure (``reps.members``); reps the scenario does not tell
    apart (skill drawn at random, the same tenure and as many open deals) share a group.
    """

    name: str
    reps: tuple[str, ...]
    hours: float  # selling hours per rep per week: after admin, times the mean ramp
    ramp: float = 1.0  # mean productivity over the horizon (1 = fully ramped)
    skill: float = 1.0  # expected skill multiplier (reps.members[].skill, else reps.skill_mean)
    deal_hours: tuple[tuple[str, float], ...] = ()  # hours per week on its own open deals
    ramp_by_week: tuple[float, ...] = ()  # productivity in each week of the horizon (empty: 1)

    @property
    def size(self) -> int:
        """Number of reps in the group."""
        return len(self.reps)

    @property
    def value(self) -> float:
        """What an opportunity this rep works is worth relative to others: skill x ramp.

        The engine's rep effect on a buyer's choice is ``skill x productivity x coverage``.
        """
        return self.skill * self.ramp

    @property
    def own_deal_hours(self) -> float:
        """Hours per rep per week on the open deals the rep holds at the start."""
        return sum(h for _, h in self.deal_hours)

    def deal_hours_in(self, segment: str) -> float:
        """Hours per rep per week on its own open deals in ``segment``."""
        return sum(h for s, h in self.deal_hours if s == segment)

    def weekly_productivity(self, weeks: int) -> list[float]:
        """Productivity in each of ``weeks`` weeks (1 throughout when not given)."""
        if not self.ramp_by_week:
            return [1.0] * weeks
        return [self.ramp_by_week[min(w, len(self.ramp_by_week) - 1)] for w in range(weeks)]


@dataclass(frozen=True)
class LeadCosts:
    """Rep hours and opportunities that one captured lead of a source brings, per segment."""

    qualify_hours: float  # rep hours to qualify one lead
    pursue_hours: dict[str, float]  # pursuit hours per lead (opportunity share x weeks open x h)
    opportunities: dict[str, float]  # opportunities per lead (the pursued share)


@dataclass(frozen=True)
class CampaignInput:
    """A campaign's economics: cost per lead, active weeks, reach per segment."""

    name: str
    today: float  # budget per week today
    cost_per_lead: float
    active_weeks: float  # weeks active within the horizon
    shares: dict[str, float]  # share of its leads per segment
    costs: LeadCosts


@dataclass(frozen=True)
class Problem:
    """Everything the LP needs, as index sets and dictionaries (see the module docstring)."""

    segments: tuple[str, ...]
    groups: tuple[RepGroup, ...]
    levers: dict[str, Lever]
    curves: dict[str, ResponseCurve]
    campaigns: dict[str, CampaignInput] = field(default_factory=dict)
    horizon_weeks: float = 52.0
    currency: str = "EUR"
    gross_margin: float = 0.7
    cost_per_hour: float = 60.0
    base_revenue: float = 0.0
    target_revenue: float = 0.0
    # prospecting: hours per lead found, split of its leads, and what each lead costs and brings
    prospecting_hours_per_lead: float = 5.0
    prospecting_split: dict[str, float] = field(default_factory=dict)
    prospecting_costs: LeadCosts | None = None
    # outbound: hours to open one opportunity; pursuit hours per opportunity per segment
    hours_per_opportunity: float = 3.0
    outbound_pursue_hours: dict[str, float] = field(default_factory=dict)
    # work that does not depend on the plan: team hours per week per segment and activity
    fixed_team_hours: dict[str, dict[str, float]] = field(default_factory=dict)
    fixed_team_opportunities: dict[str, float] = field(default_factory=dict)  # inbound, referral
    fixed_rep_hours: dict[str, float] = field(default_factory=dict)  # per rep per week
    # settings
    objective: Objective = "max-margin"
    budget_total: tuple[float | None, float | None] = (None, None)
    budget_total_source: str = "optimise.budget.total_per_week"
    campaign_bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    fairness_band: float | None = None
    strategic_segments: dict[str, float] = field(default_factory=dict)
    quota_bounds: tuple[float | None, float | None] = (None, None)
    integer_quotas: bool = False

    @cached_property
    def reps(self) -> int:
        """Number of reps."""
        return sum(g.size for g in self.groups)

    @cached_property
    def team_hours(self) -> float:
        """Selling hours per week of the whole team."""
        return sum(g.size * g.hours for g in self.groups)

    @cached_property
    def mean_value(self) -> float:
        """Team mean of the reps' :attr:`RepGroup.value` (skill x ramp)."""
        n = self.reps
        return sum(g.size * g.value for g in self.groups) / n if n else 1.0

    def value_weight(self, group: RepGroup) -> float:
        """What an outbound opportunity worked by a rep of ``group`` counts for (team mean 1).

        A response curve is measured with every rep opening the same number; an opportunity a
        rep of higher skill or further up the ramp works counts for more of the curve's level.
        """
        mean = self.mean_value
        return group.value / mean if mean > 0 else 1.0

    def free_hours(self, group: RepGroup) -> float:
        """Selling hours per rep of ``group`` left after fixed work and its own open deals."""
        fixed = sum(self.fixed_rep_hours.values()) + group.own_deal_hours
        return max(group.hours - fixed, 0.0)

    def lead_share(self, group: RepGroup) -> float:
        """Share of the shared lead queue's work one rep of ``group`` does (pro rata to hours)."""
        total = self.team_hours
        return group.hours / total if total > 0 else 0.0

    def curve_or_none(self, key: str) -> ResponseCurve | None:
        """The lever's response curve, or None when the lever stays at today's value."""
        return self.curves.get(key)


def _productivity(scenario: Scenario, t: np.ndarray) -> np.ndarray:
    """Productivity of a rep ``t`` weeks after hire (linear ramp from ``reps.ramp_start``)."""
    spec = scenario.reps
    if spec.ramp_weeks <= 0:
        return np.ones_like(t)
    rho: np.ndarray = np.where(
        t >= spec.ramp_weeks,
        1.0,
        spec.ramp_start + (1.0 - spec.ramp_start) * np.clip(t, 0.0, None) / spec.ramp_weeks,
    )
    return rho


def ramp_factor(scenario: Scenario, tenure_weeks: float) -> float:
    """Mean productivity over the horizon of a rep hired ``tenure_weeks`` before day 0."""
    if scenario.reps.ramp_weeks <= 0:
        return 1.0
    t = tenure_weeks + np.linspace(0.0, scenario.target.horizon_weeks, 2001)
    return float(_productivity(scenario, t).mean())


def ramp_by_week(scenario: Scenario, tenure_weeks: float) -> tuple[float, ...]:
    """Mean productivity in each week of the horizon of a rep hired ``tenure_weeks`` before."""
    weeks = max(1, math.ceil(scenario.target.horizon_weeks - 1e-9))
    out = []
    for w in range(weeks):
        t = tenure_weeks + np.linspace(w, w + 1, 41)
        out.append(float(_productivity(scenario, t).mean()))
    return tuple(out)


def open_deals_by_rep(scenario: Scenario) -> dict[str, dict[str, int]]:
    """Open-pipeline deals each rep holds at the start, by segment (as the engine deals them)."""
    labels = scenario.reps.labels()
    out: dict[str, dict[str, int]] = {name: {} for name in labels}
    seats = iter(open_pipeline_seats(scenario))
    for opp in scenario.open_pipeline:
        for _ in range(opp.count):
            book = out[labels[next(seats)]]
            book[opp.segment] = book.get(opp.segment, 0) + 1
    return out


def rep_groups(
    scenario: Scenario, hours_per_deal: Mapping[str, float] | None = None
) -> tuple[RepGroup, ...]:
    """The team as groups of reps alike (same tenure, skill and open deals); names as reps.csv.

    ``hours_per_deal`` is the pursuit hours per week one open-pipeline deal of a segment takes,
    averaged over the horizon (from the measured loads); without it, open deals are not counted.
    A rep's skill is ``reps.members[].skill`` when given, else the team's expected
    ``reps.skill_mean`` (the engine draws the rest at random, so the plan cannot tell them apart).
    """
    spec = scenario.reps
    members = spec.members or []
    productive = spec.hours_per_week * (1.0 - spec.admin_share)
    books = open_deals_by_rep(scenario)
    per_deal = dict(hours_per_deal or {})
    profiles: dict[tuple[float, float, tuple[tuple[str, int], ...]], list[str]] = {}
    for k, name in enumerate(spec.labels()):
        m = members[k] if k < len(members) else None
        tenure = m.tenure_weeks if m and m.tenure_weeks is not None else spec.tenure_weeks
        skill = m.skill if m and m.skill is not None else spec.skill_mean
        book = tuple(sorted(books[name].items())) if per_deal else ()
        profiles.setdefault((float(tenure), float(skill), book), []).append(name)
    keys = sorted(profiles, key=lambda p: (-p[0], -p[1], -sum(n for _, n in p[2]), p[2]))
    varies = [len({key[i] for key in keys}) > 1 for i in range(3)]
    groups = []
    used: set[str] = set()
    for tenure, skill, book in keys:
        parts = []
        if varies[0]:
            parts.append(f"tenure {tenure:g} weeks")
        if varies[1]:
            parts.append(f"skill {skill:g}")
        if varies[2]:
            deals = " ".join(f"{seg}x{c}" if c > 1 else seg for seg, c in book)
            parts.append(f"open deals {deals}" if deals else "no open deals")
        label = ", ".join(parts) or "team"
        base, i = label, 2
        while label in used:
            label, i = f"{base} ({i})", i + 1
        used.add(label)
        ramp = ramp_factor(scenario, tenure)
        deal_hours = tuple((seg, n * per_deal.get(seg, 0.0)) for seg, n in book)
        groups.append(
            RepGroup(
                label,
                tuple(profiles[(tenure, skill, book)]),
                productive * ramp,
                ramp,
                skill,
                deal_hours,
                ramp_by_week(scenario, tenure),
            )
        )
    return tuple(groups)


def _lead_costs(
    scenario: Scenario, load: LoadProfile, source: str, segments: list[str]
) -> LeadCosts:
    h_pursue = scenario.reps.pursue_hours_per_week
    pursue, opps = {}, {}
    for seg in segments:
        s = load.get(source, seg)
        pursue[seg] = s.opportunity_share * s.open_weeks * h_pursue
        opps[seg] = s.opportunity_share
    return LeadCosts(scenario.reps.qualify_hours, pursue, opps)


def build_problem(
    scenario: Scenario,
    curves: dict[str, ResponseCurve],
    load: LoadProfile,
    settings: OptimiseSettings,
    base_revenue: float,
) -> Problem:
    """Assemble the LP's inputs from a scenario, its curves and loads, and the settings."""
    segments = list(scenario.segments)
    weeks = scenario.target.horizon_weeks
    h_pursue = scenario.reps.pursue_hours_per_week
    campaigns = {}
    for name, camp in scenario.campaigns.items():
        end = camp.end_week if camp.end_week is not None else weeks
        active = max(0.0, min(end, weeks) - camp.start_week)
        campaigns[name] = CampaignInput(
            name=name,
            today=camp.budget_per_week,
            cost_per_lead=camp.cost_per_lead,
            active_weeks=active,
            shares=split(scenario, camp.segments),
            costs=_lead_costs(scenario, load, f"campaign:{name}", segments),
        )
    fixed: dict[str, dict[str, float]] = {}
    fixed_opps: dict[str, float] = {}
    for seg in segments:
        fixed_opps[seg] = 0.0
        qual = purs = 0.0
        for src in ("inbound", "referral"):
            s = load.sources.get((src, seg))
            if s is None:
                continue
            qual += s.captured_per_week * scenario.reps.qualify_hours
            purs += s.captured_per_week * s.opportunity_share * s.open_weeks * h_pursue
            fixed_opps[seg] += s.captured_per_week * s.opportunity_share
        fixed[seg] = {"qualifying": qual, "pursuing": purs}
    # open deals: each rep pursues its own (pursuit hours averaged over the horizon)
    deals = {seg: 0 for seg in segments}
    for opp in scenario.open_pipeline:
        deals[opp.segment] = deals.get(opp.segment, 0) + opp.count
    per_deal = {}
    for seg in segments:
        op = load.sources.get(("open_pipeline", seg))
        if op is not None and deals.get(seg, 0) > 0:
            per_deal[seg] = op.captured_per_week * op.open_weeks * h_pursue / deals[seg]
    outbound_pursue = {seg: load.get("outbound", seg).open_weeks * h_pursue for seg in segments}
    budget = settings.budget.total_per_week
    today_total = sum(c.budget_per_week for c in scenario.campaigns.values())
    budget_max = budget.max if budget.max is not None else today_total
    source = (
        "optimise.budget.total_per_week.max"
        if budget.max is not None
        else "campaigns.<name>.budget_per_week (today's total)"
    )
    return Problem(
        segments=tuple(segments),
        groups=rep_groups(scenario, per_deal),
        levers={lever.key: lever for lever in levers_of(scenario)},
        curves=dict(curves),
        campaigns=campaigns,
        horizon_weeks=weeks,
        currency=scenario.economics.currency,
        gross_margin=scenario.economics.gross_margin,
        cost_per_hour=scenario.reps.cost_per_hour,
        base_revenue=base_revenue,
        target_revenue=settings.target or scenario.target.revenue,
        prospecting_hours_per_lead=scenario.leads.prospecting.hours_per_lead,
        prospecting_split=split(scenario, None),
        prospecting_costs=_lead_costs(scenario, load, "prospecting", segments),
        hours_per_opportunity=scenario.leads.outbound.hours_per_opportunity,
        outbound_pursue_hours=outbound_pursue,
        fixed_team_hours=fixed,
        fixed_team_opportunities=fixed_opps,
        fixed_rep_hours={
            "flanking": load.flanking_hours_per_rep,
            "account_planning": load.planning_hours_per_rep,
        },
        objective=settings.objective,
        budget_total=(budget.min, budget_max),
        budget_total_source=source,
        campaign_bounds={k: (b.min, b.max) for k, b in settings.budget.campaigns.items()},
        fairness_band=settings.fairness_band,
        strategic_segments=dict(settings.strategic_segments),
        quota_bounds=(settings.quota.min, settings.quota.max),
        integer_quotas=settings.quota.integer,
    )
