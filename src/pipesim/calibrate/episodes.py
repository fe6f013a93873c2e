"""What an export records about each opportunity's journey: stage episodes and outcome times.

With a stage history, every stage an opportunity *entered after it was created* is an episode
(:func:`stage_episodes`): it ends when the next stage starts (``advance``), when the deal closes
(``exit`` before the decision stage; ``won``/``lost``/``no_decision`` from it) or is still
running at the export date (``open``: right-censored). The stage an opportunity was created in is
left-truncated (the buyer was in it before we met them, for an unknown time) and is not used; so
awareness, where nearly every opportunity starts, is not identified. Outcomes of all
opportunities are timed from creation to the close (:func:`outcome_times`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipesim.calibrate.crm import CrmData
from pipesim.scenario.schema import STAGES

FITTED_STAGES: tuple[str, ...] = ("interest", "preference")
"""Stages whose dwell and stall hazard are fitted (entered after creation, left after it)."""
CLOSE_TIME_OF_DAY = 0.5
"""A close date is a day, not an instant: closes are taken at mid-day (days)."""
DECISION_EVENTS = {"won": 1, "lost": 2, "no_decision": 3}
"""Competing ends of the decision stage and their codes (0: still open)."""


def as_of_day(data: CrmData) -> pd.Timestamp:
    """Default export date: midnight after the latest date in the data."""
    opp = data.opportunities
    latest = max(opp["created"].max(), opp["close"].max(skipna=True))
    if data.history is not None and len(data.history):
        latest = max(latest, data.history["entered"].max())
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


def in_days(t: pd.Series | pd.Timestamp, origin: pd.Timestamp) -> Any:
    """Time from ``origin`` to ``t`` in (fractional) days."""
    return (t - origin) / pd.Timedelta(days=1)


def stage_episodes(data: CrmData, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per stage entered after creation: ``id, stage, days, event, segment, owner``.

    ``event`` is ``advance`` (the next stage started), ``exit`` (closed before the decision
    stage), ``won``/``lost``/``no_decision`` (closed from the decision stage) or ``open``
    (still in the stage at ``as_of``: right-censored). ``created`` (the opportunity's creation)
    is kept for grouping episodes into blocks.
    """
    cols = ["id", "stage", "days", "event", "segment", "owner", "created"]
    if data.history is None or not len(data.history):
        return pd.DataFrame(columns=cols)
    order = {s: i for i, s in enumerate(STAGES)}
    hist = data.history[["id", "stage", "entered"]]
    # the first entry of each stage, in the order the opportunities appear
    first = hist.drop_duplicates(["id", "stage"], keep="first").copy()
    first["rank"] = first["stage"].map(order)
    first["seq"] = pd.factorize(first["id"])[0]
    first = first.sort_values(["seq", "rank"], kind="stable").reset_index(drop=True)
    same_next = first["id"].shift(-1) == first["id"]
    next_entry = first["entered"].shift(-1).where(same_next)
    # stages out of order in time: that opportunity gives no clean episodes
    backwards = same_next & (next_entry < first["entered"])
    bad = set(first.loc[backwards, "id"])
    opp = data.opportunities.set_index("id")
    info = opp.loc[first["id"], ["created", "close", "outcome", "segment", "owner"]]
    info = info.reset_index(drop=True)
    closed = (info["outcome"] != "open").to_numpy()
    close = info["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY)
    keep = (
        ~first["id"].isin(bad).to_numpy()
        & (first["entered"] > info["created"]).to_numpy()
        & (first["rank"] > 0).to_numpy()
    )
    entered = first["entered"]
    end = next_entry.copy()
    event = pd.Series("advance", index=first.index, dtype=object)
    last = ~same_next.to_numpy()
    closing = last & closed
    end[closing] = np.maximum(close[closing], entered[closing])
    is_decision = (first["stage"] == "decision").to_numpy()
    event[closing & is_decision] = info.loc[closing & is_decision, "outcome"].astype(str)
    event[closing & ~is_decision] = "exit"
    still = last & ~closed
    end[still] = as_of
    event[still] = "open"
    days = np.maximum(in_days(end, entered).to_numpy(float), 1e-3)
    out = pd.DataFrame(
        {
            "id": first["id"].to_numpy(),
            "stage": first["stage"].to_numpy(),
            "days": days,
            "event": event.to_numpy(),
            "segment": info["segment"].to_numpy(),
            "owner": info["owner"].to_numpy(),
            "created": info["created"].to_numpy(),
        }
    )
    return out[keep].reset_index(drop=True)


def dwell_observed(stage: str, ep: pd.DataFrame) -> np.ndarray:
    """Episodes whose dwell ended (advanced; from the decision stage: closed)."""
    if stage == "decision":
        return np.asarray(ep["event"].isin(["won", "lost", "no_decision"]).to_numpy())
    return np.asarray((ep["event"] == "advance").to_numpy())


def competing_codes(stage: str, ep: pd.DataFrame) -> np.ndarray:
    """Competing-event codes of a stage's episodes (0: censored)."""
    events = {"advance": 1, "exit": 2} if stage in FITTED_STAGES else DECISION_EVENTS
    return np.asarray(ep["event"].map(events).fillna(0).to_numpy(int))


def outcome_times(opp: pd.DataFrame, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Days from creation to the close (or to ``as_of``, censored) and the outcome codes."""
    closes = opp["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY)
    end = closes.where(opp["outcome"] != "open", as_of)
    t_all = np.maximum(in_days(end, opp["created"]).to_numpy(float), 1e-3)
    code = opp["outcome"].map({"won": 1, "lost": 2, "no_decision": 3, "open": 0})
    return t_all, np.asarray(code.to_numpy(int))
