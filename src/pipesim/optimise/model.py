"""The PuLP model: its variables, named constraints and what each constraint means.

Sets: rep groups ``g`` (``n_g`` reps each), segments ``s``, campaigns ``c``, levers ``l`` with
curve pieces ``k``. Variables (per rep of a group where it says so):

* ``spend[c]`` budget per week, ``wasted[c]`` the part of it whose leads go uncaptured;
* ``outbound[g,s]`` opportunities per rep per week opened in segment ``s`` (they count for the
  curve's level by what a rep of ``g`` is worth: skill x ramp, team mean 1);
* ``prospecting[g]`` prospecting hours per rep per week;
* ``quota[g]`` new opportunities per rep per week (integer when asked: a MILP);
* ``level[l]`` the lever's team value, ``piece[l,k]`` the part of it on piece ``k``;
* ``qualify[s]``, ``pursue[s]`` team hours per week of the shared lead queue, ``lead_opps`` its
  opportunities per week, ``lead_work`` the sum of its hours, ``quota_mean`` the team's mean quota.

Every constraint is named after the scenario (or settings) key it comes from, and described in
:class:`ConstraintInfo`, so that a binding or conflicting constraint is reported in the user's
words. The constraints are added by the builders of :mod:`~pipesim.optimise.constraints`; the
model is solved by :mod:`~pipesim.optimise.solver`. See ``docs/optimise.md`` for the formulation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulp

from pipesim.optimise.problem import Problem

_SAFE = re.compile(r"[^A-Za-z0-9_.]")


def safe_name(text: str) -> str:
    """``text`` with every character a solver may reject in a name replaced by ``_``."""
    return _SAFE.sub("_", text)


@dataclass(frozen=True)
class ConstraintInfo:
    """What a named constraint means, in the user's words.

    Attributes
    ----------
    name
        The solver-safe constraint name.
    key
        The scenario or settings key the constraint comes from.
    text
        What the constraint says, with its bound.
    relax
        What one unit of relaxing it is (the unit of its shadow price).
    scale
        Multiplier from the constraint's own unit to ``relax``'s unit.
    kind
        ``capacity``, ``budget``, ``target``, ``curve``, ``policy``, ``rule`` (how reps the plan
        cannot tell apart share work; never reported as binding) or ``definition``.
    """

    name: str
    key: str
    text: str
    relax: str = ""
    scale: float = 1.0
    kind: str = "policy"


@dataclass
class Model:
    """A built PuLP model with its variables, expressions and constraint descriptions."""

    prob: pulp.LpProblem
    problem: Problem
    objective: str
    required_revenue: float | None
    info: dict[str, ConstraintInfo] = field(default_factory=dict)
    spend: dict[str, pulp.LpVariable] = field(default_factory=dict)
    wasted: dict[str, pulp.LpVariable] = field(default_factory=dict)
    outbound: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    prospecting: dict[str, pulp.LpVariable] = field(default_factory=dict)
    quota: dict[str, pulp.LpVariable] = field(default_factory=dict)
    level: dict[str, pulp.LpVariable] = field(default_factory=dict)
    pieces: dict[str, list[pulp.LpVariable]] = field(default_factory=dict)
    qualify: dict[str, pulp.LpVariable] = field(default_factory=dict)
    pursue: dict[str, pulp.LpVariable] = field(default_factory=dict)
    lead_opps: pulp.LpVariable | None = None
    lead_work: pulp.LpVariable | None = None
    quota_mean: pulp.LpVariable | None = None
    revenue: pulp.LpAffineExpression | None = None
    campaign_cost: pulp.LpAffineExpression | None = None
    hour_cost: pulp.LpAffineExpression | None = None
    definitions_only: bool = False

    def add(
        self,
        expr: pulp.LpAffineExpression,
        sense: int,
        rhs: float,
        name: str,
        *,
        key: str,
        text: str,
        relax: str = "",
        scale: float = 1.0,
        kind: str = "policy",
    ) -> None:
        """Add ``expr (sense) rhs`` under a unique solver-safe ``name`` with its description."""
        if self.definitions_only and kind != "definition":
            return
        safe = safe_name(name)
        if safe in self.info:
            raise ValueError(f"duplicate constraint name {safe}")
        self.prob.addConstraint(pulp.LpConstraint(expr, sense, safe, rhs))
        self.info[safe] = ConstraintInfo(safe, key, text, relax, scale, kind)

    @property
    def size(self) -> tuple[int, int]:
        """Number of variables and constraints."""
        return self.prob.numVariables(), self.prob.numConstraints()
