"""What one run of the optimiser's closed loop found: today's check, each plan tried, the outcome.

:class:`OptimiseResult` is what ``pipesim optimise`` reports (the summary, the page, the command
line); :func:`conclusion` is its closing statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipesim.optimise.costs import Assumption, LeverCost
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.explain import InfeasiblePlan, group_bindings, more_text
from pipesim.optimise.gain import GainSplit, plausibility, split_gain
from pipesim.optimise.pilot import LoadProfile
from pipesim.optimise.problem import Problem
from pipesim.optimise.sampling import difference_interval
from pipesim.optimise.settings import OptimiseSettings
from pipesim.optimise.solver import Solution
from pipesim.optimise.text import interval, pct
from pipesim.results.statistics import mean_interval
from pipesim.scenario.schema import Scenario


@dataclass
class Check:
    """A simulated plan (or today's scenario): its summary and per-replication revenue.

    A plan's check asks whether P(target) reaches ``confidence``: it is *resolved* when the 95%
    interval lies at or above the confidence, or below it; ``limit`` is the most replications
    the check could add (None for today's run, which asks nothing).
    """

    label: str
    summary: dict[str, Any]
    revenue: np.ndarray
    new_opportunities: float
    confidence: float | None = None
    limit: int | None = None

    @property
    def p(self) -> float:
        """Estimated P(target)."""
        return float(self.summary["p_target"]["estimate"])

    @property
    def replications(self) -> int:
        """Replications simulated."""
        return int(self.revenue.size)

    @property
    def resolved(self) -> bool:
        """Whether the 95% interval of P(target) lies at or above the confidence, or below it."""
        if self.confidence is None:
            return True
        p = self.summary["p_target"]
        return bool(p["ci_low"] >= self.confidence or p["ci_high"] < self.confidence)

    def resolution(self) -> str:
        """``resolved with N replications`` or ``not resolved at the limit of N replications``."""
        if self.confidence is None:
            return f"{self.replications:,} replications"
        conf = pct(self.confidence, 0)
        if self.resolved:
            side = "at or above" if self.p >= self.confidence else "below"
            return f"resolved with {self.replications:,} replications (95% CI {side} {conf})"
        return (
            f"not resolved at the limit of {self.limit or self.replications:,} replications "
            f"(optimise.loop.replications): the 95% CI contains {conf}, so the plan could reach "
            "it or fall short"
        )

    def revenue_interval(self) -> tuple[float, float, float]:
        """Mean revenue with its 95% interval."""
        return mean_interval(self.revenue)

    def quantile(self, q: float) -> float:
        """Revenue quantile over replications."""
        return float(np.quantile(self.revenue, q))


@dataclass
class Attempt:
    """One pass of the loop: the LP's requirement, its plan, and the plan's simulation."""

    index: int
    required_revenue: float
    solution: Solution
    overlay: dict[str, Any]
    check: Check
    plan_file: Path


@dataclass
class OptimiseResult:
    """Everything ``pipesim optimise`` reports."""

    scenario: Scenario
    settings: OptimiseSettings
    problem: Problem
    curves: dict[str, ResponseCurve]
    load: LoadProfile
    before: Check
    today: Solution
    attempts: list[Attempt] = field(default_factory=list)
    final: Attempt | None = None
    reached: bool = False
    infeasible: InfeasiblePlan | None = None
    out: Path | None = None
    runtime_s: float = 0.0
    outbound_cost: Assumption | None = None
    costs: list[LeverCost] = field(default_factory=list)

    def gain(self) -> GainSplit | None:
        """The final plan's simulated gain over today, split by lever (None before a plan)."""
        if self.final is None:
            return None
        _, low, high = difference_interval(self.final.check.revenue, self.before.revenue)
        return split_gain(
            self.problem,
            self.curves,
            self.final.solution,
            float(self.before.summary["revenue"]["mean"]),
            float(self.final.check.summary["revenue"]["mean"]),
            interval=(low, high),
        )

    def warning(self) -> str | None:
        """The plausibility warning when the gain exceeds ``optimise.plausible_gain``."""
        split = self.gain()
        if split is None:
            return None
        return plausibility(split, self.costs, self.settings.plausible_gain)

    @property
    def curve_source(self) -> str:
        """Which kind of curves the plan used, in words."""
        kinds = {c.source for c in self.curves.values()}
        if kinds == {"pilot"}:
            return "pilot simulations"
        if kinds == {"judgement"}:
            return "judgmental points"
        return "pilot simulations and judgmental points"


def conclusion(result: OptimiseResult) -> str:
    """The closing statement: reached, or why not."""
    final = result.final
    assert final is not None
    conf = pct(result.settings.confidence, 0)
    p = final.check.summary["p_target"]
    if result.reached:
        return (
            f"plan {final.index} reaches P(target) = {interval(p)} >= {conf}, "
            f"{final.check.resolution()} (before: {interval(result.before.summary['p_target'])})."
        )
    lines = [
        f"P(target) >= {conf} cannot be reached within capacity and budget: the best plan "
        f"found (plan {final.index}) gives {interval(p)}, {final.check.resolution()}."
    ]
    if result.infeasible is not None:
        lines.append(result.infeasible.message)
    else:
        lines.append(
            f"the loop stopped after {len(result.attempts)} plans "
            f"(optimise.loop.max_iterations); binding in the last plan:"
        )
        lines.extend(
            "  - " + b.describe(result.problem.currency, result.settings.objective) + more_text(n)
            for b, n in group_bindings(result.attempts[-1].solution.binding)
        )
    return "\n".join(lines)
