"""Input files that are not scenarios: the open pipeline of ``pipesim run --pipeline``.

:func:`with_pipeline` puts the deals of a file into a scenario that is already loaded and
validated, and validates the result again. The file is a pipeline CSV (:func:`read_pipeline_csv`)
or a CRM opportunity export, read through :mod:`pipesim.calibrate` (the deals open at the
scenario's start date become the pipeline; a CRM owner who is a rep of the scenario keeps the
deal).

A pipeline CSV has one row per open opportunity; the rows replace the scenario's
``open_pipeline``. Columns (only
``segment`` and ``stage`` are required; an empty cell takes the default):

=================  ==========================================================================
column             meaning
=================  ==========================================================================
id                 opportunity id (unique), shown in deals.csv
name               account or opportunity name
segment            a segment of the scenario
stage              awareness, interest, preference or decision
value              deal value (default: drawn from the segment's deal sizes)
days_in_stage      days already spent in the stage (default: a random point of the stage)
owner              rep name (reps.members) or seat label rep01, rep02, ...
preferred          us, competitor or status_quo, when known (preference/decision stage)
buying_group       people in the buying group, when known
activity_planned   true/false: the owner has a next step planned (default true)
engaged_early      true/false: we were engaged before the preference formed (default true)
close_date         expected close date (YYYY-MM-DD): the buyer does not decide before it
=================  ==========================================================================

A row with stage ``won`` is a deal already won in the target period (``booked``: it needs
``id`` and ``value``, and the scenario a ``target.period_start`` before its start date); its
``close_date`` is the day it was won.

A CRM opportunity export (Salesforce columns such as ``StageName``) is read through
:mod:`pipesim.calibrate` instead: the deals open at the scenario's start date become the
pipeline. Its amounts must be in the scenario's ``economics.currency`` (or be converted by the
mapping's ``currency.rates``; mixed currencies are refused), and at least half of its rows must
be usable (:data:`PIPELINE_FLOOR`).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd

from pipesim.calibrate.crm import CrmError, check_usable, read_crm
from pipesim.calibrate.pipeline_as_of import open_pipeline_as_of
from pipesim.calibrate.usable import MIN_USABLE_SHARE, UsableFloor
from pipesim.scenario.edit import KeyPath
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.loader import validate
from pipesim.scenario.schema import Scenario

COLUMNS: dict[str, str] = {
    "id": "text",
    "name": "text",
    "segment": "text",
    "stage": "text",
    "value": "number",
    "days_in_stage": "number",
    "owner": "text",
    "preferred": "text",
    "buying_group": "integer",
    "activity_planned": "boolean",
    "engaged_early": "boolean",
    "close_date": "date",
}
"""The columns a pipeline CSV may have, with their type."""

PIPELINE_FLOOR = UsableFloor(share=MIN_USABLE_SHARE, rows=0)
"""The least of a CRM export that must be usable to give a pipeline: the share of
:data:`~pipesim.calibrate.usable.MIN_USABLE_SHARE` (an export mostly unreadable has a systematic
fault, and its open deals would be the ones that happened to parse); no least number of rows,
since a pipeline of a few deals is a pipeline."""

REQUIRED = ("segment", "stage")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _unreadable(path: Path, exc: Exception) -> ScenarioError:
    """The error for a file that cannot be read as CSV text, naming the file."""
    if isinstance(exc, FileNotFoundError):
        why = "file not found"
    elif isinstance(exc, IsADirectoryError):
        why = "is a folder, not a CSV file"
    elif isinstance(exc, UnicodeDecodeError):
        why = (
            f"cannot read the file: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start}); a pipeline is a CSV file saved as UTF-8"
        )
    elif isinstance(exc, csv.Error):
        why = f"cannot read the file as CSV ({exc})"
    else:
        why = f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"
    return ScenarioError(str(path), [Problem((), why)])


def is_crm_export(path: str | Path) -> bool:
    """Whether the CSV's header looks like a CRM opportunity export (not a pipeline CSV).

    Raises
    ------
    ScenarioError
        Naming the file when it is missing, a folder, unreadable or not UTF-8 CSV text.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(Path(path), exc) from None
    return "StageName" in header and "segment" not in header


def _convert(kind: str, text: str) -> Any:
    if kind == "number":
        try:
            x = float(text)
        except ValueError:
            raise ValueError("must be a plain number such as 120000 or 120000.5") from None
        if not math.isfinite(x):
            raise ValueError("must be a finite number")
        return x
    if kind == "integer":
        try:
            x = float(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not math.isfinite(x) or x != int(x):
            raise ValueError("must be a whole number")
        return int(x)
    if kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError("must be a date YYYY-MM-DD") from None
    if kind == "boolean":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("must be true or false")
    return text


def read_pipeline_csv(
    path: str | Path,
) -> tuple[list[dict[str, Any]], dict[int, int], dict[int, dict[str, int]]]:
    """Read a pipeline CSV into ``open_pipeline`` entries.

    Returns the entries, the file line of each entry, and the column number of each of its
    fields (for error messages). Raises :class:`~pipesim.scenario.errors.ScenarioError` naming
    the file, line, column and what is allowed for every bad cell.
    """
    source = str(path)
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(Path(path), exc) from None
    if not rows:
        raise ScenarioError(source, [Problem((), "the file is empty (a header line is needed)")])
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    allowed = ", ".join(COLUMNS)
    for name in header:
        if name not in COLUMNS:
            problems.append(
                Problem((name or "(blank)",), f"unknown column; allowed: {allowed}", 1, 1)
            )
    for name in REQUIRED:
        if name not in header:
            problems.append(Problem((name,), "required column is missing", 1, 1))
    if len(set(header)) != len(header):
        problems.append(Problem((), "a column name appears twice", 1, 1))
    if problems:
        raise ScenarioError(source, problems)
    entries: list[dict[str, Any]] = []
    lines: dict[int, int] = {}
    cols: dict[int, dict[str, int]] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem((), f"{len(row)} cells, the header has {len(header)}", lineno, 1)
            )
            continue
        entry: dict[str, Any] = {}
        for k, (name, cell) in enumerate(zip(header, row, strict=True)):
            text = cell.strip()
            if not text:
                continue
            try:
                entry[name] = _convert(COLUMNS[name], text)
            except ValueError as exc:
                problems.append(Problem((name,), f"{text!r} {exc}", lineno, k + 1))
        cols[len(entries)] = {name: k + 1 for k, name in enumerate(header)}
        lines[len(entries)] = lineno
        entries.append(entry)
    if problems:
        raise ScenarioError(source, problems)
    if not entries:
        raise ScenarioError(source, [Problem((), "no opportunities (only a header line)", 2, 1)])
    return entries, lines, cols


def with_pipeline(
    scenario: Scenario,
    pipeline: str | Path,
    history: str | Path | None = None,
    mapping: str | Path | None = None,
) -> Scenario:
    """``scenario`` with its ``open_pipeline`` replaced by the deals of a file.

    Parameters
    ----------
    scenario
        A loaded, validated scenario.
    pipeline
        A pipeline CSV (one row per open deal) or a CRM opportunity export.
    history, mapping
        For a CRM export: its stage history (each deal's stage and days in stage on the start
        date) and the column mapping file (:mod:`pipesim.calibrate.mapping`).

    Raises
    ------
    ScenarioError
        Naming the file, line and column of every bad cell, or why the export gives no pipeline.
    """
    where = str(pipeline)
    origins: dict[KeyPath, str] = {("open_pipeline",): where}
    if history is not None or mapping is not None or is_crm_export(pipeline):
        try:
            crm = read_crm(
                Path(pipeline),
                Path(history) if history is not None else None,
                Path(mapping) if mapping is not None else None,
                scenario.economics.currency,
            )
            check_usable(crm, PIPELINE_FLOOR, pipeline)
            # a CRM owner who is a rep of the scenario keeps the deal (a scenario from
            # `pipesim calibrate` names its reps after the owners); others go to seats in turn
            entries = open_pipeline_as_of(crm, scenario.target.start_date, scenario, owners=True)
        except CrmError as exc:
            raise ScenarioError(where, [Problem((), str(exc).removeprefix(f"{where}: "))]) from None
        if not entries:
            start = scenario.target.start_date
            raise ScenarioError(
                where, [Problem((), f"no opportunity is open on {start} (target.start_date)")]
            )
        booked = booked_as_of(crm, scenario)
    else:
        rows, lines, cols = read_pipeline_csv(pipeline)
        entries, booked = [], []
        for i, row in enumerate(rows):
            won = row.get("stage") == "won"
            block, k = ("booked", len(booked)) if won else ("open_pipeline", len(entries))
            if won:
                booked.append(_booked_entry(row))
            else:
                entries.append(row)
            origins[(block, k)] = f"{where}:{lines[i]}"
            for name, col in cols[i].items():
                key = "closed" if won and name == "close_date" else name
                origins[(block, k, key)] = f"{where}:{lines[i]}:{col}"
    data = {**scenario.model_dump(mode="json"), "open_pipeline": entries, "booked": booked}
    return validate(data, where, None, origins)


_BOOKED_FIELDS = {"id": "id", "name": "name", "value": "value", "segment": "segment",
                  "owner": "owner", "close_date": "closed"}  # fmt: skip
"""Pipeline CSV columns a won row keeps, by their name in ``booked``; its other cells (stage
details of a deal that is no longer open) are dropped."""


def _booked_entry(row: dict[str, Any]) -> dict[str, Any]:
    out = {key: row[name] for name, key in _BOOKED_FIELDS.items() if name in row}
    if "closed" in out:
        out["closed"] = out["closed"].isoformat()
    return out


def booked_as_of(crm: Any, scenario: Scenario) -> list[dict[str, Any]]:
    """The deals the export shows won from ``target.period_start`` to the start date (inclusive)."""
    start, first = scenario.target.start_date, scenario.target.period_start
    if first is None or first >= start:
        return []
    opps = crm.opportunities
    won = opps[(opps["outcome"] == "won") & opps["close"].notna()]
    day = won["close"].dt.normalize()
    # the pipeline is the state at the end of the start day: a deal won that day is booked
    chosen = won[(day >= pd.Timestamp(first)) & (day <= pd.Timestamp(start))]
    return [
        {
            "id": str(r.id),
            "value": float(r.amount),
            "closed": pd.Timestamp(r.close).date().isoformat(),
            **({"segment": str(r.segment)} if r.segment in scenario.segments else {}),
        }
        for r in chosen.itertuples(index=False)
        if isinstance(r.amount, float) and r.amount > 0
    ]
