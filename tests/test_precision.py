"""The precision rule: where it stops, and that the interval it stops with keeps its coverage.

The rule (:func:`pipesim.runs.stream.next_look`) is a pure function of the hits so far, so it is
tested on Bernoulli streams standing in for replications: a stream's hits between two looks are a
binomial draw, which makes thousands of seeded runs take a second.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pipesim
from pipesim.results.statistics import Z95, wilson_half_width, wilson_interval, wilson_replications
from pipesim.runs import runner, stream

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def needed(p: float, h: float) -> float:
    """Replications a 95% interval of +/- h needs around a share p: z² p (1 - p) / h²."""
    return Z95 * Z95 * p * (1 - p) / (h * h)


def run_rule(p: float, h: float, rng: np.random.Generator, cap: int = 1_000_000) -> tuple[int, int]:
    """One Bernoulli(p) stream under the rule: (replications at the stop, hits)."""
    n = hits = 0
    while (look := stream.next_look(hits, n, h, cap=cap)) is not None:
        hits += int(rng.binomial(look - n, p))
        n = look
    return n, hits


def test_wilson_replications_is_z2_p_1_minus_p_over_h2():
    # P(target) 0.56 to +/- 2 points: 2,366 by the normal approximation
    assert wilson_replications(0.56, 0.02) == pytest.approx(needed(0.56, 0.02), rel=0.005)
    n = wilson_replications(0.3, 0.03)
    assert wilson_half_width(round(0.3 * n), n) <= 0.03 + 1e-4
    assert wilson_half_width(round(0.3 * (n - 5)), n - 5) > 0.03
    assert wilson_replications(0.0, 0.05) > 0  # never zero: the interval does not collapse


@pytest.mark.parametrize(("p", "h"), [(0.56, 0.02), (0.5, 0.02), (0.45, 0.03), (0.6, 0.05)])
def test_the_rule_stops_within_10_percent_of_what_the_interval_needs(p, h):
    """Batches of 1,000 stopped at 3,000 where 2,370 were enough; the looks close in instead."""
    rng = np.random.default_rng(2026)
    target = needed(p, h)
    stops = np.array([run_rule(p, h, rng)[0] for _ in range(300)])
    assert np.all(np.abs(stops / target - 1) <= 0.10), (stops.min(), stops.max(), target)


def test_the_rule_looks_a_handful_of_times_and_never_past_the_cap():
    looks, n, hits = [], 0, 0
    rng = np.random.default_rng(1)
    while (look := stream.next_look(hits, n, 0.01, cap=50_000)) is not None:
        hits += int(rng.binomial(look - n, 0.4))
        n = look
        looks.append(n)
    assert looks[0] == stream.PILOT and len(looks) <= 20
    assert wilson_half_width(hits, n) <= 0.01
    assert stream.next_look(10, 20, 0.001, cap=60) == 60
    assert stream.next_look(30, 60, 0.001, cap=60) is None


COVERAGE_CASES = [(0.5, 0.05), (0.56, 0.02), (0.3, 0.03), (0.1, 0.02), (0.9, 0.05)]


def coverage(rule, p: float, h: float, runs: int, seed: int, interval=wilson_interval) -> float:
    """Share of seeded runs whose stated interval (Wilson, as summary.json) holds the true p."""
    rng = np.random.default_rng(seed)
    inside = 0
    for _ in range(runs):
        n, hits = rule(p, h, rng)
        low, high = interval(hits, n)
        inside += low <= p <= high
    return inside / runs


@pytest.mark.parametrize(("p", "h"), COVERAGE_CASES)
def test_the_stated_interval_keeps_its_coverage(p, h):
    """Optional stopping must not cost coverage: 95% less at most three Monte Carlo errors."""
    runs = 2000
    floor = 0.95 - 3 * math.sqrt(0.95 * 0.05 / runs)
    assert coverage(run_rule, p, h, runs, seed=7) >= floor


def test_the_coverage_check_catches_a_rule_that_stops_on_luck():
    """Looking after every replication, without a pilot, at p̂ ± z·se stops on lucky streaks."""

    def wald(hits: int, n: int) -> tuple[float, float]:
        q = hits / n
        half = Z95 * math.sqrt(q * (1 - q) / n)
        return q - half, q + half

    def naive(p: float, h: float, rng: np.random.Generator) -> tuple[int, int]:
        n = hits = 0
        while True:
            hits += int(rng.random() < p)
            n += 1
            low, high = wald(hits, n)
            if n >= 10 and (high - low) / 2 <= h:
                return n, hits

    runs = 2000
    floor = 0.95 - 3 * math.sqrt(0.95 * 0.05 / runs)
    assert coverage(naive, 0.1, 0.05, runs, seed=7, interval=wald) < floor


def test_replaying_the_looks_finds_where_an_interrupted_run_was_heading():
    rng = np.random.default_rng(3)
    flags = rng.random(3000) < 0.35
    looks, n = [], 0
    while (look := stream.next_look(int(flags[:n].sum()), n, 0.02, cap=3000)) is not None:
        looks.append(look)
        n = look
    for done in (0, 50, looks[0], looks[1] + 3, looks[-1] - 1):
        heading = stream.replay_looks(flags[:done], 0.02, cap=3000)
        assert heading == min(look for look in looks if look > done)
    assert stream.replay_looks(flags[: looks[-1]], 0.02, cap=3000) is None


@pytest.fixture(scope="module")
def quick():
    short = pipesim.load_scenario(BASELINE, ["target.horizon_weeks=6"])
    median = float(pipesim.run(short, replications=40, seed=99).table["revenue"].median())
    return pipesim.load_scenario(
        BASELINE, ["target.horizon_weeks=6", f"target.revenue={median:.0f}"]
    )


def test_a_precision_run_stops_within_10_percent_of_what_its_interval_needs(quick):
    res = runner.run(quick, seed=3, workers=1, precision=0.08)
    n = len(res.table)
    hits = int(res.table["hit_target"].sum())
    p = hits / n
    assert abs(n / needed(p, 0.08) - 1) <= 0.10
    assert wilson_half_width(hits, n) <= 0.08
    # n was a look of the rule, and the first at which it stopped
    flags = res.table["hit_target"].to_numpy(dtype=bool)
    assert stream.replay_looks(flags[: n - 1], 0.08) == n
    assert stream.next_look(hits, n, 0.08) is None
    assert res.summary["precision"]["reached"] is True
    assert res.summary["precision"]["pilot"] == stream.PILOT
    again = runner.run(quick, seed=3, workers=2, precision=0.08)
    assert again.table.equals(res.table)
