"""The parameter diff of two runs: which settings differ between their resolved scenarios.

The two resolved scenarios (every default filled in) are compared key by key. A change is a
value that differs at a dotted path (``reps.count``), or a block added or removed as a whole (a
new campaign, a dropped competitor); a list (``open_pipeline``, ``reps.members``,
``qualification.checks``) is one value, applied as a whole. ``name`` and ``description`` are
listed but not simulated.

:func:`scenario_from_record` reads the scenario a recorded run used and :func:`apply_changes`
makes changes to a scenario's data. How much each change moved P(target) is worked out in
:mod:`pipesim.experiments.attribution`; the waterfall chart and the files of ``pipesim diff`` are
in :mod:`pipesim.experiments.waterfall`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from pipesim.runs.records import RunRecord
from pipesim.scenario.edit import REMOVE, edited
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.loader import validate
from pipesim.scenario.schema import Scenario

LABEL_KEYS = ("name", "description")
"""Top-level keys that name a scenario without changing what is simulated."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Stands for the absent side of an added or removed setting."""


@dataclass(frozen=True)
class Change:
    """One setting that differs between two resolved scenarios.

    Attributes
    ----------
    path
        Keys from the top of the scenario, e.g. ``("reps", "count")``.
    kind
        ``"changed"``, ``"added"`` (only in B) or ``"removed"`` (only in A).
    old, new
        The values in A and B (:data:`MISSING` on the absent side); a block added or removed as
        a whole carries the whole mapping.
    """

    path: tuple[str, ...]
    kind: str
    old: Any
    new: Any

    @property
    def name(self) -> str:
        """The dotted path, as ``--set`` takes it."""
        return ".".join(self.path)

    @property
    def simulated(self) -> bool:
        """False for a change of the scenario's name or description only."""
        return not (len(self.path) == 1 and self.path[0] in LABEL_KEYS)

    def leaves(self) -> list[dict[str, Any]]:
        """Dotted-path rows ``{path, kind, old, new}`` (a whole block gives one row per value)."""
        side = self.new if self.kind == "added" else self.old
        if self.kind != "changed" and isinstance(side, dict) and side:
            flat = flatten(side, self.path)
            return [
                {
                    "path": ".".join(p),
                    "kind": self.kind,
                    "old": v if self.kind == "removed" else MISSING,
                    "new": v if self.kind == "added" else MISSING,
                }
                for p, v in flat.items()
            ]
        return [{"path": self.name, "kind": self.kind, "old": self.old, "new": self.new}]


def flatten(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaves of nested mappings by key path; lists and empty mappings are leaves."""
    if isinstance(data, dict) and data:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in data.items():
            out.update(flatten(v, (*prefix, str(k))))
        return out
    return {prefix: data}


def scenario_changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """Settings that differ between two resolved scenarios (``model_dump(mode="json")``).

    Mappings are compared key by key; a key present on one side only is one ``added`` or
    ``removed`` change carrying the whole value; anything else (numbers, text, lists, a mapping
    replacing a null) is one ``changed`` value. Order: as the keys appear in A, then B's new keys.
    """
    out: list[Change] = []

    def walk(x: Any, y: Any, path: tuple[str, ...]) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in [*x, *(k for k in y if k not in x)]:
                sub = (*path, str(k))
                if k not in y:
                    out.append(Change(sub, "removed", x[k], MISSING))
                elif k not in x:
                    out.append(Change(sub, "added", MISSING, y[k]))
                else:
                    walk(x[k], y[k], sub)
        elif x != y or type(x) is not type(y):
            if _same_number(x, y):
                return
            out.append(Change(path, "changed", x, y))

    walk(a, b, ())
    return out


def _same_number(x: Any, y: Any) -> bool:
    numeric = (int, float)
    return (
        isinstance(x, numeric)
        and isinstance(y, numeric)
        and not isinstance(x, bool)
        and not isinstance(y, bool)
        and float(x) == float(y)
    )


def apply_changes(data: dict[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """A copy of ``data`` (a resolved scenario as plain data) with ``changes`` made."""
    return edited(data, [(c.path, REMOVE if c.kind == "removed" else c.new) for c in changes])


def format_setting(value: Any, width: int = 48) -> str:
    """A setting's value in one short line (``–`` for a missing side)."""
    if value is MISSING:
        return "–"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 1e4 else str(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def scenario_from_record(record: RunRecord) -> Scenario:
    """The resolved scenario a recorded run used (from the YAML text kept with it).

    Raises
    ------
    ScenarioError
        When the saved scenario no longer validates (a key this version does not know).
    """
    source = f"{record.folder}/scenario.yaml (run {record.short_id})"
    try:
        data = yaml.safe_load(record.scenario_yaml)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [Problem((), f"malformed YAML: {exc}")]) from None
    return validate(data, source)
