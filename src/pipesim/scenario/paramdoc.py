"""The scenario parameter reference, generated from the schema so it cannot drift from the code.

:func:`parameter_table` walks :class:`pipesim.scenario.schema.Scenario` recursively and renders
every field as one Markdown table row: its key path as written in a scenario YAML file (or a
``--set`` override), its default, its validation bounds, its description and its source. Nested
blocks recurse (``journey.awareness.mean_days``), dictionaries of blocks use a placeholder for the
name (``segments.<name>.buyers_per_week``) and lists of blocks use ``[]``
(``open_pipeline[].count``). Defaults are the ones that apply in context: a stage's ``mean_days``
is the default of that stage, not of the generic stage block.

``docs/model.md`` embeds the table between ``<!-- params:start -->`` and
``<!-- params:end -->``; ``tests/test_docs.py`` fails when the two differ. Regenerate with::

    python -m pipesim.scenario.paramdoc --write docs/model.md

and print the table alone with ``python -m pipesim.scenario.paramdoc``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import re
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pipesim.scenario.introspect import unwrap_optional
from pipesim.scenario.schema import Scenario

START_MARKER = "<!-- params:start -->"
END_MARKER = "<!-- params:end -->"
REQUIRED = "required"


@dataclass(frozen=True)
class Parameter:
    """One row of the reference: a scenario key and what the schema says about it.

    Attributes
    ----------
    path
        Key path as written in YAML, e.g. ``segments.<name>.fit.mean``.
    default
        The default in context, rendered as YAML flow text (``required`` when there is none).
    constraints
        Validation bounds and allowed values, e.g. ``≥ 0, ≤ 1``.
    description
        The field's description (empty when the schema gives none).
    source
        The field's source (empty when the schema gives none).
    leaf
        True for a value; False for a block (nested model, or a dictionary or list of them),
        whose own keys follow as further rows.
    """

    path: str
    default: str
    constraints: str
    description: str
    source: str
    leaf: bool


# --------------------------------------------------------------------------- schema walking
def _model(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _shape(tp: Any) -> tuple[str, type[BaseModel] | None]:
    """Classify an annotation: ``model``, ``dict`` or ``list`` of models, or a ``leaf`` value."""
    tp = unwrap_optional(tp)
    if (model := _model(tp)) is not None:
        return "model", model
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2 and (model := _model(unwrap_optional(args[1]))):
        return "dict", model
    if origin is list and len(args) == 1 and (model := _model(unwrap_optional(args[0]))):
        return "list", model
    return "leaf", None


def _field_default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return PydanticUndefined


def iter_parameters(
    model: type[BaseModel] = Scenario, prefix: str = "", instance: BaseModel | None = None
) -> Iterator[Parameter]:
    """Yield every field of ``model`` (recursively) as a :class:`Parameter`, in schema order.

    Parameters
    ----------
    model
        The block to walk; the whole scenario by default.
    prefix
        Key path of the block, ending in ``.`` (empty at the top level).
    instance
        The block's default value in context, whose field values override the class defaults
        (e.g. ``Journey().awareness`` for ``journey.awareness``); None to use the class defaults.

    Yields
    ------
    Parameter
        One per field; a block's own row (only when its field carries a description) comes
        before the rows of its keys.
    """
    for name, info in model.model_fields.items():
        path = prefix + name
        default = getattr(instance, name) if instance is not None else _field_default(info)
        kind, sub = _shape(info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        row = Parameter(
            path=path,
            default=_render_default(default),
            constraints=_constraints(info),
            description=(info.description or "").strip(),
            source=str(extra.get("source", "") or "").strip(),
            leaf=kind == "leaf",
        )
        if kind == "leaf":
            yield row
            continue
        if row.description or row.source:
            yield row
        assert sub is not None
        if kind == "model":
            nested = default if isinstance(default, BaseModel) else None
            yield from iter_parameters(sub, path + ".", nested)
        elif kind == "dict":
            yield from iter_parameters(sub, path + ".<name>.")
        else:
            yield from iter_parameters(sub, path + "[].")


def leaf_parameters() -> list[Parameter]:
    """Every value the scenario can set (no block rows)."""
    return [p for p in iter_parameters() if p.leaf]


# --------------------------------------------------------------------------- rendering
_BOUNDS: tuple[tuple[type, str, str], ...] = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


def _bound(value: Any) -> str:
    """A bound as written in a scenario: ``100`` rather than ``100.0``, ``1e+10`` when long."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else _scalar(value)


def _bounds(metadata: list[Any]) -> list[str]:
    parts: list[str] = []
    for meta in metadata:
        for cls, attr, symbol in _BOUNDS:
            if isinstance(meta, cls):
                parts.append(f"{symbol} {_bound(getattr(meta, attr))}")
        if isinstance(meta, annotated_types.MinLen):
            parts.append(f"length ≥ {meta.min_length}")
        if isinstance(meta, annotated_types.MaxLen):
            parts.append(f"length ≤ {meta.max_length}")
    return parts


def _constraints(info: FieldInfo) -> str:
    """Bounds from the field's metadata (and a map's values), then the values of a ``Literal``."""
    parts = _bounds(info.metadata)
    tp = unwrap_optional(info.annotation)
    if typing.get_origin(tp) is dict:
        value = typing.get_args(tp)[1]
        if typing.get_origin(value) is typing.Annotated:
            inner = [m for f in typing.get_args(value)[1:] for m in getattr(f, "metadata", [])]
            if bounds := _bounds(inner):
                parts.append("values " + ", ".join(bounds))
    if typing.get_origin(tp) is typing.Literal:
        parts.append("one of " + ", ".join(str(a) for a in typing.get_args(tp)))
    elif typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp) or (None,)
        if typing.get_origin(item) is typing.Literal:
            parts.append("items: " + ", ".join(str(a) for a in typing.get_args(item)))
    return ", ".join(parts)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value if value else "''"
    return str(value)


def _flow(value: Any) -> str:
    """A default as YAML flow text; a block in a container is shown as ``{…}``."""
    if isinstance(value, BaseModel):
        return "{…}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _render_default(value: Any) -> str:
    if value is PydanticUndefined:
        return REQUIRED
    if isinstance(value, BaseModel):
        return ""  # a block: its keys follow as their own rows
    return f"`{_flow(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def parameter_table() -> str:
    """The scenario parameter reference as a Markdown table (no trailing newline).

    Returns
    -------
    str
        Columns: key, default, constraints, description, source; one row per field of
        :class:`pipesim.scenario.schema.Scenario`, nested blocks included.
    """
    lines = [
        "| key | default | constraints | description | source |",
        "|---|---|---|---|---|",
    ]
    for p in iter_parameters():
        cells = (f"`{p.path}`", p.default, p.constraints, p.description, p.source)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- docs block
_BLOCK = re.compile(re.escape(START_MARKER) + r"\n(.*?)\n?" + re.escape(END_MARKER), re.DOTALL)


def extract_table(text: str) -> str | None:
    """The text between the parameter markers of a document, or None when they are missing."""
    match = _BLOCK.search(text)
    return match.group(1).strip() if match else None


def replace_table(text: str, table: str) -> str:
    """``text`` with the block between the parameter markers replaced by ``table``."""
    if _BLOCK.search(text) is None:
        raise ValueError(f"markers {START_MARKER} ... {END_MARKER} not found")
    block = f"{START_MARKER}\n{table}\n{END_MARKER}"
    return _BLOCK.sub(lambda _m: block, text, count=1)


def main(argv: list[str] | None = None) -> int:
    """Print the parameter table, or rewrite it inside a Markdown file with ``--write FILE``."""
    parser = argparse.ArgumentParser(
        prog="python -m pipesim.scenario.paramdoc", description="Scenario parameter reference."
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help=f"replace the table between {START_MARKER} and {END_MARKER} in FILE",
    )
    args = parser.parse_args(argv)
    table = parameter_table()
    if args.write is None:
        print(table)
        return 0
    path: Path = args.write
    path.write_text(replace_table(path.read_text(encoding="utf-8"), table), encoding="utf-8")
    print(f"updated the parameter table in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
