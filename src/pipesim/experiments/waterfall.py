"""The waterfall of an attribution, and the files ``pipesim diff`` writes.

:func:`parts_table` lists the waterfall as rows (P(target) of A, one row per part, the total
change, P(target) of B); :func:`waterfall_figure` draws it as horizontal bars, each part with its
paired 95% interval; :func:`write_outputs` writes ``diff.json``, ``diff.csv`` and
``waterfall.png`` for a :class:`pipesim.experiments.attribution.RunDiff`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from pipesim.experiments.attribution import Attribution, RunDiff
from pipesim.experiments.diff import format_setting
from pipesim.report import charts
from pipesim.runs.runner import write_json_atomic

DIFF_JSON, DIFF_CSV, WATERFALL_PNG = "diff.json", "diff.csv", "waterfall.png"


def parts_table(at: Attribution, label_a: str = "A", label_b: str = "B") -> pd.DataFrame:
    """The waterfall as rows: start (P(target) of A), one row per part, total, end (of B)."""
    rows: list[dict[str, Any]] = [
        {
            "row": "start",
            "step": 0,
            "label": label_a,
            "value": at.p_a,
            "ci_low": None,
            "ci_high": None,
        },
    ]
    for i, p in enumerate(at.parts):
        rows.append(
            {
                "row": "part",
                "step": i + 1,
                "label": p.label,
                "changes": "; ".join(
                    f"{c.name}: {format_setting(c.old)} -> {format_setting(c.new)}"
                    for c in p.changes
                ),
                "value": p.estimate,
                "ci_low": p.low,
                "ci_high": p.high,
                "alone": p.alone,
                "alone_ci_low": p.alone_low,
                "alone_ci_high": p.alone_high,
                "revenue": p.revenue,
                "revenue_ci_low": p.revenue_low,
                "revenue_ci_high": p.revenue_high,
            }
        )
    n = len(at.parts)
    rows.append(
        {
            "row": "total",
            "step": n + 1,
            "label": "total change",
            "value": at.total,
            "ci_low": at.total_low,
            "ci_high": at.total_high,
            "revenue": at.revenue_total,
            "revenue_ci_low": at.revenue_total_low,
            "revenue_ci_high": at.revenue_total_high,
        }
    )
    rows.append(
        {
            "row": "end",
            "step": n + 2,
            "label": label_b,
            "value": at.p_b,
            "ci_low": None,
            "ci_high": None,
        }
    )
    columns = [
        "row",
        "step",
        "label",
        "changes",
        "value",
        "ci_low",
        "ci_high",
        "alone",
        "alone_ci_low",
        "alone_ci_high",
        "revenue",
        "revenue_ci_low",
        "revenue_ci_high",
    ]
    return pd.DataFrame(rows, columns=columns)


def waterfall_figure(at: Attribution, label_a: str = "A", label_b: str = "B") -> Figure:
    """Horizontal waterfall from P(target) of A to P(target) of B, one bar per part.

    Each part's bar carries its paired 95% interval; B's bar carries the total change's
    interval, placed at A's level plus the change.
    """
    rows = [label_a, *(_wrap(p.label) for p in at.parts), label_b]
    fig, ax = charts.figure_and_axes(None, (charts.WIDE[0], 1.4 + 0.5 * len(rows)))
    y = np.arange(len(rows))[::-1].astype(float)
    ax.barh(y[0], at.p_a, color=charts.GREY, height=0.6)
    level = at.p_a
    for yi, p in zip(y[1:-1], at.parts, strict=True):
        up = p.estimate >= 0
        ax.barh(
            yi,
            p.estimate,
            left=level,
            height=0.6,
            color=charts.GREEN if up else charts.VERMILLION,
            hatch="" if up else "//",
            edgecolor="white",
        )
        end = level + p.estimate
        if not math.isnan(p.low):
            ax.errorbar(
                [end],
                [yi],
                xerr=[[p.estimate - p.low], [p.high - p.estimate]],
                fmt="none",
                color=charts.INK,
                capsize=4,
                linewidth=1.2,
            )
        ax.annotate(
            _signed_pp(p.estimate),
            (max(level, end), yi),
            xytext=(6, 7),
            textcoords="offset points",
            fontsize=8.5,
        )
        ax.plot([end, end], [yi - 0.3, yi - 0.7], color=charts.GREY, linewidth=0.8, ls=":")
        level = end
    ax.barh(y[-1], at.p_b, color=charts.BLUE, height=0.6)
    for yi, value in ((y[0], at.p_a), (y[-1], at.p_b)):
        ax.annotate(
            f"{value:.1%}",
            (value, yi),
            xytext=(6, 7),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_yticks(y, rows, fontsize=8.5)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    # on a Shapley path the running total may leave 0-1 (the parts are averages over orders)
    levels = at.p_a + np.cumsum([0.0, *(p.estimate for p in at.parts)])
    whiskers = [
        lv + x for lv, p in zip(levels[:-1], at.parts, strict=True) for x in (p.low, p.high)
    ]
    values = [v for v in [*levels, at.p_b, *whiskers] if not math.isnan(v)]
    low, high = min(0.0, *values), max(0.05, *values)
    pad = 0.08 * (high - low)
    ax.set_xlim(low - (pad if low < 0 else 0.0), high + pad)
    if low < 0:
        ax.axvline(0, color=charts.INK, linewidth=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("P(target); whiskers: paired 95% interval of each part")
    interval = f"{_signed_pp(at.total_low)[:-3]} to {_signed_pp(at.total_high)}"
    ax.set_title(
        f"Where the change in P(target) comes from: {_signed_pp(at.total)} "
        f"(95% interval {interval})\n{at.method} decomposition; {at.replications} replications "
        f"per scenario, seed {at.seed}, common random numbers",
        fontsize=10,
        loc="left",
    )
    charts.style_axes(ax)
    ax.grid(False, axis="y")
    return fig


def _signed_pp(x: float) -> str:
    """A change in probability points, ``+1.2 pp`` (never ``-0.0``)."""
    if math.isnan(x):
        return "n/a"
    v = round(x * 100, 1) + 0.0
    return f"{v:+.1f} pp"


def _wrap(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_outputs(result: RunDiff, folder: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``diff.json``, ``diff.csv`` and ``waterfall.png`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    at = result.attribution
    label_a = f"A: {result.run_a.scenario} ({result.run_a.short_id})"
    label_b = f"B: {result.run_b.scenario} ({result.run_b.short_id})"
    write_json_atomic(out / DIFF_JSON, result.to_json())
    parts_table(at, label_a, label_b).to_csv(out / DIFF_CSV, index=False)
    fig = waterfall_figure(at, label_a, label_b)
    (out / WATERFALL_PNG).write_bytes(charts.figure_png(fig, dpi))
    return [out / DIFF_JSON, out / DIFF_CSV, out / WATERFALL_PNG]
