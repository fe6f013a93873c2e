"""Response curves: expected revenue against the effort or spend on one lever.

A :class:`ResponseCurve` is piecewise linear and concave (diminishing returns), so the optimiser
stays a linear programme: with the incremental ("delta") formulation a maximiser fills the
steepest pieces first by itself, no binary variables needed. The revenue values are *changes*
from today's plan: the curve is 0 at today's lever value, and the expected revenue of a plan is
today's simulated mean plus the sum of its curves' values (a separable approximation; the closed
loop checks the plan by simulation).

Curves come from pilot simulations (:mod:`pipesim.optimise.pilot`, fitted by
:func:`concave_fit`) or from judgmental points (:func:`judgement_curve`, CALLPLAN-style: the
response at 0, 50%, 100%, 150% of today's effort and at saturation).

:func:`greedy_allocation` is the independent reference for the separable case: with concave
curves and one budget, taking pieces in decreasing order of net return per unit of budget is
optimal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import lsq_linear

CurveSource = Literal["pilot", "judgement"]
_TOL = 1e-9


@dataclass(frozen=True)
class ResponseCurve:
    """Expected revenue change over the horizon as a piecewise-linear concave function of a lever.

    Attributes
    ----------
    lever
        Lever key (a scenario key, see :mod:`pipesim.optimise.levers`).
    unit
        Unit of the lever value (``EUR per week``, ``hours per rep per week``, ...).
    levels
        Breakpoints, increasing. The first is the lowest value the plan may choose, the last the
        highest (the curve's domain ends there: effort beyond it is not modelled).
    revenue
        Expected revenue change over the horizon (currency) at each breakpoint, relative to today.
    today
        Today's lever value (the curve is 0 there).
    source
        ``"pilot"`` or ``"judgement"``.
    opportunities
        Change in new opportunities per rep per week at each breakpoint, when known.
    points
        The raw points the curve was fitted to: ``(level, revenue change, standard error)``.
    note
        How the curve was obtained, for the report.
    """

    lever: str
    unit: str
    levels: tuple[float, ...]
    revenue: tuple[float, ...]
    today: float
    source: CurveSource
    opportunities: tuple[float, ...] | None = None
    points: tuple[tuple[float, float, float], ...] = field(default=())
    note: str = ""

    def __post_init__(self) -> None:
        if len(self.levels) < 1 or len(self.levels) != len(self.revenue):
            raise ValueError(f"{self.lever}: levels and revenue must have the same length >= 1")
        if any(b <= a for a, b in itertools.pairwise(self.levels)):
            raise ValueError(f"{self.lever}: levels must be strictly increasing")
        if self.opportunities is not None and len(self.opportunities) != len(self.levels):
            raise ValueError(f"{self.lever}: opportunities must match levels")
        slopes = self.slopes
        scale = max(1.0, max((abs(s) for s in slopes), default=1.0))
        if any(b > a + 1e-7 * scale for a, b in itertools.pairwise(slopes)):
            raise ValueError(f"{self.lever}: the curve is not concave (slopes must not increase)")

    @property
    def lo(self) -> float:
        """Lowest lever value on the curve."""
        return self.levels[0]

    @property
    def hi(self) -> float:
        """Highest lever value on the curve."""
        return self.levels[-1]

    @property
    def slopes(self) -> list[float]:
        """Revenue per unit of the lever on each piece, non-increasing."""
        lv, rv = self.levels, self.revenue
        return [(rv[k + 1] - rv[k]) / (lv[k + 1] - lv[k]) for k in range(len(lv) - 1)]

    def pieces(self) -> list[tuple[float, float]]:
        """``(width, slope)`` of each piece, in order."""
        lv = self.levels
        return [(lv[k + 1] - lv[k], s) for k, s in enumerate(self.slopes)]

    def value(self, x: float) -> float:
        """Revenue change at lever value ``x`` (linear interpolation; clamped to the domain)."""
        return float(np.interp(x, self.levels, self.revenue))

    def opportunities_at(self, x: float) -> float:
        """Change in new opportunities per rep per week at ``x`` (0 when not known)."""
        if self.opportunities is None:
            return 0.0
        return float(np.interp(x, self.levels, self.opportunities))


def concave_fit(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Weighted least-squares concave piecewise-linear fit with knots at the distinct ``x``.

    Returns the fitted values at the sorted distinct ``x`` (means of repeated ``x`` are fitted
    with their weights summed). Concavity is imposed by writing the slopes as a first slope minus
    non-negative decrements, a small bounded least-squares problem.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    ws = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=float)
    if xs.size == 0 or xs.size != ys.size or xs.size != ws.size:
        raise ValueError("x, y and weights must be non-empty and of equal length")
    knots, inverse = np.unique(xs, return_inverse=True)
    n = knots.size
    w_sum = np.bincount(inverse, weights=ws, minlength=n)
    y_mean = np.bincount(inverse, weights=ws * ys, minlength=n) / np.where(w_sum > 0, w_sum, 1)
    if n <= 2:
        return y_mean
    # theta = [v1, d1, e1 .. e_{n-2}]: v_j = v1 + sum_{k<j} gap_k * (d1 - sum_{i<k} e_i)
    a = np.zeros((n, n))
    a[:, 0] = 1.0
    for j in range(1, n):
        a[j, 1] = knots[j] - knots[0]
        for i in range(1, j):  # decrement e_i lowers every piece from i on
            a[j, 1 + i] = -(knots[j] - knots[i])
    sw = np.sqrt(w_sum)
    lower = np.r_[-np.inf, -np.inf, np.zeros(n - 2)]
    res = lsq_linear(a * sw[:, None], y_mean * sw, bounds=(lower, np.full(n, np.inf)))
    fitted: np.ndarray = a @ res.x
    return fitted


def curve_from_points(
    lever: str,
    unit: str,
    today: float,
    points: Sequence[tuple[float, float, float]],
    source: CurveSource,
    opportunities: Mapping[float, float] | None = None,
    note: str = "",
) -> ResponseCurve:
    """Fit a concave curve to ``(level, revenue change, standard error)`` points.

    Points are weighted by ``1 / se²`` (today's point, with no error against itself, is given
    the largest weight), and the fit is shifted so the curve is exactly 0 at ``today``.
    """
    if not points:
        raise ValueError(f"{lever}: no points to fit")
    lv = [p[0] for p in points]
    rv = [p[1] for p in points]
    ses = [p[2] for p in points]
    positive = [s for s in ses if s > 0 and math.isfinite(s)]
    floor = min(positive) / 10 if positive else 1.0
    weights = [1.0 / max(s if math.isfinite(s) else floor, floor) ** 2 for s in ses]
    knots = np.unique(np.asarray(lv, dtype=float))
    fitted = concave_fit(lv, rv, weights)
    fitted = fitted - float(np.interp(today, knots, fitted))
    opps = None
    if opportunities is not None:
        o = [opportunities.get(float(k), math.nan) for k in knots]
        if not any(math.isnan(v) for v in o):
            opps = tuple(float(v) for v in o)
    return ResponseCurve(
        lever=lever,
        unit=unit,
        levels=tuple(float(k) for k in knots),
        revenue=tuple(float(v) for v in fitted),
        today=today,
        source=source,
        opportunities=opps,
        points=tuple((float(a), float(b), float(c)) for a, b, c in points),
        note=note,
    )


def judgement_curve(
    lever: str,
    unit: str,
    today: float,
    revenue: Sequence[float],
    *,
    levels: Sequence[float] | None = None,
    multiples: Sequence[float] | None = None,
    saturation: float = 3.0,
    base_revenue: float | None = None,
    opportunities: Sequence[float] | None = None,
) -> ResponseCurve:
    """A curve from judgmental points (CALLPLAN): expected revenue at given lever values.

    ``revenue`` is the expected revenue over the horizon at each point (absolute, or relative to
    ``base_revenue`` when that is given: 1.0 = today). Levels are ``levels``, else ``multiples``
    of ``today``, else CALLPLAN's 0, 0.5, 1, 1.5 and ``saturation`` times today. Points that are
    not concave are replaced by their least-squares concave fit (the note says so).
    """
    if levels is None:
        if today <= 0:
            raise ValueError(f"{lever}: today's value is 0, so give absolute levels")
        mult = list(multiples) if multiples is not None else [0.0, 0.5, 1.0, 1.5, saturation]
        levels = [m * today for m in mult]
    if len(levels) != len(revenue):
        raise ValueError(f"{lever}: {len(revenue)} revenue values for {len(levels)} levels")
    order = np.argsort(levels)
    lv = np.asarray(levels, dtype=float)[order]
    rv = np.asarray(revenue, dtype=float)[order]
    if base_revenue is not None:
        rv = rv * base_revenue
    if np.any(np.diff(lv) <= 0):
        raise ValueError(f"{lever}: judgmental levels must be distinct")
    if not lv[0] <= today <= lv[-1]:
        raise ValueError(f"{lever}: today's value {today:g} is outside the judged levels")
    fitted = concave_fit(lv, rv)
    made_concave = bool(np.max(np.abs(fitted - rv)) > 1e-6 * max(1.0, float(np.max(np.abs(rv)))))
    fitted = fitted - float(np.interp(today, lv, fitted))
    opps = None
    if opportunities is not None:
        ov = np.asarray(opportunities, dtype=float)[order]
        opps = tuple(float(v) for v in ov - float(np.interp(today, lv, ov)))
    note = "judgmental points" + (" (made concave by least squares)" if made_concave else "")
    return ResponseCurve(
        lever=lever,
        unit=unit,
        levels=tuple(float(v) for v in lv),
        revenue=tuple(float(v) for v in fitted),
        today=today,
        source="judgement",
        opportunities=opps,
        points=tuple(
            (float(a), float(b) - float(np.interp(today, lv, rv)), 0.0)
            for a, b in zip(lv, rv, strict=True)
        ),
        note=note,
    )


def greedy_allocation(
    curves: Mapping[str, ResponseCurve],
    budget: float,
    *,
    value_per_revenue: float = 1.0,
    cost_per_unit: Mapping[str, float] | None = None,
    budget_per_unit: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Greedy marginal allocation: optimal for separable concave curves and one budget.

    Maximises ``sum(value_per_revenue * curve(x) - cost_per_unit * x)`` subject to
    ``sum(budget_per_unit * x) <= budget`` and each ``x`` within its curve's domain. Every lever
    starts at its lowest level; pieces are then taken whole, or the last one in part, in
    decreasing order of net return per unit of budget while that return is positive.
    """
    cost = dict(cost_per_unit or {})
    use = dict(budget_per_unit or {})
    x = {k: c.lo for k, c in curves.items()}
    left = budget - sum(use.get(k, 1.0) * c.lo for k, c in curves.items())
    if left < -_TOL:
        raise ValueError("the budget does not cover the curves' lowest levels")
    pieces = []
    for key, curve in curves.items():
        per_budget = use.get(key, 1.0)
        for width, slope in curve.pieces():
            net = value_per_revenue * slope - cost.get(key, 0.0)
            pieces.append((net / per_budget, key, width, per_budget))
    # a stable sort keeps each curve's pieces in order when returns tie (they are concave)
    pieces.sort(key=lambda p: -p[0])
    for ratio, key, width, per_budget in pieces:
        if ratio <= 0 or left <= _TOL:
            break
        take = min(width, left / per_budget)
        x[key] += take
        left -= take * per_budget
    return x
