"""Saved what-ifs, comments and decisions: the studio's shared memory in the run catalogue.

A what-if saved in the studio is a scenario file that ``extends:`` its reference and a run; the
``what_ifs`` table records it (the file, the reference, the changes, author and note, the run's
key and folder). People then comment on it and mark it proposed, accepted or rejected; every
comment and every decision is a row of its own, written in one transaction, so two people writing
at once both keep what they wrote and the history of a decision is never overwritten (the latest
decision is the standing one). ``pipesim history`` lists them beside the runs.

Every function opens the catalogue (:func:`pipesim.runs.database.open_catalogue`) for the call
only: safe from several threads and processes at once.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pipesim.runs.database import (
    DECISIONS,
    CatalogueError,
    has_table,
    open_catalogue,
    resolve_catalogue,
    write_transaction,
)

MAX_AUTHOR = 80
"""Longest author name (characters)."""

MAX_TEXT = 4000
"""Longest comment or note (characters)."""


class DiscussionError(ValueError):
    """A comment, decision or saved what-if that cannot be recorded (bad input)."""


@dataclass(frozen=True)
class SavedWhatIf:
    """A what-if saved from the studio.

    Attributes
    ----------
    name
        The what-if's scenario name (unique in the catalogue).
    file
        Its scenario file, relative to the studio's scenario folder.
    reference
        The file it extends, relative to the same folder.
    changes
        The changes it holds, by dotted path.
    author, note
        Who saved it and why.
    created_at
        When (ISO 8601, UTC).
    run_key, folder
        The run made when it was saved (its catalogue key and folder), if it finished.
    id
        Integer id in this catalogue.
    """

    name: str
    file: str
    reference: str
    changes: dict[str, Any]
    author: str
    note: str | None
    created_at: str
    run_key: str | None = None
    folder: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Entry:
    """One comment or decision on a saved what-if.

    ``kind`` is ``"comment"`` (``text`` the comment) or ``"decision"`` (``text`` one of
    :data:`~pipesim.runs.database.DECISIONS`).
    """

    kind: str
    what_if: str
    author: str
    text: str
    created_at: str
    id: int


def now() -> str:
    """The current time in UTC to the microsecond (orders entries written in one second)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _clean(value: str | None, what: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DiscussionError(f"{what} is empty; write something")
    if len(text) > limit:
        raise DiscussionError(f"{what} is {len(text):,} characters long; at most {limit:,}")
    return text


def _known(con: sqlite3.Connection, name: str) -> bool:
    if not has_table(con, "what_ifs"):
        return False
    return con.execute("SELECT 1 FROM what_ifs WHERE name = ?", (name,)).fetchone() is not None


def record_what_if(saved: SavedWhatIf, catalogue: str | Path | None = None) -> SavedWhatIf:
    """Store a saved what-if (one transaction); its name must be new in the catalogue.

    Raises
    ------
    DiscussionError
        An empty author, a note that is too long, or a name already taken.
    CatalogueError
        The catalogue cannot be used or written.
    """
    author = _clean(saved.author, "the author's name", MAX_AUTHOR)
    note = _clean(saved.note, "the note", MAX_TEXT, required=False) or None
    path = resolve_catalogue(catalogue)
    with open_catalogue(path, create=True) as con:
        try:
            row_id = write_transaction(
                con,
                path,
                "record the what-if",
                [
                    (
                        "INSERT INTO what_ifs (name, file, reference, changes, author, note, "
                        "created_at, run_key, folder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            saved.name,
                            saved.file,
                            saved.reference,
                            json.dumps(saved.changes, sort_keys=True),
                            author,
                            note,
                            saved.created_at,
                            saved.run_key,
                            saved.folder,
                        ),
                    )
                ],
            )
        except sqlite3.IntegrityError:
            raise DiscussionError(
                f"a what-if named {saved.name!r} is already saved; choose another name"
            ) from None
    return SavedWhatIf(
        saved.name,
        saved.file,
        saved.reference,
        saved.changes,
        author,
        note,
        saved.created_at,
        saved.run_key,
        saved.folder,
        row_id,
    )


def attach_run(name: str, run_key: str, folder: str, catalogue: str | Path | None = None) -> None:
    """Record the run of a saved what-if once it has finished."""
    path = resolve_catalogue(catalogue)
    with open_catalogue(path, create=True) as con:
        write_transaction(
            con,
            path,
            "record the what-if's run",
            [
                (
                    "UPDATE what_ifs SET run_key = ?, folder = ? WHERE name = ?",
                    (run_key, folder, name),
                )
            ],
        )


def _saved(row: sqlite3.Row) -> SavedWhatIf:
    try:
        changes = json.loads(row["changes"])
    except ValueError:
        changes = {}
    return SavedWhatIf(
        row["name"],
        row["file"],
        row["reference"],
        changes if isinstance(changes, dict) else {},
        row["author"],
        row["note"],
        row["created_at"],
        row["run_key"],
        row["folder"],
        row["id"],
    )


def list_what_ifs(
    catalogue: str | Path | None = None, reference: str | None = None
) -> list[SavedWhatIf]:
    """Saved what-ifs (of one reference file when given), oldest first."""
    path = resolve_catalogue(catalogue)
    try:
        with open_catalogue(path, create=False) as con:
            if not has_table(con, "what_ifs"):
                return []
            sql, args = "SELECT * FROM what_ifs", cast(tuple[str, ...], ())
            if reference is not None:
                sql, args = sql + " WHERE reference = ?", (reference,)
            return [_saved(r) for r in con.execute(sql + " ORDER BY id", args).fetchall()]
    except FileNotFoundError:
        return []


def find_what_if(name: str, catalogue: str | Path | None = None) -> SavedWhatIf | None:
    """The saved what-if of that name, or None."""
    return next((w for w in list_what_ifs(catalogue) if w.name == name), None)


def add_comment(what_if: str, author: str, text: str, catalogue: str | Path | None = None) -> Entry:
    """Add a comment to a saved what-if (one transaction).

    Raises
    ------
    DiscussionError
        An unknown what-if, an empty author or comment, or one too long.
    """
    return _add(what_if, author, "comment", _clean(text, "the comment", MAX_TEXT), catalogue)


def decide(what_if: str, status: str, author: str, catalogue: str | Path | None = None) -> Entry:
    """Mark a saved what-if proposed, accepted or rejected (a new decision; earlier ones kept).

    Raises
    ------
    DiscussionError
        An unknown what-if or status, or an empty author.
    """
    if status not in DECISIONS:
        raise DiscussionError(f"unknown decision {status!r}; allowed: {', '.join(DECISIONS)}")
    return _add(what_if, author, "decision", status, catalogue)


def _add(what_if: str, author: str, kind: str, text: str, catalogue: str | Path | None) -> Entry:
    who = _clean(author, "the author's name", MAX_AUTHOR)
    path = resolve_catalogue(catalogue)
    when = now()
    with open_catalogue(path, create=True) as con:
        if not _known(con, what_if):
            raise DiscussionError(f"no saved what-if named {what_if!r} in {path}")
        if kind == "comment":
            sql = "INSERT INTO comments (what_if, author, text, created_at) VALUES (?, ?, ?, ?)"
        else:
            sql = "INSERT INTO decisions (what_if, status, author, created_at) VALUES (?, ?, ?, ?)"
        args = (what_if, who, text, when) if kind == "comment" else (what_if, text, who, when)
        row_id = write_transaction(con, path, f"record the {kind}", [(sql, args)])
    assert row_id is not None
    return Entry(kind, what_if, who, text, when, row_id)


def discussion(catalogue: str | Path | None = None, what_if: str | None = None) -> list[Entry]:
    """Every comment and decision (on one what-if when given), in the order they were written."""
    path = resolve_catalogue(catalogue)
    try:
        with open_catalogue(path, create=False) as con:
            if not has_table(con, "comments"):
                return []
            where, args = ("WHERE what_if = ?", (what_if,)) if what_if is not None else ("", ())
            rows = con.execute(
                f"SELECT 'comment' AS kind, what_if, author, text, created_at, id FROM comments "
                f"{where} UNION ALL SELECT 'decision', what_if, author, status, created_at, id "
                f"FROM decisions {where} ORDER BY created_at, kind, id",
                args * 2,
            ).fetchall()
    except FileNotFoundError:
        return []
    except sqlite3.DatabaseError as exc:
        raise CatalogueError(path, f"cannot be read ({exc})") from None
    return [Entry(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows]


def standing_decisions(catalogue: str | Path | None = None) -> dict[str, Entry]:
    """The latest decision on each saved what-if that has one."""
    out: dict[str, Entry] = {}
    for entry in discussion(catalogue):
        if entry.kind == "decision":
            out[entry.what_if] = entry
    return out
