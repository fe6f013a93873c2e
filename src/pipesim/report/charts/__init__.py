"""Report charts: the numbers behind them, SVG charts for the run report, matplotlib for the rest.

Every chart is a stateless function from data to a picture. The numbers behind a chart come from
small pure helpers (:func:`exceedance`, :func:`bookings_quantiles`, :func:`outcome_shares`,
:func:`funnel_counts`, ...) that tests check on hand-made tables.

* :mod:`pipesim.report.charts.numbers`: those helpers (numpy and pandas only).
* :mod:`pipesim.report.charts.palette`: colours, series and outcome styles shared by both kinds.
* :mod:`pipesim.report.charts.svg`: the run report's charts as inline SVG text (no plotting
  library): exceedance curve, revenue histogram, bookings fan, outcomes, stage funnel,
  attainment per rep seat and forecast drift; drawn by :mod:`pipesim.report.charts.svgplot`.
* :mod:`pipesim.report.charts.style`: matplotlib figure creation, the money axis and PNG output.
* :mod:`pipesim.report.charts.revenue`, :mod:`~pipesim.report.charts.outcomes`,
  :mod:`~pipesim.report.charts.reps`: the same charts as matplotlib figures (PNG files on
  request, the comparison page's exceedance overlay).
* :mod:`pipesim.report.charts.comparison`: P(target) per scenario and paired differences.

The matplotlib names are loaded on first use, so a run's report never imports matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipesim.report.charts.numbers import (
    attainment_by_seat,
    bookings_quantiles,
    exceedance,
    exceedance_curve,
    funnel_counts,
    outcome_shares,
    promise_at,
    require_columns,
)
from pipesim.report.charts.palette import (
    BLUE,
    GREEN,
    GREY,
    INK,
    ORANGE,
    OUTCOMES,
    PURPLE,
    SERIES_STYLES,
    SKY,
    VERMILLION,
    YELLOW,
    LineStyle,
)

if TYPE_CHECKING:
    from pipesim.report.charts.comparison import difference_chart, p_target_chart
    from pipesim.report.charts.outcomes import funnel_chart, outcome_chart
    from pipesim.report.charts.reps import attainment_chart
    from pipesim.report.charts.revenue import (
        bookings_fan_chart,
        exceedance_chart,
        revenue_histogram,
    )
    from pipesim.report.charts.style import (
        WIDE,
        figure_and_axes,
        figure_png,
        money_formatter,
        say_empty,
        style_axes,
    )

_MATPLOTLIB: dict[str, str] = {
    "difference_chart": "comparison",
    "p_target_chart": "comparison",
    "funnel_chart": "outcomes",
    "outcome_chart": "outcomes",
    "attainment_chart": "reps",
    "bookings_fan_chart": "revenue",
    "exceedance_chart": "revenue",
    "revenue_histogram": "revenue",
    "WIDE": "style",
    "figure_and_axes": "style",
    "figure_png": "style",
    "money_formatter": "style",
    "say_empty": "style",
    "style_axes": "style",
}
"""Names loaded from a matplotlib module on first use, and the module."""

_SUBMODULES = frozenset(
    {"comparison", "numbers", "outcomes", "palette", "reps", "revenue", "style", "svg", "svgplot"}
)


def __getattr__(name: str) -> Any:
    """The matplotlib charts (and submodules) are imported when first asked for."""
    if name in _MATPLOTLIB:
        # lazy: start-up speed (matplotlib costs about half a second; the run report needs none)
        module = importlib.import_module(f"{__name__}.{_MATPLOTLIB[name]}")
        return getattr(module, name)
    if name in _SUBMODULES:
        # lazy: start-up speed (a submodule such as charts.revenue may import matplotlib)
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BLUE",
    "GREEN",
    "GREY",
    "INK",
    "ORANGE",
    "OUTCOMES",
    "PURPLE",
    "SERIES_STYLES",
    "SKY",
    "VERMILLION",
    "WIDE",
    "YELLOW",
    "LineStyle",
    "attainment_by_seat",
    "attainment_chart",
    "bookings_fan_chart",
    "bookings_quantiles",
    "difference_chart",
    "exceedance",
    "exceedance_chart",
    "exceedance_curve",
    "figure_and_axes",
    "figure_png",
    "funnel_chart",
    "funnel_counts",
    "money_formatter",
    "outcome_chart",
    "outcome_shares",
    "p_target_chart",
    "promise_at",
    "require_columns",
    "revenue_histogram",
    "say_empty",
    "style_axes",
]
