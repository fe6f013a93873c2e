"""The optimiser's before/after page: ``optimise.html`` with its charts in ``charts/``.

Charts are stateless functions of tidy tables (a Figure out, no pyplot state); the page is one
self-contained HTML file (PNG charts embedded as base64, its own CSS, no scripts or links that
load anything).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.explain import group_bindings, more_text
from pipesim.optimise.plan import plan_table
from pipesim.optimise.problem import ACTIVITIES
from pipesim.optimise.result import OptimiseResult, conclusion
from pipesim.optimise.text import interval, money, money_interval, number, pct

PAGE = "optimise.html"
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999"]


def _need(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(missing)}")


def hours_chart(hours: pd.DataFrame) -> Figure:
    """Stacked bars of hours per rep per week by activity, one bar per plan and rep group.

    ``hours`` has columns ``plan``, ``group``, ``activity``, ``hours``.
    """
    _need(hours, ["plan", "group", "activity", "hours"], "hours_chart")
    wide = hours.pivot_table(
        index=["plan", "group"], columns="activity", values="hours", aggfunc="sum", sort=False
    ).fillna(0.0)
    acts = [a for a in ACTIVITIES if a in wide.columns and wide[a].abs().sum() > 1e-9]
    labels = [f"{p}\n{g}" if g != "team" else p for p, g in wide.index]
    fig = Figure(figsize=(9, 1.2 + 0.55 * len(labels)))
    ax = fig.add_subplot()
    left = np.zeros(len(labels))
    for k, a in enumerate(acts):
        vals = wide[a].to_numpy()
        ax.barh(labels, vals, left=left, color=COLORS[k % len(COLORS)], label=a.replace("_", " "))
        left += vals
    ax.invert_yaxis()
    ax.set_xlabel("hours per rep per week")
    ax.set_title("Where a rep's selling hours go, today and in the plan", loc="left")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def grouped_chart(data: pd.DataFrame, category: str, value: str, title: str, xlabel: str) -> Figure:
    """Bars of ``value`` per ``category``, today beside the plan (column ``plan``)."""
    _need(data, ["plan", category, value], "grouped_chart")
    wide = data.pivot_table(index=category, columns="plan", values=value, sort=False).fillna(0.0)
    cats = list(wide.index)
    plans = list(wide.columns)
    fig = Figure(figsize=(8, 0.9 + 0.45 * len(cats) * max(1, len(plans)) / 2))
    ax = fig.add_subplot()
    y = np.arange(len(cats))
    h = 0.8 / max(1, len(plans))
    for k, plan in enumerate(plans):
        ax.barh(y + k * h, wide[plan].to_numpy(), height=h, color=COLORS[k], label=plan)
    ax.set_yticks(y + h * (len(plans) - 1) / 2, cats)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def revenue_chart(runs: Mapping[str, np.ndarray], target: float, currency: str) -> Figure:
    """Exceedance curves P(revenue >= x) per run, with the target marked."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    for k, (label, rev) in enumerate(runs.items()):
        x = np.sort(np.asarray(rev, dtype=float)) / 1e6
        p = 1.0 - np.arange(x.size) / x.size
        ax.step(x, p, where="post", color=COLORS[k], label=label)
    ax.axvline(target / 1e6, color="#1d2327", linestyle="--", linewidth=1)
    ax.text(target / 1e6, 1.02, " target", fontsize=8, va="bottom")
    ax.set_xlabel(f"revenue over the horizon (M {currency})")
    ax.set_ylabel("P(revenue ≥ x)")
    ax.set_ylim(0, 1.08)
    ax.set_title("Chance of reaching each revenue, today and with the plan", loc="left")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def curves_chart(
    curves: Mapping[str, ResponseCurve], chosen: Mapping[str, float], currency: str
) -> Figure:
    """Small multiples of the response curves with their points, today and the plan's level."""
    keys = list(curves)
    cols = 3
    rows = max(1, (len(keys) + cols - 1) // cols)
    fig = Figure(figsize=(9, 2.5 * rows))
    for k, key in enumerate(keys):
        c = curves[key]
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot(c.levels, np.asarray(c.revenue) / 1e6, color=COLORS[0], marker=".")
        if c.points:
            px = [pt[0] for pt in c.points]
            py = [pt[1] / 1e6 for pt in c.points]
            pe = [1.96 * pt[2] / 1e6 for pt in c.points]
            ax.errorbar(px, py, yerr=pe, fmt="o", ms=3, color=COLORS[1], elinewidth=0.8)
        ax.axvline(c.today, color="#999999", linewidth=0.8, linestyle=":")
        if key in chosen:
            ax.axvline(chosen[key], color=COLORS[2], linewidth=1.2)
        ax.set_title(key.replace("leads.", "").replace(".budget_per_week", ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel(c.unit, fontsize=7)
        if k % cols == 0:
            ax.set_ylabel(f"Δ revenue (M {currency})", fontsize=7)
    fig.suptitle(
        "Response curves (line), pilot points with 95% intervals, today (dotted), plan (green)",
        fontsize=9,
        x=0.02,
        ha="left",
    )
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


CSS = """
body { margin: 0; color: #1d2327; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 26px 0 6px; }
.meta, .note { color: #5b6770; font-size: 13.5px; }
.hero { display: flex; gap: 24px; background: #f4f6f8; border-left: 8px solid #0072B2;
        padding: 14px 20px; align-items: center; flex-wrap: wrap; }
.hero .big { font-size: 44px; font-weight: 800; color: #0072B2; }
.hero .bad { color: #b84400; }
table { border-collapse: collapse; margin: 6px 0; font-size: 14px; }
th, td { border-bottom: 1px solid #d9dee2; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
pre { background: #f4f6f8; padding: 8px 12px; white-space: pre-wrap; font-size: 13px; }
.warn { background: #fff4e5; border-left: 8px solid #b84400; padding: 10px 16px;
        margin: 14px 0; white-space: pre-wrap; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  img, .hero, tr { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; break-inside: avoid; }
  thead { display: table-header-group; }
  img { max-height: 95mm; }
}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    idattr = f' id="{ident}"' if ident else ""
    return f"<table{idattr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def tidy_tables(result: OptimiseResult) -> dict[str, pd.DataFrame]:
    """Tidy tables of today's and the plan's allocation, for the charts."""
    p = result.problem
    assert result.final is not None
    tables = {"today": plan_table(p, result.today), "plan": plan_table(p, result.final.solution)}
    hours, segs, spend, outbound = [], [], [], []
    for label, t in tables.items():
        reps = t[t["kind"] == "rep"]
        first = reps.drop_duplicates(["group", "segment"])
        for _, r in first[first["segment"] == "all"].iterrows():
            for a in ACTIVITIES:
                hours.append(
                    {"plan": label, "group": r["group"], "activity": a, "hours": r[f"{a}_hours"]}
                )
        per_seg = reps[reps["segment"] != "all"].groupby("segment", sort=False)
        for seg, block in per_seg:
            segs.append({"plan": label, "segment": seg, "hours": block["total_hours"].mean()})
            outbound.append(
                {
                    "plan": label,
                    "segment": seg,
                    "opportunities": block["outbound_opportunities_per_week"].mean(),
                }
            )
        for _, r in t[t["kind"] == "campaign"].iterrows():
            spend.append({"plan": label, "campaign": r["name"], "spend": r["spend_per_week"]})
    return {
        "hours": pd.DataFrame(hours),
        "segments": pd.DataFrame(segs),
        "spend": pd.DataFrame(spend),
        "outbound": pd.DataFrame(outbound),
    }


def write_report(result: OptimiseResult, scenario_path: Path) -> Path:
    """Write ``optimise.html`` and ``charts/*.png`` into the result's folder."""
    out = result.out
    final = result.final
    assert out is not None and final is not None
    p = result.problem
    cur = p.currency
    s = final.solution
    tidy = tidy_tables(result)
    figs: dict[str, Figure] = {
        "revenue": revenue_chart(
            {"today": result.before.revenue, f"plan {final.index}": final.check.revenue},
            p.target_revenue,
            cur,
        ),
        "hours": hours_chart(tidy["hours"]),
        "segments": grouped_chart(
            tidy["segments"],
            "segment",
            "hours",
            "Selling hours per rep per week by segment",
            "hours per rep per week",
        ),
        "outbound": grouped_chart(
            tidy["outbound"],
            "segment",
            "opportunities",
            "Outbound opportunities each rep opens per week",
            "opportunities per rep per week",
        ),
        "curves": curves_chart(result.curves, s.levels, cur),
    }
    if not tidy["spend"].empty:
        figs["spend"] = grouped_chart(
            tidy["spend"], "campaign", "spend", "Campaign budget per week", f"{cur} per week"
        )
    charts = out / "charts"
    charts.mkdir(exist_ok=True)
    imgs = {}
    for name, fig in figs.items():
        data = _png(fig)
        (charts / f"optimise_{name}.png").write_bytes(data)
        imgs[name] = base64.b64encode(data).decode("ascii")

    def img(name: str, alt: str) -> str:
        if name not in imgs:
            return ""
        src = f"data:image/png;base64,{imgs[name]}"
        return f'<img id="chart-{name}" alt="{html.escape(alt)}" src="{src}">'

    before, after = result.before.summary["p_target"], final.check.summary["p_target"]
    lever_rows = []
    for key, lever in p.levers.items():
        lever_rows.append(
            [
                key,
                number(lever.today, 3),
                number(s.levels.get(key, lever.today), 3),
                lever.unit,
                result.curves[key].source if key in result.curves else "fixed (no curve)",
            ]
        )
    rep_rows = []
    plan_t = plan_table(p, s)
    totals = plan_t[(plan_t["kind"] == "rep") & (plan_t["segment"] == "all")]
    group_of = {g.name: g for g in p.groups}
    for _, r in totals.iterrows():
        rep_rows.append(
            [
                str(r["name"]),
                number(group_of[str(r["group"])].own_deal_hours, 1),
                number(float(r["skill"]), 2),
                pct(float(r["productivity"]), 0),
                number(float(r["selling_hours"]), 1),
                number(float(r["total_hours"]), 1),
                number(float(r["new_opportunities_per_week"]), 2),
                number(float(r["quota_first_week"]), 2),
                number(float(r["quota_ramped"]), 2),
                number(float(r["outbound_opportunities_per_week"]), 2),
            ]
        )
    split = result.gain()
    gain_rows = []
    if split is not None:
        by_key = {lv.key: lv for lv in split.levers}
        rows = split.rows()
        for k, (label, g) in enumerate(rows):
            lv = by_key.get(label)
            gain_rows.append(
                [
                    label,
                    number(lv.today, 3) if lv else "",
                    number(lv.plan, 3) if lv else "",
                    split.total_text() if k == len(rows) - 1 else money(g, cur),
                    pct(g / split.total, 0) if abs(split.total) > 0 else "n/a",
                ]
            )
    warning = result.warning()
    warn_html = (
        f'<div class="warn" id="plausibility">{html.escape(warning)}</div>' if warning else ""
    )
    cost_rows = [
        [c.family, c.unit, c.cost, f"{c.key} = {number(c.value)}", c.source] for c in result.costs
    ]
    references = "".join(
        f"<li><b>{html.escape(c.key)}</b>: "
        f"{html.escape(' '.join(t for t in (c.reference, c.note) if t))}</li>"
        for c in result.costs
        if c.reference or c.note
    )
    iter_rows = [
        [
            str(a.index),
            money(a.required_revenue, cur),
            money(a.solution.revenue, cur),
            money_interval(*a.check.revenue_interval(), cur),
            interval(a.check.summary["p_target"]),
            f"{a.check.replications:,}",
            "yes" if a.check.resolved else "no: at the limit",
        ]
        for a in result.attempts
    ]
    binding = (
        "".join(
            f"<li>{html.escape(b.describe(cur, result.settings.objective) + more_text(n))}</li>"
            for b, n in group_bindings(s.binding)
        )
        or "<li>none</li>"
    )
    notes = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(c.note)}</li>" for k, c in result.curves.items()
    )
    cls = "big" if result.reached else "big bad"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pipesim optimise: {html.escape(result.scenario.name)}</title>
<style>{CSS}</style></head><body><main>
<header><h1>Plan for {html.escape(result.scenario.name)}</h1>
<p class="meta">objective {html.escape(result.settings.objective)} · confidence asked
{pct(result.settings.confidence, 0)} · response curves: {html.escape(result.curve_source)} ·
solver {html.escape(s.solver)}: {html.escape(s.status)} · {s.size[0]} variables,
{s.size[1]} constraints</p></header>
<section id="headline"><div class="hero">
<div><div class="note">P(target {money(p.target_revenue, cur)}) today</div>
<div class="big" id="p-before" data-p="{before["estimate"]}">{pct(before["estimate"])}</div>
<div class="note">95% CI {pct(before["ci_low"])}-{pct(before["ci_high"])},
{result.before.replications:,} replications</div></div>
<div style="font-size:32px">→</div>
<div><div class="note">with the plan</div>
<div class="{cls}" id="p-after" data-p="{after["estimate"]}">{pct(after["estimate"])}</div>
<div class="note">95% CI {pct(after["ci_low"])}-{pct(after["ci_high"])}</div>
<div class="note" id="check-resolution" data-resolved="{str(final.check.resolved).lower()}">{
        html.escape(final.check.resolution())
    }</div></div>
</div><pre id="conclusion">{html.escape(conclusion(result))}</pre>
<p class="note">Run the plan: <code>pipesim run {html.escape(str(scenario_path))} --plan
{html.escape(str(out / "plan.yaml"))}</code>. Per-rep hours and quotas: plan.csv
(today's: today.csv); each rep's quota week by week: quotas.csv.</p></section>
{warn_html}
<section id="revenue"><h2>Revenue, today and with the plan</h2>{
        img("revenue", "exceedance")
    }</section>
<section id="gain"><h2>Where the gain comes from</h2>
{
        _table(
            ["lever", "today", "plan", f"gain over the horizon ({cur})", "share of the gain"],
            gain_rows,
            "gain-table",
        )
    }
<p class="note">Each lever's gain is its response curve at the plan's value: what the lever
alone, moved there with everything else as today, adds in the pilot simulations (or the
judgement). The LP adds them up; the simulation of the whole plan differs from that sum by the
levers' interactions and the approximation (its own line), so the rows add up to the simulated
gain. Field results of reallocating sales effort report gains of a few percent to about
{pct(result.settings.plausible_gain, 0)} (optimise.plausible_gain); a larger gain is flagged
with the lever and cost assumption it rests on.</p></section>
<section id="levers"><h2>The plan's levers</h2>
{_table(["lever", "today", "plan", "unit", "curve"], lever_rows, "lever-table")}</section>
<section id="reps"><h2>Per rep</h2>
{
        _table(
            [
                "rep",
                "hours / week on its open deals",
                "skill",
                "productivity",
                "selling hours / week",
                "planned hours / week",
                "quota: new opportunities / week",
                "first week",
                "ramped",
                "of which outbound",
            ],
            rep_rows,
            "rep-table",
        )
    }
<p class="note">A rep's quota follows its selling hours (after admin, times its mean
productivity over the horizon, less the open deals it holds), its skill (its own in
reps.members, else the team's expected skill) and its ramp: outbound work goes first to reps
whose opportunities are worth most (skill x productivity), and a new hire's weekly quota rises
with its ramp-up (first week, once ramped; week by week in quotas.csv). plan.yaml carries the
team averages: the engine gives every rep the same outbound rate.</p>
{img("hours", "hours per activity")}{img("segments", "hours per segment")}
{img("outbound", "outbound opportunities")}</section>
<section id="campaigns"><h2>Campaigns</h2>{img("spend", "campaign spend")}</section>
<section id="costs"><h2>What each lever costs</h2>
{_table(["lever", "unit", "cost", "figure", "source"], cost_rows, "cost-table")}
<ul class="note">{references}</ul></section>
<section id="binding"><h2>What binds</h2><ul>{binding}</ul>
<p class="note">Shadow prices are the LP's: the gain from relaxing one constraint by the stated
unit, all else fixed.</p></section>
<section id="loop"><h2>Closed loop</h2>
{
        _table(
            [
                "plan",
                "required (LP)",
                "expected (LP)",
                "simulated mean",
                "P(target)",
                "replications",
                "resolved",
            ],
            iter_rows,
            "loop-table",
        )
    }
<p class="note">Each plan is simulated with seed {result.settings.seed}, the same random numbers
as today's run ({result.before.replications:,} replications): first
{result.settings.loop.first_replications} replications (those of a plan simulated before are
reused), doubled until the 95% interval of P(target) lies at or above the confidence or below it,
at most {result.settings.loop.replications} (optimise.loop.replications); a check that reaches
the limit first is marked not resolved. When P(target) is below the confidence, the LP's
required expected revenue is raised by the simulated shortfall.</p></section>
<section id="curves"><h2>Response curves</h2>{img("curves", "response curves")}
<ul class="note">{notes}</ul></section>
</main></body></html>
"""
    path = out / PAGE
    path.write_text(page, encoding="utf-8")
    return path
