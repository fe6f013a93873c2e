"""How the optimiser spends replications, unit by unit.

(The command end to end: tests/test_optimise_replications.py.) The shared store grows a
scenario's sample continuing its seeds and never repeats one; a pilot point gets replications
from its curve's paired variance, not a fixed count, and finer where a plan sits; levels further
out are simulated only where a plan reaches a curve's end; a plan's check stops as soon as
P(target) is resolved against the confidence and says when it stopped at its limit unresolved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipesim.engine.summary import outcome_columns
from pipesim.optimise.design import Piece, PilotDesign, PilotPoint, _pieces, _wanted
from pipesim.optimise.levers import Lever, levers_of
from pipesim.optimise.loop import check_plan
from pipesim.optimise.sampling import Replications, difference_interval
from pipesim.optimise.settings import OptimiseSettings, Pilot
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
PAID = "campaigns.paid_search.budget_per_week"
BASE = load_scenario(BASELINE)
OUT_S4 = "leads.outbound.opportunities_per_rep_week[S4]"


def test_replications_grown_in_steps_equal_one_run_and_are_not_repeated():
    scenario = load_scenario(BASELINE)
    store = Replications(seed=3, workers=1)
    assert store.ensure([(scenario, 2)]) == 2
    assert store.ensure([(scenario, 2), (scenario.model_copy(), 1)]) == 0  # same content
    assert store.ensure([(scenario, 4)]) == 2  # only the missing two
    assert store.simulated == 4
    direct = run(scenario, 4, seed=3, workers=1).table
    mine = store.table(scenario)
    assert mine["revenue"].tolist() == direct["revenue"].tolist()
    assert mine["hit_target"].astype(bool).tolist() == direct["hit_target"].astype(bool).tolist()


def _point(level: float, lever: Lever) -> PilotPoint:
    return PilotPoint(lever, level, BASE)


def test_a_pilot_point_gets_replications_from_its_paired_variance():
    lever = Lever("x", "campaign", "x", "EUR per week", 1.0)
    points = [_point(0.0, lever), _point(2.0, lever)]
    rng = np.random.default_rng(0)
    today = 20e6 + rng.normal(0, 2e6, 60)  # replications differ a lot...
    quiet = today[:10] - 1e6 + rng.normal(0, 1e4, 10)  # ...but this change is the same in each
    noisy = today[:10] + 1e6 + rng.normal(0, 2e6, 10)  # this one is not
    settings = Pilot(first_replications=10, replications=60)
    aim = 0.025 * 20e6  # standard_error x today's mean revenue
    pieces = _pieces(points, today, {0: quiet, 1: noisy})
    by_ends = {(p.a, p.b): p for p in pieces}
    assert by_ends[(0, None)].se < aim  # paired: precise with 10 replications
    assert by_ends[(None, 1)].se > aim
    aims = {p.key: aim for p in pieces}
    want = _wanted(pieces, {0: 10, 1: 10}, settings, aims)
    assert want[0] == 10  # the quiet point stops at its first round
    sd = by_ends[(None, 1)].sd
    assert want[1] == min(60, max(int(np.ceil((sd / aim) ** 2)), 20)) > 10
    # a finer aim for a piece the plan sits on asks more of the quiet point too
    finer = {**aims, by_ends[(0, None)].key: by_ends[(0, None)].se / 2}
    assert _wanted(pieces, {0: 10, 1: 10}, settings, finer)[0] > 10
    # at the limit nothing more is asked, whatever the variance
    assert _wanted(pieces, {0: 60, 1: 60}, settings, aims) == {0: 60, 1: 60}


def test_a_piece_between_two_points_is_as_precise_as_its_estimate():
    lever = Lever("x", "campaign", "x", "EUR per week", 0.0)
    rng = np.random.default_rng(1)
    today = rng.normal(20e6, 2e6, 40)
    a = today[:40] + 1e6 + rng.normal(0, 3e5, 40)
    b = today[:10] + 2e6 + rng.normal(0, 3e5, 10)
    points = [_point(1.0, lever), _point(2.0, lever)]
    piece = next(p for p in _pieces(points, today, {0: a, 1: b}) if p.a == 0 and p.b == 1)
    # the curve's change from a to b is mean(b - today) - mean(a - today), over 10 and 40
    _, low, high = difference_interval(b - today[:10], a - today, z=1.0)
    assert piece.se == pytest.approx((high - low) / 2)
    assert isinstance(piece, Piece)


def test_levels_further_out_are_simulated_only_where_a_plan_reaches_a_curves_end():
    scenario = load_scenario(BASELINE)
    paid = [lv for lv in levers_of(scenario) if lv.key == PAID]
    store = Replications(seed=0, workers=1)
    design = PilotDesign(scenario, paid, Pilot(first_replications=3, replications=6), store)
    level = {j: design.points[j].level for j in range(len(design.points))}
    assert sorted(level.values()) == [0.0, 1250.0, 5000.0]
    # the nearest level on each side of today (2,500) first
    assert sorted(level[j] for j in design.n) == [1250.0, 5000.0]
    store.ensure([(scenario, 3), *design.wants()])
    # a plan inside the curve: nothing further out, the piece it sits on gets the finer aim
    assert design.follow({PAID: 2000.0})
    assert sorted(level[j] for j in design.n) == [1250.0, 5000.0]
    assert [(level.get(a), level.get(b)) for _, a, b in design.focus] == [(1250.0, None)]
    # at the top of the design: no level beyond; at the lowest measured level: the next one down
    design.follow({PAID: 5000.0})
    assert sorted(level[j] for j in design.n) == [1250.0, 5000.0]
    assert design.follow({PAID: 1250.0})
    assert sorted(level[j] for j in design.n) == [0.0, 1250.0, 5000.0]
    assert not design.complete()  # every level simulated now
    assert store.simulated == 3 + 2 * 3  # follow() only plans; measure() simulates


def test_difference_interval_pairs_the_shared_replications():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 10, 400)
    a = base + 1 + rng.normal(0, 0.1, 400)
    # equal lengths: the paired interval of a - base
    est, low, high = difference_interval(a, base)
    d = a - base
    half = 1.959964 * d.std(ddof=1) / np.sqrt(d.size)
    assert est == pytest.approx(d.mean())
    assert (high - low) / 2 == pytest.approx(half, rel=1e-4)
    # far narrower than if the two samples were independent
    independent = 1.959964 * np.sqrt(a.var(ddof=1) / 400 + base.var(ddof=1) / 400)
    assert (high - low) / 2 < independent / 10
    # a shorter sample: the shared pairs count, the rest of the longer one is independent
    est, low, high = difference_interval(a[:100], base)
    assert est == pytest.approx(a[:100].mean() - base.mean())
    assert low < est < high


class _FakeStore:
    """A store whose plan reaches the target in a fixed pattern of replications."""

    def __init__(self, pattern: list[bool]) -> None:
        self.pattern = pattern
        self.asked: list[int] = []

    def count(self, scenario: Scenario) -> int:
        return 0

    def ensure(self, wants: list[tuple[Scenario, int]]) -> int:
        self.asked.extend(n for _, n in wants)
        return 0

    def table(self, scenario: Scenario, n: int | None = None) -> pd.DataFrame:
        assert n is not None
        hits = [self.pattern[i % len(self.pattern)] for i in range(n)]
        table = pd.DataFrame(0.0, index=range(n), columns=outcome_columns(scenario))
        table["replication"] = range(n)
        table["hit_target"] = hits
        table["revenue"] = [25e6 if h else 20e6 for h in hits]
        return table


def test_the_check_stops_as_soon_as_it_is_resolved():
    scenario = load_scenario(BASELINE)
    settings = OptimiseSettings(confidence=0.8)
    store = _FakeStore([True])
    check = check_plan("plan 1", scenario, settings, store)  # type: ignore[arg-type]
    assert store.asked == [30] and check.replications == 30 and check.resolved
    assert check.resolution() == "resolved with 30 replications (95% CI at or above 80%)"
    store = _FakeStore([True, False])  # 50%: resolved below 80% at once too
    check = check_plan("plan 1", scenario, settings, store)  # type: ignore[arg-type]
    assert store.asked == [30] and "below 80%" in check.resolution()


def test_the_check_doubles_up_to_its_limit_and_says_when_unresolved():
    scenario = load_scenario(BASELINE)
    settings = OptimiseSettings(confidence=0.8)
    store = _FakeStore([True, True, True, True, False])  # exactly 80%
    check = check_plan("plan 1", scenario, settings, store)  # type: ignore[arg-type]
    assert store.asked == [30, 60, 120, 240, 400]
    assert check.replications == 400 and not check.resolved
    assert check.resolution().startswith(
        "not resolved at the limit of 400 replications (optimise.loop.replications)"
    )
