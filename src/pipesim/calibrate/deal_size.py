"""Deal sizes per segment: lognormal by maximum likelihood, a gamma fit and KS tests alongside.

Standard errors come from the Fisher information, or with owner-quarter blocks from each
amount's influence summed within blocks; the mean and cv follow by the delta method
(:func:`deal_size_estimates`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from pipesim.calibrate.blocks import block_cov, usable_blocks
from pipesim.calibrate.estimates import MIN_EPISODES, Z95, Estimate


def deal_size_estimates(
    segment: str, amounts: np.ndarray, blocks: np.ndarray | None = None
) -> list[Estimate]:
    """Lognormal mean and cv of a segment's deal amounts, gamma and KS alongside.

    Without ``blocks`` the errors come from the Fisher information; with them, from each
    amount's influence on the log mean and log sd, summed within blocks
    (:func:`~pipesim.calibrate.blocks.block_codes`).
    """
    usable = np.isfinite(amounts) & (amounts > 0)
    x = amounts[usable]
    n = len(x)
    if n < MIN_EPISODES:
        return []
    logs = np.log(x)
    mu, sigma = float(logs.mean()), float(logs.std())
    ks_ln = stats.kstest(x, stats.lognorm(sigma, scale=math.exp(mu)).cdf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a, _, scale = stats.gamma.fit(x, floc=0)
    ks_g = stats.kstest(x, stats.gamma(a, scale=scale).cdf)
    ll_ln = float(stats.lognorm(sigma, scale=math.exp(mu)).logpdf(x).sum())
    ll_g = float(stats.gamma(a, scale=scale).logpdf(x).sum())
    gof = {
        "ks_lognormal": float(ks_ln.statistic),
        "ks_p_lognormal": float(ks_ln.pvalue),
        "ks_gamma": float(ks_g.statistic),
        "ks_p_gamma": float(ks_g.pvalue),
        "aic_lognormal": 4 - 2 * ll_ln,
        "aic_gamma": 4 - 2 * ll_g,
    }
    log_mean = mu + sigma**2 / 2
    if blocks is None:
        # Fisher information: se(mu) = sigma/sqrt(n), se(sigma) = sigma/sqrt(2n), independent
        se_log_mean = math.sqrt(sigma**2 / n + sigma**4 / (2 * n))
        se_sigma = sigma / math.sqrt(2 * n)
        how = "Fisher information"
    else:
        dev = logs - mu
        contrib = np.column_stack([dev / n, (dev**2 - sigma**2) / (2 * max(sigma, 1e-12) * n)])
        cov = block_cov(contrib, usable_blocks(np.asarray(blocks)[usable], n))
        grad = np.array([1.0, sigma])
        se_log_mean = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        se_sigma = math.sqrt(max(float(cov[1, 1]), 0.0))
        how = "robust variance over owner-quarter blocks"
    mean = math.exp(log_mean)

    def cv_of(s: float) -> float:
        return math.sqrt(math.expm1(max(s, 0.0) ** 2))

    cv = cv_of(sigma)
    se_cv = sigma * math.exp(sigma**2) / cv * se_sigma if cv > 0 else math.nan
    method = f"lognormal maximum likelihood ({how}, delta method)"
    return [
        Estimate(
            f"deal_size.{segment}.mean",
            mean,
            mean * se_log_mean,
            math.exp(log_mean - Z95 * se_log_mean),
            math.exp(log_mean + Z95 * se_log_mean),
            n,
            0,
            "currency",
            method,
            gof,
            "mean amount of the segment's opportunities",
        ),
        Estimate(
            f"deal_size.{segment}.cv",
            cv,
            se_cv,
            cv_of(sigma - Z95 * se_sigma),
            cv_of(sigma + Z95 * se_sigma),
            n,
            0,
            "",
            method,
            gof,
            "coefficient of variation of the amount",
        ),
    ]
