"""Load a scenario: read its file (and what it extends), apply a plan and overrides, validate.

A bad scenario never reaches the engine: each problem becomes a
:class:`~pipesim.scenario.errors.ScenarioError` naming the file, line and column, the key path,
what is wrong and what is allowed (with a did-you-mean for misspelt keys and names). The YAML
itself is read by :mod:`pipesim.scenario.yaml_io` and the messages are worded by
:mod:`pipesim.scenario.messages`.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipesim.scenario.edit import EditError, KeyPath, format_path, merge, set_value
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.introspect import expected_at
from pipesim.scenario.messages import error_message, with_hint
from pipesim.scenario.references import reference_errors
from pipesim.scenario.schema import Scenario
from pipesim.scenario.yaml_io import compose_with_marks, read_yaml


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
    data: dict[str, Any], overrides: Iterable[str], origins: dict[KeyPath, str]
) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` applied.

    Intermediate mappings are created as needed; list items are addressed by index
    (``open_pipeline.0.count=3``). ``origins`` records which override set which path, so
    validation errors point at the override rather than at the file.

    Raises
    ------
    ScenarioError
        If an override is malformed or addresses something that is not there; the
        problem's origin names the override.
    """
    out = copy.deepcopy(data)
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
        origins[path] = origin
        if created is not None:
            origins[created] = origin
    return out


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
        # A value set by an override or plan replaces everything beneath it: look there first.
        for cut in range(len(path), -1, -1):
            if path[:cut] in origins:
                return Problem(path, message, origin=origins[path[:cut]])
        for cut in range(len(path), -1, -1):
            if path[:cut] in marks:
                line, col = marks[path[:cut]]
                return Problem(path, message, line, col)
        return Problem(path, message)

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
        data = merge(data, overlay, origins=origins, origin=str(plan), marks=plan_marks)
    data = apply_overrides(data, list(overrides), origins)
    return validate(data, str(path), marks, origins)


def _read_extending(
    path: Path, origins: dict[KeyPath, str], chain: tuple[Path, ...]
) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int]]]:
    """Read a scenario; if it says ``extends: other.yaml``, merge it over that file.

    ``other.yaml`` is relative to the extending file. Mappings merge key by key; lists and values
    replace. Keys inherited from the base file keep pointing at the base file in error messages.
    """
    data, marks = read_yaml(path)
    if "extends" not in data:
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
    merged = merge(base, data)
    return merged, marks


def dump_scenario(scenario: Scenario) -> str:
    """Serialise a scenario (all defaults resolved) as YAML that loads back to the same value."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
