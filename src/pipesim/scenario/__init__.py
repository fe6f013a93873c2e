"""pipesim.scenario."""
