"""Report charts: each a stateless function from tidy results (plus an optional axes) to a Figure.

Every plot checks the columns it needs and raises :class:`ValueError` naming the missing ones.
The numbers behind a chart come from small pure helpers (:func:`exceedance`,
:func:`bookings_quantiles`, :func:`outcome_shares`, :func:`funnel_counts`, ...) that tests check
on hand-made tables.

* :mod:`pipesim.report.charts.style`: palette, series styles, figure creation, the money axis
  and PNG output, shared by every chart.
* :mod:`pipesim.report.charts.revenue`: exceedance curve, revenue histogram, bookings fan chart.
* :mod:`pipesim.report.charts.outcomes`: where leads end and the stage funnel.
* :mod:`pipesim.report.charts.reps`: quota attainment per rep seat.
* :mod:`pipesim.report.charts.comparison`: P(target) per scenario and paired differences.
"""

from __future__ import annotations

from pipesim.report.charts.comparison import difference_chart, p_target_chart
from pipesim.report.charts.outcomes import (
    OUTCOMES,
    funnel_chart,
    funnel_counts,
    outcome_chart,
    outcome_shares,
)
from pipesim.report.charts.reps import attainment_by_seat, attainment_chart
from pipesim.report.charts.revenue import (
    bookings_fan_chart,
    bookings_quantiles,
    exceedance,
    exceedance_chart,
    exceedance_curve,
    promise_at,
    revenue_histogram,
)
from pipesim.report.charts.style import (
    BLUE,
    GREEN,
    GREY,
    INK,
    ORANGE,
    PURPLE,
    SERIES_STYLES,
    SKY,
    VERMILLION,
    WIDE,
    YELLOW,
    LineStyle,
    figure_and_axes,
    figure_png,
    money_formatter,
    require_columns,
    say_empty,
    style_axes,
)

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
