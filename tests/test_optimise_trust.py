"""A planner's figures agree with each other and are per rep.

Per-rep quotas follow each rep's hours, skill and ramp (plan.csv, quotas.csv); a plan's gain over
today is split by lever and the parts add up; a gain larger than field results of sales-effort
reallocation support is flagged with the lever and cost assumption it rests on; outbound work
is priced by a documented default that the plan overlay carries.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import pipesim
from pipesim.cli.optimise import cli
from pipesim.optimise.constraints import build_model
from pipesim.optimise.costs import LeverCost
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.gain import GainSplit, LeverGain, plausibility
from pipesim.optimise.levers import Lever
from pipesim.optimise.problem import LeadCosts, Problem, RepGroup
from pipesim.optimise.settings import DEFAULT_OUTBOUND_HOURS
from pipesim.optimise.solver import solve

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"

OUT_S1 = "leads.outbound.opportunities_per_rep_week[S1]"
OUT_S4 = "leads.outbound.opportunities_per_rep_week[S4]"
PROSPECTING = "leads.prospecting.hours_per_week"

# the baseline's 15 reps, three of them told apart: a strong and a weak seller, and a new hire
TEAM = {
    "extends": str(BASELINE),
    "name": "team",
    "reps": {
        "members": [
            {"name": "Ana", "skill": 1.3},
            {"name": "Ben", "skill": 1.0},
            {"name": "Chloe", "skill": 0.7},
            {"name": "Dev", "skill": 1.0, "tenure_weeks": 0},
            *({"name": f"rep{k:02d}"} for k in range(5, 16)),
        ]
    },
}

SETTINGS = {
    "optimise": {
        "curves": "judgement",
        "pilot": {"load_replications": 1},
        "fairness_band": 0.5,
        "judgement": {
            # prospecting: worth the same whoever prospects (its leads join the shared queue)
            PROSPECTING: {"relative": True, "revenue": [0.9, 0.96, 1.0, 1.03, 1.05]},
            # outbound in S4 judged to pay off far beyond what reallocation ever delivers
            OUT_S4: {
                "levels": [0.0, 0.2, 0.5, 1.0],
                "revenue": [22.0e6, 30.0e6, 36.0e6, 40.0e6],
            },
        },
    }
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("trust")
    scenario = _write(folder / "team.yaml", TEAM)
    settings = _write(folder / "optimise.yaml", SETTINGS)
    out = folder / "plan"
    result = CliRunner().invoke(
        cli,
        [
            "optimise",
            str(scenario),
            "--settings",
            str(settings),
            "-n",
            "20",
            "--max-iterations",
            "1",
            "--confidence",
            "0.5",
            "--workers",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result, out


def _totals(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "plan.csv")
    reps = table[(table["kind"] == "rep") & (table["segment"] == "all")]
    return reps.set_index("name")


# --------------------------------------------------------------------------- per rep
def test_plan_csv_quotas_follow_each_reps_hours_skill_and_ramp(planned):
    _, out = planned
    reps = _totals(out)
    quota = reps["new_opportunities_per_week"]
    assert reps.loc["Ana", "skill"] == pytest.approx(1.3)
    assert reps.loc["Chloe", "skill"] == pytest.approx(0.7)
    # the new hire has fewer selling hours (30 h x its mean productivity over the year)
    assert reps.loc["Dev", "productivity"] < 0.95
    assert reps.loc["Dev", "selling_hours"] < reps.loc["Ben", "selling_hours"] - 1.0
    # lower skill, or fewer hours while ramping: a lower quota than a like rep's
    assert quota["Chloe"] < quota["Ben"] - 0.02
    assert quota["Dev"] < quota["Ben"] - 0.02
    assert quota["Ana"] >= quota["Ben"] - 1e-3
    # the weak seller opens fewer outbound opportunities: its hours go to prospecting instead
    outbound = reps["outbound_opportunities_per_week"]
    assert outbound["Chloe"] < outbound["Ben"]
    # not one row copied fifteen times
    assert quota.round(3).nunique() >= 3


def test_a_new_hires_weekly_quota_ramps_with_its_ramp_up(planned):
    _, out = planned
    weeks = pd.read_csv(out / "quotas.csv")
    reps = _totals(out)
    dev = weeks[weeks["name"] == "Dev"].sort_values("week")["new_opportunities_quota"].to_numpy()
    ben = weeks[weeks["name"] == "Ben"].sort_values("week")["new_opportunities_quota"].to_numpy()
    assert len(dev) == 52
    # rises week by week over the 16-week ramp from 30% productivity, then stays level
    assert np.all(np.diff(dev[:16]) > 0)
    assert np.allclose(dev[17:], dev[-1], atol=1e-3)
    assert dev[0] < 0.5 * dev[-1]
    assert np.allclose(ben, ben[0], atol=1e-3)  # a ramped rep's quota is the same every week
    # averaged over the year the weekly quotas are the plan's quota
    assert dev.mean() == pytest.approx(reps.loc["Dev", "new_opportunities_per_week"], abs=2e-3)
    assert reps.loc["Dev", "quota_first_week"] < reps.loc["Dev", "quota_ramped"]


def test_console_and_page_show_each_rep(planned):
    result, out = planned
    for name in ("Ana", "Ben", "Chloe", "Dev"):
        assert f"  {name} (" in result.output
    page = (out / "optimise.html").read_text(encoding="utf-8")
    table = page[page.index('id="rep-table"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 1 + 15  # header and one row per rep


def _groups_problem(groups: tuple[RepGroup, ...], **extra: object) -> Problem:
    """Three levers (prospecting, outbound S1 and S4), no lead queue, hours per rep as given."""
    free = LeadCosts(0.0, {"S1": 0.0, "S4": 0.0}, {"S1": 0.0, "S4": 0.0})
    levers = {
        PROSPECTING: Lever(PROSPECTING, "prospecting", "", "hours per rep per week", 0.0),
        OUT_S1: Lever(OUT_S1, "outbound", "S1", "opportunities per rep per week", 0.0),
        OUT_S4: Lever(OUT_S4, "outbound", "S4", "opportunities per rep per week", 0.0),
    }
    curves = {
        PROSPECTING: ResponseCurve(PROSPECTING, "h", (0.0, 10.0), (0.0, 1e6), 0.0, "judgement"),
        OUT_S1: ResponseCurve(OUT_S1, "o", (0.0, 1.0, 2.0), (0.0, 3e6, 4e6), 0.0, "judgement"),
    }
    return Problem(
        segments=("S1", "S4"),
        groups=groups,
        levers=levers,
        curves=curves,
        gross_margin=1.0,
        prospecting_costs=free,
        prospecting_split={"S1": 0.5, "S4": 0.5},
        **extra,  # type: ignore[arg-type]
    )


def test_the_lp_gives_outbound_work_to_the_reps_it_is_worth_most_with():
    # an outbound opportunity costs 3 h; one opened by a rep of skill 1.3 counts 1.3 times;
    # prospecting is worth the same whoever does it. Outbound is capped (curve end 2), so the
    # cap is reached with the fewest hours: the strongest rep first, the weakest last.
    groups = (
        RepGroup("a", ("a",), 10.0, skill=1.3),
        RepGroup("b", ("b",), 10.0, skill=1.0),
        RepGroup("c", ("c",), 10.0, skill=0.7),
    )
    sol = solve(build_model(_groups_problem(groups), "max-margin"))
    q = sol.quota
    assert q["a"] == pytest.approx(10.0 / 3.0, abs=1e-6)  # all its hours
    assert q["b"] == pytest.approx((2.0 * 3.0 - 1.3 * 10.0 / 3.0) / 1.0, abs=1e-6)
    assert q["c"] == pytest.approx(0.0, abs=1e-6)
    assert sol.prospecting["c"] == pytest.approx(10.0, abs=1e-6)
    # the plan's lever is the team's mean; the curve's level counts by what each rep is worth
    assert sol.levels[OUT_S1] == pytest.approx(sum(q.values()) / 3.0)
    assert sol.effective_levels[OUT_S1] == pytest.approx(2.0)


def test_reps_worth_the_same_share_work_in_proportion_to_their_free_hours():
    # no cap binds: the LP is indifferent how two alike reps split the outbound work; the
    # second stage splits it in proportion to free hours (4 h of own open deals for one)
    groups = (
        RepGroup("a", ("a",), 30.0),
        RepGroup("b", ("b",), 30.0, deal_hours=(("S1", 4.0),)),
    )
    p = _groups_problem(groups, fairness_band=None)
    sol = solve(build_model(p, "max-margin"))
    assert sol.levels[OUT_S1] == pytest.approx(2.0)  # the curve's end: 4 opportunities a week
    assert sol.quota["b"] / sol.quota["a"] == pytest.approx(26.0 / 30.0, rel=1e-6)


def test_the_second_stage_keeps_the_plans_own_objective_value():
    groups = (
        RepGroup("a", ("a",), 30.0),
        RepGroup("b", ("b",), 30.0, deal_hours=(("S1", 4.0),)),
    )
    p = _groups_problem(groups, fairness_band=None)
    sol = solve(build_model(p, "min-cost", 3e6))
    # min-cost: spend plus planned rep hours, not the second stage's deviations
    assert sol.objective_value == pytest.approx(sol.campaign_cost + sol.hour_cost, rel=1e-6)
    assert sol.objective_value > 1000.0
    assert sol.revenue == pytest.approx(3e6, rel=1e-6)


# --------------------------------------------------------------------------- the gain
def test_the_per_lever_split_adds_up_to_the_plans_gain(planned):
    result, out = planned
    summary = json.loads((out / "optimise.json").read_text(encoding="utf-8"))
    gain = summary["gain"]
    total = summary["revenue_after"]["mean"] - summary["revenue_before"]["mean"]
    assert gain["total"] == pytest.approx(total)
    by_lever = gain["by_lever"]
    assert set(by_lever) >= {PROSPECTING, OUT_S4}
    assert sum(by_lever.values()) + gain["residual"] == pytest.approx(total)
    # the levers' parts are the response curves: they add up to the LP's expected gain
    lp_gain = summary["plan"]["expected_revenue"] - summary["revenue_before"]["mean"]
    assert sum(by_lever.values()) == pytest.approx(lp_gain, rel=1e-6)
    assert by_lever[OUT_S4] > 5e6
    assert by_lever[PROSPECTING] < 0  # the hours outbound work takes from prospecting
    # the console and the page show the split
    assert f"  {OUT_S4}: " in result.output
    assert "interactions and approximation" in result.output
    page = (out / "optimise.html").read_text(encoding="utf-8")
    assert 'id="gain-table"' in page


def test_a_gain_beyond_field_results_is_flagged_with_the_lever_and_its_cost(planned):
    result, out = planned
    text = result.output
    assert "warning: the plan claims" in text
    assert "field results of sales-effort reallocation" in text
    warning = text[text.index("warning: the plan claims") :]
    assert OUT_S4 in warning  # the lever it rests on
    assert f"optimise.lever_costs.outbound_hours_per_opportunity = {DEFAULT_OUTBOUND_HOURS:g}" in (
        warning
    )  # and the cost assumption
    page = (out / "optimise.html").read_text(encoding="utf-8")
    assert 'id="plausibility"' in page
    summary = json.loads((out / "optimise.json").read_text(encoding="utf-8"))
    assert summary["warning"].startswith("warning: the plan claims")
    assert summary["plausible_gain"] == 0.25


def _split(plan: float, lp_gain: float) -> GainSplit:
    lever = LeverGain(OUT_S4, "leads.outbound.opportunities_per_rep_week[*]", "o", 0, 1, lp_gain)
    return GainSplit("EUR", 20e6, plan, 20e6 + lp_gain, (lever,))


def test_the_warning_threshold():
    cost = LeverCost(
        "leads.outbound.opportunities_per_rep_week[*]",
        "1 opportunity per rep per week",
        "10 rep hours to find and open each",
        "optimise.lever_costs.outbound_hours_per_opportunity",
        10.0,
        "optimiser default",
    )
    assert plausibility(_split(24e6, 4e6), [cost], 0.25) is None  # +20%: within field results
    flagged = plausibility(_split(26e6, 4e6), [cost], 0.25)  # +30% simulated
    assert flagged is not None and "+30.0%" in flagged and OUT_S4 in flagged
    assert plausibility(_split(24e6, 6e6), [cost], 0.25) is not None  # the curves expect +30%
    assert plausibility(_split(26e6, 4e6), [cost], 0.5) is None


# --------------------------------------------------------------------------- lever costs
def test_outbound_work_is_priced_by_a_documented_default_the_plan_carries(planned):
    _, out = planned
    overlay = yaml.safe_load((out / "plan.yaml").read_text(encoding="utf-8"))
    # the scenario does not state it: the documented default, which is the scenario schema's own,
    # so the plan runs under it without restating it
    stated = overlay.get("leads", {}).get("outbound", {}).get("hours_per_opportunity")
    assert stated in (None, DEFAULT_OUTBOUND_HOURS)
    assert pipesim.load_scenario(BASELINE).leads.outbound.hours_per_opportunity == (
        DEFAULT_OUTBOUND_HOURS
    )
    summary = json.loads((out / "optimise.json").read_text(encoding="utf-8"))
    costs = {c["lever"]: c for c in summary["lever_costs"]}
    outbound = costs["leads.outbound.opportunities_per_rep_week[*]"]
    assert outbound["value"] == DEFAULT_OUTBOUND_HOURS
    assert "SDR" in outbound["reference"]
    # every lever has a cost with a source
    assert {"campaigns.webinars.budget_per_week", PROSPECTING} <= set(costs)
    assert all(c["source"] for c in summary["lever_costs"])
    page = (out / "optimise.html").read_text(encoding="utf-8")
    assert 'id="cost-table"' in page


def test_a_cost_the_scenario_states_is_kept(tmp_path):
    settings = _write(tmp_path / "optimise.yaml", SETTINGS)
    result = CliRunner().invoke(
        cli,
        [
            "optimise",
            str(BASELINE),
            "--settings",
            str(settings),
            "--set",
            "leads.outbound.hours_per_opportunity=5",
            "-n",
            "10",
            "--max-iterations",
            "1",
            "--confidence",
            "0.5",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "plan"),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "plan" / "optimise.json").read_text(encoding="utf-8"))
    outbound = {c["lever"]: c for c in summary["lever_costs"]}[
        "leads.outbound.opportunities_per_rep_week[*]"
    ]
    assert outbound["value"] == 5.0
    assert outbound["key"] == "leads.outbound.hours_per_opportunity"
