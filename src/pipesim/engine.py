"""One replication: leads meet reps in a SimPy model; the result is one tidy record.

``run_replication(scenario, replication, seed)`` is a pure, top-level (picklable) function, so
any executor can run it. Inside, the buyers' own clocks come pre-drawn from
:mod:`pipesim.market.sources`; SimPy handles only where buyers and reps interact:

* a lead waits for a free rep (a ``simpy.Store`` of free reps, FIFO) and goes cold
  (*uncaptured*) if nobody picks it up within ``leads.max_wait_days``;
* the rep qualifies it (rep hours, stretched when the rep's open deals eat its week) and the
  qualification policy pursues or disqualifies it;
* a pursued opportunity occupies the rep's pursuit hours until the buyer decides or stalls; the
  buyer's choice (us, a competitor, the status quo) is a logit whose our-side utility the rep
  shaped if engaged before the preference formed;
* seats lose reps to attrition and are backfilled by new hires who ramp up.

Every lead ends in exactly one terminal state (:data:`pipesim.config.TERMINAL_STATES`).
Statistics are computed once after the run from the per-lead arrays.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from pipesim.agents.reps import Rep, hire
from pipesim.config import QUALIFICATION_CHECKS, TERMINAL_STATES, Scenario
from pipesim.market.choice import choose
from pipesim.market.sources import SOURCE_CODE, SOURCES, LeadTable, build_leads
from pipesim.policies.qualification import Judgement, make_policy
from pipesim.rng import Streams

WON, LOST, NO_DECISION, DISQUALIFIED, UNCAPTURED, OPEN = range(6)
CAUSE_NONE, CAUSE_STATUS_QUO, CAUSE_INDECISION = range(3)
_OPEN_PIPELINE = SOURCE_CODE["open_pipeline"]
_INBOUND = SOURCE_CODE["inbound"]
_OUTBOUND = SOURCE_CODE["outbound"]


@dataclass
class ReplicationResult:
    """One replication's output: a flat row, weekly cumulative bookings, bookings per seat."""

    row: dict[str, Any]
    bookings: np.ndarray  # cumulative bookings at the end of each week
    rep_bookings: np.ndarray  # bookings per seat over the horizon


class PipelineModel:
    """The SimPy side of one replication (state lives here, the scenario stays frozen)."""

    def __init__(self, scenario: Scenario, leads: LeadTable, streams: Streams) -> None:
        self.sc = scenario
        self.leads = leads
        self.streams = streams
        self.env = simpy.Environment()
        self.policy = make_policy(scenario.qualification)
        self.horizon = scenario.horizon_days
        n = len(leads)
        self.status = np.full(n, OPEN, dtype=np.int8)
        self.cause = np.zeros(n, dtype=np.int8)
        self.t_close = np.full(n, np.nan)
        self.t_engaged = np.full(n, np.nan)
        self.wait = np.full(n, np.nan)
        self.seat_of = np.full(n, -1, dtype=np.int32)
        self.early = np.zeros(n, dtype=bool)
        self.pursued = np.zeros(n, dtype=bool)
        self.departures = 0
        self.vacant_days = 0.0

        spec = scenario.reps
        outbound = scenario.leads.outbound
        prospecting = (
            scenario.leads.prospecting.hours_per_week
            + outbound.opportunities_per_rep_week * outbound.hours_per_opportunity
        )
        members = spec.members or []
        rng = streams("reps:initial")
        self.reps: list[Rep] = []
        for k in range(spec.seats):
            m = members[k] if k < len(members) else None
            skill = m.skill if m and m.skill is not None else self._skill(rng)
            noise = (
                m.qualification_noise
                if m and m.qualification_noise is not None
                else self._noise(rng)
            )
            tenure = m.tenure_weeks if m and m.tenure_weeks is not None else spec.tenure_weeks
            self.reps.append(hire(spec, k, skill, noise, -tenure * 7.0, prospecting))
        self.free = simpy.Store(self.env)
        self.free.items.extend(self.reps)
        self.busy = [False] * len(self.reps)

    # ------------------------------------------------------------------ draws
    def _skill(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.skill_mean, s.skill_sd)))

    def _noise(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.qualification_noise_mean, s.qualification_noise_sd)))

    # ------------------------------------------------------------------ processes
    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Release each lead at the day it reaches us (leads are sorted by that day)."""
        env = self.env
        t_lead = self.leads.t_lead
        source = self.leads.source
        next_seat = 0
        for i in range(len(t_lead)):
            delay = t_lead[i] - env.now
            if delay > 0:
                yield env.timeout(delay)
            if source[i] == _OPEN_PIPELINE:
                rep = self.reps[next_seat % len(self.reps)]
                next_seat += 1
                env.process(self.pursue(i, rep, bool(self.leads.preset_early[i])))
            elif source[i] == _OUTBOUND:
                # the rep opened it: no queue, no qualification
                rep = self.reps[self.leads.seat[i]]
                env.process(self.pursue(i, rep, env.now <= self.leads.t_stage[i, 2]))
            else:
                env.process(self.lead(i))

    def lead(self, i: int) -> Generator[simpy.Event, Any, None]:
        """A new lead: wait for a rep, be qualified, then pursued or disqualified."""
        env = self.env
        get = self.free.get()
        if not get.triggered:
            patience = env.timeout(self.sc.leads.max_wait_days)
            yield get | patience
            if not get.triggered:
                get.cancel()
                self._close(i, UNCAPTURED)
                return
        rep: Rep = get.value  # type: ignore[assignment]
        self.busy[rep.seat] = True
        now = env.now
        self.wait[i] = now - self.leads.t_lead[i]
        yield env.timeout(self.leads.qualify_hours[i] * 7.0 / rep.lead_hours(now))
        pursue = self.policy.pursue(self._judge(i, rep))
        self.busy[rep.seat] = False
        if rep.employed:
            self.free.put(rep)
        if not pursue:
            self._close(i, DISQUALIFIED, seat=rep.seat)
            return
        yield from self.pursue(i, rep, env.now <= self.leads.t_stage[i, 2])

    def _judge(self, i: int, rep: Rep) -> Judgement:
        leads = self.leads
        accuracy = self.sc.reps.check_accuracy
        noticed = tuple(
            name
            for k, name in enumerate(QUALIFICATION_CHECKS)
            if leads.failed_checks[i, k] and leads.check_noticed[i, k] < accuracy
        )
        return Judgement(float(leads.fit[i] + rep.noise * leads.fit_noise[i]), noticed)

    def pursue(self, i: int, rep: Rep, early: bool) -> Generator[simpy.Event, Any, None]:
        """An opportunity: the rep works it until the buyer decides or stalls."""
        env = self.env
        now = env.now
        leads = self.leads
        self.pursued[i] = True
        self.early[i] = early
        self.t_engaged[i] = now
        self.seat_of[i] = rep.seat
        effect = rep.skill * rep.productivity(now) * rep.coverage(now)
        if leads.t_decide[i] <= now:
            # the buyer decided while the lead waited or was being qualified: too late to help
            effect = 0.0
        rep.open_opportunities += 1
        if leads.t_exit[i] < leads.t_decide[i]:
            outcome, cause, t_done = NO_DECISION, CAUSE_INDECISION, leads.t_exit[i]
        else:
            ch = self.sc.choice
            beta = ch.sensitivity
            u_us = leads.u_us[i]
            lse = leads.lse_competitors[i]
            u_sq = leads.u_status_quo[i]
            at_pref = u_us + beta * (ch.early_shaping * effect if early else -ch.unengaged_penalty)
            pick = choose(at_pref, lse, u_sq, leads.u_preference[i])
            if leads.u_sticky[i] >= ch.stickiness:
                at_decision = u_us + beta * effect * (ch.early_shaping if early else ch.late_effect)
                pick = choose(at_decision, lse, u_sq, leads.u_decision[i])
            outcome = (WON, LOST, NO_DECISION)[pick]
            cause = CAUSE_STATUS_QUO if pick == 2 else CAUSE_NONE
            t_done = leads.t_decide[i]
        if t_done > now:
            yield env.timeout(t_done - now)
        rep.open_opportunities -= 1
        self._close(i, outcome, cause, rep.seat)

    def seat_life(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """Attrition and backfill for one seat."""
        spec = self.sc.reps
        if spec.attrition_per_year <= 0:
            return
        env = self.env
        rng = self.streams(f"reps:seat:{rep.seat}")
        mean_tenure = 365.0 / spec.attrition_per_year
        backfill = spec.backfill_weeks * 7.0
        while True:
            yield env.timeout(rng.exponential(mean_tenure))
            rep.employed = False
            self.departures += 1
            if not self.busy[rep.seat]:
                self.free.items.remove(rep)
            self.vacant_days += min(backfill, self.horizon - env.now)
            if backfill > 0:
                yield env.timeout(backfill)
            rep.skill = self._skill(rng)
            rep.noise = self._noise(rng)
            rep.hired_at = env.now
            rep.employed = True
            if not self.busy[rep.seat]:
                self.free.put(rep)

    def _close(self, i: int, state: int, cause: int = CAUSE_NONE, seat: int = -1) -> None:
        self.status[i] = state
        self.cause[i] = cause
        self.t_close[i] = self.env.now
        if seat >= 0:
            self.seat_of[i] = seat

    def run(self) -> None:
        """Run the replication to the horizon."""
        self.env.process(self.arrivals())
        for rep in self.reps:
            self.env.process(self.seat_life(rep))
        self.env.run(until=self.horizon)


def simulate(scenario: Scenario, seed: int) -> PipelineModel:
    """Simulate one replication and return the model with its per-lead record arrays.

    ``model.leads`` holds what was drawn for each lead; ``model.status``, ``t_close``,
    ``wait``, ``seat_of``, ``pursued``, ``early`` what happened to it.
    """
    streams = Streams(seed)
    leads = build_leads(scenario, streams)
    model = PipelineModel(scenario, leads, streams)
    model.run()
    return model


def run_replication(scenario: Scenario, replication: int, seed: int) -> ReplicationResult:
    """Simulate one replication of ``scenario`` from ``seed``; a pure, picklable function."""
    model = simulate(scenario, seed)
    return _summarise(scenario, replication, seed, model.leads, model)


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
    ]
    for seg in scenario.segments:
        cols += [f"{seg}_leads", f"{seg}_revenue", *(f"{seg}_{state}" for state in TERMINAL_STATES)]
    return cols


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _summarise(
    scenario: Scenario, replication: int, seed: int, leads: LeadTable, m: PipelineModel
) -> ReplicationResult:
    horizon = scenario.horizon_days
    status = m.status
    counts = np.bincount(status, minlength=6)
    won = status == WON
    revenue = float(leads.value[won].sum())

    weeks = math.ceil(scenario.target.horizon_weeks - 1e-9)
    week_of = np.minimum((m.t_close[won] // 7.0).astype(int), weeks - 1)
    weekly = np.bincount(week_of, weights=leads.value[won], minlength=weeks)
    bookings = np.cumsum(weekly)
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

    campaign_cost = 0.0
    for camp in scenario.campaigns.values():
        end = camp.end_week if camp.end_week is not None else scenario.target.horizon_weeks
        end = min(end, scenario.target.horizon_weeks)
        campaign_cost += camp.budget_per_week * max(0.0, end - camp.start_week)
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
    row["reps_at_quota"] = float((rep_bookings >= scenario.rep_quota).mean())
    row["rep_departures"] = m.departures
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
    return ReplicationResult(row=row, bookings=bookings, rep_bookings=rep_bookings)
