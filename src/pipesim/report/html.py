"""The executive run report: one self-contained ``report.html`` that leads with the answer.

:func:`build_run_report` renders the run's charts and assembles the sections in reading order:
the answer (:mod:`pipesim.report.answer`), what drives it (:mod:`pipesim.report.drivers`), how
the forecast moved and what it rests on (:mod:`pipesim.report.context`), all inside the page
shell of :mod:`pipesim.report.page`. The same PNGs are written beside it in ``charts/``.
Elements the tests read have stable ids: ``headline-p`` (the percentage, with the exact value in
``data-p``), ``headline-text``, and one ``section`` per part (``headline``, ``scenarios``,
``exceedance``, ``distribution``, ``bookings``, ``outcomes``, ``reps``, ``drift``,
``assumptions``; ``deals`` and ``indicators`` when the run had an open pipeline).
"""

from __future__ import annotations

from pathlib import Path

from pipesim.report import charts
from pipesim.report.answer import (
    bookings_section,
    distribution_section,
    exceedance_section,
    headline_section,
    scenarios_section,
)
from pipesim.report.context import assumptions_section, drift_records, drift_section
from pipesim.report.data import RunData, day_text, load_run, money
from pipesim.report.drift import drift_figure
from pipesim.report.drivers import deals_section, indicators_section, outcomes_section, reps_section
from pipesim.report.page import Chart, esc, page, render_chart, write_files
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


def run_charts(data: RunData, dpi: int = 150) -> list[Chart]:
    """Render every chart of the run report."""
    cur, target, period = data.currency, data.target, data.period
    figures = [
        ("exceedance", "Chance of reaching at least each revenue level",
         charts.exceedance_chart(data.table, target, cur)),
        ("revenue_distribution", "Histogram of simulated revenue",
         charts.revenue_histogram(data.table, target, cur, period=period)),
        ("bookings_fan", "Cumulative bookings fan chart",
         charts.bookings_fan_chart(data.bookings, target, cur, data.horizon_weeks,
                                   start_date=data.start_date, period=period)),
        ("outcomes", "Where leads end, overall and per segment",
         charts.outcome_chart(data.table, data.segments, period=period)),
        ("funnel", "Stage funnel of pursued opportunities",
         charts.funnel_chart(data.table, period=period)),
        ("rep_attainment", "Quota attainment per rep seat", charts.attainment_chart(data.reps)),
    ]  # fmt: skip
    return [render_chart(name, alt, fig, dpi) for name, alt, fig in figures]


def build_run_report(data: RunData, dpi: int = 150) -> tuple[str, list[Chart]]:
    """The report's HTML text and its charts.

    Parameters
    ----------
    data
        A finished run (:func:`pipesim.report.data.load_run`).
    dpi
        Resolution of the embedded PNGs.
    """
    if not len(data.table):
        raise ValueError("the run has no finished replications; nothing to report")
    ch = {c.name: c for c in run_charts(data, dpi)}
    drift_runs, drift_note = drift_records(data)
    what_if = saved_settings(data.folder)[0].label()
    drift_chart = None
    if drift_runs is not None:
        drift_title = (
            f"{data.name} ({what_if}): run by run"
            if what_if
            else f"{data.name}: the forecast run by run"
        )
        drift_chart = render_chart(
            "forecast_drift",
            "P(target) and revenue forecast of each recorded run over time",
            drift_figure(drift_runs, title=drift_title),
            dpi,
        )
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
            drift_section(data, drift_chart, drift_note),
            assumptions_section(data),
            "<footer>Made by pipesim from the run's saved results; rebuild with "
            f"<code>pipesim report {esc(data.folder or 'DIR')}</code>. Every figure is a "
            f"statistic over simulated {esc(data.period)}s of the same scenario; the interval is "
            "the Monte Carlo uncertainty of the estimate, not of the model's assumptions.</footer>",
        ]
    )
    return page(f"{data.name}: sales forecast", body), list(ch.values())


def write_run_report(folder: str | Path, data: RunData | None = None, dpi: int = 150) -> Path:
    """Write ``report.html`` and ``charts/*.png`` for the run in ``folder``.

    Parameters
    ----------
    folder
        Run folder (read with :func:`load_run` when ``data`` is None).
    data
        The run, if already in memory.
    dpi
        Resolution of the charts.

    Returns
    -------
    pathlib.Path
        Path of the written ``report.html``.
    """
    folder = Path(folder)
    data = data if data is not None else load_run(folder)
    text, chart_list = build_run_report(data, dpi)
    return write_files(folder, text, chart_list, REPORT_FILE)
