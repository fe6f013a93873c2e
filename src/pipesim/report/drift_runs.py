"""The run catalogue as a table for the forecast-drift charts: one row per recorded run.

:func:`load_runs` reads the catalogue (:mod:`pipesim.runs.catalogue`) and :func:`same_settings`
keeps the runs of one set of settings (the forecast, or one what-if). Both the run report's SVG
drift chart (:func:`pipesim.report.charts.svg.drift_svg`) and ``pipesim history --chart``
(:func:`pipesim.report.drift.drift_figure`, matplotlib) draw these rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipesim.runs.catalogue import list_runs

RUN_COLUMNS: tuple[str, ...] = (
    "id",
    "short_id",
    "finished_at",
    "scenario",
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
    "scenario_sha256",
    "variant",
    "what_if",
)
"""Columns of :func:`load_runs`; ``finished_at`` is a UTC timestamp; ``variant`` is a what-if's
settings id ("" for the scenario's forecast) and ``what_if`` its label (``what-if: reps.count=18``,
"" for the forecast)."""

_FIGURES = (
    "p_target",
    "p_target_low",
    "p_target_high",
    "revenue_p10",
    "revenue_p50",
    "revenue_p90",
    "revenue_mean",
    "target",
)
"""The run figures :func:`load_runs` returns as floats (NaN where a run has none)."""

NOTE_WIDTH = 24
"""Characters of a run's note written beside its point on the chart."""

VERSION_NOTE = "scenario changed"
"""Written beside the vertical marker between two runs of a line whose resolved scenario differs."""


def load_runs(catalogue: str | Path | None = None, scenario: str | None = None) -> pd.DataFrame:
    """Recorded runs as a table, oldest first (empty, with the columns, when none).

    Parameters
    ----------
    catalogue
        Catalogue file; None resolves ``$PIPESIM_CATALOGUE`` or ``reports/runs.sqlite``.
    scenario
        Only runs of this scenario name.

    Raises
    ------
    pipesim.runs.database.CatalogueError
        When the file at the catalogue path is not a usable catalogue.
    """
    records = list_runs(catalogue, scenario)
    rows = [
        {**{c: getattr(r, c) for c in RUN_COLUMNS}, "variant": r.variant or ""} for r in records
    ]
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df["finished_at"] = pd.to_datetime(df["finished_at"], utc=True, format="ISO8601")
    for col in _FIGURES:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["partial"] = df["partial"].astype(bool)
    for col in ("variant", "what_if"):
        df[col] = df[col].astype(object)
    return df


def same_settings(records: pd.DataFrame, variant: str | None = None) -> pd.DataFrame:
    """The runs of one set of settings: the scenario's forecast, or the what-if ``variant``.

    Parameters
    ----------
    records
        Rows of :func:`load_runs`.
    variant
        A what-if's settings id; None keeps the runs without what-if settings (the forecast).
    """
    want = "" if variant is None else variant.strip().lower()
    return records[records["variant"].fillna("").astype(str) == want]
