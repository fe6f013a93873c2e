"""Paired experiments: two scenarios under common random numbers, read as differences.

Both scenarios run with the same root seed, so replication *i* of each uses the same replication
seed and, inside it, the same named random streams: the same buyers arrive with the same needs,
and only what the scenarios change differs. The difference of a metric is estimated on the
*pairs* (:func:`pipesim.report.compare.paired_difference`); the unpaired interval, as if the
runs were independent, is reported beside it so the gain from pairing is visible.

:func:`replicate` runs replications and returns the ``replications.csv`` row of each plus a few
detail columns of the replication summary (:data:`pipesim.engine.summary.DETAIL_COLUMNS`:
flanking attempts and hours, late-engaged deals lost to a competitor, uncaptured campaign leads).
:func:`run_points` does the same for many scenarios at once in one process pool (used by sweeps
and sensitivity analysis).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from pipesim.engine.replication import run_replication
from pipesim.report import charts
from pipesim.report.compare import pair_tables, paired_difference
from pipesim.runs.executors import map_tasks
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario


@dataclass(frozen=True)
class Metric:
    """A per-replication quantity compared between scenarios.

    Attributes
    ----------
    column
        Column of the replication table (see :func:`replicate`).
    label
        Words for tables and charts.
    unit
        ``"share"`` (0-1, shown in percentage points), ``"money"``, ``"days"``, ``"count"`` or
        ``"hours"``.
    """

    column: str
    label: str
    unit: str


METRICS: dict[str, Metric] = {
    "p_target": Metric("hit_target", "P(target)", "share"),
    "revenue": Metric("revenue", "mean revenue", "money"),
    "win_rate": Metric("win_rate", "win rate (won / resolved opportunities)", "share"),
    "no_decision_rate": Metric("no_decision_rate", "no-decision rate", "share"),
    "lost_rate": Metric("lost_rate", "lost-to-competitor rate", "share"),
    "mean_cycle_days": Metric("mean_cycle_days", "cycle time, lead to win", "days"),
    "reps_at_quota": Metric("reps_at_quota", "share of reps at quota", "share"),
    "uncaptured": Metric("uncaptured", "uncaptured leads", "count"),
    "opportunities": Metric("opportunities", "opportunities pursued", "count"),
    "won": Metric("won", "deals won", "count"),
    "lost": Metric("lost", "deals lost to a competitor", "count"),
    "gross_margin": Metric("gross_margin", "gross margin after sales and marketing", "money"),
    "late_win_rate": Metric("late_win_rate", "win rate of late-engaged deals", "share"),
    "late_lost": Metric("late_lost", "late-engaged deals lost to a competitor", "count"),
    "flank_hours": Metric("flank_hours", "rep hours spent flanking", "hours"),
    "flank_wins": Metric("flank_wins", "deals won after a successful flank", "count"),
    "uncaptured_campaign": Metric("uncaptured_campaign", "uncaptured campaign leads", "count"),
    "wasted_campaign_spend": Metric(
        "wasted_campaign_spend", "campaign spend on leads never followed up", "money"
    ),
    "not_reached": Metric("uncaptured_not_reached", "leads answered too late to reach", "count"),
    "qualified_rate": Metric(
        "qualified_rate_responded", "share of answered leads that contacted us, qualified", "share"
    ),
    "response_hours": Metric(
        "mean_response_hours", "hours to the first response (inbound leads)", "hours"
    ),
}
"""Metrics :func:`paired_differences` knows, by name."""

DEFAULT_METRICS: tuple[str, ...] = (
    "p_target",
    "revenue",
    "win_rate",
    "no_decision_rate",
    "mean_cycle_days",
    "reps_at_quota",
    "uncaptured",
)
"""The comparison the issue asks for: P(target), revenue, rates, cycle time, quota, uncaptured."""


# --------------------------------------------------------------------------- running
def _run_task(_shared: None, task: tuple[Scenario, Any, int, list[int]]) -> list[dict[str, Any]]:
    scenario, key, start, seeds = task
    return [
        {"point": key, **run_replication(scenario, start + k, s, detail=True).row}
        for k, s in enumerate(seeds)
    ]


def run_points(
    points: Sequence[tuple[Any, Scenario]],
    replications: int,
    seed: int = 0,
    workers: int = 1,
    chunk_size: int = 10,
) -> pd.DataFrame:
    """Run several scenarios with the same root seed (common random numbers) in one pool.

    Parameters
    ----------
    points
        ``(key, scenario)`` pairs; the key becomes the ``point`` column.
    replications
        Replications per scenario.
    seed
        Root seed shared by every scenario: replication *i* of each uses the same seed.
    workers
        Worker processes (1 runs in this process).
    chunk_size
        Replications per task sent to a worker.

    Returns
    -------
    pandas.DataFrame
        One row per (point, replication): ``point``, the ``replications.csv`` columns and
        :data:`DETAIL_COLUMNS`, in the order of ``points`` then replication.
    """
    if replications < 1:
        raise ValueError("replications must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    seeds = replication_seeds(seed, replications)
    tasks = [
        (sc, key, i, seeds[i : i + chunk_size])
        for key, sc in points
        for i in range(0, replications, chunk_size)
    ]
    workers = min(workers, len(tasks))
    rows = [row for chunk in map_tasks(_run_task, None, tasks, workers) for row in chunk]
    return pd.DataFrame(rows)


def replicate(
    scenario: Scenario, replications: int, seed: int = 0, workers: int = 1
) -> pd.DataFrame:
    """Replications of one scenario: ``replications.csv`` rows plus :data:`DETAIL_COLUMNS`."""
    table = run_points([(scenario.name, scenario)], replications, seed, workers)
    return table.drop(columns="point")


# --------------------------------------------------------------------------- statistics
def paired_differences(
    reference: pd.DataFrame,
    alternative: pd.DataFrame,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    reference_name: str = "reference",
    alternative_name: str = "alternative",
) -> pd.DataFrame:
    """Difference ``alternative - reference`` of each metric's mean, paired and unpaired.

    Parameters
    ----------
    reference, alternative
        Replication tables (``replication``, ``seed`` and the metrics' columns) run with the
        same root seed; rows are paired on ``replication`` and must share seeds.
    metrics
        Names in :data:`METRICS`, or any numeric column name.
    reference_name, alternative_name
        Scenario names for the table.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric, label, unit, reference, alternative, reference_mean,
        alternative_mean, estimate, paired_low, paired_high, unpaired_low, unpaired_high,
        paired_width, unpaired_width, correlation, n``. Rate metrics undefined in a replication
        (no resolved deal) drop that pair.
    """
    both = pair_tables(reference, alternative)
    rows = []
    for name in metrics:
        metric = METRICS.get(name, Metric(name, name, "count"))
        col = metric.column
        charts.require_columns(reference, [col], "paired_differences")
        charts.require_columns(alternative, [col], "paired_differences")
        a = both[f"{col}_ref"].astype(float).to_numpy()
        b = both[f"{col}_alt"].astype(float).to_numpy()
        keep = ~(np.isnan(a) | np.isnan(b))
        a, b = a[keep], b[keep]
        est, (plo, phi), (ulo, uhi), corr = paired_difference(a, b)
        rows.append(
            {
                "metric": name,
                "label": metric.label,
                "unit": metric.unit,
                "reference": reference_name,
                "alternative": alternative_name,
                "reference_mean": float(a.mean()) if a.size else math.nan,
                "alternative_mean": float(b.mean()) if b.size else math.nan,
                "estimate": est,
                "paired_low": plo,
                "paired_high": phi,
                "unpaired_low": ulo,
                "unpaired_high": uhi,
                "paired_width": phi - plo,
                "unpaired_width": uhi - ulo,
                "correlation": corr,
                "n": int(keep.sum()),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class PairedComparison:
    """Two scenarios run under common random numbers and their paired differences.

    Attributes
    ----------
    reference, alternative
        The scenarios; differences are alternative minus reference.
    reference_table, alternative_table
        Their replication tables (:func:`replicate`).
    differences
        :func:`paired_differences` of the requested metrics.
    seed
        The shared root seed.
    """

    reference: Scenario
    alternative: Scenario
    reference_table: pd.DataFrame
    alternative_table: pd.DataFrame
    differences: pd.DataFrame
    seed: int

    def difference(self, metric: str) -> pd.Series:
        """The row of ``differences`` for ``metric``."""
        rows = self.differences[self.differences["metric"] == metric]
        if rows.empty:
            known = ", ".join(self.differences["metric"])
            raise KeyError(f"metric {metric!r} was not compared; compared: {known}")
        return rows.iloc[0]

    def with_metrics(self, metrics: Iterable[str]) -> PairedComparison:
        """The same runs, compared on other metrics (no re-run)."""
        diffs = paired_differences(
            self.reference_table,
            self.alternative_table,
            metrics,
            reference_name=self.reference.name,
            alternative_name=self.alternative.name,
        )
        return PairedComparison(
            self.reference,
            self.alternative,
            self.reference_table,
            self.alternative_table,
            diffs,
            self.seed,
        )


def compare_scenarios(
    reference: Scenario,
    alternative: Scenario,
    replications: int = 400,
    seed: int = 0,
    workers: int = 1,
    metrics: Iterable[str] = DEFAULT_METRICS,
) -> PairedComparison:
    """Run two scenarios with the same root seed and difference them pair by pair.

    Parameters
    ----------
    reference, alternative
        Validated scenarios; differences are ``alternative - reference``.
    replications
        Replications of each (at least 2 for an interval).
    seed
        Root seed shared by both (common random numbers).
    workers
        Worker processes.
    metrics
        Names in :data:`METRICS` (or replication-table columns) to compare.
    """
    table = run_points(
        [("reference", reference), ("alternative", alternative)], replications, seed, workers
    )
    ref = table[table["point"] == "reference"].drop(columns="point").reset_index(drop=True)
    alt = table[table["point"] == "alternative"].drop(columns="point").reset_index(drop=True)
    diffs = paired_differences(
        ref, alt, metrics, reference_name=reference.name, alternative_name=alternative.name
    )
    return PairedComparison(reference, alternative, ref, alt, diffs, seed)


# --------------------------------------------------------------------------- text and chart
def format_value(value: float, unit: str, signed: bool = False) -> str:
    """A metric value (or difference, ``signed``) in its unit: pp for shares, k/M for money."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "+" if signed and value >= 0 else ("−" if value < 0 else "")
    v = abs(value)
    if unit == "share":
        return f"{sign}{v * 100:.1f}{' pp' if signed else '%'}"
    if unit == "money":
        for suffix, div in (("M", 1e6), ("k", 1e3)):
            if v >= div:
                return f"{sign}{v / div:,.2f}{suffix}"
        return f"{sign}{v:,.0f}"
    if unit == "days":
        return f"{sign}{v:.1f} d"
    if unit == "hours":
        return f"{sign}{v:,.0f} h"
    return f"{sign}{v:,.1f}"


def differences_text(diffs: pd.DataFrame) -> str:
    """A plain-text table of paired differences (what the ``paired`` command prints)."""
    charts.require_columns(
        diffs,
        ["label", "unit", "reference_mean", "alternative_mean", "estimate", "paired_low",
         "paired_high", "unpaired_low", "unpaired_high"],
        "differences_text",
    )  # fmt: skip
    header = (
        f"{'metric':<42} {'reference':>11} {'alternative':>11} {'difference':>11} "
        f"{'paired 95% interval':>25} {'unpaired 95% interval':>25}"
    )
    lines = [header, "-" * len(header)]
    for r in diffs.itertuples(index=False):
        u = r.unit
        paired = f"{format_value(r.paired_low, u, True)} to {format_value(r.paired_high, u, True)}"
        unpaired = (
            f"{format_value(r.unpaired_low, u, True)} to {format_value(r.unpaired_high, u, True)}"
        )
        lines.append(
            f"{r.label[:42]:<42} {format_value(r.reference_mean, u):>11} "
            f"{format_value(r.alternative_mean, u):>11} {format_value(r.estimate, u, True):>11} "
            f"{paired:>25} {unpaired:>25}"
        )
    return "\n".join(lines)


def paired_chart(diffs: pd.DataFrame, *, title: str | None = None) -> Figure:
    """One small panel per metric: the difference with its paired and unpaired 95% intervals.

    Parameters
    ----------
    diffs
        Rows of :func:`paired_differences`.
    title
        Figure title.
    """
    charts.require_columns(
        diffs,
        ["label", "unit", "estimate", "paired_low", "paired_high", "unpaired_low",
         "unpaired_high"],
        "paired_chart",
    )  # fmt: skip
    n = len(diffs)
    fig = Figure(figsize=(charts.WIDE[0], 0.9 + 0.85 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, r in zip(axes, diffs.itertuples(index=False), strict=True):
        _difference_panel(ax, r)
    axes[-1].plot([], [], "o-", color=charts.BLUE, label="paired (common random numbers)")
    axes[-1].plot([], [], "s-", color=charts.GREY, label="unpaired (as if independent runs)")
    axes[-1].legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=2)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _difference_panel(ax: Axes, r: Any) -> None:
    unit = r.unit
    scale = 100.0 if unit == "share" else 1.0
    est = r.estimate * scale
    ax.errorbar(
        [est],
        [0.0],
        xerr=[[est - r.unpaired_low * scale], [r.unpaired_high * scale - est]],
        fmt="s",
        color=charts.GREY,
        capsize=4,
        linewidth=1.6,
        markersize=5,
    )
    ax.errorbar(
        [est],
        [1.0],
        xerr=[[est - r.paired_low * scale], [r.paired_high * scale - est]],
        fmt="o",
        color=charts.BLUE,
        capsize=5,
        linewidth=2.6,
        markersize=7,
    )
    ax.axvline(0, color=charts.INK, linewidth=1)
    ax.set_ylim(-0.8, 1.8)
    ax.set_yticks([])
    suffix = {"share": " (pp)", "money": "", "days": " (days)", "hours": " (hours)"}.get(unit, "")
    ax.set_ylabel(r.label + suffix, rotation=0, ha="right", va="center", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(6))
    if unit == "money":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _money_tick(v)))
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def _money_tick(v: float) -> str:
    """A short signed money tick: +250k, −1.2M."""
    sign = "+" if v > 0 else ("−" if v < 0 else "")
    a = abs(v)
    if a >= 1e6:
        return f"{sign}{a / 1e6:g}M"
    if a >= 1e3:
        return f"{sign}{a / 1e3:g}k"
    return f"{sign}{a:g}"
