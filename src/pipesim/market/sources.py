"""Lead sources: inbound buyers, campaigns, rep prospecting, referrals and the open pipeline.

Each source draws its buyers as a block (:func:`pipesim.agents.buyers.draw_buyers`) from its own
named random stream, places them in calendar time (day 0 = start of the horizon) and returns a
:class:`LeadTable`. Inbound leads are buyers who reach their engagement point and contact us; the
other sources reach a buyer part-way through its journey, so those journeys are conditioned on
the buyer not having stalled before that point.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from pipesim.agents.buyers import (
    Buyers,
    beta_draw,
    complete_buyers,
    draw_buyers,
    draw_journeys,
    dwell_means,
    engagement_mean,
    gamma_draw,
    source_fraction,
)
from pipesim.market.choice import CHOICES
from pipesim.policies.engagement import make_engagement
from pipesim.policies.qualification import judge, make_policy, noticed_failures
from pipesim.scenario.rng import Streams
from pipesim.scenario.schema import QUALIFICATION_CHECKS, STAGES, BetaShare, Scenario

SOURCES: tuple[str, ...] = (
    "inbound",
    "campaign",
    "prospecting",
    "referral",
    "open_pipeline",
    "outbound",
)
SOURCE_CODE = {name: i for i, name in enumerate(SOURCES)}


@dataclass
class LeadTable:
    """Every lead of one replication, sorted by the day it reaches us (struct of arrays)."""

    t_lead: np.ndarray  # day the lead reaches us
    t_stage: np.ndarray  # (n, 4) day each journey stage starts
    t_decide: np.ndarray  # day the buyer decides (journey end)
    t_exit: np.ndarray  # day the buying group stalls into no decision (inf if never)
    fraction: np.ndarray  # journey fraction at which the lead reached us
    source: np.ndarray  # index into SOURCES
    campaign: np.ndarray  # campaign index (-1 if none)
    seat: np.ndarray  # rep seat that opened it (outbound; -1 if none)
    segment: np.ndarray  # index into the scenario's segments
    value: np.ndarray
    fit: np.ndarray
    failed_checks: np.ndarray  # (n, 3) bool
    group_size: np.ndarray
    u_us: np.ndarray
    u_status_quo: np.ndarray
    lse_competitors: np.ndarray
    fit_noise: np.ndarray  # standard normal: rep's perception error before scaling
    check_noticed: np.ndarray  # (n, 3) uniforms: does the rep notice a failed check
    u_preference: np.ndarray  # uniforms for the preference draw
    u_sticky: np.ndarray  # uniforms: does the buyer keep its preference
    u_decision: np.ndarray  # uniforms for the re-evaluation at decision
    u_sponsor: np.ndarray  # uniforms: does the buyer have a sponsor for a flank
    u_flank: np.ndarray  # uniforms: does a flank succeed
    u_deviate: np.ndarray  # uniforms: does a rep deviate from the qualification rule
    u_reach: np.ndarray  # uniforms: does the rep's first response reach the lead
    qualify_hours: np.ndarray  # rep hours this lead takes to qualify
    preset_early: np.ndarray  # open pipeline: we were engaged before the preference formed
    deal: np.ndarray  # open pipeline: index of the deal (scenario order); -1 for other leads
    preset_pref: np.ndarray  # open pipeline: known preference (choice code), -1 if unknown
    attended: np.ndarray  # False: the owner has no activity planned (rep effort does not land)

    def __len__(self) -> int:
        return len(self.t_lead)

    def take(self, idx: np.ndarray) -> LeadTable:
        """The leads at positions ``idx``, in that order."""
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[LeadTable]) -> LeadTable:
        """Join tables and sort by lead time (stable, so equal times keep source order)."""
        joined = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        order = np.argsort(joined["t_lead"], kind="stable")
        return cls(**{k: v[order] for k, v in joined.items()})


def _place(
    scenario: Scenario,
    buyers: Buyers,
    t_lead: np.ndarray,
    position: np.ndarray,
    source: str,
    segment: int,
    rng: np.random.Generator,
    campaign: int = -1,
    preset_early: bool = False,
) -> LeadTable:
    """Put buyers on the calendar: the lead reaches us ``position`` days into its journey."""
    n = len(t_lead)
    arrival = t_lead - position
    reps = scenario.reps
    table = LeadTable(
        t_lead=t_lead,
        t_stage=buyers.stage_start + arrival[:, None],
        t_decide=arrival + buyers.duration,
        t_exit=arrival + buyers.exit_time,
        fraction=position / buyers.duration,
        source=np.full(n, SOURCE_CODE[source], dtype=np.int8),
        campaign=np.full(n, campaign, dtype=np.int16),
        seat=np.full(n, -1, dtype=np.int32),
        segment=np.full(n, segment, dtype=np.int16),
        value=buyers.value,
        fit=buyers.fit,
        failed_checks=buyers.failed_checks,
        group_size=buyers.group_size,
        u_us=buyers.u_us,
        u_status_quo=buyers.u_status_quo,
        lse_competitors=buyers.lse_competitors,
        fit_noise=rng.standard_normal(n),
        check_noticed=rng.random((n, 3)),
        u_preference=rng.random(n),
        u_sticky=rng.random(n),
        u_decision=rng.random(n),
        qualify_hours=gamma_draw(rng, reps.qualify_hours, reps.qualify_hours_cv, n),
        preset_early=np.full(n, preset_early),
        deal=np.full(n, -1, dtype=np.int32),
        preset_pref=np.full(n, -1, dtype=np.int8),
        attended=np.ones(n, dtype=bool),
        u_sponsor=rng.random(n),
        u_flank=rng.random(n),
        u_deviate=rng.random(n),
        u_reach=np.empty(n),
    )
    # drawn last, so the block's other draws do not depend on it
    table.u_reach = rng.random(n)
    return table


def _reached(
    scenario: Scenario,
    streams: Streams,
    name: str,
    seg_index: int,
    seg_name: str,
    t_lead: np.ndarray,
    share: BetaShare,
    fit_shift: float,
    source: str,
    campaign: int = -1,
) -> LeadTable:
    """Leads where we reach the buyer part-way through its journey (conditioned on survival)."""
    rng = streams(name)
    n = len(t_lead)
    buyers = draw_buyers(scenario, seg_name, n, rng, fit_shift=fit_shift)
    fraction = source_fraction(rng, share, n)
    position = fraction * buyers.duration
    buyers.condition_on_survival(position)
    return _place(scenario, buyers, t_lead, position, source, seg_index, rng, campaign)


def _segment_split(scenario: Scenario, weights: dict[str, float] | None) -> dict[str, float]:
    names = list(scenario.segments)
    if weights:
        total = sum(weights.values())
        return {k: v / total for k, v in weights.items()} if total > 0 else {}
    flow = {k: scenario.segments[k].buyers_per_week for k in names}
    total = sum(flow.values())
    return (
        {k: v / total for k, v in flow.items()} if total > 0 else {k: 1 / len(names) for k in names}
    )


def build_leads(scenario: Scenario, streams: Streams) -> LeadTable:
    """Draw every lead of one replication from every source."""
    horizon = scenario.horizon_days
    seg_index = {name: i for i, name in enumerate(scenario.segments)}
    parts: list[LeadTable] = []

    # Inbound: the market's buyers who include us, contacting us at their engagement point
    # (or earlier, where the engagement policy reaches them first).
    engagement_policy = make_engagement(scenario.engagement)
    span = scenario.prehistory_days + horizon
    for name, seg in scenario.segments.items():
        rng = streams(f"inbound:{name}")
        n = int(rng.poisson(seg.buyers_per_week * seg.inbound_share * span / 7.0))
        arrival = rng.uniform(-scenario.prehistory_days, horizon, size=n)
        journeys = draw_journeys(scenario, name, n, rng)
        natural = beta_draw(
            rng,
            engagement_mean(scenario, journeys["impact"], journeys["frequency"]),
            scenario.engagement.concentration,
            n,
        )
        # drawn whatever the policy, so policies compare under common random numbers
        proactive = scenario.engagement.proactive_fraction
        early = beta_draw(rng, proactive.mean, proactive.concentration, n)
        reach = rng.random(n)
        fraction = engagement_policy.contact_fraction(natural, early, reach)
        position = fraction * journeys["duration"]
        t_lead = arrival + position
        keep = (journeys["exit_time"] > position) & (t_lead >= 0.0) & (t_lead < horizon)
        # only buyers who reach us need the rest of their attributes
        buyers = complete_buyers(scenario, name, {k: v[keep] for k, v in journeys.items()}, rng)
        parts.append(
            _place(scenario, buyers, t_lead[keep], position[keep], "inbound", seg_index[name], rng)
        )

    # Campaigns: responses per week = budget / cost per lead, split by segment reach.
    for c_index, (c_name, camp) in enumerate(scenario.campaigns.items()):
        start = camp.start_week * 7.0
        end = min(horizon, (camp.end_week * 7.0) if camp.end_week is not None else horizon)
        if end <= start:
            continue
        rate = camp.budget_per_week / camp.cost_per_lead
        for seg_name, share in _segment_split(scenario, camp.segments).items():
            rng = streams(f"campaign:{c_name}:{seg_name}")
            n = int(rng.poisson(rate * share * (end - start) / 7.0))
            t_lead = rng.uniform(start, end, size=n)
            parts.append(
                _reached(
                    scenario,
                    streams,
                    f"campaign:{c_name}:{seg_name}:buyers",
                    seg_index[seg_name],
                    seg_name,
                    t_lead,
                    camp.engagement,
                    camp.fit_shift,
                    "campaign",
                    c_index,
                )
            )

    # Rep prospecting: cold leads found with rep hours. Planned hires (members with start_week)
    # prospect from their start on streams of their own, so the team's leads are the same
    # whatever the hires (common random numbers across hiring schedules).
    pro = scenario.leads.prospecting
    found = pro.hours_per_week / pro.hours_per_lead  # leads per seat per week
    members = scenario.reps.members or []
    starts = scenario.reps.start_days()
    hires = [k for k, m in enumerate(members) if m.start_week is not None]
    pro_rate = (scenario.reps.seats - len(hires)) * found
    ref = scenario.leads.referrals
    sources: list[tuple[str, float, dict[str, float], BetaShare, float]] = [
        ("prospecting", pro_rate, _segment_split(scenario, None), pro.engagement, pro.fit_shift),
        (
            "referral",
            ref.per_week,
            _segment_split(scenario, ref.segments),
            ref.engagement,
            ref.fit_shift,
        ),
    ]
    for src, rate, split, entry_point, shift in sources:
        for seg_name, seg_share in split.items():
            rng = streams(f"{src}:{seg_name}")
            n = int(rng.poisson(rate * seg_share * horizon / 7.0))
            t_lead = rng.uniform(0.0, horizon, size=n)
            parts.append(
                _reached(
                    scenario,
                    streams,
                    f"{src}:{seg_name}:buyers",
                    seg_index[seg_name],
                    seg_name,
                    t_lead,
                    entry_point,
                    shift,
                    src,
                )
            )
            if src != "prospecting":
                continue
            for seat in hires:
                start = min(starts[seat], horizon)
                rng = streams(f"prospecting:{seat}:{seg_name}")
                n = int(rng.poisson(found * seg_share * (horizon - start) / 7.0))
                parts.append(
                    _reached(
                        scenario,
                        streams,
                        f"prospecting:{seat}:{seg_name}:buyers",
                        seg_index[seg_name],
                        seg_name,
                        rng.uniform(start, horizon, size=n),
                        entry_point,
                        shift,
                        src,
                    )
                )

    # Outbound: opportunities each rep opens itself; seat k's arrive on its own stream.
    out = scenario.leads.outbound
    if out.opportunities_per_rep_week > 0:
        split = _segment_split(scenario, out.segments)
        seats = scenario.reps.seats
        per_seat = {}
        for seg_name, seg_share in split.items():
            # reps can only open opportunities with buyers the segment has: at most the part of
            # its flow that does not already come to us inbound
            seg = scenario.segments[seg_name]
            asked = out.opportunities_per_rep_week * seg_share * seats
            market = seg.buyers_per_week * (1.0 - seg.inbound_share)
            per_seat[seg_name] = min(asked, market) / seats
        for seat in range(seats):
            for seg_name in split:
                rng = streams(f"outbound:{seat}:{seg_name}")
                n = int(rng.poisson(per_seat[seg_name] * horizon / 7.0))
                t_lead = rng.uniform(0.0, horizon, size=n)
                part = _reached(
                    scenario,
                    streams,
                    f"outbound:{seat}:{seg_name}:buyers",
                    seg_index[seg_name],
                    seg_name,
                    t_lead,
                    out.engagement,
                    out.fit_shift,
                    "outbound",
                )
                part.seat[:] = seat
                if starts[seat] > 0:  # a planned hire opens none before it starts
                    part = part.take(np.flatnonzero(part.t_lead >= starts[seat]))
                parts.append(part)

    # The open pipeline: opportunities already pursued at day 0, at a given stage.
    if scenario.open_pipeline:
        parts.append(_open_pipeline(scenario, streams, seg_index))

    return LeadTable.concat(parts)


PREFERENCE_CODE = {name: code for code, name in enumerate(CHOICES)}
"""Codes of a known preference (those of :mod:`pipesim.market.choice`)."""


def _dwell_beyond(
    scenario: Scenario,
    segment: str,
    buyers: Buyers,
    stage: int | np.ndarray,
    elapsed: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Redraw each buyer's dwell in its ``stage`` given it exceeds ``elapsed`` days (in place).

    The dwell is gamma (mean by buying group, the stage's cv), so the residual is drawn by
    inverting the survival function: dwell = S^-1(U * S(elapsed)). Far in the tail, where
    S(elapsed) underflows, the residual is taken as exponential with the gamma's scale (the
    tail's limit for shape >= 1).
    """
    # lazy: scipy.stats costs about a second to import, and only open pipelines need it
    from scipy import stats

    n = len(elapsed)
    rows = np.arange(n)
    st = np.broadcast_to(np.asarray(stage), (n,))
    cv = np.array([t.cv for t in scenario.journey.stages()])[st]
    mean = dwell_means(scenario, segment, buyers.group_size)[rows, st]
    u = 1.0 - rng.random(n)  # (0, 1]
    fixed = cv <= 0
    shape = 1.0 / np.where(fixed, 1.0, cv) ** 2
    scale = mean / shape
    tail = stats.gamma.sf(elapsed, shape, scale=scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        new = stats.gamma.isf(u * tail, shape, scale=scale)
    far = ~np.isfinite(new) | (tail < 1e-12)
    new = np.where(far, elapsed - scale * np.log(u), new)
    new = np.where(fixed, mean, new)
    buyers.dwell[rows, st] = np.maximum(new, elapsed)
    buyers.retime()


def _qualified_buyers(scenario: Scenario, segment: str, n: int, rng: np.random.Generator) -> Buyers:
    """``n`` buyers of ``segment`` that a rep of average judgement would have pursued.

    An open opportunity passed qualification, so its buyer is drawn from the segment's buyers
    that the scenario's policy pursues when a rep with the team's mean perception noise and
    check accuracy judges them (rejection sampling from one stream).
    """
    policy = make_policy(scenario.qualification)
    noise = scenario.reps.qualification_noise_mean
    accuracy = scenario.reps.check_accuracy
    kept: list[Buyers] = []
    need, batch = n, max(2 * n, 16)
    for _ in range(MAX_QUALIFY_ROUNDS):
        cand = draw_buyers(scenario, segment, batch, rng)
        fit_noise = rng.standard_normal(batch).tolist()
        noticed = noticed_failures(
            cand.failed_checks, rng.random((batch, len(QUALIFICATION_CHECKS))), accuracy
        )
        deviate = rng.random(batch).tolist()
        fit = cand.fit.tolist()
        ok = [
            policy.pursue(judge(fit[k], noise, fit_noise[k], noticed[k], deviate[k]))
            for k in range(batch)
        ]
        take = np.flatnonzero(ok)[:need]
        kept.append(cand.take(take))
        need -= len(take)
        if need == 0:
            return Buyers.concat(kept)
    raise ValueError(
        f"segment {segment}: the qualification policy pursues almost none of the segment's "
        f"buyers, so no open deal could have passed it (check qualification.threshold)"
    )


MAX_QUALIFY_ROUNDS = 200
"""Rounds of candidate draws before giving up on finding buyers the policy would pursue."""


def _open_pipeline(scenario: Scenario, streams: Streams, seg_index: dict[str, int]) -> LeadTable:
    """Every open-pipeline deal, in deal order, drawn segment by segment.

    A deal with an ``id`` draws from a stream of its own (``open_pipeline:<segment>:<id>``), so
    it meets the same market in two snapshots of the pipeline whatever else was added, won or
    lost (common random numbers deal by deal, for ``pipesim diff``). Deals without an id come
    from one stream per segment (``open_pipeline:<segment>``) in one block. Either way:
    qualified buyers (:func:`_qualified_buyers`), rescaled to a known buying group, placed at
    their stage (days in stage given: the residual dwell; else a random point of the stage), held
    to a stated close date, and conditioned on not having stalled before it.
    """
    rows: list[tuple[int, Any, str | None]] = []
    ids = scenario.deal_ids()
    for opp in scenario.open_pipeline:
        rows += [(len(rows) + k, opp, None) for k in range(opp.count)]
    rows = [(d, opp, ids[d] if opp.id is not None else None) for d, opp, _ in rows]
    parts: list[LeadTable] = []
    for seg in scenario.segments:
        block = [(d, opp) for d, opp, key in rows if opp.segment == seg and key is None]
        if block:
            rng = streams(f"open_pipeline:{seg}")
            parts.append(_open_deals(scenario, seg, block, rng, seg_index[seg]))
        for d, opp, key in rows:
            if opp.segment == seg and key is not None:
                rng = streams(f"open_pipeline:{seg}:{key}")
                parts.append(_open_deals(scenario, seg, [(d, opp)], rng, seg_index[seg]))
    joined = LeadTable.concat(parts)
    return joined.take(np.argsort(joined.deal, kind="stable"))


def _open_deals(
    scenario: Scenario,
    seg: str,
    mine: list[tuple[int, Any]],
    rng: np.random.Generator,
    segment: int,
) -> LeadTable:
    """The deals ``mine`` (deal number, entry) of segment ``seg``, drawn from ``rng``."""
    jr = scenario.journey
    n = len(mine)
    buyers = _qualified_buyers(scenario, seg, n, rng)
    group = np.array([np.nan if o.buying_group is None else o.buying_group for _, o in mine])
    known = ~np.isnan(group)
    if known.any():  # gamma dwells and exponential stall clocks rescale exactly
        ratio = np.where(known, group, buyers.group_size) / buyers.group_size
        buyers.dwell *= (ratio**jr.group_dwell_elasticity)[:, None]
        buyers.stall /= (ratio**jr.group_hazard_elasticity)[:, None]
        buyers.group_size = np.where(known, group, buyers.group_size)
        buyers.retime()
    stage = np.array([STAGES.index(o.stage) for _, o in mine])
    days = np.array([np.nan if o.days_in_stage is None else o.days_in_stage for _, o in mine])
    given = ~np.isnan(days)
    into = rng.random(n) * buyers.dwell[np.arange(n), stage]
    if given.any():
        sub = buyers.take(np.flatnonzero(given))
        _dwell_beyond(scenario, seg, sub, stage[given], days[given], rng)
        buyers.put(np.flatnonzero(given), sub)
        into[given] = days[given]
    position = buyers.stage_start[np.arange(n), stage] + into
    start = scenario.target.start_date
    due = np.array(
        [0.0 if o.close_date is None else float((o.close_date - start).days) for _, o in mine]
    )
    # a stated close date is the earliest decision: the decision stage lasts until then
    short = np.maximum(position + due - buyers.duration, 0.0)
    if (short > 0).any():
        buyers.dwell[:, -1] += short
        buyers.retime()
    buyers.condition_on_survival(position)
    value = np.array([np.nan if o.value is None else o.value for _, o in mine])
    buyers.value = np.where(np.isnan(value), buyers.value, value)
    part = _place(scenario, buyers, np.zeros(n), position, "open_pipeline", segment, rng)
    part.deal[:] = [d for d, _ in mine]
    part.preset_early[:] = [o.engaged_early for _, o in mine]
    part.preset_pref[:] = [
        -1 if o.preferred is None else PREFERENCE_CODE[o.preferred] for _, o in mine
    ]
    part.attended[:] = [o.activity_planned for _, o in mine]
    return part
