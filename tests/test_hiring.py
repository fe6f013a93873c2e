"""``pipesim hiring``: schedules that reach the confidence, are minimal, and apply with --plan."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from pipesim.cli.main import main as cli
from pipesim.optimise.hiring import (
    WEEKS_PER_MONTH,
    HiringSettings,
    effective_headcount,
    hire_overlay,
    plan_hiring,
    simulated_headcount,
    with_hires,
)
from pipesim.scenario.loader import load_scenario

BASELINE = "scenarios/baseline.yaml"
HIRE_THREE = "scenarios/hire_three.yaml"


def test_deterministic_headcount_against_closed_forms():
    sc = load_scenario(
        BASELINE, ["reps.attrition_per_year=0", "reps.ramp_weeks=10", "reps.ramp_start=0.5"]
    )
    heads, eff = effective_headcount(sc, [0, 3], 60)
    # no attrition: 15 ramped reps, and two hires ramping linearly from 0.5 over 10 weeks
    start = math.ceil(3 * WEEKS_PER_MONTH)
    assert heads[0] == pytest.approx(16.0) and heads[start] == pytest.approx(17.0)
    assert eff[0] == pytest.approx(15.5)
    assert eff[5] == pytest.approx(15 + 0.75)
    assert eff[40] == pytest.approx(17.0)
    # attrition with backfill, no ramp: the share of seats filled tends to 1 / (1 + q b)
    sc = load_scenario(
        BASELINE, ["reps.attrition_per_year=1.0", "reps.backfill_weeks=8", "reps.ramp_weeks=0"]
    )
    heads, eff = effective_headcount(sc, [], 600)
    q = 1 - math.exp(-1.0 / 52)
    assert heads[-1] / 15 == pytest.approx(1 / (1 + q * 8), abs=0.01)
    assert eff[-1] == pytest.approx(heads[-1])


def test_simulated_headcount_matches_the_deterministic_curve():
    sc = load_scenario(HIRE_THREE, ["reps.attrition_per_year=0.6"])
    plan = with_hires(sc, [1, 4])
    sim = simulated_headcount(plan, seed=0, replications=20)
    _, eff = effective_headcount(sc, [1, 4], sim.size)
    # 20 replications of 20 seats: the mean over the year within a quarter of a rep
    assert abs(sim.mean() - eff.mean()) < 0.25
    assert sim[20:].mean() > sim[:3].mean()  # the hires ramp up


def test_a_schedule_is_a_plan_layer_run_accepts(tmp_path: Path):
    sc = load_scenario(BASELINE)
    over = hire_overlay(sc, [3, 0])
    members = over["reps"]["members"]
    assert [m["name"] for m in members[:15]] == sc.reps.labels()
    assert members[15:] == [
        {"name": "hire01", "start_week": 0.0},
        {"name": "hire02", "start_week": round(3 * WEEKS_PER_MONTH, 2)},
    ]
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(over), encoding="utf-8")
    loaded = load_scenario(BASELINE, plan=plan)
    assert loaded.reps.seats == 17 and loaded.reps.members[16].start_week == 13.0


def test_hiring_reaches_the_confidence_minimally_and_applies_with_run_plan(tmp_path: Path):
    out = tmp_path / "h"
    args = [
        "hiring", HIRE_THREE, "--horizon-months", "12", "-n", "40", "--workers", "1",
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "hiring.json").read_text())
    p = data["with_plan"]["p_target"]["estimate"]
    assert p >= 0.8 > data["without_plan"]["p_target"]["estimate"]
    assert data["minimal"] and data["without_one_hire"]
    assert all(e["p_target"]["estimate"] < 0.8 for e in data["without_one_hire"])
    assert len(data["hires"]) == sum(r["hires"] for r in data["headcount"]) >= 1
    csv = (out / "hiring.csv").read_text().splitlines()
    assert csv[0].startswith("month,hires,headcount,effective_headcount") and len(csv) == 13
    assert "hiring.html" in res.output and (out / "hiring.html").exists()
    # the plan applies with run --plan and gives the same answer on the same seeds
    run = CliRunner().invoke(
        cli,
        ["run", HIRE_THREE, "--plan", str(out / "plan.yaml"), "-n", "40", "--quiet",
         "--workers", "1", "--out", str(tmp_path / "run")],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["p_target"]["estimate"] == pytest.approx(p)


def test_hiring_bad_input_and_unreachable_confidence(tmp_path: Path):
    runner = CliRunner()
    res = runner.invoke(cli, ["hiring", BASELINE, "--horizon-months", "6", "-n", "20"])
    assert res.exit_code == 2
    assert "holds no target period" in res.output and "at least 12 months" in res.output
    res = runner.invoke(
        cli,
        ["hiring", BASELINE, "--horizon-months", "12", "--max-hires-per-month", "1", "-n", "20",
         "--set", "target.revenue=60e6", "--workers", "1", "--quiet", "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 3, res.output
    assert "no hiring schedule reaches" in res.output and "--max-hires-per-month 1" in res.output
    assert "reps.ramp_weeks" in res.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [(HIRE_THREE, []), (BASELINE, ["reps.attrition_per_year=0.8"])],
    ids=["hire_three", "high_attrition"],
)
def test_acceptance_schedules_reach_the_confidence_and_are_minimal(scenario, overrides):
    sc = load_scenario(scenario, overrides)
    plan = plan_hiring(sc, HiringSettings(horizon_months=18, replications=200, workers=2))
    assert plan.reached and plan.plan.p >= 0.8
    assert plan.minimal and all(e.p < 0.8 for _, e in plan.without_one)
    months = np.array(plan.plan.months)
    assert (months < 12).all()  # no hire after the target period's end
