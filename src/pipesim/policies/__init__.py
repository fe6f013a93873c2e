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

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")
ENTRY_POINT_GROUP = "pipesim.policies"


class Registry(Generic[T]):
    """Policies of one family, by name."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._factories: dict[str, Callable[[Any], T]] = {}
        self._loaded_plugins = False

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: make a policy selectable by ``name``."""

        def wrap(cls: type) -> type:
            self._factories[name] = cls
            return cls

        return wrap

    def _load_plugins(self) -> None:
        if self._loaded_plugins:
            return
        self._loaded_plugins = True
        prefix = f"{self.family}."
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name.startswith(prefix):
                self._factories.setdefault(ep.name[len(prefix) :], ep.load())

    def names(self) -> list[str]:
        """Registered policy names, sorted."""
        self._load_plugins()
        return sorted(self._factories)

    def create(self, name: str, spec: Any) -> T:
        """Build policy ``name`` from its scenario block."""
        self._load_plugins()
        try:
            factory = self._factories[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.family} policy {name!r}; allowed: {', '.join(self.names())}"
            ) from None
        return factory(spec)
