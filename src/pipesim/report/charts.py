"""Report charts: each a stateless function from tidy results (plus an optional axes) to a Figure.

Every plot checks the columns it needs and raises :class:`ValueError` naming the missing ones.
The numbers behind a chart come from small pure helpers (:func:`exceedance`,
:func:`bookings_quantiles`, :func:`outcome_shares`, :func:`funnel_counts`, ...) that tests check
on hand-made tables. Figures are built with :class:`matplotlib.figure.Figure` directly (Agg
canvas, no pyplot state and no global backend switch), so plotting never opens a window or
leaks figures.

Colours follow the Okabe-Ito palette (safe for colour-blind readers) and every series also
differs in lightness, line style or hatch, so the charts read in greyscale print.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from pipesim.report.data import money, money_axis_label, money_unit
from pipesim.scenario.schema import STAGES

# Okabe-Ito, ordered so neighbours differ in lightness as well as hue.
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8C8C8C"
INK = "#222222"

LineStyle = str | tuple[int, tuple[int, ...]]

SERIES_STYLES: tuple[tuple[str, LineStyle], ...] = (
    (BLUE, "-"),
    (VERMILLION, "--"),
    (GREEN, "-."),
    (PURPLE, ":"),
    (ORANGE, (0, (5, 1, 1, 1, 1, 1))),
    (INK, (0, (1, 1))),
)
"""Colour and line style of the k-th overlaid series (scenarios in a comparison)."""

OUTCOMES: dict[str, tuple[str, str, str]] = {
    # state: (label, colour, hatch)
    "won": ("won", GREEN, ""),
    "lost": ("lost to a competitor", VERMILLION, "//"),
    "no_decision_status_quo": ("no decision: kept status quo", ORANGE, ".."),
    "no_decision_indecision": ("no decision: stalled", YELLOW, "xx"),
    "no_decision": ("no decision (causes not split)", ORANGE, ".."),
    "disqualified": ("disqualified by rep", SKY, ""),
    "uncaptured": ("never picked up", PURPLE, "\\\\"),
    "open_at_end": ("still open at horizon end", GREY, "--"),
}
"""Display label, colour and hatch of each outcome, in stacking order."""

WIDE = (9.6, 4.2)
"""Default size (inches) of a full-width chart."""


# --------------------------------------------------------------------------- helpers
def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`ValueError` when ``df`` lacks any of ``columns``.

    Parameters
    ----------
    df
        The table handed to a plot.
    columns
        Column names the plot reads.
    what
        The plot's name, for the message.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} needs columns {', '.join(missing)}; got {', '.join(map(str, df.columns))}"
        )


def _figure(ax: Axes | None, size: tuple[float, float] = WIDE) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def _money_formatter(div: float) -> FuncFormatter:
    def fmt(x: float, _pos: int | None) -> str:
        v = x / div
        return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.1f}"

    return FuncFormatter(fmt)


def figure_png(fig: Figure, dpi: int = 150) -> bytes:
    """Render a figure to PNG bytes (no timestamps in the metadata, so output is repeatable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


# --------------------------------------------------------------------------- numbers
def exceedance(values: Sequence[float] | np.ndarray, x: float) -> float:
    """Share of ``values`` at or above ``x``: the empirical P(revenue >= x)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan")
    return float(np.mean(v >= x))


def exceedance_curve(values: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """The empirical exceedance curve of ``values``.

    Returns
    -------
    pandas.DataFrame
        Columns ``x`` (each distinct value, ascending) and ``p_exceed`` = P(value >= x).
    """
    v = np.sort(np.asarray(values, dtype=float))
    xs, first = np.unique(v, return_index=True)
    p = (v.size - first) / v.size if v.size else np.array([])
    return pd.DataFrame({"x": xs, "p_exceed": p})


def promise_at(values: Sequence[float] | np.ndarray, confidence: float) -> float:
    """Revenue reached with probability ``confidence``: the (1 - confidence) percentile.

    Uses the same (linear) percentile as ``summary.json``, so ``promise_at(r, 0.9)`` is its P10.
    """
    return float(np.percentile(np.asarray(values, dtype=float), 100 * (1 - confidence)))


def bookings_quantiles(
    bookings: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9)
) -> pd.DataFrame:
    """Quantiles of cumulative bookings across replications, per week.

    Parameters
    ----------
    bookings
        Columns ``replication``, ``week``, ``cumulative_bookings``.
    quantiles
        Quantile levels in [0, 1].

    Returns
    -------
    pandas.DataFrame
        Index ``week`` (starting with week 0 at zero bookings), one column per level named
        ``q10``, ``q25``, ...
    """
    require_columns(bookings, ["replication", "week", "cumulative_bookings"], "bookings_quantiles")
    wide = bookings.pivot(index="week", columns="replication", values="cumulative_bookings")
    out = pd.DataFrame(
        {f"q{round(q * 100)}": wide.quantile(q, axis=1) for q in quantiles}, index=wide.index
    )
    zero = pd.DataFrame({c: [0.0] for c in out.columns}, index=pd.Index([0], name="week"))
    return pd.concat([zero, out]).sort_index()


def outcome_shares(table: pd.DataFrame, segments: Sequence[str] = ()) -> pd.DataFrame:
    """Where leads end: mean count and share per outcome, overall and per segment.

    Parameters
    ----------
    table
        One row per replication with the outcome columns (``won``, ``lost``, ``no_decision``,
        ``no_decision_status_quo``, ``no_decision_indecision``, ``disqualified``, ``uncaptured``,
        ``open_at_end``) and, per segment, ``<SEG>_<outcome>``.
    segments
        Segment names to break down (may be empty).

    Returns
    -------
    pandas.DataFrame
        Long table with columns ``group`` ("All leads" then each segment), ``outcome`` (keys of
        :data:`OUTCOMES`), ``mean`` (count per replication) and ``share`` (of the group's leads).
        Overall, no decision is split by cause; per segment it is split when the table has
        ``<SEG>_no_decision_status_quo`` columns and shown whole otherwise.
    """
    base = ["won", "lost", "disqualified", "uncaptured", "open_at_end"]
    rows: list[dict[str, object]] = []

    def add(group: str, prefix: str) -> None:
        causes = [f"{prefix}no_decision_status_quo", f"{prefix}no_decision_indecision"]
        split = all(c in table.columns for c in causes)
        nd = ["no_decision_status_quo", "no_decision_indecision"] if split else ["no_decision"]
        outcomes = ["won", "lost", *nd, "disqualified", "uncaptured", "open_at_end"]
        require_columns(table, [prefix + o for o in base + nd], "outcome_shares")
        means = {o: float(table[prefix + o].mean()) for o in outcomes}
        total = sum(means.values())
        for o in outcomes:
            rows.append(
                {
                    "group": group,
                    "outcome": o,
                    "mean": means[o],
                    "share": means[o] / total if total > 0 else float("nan"),
                }
            )

    add("All leads", "")
    for seg in segments:
        add(seg, f"{seg}_")
    return pd.DataFrame(rows, columns=["group", "outcome", "mean", "share"])


def funnel_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Pursued opportunities reaching each buying stage, then won (mean per replication).

    Parameters
    ----------
    table
        Columns ``funnel_<stage>`` for each stage in :data:`pipesim.config.STAGES` and
        ``won_opportunities``.

    Returns
    -------
    pandas.DataFrame
        Columns ``step``, ``mean``, ``share_of_first`` and ``drop_from_previous`` (share lost
        since the step before; 0 for the first).
    """
    cols = [f"funnel_{s}" for s in STAGES] + ["won_opportunities"]
    require_columns(table, cols, "funnel_counts")
    means = np.array([float(table[c].mean()) for c in cols])
    prev = np.concatenate([[means[0]], means[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = means / means[0] if means[0] > 0 else np.full_like(means, np.nan)
        drop = np.where(prev > 0, 1 - means / prev, np.nan)
    return pd.DataFrame(
        {
            "step": [*STAGES, "won"],
            "mean": means,
            "share_of_first": share,
            "drop_from_previous": drop,
        }
    )


def attainment_by_seat(reps: pd.DataFrame) -> pd.DataFrame:
    """Quota attainment per seat across replications.

    Parameters
    ----------
    reps
        Columns ``seat``, ``rep``, ``attainment`` (1.0 = quota), one row per replication and seat.

    Returns
    -------
    pandas.DataFrame
        One row per seat, sorted by median attainment (highest first): ``seat``, ``rep``,
        ``median``, ``p10``, ``p90`` and ``p_quota`` (share of replications at or above quota).
    """
    require_columns(reps, ["seat", "rep", "attainment"], "attainment_by_seat")
    g = reps.groupby(["seat", "rep"], sort=False)["attainment"]
    out = pd.DataFrame(
        {
            "median": g.median(),
            "p10": g.quantile(0.1),
            "p90": g.quantile(0.9),
            "p_quota": g.apply(lambda a: float(np.mean(a >= 1.0))),
        }
    ).reset_index()
    return out.sort_values(["median", "seat"], ascending=[False, True], ignore_index=True)


# --------------------------------------------------------------------------- plots
def exceedance_chart(
    table: pd.DataFrame,
    target: float | Mapping[str, float],
    currency: str,
    *,
    confidence: float | None = 0.8,
    ax: Axes | None = None,
) -> Figure:
    """P(revenue >= x) against x, with the target marked.

    Parameters
    ----------
    table
        Column ``revenue`` (one row per replication); with a ``scenario`` column, one curve per
        scenario is overlaid.
    target
        Revenue target (currency), or a mapping scenario -> target when overlaying.
    currency
        ISO currency code for the axis label.
    confidence
        Mark the revenue reached with this probability (a "what can we promise" guide line);
        None for no mark. Only drawn for a single curve.
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(table, ["revenue"], "exceedance_chart")
    fig, ax = _figure(ax)
    groups: list[tuple[str | None, np.ndarray]]
    if "scenario" in table.columns:
        groups = [
            (str(k), g["revenue"].to_numpy(float)) for k, g in table.groupby("scenario", sort=False)
        ]
    else:
        groups = [(None, table["revenue"].to_numpy(float))]
    if isinstance(target, Mapping):
        targets = {str(k): float(v) for k, v in target.items()}
        first_target = next(iter(targets.values()))
    else:
        targets, first_target = {}, float(target)
    div, _ = money_unit(first_target)
    for k, (name, rev) in enumerate(groups):
        colour, style = SERIES_STYLES[k % len(SERIES_STYLES)]
        curve = exceedance_curve(rev)
        # P(R >= x) is p_k on (x_{k-1}, x_k]: a "pre" step; drop to 0 after the largest value
        xs = np.concatenate([curve["x"].to_numpy(), [curve["x"].iloc[-1]]])
        ps = np.concatenate([curve["p_exceed"].to_numpy(), [0.0]])
        ax.step(
            xs,
            ps,
            where="pre",
            color=colour,
            linestyle=style,
            linewidth=2.2,
            label=name if name is not None else "simulated revenue",
        )
        t = targets.get(name, first_target) if name is not None else first_target
        p_t = exceedance(rev, t)
        ax.plot(
            [t], [p_t], marker="o", markersize=7, color=colour, markeredgecolor="white", zorder=5
        )
        if len(groups) == 1:
            ax.annotate(
                f"P(≥ target) = {p_t:.0%}",
                (t, p_t),
                xytext=(10, 8),
                textcoords="offset points",
                fontsize=10,
                color=INK,
                weight="bold",
            )
    for t in sorted(set(targets.values()) if targets else {first_target}):
        ax.axvline(t, color=INK, linestyle="--", linewidth=1.3)
        ax.annotate(
            f"target {money(t, currency)}",
            (t, 1.0),
            xytext=(4, -2),
            textcoords="offset points",
            va="top",
            fontsize=9,
            color=INK,
        )
    if confidence is not None and len(groups) == 1:
        x_c = promise_at(groups[0][1], confidence)
        ax.hlines(confidence, ax.get_xlim()[0], x_c, color=GREY, linestyle=":", linewidth=1.3)
        ax.vlines(x_c, 0, confidence, color=GREY, linestyle=":", linewidth=1.3)
        ax.annotate(
            f"{confidence:.0%} sure of at least {money(x_c, currency)}",
            (x_c, confidence),
            xytext=(-8, 8),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color=INK,
        )
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(_money_formatter(div))
    ax.set_xlabel(money_axis_label("Revenue over the horizon", currency, div))
    ax.set_ylabel("Chance of reaching at least x")
    if len(groups) > 1:
        ax.legend(frameon=False, loc="lower left")
    _style(ax)
    return fig


def revenue_histogram(
    table: pd.DataFrame,
    target: float,
    currency: str,
    *,
    bins: int | None = None,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Histogram of simulated revenue with the target line and P10 / P50 / P90 marks.

    Parameters
    ----------
    table
        Column ``revenue``, one row per replication.
    target
        Revenue target (currency).
    currency
        ISO currency code for the axis label.
    bins
        Number of bins (default: about sqrt(n), 10 to 50).
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(table, ["revenue"], "revenue_histogram")
    rev = table["revenue"].to_numpy(float)
    fig, ax = _figure(ax)
    div, _ = money_unit(target)
    n_bins = bins or int(np.clip(np.sqrt(rev.size), 10, 50))
    lo, hi = float(min(rev.min(), target)), float(max(rev.max(), target))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, n_bins + 1)
    counts, edges = np.histogram(rev, bins=edges)
    share = counts / max(rev.size, 1)
    mids = (edges[:-1] + edges[1:]) / 2
    reached = mids >= target
    width = np.diff(edges)
    ax.bar(
        mids[~reached],
        share[~reached],
        width=width[~reached],
        color="#c7c7c7",
        edgecolor="white",
        label="below target",
    )
    ax.bar(
        mids[reached],
        share[reached],
        width=width[reached],
        color=BLUE,
        edgecolor="white",
        label="target reached",
    )
    ax.axvline(
        target, color=INK, linestyle="--", linewidth=1.6, label=f"target {money(target, currency)}"
    )
    top = float(share.max()) if share.size else 1.0
    for k, (q, label) in enumerate(((10, "P10"), (50, "P50"), (90, "P90"))):
        x = float(np.percentile(rev, q))
        ax.axvline(
            x,
            color=VERMILLION,
            linestyle=":",
            linewidth=1.4,
            label="P10 / P50 / P90" if k == 0 else None,
        )
        ax.annotate(
            f"{label} {money(x, currency)}",
            (x, top * 1.04),
            ha="center",
            va="bottom",
            fontsize=8.5,
            color=INK,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": VERMILLION},
        )
    ax.set_ylim(0, top * 1.22)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v * 100, 6):g}%"))
    ax.xaxis.set_major_formatter(_money_formatter(div))
    ax.set_xlabel(money_axis_label("Revenue over the horizon", currency, div))
    ax.set_ylabel(f"Share of simulated {period}s")
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    return fig


def bookings_fan_chart(
    bookings: pd.DataFrame,
    target: float,
    currency: str,
    horizon_weeks: float,
    *,
    start_date: dt.date | None = None,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Cumulative bookings over the horizon: median, P25-P75 and P10-P90 bands, against target.

    Parameters
    ----------
    bookings
        Columns ``replication``, ``week`` (1 = end of the first week), ``cumulative_bookings``.
    target
        Revenue target at the horizon end (currency).
    currency
        ISO currency code for the axis label.
    horizon_weeks
        Horizon length (weeks); the linear pace runs from 0 to ``target`` over it.
    start_date
        Calendar date of week 0; the x axis shows dates when given, week numbers otherwise.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the legend.
    ax
        Axes to draw into; a new figure when None.
    """
    q = bookings_quantiles(bookings)
    fig, ax = _figure(ax)
    div, _ = money_unit(target)
    weeks = q.index.to_numpy(float)

    def x_of(w: np.ndarray) -> np.ndarray:
        if start_date is None:
            return w
        return np.array([start_date + dt.timedelta(days=7 * float(v)) for v in w])

    x = x_of(weeks)
    ax.fill_between(
        x,
        q["q10"],
        q["q90"],
        color=SKY,
        alpha=0.35,
        linewidth=0,
        label=f"P10-P90 (8 in 10 {period}s)",
    )
    ax.fill_between(
        x,
        q["q25"],
        q["q75"],
        color=BLUE,
        alpha=0.45,
        linewidth=0,
        label=f"P25-P75 (half of {period}s)",
    )
    ax.plot(x, q["q50"], color=BLUE, linewidth=2.4, label="median")
    pace_w = np.array([0.0, horizon_weeks])
    ax.plot(
        x_of(pace_w),
        [0.0, target],
        color=INK,
        linestyle="--",
        linewidth=1.4,
        label="linear pace to target",
    )
    ax.plot(
        x_of(np.array([horizon_weeks])),
        [target],
        marker="D",
        markersize=8,
        color=INK,
        linestyle="none",
        label=f"target {money(target, currency)}",
    )
    ax.axhline(target, color=INK, linestyle=":", linewidth=0.9)
    ax.yaxis.set_major_formatter(_money_formatter(div))
    ax.set_ylabel(money_axis_label("Cumulative bookings", currency, div))
    if start_date is None:
        ax.set_xlabel("Week of the horizon")
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=13)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel(f"Date (horizon starts {start_date.isoformat()})")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    return fig


def outcome_chart(
    table: pd.DataFrame,
    segments: Sequence[str] = (),
    *,
    period: str = "year",
    ax: Axes | None = None,
) -> Figure:
    """Stacked bars: the share of leads ending in each outcome, overall and per segment.

    Parameters
    ----------
    table
        Replications table with the outcome columns (see :func:`outcome_shares`).
    segments
        Segments to show under the overall bar.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    shares = outcome_shares(table, segments)
    groups = list(dict.fromkeys(shares["group"]))
    fig, ax = _figure(ax, (WIDE[0], 1.4 + 0.55 * len(groups)))
    y = np.arange(len(groups))[::-1].astype(float)
    present: list[str] = []
    for outcome in OUTCOMES:
        sub = shares[shares["outcome"] == outcome]
        if sub.empty:
            continue
        present.append(outcome)
    left = np.zeros(len(groups))
    for outcome in present:
        label, colour, hatch = OUTCOMES[outcome]
        sub = shares[shares["outcome"] == outcome].set_index("group")["share"]
        vals = np.array([float(sub.get(g, 0.0)) for g in groups])
        vals = np.nan_to_num(vals)
        ax.barh(
            y,
            vals,
            left=left,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            linewidth=0.8,
            height=0.62,
            label=label,
        )
        for yi, li, v in zip(y, left, vals, strict=True):
            if v >= 0.045:
                ax.text(
                    li + v / 2,
                    yi,
                    f"{v:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if colour in (GREEN, VERMILLION, BLUE) else INK,
                    bbox={"boxstyle": "round,pad=0.15", "fc": colour, "ec": "none"},
                )
        left += vals
    ax.set_yticks(y, groups)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"Share of leads (mean over simulated {period}s)")
    ax.legend(
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2 - 0.5 / len(groups)),
        ncol=4,
        fontsize=8.5,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def funnel_chart(table: pd.DataFrame, *, period: str = "year", ax: Axes | None = None) -> Figure:
    """Pursued opportunities reaching awareness -> interest -> preference -> decision -> won.

    Parameters
    ----------
    table
        Replications table with ``funnel_<stage>`` and ``won_opportunities`` columns.
    period
        What one replication simulates (``year``, ``quarter``, ...), for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    f = funnel_counts(table)
    fig, ax = _figure(ax, (WIDE[0], 3.4))
    y = np.arange(len(f))[::-1].astype(float)
    colours = [BLUE] * (len(f) - 1) + [GREEN]
    ax.barh(y, f["mean"], color=colours, height=0.62)
    first = float(f["mean"].iloc[0]) or 1.0
    for yi, row in zip(y, f.itertuples(index=False), strict=True):
        text = f"{row.mean:,.0f}  ({row.share_of_first:.0%})"
        if row.step != STAGES[0] and not np.isnan(row.drop_from_previous):
            text += f"   −{row.drop_from_previous:.0%} from previous step"
        ax.text(float(row.mean) + first * 0.01, yi, text, va="center", fontsize=9, color=INK)
    labels = [s.capitalize() for s in f["step"]]
    labels[0] = "Awareness (pursued)"
    ax.set_yticks(y, labels)
    ax.set_xlim(0, first * 1.55)
    ax.set_xlabel(f"Pursued opportunities per simulated {period} reaching the step")
    _style(ax)
    ax.grid(False, axis="y")
    return fig


def attainment_chart(reps: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Box plots of quota attainment per rep seat across replications, against 100%.

    Parameters
    ----------
    reps
        Columns ``seat``, ``rep``, ``attainment`` (1.0 = quota), one row per replication and seat.
    ax
        Axes to draw into; a new figure when None.
    """
    order = attainment_by_seat(reps)
    fig, ax = _figure(ax)
    data = [reps.loc[reps["seat"] == s, "attainment"].to_numpy(float) for s in order["seat"]]
    ax.boxplot(
        data,
        tick_labels=list(order["rep"].astype(str)),
        whis=(10, 90),
        showfliers=False,
        patch_artist=True,
        widths=0.6,
        boxprops={"facecolor": SKY, "edgecolor": INK},
        medianprops={"color": INK, "linewidth": 2},
        whiskerprops={"color": INK},
        capprops={"color": INK},
    )
    ax.axhline(1.0, color=VERMILLION, linestyle="--", linewidth=1.5, label="quota (100%)")
    ax.legend(frameon=False, loc="lower left")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Quota attainment")
    ax.set_xlabel("Rep seat (sorted by median; box P25-P75, whiskers P10-P90)")
    ax.tick_params(axis="x", labelrotation=45 if len(data) > 10 else 0)
    _style(ax)
    ax.grid(False, axis="x")
    return fig


def p_target_chart(rows: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """P(target) per scenario with its 95% interval (dot and whisker).

    Parameters
    ----------
    rows
        Columns ``scenario``, ``estimate``, ``ci_low``, ``ci_high`` (probabilities).
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(rows, ["scenario", "estimate", "ci_low", "ci_high"], "p_target_chart")
    fig, ax = _figure(ax, (WIDE[0], 1.2 + 0.6 * len(rows)))
    y = np.arange(len(rows))[::-1].astype(float)
    for k, (yi, row) in enumerate(zip(y, rows.itertuples(index=False), strict=True)):
        colour, _ = SERIES_STYLES[k % len(SERIES_STYLES)]
        ax.errorbar(
            [row.estimate],
            [yi],
            xerr=[[row.estimate - row.ci_low], [row.ci_high - row.estimate]],
            fmt="o",
            color=colour,
            markersize=9,
            capsize=5,
            linewidth=2,
        )
        ax.annotate(
            f"{row.estimate:.0%}  ({row.ci_low * 100:.0f}–{row.ci_high:.0%})",
            (row.ci_high, yi),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=9.5,
        )
    ax.set_yticks(y, list(rows["scenario"].astype(str)))
    ax.set_xlim(0, 1.18)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("Chance of reaching the target (95% interval)")
    _style(ax)
    ax.grid(False, axis="y")
    return fig


def difference_chart(diffs: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Paired against unpaired 95% intervals of the difference in P(target), per scenario.

    Parameters
    ----------
    diffs
        Columns ``scenario``, ``estimate``, ``paired_low``, ``paired_high``, ``unpaired_low``,
        ``unpaired_high`` (probabilities).
    ax
        Axes to draw into; a new figure when None.
    """
    require_columns(
        diffs,
        ["scenario", "estimate", "paired_low", "paired_high", "unpaired_low", "unpaired_high"],
        "difference_chart",
    )
    fig, ax = _figure(ax, (WIDE[0], 1.3 + 0.75 * len(diffs)))
    y = np.arange(len(diffs))[::-1].astype(float)
    for yi, row in zip(y, diffs.itertuples(index=False), strict=True):
        ax.errorbar(
            [row.estimate],
            [yi - 0.14],
            xerr=[[row.estimate - row.unpaired_low], [row.unpaired_high - row.estimate]],
            fmt="s",
            color=GREY,
            capsize=4,
            linewidth=1.6,
            linestyle="none",
            markersize=6,
        )
        ax.errorbar(
            [row.estimate],
            [yi + 0.14],
            xerr=[[row.estimate - row.paired_low], [row.paired_high - row.estimate]],
            fmt="o",
            color=BLUE,
            capsize=5,
            linewidth=2.6,
            markersize=8,
        )
    ax.axvline(0, color=INK, linewidth=1)
    ax.set_yticks(y, [f"{s}" for s in diffs["scenario"]])
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v * 100, 6):+g} pp"))
    ax.set_xlabel("Change in chance of reaching target vs reference (percentage points)")
    ax.plot([], [], "o-", color=BLUE, label="paired (common random numbers)")
    ax.plot([], [], "s-", color=GREY, label="unpaired (as if independent runs)")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    _style(ax)
    ax.grid(False, axis="y")
    return fig
