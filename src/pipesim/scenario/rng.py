"""Random streams: one root seed, one seed per replication, one named stream per mechanism.

``replication_seeds(root, n)`` spawns a child :class:`numpy.random.SeedSequence` per replication
and condenses it to a 64-bit integer (the ``seed`` column of ``replications.csv``), so any single
replication can be re-run from its row. Inside a replication, :class:`Streams` derives an
independent generator per mechanism *name* (``"inbound:S1"``, ``"campaign:webinars:S2"``,
``"reps:seat:3"``, ...), so adding or
changing one mechanism never shifts the numbers another draws: common random numbers hold across
scenarios that differ in one place.
"""

from __future__ import annotations

import zlib

import numpy as np


def replication_seeds(root_seed: int, count: int, start: int = 0) -> list[int]:
    """Seeds of replications ``start .. start + count - 1`` for a root seed."""
    children = np.random.SeedSequence(root_seed).spawn(start + count)[start:]
    return [int(c.generate_state(1, dtype=np.uint64)[0]) for c in children]


class Streams:
    """Named, independent generators derived from one replication seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator for mechanism ``name`` (created on first use, then reused)."""
        gen = self._cache.get(name)
        if gen is None:
            key = zlib.crc32(name.encode("utf-8"))
            gen = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(key,)))
            )
            self._cache[name] = gen
        return gen
