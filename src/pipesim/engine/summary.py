"""The one summary of a replication: its ``replications.csv`` row, bookings and deal outcomes.

:func:`summarise_replication` turns the per-lead record arrays of a finished
:class:`~pipesim.engine.model.PipelineModel` into a :class:`ReplicationResult`: the flat row of
:func:`outcome_columns` (with ``detail=True`` also the :data:`DETAIL_COLUMNS` that policy
research reads), the weekly cumulative bookings, bookings per seat and, with an open pipeline,
what happened to each open deal. Every command that reports on replications reads this row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipesim.engine.model import (
    CAUSE_INDECISION,
    CAUSE_NOT_REACHED,
    CAUSE_STATUS_QUO,
    LOST,
    NO_DECISION,
    UNCAPTURED,
    WON,
    PipelineModel,
)
from pipesim.market.sources import SOURCE_CODE, SOURCES, LeadTable
from pipesim.scenario.schema import TERMINAL_STATES, Scenario

_OPEN_PIPELINE = SOURCE_CODE["open_pipeline"]
_INBOUND = SOURCE_CODE["inbound"]
_CONTACTED_US = tuple(SOURCE_CODE[s] for s in ("inbound", "campaign", "referral"))


@dataclass
class DealOutcomes:
    """What happened to each open-pipeline deal in one replication (deal order)."""

    status: np.ndarray  # outcome code (WON ... OPEN)
    t_close: np.ndarray  # day it closed (nan while open)
    value: np.ndarray
    preferred: np.ndarray  # whom the buyer preferred (choice code; -1 if it stalled first)
    coverage: np.ndarray  # share of the pursuit hours the owner could give it at day 0


@dataclass
class ReplicationResult:
    """One replication's output: a flat row, weekly cumulative bookings, bookings per seat."""

    row: dict[str, Any]
    bookings: np.ndarray  # cumulative bookings at the end of each week
    rep_bookings: np.ndarray  # bookings per seat over the horizon
    deals: DealOutcomes | None = None  # open-pipeline deals, when the scenario has any
    rep_new_opportunities: np.ndarray | None = None  # per seat: opportunities it opened


DETAIL_COLUMNS: tuple[str, ...] = (
    "lost_rate",
    "late_opportunities",
    "late_resolved",
    "late_won",
    "late_lost",
    "late_win_rate",
    "flank_attempts",
    "flank_successes",
    "flank_wins",
    "flank_hours",
    "uncaptured_inbound",
    "uncaptured_campaign",
    "wasted_campaign_spend",
    "responded",
    "qualified_responded",
    "qualified_rate_responded",
    "mean_response_hours",
)
"""Columns ``summarise_replication(..., detail=True)`` adds after :func:`outcome_columns`."""


def outcome_columns(scenario: Scenario) -> list[str]:
    """The columns of ``replications.csv``, in order."""
    cols = [
        "replication",
        "seed",
        "revenue",
        "hit_target",
        "leads",
        *TERMINAL_STATES[:5],
        "open_at_end",
        "no_decision_status_quo",
        "no_decision_indecision",
        "uncaptured_not_reached",
        *(f"leads_{s}" for s in SOURCES),
        "opportunities",
        "new_opportunities_per_rep_week",
        "opportunities_engaged_early",
        "resolved_opportunities",
        "won_opportunities",
        "no_decision_opportunities",
        "win_rate",
        "no_decision_rate",
        "funnel_awareness",
        "funnel_interest",
        "funnel_preference",
        "funnel_decision",
        "mean_cycle_days",
        "mean_wait_days",
        "inbound_engagement_fraction",
        "campaign_cost",
        "rep_cost",
        "gross_margin",
        "reps_at_quota",
        "rep_departures",
        "revenue_open_pipeline",
    ]
    for seg in scenario.segments:
        cols += [f"{seg}_leads", f"{seg}_revenue", *(f"{seg}_{state}" for state in TERMINAL_STATES)]
        cols += [f"{seg}_no_decision_status_quo", f"{seg}_no_decision_indecision"]
    cols += [f"team_{team}_revenue" for team in scenario.teams]
    return cols


def _campaign_cost(scenario: Scenario) -> float:
    """Campaign spend over the horizon."""
    cost = 0.0
    for camp in scenario.campaigns.values():
        end = camp.end_week if camp.end_week is not None else scenario.target.horizon_weeks
        end = min(end, scenario.target.horizon_weeks)
        cost += camp.budget_per_week * max(0.0, end - camp.start_week)
    return cost


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def summarise_replication(
    scenario: Scenario,
    replication: int,
    seed: int,
    leads: LeadTable,
    m: PipelineModel,
    detail: bool = False,
) -> ReplicationResult:
    """The replication's ``replications.csv`` row, weekly bookings and bookings per seat.

    With ``detail`` the row also has the :data:`DETAIL_COLUMNS` (after the others).
    """
    horizon = scenario.horizon_days
    status = m.status
    counts = np.bincount(status, minlength=6)
    won = status == WON
    # bookings to date (deals won in the period before day 0) count toward the target
    booked = scenario.booked_total
    revenue = booked + float(leads.value[won].sum())

    weeks = math.ceil(scenario.target.horizon_weeks - 1e-9)
    week_of = np.minimum((m.t_close[won] // 7.0).astype(int), weeks - 1)
    weekly = np.bincount(week_of, weights=leads.value[won], minlength=weeks)
    bookings = booked + np.cumsum(weekly)
    seats = scenario.reps.seats
    rep_bookings = np.bincount(m.seat_of[won], weights=leads.value[won], minlength=seats)

    pursued = m.pursued
    resolved = pursued & np.isin(status, (WON, LOST, NO_DECISION))
    end_seen = np.minimum(np.minimum(leads.t_exit, leads.t_decide), horizon)
    funnel = [int(pursued.sum())] + [
        int((pursued & (leads.t_stage[:, s] <= end_seen)).sum()) for s in (1, 2, 3)
    ]
    inbound = leads.source == _INBOUND
    cycle = (m.t_close - leads.t_lead)[won]

    campaign_cost = _campaign_cost(scenario)
    rs = scenario.reps
    staffed_days = seats * horizon - m.vacant_days
    rep_cost = staffed_days / 7.0 * rs.hours_per_week * rs.cost_per_hour
    target = scenario.target.revenue

    row: dict[str, Any] = {
        "replication": replication,
        "seed": seed,
        "revenue": revenue,
        "hit_target": bool(revenue >= target),
        "leads": len(leads),
    }
    for code, state in enumerate(TERMINAL_STATES):
        row[state] = int(counts[code])
    nd = status == NO_DECISION
    row["no_decision_status_quo"] = int((nd & (m.cause == CAUSE_STATUS_QUO)).sum())
    row["no_decision_indecision"] = int((nd & (m.cause == CAUSE_INDECISION)).sum())
    row["uncaptured_not_reached"] = int(
        ((status == UNCAPTURED) & (m.cause == CAUSE_NOT_REACHED)).sum()
    )
    src_counts = np.bincount(leads.source, minlength=len(SOURCES))
    for code, src in enumerate(SOURCES):
        row[f"leads_{src}"] = int(src_counts[code])
    row["opportunities"] = int(pursued.sum())
    row["new_opportunities_per_rep_week"] = (
        int((pursued & (leads.source != _OPEN_PIPELINE)).sum())
        / seats
        / scenario.target.horizon_weeks
    )
    row["opportunities_engaged_early"] = int((pursued & m.early).sum())
    row["resolved_opportunities"] = int(resolved.sum())
    row["won_opportunities"] = int((resolved & won).sum())
    row["no_decision_opportunities"] = int((resolved & nd).sum())
    row["win_rate"] = _ratio(row["won_opportunities"], row["resolved_opportunities"])
    row["no_decision_rate"] = _ratio(
        row["no_decision_opportunities"], row["resolved_opportunities"]
    )
    for name, value in zip(
        ("awareness", "interest", "preference", "decision"), funnel, strict=True
    ):
        row[f"funnel_{name}"] = value
    row["mean_cycle_days"] = float(cycle.mean()) if cycle.size else math.nan
    waits = m.wait[~np.isnan(m.wait)]
    row["mean_wait_days"] = float(waits.mean()) if waits.size else math.nan
    row["inbound_engagement_fraction"] = (
        float(leads.fraction[inbound].mean()) if inbound.any() else math.nan
    )
    row["campaign_cost"] = campaign_cost
    row["rep_cost"] = rep_cost
    row["gross_margin"] = revenue * scenario.economics.gross_margin - campaign_cost - rep_cost
    row["reps_at_quota"] = float((rep_bookings >= np.asarray(scenario.seat_quotas())).mean())
    for team, team_seats in scenario.team_seats().items():  # its reps and those under it
        row[f"team_{team}_revenue"] = float(rep_bookings[team_seats].sum())
    row["rep_departures"] = m.departures
    row["revenue_open_pipeline"] = float(leads.value[won & (leads.source == _OPEN_PIPELINE)].sum())
    seg_counts = np.zeros((len(scenario.segments), 6), dtype=np.int64)
    np.add.at(seg_counts, (leads.segment, status), 1)
    seg_revenue = np.bincount(
        leads.segment[won], weights=leads.value[won], minlength=len(scenario.segments)
    )
    for k, seg in enumerate(scenario.segments):
        row[f"{seg}_leads"] = int(seg_counts[k].sum())
        row[f"{seg}_revenue"] = float(seg_revenue[k])
        for code, state in enumerate(TERMINAL_STATES):
            row[f"{seg}_{state}"] = int(seg_counts[k, code])
        in_seg = nd & (leads.segment == k)
        row[f"{seg}_no_decision_status_quo"] = int((in_seg & (m.cause == CAUSE_STATUS_QUO)).sum())
        row[f"{seg}_no_decision_indecision"] = int((in_seg & (m.cause == CAUSE_INDECISION)).sum())
    if detail:
        row.update(_detail(m, campaign_cost))
    deals = None
    in_deal = leads.deal >= 0
    if in_deal.any():
        idx = np.flatnonzero(in_deal)
        idx = idx[np.argsort(leads.deal[idx], kind="stable")]
        deals = DealOutcomes(
            status=status[idx],
            t_close=m.t_close[idx],
            value=leads.value[idx],
            preferred=m.pref[idx],
            coverage=m.coverage[idx],
        )
    opened = pursued & (leads.source != _OPEN_PIPELINE)  # the open pipeline is not new
    rep_new = np.bincount(m.seat_of[opened], minlength=seats).astype(np.int64)
    return ReplicationResult(
        row=row, bookings=bookings, rep_bookings=rep_bookings, deals=deals,
        rep_new_opportunities=rep_new,
    )  # fmt: skip


def _detail(m: PipelineModel, campaign_cost: float) -> dict[str, Any]:
    """The :data:`DETAIL_COLUMNS` of a finished model (added to its row)."""
    status = m.status
    resolved = m.pursued & np.isin(status, (WON, LOST, NO_DECISION))
    late = m.pursued & ~m.early
    late_resolved = late & resolved
    src = m.leads.source
    uncaptured = status == UNCAPTURED
    campaign = src == SOURCE_CODE["campaign"]
    n_campaign = int(campaign.sum())
    row: dict[str, Any] = {}
    row["lost_rate"] = _ratio(int((status == LOST).sum()), int(resolved.sum()))
    row["late_opportunities"] = int(late.sum())
    row["late_resolved"] = int(late_resolved.sum())
    row["late_won"] = int((late_resolved & (status == WON)).sum())
    row["late_lost"] = int((late_resolved & (status == LOST)).sum())
    row["late_win_rate"] = _ratio(row["late_won"], row["late_resolved"])
    row["flank_attempts"] = int(m.flanked.sum())
    row["flank_successes"] = int(m.flank_won.sum())
    row["flank_wins"] = int((m.flank_won & (status == WON)).sum())
    row["flank_hours"] = float(m.flank_hours)
    row["uncaptured_inbound"] = int((uncaptured & (src == _INBOUND)).sum())
    row["uncaptured_campaign"] = int((uncaptured & campaign).sum())
    # spend is per response, so each uncaptured response wasted an average response's cost
    row["wasted_campaign_spend"] = (
        campaign_cost * row["uncaptured_campaign"] / n_campaign if n_campaign else 0.0
    )
    # leads that contacted us (inbound, campaign responses, referrals) a rep answered, and
    # those it reached and pursued: the leads of the lead response studies
    responded = ~np.isnan(m.wait) & np.isin(src, _CONTACTED_US)
    row["responded"] = int(responded.sum())
    row["qualified_responded"] = int((responded & m.pursued).sum())
    row["qualified_rate_responded"] = _ratio(row["qualified_responded"], row["responded"])
    row["mean_response_hours"] = (
        float(m.wait[responded].mean() * 24.0) if responded.any() else math.nan
    )
    return row
