"""``optimise`` end to end on the baseline with judgmental curves (fast: no pilot runs).

Exit codes and messages (3 for an unreachable target, 2 for bad input, never a traceback), and
the plan overlay's round trip: ``plan.yaml`` loads with ``--plan`` and validates to the plan.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipesim.cli.optimise import cli
from pipesim.optimise.levers import apply_overlay
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"

SETTINGS = {
    "optimise": {
        "curves": "judgement",
        "pilot": {"load_replications": 1},
        "fairness_band": 0.2,
        "judgement": {
            # CALLPLAN: revenue at 0, 50%, 100%, 150% of today's budget and at saturation (3x)
            "campaigns.webinars.budget_per_week": {
                "relative": True,
                "revenue": [0.85, 0.93, 1.0, 1.04, 1.06],
            },
            "leads.outbound.opportunities_per_rep_week[S4]": {
                "levels": [0.0, 0.2, 0.5, 1.0],
                "revenue": [21.9e6, 25.0e6, 28.5e6, 31.0e6],
            },
        },
    }
}


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "optimise.yaml"
    path.write_text(yaml.safe_dump(SETTINGS), encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def planned(settings_file: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("plan")
    result = invoke(
        "optimise",
        str(BASELINE),
        "--settings",
        str(settings_file),
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
    )
    return result, out


def test_unreachable_target_exits_3_naming_the_binding_constraints(settings_file: Path, tmp_path):
    result = invoke(
        "optimise",
        str(BASELINE),
        "--settings",
        str(settings_file),
        "--target",
        "90e6",
        "-n",
        "10",
        "--workers",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert result.exit_code == 3, result.output
    text = result.output
    assert "Traceback" not in text
    assert "infeasible: no plan reaches an expected revenue of 90.00M EUR" in text
    assert "target.revenue" in text
    # what binds, in scenario keys: the reps' hours and the judged curve's end
    assert "reps.hours_per_week" in text
    assert "leads.outbound.opportunities_per_rep_week[S4]" in text
    assert "shadow price" in text


def test_plan_overlay_round_trip(planned):
    result, out = planned
    assert result.exit_code == 0, result.output
    assert "P(target 21.80M EUR): before" in result.output
    plan_file = out / "plan.yaml"
    overlay = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    assert set(overlay) <= {"campaigns", "leads", "target"}
    base = load_scenario(BASELINE)
    with_plan = load_scenario(BASELINE, plan=plan_file)  # what `pipesim run --plan` does
    assert with_plan == apply_overlay(base, overlay)
    assert with_plan != base
    rate = overlay["leads"]["outbound"]["opportunities_per_rep_week"]
    assert with_plan.leads.outbound.opportunities_per_rep_week == pytest.approx(rate)
    assert (
        with_plan.campaigns["webinars"].budget_per_week
        == overlay["campaigns"]["webinars"]["budget_per_week"]
    )
    # levers without a curve keep today's values
    assert with_plan.campaigns["trade_shows"] == base.campaigns["trade_shows"]
    assert with_plan.leads.prospecting == base.leads.prospecting


def test_plan_table_has_every_rep_and_campaign(planned):
    _, out = planned
    table = pd.read_csv(out / "plan.csv")
    reps = table[table["kind"] == "rep"]
    assert reps["name"].nunique() == 15
    assert len(reps) == 15 * 5  # four segments and the rep's totals
    totals = reps[reps["segment"] == "all"]
    assert (totals["total_hours"] <= 30.0 + 1e-6).all()  # 40 h x (1 - 0.25 admin)
    parts = reps[reps["segment"] != "all"].groupby("name")["new_opportunities_per_week"].sum()
    quota = totals.set_index("name")["new_opportunities_per_week"]
    assert (parts - quota).abs().max() < 0.01
    campaigns = table[table["kind"] == "campaign"]
    assert set(campaigns["name"]) == {"paid_search", "webinars", "trade_shows"}
    assert (campaigns["spend_per_week"].sum()) <= 10_500 + 1
    for name in ("optimise.html", "optimise.json", "curves.csv", "today.csv"):
        assert (out / name).is_file()
    page = (out / "optimise.html").read_text(encoding="utf-8")
    assert 'id="p-before"' in page and 'id="p-after"' in page
    assert "data:image/png;base64," in page
    assert "http" not in page.replace("http-equiv", "")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--solver", "nosuchsolver"], "solver 'nosuchsolver' is not available"),
        (["--confidence", "1.5"], "Invalid value for '--confidence'"),
    ],
)
def test_bad_options_exit_2(args, needle, tmp_path):
    result = invoke("optimise", str(BASELINE), "--out", str(tmp_path), *args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_bad_settings_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimise:\n  strategic_segments: {S9: 0.2}\n  fairnes_band: 0.1\n")
    result = invoke("optimise", str(BASELINE), "--settings", str(bad), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "fairnes_band" in result.output
    bad.write_text("optimise:\n  strategic_segments: {S9: 0.2}\n")
    result = invoke(
        "optimise",
        str(BASELINE),
        "--settings",
        str(bad),
        "--out",
        str(tmp_path),
        "-n",
        "10",
        "--quiet",
    )
    assert result.exit_code == 2
    assert "optimise.strategic_segments.S9: unknown segment" in result.output


def test_bad_scenario_exits_2(tmp_path):
    result = invoke("optimise", str(tmp_path / "missing.yaml"), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "invalid scenario" in result.output
