"""A what-if in the studio: the reference with the panel's changes, checked, saved, run.

:func:`build` applies the changes with :func:`pipesim.scenario.loader.what_if` (the same rules
and messages as ``--set``); :func:`problems_text` words a refusal for the page. :func:`save`
writes the what-if as a scenario file that ``extends:`` the reference and holds only the changes,
with its name, the author and the note, validated by loading it back (as ``pipesim validate``
does) before it is put in place. The file is written to a temporary name and then linked to its
own name, which fails if the name is taken: a crash leaves the old state or the whole file, and two
people saving the same name at once cannot overwrite each other. :func:`run_saved` runs it like
``pipesim run`` (its own folder beside the catalogue, ``report.html``) and records the run and
the what-if in the catalogue (:func:`record` first, so the what-if is listed whatever becomes of
its run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipesim.report import from_results, write_run_report
from pipesim.runs.catalogue import record_run
from pipesim.runs.discussion import MAX_AUTHOR, MAX_TEXT, SavedWhatIf, attach_run, now
from pipesim.runs.discussion import record_what_if as store_what_if
from pipesim.runs.runner import run
from pipesim.scenario.edit import format_path, parse_path, set_value
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario, what_if
from pipesim.scenario.schema import Scenario
from pipesim.studio.files import FileError, inside

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
"""A saved what-if's name: its file name and run folder (letters, digits, ``_``, ``-``)."""


class SaveError(ValueError):
    """A what-if that cannot be saved as given (bad name, taken name, empty author, invalid)."""


def build(reference: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The reference with ``changes`` (dotted path -> value), validated.

    Raises
    ------
    ScenarioError
        A change the schema refuses; its problems name the key and what is allowed.
    """
    if not changes:
        return reference
    edits: dict[str | tuple[str | int, ...], Any] = {k: v for k, v in changes.items()}
    return what_if(reference, edits, source="studio")


def problems_text(error: ScenarioError) -> list[str]:
    """The refusal as the page shows it: ``key: what is wrong and what is allowed``."""
    out = []
    for p in error.problems:
        key = format_path(p.path) if p.path else "(top level)"
        out.append(f"{key}: {p.message}")
    return out or [str(error)]


def overlay(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as nested YAML data (what the saved file holds under its name)."""
    data: dict[str, Any] = {}
    for key, value in changes.items():
        set_value(data, parse_path(key), value)
    return data


def check_name(name: str) -> str:
    """A what-if's name, or :class:`SaveError` saying what a name may hold."""
    text = (name or "").strip()
    if not NAME_PATTERN.fullmatch(text):
        raise SaveError(
            "the name must be 1-60 letters, digits, '_' or '-', starting with a letter or digit "
            f"(got {text!r})"
        )
    return text


def _comment(text: str) -> str:
    """Free text as YAML comment lines (never parsed as YAML)."""
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines() or [""])


def file_text(
    reference_file: str, name: str, author: str, note: str, changes: Mapping[str, Any]
) -> str:
    """The saved what-if's YAML: a header, ``extends``, name, description and the changes."""
    header = _comment(
        f"What-if saved in pipesim studio by {author} on {now()[:16].replace('T', ' ')} UTC.\n"
        + (note if note else "(no note)")
        + "\nEverything else is the reference's; run it with `pipesim run` or check it with "
        "`pipesim validate`."
    )
    description = f"What-if by {author}" + (f": {note}" if note else "")
    body = {"extends": reference_file, "name": name, "description": description}
    body.update(overlay(changes))
    return header + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def _sync_folder(folder: Path) -> None:
    """Make a new name in ``folder`` durable (a crash right after keeps the file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Saved:
    """A what-if written to its scenario file."""

    name: str
    file: Path
    relative: str
    scenario: Scenario


def save(
    folder: Path,
    reference_file: str,
    name: str,
    author: str,
    note: str,
    changes: Mapping[str, Any],
    runs_root: Path | None = None,
) -> Saved:
    """Write the what-if as ``<folder>/<name>.yaml`` extending ``reference_file`` (atomically).

    Parameters
    ----------
    folder
        The studio's scenario folder.
    reference_file
        The reference, relative to ``folder``.
    name
        The what-if's name (:data:`NAME_PATTERN`); its file must not exist yet.
    author, note
        Who saves it, and why (kept in the file's header and description).
    changes
        Dotted path -> value: what the what-if changes on the reference.
    runs_root
        Where its run will go (``<runs_root>/<name>/``); a name whose folder is there is taken.

    Raises
    ------
    SaveError
        Bad or taken name, empty author, no changes, or a file that does not validate.
    """
    name = check_name(name)
    who = (author or "").strip()
    if not who:
        raise SaveError("the author's name is empty; say who saves the what-if")
    if len(who) > MAX_AUTHOR or len(note or "") > MAX_TEXT:
        raise SaveError(
            f"the author's name or the note is too long (at most {MAX_AUTHOR} and "
            f"{MAX_TEXT} characters)"
        )
    if not changes:
        raise SaveError("nothing changed: move a lever before saving a what-if")
    try:
        target = inside(folder, f"{name}.yaml", must_exist=False)
        reference = inside(folder, reference_file)
    except FileError as exc:
        raise SaveError(str(exc)) from None
    if runs_root is not None and (runs_root / name).exists():
        raise SaveError(f"{runs_root / name} already holds runs; choose another name")
    if target.exists():
        raise SaveError(f"a scenario named {name}.yaml already exists; choose another name")
    extends = os.path.relpath(reference, target.parent)
    text = file_text(extends, name, who, (note or "").strip(), changes)
    tmp = target.with_name(f".{name}.yaml.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            scenario = load_scenario(tmp)
        except ScenarioError as exc:
            raise SaveError("; ".join(problems_text(exc))) from None
        try:
            os.link(tmp, target)  # fails if the name was taken meanwhile: nothing overwritten
        except FileExistsError:
            raise SaveError(
                f"a scenario named {name}.yaml already exists; choose another name"
            ) from None
        _sync_folder(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return Saved(name, target, target.relative_to(folder.resolve()).as_posix(), scenario)


def record(
    saved: Saved,
    reference_file: str,
    author: str,
    note: str,
    changes: Mapping[str, Any],
    catalogue: Path,
) -> SavedWhatIf:
    """Record the saved what-if in the catalogue (one transaction), before its run starts."""
    return store_what_if(
        SavedWhatIf(
            saved.name, saved.relative, reference_file, dict(changes), author, note or None, now()
        ),
        catalogue,
    )


def run_saved(
    saved: Saved,
    catalogue: Path,
    *,
    replications: int,
    seed: int = 0,
    workers: int = 1,
    note: str | None = None,
) -> str:
    """Run a saved what-if, write its report, record the run and attach it to the what-if.

    The run goes to ``<catalogue folder>/<name>/``, as ``pipesim run --out`` there would put it.
    Returns the run's folder.
    """
    out = catalogue.parent / saved.name
    results = run(saved.scenario, replications, seed, workers, out)
    run_record = record_run(out, catalogue, note or None)
    write_run_report(out, from_results(results, catalogue))
    attach_run(saved.name, run_record.key, str(out.resolve()), catalogue)
    return str(out.resolve())
