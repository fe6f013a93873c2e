"""``pipesim quotas``: rep quotas that sum to a total and give every rep the same chance.

A quota is fair, in the sense quota setters use, when every rep is equally likely to make theirs
given what the rep can do: skill, ramp-up, the seat's attrition and backfill, the open pipeline
the seat owns. pipesim simulates every seat, so each seat's bookings over the horizon have a
distribution; the fair quotas are, for one common probability ``p``, each seat's ``1 - p``
quantile of its bookings, with ``p`` chosen so the quotas add up to the total (the company target
plus the over-assignment). The sum of the quantiles falls as ``p`` rises, so ``p`` is found by
bisection.

Setting quotas and judging them on the same replications would flatter them (every seat's
estimate is exactly ``p`` by construction). So the run's replications are split: the first
``replications`` set the quotas, the next ``replications`` (the same root seed, later
replication indices: independent of the first) check them, giving each rep's P(quota) with its
Wilson interval, for the fair quotas and for today's (``target.rep_quota`` /
``target.rep_quotas``). The quotas do not change what a rep does in the model (a quota is a
yardstick, not an incentive), so one simulation serves both. ``plan.yaml`` sets
``target.rep_quotas`` (apply it with ``pipesim run --plan``).

Each quota also reads as activity: the new opportunities a week the seat opened in the setting
replications where it made that quota (their median), beside what it opens on average today.
That is what making the quota took in the simulation, not a conversion of the quota at an
average deal value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipesim.results.statistics import wilson_interval
from pipesim.runs.runner import run
from pipesim.scenario.schema import Scenario

DEFAULT_OVER_ASSIGN = 0.1
"""Quotas sum to the target plus this share by default (sales-operations practice over-assigns
quotas by about 10-20% so that the company target survives reps who miss; docs/organisation.md)."""

DEFAULT_REPLICATIONS = 400
"""Replications that set the quotas; as many again check them."""


class QuotaError(ValueError):
    """The total cannot be split into quotas the simulation supports (says why)."""


@dataclass(frozen=True)
class SeatQuota:
    """One seat's fair quota and today's, each with its checked P(quota) and 95% interval."""

    rep: str
    team: str  # the team that lists the rep; "all" without teams
    quota: float
    p_quota: float
    p_quota_low: float
    p_quota_high: float
    today_quota: float
    today_p_quota: float
    today_p_quota_low: float
    today_p_quota_high: float
    mean_bookings: float
    territory_leads: float  # leads a year the rep can work: its share of the shared pool and
    # of every territory it covers (segment leads x share / the seats working it)
    new_opportunities_per_week: float  # median opened a week where the seat made the quota
    today_new_opportunities_per_week: float  # mean opened a week, every replication


@dataclass(frozen=True)
class QuotaPlan:
    """Fair quotas for every seat, how they were set and how they check out."""

    scenario: str
    total: float
    target: float
    over_assign: float
    p_set: float  # the common probability on the replications that set the quotas
    seats: list[SeatQuota]
    replications: int  # set on this many, checked on as many again
    seed: int
    currency: str

    def spread(self, today: bool = False) -> float:
        """Largest minus smallest checked P(quota) across reps."""
        ps = [s.today_p_quota if today else s.p_quota for s in self.seats]
        return max(ps) - min(ps)

    def noise_spread(self) -> float:
        """The spread the check's sampling alone would give 95% of the time at equal chances.

        Each rep's P(quota) is a share of ``replications`` check replications, so even quotas
        with exactly equal chances show a spread; this is the 95th percentile of the largest
        minus smallest of as many binomial shares at the mean checked chance (drawn with a
        generator seeded by the run's seed). A spread below it is what equal chances look like.
        """
        p = float(np.mean([s.p_quota for s in self.seats]))
        rng = np.random.default_rng(self.seed)
        shares = rng.binomial(self.replications, p, size=(4000, len(self.seats)))
        ranges = (shares.max(axis=1) - shares.min(axis=1)) / self.replications
        return float(np.quantile(ranges, 0.95))

    def fairness(self, today: bool = False) -> tuple[float, float, float] | None:
        """Correlation of P(quota) with territory size across reps, with its 95% interval.

        Quota practice asks that attainment not follow territory size. Pearson's r with a
        Fisher-z interval over the reps; None when every rep works the same leads (no
        territories) or there are fewer than four reps.
        """
        size = np.array([s.territory_leads for s in self.seats])
        p = np.array([s.today_p_quota if today else s.p_quota for s in self.seats])
        n = len(size)
        if n < 4 or np.ptp(size) <= 1e-9 * max(1.0, float(size.max())) or np.ptp(p) == 0:
            return None
        r = float(np.corrcoef(size, p)[0, 1])
        z, half = math.atanh(max(-0.999999, min(0.999999, r))), 1.96 / math.sqrt(n - 3)
        return r, math.tanh(z - half), math.tanh(z + half)

    def table(self) -> pd.DataFrame:
        """``quotas.csv``: one row per rep."""
        return pd.DataFrame(
            [
                {
                    "rep": s.rep,
                    "team": s.team,
                    "quota": s.quota,
                    "p_quota": s.p_quota,
                    "p_quota_low": s.p_quota_low,
                    "p_quota_high": s.p_quota_high,
                    "today_quota": s.today_quota,
                    "today_p_quota": s.today_p_quota,
                    "today_p_quota_low": s.today_p_quota_low,
                    "today_p_quota_high": s.today_p_quota_high,
                    "mean_bookings": s.mean_bookings,
                    "territory_leads": s.territory_leads,
                    "new_opportunities_per_week": s.new_opportunities_per_week,
                    "today_new_opportunities_per_week": s.today_new_opportunities_per_week,
                }
                for s in self.seats
            ]
        )

    def overlay(self) -> dict[str, Any]:
        """``plan.yaml``: the quotas as a scenario overlay for ``pipesim run --plan``."""
        return {"target": {"rep_quotas": {s.rep: round(s.quota, 2) for s in self.seats}}}

    def to_json(self) -> dict[str, Any]:
        """``quotas.json``: the split, its check and every rep's row."""
        return {
            "scenario": self.scenario,
            "total": self.total,
            "target": self.target,
            "over_assign": self.over_assign,
            "p_set": self.p_set,
            "replications_set": self.replications,
            "replications_checked": self.replications,
            "seed": self.seed,
            "spread": self.spread(),
            "today_spread": self.spread(today=True),
            "noise_spread": self.noise_spread(),
            "fairness": self.fairness(),
            "today_fairness": self.fairness(today=True),
            "quotas": self.table().to_dict(orient="records"),
        }


def equal_chance_quotas(samples: list[np.ndarray], total: float) -> tuple[np.ndarray, float]:
    """Quotas summing to ``total``, each seat's ``1 - p`` quantile of its bookings, one ``p``.

    Returns the quotas and ``p``. Raises :class:`QuotaError` when ``total`` is above what the
    seats book together in their best replications (every rep would need more than the
    simulation ever gave them) or not positive.
    """
    if total <= 0:
        raise QuotaError(f"the total to split must be positive (got {total:,.0f})")

    def quotas(p: float) -> np.ndarray:
        return np.array([np.quantile(b, 1.0 - p) for b in samples])

    top = float(quotas(0.0).sum())
    if total > top:
        raise QuotaError(
            f"the total {total:,.0f} is more than the reps booked together even taking each "
            f"rep's best simulated period ({top:,.0f}): no split gives any rep a chance"
        )
    lo, hi = 0.0, 1.0  # sum(quotas(lo)) >= total; quotas fall as p rises
    if float(quotas(1.0).sum()) >= total:
        lo = 1.0
    else:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if float(quotas(mid).sum()) >= total:
                lo = mid
            else:
                hi = mid
    q = quotas(lo)
    return q * (total / float(q.sum())), lo  # the last rounding of the bisection, spread evenly


def plan_quotas(
    scenario: Scenario,
    *,
    total: float | None = None,
    over_assign: float = DEFAULT_OVER_ASSIGN,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int = 0,
    workers: int = 1,
    progress: Any = None,
) -> QuotaPlan:
    """Fair quotas for ``scenario`` (see the module text).

    ``total`` is the company figure to split before over-assignment (default: the target).
    """
    if replications < 20:
        raise QuotaError(f"at least 20 replications are needed to set quotas (got {replications})")
    if not 0 <= over_assign <= 1:
        raise QuotaError(f"over-assignment must be between 0 and 1 (got {over_assign})")
    base = scenario.target.revenue if total is None else total
    split = base * (1.0 + over_assign)
    result = run(
        scenario, replications=2 * replications, seed=seed, workers=workers, progress=progress
    )
    reps = result.reps
    labels = scenario.reps.labels()
    wide = reps.pivot(index="replication", columns="seat", values="bookings").sort_index()
    setting, checking = wide.iloc[:replications], wide.iloc[replications:]
    weeks = scenario.target.horizon_weeks
    opened = reps.pivot(index="replication", columns="seat", values="new_opportunities")
    opened = opened.sort_index() / weeks
    samples = [setting[k].to_numpy(float) for k in range(len(labels))]
    quotas, p = equal_chance_quotas(samples, split)
    today = scenario.seat_quotas()
    territory = territory_leads(scenario, result.table)
    team_of = {rep: name for name, team in scenario.teams.items() for rep in team.reps}
    seats = []
    n = len(checking)
    for k, label in enumerate(labels):
        check = checking[k].to_numpy(float)
        hits = int((check >= quotas[k]).sum())
        low, high = wilson_interval(hits, n)
        t_hits = int((check >= today[k]).sum())
        t_low, t_high = wilson_interval(t_hits, n)
        # what making the quota took: opportunities opened a week where the seat made it
        made = setting[k].to_numpy(float) >= quotas[k]
        opened_k = opened[k].to_numpy(float)[:replications]
        seats.append(
            SeatQuota(
                rep=label,
                team=team_of.get(label, "all"),
                quota=float(quotas[k]),
                p_quota=hits / n,
                p_quota_low=low,
                p_quota_high=high,
                today_quota=float(today[k]),
                today_p_quota=t_hits / n,
                today_p_quota_low=t_low,
                today_p_quota_high=t_high,
                mean_bookings=float(wide[k].mean()),
                territory_leads=territory[k],
                new_opportunities_per_week=(
                    float(np.median(opened_k[made])) if made.any() else math.nan
                ),
                today_new_opportunities_per_week=float(opened[k].mean()),
            )
        )
    return QuotaPlan(
        scenario=scenario.name,
        total=split,
        target=base,
        over_assign=over_assign,
        p_set=p,
        seats=seats,
        replications=replications,
        seed=seed,
        currency=scenario.economics.currency,
    )


def territory_leads(scenario: Scenario, table: pd.DataFrame) -> list[float]:
    """Per seat: the leads (mean over the run) it can work, split over the seats working them.

    A segment's leads are split into the teams' territories by their shares (each split over
    the seats the team covers) and the rest, the shared pool, over every seat.
    """
    seats = scenario.reps.seats
    covered = scenario.team_seats() if scenario.teams else {}
    out = [0.0] * seats
    for seg in scenario.segments:
        leads = float(table[f"{seg}_leads"].mean())
        owned = 0.0
        for name, team in scenario.teams.items():
            share = team.segments.get(seg, 0.0)
            if share > 0 and covered[name]:
                owned += share
                for k in covered[name]:
                    out[k] += leads * share / len(covered[name])
        for k in range(seats):
            out[k] += leads * (1.0 - owned) / seats
    return out
