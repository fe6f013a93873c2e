"""Charts of a scenario comparison: P(target) per scenario; paired against unpaired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from pipesim.report.charts.style import (
    BLUE,
    GREY,
    INK,
    SERIES_STYLES,
    WIDE,
    figure_and_axes,
    require_columns,
    style_axes,
)


def p_target_chart(rows: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """P(target) per scenario with its 95% interval (dot and whisker).

    Parameters
    ----------
    rows
        Columns ``scenario``, ``estimate``, ``ci_low``, ``ci_high`` (probabilities).
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(rows, ["scenario", "estimate", "ci_low", "ci_high"], "p_target_chart")
    fig, ax = figure_and_axes(ax, (WIDE[0], 1.2 + 0.6 * len(rows)))
    y = np.arange(len(rows))[::-1].astype(float)
    for k, (yi, row) in enumerate(zip(y, rows.itertuples(index=False), strict=True)):
        colour, _ = SERIES_STYLES[k % len(SERIES_STYLES)]
        ax.errorbar(
            [row.estimate],
            [yi],
            xerr=[[row.estimate - row.ci_low], [row.ci_high - row.estimate]],
            fmt="o",
            color=colour,
            markersize=9,
            capsize=5,
            linewidth=2,
        )
        ax.annotate(
            f"{row.estimate:.0%}  ({row.ci_low * 100:.0f}–{row.ci_high:.0%})",
            (row.ci_high, yi),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=9.5,
        )
    ax.set_yticks(y, list(rows["scenario"].astype(str)))
    ax.set_xlim(0, 1.18)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("Chance of reaching the target (95% interval)")
    style_axes(ax)
    ax.grid(False, axis="y")
    return fig


def difference_chart(diffs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Paired against unpaired 95% intervals of the difference in P(target), per scenario.

    Parameters
    ----------
    diffs
        Columns ``scenario``, ``estimate``, ``paired_low``, ``paired_high``, ``unpaired_low``,
        ``unpaired_high`` (probabilities).
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(
        diffs,
        ["scenario", "estimate", "paired_low", "paired_high", "unpaired_low", "unpaired_high"],
        "difference_chart",
    )
    fig, ax = figure_and_axes(ax, (WIDE[0], 1.3 + 0.75 * len(diffs)))
    y = np.arange(len(diffs))[::-1].astype(float)
    for yi, row in zip(y, diffs.itertuples(index=False), strict=True):
        ax.errorbar(
            [row.estimate],
            [yi - 0.14],
            xerr=[[row.estimate - row.unpaired_low], [row.unpaired_high - row.estimate]],
            fmt="s",
            color=GREY,
            capsize=4,
            linewidth=1.6,
            linestyle="none",
            markersize=6,
        )
        ax.errorbar(
            [row.estimate],
            [yi + 0.14],
            xerr=[[row.estimate - row.paired_low], [row.paired_high - row.estimate]],
            fmt="o",
            color=BLUE,
            capsize=5,
            linewidth=2.6,
            markersize=8,
        )
    ax.axvline(0, color=INK, linewidth=1)
    ax.set_yticks(y, [f"{s}" for s in diffs["scenario"]])
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v * 100, 6):+g} pp"))
    ax.set_xlabel("Change in chance of reaching target vs reference (percentage points)")
    ax.plot([], [], "o-", color=BLUE, label="paired (common random numbers)")
    ax.plot([], [], "s-", color=GREY, label="unpaired (as if independent runs)")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    style_axes(ax)
    ax.grid(False, axis="y")
    return fig
