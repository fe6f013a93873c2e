"""The executive run report: one self-contained ``report.html`` that leads with the answer.

The page embeds every chart as a base64 PNG and carries its own CSS (with a print stylesheet):
no scripts, no fonts, no links that load anything, so it opens offline in any browser and prints
on A4. The same PNGs are written beside it in ``charts/``. Elements the tests read have stable
ids: ``headline-p`` (the percentage, with the exact value in ``data-p``), ``headline-text``,
and one ``section`` per part (``headline``, ``scenarios``, ``exceedance``, ``distribution``,
``bookings``, ``outcomes``, ``reps``, ``drift``, ``assumptions``; ``deals`` and ``indicators``
when the run had an open pipeline).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pipesim.report import charts
from pipesim.report.data import RunData, day_text, load_run, money, money_unit, pct
from pipesim.scenario.loader import dump_scenario
from pipesim.scenario.schema import Scenario

REPORT_FILE = "report.html"
CHART_DIR = "charts"

CSS = """
:root { --ink: #1d2327; --muted: #5b6770; --line: #d9dee2; --accent: #0072B2;
        --good: #007a5a; --bad: #b84400; --card: #f4f6f8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
       font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
             "Liberation Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 48px; }
header.top { border-bottom: 3px solid var(--ink); padding-bottom: 10px; margin-bottom: 22px; }
header.top .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 13px;
                     color: var(--muted); margin: 0; }
header.top h1 { font-size: 30px; margin: 2px 0 4px; }
header.top .meta { color: var(--muted); font-size: 14px; margin: 0; }
h2 { font-size: 21px; margin: 0 0 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
section { margin: 0 0 34px; }
.lead { font-size: 16px; margin: 2px 0 12px; }
.note { color: var(--muted); font-size: 13.5px; margin: 6px 0 0; }
.hero { display: flex; gap: 28px; align-items: center; background: var(--card);
        border-left: 8px solid var(--accent); padding: 18px 24px; }
.hero .big { font-size: 88px; font-weight: 800; line-height: 1; letter-spacing: -.02em;
             color: var(--accent); font-variant-numeric: tabular-nums; }
.hero .words { font-size: 22px; font-weight: 600; margin: 0 0 6px; }
.hero .sub { color: var(--muted); font-size: 15px; margin: 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 14px 0 0; }
.card { border: 1px solid var(--line); border-top: 5px solid var(--accent); padding: 10px 14px; }
.card.target { border-top-color: var(--ink); }
.card .label { font-size: 13px; text-transform: uppercase; letter-spacing: .05em;
               color: var(--muted); margin: 0; }
.card .value { font-size: 30px; font-weight: 700; margin: 2px 0;
               font-variant-numeric: tabular-nums; }
.card .expl { font-size: 13.5px; margin: 0; color: var(--muted); }
.gap-up { color: var(--good); } .gap-down { color: var(--bad); }
ul.brief { margin: 14px 0 0; padding-left: 20px; } ul.brief li { margin: 3px 0; }
figure { margin: 6px 0 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0 0;
        font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
table.kv td:first-child, table.kv th:first-child { width: 30%; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.nowrap { white-space: nowrap; }
.banner { background: #fff4e0; border: 1px solid #e69f00; padding: 8px 12px; margin-bottom: 16px; }
details { margin-top: 12px; } summary { cursor: pointer; color: var(--muted); }
pre { font-size: 12px; background: var(--card); padding: 10px; overflow: auto; }
footer { border-top: 1px solid var(--line); color: var(--muted); font-size: 13px;
         padding-top: 8px; }
@media (max-width: 760px) {
  .cards { grid-template-columns: repeat(2, 1fr); } .cols { grid-template-columns: 1fr; }
  .hero { flex-direction: column; align-items: flex-start; } .hero .big { font-size: 64px; }
}
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section, figure, table, .hero, .cards, .keep { break-inside: avoid; page-break-inside: avoid; }
  #scenarios { break-after: page; page-break-after: always; }  /* page 1: the answer alone */
  h2, h3, p.lead { break-after: avoid; page-break-after: avoid; }
  /* A4 is narrower than the small-screen breakpoint: keep the desktop layout on paper. */
  .hero { flex-direction: row; align-items: center; padding: 12px 18px; }
  .hero .big { font-size: 54pt; }
  .cards { grid-template-columns: repeat(4, 1fr); gap: 8px; }
  .card { padding: 6px 10px; }
  .card .value { font-size: 18pt; }
  figure img { border: none; max-height: 72mm; width: auto; max-width: 100%; }
  section { margin-bottom: 18px; }
  details, .screen-only { display: none; }
  .cols { grid-template-columns: 1fr 1fr; }
}
"""


@dataclass(frozen=True)
class Chart:
    """A rendered chart: file stem, alt text and PNG bytes."""

    name: str
    alt: str
    png: bytes


def esc(text: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text), quote=True)


def render_chart(name: str, alt: str, fig: Figure, dpi: int = 150) -> Chart:
    """Render ``fig`` to PNG and free it."""
    png = charts.figure_png(fig, dpi=dpi)
    fig.clear()
    return Chart(name, alt, png)


def img_tag(chart: Chart, caption: str = "") -> str:
    """A ``figure`` with the chart embedded as a data URL."""
    data = base64.b64encode(chart.png).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (
        f'<figure id="chart-{esc(chart.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(chart.alt)}">{cap}</figure>'
    )


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (), **attrs: str
) -> str:
    """A simple escaped HTML table; columns listed in ``numeric`` are right-aligned."""
    extra = "".join(f' {k.rstrip("_")}="{esc(v)}"' for k, v in attrs.items())  # id_, class_

    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{esc(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """Wrap ``body`` in a complete, self-contained HTML document."""
    # The CSP makes the "nothing leaves the file" promise explicit to the browser as well.
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- sentences
def headline_words(data: RunData) -> str:
    """The answer in one line, e.g. ``50% chance to reach €21.8M by 30 Dec 2026 (43–57%)``."""
    p = data.summary["p_target"]
    low = pct(p["ci_low"]).rstrip("%")
    return (
        f"{pct(p['estimate'])} chance to reach {money(data.target, data.currency)} by "
        f"{day_text(data.end_date)} ({low}–{pct(p['ci_high'])})"
    )


def _gap(value: float, target: float, currency: str) -> str:
    diff = value - target
    div, _ = money_unit(target)
    if abs(diff) < 0.05 * div:  # rounds to zero at the target's scale
        return "about at target"
    cls, word = ("gap-up", "above") if diff > 0 else ("gap-down", "below")
    return f'<span class="{cls}">{money(abs(diff), currency, unit=div)} {word} target</span>'


def _run_meta(data: RunData) -> str:
    s = data.summary
    date = day_text(data.run_date) if data.run_date else "date unknown"
    return (
        f"Scenario <strong>{esc(data.name)}</strong> · {s['replications']:,} simulated "
        f"{esc(data.period)}s (replications) · seed {esc(s['seed'])} · run {date} · pipesim "
        f"{esc(s.get('pipesim_version', '?'))}"
    )


# --------------------------------------------------------------------------- sections
def _headline(data: RunData) -> str:
    s = data.summary
    p = s["p_target"]
    level = p.get("level", 0.95)
    horizon = f"{day_text(data.start_date)} – {day_text(data.end_date)}"
    weeks = f"{data.horizon_weeks:g} weeks"
    # the interval in brackets never wraps (its text is still exactly headline_words)
    text = headline_words(data)
    cut = text.rindex(" (")
    words = f'{esc(text[:cut])} <span class="nowrap">{esc(text[cut + 1 :])}</span>'
    return f"""
<section id="headline">
  <div class="hero">
    <div class="big" id="headline-p" data-p="{p["estimate"]!r}">{esc(pct(p["estimate"]))}</div>
    <div>
      <p class="words" id="headline-text">{words}</p>
      <p class="sub">Chance that bookings over {esc(horizon)} ({weeks}) reach the target of
      {esc(money(data.target, data.currency, 2))}. In brackets: the {level:.0%} interval of
      that estimate from {s["replications"]:,} simulated {esc(data.period)}s.</p>
    </div>
  </div>
</section>"""


def _scenarios(data: RunData) -> str:
    r = data.summary["revenue"]
    cur, target, period = data.currency, data.target, esc(data.period)
    cards = [
        ("Commit", r["p10"], f"reached in 9 of 10 simulated {period}s (P10)"),
        ("Most likely", r["p50"], f"reached in half of the {period}s (P50, median)"),
        ("Best case", r["p90"], f"reached in 1 of 10 {period}s (P90)"),
    ]
    html_cards = "".join(
        f'<div class="card"><p class="label">{esc(label)}</p>'
        f'<p class="value" id="case-{label.lower().replace(" ", "-")}">{esc(money(v, cur))}</p>'
        f'<p class="expl">{expl}<br>{_gap(v, target, cur)}</p></div>'
        for label, v, expl in cards
    )
    quota = esc(money(data.summary["target"]["rep_quota"], cur))
    html_cards += (
        '<div class="card target"><p class="label">Target</p>'
        f'<p class="value" id="case-target">{esc(money(target, cur))}</p>'
        f'<p class="expl">by {esc(day_text(data.end_date))}; quota per rep seat {quota}</p></div>'
    )
    brief = _brief(data)
    return f"""
<section id="scenarios">
  <h2>Commit, most likely, best case</h2>
  <div class="cards">{html_cards}</div>
  <ul class="brief">{brief}</ul>
</section>"""


def _brief(data: RunData) -> str:
    s, cur = data.summary, data.currency
    promise80 = charts.promise_at(data.table["revenue"], 0.8)
    items = [
        f"At 80% confidence we can promise <strong>{esc(money(promise80, cur))}</strong> "
        f"({esc(pct(promise80 / data.target))} of target).",
    ]
    shares = s.get("outcome_shares", {})
    outcomes = s.get("outcomes", {})
    if shares and s.get("leads"):
        nd_sq = outcomes.get("no_decision_status_quo") or 0.0
        nd_in = outcomes.get("no_decision_indecision") or 0.0
        items.append(
            f"Of about {s['leads']:,.0f} leads per {esc(data.period)}, {pct(shares['won'])} are "
            f"won, {pct(shares['lost'])} lost to a competitor and {pct(shares['no_decision'])} "
            f"end in no decision ({nd_sq:,.0f} keep the status quo, {nd_in:,.0f} stall)."
        )
    att = s.get("reps_at_quota", {}).get("mean")
    if att is not None:
        seats = data.reps["seat"].nunique() if len(data.reps) else 0
        items.append(
            f"On average {pct(att)} of rep seats reach quota (about {att * seats:.0f} of {seats})."
        )
    if s.get("partial"):
        items.append("This run was interrupted: figures use the finished replications only.")
    return "".join(f"<li>{i}</li>" for i in items)


def _exceedance(data: RunData, chart: Chart) -> str:
    p80 = esc(money(charts.promise_at(data.table["revenue"], 0.8), data.currency))
    p_t = esc(pct(charts.exceedance(data.table["revenue"], data.target)))
    figure = img_tag(
        chart,
        "Exceedance curve: the chance that revenue over the horizon reaches at least the amount "
        "on the horizontal axis. Dashed line: target.",
    )
    return f"""
<section id="exceedance" class="chart">
  <h2>What can we promise?</h2>
  <p class="lead">Read across from a confidence level to the revenue we reach at least that
  often: <strong>80% sure of at least {p80}</strong>; the target of
  {esc(money(data.target, data.currency))} is reached in {p_t} of simulated
  {esc(data.period)}s.</p>
  {figure}
</section>"""


def _distribution(data: RunData, chart: Chart) -> str:
    r = data.summary["revenue"]
    cur = data.currency
    figure = img_tag(
        chart,
        f"Share of simulated {esc(data.period)}s by revenue over the horizon; blue bars reach "
        "the target. Dotted lines: P10, P50 (median), P90.",
    )
    return f"""
<section id="distribution" class="chart">
  <h2>How revenue is spread</h2>
  <p class="lead">8 in 10 simulated {esc(data.period)}s end between
  {esc(money(r["p10"], cur))} and {esc(money(r["p90"], cur))}; the mean is
  {esc(money(r["mean"], cur))}.</p>
  {figure}
</section>"""


def _bookings(data: RunData, chart: Chart) -> str:
    q = charts.bookings_quantiles(data.bookings)
    weeks = q.index.to_numpy()
    mid = int(weeks[np.argmin(np.abs(weeks - data.horizon_weeks / 2))])
    median_mid = float(q.loc[mid, "q50"])
    pace_mid = data.target * mid / data.horizon_weeks
    ahead = "ahead of" if median_mid >= pace_mid else "behind"
    when = day_text(data.start_date + dt.timedelta(days=7 * mid), with_year=False)
    div, _ = money_unit(data.target)
    cur = data.currency
    gap = money(abs(median_mid - pace_mid), cur, unit=div)
    figure = img_tag(
        chart,
        "Cumulative bookings at the end of each week: median line, P25-P75 and P10-P90 bands "
        f"across simulated {esc(data.period)}s. Dashed: linear pace to the target; diamond: the "
        "target at the horizon end.",
    )
    return f"""
<section id="bookings" class="chart">
  <h2>Bookings through the {esc(data.period)}</h2>
  <p class="lead">By {esc(when)} (week {mid}) the median {esc(data.period)} has booked
  {esc(money(median_mid, cur))}, {esc(gap)} {ahead} a straight-line pace to target
  ({esc(money(pace_mid, cur))}).</p>
  {figure}
</section>"""


def _outcome_table(data: RunData) -> str:
    shares = charts.outcome_shares(data.table, data.segments)
    groups = list(dict.fromkeys(shares["group"]))
    rows = []
    for outcome, (label, _, _) in charts.OUTCOMES.items():
        by = shares[shares["outcome"] == outcome].set_index("group")
        if by.empty:
            continue
        cells = [
            f"{by.loc[g, 'mean']:,.0f} ({pct(by.loc[g, 'share'])})" if g in by.index else "–"
            for g in groups
        ]
        rows.append([label, *cells])
    numeric = range(1, len(groups) + 1)
    return html_table(["Outcome", *groups], rows, numeric=numeric, id_="outcome-table")


def _outcomes(data: RunData, outcome_chart: Chart, funnel_chart: Chart) -> str:
    period = esc(data.period)
    overall = charts.outcome_shares(data.table).set_index("outcome")["share"]
    no_decision = float(overall[overall.index.str.startswith("no_decision")].sum())
    f = charts.funnel_counts(data.table)
    worst_i = int(np.nanargmax(f["drop_from_previous"].to_numpy()[1:])) + 1
    worst_from, worst_to = f["step"].iloc[worst_i - 1], f["step"].iloc[worst_i]
    worst_drop = pct(f["drop_from_previous"].iloc[worst_i])
    funnel_rows = [
        [
            row.step.capitalize(),
            f"{row.mean:,.0f}",
            pct(row.share_of_first),
            "–" if i == 0 else f"−{pct(row.drop_from_previous)}",
        ]
        for i, row in enumerate(f.itertuples(index=False))
    ]
    funnel_table = html_table(
        ["Step", f"Opportunities / {period}", "Of pursued", "Drop from previous"],
        funnel_rows,
        numeric=(1, 2, 3),
        id_="funnel-table",
    )
    outcome_figure = img_tag(
        outcome_chart,
        f"Share of leads by final state, all leads and per segment (mean over simulated "
        f"{period}s).",
    )
    funnel_figure = img_tag(
        funnel_chart,
        "Pursued opportunities whose buyer reached each stage of the buying journey within the "
        "horizon, then those won.",
    )
    reach_decision = pct(f["share_of_first"].iloc[-2])
    won_share = pct(f["share_of_first"].iloc[-1])
    return f"""
<section id="outcomes" class="chart">
  <h2>Where deals go</h2>
  <p class="lead">Every lead ends the {period} in one state: {esc(pct(overall["won"]))} are
  won, {esc(pct(overall["lost"]))} lost to a competitor and {esc(pct(no_decision))} end in no
  decision. Segment rows show each segment's own leads.</p>
  {outcome_figure}
  {_outcome_table(data)}
  <div class="keep">
  <h3>Stage funnel of pursued opportunities</h3>
  <p class="lead">Of the opportunities reps pursue, {esc(reach_decision)} reach the decision
  stage and {esc(won_share)} are won; the largest drop is from {esc(worst_from)} to
  {esc(worst_to)} (−{esc(worst_drop)}).</p>
  {funnel_figure}
  </div>
  {funnel_table}
</section>"""


def _reps(data: RunData, chart: Chart) -> str:
    by_seat = charts.attainment_by_seat(data.reps)
    at_quota = data.reps.assign(at=data.reps["attainment"] >= 1.0)
    share_per_run = at_quota.groupby("replication")["at"].mean()
    seats = len(by_seat)
    lo, hi = np.percentile(share_per_run * seats, [10, 90])
    rows = [
        [r.rep, pct(r.median), pct(r.p10), pct(r.p90), pct(r.p_quota)]
        for r in by_seat.itertuples(index=False)
    ]
    table = html_table(
        ["Rep seat", "Median attainment", "P10", "P90", "Chance to reach quota"],
        rows,
        numeric=(1, 2, 3, 4),
        id_="reps-table",
    )
    quota = esc(money(data.summary["target"]["rep_quota"], data.currency))
    share = esc(pct(float(share_per_run.mean())))
    figure = img_tag(
        chart,
        f"Quota attainment per rep seat across simulated {esc(data.period)}s (a seat keeps its "
        "bookings when a rep leaves and is backfilled).",
    )
    return f"""
<section id="reps" class="chart">
  <h2>Reps and quota</h2>
  <p class="lead">On average <strong id="reps-at-quota">{share}</strong> of the {seats} rep
  seats reach quota ({quota}); in 8 of 10 simulated {esc(data.period)}s between {lo:.0f} and
  {hi:.0f} seats do.</p>
  {figure}
  <details><summary>Attainment table per seat</summary>{table}</details>
</section>"""


TOP_DEALS = 10
"""Deals listed in the report's swing table (all of them are in deals.csv)."""

FLAG_WORDS = {
    "stalled": "stalled",
    "engaged_late": "engaged late",
    "competitor_preferred": "competitor preferred",
    "large_buying_group": "large buying group",
    "no_activity": "no activity",
}


def _flag_text(flags: Any) -> str:
    if not isinstance(flags, str) or not flags.strip():
        return ""
    return ", ".join(FLAG_WORDS.get(f.strip(), f.strip()) for f in flags.split(";") if f.strip())


def _swing_text(row: Any) -> str:
    if not np.isfinite(row.swing):
        return "n/a"
    lo, hi = row.swing_ci_low, row.swing_ci_high
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{row.swing * 100:+.0f} pts ({lo * 100:+.0f} to {hi * 100:+.0f})"
    return f"{row.swing * 100:+.0f} pts"


def _deals(data: RunData) -> str:
    deals = data.deals
    if deals is None or deals.empty:
        return ""
    cur = data.currency
    top = deals.head(TOP_DEALS)
    rows = [
        [
            r.deal_id + (f" · {r.name}" if isinstance(r.name, str) and r.name else ""),
            r.owner,
            r.stage,
            money(r.value, cur),
            pct(r.p_won),
            r.close_p50 if isinstance(r.close_p50, str) and r.close_p50 else "after horizon",
            _swing_text(r),
            _flag_text(r.flags),
        ]
        for r in top.itertuples(index=False)
    ]
    table = html_table(
        ["Deal", "Owner", "Stage", "Value", "P(won)", "Median close", "Swing", "Risk flags"],
        rows,
        numeric=(3, 4, 6),
        id_="deals-table",
    )
    flagged = int((deals["flags"].fillna("").astype(str).str.len() > 0).sum())
    first = top.iloc[0]
    lead = (
        f"{len(deals)} deals are open at the start. <strong>{esc(first.deal_id)}</strong> "
        f"matters most: the chance of reaching target is "
        f"{esc(pct(first.p_target_if_won))} if it is won and "
        f"{esc(pct(first.p_target_if_not_won))} if not."
        if np.isfinite(first.swing)
        else f"{len(deals)} deals are open at the start."
    )
    return f"""
<section id="deals">
  <h2>The deals that decide the {esc(data.period)}</h2>
  <p class="lead">{lead} {flagged} carry a risk flag.</p>
  {table}
  <p class="note">Swing = P(target | deal won) − P(target | not won), in percentage points,
  with its 95% interval: the larger it is, the more the {esc(data.period)} rides on that deal.
  A small deal's swing is mostly noise. Every open deal, with P(lost), P(no decision),
  P(still open) and P10/P90 close dates, is in <code>deals.csv</code>.</p>
</section>"""


def _indicators(data: RunData) -> str:
    ind = data.summary.get("indicators")
    if not ind:
        return ""
    cur = data.currency

    def num(key: str, digits: int = 1) -> str:
        v = ind.get(key)
        return "n/a" if v is None else f"{v:.{digits}f}"

    def cash(key: str) -> str:
        v = ind.get(key)
        return "n/a" if v is None else money(v, cur)

    cards = [
        ("Pipeline coverage", f"{num('pipeline_coverage', 2)}×",
         f"weighted pipeline {cash('weighted_pipeline')} ÷ target {cash('remaining_target')}"
         f" (unweighted {num('unweighted_coverage', 2)}×)"),
        ("Pipeline velocity", f"{cash('pipeline_velocity_per_week')}/wk",
         f"{ind.get('open_deals')} deals × {pct(ind.get('win_rate'))} win rate × "
         f"{cash('average_open_deal')} ÷ {num('mean_cycle_days', 0)}-day cycle"),
        ("New opportunities needed", f"{num('new_opportunities_needed_per_rep_week')}/rep/wk",
         f"to close the {cash('gap_after_open_pipeline')} gap the open deals leave "
         f"(today {num('new_opportunities_per_rep_week')}/rep/wk)"),
        ("Expected bookings", cash("expected_bookings_open_pipeline"),
         f"from open deals, plus {cash('expected_bookings_new_opportunities')} from new ones"),
    ]  # fmt: skip
    body = "".join(
        f'<div class="card" id="indicator-{i}"><p class="label">{esc(label)}</p>'
        f'<p class="value">{esc(value)}</p><p class="expl">{esc(expl)}</p></div>'
        for i, (label, value, expl) in enumerate(cards)
    )
    return f"""
<section id="indicators">
  <h2>Leading indicators</h2>
  <p class="lead">What the pipeline says before the {esc(data.period)} is decided
  (expected values over the simulated {esc(data.period)}s).</p>
  <div class="cards">{body}</div>
  <p class="note">New opportunities needed = the gap ÷ the bookings one new opportunity
  brings within the horizon in this run; it closes the gap on average. For a chance of
  reaching target, use <code>pipesim required</code>.</p>
</section>"""


def _drift_records(data: RunData) -> tuple[Any, str]:
    """Recorded complete runs of this scenario, or None and why not."""
    try:
        from pipesim.report.drift import load_runs

        runs = load_runs(data.catalogue, scenario=data.name)
    except Exception as exc:  # a missing or unusable catalogue must not cost the report
        return None, f"The run history is unavailable ({type(exc).__name__}: {exc})."
    runs = runs[~runs["partial"].astype(bool)].dropna(subset=["p_target"])
    if len(runs) < 2:
        return None, (
            f"This is the first recorded run of {data.name}: the chart appears once there "
            "are two (`pipesim history` lists them)."
        )
    return runs, ""


def _drift(data: RunData, chart: Chart | None, note: str) -> str:
    if chart is None:
        body = f'<p class="note" id="drift-note">{esc(note)}</p>'
        lead = "How P(target) and the revenue forecast moved from run to run."
    else:
        body = img_tag(chart, "Each point is one recorded run (pipesim history); notes are "
                       "written beside their runs. The band is the 95% interval of P(target) "
                       "(top) and the P10-P90 revenue range (bottom).")  # fmt: skip
        lead = "How P(target) and the revenue forecast moved from run to run."
    return f"""
<section id="drift" class="chart">
  <h2>How the forecast moved</h2>
  <p class="lead">{lead} To see why it moved between two runs, use
  <code>pipesim diff RUN_A RUN_B</code>.</p>
  {body}
</section>"""


def assumption_rows(sc: Scenario) -> dict[str, list[tuple[str, str]]]:
    """The scenario's key parameters, grouped, as (parameter, value) text pairs."""
    cur = sc.economics.currency
    start = sc.target.start_date
    end = start + dt.timedelta(days=int(np.ceil(sc.horizon_days)) - 1)
    r, q, leads = sc.reps, sc.qualification, sc.leads
    groups: dict[str, list[tuple[str, str]]] = {
        "Target": [
            ("Bookings target", money(sc.target.revenue, cur, 2)),
            ("Horizon", f"{sc.target.horizon_weeks:g} weeks, {day_text(start)} – {day_text(end)}"),
            ("Quota per rep seat", money(sc.rep_quota, cur, 2)),
            ("Gross margin", pct(sc.economics.gross_margin)),
        ],
        "Sales team": [
            ("Rep seats", f"{r.seats}"),
            (
                "Selling hours per rep",
                f"{r.hours_per_week:g} h/week, {pct(r.admin_share)} lost to admin",
            ),
            ("Skill (mean ± sd)", f"{r.skill_mean:g} ± {r.skill_sd:g}"),
            (
                "Attrition",
                f"{pct(r.attrition_per_year)} a year; seat empty "
                f"{r.backfill_weeks:g} weeks; new hires ramp over {r.ramp_weeks:g} weeks",
            ),
            (
                "Qualification",
                (
                    f"{q.policy}: pursue at perceived fit ≥ {q.threshold:g}; checks "
                    f"{', '.join(q.checks) or 'none'}"
                )
                if q.policy == "threshold"
                else q.policy,
            ),
            (
                "Time per opportunity",
                f"{r.pursue_hours_per_week:g} h/week while open; "
                f"{r.qualify_hours:g} h to qualify a lead",
            ),
        ],
        "Lead sources": [
            (
                "Prospecting",
                f"{leads.prospecting.hours_per_week:g} h/rep/week, "
                f"{leads.prospecting.hours_per_lead:g} h per lead",
            ),
            ("Referrals", f"{leads.referrals.per_week:g} leads/week"),
            ("Lead goes cold after", f"{leads.max_wait_days:g} days without a rep"),
        ],
    }
    for name, c in sc.campaigns.items():
        weeks_end = c.end_week if c.end_week is not None else sc.target.horizon_weeks
        segs = ", ".join(f"{k} {v:.0%}" for k, v in c.segments.items())
        groups["Lead sources"].append(
            (
                f"Campaign {name}",
                f"{money(c.budget_per_week, cur)}/week, "
                f"{money(c.cost_per_lead, cur)} per lead, weeks "
                f"{c.start_week:g}–{weeks_end:g}; {segs}",
            )
        )
    if sc.open_pipeline:
        total = sum(o.count for o in sc.open_pipeline)
        detail = "; ".join(f"{o.count} {o.segment} in {o.stage}" for o in sc.open_pipeline)
        groups["Pipeline at start"] = [("Open opportunities", f"{total}: {detail}")]
    return groups


def _assumptions(data: RunData) -> str:
    sc = data.scenario
    s = data.summary
    run_rows = [
        (f"Simulated {data.period}s (replications)", f"{s['replications']:,}"),
        ("Root seed", f"{s['seed']}"),
        (
            "Interval method",
            f"{s['p_target'].get('method', '?')} {s['p_target'].get('level', 0.95):.0%}",
        ),
        ("Run time", f"{s.get('runtime_s', float('nan')):.1f} s"),
    ]
    if sc is None:
        body = (
            '<p class="banner">The resolved scenario (scenario.yaml) is missing or no longer '
            "loads, so its assumptions cannot be listed.</p>"
        )
    else:
        parts = []
        for group, rows in assumption_rows(sc).items():
            parts.append(
                f"<h3>{esc(group)}</h3>" + html_table(["Parameter", "Value"], rows, class_="kv")
            )
        cur = sc.economics.currency
        seg_rows = [
            [
                name,
                f"{g.buyers_per_week:g}",
                pct(g.inbound_share),
                money(g.deal_size.mean, cur),
                f"{g.fit.mean:.2f}",
                f"{g.buying_group_mean:g}",
                f"{g.journey_scale:g}×",
                g.description,
            ]
            for name, g in sc.segments.items()
        ]
        parts.append(
            "<h3>Market segments</h3>"
            + html_table(
                [
                    "Segment",
                    "Buyers/week",
                    "Inbound",
                    "Mean deal",
                    "Fit",
                    "Buying group",
                    "Journey length",
                    "Description",
                ],
                seg_rows,
                numeric=(1, 2, 3, 4, 5, 6),
                id_="segments-table",
            )
        )
        criteria = list(sc.criteria)
        vendors = [
            ("us", sc.us.scores, 1.0),
            *((n, c.scores, c.presence) for n, c in sc.competitors.items()),
        ]
        parts.append(
            "<h3>Vendors (scores 0-10)</h3>"
            + html_table(
                ["Vendor", "In the deal", *criteria],
                [
                    [n, pct(pres), *(f"{sc_.get(k, float('nan')):g}" for k in criteria)]
                    for n, sc_, pres in vendors
                ],
                numeric=range(1, len(criteria) + 2),
                id_="vendors-table",
            )
        )
        parts.append(f'<p class="note">Description: {esc(sc.description or "–")}</p>')
        parts.append(
            "<details><summary>Full resolved scenario (scenario.yaml)</summary>"
            f"<pre>{esc(dump_scenario(sc))}</pre></details>"
        )
        body = "".join(parts)
    return f"""
<section id="assumptions">
  <h2>What the forecast rests on</h2>
  <p class="lead">The scenario's key assumptions. Change them in the YAML file (or with
  <code>--set key=value</code>) and re-run to see how the answer moves.</p>
  {body}
  <h3>Run</h3>
  {html_table(["Parameter", "Value"], run_rows, id_="run-table", class_="kv")}
</section>"""


# --------------------------------------------------------------------------- assembly
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
    drift_runs, drift_note = _drift_records(data)
    drift_chart = None
    if drift_runs is not None:
        from pipesim.report.drift import drift_figure

        drift_chart = render_chart(
            "forecast_drift",
            "P(target) and revenue forecast of each recorded run over time",
            drift_figure(drift_runs, title=f"{data.name}: the forecast run by run"),
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
  <p class="kicker">Sales forecast · pipesim Monte Carlo</p>
  <h1>{esc(data.name)}: will we reach {esc(money(data.target, data.currency))}?</h1>
  <p class="meta" id="run-meta">{_run_meta(data)}</p>
</header>{banner}"""
    body = "".join(
        [
            header,
            _headline(data),
            _scenarios(data),
            _exceedance(data, ch["exceedance"]),
            _distribution(data, ch["revenue_distribution"]),
            _bookings(data, ch["bookings_fan"]),
            _deals(data),
            _indicators(data),
            _outcomes(data, ch["outcomes"], ch["funnel"]),
            _reps(data, ch["rep_attainment"]),
            _drift(data, drift_chart, drift_note),
            _assumptions(data),
            "<footer>Made by pipesim from the run's saved results; rebuild with "
            f"<code>pipesim report {esc(data.folder or 'DIR')}</code>. Every figure is a "
            f"statistic over simulated {esc(data.period)}s of the same scenario; the interval is "
            "the Monte Carlo uncertainty of the estimate, not of the model's assumptions.</footer>",
        ]
    )
    return page(f"{data.name}: sales forecast", body), list(ch.values())


def write_files(folder: Path, html_text: str, chart_list: Sequence[Chart], name: str) -> Path:
    """Write ``name`` and ``charts/*.png`` into ``folder`` (the HTML atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHART_DIR).mkdir(exist_ok=True)
    for c in chart_list:
        (folder / CHART_DIR / f"{c.name}.png").write_bytes(c.png)
    path = folder / name
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    os.replace(tmp, path)
    return path


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
