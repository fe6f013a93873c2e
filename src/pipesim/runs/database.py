"""The run catalogue's SQLite file: schema, validated connections, and every statement on it.

The ``runs`` table holds one row per :class:`~pipesim.runs.records.RunRecord`; the ``meta`` table
says the file is a pipesim run catalogue and which schema version it has. The studio's shared
memory lives beside the runs: ``what_ifs`` (each saved what-if: its scenario file, the reference
it extends, author, note and run), ``comments`` and ``decisions`` (proposed / accepted /
rejected, every one kept: the latest is the standing decision, the rest its history). A rebuild
refills ``runs`` only: what people wrote is never rebuilt away. Safety:

- one ``INSERT`` per run inside a transaction, so a crash never leaves half a record; the database
  runs in WAL mode with a busy timeout (and a few retries), so runs that finish at the same moment
  are all recorded;
- a file at the catalogue path that is not SQLite, or SQLite without this schema, raises
  :class:`CatalogueError` naming the path and the remedy; it is never written to (only
  :func:`move_aside` moves it, for a rebuild);
- the schema carries a version (``meta`` table); a catalogue from a newer pipesim is refused, one
  from an older pipesim is upgraded in place when opened (:data:`MIGRATIONS`: columns added in one
  transaction, every record kept), and read as it is when it cannot be written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipesim.runs.records import RunRecord, utc_now

SCHEMA_VERSION = 3
"""Version of the catalogue's tables; stored in ``meta`` under ``schema_version``.

1: the runs. 2: what-if settings (``variant``, ``overrides``, ``plan``, ``pipeline``,
``pipeline_history``, ``pipeline_mapping``). 3: the studio's saved what-ifs, comments and
decisions.
"""

DECISIONS = ("proposed", "accepted", "rejected")
"""What a decision on a saved what-if may say."""

APPLICATION = "pipesim run catalogue"
"""Stored in ``meta`` under ``application``: tells our catalogue from other SQLite files."""

DEFAULT_CATALOGUE = Path("reports") / "runs.sqlite"
"""Where the catalogue lives unless ``--catalogue`` or ``PIPESIM_CATALOGUE`` says otherwise."""

ENV_VAR = "PIPESIM_CATALOGUE"
"""Environment variable naming the catalogue file."""


BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another writer's transaction before retrying."""

RETRIES = 5
"""Attempts to write a record when the database stays locked past the busy timeout."""


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
    pipesim_version TEXT,
    variant         TEXT,
    overrides       TEXT,
    plan            TEXT,
    pipeline        TEXT,
    pipeline_history TEXT,
    pipeline_mapping TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, finished_at);
CREATE INDEX IF NOT EXISTS runs_by_folder ON runs (folder);
CREATE INDEX IF NOT EXISTS runs_by_variant ON runs (scenario, variant, finished_at);
CREATE TABLE IF NOT EXISTS what_ifs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    file       TEXT NOT NULL,
    reference  TEXT NOT NULL,
    changes    TEXT NOT NULL,
    author     TEXT NOT NULL,
    note       TEXT,
    created_at TEXT NOT NULL,
    run_key    TEXT,
    folder     TEXT
);
CREATE TABLE IF NOT EXISTS comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    what_if    TEXT NOT NULL,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    what_if    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('proposed', 'accepted', 'rejected')),
    author     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_what_if ON comments (what_if, id);
CREATE INDEX IF NOT EXISTS decisions_by_what_if ON decisions (what_if, id);
"""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE runs ADD COLUMN variant TEXT",
        "ALTER TABLE runs ADD COLUMN overrides TEXT",
        "ALTER TABLE runs ADD COLUMN plan TEXT",
        "ALTER TABLE runs ADD COLUMN pipeline TEXT",
        "ALTER TABLE runs ADD COLUMN pipeline_history TEXT",
        "ALTER TABLE runs ADD COLUMN pipeline_mapping TEXT",
        "CREATE INDEX IF NOT EXISTS runs_by_variant ON runs (scenario, variant, finished_at)",
    ),
    3: tuple(
        statement.strip()
        for statement in _SCHEMA.split(";")
        if "what_if" in statement or "comments" in statement or "decisions" in statement
    ),
}
"""Statements that bring a catalogue of the version before each key up to that version.

Records of a version-1 catalogue become runs without what-if settings (the forecast of their
scenario): version 1 did not record them. Version 3 adds the studio's tables, empty.
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
    "variant",
    "overrides",
    "plan",
    "pipeline",
    "pipeline_history",
    "pipeline_mapping",
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
        damaged): :func:`~pipesim.runs.catalogue.rebuild` may move it aside.
    """

    def __init__(self, path: Path, problem: str, *, replaceable: bool = False) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.replaceable = replaceable


def resolve_catalogue(path: str | Path | None = None) -> Path:
    """The catalogue file: ``path`` if given, else ``$PIPESIM_CATALOGUE``, else the default."""
    if path is not None and str(path):
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_CATALOGUE


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


def _check_schema(con: sqlite3.Connection, path: Path, tables: set[str]) -> int:
    """The catalogue's schema version, after checking the file is a catalogue this pipesim reads."""
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
    return version


def _migrate(con: sqlite3.Connection) -> None:
    """Bring the catalogue up to :data:`SCHEMA_VERSION` in one transaction (records kept).

    The version is read again under the write lock, so two processes upgrading the same file
    at once upgrade it once.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0])
        if version < SCHEMA_VERSION:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    con.execute(statement)
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            con.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('upgraded_at', ?)", (utc_now(),)
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _upgrade(con: sqlite3.Connection, path: Path, version: int, *, create: bool) -> None:
    """Upgrade an older catalogue; a reader of one that cannot be written reads it as it is."""
    if version >= SCHEMA_VERSION:
        return
    for attempt in _retrying(path, f"upgrade it from schema {version} to {SCHEMA_VERSION}"):
        try:
            _migrate(con)
            return
        except sqlite3.OperationalError as exc:
            if _locked(exc) and attempt < RETRIES - 1:
                continue
            if not create:  # listing runs needs no upgrade: the missing columns read as empty
                return
            raise CatalogueError(
                path,
                f"is a catalogue of schema {version} and could not be upgraded to "
                f"{SCHEMA_VERSION} ({exc}); make it writable, or use another --catalogue",
            ) from None
        except sqlite3.DatabaseError as exc:
            raise _bad_file(path, f"is damaged ({exc})") from None


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
            (APPLICATION, str(SCHEMA_VERSION), utc_now()),
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
        _upgrade(con, file, _check_schema(con, file, tables), create=create)
        yield con


def _locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _row_values(record: RunRecord) -> tuple[Any, ...]:
    values = asdict(record)
    values["partial"] = int(record.partial)
    values["overrides"] = json.dumps(list(record.overrides)) if record.overrides else None
    return tuple(values[c] for c in _COLUMNS)


def _record(row: sqlite3.Row) -> RunRecord:
    """A stored row as a record (a row of an older schema lacks the newer columns)."""
    data = {k: row[k] for k in row.keys()}
    data["partial"] = bool(data["partial"])
    try:
        overrides = json.loads(data.get("overrides") or "[]")
    except ValueError:
        overrides = []
    data["overrides"] = tuple(str(o) for o in overrides) if isinstance(overrides, list) else ()
    return RunRecord(**data)


_INSERT = (
    f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (key) DO UPDATE SET note = excluded.note, folder = excluded.folder"
)


def store_record(con: sqlite3.Connection, path: Path, record: RunRecord) -> RunRecord:
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


def partial_note(con: sqlite3.Connection, record: RunRecord) -> str | None:
    """The note of the latest partial record of ``record``'s run (same folder, scenario, seed).

    A resumed run whose ``run.json`` was rewritten keeps the note of the interrupted run.
    """
    row = con.execute(
        "SELECT note FROM runs WHERE folder = ? AND partial = 1 AND scenario_sha256 = ? "
        "AND seed = ? AND note IS NOT NULL ORDER BY id DESC LIMIT 1",
        (record.folder, record.scenario_sha256, record.seed),
    ).fetchone()
    return None if row is None else row["note"]


def select_runs(con: sqlite3.Connection, path: Path, scenario: str | None) -> list[RunRecord]:
    """The stored records (only ``scenario``'s when given), oldest first by finish time."""
    sql = "SELECT * FROM runs"
    args: tuple[Any, ...] = ()
    if scenario is not None:
        sql += " WHERE scenario = ?"
        args = (scenario,)
    try:
        rows = con.execute(sql + " ORDER BY finished_at, id", args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise _bad_file(path, f"cannot be read ({exc})") from None
    return [_record(r) for r in rows]


def replace_runs(con: sqlite3.Connection, path: Path, records: Sequence[RunRecord]) -> None:
    """Empty the ``runs`` table and store ``records`` in order, in one transaction."""
    for attempt in _retrying(path, "rebuild the catalogue"):
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("DELETE FROM runs")
                con.execute("DELETE FROM sqlite_sequence WHERE name = 'runs'")
                con.executemany(_INSERT, [_row_values(r) for r in records])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            break
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or attempt == RETRIES - 1:
                raise CatalogueError(path, f"could not be rebuilt ({exc})") from None


def move_aside(path: Path) -> Path:
    """Rename an unusable catalogue file (and its WAL and journal files) to a free name.

    The new name is ``<name>.unusable-<time>`` (with ``-2``, ``-3``... if taken); returns it.
    """
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


def has_table(con: sqlite3.Connection, name: str) -> bool:
    """Whether the catalogue has table ``name`` (an old catalogue read as it is may not)."""
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def write_transaction(
    con: sqlite3.Connection,
    path: Path,
    action: str,
    statements: Sequence[tuple[str, tuple[Any, ...]]],
) -> int | None:
    """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction (retried while locked).

    Returns the last inserted row id. Writers from several processes or threads queue on the
    database's write lock; none is lost.
    """
    for attempt in _retrying(path, action):
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                last: int | None = None
                for sql, args in statements:
                    last = con.execute(sql, args).lastrowid
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return last
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or attempt == RETRIES - 1:
                raise CatalogueError(path, f"could not {action} ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise _bad_file(path, f"is damaged ({exc})") from None
    raise AssertionError("unreachable")  # pragma: no cover - _retrying raises
