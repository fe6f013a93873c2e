"""A plan as the user gets it: a scenario overlay (``plan.yaml``) and tables per rep.

``plan.yaml`` holds only the keys the plan changes, in scenario form, so
``pipesim run SCENARIO --plan plan.yaml`` runs it and a planner can read or merge it. The engine
applies one outbound rate and one prospecting figure to every rep, so the overlay carries the
team averages; the per-rep quotas and hours (which follow each rep's hours, skill, ramp and open
deals) are in ``plan.csv`` and, week by week, ``quotas.csv``.

``plan.csv`` columns: ``kind`` (``rep`` or ``campaign``), ``name``, ``group``, ``segment``
(a segment, or ``all`` for the rep's totals), on the ``all`` row the rep's ``skill`` (its own,
else the team's expected skill), ``productivity`` (mean over the horizon: 1 when ramped) and
``selling_hours`` (per week, after admin and ramp); hours per week per activity
(``<activity>_hours``) and ``total_hours``, ``new_opportunities_per_week`` (on the ``all`` row:
the rep's weekly opportunity quota, its mean over the horizon),
``outbound_opportunities_per_week``, on the ``all`` row ``quota_first_week`` and
``quota_ramped`` (the quota in the first week and once fully productive), and for campaigns
``spend_per_week``, ``leads_per_week`` and ``uncaptured_leads_per_week``.

``quotas.csv``: per rep and week of the horizon, the rep's ``productivity`` that week and its
``new_opportunities_quota`` and ``outbound_opportunities_quota``: the plan's quota follows the
rep's ramp-up (in proportion to its productivity, averaging to the ``plan.csv`` quota).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipesim.optimise.levers import overlay
from pipesim.optimise.problem import ACTIVITIES, Problem
from pipesim.optimise.solver import Solution, iter_hours
from pipesim.scenario.edit import merge
from pipesim.scenario.schema import Scenario

HOUR_COLUMNS = [f"{a}_hours" for a in ACTIVITIES]
COLUMNS = [
    "kind",
    "name",
    "group",
    "segment",
    "skill",
    "productivity",
    "selling_hours",
    *HOUR_COLUMNS,
    "total_hours",
    "new_opportunities_per_week",
    "outbound_opportunities_per_week",
    "quota_first_week",
    "quota_ramped",
    "spend_per_week",
    "leads_per_week",
    "uncaptured_leads_per_week",
]


def plan_overlay(
    scenario: Scenario,
    solution: Solution,
    target: float | None = None,
    assumptions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The scenario overlay of a solved plan.

    Team-average levers; the target if changed; and ``assumptions``, an overlay of what the
    plan assumes beyond the scenario (the outbound cost, see :mod:`pipesim.optimise.costs`).
    """
    out = overlay(scenario, solution.levels)
    if assumptions:
        out = merge(out, assumptions)
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
    weeks = _weeks(p)
    for g in p.groups:
        share = p.lead_share(g)
        first, ramped = _ramp_ends(g.weekly_productivity(weeks))
        seg_rows = []
        for s in [*p.segments, "all"]:
            row: dict[str, Any] = {"kind": "rep", "group": g.name, "segment": s}
            acts = hours.get((g.name, s), {})
            if s == "all":
                acts = {
                    a: sum(hours.get((g.name, x), {}).get(a, 0.0) for x in [*p.segments, "all"])
                    for a in ACTIVITIES
                }
                quota = solution.quota[g.name]
                row["skill"] = g.skill
                row["productivity"] = g.ramp
                row["selling_hours"] = g.hours
                row["new_opportunities_per_week"] = quota
                row["outbound_opportunities_per_week"] = sum(
                    solution.outbound[g.name, x] for x in p.segments
                )
                row["quota_first_week"] = quota * first
                row["quota_ramped"] = quota * ramped
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


def _weeks(problem: Problem) -> int:
    return max(1, math.ceil(problem.horizon_weeks - 1e-9))


def _ramp_ends(productivity: list[float]) -> tuple[float, float]:
    """Quota multipliers of the first week and of full productivity (the mean quota is 1)."""
    mean = sum(productivity) / len(productivity)
    if mean <= 0:
        return 1.0, 1.0
    return productivity[0] / mean, 1.0 / mean


def quota_schedule(problem: Problem, solution: Solution) -> pd.DataFrame:
    """Each rep's quota week by week: the plan's quota in proportion to its productivity.

    A ramped rep's quota is the same every week; a new hire's starts at its first week's
    productivity and rises with its ramp-up. Over the horizon each averages to the rep's quota.
    Columns: ``name``, ``group``, ``week`` (1 = the first week of the horizon),
    ``productivity``, ``new_opportunities_quota``, ``outbound_opportunities_quota``.
    """
    p = problem
    weeks = _weeks(p)
    rows = []
    for g in p.groups:
        rho = g.weekly_productivity(weeks)
        mean = sum(rho) / len(rho)
        quota = solution.quota[g.name]
        outbound = sum(solution.outbound[g.name, s] for s in p.segments)
        for rep in g.reps:
            for w, r in enumerate(rho):
                k = r / mean if mean > 0 else 1.0
                rows.append(
                    {
                        "name": rep,
                        "group": g.name,
                        "week": w + 1,
                        "productivity": r,
                        "new_opportunities_quota": quota * k,
                        "outbound_opportunities_quota": outbound * k,
                    }
                )
    return pd.DataFrame(rows)


def write_quota_csv(path: Path, schedule: pd.DataFrame) -> None:
    """Write ``quotas.csv`` (productivity to 0.001, quotas to 0.001)."""
    out = schedule.copy()
    for col in ("productivity", "new_opportunities_quota", "outbound_opportunities_quota"):
        out[col] = out[col].round(3)
    out.to_csv(path, index=False, lineterminator="\n")


def write_plan_csv(path: Path, table: pd.DataFrame) -> None:
    """Write ``plan.csv`` (hours to 0.01, opportunities to 0.001, money to whole units)."""
    out = table.copy()
    for col in [*HOUR_COLUMNS, "total_hours"]:
        out[col] = out[col].round(2)
    for col in (
        "new_opportunities_per_week",
        "outbound_opportunities_per_week",
        "quota_first_week",
        "quota_ramped",
        "skill",
        "productivity",
    ):
        out[col] = out[col].round(3)
    out["selling_hours"] = out["selling_hours"].round(2)
    for col in ("leads_per_week", "uncaptured_leads_per_week"):
        out[col] = out[col].round(2)
    out["spend_per_week"] = out["spend_per_week"].round(0)
    out.to_csv(path, index=False, lineterminator="\n")
