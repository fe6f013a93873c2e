"""Flanking policies: what we do when the buyer already prefers a competitor (domain.md §2, 003).

Flanking shifts the buyer's purchase criteria toward an issue our solution uniquely delivers. It
needs something to flank *to* (a criterion where we beat every competitor in the segment: the
uniqueness gap, in score points) and someone to flank *with* (a sponsor inside the buyer). It costs
rep hours, and works best as the last move, at the decision.
"""

from __future__ import annotations

import math
from typing import Protocol

from pipesim.scenario.registry import Registry, policy_registry
from pipesim.scenario.schema import Flanking


class FlankingPolicy(Protocol):
    """Decide whether to flank, and how likely it is to work."""

    attempts: bool
    hours_per_week: float
    weight_shift: float

    def success_probability(self, gap: float, has_sponsor: bool) -> float:
        """Probability that a flank with this uniqueness gap (score points) succeeds."""
        ...


FLANKING: Registry[FlankingPolicy] = policy_registry("flanking")


def make_flanking(spec: Flanking) -> FlankingPolicy:
    """Build the flanking policy the scenario names."""
    return FLANKING.create(spec.policy, spec)


@FLANKING.register("none")
class NoFlanking:
    """Never flank: a buyer who prefers a competitor decides on its own."""

    attempts = False

    def __init__(self, spec: Flanking) -> None:
        self.hours_per_week = 0.0
        self.weight_shift = 0.0

    def success_probability(self, gap: float, has_sponsor: bool) -> float:
        """Zero: no attempt is made."""
        return 0.0


@FLANKING.register("flank")
class Flank:
    """Flank whenever a competitor is preferred.

    ``P(success) = sponsor · max_success · (1 − exp(−gap / gap_scale)) · timing`` where ``gap`` is
    our best score advantage over every competitor on one criterion (no advantage, no chance) and
    ``timing`` is 1 when moving last and ``early_move_success`` otherwise.
    """

    attempts = True

    def __init__(self, spec: Flanking) -> None:
        self.max_success = spec.max_success
        self.gap_scale = spec.gap_scale
        self.timing = 1.0 if spec.move_last else spec.early_move_success
        self.hours_per_week = spec.hours_per_week
        self.weight_shift = spec.weight_shift

    def success_probability(self, gap: float, has_sponsor: bool) -> float:
        """Rises with the uniqueness gap; zero without a sponsor or without unique value."""
        if not has_sponsor or gap <= 0:
            return 0.0
        return self.max_success * (1.0 - math.exp(-gap / self.gap_scale)) * self.timing
