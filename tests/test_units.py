"""Unit tests of small pieces: choice, qualification policies, reps, statistics, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipesim.agents.reps import Rep
from pipesim.market.choice import COMPETITOR, STATUS_QUO, US, choice_probabilities, choose
from pipesim.policies.qualification import Judgement, make_policy
from pipesim.results.statistics import ratio_interval, wilson_interval
from pipesim.scenario.rng import Streams, replication_seeds
from pipesim.scenario.schema import Qualification


def test_choice_probabilities_are_a_logit():
    p = choice_probabilities(1.0, math.log(math.exp(0.5) + math.exp(0.2)), 0.0)
    e = np.exp([1.0, 0.5, 0.2, 0.0])
    assert p == pytest.approx((e[0] / e.sum(), (e[1] + e[2]) / e.sum(), e[3] / e.sum()))
    assert choice_probabilities(0.0, -math.inf, 0.0) == pytest.approx((0.5, 0.0, 0.5))


def test_choose_maps_uniforms_to_options():
    p_us, p_c, _ = choice_probabilities(0.3, 0.1, -0.2)
    assert choose(0.3, 0.1, -0.2, p_us - 1e-9) == US
    assert choose(0.3, 0.1, -0.2, p_us + 1e-9) == COMPETITOR
    assert choose(0.3, 0.1, -0.2, p_us + p_c + 1e-9) == STATUS_QUO


def test_threshold_policy_uses_fit_and_required_checks():
    policy = make_policy(Qualification(threshold=0.5, checks=["budget"]))
    assert policy.pursue(Judgement(0.6, ()))
    assert not policy.pursue(Judgement(0.4, ()))
    assert not policy.pursue(Judgement(0.9, ("budget",)))
    assert policy.pursue(Judgement(0.9, ("timing",)))  # not a required check


def test_pursue_all_policy():
    policy = make_policy(Qualification(policy="pursue_all"))
    assert policy.pursue(Judgement(0.0, ("budget", "authority")))


def make_rep(**kw):
    base = dict(
        seat=0,
        skill=1.0,
        noise=0.1,
        hired_at=0.0,
        productive_hours=30.0,
        ramp_days=70.0,
        ramp_start=0.3,
        prospecting_hours=4.0,
        pursue_hours=2.0,
        min_lead_hours=4.0,
    )
    base.update(kw)
    return Rep(**base)


def test_rep_ramps_up_linearly():
    rep = make_rep()
    assert rep.productivity(0.0) == pytest.approx(0.3)
    assert rep.productivity(35.0) == pytest.approx(0.65)
    assert rep.productivity(70.0) == 1.0
    assert rep.productivity(1000.0) == 1.0


def test_open_deals_eat_lead_hours_down_to_a_floor():
    rep = make_rep(hired_at=-1000.0)
    assert rep.lead_hours(0.0) == pytest.approx(26.0)
    rep.open_opportunities = 5
    assert rep.lead_hours(0.0) == pytest.approx(16.0)
    rep.open_opportunities = 50
    assert rep.lead_hours(0.0) == 4.0
    # coverage: 30 - 4 - 4 = 22 hours for deals; 51 deals need 102
    assert rep.coverage(0.0) == pytest.approx(22.0 / 102.0)


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0


def test_ratio_interval_covers_the_true_ratio():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        den = rng.poisson(50, size=40).astype(float)
        num = rng.binomial(den.astype(int), 0.3).astype(float)
        _, lo, hi = ratio_interval(num, den)
        covered += lo <= 0.3 <= hi
    assert 180 <= covered <= 200  # about 95%


def test_replication_seeds_are_prefix_stable_and_distinct():
    a = replication_seeds(7, 10)
    assert a[:4] == replication_seeds(7, 4)
    assert a[5:] == replication_seeds(7, 5, start=5)
    assert len(set(a)) == 10
    assert replication_seeds(8, 3) != a[:3]


def test_named_streams_are_independent_of_order():
    s1, s2 = Streams(1), Streams(1)
    x = s1("journey").random(3)
    s1("choice").random(100)
    s2("choice").random(5)
    assert np.array_equal(x, s2("journey").random(3))
