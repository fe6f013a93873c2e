"""The constraint builders: each adds one named part of the PuLP model, and :func:`build_model`.

The builders run in order on a :class:`~pipesim.optimise.model.Model`: the decision variables,
the levers' response curves (the expected revenue), the shared lead queue, the reps' hours, the
campaign budgets, the strategic segments, the quotas and fairness band, the revenue target and
the objective. The model is always a minimisation (margin and revenue are negated), so shadow
prices have the same sign convention with every solver.
"""

from __future__ import annotations

from typing import Any

import pulp

from pipesim.optimise.levers import PROSPECTING_KEY, outbound_key
from pipesim.optimise.model import Model, safe_name
from pipesim.optimise.problem import Problem, RepGroup
from pipesim.optimise.text import money, number


def _expr(terms: list[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> Any:
    """An affine expression from ``(variable, coefficient)`` pairs; repeated variables add up."""
    coef: dict[pulp.LpVariable, float] = {}
    for var, c in terms:
        coef[var] = coef.get(var, 0.0) + c
    return pulp.LpAffineExpression(list(coef.items()), constant=constant)


def add_variables(m: Model) -> None:
    """Decision variables; levers without a response curve are fixed at today's value."""
    p = m.problem
    for name, camp in p.campaigns.items():
        fixed = p.curve_or_none(f"campaigns.{name}.budget_per_week") is None
        lo, hi = (camp.today, camp.today) if fixed else (0.0, None)
        m.spend[name] = m.prob.add_variable(f"spend[{safe_name(name)}]", lo, hi)
        m.wasted[name] = m.prob.add_variable(
            f"wasted[{safe_name(name)}]", 0.0, 0.0 if fixed else None
        )
    pro_fixed = p.curve_or_none("leads.prospecting.hours_per_week") is None
    pro_today = p.levers["leads.prospecting.hours_per_week"].today
    for g in p.groups:
        gname = safe_name(g.name)
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
            m.outbound[g.name, s] = m.prob.add_variable(
                f"outbound[{gname},{safe_name(s)}]", *bounds
            )
        cat = pulp.LpInteger if p.integer_quotas else pulp.LpContinuous
        m.quota[g.name] = m.prob.add_variable(f"quota[{gname}]", 0.0, None, cat)
    for s in p.segments:
        m.qualify[s] = m.prob.add_variable(f"team_qualify_hours[{safe_name(s)}]", 0.0)
        m.pursue[s] = m.prob.add_variable(f"team_pursue_hours[{safe_name(s)}]", 0.0)
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
        level = m.prob.add_variable(f"level[{safe_name(key)}]", 0.0)
        m.level[key] = level
        if lever.kind == "campaign":
            definition = [(m.spend[lever.name], 1.0), (m.wasted[lever.name], -1.0)]
        elif lever.kind == "prospecting":
            definition = [(m.prospecting[g.name], g.size / n) for g in p.groups]
        else:  # an opportunity counts by what the rep who works it is worth (skill x ramp)
            definition = [
                (m.outbound[g.name, lever.name], g.size / n * p.value_weight(g)) for g in p.groups
            ]
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
            z = m.prob.add_variable(f"piece[{safe_name(key)},{k}]", 0.0, None if last else width)
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
    to hours: free reps pull the next lead), flanking, account planning and the open deals it
    holds at the start. Ramping reps (``reps.ramp_weeks``) have their mean productivity over the
    horizon.
    """
    p = m.problem
    assert m.lead_work is not None
    for g in p.groups:
        fixed = sum(p.fixed_rep_hours.values()) + g.own_deal_hours
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
            + (
                f", of which {number(fixed, 1)} h flanking, account planning and its own open deals"
                if fixed
                else ""
            )
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
        deals = sum(g.size * g.deal_hours_in(s) for g in p.groups)
        split = p.prospecting_split.get(s, 0.0)
        per_opp = p.hours_per_opportunity + p.outbound_pursue_hours.get(s, 0.0)
        for g in p.groups:
            if split > 0:
                terms.append((m.prospecting[g.name], g.size * split))
            terms.append((m.outbound[g.name, s], g.size * per_opp))
        m.add(
            _expr(terms, deals),
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
    fixed = sum(g.size * (sum(p.fixed_rep_hours.values()) + g.own_deal_hours) for g in p.groups)
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


def tie_break(m: Model, objective_value: float) -> bool:
    """Second stage: of the plans as good as the optimum, the one closest to a proportional split.

    An LP is often indifferent between plans that differ only in which rep does which work
    (reps worth the same per opportunity, or capacity to spare), and a solver returns an
    arbitrary vertex: one rep doing all of a segment's outbound work, another none. This stage
    keeps the objective within a hair of ``objective_value`` (constraint ``tie.objective``) and
    minimises, in rep hours per week, how far each rep's prospecting and outbound work is from a
    split in proportion to its free hours (selling hours less fixed work and its own open
    deals). Where the optimum prefers some reps (more skill, further up the ramp), it keeps them.
    Returns False when there is nothing to break (one group, or only fixed levers).
    """
    p = m.problem
    if len(p.groups) < 2 or m.definitions_only or m.prob.objective is None:
        return False
    free = {g.name: p.free_hours(g) for g in p.groups}
    mean = sum(g.size * free[g.name] for g in p.groups) / p.reps
    if mean <= 0:
        return False
    families: list[tuple[str, dict[str, pulp.LpVariable], float]] = []
    if p.curve_or_none(PROSPECTING_KEY) is not None:
        families.append((PROSPECTING_KEY, m.prospecting, 1.0))
    for s in p.segments:
        if p.curve_or_none(outbound_key(s)) is not None:
            by_group = {g.name: m.outbound[g.name, s] for g in p.groups}
            per_opp = p.hours_per_opportunity + p.outbound_pursue_hours.get(s, 0.0)
            families.append((outbound_key(s), by_group, max(per_opp, 1e-6)))
    if not families:
        return False
    tol = 1e-9 * max(1.0, abs(objective_value))
    m.add(
        m.prob.objective,
        pulp.LpConstraintLE,
        objective_value + tol,
        "tie.objective",
        key="optimise",
        text="as good as the optimum",
        kind="rule",
    )
    deviations: list[tuple[pulp.LpVariable, float]] = []
    for key, var, hours in families:
        ref = m.prob.add_variable(f"tie.reference[{safe_name(key)}]", 0.0)
        for g in p.groups:
            share = free[g.name] / mean
            dev = m.prob.add_variable(f"tie.deviation[{safe_name(key)},{safe_name(g.name)}]", 0.0)
            for sign in (1.0, -1.0):
                m.add(
                    _expr([(var[g.name], sign), (ref, -sign * share), (dev, -1.0)]),
                    pulp.LpConstraintLE,
                    0.0,
                    f"tie.{'over' if sign > 0 else 'under'}[{key},{g.name}]",
                    key=key,
                    text=f"group '{g.name}''s {key} against a split in proportion to free hours",
                    kind="rule",
                )
            deviations.append((dev, g.size * hours))
    m.prob.setObjective(_expr(deviations))
    return True


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
        Keep only the defining equalities (to account for a given plan, see
        :func:`~pipesim.optimise.solver.evaluate`).
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
