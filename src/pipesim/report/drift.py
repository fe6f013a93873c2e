"""Forecast drift: how P(target) and the revenue forecast of a scenario moved from run to run.

:func:`load_runs` reads the run catalogue (:mod:`pipesim.runs.catalogue`) into a tidy table, one
row per recorded run; :func:`drift_figure` draws it over calendar time: P(target) with its 95%
interval on top, revenue P50 with the P10-P90 band below, one line per scenario and set of
settings (a what-if is never drawn on its scenario's forecast line), notes written beside their
runs, and a dotted vertical marker "scenario changed" where the resolved scenario of a line
changed (a new version of the scenario file). Interrupted (partial) runs are left out of the
chart. :func:`same_settings` keeps the runs of one set of settings: the run report charts the
runs of its own scenario and settings when there is more than one (as SVG,
:func:`pipesim.report.charts.svg.drift_svg`). The table functions live in
:mod:`pipesim.report.drift_runs` (no matplotlib) and are re-exported here.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from pipesim.report import charts
from pipesim.report.data import money_axis_label, money_unit
from pipesim.report.drift_runs import (
    NOTE_WIDTH,
    RUN_COLUMNS,
    VERSION_NOTE,
    load_runs,
    same_settings,
)

__all__ = [
    "NOTE_WIDTH",
    "RUN_COLUMNS",
    "VERSION_NOTE",
    "drift_figure",
    "load_runs",
    "same_settings",
]


def drift_figure(records: pd.DataFrame, *, title: str | None = None) -> Figure:
    """P(target) and revenue P10/P50/P90 of each recorded run over calendar time.

    Parameters
    ----------
    records
        Rows of :func:`load_runs` (columns ``finished_at``, ``scenario``, ``p_target``,
        ``p_target_low``, ``p_target_high``, ``revenue_p10``, ``revenue_p50``, ``revenue_p90``;
        ``currency``, ``target``, ``partial``, ``note``, ``scenario_sha256``, ``variant`` and
        ``what_if`` are used when present). Each scenario and set of settings (``variant``) is a
        line of its own; a change of ``scenario_sha256`` along a line is marked.
    title
        Figure title; when every run drawn is of one what-if, its label is added.

    Raises
    ------
    ValueError
        When a column is missing or no complete run is left to draw.
    """
    charts.require_columns(
        records,
        ["finished_at", "scenario", "p_target", "p_target_low", "p_target_high",
         "revenue_p10", "revenue_p50", "revenue_p90"],
        "drift_figure",
    )  # fmt: skip
    df = records.copy()
    if "partial" in df.columns:
        df = df[~df["partial"].astype(bool)]
    df = df.dropna(subset=["p_target"])
    if df.empty:
        raise ValueError("drift_figure needs at least one complete run; none recorded")
    df["when"] = pd.to_datetime(df["finished_at"], utc=True).dt.tz_convert(None)
    df = df.sort_values("when", kind="stable")  # equal times keep the catalogue order
    fig = Figure(figsize=(charts.WIDE[0], 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    currency = str(df["currency"].dropna().iloc[0]) if "currency" in df.columns else ""
    div, _ = money_unit(float(df[["revenue_p10", "revenue_p50", "revenue_p90"]].abs().max().max()))
    df["line"] = df["variant"].fillna("").astype(str) if "variant" in df.columns else ""
    labels = df["what_if"].fillna("").astype(str) if "what_if" in df.columns else df["line"]
    df["label"] = labels
    for k, ((name, variant), runs) in enumerate(df.groupby(["scenario", "line"], sort=True)):
        colour, style = charts.SERIES_STYLES[k % len(charts.SERIES_STYLES)]
        what_if = str(runs["label"].iloc[0]) or (f"what-if {variant}" if variant else "")
        _p_target_panel(top, runs, f"{name} ({what_if})" if what_if else str(name), colour, style)
        _revenue_panel(bottom, runs, div, colour, style)
        _version_markers(top, bottom, runs, colour)
    top.set_ylabel("Chance of reaching target")
    top.yaxis.set_major_formatter(PercentFormatter(1.0))
    top.set_ylim(0, 1.05)
    top.legend(frameon=False, loc="best", fontsize=8.5)
    top.margins(x=0.08)
    bottom.plot([], [], color=charts.INK, marker="o", markersize=4, label="P50")
    bottom.fill_between([], [], [], color=charts.GREY, alpha=0.3, label="P10–P90")
    if "target" in df.columns and df["target"].notna().any():
        bottom.plot([], [], color=charts.INK, linewidth=0.9, linestyle=(0, (2, 2)), label="target")
    bottom.legend(frameon=False, loc="best", fontsize=8.5)
    bottom.set_ylabel(money_axis_label("Revenue", currency, div))
    bottom.yaxis.set_major_formatter(charts.money_formatter(div))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlabel("When the run finished (UTC)")
    if len(df["when"].unique()) == 1:
        when = df["when"].iloc[0]
        pad = pd.Timedelta(hours=12)
        bottom.set_xlim(when - pad, when + pad)
    for ax in (top, bottom):
        charts.style_axes(ax)
    heading = title or "Forecast drift: each recorded run"
    what_ifs = set(df["label"])
    if len(what_ifs) == 1 and (only := what_ifs.pop()) and only not in heading:
        heading += f"\n{only} (this what-if's runs only, not the forecast)"
    fig.suptitle(heading, fontsize=11)
    return fig


def _version_markers(top: Axes, bottom: Axes, runs: pd.DataFrame, colour: str) -> None:
    """A dotted vertical line between two runs of a line whose resolved scenario differs."""
    if "scenario_sha256" not in runs.columns or len(runs) < 2:
        return
    sha = runs["scenario_sha256"].astype(str).to_list()
    when = runs["when"].to_list()
    for k in range(1, len(runs)):
        if sha[k] == sha[k - 1]:
            continue
        x = when[k - 1] + (when[k] - when[k - 1]) / 2
        for ax in (top, bottom):
            ax.axvline(x, color=colour, linestyle=":", linewidth=1.1, alpha=0.9)
        top.annotate(
            VERSION_NOTE,
            (mdates.date2num(x), 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3, 4),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="bottom",
            fontsize=7.5,
            color=colour,
        )


def _p_target_panel(
    ax: Axes, runs: pd.DataFrame, name: str, colour: str, style: charts.LineStyle
) -> None:
    x = runs["when"]
    est = runs["p_target"].to_numpy(float)
    low = runs["p_target_low"].to_numpy(float)
    high = runs["p_target_high"].to_numpy(float)
    ax.errorbar(
        x,
        est,
        yerr=[np.maximum(est - low, 0.0), np.maximum(high - est, 0.0)],
        fmt="o",
        color=colour,
        capsize=3,
        markersize=5,
        linewidth=1.2,
    )
    ax.plot(x, est, color=colour, linestyle=style, linewidth=1.6, label=name)
    if "note" in runs.columns:
        for when, p, note in zip(x, high, runs["note"], strict=True):
            if isinstance(note, str) and note:
                text = note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 1] + "…"
                ax.annotate(
                    text,
                    (when, p),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7.5,
                    color=charts.INK,
                )


def _revenue_panel(
    ax: Axes, runs: pd.DataFrame, div: float, colour: str, style: charts.LineStyle
) -> None:
    x = runs["when"]
    ax.fill_between(
        x,
        runs["revenue_p10"].to_numpy(float),
        runs["revenue_p90"].to_numpy(float),
        color=colour,
        alpha=0.18,
        linewidth=0,
        step=None,
    )
    ax.plot(
        x,
        runs["revenue_p50"].to_numpy(float),
        color=colour,
        linestyle=style,
        marker="o",
        markersize=4,
        linewidth=1.6,
    )
    # whiskers too, so a scenario with a single run still shows its P10-P90 range
    ax.vlines(
        x,
        runs["revenue_p10"].to_numpy(float),
        runs["revenue_p90"].to_numpy(float),
        color=colour,
        alpha=0.45,
        linewidth=2.5,
    )
    if "target" in runs.columns and runs["target"].notna().any():
        for target in runs["target"].dropna().unique():
            ax.axhline(float(target), color=colour, linewidth=0.9, linestyle=(0, (2, 2)))
