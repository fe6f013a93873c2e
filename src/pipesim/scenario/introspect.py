"""The schema read as data: what a key path of a scenario may hold.

:func:`expected_at` gives the type (and field) expected at a key path, :func:`fields_at` the
keys allowed in a block and :func:`field_homes` every block where a key is allowed. Error
messages and ``--set`` overrides use them to say what is allowed where.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipesim.scenario.edit import KeyPath, format_path


def unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def is_model(tp: Any) -> bool:
    """Whether ``tp`` is a schema block (a pydantic model class)."""
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def expected_at(model: type[BaseModel], path: KeyPath) -> tuple[Any, FieldInfo | None]:
    """Type expected at ``path`` inside ``model`` and, if it is a model field, its field info.

    Returns ``(None, None)`` when the path does not exist in the schema.
    """
    current: Any = model
    info: FieldInfo | None = None
    for part in path:
        current = unwrap_optional(current)
        origin = typing.get_origin(current)
        if is_model(current):
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
    return unwrap_optional(current), info


def fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """Field names allowed at ``path`` inside ``model`` (for did-you-mean)."""
    tp, _ = expected_at(model, path)
    return list(tp.model_fields) if is_model(tp) else []


def field_homes(
    model: type[BaseModel], prefix: KeyPath = (), depth: int = 0
) -> dict[str, list[str]]:
    """Map each field name to the blocks (dotted paths) where it is allowed."""
    homes: dict[str, list[str]] = {}
    if depth > 4:
        return homes
    for name, info in model.model_fields.items():
        homes.setdefault(name, []).append(format_path(prefix) or "the top level")
        tp = unwrap_optional(info.annotation)
        sub: KeyPath = (*prefix, name)
        if typing.get_origin(tp) is dict:
            tp, sub = typing.get_args(tp)[1], (*sub, "<name>")
        elif typing.get_origin(tp) is list:
            tp, sub = typing.get_args(tp)[0], (*sub, 0)
        if is_model(tp):
            for key, where in field_homes(tp, sub, depth + 1).items():
                homes.setdefault(key, []).extend(where)
    return homes
