"""Invariants of every replication: Little's law on the pipeline, conservation of money.

Little's law: the time-average number of open opportunities over the horizon, read from the
engine's own per-seat open-deal count (the load that slows qualification and thins coverage),
equals the rate at which opportunities are created times the mean time one stays open (from the
per-lead records ``t_engaged``/``t_close``), within its sampling interval. The edges are counted
exactly: an open-pipeline deal is created at day 0, and a deal still open at the horizon counts
until the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy

import pipesim
from pipesim.engine.model import OPEN, PipelineModel, simulate
from pipesim.market.sources import build_leads
from pipesim.scenario.rng import Streams, replication_seeds
from pipesim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"


def _probed(scenario: Scenario, seed: int, times: np.ndarray) -> tuple[PipelineModel, np.ndarray]:
    """Simulate like :func:`simulate`, reading the engine's open-deal count at ``times``.

    The count of a seat is its ``open_opportunities`` plus the pending load changes already due
    (the engine applies them lazily, when the seat's load is next read); the probe only reads.
    """
    streams = Streams(seed)
    model = PipelineModel(scenario, build_leads(scenario, streams), streams)
    counts = np.zeros(len(times))

    def probe() -> Generator[simpy.Event, Any, None]:
        env = model.env
        for k, t in enumerate(times):
            yield env.timeout(t - env.now)
            now = env.now
            counts[k] = sum(
                rep.open_opportunities
                + sum(d_open for day, _, d_open, _ in model.changes[rep.seat] if day <= now)
                for rep in model.reps
            )

    model.env.process(probe())
    model.run()
    return model, counts


def _open_interval(m: PipelineModel, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each opportunity's open time within the horizon (pursued leads)."""
    p = m.pursued
    start = m.t_engaged[p]
    end = np.where(m.status[p] == OPEN, horizon, m.t_close[p])
    return start, end


def _littles_law_gaps(
    scenario: Scenario, late_days: float = 0.0, replications: int = 12
) -> tuple[np.ndarray, list[float]]:
    """Per replication: engine's time-average open count minus rate x mean time open.

    ``late_days`` shifts every recorded close later (within the horizon): a deliberately wrong
    record, to show the check has power.
    """
    horizon = scenario.horizon_days
    gaps, sizes = [], []
    for r, seed in enumerate(replication_seeds(5, replications)):
        # the time average is estimated at uniform random instants (a Monte Carlo integral)
        times = np.sort(np.random.default_rng(r).uniform(0.0, horizon, SAMPLES))
        m, counts = _probed(scenario, seed, times)
        start, end = _open_interval(m, horizon)
        end = np.minimum(end + late_days, horizon)
        rate = len(start) / horizon  # opportunities created per day (open pipeline: day 0)
        mean_open = float((end - start).mean())  # days open, counted up to the horizon
        gaps.append(counts.mean() - rate * mean_open)
        sizes.append(counts.mean())
    return np.asarray(gaps), sizes


SAMPLES = 400


@pytest.mark.parametrize("overrides", [[], ["reps.count=5"]], ids=["baseline", "scarce-reps"])
def test_littles_law_on_the_pipeline(overrides: list[str]) -> None:
    """L = lambda W over the whole horizon, the edges accounted exactly.

    Every opportunity counts from its start (the open pipeline's at day 0) to its close or the
    horizon, whichever comes first; then the time-average number open over [0, H] is exactly the
    creation rate times the mean time open, and the engine's count, sampled at random instants,
    must agree within the sampling interval.
    """
    sc = pipesim.load_scenario(BASELINE, overrides)
    horizon = sc.horizon_days
    for seed in replication_seeds(5, 3):
        times = np.linspace(0.25, horizon - 0.25, 200) + 0.0123
        m, counts = _probed(sc, seed, times)
        plain = simulate(sc, seed)  # the probe changed nothing
        assert np.array_equal(plain.status, m.status)
        assert np.array_equal(plain.t_close, m.t_close, equal_nan=True)
        start, end = _open_interval(m, horizon)
        # every pursued opportunity has a start and an end within the horizon
        assert not np.isnan(start).any() and not np.isnan(end).any()
        assert (start >= 0).all() and (end >= start).all() and (end <= horizon).all()
        # at each instant the engine's open-deal count is the number of recorded open deals
        recorded = ((start[:, None] <= times) & (times < end[:, None])).sum(axis=0)
        np.testing.assert_array_equal(counts, recorded)
    gaps, sizes = _littles_law_gaps(sc)
    mean, se = float(gaps.mean()), float(gaps.std(ddof=1)) / math.sqrt(len(gaps))
    # 3.5 standard errors: a false alarm about once in 200 seed sets (t with 11 df)
    assert abs(mean) <= 3.5 * se, (mean, se)
    # not a vacuous check: the pipeline is busy and the interval is narrow relative to it
    assert min(sizes) > 30
    assert 3.5 * se < 0.02 * float(np.mean(sizes)), (se, np.mean(sizes))


def test_littles_law_fails_when_open_time_is_wrong() -> None:
    """The check has power: closes recorded two days late break it."""
    sc = pipesim.load_scenario(BASELINE, ["reps.count=5"])
    gaps, _ = _littles_law_gaps(sc, late_days=2.0)
    assert abs(gaps.mean()) > 3.5 * gaps.std(ddof=1) / math.sqrt(len(gaps))


def test_money_is_conserved_across_output_files(tmp_path: Path) -> None:
    sc = pipesim.load_scenario(YEAR_END, ["target.horizon_weeks=3"])
    n = 12
    pipesim.run(sc, replications=n, seed=4, workers=1, out=tmp_path)
    reps = pd.read_csv(tmp_path / "replications.csv").set_index("replication")
    bookings = pd.read_csv(tmp_path / "bookings.csv")
    per_rep = pd.read_csv(tmp_path / "reps.csv")
    deals = pd.read_csv(tmp_path / "deal_outcomes.csv", keep_default_na=False)
    assert sorted(reps.index) == list(range(n))

    last_week = bookings.sort_values("week").groupby("replication")["cumulative_bookings"].last()
    by_seats = per_rep.groupby("replication")["bookings"].sum()
    won = deals[deals["outcome"] == "won"]
    open_won = won.groupby("replication")["value"].sum().reindex(reps.index, fill_value=0.0)
    assert len(deals) == n * sum(o.count for o in sc.open_pipeline)
    for r in reps.index:
        revenue = float(reps.loc[r, "revenue"])
        assert last_week[r] == pytest.approx(revenue, rel=1e-9, abs=1e-6), r
        assert by_seats[r] == pytest.approx(revenue, rel=1e-9, abs=1e-6), r
        assert open_won[r] == pytest.approx(
            float(reps.loc[r, "revenue_open_pipeline"]), rel=1e-9, abs=1e-6
        ), r
        # the open pipeline's bookings are part of the revenue, never more
        assert reps.loc[r, "revenue_open_pipeline"] <= revenue + 1e-6
    # not vacuous: money was booked, by the open pipeline and by new deals
    assert (reps["revenue_open_pipeline"] > 0).all()
    assert (reps["revenue"] > reps["revenue_open_pipeline"]).any()
