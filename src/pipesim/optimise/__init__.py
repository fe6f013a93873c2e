"""The optimiser: allocate rep hours and campaign budgets, derive opportunity quotas, check by sim.

The pieces, in the order data flows through them:

* :mod:`~pipesim.optimise.levers` names the decisions (campaign spend, prospecting hours,
  outbound opportunities per segment) and turns lever values into a scenario overlay;
* :mod:`~pipesim.optimise.pilot` measures the response of expected revenue to each lever by
  pilot simulations under common random numbers, and the rep-hour load of each lead source;
* :mod:`~pipesim.optimise.curves` holds piecewise-linear concave response curves (fitted to the
  pilot points, or judgmental CALLPLAN-style points) and the greedy reference allocation;
* :mod:`~pipesim.optimise.problem` assembles the narrow interface the LP sees (index sets,
  curves, coefficients, bounds) from a scenario;
* :mod:`~pipesim.optimise.model` holds the PuLP model and what each named constraint means;
  :mod:`~pipesim.optimise.constraints` builds it with named constraint builders;
* :mod:`~pipesim.optimise.solver` solves it (HiGHS by default), checks the status and reads the
  solution; :mod:`~pipesim.optimise.explain` says what binds and, when no plan exists, why, in
  scenario keys;
* :mod:`~pipesim.optimise.plan` writes the plan as a scenario overlay (``plan.yaml``), a
  per-rep table (``plan.csv``: quotas that follow each rep's hours, skill and ramp) and each
  rep's quota week by week (``quotas.csv``);
* :mod:`~pipesim.optimise.costs` says what one unit of each lever costs and where each figure
  comes from (and prices outbound work); :mod:`~pipesim.optimise.gain` splits a plan's gain over
  today by lever and flags a gain beyond field results of sales-effort reallocation;
* :mod:`~pipesim.optimise.loop` simulates the plan and raises the LP's revenue requirement until
  P(target) reaches the asked confidence; :mod:`~pipesim.optimise.result` holds what it found
  and :mod:`~pipesim.optimise.report` draws it (``optimise.html``);
* :mod:`~pipesim.optimise.required` finds the smallest value of one lever that reaches it;
* :mod:`~pipesim.cli.optimise` is the command line (``optimise``, ``required``).
"""

from __future__ import annotations

from pipesim.optimise.constraints import build_model
from pipesim.optimise.curves import ResponseCurve, greedy_allocation
from pipesim.optimise.explain import InfeasiblePlan
from pipesim.optimise.problem import Problem
from pipesim.optimise.solver import solve

__all__ = [
    "InfeasiblePlan",
    "Problem",
    "ResponseCurve",
    "build_model",
    "greedy_allocation",
    "solve",
]
