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
  (exponential competing risk; Poisson standard error).
* **Conversion** (interest -> next, preference -> next) and the decision stage's outcome shares,
  the overall win rate and no-decision share: Aalen-Johansen cumulative incidence (competing
  events, open deals censored), with seeded bootstrap intervals.
* **Deal size** per segment: lognormal by maximum likelihood (Fisher-information standard errors,
  delta method for mean and cv); a gamma fit and KS tests are reported alongside.
* **Arrival rates** of opportunities per source and per segment (Poisson), and per calendar month
  (seasonal index, chi-square test of no seasonality).
* **Reps**: win rate per owner shrunk toward the team by a beta-binomial empirical Bayes fit, and
  the (log) cycle time of won deals shrunk by a normal-normal empirical Bayes fit.

Mapping onto the scenario (:func:`fitted_scenario`): the dwell a CRM sees is the stage's
``mean_days`` times the segment's ``journey_scale`` times the buying-group multiplier
``(group/reference)^elasticity``; ``mean_days`` is the fitted mean divided by the mean of those
multipliers over the episodes (group sizes taken from the base scenario, since a CRM does not
record them), and ``cv`` is backed out of the mixture: ``1 + cv_obs^2 = (1 + cv^2) E[f^2]/E[f]^2``.
The stall hazard is divided likewise by the mean hazard multiplier. Deal sizes map one to one.
What the data cannot identify keeps the base scenario's value and is listed as such.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pipesim.calibrate.crm import CrmData
from pipesim.config import STAGES, Scenario

Z95 = float(stats.norm.ppf(0.975))
FITTED_STAGES: tuple[str, ...] = ("interest", "preference")
"""Stages whose dwell and stall hazard are fitted (entered after creation, left after it)."""
MIN_EPISODES = 10
"""Fewer episodes (or deals) than this and a value is reported as not identified."""
BOOTSTRAP = 200
"""Bootstrap resamples for Aalen-Johansen intervals."""
CLOSE_TIME_OF_DAY = 0.5
"""A close date is a day, not an instant: closes are taken at mid-day (days)."""


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
    (still in the stage at ``as_of``: right-censored).
    """
    cols = ["id", "stage", "days", "event", "segment", "owner"]
    if data.history is None or not len(data.history):
        return pd.DataFrame(columns=cols)
    opp = data.opportunities.set_index("id")
    order = {s: i for i, s in enumerate(STAGES)}
    rows = []
    for opp_id, group in data.history.groupby("id", sort=False):
        info = opp.loc[opp_id]
        first: dict[str, pd.Timestamp] = {}
        for stage, entered in zip(group["stage"], group["entered"], strict=True):
            first.setdefault(stage, entered)
        path = sorted(first.items(), key=lambda kv: order[kv[0]])
        times = [t for _, t in path]
        if any(b < a for a, b in itertools.pairwise(times)):
            continue  # stages out of order: no clean episodes
        created = info["created"]
        closed = info["outcome"] != "open"
        close = info["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY) if closed else as_of
        for k, (stage, entered) in enumerate(path):
            if entered <= created or order[stage] == 0:
                continue  # the stage at creation: left-truncated
            if k + 1 < len(path):
                end, event = path[k + 1][1], "advance"
            elif closed:
                end = max(close, entered)
                event = str(info["outcome"]) if stage == "decision" else "exit"
            else:
                end, event = as_of, "open"
            rows.append(
                (
                    opp_id,
                    stage,
                    max(_days(end, entered), 1e-3),
                    event,
                    info["segment"],
                    info["owner"],
                )
            )
    return pd.DataFrame(rows, columns=cols)


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
    make: Callable[[np.ndarray], Any],
    x: np.ndarray,
    hess: np.ndarray,
    t: np.ndarray,
    observed: np.ndarray,
) -> np.ndarray:
    """Robust covariance H^-1 J H^-1 (J: outer product of per-record scores).

    Stage dwells are a mixture over segments and buying groups, so no single gamma is the true
    model; the sandwich keeps the interval honest where the Fisher information alone is too
    narrow.
    """

    def per_record(p: np.ndarray) -> np.ndarray:
        dist = make(p)
        return np.where(observed, dist.logpdf(t), dist.logsf(t))

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
    return np.asarray(bread @ (scores.T @ scores) @ bread)


def fit_censored(t: np.ndarray, observed: np.ndarray, family: str = "gamma") -> SurvivalFit:
    """Maximum-likelihood fit with right-censoring: log f for events, log S for censored."""
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
        dist = make(p)
        ll = dist.logpdf(t[observed]).sum() + dist.logsf(t[~observed]).sum()
        return float(-ll) if np.isfinite(ll) else 1e12

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
        )
        hess = _hessian(nll, res.x)
    cov = _sandwich(make, res.x, hess, t, observed)
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


def dwell_estimates(stage: str, ep: pd.DataFrame) -> tuple[list[Estimate], SurvivalFit | None]:
    """Mean and cv of a stage's dwell (gamma, censored ML) from its episodes."""
    t = ep["days"].to_numpy(float)
    if stage == "decision":
        observed = ep["event"].isin(["won", "lost", "no_decision"]).to_numpy()
    else:
        observed = (ep["event"] == "advance").to_numpy()
    n, n_obs = len(t), int(observed.sum())
    if n_obs < MIN_EPISODES:
        return [], None
    fits = {fam: fit_censored(t, observed, fam) for fam in _FAMILIES}
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
        "gamma, censored maximum likelihood; interval on the log scale (robust sandwich covariance)"
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


def stall_estimate(stage: str, ep: pd.DataFrame) -> Estimate | None:
    """Closes from a stage per week of exposure in it (exponential, Poisson errors)."""
    if len(ep) < MIN_EPISODES:
        return None
    exits = int((ep["event"] == "exit").sum())
    weeks = float(ep["days"].sum()) / 7.0
    rate = exits / weeks
    se = math.sqrt(max(exits, 1)) / weeks
    lo, hi = (
        stats.chi2.ppf(0.025, 2 * exits) / 2 / weeks if exits else 0.0,
        (stats.chi2.ppf(0.975, 2 * exits + 2) / 2 / weeks),
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
        "exits / exposure (exponential competing risk); exact Poisson interval",
        {},
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
) -> list[Estimate]:
    """Aalen-Johansen shares of each competing event with percentile-bootstrap intervals."""
    n = len(t)
    if n < MIN_EPISODES:
        return []
    k = len(labels)
    point = aalen_johansen(t, code, k)
    boot = np.empty((BOOTSTRAP, k))
    for b in range(BOOTSTRAP):
        pick = rng.integers(0, n, n)
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
            f"Aalen-Johansen cumulative incidence; percentile bootstrap ({BOOTSTRAP} resamples)",
            {},
            notes[j],
        )
        for j, label in enumerate(labels)
    ]


# --------------------------------------------------------------------------- deal sizes
def deal_size_estimates(segment: str, amounts: np.ndarray) -> list[Estimate]:
    """Lognormal mean and cv of a segment's deal amounts, gamma and KS alongside."""
    x = amounts[np.isfinite(amounts) & (amounts > 0)]
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
    # Fisher information: se(mu) = sigma/sqrt(n), se(sigma) = sigma/sqrt(2n), independent
    log_mean = mu + sigma**2 / 2
    se_log_mean = math.sqrt(sigma**2 / n + sigma**4 / (2 * n))
    mean = math.exp(log_mean)
    se_sigma = sigma / math.sqrt(2 * n)

    def cv_of(s: float) -> float:
        return math.sqrt(math.expm1(max(s, 0.0) ** 2))

    cv = cv_of(sigma)
    se_cv = sigma * math.exp(sigma**2) / cv * se_sigma if cv > 0 else math.nan
    method = "lognormal maximum likelihood (Fisher information, delta method)"
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


def fit_all(data: CrmData, seed: int = 0, as_of: pd.Timestamp | None = None) -> Fits:
    """Run every fit on a normalised export. ``seed`` drives the bootstraps."""
    as_of = as_of if as_of is not None else as_of_day(data)
    rng = np.random.default_rng(seed)
    opp = data.opportunities
    est: list[Estimate] = []
    missing: dict[str, str] = {}
    gammas: dict[str, SurvivalFit] = {}
    ep = stage_episodes(data, as_of)
    if data.history is None:
        missing["stages"] = "no stage history given (--history): dwell, stall and conversion"
    for stage in (*FITTED_STAGES, "decision"):
        sub = ep[ep["stage"] == stage]
        dwell, g = dwell_estimates(stage, sub)
        est += dwell
        if g is not None:
            gammas[stage] = g
        elif data.history is not None:
            missing[f"dwell.{stage}"] = f"fewer than {MIN_EPISODES} episodes entered after creation"
        if stage in FITTED_STAGES:
            stall = stall_estimate(stage, sub)
            if stall is not None:
                est.append(stall)
            t = sub["days"].to_numpy(float)
            code = sub["event"].map({"advance": 1, "exit": 2}).fillna(0).to_numpy(int)
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
            )
        else:
            t = sub["days"].to_numpy(float)
            code = sub["event"].map({"won": 1, "lost": 2, "no_decision": 3}).fillna(0)
            est += competing_estimates(
                "decision",
                ["won", "lost", "no_decision"],
                t,
                code.to_numpy(int),
                rng,
                [
                    f"share of decision-stage entries that close {o}"
                    for o in ("won", "lost", "in no decision")
                ],
            )
    # outcomes of all opportunities, from creation
    closes = opp["close"] + pd.Timedelta(days=CLOSE_TIME_OF_DAY)
    end = closes.where(opp["outcome"] != "open", as_of)
    t_all = np.maximum(_days(end, opp["created"]).to_numpy(float), 1e-3)
    code_all = opp["outcome"].map({"won": 1, "lost": 2, "no_decision": 3, "open": 0}).to_numpy(int)
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
    )
    for seg, group in opp.groupby("segment"):
        est += deal_size_estimates(str(seg), group["amount"].to_numpy(float))
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        return asdict(self)


def _group_moments(base: Scenario, segment: str) -> tuple[float, float, float]:
    """E[f], E[f^2] of the dwell multiplier and E[h] of the hazard multiplier for a segment.

    ``f = journey_scale * (g / reference)^dwell_elasticity`` and ``h = (g / reference)^
    hazard_elasticity`` with the buying group ``g = 1 + Poisson(buying_group_mean - 1)`` as the
    engine draws it.
    """
    from pipesim.config import Segment

    seg = base.segments.get(segment, Segment())
    jr = base.journey
    lam = max(seg.buying_group_mean - 1.0, 0.0)
    k = np.arange(0, int(lam + 12 * math.sqrt(lam + 1) + 20))
    pmf = stats.poisson.pmf(k, lam)
    rel = (1.0 + k) / jr.reference_group_size
    f = seg.journey_scale * rel**jr.group_dwell_elasticity
    h = rel**jr.group_hazard_elasticity
    return float(pmf @ f), float(pmf @ f**2), float(pmf @ h)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


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
    from pipesim.config import Segment, Target

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
    data: CrmData, fits: Fits, base: Scenario, name: str, source: str = "calibration"
) -> Calibration:
    """Map the fits onto ``base``: a complete, validated scenario and an account of each value."""
    from pipesim.config import Segment
    from pipesim.loader import validate

    raw = base.model_dump(mode="json")
    raw["name"] = name
    est = fits.estimates
    applied: list[Applied] = []
    kept: dict[str, str] = {}

    def apply(path: str, value: float, estimate: str, sd: float, dist: str, how: str) -> None:
        applied.append(Applied(path, value, _get(raw, path), estimate, sd, dist, how))
        _set(raw, path, value)

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
