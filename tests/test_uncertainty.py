"""Parameter uncertainty: per-replication draws (`pipesim run --parameter-uncertainty`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.engine.uncertainty import bounds, draw_parameters, draw_value
from pipesim.runs.runner import ResumeMismatch, run
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.schema import Uncertainty

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SHORT = ["target.horizon_weeks=8", "target.revenue=2500000"]
BLOCK = (
    'uncertainty={"segments.S1.deal_size.mean": {"sd": 0.4, "distribution": "lognormal"}, '
    '"segments.S2.deal_size.mean": {"sd": 0.4, "distribution": "lognormal"}, '
    '"segments.S3.deal_size.mean": {"sd": 0.4, "distribution": "lognormal"}, '
    '"segments.S4.deal_size.mean": {"sd": 70000}, '
    '"journey.decision.mean_days": {"sd": 0.3, "distribution": "lognormal"}}'
)


def _sc(*extra: str) -> pipesim.Scenario:
    return pipesim.load_scenario(BASELINE, [*SHORT, *extra])


def test_draws_stay_inside_the_parameters_bounds():
    sc = _sc()
    b = bounds(sc, "segments.S1.deal_size.mean")  # gt=0
    assert b[0] == 0.0 and b[2] is True
    rng = np.random.default_rng(0)
    spec = Uncertainty(sd=30000.0)  # larger than the value: many raw draws are negative
    draws = np.array([draw_value(18000.0, spec, b, rng) for _ in range(2000)])
    assert (draws > 0).all()
    p = bounds(sc, "qualification.threshold")  # 0 <= x <= 1
    draws = np.array([draw_value(0.45, Uncertainty(sd=0.5), p, rng) for _ in range(2000)])
    assert draws.min() >= 0 and draws.max() <= 1


def test_lognormal_draws_centre_on_the_value():
    rng = np.random.default_rng(1)
    spec = Uncertainty(sd=0.2, distribution="lognormal")
    b = (0.0, float("inf"), True, False)
    draws = np.array([draw_value(25.0, spec, b, rng) for _ in range(4000)])
    assert np.median(draws) == pytest.approx(25.0, rel=0.02)
    assert np.std(np.log(draws)) == pytest.approx(0.2, rel=0.05)


def test_drawn_parameters_are_reproducible_and_vary_by_seed():
    sc = _sc(BLOCK)
    a, drawn_a = draw_parameters(sc, 11)
    _, drawn_b = draw_parameters(sc, 11)
    _, drawn_c = draw_parameters(sc, 12)
    assert drawn_a == drawn_b and drawn_a != drawn_c
    assert a.segments["S4"].deal_size.mean == drawn_a["segments.S4.deal_size.mean"]
    assert a.journey.decision.mean_days == drawn_a["journey.decision.mean_days"]
    # everything else is untouched
    assert a.reps == sc.reps and a.target == sc.target and a.journey.interest == sc.journey.interest


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ('{"segments.S9.deal_size.mean": {"sd": 1}}', "'S9' does not resolve"),
        ('{"reps.count": {"sd": 1}}', "is a count"),
        ('{"target.revenue": {"sd": 1}}', "not a model parameter"),
        ('{"qualification.policy": {"sd": 1}}', "not a numeric parameter"),
        ('{"segments.S1.deal_size.mean": {"sd": -1}}', "must be at least 0"),
    ],
)
def test_bad_uncertainty_blocks_are_rejected(block, expected):
    with pytest.raises(ScenarioError, match="uncertainty") as info:
        _sc(f"uncertainty={block}")
    assert expected in str(info.value)


def test_uncertainty_widens_the_revenue_distribution_only_when_asked():
    sc = _sc(BLOCK)
    plain = run(_sc(), replications=80, seed=5, workers=1)
    ignored = run(sc, replications=80, seed=5, workers=1)
    drawn = run(sc, replications=80, seed=5, workers=1, parameter_uncertainty=True)
    # the block alone changes nothing; the flag draws parameters
    assert ignored.table["revenue"].tolist() == plain.table["revenue"].tolist()
    # deal sizes drawn per replication (sd 40%) add their spread to revenue's: about twice
    # the variance; same seeds, so the ratio is not noise from different market histories
    ratio = drawn.table["revenue"].var() / plain.table["revenue"].var()
    assert ratio > 1.5
    assert drawn.summary["parameter_uncertainty"] is True
    assert ignored.summary["parameter_uncertainty"] is False


def test_uncertain_runs_do_not_depend_on_workers(tmp_path):
    sc = _sc(BLOCK, "target.horizon_weeks=4")
    for w in (1, 2):
        run(sc, 12, seed=9, workers=w, out=tmp_path / f"w{w}", parameter_uncertainty=True)
    for name in ("replications.csv", "bookings.csv", "reps.csv"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    manifest = json.loads((tmp_path / "w1" / "run.json").read_text())
    assert manifest["parameter_uncertainty"] is True
    with pytest.raises(ResumeMismatch, match="parameter-uncertainty"):
        run(sc, 12, seed=9, workers=1, out=tmp_path / "w1", resume=True)


def test_cli_flag_needs_an_uncertainty_block(tmp_path):
    result = CliRunner().invoke(
        main,
        ["run", str(BASELINE), "--parameter-uncertainty", "-n", "2", "--quiet",
         "--out", str(tmp_path / "r"), "--catalogue", str(tmp_path / "c.sqlite")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "uncertainty block" in result.output
