"""Checks that names inside a scenario refer to something, and look-ups by dotted path.

The schema validates each block on its own; :func:`reference_errors` checks what spans blocks
(criteria, segments, competitors, rep names, policy names, uncertain parameters), and
:func:`resolve_path` / :func:`numeric_path_error` find a parameter by its dotted path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipesim.scenario.registry import policy_registry
from pipesim.scenario.schema import Scenario


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
    seen_ids: dict[str, int] = {}
    for i, opp in enumerate(scenario.open_pipeline):
        if opp.segment not in segments:
            errors.append(
                (
                    ("open_pipeline", i, "segment"),
                    f"unknown segment {opp.segment!r}; allowed: {allowed(segments)}",
                )
            )
        if opp.owner is not None and opp.owner not in labels:
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            errors.append(
                (("open_pipeline", i, "owner"), f"unknown rep {opp.owner!r}; allowed: {shown}")
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
    for key in scenario.uncertainty:
        problem = numeric_path_error(scenario, key)
        if problem is None and isinstance(resolve_path(scenario, key)[0], int):
            problem = f"{key!r} is a count; only continuous parameters can be uncertain"
        if problem is None and key.split(".")[0] in ("target", "economics", "prehistory_days"):
            problem = f"{key!r} is not a model parameter (the target and economics are given)"
        if problem:
            errors.append((("uncertainty", key), problem))
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
    return errors


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
