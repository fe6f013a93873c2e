"""Policy research: paired experiments, parameter sweeps and sensitivity analysis.

Every experiment here runs its scenarios with the same root seed, so replication *i* of every
scenario (or sweep point) faces the same market luck (common random numbers, CRN): differences
are estimated on pairs and their intervals are much narrower than independent runs would give.

* :mod:`pipesim.experiments.paired`: run two scenarios under CRN and read the difference in
  P(target), revenue, win rate, no-decision rate, cycle time, reps at quota and uncaptured leads,
  each with a paired and an unpaired 95% interval.
* :mod:`pipesim.experiments.sweep`: a grid or Latin hypercube over dotted scenario paths
  (``qualification.threshold=0.3:0.9:7``), a tidy results table and charts such as the
  qualification frontier.
* :mod:`pipesim.experiments.sensitivity`: a one-at-a-time tornado and Sobol indices (SALib) of
  P(target) and mean revenue.
* :mod:`pipesim.experiments.diff`, :mod:`~pipesim.experiments.attribution` and
  :mod:`~pipesim.experiments.waterfall`: ``pipesim diff``, the settings that differ between two
  runs and how much of the move in P(target) each accounts for, re-simulated under CRN.
* :mod:`pipesim.cli.research`: the ``paired``, ``sweep`` and ``sensitivity`` commands.
"""

from __future__ import annotations

from pipesim.experiments.paired import (
    DEFAULT_METRICS,
    METRICS,
    PairedComparison,
    compare_scenarios,
    paired_differences,
    replicate,
    run_points,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "PairedComparison",
    "compare_scenarios",
    "paired_differences",
    "replicate",
    "run_points",
]
