"""Owner-quarter blocks: the records that the intervals treat as one unit.

Deals of one owner created in one calendar quarter share that rep's load, skill and the season,
so they are not independent. :func:`block_codes` labels each record's block; the intervals
resample whole blocks (the bootstraps) or sum per-record contributions within blocks before
taking their covariance (:func:`block_cov`, behind the robust and design-effect intervals).
With fewer than ``MIN_BLOCKS`` blocks, each record is its own block (:func:`usable_blocks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BLOCK_MONTHS = 3
"""Intervals treat the opportunities of one owner created in one calendar quarter as a block."""
MIN_BLOCKS = 10
"""With fewer blocks than this, intervals resample single records instead."""


def block_codes(owner: pd.Series, created: pd.Series) -> np.ndarray:
    """Block of each record: its owner and the calendar quarter it was created in.

    Opportunities of one rep in one quarter share that rep's load, skill and the season; the
    intervals resample or sum over whole blocks so that they do not count such deals as
    independent.
    """
    months = created.dt.year.to_numpy() * 12 + created.dt.month.to_numpy() - 1
    period = months // BLOCK_MONTHS
    key = pd.Series(owner.astype(str).to_numpy()) + "|" + pd.Series(period).astype(str)
    return np.asarray(pd.factorize(key)[0])


def usable_blocks(blocks: np.ndarray | None, n: int) -> np.ndarray:
    """``blocks`` when there are enough of them, else one block per record."""
    if blocks is None or len(np.unique(blocks)) < MIN_BLOCKS:
        return np.arange(n)
    return np.asarray(blocks)


def block_cov(contrib: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Covariance of a sum of per-record contributions when blocks are independent.

    ``contrib`` is (records, k); the block totals are centred and scaled by G / (G - 1).
    """
    codes, inv = np.unique(blocks, return_inverse=True)
    g = len(codes)
    totals = np.zeros((g, contrib.shape[1]))
    np.add.at(totals, inv, contrib)
    totals -= totals.mean(axis=0)
    return np.asarray(totals.T @ totals) * g / max(g - 1, 1)
