"""Forecast drift as SVG: P(target) and the revenue forecast of each recorded run over time.

Part of :mod:`pipesim.report.charts.svg` (import :func:`drift_svg` from there). It draws what
:func:`pipesim.report.drift.drift_figure` draws with matplotlib: P(target) with its 95% interval
on top, revenue P50 with the P10-P90 band below, one line per scenario and set of settings,
notes beside their runs and a dotted "scenario changed" marker where a line's resolved scenario
changed. Interrupted (partial) runs are left out.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from pipesim.report.charts.numbers import require_columns
from pipesim.report.charts.palette import GREY, INK, SERIES_STYLES
from pipesim.report.charts.svgplot import (
    BOTTOM,
    FONT,
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
    series_dash,
    text_width,
)
from pipesim.report.data import money_axis_label, money_unit
from pipesim.report.drift_runs import NOTE_WIDTH, VERSION_NOTE

RIGHT = 18.0
PANEL = 150.0
"""Height of each of the two panels (user units)."""

_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
          86400, 2 * 86400, 7 * 86400, 14 * 86400)  # fmt: skip
"""Tick steps of a time axis (seconds) below a month."""


def time_ticks(t0: float, t1: float, max_ticks: int = 7) -> list[tuple[float, str]]:
    """Round UTC ticks from ``t0`` to ``t1`` (seconds since the epoch), labelled by their scale.

    ``14:05`` (with the day on the first tick and where the day changes), ``4 Dec`` or months.
    """
    span = t1 - t0
    step = next((s for s in _STEPS if span / s <= max_ticks - 1), None)
    if step is None:
        d0 = dt.datetime.fromtimestamp(t0, dt.UTC).date()
        d1 = dt.datetime.fromtimestamp(t1, dt.UTC).date()
        return [
            (dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp(), text)
            for d, text in date_ticks(d0, d1, max_ticks)
        ]
    out: list[tuple[float, str]] = []
    t = math.ceil(t0 / step) * step
    last_day = None
    while t <= t1 + 1e-6:
        when = dt.datetime.fromtimestamp(t, dt.UTC)
        day = f"{when.day} {when.strftime('%b')}"
        if step >= 86400:
            text = day if out else f"{day} {when.year}"
        else:
            clock = when.strftime("%H:%M:%S" if step < 60 else "%H:%M")
            text = clock if when.date() == last_day else f"{day} {clock}"
        last_day = when.date()
        out.append((float(t), text))
        t += step
    return out


def drift_svg(
    records: pd.DataFrame, *, title: str | None = None, chart_id: str = "forecast_drift"
) -> str:
    """P(target) and revenue P10 / P50 / P90 of each recorded run over calendar time.

    Parameters
    ----------
    records
        Rows of :func:`pipesim.report.drift_runs.load_runs` (columns ``finished_at``,
        ``scenario``, ``p_target``, ``p_target_low``, ``p_target_high``, ``revenue_p10``,
        ``revenue_p50``, ``revenue_p90``; ``currency``, ``target``, ``partial``, ``note``,
        ``scenario_sha256``, ``variant`` and ``what_if`` are used when present).
    title
        Heading; when every run drawn is of one what-if, its label is added.
    chart_id
        Prefix of the ids inside the SVG.

    Raises
    ------
    ValueError
        When a column is missing or no complete run is left to draw.
    """
    require_columns(
        records,
        ["finished_at", "scenario", "p_target", "p_target_low", "p_target_high",
         "revenue_p10", "revenue_p50", "revenue_p90"],
        "drift_svg",
    )  # fmt: skip
    df = records.copy()
    if "partial" in df.columns:
        df = df[~df["partial"].astype(bool)]
    df = df.dropna(subset=["p_target"])
    if df.empty:
        raise ValueError("drift_svg needs at least one complete run; none recorded")
    when = pd.to_datetime(df["finished_at"], utc=True)
    df["t"] = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    df = df.sort_values("t", kind="stable")  # equal times keep the catalogue order
    currency = str(df["currency"].dropna().iloc[0]) if "currency" in df.columns else ""
    money_cols = ["revenue_p10", "revenue_p50", "revenue_p90"]
    div, _ = money_unit(float(df[money_cols].abs().max().max()))
    df["line"] = df["variant"].fillna("").astype(str) if "variant" in df.columns else ""
    df["label"] = df["what_if"].fillna("").astype(str) if "what_if" in df.columns else df["line"]
    lines = []
    for k, ((name, variant), runs) in enumerate(df.groupby(["scenario", "line"], sort=True)):
        colour, style = SERIES_STYLES[k % len(SERIES_STYLES)]
        what_if = str(runs["label"].iloc[0]) or (f"what-if {variant}" if variant else "")
        lines.append((f"{name} ({what_if})" if what_if else str(name), colour, style, runs))
    heading = title or "Forecast drift: each recorded run"
    what_ifs = set(df["label"])
    sub = ""
    if len(what_ifs) == 1 and (only := what_ifs.pop()) and only not in heading:
        sub = f"{only} (this what-if's runs only, not the forecast)"

    t0, t1 = float(df["t"].min()), float(df["t"].max())
    pad = (t1 - t0) * 0.08 if t1 > t0 else 12 * 3600.0
    t0, t1 = t0 - pad, t1 + pad
    x_ticks = [(v, s) for v, s in time_ticks(t0, t1) if t0 <= v <= t1]
    targets = df["target"].dropna().astype(float) if "target" in df.columns else pd.Series([])
    lo = float(min(df["revenue_p10"].min(), *(targets.tolist() or [math.inf])))
    hi = float(max(df["revenue_p90"].max(), *(targets.tolist() or [-math.inf])))
    m_lo, m_hi, m_vals = nice_ticks(lo, hi, 5)
    m_ticks = [(v, money_tick(v, div)) for v in m_vals]
    p_ticks = [(k / 4, percent_tick(k / 4)) for k in range(5)]
    left = max(left_margin(m_ticks), left_margin(p_ticks))
    line_keys = [Key(label, colour, "line", series_dash(style, 1.6), width=1.6)
                 for label, colour, style, _ in lines]  # fmt: skip
    rev_keys = [Key("P50", INK, "dot"), Key("P10–P90", GREY, "band", opacity=0.3)]
    if len(targets):
        rev_keys.append(Key("target", INK, "line", "2 2", width=0.9))
    probe = Canvas(WIDTH, 0, chart_id)
    head_h = 8 + (FONT + 6) * (2 if sub else 1)
    top_legend = probe.legend_height(line_keys, WIDTH - left - RIGHT)
    bottom_legend = probe.legend_height(rev_keys, WIDTH - left - RIGHT)
    top1 = head_h + top_legend + 18  # room for the notes above the highest interval
    top2 = top1 + PANEL + 14 + bottom_legend + 8
    height = top2 + PANEL + BOTTOM
    c = Canvas(WIDTH, height, chart_id)
    c.text(WIDTH / 2, 8 + FONT, heading, FONT, "middle", bold=True)
    if sub:
        c.text(WIDTH / 2, 8 + 2 * FONT + 6, sub, SMALL, "middle")
    c.legend(line_keys, left, head_h, WIDTH - left - RIGHT)
    xs = Scale(t0, t1, left, WIDTH - RIGHT)
    f1 = Frame(xs, Scale(0.0, 1.0, top1 + PANEL, top1))
    f2 = Frame(xs, Scale(m_lo, m_hi, top2 + PANEL, top2))
    grid_and_axes(c, f1, [(v, "") for v, _ in x_ticks], p_ticks, "", "Chance of reaching target")
    c.legend(rev_keys, left, top1 + PANEL + 14, WIDTH - left - RIGHT)
    grid_and_axes(c, f2, x_ticks, m_ticks, "When the run finished (UTC)",
                  money_axis_label("Revenue", currency, div))  # fmt: skip
    for _label, colour, style, runs in lines:
        _draw_line(c, f1, f2, runs, colour, series_dash(style, 1.6))
    p = df["p_target"].to_numpy(float)
    first, latest = _day(float(df["t"].min())), _day(float(df["t"].max()))
    desc = (
        f"{len(df)} recorded runs from {first} to {latest}: "
        f"P(target) from {np.min(p):.0%} to {np.max(p):.0%}, the latest {p[-1]:.0%}."
    )
    return c.document(heading + (f" ({sub})" if sub else ""), desc, "forecast_drift")


def _day(t: float) -> str:
    when = dt.datetime.fromtimestamp(t, dt.UTC)
    return f"{when.day} {when.strftime('%b')} {when.year}"


def _draw_line(c: Canvas, f1: Frame, f2: Frame, runs: pd.DataFrame, colour: str, dash: str) -> None:
    t = runs["t"].to_numpy(float)
    xs = [f1.x(v) for v in t]
    est = runs["p_target"].to_numpy(float)
    low = np.minimum(runs["p_target_low"].to_numpy(float), est)
    high = np.maximum(runs["p_target_high"].to_numpy(float), est)
    p10, p50, p90 = (
        runs[c_].to_numpy(float) for c_ in ("revenue_p10", "revenue_p50", "revenue_p90")
    )
    # a change of the resolved scenario between two runs of the line
    if "scenario_sha256" in runs.columns and len(runs) > 1:
        sha = runs["scenario_sha256"].astype(str).to_list()
        for k in range(1, len(runs)):
            if sha[k] != sha[k - 1]:
                x = (xs[k - 1] + xs[k]) / 2
                for f in (f1, f2):
                    c.line(x, f.top, x, f.bottom, colour, 1.1, "1.5 3", cls="version")
                c.text(x - 3, f1.bottom - 4, VERSION_NOTE, SMALL - 2, colour=colour, rotate=-90)
    for x, lo_, hi_ in zip(xs, low, high, strict=True):
        if np.isfinite(lo_) and np.isfinite(hi_):
            c.line(x, f1.y(lo_), x, f1.y(hi_), colour, 1.2)
            for v in (lo_, hi_):
                c.line(x - 3, f1.y(v), x + 3, f1.y(v), colour, 1.2)
    c.polyline(xs, [f1.y(v) for v in est], colour, 1.6, dash)
    for x, e in zip(xs, est, strict=True):
        c.circle(x, f1.y(e), 3.5, colour, attrs=f'class="run" data-p="{float(e)!r}"')
    if "note" in runs.columns:
        boxes: list[tuple[float, float]] = []
        for at, hi_, note in zip(xs, high, runs["note"], strict=True):
            if isinstance(note, str) and note:
                text = note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 1] + "…"
                w = text_width(text, SMALL - 1.5)
                x = min(max(at, f1.left + w / 2), f1.right - w / 2)  # the words stay inside
                y = f1.y(hi_ if np.isfinite(hi_) else 1.0) - 6
                while any(abs(y - by) < SMALL and abs(x - bx) < w for bx, by in boxes):
                    y -= SMALL
                boxes.append((x, y))
                c.text(x, y, text, SMALL - 1.5, "middle", halo=True)
    ok = np.isfinite(p10) & np.isfinite(p90)
    if ok.sum() > 1:
        c.band([x for x, k in zip(xs, ok, strict=True) if k], [f2.y(v) for v in p10[ok]],
               [f2.y(v) for v in p90[ok]], colour, 0.18)  # fmt: skip
    for x, a, b in zip(xs, p10, p90, strict=True):
        if np.isfinite(a) and np.isfinite(b):
            c.line(x, f2.y(a), x, f2.y(b), colour, 2.5, opacity=0.45)
    c.polyline(xs, [f2.y(v) for v in p50], colour, 1.6, dash)
    for x, v in zip(xs, p50, strict=True):
        c.circle(x, f2.y(v), 3, colour)
    if "target" in runs.columns:
        for target in runs["target"].dropna().unique():
            y = f2.y(float(target))
            c.line(f2.left, y, f2.right, y, colour, 0.9, "2 2", cls="target")
