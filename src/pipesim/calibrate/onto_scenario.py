"""The fits mapped onto a scenario: each value, its uncertainty and what was kept from the base.

The dwell a CRM sees is the stage's ``mean_days`` times the segment's ``journey_scale`` times the
buying-group multiplier ``(group/reference)^elasticity``; ``mean_days`` is the fitted mean
divided by the mean of those multipliers over the episodes (group sizes taken from the base
scenario, since a CRM does not record them), and ``cv`` is backed out of the mixture:
``1 + cv_obs^2 = (1 + cv^2) E[f^2]/E[f]^2``. The stall hazard is divided likewise by the mean
hazard multiplier. Deal sizes map one to one. What the data cannot identify keeps the base
scenario's value and is listed as such (:func:`fitted_scenario`). Every value set carries an
entry of the scenario's ``uncertainty:`` block (:func:`uncertainty_block`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.episodes import FITTED_STAGES
from pipesim.calibrate.estimates import MIN_EPISODES, Applied, Calibration, Fits
from pipesim.calibrate.selection import Correction
from pipesim.scenario.edit import EditError, get_value, parse_path, set_value
from pipesim.scenario.loader import validate
from pipesim.scenario.references import resolve_path
from pipesim.scenario.schema import Scenario, Segment


def _group_moments(base: Scenario, segment: str) -> tuple[float, float, float]:
    """E[f], E[f^2] of the dwell multiplier and E[h] of the hazard multiplier for a segment.

    ``f = journey_scale * (g / reference)^dwell_elasticity`` and ``h = (g / reference)^
    hazard_elasticity`` with the buying group ``g = 1 + Poisson(buying_group_mean - 1)`` as the
    engine draws it.
    """
    seg = base.segments.get(segment, Segment())
    jr = base.journey
    lam = max(seg.buying_group_mean - 1.0, 0.0)
    k = np.arange(0, int(lam + 12 * math.sqrt(lam + 1) + 20))
    pmf = stats.poisson.pmf(k, lam)
    rel = (1.0 + k) / jr.reference_group_size
    f = seg.journey_scale * rel**jr.group_dwell_elasticity
    h = rel**jr.group_hazard_elasticity
    return float(pmf @ f), float(pmf @ f**2), float(pmf @ h)


def _base_value(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of scenario data, None where there is none."""
    try:
        return get_value(data, parse_path(path))
    except EditError:
        return None


def uncertainty_block(applied: Sequence[Applied]) -> dict[str, dict[str, Any]]:
    """The ``uncertainty:`` block: dotted path -> ``{sd}`` or ``{sd, distribution: lognormal}``."""
    block: dict[str, dict[str, Any]] = {}
    for a in applied:
        if not math.isfinite(a.sd):
            continue
        entry: dict[str, Any] = {"sd": float(a.sd)}
        if a.distribution == "lognormal":
            entry["distribution"] = "lognormal"
        block[a.path] = entry
    return block


def uncertainty_path_errors(scenario: Scenario, block: dict[str, Any]) -> list[str]:
    """Paths of an uncertainty block that do not lead to a numeric field of the scenario."""
    errors = []
    for path in block:
        try:
            node, _ = resolve_path(scenario, path)
        except KeyError:
            errors.append(f"{path}: does not resolve in the scenario")
            continue
        if isinstance(node, bool) or not isinstance(node, int | float):
            errors.append(f"{path}: is not a numeric parameter (got {type(node).__name__})")
    return errors


def fitted_scenario(
    data: CrmData,
    fits: Fits,
    base: Scenario,
    name: str,
    source: str = "calibration",
    correction: Correction | None = None,
) -> Calibration:
    """Map the fits onto ``base``: a complete, validated scenario and an account of each value.

    Without ``correction`` the stage values are the fitted ones divided by the journey-scale and
    buying-group multipliers (the mapping below); with it, the values
    :func:`~pipesim.calibrate.selection.correct_selection` found, their sds scaled to the
    corrected value and widened for the simulation's own noise.
    """
    raw = base.model_dump(mode="json")
    raw["name"] = name
    est = fits.estimates
    applied: list[Applied] = []
    kept: dict[str, str] = {}

    def apply(path: str, value: float, estimate: str, sd: float, dist: str, how: str) -> None:
        if correction is not None and path in correction.values:
            value, sd, how, before = correction.adjust(path, value, sd, dist, how)
            applied.append(
                Applied(path, value, _base_value(raw, path), estimate, sd, dist, how, before)
            )
        else:
            applied.append(Applied(path, value, _base_value(raw, path), estimate, sd, dist, how))
        set_value(raw, parse_path(path), value)

    # segments found in the data but not in the base come in with default parameters
    for seg in sorted(fits_segments(data)):
        if seg not in raw["segments"]:
            raw["segments"][seg] = Segment().model_dump(mode="json")
            kept[f"segments.{seg}"] = "not in the base scenario: added with default parameters"
    for seg in raw["segments"]:
        if seg not in fits_segments(data):
            kept[f"segments.{seg}"] = "no opportunities of this segment in the data: base kept"

    ep = fits.episodes
    for stage in (*FITTED_STAGES, "decision"):
        mean_e, cv_e = est.get(f"dwell.{stage}.mean_days"), est.get(f"dwell.{stage}.cv")
        if mean_e is None or cv_e is None:
            kept[f"journey.{stage}.mean_days"] = "not enough stage episodes: base kept"
            kept[f"journey.{stage}.cv"] = "not enough stage episodes: base kept"
            continue
        segs = ep.loc[ep["stage"] == stage, "segment"].astype(str)
        moments = {s: _group_moments(base, s) for s in segs.unique()}
        ef = float(np.mean([moments[s][0] for s in segs]))
        ef2 = float(np.mean([moments[s][1] for s in segs]))
        eh = float(np.mean([moments[s][2] for s in segs]))
        ratio = ef * ef / ef2
        mean_days = mean_e.value / ef
        cv2 = (1 + cv_e.value**2) * ratio - 1
        cv = math.sqrt(max(cv2, 0.01))
        sd_cv = cv_e.se * cv_e.value * ratio / cv
        extra = (
            " (the time to the close, including indecision exits)" if stage == "decision" else ""
        )
        apply(
            f"journey.{stage}.mean_days",
            round(mean_days, 3),
            mean_e.name,
            mean_e.se / mean_e.value,
            "lognormal",
            f"fitted mean dwell{extra} / mean multiplier {ef:.3f} (journey_scale x buying-group "
            "factor of the base scenario, averaged over the episodes)",
        )
        apply(
            f"journey.{stage}.cv",
            round(cv, 4),
            cv_e.name,
            sd_cv,
            "normal",
            f"mixture-corrected: 1 + cv^2 = (1 + {cv_e.value:.3f}^2) x E[f^2]/E[f]^2 "
            f"({1 / ratio:.3f})",
        )
        stall = est.get(f"stall.{stage}.per_week")
        if stage == "decision":
            kept["journey.decision.stall_hazard_per_week"] = (
                "not identified: a no-decision from the decision stage can be indecision or the "
                "status quo winning at the decision: base kept"
            )
        elif stall is not None:
            apply(
                f"journey.{stage}.stall_hazard_per_week",
                round(stall.value / eh, 6),
                stall.name,
                stall.se / eh,
                "normal",
                f"closes per week in the stage / mean buying-group hazard multiplier {eh:.3f}",
            )
    kept["journey.awareness"] = (
        "not identified: opportunities are created during awareness, after it began "
        "(left-truncated): base kept"
    )
    for seg in sorted(fits_segments(data)):
        m, c = est.get(f"deal_size.{seg}.mean"), est.get(f"deal_size.{seg}.cv")
        if m is None or c is None:
            kept[f"segments.{seg}.deal_size"] = f"fewer than {MIN_EPISODES} amounts: base kept"
            continue
        apply(
            f"segments.{seg}.deal_size.mean",
            round(m.value, 2),
            m.name,
            m.se / m.value,
            "lognormal",
            "lognormal fit of the segment's opportunity amounts",
        )
        apply(
            f"segments.{seg}.deal_size.cv",
            round(c.value, 4),
            c.name,
            c.se,
            "normal",
            "lognormal fit of the segment's opportunity amounts",
        )
    # the team: the owners who opened opportunities in the last quarter of the data
    opp = data.opportunities
    recent = opp[opp["created"] > fits.as_of - pd.Timedelta(days=91)]
    owners = sorted(set(recent["owner"]) - {"unknown"})
    if owners:
        raw["reps"]["members"] = [{"name": o} for o in owners]
        kept["reps.members"] = (
            f"names set to the {len(owners)} owners with opportunities created in the last 91 "
            "days; skill is not mapped (win rates per owner are in the report), so each is "
            "drawn from reps.skill_mean / skill_sd"
        )
    for path, why in (
        (
            "segments.*.buyers_per_week, inbound_share, campaigns, leads",
            "lead flows: an "
            "opportunity export holds no disqualified or uncaptured leads, so the flow of buyers "
            "and leads behind the opportunities is not identified (opportunity rates per source, "
            "segment and month are in the report): base kept",
        ),
        (
            "segments.*.journey_scale",
            "not separated from the stage means (one pooled fit per "
            "stage): base kept and used to convert the fitted dwell",
        ),
        (
            "choice, qualification, engagement, flanking",
            "model mechanisms behind the win rate "
            "and no-decision share (fitted and reported), not separately identified: base kept",
        ),
    ):
        kept[path] = why
    block = uncertainty_block(applied)
    if "uncertainty" in Scenario.model_fields:
        raw["uncertainty"] = block
    scenario = validate(raw, source)
    problems = uncertainty_path_errors(scenario, block)
    if problems:
        raise ValueError("uncertainty block does not fit the scenario: " + "; ".join(problems))
    return Calibration(scenario, applied, kept, fits, block)


def fits_segments(data: CrmData) -> set[str]:
    """Segments that have opportunities in the data."""
    return {str(s) for s in data.opportunities["segment"].unique()}
