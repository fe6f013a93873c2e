"""Intervals of the selection-corrected stage values: the fits' uncertainty carried through.

The correction matches simulated fits to the data's. A fitted value responds to its stage value
less than one for one (elasticity below 1: in a short window a long stage's slow episodes are
still open at the export), so the corrected value is less certain than the fit: its log-sd is at
least the fit's log-sd over the elasticity (the delta method, docs/calibration.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipesim.calibrate.crm import read_crm
from pipesim.calibrate.estimates import Calibration
from pipesim.calibrate.fit import calibrated_scenario, fit_all
from pipesim.calibrate.observables import observables, pool_crm
from pipesim.calibrate.selection import Correction, window_scenario
from pipesim.calibrate.synthetic import simulated_histories
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.rng import replication_seeds

LONG = Path(__file__).resolve().parent / "fixtures" / "crm_long"
"""A long interest stage (60 days) in a two-year window: the correction stretches it."""
STEP = 0.1


def _fitted(path: str) -> str:
    _, stage, param = path.split(".")
    if param == "stall_hazard_per_week":
        return f"stall.{stage}.per_week"
    return f"dwell.{stage}.{param}"


@pytest.fixture(scope="module")
def long_calibration() -> Calibration:
    data = read_crm(LONG / "Opportunity.csv", LONG / "OpportunityHistory.csv")
    truth = load_scenario(LONG / "truth.yaml")
    return calibrated_scenario(data, fit_all(data, seed=0), truth, "long", seed=0)


def test_corrected_intervals_widen_by_the_elasticity(long_calibration: Calibration) -> None:
    """Each corrected value's log-sd is at least its fit's log-sd over the fit's elasticity.

    The elasticities are measured here, independently of the code under test: the correction's
    own histories (same seeds) simulated at the corrected values and with each value raised by
    10% on the log scale. On the long-interest fixture the correction stretches the interest
    mean by a fifth or more and its fit responds with an elasticity well below 1, so the
    corrected interval must be clearly wider than the fit's.
    """
    cal = long_calibration
    assert cal.simulation is not None
    corr = cal.simulation["correction"]
    values = {r["path"]: r["corrected"] for r in corr["values"]}
    start = pd.Timestamp(corr["window_start"])
    days = corr["window_days"]
    as_of = start + pd.Timedelta(days=days)
    seeds = replication_seeds(corr["seed"], corr["histories"])

    def fits_at(v: dict[str, float]) -> dict[str, tuple[float, int]]:
        sc = window_scenario(cal.scenario, start, days, v)
        return observables(pool_crm(simulated_histories(sc, seeds)), as_of)

    at = fits_at(values)
    applied = {a.path: a for a in cal.applied}
    interest = applied["journey.interest.mean_days"]
    assert interest.uncorrected is not None
    assert interest.value / interest.uncorrected > 1.15
    for path, value in values.items():
        obs = _fitted(path)
        moved = fits_at({**values, path: value * math.exp(STEP)})
        elasticity = math.log(moved[obs][0] / at[obs][0]) / STEP
        assert 0.3 < elasticity < 1.2, (path, elasticity)
        e = cal.fits.estimates[obs]
        fit_log_sd = e.se / e.value  # widened to the simulated spread
        a = applied[path]
        log_sd = a.sd if a.distribution == "lognormal" else a.sd / a.value
        assert log_sd >= fit_log_sd / elasticity * 0.999, (path, log_sd, fit_log_sd, elasticity)
    e = cal.fits.estimates["dwell.interest.mean_days"]
    # strictly wider than the fit's interval carried over (what the correction used to report)
    assert interest.sd > 1.25 * e.se / e.value
    assert interest.high / interest.low > (e.high / e.low) ** 1.25


def test_delta_method_through_a_known_jacobian() -> None:
    """With elasticities J the log-sds are sqrt(diag(J^-1 S R S J^-T)), floored at own sd / J_pp."""
    paths = ["journey.interest.mean_days", "journey.interest.cv"]
    obs = [_fitted(p) for p in paths]
    corr = Correction(
        values={paths[0]: 60.0, paths[1]: 0.75},
        uncorrected={paths[0]: 40.0, paths[1]: 0.6},
        target={obs[0]: 30.0, obs[1]: 0.7},
        simulated={obs[0]: 30.0, obs[1]: 0.7},
        gap_se={obs[0]: 0.0, obs[1]: 0.0},
        records={obs[0]: (100, 10**9), obs[1]: (100, 10**9)},
        histories=10,
        iterations=[],
        converged=True,
        window_start="2024-01-01",
        window_days=728.0,
        seed=0,
        jacobian={obs[0]: {paths[0]: 0.5, paths[1]: -0.4}, obs[1]: {paths[0]: 0.0, paths[1]: 0.8}},
        fitted_sd={obs[0]: 0.08, obs[1]: 0.05},
        fitted_corr={obs[0]: {obs[1]: 0.3}, obs[1]: {obs[0]: 0.3}},
    )
    jac = np.array([[0.5, -0.4], [0.0, 0.8]])
    s = np.array([0.08, 0.05])
    cov = np.array([[1.0, 0.3], [0.3, 1.0]]) * np.outer(s, s)
    inv = np.linalg.inv(jac)
    expected = np.sqrt(np.diag(inv @ cov @ inv.T))
    mean = corr.adjust(paths[0], 40.0, 0.08, "lognormal", "x")
    cv = corr.adjust(paths[1], 0.6, 0.04, "normal", "x")
    assert mean[0] == 60.0 and mean[3] == 40.0
    assert mean[1] == pytest.approx(max(expected[0], 0.08 / 0.5), rel=1e-6)
    assert mean[1] > 0.08 / 0.5  # the cv's uncertainty adds to the mean's
    assert cv[1] == pytest.approx(0.75 * max(expected[1], 0.05 / 0.8), rel=1e-6)
    assert "delta method" in mean[2]
