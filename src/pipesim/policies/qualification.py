"""Qualification policies: when a rep has judged a lead, pursue it or disqualify it.

A policy is a class registered by name with :func:`register`; the scenario picks one with
``qualification.policy``. The rep's judgement is noisy: perceived fit = true fit + N(0, rep
noise), and a failed budget/authority/timing check is noticed only with the rep's check accuracy
(domain.md §2: 80% of reps believe they qualify well, yet 51% of forecast deals do not close).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from pipesim.config import QUALIFICATION_CHECKS, Qualification


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rep believes about a lead after qualifying it."""

    perceived_fit: float
    noticed_failures: tuple[str, ...]


class QualificationPolicy(Protocol):
    """Decide whether to pursue a lead given the rep's judgement of it."""

    def pursue(self, judgement: Judgement) -> bool:
        """True to pursue the lead as an opportunity, False to disqualify it."""
        ...


_REGISTRY: dict[str, Callable[[Qualification], QualificationPolicy]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a policy selectable as ``qualification.policy: NAME``."""

    def wrap(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return wrap


def make_policy(spec: Qualification) -> QualificationPolicy:
    """Build the policy the scenario names."""
    try:
        factory = _REGISTRY[spec.policy]
    except KeyError:
        raise ValueError(
            f"unknown qualification policy {spec.policy!r}; allowed: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(spec)


@register("threshold")
class ThresholdPolicy:
    """Pursue when perceived fit reaches the threshold and no required check is seen to fail."""

    name: ClassVar[str] = "threshold"

    def __init__(self, spec: Qualification) -> None:
        self.threshold = spec.threshold
        self.required = frozenset(spec.checks)

    def pursue(self, judgement: Judgement) -> bool:
        """Apply the fit threshold and the required checks."""
        if judgement.perceived_fit < self.threshold:
            return False
        return not any(check in self.required for check in judgement.noticed_failures)


@register("pursue_all")
class PursueAllPolicy:
    """Pursue every lead (no qualification): the baseline researchers compare against."""

    name: ClassVar[str] = "pursue_all"

    def __init__(self, spec: Qualification) -> None:
        del spec

    def pursue(self, judgement: Judgement) -> bool:
        """Always pursue."""
        del judgement
        return True


__all__ = [
    "QUALIFICATION_CHECKS",
    "Judgement",
    "PursueAllPolicy",
    "QualificationPolicy",
    "ThresholdPolicy",
    "make_policy",
    "register",
]
