"""The executive run report: one self-contained ``report.html`` that leads with the answer.

:func:`build_run_report` draws the run's charts as inline SVG (:mod:`pipesim.report.charts.svg`,
no plotting library, so a run's report takes milliseconds) and assembles the sections in reading
order: the answer (:mod:`pipesim.report.answer`), what drives it (:mod:`pipesim.report.drivers`),
how the forecast moved and what it rests on (:mod:`pipesim.report.context`), all inside the page
shell of :mod:`pipesim.report.page`. The same charts are written beside it as ``charts/*.svg``;
with ``png=True`` (``pipesim report DIR --png``) also as matplotlib PNGs, ``charts/*.png``.
Elements the tests read have stable ids: ``headline-p`` (the percentage, with the exact value in
``data-p``), ``headline-text``, and one ``section`` per part (``headline``, ``scenarios``,
``exceedance``, ``distribution``, ``bookings``, ``outcomes``, ``reps``, ``drift``,
``assumptions``; ``deals`` and ``indicators`` when the run had an open pipeline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipesim.report import charts
from pipesim.report.answer import (
    bookings_section,
    distribution_section,
    exceedance_section,
    headline_section,
    scenarios_section,
)
from pipesim.report.charts import svg
from pipesim.report.charts.numbers import attainment_samples, shares_by_group
from pipesim.report.context import assumptions_section, drift_records, drift_section
from pipesim.report.data import RunData, day_text, load_run, money
from pipesim.report.drivers import deals_section, indicators_section, outcomes_section, reps_section
from pipesim.report.page import CHART_DIR, Chart, esc, page, render_chart, write_files
from pipesim.report.teams import team_chart, teams_section
from pipesim.runs.records import saved_settings

REPORT_FILE = "report.html"


def _run_meta(data: RunData) -> str:
    s = data.summary
    date = day_text(data.run_date) if data.run_date else "date unknown"
    return (
        f"Scenario <strong>{esc(data.name)}</strong> · {s['replications']:,} simulated "
        f"{esc(data.period)}s (replications) · seed {esc(s['seed'])} · run {date} · pipesim "
        f"{esc(s.get('pipesim_version', '?'))}"
    )


CHART_ALT: dict[str, str] = {
    "exceedance": "Chance of reaching at least each revenue level",
    "revenue_distribution": "Histogram of simulated revenue",
    "bookings_fan": "Cumulative bookings fan chart",
    "outcomes": "Where leads end, overall and per segment",
    "funnel": "Stage funnel of pursued opportunities",
    "rep_attainment": "Quota attainment per rep seat",
    "forecast_drift": "P(target) and revenue forecast of each recorded run over time",
}
"""Each run-report chart's name (its id ``chart-<name>`` and file stem) and alt text."""


def run_charts(data: RunData) -> list[Chart]:
    """Draw every chart of the run report as SVG (the drift chart is drawn by the report)."""
    cur, target, period = data.currency, data.target, data.period
    revenue = data.table["revenue"].to_numpy(float)
    q = charts.bookings_quantiles(data.bookings)
    f = charts.funnel_counts(data.table)
    drawn = {
        "exceedance": svg.exceedance_svg(revenue, target, cur, period=period),
        "revenue_distribution": svg.histogram_svg(revenue, target, cur, period=period),
        "bookings_fan": svg.fan_svg(
            q.index.to_numpy(float), {c: q[c].to_numpy(float) for c in q.columns}, target, cur,
            data.horizon_weeks, start_date=data.start_date, period=period,
        ),
        "outcomes": svg.outcomes_svg(
            shares_by_group(charts.outcome_shares(data.table, data.segments)), period=period
        ),
        "funnel": svg.funnel_svg(list(f["step"]), f["mean"].to_numpy(float), period=period),
        "rep_attainment": svg.attainment_svg(attainment_samples(data.reps)),
    }  # fmt: skip
    return [Chart(name, CHART_ALT[name], svg=text) for name, text in drawn.items()]


def run_chart_pngs(
    data: RunData, drift_runs: Any = None, drift_title: str = "", dpi: int = 150
) -> list[Chart]:
    """The run report's charts as matplotlib PNGs, for ``charts/*.png`` (slides, documents).

    Slower than the SVG charts by about a second and a half (matplotlib's import and rendering),
    so only on request: ``pipesim report DIR --png``.
    """
    # lazy: start-up speed (matplotlib costs about half a second; only PNG files need it)
    from pipesim.report.drift import drift_figure

    cur, target, period = data.currency, data.target, data.period
    figures = [
        ("exceedance", charts.exceedance_chart(data.table, target, cur)),
        ("revenue_distribution", charts.revenue_histogram(data.table, target, cur, period=period)),
        ("bookings_fan", charts.bookings_fan_chart(data.bookings, target, cur, data.horizon_weeks,
                                                   start_date=data.start_date, period=period)),
        ("outcomes", charts.outcome_chart(data.table, data.segments, period=period)),
        ("funnel", charts.funnel_chart(data.table, period=period)),
        ("rep_attainment", charts.attainment_chart(data.reps)),
    ]  # fmt: skip
    if drift_runs is not None:
        figures.append(("forecast_drift", drift_figure(drift_runs, title=drift_title)))
    return [render_chart(name, CHART_ALT[name], fig, dpi) for name, fig in figures]


def build_run_report(
    data: RunData, dpi: int = 150, *, png: bool = False
) -> tuple[str, list[Chart]]:
    """The report's HTML text and its charts.

    Parameters
    ----------
    data
        A finished run (:func:`pipesim.report.data.load_run`).
    dpi
        Resolution of the PNG charts (with ``png``).
    png
        Also render the charts as matplotlib PNGs (returned after the SVG charts).
    """
    if not len(data.table):
        raise ValueError("the run has no finished replications; nothing to report")
    ch = {c.name: c for c in run_charts(data)}
    team = team_chart(data)
    if team is not None:
        ch[team.name] = team
    drift_runs, drift_note = drift_records(data)
    what_if = saved_settings(data.folder)[0].label()
    drift_chart = None
    drift_title = (
        f"{data.name} ({what_if}): run by run"
        if what_if
        else f"{data.name}: the forecast run by run"
    )
    if drift_runs is not None:
        drift_chart = Chart(
            "forecast_drift", CHART_ALT["forecast_drift"],
            svg=svg.drift_svg(drift_runs, title=drift_title),
        )  # fmt: skip
        ch[drift_chart.name] = drift_chart
    banner = ""
    if data.summary.get("partial"):
        banner = (
            '<p class="banner">Interrupted run: '
            f"{data.summary['replications']} of {data.summary.get('replications_requested', '?')}"
            " requested replications finished; figures use those only.</p>"
        )
    header = f"""
<header class="top">
  <p class="kicker">{"What-if" if what_if else "Sales forecast"} · pipesim Monte Carlo</p>
  <h1>{esc(data.name)}: will we reach {esc(money(data.target, data.currency))}?</h1>
  <p class="meta" id="run-meta">{_run_meta(data)}</p>
</header>{banner}"""
    body = "".join(
        [
            header,
            headline_section(data),
            scenarios_section(data),
            exceedance_section(data, ch["exceedance"]),
            distribution_section(data, ch["revenue_distribution"]),
            bookings_section(data, ch["bookings_fan"]),
            deals_section(data),
            indicators_section(data),
            outcomes_section(data, ch["outcomes"], ch["funnel"]),
            reps_section(data, ch["rep_attainment"]),
            teams_section(data, team),
            drift_section(data, drift_chart, drift_note),
            assumptions_section(data),
            "<footer>Made by pipesim from the run's saved results; rebuild with "
            f"<code>pipesim report {esc(data.folder or 'DIR')}</code>. Every figure is a "
            f"statistic over simulated {esc(data.period)}s of the same scenario; the interval is "
            "the Monte Carlo uncertainty of the estimate, not of the model's assumptions.</footer>",
        ]
    )
    chart_list = list(ch.values())
    if png:
        chart_list += run_chart_pngs(data, drift_runs, drift_title, dpi)
    return page(f"{data.name}: sales forecast", body), chart_list


def write_run_report(
    folder: str | Path, data: RunData | None = None, dpi: int = 150, *, png: bool = False
) -> Path:
    """Write ``report.html`` and ``charts/*.svg`` (``png``: also ``*.png``) for a run's folder.

    A chart file of an earlier report in the same folder that this one does not write (a PNG
    without ``png``, the drift chart of a run that has none now) is removed, so ``charts/``
    never holds a chart of another run.

    Parameters
    ----------
    folder
        Run folder (read with :func:`load_run` when ``data`` is None).
    data
        The run, if already in memory.
    dpi
        Resolution of the PNG charts.
    png
        Also write the charts as matplotlib PNGs (about a second and a half more).

    Returns
    -------
    pathlib.Path
        Path of the written ``report.html``.
    """
    folder = Path(folder)
    data = data if data is not None else load_run(folder)
    text, chart_list = build_run_report(data, dpi, png=png)
    written = {c.file_name for c in chart_list}
    for stale in (f"{name}.{ext}" for name in CHART_ALT for ext in ("svg", "png")):
        if stale not in written:
            (folder / CHART_DIR / stale).unlink(missing_ok=True)
    return write_files(folder, text, chart_list, REPORT_FILE)
