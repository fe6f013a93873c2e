"""The last answer of ``pipesim required`` for a scenario, kept in the scenario's run folder.

``pipesim required SCENARIO --lever new_opportunities_per_rep_week`` simulates how many new
opportunities per rep and week give the chance of the target asked for. It writes its answer as
``required.json`` into the folder ``pipesim run`` writes the same scenario (and the same
``--set`` what-if) to; the run report shows it as its "new opportunities needed" figure when it was
computed for the same scenario file and target (:func:`read_required`), and says when it is
missing or stale. The report never extrapolates the figure itself: one definition (new
opportunities opened in the horizon per rep seat and week, the ``new_opportunities_per_rep_week``
column, measured in the simulation at the answer), one number.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED_FILE = "required.json"
"""File name of the answer in a run folder."""

OUTBOUND_LEVER = "leads.outbound.opportunities_per_rep_week"
"""The lever whose answer the report shows as new opportunities needed."""


@dataclass(frozen=True)
class RequiredAnswer:
    """What the report needs of a stored answer."""

    date: str  # ISO date the answer was computed
    confidence: float
    answer: dict[str, Any] | None  # the answer's evaluation (None: no value reaches confidence)
    below: dict[str, Any] | None  # the evaluation one grid step below
    today: dict[str, Any]
    resolution: dict[str, Any] | None
    current: bool  # computed for this run's scenario (file content and target)
    step: float


def write_required(
    folder: str | Path, result: dict[str, Any], scenario_sha256: str, today: dt.date | None = None
) -> Path | None:
    """Keep ``result`` (``RequiredResult.as_dict()``) in ``folder`` if it is the outbound lever.

    Returns the file written, or None for other levers (the report has no figure for them).
    """
    if result.get("lever") != OUTBOUND_LEVER:
        return None
    path = Path(folder) / REQUIRED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        **result,
        "scenario_sha256": scenario_sha256,
        "date": (today or dt.date.today()).isoformat(),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_required(folder: str | Path, scenario_sha256: str, target: float) -> RequiredAnswer | None:
    """The stored answer in ``folder``, or None if there is none (or it cannot be read).

    ``current`` is False when the answer was computed for another version of the scenario (a
    changed file, other ``--set`` values) or another target: the report then says it is stale.
    """
    path = Path(folder) / REQUIRED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        today = data["today"]
        confidence = float(data["confidence"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    current = data.get("scenario_sha256") == scenario_sha256 and abs(
        float(data.get("target", -1.0)) - target
    ) <= 1e-9 * max(1.0, abs(target))
    return RequiredAnswer(
        date=str(data.get("date", "")),
        confidence=confidence,
        answer=data.get("answer"),
        below=data.get("below"),
        today=today,
        resolution=data.get("resolution"),
        current=current,
        step=float(data.get("step", 0.0)),
    )
