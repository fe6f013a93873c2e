"""Decision rules of every policy family, and their selection from YAML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipesim.engine.model import simulate, unique_gaps
from pipesim.policies.engagement import make_engagement
from pipesim.policies.flanking import make_flanking
from pipesim.policies.followup import make_follow_up
from pipesim.policies.qualification import (
    QUALIFICATION,
    QUALIFICATION_CHECKS,
    Judgement,
    decider,
    make_policy,
)
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Engagement, Flanking, Qualification

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def test_discretion_pursues_a_share_of_rejected_leads():
    policy = make_policy(Qualification(policy="discretion", threshold=0.5, deviation_rate=0.3))
    assert policy.pursue(Judgement(0.6, (), deviation_draw=0.99))
    assert policy.pursue(Judgement(0.2, (), deviation_draw=0.29))
    assert not policy.pursue(Judgement(0.2, (), deviation_draw=0.31))
    assert not policy.pursue(Judgement(0.9, ("budget",), deviation_draw=0.5))


def test_threshold_never_deviates():
    policy = make_policy(Qualification(policy="threshold", threshold=0.5))
    assert not policy.pursue(Judgement(0.2, (), deviation_draw=0.0))


@pytest.mark.parametrize("name", ["threshold", "discretion", "pursue_all"])
@pytest.mark.parametrize("checks", [(), ("budget",), ("budget", "authority", "timing")])
def test_the_engines_fast_decider_decides_as_the_policy(name, checks):
    """The per-lead form the engine calls agrees with ``pursue`` on every judgement."""
    spec = Qualification(policy=name, threshold=0.45, deviation_rate=0.3, checks=list(checks))
    policy = make_policy(spec)
    decide = decider(policy)
    assert getattr(policy, "decider", None) is not None  # the built-ins have their fast form
    rng = np.random.default_rng(7)
    for _ in range(2000):
        fit, mask, draw = float(rng.random()), int(rng.integers(8)), float(rng.random())
        noticed = tuple(c for k, c in enumerate(QUALIFICATION_CHECKS) if mask >> k & 1)
        assert decide(fit, mask, draw) == policy.pursue(Judgement(fit, noticed, draw))


def test_a_policy_without_a_fast_form_is_called_through_pursue():
    class Picky:
        def __init__(self, spec: Qualification) -> None:
            self.seen: list[Judgement] = []

        def pursue(self, judgement: Judgement) -> bool:
            self.seen.append(judgement)
            return "timing" in judgement.noticed_failures

    policy = Picky(Qualification())
    decide = decider(policy)
    assert decide(0.3, 0b100, 0.5) and not decide(0.3, 0b011, 0.5)
    assert policy.seen[0] == Judgement(0.3, ("timing",), 0.5)
    assert policy.seen[1].noticed_failures == ("budget", "authority")
    assert "threshold" in QUALIFICATION.names()


def test_flank_success_needs_a_sponsor_and_unique_value():
    flank = make_flanking(Flanking(policy="flank", max_success=0.6, gap_scale=1.0))
    assert flank.attempts
    assert flank.success_probability(1.0, has_sponsor=False) == 0.0
    assert flank.success_probability(0.0, has_sponsor=True) == 0.0
    p1 = flank.success_probability(0.5, has_sponsor=True)
    p2 = flank.success_probability(2.0, has_sponsor=True)
    assert 0 < p1 < p2 < 0.6
    assert p2 == pytest.approx(0.6 * (1 - np.exp(-2.0)))
    early = make_flanking(Flanking(policy="flank", move_last=False, early_move_success=0.5))
    assert early.success_probability(2.0, True) == pytest.approx(0.5 * p2)


def test_no_flanking_never_attempts():
    none = make_flanking(Flanking(policy="none"))
    assert not none.attempts and none.success_probability(5.0, True) == 0.0


def test_follow_up_priorities():
    fifo = make_follow_up("fifo")
    first = make_follow_up("inbound_first")
    assert {fifo.priority(s) for s in ("inbound", "campaign", "prospecting")} == {0}
    assert first.priority("inbound") < first.priority("campaign") < first.priority("prospecting")
    assert first.priority("referral") == first.priority("inbound")


def test_engagement_policies():
    natural = np.array([0.6, 0.6, 0.2])
    early = np.array([0.3, 0.3, 0.3])
    draw = np.array([0.1, 0.9, 0.1])
    reactive = make_engagement(Engagement(policy="reactive"))
    proactive = make_engagement(Engagement(policy="proactive", proactive_share=0.5))
    assert np.array_equal(reactive.contact_fraction(natural, early, draw), natural)
    # reached (draw < share) buyers meet us at the earlier point; others at their own
    assert np.allclose(proactive.contact_fraction(natural, early, draw), [0.3, 0.6, 0.2])
    assert proactive.hours_per_week > 0 == reactive.hours_per_week


def test_unknown_policy_names_are_rejected_with_the_allowed_list():
    with pytest.raises(ScenarioError, match=r"flanking.policy: unknown flanking policy 'flnk'"):
        load_scenario(BASELINE, ["flanking.policy=flnk"])
    with pytest.raises(ScenarioError, match="allowed: fifo, inbound_first"):
        load_scenario(BASELINE, ["leads.follow_up=lifo"])


def test_unique_gap_is_our_best_lead_on_one_criterion():
    sc = load_scenario(BASELINE)
    # baseline: functionality 7.5 vs best competitor 6.5 -> 1.0
    assert unique_gaps(sc) == pytest.approx([1.0] * 4)


def test_flanking_in_the_engine_only_touches_competitor_preferred_deals():
    sc = load_scenario(BASELINE, ["target.horizon_weeks=13", "flanking.policy=flank"])
    base = load_scenario(BASELINE, ["target.horizon_weeks=13"])
    m = simulate(sc, 2)
    b = simulate(base, 2)
    assert m.flanked.sum() > 0 and not b.flanked.any()
    assert m.flank_won.sum() < m.flanked.sum()
    assert not (m.flank_won & ~m.flanked).any()
    assert m.flank_hours > 0
    # same buyers (common random numbers): flanking changes outcomes only for flanked deals
    assert np.array_equal(m.leads.t_lead, b.leads.t_lead)


def test_slow_follow_up_leaves_leads_uncaptured():
    fast = simulate(load_scenario(BASELINE, ["target.horizon_weeks=13"]), 1)
    slow = simulate(
        load_scenario(BASELINE, ["target.horizon_weeks=13", "leads.response_days=6"]), 1
    )
    queued = np.isin(slow.leads.source, (0, 1, 2, 3))
    assert (slow.status[queued] == 4).mean() > 0.9  # response slower than the 5-day patience
    assert (fast.status[queued] == 4).mean() < 0.05


def test_proactive_engagement_meets_buyers_earlier():
    sc = load_scenario(BASELINE, ["target.horizon_weeks=13", "engagement.policy=proactive"])
    base = load_scenario(BASELINE, ["target.horizon_weeks=13"])
    inbound_p = simulate(sc, 3)
    inbound_b = simulate(base, 3)

    def mean_fraction(m):
        return m.leads.fraction[m.leads.source == 0].mean()

    assert mean_fraction(inbound_p) < mean_fraction(inbound_b) - 0.05
