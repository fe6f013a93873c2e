"""An export's open pipeline at a past date: which deals were open, and at which stage.

:func:`open_pipeline_as_of` rebuilds the opportunities open on a date as scenario
``open_pipeline`` entries (the backtest starts each window from them; ``--pipeline`` reads a
current export the same way). With a stage history a deal's stage on the date is the last one it
had entered; without one, the stage starts are laid out from the deal's dates and the scenario's
mean stage dwells (:func:`approximate_stage_starts`). :func:`data_span` gives the first and last
day an export knows about.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.errors import BacktestError
from pipesim.scenario.schema import STAGES, Engagement, Journey, OpenOpportunities, Scenario

_OPEN = "open"
_STAGE_INDEX = {name: k for k, name in enumerate(STAGES)}


def _day(value: Any) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _ordinal(value: Any) -> float:
    """A timestamp as a fractional day number (``date.toordinal`` plus the time of day)."""
    ts = pd.Timestamp(value)
    return float(ts.toordinal()) + (ts - ts.normalize()).total_seconds() / 86400.0


def data_span(data: CrmData) -> tuple[dt.date, dt.date]:
    """First and last day an export knows about.

    The first is the earliest creation; the last is the latest creation, close of a closed deal
    or stage change (an open deal's close date is a forecast, not a record).
    """
    opps = data.opportunities
    if opps is None or len(opps) == 0:
        raise BacktestError("the export has no opportunities (nothing was read)")
    first = _day(opps["created"].min())
    closed = opps["outcome"] != _OPEN
    dates = [opps["created"].max(), opps.loc[closed, "close"].max()]
    if data.history is not None and len(data.history):
        dates.append(data.history["entered"].max())
    last = max(d for d in (_day(x) for x in dates) if d is not None)
    assert first is not None
    return first, last


def _mean_dwells(scenario: Scenario | None, segment: str) -> np.ndarray:
    """Mean dwell per stage (days) of an average buying group in ``segment``."""
    journey = scenario.journey if scenario is not None else Journey()
    scale = 1.0
    if scenario is not None and segment in scenario.segments:
        scale = scenario.segments[segment].journey_scale
    return np.array([st.mean_days * scale for st in journey.stages()])


def approximate_stage_starts(
    created: float,
    last_stage: str,
    outcome: str,
    end: float,
    dwells: np.ndarray,
    engagement_fraction: float,
) -> np.ndarray:
    """Estimated start day of each journey stage of a deal without history.

    Days are fractional day numbers (``date.toordinal()`` plus the time of day); ``created`` is
    when the deal was opened and ``end`` when its record ends.

    Without a stage history only the deal's creation, the end of its record (its close date; the
    export date while it is open) and, for an open deal, its current stage are known. The stage
    starts are laid out with ``dwells``, the scenario's mean dwell per stage:

    * a won or lost deal decided at its close, so its decision stage ends on the close date and
      the earlier stages are laid back from there;
    * a deal still open, or closed with a known last stage, is taken to be half-way through that
      stage at the end of its record, and the earlier stages are laid back from there;
    * a deal closed without a known last stage (a no-decision in an export without history) is
      taken to have been created at ``engagement_fraction`` of its mean journey, and the stages
      are laid forward from there.

    Stages after the last known one get ``inf`` (not reached).
    """
    starts = np.full(len(STAGES), np.inf)
    if not last_stage and outcome not in ("won", "lost"):
        begin = created - engagement_fraction * float(dwells.sum())
        starts[0] = begin
        starts[1:] = begin + np.cumsum(dwells[:-1])
        return starts
    last = _STAGE_INDEX[last_stage] if last_stage else _STAGE_INDEX["decision"]
    through = 1.0 if outcome in ("won", "lost") else 0.5
    starts[last] = end - through * dwells[last]
    for s in range(last - 1, -1, -1):
        starts[s] = starts[s + 1] - dwells[s]
    return starts


def _stage_at(starts: np.ndarray, day: float) -> tuple[int, float]:
    """Stage index whose start is the latest at or before ``day``, and days spent in it."""
    reached = np.flatnonzero(starts <= day)
    if reached.size == 0:  # before the estimated start of the journey: just begun
        return 0, 0.0
    s = int(reached[-1])
    return s, float(day - starts[s])


def _history_by_id(history: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if history is None or len(history) == 0:
        return {}
    ordered = history.sort_values(["id", "entered"], kind="stable")
    return {str(k): g for k, g in ordered.groupby("id", sort=False)}


def open_pipeline_as_of(
    data: CrmData,
    as_of: dt.date,
    scenario: Scenario | None = None,
    *,
    owners: bool = False,
) -> list[dict[str, Any]]:
    """The opportunities open on ``as_of``, as scenario ``open_pipeline`` entries (one per deal).

    A deal is open on ``as_of`` when it was created on or before that day and had not closed by
    it (no close date, or a close date after it). Each entry has ``segment``, ``stage``,
    ``count: 1``, ``value`` (the deal's amount; left out when the export has none, so the model
    draws it), ``days_in_stage``, ``engaged_early`` and, where the schema has it, ``id``
    (``owner`` too when ``owners`` is true: the deal's CRM owner when it is a rep of
    ``scenario``, e.g. a scenario from ``pipesim calibrate``, which names its reps after the
    owners; other deals are dealt to seats in turn).

    With a stage history the stage on ``as_of`` is the last stage entered on or before it, and
    ``days_in_stage`` counts from that entry; the deal was engaged early when it was created
    before the buyer reached preference (the first recorded stage at or after preference).
    Without one, the stage starts are estimated by :func:`approximate_stage_starts` from the
    deal's dates and last known stage, with the mean stage dwells and engagement point of
    ``scenario`` (the schema defaults when no scenario is given). A deal whose history starts
    after ``as_of`` is estimated the same way.

    Entries come in the order the deals were created (then by id), so the result is the same on
    every call.
    """
    opps = data.opportunities
    day = pd.Timestamp(as_of)
    created_on = opps["created"].dt.normalize()
    closed_on = opps["close"].dt.normalize()
    is_open = (created_on <= day) & (opps["close"].isna() | (closed_on > day))
    chosen = opps[is_open].copy()
    chosen["key"] = chosen["id"].astype(str)
    chosen = chosen.sort_values(["created", "key"], kind="stable")
    _, export = data_span(data)
    engagement = (scenario.engagement if scenario is not None else Engagement()).mean_fraction
    history = _history_by_id(data.history)
    with_id = "id" in OpenOpportunities.model_fields
    with_owner = owners and "owner" in OpenOpportunities.model_fields
    with_close = "close_date" in OpenOpportunities.model_fields
    reps = set(scenario.reps.labels()) if scenario is not None else None
    # the state at the end of the as-of day: the simulation's day 0 is the next midnight
    now = float(as_of.toordinal() + 1)
    preference = _STAGE_INDEX["preference"]
    entries: list[dict[str, Any]] = []
    for row in chosen.itertuples(index=False):
        created = _ordinal(row.created)
        rows = history.get(row.key)
        stage_index: int | None = None
        days_in = 0.0
        early = True
        if rows is not None:
            entered = [_ordinal(t) for t in rows["entered"]]
            idx = [_STAGE_INDEX[str(s)] for s in rows["stage"]]
            before = [k for k, t in enumerate(entered) if t < now]
            if before:
                k = before[-1]
                stage_index, days_in = idx[k], now - entered[k]
                late = [t for t, s in zip(entered, idx, strict=True) if s >= preference]
                early = not late or created < min(late)
        if stage_index is None:
            close = _day(row.close)
            end = close if close is not None and row.outcome != _OPEN else export
            starts = approximate_stage_starts(
                created,
                str(row.stage) if isinstance(row.stage, str) else "",
                str(row.outcome),
                float(end.toordinal() + 1),
                _mean_dwells(scenario, str(row.segment)),
                engagement,
            )
            stage_index, days_in = _stage_at(starts, now)
            early = created < starts[preference]
        entry: dict[str, Any] = {}
        if with_id:
            entry["id"] = row.key
        entry |= {"segment": str(row.segment), "stage": STAGES[stage_index], "count": 1}
        amount = float(row.amount) if row.amount is not None else math.nan
        if math.isfinite(amount) and amount > 0:
            entry["value"] = amount
        entry["days_in_stage"] = round(max(days_in, 0.0), 3)
        entry["engaged_early"] = bool(early)
        if (
            with_owner
            and isinstance(row.owner, str)
            and row.owner
            and (reps is None or row.owner in reps)
        ):
            entry["owner"] = row.owner
        # the expected close date of a deal still open in the export, read on the export's own
        # day (an earlier as-of date would see a date set later: not known then)
        close = _day(row.close)
        if with_close and row.outcome == _OPEN and close is not None and close > as_of >= export:
            entry["close_date"] = close.isoformat()
        entries.append(entry)
    return entries
