"""Qualification policies: when a rep has judged a lead, pursue it or disqualify it.

The rep's judgement is noisy: perceived fit = true fit + N(0, rep noise), and a failed
budget/authority/timing check is noticed only with the rep's check accuracy (domain.md §2: 80% of
reps believe they qualify well, yet 51% of forecast deals do not close). A policy turns that
judgement into pursue (True) or disqualify (False).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from pipesim.scenario.registry import Registry, policy_registry
from pipesim.scenario.schema import QUALIFICATION_CHECKS, Qualification


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rep believes about a lead after qualifying it.

    ``deviation_draw`` is a uniform draw a policy may use for a random departure from its rule.
    """

    perceived_fit: float
    noticed_failures: tuple[str, ...]
    deviation_draw: float = 1.0


def noticed_failures(
    failed: np.ndarray, draws: np.ndarray, accuracy: float
) -> list[tuple[str, ...]]:
    """Per lead, the failed checks a rep notices: each failed check with probability ``accuracy``.

    ``failed`` and ``draws`` are ``(leads, checks)`` arrays (booleans, uniform draws) over
    :data:`QUALIFICATION_CHECKS`; a failed check is noticed when its draw is below ``accuracy``.
    """
    noticed = failed & (draws < accuracy)
    mask = noticed @ (1 << np.arange(len(QUALIFICATION_CHECKS)))
    combos = [
        tuple(name for k, name in enumerate(QUALIFICATION_CHECKS) if m >> k & 1)
        for m in range(1 << len(QUALIFICATION_CHECKS))
    ]
    return [combos[m] for m in mask.tolist()]


def noticed_masks(failed: np.ndarray, draws: np.ndarray, accuracy: float) -> np.ndarray:
    """Per lead, the noticed failed checks as a bit mask (bit k: :data:`QUALIFICATION_CHECKS` k).

    The same facts as :func:`noticed_failures`, in the form :meth:`Decider` functions take.
    """
    noticed = failed & (draws < accuracy)
    return np.asarray(noticed @ (1 << np.arange(len(QUALIFICATION_CHECKS))), dtype=np.int64)


def check_mask(checks: Iterable[str]) -> int:
    """The bit mask of named checks (bit k: :data:`QUALIFICATION_CHECKS` k)."""
    return sum(1 << QUALIFICATION_CHECKS.index(c) for c in checks)


Decider = Callable[[float, int, float], bool]
"""``decide(perceived_fit, noticed_mask, deviation_draw) -> pursue?``: a policy in the form the
engine calls once per qualified lead (no :class:`Judgement` built)."""


def decider(policy: QualificationPolicy) -> Decider:
    """The policy as a :data:`Decider`: its own fast form if it has one, else through ``pursue``.

    Both forms decide alike; a policy registered by a user needs only ``pursue``.
    """
    fast = getattr(policy, "decider", None)
    if fast is not None:
        return cast(Decider, fast())
    combos = [
        tuple(name for k, name in enumerate(QUALIFICATION_CHECKS) if m >> k & 1)
        for m in range(1 << len(QUALIFICATION_CHECKS))
    ]
    pursue = policy.pursue

    def decide(perceived_fit: float, noticed: int, deviation_draw: float) -> bool:
        return pursue(Judgement(perceived_fit, combos[noticed], deviation_draw))

    return decide


def judge(
    fit: float, noise: float, z: float, noticed: tuple[str, ...], deviation_draw: float
) -> Judgement:
    """A rep's judgement of a lead: perceived fit ``fit + noise * z`` and the noticed failures."""
    return Judgement(fit + noise * z, noticed, deviation_draw)


class QualificationPolicy(Protocol):
    """Decide whether to pursue a lead given the rep's judgement of it."""

    def pursue(self, judgement: Judgement) -> bool:
        """True to pursue the lead as an opportunity, False to disqualify it."""
        ...


QUALIFICATION: Registry[QualificationPolicy] = policy_registry("qualification")


def make_policy(spec: Qualification) -> QualificationPolicy:
    """Build the policy the scenario names."""
    return QUALIFICATION.create(spec.policy, spec)


def register(name: str):  # type: ignore[no-untyped-def]
    """Class decorator: make a qualification policy selectable by ``name``."""
    return QUALIFICATION.register(name)


@QUALIFICATION.register("threshold")
class ThresholdPolicy:
    """Never deviate: pursue when perceived fit reaches the threshold and no check fails."""

    def __init__(self, spec: Qualification) -> None:
        self.threshold = spec.threshold
        self.required = frozenset(spec.checks)

    def passes(self, judgement: Judgement) -> bool:
        """Whether the lead passes the rule."""
        if judgement.perceived_fit < self.threshold:
            return False
        return not any(check in self.required for check in judgement.noticed_failures)

    def pursue(self, judgement: Judgement) -> bool:
        """Apply the fit threshold and the required checks."""
        return self.passes(judgement)

    def decider(self) -> Decider:
        """The rule as a :data:`Decider` (the form the engine calls per lead)."""
        threshold, required = self.threshold, check_mask(self.required)

        def decide(perceived_fit: float, noticed: int, deviation_draw: float) -> bool:
            return perceived_fit >= threshold and not noticed & required

        return decide


@QUALIFICATION.register("discretion")
class DiscretionPolicy(ThresholdPolicy):
    """The rule, but the rep pursues a rejected lead with probability ``deviation_rate``."""

    def __init__(self, spec: Qualification) -> None:
        super().__init__(spec)
        self.deviation_rate = spec.deviation_rate

    def pursue(self, judgement: Judgement) -> bool:
        """Pursue what passes, and a share of what does not."""
        return self.passes(judgement) or judgement.deviation_draw < self.deviation_rate

    def decider(self) -> Decider:
        """The rule as a :data:`Decider` (the form the engine calls per lead)."""
        threshold, required = self.threshold, check_mask(self.required)
        rate = self.deviation_rate

        def decide(perceived_fit: float, noticed: int, deviation_draw: float) -> bool:
            return (perceived_fit >= threshold and not noticed & required) or deviation_draw < rate

        return decide


@QUALIFICATION.register("pursue_all")
class PursueAllPolicy:
    """Pursue every lead (no qualification): the baseline researchers compare against."""

    def __init__(self, spec: Qualification) -> None:
        del spec

    def pursue(self, judgement: Judgement) -> bool:
        """Always pursue."""
        del judgement
        return True

    def decider(self) -> Decider:
        """The rule as a :data:`Decider` (the form the engine calls per lead)."""

        def decide(perceived_fit: float, noticed: int, deviation_draw: float) -> bool:
            return True

        return decide


__all__ = [
    "QUALIFICATION",
    "QUALIFICATION_CHECKS",
    "Decider",
    "DiscretionPolicy",
    "Judgement",
    "PursueAllPolicy",
    "QualificationPolicy",
    "ThresholdPolicy",
    "check_mask",
    "decider",
    "judge",
    "make_policy",
    "noticed_failures",
    "noticed_masks",
    "register",
]
