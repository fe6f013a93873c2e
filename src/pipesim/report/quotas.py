"""The ``pipesim quotas`` page: each rep's quota and chance of making it, beside today's.

Built from the plan's JSON (``quotas.json``) and table (``quotas.csv``), so the report layer
needs nothing from the optimiser. Self-contained like the run report (inline SVG, no requests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipesim.report.charts import svg
from pipesim.report.data import money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag, page, write_files

PAGE = "quotas.html"


def _ci(low: float, high: float) -> str:
    return f"{pct(low, 1)}-{pct(high, 1)}"


def build_quotas_page(
    plan: dict[str, Any], table: pd.DataFrame, currency: str
) -> tuple[str, list[Chart]]:
    """The page's HTML and its chart."""
    reps = [str(r) for r in table["rep"]]
    chart = Chart(
        "quota_chances",
        "Chance of making quota per rep, equal-chance and today's quotas",
        svg=svg.quota_chances_svg(
            reps,
            {
                "equal-chance quotas": (
                    table["p_quota"].tolist(),
                    table["p_quota_low"].tolist(),
                    table["p_quota_high"].tolist(),
                ),
                "today's quotas": (
                    table["today_p_quota"].tolist(),
                    table["today_p_quota_low"].tolist(),
                    table["today_p_quota_high"].tolist(),
                ),
            },
        ),
    )
    rows = [
        [
            r.rep,
            r.team,
            money(r.quota, currency, 2),
            f"{pct(r.p_quota, 1)} ({_ci(r.p_quota_low, r.p_quota_high)})",
            money(r.today_quota, currency, 2),
            f"{pct(r.today_p_quota, 1)} ({_ci(r.today_p_quota_low, r.today_p_quota_high)})",
            money(r.mean_bookings, currency, 2),
            f"{r.territory_leads:,.0f}",
            f"{r.new_opportunities_per_week:.2f} / {r.today_new_opportunities_per_week:.2f}",
        ]
        for r in table.itertuples(index=False)
    ]
    rep_table = html_table(
        ["Rep", "Team", "Quota", "P(quota) (95% CI)", "Today's quota", "P(quota) today",
         "Mean bookings", "Leads it can work", "New opportunities a week: making it / today"],
        rows, numeric=(2, 3, 4, 5, 6, 7, 8), id_="quota-table",
    )  # fmt: skip
    n = plan["replications_set"]
    spread, today, noise = plan["spread"], plan["today_spread"], plan["noise_spread"]
    verdict = (
        "within what the check's sampling gives reps with exactly equal chances"
        if spread <= noise
        else "wider than the check's sampling alone explains (the quotas are estimated "
        "quantiles too): more replications (-n) narrow it"
    )
    fairness = plan.get("fairness")
    today_fair = plan.get("today_fairness")
    if fairness and today_fair:
        size = (
            f"Across reps, P(quota) correlates with territory size (the leads a rep can work) "
            f"at {fairness[0]:+.2f} (95% CI {fairness[1]:+.2f} to {fairness[2]:+.2f}) with these "
            f"quotas and {today_fair[0]:+.2f} ({today_fair[1]:+.2f} to {today_fair[2]:+.2f}) "
            "with today's."
        )
    else:
        size = (
            "Every rep works the same leads (no territories), so no quota follows territory size."
        )
    caption = "Each rep's chance of making quota on the check replications, with its 95% interval."
    body = f"""
<header class="top">
  <p class="kicker">Quota plan · pipesim Monte Carlo</p>
  <h1>{esc(plan["scenario"])}: quotas with the same chance for every rep</h1>
  <p class="meta">Quotas add up to {esc(money(plan["total"], currency))}
  ({esc(money(plan["target"], currency))} plus {plan["over_assign"]:.0%} over-assignment).
  Set on {n:,} replications, checked on {n:,} others (seed {plan["seed"]}).</p>
</header>
<section id="answer">
  <h2>How equal the chances are</h2>
  <p class="lead" id="quota-spread">Between the likeliest and the least likely rep:
  <strong>{esc(pct(spread, 1))}</strong> with these quotas, {esc(pct(today, 1))} with today's.
  The check's {n:,} replications alone give reps with equal chances a spread up to
  {esc(pct(noise, 1))} (95%): {esc(verdict)}.</p>
  <p>{esc(size)}</p>
  {img_tag(chart, caption)}
</section>
<section id="reps">
  <h2>Quota per rep</h2>
  {rep_table}
  <p class="note">A quota is each rep's bookings quantile at one common chance on the setting
  replications; the chances shown are measured on the other replications. New opportunities a
  week: the median the rep opened in the setting replications where it made the quota, and its
  mean today (the open pipeline not counted). Apply the quotas with
  <code>pipesim run SCENARIO --plan plan.yaml</code>.</p>
</section>
<footer>Made by pipesim quotas. Every figure is a statistic over simulated periods of the
same scenario; the interval is the Monte Carlo uncertainty, not that of the model's
assumptions.</footer>"""
    return page(f"{plan['scenario']}: quotas", body), [chart]


def write_quotas_page(
    folder: Path, plan: dict[str, Any], table: pd.DataFrame, currency: str
) -> Path:
    """Write ``quotas.html`` (and its chart under ``charts/``) into ``folder``."""
    html, charts = build_quotas_page(plan, table, currency)
    return write_files(folder, html, charts, PAGE)
