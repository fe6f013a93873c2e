"""Where replications run: the one process-pool (and Dask) layer every command uses.

:func:`map_tasks` runs ``fn(shared, task)`` for each task and yields the results **in task
order**, whatever the number of workers, so every output is the same for any ``--workers``. One
worker runs in this process; more use a local process pool in which ``shared`` (a scenario, say)
travels once per worker (the pool's initializer) and tasks are submitted a few per worker ahead of
the one being read, so memory stays flat. Workers ignore Ctrl-C: the parent cancels pending work
and lets running tasks finish, so an interrupted run keeps everything that finished.

:func:`iterate_replications` runs a fixed list of replications of one scenario in chunks,
locally or on a Dask distributed cluster. :class:`ReplicationPool` is the same on demand: one pool
for a run whose length is decided as its results arrive (a precision target, a streamed what-if),
with a :meth:`~ReplicationPool.cancel` any thread may call. The runner and
:mod:`pipesim.runs.stream` use it.
"""

from __future__ import annotations

import gc
import math
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Any, Generic, TypeVar

from pipesim.engine.replication import run_replication
from pipesim.engine.summary import ReplicationResult
from pipesim.scenario.schema import Scenario

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

_WORKER_FN: Callable[[Any, Any], Any] | None = None
_WORKER_SHARED: Any = None


_COLLECT_EACH = False
"""True in a pool's worker processes: each replication's garbage is collected as it ends."""


def _init_worker(fn: Callable[[Any, Any], Any], shared: Any) -> None:
    global _WORKER_FN, _WORKER_SHARED, _COLLECT_EACH
    # Ctrl-C goes to the parent, which cancels pending work and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_FN, _WORKER_SHARED = fn, shared
    _COLLECT_EACH = _freeze_heap()


def _freeze_heap() -> bool:
    """Set what is alive now (modules, the scenario) aside from the garbage collector.

    A replication leaves reference cycles (SimPy events and processes) that only a full
    collection frees, and full collections come rarer as a process lives on, so without help a
    worker's memory grows with the replications it has run. Once the long-lived objects are
    frozen, a full collection after each replication scans little else and takes a few
    milliseconds, and memory stays flat. Returns True (the caller then collects as it goes).
    """
    gc.collect()
    gc.freeze()
    return True


def replication_done() -> None:
    """In a pool's worker process, free the garbage a replication left (see ``_freeze_heap``)."""
    if _COLLECT_EACH:
        gc.collect()


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


def run_chunk(shared: tuple[Scenario, bool], task: Chunk) -> list[ReplicationResult]:
    """Run one chunk of replications (the unit of work a worker receives).

    ``shared`` is the scenario and whether each replication first draws its uncertain
    parameters.
    """
    scenario, uncertain = shared
    start, seeds = task
    out = []
    for k, s in enumerate(seeds):
        out.append(run_replication(scenario, start + k, s, uncertain))
        replication_done()
    return out


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
    for chunk in map_tasks(run_chunk, (scenario, uncertain), _chunks(seeds, size, start), workers):
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
            pending.append(client.submit(run_chunk, shared, task, pure=False))
            if len(pending) >= window:
                break
        try:
            while pending:
                done = pending.popleft().result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(client.submit(run_chunk, shared, nxt, pure=False))
                yield from done
        finally:
            for fut in pending:
                fut.cancel()
    finally:
        if own:
            client.close()


Seeds = Callable[[int, int], list[int]]
"""The seeds of replications ``start .. stop - 1`` (e.g. :func:`pipesim.runs.stream.seeds`)."""

_POLL_S = 0.1
"""How often a waiting :meth:`ReplicationPool.take` looks for a cancel from another thread."""


class Cancelled(Exception):
    """:meth:`ReplicationPool.cancel` was called: no more results will come."""


class ReplicationPool(Generic[S, R]):
    """Replications run on demand in chunks, results in replication order, one pool for its life.

    ``fn(shared, (start, seeds))`` runs one chunk (a top-level, picklable function returning one
    result per seed, e.g. :func:`run_chunk`). :meth:`take` yields the results of replications
    ``start .. stop - 1``, each call continuing where the last one ended, so a run whose length is
    decided as results arrive (a precision target, a streamed what-if) keeps one pool and never
    waits for workers to start again. While it waits, up to ``ahead`` chunks per worker stay
    submitted, never past ``limit``: a caller that expects to want more (the next batch, the
    projected end of a precision run) passes a larger ``limit`` so workers do not idle between
    calls. Results past ``stop`` wait for the next call; :meth:`close` drops them.

    One worker (the process executor) runs each replication in this process, one at a time, when
    it is taken, so an interrupt keeps every replication that finished; so does a single
    replication asked of a pool not yet started (starting workers costs more than it). More use
    a process pool whose workers receive ``shared`` once (and ignore Ctrl-C: the parent stops
    them), or a Dask cluster (``executor="dask"``, ``scheduler`` an address or a
    ``distributed.Client``).

    :meth:`cancel` may be called from any thread: nothing is submitted after it, chunks not yet
    started are dropped, and a :meth:`take` in progress raises :class:`Cancelled` within a
    fraction of a second. A chunk already running finishes (a worker is never killed in the
    middle of a replication). :meth:`close`, or leaving the ``with`` block, shuts the pool down
    and waits for its workers, so none outlives it.
    """

    def __init__(
        self,
        fn: Callable[[S, Chunk], list[R]],
        shared: S,
        seeds: Seeds,
        workers: int,
        *,
        start: int = 0,
        executor: str = "process",
        scheduler: Any = None,
        chunk_max: int | None = None,
        ahead: int = 3,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if executor not in ("process", "dask"):
            raise ValueError(f"unknown executor {executor!r}; allowed: process, dask")
        if executor == "dask" and not scheduler:
            raise ValueError("the dask executor needs --scheduler tcp://HOST:PORT")
        self.fn, self.shared, self.seeds = fn, shared, seeds
        self.workers, self.executor, self.scheduler = workers, executor, scheduler
        self.ahead = ahead
        self.chunk_max = chunk_max or (50 if executor == "dask" else 10)
        self._next = start  # the next replication take() yields
        self._submitted = start  # the next replication to submit
        self._ready: deque[R] = deque()
        self._inflight: deque[Any] = deque()  # futures of submitted chunks, in order
        self._cancelled = threading.Event()
        self._lock = threading.Lock()  # submission against cancel()
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._own_client = False
        self._shared_remote: Any = None
        self._closed = False
        self._frozen = False  # in-process runs: the heap frozen (unfrozen by close)

    @property
    def position(self) -> int:
        """The next replication :meth:`take` yields."""
        return self._next

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def take(self, start: int, stop: int, limit: int | None = None) -> Iterator[R]:
        """Yield the results of replications ``start .. stop - 1`` in order.

        ``start`` is where the last call ended (or the pool's ``start``); ``limit`` (at least
        ``stop``) bounds the replications submitted ahead. Raises :class:`Cancelled` once
        :meth:`cancel` was called.
        """
        if start != self._next:
            raise ValueError(f"take() continues at replication {self._next}, not {start}")
        if self._closed:
            raise ValueError("the pool is closed")
        limit = max(stop, limit if limit is not None else stop)
        while self._next < stop:
            if self._cancelled.is_set():
                raise Cancelled
            if not self._ready:
                if self.executor == "process" and (self.workers == 1 or self._inline(limit)):
                    i = self._next
                    if not self._frozen:
                        self._frozen = _freeze_heap()
                    self._ready.extend(self.fn(self.shared, (i, self.seeds(i, i + 1))))
                    gc.collect()  # the replication's cycles (see _freeze_heap)
                    self._submitted = i + 1
                else:
                    self._fill(limit)
                    self._ready.extend(self._first())
            self._next += 1
            yield self._ready.popleft()

    def cancel(self) -> None:
        """Stop: submit nothing more, drop work not started (safe from any thread)."""
        with self._lock:
            self._cancelled.set()
            pending = list(self._inflight)
        for fut in pending:
            fut.cancel()  # chunks not started; a running one finishes

    def close(self) -> None:
        """Drop what is pending and wait for the workers to stop."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._cancelled.set()
            pending = list(self._inflight)
            self._inflight.clear()
        self._ready.clear()
        if self._pool is not None:
            # work not started is dropped; a running chunk finishes, then the workers exit
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._frozen:
            gc.unfreeze()
        if self._client is not None:
            for fut in pending:
                fut.cancel()
            if self._own_client:
                self._client.close()

    def __enter__(self) -> ReplicationPool[S, R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _inline(self, limit: int) -> bool:
        """Whether the next replication runs here: it is the only one asked of a pool not started.

        Starting worker processes costs more than one replication (each imports the model), and
        one replication cannot be shared; the results are the same either way (the seed is the
        replication's own).
        """
        return self._pool is None and not self._inflight and limit - self._next <= 1

    def _fill(self, limit: int) -> None:
        """Keep ``ahead`` chunks per worker submitted, up to replication ``limit``."""
        window = self.workers * self.ahead
        while len(self._inflight) < window and self._submitted < limit:
            left = limit - self._submitted
            # small chunks near the end keep every worker busy to the last one
            size = max(1, min(self.chunk_max, math.ceil(left / (self.workers * self.ahead))))
            first = self._submitted
            task: Chunk = (first, self.seeds(first, first + size))
            with self._lock:
                if self._cancelled.is_set():
                    raise Cancelled
                self._inflight.append(self._submit(task))
            self._submitted = first + size

    def _submit(self, task: Chunk) -> Any:
        if self.executor == "dask":
            if self._client is None:
                self._connect()
            return self._client.submit(self.fn, self._shared_remote, task, pure=False)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                initializer=_init_worker,
                initargs=(self.fn, self.shared),
            )
        return self._pool.submit(_call, task)

    def _connect(self) -> None:
        try:
            # lazy: the optional dask extra; only --executor dask needs it
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise RuntimeError(
                "the dask executor needs the optional extra: pip install 'pipesim[dask]'"
            ) from None
        self._own_client = not isinstance(self.scheduler, Client)
        self._client = Client(self.scheduler) if self._own_client else self.scheduler
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {}) or [0]))
        [self._shared_remote] = self._client.scatter([self.shared], broadcast=True)

    def _first(self) -> list[R]:
        """Wait for the oldest submitted chunk, looking for a cancel meanwhile."""
        fut = self._inflight[0]
        while True:
            if self._cancelled.is_set():
                raise Cancelled
            if self.executor == "dask":
                done = _dask_done(fut, _POLL_S)
            else:
                done = bool(wait([fut], timeout=_POLL_S, return_when=FIRST_COMPLETED)[0])
            if done:
                break
        with self._lock:
            self._inflight.popleft()
        try:
            return list(fut.result())
        except CancelledError:
            raise Cancelled from None


def _dask_done(fut: Any, timeout: float) -> bool:
    """Whether a Dask future finished within ``timeout`` seconds."""
    # lazy: the optional dask extra; only --executor dask gets here
    from distributed import wait as dask_wait

    try:
        dask_wait([fut], timeout=timeout)
    except TimeoutError:
        return False
    return True
