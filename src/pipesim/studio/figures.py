"""What the studio's page shows, computed from a live estimate: words, intervals and charts.

The charts are the run report's own (:func:`pipesim.report.charts.svg.exceedance_svg` and
:func:`~pipesim.report.charts.svg.fan_svg`), drawn from the replications streamed so far. Every
figure carries its 95% interval: P(target) its Wilson interval, the paired difference its paired
interval, and commit / most likely / best case (revenue P10 / P50 / P90) a distribution-free
interval of the quantile (the order statistics that bracket it with 95% probability).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from pipesim.report.charts.svg import exceedance_svg, fan_svg
from pipesim.report.data import money, pct
from pipesim.results.statistics import Z95
from pipesim.runs.stream import Estimate, Interval
from pipesim.scenario.schema import Scenario

CASES = (("commit", "Commit", 0.1), ("likely", "Most likely", 0.5), ("best", "Best case", 0.9))
"""Commit / most likely / best case: the revenue P10, P50 and P90, as the run report has them."""


def quantile_interval(values: np.ndarray, q: float, z: float = Z95) -> Interval:
    """The ``q`` quantile of ``values`` with a distribution-free 95% interval.

    The interval runs between the order statistics whose ranks are ``n q -/+ z sqrt(n q (1-q))``
    (the normal approximation of the binomial count of values below the quantile).
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    half = z * math.sqrt(n * q * (1 - q))
    lo = int(max(0, math.floor(n * q - half)))
    hi = int(min(n - 1, math.ceil(n * q + half)))
    return Interval(float(np.quantile(v, q)), float(v[lo]), float(v[hi]))


def share_text(i: Interval) -> str:
    """``38.1% (95% CI 35.1%-41.2%)``."""
    return f"{pct(i.estimate, 1)} (95% CI {pct(i.low, 1)}–{pct(i.high, 1)})"


def points_text(i: Interval) -> str:
    """A difference of shares in percentage points: ``+12.3 pp (95% CI +8.1 to +16.5 pp)``."""

    def pp(x: float) -> str:
        return f"{x * 100:+.1f}"

    return f"{pp(i.estimate)} pp (95% CI {pp(i.low)} to {pp(i.high)} pp)"


def resolved(i: Interval) -> bool:
    """Whether a difference's interval leaves out zero (its sign is known)."""
    return i.low > 0 or i.high < 0


@dataclass(frozen=True)
class Case:
    """One of commit / most likely / best case."""

    key: str
    label: str
    interval: Interval


def cases(estimate: Estimate) -> list[Case]:
    """Commit, most likely and best case of an estimate with samples, each with its interval."""
    if estimate.samples is None:
        return []
    revenue = estimate.samples.revenue
    return [Case(k, label, quantile_interval(revenue, q)) for k, label, q in CASES]


def money_interval(i: Interval, currency: str) -> str:
    """``€21.2M (95% CI €20.9M-€21.5M)``."""
    return (
        f"{money(i.estimate, currency)} (95% CI {money(i.low, currency)}–{money(i.high, currency)})"
    )


def _bands(bookings: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    weeks = np.arange(bookings.shape[1] + 1, dtype=float)
    padded = np.hstack([np.zeros((bookings.shape[0], 1)), bookings])
    levels = np.quantile(padded, [0.1, 0.25, 0.5, 0.75, 0.9], axis=0)
    return weeks, {k: levels[i] for i, k in enumerate(("q10", "q25", "q50", "q75", "q90"))}


def charts(
    revenue: np.ndarray, bookings: np.ndarray, scenario: Scenario, prefix: str
) -> tuple[str, str]:
    """The exceedance curve and the bookings fan chart (SVG text) of replications so far."""
    target = scenario.target.revenue
    currency = scenario.economics.currency
    exceedance = exceedance_svg(revenue, target, currency, chart_id=f"{prefix}-exceedance")
    weeks, bands = _bands(bookings)
    start = scenario.target.start_date
    fan = fan_svg(
        weeks,
        bands,
        target,
        currency,
        scenario.target.horizon_weeks,
        start_date=start if isinstance(start, dt.date) else None,
        chart_id=f"{prefix}-fan",
    )
    return exceedance, fan
