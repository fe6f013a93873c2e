"""The snapshot of deals a run with ``--pipeline`` used, kept in its folder as ``pipeline.csv``.

The file is a pipeline CSV (columns: :data:`pipesim.cli.inputs.COLUMNS`; won rows are the
period's bookings to date), so ``pipesim run --pipeline`` reads it back as the same pipeline.
The run catalogue points at it through the run's folder; the resolved scenario kept with the
run (``scenario.yaml``) holds the same deals, which is what ``pipesim diff`` compares.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pipesim.scenario.schema import Scenario

COLUMNS: tuple[str, ...] = (
    "id", "name", "segment", "stage", "value", "days_in_stage", "owner", "preferred",
    "buying_group", "activity_planned", "engaged_early", "close_date",
)  # fmt: skip
"""The snapshot's columns, as a pipeline CSV names them."""

SNAPSHOT = "pipeline.csv"
"""The file a run with ``--pipeline`` keeps in its folder: the deals it used (a pipeline CSV)."""


def write_snapshot(scenario: Scenario, folder: Path) -> Path:
    """Keep the open and booked deals a run used as a pipeline CSV in its folder.

    Every value the run used is written (a CRM export's deals as read on the start date), so
    the file gives the same pipeline as ``--pipeline`` and ``pipesim diff`` can list what
    changed between two runs' snapshots. Written to a temporary name and renamed.
    """
    names = list(COLUMNS)
    rows: list[list[str]] = []
    ids = scenario.deal_ids()
    k = 0
    for opp in scenario.open_pipeline:
        data = opp.model_dump(mode="json")
        for _ in range(opp.count):
            cells = {**data, "id": ids[k]}
            rows.append(["" if cells.get(n) is None else _cell(cells[n]) for n in names])
            k += 1
    for deal in scenario.booked:
        cells = {**deal.model_dump(mode="json"), "stage": "won", "close_date": deal.closed}
        rows.append(["" if cells.get(n) is None else _cell(cells[n]) for n in names])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SNAPSHOT
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(rows)
    tmp.replace(path)
    return path


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
