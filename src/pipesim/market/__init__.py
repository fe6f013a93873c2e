"""The market: segments, lead sources, competitors and the buyer's choice."""
