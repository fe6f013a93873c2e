"""What drives the answer, as SVG: where leads end, the stage funnel, attainment per rep seat.

Part of :mod:`pipesim.report.charts.svg` (import the functions from there): plain numbers in,
one ``<svg>`` string out, no state kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from pipesim.report.charts.numbers import funnel_labels
from pipesim.report.charts.palette import BLUE, DARK_FILLS, GREEN, INK, OUTCOMES, SKY, VERMILLION
from pipesim.report.charts.svgplot import (
    BOTTOM,
    FONT,
    SMALL,
    WIDTH,
    Canvas,
    Frame,
    Key,
    Scale,
    category_plot,
    esc,
    grid_and_axes,
    left_margin,
    nice_ticks,
    percent_tick,
    text_width,
)

RIGHT = 18.0
ROW = 36.0
"""Height of one horizontal bar's row (user units)."""
BAR = 24.0
"""Thickness of a horizontal bar."""


def outcomes_svg(
    shares: Mapping[str, Mapping[str, float]],
    *,
    period: str = "year",
    chart_id: str = "outcomes",
) -> str:
    """Stacked bars: the share of leads ending in each outcome, overall and per segment.

    Parameters
    ----------
    shares
        Group (``All leads`` first, then each segment) -> outcome (keys of
        :data:`pipesim.report.charts.palette.OUTCOMES`) -> share of the group's leads; NaN or
        missing shares for a group without leads
        (:func:`pipesim.report.charts.numbers.shares_by_group`).
    period
        What one replication simulates, for the axis label.
    chart_id
        Prefix of the ids inside the SVG.
    """
    groups = list(shares)
    present = [o for o in OUTCOMES if any(o in shares[g] for g in groups)]
    keys = [Key(OUTCOMES[o][0], OUTCOMES[o][1], hatch=OUTCOMES[o][2]) for o in present]

    def has_leads(g: str) -> bool:
        vals = [shares[g].get(o, math.nan) for o in present]
        return any(math.isfinite(v) and v > 0 for v in vals)

    title = "Where leads end, overall and per segment"
    if not any(has_leads(g) for g in groups):
        c = Canvas(WIDTH, 150, chart_id)
        c.message([f"No leads arrived in any simulated {period}: no lead has an outcome."])
        return c.document(title, f"No leads arrived in any simulated {period}.", "outcomes")
    label_w = max(text_width(g, FONT) for g in groups)
    left = 16 + label_w
    legend_h = Canvas(WIDTH, 0, chart_id).legend_height(keys, WIDTH - 2 * RIGHT)
    top = 10.0
    plot_h = ROW * len(groups)
    height = top + plot_h + BOTTOM + 8 + legend_h + 8
    c = Canvas(WIDTH, height, chart_id)
    f = Frame(Scale(0.0, 1.0, left, WIDTH - RIGHT), Scale(0.0, plot_h, top, top + plot_h))
    x_ticks = [(k / 5, percent_tick(k / 5)) for k in range(6)]
    grid_and_axes(c, f, x_ticks, [], f"Share of leads (mean over simulated {period}s)", "",
                  y_grid=False)  # fmt: skip
    for row, g in enumerate(groups):
        mid = f.y(row * ROW + ROW / 2)
        c.text(left - 8, mid, g, FONT, "end", middle=True)
        if not has_leads(g):
            c.text(f.x(0.01), mid, "no leads", SMALL, italic=True, middle=True)
            continue
        start = 0.0
        for o in present:
            v = shares[g].get(o, math.nan)
            v = v if math.isfinite(v) else 0.0
            if v <= 0:
                continue
            _, colour, hatch = OUTCOMES[o]
            x0, x1 = f.x(start), f.x(start + v)
            tag = f'class="segment" data-group="{esc(g)}" data-outcome="{o}" data-share="{v!r}"'
            c.rect(x0, mid - BAR / 2, x1 - x0, BAR, colour, attrs=tag)
            if hatch:
                c.rect(x0, mid - BAR / 2, x1 - x0, BAR, c.hatch(hatch))
            c.rect(x0, mid - BAR / 2, x1 - x0, BAR, "none", stroke="#fff", stroke_width=0.8)
            words = f"{v:.0%}"
            tw = text_width(words, SMALL - 1)
            if tw + 6 <= x1 - x0:
                c.rect((x0 + x1) / 2 - tw / 2 - 2, mid - SMALL / 2 - 1, tw + 4, SMALL + 2, colour,
                       rx=2)  # fmt: skip
                c.text((x0 + x1) / 2, mid, words, SMALL - 1, "middle", middle=True,
                       colour="#fff" if colour in DARK_FILLS else INK)  # fmt: skip
            start += v
    c.legend(keys, RIGHT, f.bottom + BOTTOM + 8, WIDTH - 2 * RIGHT)
    overall = shares[groups[0]]
    desc = "Share of leads by final state, all leads: " + ", ".join(
        f"{OUTCOMES[o][0]} {overall[o]:.0%}"
        for o in present
        if o in overall and math.isfinite(overall[o])
    )
    if len(groups) > 1:
        desc += f"; then each segment ({', '.join(groups[1:])})"
    return c.document(title, desc + ".", "outcomes")


def funnel_svg(
    steps: Sequence[str],
    means: Sequence[float] | np.ndarray,
    *,
    period: str = "year",
    chart_id: str = "funnel",
) -> str:
    """Pursued opportunities reaching each stage of the buying journey, then won.

    Parameters
    ----------
    steps
        Step names, first to last (``awareness``, ..., ``won``).
    means
        Opportunities per simulated period reaching each step.
    period
        What one replication simulates, for the axis label.
    chart_id
        Prefix of the ids inside the SVG.
    """
    m = np.asarray(means, dtype=float)
    title = "Stage funnel of pursued opportunities"
    if not (m.size and m[0] > 0):
        c = Canvas(WIDTH, 160, chart_id)
        c.message(
            [
                f"No opportunities were pursued in any simulated {period}:",
                "every lead was disqualified, never picked up or still waiting at the horizon end.",
            ]
        )
        return c.document(title, f"No opportunities were pursued in any simulated {period}.",
                          "funnel")  # fmt: skip
    first = float(m[0])
    labels = funnel_labels(steps)
    texts = []
    for k, v in enumerate(m):
        words = f"{_count(v)}  ({v / first:.0%})"
        if k > 0 and m[k - 1] > 0:
            words += f"  · −{1 - v / m[k - 1]:.0%} from previous step"
        texts.append(words)
    left = 16 + max(text_width(t, FONT) for t in labels)
    _, last, x_vals = nice_ticks(0.0, first, 6)
    plot_w = WIDTH - RIGHT - left
    # room right of each bar for its words
    x_max = max(
        [last]
        + [
            float(v) * plot_w / max(plot_w - text_width(words, SMALL) - 10, 0.2 * plot_w)
            for v, words in zip(m, texts, strict=True)
        ]
    )
    top, plot_h = 10.0, ROW * len(m)
    height = top + plot_h + BOTTOM
    c = Canvas(WIDTH, height, chart_id)
    f = Frame(Scale(0.0, x_max, left, WIDTH - RIGHT), Scale(0.0, plot_h, top, top + plot_h))
    grid_and_axes(c, f, [(v, _count(v)) for v in x_vals], [],
                  f"Pursued opportunities per simulated {period} reaching the step", "",
                  y_grid=False)  # fmt: skip
    for k, (label, v, words) in enumerate(zip(labels, m, texts, strict=True)):
        mid = f.y(k * ROW + ROW / 2)
        colour = GREEN if k == len(m) - 1 else BLUE
        c.text(left - 8, mid, label, FONT, "end", middle=True)
        c.rect(f.x(0), mid - BAR / 2, f.x(float(v)) - f.x(0), BAR, colour,
               attrs=f'class="step" data-step="{steps[k]}" data-mean="{float(v)!r}"')  # fmt: skip
        c.text(f.x(float(v)) + 6, mid, words, SMALL, middle=True)
    desc = f"Pursued opportunities per simulated {period} reaching each step: " + "; ".join(
        f"{label} {v:,.0f}" for label, v in zip(labels, m, strict=True)
    )
    return c.document(title, desc + ".", "funnel")


def _count(v: float) -> str:
    """A count per simulated period: ``1,234``, ``12``, or ``0.4`` when below ten."""
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}"


def attainment_svg(
    seats: Sequence[tuple[str, Sequence[float] | np.ndarray]],
    *,
    chart_id: str = "rep_attainment",
    unit: str = "rep seat",
    measure: str = "Quota attainment",
    line: str = "quota (100%)",
    order: str = "sorted by median",
) -> str:
    """Box plots of quota attainment per rep seat across replications, against 100%.

    ``unit``, ``measure`` and ``line`` name what is drawn for other uses (a team's bookings
    against its target).

    Boxes span P25-P75 with the median marked, whiskers P10-P90.

    Parameters
    ----------
    seats
        Each seat's label and its attainment (1.0 = quota) in every replication, in the order
        to draw (:func:`pipesim.report.charts.numbers.attainment_samples`: highest median first).
    chart_id
        Prefix of the ids inside the SVG.
    """
    stats = []
    for label, values in seats:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        q = np.percentile(v, [10, 25, 50, 75, 90]) if v.size else np.zeros(5)
        stats.append((str(label), q))
    top_value = max([1.0, *(float(q[-1]) for _, q in stats)])
    y_lo, y_hi, y_vals = nice_ticks(0.0, top_value, 6)
    y_ticks = [(v, percent_tick(v)) for v in y_vals]
    keys = [Key(line, VERMILLION, "line", "6 4", width=1.5)]
    left = left_margin(y_ticks)
    n = max(len(stats), 1)
    slot = (WIDTH - RIGHT - left) / n
    rotate = any(text_width(s, SMALL) > slot - 6 for s, _ in stats)
    if rotate and stats:  # the first label, turned 45 degrees, reaches left of its seat
        reach = text_width(stats[0][0], SMALL) * 0.71 - slot / 2 + 8
        if reach > left:
            left = reach
            slot = (WIDTH - RIGHT - left) / n
    label_h = max((text_width(s, SMALL) for s, _ in stats), default=0.0) * 0.71 if rotate else 0.0
    legend_h = Canvas(WIDTH, 0, chart_id).legend_height(keys, WIDTH - left - RIGHT)
    top = 8 + legend_h + 10
    height = top + 230 + BOTTOM + label_h
    c = Canvas(WIDTH, height, chart_id)
    f = Frame(Scale(0.0, float(n), left, WIDTH - RIGHT),
              Scale(y_lo, y_hi, height - BOTTOM - label_h, top))  # fmt: skip
    c.legend(keys, left, 8, WIDTH - left - RIGHT)
    grid_and_axes(c, f, [(k + 0.5, s) for k, (s, _) in enumerate(stats)], y_ticks,
                  f"{unit[0].upper()}{unit[1:]} ({order}; box P25-P75, whiskers P10-P90)",
                  measure, x_grid=False, rotate_x=rotate)  # fmt: skip
    half = min(slot * 0.3, 24)
    for k, (label, (p10, p25, p50, p75, p90)) in enumerate(stats):
        x = f.x(k + 0.5)
        c.line(x, f.y(p10), x, f.y(p25), INK, 1.0)
        c.line(x, f.y(p75), x, f.y(p90), INK, 1.0)
        c.line(x - half / 2, f.y(p10), x + half / 2, f.y(p10), INK, 1.0)
        c.line(x - half / 2, f.y(p90), x + half / 2, f.y(p90), INK, 1.0)
        tag = f'class="box" data-seat="{esc(label)}" data-median="{float(p50)!r}"'
        c.rect(x - half, f.y(p75), 2 * half, f.y(p25) - f.y(p75), SKY, stroke=INK, attrs=tag)
        c.line(x - half, f.y(p50), x + half, f.y(p50), INK, 2.2)
    c.line(f.left, f.y(1.0), f.right, f.y(1.0), VERMILLION, 1.5, "6 4", cls="quota")
    booked = any(float(q[-1]) > 0 for _, q in stats)
    noun = unit.split()[-1]  # "seat", "team"
    if not booked:
        empty = f"No {noun} booked anything: every {noun} at 0% in every replication"
        c.text((f.left + f.right) / 2, (f.top + f.bottom) / 2, empty, FONT, "middle",
               halo=True)  # fmt: skip
    medians = [float(q[2]) for _, q in stats]
    desc = (
        f"{measure} of {len(stats)} {unit}s across replications"
        + (f": medians from {min(medians):.0%} to {max(medians):.0%}" if medians else "")
        + f"; the dashed line is {line}."
    )
    return c.document(f"{measure} per {unit}", desc, chart_id)


def quota_chances_svg(
    reps: Sequence[str],
    chances: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    *,
    chart_id: str = "quota_chances",
) -> str:
    """Each rep's chance of making quota under two quota sets, with 95% intervals.

    Parameters
    ----------
    reps
        Rep labels, in the order to draw.
    chances
        Per quota set (its legend label, e.g. "equal-chance quotas", "today's quotas"): the
        estimates and the interval's lows and highs, one per rep. The first set is drawn in
        blue dots, the second in vermillion diamonds, each with its whiskers.
    """
    styles = [(BLUE, "dot"), (VERMILLION, "diamond")]
    keys = [Key(f"{label} (95% interval)", colour, kind) for label, (colour, kind) in
            zip(chances, styles, strict=False)]  # fmt: skip
    top_value = max([0.1, *(max(hi, default=0.0) for _, _, hi in chances.values())])
    y_lo, y_hi, y_vals = nice_ticks(0.0, min(1.0, top_value), 6)
    y_ticks = [(v, percent_tick(v)) for v in y_vals]
    c, f, slot = category_plot(
        reps, (y_lo, y_hi), y_ticks, keys, chart_id, "Rep", "Chance of making quota"
    )
    offset = min(slot * 0.18, 8.0)
    for j, (label, (est, low, high)) in enumerate(chances.items()):
        colour, kind = styles[j % 2]
        dx = (-offset if j == 0 else offset) if len(chances) > 1 else 0.0
        for k, rep in enumerate(reps):
            x = f.x(k + 0.5) + dx
            c.line(x, f.y(low[k]), x, f.y(high[k]), colour, 1.4)
            tag = (
                f'class="chance" data-rep="{esc(rep)}" data-set="{esc(label)}" data-p="{est[k]!r}"'
            )
            if kind == "dot":
                c.circle(x, f.y(est[k]), 3.6, colour, attrs=tag)
            else:
                c.diamond(x, f.y(est[k]), 4.2, colour, attrs=tag)
    names = list(chances)
    desc = (
        f"Chance of making quota for {len(reps)} reps under "
        + " and ".join(names)
        + ", each with its 95% interval."
    )
    return c.document("Chance of making quota per rep", desc, chart_id)
