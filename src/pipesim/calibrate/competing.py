"""Competing risks: stage conversion, the decision stage's outcomes and the overall win rate.

Each share is an Aalen-Johansen cumulative incidence (:func:`aalen_johansen`): competing events,
open deals censored. Intervals are seeded percentile bootstraps that resample whole owner-quarter
blocks (:func:`competing_estimates`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipesim.calibrate.blocks import usable_blocks
from pipesim.calibrate.estimates import MIN_EPISODES, Estimate

BOOTSTRAP = 200
"""Bootstrap resamples for Aalen-Johansen intervals."""


def aalen_johansen(t: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    """Cumulative incidence at the last time of each of ``k`` competing events (code 1..k).

    ``code`` 0 is censored. Returns an array of ``k`` probabilities.
    """
    order = np.argsort(t, kind="stable")
    t, code = t[order], code[order]
    times, first = np.unique(t, return_index=True)
    n = len(t)
    at_risk = n - first
    counts = np.zeros((len(times), k + 1))
    idx = np.searchsorted(times, t)
    np.add.at(counts, (idx, code), 1)
    events = counts[:, 1:]
    total = events.sum(axis=1)
    surv_before = np.concatenate([[1.0], np.cumprod(1.0 - total / at_risk)[:-1]])
    return (surv_before[:, None] * events / at_risk[:, None]).sum(axis=0)


def competing_estimates(
    prefix: str,
    labels: Sequence[str],
    t: np.ndarray,
    code: np.ndarray,
    rng: np.random.Generator,
    notes: Sequence[str],
    blocks: np.ndarray | None = None,
) -> list[Estimate]:
    """Aalen-Johansen shares of each competing event with block-bootstrap intervals.

    Each resample draws whole blocks (:func:`~pipesim.calibrate.blocks.block_codes`) with
    replacement.
    """
    n = len(t)
    if n < MIN_EPISODES:
        return []
    k = len(labels)
    point = aalen_johansen(t, code, k)
    codes, inv = np.unique(usable_blocks(blocks, n), return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=len(codes)))])
    boot = np.empty((BOOTSTRAP, k))
    for b in range(BOOTSTRAP):
        chosen = rng.integers(0, len(codes), len(codes))
        if len(codes) == n:  # one record per block
            pick = order[chosen]
        else:
            pick = np.concatenate([order[bounds[g] : bounds[g + 1]] for g in chosen])
        boot[b] = aalen_johansen(t[pick], code[pick], k)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    se = boot.std(axis=0, ddof=1)
    censored = int((code == 0).sum())
    return [
        Estimate(
            f"{prefix}.{label}",
            float(point[j]),
            float(se[j]),
            float(lo[j]),
            float(hi[j]),
            n,
            censored,
            "share",
            "Aalen-Johansen cumulative incidence; percentile bootstrap of owner-quarter blocks "
            f"({BOOTSTRAP} resamples)",
            {},
            notes[j],
        )
        for j, label in enumerate(labels)
    ]
