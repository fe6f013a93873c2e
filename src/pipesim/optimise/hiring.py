"""``pipesim hiring``: when to hire how many reps, at least cost, to be sure enough of the target.

A *schedule* is a start month for each new hire (months from ``target.start_date``; at most
``max_hires_per_month`` in a month). It is written as a plan layer: the team restated as
``reps.members`` (so existing seats keep their random numbers) plus one member per hire with
``start_week`` (:data:`WEEKS_PER_MONTH` weeks a month): the engine leaves the seat empty until
then, and the hire ramps up (``reps.ramp_start``, ``reps.ramp_weeks``), may leave and is
backfilled (``reps.attrition_per_year``, ``reps.backfill_weeks``) as the scenario sets them.

**Target periods.** The scenario has one target period: ``target.revenue`` over
``target.horizon_weeks`` from ``target.start_date``. It is in the hiring horizon when it ends
within ``horizon_months``; a horizon that holds no period is bad input. Hires can start in the
months before the period ends (a later start cannot help it); their salaries run to the end of the
hiring horizon.

**Cost.** A hire starting in month ``m`` costs ``reps.hours_per_week x reps.cost_per_hour`` a week
from its start to the end of the hiring horizon, plus the recruiting cost (``--cost-per-hire``,
default :data:`RECRUITING_SHARE` of a year's loaded cost of a rep).

**Search** (every schedule simulated on the same seeds: common random numbers, so P(target) moves
with the schedule, not with sampling noise):

1. the fewest hires ``k`` that reach the confidence when they start as early as the monthly limit
   allows (doubling, then bisection; P(target) rises with hires on common random numbers);
2. for ``k`` and ``k + 1`` hires, each hire from the last to the first starts as late as keeps
   P(target) at the confidence (bisection over the months); a hire the sample does not need
   (P(target) stays at the confidence without it: the rise with hires is not strict on a
   finite sample) is dropped and the rest delayed again (:func:`_prune`); the cheaper schedule
   is kept;
3. the kept schedule is checked: P(target) with its Wilson interval against the confidence
   ("not resolved" when it contains it), and each hire removed in turn (the plan is minimal when
   every one of these falls below the confidence).

If even the most hires the limit allows, each as early as possible, fall short,
:class:`NoHiringPlan` says how far and what binds (the monthly limit, the ramp, the period's end).

The deterministic effective headcount (capacity-planning practice: each seat's expected
productivity week by week with the ramp, the attrition hazard and the backfill delay as expected
values) is shown beside the simulated one (the same seats in the engine's replications).
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipesim.engine.model import simulate
from pipesim.optimise.levers import apply_overlay
from pipesim.optimise.sampling import Replications
from pipesim.results.statistics import wilson_interval
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]

WEEKS_PER_MONTH = 52.0 / 12.0
"""Weeks in a month of the hiring plan (a year of 52 weeks in 12 months)."""
DEFAULT_MAX_HIRES_PER_MONTH = 2
"""Most new reps starting in one month (``--max-hires-per-month``): judgement, what a sales
manager can interview, onboard and coach at once."""
RECRUITING_SHARE = 0.2
"""Default recruiting cost of one hire as a share of a year's fully loaded cost of a rep
(``--cost-per-hire``): judgement, the low end of the 20-30% of first-year pay agency placement
fees are commonly quoted at; internal recruiting costs less."""
DEFAULT_REPLICATIONS = 200
"""Replications per schedule (``-n``)."""
SIMULATED_CAPACITY_REPLICATIONS = 20
"""Replications whose seats give the simulated effective headcount beside the deterministic."""


class HiringError(ValueError):
    """Bad input for a hiring plan (exit 2): what is wrong and what is allowed."""


class NoHiringPlan(Exception):
    """No schedule within the limits reaches the confidence (exit 3): how far, what binds."""


@dataclass(frozen=True)
class HiringSettings:
    """The question: horizon, confidence, limits and costs, and the simulation's size."""

    horizon_months: int
    confidence: float = 0.8
    max_hires_per_month: int = DEFAULT_MAX_HIRES_PER_MONTH
    cost_per_hire: float | None = None
    replications: int = DEFAULT_REPLICATIONS
    seed: int = 0
    workers: int | None = None


@dataclass(frozen=True)
class Period:
    """A target period: ``revenue`` to book from week ``start`` to week ``end``."""

    start_week: float
    end_week: float
    revenue: float

    @property
    def end_month(self) -> float:
        """The period's end in months of the plan."""
        return self.end_week / WEEKS_PER_MONTH


@dataclass(frozen=True)
class Evaluation:
    """A schedule simulated on the shared seeds: P(target) with its Wilson interval."""

    months: tuple[int, ...]
    successes: int
    replications: int
    mean_revenue: float
    cost: float

    @property
    def p(self) -> float:
        """Estimated P(target)."""
        return self.successes / self.replications

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval of P(target)."""
        return wilson_interval(self.successes, self.replications)

    def resolution(self, confidence: float) -> str:
        """Whether the 95% interval lies on one side of the confidence."""
        low, high = self.interval
        conf = f"{confidence:.0%}"
        if low >= confidence:
            return f"resolved: the 95% CI is at or above {conf}"
        if high < confidence:
            return f"resolved: the 95% CI is below {conf}"
        return (
            f"not resolved: the 95% CI contains {conf} (the schedule could reach it or fall "
            "short; more replications: -n)"
        )

    def as_json(self, confidence: float) -> dict[str, Any]:
        """The evaluation for ``hiring.json``."""
        low, high = self.interval
        return {
            "hires": len(self.months),
            "start_months": list(self.months),
            "p_target": {"estimate": self.p, "ci_low": low, "ci_high": high},
            "replications": self.replications,
            "mean_revenue": self.mean_revenue,
            "cost": self.cost,
            "resolution": self.resolution(confidence),
        }


@dataclass
class HiringPlan:
    """What ``pipesim hiring`` found."""

    scenario: Scenario
    settings: HiringSettings
    period: Period
    months_allowed: int
    cost_per_hire: float
    cost_per_hire_source: str
    salary_per_week: float
    today: Evaluation
    plan: Evaluation
    without_one: list[tuple[int, Evaluation]]
    """Each distinct start month with one of its hires removed, and that schedule simulated."""
    overlay: dict[str, Any]
    evaluated: list[Evaluation] = field(default_factory=list)
    headcount: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        """Whether the schedule's estimated P(target) reaches the confidence."""
        return self.plan.p >= self.settings.confidence

    @property
    def minimal(self) -> bool:
        """Whether removing any one hire drops P(target) below the confidence."""
        return all(e.p < self.settings.confidence for _, e in self.without_one)


def target_period(scenario: Scenario, horizon_months: int) -> Period:
    """The scenario's target period, which must end within the hiring horizon (else bad input)."""
    t = scenario.target
    period = Period(0.0, t.horizon_weeks, t.revenue)
    if period.end_month > horizon_months + 1e-9:
        raise HiringError(
            f"--horizon-months {horizon_months}: the horizon holds no target period; the "
            f"scenario's target (target.revenue {t.revenue:,.0f} over target.horizon_weeks "
            f"{t.horizon_weeks:g} weeks from target.start_date {t.start_date}) ends in month "
            f"{period.end_month:.1f}: give at least {math.ceil(period.end_month - 1e-9)} months"
        )
    return period


def hire_overlay(scenario: Scenario, months: Sequence[int]) -> dict[str, Any]:
    """The plan layer of a schedule: the team restated, plus one member per hire."""
    spec = scenario.reps
    members: list[dict[str, Any]] = [
        m.model_dump(exclude_none=True) for m in (spec.members or [])
    ] or [{"name": name} for name in spec.labels()]
    taken = {m["name"] for m in members}
    k = 0
    for month in sorted(months):
        k += 1
        while f"hire{k:02d}" in taken:
            k += 1
        members.append({"name": f"hire{k:02d}", "start_week": round(month * WEEKS_PER_MONTH, 2)})
    return {"reps": {"members": members}}


def with_hires(scenario: Scenario, months: Sequence[int]) -> Scenario:
    """The scenario with the schedule's hires (validated as ``--plan`` validates)."""
    return apply_overlay(scenario, hire_overlay(scenario, months))


def earliest(k: int, per_month: int) -> tuple[int, ...]:
    """``k`` hires as early as ``per_month`` allows."""
    return tuple(j // per_month for j in range(k))


class _Search:
    """Schedules evaluated on the shared seeds (each simulated once)."""

    def __init__(
        self,
        scenario: Scenario,
        settings: HiringSettings,
        period: Period,
        cost: Callable[..., float],
    ) -> None:
        self.scenario, self.settings, self.period, self.cost = scenario, settings, period, cost
        workers = settings.workers or os.cpu_count() or 1
        self.store = Replications(settings.seed, workers)
        self.seen: dict[tuple[int, ...], Evaluation] = {}

    def __call__(self, months: Sequence[int]) -> Evaluation:
        key = tuple(sorted(months))
        hit = self.seen.get(key)
        if hit is not None:
            return hit
        sc = with_hires(self.scenario, key)
        n = self.settings.replications
        self.store.ensure([(sc, n)])
        revenue = self.store.revenue(sc, n)
        ev = Evaluation(
            key,
            int((revenue >= self.period.revenue).sum()),
            n,
            float(revenue.mean()),
            self.cost(key),
        )
        self.seen[key] = ev
        return ev

    def reaches(self, months: Sequence[int]) -> bool:
        return self(months).p >= self.settings.confidence


def _fewest(search: _Search, k_max: int, per_month: int) -> int | None:
    """The fewest hires reaching the confidence, as early as allowed (None: not even ``k_max``)."""
    if search.reaches(()):
        return 0
    if not search.reaches(earliest(k_max, per_month)):
        return None
    low, high = 0, 1  # low falls short, high (once found) reaches it
    while high < k_max and not search.reaches(earliest(high, per_month)):
        low, high = high, min(2 * high, k_max)
    while high - low > 1:
        mid = (low + high) // 2
        if search.reaches(earliest(mid, per_month)):
            high = mid
        else:
            low = mid
    return high


def _delay(search: _Search, months: list[int], allowed: int, per_month: int) -> tuple[int, ...]:
    """Each hire, from the last to the first, as late as keeps P(target) at the confidence."""
    months = sorted(months)
    for j in range(len(months) - 1, -1, -1):
        upper = months[j + 1] if j + 1 < len(months) else allowed - 1
        others = months[:j] + months[j + 1 :]
        options = [
            x for x in range(months[j], upper + 1) if others.count(x) < per_month or x == months[j]
        ]
        lo, hi = 0, len(options) - 1  # options[lo] is known to reach the confidence
        while lo < hi:
            mid = (lo + hi + 1) // 2
            trial = sorted([*others, options[mid]])
            if search.reaches(trial):
                lo = mid
            else:
                hi = mid - 1
        months = sorted([*others, options[lo]])
    return tuple(months)


def _prune(
    search: _Search,
    months: Sequence[int],
    allowed: int,
    per_month: int,
    cost: Callable[[Sequence[int]], float],
) -> tuple[int, ...]:
    """Drop hires the sample does not need, then start the rest as late as it allows.

    On common random numbers P(target) rises with hires and earlier starts, but not strictly:
    a schedule with one hire fewer, later, can still reach the confidence on the sample. Such a
    hire is dropped (the removal that saves most), the others delayed again, until removing any
    one hire falls short: the schedule is then minimal on the sample.
    """
    current = tuple(sorted(months))
    while current:
        fewer = [
            current[:j] + current[j + 1 :]
            for j in range(len(current))
            if j == 0 or current[j] != current[j - 1]
        ]
        enough = [t for t in fewer if search.reaches(t)]
        if not enough:
            return current
        cheapest = min(enough, key=lambda t: cost(t))
        current = _delay(search, list(cheapest), allowed, per_month)
    return current


def effective_headcount(
    scenario: Scenario, months: Sequence[int], weeks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic heads and effective headcount per week (capacity-planning practice).

    Each seat is a Markov chain on a weekly grid: occupied at some tenure (productivity from
    ``reps.ramp_start`` to 1 over ``reps.ramp_weeks``), leaving with the weekly probability of
    ``reps.attrition_per_year``, then vacant for ``reps.backfill_weeks`` before a new hire starts
    at tenure 0. Planned hires are vacant until their start week. Returns the expected number of
    reps in seat and the expected sum of their productivities, per week ``0 .. weeks - 1``.
    """
    spec = scenario.reps
    ramp = max(math.ceil(spec.ramp_weeks), 0)
    backfill = max(round(spec.backfill_weeks), 0)
    q = 1.0 - math.exp(-spec.attrition_per_year / 52.0)
    tenures = np.arange(ramp + 1, dtype=float)
    productivity = (
        np.minimum(spec.ramp_start + (1 - spec.ramp_start) * tenures / spec.ramp_weeks, 1.0)
        if spec.ramp_weeks > 0
        else np.ones(ramp + 1)
    )
    members = spec.members or []
    seats: list[tuple[float, float]] = []  # (start week, tenure weeks at start)
    for k in range(spec.seats):
        m = members[k] if k < len(members) else None
        tenure = m.tenure_weeks if m and m.tenure_weeks is not None else spec.tenure_weeks
        seats.append((0.0, tenure))
    seats += [(month * WEEKS_PER_MONTH, 0.0) for month in months]
    heads = np.zeros(weeks)
    effective = np.zeros(weeks)
    for start, tenure in seats:
        occupied = np.zeros(ramp + 1)  # by tenure bucket (the last: ramped)
        vacant = np.zeros(max(backfill, 1))  # by weeks left before the backfill starts
        first = math.ceil(start - 1e-9)
        if first == 0:
            occupied[min(int(tenure), ramp)] = 1.0
        for t in range(weeks):
            if t == first and first > 0:
                occupied[0] += 1.0
            heads[t] += occupied.sum()
            effective[t] += occupied @ productivity
            leaving = occupied.sum() * q
            stay = occupied * (1 - q)
            occupied = np.concatenate([[0.0], stay[:-2], [stay[-2:].sum()]]) if ramp else stay
            if backfill > 0:
                occupied[0] += vacant[0]
                vacant = np.concatenate([vacant[1:], [leaving]])
            else:
                occupied[0] += leaving
    return heads, effective


def simulated_headcount(scenario: Scenario, seed: int, replications: int) -> np.ndarray:
    """Mean effective headcount per week over ``replications`` of the engine (its own seats)."""
    weeks = math.floor(scenario.target.horizon_weeks)
    days = np.arange(weeks) * 7.0 + 3.5  # mid-week
    total = np.zeros(weeks)
    for rep_seed in replication_seeds(seed, replications):
        m = simulate(scenario, rep_seed)
        for rep in m.reps:
            gaps = sorted((a, b) for s, a, b in m.vacancies if s == rep.seat)
            prod = np.zeros(weeks)
            for w, day in enumerate(days):
                if any(a <= day < b for a, b in gaps):
                    continue
                ends = [b for a, b in gaps if b <= day]
                hired = max(ends) if ends else _initial_hire(scenario, rep.seat)
                since = day - hired
                if scenario.reps.ramp_weeks <= 0 or since >= scenario.reps.ramp_weeks * 7:
                    prod[w] = 1.0
                else:
                    r0 = scenario.reps.ramp_start
                    prod[w] = r0 + (1 - r0) * max(since, 0.0) / (scenario.reps.ramp_weeks * 7)
            total += prod
    return total / replications


def _initial_hire(scenario: Scenario, seat: int) -> float:
    members = scenario.reps.members or []
    m = members[seat] if seat < len(members) else None
    if m is not None and m.start_week is not None:
        return 7.0 * m.start_week
    tenure = m.tenure_weeks if m and m.tenure_weeks is not None else scenario.reps.tenure_weeks
    return -7.0 * tenure


def plan_hiring(
    scenario: Scenario, settings: HiringSettings, echo: Echo | None = None
) -> HiringPlan:
    """Search the least-cost schedule reaching the confidence (module docstring)."""
    say = echo or (lambda _s: None)
    if not 0 < settings.confidence < 1:
        raise HiringError(f"--confidence {settings.confidence:g}: must be between 0 and 1")
    if settings.max_hires_per_month < 1:
        raise HiringError("--max-hires-per-month must be at least 1")
    if scenario.teams:
        raise HiringError(
            f"scenario {scenario.name!r} has a teams block: every rep must be in a team and "
            "hiring does not assign hires to teams yet; plan hires on a scenario without teams"
        )
    period = target_period(scenario, settings.horizon_months)
    allowed = min(settings.horizon_months, math.ceil(period.end_month - 1e-9))
    spec = scenario.reps
    salary = spec.hours_per_week * spec.cost_per_hour
    if settings.cost_per_hire is not None:
        per_hire, source = settings.cost_per_hire, "--cost-per-hire"
    else:
        per_hire = RECRUITING_SHARE * 52 * salary
        source = (
            f"default: {RECRUITING_SHARE:.0%} of a year's loaded cost of a rep "
            "(reps.hours_per_week x reps.cost_per_hour x 52; agency placement fees are quoted "
            "at 20-30% of first-year pay)"
        )
    end_week = settings.horizon_months * WEEKS_PER_MONTH

    def cost(months: Sequence[int]) -> float:
        return sum(salary * (end_week - m * WEEKS_PER_MONTH) + per_hire for m in months)

    search = _Search(scenario, settings, period, cost)
    k_max = settings.max_hires_per_month * allowed
    n = settings.replications
    say(
        f"target period: weeks 0-{period.end_week:g} ({period.end_month:.1f} months), hires may "
        f"start in months 0-{allowed - 1} (at most {settings.max_hires_per_month} a month, "
        f"{k_max} in all); {n} replications per schedule, seed {settings.seed}"
    )
    today = search(())
    lo, hi = today.interval
    say(f"without hires: P(target) {today.p:.1%} (95% CI {lo:.1%}-{hi:.1%})")
    k = _fewest(search, k_max, settings.max_hires_per_month)
    if k is None:
        best = search(earliest(k_max, settings.max_hires_per_month))
        lo, hi = best.interval
        raise NoHiringPlan(
            f"no hiring schedule reaches P(target) {settings.confidence:.0%}: with the most "
            f"hires the limits allow, {k_max}, each as early as possible, P(target) is "
            f"{best.p:.1%} (95% CI {lo:.1%}-{hi:.1%}, {n} replications).\n"
            "binding:\n"
            f"  - --max-hires-per-month {settings.max_hires_per_month} over the {allowed} months "
            f"before the target period ends (month {period.end_month:.1f})\n"
            f"  - reps.ramp_weeks {spec.ramp_weeks:g} from reps.ramp_start {spec.ramp_start:g}: "
            "a hire is not fully productive for that long\n"
            f"  - reps.attrition_per_year {spec.attrition_per_year:g} with reps.backfill_weeks "
            f"{spec.backfill_weeks:g}: seats empty while replaced\n"
            "raise --max-hires-per-month, lower --confidence, or change the target"
        )
    say(f"fewest hires reaching it when hired as early as allowed: {k}")
    options = [earliest(k, settings.max_hires_per_month)]
    if 0 < k < k_max:
        more = earliest(k + 1, settings.max_hires_per_month)
        options.append(more)
    best_schedule: tuple[int, ...] = ()
    best_cost = math.inf
    for start in options:
        sched = _delay(search, list(start), allowed, settings.max_hires_per_month)
        sched = _prune(search, sched, allowed, settings.max_hires_per_month, cost)
        c = cost(sched)
        say(f"{len(sched)} hires as late as possible: months {list(sched)}, cost {c:,.0f}")
        if c < best_cost - 1e-6:
            best_schedule, best_cost = sched, c
    plan = search(best_schedule)
    without = [
        (best_schedule[j], search(best_schedule[:j] + best_schedule[j + 1 :]))
        for j in range(len(best_schedule))
        if j == 0 or best_schedule[j] != best_schedule[j - 1]
    ]
    overlay = hire_overlay(scenario, best_schedule)
    weeks = math.ceil(end_week)
    heads, effective = effective_headcount(scenario, best_schedule, weeks)
    _base_heads, base_effective = effective_headcount(scenario, (), weeks)
    simulated = simulated_headcount(
        with_hires(scenario, best_schedule), settings.seed, SIMULATED_CAPACITY_REPLICATIONS
    )
    rows = []
    for month in range(settings.horizon_months):
        w0 = math.floor(month * WEEKS_PER_MONTH)
        w1 = max(math.floor((month + 1) * WEEKS_PER_MONTH), w0 + 1)
        sim = simulated[w0:w1]
        rows.append(
            {
                "month": month,
                "hires": sum(1 for m in best_schedule if m == month),
                "headcount": float(heads[w0:w1].mean()),
                "effective_headcount": float(effective[w0:w1].mean()),
                "effective_headcount_without_plan": float(base_effective[w0:w1].mean()),
                "simulated_effective_headcount": float(sim.mean()) if sim.size else None,
            }
        )
    return HiringPlan(
        scenario,
        settings,
        period,
        allowed,
        per_hire,
        source,
        salary,
        today,
        plan,
        without,
        overlay,
        evaluated=list(search.seen.values()),
        headcount=rows,
    )


def hiring_json(plan: HiringPlan) -> dict[str, Any]:
    """The machine-readable answer (``hiring.json``, and the page's data)."""
    s = plan.settings
    sc = plan.scenario
    start = sc.target.start_date
    hires = []
    for k, month in enumerate(plan.plan.months):
        week = month * WEEKS_PER_MONTH
        hires.append(
            {
                "name": plan.overlay["reps"]["members"][sc.reps.seats + k]["name"],
                "month": month,
                "start_week": round(week, 2),
                "start_date": str(start + datetime.timedelta(days=round(week * 7.0))),
                "salary_cost": plan.salary_per_week * (s.horizon_months * WEEKS_PER_MONTH - week),
                "recruiting_cost": plan.cost_per_hire,
            }
        )
    return {
        "scenario": sc.name,
        "currency": sc.economics.currency,
        "confidence": s.confidence,
        "horizon_months": s.horizon_months,
        "max_hires_per_month": s.max_hires_per_month,
        "seed": s.seed,
        "replications": s.replications,
        "period": {
            "start_week": plan.period.start_week,
            "end_week": plan.period.end_week,
            "end_month": plan.period.end_month,
            "revenue": plan.period.revenue,
            "start_date": str(start),
        },
        "hire_months_searched": plan.months_allowed,
        "cost_per_hire": plan.cost_per_hire,
        "cost_per_hire_source": plan.cost_per_hire_source,
        "salary_per_week": plan.salary_per_week,
        "reached": plan.reached,
        "minimal": plan.minimal,
        "with_plan": plan.plan.as_json(s.confidence),
        "without_plan": plan.today.as_json(s.confidence),
        "without_one_hire": [
            {**e.as_json(s.confidence), "removed_month": m} for m, e in plan.without_one
        ],
        "hires": hires,
        "headcount": plan.headcount,
        "schedules_simulated": len(plan.evaluated),
    }
