"""The studio's lever panel, generated from the scenario schema.

A :class:`Lever` is one setting a strategist changes: its dotted path, today's value, the bounds
the schema puts on it, its unit and the parameter's description and source (the text of
docs/model.md's parameter table). :func:`panel` lists the settings changed most (rep seats and new
hires, the hours split, campaign budgets, outbound opportunities per rep-week, qualification
threshold and policy, engagement, flanking and follow-up policy); :func:`lever_at` makes a lever
of any other numeric parameter by path ("add a lever").

New hires are the one lever that is not a schema path: ``hires`` new reps who start at the
beginning of the horizon and ramp up, written as ``reps.members`` (the team as it is, then
``hire01``, ``hire02``, ...: what ``pipesim required --lever reps.count`` adds).
:func:`scenario_changes` turns the panel's values into the dotted-path changes a what-if holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import annotated_types as at

from pipesim.scenario.edit import EditError, format_path, get_value, parse_path
from pipesim.scenario.introspect import expected_at
from pipesim.scenario.registry import policy_registry
from pipesim.scenario.schema import Scenario
from pipesim.scenario.schema.sales import MAX_REPS

HIRES = "hires"
"""The panel's key of the new-hires lever (not a schema path)."""

POLICY_FAMILIES = {
    "qualification.policy": "qualification",
    "engagement.policy": "engagement",
    "flanking.policy": "flanking",
    "leads.follow_up": "follow_up",
}
"""Policy settings and the registry that names what they may be."""


@dataclass(frozen=True)
class Lever:
    """One setting of the panel.

    Attributes
    ----------
    path
        Dotted path in the scenario (or :data:`HIRES`).
    label
        Short words for the panel.
    kind
        ``"integer"``, ``"number"`` or ``"choice"``.
    value
        Today's value in the reference scenario.
    minimum, maximum
        Bounds from the schema (None when unbounded); ``exclusive_min`` / ``exclusive_max``
        say a bound itself is not allowed.
    step
        The step of the input's arrows.
    unit
        Unit words (``"reps"``, ``"EUR per week"``, ``"share 0-1"``...).
    description, source
        The parameter's description and source from the schema.
    choices
        For a policy: the registered names.
    """

    path: str
    label: str
    kind: str
    value: Any
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    step: float = 1.0
    unit: str = ""
    description: str = ""
    source: str = ""
    choices: tuple[str, ...] = ()

    @property
    def bounds_text(self) -> str:
        """The allowed range in words, e.g. ``between 1 and 1000``, ``at least 0``."""
        lo = None if self.minimum is None else f"{self.minimum:g}"
        hi = None if self.maximum is None else f"{self.maximum:g}"
        if lo is not None and hi is not None:
            left = f"above {lo}" if self.exclusive_min else f"at least {lo}"
            right = f"below {hi}" if self.exclusive_max else f"at most {hi}"
            return f"{left} and {right}"
        if lo is not None:
            return f"{'above' if self.exclusive_min else 'at least'} {lo}"
        if hi is not None:
            return f"{'below' if self.exclusive_max else 'at most'} {hi}"
        return ""


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None, bool, bool]:
    lo = hi = None
    lo_x = hi_x = False
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, at.Gt):
            lo, lo_x = float(m.gt), True  # type: ignore[arg-type]
        elif isinstance(m, at.Le):
            hi = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, at.Lt):
            hi, hi_x = float(m.lt), True  # type: ignore[arg-type]
    return lo, hi, lo_x, hi_x


def unit_of(path: str, description: str, currency: str) -> str:
    """Unit words for a numeric parameter, from its name (and description)."""
    name = path.rsplit(".", 1)[-1]
    words = description.lower()
    if name in ("count",) and path.startswith("reps"):
        return "reps"
    if "budget" in name or name.startswith("cost") or "(currency)" in words:
        return f"{currency} per week" if name.endswith("per_week") else currency
    if "hours" in name:
        return "hours per week" if name.endswith("per_week") else "hours"
    if name.endswith("per_rep_week"):
        return "per rep per week"
    if name.endswith("per_week"):
        return "per week"
    if name.endswith("_days"):
        return "days"
    if name.endswith("_weeks"):
        return "weeks"
    if name.endswith("per_year"):
        return "per year"
    if any(w in name for w in ("share", "probability", "threshold", "rate", "fraction")):
        return "share, 0 to 1"
    return ""


def _label(path: str) -> str:
    return path.replace("_", " ")


class LeverError(ValueError):
    """A path that cannot be a lever (unknown, or not a number): its message says why."""


def lever_at(scenario: Scenario, path: str, label: str | None = None) -> Lever:
    """A lever for the parameter at a dotted path, with the schema's bounds and description.

    Raises
    ------
    LeverError
        The path is not in the scenario or its value is not a number (nor a policy name).
    """
    text = path.strip()
    if not text:
        raise LeverError("give a parameter's dotted path, e.g. segments.S1.buyers_per_week")
    try:
        parts = parse_path(text)
    except EditError as exc:
        raise LeverError(exc.message) from None
    data = scenario.model_dump(mode="json")
    try:
        value = get_value(data, parts)
    except EditError as exc:
        raise LeverError(f"{text}: {exc.message}") from None
    tp, info = expected_at(Scenario, tuple(parts))
    dotted = format_path(tuple(parts))
    description = (info.description or "") if info is not None else ""
    source = ""
    if info is not None and isinstance(info.json_schema_extra, dict):
        source = str(info.json_schema_extra.get("source", ""))
    if dotted in POLICY_FAMILIES:
        names = tuple(policy_registry(POLICY_FAMILIES[dotted]).names())
        return Lever(
            dotted, label or _label(dotted), "choice", value, description=description,
            source=source, choices=names,
        )  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LeverError(
            f"{dotted} is not a number (it holds {type(value).__name__}); a lever takes a "
            "numeric parameter such as segments.S1.buyers_per_week"
        )
    metadata = list(info.metadata) if info is not None else []
    lo, hi, lo_x, hi_x = _bounds(metadata)
    integer = tp is int
    span = (hi - lo) if lo is not None and hi is not None else None
    if integer:
        step = 1.0
    elif value:
        step = 10 ** math.floor(math.log10(abs(float(value)))) / 10
    elif span:
        step = 10 ** math.floor(math.log10(span)) / 100
    else:
        step = 0.1
    return Lever(
        dotted,
        label or _label(dotted),
        "integer" if integer else "number",
        value,
        lo,
        hi,
        lo_x,
        hi_x,
        step,
        unit_of(dotted, description, scenario.economics.currency),
        description,
        source,
    )


def hires_lever(scenario: Scenario) -> Lever:
    """New reps who start at the beginning of the horizon and ramp up."""
    seats = scenario.reps.seats
    return Lever(
        HIRES,
        "new hires starting now",
        "integer",
        0,
        0.0,
        float(MAX_REPS - seats),
        step=1.0,
        unit="reps",
        description=(
            "New reps hired at the start of the horizon. Each ramps up from "
            f"{scenario.reps.ramp_start:.0%} productivity over {scenario.reps.ramp_weeks:g} "
            "weeks (reps.ramp_start, reps.ramp_weeks); written as reps.members, the team as it "
            "is plus hire01, hire02, ..."
        ),
        source="reps.members with tenure_weeks 0",
    )


def panel(scenario: Scenario) -> list[Lever]:
    """The levers a strategist changes most, for this scenario (its campaigns, its team)."""
    levers: list[Lever] = []
    if not scenario.reps.members:
        levers.append(lever_at(scenario, "reps.count", "rep seats (ramped)"))
    levers.append(hires_lever(scenario))
    levers.append(lever_at(scenario, "leads.prospecting.hours_per_week", "prospecting hours"))
    levers.append(lever_at(scenario, "reps.admin_share", "admin share of hours"))
    for name in scenario.campaigns:
        levers.append(lever_at(scenario, f"campaigns.{name}.budget_per_week", f"{name} budget"))
    levers.append(
        lever_at(
            scenario, "leads.outbound.opportunities_per_rep_week", "outbound opps per rep-week"
        )
    )
    levers.append(lever_at(scenario, "qualification.threshold", "qualification threshold"))
    levers.append(lever_at(scenario, "qualification.policy", "qualification policy"))
    levers.append(lever_at(scenario, "engagement.policy", "engagement policy"))
    levers.append(lever_at(scenario, "flanking.policy", "flanking policy"))
    levers.append(lever_at(scenario, "leads.follow_up", "follow-up policy"))
    return levers


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def scenario_changes(
    scenario: Scenario, levers: Mapping[str, Lever], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The dotted-path changes the panel's values make to the reference (unchanged ones left out).

    ``values`` maps a lever's path to the value in the panel. New hires become ``reps.members``
    (the seats as set, then the hires); ``reps.count`` then goes into that list rather than
    beside it, which the schema would refuse.

    Raises
    ------
    LeverError
        New hires that are not a whole number within the lever's bounds.
    """
    changes: dict[str, Any] = {}
    for path, value in values.items():
        lever = levers.get(path)
        if lever is None or value is None or path == HIRES:
            continue
        if not _same(value, lever.value):
            changes[path] = value
    given = values.get(HIRES) or 0
    hire_lever = levers.get(HIRES)
    top = hire_lever.maximum if hire_lever is not None and hire_lever.maximum is not None else 0
    if not float(given).is_integer() or not 0 <= given <= top:
        raise LeverError(f"{HIRES}: must be a whole number from 0 to {top:g} (got {given:g})")
    hires = int(given)
    if hires > 0:
        seats = int(changes.pop("reps.count", scenario.reps.seats))
        members: list[dict[str, Any]] = [
            m.model_dump(mode="json", exclude_none=True) for m in (scenario.reps.members or [])
        ] or [{"name": f"rep{k + 1:02d}"} for k in range(scenario.reps.seats)]
        members = members[:seats] + [
            {"name": f"rep{k + 1:02d}"} for k in range(len(members), seats)
        ]
        members += [{"name": f"hire{k + 1:02d}", "tenure_weeks": 0.0} for k in range(hires)]
        changes["reps.members"] = members
    return changes
