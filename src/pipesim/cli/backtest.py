"""``pipesim backtest``: run a scenario from past dates with the pipeline as it was, score it.

Registered lazily on the ``pipesim`` group. Exit codes follow ``pipesim``: 0 success, 2 bad
input (scenario, export, dates or options), 1 anything else. The exit code does not depend on the
verdict: a miscalibrated model is a finding, not a failure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from pipesim.calibrate.backtest import (
    Window,
    as_of_series,
    check_windows,
    data_span,
    parse_every,
    run_backtest,
    write_backtest,
)
from pipesim.calibrate.crm import CrmError, check_usable, read_crm
from pipesim.calibrate.usable import UsableFloor
from pipesim.cli.calibrate import data_lead, min_usable_option, refuse_export
from pipesim.cli.options import (
    guarded,
    out_option,
    progress_bar,
    replications_option,
    resolve_workers,
    scenario_options,
    seed_option,
    stdout,
    workers_option,
)
from pipesim.report.data import money_axis_label, money_unit
from pipesim.scenario.loader import load_scenario

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def build_windows(
    as_of: tuple[dt.date, ...],
    until: dt.date | None,
    every: str | None,
    start: dt.date | None,
    end: dt.date | None,
    window_weeks: float | None,
    export: dt.date,
) -> list[Window]:
    """The backtest windows the options ask for (see ``pipesim backtest --help``).

    ``--as-of`` dates and a ``--as-of-every`` series (from ``--from`` to ``--to``, by default
    the last date whose window still ends by ``export``) are joined; each window ends on
    ``--until`` or ``--window-weeks`` after its as-of date. Raises :class:`click.UsageError`
    when the options do not fit together.
    """
    if until is not None and window_weeks is not None:
        raise click.UsageError(
            "give --until (one end date) or --window-weeks (one length), not both"
        )
    if until is None and window_weeks is None:
        raise click.UsageError("give --until DATE or --window-weeks N: where each window ends")
    if every is None and (start is not None or end is not None):
        raise click.UsageError("--from and --to go with --as-of-every (e.g. --as-of-every 4w)")
    length = dt.timedelta(days=round(window_weeks * 7)) if window_weeks is not None else None

    def window_end(d: dt.date) -> dt.date:
        return until if until is not None else d + (length or dt.timedelta(0))

    dates = list(as_of)
    if every is not None:
        if start is None:
            raise click.UsageError("--as-of-every needs --from DATE (the first as-of date)")
        step = parse_every(every)
        if end is None:
            last = export - length if length is not None else (until or export) - dt.timedelta(1)
            if last < start:
                raise click.UsageError(
                    f"no as-of date from --from {start} leaves a whole window before "
                    f"{'the export date ' + str(export) if length else '--until ' + str(until)}"
                )
            end = last
        dates += as_of_series(start, end, step)
    if not dates:
        raise click.UsageError("give at least one --as-of DATE, or --as-of-every with --from")
    return [Window(d, window_end(d)) for d in sorted(set(dates))]


BACKTEST_HELP = (
    "Run SCENARIO from past dates with the pipeline open then; compare with actual bookings.\n\n"
    "For each as-of date the open pipeline is rebuilt from the CRM export (deals created by "
    "then and not yet closed, at the stage they were in), the scenario runs to the window's "
    "end, and the bookings actually won in between are placed in the simulated distribution. "
    "Prints a table and a calibration verdict (a calibrated model has about 80% of actuals "
    "inside its P10-P90 band) and writes backtest.csv, backtest.json and calibration.png.\n\n"
    "\b\n"
    "One window:        --as-of 2025-10-01 --until 2025-12-31\n"
    "Several:           --as-of 2025-04-01 --as-of 2025-07-01 --window-weeks 13\n"
    "A regular series:  --as-of-every 8w --from 2025-01-06 --window-weeks 8"
)


@click.command(help=BACKTEST_HELP, short_help="Backtest a scenario against a CRM export.")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--history",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="CRM export of opportunities (CSV): one row per deal.",
)
@click.option(
    "--stage-history",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CRM export of stage changes (CSV): gives each deal's stage on the as-of date.",
)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML mapping of the export's columns, stages and segments (see docs/calibration.md).",
)
@click.option(
    "--as-of",
    "as_of",
    type=_DATE,
    multiple=True,
    help="Start the simulation on this date with the pipeline open then (repeatable).",
)
@click.option("--until", type=_DATE, default=None, help="End of every window (a fixed date).")
@click.option(
    "--window-weeks",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Length of every window in weeks (each as-of date + N weeks).",
)
@click.option(
    "--as-of-every",
    "every",
    default=None,
    metavar="STEP",
    help="A regular series of as-of dates, e.g. 4w or 28d, from --from to --to.",
)
@click.option("--from", "start", type=_DATE, default=None, help="First date of --as-of-every.")
@click.option(
    "--to",
    "end",
    type=_DATE,
    default=None,
    help="Last possible date of --as-of-every [default: the last whose window ends by the "
    "export date].",
)
@click.option(
    "--export-date",
    type=_DATE,
    default=None,
    help="Day the export was taken [default: the latest date in it]; no window may end after it.",
)
@replications_option(300, "Monte Carlo replications per as-of date.", minimum=10)
@seed_option()
@workers_option
@out_option("Output folder [default: reports/backtest-<scenario name>/].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@min_usable_option
@scenario_options
def backtest(
    scenario: Path,
    history: Path,
    stage_history: Path | None,
    mapping: Path | None,
    as_of: tuple[dt.datetime, ...],
    until: dt.datetime | None,
    window_weeks: float | None,
    every: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    export_date: dt.datetime | None,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    quiet: bool,
    floor: UsableFloor,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Backtest SCENARIO against a CRM export; the command help is :data:`BACKTEST_HELP`."""

    def go() -> None:
        sc = load_scenario(scenario, overrides)
        try:
            data = read_crm(history, stage_history, mapping, sc.economics.currency)
            check_usable(data, floor, history)
            first, last = data_span(data)
            export = _date(export_date) or last
            windows = build_windows(
                tuple(d.date() for d in as_of),
                _date(until),
                every,
                _date(start),
                _date(end),
                window_weeks,
                export,
            )
            check_windows(windows, first, export, source=str(history))
            # what was read, used and skipped (duplicate ids among them), as calibrate says it
            stdout.print(data_lead(data), highlight=False, soft_wrap=True)
            stdout.print(data.report.to_text(), markup=False, highlight=False, soft_wrap=True)
            n_workers = resolve_workers(workers)
            with progress_bar(quiet) as bar:
                task = bar.add_task(
                    f"backtest {sc.name}: {len(windows)} windows",
                    total=len(windows) * replications,
                )
                result = run_backtest(
                    sc,
                    data,
                    windows,
                    replications,
                    seed,
                    n_workers,
                    export_date=export,
                    progress=lambda k: bar.advance(task, k),
                )
        except CrmError as exc:  # BacktestError is one too
            refuse_export("backtest", exc)
        folder = out or Path("reports") / f"backtest-{sc.name}"
        meta = {
            "history": str(history),
            "stage_history": str(stage_history) if stage_history else None,
            "mapping": str(mapping) if mapping else None,
            "export_date": export.isoformat(),
            "replications": replications,
            "seed": seed,
            "stage_source": "stage history" if data.history is not None else "approximation",
            "data_used": data_lead(data),
            "data": data.report.to_dict(),
        }
        paths = write_backtest(result, folder, meta)
        _print(result, sc.economics.currency)
        if data.history is None:
            stdout.print(
                "stages on the as-of dates are estimated from each deal's last stage and the "
                "scenario's mean stage dwells (no --stage-history)",
                highlight=False,
                soft_wrap=True,
            )
        stdout.print(result.summary["verdict"], highlight=False, soft_wrap=True)
        stdout.print(f"results in {paths['csv'].parent}/", highlight=False, soft_wrap=True)

    guarded(debug, go)


def _print(result: Any, currency: str) -> None:

    t = result.table
    top = float(max(t[["open_value", "actual", "sim_p90"]].max().max(), 1.0))
    div, _ = money_unit(top)
    unit = money_axis_label("amounts", currency, div).removeprefix("amounts (").rstrip(")")
    table = Table(
        title=f"{result.scenario.name}: deals open on the as-of date and their value, the "
        f"bookings actually won in the window and the simulated range ({unit})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    for col in ("as of", "until"):
        table.add_column(col, no_wrap=True)
    for col in ("deals", "value", "actual", "P10", "P50", "P90", "pctl", "in"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in t.itertuples(index=False):
        table.add_row(
            str(r.as_of),
            str(r.until),
            str(r.open_deals),
            *(f"{x / div:,.2f}" for x in (r.open_value, r.actual, r.sim_p10, r.sim_p50, r.sim_p90)),
            f"{r.percentile:.0%}",
            "yes" if r.inside_p10_p90 else "no",
        )
    # piped or captured output has no width of its own: give the table room for its dates
    out = stdout if stdout.is_terminal else Console(width=max(stdout.width, 100))
    out.print(table)
