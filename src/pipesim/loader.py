"""Read scenario YAML safely, apply dot-path overrides, and explain every mistake precisely.

A bad scenario never reaches the engine: each problem becomes a :class:`ScenarioError` naming
the file, line and column, the key path, what is wrong and what is allowed (with a did-you-mean
for misspelt keys). YAML is read with a safe loader (no object construction, no expressions);
duplicated keys are rejected rather than silently keeping the last one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipesim.config import Scenario, reference_errors

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario."""

    path: KeyPath
    message: str
    line: int | None = None
    column: int | None = None
    origin: str | None = None

    def render(self, source: str) -> str:
        """Format as ``file:line:col: key: message``."""
        where = self.origin or source
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        key = format_path(self.path) if self.path else "(top level)"
        return f"{where}: {key}: {self.message}"


@dataclass
class ScenarioError(Exception):
    """A scenario (file, overrides) that cannot be used; carries every problem found."""

    source: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [p.render(self.source) for p in self.problems]
        return "\n".join(lines)


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path as ``a.b[0].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# --------------------------------------------------------------------------- YAML with positions
class _Loader(yaml.SafeLoader):
    """Safe loader that records where every key and value sits, and rejects duplicate keys."""


def _compose_with_marks(text: str, source: str) -> tuple[Any, dict[KeyPath, tuple[int, int]]]:
    marks: dict[KeyPath, tuple[int, int]] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = (exc.problem or "malformed YAML").strip()
        raise ScenarioError(
            source, [Problem((), f"malformed YAML: {problem}", line, col)]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [Problem((), f"malformed YAML: {exc}")]) from None
    if node is None:
        return {}, marks
    loader = _Loader("")
    problems: list[Problem] = []

    def build(n: yaml.Node, path: KeyPath) -> Any:
        marks[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(
                        Problem(path, "YAML merge keys (<<) are not supported",
                                key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    )
                    continue
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    problems.append(
                        Problem(path, "keys must be plain names",
                                key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    )
                    continue
                key = str(key)
                child = path + (key,)
                if key in out:
                    first = marks.get(child, (None, None))[0]
                    problems.append(
                        Problem(
                            child,
                            f"duplicated key (first given on line {first}); "
                            "each key may appear once",
                            key_node.start_mark.line + 1,
                            key_node.start_mark.column + 1,
                        )
                    )
                    continue
                out[key] = build(value_node, child)
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(n.value)]
        return loader.construct_object(n, deep=True)

    try:
        data = build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ScenarioError(
            source,
            [Problem((), f"malformed YAML: {exc.problem}",
                     mark.line + 1 if mark else None, mark.column + 1 if mark else None)],
        ) from None
    if problems:
        raise ScenarioError(source, problems)
    return data, marks


# --------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like dotted.key=value")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"override {text!r} has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ValueError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], origins: dict[KeyPath, str]
) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` applied.

    Intermediate mappings are created as needed; list items are addressed by index
    (``open_pipeline.0.count=3``). ``origins`` records which override set which path, so
    validation errors point at the override rather than at the file.
    """
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = out
        path: list[str | int] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            key: str | int = part
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(
                        "--set",
                        [Problem(tuple(path), f"{text!r}: list index must be 0..{len(node) - 1}",
                                 origin=f"--set {text}")],
                    )
                key = int(part)
            elif not isinstance(node, dict):
                raise ScenarioError(
                    "--set",
                    [Problem(tuple(path), f"{text!r}: {format_path(path)} is not a mapping",
                             origin=f"--set {text}")],
                )
            path.append(key)
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and key not in node:
                    node[key] = {}
                node = node[key]
        origins[tuple(path)] = f"--set {text}"
    return out


# --------------------------------------------------------------------------- validation
def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """Field names allowed at ``path`` inside ``model`` (for did-you-mean)."""
    import typing

    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = f.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            origin = typing.get_origin(current)
            if origin is dict and len(args) == 2:
                current = args[1]
            elif origin is list and args:
                current = args[0]
            elif args:
                # Optional[X] / unions: take the first model-like member
                models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                if not models:
                    containers = [a for a in args if typing.get_origin(a) in (dict, list)]
                    if not containers:
                        return []
                    current = containers[0]
                    continue
                current = models[0]
                if isinstance(part, str) and part in current.model_fields:
                    current = current.model_fields[part].annotation
                continue
            else:
                return []
    # unwrap optional
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        args = [a for a in typing.get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not args:
            return []
        current = args[0]
    return list(current.model_fields)


def _message(err: Any, allowed_fields: list[str]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        guess = difflib.get_close_matches(key, allowed_fields, n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        return (
            f"unknown key {key!r}{hint} Allowed here: {', '.join(allowed_fields)}"
            if allowed_fields
            else f"unknown key {key!r}"
        )
    if kind == "missing":
        return "required field is missing"
    ctx = err.get("ctx") or {}
    got = err.get("input")
    got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{msg}{got_text}"
    if kind == "literal_error":
        return f"{msg}{got_text}"
    if ctx and "expected" in ctx:
        return f"{msg}{got_text}"
    return f"{msg}{got_text}"


def validate(
    data: Any,
    source: str,
    marks: dict[KeyPath, tuple[int, int]] | None = None,
    origins: dict[KeyPath, str] | None = None,
) -> Scenario:
    """Validate raw data into a :class:`Scenario`, or raise a :class:`ScenarioError`."""
    marks = marks or {}
    origins = origins or {}
    if not isinstance(data, dict):
        raise ScenarioError(source, [Problem((), "a scenario must be a mapping of keys to values", 1, 1)])

    def locate(path: KeyPath) -> Problem:
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            if sub in origins:
                return Problem(path, "", origin=origins[sub])
            if sub in marks:
                line, col = marks[sub]
                return Problem(path, "", line, col)
        return Problem(path, "")

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            base = locate(loc)
            allowed = _fields_at(Scenario, loc[:-1]) if err["type"] == "extra_forbidden" else []
            problems.append(
                Problem(loc, _message(err, allowed), base.line, base.column, base.origin)
            )
        raise ScenarioError(source, problems) from None
    refs = reference_errors(scenario)
    if refs:
        problems = []
        for path, message in refs:
            base = locate(path)
            problems.append(Problem(path, message, base.line, base.column, base.origin))
        raise ScenarioError(source, problems)
    return scenario


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int]]]:
    """Read a scenario file into raw data and key positions."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise ScenarioError(source, [Problem((), "file not found")])
    if p.is_dir():
        raise ScenarioError(source, [Problem((), "is a folder, not a scenario file")])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem((), f"cannot read file: {exc}")]) from None
    data, marks = _compose_with_marks(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(source, [Problem((), "a scenario must be a mapping of keys to values", 1, 1)])
    return data, marks


def load_scenario(
    path: str | Path, overrides: Iterable[str] = (), plan: str | Path | None = None
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
    """
    data, marks = read_yaml(path)
    origins: dict[KeyPath, str] = {}
    if plan is not None:
        overlay, _ = read_yaml(plan)
        data = _merge(data, overlay, origins, (), f"plan {plan}")
    try:
        data = apply_overrides(data, list(overrides), origins)
    except ValueError as exc:
        raise ScenarioError(str(path), [Problem((), str(exc), origin="--set")]) from None
    return validate(data, str(path), marks, origins)


def _merge(
    base: dict[str, Any], overlay: dict[str, Any], origins: dict[KeyPath, str], path: KeyPath, origin: str
) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        child = path + (key,)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origins, child, origin)
        else:
            out[key] = value
            origins[child] = origin
    return out


def dump_scenario(scenario: Scenario) -> str:
    """Serialise a scenario (all defaults resolved) as YAML that loads back to the same value."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
