"""Arrival rates of opportunities: per source, per segment and per calendar month.

Each rate is a Poisson count over the weeks of exposure with an exact interval; the monthly
rates carry a seasonal index and a chi-square test of no seasonality
(:func:`arrival_estimates`).
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from pipesim.calibrate.episodes import in_days
from pipesim.calibrate.estimates import Estimate


def _poisson(name: str, count: int, weeks: float, note: str) -> Estimate:
    lo = stats.chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    hi = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    return Estimate(
        name,
        count / weeks,
        math.sqrt(max(count, 1)) / weeks,
        float(lo) / weeks,
        float(hi) / weeks,
        count,
        0,
        "per week",
        "Poisson count / exposure; exact interval",
        {},
        note,
    )


def arrival_estimates(opp: pd.DataFrame, as_of: pd.Timestamp) -> list[Estimate]:
    """Opportunities created per week: per source, per segment, per calendar month."""
    start = opp["created"].min().normalize()
    weeks = float(in_days(as_of, start)) / 7.0
    out = []
    for src, count in opp["source"].value_counts().sort_index().items():
        out.append(_poisson(f"rate.source.{src}", int(count), weeks, f"{src} opportunities"))
    for seg, count in opp["segment"].value_counts().sort_index().items():
        out.append(_poisson(f"rate.segment.{seg}", int(count), weeks, f"{seg} opportunities"))
    # per calendar month: exposure = days of that month inside the window
    days = pd.date_range(start, as_of - pd.Timedelta(days=1), freq="D")
    exposure = pd.Series(1.0, index=days).groupby(days.month).sum() / 7.0
    counts = opp["created"].dt.month.value_counts().reindex(exposure.index, fill_value=0)
    total_rate = counts.sum() / exposure.sum()
    expected = exposure * total_rate
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p_season = float(stats.chi2.sf(chi2, max(len(counts) - 1, 1)))
    for month in exposure.index:
        est = _poisson(
            f"rate.month.{month:02d}",
            int(counts[month]),
            float(exposure[month]),
            f"opportunities per week in month {month} (seasonal index "
            f"{counts[month] / expected[month]:.2f})",
        )
        est.gof = {"chi2_no_seasonality": chi2, "p_no_seasonality": p_season}
        out.append(est)
    return out
