"""SVG chart of past forecasts against what happened (``pipesim scorecard``)."""

from __future__ import annotations

from collections.abc import Sequence

from pipesim.report.charts.palette import BLUE, INK, SKY, VERMILLION
from pipesim.report.charts.svgplot import (
    Key,
    category_plot,
    esc,
    money_tick,
    nice_ticks,
)

RIGHT = 18.0


def scorecard_svg(
    labels: Sequence[str],
    bands: Sequence[tuple[float, float, float]],
    realised: Sequence[float],
    targets: Sequence[float],
    currency: str,
    *,
    chart_id: str = "scorecard",
) -> str:
    """Each forecast's P10-P90 band and median beside the bookings the period had, in order.

    Parameters
    ----------
    labels
        One label per forecast (e.g. its period's end), left to right.
    bands
        ``(p10, p50, p90)`` of each forecast's bookings.
    realised
        The bookings each period actually had.
    targets
        Each forecast's target (a short dashed line).
    """
    keys = [
        Key("forecast P10-P90", SKY, "box"),
        Key("forecast median", INK, "line"),
        Key("what happened", VERMILLION, "diamond"),
        Key("target", BLUE, "line", "5 3"),
    ]
    values = [v for b in bands for v in b] + list(realised) + list(targets)
    top_value = max(values, default=1.0)
    div = 1e6 if top_value >= 1e6 else (1e3 if top_value >= 1e3 else 1.0)
    suffix = {1e6: "M", 1e3: "k", 1.0: ""}[div]
    y_lo, y_hi, y_vals = nice_ticks(0.0, top_value, 6)
    y_ticks = [(v, money_tick(v, div)) for v in y_vals]
    c, f, slot = category_plot(
        labels,
        (y_lo, y_hi),
        y_ticks,
        keys,
        chart_id,
        "Forecast period (end)",
        f"Bookings ({suffix} {currency})".replace(" )", ")"),
    )
    half = min(slot * 0.25, 18.0)
    inside = 0
    for k, ((p10, p50, p90), y, t) in enumerate(zip(bands, realised, targets, strict=True)):
        x = f.x(k + 0.5)
        c.rect(x - half, f.y(p90), 2 * half, f.y(p10) - f.y(p90), SKY, stroke=INK)
        c.line(x - half, f.y(p50), x + half, f.y(p50), INK, 2.0)
        c.line(x - half * 1.4, f.y(t), x + half * 1.4, f.y(t), BLUE, 1.5, "5 3")
        tag = f'class="realised" data-label="{esc(labels[k])}" data-value="{y!r}"'
        c.diamond(x, f.y(y), 5.0, VERMILLION, attrs=tag)
        inside += p10 <= y <= p90
    desc = (
        f"{len(labels)} past forecasts: what happened fell inside the forecast's P10-P90 band "
        f"{inside} times."
    )
    return c.document("Past forecasts against what happened", desc, chart_id)
