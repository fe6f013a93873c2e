"""``pipesim calibrate``: fit a scenario to a CRM export and write it with a calibration report.

Writes ``--out`` (a complete scenario, validated before it is written), and beside it
``<stem>.calibration.json`` (every fitted value with its interval, goodness of fit, records used
and censored; the data report; what was kept from the base and why) and ``<stem>.calibration.md``
(the same as tables). Bad input exits 2 naming the file, the column or key and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import pandas as pd
import yaml

from pipesim._version import __version__
from pipesim.calibrate.crm import CrmData, CrmError, check_usable, read_crm
from pipesim.calibrate.fit import Calibration, calibrated_scenario, default_base, fit_all
from pipesim.calibrate.usable import MIN_USABLE_ROWS, MIN_USABLE_SHARE, UsableFloor
from pipesim.cli.options import EXIT_BAD_INPUT, err, guarded, stdout
from pipesim.scenario.loader import load_scenario


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def refuse_export(verb: str, exc: CrmError) -> NoReturn:
    """Print why an export cannot be used (file, line, column, what is allowed) and exit 2."""
    err.print(f"[bold red]cannot {verb}:[/]", highlight=False)
    err.print(str(exc), markup=False, highlight=False, emoji=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)


def _parse_floor(ctx: click.Context, param: click.Parameter, value: str) -> UsableFloor:
    try:
        return UsableFloor.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


min_usable_option = click.option(
    "--min-usable",
    "floor",
    default=f"{MIN_USABLE_SHARE:.0%},{MIN_USABLE_ROWS}",
    show_default=True,
    metavar="SHARE,ROWS",
    callback=_parse_floor,
    help="Refuse an export of which fewer opportunity rows are usable than this share of the "
    "rows read or this number (e.g. 50%,100; 0,0 turns it off): below it the skipped rows "
    "are counted per reason and the command exits 2.",
)
"""``--min-usable``: the floor :func:`pipesim.calibrate.crm.check_usable` applies."""


def data_lead(data: CrmData) -> str:
    """The report's first sentence: how much of the export was used and what was skipped."""
    r = data.report
    skips = r.opportunity_skips()
    text = (
        f"Used {r.rows_used} of {r.rows_read} opportunity rows ({r.share_used:.1%})"
        + (f", above the floor of {r.floor}" if r.floor is not None else "")
        + "."
    )
    if skips:
        groups = "; ".join(
            f"{n} x {why}" for why, n in sorted(skips.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        text += f" Skipped {sum(skips.values())}: {groups}."
    else:
        text += " No opportunity row was skipped."
    if r.currency:
        text += f" Amounts: {r.currency}."
    return text


def report_paths(out: Path) -> tuple[Path, Path, Path]:
    """``<stem>.calibration.json``, ``<stem>.calibration.md`` and ``<stem>.uncertainty.yaml``."""
    stem = out.with_suffix("")
    return (
        stem.with_name(stem.name + ".calibration.json"),
        stem.with_name(stem.name + ".calibration.md"),
        stem.with_name(stem.name + ".uncertainty.yaml"),
    )


def report_dict(cal: Calibration, data: CrmData, inputs: dict[str, Any]) -> dict[str, Any]:
    """The content of ``<stem>.calibration.json``."""
    fits = cal.fits
    return {
        "data_used": data_lead(data),
        "data": data.report.to_dict(),
        "pipesim_version": __version__,
        "inputs": inputs,
        "as_of": fits.as_of.date().isoformat(),
        "estimates": [e.to_dict() for e in fits.estimates.values()],
        "scenario_values": [a.to_dict() for a in cal.applied],
        "kept_from_base": cal.kept,
        "not_identified": fits.not_identified,
        "reps": fits.reps,
        "team": fits.team,
        "uncertainty": cal.uncertainty,
        "simulation": cal.simulation,
    }


def _simulation_markdown(cal: Calibration) -> list[str]:
    """The selection correction and the simulated spread as tables."""
    sim = cal.simulation
    if sim is None:
        return [
            "",
            "## Selection correction",
            "",
            "Not run (`--no-correct`): the stage values are the uncorrected mapping and the "
            "intervals the data's own.",
        ]
    lines = ["", "## Selection correction", "", f"Status: {sim['status']}."]
    corr = sim.get("correction")
    if corr is None:
        return lines
    lines += [
        "",
        f"{corr['histories']} histories of the data's window ({corr['window_start']}, "
        f"{corr['window_days']:.0f} days) simulated from the scenario with seed {corr['seed']}; "
        f"the same fits on them; each stage value scaled until the simulated fit is within "
        f"{corr['tolerance_se']:g} standard errors of the data's "
        f"({len(corr['iterations'])} steps).",
        "",
        "| parameter | uncorrected | corrected | fitted value | data | simulated | gap (se) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in corr["values"]:
        lines.append(
            f"| {r['path']} | {_fmt(r['uncorrected'])} | {_fmt(r['corrected'])} | {r['fitted']} "
            f"| {_fmt(r['data'])} | {_fmt(r['simulated'])} | {_fmt(r['gap_se'])} |"
        )
    lines += [
        "",
        "| step | largest gap (se) |",
        "|---:|---:|",
        *(f"| {it['iteration']} | {it['max_gap_se']:.2f} |" for it in corr["iterations"]),
    ]
    spread = sim["spread"]
    lines += [
        "",
        "## Spread across simulated histories",
        "",
        f"Each fit on {spread['histories']} independent simulated histories of the data's window "
        "(the corrected scenario): its standard deviation, scaled to the data's records, against "
        "the data's own standard error (relative for dwell, stall and deal size; absolute for "
        "shares). Where the spread is larger the interval is widened by the ratio.",
        "",
        "| value | data | simulated mean | data se | simulated sd | widened |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in spread["values"].items():
        lines.append(
            f"| {name} | {_fmt(r['data'])} | {_fmt(r['simulated_mean'])} | {_fmt(r['data_se'])} "
            f"| {_fmt(r['simulated_sd'])} | x{r['widened']:.2f} |"
        )
    return lines


def report_markdown(cal: Calibration, data: CrmData, inputs: dict[str, Any]) -> str:
    """The readable calibration report."""
    fits = cal.fits
    lines = [
        f"# Calibration: {cal.scenario.name}",
        "",
        f"From `{inputs['opportunities']}`"
        + (f" and `{inputs['history']}`" if inputs.get("history") else "")
        + f", export date {fits.as_of.date()}, base `{inputs['base']}`.",
        "",
        "## Data",
        "",
        data_lead(data),
        "",
        "```",
        data.report.to_text(),
        "```",
        "",
        "## Fitted values (95% intervals)",
        "",
        "| value | estimate | 95% interval | se | n | censored | widened | goodness of fit "
        "| method |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for e in fits.estimates.values():
        gof = ", ".join(f"{k} {_fmt(v)}" for k, v in e.gof.items())
        lines.append(
            f"| {e.name} | {_fmt(e.value)} | {_fmt(e.low)} - {_fmt(e.high)} | {_fmt(e.se)} | "
            f"{e.n} | {e.n_censored} | x{e.widened:.2f} | {gof} | {e.method} |"
        )
    lines += [
        "",
        "## Scenario values set from the data",
        "",
        "| parameter | value | uncorrected | 95% interval | base value | from | uncertainty (sd) "
        "| how |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for a in cal.applied:
        sd = f"{a.sd:.4g}" + (" (of the log)" if a.distribution == "lognormal" else "")
        lines.append(
            f"| {a.path} | {_fmt(a.value)} | {_fmt(a.uncorrected)} | {_fmt(a.low)} - "
            f"{_fmt(a.high)} | {_fmt(a.base_value)} | {a.estimate} | {sd} | {a.how} |"
        )
    lines += _simulation_markdown(cal)
    lines += ["", "## Kept from the base scenario", ""]
    lines += [f"- `{path}`: {why}" for path, why in cal.kept.items()]
    lines += [f"- `{path}`: {why}" for path, why in fits.not_identified.items()]
    if fits.reps:
        lines += [
            "",
            "## Reps (shrunk toward the team)",
            "",
            "| owner | closed | won | raw win rate | win rate (95%) | won deals "
            "| cycle days (95%) |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for r in fits.reps:
            cycle = (
                f"{r['cycle_days']:.0f} ({r['cycle_days_low']:.0f}-{r['cycle_days_high']:.0f})"
                if "cycle_days" in r
                else "n/a"
            )
            lines.append(
                f"| {r['owner']} | {r['closed_deals']} | {r['won']} | {r['raw_win_rate']:.1%} | "
                f"{r['win_rate']:.1%} ({r['win_rate_low']:.1%}-{r['win_rate_high']:.1%}) | "
                f"{r.get('won_deals', 0)} | {cycle} |"
            )
        t = fits.team
        lines += [
            "",
            f"Beta-binomial prior: mean win rate {t['win_rate_prior_mean']:.1%}, strength "
            f"{t['win_rate_prior_strength']:.1f} deals; cycle time: team {t['cycle_days_team']:.0f}"
            f" days, between-rep sd of the log {t['cycle_log_sd_between_reps']:.3f}, within-rep "
            f"{t['cycle_log_sd_within_rep']:.3f}.",
        ]
    return "\n".join(lines) + "\n"


def _dump(scenario_data: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(scenario_data, sort_keys=False, allow_unicode=True)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


@click.command()
@click.argument("opportunities", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--history",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stage-history export (e.g. OpportunityHistory.csv): needed for dwell times, stall "
    "hazards and stage conversion.",
)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML mapping of columns, dates, stages, sources and segments [default: Salesforce].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scenario YAML to write; the calibration report is written beside it.",
)
@click.option(
    "--base",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Scenario whose values are kept where the data cannot identify them [default: the "
    "built-in defaults with the data's segments].",
)
@click.option("--name", default=None, help="Scenario name [default: the --out file's stem].")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Export date: open deals are censored here [default: the day after the latest date].",
)
@click.option(
    "--correct/--no-correct",
    default=True,
    show_default=True,
    help="Correct the stage values for which buyers become opportunities and widen each "
    "interval to the spread across simulated histories, by simulating the fitted scenario "
    "over the data's window; --no-correct keeps the uncorrected mapping and the data's own "
    "intervals.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the bootstraps and the simulated histories.",
)
@min_usable_option
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def calibrate(
    opportunities: Path,
    history: Path | None,
    mapping: Path | None,
    out: Path,
    base: Path | None,
    name: str | None,
    as_of: dt.datetime | None,
    correct: bool,
    seed: int,
    floor: UsableFloor,
    debug: bool,
) -> None:
    """Fit a scenario to a CRM export of OPPORTUNITIES (and --history); write it to --out.

    Every fitted value comes with a 95% interval in OUT's calibration report
    (<stem>.calibration.json and .md); values the data cannot identify keep --base's.
    """

    def go() -> None:
        base_sc = load_scenario(base) if base is not None else None
        currency = base_sc.economics.currency if base_sc is not None else None
        try:
            data = read_crm(opportunities, history, mapping, currency)
            check_usable(data, floor, opportunities)
        except CrmError as exc:
            refuse_export("calibrate", exc)
        fits = fit_all(data, seed, pd.Timestamp(as_of) if as_of is not None else None)
        sc_name = name or out.stem
        chosen = base_sc or default_base(data, fits, sc_name)
        cal = calibrated_scenario(data, fits, chosen, sc_name, str(out), seed, correct)
        inputs = {
            "opportunities": str(opportunities),
            "history": str(history) if history else None,
            "mapping": str(mapping) if mapping else None,
            "base": str(base) if base else "built-in defaults",
            "seed": seed,
            "correct": correct,
            "min_usable": {"share": floor.share, "rows": floor.rows},
        }
        json_path, md_path, unc_path = report_paths(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"Calibrated by `pipesim calibrate` from {opportunities}"
            + (f" and {history}" if history else "")
            + f" (export date {fits.as_of.date()}).\n"
            f"Fitted values, intervals and what was kept from the base: {json_path.name}, "
            f"{md_path.name}"
        )
        out.write_text(_dump(cal.scenario.model_dump(mode="json"), header), encoding="utf-8")
        load_scenario(out)  # what was written loads back
        if "uncertainty" not in cal.scenario.model_dump():
            unc_path.write_text(
                yaml.safe_dump({"uncertainty": cal.uncertainty}, sort_keys=False),
                encoding="utf-8",
            )
        content = report_dict(cal, data, inputs)
        json_path.write_text(json.dumps(content, indent=2, default=str) + "\n", encoding="utf-8")
        md = report_markdown(cal, data, inputs)
        md_path.write_text(md, encoding="utf-8")
        click.echo(data_lead(data))
        click.echo(data.report.to_text())
        click.echo("")
        for a in cal.applied:
            e = cal.fits.estimates[a.estimate]
            before = f"uncorrected {_fmt(a.uncorrected)}; " if a.uncorrected is not None else ""
            click.echo(
                f"{a.path} = {_fmt(a.value)} ({before}base {_fmt(a.base_value)}; {e.name} "
                f"{_fmt(e.value)}, 95% {_fmt(e.low)}-{_fmt(e.high)}, n {e.n}, "
                f"censored {e.n_censored})"
            )
        if cal.simulation is not None:
            click.echo(f"selection correction: {cal.simulation['status']}")
        click.echo(f"kept from the base: {len(cal.kept)} groups (see {md_path.name})")
        stdout.print(f"scenario: {out}\nreport: {json_path}, {md_path}", highlight=False)

    guarded(debug, go)
