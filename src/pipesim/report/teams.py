"""The run report's "Teams and regions" section: every level's forecast from the same runs.

Shown when the scenario has ``teams``. Each team's figures come from summary.json's ``levels``
(:func:`pipesim.results.statistics.team_levels`) and its chart from the ``team_<name>_revenue``
columns of replications.csv: bookings against the team's target, replication by replication.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipesim.report.charts import svg
from pipesim.report.data import RunData, money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag

CHART_NAME = "team_attainment"
CHART_ALT = "Bookings against target per team and region"


def _depth(levels: list[dict[str, Any]], name: str) -> int:
    parent = {lv["team"]: lv["parent"] for lv in levels}
    depth, at = 0, parent.get(name)
    while at is not None and depth < len(levels):
        depth, at = depth + 1, parent.get(at)
    return depth


def _tree_order(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top-level teams first, each followed by the teams under it (depth first)."""
    by_parent: dict[Any, list[dict[str, Any]]] = {}
    for lv in levels:
        by_parent.setdefault(lv["parent"], []).append(lv)
    out: list[dict[str, Any]] = []

    def walk(parent: Any) -> None:
        for lv in by_parent.get(parent, []):
            out.append(lv)
            if len(out) <= len(levels):
                walk(lv["team"])

    walk(None)
    return out


def team_chart(data: RunData) -> Chart | None:
    """Box plots of each team's bookings over its target (teams with a target), or None."""
    levels = data.summary.get("levels") or []
    samples = []
    for lv in _tree_order(levels):
        column = f"team_{lv['team']}_revenue"
        if lv.get("target") and column in data.table.columns:
            values = data.table[column].to_numpy(float) / float(lv["target"])
            samples.append((str(lv["team"]), values))
    if not samples:
        return None
    drawn = svg.attainment_svg(
        samples, chart_id=CHART_NAME, unit="team", measure="Bookings / target",
        line="target (100%)", order="each region before its teams",
    )  # fmt: skip
    return Chart(CHART_NAME, CHART_ALT, svg=drawn)


def teams_section(data: RunData, chart: Chart | None) -> str:
    """The levels as a table (and chart); empty when the scenario has no teams."""
    levels = data.summary.get("levels") or []
    if not levels:
        return ""
    cur = data.currency
    rows = []
    for lv in _tree_order(levels):
        indent = "\u2003" * _depth(levels, lv["team"])
        p = lv.get("p_target")
        chance = (
            f"{pct(p['estimate'])} ({pct(p['ci_low'])}-{pct(p['ci_high'])})" if p else "no target"
        )
        share = lv.get("gap_share")
        rev = lv["revenue"]
        rows.append(
            [
                f"{indent}{lv['team']}",
                len(lv["reps"]),
                money(lv["target"], cur) if lv.get("target") else "",
                chance,
                money(rev["p10"], cur),
                money(rev["p50"], cur),
                money(rev["p90"], cur),
                pct(share) if share is not None else "",
            ]
        )
    table = html_table(
        ["Team", "Reps", "Target", "P(target) (95% CI)", "Commit (P10)", "Most likely (P50)",
         "Best case (P90)", "Share of the company's gap"],
        rows, numeric=(1, 2, 3, 4, 5, 6, 7), id_="teams-table",
    )  # fmt: skip
    top = [lv for lv in levels if lv["parent"] is None]
    company = float(np.sum([lv["revenue"]["mean"] for lv in top]))
    gap_note = (
        "The share of the company's gap is the team's target minus its mean bookings over the "
        "company's target minus its mean revenue (negative: the team is ahead of its target); "
        "it is left empty when the company is expected to reach its target."
    )
    figure = (
        img_tag(
            chart,
            "Each team's bookings over its target across simulated "
            f"{esc(data.period)}s: box P25-P75, whiskers P10-P90, the dashed line its target.",
        )
        if chart is not None
        else ""
    )
    return f"""
<section id="teams" class="chart">
  <h2>Teams and regions</h2>
  <p class="lead">Every level from the same simulated {esc(data.period)}s: a region's bookings
  are its teams', the company's ({esc(money(company, cur))} on average) its top-level teams', in
  each {esc(data.period)}.</p>
  {table}
  {figure}
  <p class="note">{gap_note}</p>
</section>"""
