"""The point values of the fits, fast enough to take on many simulated histories.

:func:`observables` runs the estimators of the dwell, stall, conversion, decision and outcome
shares and the deal sizes without their intervals; :func:`pool_crm` makes several exports of the
same window one. The selection correction and the round trip's truth compare these on simulated
histories with the data's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipesim.calibrate.competing import aalen_johansen
from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.dwell import fit_censored
from pipesim.calibrate.episodes import (
    DECISION_EVENTS,
    FITTED_STAGES,
    competing_codes,
    dwell_observed,
    outcome_times,
    stage_episodes,
)
from pipesim.calibrate.estimates import MIN_EPISODES
from pipesim.calibrate.usable import DataReport


def observables(data: CrmData, as_of: pd.Timestamp) -> dict[str, tuple[float, int]]:
    """The point values of the fits :func:`.fit_all` reports with intervals, and their counts.

    ``name -> (value, records used)`` for the dwell mean and cv, stall rate, conversion and
    decision shares of each stage, the outcome shares and the deal sizes: the same estimators
    without intervals, fast enough to run on many simulated histories.
    """
    out: dict[str, tuple[float, int]] = {}
    ep = stage_episodes(data, as_of)
    for stage in (*FITTED_STAGES, "decision"):
        sub = ep[ep["stage"] == stage]
        t = sub["days"].to_numpy(float)
        observed = dwell_observed(stage, sub)
        n = len(t)
        if int(observed.sum()) >= MIN_EPISODES:
            log_k, log_theta = fit_censored(t, observed, "gamma", point_only=True).params
            out[f"dwell.{stage}.mean_days"] = (math.exp(log_k + log_theta), n)
            out[f"dwell.{stage}.cv"] = (math.exp(-0.5 * log_k), n)
        if n < MIN_EPISODES:
            continue
        code = competing_codes(stage, sub)
        if stage in FITTED_STAGES:
            exits = float((sub["event"] == "exit").sum())
            out[f"stall.{stage}.per_week"] = (exits / (float(t.sum()) / 7.0), n)
            labels = [f"conversion.{stage}.next", f"conversion.{stage}.no_decision"]
        else:
            labels = [f"decision.{o}" for o in DECISION_EVENTS]
        for label, value in zip(labels, aalen_johansen(t, code, len(labels)), strict=True):
            out[label] = (float(value), n)
    opp = data.opportunities
    t_all, code_all = outcome_times(opp, as_of)
    if len(opp) >= MIN_EPISODES:
        shares = aalen_johansen(t_all, code_all, 3)
        for label, value in zip(
            ("win_rate", "lost_share", "no_decision_share"), shares, strict=True
        ):
            out[f"outcome.{label}"] = (float(value), len(opp))
    for seg, group in opp.groupby("segment"):
        x = group["amount"].to_numpy(float)
        logs = np.log(x[np.isfinite(x) & (x > 0)])
        if len(logs) >= MIN_EPISODES:
            mu, sigma = float(logs.mean()), float(logs.std())
            out[f"deal_size.{seg}.mean"] = (math.exp(mu + sigma**2 / 2), len(logs))
            out[f"deal_size.{seg}.cv"] = (math.sqrt(math.expm1(sigma**2)), len(logs))
    return out


def pool_crm(parts: Sequence[CrmData]) -> CrmData:
    """Several exports of the same window as one: ids and owners made distinct per export."""
    opps, hists = [], []
    for k, d in enumerate(parts):
        o = d.opportunities.copy()
        o["id"] = f"h{k}:" + o["id"].astype(str)
        o["owner"] = f"h{k}:" + o["owner"].astype(str)
        opps.append(o)
        if d.history is not None:
            h = d.history.copy()
            h["id"] = f"h{k}:" + h["id"].astype(str)
            hists.append(h)
    report = DataReport(
        rows_read=sum(d.report.rows_read for d in parts),
        rows_used=sum(d.report.rows_used for d in parts),
    )
    return CrmData(
        opportunities=pd.concat(opps, ignore_index=True),
        history=pd.concat(hists, ignore_index=True) if hists else None,
        report=report,
    )
