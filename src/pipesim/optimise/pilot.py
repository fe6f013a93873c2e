"""Measure what the optimiser needs from simulations: rep-hour loads, and the pilot levels.

*Pilot levels.* :func:`pilot_levels` is the design of a lever's pilot points: the values its
response curve is measured at, besides today's (:mod:`pipesim.optimise.design` decides which of
them are simulated, and with how many replications).

*Loads.* A few replications are simulated with their per-lead records
(:func:`pipesim.engine.model.simulate`) to measure, per lead source and segment, the share of
captured leads that become opportunities and how many weeks an opportunity stays open within the
horizon.
With the scenario's hours per qualification and per open opportunity this gives the rep hours
each extra lead or opportunity costs: the coefficients of the optimiser's capacity constraints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipesim.engine.model import simulate
from pipesim.market.sources import SOURCES
from pipesim.optimise.levers import Lever, apply_overlay, outbound_key, overlay
from pipesim.optimise.settings import Pilot
from pipesim.policies.engagement import make_engagement
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import TERMINAL_STATES, Scenario

Echo = Callable[[str], None]
_UNCAPTURED = TERMINAL_STATES.index("uncaptured")


@dataclass(frozen=True)
class SourceLoad:
    """What one lead of a source and segment costs and brings, measured by simulation.

    Attributes
    ----------
    captured_per_week
        Leads per week (team) that reached a rep, in the measured run.
    opportunity_share
        Share of captured leads pursued as opportunities (1 for outbound and open pipeline).
    open_weeks
        Mean weeks an opportunity stays open within the horizon.
    observed
        Number of leads the figures rest on (0: a fallback value was used).
    """

    captured_per_week: float
    opportunity_share: float
    open_weeks: float
    observed: int


@dataclass(frozen=True)
class LoadProfile:
    """Rep-hour loads per lead source (``inbound``, ``campaign:<name>``, ...) and segment."""

    sources: dict[tuple[str, str], SourceLoad]
    flanking_hours_per_rep: float
    planning_hours_per_rep: float
    replications: int
    notes: tuple[str, ...] = field(default=())

    def get(self, source: str, segment: str) -> SourceLoad:
        """The load of ``source`` in ``segment``, falling back to similar sources when unseen."""
        hit = self.sources.get((source, segment))
        if hit is not None and hit.observed > 0:
            return hit
        same_kind = [
            v
            for (src, seg), v in self.sources.items()
            if seg == segment and v.observed > 0 and src.split(":")[0] == source.split(":")[0]
        ]
        in_segment = [
            v
            for (src, seg), v in self.sources.items()
            if seg == segment and v.observed > 0 and src not in ("open_pipeline", "outbound")
        ]
        anywhere = [v for v in self.sources.values() if v.observed > 0]
        for pool in (same_kind, in_segment, anywhere):
            if pool:
                w = np.array([v.observed for v in pool], dtype=float)
                share = float(np.average([v.opportunity_share for v in pool], weights=w))
                weeks = float(np.average([v.open_weeks for v in pool], weights=w))
                if source in ("outbound", "open_pipeline"):
                    share = 1.0
                return SourceLoad(0.0, share, weeks, 0)
        return SourceLoad(0.0, 1.0 if source == "outbound" else 0.5, 4.0, 0)


def _source_key(source_code: int, campaign: int, campaign_names: list[str]) -> str:
    name = SOURCES[source_code]
    if name == "campaign" and 0 <= campaign < len(campaign_names):
        return f"campaign:{campaign_names[campaign]}"
    return name


def measure_load(scenario: Scenario, replications: int, seed: int) -> LoadProfile:
    """Simulate ``replications`` replications with per-lead records and measure the loads.

    When the scenario opens no outbound opportunities, a small outbound rate (0.1 per rep per
    week in every segment) is added for the measurement so that the load of an outbound
    opportunity is measured too (the other sources' figures barely move).
    """
    notes = []
    measured = scenario
    if scenario.leads.outbound.opportunities_per_rep_week <= 0:
        probe = {outbound_key(s): 0.1 for s in scenario.segments}
        measured = apply_overlay(scenario, overlay(scenario, probe))
        notes.append("outbound load measured with 0.1 opportunities per rep per week per segment")
    horizon = measured.horizon_days
    weeks = measured.target.horizon_weeks
    seg_names = list(measured.segments)
    camp_names = list(measured.campaigns)
    counts: dict[tuple[str, str], list[float]] = {}
    flank_hours = 0.0
    for rep_seed in replication_seeds(seed, replications):
        model = simulate(measured, rep_seed)
        leads = model.leads
        closed = np.where(np.isnan(model.t_close), horizon, np.minimum(model.t_close, horizon))
        open_weeks = np.where(model.pursued, (closed - model.t_engaged) / 7.0, 0.0)
        captured = model.status != _UNCAPTURED
        src_keys = [
            _source_key(int(s), int(c), camp_names)
            for s, c in zip(leads.source, leads.campaign, strict=True)
        ]
        for i, src in enumerate(src_keys):
            acc = counts.setdefault((src, seg_names[int(leads.segment[i])]), [0.0, 0.0, 0.0])
            if captured[i]:
                acc[0] += 1
            if model.pursued[i]:
                acc[1] += 1
                acc[2] += float(open_weeks[i])
        flank_hours += float(model.flank_hours)
    sources = {}
    for key, (n_cap, n_opp, w_sum) in counts.items():
        share = n_opp / n_cap if n_cap else 0.0
        sources[key] = SourceLoad(
            captured_per_week=n_cap / replications / weeks,
            opportunity_share=share,
            open_weeks=w_sum / n_opp if n_opp else 0.0,
            observed=int(n_opp),
        )
    planning = float(make_engagement(scenario.engagement).hours_per_week)
    seats = scenario.reps.seats
    return LoadProfile(
        sources=sources,
        flanking_hours_per_rep=flank_hours / replications / seats / weeks,
        planning_hours_per_rep=planning,
        replications=replications,
        notes=tuple(notes),
    )


def pilot_levels(lever: Lever, settings: Pilot) -> list[float]:
    """The lever values a pilot tries (today's value excluded: today's run is the reference)."""
    if lever.kind == "campaign":
        raw = (
            [m * lever.today for m in settings.campaign_multiples]
            if lever.today > 0
            else list(settings.campaign_levels_when_zero)
        )
    elif lever.kind == "prospecting":
        raw = (
            [m * lever.today for m in settings.prospecting_multiples]
            if lever.today > 0
            else list(settings.prospecting_levels_when_zero)
        )
    else:
        raw = [lever.today + d for d in settings.outbound_levels]
        if lever.today > 0:
            raw.append(0.0)
    return sorted({round(v, 6) for v in raw if v >= 0 and not math.isclose(v, lever.today)})
