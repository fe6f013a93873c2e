"""Pluggable decision rules: qualification, engagement timing, flanking and lead follow-up.

Each family has a :class:`Registry`. A policy is a small class registered by name; a scenario
names it (``qualification.policy: threshold``, ``flanking.policy: flank``, ...) and the engine
builds it from the scenario block with ``registry.create(name, block)``. A researcher adds a
policy by decorating a class in any imported module::

    from pipesim.policies import flanking

    @flanking.FLANKING.register("always")
    class AlwaysFlank:
        def __init__(self, spec): ...
        def success_probability(self, gap, has_sponsor): ...

or from their own package through the ``pipesim.policies`` entry-point group, with entry points
named ``<family>.<name>`` (e.g. ``flanking.always = mypkg.policies:AlwaysFlank``).
"""

from __future__ import annotations

from pipesim.policies import engagement, flanking, followup, qualification
from pipesim.scenario.registry import ENTRY_POINT_GROUP, Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "Registry",
    "engagement",
    "flanking",
    "followup",
    "qualification",
]
