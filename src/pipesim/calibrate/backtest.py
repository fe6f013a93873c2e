"""Backtest: start the simulation at past dates with the pipeline as it was, compare with history.

For each as-of date the open pipeline is rebuilt from a CRM export (deals created on or before
the date and not closed by it, at the stage they were in then), the scenario is run from that
date to a later one, and the bookings the company actually made in between (won deals with a
close date in ``(as_of, until]``) are placed in the simulated distribution. A calibrated model
puts the actual inside its P10–P90 band in 80% of windows and spreads the actual's percentile
evenly over 0–100%.

The pieces are public so other commands reuse them:
:func:`~pipesim.calibrate.pipeline_as_of.open_pipeline_as_of` (the open pipeline of an export at
a date, as ``open_pipeline`` entries), :func:`realised_bookings`, :func:`window_scenario`,
:func:`mid_rank_percentile`, :func:`calibration_summary` and :func:`calibration_chart`;
:func:`run_backtest` ties them together and :func:`write_backtest` writes ``backtest.csv``,
``backtest.json`` and ``calibration.png``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.errors import BacktestError
from pipesim.calibrate.pipeline_as_of import data_span, open_pipeline_as_of
from pipesim.report.charts import figure_png
from pipesim.report.data import money_axis_label, money_unit
from pipesim.runs.runner import run
from pipesim.scenario.references import reference_errors
from pipesim.scenario.schema import Scenario

CALIBRATED_SHARE = 0.8
"""Share of actuals a calibrated model puts inside its P10–P90 band."""

TAIL_SHARE = 0.1
"""Share of actuals a calibrated model puts below P10 (and, alike, above P90)."""

LEVEL = 0.95
"""Confidence level of the intervals and of the calibration test."""

FEW_WINDOWS = 6
"""Below this many windows the verdict warns that the test has little power."""

COLUMNS: tuple[str, ...] = (
    "as_of",
    "until",
    "open_deals",
    "open_value",
    "actual",
    "sim_p10",
    "sim_p50",
    "sim_p90",
    "sim_mean",
    "percentile",
    "inside_p10_p90",
)
"""Columns of ``backtest.csv``, one row per as-of date."""


# --------------------------------------------------------------------------- dates
@dataclass(frozen=True)
class Window:
    """One backtest window: the simulation starts on ``as_of`` and runs to ``until``."""

    as_of: dt.date
    until: dt.date

    @property
    def days(self) -> int:
        """Length of the window in days."""
        return (self.until - self.as_of).days


def parse_every(text: str) -> int:
    """Days in a step such as ``4w`` (weeks) or ``28d`` (days).

    Raises :class:`BacktestError` for anything else.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([dw])\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise BacktestError(
            f"--as-of-every {text!r}: give a positive number of days or weeks, e.g. 28d or 4w"
        )
    n = int(match.group(1))
    return n * 7 if match.group(2) == "w" else n


def as_of_series(start: dt.date, end: dt.date, every_days: int) -> list[dt.date]:
    """Dates ``start, start + every, ...`` up to and including ``end``."""
    if every_days <= 0:
        raise BacktestError("the step between as-of dates must be at least one day")
    if end < start:
        raise BacktestError(f"--from {start} is after --to {end}")
    count = (end - start).days // every_days + 1
    return [start + dt.timedelta(days=k * every_days) for k in range(count)]


def check_windows(
    windows: Sequence[Window], first: dt.date, export: dt.date, source: str | None = None
) -> None:
    """Every window must start on or after the first record and end by the export date.

    Raises :class:`BacktestError` naming the first window that does not fit (and, given
    ``source``, the export file it does not fit).
    """
    where = f"{source}: " if source else ""
    if not windows:
        raise BacktestError("no as-of dates: give --as-of DATE or --as-of-every with --from/--to")
    starts = [w.as_of for w in windows]
    twice = sorted({d for d in starts if starts.count(d) > 1})
    if twice:
        raise BacktestError(f"as-of date {twice[0]} is given for more than one window")
    for w in windows:
        if w.until <= w.as_of:
            raise BacktestError(
                f"as-of {w.as_of} is not before until {w.until}: the window must end after it "
                "starts"
            )
        if w.as_of < first:
            raise BacktestError(
                f"{where}as-of {w.as_of} is before the export's first opportunity ({first}): the "
                "pipeline on that date is unknown"
            )
        if w.as_of > export:
            raise BacktestError(
                f"{where}as-of {w.as_of} is after the export date ({export}): nothing is known then"
            )
        if w.until > export:
            raise BacktestError(
                f"{where}until {w.until} (window from {w.as_of}) is after the export date "
                f"({export}): the bookings after it are not in the export; choose an earlier "
                "--until, a shorter --window-weeks or an earlier as-of date"
            )


def realised_bookings(data: CrmData, as_of: dt.date, until: dt.date) -> float:
    """Sum of the amounts of deals won with a close date in ``(as_of, until]``."""
    opps = data.opportunities
    closed_on = opps["close"].dt.normalize()
    won = (
        (opps["outcome"] == "won")
        & (closed_on > pd.Timestamp(as_of))
        & (closed_on <= pd.Timestamp(until))
    )
    return float(opps.loc[won, "amount"].fillna(0.0).sum())


def window_scenario(
    scenario: Scenario,
    window: Window,
    pipeline: list[dict[str, Any]],
    revenue: float | None = None,
) -> Scenario:
    """``scenario`` started on ``window.as_of`` with ``pipeline`` open, run to ``window.until``.

    The target's start date becomes the as-of date and its horizon the window; the target
    revenue becomes ``revenue`` when it is positive (a backtest does not judge P(target)).
    Everything else (market, team, campaigns, policies) is the scenario's.

    Raises :class:`BacktestError` when a deal's segment is not one of the scenario's.
    """
    unknown = sorted({str(e["segment"]) for e in pipeline} - set(scenario.segments))
    if unknown:
        raise BacktestError(
            f"the export has deals in segment(s) {', '.join(unknown)} that scenario "
            f"'{scenario.name}' does not define (its segments: {', '.join(scenario.segments)}); "
            "map them with --mapping or add them to the scenario"
        )
    data = scenario.model_dump()
    data["target"] = {
        **data["target"],
        "start_date": window.as_of,
        "horizon_weeks": window.days / 7.0,
    }
    if revenue is not None and revenue > 0:
        data["target"]["revenue"] = float(revenue)
    data["open_pipeline"] = pipeline
    sc = Scenario.model_validate(data)
    problems = reference_errors(sc)
    if problems:
        path, message = problems[0]
        raise BacktestError(f"{'.'.join(map(str, path))}: {message}")
    return sc


# --------------------------------------------------------------------------- statistics
def mid_rank_percentile(actual: float, simulated: np.ndarray | Sequence[float]) -> float:
    """Where ``actual`` falls in ``simulated``, 0–1: share below plus half the share equal.

    The mid-rank keeps ties (many replications booking exactly 0, say) from pushing the
    percentile to either end; for a calibrated model it is uniform on 0–1.
    """
    sims = np.asarray(simulated, dtype=float)
    if sims.size == 0:
        return math.nan
    below = float(np.count_nonzero(sims < actual))
    equal = float(np.count_nonzero(sims == actual))
    return (below + 0.5 * equal) / sims.size


def window_row(
    window: Window, pipeline: list[dict[str, Any]], actual: float, simulated: np.ndarray
) -> dict[str, Any]:
    """One ``backtest.csv`` row from the actual and the simulated bookings of a window."""
    p10, p50, p90 = (float(q) for q in np.quantile(simulated, (0.1, 0.5, 0.9)))
    return {
        "as_of": window.as_of.isoformat(),
        "until": window.until.isoformat(),
        "open_deals": len(pipeline),
        "open_value": float(sum(e.get("value", 0.0) for e in pipeline)),
        "actual": float(actual),
        "sim_p10": p10,
        "sim_p50": p50,
        "sim_p90": p90,
        "sim_mean": float(np.mean(simulated)),
        "percentile": mid_rank_percentile(actual, simulated),
        "inside_p10_p90": bool(p10 <= actual <= p90),
    }


def exact_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Clopper–Pearson (exact binomial) interval for a proportion."""
    if n <= 0:
        return (math.nan, math.nan)
    alpha = 1.0 - level
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = (
        1.0
        if successes == n
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    )
    return (low, high)


def acceptance_region(n: int, p: float, level: float = LEVEL) -> tuple[int, int]:
    """Counts a Binomial(n, p) variable takes with both tail probabilities at least (1-level)/2.

    With 12 windows and p = 0.8 this is 7..12: fewer than 7 actuals inside P10–P90 happens to a
    calibrated model less than 2.5% of the time.
    """
    tail = (1.0 - level) / 2.0
    ks = np.arange(n + 1)
    ok = (stats.binom.cdf(ks, n, p) >= tail) & (stats.binom.sf(ks - 1, n, p) >= tail)
    kept = ks[ok]
    return int(kept.min()), int(kept.max())


def windows_overlap(windows: Sequence[Window]) -> bool:
    """Whether any two windows share days (their outcomes are then correlated)."""
    ordered = sorted(windows, key=lambda w: w.as_of)
    return any(b.as_of < a.until for a, b in itertools.pairwise(ordered))


def calibration_summary(table: pd.DataFrame, overlap: bool | None = None) -> dict[str, Any]:
    """The calibration verdict over the windows of ``table`` (``backtest.csv`` rows).

    For a calibrated model the number of actuals inside P10–P90 is Binomial(k, 0.8) over k
    independent windows, and the numbers below P10 and above P90 are each Binomial(k, 0.1).
    The model is judged *miscalibrated* when a count falls outside its 95% acceptance region
    (:func:`acceptance_region`): too many actuals below P10 (the model forecasts too much),
    above P90 (too little), or outside on both sides (the band is too narrow), or too many
    inside (too wide). With so few windows that no count could be rejected the verdict is
    *too few windows*. Overlapping windows share deals, so their outcomes are correlated and
    the test is optimistic; the summary says so.
    """
    k = len(table)
    actual = table["actual"].to_numpy(dtype=float)
    inside = int(table["inside_p10_p90"].astype(bool).sum())
    below = int((actual < table["sim_p10"].to_numpy(dtype=float)).sum())
    above = int((actual > table["sim_p90"].to_numpy(dtype=float)).sum())
    share = inside / k if k else math.nan
    low, high = exact_interval(inside, k)
    region = acceptance_region(k, CALIBRATED_SHARE) if k else (0, 0)
    tail_max = acceptance_region(k, TAIL_SHARE)[1] if k else 0
    if overlap is None:
        overlap = windows_overlap(
            [
                Window(dt.date.fromisoformat(str(a)), dt.date.fromisoformat(str(u)))
                for a, u in zip(table["as_of"], table["until"], strict=True)
            ]
        )
    if k == 0:
        status, verdict = "no_windows", "no windows to judge"
    elif region == (0, k) and tail_max >= k:
        status = "too_few_windows"
        verdict = (
            f"too few windows to judge calibration: {inside} of {k} inside P10-P90, the actual "
            f"at percentile {', '.join(f'{p:.0%}' for p in table['percentile'])} of the "
            f"simulation; add as-of dates, e.g. --as-of-every 8w --from DATE --window-weeks 8"
        )
    else:
        head = f"{inside} of {k} actuals inside P10-P90 ({share:.0%}, 95% CI {low:.0%}-{high:.0%})"
        if below > tail_max and below >= above:
            status = "miscalibrated"
            verdict = (
                f"miscalibrated: the actual fell below P10 in {below} of {k} windows: the model "
                f"forecasts too much; {head}"
            )
        elif above > tail_max:
            status = "miscalibrated"
            verdict = (
                f"miscalibrated: the actual fell above P90 in {above} of {k} windows: the model "
                f"forecasts too little; {head}"
            )
        elif inside < region[0]:
            status = "miscalibrated"
            verdict = (
                f"miscalibrated: the P10-P90 band is too narrow ({below} actuals below P10, "
                f"{above} above P90); {head}"
            )
        elif inside > region[1]:
            status = "miscalibrated"
            verdict = f"miscalibrated: the P10-P90 band is too wide; {head}"
        else:
            status = "calibrated"
            verdict = (
                f"calibrated: {head}, consistent with the 80% a calibrated model gives "
                f"(accepted {region[0]}..{region[1]} of {k})"
            )
        if k < FEW_WINDOWS:
            verdict += f"; only {k} windows: the test catches gross errors only"
        if overlap:
            verdict += "; windows overlap, so they are correlated and the test is optimistic"
    return {
        "windows": k,
        "inside": inside,
        "share_inside": share,
        "share_inside_ci95": [low, high],
        "interval_method": "Clopper-Pearson (exact binomial)",
        "calibrated_share": CALIBRATED_SHARE,
        "accepted_inside": list(region),
        "below_p10": below,
        "above_p90": above,
        "accepted_per_tail_max": tail_max,
        "mean_percentile": float(table["percentile"].mean()) if k else math.nan,
        "windows_overlap": bool(overlap),
        "status": status,
        "verdict": verdict,
    }


# --------------------------------------------------------------------------- running
@dataclass
class BacktestResult:
    """A finished backtest: one row per window, the summary, and the simulated bookings."""

    scenario: Scenario
    table: pd.DataFrame
    summary: dict[str, Any]
    simulated: dict[str, np.ndarray]  # as-of date (ISO) -> simulated bookings per replication


def window_seed(seed: int, window: Window) -> int:
    """Root seed of a window's Monte Carlo run, derived from ``seed`` and the window's dates.

    Each window has its own independent random numbers, and a window gives the same result
    whichever other windows run beside it.
    """
    seq = np.random.SeedSequence(
        seed, spawn_key=(window.as_of.toordinal(), window.until.toordinal())
    )
    return int(seq.generate_state(1, dtype=np.uint64)[0])


ProgressCallback = Callable[[int], None]


def run_backtest(
    scenario: Scenario,
    data: CrmData,
    windows: Sequence[Window],
    replications: int = 300,
    seed: int = 0,
    workers: int = 1,
    *,
    export_date: dt.date | None = None,
    progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Run ``scenario`` from each window's as-of date with the pipeline of ``data`` then.

    ``export_date`` is the last day the export covers (default: the latest date in it); every
    window must lie between the first opportunity and that day. Results do not depend on
    ``workers``.
    """
    first, last = data_span(data)
    export = export_date or last
    check_windows(windows, first, export)
    rows: list[dict[str, Any]] = []
    simulated: dict[str, np.ndarray] = {}
    for w in sorted(windows, key=lambda x: (x.as_of, x.until)):
        pipeline = open_pipeline_as_of(data, w.as_of, scenario, owners=True)
        actual = realised_bookings(data, w.as_of, w.until)
        sc = window_scenario(scenario, w, pipeline, revenue=actual)
        res = run(sc, replications, window_seed(seed, w), workers, progress=progress)
        revenue = res.table["revenue"].to_numpy(dtype=float)
        simulated[w.as_of.isoformat()] = revenue
        rows.append(window_row(w, pipeline, actual, revenue))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    summary = calibration_summary(table, windows_overlap(windows))
    return BacktestResult(scenario=scenario, table=table, summary=summary, simulated=simulated)


# --------------------------------------------------------------------------- chart and files
_BLUE, _VERMILLION, _GREEN, _GREY, _INK = "#0072B2", "#D55E00", "#009E73", "#8C8C8C", "#222222"


def calibration_chart(
    table: pd.DataFrame, currency: str = "EUR", title: str | None = None
) -> Figure:
    """Left: per as-of date the simulated P10–P90 band, P50 and the actual; right: PIT histogram.

    Actuals inside the band are green circles, outside ones vermilion crosses. The histogram of
    the actuals' percentiles is flat (the dashed line) for a calibrated model; a pile-up at the
    left means the model forecasts too much, at the right too little, at both ends too narrow a
    band. ``title`` (e.g. the verdict) goes above both panels.
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"calibration chart needs columns {', '.join(missing)}")
    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax, hx = fig.subplots(1, 2, width_ratios=(2.2, 1.0))
    k = len(table)
    x = np.arange(k)
    top = float(np.nanmax(table[["sim_p90", "actual"]].to_numpy(dtype=float))) if k else 1.0
    div, _ = money_unit(top if top > 0 else 1.0)
    p10 = table["sim_p10"].to_numpy(dtype=float) / div
    p50 = table["sim_p50"].to_numpy(dtype=float) / div
    p90 = table["sim_p90"].to_numpy(dtype=float) / div
    actual = table["actual"].to_numpy(dtype=float) / div
    inside = table["inside_p10_p90"].astype(bool).to_numpy()
    ax.bar(x, p90 - p10, bottom=p10, width=0.55, color=_BLUE, alpha=0.25, label="simulated P10-P90")
    ax.hlines(p50, x - 0.275, x + 0.275, color=_BLUE, linewidth=2.0, label="simulated P50")
    ax.scatter(x[inside], actual[inside], marker="o", s=42, color=_GREEN, zorder=3,
               label="actual, inside P10-P90")  # fmt: skip
    ax.scatter(x[~inside], actual[~inside], marker="X", s=60, color=_VERMILLION, zorder=3,
               label="actual, outside")  # fmt: skip
    ax.set_xticks(
        x,
        [str(a) for a in table["as_of"]],
        rotation=45 if k > 6 else 0,
        ha="right" if k > 6 else "center",
    )
    lengths = {
        (dt.date.fromisoformat(str(u)) - dt.date.fromisoformat(str(a))).days
        for a, u in zip(table["as_of"], table["until"], strict=True)
    }
    ax.set_xlabel(
        f"as-of date (windows of {lengths.pop() / 7:g} weeks)"
        if len(lengths) == 1
        else "as-of date"
    )
    ax.set_ylabel(money_axis_label("Bookings in the window", currency, div))
    ax.set_ylim(0, max(float(np.nanmax(np.r_[p90, actual])), 1e-9) * 1.3 if k else 1.0)
    ax.set_title("Simulated range and what actually happened", loc="left")
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)

    bins = np.linspace(0.0, 1.0, 11)
    pct = table["percentile"].to_numpy(dtype=float) * 100.0
    hx.hist(pct, bins=bins * 100.0, color=_BLUE, alpha=0.7, edgecolor="white")
    if k:
        hx.axhline(k / 10.0, color=_INK, linestyle="--", linewidth=1.2, label="calibrated (flat)")
    hx.axvspan(0, 10, color=_VERMILLION, alpha=0.08)
    hx.axvspan(90, 100, color=_VERMILLION, alpha=0.08)
    hx.set_xlim(0, 100)
    hx.set_xlabel("percentile of the actual in the simulation (%)")
    hx.set_ylabel("windows")
    hx.set_title("Where the actuals fell (PIT)", loc="left")
    hx.legend(loc="upper center", fontsize=8, frameon=False)
    hx.spines[["top", "right"]].set_visible(False)
    hx.yaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    return fig


def write_backtest(
    result: BacktestResult,
    out: Path,
    meta: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``backtest.csv``, ``backtest.json`` and ``calibration.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out / "backtest.csv",
        "json": out / "backtest.json",
        "chart": out / "calibration.png",
    }
    money = ["open_value", "actual", "sim_p10", "sim_p50", "sim_p90", "sim_mean"]
    table = result.table.round({**dict.fromkeys(money, 2), "percentile": 4})
    table.to_csv(paths["csv"], index=False)
    payload = {
        "scenario": result.scenario.name,
        **(meta or {}),
        "summary": result.summary,
        "windows": result.table.to_dict(orient="records"),
    }
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(paths["json"])
    headline = result.summary.get("verdict", "").split(";")[0]
    fig = calibration_chart(result.table, result.scenario.economics.currency, headline or None)
    paths["chart"].write_bytes(figure_png(fig, dpi=120))
    return paths
