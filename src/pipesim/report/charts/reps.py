"""Quota attainment per rep seat across replications: the box-plot chart (matplotlib).

The table behind it, :func:`attainment_by_seat`, lives in :mod:`pipesim.report.charts.numbers`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from pipesim.report.charts.numbers import attainment_by_seat
from pipesim.report.charts.style import (
    INK,
    SKY,
    VERMILLION,
    figure_and_axes,
    style_axes,
)


def attainment_chart(reps: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Box plots of quota attainment per rep seat across replications, against 100%.

    Parameters
    ----------
    reps
        Columns ``seat``, ``rep``, ``attainment`` (1.0 = quota), one row per replication and seat.
    ax
        Axes to draw into; a new figure when None.
    """
    order = attainment_by_seat(reps)
    fig, ax = figure_and_axes(ax)
    data = [reps.loc[reps["seat"] == s, "attainment"].to_numpy(float) for s in order["seat"]]
    ax.boxplot(
        data,
        tick_labels=list(order["rep"].astype(str)),
        whis=(10, 90),
        showfliers=False,
        patch_artist=True,
        widths=0.6,
        boxprops={"facecolor": SKY, "edgecolor": INK},
        medianprops={"color": INK, "linewidth": 2},
        whiskerprops={"color": INK},
        capprops={"color": INK},
    )
    ax.axhline(1.0, color=VERMILLION, linestyle="--", linewidth=1.5, label="quota (100%)")
    if not (reps["attainment"].fillna(0.0) > 0).any():
        ax.text(
            0.5,
            0.5,
            "No seat booked anything: every seat at 0% in every replication",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color=INK,
        )
    ax.legend(frameon=False, loc="lower left")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Quota attainment")
    ax.set_xlabel("Rep seat (sorted by median; box P25-P75, whiskers P10-P90)")
    ax.tick_params(axis="x", labelrotation=45 if len(data) > 10 else 0)
    style_axes(ax)
    ax.grid(False, axis="x")
    return fig
