"""Where replications run: the one process-pool (and Dask) layer every command uses.

:func:`map_tasks` runs ``fn(shared, task)`` for each task and yields the results **in task
order**, whatever the number of workers, so every output is the same for any ``--workers``. One
worker runs in this process; more use a local process pool in which ``shared`` (a scenario, say)
travels once per worker (the pool's initializer) and tasks are submitted a few per worker ahead of
the one being read, so memory stays flat. Workers ignore Ctrl-C: the parent cancels pending work
and lets running tasks finish, so an interrupted run keeps everything that finished.

:func:`iterate_replications` is the Monte Carlo runner's use of it: chunks of replications of
one scenario, locally or on a Dask distributed cluster.
"""

from __future__ import annotations

import math
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from pipesim.engine.replication import run_replication
from pipesim.engine.summary import ReplicationResult
from pipesim.scenario.schema import Scenario

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

_WORKER_FN: Callable[[Any, Any], Any] | None = None
_WORKER_SHARED: Any = None


def _init_worker(fn: Callable[[Any, Any], Any], shared: Any) -> None:
    global _WORKER_FN, _WORKER_SHARED
    # Ctrl-C goes to the parent, which cancels pending work and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_FN, _WORKER_SHARED = fn, shared


def _call(task: Any) -> Any:
    assert _WORKER_FN is not None
    return _WORKER_FN(_WORKER_SHARED, task)


def map_tasks(
    fn: Callable[[S, T], R],
    shared: S,
    tasks: Iterable[T],
    workers: int,
    ahead: int = 3,
) -> Iterator[R]:
    """``fn(shared, task)`` for each task, yielded in task order.

    Parameters
    ----------
    fn
        A top-level (picklable) function.
    shared
        What every task needs (sent once to each worker process).
    tasks
        The units of work, in the order their results are wanted.
    workers
        Worker processes; 1 runs every task in this process.
    ahead
        Tasks kept submitted per worker beyond the one being read.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        for task in tasks:
            yield fn(shared, task)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(fn, shared))
    pending: deque[Future[R]] = deque()
    try:
        queue = iter(tasks)
        for task in queue:
            pending.append(pool.submit(_call, task))
            if len(pending) >= workers * ahead:
                break
        while pending:
            done = pending.popleft().result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_call, nxt))
            yield done
    finally:
        # on Ctrl-C: drop work not started, let running tasks finish, keep nothing half-done
        pool.shutdown(wait=True, cancel_futures=True)


Chunk = tuple[int, list[int]]
"""Replications ``start, start + 1, ...`` with their seeds."""


def _run_chunk(shared: tuple[Scenario, bool], task: Chunk) -> list[ReplicationResult]:
    """Run one chunk of replications (the unit of work a worker receives)."""
    scenario, uncertain = shared
    start, seeds = task
    return [run_replication(scenario, start + k, s, uncertain) for k, s in enumerate(seeds)]


def _chunks(seeds: list[int], size: int, start: int = 0) -> list[Chunk]:
    return [(start + i, seeds[i : i + size]) for i in range(0, len(seeds), size)]


def iterate_replications(
    scenario: Scenario,
    seeds: list[int],
    workers: int,
    chunk_size: int | None = None,
    start: int = 0,
    executor: str = "process",
    scheduler: Any = None,
    uncertain: bool = False,
) -> Iterator[ReplicationResult]:
    """Yield results of replications ``start, start + 1, ...`` in order.

    ``executor`` is ``"process"`` (:func:`map_tasks` over ``workers``; 1 runs in this process)
    or ``"dask"`` (a Dask distributed cluster at ``scheduler``: an address such as
    ``tcp://host:8786`` or a ``distributed.Client``). Replications travel in chunks so per-task
    overhead stays small; results come back in replication order either way.
    """
    n = len(seeds)
    if n == 0:
        return
    if executor == "dask":
        size = chunk_size or max(1, min(50, n // 16 or 1))
        yield from _iterate_dask(scenario, _chunks(seeds, size, start), scheduler, uncertain)
        return
    if executor != "process":
        raise ValueError(f"unknown executor {executor!r}; allowed: process, dask")
    # small chunks: the scenario travels once per worker, so chunks cost little, and small ones
    # keep every worker busy to the end
    if workers == 1:
        # one at a time, so an interrupt keeps every replication that finished
        for k, s in enumerate(seeds):
            yield run_replication(scenario, start + k, s, uncertain)
        return
    size = chunk_size or max(1, min(10, math.ceil(n / (workers * 32))))
    for chunk in map_tasks(_run_chunk, (scenario, uncertain), _chunks(seeds, size, start), workers):
        yield from chunk


def _iterate_dask(
    scenario: Scenario, tasks: list[Chunk], scheduler: Any, uncertain: bool
) -> Iterator[ReplicationResult]:
    try:
        # lazy: the optional dask extra; only --executor dask needs it
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise RuntimeError(
            "the dask executor needs the optional extra: pip install 'pipesim[dask]'"
        ) from None
    own = not isinstance(scheduler, Client)
    if own and not scheduler:
        raise ValueError("the dask executor needs --scheduler tcp://HOST:PORT")
    client = Client(scheduler) if own else scheduler
    try:
        window = max(4, 3 * len(client.scheduler_info().get("workers", {}) or [0]))
        [shared] = client.scatter([(scenario, uncertain)], broadcast=True)
        pending: deque[Any] = deque()
        queue = iter(tasks)
        for task in queue:
            pending.append(client.submit(_run_chunk, shared, task, pure=False))
            if len(pending) >= window:
                break
        try:
            while pending:
                done = pending.popleft().result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(client.submit(_run_chunk, shared, nxt, pure=False))
                yield from done
        finally:
            for fut in pending:
                fut.cancel()
    finally:
        if own:
            client.close()
