"""The matplotlib side of the report charts' look: figure creation, axes style, PNG output.

The palette and series styles live in :mod:`pipesim.report.charts.palette` (re-exported here);
colours follow the Okabe-Ito palette and every series also differs in lightness, line style or
hatch, so the charts read in greyscale print. Figures are built with
:class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot state and no global backend
switch), so plotting never opens a window or leaks figures.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pipesim.report.charts.numbers import require_columns
from pipesim.report.charts.palette import (
    BLUE,
    GREEN,
    GREY,
    INK,
    ORANGE,
    PURPLE,
    SERIES_STYLES,
    SKY,
    VERMILLION,
    YELLOW,
    LineStyle,
)

__all__ = [
    "BLUE",
    "GREEN",
    "GREY",
    "INK",
    "ORANGE",
    "PURPLE",
    "SERIES_STYLES",
    "SKY",
    "VERMILLION",
    "WIDE",
    "YELLOW",
    "LineStyle",
    "figure_and_axes",
    "figure_png",
    "money_formatter",
    "require_columns",
    "say_empty",
    "style_axes",
]

WIDE = (9.6, 4.2)
"""Default size (inches) of a full-width chart."""


def figure_and_axes(ax: Axes | None, size: tuple[float, float] = WIDE) -> tuple[Figure, Axes]:
    """The figure of ``ax``, or a new figure (Agg canvas) of ``size`` inches with one axes."""
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def style_axes(ax: Axes) -> None:
    """The house style: no top and right spines, a light grid behind the data."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def say_empty(ax: Axes, message: str) -> None:
    """Replace a chart that has nothing to draw by ``message``, centred, without axes.

    A chart of no data (no opportunities, no leads) would otherwise show empty axes or bars
    of zero that a reader could take for a rendering fault; the message says what happened.
    """
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        wrap=True,
        fontsize=12,
        color=INK,
        bbox={"boxstyle": "round,pad=0.6", "fc": "#f4f6f8", "ec": "#d9dee2"},
    )


def money_formatter(div: float) -> FuncFormatter:
    """Tick labels of an amount axis in units of ``div``: one decimal below 100 unless whole."""

    def fmt(x: float, _pos: int | None) -> str:
        v = x / div
        return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.1f}"

    return FuncFormatter(fmt)


def figure_png(fig: Figure, dpi: int = 150) -> bytes:
    """Render a figure to PNG bytes (no timestamps in the metadata, so output is repeatable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()
