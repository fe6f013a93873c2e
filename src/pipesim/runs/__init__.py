"""pipesim.runs."""
