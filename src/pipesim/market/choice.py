"""The buyer's choice: a multinomial logit over us, the competitors and the status quo.

Utilities are in logit units (score points x ``choice.sensitivity``). Competitors enter through
the log-sum-exp of their utilities, so any number of them costs one term.
"""

from __future__ import annotations

import math

US, COMPETITOR, STATUS_QUO = 0, 1, 2
CHOICES: tuple[str, ...] = ("us", "competitor", "status_quo")
"""Names of the choice codes, in code order (as written in deal files and scenarios)."""


def choice_probabilities(
    u_us: float, lse_competitors: float, u_status_quo: float
) -> tuple[float, float, float]:
    """Logit probabilities of (us, some competitor, the status quo)."""
    top = max(u_us, lse_competitors, u_status_quo)
    e_us = math.exp(u_us - top)
    e_comp = math.exp(lse_competitors - top) if lse_competitors > -math.inf else 0.0
    e_sq = math.exp(u_status_quo - top)
    total = e_us + e_comp + e_sq
    return e_us / total, e_comp / total, e_sq / total


def choose(u_us: float, lse_competitors: float, u_status_quo: float, uniform: float) -> int:
    """Pick US, COMPETITOR or STATUS_QUO with logit probabilities, driven by one uniform draw."""
    p_us, p_comp, _ = choice_probabilities(u_us, lse_competitors, u_status_quo)
    if uniform < p_us:
        return US
    if uniform < p_us + p_comp:
        return COMPETITOR
    return STATUS_QUO
