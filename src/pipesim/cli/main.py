"""The ``pipesim`` command line: the click group and its commands run, validate, report, compare.

The group also holds ``anchors``; the other commands live in their own modules of
:mod:`pipesim.cli` and are imported only when used (the group's lazy table). Exit codes
(:mod:`pipesim.cli.options`): 0 success, 2 bad input (scenario or arguments), 1 anything else,
130 interrupted (finished replications and a partial summary are kept).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import click
from rich.markup import escape
from rich.table import Table

from pipesim._version import __version__
from pipesim.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    catalogue_option,
    err,
    fail,
    guarded,
    money,
    out_option,
    progress_bar,
    replications_option,
    resolve_workers,
    scenario_options,
    seed_option,
    stdout,
    workers_option,
)
from pipesim.cli.snapshot import SNAPSHOT, write_snapshot
from pipesim.runs.catalogue import record_or_explain
from pipesim.runs.moved import MOVED_FILE
from pipesim.runs.records import RunSettings, default_run_folder, saved_note
from pipesim.scenario.loader import load_scenario


class _LazyGroup(click.Group):
    """A group whose heavier commands are imported only when used (fast start-up)."""

    lazy: ClassVar[dict[str, str]] = {
        "paired": "pipesim.cli.research:paired",
        "sweep": "pipesim.cli.research:sweep",
        "sensitivity": "pipesim.cli.research:sensitivity",
        "optimise": "pipesim.cli.optimise:optimise",
        "required": "pipesim.cli.optimise:required",
        "quotas": "pipesim.cli.quotas:quotas",
        "hiring": "pipesim.cli.hiring:hiring",
        "commits": "pipesim.cli.commits:commits",
        "scorecard": "pipesim.cli.scorecard:scorecard_cmd",
        "history": "pipesim.cli.history:history",
        "diff": "pipesim.cli.history:diff",
        "calibrate": "pipesim.cli.calibrate:calibrate",
        "backtest": "pipesim.cli.backtest:backtest",
        "studio": "pipesim.cli.studio:studio",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            # lazy: start-up speed (a command's module and its libraries load only when it runs)
            command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipesim")
def main() -> None:
    """Simulate, forecast and optimise a B2B sales pipeline from a YAML scenario."""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@scenario_options
def validate(scenario: Path, overrides: tuple[str, ...], debug: bool) -> None:
    """Check SCENARIO (and any --set overrides) without running it."""

    def go() -> None:
        sc = load_scenario(scenario, overrides)
        stdout.print(
            f"[green]ok[/] {scenario}: scenario '{sc.name}', {len(sc.segments)} segments, "
            f"{sc.reps.seats} reps, {len(sc.competitors)} competitors, "
            f"{len(sc.campaigns)} campaigns, target {sc.target.revenue:,.0f} "
            f"{sc.economics.currency} over {sc.target.horizon_weeks:g} weeks",
            highlight=False,
        )

    guarded(debug, go)


@main.command(name="run")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@replications_option(1000)
@seed_option()
@workers_option
@out_option(
    "Output folder [default: reports/<scenario name>/; a what-if (--set, --plan, --pipeline) "
    "reports/<scenario name>--<settings id>/]."
)
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Scenario overlay (e.g. an optimiser plan) merged over SCENARIO.",
)
@click.option(
    "--pipeline",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Open opportunities (CSV, one row per deal; or a CRM opportunity export) replacing "
    "the scenario's open_pipeline. Columns: docs/forecast.md.",
)
@click.option(
    "--pipeline-history",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With a CRM export as --pipeline: its stage history (OpportunityHistory.csv).",
)
@click.option(
    "--pipeline-mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With a CRM export as --pipeline: the column mapping file (docs/calibration.md).",
)
@click.option(
    "--parameter-uncertainty",
    is_flag=True,
    help="Each replication first draws the parameters listed in the scenario's uncertainty "
    "block (written by `pipesim calibrate`).",
)
@click.option(
    "--precision",
    type=click.FloatRange(min=0, max=0.5, min_open=True, max_open=True),
    default=None,
    help="Run until the 95% interval of P(target) is at most +/- this (e.g. 0.01): after a "
    "pilot (--replications, default 100 here) the run projects the replications the interval "
    "needs from p(1-p), closes in on them in small steps and stops at the first look where it "
    "is narrow enough (docs/scale.md).",
)
@click.option(
    "--max-replications",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Cap for --precision runs (the summary says when the precision was not reached).",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Complete the interrupted run in this folder (same scenario, --set and --seed).",
)
@click.option(
    "--executor",
    type=click.Choice(["process", "dask"]),
    default="process",
    show_default=True,
    help="Local process pool, or a Dask distributed cluster (needs --scheduler).",
)
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="Dask scheduler.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--note",
    default=None,
    metavar="TEXT",
    help='Note kept with the run in its run.json and the run catalogue, e.g. "after the Q3 '
    'review".',
)
@catalogue_option(
    "Run catalogue (SQLite) the run is recorded in [default: $PIPESIM_CATALOGUE, else "
    "reports/runs.sqlite]."
)
@scenario_options
def run_cmd(
    scenario: Path,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    plan: Path | None,
    pipeline: Path | None,
    pipeline_history: Path | None,
    pipeline_mapping: Path | None,
    parameter_uncertainty: bool,
    precision: float | None,
    max_replications: int,
    resume: Path | None,
    executor: str,
    scheduler: str | None,
    quiet: bool,
    note: str | None,
    catalogue: Path | None,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Run SCENARIO as Monte Carlo; print P(target) and write results to --out.

    A run with --set, --plan or a --pipeline other than the scenario's own is a what-if: it is
    labelled as one, written to its own folder and kept apart from the scenario's forecast in
    the run history.

    With --precision the number of replications is chosen as the run goes: a pilot, then looks
    at the projected number the interval needs, each halfway closer, so the run stops within a
    small step of what the interval needs. The stated 95% interval keeps its coverage: the width
    is judged at a share one standard error nearer 1/2 than the estimate, so a run does not stop
    early on a lucky streak (checked by simulation; docs/scale.md). Replication k has the same
    seed as in a run of fixed size.
    """
    # lazy: start-up speed (the runner pulls in the engine and pandas)
    from pipesim.runs.runner import ResumeMismatch, RunInterrupted, run

    if precision is not None and (
        click.get_current_context().get_parameter_source("replications")
        is click.core.ParameterSource.DEFAULT
    ):
        # --replications is the pilot of a precision run; without it the rule's own pilot
        replications_given: int | None = None
    else:
        replications_given = replications

    if executor == "dask" and not scheduler:
        raise click.UsageError("--executor dask needs --scheduler tcp://HOST:PORT")
    if resume is not None and out is not None and out != resume:
        raise click.UsageError("--resume DIR writes to DIR: leave out --out or make it the same")
    if resume is not None and note is None:  # the runner rewrites run.json: keep the note
        note = saved_note(resume)

    def go() -> None:
        if (pipeline_history or pipeline_mapping) and pipeline is None:
            raise click.UsageError("--pipeline-history and --pipeline-mapping need --pipeline")
        sc = load_scenario(scenario, overrides, plan=plan)
        own_pipeline, own_booked = sc.open_pipeline, sc.booked
        if pipeline is not None:
            # lazy: start-up speed (a CRM export's reader pulls in scipy.stats)
            from pipesim.cli.inputs import with_pipeline

            sc = with_pipeline(sc, pipeline, pipeline_history, pipeline_mapping)
        # a pipeline file that gives the scenario's own open pipeline changes nothing
        replaced = pipeline is not None and (
            sc.open_pipeline != own_pipeline or sc.booked != own_booked
        )
        settings = RunSettings.of(
            overrides,
            plan,
            pipeline if replaced else None,
            pipeline_history,
            pipeline_mapping,
        )
        if parameter_uncertainty and not sc.uncertainty:
            fail(
                f"{scenario}: --parameter-uncertainty needs an uncertainty block in the "
                "scenario (pipesim calibrate writes one; see docs/calibration.md)",
                EXIT_BAD_INPUT,
            )
        folder = resume or out or default_run_folder(sc.name, settings)
        if pipeline is not None:  # the snapshot of deals this run used, kept with its results
            write_snapshot(sc, Path(folder))
        else:
            (Path(folder) / SNAPSHOT).unlink(missing_ok=True)
        (Path(folder) / MOVED_FILE).unlink(missing_ok=True)  # the move of an earlier run
        n_workers = resolve_workers(workers)
        with progress_bar(quiet) as bar:
            task = bar.add_task(f"{sc.name}", total=None if precision else replications)
            try:
                res = run(
                    sc,
                    replications_given,
                    seed,
                    n_workers,
                    folder,
                    progress=lambda k: bar.advance(task, k),
                    precision=precision,
                    max_replications=max_replications,
                    executor=executor,
                    scheduler=scheduler,
                    resume=resume is not None,
                    parameter_uncertainty=parameter_uncertainty,
                    variant=settings.to_json() if settings.is_what_if else None,
                )
            except ResumeMismatch as exc:
                bar.stop()
                fail(str(exc), EXIT_BAD_INPUT)
                return
            except RunInterrupted as exc:
                bar.stop()
                done = exc.summary["replications"]
                err.print(
                    f"[yellow]interrupted[/]: kept {done} finished replications "
                    f"and a partial summary in {folder}/",
                    highlight=False,
                )
                _record_run(folder, catalogue, note)
                sys.exit(EXIT_INTERRUPTED)
        _print_summary(res.summary, folder, settings)
        _record_run(folder, catalogue, note)
        if res.summary.get("precision"):
            pr = res.summary["precision"]
            verdict = "reached" if pr["reached"] else "NOT reached (cap hit)"
            stdout.print(
                f"precision +/-{pr['target_half_width']:.3f} {verdict}: "
                f"+/-{pr['half_width']:.4f} after {res.summary['replications']} replications",
                highlight=False,
            )
        _write_report(folder, res, debug, catalogue)

    with _outliving_stdout():
        guarded(debug, go)


@contextmanager
def _outliving_stdout() -> Iterator[None]:
    """Finish the run when stdout's reader goes away (``pipesim run ... | head``).

    The results, report and catalogue entry matter more than lines nobody reads: once a write
    to stdout finds the pipe closed, stdout is pointed at the null device and the run carries
    on (rich's default is to exit at once), exiting as the run itself ends.
    """

    def closed() -> None:
        stdout.quiet = True  # rich drops what it would print from now on
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a real file: nothing to redirect
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)  # what Python flushes at exit goes nowhere, quietly
        finally:
            os.close(devnull)

    quiet = stdout.quiet
    setattr(stdout, "on_broken_pipe", closed)  # noqa: B010 - an instance override of the hook
    try:
        yield
    finally:
        delattr(stdout, "on_broken_pipe")
        stdout.quiet = quiet


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@replications_option(400, minimum=2)
@seed_option()
@workers_option
@click.option(
    "--response-replications",
    type=click.IntRange(min=0),
    default=40,
    show_default=True,
    help="Replications per response-time band for the lead response rows (0: leave them out).",
)
@scenario_options
def anchors(
    scenario: Path,
    replications: int,
    seed: int,
    workers: int | None,
    response_replications: int,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Compare SCENARIO's simulated outputs with published figures (calibration table).

    Tuned rows are the figures the defaults were chosen to reproduce (exit 1 if one is outside
    its tolerance); held-out rows are figures no default was tuned to, shown with their gap.
    """
    # lazy: start-up speed (the runner pulls in the engine and pandas)
    from pipesim.results.anchors import TUNED, anchor_table, to_markdown, with_response_rows
    from pipesim.runs.runner import run

    def go() -> None:
        sc = load_scenario(scenario, overrides)
        res = run(sc, replications, seed, resolve_workers(workers))
        df = anchor_table(res.table, sc)
        if response_replications >= 2:
            df = with_response_rows(df, sc, response_replications, seed)
        click.echo(f"Calibration anchors: {scenario}, {replications} replications, seed {seed}\n")
        click.echo(to_markdown(df))
        if not df.loc[df["kind"] == TUNED, "passes"].all():
            sys.exit(EXIT_ERROR)

    guarded(debug, go)


def _print_summary(s: dict[str, Any], folder: Path, settings: RunSettings) -> None:
    cur = s["target"]["currency"]
    p = s["p_target"]
    what_if = f" [bold yellow]({escape(settings.label())})[/]" if settings.is_what_if else ""
    stdout.print(
        f"[bold]{escape(s['scenario'])}[/]{what_if}: "
        f"P(target {money(s['target']['amount'], cur)} in "
        f"{s['target']['horizon_weeks']:g} weeks) = [bold]{p['estimate']:.1%}[/] "
        f"(95% CI {p['ci_low']:.1%}-{p['ci_high']:.1%}), {s['replications']} replications, "
        f"seed {s['seed']}",
        highlight=False,
    )
    r = s["revenue"]
    stdout.print(
        f"revenue P10 {money(r['p10'], cur)} | P50 {money(r['p50'], cur)} | "
        f"P90 {money(r['p90'], cur)} | mean {money(r['mean'], cur)}",
        highlight=False,
    )
    table = Table(title="leads per replication by final state", title_justify="left")
    table.add_column("state")
    table.add_column("mean count", justify="right")
    table.add_column("share", justify="right")
    for state, share in s["outcome_shares"].items():
        shown = "n/a" if share is None else f"{share:.1%}"  # no lead arrived: no share
        table.add_row(state, f"{s['outcomes'][state]:.1f}", shown)
    stdout.print(table)
    stdout.print(f"run time {s['runtime_s']:.1f} s; results in {folder}/", highlight=False)
    if settings.is_what_if:
        stdout.print(
            f"what-if {settings.variant} of {s['scenario']}: "
            + "; ".join(settings.items())
            + " (kept apart from the forecast in `pipesim history`)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _record_run(folder: Path, catalogue: Path | None, note: str | None) -> None:
    """Record the run in the catalogue; if that fails the run's files stand, with a warning."""
    record, problem = record_or_explain(folder, catalogue, note)
    if record is None:
        err.print(f"[yellow]warning:[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    else:
        stdout.print(
            f"recorded as run {record.id} ({record.short_id})"
            + (f", what-if {record.variant}" if record.variant else "")
            + (" [partial]" if record.partial else ""),
            highlight=False,
            markup=False,
        )


def _write_report(folder: Path, res: Any, debug: bool, catalogue: Path | None = None) -> None:
    """Write report.html for a finished run; the results stay on disk if this fails."""
    # lazy: start-up speed (the report pulls in pandas and the runner)
    from pipesim.report import from_results, write_run_report

    try:
        path = write_run_report(folder, from_results(res, catalogue))
    except Exception as exc:  # the run itself succeeded: say so, and how to retry
        if debug:
            traceback.print_exc()
        fail(
            f"results saved in {folder}/ but the report failed ({type(exc).__name__}: {exc}); "
            f"retry with `pipesim report {folder}`",
            EXIT_ERROR,
        )
        return
    stdout.print(f"report: {path}", highlight=False, soft_wrap=True)


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@catalogue_option(
    "Run catalogue for the forecast-drift section [default: $PIPESIM_CATALOGUE, else "
    "reports/runs.sqlite]."
)
@click.option(
    "--png",
    is_flag=True,
    help="Also write a run's charts as PNG images in FOLDER/charts/ (beside the SVG files; "
    "takes a second or two more).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def report(folder: Path, catalogue: Path | None, png: bool, debug: bool) -> None:
    """Rebuild report.html in FOLDER from its saved results (no re-run).

    FOLDER is a run folder (summary.json, replications.csv, ...) or a comparison folder
    written by `pipesim compare` (compare.json), whose compare.html is rebuilt.
    """
    # lazy: start-up speed (the report pulls in pandas and the runner)
    from pipesim.report import load_run, write_run_report
    from pipesim.report.compare import COMPARE_JSON, load_comparison, write_compare_report

    def go() -> None:
        if not folder.is_dir():
            fail(f"{folder} is not a folder", EXIT_BAD_INPUT)
        if (folder / COMPARE_JSON).is_file():
            path = write_compare_report(folder, load_comparison(folder))
        else:
            try:
                path = write_run_report(folder, load_run(folder, catalogue), png=png)
            except FileNotFoundError as exc:
                fail(str(exc), EXIT_BAD_INPUT)
                return
        stdout.print(f"report: {path}", highlight=False, soft_wrap=True)

    guarded(debug, go)


@main.command(name="compare")
@click.argument(
    "scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@replications_option(1000, "Monte Carlo replications per scenario.", minimum=2)
@seed_option("Root seed, shared by every scenario (common random numbers).")
@workers_option
@out_option("Output folder [default: reports/compare-<A>-vs-<B>/].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@scenario_options
def compare_cmd(
    scenarios: tuple[Path, ...],
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    quiet: bool,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Run SCENARIOS with the same seeds and write a comparison report (first = reference).

    Replication i of every scenario uses the same random numbers, so differences are
    estimated on pairs: P(target) per scenario, overlaid exceedance curves, and the paired
    difference in P(target) and mean revenue with its interval. --set applies to every scenario.
    """
    # lazy: start-up speed (the comparison pulls in the runner and matplotlib)
    from pipesim.report.compare import run_comparison

    def go() -> None:
        if len(scenarios) < 2:
            fail("compare needs at least two scenario files", EXIT_BAD_INPUT)
        loaded = [load_scenario(p, overrides) for p in scenarios]
        folder = out or Path("reports") / ("compare-" + "-vs-".join(s.name for s in loaded))
        n_workers = resolve_workers(workers)
        with progress_bar(quiet) as bar:
            tasks = [bar.add_task(sc.name, total=replications) for sc in loaded]
            comparison, path = run_comparison(
                loaded,
                replications,
                seed,
                n_workers,
                folder,
                progress=lambda k, n: bar.advance(tasks[k], n),
            )
        _print_comparison(comparison, path)

    guarded(debug, go)


def _print_comparison(comparison: Any, path: Path) -> None:
    table = Table(title="P(target) per scenario (95% interval)", title_justify="left")
    for col in ("scenario", "P(target)", "interval", "mean revenue"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in comparison.runs:
        p = r.summary["p_target"]
        table.add_row(
            r.name,
            f"{p['estimate']:.1%}",
            f"{p['ci_low']:.1%}-{p['ci_high']:.1%}",
            money(r.summary["revenue"]["mean"], r.currency),
        )
    stdout.print(table)
    for d in comparison.differences:
        if d.metric == "p_target":
            stdout.print(
                f"{d.scenario} - {d.reference}: P(target) {d.estimate * 100:+.1f} pp, paired 95% "
                f"interval {d.paired_low * 100:+.1f} to {d.paired_high * 100:+.1f} pp "
                f"(width {d.paired_width * 100:.1f} pp; unpaired would be "
                f"{d.unpaired_width * 100:.1f} pp)",
                highlight=False,
                soft_wrap=True,
            )
        else:
            cur = comparison.reference.currency
            stdout.print(
                f"{d.scenario} - {d.reference}: mean revenue {money(d.estimate, cur)}, paired "
                f"95% interval {money(d.paired_low, cur)} to {money(d.paired_high, cur)} "
                f"(width {money(d.paired_width, cur)}; unpaired {money(d.unpaired_width, cur)})",
                highlight=False,
                soft_wrap=True,
            )
    stdout.print(f"report: {path}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
