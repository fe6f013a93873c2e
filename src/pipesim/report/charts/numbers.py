"""The numbers behind the report charts: small pure functions of the run's tidy tables.

They draw nothing and import no plotting library, so the run report (SVG charts,
:mod:`pipesim.report.charts.svg`), the matplotlib charts and the report's words all read the same
figures: the exceedance curve and what can be promised, histogram bins with the target on an edge,
bookings quantiles per week, where leads end, the stage funnel and attainment per rep seat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipesim.scenario.schema import STAGES


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


# --------------------------------------------------------------------------- revenue
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
    xs, p = exceedance_steps(values)
    return pd.DataFrame({"x": xs, "p_exceed": p})


def exceedance_steps(values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct value (ascending) and P(value >= it): :func:`exceedance_curve` as arrays."""
    v = np.sort(np.asarray(values, dtype=float))
    xs, first = np.unique(v, return_index=True)
    p = (v.size - first) / v.size if v.size else np.array([])
    return xs, np.asarray(p, dtype=float)


def promise_at(values: Sequence[float] | np.ndarray, confidence: float) -> float:
    """Revenue reached with probability ``confidence``: the (1 - confidence) percentile.

    Uses the same (linear) percentile as ``summary.json``, so ``promise_at(r, 0.9)`` is its P10.
    """
    return float(np.percentile(np.asarray(values, dtype=float), 100 * (1 - confidence)))


def histogram_edges(values: np.ndarray, target: float, bins: int) -> np.ndarray:
    """Bin edges of equal width over ``values`` and ``target``, with ``target`` an edge.

    About ``bins`` bins cover the range of the values and the target; the grid is laid from the
    target, so no bin straddles it: every bin lies wholly below the target or at and above it
    (``np.histogram`` bins are closed on the left, so revenue exactly at target counts as
    reached, as in P(target)).
    """
    v = np.asarray(values, dtype=float)
    lo = float(min(v.min(), target)) if v.size else float(target)
    hi = float(max(v.max(), target)) if v.size else float(target)
    width = (hi - lo) / bins if hi > lo else max(abs(target), 1.0) / bins
    k_lo = int(np.floor((lo - target) / width))
    k_hi = max(int(np.ceil((hi - target) / width)), k_lo + 1)
    if k_hi == 0 and bool((v >= target).any()):  # revenue exactly at target: a bin from it
        k_hi = 1
    edges = target + width * np.arange(k_lo, k_hi + 1, dtype=float)
    edges[0], edges[-1] = min(edges[0], lo), max(edges[-1], hi)  # rounding never drops a value
    return edges


def default_bins(n: int) -> int:
    """Histogram bins for ``n`` replications: about sqrt(n), 10 to 50."""
    return int(np.clip(np.sqrt(n), 10, 50))


def _weekly_grid(bookings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The weeks and a replications x weeks array of cumulative bookings, or None.

    None unless every replication has every week (as ``pipesim run`` writes them). A reshape of
    the columns, not a pivot: a 20,000-replication run's bookings need one float array instead of
    the pivot's several copies and index structures.
    """
    weeks = bookings["week"].to_numpy()
    reps = bookings["replication"].to_numpy()
    uw, ur = np.unique(weeks), np.unique(reps)
    if len(weeks) != len(uw) * len(ur):
        return None
    order = np.lexsort((weeks, reps))  # by replication, then week
    if not (weeks[order].reshape(len(ur), len(uw)) == uw).all():
        return None
    values = bookings["cumulative_bookings"].to_numpy(float)[order]
    return uw, values.reshape(len(ur), len(uw))


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
    grid = _weekly_grid(bookings)
    if grid is not None:
        weeks, values = grid
        levels = np.quantile(values, list(quantiles), axis=0)
        out = pd.DataFrame(
            {f"q{round(q * 100)}": row for q, row in zip(quantiles, levels, strict=True)},
            index=pd.Index(weeks, name="week"),
        )
    else:  # replications with different weeks: quantiles of the values each week has
        wide = bookings.pivot(index="week", columns="replication", values="cumulative_bookings")
        out = pd.DataFrame(
            {f"q{round(q * 100)}": wide.quantile(q, axis=1) for q in quantiles}, index=wide.index
        )
    zero = pd.DataFrame({c: [0.0] for c in out.columns}, index=pd.Index([0], name="week"))
    return pd.concat([zero, out]).sort_index()


# --------------------------------------------------------------------------- outcomes
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
        :data:`pipesim.report.charts.palette.OUTCOMES`), ``mean`` (count per replication) and
        ``share`` (of the group's leads). Overall, no decision is split by cause; per segment it
        is split when the table has ``<SEG>_no_decision_status_quo`` columns and shown whole
        otherwise.
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


def shares_by_group(shares: pd.DataFrame) -> dict[str, dict[str, float]]:
    """:func:`outcome_shares` as group -> outcome -> share (NaN for a group without leads)."""
    out: dict[str, dict[str, float]] = {}
    for group, outcome, share in zip(
        shares["group"], shares["outcome"], shares["share"], strict=True
    ):
        out.setdefault(str(group), {})[str(outcome)] = float(share)
    return out


def funnel_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Pursued opportunities reaching each buying stage, then won (mean per replication).

    Parameters
    ----------
    table
        Columns ``funnel_<stage>`` for each stage in :data:`pipesim.scenario.schema.STAGES` and
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


def funnel_labels(steps: Sequence[str]) -> list[str]:
    """Axis labels of the funnel's steps: ``Awareness (pursued)``, ``Interest``, ..., ``Won``."""
    labels = [str(s).capitalize() for s in steps]
    if labels:
        labels[0] = f"{labels[0]} (pursued)"
    return labels


# --------------------------------------------------------------------------- reps
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
    keys = [reps["seat"], reps["rep"]]
    g = reps["attainment"].groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "median": g.median(),
            "p10": g.quantile(0.1),
            "p90": g.quantile(0.9),
            "p_quota": (reps["attainment"] >= 1.0).groupby(keys, sort=False).mean(),
        }
    ).reset_index()
    return out.sort_values(["median", "seat"], ascending=[False, True], ignore_index=True)


def attainment_samples(reps: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Each seat's rep label and attainments across replications, highest median first.

    The order is :func:`attainment_by_seat`'s.
    """
    order = attainment_by_seat(reps)
    by_seat = {s: g.to_numpy(float) for s, g in reps.groupby("seat", sort=False)["attainment"]}
    return [(str(r), by_seat[s]) for s, r in zip(order["seat"], order["rep"], strict=True)]
