"""``pipesim scorecard``: past forecasts against what happened.

Exit codes: 0 success, 2 bad input (an export that cannot be read or is in another currency
without a rate, several scenarios without --scenario, an unknown scenario), 1 anything else.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
import pandas as pd

from pipesim.calibrate.scorecard import ScorecardError, scorecard, summary
from pipesim.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    catalogue_option,
    money,
    out_option,
)
from pipesim.report.scorecard import verdict_text, write_scorecard_page


@click.command(name="scorecard")
@click.option("--actuals", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CRM opportunity export (Opportunity.csv): what was won, when.")  # fmt: skip
@click.option("--scenario", default=None, help="The scenario whose forecasts to score.")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Column mapping of the export (docs/calibration.md).")  # fmt: skip
@catalogue_option()
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Score periods ended by this date [the export's last close date].")  # fmt: skip
@out_option("Output folder [reports/<scenario>-scorecard/].")
def scorecard_cmd(
    actuals: Path,
    scenario: str | None,
    mapping: Path | None,
    catalogue: Path | None,
    as_of: dt.datetime | None,
    out: Path | None,
) -> None:
    """Score every recorded forecast whose period has ended against the bookings in ACTUALS.

    For each: where what happened fell in the forecast's distribution (percentile), the Brier
    score of P(target) and the CRPS; across them, how often the P10-P90 band held the outcome
    (80% if calibrated) and the verdict, with the number of periods it rests on. Writes
    scorecard.csv, scorecard.json and scorecard.html.
    """
    try:
        scored, skipped, last = scorecard(
            actuals, scenario=scenario, catalogue=catalogue, mapping=mapping,
            as_of=as_of.date() if as_of else None,
        )  # fmt: skip
    except ScorecardError as exc:
        click.echo(f"cannot score: {exc}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    card = summary(scored) | {"as_of": last.isoformat(), "skipped": skipped}
    name = scenario or (scored[0].scenario if scored else "forecasts")
    for s in scored:
        click.echo(
            f"run {s.run} ({s.short_id}) {s.period_start} – {s.period_end}: P(target) "
            f"{s.p_target:.0%}, P10/P50/P90 {money(s.p10, s.currency)} / "
            f"{money(s.p50, s.currency)} / {money(s.p90, s.currency)}; what happened "
            f"{money(s.realised, s.currency)} (percentile {s.percentile:.0%}, "
            f"{'inside' if s.in_band else 'outside'} P10-P90; Brier {s.brier:.3f}, CRPS "
            f"{money(s.crps, s.currency)})"
        )
    for line in skipped:
        click.echo(f"left out: {line}")
    click.echo(verdict_text(card))
    folder = out if out is not None else Path("reports") / f"{name}-scorecard"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(card["runs"]).to_csv(folder / "scorecard.csv", index=False)
    (folder / "scorecard.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    page = write_scorecard_page(folder, card, name)
    click.echo(f"wrote {folder / 'scorecard.csv'}, scorecard.json; page: {page}")
    raise SystemExit(EXIT_OK)
