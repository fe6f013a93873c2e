"""Managers' commit calls against the simulation: the chance each is met, and a verdict.

A commit call is a manager's number for their team (or ``company``) over the run's horizon. Its
chance is the share of the run's replications in which the team's bookings reach it (the
``team_<name>_revenue`` columns, or ``revenue`` for the company), with a Wilson interval. A
call the simulation meets in under half the replications is **optimistic**; one it meets in
over nine of ten is **sandbagged** (held low); between, **realistic**. When the interval reaches
across the line the verdict is marked not resolved at the run's replications.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipesim.results.statistics import wilson_interval
from pipesim.scenario.errors import did_you_mean

COMPANY = "company"
"""The name of the whole organisation in a commits file (unless a team has that name)."""

OPTIMISTIC_BELOW = 0.5
"""A call met in fewer replications than this share is optimistic."""

SANDBAGGED_ABOVE = 0.9
"""A call met in more replications than this share is sandbagged."""


class CommitsError(ValueError):
    """A commits file that cannot be read (file, line, column, what is allowed)."""


@dataclass(frozen=True)
class Call:
    """One commit call and what the simulation says of it."""

    team: str
    commit: float
    manager: str
    p: float
    low: float
    high: float
    replications: int

    @property
    def verdict(self) -> str:
        """``optimistic``, ``sandbagged`` or ``realistic``."""
        if self.p < OPTIMISTIC_BELOW:
            return "optimistic"
        if self.p > SANDBAGGED_ABOVE:
            return "sandbagged"
        return "realistic"

    @property
    def resolved(self) -> bool:
        """Whether the interval stays on the verdict's side of both lines."""
        if self.verdict == "optimistic":
            return self.high < OPTIMISTIC_BELOW
        if self.verdict == "sandbagged":
            return self.low > SANDBAGGED_ABOVE
        return self.low >= OPTIMISTIC_BELOW and self.high <= SANDBAGGED_ABOVE

    @property
    def line_crossed(self) -> float | None:
        """The verdict line the interval reaches across (None when resolved)."""
        if self.resolved:
            return None
        if self.verdict == "sandbagged" or (
            self.verdict == "realistic" and self.high > SANDBAGGED_ABOVE
        ):
            return SANDBAGGED_ABOVE
        return OPTIMISTIC_BELOW

    def as_row(self) -> dict[str, object]:
        """A row of ``commits.csv``."""
        return {
            "team": self.team,
            "manager": self.manager,
            "commit": self.commit,
            "p_met": self.p,
            "p_met_low": self.low,
            "p_met_high": self.high,
            "verdict": self.verdict,
            "resolved": self.resolved,
            "replications": self.replications,
        }


def read_commits(path: Path, teams: list[str]) -> list[tuple[str, float, str]]:
    """``(team, commit, manager)`` rows of a commits CSV (columns ``team, commit[, manager]``).

    Raises :class:`CommitsError` naming the file, line and column for a missing or unreadable
    file, a missing column, an unknown team (with a suggestion), a commit that is not a
    positive number, or a team called twice.
    """
    allowed = [*teams, COMPANY] if COMPANY not in teams else teams
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CommitsError(f"{path}: no such file") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise CommitsError(f"{path}: not a readable CSV text file ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    for need in ("team", "commit"):
        if need not in header:
            raise CommitsError(
                f"{path}:1: missing column {need!r} (columns: team, commit, optionally manager)"
            )
    col = {name: header.index(name) + 1 for name in header}
    rows: list[tuple[str, float, str]] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        team = rec.get("team", "")
        where = f"{path}:{line}:{col['team']}"
        if team not in allowed:
            raise CommitsError(
                f"{where}: team: unknown team {team!r}{did_you_mean(team, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
        if team in seen:
            raise CommitsError(f"{where}: team: {team!r} is called twice (also line {seen[team]})")
        seen[team] = line
        value = rec.get("commit", "")
        try:
            commit = float(value)
        except ValueError:
            commit = math.nan
        if not math.isfinite(commit) or commit <= 0:
            raise CommitsError(
                f"{path}:{line}:{col['commit']}: commit: must be a positive amount (got {value!r})"
            )
        rows.append((team, commit, rec.get("manager", "")))
    if not rows:
        raise CommitsError(f"{path}: no commit calls (one row per team: team, commit)")
    return rows


def judge_calls(table: pd.DataFrame, calls: list[tuple[str, float, str]]) -> list[Call]:
    """The chance each call is met in the run's replications, with its interval."""
    out = []
    n = len(table)
    for team, commit, manager in calls:
        column = f"team_{team}_revenue"
        if column in table.columns:
            values = table[column]
        elif team == COMPANY:
            values = table["revenue"]
        else:
            raise CommitsError(f"the run has no bookings of team {team!r} ({column})")
        hits = int((values.to_numpy(float) >= commit).sum())
        low, high = wilson_interval(hits, n)
        out.append(Call(team, commit, manager, hits / n, low, high, n))
    return out
