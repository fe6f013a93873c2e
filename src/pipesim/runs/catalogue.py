"""Run history: an SQLite catalogue of every ``pipesim run``, rebuilt from run folders on demand.

Each finished (or interrupted) run is one row of the ``runs`` table: when it finished, the
scenario's name, hash and resolved YAML, seed, replications, P(target) with its interval, revenue
P10/P50/P90/mean, the target, an optional note and the run folder. The catalogue is an index, not
the record: every value in it comes from the run folder's own files (``run.json``,
``summary.json``, ``scenario.yaml``), so :func:`rebuild` can recreate it from the folders at any
time.

Safety:

- one ``INSERT`` per run inside a transaction, after ``summary.json`` is final, so a crash never
  leaves half a record; the database runs in WAL mode with a busy timeout (and a few retries), so
  runs that finish at the same moment are all recorded;
- a file at the catalogue path that is not SQLite, or SQLite without this schema, raises
  :class:`CatalogueError` naming the path and the remedy; it is never written to (only
  :func:`rebuild` moves it aside);
- the schema carries a version (``meta`` table); a catalogue from a newer pipesim is refused.

Each run has a stable short id: the first 8 hex digits of a hash of what identifies it (scenario
hash, seed, replications, finish time, run time), identical after a rebuild, and an integer
``id`` (order of recording; after a rebuild, order of finishing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
"""Version of the catalogue's tables; stored in ``meta`` under ``schema_version``."""

APPLICATION = "pipesim run catalogue"
"""Stored in ``meta`` under ``application``: tells our catalogue from other SQLite files."""

DEFAULT_CATALOGUE = Path("reports") / "runs.sqlite"
"""Where the catalogue lives unless ``--catalogue`` or ``PIPESIM_CATALOGUE`` says otherwise."""

ENV_VAR = "PIPESIM_CATALOGUE"
"""Environment variable naming the catalogue file."""

RUN_JSON, SUMMARY_JSON, SCENARIO_YAML = "run.json", "summary.json", "scenario.yaml"
RUN_FILES = (RUN_JSON, SUMMARY_JSON, SCENARIO_YAML)
"""Files that make a folder a recordable run."""

BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another writer's transaction before retrying."""

RETRIES = 5
"""Attempts to write a record when the database stays locked past the busy timeout."""

SHORT_ID_LENGTH = 8
"""Hex digits of a run's key shown and accepted as its short id."""

REBUILD_REMEDY = "`pipesim history --rebuild --root <folder holding the runs>`"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT NOT NULL UNIQUE,
    finished_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    scenario_sha256 TEXT NOT NULL,
    scenario_yaml   TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    replications    INTEGER NOT NULL,
    p_target        REAL,
    p_target_low    REAL,
    p_target_high   REAL,
    revenue_p10     REAL,
    revenue_p50     REAL,
    revenue_p90     REAL,
    revenue_mean    REAL,
    target          REAL,
    currency        TEXT,
    horizon_weeks   REAL,
    partial         INTEGER NOT NULL DEFAULT 0,
    note            TEXT,
    folder          TEXT NOT NULL,
    pipesim_version TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, finished_at);
CREATE INDEX IF NOT EXISTS runs_by_folder ON runs (folder);
"""

_COLUMNS = (
    "key",
    "finished_at",
    "recorded_at",
    "scenario",
    "scenario_sha256",
    "scenario_yaml",
    "seed",
    "replications",
    "p_target",
    "p_target_low",
    "p_target_high",
    "revenue_p10",
    "revenue_p50",
    "revenue_p90",
    "revenue_mean",
    "target",
    "currency",
    "horizon_weeks",
    "partial",
    "note",
    "folder",
    "pipesim_version",
)


class CatalogueError(Exception):
    """The catalogue file cannot be used (corrupt, foreign, newer, locked, unwritable).

    Attributes
    ----------
    path
        The catalogue file.
    problem
        What is wrong, and what to do about it.
    replaceable
        True when the file is not a usable catalogue at all (not SQLite, another schema,
        damaged): :func:`rebuild` may move it aside.
    """

    def __init__(self, path: Path, problem: str, *, replaceable: bool = False) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.replaceable = replaceable


class RunFolderError(ValueError):
    """A folder that does not hold a complete, consistent run (missing or unreadable files)."""


class RunNotFound(LookupError):
    """No run in the catalogue (or on disk) matches a reference."""


@dataclass(frozen=True)
class RunRecord:
    """One run as the catalogue holds it (every value read from the run folder's files).

    Attributes
    ----------
    key
        SHA-256 (hex) of the scenario hash, seed, replications, finish time and run time; its
        first 8 digits are the short id.
    finished_at
        When the run finished (``summary.json``'s ``finished_at``, ISO 8601, UTC).
    recorded_at
        When the record was written (ISO 8601, UTC); a rebuild writes it anew.
    scenario, scenario_sha256, scenario_yaml
        Scenario name, hash of the resolved scenario and the resolved scenario (YAML text).
    seed, replications
        Root seed and finished replications.
    p_target, p_target_low, p_target_high
        Estimated P(target) and its 95% interval.
    revenue_p10, revenue_p50, revenue_p90, revenue_mean
        Revenue over the horizon, in ``currency``.
    target, currency, horizon_weeks
        The revenue target and its horizon.
    partial
        True for an interrupted run (a ``summary.json`` marked partial).
    note
        Free text given with ``--note``.
    folder
        Absolute path of the run folder.
    pipesim_version
        Version that made the run.
    id
        Integer id in this catalogue (None before the record is stored).
    """

    key: str
    finished_at: str
    recorded_at: str
    scenario: str
    scenario_sha256: str
    scenario_yaml: str
    seed: int
    replications: int
    p_target: float | None
    p_target_low: float | None
    p_target_high: float | None
    revenue_p10: float | None
    revenue_p50: float | None
    revenue_p90: float | None
    revenue_mean: float | None
    target: float | None
    currency: str | None
    horizon_weeks: float | None
    partial: bool
    note: str | None
    folder: str
    pipesim_version: str | None
    id: int | None = field(default=None)

    @property
    def short_id(self) -> str:
        """The first 8 hex digits of :attr:`key`: what ``pipesim diff`` accepts."""
        return self.key[:SHORT_ID_LENGTH]

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (with ``short_id``)."""
        return {**asdict(self), "short_id": self.short_id}


# --------------------------------------------------------------------------- locations
def resolve_catalogue(path: str | Path | None = None) -> Path:
    """The catalogue file: ``path`` if given, else ``$PIPESIM_CATALOGUE``, else the default."""
    if path is not None and str(path):
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_CATALOGUE


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- run folders
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(float(value)) else float(value)
    return None


def _need(data: dict[str, Any], keys: Sequence[str], path: Path) -> Any:
    """``data[k0][k1]...``, or a :class:`RunFolderError` naming the file and the key."""
    cur: Any = data
    for depth, k in enumerate(keys):
        if not isinstance(cur, dict) or k not in cur:
            raise RunFolderError(f"{path}: missing key {'.'.join(keys[: depth + 1])}")
        cur = cur[k]
    return cur


def run_key(
    scenario_sha256: str,
    seed: int,
    replications: int,
    finished_at: str,
    runtime_s: Any,
    partial: bool,
) -> str:
    """The stable key of a run (hex SHA-256); the same files always give the same key."""
    text = "|".join(
        [scenario_sha256, str(seed), str(replications), finished_at, repr(runtime_s), str(partial)]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_run_folder(folder: str | Path, note: str | None = None) -> RunRecord:
    """Read a run folder's ``run.json``, ``summary.json`` and ``scenario.yaml`` into a record.

    Parameters
    ----------
    folder
        A folder written by ``pipesim run`` (or :func:`pipesim.run` with ``out``).
    note
        Note for the record; None takes the ``note`` saved in ``run.json`` (if any).

    Raises
    ------
    RunFolderError
        When a file is missing or unreadable, a required value is absent, or the files
        disagree (``scenario.yaml`` is not the scenario ``run.json`` names).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise RunFolderError(f"{folder}: not a finished run folder (missing {', '.join(missing)})")
    manifest_path, summary_path = folder / RUN_JSON, folder / SUMMARY_JSON
    manifest = _read_json(manifest_path)
    summary = _read_json(summary_path)
    try:
        yaml_bytes = (folder / SCENARIO_YAML).read_bytes()
        scenario_yaml = yaml_bytes.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{folder / SCENARIO_YAML}: unreadable ({exc})") from None
    sha = str(_need(manifest, ["scenario_sha256"], manifest_path))
    if hashlib.sha256(yaml_bytes).hexdigest() != sha:
        raise RunFolderError(
            f"{folder / SCENARIO_YAML}: does not match the scenario_sha256 in {manifest_path} "
            "(edited after the run, or left from another run)"
        )
    seed = _need(summary, ["seed"], summary_path)
    if manifest.get("seed") is not None and manifest["seed"] != seed:
        raise RunFolderError(
            f"{summary_path}: seed {seed} differs from {manifest_path}'s seed {manifest['seed']} "
            "(the summary is left from another run)"
        )
    replications = int(_need(summary, ["replications"], summary_path))
    finished_at = summary.get("finished_at")
    if not isinstance(finished_at, str) or not finished_at:
        finished_at = dt.datetime.fromtimestamp(summary_path.stat().st_mtime, dt.UTC).isoformat(
            timespec="seconds"
        )
    partial = bool(summary.get("partial", False))
    p = _need(summary, ["p_target"], summary_path)
    revenue = _need(summary, ["revenue"], summary_path)
    target = summary.get("target") or {}
    if note is None:
        saved = manifest.get("note")
        note = saved if isinstance(saved, str) and saved else None
    return RunRecord(
        key=run_key(sha, int(seed), replications, finished_at, summary.get("runtime_s"), partial),
        finished_at=finished_at,
        recorded_at=_now(),
        scenario=str(_need(summary, ["scenario"], summary_path)),
        scenario_sha256=sha,
        scenario_yaml=scenario_yaml,
        seed=int(seed),
        replications=replications,
        p_target=_number(p.get("estimate")),
        p_target_low=_number(p.get("ci_low")),
        p_target_high=_number(p.get("ci_high")),
        revenue_p10=_number(revenue.get("p10")),
        revenue_p50=_number(revenue.get("p50")),
        revenue_p90=_number(revenue.get("p90")),
        revenue_mean=_number(revenue.get("mean")),
        target=_number(target.get("amount")),
        currency=target.get("currency"),
        horizon_weeks=_number(target.get("horizon_weeks")),
        partial=partial,
        note=note,
        folder=str(folder.resolve()),
        pipesim_version=summary.get("pipesim_version") or manifest.get("pipesim_version"),
    )


def saved_note(folder: str | Path) -> str | None:
    """The note stored in a run folder's ``run.json``, if any (None when absent or unreadable)."""
    try:
        manifest = _read_json(Path(folder) / RUN_JSON)
    except RunFolderError:
        return None
    note = manifest.get("note")
    return note if isinstance(note, str) and note else None


def save_note(folder: str | Path, note: str | None) -> None:
    """Store ``note`` in the run folder's ``run.json`` so a rebuild keeps it.

    The file is rewritten atomically (a temporary file renamed over it, as
    :func:`pipesim.runner.write_json_atomic` does), so a crash leaves the old or the new file.
    """
    path = Path(folder) / RUN_JSON
    manifest = _read_json(path)
    if note:
        manifest["note"] = note
    else:
        manifest.pop("note", None)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the database
def _connect(path: Path) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise CatalogueError(path, f"cannot be opened ({exc})") from None
    con.row_factory = sqlite3.Row
    return con


def _bad_file(path: Path, what: str) -> CatalogueError:
    return CatalogueError(
        path,
        f"{what}. Nothing was changed in it. Move it away or choose another file with "
        f"--catalogue (or {ENV_VAR}); {REBUILD_REMEDY} moves it aside and rebuilds the "
        "catalogue from the run folders",
        replaceable=True,
    )


def _tables(con: sqlite3.Connection, path: Path) -> set[str]:
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and _locked(exc):
            raise  # busy, not broken: the caller retries
        raise _bad_file(path, f"is not an SQLite database ({exc})") from None


def _check_schema(con: sqlite3.Connection, path: Path, tables: set[str]) -> None:
    if "meta" not in tables or "runs" not in tables:
        raise _bad_file(
            path,
            "is an SQLite database but not a pipesim run catalogue (no meta/runs tables)",
        )
    try:
        meta = {r[0]: r[1] for r in con.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError as exc:
        raise _bad_file(path, f"has an unreadable meta table ({exc})") from None
    if meta.get("application") != APPLICATION or "schema_version" not in meta:
        raise _bad_file(path, "is an SQLite database but not a pipesim run catalogue")
    try:
        version = int(meta["schema_version"])
    except ValueError:
        raise _bad_file(path, f"has an unknown schema version {meta['schema_version']!r}") from None
    if version > SCHEMA_VERSION:
        raise CatalogueError(
            path,
            f"was written by a newer pipesim (catalogue schema {version}; this pipesim reads "
            f"{SCHEMA_VERSION}). Upgrade pipesim, or use another --catalogue",
        )


def _create_schema(con: sqlite3.Connection) -> None:
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('application', ?), "
            "('schema_version', ?), ('created_at', ?)",
            (APPLICATION, str(SCHEMA_VERSION), _now()),
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _retrying(path: Path, action: str) -> Iterator[int]:
    """Attempt numbers for an operation retried while the database stays locked."""
    for attempt in range(RETRIES):
        yield attempt
        time.sleep(0.05 * 2**attempt)
    raise CatalogueError(
        path,
        f"stayed locked by another process; could not {action} after {RETRIES} attempts",
    )


@contextmanager
def open_catalogue(path: str | Path | None = None, *, create: bool) -> Iterator[sqlite3.Connection]:
    """A validated connection to the catalogue (created with its schema when ``create``).

    Parameters
    ----------
    path
        Catalogue file; None resolves ``$PIPESIM_CATALOGUE`` or ``reports/runs.sqlite``.
    create
        Create the file and its tables if absent. Without it, a missing file raises
        :class:`FileNotFoundError`.

    Raises
    ------
    CatalogueError
        The file is not SQLite, is SQLite without this schema, is from a newer pipesim, or
        cannot be opened.
    """
    file = resolve_catalogue(path)
    if file.is_dir():
        raise CatalogueError(file, "is a folder; --catalogue takes a file such as runs.sqlite")
    is_new = not file.exists() or file.stat().st_size == 0
    if is_new and not create:
        raise FileNotFoundError(file)
    if is_new:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogueError(file, f"its folder cannot be created ({exc})") from None
    with closing(_connect(file)) as con:
        for attempt in _retrying(file, "read the schema"):
            try:
                tables = _tables(con, file)
                if not tables and create:
                    _create_schema(con)
                    tables = _tables(con, file)
                break
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or attempt == RETRIES - 1:
                    raise CatalogueError(file, f"cannot be initialised ({exc})") from None
        if not tables:  # an empty SQLite file: nothing recorded yet
            raise FileNotFoundError(file)
        _check_schema(con, file, tables)
        yield con


def _locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _row_values(record: RunRecord) -> tuple[Any, ...]:
    values = asdict(record)
    values["partial"] = int(record.partial)
    return tuple(values[c] for c in _COLUMNS)


def _record(row: sqlite3.Row) -> RunRecord:
    data = {k: row[k] for k in row.keys()}
    data["partial"] = bool(data["partial"])
    return RunRecord(**data)


_INSERT = (
    f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (key) DO UPDATE SET note = excluded.note, folder = excluded.folder"
)


def _store(con: sqlite3.Connection, path: Path, record: RunRecord) -> RunRecord:
    """Insert (or refresh the note and folder of) one record in one transaction."""
    for attempt in _retrying(path, "record the run"):
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                if not record.partial:
                    # a completed (e.g. resumed) run replaces the partial record of its folder
                    con.execute(
                        "DELETE FROM runs WHERE folder = ? AND partial = 1 AND "
                        "scenario_sha256 = ? AND seed = ?",
                        (record.folder, record.scenario_sha256, record.seed),
                    )
                con.execute(_INSERT, _row_values(record))
                row = con.execute("SELECT * FROM runs WHERE key = ?", (record.key,)).fetchone()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return _record(row)
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or attempt == RETRIES - 1:
                raise CatalogueError(path, f"the run could not be recorded ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise _bad_file(path, f"is damaged ({exc})") from None
    raise AssertionError("unreachable")  # pragma: no cover - _retrying raises


# --------------------------------------------------------------------------- public operations
def record_run(
    folder: str | Path, catalogue: str | Path | None = None, note: str | None = None
) -> RunRecord:
    """Record a finished (or interrupted) run folder in the catalogue.

    The note is first saved in the folder's ``run.json`` (so :func:`rebuild` restores it even if
    the catalogue cannot be written), then the record is inserted in one transaction. Recording
    the same run again updates its note and folder only. A completed run replaces the partial
    record of its folder (an interrupted run it resumed) and, given no note, keeps that record's
    note.

    Parameters
    ----------
    folder
        The run folder (``run.json``, ``summary.json``, ``scenario.yaml``).
    catalogue
        Catalogue file; None resolves ``$PIPESIM_CATALOGUE`` or ``reports/runs.sqlite``.
    note
        Free text (e.g. "after the Q3 review"); None keeps a note already in ``run.json``.

    Returns
    -------
    RunRecord
        The stored record, with its integer ``id``.

    Raises
    ------
    RunFolderError
        The folder does not hold a complete run.
    CatalogueError
        The catalogue cannot be used or written.
    """
    folder = Path(folder)
    if note is not None:
        save_note(folder, note)
    record = read_run_folder(folder)
    path = resolve_catalogue(catalogue)
    with open_catalogue(path, create=True) as con:
        if record.note is None and not record.partial:
            # a resumed run whose run.json was rewritten keeps the note of its partial record
            row = con.execute(
                "SELECT note FROM runs WHERE folder = ? AND partial = 1 AND scenario_sha256 = ? "
                "AND seed = ? AND note IS NOT NULL ORDER BY id DESC LIMIT 1",
                (record.folder, record.scenario_sha256, record.seed),
            ).fetchone()
            if row is not None:
                save_note(folder, row["note"])
                record = replace(record, note=row["note"])
        return _store(con, path, record)


def list_runs(catalogue: str | Path | None = None, scenario: str | None = None) -> list[RunRecord]:
    """Recorded runs, oldest first (by finish time); empty when there is no catalogue yet.

    Parameters
    ----------
    catalogue
        Catalogue file; None resolves ``$PIPESIM_CATALOGUE`` or ``reports/runs.sqlite``.
    scenario
        Only runs of this scenario name.
    """
    path = resolve_catalogue(catalogue)
    try:
        with open_catalogue(path, create=False) as con:
            sql = "SELECT * FROM runs"
            args: tuple[Any, ...] = ()
            if scenario is not None:
                sql += " WHERE scenario = ?"
                args = (scenario,)
            try:
                rows = con.execute(sql + " ORDER BY finished_at, id", args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _bad_file(path, f"cannot be read ({exc})") from None
    except FileNotFoundError:
        return []
    return [_record(r) for r in rows]


def scenario_names(catalogue: str | Path | None = None) -> list[str]:
    """Names of the scenarios with recorded runs, sorted."""
    return sorted({r.scenario for r in list_runs(catalogue)})


def find_run(reference: str, catalogue: str | Path | None = None) -> RunRecord:
    """The run a user names: a run folder, an integer id, or a short id (hex prefix of the key).

    A folder that holds a run is read from its files (and matched to its catalogue record, for
    the id, when there is one), so it need not have been recorded, and an unusable catalogue
    does not stop it being found.

    Raises
    ------
    RunNotFound
        Nothing matches, or a hex prefix matches several runs.
    RunFolderError
        ``reference`` is a folder that does not hold a complete run.
    CatalogueError
        The catalogue cannot be used (and ``reference`` is not a folder).
    """
    folder = Path(reference)
    if folder.is_dir():
        record = read_run_folder(folder)
        try:
            known = list_runs(catalogue)
        except CatalogueError:  # the folder is enough; the catalogue only adds the id
            return record
        return next((r for r in known if r.key == record.key), record)
    runs = list_runs(catalogue)
    path = resolve_catalogue(catalogue)
    where = f"in the catalogue {path}" if runs else f"(no runs recorded in {path})"
    text = reference.strip()
    if re.fullmatch(r"\d+", text):
        for r in runs:
            if r.id == int(text):
                return r
    if re.fullmatch(r"[0-9a-fA-F]{4,64}", text):
        matches = [r for r in runs if r.key.startswith(text.lower())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(r.short_id for r in matches[:5])
            raise RunNotFound(f"{reference!r} matches several runs ({ids}); give more digits")
    raise RunNotFound(
        f"no run {reference!r} {where}; give a run folder, an id or a short id from "
        "`pipesim history`"
    )


@dataclass
class RebuildResult:
    """What :func:`rebuild` did.

    Attributes
    ----------
    catalogue
        The rebuilt catalogue file.
    records
        The records written, oldest first.
    skipped
        ``(folder, reason)`` for folders with a ``run.json`` that do not hold a complete run.
    moved_aside
        Where an unusable file found at the catalogue path was moved, if any.
    """

    catalogue: Path
    records: list[RunRecord]
    skipped: list[tuple[Path, str]]
    moved_aside: Path | None = None


def find_run_folders(root: str | Path) -> list[Path]:
    """Folders under ``root`` (``root`` included) that hold a ``run.json``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise RunFolderError(f"{root}: not a folder")
    return sorted({p.parent for p in root.rglob(RUN_JSON) if p.is_file()})


def rebuild(root: str | Path = "reports", catalogue: str | Path | None = None) -> RebuildResult:
    """Rebuild the catalogue from the run folders under ``root`` (the files are the truth).

    Every folder with ``run.json``, ``summary.json`` and ``scenario.yaml`` becomes one record
    (with the note saved in its ``run.json`` and the finish time from ``summary.json``), in order
    of finishing; records of runs whose folders are gone are dropped. A valid catalogue is
    emptied and refilled in one transaction; an unusable file at the catalogue path (not SQLite,
    another schema, damaged) is renamed ``<name>.unusable-<time>`` and a new catalogue written.

    Raises
    ------
    RunFolderError
        ``root`` is not a folder.
    CatalogueError
        The new catalogue cannot be written.
    """
    path = resolve_catalogue(catalogue)
    records, skipped = [], []
    for folder in find_run_folders(root):
        try:
            records.append(read_run_folder(folder))
        except RunFolderError as exc:
            skipped.append((folder, str(exc)))
    # one record per run, oldest first; a folder re-recorded under another path keeps the last
    unique = {r.key: r for r in sorted(records, key=lambda r: (r.finished_at, r.folder))}
    ordered = list(unique.values())
    moved: Path | None = None
    try:
        with open_catalogue(path, create=True):
            pass
    except CatalogueError as exc:
        if not exc.replaceable:
            raise
        moved = _move_aside(path)
    with open_catalogue(path, create=True) as con:
        for attempt in _retrying(path, "rebuild the catalogue"):
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.execute("DELETE FROM runs")
                    con.execute("DELETE FROM sqlite_sequence WHERE name = 'runs'")
                    con.executemany(_INSERT, [_row_values(r) for r in ordered])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                break
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or attempt == RETRIES - 1:
                    raise CatalogueError(path, f"could not be rebuilt ({exc})") from None
    return RebuildResult(path, list_runs(path), skipped, moved)


def _move_aside(path: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.unusable-{stamp}")
    k = 2
    while target.exists():
        target = path.with_name(f"{path.name}.unusable-{stamp}-{k}")
        k += 1
    try:
        os.replace(path, target)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
    except OSError as exc:
        raise CatalogueError(path, f"could not be moved aside for the rebuild ({exc})") from None
    return target


def record_or_explain(
    folder: str | Path, catalogue: str | Path | None = None, note: str | None = None
) -> tuple[RunRecord | None, str | None]:
    """Record a run, or say why it could not be (never raises for a catalogue problem).

    What ``pipesim run`` calls after a run: the run's files are already saved, so a catalogue
    that cannot be written is a warning with the remedy, not a failure.

    Returns
    -------
    tuple
        ``(record, None)`` when recorded, ``(None, problem)`` otherwise.
    """
    path = resolve_catalogue(catalogue)
    try:
        return record_run(folder, path, note), None
    except (CatalogueError, RunFolderError, OSError, sqlite3.Error) as exc:
        root = Path(folder).resolve().parent
        return None, (
            f"the run was not recorded in the catalogue ({exc}). Its results are saved in "
            f"{folder}/; once the catalogue is fixed or moved away, "
            f"`pipesim history --rebuild --root {root} --catalogue {path}` adds it"
        )
