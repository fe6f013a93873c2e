"""pipesim.iterate: running estimates that equal `pipesim run -n N`, paired what-ifs, cancel."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest

import pipesim
from pipesim.results.statistics import mean_interval, paired_difference
from pipesim.runs import runner, stream
from pipesim.runs.executors import ReplicationPool, run_chunk
from pipesim.scenario.rng import replication_seeds

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


@pytest.fixture(scope="module")
def quick():
    # six weeks keep replications fast; the target at a pilot's median keeps P(target) near 1/2
    short = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=6"])
    median = float(pipesim.run(short, replications=40, seed=99).table["revenue"].median())
    return pipesim.load_scenario(
        BASELINE, ["target.horizon_weeks=6", f"target.revenue={median:.0f}"]
    )


def _figures(e: stream.Estimate) -> dict[str, float]:
    return {
        "n": e.replications,
        "p": e.p_target.estimate,
        "p_low": e.p_target.low,
        "p_high": e.p_target.high,
        "mean": e.revenue.estimate,
        "p10": e.revenue_p10,
        "p50": e.revenue_p50,
        "p90": e.revenue_p90,
    }


def _summary_figures(s: dict) -> dict[str, float]:
    return {
        "n": s["replications"],
        "p": s["p_target"]["estimate"],
        "p_low": s["p_target"]["ci_low"],
        "p_high": s["p_target"]["ci_high"],
        "mean": s["revenue"]["mean"],
        "p10": s["revenue"]["p10"],
        "p50": s["revenue"]["p50"],
        "p90": s["revenue"]["p90"],
    }


def test_seeds_are_the_runs_seeds_without_spawning_the_earlier_ones():
    assert stream.seeds(7, 0, 10) == replication_seeds(7, 10)
    assert stream.seeds(7, 25, 31) == replication_seeds(7, 6, start=25)


def test_the_estimate_after_n_replications_is_pipesim_run_n(quick, tmp_path):
    """Exactly the summary.json figures, whatever the batch size or the number of workers."""
    cli = tmp_path / "cli"
    from click.testing import CliRunner

    from pipesim.cli.main import main

    args = ["run", str(BASELINE), "-n", "30", "--seed", "4", "--workers", "1", "--quiet"]
    args += ["--set", "target.horizon_weeks=6", "--set", f"target.revenue={quick.target.revenue}"]
    args += ["--out", str(cli), "--catalogue", str(tmp_path / "runs.sqlite")]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    summary = json.loads((cli / "summary.json").read_text())
    at12 = runner.run(quick, 12, seed=4).summary

    for batch, workers in ((7, 1), (4, 2)):
        with pipesim.iterate(quick, seed=4, batch=batch, workers=workers, max_replications=30) as s:
            estimates = list(s)
        assert [e.replications for e in estimates][-1] == 30
        assert estimates[-1].final and not any(e.final for e in estimates[:-1])
        assert _figures(estimates[-1]) == _summary_figures(summary)
        twelve = [e for e in estimates if e.replications == 12]
        if twelve:  # batch 4 passes 12
            assert _figures(twelve[0]) == _summary_figures(at12)
        mean, low, high = mean_interval(runner.run(quick, 30, seed=4).table["revenue"])
        assert estimates[-1].revenue == stream.Interval(mean, low, high)


def test_a_reference_gives_the_paired_difference_on_the_same_seeds(quick):
    more = pipesim.what_if(quick, {"reps.count": 22})
    with pipesim.iterate(more, seed=5, batch=10, max_replications=20, reference=quick) as s:
        last = list(s)[-1]
    alt = runner.run(more, 20, seed=5).table
    ref = runner.run(quick, 20, seed=5).table
    est, (low, high), _, _ = paired_difference(ref["hit_target"], alt["hit_target"])
    assert last.difference == stream.Interval(est, low, high)
    est, (low, high), _, _ = paired_difference(ref["revenue"], alt["revenue"])
    assert last.revenue_difference == stream.Interval(est, low, high)
    assert last.reference_p_target is not None
    assert last.reference_p_target.estimate == ref["hit_target"].mean()
    assert last.p_target.estimate == alt["hit_target"].mean()


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_from_another_thread_stops_the_workers_promptly(quick, workers):
    s = pipesim.iterate(quick, seed=1, batch=4, workers=workers, max_replications=100_000)
    first = next(s)
    assert first.replications == 4 and s.latest is first
    assert bool(multiprocessing.active_children()) == (workers > 1)  # the pool is up
    timer = threading.Timer(0.3, s.cancel)
    t0 = time.monotonic()
    timer.start()
    rest = list(s)  # the consumer blocks here until the cancel lands
    waited = time.monotonic() - t0
    timer.join()
    assert s.cancelled and waited < 10
    assert all(not e.final for e in rest)
    assert not multiprocessing.active_children()  # no worker outlives the stream
    s.close()  # closing again is harmless


def test_leaving_the_loop_shuts_the_workers_down(quick):
    with pipesim.iterate(quick, seed=1, batch=2, workers=2, max_replications=10_000) as s:
        for e in s:
            if e.replications >= 4:
                break
    assert not multiprocessing.active_children()
    with pytest.raises(StopIteration):
        next(s)


def test_estimates_are_immutable(quick):
    with pipesim.iterate(quick, seed=1, batch=2, max_replications=2) as s:
        (e,) = list(s)
    with pytest.raises(AttributeError):
        e.replications = 3  # type: ignore[misc]


def test_a_precision_stream_stops_where_pipesim_run_does(quick):
    res = runner.run(quick, seed=6, precision=0.1)
    n = res.summary["replications"]
    for batch, workers in ((25, 1), (8, 2)):
        with pipesim.iterate(
            quick, seed=6, batch=batch, workers=workers, precision=0.1, max_replications=5000
        ) as s:
            estimates = list(s)
        last = estimates[-1]
        assert last.final and last.precision_reached
        assert _figures(last) == _summary_figures(res.summary)
        assert last.replications == n
        # a snapshot after every batch (and at each look of the rule)
        steps = [b.replications - a.replications for a, b in pairwise(estimates)]
        assert max(steps) <= batch


def test_bad_arguments_are_refused(quick):
    with pytest.raises(ValueError, match="batch"):
        pipesim.iterate(quick, batch=0)
    with pytest.raises(ValueError, match="precision"):
        pipesim.iterate(quick, precision=0.7)


def test_one_replication_starts_no_workers_and_gives_the_same_result(quick, tmp_path):
    one = pipesim.run(quick, replications=1, seed=5, workers=1)
    pool = ReplicationPool(run_chunk, (quick, False), partial(stream.seeds, 5), workers=2)
    with pool:
        [alone] = list(pool.take(0, 1))
        assert pool._pool is None and not multiprocessing.active_children()
        # more than one asked: the workers start, and replication 1 matches a one-worker run
        [second] = list(pool.take(1, 2, limit=6))
        assert pool._pool is not None
    assert alone.row["revenue"] == one.table["revenue"].iloc[0]
    two = pipesim.run(quick, replications=2, seed=5, workers=1)
    assert second.row["revenue"] == two.table["revenue"].iloc[1]
