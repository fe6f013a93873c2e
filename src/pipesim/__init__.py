"""pipesim: simulate, forecast and optimise B2B sales pipelines.

The Python API mirrors the command line::

    import pipesim
    scenario = pipesim.load_scenario("scenarios/baseline.yaml", overrides=["reps.count=12"])
    more = pipesim.what_if(scenario, {"reps.count": 18})  # validated like --set
    results = pipesim.run(more, replications=1000, seed=7, workers=2)
    results.summary["p_target"], results.table  # dict, pandas DataFrame

    # the same what-if as running estimates, against the scenario on the same seeds; the figures
    # after n replications are those of `pipesim run -n n`; stream.cancel() from any thread
    with pipesim.iterate(more, seed=7, workers=2, reference=scenario) as stream:
        for estimate in stream:
            print(estimate.replications, estimate.p_target, estimate.difference)

The package is layered (docs/architecture.md): ``scenario`` at the bottom, then ``agents``,
``market`` and ``policies``, ``engine``, ``results``, ``runs``, the analysis packages
(``report``, ``experiments``, ``optimise``, ``calibrate``) and ``cli`` on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The built-in policies register their names with the scenario's policy registries when
# imported; importing them here means every scenario is validated against them.
import pipesim.policies  # noqa: F401
from pipesim._version import __version__
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario, what_if
from pipesim.scenario.schema import Scenario

if TYPE_CHECKING:
    from pipesim.runs.runner import Results, run
    from pipesim.runs.stream import Estimate, Stream, iterate


def __getattr__(name: str) -> Any:
    # lazy for start-up speed: the runner pulls in pandas, which `pipesim validate` never needs
    if name in ("Results", "run"):
        from pipesim.runs import runner

        return getattr(runner, name)
    if name in ("Estimate", "Stream", "iterate"):
        from pipesim.runs import stream

        return getattr(stream, name)
    raise AttributeError(f"module 'pipesim' has no attribute {name!r}")


__all__ = [
    "Estimate",
    "Results",
    "Scenario",
    "ScenarioError",
    "Stream",
    "__version__",
    "iterate",
    "load_scenario",
    "run",
    "what_if",
]
