"""Monte Carlo runner: seeds, streaming results to disk, precision targets, resume.

One root seed gives one seed per replication (:func:`pipesim.runs.stream.seeds`, the same numbers
as :func:`pipesim.scenario.rng.replication_seeds`); chunks of replications run where
:class:`pipesim.runs.executors.ReplicationPool` sends them (in this process, a process pool or a
Dask cluster) and come back in replication order, so the files are byte-identical whatever the
number of workers. Rows are appended to the output files as chunks finish, and the summary and
the deal forecast read them back in chunks (only the columns they use), so memory does not grow
with the number of replications; an interrupted run keeps every finished replication and a
summary marked ``partial``. A precision target stops the run by the rule of
:func:`pipesim.runs.stream.next_look`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipesim._version import __version__
from pipesim.engine.summary import DealOutcomes, ReplicationResult, outcome_columns
from pipesim.market.choice import CHOICES
from pipesim.results.statistics import summarise, wilson_half_width
from pipesim.runs.executors import ReplicationPool, run_chunk
from pipesim.runs.stream import PILOT, next_look, projected_replications, replay_looks, seeds
from pipesim.scenario.loader import dump_scenario
from pipesim.scenario.schema import TERMINAL_STATES, Scenario

ProgressCallback = Callable[[int], None]


BOOKINGS_COLUMNS = ["replication", "week", "cumulative_bookings"]
REPS_COLUMNS = [
    "replication", "seat", "rep", "bookings", "quota", "attainment", "new_opportunities",
]  # fmt: skip
DEAL_OUTCOME_COLUMNS = [
    "replication",
    "deal",
    "outcome",
    "close_day",
    "value",
    "preferred",
    "coverage",
]
"""``deal_outcomes.csv``: each open-pipeline deal in each replication (the input of deals.csv)."""

READ_BACK = frozenset(
    [
        "replication",
        "revenue",
        "hit_target",
        *TERMINAL_STATES,
        "no_decision_status_quo",
        "no_decision_indecision",
        "leads",
        "gross_margin",
        "reps_at_quota",
        "opportunities",
        "won_opportunities",
        "resolved_opportunities",
        "no_decision_opportunities",
        "mean_cycle_days",
        "revenue_open_pipeline",
        "new_opportunities_per_rep_week",
    ]
)
"""Columns of ``replications.csv`` the summary (:func:`pipesim.results.statistics.summarise`) and
the deal forecast (:func:`pipesim.results.deals.deal_forecast`) read after the run."""

READ_CHUNK = 5_000
"""Rows read at a time when a run's files are read back (bounds the memory of a long run)."""

WRITE_EVERY = 10
"""Replications written to the files at a time (and reported to the progress callback)."""

BOOKINGS_DTYPES = {"replication": "int32", "week": "int16", "cumulative_bookings": "float64"}
REPS_DTYPES = {"replication": "int32", "seat": "int16"}
"""Compact integer columns for the long tables read back (a row per replication and week/seat)."""

TABLE_READ_CHUNK = 100_000
"""Rows parsed at a time by :func:`read_output` (the parser's buffers stay small)."""


def read_output(path: Path, dtype: dict[str, str] | None = None) -> pd.DataFrame:
    """A run's CSV output read in chunks: the parser never holds a whole long file at once."""
    parts = list(pd.read_csv(path, dtype=dtype, chunksize=TABLE_READ_CHUNK))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


@dataclass
class Results:
    """A finished run: the summary, the per-replication table and the bookings paths.

    ``table`` (one row per replication), ``bookings`` (weekly cumulative bookings per
    replication) and ``reps`` (bookings per seat) are read from the run folder on first use when
    the run wrote one, so a long run never holds them in memory unless asked to.
    """

    scenario: Scenario
    summary: dict[str, Any]
    _table: pd.DataFrame | None = field(default=None, repr=False)
    out: Path | None = None
    _bookings: pd.DataFrame | None = field(default=None, repr=False)
    _reps: pd.DataFrame | None = field(default=None, repr=False)
    _deals: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """One row per replication (``replications.csv``)."""
        if self._table is None:
            assert self.out is not None
            self._table = read_output(self.out / "replications.csv")
        return self._table

    @property
    def deals(self) -> pd.DataFrame | None:
        """The deal-level forecast (``deals.csv``), or None when there is no open pipeline."""
        if self._deals is None and self.out is not None and (self.out / "deals.csv").exists():
            self._deals = pd.read_csv(self.out / "deals.csv")
        return self._deals

    @property
    def bookings(self) -> pd.DataFrame:
        """Tidy cumulative bookings: ``replication, week, cumulative_bookings``."""
        if self._bookings is None:
            assert self.out is not None
            self._bookings = read_output(self.out / "bookings.csv", BOOKINGS_DTYPES)
        return self._bookings

    @property
    def reps(self) -> pd.DataFrame:
        """Bookings per seat: ``replication, seat, rep, bookings, quota, attainment``."""
        if self._reps is None:
            assert self.out is not None
            self._reps = read_output(self.out / "reps.csv", REPS_DTYPES)
        return self._reps

    @property
    def p_target(self) -> float:
        """Estimated probability of reaching the revenue target."""
        return float(self.summary["p_target"]["estimate"])


# --------------------------------------------------------------------------- output files
MANIFEST = "run.json"
"""The run's plan (scenario hash, seed, replications, precision): what ``--resume`` continues."""


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario (every default filled in)."""
    return hashlib.sha256(dump_scenario(scenario).encode("utf-8")).hexdigest()


def _complete_lines(path: Path) -> list[bytes]:
    """Lines of a CSV file after its header, dropping a trailing half-written line."""
    lines = path.read_bytes().splitlines(keepends=True)[1:]
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()
    return lines


class _Sink:
    """Appends rows to the run's CSV files as replications finish."""

    def __init__(self, out: Path | None, scenario: Scenario, resume: bool = False) -> None:
        self.out = out
        self.columns = outcome_columns(scenario)
        self.rep_names = scenario.reps.labels()
        self.deals = sum(opp.count for opp in scenario.open_pipeline)
        self.deal_rows: list[tuple[Any, ...]] = []
        self.quotas = scenario.seat_quotas()
        self.weeks = math.ceil(scenario.target.horizon_weeks - 1e-9)
        self.rows: list[dict[str, Any]] = []  # kept in memory only without an output folder
        self.booking_rows: list[tuple[int, int, float]] = []
        self.rep_rows: list[tuple[int, int, str, float, float, float, int]] = []
        self._files: list[io.TextIOWrapper] = []
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "replications.csv": (self.columns, 1),
            "bookings.csv": (BOOKINGS_COLUMNS, self.weeks),
            "reps.csv": (REPS_COLUMNS, len(self.rep_names)),
        }
        if self.deals:
            files["deal_outcomes.csv"] = (DEAL_OUTCOME_COLUMNS, self.deals)
        done = 0
        if resume and all((out / name).exists() for name in files):
            # keep only replications complete in every file (a crash may cut a batch short)
            lines = {name: _complete_lines(out / name) for name in files}
            done = min(len(lines[name]) // per for name, (_, per) in files.items())
            for name, (header, per) in files.items():
                keep = b"".join(lines[name][: done * per])
                head = (",".join(header) + "\n").encode("utf-8")
                tmp = out / (name + ".tmp")
                tmp.write_bytes(head + keep)
                os.replace(tmp, out / name)
        self.done = done
        if not self.deals:
            # a folder reused from a run with an open pipeline: its deal files are not this run's
            for stale in ("deal_outcomes.csv", "deals.csv"):
                (out / stale).unlink(missing_ok=True)
        self.f_rep = self._open(out / "replications.csv", self.columns, append=done > 0)
        self.f_book = self._open(out / "bookings.csv", BOOKINGS_COLUMNS, append=done > 0)
        self.f_reps = self._open(out / "reps.csv", REPS_COLUMNS, append=done > 0)
        self.f_deals = (
            self._open(out / "deal_outcomes.csv", DEAL_OUTCOME_COLUMNS, append=done > 0)
            if self.deals
            else None
        )

    done: int = 0

    def _open(self, path: Path, header: list[str], append: bool) -> io.TextIOWrapper:
        f = path.open("a" if append else "w", newline="", encoding="utf-8")
        if not append:
            csv.writer(f, lineterminator="\n").writerow(header)
            f.flush()
        self._files.append(f)
        return f

    def add(self, results: list[ReplicationResult]) -> None:
        rows, books, reps, deals = [], [], [], []
        for r in results:
            rows.append(r.row)
            rid = r.row["replication"]
            books += [(rid, w + 1, float(b)) for w, b in enumerate(r.bookings)]
            opened = r.rep_new_opportunities
            reps += [
                (rid, k, self.rep_names[k], float(v), self.quotas[k], float(v) / self.quotas[k],
                 int(opened[k]) if opened is not None else 0)
                for k, v in enumerate(r.rep_bookings)
            ]  # fmt: skip
            if r.deals is not None:
                deals += _deal_rows(rid, r.deals)
        if self.out is None:
            self.rows += rows
            self.booking_rows += books
            self.rep_rows += reps
            self.deal_rows += deals
        else:
            self._write(self.f_rep, [[row[c] for c in self.columns] for row in rows])
            self._write(self.f_book, books)
            self._write(self.f_reps, reps)
            if self.f_deals is not None:
                self._write(self.f_deals, deals)

    @staticmethod
    def _write(f: io.TextIOWrapper, rows: list[Any]) -> None:
        # One write per batch so a crash never leaves half a row behind a flushed one.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        f.write(buf.getvalue())
        f.flush()

    def summary_table(self) -> pd.DataFrame:
        """The columns of every finished replication the summary and deal forecast read.

        From the file when there is one (resumed rows too), read in chunks: memory holds
        :data:`READ_BACK` (a few numbers per replication), never the whole table at once.
        """
        if self.out is None:
            return pd.DataFrame(self.rows, columns=self.columns)
        self.flush()
        chunks = pd.read_csv(
            self.out / "replications.csv",
            usecols=lambda c: c in READ_BACK or (c.startswith("team_") and c.endswith("_revenue")),
            chunksize=READ_CHUNK,
        )
        parts = list(chunks)
        if not parts:
            return pd.DataFrame(columns=[c for c in self.columns if c in READ_BACK])
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def hits(self) -> list[bool]:
        """``hit_target`` of every replication in the file (what a resumed precision run needs)."""
        if self.out is None or self.done == 0:
            return []
        self.flush()
        out: list[bool] = []
        for chunk in pd.read_csv(
            self.out / "replications.csv", usecols=["hit_target"], chunksize=READ_CHUNK
        ):
            out += chunk["hit_target"].astype(bool).tolist()
        return out

    def flush(self) -> None:
        for f in self._files:
            if not f.closed:
                f.flush()

    def close(self) -> None:
        for f in self._files:
            f.close()


def _deal_rows(rid: int, d: DealOutcomes) -> list[tuple[Any, ...]]:
    states = TERMINAL_STATES
    return [
        (
            rid,
            k,
            states[status],
            "" if math.isnan(t) else t,
            value,
            CHOICES[pref] if pref >= 0 else "",
            coverage,
        )
        for k, (status, t, value, pref, coverage) in enumerate(
            zip(
                d.status.tolist(),
                d.t_close.tolist(),
                d.value.tolist(),
                d.preferred.tolist(),
                d.coverage.tolist(),
                strict=True,
            )
        )
    ]


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON via a temporary file and an atomic rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a run is under way (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    scenario: Scenario,
    replications: int | None = None,
    seed: int = 0,
    workers: int = 1,
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
    *,
    precision: float | None = None,
    max_replications: int = 100_000,
    executor: str = "process",
    scheduler: Any = None,
    resume: bool = False,
    parameter_uncertainty: bool = False,
    variant: dict[str, Any] | None = None,
) -> Results:
    """Run Monte Carlo replications of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`pipesim.load_scenario`).
    replications
        Number of replications (default 1,000). With ``precision``: the pilot, the replications
        run before the precision rule first looks (default :data:`pipesim.runs.stream.PILOT`).
    seed
        Root seed; the same seed gives the same results for any number of workers and executor.
    workers
        Worker processes (1 runs in this process).
    out
        Folder for ``summary.json``, ``replications.csv``, ``bookings.csv``, ``reps.csv``,
        ``scenario.yaml`` and ``run.json``; None keeps everything in memory.
    progress
        Called with the number of replications just finished.
    precision
        Run until the 95% Wilson interval of P(target) is at most +/- ``precision`` (or
        ``max_replications`` is reached), by the rule of :func:`pipesim.runs.stream.next_look`:
        a pilot, then looks that close in on the replications the interval needs, so the run
        stops within a small step of that number. Deterministic for a seed.
    max_replications
        Cap on replications in a precision-targeted run.
    executor, scheduler
        ``"process"`` (local pool) or ``"dask"`` with a scheduler address or Client.
    resume
        Continue the run in ``out`` (same scenario and seed) from its finished replications;
        the final files equal those of an uninterrupted run.
    parameter_uncertainty
        Each replication first draws the scenario's ``uncertainty`` parameters
        (:mod:`pipesim.engine.uncertainty`).
    variant
        For a what-if, its settings (:meth:`pipesim.runs.records.RunSettings.to_json`), kept in
        ``run.json`` under ``variant`` so the run is recorded as a what-if, not the forecast.

    Raises
    ------
    RunInterrupted
        On Ctrl-C or SIGTERM, after saving every finished replication and a partial summary.
    ResumeMismatch
        When ``resume`` finds a run of a different scenario or seed.
    """
    if replications is None:
        replications = PILOT if precision is not None else 1000
    if replications < 1:
        raise ValueError("replications must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if precision is not None and not 0 < precision < 0.5:
        raise ValueError("precision must be between 0 and 0.5 (e.g. 0.01 for +/- 1 point)")
    out_path = Path(out) if out is not None else None
    started = time.perf_counter()
    manifest: dict[str, Any] = {
        "scenario": scenario.name,
        "scenario_sha256": scenario_hash(scenario),
        "seed": seed,
        "replications": replications,
        "precision": precision,
        "max_replications": max_replications if precision is not None else None,
        "parameter_uncertainty": parameter_uncertainty,
        "pipesim_version": __version__,
    }
    if variant:
        manifest["variant"] = dict(variant)
    if resume:
        if out_path is None:
            raise ValueError("resume needs the run's output folder")
        manifest = _check_resume(out_path, manifest)
        replications = int(manifest["replications"])
        precision = manifest["precision"]
        max_replications = int(manifest["max_replications"] or max_replications)
    sink = _Sink(out_path, scenario, resume=resume)
    if out_path is not None:
        (out_path / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
        write_json_atomic(out_path / MANIFEST, manifest)
    done = sink.done
    hits = 0
    goal: int | None = replications
    if precision is not None:
        # the precision rule is a function of the hits alone: replay it over what is done
        flags = sink.hits()
        hits = sum(flags)
        goal = replay_looks(
            np.asarray(flags, dtype=bool), precision, pilot=replications, cap=max_replications
        )
    partial_run = False
    batch: list[ReplicationResult] = []
    pool = ReplicationPool(
        run_chunk,
        (scenario, parameter_uncertainty),
        partial(seeds, seed),
        workers,
        start=done,
        executor=executor,
        scheduler=scheduler,
    )
    try:
        with _sigterm_as_interrupt(), pool:
            while goal is not None and done < goal:
                # workers may run ahead to where the interval is projected to be narrow enough
                limit = goal
                if precision is not None and done >= replications:
                    need = projected_replications(hits, done, precision, max_replications)
                    limit = max(goal, need)
                for result in pool.take(done, goal, limit):
                    batch.append(result)
                    hits += bool(result.row["hit_target"])
                    done += 1
                    if len(batch) >= WRITE_EVERY:
                        # hand the batch over before writing it: an interrupt during the
                        # write must not write it twice
                        full, batch = batch, []
                        sink.add(full)
                        if progress:
                            progress(len(full))
                if batch:
                    full, batch = batch, []
                    sink.add(full)
                    if progress:
                        progress(len(full))
                if precision is None:
                    break
                goal = next_look(hits, done, precision, pilot=replications, cap=max_replications)
    except KeyboardInterrupt:
        partial_run = True
        if batch:
            sink.add(batch)
    finally:
        sink.close()
        table = sink.summary_table()
        summary = summarise(
            scenario,
            table,
            seed=seed,
            runtime_s=round(time.perf_counter() - started, 3),
            version=__version__,
            partial=partial_run,
            requested=None if precision is not None else replications,
        )
        summary["parameter_uncertainty"] = bool(parameter_uncertainty and scenario.uncertainty)
        deals = _write_deals(scenario, sink, table, out_path, seed)
        if deals is not None:
            summary["indicators"] = deals[1]
        if precision is not None:
            n = len(table)
            half = wilson_half_width(int(table["hit_target"].astype(bool).sum()), n) if n else None
            summary["precision"] = {
                "target_half_width": precision,
                "half_width": half,
                "pilot": replications,
                "max_replications": max_replications,
                "reached": bool(half is not None and half <= precision),
                "rule": "sequential Wilson (pipesim.runs.stream.next_look)",
            }
        if out_path is not None:
            write_json_atomic(out_path / "summary.json", summary)
    if partial_run:
        raise RunInterrupted(summary, out_path)
    deal_table = deals[0] if deals is not None else None
    if out_path is not None:
        return Results(scenario, summary, None, out_path, _deals=deal_table)
    bookings = pd.DataFrame(sink.booking_rows, columns=BOOKINGS_COLUMNS)
    reps = pd.DataFrame(sink.rep_rows, columns=REPS_COLUMNS)
    return Results(scenario, summary, table, None, bookings, reps, _deals=deal_table)


def _write_deals(
    scenario: Scenario, sink: _Sink, table: pd.DataFrame, out: Path | None, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The deal-level forecast (deals.csv) and leading indicators, when there is a pipeline."""
    if not sink.deals or table.empty:
        return None
    # lazy: the deal forecast pulls in scipy.stats (about a second); runs without a pipeline skip it
    from pipesim.results.deals import deal_forecast, write_deals

    outcomes: pd.DataFrame | Iterator[pd.DataFrame]
    if out is None:
        outcomes = pd.DataFrame(sink.deal_rows, columns=DEAL_OUTCOME_COLUMNS)
    else:
        outcomes = pd.read_csv(
            out / "deal_outcomes.csv",
            keep_default_na=False,
            na_values={"close_day": [""]},
            chunksize=READ_CHUNK,
        )
    deals, indicators = deal_forecast(scenario, outcomes, table, seed=seed)
    if out is not None:
        write_deals(out / "deals.csv", deals)
    return deals, indicators


class ResumeMismatch(ValueError):
    """``--resume`` pointed at a folder holding a different run."""


def _check_resume(out: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    path = out / MANIFEST
    if not path.exists():
        raise ResumeMismatch(f"{out} holds no run to resume (no {MANIFEST})")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResumeMismatch(f"{path} is unreadable: {exc}") from None
    if saved.get("scenario_sha256") != manifest["scenario_sha256"]:
        raise ResumeMismatch(
            f"{out} was run with a different scenario (or different --set values); "
            "resume with the same scenario and overrides, or choose another --out"
        )
    if bool(saved.get("parameter_uncertainty", False)) != manifest["parameter_uncertainty"]:
        flag = "with" if saved.get("parameter_uncertainty") else "without"
        raise ResumeMismatch(
            f"{out} was run {flag} --parameter-uncertainty; resume it the same way"
        )
    if saved.get("seed") != manifest["seed"]:
        raise ResumeMismatch(f"{out} was run with seed {saved.get('seed')}, not {manifest['seed']}")
    kept = {k: v for k, v in saved.items() if k not in manifest}  # e.g. the run's note
    plan = {k: saved[k] for k in ("replications", "precision", "max_replications")}
    return {**kept, **manifest, **plan}


class RunInterrupted(Exception):
    """The run was interrupted; finished replications and a partial summary were kept."""

    def __init__(self, summary: dict[str, Any], out: Path | None) -> None:
        super().__init__("run interrupted")
        self.summary = summary
        self.out = out
