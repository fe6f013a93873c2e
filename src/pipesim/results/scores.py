"""Scores of a forecast against what happened: where the outcome fell, Brier, CRPS, coverage.

A forecast here is a run's simulated distribution of bookings (its replications) and its
P(target); the outcome is the bookings the period actually had.

* :func:`percentile_of`: the share of replications below the outcome (ties count half), the
  probability integral transform: uniform over many periods when the forecasts are calibrated.
* :func:`brier`: ``(P(target) - 1{outcome >= target})^2``; 0 is perfect, 0.25 is a coin.
* :func:`crps`: the continuous ranked probability score of the ensemble, in the currency:
  ``E|X - y| - E|X - X'| / 2`` (Gneiting and Raftery 2007), lower is better; it rewards a
  distribution both centred on the outcome and no wider than it needs to be.
* :func:`band_coverage`: how often the outcome fell in the P10-P90 band, with a Wilson
  interval, against the nominal 80%, and the verdict it supports.
"""

from __future__ import annotations

import numpy as np

from pipesim.results.statistics import wilson_interval

NOMINAL_BAND = 0.8
"""The P10-P90 band holds the outcome this often when forecasts are calibrated."""


def percentile_of(ensemble: np.ndarray, outcome: float) -> float:
    """Share of ``ensemble`` below ``outcome``, ties counted half (the PIT value)."""
    x = np.asarray(ensemble, dtype=float)
    below = float((x < outcome).sum())
    ties = float((x == outcome).sum())
    return (below + 0.5 * ties) / len(x)


def brier(p: float, hit: bool) -> float:
    """Brier score of one probability forecast of a yes/no outcome."""
    return (p - (1.0 if hit else 0.0)) ** 2


def crps(ensemble: np.ndarray, outcome: float) -> float:
    """CRPS of an ensemble forecast (the empirical distribution of ``ensemble``) at ``outcome``.

    ``mean|X - y| - mean|X - X'| / 2``, the second term from the sorted ensemble in O(n log n):
    ``sum_i (2i - n - 1) x_(i) / n^2`` is ``mean|X - X'| / 2``.
    """
    x = np.sort(np.asarray(ensemble, dtype=float))
    n = len(x)
    first = float(np.abs(x - outcome).mean())
    ranks = np.arange(1, n + 1)
    spread = float(((2 * ranks - n - 1) * x).sum()) / (n * n)
    return first - spread


def band_coverage(inside: list[bool]) -> dict[str, object]:
    """How often outcomes fell in the P10-P90 band, with its interval, and the verdict.

    ``over-confident`` when the interval lies below 80% (bands too narrow), ``under-confident``
    when it lies above (too wide), ``calibrated`` when it holds 80%; with no period,
    ``no periods``.
    """
    n = len(inside)
    if n == 0:
        return {"periods": 0, "coverage": None, "low": None, "high": None, "verdict": "no periods"}
    hits = int(sum(inside))
    low, high = wilson_interval(hits, n)
    if high < NOMINAL_BAND:
        verdict = "over-confident"
    elif low > NOMINAL_BAND:
        verdict = "under-confident"
    else:
        verdict = "calibrated"
    return {"periods": n, "coverage": hits / n, "low": low, "high": high, "verdict": verdict}
