"""The sales organisation: teams, and regions as teams of teams.

A team lists its reps by name and may sit under another team (its ``parent``: a region, an
area, any depth). It may own a territory: shares of segments' leads that only its reps work,
and open deals (an open-pipeline ``owner`` may name a team: its deals are dealt to the team's
reps). Without ``teams`` the whole sales force is one team, as before. With them, every rep
belongs to exactly one team, and a team's figures cover its own reps and every team under it,
so the company's bookings are the sum of its top-level teams' in every replication.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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
    segments: dict[str, Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]] = param(
        {},
        "The team's territory: the share of each segment's leads (inbound, campaign, referral, "
        "prospecting) that only its reps (and those of teams under it) work; a segment's shares "
        "add up to at most 1 across teams, the rest is worked by every rep.",
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
