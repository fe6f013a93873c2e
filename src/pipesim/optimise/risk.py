"""``optimise --objective max-p-target | cvar``: plans chosen on replications, checked on others.

1. Price outbound work as the closed loop does (:func:`pipesim.optimise.costs.outbound_cost`).
2. Simulate today and every pilot level of every lever on the same ``risk.replications`` seeds
   (common random numbers; one store of replications, never a scenario twice): the sample
   (:class:`pipesim.optimise.saa.Sample`). Fit the mean curves and measure the rep-hour loads as
   the LP does.
3. The max-margin plan: the LP on the mean curves with expected revenue at least the target
   (without that requirement when no plan reaches it on average), the plan ``optimise`` starts
   from. The risk plans: the MILP of :mod:`pipesim.optimise.saa` on the sample, under every
   constraint of the LP. Every plan is simulated on the sample's seeds; its gap to the separable
   estimate per replication (the levers' interactions) corrects the next MILP's sample, at most
   ``risk.iterations`` plans. Of these and the max-margin plan, the one whose simulation on the
   sample is best (P(target), then mean margin; ``cvar``: simulated CVaR) is kept.
4. Check both, and today, on ``risk.check_replications`` *other* seeds (replications after the
   sample's, same root seed: out of sample), paired with each other: P(target) with its Wilson
   interval, P10 with its order-statistic interval, mean gross margin and CVaR, and the paired
   differences. The in-sample P(target) the MILP counted is shown beside the out-of-sample one
   (a sample-average optimum is optimistic on its own sample).

The risk plan is written as ``plan.yaml`` (``pipesim run SCENARIO --plan plan.yaml``), the
max-margin plan as ``max_margin_plan.yaml``; ``plan.csv``, ``risk.json`` and ``risk.html``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipesim.optimise.constraints import build_model
from pipesim.optimise.costs import cost_overlay, outbound_cost
from pipesim.optimise.design import PilotDesign
from pipesim.optimise.explain import Binding, InfeasiblePlan, binding_constraints
from pipesim.optimise.levers import apply_overlay, levers_of
from pipesim.optimise.loop import judgement_curves, to_pilot
from pipesim.optimise.pilot import measure_load
from pipesim.optimise.plan import plan_overlay, plan_table, write_plan_csv, write_plan_yaml
from pipesim.optimise.problem import Problem, build_problem
from pipesim.optimise.saa import (
    RiskModel,
    Sample,
    build_risk_model,
    counted,
    cvar,
    prefer_margin,
)
from pipesim.optimise.sampling import Replications, scenario_key
from pipesim.optimise.settings import OptimiseSettings, check_references
from pipesim.optimise.solver import Solution, solve
from pipesim.optimise.text import money, pct
from pipesim.report.risk import write_risk_page
from pipesim.results.statistics import Z95, mean_interval, paired_difference, wilson_interval
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]


def quantile_interval(values: np.ndarray, q: float, z: float = Z95) -> tuple[float, float, float]:
    """Quantile ``q`` of ``values`` with a distribution-free (order-statistic) 95% interval.

    The ranks are the binomial ``n q -/+ z sqrt(n q (1 - q))`` (normal approximation), so the
    interval holds whatever the revenue's distribution.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    est = float(np.quantile(v, q))
    half = z * math.sqrt(n * q * (1 - q))
    lo = math.floor(n * q - half)
    hi = math.ceil(n * q + half)
    low = float(v[lo - 1]) if lo >= 1 else math.nan
    high = float(v[hi - 1]) if hi <= n else math.nan
    return (est, low, high)


@dataclass
class PlanCheck:
    """One plan simulated out of sample: its revenue and margin per replication, its figures."""

    label: str
    revenue: np.ndarray
    campaign_cost: float
    target: float
    gross_margin: float
    confidence: float
    alpha: float

    @property
    def reached(self) -> np.ndarray:
        """1 where the replication reached the target."""
        return (self.revenue >= self.target).astype(float)

    @property
    def margin(self) -> np.ndarray:
        """Gross margin after campaign cost, per replication."""
        return self.gross_margin * self.revenue - self.campaign_cost

    def p_target(self) -> tuple[float, float, float]:
        """P(target) with its Wilson 95% interval."""
        k, n = int(self.reached.sum()), self.revenue.size
        low, high = wilson_interval(k, n)
        return (k / n if n else math.nan, low, high)

    def p10(self) -> tuple[float, float, float]:
        """Revenue's 10th percentile with its 95% interval."""
        return quantile_interval(self.revenue, 0.1)

    def margin_interval(self) -> tuple[float, float, float]:
        """Mean gross margin (after campaign cost) with its 95% interval."""
        return mean_interval(self.margin)

    def cvar(self) -> float:
        """Mean gross margin of the worst ``alpha`` share of replications."""
        return cvar(self.margin, self.alpha)

    def resolution(self) -> str:
        """Whether the 95% interval of P(target) is on one side of the confidence."""
        _p, low, high = self.p_target()
        conf = pct(self.confidence, 0)
        if low >= self.confidence:
            return f"resolved: the 95% CI is at or above {conf}"
        if high < self.confidence:
            return f"resolved: the 95% CI is below {conf}"
        return (
            f"not resolved: the 95% CI contains {conf}, so the plan could reach it or fall short "
            "(more replications: optimise.risk.check_replications)"
        )

    def as_json(self) -> dict[str, Any]:
        """The figures, for ``risk.json``."""
        p, pl, ph = self.p_target()
        q, ql, qh = self.p10()
        mm, ml, mh = self.margin_interval()
        rm, rl, rh = mean_interval(self.revenue)
        return {
            "label": self.label,
            "replications": int(self.revenue.size),
            "p_target": {"estimate": p, "ci_low": pl, "ci_high": ph},
            "p10": {"estimate": q, "ci_low": _clean(ql), "ci_high": _clean(qh)},
            "revenue_mean": {"estimate": rm, "ci_low": _clean(rl), "ci_high": _clean(rh)},
            "margin_mean": {"estimate": mm, "ci_low": _clean(ml), "ci_high": _clean(mh)},
            "margin_cvar": self.cvar(),
            "campaign_cost": self.campaign_cost,
            "resolution": self.resolution(),
        }


def _clean(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass
class RiskPlan:
    """A solved plan, its overlay and its simulation on the sample's seeds (in sample).

    ``revenue`` is the plan simulated on the sample's seeds; ``estimate`` the separable
    estimate per replication the MILP works with (their gap is the levers' interactions).
    """

    label: str
    solution: Solution
    overlay: dict[str, Any]
    in_sample_p: float
    in_sample_margin: float
    in_sample_cvar: float
    note: str
    scenario: Scenario
    revenue: np.ndarray
    estimate: np.ndarray
    binding: list[Binding] = field(default_factory=list)

    @property
    def scenario_key(self) -> str:
        """What identifies the simulated plan."""
        return scenario_key(self.scenario)


@dataclass
class RiskResult:
    """Everything ``optimise --objective max-p-target | cvar`` reports."""

    scenario: Scenario
    settings: OptimiseSettings
    problem: Problem
    sample: Sample
    plan: RiskPlan
    max_margin: RiskPlan
    checks: dict[str, PlanCheck]
    binding: list[Binding]
    size: tuple[int, int, int]
    solve_s: float
    out: Path
    simulated: int = 0
    runtime_s: float = 0.0
    candidates: list[RiskPlan] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        """Whether the risk plan's out-of-sample P(target) reaches the confidence."""
        return self.checks["plan"].p_target()[0] >= self.settings.confidence

    def paired(self, metric: str) -> tuple[float, float, float]:
        """Risk plan minus max-margin plan on the same out-of-sample seeds, with a 95% CI."""
        a, b = self.checks["max_margin"], self.checks["plan"]
        x, y = {
            "p_target": (a.reached, b.reached),
            "margin": (a.margin, b.margin),
            "revenue": (a.revenue, b.revenue),
        }[metric]
        est, (low, high), _, _ = paired_difference(x, y)
        return est, low, high


def build_sample(
    scenario: Scenario, design: PilotDesign | None, store: Replications, n: int
) -> Sample:
    """Per-replication revenue changes at every pilot level, from the store (same seeds)."""
    base = store.revenue(scenario, n)
    levels: dict[str, tuple[float, ...]] = {}
    change: dict[str, Any] = {}
    if design is not None:
        by_key: dict[str, list[tuple[float, np.ndarray]]] = {}
        for pt in design.points:
            d = store.revenue(pt.scenario, n) - base
            by_key.setdefault(pt.lever.key, [(pt.lever.today, np.zeros(n))]).append((pt.level, d))
        for key, pts in by_key.items():
            pts.sort(key=lambda t: t[0])
            levels[key] = tuple(x for x, _ in pts)
            change[key] = np.vstack([d for _, d in pts])
    return Sample(base, levels, change)


def solve_risk(rm: RiskModel, settings: OptimiseSettings) -> Solution:
    """Solve the risk MILP (two stages for ``max-p-target``); binding = tight at the plan."""
    s = settings
    solution = solve(rm.model, s.solver, s.time_limit_s, s.mip_gap, tie=False)
    if rm.objective == "max-p-target":
        prefer_margin(rm, counted(rm))
        solution = solve(rm.model, s.solver, s.time_limit_s, s.mip_gap, tie=True)
    # shadow prices of a MILP's constraints are not prices of P(target): report what is tight
    solution.binding = binding_constraints(rm.model, {})
    return solution


def _max_margin(problem: Problem, settings: OptimiseSettings) -> tuple[Solution, str]:
    """The LP's max-margin plan at the target (or without it, when no plan reaches it)."""
    s = settings
    try:
        model = build_model(problem, "max-margin", problem.target_revenue)
        return solve(model, s.solver, s.time_limit_s, s.mip_gap), ""
    except InfeasiblePlan:
        model = build_model(problem, "max-margin", None)
        note = (
            "no plan reaches the target's expected revenue on the mean curves: the max-margin "
            "plan is the LP's without that requirement"
        )
        return solve(model, s.solver, s.time_limit_s, s.mip_gap), note


def optimise_risk(
    scenario_path: Path,
    overrides: tuple[str, ...] | list[str],
    settings: OptimiseSettings,
    out: Path,
    echo: Echo = print,
) -> RiskResult:
    """Choose the plan on the sample, check it out of sample beside the max-margin plan.

    Raises
    ------
    InfeasiblePlan
        When the constraints conflict (the message names them, as ``optimise`` does).
    """
    started = time.perf_counter()
    objective = settings.objective
    if objective not in ("max-p-target", "cvar"):
        raise ValueError(f"not a risk objective: {objective}")
    scenario = load_scenario(scenario_path, overrides)
    check_references(settings, scenario)
    if settings.target is not None:
        scenario = apply_overlay(scenario, {"target": {"revenue": settings.target}})
    outbound = outbound_cost(scenario, settings, scenario_path, overrides)
    assumed = cost_overlay(scenario, outbound)
    if assumed:
        scenario = apply_overlay(scenario, assumed)
    echo(
        f"an outbound opportunity costs {outbound.value:g} rep hours to find and open "
        f"({outbound.key}: {outbound.source})"
    )
    workers = settings.workers or os.cpu_count() or 1
    n = settings.risk.replications
    store = Replications(settings.seed, workers)
    levers = levers_of(scenario)
    piloted = to_pilot(levers, settings)
    every_level = settings.pilot.model_copy(
        update={"adaptive": False, "first_replications": n, "replications": n, "refinements": 0}
    )
    design = PilotDesign(scenario, piloted, every_level, store) if piloted else None
    points = len(design.points) if design is not None else 0
    echo(
        f"sample: today and {points} pilot levels, {n} replications each on the same seeds "
        f"(seed {settings.seed}, common random numbers)"
    )
    store.ensure([(scenario, n), *(design.wants() if design is not None else [])])
    sample = build_sample(scenario, design, store, n)
    base_revenue = float(sample.base.mean())
    judged = judgement_curves(levers, settings, base_revenue)
    echo(f"measuring rep-hour loads ({settings.pilot.load_replications} replications)")
    load = measure_load(scenario, settings.pilot.load_replications, settings.seed)
    curves = {**judged, **(design.curves() if design is not None else {})}
    lp_settings = settings.model_copy(update={"objective": "max-margin"})
    problem = build_problem(scenario, curves, load, lp_settings, base_revenue)
    mm_solution, mm_note = _max_margin(problem, settings)
    alpha = settings.risk.alpha
    target = problem.target_revenue
    gm = problem.gross_margin
    out.mkdir(parents=True, exist_ok=True)
    (out / "iterations").mkdir(exist_ok=True)
    head = _header(scenario, scenario_path, settings, out)

    def simulate(label: str, sol: Solution, file: Path) -> tuple[Scenario, dict[str, Any]]:
        """The plan's overlay, loaded back as ``--plan`` loads it, simulated on the sample."""
        data = plan_overlay(scenario, sol, settings.target, assumed)
        write_plan_yaml(file, data, [*head[:1], label, ""])
        planned = load_scenario(scenario_path, overrides, plan=file)
        store.ensure([(planned, n)])
        return planned, data

    def candidate(label: str, sol: Solution, file: Path, note: str = "") -> RiskPlan:
        planned, data = simulate(label, sol, file)
        rev = store.revenue(planned, n)
        estimate = sample.revenue(sol.effective_levels) + sum(
            c.value(sol.effective_levels.get(k, c.today))
            for k, c in problem.curves.items()
            if k not in sample.levels
        )
        return RiskPlan(
            label,
            sol,
            data,
            float(np.mean(rev >= target)),
            float(np.mean(gm * rev - sol.campaign_cost)),
            cvar(gm * rev - sol.campaign_cost, alpha),
            note,
            planned,
            rev,
            estimate,
        )

    mm = candidate("max-margin", mm_solution, out / "iterations" / "max_margin.yaml", mm_note)
    mm.binding = mm_solution.binding
    echo(f"max-margin plan on the sample: P(target) {pct(mm.in_sample_p)}")
    candidates = [mm]
    gap = mm.revenue - mm.estimate  # the levers' interactions at the max-margin plan
    size: tuple[int, int, int] = (0, 0, 0)
    solve_s = 0.0
    binding: list[Binding] = []
    for k in range(1, settings.risk.iterations + 1):
        corrected = Sample(sample.base + gap, sample.levels, sample.change)
        rm = build_risk_model(problem, corrected, objective, alpha=alpha)
        size = rm.size
        t0 = time.perf_counter()
        solution = solve_risk(rm, settings)
        solve_s += time.perf_counter() - t0
        if k == 1:
            echo(
                f"{objective}: MILP of {size[0]:,} variables ({size[2]:,} binary) and "
                f"{size[1]:,} constraints on {n} replications, solved in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            binding = solution.binding
        cand = candidate(f"{objective} {k}", solution, out / "iterations" / f"plan_{k}.yaml")
        echo(
            f"plan {k}: on the sample, estimated P(target) "
            f"{pct(float(np.mean(cand.estimate + gap >= target)))}, simulated "
            f"{pct(cand.in_sample_p)}"
        )
        if any(c.scenario_key == cand.scenario_key for c in candidates):
            break
        cand.binding = solution.binding
        candidates.append(cand)
        gap = cand.revenue - cand.estimate  # the levers' interactions at this plan
    if objective == "max-p-target":
        plan = max(candidates, key=lambda c: (c.in_sample_p, c.in_sample_margin))
    else:
        plan = max(candidates, key=lambda c: c.in_sample_cvar)
    if plan is mm:
        plan.note = (
            f"the max-margin plan simulates best on the sample: it is the {objective} plan too"
        )
    binding = plan.binding or binding
    write_plan_yaml(out / "plan.yaml", plan.overlay, head)
    write_plan_yaml(
        out / "max_margin_plan.yaml", mm.overlay, [*head[:1], "the max-margin plan compared"]
    )
    planned = load_scenario(scenario_path, overrides, plan=out / "plan.yaml")
    planned_mm = load_scenario(scenario_path, overrides, plan=out / "max_margin_plan.yaml")
    solution = plan.solution
    m = settings.risk.check_replications
    echo(f"out of sample: today and both plans on {m} other seeds (replications {n} on)")
    fresh = Replications(settings.seed, workers, first=n)
    fresh.ensure([(scenario, m), (planned, m), (planned_mm, m)])
    conf = settings.confidence

    def check(label: str, sc: Scenario, cost: float) -> PlanCheck:
        return PlanCheck(label, fresh.revenue(sc, m), cost, target, gm, conf, alpha)

    today_cost = sum(c.today * c.active_weeks for c in problem.campaigns.values())
    checks = {
        "today": check("today", scenario, today_cost),
        "plan": check(objective, planned, solution.campaign_cost),
        "max_margin": check("max-margin", planned_mm, mm_solution.campaign_cost),
    }
    result = RiskResult(
        scenario,
        settings,
        problem,
        sample,
        plan,
        mm,
        checks,
        binding,
        size,
        solve_s,
        out,
        simulated=store.simulated + fresh.simulated,
        candidates=candidates,
    )
    result.runtime_s = time.perf_counter() - started
    write_plan_csv(out / "plan.csv", plan_table(problem, solution))
    (out / "risk.json").write_text(
        json.dumps(risk_json(result), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    write_risk_page(out, risk_json(result), {k: c.revenue for k, c in checks.items()})
    return result


def _header(scenario: Scenario, path: Path, settings: OptimiseSettings, out: Path) -> list[str]:
    obj = settings.objective
    what = (
        "most replications reaching the target on the sample, then the most expected margin"
        if obj == "max-p-target"
        else f"the most CVaR of gross margin at alpha {settings.risk.alpha:g} on the sample"
    )
    return [
        f"pipesim optimiser plan for scenario '{scenario.name}' ({path})",
        f"objective {obj}: {what}; {settings.risk.replications} replications per level, seed "
        f"{settings.seed}; checked on {settings.risk.check_replications} other seeds (risk.json)",
        f"run it: pipesim run {path} --plan {out / 'plan.yaml'}",
        "",
    ]


def risk_json(result: RiskResult) -> dict[str, Any]:
    """The machine-readable summary (``risk.json``)."""
    p = result.problem

    def plan_json(rp: RiskPlan) -> dict[str, Any]:
        s = rp.solution
        return {
            "levels": s.levels,
            "curve_levels": s.effective_levels,
            "status": s.status,
            "solver": s.solver,
            "campaign_cost": s.campaign_cost,
            "lp_expected_revenue": s.revenue,
            "in_sample_p_target": rp.in_sample_p,
            "in_sample_margin_mean": rp.in_sample_margin,
            "in_sample_margin_cvar": rp.in_sample_cvar,
            "in_sample_estimated_p_target": float(np.mean(rp.estimate >= p.target_revenue)),
            "note": rp.note,
        }

    diffs = {}
    for metric in ("p_target", "margin", "revenue"):
        est, low, high = result.paired(metric)
        diffs[metric] = {"estimate": est, "ci_low": _clean(low), "ci_high": _clean(high)}
    return {
        "scenario": result.scenario.name,
        "objective": result.settings.objective,
        "alpha": result.settings.risk.alpha,
        "confidence": result.settings.confidence,
        "target": p.target_revenue,
        "currency": p.currency,
        "seed": result.settings.seed,
        "sample_replications": result.sample.replications,
        "check_replications": result.settings.risk.check_replications,
        "check_first_replication": result.sample.replications,
        "reached": result.reached,
        "plan": plan_json(result.plan),
        "max_margin": plan_json(result.max_margin),
        "candidates": [
            {"label": c.label, **plan_json(c), "chosen": c is result.plan}
            for c in result.candidates
        ],
        "checks": {k: c.as_json() for k, c in result.checks.items()},
        "paired_plan_minus_max_margin": diffs,
        "milp": {
            "variables": result.size[0],
            "constraints": result.size[1],
            "binaries": result.size[2],
            "solve_s": round(result.solve_s, 2),
        },
        "binding": [{"key": b.info.key, "text": b.info.text} for b in result.binding],
        "simulated_replications": result.simulated,
        "runtime_s": round(result.runtime_s, 1),
    }


def risk_text(result: RiskResult) -> list[str]:
    """The lines ``pipesim optimise`` prints for a risk objective."""
    cur = result.problem.currency
    t = result.problem.target_revenue
    lines = [
        f"{result.scenario.name}: plan ({result.settings.objective}"
        + (f", alpha {result.settings.risk.alpha:g}" if result.settings.objective == "cvar" else "")
        + f"; {result.plan.solution.solver}: {result.plan.solution.status})",
        f"out of sample ({result.settings.risk.check_replications:,} replications after the "
        f"sample's {result.sample.replications:,}, seed {result.settings.seed}):",
    ]
    for key in ("today", "plan", "max_margin"):
        c = result.checks[key]
        p, pl, ph = c.p_target()
        q, ql, qh = c.p10()
        mm, ml, mh = c.margin_interval()
        lines.append(
            f"  {c.label}: P(target {money(t, cur)}) = {pct(p)} (95% CI {pct(pl)}-{pct(ph)}); "
            f"P10 {money(q, cur)} (95% CI {money(ql, cur)} to {money(qh, cur)}); "
            f"expected margin {money(mm, cur)} (95% CI {money(ml, cur)} to {money(mh, cur)})"
        )
    lines.append(
        f"  on the sample's {result.sample.replications} replications (where the plan was "
        "chosen, so optimistic): "
        + "; ".join(
            f"{c.label}{' (kept)' if c is result.plan else ''} P(target) {pct(c.in_sample_p)}"
            for c in result.candidates
        )
    )
    if result.plan.note:
        lines.append(f"  note: {result.plan.note}")
    est, low, high = result.paired("p_target")
    lines.append(
        f"paired, {result.settings.objective} minus max-margin: P(target) {100 * est:+.1f} pp "
        f"(95% CI {100 * low:+.1f} to {100 * high:+.1f} pp)"
    )
    est, low, high = result.paired("margin")
    lines.append(
        f"  expected margin {money(est, cur)} (95% CI {money(low, cur)} to {money(high, cur)})"
    )
    for key, lever in result.problem.levers.items():
        new = result.plan.solution.levels.get(key, lever.today)
        old = result.max_margin.solution.levels.get(key, lever.today)
        if abs(new - lever.today) > 1e-9 or abs(old - lever.today) > 1e-9:
            lines.append(
                f"  {key}: today {lever.today:g}, {result.settings.objective} {new:.4g}, "
                f"max-margin {old:.4g} {lever.unit}"
            )
    if result.max_margin.note and result.max_margin is not result.plan:
        lines.append(f"  note: {result.max_margin.note}")
    for b in result.binding[:8]:
        lines.append(f"  binding (tight at the plan): {b.info.key}: {b.info.text}")
    c = result.checks["plan"]
    p = c.p_target()[0]
    conf = result.settings.confidence
    verdict = "reaches" if p >= conf else "falls short of"
    lines.append(
        f"the {result.settings.objective} plan {verdict} P(target) {pct(conf, 0)} out of sample "
        f"({pct(p)}); {c.resolution()}"
    )
    if p < conf:
        lines.append(
            "no plan within capacity and budget found on the sample reaches the confidence: "
            "what is tight at the plan is listed above (raise the budget with --budget, or the "
            "hours)"
        )
    return lines
