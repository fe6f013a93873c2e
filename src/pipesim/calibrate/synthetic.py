r"""A synthetic CRM export from a known scenario: the ground truth for calibration tests.

:func:`generate_export` simulates one replication of a scenario and writes what a Salesforce org
would hold at the export date:

* ``Opportunity.csv``: one row per pursued lead (opportunity) created before the export date.
  ``CreatedDate`` is the day the pursuit started (``start_date + t_engaged``, to the second);
  ``CloseDate``, ``IsWon``, ``IsClosed`` and ``StageName`` come from the outcome (a no-decision is
  Closed Lost with ``Loss_Reason__c`` "No decision" (indecision) or "Status quo" (the status quo
  was preferred); a loss to a competitor has "Lost to competitor"). Opportunities still open at
  the export date are ``IsClosed`` false with the journey stage the buyer is in: these are the
  censored records. ``OwnerId`` is the rep seat, ``LeadSource`` the lead source, ``Segment__c``
  the segment. An open deal's ``CloseDate`` is the buyer's planned decision day (a forecast,
  as in a CRM).
* ``OpportunityHistory.csv``: a row for the stage at creation, one for each later stage entered
  before the close (or the export date), and the closing row (``Closed Won``/``Closed Lost``).

Stages are written with Salesforce's standard names (awareness: Prospecting, interest: Needs
Analysis, preference: Proposal/Price Quote, decision: Negotiation/Review), so the default mapping
reads the files. The same scenario, seed and export date give byte-identical files::

    python -m pipesim.calibrate.synthetic tests/fixtures/crm/truth.yaml --seed 1 --years 2 \
        --out tests/fixtures/crm/

:func:`crm_data` builds the same export in memory (what reading the files gives), which is what
the calibration's simulated histories use; :func:`export_observables` is what the fits aim at on
exports of a given length (the round trip's truth), :func:`true_observables` the long-run values
of the buyers' own clocks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.observables import observables, pool_crm
from pipesim.calibrate.usable import DataReport
from pipesim.engine.model import (
    CAUSE_STATUS_QUO,
    LOST,
    NO_DECISION,
    OPEN,
    WON,
    PipelineModel,
    simulate,
)
from pipesim.market.sources import SOURCES
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import STAGES, Scenario

STAGE_NAMES: tuple[str, ...] = (
    "Prospecting",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
"""Salesforce stage name written for each journey stage."""

SOURCE_NAMES: dict[str, str] = {
    "inbound": "Web",
    "campaign": "Campaign",
    "prospecting": "Cold Call",
    "referral": "Partner Referral",
    "open_pipeline": "Other",
    "outbound": "Outbound",
}
"""LeadSource written for each pipesim lead source."""

OPPORTUNITY_COLUMNS: tuple[str, ...] = (
    "Id",
    "Name",
    "CreatedDate",
    "CloseDate",
    "StageName",
    "Amount",
    "IsWon",
    "IsClosed",
    "OwnerId",
    "LeadSource",
    "Type",
    "Loss_Reason__c",
    "Segment__c",
)
HISTORY_COLUMNS: tuple[str, ...] = (
    "OpportunityId",
    "CreatedDate",
    "StageName",
    "Amount",
    "CloseDate",
)


def _stamp(start: dt.datetime, day: float) -> str:
    t = start + dt.timedelta(seconds=round(day * 86400.0))
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _date(start: dt.datetime, day: float) -> str:
    return (start + dt.timedelta(days=math.floor(day))).strftime("%Y-%m-%d")


def owner_id(seat: int) -> str:
    """The OwnerId written for a rep seat."""
    return f"005R{seat + 1:04d}"


def export_rows(
    scenario: Scenario, model: PipelineModel, export_day: float
) -> tuple[list[list[str]], list[list[str]]]:
    """Opportunity and history rows (without headers) of a simulated replication at a day."""
    leads = model.leads
    start = dt.datetime.combine(scenario.target.start_date, dt.time())
    seg_names = list(scenario.segments)
    chosen = np.flatnonzero(model.pursued & (model.t_engaged < export_day))
    chosen = chosen[np.argsort(model.t_engaged[chosen], kind="stable")]
    opps: list[list[str]] = []
    hist: list[list[str]] = []
    for k, i in enumerate(chosen.tolist()):
        opp_id = f"006S{k + 1:06d}"
        t0 = float(model.t_engaged[i])
        stages = leads.t_stage[i]
        status = int(model.status[i])
        closed = status in (WON, LOST, NO_DECISION) and model.t_close[i] <= export_day
        t_end = float(model.t_close[i]) if closed else export_day
        first = max(0, int(np.searchsorted(stages, t0, side="right")) - 1)
        entered = [(first, t0)] + [
            (s, float(stages[s])) for s in range(first + 1, 4) if stages[s] < t_end
        ]
        if not closed and status != OPEN and model.t_close[i] > export_day:
            status = OPEN
        amount = f"{float(leads.value[i]):.2f}"
        if closed:
            won = status == WON
            stage_name = "Closed Won" if won else "Closed Lost"
            if status == LOST:
                reason = "Lost to competitor"
            elif status == NO_DECISION:
                reason = "Status quo" if model.cause[i] == CAUSE_STATUS_QUO else "No decision"
            else:
                reason = ""
            close = _date(start, t_end)
        else:
            won = False
            stage_name = STAGE_NAMES[entered[-1][0]]
            reason = ""
            planned = float(leads.t_decide[i])
            close = _date(start, max(planned, export_day))
        opps.append(
            [
                opp_id,
                f"Opportunity {k + 1}",
                _stamp(start, t0),
                close,
                stage_name,
                amount,
                "true" if won else "false",
                "true" if closed else "false",
                owner_id(int(model.seat_of[i])),
                SOURCE_NAMES[SOURCES[int(leads.source[i])]],
                "New Business",
                reason,
                seg_names[int(leads.segment[i])],
            ]
        )
        for s, t in entered:
            hist.append([opp_id, _stamp(start, t), STAGE_NAMES[s], amount, close])
        if closed:
            hist.append([opp_id, _stamp(start, t_end), stage_name, amount, close])
    return opps, hist


def generate_export(
    scenario: Scenario, seed: int, out_dir: Path, export_date: dt.date | None = None
) -> tuple[Path, Path]:
    """Simulate ``scenario`` from ``seed`` and write ``Opportunity.csv`` and history to a folder.

    Parameters
    ----------
    scenario
        The known scenario (its ``target.horizon_weeks`` sets how long the history is).
    seed
        Replication seed.
    out_dir
        Folder to write into (created if missing).
    export_date
        Day of the export (default: the end of the horizon); deals open then are censored.

    Returns
    -------
    tuple of Path
        ``Opportunity.csv`` and ``OpportunityHistory.csv``.
    """
    horizon = scenario.horizon_days
    if export_date is None:
        export_day = horizon
    else:
        export_day = float((export_date - scenario.target.start_date).days)
        if not 0 < export_day <= horizon:
            raise ValueError(
                f"export_date {export_date} must fall inside the horizon "
                f"({scenario.target.start_date} + {horizon:g} days)"
            )
    model = simulate(scenario, seed)
    opps, hist = export_rows(scenario, model, export_day)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "Opportunity.csv", out / "OpportunityHistory.csv")
    for path, header, rows in (
        (paths[0], OPPORTUNITY_COLUMNS, opps),
        (paths[1], HISTORY_COLUMNS, hist),
    ):
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    return paths


def crm_data(scenario: Scenario, model: PipelineModel, export_day: float) -> CrmData:
    """What :func:`pipesim.calibrate.crm.read_crm` reads from the export at ``export_day``.

    The export :func:`generate_export` writes, built in memory from the model's arrays (no
    CSV, no text): opportunities with their outcome, close day, stage, amount, owner, source
    and segment, and the journey stages each entered, with the same rounding (times to the
    second, close dates to the day, amounts to the cent). Used to simulate many histories
    quickly; equal to reading the files.
    """
    leads = model.leads
    chosen = np.flatnonzero(model.pursued & (model.t_engaged < export_day))
    chosen = chosen[np.argsort(model.t_engaged[chosen], kind="stable")]
    ids = np.array([f"006S{k + 1:06d}" for k in range(len(chosen))], dtype=object)
    t0 = model.t_engaged[chosen]
    stages = leads.t_stage[chosen]
    status = model.status[chosen]
    t_close = model.t_close[chosen]
    closed = np.isin(status, (WON, LOST, NO_DECISION)) & (t_close <= export_day)
    t_end = np.where(closed, t_close, export_day)
    first = np.maximum((stages <= t0[:, None]).sum(axis=1) - 1, 0)
    idx = np.arange(4)[None, :]
    entered = (idx == first[:, None]) | ((idx > first[:, None]) & (stages < t_end[:, None]))
    times = np.where(idx == first[:, None], t0[:, None], stages)
    last = 3 - np.argmax(entered[:, ::-1], axis=1)
    outcome = np.full(len(chosen), "open", dtype=object)
    for code, name in ((WON, "won"), (LOST, "lost"), (NO_DECISION, "no_decision")):
        outcome[closed & (status == code)] = name
    start = np.datetime64(scenario.target.start_date, "ns")

    def stamp(days: np.ndarray) -> np.ndarray:
        return start + np.rint(days * 86400.0).astype(np.int64).astype("timedelta64[s]")

    close = start + np.floor(t_end).astype(np.int64).astype("timedelta64[D]")
    sources = np.array([("other" if s == "open_pipeline" else s) for s in SOURCES], dtype=object)
    seg_names = np.array(list(scenario.segments), dtype=object)
    opportunities = pd.DataFrame(
        {
            "id": ids,
            "created": stamp(t0),
            "close": np.where(closed, close, np.datetime64("NaT", "ns")),
            "outcome": outcome,
            "stage": np.array(STAGES, dtype=object)[last],
            "amount": [float(f"{v:.2f}") for v in leads.value[chosen]],
            "owner": [owner_id(int(s)) for s in model.seat_of[chosen]],
            "source": sources[leads.source[chosen].astype(int)],
            "segment": seg_names[leads.segment[chosen].astype(int)],
            "line": np.arange(2, len(chosen) + 2),
        }
    )
    opportunities["close"] = opportunities["close"].astype("datetime64[ns]")
    rows, cols = np.nonzero(entered)
    history = pd.DataFrame(
        {
            "id": ids[rows],
            "stage": np.array(STAGES, dtype=object)[cols],
            "entered": stamp(times[rows, cols]),
        }
    )
    report = DataReport(rows_read=len(chosen), rows_used=len(chosen))
    return CrmData(opportunities=opportunities, history=history, report=report)


def simulated_histories(scenario: Scenario, seeds: Sequence[int]) -> list[CrmData]:
    """One simulated export per seed, each at the end of the scenario's horizon."""
    return [crm_data(scenario, simulate(scenario, s), scenario.horizon_days) for s in seeds]


def export_observables(
    scenario: Scenario, seed: int, years: float = 2.0, histories: int = 40
) -> dict[str, float]:
    """What the calibration's estimators converge to on exports of ``years`` from a scenario.

    ``histories`` independent histories of ``years`` (replication seeds from ``seed``), each
    exported at its end, are pooled and the fits' point estimates taken on the pool
    (:func:`pipesim.calibrate.observables.observables`): the value each estimate from one such
    export aims at, whatever the estimator's own assumptions (a gamma for a mixture of dwells,
    stalls that favour large buying groups, the stages a finite window lets an opportunity
    reach).
    Deal sizes are the segments' ``deal_size``, which the lognormal fit estimates directly.
    """
    sc = with_years(scenario, years)
    data = pool_crm(simulated_histories(sc, replication_seeds(seed, histories)))
    as_of = pd.Timestamp(sc.target.start_date) + pd.Timedelta(days=sc.horizon_days)
    truth = {name: value for name, (value, _) in observables(data, as_of).items()}
    for name, seg in scenario.segments.items():
        truth[f"deal_size.{name}.mean"] = seg.deal_size.mean
        truth[f"deal_size.{name}.cv"] = seg.deal_size.cv
    return truth


def with_years(scenario: Scenario, years: float) -> Scenario:
    """The scenario with a horizon of ``years`` x 52 weeks."""
    target = scenario.target.model_copy(update={"horizon_weeks": 52.0 * years})
    return scenario.model_copy(update={"target": target})


def main(argv: list[str] | None = None) -> int:
    """Command line: write a synthetic export of a scenario."""
    parser = argparse.ArgumentParser(
        prog="python -m pipesim.calibrate.synthetic",
        description="Write a Salesforce-style export simulated from a known scenario.",
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--years", type=float, default=2.0, help="history length (52-week years)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--export-date", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    try:
        sc = with_years(load_scenario(args.scenario), args.years)
    except ScenarioError as exc:
        print(f"invalid scenario:\n{exc}", file=sys.stderr)
        return 2
    paths = generate_export(sc, args.seed, args.out, args.export_date)
    for p in paths:
        print(p)
    return 0


def true_observables(scenario: Scenario, seed: int, years: float = 12.0) -> dict[str, float]:
    """The long-run values of the buyers' own clocks behind what the fits estimate.

    Computed from one long simulation's own per-lead arrays (the buyers' drawn clocks and the
    engine's outcomes), not from an export: no CSV, no censoring by an export date, latent
    dwell times known even where a stall or the horizon would hide them. What the fits aim at
    on a finite export is :func:`export_observables`; the two differ where a CRM cannot see a
    stalled buyer's remaining stage or a short window keeps slow journeys from their later
    stages (docs/calibration.md). Episodes are the stages
    an opportunity entered after it was created (as a CRM sees them) and before the buyer
    stalled; only opportunities created in the first ``years - 1`` years count, so their
    outcomes are known by the end. Deal sizes need no simulation: a buyer's value is drawn
    independently of everything that decides whether it becomes an opportunity, so the true
    mean and cv are the segment's ``deal_size``.
    """
    sc = with_years(scenario, years)
    model = simulate(sc, seed)
    leads = model.leads
    cutoff = sc.horizon_days - 365.0
    opp = model.pursued & (model.t_engaged < cutoff)
    ts, t_exit, t_eng = leads.t_stage, leads.t_exit, model.t_engaged
    ends = np.column_stack([ts[:, 1:], leads.t_decide])
    truth: dict[str, float] = {}
    for s, stage in enumerate(("awareness", "interest", "preference", "decision")):
        if s == 0:
            continue
        entered = opp & (ts[:, s] > t_eng) & (t_exit > ts[:, s])
        start, end = ts[entered, s], ends[entered, s]
        ex = t_exit[entered]
        if stage == "decision":
            dwell = np.minimum(end, ex) - start
            status = model.status[entered]
            for code, name in ((WON, "won"), (LOST, "lost"), (NO_DECISION, "no_decision")):
                truth[f"decision.{name}"] = float((status == code).mean())
        else:
            dwell = end - start
            stalls = ex < end
            exposure = np.minimum(end, ex) - start
            truth[f"stall.{stage}.per_week"] = float(stalls.sum() / exposure.sum() * 7.0)
            truth[f"conversion.{stage}.next"] = float(1.0 - stalls.mean())
            truth[f"conversion.{stage}.no_decision"] = float(stalls.mean())
        truth[f"dwell.{stage}.mean_days"] = float(dwell.mean())
        shape, _, _ = stats.gamma.fit(dwell, floc=0)
        truth[f"dwell.{stage}.cv"] = float(1.0 / np.sqrt(shape))
        truth[f"dwell.{stage}.episodes"] = float(entered.sum())
    status = model.status[opp]
    truth["outcome.win_rate"] = float((status == WON).mean())
    truth["outcome.lost_share"] = float((status == LOST).mean())
    truth["outcome.no_decision_share"] = float((status == NO_DECISION).mean())
    for name, seg in scenario.segments.items():
        truth[f"deal_size.{name}.mean"] = seg.deal_size.mean
        truth[f"deal_size.{name}.cv"] = seg.deal_size.cv
    return truth


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
