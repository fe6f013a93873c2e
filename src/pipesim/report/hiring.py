"""The ``pipesim hiring`` page: the schedule, P(target) with and without it, effective headcount.

Built from ``hiring.json`` alone, so the report layer needs nothing from the optimiser.
Self-contained (inline SVG, no requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipesim.report.data import money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag, page, write_files

PAGE = "hiring.html"


def _p(block: Mapping[str, Any]) -> str:
    p = block["p_target"]
    return f"{pct(p['estimate'], 1)} ({pct(p['ci_low'], 1)}-{pct(p['ci_high'], 1)})"


def headcount_svg(rows: Sequence[Mapping[str, Any]], period_end_month: float) -> str:
    """Effective headcount by month: deterministic with and without the plan, and simulated."""
    width, height, left, right, top, bottom = 720.0, 300.0, 50.0, 160.0, 20.0, 40.0
    months = len(rows)
    series = {
        "with the plan (deterministic)": ("effective_headcount", "#1f77b4", ""),
        "without it (deterministic)": ("effective_headcount_without_plan", "#999999", "4 3"),
        "with the plan (simulated)": ("simulated_effective_headcount", "#d62728", "2 2"),
    }
    values = [
        float(r[key]) for r in rows for key, _, _ in series.values() if r.get(key) is not None
    ]
    hi = max(values, default=1.0) * 1.1
    lo = min(values, default=0.0) * 0.9

    def x(m: float) -> float:
        return left + (width - left - right) * (m + 0.5) / max(months, 1)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo if hi > lo else 1))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        'role="img" aria-label="Effective headcount by month">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#333"/>',
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{v:.1f}</text>"
        )
    for m in range(0, months, max(1, months // 9)):
        parts.append(
            f'<text x="{x(m):.1f}" y="{height - bottom + 16}" font-size="11" '
            f'text-anchor="middle">{m}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" font-size="11" '
        'text-anchor="middle">month of the plan</text>'
    )
    end = x(period_end_month - 0.5)
    parts.append(
        f'<line x1="{end:.1f}" y1="{top}" x2="{end:.1f}" y2="{height - bottom}" '
        'stroke="#555" stroke-dasharray="1 3"/>'
    )
    for k, (label, (key, colour, dash)) in enumerate(series.items()):
        pts = [(x(r["month"]), y(float(r[key]))) for r in rows if r.get(key) is not None]
        if not pts:
            continue
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/>'
        )
        ly = top + 16 * k + 8
        parts.append(
            f'<line x1="{width - right + 8}" y1="{ly}" x2="{width - right + 28}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
            f'<text x="{width - right + 32}" y="{ly + 4}" font-size="10">{esc(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def build_hiring_page(data: Mapping[str, Any]) -> tuple[str, list[Chart]]:
    """The page's HTML and its chart."""
    cur = data["currency"]
    conf = data["confidence"]
    chart = Chart(
        "hiring_headcount",
        "Effective headcount by month",
        svg=headcount_svg(data["headcount"], data["period"]["end_month"]),
    )
    hires = html_table(
        ["Hire", "Month", "Starts", "Salary to the horizon's end", "Recruiting"],
        [
            [h["name"], h["month"], h["start_date"], money(h["salary_cost"], cur, 2),
             money(h["recruiting_cost"], cur, 2)]
            for h in data["hires"]
        ],
        numeric=(1, 3, 4), id_="hire-table",
    )  # fmt: skip
    months = html_table(
        ["Month", "Hires", "Reps in seat (expected)", "Effective headcount",
         "Without the plan", "Simulated"],
        [
            [r["month"], r["hires"], f"{r['headcount']:.2f}", f"{r['effective_headcount']:.2f}",
             f"{r['effective_headcount_without_plan']:.2f}",
             "" if r["simulated_effective_headcount"] is None
             else f"{r['simulated_effective_headcount']:.2f}"]
            for r in data["headcount"]
        ],
        numeric=(0, 1, 2, 3, 4, 5), id_="headcount-table",
    )  # fmt: skip
    removed = "".join(
        f"<li>one hire of month {e['removed_month']} fewer: P(target) {esc(_p(e))}</li>"
        for e in data["without_one_hire"]
    )
    with_plan, without = data["with_plan"], data["without_plan"]
    total = sum(h["salary_cost"] + h["recruiting_cost"] for h in data["hires"])
    period = data["period"]
    body = f"""
<header class="top">
  <p class="kicker">Hiring plan · pipesim Monte Carlo</p>
  <h1>{esc(data["scenario"])}: {len(data["hires"])} hires for a {pct(conf, 0)} chance</h1>
  <p class="meta">Target {esc(money(period["revenue"], cur, 2))} over weeks
  {period["start_week"]:g}-{period["end_week"]:g} from {esc(period["start_date"])}; hiring
  horizon {data["horizon_months"]} months, at most {data["max_hires_per_month"]} hires a month;
  {data["replications"]:,} replications per schedule (seed {data["seed"]}, common random
  numbers), {data["schedules_simulated"]} schedules simulated.</p>
</header>
<section id="answer">
  <h2>P(target)</h2>
  <p class="lead" id="p-target">With the plan <strong>{esc(_p(with_plan))}</strong>, without it
  {esc(_p(without))} (95% intervals). {esc(with_plan["resolution"])}.</p>
  <p>Cost of the plan: {esc(money(total, cur, 2))} (salaries from each start to the horizon's end
  at {esc(money(data["salary_per_week"], cur, 2))} a week, recruiting
  {esc(money(data["cost_per_hire"], cur, 2))} a hire: {esc(data["cost_per_hire_source"])}).</p>
  <p>Each hire removed in turn ({
        "the plan is minimal"
        if data["minimal"]
        else "the plan is not minimal: a schedule with one hire fewer still reaches the confidence"
    }):</p>
  <ul id="without-one">{removed}</ul>
</section>
<section id="hires">
  <h2>The hires</h2>
  {hires}
  <p class="note">Apply with <code>pipesim run SCENARIO --plan plan.yaml</code>.</p>
</section>
<section id="headcount">
  <h2>Effective headcount</h2>
  {
        img_tag(
            chart,
            "Expected sum of the reps' productivity (ramp, attrition, backfill) by month; "
            "the dotted line is the target period's end.",
        )
    }
  {months}
  <p class="note">Deterministic: each seat's expected productivity week by week with the
  ramp-up, the attrition hazard and the backfill delay as expected values (capacity-planning
  practice). Simulated: the same seats in the engine's replications (within the simulated
  horizon).</p>
</section>
<footer>Made by pipesim hiring. Every figure is a statistic over simulated periods of the
same scenario; the interval is the Monte Carlo uncertainty, not that of the model's
assumptions.</footer>"""
    return page(f"{data['scenario']}: hiring plan", body), [chart]


def write_hiring_page(folder: Path, data: Mapping[str, Any]) -> Path:
    """Write ``hiring.html`` (and its chart under ``charts/``) into ``folder``."""
    html, charts = build_hiring_page(data)
    return write_files(folder, html, charts, PAGE)
