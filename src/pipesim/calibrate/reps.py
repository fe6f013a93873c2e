"""Reps: each owner's win rate and cycle time, shrunk toward the team.

The win rate per owner is shrunk by a beta-binomial empirical Bayes fit, the (log) cycle time of
won deals by a normal-normal empirical Bayes fit (:func:`rep_effects`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pipesim.calibrate.episodes import in_days
from pipesim.calibrate.estimates import Z95


def rep_effects(opp: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-owner win rate (beta-binomial EB) and won-deal cycle time (normal-normal EB)."""
    closed = opp[opp["outcome"] != "open"]
    per = closed.groupby("owner").agg(
        deals=("outcome", "size"), won=("outcome", lambda s: int((s == "won").sum()))
    )
    if per.empty:
        return [], {}
    w, n = per["won"].to_numpy(float), per["deals"].to_numpy(float)

    def nll(p: np.ndarray) -> float:
        a, b = np.exp(p)
        return float(-(special.betaln(w + a, n - w + b) - special.betaln(a, b)).sum())

    p0 = w.sum() / n.sum()
    res = optimize.minimize(
        nll, np.log([max(p0, 0.01) * 20, max(1 - p0, 0.01) * 20]), method="Nelder-Mead"
    )
    a, b = (float(v) for v in np.exp(res.x))
    # with no visible spread between reps the marginal likelihood pushes the prior strength to
    # infinity; a prior cannot be worth more than all the deals it was estimated from
    strength = min(a + b, float(n.sum()))
    a, b = a / (a + b) * strength, b / (a + b) * strength
    # cycle time of won deals, log days
    won = closed[closed["outcome"] == "won"]
    cyc = np.log(np.maximum(in_days(won["close"], won["created"]).to_numpy(float) + 0.5, 0.5))
    won_cyc = pd.DataFrame({"owner": won["owner"].to_numpy(), "log_days": cyc})
    g = won_cyc.groupby("owner")["log_days"].agg(["mean", "count", "var"])
    within = float(won_cyc["log_days"].var()) if len(won_cyc) > 1 else math.nan
    if len(g) > 1 and g["count"].sum() > len(g):
        pooled = g["var"].fillna(0) * (g["count"] - 1)
        within = float(pooled.sum() / max(g["count"].sum() - len(g), 1))
    team_mu = float(won_cyc["log_days"].mean()) if len(won_cyc) else math.nan
    between = (
        max(float(g["mean"].var()) - within * float((1 / g["count"]).mean()), 0.0)
        if len(g) > 1
        else 0.0
    )
    rows = []
    for owner, r in per.iterrows():
        pa, pb = a + r["won"], b + r["deals"] - r["won"]
        row: dict[str, Any] = {
            "owner": owner,
            "closed_deals": int(r["deals"]),
            "won": int(r["won"]),
            "raw_win_rate": float(r["won"] / r["deals"]),
            "win_rate": pa / (pa + pb),
            "win_rate_low": float(stats.beta.ppf(0.025, pa, pb)),
            "win_rate_high": float(stats.beta.ppf(0.975, pa, pb)),
        }
        if owner in g.index and math.isfinite(within):
            m, c = float(g.loc[owner, "mean"]), float(g.loc[owner, "count"])
            prec = (1 / between if between > 0 else math.inf) + c / within
            post = (team_mu / between if between > 0 else 0.0) + m * c / within
            mu = team_mu if between == 0 else post / prec
            sd = 0.0 if between == 0 else math.sqrt(1 / prec)
            row.update(
                {
                    "won_deals": int(c),
                    "raw_cycle_days": math.exp(m),
                    "cycle_days": math.exp(mu),
                    "cycle_days_low": math.exp(mu - Z95 * sd),
                    "cycle_days_high": math.exp(mu + Z95 * sd),
                }
            )
        rows.append(row)
    team = {
        "win_rate_prior_mean": a / (a + b),
        "win_rate_prior_strength": a + b,
        "cycle_days_team": math.exp(team_mu) if math.isfinite(team_mu) else math.nan,
        "cycle_log_sd_between_reps": math.sqrt(between),
        "cycle_log_sd_within_rep": math.sqrt(within) if math.isfinite(within) else math.nan,
    }
    return rows, team
