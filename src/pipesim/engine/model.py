"""The SimPy model of one replication: where buyers meet reps.

The buyers' own clocks (stage dwells, stall and decision times, utilities, fit, failed checks)
come pre-drawn, one lead per row of a :class:`~pipesim.market.sources.LeadTable`; SimPy handles
only the meetings (:class:`PipelineModel`):

* open-pipeline and outbound opportunities go straight to their rep when due (``arrivals``);
  other leads join a waiting heap ordered by the follow-up policy's priority class, then arrival;
* idle reps wait in a FIFO queue and take the first waiting lead still warm; a lead not picked up
  within ``leads.max_wait_days`` is closed as *uncaptured* at its deadline; with team territories
  (``teams.<name>.segments``) each lead is drawn into a team's territory or the shared pool by its
  segment's shares, and a rep takes only shared leads and those of the territories it works;
* when a rep picks a lead up, the chance of still reaching it decays with the hours since it
  reached us (``leads.response``, :mod:`pipesim.market.response`); a lead answered too late is
  closed as uncaptured after one contact attempt (``attempt_hours`` of the rep's time);
* qualifying is a timeout (rep hours stretched by the rep's open-deal load); the qualification
  policy then pursues or disqualifies on the rep's noisy judgement
  (:func:`pipesim.policies.qualification.noticed_masks`);
* a pursuit fixes the buyer's choice (us, a competitor, the status quo: a logit whose our-side
  utility the rep shaped if engaged before the preference formed; flanking when a competitor is
  preferred) and its close day at once, so it needs no event: the close is a pending change to
  the rep's load;
* seats lose reps to attrition and are backfilled by new hires who ramp up (one process a seat);
  while a seat is vacant it opens no outbound opportunities (those it would have opened are
  closed as uncaptured) and takes no waiting leads, and its cost is not counted.

Every lead ends in exactly one terminal state (:data:`pipesim.scenario.schema.TERMINAL_STATES`).
:func:`simulate` runs one replication and returns the model with its per-lead record arrays;
statistics are computed after the run (:mod:`pipesim.engine.summary`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Generator
from functools import partial
from typing import Any

import numpy as np
import simpy

from pipesim.agents.reps import Rep, hire
from pipesim.market.choice import COMPETITOR, STATUS_QUO, choose
from pipesim.market.response import Reach
from pipesim.market.sources import SOURCE_CODE, SOURCES, LeadTable, build_leads
from pipesim.policies.engagement import make_engagement
from pipesim.policies.flanking import make_flanking
from pipesim.policies.followup import make_follow_up
from pipesim.policies.qualification import decider, make_policy, noticed_masks
from pipesim.scenario.rng import Streams
from pipesim.scenario.schema import Scenario

WON, LOST, NO_DECISION, DISQUALIFIED, UNCAPTURED, OPEN = range(6)
CAUSE_NONE, CAUSE_STATUS_QUO, CAUSE_INDECISION, CAUSE_NOT_REACHED = range(4)
_OPEN_PIPELINE = SOURCE_CODE["open_pipeline"]
_INBOUND = SOURCE_CODE["inbound"]
_OUTBOUND = SOURCE_CODE["outbound"]
_DIRECT = (_OPEN_PIPELINE, _OUTBOUND)  # pursued at once, never queued
_QUEUED = tuple(code for code in range(len(SOURCES)) if code not in _DIRECT)


class PipelineModel:
    """The SimPy side of one replication (state lives here, the scenario stays frozen).

    Time advances in SimPy; events happen only where buyers and reps meet:

    * an *arrival* releases each lead when it reaches us (open-pipeline and outbound
      opportunities go straight to their rep);
    * a *dispatcher* gives waiting leads to idle reps: waiting leads sit in a heap ordered by
      the follow-up policy's priority class, then arrival; idle reps in a FIFO queue. A lead
      whose ``max_wait_days`` passed before a rep reached it goes cold (uncaptured) at its
      deadline;
    * a *qualification* is a timeout (rep hours stretched by the rep's load) whose callback
      applies the qualification policy and hands the rep its next lead;
    * an *opportunity's* outcome and close day are fixed when the pursuit starts (the buyer's
      clock is pre-drawn), so it needs no event: each seat keeps a heap of pending changes to
      its open-deal count and flanking hours, applied before the rep's load is read;
    * *seats* lose reps to attrition and are backfilled (one process per seat).

    Per-lead inputs are read from Python lists and outcomes written to lists (NumPy scalar
    access is several times slower in this hot path); arrays are built after the run.
    """

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
        self.departures = 0
        self.vacant_days = 0.0
        self.vacancies: list[tuple[int, float, float]] = []  # (seat, from day, to day)
        self.flank_hours = 0.0

        # per-lead inputs as Python lists
        self._t_lead: list[float] = leads.t_lead.tolist()
        self._source: list[int] = leads.source.tolist()
        self._qualify_hours: list[float] = leads.qualify_hours.tolist()
        self._preference_start: list[float] = leads.t_stage[:, 2].tolist()
        flank_stage = 3 if scenario.flanking.move_last else 2
        self._flank_start: list[float] = leads.t_stage[:, flank_stage].tolist()
        self._noticed: list[int] = noticed_masks(
            leads.failed_checks, leads.check_noticed, scenario.reps.check_accuracy
        ).tolist()
        self._decide = decider(self.policy)
        self._fit: list[float] = leads.fit.tolist()
        self._fit_noise: list[float] = leads.fit_noise.tolist()
        self._u_deviate: list[float] = leads.u_deviate.tolist()
        self._u_reach: list[float] = leads.u_reach.tolist()
        response = scenario.leads.response
        curves = {"inbound": response.inbound, "campaign": response.campaign,
                  "referral": response.referral, "prospecting": response.prospecting}  # fmt: skip
        # per source code: how the chance of reaching a lead decays (None: it does not)
        self._reach = [Reach.of(curves[name]) if name in curves else None for name in SOURCES]
        self.attempt_hours = response.attempt_hours
        self._t_exit: list[float] = leads.t_exit.tolist()
        self._t_decide: list[float] = leads.t_decide.tolist()
        self._u_us: list[float] = leads.u_us.tolist()
        self._lse: list[float] = leads.lse_competitors.tolist()
        self._u_sq: list[float] = leads.u_status_quo.tolist()
        self._u_pref: list[float] = leads.u_preference.tolist()
        self._u_sticky: list[float] = leads.u_sticky.tolist()
        self._u_dec: list[float] = leads.u_decision.tolist()
        self._u_sponsor: list[float] = leads.u_sponsor.tolist()
        self._u_flank: list[float] = leads.u_flank.tolist()
        self._segment: list[int] = leads.segment.tolist()
        self._preset_early: list[bool] = leads.preset_early.tolist()
        self._preset_pref: list[int] = leads.preset_pref.tolist()
        self._attended: list[bool] = leads.attended.tolist()
        self._opener: list[int] = leads.seat.tolist()
        self._gap: list[float] = self.gap.tolist()

        # per-lead outcomes as Python lists (turned into arrays by run())
        n = len(leads)
        self._status: list[int] = [OPEN] * n
        self._cause: list[int] = [CAUSE_NONE] * n
        self._t_close: list[float] = [math.nan] * n
        self._wait: list[float] = [math.nan] * n
        self._seat_of: list[int] = [-1] * n
        self._early: list[bool] = [False] * n
        self._pursued: list[bool] = [False] * n
        self._t_engaged: list[float] = [math.nan] * n
        self._flanked: list[bool] = [False] * n
        self._flank_won: list[bool] = [False] * n
        self._pref: list[int] = [-1] * n  # whom the buyer preferred (choice code), -1 if none
        self._coverage: list[float] = [math.nan] * n  # rep's coverage when the pursuit started

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
        # planned hires (reps.members[].start_week): the day each seat's first rep starts
        self.starts = scenario.reps.start_days()
        for k in range(spec.seats):
            m = members[k] if k < len(members) else None
            skill = m.skill if m and m.skill is not None else self._skill(rng)
            noise = (
                m.qualification_noise
                if m and m.qualification_noise is not None
                else self._noise(rng)
            )
            tenure = m.tenure_weeks if m and m.tenure_weeks is not None else spec.tenure_weeks
            planned = m is not None and m.start_week is not None  # tenure 0 on its start day
            hired_at = self.starts[k] if planned else -tenure * 7.0
            self.reps.append(hire(spec, k, skill, noise, hired_at, prospecting))
        self._lead_of = [-1] * len(self.reps)  # the lead each seat is qualifying
        self._reached = [True] * len(self.reps)  # did the seat's response reach its lead
        self._on_qualified = [partial(self._qualified, rep) for rep in self.reps]
        self.idle: deque[Rep] = deque()
        self.waiting: list[tuple[int, int]] = []  # heap of (priority class, lead index)
        self.busy = [False] * len(self.reps)
        # the seat's rep left and is not yet replaced, or a planned hire has not started
        self.gone = [start > 0 for start in self.starts]
        for k, start in enumerate(self.starts):
            if start > 0:
                self.vacancies.append((k, 0.0, min(start, self.horizon)))
                self.vacant_days += min(start, self.horizon)
        # per seat: heap of (day, order, change in open deals, change in extra hours)
        self.changes: list[list[tuple[float, int, int, float]]] = [[] for _ in self.reps]
        self._order = 0
        # leads in the order they are due: direct ones at once, queued ones after response_days
        direct = np.isin(leads.source, _DIRECT)
        due = leads.t_lead + np.where(direct, 0.0, scenario.leads.response_days)
        order = np.argsort(due, kind="stable")
        self._direct_order: list[int] = order[direct[order]].tolist()
        self._queued_order: list[int] = order[~direct[order]].tolist()
        self._due: list[float] = due.tolist()
        self._next_queued = 0
        self._next_due = self._due[self._queued_order[0]] if self._queued_order else math.inf
        self._wake_due = math.inf
        self._wakeup = False
        if any(team.segments for team in scenario.teams.values()):
            self._territories(scenario, leads, streams)

    def _territories(self, scenario: Scenario, leads: LeadTable, streams: Streams) -> None:
        """Waiting leads in one heap per territory (0: shared); reps take from theirs and 0.

        Each lead falls in a team's territory with its segment's share for that team (one uniform
        a lead from the ``territories`` stream, so other draws are untouched), else in the shared
        pool. The dispatcher's methods are swapped for the territory-aware ones, so a scenario
        without territories runs the single-heap code unchanged.
        """
        teams = [name for name, team in scenario.teams.items() if team.segments]
        covered = scenario.team_seats()
        self._rep_pools: list[list[int]] = [
            [0, *(g for g, name in enumerate(teams, 1) if seat in covered[name])]
            for seat in range(len(self.reps))
        ]
        u = streams("territories").random(len(leads))
        pool = np.zeros(len(leads), dtype=np.int64)
        for k, seg in enumerate(scenario.segments):
            in_seg = leads.segment == k
            low = 0.0
            for g, name in enumerate(teams, 1):
                share = scenario.teams[name].segments.get(seg, 0.0)
                if share > 0:
                    pool[in_seg & (u >= low) & (u < low + share)] = g
                    low += share
        self._pool_of: list[int] = pool.tolist()
        self._heaps: list[list[tuple[int, int]]] = [[] for _ in range(len(teams) + 1)]
        self._admit = self._admit_territories  # type: ignore[method-assign]
        self._woken = self._woken_territories  # type: ignore[method-assign]
        self.next_lead = self._next_lead_territories  # type: ignore[method-assign]

    # ------------------------------------------------------------------ draws
    def _skill(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.skill_mean, s.skill_sd)))

    def _noise(self, rng: np.random.Generator) -> float:
        s = self.sc.reps
        return max(0.0, float(rng.normal(s.qualification_noise_mean, s.qualification_noise_sd)))

    # ------------------------------------------------------------------ a seat's load, lazily
    def _change(self, rep: Rep, day: float, d_open: int, d_hours: float) -> None:
        self._order += 1
        heapq.heappush(self.changes[rep.seat], (day, self._order, d_open, d_hours))

    def _settle(self, rep: Rep, now: float) -> None:
        pending = self.changes[rep.seat]
        while pending and pending[0][0] <= now:
            _, _, d_open, d_hours = heapq.heappop(pending)
            rep.open_opportunities += d_open
            rep.extra_hours += d_hours

    # ------------------------------------------------------------------ leads
    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Hand open-pipeline and outbound opportunities to their rep when they are due.

        Other leads need no event of their own: they join the waiting heap when a rep looks for
        work (:meth:`_admit`), and only while some rep is idle does a wake-up wait for the next
        one (:meth:`_wake_at_next`).
        """
        env = self.env
        source = self._source
        t_lead = self._t_lead
        owners = open_pipeline_seats(self.sc)
        deal = self.leads.deal.tolist()
        for i in self._direct_order:
            if t_lead[i] > env.now:
                yield env.timeout(t_lead[i] - env.now)
            if source[i] == _OPEN_PIPELINE:
                self.start_pursuit(i, self.reps[owners[deal[i]]], self._preset_early[i])
            elif self.gone[self._opener[i]]:
                # outbound from a vacant seat: nobody is there to open it, so the buyer is
                # never engaged (closed as uncaptured when it was due)
                self._close(i, UNCAPTURED, env.now)
            else:  # outbound: the rep opened it, no queue, no qualification
                self.start_pursuit(
                    i, self.reps[self._opener[i]], env.now <= self._preference_start[i]
                )

    def _admit(self, upto: float) -> None:
        """Move every queued lead due by day ``upto`` into the waiting heap."""
        order, due, k = self._queued_order, self._due, self._next_queued
        priority, source, waiting = self.priority, self._source, self.waiting
        n = len(order)
        while k < n and due[order[k]] <= upto:
            i = order[k]
            heapq.heappush(waiting, (priority[source[i]], i))
            k += 1
        self._next_queued = k
        self._next_due = due[order[k]] if k < n else math.inf

    def _wake_at_next(self) -> None:
        """While a rep is idle, wake up when the next queued lead is due."""
        if self._wakeup or not self.idle or self._next_queued >= len(self._queued_order):
            return
        due = self._wake_due = self._next_due
        self._wakeup = True
        event = simpy.Timeout(self.env, max(0.0, due - self.env.now))
        event.callbacks.append(self._woken)

    def _woken(self, _event: simpy.Event) -> None:
        self._wakeup = False
        # the clock may land a rounding error short of the due day: admit up to it
        self._admit(max(self._wake_due, self.env.now))
        idle, waiting = self.idle, self.waiting
        while idle and waiting:
            self.next_lead(idle.popleft())
        self._wake_at_next()

    def next_lead(self, rep: Rep) -> None:
        """Give ``rep`` the first waiting lead still warm (closing cold ones), or idle it."""
        env = self.env
        now = env.now
        if self._next_due <= now:
            self._admit(now)
        waiting, t_lead, max_wait = self.waiting, self._t_lead, self.max_wait
        while waiting:
            i = heapq.heappop(waiting)[1]
            arrived = t_lead[i]
            if now > arrived + max_wait:  # went cold before anyone picked it up
                self._close(i, UNCAPTURED, arrived + max_wait)
                continue
            self._take(rep, i, now, arrived)
            return
        self.idle.append(rep)
        self._wake_at_next()

    def _take(self, rep: Rep, i: int, now: float, arrived: float) -> None:
        """``rep`` starts qualifying lead ``i`` (or one attempt to reach it, if it went cold)."""
        seat = rep.seat
        self.busy[seat] = True
        self._wait[i] = now - arrived
        pending = self.changes[seat]
        if pending and pending[0][0] <= now:
            self._settle(rep, now)
        self._lead_of[seat] = i
        hours = self._qualify_hours[i]
        reach = self._reach[self._source[i]]
        if reach is not None and self._u_reach[i] >= reach.chance((now - arrived) * 24.0):
            # the lead went cold while it waited: one contact attempt, then it is closed
            self._reached[seat] = False
            hours = self.attempt_hours
        done = simpy.Timeout(self.env, hours * 7.0 / rep.lead_hours(now))
        done.callbacks.append(self._on_qualified[seat])

    # ------------------------------------------------------------------ territories
    def _admit_territories(self, upto: float) -> None:
        """:meth:`_admit` into each lead's territory heap."""
        order, due, k = self._queued_order, self._due, self._next_queued
        priority, source, heaps, pool = self.priority, self._source, self._heaps, self._pool_of
        n = len(order)
        while k < n and due[order[k]] <= upto:
            i = order[k]
            heapq.heappush(heaps[pool[i]], (priority[source[i]], i))
            k += 1
        self._next_queued = k
        self._next_due = due[order[k]] if k < n else math.inf

    def _woken_territories(self, _event: simpy.Event) -> None:
        self._wakeup = False
        self._admit_territories(max(self._wake_due, self.env.now))
        heaps, pools = self._heaps, self._rep_pools
        progress = True
        while progress and self.idle:  # each call takes or drops a lead, so this ends
            progress = False
            for rep in list(self.idle):
                if rep in self.idle and any(heaps[g] for g in pools[rep.seat]):
                    self.idle.remove(rep)
                    self._next_lead_territories(rep)
                    progress = True
        self._wake_at_next()

    def _next_lead_territories(self, rep: Rep) -> None:
        """:meth:`next_lead` over the shared heap and the rep's territories (earliest first)."""
        now = self.env.now
        if self._next_due <= now:
            self._admit_territories(now)
        heaps, t_lead, max_wait = self._heaps, self._t_lead, self.max_wait
        pools = self._rep_pools[rep.seat]
        while True:
            best = -1
            for g in pools:
                if heaps[g] and (best < 0 or heaps[g][0] < heaps[best][0]):
                    best = g
            if best < 0:
                break
            i = heapq.heappop(heaps[best])[1]
            arrived = t_lead[i]
            if now > arrived + max_wait:  # went cold before anyone picked it up
                self._close(i, UNCAPTURED, arrived + max_wait)
                continue
            self._take(rep, i, now, arrived)
            return
        self.idle.append(rep)
        self._wake_at_next()

    def _qualified(self, rep: Rep, _event: simpy.Event) -> None:
        """Pursue or disqualify; then the rep takes the next lead unless it has left."""
        seat = rep.seat
        i = self._lead_of[seat]
        self.busy[seat] = False
        now = self.env.now
        if not self._reached[seat]:
            self._reached[seat] = True
            self._close(i, UNCAPTURED, now, CAUSE_NOT_REACHED, seat)
        elif self._decide(self._fit[i] + rep.noise * self._fit_noise[i], self._noticed[i],
                        self._u_deviate[i]):  # fmt: skip
            self.start_pursuit(i, rep, now <= self._preference_start[i])
        else:
            self._status[i] = DISQUALIFIED
            self._t_close[i] = now
            self._seat_of[i] = seat
        if not self.gone[seat]:
            self.next_lead(rep)

    def start_pursuit(self, i: int, rep: Rep, early: bool) -> None:
        """Start an opportunity: draw the buyer's choice now, schedule its close as a load change.

        The close is a change to the rep's load, not a SimPy event.
        """
        now = self.env.now
        pending = self.changes[rep.seat]
        if pending and pending[0][0] <= now:
            self._settle(rep, now)
        self._pursued[i] = True
        self._early[i] = early
        self._t_engaged[i] = now
        self._seat_of[i] = rep.seat
        coverage = rep.coverage(now)
        self._coverage[i] = coverage
        effect = rep.skill * rep.productivity(now) * coverage
        if self._t_decide[i] <= now or not self._attended[i]:
            # the buyer decided while the lead waited or was being qualified (too late to
            # help), or nobody works the deal (no activity planned)
            effect = 0.0
        rep.open_opportunities += 1
        flank_from = flank_gain = None
        if self._t_exit[i] < self._t_decide[i]:
            outcome, cause, t_done = NO_DECISION, CAUSE_INDECISION, self._t_exit[i]
        else:
            ch = self.sc.choice
            beta = ch.sensitivity
            u_us, lse, u_sq = self._u_us[i], self._lse[i], self._u_sq[i]
            at_pref = u_us + beta * (ch.early_shaping * effect if early else -ch.unengaged_penalty)
            known = self._preset_pref[i]
            pick = known if known >= 0 else choose(at_pref, lse, u_sq, self._u_pref[i])
            self._pref[i] = pick
            rep_gain = effect * (ch.early_shaping if early else ch.late_effect)
            flanking = self.flanking
            if pick == COMPETITOR and flanking.attempts and effect > 0:
                gap = self._gap[self._segment[i]]
                sponsor = self._u_sponsor[i] < self.sc.flanking.sponsor_probability
                won_flank = self._u_flank[i] < flanking.success_probability(gap, sponsor)
                self._flanked[i] = True
                self._flank_won[i] = won_flank
                flank_from = max(now, self._flank_start[i])
                flank_gain = flanking.weight_shift * gap if won_flank else None
            if flank_gain is not None:
                # the reframed buyer re-evaluates with weight moved onto our unique criterion
                pick = choose(u_us + beta * (rep_gain + flank_gain), lse, u_sq, self._u_dec[i])
            elif self._u_sticky[i] >= ch.stickiness:
                pick = choose(u_us + beta * rep_gain, lse, u_sq, self._u_dec[i])
            outcome = (WON, LOST, NO_DECISION)[pick]
            cause = CAUSE_STATUS_QUO if pick == STATUS_QUO else CAUSE_NONE
            t_done = self._t_decide[i]
        horizon = self.horizon
        if t_done <= now:
            rep.open_opportunities -= 1
            self._close(i, outcome, now, cause, rep.seat)
            return
        if flank_from is not None and flank_from < t_done:
            hours = self.flanking.hours_per_week
            if flank_from < horizon:
                self.flank_hours += hours * (min(t_done, horizon) - flank_from) / 7.0
                if flank_from > now:
                    self._change(rep, flank_from, 0, hours)
                else:
                    rep.extra_hours += hours
                self._change(rep, t_done, -1, -hours)
            else:
                self._change(rep, t_done, -1, 0.0)
        else:
            self._change(rep, t_done, -1, 0.0)
        if t_done < horizon:
            self._close(i, outcome, t_done, cause, rep.seat)

    # ------------------------------------------------------------------ seats
    def seat_life(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """Attrition and backfill for one seat."""
        spec = self.sc.reps
        env = self.env
        seat = rep.seat
        start = self.starts[seat]
        if start > 0:  # a planned hire: the seat fills on its start day
            if start >= self.horizon:
                return
            yield env.timeout(start)
            self.gone[seat] = False
            if not self.busy[seat]:
                self.next_lead(rep)
        if spec.attrition_per_year <= 0:
            return
        rng = self.streams(f"reps:seat:{seat}")
        mean_tenure = 365.0 / spec.attrition_per_year
        backfill = spec.backfill_weeks * 7.0
        while True:
            yield env.timeout(rng.exponential(mean_tenure))
            self.departures += 1
            self.gone[seat] = True
            self.vacancies.append((seat, env.now, min(env.now + backfill, self.horizon)))
            if not self.busy[seat]:
                self.idle.remove(rep)
            self.vacant_days += min(backfill, self.horizon - env.now)
            if backfill > 0:
                yield env.timeout(backfill)
            rep.start(env.now, self._skill(rng), self._noise(rng))
            self.gone[seat] = False
            if not self.busy[seat]:
                self.next_lead(rep)

    def _close(self, i: int, state: int, t: float, cause: int = CAUSE_NONE, seat: int = -1) -> None:
        self._status[i] = state
        self._cause[i] = cause
        self._t_close[i] = t
        if seat >= 0:
            self._seat_of[i] = seat

    def run(self) -> None:
        """Run the replication to the horizon and build the per-lead outcome arrays."""
        env = self.env
        env.process(self.arrivals())
        self.idle.extend(rep for rep in self.reps if not self.gone[rep.seat])
        self._wake_at_next()
        for rep in self.reps:
            env.process(self.seat_life(rep))
        env.run(until=self.horizon)
        self.status = np.array(self._status, dtype=np.int8)
        self.cause = np.array(self._cause, dtype=np.int8)
        self.t_close = np.array(self._t_close, dtype=float)
        self.wait = np.array(self._wait, dtype=float)
        self.seat_of = np.array(self._seat_of, dtype=np.int32)
        self.early = np.array(self._early, dtype=bool)
        self.pursued = np.array(self._pursued, dtype=bool)
        self.t_engaged = np.array(self._t_engaged, dtype=float)
        self.flanked = np.array(self._flanked, dtype=bool)
        self.flank_won = np.array(self._flank_won, dtype=bool)
        self.pref = np.array(self._pref, dtype=np.int8)
        self.coverage = np.array(self._coverage, dtype=float)
        # leads nobody picked up go cold at their deadline, if that falls inside the horizon
        leads = self.leads
        waiting = (self.status == OPEN) & np.isnan(self.wait) & np.isin(leads.source, _QUEUED)
        deadline = leads.t_lead + self.max_wait
        cold = waiting & (deadline <= self.horizon)
        self.status[cold] = UNCAPTURED
        self.cause[cold] = CAUSE_NONE
        self.t_close[cold] = deadline[cold]


def open_pipeline_seats(scenario: Scenario) -> list[int]:
    """The seat that works each open-pipeline deal.

    Its owner rep; a team owner's deals dealt to the team's seats in turn; else all seats in turn.
    Seats of planned hires (``start_week``) are not dealt deals in turn (nobody is there yet).
    """
    labels = scenario.reps.labels()
    starts = scenario.reps.start_days()
    present = [k for k, start in enumerate(starts) if start <= 0] or list(range(len(labels)))
    team_seats = scenario.team_seats() if scenario.teams else {}
    team_seats = {t: ([k for k in own if starts[k] <= 0] or own) for t, own in team_seats.items()}
    seats: list[int] = []
    turn = 0
    team_turn: dict[str, int] = {}
    for opp in scenario.open_pipeline:
        for _ in range(opp.count):
            if opp.owner in team_seats and opp.owner not in labels:
                own = team_seats[opp.owner]
                k = team_turn.get(opp.owner, 0)
                seats.append(own[k % len(own)])
                team_turn[opp.owner] = k + 1
            elif opp.owner is not None:
                seats.append(labels.index(opp.owner))
            else:
                seats.append(present[turn % len(present)])
                turn += 1
    return seats


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
