"""The closed loop: plan, simulate the plan, raise the revenue requirement until P(target) holds.

1. Simulate today's scenario (``loop.replications`` replications, root ``seed``).
   Outbound work is priced first (:func:`pipesim.optimise.costs.outbound_cost`): today's run,
   the pilots, the LP and every check use the same hours per outbound opportunity, and the plan
   overlay carries it.
2. Get response curves: judgmental where given, else pilot simulations paired with today's run
   (common random numbers); measure the rep-hour loads of each lead source.
3. Solve the LP with expected revenue at least the target.
4. Write the plan as an overlay, load it back exactly as ``pipesim run SCENARIO --plan`` does and
   simulate it with the same seed as today's run.
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

from pipesim.optimise.constraints import build_model
from pipesim.optimise.costs import cost_overlay, lever_costs, outbound_cost
from pipesim.optimise.curves import ResponseCurve, judgement_curve
from pipesim.optimise.explain import InfeasiblePlan
from pipesim.optimise.levers import apply_overlay, levers_of
from pipesim.optimise.pilot import measure_load, pilot_curves
from pipesim.optimise.plan import (
    plan_overlay,
    plan_table,
    quota_schedule,
    write_plan_csv,
    write_plan_yaml,
    write_quota_csv,
)
from pipesim.optimise.problem import build_problem
from pipesim.optimise.report import write_report
from pipesim.optimise.result import Attempt, Check, OptimiseResult
from pipesim.optimise.settings import OptimiseSettings, check_references
from pipesim.optimise.solver import evaluate, solve
from pipesim.optimise.text import interval, money, number
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]


def _check(label: str, scenario: Scenario, settings: OptimiseSettings, workers: int) -> Check:
    res = run(scenario, settings.loop.replications, settings.seed, workers)
    table = res.table
    return Check(
        label,
        res.summary,
        table["revenue"].to_numpy(dtype=float),
        float(table["new_opportunities_per_rep_week"].mean()),
    )


def get_curves(
    scenario: Scenario,
    settings: OptimiseSettings,
    base: pd.DataFrame,
    base_revenue: float,
    workers: int,
    echo: Echo,
) -> dict[str, ResponseCurve]:
    """Response curves for every lever that gets one.

    Judgmental curves where the settings give them (unless ``curves: pilot``); pilot simulations
    for the rest (unless ``curves: judgement``, which leaves them at today's value).
    """
    levers = levers_of(scenario)
    curves: dict[str, ResponseCurve] = {}
    if settings.curves != "pilot":
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
                base_revenue=base_revenue if spec.relative else None,
                opportunities=spec.opportunities,
            )
    to_pilot = [] if settings.curves == "judgement" else [v for v in levers if v.key not in curves]
    if to_pilot:
        n = settings.pilot.replications
        echo(f"pilot simulations: {len(to_pilot)} levers, {n} replications per point")
        if len(base) < n:  # today's check run is shorter than a pilot point: run today again
            base = run(scenario, n, settings.seed, workers).table
        curves.update(
            pilot_curves(scenario, to_pilot, base, settings.pilot, settings.seed, workers, echo)
        )
    return curves


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
    n_check = settings.loop.replications
    echo(f"today: simulating {scenario.name} ({n_check} replications, seed {settings.seed})")
    today_run = run(scenario, n_check, settings.seed, workers)
    before = Check(
        "today",
        today_run.summary,
        today_run.table["revenue"].to_numpy(dtype=float),
        float(today_run.table["new_opportunities_per_rep_week"].mean()),
    )
    echo(f"today: P(target) = {interval(before.summary['p_target'])}")
    base_revenue = float(before.summary["revenue"]["mean"])
    curves = get_curves(scenario, settings, today_run.table, base_revenue, workers, echo)
    echo(f"measuring rep-hour loads ({settings.pilot.load_replications} replications)")
    load = measure_load(scenario, settings.pilot.load_replications, settings.seed)
    problem = build_problem(scenario, curves, load, settings, base_revenue)
    today = evaluate(problem)
    result = OptimiseResult(
        scenario,
        settings,
        problem,
        curves,
        load,
        before,
        today,
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
    for k in range(1, settings.loop.max_iterations + 1):
        model = build_model(problem, required_revenue=required)
        try:
            solution = solve(model, settings.solver, settings.time_limit_s, settings.mip_gap)
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
        check = _check(f"plan {k}", planned, settings, workers)
        attempt = Attempt(k, required, solution, data, check, plan_file)
        result.attempts.append(attempt)
        echo(
            f"plan {k}: LP expected revenue {money(solution.revenue, problem.currency)} "
            f"(required {money(required, problem.currency)}); simulated P(target) = "
            f"{interval(check.summary['p_target'])}"
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
    header = [
        f"pipesim optimiser plan for scenario '{result.scenario.name}' ({scenario_path})",
        f"objective {result.settings.objective}; solver {final.solution.solver}: "
        f"{final.solution.status}; response curves: {result.curve_source}",
        f"expected revenue (LP) {money(final.solution.revenue, cur)}, required "
        f"{money(final.required_revenue, cur)}",
        f"P(target {money(p.target_revenue, cur)}): before {interval(before)}, "
        f"after {interval(after)} ({result.settings.loop.replications} replications, "
        f"seed {result.settings.seed})",
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
            f"gain over today {money(split.total, cur)} ({split.relative:+.1%}, simulated): "
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
