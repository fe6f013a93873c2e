"""Lead follow-up policies: in which order reps pick up waiting leads (domain.md §2, 003).

A policy gives each lead a priority class (lower is served first); within a class leads are
served in order of arrival. Leads still waiting ``leads.max_wait_days`` after they reached us go
cold (uncaptured).
"""

from __future__ import annotations

from typing import Protocol

from pipesim.scenario.registry import Registry, policy_registry

SOURCE_PRIORITY_INBOUND_FIRST = {"inbound": 0, "referral": 0, "campaign": 1, "prospecting": 2}


class FollowUpPolicy(Protocol):
    """Priority class of a lead by its source name."""

    def priority(self, source: str) -> int:
        """Lower classes are served first."""
        ...


FOLLOW_UP: Registry[FollowUpPolicy] = policy_registry("follow_up")


def make_follow_up(name: str) -> FollowUpPolicy:
    """Build the follow-up policy the scenario names."""
    return FOLLOW_UP.create(name, None)


@FOLLOW_UP.register("fifo")
class FirstComeFirstServed:
    """Every lead in order of arrival."""

    def __init__(self, spec: object) -> None:
        del spec

    def priority(self, source: str) -> int:
        """One class for all."""
        return 0


@FOLLOW_UP.register("inbound_first")
class InboundFirst:
    """Buyers who contacted us and referrals first, then campaign responses, then cold leads."""

    def __init__(self, spec: object) -> None:
        del spec

    def priority(self, source: str) -> int:
        """Inbound and referral 0, campaign 1, prospecting 2."""
        return SOURCE_PRIORITY_INBOUND_FIRST.get(source, 1)
