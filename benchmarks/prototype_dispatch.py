"""Measured sketch of the engine changes proposed in benchmarks/README.md (not used by pipesim).

Two subclasses of :class:`pipesim.engine.PipelineModel` that keep the model's behaviour and
change only how it is executed:

``ListsModel``
    the same SimPy structure, but per-lead inputs are read from Python lists made once per
    replication (``ndarray.tolist()``) and per-lead outcomes written to lists, instead of numpy
    scalar indexing in the hot path;
``DispatchModel``
    ``ListsModel`` plus a dispatcher instead of a ``simpy.Store`` of free reps: waiting leads sit
    in a FIFO deque and go cold lazily (their close time is known: arrival + ``max_wait_days``),
    so there is no patience timeout, no ``get | patience`` condition and no process per lead
    (qualification ends in a timeout callback); a pursuit schedules no event at all (its end
    time is known: each seat keeps a heap of end times and its open-deal count is settled
    lazily before it is read).

``python benchmarks/prototype_dispatch.py`` checks that both give the same replication rows as
the engine (every column, several seeds) and prints CPU milliseconds per replication and SimPy
events scheduled per replication for each, with the garbage collector as is and after
``gc.freeze()``. It reads engine internals, so it may need updating when the engine changes.
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
from pipesim.market.choice import choose
from pipesim.market.sources import LeadTable, build_leads
from pipesim.policies.qualification import Judgement
from pipesim.rng import Streams, replication_seeds

WON, LOST, NO_DECISION = engine.WON, engine.LOST, engine.NO_DECISION
DISQUALIFIED, UNCAPTURED, OPEN = engine.DISQUALIFIED, engine.UNCAPTURED, engine.OPEN
CAUSE_NONE, CAUSE_STATUS_QUO = engine.CAUSE_NONE, engine.CAUSE_STATUS_QUO
CAUSE_INDECISION = engine.CAUSE_INDECISION
OPEN_PIPELINE = engine._OPEN_PIPELINE
HERE = Path(__file__).resolve().parent


class ListsModel(engine.PipelineModel):
    """The engine's model with per-lead inputs and outputs held in Python lists."""

    def __init__(self, scenario: Scenario, leads: LeadTable, streams: Streams) -> None:
        super().__init__(scenario, leads, streams)
        self.t_lead_ = leads.t_lead.tolist()
        self.source_ = leads.source.tolist()
        self.qualify_hours_ = leads.qualify_hours.tolist()
        self.preference_start_ = leads.t_stage[:, 2].tolist()
        self.failed_ = leads.failed_checks.tolist()
        self.noticed_ = leads.check_noticed.tolist()
        self.fit_ = leads.fit.tolist()
        self.fit_noise_ = leads.fit_noise.tolist()
        self.t_exit_ = leads.t_exit.tolist()
        self.t_decide_ = leads.t_decide.tolist()
        self.u_us_ = leads.u_us.tolist()
        self.lse_ = leads.lse_competitors.tolist()
        self.u_sq_ = leads.u_status_quo.tolist()
        self.u_pref_ = leads.u_preference.tolist()
        self.u_sticky_ = leads.u_sticky.tolist()
        self.u_dec_ = leads.u_decision.tolist()
        self.preset_ = leads.preset_early.tolist()
        n = len(leads)
        self.out_status: list[int] = [OPEN] * n
        self.out_cause: list[int] = [CAUSE_NONE] * n
        self.out_t_close: list[float] = [math.nan] * n
        self.out_wait: list[float] = [math.nan] * n
        self.out_seat: list[int] = [-1] * n
        self.out_early: list[bool] = [False] * n
        self.out_pursued: list[bool] = [False] * n
        self.out_engaged: list[float] = [math.nan] * n

    def finish(self) -> None:
        """Turn the outcome lists into the arrays the summary reads."""
        self.status = np.array(self.out_status, dtype=np.int8)
        self.cause = np.array(self.out_cause, dtype=np.int8)
        self.t_close = np.array(self.out_t_close, dtype=float)
        self.wait = np.array(self.out_wait, dtype=float)
        self.seat_of = np.array(self.out_seat, dtype=np.int32)
        self.early = np.array(self.out_early, dtype=bool)
        self.pursued = np.array(self.out_pursued, dtype=bool)
        self.t_engaged = np.array(self.out_engaged, dtype=float)

    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Release each lead at the day it reaches us."""
        env = self.env
        t_lead, source = self.t_lead_, self.source_
        next_seat = 0
        for i in range(len(t_lead)):
            delay = t_lead[i] - env.now
            if delay > 0:
                yield env.timeout(delay)
            if source[i] == OPEN_PIPELINE:
                rep = self.reps[next_seat % len(self.reps)]
                next_seat += 1
                env.process(self.pursue(i, rep, self.preset_[i]))
            else:
                env.process(self.lead(i))

    def lead(self, i: int) -> Generator[simpy.Event, Any, None]:
        """Wait for a rep, be qualified, then pursued or disqualified (as the engine)."""
        env = self.env
        get = self.free.get()
        if not get.triggered:
            patience = env.timeout(self.sc.leads.max_wait_days)
            yield get | patience
            if not get.triggered:
                get.cancel()
                self._close(i, UNCAPTURED)
                return
        rep: Rep = get.value
        self.busy[rep.seat] = True
        now = env.now
        self.out_wait[i] = now - self.t_lead_[i]
        yield env.timeout(self.qualify_hours_[i] * 7.0 / rep.lead_hours(now))
        pursue = self.policy.pursue(self._judge(i, rep))
        self.busy[rep.seat] = False
        if rep.employed:
            self.free.put(rep)
        if not pursue:
            self._close(i, DISQUALIFIED, seat=rep.seat)
            return
        yield from self.pursue(i, rep, env.now <= self.preference_start_[i])

    def _judge(self, i: int, rep: Rep) -> Judgement:
        accuracy = self.sc.reps.check_accuracy
        failed, noticed_u = self.failed_[i], self.noticed_[i]
        noticed = tuple(
            name
            for k, name in enumerate(QUALIFICATION_CHECKS)
            if failed[k] and noticed_u[k] < accuracy
        )
        return Judgement(self.fit_[i] + rep.noise * self.fit_noise_[i], noticed)

    def outcome(self, i: int, rep: Rep, early: bool, now: float) -> tuple[int, int, float]:
        """Record the pursuit's start; its outcome, cause and the day the buyer is done."""
        self.out_pursued[i] = True
        self.out_early[i] = early
        self.out_engaged[i] = now
        self.out_seat[i] = rep.seat
        effect = rep.skill * rep.productivity(now) * rep.coverage(now)
        if self.t_decide_[i] <= now:  # the buyer decided before the pursuit: too late to help
            effect = 0.0
        if self.t_exit_[i] < self.t_decide_[i]:
            return NO_DECISION, CAUSE_INDECISION, self.t_exit_[i]
        ch = self.sc.choice
        beta = ch.sensitivity
        u_us, lse, u_sq = self.u_us_[i], self.lse_[i], self.u_sq_[i]
        at_pref = u_us + beta * (ch.early_shaping * effect if early else -ch.unengaged_penalty)
        pick = choose(at_pref, lse, u_sq, self.u_pref_[i])
        if self.u_sticky_[i] >= ch.stickiness:
            at_decision = u_us + beta * effect * (ch.early_shaping if early else ch.late_effect)
            pick = choose(at_decision, lse, u_sq, self.u_dec_[i])
        cause = CAUSE_STATUS_QUO if pick == 2 else CAUSE_NONE
        return (WON, LOST, NO_DECISION)[pick], cause, self.t_decide_[i]

    def pursue(self, i: int, rep: Rep, early: bool) -> Generator[simpy.Event, Any, None]:
        """Work the opportunity until the buyer decides or stalls (as the engine)."""
        env = self.env
        now = env.now
        outcome, cause, t_done = self.outcome(i, rep, early, now)
        rep.open_opportunities += 1
        if t_done > now:
            yield env.timeout(t_done - now)
        rep.open_opportunities -= 1
        self._close(i, outcome, cause, rep.seat)

    def _close(self, i: int, state: int, cause: int = CAUSE_NONE, seat: int = -1) -> None:
        self._close_at(i, state, self.env.now, cause, seat)

    def _close_at(
        self, i: int, state: int, t: float, cause: int = CAUSE_NONE, seat: int = -1
    ) -> None:
        self.out_status[i] = state
        self.out_cause[i] = cause
        self.out_t_close[i] = t
        if seat >= 0:
            self.out_seat[i] = seat

    def run(self) -> None:
        """Run to the horizon, then build the outcome arrays."""
        super().run()
        self.finish()


class DispatchModel(ListsModel):
    """Lists, plus a dispatcher: no Store, patience timeouts, lead processes or pursuit events."""

    def __init__(self, scenario: Scenario, leads: LeadTable, streams: Streams) -> None:
        super().__init__(scenario, leads, streams)
        self.free_reps: deque[Rep] = deque(self.reps)
        self.waiting: deque[int] = deque()
        self.max_wait = scenario.leads.max_wait_days
        self.ends: list[list[float]] = [[] for _ in self.reps]  # per seat: pursuit end days

    def _settle(self, rep: Rep, now: float) -> None:
        ends = self.ends[rep.seat]
        while ends and ends[0] <= now:
            heapq.heappop(ends)
            rep.open_opportunities -= 1

    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Release each lead: to a free rep, or to the back of the waiting line."""
        env = self.env
        t_lead, source = self.t_lead_, self.source_
        next_seat = 0
        for i in range(len(t_lead)):
            delay = t_lead[i] - env.now
            if delay > 0:
                yield env.timeout(delay)
            if source[i] == OPEN_PIPELINE:
                rep = self.reps[next_seat % len(self.reps)]
                next_seat += 1
                self.start_pursuit(i, rep, self.preset_[i], env.now)
            elif self.free_reps:
                self.start_qualify(i, self.free_reps.popleft())
            else:
                self.waiting.append(i)

    def start_qualify(self, i: int, rep: Rep) -> None:
        """Give lead ``i`` to ``rep``; a timeout callback ends the qualification."""
        env = self.env
        now = env.now
        self.busy[rep.seat] = True
        self.out_wait[i] = now - self.t_lead_[i]
        self._settle(rep, now)
        done = env.timeout(self.qualify_hours_[i] * 7.0 / rep.lead_hours(now))
        done.callbacks.append(lambda _event: self.qualified(i, rep))  # type: ignore[union-attr]

    def qualified(self, i: int, rep: Rep) -> None:
        """Pursue or disqualify, then hand the rep to the next lead still waiting."""
        now = self.env.now
        pursue = self.policy.pursue(self._judge(i, rep))
        self.busy[rep.seat] = False
        if pursue:
            self.start_pursuit(i, rep, now <= self.preference_start_[i], now)
        else:
            self._close(i, DISQUALIFIED, seat=rep.seat)
        if rep.employed:
            self.rep_free(rep)

    def rep_free(self, rep: Rep) -> None:
        """Give a free rep the oldest lead not yet gone cold (closing the cold ones)."""
        now = self.env.now
        while self.waiting:
            j = self.waiting.popleft()
            deadline = self.t_lead_[j] + self.max_wait
            if deadline < now:
                self._close_at(j, UNCAPTURED, deadline)
                continue
            self.start_qualify(j, rep)
            return
        self.free_reps.append(rep)

    def start_pursuit(self, i: int, rep: Rep, early: bool, now: float) -> None:
        """Open the opportunity; its close is known now, so no event is scheduled."""
        self._settle(rep, now)
        outcome, cause, t_done = self.outcome(i, rep, early, now)
        t_end = max(t_done, now)
        rep.open_opportunities += 1
        heapq.heappush(self.ends[rep.seat], t_end)
        if t_done <= now:
            self._settle(rep, now)
            self._close(i, outcome, cause, rep.seat)
        elif t_end < self.horizon:
            self._close_at(i, outcome, t_end, cause, rep.seat)

    def seat_life(self, rep: Rep) -> Generator[simpy.Event, Any, None]:
        """Attrition and backfill for one seat (as the engine, with the dispatcher's queue)."""
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
                self.free_reps.remove(rep)
            self.vacant_days += min(backfill, self.horizon - env.now)
            if backfill > 0:
                yield env.timeout(backfill)
            rep.skill = self._skill(rng)
            rep.noise = self._noise(rng)
            rep.hired_at = env.now
            rep.employed = True
            if not self.busy[rep.seat]:
                self.rep_free(rep)

    def run(self) -> None:
        """Run to the horizon; leads still waiting whose patience ran out go cold."""
        self.env.process(self.arrivals())
        for rep in self.reps:
            self.env.process(self.seat_life(rep))
        self.env.run(until=self.horizon)
        for j in self.waiting:
            deadline = self.t_lead_[j] + self.max_wait
            if deadline < self.horizon:
                self._close_at(j, UNCAPTURED, deadline)
        self.finish()


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
    args = p.parse_args()
    scenario = load_scenario(args.scenario)
    seeds = replication_seeds(11, args.replications)
    variants: list[type[engine.PipelineModel]] = [engine.PipelineModel, ListsModel, DispatchModel]

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
