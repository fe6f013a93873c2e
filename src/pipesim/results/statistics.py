"""Statistics over replications: P(target) with its interval, revenue percentiles, outcome means.

Everything here works on the tidy per-replication table after the run (never inside it).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from pipesim.scenario.schema import TERMINAL_STATES, Scenario

Z95 = NormalDist().inv_cdf(0.975)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default 95%)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at the boundaries the bound is exactly 0 or 1 (avoid rounding to 1e-17)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def wilson_half_width(successes: int, n: int, z: float = Z95) -> float:
    """Half the width of the Wilson interval (:func:`wilson_interval`); NaN when ``n`` is 0."""
    low, high = wilson_interval(successes, n, z)
    return (high - low) / 2.0


def wilson_replications(p: float, half_width: float, z: float = Z95) -> int:
    """Replications for a Wilson interval of at most +/- ``half_width`` around a share ``p``.

    The smallest ``n`` with ``z / (1 + z**2/n) * sqrt(p (1 - p) / n + z**2 / (4 n**2))`` at most
    ``half_width``: for ``p`` away from 0 and 1 about ``z**2 p (1 - p) / half_width**2`` (the
    normal approximation), a little more near the ends, where the interval does not shrink to
    nothing. The half-width falls as ``n`` grows, so a bisection finds it.
    """
    if not 0 < half_width < 0.5:
        raise ValueError("half_width must be between 0 and 0.5")
    if not 0 <= p <= 1:
        raise ValueError("p must be between 0 and 1")
    var = p * (1.0 - p)

    def width(n: int) -> float:
        return z / (1.0 + z * z / n) * math.sqrt(var / n + z * z / (4.0 * n * n))

    high = 1
    while width(high) > half_width:
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        mid = (low + high) // 2
        if width(mid) <= half_width:
            high = mid
        else:
            low = mid + 1
    return low


def paired_difference(
    reference: Sequence[float] | np.ndarray,
    scenario: Sequence[float] | np.ndarray,
    z: float = Z95,
) -> tuple[float, tuple[float, float], tuple[float, float], float]:
    """Mean of ``scenario - reference`` with paired and unpaired normal intervals.

    Two scenarios run with the same root seed share each replication's seed and named random
    streams (common random numbers), so the difference is estimated on the pairs.

    Parameters
    ----------
    reference, scenario
        The metric per replication, aligned so element *i* of both came from the same seed.
    z
        Normal quantile of the interval (default 95%).

    Returns
    -------
    tuple
        ``(estimate, (paired_low, paired_high), (unpaired_low, unpaired_high), correlation)``.
        With fewer than two pairs the intervals are NaN; the correlation is NaN when either
        series is constant.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(scenario, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired series differ in length: {a.size} and {b.size}")
    n = a.size
    if n == 0:
        nan = math.nan
        return nan, (nan, nan), (nan, nan), nan
    d = b - a
    est = float(d.mean())
    if n < 2:
        nan = math.nan
        return est, (nan, nan), (nan, nan), nan
    se_paired = float(d.std(ddof=1)) / math.sqrt(n)
    se_unpaired = math.sqrt(float(a.var(ddof=1)) / n + float(b.var(ddof=1)) / n)
    if a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
    else:
        corr = math.nan
    return (
        est,
        (est - z * se_paired, est + z * se_paired),
        (est - z * se_unpaired, est + z * se_unpaired),
        corr,
    )


def ratio_interval(num: np.ndarray, den: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """Ratio of sums across replications with a delta-method interval (replications independent).

    Used for shares pooled over replications, e.g. no-decision opportunities / resolved ones.
    """
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    n = len(num)
    total = den.sum()
    if n == 0 or total <= 0:
        return (math.nan, math.nan, math.nan)
    r = num.sum() / total
    if n < 2:
        return (r, math.nan, math.nan)
    resid = num - r * den
    se = math.sqrt(resid.var(ddof=1) * n) / total
    return (r, r - z * se, r + z * se)


def mean_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """Mean with a normal-approximation interval."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if v.size < 2:
        return (m, math.nan, math.nan)
    se = float(v.std(ddof=1)) / math.sqrt(v.size)
    return (m, m - z * se, m + z * se)


def summarise(
    scenario: Scenario,
    table: pd.DataFrame,
    *,
    seed: int,
    runtime_s: float,
    version: str,
    partial: bool = False,
    requested: int | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` content for a finished (or interrupted) run."""
    n = len(table)
    hits = int(table["hit_target"].sum()) if n else 0
    lo, hi = wilson_interval(hits, n)
    revenue = table["revenue"].to_numpy(dtype=float) if n else np.array([])

    def pct(q: float) -> float:
        return float(np.percentile(revenue, q)) if n else math.nan

    outcomes = {state: float(table[state].mean()) if n else math.nan for state in TERMINAL_STATES}
    for cause in ("no_decision_status_quo", "no_decision_indecision"):
        outcomes[cause] = float(table[cause].mean()) if n else math.nan
    leads_total = float(table["leads"].mean()) if n else math.nan
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "replications": n,
        "seed": seed,
        "target": {
            "amount": scenario.target.revenue,
            "currency": scenario.economics.currency,
            "horizon_weeks": scenario.target.horizon_weeks,
            "horizon_days": scenario.horizon_days,
            "start_date": scenario.target.start_date.isoformat(),
            "rep_quota": scenario.rep_quota,
            **(
                {"rep_quotas": dict(scenario.target.rep_quotas)}
                if scenario.target.rep_quotas
                else {}
            ),
        },
        "p_target": {
            "estimate": hits / n if n else math.nan,
            "ci_low": lo,
            "ci_high": hi,
            "method": "wilson",
            "level": 0.95,
        },
        "revenue": {
            "mean": float(revenue.mean()) if n else math.nan,
            "p10": pct(10),
            "p50": pct(50),
            "p90": pct(90),
        },
        "outcomes": outcomes,
        "outcome_shares": {
            state: outcomes[state] / leads_total if leads_total else math.nan
            for state in TERMINAL_STATES
        },
        "leads": leads_total,
        "runtime_s": runtime_s,
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "pipesim_version": version,
        "partial": partial,
    }
    if n:
        summary["gross_margin"] = {"mean": float(table["gross_margin"].mean())}
        summary["reps_at_quota"] = {"mean": float(table["reps_at_quota"].mean())}
        summary["opportunities"] = {
            "mean": float(table["opportunities"].mean()),
            "win_rate": ratio_interval(table["won_opportunities"], table["resolved_opportunities"])[
                0
            ],
            "no_decision_rate": ratio_interval(
                table["no_decision_opportunities"], table["resolved_opportunities"]
            )[0],
        }
    if n and scenario.teams:
        summary["levels"] = team_levels(scenario, table)
    if requested is not None:
        summary["replications_requested"] = requested
    return _clean(summary)


def team_levels(scenario: Scenario, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each team's forecast from the same replications: ``summary.json``'s ``levels``.

    A team's revenue in a replication is the bookings of its seats and of every team under it
    (the ``team_<name>_revenue`` columns), so the company's distribution is the sum of its
    top-level teams' replication by replication, never a combination of separate figures. Each
    entry has the company headline's keys (``p_target`` when the team has a target, ``revenue``)
    and ``gap_share``: the team's target minus its mean bookings as a share of the company's
    (target minus mean revenue), when both have a shortfall to share.
    """
    company_gap = scenario.target.revenue - float(table["revenue"].mean())
    seats = scenario.team_seats()
    labels = scenario.reps.labels()
    out = []
    for name, team in scenario.teams.items():
        revenue = table[f"team_{name}_revenue"].to_numpy(dtype=float)
        n = len(revenue)
        entry: dict[str, Any] = {
            "team": name,
            "parent": team.parent,
            "reps": [labels[k] for k in seats[name]],
            "target": team.target,
            "revenue": {
                "mean": float(revenue.mean()),
                "p10": float(np.percentile(revenue, 10)),
                "p50": float(np.percentile(revenue, 50)),
                "p90": float(np.percentile(revenue, 90)),
            },
            "p_target": None,
            "gap_share": None,
        }
        if team.target is not None:
            hits = int((revenue >= team.target).sum())
            lo, hi = wilson_interval(hits, n)
            entry["p_target"] = {
                "estimate": hits / n,
                "ci_low": lo,
                "ci_high": hi,
                "method": "wilson",
                "level": 0.95,
            }
            gap = team.target - float(revenue.mean())
            if company_gap > 0:
                entry["gap_share"] = gap / company_gap
        out.append(entry)
    return out


def _clean(obj: Any) -> Any:
    """Replace NaN with None so the JSON is standard."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
