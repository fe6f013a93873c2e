"""Solving: the solver by name, the solve with its status checks, and the :class:`Solution`.

HiGHS (through highspy) is the default; CBC and any installed PuLP solver can be named. A solve
that finds no plan is explained (:func:`explain_infeasible`: the model is solved again without
the revenue target to see what limits it); a solved model is read into a :class:`Solution` with
its binding constraints. :func:`evaluate` accounts for a given plan with the same expressions.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pulp

from pipesim.optimise.constraints import build_model, tie_break
from pipesim.optimise.explain import (
    Binding,
    InfeasiblePlan,
    binding_constraints,
    infeasible_subset,
    quotas_not_whole,
    unreachable,
)
from pipesim.optimise.model import Model
from pipesim.optimise.problem import ACTIVITIES, Problem


class SolverFailed(Exception):
    """The solver stopped without a usable answer (error, unbounded, no solution in time)."""


class UnknownSolver(ValueError):
    """The solver name is not known to PuLP or the solver is not installed (bad input)."""


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
    effective_levels: dict[str, float] = field(default_factory=dict)
    """Each lever's value on its response curve: ``levels`` except for outbound, whose
    opportunities count by what the rep who works them is worth (skill x ramp, team mean 1)."""


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
    tie: bool = True,
) -> Solution:
    """Solve ``model`` and read the plan, after checking the solve and solution status.

    With ``tie`` (and more than one rep group), a second stage picks, of the plans as good as
    the optimum, the one whose work per rep is closest to a split in proportion to free hours
    (shadow prices and binding constraints are the first stage's).

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
    binding = binding_constraints(model, duals)
    objective = prob.objective  # the second stage replaces it: keep the plan's own
    if tie:
        _tie_break(model, engine)
    value = float(pulp.value(objective) or 0.0)
    return _read(model, text, proven, gap, binding, engine.name, value)


def _tie_break(model: Model, engine: Any) -> None:
    """Solve the second stage (:func:`~pipesim.optimise.constraints.tie_break`) in place.

    The stage keeps the optimum's objective, so the plan is as good; if it fails for any
    reason, the first stage's values are put back.
    """
    prob = model.prob
    value = pulp.value(prob.objective)
    if value is None:
        return
    saved = {v.name: v.varValue for v in prob.variables()}
    if not tie_break(model, float(value)):
        return
    fixed = []
    if model.problem.integer_quotas:  # whole-number quotas stay as found: the stage is an LP
        for var in model.quota.values():
            fixed.append((var, var.lowBound, var.upBound, var.cat))
            var.lowBound = var.upBound = round(var.value() or 0.0)
            var.cat = pulp.LpContinuous
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(engine)
    finally:
        for var, lo, hi, cat in fixed:
            var.lowBound, var.upBound, var.cat = lo, hi, cat
    if prob.status != pulp.LpStatusOptimal or prob.sol_status not in (
        pulp.LpSolutionOptimal,
        pulp.LpSolutionIntegerFeasible,
    ):
        for v in prob.variables():
            if v.name in saved:
                v.varValue = saved[v.name]


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


def _read(
    model: Model,
    status: str,
    proven: bool,
    gap: float | None,
    binding: list[Binding],
    solver: str,
    objective_value: float,
) -> Solution:
    p = model.problem
    val = pulp.value
    revenue = float(val(model.revenue))
    campaign_cost = float(val(model.campaign_cost) or 0.0)
    hour_cost = float(val(model.hour_cost) or 0.0)
    effective = {
        k: _value(v, 0.01 if p.levers[k].kind == "campaign" else 1e-7)
        for k, v in model.level.items()
    }
    outbound = {k: _value(v) for k, v in model.outbound.items()}
    levels: dict[str, float] = {}
    for key, lever in p.levers.items():
        effective.setdefault(key, lever.today)
        if lever.kind == "outbound" and p.reps > 0:
            # the lever's value a planner sets: the team's mean opportunities per rep
            levels[key] = sum(g.size * outbound[g.name, lever.name] for g in p.groups) / p.reps
        else:
            levels[key] = effective[key]
    return Solution(
        status=status,
        proven_optimal=proven,
        mip_gap=gap,
        objective=model.objective,
        objective_value=objective_value,
        revenue=revenue,
        campaign_cost=campaign_cost,
        hour_cost=hour_cost,
        margin=p.gross_margin * revenue - campaign_cost,
        spend={c: _value(v, 0.01) for c, v in model.spend.items()},  # a cent
        wasted={c: _value(v, 0.01) for c, v in model.wasted.items()},
        outbound=outbound,
        prospecting={g: _value(v) for g, v in model.prospecting.items()},
        quota={g: _value(v) for g, v in model.quota.items()},
        levels=levels,
        team_qualify={s: float(v.value() or 0.0) for s, v in model.qualify.items()},
        team_pursue={s: float(v.value() or 0.0) for s, v in model.pursue.items()},
        lead_opportunities=float(model.lead_opps.value() or 0.0) if model.lead_opps else 0.0,
        binding=binding,
        solver=solver,
        size=model.size,
        required_revenue=model.required_revenue,
        effective_levels=effective,
    )


def _value(var: pulp.LpVariable, tiny: float = 1e-7) -> float:
    """A variable's value, with solver round-off around 0 (below ``tiny``) read as 0."""
    x = float(var.value() or 0.0)
    return 0.0 if abs(x) < tiny else x


def explain_infeasible(model: Model, solver: str, time_limit: float | None) -> InfeasiblePlan:
    """Say why no plan exists: what target, which capacity or budget binds, by how much.

    The model is solved again without the revenue target, maximising expected revenue: the
    most revenue reachable and the constraints that bind there (with shadow prices) say what
    limits it. With HiGHS, the irreducible infeasible subset of named constraints is added.
    """
    p = model.problem
    if p.integer_quotas:
        # IIS and shadow prices are LP notions: look at the continuous relaxation first
        lp = build_model(replace(p, integer_quotas=False), model.objective, model.required_revenue)
        try:
            relaxed_plan = solve(lp, solver, time_limit, None, explain=False, tie=False)
        except InfeasiblePlan:
            return explain_infeasible(lp, solver, time_limit)
        except SolverFailed:
            relaxed_plan = None
        mean = (
            None
            if relaxed_plan is None
            else sum(g.size * relaxed_plan.quota[g.name] for g in p.groups) / p.reps
        )
        return quotas_not_whole(model, mean)
    iis = infeasible_subset(model)
    relaxed = build_model(p, "max-revenue", None)
    try:
        best = solve(relaxed, solver, time_limit, None, explain=False, tie=False)
    except (InfeasiblePlan, SolverFailed):
        best = None
    if best is None:
        return unreachable(model, None, [], iis)
    return unreachable(model, best.revenue, best.binding, iis)


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
    return solve(m, "highs", None, None, explain=False, tie=False)


def _fix(var: pulp.LpVariable, value: float) -> None:
    var.lowBound = var.upBound = value


def iter_hours(problem: Problem, solution: Solution) -> Iterator[tuple[str, str, str, float]]:
    """Hours per rep per week of a solution: ``(group, activity, segment, hours)``.

    Own work (prospecting split by segment as the engine splits it, outbound, pursuing own
    outbound opportunities and the open deals the rep holds at the start) plus the rep's share of
    the lead queue (pro rata to hours), and the fixed flanking and account-planning hours
    (segment ``all``).
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
            yield g.name, "pursuing", s, pursue + g.deal_hours_in(s)
        for activity in ACTIVITIES:
            if activity in p.fixed_rep_hours:
                yield g.name, activity, "all", p.fixed_rep_hours[activity]
