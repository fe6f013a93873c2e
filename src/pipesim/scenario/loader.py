"""Read scenario YAML safely, apply dot-path overrides, and explain every mistake precisely.

A bad scenario never reaches the engine: each problem becomes a :class:`ScenarioError` naming
the file, line and column, the key path, what is wrong and what is allowed (with a did-you-mean
for misspelt keys and names). YAML is read with a safe loader (no object construction, no
expressions); duplicated keys are rejected rather than silently keeping the last one.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pipesim.scenario.edit import EditError, KeyPath, format_path, merge, set_value
from pipesim.scenario.schema import Scenario, reference_errors

MAX_YAML_NODES = 200_000
"""Refuse documents that expand to more nodes than this (alias bombs)."""


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


def _did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    choices = list(choices)
    same_but_case = [c for c in choices if c.lower() == word.lower() and c != word]
    guess = same_but_case or difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f" (did you mean {guess[0]!r}?)" if guess else ""


# --------------------------------------------------------------------------- YAML with positions
class _Loader(yaml.SafeLoader):
    """Safe loader used to compose nodes and construct plain scalars."""


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character offset in ``text``."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _yaml_problem(exc: yaml.YAMLError, text: str) -> Problem:
    """Turn a PyYAML error into a positioned, readable problem."""
    if isinstance(exc, yaml.reader.ReaderError):
        what = "special characters are not allowed" if exc.reason else str(exc)
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return Problem(
            (),
            f"malformed YAML: unacceptable character {char}: {what}",
            *_line_col(text, exc.position),
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line: int | None = mark.line + 1 if mark else None
        col: int | None = mark.column + 1 if mark else None
        problem = (exc.problem or "malformed YAML").strip()
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            problem += (
                f" ({exc.context.strip()} on line {exc.context_mark.line + 1}, "
                f"column {exc.context_mark.column + 1})"
            )
        if "'\\t'" in problem:
            problem += "; indent with spaces, not tabs"
        elif "could not determine a constructor" in problem:
            problem += "; YAML tags (!!...) are not allowed in scenarios"
        return Problem((), f"malformed YAML: {problem}", line, col)
    return Problem((), f"malformed YAML: {exc}")


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def compose_with_marks(text: str, source: str) -> tuple[Any, dict[KeyPath, tuple[int, int]]]:
    """Parse YAML text safely into plain data and the ``(line, column)`` of every key path.

    Raises :class:`ScenarioError` (naming ``source``) for malformed YAML, duplicated keys, tags
    and documents too large to be a scenario.
    """
    marks: dict[KeyPath, tuple[int, int]] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [_yaml_problem(exc, text)]) from None
    if node is None:
        return {}, marks
    loader = _Loader("")
    problems: list[Problem] = []
    active: set[int] = set()
    count = 0

    def pos(n: yaml.Node) -> tuple[int, int]:
        return n.start_mark.line + 1, n.start_mark.column + 1

    def build(n: yaml.Node, path: KeyPath) -> Any:
        nonlocal count
        count += 1
        if count > MAX_YAML_NODES:
            raise ScenarioError(
                source,
                [
                    Problem(
                        path,
                        f"YAML expands to more than {MAX_YAML_NODES:,} values (too many aliases?)",
                        *pos(n),
                    )
                ],
            )
        marks[path] = pos(n)
        if id(n) in active:
            raise ScenarioError(
                source, [Problem(path, "malformed YAML: an alias refers to itself", *pos(n))]
            )
        if isinstance(n, yaml.MappingNode | yaml.SequenceNode) and n.tag not in _PLAIN_TAGS:
            problems.append(
                Problem(
                    path,
                    f"malformed YAML: tag {n.tag!r}; "
                    "YAML tags (!!...) are not allowed in scenarios",
                    *pos(n),
                )
            )
            return None
        if isinstance(n, yaml.MappingNode):
            active.add(id(n))
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(
                        Problem(path, "YAML merge keys (<<) are not supported", *pos(key_node))
                    )
                    continue
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    problems.append(Problem(path, "keys must be plain names", *pos(key_node)))
                    continue
                key = str(key)
                child = (*path, key)
                if key in out:
                    first = marks.get(child, (None, None))[0]
                    problems.append(
                        Problem(
                            child,
                            f"duplicated key (first given on line {first}); "
                            "each key may appear only once",
                            *pos(key_node),
                        )
                    )
                    continue
                out[key] = build(value_node, child)
                marks[child] = pos(key_node)
            active.discard(id(n))
            return out
        if isinstance(n, yaml.SequenceNode):
            active.add(id(n))
            items = [build(item, (*path, i)) for i, item in enumerate(n.value)]
            active.discard(id(n))
            return items
        return loader.construct_object(n, deep=True)

    try:
        data = build(node, ())
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [_yaml_problem(exc, text)]) from None
    if problems:
        raise ScenarioError(source, problems)
    return data, marks


# --------------------------------------------------------------------------- schema look-ups
def _unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _resolve(model: type[BaseModel], path: KeyPath) -> tuple[Any, FieldInfo | None]:
    """Type expected at ``path`` inside ``model`` and, if it is a model field, its field info.

    Returns ``(None, None)`` when the path does not exist in the schema.
    """
    current: Any = model
    info: FieldInfo | None = None
    for part in path:
        current = _unwrap_optional(current)
        origin = typing.get_origin(current)
        if _is_model(current):
            info = current.model_fields.get(str(part))
            if info is None:
                return None, None
            current = info.annotation
        elif origin is dict:
            current, info = typing.get_args(current)[1], None
        elif origin is list:
            current, info = typing.get_args(current)[0], None
        else:
            return None, None
    return _unwrap_optional(current), info


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """Field names allowed at ``path`` inside ``model`` (for did-you-mean)."""
    tp, _ = _resolve(model, path)
    return list(tp.model_fields) if _is_model(tp) else []


def _field_homes(
    model: type[BaseModel], prefix: KeyPath = (), depth: int = 0
) -> dict[str, list[str]]:
    """Map each field name to the blocks (dotted paths) where it is allowed."""
    homes: dict[str, list[str]] = {}
    if depth > 4:
        return homes
    for name, info in model.model_fields.items():
        homes.setdefault(name, []).append(format_path(prefix) or "the top level")
        tp = _unwrap_optional(info.annotation)
        sub: KeyPath = (*prefix, name)
        if typing.get_origin(tp) is dict:
            tp, sub = typing.get_args(tp)[1], (*sub, "<name>")
        elif typing.get_origin(tp) is list:
            tp, sub = typing.get_args(tp)[0], (*sub, 0)
        if _is_model(tp):
            for key, where in _field_homes(tp, sub, depth + 1).items():
                homes.setdefault(key, []).extend(where)
    return homes


@functools.cache
def _all_field_homes() -> dict[str, list[str]]:
    return _field_homes(Scenario)


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float) else str(x)


def _range_text(info: FieldInfo | None, ctx: dict[str, Any]) -> str:
    """``must be between 0 and 1`` and the like, from every bound the field declares."""
    lo: tuple[str, Any] | None = None
    hi: tuple[str, Any] | None = None
    for meta in info.metadata if info is not None else []:
        if isinstance(meta, annotated_types.Ge):
            lo = ("ge", meta.ge)
        elif isinstance(meta, annotated_types.Gt):
            lo = ("gt", meta.gt)
        elif isinstance(meta, annotated_types.Le):
            hi = ("le", meta.le)
        elif isinstance(meta, annotated_types.Lt):
            hi = ("lt", meta.lt)
    for kind in ("ge", "gt"):
        if lo is None and kind in ctx:
            lo = (kind, ctx[kind])
    for kind in ("le", "lt"):
        if hi is None and kind in ctx:
            hi = (kind, ctx[kind])
    if lo and hi:
        if lo[0] == "ge" and hi[0] == "le":
            return f"must be between {_num(lo[1])} and {_num(hi[1])}"
        low = f"at least {_num(lo[1])}" if lo[0] == "ge" else f"greater than {_num(lo[1])}"
        high = f"at most {_num(hi[1])}" if hi[0] == "le" else f"less than {_num(hi[1])}"
        return f"must be {low} and {high}"
    if lo:
        if lo[0] == "ge":
            return f"must be at least {_num(lo[1])}"
        return f"must be greater than {_num(lo[1])}"
    if hi:
        return (
            f"must be at most {_num(hi[1])}"
            if hi[0] == "le"
            else f"must be less than {_num(hi[1])}"
        )
    return "is out of range"


_TYPE_MESSAGES = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text (quote values that look like numbers or dates)",
    "dict_type": "expected a mapping of names to values",
    "list_type": "expected a list",
    "date_parsing": "expected a date like 2026-01-01",
    "date_type": "expected a date like 2026-01-01",
    "date_from_datetime_parsing": "expected a date like 2026-01-01",
    "date_from_datetime_inexact": "expected a date like 2026-01-01",
    "string_too_short": "must not be empty",
}


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return " (got a mapping)"
    if isinstance(value, list):
        return " (got a list)"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f" (got {text})"


def _message(err: Any, allowed_fields: list[str]) -> str:
    """Readable message for one pydantic error: what is wrong and what is allowed."""
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        hint = _did_you_mean(key, allowed_fields)
        if not hint:
            homes = _all_field_homes().get(key, [])
            if homes:
                hint = f" ({key!r} belongs under {' or '.join(sorted(set(homes)))})"
        if allowed_fields:
            return f"unknown key {key!r}{hint}; allowed here: {', '.join(allowed_fields)}"
        return f"unknown key {key!r}{hint}"
    tp, info = _resolve(Scenario, loc)
    if kind == "missing":
        what = f": {info.description.rstrip('.')}" if info is not None and info.description else ""
        return f"required field is missing{what}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        allowed = _range_text(info, ctx)
        share = allowed.endswith(" and 1") or allowed.endswith("less than 1")
        if share and isinstance(got, int | float) and 2 <= got <= 100:
            return (
                f"{allowed}{_got(got)}; write shares as fractions, e.g. {got / 100:g} for {got:g}%"
            )
        return f"{allowed}{_got(got)}"
    if kind == "literal_error":
        is_literal = typing.get_origin(tp) is typing.Literal
        choices = [str(c) for c in typing.get_args(tp)] if is_literal else []
        if not choices:
            return f"{err['msg']}{_got(got)}"
        hint = _did_you_mean(str(got), choices)
        return f"must be one of {', '.join(map(repr, choices))}{_got(got)}{hint}"
    if kind == "model_type":
        keys = list(tp.model_fields) if _is_model(tp) else []
        allowed = f"; allowed keys: {', '.join(keys)}" if keys else ""
        return f"expected a mapping of keys to values{_got(got)}{allowed}"
    if kind in _TYPE_MESSAGES:
        return f"{_TYPE_MESSAGES[kind]}{_got(got)}"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return f"{msg}{_got(got)}"


_UNKNOWN_NAME = re.compile(
    r"^unknown (?P<what>[\w ]+?) '(?P<name>[^']*)'; allowed: (?P<allowed>.*)$"
)


def _with_hint(message: str) -> str:
    """Add a did-you-mean to an ``unknown X 'name'; allowed: a, b`` message."""
    m = _UNKNOWN_NAME.match(message)
    if not m:
        return message
    hint = _did_you_mean(m["name"], m["allowed"].split(", "))
    return f"unknown {m['what']} {m['name']!r}{hint}; allowed: {m['allowed']}"


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
    tp, _ = _resolve(Scenario, path)
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
            allowed = _fields_at(Scenario, loc[:-1]) if err["type"] == "extra_forbidden" else []
            message = _message({**err, "loc": loc}, allowed)
            problems.append(locate(loc, message))
        raise ScenarioError(source, problems) from None
    refs = reference_errors(scenario)
    if refs:
        raise ScenarioError(source, [locate(path, _with_hint(msg)) for path, msg in refs])
    return scenario


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int]]]:
    """Read a scenario file into raw data and key positions."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        hint = ""
        if p.parent.is_dir():
            siblings = [c.name for c in p.parent.iterdir() if c.suffix in (".yaml", ".yml")]
            hint = _did_you_mean(p.name, siblings, cutoff=0.8)
        raise ScenarioError(source, [Problem((), f"file not found{hint}")])
    if p.is_dir():
        raise ScenarioError(source, [Problem((), "is a folder, not a scenario file")])
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, [Problem((), f"cannot read file: not UTF-8 text ({exc.reason})")]
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(source, [Problem((), f"cannot read file: {reason}")]) from None
    data, marks = compose_with_marks(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            source, [Problem((), "a scenario must be a mapping of keys to values", 1, 1)]
        )
    return data, marks


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
