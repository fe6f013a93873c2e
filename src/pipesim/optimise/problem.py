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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

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
    """Reps planned alike: same hours and ramp (the LP's variables are per rep of a group)."""

    name: str
    reps: tuple[str, ...]
    hours: float  # selling hours per rep per week: after admin, times the mean ramp
    ramp: float = 1.0  # mean productivity over the horizon (1 = fully ramped)

    @property
    def size(self) -> int:
        """Number of reps in the group."""
        return len(self.reps)


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

    def lead_share(self, group: RepGroup) -> float:
        """Share of the shared lead queue's work one rep of ``group`` does (pro rata to hours)."""
        total = self.team_hours
        return group.hours / total if total > 0 else 0.0

    def curve_or_none(self, key: str) -> ResponseCurve | None:
        """The lever's response curve, or None when the lever stays at today's value."""
        return self.curves.get(key)


def ramp_factor(scenario: Scenario, tenure_weeks: float) -> float:
    """Mean productivity over the horizon of a rep hired ``tenure_weeks`` before day 0."""
    spec = scenario.reps
    if spec.ramp_weeks <= 0:
        return 1.0
    t = tenure_weeks + np.linspace(0.0, scenario.target.horizon_weeks, 2001)
    rho = np.where(
        t >= spec.ramp_weeks,
        1.0,
        spec.ramp_start + (1.0 - spec.ramp_start) * np.clip(t, 0.0, None) / spec.ramp_weeks,
    )
    return float(rho.mean())


def rep_groups(scenario: Scenario) -> tuple[RepGroup, ...]:
    """Group the team by tenure (ramp); names as in ``reps.csv``."""
    spec = scenario.reps
    members = spec.members or []
    productive = spec.hours_per_week * (1.0 - spec.admin_share)
    by_tenure: dict[float, list[str]] = {}
    for k in range(spec.seats):
        m = members[k] if k < len(members) else None
        name = m.name if m is not None else f"rep{k + 1:02d}"
        tenure = m.tenure_weeks if m and m.tenure_weeks is not None else spec.tenure_weeks
        by_tenure.setdefault(float(tenure), []).append(name)
    groups = []
    for tenure, names in sorted(by_tenure.items(), key=lambda kv: -kv[0]):
        ramp = ramp_factor(scenario, tenure)
        label = "team" if len(by_tenure) == 1 else f"tenure {tenure:g} weeks"
        groups.append(RepGroup(label, tuple(names), productive * ramp, ramp))
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
        op = load.sources.get(("open_pipeline", seg))
        if op is not None:  # open deals: pursuit hours averaged over the horizon
            purs += op.captured_per_week * op.open_weeks * h_pursue
        fixed[seg] = {"qualifying": qual, "pursuing": purs}
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
        groups=rep_groups(scenario),
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
