"""pipesim scorecard: scores of past forecasts, their coverage, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.results.scores import band_coverage, brier, crps, percentile_of

ROOT = Path(__file__).resolve().parents[1]
CRM = ROOT / "tests" / "fixtures" / "crm"
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def test_crps_is_the_ensemble_formula():
    rng = np.random.default_rng(1)
    x = rng.gamma(3.0, 2.0, 60)
    y = 5.5
    brute = np.abs(x - y).mean() - 0.5 * np.abs(x[:, None] - x[None, :]).mean()
    assert crps(x, y) == pytest.approx(brute)
    assert crps(np.full(10, 4.0), 4.0) == pytest.approx(0.0)  # a point forecast, right
    assert crps(np.full(10, 4.0), 7.0) == pytest.approx(3.0)  # ... and 3 off


def test_percentile_brier_and_coverage():
    assert percentile_of(np.array([1.0, 2.0, 3.0, 4.0]), 3.0) == pytest.approx(0.625)
    assert brier(0.8, True) == pytest.approx(0.04) and brier(0.8, False) == pytest.approx(0.64)
    assert band_coverage([True] * 80 + [False] * 20)["verdict"] == "calibrated"
    assert band_coverage([True] * 50 + [False] * 50)["verdict"] == "over-confident"
    assert band_coverage([True] * 100)["verdict"] == "under-confident"
    assert band_coverage([])["verdict"] == "no periods"


def _coverage(forecast: pipesim.Scenario, truth: pipesim.Scenario) -> dict:
    ensemble = pipesim.run(forecast, replications=300, seed=2).table["revenue"].to_numpy()
    outcomes = pipesim.run(truth, replications=300, seed=3).table["revenue"].to_numpy()
    p10, p90 = np.percentile(ensemble, [10, 90])
    return band_coverage([bool(p10 <= y <= p90) for y in outcomes])


def test_forecasts_from_the_true_scenario_cover_80_percent():
    truth = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=13"])
    card = _coverage(truth, truth)  # 300 periods, each an independent history of the truth
    assert card["low"] <= 0.8 <= card["high"] and card["verdict"] == "calibrated"
    # a forecast that assumes twice the team is caught as over-confident (outcomes fall outside)
    wrong = pipesim.what_if(truth, {"reps.count": 30})
    assert _coverage(wrong, truth)["verdict"] == "over-confident"


def _period_scenario(folder: Path, start: str) -> Path:
    path = folder / f"q_{start}.yaml"
    path.write_text(
        f"extends: {CRM / 'truth.yaml'}\n"
        f"target:\n  horizon_weeks: 13\n  start_date: {start}\n  revenue: 2.0e6\n"
    )
    return path


def test_scorecard_scores_ended_forecasts_against_the_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    cat = ["--catalogue", str(tmp_path / "runs.sqlite")]
    opp = CRM / "Opportunity.csv"
    hist = CRM / "OpportunityHistory.csv"
    for start in ("2024-04-01", "2024-07-01"):
        r = runner.invoke(main, ["run", str(_period_scenario(tmp_path, start)), "-n", "40",
                                 "--quiet", "--pipeline", str(opp), "--pipeline-history", str(hist),
                                 "--out", f"reports/q_{start}", *cat])  # fmt: skip
        assert r.exit_code == 0, r.output
    # a what-if is not a forecast: left out
    r = runner.invoke(main, ["run", str(_period_scenario(tmp_path, "2024-04-01")), "-n", "10",
                             "--quiet", "--set", "reps.hours_per_week=30", *cat])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["scorecard", "--actuals", str(opp), "--out", "card", *cat])
    assert r.exit_code == 0, r.output
    card = pd.read_csv(tmp_path / "card" / "scorecard.csv")
    assert len(card) == 2
    export = pd.read_csv(opp)
    won = export[export["StageName"] == "Closed Won"]
    close = pd.to_datetime(won["CloseDate"])
    first = won[(close >= "2024-04-01") & (close < "2024-07-01")]["Amount"].sum()
    assert card.loc[0, "realised"] == pytest.approx(first)
    saved = json.loads((tmp_path / "card" / "scorecard.json").read_text())
    assert saved["periods"] == 2 and saved["low"] <= saved["coverage"] <= saved["high"]
    page = (tmp_path / "card" / "scorecard.html").read_text()
    assert 'id="scorecard-verdict"' in page and "2 periods cannot tell much" in page
    assert "of 2 periods" in r.output


def test_scorecard_bad_input_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    cat = ["--catalogue", str(tmp_path / "runs.sqlite")]
    actuals = ["--actuals", str(CRM / "Opportunity.csv")]
    r = runner.invoke(main, ["scorecard", *actuals, *cat])
    assert r.exit_code == 2 and "no forecast to score" in r.output
    for name in ("a", "b"):  # two forecasts of different scenarios
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"extends: {CRM / 'truth.yaml'}\nname: {name}\n")
        assert runner.invoke(main, ["run", str(path), "-n", "2", "--quiet", *cat]).exit_code == 0
    r = runner.invoke(main, ["scorecard", *actuals, *cat])
    assert r.exit_code == 2 and "several scenarios (a, b)" in r.output
    r = runner.invoke(main, ["scorecard", *actuals, "--scenario", "aa", *cat])
    assert r.exit_code == 2 and "did you mean 'a'" in r.output
    # actuals in another currency and no rate for it
    rows = list(csv.reader((CRM / "Opportunity.csv").open()))
    usd = tmp_path / "usd.csv"
    with usd.open("w", newline="") as f:
        csv.writer(f).writerows([[*rows[0], "CurrencyIsoCode"], *([*r, "USD"] for r in rows[1:])])
    r = runner.invoke(main, ["scorecard", "--actuals", str(usd), "--scenario", "a", *cat])
    assert r.exit_code == 2 and "USD" in r.output and "Traceback" not in r.output
    missing = ["--actuals", str(tmp_path / "none.csv")]
    r = runner.invoke(main, ["scorecard", *missing, "--scenario", "a", *cat])
    assert r.exit_code == 2 and "none.csv" in r.output
