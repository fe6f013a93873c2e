"""Stage dwell times and stall hazards, fitted to censored stage episodes.

* **Dwell times** (interest, preference): a gamma fitted by maximum likelihood with survival terms
  for episodes that did not advance (closed in the stage, or still open): censored, not dropped
  (:func:`fit_censored`). Lognormal and Weibull fits are reported for comparison (AIC), with a
  Kolmogorov-Smirnov distance between the Kaplan-Meier curve and the fitted distribution. The
  decision stage's dwell is the time from entering it to the close (any outcome), censored for
  open deals (:func:`dwell_estimates`). Intervals use a robust sandwich covariance whose scores
  are summed within owner-quarter blocks.
* **Stall hazard** (interest, preference): closes from the stage per week of exposure in it
  (exponential competing risk; exact Poisson interval on the exits over the design effect;
  :func:`stall_estimate`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pipesim.calibrate.blocks import block_cov, usable_blocks
from pipesim.calibrate.episodes import dwell_observed
from pipesim.calibrate.estimates import MIN_EPISODES, Z95, Estimate, SurvivalFit


def _kaplan_meier(t: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival just after each distinct event time."""
    times = np.unique(t[observed])
    at_risk = np.array([(t >= u).sum() for u in times])
    deaths = np.array([((t == u) & observed).sum() for u in times])
    return times, np.cumprod(1.0 - deaths / at_risk)


def _ks_km(t: np.ndarray, observed: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    times, surv = _kaplan_meier(t, observed)
    if not len(times):
        return math.nan
    fitted = cdf(times)
    before = np.concatenate([[1.0], surv[:-1]])
    return float(max(np.abs(1.0 - surv - fitted).max(), np.abs(1.0 - before - fitted).max()))


_FAMILIES: dict[str, Callable[[np.ndarray], Any]] = {
    "gamma": lambda p: stats.gamma(math.exp(p[0]), scale=math.exp(p[1])),
    "lognormal": lambda p: stats.lognorm(math.exp(p[1]), scale=math.exp(p[0])),
    "weibull": lambda p: stats.weibull_min(math.exp(p[0]), scale=math.exp(p[1])),
}


def _record_loglik(family: str, p: np.ndarray, t: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-record log-likelihood: log density for events, log survival for censored records.

    The gamma's is written out with special functions (it is evaluated many times per fit).
    """
    if family == "gamma":
        k, scale = math.exp(p[0]), math.exp(p[1])
        z = t / scale
        with np.errstate(divide="ignore"):
            log_pdf = (k - 1.0) * np.log(z) - z - special.gammaln(k) - p[1]
            log_sf = np.log(special.gammaincc(k, z))
        return np.asarray(np.where(observed, log_pdf, log_sf))
    dist = _FAMILIES[family](p)
    return np.asarray(np.where(observed, dist.logpdf(t), dist.logsf(t)))


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian."""
    k = len(x)
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            val = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h[i] * h[j]
            )
            out[i, j] = out[j, i] = val
    return out


def _sandwich(
    family: str,
    x: np.ndarray,
    hess: np.ndarray,
    t: np.ndarray,
    observed: np.ndarray,
    blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Robust covariance H^-1 J H^-1 (J: outer product of the blocks' summed scores).

    Stage dwells are a mixture over segments and buying groups, so no single gamma is the true
    model; the sandwich keeps the interval honest where the Fisher information alone is too
    narrow. Scores are summed within blocks (:func:`~pipesim.calibrate.blocks.block_codes`)
    before the outer product.
    """

    def per_record(p: np.ndarray) -> np.ndarray:
        return _record_loglik(family, p, t, observed)

    h = 1e-5 * np.maximum(1.0, np.abs(x))
    scores = np.column_stack(
        [
            (per_record(x + np.eye(len(x))[i] * h[i]) - per_record(x - np.eye(len(x))[i] * h[i]))
            / (2 * h[i])
            for i in range(len(x))
        ]
    )
    try:
        bread = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.full((len(x), len(x)), np.nan)
    meat = block_cov(scores, usable_blocks(blocks, len(t)))
    return np.asarray(bread @ meat @ bread)


def fit_censored(
    t: np.ndarray,
    observed: np.ndarray,
    family: str = "gamma",
    blocks: np.ndarray | None = None,
    point_only: bool = False,
) -> SurvivalFit:
    """Maximum-likelihood fit with right-censoring: log f for events, log S for censored.

    ``blocks`` groups records for the robust covariance; ``point_only`` skips the covariance
    and the goodness of fit (``cov`` is NaN, ``ks`` NaN).
    """
    make = _FAMILIES[family]
    logs = np.log(t[observed]) if observed.any() else np.log(t)
    if family == "lognormal":
        start = np.array([logs.mean(), math.log(max(logs.std(), 0.1))])
    else:
        m, v = t[observed].mean(), max(t[observed].var(), 1e-6)
        shape = m * m / v
        start = np.array([math.log(shape), math.log(m / shape)])
        if family == "weibull":
            start = np.array([math.log(max(1.2 / (v**0.5 / m), 0.2)), math.log(m)])

    def nll(p: np.ndarray) -> float:
        if np.any(np.abs(p) > 30):
            return 1e12
        ll = _record_loglik(family, p, t, observed).sum()
        return float(-ll) if np.isfinite(ll) else 1e12

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
        )
        if point_only:
            return SurvivalFit(
                family,
                res.x,
                np.full((2, 2), np.nan),
                -float(res.fun),
                4 + 2 * float(res.fun),
                math.nan,
            )
        hess = _hessian(nll, res.x)
    cov = _sandwich(family, res.x, hess, t, observed, blocks)
    dist = make(res.x)
    return SurvivalFit(
        family=family,
        params=res.x,
        cov=cov,
        loglik=-float(res.fun),
        aic=2 * 2 + 2 * float(res.fun),
        ks=_ks_km(t, observed, dist.cdf),
    )


def _ks_pvalue(distance: float, n: int) -> float:
    if not math.isfinite(distance) or n < 1:
        return math.nan
    return float(stats.kstwo.sf(distance, n))


def dwell_estimates(
    stage: str, ep: pd.DataFrame, blocks: np.ndarray | None = None
) -> tuple[list[Estimate], SurvivalFit | None]:
    """Mean and cv of a stage's dwell (gamma, censored ML) from its episodes."""
    t = ep["days"].to_numpy(float)
    observed = dwell_observed(stage, ep)
    n, n_obs = len(t), int(observed.sum())
    if n_obs < MIN_EPISODES:
        return [], None
    fits = {fam: fit_censored(t, observed, fam, blocks) for fam in _FAMILIES}
    g = fits["gamma"]
    log_k, log_theta = g.params
    gof = {
        "ks_distance_km": g.ks,
        "ks_p_approx": _ks_pvalue(g.ks, n_obs),
        "aic_gamma": g.aic,
        "aic_lognormal": fits["lognormal"].aic,
        "aic_weibull": fits["weibull"].aic,
    }
    # mean = k theta: log mean = log k + log theta; cv = k^-1/2: log cv = -log k / 2
    var_log_mean = g.cov[0, 0] + g.cov[1, 1] + 2 * g.cov[0, 1]
    se_log_mean = math.sqrt(max(var_log_mean, 0.0))
    se_log_cv = 0.5 * math.sqrt(max(g.cov[0, 0], 0.0))
    mean = math.exp(log_k + log_theta)
    cv = math.exp(-0.5 * log_k)
    what = "time from entering the stage to the close" if stage == "decision" else "dwell"
    method = (
        "gamma, censored maximum likelihood; interval on the log scale (robust sandwich "
        "covariance over owner-quarter blocks)"
    )
    out = [
        Estimate(
            f"dwell.{stage}.mean_days",
            mean,
            mean * se_log_mean,
            mean * math.exp(-Z95 * se_log_mean),
            mean * math.exp(Z95 * se_log_mean),
            n,
            n - n_obs,
            "days",
            method,
            gof,
            f"mean {what} of opportunities that entered {stage} after creation",
        ),
        Estimate(
            f"dwell.{stage}.cv",
            cv,
            cv * se_log_cv,
            cv * math.exp(-Z95 * se_log_cv),
            cv * math.exp(Z95 * se_log_cv),
            n,
            n - n_obs,
            "",
            method,
            gof,
            f"coefficient of variation of the {what}",
        ),
    ]
    return out, g


def stall_estimate(
    stage: str, ep: pd.DataFrame, blocks: np.ndarray | None = None
) -> Estimate | None:
    """Closes from a stage per week of exposure in it (exponential competing risk).

    The exact Poisson interval is computed on the effective number of exits: the count divided
    by the design effect (the variance of the rate with blocks summed,
    :func:`~pipesim.calibrate.blocks.block_codes`, over its Poisson variance; at least 1: exits
    are never taken as more regular than Poisson).
    """
    if len(ep) < MIN_EPISODES:
        return None
    is_exit = (ep["event"] == "exit").to_numpy(float)
    exposure = ep["days"].to_numpy(float) / 7.0
    exits = int(is_exit.sum())
    weeks = float(exposure.sum())
    rate = exits / weeks
    deff = 1.0
    if exits:
        var = block_cov(
            ((is_exit - rate * exposure) / weeks)[:, None], usable_blocks(blocks, len(ep))
        )
        deff = max(float(var[0, 0]) / (exits / weeks**2), 1.0)
    eff, eff_weeks = exits / deff, weeks / deff
    se = math.sqrt(max(eff, 1.0)) / eff_weeks
    lo, hi = (
        stats.chi2.ppf(0.025, 2 * eff) / 2 / eff_weeks if exits else 0.0,
        (stats.chi2.ppf(0.975, 2 * eff + 2) / 2 / eff_weeks),
    )
    return Estimate(
        f"stall.{stage}.per_week",
        rate,
        se,
        float(lo),
        float(hi),
        len(ep),
        int((ep["event"] == "open").sum()),
        "per week",
        "exits / exposure (exponential competing risk); exact Poisson interval on the "
        "exits divided by the owner-quarter design effect",
        {"design_effect": deff},
        f"deals closed while in {stage}, per week spent in it",
    )
