"""The ``pipesim scorecard`` page: past forecasts against what happened, and the verdict.

Built from the scorecard's plain summary (``scorecard.json``), so the report layer needs nothing
from the calibration package. Self-contained like the run report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipesim.report.charts.svg_scores import scorecard_svg
from pipesim.report.data import money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag, page, write_files

PAGE = "scorecard.html"


def verdict_text(card: dict[str, Any]) -> str:
    """The verdict with what it rests on, in words."""
    n = card["periods"]
    if not n:
        return "No recorded forecast's period has ended yet: nothing to score."
    cover = (
        f"the outcome fell in the forecast's P10-P90 band in {pct(card['coverage'])} of "
        f"{n} period{'s' if n != 1 else ''} (95% CI {pct(card['low'])}-{pct(card['high'])}; "
        "80% if calibrated)"
    )
    meaning = {
        "over-confident": "over-confident: the bands are too narrow",
        "under-confident": "under-confident: the bands are wider than they need be",
        "calibrated": (
            "calibrated as far as these periods can tell"
            if n >= 10
            else f"not shown to be miscalibrated, but {n} periods cannot tell much"
        ),
    }[card["verdict"]]
    return f"{cover}: {meaning}."


def build_scorecard_page(card: dict[str, Any], scenario: str) -> tuple[str, list[Chart]]:
    """The page's HTML and its chart."""
    runs = card["runs"]
    cur = runs[0]["currency"] if runs else ""
    charts: list[Chart] = []
    figure = ""
    if runs:
        chart = Chart(
            "scorecard",
            "Past forecasts against what happened",
            svg=scorecard_svg(
                [r["period_end"] for r in runs],
                [(r["p10"], r["p50"], r["p90"]) for r in runs],
                [r["realised"] for r in runs],
                [r["target"] for r in runs],
                cur,
            ),
        )
        charts.append(chart)
        figure = img_tag(chart, "Each forecast's P10-P90 band and median, the target and what "
                                "the period booked (diamond).")  # fmt: skip
    rows = [
        [
            f"{r['run']} ({r['short_id']})",
            f"{r['period_start']} – {r['period_end']}",
            money(r["target"], cur, 2),
            pct(r["p_target"]),
            f"{money(r['p10'], cur, 2)} / {money(r['p50'], cur, 2)} / {money(r['p90'], cur, 2)}",
            money(r["realised"], cur, 2),
            pct(r["percentile"]),
            "yes" if r["in_band"] else "no",
            f"{r['brier']:.3f}",
            money(r["crps"], cur, 2),
        ]
        for r in runs
    ]
    table = html_table(
        ["Run", "Period", "Target", "P(target)", "P10 / P50 / P90", "What happened",
         "Percentile", "In P10-P90", "Brier", "CRPS"],
        rows, numeric=(2, 3, 5, 6, 8, 9), id_="scorecard-table",
    )  # fmt: skip
    means = ""
    if runs:
        means = (
            f"Mean Brier score of P(target) {card['mean_brier']:.3f} (0 is perfect, 0.25 a coin "
            f"toss); mean CRPS {esc(money(card['mean_crps'], cur, 2))} (lower is better: the "
            "distribution's distance from what happened)."
        )
    body = f"""
<header class="top">
  <p class="kicker">Forecast scorecard · pipesim</p>
  <h1>{esc(scenario)}: how good have our forecasts been?</h1>
  <p class="meta">Recorded forecasts whose period ended by {esc(card["as_of"])}, against the
  bookings the CRM export shows won in each period.</p>
</header>
<section id="verdict">
  <h2>Verdict</h2>
  <p class="lead" id="scorecard-verdict">{esc(verdict_text(card))}</p>
  <p>{means}</p>
  {figure}
</section>
<section id="runs">
  <h2>Forecast by forecast</h2>
  {table}
  <p class="note">Percentile: the share of the forecast's simulated periods below what happened
  (uniform across many periods when the forecasts are calibrated). Left out:
  {esc("; ".join(card["skipped"]) or "none")}.</p>
</section>
<footer>Made by pipesim scorecard.</footer>"""
    return page(f"{scenario}: forecast scorecard", body), charts


def write_scorecard_page(folder: Path, card: dict[str, Any], scenario: str) -> Path:
    """Write ``scorecard.html`` (and its chart under ``charts/``) into ``folder``."""
    html, charts = build_scorecard_page(card, scenario)
    return write_files(folder, html, charts, PAGE)
