"""Buyer organisations and their journeys, drawn as blocks of NumPy arrays.

A buyer moves awareness -> interest -> preference -> decision on its own clock, whether or not
we are involved, so everything about its journey that involves nobody else is drawn up front,
vectorised: stage dwell times (gamma), the stall hazard to *no decision* in each stage (competing
exponential clock, scaled by buying-group size), its engagement point, criteria weights, fit and
qualification facts. Only the parts where a rep meets the buyer run as SimPy processes
(:mod:`pipesim.engine.model`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from pipesim.scenario.schema import BetaShare, Scenario, Segment

N_STAGES = 4


@dataclass
class Buyers:
    """A block of buyers (struct of arrays); times in days relative to each buyer's arrival."""

    stage_start: np.ndarray  # (n, 4) day each stage starts, from arrival
    duration: np.ndarray  # (n,) planned journey length (days) to the decision
    exit_time: np.ndarray  # (n,) day the buying group gives up (inf when it does not)
    group_size: np.ndarray
    impact: np.ndarray  # mean of cost, IP intensity and risk
    frequency: np.ndarray
    fit: np.ndarray
    failed_checks: np.ndarray  # (n, 3) bool: budget, authority, timing missing
    value: np.ndarray
    u_us: np.ndarray  # our utility before rep effects (logit units)
    u_status_quo: np.ndarray
    lse_competitors: np.ndarray  # log-sum-exp of competitors' utilities (-inf if none)
    dwell: np.ndarray  # (n, 4) stage dwell times (days)
    stall: np.ndarray  # (n, 4) stall clocks (days from the stage's start)

    def __len__(self) -> int:
        return len(self.duration)

    def take(self, idx: np.ndarray) -> Buyers:
        """The buyers at positions ``idx`` (copies)."""
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def put(self, idx: np.ndarray, other: Buyers) -> None:
        """Overwrite the buyers at positions ``idx`` with ``other``'s (in place)."""
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(other, f.name)

    @classmethod
    def concat(cls, parts: list[Buyers]) -> Buyers:
        """Join blocks of buyers."""
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def retime(self) -> None:
        """Recompute stage starts and the journey's length from the dwell times (in place)."""
        self.stage_start[:, 0] = 0.0
        self.stage_start[:, 1:] = np.cumsum(self.dwell[:, :-1], axis=1)
        self.duration = self.stage_start[:, -1] + self.dwell[:, -1]

    def condition_on_survival(self, since: np.ndarray) -> None:
        """Redraw-free conditioning: the buyer is known not to have stalled before ``since``."""
        self.exit_time = _first_exit(self.stage_start, self.dwell, self.stall, since)


def beta_draw(
    rng: np.random.Generator, mean: np.ndarray | float, conc: float, n: int
) -> np.ndarray:
    """Draw Beta shares with the given mean(s) and concentration a + b."""
    if np.ndim(mean) == 0:  # scalar parameters: numpy's faster path, the same draws
        s = min(max(float(mean), 1e-6), 1 - 1e-6)
        return rng.beta(s * conc, (1.0 - s) * conc, size=n)
    m = np.clip(np.asarray(mean, dtype=float), 1e-6, 1 - 1e-6)
    return rng.beta(m * conc, (1.0 - m) * conc, size=n)


def gamma_draw(
    rng: np.random.Generator, mean: np.ndarray | float, cv: float, n: int | None = None
) -> np.ndarray:
    """Gamma draws with the given mean(s) and coefficient of variation.

    ``n`` draws of one scalar ``mean``, or one draw per element of an array ``mean``.
    """
    size = np.shape(mean) if n is None else (n,)
    if cv <= 0:
        return np.broadcast_to(np.asarray(mean, dtype=float), size).copy()
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0, size=size) * (np.asarray(mean) / shape)


def lognormal_draw(rng: np.random.Generator, mean: float, cv: float, n: int) -> np.ndarray:
    """Lognormal draws with the given mean and coefficient of variation."""
    if cv <= 0:
        return np.full(n, mean)
    sigma2 = np.log1p(cv * cv)
    return rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), size=n)


def draw_group(scenario: Scenario, seg_name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Buying-group sizes: 1 + Poisson(segment mean - 1)."""
    seg: Segment = scenario.segments[seg_name]
    return 1.0 + rng.poisson(max(seg.buying_group_mean - 1.0, 0.0), size=n)


def dwell_means(scenario: Scenario, seg_name: str, group: np.ndarray) -> np.ndarray:
    """(n, 4) mean dwell per stage for buyers of these buying-group sizes."""
    jr = scenario.journey
    rel = np.asarray(group, dtype=float) / jr.reference_group_size
    mult = scenario.segments[seg_name].journey_scale * rel**jr.group_dwell_elasticity
    return np.stack([st.mean_days * mult for st in jr.stages()], axis=1)


def draw_journeys(
    scenario: Scenario,
    seg_name: str,
    n: int,
    rng: np.random.Generator,
    group: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Draw the part of ``n`` buyers that decides *whether* and *when* they reach us.

    Buying group (unless given), stage dwell times, stall clocks, organisational impact and
    purchase frequency (which move the engagement point). :func:`complete_buyers` adds the rest.
    """
    seg: Segment = scenario.segments[seg_name]
    jr = scenario.journey
    stages = jr.stages()

    drawn = draw_group(scenario, seg_name, n, rng)
    group = drawn if group is None else np.asarray(group, dtype=float)
    rel = group / jr.reference_group_size
    means = dwell_means(scenario, seg_name, group)
    hazard_mult = rel**jr.group_hazard_elasticity

    dwell = np.empty((n, N_STAGES))
    hazard = np.empty((n, N_STAGES))
    for s, st in enumerate(stages):
        dwell[:, s] = gamma_draw(rng, means[:, s], st.cv)
        hazard[:, s] = st.stall_hazard_per_week / 7.0 * hazard_mult
    stage_start = np.zeros((n, N_STAGES))
    np.cumsum(dwell[:, :-1], axis=1, out=stage_start[:, 1:])
    duration = stage_start[:, -1] + dwell[:, -1]
    # exponential stall clocks, one per stage (rate 0 -> never)
    with np.errstate(divide="ignore"):
        stall = rng.exponential(1.0, size=(n, N_STAGES)) / hazard
    # unconditioned first stall; sources may re-condition on survival
    exit_time = _first_exit(stage_start, dwell, stall, np.zeros(n))

    imp = seg.impact
    cost = beta_draw(rng, imp.cost, imp.concentration, n)
    ip = beta_draw(rng, imp.ip_intensity, imp.concentration, n)
    risk = beta_draw(rng, imp.risk, imp.concentration, n)
    frequency = beta_draw(rng, imp.frequency, imp.concentration, n)
    return {
        "stage_start": stage_start,
        "duration": duration,
        "exit_time": exit_time,
        "group_size": group,
        "impact": (cost + ip + risk) / 3.0,
        "frequency": frequency,
        "dwell": dwell,
        "stall": stall,
    }


def draw_buyers(
    scenario: Scenario,
    seg_name: str,
    n: int,
    rng: np.random.Generator,
    fit_shift: float = 0.0,
    group: np.ndarray | None = None,
) -> Buyers:
    """Draw ``n`` buyers of segment ``seg_name``: journey clock, attributes and utilities.

    ``fit_shift`` moves the mean fit (a lead source's profile match), clipped to (0, 1);
    ``group`` fixes the buying-group sizes when they are known.
    """
    return complete_buyers(
        scenario, seg_name, draw_journeys(scenario, seg_name, n, rng, group), rng, fit_shift
    )


def complete_buyers(
    scenario: Scenario,
    seg_name: str,
    journeys: dict[str, np.ndarray],
    rng: np.random.Generator,
    fit_shift: float = 0.0,
) -> Buyers:
    """Add fit, qualification facts, deal value, criteria weights and utilities to journeys."""
    seg: Segment = scenario.segments[seg_name]
    n = len(journeys["duration"])
    fit = beta_draw(rng, seg.fit.mean + fit_shift, seg.fit.concentration, n)
    checks = np.array([seg.p_budget, seg.p_authority, seg.p_timing])
    failed = rng.random((n, 3)) >= checks
    value = lognormal_draw(rng, seg.deal_size.mean, seg.deal_size.cv, n)

    # criteria weights with buyer-to-buyer noise, normalised
    crit = scenario.criteria
    base_w = np.array([seg.criteria_weights.get(c, 0.0) for c in crit])
    base_w = base_w / base_w.sum()
    if seg.weight_noise > 0:
        w = base_w * rng.lognormal(0.0, seg.weight_noise, size=(n, len(crit)))
        w /= w.sum(axis=1, keepdims=True)
    else:
        w = np.broadcast_to(base_w, (n, len(crit)))
    ch = scenario.choice
    beta = ch.sensitivity
    s_us = np.array([scenario.us.scores.get(c, 0.0) for c in crit])
    u_us = beta * (w @ s_us + ch.fit_effect * (fit - 0.5))
    sq = seg.status_quo_score + (
        rng.normal(0.0, seg.status_quo_noise, n) if seg.status_quo_noise > 0 else 0.0
    )
    u_sq = beta * (sq + ch.missing_check_penalty * failed.sum(axis=1))

    comp_names = seg.competitors if seg.competitors is not None else list(scenario.competitors)
    lse = np.full(n, -np.inf)
    for name in comp_names:
        comp = scenario.competitors[name]
        s_c = np.array([comp.scores.get(c, 0.0) for c in crit])
        present = rng.random(n) < comp.presence
        u_c = beta * (w @ s_c)
        lse = np.where(present, np.logaddexp(lse, u_c), lse)

    return Buyers(
        **journeys,
        fit=fit,
        failed_checks=failed,
        value=value,
        u_us=u_us,
        u_status_quo=u_sq,
        lse_competitors=lse,
    )


def _first_exit(
    stage_start: np.ndarray, dwell: np.ndarray, stall: np.ndarray, since: np.ndarray
) -> np.ndarray:
    """Day of the first stall, given survival up to day ``since`` (memoryless stall clocks).

    A stall clock in stage s runs from ``max(stage start, since)``; the buyer stalls in s if the
    clock rings before the stage ends. Conditioning on survival to ``since`` is exact because each
    stage's stall clock is exponential.
    """
    start = np.maximum(stage_start, since[:, None])
    ring = start + stall
    end = stage_start + dwell
    ring = np.where(ring < end, ring, np.inf)
    return ring.min(axis=1)


def logit(p: float) -> float:
    """Log-odds of a probability."""
    return float(np.log(p / (1.0 - p)))


def expit(z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`logit`, elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def engagement_mean(scenario: Scenario, impact: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Mean engagement fraction per buyer, shifted by organisational impact and frequency."""
    eng = scenario.engagement
    z = (
        logit(eng.mean_fraction)
        + eng.impact_effect * (impact - 0.5)
        + eng.frequency_effect * (frequency - 0.5)
    )
    return np.asarray(expit(z))


def source_fraction(rng: np.random.Generator, share: BetaShare, n: int) -> np.ndarray:
    """Journey fraction at which a non-inbound source reaches the buyer."""
    return beta_draw(rng, share.mean, share.concentration, n)
