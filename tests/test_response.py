"""Lead response time: the chance a rep still reaches a lead decays with the hours it waited."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipesim.cli.main import main
from pipesim.engine.model import CAUSE_NOT_REACHED, UNCAPTURED, simulate
from pipesim.market.response import Reach
from pipesim.results.anchors import HELD_OUT, RESPONSE_RATIOS, TUNED, response_table
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario, what_if
from pipesim.scenario.schema import ResponseCurve
from pipesim.scenario.schema.sales import FLAT

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def test_the_default_curve_passes_through_the_published_ratios():
    reach = Reach.of(ResponseCurve())
    assert reach is not None
    assert reach.chance(0.0) == 1.0 and reach.chance(0.5) == 1.0
    assert reach.chance(1.5) == pytest.approx(1 / 7)
    assert reach.chance(24.0) == pytest.approx(1 / 60)
    assert reach.chance(24.0 * 30) == pytest.approx(1 / 60)
    grid = [reach.chance(h) for h in np.linspace(0, 48, 500)]
    assert all(a >= b for a, b in itertools.pairwise(grid))  # never grows with waiting
    # log-linear between the knots: halfway in hours is the geometric mean
    assert reach.chance(1.0) == pytest.approx(math.sqrt(1 / 7))
    assert Reach.of(FLAT) is None


def test_a_curve_out_of_order_is_refused_with_its_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"extends: {BASELINE}\nname: bad\nleads:\n  response:\n    inbound:\n"
        "      hour_later_hours: 30\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert "leads.response.inbound" in str(err.value)
    assert "prompt_hours < hour_later_hours < day_hours" in str(err.value)
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_leads_answered_late_go_cold_and_are_counted():
    sc = what_if(load_scenario(BASELINE), {"leads.response_days": 1.0})
    m = simulate(sc, 3)
    not_reached = m.cause == CAUSE_NOT_REACHED
    queued = np.isin(m.leads.source, (0, 1, 3))  # inbound, campaign, referral
    answered = queued & ~np.isnan(m.wait)
    # a day late, about 59 in 60 answered leads are no longer there
    assert not_reached[answered].mean() == pytest.approx(59 / 60, abs=0.02)
    assert np.all(m.status[not_reached] == UNCAPTURED)
    # leads reps find themselves do not decay
    prospecting = m.leads.source == 2
    assert not not_reached[prospecting].any()


def test_without_the_decay_a_late_answer_qualifies_as_often():
    flat = {"leads.response." + s: FLAT for s in ("inbound", "campaign", "referral")}
    sc = what_if(load_scenario(BASELINE), flat)
    df = response_table(sc, 6, 0)
    for row in df.itertuples():  # rates (and odds) alike within noise, whatever the band
        assert abs(row.simulated - 1.0) < 0.15, (row.figure, row.simulated)


def test_an_answer_within_the_hour_qualifies_at_the_published_ratios():
    """The anchors' tuned response rows on the baseline: 7x an hour later, 60x a day later."""
    df = response_table(load_scenario(BASELINE), 20, 1)
    tuned = df[df["kind"] == TUNED]
    assert len(tuned) == sum(r.kind == TUNED for r in RESPONSE_RATIOS) == 2
    for row, published in zip(tuned.itertuples(), (7.0, 60.0), strict=True):
        assert row.ci_low <= published <= row.ci_high, (row.figure, row.simulated)
        assert row.passes
    held = df[df["kind"] == HELD_OUT].iloc[0]
    assert held["published_low"] == 21.0 and not math.isnan(held["simulated"])
