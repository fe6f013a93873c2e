"""Replications streamed as running estimates, and the precision rule that says when to stop.

:func:`iterate` runs a scenario's replications in small batches on one pool and yields, after each
batch, an immutable :class:`Estimate`: P(target) with its Wilson interval, mean revenue with its
interval, revenue P10/P50/P90 and, against a ``reference`` scenario run on the same seeds, the
paired difference in P(target) and in mean revenue (common random numbers). Replication *k* has
the seed it has in ``pipesim run`` (:func:`seeds`: the root seed's *k*-th child), so the estimate
after *n* replications equals the summary of ``pipesim run -n n``, whatever the batch size or the
number of workers.

The :class:`Stream` it returns is the handle a consumer holds, in another thread if it likes (a
browser studio, say): iterate it for estimates, read :attr:`Stream.latest` from anywhere, and call
:meth:`Stream.cancel` from any thread to stop: no batch is scheduled after that, work not started
is dropped and the workers shut down (a replication already running finishes first, a fraction
of a second). Closing the iterator (``break`` out of the loop, ``with``, or :meth:`Stream.close`)
does the same. With ``samples=True`` each estimate also carries the replications themselves
(:class:`Samples`: revenue and the weekly bookings path of each, and the reference's), so a page
can redraw the report's exceedance curve and bookings fan as batches arrive.

**Precision.** With ``precision`` the stream (and ``pipesim run --precision``) stops once the 95%
Wilson interval of P(target) is at most +/- ``precision``. :func:`next_look` is the rule:

1. Look first after a pilot (:data:`PILOT` replications), so that p(1 - p), which sets the width,
   is not judged from a handful of replications.
2. At a look, judge the width at a cautious share: the end of p̂'s one-standard-error (68%)
   Wilson interval nearer 1/2 (1/2 itself when the interval holds it). Stop if the interval at
   that share, and the stated interval, are narrow enough. Otherwise project the replications
   the interval needs at that share (:func:`pipesim.results.statistics.wilson_replications`,
   about z² p(1 - p) / precision²) and look next halfway there (at least :data:`MIN_STEP`
   further): the looks close in on that number, so the run passes it by one small step at
   most, and there are about ten of them, not one per replication.
3. Stop at ``max_replications`` regardless (the summary then says the precision was not reached).

Why the cautious share: stopping when an interval first looks narrow enough is optional
stopping. The width depends on p̂, so a run stops early when p̂ happens to sit far from 1/2, which
is when it is far from the truth, and the stated interval then covers less often than it says.
On Bernoulli streams (20,000 seeded runs a case, Monte Carlo error 0.0015) judging the width at
p̂ itself covered 94.0% at p = 0.05 and ±0.02; at the cautious share the stated interval covers
95.0-95.3% for p from 0.05 to 0.9 (94.8% at p = 0.02 and ±0.01, where the Wilson interval's own
coverage wobbles; tests/test_precision.py runs 2,000 a case). The price: nothing near p = 1/2,
where runs are longest, a median 3% more replications at p = 0.3, 10% at 0.1, 20% at 0.05.
The pilot and the Wilson interval (which never collapses at p̂ = 0 or 1 the way p̂ ± z·se does)
do the rest.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

import numpy as np

from pipesim.engine.replication import run_replication
from pipesim.results.statistics import (
    Z95,
    mean_interval,
    paired_difference,
    wilson_half_width,
    wilson_interval,
    wilson_replications,
)
from pipesim.runs.executors import Cancelled, Chunk, ReplicationPool, replication_done
from pipesim.scenario.schema import Scenario

PILOT = 100
"""Replications before the precision rule first looks at P(target)."""

MIN_STEP = 10
"""The precision rule never looks again sooner than this many replications later."""

APPROACH = 0.5
"""Between looks the rule goes this share of the way to the projected number of replications."""


def seeds(root: int, start: int, stop: int) -> list[int]:
    """Seeds of replications ``start .. stop - 1`` for a root seed.

    The same numbers as :func:`pipesim.scenario.rng.replication_seeds` (the *k*-th child of the
    root :class:`numpy.random.SeedSequence`), computed without spawning the children before
    ``start``, so a long run needs no list of every seed.
    """
    return [
        int(np.random.SeedSequence(root, spawn_key=(k,)).generate_state(1, dtype=np.uint64)[0])
        for k in range(start, stop)
    ]


# --------------------------------------------------------------------------- the precision rule
def cautious_share(hits: int, n: int) -> float:
    """The end of the share's one-standard-error Wilson interval nearer 1/2 (or 1/2 inside it).

    The precision rule judges the width here rather than at ``hits / n`` (module docstring).
    """
    low, high = wilson_interval(hits, n, z=1.0)
    if low <= 0.5 <= high:
        return 0.5
    return high if high < 0.5 else low


def _width_at(p: float, n: int) -> float:
    """Half-width of a 95% Wilson interval around a share ``p`` after ``n`` replications."""
    z = Z95
    return z / (1.0 + z * z / n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))


def projected_replications(hits: int, n: int, precision: float, cap: int) -> int:
    """Replications the interval needs, judged at the cautious share (at most ``cap``)."""
    if n <= 0:
        return cap
    return min(cap, max(n, wilson_replications(cautious_share(hits, n), precision)))


def next_look(
    hits: int,
    n: int,
    precision: float,
    *,
    pilot: int = PILOT,
    cap: int = 100_000,
) -> int | None:
    """Where a precision run looks next after ``hits`` of ``n`` replications, or None to stop.

    A pure function of the counts (the module docstring gives the rule and why it keeps the
    interval's coverage), so a run's looks, and where it stops, depend on its replications only:
    not on the batch size, the workers or an interruption and ``--resume``.
    """
    if not 0 < precision < 0.5:
        raise ValueError("precision must be between 0 and 0.5 (e.g. 0.01 for +/- 1 point)")
    if n < min(pilot, cap):
        return min(pilot, cap)
    if n >= cap or (
        wilson_half_width(hits, n) <= precision
        and _width_at(cautious_share(hits, n), n) <= precision
    ):
        return None
    need = projected_replications(hits, n, precision, cap)
    return min(cap, n + max(MIN_STEP, math.ceil(APPROACH * (need - n))))


def replay_looks(
    hit: np.ndarray, precision: float, *, pilot: int = PILOT, cap: int = 100_000
) -> int | None:
    """The look a precision run was heading for after the replications ``hit`` (for a resume).

    None when the run had already stopped.
    """
    flags = np.asarray(hit, dtype=bool)
    cum = np.concatenate([[0], np.cumsum(flags)])
    n = 0
    while True:
        look = next_look(int(cum[n]), n, precision, pilot=pilot, cap=cap)
        if look is None or look > flags.size:
            return look
        n = look


# --------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Samples:
    """The replications behind an estimate, in replication order (copies; safe to keep).

    Attributes
    ----------
    revenue
        Revenue of each replication.
    bookings
        Cumulative bookings at the end of each week, one row per replication.
    reference_revenue, reference_bookings
        The same for the reference scenario on the same seeds (None without one).
    """

    revenue: np.ndarray
    bookings: np.ndarray
    reference_revenue: np.ndarray | None = None
    reference_bookings: np.ndarray | None = None


@dataclass(frozen=True)
class Estimate:
    """What the replications so far say (one snapshot of a :class:`Stream`).

    Attributes
    ----------
    replications
        Replications behind the estimate (0 .. replications - 1).
    p_target
        P(target) with its Wilson 95% interval (as ``summary.json``).
    revenue
        Mean revenue with its normal 95% interval.
    revenue_p10, revenue_p50, revenue_p90
        Revenue percentiles (as ``summary.json``).
    reference_p_target
        With a reference scenario: its P(target) on the same seeds.
    difference
        With a reference: P(target) of the scenario minus the reference's, paired 95% interval.
    revenue_difference
        With a reference: mean revenue of the scenario minus the reference's, paired interval.
    heading_for
        Replications the stream is heading for: ``max_replications``, or with a precision
        target the rule's next look (it may look again after that).
    final
        The last estimate of a stream that ran its course (not cancelled).
    precision_reached
        With a precision target: whether the interval is within it (None without one).
    elapsed_s
        Seconds since the stream started.
    samples
        With ``iterate(..., samples=True)``: the replications so far (:class:`Samples`).
    """

    replications: int
    p_target: Interval
    revenue: Interval
    revenue_p10: float
    revenue_p50: float
    revenue_p90: float
    reference_p_target: Interval | None
    difference: Interval | None
    revenue_difference: Interval | None
    heading_for: int
    final: bool
    precision_reached: bool | None
    elapsed_s: float
    samples: Samples | None = None


Outcome = tuple[float, bool, float, bool, np.ndarray | None, np.ndarray | None]
"""Revenue, target hit, the reference's revenue and hit, and the two bookings paths (or None)."""


class _Tally:
    """Revenue and target hits per replication, in replication order (8 bytes and a flag each)."""

    def __init__(self, paired: bool, samples: bool = False) -> None:
        self.n = 0
        self.hits = 0
        self.paired = paired
        self.samples = samples
        self._paths: list[np.ndarray] = []
        self._ref_paths: list[np.ndarray] = []
        self._revenue = np.empty(256)
        self._hit = np.empty(256, dtype=bool)
        self._ref_revenue = np.empty(256 if paired else 0)
        self._ref_hit = np.empty(256 if paired else 0, dtype=bool)

    def add(self, outcome: Outcome) -> None:
        if self.n == self._revenue.size:
            size = 2 * self.n
            self._revenue = np.resize(self._revenue, size)
            self._hit = np.resize(self._hit, size)
            if self.paired:
                self._ref_revenue = np.resize(self._ref_revenue, size)
                self._ref_hit = np.resize(self._ref_hit, size)
        revenue, hit, ref_revenue, ref_hit, path, ref_path = outcome
        if self.samples and path is not None:
            self._paths.append(path)
            if self.paired and ref_path is not None:
                self._ref_paths.append(ref_path)
        self._revenue[self.n] = revenue
        self._hit[self.n] = hit
        if self.paired:
            self._ref_revenue[self.n] = ref_revenue
            self._ref_hit[self.n] = ref_hit
        self.n += 1
        self.hits += bool(hit)

    def estimate(
        self, heading_for: int, final: bool, precision: float | None, elapsed_s: float
    ) -> Estimate:
        n, hits = self.n, self.hits
        revenue = self._revenue[:n]
        lo, hi = wilson_interval(hits, n)
        mean, mlo, mhi = mean_interval(revenue)
        p10, p50, p90 = (
            (float(np.percentile(revenue, q)) for q in (10, 50, 90))
            if n
            else (math.nan, math.nan, math.nan)
        )
        ref = diff = rdiff = None
        if self.paired:
            ref_hit = self._ref_hit[:n]
            ref_hits = int(ref_hit.sum())
            rlo, rhi = wilson_interval(ref_hits, n)
            ref = Interval(ref_hits / n if n else math.nan, rlo, rhi)
            est, (dlo, dhi), _, _ = paired_difference(ref_hit, self._hit[:n])
            diff = Interval(est, dlo, dhi)
            est, (dlo, dhi), _, _ = paired_difference(self._ref_revenue[:n], revenue)
            rdiff = Interval(est, dlo, dhi)
        return Estimate(
            replications=n,
            p_target=Interval(hits / n if n else math.nan, lo, hi),
            revenue=Interval(mean, mlo, mhi),
            revenue_p10=p10,
            revenue_p50=p50,
            revenue_p90=p90,
            reference_p_target=ref,
            difference=diff,
            revenue_difference=rdiff,
            heading_for=heading_for,
            final=final,
            precision_reached=(
                None if precision is None else bool(n and wilson_half_width(hits, n) <= precision)
            ),
            elapsed_s=elapsed_s,
            samples=self._samples() if self.samples else None,
        )

    def _samples(self) -> Samples:
        n = self.n
        paths = np.array(self._paths[:n], dtype=float).reshape(n, -1)
        if not self.paired:
            return Samples(self._revenue[:n].copy(), paths)
        ref_paths = np.array(self._ref_paths[:n], dtype=float).reshape(n, -1)
        return Samples(self._revenue[:n].copy(), paths, self._ref_revenue[:n].copy(), ref_paths)


def _outcomes(shared: tuple[Scenario, Scenario | None, bool, bool], task: Chunk) -> list[Outcome]:
    """Revenue and target hit of each replication of a chunk (and of the reference's, if any).

    With samples (the shared tuple's last flag) each outcome also carries the weekly bookings
    paths.
    """
    scenario, reference, uncertain, keep = shared
    start, chunk_seeds = task
    out: list[Outcome] = []
    for k, s in enumerate(chunk_seeds):
        result = run_replication(scenario, start + k, s, uncertain)
        row = result.row
        path = np.asarray(result.bookings, dtype=float) if keep else None
        replication_done()
        if reference is None:
            out.append(
                (float(row["revenue"]), bool(row["hit_target"]), math.nan, False, path, None)
            )
        else:
            ref_result = run_replication(reference, start + k, s, uncertain)
            ref = ref_result.row
            replication_done()
            out.append(
                (
                    float(row["revenue"]),
                    bool(row["hit_target"]),
                    float(ref["revenue"]),
                    bool(ref["hit_target"]),
                    path,
                    np.asarray(ref_result.bookings, dtype=float) if keep else None,
                )
            )
    return out


# --------------------------------------------------------------------------- the stream
class Stream:
    """A running stream of :class:`Estimate`; iterate it once, cancel it from any thread.

    Iteration (``for estimate in stream``) runs the replications in the iterating thread's
    pool; :meth:`cancel` is the one method meant for other threads. Use it as a context manager
    (or call :meth:`close` from the iterating thread) to be sure the workers are gone.
    """

    def __init__(self, pool: ReplicationPool[Any, Outcome], plan: _Plan):
        self._pool = pool
        self._plan = plan
        self._latest: Estimate | None = None
        self._cancelled = threading.Event()
        self._iterator = self._run()

    @property
    def latest(self) -> Estimate | None:
        """The most recent estimate (None before the first batch); safe from any thread."""
        return self._latest

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the stream (from any thread): nothing more is scheduled, the workers stop.

        An iteration in progress ends (without a further estimate) within a fraction of a second
        or, while a worker finishes the replication it is running, shortly after.
        """
        self._cancelled.set()
        self._pool.cancel()

    def close(self) -> None:
        """Cancel, and wait for the workers to exit (from the iterating thread)."""
        self.cancel()
        self._iterator.close()
        self._pool.close()

    def __iter__(self) -> Iterator[Estimate]:
        return self._iterator

    def __next__(self) -> Estimate:
        return next(self._iterator)

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> Generator[Estimate, None, None]:
        plan, pool = self._plan, self._pool
        tally = _Tally(plan.paired, plan.samples)
        started = time.perf_counter()
        goal: int | None = plan.first_look()
        try:
            while goal is not None and not self._cancelled.is_set():
                stop = min(goal, tally.n + plan.batch)
                for outcome in pool.take(tally.n, stop, plan.limit(tally, goal, stop)):
                    tally.add(outcome)
                if tally.n == goal:
                    goal = plan.look(tally.hits, tally.n)
                estimate = tally.estimate(
                    goal if goal is not None else tally.n,
                    goal is None,
                    plan.precision,
                    round(time.perf_counter() - started, 3),
                )
                self._latest = estimate
                yield estimate
        except Cancelled:
            return
        finally:
            pool.close()


@dataclass(frozen=True)
class _Plan:
    """How far a stream goes and how often it reports."""

    batch: int
    max_replications: int
    precision: float | None
    pilot: int
    paired: bool
    samples: bool = False

    def first_look(self) -> int:
        if self.precision is None:
            return self.max_replications
        look = next_look(0, 0, self.precision, pilot=self.pilot, cap=self.max_replications)
        assert look is not None
        return look

    def look(self, hits: int, n: int) -> int | None:
        if self.precision is None:
            return None
        return next_look(hits, n, self.precision, pilot=self.pilot, cap=self.max_replications)

    def limit(self, tally: _Tally, goal: int, stop: int) -> int:
        """How far workers may run ahead of ``stop``: the next batch, or the projected need."""
        ahead = min(goal, stop + self.batch)
        if self.precision is not None and tally.n >= self.pilot:
            need = projected_replications(
                tally.hits, tally.n, self.precision, self.max_replications
            )
            ahead = max(ahead, need)
        return max(stop, min(ahead, self.max_replications))


def iterate(
    scenario: Scenario,
    seed: int = 0,
    *,
    batch: int = 50,
    workers: int = 1,
    max_replications: int = 1000,
    reference: Scenario | None = None,
    precision: float | None = None,
    pilot: int = PILOT,
    parameter_uncertainty: bool = False,
    executor: str = "process",
    scheduler: Any = None,
    samples: bool = False,
) -> Stream:
    """Stream running estimates of ``scenario``'s outcome, one after every ``batch``.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`pipesim.load_scenario`, :func:`pipesim.what_if`).
    seed
        Root seed: replication *k* uses the seed it has in ``pipesim run --seed SEED``.
    batch
        Replications between estimates (with ``precision`` the rule's looks add estimates).
    workers
        Worker processes (1 runs in the iterating thread).
    max_replications
        The stream ends here (with ``precision``: here at the latest).
    reference
        Another scenario run on the same seeds; estimates then carry the paired differences.
    precision
        Stop once P(target)'s 95% Wilson interval is at most +/- this (:func:`next_look`).
    pilot
        With ``precision``: replications before the rule first looks.
    parameter_uncertainty
        Each replication first draws the scenario's ``uncertainty`` parameters.
    executor, scheduler
        ``"process"`` or ``"dask"`` with a scheduler address or Client, as for ``pipesim run``.
    samples
        Estimates also carry the replications (:class:`Samples`: revenue and weekly bookings,
        the reference's too), for charts drawn as the stream goes.

    Returns
    -------
    Stream
        Iterate it for :class:`Estimate` objects (immutable); ``cancel()`` stops it.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if max_replications < 1:
        raise ValueError("max_replications must be at least 1")
    if pilot < 1:
        raise ValueError("pilot must be at least 1")
    if precision is not None and not 0 < precision < 0.5:
        raise ValueError("precision must be between 0 and 0.5 (e.g. 0.01 for +/- 1 point)")
    uncertain = bool(parameter_uncertainty and scenario.uncertainty)
    pool: ReplicationPool[Any, Outcome] = ReplicationPool(
        _outcomes,
        (scenario, reference, uncertain, samples),
        partial(seeds, seed),
        workers,
        executor=executor,
        scheduler=scheduler,
        chunk_max=2 if executor == "process" else None,
    )
    plan = _Plan(batch, max_replications, precision, pilot, reference is not None, samples)
    return Stream(pool, plan)
