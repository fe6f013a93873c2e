"""Measured sketch of the engine changes proposed in benchmarks/README.md (not used by pipesim).

``FastModel`` subclasses :class:`pipesim.engine.PipelineModel` and keeps its behaviour, changing
only how it is executed:

* per-lead inputs are read from Python lists made once per replication (``ndarray.tolist()``)
  and outcomes written to lists, instead of numpy scalar indexing in the hot path;
* a dispatcher replaces the ``simpy.PriorityStore`` and the per-rep processes: waiting leads sit
  in a heap of (priority class, index), idle reps in a FIFO deque, and a qualification ends in
  a timeout callback that hands the rep its next lead;
* an opportunity schedules no event: its outcome and close day are known when it starts, so each
  seat keeps a heap of pending changes to its open-deal count and extra (flanking) hours, applied
  before they are read.

``python benchmarks/prototype_dispatch.py [--set KEY=VALUE ...]`` checks that the engine and
``FastModel`` give the same replication rows (every column, several seeds), then prints CPU
milliseconds and SimPy events scheduled per replication for both, with the garbage collector as
is and after ``gc.freeze()``. It reads engine internals, so it needs updating when the engine
changes (written against the engine of commit 74a073a).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import math
import time
from collections import deque
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from pipesim import engine
from pipesim.agents.reps import Rep
from pipesim.config import QUALIFICATION_CHECKS, Scenario
from pipesim.loader import load_scenario
from pipesim.market.choice import COMPETITOR, STATUS_QUO, choose
from pipesim.market.sources import LeadTable, build_leads
from pipesim.policies.qualification import Judgement
from pipesim.rng import Streams, replication_seeds

WON, LOST, NO_DECISION = engine.WON, engine.LOST, engine.NO_DECISION
DISQUALIFIED, UNCAPTURED, OPEN = engine.DISQUALIFIED, engine.UNCAPTURED, engine.OPEN
CAUSE_NONE, CAUSE_STATUS_QUO = engine.CAUSE_NONE, engine.CAUSE_STATUS_QUO
CAUSE_INDECISION = engine.CAUSE_INDECISION
OPEN_PIPELINE, OUTBOUND = engine._OPEN_PIPELINE, engine._OUTBOUND
HERE = Path(__file__).resolve().parent


class FastModel(engine.PipelineModel):
    """The engine's model run by a dispatcher, with per-lead data in Python lists.

    Behaviour is the engine's (``python benchmarks/prototype_dispatch.py`` checks every column);
    only the execution differs: no ``PriorityStore`` (a heap of waiting leads and a deque of idle
    reps), no process per rep or per opportunity (qualification ends in a timeout callback), and
    no event for an opportunity's flank start or close (each seat keeps a heap of pending
    changes to its open-deal count and extra hours, applied before they are read).
    """

    def __init__(self, scenario: Scenario, leads: LeadTable, streams: Streams) -> None:
        super().__init__(scenario, leads, streams)
        self.t_lead_ = leads.t_lead.tolist()
        self.source_ = leads.source.tolist()
        self.qualify_hours_ = leads.qualify_hours.tolist()
        self.preference_start_ = leads.t_stage[:, 2].tolist()
        flank_stage = 3 if scenario.flanking.move_last else 2
        self.flank_start_ = leads.t_stage[:, flank_stage].tolist()
        self.failed_ = leads.failed_checks.tolist()
        self.noticed_ = leads.check_noticed.tolist()
        self.fit_ = leads.fit.tolist()
        self.fit_noise_ = leads.fit_noise.tolist()
        self.u_deviate_ = leads.u_deviate.tolist()
        self.t_exit_ = leads.t_exit.tolist()
        self.t_decide_ = leads.t_decide.tolist()
        self.u_us_ = leads.u_us.tolist()
        self.lse_ = leads.lse_competitors.tolist()
        self.u_sq_ = leads.u_status_quo.tolist()
        self.u_pref_ = leads.u_preference.tolist()
        self.u_sticky_ = leads.u_sticky.tolist()
        self.u_dec_ = leads.u_decision.tolist()
        self.u_sponsor_ = leads.u_sponsor.tolist()
        self.u_flank_ = leads.u_flank.tolist()
        self.segment_ = leads.segment.tolist()
        self.preset_ = leads.preset_early.tolist()
        self.opener_ = leads.seat.tolist()
        self.gap_ = [float(g) for g in self.gap]
        n = len(leads)
        self.out_status: list[int] = [OPEN] * n
        self.out_cause: list[int] = [CAUSE_NONE] * n
        self.out_t_close: list[float] = [math.nan] * n
        self.out_wait: list[float] = [math.nan] * n
        self.out_seat: list[int] = [-1] * n
        self.out_early: list[bool] = [False] * n
        self.out_pursued: list[bool] = [False] * n
        self.out_engaged: list[float] = [math.nan] * n
        self.out_flanked: list[bool] = [False] * n
        self.out_flank_won: list[bool] = [False] * n
        self.idle: deque[Rep] = deque()
        self.waiting: list[tuple[int, int]] = []  # heap of (priority class, lead index)
        self.gone = [False] * len(self.reps)  # the seat's rep has left and is not yet replaced
        # per seat: heap of (day, order, change in open deals, change in extra hours)
        self.changes: list[list[tuple[float, int, int, float]]] = [[] for _ in self.reps]
        self.order = 0

    # ------------------------------------------------------------------ lazy per-seat state
    def _change(self, rep: Rep, day: float, d_open: int, d_hours: float) -> None:
        self.order += 1
        heapq.heappush(self.changes[rep.seat], (day, self.order, d_open, d_hours))

    def _settle(self, rep: Rep, now: float) -> None:
        pending = self.changes[rep.seat]
        while pending and pending[0][0] <= now:
            _, _, d_open, d_hours = heapq.heappop(pending)
            rep.open_opportunities += d_open
            rep.extra_hours += d_hours

    # ------------------------------------------------------------------ leads
    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Release each lead when it reaches us (as the engine)."""
        env = self.env
        t_lead, source = self.t_lead_, self.source_
        delay_to_queue = self.sc.leads.response_days
        next_seat = 0
        for i in range(len(t_lead)):
            src = source[i]
            direct = src == OPEN_PIPELINE or src == OUTBOUND
            due = t_lead[i] + (0.0 if direct else delay_to_queue)
            if due > env.now:
                yield env.timeout(due - env.now)
            if src == OPEN_PIPELINE:
                rep = self.reps[next_seat % len(self.reps)]
                next_seat += 1
                self.start_pursuit(i, rep, self.preset_[i])
            elif src == OUTBOUND:
                self.start_pursuit(
                    i, self.reps[self.opener_[i]], env.now <= self.preference_start_[i]
                )
            else:
                heapq.heappush(self.waiting, (self.priority[src], i))
                if self.idle:
                    self.next_lead(self.idle.popleft())

    def next_lead(self, rep: Rep) -> None:
        """Give ``rep`` the first waiting lead still warm (closing cold ones), or idle it."""
        now = self.env.now
        while self.waiting:
            _, i = heapq.heappop(self.waiting)
            deadline = self.t_lead_[i] + self.max_wait
            if now > deadline:
                self._close_at(i, UNCAPTURED, deadline)
                continue
            self.busy[rep.seat] = True
            self.out_wait[i] = now - self.t_lead_[i]
            self._settle(rep, now)
            done = self.env.timeout(self.qualify_hours_[i] * 7.0 / rep.lead_hours(now))
            done.callbacks.append(lambda _event, i=i: self.qualified(i, rep))  # type: ignore[union-attr, misc]
            return
        self.idle.append(rep)

    def qualified(self, i: int, rep: Rep) -> None:
        """Pursue or disqualify; then the rep takes the next lead unless it has left."""
        self.busy[rep.seat] = False
        if self.policy.pursue(self._judge(i, rep)):
            self.start_pursuit(i, rep, self.env.now <= self.preference_start_[i])
        else:
            self._close(i, DISQUALIFIED, seat=rep.seat)
        if not self.gone[rep.seat]:
            self.next_lead(rep)

    def _judge(self, i: int, rep: Rep) -> Judgement:
        accuracy = self.sc.reps.check_accuracy
        failed, noticed_u = self.failed_[i], self.noticed_[i]
        noticed = tuple(
            name
            for k, name in enumerate(QUALIFICATION_CHECKS)
            if failed[k] and noticed_u[k] < accuracy
        )
        return Judgement(self.fit_[i] + rep.noise * self.fit_noise_[i], noticed, self.u_deviate_[i])

    def start_pursuit(self, i: int, rep: Rep, early: bool) -> None:
        """Decide the opportunity now (as the engine); schedule its effects, not events."""
        now = self.env.now
        self._settle(rep, now)
        self.out_pursued[i] = True
        self.out_early[i] = early
        self.out_engaged[i] = now
        self.out_seat[i] = rep.seat
        effect = rep.skill * rep.productivity(now) * rep.coverage(now)
        if self.t_decide_[i] <= now:
            effect = 0.0
        rep.open_opportunities += 1
        flank_from = flank_gain = None
        if self.t_exit_[i] < self.t_decide_[i]:
            outcome, cause, t_done = NO_DECISION, CAUSE_INDECISION, self.t_exit_[i]
        else:
            ch = self.sc.choice
            beta = ch.sensitivity
            u_us, lse, u_sq = self.u_us_[i], self.lse_[i], self.u_sq_[i]
            at_pref = u_us + beta * (ch.early_shaping * effect if early else -ch.unengaged_penalty)
            pick = choose(at_pref, lse, u_sq, self.u_pref_[i])
            rep_gain = effect * (ch.early_shaping if early else ch.late_effect)
            flanking = self.flanking
            if pick == COMPETITOR and flanking.attempts and effect > 0:
                gap = self.gap_[self.segment_[i]]
                sponsor = self.u_sponsor_[i] < self.sc.flanking.sponsor_probability
                won_flank = self.u_flank_[i] < flanking.success_probability(gap, sponsor)
                self.out_flanked[i] = True
                self.out_flank_won[i] = won_flank
                flank_from = max(now, self.flank_start_[i])
                flank_gain = flanking.weight_shift * gap if won_flank else None
            if flank_gain is not None:
                pick = choose(u_us + beta * (rep_gain + flank_gain), lse, u_sq, self.u_dec_[i])
            elif self.u_sticky_[i] >= ch.stickiness:
                pick = choose(u_us + beta * rep_gain, lse, u_sq, self.u_dec_[i])
            outcome = (WON, LOST, NO_DECISION)[pick]
            cause = CAUSE_STATUS_QUO if pick == STATUS_QUO else CAUSE_NONE
            t_done = self.t_decide_[i]
        horizon = self.horizon
        if flank_from is not None and flank_from < t_done:
            hours = self.flanking.hours_per_week
            if flank_from < horizon:
                self.flank_hours += hours * (min(t_done, horizon) - flank_from) / 7.0
                if flank_from > now:
                    self._change(rep, flank_from, 0, hours)
                else:
                    rep.extra_hours += hours
                self._change(rep, t_done, -1, -hours)
                if t_done < horizon:
                    self._close_at(i, outcome, t_done, cause, rep.seat)
        elif t_done > now:
            self._change(rep, t_done, -1, 0.0)
            if t_done < horizon:
                self._close_at(i, outcome, t_done, cause, rep.seat)
        else:
            rep.open_opportunities -= 1
            self._close(i, outcome, cause, rep.seat)

    # ------------------------------------------------------------------ seats
    def seat_life(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """Attrition and backfill for one seat (as the engine, with the dispatcher's queue)."""
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
            self.gone[seat] = True
            if not self.busy[seat]:
                self.idle.remove(rep)
            self.vacant_days += min(backfill, self.horizon - env.now)
            if backfill > 0:
                yield env.timeout(backfill)
            rep.skill = self._skill(rng)
            rep.noise = self._noise(rng)
            rep.hired_at = env.now
            rep.employed = True
            self.gone[seat] = False
            if not self.busy[seat]:
                self.next_lead(rep)

    def _close(
        self, i: int, state: int, cause: int = CAUSE_NONE, seat: int = -1, at: float | None = None
    ) -> None:
        self._close_at(i, state, self.env.now if at is None else at, cause, seat)

    def _close_at(
        self, i: int, state: int, t: float, cause: int = CAUSE_NONE, seat: int = -1
    ) -> None:
        self.out_status[i] = state
        self.out_cause[i] = cause
        self.out_t_close[i] = t
        if seat >= 0:
            self.out_seat[i] = seat

    def run(self) -> None:
        """Run to the horizon; leads never picked up go cold at their deadline (as the engine)."""
        env = self.env
        env.process(self.arrivals())
        self.idle.extend(self.reps)
        for rep in self.reps:
            env.process(self.seat_life(rep))
        env.run(until=self.horizon)
        self.status = np.array(self.out_status, dtype=np.int8)
        self.cause = np.array(self.out_cause, dtype=np.int8)
        self.t_close = np.array(self.out_t_close, dtype=float)
        self.wait = np.array(self.out_wait, dtype=float)
        self.seat_of = np.array(self.out_seat, dtype=np.int32)
        self.early = np.array(self.out_early, dtype=bool)
        self.pursued = np.array(self.out_pursued, dtype=bool)
        self.t_engaged = np.array(self.out_engaged, dtype=float)
        self.flanked = np.array(self.out_flanked, dtype=bool)
        self.flank_won = np.array(self.out_flank_won, dtype=bool)
        leads = self.leads
        queued = np.isin(leads.source, engine._QUEUED)
        waiting = (self.status == OPEN) & np.isnan(self.wait) & queued
        deadline = leads.t_lead + self.max_wait
        cold = waiting & (deadline <= self.horizon)
        self.status[cold] = UNCAPTURED
        self.cause[cold] = CAUSE_NONE
        self.t_close[cold] = deadline[cold]


def replicate(
    cls: type[engine.PipelineModel], scenario: Scenario, k: int, seed: int
) -> tuple[dict[str, Any], int]:
    """One replication with model class ``cls``: its row and the SimPy events it scheduled."""
    streams = Streams(seed)
    leads = build_leads(scenario, streams)
    model = cls(scenario, leads, streams)
    model.run()
    scheduled = next(model.env._eid)  # events scheduled (SimPy's event id counter)
    return engine._summarise(scenario, k, seed, leads, model).row, scheduled


def same(a: Any, b: Any) -> bool:
    """Equal, or both NaN, or floats equal to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return bool(a == b)


def main() -> int:
    """Check equivalence with the engine, then time the variants."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", type=Path, default=HERE / "reference.yaml")
    p.add_argument("--replications", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    scenario = load_scenario(args.scenario, args.overrides)
    seeds = replication_seeds(11, args.replications)
    variants: list[type[engine.PipelineModel]] = [engine.PipelineModel, FastModel]

    differences = 0
    for k, s in enumerate(seeds):
        ref, _ = replicate(engine.PipelineModel, scenario, k, s)
        for cls in variants[1:]:
            row, _ = replicate(cls, scenario, k, s)
            bad = [c for c in ref if not same(ref[c], row[c])]
            differences += len(bad)
            if bad:
                print(f"{cls.__name__} seed {s}: differs in {bad}")
    print(
        f"rows compared: {len(seeds)} seeds x {len(variants) - 1} variants; "
        f"differing values: {differences}"
    )

    results: dict[str, list[float]] = {}
    events: dict[str, float] = {}
    for _ in range(args.repeats):
        for cls in variants:
            for frozen in (False, True):
                if frozen:
                    gc.freeze()
                t0 = time.process_time()
                scheduled = [replicate(cls, scenario, k, s)[1] for k, s in enumerate(seeds)]
                ms = 1000.0 * (time.process_time() - t0) / len(seeds)
                if frozen:
                    gc.unfreeze()
                label = f"{cls.__name__}{' + gc.freeze()' if frozen else ''}"
                results.setdefault(label, []).append(ms)
                events[cls.__name__] = sum(scheduled) / len(seeds)
    print("\n| variant | CPU ms per replication (best) | SimPy events per replication |")
    print("| --- | ---: | ---: |")
    for label, ms in results.items():
        print(f"| {label} | {min(ms):.1f} | {events[label.split(' ')[0]]:,.0f} |")
    return 0 if differences == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
