"""``pipesim required``: the smallest value of one lever at which P(target) reaches a confidence.

The search runs on a grid ``today + k * step`` of the lever. Every grid point is simulated with
the same root seed (common random numbers): replication ``i`` meets the same buyers at every
value, so the estimated P(target) moves with the lever rather than with sampling noise and is
(almost always) monotone. This is a sample-average-approximation root search: bracket by
doubling the step count away from today, then bisect until two neighbouring grid points
straddle the confidence. The answer is the upper one; the one below it was simulated too and
falls short, which is what shows the answer is the smallest that works.

Levers:

* ``new_opportunities_per_rep_week`` (alias ``leads.outbound.opportunities_per_rep_week``):
  the outbound opportunities each rep opens per week on top of today's leads. The answer is
  reported on the scale of ``replications.csv``'s ``new_opportunities_per_rep_week`` column (all
  opportunities opened per seat per week), measured at the answer and today.
* ``reps.count``: seats; new seats are new hires who ramp up (``reps.ramp_weeks``) unless
  ``hires="ramped"``.
* ``campaigns.<name>.budget_per_week``: a campaign's weekly budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipesim.optimise.levers import apply_overlay
from pipesim.optimise.text import money, number, pct
from pipesim.runs.runner import run
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]
OUTBOUND_LEVERS = ("new_opportunities_per_rep_week", "leads.outbound.opportunities_per_rep_week")


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

    @property
    def p(self) -> float:
        """Estimated P(target)."""
        return float(self.p_target["estimate"])


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
) -> RequiredResult:
    """Find the smallest grid value of the lever with simulated P(target) >= ``confidence``.

    Raises
    ------
    BadLever
        Unknown lever or unusable step/maximum.
    TargetUnreachable
        P(target) stays below the confidence up to the maximum searched.
    """
    lever = _lever(scenario, lever_name, step, maximum)
    cache: dict[int, Evaluation] = {}

    def value(k: int) -> float:
        return lever.today + k * lever.step

    def evaluate(k: int) -> Evaluation:
        if k not in cache:
            v = value(k)
            res = run(_what_if(scenario, lever, v, hires), replications, seed, workers)
            ev = Evaluation(
                v,
                res.summary["p_target"],
                float(res.summary["revenue"]["mean"]),
                float(res.table["new_opportunities_per_rep_week"].mean()),
            )
            cache[k] = ev
            if echo:
                echo(
                    f"  {lever.key} = {number(v, 3)}: P(target) = {pct(ev.p)} "
                    f"(95% CI {pct(ev.p_target['ci_low'])}-{pct(ev.p_target['ci_high'])})"
                )
        return cache[k]

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
        evaluate(0),
        scenario=scenario.name,
        target=scenario.target.revenue,
        currency=scenario.economics.currency,
        hires=hires,
    )
    ok = result.today.p >= confidence
    if ok:  # search down for the smallest value that still works
        hi, lo, d = 0, None, 1
        while lo is None:
            k = max(-d, k_min)
            if evaluate(k).p >= confidence:
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
            if evaluate(k).p >= confidence:
                hi = k
            elif k == k_max:
                result.evaluations = [cache[i] for i in sorted(cache)]
                last = cache[k]
                raise TargetUnreachable(
                    f"even at {lever.key} = {number(last.value, 3)} ({lever.unit}) P(target) is "
                    f"only {pct(last.p)} (95% CI {pct(last.p_target['ci_low'])}-"
                    f"{pct(last.p_target['ci_high'])}), below {pct(confidence, 0)}: this lever "
                    f"alone does not reach the target; search further with --max",
                    result,
                )
            else:
                lo = k
                d *= 2
    assert hi is not None
    while lo is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        if evaluate(mid).p >= confidence:
            hi = mid
        else:
            lo = mid
    result.answer = cache[hi]
    result.below = cache.get(lo) if lo is not None else None
    result.evaluations = [cache[i] for i in sorted(cache)]
    return result


def _article(share: str) -> str:
    """``a`` or ``an`` before a spoken percentage (an 8x%, an 11%, an 18%)."""
    digits = share.split(".")[0].rstrip("%")
    return "an" if digits.startswith("8") or digits in ("11", "18") else "a"


def _ci(ev: Evaluation) -> str:
    return f"95% CI {pct(ev.p_target['ci_low'])}-{pct(ev.p_target['ci_high'])}"


def message(r: RequiredResult) -> str:
    """The answer in one sentence, then the point one step below and today's."""
    a, b, t = r.answer, r.below, r.today
    assert a is not None
    chance = f"{_article(pct(a.p, 0))} {pct(a.p, 0)} chance ({_ci(a)})"
    lines = []
    if r.kind == "outbound":
        lines.append(
            f"each rep needs {number(a.new_opportunities, 1)} new opportunities per week "
            f"(today {number(t.new_opportunities, 1)}) for {chance} of reaching "
            f"{money(r.target, r.currency)}"
        )
        lines.append(
            f"  = {number(a.value - t.value, 3)} more outbound opportunities per rep per week "
            f"(leads.outbound.opportunities_per_rep_week = {number(a.value, 3)}, today "
            f"{number(t.value, 3)}), measured as new_opportunities_per_rep_week"
        )
        if b is not None:
            lines.append(
                f"  one step below (leads.outbound.opportunities_per_rep_week = "
                f"{number(b.value, 3)}, {number(b.new_opportunities, 1)} new opportunities per "
                f"week): P(target) = {pct(b.p)} ({_ci(b)})"
            )
    elif r.kind == "reps":
        hires = "new hires ramp up" if r.hires == "ramping" else "new reps fully productive"
        lines.append(
            f"the team needs {int(a.value)} reps (today {int(t.value)}; {hires}) for {chance} "
            f"of reaching {money(r.target, r.currency)}"
        )
        if b is not None:
            lines.append(
                f"  one step below ({int(b.value)} reps): P(target) = {pct(b.p)} ({_ci(b)})"
            )
    else:
        lines.append(
            f"{r.lever} needs {money(a.value, r.currency)} per week (today "
            f"{money(t.value, r.currency)}) for {chance} of reaching "
            f"{money(r.target, r.currency)}"
        )
        if b is not None:
            lines.append(
                f"  one step below ({money(b.value, r.currency)} per week): P(target) = "
                f"{pct(b.p)} ({_ci(b)})"
            )
    if b is None and a.value > t.value - 1e-12 and a is not t:
        lines.append("  (no grid point lies below the answer)")
    if a is t or abs(a.value - t.value) < 1e-12:
        lines.append(f"  today's value already gives P(target) = {pct(t.p)} ({_ci(t)})")
    elif a.value < t.value:
        lines.append(f"  today's value gives P(target) = {pct(t.p)} ({_ci(t)}): more than needed")
    else:
        lines.append(f"  today: P(target) = {pct(t.p)} ({_ci(t)})")
    lines.append(
        f"  ({r.replications} replications per value, seed {r.seed}, common random numbers; "
        f"grid step {number(r.step, 3)})"
    )
    return "\n".join(lines)
