"""Optimiser settings: bounds, fairness, strategic segments, curve source, pilot and loop sizes.

These are planning choices, not facts about the market, so they live apart from the scenario:
command-line options, or an optional YAML file whose ``optimise:`` section holds the fields of
:class:`OptimiseSettings` (command-line options win). Every field has a default, so a file is
only needed for what the options do not cover (per-campaign bounds, strategic segments,
judgmental response curves)::

    optimise:
      budget:
        total_per_week: {max: 12000}
        campaigns: {trade_shows: {min: 3000}}
      fairness_band: 0.2
      strategic_segments: {S4: 0.15}
      lever_costs: {outbound_hours_per_opportunity: 12}
      plausible_gain: 0.25
      judgement:
        campaigns.webinars.budget_per_week:
          revenue: [21.2e6, 21.6e6, 21.9e6, 22.05e6, 22.1e6]   # at 0, 50, 100, 150% and saturation
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipesim.optimise.levers import levers_of
from pipesim.scenario.schema import Scenario
from pipesim.scenario.schema.sales import OUTBOUND_HOURS_SOURCE, Outbound


class SettingsError(Exception):
    """Optimiser settings (file or options) that cannot be used: a bad-input error (exit 2)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    """A lower and an upper bound, either optional."""

    min: float | None = Field(None, ge=0, description="Lower bound.")
    max: float | None = Field(None, ge=0, description="Upper bound.")

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self


class Budget(_Strict):
    """Campaign budget bounds, in currency per week."""

    total_per_week: Bounds = Field(
        Bounds(),
        description="Bounds on the sum of campaigns.<name>.budget_per_week "
        "(default max: today's total, i.e. reallocate today's budget).",
    )
    campaigns: dict[str, Bounds] = Field(
        {}, description="Bounds per campaign on campaigns.<name>.budget_per_week."
    )


class Quota(_Strict):
    """Bounds on each rep's weekly new-opportunity quota."""

    min: float | None = Field(None, ge=0, description="Smallest quota per rep per week.")
    max: float | None = Field(None, ge=0, description="Largest quota per rep per week.")
    integer: bool = Field(False, description="Whole-number quotas (the model becomes a MILP).")


class Pilot(_Strict):
    """Pilot simulations that measure the response curves (common random numbers)."""

    replications: int = Field(
        40,
        ge=5,
        description="Most replications per pilot point (the limit of the sequential rounds).",
    )
    first_replications: int = Field(
        10,
        ge=3,
        description="Replications of a pilot point in its first round (at most "
        "pilot.replications); later rounds add replications where a curve is not yet precise.",
    )
    standard_error: float = Field(
        0.025,
        gt=0,
        description="Precision aimed at: the standard error of each piece of a pilot curve (the "
        "revenue change between neighbouring levels, today's included, paired on the same "
        "replications), as a share of today's mean revenue. A point gets replications until "
        "its pieces reach it or pilot.replications is reached.",
    )
    standard_error_at_plan: float = Field(
        0.01,
        gt=0,
        description="The finer aim for the pieces a plan sits on (they decide how the plan "
        "trades one lever against another), as a share of today's mean revenue.",
    )
    adaptive: bool = Field(
        True,
        description="Start each curve with the nearest level on each side of today and simulate "
        "a further level only when a plan reaches the end of the curve measured so far (or no "
        "plan is feasible without it); false: every level from the start.",
    )
    refinements: int = Field(
        4,
        ge=0,
        le=20,
        description="Most LP solves that place pilot replications (further levels, finer "
        "pieces where the plan sits) before a plan is checked.",
    )
    campaign_multiples: list[float] = Field(
        [0.0, 0.5, 2.0], description="Campaign budgets to try, as multiples of today's."
    )
    campaign_levels_when_zero: list[float] = Field(
        [1000.0, 2500.0, 5000.0],
        description="Budgets per week to try for a campaign whose budget today is 0.",
    )
    prospecting_multiples: list[float] = Field(
        [0.0, 0.5, 2.0], description="Prospecting hours to try, as multiples of today's."
    )
    prospecting_levels_when_zero: list[float] = Field(
        [2.0, 4.0, 8.0], description="Prospecting hours per rep per week to try when today's is 0."
    )
    outbound_levels: list[float] = Field(
        [0.15, 0.4, 1.0],
        description="Outbound opportunities per rep per week to try in each segment "
        "(on top of today's rate in that segment).",
    )
    load_replications: int = Field(
        4, ge=1, description="Replications whose per-lead records give the rep-hour load."
    )


class JudgementCurve(_Strict):
    """A judgmental (CALLPLAN-style) response curve for one lever.

    ``revenue`` is the expected revenue over the horizon with the lever at each level and
    everything else as today. Levels are ``levels`` (absolute) or ``multiples`` of today's value;
    the default is CALLPLAN's 0, 50%, 100%, 150% of today and saturation at ``saturation`` times
    today.
    """

    levels: list[float] | None = Field(None, description="Lever values of the points.")
    multiples: list[float] | None = Field(None, description="Lever values as multiples of today.")
    saturation: float = Field(3.0, gt=1.5, description="Saturation point, as a multiple of today.")
    revenue: list[float] = Field(
        ..., description="Expected revenue over the horizon at each point."
    )
    relative: bool = Field(
        False, description="Revenue given as a multiple of today's expected revenue (1.0 = today)."
    )
    opportunities: list[float] | None = Field(
        None, description="New opportunities per rep per week at each point (optional)."
    )


DEFAULT_OUTBOUND_HOURS: float = Outbound.model_fields["hours_per_opportunity"].default
"""Rep hours to find and open one outbound opportunity when neither scenario nor settings say
(the scenario schema's default, :data:`OUTBOUND_HOURS_SOURCE`)."""

PLAUSIBLE_GAIN_SOURCE = (
    "field results of sales-effort reallocation: territory realignment 2-7% more revenue "
    "(Zoltners & Sinha 2005, Marketing Science 24(3), 1,500 projects), about 8% from sizing and "
    "redeploying a sales force (Lodish et al. 1988, Interfaces 18(1), Syntex) and from "
    "model-based call planning (Fudge & Lodish 1977, Interfaces 8(1), CALLPLAN field "
    "experiment); reported gains run from a few percent to about 25% at most"
)
"""Where the default of ``OptimiseSettings.plausible_gain`` comes from."""


class LeverCosts(_Strict):
    """What a lever's unit costs the plan, where the scenario has no say or the planner overrides.

    The other levers' costs are the scenario's: a campaign's spend buys leads at
    ``campaigns.<name>.cost_per_lead``; a prospecting hour finds ``1 / leads.prospecting.
    hours_per_lead`` leads; every lead costs ``reps.qualify_hours`` to qualify and every open
    opportunity ``reps.pursue_hours_per_week``.
    """

    outbound_hours_per_opportunity: float | None = Field(
        None,
        gt=0,
        description="Rep hours to find and open one outbound opportunity, for the plan and its "
        "checks (the plan overlay carries it). Default: the scenario's "
        "leads.outbound.hours_per_opportunity when the scenario file (or --set) states it, else "
        f"{DEFAULT_OUTBOUND_HOURS:g} h.",
        json_schema_extra={"source": OUTBOUND_HOURS_SOURCE},
    )


class Loop(_Strict):
    """The closed loop: simulate the plan, raise the LP's revenue requirement if short.

    Today's run is simulated once and shared: it is the today level of every pilot curve. A
    plan's check starts with ``first_replications`` and doubles them, continuing the same seeds,
    until its P(target) is resolved against the confidence (its 95% interval lies at or above
    it, or below it) or ``replications`` is reached.
    """

    replications: int = Field(
        400,
        ge=10,
        description="Most replications per check of a plan (the limit of the sequential check); "
        "also caps today's run.",
    )
    first_replications: int = Field(
        30,
        ge=10,
        description="Replications of a plan's first check round (at most loop.replications); "
        "doubled until P(target) is resolved against the confidence.",
    )
    today_replications: int = Field(
        60,
        ge=10,
        description="Replications of today's run (at most loop.replications, at least "
        "pilot.replications when pilot curves are measured: every pilot point is paired with "
        "today's replications).",
    )
    max_iterations: int = Field(6, ge=1, le=20, description="Most plans to try.")


class Risk(_Strict):
    """Risk-aware objectives: a sample-average approximation over simulated replications.

    Every pilot level of every lever is simulated on the same ``replications`` seeds as today's
    run (common random numbers); the MILP chooses the plan on that sample and the plan is then
    checked on ``check_replications`` other seeds (out of sample), beside the max-margin plan.
    """

    alpha: float = Field(
        0.1,
        gt=0,
        le=1,
        description="CVaR's tail: the objective cvar maximises the mean gross margin of the "
        "worst alpha share of replications (1: the mean).",
    )
    replications: int = Field(
        200,
        ge=10,
        le=2000,
        description="Replications of today and of every pilot level the MILP chooses on (the "
        "sample; a binary variable per replication with max-p-target).",
    )
    check_replications: int = Field(
        400,
        ge=10,
        description="Replications of the out-of-sample check of the chosen plan, the max-margin "
        "plan and today (seeds after the sample's).",
    )
    iterations: int = Field(
        3,
        ge=1,
        le=10,
        description="Most MILP plans: each is simulated on the sample's seeds, and the next MILP "
        "adds each replication's gap between that simulation and the separable estimate (the "
        "levers' interactions); of these and the max-margin plan, the one whose simulation on "
        "the sample is best is kept.",
    )


class OptimiseSettings(_Strict):
    """Everything the optimiser needs beyond the scenario."""

    objective: Literal["max-margin", "min-cost", "max-p-target", "cvar"] = Field(
        "max-margin",
        description="Maximise expected gross margin, minimise cost to target, maximise "
        "P(target) on the simulated sample, or maximise the CVaR of gross margin (risk.alpha).",
    )
    confidence: float = Field(0.8, gt=0, lt=1, description="P(target) the plan must reach.")
    target: float | None = Field(None, gt=0, description="Revenue target (default target.revenue).")
    solver: str = Field("highs", description="'highs' (default), 'cbc' or any PuLP solver name.")
    time_limit_s: float = Field(60.0, gt=0, description="Solver time limit in seconds.")
    mip_gap: float = Field(1e-4, ge=0, description="Relative MIP gap at which to stop.")
    curves: Literal["auto", "pilot", "judgement"] = Field(
        "auto",
        description="Where response curves come from: 'pilot' simulations, 'judgement' points, "
        "or 'auto' (judgement where given, pilot otherwise). With 'judgement', levers without "
        "a judgmental curve stay at today's value.",
    )
    budget: Budget = Budget()
    fairness_band: float | None = Field(
        0.25,
        ge=0,
        description="Each rep's quota within this share of the team average (none: no limit).",
    )
    strategic_segments: dict[str, float] = Field(
        {}, description="Least share (0-1) of the team's selling hours to spend in a segment."
    )
    quota: Quota = Quota()
    pilot: Pilot = Pilot()
    judgement: dict[str, JudgementCurve] = Field(
        {}, description="Judgmental response curves by lever key."
    )
    loop: Loop = Loop()
    risk: Risk = Risk()
    lever_costs: LeverCosts = LeverCosts()
    plausible_gain: float = Field(
        0.25,
        gt=0,
        description="Largest gain in mean revenue over today (a share: 0.25 = +25%) that field "
        "results of sales-effort reallocation support; a plan claiming more is flagged with the "
        "lever and cost assumption it rests on.",
        json_schema_extra={"source": PLAUSIBLE_GAIN_SOURCE},
    )
    seed: int = Field(0, ge=0, description="Root seed of every simulation (common random numbers).")
    workers: int | None = Field(None, ge=1, description="Worker processes (default: all CPUs).")

    @model_validator(mode="after")
    def _shares(self) -> OptimiseSettings:
        for name, share in self.strategic_segments.items():
            if not 0 <= share <= 1:
                raise ValueError(f"strategic_segments.{name}: {share:g} is not a share in [0, 1]")
        return self


def load_settings(path: str | Path | None) -> OptimiseSettings:
    """Read settings from a YAML file (its ``optimise:`` section, or the whole mapping)."""
    if path is None:
        return OptimiseSettings()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: malformed YAML: {exc}") from None
    if data is None:
        data = {}
    if isinstance(data, dict) and "optimise" in data:
        data = data["optimise"] or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: settings must be a mapping (an 'optimise:' section)")
    return _validate(data, str(path))


def _validate(data: dict[str, Any], source: str) -> OptimiseSettings:
    try:
        return OptimiseSettings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{source}: optimise.{where}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None


def with_options(settings: OptimiseSettings, **options: Any) -> OptimiseSettings:
    """Apply command-line options (those not None) over the settings, validated again."""
    data = settings.model_dump()
    for key, value in options.items():
        if value is None:
            continue
        if key == "budget":
            data["budget"]["total_per_week"]["max"] = value
        elif key == "integer_quotas":
            data["quota"]["integer"] = bool(value)
        elif key == "pilot_replications":
            data["pilot"]["replications"] = value
        elif key == "replications":
            data["loop"]["replications"] = value
        elif key == "max_iterations":
            data["loop"]["max_iterations"] = value
        elif key == "alpha":
            data["risk"]["alpha"] = value
        elif key == "sample_replications":
            data["risk"]["replications"] = value
        elif key == "check_replications":
            data["risk"]["check_replications"] = value
        elif key == "outbound_hours":
            data["lever_costs"]["outbound_hours_per_opportunity"] = value
        else:
            data[key] = value
    return _validate(data, "command line")


def check_references(settings: OptimiseSettings, scenario: Scenario) -> None:
    """Names in the settings must exist in the scenario (segments, campaigns, lever keys)."""
    problems = []
    for name in settings.strategic_segments:
        if name not in scenario.segments:
            problems.append(
                f"optimise.strategic_segments.{name}: unknown segment; "
                f"allowed: {', '.join(scenario.segments)}"
            )
    for name in settings.budget.campaigns:
        if name not in scenario.campaigns:
            problems.append(
                f"optimise.budget.campaigns.{name}: unknown campaign; "
                f"allowed: {', '.join(scenario.campaigns) or '(none defined)'}"
            )
    keys = [lever.key for lever in levers_of(scenario)]
    for key, curve in settings.judgement.items():
        if key not in keys:
            problems.append(f"optimise.judgement.{key}: unknown lever; allowed: {', '.join(keys)}")
            continue
        n = len(curve.levels or curve.multiples or [0, 0.5, 1, 1.5, curve.saturation])
        if len(curve.revenue) != n:
            problems.append(
                f"optimise.judgement.{key}.revenue: {len(curve.revenue)} values for {n} levels"
            )
        if curve.opportunities is not None and len(curve.opportunities) != n:
            problems.append(
                f"optimise.judgement.{key}.opportunities: {len(curve.opportunities)} values "
                f"for {n} levels"
            )
    if problems:
        raise SettingsError("\n".join(problems))
