"""Engagement-timing policies: when we first meet an inbound buyer (domain.md §1, 003).

*Reactive* waits for the buyer to contact us at its engagement point (57% of the journey on
average, after which a competitor is usually preferred). *Proactive* account planning spends rep
hours to reach a share of those buyers earlier, at awareness or interest, so the rep can shape the
criteria before a preference forms.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipesim.scenario.registry import Registry, policy_registry
from pipesim.scenario.schema import Engagement


class EngagementPolicy(Protocol):
    """Where in its journey we first meet each inbound buyer."""

    hours_per_week: float

    def contact_fraction(
        self, natural: np.ndarray, early: np.ndarray, reach_draw: np.ndarray
    ) -> np.ndarray:
        """Journey fraction of first contact.

        ``natural`` is the buyer's own engagement point, ``early`` the point account planning
        would reach it, ``reach_draw`` a uniform draw per buyer.
        """
        ...


ENGAGEMENT: Registry[EngagementPolicy] = policy_registry("engagement")


def make_engagement(spec: Engagement) -> EngagementPolicy:
    """Build the engagement policy the scenario names."""
    return ENGAGEMENT.create(spec.policy, spec)


@ENGAGEMENT.register("reactive")
class Reactive:
    """Meet every buyer when it contacts us."""

    def __init__(self, spec: Engagement) -> None:
        self.hours_per_week = 0.0

    def contact_fraction(
        self, natural: np.ndarray, early: np.ndarray, reach_draw: np.ndarray
    ) -> np.ndarray:
        """The buyer's own engagement point."""
        return natural


@ENGAGEMENT.register("proactive")
class Proactive:
    """Account planning reaches ``proactive_share`` of buyers at ``proactive_fraction``."""

    def __init__(self, spec: Engagement) -> None:
        self.share = spec.proactive_share
        self.hours_per_week = spec.proactive_hours_per_week

    def contact_fraction(
        self, natural: np.ndarray, early: np.ndarray, reach_draw: np.ndarray
    ) -> np.ndarray:
        """The earlier of the two points for reached buyers; the natural point for the rest."""
        return np.where(reach_draw < self.share, np.minimum(natural, early), natural)
