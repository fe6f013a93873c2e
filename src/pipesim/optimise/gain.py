"""Where a plan's gain over today comes from, and whether field results support a gain that size.

The LP's expected revenue is today's simulated mean plus the sum of the levers' response curves
at the plan's values (a separable approximation). So each lever's curve value is the gain
attributable to it: what the lever alone, moved to the plan's value with everything else as
today, adds in the pilot simulations (or the judgement). The simulation of the whole plan
differs from that sum by the levers' interactions and the approximation; that difference is a
line of its own, so the parts add up to the simulated gain (:class:`GainSplit`).

Field results of reallocating sales effort (territory realignment, call planning, sales-force
deployment) report gains of a few percent to about 25%. A plan that claims more than
``optimise.plausible_gain`` is flagged (:func:`plausibility`), naming the lever the gain rests on
and the cost assumption of that lever: a gain that large usually means a lever is priced too
cheaply, not that the team was leaving that much on the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipesim.optimise.costs import OUTBOUND_FAMILY, LeverCost
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.problem import Problem
from pipesim.optimise.solver import Solution
from pipesim.optimise.text import money, money_interval, number, pct


@dataclass(frozen=True)
class LeverGain:
    """One lever's part of a plan's gain.

    Attributes
    ----------
    key
        Lever key.
    family
        The cost family the lever belongs to (its key; every segment's outbound lever shares
        ``leads.outbound.opportunities_per_rep_week[*]``).
    unit
        Unit of the lever.
    today, plan
        The lever's value today and in the plan (the team's mean per rep for outbound).
    gain
        Expected revenue change over the horizon from the lever's response curve at the plan's
        value (0 for a lever without a curve).
    """

    key: str
    family: str
    unit: str
    today: float
    plan: float
    gain: float

    @property
    def moved(self) -> bool:
        """Whether the plan moves the lever (or its curve gains anything)."""
        scale = max(1.0, abs(self.today))
        return abs(self.plan - self.today) > 1e-6 * scale or abs(self.gain) >= 0.5


@dataclass(frozen=True)
class GainSplit:
    """A plan's gain in mean revenue over today, split by lever.

    ``sum(lever gains) + residual == total``: the lever gains come from the response curves
    (they add up to the LP's expected gain), the residual is what the simulation of the whole
    plan adds beyond them.
    """

    currency: str
    today: float  # today's simulated mean revenue
    plan: float  # the plan's simulated mean revenue
    lp_revenue: float  # the LP's expected revenue of the plan
    levers: tuple[LeverGain, ...]
    interval: tuple[float, float] | None = None  # 95% interval of the simulated gain

    @property
    def total(self) -> float:
        """Simulated gain in mean revenue over today."""
        return self.plan - self.today

    def total_text(self) -> str:
        """The simulated gain with its 95% interval when known."""
        if self.interval is None:
            return money(self.total, self.currency)
        return money_interval(self.total, *self.interval, self.currency)

    @property
    def relative(self) -> float:
        """The simulated gain as a share of today's mean revenue."""
        return self.total / self.today if self.today > 0 else float("inf")

    @property
    def lp_relative(self) -> float:
        """The gain the response curves expect, as a share of today's mean revenue."""
        return self.curves_total / self.today if self.today > 0 else float("inf")

    @property
    def curves_total(self) -> float:
        """The sum of the levers' gains (the response curves' prediction)."""
        return sum(lv.gain for lv in self.levers)

    @property
    def residual(self) -> float:
        """What the simulation of the whole plan adds beyond the levers' curves."""
        return self.total - self.curves_total

    def families(self) -> list[tuple[str, float, list[LeverGain]]]:
        """Gain per cost family (each campaign, prospecting, all outbound), largest first."""
        out: dict[str, list[LeverGain]] = {}
        for lv in self.levers:
            out.setdefault(lv.family, []).append(lv)
        rows = [(fam, sum(lv.gain for lv in lvs), lvs) for fam, lvs in out.items()]
        return sorted(rows, key=lambda r: -r[1])

    def rows(self) -> list[tuple[str, float]]:
        """``(label, gain)`` per changed lever, the residual and the total (they add up)."""
        out = [(lv.key, lv.gain) for lv in self.levers if lv.moved]
        out.append(("interactions and approximation (simulated less the curves)", self.residual))
        out.append(("total (simulated)", self.total))
        return out

    def as_json(self) -> dict[str, Any]:
        """The split as ``optimise.json`` holds it."""
        return {
            "revenue_today": self.today,
            "revenue_plan": self.plan,
            "total": self.total,
            "total_ci_low": None if self.interval is None else _finite(self.interval[0]),
            "total_ci_high": None if self.interval is None else _finite(self.interval[1]),
            "relative": self.relative,
            "curves_total": self.curves_total,
            "curves_relative": self.lp_relative,
            "lp_expected_revenue": self.lp_revenue,
            "by_lever": {lv.key: lv.gain for lv in self.levers},
            "by_family": {fam: g for fam, g, _ in self.families()},
            "residual": self.residual,
        }


def family_of(key: str, kind: str) -> str:
    """The cost family of a lever: outbound levers share one, others are their own."""
    return OUTBOUND_FAMILY if kind == "outbound" else key


def split_gain(
    problem: Problem,
    curves: Mapping[str, ResponseCurve],
    solution: Solution,
    today_mean: float,
    plan_mean: float,
    interval: tuple[float, float] | None = None,
) -> GainSplit:
    """Split a plan's simulated gain over today by lever (see the module docstring).

    ``interval`` is the simulated gain's 95% interval, when known.
    """
    levers = []
    for key, lever in problem.levers.items():
        curve = curves.get(key)
        x = solution.effective_levels.get(key, solution.levels.get(key, lever.today))
        gain = curve.value(x) if curve is not None else 0.0
        levers.append(
            LeverGain(
                key,
                family_of(key, lever.kind),
                lever.unit,
                lever.today,
                solution.levels.get(key, lever.today),
                gain,
            )
        )
    return GainSplit(
        problem.currency, today_mean, plan_mean, solution.revenue, tuple(levers), interval
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def plausibility(split: GainSplit, costs: Sequence[LeverCost], threshold: float) -> str | None:
    """A warning when the gain exceeds ``threshold`` (a share), naming what it rests on.

    Both the simulated gain and the gain the LP expects from the response curves count: a plan
    is flagged when either exceeds the threshold.
    """
    if max(split.relative, split.lp_relative) <= threshold:
        return None
    cur = split.currency
    lines = [
        f"warning: the plan claims {split.relative:+.1%} mean revenue over today "
        f"({money(split.today, cur)} -> {money(split.plan, cur)}, simulated; the response "
        f"curves expect {split.lp_relative:+.1%}), more than field results of sales-effort "
        f"reallocation report (a few percent to about {pct(threshold, 0)}; "
        "optimise.plausible_gain)."
    ]
    families = [f for f in split.families() if f[1] > 0]
    if families:
        fam, gain, lvs = families[0]
        moved = [lv for lv in lvs if lv.moved]
        names = ", ".join(f"{lv.key} {number(lv.today, 3)} -> {number(lv.plan, 3)}" for lv in moved)
        cost = next((c for c in costs if c.family == fam), None)
        what = (
            f"It rests mostly on {names}: {money(gain, cur)} by the response curves (the whole "
            f"plan: {money(split.total, cur)} simulated, {money(split.curves_total, cur)} by "
            "the curves)"
        )
        if cost is not None:
            what += f", at {cost.cost} ({cost.key} = {number(cost.value)}: {cost.source})"
        lines.append(what + ".")
        if cost is not None and cost.note:
            lines.append(cost.note)
        if cost is not None and fam == OUTBOUND_FAMILY:
            lines.append(
                "Check that cost before trusting the plan (--outbound-hours, or "
                "optimise.lever_costs.outbound_hours_per_opportunity in --settings)."
            )
        elif cost is not None:
            lines.append(f"Check {cost.key} before trusting the plan.")
    return "\n".join(lines)
