"""Every shipped scenario validates and runs; the baseline reproduces the seed figures."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipesim
from pipesim.results.anchors import anchor_table
from pipesim.scenario.schema import TERMINAL_STATES

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))


def test_there_are_shipped_scenarios():
    names = {p.stem for p in SHIPPED}
    assert {"baseline", "year_end_push"} <= names and len(names) >= 3


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_scenario_runs(path):
    sc = pipesim.load_scenario(path)
    res = pipesim.run(sc, replications=3, seed=1, workers=1)
    t = res.table
    assert len(t) == 3
    assert (t[list(TERMINAL_STATES)].sum(axis=1) == t["leads"]).all()
    assert t["revenue"].min() >= 0
    assert 0 <= res.summary["p_target"]["estimate"] <= 1


def test_baseline_hits_target_about_half_the_time():
    sc = pipesim.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    res = pipesim.run(sc, replications=200, seed=3, workers=2)
    p = res.summary["p_target"]
    assert 0.3 <= p["estimate"] <= 0.7


def test_year_end_push_needs_more_than_todays_rate():
    sc = pipesim.load_scenario(ROOT / "scenarios" / "year_end_push.yaml")
    today = pipesim.run(sc, replications=100, seed=3, workers=2).summary["p_target"]["estimate"]
    more = pipesim.load_scenario(
        ROOT / "scenarios" / "year_end_push.yaml",
        ["campaigns.paid_search.budget_per_week=10000", "segments.S1.inbound_share=0.6"],
    )
    pushed = pipesim.run(more, replications=100, seed=3, workers=2).summary["p_target"]["estimate"]
    assert today < 0.5
    assert pushed > today


def test_calibration_anchors_hold():
    """The baseline reproduces the seed figures: each 95% interval inside its tolerance."""
    sc = pipesim.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    res = pipesim.run(sc, replications=150, seed=11, workers=2)
    table = anchor_table(res.table)
    assert table["passes"].all(), table.to_string()
    assert (table["ci_high"] - table["ci_low"] < 0.02).all()
