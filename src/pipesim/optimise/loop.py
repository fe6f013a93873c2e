"""The closed loop: plan, simulate the plan, raise the revenue requirement until P(target) holds.

Every simulation shares one root ``seed`` and one store of replications
(:class:`pipesim.optimise.sampling.Replications`): replication ``i`` of today's run, of every
pilot point and of every plan meets the same buyers (common random numbers), and no scenario is
simulated twice.

1. Simulate today's scenario (``loop.today_replications`` replications, root ``seed``) together
   with the first round of the pilot points (one process pool). Outbound work is priced first
   (:func:`pipesim.optimise.costs.outbound_cost`): today's run, the pilots, the LP and every
   check use the same hours per outbound opportunity, and the plan overlay carries it.
2. Get response curves: judgmental where given, else pilot simulations paired with today's run,
   which is the today level of every curve; measure the rep-hour loads of each lead source. The
   pilots are placed where the plan needs them (:class:`pipesim.optimise.design.PilotDesign`):
   the LP is solved on the curves measured so far, and further levels and finer pieces are
   simulated where its plan sits, then the LP solved again (at most ``pilot.refinements``).
3. Solve the LP with expected revenue at least the target.
4. Write the plan as an overlay, load it back exactly as ``pipesim run SCENARIO --plan`` does and
   check it by simulation with the same seeds as today's run: ``loop.first_replications`` first
   (or all simulated of it already, up to the limit: a plan equal to today, a pilot point or an
   earlier plan reuses its replications), doubling until the
   95% interval of P(target) lies at or above the confidence or below it, at most
   ``loop.replications``; the check says whether it was resolved.
5. If P(target) is below the confidence, raise the LP's required expected revenue by the
   simulated shortfall at that confidence (the target minus the plan's revenue quantile at
   ``1 - confidence``) and go to 3, at most ``loop.max_iterations`` times. If the LP cannot reach
   the raised requirement, the best plan found is kept and the binding constraints reported.
   With ``min-cost``, a plan that clears the confidence by more than 1% of the target is followed
   by one with the requirement lowered by the surplus (a cheaper plan may still reach it); the
   requirement stays between the highest that fell short and the lowest that worked, and the
   cheapest plan that reached the confidence is kept. With ``max-margin``, the first plan that
   reaches it is kept (raising the requirement only lowers the margin).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipesim._version import __version__
from pipesim.optimise.constraints import build_model
from pipesim.optimise.costs import cost_overlay, lever_costs, outbound_cost
from pipesim.optimise.curves import ResponseCurve, judgement_curve
from pipesim.optimise.design import PilotDesign, first_round
from pipesim.optimise.explain import InfeasiblePlan
from pipesim.optimise.levers import Lever, apply_overlay, levers_of
from pipesim.optimise.pilot import LoadProfile, measure_load
from pipesim.optimise.plan import (
    plan_overlay,
    plan_table,
    quota_schedule,
    write_plan_csv,
    write_plan_yaml,
    write_quota_csv,
)
from pipesim.optimise.problem import Problem, build_problem
from pipesim.optimise.report import write_report
from pipesim.optimise.result import Attempt, Check, OptimiseResult
from pipesim.optimise.sampling import Replications
from pipesim.optimise.settings import OptimiseSettings, check_references
from pipesim.optimise.solver import Solution, evaluate, solve
from pipesim.optimise.text import interval, interval_of, money, number
from pipesim.results.statistics import summarise
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]


def _check(
    label: str,
    scenario: Scenario,
    table: pd.DataFrame,
    seed: int,
    confidence: float | None = None,
    limit: int | None = None,
) -> Check:
    """A :class:`Check` of ``scenario`` from its replications ``table``."""
    summary = summarise(scenario, table, seed=seed, runtime_s=0.0, version=__version__)
    return Check(
        label,
        summary,
        table["revenue"].to_numpy(dtype=float),
        float(table["new_opportunities_per_rep_week"].mean()),
        confidence,
        limit,
    )


def check_plan(
    label: str, scenario: Scenario, settings: OptimiseSettings, store: Replications
) -> Check:
    """Simulate a plan until its P(target) is resolved against the confidence, or the limit.

    Starts from ``loop.first_replications`` (or the replications of this plan already simulated,
    up to the limit), then doubles, continuing the same seeds, while the 95% interval of
    P(target) contains the confidence and the limit ``loop.replications`` is not reached.
    """
    limit = settings.loop.replications
    n = min(max(settings.loop.first_replications, store.count(scenario)), limit)
    while True:
        store.ensure([(scenario, n)])
        check = _check(
            label, scenario, store.table(scenario, n), settings.seed, settings.confidence, limit
        )
        if check.resolved or n >= limit:
            return check
        n = min(2 * n, limit)


def today_replications(settings: OptimiseSettings, piloted: bool) -> int:
    """Replications of today's run.

    ``loop.today_replications``, at most ``loop.replications``, at least ``pilot.replications``
    when pilot curves pair with it.
    """
    n = min(settings.loop.today_replications, settings.loop.replications)
    return max(n, settings.pilot.replications) if piloted else n


def judgement_curves(
    levers: list[Lever], settings: OptimiseSettings, base_revenue: float | None
) -> dict[str, ResponseCurve]:
    """The judgmental curves the settings give (none with ``curves: pilot``).

    ``base_revenue`` is today's simulated mean revenue (for ``relative`` curves); with None, the
    curves are only named (their values are not used).
    """
    curves: dict[str, ResponseCurve] = {}
    if settings.curves == "pilot":
        return curves
    for lever in levers:
        spec = settings.judgement.get(lever.key)
        if spec is None:
            continue
        curves[lever.key] = judgement_curve(
            lever.key,
            lever.unit,
            lever.today,
            spec.revenue,
            levels=spec.levels,
            multiples=spec.multiples,
            saturation=spec.saturation,
            base_revenue=(base_revenue or 1.0) if spec.relative else None,
            opportunities=spec.opportunities,
        )
    return curves


def to_pilot(levers: list[Lever], settings: OptimiseSettings) -> list[Lever]:
    """The levers whose curves come from pilot simulations."""
    if settings.curves == "judgement":
        return []
    judged = judgement_curves(levers, settings, None)
    return [v for v in levers if v.key not in judged]


class _Placer:
    """Solves the LP, first letting the pilots measure where the plan needs them.

    After each solve, :meth:`PilotDesign.follow` may ask for a further level (the plan sits at
    the end of a curve measured so far) or finer pieces (those the plan sits on); they are
    simulated and the LP solved again, at most ``pilot.refinements`` times in all. When no plan
    is feasible, the design's levels not simulated yet are simulated first (once).
    """

    def __init__(
        self,
        scenario: Scenario,
        settings: OptimiseSettings,
        design: PilotDesign | None,
        judged: dict[str, ResponseCurve],
        load: LoadProfile,
        base_revenue: float,
        echo: Echo,
    ) -> None:
        self.scenario, self.settings, self.design = scenario, settings, design
        self.judged, self.load, self.base_revenue, self.echo = judged, load, base_revenue, echo
        self.left = settings.pilot.refinements
        self.curves: dict[str, ResponseCurve] = {}
        self.problem = self.rebuild()

    def rebuild(self) -> Problem:
        """Fit the curves to what the pilots measured and build the LP's problem again."""
        pilot = self.design.curves() if self.design is not None else {}
        self.curves = {**self.judged, **pilot}
        self.problem = build_problem(
            self.scenario, self.curves, self.load, self.settings, self.base_revenue
        )
        return self.problem

    def solve(self, required: float) -> Solution:
        """The LP's plan for ``required`` expected revenue, on curves measured where it sits."""
        s = self.settings
        while True:
            model = build_model(self.problem, required_revenue=required)
            try:
                solution = solve(model, s.solver, s.time_limit_s, s.mip_gap)
            except InfeasiblePlan:
                if self.design is None or not self.design.complete():
                    raise
                self.echo("no plan on the curves measured so far: simulating their other levels")
                self.design.measure(self.echo)
                self.rebuild()
                continue
            if self.design is None or self.left <= 0:
                return solution
            levels = {
                key: solution.effective_levels.get(key, solution.levels.get(key, lever.today))
                for key, lever in self.problem.levers.items()
            }
            if not self.design.follow(levels):
                return solution
            self.left -= 1
            self.design.measure(self.echo)
            self.rebuild()


def optimise(
    scenario_path: Path,
    overrides: tuple[str, ...] | list[str],
    settings: OptimiseSettings,
    out: Path,
    echo: Echo = print,
) -> OptimiseResult:
    """Run the closed loop and write ``plan.yaml``, ``plan.csv``, ``optimise.json`` and the report.

    Raises
    ------
    InfeasiblePlan
        When not even the first LP (expected revenue at least the target) has a solution. When a
        later, raised requirement has none, the loop stops and the result says so instead.
    """
    started = time.perf_counter()
    scenario = load_scenario(scenario_path, overrides)
    check_references(settings, scenario)
    if settings.target is not None:
        scenario = apply_overlay(scenario, {"target": {"revenue": settings.target}})
    outbound = outbound_cost(scenario, settings, scenario_path, overrides)
    assumed = cost_overlay(scenario, outbound)
    if assumed:  # the plan, today's run and the pilots all price outbound work alike
        scenario = apply_overlay(scenario, assumed)
    echo(
        f"an outbound opportunity costs {number(outbound.value)} rep hours to find and open "
        f"({outbound.key}: {outbound.source})"
    )
    workers = settings.workers or os.cpu_count() or 1
    store = Replications(settings.seed, workers)
    levers = levers_of(scenario)
    piloted = to_pilot(levers, settings)
    design = PilotDesign(scenario, piloted, settings.pilot, store) if piloted else None
    n_today = today_replications(settings, design is not None)
    first = first_round(settings.pilot)
    echo(
        f"today: simulating {scenario.name} ({n_today} replications, seed {settings.seed})"
        + (
            f", with the first round of {design.simulated_points} of {len(design.points)} pilot "
            f"points ({first} replications each, the same seeds)"
            if design is not None
            else ""
        )
    )
    store.ensure([(scenario, n_today), *(design.wants() if design is not None else [])])
    before = _check("today", scenario, store.table(scenario, n_today), settings.seed)
    echo(f"today: P(target) = {interval(before.summary['p_target'])}")
    base_revenue = float(before.summary["revenue"]["mean"])
    judged = judgement_curves(levers, settings, base_revenue)
    echo(f"measuring rep-hour loads ({settings.pilot.load_replications} replications)")
    load = measure_load(scenario, settings.pilot.load_replications, settings.seed)
    if design is not None:
        echo(
            f"pilot simulations: {len({lv.key for lv in piloted})} levers, "
            f"{first}-{settings.pilot.replications} replications per point, placed where the "
            "plan sits"
        )
    placer = _Placer(scenario, settings, design, judged, load, base_revenue, echo)
    # where the first plan sits (on the first round's curves) decides what the pilots measure
    placer.solve(placer.problem.target_revenue)
    if design is not None:
        design.measure(echo)  # the pieces' aims also where no plan moved the pilots
        placer.rebuild()
        design.curves(echo)
        echo(
            f"pilot simulations: {design.simulated_points} of {len(design.points)} points, "
            f"{store.simulated - n_today} replications"
        )
    problem = placer.problem
    result = OptimiseResult(
        scenario,
        settings,
        problem,
        placer.curves,
        load,
        before,
        evaluate(problem),
        out=out,
        outbound_cost=outbound,
        costs=lever_costs(scenario, outbound, load, scenario_path, overrides),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "iterations").mkdir(exist_ok=True)
    target = problem.target_revenue
    required = target
    z = settings.confidence
    too_low: float | None = None  # largest requirement whose plan fell short
    enough: float | None = None  # smallest requirement whose plan reached the confidence
    used: dict[int, tuple[Problem, dict[str, ResponseCurve]]] = {}
    for k in range(1, settings.loop.max_iterations + 1):
        try:
            solution = placer.solve(required)
        except InfeasiblePlan as exc:
            if not result.attempts:
                raise
            result.infeasible = exc
            echo(
                f"plan {k}: no plan reaches an expected revenue of "
                f"{money(required, problem.currency)}"
            )
            break
        data = plan_overlay(scenario, solution, settings.target, assumed)
        plan_file = out / "iterations" / f"plan_{k}.yaml"
        write_plan_yaml(plan_file, data, [f"plan {k} of the optimiser's closed loop"])
        planned = load_scenario(scenario_path, overrides, plan=plan_file)
        check = check_plan(f"plan {k}", planned, settings, store)
        attempt = Attempt(k, required, solution, data, check, plan_file)
        result.attempts.append(attempt)
        used[k] = (placer.problem, placer.curves)
        echo(
            f"plan {k}: LP expected revenue {money(solution.revenue, problem.currency)} "
            f"(required {money(required, problem.currency)}); simulated P(target) = "
            f"{interval(check.summary['p_target'])}, {check.resolution()}"
        )
        # how far the plan's revenue quantile at 1 - confidence is from the target
        edge = check.quantile(1.0 - z) - target
        if check.p >= z:
            enough = required if enough is None else min(enough, required)
            if settings.objective != "min-cost" or edge < 0.01 * target:
                break  # max-margin: the first plan that works has the most margin
            proposal = required - edge  # min-cost: a cheaper plan may still reach it
        else:
            too_low = required if too_low is None else max(too_low, required)
            proposal = max(required, solution.revenue) + max(-edge, 0.01 * target)
        if too_low is not None and enough is not None:
            if enough - too_low < 0.01 * target:
                break
            width = enough - too_low
            proposal = min(max(proposal, too_low + 0.25 * width), enough - 0.25 * width)
        required = max(proposal, 0.5 * target)
    reached = [a for a in result.attempts if a.check.p >= z]
    if reached:
        result.reached = True
        if settings.objective == "min-cost":
            result.final = min(reached, key=lambda a: a.solution.objective_value)
        else:
            result.final = max(reached, key=lambda a: a.solution.margin)
    elif result.attempts:
        result.final = max(result.attempts, key=lambda a: (a.check.p, a.solution.margin))
    if result.final is not None and used[result.final.index][0] is not result.problem:
        # the pilots measured more after the first plan: report the final plan's own curves
        result.problem, result.curves = used[result.final.index]
        result.today = evaluate(result.problem)
    result.runtime_s = time.perf_counter() - started
    write_outputs(result, scenario_path)
    return result


def write_outputs(result: OptimiseResult, scenario_path: Path) -> None:
    """``plan.yaml``, ``plan.csv``, ``curves.csv``, ``optimise.json`` and ``optimise.html``."""
    out = result.out
    assert out is not None and result.final is not None
    final = result.final
    p = result.problem
    cur = p.currency
    after = final.check.summary["p_target"]
    before = result.before.summary["p_target"]
    b_n = result.before.replications
    header = [
        f"pipesim optimiser plan for scenario '{result.scenario.name}' ({scenario_path})",
        f"objective {result.settings.objective}; solver {final.solution.solver}: "
        f"{final.solution.status}; response curves: {result.curve_source}",
        f"expected revenue (LP) {money(final.solution.revenue, cur)}, required "
        f"{money(final.required_revenue, cur)}",
        f"P(target {money(p.target_revenue, cur)}): before {interval_of(before, b_n)}, "
        f"after {interval_of(after, final.check.replications)}, seed {result.settings.seed}; "
        f"the plan's check: {final.check.resolution()}",
        f"run it: pipesim run {scenario_path} --plan {out / 'plan.yaml'}",
        "per-rep hours and quotas: plan.csv, week by week quotas.csv (the scenario carries "
        "the team averages)",
    ]
    if result.outbound_cost is not None:
        oc = result.outbound_cost
        header.append(
            f"assumes {number(oc.value)} rep hours per outbound opportunity ({oc.key}: {oc.source})"
        )
    split = result.gain()
    warning = result.warning()
    if split is not None:
        header.append(
            f"gain over today {split.total_text()}, {split.relative:+.1%} (simulated): "
            + ", ".join(f"{fam} {money(g, cur)}" for fam, g, _ in split.families() if abs(g) > 0.5)
            + f", interactions {money(split.residual, cur)}"
        )
    if warning is not None:
        header.extend(warning.splitlines())
    header.append("")
    write_plan_yaml(out / "plan.yaml", final.overlay, header)
    table = plan_table(p, final.solution)
    write_plan_csv(out / "plan.csv", table)
    write_plan_csv(out / "today.csv", plan_table(p, result.today))
    write_quota_csv(out / "quotas.csv", quota_schedule(p, final.solution))
    rows = []
    for key, c in result.curves.items():
        for x, y in zip(c.levels, c.revenue, strict=True):
            rows.append({"lever": key, "kind": "curve", "level": x, "revenue_change": y, "se": 0.0})
        for x, y, se in c.points:
            rows.append({"lever": key, "kind": "point", "level": x, "revenue_change": y, "se": se})
    pd.DataFrame(rows).to_csv(out / "curves.csv", index=False, lineterminator="\n")
    (out / "optimise.json").write_text(
        json.dumps(summary_json(result), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    write_report(result, scenario_path)


def _clean(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _check_json(check: Check) -> dict[str, Any]:
    mean, low, high = check.revenue_interval()
    return {
        "replications": check.replications,
        "revenue_mean": {"estimate": mean, "ci_low": _clean(low), "ci_high": _clean(high)},
        "confidence": check.confidence,
        "limit": check.limit,
        "resolved": check.resolved if check.confidence is not None else None,
        "text": check.resolution(),
    }


def summary_json(result: OptimiseResult) -> dict[str, Any]:
    """The machine-readable summary (``optimise.json``)."""
    final = result.final
    assert final is not None
    s = final.solution
    p = result.problem
    split = result.gain()
    reps = []
    for g in p.groups:
        for name in g.reps:
            reps.append(
                {
                    "name": name,
                    "group": g.name,
                    "skill": g.skill,
                    "productivity": g.ramp,
                    "selling_hours": g.hours,
                    "quota": s.quota[g.name],
                    "outbound": sum(s.outbound[g.name, x] for x in p.segments),
                }
            )
    return {
        "scenario": result.scenario.name,
        "objective": result.settings.objective,
        "confidence": result.settings.confidence,
        "target": result.problem.target_revenue,
        "reached": result.reached,
        "curves": {k: {"source": c.source, "note": c.note} for k, c in result.curves.items()},
        "p_target_before": result.before.summary["p_target"],
        "p_target_after": final.check.summary["p_target"],
        "revenue_before": result.before.summary["revenue"],
        "revenue_after": final.check.summary["revenue"],
        "checks": {
            "before": _check_json(result.before),
            "after": _check_json(final.check),
        },
        "new_opportunities_per_rep_week": {
            "before": result.before.new_opportunities,
            "after": final.check.new_opportunities,
        },
        "plan": {
            "levels": s.levels,
            "curve_levels": s.effective_levels,
            "quota": s.quota,
            "status": s.status,
            "mip_gap": _clean(s.mip_gap) if s.mip_gap is not None else None,
            "solver": s.solver,
            "variables": s.size[0],
            "constraints": s.size[1],
            "expected_revenue": s.revenue,
            "required_revenue": final.required_revenue,
            "expected_gross_margin": s.margin,
            "campaign_cost": s.campaign_cost,
            "binding": [
                {
                    "key": b.info.key,
                    "name": b.info.name,
                    "text": b.info.text,
                    "shadow_price": b.shadow_price,
                    "per": b.info.relax,
                }
                for b in s.binding
            ],
        },
        "iterations": [
            {
                "plan": a.index,
                "required_revenue": a.required_revenue,
                "expected_revenue": a.solution.revenue,
                "p_target": a.check.summary["p_target"],
                "revenue_mean": a.check.summary["revenue"]["mean"],
                "replications": a.check.replications,
                "resolved": a.check.resolved,
            }
            for a in result.attempts
        ],
        "reps": reps,
        "gain": None if split is None else split.as_json(),
        "plausible_gain": result.settings.plausible_gain,
        "warning": result.warning(),
        "lever_costs": [c.as_json() for c in result.costs],
        "unreachable": None if result.infeasible is None else result.infeasible.message,
        "runtime_s": round(result.runtime_s, 1),
    }
