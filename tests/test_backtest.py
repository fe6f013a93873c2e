"""Backtest: the pipeline as it was on past dates, the realised bookings, calibration verdicts.

Unit tests rebuild the open pipeline from small hand-made exports in the reader's normalised
form. The acceptance tests simulate a two-year history from a known scenario
(:func:`pipesim.calibrate.synthetic.generate_export`) and backtest that same scenario against it
(a calibrated model) and a deliberately wrong one (journeys twice as fast as they are).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim.calibrate.backtest import (
    COLUMNS,
    Window,
    acceptance_region,
    as_of_series,
    calibration_summary,
    check_windows,
    exact_interval,
    mid_rank_percentile,
    parse_every,
    realised_bookings,
    run_backtest,
    window_scenario,
    window_seed,
    windows_overlap,
    write_backtest,
)
from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.errors import BacktestError
from pipesim.calibrate.pipeline_as_of import (
    approximate_stage_starts,
    data_span,
    open_pipeline_as_of,
)
from pipesim.calibrate.synthetic import generate_export, with_years
from pipesim.calibrate.usable import DataReport
from pipesim.cli.main import main
from pipesim.scenario.loader import load_scenario

CRM = Path(__file__).resolve().parent / "fixtures" / "crm"
TRUTH = CRM / "truth.yaml"

# The known scenario of the acceptance tests: the calibration fixture's truth, made smaller
# (about 20 deals open at a time, so a replication is fast). Its qualification policy is the
# truth's threshold: open deals are drawn from the buyers that policy would have pursued, as
# the export's opportunities were.
KNOWN = [
    "segments.SMB.buyers_per_week=2.5",
    "segments.ENT.buyers_per_week=1",
    "campaigns.webinars.budget_per_week=300",
    "leads.prospecting.hours_per_week=0.5",
    "leads.referrals.per_week=0.1",
    "leads.outbound.opportunities_per_rep_week=0.05",
]
# A wrong belief: buyers move through every stage twice as fast as they do.
WRONG = [
    "journey.awareness.mean_days=17.5",
    "journey.interest.mean_days=22.5",
    "journey.preference.mean_days=17.5",
    "journey.decision.mean_days=12.5",
]
EXPORT_SEED = 1
FIRST_AS_OF = dt.date(2024, 7, 1)  # half a year in: the pipeline has filled up
EVERY_WEEKS, WINDOW_WEEKS = 12, 8  # windows do not overlap


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _crm(opps: list[dict], history: list[dict] | None = None) -> CrmData:
    """A normalised export (the form :func:`pipesim.calibrate.crm.read_crm` returns)."""
    base = {"owner": "rep", "source": "inbound", "segment": "S1", "amount": 1000.0}
    df = pd.DataFrame([{**base, **o} for o in opps])
    if "close" not in df:
        df["close"] = None
    for col in ("created", "close"):
        df[col] = pd.to_datetime(df[col], format="ISO8601").astype("datetime64[ns]")
    hist = None
    if history is not None:
        hist = pd.DataFrame(history, columns=["id", "stage", "entered"])
        hist["entered"] = pd.to_datetime(hist["entered"], format="ISO8601").astype("datetime64[ns]")
    return CrmData(opportunities=df, history=hist, report=DataReport())


# --------------------------------------------------------------------------- the pipeline then
@pytest.fixture
def small_export() -> CrmData:
    opps = [
        # open on 1 March, moved interest -> preference -> decision
        {"id": "A", "created": "2025-01-10", "outcome": "open", "stage": "decision"},
        # created at preference (not early), won after the as-of date
        {
            "id": "B",
            "created": "2025-02-01",
            "close": "2025-03-15",
            "outcome": "won",
            "stage": "decision",
            "amount": 5000.0,
        },
        # created after the as-of date
        {"id": "C", "created": "2025-03-05", "outcome": "open", "stage": "interest"},
        # closed before the as-of date
        {
            "id": "D",
            "created": "2025-01-01",
            "close": "2025-02-20",
            "outcome": "lost",
            "stage": "decision",
        },
        # created on the as-of day itself (in the afternoon): open at its end
        {
            "id": "E",
            "created": "2025-03-01T15:00",
            "outcome": "open",
            "stage": "interest",
            "segment": "S2",
        },
        # closed on the as-of day: not open any more
        {
            "id": "F",
            "created": "2025-02-01",
            "close": "2025-03-01",
            "outcome": "won",
            "stage": "decision",
        },
    ]
    history = [
        ("A", "interest", "2025-01-10"),
        ("A", "preference", "2025-02-01"),
        ("A", "decision", "2025-03-10"),
        ("B", "preference", "2025-02-01"),
        ("B", "decision", "2025-02-20"),
        ("C", "interest", "2025-03-05"),
        ("D", "decision", "2025-01-01"),
        ("E", "interest", "2025-03-01T15:00"),
        ("F", "decision", "2025-02-01"),
    ]
    return _crm(opps, [dict(zip(("id", "stage", "entered"), h, strict=True)) for h in history])


def test_open_pipeline_from_stage_history(small_export: CrmData) -> None:
    entries = open_pipeline_as_of(small_export, dt.date(2025, 3, 1))
    # created on or before the day, not closed by it; in order of creation
    assert [e["id"] for e in entries] == ["A", "B", "E"]
    a, b, e = entries
    # A entered preference on 1 Feb: 29 days by the end of 1 March; created before it
    assert (a["stage"], a["days_in_stage"], a["engaged_early"]) == ("preference", 29.0, True)
    # B was created when the buyer entered preference: engaged late
    assert (b["stage"], b["days_in_stage"], b["engaged_early"]) == ("decision", 10.0, False)
    assert b["value"] == 5000.0 and b["count"] == 1
    # E was created at 15:00 on the as-of day: 9 hours in its stage
    assert (e["stage"], e["segment"], e["days_in_stage"]) == ("interest", "S2", 0.375)
    assert e["engaged_early"] is True


def test_open_pipeline_entries_are_valid_scenario_entries(small_export: CrmData) -> None:
    sc = load_scenario(TRUTH)
    entries = open_pipeline_as_of(small_export, dt.date(2025, 3, 1))
    for e in entries:
        e["segment"] = "SMB"
    built = window_scenario(sc, Window(dt.date(2025, 3, 1), dt.date(2025, 4, 26)), entries, 1e6)
    assert [o.id for o in built.open_pipeline] == ["A", "B", "E"]
    assert built.target.start_date == dt.date(2025, 3, 1)
    assert built.target.horizon_weeks == pytest.approx(8.0)
    assert built.target.revenue == 1e6
    assert built.open_pipeline[1].stage == "decision"
    assert built.open_pipeline[1].days_in_stage == 10.0
    # everything else is the scenario's
    assert built.segments == sc.segments and built.reps == sc.reps


def test_unknown_segment_is_bad_input(small_export: CrmData) -> None:
    sc = load_scenario(TRUTH)
    entries = open_pipeline_as_of(small_export, dt.date(2025, 3, 1))
    with pytest.raises(BacktestError, match=r"segment\(s\) S1, S2 .*its segments: SMB, ENT"):
        window_scenario(sc, Window(dt.date(2025, 3, 1), dt.date(2025, 4, 1)), entries)


def test_approximation_without_stage_history() -> None:
    """Stage starts laid out with the default journey's mean dwells (35, 45, 35, 25 days)."""
    opps = [
        # open at the export (1 April), in preference: half-way through it then
        {"id": "G", "created": "2025-01-01", "outcome": "open", "stage": "preference"},
        # won on 20 March: its decision stage ended then (stage unknown without history)
        {"id": "H", "created": "2025-01-15", "close": "2025-03-20", "outcome": "won", "stage": ""},
        # no decision without a known stage: created at 55% of the mean journey
        {
            "id": "K",
            "created": "2025-02-10",
            "close": "2025-03-25",
            "outcome": "no_decision",
            "stage": "",
        },
        # lost on 1 April, the export's last record
        {
            "id": "L",
            "created": "2025-01-02",
            "close": "2025-04-01",
            "outcome": "lost",
            "stage": "",
        },
    ]
    data = _crm(opps)
    g, lost, h, k = open_pipeline_as_of(data, dt.date(2025, 3, 1))
    # G: preference from 2 April - 17.5 days = 15 March 12:00; interest 45 days before that
    assert (g["stage"], g["days_in_stage"], g["engaged_early"]) == ("interest", 31.5, True)
    # H: decision from 21 March - 25 days = 24 February: 6 days by the end of 1 March
    assert (h["stage"], h["days_in_stage"], h["engaged_early"]) == ("decision", 6.0, True)
    # L: decision from 2 April - 25 days = 8 March, preference 35 days before = 1 February
    assert (lost["stage"], lost["days_in_stage"]) == ("preference", 29.0)
    # K: journey began 77 days before 10 Feb; preference 80 days after that = 13 Feb
    assert (k["stage"], k["days_in_stage"], k["engaged_early"]) == ("preference", 17.0, True)


def test_approximate_stage_starts_directions() -> None:
    dwells = np.array([10.0, 20.0, 30.0, 40.0])
    won = approximate_stage_starts(0.0, "", "won", 100.0, dwells, 0.5)
    np.testing.assert_allclose(won, [0.0, 10.0, 30.0, 60.0])
    open_ = approximate_stage_starts(0.0, "interest", "open", 100.0, dwells, 0.5)
    assert open_[1] == 90.0 and open_[0] == 80.0 and np.isinf(open_[2:]).all()
    forward = approximate_stage_starts(100.0, "", "no_decision", 200.0, dwells, 0.5)
    np.testing.assert_allclose(forward, [50.0, 60.0, 80.0, 110.0])


def test_history_row_after_as_of_falls_back_to_the_approximation() -> None:
    opps = [
        {"id": "M", "created": "2025-01-01", "outcome": "open", "stage": "interest"},
        {"id": "N", "created": "2025-01-01", "close": "2025-04-01", "outcome": "won", "stage": ""},
    ]
    late = _crm(opps, [{"id": "M", "stage": "interest", "entered": "2025-03-20"}])
    none = _crm(opps)
    assert open_pipeline_as_of(late, dt.date(2025, 3, 1)) == open_pipeline_as_of(
        none, dt.date(2025, 3, 1)
    )


def test_realised_bookings_counts_wins_closed_after_as_of_through_until() -> None:
    opps = [
        {"id": "1", "created": "2025-01-01", "close": "2025-03-01", "outcome": "won", "amount": 1},
        {"id": "2", "created": "2025-01-01", "close": "2025-03-02", "outcome": "won", "amount": 10},
        {
            "id": "3",
            "created": "2025-01-01",
            "close": "2025-03-31",
            "outcome": "won",
            "amount": 100,
        },
        {
            "id": "4",
            "created": "2025-01-01",
            "close": "2025-04-01",
            "outcome": "won",
            "amount": 1000,
        },
        {
            "id": "5",
            "created": "2025-01-01",
            "close": "2025-03-10",
            "outcome": "lost",
            "amount": 10000,
        },
        {
            "id": "6",
            "created": "2025-03-05",
            "close": "2025-03-20",
            "outcome": "won",
            "amount": 100000,
        },
    ]
    data = _crm(opps)
    assert realised_bookings(data, dt.date(2025, 3, 1), dt.date(2025, 3, 31)) == 100110.0


# --------------------------------------------------------------------------- statistics
def test_mid_rank_percentile_splits_ties() -> None:
    sims = [0.0, 0.0, 1.0, 2.0]
    assert mid_rank_percentile(0.0, sims) == 0.25
    assert mid_rank_percentile(1.5, sims) == 0.75
    assert mid_rank_percentile(-1.0, sims) == 0.0
    assert mid_rank_percentile(2.0, sims) == 0.875


def test_acceptance_region_matches_the_binomial() -> None:
    assert acceptance_region(12, 0.8) == (7, 12)
    # with two windows no count is unusual enough to reject
    assert acceptance_region(2, 0.8) == (0, 2)
    assert acceptance_region(12, 0.1) == (0, 4)


def test_exact_interval() -> None:
    low, high = exact_interval(8, 10)
    assert low == pytest.approx(0.4439, abs=1e-4) and high == pytest.approx(0.9748, abs=1e-4)
    assert exact_interval(0, 5)[0] == 0.0 and exact_interval(5, 5)[1] == 1.0


def _table(actuals: list[float], p10: float = 10.0, p90: float = 20.0, weeks: int = 8):
    start = dt.date(2025, 1, 6)
    rows = []
    for k, a in enumerate(actuals):
        as_of = start + dt.timedelta(weeks=weeks * k)
        rows.append(
            {
                "as_of": as_of.isoformat(),
                "until": (as_of + dt.timedelta(weeks=weeks)).isoformat(),
                "open_deals": 1,
                "open_value": 1.0,
                "actual": a,
                "sim_p10": p10,
                "sim_p50": (p10 + p90) / 2,
                "sim_p90": p90,
                "sim_mean": (p10 + p90) / 2,
                "percentile": 0.5,
                "inside_p10_p90": p10 <= a <= p90,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.mark.parametrize(
    ("actuals", "status", "words"),
    [
        ([15] * 10 + [5, 25], "calibrated", "10 of 12 actuals inside"),
        ([5] * 9 + [15] * 3, "miscalibrated", "below P10 in 9 of 12 windows: the model forecasts"),
        ([25] * 6 + [15] * 6, "miscalibrated", "above P90 in 6 of 12 windows: the model"),
        ([5] * 3 + [25] * 3 + [15] * 6, "miscalibrated", "too narrow"),
        ([15] * 36, "miscalibrated", "too wide"),
        ([15], "too_few_windows", "too few windows"),
        ([5, 25], "calibrated", "only 2 windows: the test catches gross errors only"),
        ([5, 5], "miscalibrated", "below P10 in 2 of 2 windows"),
    ],
)
def test_calibration_verdicts(actuals: list[float], status: str, words: str) -> None:
    summary = calibration_summary(_table(actuals))
    assert summary["status"] == status
    assert words in summary["verdict"]
    assert summary["windows"] == len(actuals)
    assert summary["calibrated_share"] == 0.8
    assert summary["windows_overlap"] is False


def test_overlapping_windows_are_flagged() -> None:
    summary = calibration_summary(_table([15] * 12, weeks=4).assign(until="2026-01-01"))
    assert summary["windows_overlap"] is True
    assert "windows overlap" in summary["verdict"]
    assert windows_overlap([Window(dt.date(2025, 1, 1), dt.date(2025, 2, 1))] * 2)
    assert not windows_overlap(
        [
            Window(dt.date(2025, 1, 1), dt.date(2025, 2, 1)),
            Window(dt.date(2025, 2, 1), dt.date(2025, 3, 1)),
        ]
    )


# --------------------------------------------------------------------------- dates
def test_as_of_series_and_steps() -> None:
    assert parse_every("4w") == 28 and parse_every("10d") == 10
    for bad in ("4", "0w", "1m", "w"):
        with pytest.raises(BacktestError, match="--as-of-every"):
            parse_every(bad)
    dates = as_of_series(dt.date(2025, 1, 1), dt.date(2025, 3, 1), 28)
    assert dates == [dt.date(2025, 1, 1), dt.date(2025, 1, 29), dt.date(2025, 2, 26)]


@pytest.mark.parametrize(
    ("as_of", "until", "message"),
    [
        ("2025-03-01", "2025-03-01", "is not before until"),
        ("2025-04-01", "2025-03-01", "is not before until"),
        ("2024-12-31", "2025-02-01", "before the export's first opportunity"),
        ("2025-06-02", "2025-07-01", "after the export date"),
        ("2025-05-01", "2025-06-02", "until 2025-06-02 .* is after the export date"),
    ],
)
def test_windows_outside_the_export_are_rejected(as_of: str, until: str, message: str) -> None:
    w = Window(dt.date.fromisoformat(as_of), dt.date.fromisoformat(until))
    with pytest.raises(BacktestError, match=message):
        check_windows([w], dt.date(2025, 1, 1), dt.date(2025, 6, 1))


def test_an_as_of_date_twice_is_rejected() -> None:
    w = Window(dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    with pytest.raises(BacktestError, match="2025-02-01 is given for more than one window"):
        check_windows([w, Window(w.as_of, dt.date(2025, 4, 1))], w.as_of, dt.date(2025, 6, 1))


def test_window_seed_depends_on_the_window_only() -> None:
    w1 = Window(dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    w2 = Window(dt.date(2025, 1, 1), dt.date(2025, 3, 1))
    assert window_seed(0, w1) == window_seed(0, w1)
    assert len({window_seed(0, w1), window_seed(0, w2), window_seed(1, w1)}) == 3


# --------------------------------------------------------------------------- acceptance
@pytest.fixture(scope="session")
def known_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two years of history simulated from the known scenario (deterministic by seed)."""
    sc = with_years(load_scenario(TRUTH, KNOWN), 2)
    return generate_export(sc, EXPORT_SEED, tmp_path_factory.mktemp("known_export"))


@pytest.fixture(scope="session")
def known_data(known_export: tuple[Path, Path]) -> CrmData:
    from pipesim.calibrate.crm import read_crm

    return read_crm(*known_export)


def _windows(data: CrmData) -> list[Window]:
    _, export = data_span(data)
    dates = as_of_series(FIRST_AS_OF, export, EVERY_WEEKS * 7)
    windows = [Window(d, d + dt.timedelta(weeks=WINDOW_WEEKS)) for d in dates]
    return [w for w in windows if w.until <= export]


def test_backtest_of_the_known_scenario_is_calibrated(known_data: CrmData, tmp_path: Path) -> None:
    """The scenario that generated the history, backtested on it, is judged calibrated.

    Six non-overlapping 8-week windows: for a calibrated model the number of actuals inside
    P10-P90 is Binomial(6, 0.8), and the verdict accepts 3..6 (a calibrated model falls below 3
    with probability 1.7%) with at most 2 actuals in either tail (Binomial(6, 0.1) exceeds 2 with
    probability 1.6%). The seeds are fixed, so the outcome is the same on every run.
    """
    windows = _windows(known_data)
    assert len(windows) == 6
    sc = load_scenario(TRUTH, KNOWN)
    result = run_backtest(sc, known_data, windows, replications=80, seed=0, workers=1)
    s = result.summary
    assert s["status"] == "calibrated", s["verdict"]
    assert s["accepted_inside"] == [3, 6]
    assert s["below_p10"] <= 2 and s["above_p90"] <= 2
    assert 0.25 < s["mean_percentile"] < 0.75
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    assert (table["open_deals"] > 5).all() and (table["actual"] > 0).all()
    assert (table["sim_p10"] <= table["sim_p50"]).all()
    assert (table["sim_p50"] <= table["sim_p90"]).all()

    paths = write_backtest(result, tmp_path / "bt", {"seed": 0})
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["chart"].stat().st_size > 20_000
    saved = pd.read_csv(paths["csv"])
    assert list(saved.columns) == list(COLUMNS) and len(saved) == 6
    payload = json.loads(paths["json"].read_text())
    assert payload["summary"]["verdict"] == s["verdict"]
    assert payload["summary"]["calibrated_share"] == 0.8
    assert len(payload["windows"]) == 6


def test_backtest_flags_a_wrong_scenario(known_data: CrmData) -> None:
    """Stage dwells halved: deals close sooner than they do, so the model forecasts too much.

    (Doubling deal sizes would hardly show: most bookings in an 8-week window come from deals
    already open, whose amounts are the recorded ones.)
    """
    windows = _windows(known_data)
    wrong = load_scenario(TRUTH, KNOWN + WRONG)
    result = run_backtest(wrong, known_data, windows, replications=40, seed=0, workers=1)
    s = result.summary
    assert s["status"] == "miscalibrated", s["verdict"]
    assert s["below_p10"] >= 4 and s["above_p90"] == 0
    assert "forecasts too much" in s["verdict"]
    assert s["mean_percentile"] < 0.3


def test_results_do_not_depend_on_workers(known_data: CrmData) -> None:
    sc = load_scenario(TRUTH, KNOWN)
    window = [Window(dt.date(2025, 3, 3), dt.date(2025, 4, 28))]
    one = run_backtest(sc, known_data, window, replications=12, seed=5, workers=1)
    two = run_backtest(sc, known_data, window, replications=12, seed=5, workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    np.testing.assert_array_equal(one.simulated["2025-03-03"], two.simulated["2025-03-03"])


# --------------------------------------------------------------------------- command line
def _cli(*args: str) -> object:
    overrides = [a for o in KNOWN for a in ("--set", o)]
    return CliRunner().invoke(main, ["backtest", str(TRUTH), *overrides, *args])


def test_cli_one_window(known_export: tuple[Path, Path], tmp_path: Path) -> None:
    opp, hist = known_export
    out = tmp_path / "one"
    res = _cli(
        "--history",
        str(opp),
        "--stage-history",
        str(hist),
        "--as-of",
        "2025-03-03",
        "--until",
        "2025-04-28",
        "-n",
        "20",
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert "too few windows" in res.output and f"results in {out}" in res.output
    table = pd.read_csv(out / "backtest.csv")
    assert table["until"].tolist() == ["2025-04-28"]
    assert (out / "calibration.png").is_file()
    payload = json.loads((out / "backtest.json").read_text())
    assert payload["stage_source"] == "stage history" and payload["replications"] == 20


def test_cli_series_without_stage_history(known_export: tuple[Path, Path], tmp_path: Path) -> None:
    opp, _ = known_export
    out = tmp_path / "series"
    res = _cli(
        "--history",
        str(opp),
        "--as-of-every",
        "16w",
        "--from",
        "2025-01-06",
        "--window-weeks",
        "4",
        "-n",
        "10",
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert "estimated from each deal's last stage" in res.output
    table = pd.read_csv(out / "backtest.csv")
    # every 16 weeks from 6 January 2025 while a 4-week window still ends by the export
    assert table["as_of"].tolist() == ["2025-01-06", "2025-04-28", "2025-08-18"]
    assert table["until"].tolist() == ["2025-02-03", "2025-05-26", "2025-09-15"]
    assert json.loads((out / "backtest.json").read_text())["stage_source"] == "approximation"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2025-05-01", "--until", "2025-04-01"], "is not before until"),
        (["--as-of", "2023-06-01", "--until", "2023-08-01"], "before the export's first"),
        (["--as-of", "2026-06-01", "--until", "2026-08-01"], "after the export date"),
        (["--as-of", "2025-11-01", "--until", "2026-03-01"], "after the export date"),
        (["--as-of", "2025-03-03"], "give --until DATE or --window-weeks"),
        (["--as-of", "2025-03-03", "--until", "2025-04-01", "--window-weeks", "4"], "not both"),
        (["--as-of-every", "4w", "--window-weeks", "4"], "needs --from"),
        (
            ["--as-of-every", "4 weeks", "--from", "2025-01-06", "--window-weeks", "4"],
            "positive number of days or weeks",
        ),
        (["--from", "2025-01-06", "--window-weeks", "4"], "go with --as-of-every"),
        (
            ["--as-of-every", "4w", "--from", "2025-12-01", "--window-weeks", "8"],
            "no as-of date from --from 2025-12-01 leaves a whole window",
        ),
        (["--as-of", "2025-13-01", "--until", "2025-12-01"], "Invalid value for '--as-of'"),
    ],
)
def test_cli_bad_dates_exit_2(known_export: tuple[Path, Path], args: list[str], message: str):
    res = _cli("--history", str(known_export[0]), "-n", "10", "--quiet", *args)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output


def test_cli_bad_files_exit_2(tmp_path: Path) -> None:
    missing = _cli(
        "--history", str(tmp_path / "nope.csv"), "--as-of", "2025-01-01", "--until", "2025-02-01"
    )
    assert missing.exit_code == 2 and "file not found" in missing.output
    empty = _cli(
        "--history", str(CRM / "bad_empty.csv"), "--as-of", "2025-01-01", "--until", "2025-02-01"
    )
    assert empty.exit_code == 2 and "no data rows" in empty.output
    folder = _cli("--history", str(tmp_path), "--as-of", "2025-01-01", "--until", "2025-02-01")
    assert folder.exit_code == 2, folder.output


def test_cli_unknown_segment_exit_2(known_export: tuple[Path, Path]) -> None:
    res = CliRunner().invoke(
        main,
        [
            "backtest",
            "scenarios/baseline.yaml",
            "--history",
            str(known_export[0]),
            "--as-of",
            "2025-03-03",
            "--until",
            "2025-04-28",
            "-n",
            "10",
            "--quiet",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "does not define" in " ".join(res.output.split())


@pytest.mark.slow
def test_thirteen_windows_of_the_known_scenario(known_data: CrmData, tmp_path: Path) -> None:
    """Thirteen 4-week windows six weeks apart, 200 replications each (a few minutes).

    A calibrated model puts 7..13 of 13 actuals inside P10-P90 with 95% probability.
    """
    _, export = data_span(known_data)
    dates = as_of_series(FIRST_AS_OF, export, 6 * 7)
    windows = [Window(d, d + dt.timedelta(weeks=4)) for d in dates]
    windows = [w for w in windows if w.until <= export]
    assert len(windows) == 13
    sc = load_scenario(TRUTH, KNOWN)
    result = run_backtest(sc, known_data, windows, replications=200, seed=0, workers=1)
    s = result.summary
    assert s["accepted_inside"] == [7, 13]
    assert s["status"] == "calibrated", s["verdict"]
    assert 0.35 < s["mean_percentile"] < 0.65
    wrong = load_scenario(TRUTH, KNOWN + WRONG)
    flagged = run_backtest(wrong, known_data, windows, replications=100, seed=0, workers=1)
    assert flagged.summary["status"] == "miscalibrated", flagged.summary["verdict"]
    assert flagged.summary["below_p10"] > flagged.summary["accepted_per_tail_max"]
    write_backtest(result, tmp_path / "thirteen")
    assert (tmp_path / "thirteen" / "calibration.png").stat().st_size > 20_000
