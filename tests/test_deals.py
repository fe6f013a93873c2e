"""The deal-level forecast: deals.csv, swing, risk flags, leading indicators, --pipeline CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import pipesim
from pipesim.agents.buyers import draw_buyers
from pipesim.cli.inputs import with_pipeline
from pipesim.cli.main import main
from pipesim.engine.model import OPEN, simulate
from pipesim.market.sources import SOURCE_CODE, _dwell_beyond
from pipesim.results.deals import DEAL_COLUMNS, deal_list
from pipesim.runs.runner import run
from pipesim.scenario.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"


def _scenario(tmp_path: Path, body: str, name: str = "deals.yaml") -> pipesim.Scenario:
    path = tmp_path / name
    path.write_text(f"extends: {BASELINE}\n{body}", encoding="utf-8")
    return pipesim.load_scenario(path)


def test_year_end_push_writes_deals_csv_for_every_open_opportunity(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "pipesim.cli.main", "run", str(YEAR_END), "-n", "60", "--workers",
         "1", "--out", str(out), "--quiet", "--catalogue", str(tmp_path / "runs.sqlite")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    deals = pd.read_csv(out / "deals.csv")
    sc = pipesim.load_scenario(YEAR_END)
    assert list(deals.columns) == DEAL_COLUMNS
    assert len(deals) == sum(opp.count for opp in sc.open_pipeline)
    assert deals["deal_id"].is_unique
    total = deals[["p_won", "p_lost", "p_no_decision", "p_open"]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    assert (deals["replications"] == 60).all()
    # sorted by swing, the deals that decide the period first
    swing = deals["swing"].dropna().to_numpy()
    assert (np.diff(swing) <= 1e-12).all()
    summary = json.loads((out / "summary.json").read_text())
    ind = summary["indicators"]
    assert ind["open_deals"] == len(deals)
    assert ind["weighted_pipeline"] == pytest.approx(deals["expected_value"].sum(), rel=1e-4)
    assert ind["pipeline_coverage"] == pytest.approx(ind["weighted_pipeline"] / sc.target.revenue)
    # the open pipeline's expected bookings equal the deals' expected values
    table = pd.read_csv(out / "replications.csv")
    assert table["revenue_open_pipeline"].mean() == pytest.approx(
        deals["expected_value"].sum(), rel=1e-4
    )


def test_swing_is_larger_for_a_large_deal_than_a_small_one(tmp_path):
    # Six weeks, a target the pipeline reaches about half the time: the 1.2M deal decides it,
    # the 15k deal barely matters.
    sc = _scenario(
        tmp_path,
        """
target: {revenue: 1500000, horizon_weeks: 6, start_date: 2026-11-19}
campaigns: {}
leads: {prospecting: {hours_per_week: 0}, referrals: {per_week: 0}}
segments:
  S1: {buyers_per_week: 0.01}
  S2: {buyers_per_week: 0.01}
  S3: {buyers_per_week: 0.01}
  S4: {buyers_per_week: 0.01}
open_pipeline:
  - {id: BIG, segment: S4, stage: decision, value: 1200000, days_in_stage: 5}
  - {id: SMALL, segment: S1, stage: decision, value: 15000, days_in_stage: 5}
  - {id: MID, segment: S3, stage: decision, value: 90000, days_in_stage: 5, count: 8}
""",
    )
    res = run(sc, replications=400, seed=3, workers=1)
    deals = res.deals.set_index("deal_id")
    assert deals.loc["BIG", "swing"] > 0.5
    assert deals.loc["BIG", "swing"] > deals.loc["SMALL", "swing"] + 0.3
    # the swing is the difference of the two counterfactual probabilities
    big = deals.loc["BIG"]
    assert big["swing"] == pytest.approx(big["p_target_if_won"] - big["p_target_if_not_won"])
    assert deals.index[0] == "BIG"
    # its interval excludes zero and lies above the small deal's
    assert big["swing_ci_low"] > 0.3
    assert deals.loc["SMALL", "swing_ci_high"] < big["swing_ci_low"]
    assert deals.loc["SMALL", "swing_ci_low"] <= deals.loc["SMALL", "swing"]


def test_swing_interval_is_the_wilson_interval_of_the_pivotal_share():
    from pipesim.results.deals import swing_interval

    # the deal is pivotal in 12 of 200 replications: swing 6 points, Wilson 3.5 to 10.2
    lo, hi = swing_interval(12, 200)
    assert (lo, hi) == pytest.approx((0.0347, 0.1018), abs=5e-4)
    assert swing_interval(0, 50) == (0.0, pytest.approx(0.0713, abs=5e-4))
    assert np.isnan(swing_interval(0, 0)[0])


@pytest.fixture(scope="module")
def year_end_200(tmp_path_factory):
    """year_end_push, 200 replications (seed 1): deals.csv with the files it comes from."""
    out = tmp_path_factory.mktemp("year_end") / "run"
    sc = pipesim.load_scenario(YEAR_END)
    res = run(sc, replications=200, seed=1, workers=1, out=out)
    outcomes = pd.read_csv(
        out / "deal_outcomes.csv", keep_default_na=False, na_values={"close_day": [""]}
    )
    table = pd.read_csv(out / "replications.csv").set_index("replication")
    outcomes["revenue"] = table.loc[outcomes["replication"], "revenue"].to_numpy()
    won = outcomes["outcome"] == "won"
    # the replication's bookings without the deal: its revenue less the deal's value if won
    outcomes["without"] = outcomes["revenue"] - np.where(won, outcomes["value"], 0.0)
    ids = [d.deal_id for d in deal_list(sc)]
    outcomes["deal_id"] = np.asarray(ids)[outcomes["deal"].to_numpy()]
    return sc, res.deals.set_index("deal_id"), outcomes


def test_swing_never_exceeds_the_mass_the_deal_value_can_move(year_end_200):
    sc, deals, outcomes = year_end_200
    target = sc.target.revenue
    without, value = outcomes["without"], outcomes["value"]
    movable = (without >= target - value) & (without < target)
    mass = movable.groupby(outcomes["deal_id"]).mean()
    assert len(mass) == len(deals) == 152
    excess = deals["swing"] - mass.loc[deals.index]
    assert (excess <= 1e-12).all(), excess.sort_values().tail()
    # the deals at the top can move the most
    assert deals["swing"].iloc[0] == pytest.approx(mass.max())


def test_counterfactual_probabilities_come_from_the_bookings_without_the_deal(year_end_200):
    sc, deals, outcomes = year_end_200
    target = sc.target.revenue
    by = outcomes.assign(
        with_deal=outcomes["without"] + outcomes["value"] >= target,
        without_deal=outcomes["without"] >= target,
    ).groupby("deal_id")
    expected = by[["with_deal", "without_deal"]].mean().loc[deals.index]
    np.testing.assert_allclose(deals["p_target_if_won"], expected["with_deal"], atol=1e-12)
    np.testing.assert_allclose(deals["p_target_if_not_won"], expected["without_deal"], atol=1e-12)
    swing = deals["p_target_if_won"] - deals["p_target_if_not_won"]
    np.testing.assert_allclose(deals["swing"], swing, atol=1e-12)
    # paired: the interval is the Wilson interval of the replications where the deal is pivotal
    from pipesim.results.statistics import wilson_interval

    pivotal = (deals["swing"] * 200).round().astype(int)
    ci = np.array([wilson_interval(k, 200) for k in pivotal])
    np.testing.assert_allclose(deals[["swing_ci_low", "swing_ci_high"]], ci, atol=1e-12)


def test_deals_under_one_percent_of_target_swing_under_five_points(year_end_200):
    sc, deals, _ = year_end_200
    small = deals[deals["value"] < 0.01 * sc.target.revenue]
    assert len(small) > 100  # the S1 and S2 deals
    # such a deal tips the period only when bookings end within its value of the target: about
    # 2.5% of replications here (200 replications: about 1 point of sampling error per deal)
    assert small["swing"].max() < 0.05, small["swing"].sort_values().tail()
    # a deal's swing grows with its value: by segment, mean swing follows mean value
    by_segment = deals.groupby("segment")[["value", "swing"]].mean().sort_values("value")
    assert list(by_segment.index) == ["S1", "S2", "S3", "S4"]
    assert (np.diff(by_segment["swing"].to_numpy()) > 0).all(), by_segment


def test_swing_ranks_deals_of_equal_p_won_by_value(tmp_path):
    # The same deal (segment, stage, days in stage) at seven values, beside twelve S3 deals whose
    # drawn values make bookings vary smoothly: equal P(won), so the swing follows the value.
    values = [25_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000]
    same = "\n".join(
        f"  - {{id: V{v}, segment: S2, stage: decision, value: {v}, days_in_stage: 5}}"
        for v in values
    )
    sc = _scenario(
        tmp_path,
        f"""
target: {{revenue: 1600000, horizon_weeks: 6, start_date: 2026-11-19}}
campaigns: {{}}
leads: {{prospecting: {{hours_per_week: 0}}, referrals: {{per_week: 0}}}}
segments:
  S1: {{buyers_per_week: 0.01}}
  S2: {{buyers_per_week: 0.01}}
  S3: {{buyers_per_week: 0.01}}
  S4: {{buyers_per_week: 0.01}}
open_pipeline:
  - {{segment: S3, stage: decision, days_in_stage: 5, count: 12}}
{same}
""",
    )
    deals = run(sc, replications=300, seed=3, workers=1).deals
    ids = [f"V{v}" for v in values]
    mine = deals.set_index("deal_id").loc[ids]
    assert mine["p_won"].max() - mine["p_won"].min() < 0.12  # equal up to sampling
    assert (np.diff(mine["swing"].to_numpy()) >= 0).all(), mine["swing"]
    assert mine["swing"].iloc[-1] > mine["swing"].iloc[0] + 0.3
    # and deals.csv lists them largest first
    listed = [d for d in deals["deal_id"] if d in ids]
    assert listed == ids[::-1]


def test_deal_owners_match_the_engine(tmp_path):
    sc = _scenario(
        tmp_path,
        """
target: {revenue: 1000000, horizon_weeks: 4}
open_pipeline:
  - {segment: S2, stage: preference, count: 5}
  - {id: OWNED, segment: S3, stage: decision, owner: rep07}
  - {segment: S1, stage: interest, count: 4}
""",
    )
    model = simulate(sc, seed=11)
    leads = model.leads
    in_deal = leads.deal >= 0
    order = np.argsort(leads.deal[in_deal])
    seats = model.seat_of[in_deal][order]
    labels = sc.reps.labels()
    assert [labels[s] for s in seats] == [d.owner for d in deal_list(sc)]
    assert deal_list(sc)[5].owner == "rep07" and deal_list(sc)[5].deal_id == "OWNED"
    assert (leads.source[in_deal] == SOURCE_CODE["open_pipeline"]).all()


def _mean_p_won(sc: pipesim.Scenario, seed: int = 5) -> float:
    res = run(sc, replications=60, seed=seed, workers=1)
    return float(res.deals["p_won"].mean())


def test_known_preference_and_missing_activity_move_the_forecast(tmp_path):
    base = """
target: {revenue: 1000000, horizon_weeks: 8}
flanking: {policy: none}
open_pipeline:
  - {segment: S2, stage: decision, count: 40, days_in_stage: 3, %s}
"""
    prefers_us = _mean_p_won(_scenario(tmp_path, base % "preferred: us", "us.yaml"))
    prefers_them = _mean_p_won(_scenario(tmp_path, base % "preferred: competitor", "c.yaml"))
    unknown = _mean_p_won(_scenario(tmp_path, base % "engaged_early: true", "u.yaml"))
    assert prefers_us > unknown > prefers_them
    worked = _mean_p_won(_scenario(tmp_path, base % "activity_planned: true", "a.yaml"))
    idle = _mean_p_won(_scenario(tmp_path, base % "activity_planned: false", "n.yaml"))
    assert worked > idle


def test_preference_needs_a_late_stage(tmp_path):
    with pytest.raises(ScenarioError, match="preference or decision"):
        _scenario(
            tmp_path,
            "target: {revenue: 1}\nopen_pipeline: "
            "[{segment: S1, stage: interest, preferred: us}]\n",
        )


def test_residual_dwell_is_the_gamma_beyond_the_days_already_spent():
    sc = pipesim.load_scenario(BASELINE)
    rng = np.random.default_rng(4)
    n = 4000
    group = np.full(n, 7.0)
    buyers = draw_buyers(sc, "S2", n, rng, group=group)
    elapsed = np.full(n, 50.0)
    _dwell_beyond(sc, "S2", buyers, 1, elapsed, rng)
    dwell = buyers.dwell[:, 1]
    assert (dwell >= 50.0).all()
    st = sc.journey.interest
    shape = 1 / st.cv**2
    mean = st.mean_days * (7.0 / sc.journey.reference_group_size) ** 0.5
    scale = mean / shape
    tail = stats.gamma.sf(50.0, shape, scale=scale)

    def cdf(x: np.ndarray) -> np.ndarray:
        return 1 - stats.gamma.sf(x, shape, scale=scale) / tail

    assert stats.kstest(dwell, cdf).pvalue > 0.001
    # stage starts and the journey's end follow the new dwell
    np.testing.assert_allclose(buyers.stage_start[:, 2] - buyers.stage_start[:, 1], dwell)
    np.testing.assert_allclose(buyers.duration, buyers.stage_start[:, 3] + buyers.dwell[:, 3])


def test_stalled_and_large_group_flags(tmp_path):
    sc = _scenario(
        tmp_path,
        """
target: {revenue: 500000, horizon_weeks: 4}
open_pipeline:
  - {id: STUCK, segment: S2, stage: interest, days_in_stage: 200, buying_group: 20}
  - {id: FRESH, segment: S2, stage: interest, days_in_stage: 2, buying_group: 3}
  - {id: LATE, segment: S2, stage: decision, engaged_early: false, activity_planned: false}
""",
    )
    deals = run(sc, replications=20, seed=1, workers=1).deals.set_index("deal_id")
    assert deals.loc["STUCK", "stalled"] and deals.loc["STUCK", "large_buying_group"]
    assert not deals.loc["FRESH", "stalled"] and not deals.loc["FRESH", "large_buying_group"]
    assert deals.loc["LATE", "engaged_late"] and deals.loc["LATE", "no_activity"]
    assert "stalled" in deals.loc["STUCK", "flags"]
    assert "stalled" not in deals.loc["FRESH", "flags"]


def test_open_deals_stay_open_only_when_undecided(tmp_path):
    sc = _scenario(
        tmp_path,
        "target: {revenue: 100000, horizon_weeks: 2}\n"
        "open_pipeline: [{segment: S4, stage: awareness, count: 10, days_in_stage: 1}]\n",
    )
    model = simulate(sc, seed=2)
    in_deal = model.leads.deal >= 0
    still_open = model.status[in_deal] == OPEN
    decide = model.leads.t_decide[in_deal]
    exit_ = model.leads.t_exit[in_deal]
    assert (np.minimum(decide, exit_)[still_open] >= 14.0).all()


# --------------------------------------------------------------------------- --pipeline CSV
PIPELINE_CSV = (
    "id,name,segment,stage,value,days_in_stage,owner,preferred,buying_group,activity_planned\n"
    """A-1,Acme,S4,decision,900000,10,rep01,,,
A-2,Beta,S1,decision,5000,90,rep02,competitor,12,false
A-3,Gamma,S3,interest,7000,,rep03,,,
"""
)


def test_pipeline_csv_replaces_the_open_pipeline(tmp_path):
    csv = tmp_path / "open.csv"
    csv.write_text(PIPELINE_CSV, encoding="utf-8")
    sc = with_pipeline(pipesim.load_scenario(YEAR_END), csv)
    assert [o.id for o in sc.open_pipeline] == ["A-1", "A-2", "A-3"]
    second = sc.open_pipeline[1]
    assert second.preferred == "competitor" and second.buying_group == 12
    assert second.activity_planned is False and second.value == 5000.0
    assert sc.open_pipeline[2].days_in_stage is None


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("S3,interest,7000", "S3,interest,abc"), "open.csv:4:5: value: 'abc' must be"),
        (("S3,interest", "S9,interest"), "open.csv:4:3: open_pipeline[2].segment: unknown"),
        (("rep03", "rep99"), "open.csv:4:7: open_pipeline[2].owner: unknown rep"),
        (("decision,5000", "closing,5000"), "open.csv:3:4: open_pipeline[1].stage"),
        (("buying_group", "group"), "open.csv:1:1: group: unknown column"),
        (("false\n", "maybe\n"), "open.csv:3:10: activity_planned: 'maybe' must be true"),
    ],
)
def test_bad_pipeline_csv_is_reported_with_line_and_column(tmp_path, edit, expected):
    csv = tmp_path / "open.csv"
    csv.write_text(PIPELINE_CSV.replace(*edit), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["run", str(YEAR_END), "--pipeline", str(csv), "-n", "2", "--quiet"]
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output.replace(str(tmp_path) + "/", "")
    assert "Traceback" not in result.output


CRM = ROOT / "tests" / "fixtures" / "crm"


def test_a_crm_export_gives_the_deals_open_on_the_start_date(tmp_path):
    from pipesim.calibrate.crm import read_crm

    sets = ["target.start_date=2025-06-01", "target.horizon_weeks=8"]
    sc = with_pipeline(
        pipesim.load_scenario(CRM / "truth.yaml", sets),
        CRM / "Opportunity.csv",
        CRM / "OpportunityHistory.csv",
    )
    opps = read_crm(CRM / "Opportunity.csv").opportunities
    day = pd.Timestamp("2025-06-01")
    created, closed = opps["created"].dt.normalize(), opps["close"].dt.normalize()
    is_open = (created <= day) & (closed.isna() | (closed > day))
    assert sorted(o.id for o in sc.open_pipeline) == sorted(opps.loc[is_open, "id"])
    assert all(o.count == 1 and o.days_in_stage is not None for o in sc.open_pipeline)
    res = run(sc, replications=8, seed=0, workers=1)
    assert len(res.deals) == int(is_open.sum())
    # without the stage history the stage comes from the export's current state
    result = CliRunner().invoke(
        main,
        ["run", str(CRM / "truth.yaml"), "--pipeline", str(CRM / "Opportunity.csv"),
         *[a for s in sets for a in ("--set", s)], "-n", "2", "--quiet",
         "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "r" / "deals.csv")) == int(is_open.sum())


def test_open_deals_are_buyers_that_passed_qualification(tmp_path):
    body = (
        "target: {revenue: 1000000, horizon_weeks: 4}\n"
        "open_pipeline: [{segment: S2, stage: decision, count: 3000}]\n"
    )
    strict = _scenario(tmp_path, body + "qualification: {policy: threshold, threshold: 0.6}\n")
    everyone = _scenario(tmp_path, body + "qualification: {policy: pursue_all}\n", "all.yaml")
    from pipesim.market.sources import build_leads
    from pipesim.scenario.rng import Streams

    def open_deals(sc: pipesim.Scenario):
        leads = build_leads(sc, Streams(1))
        return leads.take(np.flatnonzero(leads.deal >= 0))

    kept, drawn = open_deals(strict), open_deals(everyone)
    assert len(kept) == len(drawn) == 3000
    fit_mean = strict.segments["S2"].fit.mean
    # pursue_all keeps the segment's buyers as they come; a threshold keeps the better fits
    assert drawn.fit.mean() == pytest.approx(fit_mean, abs=0.01)
    assert kept.fit.mean() > fit_mean + 0.05
    assert kept.failed_checks.mean() < drawn.failed_checks.mean() - 0.05
    np.testing.assert_array_equal(kept.deal, np.arange(3000))


def test_known_buying_group_rescales_the_journey(tmp_path):
    sc = _scenario(
        tmp_path,
        "target: {revenue: 1000000, horizon_weeks: 4}\n"
        "open_pipeline: [{segment: S3, stage: interest, count: 4000, buying_group: 14}]\n",
        "g.yaml",
    )
    from pipesim.market.sources import build_leads
    from pipesim.scenario.rng import Streams

    leads = build_leads(sc, Streams(2))
    deals = leads.deal >= 0
    assert (leads.group_size[deals] == 14).all()
    # the decision stage's dwell is the gamma for a 14-person group: mean x (14/6.8)^0.5
    decision = leads.t_decide[deals] - leads.t_stage[deals, 3]
    expected = sc.journey.decision.mean_days * (14 / sc.journey.reference_group_size) ** 0.5
    assert decision.mean() == pytest.approx(expected, rel=0.03)


def test_crm_owners_who_are_reps_keep_their_deals():
    from pipesim.calibrate.crm import read_crm

    team = 'reps.members=[{name: "005R0001"}, {name: "005R0003"}, {name: "x"}]'
    sc = with_pipeline(
        pipesim.load_scenario(CRM / "truth.yaml", ["target.start_date=2025-06-01", team]),
        CRM / "Opportunity.csv",
    )
    owner_of = read_crm(CRM / "Opportunity.csv").opportunities.set_index("id")["owner"]
    for opp in sc.open_pipeline:
        expected = owner_of[opp.id] if owner_of[opp.id] in ("005R0001", "005R0003") else None
        assert opp.owner == expected
    assert any(opp.owner for opp in sc.open_pipeline)
    assert any(opp.owner is None for opp in sc.open_pipeline)


def test_replications_missing_deal_rows_are_left_out(tmp_path):
    from pipesim.results.deals import deal_forecast

    sc = _scenario(
        tmp_path,
        "target: {revenue: 500000, horizon_weeks: 4}\n"
        "open_pipeline: [{segment: S2, stage: decision, count: 3}]\n",
    )
    out = tmp_path / "run"
    run(sc, replications=12, seed=4, workers=1, out=out)
    table = pd.read_csv(out / "replications.csv")
    outcomes = pd.read_csv(out / "deal_outcomes.csv", keep_default_na=False)
    # as after an interrupt between files: replication 11 has a row but only one deal
    cut = outcomes[~((outcomes["replication"] == 11) & (outcomes["deal"] > 0))]
    deals, _ = deal_forecast(sc, cut, pd.concat([table, table.tail(1)]), seed=4)
    assert (deals["replications"] == 11).all()
    total = deals[["p_won", "p_lost", "p_no_decision", "p_open"]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0)
