"""The reports stay right at the edges: nothing to chart, the target bin, settings, A4 print.

A run in which reps pursue no lead (or no lead arrives) must still give a report that says what
happened; the histogram bar at the target must not mix years below and above it; the compare
page must show the values a scenario runs with, not the word "default"; and both the run report
and the optimise page print on A4 without forced breaks that leave pages half empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from browser import capture, find_chromium
from pipesim.cli.main import main
from pipesim.optimise import report as optimise_report
from pipesim.report import charts, compare, from_results
from pipesim.report.charts import BLUE
from pipesim.report.data import RunData
from pipesim.report.html import build_run_report
from pipesim.report.page import CSS
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
HIRE_THREE = ROOT / "scenarios" / "hire_three.yaml"

NOTHING_PURSUED = (
    # a fit threshold no judged lead reaches: perceived fit is true fit (at most 1) when the
    # reps judge without error, and a lead is pursued only at or above the threshold
    "qualification.threshold=1",
    "reps.qualification_noise_mean=0",
    "reps.qualification_noise_sd=0",
    "open_pipeline=[]",
)
NO_LEADS = (
    "open_pipeline=[]",
    "campaigns={}",
    "leads.prospecting.hours_per_week=0",
    "leads.referrals.per_week=0",
    *(f"segments.{s}.buyers_per_week=0" for s in ("S1", "S2", "S3", "S4")),
)


def _text(html: str) -> str:
    """The page's words (the charts' too): tags and embedded images dropped, spaces folded."""
    html = re.sub(r'src="data:[^"]*"', "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------- nothing to chart
def test_run_where_every_lead_is_disqualified_reports_no_opportunities(tmp_path: Path) -> None:
    out = tmp_path / "nothing"
    args = ["run", str(BASELINE), "-n", "6", "--workers", "1", "--quiet", "--out", str(out)]
    args += ["--catalogue", str(tmp_path / "runs.sqlite")]
    for s in NOTHING_PURSUED:
        args += ["--set", s]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "report failed" not in res.output
    html = (out / "report.html").read_text(encoding="utf-8")
    summary_opps = pd.read_csv(out / "replications.csv")["opportunities"]
    assert (summary_opps == 0).all()  # the scenario really pursues nothing
    text = _text(html)
    assert 'id="funnel-empty"' in html
    assert "There were no opportunities" in text
    assert "No lead became an opportunity" in text
    assert "No rep seat booked anything" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert 'id="funnel-table"' not in html  # no table of zeros and n/a
    for name in ("exceedance", "revenue_distribution", "bookings_fan", "outcomes", "funnel"):
        assert (out / "charts" / f"{name}.svg").stat().st_size > 500, name
    funnel = (out / "charts" / "funnel.svg").read_text(encoding="utf-8")
    assert "No opportunities were pursued" in funnel  # the chart file says so itself


def test_run_without_any_lead_says_so() -> None:
    scenario = load_scenario(BASELINE, NO_LEADS)
    data = from_results(run(scenario, replications=3, seed=1, workers=1))
    assert float(data.table["leads"].sum()) == 0
    html, chart_list = build_run_report(data, dpi=40)
    text = _text(html)
    assert 'id="outcomes-empty"' in html
    assert "No leads arrived in any of the 3 simulated years" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert {c.name for c in chart_list} >= {"outcomes", "funnel", "rep_attainment"}


def test_empty_charts_say_what_happened() -> None:
    columns = ["won", "lost", "no_decision", "no_decision_status_quo", "no_decision_indecision",
               "disqualified", "uncaptured", "open_at_end", "funnel_awareness", "funnel_interest",
               "funnel_preference", "funnel_decision", "won_opportunities"]  # fmt: skip
    table = pd.DataFrame({c: [0.0, 0.0] for c in columns})
    texts = [t.get_text() for t in charts.funnel_chart(table).axes[0].texts]
    assert any("No opportunities were pursued" in t for t in texts)
    texts = [t.get_text() for t in charts.outcome_chart(table).axes[0].texts]
    assert any("No leads arrived" in t for t in texts)


# --------------------------------------------------------------------------- the target bin
def _bars(fig: Figure) -> list[tuple[float, float, Any, float]]:
    """Each histogram bar: left and right edge, colour and height (share of replications)."""
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    return [
        (r.get_x(), r.get_x() + r.get_width(), r.get_facecolor(), r.get_height()) for r in rects
    ]


@pytest.mark.parametrize(("target", "bins"), [(4.3, 10), (21.8e6, 14), (0.05, 12)])
def test_no_histogram_bar_straddles_the_target(target: float, bins: int) -> None:
    rng = np.random.default_rng(2)
    scale = max(target, 1.0)
    revenue = rng.normal(1.0, 0.4, 300) * scale
    revenue[:3] = target  # revenue exactly at target counts as reached
    fig = charts.revenue_histogram(pd.DataFrame({"revenue": revenue}), target, "EUR", bins=bins)
    bars = _bars(fig)
    assert not [b for b in bars if b[0] < target - 1e-9 * scale and b[1] > target + 1e-9 * scale]
    assert any(abs(b[0] - target) <= 1e-9 * scale for b in bars)  # an edge at the target
    for left, _right, colour, _h in bars:  # blue exactly for the bars at or above the target
        assert np.allclose(colour[:3], _rgb(BLUE)) == (left >= target - 1e-9 * scale), left
    assert sum(b[3] for b in bars) == pytest.approx(1.0)
    reached = sum(b[3] for b in bars if b[0] >= target - 1e-9 * scale)
    assert reached == pytest.approx(np.mean(revenue >= target))


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def test_histogram_edges_put_the_target_on_an_edge() -> None:
    edges = charts.revenue.histogram_edges(np.linspace(0.0, 10.0, 101), 4.3, 10)
    assert 4.3 in edges
    assert edges[0] <= 0.0 and edges[-1] >= 10.0
    assert np.allclose(np.diff(edges), np.diff(edges)[0])  # equal widths


# --------------------------------------------------------------------------- compare settings
def test_changed_settings_show_the_values_each_scenario_runs_with() -> None:
    baseline, hire_three = load_scenario(BASELINE), load_scenario(HIRE_THREE)
    runs = [
        RunData(
            summary={"scenario": sc.name},
            table=pd.DataFrame(),
            bookings=pd.DataFrame(),
            reps=pd.DataFrame(),
            scenario=sc,
        )
        for sc in (baseline, hire_three)
    ]
    rows = {r[0]: r[1:] for r in compare.changed_parameters(runs)}
    assert not any("default" in v for vals in rows.values() for v in vals)
    # the baseline leaves its quota to revenue / seats: 21.8M / 15
    assert rows["target.rep_quota"] == ["1,453,333.33", "1,453,333.00"]
    assert rows["reps.members"][0].startswith("15: rep01, rep02")
    assert rows["reps.members"][1].startswith("18: Ana, Ben")
    eff = compare.effective_settings(baseline)
    assert eff["campaigns"]["paid_search"]["end_week"] == 52.0
    assert eff["segments"]["S1"]["competitors"] == list(baseline.competitors)
    assert sum(eff["leads"]["referrals"]["segments"].values()) == pytest.approx(1.0)


def test_compare_page_shows_the_reference_values(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        main,
        ["compare", str(BASELINE), str(HIRE_THREE), "-n", "2", "--workers", "1", "--quiet",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (out / "compare.html").read_text(encoding="utf-8")
    table = html[html.index('id="changed-table"') :]
    table = table[: table.index("</table>")]
    rows = {
        cells[0]: cells[1:]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)
        )
        if cells
    }
    assert "default" not in table
    assert rows["target.rep_quota"][0] == "1,453,333.33"
    assert rows["reps.members"][0].startswith("15: rep01")


# --------------------------------------------------------------------------- print
def test_both_pages_print_on_a4_without_forced_breaks() -> None:
    for css in (CSS, optimise_report.CSS):
        assert re.search(r"@page\s*\{[^}]*size:\s*A4", css), css[:80]
    assert "break-after: page" not in CSS and "page-break-after: always" not in CSS
    # sections flow across pages: only what must stay whole (a chart with its heading, a
    # figure, a table row) avoids a break inside, never every section
    for rule in re.findall(r"([^{}]+)\{[^}]*break-inside:\s*avoid", CSS):
        selectors = [sel.strip() for sel in rule.split(",")]
        assert "section" not in selectors, rule


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium (apt-get install chromium)")
def test_run_report_prints_on_a4_without_half_empty_pages(tmp_path: Path) -> None:
    out = tmp_path / "baseline"
    res = CliRunner().invoke(
        main,
        ["run", str(BASELINE), "-n", "20", "--seed", "5", "--workers", "1", "--quiet",
         "--out", str(out), "--catalogue", str(tmp_path / "runs.sqlite")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = out / "report.html"
    pdf = capture(report, pdf=True).pdf
    assert pdf is not None
    boxes = set(re.findall(rb"/MediaBox\s*\[([^\]]+)\]", pdf))
    assert boxes and all(_is_a4(b) for b in boxes), boxes
    # The same page with every break rule lifted packs content as tightly as it goes; the
    # report's own rules (keep a chart with its heading, rows whole) may cost at most a page.
    loose = tmp_path / "loose.html"
    lift = (
        "@media print { * { break-before: auto !important; break-after: auto !important;"
        " break-inside: auto !important; page-break-before: auto !important;"
        " page-break-after: auto !important; page-break-inside: auto !important; } }"
    )
    loose.write_text(report.read_text(encoding="utf-8").replace("</style>", lift + "</style>"))
    loose_pdf = capture(loose, pdf=True).pdf
    assert loose_pdf is not None
    assert _pages(pdf) <= _pages(loose_pdf) + 1, (_pages(pdf), _pages(loose_pdf))


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def _is_a4(box: bytes) -> bool:
    x0, y0, x1, y1 = (float(v) for v in box.split())
    return abs((x1 - x0) - 595.28) < 1.5 and abs((y1 - y0) - 841.89) < 1.5
