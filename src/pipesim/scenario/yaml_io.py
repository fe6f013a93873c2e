"""Scenario YAML read safely, with the line and column of every key.

YAML is read with a safe loader (no object construction, no expressions); duplicated keys, tags,
merge keys and documents that expand past :data:`MAX_YAML_NODES` values (alias bombs) are
rejected as :class:`~pipesim.scenario.errors.ScenarioError` naming the file, line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipesim.scenario.edit import KeyPath
from pipesim.scenario.errors import Problem, ScenarioError, did_you_mean

MAX_YAML_NODES = 200_000
"""Refuse documents that expand to more nodes than this (alias bombs)."""


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


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, tuple[int, int]]]:
    """Read a scenario file into raw data and key positions."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        hint = ""
        if p.parent.is_dir():
            siblings = [c.name for c in p.parent.iterdir() if c.suffix in (".yaml", ".yml")]
            hint = did_you_mean(p.name, siblings, cutoff=0.8)
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
