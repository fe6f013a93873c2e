"""Monte Carlo runner: seeds, executors, streaming results to disk.

One root seed gives one seed per replication (:func:`pipesim.rng.replication_seeds`); chunks of
replications run in a process pool (or in-process with one worker) and come back in replication
order, so the files are byte-identical whatever the number of workers. Rows are appended to the
output files as chunks finish: memory holds only the per-replication rows, and an interrupted run
keeps every finished replication and a summary marked ``partial``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipesim import __version__
from pipesim.config import Scenario
from pipesim.engine import ReplicationResult, outcome_columns, run_replication
from pipesim.loader import dump_scenario
from pipesim.results import summarise
from pipesim.rng import replication_seeds

ProgressCallback = Callable[[int], None]


BOOKINGS_COLUMNS = ["replication", "week", "cumulative_bookings"]
REPS_COLUMNS = ["replication", "seat", "rep", "bookings", "quota", "attainment"]


@dataclass
class Results:
    """A finished run: the summary, the per-replication table and the bookings paths.

    ``bookings`` (weekly cumulative bookings per replication) and ``reps`` (bookings per seat)
    are read from the run folder on first use when the run wrote one, so a long run never holds
    them in memory.
    """

    scenario: Scenario
    summary: dict[str, Any]
    table: pd.DataFrame
    out: Path | None = None
    _bookings: pd.DataFrame | None = field(default=None, repr=False)
    _reps: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def bookings(self) -> pd.DataFrame:
        """Tidy cumulative bookings: ``replication, week, cumulative_bookings``."""
        if self._bookings is None:
            assert self.out is not None
            self._bookings = pd.read_csv(self.out / "bookings.csv")
        return self._bookings

    @property
    def reps(self) -> pd.DataFrame:
        """Bookings per seat: ``replication, seat, rep, bookings, quota, attainment``."""
        if self._reps is None:
            assert self.out is not None
            self._reps = pd.read_csv(self.out / "reps.csv")
        return self._reps

    @property
    def p_target(self) -> float:
        """Estimated probability of reaching the revenue target."""
        return float(self.summary["p_target"]["estimate"])


# --------------------------------------------------------------------------- workers
_WORKER_SCENARIO: Scenario | None = None


def _init_worker(scenario: Scenario) -> None:
    global _WORKER_SCENARIO
    # Ctrl-C goes to the parent, which cancels pending work and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_SCENARIO = scenario


def _run_chunk(task: tuple[int, list[int]]) -> list[ReplicationResult]:
    start, seeds = task
    assert _WORKER_SCENARIO is not None
    return [run_replication(_WORKER_SCENARIO, start + k, s) for k, s in enumerate(seeds)]


def _chunks(seeds: list[int], size: int) -> list[tuple[int, list[int]]]:
    return [(i, seeds[i : i + size]) for i in range(0, len(seeds), size)]


def iterate_replications(
    scenario: Scenario, seeds: list[int], workers: int, chunk_size: int | None = None
) -> Iterator[ReplicationResult]:
    """Yield replication results in replication order, computed by ``workers`` processes."""
    n = len(seeds)
    if n == 0:
        return
    size = chunk_size or max(1, min(25, n // max(1, workers * 8) or 1))
    tasks = _chunks(seeds, size)
    if workers <= 1:
        for start, chunk in tasks:
            for k, s in enumerate(chunk):
                yield run_replication(scenario, start + k, s)
        return
    window = workers * 3
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(scenario,)
    ) as pool:
        pending: deque[Future[list[ReplicationResult]]] = deque()
        queue = iter(tasks)
        try:
            for task in queue:
                pending.append(pool.submit(_run_chunk, task))
                if len(pending) >= window:
                    break
            while pending:
                done = pending.popleft().result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(_run_chunk, nxt))
                yield from done
        finally:
            for fut in pending:
                fut.cancel()


# --------------------------------------------------------------------------- output files
class _Sink:
    """Appends rows to the run's CSV files as replications finish."""

    def __init__(self, out: Path | None, scenario: Scenario) -> None:
        self.out = out
        self.columns = outcome_columns(scenario)
        names = [m.name for m in scenario.reps.members or []]
        self.rep_names = [
            names[k] if k < len(names) else f"rep{k + 1:02d}" for k in range(scenario.reps.seats)
        ]
        self.quota = scenario.rep_quota
        self.rows: list[dict[str, Any]] = []
        self.booking_rows: list[tuple[int, int, float]] = []
        self.rep_rows: list[tuple[int, int, str, float, float, float]] = []
        self._files: list[io.TextIOWrapper] = []
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.f_rep = self._open(out / "replications.csv", self.columns)
            self.f_book = self._open(out / "bookings.csv", BOOKINGS_COLUMNS)
            self.f_reps = self._open(out / "reps.csv", REPS_COLUMNS)

    def _open(self, path: Path, header: list[str]) -> io.TextIOWrapper:
        f = path.open("w", newline="", encoding="utf-8")
        csv.writer(f, lineterminator="\n").writerow(header)
        f.flush()
        self._files.append(f)
        return f

    def add(self, results: list[ReplicationResult]) -> None:
        rows, books, reps = [], [], []
        for r in results:
            rows.append(r.row)
            rid = r.row["replication"]
            books += [(rid, w + 1, float(b)) for w, b in enumerate(r.bookings)]
            reps += [
                (rid, k, self.rep_names[k], float(v), self.quota, float(v) / self.quota)
                for k, v in enumerate(r.rep_bookings)
            ]
        self.rows += rows
        if self.out is None:
            self.booking_rows += books
            self.rep_rows += reps
        else:
            self._write(self.f_rep, [[row[c] for c in self.columns] for row in rows])
            self._write(self.f_book, books)
            self._write(self.f_reps, reps)

    @staticmethod
    def _write(f: io.TextIOWrapper, rows: list[Any]) -> None:
        # One write per batch so a crash never leaves half a row behind a flushed one.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        f.write(buf.getvalue())
        f.flush()

    def close(self) -> None:
        for f in self._files:
            f.close()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON via a temporary file and an atomic rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run(
    scenario: Scenario,
    replications: int = 1000,
    seed: int = 0,
    workers: int = 1,
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> Results:
    """Run ``replications`` Monte Carlo replications of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`pipesim.load_scenario`).
    replications
        Number of replications.
    seed
        Root seed; the same seed gives the same results for any number of workers.
    workers
        Worker processes (1 runs in this process).
    out
        Folder for ``summary.json``, ``replications.csv``, ``bookings.csv``, ``reps.csv`` and the
        resolved ``scenario.yaml``; None keeps everything in memory.
    progress
        Called with the number of replications just finished.
    """
    if replications < 1:
        raise ValueError("replications must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    out_path = Path(out) if out is not None else None
    started = time.perf_counter()
    seeds = replication_seeds(seed, replications)
    sink = _Sink(out_path, scenario)
    if out_path is not None:
        (out_path / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
    partial = False
    batch: list[ReplicationResult] = []
    try:
        for result in iterate_replications(scenario, seeds, workers):
            batch.append(result)
            if len(batch) >= 10:
                sink.add(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            sink.add(batch)
            if progress:
                progress(len(batch))
            batch = []
    except KeyboardInterrupt:
        partial = True
        if batch:
            sink.add(batch)
    finally:
        sink.close()
        table = pd.DataFrame(sink.rows, columns=sink.columns)
        summary = summarise(
            scenario,
            table,
            seed=seed,
            runtime_s=round(time.perf_counter() - started, 3),
            version=__version__,
            partial=partial,
            requested=replications,
        )
        if out_path is not None:
            write_json_atomic(out_path / "summary.json", summary)
    if partial:
        raise RunInterrupted(summary, out_path)
    if out_path is not None:
        return Results(scenario, summary, table, out_path)
    bookings = pd.DataFrame(sink.booking_rows, columns=BOOKINGS_COLUMNS)
    reps = pd.DataFrame(sink.rep_rows, columns=REPS_COLUMNS)
    return Results(scenario, summary, table, None, bookings, reps)


class RunInterrupted(Exception):
    """The run was interrupted; finished replications and a partial summary were kept."""

    def __init__(self, summary: dict[str, Any], out: Path | None) -> None:
        super().__init__("run interrupted")
        self.summary = summary
        self.out = out
