"""The sections of the run report on what drives the answer: deals, indicators, outcomes, reps.

The open deals with the largest swing and the leading indicators of the open pipeline (both only
when the run had one), where leads end with the stage funnel, and quota attainment per rep seat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipesim.report import charts
from pipesim.report.data import RunData, article, money, pct
from pipesim.report.page import Chart, esc, html_table, img_tag


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


def _funnel_part(data: RunData, funnel_chart: Chart) -> str:
    """The stage funnel, or what happened when reps pursued no opportunity at all."""
    period = esc(data.period)
    f = charts.funnel_counts(data.table)
    if not float(f["mean"].iloc[0]) > 0:
        return f"""
  <div class="keep">
  <h3>Stage funnel of pursued opportunities</h3>
  <p class="lead empty" id="funnel-empty">There were no opportunities: reps pursued no lead in
  any of the {data.summary["replications"]:,} simulated {period}s, so there is no funnel to
  show.</p>
  </div>"""
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
    funnel_figure = img_tag(
        funnel_chart,
        "Pursued opportunities whose buyer reached each stage of the buying journey within the "
        "horizon, then those won.",
    )
    reach_decision = pct(f["share_of_first"].iloc[-2])
    won_share = pct(f["share_of_first"].iloc[-1])
    return f"""
  <div class="keep">
  <h3>Stage funnel of pursued opportunities</h3>
  <p class="lead">Of the opportunities reps pursue, {esc(reach_decision)} reach the decision
  stage and {esc(won_share)} are won; the largest drop is from {esc(worst_from)} to
  {esc(worst_to)} (−{esc(worst_drop)}).</p>
  {funnel_figure}
  </div>
  {funnel_table}"""


def outcomes_section(data: RunData, outcome_chart: Chart, funnel_chart: Chart) -> str:
    """Where deals go: outcome shares overall and per segment, and the stage funnel.

    Without leads, or without a pursued opportunity, the section says so in place of the
    chart that would be empty.
    """
    period = esc(data.period)
    shares = charts.outcome_shares(data.table)
    overall = shares.set_index("outcome")["share"]
    pursued = float(charts.funnel_counts(data.table)["mean"].iloc[0])
    if not float(shares["mean"].sum()) > 0:
        return f"""
<section id="outcomes">
  <h2>Where deals go</h2>
  <p class="lead empty" id="outcomes-empty">No leads arrived in any of the
  {data.summary["replications"]:,} simulated {period}s, so there were no opportunities and
  no deals: no lead source produced a lead.</p>
</section>"""
    no_decision = float(overall[overall.index.str.startswith("no_decision")].sum())
    lead = (
        f"Every lead ends the {period} in one state: {esc(pct(overall['won']))} are won, "
        f"{esc(pct(overall['lost']))} lost to a competitor and {esc(pct(no_decision))} end in "
        "no decision."
    )
    if not pursued > 0:
        ends = [
            f"{pct(float(overall.get(o, 0.0)))} {words}"
            for o, words in (
                ("disqualified", "are disqualified by a rep"),
                ("uncaptured", "are never picked up"),
                ("open_at_end", "are still open at the horizon end"),
            )
            if float(overall.get(o, 0.0)) > 0
        ]
        lead = (
            f"No lead became an opportunity in any simulated {period}, so none is won, lost or "
            f"ends in no decision: {esc(', '.join(ends))}."
        )
    outcome_figure = img_tag(
        outcome_chart,
        f"Share of leads by final state, all leads and per segment (mean over simulated "
        f"{period}s).",
    )
    return f"""
<section id="outcomes">
  <div class="keep">
  <h2>Where deals go</h2>
  <p class="lead">{lead} Segment rows show each segment's own leads.</p>
  {outcome_figure}
  </div>
  {_outcome_table(data)}{_funnel_part(data, funnel_chart)}
</section>"""


def reps_section(data: RunData, chart: Chart) -> str:
    """Reps and quota: attainment per rep seat (saying so when no seat booked anything)."""
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
    quota = esc(data.quota_text)
    share = esc(pct(float(share_per_run.mean())))
    figure = img_tag(
        chart,
        f"Quota attainment per rep seat across simulated {esc(data.period)}s (a seat keeps its "
        "bookings when a rep leaves and is backfilled).",
    )
    lead = (
        f'On average <strong id="reps-at-quota">{share}</strong> of the {seats} rep seats '
        f"reach quota ({quota}); in 8 of 10 simulated {esc(data.period)}s between {lo:.0f} and "
        f"{hi:.0f} seats do."
    )
    if not (data.reps["attainment"].fillna(0.0) > 0).any():
        lead = (
            f"No rep seat booked anything in any simulated {esc(data.period)}: "
            f'<strong id="reps-at-quota">{share}</strong> of the {seats} rep seats reach '
            f"quota ({quota}); every seat's attainment is 0%."
        )
    return f"""
<section id="reps" class="chart">
  <h2>Reps and quota</h2>
  <p class="lead">{lead}</p>
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


def deals_section(data: RunData) -> str:
    """The open deals that decide the period, by swing (empty without an open pipeline).

    Swing is the counterfactual of :func:`pipesim.results.deals.deal_forecast`: the share of
    replications that reach the target with the deal's value and miss it without.
    """
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
    period = esc(data.period)
    lead = (
        f"{len(deals)} deals are open at the start. <strong>{esc(first.deal_id)}</strong> "
        f"matters most: with the rest of each simulated {period} as it happened, the chance of "
        f"reaching target is {esc(pct(first.p_target_if_won))} if it is won and "
        f"{esc(pct(first.p_target_if_not_won))} if not (it is won in "
        f"{esc(pct(first.p_won))} of them)."
        if np.isfinite(first.swing)
        else f"{len(deals)} deals are open at the start."
    )
    return f"""
<section id="deals">
  <h2>The deals that decide the {period}</h2>
  <p class="lead">{lead} {flagged} carry a risk flag.</p>
  {table}
  <p class="note">Swing = P(target if the deal is won) − P(target if it is not), in percentage
  points, with its 95% interval. It is a what-if on each simulated {period}: the deal's value is
  added to or taken from that {period}'s bookings and everything else is kept as it happened
  (other deals, new opportunities, and what the owner did with the hours the deal took or
  freed). So swing is the share of {period}s in which the target is reached with the deal and
  missed without it. It grows with the deal's value, not with its chance of being won: read it
  next to P(won). Every open deal, with P(lost), P(no decision), P(still open) and P10/P90
  close dates, is in <code>deals.csv</code>.</p>
</section>"""


def indicators_section(data: RunData) -> str:
    """Leading indicators of the open pipeline (empty when the run has none)."""
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
        ("New opportunities needed", *_needed_card(data, num("new_opportunities_per_rep_week"))),
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
  <p class="note">New opportunities needed = new opportunities opened per rep seat and week
  (qualified leads and outbound, not the open pipeline) at which the simulation reaches the target
  with the chance asked for, as <code>pipesim required SCENARIO --lever
  new_opportunities_per_rep_week</code> last simulated it for this scenario. One definition: the
  same column at today's settings gives "today".</p>
</section>"""


def _needed_card(data: RunData, today: str) -> tuple[str, str]:
    """Value and explanation of the "new opportunities needed" card (simulated, never guessed)."""
    command = f"pipesim required {data.name}.yaml --lever new_opportunities_per_rep_week"
    ans = data.required_answer()
    if ans is None:
        return (
            "not simulated",
            f"today {today}/rep/wk; how many a chance of the target needs is simulated by "
            f"{command} (its answer then shows here)",
        )
    if not ans.current:
        return (
            "out of date",
            f"today {today}/rep/wk; the last answer ({ans.date}) was for another version of the "
            f"scenario or target: run {command} again",
        )
    level = f"{ans.confidence:.0%}"
    if ans.answer is None:
        return (
            "not reachable",
            f"no value searched reached {article(level)} {level} chance (simulated {ans.date}); "
            f"today {today}/rep/wk",
        )
    needed = float(ans.answer["new_opportunities_per_rep_week"])
    p, lo, hi = (ans.answer[k] for k in ("p_target", "p_target_low", "p_target_high"))
    below = ""
    if ans.below is not None:
        below = f"; one step fewer: {pct(ans.below['p_target'])}"
    resolved = ans.resolution is None or bool(ans.resolution.get("resolved"))
    caveat = "" if resolved else f"; {ans.resolution['text']}"  # type: ignore[index]
    return (
        f"{needed:.1f}/rep/wk",
        f"for {article(level)} {level} chance of the target: P(target) {pct(p)} "
        f"({pct(lo)}-{pct(hi)}) at it{below}; today {today}/rep/wk "
        f"(simulated by pipesim required, {ans.date}{caveat})",
    )
