"""``pipesim required``: the smallest value of one lever at which P(target) reaches a confidence.

The search runs on a grid ``today + k * step`` of the lever. Every grid point is simulated with
the same root seed (common random numbers): replication ``i`` meets the same buyers at every
value, so the estimated P(target) moves with the lever rather than with sampling noise and is
(almost always) monotone. This is a sample-average-approximation root search: bracket by
doubling the step count away from today, then bisect until two neighbouring grid points
straddle the confidence. The answer is the upper one; the one below it was simulated too and
falls short, which is what shows the answer is the smallest that works.

That is so in the sample; whether it is so in the model is a question of precision. The answer
is **resolved** when the answer's 95% interval of P(target) lies at or above the confidence (it
reaches it) and the step below's lies below it (it does not). Until then replications are added
at the answer and the step below, doubling their number up to ``max_replications``; the added
replications continue the same seed sequence (replication ``i`` keeps its seed), so common
random numbers hold at every size. When an estimate crosses the confidence as replications are
added, the answer moves one step and the search goes on there. The result says which: resolved
with N replications, or not resolved at the limit, and whether the answer could then be one
step lower (the step below's interval reaches the confidence) or higher (the answer's interval
reaches below it). The paired difference of P(target) between the answer and the step below
(same replications) is reported with its interval: it says whether the two steps differ, not
where the confidence lies between them.

Levers:

* ``new_opportunities_per_rep_week`` (alias ``leads.outbound.opportunities_per_rep_week``):
  the outbound opportunities each rep opens per week on top of today's leads. The answer is
  reported on the scale of ``replications.csv``'s ``new_opportunities_per_rep_week`` column:
  opportunities opened within the horizon, not the open pipeline, per rep seat per week, the
  measure of the report's leading indicator "new opportunities needed"
  (:func:`pipesim.results.deals.indicators`), measured at the answer and today. That indicator,
  from today's run, is carried in the result for comparison.
* ``reps.count``: seats; new seats are new hires who ramp up (``reps.ramp_weeks``) unless
  ``hires="ramped"``.
* ``campaigns.<name>.budget_per_week``: a campaign's weekly budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipesim.optimise.levers import apply_overlay
from pipesim.optimise.text import number, pct
from pipesim.results.statistics import paired_difference, wilson_interval
from pipesim.runs.executors import iterate_replications
from pipesim.runs.runner import run
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]
OUTBOUND_LEVERS = ("new_opportunities_per_rep_week", "leads.outbound.opportunities_per_rep_week")

DEFAULT_MAX_REPLICATIONS = 3200
"""Most replications at the answer and the step below while resolving (8 x the default 400)."""

INDICATOR_KEYS = (
    "new_opportunities_per_rep_week",
    "bookings_per_new_opportunity",
    "gap_after_open_pipeline",
)
"""The leading indicators (``summary.json`` -> ``indicators``) of today's run kept in the result."""

_COLUMNS = ("replication", "hit_target", "revenue", "new_opportunities_per_rep_week")


class BadLever(ValueError):
    """The lever name or its search settings cannot be used (bad input)."""


class TargetUnreachable(Exception):
    """Even the largest value searched does not reach the confidence."""

    def __init__(self, message: str, result: RequiredResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Evaluation:
    """One simulated lever value."""

    value: float
    p_target: dict[str, float]
    revenue_mean: float
    new_opportunities: float  # mean of new_opportunities_per_rep_week
    replications: int = 0

    @property
    def p(self) -> float:
        """Estimated P(target)."""
        return float(self.p_target["estimate"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "value": self.value,
            "p_target": self.p,
            "p_target_low": self.p_target["ci_low"],
            "p_target_high": self.p_target["ci_high"],
            "revenue_mean": self.revenue_mean,
            "new_opportunities_per_rep_week": self.new_opportunities,
            "replications": self.replications,
        }


@dataclass(frozen=True)
class Resolution:
    """Whether the answer is resolved, with how many replications, and which way it could move.

    ``lower``: the step below's 95% interval reaches the confidence (the answer could be one step
    lower). ``higher``: the answer's 95% interval reaches below it (the answer could be one step
    higher). Resolved when neither. ``difference`` is the paired P(answer) - P(step below) over
    the same replications, with its 95% interval (None without a step below).
    """

    resolved: bool
    replications: int
    limit: int
    lower: bool
    higher: bool
    difference: tuple[float, float, float] | None = None

    def text(self) -> str:
        """``resolved with N replications`` or ``not resolved at the limit of N ...``."""
        if self.resolved:
            return f"resolved with {self.replications:,} replications"
        way = " or ".join(w for w, on in (("lower", self.lower), ("higher", self.higher)) if on)
        return (
            f"not resolved at the limit of {self.limit:,} replications: the answer could be one "
            f"step {way}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = self.difference
        return {
            "resolved": self.resolved,
            "replications": self.replications,
            "max_replications": self.limit,
            "could_be_one_step_lower": self.lower,
            "could_be_one_step_higher": self.higher,
            "paired_difference_below": None
            if d is None
            else {"estimate": d[0], "ci_low": d[1], "ci_high": d[2]},
            "text": self.text(),
        }


@dataclass
class RequiredResult:
    """The answer of a search, today's value, and every point simulated."""

    lever: str
    kind: str
    unit: str
    confidence: float
    replications: int
    seed: int
    step: float
    today: Evaluation
    answer: Evaluation | None = None
    below: Evaluation | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    scenario: str = ""
    target: float = 0.0
    currency: str = "EUR"
    hires: str = "ramping"
    resolution: Resolution | None = None
    max_replications: int = DEFAULT_MAX_REPLICATIONS
    indicators: dict[str, float | None] | None = None  # today's run; None without open pipeline

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (``pipesim required --json``)."""

        def ev(e: Evaluation | None) -> dict[str, Any] | None:
            return None if e is None else e.as_dict()

        return {
            "scenario": self.scenario,
            "lever": self.lever,
            "unit": self.unit,
            "confidence": self.confidence,
            "target": self.target,
            "currency": self.currency,
            "seed": self.seed,
            "step": self.step,
            "replications": self.replications,
            "max_replications": self.max_replications,
            "hires": self.hires if self.kind == "reps" else None,
            "answer": ev(self.answer),
            "below": ev(self.below),
            "today": ev(self.today),
            "resolution": None if self.resolution is None else self.resolution.as_dict(),
            "report_indicators": self.indicators,
            "evaluations": [e.as_dict() for e in self.evaluations],
        }


@dataclass(frozen=True)
class _Lever:
    key: str
    kind: str  # outbound, reps, campaign
    unit: str
    today: float
    step: float
    lowest: float
    highest: float
    campaign: str = ""


def _lever(scenario: Scenario, name: str, step: float | None, maximum: float | None) -> _Lever:
    cur = scenario.economics.currency
    if name in OUTBOUND_LEVERS:
        today = scenario.leads.outbound.opportunities_per_rep_week
        lever = _Lever(
            "leads.outbound.opportunities_per_rep_week",
            "outbound",
            "opportunities per rep per week",
            today,
            step or 0.25,
            0.0,
            maximum if maximum is not None else max(20.0, 4 * today),
        )
    elif name == "reps.count":
        seats = scenario.reps.seats
        lever = _Lever(
            "reps.count",
            "reps",
            "reps",
            float(seats),
            step or 1.0,
            1.0,
            maximum if maximum is not None else float(max(4 * seats, seats + 20)),
        )
        if lever.step != int(lever.step):
            raise BadLever("--step for reps.count must be a whole number")
    elif name.startswith("campaigns.") and name.endswith(".budget_per_week"):
        camp = name[len("campaigns.") : -len(".budget_per_week")]
        if camp not in scenario.campaigns:
            raise BadLever(
                f"unknown campaign {camp!r} in {name}; allowed: "
                + (", ".join(scenario.campaigns) or "(none defined)")
            )
        today = scenario.campaigns[camp].budget_per_week
        default_step = max(100.0, round(0.1 * today, -2)) if today > 0 else 500.0
        lever = _Lever(
            name,
            "campaign",
            f"{cur} per week",
            today,
            step or default_step,
            0.0,
            maximum if maximum is not None else max(20 * today, 50_000.0),
            camp,
        )
    else:
        raise BadLever(
            f"unknown lever {name!r}; allowed: new_opportunities_per_rep_week, reps.count, "
            + ", ".join(f"campaigns.{c}.budget_per_week" for c in scenario.campaigns)
        )
    if lever.step <= 0:
        raise BadLever("--step must be positive")
    if lever.highest <= lever.today:
        raise BadLever(f"--max ({lever.highest:g}) must be above today's value ({lever.today:g})")
    return lever


def _what_if(scenario: Scenario, lever: _Lever, value: float, hires: str) -> Scenario:
    if lever.kind == "outbound":
        return apply_overlay(
            scenario, {"leads": {"outbound": {"opportunities_per_rep_week": round(value, 6)}}}
        )
    if lever.kind == "campaign":
        return apply_overlay(
            scenario, {"campaigns": {lever.campaign: {"budget_per_week": round(value, 2)}}}
        )
    count = round(value)
    spec = scenario.reps
    members: list[dict[str, Any]] = [
        m.model_dump(exclude_none=True) for m in (spec.members or [])
    ] or [{"name": f"rep{k + 1:02d}"} for k in range(spec.seats)]
    if count <= len(members):
        members = members[:count]
    else:
        for k in range(count - len(members)):
            hire: dict[str, Any] = {"name": f"hire{k + 1:02d}"}
            if hires == "ramping":
                hire["tenure_weeks"] = 0.0
            members.append(hire)
    return apply_overlay(scenario, {"reps": {"members": members}})


def _evaluation(value: float, table: pd.DataFrame) -> Evaluation:
    """P(target) with its Wilson interval (as in ``summary.json``), mean revenue and rate."""
    n = len(table)
    hits = int(table["hit_target"].astype(bool).sum())
    lo, hi = wilson_interval(hits, n)
    p: dict[str, Any] = {
        "estimate": hits / n,
        "ci_low": lo,
        "ci_high": hi,
        "method": "wilson",
        "level": 0.95,
    }
    return Evaluation(
        value,
        p,
        float(table["revenue"].to_numpy(dtype=float).mean()),
        float(table["new_opportunities_per_rep_week"].mean()),
        n,
    )


class _Grid:
    """The simulated grid values ``today + k * step``: each one's replications, grown on demand."""

    def __init__(
        self,
        scenario: Scenario,
        lever: _Lever,
        hires: str,
        seed: int,
        workers: int,
        echo: Echo | None,
    ) -> None:
        self.scenario, self.lever, self.hires = scenario, lever, hires
        self.seed, self.workers, self.echo = seed, workers, echo
        self.tables: dict[int, pd.DataFrame] = {}
        self.evals: dict[int, Evaluation] = {}
        self.indicators: dict[str, float | None] | None = None

    def value(self, k: int) -> float:
        return self.lever.today + k * self.lever.step

    def evaluate(self, k: int, n: int) -> Evaluation:
        """Grid value ``k`` with at least ``n`` replications (replications ``0 .. n - 1``)."""
        have = len(self.tables[k]) if k in self.tables else 0
        if have >= n:
            return self.evals[k]
        v = self.value(k)
        what_if = _what_if(self.scenario, self.lever, v, self.hires)
        if not have:
            res = run(what_if, n, self.seed, self.workers)
            table = res.table.loc[:, list(_COLUMNS)]
            if k == 0 and res.summary.get("indicators"):
                ind = res.summary["indicators"]
                self.indicators = {key: ind.get(key) for key in INDICATOR_KEYS}
        else:  # continue the same seed sequence: replication i keeps its seed
            seeds = replication_seeds(self.seed, n - have, start=have)
            rows = [r.row for r in iterate_replications(what_if, seeds, self.workers, start=have)]
            added = pd.DataFrame(rows).loc[:, list(_COLUMNS)]
            table = pd.concat([self.tables[k], added], ignore_index=True)
        self.tables[k] = table
        ev = self.evals[k] = _evaluation(v, table)
        if self.echo:
            more = f" ({n:,} replications)" if have else ""
            self.echo(
                f"  {self.lever.key} = {number(v, 3)}: P(target) = {pct(ev.p)} "
                f"(95% CI {pct(ev.p_target['ci_low'])}-{pct(ev.p_target['ci_high'])}){more}"
            )
        return ev


def _resolution(grid: _Grid, hi: int, lo: int | None, confidence: float, limit: int) -> Resolution:
    answer = grid.evals[hi]
    higher = answer.p_target["ci_low"] < confidence
    lower, diff = False, None
    if lo is not None:
        lower = grid.evals[lo].p_target["ci_high"] >= confidence
        below, at = (grid.tables[k]["hit_target"].astype(float) for k in (lo, hi))
        est, (low, high), _, _ = paired_difference(below.to_numpy(), at.to_numpy())
        diff = (est, low, high)
    return Resolution(not (lower or higher), answer.replications, limit, lower, higher, diff)


def required(
    scenario: Scenario,
    lever_name: str,
    confidence: float = 0.8,
    replications: int = 400,
    seed: int = 0,
    workers: int = 1,
    step: float | None = None,
    maximum: float | None = None,
    hires: str = "ramping",
    echo: Echo | None = None,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
) -> RequiredResult:
    """Find the smallest grid value of the lever with simulated P(target) >= ``confidence``.

    Every value runs ``replications`` replications; then, until the answer is resolved (see the
    module docstring), replications are added at the answer and the step below, doubling up to
    ``max_replications`` (equal to ``replications``: none added). ``result.resolution`` says
    which.

    Raises
    ------
    BadLever
        Unknown lever or unusable step/maximum/replications.
    TargetUnreachable
        P(target) stays below the confidence up to the maximum searched.
    """
    lever = _lever(scenario, lever_name, step, maximum)
    if max_replications < replications:
        raise BadLever(
            f"--max-replications ({max_replications}) must be at least --replications "
            f"({replications})"
        )
    grid = _Grid(scenario, lever, hires, seed, workers, echo)

    k_min = -math.floor((lever.today - lever.lowest) / lever.step + 1e-9)
    k_max = math.floor((lever.highest - lever.today) / lever.step + 1e-9)
    result = RequiredResult(
        lever.key,
        lever.kind,
        lever.unit,
        confidence,
        replications,
        seed,
        lever.step,
        grid.evaluate(0, replications),
        scenario=scenario.name,
        target=scenario.target.revenue,
        currency=scenario.economics.currency,
        hires=hires,
        max_replications=max_replications,
        indicators=grid.indicators,
    )

    def works(k: int, n: int = replications) -> bool:
        return grid.evaluate(k, n).p >= confidence

    def unreachable(k: int) -> TargetUnreachable:
        result.evaluations = [grid.evals[i] for i in sorted(grid.evals)]
        last = grid.evals[k]
        return TargetUnreachable(
            f"even at {lever.key} = {number(last.value, 3)} ({lever.unit}) P(target) is "
            f"only {pct(last.p)} (95% CI {pct(last.p_target['ci_low'])}-"
            f"{pct(last.p_target['ci_high'])}, {last.replications:,} replications), below "
            f"{pct(confidence, 0)}: this lever alone does not reach the target; search further "
            f"with --max",
            result,
        )

    lo: int | None
    hi: int | None
    if works(0):  # search down for the smallest value that still works
        hi, lo, d = 0, None, 1
        while lo is None:
            k = max(-d, k_min)
            if works(k):
                hi = k
                if k == k_min:
                    break
                d *= 2
            else:
                lo = k
    else:  # search up
        lo, hi, d = 0, None, 1
        while hi is None:
            k = min(d, k_max)
            if works(k):
                hi = k
            elif k == k_max:
                raise unreachable(k)
            else:
                lo = k
                d *= 2
    assert hi is not None
    while lo is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid

    # resolve: add replications at the answer and the step below (same seed sequence)
    n = replications
    resolution = _resolution(grid, hi, lo, confidence, max_replications)
    while not resolution.resolved and n < max_replications:
        n = min(2 * n, max_replications)
        if echo:
            echo(
                f"  not resolved with {grid.evals[hi].replications:,} replications: the answer "
                f"and the step below continue to {n:,}"
            )
        grid.evaluate(hi, n)
        if lo is not None:
            grid.evaluate(lo, n)
        while not works(hi, n):  # the answer falls short with more replications: one step up
            if hi >= k_max:
                raise unreachable(hi)
            lo, hi = hi, hi + 1
        while lo is not None and works(lo, n):  # the step below reaches it: one step down
            hi, lo = lo, (lo - 1 if lo > k_min else None)
        resolution = _resolution(grid, hi, lo, confidence, max_replications)

    result.answer = grid.evals[hi]
    result.below = grid.evals[lo] if lo is not None else None
    result.today = grid.evals[0]
    result.resolution = resolution
    result.evaluations = [grid.evals[i] for i in sorted(grid.evals)]
    return result
