"""A plan as the user gets it: a scenario overlay (``plan.yaml``) and a table (``plan.csv``).

``plan.yaml`` holds only the keys the plan changes, in scenario form, so
``pipesim run SCENARIO --plan plan.yaml`` runs it and a planner can read or merge it. The engine
applies one outbound rate and one prospecting figure to every rep, so the overlay carries the
team averages; the per-rep quotas and hours (which differ between rep groups, e.g. ramping reps)
are in ``plan.csv``.

``plan.csv`` columns: ``kind`` (``rep`` or ``campaign``), ``name``, ``group``, ``segment``
(a segment, or ``all`` for the rep's totals), hours per week per activity
(``<activity>_hours``) and ``total_hours``, ``new_opportunities_per_week`` (on the ``all`` row:
the rep's weekly opportunity quota), ``outbound_opportunities_per_week``, and for campaigns
``spend_per_week``, ``leads_per_week`` and ``uncaptured_leads_per_week``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipesim.optimise.levers import overlay
from pipesim.optimise.problem import ACTIVITIES, Problem
from pipesim.optimise.solver import Solution, iter_hours
from pipesim.scenario.schema import Scenario

HOUR_COLUMNS = [f"{a}_hours" for a in ACTIVITIES]
COLUMNS = [
    "kind",
    "name",
    "group",
    "segment",
    *HOUR_COLUMNS,
    "total_hours",
    "new_opportunities_per_week",
    "outbound_opportunities_per_week",
    "spend_per_week",
    "leads_per_week",
    "uncaptured_leads_per_week",
]


def plan_overlay(
    scenario: Scenario, solution: Solution, target: float | None = None
) -> dict[str, Any]:
    """The scenario overlay of a solved plan (team-average levers; the target if changed)."""
    out = overlay(scenario, solution.levels)
    if target is not None and target != scenario.target.revenue:
        out = {"target": {"revenue": float(target)}, **out}
    return out


def write_plan_yaml(path: Path, data: dict[str, Any], comments: Iterable[str] = ()) -> None:
    """Write an overlay as YAML under a comment header."""
    head = "".join(f"# {line}\n" if line else "#\n" for line in comments)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(head + body, encoding="utf-8")


def segment_opportunities(problem: Problem, solution: Solution) -> dict[str, float]:
    """Team opportunities per week from the lead queue, per segment."""
    p = problem
    opps = dict(p.fixed_team_opportunities)
    for name, camp in p.campaigns.items():
        effective = solution.spend[name] - solution.wasted[name]
        leads = effective / camp.cost_per_lead * camp.active_weeks / p.horizon_weeks
        for s in p.segments:
            opps[s] = (
                opps.get(s, 0.0) + leads * camp.shares.get(s, 0.0) * camp.costs.opportunities[s]
            )
    pc = p.prospecting_costs
    if pc is not None:
        hours = sum(g.size * solution.prospecting[g.name] for g in p.groups)
        found = hours / p.prospecting_hours_per_lead
        for s in p.segments:
            opps[s] = opps.get(s, 0.0) + found * p.prospecting_split[s] * pc.opportunities[s]
    return opps


def plan_table(problem: Problem, solution: Solution) -> pd.DataFrame:
    """The per-rep and per-campaign table of a plan (see the module docstring for columns)."""
    p = problem
    hours: dict[tuple[str, str], dict[str, float]] = {}
    for group, activity, seg, h in iter_hours(p, solution):
        hours.setdefault((group, seg), {})[activity] = h
    lead_opps = segment_opportunities(p, solution)
    rows: list[dict[str, Any]] = []
    for g in p.groups:
        share = p.lead_share(g)
        seg_rows = []
        for s in [*p.segments, "all"]:
            row: dict[str, Any] = {"kind": "rep", "group": g.name, "segment": s}
            acts = hours.get((g.name, s), {})
            if s == "all":
                acts = {
                    a: sum(hours.get((g.name, x), {}).get(a, 0.0) for x in [*p.segments, "all"])
                    for a in ACTIVITIES
                }
                row["new_opportunities_per_week"] = solution.quota[g.name]
                row["outbound_opportunities_per_week"] = sum(
                    solution.outbound[g.name, x] for x in p.segments
                )
            else:
                own = solution.outbound[g.name, s]
                row["new_opportunities_per_week"] = own + share * lead_opps.get(s, 0.0)
                row["outbound_opportunities_per_week"] = own
            for a in ACTIVITIES:
                row[f"{a}_hours"] = acts.get(a, 0.0)
            row["total_hours"] = sum(acts.get(a, 0.0) for a in ACTIVITIES)
            seg_rows.append(row)
        for rep in g.reps:
            rows.extend({**r, "name": rep} for r in seg_rows)
    for name, camp in p.campaigns.items():
        spend = solution.spend[name]
        leads = spend / camp.cost_per_lead * camp.active_weeks / p.horizon_weeks
        rows.append(
            {
                "kind": "campaign",
                "name": name,
                "group": "",
                "segment": "all",
                "spend_per_week": spend,
                "leads_per_week": leads,
                "uncaptured_leads_per_week": solution.wasted[name]
                / camp.cost_per_lead
                * camp.active_weeks
                / p.horizon_weeks,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def write_plan_csv(path: Path, table: pd.DataFrame) -> None:
    """Write ``plan.csv`` (hours to 0.01, opportunities to 0.001, money to whole units)."""
    out = table.copy()
    for col in [*HOUR_COLUMNS, "total_hours"]:
        out[col] = out[col].round(2)
    for col in ("new_opportunities_per_week", "outbound_opportunities_per_week"):
        out[col] = out[col].round(3)
    for col in ("leads_per_week", "uncaptured_leads_per_week"):
        out[col] = out[col].round(2)
    out["spend_per_week"] = out["spend_per_week"].round(0)
    out.to_csv(path, index=False, lineterminator="\n")
