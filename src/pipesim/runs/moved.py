"""Why the forecast moved since the previous run, kept in the later run's folder.

``pipesim diff RUN_A RUN_B`` between two pipeline snapshots of one scenario writes its result
(what ``diff.json`` holds) as ``moved.json`` into run B's folder; the run report's "How the
forecast moved" section shows its parts beside the drift chart. ``pipesim run`` removes the file
when it writes a new run into the folder, so a report never shows the move of another run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MOVED_FILE = "moved.json"
"""File name of the kept deal diff in a run folder."""


def write_moved(folder: str | Path, doc: dict[str, Any]) -> Path:
    """Keep ``doc`` (a deal diff as ``diff.json`` holds it) in ``folder`` (written atomically)."""
    path = Path(folder) / MOVED_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_moved(folder: str | Path | None) -> dict[str, Any] | None:
    """The kept deal diff of the run in ``folder``, or None (none, unreadable, another run's)."""
    if folder is None:
        return None
    path = Path(folder) / MOVED_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        parts = doc["parts"]
        here = Path(doc["run_b"]["folder"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if here != Path(folder).resolve() or doc.get("method") != "deals" or not parts:
        return None
    return dict(doc)
