"""The decisions the optimiser takes, named by the scenario keys they set.

A *lever* is one number the plan chooses:

* ``campaigns.<name>.budget_per_week`` (currency per week) for each campaign;
* ``leads.prospecting.hours_per_week`` (hours per rep per week of cold prospecting);
* ``leads.outbound.opportunities_per_rep_week[<segment>]`` (opportunities each rep opens per week
  in that segment; the scenario carries their sum in ``leads.outbound.opportunities_per_rep_week``
  and the split in ``leads.outbound.segments``).

:func:`overlay` turns lever values into a scenario overlay (the mapping a ``plan.yaml`` holds) and
:func:`apply_overlay` into a validated what-if copy of the scenario, merged the way
``pipesim run --plan`` merges a plan file (mappings key by key, values replace).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipesim.scenario.edit import merge
from pipesim.scenario.loader import validate
from pipesim.scenario.schema import Scenario

LeverKind = Literal["campaign", "prospecting", "outbound"]
PROSPECTING_KEY = "leads.prospecting.hours_per_week"
OUTBOUND_KEY = "leads.outbound.opportunities_per_rep_week"


@dataclass(frozen=True)
class Lever:
    """One decision: its scenario key, what it acts on, its unit and today's value."""

    key: str
    kind: LeverKind
    name: str  # campaign or segment name ("" for prospecting)
    unit: str
    today: float


def outbound_key(segment: str) -> str:
    """Lever key of outbound opportunities in ``segment``."""
    return f"{OUTBOUND_KEY}[{segment}]"


def campaign_key(campaign: str) -> str:
    """Lever key of a campaign's weekly budget."""
    return f"campaigns.{campaign}.budget_per_week"


def split(scenario: Scenario, weights: Mapping[str, float] | None) -> dict[str, float]:
    """Shares per segment as the engine splits a flow (explicit weights, else buyer flow)."""
    names = list(scenario.segments)
    if weights:
        total = sum(weights.values())
        return {k: (weights.get(k, 0.0) / total if total > 0 else 0.0) for k in names}
    flow = {k: scenario.segments[k].buyers_per_week for k in names}
    total = sum(flow.values())
    return {k: (v / total if total > 0 else 1 / len(names)) for k, v in flow.items()}


def outbound_today(scenario: Scenario) -> dict[str, float]:
    """Outbound opportunities per rep per week in each segment, as the scenario has them."""
    out = scenario.leads.outbound
    shares = split(scenario, out.segments)
    return {k: out.opportunities_per_rep_week * shares[k] for k in scenario.segments}


def levers_of(scenario: Scenario) -> list[Lever]:
    """Every lever of a scenario, with today's values."""
    cur = scenario.economics.currency
    levers = [
        Lever(campaign_key(name), "campaign", name, f"{cur} per week", camp.budget_per_week)
        for name, camp in scenario.campaigns.items()
    ]
    levers.append(
        Lever(
            PROSPECTING_KEY,
            "prospecting",
            "",
            "hours per rep per week",
            scenario.leads.prospecting.hours_per_week,
        )
    )
    for seg, rate in outbound_today(scenario).items():
        levers.append(
            Lever(outbound_key(seg), "outbound", seg, "opportunities per rep per week", rate)
        )
    return levers


def overlay(scenario: Scenario, levels: Mapping[str, float]) -> dict[str, Any]:
    """The scenario overlay that sets the given levers (others keep today's values).

    Values are rounded to what a plan can state: currency to whole units, hours to 0.01,
    opportunity rates to 0.001 (segment shares to 0.0001).
    """
    by_key = {lever.key: lever for lever in levers_of(scenario)}
    unknown = [k for k in levels if k not in by_key]
    if unknown:
        raise KeyError(f"unknown lever(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    campaigns = {
        by_key[k].name: {"budget_per_week": float(round(v))}
        for k, v in levels.items()
        if by_key[k].kind == "campaign"
    }
    if campaigns:
        out["campaigns"] = campaigns
    leads: dict[str, Any] = {}
    if PROSPECTING_KEY in levels:
        leads["prospecting"] = {"hours_per_week": round(float(levels[PROSPECTING_KEY]), 2)}
    outbound = {by_key[k].name: float(v) for k, v in levels.items() if by_key[k].kind == "outbound"}
    if outbound:
        rates = {**outbound_today(scenario), **outbound}
        rates = {k: round(max(v, 0.0), 3) for k, v in rates.items()}
        total = round(sum(rates.values()), 3)
        block: dict[str, Any] = {"opportunities_per_rep_week": total}
        if total > 0:
            block["segments"] = {k: round(v / total, 4) for k, v in rates.items() if v > 0}
        leads["outbound"] = block
    if leads:
        out["leads"] = leads
    return out


def apply_overlay(scenario: Scenario, over: Mapping[str, Any]) -> Scenario:
    """A validated copy of ``scenario`` with ``over`` merged in (as ``--plan`` merges)."""
    return validate(merge(scenario.model_dump(), over), f"what-if of scenario {scenario.name!r}")
