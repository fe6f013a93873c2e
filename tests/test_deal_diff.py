"""Pipeline snapshots and the deal-by-deal diff: bookings to date, close dates, own streams."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipesim import load_scenario
from pipesim.cli.inputs import with_pipeline
from pipesim.cli.main import main
from pipesim.experiments.deal_diff import CATEGORIES, _expand, _Snapshots, attribute_deals
from pipesim.market.sources import build_leads
from pipesim.runs.runner import run
from pipesim.scenario.loader import validate
from pipesim.scenario.rng import Streams

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
CRM = ROOT / "tests" / "fixtures" / "crm"
# a quarter part-way through: eight weeks left, a week of it gone; five reps
QUARTER = [
    "target.horizon_weeks=8",
    "target.start_date=2026-01-08",
    "target.period_start=2026-01-01",
    "target.revenue=1200000",
    "reps.count=5",
]
HEADER = ["id", "name", "segment", "stage", "value", "days_in_stage", "owner", "close_date"]
WEEK_A = [
    ["D1", "Acme", "S1", "preference", 60000, 10, "", "2026-02-15"],
    ["D2", "Beta", "S2", "decision", 120000, 5, "", ""],
    ["D3", "Gamma", "S2", "interest", 80000, 3, "", "2026-02-01"],
    ["D4", "Delta", "S3", "preference", 90000, 20, "", ""],
    ["D5", "Epsilon", "S1", "decision", 70000, 2, "", "2026-01-20"],
    ["D6", "Zeta", "S4", "interest", 50000, 4, "", ""],
]


def _csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _quarter(*extra: str):
    return load_scenario(BASELINE, [*QUARTER, *extra])


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_one_won_deal_takes_the_whole_change(tmp_path):
    a = with_pipeline(_quarter(), _csv(tmp_path / "a.csv", WEEK_A))
    won = [r if r[0] != "D2" else ["D2", "Beta", "S2", "won", 120000, "", "", "2026-01-06"]
           for r in WEEK_A]  # fmt: skip
    b = with_pipeline(_quarter(), _csv(tmp_path / "b.csv", won))
    assert b.booked_total == 120000 and len(b.open_pipeline) == 5
    at = attribute_deals(a, b, replications=60, seed=3)
    assert [p.label for p in at.parts] == ["won"]
    (part,) = at.parts
    assert part.estimate == at.total and part.revenue == at.revenue_total
    assert [c.name for c in part.changes] == ["D2 Beta"]
    # booked for certain instead of open: the mean bookings rise, P(target) cannot fall
    assert at.revenue_total > 0 and at.total >= 0


def _week_b() -> list[list[object]]:
    rows = {r[0]: list(r) for r in WEEK_A}
    rows["D2"] = ["D2", "Beta", "S2", "won", 120000, "", "", "2026-01-12"]  # won
    del rows["D6"]  # lost
    rows["D1"][7] = "2026-04-30"  # pushed out past the horizon
    rows["D3"][7] = "2026-01-20"  # pulled in
    rows["D4"][4] = 150000  # amount changed
    rows["D5"][3], rows["D5"][5] = "decision", 9  # time passed (same stage, older)
    rows["D1"][5] = 17
    rows["D3"][3], rows["D3"][5] = "preference", 1  # stage moved
    rows["D4"][6] = "rep02"  # owner: another change
    rows["D7"] = ["D7", "Eta", "S3", "decision", 200000, 1, "", ""]  # new
    return list(rows.values())


def test_parts_add_up_exactly_and_every_category_is_found(tmp_path):
    a = with_pipeline(_quarter(), _csv(tmp_path / "a.csv", WEEK_A))
    later = _quarter("target.start_date=2026-01-15", "target.horizon_weeks=7", "reps.count=6")
    b = with_pipeline(later, _csv(tmp_path / "b.csv", _week_b()))
    snap = _Snapshots(a, b)
    assert snap.present() == list(CATEGORIES)
    assert [d.deal for d in snap.changes["won"]] == ["D2"]
    assert [d.deal for d in snap.changes["lost"]] == ["D6"]
    assert [d.deal for d in snap.changes["new"]] == ["D7"]
    assert [d.deal for d in snap.changes["pushed out"]] == ["D1"]
    assert [d.deal for d in snap.changes["pulled in"]] == ["D3"]
    assert [d.deal for d in snap.changes["amount changed"]] == ["D4"]
    assert [d.deal for d in snap.changes["stage moved"]] == ["D3"]
    assert [d.deal for d in snap.changes["other deal changes"]] == ["D4"]
    assert [d.deal for d in snap.changes["parameters"]] == ["reps.count"]
    # every category applied is B itself, deal for deal
    full, db = snap.data(CATEGORIES), b.model_dump(mode="json")
    assert full["open_pipeline"] == list(_expand(db, b).values())
    assert {k: v for k, v in full.items() if k != "open_pipeline"} == {
        k: v for k, v in db.items() if k != "open_pipeline"
    }
    at = attribute_deals(a, b, replications=40, seed=1)
    assert [p.label for p in at.parts] == list(CATEGORIES)
    assert math.isclose(at.sum_of_parts, at.total, abs_tol=1e-12)
    assert math.isclose(sum(p.revenue for p in at.parts), at.revenue_total, rel_tol=1e-9)
    # a deal pushed past the horizon cannot close in it: its part takes bookings away
    pushed = next(p for p in at.parts if p.label == "pushed out")
    assert pushed.revenue < 0


def test_a_deal_with_an_id_meets_the_same_market_whatever_else_changes():
    base = _quarter()
    deals = [{"id": f"X{k}", "segment": s, "stage": "interest", "value": 5e4}
             for k, s in enumerate(["S1", "S2", "S2", "S3"])]  # fmt: skip
    a = base.model_copy(update={"open_pipeline": []})
    data = a.model_dump(mode="json")
    full = validate({**data, "open_pipeline": deals}, "a")
    fewer = validate({**data, "open_pipeline": [deals[0], *deals[2:]]}, "b")  # X1 won or lost
    la, lb = build_leads(full, Streams(11)), build_leads(fewer, Streams(11))
    # compare by deal: X0, X2, X3 drew the same buyers in both (X2 shares X1's segment)
    rows_a = {int(d): k for k, d in enumerate(la.deal) if d >= 0}
    rows_b = {int(d): k for k, d in enumerate(lb.deal) if d >= 0}
    for da, db in ((0, 0), (2, 1), (3, 2)):
        ka, kb = rows_a[da], rows_b[db]
        assert la.t_decide[ka] == lb.t_decide[kb] and la.fit[ka] == lb.fit[kb]


def test_a_close_date_is_the_earliest_decision():
    late = "2026-06-01"  # after the eight weeks
    deal = "{segment: S2, stage: decision, count: 20, value: 100000, days_in_stage: 30"
    free = _quarter(f"open_pipeline=[{deal}, id: F}}]")
    held = _quarter(f"open_pipeline=[{deal}, id: F, close_date: {late}}}]")
    r_free = run(free, 20, 0, 1).table["revenue_open_pipeline"].to_numpy()
    r_held = run(held, 20, 0, 1).table["revenue_open_pipeline"].to_numpy()
    assert r_free.sum() > 0 and r_held.sum() == 0


def test_bookings_to_date_count_toward_revenue_and_the_target():
    booked = "[{id: W1, value: 400000, closed: 2026-01-05}, {id: W2, value: 100000}]"
    without = run(_quarter(), 30, 0, 1).table
    with_b = run(_quarter(f"booked={booked}"), 30, 0, 1).table
    assert np.allclose(with_b["revenue"] - without["revenue"], 500000)
    assert (with_b["hit_target"] >= without["hit_target"]).all()
    assert with_b["hit_target"].sum() > without["hit_target"].sum()


def test_booked_deals_need_a_period_that_began_before_the_start(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: {BASELINE}\nbooked:\n  - {{id: W1, value: 1000}}\n")
    r = cli("validate", path)
    assert r.exit_code == 2 and "target.period_start" in r.output


def test_snapshot_is_kept_and_reads_back_as_the_same_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    b = _csv(tmp_path / "b.csv", _week_b())
    scen = tmp_path / "q.yaml"
    scen.write_text(
        f"extends: {BASELINE}\ntarget: {{horizon_weeks: 8, start_date: 2026-01-15, "
        "period_start: 2026-01-01, revenue: 1.2e6}\n"
    )
    cat = tmp_path / "runs.sqlite"
    r = cli("run", scen, "-n", 4, "--quiet", "--pipeline", b, "--out", "rb", "--catalogue", cat)
    assert r.exit_code == 0, r.output
    kept = tmp_path / "rb" / "pipeline.csv"
    assert kept.is_file()
    again = with_pipeline(load_scenario(scen), kept)
    first = with_pipeline(load_scenario(scen), b)
    assert again.open_pipeline == first.open_pipeline and again.booked == first.booked
    # a later run in the same folder without a pipeline drops the stale snapshot
    r = cli("run", scen, "-n", 2, "--quiet", "--out", "rb", "--catalogue", cat)
    assert r.exit_code == 0 and not kept.exists()


def test_duplicate_deal_ids_in_a_snapshot_exit_2(tmp_path):
    rows = [*WEEK_A, ["D3", "Gamma again", "S2", "interest", 1000, 1, "", ""]]
    path = _csv(tmp_path / "dup.csv", rows)
    r = cli("run", BASELINE, "-n", 2, "--quiet", "--pipeline", path,
            "--out", tmp_path / "r", "--catalogue", tmp_path / "c.sqlite")  # fmt: skip
    assert r.exit_code == 2
    assert "duplicate id 'D3'" in r.output and "dup.csv" in r.output


def test_diff_command_splits_two_snapshots_and_refuses_other_scenarios(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cat = tmp_path / "runs.sqlite"
    scen = tmp_path / "q.yaml"
    scen.write_text(
        f"extends: {BASELINE}\nname: q\ntarget: {{horizon_weeks: 8, start_date: 2026-01-08, "
        "period_start: 2026-01-01, revenue: 1.2e6}\nreps: {count: 5}\n"
    )
    later = tmp_path / "q2.yaml"
    later.write_text(f"extends: {scen}\ntarget: {{start_date: 2026-01-15, horizon_weeks: 7}}\n")
    other = tmp_path / "o.yaml"
    other.write_text(f"extends: {scen}\nname: other\n")
    a, b = _csv(tmp_path / "a.csv", WEEK_A), _csv(tmp_path / "b.csv", _week_b())
    for s, p, out in ((scen, a, "ra"), (later, b, "rb"), (other, b, "ro")):
        r = cli("run", s, "-n", 6, "--quiet", "--pipeline", p, "--out", out, "--catalogue", cat)
        assert r.exit_code == 0, r.output
    r = cli("diff", "ra", "rb", "-n", 12, "--catalogue", cat, "--out", "d")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "what changed, deal by deal" in text and "D7 Eta" in text
    doc = json.loads((tmp_path / "d" / "diff.json").read_text())
    assert doc["method"] == "deals"
    labels = [p["label"] for p in doc["parts"]]
    assert labels[:2] == ["time passed", "won"] and "parameters" not in labels
    assert math.isclose(
        sum(p["estimate"] for p in doc["parts"]), doc["total"]["estimate"], abs_tol=1e-12
    )
    # kept in run B's folder, and B's report shows it
    assert (tmp_path / "rb" / "moved.json").is_file()
    page = (tmp_path / "rb" / "report.html").read_text()
    assert 'id="moved-table"' in page and "D7 Eta" in page and "Why it moved since run" in page
    r = cli("diff", "ra", "ro", "-n", 4, "--catalogue", cat, "--out", "d2")
    assert r.exit_code == 2
    assert "scenario 'q'" in r.output and "'other'" in r.output


@pytest.mark.parametrize("period_start", ["2024-04-01", "2024-02-15"])
def test_a_crm_export_fills_bookings_to_date(tmp_path, period_start):
    scen = tmp_path / "q.yaml"
    scen.write_text(
        f"extends: {CRM / 'truth.yaml'}\ntarget: {{horizon_weeks: 6, start_date: 2024-05-01, "
        f"period_start: {period_start}, revenue: 2.0e6}}\n"
    )
    sc = with_pipeline(load_scenario(scen), CRM / "Opportunity.csv")
    rows = list(csv.DictReader((CRM / "Opportunity.csv").open()))
    won = [
        r for r in rows if r["IsWon"] == "true" and period_start <= r["CloseDate"] <= "2024-05-01"
    ]
    assert {d.id for d in sc.booked} == {r["Id"] for r in won} and won
    assert math.isclose(sc.booked_total, sum(float(r["Amount"]) for r in won))
    assert not {d.id for d in sc.booked} & set(sc.deal_ids())


def test_a_new_run_in_the_folder_drops_the_kept_move(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "r"
    r = cli("run", BASELINE, "-n", 2, "--quiet", "--out", folder, "--catalogue", tmp_path / "c")
    assert r.exit_code == 0, r.output
    doc = {"method": "deals", "parts": [{"label": "won"}], "run_b": {"folder": str(folder)}}
    (folder / "moved.json").write_text(json.dumps(doc))
    r = cli("run", BASELINE, "-n", 2, "--quiet", "--out", folder, "--catalogue", tmp_path / "c")
    assert r.exit_code == 0 and not (folder / "moved.json").exists()
