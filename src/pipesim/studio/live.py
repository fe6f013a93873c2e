"""Running estimates in a background thread, for a page that polls them.

A :class:`LiveRun` runs one :func:`pipesim.runs.stream.iterate` stream (a scenario alone, or a
what-if paired with its reference under common random numbers) in a thread of its own and keeps
the latest :class:`~pipesim.runs.stream.Estimate`. The page reads :meth:`LiveRun.snapshot` a few
times a second; :meth:`LiveRun.cancel` stops the stream from the page's thread (the stream's
workers stop within a fraction of a second), which is what moving a lever again does to the
stale run. :class:`References` keeps one reference run per scenario file (and version of it),
shared by every session that opens that scenario.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pipesim.runs.stream import Estimate, iterate
from pipesim.scenario.schema import Scenario


@dataclass(frozen=True)
class Settings:
    """How the studio simulates.

    Attributes
    ----------
    replications
        Where a live run stops (the reference's answer, each what-if).
    batch
        Replications between estimates; the first estimate comes after the first batch.
    workers
        Worker processes per live run.
    seed
        Root seed of every run (common random numbers between reference and what-if).
    """

    replications: int = 1000
    batch: int = 10
    workers: int = 2
    seed: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What a live run has to show now."""

    estimate: Estimate | None
    running: bool
    cancelled: bool
    error: str | None


class LiveRun:
    """One stream of running estimates in a thread; cancel it from any thread."""

    def __init__(
        self, scenario: Scenario, settings: Settings, reference: Scenario | None = None
    ) -> None:
        self.scenario = scenario
        self.reference = reference
        self._stream = iterate(
            scenario,
            settings.seed,
            batch=settings.batch,
            workers=settings.workers,
            max_replications=settings.replications,
            reference=reference,
            samples=True,
        )
        self._error: str | None = None
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipesim-live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for _ in self._stream:
                pass  # the stream keeps the latest estimate; the page polls it
        except Exception as exc:  # shown on the page: a run that fails must say why
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self._stream.close()
            self._done.set()

    def snapshot(self) -> Snapshot:
        """The latest estimate and whether the run goes on."""
        return Snapshot(
            self._stream.latest, not self._done.is_set(), self._cancelled.is_set(), self._error
        )

    def cancel(self) -> None:
        """Stop the run (no more estimates; its workers stop)."""
        self._cancelled.set()
        self._stream.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run's thread to end; True if it did."""
        return self._done.wait(timeout)


class References:
    """The reference run of each scenario file, shared by every session of the studio.

    A file edited since its run started gets a new run (its modification time is part of the key).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runs: dict[tuple[str, int], LiveRun] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, scenario: Scenario) -> LiveRun:
        """The reference run of ``scenario`` loaded from ``path`` (started on first use)."""
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            run = self._runs.get(key)
            if run is None or (run.snapshot().error is not None):
                for old_key in [k for k in self._runs if k[0] == key[0]]:
                    self._runs.pop(old_key).cancel()
                run = LiveRun(scenario, self.settings)
                self._runs[key] = run
            return run

    def close(self) -> None:
        """Cancel every reference run."""
        with self._lock:
            for run in self._runs.values():
                run.cancel()
            self._runs.clear()
