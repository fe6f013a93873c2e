"""pipesim: simulate, forecast and optimise B2B sales pipelines.

The Python API mirrors the command line::

    import pipesim
    scenario = pipesim.load_scenario("scenarios/baseline.yaml", overrides=["reps.count=12"])
    results = pipesim.run(scenario, replications=1000, seed=7, workers=2)
    results.summary["p_target"], results.table  # dict, pandas DataFrame
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from pipesim.config import Scenario
from pipesim.loader import ScenarioError, load_scenario

if TYPE_CHECKING:
    from pipesim.runner import Results, run


def __getattr__(name: str) -> Any:
    # the runner pulls in pandas: load it on first use so `pipesim validate` starts fast
    if name in ("Results", "run"):
        from pipesim import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'pipesim' has no attribute {name!r}")


__all__ = ["Results", "Scenario", "ScenarioError", "__version__", "load_scenario", "run"]
