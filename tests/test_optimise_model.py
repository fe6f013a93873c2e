"""The optimiser's LP against independent answers: greedy allocation, infeasibility, curves."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesim.optimise.constraints import build_model
from pipesim.optimise.curves import (
    ResponseCurve,
    concave_fit,
    curve_from_points,
    greedy_allocation,
    judgement_curve,
)
from pipesim.optimise.explain import InfeasiblePlan
from pipesim.optimise.levers import Lever
from pipesim.optimise.problem import CampaignInput, LeadCosts, Problem, RepGroup
from pipesim.optimise.solver import evaluate, solve

SEGMENTS = ("S1", "S2")


def curve(key: str, widths: list[float], slopes: list[float], unit: str = "EUR per week"):
    levels = np.concatenate([[0.0], np.cumsum(widths)])
    revenue = np.concatenate([[0.0], np.cumsum(np.asarray(widths) * np.asarray(slopes))])
    return ResponseCurve(key, unit, tuple(levels), tuple(revenue), 0.0, "judgement")


def problem(
    campaign_curves: dict[str, ResponseCurve] | None = None,
    outbound_curves: dict[str, ResponseCurve] | None = None,
    *,
    budget: float | None = None,
    hours: float = 1e6,
    weeks: float = 10.0,
    **extra: object,
) -> Problem:
    """A small problem: campaigns and/or outbound levers, no lead-queue load."""
    campaign_curves = campaign_curves or {}
    outbound_curves = outbound_curves or {}
    free = LeadCosts(0.0, dict.fromkeys(SEGMENTS, 0.0), dict.fromkeys(SEGMENTS, 0.0))
    levers = {}
    campaigns = {}
    for key in campaign_curves:
        name = key.split(".")[1]
        levers[key] = Lever(key, "campaign", name, "EUR per week", 0.0)
        campaigns[name] = CampaignInput(name, 0.0, 100.0, weeks, {"S1": 1.0, "S2": 0.0}, free)
    levers["leads.prospecting.hours_per_week"] = Lever(
        "leads.prospecting.hours_per_week", "prospecting", "", "hours per rep per week", 0.0
    )
    for s in SEGMENTS:
        key = f"leads.outbound.opportunities_per_rep_week[{s}]"
        levers[key] = Lever(key, "outbound", s, "opportunities per rep per week", 0.0)
    return Problem(
        segments=SEGMENTS,
        groups=(RepGroup("team", ("a", "b"), hours),),
        levers=levers,
        curves={**campaign_curves, **outbound_curves},
        campaigns=campaigns,
        horizon_weeks=weeks,
        gross_margin=1.0,
        target_revenue=1.0,
        prospecting_costs=free,
        prospecting_split={"S1": 0.5, "S2": 0.5},
        budget_total=(None, budget),
        **extra,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- greedy = LP
def test_lp_reproduces_greedy_allocation_of_a_budget_exactly():
    curves = {
        "campaigns.a.budget_per_week": curve(
            "campaigns.a.budget_per_week", [100, 100, 200], [50, 31, 12]
        ),
        "campaigns.b.budget_per_week": curve("campaigns.b.budget_per_week", [150, 150], [40, 19]),
        "campaigns.c.budget_per_week": curve("campaigns.c.budget_per_week", [50, 250], [27, 9.5]),
    }
    p = problem(curves, budget=520.0)
    sol = solve(build_model(p, "max-margin", None))
    # net return per EUR/week: gross margin 1 x slope - 10 active weeks
    greedy = greedy_allocation(curves, 520.0, cost_per_unit=dict.fromkeys(curves, 10.0))
    # by hand: pieces 40 (a1), 30 (b1), 21 (a2), 17 (c1), 9 (b2) ... budget 520 ends in b2
    assert greedy == pytest.approx(
        {
            "campaigns.a.budget_per_week": 200.0,
            "campaigns.b.budget_per_week": 270.0,
            "campaigns.c.budget_per_week": 50.0,
        }
    )
    assert sol.status == "optimal"
    for key, x in greedy.items():
        assert sol.levels[key] == pytest.approx(x, abs=1e-6)
    value = sum(c.value(greedy[k]) - 10.0 * greedy[k] for k, c in curves.items())
    assert sol.margin == pytest.approx(value, rel=1e-9)
    assert sol.binding[0].info.key == "optimise.budget.total_per_week"


def test_lp_reproduces_greedy_allocation_of_rep_hours():
    # outbound opportunities per segment, limited by each rep's hours (3 h to open one plus
    # pursuit hours): greedy on revenue per hour
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [0.5, 0.5, 1.0], [9e5, 5e5, 1e5]
        ),
        "leads.outbound.opportunities_per_rep_week[S2]": curve(
            "leads.outbound.opportunities_per_rep_week[S2]", [0.3, 0.7], [2e6, 4e5]
        ),
    }
    pursue = {"S1": 2.0, "S2": 9.0}
    p = problem(outbound_curves=curves, hours=8.0, outbound_pursue_hours=pursue)
    sol = solve(build_model(p, "max-margin", None))
    per_unit = {f"leads.outbound.opportunities_per_rep_week[{s}]": 3.0 + pursue[s] for s in pursue}
    greedy = greedy_allocation(curves, 8.0, budget_per_unit=per_unit)
    for key, x in greedy.items():
        assert sol.levels[key] == pytest.approx(x, abs=1e-7)
    assert sol.binding[0].info.key == "reps.hours_per_week"


@st.composite
def concave_curves(draw):
    n = draw(st.integers(2, 4))
    out = {}
    for i in range(n):
        k = draw(st.integers(1, 4))
        widths = draw(st.lists(st.floats(1, 100), min_size=k, max_size=k))
        slopes = sorted(draw(st.lists(st.floats(-5, 80), min_size=k, max_size=k)), reverse=True)
        key = f"campaigns.c{i}.budget_per_week"
        out[key] = curve(key, widths, slopes)
    budget = draw(st.floats(0, 400))
    return out, budget


@settings(max_examples=40, deadline=None)
@given(concave_curves())
def test_lp_matches_greedy_value_on_random_separable_concave_problems(case):
    curves, budget = case
    p = problem(curves, budget=budget, weeks=1.0)
    sol = solve(build_model(p, "max-margin", None))
    greedy = greedy_allocation(curves, budget, cost_per_unit=dict.fromkeys(curves, 1.0))
    best = sum(c.value(greedy[k]) - greedy[k] for k, c in curves.items())
    assert sol.margin == pytest.approx(best, rel=1e-7, abs=1e-6)
    assert sum(sol.spend.values()) <= budget + 1e-6


# --------------------------------------------------------------------------- infeasible
def test_unreachable_target_names_the_binding_constraints():
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [1.0, 1.0], [1e6, 5e5]
        )
    }
    p = problem(outbound_curves=curves, hours=6.0, outbound_pursue_hours={"S1": 3.0, "S2": 3.0})
    with pytest.raises(InfeasiblePlan) as err:
        solve(build_model(p, "max-margin", 5e6))
    exc = err.value
    # 6 h per rep at 6 h per opportunity: 1 per week, 1.0M of revenue at most
    assert exc.best_revenue == pytest.approx(1e6)
    assert "target.revenue" in str(exc)
    assert "reps.hours_per_week" in str(exc)
    assert "short by 4.00M EUR" in str(exc)
    assert [b.info.key for b in exc.binding] == ["reps.hours_per_week"]
    assert any(t.startswith("target.revenue") for t in exc.iis)


def test_conflicting_policy_constraints_are_named_without_a_target():
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [1.0], [1e6]
        )
    }
    p = problem(
        outbound_curves=curves,
        hours=10.0,
        outbound_pursue_hours={"S1": 1.0, "S2": 1.0},
        strategic_segments={"S2": 0.5},
    )
    with pytest.raises(InfeasiblePlan) as err:
        solve(build_model(p, "max-margin", None))
    text = str(err.value)
    assert "even before the revenue target" in text
    assert "optimise.strategic_segments.S2" in text


def test_min_cost_meets_the_required_revenue_at_least_cost():
    curves = {
        "campaigns.a.budget_per_week": curve("campaigns.a.budget_per_week", [100, 100], [50, 20]),
        "campaigns.b.budget_per_week": curve("campaigns.b.budget_per_week", [100], [30]),
    }
    p = problem(curves, budget=1000.0, weeks=1.0)
    sol = solve(build_model(p, "min-cost", 9000.0))
    # cheapest: a's first piece (5000), then b (3000), then 50 of a's second piece (1000)
    assert sol.revenue == pytest.approx(9000.0)
    assert sol.spend == pytest.approx({"a": 150.0, "b": 100.0})


def test_integer_quotas_are_whole_numbers_and_report_the_solver_status():
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [3.0], [1e5]
        )
    }
    p = problem(outbound_curves=curves, hours=10.0, integer_quotas=True)
    sol = solve(build_model(p, "max-margin", None), "highs")
    assert sol.quota["team"] == pytest.approx(3.0)
    assert sol.status.startswith("optimal")
    p = problem(outbound_curves=curves, hours=7.0, integer_quotas=True)  # 7 / 3 h: 2 whole
    sol = solve(build_model(p, "max-margin", None), "cbc")
    assert sol.quota["team"] == pytest.approx(2.0)


def test_evaluate_accounts_for_a_fixed_plan_without_optimising():
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [1.0], [1e6]
        )
    }
    p = problem(outbound_curves=curves, hours=1.0)  # 0.5 per week would need 1.5 h: overloaded
    sol = evaluate(p, {"leads.outbound.opportunities_per_rep_week[S1]": 0.5})
    assert sol.quota["team"] == pytest.approx(0.5)
    assert sol.revenue == pytest.approx(5e5)


# --------------------------------------------------------------------------- curves
def test_concave_fit_is_concave_and_exact_on_concave_points():
    x = [0, 1, 2, 4]
    y = [0, 3, 5, 6]
    assert concave_fit(x, y) == pytest.approx(y)
    fitted = concave_fit([0, 1, 2, 3], [0, 1, 3, 3.5])  # a convex kink is smoothed out
    slopes = np.diff(fitted)
    assert np.all(np.diff(slopes) <= 1e-9)


def test_pilot_points_give_a_curve_through_today():
    c = curve_from_points(
        "k",
        "u",
        2.0,
        [(2.0, 0.0, 0.0), (0.0, -5.0, 0.5), (1.0, -2.0, 0.5), (4.0, 2.5, 0.5)],
        "pilot",
    )
    assert c.value(2.0) == pytest.approx(0.0)
    assert c.lo == 0.0 and c.hi == 4.0
    assert all(b <= a + 1e-9 for a, b in zip(c.slopes, c.slopes[1:], strict=False))


def test_judgement_curve_callplan_points_relative_to_today():
    c = judgement_curve(
        "campaigns.w.budget_per_week",
        "EUR per week",
        2000.0,
        [0.9, 0.96, 1.0, 1.02, 1.03],
        base_revenue=1e7,
    )
    assert c.levels == (0.0, 1000.0, 2000.0, 3000.0, 6000.0)
    assert c.value(2000.0) == pytest.approx(0.0)
    assert c.value(0.0) == pytest.approx(-1e6)
    assert c.note == "judgmental points"
    with pytest.raises(ValueError, match="not concave"):
        ResponseCurve("x", "u", (0.0, 1.0, 2.0), (0.0, 1.0, 3.0), 0.0, "judgement")
    assert math.isclose(c.opportunities_at(1.0), 0.0)


def test_whole_number_quotas_that_cannot_hold_are_explained():
    curves = {
        "leads.outbound.opportunities_per_rep_week[S1]": curve(
            "leads.outbound.opportunities_per_rep_week[S1]", [3.0], [1e5]
        )
    }
    base = problem(outbound_curves=curves, integer_quotas=True, fairness_band=0.1)
    # two groups whose hours allow 1.5 and 2.5 opportunities a week: with a 10% band around
    # their mean no pair of whole numbers fits, though fractional quotas do
    groups = (RepGroup("a", ("a",), 4.5), RepGroup("b", ("b",), 7.5))
    p = replace(base, groups=groups, quota_bounds=(1.5, None))
    with pytest.raises(InfeasiblePlan, match="no plan has whole-number quotas"):
        solve(build_model(p, "max-margin", None))
    sol = solve(build_model(replace(p, integer_quotas=False), "max-margin", None))
    assert sol.quota["a"] == pytest.approx(sol.quota["b"], rel=0.25)
