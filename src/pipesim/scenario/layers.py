"""The rules for putting one layer of a scenario over another.

A scenario is built in layers: a file over the file it ``extends:``, a ``--plan`` overlay, the
``--set`` overrides and a what-if from Python (:func:`pipesim.scenario.loader.what_if`). Each
layer may change what its parent has; two mistakes would otherwise pass silently:

* **A misspelt name creates something new.** ``segments``, ``competitors`` and ``campaigns`` are
  maps of named entities, and merging a layer adds every name the parent lacks: ``campaigns:
  {webinar: ...}`` over a parent with ``webinars`` would add a campaign instead of changing one.
  So a layer changes the entities its parent has, and adds one only when the entity says so with
  ``new: true`` (:data:`NEW`, removed before validation). A name that is not in the parent is an
  error naming the parent's names, with a did-you-mean when it is close to one of them. The rep
  list ``reps.members`` is restated in full by a layer that changes it, so a new name is allowed;
  but a new name close to a rep the layer drops (``Quentn`` where the parent had ``Quentin``) is
  an error unless marked ``new: true``. Names that differ only in case (``S1`` and ``s1``) are an
  error in any file.
* **A setting that has no effect.** Some keys are used only when another key allows it: the team
  is ``reps.members`` when members are listed (``reps.count`` is then not used), a policy's own
  parameters are used only by that policy. A layer that sets such a key while the other key
  makes it unused is an error naming both (:func:`unused_settings`). A file that is not
  extending anything may hold both (a saved ``scenario.yaml`` lists every key); they are
  reported only when a layer sets them over a parent.

:func:`check_layer` applies both to one layer and returns the problems as ``(key path, message)``
for the loader to locate (file, line and column, or the override that set the key).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic_core import PydanticUndefined

from pipesim.scenario.edit import EditError, KeyPath, get_value
from pipesim.scenario.errors import did_you_mean
from pipesim.scenario.introspect import expected_at
from pipesim.scenario.schema import Scenario

NEW = "new"
"""The key that marks an entity a layer adds (``new: true``); removed before validation."""

ENTITIES: dict[str, str] = {
    "segments": "segment",
    "competitors": "competitor",
    "campaigns": "campaign",
}
"""Top-level maps of named entities, with the word for one entity."""

MEMBERS: KeyPath = ("reps", "members")

LayerProblem = tuple[KeyPath, str]


# --------------------------------------------------------------------------- unused settings
def _at(data: Mapping[str, Any] | None, path: KeyPath) -> Any:
    """The value at ``path``; None when it is not there."""
    try:
        return get_value(data, path)
    except EditError:
        return None


def _in_effect(data: Mapping[str, Any], path: KeyPath) -> Any:
    """The value at ``path``, or the schema's default when the data leaves it out."""
    try:
        return get_value(data, path)
    except EditError:
        _, info = expected_at(Scenario, path)
        default = info.default if info is not None else None
        return None if default is PydanticUndefined else default


def _policy_rule(
    family: str, settings: tuple[str, ...], unused_by: tuple[str, ...], used_by: str
) -> Callable[[Mapping[str, Any]], dict[KeyPath, str]]:
    def rule(data: Mapping[str, Any]) -> dict[KeyPath, str]:
        policy = _in_effect(data, (family, "policy"))
        if policy not in unused_by:
            return {}
        why = (
            f"has no effect while {family}.policy is {policy!r}: only the {used_by} policy "
            f"uses it; set {family}.policy too, or leave this key out"
        )
        return {(family, name): why for name in settings}

    return rule


def _team(data: Mapping[str, Any]) -> dict[KeyPath, str]:
    members = _at(data, MEMBERS)
    count = _at(data, ("reps", "count"))
    if not isinstance(members, list) or not members or count is None or count == len(members):
        return {}
    return {
        ("reps", "count"): (
            f"{count} conflicts with reps.members, which lists the team ({len(members)} reps): "
            "when members are listed they are the team and reps.count is not used; change "
            "reps.members, or set reps.members to null to use reps.count"
        )
    }


def _move_last(data: Mapping[str, Any]) -> dict[KeyPath, str]:
    if _in_effect(data, ("flanking", "move_last")) is not True:
        return {}
    return {
        ("flanking", "early_move_success"): (
            "has no effect while flanking.move_last is true (it applies to flanks made early); "
            "set flanking.move_last to false too, or leave this key out"
        )
    }


_RULES: tuple[Callable[[Mapping[str, Any]], dict[KeyPath, str]], ...] = (
    _team,
    _policy_rule(
        "engagement",
        ("proactive_share", "proactive_fraction", "proactive_hours_per_week"),
        ("reactive",),
        "'proactive'",
    ),
    _policy_rule("qualification", ("deviation_rate",), ("threshold", "pursue_all"), "'discretion'"),
    _policy_rule(
        "qualification", ("threshold", "checks"), ("pursue_all",), "'threshold' and 'discretion'"
    ),
    _policy_rule(
        "flanking",
        (
            "sponsor_probability",
            "max_success",
            "gap_scale",
            "weight_shift",
            "hours_per_week",
            "move_last",
            "early_move_success",
        ),
        ("none",),
        "'flank'",
    ),
    _move_last,
)
"""Each rule gives the keys that have no effect in a scenario, with why. Policies are named
only when built in: a plugin policy may read any key."""


def unused_settings(data: Mapping[str, Any]) -> dict[KeyPath, str]:
    """Keys of raw scenario ``data`` that have no effect, each with why (naming the other key)."""
    out: dict[KeyPath, str] = {}
    for rule in _RULES:
        for path, why in rule(data).items():
            out.setdefault(path, why)
    return out


# --------------------------------------------------------------------------- names
def _marked(entity: Any) -> bool | None:
    """True when ``entity`` carries ``new: true``; None when it carries ``new`` otherwise."""
    if not isinstance(entity, dict) or NEW not in entity:
        return False
    return True if entity[NEW] is True else None


def _case_twins(names: list[str], fresh: Collection[str]) -> dict[str, str]:
    """Names equal to an earlier one but for case (``{later: earlier}``), where either is fresh."""
    seen: dict[str, str] = {}
    twins: dict[str, str] = {}
    for name in names:
        key = name.lower() if isinstance(name, str) else name
        if key in seen and (name in fresh or seen[key] in fresh):
            twins[name] = seen[key]
        seen.setdefault(key, name)
    return twins


def _strip(entity: Any) -> Any:
    if isinstance(entity, dict) and NEW in entity:
        return {k: v for k, v in entity.items() if k != NEW}
    return entity


def _entity_problems(
    parent: Mapping[str, Any] | None, child: dict[str, Any], parent_name: str, new_form: str
) -> list[LayerProblem]:
    problems: list[LayerProblem] = []
    for block, word in ENTITIES.items():
        entities = child.get(block)
        if not isinstance(entities, dict):
            continue
        before = _in_effect(parent, (block,)) if parent is not None else None
        known = [str(k) for k in before] if isinstance(before, dict) else []
        fresh = [name for name in entities if name not in known]
        reported: set[str] = set()
        for name in entities:
            mark = _marked(entities[name])
            path: KeyPath = (block, name)
            if mark is None:
                problems.append(((*path, NEW), f"must be true (it marks a {word} to add)"))
            elif parent is None:
                continue
            elif name in known and mark:
                problems.append(
                    (
                        (*path, NEW),
                        f"{word} {name!r} is already in {parent_name}: leave out `new: true` "
                        "to change it",
                    )
                )
            elif name not in known and not mark:
                hint = did_you_mean(str(name), known)
                shown = ", ".join(known) or "(none)"
                what = f"unknown {word} {name!r}{hint}" if hint else f"new {word} {name!r}"
                example = new_form.format(block=block, name=name)
                problems.append(
                    (
                        path,
                        f"{what}; {parent_name} has {block} {shown}, and only those can be "
                        f"changed here; to add a {word}, mark it new: {example}",
                    )
                )
                reported.add(name)
        twins = _case_twins(list(entities), fresh if parent is not None else list(entities))
        for later, earlier in twins.items():
            if later not in reported:
                problems.append(
                    (
                        (block, later),
                        f"{word} {later!r} differs from {word} {earlier!r} only in case; "
                        "use one spelling",
                    )
                )
        child[block] = {name: _strip(value) for name, value in entities.items()}
    return problems


def _member_names(members: Any) -> list[str]:
    if not isinstance(members, list):
        return []
    return [m["name"] for m in members if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _member_problems(
    parent: Mapping[str, Any] | None, child: dict[str, Any], parent_name: str
) -> list[LayerProblem]:
    members = _at(child, MEMBERS)
    if not isinstance(members, list):
        return []
    problems: list[LayerProblem] = []
    before = _member_names(_at(parent, MEMBERS)) if parent is not None else []
    names = _member_names(members)
    dropped = [n for n in before if n not in names]
    for i, member in enumerate(members):
        mark = _marked(member)
        path: KeyPath = (*MEMBERS, i)
        if mark is None:
            problems.append(((*path, NEW), "must be true (it marks a rep to add)"))
            continue
        name = member.get("name") if isinstance(member, dict) else None
        if mark or not isinstance(name, str) or name in before or not dropped:
            continue
        hint = did_you_mean(name, dropped, cutoff=0.75)
        if hint:
            problems.append(
                (
                    (*path, "name"),
                    f"unknown rep {name!r}{hint}: {parent_name} has a rep of that name, which "
                    f"this list leaves out. To add {name!r} as a new rep, give it `new: true`",
                )
            )
    fresh = [n for n in names if n not in before]
    twins = _case_twins(names, fresh if parent is not None else names)
    for i, member in enumerate(members):
        name = member.get("name") if isinstance(member, dict) else None
        if isinstance(name, str) and twins.pop(name, None) is not None:
            problems.append(
                (
                    (*MEMBERS, i, "name"),
                    f"rep {name!r} differs from another rep's name only in case; use one spelling",
                )
            )
    child["reps"] = {**child["reps"], "members": [_strip(m) for m in members]}
    return problems


# --------------------------------------------------------------------------- one layer
def check_layer(
    parent: Mapping[str, Any] | None,
    child: Mapping[str, Any],
    *,
    parent_name: str = "the scenario",
    written: Collection[KeyPath] = (),
    replaced: Collection[KeyPath] = (),
    new_form: str = "{block}: {{{name}: {{new: true, ...}}}}",
) -> tuple[dict[str, Any], list[LayerProblem]]:
    """Check one layer put over its parent: the data without ``new`` markers, and the problems.

    Parameters
    ----------
    parent
        Raw data of the parent scenario (markers already removed); None for a file that extends
        nothing (only its own markers and case twins are checked).
    child
        Raw data with the layer applied: the layer merged over ``parent``, or the overrides set.
    parent_name
        How messages name the parent (``scenarios/baseline.yaml``, ``the scenario``).
    written
        Key paths the layer writes (every key of an overlay file): a key at or under one of them
        counts as set by the layer.
    replaced
        Key paths whose value the layer replaces whole (overrides): every key under them, and
        the paths themselves, count as set by the layer.
    new_form
        How the layer's own form adds an entity, for messages; ``{block}`` and ``{name}`` are
        filled in.
    """
    data = copy.deepcopy(dict(child))
    problems = _entity_problems(parent, data, parent_name, new_form)
    problems += _member_problems(parent, data, parent_name)
    if parent is None:
        # a file that extends nothing sets every key it holds; of the settings that cancel each
        # other only the team is checked here: a saved scenario.yaml holds every policy's keys
        problems += list(_team(data).items())
        return data, problems

    def set_here(path: KeyPath) -> bool:
        return any(p[: len(path)] == path for p in (*written, *replaced)) or any(
            path[: len(p)] == p for p in replaced
        )

    for path, why in unused_settings(data).items():
        if set_here(path) and _at(data, path) is not None:
            problems.append((path, why))
    return data, problems
