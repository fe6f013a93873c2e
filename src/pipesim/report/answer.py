"""The opening sections of the run report: the answer and the revenue behind it.

:func:`headline_words` puts P(target) in one line (a what-if's named first, e.g.
``what-if: reps.count=18 — 73% chance ...``); the sections are the headline, the commit / most
likely / best case cards with a brief, the exceedance curve (what can we promise), the revenue
histogram and the bookings fan chart.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipesim.report import charts
from pipesim.report.data import RunData, day_text, money, money_unit, pct
from pipesim.report.page import Chart, esc, img_tag
from pipesim.runs.records import saved_settings

WHAT_IF_DASH = " — "
"""Between a what-if's label and the answer in :func:`headline_words`."""


def headline_words(data: RunData) -> str:
    """The answer in one line, e.g. ``50% chance to reach €21.8M by 30 Dec 2026 (43–57%)``.

    A what-if (a run with ``--set``, ``--plan`` or another ``--pipeline``) is named first:
    ``what-if: reps.count=18 — 73% chance to reach ...``.
    """
    p = data.summary["p_target"]
    low = pct(p["ci_low"]).rstrip("%")
    label = saved_settings(data.folder)[0].label()
    return (
        (label + WHAT_IF_DASH if label else "")
        + f"{pct(p['estimate'])} chance to reach {money(data.target, data.currency)} by "
        f"{day_text(data.end_date)} ({low}–{pct(p['ci_high'])})"
    )


def _gap(value: float, target: float, currency: str) -> str:
    diff = value - target
    div, _ = money_unit(target)
    if abs(diff) < 0.05 * div:  # rounds to zero at the target's scale
        return "about at target"
    cls, word = ("gap-up", "above") if diff > 0 else ("gap-down", "below")
    return f'<span class="{cls}">{money(abs(diff), currency, unit=div)} {word} target</span>'


def headline_section(data: RunData) -> str:
    """The big number: P(target) with its interval and what it means."""
    s = data.summary
    p = s["p_target"]
    level = p.get("level", 0.95)
    horizon = f"{day_text(data.start_date)} – {day_text(data.end_date)}"
    weeks = f"{data.horizon_weeks:g} weeks"
    # the interval in brackets never wraps (its text is still exactly headline_words)
    text = headline_words(data)
    cut = text.rindex(" (")
    settings, variant = saved_settings(data.folder)
    label = settings.label()
    start = len(label + WHAT_IF_DASH) if label else 0
    what_if = (
        f'<span class="whatif" id="headline-whatif">{esc(text[:start])}</span>' if label else ""
    )
    words = f'{what_if}{esc(text[start:cut])} <span class="nowrap">{esc(text[cut + 1 :])}</span>'
    caveat = (
        f"""
      <p class="banner" id="whatif-note">A what-if, not the forecast: scenario {esc(data.name)}
      with {esc("; ".join(settings.items()))} (settings id {esc(variant)}). Its runs are kept
      apart from the forecast of {esc(data.name)} in the run history.</p>"""
        if label
        else ""
    )
    return f"""
<section id="headline">
  <div class="hero">
    <div class="big" id="headline-p" data-p="{p["estimate"]!r}">{esc(pct(p["estimate"]))}</div>
    <div>
      <p class="words" id="headline-text">{words}</p>
      <p class="sub">Chance that bookings over {esc(horizon)} ({weeks}) reach the target of
      {esc(money(data.target, data.currency, 2))}. In brackets: the {level:.0%} interval of
      that estimate from {s["replications"]:,} simulated {esc(data.period)}s.</p>{caveat}
    </div>
  </div>
</section>"""


def scenarios_section(data: RunData) -> str:
    """Commit (P10), most likely (P50) and best case (P90) against the target, and a brief."""
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
    quota = esc(data.quota_text)
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


def exceedance_section(data: RunData, chart: Chart) -> str:
    """What can we promise: the exceedance curve and the amount reached 80% of the time."""
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


def distribution_section(data: RunData, chart: Chart) -> str:
    """How revenue is spread: the histogram with P10, P50 and P90."""
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


def bookings_section(data: RunData, chart: Chart) -> str:
    """Bookings through the period: the fan chart against a straight-line pace to target."""
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
