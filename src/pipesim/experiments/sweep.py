"""Parameter sweeps: a grid or a Latin hypercube over dotted scenario paths, under CRN.

``--param qualification.threshold=0.3:0.9:7`` asks for 7 evenly spaced values from 0.3 to 0.9;
several ``--param`` make a full grid, or, with ``--lhs N``, N points of a Latin hypercube over
their ranges (the counts are then ignored). Every point is the scenario with those values set
(exactly like ``--set``) and runs with the same root seed, so points differ only by the
parameters (common random numbers): the differences between neighbouring points are far less
noisy than the points themselves.

The result is a tidy table, one row per point (the parameter values, P(target) with its Wilson
interval, revenue mean/percentiles, opportunities, win and no-decision rates, ...), and the
per-replication table behind it, written as CSV (and Parquet when pyarrow is installed), plus
charts. With one parameter the main chart is a *frontier*: for ``qualification.threshold`` it is
the qualification frontier of opportunity volume against win rate, no-decision rate and revenue.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from scipy.stats import qmc

from pipesim.experiments.paired import run_points
from pipesim.report import charts
from pipesim.report.compare import paired_difference
from pipesim.results.statistics import ratio_interval, wilson_interval
from pipesim.scenario.edit import EditError, get_value, parse_path
from pipesim.scenario.loader import dump_scenario, load_scenario
from pipesim.scenario.schema import Scenario


class BadParameter(ValueError):
    """A ``--param`` that cannot be used (syntax, range, or a path that is not a number)."""


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*(?::\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class ParamRange:
    """A range of one scenario parameter.

    Attributes
    ----------
    path
        Dotted scenario path (as for ``--set``), e.g. ``qualification.threshold``.
    low, high
        Ends of the range (inclusive).
    count
        Number of grid values (``None`` when the range has no count, e.g. for a hypercube).
    integer
        Whether the parameter is an integer (values are rounded).
    """

    path: str
    low: float
    high: float
    count: int | None = None
    integer: bool = False

    def values(self) -> list[float]:
        """The grid values, evenly spaced from ``low`` to ``high``."""
        n = self.count or 2
        vals = np.linspace(self.low, self.high, n) if n > 1 else np.array([self.low])
        return [self.cast(v) for v in vals]

    def cast(self, value: float) -> float:
        """``value`` as the parameter's type (rounded for integers)."""
        return float(round(value)) if self.integer else float(value)

    def scale(self, unit: np.ndarray) -> list[float]:
        """Map points of [0, 1] onto the range."""
        return [self.cast(self.low + u * (self.high - self.low)) for u in unit]


def parse_param(text: str, need_count: bool = True) -> ParamRange:
    """Parse ``path=lo:hi:n`` (or ``path=lo:hi`` when ``need_count`` is False).

    Raises
    ------
    BadParameter
        With a message saying what is wrong and what is expected.
    """
    form = "PATH=LOW:HIGH:COUNT, e.g. qualification.threshold=0.3:0.9:7"
    if not need_count:
        form = "PATH=LOW:HIGH, e.g. reps.count=12:18"
    if "=" not in text:
        raise BadParameter(f"--param {text!r} must look like {form}")
    path, _, spec = text.partition("=")
    path = path.strip()
    if not path or any(not p.strip() for p in path.split(".")):
        raise BadParameter(f"--param {text!r}: empty key part in {path!r}")
    m = _RANGE.match(spec)
    if not m:
        raise BadParameter(f"--param {text!r}: range {spec!r} must look like {form}")
    low, high = float(m[1]), float(m[2])
    count = int(m[3]) if m[3] is not None else None
    if need_count and count is None:
        raise BadParameter(f"--param {text!r}: missing the number of values; use {form}")
    if count is not None and count < 1:
        raise BadParameter(f"--param {text!r}: the number of values must be at least 1")
    if count is not None and count > 1 and not high > low:
        raise BadParameter(f"--param {text!r}: HIGH ({high:g}) must be above LOW ({low:g})")
    return ParamRange(path, low, high, count)


def _lookup(data: Any, path: str) -> Any:
    """The value at a dotted path of plain scenario data, or None where it does not resolve."""
    try:
        return get_value(data, parse_path(path))
    except EditError:
        return None


def resolve_ranges(
    scenario_path: str | Path, ranges: Sequence[ParamRange], overrides: Sequence[str] = ()
) -> list[ParamRange]:
    """Check each range against the scenario; mark integer parameters.

    Every path is validated by loading the scenario with it set to both ends of its range, so an
    unknown path or an out-of-bounds value fails before anything runs (a
    :class:`pipesim.scenario.errors.ScenarioError`, exit code 2 on the command line).

    Raises
    ------
    BadParameter
        When a path names something that is not a single number, or is given twice.
    """
    seen: set[str] = set()
    base = yaml.safe_load(dump_scenario(load_scenario(scenario_path, overrides)))
    out = []
    for r in ranges:
        if r.path in seen:
            raise BadParameter(f"--param {r.path} is given twice")
        seen.add(r.path)
        current = _lookup(base, r.path)
        if isinstance(current, bool) or isinstance(current, dict | list | str):
            raise BadParameter(
                f"--param {r.path}: not a number in the scenario (it is {type(current).__name__})"
            )
        integer = isinstance(current, int)
        rr = ParamRange(r.path, r.low, r.high, r.count, integer)
        for v in {rr.cast(r.low), rr.cast(r.high)}:
            load_scenario(scenario_path, [*overrides, _override(r.path, v, integer)])
        out.append(rr)
    return out


def _override(path: str, value: float, integer: bool) -> str:
    return f"{path}={round(value)}" if integer else f"{path}={value!r}"


def grid_design(ranges: Sequence[ParamRange]) -> list[dict[str, float]]:
    """Every combination of the ranges' grid values (first parameter varies slowest)."""
    combos = itertools.product(*(r.values() for r in ranges))
    return [dict(zip([r.path for r in ranges], combo, strict=True)) for combo in combos]


def lhs_design(ranges: Sequence[ParamRange], n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` points of a Latin hypercube over the ranges (scipy's ``qmc.LatinHypercube``)."""
    if n < 1:
        raise BadParameter("--lhs needs at least 1 point")
    unit = qmc.LatinHypercube(d=len(ranges), seed=seed).random(n)
    cols = [r.scale(unit[:, k]) for k, r in enumerate(ranges)]
    return [{r.path: cols[k][i] for k, r in enumerate(ranges)} for i in range(n)]


def point_scenarios(
    scenario_path: str | Path,
    design: Sequence[dict[str, float]],
    ranges: Sequence[ParamRange],
    overrides: Sequence[str] = (),
) -> list[tuple[int, Scenario]]:
    """The scenario of each design point (``--set`` overrides plus the point's values)."""
    integer = {r.path: r.integer for r in ranges}
    return [
        (
            k,
            load_scenario(
                scenario_path,
                [*overrides, *(_override(p, v, integer[p]) for p, v in point.items())],
            ),
        )
        for k, point in enumerate(design)
    ]


# --------------------------------------------------------------------------- statistics
POINT_COLUMNS: tuple[str, ...] = (
    "replications",
    "p_target",
    "p_target_low",
    "p_target_high",
    "revenue_mean",
    "revenue_low",
    "revenue_high",
    "revenue_p10",
    "revenue_p50",
    "revenue_p90",
    "opportunities",
    "won",
    "win_rate",
    "no_decision_rate",
    "lost_rate",
    "disqualified",
    "uncaptured",
    "mean_cycle_days",
    "reps_at_quota",
    "gross_margin",
    "delta_p_target",
    "delta_p_target_low",
    "delta_p_target_high",
    "delta_revenue",
    "delta_revenue_low",
    "delta_revenue_high",
)
"""Statistics per sweep point, after the parameter columns (``delta_*``: paired vs point 0)."""


def summarise_points(table: pd.DataFrame, design: Sequence[dict[str, float]]) -> pd.DataFrame:
    """One row per design point: its parameter values and statistics over its replications.

    Rates (win, no decision, lost) are ratios of sums over the point's replications; the
    ``delta_*`` columns are paired differences against point 0 (common random numbers).
    """
    charts.require_columns(
        table, ["point", "replication", "seed", "hit_target", "revenue"], "summarise_points"
    )
    rows = []
    ref = table[table["point"] == 0].sort_values("replication")
    for k, point in enumerate(design):
        t = table[table["point"] == k].sort_values("replication")
        n = len(t)
        hits = int(t["hit_target"].sum())
        lo, hi = wilson_interval(hits, n)
        rev = t["revenue"].to_numpy(dtype=float)
        se = float(rev.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
        resolved = t["resolved_opportunities"]
        dp = paired_difference(
            ref["hit_target"].astype(float).to_numpy(), t["hit_target"].astype(float).to_numpy()
        )
        dr = paired_difference(ref["revenue"].to_numpy(float), rev)
        rows.append(
            {
                "point": k,
                **point,
                "replications": n,
                "p_target": hits / n if n else math.nan,
                "p_target_low": lo,
                "p_target_high": hi,
                "revenue_mean": float(rev.mean()),
                "revenue_low": float(rev.mean()) - 1.96 * se,
                "revenue_high": float(rev.mean()) + 1.96 * se,
                "revenue_p10": float(np.percentile(rev, 10)),
                "revenue_p50": float(np.percentile(rev, 50)),
                "revenue_p90": float(np.percentile(rev, 90)),
                "opportunities": float(t["opportunities"].mean()),
                "won": float(t["won"].mean()),
                "win_rate": ratio_interval(t["won_opportunities"], resolved)[0],
                "no_decision_rate": ratio_interval(t["no_decision_opportunities"], resolved)[0],
                "lost_rate": ratio_interval(t["lost"], resolved)[0],
                "disqualified": float(t["disqualified"].mean()),
                "uncaptured": float(t["uncaptured"].mean()),
                "mean_cycle_days": float(t["mean_cycle_days"].mean()),
                "reps_at_quota": float(t["reps_at_quota"].mean()),
                "gross_margin": float(t["gross_margin"].mean()),
                "delta_p_target": dp[0],
                "delta_p_target_low": dp[1][0],
                "delta_p_target_high": dp[1][1],
                "delta_revenue": dr[0],
                "delta_revenue_low": dr[1][0],
                "delta_revenue_high": dr[1][1],
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- charts
def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _money_axis(div: float) -> FuncFormatter:
    return FuncFormatter(lambda v, _p: f"{v / div:,.1f}")


def frontier_chart(points: pd.DataFrame, param: str, currency: str = "EUR") -> Figure:
    """Four panels against one swept parameter: volume, rates, revenue and P(target).

    For ``qualification.threshold`` this is the qualification frontier: raising the threshold
    trades opportunity volume for win rate (and a lower no-decision rate), and revenue shows
    where the trade stops paying.

    Parameters
    ----------
    points
        :func:`summarise_points` rows (one per value of ``param``).
    param
        The swept parameter's column.
    currency
        Currency code for the revenue axis.
    """
    charts.require_columns(
        points,
        [param, "opportunities", "win_rate", "no_decision_rate", "revenue_mean", "revenue_low",
         "revenue_high", "p_target", "p_target_low", "p_target_high"],
        "frontier_chart",
    )  # fmt: skip
    p = points.sort_values(param)
    x = p[param].to_numpy(float)
    fig = _new_figure((charts.WIDE[0], 6.4))
    ax = fig.subplots(2, 2, sharex=True)
    a = ax[0, 0]
    a.plot(x, p["opportunities"], "o-", color=charts.BLUE)
    a.set_ylabel("opportunities pursued\n(mean per run)")
    a = ax[0, 1]
    a.plot(x, p["win_rate"], "o-", color=charts.GREEN, label="win rate")
    a.plot(x, p["no_decision_rate"], "s--", color=charts.ORANGE, label="no-decision rate")
    if "lost_rate" in p:
        a.plot(x, p["lost_rate"], "^:", color=charts.VERMILLION, label="lost to a competitor")
    a.yaxis.set_major_formatter(PercentFormatter(1.0))
    a.set_ylabel("share of resolved\nopportunities")
    a.legend(frameon=False, fontsize=8)
    a = ax[1, 0]
    div = 1e6 if p["revenue_mean"].abs().max() >= 1e6 else 1e3
    unit = "M" if div == 1e6 else "k"
    a.fill_between(x, p["revenue_low"], p["revenue_high"], color=charts.SKY, alpha=0.35)
    a.plot(x, p["revenue_mean"], "o-", color=charts.BLUE)
    a.yaxis.set_major_formatter(_money_axis(div))
    a.set_ylabel(f"mean revenue ({unit} {currency})\n95% interval")
    a.set_xlabel(param)
    a = ax[1, 1]
    a.fill_between(x, p["p_target_low"], p["p_target_high"], color=charts.SKY, alpha=0.35)
    a.plot(x, p["p_target"], "o-", color=charts.BLUE)
    a.set_ylim(0, 1)
    a.yaxis.set_major_formatter(PercentFormatter(1.0))
    a.set_ylabel("P(target)\n95% interval")
    a.set_xlabel(param)
    for a in ax.flat:
        charts.style_axes(a)
    fig.suptitle(f"Sweep of {param} (common random numbers)", fontsize=11)
    return fig


def tradeoff_chart(points: pd.DataFrame, param: str, currency: str = "EUR") -> Figure:
    """Opportunity volume against win rate, one dot per point, labelled with ``param``.

    Dot area is proportional to mean revenue and the label gives the revenue, so the chart shows
    the volume/win-rate frontier and where on it revenue peaks.
    """
    charts.require_columns(
        points, [param, "opportunities", "win_rate", "revenue_mean"], "tradeoff_chart"
    )
    p = points.sort_values(param)
    fig = _new_figure(charts.WIDE)
    ax = fig.add_subplot()
    rev = p["revenue_mean"].to_numpy(float)
    size = 400 * rev / rev.max() if rev.max() > 0 else np.full(len(rev), 50.0)
    ax.plot(p["opportunities"], p["win_rate"], "-", color=charts.GREY, linewidth=1, zorder=1)
    sc = ax.scatter(
        p["opportunities"],
        p["win_rate"],
        s=size,
        c=p[param],
        cmap="viridis",
        edgecolor=charts.INK,
        zorder=2,
    )
    best = int(np.argmax(rev))
    for i, row in enumerate(p.itertuples(index=False)):
        v = float(p[param].iloc[i])
        text = f"{v:g}: {rev[i] / 1e6:,.2f}M" + (" (max)" if i == best else "")
        ax.annotate(text, (row.opportunities, row.win_rate), xytext=(7, 5),
                    textcoords="offset points", fontsize=8)  # fmt: skip
    fig.colorbar(sc, ax=ax, label=param)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("opportunities pursued (mean per run)")
    ax.set_ylabel("win rate")
    ax.set_title(f"Volume against win rate; dot size and label: mean revenue ({currency})",
                 fontsize=10)  # fmt: skip
    charts.style_axes(ax)
    return fig


def heatmap_chart(points: pd.DataFrame, x: str, y: str, value: str, label: str) -> Figure:
    """A two-parameter grid coloured by ``value`` (e.g. ``p_target``), each cell labelled."""
    charts.require_columns(points, [x, y, value], "heatmap_chart")
    grid = points.pivot_table(index=y, columns=x, values=value)
    fig = _new_figure(charts.WIDE)
    ax = fig.add_subplot()
    im = ax.imshow(grid.to_numpy(float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
    share = value.startswith("p_") or value.endswith("_rate")
    for (i, j), v in np.ndenumerate(grid.to_numpy(float)):
        text = f"{v:.0%}" if share else f"{v / 1e6:,.2f}M"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=label)
    return fig


def scatter_chart(points: pd.DataFrame, params: Sequence[str]) -> Figure:
    """P(target) and mean revenue against each parameter (for hypercubes and larger grids)."""
    charts.require_columns(points, [*params, "p_target", "revenue_mean"], "scatter_chart")
    k = len(params)
    fig = _new_figure((max(charts.WIDE[0], 3.2 * k), 5.6))
    ax = fig.subplots(2, k, squeeze=False)
    for j, prm in enumerate(params):
        ax[0, j].scatter(points[prm], points["p_target"], color=charts.BLUE, s=18)
        ax[0, j].yaxis.set_major_formatter(PercentFormatter(1.0))
        ax[1, j].scatter(points[prm], points["revenue_mean"] / 1e6, color=charts.GREEN, s=18)
        ax[1, j].set_xlabel(prm)
        for a in ax[:, j]:
            charts.style_axes(a)
    ax[0, 0].set_ylabel("P(target)")
    ax[1, 0].set_ylabel("mean revenue (M)")
    return fig


# --------------------------------------------------------------------------- running
@dataclass
class SweepResult:
    """A finished sweep: the per-point table, the per-replication table and written files."""

    points: pd.DataFrame
    replications: pd.DataFrame
    params: list[ParamRange]
    files: list[Path] = field(default_factory=list)

    @property
    def charts(self) -> list[Path]:
        """The chart files written."""
        return [f for f in self.files if f.suffix == ".png"]


def write_table(df: pd.DataFrame, path: Path) -> list[Path]:
    """Write ``df`` as ``path`` (CSV) and, when pyarrow is installed, beside it as Parquet."""
    df.to_csv(path, index=False)
    written = [path]
    try:
        # lazy: optional and heavy; only the Parquet copy needs it
        import pyarrow  # noqa: F401
    except ImportError:
        return written
    pq = path.with_suffix(".parquet")
    df.to_parquet(pq, index=False)
    written.append(pq)
    return written


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """Save a figure as PNG (no timestamp metadata, white background)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(charts.figure_png(fig, dpi))
    return path


def sweep_charts(points: pd.DataFrame, params: Sequence[ParamRange], lhs: bool, currency: str
                 ) -> dict[str, Figure]:  # fmt: skip
    """The charts suited to the design: frontier (one parameter), heatmaps (two), scatter."""
    names = [r.path for r in params]
    figs: dict[str, Figure] = {}
    if len(names) == 1 and not lhs:
        figs["frontier"] = frontier_chart(points, names[0], currency)
        figs["tradeoff"] = tradeoff_chart(points, names[0], currency)
    elif len(names) == 2 and not lhs:
        figs["heatmap_p_target"] = heatmap_chart(points, names[0], names[1], "p_target",
                                                 "P(target)")  # fmt: skip
        figs["heatmap_revenue"] = heatmap_chart(points, names[0], names[1], "revenue_mean",
                                                f"mean revenue ({currency})")  # fmt: skip
    if lhs or len(names) > 1:
        figs["scatter"] = scatter_chart(points, names)
    return figs


def run_sweep(
    scenario_path: str | Path,
    params: Iterable[str | ParamRange],
    *,
    overrides: Sequence[str] = (),
    lhs: int | None = None,
    replications: int = 200,
    seed: int = 0,
    workers: int = 1,
    out: str | Path | None = None,
) -> SweepResult:
    """Run a sweep and (with ``out``) write its tables and charts.

    Parameters
    ----------
    scenario_path
        Scenario file.
    params
        ``path=lo:hi:n`` strings (or :class:`ParamRange`); with ``lhs`` the counts are optional.
    overrides
        ``--set`` overrides applied to every point.
    lhs
        Number of Latin-hypercube points instead of a grid.
    replications, seed, workers
        Per point; the same root seed for every point (common random numbers).
    out
        Folder for ``sweep_points.csv``, ``sweep_replications.csv`` (and ``.parquet``),
        ``sweep.json`` and ``charts/*.png``; None writes nothing.
    """
    parsed = [p if isinstance(p, ParamRange) else parse_param(p, lhs is None) for p in params]
    if not parsed:
        raise BadParameter("a sweep needs at least one --param PATH=LOW:HIGH:COUNT")
    ranges = resolve_ranges(scenario_path, parsed, overrides)
    design = grid_design(ranges) if lhs is None else lhs_design(ranges, lhs, seed)
    scenarios = point_scenarios(scenario_path, design, ranges, overrides)
    table = run_points(scenarios, replications, seed, workers)
    points = summarise_points(table, design)
    result = SweepResult(points, table, ranges)
    if out is None:
        return result
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result.files += write_table(points, folder / "sweep_points.csv")
    result.files += write_table(table, folder / "sweep_replications.csv")
    meta = {
        "scenario": str(scenario_path),
        "overrides": list(overrides),
        "params": [
            {"path": r.path, "low": r.low, "high": r.high, "count": r.count} for r in ranges
        ],
        "design": "grid" if lhs is None else f"latin hypercube, {lhs} points",
        "points": len(design),
        "replications": replications,
        "seed": seed,
    }
    (folder / "sweep.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    result.files.append(folder / "sweep.json")
    currency = scenarios[0][1].economics.currency
    for name, fig in sweep_charts(points, ranges, lhs is not None, currency).items():
        result.files.append(save_figure(fig, folder / "charts" / f"sweep_{name}.png"))
    return result
