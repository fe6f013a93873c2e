"""Parameter uncertainty: each replication draws the uncertain parameters before it runs.

A scenario fitted to a short history knows its parameters only roughly; ``pipesim calibrate``
writes how roughly into the scenario's ``uncertainty`` block (dotted path -> sd). With
``pipesim run --parameter-uncertainty`` every replication first draws those parameters from
their distributions (from the replication's own seed, so the run stays reproducible and
independent of the number of workers), then simulates with them. P(target) then carries both
the market's randomness and the estimation error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from pipesim.scenario.edit import parse_path, set_value
from pipesim.scenario.references import parameter_bounds, resolve_path
from pipesim.scenario.rng import Streams
from pipesim.scenario.schema import Scenario, Uncertainty

MAX_REDRAWS = 1000
"""Redraws of a normal parameter that falls outside its bounds before giving up."""


def bounds(scenario: Scenario, dotted: str) -> tuple[float, float, bool, bool]:
    """Lower and upper bound of a numeric parameter and whether each is strict."""
    parent_path, _, name = dotted.rpartition(".")
    parent: Any = resolve_path(scenario, parent_path)[0] if parent_path else scenario
    if isinstance(parent, BaseModel):
        return parameter_bounds(type(parent), name)
    return -math.inf, math.inf, False, False


def _inside(x: float, b: tuple[float, float, bool, bool]) -> bool:
    lo, hi, lo_strict, hi_strict = b
    above = x > lo if lo_strict else x >= lo
    below = x < hi if hi_strict else x <= hi
    return above and below


def draw_value(
    value: float, spec: Uncertainty, b: tuple[float, float, bool, bool], rng: np.random.Generator
) -> float:
    """One draw of a parameter around ``value``, inside its bounds."""
    if spec.sd == 0:
        return value
    for _ in range(MAX_REDRAWS):
        z = float(rng.standard_normal())
        x = (
            value * math.exp(spec.sd * z)
            if spec.distribution == "lognormal"
            else value + spec.sd * z
        )
        if _inside(x, b):
            return x
    raise ValueError(
        f"could not draw a value inside the parameter's bounds in {MAX_REDRAWS} tries "
        f"(value {value}, sd {spec.sd}): the sd is too large for its range"
    )


def draw_parameters(scenario: Scenario, seed: int) -> tuple[Scenario, dict[str, float]]:
    """The scenario with every uncertain parameter drawn, and the drawn values by path.

    Draws come from the replication seed's ``uncertainty`` stream, in the block's key order.
    """
    if not scenario.uncertainty:
        return scenario, {}
    rng = Streams(seed)("uncertainty")
    data = scenario.model_dump()
    drawn: dict[str, float] = {}
    for path, spec in scenario.uncertainty.items():
        value, _ = resolve_path(scenario, path)
        x = draw_value(float(value), spec, bounds(scenario, path), rng)
        if isinstance(value, int):
            x = float(round(x))
        drawn[path] = x
        set_value(data, parse_path(path), int(x) if isinstance(value, int) else x, create=False)
    try:
        return Scenario.model_validate(data), drawn
    except ValidationError as exc:  # bounds the metadata did not show (rare)
        raise ValueError(f"drawn parameters are not a valid scenario: {exc}") from None
