"""A naive SimPy model of the same funnel: the yardstick for the engine's speed.

This is how a sales funnel is usually written in SimPy: one generator process per lead, a
``simpy.Resource`` of 20 reps, patience as a ``timeout`` raced against the rep request, the
qualification as a timeout while the rep is held, and the buyer's four journey stages as
timeouts with a stall clock; a pursuit starts with a rep's meeting. 5,000 leads over one
year, about 53,000 events per replication.

It answers nothing about sales (no skill, load, choice or flanking); it exists so the engine's
replications per second can be compared with a plain SimPy model doing comparable work, measured
in the same run on the same machine (:mod:`bench_speed`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy


@dataclass(frozen=True)
class Funnel:
    """The naive funnel's sizes (about the reference scenario's)."""

    leads: int = 5_000
    reps: int = 20
    horizon_days: float = 365.0
    max_wait_days: float = 5.0
    qualify_days: float = 1.17  # mean rep time per lead: load about 0.8
    qualified_share: float = 0.4
    demo_days: float = 0.25  # a rep's meeting at the start of each pursuit
    stage_days: tuple[float, ...] = (20.0, 25.0, 30.0, 20.0)
    stall_per_day: float = 0.004


def replication(funnel: Funnel, seed: int, count_events: bool = False) -> dict[str, Any]:
    """Run one replication of the naive funnel; return its counts (and SimPy's event count).

    Counting steps the environment by hand, which is slower: time the funnel uncounted.
    """
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    reps = simpy.Resource(env, capacity=funnel.reps)
    counts = {"uncaptured": 0, "disqualified": 0, "won": 0, "stalled": 0}
    rate = funnel.leads / funnel.horizon_days

    def lead() -> Generator[simpy.Event, Any, None]:
        with reps.request() as req:
            got = yield req | env.timeout(funnel.max_wait_days)
            if req not in got:
                counts["uncaptured"] += 1
                return
            yield env.timeout(rng.exponential(funnel.qualify_days))
        if rng.random() >= funnel.qualified_share:
            counts["disqualified"] += 1
            return
        with reps.request() as req:
            yield req
            yield env.timeout(funnel.demo_days)
        for mean in funnel.stage_days:
            dwell = rng.gamma(4.0, mean / 4.0)
            stall = rng.exponential(1.0 / funnel.stall_per_day)
            if stall < dwell:
                yield env.timeout(stall)
                counts["stalled"] += 1
                return
            yield env.timeout(dwell)
        counts["won"] += 1

    def source() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(rng.exponential(1.0 / rate))
            env.process(lead())

    env.process(source())
    if not count_events:
        env.run(until=funnel.horizon_days)
        return counts
    events = 0
    while env.peek() < funnel.horizon_days:
        env.step()
        events += 1
    counts["events"] = events
    return counts
