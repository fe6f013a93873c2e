"""The Monte Carlo runner and the `pipesim run` result contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import pipesim
from pipesim.scenario.loader import dump_scenario
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import TERMINAL_STATES

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
REQUIRED = [
    "replication",
    "seed",
    "revenue",
    "hit_target",
    "leads",
    "won",
    "lost",
    "no_decision",
    "disqualified",
    "uncaptured",
    "open_at_end",
]


def pipesim_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipesim.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    outs = {}
    for workers in (1, 2):
        out = base / f"w{workers}"
        proc = pipesim_cli(
            "run",
            str(BASELINE),
            "--replications",
            "24",
            "--seed",
            "7",
            "--workers",
            str(workers),
            "--out",
            str(out),
            "--quiet",
            "--set",
            "target.horizon_weeks=13",
        )
        assert proc.returncode == 0, proc.stderr
        outs[workers] = (out, proc)
    return outs


def test_workers_give_byte_identical_tables(two_runs):
    one, two = two_runs[1][0], two_runs[2][0]
    for name in ("replications.csv", "bookings.csv", "reps.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_run_writes_the_contract(two_runs):
    out, proc = two_runs[2]
    assert "P(target" in proc.stdout and "P10" in proc.stdout and "run time" in proc.stdout
    table = pd.read_csv(out / "replications.csv")
    assert list(table.columns[: len(REQUIRED)]) == REQUIRED
    assert len(table) == 24
    assert (table[list(TERMINAL_STATES)].sum(axis=1) == table["leads"]).all()
    assert table["seed"].tolist() == replication_seeds(7, 24)
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "scenario",
        "replications",
        "seed",
        "target",
        "p_target",
        "revenue",
        "outcomes",
        "runtime_s",
        "pipesim_version",
    ):
        assert key in summary
    assert summary["replications"] == 24 and summary["seed"] == 7
    assert summary["p_target"]["estimate"] == pytest.approx(table["hit_target"].mean())
    assert (
        summary["p_target"]["ci_low"]
        <= summary["p_target"]["estimate"]
        <= summary["p_target"]["ci_high"]
    )
    assert summary["revenue"]["p50"] == pytest.approx(np.percentile(table["revenue"], 50))
    assert summary["target"]["amount"] == 21_800_000
    assert set(TERMINAL_STATES) <= set(summary["outcomes"])
    bookings = pd.read_csv(out / "bookings.csv")
    assert list(bookings.columns) == ["replication", "week", "cumulative_bookings"]
    assert len(bookings) == 24 * 13
    last = bookings[bookings.week == 13].set_index("replication")["cumulative_bookings"]
    assert np.allclose(last.to_numpy(), table["revenue"].to_numpy())
    reps = pd.read_csv(out / "reps.csv")
    assert len(reps) == 24 * 15
    assert (out / "scenario.yaml").exists()


def test_default_output_folder_is_reports_scenario_name(tmp_path):
    short = tmp_path / "short.yaml"  # a scenario file of its own: --set would make a what-if
    short.write_text(f"extends: {BASELINE}\ntarget: {{horizon_weeks: 4}}\n", encoding="utf-8")
    proc = pipesim_cli("run", str(short), "-n", "2", "--workers", "1", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "baseline" / "summary.json").exists()
    assert "run.json" in {p.name for p in (tmp_path / "reports" / "baseline").iterdir()}
    assert "variant" not in json.loads((tmp_path / "reports" / "baseline" / "run.json").read_text())


def test_python_api_mirrors_cli(two_runs):
    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=13"])
    res = pipesim.run(sc, replications=24, seed=7, workers=1)
    cli_table = pd.read_csv(two_runs[1][0] / "replications.csv")
    assert np.allclose(res.table["revenue"].to_numpy(float), cli_table["revenue"].to_numpy())
    assert res.summary["p_target"]["estimate"] == pytest.approx(res.p_target)
    assert res.summary["replications"] == 24


def test_results_stream_to_disk_in_order(tmp_path, monkeypatch):
    """Rows reach the file as replications finish, not only at the end."""
    from pipesim.runs import runner

    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4"])
    seen: list[int] = []
    out = tmp_path / "o"

    def progress(k: int) -> None:
        seen.append(len(pd.read_csv(out / "replications.csv")))

    runner.run(sc, replications=30, seed=1, workers=1, out=out, progress=progress)
    assert seen[0] < 30 and seen == sorted(seen) and seen[-1] == 30


def test_interrupted_run_keeps_finished_rows(tmp_path, monkeypatch):
    from pipesim.runs import executors, runner

    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4"])
    real = executors.run_replication
    calls = {"n": 0}

    def flaky(scenario, replication, seed, uncertain=False):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt
        return real(scenario, replication, seed, uncertain)

    monkeypatch.setattr(executors, "run_replication", flaky)
    with pytest.raises(runner.RunInterrupted) as info:
        runner.run(sc, replications=40, seed=1, workers=1, out=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["partial"] is True
    assert summary["replications"] == 25 == info.value.summary["replications"]
    assert len(pd.read_csv(tmp_path / "replications.csv")) == 25


def test_resume_keeps_what_else_run_json_holds(tmp_path):
    from pipesim.runs import runner

    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4"])
    runner.run(sc, replications=6, seed=2, workers=1, out=tmp_path)
    manifest = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**manifest, "note": "after the Q3 review"}))
    runner.run(sc, replications=6, seed=2, workers=1, out=tmp_path, resume=True)
    assert json.loads((tmp_path / "run.json").read_text())["note"] == "after the Q3 review"


def test_a_reused_folder_drops_the_deal_files_of_an_earlier_run(tmp_path):
    """deals.csv of a run with an open pipeline must not pass for a later run's forecast."""
    from pipesim.runs import runner

    sc = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4"])
    runner.run(sc, replications=3, seed=2, workers=1, out=tmp_path)
    assert (tmp_path / "deals.csv").exists()
    none = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=4", "open_pipeline=[]"])
    res = runner.run(none, replications=3, seed=2, workers=1, out=tmp_path)
    assert not (tmp_path / "deals.csv").exists()
    assert not (tmp_path / "deal_outcomes.csv").exists()
    assert res.deals is None


def test_a_run_where_no_lead_arrives_prints_and_exits_0(tmp_path):
    sets = [
        "target.horizon_weeks=2",
        "open_pipeline=[]",
        "leads.outbound.opportunities_per_rep_week=0",
        "leads.prospecting.hours_per_week=0",
    ]
    sc = pipesim.load_scenario(BASELINE, sets)

    data = yaml.safe_load(dump_scenario(sc))
    for seg in data["segments"].values():
        seg["buyers_per_week"] = 0
    for camp in data["campaigns"].values():
        camp["budget_per_week"] = 0
    data["leads"]["referrals"]["per_week"] = 0
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump(data))
    out, cat = str(tmp_path / "o"), str(tmp_path / "runs.sqlite")
    res = pipesim_cli("run", str(path), "-n", "2", "--out", out, "--quiet", "--catalogue", cat)
    assert res.returncode == 0, res.stderr
    assert "n/a" in res.stdout
