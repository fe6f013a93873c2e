"""Fit a scenario's parameters to a CRM export, each with its uncertainty.

:func:`fit_all` runs every fit on a normalised export; :func:`calibrated_scenario` (what
``pipesim calibrate`` runs) maps the fits onto a base scenario (:func:`default_base` when none
is given) and checks the result by simulation. What an opportunity export can tell, and how it
is estimated (every value with a standard error, a 95% interval, the number of records used and
how many of them were censored; :class:`~pipesim.calibrate.estimates.Estimate`):

* **Stage episodes** (:mod:`~pipesim.calibrate.episodes`): every stage an opportunity entered
  after it was created, ended by the next stage, the close or the export date (censored).
* **Dwell times and stall hazards** (:mod:`~pipesim.calibrate.dwell`): a gamma fitted by
  censored maximum likelihood (lognormal and Weibull for comparison); closes from a stage per
  week of exposure in it.
* **Conversion** (interest -> next, preference -> next) and the decision stage's outcome shares,
  the overall win rate and no-decision share (:mod:`~pipesim.calibrate.competing`):
  Aalen-Johansen cumulative incidence with seeded block-bootstrap intervals.
* **Deal size** per segment (:mod:`~pipesim.calibrate.deal_size`): lognormal by maximum
  likelihood (robust standard errors, delta method for mean and cv); a gamma fit and KS tests
  are reported alongside.
* **Arrival rates** of opportunities per source and per segment (Poisson), and per calendar month
  (seasonal index, chi-square test of no seasonality; :mod:`~pipesim.calibrate.arrivals`).
* **Reps** (:mod:`~pipesim.calibrate.reps`): win rate per owner shrunk toward the team by a
  beta-binomial empirical Bayes fit, and the (log) cycle time of won deals shrunk by a
  normal-normal empirical Bayes fit.

Deals of one owner created in one calendar quarter form a block
(:func:`~pipesim.calibrate.blocks.block_codes`): the intervals resample or sum whole blocks, so
deals that share a rep's load and a season are not counted as independent.

The fits are mapped onto the scenario by
:func:`~pipesim.calibrate.onto_scenario.fitted_scenario` (dwell means divided by the
journey-scale and buying-group multipliers, cv backed out of the mixture). That mapping ignores
which buyers become opportunities, so :func:`calibrated_scenario` then simulates the mapped
scenario over the data's window and corrects the stage values until the same fits on the
simulated exports match the data's (:func:`~pipesim.calibrate.selection.correct_selection`,
indirect inference), and widens every interval to at least the spread of its estimate across
simulated histories (:func:`~pipesim.calibrate.selection.simulated_spread`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipesim.calibrate.arrivals import arrival_estimates
from pipesim.calibrate.blocks import block_codes
from pipesim.calibrate.competing import competing_estimates
from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.deal_size import deal_size_estimates
from pipesim.calibrate.dwell import dwell_estimates, stall_estimate
from pipesim.calibrate.episodes import (
    FITTED_STAGES,
    as_of_day,
    competing_codes,
    outcome_times,
    stage_episodes,
)
from pipesim.calibrate.estimates import MIN_EPISODES, Calibration, Estimate, Fits, SurvivalFit
from pipesim.calibrate.onto_scenario import fitted_scenario
from pipesim.calibrate.reps import rep_effects
from pipesim.calibrate.selection import (
    CorrectionError,
    correct_selection,
    data_window,
    simulated_spread,
    spread_report,
    widen,
    window_scenario,
)
from pipesim.scenario.schema import Economics, Scenario, Segment, Target


def fit_all(data: CrmData, seed: int = 0, as_of: pd.Timestamp | None = None) -> Fits:
    """Run every fit on a normalised export. ``seed`` drives the bootstraps."""
    as_of = as_of if as_of is not None else as_of_day(data)
    rng = np.random.default_rng(seed)
    opp = data.opportunities
    est: list[Estimate] = []
    missing: dict[str, str] = {}
    gammas: dict[str, SurvivalFit] = {}
    ep = stage_episodes(data, as_of)
    ep_blocks = block_codes(ep["owner"], ep["created"]) if len(ep) else np.zeros(0, int)
    if data.history is None:
        missing["stages"] = "no stage history given (--history): dwell, stall and conversion"
    for stage in (*FITTED_STAGES, "decision"):
        mask = (ep["stage"] == stage).to_numpy()
        sub, blocks = ep[mask], ep_blocks[mask]
        dwell, g = dwell_estimates(stage, sub, blocks)
        est += dwell
        if g is not None:
            gammas[stage] = g
        elif data.history is not None:
            missing[f"dwell.{stage}"] = f"fewer than {MIN_EPISODES} episodes entered after creation"
        t, code = sub["days"].to_numpy(float), competing_codes(stage, sub)
        if stage in FITTED_STAGES:
            stall = stall_estimate(stage, sub, blocks)
            if stall is not None:
                est.append(stall)
            est += competing_estimates(
                f"conversion.{stage}",
                ["next", "no_decision"],
                t,
                code,
                rng,
                [
                    f"share of {stage} entries that reach the next stage",
                    f"share of {stage} entries that close in the stage",
                ],
                blocks,
            )
        else:
            est += competing_estimates(
                "decision",
                ["won", "lost", "no_decision"],
                t,
                code,
                rng,
                [
                    f"share of decision-stage entries that close {o}"
                    for o in ("won", "lost", "in no decision")
                ],
                blocks,
            )
    # outcomes of all opportunities, from creation
    opp_blocks = block_codes(opp["owner"], opp["created"])
    t_all, code_all = outcome_times(opp, as_of)
    est += competing_estimates(
        "outcome",
        ["win_rate", "lost_share", "no_decision_share"],
        t_all,
        code_all,
        rng,
        [
            "share of opportunities won",
            "share lost to a competitor",
            "share ending in no decision (status quo or indecision)",
        ],
        opp_blocks,
    )
    for seg in sorted(opp["segment"].unique()):
        mask = (opp["segment"] == seg).to_numpy()
        est += deal_size_estimates(
            str(seg), opp.loc[mask, "amount"].to_numpy(float), opp_blocks[mask]
        )
    est += arrival_estimates(opp, as_of)
    reps, team = rep_effects(opp)
    return Fits(
        estimates={e.name: e for e in est},
        reps=reps,
        team=team,
        episodes=ep,
        as_of=as_of,
        not_identified=missing,
        gamma=gammas,
    )


def default_base(data: CrmData, fits: Fits, name: str) -> Scenario:
    """The built-in defaults with the data's segments, starting at the export date.

    The target is the bookings of the data's last 52 weeks, in the export's currency where it
    names one (``data.currency``).
    """
    opp = data.opportunities
    won = opp[(opp["outcome"] == "won") & (opp["close"] > fits.as_of - pd.Timedelta(weeks=52))]
    revenue = float(won["amount"].sum()) or float(opp["amount"].sum()) or 1.0
    segments = {str(s): Segment() for s in sorted(opp["segment"].unique())}
    return Scenario(
        name=name,
        description="Calibrated from a CRM export (pipesim calibrate).",
        target=Target(revenue=revenue, start_date=fits.as_of.date()),
        segments=segments,
        economics=Economics(currency=data.currency) if data.currency else Economics(),
    )


def calibrated_scenario(
    data: CrmData,
    fits: Fits,
    base: Scenario,
    name: str,
    source: str = "calibration",
    seed: int = 0,
    correct: bool = True,
) -> Calibration:
    """The calibrated scenario: the fits mapped onto ``base``, corrected and checked by simulation.

    With ``correct`` (what ``pipesim calibrate`` does unless ``--no-correct``): the stage values
    are corrected for selection (:func:`~pipesim.calibrate.selection.correct_selection`), every
    interval is widened to at least the spread across simulated histories
    (:func:`~pipesim.calibrate.selection.simulated_spread`), and the mapping is
    redone with both. ``Calibration.simulation`` records what was simulated.
    """
    cal = fitted_scenario(data, fits, base, name, source)
    if not correct:
        return cal
    try:
        corr = correct_selection(cal, data, seed)
    except CorrectionError as exc:
        cal.simulation = {"status": f"not corrected: {exc}"}
        return cal
    start, days = data_window(data, fits.as_of)
    corrected = window_scenario(cal.scenario, start, days, corr.values)
    spread = simulated_spread(corrected, data, fits, seed)
    out = fitted_scenario(data, widen(fits, spread), base, name, source, corr)
    out.simulation = {
        "status": "corrected" if corr.converged else "corrected (closest step; not converged)",
        "correction": corr.to_dict(),
        "spread": spread_report(spread),
    }
    return out
