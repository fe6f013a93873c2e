"""What one unit of each lever costs the plan, and where each figure comes from.

A plan trades levers against each other through what they cost: campaign spend buys leads at
``campaigns.<name>.cost_per_lead``; a prospecting hour finds ``1 / leads.prospecting.
hours_per_lead`` leads; an outbound opportunity takes ``hours_per_opportunity`` rep hours to find
and open; every lead takes ``reps.qualify_hours`` and every open opportunity
``reps.pursue_hours_per_week``. :func:`lever_costs` lists them with the key and source of each
figure, so a plan's page can show which assumption a gain rests on.

The outbound cost is the one a plan most often leans on, so :func:`outbound_cost` resolves it
and says where it came from: the optimiser's settings when they give it, else the scenario's
value when the scenario file (or ``--set``) states it, else the documented default
(:data:`~pipesim.optimise.settings.DEFAULT_OUTBOUND_HOURS`, the scenario schema's default). The plan
overlay carries the value used (:func:`cost_overlay`), so ``pipesim run --plan`` simulates the
plan under the same assumption as its checks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipesim.optimise.levers import PROSPECTING_KEY, campaign_key, split
from pipesim.optimise.pilot import LoadProfile
from pipesim.optimise.settings import (
    DEFAULT_OUTBOUND_HOURS,
    OUTBOUND_HOURS_SOURCE,
    OptimiseSettings,
)
from pipesim.optimise.text import number
from pipesim.scenario.edit import EditError, get_value
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import parse_override
from pipesim.scenario.schema import Scenario
from pipesim.scenario.yaml_io import read_yaml

OUTBOUND_HOURS_KEY = "leads.outbound.hours_per_opportunity"
OUTBOUND_SETTING = "optimise.lever_costs.outbound_hours_per_opportunity"
OUTBOUND_FAMILY = "leads.outbound.opportunities_per_rep_week[*]"


@dataclass(frozen=True)
class Assumption:
    """A figure a plan rests on: its value, the key it is read from, and its source."""

    key: str
    value: float
    source: str
    reference: str = ""  # the full citation behind ``source``, when there is one


@dataclass(frozen=True)
class LeverCost:
    """What one unit of a lever (or of work every lever brings) costs, and its source.

    Attributes
    ----------
    family
        The lever key, ``leads.outbound.opportunities_per_rep_week[*]`` for every segment's
        outbound lever, or ``all`` for work every lead or opportunity brings.
    unit
        One unit of the lever.
    cost
        What that unit costs or buys, in words.
    key
        The scenario or settings key of the figure.
    value
        The figure.
    source
        Where the figure comes from, in short.
    reference
        The full citation behind ``source``, when there is one.
    note
        A comparison with the scenario's other figures, when there is one.
    """

    family: str
    unit: str
    cost: str
    key: str
    value: float
    source: str
    reference: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row as ``optimise.json`` holds it."""
        return {
            "lever": self.family,
            "unit": self.unit,
            "cost": self.cost,
            "key": self.key,
            "value": self.value,
            "source": self.source,
            "reference": self.reference,
            "note": self.note,
        }


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> Any:
    """A scenario file's YAML, read once per version of the file (``stated`` asks per key)."""
    return read_yaml(Path(path))[0]


def stated(path: str | Path, overrides: Iterable[str], key: tuple[str, ...]) -> str | None:
    """Where the scenario states ``key``: ``--set``, the file, or a base it extends; else None."""
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ValueError:
            continue
        n = len(parts)
        if tuple(parts) == key[:n]:
            if n == len(key):
                return "--set"
            try:
                get_value(value, key[n:])
                return "--set"
            except EditError:
                pass
    seen: set[Path] = set()
    current = Path(path)
    while current.resolve() not in seen:
        seen.add(current.resolve())
        try:
            data = _read(str(current.resolve()), current.stat().st_mtime_ns)
        except (OSError, ScenarioError):
            return None
        try:
            get_value(data, key)
            return str(current)
        except EditError:
            pass
        base = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(base, str) or not base.strip():
            return None
        current = current.parent / base
    return None


def outbound_cost(
    scenario: Scenario,
    settings: OptimiseSettings,
    scenario_path: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> Assumption:
    """Rep hours to find and open one outbound opportunity, as the plan assumes them.

    The settings' value when given; else the scenario's ``leads.outbound.hours_per_opportunity``
    when the scenario file (or ``--set``) states it; else the optimiser's documented default.
    """
    given = settings.lever_costs.outbound_hours_per_opportunity
    if given is not None:
        return Assumption(OUTBOUND_SETTING, float(given), "optimiser settings")
    value = scenario.leads.outbound.hours_per_opportunity
    where = (
        stated(scenario_path, overrides, ("leads", "outbound", "hours_per_opportunity"))
        if scenario_path is not None
        else None
    )
    if where is not None:
        return Assumption(OUTBOUND_HOURS_KEY, float(value), f"stated in {where}")
    return Assumption(
        OUTBOUND_SETTING,
        DEFAULT_OUTBOUND_HOURS,
        f"optimiser default from SDR benchmarks; the scenario does not state "
        f"{OUTBOUND_HOURS_KEY} (schema placeholder {number(value)} h)",
        OUTBOUND_HOURS_SOURCE,
    )


def cost_overlay(scenario: Scenario, outbound: Assumption) -> dict[str, Any]:
    """The scenario overlay that puts the plan's outbound cost in place (empty if already so)."""
    if abs(scenario.leads.outbound.hours_per_opportunity - outbound.value) < 1e-12:
        return {}
    return {"leads": {"outbound": {"hours_per_opportunity": outbound.value}}}


def _schema_source(block: BaseModel, field: str) -> str:
    extra = type(block).model_fields[field].json_schema_extra
    source = extra.get("source") if isinstance(extra, dict) else None
    return str(source) if source else "schema default"


def _source(
    scenario_path: str | Path | None,
    overrides: Iterable[str],
    key: tuple[str, ...],
    block: BaseModel,
    field: str,
) -> str:
    where = stated(scenario_path, overrides, key) if scenario_path is not None else None
    if where is not None:
        return f"stated in {where}"
    return f"schema default, source: {_schema_source(block, field)}"


def implied_prospecting_hours(scenario: Scenario, load: LoadProfile) -> float | None:
    """Rep hours per opportunity that prospecting costs by the scenario's own figures.

    Finding a lead (``leads.prospecting.hours_per_lead``) and qualifying it
    (``reps.qualify_hours``), over the measured share of prospecting leads pursued. An outbound
    opportunity is prospecting with the qualification done, so its cost is comparable.
    """
    shares = split(scenario, None)
    pursued = sum(
        shares[s] * load.get("prospecting", s).opportunity_share for s in scenario.segments
    )
    if pursued <= 0:
        return None
    per_lead = scenario.leads.prospecting.hours_per_lead + scenario.reps.qualify_hours
    return per_lead / pursued


def lever_costs(
    scenario: Scenario,
    outbound: Assumption,
    load: LoadProfile | None = None,
    scenario_path: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> list[LeverCost]:
    """Every lever's unit cost with its key and source (and the work all levers bring)."""
    cur = scenario.economics.currency
    overrides = list(overrides)
    rows = []
    for name, camp in scenario.campaigns.items():
        rows.append(
            LeverCost(
                campaign_key(name),
                f"1 {cur} per week of spend",
                f"buys one lead per {number(camp.cost_per_lead)} {cur} (then qualifying and "
                "pursuit hours)",
                f"campaigns.{name}.cost_per_lead",
                camp.cost_per_lead,
                _source(
                    scenario_path,
                    overrides,
                    ("campaigns", name, "cost_per_lead"),
                    camp,
                    "cost_per_lead",
                ),
            )
        )
    pro = scenario.leads.prospecting
    rows.append(
        LeverCost(
            PROSPECTING_KEY,
            "1 rep hour per week",
            f"finds one lead per {number(pro.hours_per_lead)} h (then qualifying and pursuit "
            "hours)",
            "leads.prospecting.hours_per_lead",
            pro.hours_per_lead,
            _source(
                scenario_path,
                overrides,
                ("leads", "prospecting", "hours_per_lead"),
                pro,
                "hours_per_lead",
            ),
        )
    )
    implied = implied_prospecting_hours(scenario, load) if load is not None else None
    compare = (
        f"For comparison, the scenario's prospecting figures (leads.prospecting.hours_per_lead "
        f"and reps.qualify_hours over the share of prospecting leads pursued) put an "
        f"opportunity at {number(implied, 1)} rep hours."
        if implied is not None
        else ""
    )
    rows.append(
        LeverCost(
            OUTBOUND_FAMILY,
            "1 opportunity per rep per week",
            f"{number(outbound.value)} rep hours to find and open each, then pursuit hours "
            "while it is open",
            outbound.key,
            outbound.value,
            outbound.source,
            outbound.reference,
            compare,
        )
    )
    reps = scenario.reps
    for field, unit, text in (
        ("qualify_hours", "every lead a rep takes", "rep hours to qualify it"),
        ("pursue_hours_per_week", "every open opportunity", "rep hours per week while open"),
        ("cost_per_hour", "every planned rep hour (min-cost)", f"{cur} per hour"),
    ):
        value = float(getattr(reps, field))
        rows.append(
            LeverCost(
                "all",
                unit,
                f"{number(value)} {text}",
                f"reps.{field}",
                value,
                _source(scenario_path, overrides, ("reps", field), reps, field),
            )
        )
    return rows
