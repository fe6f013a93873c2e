"""Replications shared by every simulation of the optimiser: today's run, the pilots, the checks.

Every scenario the optimiser simulates runs on one root seed: replication ``i`` of any scenario
has the ``i``-th seed of :func:`pipesim.scenario.rng.replication_seeds` (common random numbers),
so today's run, each pilot point and each plan meet the same buyers replication by replication.
:class:`Replications` keeps the rows of every scenario simulated, by the scenario's content:

* a scenario is never simulated twice (today's run *is* the today level of every lever's curve;
  a plan equal to today, to a pilot point or to an earlier plan reuses its replications);
* asking for more replications of a scenario simulates only the missing ones, continuing the
  seed sequence, so a sample grown in steps equals one run of that size;
* one request may name many scenarios: their missing replications share one process pool.

:func:`difference_interval` is the interval of a difference of two means over such samples (the
replications they share are paired).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipesim.engine.replication import run_replication
from pipesim.engine.summary import outcome_columns
from pipesim.results.statistics import Z95
from pipesim.runs.executors import map_tasks
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

Row = dict[str, Any]

POOL_MIN_PER_WORKER = 10
"""Fewest missing replications per worker worth starting a process pool for: a smaller request
runs in this process (starting a pool costs about as much as ten replications; the seeds, and so
the results, are the same either way)."""
_Task = tuple[int, int, list[int]]


def scenario_key(scenario: Scenario) -> str:
    """What identifies a scenario's replications: the SHA-256 of its content."""
    return hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()


def _run_chunk(scenarios: tuple[Scenario, ...], task: _Task) -> tuple[int, int, list[Row]]:
    """Replications ``start, start + 1, ...`` of scenario ``k`` (a worker's unit of work)."""
    k, start, seeds = task
    scenario = scenarios[k]
    return k, start, [run_replication(scenario, start + j, s).row for j, s in enumerate(seeds)]


class Replications:
    """The replications simulated so far, per scenario, grown on demand (same seeds throughout).

    Parameters
    ----------
    seed
        Root seed of every scenario's replications.
    workers
        Worker processes (1 runs in this process).
    first
        Index of the first replication in the root seed's sequence: replication ``j`` of this
        store is replication ``first + j`` of the seed (a store from ``first`` on holds other
        seeds than one from 0 up to ``first``: an out-of-sample check).
    """

    def __init__(self, seed: int, workers: int, first: int = 0) -> None:
        self.seed = seed
        self.workers = workers
        self.first = first
        self.simulated = 0
        """Replications simulated (engine calls) so far."""
        self._rows: dict[str, list[Row]] = {}
        self._revenue: dict[str, np.ndarray] = {}
        self._columns: dict[str, list[str]] = {}
        self._seeds: list[int] = []

    def count(self, scenario: Scenario) -> int:
        """Replications of ``scenario`` simulated so far."""
        return len(self._rows.get(scenario_key(scenario), ()))

    def table(self, scenario: Scenario, n: int | None = None) -> pd.DataFrame:
        """The rows of replications ``0 .. n - 1`` (all simulated ones by default), in order."""
        key = scenario_key(scenario)
        rows = self._rows.get(key, [])
        if n is not None and n > len(rows):
            raise ValueError(f"{n} replications asked, {len(rows)} simulated")
        return pd.DataFrame(
            rows[:n] if n is not None else rows,
            columns=self._columns.get(key) or outcome_columns(scenario),
        )

    def revenue(self, scenario: Scenario, n: int | None = None) -> np.ndarray:
        """Revenue per replication ``0 .. n - 1`` (all simulated ones by default)."""
        key = scenario_key(scenario)
        rows = self._rows.get(key, [])
        if n is not None and n > len(rows):
            raise ValueError(f"{n} replications asked, {len(rows)} simulated")
        cached = self._revenue.get(key)
        if cached is None or cached.size != len(rows):
            cached = self._revenue[key] = np.array([r["revenue"] for r in rows], dtype=float)
        return cached[:n] if n is not None else cached

    def _seeds_to(self, n: int) -> list[int]:
        if len(self._seeds) < n:
            self._seeds = replication_seeds(self.seed, n, start=self.first)
        return self._seeds[:n]

    def ensure(self, wants: Sequence[tuple[Scenario, int]]) -> int:
        """Simulate what is missing for each ``(scenario, n)``: replications up to ``n``.

        Returns the number of replications simulated. Scenarios with the same content are one
        scenario; the missing replications of all of them are spread over one process pool.
        """
        need: dict[str, tuple[Scenario, int]] = {}
        for scenario, n in wants:
            key = scenario_key(scenario)
            have = len(self._rows.get(key, ()))
            if n > have and n > need.get(key, (scenario, have))[1]:
                need[key] = (scenario, n)
        if not need:
            return 0
        keys = list(need)
        scenarios = tuple(need[k][0] for k in keys)
        starts = [len(self._rows.get(k, ())) for k in keys]
        total = sum(need[k][1] - s for k, s in zip(keys, starts, strict=True))
        seeds = self._seeds_to(max(n for _, n in need.values()))
        # chunks small enough to keep every worker busy to the end, large enough to amortise a task
        size = max(1, min(10, math.ceil(total / (8 * self.workers))))
        tasks: list[_Task] = []
        for k, key in enumerate(keys):
            for start in range(starts[k], need[key][1], size):
                seeds_of = seeds[start : min(start + size, need[key][1])]
                tasks.append((k, self.first + start, seeds_of))
        parts: dict[int, dict[int, list[Row]]] = {k: {} for k in range(len(keys))}
        workers = max(1, min(self.workers, len(tasks)))
        if total < POOL_MIN_PER_WORKER * workers:
            workers = 1
        for k, start, rows in map_tasks(_run_chunk, scenarios, tasks, workers):
            parts[k][start - self.first] = rows
        for k, key in enumerate(keys):
            rows = self._rows.setdefault(key, [])
            self._columns.setdefault(key, outcome_columns(scenarios[k]))
            for start in sorted(parts[k]):
                rows.extend(parts[k][start])
        self.simulated += total
        return total


def difference_interval(a: np.ndarray, b: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` with a normal interval, for samples on common random numbers.

    ``a[i]`` and ``b[i]`` share replication ``i``'s seed for ``i`` below the shorter length, so
    those pairs are correlated; the rest of the longer sample is independent of the other. The
    variance is ``s_a²/n_a + s_b²/n_b - 2 c m / (n_a n_b)`` with ``c`` the covariance of the
    ``m`` shared pairs.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    na, nb = a.size, b.size
    if na == 0 or nb == 0:
        return (math.nan, math.nan, math.nan)
    est = float(a.mean() - b.mean())
    if na < 2 or nb < 2:
        return (est, math.nan, math.nan)
    m = min(na, nb)
    cov = float(np.cov(a[:m], b[:m], ddof=1)[0, 1]) if m >= 2 else 0.0
    var = a.var(ddof=1) / na + b.var(ddof=1) / nb - 2.0 * cov * m / (na * nb)
    half = z * math.sqrt(max(float(var), 0.0))
    return (est, est - half, est + half)
