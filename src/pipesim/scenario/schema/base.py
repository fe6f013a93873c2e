"""The common ground of every scenario block.

The parameter declaration (:func:`param`), the block base (:class:`Spec`) and the two
random-quantity blocks (a lognormal amount and a Beta share); also the fixed vocabularies the
model and its outputs share: the journey stages, the terminal states of a lead and the
qualification checks.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipesim.scenario.edit import merge

STAGES: tuple[str, ...] = ("awareness", "interest", "preference", "decision")
"""The four phases of every buying journey, in order (domain.md §1, 003)."""

TERMINAL_STATES: tuple[str, ...] = (
    "won",
    "lost",
    "no_decision",
    "disqualified",
    "uncaptured",
    "open_at_end",
)
"""Every lead ends a replication in exactly one of these states."""

QUALIFICATION_CHECKS: tuple[str, ...] = ("budget", "authority", "timing")

# Upper bounds shared by several parameters. Every number a scenario sets is bounded, so a scenario
# that validates gives finite draws and a replication that finishes (docs/model.md, "Bounds").
MAX_MONEY = 1e10
"""Largest amount of one deal, quota or target entry (currency): ten billion."""
MAX_TARGET = 1e13
"""Largest bookings target over a horizon (currency)."""
MAX_CONCENTRATION = 10_000.0
"""Largest Beta concentration: the share is then fixed at its mean to within about 0.005."""
MAX_WEEKS = 520.0
"""Longest horizon, campaign window, ramp or backfill (weeks): ten years."""
MAX_DAYS = 3650.0
"""Longest time in days (stage dwell, prehistory, waiting): ten years."""
MAX_HOURS_PER_WEEK = 168.0
"""Hours in a week: no one works more."""
MAX_SCORE_POINTS = 10.0
"""The width of the 0-10 score scale: no effect moves an offer further than from 0 to 10."""
MAX_GROUP = 100.0
"""Largest buying group (people)."""
MAX_SHARE_WEIGHT = 100.0
"""Largest relative weight of a segment or criterion in a normalised split (allows percentages)."""


def param(default: Any, description: str, source: str, **constraints: Any) -> Any:
    """Declare a scenario parameter with its default, meaning and source.

    Numeric parameters are strict (``"40"`` or ``true`` is not a number) and finite.
    """
    if isinstance(default, int | float) and not isinstance(default, bool):
        constraints.setdefault("strict", True)
        constraints.setdefault("allow_inf_nan", False)
    return Field(
        default,
        description=description,
        json_schema_extra={"source": source},
        **constraints,
    )


class Spec(BaseModel):
    """Base for every scenario block: immutable, and unknown keys are errors.

    A block given in part keeps the defaults *of its context* for the keys it omits: setting
    ``journey.awareness.mean_days`` keeps the awareness stage's own stall hazard rather than the
    generic stage default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _fill_partial_blocks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, info in cls.model_fields.items():
            given = filled.get(name)
            if isinstance(given, dict) and isinstance(info.default, BaseModel):
                filled[name] = merge(info.default.model_dump(), given)
        return filled


class SizeDistribution(Spec):
    """A positive amount drawn from a lognormal with the given mean and coefficient of variation."""

    mean: float = param(50_000.0, "Mean deal value (currency).", "judgement", gt=0, le=MAX_MONEY)
    cv: float = param(0.6, "Coefficient of variation (sd / mean).", "judgement", ge=0, le=10)


class BetaShare(Spec):
    """A share in [0, 1] drawn from a Beta with the given mean and concentration (a + b)."""

    mean: float = param(0.55, "Mean of the share.", "judgement", gt=0, lt=1)
    concentration: float = param(
        6.0,
        "Concentration a + b of the Beta; larger means less spread.",
        "judgement",
        gt=0,
        le=MAX_CONCENTRATION,
    )
