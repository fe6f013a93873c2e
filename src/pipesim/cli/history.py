"""Command line of the run history: ``pipesim history`` and ``pipesim diff``.

``history`` lists the runs recorded in the catalogue (:mod:`pipesim.runs.catalogue`), what-ifs
marked with their settings, then the what-ifs saved in ``pipesim studio`` with every comment
and decision on them (:mod:`pipesim.runs.discussion`), draws the forecast's drift over time
(``--chart``: the runs of one scenario with one set of settings per line, the scenario's
forecast unless ``--variant`` names a what-if) and rebuilds the catalogue from the run folders
(``--rebuild``).
``diff`` explains the move between two runs: the settings that changed and, re-simulated under
common random numbers, how much of the change in P(target) each accounts for
(:mod:`pipesim.experiments.diff`). Exit codes follow ``pipesim``: 0 success, 2 bad input (an
unusable catalogue, an unknown run, a folder that holds no run), 1 anything else.
"""

from __future__ import annotations

import datetime as dt
import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.measure import Measurement
from rich.table import Table

from pipesim.cli.options import (
    EXIT_BAD_INPUT,
    err,
    fail,
    guarded,
    money,
    out_option,
    replications_option,
    resolve_workers,
    stdout,
    workers_option,
)
from pipesim.cli.options import catalogue_option as shared_catalogue_option
from pipesim.runs.catalogue import RunNotFound, find_run, list_runs, rebuild, scenario_names
from pipesim.runs.database import CatalogueError, resolve_catalogue
from pipesim.runs.discussion import Entry, SavedWhatIf, discussion, list_what_ifs
from pipesim.runs.moved import write_moved
from pipesim.runs.records import RunFolderError, RunRecord

if TYPE_CHECKING:
    from pipesim.experiments.attribution import RunDiff

catalogue_option = shared_catalogue_option()


def _when(iso: str) -> str:
    """A run's finish time in local time, to the minute."""
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _shown_folder(folder: str) -> str:
    """The folder relative to the working directory when it lies beneath it."""
    try:
        return str(Path(folder).relative_to(Path.cwd()))
    except ValueError:
        return folder


def _pct(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.1%}"


def _what_if(r: RunRecord, wide: bool) -> str:
    """The what-if column: settings id and settings ("" for the scenario's forecast).

    The narrow table names the first setting and counts the others.
    """
    if r.variant is None:
        return ""
    items = r.settings.items()
    if not wide and len(items) > 1:
        items = [items[0], f"+{len(items) - 1} more"]
    return f"{r.variant}: " + ", ".join(items)


def _runs_table(runs: list[RunRecord], title: str, wide: bool) -> Table:
    """The runs as a table; ``wide`` adds the 95% interval of P(target) and all what-if settings."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    columns: list[tuple[str, str, int | None]] = [
        ("id", "right", None),
        ("short id", "left", None),
        ("finished", "left", None),
        ("scenario", "left", 8),
        ("what-if", "left", 8),
        ("P(target)", "right", None),
        *([("95% CI", "right", None)] if wide else []),
        ("P50 revenue", "right", 7),
        ("replications", "right", None),
        ("note", "left", 8),
        ("folder", "left", 8),
    ]
    for name, justify, min_width in columns:
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=min_width is None,
            min_width=min_width,
            overflow="fold",
        )
    for r in runs:
        ci = (
            []
            if not wide
            else [
                "n/a"
                if r.p_target_low is None or r.p_target_high is None
                else f"{r.p_target_low * 100:.1f}-{r.p_target_high:.1%}"
            ]
        )
        table.add_row(
            str(r.id),
            r.short_id,
            _when(r.finished_at),
            r.scenario,
            _what_if(r, wide),
            _pct(r.p_target),
            *ci,
            money(r.revenue_p50, r.currency or ""),
            f"{r.replications}" + (" (partial)" if r.partial else ""),
            r.note or "",
            _shown_folder(r.folder),
        )
    return table


@click.command()
@click.option("--scenario", default=None, metavar="NAME", help="Only runs of this scenario.")
@click.option(
    "--variant",
    default=None,
    metavar="ID",
    help="Only runs of this what-if (its settings id, shown in the what-if column); with "
    "--chart, chart it instead of the forecast.",
)
@catalogue_option
@click.option(
    "--chart",
    is_flag=True,
    help="Draw P(target) and revenue P10/P50/P90 of each run over time (the forecast's drift; "
    "what-ifs are left out unless --variant names one).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG file for --chart [default: drift.png, or drift-<scenario>.png, "
    "drift-<scenario>--<ID>.png with --variant, beside the catalogue].",
)
@click.option(
    "--rebuild",
    "do_rebuild",
    is_flag=True,
    help="Rebuild the catalogue from the run folders under --root (their files are the truth).",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder searched for runs by --rebuild.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def history(
    scenario: str | None,
    variant: str | None,
    catalogue: Path | None,
    chart: bool,
    out: Path | None,
    do_rebuild: bool,
    root: Path,
    debug: bool,
) -> None:
    """List recorded runs; --chart draws the forecast's drift, --rebuild restores the catalogue.

    Every `pipesim run` is recorded in the catalogue with its scenario, seed, P(target), revenue
    percentiles, note and folder; a what-if (a run with --set, --plan or another --pipeline)
    also with its settings id and settings. Use the id or short id with `pipesim diff`.
    """
    if out is not None and not chart:
        raise click.UsageError("--out names the chart file: use it with --chart")
    path = resolve_catalogue(catalogue)
    variant = variant.strip().lower() if variant else None

    def go() -> None:
        try:
            if do_rebuild:
                _rebuild(root, path)
            if chart:
                _chart(path, scenario, variant, out)
            else:
                _list(path, scenario, variant)
        except CatalogueError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except RunFolderError as exc:
            fail(str(exc), EXIT_BAD_INPUT)

    guarded(debug, go)


def _rebuild(root: Path, path: Path) -> None:
    if not root.is_dir():
        fail(f"--root {root} is not a folder (where are the run folders?)", EXIT_BAD_INPUT)
    result = rebuild(root, path)
    if result.moved_aside is not None:
        err.print(
            f"[yellow]moved the unusable file aside[/]: {result.moved_aside}",
            highlight=False,
            soft_wrap=True,
        )
    stdout.print(
        f"rebuilt {path} from {root}/: {len(result.records)} runs",
        highlight=False,
        soft_wrap=True,
    )
    for folder, reason in result.skipped:
        err.print(f"[yellow]skipped[/] {folder}: {reason}", highlight=False, soft_wrap=True)


def _list(path: Path, scenario: str | None, variant: str | None) -> None:
    runs = list_runs(path, scenario)
    if variant is not None:
        runs = [r for r in runs if r.variant == variant]
        if not runs:
            fail(_no_variant(path, scenario, variant), EXIT_BAD_INPUT)
    if not runs:
        if scenario is not None and (known := scenario_names(path)):
            stdout.print(
                f"no runs of scenario '{scenario}' in {path}; recorded scenarios: "
                + ", ".join(known),
                highlight=False,
                soft_wrap=True,
            )
        else:
            stdout.print(
                f"no runs recorded in {path} (each `pipesim run` adds one; "
                "`pipesim history --rebuild --root DIR` finds earlier ones)",
                highlight=False,
                soft_wrap=True,
            )
        _print_discussion(path, scenario)
        return
    title = (
        f"runs in {path}"
        + (f", scenario {scenario}" if scenario else "")
        + (f", what-if {variant}" if variant else "")
    )
    _print_table(lambda wide: _runs_table(runs, title, wide))
    _print_discussion(path, scenario)


def _print_discussion(path: Path, scenario: str | None) -> None:
    """The studio's saved what-ifs (of ``scenario``'s runs) and their comments and decisions."""
    saved = list_what_ifs(path)
    if scenario is not None:
        saved = [w for w in saved if w.name == scenario or Path(w.reference).stem == scenario]
    if not saved:
        return
    names = {w.name for w in saved}
    entries = [e for e in discussion(path) if e.what_if in names]
    _print_table(lambda wide: _discussion_table(saved, entries, wide))


def _discussion_table(saved: list[SavedWhatIf], entries: list[Entry], wide: bool) -> Table:
    """Each saved what-if, then its comments and decisions in the order they were written."""
    table = Table(
        title="what-ifs saved in the studio: comments and decisions",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name, min_width in (("when", None), ("what-if", 8), ("who", 6), ("what", 20)):
        table.add_column(name, no_wrap=min_width is None, min_width=min_width, overflow="fold")
    for w in saved:
        changes = ", ".join(f"{k}={v}" for k, v in w.changes.items() if k != "reps.members")
        if "reps.members" in w.changes:
            changes = ", ".join(
                x for x in (changes, f"reps.members ({len(w.changes['reps.members'])})") if x
            )
        text = f"saved (extends {w.reference}: {changes})" + (f"; note: {w.note}" if w.note else "")
        table.add_row(_when(w.created_at), w.name, w.author, text if wide else text[:120])
        for e in (e for e in entries if e.what_if == w.name):
            what = f"decision: {e.text}" if e.kind == "decision" else f"comment: {e.text}"
            table.add_row(_when(e.created_at), e.what_if, e.author, what)
    return table


def _what_ifs(path: Path, scenario: str | None) -> list[str]:
    """The what-ifs recorded (of ``scenario``), as ``ID (scenario: settings)``, by id."""
    seen = {
        r.variant: f"{r.variant} ({r.scenario}: {', '.join(r.settings.items())})"
        for r in list_runs(path, scenario)
        if r.variant is not None
    }
    return [seen[k] for k in sorted(seen)]


def _no_variant(path: Path, scenario: str | None, variant: str) -> str:
    known = _what_ifs(path, scenario)
    what = f" of scenario '{scenario}'" if scenario else ""
    return f"no runs of what-if {variant!r}{what} in {path}; " + (
        "recorded what-ifs: " + "; ".join(known) if known else "no what-ifs recorded"
    )


def _print_table(build: Callable[[bool], Table]) -> None:
    """Print the wide table when it fits the console, else the narrow one, uncropped.

    When even the narrow table is wider than the console it is printed at its natural width
    (one line per run; a terminal wraps the lines) rather than losing columns.
    """
    width = stdout.width
    unbounded = stdout.options.update_width(10_000)
    wide = build(True)
    if Measurement.get(stdout, unbounded, wide).maximum <= width:
        stdout.print(wide)
        return
    narrow = build(False)
    natural = Measurement.get(stdout, unbounded, narrow).maximum
    if natural <= width:
        stdout.print(narrow)
        return
    stdout.width = natural
    try:
        stdout.print(narrow, crop=False)
    finally:
        stdout.width = width


def _chart(path: Path, scenario: str | None, variant: str | None, out: Path | None) -> None:
    # lazy: start-up speed (the chart pulls in matplotlib and pandas; listing runs needs neither)
    from pipesim.report.charts import figure_png
    from pipesim.report.drift import drift_figure, load_runs, same_settings

    records = same_settings(load_runs(path, scenario), variant)
    complete = records[~records["partial"]] if len(records) else records
    if complete.empty:
        if variant is not None:
            fail(_no_variant(path, scenario, variant), EXIT_BAD_INPUT)
        what = f"of scenario '{scenario}' " if scenario else ""
        known = _what_ifs(path, scenario)
        hint = (
            "; only what-ifs, which are not the forecast (chart one with --variant ID): "
            + "; ".join(known)
            if known
            else ""
        )
        fail(
            f"no complete forecast runs {what}recorded in {path}: nothing to chart{hint}",
            EXIT_BAD_INPUT,
        )
    stem = "drift" + (f"-{scenario}" if scenario else "") + (f"--{variant}" if variant else "")
    target = out or path.parent / f"{stem}.png"
    if variant is not None:
        label = str(complete["what_if"].iloc[0])
        title = f"What-if drift: {scenario or ', '.join(sorted(set(complete['scenario'])))}"
        title += f" ({label})"
    else:
        title = f"Forecast drift: {scenario}" if scenario else "Forecast drift: every scenario"
    fig = drift_figure(records, title=title)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(figure_png(fig))
    n = len(complete)
    stdout.print(
        f"drift chart of {n} run{'' if n == 1 else 's'}: {target}", highlight=False, soft_wrap=True
    )


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@replications_option(400, "Replications of every re-simulated scenario.", minimum=2)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Root seed shared by every re-simulated scenario [default: run A's seed].",
)
@workers_option
@click.option(
    "--method",
    type=click.Choice(["auto", "shapley", "sequential"]),
    default="auto",
    show_default=True,
    help="How the change is split: shapley (every subset of the changes; order-free) or "
    "sequential (one change after another); auto takes shapley for up to 4 changes.",
)
@catalogue_option
@out_option("Folder for diff.json, diff.csv and waterfall.png [default: reports/diff-<A>-<B>/].")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def diff(
    run_a: str,
    run_b: str,
    replications: int,
    seed: int | None,
    workers: int | None,
    method: str,
    catalogue: Path | None,
    out: Path | None,
    debug: bool,
) -> None:
    """Explain the move from RUN_A to RUN_B: what changed and how much each change accounts for.

    RUN_A and RUN_B are run folders, ids or short ids from `pipesim history`. The settings that
    differ are listed; then A is re-simulated with the changes applied, all with one seed
    (common random numbers), and the change in P(target) is split into parts that add up
    exactly to the total, each with a paired 95% interval. Writes diff.json, diff.csv and a
    waterfall chart.

    Two runs of one scenario whose pipeline snapshots (--pipeline) or dates differ are split
    deal by deal instead: time passed, won, lost, new, pushed out, pulled in, amount changed,
    stage moved, other deal changes and parameters, each with the deals behind it
    (docs/forecast.md). Runs of different scenarios are refused there (exit 2).
    """
    # lazy: start-up speed (re-simulating pulls in the runner, pandas and matplotlib)
    from pipesim.experiments.attribution import diff_runs
    from pipesim.experiments.deal_diff import DealDiffError, diff_snapshots
    from pipesim.experiments.waterfall import write_outputs

    def go() -> None:
        try:
            a = find_run(run_a, catalogue)
            b = find_run(run_b, catalogue)
        except (RunNotFound, RunFolderError, CatalogueError) as exc:
            fail(str(exc).strip("'\""), EXIT_BAD_INPUT)
            return
        n_workers = resolve_workers(workers)
        err.print(
            f"re-simulating {a.scenario} ({a.short_id}) -> {b.scenario} ({b.short_id}): "
            f"{replications} replications per scenario, seed {a.seed if seed is None else seed}",
            highlight=False,
            soft_wrap=True,
        )
        try:
            moved = diff_snapshots(a, b, replications, seed, n_workers)
        except DealDiffError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
            return
        result = moved or diff_runs(a, b, replications, seed, n_workers, method)
        folder = out or Path("reports") / f"diff-{a.short_id}-{b.short_id}"
        files = write_outputs(result, folder)
        _print_diff(result)
        stdout.print("wrote " + ", ".join(str(f) for f in files), highlight=False, soft_wrap=True)
        if moved is not None and Path(b.folder).is_dir():
            _keep_move(b.folder, result.to_json(), catalogue, debug)

    guarded(debug, go)


def _keep_move(folder: str, doc: dict[str, Any], catalogue: Path | None, debug: bool) -> None:
    """Keep a deal diff in run B's folder and rebuild its report to show it."""
    # lazy: start-up speed (the report pulls in pandas and the runner)
    from pipesim.report import load_run, write_run_report

    kept = write_moved(folder, doc)
    try:
        page = write_run_report(folder, load_run(folder, catalogue))
    except Exception as exc:  # the diff is written; the report can be rebuilt later
        if debug:
            traceback.print_exc()
        err.print(
            f"kept {kept}; the report of run B was not rebuilt ({type(exc).__name__}: {exc}): "
            f"retry with `pipesim report {folder}`",
            highlight=False,
            soft_wrap=True,
        )
        return
    stdout.print(
        f"kept {kept}; run B's report shows the move: {page}", highlight=False, soft_wrap=True
    )


def _points(x: float) -> str:
    """Probability points, signed, one decimal (never ``-0.0``)."""
    return f"{round(x * 100, 1) + 0.0:+.1f}"


def _pp(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{_points(x)} pp"


def _interval(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"{_points(lo)} to {_points(hi)}"


def _signed_money(x: float, currency: str | None) -> str:
    """A change of mean bookings, signed (``n/a`` when not a number)."""
    if math.isnan(x):
        return "n/a"
    return ("+" if x >= 0 else "-") + money(abs(x), currency or "")


def _print_diff(result: RunDiff) -> None:
    # lazy: start-up speed (the diff modules pull in the runner, pandas and matplotlib)
    from pipesim.experiments.diff import format_setting

    a, b, at = result.run_a, result.run_b, result.attribution
    for tag, r in (("A", a), ("B", b)):
        ci = (
            ""
            if r.p_target_low is None or r.p_target_high is None
            else f" (95% CI {r.p_target_low:.1%}-{r.p_target_high:.1%})"
        )
        stdout.print(
            f"{tag}: {r.scenario}{f' ({r.what_if})' if r.what_if else ''} "
            f"(id {r.id if r.id is not None else '-'}, {r.short_id}, "
            f"{_when(r.finished_at)}): recorded P(target) {_pct(r.p_target)}{ci}, "
            f"{r.replications} replications, seed {r.seed}"
            + (f"; note: {r.note}" if r.note else ""),
            highlight=False,
            soft_wrap=True,
        )
    deals = at.method == "deals"
    changes = Table(
        title="what changed, deal by deal (A -> B)" if deals else "settings that differ (A -> B)",
        title_justify="left",
    )
    for col in ("deal or setting", "part", "A", "B") if deals else ("setting", "kind", "A", "B"):
        changes.add_column(col, overflow="fold")
    for c in at.changes:
        for row in c.leaves():
            kind = row["kind"] + ("" if c.simulated else " (label, not simulated)")
            changes.add_row(
                row["path"], kind, format_setting(row["old"]), format_setting(row["new"])
            )
    if at.changes:
        stdout.print(changes)
    else:
        stdout.print("no setting differs between the two scenarios", highlight=False)
    parts = Table(
        title=f"parts of the change in P(target), {at.method} (paired 95% intervals, pp)",
        title_justify="left",
    )
    for col, justify in (
        ("step", "right"),
        ("change", "left"),
        ("part", "right"),
        ("interval", "right"),
        ("alone", "right"),
        ("alone interval", "right"),
        ("bookings", "right"),
    ):
        parts.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for i, p in enumerate(at.parts):
        parts.add_row(
            str(i + 1),
            p.label + (f" ({p.note})" if p.note else ""),
            _pp(p.estimate),
            _interval(p.low, p.high),
            _pp(p.alone),
            _interval(p.alone_low, p.alone_high),
            _signed_money(p.revenue, b.currency),
        )
    if at.parts:
        stdout.print(parts)
    verdict = (
        "the parts sum to the total change within its interval"
        if at.parts_within_interval
        else "the parts do NOT sum to the total change within its interval"
    )
    stdout.print(
        f"re-simulated: A {at.p_a:.1%} -> B {at.p_b:.1%}; total change {_pp(at.total)} "
        f"(paired 95% interval {_interval(at.total_low, at.total_high)} pp), mean bookings "
        f"{_signed_money(at.revenue_total, b.currency)}; "
        f"sum of parts {_pp(at.sum_of_parts)}: {verdict}",
        highlight=False,
        soft_wrap=True,
    )
    if result.recorded_change is not None:
        stdout.print(f"recorded change: {_pp(result.recorded_change)}", highlight=False)
    stdout.print(f"method: {at.method_note}", highlight=False, soft_wrap=True)
    for note in result.notes():
        stdout.print(f"note: {note}", highlight=False, soft_wrap=True)
