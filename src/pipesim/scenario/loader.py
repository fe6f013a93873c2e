"""Load a scenario: read its file (and what it extends), apply a plan and overrides, validate.

A bad scenario never reaches the engine: each problem becomes a
:class:`~pipesim.scenario.errors.ScenarioError` naming the file, line and column, the key path,
what is wrong and what is allowed (with a did-you-mean for misspelt keys and names). The YAML
itself is read by :mod:`pipesim.scenario.yaml_io` and the messages are worded by
:mod:`pipesim.scenario.messages`. Every layer put over a parent (an extending file, a plan, the
overrides, a what-if) is checked by :func:`pipesim.scenario.layers.check_layer`: it changes the
segments, competitors and campaigns its parent has and adds one only with ``new: true``, and it
sets no key that another key makes unused.

:func:`what_if` is the same from Python: a validated copy of a scenario with some values
changed.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipesim.scenario.edit import (
    EditError,
    KeyPath,
    format_path,
    merge,
    parse_path,
    set_value,
)
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.introspect import expected_at
from pipesim.scenario.layers import LayerProblem, check_layer
from pipesim.scenario.messages import error_message, with_hint
from pipesim.scenario.references import reference_errors
from pipesim.scenario.schema import Scenario
from pipesim.scenario.yaml_io import compose_with_marks, read_yaml

Marks = dict[KeyPath, tuple[int, int]]


# --------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value.

    Raises
    ------
    ValueError
        If ``text`` has no ``=``, an empty key part, or a value that is not valid YAML
        (including a mapping with a duplicated key).
    """
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like dotted.key=value, e.g. reps.count=12")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part.strip() for part in key.split(".")):
        raise ValueError(f"override {text!r} has an empty key part")
    if not raw.strip():
        return [part.strip() for part in key.split(".")], ""
    try:
        value, _ = compose_with_marks(raw, "--set")
    except ScenarioError as exc:
        reason = exc.problems[0].message if exc.problems else "invalid YAML"
        raise ValueError(f"override {text!r}: value is not valid YAML ({reason})") from None
    return [part.strip() for part in key.split(".")], value


def _no_new_lists(path: KeyPath) -> None:
    """An override may create a missing mapping, never a missing list (its items are unknown)."""
    tp, _ = expected_at(Scenario, path)
    if typing.get_origin(tp) is list:
        raise EditError(
            path,
            f"{format_path(path)} has no items in the file; set the whole list "
            f"instead, e.g. {format_path(path)}=[{{...}}]",
        )


def apply_overrides(
    data: dict[str, Any],
    overrides: Iterable[str],
    origins: dict[KeyPath, str],
    *,
    parent_name: str = "the scenario",
) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` applied.

    Intermediate mappings are created as needed; list items are addressed by index
    (``open_pipeline.0.count=3``) or, in a list of named items, by name
    (``reps.members.Ana.skill=1.2``). ``origins`` records which override set which path, so
    validation errors point at the override rather than at the file.

    Overrides change what ``data`` has: an override that would add a segment, competitor or
    campaign is an error naming the existing ones, unless the entity is marked ``new: true``
    (``campaigns.fairs={new: true, budget_per_week: 900}``); so is an override of a key that
    another key makes unused (``reps.count`` while ``reps.members`` lists the team).

    Raises
    ------
    ScenarioError
        If an override is malformed, addresses something that is not there or breaks a rule of
        :func:`pipesim.scenario.layers.check_layer`; the problem's origin names the override.
    """
    out = copy.deepcopy(data)
    replaced: set[KeyPath] = set()
    here: dict[KeyPath, str] = {}
    for text in overrides:
        origin = f"--set {text}"

        def fail(path: Sequence[str | int], message: str, origin: str = origin) -> ScenarioError:
            return ScenarioError("--set", [Problem(tuple(path), message, origin=origin)])

        try:
            parts, value = parse_override(text)
        except ValueError as exc:
            given = text.partition("=")[0].strip()
            where = tuple(k.strip() for k in given.split(".")) if given else ()
            raise fail(where, str(exc)) from None
        try:
            path, created = set_value(out, parts, value, create=_no_new_lists)
        except EditError as exc:
            raise fail(exc.path, exc.message) from None
        origins[path] = here[path] = origin
        replaced.add(path)
        if created is not None:
            origins[created] = here[created] = origin
    out, problems = check_layer(
        data,
        out,
        parent_name=parent_name,
        replaced=replaced,
        new_form="--set '{block}.{name}={{new: true, ...}}'",
    )
    if problems:
        raise ScenarioError("--set", [_locate(p, m, {}, here) for p, m in problems])
    return out


def _locate(
    path: KeyPath,
    message: str,
    marks: Mapping[KeyPath, tuple[int, int]],
    origins: Mapping[KeyPath, str],
) -> Problem:
    """A problem at ``path``, placed where the value was set.

    A value set by an override or plan replaces everything beneath it, so origins are looked
    for first; else the file's line and column.
    """
    for cut in range(len(path), -1, -1):
        if path[:cut] in origins:
            return Problem(path, message, origin=origins[path[:cut]])
    for cut in range(len(path), -1, -1):
        if path[:cut] in marks:
            line, col = marks[path[:cut]]
            return Problem(path, message, line, col)
    return Problem(path, message)


def _raise_layer(
    source: str, problems: list[LayerProblem], marks: Marks, origins: Mapping[KeyPath, str]
) -> None:
    if problems:
        raise ScenarioError(source, [_locate(p, m, marks, origins) for p, m in problems])


# --------------------------------------------------------------------------- validation
def validate(
    data: Any,
    source: str,
    marks: dict[KeyPath, tuple[int, int]] | None = None,
    origins: dict[KeyPath, str] | None = None,
) -> Scenario:
    """Validate raw data into a :class:`Scenario`, or raise a :class:`ScenarioError`.

    Parameters
    ----------
    data
        Raw scenario data (nested dicts and lists, as read from YAML).
    source
        Name of the file the data came from, used in messages.
    marks
        ``(line, column)`` of each key path in ``source``.
    origins
        Key paths set by something other than the file (an override, a plan file): a problem
        at or under such a path is reported against that origin instead.
    """
    marks = marks or {}
    origins = origins or {}
    if not isinstance(data, dict):
        raise ScenarioError(
            source, [Problem((), "a scenario must be a mapping of keys to values", 1, 1)]
        )

    def locate(path: KeyPath, message: str) -> Problem:
        return _locate(path, message, marks, origins)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            problems.append(locate(loc, error_message({**err, "loc": loc})))
        raise ScenarioError(source, problems) from None
    refs = reference_errors(scenario)
    if refs:
        raise ScenarioError(source, [locate(path, with_hint(msg)) for path, msg in refs])
    return scenario


def load_scenario(
    path: str | Path,
    overrides: Iterable[str] = (),
    plan: str | Path | None = None,
) -> Scenario:
    """Load, override and validate a scenario file.

    Parameters
    ----------
    path
        YAML scenario file.
    overrides
        ``dotted.key=value`` strings applied on top of the file (values parsed as YAML).
    plan
        Optional overlay file whose keys are merged over the scenario before overrides.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        For any problem: missing or unreadable file, malformed YAML, duplicated keys, a bad
        override, a schema violation or an unresolved reference.
    """
    origins: dict[KeyPath, str] = {}
    data, marks = _read_extending(Path(path), origins, ())
    if plan is not None:
        overlay, plan_marks = read_yaml(plan)
        planned = merge(data, overlay, origins=origins, origin=str(plan), marks=plan_marks)
        planned, problems = check_layer(
            data, planned, parent_name=str(path), written=set(plan_marks) - {()}
        )
        _raise_layer(str(plan), problems, {}, origins)
        data = planned
    data = apply_overrides(data, list(overrides), origins, parent_name=str(path))
    return validate(data, str(path), marks, origins)


def what_if(
    scenario: Scenario,
    changes: Mapping[str | KeyPath, Any],
    *,
    source: str = "what-if",
) -> Scenario:
    """A validated copy of ``scenario`` with each dotted path set to its value.

    The Python form of ``--set``, with the same rules and the same errors::

        more = pipesim.what_if(scenario, {"reps.count": 18, "segments.S1.buyers_per_week": 30})

    Values are Python values (numbers, strings, lists, dicts; a schema block is taken as its
    fields). A change that would add a segment, competitor or campaign must mark it
    ``{"new": True, ...}``; a key that another key makes unused (``reps.count`` while
    ``reps.members`` lists the team) is an error.

    Raises
    ------
    ScenarioError
        Naming the change (``what_if reps.count=-4``), the key path, what is wrong and what is
        allowed, exactly as the command line reports a bad ``--set``.
    """
    data = scenario.model_dump(mode="json")
    out = copy.deepcopy(data)
    origins: dict[KeyPath, str] = {}
    replaced: set[KeyPath] = set()
    for key, value in changes.items():
        parts = parse_path(key) if isinstance(key, str) else tuple(key)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        origin = f"what_if {format_path(parts)}={value!r}"
        try:
            path, created = set_value(out, parts, copy.deepcopy(value), create=_no_new_lists)
        except EditError as exc:
            raise ScenarioError(source, [Problem(exc.path, exc.message, origin=origin)]) from None
        origins[path] = origin
        replaced.add(path)
        if created is not None:
            origins[created] = origin
    out, problems = check_layer(
        data,
        out,
        parent_name=f"scenario {scenario.name!r}",
        replaced=replaced,
        new_form="{{'{block}.{name}': {{'new': True, ...}}}}",
    )
    _raise_layer(source, problems, {}, origins)
    return validate(out, source, None, origins)


def _read_extending(
    path: Path, origins: dict[KeyPath, str], chain: tuple[Path, ...]
) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int]]]:
    """Read a scenario; if it says ``extends: other.yaml``, merge it over that file.

    ``other.yaml`` is relative to the extending file. Mappings merge key by key; lists and values
    replace. Keys inherited from the base file keep pointing at the base file in error messages.
    The file is a layer over its base (:func:`pipesim.scenario.layers.check_layer`).
    """
    data, marks = read_yaml(path)
    if not isinstance(data, dict):
        return data, marks
    if "extends" not in data:
        data, problems = check_layer(None, data)
        _raise_layer(str(path), problems, marks, {})
        return data, marks
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name.strip():
        line, col = marks.get(("extends",), (None, None))
        raise ScenarioError(
            str(path),
            [Problem(("extends",), "must be the path of another scenario file", line, col)],
        )
    base_path = (path.parent / base_name).resolve()
    if base_path in chain or base_path == path.resolve():
        line, col = marks.get(("extends",), (None, None))
        raise ScenarioError(
            str(path),
            [Problem(("extends",), f"circular extends: {base_name} extends this file", line, col)],
        )
    shown = path.parent / base_name
    if not base_path.exists():
        line, col = marks.get(("extends",), (None, None))
        raise ScenarioError(
            str(path), [Problem(("extends",), f"file not found: {shown}", line, col)]
        )
    base_origins: dict[KeyPath, str] = {}
    base, base_marks = _read_extending(base_path, base_origins, (*chain, path.resolve()))
    for key_path, (line, col) in base_marks.items():
        if key_path and key_path not in marks:
            origins[key_path] = f"{shown}:{line}:{col}"
    for key_path, origin in base_origins.items():
        if key_path not in marks:
            origins[key_path] = origin
    merged, problems = check_layer(
        base, merge(base, data), parent_name=str(shown), written=set(marks) - {()}
    )
    _raise_layer(str(path), problems, marks, {})
    return merged, marks


def dump_scenario(scenario: Scenario) -> str:
    """Serialise a scenario (all defaults resolved) as YAML that loads back to the same value."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
