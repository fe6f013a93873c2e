"""Report sections of the deal-level forecast: top swing deals, leading indicators, drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pipesim
from pipesim.report import load_run, write_run_report
from pipesim.report.data import pct
from pipesim.report.drivers import TOP_DEALS
from pipesim.runs.catalogue import record_run
from pipesim.runs.runner import run

ROOT = Path(__file__).resolve().parents[1]
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("forecast")
    catalogue = base / "runs.sqlite"
    folders = []
    for k, revenue in enumerate(("3900000", "3500000")):
        sc = pipesim.load_scenario(YEAR_END, [f"target.revenue={revenue}"])
        out = base / f"run{k}"
        run(sc, replications=40, seed=k, workers=1, out=out)
        record_run(out, catalogue, note=f"review {k}")
        folders.append(out)
    return folders, catalogue


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start : html.index("</section>", start)]


def test_report_shows_top_swing_deals_and_indicators(two_runs):
    folders, catalogue = two_runs
    data = load_run(folders[1], catalogue)
    html = write_run_report(folders[1], data).read_text(encoding="utf-8")
    deals = _section(html, "deals")
    rows = re.findall(r"<tr><td>", _section(html, "deals"))
    assert len(rows) == TOP_DEALS
    top = data.deals.iloc[0]
    assert top.deal_id in deals  # the largest swing comes first
    ind = _section(html, "indicators")
    coverage = data.summary["indicators"]["pipeline_coverage"]
    assert f"{coverage:.2f}×" in ind
    assert "/rep/wk" in ind and "Pipeline velocity" in ind


def test_drift_section_draws_every_recorded_run(two_runs):
    folders, catalogue = two_runs
    html = write_run_report(folders[1], load_run(folders[1], catalogue)).read_text("utf-8")
    drift = _section(html, "drift")
    chart = re.search(r'id="chart-forecast_drift"><svg class="chart" (.*?)</svg>', drift, re.S)
    assert chart is not None
    points = [float(p) for p in re.findall(r'class="run" data-p="([^"]+)"', chart.group(1))]
    assert len(points) == 2  # both recorded runs, oldest first
    for k, folder in enumerate(folders):
        summary = load_run(folder).summary
        assert points[k] == pytest.approx(summary["p_target"]["estimate"])
    assert "review 0" in chart.group(1) and "review 1" in chart.group(1)  # the notes
    assert (folders[1] / "charts" / "forecast_drift.svg").is_file()
    assert not (folders[1] / "charts" / "forecast_drift.png").exists()


def test_drift_section_explains_a_first_run_and_survives_a_bad_catalogue(two_runs, tmp_path):
    folders, _ = two_runs
    html = write_run_report(folders[0], load_run(folders[0], tmp_path / "none.sqlite"))
    assert "first recorded run" in _section(html.read_text("utf-8"), "drift")
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database", encoding="utf-8")
    html = write_run_report(folders[0], load_run(folders[0], bad)).read_text("utf-8")
    assert "history is unavailable" in _section(html, "drift")


def test_no_open_pipeline_no_deal_sections(tmp_path):
    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4", "open_pipeline=[]"])
    out = tmp_path / "run"
    res = run(sc, replications=5, seed=0, workers=1, out=out)
    assert res.deals is None and not (out / "deals.csv").exists()
    html = write_run_report(out, load_run(out, tmp_path / "c.sqlite")).read_text("utf-8")
    assert '<section id="deals"' not in html and '<section id="indicators"' not in html
    assert '<section id="drift"' in html


def test_report_swing_is_labelled_as_a_what_if_on_the_deal_value(two_runs):
    folders, catalogue = two_runs
    data = load_run(folders[0], catalogue)
    deals = _section(write_run_report(folders[0], data).read_text("utf-8"), "deals")
    top = data.deals.iloc[0]
    n = int(top.replications)
    # the swing shown is the share of replications in which the deal is pivotal, with its
    # Wilson interval: never below zero
    assert top.swing == pytest.approx(top.p_target_if_won - top.p_target_if_not_won)
    assert 0.0 <= top.swing_ci_low <= top.swing <= top.swing_ci_high
    assert round(top.swing * n) == pytest.approx(top.swing * n)
    shown = f"{top.swing * 100:+.0f} pts ({top.swing_ci_low * 100:+.0f} to"
    assert shown in deals
    # the lead says what is held fixed and quotes the deal's chance of being won
    text = " ".join(re.sub(r"<[^>]+>", " ", deals).split())
    assert "with the rest of each simulated" in text and "as it happened" in text
    assert f"it is won in {pct(top.p_won)}" in text
    # the note says what the what-if keeps and that swing is read with P(won)
    assert "everything else is kept as it happened" in text
    assert "the hours the deal took or freed" in text
    assert "read it next to P(won)" in text
