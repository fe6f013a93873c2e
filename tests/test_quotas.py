"""pipesim quotas: equal-chance quotas per rep, target.rep_quotas, and the run using them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.optimise.quotas import QuotaError, equal_chance_quotas, plan_quotas

ROOT = Path(__file__).resolve().parents[1]
HIRE_THREE = ROOT / "scenarios" / "hire_three.yaml"
NEW_HIRES = ("Pia", "Quentin", "Rosa")  # hired on day 0 in hire_three: they ramp up


def test_quotas_sum_to_the_total_and_give_each_seat_the_same_chance():
    rng = np.random.default_rng(0)
    samples = [rng.gamma(k, 1e5, 5000) for k in (4.0, 8.0, 12.0)]
    total = 2.0e6
    q, p = equal_chance_quotas(samples, total)
    assert q.sum() == pytest.approx(total)
    chances = [float((s >= qk).mean()) for s, qk in zip(samples, q, strict=True)]
    assert max(chances) - min(chances) < 0.002  # in sample, equal by construction
    assert chances[0] == pytest.approx(p, abs=0.002)
    assert q[0] < q[1] < q[2]  # the stronger seat carries the larger quota
    # equal quotas would give the seats very different chances
    equal = total / 3
    assert float((samples[2] >= equal).mean()) - float((samples[0] >= equal).mean()) > 0.5


def test_a_total_beyond_every_seats_best_period_is_refused():
    samples = [np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0])]
    with pytest.raises(QuotaError, match="best simulated period"):
        equal_chance_quotas(samples, 7.5)
    with pytest.raises(QuotaError, match="positive"):
        equal_chance_quotas(samples, 0.0)


def test_rep_quotas_name_reps_and_a_misspelt_one_is_an_error():
    sc = pipesim.load_scenario(HIRE_THREE)
    with pytest.raises(
        pipesim.ScenarioError, match=r"unknown rep 'Quentn'.*did you mean 'Quentin'"
    ):
        pipesim.what_if(sc, {"target.rep_quotas": {"Quentn": 1e6}})
    with pytest.raises(pipesim.ScenarioError, match="rep_quotas"):
        pipesim.what_if(sc, {"target.rep_quotas": {"Ana": -5.0}})
    ok = pipesim.what_if(sc, {"target.rep_quotas": {"Ana": 1e6}})
    quotas = ok.seat_quotas()
    assert quotas[0] == 1e6 and quotas[1] == sc.rep_quota


def test_a_run_judges_each_seat_against_its_own_quota():
    sc = pipesim.load_scenario(HIRE_THREE, ["target.horizon_weeks=13"])
    labels = sc.reps.labels()
    low = pipesim.what_if(sc, {"target.rep_quotas": {labels[0]: 1.0}})  # one seat's quota: 1 EUR
    base = pipesim.run(sc, replications=20, seed=3)
    res = pipesim.run(low, replications=20, seed=3)
    reps = res.reps
    first = reps[reps["rep"] == labels[0]]
    assert (first["quota"] == 1.0).all()
    assert (first["attainment"] == first["bookings"]).all()
    other = reps[reps["rep"] == labels[1]]
    assert (other["quota"] == sc.rep_quota).all()
    # the seat that booked anything now counts as at quota in every replication
    booked = (first.set_index("replication")["bookings"] >= 1.0).astype(float)
    before = base.table.set_index("replication")["reps_at_quota"]
    was_at = base.reps[base.reps["rep"] == labels[0]].set_index("replication")["attainment"] >= 1
    expected = before + (booked - was_at.astype(float)) / sc.reps.seats
    after = res.table.set_index("replication")["reps_at_quota"]
    assert np.allclose(after.to_numpy(), expected.to_numpy())
    assert res.summary["target"]["rep_quotas"] == {labels[0]: 1.0}


def test_equal_chance_quotas_lift_the_ramping_hires_chances_out_of_sample():
    sc = pipesim.load_scenario(HIRE_THREE)
    # 500 set and 500 check: at 150 the hires' quantiles are too noisy to show the effect
    plan = plan_quotas(sc, replications=500, seed=2, workers=2)
    t = plan.table().set_index("rep")
    assert t["quota"].sum() == pytest.approx(sc.target.revenue * 1.1)
    hires = t.loc[list(NEW_HIRES)]
    veterans = t.drop(index=list(NEW_HIRES))
    # today's equal quotas: the ramping hires make theirs far less often than the veterans
    today_gap = veterans["today_p_quota"].mean() - hires["today_p_quota"].mean()
    fair_gap = veterans["p_quota"].mean() - hires["p_quota"].mean()
    print(f"gap in P(quota), veterans minus hires: today {today_gap:.3f}, fair {fair_gap:.3f}")
    assert today_gap > 0.08
    assert abs(fair_gap) < today_gap / 2
    assert (hires["quota"] < veterans["quota"].mean()).all()  # they carry less


def test_quotas_command_writes_a_plan_that_run_applies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "q"
    runner = CliRunner()
    r = runner.invoke(
        main,
        [
            "quotas",
            str(HIRE_THREE),
            "-n",
            "40",
            "--over-assign",
            "0.2",
            "--out",
            str(out),
            "--set",
            "target.horizon_weeks=13",
            "--set",
            "target.revenue=5e6",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "6.00M EUR (5.00M EUR + 20% over-assignment)" in r.output
    assert "spread of P(quota) across reps" in r.output
    table = pd.read_csv(out / "quotas.csv")
    assert list(table.columns[:7]) == [
        "rep",
        "team",
        "quota",
        "p_quota",
        "p_quota_low",
        "p_quota_high",
        "today_quota",
    ]
    assert table["quota"].sum() == pytest.approx(6e6, rel=1e-6)
    page = (out / "quotas.html").read_text()
    assert 'id="quota-table"' in page and page.count("<tr>") == len(table) + 1
    drawn = [float(x) for x in re.findall(r'data-set="equal-chance quotas" data-p="([^"]+)"', page)]
    assert drawn == pytest.approx(table["p_quota"].tolist())
    assert (out / "charts" / "quota_chances.svg").is_file()
    saved = json.loads((out / "quotas.json").read_text())
    assert saved["replications_set"] == 40 and saved["noise_spread"] > 0
    plan = yaml.safe_load((out / "plan.yaml").read_text())
    assert set(plan["target"]["rep_quotas"]) == set(table["rep"])
    run_out = tmp_path / "run"
    r = runner.invoke(
        main,
        ["run", str(HIRE_THREE), "-n", "4", "--quiet", "--plan", str(out / "plan.yaml"),
         "--set", "target.horizon_weeks=13", "--set", "target.revenue=5e6",
         "--out", str(run_out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    reps = pd.read_csv(run_out / "reps.csv").groupby("rep")["quota"].first()
    expected = table.set_index("rep")["quota"].round(2)
    assert np.allclose(reps.loc[expected.index].to_numpy(), expected.to_numpy())


def test_quotas_bad_input_exits_2_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["quotas", str(HIRE_THREE), "-n", "20", "--total", "1e12"])
    assert r.exit_code == 2 and "best simulated period" in r.output
    assert "Traceback" not in r.output
    bad = tmp_path / "plan.yaml"
    bad.write_text("target:\n  rep_quotas:\n    Quentn: 1000000\n")
    r = runner.invoke(main, ["run", str(HIRE_THREE), "-n", "2", "--plan", str(bad)])
    assert r.exit_code == 2
    assert "plan.yaml:2:3: target.rep_quotas.Quentn: unknown rep" in r.output
    assert "did you mean 'Quentin'" in r.output


def test_the_activity_a_quota_took_is_read_from_the_simulation():
    sc = pipesim.load_scenario(HIRE_THREE, ["target.horizon_weeks=13", "target.revenue=5e6"])
    n = 30
    plan = plan_quotas(sc, replications=n, seed=6)
    reps = pipesim.run(sc, replications=2 * n, seed=6).reps
    setting = reps[reps["replication"] < n]
    row = plan.table().set_index("rep").loc["Ana"]
    ana = setting[setting["rep"] == "Ana"]
    made = ana[ana["bookings"] >= row["quota"]]
    assert row["new_opportunities_per_week"] == pytest.approx(
        float(np.median(made["new_opportunities"] / 13))
    )
    everyone = reps[reps["rep"] == "Ana"]["new_opportunities"].mean() / 13
    assert row["today_new_opportunities_per_week"] == pytest.approx(everyone)
    # the new opportunities per seat add up to the run's opened opportunities
    table = pipesim.run(sc, replications=4, seed=6).table
    per_seat = (
        pipesim.run(sc, replications=4, seed=6)
        .reps.groupby("replication")["new_opportunities"]
        .sum()
    )
    opened = table.set_index("replication")["new_opportunities_per_rep_week"] * sc.reps.seats * 13
    assert np.allclose(per_seat.to_numpy(), opened.to_numpy())
