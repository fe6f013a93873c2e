"""The policy registries: which policy names a scenario may use, and how each is built.

Each family (qualification, engagement, flanking, follow_up) has one :class:`Registry`. The
built-in policies in :mod:`pipesim.policies` register their classes into these registries when
imported (the ``pipesim`` package imports them), researchers add their own with the same decorator
or through the ``pipesim.policies`` entry-point group, named ``<family>.<name>``. The scenario
schema checks the names a scenario gives against these registries; the engine builds the policies
from them. The registries sit in the scenario layer so that checking a name never needs the
engine's layer.
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


FAMILIES = ("qualification", "engagement", "flanking", "follow_up")
_REGISTRIES: dict[str, Registry[Any]] = {family: Registry(family) for family in FAMILIES}


def policy_registry(family: str) -> Registry[Any]:
    """The registry of one policy family (``qualification``, ``engagement``, ...)."""
    return _REGISTRIES[family]
