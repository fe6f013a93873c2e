"""``required``: the smallest lever value with P(target) >= confidence, on year_end_push.

The fast variant uses few replications and a coarse grid and adds none; the slow one runs the
command as a planner would (400 replications per value, 0.25 grid step, replications added at
the answer and the step below until it is resolved).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipesim.cli.optimise import cli
from pipesim.optimise.required import required
from pipesim.optimise.required_text import message
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"


def check_answer(result, confidence: float) -> None:
    a, b, t = result.answer, result.below, result.today
    assert a is not None and b is not None
    assert a.p >= confidence > b.p  # the answer works and one step below does not
    assert a.value == pytest.approx(b.value + result.step)
    assert a.value > t.value and t.p < confidence
    assert a.new_opportunities > t.new_opportunities
    # every grid value simulated below the answer falls short, every one above reaches it
    for ev in result.evaluations:
        assert (ev.p >= confidence) == (ev.value >= a.value - 1e-9)


def test_required_new_opportunities_fast():
    scenario = load_scenario(YEAR_END)
    result = required(
        scenario,
        "new_opportunities_per_rep_week",
        confidence=0.8,
        replications=40,
        seed=0,
        workers=2,
        step=0.5,
        max_replications=40,  # no replications added: tests/test_required_trust.py adds them
    )
    check_answer(result, 0.8)
    res = result.resolution
    assert res is not None and res.replications == 40 and res.limit == 40
    text = message(result)
    m = re.match(
        r"each rep needs ([\d.]+) new opportunities per week \(today ([\d.]+)\) for an? "
        r"(\d+)% chance \(95% CI [\d.]+%-[\d.]+%\)",
        text,
    )
    assert m, text
    assert float(m.group(2)) == pytest.approx(result.today.new_opportunities, abs=0.05)
    assert "one step below" in text
    assert res.text() in text  # resolved with 40 replications, or not resolved at that limit


def test_required_cli_unreachable_and_bad_lever():
    runner = CliRunner()
    # two ramping hires cannot make up the gap in six weeks
    res = runner.invoke(
        cli,
        [
            "required",
            str(YEAR_END),
            "--lever",
            "reps.count",
            "--max",
            "17",
            "-n",
            "10",
            "--workers",
            "2",
            "--quiet",
        ],
    )
    assert res.exit_code == 3, res.output
    assert "unreachable: even at reps.count = 17" in res.output
    res = runner.invoke(cli, ["required", str(YEAR_END), "--lever", "reps.cont"])
    assert res.exit_code == 2
    assert "unknown lever 'reps.cont'" in res.output
    assert "Traceback" not in res.output


@pytest.mark.slow
def test_required_new_opportunities_full():
    """As a planner runs it: 400 replications per value, grid step 0.25, resolved."""
    result = required(
        load_scenario(YEAR_END), "new_opportunities_per_rep_week", replications=400, workers=2
    )
    check_answer(result, 0.8)
    text = message(result)
    assert text.startswith("each rep needs ")
    res = result.resolution
    assert res is not None and res.resolved and res.replications > 400
    assert result.answer.p_target["ci_low"] >= 0.8 > result.below.p_target["ci_high"]
    assert f"resolved with {res.replications:,} replications" in text
