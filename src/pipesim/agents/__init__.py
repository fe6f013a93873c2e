"""Agents of the model: buyer organisations (journeys) and sales reps."""
