"""``pipesim scorecard``: how good the recorded forecasts were, once their periods ended.

For every forecast in the run catalogue (a run of the scenario as it stood, or with a pipeline
snapshot; runs with ``--set`` or ``--plan`` are what-ifs and are left out) whose
period (the scenario's ``target.start_date`` plus ``target.horizon_weeks``) ended by the
actuals' date, the realised bookings are the amounts of the opportunities the CRM export shows
won with a close date in the period, in the run's currency (converted or refused as
``pipesim calibrate`` does). Each is scored against the run's replications
(:mod:`pipesim.results.scores`): where it fell in the distribution, the Brier score of
P(target) and the CRPS; across runs, the coverage of the P10-P90 band against 80% and a verdict
that says how many periods it rests on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipesim.calibrate.crm import read_crm
from pipesim.calibrate.errors import CrmError
from pipesim.results.scores import band_coverage, brier, crps, percentile_of
from pipesim.runs.catalogue import list_runs
from pipesim.runs.records import RunRecord
from pipesim.scenario.errors import did_you_mean


class ScorecardError(ValueError):
    """Input the scorecard cannot use (the CLI exits 2)."""


@dataclass(frozen=True)
class Scored:
    """One recorded forecast against what happened."""

    run: int | None
    short_id: str
    scenario: str
    finished_at: str
    period_start: str
    period_end: str
    target: float
    currency: str
    realised: float
    hit: bool
    p_target: float
    p10: float
    p50: float
    p90: float
    in_band: bool
    percentile: float
    brier: float
    crps: float
    replications: int


def _period(record: RunRecord) -> tuple[dt.date, dt.date]:
    """The forecast's period, from its resolved scenario (every default filled in)."""
    target = (yaml.safe_load(record.scenario_yaml) or {})["target"]
    start = dt.date.fromisoformat(str(target["start_date"]))
    return start, start + dt.timedelta(days=round(float(target["horizon_weeks"]) * 7.0))


def _ensemble(record: RunRecord) -> np.ndarray | None:
    path = Path(record.folder) / "replications.csv"
    if not path.is_file():
        return None
    values = pd.read_csv(path, usecols=["revenue"])["revenue"].to_numpy(float)
    return values if len(values) else None


def scorecard(
    actuals: Path,
    *,
    scenario: str | None = None,
    catalogue: Path | None = None,
    mapping: Path | None = None,
    as_of: dt.date | None = None,
) -> tuple[list[Scored], list[str], dt.date]:
    """Score every ended forecast; returns the scores, what was left out and why, the date.

    Raises :class:`ScorecardError` for a catalogue with several scenarios and no ``scenario``,
    an unknown scenario (with a suggestion), runs in different currencies, and (through
    :class:`~pipesim.calibrate.errors.CrmError`) an export that cannot be read or is in another
    currency without a rate.
    """
    # forecasts: the scenario as it stood, or with a pipeline snapshot (the usual weekly run);
    # runs with --set or --plan are what-ifs and are not scored
    runs = [r for r in list_runs(catalogue) if not r.overrides and r.plan is None]
    names = sorted({r.scenario for r in runs})
    if scenario is None:
        if len(names) > 1:
            raise ScorecardError(
                f"the catalogue holds forecasts of several scenarios ({', '.join(names)}): "
                "choose one with --scenario NAME"
            )
    elif scenario not in names:
        raise ScorecardError(
            f"no recorded forecast of scenario {scenario!r}{did_you_mean(scenario, names)}; "
            f"recorded: {', '.join(names) or 'none'}"
        )
    runs = [r for r in runs if scenario is None or r.scenario == scenario]
    if not runs:
        raise ScorecardError("the catalogue holds no forecast to score (pipesim run records one)")
    currencies = sorted({r.currency or "" for r in runs})
    if len(currencies) > 1:
        raise ScorecardError(f"the forecasts are in several currencies: {', '.join(currencies)}")
    currency = currencies[0] or None
    try:
        crm = read_crm(actuals, mapping=mapping, currency=currency)
    except CrmError as exc:
        raise ScorecardError(f"cannot read the actuals: {exc}") from None
    opps = crm.opportunities
    won = opps[opps["outcome"] == "won"]
    last = as_of or pd.Timestamp(opps["close"].max()).date()
    scored: list[Scored] = []
    skipped: list[str] = []
    for r in runs:
        start, end = _period(r)
        name = f"run {r.id} ({r.short_id})"
        if end > last:
            skipped.append(f"{name}: its period ends {end.isoformat()}, after the actuals' {last}")
            continue
        ensemble = _ensemble(r)
        if ensemble is None or r.target is None or r.p_target is None:
            skipped.append(f"{name}: its replications are not in {r.folder}")
            continue
        in_period = (won["close"] >= pd.Timestamp(start)) & (won["close"] < pd.Timestamp(end))
        realised = float(won.loc[in_period, "amount"].fillna(0.0).sum())
        p10, p50, p90 = (float(np.percentile(ensemble, q)) for q in (10, 50, 90))
        hit = realised >= r.target
        scored.append(
            Scored(
                run=r.id,
                short_id=r.short_id,
                scenario=r.scenario,
                finished_at=r.finished_at,
                period_start=start.isoformat(),
                period_end=end.isoformat(),
                target=float(r.target),
                currency=r.currency or "",
                realised=realised,
                hit=hit,
                p_target=float(r.p_target),
                p10=p10,
                p50=p50,
                p90=p90,
                in_band=p10 <= realised <= p90,
                percentile=percentile_of(ensemble, realised),
                brier=brier(float(r.p_target), hit),
                crps=crps(ensemble, realised),
                replications=len(ensemble),
            )
        )
    return scored, skipped, last


def summary(scored: list[Scored]) -> dict[str, Any]:
    """Across the scored forecasts: band coverage and its verdict, mean Brier and CRPS."""
    cover = band_coverage([s.in_band for s in scored])
    return {
        **cover,
        "mean_brier": float(np.mean([s.brier for s in scored])) if scored else None,
        "mean_crps": float(np.mean([s.crps for s in scored])) if scored else None,
        "runs": [asdict(s) for s in scored],
    }
