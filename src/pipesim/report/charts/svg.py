"""The run report's charts as SVG text: data in, one ``<svg>`` string out, in milliseconds.

Each function takes plain numbers (sequences, mappings; numpy arrays and pandas Series do too)
and returns a self-contained ``<svg>`` element with an accessible ``<title>`` and ``<desc>``, to
be embedded in a page or saved as a ``.svg`` file. They keep no state between calls, so a page
may redraw a chart whenever its data change. The charts show what the report's matplotlib charts
showed (same labels, target marks, currency formatting and palette), with axes at round values
and the legend beside the plot rather than over the data.

* :func:`exceedance_svg`: P(revenue >= x) with the target and what can be promised.
* :func:`histogram_svg`: revenue histogram, bars at or above the target in blue.
* :func:`fan_svg`: cumulative bookings, median and P25-P75 / P10-P90 bands, against target pace.
* :func:`outcomes_svg`, :func:`funnel_svg`, :func:`attainment_svg`
  (:mod:`pipesim.report.charts.svg_drivers`): where leads end, the stage funnel, quota per seat.
* :func:`drift_svg` (:mod:`pipesim.report.charts.svg_drift`): the forecast run by run.

Elements carry ``data-`` attributes with the values they show (``data-share`` of a bar,
``data-value`` of a tick, ...), so tests and scripts can read a chart without parsing geometry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np

from pipesim.report.charts.numbers import (
    default_bins,
    exceedance,
    exceedance_steps,
    histogram_edges,
    promise_at,
)
from pipesim.report.charts.palette import BELOW_TARGET, BLUE, GREY, INK, SKY, VERMILLION
from pipesim.report.charts.svg_drift import drift_svg
from pipesim.report.charts.svg_drivers import (
    attainment_svg,
    funnel_svg,
    outcomes_svg,
    quota_chances_svg,
)
from pipesim.report.charts.svgplot import (
    BOTTOM,
    SMALL,
    WIDTH,
    Canvas,
    Frame,
    Key,
    Scale,
    date_ticks,
    grid_and_axes,
    left_margin,
    money_tick,
    nice_ticks,
    percent_tick,
    text_width,
)
from pipesim.report.data import money, money_axis_label, money_unit

__all__ = [
    "attainment_svg",
    "drift_svg",
    "exceedance_svg",
    "fan_svg",
    "funnel_svg",
    "histogram_svg",
    "outcomes_svg",
    "quota_chances_svg",
]

RIGHT = 18.0
"""Room right of the plot (the last tick label's half)."""


def _values(revenue: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(revenue, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("a revenue chart needs at least one finished replication")
    return v


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def exceedance_svg(
    revenue: Sequence[float] | np.ndarray,
    target: float,
    currency: str,
    *,
    confidence: float | None = 0.8,
    period: str = "year",
    chart_id: str = "exceedance",
) -> str:
    """P(revenue >= x) against x: the exceedance curve, the target and what can be promised.

    Parameters
    ----------
    revenue
        Revenue of each simulated period (replication).
    target
        Revenue target (currency).
    currency
        ISO currency code (axis unit and amounts).
    confidence
        Mark the revenue reached with this probability (``80% sure of at least ...``); None for
        no mark.
    period
        What one replication simulates, for the description.
    chart_id
        Prefix of the ids inside the SVG (unique per page).
    """
    rev = _values(revenue)
    div, _ = money_unit(target)
    xs, ps = exceedance_steps(rev)
    x_lo, x_hi, x_ticks = nice_ticks(min(rev.min(), target), max(rev.max(), target), 7)
    y_ticks = [(k / 5, percent_tick(k / 5)) for k in range(6)]
    height = 340.0
    c = Canvas(WIDTH, height, chart_id)
    left = left_margin(y_ticks)
    f = Frame(Scale(x_lo, x_hi, left, WIDTH - RIGHT), Scale(0.0, 1.0, height - BOTTOM, 34.0))
    grid_and_axes(
        c,
        f,
        [(v, money_tick(v, div)) for v in x_ticks],
        y_ticks,
        money_axis_label("Revenue over the horizon", currency, div),
        "Chance of reaching at least x",
    )
    # P(R >= x) is 1 left of the smallest value, p_k on (x_{k-1}, x_k], 0 right of the largest
    px, py = [f.left, f.x(xs[0])], [f.y(1.0), f.y(1.0)]
    for k in range(1, len(xs)):
        px += [f.x(xs[k - 1]), f.x(xs[k])]
        py += [f.y(ps[k]), f.y(ps[k])]
    px += [f.x(xs[-1]), f.right]
    py += [f.y(0.0), f.y(0.0)]
    c.polyline(px, py, BLUE, 2.4, attrs='class="curve" data-role="exceedance"')
    p_t = exceedance(rev, target)
    tx, ty = f.x(target), f.y(p_t)
    c.line(tx, f.bottom, tx, f.top - 6, INK, 1.3, "5 4", cls="target")
    label = f"target {money(target, currency)}"
    near_right = tx + 4 + text_width(label) > WIDTH - 4
    c.text(
        tx + (-4 if near_right else 4), f.top - 10, label, anchor="end" if near_right else "start"
    )
    boxes: list[tuple[float, float, float, float]] = []
    if confidence is not None:
        x_c = promise_at(rev, confidence)
        cx, cy = f.x(x_c), f.y(confidence)
        c.line(f.left, cy, cx, cy, GREY, 1.4, "1.5 3")
        c.line(cx, f.bottom, cx, cy, GREY, 1.4, "1.5 3")
        words = f"{confidence:.0%} sure of at least {money(x_c, currency)}"
        w = text_width(words)
        # right of the mark above the guide, or left of it below: where the curve is not (it is
        # above the guide left of the mark and below it right of the mark); clear of the target
        # line if it can be, else beside the mark on a white halo that the line passes under
        spots = [(cx + 8, cy - 8), (cx - 8 - w, cy + 8 + SMALL)]
        fits = [
            f.left + 2 <= sx and sx + w <= f.right and not sx - 3 <= tx <= sx + w + 3
            for sx, _ in spots
        ]
        lx, ly = spots[fits.index(True)] if any(fits) else spots[cx + 8 + w > f.right]
        c.text(lx, ly, words, halo=True)
        boxes.append((lx, ly - SMALL, w, SMALL + 3))
    words = f"P(≥ target) = {p_t:.0%}"
    w = text_width(words, SMALL, bold=True)
    right = tx + 10 + w <= f.right
    spots = [
        (ty - 8, right),
        (ty + 8 + SMALL, right),
        (ty - 8, not right),
        (ty + 8 + SMALL, not right),
    ]
    for y, to_right in spots:
        box = (tx + 10 if to_right else tx - 10 - w, y - SMALL, w, SMALL + 3)
        if not any(_overlap(box, b) for b in boxes) and f.top <= box[1] and y <= f.bottom:
            break
    else:
        y, to_right = spots[0]
    c.text(tx + 10 if to_right else tx - 10, y, words, anchor="start" if to_right else "end",
           bold=True, halo=True)  # fmt: skip
    c.circle(tx, ty, 5, BLUE, attrs=f'class="target-point" data-x="{target!r}" data-p="{p_t!r}"')
    desc = (
        f"Exceedance curve over {rev.size:,} simulated {period}s: the chance that revenue over "
        f"the horizon reaches at least each amount. The target of {money(target, currency)} is "
        f"reached in {p_t:.0%} of them."
    )
    if confidence is not None:
        desc += (
            f" {confidence:.0%} sure of at least {money(promise_at(rev, confidence), currency)}."
        )
    return c.document("Chance of reaching at least each revenue level", desc, "exceedance")


def histogram_svg(
    revenue: Sequence[float] | np.ndarray,
    target: float,
    currency: str,
    *,
    bins: int | None = None,
    period: str = "year",
    chart_id: str = "revenue_distribution",
) -> str:
    """Histogram of simulated revenue with the target line and P10 / P50 / P90 marks.

    Bars below the target are grey, bars at or above it blue.
    The bins are laid from the target (:func:`pipesim.report.charts.numbers.histogram_edges`),
    so no bar straddles it: each bar is wholly below the target or at and above it, and the
    blue bars add up to P(target).

    Parameters
    ----------
    revenue
        Revenue of each simulated period (replication).
    target
        Revenue target (currency).
    currency
        ISO currency code.
    bins
        Number of bins (default: about sqrt(n), 10 to 50).
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    chart_id
        Prefix of the ids inside the SVG.
    """
    rev = _values(revenue)
    div, _ = money_unit(target)
    edges = histogram_edges(rev, target, bins or default_bins(rev.size))
    counts, edges = np.histogram(rev, bins=edges)
    share = counts / rev.size
    x_lo, x_hi, x_ticks = nice_ticks(float(edges[0]), float(edges[-1]), 7)
    y_lo, y_hi, y_vals = nice_ticks(0.0, float(share.max()), 6)
    y_ticks = [(v, percent_tick(v)) for v in y_vals]
    keys = [
        Key("below target", BELOW_TARGET),
        Key("target reached", BLUE),
        Key(f"target {money(target, currency)}", INK, "line", "5 4", width=1.6),
        Key("P10 / P50 / P90", VERMILLION, "line", "1.5 3", width=1.6),
    ]
    # percentiles that print as one amount share a box
    marks: list[tuple[list[str], float]] = []
    for q, name in ((10, "P10"), (50, "P50"), (90, "P90")):
        x = float(np.percentile(rev, q))
        if marks and money(marks[-1][1], currency) == money(x, currency):
            marks[-1][0].append(name)
        else:
            marks.append(([name], x))
    left = left_margin(y_ticks)
    scale_x = Scale(x_lo, x_hi, left, WIDTH - RIGHT)
    legend_h = Canvas(WIDTH, 0, chart_id).legend_height(keys, WIDTH - left - RIGHT)
    # the percentile boxes sit in rows above the bars: the lowest row where a box fits
    box_h = SMALL + 6
    placed: list[tuple[float, float, int, str, float]] = []  # left, width, row, words, value
    for names, x in marks:
        words = f"{' = '.join(names)} {money(x, currency)}"
        w = text_width(words) + 8
        bx = min(max(scale_x(x) - w / 2, left), WIDTH - RIGHT - w)
        level = 0
        while any(
            lv == level and bx < ox + ow + 4 and ox < bx + w + 4 for ox, ow, lv, *_ in placed
        ):
            level += 1
        placed.append((bx, w, level, words, x))
    levels = 1 + max(p[2] for p in placed)
    top = 8 + legend_h + 6 + levels * (box_h + 4) + 6
    height = top + 220 + BOTTOM
    c = Canvas(WIDTH, height, chart_id)
    f = Frame(scale_x, Scale(y_lo, y_hi, height - BOTTOM, top))
    c.legend(keys, left, 8, WIDTH - left - RIGHT)
    grid_and_axes(
        c,
        f,
        [(v, money_tick(v, div)) for v in x_ticks],
        y_ticks,
        money_axis_label("Revenue over the horizon", currency, div),
        f"Share of simulated {period}s",
        x_grid=False,
    )
    for lo, hi, s in zip(edges[:-1], edges[1:], share, strict=True):
        reached = bool(lo >= target)
        x0, x1 = f.x(lo), f.x(hi)
        c.rect(
            x0,
            f.y(s),
            x1 - x0,
            f.bottom - f.y(s),
            BLUE if reached else BELOW_TARGET,
            stroke="#fff",
            stroke_width=0.8,
            attrs=f'class="bar {"reached" if reached else "below"}" data-lo="{float(lo)!r}" '
            f'data-hi="{float(hi)!r}" data-share="{float(s)!r}"',
        )
    c.line(f.x(target), f.bottom, f.x(target), f.top, INK, 1.6, "5 4", cls="target")
    strip = f.top - 6
    for bx, w, level, words, x in placed:
        base = strip - level * (box_h + 4)
        c.line(f.x(x), f.bottom, f.x(x), base, VERMILLION, 1.4, "1.5 3")
        c.rect(bx, base - box_h, w, box_h, "#fff", stroke=VERMILLION, rx=3)
        c.text(bx + w / 2, base - box_h / 2, words, anchor="middle", middle=True)
    reached_share = float(share[edges[:-1] >= target].sum())
    desc = (
        f"Histogram of revenue over {rev.size:,} simulated {period}s in bins of "
        f"{money(float(edges[1] - edges[0]), currency)}; the bars at or above the target of "
        f"{money(target, currency)} (blue) hold {reached_share:.0%} of them. "
        + "; ".join(f"{' = '.join(n)} {money(x, currency)}" for n, x in marks)
        + "."
    )
    return c.document("Histogram of simulated revenue", desc, "revenue_distribution")


def fan_svg(
    weeks: Sequence[float] | np.ndarray,
    bands: Mapping[str, Sequence[float] | np.ndarray],
    target: float,
    currency: str,
    horizon_weeks: float,
    *,
    start_date: dt.date | None = None,
    period: str = "year",
    chart_id: str = "bookings_fan",
) -> str:
    """Cumulative bookings through the horizon: median, P25-P75 and P10-P90 bands, vs target.

    A dashed line is the straight-line pace to the target, a diamond the target at the end.

    Parameters
    ----------
    weeks
        Week of each point (0 = the start, at zero bookings).
    bands
        Cumulative bookings per week at each quantile: keys ``q10``, ``q25``, ``q50``, ``q75``,
        ``q90`` (the columns of :func:`pipesim.report.charts.numbers.bookings_quantiles`).
    target
        Revenue target at the horizon end (currency).
    currency
        ISO currency code.
    horizon_weeks
        Horizon length (weeks); the pace runs from 0 to ``target`` over it.
    start_date
        Calendar date of week 0; the x axis shows dates when given, week numbers otherwise.
    period
        What one replication simulates, for the legend.
    chart_id
        Prefix of the ids inside the SVG.
    """
    w = np.asarray(weeks, dtype=float)
    q = {k: np.asarray(bands[k], dtype=float) for k in ("q10", "q25", "q50", "q75", "q90")}
    if w.size == 0:
        raise ValueError("the fan chart needs at least one week of bookings")
    div, _ = money_unit(target)
    end = max(float(w.max()), float(horizon_weeks))
    y_lo, y_hi, y_vals = nice_ticks(0.0, max(float(np.nanmax(q["q90"])), float(target)), 6)
    y_ticks = [(v, money_tick(v, div)) for v in y_vals]
    if start_date is None:
        _, _, x_vals = nice_ticks(0.0, end, 9)
        x_ticks = [(v, f"{v:g}") for v in x_vals if v <= end + 1e-9]
        x_label = "Week of the horizon"
    else:
        last = start_date + dt.timedelta(days=7 * end)
        x_ticks = [((d - start_date).days / 7, text) for d, text in date_ticks(start_date, last)]
        x_label = f"Date (horizon starts {start_date.isoformat()})"
    keys = [
        Key(f"P10-P90 (8 in 10 {period}s)", SKY, "band", opacity=0.35),
        Key(f"P25-P75 (half of {period}s)", BLUE, "band", opacity=0.45),
        Key("median", BLUE, "line", width=2.4),
        Key("linear pace to target", INK, "line", "5 4", width=1.4),
        Key(f"target {money(target, currency)}", INK, "diamond"),
    ]
    left = left_margin(y_ticks)
    legend_h = Canvas(WIDTH, 0, chart_id).legend_height(keys, WIDTH - left - RIGHT)
    top = 8 + legend_h + 12
    height = top + 240 + BOTTOM
    c = Canvas(WIDTH, height, chart_id)
    f = Frame(Scale(0.0, end, left, WIDTH - RIGHT), Scale(y_lo, y_hi, height - BOTTOM, top))
    c.legend(keys, left, 8, WIDTH - left - RIGHT)
    grid_and_axes(c, f, x_ticks, y_ticks, x_label,
                  money_axis_label("Cumulative bookings", currency, div))  # fmt: skip
    xs = [f.x(v) for v in w]
    c.band(xs, [f.y(v) for v in q["q10"]], [f.y(v) for v in q["q90"]], SKY, 0.35,
           attrs='class="band" data-band="q10-q90"')  # fmt: skip
    c.band(xs, [f.y(v) for v in q["q25"]], [f.y(v) for v in q["q75"]], BLUE, 0.45,
           attrs='class="band" data-band="q25-q75"')  # fmt: skip
    c.polyline(xs, [f.y(v) for v in q["q50"]], BLUE, 2.4, attrs='class="median"')
    c.line(f.left, f.y(target), f.right, f.y(target), INK, 0.9, "1.5 3")
    c.line(f.x(0), f.y(0), f.x(horizon_weeks), f.y(target), INK, 1.4, "5 4", cls="pace")
    c.diamond(f.x(horizon_weeks), f.y(target), 6.5, INK, attrs='class="target-point"')
    final = {k: float(v[-1]) for k, v in q.items()}
    desc = (
        f"Cumulative bookings through the {period}, week by week: median "
        f"{money(final['q50'], currency)} at the end (P10 {money(final['q10'], currency)}, P90 "
        f"{money(final['q90'], currency)}) against the target of {money(target, currency)} and "
        f"a straight-line pace to it over {horizon_weeks:g} weeks."
    )
    return c.document("Cumulative bookings fan chart", desc, "bookings_fan")
