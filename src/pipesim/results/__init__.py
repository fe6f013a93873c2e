"""pipesim.results."""
