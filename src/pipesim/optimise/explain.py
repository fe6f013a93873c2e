"""What binds: the binding constraints of a solution and the text that says why no plan exists.

A constraint binds when it holds with equality at the solution and relaxing it would be worth
something (its shadow price); it is reported in the user's words from its
:class:`~pipesim.optimise.model.ConstraintInfo`. When no plan exists, :class:`InfeasiblePlan`
carries the explanation: the most revenue reachable and what binds there, or the conflicting
constraints (HiGHS's irreducible infeasible subset), grouped by scenario key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from pipesim.optimise.model import ConstraintInfo, Model
from pipesim.optimise.text import money, number

_TOL = 1e-7


class InfeasiblePlan(Exception):
    """No plan satisfies the constraints; the message names what binds, in scenario keys."""

    def __init__(
        self,
        message: str,
        *,
        required: float | None = None,
        best_revenue: float | None = None,
        binding: list[Binding] | None = None,
        iis: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.required = required
        self.best_revenue = best_revenue
        self.binding = binding or []
        self.iis = iis or []


@dataclass(frozen=True)
class Binding:
    """A constraint that holds with equality at the solution, with its shadow price."""

    info: ConstraintInfo
    shadow_price: float | None  # objective units per unit of ``info.relax``; None for a MIP

    def describe(self, currency: str, objective: str) -> str:
        """One line: the constraint and what relaxing it is worth."""
        line = f"{self.info.key}: {self.info.text}"
        if self.shadow_price is not None and abs(self.shadow_price) > _TOL:
            what = {
                "max-margin": "expected gross margin",
                "min-cost": "cost saved",
                "max-revenue": "expected revenue",
            }.get(objective, "objective")
            line += f"; {self.info.relax} is worth {money(self.shadow_price, currency)} of {what}"
        return line


def binding_constraints(model: Model, duals: dict[str, float]) -> list[Binding]:
    """The constraints of the solved ``model`` that bind, by shadow price (largest first).

    ``duals`` are the shadow prices by constraint name (empty when the solver gave none).
    """
    out = []
    for con in model.prob.constraints():
        name = con.name
        info = model.info.get(name)
        if info is None or info.kind in ("definition", "rule"):
            continue
        slack = con.slack if con.slack is not None else -(con.value() or 0.0)
        scale = max(1.0, abs(con.constant or 0.0))
        if abs(slack) > 1e-6 * scale:
            continue
        pi = duals.get(name)
        price = abs(pi) * info.scale if pi is not None else None
        if price is not None and price < 1e-6 and info.kind not in ("target",):
            continue  # holds with equality but costs nothing: not binding
        out.append(Binding(info, price))
    out.sort(key=lambda b: -(b.shadow_price or 0.0))
    return out


def infeasible_subset(model: Model) -> list[str] | None:
    """Names in HiGHS's irreducible infeasible subset, when the solver was HiGHS."""
    highs = getattr(model.prob, "solverModel", None)
    if highs is None or not hasattr(highs, "getIis"):
        return None
    names = [c.name for c in model.prob.constraints()]
    with contextlib.suppress(Exception):
        for strategy in (2, 4, 0):
            with contextlib.suppress(Exception):
                highs.setOptionValue("iis_strategy", strategy)
            _status, iis = highs.getIis()
            rows = list(getattr(iis, "row_index_", []) or [])
            if rows:
                # variable bounds in the subset are non-negativity and curve pieces: the named
                # rows say it in the user's words
                return [names[i] for i in rows if 0 <= i < len(names)]
    return None


def group_bindings(binding: list[Binding]) -> list[tuple[Binding, int]]:
    """One entry per scenario key: its first binding constraint and how many more share it."""
    out: dict[str, list[Any]] = {}
    for b in binding:
        entry = out.setdefault(b.info.key, [b, 0])
        if entry[0] is not b:
            entry[1] += 1
    return [(b, n) for b, n in out.values()]


def more_text(n: int) -> str:
    """`` (and n more like it)`` for a grouped list, or nothing."""
    return f" (and {n} more like it)" if n else ""


def _group_iis(model: Model, names: list[str]) -> list[str]:
    seen: dict[str, list[Any]] = {}
    for n in names:
        info = model.info.get(n)
        if info is None:
            seen.setdefault(n, [n, 0])
        elif info.kind != "definition":
            entry = seen.setdefault(info.key, [f"{info.key} ({info.text})", -1])
            entry[1] += 1
    return [text + more_text(max(k, 0)) for text, k in seen.values()]


def quotas_not_whole(model: Model, mean_quota: float | None) -> InfeasiblePlan:
    """Say that only the whole-number quotas keep a plan from existing.

    ``mean_quota`` is the team's mean quota in the plan with fractional quotas (None when the
    solver gave no such plan).
    """
    p = model.problem
    mean = (
        ""
        if mean_quota is None
        else f" (with fractional quotas the team's mean quota would be {number(mean_quota, 2)})"
    )
    band = (
        ""
        if p.fairness_band is None
        else (
            f", optimise.fairness_band (each group within {p.fairness_band:.0%} of the team mean)"
        )
    )
    return InfeasiblePlan(
        "no plan has whole-number quotas (optimise.quota.integer) within optimise.quota.min/"
        f"max{band}; a plan with fractional quotas exists{mean}. Widen the band, relax the "
        "quota bounds, or drop --integer-quotas.",
        required=model.required_revenue,
    )


def unreachable(
    model: Model,
    best_revenue: float | None,
    binding: list[Binding],
    iis: list[str] | None,
) -> InfeasiblePlan:
    """Say why no plan reaches the required revenue: the target, what binds, by how much.

    Parameters
    ----------
    model
        The infeasible model.
    best_revenue
        The most expected revenue reachable without the revenue target (None when the other
        constraints conflict on their own).
    binding
        The constraints that bind at that most revenue, with shadow prices in expected revenue.
    iis
        Constraint names in the irreducible infeasible subset, when the solver named one.
    """
    p = model.problem
    cur = p.currency
    iis_text = _group_iis(model, iis) if iis else []
    lines: list[str] = []
    if best_revenue is None:
        lines.append(
            "the constraints conflict even before the revenue target is considered: "
            "no plan satisfies them all."
        )
    else:
        need = model.required_revenue or p.target_revenue
        short = need - best_revenue
        lines.append(
            f"no plan reaches an expected revenue of {money(need, cur)} "
            f"(target.revenue {money(p.target_revenue, cur)}"
            + (
                f" plus a safety margin of {need / p.target_revenue - 1:.1%}"
                if need > p.target_revenue * (1 + 1e-9)
                else ""
            )
            + f"): within capacity and budget at most {money(best_revenue, cur)} is reachable, "
            f"short by {money(short, cur)} ({short / need:.1%})."
        )
        if binding:
            lines.append(
                "binding at the most revenue reachable (shadow price: expected revenue per unit):"
            )
            for b, more in group_bindings(binding)[:8]:
                lines.append("  - " + b.describe(cur, "max-revenue") + more_text(more))
                if b.shadow_price and b.shadow_price > 0 and b.info.kind != "curve" and not more:
                    lines.append(
                        f"    closing the gap by this one alone would take about "
                        f"{number(short / b.shadow_price, 1)} times that (a local estimate)"
                    )
    if iis_text:
        lines.append("conflicting constraints (irreducible infeasible subset, HiGHS):")
        lines.extend(f"  - {t}" for t in iis_text)
    elif best_revenue is None:
        lines.append("run with --solver highs to name an irreducible infeasible subset.")
    return InfeasiblePlan(
        "\n".join(lines),
        required=model.required_revenue,
        best_revenue=best_revenue,
        binding=binding,
        iis=iis_text,
    )
