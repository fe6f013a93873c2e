"""The open pipeline deal by deal: outcome probabilities, close dates, swing, risk flags.

Every replication records what happened to each open-pipeline deal (``deal_outcomes.csv``:
outcome, close day, value, whom the buyer preferred, the owner's coverage). Across replications
that gives, per deal, P(won), P(lost), P(no decision) and P(still open) by the horizon, the
P10/P50/P90 close date, the expected value and the deal's **swing**, the deals that decide the
period. Risk flags come from the model, and the leading indicators (coverage, velocity, new
opportunities needed) from the same run.

Swing is a counterfactual on each replication. The replication's bookings without the deal are its
revenue less the deal's value if the deal was won within the horizon. With the deal won the
bookings are those plus the deal's value; with it not won they are the bookings without it. Swing
= P(target | won) - P(target | not won) over the same replications: the share of replications in
which the deal is pivotal (target reached with it, missed without it), with its Wilson 95%
interval. Everything else in the replication is kept as it happened, including what the owner did
with the hours a decided deal freed. A deal's swing therefore grows with its value and with how
often the period ends within that value of the target, and not with anything else that made a
replication go well. It does not weigh the deal by its chance of being won: read it with P(won).

All probabilities are shares of the run's replications; ``replications`` says how many.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipesim.agents.buyers import draw_journeys
from pipesim.engine.model import open_pipeline_seats
from pipesim.market.choice import CHOICES
from pipesim.results.statistics import wilson_interval
from pipesim.scenario.rng import Streams
from pipesim.scenario.schema import STAGES, TERMINAL_STATES, Scenario

DEAL_COLUMNS = [
    "deal_id",
    "name",
    "segment",
    "stage",
    "owner",
    "value",
    "days_in_stage",
    "p_won",
    "p_lost",
    "p_no_decision",
    "p_open",
    "close_p10",
    "close_p50",
    "close_p90",
    "expected_value",
    "p_target_if_won",
    "p_target_if_not_won",
    "swing",
    "swing_ci_low",
    "swing_ci_high",
    "stalled",
    "engaged_late",
    "competitor_preferred",
    "large_buying_group",
    "no_activity",
    "flags",
    "replications",
]
"""Columns of ``deals.csv`` (sorted by swing, largest first; equal swings by value)."""

FLAGS: dict[str, str] = {
    "stalled": "longer in its stage than 80% of the segment's buyers stay (P80 dwell)",
    "engaged_late": "we were engaged after the buyer's preference formed",
    "competitor_preferred": "the buyer prefers a competitor (stated, or in most replications)",
    "large_buying_group": "buying group above the segment's P80 size: slower, more stalls",
    "no_activity": "no next activity planned, or the owner's week has no hours left for it",
}
"""Risk flags: the column name and what it means (the ``flags`` column lists the names)."""

FLAG_QUANTILE = 0.8
"""A deal is stalled / its group large beyond this quantile of the segment's distribution."""

_DWELL_SAMPLE = 20_000  # buyers drawn to estimate a segment's stage-dwell quantile


@dataclass(frozen=True)
class DealInfo:
    """What the scenario says about one open deal."""

    deal_id: str
    name: str
    segment: str
    stage: str
    owner: str
    value: float | None
    days_in_stage: float | None
    engaged_early: bool
    preferred: str | None
    buying_group: int | None
    activity_planned: bool


def deal_list(scenario: Scenario) -> list[DealInfo]:
    """The open pipeline as one record per deal, in the engine's deal order."""
    labels = scenario.reps.labels()
    seats = open_pipeline_seats(scenario)
    deals: list[DealInfo] = []
    ids = scenario.deal_ids()
    for opp in scenario.open_pipeline:
        for _ in range(opp.count):
            deal_id = ids[len(deals)]
            deals.append(
                DealInfo(
                    deal_id=deal_id,
                    name=opp.name,
                    segment=opp.segment,
                    stage=opp.stage,
                    owner=labels[seats[len(deals)]],
                    value=opp.value,
                    days_in_stage=opp.days_in_stage,
                    engaged_early=opp.engaged_early,
                    preferred=opp.preferred,
                    buying_group=opp.buying_group,
                    activity_planned=opp.activity_planned,
                )
            )
    return deals


def dwell_quantiles(
    scenario: Scenario, q: float, seed: int, segments: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Per segment: the ``q`` quantile of each stage's dwell (days), from a large draw.

    ``segments`` limits the draw to those segments (default: all). Each segment has its own
    named stream, so a segment's quantiles do not depend on which others are drawn.
    """
    wanted = set(scenario.segments if segments is None else segments)
    out: dict[str, np.ndarray] = {}
    for seg in (s for s in scenario.segments if s in wanted):
        rng = Streams(seed)(f"deals:dwell:{seg}")
        dwell = draw_journeys(scenario, seg, _DWELL_SAMPLE, rng)["dwell"]
        out[seg] = np.quantile(dwell, q, axis=0)
    return out


def poisson_quantile(q: float, mean: float) -> int:
    """The ``q`` quantile of Poisson(``mean``): the smallest k with P(K <= k) >= q.

    Sums the probabilities term by term (in logs, so a large mean does not underflow); the same
    integer as ``scipy.stats.poisson.ppf`` without importing scipy.stats (about a second).
    """
    if not 0.0 <= q < 1.0:
        raise ValueError(f"quantile level must be in [0, 1); got {q}")
    if mean <= 0:
        return 0
    log_mean = math.log(mean)
    k, cdf = 0, math.exp(-mean)
    while cdf < q:
        k += 1
        cdf += math.exp(k * log_mean - mean - math.lgamma(k + 1))
    return k


def group_quantile(scenario: Scenario, segment: str, q: float) -> float:
    """The ``q`` quantile of a segment's buying-group size (1 + Poisson(mean - 1))."""
    mean = max(scenario.segments[segment].buying_group_mean - 1.0, 0.0)
    return 1.0 + float(poisson_quantile(q, mean)) if mean > 0 else 1.0


def counterfactual_hits(
    revenue: np.ndarray, hit: np.ndarray, won: np.ndarray, value: np.ndarray, target: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per replication: whether the target is reached with the deal won, and with it not won.

    ``revenue`` and ``hit`` are the replications' bookings and ``hit_target``; ``won`` says
    whether the deal was won within the horizon and ``value`` is its value in each replication.
    The bookings without the deal are ``revenue - value`` where it was won, ``revenue`` where it
    was not; the rest of the replication is kept as it happened. Where the deal was won, "with"
    is the replication's own ``hit``; where it was not, "without" is.
    """
    value = np.where(np.isfinite(value), value, 0.0)
    with_deal = np.where(won, hit, revenue + value >= target)
    without_deal = np.where(won, revenue - value >= target, hit)
    return with_deal.astype(bool), without_deal.astype(bool)


def swing_interval(pivotal: int, n: int) -> tuple[float, float]:
    """95% interval of the swing: the Wilson interval of ``pivotal`` out of ``n`` replications.

    P(target | won) and P(target | not won) are paired (the same replications). A deal's value is
    never negative, so every replication that reaches the target without the deal reaches it with
    the deal too: the difference of the two shares is exactly the share of replications in which
    the deal is pivotal, a binomial proportion. NaN when ``n`` is 0.
    """
    return wilson_interval(pivotal, n)


def _date(start: _dt.date, day: float) -> str:
    if not math.isfinite(day):
        return ""
    return (start + _dt.timedelta(days=math.floor(day))).isoformat()


_STATES = TERMINAL_STATES
_PREFERRED = CHOICES


def deal_forecast(
    scenario: Scenario,
    outcomes: pd.DataFrame | Iterable[pd.DataFrame],
    table: pd.DataFrame,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``deals.csv`` rows and the leading indicators from a run's per-deal outcomes.

    ``outcomes`` has the columns of :data:`pipesim.runs.runner.DEAL_OUTCOME_COLUMNS` (one frame, or
    chunks of one, so a long run is read in pieces); ``table`` is the run's replications table
    (``revenue`` and ``hit_target`` per replication). Memory: a few bytes per deal and
    replication.
    """
    deals = deal_list(scenario)
    n_deals = len(deals)
    table = table.drop_duplicates("replication")
    reps = table["replication"].to_numpy()
    n = len(reps)
    shape = (n, n_deals)
    status = np.full(shape, -1, dtype=np.int8)  # index into _STATES
    close = np.full(shape, np.inf)
    value = np.full(shape, np.nan)
    preferred = np.full(shape, -1, dtype=np.int8)  # index into _PREFERRED
    coverage = np.full(shape, np.nan, dtype=np.float32)
    position = pd.Series(np.arange(n), index=reps)
    for chunk in [outcomes] if isinstance(outcomes, pd.DataFrame) else outcomes:
        chunk = chunk[chunk["replication"].isin(position.index)]
        row = position.loc[chunk["replication"].to_numpy()].to_numpy()
        col = chunk["deal"].to_numpy()
        status[row, col] = pd.Categorical(chunk["outcome"], categories=_STATES).codes
        close[row, col] = pd.to_numeric(chunk["close_day"], errors="coerce").fillna(np.inf)
        value[row, col] = chunk["value"].to_numpy(dtype=float)
        pref = chunk["preferred"]
        known = pref.where(pref.isin(_PREFERRED))  # blank: stalled before a preference formed
        preferred[row, col] = pd.Categorical(known, categories=_PREFERRED).codes
        coverage[row, col] = chunk["coverage"].to_numpy(dtype=float)
    # an interrupted run may have a replication's row but not all its deals: leave it out
    complete = (status >= 0).all(axis=1)
    if not complete.all():
        status, close, value = status[complete], close[complete], value[complete]
        preferred, coverage = preferred[complete], coverage[complete]
        table = table[complete]
        n = len(table)
    hit = table["hit_target"].astype(bool).to_numpy()
    revenue = table["revenue"].to_numpy(dtype=float)
    target = scenario.target.revenue
    won_code = _STATES.index("won")
    competitor = _PREFERRED.index("competitor")

    start = scenario.target.start_date
    # only a deal whose days in stage are known can be stalled: draw those segments' dwell only
    p80 = dwell_quantiles(
        scenario, FLAG_QUANTILE, seed, {d.segment for d in deals if d.days_in_stage is not None}
    )
    rows: list[dict[str, Any]] = []
    for k, d in enumerate(deals):
        won = status[:, k] == won_code
        p = {state: float(np.mean(status[:, k] == code)) for code, state in enumerate(_STATES)}
        q10, q50, q90 = np.quantile(close[:, k], [0.1, 0.5, 0.9], method="inverted_cdf")
        with_deal, without_deal = counterfactual_hits(revenue, hit, won, value[:, k], target)
        p_if_won = float(with_deal.mean()) if n else math.nan
        p_if_not = float(without_deal.mean()) if n else math.nan
        pivotal = int((with_deal & ~without_deal).sum())
        swing_ci = swing_interval(pivotal, n)
        drawn_pref = preferred[:, k][preferred[:, k] >= 0]
        p_comp = float(np.mean(drawn_pref == competitor)) if drawn_pref.size else 0.0
        flags = {
            "stalled": d.days_in_stage is not None
            and d.days_in_stage > p80[d.segment][STAGES.index(d.stage)],
            "engaged_late": not d.engaged_early and d.stage in ("preference", "decision"),
            "competitor_preferred": d.preferred == "competitor"
            or (d.preferred is None and p_comp > 0.5),
            "large_buying_group": d.buying_group is not None
            and d.buying_group > group_quantile(scenario, d.segment, FLAG_QUANTILE),
            "no_activity": not d.activity_planned or float(np.nanmedian(coverage[:, k])) < 1.0,
        }
        rows.append(
            {
                "deal_id": d.deal_id,
                "name": d.name,
                "segment": d.segment,
                "stage": d.stage,
                "owner": d.owner,
                "value": float(np.nanmean(value[:, k])),
                "days_in_stage": d.days_in_stage,
                "p_won": p["won"],
                "p_lost": p["lost"],
                "p_no_decision": p["no_decision"],
                "p_open": p["open_at_end"],
                "close_p10": _date(start, q10),
                "close_p50": _date(start, q50),
                "close_p90": _date(start, q90),
                "expected_value": float(np.nansum(np.where(won, value[:, k], 0.0)) / n),
                "p_target_if_won": p_if_won,
                "p_target_if_not_won": p_if_not,
                "swing": pivotal / n if n else math.nan,
                "swing_ci_low": swing_ci[0],
                "swing_ci_high": swing_ci[1],
                **flags,
                "flags": "; ".join(name for name, on in flags.items() if on),
                "replications": n,
            }
        )
    frame = pd.DataFrame(rows, columns=DEAL_COLUMNS)
    # the indicators sum over deals in deal order, so they do not depend on the ranking
    summary = indicators(scenario, frame, table)
    # equal swings (a count of pivotal replications): the larger deal first
    frame = frame.sort_values(
        ["swing", "value"], ascending=False, na_position="last", kind="stable"
    )
    return frame.reset_index(drop=True), summary


def indicators(scenario: Scenario, deals: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    """Leading indicators for the period (see docs/forecast.md for each definition)."""
    target = scenario.target.revenue
    weeks = scenario.target.horizon_weeks
    seats = scenario.reps.seats
    open_value = float(deals["value"].sum())
    weighted = float(deals["expected_value"].sum())
    resolved = float(table["resolved_opportunities"].sum())
    win_rate = float(table["won_opportunities"].sum()) / resolved if resolved else math.nan
    average_deal = open_value / len(deals) if len(deals) else math.nan
    cycle = float(table["mean_cycle_days"].mean())
    velocity = (
        len(deals) * win_rate * average_deal / cycle * 7.0 if cycle and cycle > 0 else math.nan
    )
    from_open = float(table["revenue_open_pipeline"].mean())
    from_new = float((table["revenue"] - table["revenue_open_pipeline"]).mean())
    new_opps = float(table["new_opportunities_per_rep_week"].mean()) * seats * weeks
    per_new = from_new / new_opps if new_opps > 0 else math.nan
    gap = max(0.0, target - from_open)
    return _finite(
        {
            "remaining_target": target,
            "open_deals": len(deals),
            "open_pipeline_value": open_value,
            "weighted_pipeline": weighted,
            "pipeline_coverage": weighted / target,
            "unweighted_coverage": open_value / target,
            "win_rate": win_rate,
            "average_open_deal": average_deal,
            "mean_cycle_days": cycle,
            "pipeline_velocity_per_week": velocity,
            "expected_bookings_open_pipeline": from_open,
            "expected_bookings_new_opportunities": from_new,
            "gap_after_open_pipeline": gap,
            "bookings_per_new_opportunity": per_new,
            "new_opportunities_per_rep_week": float(table["new_opportunities_per_rep_week"].mean()),
        }
    )


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: NaN and infinities become None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def write_deals(path: Path, deals: pd.DataFrame) -> None:
    """Write ``deals.csv`` atomically."""
    tmp = path.with_suffix(".csv.tmp")
    deals.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)
