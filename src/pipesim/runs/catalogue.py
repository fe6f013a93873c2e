"""Run history: an SQLite catalogue of every ``pipesim run``, rebuilt from run folders on demand.

Each finished (or interrupted) run is one row of the ``runs`` table: when it finished, the
scenario's name, hash and resolved YAML, seed, replications, P(target) with its interval, revenue
P10/P50/P90/mean, the target, an optional note and the run folder; a what-if (a run with
``--set``, ``--plan`` or another ``--pipeline``) also its settings id (``variant``) and settings,
so it is told from the scenario's forecast. The catalogue is an index, not
the record: every value in it comes from the run folder's own files (``run.json``,
``summary.json``, ``scenario.yaml``; read by :mod:`pipesim.runs.records`), so :func:`rebuild` can
recreate it from the folders at any time.

This module holds the operations: :func:`record_run` (after ``summary.json`` is final),
:func:`list_runs`, :func:`find_run`, :func:`rebuild` and :func:`record_or_explain`. The SQLite
file itself (schema, validation, locking and retries, :class:`CatalogueError`) is
:mod:`pipesim.runs.database`.

Each run has a stable short id: the first 8 hex digits of a hash of what identifies it (scenario
hash, seed, replications, finish time, run time), identical after a rebuild, and an integer
``id`` (order of recording; after a rebuild, order of finishing).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from pipesim.runs.database import (
    CatalogueError,
    move_aside,
    open_catalogue,
    partial_note,
    replace_runs,
    resolve_catalogue,
    select_runs,
    store_record,
)
from pipesim.runs.records import (
    RunFolderError,
    RunRecord,
    find_run_folders,
    read_run_folder,
    save_note,
)


class RunNotFound(LookupError):
    """No run in the catalogue (or on disk) matches a reference."""


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
            kept = partial_note(con, record)
            if kept is not None:
                save_note(folder, kept)
                record = replace(record, note=kept)
        return store_record(con, path, record)


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
            return select_runs(con, path, scenario)
    except FileNotFoundError:
        return []


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
        moved = move_aside(path)
    with open_catalogue(path, create=True) as con:
        replace_runs(con, path, ordered)
    return RebuildResult(path, list_runs(path), skipped, moved)


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
