"""Risk-aware plans: a sample-average approximation (SAA) over simulated replications.

The max-margin LP plans on *mean* response curves. Here the plan is chosen on the replications
themselves. Every pilot level of a lever is simulated on the same seeds as today's run (common
random numbers), so replication ``i`` has a revenue change ``d[l, k, i]`` at each level ``x[l, k]``
of each lever ``l``; between levels it is interpolated linearly, and the levers add up (the
separable approximation the LP makes for the means, here made per replication):

    revenue_i(plan) = R0_i + sum_l sum_k lambda[l, k] * d[l, k, i]
    level[l] = sum_k lambda[l, k] * x[l, k],   sum_k lambda[l, k] = 1,   lambda >= 0,

with one binary per piece (``segment[l, k]``, exactly one per lever) so that only the two ends
of one piece carry weight: per-replication curves need not be concave, so the interpolation
is exact only with these (an SOS2 written with binaries). ``level[l]`` is the LP's own lever
variable, so every constraint of the optimiser (hours, budgets, bounds, market caps through the
curves' ends, fairness, strategic segments) holds unchanged.

Objectives (:func:`build_risk_model`):

* ``max-p-target``: a binary ``reaches[i]`` per replication, ``revenue_i >= target - M_i (1 -
  reaches[i])`` with ``M_i`` the target less the lowest revenue replication ``i`` can have
  (a tight big-M); maximise ``sum_i reaches[i]``. Many plans reach the same count, so a second
  stage (:func:`prefer_margin`) keeps the count (``risk.count``) and maximises the sample's
  mean gross margin.
* ``cvar``: the Rockafellar-Uryasev linear form of the conditional value at risk of gross margin
  (``gross_margin x revenue_i - campaign cost``) at ``alpha``: maximise ``eta - sum_i
  shortfall[i] / (alpha N)`` with ``shortfall[i] >= eta - margin_i``, ``shortfall >= 0``. At
  ``alpha = 1`` it is the sample's mean margin.

Levers whose curves are judgmental have no replications: their (concave) curve adds the same
change to every replication.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pulp

from pipesim.optimise.constraints import _expr, build_model
from pipesim.optimise.model import Model, safe_name
from pipesim.optimise.problem import Problem

RiskObjective = Literal["max-p-target", "cvar"]


@dataclass(frozen=True)
class Sample:
    """Per-replication revenue at each level of each lever, on common random numbers.

    Attributes
    ----------
    base
        Today's revenue per replication (``N`` values).
    levels
        Lever key -> its levels (today's among them), increasing.
    change
        Lever key -> array ``(K, N)``: revenue change from today's, per level and replication
        (0 on today's level).
    """

    base: np.ndarray
    levels: dict[str, tuple[float, ...]]
    change: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = self.base.size
        for key, lv in self.levels.items():
            d = self.change[key]
            if d.shape != (len(lv), n):
                raise ValueError(
                    f"{key}: {d.shape} changes for {len(lv)} levels x {n} replications"
                )
            if any(b <= a for a, b in itertools.pairwise(lv)):
                raise ValueError(f"{key}: levels must be strictly increasing")

    @property
    def replications(self) -> int:
        """Replications in the sample (``N``)."""
        return int(self.base.size)

    def revenue(self, levels: Mapping[str, float]) -> np.ndarray:
        """Revenue per replication of a plan at ``levels`` (today's value for levers not given)."""
        out = self.base.astype(float).copy()
        for key, lv in self.levels.items():
            if key not in levels:
                continue
            x = float(np.clip(levels[key], lv[0], lv[-1]))
            d = self.change[key]
            k = int(np.searchsorted(lv, x, side="right")) - 1
            k = min(max(k, 0), len(lv) - 2) if len(lv) > 1 else 0
            if len(lv) == 1:
                out += d[0]
                continue
            w = (x - lv[k]) / (lv[k + 1] - lv[k])
            out += (1.0 - w) * d[k] + w * d[k + 1]
        return out


@dataclass
class RiskModel:
    """The built MILP: the optimiser's model plus the sample's response and objective."""

    model: Model
    sample: Sample
    objective: RiskObjective
    target: float
    alpha: float
    revenue: list[pulp.LpAffineExpression] = field(default_factory=list)
    """Revenue of each replication, as an expression of the plan."""
    reaches: list[pulp.LpVariable] = field(default_factory=list)
    eta: pulp.LpVariable | None = None
    shortfall: list[pulp.LpVariable] = field(default_factory=list)
    binaries: list[pulp.LpVariable] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int, int]:
        """Variables, constraints and binary variables."""
        n_var, n_con = self.model.size
        return n_var, n_con, len(self.binaries) + len(self.reaches)

    def margin_terms(self) -> tuple[list[tuple[pulp.LpVariable, float]], float]:
        """The sample's mean gross margin as ``(terms, constant)``."""
        m = self.model
        p = m.problem
        n = self.sample.replications
        coef: dict[pulp.LpVariable, float] = {}
        constant = 0.0
        for expr in self.revenue:
            for var, c in expr.items():
                coef[var] = coef.get(var, 0.0) + p.gross_margin * c / n
            constant += p.gross_margin * expr.constant / n
        for name, camp in p.campaigns.items():
            coef[m.spend[name]] = coef.get(m.spend[name], 0.0) - camp.active_weeks
        return list(coef.items()), constant


def _lower_bounds(problem: Problem, sample: Sample) -> np.ndarray:
    """The lowest revenue each replication can have on the sample (for a tight big-M)."""
    low = sample.base.astype(float).copy()
    for key in sample.levels:
        if key in problem.curves:
            low += sample.change[key].min(axis=0)
    for key, curve in problem.curves.items():
        if key not in sample.levels:
            low += min(curve.revenue)
    return low


def _sample_response(
    m: Model, sample: Sample
) -> tuple[list[pulp.LpAffineExpression], list[pulp.LpVariable]]:
    """Per-replication revenue tied to the model's lever levels, and the piece binaries."""
    p = m.problem
    n = sample.replications
    coef: list[dict[pulp.LpVariable, float]] = [{} for _ in range(n)]
    constants = sample.base.astype(float).copy()
    binaries: list[pulp.LpVariable] = []
    for key, lv in sample.levels.items():
        level = m.level.get(key)
        if level is None:  # no curve: the lever stays at today's value
            continue
        name = safe_name(key)
        weights = [m.prob.add_variable(f"saa.weight[{name},{k}]", 0.0, 1.0) for k in range(len(lv))]
        m.add(
            _expr([(w, x) for w, x in zip(weights, lv, strict=True)] + [(level, -1.0)]),
            pulp.LpConstraintEQ,
            0.0,
            f"define.saa.level.{key}",
            key=key,
            text="the lever's value as a weighting of its pilot levels",
            kind="definition",
        )
        m.add(
            _expr([(w, 1.0) for w in weights]),
            pulp.LpConstraintEQ,
            1.0,
            f"define.saa.weights.{key}",
            key=key,
            text="the weights of the pilot levels add up to one",
            kind="definition",
        )
        if len(lv) > 2:
            pieces = [
                m.prob.add_variable(f"saa.piece[{name},{k}]", 0.0, 1.0, pulp.LpBinary)
                for k in range(len(lv) - 1)
            ]
            binaries.extend(pieces)
            m.add(
                _expr([(y, 1.0) for y in pieces]),
                pulp.LpConstraintEQ,
                1.0,
                f"define.saa.pieces.{key}",
                key=key,
                text="the lever sits on one piece between pilot levels",
                kind="definition",
            )
            for k, w in enumerate(weights):
                near = [pieces[j] for j in (k - 1, k) if 0 <= j < len(pieces)]
                m.add(
                    _expr([(w, 1.0), *((y, -1.0) for y in near)]),
                    pulp.LpConstraintLE,
                    0.0,
                    f"define.saa.adjacent[{key},{k}]",
                    key=key,
                    text="only the two ends of the chosen piece carry weight",
                    kind="definition",
                )
        change = sample.change[key]
        for k, w in enumerate(weights):
            row = change[k]
            for i in range(n):
                if row[i] != 0.0:
                    coef[i][w] = coef[i].get(w, 0.0) + float(row[i])
    # judgmental curves: the same (concave) change in every replication
    for key, curve in p.curves.items():
        if key in sample.levels or key not in m.pieces:
            continue
        constants += curve.revenue[0]
        for z, (_, slope) in zip(m.pieces[key], curve.pieces(), strict=True):
            for i in range(n):
                coef[i][z] = coef[i].get(z, 0.0) + slope
    exprs = [
        pulp.LpAffineExpression(list(c.items()), constant=float(k))
        for c, k in zip(coef, constants, strict=True)
    ]
    return exprs, binaries


def build_risk_model(
    problem: Problem,
    sample: Sample,
    objective: RiskObjective,
    *,
    target: float | None = None,
    alpha: float = 0.1,
) -> RiskModel:
    """The MILP of a risk-aware objective on ``sample`` (module docstring).

    Every constraint of :func:`~pipesim.optimise.constraints.build_model` is kept but the
    revenue target (P(target) replaces it).
    """
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    m = build_model(problem, "max-margin", None)
    target = problem.target_revenue if target is None else target
    rm = RiskModel(m, sample, objective, target, alpha)
    rm.revenue, rm.binaries = _sample_response(m, sample)
    n = sample.replications
    if objective == "max-p-target":
        low = _lower_bounds(problem, sample)
        for i, expr in enumerate(rm.revenue):
            z = m.prob.add_variable(f"saa.reaches[{i}]", 0.0, 1.0, pulp.LpBinary)
            rm.reaches.append(z)
            big = max(target - float(low[i]), 0.0)
            # revenue_i >= target - big * (1 - z)
            m.add(
                expr - big * z,
                pulp.LpConstraintGE,
                target - big,
                f"define.saa.reaches[{i}]",
                key="target.revenue",
                text=f"replication {i} counts when its revenue reaches the target",
                kind="definition",
            )
        m.prob.setObjective(_expr([(z, -1.0) for z in rm.reaches]))
    elif objective == "cvar":
        eta = m.prob.add_variable("saa.value_at_risk", None, None)
        rm.eta = eta
        cost = [(m.spend[c], -camp.active_weeks) for c, camp in problem.campaigns.items()]
        gm = problem.gross_margin
        for i, expr in enumerate(rm.revenue):
            u = m.prob.add_variable(f"saa.shortfall[{i}]", 0.0)
            rm.shortfall.append(u)
            margin = _expr([*((v, gm * c) for v, c in expr.items()), *cost], gm * expr.constant)
            m.add(
                _expr([(u, 1.0), (eta, -1.0)]) + margin,
                pulp.LpConstraintGE,
                0.0,
                f"define.saa.shortfall[{i}]",
                key="optimise.risk.alpha",
                text=f"replication {i}'s gross margin short of the value at risk",
                kind="definition",
            )
        weight = 1.0 / (alpha * n)
        m.prob.setObjective(_expr([(eta, -1.0), *((u, weight) for u in rm.shortfall)]))
    else:
        raise ValueError(f"unknown risk objective {objective!r}")
    return rm


def prefer_margin(rm: RiskModel, count: int) -> None:
    """Second stage of ``max-p-target``: keep ``count`` replications reaching the target.

    Adds ``risk.count`` (at least ``count`` replications reach it) and maximises the sample's
    mean gross margin: of the plans equally likely to reach the target, the most profitable.
    """
    m = rm.model
    m.add(
        _expr([(z, 1.0) for z in rm.reaches]),
        pulp.LpConstraintGE,
        float(count),
        "risk.count",
        key="optimise.objective",
        text=f"at least {count} of the sample's {rm.sample.replications} replications reach "
        "the target",
        kind="rule",
    )
    terms, constant = rm.margin_terms()
    m.prob.setObjective(_expr([(v, -c) for v, c in terms], -constant))


def counted(rm: RiskModel) -> int:
    """Replications the solved model counts as reaching the target."""
    return sum(1 for z in rm.reaches if (z.value() or 0.0) > 0.5)


def cvar(values: np.ndarray, alpha: float) -> float:
    """Mean of the worst ``alpha`` share of ``values`` (the tail's fractional part weighted)."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0:
        return math.nan
    k = alpha * n
    whole = math.floor(k)
    total = float(v[:whole].sum())
    if whole < n and k > whole:
        total += (k - whole) * float(v[whole])
    return total / k
