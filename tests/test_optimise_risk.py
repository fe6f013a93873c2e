"""Risk-aware plans: the SAA MILP against brute force, and ``optimise --objective max-p-target``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from pipesim.cli.main import main as cli
from pipesim.optimise.constraints import build_model
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.levers import Lever
from pipesim.optimise.problem import CampaignInput, LeadCosts, Problem, RepGroup
from pipesim.optimise.risk import quantile_interval
from pipesim.optimise.saa import Sample, build_risk_model, counted, cvar, prefer_margin
from pipesim.optimise.solver import solve
from pipesim.results.statistics import paired_difference

SEGMENTS = ("S1",)
RISKY, SAFE = "campaigns.risky.budget_per_week", "campaigns.safe.budget_per_week"
TARGET = 25_000.0


def two_campaigns(sample: Sample, budget: float = 100.0, weeks: float = 10.0) -> Problem:
    """Two campaigns from 0 to 100 per week, one budget for both; curves = the sample's means."""
    free = LeadCosts(0.0, {"S1": 0.0}, {"S1": 0.0})
    levers: dict[str, Lever] = {}
    campaigns = {}
    curves = {}
    for key in (RISKY, SAFE):
        name = key.split(".")[1]
        levers[key] = Lever(key, "campaign", name, "EUR per week", 0.0)
        campaigns[name] = CampaignInput(name, 0.0, 100.0, weeks, {"S1": 1.0}, free)
        mean = sample.change[key].mean(axis=1)
        curves[key] = ResponseCurve(
            key, "EUR per week", sample.levels[key], tuple(mean), 0.0, "pilot"
        )
    levers["leads.prospecting.hours_per_week"] = Lever(
        "leads.prospecting.hours_per_week", "prospecting", "", "hours per rep per week", 0.0
    )
    key = "leads.outbound.opportunities_per_rep_week[S1]"
    levers[key] = Lever(key, "outbound", "S1", "opportunities per rep per week", 0.0)
    return Problem(
        segments=SEGMENTS,
        groups=(RepGroup("team", ("a", "b"), 1e6),),
        levers=levers,
        curves=curves,
        campaigns=campaigns,
        horizon_weeks=weeks,
        gross_margin=1.0,
        base_revenue=float(sample.base.mean()),
        target_revenue=TARGET,
        prospecting_costs=free,
        prospecting_split={"S1": 1.0},
        budget_total=(None, budget),
    )


def risky_and_safe(n: int, seed: int) -> Sample:
    """A high-mean high-variance campaign against a safe one (same budget buys either)."""
    rng = np.random.default_rng(seed)
    base = 20_000 + 1_000 * rng.standard_normal(n)
    risky = 10_000 + 8_000 * rng.standard_normal(n)  # mean +10k, sd 8k at full budget
    safe = 6_000 + 500 * rng.standard_normal(n)  # mean +6k, sd 0.5k
    levels = (0.0, 100.0)
    return Sample(
        base,
        {RISKY: levels, SAFE: levels},
        {RISKY: np.vstack([np.zeros(n), risky]), SAFE: np.vstack([np.zeros(n), safe])},
    )


def grid(sample: Sample, score) -> tuple[float, float]:
    """Brute force over budget splits (risky x, safe 100 - x; every plan spends it all here)."""
    best = (-np.inf, 0.0)
    for x in np.linspace(0.0, 100.0, 401):
        value = score(sample.revenue({RISKY: x, SAFE: 100.0 - x}))
        best = max(best, (value, x))
    return best


def test_max_p_target_prefers_the_safe_lever_where_max_margin_takes_the_risky_one():
    sample = risky_and_safe(200, seed=1)
    p = two_campaigns(sample)
    mm = solve(build_model(p, "max-margin", None))
    assert mm.levels[RISKY] == pytest.approx(100.0) and mm.levels[SAFE] == pytest.approx(0.0)
    rm = build_risk_model(p, sample, "max-p-target")
    first = solve(rm.model, tie=False)
    best = counted(rm)
    prefer_margin(rm, best)
    plan = solve(rm.model, tie=False)
    assert plan.levels[SAFE] > plan.levels[RISKY]
    # the count is the brute-force optimum over every split of the budget (to the grid's step)
    brute, _ = grid(sample, lambda r: int((r >= TARGET).sum()))
    assert best >= brute
    # and what the model counts is what the plan's revenue does on the sample
    revenue = sample.revenue(plan.effective_levels)
    assert int((revenue >= TARGET).sum()) == counted(rm) >= best
    assert first.status == "optimal"
    # out of sample (fresh draws): the max-p-target plan is more likely to reach the target
    fresh = risky_and_safe(4000, seed=2)
    hit_plan = (fresh.revenue(plan.effective_levels) >= TARGET).astype(float)
    hit_mm = (fresh.revenue(mm.effective_levels) >= TARGET).astype(float)
    est, (low, _), _, _ = paired_difference(hit_mm, hit_plan)
    assert est > 0 and low > 0


def test_cvar_matches_brute_force_and_is_the_mean_at_alpha_one():
    sample = risky_and_safe(150, seed=3)
    p = two_campaigns(sample)
    cost = 10.0 * 100.0  # the whole budget, 10 active weeks, in every plan of the grid
    for alpha in (0.1, 0.3):
        rm = build_risk_model(p, sample, "cvar", alpha=alpha)
        plan = solve(rm.model, tie=False)
        value = cvar(sample.revenue(plan.effective_levels) - plan.campaign_cost, alpha)
        brute, x = grid(sample, lambda r, a=alpha: cvar(r - cost, a))
        assert value >= brute - 1e-6 * abs(brute)
        assert plan.levels[SAFE] > 50.0 and x < 50.0
    rm = build_risk_model(p, sample, "cvar", alpha=1.0)
    plan = solve(rm.model, tie=False)
    assert plan.levels[RISKY] == pytest.approx(100.0)  # the mean: max-margin's choice


def test_pieces_between_levels_follow_each_replication_not_the_mean():
    # one lever, three levels; per replication the middle level is best for some, worst for
    # others: without the piece binaries the weights could mix non-neighbouring levels
    n = 60
    rng = np.random.default_rng(5)
    mid = np.where(np.arange(n) % 2 == 0, 9_000.0, -3_000.0) + 100 * rng.standard_normal(n)
    top = 4_000 + 100 * rng.standard_normal(n)
    sample = Sample(
        np.full(n, 20_000.0),
        {RISKY: (0.0, 50.0, 100.0), SAFE: (0.0, 100.0)},
        {
            RISKY: np.vstack([np.zeros(n), mid, top]),
            SAFE: np.vstack([np.zeros(n), np.full(n, -1.0)]),
        },
    )
    mean = sample.change[RISKY].mean(axis=1)
    p = two_campaigns(sample)
    curves = dict(p.curves)
    # a concave mean curve through the same levels (the LP's), so both models share a domain
    curves[RISKY] = ResponseCurve(
        RISKY, "EUR per week", (0.0, 50.0, 100.0), (0.0, max(mean[1], mean[2]), mean[2]), 0.0,
        "pilot",
    )  # fmt: skip
    p = replace(p, curves=curves)
    for target in (24_000.0, 28_000.0):
        rm = build_risk_model(p, sample, "max-p-target", target=target)
        solve(rm.model, tie=False)
        plan_levels = {k: v.value() for k, v in rm.model.level.items()}
        revenue = sample.revenue(plan_levels)
        expr = np.array([e.value() for e in rm.revenue])
        assert expr == pytest.approx(revenue, abs=1e-3)
        brute = max(
            int((sample.revenue({RISKY: x, SAFE: 0.0}) >= target).sum())
            for x in np.linspace(0, 100, 201)
        )
        assert counted(rm) == brute


def test_quantile_interval_covers_the_true_quantile():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        est, low, high = quantile_interval(rng.standard_normal(400), 0.1)
        covered += low <= -1.2815515655446004 <= high
        assert low <= est <= high
    assert 0.9 <= covered / 200 <= 0.99


SMALL = {
    "optimise": {
        "pilot": {
            "campaign_multiples": [0.0, 2.0],
            "prospecting_multiples": [0.0, 2.0],
            "outbound_levels": [0.4],
            "load_replications": 2,
        },
        "risk": {"iterations": 2},
    }
}


def test_max_p_target_on_baseline_checks_out_of_sample_beside_max_margin(tmp_path: Path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump(SMALL), encoding="utf-8")
    out = tmp_path / "plan"
    args = ["optimise", "scenarios/baseline.yaml", "--objective", "max-p-target", "--settings",
            str(settings), "--sample-replications", "30", "--check-replications", "120",
            "--workers", "1", "--out", str(out), "--quiet"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "risk.json").read_text())
    assert data["check_first_replication"] == 30
    plan, mm = data["checks"]["plan"], data["checks"]["max_margin"]
    # acceptance: at the same budget and hours, not worse than the max-margin plan (paired CI)
    diff = data["paired_plan_minus_max_margin"]["p_target"]
    assert diff["estimate"] >= 0 or diff["ci_high"] >= 0
    assert plan["p_target"]["estimate"] >= mm["p_target"]["estimate"] - 1e-12 or (
        diff["ci_low"] <= 0 <= diff["ci_high"]
    )
    kept = [c for c in data["candidates"] if c["chosen"]]
    assert len(kept) == 1
    assert kept[0]["in_sample_p_target"] == max(c["in_sample_p_target"] for c in data["candidates"])
    for block in (plan, mm):
        assert block["p_target"]["ci_low"] <= block["p_target"]["estimate"]
        assert block["p10"]["ci_low"] <= block["p10"]["estimate"] <= block["p10"]["ci_high"]
    assert "P10" in (out / "risk.html").read_text() and "max-margin" in res.output
    # the plan budgets no more than today's total (the same budget as max-margin)
    overlay = yaml.safe_load((out / "plan.yaml").read_text())
    total = sum(c["budget_per_week"] for c in overlay.get("campaigns", {}).values())
    assert total <= 10_500 + 1
    # it runs as a plan layer
    run = CliRunner().invoke(
        cli,
        ["run", "scenarios/baseline.yaml", "--plan", str(out / "plan.yaml"), "-n", "5",
         "--quiet", "--out", str(tmp_path / "run"), "--workers", "1"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output


def test_risk_objective_bad_input_and_conflicting_constraints(tmp_path: Path):
    runner = CliRunner()
    res = runner.invoke(cli, ["optimise", "scenarios/baseline.yaml", "--alpha", "0.2"])
    assert res.exit_code == 2 and "--alpha applies to --objective cvar" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"optimise": {"risk": {"alpha": 1.5}}}), encoding="utf-8")
    res = runner.invoke(
        cli, ["optimise", "scenarios/baseline.yaml", "--objective", "cvar", "--settings", str(bad)]
    )
    assert res.exit_code == 2 and "optimise.risk.alpha" in res.output
    conflict = {"optimise": {**SMALL["optimise"], "budget": {"total_per_week": {"min": 20000}}}}
    settings = tmp_path / "conflict.yaml"
    settings.write_text(yaml.safe_dump(conflict), encoding="utf-8")
    res = runner.invoke(
        cli,
        ["optimise", "scenarios/baseline.yaml", "--objective", "max-p-target", "--settings",
         str(settings), "--sample-replications", "10", "--check-replications", "10",
         "--workers", "1", "--out", str(tmp_path / "x"), "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 3, res.output
    assert "infeasible" in res.output and "total_per_week" in res.output


@pytest.mark.slow
def test_acceptance_max_p_target_beats_max_margin_where_they_differ(tmp_path: Path):
    """Outbound priced at the scenario's own prospecting figure, target 24M: the plans differ."""
    out = tmp_path / "plan"
    args = ["optimise", "scenarios/baseline.yaml", "--objective", "max-p-target",
            "--outbound-hours", "24", "--target", "24e6", "--sample-replications", "100",
            "--check-replications", "400", "--workers", "2", "--out", str(out),
            "--quiet"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code in (0, 3), res.output
    data = json.loads((out / "risk.json").read_text())
    diff = data["paired_plan_minus_max_margin"]["p_target"]
    assert diff["estimate"] > 0 and diff["ci_low"] > 0
    assert data["plan"]["levels"] != data["max_margin"]["levels"]
