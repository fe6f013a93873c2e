"""One replication of a scenario from its seed: the unit of work every executor runs."""

from __future__ import annotations

from pipesim.engine.model import simulate
from pipesim.engine.summary import ReplicationResult, summarise_replication
from pipesim.engine.uncertainty import draw_parameters
from pipesim.scenario.schema import Scenario


def run_replication(
    scenario: Scenario,
    replication: int,
    seed: int,
    uncertain: bool = False,
    detail: bool = False,
) -> ReplicationResult:
    """Simulate one replication of ``scenario`` from ``seed``; a pure, picklable function.

    With ``uncertain`` the scenario's ``uncertainty`` parameters are drawn first (from the same
    seed, :func:`pipesim.engine.uncertainty.draw_parameters`). With ``detail`` the row also has
    the summary's detail columns (:data:`pipesim.engine.summary.DETAIL_COLUMNS`).
    """
    if uncertain and scenario.uncertainty:
        scenario, _ = draw_parameters(scenario, seed)
    model = simulate(scenario, seed)
    return summarise_replication(scenario, replication, seed, model.leads, model, detail)
