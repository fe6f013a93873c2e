"""The revenue charts of the run report: exceedance curve, revenue histogram and bookings fan.

The numbers behind them (:func:`exceedance`, :func:`exceedance_curve`, :func:`promise_at`,
:func:`bookings_quantiles`, :func:`histogram_edges`) live in :mod:`pipesim.report.charts.numbers`
(re-exported here); the run report draws the same charts as SVG
(:mod:`pipesim.report.charts.svg`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from pipesim.report.charts.numbers import (
    bookings_quantiles,
    default_bins,
    exceedance,
    exceedance_curve,
    histogram_edges,
    promise_at,
)
from pipesim.report.charts.style import (
    BLUE,
    GREY,
    INK,
    SERIES_STYLES,
    SKY,
    VERMILLION,
    figure_and_axes,
    money_formatter,
    require_columns,
    style_axes,
)
from pipesim.report.data import money, money_axis_label, money_unit

__all__ = [
    "bookings_fan_chart",
    "bookings_quantiles",
    "exceedance",
    "exceedance_chart",
    "exceedance_curve",
    "histogram_edges",
    "promise_at",
    "revenue_histogram",
]


def exceedance_chart(
    table: pd.DataFrame,
    target: float | Mapping[str, float],
    currency: str,
    *,
    confidence: float | None = 0.8,
    ax: Axes | None = None,
) -> Figure:
    """P(revenue >= x) against x, with the target marked.

    Parameters
    ----------
    table
        Column ``revenue`` (one row per replication); with a ``scenario`` column, one curve per
        scenario is overlaid.
    target
        Revenue target (currency), or a mapping scenario -> target when overlaying.
    currency
        ISO currency code for the axis label.
    confidence
        Mark the revenue reached with this probability (a "what can we promise" guide line);
        None for no mark. Only drawn for a single curve.
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(table, ["revenue"], "exceedance_chart")
    fig, ax = figure_and_axes(ax)
    groups: list[tuple[str | None, np.ndarray]]
    if "scenario" in table.columns:
        groups = [
            (str(k), g["revenue"].to_numpy(float)) for k, g in table.groupby("scenario", sort=False)
        ]
    else:
        groups = [(None, table["revenue"].to_numpy(float))]
    if isinstance(target, Mapping):
        targets = {str(k): float(v) for k, v in target.items()}
        first_target = next(iter(targets.values()))
    else:
        targets, first_target = {}, float(target)
    div, _ = money_unit(first_target)
    for k, (name, rev) in enumerate(groups):
        colour, style = SERIES_STYLES[k % len(SERIES_STYLES)]
        curve = exceedance_curve(rev)
        # P(R >= x) is p_k on (x_{k-1}, x_k]: a "pre" step; drop to 0 after the largest value
        xs = np.concatenate([curve["x"].to_numpy(), [curve["x"].iloc[-1]]])
        ps = np.concatenate([curve["p_exceed"].to_numpy(), [0.0]])
        ax.step(
            xs,
            ps,
            where="pre",
            color=colour,
            linestyle=style,
            linewidth=2.2,
            label=name if name is not None else "simulated revenue",
        )
        t = targets.get(name, first_target) if name is not None else first_target
        p_t = exceedance(rev, t)
        ax.plot(
            [t], [p_t], marker="o", markersize=7, color=colour, markeredgecolor="white", zorder=5
        )
        if len(groups) == 1:
            ax.annotate(
                f"P(≥ target) = {p_t:.0%}",
                (t, p_t),
                xytext=(10, 8),
                textcoords="offset points",
                fontsize=10,
                color=INK,
                weight="bold",
            )
    for t in sorted(set(targets.values()) if targets else {first_target}):
        ax.axvline(t, color=INK, linestyle="--", linewidth=1.3)
        ax.annotate(
            f"target {money(t, currency)}",
            (t, 1.0),
            xytext=(4, -2),
            textcoords="offset points",
            va="top",
            fontsize=9,
            color=INK,
        )
    if confidence is not None and len(groups) == 1:
        x_c = promise_at(groups[0][1], confidence)
        left_x, right_x = ax.get_xlim()
        ax.hlines(confidence, left_x, x_c, color=GREY, linestyle=":", linewidth=1.3)
        ax.vlines(x_c, 0, confidence, color=GREY, linestyle=":", linewidth=1.3)
        near_left = x_c - left_x < 0.3 * (right_x - left_x)  # no room for the words on the left
        ax.annotate(
            f"{confidence:.0%} sure of at least {money(x_c, currency)}",
            (x_c, confidence),
            xytext=(8 if near_left else -8, 8),
            textcoords="offset points",
            ha="left" if near_left else "right",
            fontsize=9,
            color=INK,
        )
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(money_formatter(div))
    ax.set_xlabel(money_axis_label("Revenue over the horizon", currency, div))
    ax.set_ylabel("Chance of reaching at least x")
    if len(groups) > 1:
        ax.legend(frameon=False, loc="lower left")
    style_axes(ax)
    return fig


def revenue_histogram(
    table: pd.DataFrame,
    target: float,
    currency: str,
    *,
    bins: int | None = None,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Histogram of simulated revenue with the target line and P10 / P50 / P90 marks.

    Parameters
    ----------
    table
        Column ``revenue``, one row per replication.
    target
        Revenue target (currency).
    currency
        ISO currency code for the axis label.
    bins
        Number of bins (default: about sqrt(n), 10 to 50).
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(table, ["revenue"], "revenue_histogram")
    rev = table["revenue"].to_numpy(float)
    fig, ax = figure_and_axes(ax)
    div, _ = money_unit(target)
    n_bins = bins or default_bins(rev.size)
    edges = histogram_edges(rev, target, n_bins)
    counts, edges = np.histogram(rev, bins=edges)
    share = counts / max(rev.size, 1)
    mids = (edges[:-1] + edges[1:]) / 2
    reached = edges[:-1] >= target  # the target is an edge: no bar straddles it
    width = np.diff(edges)
    ax.bar(
        mids[~reached],
        share[~reached],
        width=width[~reached],
        color="#c7c7c7",
        edgecolor="white",
        label="below target",
    )
    ax.bar(
        mids[reached],
        share[reached],
        width=width[reached],
        color=BLUE,
        edgecolor="white",
        label="target reached",
    )
    ax.axvline(
        target, color=INK, linestyle="--", linewidth=1.6, label=f"target {money(target, currency)}"
    )
    top = float(share.max()) if share.size else 1.0
    marks: list[tuple[list[str], float]] = []  # percentiles that print as one amount share a box
    for q, label in ((10, "P10"), (50, "P50"), (90, "P90")):
        x = float(np.percentile(rev, q))
        if marks and money(marks[-1][1], currency) == money(x, currency):
            marks[-1][0].append(label)
        else:
            marks.append(([label], x))
    span = float(edges[-1] - edges[0])
    level, prev_x = 0, -np.inf
    for k, (labels, x) in enumerate(marks):
        ax.axvline(
            x,
            color=VERMILLION,
            linestyle=":",
            linewidth=1.4,
            label="P10 / P50 / P90" if k == 0 else None,
        )
        level = level + 1 if x - prev_x < 0.16 * span else 0  # lift a box that would overlap
        prev_x = x
        at = (x - edges[0]) / span if span > 0 else 0.5  # keep the box inside the axes
        ax.annotate(
            f"{' = '.join(labels)} {money(x, currency)}",
            (x, top * (1.04 + 0.09 * level)),
            ha="left" if at < 0.08 else "right" if at > 0.92 else "center",
            va="bottom",
            fontsize=8.5,
            color=INK,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": VERMILLION},
        )
    ax.set_ylim(0, top * 1.22 if len(marks) < 2 else top * 1.4)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v * 100, 6):g}%"))
    ax.xaxis.set_major_formatter(money_formatter(div))
    ax.set_xlabel(money_axis_label("Revenue over the horizon", currency, div))
    ax.set_ylabel(f"Share of simulated {period}s")
    mass_left = float(np.median(rev)) < (edges[0] + edges[-1]) / 2 if rev.size else False
    ax.legend(frameon=False, loc="best" if mass_left else "upper left")
    style_axes(ax)
    return fig


def bookings_fan_chart(
    bookings: pd.DataFrame,
    target: float,
    currency: str,
    horizon_weeks: float,
    *,
    start_date: dt.date | None = None,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Cumulative bookings over the horizon: median, P25-P75 and P10-P90 bands, against target.

    Parameters
    ----------
    bookings
        Columns ``replication``, ``week`` (1 = end of the first week), ``cumulative_bookings``.
    target
        Revenue target at the horizon end (currency).
    currency
        ISO currency code for the axis label.
    horizon_weeks
        Horizon length (weeks); the linear pace runs from 0 to ``target`` over it.
    start_date
        Calendar date of week 0; the x axis shows dates when given, week numbers otherwise.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the legend.
    ax
        Axes to draw into; a new figure when None.
    """
    q = bookings_quantiles(bookings)
    fig, ax = figure_and_axes(ax)
    div, _ = money_unit(target)
    weeks = q.index.to_numpy(float)

    def x_of(w: np.ndarray) -> np.ndarray:
        if start_date is None:
            return w
        return np.array([start_date + dt.timedelta(days=7 * float(v)) for v in w])

    x = x_of(weeks)
    ax.fill_between(
        x,
        q["q10"],
        q["q90"],
        color=SKY,
        alpha=0.35,
        linewidth=0,
        label=f"P10-P90 (8 in 10 {period}s)",
    )
    ax.fill_between(
        x,
        q["q25"],
        q["q75"],
        color=BLUE,
        alpha=0.45,
        linewidth=0,
        label=f"P25-P75 (half of {period}s)",
    )
    ax.plot(x, q["q50"], color=BLUE, linewidth=2.4, label="median")
    pace_w = np.array([0.0, horizon_weeks])
    ax.plot(
        x_of(pace_w),
        [0.0, target],
        color=INK,
        linestyle="--",
        linewidth=1.4,
        label="linear pace to target",
    )
    ax.plot(
        x_of(np.array([horizon_weeks])),
        [target],
        marker="D",
        markersize=8,
        color=INK,
        linestyle="none",
        label=f"target {money(target, currency)}",
    )
    ax.axhline(target, color=INK, linestyle=":", linewidth=0.9)
    ax.yaxis.set_major_formatter(money_formatter(div))
    ax.set_ylabel(money_axis_label("Cumulative bookings", currency, div))
    if start_date is None:
        ax.set_xlabel("Week of the horizon")
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=13)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel(f"Date (horizon starts {start_date.isoformat()})")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left")
    style_axes(ax)
    return fig
