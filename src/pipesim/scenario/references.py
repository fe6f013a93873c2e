"""Checks that names inside a scenario refer to something, and look-ups by dotted path.

The schema validates each block on its own; :func:`reference_errors` checks what spans blocks
(criteria, segments, competitors, rep names, policy names, uncertain parameters, and the
number of buyers a replication would draw, :func:`workload`), and :func:`resolve_path` /
:func:`numeric_path_error` find a parameter by its dotted path.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from pipesim.scenario.errors import did_you_mean
from pipesim.scenario.registry import policy_registry
from pipesim.scenario.schema import Scenario

MAX_BUYERS_PER_REPLICATION = 1_000_000
"""Most buyers and leads one replication may draw (:func:`workload`). Each lead costs about
1.5 kB while a replication runs, so this keeps a replication within about 1.5 GB and a minute;
every parameter's own bound keeps it finite, this keeps their product runnable."""

MAX_LOG_SD = 3.0
"""Largest sd of a lognormal uncertain parameter's logarithm (a factor of 20 per sd)."""


def reference_errors(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Check names that refer to other parts of the scenario.

    Returns a list of ``(key path, message)``; empty when every reference resolves.
    """
    errors: list[tuple[tuple[str | int, ...], str]] = []
    criteria = set(scenario.criteria)
    segments = set(scenario.segments)

    def allowed(names: set[str]) -> str:
        return ", ".join(sorted(names)) or "(none defined)"

    def check_scores(path: tuple[str | int, ...], scores: dict[str, float]) -> None:
        for key in scores:
            if key not in criteria:
                errors.append(
                    ((*path, key), f"unknown criterion {key!r}; allowed: {allowed(criteria)}"),
                )

    check_scores(("us", "scores"), scenario.us.scores)
    for name, comp in scenario.competitors.items():
        check_scores(("competitors", name, "scores"), comp.scores)
    for seg_name, seg in scenario.segments.items():
        check_scores(("segments", seg_name, "criteria_weights"), seg.criteria_weights)
        if sum(seg.criteria_weights.values()) <= 0:
            errors.append(
                (("segments", seg_name, "criteria_weights"), "weights must not all be zero")
            )
        for i, comp_name in enumerate(seg.competitors or []):
            if comp_name not in scenario.competitors:
                errors.append(
                    (
                        ("segments", seg_name, "competitors", i),
                        f"unknown competitor {comp_name!r}; allowed: "
                        f"{allowed(set(scenario.competitors))}",
                    )
                )
    for camp_name, camp in scenario.campaigns.items():
        for seg_name in camp.segments:
            if seg_name not in segments:
                errors.append(
                    (
                        ("campaigns", camp_name, "segments", seg_name),
                        f"unknown segment {seg_name!r}; allowed: {allowed(segments)}",
                    )
                )
    for block in ("referrals", "outbound"):
        for seg_name in getattr(scenario.leads, block).segments or {}:
            if seg_name not in segments:
                errors.append(
                    (
                        ("leads", block, "segments", seg_name),
                        f"unknown segment {seg_name!r}; allowed: {allowed(segments)}",
                    )
                )
    labels = scenario.reps.labels()
    for name in scenario.target.rep_quotas:
        if name not in labels:
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            errors.append(
                (
                    ("target", "rep_quotas", name),
                    f"unknown rep {name!r}{did_you_mean(name, labels)}; allowed: {shown}",
                )
            )
    errors += _team_errors(scenario, labels)
    seen_ids: dict[str, int] = {}
    booked_ids: dict[str, int] = {}
    for i, opp in enumerate(scenario.open_pipeline):
        if opp.segment not in segments:
            errors.append(
                (
                    ("open_pipeline", i, "segment"),
                    f"unknown segment {opp.segment!r}; allowed: {allowed(segments)}",
                )
            )
        if opp.owner is not None and opp.owner not in labels and opp.owner not in scenario.teams:
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            errors.append(
                (
                    ("open_pipeline", i, "owner"),
                    f"unknown rep {opp.owner!r}"
                    f"{did_you_mean(opp.owner, [*labels, *scenario.teams])}; allowed: {shown}"
                    + (f" or a team: {', '.join(scenario.teams)}" if scenario.teams else ""),
                )
            )
        if opp.id is not None:
            if opp.id in seen_ids:
                errors.append(
                    (
                        ("open_pipeline", i, "id"),
                        f"duplicate id {opp.id!r} (also open_pipeline[{seen_ids[opp.id]}])",
                    )
                )
            seen_ids.setdefault(opp.id, i)
    for i, deal in enumerate(scenario.booked):
        if deal.id in seen_ids:
            errors.append(
                (
                    ("booked", i, "id"),
                    f"{deal.id!r} is also open (open_pipeline[{seen_ids[deal.id]}])",
                )
            )
        elif deal.id in booked_ids:
            errors.append(
                (
                    ("booked", i, "id"),
                    f"duplicate id {deal.id!r} (also booked[{booked_ids[deal.id]}])",
                )
            )
        booked_ids.setdefault(deal.id, i)
        if deal.segment is not None and deal.segment not in segments:
            errors.append(
                (
                    ("booked", i, "segment"),
                    f"unknown segment {deal.segment!r}; allowed: {allowed(segments)}",
                )
            )
    if scenario.booked and (
        scenario.target.period_start is None
        or scenario.target.period_start >= scenario.target.start_date
    ):
        errors.append(
            (
                ("target", "period_start"),
                "booked deals were won before target.start_date, so the target period must begin "
                "earlier: set target.period_start to its first day",
            )
        )
    if scenario.target.period_start is not None and (
        scenario.target.period_start > scenario.target.start_date
    ):
        errors.append(
            (
                ("target", "period_start"),
                f"{scenario.target.period_start} is after target.start_date "
                f"{scenario.target.start_date}; it is the first day of the period",
            )
        )
    for key, spec in scenario.uncertainty.items():
        problem = numeric_path_error(scenario, key)
        if problem is None and isinstance(resolve_path(scenario, key)[0], int):
            problem = f"{key!r} is a count; only continuous parameters can be uncertain"
        if problem is None and key.split(".")[0] in ("target", "economics", "prehistory_days"):
            problem = f"{key!r} is not a model parameter (the target and economics are given)"
        where: tuple[str | int, ...] = ("uncertainty", key)
        if problem is None:
            problem = _uncertainty_error(scenario, key, spec.sd, spec.distribution)
            where = (*where, "sd") if problem and problem.startswith("sd ") else where
        if problem:
            errors.append((where, problem))
    if not segments:
        errors.append((("segments",), "at least one segment is required"))
    # policy names resolve against the registries (which plugins may extend)
    for path, name, registry in (
        (
            ("qualification", "policy"),
            scenario.qualification.policy,
            policy_registry("qualification"),
        ),
        (("engagement", "policy"), scenario.engagement.policy, policy_registry("engagement")),
        (("flanking", "policy"), scenario.flanking.policy, policy_registry("flanking")),
        (("leads", "follow_up"), scenario.leads.follow_up, policy_registry("follow_up")),
    ):
        if name not in registry.names():
            errors.append(
                (
                    path,
                    f"unknown {registry.family} policy {name!r}; allowed: "
                    f"{', '.join(registry.names())}",
                )
            )
    names = [m.name for m in scenario.reps.members or []]
    if len(names) != len(set(names)):
        errors.append((("reps", "members"), "rep names must be unique"))
    if not errors:
        errors += _workload_errors(scenario)
    return errors


def _uncertainty_error(scenario: Scenario, key: str, sd: float, distribution: str) -> str | None:
    """Why the uncertain parameter ``key`` could not be drawn (None when it can)."""
    parent_path, _, name = key.rpartition(".")
    parent = resolve_path(scenario, parent_path)[0] if parent_path else scenario
    if not isinstance(parent, BaseModel):
        return (
            f"{key!r} is an entry of a map (scores, weights or shares); only a block's own "
            "parameters can be uncertain"
        )
    if distribution == "lognormal":
        if sd > MAX_LOG_SD:
            return f"sd {sd:g} of a lognormal is at most {MAX_LOG_SD:g} (a factor e^sd per sd)"
        return None
    lo, hi = parameter_range(type(parent), name)
    if math.isfinite(hi - lo) and sd > hi - lo:
        return (
            f"sd {sd:g} is wider than the range of {key} ({lo:g} to {hi:g}); draws would "
            "rarely fall inside it"
        )
    return None


def parameter_bounds(block: type[BaseModel], name: str) -> tuple[float, float, bool, bool]:
    """Lowest and highest value the schema allows for ``block``'s field, and their strictness.

    Returns ``(low, high, low_is_strict, high_is_strict)``; strict bounds are ``gt`` / ``lt``.
    """
    lo, hi, lo_strict, hi_strict = -math.inf, math.inf, False, False
    for meta in block.model_fields[name].metadata:
        for attr, strict in (("ge", False), ("gt", True)):
            v = getattr(meta, attr, None)
            if v is not None and v >= lo:
                lo, lo_strict = float(v), strict
        for attr, strict in (("le", False), ("lt", True)):
            v = getattr(meta, attr, None)
            if v is not None and v <= hi:
                hi, hi_strict = float(v), strict
    return lo, hi, lo_strict, hi_strict


def parameter_range(block: type[BaseModel], name: str) -> tuple[float, float]:
    """Lowest and highest value the schema allows for ``block``'s field ``name``."""
    lo, hi, _, _ = parameter_bounds(block, name)
    return lo, hi


def workload(scenario: Scenario) -> dict[tuple[str | int, ...], float]:
    """Expected buyers and leads one replication draws, by the parameter that drives each flow.

    Inbound buyers are drawn over the prehistory and the horizon; campaign, prospecting,
    referral and outbound leads over the horizon (campaigns over their weeks in it); the open
    pipeline is its count.
    """
    horizon = scenario.horizon_days
    weeks = horizon / 7.0
    out: dict[tuple[str | int, ...], float] = {}
    for name, seg in scenario.segments.items():
        span = (scenario.prehistory_days + horizon) / 7.0
        out[("segments", name, "buyers_per_week")] = seg.buyers_per_week * seg.inbound_share * span
    for name, camp in scenario.campaigns.items():
        end = horizon if camp.end_week is None else min(horizon, camp.end_week * 7.0)
        active = max(0.0, end - camp.start_week * 7.0) / 7.0
        out[("campaigns", name, "budget_per_week")] = (
            camp.budget_per_week / camp.cost_per_lead * active
        )
    pro = scenario.leads.prospecting
    seats = scenario.reps.seats
    out[("leads", "prospecting", "hours_per_week")] = (
        seats * pro.hours_per_week / pro.hours_per_lead * weeks
    )
    out[("leads", "referrals", "per_week")] = scenario.leads.referrals.per_week * weeks
    outbound = scenario.leads.outbound
    market = sum(s.buyers_per_week * (1.0 - s.inbound_share) for s in scenario.segments.values())
    out[("leads", "outbound", "opportunities_per_rep_week")] = (
        min(outbound.opportunities_per_rep_week * seats, market) * weeks
    )
    for i, opp in enumerate(scenario.open_pipeline):
        out[("open_pipeline", i, "count")] = float(opp.count)
    return out


def _workload_errors(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    flows = workload(scenario)
    total = sum(flows.values())
    if total <= MAX_BUYERS_PER_REPLICATION:
        return []
    path, most = max(flows.items(), key=lambda kv: kv[1])
    where = ".".join(str(p) for p in path)
    return [
        (
            path,
            f"the scenario draws about {total:,.0f} buyers and leads a replication, "
            f"{most:,.0f} of them through {where}; at most {MAX_BUYERS_PER_REPLICATION:,} keep "
            "a replication within memory and time (lower the flow, or the horizon and "
            "prehistory_days)",
        )
    ]


def resolve_path(scenario: Scenario, dotted: str) -> tuple[Any, str]:
    """The value at a dotted path (``segments.S1.deal_size.mean``) and the field's name.

    Raises ``KeyError`` naming the first part that does not resolve.
    """
    node: Any = scenario
    name = ""
    for part in dotted.split("."):
        if isinstance(node, BaseModel):
            if part not in type(node).model_fields:
                raise KeyError(part)
            node, name = getattr(node, part), part
        elif isinstance(node, dict):
            if part not in node:
                raise KeyError(part)
            node, name = node[part], part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(part)
            node, name = node[int(part)], part
        else:
            raise KeyError(part)
    return node, name


def numeric_path_error(scenario: Scenario, dotted: str) -> str | None:
    """Why ``dotted`` is not a numeric parameter of ``scenario`` (None when it is)."""
    try:
        value, _ = resolve_path(scenario, dotted)
    except KeyError as exc:
        return f"{dotted!r} is not a scenario parameter ({exc.args[0]!r} does not resolve)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{dotted!r} is not a numeric parameter (its value is {value!r})"
    return None


def _team_errors(scenario: Scenario, labels: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """``teams``: known parents without cycles, known reps each in one team, no empty team."""
    teams = scenario.teams
    if not teams:
        return []
    errors: list[tuple[tuple[str | int, ...], str]] = []
    names = list(teams)
    has_child = {team.parent for team in teams.values()}
    owner: dict[str, str] = {}
    for name, team in teams.items():
        if team.parent is not None and team.parent not in teams:
            errors.append(
                (
                    ("teams", name, "parent"),
                    f"unknown team {team.parent!r}{did_you_mean(team.parent, names)}; "
                    f"allowed: {', '.join(names)}",
                )
            )
        for i, rep in enumerate(team.reps):
            if rep not in labels:
                shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
                errors.append(
                    (
                        ("teams", name, "reps", i),
                        f"unknown rep {rep!r}{did_you_mean(rep, labels)}; allowed: {shown}",
                    )
                )
            elif rep in owner:
                errors.append(
                    (
                        ("teams", name, "reps", i),
                        f"rep {rep!r} is in two teams: {owner[rep]!r} and {name!r}",
                    )
                )
            else:
                owner[rep] = name
        if not team.reps and name not in has_child:
            others = [n for n in names if n != name]
            errors.append(
                (
                    ("teams", name),
                    f"team {name!r} has no reps and no team under it{did_you_mean(name, others)}",
                )
            )
    for name in names:  # a parent chain that comes back to where it started
        seen, at = {name}, teams[name].parent
        while at in teams:
            if at in seen:
                errors.append((("teams", name, "parent"), f"teams form a cycle through {name!r}"))
                break
            seen.add(at)
            at = teams[at].parent
    segments = list(scenario.segments)
    shares: dict[str, list[tuple[str, float]]] = {}
    for name, team in teams.items():
        for seg, share in team.segments.items():
            if seg not in scenario.segments:
                errors.append(
                    (
                        ("teams", name, "segments", seg),
                        f"unknown segment {seg!r}{did_you_mean(seg, segments)}; "
                        f"allowed: {', '.join(segments)}",
                    )
                )
            else:
                shares.setdefault(seg, []).append((name, share))
    for seg, owned in shares.items():
        total = sum(share for _, share in owned)
        if total > 1 + 1e-9:
            parts = ", ".join(f"{name} {share:g}" for name, share in owned)
            errors.append(
                (
                    ("teams", owned[-1][0], "segments", seg),
                    f"the teams' shares of segment {seg!r} add up to {total:g} ({parts}); "
                    "at most 1 (the rest is worked by every rep)",
                )
            )
    missing = [label for label in labels if label not in owner]
    if missing and not errors:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        errors.append(
            (
                ("teams",),
                f"every rep belongs to one team when teams are given; in none: {shown}",
            )
        )
    return errors
