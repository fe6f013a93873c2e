"""Validation errors of a scenario told in the user's words.

:func:`error_message` turns one pydantic error into what is wrong and what is allowed: the
bounds of a number (with a hint when a share is written as a percentage), the choices of a
name, the keys of a block, a did-you-mean for a misspelt key or the block where the key
belongs. :func:`with_hint` adds a did-you-mean to the messages of
:func:`pipesim.scenario.references.reference_errors`.
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

from pipesim.scenario.errors import did_you_mean
from pipesim.scenario.introspect import expected_at, field_homes, fields_at, is_model
from pipesim.scenario.schema import Scenario


@functools.cache
def _all_field_homes() -> dict[str, list[str]]:
    return field_homes(Scenario)


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


def _exponent_hint(got: Any) -> str:
    """YAML reads ``1e6`` as text (an exponent needs a dot and a sign): say how to write it."""
    if not isinstance(got, str) or "e" not in got.lower():
        return ""
    try:
        x = float(got)
    except ValueError:
        return ""
    mantissa, _, exponent = f"{x:e}".partition("e")
    written = mantissa.rstrip("0")
    if written.endswith("."):
        written += "0"
    return f"; YAML reads {got} as text: write {written}e{exponent}"


def error_message(err: Any) -> str:
    """Readable message for one pydantic error: what is wrong and what is allowed.

    ``err`` is one item of ``ValidationError.errors()`` for a :class:`Scenario`, its ``loc``
    being the key path (without validator names).
    """
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed_fields = fields_at(Scenario, loc[:-1])
        hint = did_you_mean(key, allowed_fields)
        if not hint:
            homes = _all_field_homes().get(key, [])
            if homes:
                hint = f" ({key!r} belongs under {' or '.join(sorted(set(homes)))})"
        if allowed_fields:
            return f"unknown key {key!r}{hint}; allowed here: {', '.join(allowed_fields)}"
        return f"unknown key {key!r}{hint}"
    tp, info = expected_at(Scenario, loc)
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
        hint = did_you_mean(str(got), choices)
        return f"must be one of {', '.join(map(repr, choices))}{_got(got)}{hint}"
    if kind == "model_type":
        keys = list(tp.model_fields) if is_model(tp) else []
        allowed = f"; allowed keys: {', '.join(keys)}" if keys else ""
        return f"expected a mapping of keys to values{_got(got)}{allowed}"
    if kind in _TYPE_MESSAGES:
        return f"{_TYPE_MESSAGES[kind]}{_got(got)}{_exponent_hint(got)}"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return f"{msg}{_got(got)}"


_UNKNOWN_NAME = re.compile(
    r"^unknown (?P<what>[\w ]+?) '(?P<name>[^']*)'; allowed: (?P<allowed>.*)$"
)


def with_hint(message: str) -> str:
    """Add a did-you-mean to an ``unknown X 'name'; allowed: a, b`` message."""
    m = _UNKNOWN_NAME.match(message)
    if not m:
        return message
    hint = did_you_mean(m["name"], m["allowed"].split(", "))
    return f"unknown {m['what']} {m['name']!r}{hint}; allowed: {m['allowed']}"
