"""Statistical validation: Monte Carlo estimates against closed forms.

* Memoryless journeys with unconstrained reps are an absorbing Markov chain: the shares of won /
  lost / no decision must match ``(I - Q)^-1 R``.
* Leads queueing for a pool of reps with exponential qualification times are an M/M/c queue: the
  mean wait must match Erlang C.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipesim.engine.replication import run_replication
from pipesim.market.choice import choice_probabilities
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import (
    Choice,
    Competitor,
    Journey,
    LeadResponse,
    Leads,
    OpenOpportunities,
    Prospecting,
    Referrals,
    Reps,
    Scenario,
    Segment,
    StageTiming,
    Target,
    Vendor,
)
from pipesim.scenario.schema.sales import FLAT

STAGE_MEANS = (20.0, 30.0, 25.0, 15.0)  # days
HAZARDS = (0.05, 0.08, 0.04, 0.1)  # per week


def markov_scenario(count: int) -> Scenario:
    """Memoryless journeys, fixed utilities, opportunities that all start at awareness."""
    return Scenario(
        name="markov",
        target=Target(revenue=1.0, horizon_weeks=400),
        criteria=["a", "b"],
        us=Vendor(scores={"a": 7.0, "b": 5.0}),
        competitors={"C": Competitor(scores={"a": 6.0, "b": 7.0}, presence=1.0)},
        segments={
            "M": Segment(
                buyers_per_week=0.0,
                criteria_weights={"a": 0.6, "b": 0.4},
                weight_noise=0.0,
                status_quo_score=6.0,
                status_quo_noise=0.0,
                p_budget=1.0,
                p_authority=1.0,
                p_timing=1.0,
            )
        },
        journey=Journey(
            awareness=StageTiming(
                mean_days=STAGE_MEANS[0], cv=1.0, stall_hazard_per_week=HAZARDS[0]
            ),
            interest=StageTiming(
                mean_days=STAGE_MEANS[1], cv=1.0, stall_hazard_per_week=HAZARDS[1]
            ),
            preference=StageTiming(
                mean_days=STAGE_MEANS[2], cv=1.0, stall_hazard_per_week=HAZARDS[2]
            ),
            decision=StageTiming(
                mean_days=STAGE_MEANS[3], cv=1.0, stall_hazard_per_week=HAZARDS[3]
            ),
            group_dwell_elasticity=0.0,
            group_hazard_elasticity=0.0,
        ),
        choice=Choice(fit_effect=0.0, early_shaping=0.0, late_effect=0.0, unengaged_penalty=0.0),
        reps=Reps(count=5, attrition_per_year=0.0),
        leads=Leads(prospecting=Prospecting(hours_per_week=0.0), referrals=Referrals(per_week=0.0)),
        open_pipeline=[
            OpenOpportunities(segment="M", stage="awareness", count=count, days_in_stage=0.0)
        ],
    )


def absorbing_shares(sc: Scenario, hazards: tuple[float, ...] = HAZARDS) -> np.ndarray:
    """(won, lost, no decision) from awareness, by the fundamental matrix of the chain."""
    seg = sc.segments["M"]
    weights = np.array([seg.criteria_weights[c] for c in sc.criteria])
    beta = sc.choice.sensitivity
    u_us = beta * weights @ np.array([sc.us.scores[c] for c in sc.criteria])
    u_c = beta * weights @ np.array([sc.competitors["C"].scores[c] for c in sc.criteria])
    p_us, p_c, p_sq = choice_probabilities(u_us, u_c, beta * seg.status_quo_score)
    q = np.zeros((4, 4))
    r = np.zeros((4, 3))
    for s, (mean, hazard) in enumerate(zip(STAGE_MEANS, hazards, strict=True)):
        h = hazard / 7.0
        p_exit = h / (h + 1.0 / mean)
        r[s, 2] += p_exit
        if s < 3:
            q[s, s + 1] = 1.0 - p_exit
        else:
            r[s] += (1.0 - p_exit) * np.array([p_us, p_c, p_sq])
    b = np.linalg.solve(np.eye(4) - q, r)
    return b[0]


def test_journey_outcomes_match_absorbing_markov_chain() -> None:
    sc = markov_scenario(count=3000)
    expected = absorbing_shares(sc)
    counts = np.zeros(3)
    for i, seed in enumerate(replication_seeds(11, 4)):
        row = run_replication(sc, i, seed).row
        assert row["open_at_end"] == 0  # 400 weeks: every journey resolves
        counts += [row["won"], row["lost"], row["no_decision"]]
    n = counts.sum()
    assert n == 4 * 3000
    # each share inside its 99% binomial interval around the closed form ...
    for observed, p in zip(counts / n, expected, strict=True):
        assert abs(observed - p) <= stats.norm.ppf(0.995) * math.sqrt(p * (1 - p) / n)
    # ... and jointly: chi-square goodness of fit at the 1% level
    assert stats.chisquare(counts, expected * n).pvalue > 0.01


def test_markov_check_would_catch_a_wrong_hazard() -> None:
    """The closed form is sensitive: doubling one hazard moves the shares beyond the interval."""
    sc = markov_scenario(count=10)
    base = absorbing_shares(sc)
    moved = absorbing_shares(sc, (HAZARDS[0] * 2, *HAZARDS[1:]))
    n = 4 * 3000
    assert abs(moved[2] - base[2]) > 3 * math.sqrt(base[2] * (1 - base[2]) / n)


def erlang_c_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C)."""
    a = arrival_rate / service_rate
    rho = a / servers
    assert rho < 1
    top = a**servers / math.factorial(servers) / (1 - rho)
    bottom = sum(a**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom / (servers * service_rate - arrival_rate)


def queue_scenario(servers: int, buyers_per_week: float) -> Scenario:
    """Inbound leads only, exponential qualification, no pursuit load, endless patience."""
    return Scenario(
        name="mmc",
        target=Target(revenue=1.0, horizon_weeks=150),
        segments={"Q": Segment(buyers_per_week=buyers_per_week, inbound_share=1.0)},
        journey=Journey(
            awareness=StageTiming(mean_days=10, cv=0.5, stall_hazard_per_week=0.0),
            interest=StageTiming(mean_days=10, cv=0.5, stall_hazard_per_week=0.0),
            preference=StageTiming(mean_days=10, cv=0.5, stall_hazard_per_week=0.0),
            decision=StageTiming(mean_days=10, cv=0.5, stall_hazard_per_week=0.0),
        ),
        reps=Reps(
            count=servers,
            attrition_per_year=0.0,
            qualify_hours=3.0,
            qualify_hours_cv=1.0,
            pursue_hours_per_week=0.0,
            hours_per_week=40.0,
            admin_share=0.25,
        ),
        leads=Leads(
            max_wait_days=365,  # the longest patience allowed; waits here are a few days
            prospecting=Prospecting(hours_per_week=0.0),
            referrals=Referrals(per_week=0.0),
            # every lead is worked whatever its wait (the queue, not the buyer, is under test)
            response=LeadResponse(inbound=FLAT),
        ),
        prehistory_days=200.0,
    )


@pytest.mark.parametrize("servers", [1, 3])
def test_rep_queue_matches_erlang_c(servers: int) -> None:
    productive = 40.0 * 0.75
    service_rate = productive / (7.0 * 3.0)  # qualifications per rep per day
    arrival_rate = 0.8 * servers * service_rate  # utilisation 0.8
    sc = queue_scenario(servers, arrival_rate * 7.0)
    expected = erlang_c_wait(arrival_rate, service_rate, servers)
    waits = []
    for i, seed in enumerate(replication_seeds(5, 30)):
        row = run_replication(sc, i, seed).row
        assert row["uncaptured"] == 0
        waits.append(row["mean_wait_days"])
    w = np.array(waits)
    half = stats.t.ppf(0.995, len(w) - 1) * w.std(ddof=1) / math.sqrt(len(w))
    # replications start empty, so allow the small start-up bias on top of the 99% interval
    assert abs(w.mean() - expected) <= half + 0.05 * expected, (w.mean(), expected, half)
