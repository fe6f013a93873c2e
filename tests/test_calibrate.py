"""Calibration from CRM exports: reader, bad data, synthetic export, fits and the round trip.

The round trip has two halves. The fitted values are compared with what the same fits give on
many simulated exports of the known scenario (:func:`export_observables`), which checks the
intervals; the calibrated scenario's stage values are compared with the known scenario's own,
which checks the selection correction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim.calibrate import selection as selection_module
from pipesim.calibrate.competing import aalen_johansen, competing_estimates
from pipesim.calibrate.crm import CrmError, read_crm
from pipesim.calibrate.deal_size import deal_size_estimates
from pipesim.calibrate.dwell import fit_censored, stall_estimate
from pipesim.calibrate.fit import calibrated_scenario, fit_all
from pipesim.calibrate.observables import observables
from pipesim.calibrate.onto_scenario import fitted_scenario, uncertainty_path_errors
from pipesim.calibrate.selection import TOLERANCE, widen
from pipesim.calibrate.synthetic import crm_data, export_observables, generate_export, with_years
from pipesim.cli.main import main
from pipesim.engine.model import simulate
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import STAGES

CRM = Path(__file__).resolve().parent / "fixtures" / "crm"
OPP, HIST = CRM / "Opportunity.csv", CRM / "OpportunityHistory.csv"
REGENERATE = (
    "python -m pipesim.calibrate.synthetic tests/fixtures/crm/truth.yaml --seed 1 --years 2 "
    "--out tests/fixtures/crm/"
)
TRUTH_SEED, TRUTH_HISTORIES = 20_240_101, 40
"""What the fits aim at: the same fits on 40 pooled two-year exports (independent seeds)."""
JOURNEY = [
    *(
        f"journey.{s}.{p}"
        for s in ("interest", "preference", "decision")
        for p in ("mean_days", "cv")
    ),
    "journey.interest.stall_hazard_per_week",
    "journey.preference.stall_hazard_per_week",
]
"""The stage values calibrate sets (awareness and the decision stall hazard are not identified)."""


@pytest.fixture(scope="module")
def truth_scenario():
    return load_scenario(CRM / "truth.yaml")


@pytest.fixture(scope="module")
def data():
    return read_crm(OPP, HIST)


@pytest.fixture(scope="module")
def fits(data):
    return fit_all(data, seed=0)


@pytest.fixture(scope="module")
def truth(truth_scenario):
    return export_observables(truth_scenario, TRUTH_SEED, 2.0, TRUTH_HISTORIES)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """``pipesim calibrate`` on the fixture with the known scenario as base (run once)."""
    folder = tmp_path_factory.mktemp("calibrated")
    shutil.copy(OPP, folder / "Opportunity.csv")
    out = folder / "cal" / "fitted.yaml"
    res = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(folder / "Opportunity.csv"),
            "--history",
            str(HIST),
            "--out",
            str(out),
            "--base",
            str(CRM / "truth.yaml"),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((folder / "cal" / "fitted.calibration.json").read_text())
    md = (folder / "cal" / "fitted.calibration.md").read_text()
    return {"out": out, "report": report, "md": md, "output": res.output}


def final_intervals(report) -> dict[str, tuple[float, float, float]]:
    """Name -> (value, low, high) of the estimates in a calibration report."""
    return {e["name"]: (e["value"], e["low"], e["high"]) for e in report["estimates"]}


def fit_intervals(fits) -> dict[str, tuple[float, float, float]]:
    return {name: (e.value, e.low, e.high) for name, e in fits.estimates.items()}


# --------------------------------------------------------------------------- reader
def test_reader_normalises_the_fixture(data) -> None:
    opp = data.opportunities
    n_rows = len(OPP.read_text(encoding="utf-8").splitlines()) - 1
    assert data.report.rows_read == data.report.rows_used == n_rows == len(opp)
    assert not data.report.skipped
    assert set(opp["outcome"]) == {"won", "lost", "no_decision", "open"}
    assert opp["id"].is_unique
    open_ = opp["outcome"] == "open"
    assert opp.loc[open_, "close"].isna().all()
    assert opp.loc[open_, "stage"].isin(STAGES).all()
    closed = opp[~open_]
    assert (closed["close"] >= closed["created"].dt.normalize()).all()
    assert set(opp["source"]) <= {"inbound", "campaign", "prospecting", "referral", "outbound"}
    assert set(opp["segment"]) == {"SMB", "ENT"}
    # decision is the last journey stage of every deal that closed won or lost
    assert (opp.loc[opp["outcome"].isin(["won", "lost"]), "stage"] == "decision").all()
    hist = data.history
    assert hist is not None
    assert hist["stage"].isin(STAGES).all()
    for _, g in hist.groupby("id"):
        assert g["entered"].is_monotonic_increasing


def test_generator_is_byte_identical_to_the_fixture(tmp_path, truth_scenario) -> None:
    paths = generate_export(with_years(truth_scenario, 2), 1, tmp_path)
    for new, shipped in zip(paths, (OPP, HIST), strict=True):
        assert new.read_bytes() == shipped.read_bytes(), (
            f"{shipped.name} differs from what the generator writes now; if the engine changed "
            f"on purpose, regenerate it with `{REGENERATE}`"
        )


def test_generator_writes_what_the_model_did(tmp_path, truth_scenario) -> None:
    sc = with_years(truth_scenario, 1)
    model = simulate(sc, 7)
    generate_export(sc, 7, tmp_path)
    d = read_crm(tmp_path / "Opportunity.csv", tmp_path / "OpportunityHistory.csv")
    opp = d.opportunities
    assert len(opp) == int(model.pursued.sum())
    counts = opp["outcome"].value_counts()
    status = model.status[model.pursued]
    for code, name in enumerate(("won", "lost", "no_decision")):
        assert counts.get(name, 0) == int((status == code).sum())
    assert counts.get("open", 0) == int((status == 5).sum())
    assert math.isclose(opp["amount"].sum(), model.leads.value[model.pursued].sum(), rel_tol=1e-6)
    # an earlier export date censors more deals
    early = tmp_path / "early"
    generate_export(sc, 7, early, export_date=sc.target.start_date + pd.Timedelta(days=200))
    d2 = read_crm(early / "Opportunity.csv", early / "OpportunityHistory.csv")
    assert len(d2.opportunities) < len(opp)
    assert (d2.opportunities["outcome"] == "open").mean() > (opp["outcome"] == "open").mean()


def test_crm_data_is_what_reading_the_export_gives(tmp_path, truth_scenario) -> None:
    """The in-memory export the simulated histories use equals writing and reading the CSVs."""
    sc = with_years(truth_scenario, 1)
    export = sc.target.start_date + dt.timedelta(days=300)
    generate_export(sc, 11, tmp_path, export_date=export)
    read = read_crm(tmp_path / "Opportunity.csv", tmp_path / "OpportunityHistory.csv")
    built = crm_data(sc, simulate(sc, 11), 300.0)
    assert (read.opportunities["outcome"] == "open").any()
    pd.testing.assert_frame_equal(built.opportunities, read.opportunities)
    pd.testing.assert_frame_equal(built.history, read.history)


# --------------------------------------------------------------------------- bad data
def test_bad_rows_are_reported_per_reason_with_line_numbers() -> None:
    d = read_crm(CRM / "bad_rows.csv", CRM / "bad_history.csv")
    r = d.report
    assert r.rows_read == 19
    assert r.rows_used == 9
    expected = {
        "CloseDate before CreatedDate": 2,
        "duplicate Id (the first row with it is kept)": 1,
        "blank Id": 1,
        "StageName, IsClosed and IsWon contradict each other": 1,
        "unparseable Amount (expected a number)": 1,
        "history: OpportunityId not among the usable opportunities (unknown or skipped)": 1,
        "history: unparseable CreatedDate (expected ISO 8601)": 1,
    }
    for reason, count in expected.items():
        assert r.skipped.get(reason) == count, (reason, r.skipped)
    stage_reason = next(k for k in r.skipped if k.startswith("StageName not in the mapping"))
    assert "Closed Won" in stage_reason and "no_decision" in stage_reason
    assert r.examples[stage_reason] == [
        "bad_rows.csv:13: Id='006S900003', CreatedDate='2024-02-01T10:00:00.000Z', "
        "CloseDate='2024-03-15', StageName='Contract Sent', Amount='1000.00'"
    ]
    assert [e.split(":")[1] for e in r.examples["CloseDate before CreatedDate"]] == ["14", "15"]
    assert sum(r.skipped.values()) == r.rows_read - r.rows_used + 3  # + 3 history rows
    assert "LeadSource 'Billboard' not in the mapping: counted as 'other'" in r.notes
    text = r.to_text()
    assert "read 19 rows, used 9" in text and "bad_rows.csv:19" in text
    kept = d.opportunities.set_index("id")
    assert kept.loc["006S900009", "outcome"] == "no_decision"  # loss reason "Status quo"
    assert kept.loc["006S900009", "source"] == "other"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad_missing_column.csv"], "required column 'CreatedDate' (created) is missing"),
        (["bad_empty.csv"], "no data rows after the header"),
        (["no_such_file.csv"], "no_such_file.csv: file not found"),
        (
            ["Opportunity.csv", "--mapping", str(CRM / "bad_mapping.yaml")],
            "stages.Discovery: 'intrest' is not allowed; allowed: awareness, interest",
        ),
    ],
)
def test_fatal_problems_exit_2_naming_file_and_column(tmp_path, args, message) -> None:
    argv = ["calibrate", str(CRM / args[0]), *args[1:], "--out", str(tmp_path / "s.yaml")]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_bad_mapping_names_line_key_and_allowed_values() -> None:
    with pytest.raises(CrmError) as exc:
        read_crm(OPP, mapping=CRM / "bad_mapping.yaml")
    text = str(exc.value)
    assert "bad_mapping.yaml:2:31: opportunity_columns.created_on: unknown key" in text
    assert "bad_mapping.yaml:5:11: sources.Billboard: 'advertising' is not allowed" in text


def test_nothing_usable_left_is_fatal(tmp_path) -> None:
    bad = tmp_path / "o.csv"
    lines = CRM.joinpath("bad_rows.csv").read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([lines[0], lines[11], lines[12]]) + "\n", encoding="utf-8")
    with pytest.raises(CrmError, match="no usable opportunity left"):
        read_crm(bad)


def test_mapping_adapts_another_crm(tmp_path) -> None:
    (tmp_path / "deals.csv").write_text(
        "DealId;Opened;Closed;Phase;Value;Origin;Why\n"
        "a1;31/01/2025;15/03/2025;Signed;1.200,50;Website;\n"
        "a2;01/02/2025;01/04/2025;Dropped;80.000,00;Event;Budget frozen\n"
        "a3;02/02/2025;;Discovery;;SDR;\n"
        "a4;03/02/2025;10/04/2025;Dropped;30.000;Website;Went with rival\n",
        encoding="utf-8",
    )
    # semicolons are not CSV: this CRM's export needs converting; commas are the format
    text = (tmp_path / "deals.csv").read_text(encoding="utf-8")
    rows = [line.split(";") for line in text.splitlines()]
    (tmp_path / "deals.csv").write_text(
        "\n".join(",".join(f'"{c}"' for c in r) for r in rows) + "\n", encoding="utf-8"
    )
    (tmp_path / "map.yaml").write_text(
        "opportunity_columns: {id: DealId, created: Opened, close: Closed, stage: Phase,\n"
        "  amount: Value, source: Origin, loss_reason: Why, is_won: null, is_closed: null}\n"
        'date_format: "%d/%m/%Y"\n'
        'decimal: ","\n'
        'thousands: "."\n'
        "stages: {Discovery: interest, Signed: won, Dropped: lost}\n"
        "no_decision_reasons: [Budget frozen]\n"
        "sources: {Website: inbound, Event: campaign, SDR: prospecting}\n"
        "segment: {amount_bands: {small: 25000, large: .inf}}\n",
        encoding="utf-8",
    )
    d = read_crm(tmp_path / "deals.csv", mapping=tmp_path / "map.yaml")
    opp = d.opportunities.set_index("id")
    assert list(opp["outcome"]) == ["won", "no_decision", "open", "lost"]
    assert opp.loc["a1", "amount"] == pytest.approx(1200.5)
    assert opp.loc["a1", "created"] == pd.Timestamp(2025, 1, 31)
    assert list(opp["segment"]) == ["small", "large", "unknown", "large"]
    assert list(opp["source"]) == ["inbound", "campaign", "prospecting", "inbound"]
    assert opp.loc["a3", "stage"] == "interest"


# --------------------------------------------------------------------------- estimators
def test_censored_gamma_fit_uses_censored_records() -> None:
    rng = np.random.default_rng(3)
    t = rng.gamma(2.0, 15.0, 2000)  # mean 30, cv 0.71
    c = rng.uniform(0, 60, 2000)  # heavy censoring
    obs = t <= c
    seen = np.minimum(t, c)
    fit = fit_censored(seen, obs, "gamma")
    k, theta = np.exp(fit.params)
    se_log_mean = math.sqrt(fit.cov[0, 0] + fit.cov[1, 1] + 2 * fit.cov[0, 1])
    assert abs(math.log(k * theta / 30.0)) < 3 * se_log_mean
    # dropping the censored records instead would be far off
    assert seen[obs].mean() < 0.7 * 30.0


def test_aalen_johansen_without_censoring_is_the_plain_share() -> None:
    t = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 8.0])
    code = np.array([1, 2, 1, 1, 2, 1])
    assert aalen_johansen(t, code, 2) == pytest.approx([4 / 6, 2 / 6])
    # a censored record redistributes its weight to later events only
    code_c = np.array([1, 2, 1, 0, 2, 1])
    cif = aalen_johansen(t, code_c, 2)
    assert cif.sum() == pytest.approx(1.0)
    # after t=2 half survive; the record censored at 3 leaves two, one of each event
    assert cif[0] == pytest.approx(2 / 6 + (3 / 6) * 0.5)


def test_observables_are_the_fits_point_values(data, fits) -> None:
    obs = observables(data, fits.as_of)
    assert set(ROUND_TRIP) <= set(obs)
    for name, (value, n) in obs.items():
        e = fits.estimates[name]
        assert value == pytest.approx(e.value, rel=1e-9), name
        assert n == e.n


def clustered(rng: np.random.Generator, blocks: int = 60, size: int = 15):
    """Records in blocks that share a random effect, and their block labels."""
    labels = np.repeat(np.arange(blocks), size)
    effect = rng.normal(0.0, 1.0, blocks)[labels]
    return labels, effect


def test_block_intervals_see_records_that_move_together() -> None:
    """Sharing a block effect widens the intervals; one record per block gives the plain ones."""
    rng = np.random.default_rng(5)
    labels, effect = clustered(rng)
    n = len(labels)
    # deal sizes: half the log variance is shared within a block
    amounts = np.exp(10.0 + 0.35 * effect + 0.35 * rng.standard_normal(n))
    plain = deal_size_estimates("S", amounts)
    single = deal_size_estimates("S", amounts, np.arange(n))
    block = deal_size_estimates("S", amounts, labels)
    assert single[0].se == pytest.approx(plain[0].se, rel=0.15)
    assert block[0].se > 2.0 * plain[0].se
    assert block[1].se > 1.2 * plain[1].se
    # competing outcomes: the block decides how likely the first event is
    t = rng.exponential(30.0, n)
    code = np.where(rng.random(n) < 1 / (1 + np.exp(-1.5 * effect)), 1, 2)
    notes = ["first", "second"]
    iid = competing_estimates("x", ["a", "b"], t, code, np.random.default_rng(1), notes)
    blk = competing_estimates("x", ["a", "b"], t, code, np.random.default_rng(1), notes, labels)
    assert iid[0].value == blk[0].value
    assert blk[0].se > 2.0 * iid[0].se
    # stall exits: whole blocks stall or not
    ep = pd.DataFrame(
        {"days": rng.exponential(30.0, n), "event": np.where(effect > 1.0, "exit", "advance")}
    )
    s_iid, s_blk = stall_estimate("interest", ep), stall_estimate("interest", ep, labels)
    assert s_iid is not None and s_blk is not None
    assert s_blk.value == s_iid.value
    assert s_blk.gof["design_effect"] > 4.0
    assert s_blk.high - s_blk.low > 1.8 * (s_iid.high - s_iid.low)
    # the gamma dwell fit: a block's dwells share a scale
    dwell = rng.gamma(2.0, 15.0 * np.exp(0.4 * effect))
    observed = np.ones(n, dtype=bool)
    f_iid = fit_censored(dwell, observed, "gamma")
    f_blk = fit_censored(dwell, observed, "gamma", labels)
    assert np.allclose(f_iid.params, f_blk.params)
    assert f_blk.cov[0, 0] + f_blk.cov[1, 1] + 2 * f_blk.cov[0, 1] > 3.0 * (
        f_iid.cov[0, 0] + f_iid.cov[1, 1] + 2 * f_iid.cov[0, 1]
    )


def test_widen_scales_intervals_about_the_estimate(fits) -> None:
    spread = {
        "dwell.interest.mean_days": {"widened": 2.0, "scale": "relative", "histories": 40},
        "outcome.win_rate": {"widened": 1.5, "scale": "share", "histories": 40},
        "decision.won": {"widened": 50.0, "scale": "share", "histories": 40},
        "outcome.lost_share": {"widened": 1.0, "scale": "share", "histories": 40},
    }
    wide = widen(fits, spread).estimates
    d0, d1 = fits.estimates["dwell.interest.mean_days"], wide["dwell.interest.mean_days"]
    assert math.log(d1.high / d1.value) == pytest.approx(2 * math.log(d0.high / d0.value))
    assert math.log(d1.value / d1.low) == pytest.approx(2 * math.log(d0.value / d0.low))
    assert d1.se == pytest.approx(2 * d0.se) and d1.widened == 2.0
    w0, w1 = fits.estimates["outcome.win_rate"], wide["outcome.win_rate"]
    assert w1.high - w1.value == pytest.approx(1.5 * (w0.high - w0.value))
    assert w1.value - w1.low == pytest.approx(1.5 * (w0.value - w0.low))
    assert "widened x1.50" in w1.method
    assert (wide["decision.won"].low, wide["decision.won"].high) == (0.0, 1.0)
    assert wide["outcome.lost_share"] == fits.estimates["outcome.lost_share"]
    assert fits.estimates["dwell.interest.mean_days"].widened == 1.0  # the input is unchanged


# --------------------------------------------------------------------------- round trip
ROUND_TRIP = [
    *(
        f"dwell.{s}.{p}"
        for s in ("interest", "preference", "decision")
        for p in ("mean_days", "cv")
    ),
    "stall.interest.per_week",
    "stall.preference.per_week",
    "conversion.interest.next",
    "conversion.preference.next",
    "decision.won",
    "decision.lost",
    "decision.no_decision",
    "outcome.win_rate",
    "outcome.no_decision_share",
    *(f"deal_size.{seg}.{p}" for seg in ("SMB", "ENT") for p in ("mean", "cv")),
]
"""The observables checked: every stage conversion, dwell and deal-size value the fit reports."""


def coverage(intervals, truth) -> tuple[float, list[str], list[str]]:
    """Share of ``ROUND_TRIP`` intervals covering the truth, those missing, those far off."""
    rows, missed, wild = [], [], []
    for name in ROUND_TRIP:
        value, low, high = intervals[name]
        true = truth[name]
        inside = low <= true <= high
        # "wildly off": outside the interval widened to twice its half-width on each side
        far = not (value - 2 * (value - low) <= true <= value + 2 * (high - value))
        row = f"{name}: true {true:.4g}, estimate {value:.4g} [{low:.4g}, {high:.4g}]"
        rows.append(row)
        if not inside:
            missed.append(row)
        if far:
            wild.append(row)
    return 1 - len(missed) / len(ROUND_TRIP), missed, wild


def test_round_trip_recovers_the_known_scenario(calibrated, truth) -> None:
    """The fixture's reported intervals cover the truth: at least 90% of 95% intervals, none far.

    The truth is what the same fits give on 40 pooled two-year exports of the known scenario
    (:func:`export_observables`); see docs/calibration.md for why that differs from the raw
    scenario parameters and how the scenario values are backed out.
    """
    share, missed, wild = coverage(final_intervals(calibrated["report"]), truth)
    assert share >= 0.9, "intervals missing the truth:\n" + "\n".join(missed)
    assert not wild, "far from the truth:\n" + "\n".join(wild)


def test_round_trip_truth_is_not_trivially_covered(fits, truth) -> None:
    """The check can fail: the raw stage means differ from the observable ones."""
    sc = load_scenario(CRM / "truth.yaml")
    e = fits.estimates["dwell.interest.mean_days"]
    assert not e.low <= sc.journey.interest.mean_days <= e.high
    shifted = {k: v * 1.25 for k, v in truth.items()}
    share, _, _ = coverage(fit_intervals(fits), shifted)
    assert share < 0.5


def test_corrected_scenario_covers_the_known_stage_values(
    calibrated, data, fits, truth_scenario
) -> None:
    """Every stage value calibrate sets has the known scenario's value inside its 95% interval.

    The uncorrected mapping (journey scale and buying groups only) fails the same check: the
    stage entries a CRM sees favour short journeys, so its means come out short.
    """
    known = truth_scenario.model_dump(mode="json")

    def value_at(path: str) -> float:
        node = known
        for part in path.split("."):
            node = node[part]
        return float(node)

    rows = {v["path"]: v for v in calibrated["report"]["scenario_values"]}
    assert set(JOURNEY) <= set(rows)
    outside = [
        f"{p}: {rows[p]['value']:.4g} [{rows[p]['low']:.4g}, {rows[p]['high']:.4g}], "
        f"known {value_at(p):.4g}"
        for p in JOURNEY
        if not rows[p]["low"] <= value_at(p) <= rows[p]["high"]
    ]
    assert not outside, "corrected values missing the known scenario:\n" + "\n".join(outside)
    plain = {a.path: a for a in fitted_scenario(data, fits, truth_scenario, "plain").applied}
    assert any(not plain[p].low <= value_at(p) <= plain[p].high for p in JOURNEY)
    for p in JOURNEY:
        assert rows[p]["uncorrected"] == pytest.approx(plain[p].value)

    def error(v: float, p: str) -> float:
        return abs(math.log(v / value_at(p)))

    assert sum(error(rows[p]["value"], p) for p in JOURNEY) < 0.5 * sum(
        error(plain[p].value, p) for p in JOURNEY
    )
    corr = calibrated["report"]["simulation"]["correction"]
    assert corr["histories"] >= 2 and corr["iterations"][0]["max_gap_se"] > TOLERANCE
    assert max(abs(r["gap_se"]) for r in corr["values"]) == pytest.approx(
        min(it["max_gap_se"] for it in corr["iterations"])
    )
    # the scenario's uncertainty block carries the corrected values' sds
    sc = load_scenario(calibrated["out"])
    for p in JOURNEY:
        assert sc.uncertainty[p].sd == pytest.approx(rows[p]["sd"])


def test_intervals_are_widened_to_the_simulated_spread(calibrated, fits) -> None:
    """Each reported interval is the data's own, widened where simulated histories vary more."""
    spread = calibrated["report"]["simulation"]["spread"]["values"]
    assert set(ROUND_TRIP) <= set(spread)
    for e in calibrated["report"]["estimates"]:
        name = e["name"]
        raw = fits.estimates[name]
        assert e["value"] == pytest.approx(raw.value)
        row = spread.get(name)
        if row is None:
            assert e["widened"] == 1.0 and e["low"] == pytest.approx(raw.low)
            continue
        expected = max(1.0, row["simulated_sd"] / row["data_se"])
        assert e["widened"] == pytest.approx(expected)
        assert e["se"] == pytest.approx(raw.se * expected)
        assert e["low"] <= raw.low + 1e-12 and e["high"] >= raw.high - 1e-12
    assert any(r["widened"] > 1.0 for r in spread.values())


@pytest.mark.slow
def test_round_trip_coverage_over_many_exports(tmp_path, truth_scenario) -> None:
    """Coverage over 10 independent two-year exports, each calibrated in full: at least 93%.

    Measured 93.7% against what the fits aim at (200 pooled simulated exports); the intervals
    as they were before blocks and the simulated spread covered 92.6% of the same values.
    One export (seed 102, a win rate of 0.62 where the fits aim at 0.54) is far off; no other
    may be. docs/calibration.md.
    """
    truth = export_observables(truth_scenario, TRUTH_SEED, 2.0, 200)
    shares, wild_exports = [], []
    for seed in range(100, 110):
        out = tmp_path / str(seed)
        generate_export(with_years(truth_scenario, 2), seed, out)
        d = read_crm(out / "Opportunity.csv", out / "OpportunityHistory.csv")
        cal = calibrated_scenario(d, fit_all(d, seed=seed), truth_scenario, "x", seed=seed)
        share, _, wild = coverage(fit_intervals(cal.fits), truth)
        shares.append(share)
        if wild:
            wild_exports.append((seed, wild))
    assert np.mean(shares) >= 0.93, shares
    assert len(wild_exports) <= 1, wild_exports


# --------------------------------------------------------------------------- scenario and CLI
def test_fitted_scenario_is_valid_and_its_uncertainty_paths_resolve(data, fits, truth_scenario):
    cal = fitted_scenario(data, fits, truth_scenario, "calibrated")
    sc = cal.scenario
    assert sc.segments["SMB"].deal_size.mean == pytest.approx(
        fits.estimates["deal_size.SMB.mean"].value, rel=1e-6
    )
    assert {a.path for a in cal.applied} == set(cal.uncertainty)
    assert "journey.interest.mean_days" in cal.uncertainty
    assert cal.uncertainty["segments.ENT.deal_size.mean"]["distribution"] == "lognormal"
    assert all(v["sd"] > 0 for v in cal.uncertainty.values())
    assert uncertainty_path_errors(sc, cal.uncertainty) == []
    bad = {"journey.interest.mean_dayz": {"sd": 1.0}, "name": {"sd": 1.0}}
    assert len(uncertainty_path_errors(sc, bad)) == 2
    assert [m.name for m in sc.reps.members or []] == [f"005R000{k}" for k in range(1, 7)]
    assert "journey.awareness" in cal.kept


def test_cli_writes_a_loadable_scenario_and_report(calibrated) -> None:
    sc = load_scenario(calibrated["out"])
    assert sc.name == "fitted"
    report = calibrated["report"]
    names = {e["name"] for e in report["estimates"]}
    assert set(ROUND_TRIP) <= names
    for e in report["estimates"]:
        assert e["low"] <= e["value"] <= e["high"], e
        assert e["n"] > 0 and e["widened"] >= 1.0
    assert report["data"]["rows_used"] == len(OPP.read_text(encoding="utf-8").splitlines()) - 1
    assert report["inputs"]["correct"] is True
    assert report["simulation"]["status"].startswith("corrected")
    for v in report["scenario_values"]:
        assert v["low"] <= v["value"] <= v["high"], v
        assert (v["uncorrected"] is not None) == v["path"].startswith("journey.")
    md = calibrated["md"]
    assert "| dwell.interest.mean_days |" in md and "## Kept from the base scenario" in md
    assert "## Selection correction" in md and "## Spread across simulated histories" in md
    rows = {v["path"]: v for v in report["scenario_values"]}
    before = rows["journey.interest.mean_days"]["uncorrected"]
    after = rows["journey.interest.mean_days"]["value"]
    assert f"| journey.interest.mean_days | {after:.4g} | {before:.4g} |" in md
    assert "journey.interest.mean_days =" in calibrated["output"]
    assert "selection correction: corrected" in calibrated["output"]
    assert f"(uncorrected {before:.4g};" in calibrated["output"]


def test_cli_no_correct_keeps_the_uncorrected_mapping(tmp_path, data, fits, truth_scenario):
    out = tmp_path / "plain.yaml"
    argv = ["calibrate", str(OPP), "--history", str(HIST), "--out", str(out)]
    argv += ["--base", str(CRM / "truth.yaml"), "--no-correct"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "plain.calibration.json").read_text())
    assert report["simulation"] is None and report["inputs"]["correct"] is False
    plain = {a.path: a.value for a in fitted_scenario(data, fits, truth_scenario, "p").applied}
    for v in report["scenario_values"]:
        assert v["value"] == pytest.approx(plain[v["path"]]) and v["uncorrected"] is None
    assert all(e["widened"] == 1.0 for e in report["estimates"])
    assert "Not run (`--no-correct`)" in (tmp_path / "plain.calibration.md").read_text()
    assert "selection correction" not in res.output


def test_correction_is_reproducible_from_the_seed(data, fits, truth_scenario, monkeypatch):
    """The same seed gives the same scenario and intervals; another seed other histories."""
    monkeypatch.setattr(selection_module, "SIM_VOLUME", 2)
    monkeypatch.setattr(selection_module, "SIM_HISTORIES", 4)
    monkeypatch.setattr(selection_module, "MAX_ITERATIONS", 2)

    def run(seed: int):
        cal = calibrated_scenario(data, fits, truth_scenario, "x", seed=seed)
        return [(a.path, a.value, a.sd) for a in cal.applied], cal.simulation

    first, sim = run(3)
    assert first == run(3)[0]
    assert first != run(4)[0]
    assert sim is not None and sim["correction"]["histories"] == 2
    assert sim["spread"]["values"]["outcome.win_rate"]["histories"] == 4
