"""Where leads end and how far pursued opportunities get: outcome shares and the stage funnel.

:func:`outcome_shares` and :func:`funnel_counts` (in :mod:`pipesim.report.charts.numbers`,
re-exported here) compute the numbers from the replications table; :func:`outcome_chart` and
:func:`funnel_chart` draw them with matplotlib (the run report draws them as SVG).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from pipesim.report.charts.numbers import funnel_counts, funnel_labels, outcome_shares
from pipesim.report.charts.palette import DARK_FILLS, OUTCOMES
from pipesim.report.charts.style import (
    BLUE,
    GREEN,
    INK,
    WIDE,
    figure_and_axes,
    say_empty,
    style_axes,
)
from pipesim.scenario.schema import STAGES

__all__ = ["OUTCOMES", "funnel_chart", "funnel_counts", "outcome_chart", "outcome_shares"]


def outcome_chart(
    table: pd.DataFrame,
    segments: Sequence[str] = (),
    *,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Stacked bars: the share of leads ending in each outcome, overall and per segment.

    Parameters
    ----------
    table
        Replications table with the outcome columns (see :func:`outcome_shares`).
    segments
        Segments to show under the overall bar.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    shares = outcome_shares(table, segments)
    groups = list(dict.fromkeys(shares["group"]))
    fig, ax = figure_and_axes(ax, (WIDE[0], 1.4 + 0.55 * len(groups)))
    leads = shares.groupby("group", sort=False)["mean"].sum()
    if not (leads > 0).any():
        say_empty(ax, f"No leads arrived in any simulated {period}: no lead has an outcome.")
        return fig
    y = np.arange(len(groups))[::-1].astype(float)
    present: list[str] = []
    for outcome in OUTCOMES:
        sub = shares[shares["outcome"] == outcome]
        if sub.empty:
            continue
        present.append(outcome)
    left = np.zeros(len(groups))
    for outcome in present:
        label, colour, hatch = OUTCOMES[outcome]
        sub = shares[shares["outcome"] == outcome].set_index("group")["share"]
        vals = np.array([float(sub.get(g, 0.0)) for g in groups])
        vals = np.nan_to_num(vals)
        ax.barh(
            y,
            vals,
            left=left,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            linewidth=0.8,
            height=0.62,
            label=label,
        )
        for yi, li, v in zip(y, left, vals, strict=True):
            if v >= 0.045:
                ax.text(
                    li + v / 2,
                    yi,
                    f"{v:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if colour in DARK_FILLS else INK,
                    bbox={"boxstyle": "round,pad=0.15", "fc": colour, "ec": "none"},
                )
        left += vals
    for yi, g in zip(y, groups, strict=True):
        if not leads.get(g, 0.0) > 0:
            ax.text(0.01, yi, "no leads", va="center", fontsize=8.5, color=INK, style="italic")
    ax.set_yticks(y, groups)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"Share of leads (mean over simulated {period}s)")
    ax.legend(
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2 - 0.5 / len(groups)),
        ncol=4,
        fontsize=8.5,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def funnel_chart(table: pd.DataFrame, *, period: str = "year", ax: Axes | None = None) -> Figure:
    """Pursued opportunities reaching awareness -> interest -> preference -> decision -> won.

    Parameters
    ----------
    table
        Replications table with ``funnel_<stage>`` and ``won_opportunities`` columns.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    f = funnel_counts(table)
    fig, ax = figure_and_axes(ax, (WIDE[0], 3.4))
    if not float(f["mean"].iloc[0]) > 0:
        say_empty(
            ax,
            f"No opportunities were pursued in any simulated {period}:\n"
            "every lead was disqualified, never picked up or still waiting at the horizon end.",
        )
        return fig
    y = np.arange(len(f))[::-1].astype(float)
    colours = [BLUE] * (len(f) - 1) + [GREEN]
    ax.barh(y, f["mean"], color=colours, height=0.62)
    first = float(f["mean"].iloc[0])
    for yi, row in zip(y, f.itertuples(index=False), strict=True):
        text = f"{row.mean:,.0f}  ({row.share_of_first:.0%})"
        if row.step != STAGES[0] and not np.isnan(row.drop_from_previous):
            text += f"   −{row.drop_from_previous:.0%} from previous step"
        ax.text(float(row.mean) + first * 0.01, yi, text, va="center", fontsize=9, color=INK)
    labels = funnel_labels(f["step"])
    ax.set_yticks(y, labels)
    ax.set_xlim(0, first * 1.55)
    ax.set_xlabel(f"Pursued opportunities per simulated {period} reaching the step")
    style_axes(ax)
    ax.grid(False, axis="y")
    return fig
