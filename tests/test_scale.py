"""Precision-targeted runs, interrupt and resume, and the Dask executor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import pipesim
from pipesim.runs import executors, runner

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
FILES = ("replications.csv", "bookings.csv", "reps.csv")


@pytest.fixture(scope="module")
def quick():
    # a short horizon keeps replications fast; a target at the median revenue of a pilot run
    # keeps P(target) near one half, where the interval is widest
    short = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=6"])
    pilot = pipesim.run(short, replications=40, seed=99)
    median = float(pilot.table["revenue"].median())
    return pipesim.load_scenario(
        BASELINE, ["target.horizon_weeks=6", f"target.revenue={median:.0f}"]
    )


def test_precision_run_respects_the_cap(quick):
    res = pipesim.run(quick, replications=20, seed=3, precision=0.001, max_replications=60)
    assert len(res.table) == 60
    assert res.summary["precision"]["reached"] is False


def _interrupt_after(monkeypatch, count: int) -> None:
    real = executors.run_replication
    calls = {"n": 0}

    def flaky(scenario, replication, seed, uncertain=False):
        calls["n"] += 1
        if calls["n"] > count:
            raise KeyboardInterrupt
        return real(scenario, replication, seed, uncertain)

    monkeypatch.setattr(executors, "run_replication", flaky)


def test_interrupted_run_resumes_to_identical_files(quick, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    pipesim.run(quick, replications=57, seed=5, workers=1, out=whole)
    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        _interrupt_after(m, 33)
        with pytest.raises(runner.RunInterrupted):
            pipesim.run(quick, replications=57, seed=5, workers=1, out=cut)
    partial = json.loads((cut / "summary.json").read_text())
    assert partial["partial"] is True and partial["replications"] == 33
    # a crash mid-write leaves a half line: resume must drop it
    with (cut / "bookings.csv").open("a") as f:
        f.write("33,1,12")
    res = pipesim.run(quick, replications=999, seed=5, workers=2, out=cut, resume=True)
    assert len(res.table) == 57  # the plan comes from the interrupted run's run.json
    for name in FILES:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    done = json.loads((cut / "summary.json").read_text())
    full = json.loads((whole / "summary.json").read_text())
    for key in ("p_target", "revenue", "outcomes", "replications"):
        assert done[key] == full[key]
    assert done["partial"] is False


def test_resume_refuses_another_scenario_or_seed(quick, tmp_path):
    pipesim.run(quick, replications=5, seed=1, out=tmp_path)
    other = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=6", "reps.count=9"])
    with pytest.raises(runner.ResumeMismatch, match="different scenario"):
        pipesim.run(other, replications=5, seed=1, out=tmp_path, resume=True)
    with pytest.raises(runner.ResumeMismatch, match="seed 1"):
        pipesim.run(quick, replications=5, seed=2, out=tmp_path, resume=True)


def test_resume_of_a_precision_run_matches_the_uninterrupted_run(quick, tmp_path, monkeypatch):
    whole = pipesim.run(quick, replications=30, seed=8, out=tmp_path / "a", precision=0.09)
    with monkeypatch.context() as m:
        _interrupt_after(m, 47)
        with pytest.raises(runner.RunInterrupted):
            pipesim.run(quick, replications=30, seed=8, out=tmp_path / "b", precision=0.09)
    res = pipesim.run(quick, replications=30, seed=8, out=tmp_path / "b", resume=True)
    assert len(res.table) == len(whole.table)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_dask_executor_matches_the_process_pool(quick, tmp_path):
    if os.environ.get("CI") == "true":
        import distributed  # CI installs the dask extra: never skip there
    else:
        distributed = pytest.importorskip("distributed", reason="pip install -e '.[dask]'")
    local = tmp_path / "local"
    pipesim.run(quick, replications=24, seed=9, workers=2, out=local)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = tmp_path / "dask"
        pipesim.run(
            quick,
            replications=24,
            seed=9,
            out=remote,
            executor="dask",
            scheduler=cluster.scheduler_address,
        )
    for name in FILES:
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
    assert pd.read_csv(remote / "replications.csv")["replication"].tolist() == list(range(24))


def test_ctrl_c_on_a_real_run_then_resume(tmp_path):
    """SIGINT to a running `pipesim run` keeps finished rows; --resume completes identically."""
    import signal
    import subprocess
    import sys
    import time

    args = [
        sys.executable,
        "-m",
        "pipesim.cli.main",
        "run",
        str(BASELINE),
        "-n",
        "300",
        "--seed",
        "4",
        "--workers",
        "2",
        "--quiet",
        "--set",
        "target.horizon_weeks=13",
    ]
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [*args, "--out", str(cut)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    rows = cut / "replications.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if rows.exists() and rows.read_text().count("\n") > 30:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["partial"] is True and 30 <= summary["replications"] < 300
    assert len(pd.read_csv(rows)) == summary["replications"]

    resumed = subprocess.run(
        [*args, "--resume", str(cut)], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    plain = subprocess.run(
        [*args, "--out", str(whole)], capture_output=True, text=True, timeout=300
    )
    assert plain.returncode == 0, plain.stderr
    for name in FILES:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name


def test_cli_precision_and_resume_mismatch(tmp_path, quick):
    import subprocess
    import sys

    base = [
        sys.executable,
        "-m",
        "pipesim.cli.main",
        "run",
        str(BASELINE),
        "--quiet",
        "--workers",
        "1",
        "--set",
        "target.horizon_weeks=6",
        "--set",
        f"target.revenue={quick.target.revenue:.0f}",
    ]
    done = subprocess.run(
        [*base, "-n", "40", "--precision", "0.08", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "precision +/-0.080 reached" in done.stdout
    other = subprocess.run(
        [*base, "-n", "40", "--seed", "9", "--resume", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode == 2 and "seed" in other.stderr and "Traceback" not in other.stderr
