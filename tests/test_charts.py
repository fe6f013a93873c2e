"""Chart functions on small hand-made tables: the numbers they draw and the columns they need."""

from __future__ import annotations

import datetime as dt
import itertools

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pipesim.report import charts
from pipesim.report.data import money, money_axis_label, pct


@pytest.fixture
def revenue_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    revenue = rng.normal(10e6, 1.5e6, size=257)
    return pd.DataFrame({"revenue": revenue, "hit_target": revenue >= 10.4e6})


def _curve_value_at(line, x: float) -> float:
    """Value of a 'steps-pre' line at x: the y of the first vertex at or right of x."""
    xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    assert line.get_drawstyle() == "steps-pre"
    return float(ys[np.searchsorted(xs, x, side="left")])


# --------------------------------------------------------------------------- exceedance
def test_exceedance_of_a_tiny_sample():
    values = [1.0, 2.0, 2.0, 3.0, 4.0]
    assert charts.exceedance(values, 2.0) == pytest.approx(0.8)
    assert charts.exceedance(values, 2.5) == pytest.approx(0.4)
    assert charts.exceedance(values, 5.0) == 0.0
    assert charts.exceedance(values, 0.0) == 1.0
    curve = charts.exceedance_curve(values)
    assert curve["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert curve["p_exceed"].tolist() == pytest.approx([1.0, 0.8, 0.4, 0.2])


def test_exceedance_at_target_equals_p_target(revenue_table):
    target = 10.4e6
    p_target = revenue_table["hit_target"].mean()
    assert charts.exceedance(revenue_table["revenue"], target) == pytest.approx(p_target)
    fig = charts.exceedance_chart(revenue_table, target, "EUR")
    ax = fig.axes[0]
    curve_line = ax.lines[0]
    # the drawn curve passes through P(target) at the target...
    assert _curve_value_at(curve_line, target) == pytest.approx(p_target)
    # ...and the marked point is (target, P(target))
    marker = ax.lines[1]
    assert list(marker.get_xdata()) == [target]
    assert list(marker.get_ydata()) == pytest.approx([p_target])
    labels = [t.get_text() for t in ax.texts]
    assert f"P(≥ target) = {p_target:.0%}" in labels
    assert ax.get_xlabel() == "Revenue over the horizon (€M)"


def test_exceedance_curve_reads_at_every_sample_point(revenue_table):
    fig = charts.exceedance_chart(revenue_table, 10e6, "EUR")
    line = fig.axes[0].lines[0]
    for x in np.quantile(revenue_table["revenue"], [0.05, 0.3, 0.5, 0.77, 0.95]):
        assert _curve_value_at(line, x) == pytest.approx(
            charts.exceedance(revenue_table["revenue"], x)
        )


def test_promise_at_matches_summary_percentiles(revenue_table):
    r = revenue_table["revenue"]
    assert charts.promise_at(r, 0.9) == pytest.approx(np.percentile(r, 10))
    assert charts.promise_at(r, 0.5) == pytest.approx(np.percentile(r, 50))
    # at least ~80% of years reach the 80% promise
    assert charts.exceedance(r, charts.promise_at(r, 0.8)) >= 0.8 - 1 / len(r)


def test_exceedance_chart_overlays_scenarios(revenue_table):
    both = pd.concat(
        [
            revenue_table.assign(scenario="A"),
            revenue_table.assign(revenue=lambda d: d.revenue + 1e6, scenario="B"),
        ]
    )
    fig = charts.exceedance_chart(both, {"A": 10e6, "B": 11e6}, "USD", confidence=None)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B"]
    styles = {ax.lines[0].get_linestyle(), ax.lines[2].get_linestyle()}
    assert len(styles) == 2  # distinguishable without colour
    assert ax.get_xlabel() == "Revenue over the horizon ($M)"


# --------------------------------------------------------------------------- distribution
def test_histogram_shares_sum_to_one_and_marks_percentiles(revenue_table):
    fig = charts.revenue_histogram(revenue_table, 10.4e6, "GBP", bins=12)
    ax = fig.axes[0]
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(1.0)
    texts = " ".join(t.get_text() for t in ax.texts)
    for q in (10, 50, 90):
        assert money(float(np.percentile(revenue_table["revenue"], q)), "GBP") in texts
    assert "target £10.4M" in [t.get_text() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------- bookings
@pytest.fixture
def bookings() -> pd.DataFrame:
    rows = []
    for rep, per_week in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        for week in (1, 2, 3, 4):
            rows.append((rep, week, per_week * week))
    return pd.DataFrame(rows, columns=["replication", "week", "cumulative_bookings"])


def test_bookings_quantiles(bookings):
    q = charts.bookings_quantiles(bookings)
    assert q.index.tolist() == [0, 1, 2, 3, 4]
    assert q.loc[0].tolist() == [0.0] * 5
    assert q.loc[4, "q50"] == pytest.approx(12.0)
    assert q.loc[2, "q10"] == pytest.approx(np.quantile([2, 4, 6, 8, 10], 0.1))
    assert (q["q10"] <= q["q25"]).all() and (q["q75"] <= q["q90"]).all()


def test_bookings_quantiles_in_any_row_order_and_with_missing_weeks():
    rng = np.random.default_rng(3)
    n, weeks = 50, 8
    full = pd.DataFrame(
        {
            "replication": np.repeat(np.arange(n), weeks),
            "week": np.tile(np.arange(1, weeks + 1), n),
            "cumulative_bookings": rng.gamma(2.0, 1.0, n * weeks).cumsum(),
        }
    )
    wide = full.pivot(index="week", columns="replication", values="cumulative_bookings")
    expected = wide.quantile(0.9, axis=1)
    shuffled = full.sample(frac=1.0, random_state=1)
    q = charts.bookings_quantiles(shuffled)
    assert q.index.tolist() == list(range(weeks + 1))
    assert q["q90"].iloc[1:].to_numpy() == pytest.approx(expected.to_numpy())
    # one replication without its last week: each week's quantiles of the values it has
    gap = full.drop(index=full.index[-1])
    q_gap = charts.bookings_quantiles(gap)
    last = full.loc[(full["week"] == weeks) & (full["replication"] < n - 1), "cumulative_bookings"]
    assert q_gap.loc[weeks, "q50"] == pytest.approx(np.quantile(last, 0.5))
    assert q_gap.loc[1, "q50"] == pytest.approx(q.loc[1, "q50"])


def test_fan_chart_draws_median_and_pace(bookings):
    fig = charts.bookings_fan_chart(bookings, 16.0, "EUR", 4, start_date=dt.date(2026, 1, 1))
    ax = fig.axes[0]
    median, pace, end = ax.lines[0], ax.lines[1], ax.lines[2]
    assert list(median.get_ydata()) == pytest.approx([0, 3, 6, 9, 12])
    assert list(pace.get_ydata()) == [0.0, 16.0]
    assert list(end.get_ydata()) == [16.0]
    assert len(ax.collections) == 2  # the P10-P90 and P25-P75 bands
    assert ax.get_ylabel() == "Cumulative bookings (€)"


def test_fan_chart_without_dates_uses_weeks(bookings):
    fig = charts.bookings_fan_chart(bookings, 2e6, "CHF", 4)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Week of the horizon"
    assert ax.get_ylabel() == "Cumulative bookings (M CHF)"
    assert list(ax.lines[1].get_xdata()) == [0.0, 4.0]


# --------------------------------------------------------------------------- outcomes
def _outcome_table(split_segments: bool = False) -> pd.DataFrame:
    t = pd.DataFrame(
        {
            "won": [10, 20],
            "lost": [5, 5],
            "no_decision": [6, 4],
            "no_decision_status_quo": [2, 2],
            "no_decision_indecision": [4, 2],
            "disqualified": [20, 10],
            "uncaptured": [1, 1],
            "open_at_end": [8, 8],
            "A_won": [10, 20],
            "A_lost": [5, 5],
            "A_no_decision": [6, 4],
            "A_disqualified": [20, 10],
            "A_uncaptured": [1, 1],
            "A_open_at_end": [8, 8],
        }
    )
    if split_segments:
        t["A_no_decision_status_quo"] = [2, 2]
        t["A_no_decision_indecision"] = [4, 2]
    return t


def test_outcome_shares_overall_and_per_segment():
    s = charts.outcome_shares(_outcome_table(), ["A"])
    assert s.groupby("group")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    overall = s[s.group == "All leads"].set_index("outcome")
    assert overall.loc["won", "mean"] == 15.0
    assert overall.loc["won", "share"] == pytest.approx(15 / 49)
    assert overall.loc["no_decision_status_quo", "mean"] == 2.0
    assert "no_decision" not in overall.index  # split by cause overall
    seg = s[s.group == "A"].set_index("outcome")
    assert seg.loc["no_decision", "share"] == pytest.approx(5 / 49)  # whole: causes unknown
    split = charts.outcome_shares(_outcome_table(split_segments=True), ["A"])
    assert "no_decision_indecision" in set(split[split.group == "A"].outcome)


def test_outcome_chart_bars_and_missing_columns():
    fig = charts.outcome_chart(_outcome_table(), ["A"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["All leads", "A"]
    widths = [p.get_width() for p in ax.patches]
    assert sum(widths) == pytest.approx(2.0)  # two bars of 100%
    with pytest.raises(ValueError, match="B_won"):
        charts.outcome_chart(_outcome_table(), ["B"])


def test_outcome_styles_read_in_greyscale():
    def lightness(colour: str) -> float:
        r, g, b = mcolors.to_rgb(colour)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    shown_together = [o for o in charts.OUTCOMES if o != "no_decision"]
    for a, b in itertools.combinations(shown_together, 2):
        _, ca, ha = charts.OUTCOMES[a]
        _, cb, hb = charts.OUTCOMES[b]
        assert ha != hb or abs(lightness(ca) - lightness(cb)) > 0.1, (a, b)


# --------------------------------------------------------------------------- funnel and reps
def test_funnel_counts_and_drops():
    t = pd.DataFrame(
        {
            "funnel_awareness": [100, 100],
            "funnel_interest": [90, 70],
            "funnel_preference": [60, 60],
            "funnel_decision": [50, 30],
            "won_opportunities": [20, 20],
        }
    )
    f = charts.funnel_counts(t)
    assert f["step"].tolist() == ["awareness", "interest", "preference", "decision", "won"]
    assert f["mean"].tolist() == [100, 80, 60, 40, 20]
    assert f["drop_from_previous"].tolist() == pytest.approx([0, 0.2, 0.25, 1 / 3, 0.5])
    assert f["share_of_first"].tolist() == pytest.approx([1, 0.8, 0.6, 0.4, 0.2])
    fig = charts.funnel_chart(t)
    assert [p.get_width() for p in fig.axes[0].patches] == [100, 80, 60, 40, 20]
    with pytest.raises(ValueError, match="won_opportunities"):
        charts.funnel_chart(t.drop(columns="won_opportunities"))


@pytest.fixture
def reps() -> pd.DataFrame:
    rows = []
    for rep in range(4):
        rows += [
            (rep, 0, "ann", 0.5 + 0.1 * rep),
            (rep, 1, "bob", 0.9 + 0.1 * rep),
            (rep, 2, "cy", 1.2),
        ]
    return pd.DataFrame(rows, columns=["replication", "seat", "rep", "attainment"])


def test_attainment_by_seat(reps):
    a = charts.attainment_by_seat(reps)
    assert a["rep"].tolist() == ["cy", "bob", "ann"]  # highest median first
    assert a.set_index("rep").loc["bob", "p_quota"] == pytest.approx(0.75)
    assert a.set_index("rep").loc["cy", "p_quota"] == 1.0
    assert a.set_index("rep").loc["ann", "median"] == pytest.approx(0.65)


def test_attainment_chart_marks_quota(reps):
    fig = charts.attainment_chart(reps)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cy", "bob", "ann"]
    quota = [ln for ln in ax.lines if ln.get_label() == "quota (100%)"]
    assert quota and list(quota[0].get_ydata()) == [1.0, 1.0]


# --------------------------------------------------------------------------- contract
def test_plots_draw_into_a_given_axes(revenue_table, bookings, reps):
    base = Figure()
    ax = base.add_subplot()
    assert charts.revenue_histogram(revenue_table, 10e6, "EUR", ax=ax) is base
    for make in (
        lambda ax: charts.exceedance_chart(revenue_table, 10e6, "EUR", ax=ax),
        lambda ax: charts.bookings_fan_chart(bookings, 10.0, "EUR", 4, ax=ax),
        lambda ax: charts.outcome_chart(_outcome_table(), ["A"], ax=ax),
        lambda ax: charts.attainment_chart(reps, ax=ax),
    ):
        fig = Figure()
        assert make(fig.add_subplot()) is fig


@pytest.mark.parametrize(
    ("plot", "missing"),
    [
        (lambda: charts.exceedance_chart(pd.DataFrame({"x": [1]}), 1.0, "EUR"), "revenue"),
        (lambda: charts.revenue_histogram(pd.DataFrame({"x": [1]}), 1.0, "EUR"), "revenue"),
        (
            lambda: charts.bookings_fan_chart(pd.DataFrame({"week": [1]}), 1.0, "EUR", 1),
            "replication",
        ),
        (lambda: charts.attainment_chart(pd.DataFrame({"seat": [1]})), "attainment"),
        (lambda: charts.p_target_chart(pd.DataFrame({"scenario": ["a"]})), "estimate"),
        (lambda: charts.difference_chart(pd.DataFrame({"scenario": ["a"]})), "paired_low"),
    ],
)
def test_plots_name_missing_columns(plot, missing):
    with pytest.raises(ValueError, match=missing):
        plot()


def test_comparison_charts_render():
    rows = pd.DataFrame(
        {
            "scenario": ["a", "b"],
            "estimate": [0.5, 0.6],
            "ci_low": [0.4, 0.5],
            "ci_high": [0.6, 0.7],
        }
    )
    fig = charts.p_target_chart(rows)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    diffs = pd.DataFrame(
        {
            "scenario": ["b"],
            "estimate": [0.1],
            "paired_low": [0.05],
            "paired_high": [0.15],
            "unpaired_low": [-0.02],
            "unpaired_high": [0.22],
        }
    )
    png = charts.figure_png(charts.difference_chart(diffs), dpi=50)
    assert png.startswith(b"\x89PNG")


def test_money_and_percent_formats():
    assert money(21_800_000, "EUR") == "€21.8M"
    assert money(950_000, "USD") == "$950.0k"
    assert money(1_200_000, "CHF") == "1.2M CHF"
    assert money(-2_000_000, "EUR", unit=1e6) == "−€2.0M"
    assert money(None, "EUR") == "n/a"
    assert money_axis_label("Revenue", "EUR", 1e6) == "Revenue (€M)"
    assert pct(0.623) == "62%" and pct(0.004) == "<1%" and pct(0.996) == ">99%"
    assert pct(0.0) == "0%" and pct(1.0) == "100%" and pct(0.5, 1) == "50.0%"
