"""The PuLP model: built from index sets by named constraint builders, solved, checked, explained.

Sets: rep groups ``g`` (``n_g`` reps each), segments ``s``, campaigns ``c``, levers ``l`` with
curve pieces ``k``. Variables (per rep of a group where it says so):

* ``spend[c]`` budget per week, ``wasted[c]`` the part of it whose leads go uncaptured;
* ``outbound[g,s]`` opportunities per rep per week opened in segment ``s``;
* ``prospecting[g]`` prospecting hours per rep per week;
* ``quota[g]`` new opportunities per rep per week (integer when asked: a MILP);
* ``level[l]`` the lever's team value, ``piece[l,k]`` the part of it on piece ``k``;
* ``qualify[s]``, ``pursue[s]`` team hours per week of the shared lead queue, ``lead_opps`` its
  opportunities per week, ``lead_work`` the sum of its hours, ``quota_mean`` the team's mean quota.

Every constraint is named after the scenario (or settings) key it comes from, and described in
:class:`ConstraintInfo`, so that a binding or conflicting constraint is reported in the user's
words. The model is always a minimisation (margin and revenue are negated), so shadow prices
have the same sign convention with every solver. See ``docs/optimise.md`` for the formulation.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pulp

from pipesim.optimise.problem import ACTIVITIES, Problem, RepGroup
from pipesim.optimise.text import money, number

_SAFE = re.compile(r"[^A-Za-z0-9_.]")
_TOL = 1e-7


class InfeasiblePlan(Exception):
    """No plan satisfies the constraints; the message names what binds, in scenario keys."""

    def __init__(
        self,
        message: str,
        *,
        required: float | None = None,
        best_revenue: float | None = None,
        binding: list[Binding] | None = None,
        iis: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.required = required
        self.best_revenue = best_revenue
        self.binding = binding or []
        self.iis = iis or []


class SolverFailed(Exception):
    """The solver stopped without a usable answer (error, unbounded, no solution in time)."""


class UnknownSolver(ValueError):
    """The solver name is not known to PuLP or the solver is not installed (bad input)."""


@dataclass(frozen=True)
class ConstraintInfo:
    """What a named constraint means, in the user's words.

    Attributes
    ----------
    name
        The solver-safe constraint name.
    key
        The scenario or settings key the constraint comes from.
    text
        What the constraint says, with its bound.
    relax
        What one unit of relaxing it is (the unit of its shadow price).
    scale
        Multiplier from the constraint's own unit to ``relax``'s unit.
    kind
        ``capacity``, ``budget``, ``target``, ``curve``, ``policy`` or ``definition``.
    """

    name: str
    key: str
    text: str
    relax: str = ""
    scale: float = 1.0
    kind: str = "policy"


@dataclass(frozen=True)
class Binding:
    """A constraint that holds with equality at the solution, with its shadow price."""

    info: ConstraintInfo
    shadow_price: float | None  # objective units per unit of ``info.relax``; None for a MIP

    def describe(self, currency: str, objective: str) -> str:
        """One line: the constraint and what relaxing it is worth."""
        line = f"{self.info.key}: {self.info.text}"
        if self.shadow_price is not None and abs(self.shadow_price) > _TOL:
            what = {
                "max-margin": "expected gross margin",
                "min-cost": "cost saved",
                "max-revenue": "expected revenue",
            }.get(objective, "objective")
            line += f"; {self.info.relax} is worth {money(self.shadow_price, currency)} of {what}"
        return line


@dataclass
class Model:
    """A built PuLP model with its variables, expressions and constraint descriptions."""

    prob: pulp.LpProblem
    problem: Problem
    objective: str
    required_revenue: float | None
    info: dict[str, ConstraintInfo] = field(default_factory=dict)
    spend: dict[str, pulp.LpVariable] = field(default_factory=dict)
    wasted: dict[str, pulp.LpVariable] = field(default_factory=dict)
    outbound: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    prospecting: dict[str, pulp.LpVariable] = field(default_factory=dict)
    quota: dict[str, pulp.LpVariable] = field(default_factory=dict)
    level: dict[str, pulp.LpVariable] = field(default_factory=dict)
    pieces: dict[str, list[pulp.LpVariable]] = field(default_factory=dict)
    qualify: dict[str, pulp.LpVariable] = field(default_factory=dict)
    pursue: dict[str, pulp.LpVariable] = field(default_factory=dict)
    lead_opps: pulp.LpVariable | None = None
    lead_work: pulp.LpVariable | None = None
    quota_mean: pulp.LpVariable | None = None
    revenue: pulp.LpAffineExpression | None = None
    campaign_cost: pulp.LpAffineExpression | None = None
    hour_cost: pulp.LpAffineExpression | None = None
    definitions_only: bool = False

    def add(
        self,
        expr: pulp.LpAffineExpression,
        sense: int,
        rhs: float,
        name: str,
        *,
        key: str,
        text: str,
        relax: str = "",
        scale: float = 1.0,
        kind: str = "policy",
    ) -> None:
        """Add ``expr (sense) rhs`` under a unique solver-safe ``name`` with its description."""
        if self.definitions_only and kind != "definition":
            return
        safe = _SAFE.sub("_", name)
        if safe in self.info:
            raise ValueError(f"duplicate constraint name {safe}")
        self.prob.addConstraint(pulp.LpConstraint(expr, sense, safe, rhs))
        self.info[safe] = ConstraintInfo(safe, key, text, relax, scale, kind)

    @property
    def size(self) -> tuple[int, int]:
        """Number of variables and constraints."""
        return self.prob.numVariables(), self.prob.numConstraints()


def _safe(text: str) -> str:
    return _SAFE.sub("_", text)


def _expr(terms: list[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> Any:
    """An affine expression from ``(variable, coefficient)`` pairs; repeated variables add up."""
    coef: dict[pulp.LpVariable, float] = {}
    for var, c in terms:
        coef[var] = coef.get(var, 0.0) + c
    return pulp.LpAffineExpression(list(coef.items()), constant=constant)


# --------------------------------------------------------------------------- builders
def add_variables(m: Model) -> None:
    """Decision variables; levers without a response curve are fixed at today's value."""
    p = m.problem
    for name, camp in p.campaigns.items():
        fixed = p.curve_or_none(f"campaigns.{name}.budget_per_week") is None
        lo, hi = (camp.today, camp.today) if fixed else (0.0, None)
        m.spend[name] = m.prob.add_variable(f"spend[{_safe(name)}]", lo, hi)
        m.wasted[name] = m.prob.add_variable(f"wasted[{_safe(name)}]", 0.0, 0.0 if fixed else None)
    pro_fixed = p.curve_or_none("leads.prospecting.hours_per_week") is None
    pro_today = p.levers["leads.prospecting.hours_per_week"].today
    for g in p.groups:
        gname = _safe(g.name)
        if pro_fixed:
            m.prospecting[g.name] = m.prob.add_variable(
                f"prospecting[{gname}]", pro_today, pro_today
            )
        else:
            m.prospecting[g.name] = m.prob.add_variable(f"prospecting[{gname}]", 0.0)
        for s in p.segments:
            key = f"leads.outbound.opportunities_per_rep_week[{s}]"
            today = p.levers[key].today
            bounds = (today, today) if p.curve_or_none(key) is None else (0.0, None)
            m.outbound[g.name, s] = m.prob.add_variable(f"outbound[{gname},{_safe(s)}]", *bounds)
        cat = pulp.LpInteger if p.integer_quotas else pulp.LpContinuous
        m.quota[g.name] = m.prob.add_variable(f"quota[{gname}]", 0.0, None, cat)
    for s in p.segments:
        m.qualify[s] = m.prob.add_variable(f"team_qualify_hours[{_safe(s)}]", 0.0)
        m.pursue[s] = m.prob.add_variable(f"team_pursue_hours[{_safe(s)}]", 0.0)
    m.lead_opps = m.prob.add_variable("team_lead_opportunities", 0.0)
    m.lead_work = m.prob.add_variable("team_lead_hours", 0.0)


def response_curves(m: Model) -> None:
    """Each lever's level and its piecewise-linear concave revenue response.

    ``level[l] = lo_l + sum_k piece[l,k]``; the expected revenue is today's simulated mean plus
    ``sum_l (f_l(lo_l) + sum_k slope[l,k] * piece[l,k])``. Pieces are bounded by their widths
    except the last, whose end is the named constraint ``<lever key>`` (the curve's domain ends
    at its highest level). Concavity makes a maximiser fill the steepest pieces first.
    """
    p = m.problem
    n = p.reps
    revenue_terms: list[tuple[pulp.LpVariable, float]] = []
    constant = p.base_revenue
    for key, lever in p.levers.items():
        curve = p.curve_or_none(key)
        if curve is None:
            continue
        level = m.prob.add_variable(f"level[{_safe(key)}]", 0.0)
        m.level[key] = level
        if lever.kind == "campaign":
            definition = [(m.spend[lever.name], 1.0), (m.wasted[lever.name], -1.0)]
        elif lever.kind == "prospecting":
            definition = [(m.prospecting[g.name], g.size / n) for g in p.groups]
        else:
            definition = [(m.outbound[g.name, lever.name], g.size / n) for g in p.groups]
        m.add(
            _expr([*definition, (level, -1.0)]),
            pulp.LpConstraintEQ,
            0.0,
            f"define.level.{key}",
            key=key,
            text="definition of the lever's team value",
            kind="definition",
        )
        pieces = curve.pieces()
        zs = []
        for k, (width, slope) in enumerate(pieces):
            last = k == len(pieces) - 1
            z = m.prob.add_variable(f"piece[{_safe(key)},{k}]", 0.0, None if last else width)
            zs.append(z)
            revenue_terms.append((z, slope))
        m.pieces[key] = zs
        constant += curve.revenue[0]
        m.add(
            _expr([(level, 1.0), *((z, -1.0) for z in zs)]),
            pulp.LpConstraintEQ,
            curve.lo,
            f"define.pieces.{key}",
            key=key,
            text="the lever's value is the sum of its curve pieces",
            kind="definition",
        )
        relax, scale = {
            "campaign": (f"1,000 {p.currency} per week more beyond the curve's end", 1000.0),
            "prospecting": ("one more hour per rep per week beyond the curve's end", 1.0),
            "outbound": ("0.1 more opportunities per rep per week beyond the curve's end", 0.1),
        }[lever.kind]
        m.add(
            _expr([(level, 1.0)]),
            pulp.LpConstraintLE,
            curve.hi,
            key,
            key=key,
            text=f"its response curve ({curve.source}) ends at {number(curve.hi)} {lever.unit}: "
            f"effort beyond the highest {'pilot' if curve.source == 'pilot' else 'judged'} "
            "level is not modelled",
            relax=relax,
            scale=scale,
            kind="curve",
        )
    m.revenue = _expr(revenue_terms, constant)


def lead_queue(m: Model) -> None:
    """Team hours the shared lead queue needs (qualifying, pursuing) and its opportunities.

    Leads per week: inbound and referrals (fixed), campaigns (effective spend / cost per lead,
    over their active share of the horizon) and prospecting (team prospecting hours / hours per
    lead), split by segment. Each captured lead costs the qualification hours and, when pursued,
    pursuit hours for the weeks it stays open.
    """
    p = m.problem
    n = p.reps
    opp_terms: list[tuple[pulp.LpVariable, float]] = []
    for s in p.segments:
        q_terms: list[tuple[pulp.LpVariable, float]] = []
        u_terms: list[tuple[pulp.LpVariable, float]] = []
        for name, camp in p.campaigns.items():
            per_unit = camp.shares.get(s, 0.0) / camp.cost_per_lead * camp.active_weeks
            per_unit /= p.horizon_weeks
            if per_unit <= 0:
                continue
            for var, sign in ((m.spend[name], 1.0), (m.wasted[name], -1.0)):
                q_terms.append((var, sign * per_unit * camp.costs.qualify_hours))
                u_terms.append((var, sign * per_unit * camp.costs.pursue_hours[s]))
                opp_terms.append((var, sign * per_unit * camp.costs.opportunities[s]))
        pc = p.prospecting_costs
        share = p.prospecting_split.get(s, 0.0)
        if pc is not None and share > 0:
            for g in p.groups:
                per_hour = g.size / p.prospecting_hours_per_lead * share
                var = m.prospecting[g.name]
                q_terms.append((var, per_hour * pc.qualify_hours))
                u_terms.append((var, per_hour * pc.pursue_hours[s]))
                opp_terms.append((var, per_hour * pc.opportunities[s]))
        fixed = p.fixed_team_hours.get(s, {})
        m.add(
            _expr([*q_terms, (m.qualify[s], -1.0)], fixed.get("qualifying", 0.0)),
            pulp.LpConstraintEQ,
            0.0,
            f"define.qualifying.{s}",
            key="reps.qualify_hours",
            text=f"team hours per week qualifying the leads of {s}",
            kind="definition",
        )
        m.add(
            _expr([*u_terms, (m.pursue[s], -1.0)], fixed.get("pursuing", 0.0)),
            pulp.LpConstraintEQ,
            0.0,
            f"define.pursuing.{s}",
            key="reps.pursue_hours_per_week",
            text=f"team hours per week pursuing the opportunities from leads of {s}",
            kind="definition",
        )
    assert m.lead_opps is not None and m.lead_work is not None
    m.add(
        _expr([*opp_terms, (m.lead_opps, -1.0)], sum(p.fixed_team_opportunities.values())),
        pulp.LpConstraintEQ,
        0.0,
        "define.lead_opportunities",
        key="leads",
        text="opportunities per week from the lead queue",
        kind="definition",
    )
    work = [(m.qualify[s], 1.0) for s in p.segments] + [(m.pursue[s], 1.0) for s in p.segments]
    m.add(
        _expr([*work, (m.lead_work, -1.0)]),
        pulp.LpConstraintEQ,
        0.0,
        "define.lead_hours",
        key="leads",
        text="team hours per week of the lead queue",
        kind="definition",
    )
    del n


def _own_hours(m: Model, g: RepGroup) -> list[tuple[pulp.LpVariable, float]]:
    """Hours per rep of ``g`` on its own work: prospecting, outbound and pursuing those."""
    p = m.problem
    terms = [(m.prospecting[g.name], 1.0)]
    for s in p.segments:
        per_opp = p.hours_per_opportunity + p.outbound_pursue_hours.get(s, 0.0)
        terms.append((m.outbound[g.name, s], per_opp))
    return terms


def rep_hours(m: Model) -> None:
    """``reps.hours_per_week``: each rep's selling hours cover its work.

    Its own work (prospecting, outbound, pursuing those), its share of the lead queue (pro rata
    to hours: free reps pull the next lead), flanking and account planning. Ramping reps
    (``reps.ramp_weeks``) have their mean productivity over the horizon.
    """
    p = m.problem
    assert m.lead_work is not None
    fixed = sum(p.fixed_rep_hours.values())
    for g in p.groups:
        terms = [*_own_hours(m, g), (m.lead_work, p.lead_share(g))]
        productive = g.hours / g.ramp if g.ramp > 0 else g.hours
        if g.ramp < 1 - 1e-9:
            key = "reps.ramp_weeks"
            why = (
                f"{g.size} reps still ramping (mean productivity {g.ramp:.0%} over the horizon "
                f"from reps.ramp_start and reps.ramp_weeks)"
            )
        else:
            key = "reps.hours_per_week"
            why = f"{g.size} reps"
        text = (
            f"selling hours per rep per week in group '{g.name}' ({why}): "
            f"reps.hours_per_week x (1 - reps.admin_share) = {number(productive, 1)} h"
            + (f" x ramp {g.ramp:.2f} = {number(g.hours, 1)} h" if g.ramp < 1 - 1e-9 else "")
            + (f", of which {number(fixed, 1)} h flanking and account planning" if fixed else "")
        )
        m.add(
            _expr(terms),
            pulp.LpConstraintLE,
            g.hours - fixed,
            f"{key}[{g.name}]",
            key=key,
            text=text,
            relax="one more hour per rep per week",
            kind="capacity",
        )


def campaign_budgets(m: Model) -> None:
    """Total and per-campaign budget bounds; wasted spend cannot exceed the spend.

    Spend whose leads nobody follows up (``wasted``) buys uncaptured leads: the curve only
    counts the effective spend, so budget and rep capacity are optimised together.
    """
    p = m.problem
    cur = p.currency
    if not p.campaigns:
        return
    lo, hi = p.budget_total
    total = [(m.spend[c], 1.0) for c in p.campaigns]
    if hi is not None:
        m.add(
            _expr(total),
            pulp.LpConstraintLE,
            hi,
            "campaigns.budget_per_week.total.max",
            key=p.budget_total_source,
            text=f"total campaign budget (sum of campaigns.<name>.budget_per_week) at most "
            f"{money(hi, cur)} per week"
            + (
                " (raise it with --budget or optimise.budget.total_per_week.max)"
                if "today" in p.budget_total_source
                else ""
            ),
            relax=f"1,000 {cur} more budget per week",
            scale=1000.0,
            kind="budget",
        )
    if lo is not None and lo > 0:
        m.add(
            _expr(total),
            pulp.LpConstraintGE,
            lo,
            "campaigns.budget_per_week.total.min",
            key="optimise.budget.total_per_week.min",
            text=f"total campaign budget at least {money(lo, cur)} per week",
            relax=f"1,000 {cur} less minimum budget per week",
            scale=1000.0,
            kind="budget",
        )
    for name in p.campaigns:
        c_lo, c_hi = p.campaign_bounds.get(name, (None, None))
        if c_hi is not None:
            m.add(
                _expr([(m.spend[name], 1.0)]),
                pulp.LpConstraintLE,
                c_hi,
                f"campaigns.{name}.budget_per_week.max",
                key=f"optimise.budget.campaigns.{name}.max",
                text=f"campaigns.{name}.budget_per_week at most {money(c_hi, cur)}",
                relax=f"1,000 {cur} more for {name} per week",
                scale=1000.0,
                kind="budget",
            )
        if c_lo is not None and c_lo > 0:
            m.add(
                _expr([(m.spend[name], 1.0)]),
                pulp.LpConstraintGE,
                c_lo,
                f"campaigns.{name}.budget_per_week.min",
                key=f"optimise.budget.campaigns.{name}.min",
                text=f"campaigns.{name}.budget_per_week at least {money(c_lo, cur)}",
                relax=f"1,000 {cur} less minimum for {name} per week",
                scale=1000.0,
                kind="budget",
            )
        m.add(
            _expr([(m.spend[name], 1.0), (m.wasted[name], -1.0)]),
            pulp.LpConstraintGE,
            0.0,
            f"campaigns.{name}.cost_per_lead",
            key=f"campaigns.{name}.cost_per_lead",
            text=f"uncaptured leads of {name} cannot exceed the leads its budget buys",
            kind="definition",
        )


def strategic_segments(m: Model) -> None:
    """``optimise.strategic_segments.<s>``: a least share of the team's selling hours in ``s``."""
    p = m.problem
    total = p.team_hours
    for s, share in p.strategic_segments.items():
        if share <= 0:
            continue
        terms: list[tuple[pulp.LpVariable, float]] = [(m.qualify[s], 1.0), (m.pursue[s], 1.0)]
        split = p.prospecting_split.get(s, 0.0)
        per_opp = p.hours_per_opportunity + p.outbound_pursue_hours.get(s, 0.0)
        for g in p.groups:
            if split > 0:
                terms.append((m.prospecting[g.name], g.size * split))
            terms.append((m.outbound[g.name, s], g.size * per_opp))
        m.add(
            _expr(terms),
            pulp.LpConstraintGE,
            share * total,
            f"optimise.strategic_segments.{s}",
            key=f"optimise.strategic_segments.{s}",
            text=f"at least {share:.0%} of the team's selling hours in {s} "
            f"({number(share * total, 1)} h per week)",
            relax="one team hour per week less in the segment",
            kind="policy",
        )


def quotas(m: Model) -> None:
    """Each rep's weekly new-opportunity quota, the team mean, bounds and the fairness band.

    A rep's quota is its outbound opportunities plus its share of the lead queue's.
    """
    p = m.problem
    assert m.lead_opps is not None
    n = p.reps
    m.quota_mean = m.prob.add_variable("quota_mean", 0.0)
    for g in p.groups:
        terms = [(m.outbound[g.name, s], 1.0) for s in p.segments]
        terms += [(m.lead_opps, p.lead_share(g)), (m.quota[g.name], -1.0)]
        m.add(
            _expr(terms),
            pulp.LpConstraintEQ,
            0.0,
            f"define.quota[{g.name}]",
            key="leads.outbound.opportunities_per_rep_week",
            text=f"new opportunities per rep per week in group '{g.name}'",
            kind="definition",
        )
    m.add(
        _expr([*((m.quota[g.name], g.size / n) for g in p.groups), (m.quota_mean, -1.0)]),
        pulp.LpConstraintEQ,
        0.0,
        "define.quota_mean",
        key="leads.outbound.opportunities_per_rep_week",
        text="team mean quota",
        kind="definition",
    )
    band = p.fairness_band
    if band is not None and len(p.groups) > 1:
        for g in p.groups:
            q = m.quota[g.name]
            m.add(
                _expr([(q, 1.0), (m.quota_mean, -(1.0 - band))]),
                pulp.LpConstraintGE,
                0.0,
                f"optimise.fairness_band.low[{g.name}]",
                key="optimise.fairness_band",
                text=f"quota of group '{g.name}' at least {1 - band:.0%} of the team average",
                relax="one opportunity per week less in the band",
            )
            m.add(
                _expr([(q, 1.0), (m.quota_mean, -(1.0 + band))]),
                pulp.LpConstraintLE,
                0.0,
                f"optimise.fairness_band.high[{g.name}]",
                key="optimise.fairness_band",
                text=f"quota of group '{g.name}' at most {1 + band:.0%} of the team average",
                relax="one opportunity per week more in the band",
            )
    q_lo, q_hi = p.quota_bounds
    for g in p.groups:
        if q_lo is not None and q_lo > 0:
            m.add(
                _expr([(m.quota[g.name], 1.0)]),
                pulp.LpConstraintGE,
                q_lo,
                f"optimise.quota.min[{g.name}]",
                key="optimise.quota.min",
                text=f"quota per rep at least {number(q_lo)} new opportunities per week",
                relax="one opportunity per week less",
            )
        if q_hi is not None:
            m.add(
                _expr([(m.quota[g.name], 1.0)]),
                pulp.LpConstraintLE,
                q_hi,
                f"optimise.quota.max[{g.name}]",
                key="optimise.quota.max",
                text=f"quota per rep at most {number(q_hi)} new opportunities per week",
                relax="one opportunity per rep per week more",
            )


def revenue_target(m: Model) -> None:
    """``target.revenue``: expected revenue at least the required amount (target + margin)."""
    p = m.problem
    if m.required_revenue is None:
        return
    assert m.revenue is not None
    margin = m.required_revenue / p.target_revenue - 1 if p.target_revenue > 0 else 0.0
    m.add(
        m.revenue,
        pulp.LpConstraintGE,
        m.required_revenue,
        "target.revenue",
        key="target.revenue",
        text=f"expected revenue at least {money(m.required_revenue, p.currency)} "
        f"(target {money(p.target_revenue, p.currency)}"
        + (f" plus a safety margin of {margin:.1%}" if margin > 1e-9 else "")
        + (
            f" less {-margin:.1%}: the simulated plans beat the LP's estimate"
            if margin < -1e-9
            else ""
        )
        + ")",
        relax=f"1,000 {p.currency} less required revenue",
        scale=1000.0,
        kind="target",
    )


def objective(m: Model) -> None:
    """Maximise expected gross margin, minimise cost, or maximise expected revenue.

    Margin is ``gross_margin x revenue - campaign spend`` (rep salaries are the same whatever
    the plan); cost is campaign spend plus the planned rep hours at ``reps.cost_per_hour``.
    Everything is over the horizon. The model minimises; maximisations are negated.
    """
    p = m.problem
    assert m.revenue is not None and m.lead_work is not None
    spend_terms = [(m.spend[c], camp.active_weeks) for c, camp in p.campaigns.items()]
    m.campaign_cost = _expr(spend_terms)
    fixed = sum(p.fixed_rep_hours.values()) * p.reps
    hour_terms = [(v, g.size * c) for g in p.groups for v, c in _own_hours(m, g)]
    hour_terms.append((m.lead_work, 1.0))
    per_hour = p.cost_per_hour * p.horizon_weeks
    m.hour_cost = _expr([(v, c * per_hour) for v, c in hour_terms], fixed * per_hour)
    if m.objective == "max-margin":
        gm = p.gross_margin
        terms = [(v, -gm * c) for v, c in m.revenue.items()] + [(v, c) for v, c in spend_terms]
        m.prob.setObjective(_expr(terms, -gm * m.revenue.constant))
    elif m.objective == "min-cost":
        m.prob.setObjective(m.campaign_cost + m.hour_cost)
    elif m.objective == "max-revenue":
        m.prob.setObjective(_expr([(v, -c) for v, c in m.revenue.items()], -m.revenue.constant))
    else:
        raise ValueError(f"unknown objective {m.objective!r}")


def build_model(
    problem: Problem,
    objective_name: str | None = None,
    required_revenue: float | None = None,
    *,
    definitions_only: bool = False,
) -> Model:
    """Build the PuLP model for ``problem``.

    Parameters
    ----------
    problem
        The LP's inputs.
    objective_name
        ``max-margin``, ``min-cost`` or ``max-revenue`` (default: the problem's objective).
    required_revenue
        Least expected revenue (the ``target.revenue`` constraint); None leaves it out.
    definitions_only
        Keep only the defining equalities (to account for a given plan, see :func:`evaluate`).
    """
    name = objective_name or problem.objective
    if name == "min-cost" and required_revenue is None:
        raise ValueError("min-cost needs a required revenue")
    m = Model(pulp.LpProblem("pipesim_plan", pulp.LpMinimize), problem, name, required_revenue)
    m.definitions_only = definitions_only
    add_variables(m)
    response_curves(m)
    lead_queue(m)
    rep_hours(m)
    campaign_budgets(m)
    strategic_segments(m)
    quotas(m)
    revenue_target(m)
    objective(m)
    return m


# --------------------------------------------------------------------------- solving
@dataclass
class Solution:
    """A solved plan: status, values, expressions and the constraints that bind."""

    status: str
    proven_optimal: bool
    mip_gap: float | None
    objective: str
    objective_value: float
    revenue: float
    campaign_cost: float
    hour_cost: float
    margin: float
    spend: dict[str, float]
    wasted: dict[str, float]
    outbound: dict[tuple[str, str], float]
    prospecting: dict[str, float]
    quota: dict[str, float]
    levels: dict[str, float]
    team_qualify: dict[str, float]
    team_pursue: dict[str, float]
    lead_opportunities: float
    binding: list[Binding]
    solver: str
    size: tuple[int, int]
    required_revenue: float | None = None


def solver_names() -> list[str]:
    """PuLP solvers installed here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names: list[str] = pulp.listSolvers(onlyAvailable=True)
    return names


def make_solver(name: str, time_limit: float | None = None, mip_gap: float | None = None) -> Any:
    """A PuLP solver by name: ``highs`` (HiGHS through highspy), ``cbc``, or a PuLP name."""
    alias = {"highs": "HiGHS", "cbc": "COIN_CMD"}.get(name.lower(), name)
    options: dict[str, Any] = {"msg": False}
    if time_limit is not None:
        options["timeLimit"] = time_limit
    if mip_gap is not None:
        options["gapRel"] = mip_gap
    with warnings.catch_warnings():
        # PuLP 3.3 deprecates its bundled CBC (PULP_CBC_CMD); we still accept it by name
        warnings.simplefilter("ignore")
        candidates = [alias]
        if alias == "COIN_CMD":
            candidates.append("PULP_CBC_CMD")
        for cand in candidates:
            try:
                solver = pulp.getSolver(cand, **options)
            except pulp.PulpSolverError:
                continue
            if solver.available():
                return solver
    available = ", ".join(solver_names()) or "none"
    raise UnknownSolver(
        f"solver {name!r} is not available; use 'highs', 'cbc' or one of: {available}"
    )


def solve(
    model: Model,
    solver: str = "highs",
    time_limit: float | None = 60.0,
    mip_gap: float | None = 1e-4,
    explain: bool = True,
) -> Solution:
    """Solve ``model`` and read the plan, after checking the solve and solution status.

    Raises
    ------
    InfeasiblePlan
        No plan satisfies the constraints (the message names the binding ones).
    SolverFailed
        The solver stopped without a usable solution.
    """
    engine = make_solver(solver, time_limit, mip_gap)
    prob = model.prob
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(engine)
    status, sol_status = prob.status, prob.sol_status
    if status == pulp.LpStatusInfeasible or sol_status == pulp.LpSolutionInfeasible:
        if explain:
            raise explain_infeasible(model, solver, time_limit)
        raise InfeasiblePlan("the constraints cannot all hold", required=model.required_revenue)
    if status == pulp.LpStatusUnbounded or sol_status == pulp.LpSolutionUnbounded:
        raise SolverFailed("the model is unbounded: a lever has no upper limit (a bug)")
    if status != pulp.LpStatusOptimal or sol_status not in (
        pulp.LpSolutionOptimal,
        pulp.LpSolutionIntegerFeasible,
    ):
        raise SolverFailed(
            f"{engine.name} stopped without a usable solution "
            f"(status {pulp.LpStatus.get(status, status)}, "
            f"solution {pulp.LpSolution.get(sol_status, sol_status)})"
        )
    proven = sol_status == pulp.LpSolutionOptimal
    gap = _mip_gap(prob) if (not proven or model.problem.integer_quotas) else None
    if proven:
        text = "optimal"
    else:
        text = "feasible, not proven optimal" + (
            f" (MIP gap {gap:.2%})" if gap is not None else " (gap not reported by this solver)"
        )
    if model.problem.integer_quotas and proven and gap is not None and gap > 0:
        text = f"optimal within the MIP gap tolerance (gap {gap:.3%})"
    duals = _duals(model, engine) if proven else {}
    return _read(model, text, proven, gap, duals, engine.name)


def _mip_gap(prob: pulp.LpProblem) -> float | None:
    highs = getattr(prob, "solverModel", None)
    if highs is None:
        return None
    with contextlib.suppress(Exception):
        gap = float(highs.getInfo().mip_gap)
        return gap if math.isfinite(gap) else None
    return None


def _duals(model: Model, engine: Any) -> dict[str, float]:
    """Shadow prices; for a MIP, those of the LP with the integers fixed at their values."""
    prob = model.prob
    if not model.problem.integer_quotas:
        return _pi(prob)
    saved = []
    for var in model.quota.values():
        saved.append((var, var.lowBound, var.upBound, var.cat))
        value = round(var.value() or 0.0)
        var.lowBound = var.upBound = value
        var.cat = pulp.LpContinuous
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(engine)
        if prob.status != pulp.LpStatusOptimal:
            return {}
        return _pi(prob)
    finally:
        for var, lo, hi, cat in saved:
            var.lowBound, var.upBound, var.cat = lo, hi, cat


def _pi(prob: pulp.LpProblem) -> dict[str, float]:
    return {c.name: float(c.pi) for c in prob.constraints() if c.pi is not None}


def _binding(model: Model, duals: dict[str, float]) -> list[Binding]:
    out = []
    for con in model.prob.constraints():
        name = con.name
        info = model.info.get(name)
        if info is None or info.kind == "definition":
            continue
        slack = con.slack if con.slack is not None else -(con.value() or 0.0)
        scale = max(1.0, abs(con.constant or 0.0))
        if abs(slack) > 1e-6 * scale:
            continue
        pi = duals.get(name)
        price = abs(pi) * info.scale if pi is not None else None
        if price is not None and price < 1e-6 and info.kind not in ("target",):
            continue  # holds with equality but costs nothing: not binding
        out.append(Binding(info, price))
    out.sort(key=lambda b: -(b.shadow_price or 0.0))
    return out


def _read(
    model: Model,
    status: str,
    proven: bool,
    gap: float | None,
    duals: dict[str, float],
    solver: str,
) -> Solution:
    p = model.problem
    val = pulp.value
    revenue = float(val(model.revenue))
    campaign_cost = float(val(model.campaign_cost) or 0.0)
    hour_cost = float(val(model.hour_cost) or 0.0)
    levels = {k: float(v.value() or 0.0) for k, v in model.level.items()}
    for key, lever in p.levers.items():
        levels.setdefault(key, lever.today)
    return Solution(
        status=status,
        proven_optimal=proven,
        mip_gap=gap,
        objective=model.objective,
        objective_value=float(val(model.prob.objective) or 0.0),
        revenue=revenue,
        campaign_cost=campaign_cost,
        hour_cost=hour_cost,
        margin=p.gross_margin * revenue - campaign_cost,
        spend={c: float(v.value() or 0.0) for c, v in model.spend.items()},
        wasted={c: float(v.value() or 0.0) for c, v in model.wasted.items()},
        outbound={k: float(v.value() or 0.0) for k, v in model.outbound.items()},
        prospecting={g: float(v.value() or 0.0) for g, v in model.prospecting.items()},
        quota={g: float(v.value() or 0.0) for g, v in model.quota.items()},
        levels=levels,
        team_qualify={s: float(v.value() or 0.0) for s, v in model.qualify.items()},
        team_pursue={s: float(v.value() or 0.0) for s, v in model.pursue.items()},
        lead_opportunities=float(model.lead_opps.value() or 0.0) if model.lead_opps else 0.0,
        binding=_binding(model, duals),
        solver=solver,
        size=model.size,
        required_revenue=model.required_revenue,
    )


# --------------------------------------------------------------------------- infeasibility
def _iis(model: Model) -> list[str] | None:
    """Names in HiGHS's irreducible infeasible subset, when the solver was HiGHS."""
    highs = getattr(model.prob, "solverModel", None)
    if highs is None or not hasattr(highs, "getIis"):
        return None
    names = [c.name for c in model.prob.constraints()]
    with contextlib.suppress(Exception):
        for strategy in (2, 4, 0):
            with contextlib.suppress(Exception):
                highs.setOptionValue("iis_strategy", strategy)
            _status, iis = highs.getIis()
            rows = list(getattr(iis, "row_index_", []) or [])
            if rows:
                # variable bounds in the subset are non-negativity and curve pieces: the named
                # rows say it in the user's words
                return [names[i] for i in rows if 0 <= i < len(names)]
    return None


def group_bindings(binding: list[Binding]) -> list[tuple[Binding, int]]:
    """One entry per scenario key: its first binding constraint and how many more share it."""
    out: dict[str, list[Any]] = {}
    for b in binding:
        entry = out.setdefault(b.info.key, [b, 0])
        if entry[0] is not b:
            entry[1] += 1
    return [(b, n) for b, n in out.values()]


def more_text(n: int) -> str:
    """`` (and n more like it)`` for a grouped list, or nothing."""
    return f" (and {n} more like it)" if n else ""


def _group_iis(model: Model, names: list[str]) -> list[str]:
    seen: dict[str, list[Any]] = {}
    for n in names:
        info = model.info.get(n)
        if info is None:
            seen.setdefault(n, [n, 0])
        elif info.kind != "definition":
            entry = seen.setdefault(info.key, [f"{info.key} ({info.text})", -1])
            entry[1] += 1
    return [text + more_text(max(k, 0)) for text, k in seen.values()]


def explain_infeasible(model: Model, solver: str, time_limit: float | None) -> InfeasiblePlan:
    """Say why no plan exists: what target, which capacity or budget binds, by how much.

    The model is solved again without the revenue target, maximising expected revenue: the
    most revenue reachable and the constraints that bind there (with shadow prices) say what
    limits it. With HiGHS, the irreducible infeasible subset of named constraints is added.
    """
    p = model.problem
    cur = p.currency
    if p.integer_quotas:
        # IIS and shadow prices are LP notions: look at the continuous relaxation first
        lp = build_model(replace(p, integer_quotas=False), model.objective, model.required_revenue)
        try:
            relaxed_plan = solve(lp, solver, time_limit, None, explain=False)
        except InfeasiblePlan:
            return explain_infeasible(lp, solver, time_limit)
        except SolverFailed:
            relaxed_plan = None
        mean = (
            ""
            if relaxed_plan is None
            else (
                f" (with fractional quotas the team's mean quota would be "
                f"{number(sum(g.size * relaxed_plan.quota[g.name] for g in p.groups) / p.reps, 2)})"
            )
        )
        band = (
            ""
            if p.fairness_band is None
            else (
                f", optimise.fairness_band (each group within {p.fairness_band:.0%} of the "
                "team mean)"
            )
        )
        return InfeasiblePlan(
            "no plan has whole-number quotas (optimise.quota.integer) within optimise.quota.min/"
            f"max{band}; a plan with fractional quotas exists{mean}. Widen the band, relax the "
            "quota bounds, or drop --integer-quotas.",
            required=model.required_revenue,
        )
    iis = _iis(model)
    iis_text = _group_iis(model, iis) if iis else []
    relaxed = build_model(p, "max-revenue", None)
    try:
        best = solve(relaxed, solver, time_limit, None, explain=False)
    except (InfeasiblePlan, SolverFailed):
        best = None
    lines: list[str] = []
    if best is None:
        lines.append(
            "the constraints conflict even before the revenue target is considered: "
            "no plan satisfies them all."
        )
        binding: list[Binding] = []
    else:
        need = model.required_revenue or p.target_revenue
        short = need - best.revenue
        lines.append(
            f"no plan reaches an expected revenue of {money(need, cur)} "
            f"(target.revenue {money(p.target_revenue, cur)}"
            + (
                f" plus a safety margin of {need / p.target_revenue - 1:.1%}"
                if need > p.target_revenue * (1 + 1e-9)
                else ""
            )
            + f"): within capacity and budget at most {money(best.revenue, cur)} is reachable, "
            f"short by {money(short, cur)} ({short / need:.1%})."
        )
        binding = best.binding
        if binding:
            lines.append(
                "binding at the most revenue reachable (shadow price: expected revenue per unit):"
            )
            for b, more in group_bindings(binding)[:8]:
                lines.append("  - " + b.describe(cur, "max-revenue") + more_text(more))
                if b.shadow_price and b.shadow_price > 0 and b.info.kind != "curve" and not more:
                    lines.append(
                        f"    closing the gap by this one alone would take about "
                        f"{number(short / b.shadow_price, 1)} times that (a local estimate)"
                    )
    if iis_text:
        lines.append("conflicting constraints (irreducible infeasible subset, HiGHS):")
        lines.extend(f"  - {t}" for t in iis_text)
    elif best is None:
        lines.append("run with --solver highs to name an irreducible infeasible subset.")
    return InfeasiblePlan(
        "\n".join(lines),
        required=model.required_revenue,
        best_revenue=None if best is None else best.revenue,
        binding=binding,
        iis=iis_text,
    )


def evaluate(problem: Problem, levels: dict[str, float] | None = None) -> Solution:
    """The hours, quotas and revenue of a given plan (today's by default), without optimising.

    The same expressions as the LP are used, with the levers fixed and only the definitions
    kept, so today's plan and the optimised one are accounted for alike (a plan that overloads
    the reps is still evaluated).
    """
    levels = dict(levels or {})
    p = replace(problem, integer_quotas=False, fairness_band=None)
    m = build_model(p, "max-revenue", None, definitions_only=True)
    for key, lever in p.levers.items():
        x = levels.get(key, lever.today)
        if lever.kind == "campaign":
            _fix(m.spend[lever.name], x)
            _fix(m.wasted[lever.name], 0.0)
        elif lever.kind == "prospecting":
            for var in m.prospecting.values():
                _fix(var, x)
        else:
            for g in p.groups:
                _fix(m.outbound[g.name, lever.name], x)
    return solve(m, "highs", None, None, explain=False)


def _fix(var: pulp.LpVariable, value: float) -> None:
    var.lowBound = var.upBound = value


def iter_hours(problem: Problem, solution: Solution) -> Iterator[tuple[str, str, str, float]]:
    """Hours per rep per week of a solution: ``(group, activity, segment, hours)``.

    Own work (prospecting split by segment as the engine splits it, outbound, pursuing own
    outbound opportunities) plus the rep's share of the lead queue (pro rata to hours), and the
    fixed flanking and account-planning hours (segment ``all``).
    """
    p = problem
    for g in p.groups:
        share = p.lead_share(g)
        for s in p.segments:
            o = solution.outbound[g.name, s]
            yield g.name, "prospecting", s, solution.prospecting[g.name] * p.prospecting_split[s]
            yield g.name, "outbound", s, o * p.hours_per_opportunity
            yield g.name, "qualifying", s, share * solution.team_qualify[s]
            pursue = o * p.outbound_pursue_hours.get(s, 0.0) + share * solution.team_pursue[s]
            yield g.name, "pursuing", s, pursue
        for activity in ACTIVITIES:
            if activity in p.fixed_rep_hours:
                yield g.name, activity, "all", p.fixed_rep_hours[activity]
