"""The sales organisation: teams, and regions as teams of teams.

A team lists its reps by name and may sit under another team (its ``parent``: a region, an area,
any depth). Without ``teams`` the whole sales force is one team, as before. With them, every rep
belongs to exactly one team, and a team's figures cover its own reps and every team under it, so
the company's bookings are the sum of its top-level teams' in every replication.
"""

from __future__ import annotations

from pipesim.scenario.schema.base import MAX_TARGET, Spec, param


class Team(Spec):
    """A sales team or a region (a team whose members are teams)."""

    parent: str | None = param(
        None,
        "The team or region this one belongs to (a key of teams); none for a top level.",
        "user data",
    )
    reps: list[str] = param(
        [],
        "The team's reps by name (a member's name, or rep01, rep02, ... without members).",
        "user data",
    )
    target: float | None = param(
        None,
        "The team's bookings target over the horizon (currency): the run reports its "
        "P(target) beside the company's.",
        "user data",
        gt=0,
        le=MAX_TARGET,
    )
