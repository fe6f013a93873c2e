"""Teams and regions: validation, the roll-up from the same replications, commit calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.optimise.quotas import plan_quotas
from pipesim.report.data import load_run
from pipesim.results.commits import Call, CommitsError, read_commits

ROOT = Path(__file__).resolve().parents[1]
ORG = ROOT / "scenarios" / "organisation.yaml"
TEAMS = {"Nordics": "North", "DACH": "North", "Iberia": "South", "Italy": "South"}


@pytest.fixture(scope="module")
def org_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pipesim.Scenario, Path]:
    sc = pipesim.load_scenario(ORG, ["target.horizon_weeks=26", "target.revenue=11e6"])
    sc = pipesim.what_if(
        sc,
        {
            "teams.North.target": 5.6e6,
            "teams.South.target": 5.4e6,
            "teams.Nordics.target": 3.1e6,
            "teams.DACH.target": 2.5e6,
            "teams.Iberia.target": 3.0e6,
            "teams.Italy.target": 2.4e6,
        },
    )
    out = tmp_path_factory.mktemp("org")
    pipesim.run(sc, replications=60, seed=4, workers=2, out=out)
    return sc, out


def test_every_level_adds_up_in_every_replication(org_run):
    sc, out = org_run
    table = pd.read_csv(out / "replications.csv")
    regions = table["team_North_revenue"] + table["team_South_revenue"]
    assert np.allclose(regions, table["revenue"])  # the company is the sum of its regions
    for region in ("North", "South"):
        teams = [t for t, r in TEAMS.items() if r == region]
        total = sum(table[f"team_{t}_revenue"] for t in teams)
        assert np.allclose(total, table[f"team_{region}_revenue"])
    reps = pd.read_csv(out / "reps.csv")
    nordics = sc.teams["Nordics"].reps
    per_rep = reps[reps["rep"].isin(nordics)].groupby("replication")["bookings"].sum()
    assert np.allclose(per_rep.to_numpy(), table["team_Nordics_revenue"].to_numpy())


def test_levels_in_the_summary_come_from_the_same_replications(org_run):
    sc, out = org_run
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "replications.csv")
    levels = {lv["team"]: lv for lv in summary["levels"]}
    assert list(levels) == list(sc.teams)
    for name, lv in levels.items():
        col = table[f"team_{name}_revenue"]
        target = sc.teams[name].target
        assert lv["p_target"]["estimate"] == pytest.approx(float((col >= target).mean()))
        assert lv["p_target"]["ci_low"] <= lv["p_target"]["estimate"] <= lv["p_target"]["ci_high"]
        assert lv["revenue"]["p50"] == pytest.approx(float(np.percentile(col, 50)))
    gap = sc.target.revenue - table["revenue"].mean()
    if gap > 0:  # the regions' targets add up to the company's: their gaps share it exactly
        assert levels["North"]["gap_share"] + levels["South"]["gap_share"] == pytest.approx(1.0)
    assert sorted(levels["South"]["reps"]) == sorted(
        sc.teams["Iberia"].reps + sc.teams["Italy"].reps
    )


def test_the_report_shows_the_levels(org_run):
    _, out = org_run
    data = load_run(out)
    from pipesim.report.html import build_run_report

    html, charts = build_run_report(data)
    assert 'id="teams-table"' in html and "Share of the company" in html
    assert "team_attainment" in {c.name for c in charts}
    assert html.index('id="teams"') > html.index('id="reps"')


@pytest.mark.parametrize(
    ("teams", "message"),
    [
        ({"A": {"reps": []}}, "team 'A' has no reps and no team under it"),
        ({"A": {"reps": ["Ana"]}, "B": {"reps": ["Ana"]}}, "rep 'Ana' is in two teams"),
        ({"A": {"reps": ["Anna"]}}, "unknown rep 'Anna' (did you mean 'Ana'?)"),
        (
            {"Nord": {"reps": ["Ana"]}, "A": {"parent": "Nrod", "reps": ["Ben"]}},
            "unknown team 'Nrod'",
        ),
        (
            {"A": {"parent": "B", "reps": ["Ana"]}, "B": {"parent": "A", "reps": ["Ben"]}},
            "teams form a cycle",
        ),
        (
            {"A": {"reps": ["Ana"]}},
            "every rep belongs to one team when teams are given; in none: Ben",
        ),
    ],
)
def test_bad_teams_are_errors(teams, message):
    base = pipesim.load_scenario(ROOT / "scenarios" / "hire_three.yaml")
    with pytest.raises(pipesim.ScenarioError, match=re.escape(message)):
        pipesim.what_if(base, {"teams": teams})


def test_a_misspelt_team_in_a_layer_suggests_the_team():
    with pytest.raises(pipesim.ScenarioError, match=re.escape("(did you mean 'Nordics'?)")):
        pipesim.load_scenario(ORG, ["teams.Nordcs.target=7e6"])


def test_a_bad_team_in_a_file_names_the_line_and_exits_2(tmp_path):
    path = tmp_path / "org.yaml"
    text = ORG.read_text().replace(
        "parent: South\n    reps: [Maya", "parent: Suoth\n    reps: [Maya"
    )
    path.write_text(
        text.replace("extends: hire_three.yaml", f"extends: {ROOT}/scenarios/hire_three.yaml")
    )
    r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 2
    assert "teams.Italy.parent: unknown team 'Suoth' (did you mean 'South'?)" in r.output
    assert f"{path}:" in r.output


def test_commit_calls_are_judged_and_flagged(org_run, tmp_path):
    _, out = org_run
    table = pd.read_csv(out / "replications.csv")
    sure = float(table["team_Italy_revenue"].min()) * 0.5  # met in every replication
    never = float(table["team_DACH_revenue"].max()) * 2.0  # met in none
    path = tmp_path / "commits.csv"
    path.write_text(f"team,commit,manager\nItaly,{sure},Maya\nDACH,{never},Elif\n")
    r = CliRunner().invoke(main, ["commits", str(out), str(path)])
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out / "commits.csv").set_index("team")
    assert rows.loc["Italy", "verdict"] == "sandbagged" and rows.loc["Italy", "p_met"] == 1.0
    assert rows.loc["DACH", "verdict"] == "optimistic" and rows.loc["DACH", "p_met"] == 0.0
    assert bool(rows.loc["DACH", "resolved"])


def test_a_verdict_the_interval_cannot_settle_says_so():
    near = Call("A", 1.0, "", 0.48, 0.40, 0.56, 150)
    assert near.verdict == "optimistic" and not near.resolved and near.line_crossed == 0.5
    high = Call("A", 1.0, "", 0.88, 0.82, 0.93, 150)
    assert high.verdict == "realistic" and high.line_crossed == 0.9


def test_bad_commit_files_name_file_line_and_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("team,commit\nItaly,4e6\nItlay,3e6\n")
    with pytest.raises(
        CommitsError, match=r"c.csv:3:1: team: unknown team 'Itlay' \(did you mean 'Italy'\?\)"
    ):
        read_commits(path, ["Italy", "DACH"])
    path.write_text("team,commit\nItaly,-4\n")
    with pytest.raises(CommitsError, match=r"c.csv:2:2: commit: must be a positive amount"):
        read_commits(path, ["Italy"])
    path.write_text("team,commit\nItaly,4e6\nItaly,5e6\n")
    with pytest.raises(CommitsError, match="called twice"):
        read_commits(path, ["Italy"])
    with pytest.raises(CommitsError, match="no such file"):
        read_commits(tmp_path / "missing.csv", ["Italy"])
    path.write_text("group,commit\nItaly,4e6\n")
    with pytest.raises(CommitsError, match="missing column 'team'"):
        read_commits(path, ["Italy"])


def test_commits_cli_bad_input_exits_2(org_run, tmp_path):
    _, out = org_run
    path = tmp_path / "c.csv"
    path.write_text("team,commit\nItlay,4e6\n")
    r = CliRunner().invoke(main, ["commits", str(out), str(path)])
    assert r.exit_code == 2 and "did you mean 'Italy'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["commits", str(tmp_path), str(path)])
    assert r.exit_code == 2 and "holds no finished run" in r.output


def test_quotas_name_each_reps_team():
    sc = pipesim.load_scenario(ORG, ["target.horizon_weeks=13", "target.revenue=5e6"])
    table = plan_quotas(sc, replications=20, seed=1).table().set_index("rep")
    assert table.loc["Pia", "team"] == "Nordics" and table.loc["Rosa", "team"] == "Italy"


def test_territory_leads_are_worked_only_by_the_teams_reps():
    from pipesim.engine.model import simulate

    sc = pipesim.load_scenario(ORG, ["target.horizon_weeks=26"])
    sc = pipesim.what_if(
        sc, {"teams.Nordics.segments": {"S1": 1.0}, "teams.DACH.segments": {"S2": 0.5}}
    )
    seats = sc.team_seats()
    m = simulate(sc, 11)
    pool = np.asarray(m._pool_of)
    segment = m.leads.segment
    s1, s2 = list(sc.segments).index("S1"), list(sc.segments).index("S2")
    taken = ~np.isnan(m.wait) & (m.seat_of >= 0)
    # every S1 lead is Nordics', half of S2 is DACH's, the rest shared
    assert (pool[segment == s1] == 1).all()
    share = float((pool[segment == s2] == 2).mean())
    n2 = int((segment == s2).sum())
    assert abs(share - 0.5) < 4 * (0.25 / n2) ** 0.5
    assert (pool[(segment != s1) & (segment != s2)] == 0).all()
    assert set(m.seat_of[taken & (pool == 1)]) <= set(seats["Nordics"])
    assert set(m.seat_of[taken & (pool == 2)]) <= set(seats["DACH"])
    others = set(m.seat_of[taken & (pool == 0)])
    assert others - set(seats["Nordics"]) - set(seats["DACH"])  # shared leads reach other teams


def test_territory_shares_are_checked():
    sc = pipesim.load_scenario(ORG)
    with pytest.raises(pipesim.ScenarioError, match=r"shares of segment 'S1' add up to 1.2"):
        pipesim.what_if(
            sc, {"teams.Nordics.segments": {"S1": 0.7}, "teams.DACH.segments": {"S1": 0.5}}
        )
    with pytest.raises(pipesim.ScenarioError, match=re.escape("unknown segment 'S5'")):
        pipesim.what_if(sc, {"teams.Nordics.segments": {"S5": 0.5}})
    with pytest.raises(pipesim.ScenarioError, match=re.escape("teams.Nordics.segments.S1")):
        pipesim.what_if(sc, {"teams.Nordics.segments": {"S1": 1.5}})


def test_open_deals_owned_by_a_team_are_dealt_to_its_reps():
    from pipesim.engine.model import open_pipeline_seats

    sc = pipesim.load_scenario(ORG)
    sc = pipesim.what_if(
        sc, {"open_pipeline": [{"segment": "S3", "stage": "decision", "count": 6, "owner": "DACH"}]}
    )
    dach = sc.team_seats()["DACH"]
    assert open_pipeline_seats(sc) == [dach[k % len(dach)] for k in range(6)]
    with pytest.raises(pipesim.ScenarioError, match=re.escape("did you mean 'DACH'")):
        pipesim.what_if(
            sc, {"open_pipeline": [{"segment": "S3", "stage": "decision", "owner": "DAHC"}]}
        )


def test_quotas_report_how_p_quota_follows_territory_size():
    sc = pipesim.load_scenario(ORG, ["target.horizon_weeks=13", "target.revenue=5e6"])
    flat = plan_quotas(sc, replications=20, seed=1)
    assert flat.fairness() is None  # no territories: every rep works the same leads
    owned = pipesim.what_if(sc, {"teams.Nordics.segments": {"S3": 0.6, "S4": 0.5}})
    plan = plan_quotas(owned, replications=20, seed=1)
    size = plan.table().set_index("rep")["territory_leads"]
    nordics = owned.teams["Nordics"].reps
    assert size.loc[nordics].min() > size.drop(index=nordics).max()
    # every lead is counted once: in a territory, split over its seats, or in the shared pool
    assert size.sum() == pytest.approx(sum(_segment_leads(owned, 20, 1)), rel=1e-9)
    r, low, high = plan.fairness()
    assert low <= r <= high and -1 <= low and high <= 1


def _segment_leads(sc: pipesim.Scenario, n: int, seed: int) -> list[float]:
    table = pipesim.run(sc, replications=2 * n, seed=seed).table
    return [float(table[f"{seg}_leads"].mean()) for seg in sc.segments]


@pytest.mark.slow
def test_fair_quotas_give_every_rep_the_same_chance_on_the_shipped_example():
    # 10,000 replications set the quotas and 10,000 others check them (about 3.5 minutes)
    plan = plan_quotas(pipesim.load_scenario(ORG), replications=10_000, seed=0, workers=2)
    table = plan.table()
    assert (table["p_quota_high"] - table["p_quota_low"]).max() < 0.02  # each within +/- 1 point
    assert plan.spread() < 0.05  # every rep within 5 points of every other
    assert plan.spread(today=True) > 0.10  # today's equal quotas are not
