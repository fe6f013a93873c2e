"""Calibration from CRM exports: reader, bad data, synthetic export, fits and the round trip."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim.calibrate.crm import CrmError, read_crm
from pipesim.calibrate.fit import (
    aalen_johansen,
    fit_all,
    fit_censored,
    fitted_scenario,
    uncertainty_path_errors,
)
from pipesim.calibrate.synthetic import generate_export, true_observables, with_years
from pipesim.cli import main
from pipesim.config import STAGES
from pipesim.engine import simulate
from pipesim.loader import load_scenario

CRM = Path(__file__).resolve().parent / "fixtures" / "crm"
OPP, HIST = CRM / "Opportunity.csv", CRM / "OpportunityHistory.csv"
REGENERATE = (
    "python -m pipesim.calibrate.synthetic tests/fixtures/crm/truth.yaml --seed 1 --years 2 "
    "--out tests/fixtures/crm/"
)
TRUTH_SEED, TRUTH_YEARS = 20_240_101, 30.0
"""The true observables come from an independent 30-year simulation (a different seed)."""


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
    return true_observables(truth_scenario, TRUTH_SEED, TRUTH_YEARS)


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


def coverage(fits, truth) -> tuple[float, list[str], list[str]]:
    rows, missed, wild = [], [], []
    for name in ROUND_TRIP:
        e = fits.estimates[name]
        true = truth[name]
        inside = e.low <= true <= e.high
        # "wildly off": outside the interval widened to twice its half-width on each side
        far = not (e.value - 2 * (e.value - e.low) <= true <= e.value + 2 * (e.high - e.value))
        row = f"{name}: true {true:.4g}, estimate {e.value:.4g} [{e.low:.4g}, {e.high:.4g}]"
        rows.append(row)
        if not inside:
            missed.append(row)
        if far:
            wild.append(row)
    return 1 - len(missed) / len(ROUND_TRIP), missed, wild


def test_round_trip_recovers_the_known_scenario(fits, truth) -> None:
    """The fixture's fitted values cover the truth: at least 90% of 95% intervals, none far off.

    The truth is what a CRM can observe, derived from an independent long simulation's own
    arrays (:func:`true_observables`); see docs/calibration.md for why that differs from the
    raw scenario parameters and how the scenario values are backed out.
    """
    share, missed, wild = coverage(fits, truth)
    assert share >= 0.9, "intervals missing the truth:\n" + "\n".join(missed)
    assert not wild, "far from the truth:\n" + "\n".join(wild)


def test_round_trip_truth_is_not_trivially_covered(fits, truth) -> None:
    """The check can fail: the raw stage means differ from the observable ones."""
    sc = load_scenario(CRM / "truth.yaml")
    e = fits.estimates["dwell.interest.mean_days"]
    assert not e.low <= sc.journey.interest.mean_days <= e.high
    shifted = {k: v * 1.25 for k, v in truth.items()}
    share, _, _ = coverage(fits, shifted)
    assert share < 0.5


@pytest.mark.slow
def test_round_trip_coverage_over_many_exports(tmp_path, truth_scenario, truth) -> None:
    """Coverage over 10 independent two-year exports: at least 85% on average.

    Measured: 89% (not the nominal 95%). The intervals treat opportunities as independent, but
    one history shares conditions (rep load, lead mix) that move groups of deals together, so
    two-year exports scatter around the long-run value more than that; one export in ten may be
    far off on the outcome shares (seed 102: win rate 0.62 against 0.54). docs/calibration.md.
    """
    shares, wild_exports = [], []
    for seed in range(100, 110):
        out = tmp_path / str(seed)
        generate_export(with_years(truth_scenario, 2), seed, out)
        d = read_crm(out / "Opportunity.csv", out / "OpportunityHistory.csv")
        share, _, wild = coverage(fit_all(d, seed=seed), truth)
        shares.append(share)
        if wild:
            wild_exports.append((seed, wild))
    assert np.mean(shares) >= 0.85, shares
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


def test_cli_writes_a_loadable_scenario_and_report(tmp_path) -> None:
    shutil.copy(OPP, tmp_path / "Opportunity.csv")
    out = tmp_path / "cal" / "fitted.yaml"
    res = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(tmp_path / "Opportunity.csv"),
            "--history",
            str(HIST),
            "--out",
            str(out),
            "--base",
            str(CRM / "truth.yaml"),
        ],
    )
    assert res.exit_code == 0, res.output
    sc = load_scenario(out)
    assert sc.name == "fitted"
    report = json.loads((tmp_path / "cal" / "fitted.calibration.json").read_text())
    names = {e["name"] for e in report["estimates"]}
    assert set(ROUND_TRIP) <= names
    for e in report["estimates"]:
        assert e["low"] <= e["value"] <= e["high"], e
        assert e["n"] > 0
    assert report["data"]["rows_used"] == len(OPP.read_text(encoding="utf-8").splitlines()) - 1
    md = (tmp_path / "cal" / "fitted.calibration.md").read_text()
    assert "| dwell.interest.mean_days |" in md and "## Kept from the base scenario" in md
    assert "journey.interest.mean_days =" in res.output
