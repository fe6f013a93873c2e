"""Fit a scenario's parameters to a CRM export, each with its uncertainty.

What an opportunity export can tell, and how it is estimated (every value with a standard error,
a 95% interval, the number of records used and how many of them were censored):

* **Stage episodes.** With a stage history, every stage an opportunity *entered after it was
  created* is an episode: it ends when the next stage starts (``advance``), when the deal closes
  (``exit`` before the decision stage; ``won``/``lost``/``no_decision`` from it) or is still
  running at the export date (``open``: right-censored). The stage an opportunity was created in
  is left-truncated (the buyer was in it before we met them, for an unknown time) and is not used;
  so awareness, where nearly every opportunity starts, is not identified.
* **Dwell times** (interest, preference): a gamma fitted by maximum likelihood with survival terms
  for episodes that did not advance (closed in the stage, or still open): censored, not dropped.
  Lognormal and Weibull fits are reported for comparison (AIC), with a Kolmogorov-Smirnov distance
  between the Kaplan-Meier curve and the fitted distribution. The decision stage's dwell is the
  time from entering it to the close (any outcome), censored for open deals.
* **Stall hazard** (interest, preference): closes from the stage per week of exposure in it
  (exponential competing risk; exact Poisson interval on the exits over the design effect).
* **Conversion** (interest -> next, preference -> next) and the decision stage's outcome shares,
  the overall win rate and no-decision share: Aalen-Johansen cumulative incidence (competing
  events, open deals censored), with seeded block-bootstrap intervals.
* **Deal size** per segment: lognormal by maximum likelihood (robust standard errors, delta
  method for mean and cv); a gamma fit and KS tests are reported alongside.
* **Arrival rates** of opportunities per source and per segment (Poisson), and per calendar month
  (seasonal index, chi-square test of no seasonality).
* **Reps**: win rate per owner shrunk toward the team by a beta-binomial empirical Bayes fit, and
  the (log) cycle time of won deals shrunk by a normal-normal empirical Bayes fit.

Deals of one owner created in one calendar quarter form a block (:func:`block_codes`): the
intervals resample or sum whole blocks, so deals that share a rep's load and a season are not
counted as independent.

Mapping onto the scenario (:func:`fitted_scenario`): the dwell a CRM sees is the stage's
``mean_days`` times the segment's ``journey_scale`` times the buying-group multiplier
``(group/reference)^elasticity``; ``mean_days`` is the fitted mean divided by the mean of those
multipliers over the episodes (group sizes taken from the base scenario, since a CRM does not
record them), and ``cv`` is backed out of the mixture: ``1 + cv_obs^2 = (1 + cv^2) E[f^2]/E[f]^2``.
The stall hazard is divided likewise by the mean hazard multiplier. Deal sizes map one to one.
What the data cannot identify keeps the base scenario's value and is listed as such.

That mapping ignores which buyers become opportunities. :func:`calibrated_scenario` (what
``pipesim calibrate`` runs) therefore simulates the mapped scenario over the data's window and
corrects the stage values until the same fits on the simulated exports match the data's
(:func:`correct_selection`, indirect inference), then widens every interval to at least the
spread of its estimate across simulated histories (:func:`simulated_spread`): what a whole
history shares, no resampling inside it can see.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pipesim.calibrate.crm import CrmData, DataReport
from pipesim.scenario.edit import parse_path, set_value
from pipesim.scenario.schema import STAGES, Scenario

Z95 = float(stats.norm.ppf(0.975))
FITTED_STAGES: tuple[str, ...] = ("interest", "preference")
"""Stages whose dwell and stall hazard are fitted (entered after creation, left after it)."""
MIN_EPISODES = 10
"""Fewer episodes (or deals) than this and a value is reported as not identified."""
BOOTSTRAP = 200
"""Bootstrap resamples for Aalen-Johansen intervals."""
CLOSE_TIME_OF_DAY = 0.5
"""A close date is a day, not an instant: closes are taken at mid-day (days)."""
BLOCK_MONTHS = 3
"""Intervals treat the opportunities of one owner created in one calendar quarter as a block."""
MIN_BLOCKS = 10
"""With fewer blocks than this, intervals resample single records instead."""


@dataclass
class Estimate:
    """One fitted value with its uncertainty and where it goes in the scenario."""

    name: str
    value: float
    se: float
    low: float
    high: float
    n: int
    n_censored: int = 0
    unit: str = ""
    method: str = ""
    gof: dict[str, float] = field(default_factory=dict)
    note: str = ""
    widened: float = 1.0
    """Factor the interval was widened by to the spread across simulated histories."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (NaN as None)."""
        out = asdict(self)
        for key in ("value", "se", "low", "high"):
            if not math.isfinite(out[key]):
                out[key] = None
        out["gof"] = {k: (v if math.isfinite(v) else None) for k, v in self.gof.items()}
        return out


# --------------------------------------------------------------------------- episodes
def as_of_day(data: CrmData) -> pd.Timestamp:
    """Default export date: midnight after the latest date in the data."""
    opp = data.opportunities
    latest = max(opp["created"].max(), opp["close"].max(skipna=True))
    if data.history is not None and len(data.history):
        latest = max(latest, data.history["entered"].max())
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


def _days(t: pd.Series | pd.Timestamp, origin: pd.Timestamp) -> Any:
    return (t - origin) / pd.Timedelta(days=1)


def stage_episodes(data: CrmData, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per stage entered after creation: ``id, stage, days, event, segment, owner``.

    ``event`` is ``advance`` (the next stage started), ``exit`` (closed before the decision
    stage), ``won``/``lost``/``no_decision`` (closed from the decision stage) or ``open``
    (still in the stage at ``as_of``: right-censored). ``created`` (the opportunity's creation)
    is kept for grouping episodes into blocks.
    """
    cols = ["id", "stage", "days", "event", "segment", "owner", "created"]
    if data.history is None or not len(data.history):
        return pd.DataFrame(columns=cols)
    order = {s: i for i, s in enumerate(STAGES)}
    hist = data.history[["id", "stage", "entered"]]
    # the first entry of each stage, in the order the opportunities appear
    first = hist.drop_duplicates(["id", "stage"], keep="first").copy()
    first["rank"] = first["stage"].map(order)
    first["seq"] = pd.factorize(first["id"])[0]
    first = first.sort_values(["seq", "rank"], kind="stable").reset_index(drop=True)
    same_next = first["id"].shift(-1) == first["id"]
    next_entry = first["entered"].shift(-1).where(same_next)
    # stages out of order in time: that opportunity gives no clean episodes
    backwards = same_next & (next_entry < first["entered"])
    bad = set(first.loc[backwards, "id"])
    opp = data.opportunities.set_index("id")
    info = opp.loc[first["id"], ["created", "close", "outcome", "segment", "owner"]]
    info = info.reset_index(drop=True)
    closed = (info["outcome"] != "open").to_numpy()
    close = info["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY)
    keep = (
        ~first["id"].isin(bad).to_numpy()
        & (first["entered"] > info["created"]).to_numpy()
        & (first["rank"] > 0).to_numpy()
    )
    entered = first["entered"]
    end = next_entry.copy()
    event = pd.Series("advance", index=first.index, dtype=object)
    last = ~same_next.to_numpy()
    closing = last & closed
    end[closing] = np.maximum(close[closing], entered[closing])
    is_decision = (first["stage"] == "decision").to_numpy()
    event[closing & is_decision] = info.loc[closing & is_decision, "outcome"].astype(str)
    event[closing & ~is_decision] = "exit"
    still = last & ~closed
    end[still] = as_of
    event[still] = "open"
    days = np.maximum(_days(end, entered).to_numpy(float), 1e-3)
    out = pd.DataFrame(
        {
            "id": first["id"].to_numpy(),
            "stage": first["stage"].to_numpy(),
            "days": days,
            "event": event.to_numpy(),
            "segment": info["segment"].to_numpy(),
            "owner": info["owner"].to_numpy(),
            "created": info["created"].to_numpy(),
        }
    )
    return out[keep].reset_index(drop=True)


# --------------------------------------------------------------------------- survival fits
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


@dataclass
class SurvivalFit:
    """A censored maximum-likelihood fit of one family."""

    family: str
    params: np.ndarray  # on the optimiser's (log) scale
    cov: np.ndarray
    loglik: float
    aic: float
    ks: float


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


def block_codes(owner: pd.Series, created: pd.Series) -> np.ndarray:
    """Block of each record: its owner and the calendar quarter it was created in.

    Opportunities of one rep in one quarter share that rep's load, skill and the season; the
    intervals resample or sum over whole blocks so that they do not count such deals as
    independent.
    """
    months = created.dt.year.to_numpy() * 12 + created.dt.month.to_numpy() - 1
    period = months // BLOCK_MONTHS
    key = pd.Series(owner.astype(str).to_numpy()) + "|" + pd.Series(period).astype(str)
    return np.asarray(pd.factorize(key)[0])


def _usable_blocks(blocks: np.ndarray | None, n: int) -> np.ndarray:
    """``blocks`` when there are enough of them, else one block per record."""
    if blocks is None or len(np.unique(blocks)) < MIN_BLOCKS:
        return np.arange(n)
    return np.asarray(blocks)


def _block_cov(contrib: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Covariance of a sum of per-record contributions when blocks are independent.

    ``contrib`` is (records, k); the block totals are centred and scaled by G / (G - 1).
    """
    codes, inv = np.unique(blocks, return_inverse=True)
    g = len(codes)
    totals = np.zeros((g, contrib.shape[1]))
    np.add.at(totals, inv, contrib)
    totals -= totals.mean(axis=0)
    return np.asarray(totals.T @ totals) * g / max(g - 1, 1)


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
    narrow. Scores are summed within blocks (:func:`block_codes`) before the outer product.
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
    meat = _block_cov(scores, _usable_blocks(blocks, len(t)))
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


def _dwell_observed(stage: str, ep: pd.DataFrame) -> np.ndarray:
    """Episodes whose dwell ended (advanced; from the decision stage: closed)."""
    if stage == "decision":
        return np.asarray(ep["event"].isin(["won", "lost", "no_decision"]).to_numpy())
    return np.asarray((ep["event"] == "advance").to_numpy())


def dwell_estimates(
    stage: str, ep: pd.DataFrame, blocks: np.ndarray | None = None
) -> tuple[list[Estimate], SurvivalFit | None]:
    """Mean and cv of a stage's dwell (gamma, censored ML) from its episodes."""
    t = ep["days"].to_numpy(float)
    observed = _dwell_observed(stage, ep)
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
    by the design effect (the variance of the rate with blocks summed, :func:`block_codes`,
    over its Poisson variance; at least 1: exits are never taken as more regular than Poisson).
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
        var = _block_cov(
            ((is_exit - rate * exposure) / weeks)[:, None], _usable_blocks(blocks, len(ep))
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


# --------------------------------------------------------------------------- competing risks
def aalen_johansen(t: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    """Cumulative incidence at the last time of each of ``k`` competing events (code 1..k).

    ``code`` 0 is censored. Returns an array of ``k`` probabilities.
    """
    order = np.argsort(t, kind="stable")
    t, code = t[order], code[order]
    times, first = np.unique(t, return_index=True)
    n = len(t)
    at_risk = n - first
    counts = np.zeros((len(times), k + 1))
    idx = np.searchsorted(times, t)
    np.add.at(counts, (idx, code), 1)
    events = counts[:, 1:]
    total = events.sum(axis=1)
    surv_before = np.concatenate([[1.0], np.cumprod(1.0 - total / at_risk)[:-1]])
    return (surv_before[:, None] * events / at_risk[:, None]).sum(axis=0)


def competing_estimates(
    prefix: str,
    labels: Sequence[str],
    t: np.ndarray,
    code: np.ndarray,
    rng: np.random.Generator,
    notes: Sequence[str],
    blocks: np.ndarray | None = None,
) -> list[Estimate]:
    """Aalen-Johansen shares of each competing event with block-bootstrap intervals.

    Each resample draws whole blocks (:func:`block_codes`) with replacement.
    """
    n = len(t)
    if n < MIN_EPISODES:
        return []
    k = len(labels)
    point = aalen_johansen(t, code, k)
    codes, inv = np.unique(_usable_blocks(blocks, n), return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=len(codes)))])
    boot = np.empty((BOOTSTRAP, k))
    for b in range(BOOTSTRAP):
        chosen = rng.integers(0, len(codes), len(codes))
        if len(codes) == n:  # one record per block
            pick = order[chosen]
        else:
            pick = np.concatenate([order[bounds[g] : bounds[g + 1]] for g in chosen])
        boot[b] = aalen_johansen(t[pick], code[pick], k)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    se = boot.std(axis=0, ddof=1)
    censored = int((code == 0).sum())
    return [
        Estimate(
            f"{prefix}.{label}",
            float(point[j]),
            float(se[j]),
            float(lo[j]),
            float(hi[j]),
            n,
            censored,
            "share",
            "Aalen-Johansen cumulative incidence; percentile bootstrap of owner-quarter blocks "
            f"({BOOTSTRAP} resamples)",
            {},
            notes[j],
        )
        for j, label in enumerate(labels)
    ]


# --------------------------------------------------------------------------- deal sizes
def deal_size_estimates(
    segment: str, amounts: np.ndarray, blocks: np.ndarray | None = None
) -> list[Estimate]:
    """Lognormal mean and cv of a segment's deal amounts, gamma and KS alongside.

    Without ``blocks`` the errors come from the Fisher information; with them, from each
    amount's influence on the log mean and log sd, summed within blocks (:func:`block_codes`).
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
        cov = _block_cov(contrib, _usable_blocks(np.asarray(blocks)[usable], n))
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


# --------------------------------------------------------------------------- arrivals
def _poisson(name: str, count: int, weeks: float, note: str) -> Estimate:
    lo = stats.chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    hi = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    return Estimate(
        name,
        count / weeks,
        math.sqrt(max(count, 1)) / weeks,
        float(lo) / weeks,
        float(hi) / weeks,
        count,
        0,
        "per week",
        "Poisson count / exposure; exact interval",
        {},
        note,
    )


def arrival_estimates(opp: pd.DataFrame, as_of: pd.Timestamp) -> list[Estimate]:
    """Opportunities created per week: per source, per segment, per calendar month."""
    start = opp["created"].min().normalize()
    weeks = float(_days(as_of, start)) / 7.0
    out = []
    for src, count in opp["source"].value_counts().sort_index().items():
        out.append(_poisson(f"rate.source.{src}", int(count), weeks, f"{src} opportunities"))
    for seg, count in opp["segment"].value_counts().sort_index().items():
        out.append(_poisson(f"rate.segment.{seg}", int(count), weeks, f"{seg} opportunities"))
    # per calendar month: exposure = days of that month inside the window
    days = pd.date_range(start, as_of - pd.Timedelta(days=1), freq="D")
    exposure = pd.Series(1.0, index=days).groupby(days.month).sum() / 7.0
    counts = opp["created"].dt.month.value_counts().reindex(exposure.index, fill_value=0)
    total_rate = counts.sum() / exposure.sum()
    expected = exposure * total_rate
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p_season = float(stats.chi2.sf(chi2, max(len(counts) - 1, 1)))
    for month in exposure.index:
        est = _poisson(
            f"rate.month.{month:02d}",
            int(counts[month]),
            float(exposure[month]),
            f"opportunities per week in month {month} (seasonal index "
            f"{counts[month] / expected[month]:.2f})",
        )
        est.gof = {"chi2_no_seasonality": chi2, "p_no_seasonality": p_season}
        out.append(est)
    return out


# --------------------------------------------------------------------------- reps
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
    cyc = np.log(np.maximum(_days(won["close"], won["created"]).to_numpy(float) + 0.5, 0.5))
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


# --------------------------------------------------------------------------- all fits
@dataclass
class Fits:
    """Every estimate from one export, plus what could not be estimated."""

    estimates: dict[str, Estimate]
    reps: list[dict[str, Any]]
    team: dict[str, float]
    episodes: pd.DataFrame
    as_of: pd.Timestamp
    not_identified: dict[str, str]
    gamma: dict[str, SurvivalFit]


DECISION_EVENTS = {"won": 1, "lost": 2, "no_decision": 3}
"""Competing ends of the decision stage and their codes (0: still open)."""


def _competing_codes(stage: str, ep: pd.DataFrame) -> np.ndarray:
    """Competing-event codes of a stage's episodes (0: censored)."""
    events = {"advance": 1, "exit": 2} if stage in FITTED_STAGES else DECISION_EVENTS
    return np.asarray(ep["event"].map(events).fillna(0).to_numpy(int))


def _outcome_times(opp: pd.DataFrame, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Days from creation to the close (or to ``as_of``, censored) and the outcome codes."""
    closes = opp["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY)
    end = closes.where(opp["outcome"] != "open", as_of)
    t_all = np.maximum(_days(end, opp["created"]).to_numpy(float), 1e-3)
    code = opp["outcome"].map({"won": 1, "lost": 2, "no_decision": 3, "open": 0})
    return t_all, np.asarray(code.to_numpy(int))


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
        t, code = sub["days"].to_numpy(float), _competing_codes(stage, sub)
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
    t_all, code_all = _outcome_times(opp, as_of)
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


def observables(data: CrmData, as_of: pd.Timestamp) -> dict[str, tuple[float, int]]:
    """The point values of the fits :func:`fit_all` reports with intervals, and their counts.

    ``name -> (value, records used)`` for the dwell mean and cv, stall rate, conversion and
    decision shares of each stage, the outcome shares and the deal sizes: the same estimators
    without intervals, fast enough to run on many simulated histories.
    """
    out: dict[str, tuple[float, int]] = {}
    ep = stage_episodes(data, as_of)
    for stage in (*FITTED_STAGES, "decision"):
        sub = ep[ep["stage"] == stage]
        t = sub["days"].to_numpy(float)
        observed = _dwell_observed(stage, sub)
        n = len(t)
        if int(observed.sum()) >= MIN_EPISODES:
            log_k, log_theta = fit_censored(t, observed, "gamma", point_only=True).params
            out[f"dwell.{stage}.mean_days"] = (math.exp(log_k + log_theta), n)
            out[f"dwell.{stage}.cv"] = (math.exp(-0.5 * log_k), n)
        if n < MIN_EPISODES:
            continue
        code = _competing_codes(stage, sub)
        if stage in FITTED_STAGES:
            exits = float((sub["event"] == "exit").sum())
            out[f"stall.{stage}.per_week"] = (exits / (float(t.sum()) / 7.0), n)
            labels = [f"conversion.{stage}.next", f"conversion.{stage}.no_decision"]
        else:
            labels = [f"decision.{o}" for o in DECISION_EVENTS]
        for label, value in zip(labels, aalen_johansen(t, code, len(labels)), strict=True):
            out[label] = (float(value), n)
    opp = data.opportunities
    t_all, code_all = _outcome_times(opp, as_of)
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


# --------------------------------------------------------------------------- onto a scenario
@dataclass
class Applied:
    """A scenario value set from the data."""

    path: str
    value: float
    base_value: float | None
    estimate: str
    sd: float
    distribution: str  # "normal" or "lognormal" (sd of the log)
    how: str
    uncorrected: float | None = None
    """The value before the selection correction (None: not corrected)."""
    low: float = field(init=False)
    high: float = field(init=False)

    def __post_init__(self) -> None:
        """The 95% interval the uncertainty block implies (normal truncated at zero)."""
        if not math.isfinite(self.sd):
            self.low = self.high = math.nan
        elif self.distribution == "lognormal":
            self.low = self.value * math.exp(-Z95 * self.sd)
            self.high = self.value * math.exp(Z95 * self.sd)
        else:
            self.low = max(self.value - Z95 * self.sd, 0.0)
            self.high = self.value + Z95 * self.sd

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (NaN as None)."""
        out = asdict(self)
        for key in ("sd", "low", "high"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


def _group_moments(base: Scenario, segment: str) -> tuple[float, float, float]:
    """E[f], E[f^2] of the dwell multiplier and E[h] of the hazard multiplier for a segment.

    ``f = journey_scale * (g / reference)^dwell_elasticity`` and ``h = (g / reference)^
    hazard_elasticity`` with the buying group ``g = 1 + Poisson(buying_group_mean - 1)`` as the
    engine draws it.
    """
    from pipesim.scenario.schema import Segment

    seg = base.segments.get(segment, Segment())
    jr = base.journey
    lam = max(seg.buying_group_mean - 1.0, 0.0)
    k = np.arange(0, int(lam + 12 * math.sqrt(lam + 1) + 20))
    pmf = stats.poisson.pmf(k, lam)
    rel = (1.0 + k) / jr.reference_group_size
    f = seg.journey_scale * rel**jr.group_dwell_elasticity
    h = rel**jr.group_hazard_elasticity
    return float(pmf @ f), float(pmf @ f**2), float(pmf @ h)


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@dataclass
class Calibration:
    """A fitted scenario, what set each value, and what was kept from the base."""

    scenario: Scenario
    applied: list[Applied]
    kept: dict[str, str]
    fits: Fits
    uncertainty: dict[str, dict[str, Any]]
    simulation: dict[str, Any] | None = None
    """The selection correction and the simulated spread of each estimate (None: not run)."""


def uncertainty_block(applied: Sequence[Applied]) -> dict[str, dict[str, Any]]:
    """The ``uncertainty:`` block: dotted path -> ``{sd}`` or ``{sd, distribution: lognormal}``."""
    block: dict[str, dict[str, Any]] = {}
    for a in applied:
        if not math.isfinite(a.sd):
            continue
        entry: dict[str, Any] = {"sd": float(a.sd)}
        if a.distribution == "lognormal":
            entry["distribution"] = "lognormal"
        block[a.path] = entry
    return block


def uncertainty_path_errors(scenario: Scenario, block: dict[str, Any]) -> list[str]:
    """Paths of an uncertainty block that do not lead to a numeric field of the scenario."""
    from pydantic import BaseModel

    errors = []
    for path in block:
        node: Any = scenario
        ok = True
        for part in path.split("."):
            if isinstance(node, BaseModel) and part in type(node).model_fields:
                node = getattr(node, part)
            elif isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                ok = False
                break
        if not ok:
            errors.append(f"{path}: does not resolve in the scenario")
        elif isinstance(node, bool) or not isinstance(node, int | float):
            errors.append(f"{path}: is not a numeric parameter (got {type(node).__name__})")
    return errors


def default_base(data: CrmData, fits: Fits, name: str) -> Scenario:
    """The built-in defaults with the data's segments, starting at the export date.

    The target is the bookings of the data's last 52 weeks.
    """
    from pipesim.scenario.schema import Segment, Target

    opp = data.opportunities
    won = opp[(opp["outcome"] == "won") & (opp["close"] > fits.as_of - pd.Timedelta(weeks=52))]
    revenue = float(won["amount"].sum()) or float(opp["amount"].sum()) or 1.0
    segments = {str(s): Segment() for s in sorted(opp["segment"].unique())}
    return Scenario(
        name=name,
        description="Calibrated from a CRM export (pipesim calibrate).",
        target=Target(revenue=revenue, start_date=fits.as_of.date()),
        segments=segments,
    )


def fitted_scenario(
    data: CrmData,
    fits: Fits,
    base: Scenario,
    name: str,
    source: str = "calibration",
    correction: Correction | None = None,
) -> Calibration:
    """Map the fits onto ``base``: a complete, validated scenario and an account of each value.

    Without ``correction`` the stage values are the fitted ones divided by the journey-scale and
    buying-group multipliers (the mapping below); with it, the values
    :func:`correct_selection` found, their sds scaled to the corrected value and widened for
    the simulation's own noise.
    """
    from pipesim.scenario.loader import validate
    from pipesim.scenario.schema import Segment

    raw = base.model_dump(mode="json")
    raw["name"] = name
    est = fits.estimates
    applied: list[Applied] = []
    kept: dict[str, str] = {}

    def apply(path: str, value: float, estimate: str, sd: float, dist: str, how: str) -> None:
        if correction is not None and path in correction.values:
            value, sd, how, before = correction.adjust(path, value, sd, dist, how)
            applied.append(Applied(path, value, _get(raw, path), estimate, sd, dist, how, before))
        else:
            applied.append(Applied(path, value, _get(raw, path), estimate, sd, dist, how))
        set_value(raw, parse_path(path), value)

    # segments found in the data but not in the base come in with default parameters
    for seg in sorted(fits_segments(data)):
        if seg not in raw["segments"]:
            raw["segments"][seg] = Segment().model_dump(mode="json")
            kept[f"segments.{seg}"] = "not in the base scenario: added with default parameters"
    for seg in raw["segments"]:
        if seg not in fits_segments(data):
            kept[f"segments.{seg}"] = "no opportunities of this segment in the data: base kept"

    ep = fits.episodes
    for stage in (*FITTED_STAGES, "decision"):
        mean_e, cv_e = est.get(f"dwell.{stage}.mean_days"), est.get(f"dwell.{stage}.cv")
        if mean_e is None or cv_e is None:
            kept[f"journey.{stage}.mean_days"] = "not enough stage episodes: base kept"
            kept[f"journey.{stage}.cv"] = "not enough stage episodes: base kept"
            continue
        segs = ep.loc[ep["stage"] == stage, "segment"].astype(str)
        moments = {s: _group_moments(base, s) for s in segs.unique()}
        ef = float(np.mean([moments[s][0] for s in segs]))
        ef2 = float(np.mean([moments[s][1] for s in segs]))
        eh = float(np.mean([moments[s][2] for s in segs]))
        ratio = ef * ef / ef2
        mean_days = mean_e.value / ef
        cv2 = (1 + cv_e.value**2) * ratio - 1
        cv = math.sqrt(max(cv2, 0.01))
        sd_cv = cv_e.se * cv_e.value * ratio / cv
        extra = (
            " (the time to the close, including indecision exits)" if stage == "decision" else ""
        )
        apply(
            f"journey.{stage}.mean_days",
            round(mean_days, 3),
            mean_e.name,
            mean_e.se / mean_e.value,
            "lognormal",
            f"fitted mean dwell{extra} / mean multiplier {ef:.3f} (journey_scale x buying-group "
            "factor of the base scenario, averaged over the episodes)",
        )
        apply(
            f"journey.{stage}.cv",
            round(cv, 4),
            cv_e.name,
            sd_cv,
            "normal",
            f"mixture-corrected: 1 + cv^2 = (1 + {cv_e.value:.3f}^2) x E[f^2]/E[f]^2 "
            f"({1 / ratio:.3f})",
        )
        stall = est.get(f"stall.{stage}.per_week")
        if stage == "decision":
            kept["journey.decision.stall_hazard_per_week"] = (
                "not identified: a no-decision from the decision stage can be indecision or the "
                "status quo winning at the decision: base kept"
            )
        elif stall is not None:
            apply(
                f"journey.{stage}.stall_hazard_per_week",
                round(stall.value / eh, 6),
                stall.name,
                stall.se / eh,
                "normal",
                f"closes per week in the stage / mean buying-group hazard multiplier {eh:.3f}",
            )
    kept["journey.awareness"] = (
        "not identified: opportunities are created during awareness, after it began "
        "(left-truncated): base kept"
    )
    for seg in sorted(fits_segments(data)):
        m, c = est.get(f"deal_size.{seg}.mean"), est.get(f"deal_size.{seg}.cv")
        if m is None or c is None:
            kept[f"segments.{seg}.deal_size"] = f"fewer than {MIN_EPISODES} amounts: base kept"
            continue
        apply(
            f"segments.{seg}.deal_size.mean",
            round(m.value, 2),
            m.name,
            m.se / m.value,
            "lognormal",
            "lognormal fit of the segment's opportunity amounts",
        )
        apply(
            f"segments.{seg}.deal_size.cv",
            round(c.value, 4),
            c.name,
            c.se,
            "normal",
            "lognormal fit of the segment's opportunity amounts",
        )
    # the team: the owners who opened opportunities in the last quarter of the data
    opp = data.opportunities
    recent = opp[opp["created"] > fits.as_of - pd.Timedelta(days=91)]
    owners = sorted(set(recent["owner"]) - {"unknown"})
    if owners:
        raw["reps"]["members"] = [{"name": o} for o in owners]
        kept["reps.members"] = (
            f"names set to the {len(owners)} owners with opportunities created in the last 91 "
            "days; skill is not mapped (win rates per owner are in the report), so each is "
            "drawn from reps.skill_mean / skill_sd"
        )
    for path, why in (
        (
            "segments.*.buyers_per_week, inbound_share, campaigns, leads",
            "lead flows: an "
            "opportunity export holds no disqualified or uncaptured leads, so the flow of buyers "
            "and leads behind the opportunities is not identified (opportunity rates per source, "
            "segment and month are in the report): base kept",
        ),
        (
            "segments.*.journey_scale",
            "not separated from the stage means (one pooled fit per "
            "stage): base kept and used to convert the fitted dwell",
        ),
        (
            "choice, qualification, engagement, flanking",
            "model mechanisms behind the win rate "
            "and no-decision share (fitted and reported), not separately identified: base kept",
        ),
    ):
        kept[path] = why
    block = uncertainty_block(applied)
    if "uncertainty" in Scenario.model_fields:
        raw["uncertainty"] = block
    scenario = validate(raw, source)
    problems = uncertainty_path_errors(scenario, block)
    if problems:
        raise ValueError("uncertainty block does not fit the scenario: " + "; ".join(problems))
    return Calibration(scenario, applied, kept, fits, block)


def fits_segments(data: CrmData) -> set[str]:
    """Segments that have opportunities in the data."""
    return {str(s) for s in data.opportunities["segment"].unique()}


# --------------------------------------------------------------------------- simulation
SIM_VOLUME = 10
"""Simulated opportunities per opportunity in the data when correcting for selection."""
MAX_HISTORIES = 200
"""At most this many simulated histories per step of the correction."""
SIM_HISTORIES = 40
"""Simulated histories of the data's window behind the spread of each estimate."""
MAX_ITERATIONS = 8
"""Steps of the selection correction at most."""
TOLERANCE = 0.5
"""The correction stops when every simulated value is within this many standard errors of the
data's (the simulation's own noise is about a third of a standard error at ``SIM_VOLUME``)."""
_SPREAD_FIRST = 1000
"""Replication index of the first spread history (the correction's histories come before)."""
_ROUNDING = {"mean_days": 3, "cv": 4, "stall_hazard_per_week": 6}
"""Decimals a corrected stage value is written with (as the uncorrected mapping does)."""


class CorrectionError(Exception):
    """The scenario cannot be simulated into histories that show what the data shows."""


def _observable(path: str) -> str:
    """The fitted value a journey parameter is corrected against."""
    _, stage, param = path.split(".")
    return (
        f"stall.{stage}.per_week" if param == "stall_hazard_per_week" else f"dwell.{stage}.{param}"
    )


def _is_share(name: str) -> bool:
    return name.split(".")[0] in ("conversion", "decision", "outcome")


def data_window(data: CrmData, as_of: pd.Timestamp) -> tuple[pd.Timestamp, float]:
    """The export's window: midnight of its first creation date, and its length in days."""
    start = pd.Timestamp(data.opportunities["created"].min()).normalize()
    return start, float(_days(as_of, start))


def window_scenario(
    scenario: Scenario, start: pd.Timestamp, days: float, values: dict[str, float] | None = None
) -> Scenario:
    """``scenario`` over the data's window, ``values`` set, one team in every history.

    The window starts empty (no open pipeline). Named reps without a skill or qualification
    noise get the team's means: the data's history had one team, so the simulated histories
    hold it fixed instead of drawing a new team each time (backfills are still drawn).
    """
    from pipesim.scenario.loader import validate

    raw = scenario.model_dump(mode="json")
    for path, value in (values or {}).items():
        set_value(raw, parse_path(path), value)
    reps = raw["reps"]
    for member in reps.get("members") or []:
        if member.get("skill") is None:
            member["skill"] = reps["skill_mean"]
        if member.get("qualification_noise") is None:
            member["qualification_noise"] = reps["qualification_noise_mean"]
    raw["target"]["start_date"] = start.date().isoformat()
    raw["target"]["horizon_weeks"] = days / 7.0
    raw["open_pipeline"] = []
    if "uncertainty" in raw:
        raw["uncertainty"] = {}
    return validate(raw, "simulated history")


@dataclass
class Correction:
    """The selection correction of the stage values: what was simulated and what it gave."""

    values: dict[str, float]
    """Scenario path -> corrected value."""
    uncorrected: dict[str, float]
    target: dict[str, float]
    """Fitted value -> its value in the data."""
    simulated: dict[str, float]
    """Fitted value -> the same fit on the histories simulated at the corrected values."""
    gap_se: dict[str, float]
    records: dict[str, tuple[int, int]]
    """Fitted value -> (records in the data, records in the pooled simulated histories)."""
    histories: int
    iterations: list[dict[str, Any]]
    converged: bool
    window_start: str
    window_days: float
    seed: int

    def adjust(
        self, path: str, value: float, sd: float, dist: str, how: str
    ) -> tuple[float, float, str, float]:
        """Corrected value, sd, description and the uncorrected value of a scenario path.

        The sd of the uncorrected mapping is carried over in proportion (lognormal: unchanged;
        stall hazard: scaled with the value; cv: through ``1 + cv^2`` moving with
        ``1 + cv_obs^2``) and widened by the simulation's own noise, whose variance is the
        data's times the ratio of records in the data to records simulated, and by the gap left
        between the simulated and the data's value (in standard errors).
        """
        new = self.values[path]
        obs = _observable(path)
        n_data, n_sim = self.records.get(obs, (0, 0))
        gap = self.gap_se.get(obs, 0.0)
        noise = math.sqrt(1.0 + (n_data / n_sim if n_sim else 0.0) + gap * gap)
        if dist == "lognormal":
            new_sd = sd * noise
        elif path.endswith(".cv"):

            def slope(c: float) -> float:
                return (1.0 + c * c) / c

            new_sd = sd * slope(new) / slope(value) * noise if value > 0 else sd * noise
        else:
            new_sd = sd * (new / value if value > 0 else 1.0) * noise
        text = (
            f"selection-corrected: {self.histories} histories of the data's window simulated "
            f"until their {obs} matched the data's; uncorrected {value:.4g} = {how}"
        )
        return new, new_sd, text, value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        rows = [
            {
                "path": path,
                "uncorrected": self.uncorrected[path],
                "corrected": value,
                "fitted": _observable(path),
                "data": self.target.get(_observable(path)),
                "simulated": self.simulated.get(_observable(path)),
                "gap_se": self.gap_se.get(_observable(path)),
            }
            for path, value in self.values.items()
        ]
        return {
            "method": (
                "indirect inference: the scenario is simulated over the data's window, the same "
                "fits run on the simulated histories, and each stage value is scaled until the "
                "simulated fit matches the data's"
            ),
            "seed": self.seed,
            "window_start": self.window_start,
            "window_days": self.window_days,
            "histories": self.histories,
            "converged": self.converged,
            "tolerance_se": TOLERANCE,
            "values": rows,
            "iterations": self.iterations,
        }


def _step(path: str, theta: float, target: float, sim: float) -> float:
    """One fixed-point step: scale the parameter by the data / simulation ratio.

    ``cv`` moves ``1 + cv^2`` with ``1 + cv_obs^2`` (the mixture identity); a step is at most a
    factor of three.
    """
    if path.endswith(".cv"):
        ratio = (1.0 + target**2) / (1.0 + sim**2)
        return math.sqrt(max((1.0 + theta**2) * min(max(ratio, 1 / 3), 3.0) - 1.0, 1e-4))
    if target <= 0:
        return 0.0
    ratio = target / sim if sim > 0 else 3.0
    return theta * min(max(ratio, 1 / 3), 3.0)


def correct_selection(cal: Calibration, data: CrmData, seed: int = 0) -> Correction:
    """Correct the journey's stage values for which buyers become opportunities.

    The uncorrected mapping divides each fitted dwell and stall rate by the journey-scale and
    buying-group multipliers, but a CRM sees a selected group: buyers engaged before the stage
    began, who survived to it, over a finite window. So the fitted scenario is simulated over
    the data's window (the same start, the same length; enough histories for ``SIM_VOLUME``
    simulated opportunities per opportunity in the data, seeds from ``seed``), the same fits
    run on the pooled simulated exports, and each stage value scaled by data / simulation until
    every simulated value is within ``TOLERANCE`` standard errors of the data's (at most
    ``MAX_ITERATIONS`` steps; the closest step is kept otherwise). Common random numbers (the
    same seeds every step) make the steps deterministic.
    """
    from pipesim.calibrate.synthetic import simulated_histories
    from pipesim.scenario.rng import replication_seeds

    est = cal.fits.estimates
    paths = [a.path for a in cal.applied if a.path.startswith("journey.")]
    paths = [p for p in paths if _observable(p) in est]
    if not paths:
        raise CorrectionError("no stage value was fitted")
    start, days = data_window(data, cal.fits.as_of)
    as_of = start + pd.Timedelta(days=days)
    theta = {p: float(_get(cal.scenario.model_dump(mode="json"), p)) for p in paths}
    uncorrected = dict(theta)
    target = {_observable(p): est[_observable(p)].value for p in paths}
    rel_se = {o: est[o].se / est[o].value if est[o].value > 0 else math.inf for o in target}
    n_data = {o: est[o].n for o in target}
    probe = simulated_histories(window_scenario(cal.scenario, start, days, theta), [seed])
    per_history = len(probe[0].opportunities)
    if per_history == 0:
        raise CorrectionError(
            "the scenario's simulated histories hold no opportunities (check its lead flows)"
        )
    histories = min(
        max(math.ceil(SIM_VOLUME * len(data.opportunities) / per_history), 2), MAX_HISTORIES
    )
    seeds = replication_seeds(seed, histories)
    iterations: list[dict[str, Any]] = []
    best: tuple[float, dict[str, float], dict[str, tuple[float, int]], dict[str, float]] | None
    best = None
    converged = False
    for step in range(1, MAX_ITERATIONS + 1):
        sc = window_scenario(cal.scenario, start, days, theta)
        pooled = pool_crm(simulated_histories(sc, seeds))
        sim = observables(pooled, as_of)
        gaps = {
            o: math.log(target[o] / sim[o][0]) / rel_se[o]
            for o in target
            if o in sim and target[o] > 0 and sim[o][0] > 0 and math.isfinite(rel_se[o])
        }
        worst = max((abs(g) for g in gaps.values()), default=0.0)
        iterations.append(
            {
                "iteration": step,
                "values": dict(theta),
                "simulated": {o: sim[o][0] for o in target if o in sim},
                "max_gap_se": worst,
            }
        )
        if best is None or worst < best[0]:
            best = (worst, dict(theta), sim, gaps)
        if worst <= TOLERANCE:
            converged = True
            break
        theta = {
            p: _step(p, theta[p], target[_observable(p)], sim[_observable(p)][0])
            if _observable(p) in sim
            else theta[p]
            for p in paths
        }
        theta = {p: round(v, _ROUNDING[p.split(".")[-1]]) for p, v in theta.items()}
    assert best is not None
    _, values, sim, gaps = best
    return Correction(
        values=values,
        uncorrected=uncorrected,
        target=target,
        simulated={o: sim[o][0] for o in target if o in sim},
        gap_se=gaps,
        records={o: (n_data[o], sim[o][1] if o in sim else 0) for o in target},
        histories=histories,
        iterations=iterations,
        converged=converged,
        window_start=start.date().isoformat(),
        window_days=days,
        seed=seed,
    )


def simulated_spread(
    scenario: Scenario, data: CrmData, fits: Fits, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """How much each estimate varies between independent histories like the data's.

    ``SIM_HISTORIES`` histories of the data's window are simulated from ``scenario`` (seeds from
    ``seed``, apart from the correction's) and the fits run on each. The standard deviation of
    an estimate across them, scaled to the data's number of records (``x sqrt(n_sim / n)``),
    is set beside the data's own standard error (relative for dwell, stall and deal size, on
    the share scale for shares): the larger of the two makes the interval. What the histories
    share (rep load, the lead mix, the start of the history, the season) moves all their deals
    together, which no resampling within one history can see.
    """
    from pipesim.calibrate.synthetic import simulated_histories
    from pipesim.scenario.rng import replication_seeds

    start, days = data_window(data, fits.as_of)
    as_of = start + pd.Timedelta(days=days)
    sc = window_scenario(scenario, start, days)
    seeds = replication_seeds(seed, SIM_HISTORIES, start=_SPREAD_FIRST)
    seen: dict[str, list[tuple[float, int]]] = {}
    for history in simulated_histories(sc, seeds):
        for name, value in observables(history, as_of).items():
            seen.setdefault(name, []).append(value)
    out: dict[str, dict[str, Any]] = {}
    for name, e in fits.estimates.items():
        pairs = seen.get(name, [])
        if len(pairs) < 3 or not math.isfinite(e.se) or e.n < 1:
            continue
        v = np.array([p[0] for p in pairs])
        n = np.array([p[1] for p in pairs], float)
        share = _is_share(name)
        spread = float(v.std(ddof=1)) if share else float(v.std(ddof=1) / max(v.mean(), 1e-300))
        data_sd = e.se if share else (e.se / e.value if e.value > 0 else math.inf)
        scaled = spread * math.sqrt(float(n.mean()) / e.n)
        factor = max(1.0, scaled / data_sd) if data_sd > 0 and math.isfinite(data_sd) else 1.0
        out[name] = {
            "data": e.value,
            "simulated_mean": float(v.mean()),
            "data_se": data_sd,
            "simulated_sd": scaled,
            "scale": "share" if share else "relative",
            "widened": factor,
            "histories": len(v),
        }
    return out


def widen(fits: Fits, spread: dict[str, dict[str, Any]]) -> Fits:
    """The fits with each interval widened by its ``spread`` factor (about the estimate)."""
    import dataclasses

    estimates = dict(fits.estimates)
    for name, row in spread.items():
        f = float(row["widened"])
        if f <= 1.0:
            continue
        e = estimates[name]
        v = e.value
        if row["scale"] == "share":
            low, high = max(v - f * (v - e.low), 0.0), min(v + f * (e.high - v), 1.0)
        else:
            low = v * (e.low / v) ** f if e.low > 0 and v > 0 else e.low
            high = v * (e.high / v) ** f if v > 0 else e.high
        estimates[name] = dataclasses.replace(
            e,
            se=e.se * f,
            low=low,
            high=high,
            widened=f,
            method=f"{e.method}; widened x{f:.2f} to the spread across {row['histories']} "
            "simulated histories",
        )
    return dataclasses.replace(fits, estimates=estimates)


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
    are corrected for selection (:func:`correct_selection`), every interval is widened to at
    least the spread across simulated histories (:func:`simulated_spread`), and the mapping is
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
        "spread": {
            "histories": SIM_HISTORIES,
            "method": (
                "the standard deviation of each fit across independent simulated histories of "
                "the data's window, scaled to the data's records; the interval is widened "
                "where it exceeds the data's own standard error"
            ),
            "values": spread,
        },
    }
    return out
