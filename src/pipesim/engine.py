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
from pipesim.market.choice import COMPETITOR, STATUS_QUO, choose
from pipesim.market.sources import SOURCE_CODE, SOURCES, LeadTable, build_leads
from pipesim.policies.engagement import make_engagement
from pipesim.policies.flanking import make_flanking
from pipesim.policies.followup import make_follow_up
from pipesim.policies.qualification import Judgement, make_policy
from pipesim.rng import Streams

WON, LOST, NO_DECISION, DISQUALIFIED, UNCAPTURED, OPEN = range(6)
CAUSE_NONE, CAUSE_STATUS_QUO, CAUSE_INDECISION = range(3)
_OPEN_PIPELINE = SOURCE_CODE["open_pipeline"]
_INBOUND = SOURCE_CODE["inbound"]
_OUTBOUND = SOURCE_CODE["outbound"]
_DIRECT = (_OPEN_PIPELINE, _OUTBOUND)  # pursued at once, never queued
_QUEUED = tuple(code for code in range(len(SOURCES)) if code not in _DIRECT)


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
        self.flanking = make_flanking(scenario.flanking)
        follow_up = make_follow_up(scenario.leads.follow_up)
        self.priority = [follow_up.priority(name) for name in SOURCES]
        self.horizon = scenario.horizon_days
        self.max_wait = scenario.leads.max_wait_days
        self.gap = unique_gaps(scenario)
        n = len(leads)
        self.status = np.full(n, OPEN, dtype=np.int8)
        self.cause = np.zeros(n, dtype=np.int8)
        self.t_close = np.full(n, np.nan)
        self.t_engaged = np.full(n, np.nan)
        self.wait = np.full(n, np.nan)
        self.seat_of = np.full(n, -1, dtype=np.int32)
        self.early = np.zeros(n, dtype=bool)
        self.pursued = np.zeros(n, dtype=bool)
        self.flanked = np.zeros(n, dtype=bool)
        self.flank_won = np.zeros(n, dtype=bool)
        self.flank_hours = 0.0
        self.departures = 0
        self.vacant_days = 0.0

        spec = scenario.reps
        outbound = scenario.leads.outbound
        prospecting = (
            scenario.leads.prospecting.hours_per_week
            + outbound.opportunities_per_rep_week * outbound.hours_per_opportunity
            + make_engagement(scenario.engagement).hours_per_week
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
        # leads waiting for a rep, served by priority class then arrival order
        self.queue = simpy.PriorityStore(self.env)
        self.busy = [False] * len(self.reps)
        self.rehired: list[simpy.Event | None] = [None] * len(self.reps)
        self.workers: list[simpy.Process] = []

    # ------------------------------------------------------------------ draws
    def _skill(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.skill_mean, s.skill_sd)))

    def _noise(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.qualification_noise_mean, s.qualification_noise_sd)))

    # ------------------------------------------------------------------ processes
    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Release each lead when it reaches us (leads are sorted by that day)."""
        env = self.env
        leads = self.leads
        t_lead = leads.t_lead
        source = leads.source
        delay_to_queue = self.sc.leads.response_days
        next_seat = 0
        for i in range(len(t_lead)):
            src = source[i]
            due = t_lead[i] + (0.0 if src in _DIRECT else delay_to_queue)
            if due > env.now:
                yield env.timeout(due - env.now)
            if src == _OPEN_PIPELINE:
                rep = self.reps[next_seat % len(self.reps)]
                next_seat += 1
                env.process(self.pursue(i, rep, bool(leads.preset_early[i])))
            elif src == _OUTBOUND:
                # the rep opened it: no queue, no qualification
                rep = self.reps[leads.seat[i]]
                env.process(self.pursue(i, rep, env.now <= leads.t_stage[i, 2]))
            else:
                self.queue.put(simpy.PriorityItem((self.priority[src], i), i))

    def rep_work(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """A seat's working life: take the next lead, qualify it, pursue or disqualify it."""
        env = self.env
        leads = self.leads
        seat = rep.seat
        while True:
            hired = self.rehired[seat]
            if hired is not None:
                yield hired
                continue
            get = self.queue.get()
            try:
                item = yield get
            except simpy.Interrupt:  # the rep left while waiting for a lead
                if not get.triggered:
                    get.cancel()
                    continue
                item = get.value
            i: int = item.item
            deadline = leads.t_lead[i] + self.max_wait
            if env.now > deadline:  # went cold before anyone picked it up
                self._close(i, UNCAPTURED, at=deadline)
                continue
            self.busy[seat] = True
            now = env.now
            self.wait[i] = now - leads.t_lead[i]
            yield env.timeout(leads.qualify_hours[i] * 7.0 / rep.lead_hours(now))
            self.busy[seat] = False
            if not self.policy.pursue(self._judge(i, rep)):
                self._close(i, DISQUALIFIED, seat=seat)
                continue
            env.process(self.pursue(i, rep, env.now <= leads.t_stage[i, 2]))

    def _judge(self, i: int, rep: Rep) -> Judgement:
        leads = self.leads
        accuracy = self.sc.reps.check_accuracy
        noticed = tuple(
            name
            for k, name in enumerate(QUALIFICATION_CHECKS)
            if leads.failed_checks[i, k] and leads.check_noticed[i, k] < accuracy
        )
        return Judgement(
            float(leads.fit[i] + rep.noise * leads.fit_noise[i]),
            noticed,
            float(leads.u_deviate[i]),
        )

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
        flank_from = flank_gain = None
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
            rep_gain = effect * (ch.early_shaping if early else ch.late_effect)
            flanking = self.flanking
            if pick == COMPETITOR and flanking.attempts and effect > 0:
                gap = float(self.gap[leads.segment[i]])
                sponsor = leads.u_sponsor[i] < self.sc.flanking.sponsor_probability
                won_flank = leads.u_flank[i] < flanking.success_probability(gap, sponsor)
                self.flanked[i] = True
                self.flank_won[i] = won_flank
                start_stage = 3 if self.sc.flanking.move_last else 2
                flank_from = max(now, leads.t_stage[i, start_stage])
                flank_gain = flanking.weight_shift * gap if won_flank else None
            if flank_gain is not None:
                # the reframed buyer re-evaluates with weight moved onto our unique criterion
                at_decision = u_us + beta * (rep_gain + flank_gain)
                pick = choose(at_decision, lse, u_sq, leads.u_decision[i])
            elif leads.u_sticky[i] >= ch.stickiness:
                pick = choose(u_us + beta * rep_gain, lse, u_sq, leads.u_decision[i])
            outcome = (WON, LOST, NO_DECISION)[pick]
            cause = CAUSE_STATUS_QUO if pick == STATUS_QUO else CAUSE_NONE
            t_done = leads.t_decide[i]
        if flank_from is not None and flank_from < t_done:
            hours = self.flanking.hours_per_week
            if flank_from > env.now:
                yield env.timeout(flank_from - env.now)
            rep.extra_hours += hours
            self.flank_hours += hours * (min(t_done, self.horizon) - env.now) / 7.0
            yield env.timeout(t_done - env.now)
            rep.extra_hours -= hours
        elif t_done > env.now:
            yield env.timeout(t_done - env.now)
        rep.open_opportunities -= 1
        self._close(i, outcome, cause, rep.seat)

    def seat_life(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """Attrition and backfill for one seat."""
        spec = self.sc.reps
        if spec.attrition_per_year <= 0:
            return
        env = self.env
        seat = rep.seat
        rng = self.streams(f"reps:seat:{seat}")
        mean_tenure = 365.0 / spec.attrition_per_year
        backfill = spec.backfill_weeks * 7.0
        while True:
            yield env.timeout(rng.exponential(mean_tenure))
            rep.employed = False
            self.departures += 1
            self.rehired[seat] = env.event()
            if not self.busy[seat]:
                self.workers[seat].interrupt()
            self.vacant_days += min(backfill, self.horizon - env.now)
            if backfill > 0:
                yield env.timeout(backfill)
            rep.skill = self._skill(rng)
            rep.noise = self._noise(rng)
            rep.hired_at = env.now
            rep.employed = True
            event = self.rehired[seat]
            self.rehired[seat] = None
            assert event is not None
            event.succeed()

    def _close(
        self, i: int, state: int, cause: int = CAUSE_NONE, seat: int = -1, at: float | None = None
    ) -> None:
        self.status[i] = state
        self.cause[i] = cause
        self.t_close[i] = self.env.now if at is None else at
        if seat >= 0:
            self.seat_of[i] = seat

    def run(self) -> None:
        """Run the replication to the horizon."""
        env = self.env
        env.process(self.arrivals())
        for rep in self.reps:
            self.workers.append(env.process(self.rep_work(rep)))
            env.process(self.seat_life(rep))
        env.run(until=self.horizon)
        # leads nobody picked up go cold at their deadline, if that falls inside the horizon
        leads = self.leads
        waiting = (self.status == OPEN) & np.isnan(self.wait) & np.isin(leads.source, _QUEUED)
        deadline = leads.t_lead + self.max_wait
        for i in np.flatnonzero(waiting & (deadline <= self.horizon)):
            self._close(int(i), UNCAPTURED, at=float(deadline[i]))


def unique_gaps(scenario: Scenario) -> np.ndarray:
    """Per segment: our largest score lead over every competitor on one criterion (0 if none).

    This is the "something to flank to" of domain.md §2: value the competitors cannot match.
    """
    gaps = np.zeros(len(scenario.segments))
    for k, seg in enumerate(scenario.segments.values()):
        names = seg.competitors if seg.competitors is not None else list(scenario.competitors)
        best = 0.0
        for crit in scenario.criteria:
            ours = scenario.us.scores.get(crit, 0.0)
            theirs = max(
                (scenario.competitors[c].scores.get(crit, 0.0) for c in names), default=0.0
            )
            best = max(best, ours - theirs)
        gaps[k] = best
    return gaps


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
        cols += [f"{seg}_no_decision_status_quo", f"{seg}_no_decision_indecision"]
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
        in_seg = nd & (leads.segment == k)
        row[f"{seg}_no_decision_status_quo"] = int((in_seg & (m.cause == CAUSE_STATUS_QUO)).sum())
        row[f"{seg}_no_decision_indecision"] = int((in_seg & (m.cause == CAUSE_INDECISION)).sum())
    return ReplicationResult(row=row, bookings=bookings, rep_bookings=rep_bookings)
