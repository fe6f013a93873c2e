"""pipesim.engine."""
