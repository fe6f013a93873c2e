"""The page of ``optimise --objective max-p-target | cvar``: the plan beside the max-margin one.

Built from the plan's JSON (``risk.json``) and the out-of-sample revenue per replication, so the
report layer needs nothing from the optimiser. Self-contained (inline SVG, no requests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipesim.report.charts import svg
from pipesim.report.data import money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag, page, write_files

PAGE = "risk.html"
_LABELS = {"today": "today", "plan": "", "max_margin": "max-margin"}


def _ci(block: Mapping[str, Any], fmt: Any) -> str:
    low, high = block.get("ci_low"), block.get("ci_high")
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{fmt(block['estimate'])} (interval: too few replications)"
    return f"{fmt(block['estimate'])} ({fmt(low)} to {fmt(high)})"


def build_risk_page(
    data: Mapping[str, Any], revenue: Mapping[str, np.ndarray]
) -> tuple[str, list[Chart]]:
    """The page's HTML and its charts (one exceedance curve per plan)."""
    cur = data["currency"]
    target = data["target"]
    objective = data["objective"]
    labels = {**_LABELS, "plan": objective}

    def m(x: float) -> str:
        return money(x, cur, 2)

    def p1(x: float) -> str:
        return pct(x, 1)

    rows = []
    for key in ("today", "plan", "max_margin"):
        c = data["checks"][key]
        rows.append(
            [
                labels[key],
                _ci(c["p_target"], p1),
                _ci(c["p10"], m),
                _ci(c["margin_mean"], m),
                m(c["margin_cvar"]),
                c["resolution"] if key == "plan" else "",
            ]
        )
    table = html_table(
        ["Plan", "P(target) (95% CI)", "P10 revenue (95% CI)", "Expected margin (95% CI)",
         f"CVaR of margin, worst {data['alpha']:.0%}", "Against the confidence"],
        rows, numeric=(1, 2, 3, 4), id_="risk-table",
    )  # fmt: skip
    diffs = data["paired_plan_minus_max_margin"]

    def pp(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:+.1f} pp"

    def dm(x: float | None) -> str:
        return "n/a" if x is None else m(x)

    d_p, d_m = diffs["p_target"], diffs["margin"]
    paired = (
        f"Paired on the same {data['check_replications']:,} seeds, {esc(objective)} minus "
        f"max-margin: P(target) <strong>{esc(pp(d_p['estimate']))}</strong> (95% CI "
        f"{esc(pp(d_p['ci_low']))} to {esc(pp(d_p['ci_high']))}), expected margin "
        f"{esc(dm(d_m['estimate']))} ({esc(dm(d_m['ci_low']))} to {esc(dm(d_m['ci_high']))})."
    )
    levels = []
    for key, new in data["plan"]["levels"].items():
        old = data["max_margin"]["levels"].get(key, new)
        levels.append([key, f"{new:.4g}", f"{old:.4g}"])
    lever_table = html_table(
        ["Lever", objective, "max-margin"], levels, numeric=(1, 2), id_="lever-table"
    )
    charts = []
    figures = []
    for key in ("plan", "max_margin", "today"):
        if key not in revenue or np.asarray(revenue[key]).size == 0:
            continue
        chart = Chart(
            f"risk_exceedance_{key}",
            f"Revenue exceedance, {labels[key]}",
            svg=svg.exceedance_svg(
                revenue[key],
                target,
                cur,
                confidence=data["confidence"],
                chart_id=f"risk-{key}",
            ),
        )
        charts.append(chart)
        figures.append(img_tag(chart, f"P(revenue at least x), {esc(labels[key])}, out of sample."))
    milp = data["milp"]
    binding = "".join(f"<li>{esc(b['key'])}: {esc(b['text'])}</li>" for b in data["binding"])
    in_sample = (
        f"On the {data['sample_replications']:,} replications the plans were chosen on, "
        f"P(target) is {esc(p1(data['plan']['in_sample_p_target']))} ({esc(objective)}) and "
        f"{esc(p1(data['max_margin']['in_sample_p_target']))} (max-margin): a plan chosen on a "
        "sample looks better on it than on other seeds, which is why the table above is out of "
        "sample."
    )
    note = data["max_margin"].get("note") or ""
    body = f"""
<header class="top">
  <p class="kicker">Risk-aware plan · pipesim Monte Carlo</p>
  <h1>{esc(data["scenario"])}: {esc(objective)} against max-margin</h1>
  <p class="meta">Target {esc(m(target))}, confidence {esc(pct(data["confidence"], 0))}.
  Chosen on {data["sample_replications"]:,} replications per lever level (seed {data["seed"]},
  common random numbers); checked on {data["check_replications"]:,} other seeds (replications
  {data["check_first_replication"]:,} on).</p>
</header>
<section id="answer">
  <h2>Out of sample</h2>
  {table}
  <p class="lead" id="paired">{paired}</p>
  <p>{in_sample}</p>
  <p class="note">{esc(note)}</p>
</section>
<section id="levers">
  <h2>The two plans</h2>
  {lever_table}
  <p class="note">MILP: {milp["variables"]:,} variables ({milp["binaries"]:,} binary),
  {milp["constraints"]:,} constraints, solved in {milp["solve_s"]:.1f} s.
  Constraints tight at the plan:</p>
  <ul id="binding">{binding}</ul>
</section>
<section id="charts">
  <h2>Revenue exceedance</h2>
  {"".join(figures)}
</section>
<footer>Made by pipesim optimise. Every figure is a statistic over simulated periods of the
same scenario; the interval is the Monte Carlo uncertainty, not that of the model's
assumptions.</footer>"""
    return page(f"{data['scenario']}: {objective} plan", body), charts


def write_risk_page(folder: Path, data: Mapping[str, Any], revenue: Mapping[str, Any]) -> Path:
    """Write ``risk.html`` (and its charts under ``charts/``) into ``folder``."""
    html, charts = build_risk_page(data, revenue)
    return write_files(folder, html, charts, PAGE)
