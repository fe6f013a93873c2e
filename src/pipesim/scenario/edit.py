"""The one editor of scenario data by key path.

Every way of changing a scenario goes through here: ``extends:`` and ``--plan`` overlays
(:func:`merge`), ``--set`` overrides (:func:`set_value`, via :func:`pipesim.scenario.loader.
apply_overrides`), the changes ``pipesim diff`` re-simulates one at a time (:func:`edited`),
optimiser plans (:func:`merge`) and per-replication draws of uncertain parameters
(:func:`set_value`). Data here is plain: nested dicts and lists as read from YAML or dumped from
a :class:`~pipesim.scenario.schema.Scenario`; validation is the loader's job.

A key path is a tuple of mapping keys and list indexes, ``("segments", "S1", "deal_size",
"mean")`` or ``("open_pipeline", 0, "count")``; :func:`parse_path` reads the dotted form. In a
list whose items all have a ``name`` (``reps.members``) an item may also be given by its name:
``reps.members.Ana.skill`` resolves to ``("reps", "members", 0, "skill")``.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

KeyPath = tuple[str | int, ...]

REMOVE = object()
"""A value for :func:`edited`: remove the key instead of setting it."""


class EditError(ValueError):
    """A path that cannot be edited in this data; ``path`` is as far as it resolved."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def format_path(path: Iterable[str | int]) -> str:
    """``("a", 0, "b")`` as ``a[0].b``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_path(dotted: str) -> tuple[str, ...]:
    """``"a.b.0"`` as ``("a", "b", "0")`` (list indexes resolve against the data when used)."""
    return tuple(part.strip() for part in dotted.split("."))


def merge(
    base: Mapping[str, Any],
    overlay: Mapping[str, Any],
    *,
    origins: dict[KeyPath, str] | None = None,
    origin: str = "",
    marks: Mapping[KeyPath, tuple[int, int]] | None = None,
    at: KeyPath = (),
) -> dict[str, Any]:
    """``overlay`` merged over ``base``: mappings key by key, lists and values replace.

    Neither input is changed. With ``origins``, each path the overlay sets is recorded as coming
    from ``origin`` (``file:line:col`` when ``marks`` gives the overlay's key positions), so that
    a validation error points at the overlay rather than at the base file.
    """
    out = dict(base)
    for key, value in overlay.items():
        child = (*at, key)
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge(current, value, origins=origins, origin=origin, marks=marks, at=child)
        else:
            out[key] = value
            if origins is not None:
                mark = (marks or {}).get(child)
                origins[child] = f"{origin}:{mark[0]}:{mark[1]}" if mark else origin
    return out


def get_value(data: Any, path: Iterable[str | int]) -> Any:
    """The value at ``path``; :class:`EditError` naming the first part that does not resolve."""
    node = data
    done: list[str | int] = []
    for part in path:
        node, key = _step(node, part, tuple(done))
        done.append(key)
    return node


def _step(node: Any, part: str | int, done: KeyPath) -> tuple[Any, str | int]:
    """One step down from ``node`` (reached by ``done``) along ``part``."""
    if isinstance(node, list):
        index = _index(node, part, done)
        return node[index], index
    if isinstance(node, Mapping):
        if part not in node:
            raise EditError(done, f"{format_path(done) or 'the scenario'} has no key {part!r}")
        return node[part], part
    raise EditError(
        done, f"{format_path(done)} is a single value, not a mapping; cannot go inside it"
    )


def _index(node: list[Any], part: str | int, done: KeyPath) -> int:
    """The index ``part`` names: a number, or an item's name in a list of named items."""
    if not node:
        raise EditError(
            done,
            f"{format_path(done)} is an empty list; there is no item {part} to change "
            "(set the whole list instead)",
        )
    text = str(part)
    given = [item.get("name") if isinstance(item, Mapping) else None for item in node]
    names = [n for n in given if isinstance(n, str) and n]
    if not text.isdigit() and len(names) == len(node):
        if names.count(text) == 1:
            return names.index(text)
        lower = [n for n in names if n.lower() == text.lower()]
        guess = lower or difflib.get_close_matches(text, names, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise EditError(
            done,
            f"{format_path(done)} has no item named {text!r}{hint}; give one of the names "
            f"({shown}) or a number from 0 to {len(node) - 1}",
        )
    if not text.isdigit() or int(text) >= len(node):
        raise EditError(done, f"list index {text!r} must be a number from 0 to {len(node) - 1}")
    return int(text)


def set_value(
    data: Any,
    path: Iterable[str | int],
    value: Any,
    *,
    create: bool | Callable[[KeyPath], None] = True,
) -> tuple[KeyPath, KeyPath | None]:
    """Set ``path`` to ``value`` in ``data`` (in place).

    Returns the path as resolved (list indexes as numbers) and the first mapping it created
    (None when it created none).

    Missing intermediate mappings are created when ``create`` is true; a callable ``create`` is
    asked first with the path about to be created and may raise :class:`EditError` (the loader
    refuses to invent list-valued blocks this way). List items are addressed by index and must
    exist.
    """
    parts = list(path)
    if not parts:
        raise EditError((), "an empty key path")
    node = data
    done: list[str | int] = []
    created: KeyPath | None = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            key: str | int = _index(node, part, tuple(done))
        elif isinstance(node, dict):
            key = part
        else:
            rest = ".".join(str(p) for p in parts[i:])
            raise EditError(
                tuple(done),
                f"{format_path(done)} is a single value, not a mapping; cannot set {rest} "
                "inside it",
            )
        done.append(key)
        if last:
            node[key] = value
            break
        if isinstance(node, dict) and key not in node:
            if not create:
                raise EditError(tuple(done), f"{format_path(done)} does not exist")
            if callable(create):
                create(tuple(done))
            node[key] = {}
            created = created or tuple(done)
        node = node[key]
    return tuple(done), created


def remove_value(data: Any, path: Iterable[str | int]) -> None:
    """Remove the key at ``path`` (in place); nothing happens when it is not there."""
    parts = list(path)
    try:
        parent = get_value(data, parts[:-1])
    except EditError:
        return
    if isinstance(parent, dict):
        parent.pop(parts[-1], None)


def edited(data: Mapping[str, Any], changes: Iterable[tuple[KeyPath, Any]]) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``(path, value)`` set (``REMOVE`` removes the key)."""
    out = copy.deepcopy(dict(data))
    for path, value in changes:
        if value is REMOVE:
            remove_value(out, path)
        else:
            set_value(out, path, copy.deepcopy(value))
    return out
