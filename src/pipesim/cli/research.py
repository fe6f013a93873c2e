"""Command line of the experiments: ``paired``, ``sweep`` and ``sensitivity``.

The commands are registered lazily on the ``pipesim`` group (``pipesim sweep ...``); :func:`cli`
groups the three on their own. Exit codes follow ``pipesim``: 0 success, 2 bad input (a scenario
problem, an unknown parameter path, a bad range), 1 anything else.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from pipesim.cli.options import (
    guarded,
    out_option,
    replications_option,
    resolve_workers,
    scenario_options,
    seed_option,
    stdout,
    workers_option,
)
from pipesim.experiments.paired import (
    DEFAULT_METRICS,
    METRICS,
    compare_scenarios,
    differences_text,
    paired_chart,
)
from pipesim.experiments.sensitivity import run_sensitivity
from pipesim.experiments.sweep import BadParameter, run_sweep, save_figure, write_table
from pipesim.scenario.loader import load_scenario


def _bad_input(exc: Exception) -> click.UsageError:
    return click.UsageError(str(exc))


crn_seed_option = seed_option(
    "Root seed shared by every scenario or point (common random numbers)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Policy experiments: paired comparisons, sweeps and sensitivity analysis."""


@cli.command()
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("alternative", type=click.Path(dir_okay=False, path_type=Path))
@replications_option(400, minimum=2)
@crn_seed_option
@workers_option
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    type=click.Choice(sorted(METRICS)),
    help="Metric to compare (repeatable) [default: P(target), revenue, win rate, no-decision "
    "rate, cycle time, reps at quota, uncaptured].",
)
@out_option("Folder for differences.csv, the replication tables and paired.png.")
@scenario_options
def paired(
    reference: Path,
    alternative: Path,
    replications: int,
    seed: int,
    workers: int | None,
    metrics: tuple[str, ...],
    out: Path | None,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Run REFERENCE and ALTERNATIVE with the same seeds; print paired differences.

    Each metric's difference (alternative minus reference) comes with its paired 95% interval
    (common random numbers) and, for contrast, the interval independent runs would give.
    """

    def go() -> None:
        ref = load_scenario(reference, overrides)
        alt = load_scenario(alternative, overrides)
        comp = compare_scenarios(
            ref, alt, replications, seed, resolve_workers(workers), metrics or DEFAULT_METRICS
        )
        stdout.print(
            f"{alt.name} - {ref.name}: {replications} paired replications, seed {seed}",
            highlight=False,
        )
        click.echo(differences_text(comp.differences))
        if folder := out:
            folder.mkdir(parents=True, exist_ok=True)
            write_table(comp.differences, folder / "differences.csv")
            write_table(comp.reference_table, folder / "reference_replications.csv")
            write_table(comp.alternative_table, folder / "alternative_replications.csv")
            fig = paired_chart(comp.differences, title=f"{alt.name} − {ref.name}")
            save_figure(fig, folder / "paired.png")
            stdout.print(f"results in {folder}/", highlight=False)

    guarded(debug, go)


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="PATH=LOW:HIGH:COUNT",
    help="Parameter to sweep, e.g. qualification.threshold=0.3:0.9:7 (repeatable: a grid).",
)
@click.option(
    "--lhs",
    type=click.IntRange(min=1),
    default=None,
    help="Latin hypercube of N points over the --param ranges instead of a grid.",
)
@replications_option(200, "Replications per point.", minimum=2)
@crn_seed_option
@workers_option
@out_option("Output folder [default: reports/sweep-<scenario name>/].")
@scenario_options
def sweep(
    scenario: Path,
    params: tuple[str, ...],
    lhs: int | None,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Sweep parameters of SCENARIO on a grid (or a Latin hypercube) with common random numbers.

    Writes sweep_points.csv (one row per point), sweep_replications.csv (one per replication),
    Parquet copies when pyarrow is installed, sweep.json and charts/ (with one parameter, the
    frontier of volume, win and no-decision rates, revenue and P(target)).
    """

    def go() -> None:
        name = load_scenario(scenario, overrides).name
        folder = out or Path("reports") / f"sweep-{name}"
        try:
            res = run_sweep(
                scenario,
                params,
                overrides=overrides,
                lhs=lhs,
                replications=replications,
                seed=seed,
                workers=resolve_workers(workers),
                out=folder,
            )
        except BadParameter as exc:
            raise _bad_input(exc) from None
        cols = [r.path for r in res.params]
        _echo_table(res.points, cols)
        stdout.print(f"{len(res.points)} points x {replications} replications; results in "
                  f"{folder}/", highlight=False)  # fmt: skip

    guarded(debug, go)


def _echo_table(points: pd.DataFrame, cols: list[str]) -> None:
    show = points[
        [*cols, "p_target", "revenue_mean", "opportunities", "win_rate", "no_decision_rate"]
    ].copy()
    show["p_target"] = show["p_target"].map("{:.1%}".format)
    show["revenue_mean"] = (show["revenue_mean"] / 1e6).map("{:,.2f}M".format)
    show["opportunities"] = show["opportunities"].map("{:,.0f}".format)
    for c in ("win_rate", "no_decision_rate"):
        show[c] = show[c].map("{:.1%}".format)
    click.echo(show.to_string(index=False))


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="PATH[=LOW:HIGH]",
    help="Factor (repeatable): PATH moves ±--spread of its value, PATH=LOW:HIGH takes those "
    "values; '*' matches every key (segments.*.buyers_per_week) [default: the main parameters].",
)
@click.option(
    "--spread",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Relative half-range of bare PATH factors.",
)
@replications_option(100, "Replications per tornado setting.", minimum=2)
@click.option("--samples", type=click.IntRange(min=0), default=8, show_default=True,
              help="Sobol base sample N (power of 2; 0 skips Sobol).")  # fmt: skip
@click.option("--sobol-replications", type=click.IntRange(min=1), default=20, show_default=True,
              help="Replications per Sobol setting.")  # fmt: skip
@crn_seed_option
@workers_option
@out_option("Output folder [default: reports/sensitivity-<scenario name>/].")
@scenario_options
def sensitivity(
    scenario: Path,
    params: tuple[str, ...],
    spread: float,
    replications: int,
    samples: int,
    sobol_replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Which inputs move P(target) and revenue most: a tornado and Sobol indices (SALib).

    Writes tornado.csv, sobol.csv, sobol_points.csv (and Parquet copies), sensitivity.json and
    charts/tornado.png, charts/sobol.png.
    """

    def go() -> None:
        name = load_scenario(scenario, overrides).name
        folder = out or Path("reports") / f"sensitivity-{name}"
        try:
            res = run_sensitivity(
                scenario,
                list(params) or None,
                overrides=overrides,
                replications=replications,
                samples=samples,
                sobol_replications=sobol_replications,
                seed=seed,
                workers=resolve_workers(workers),
                out=folder,
                spread=spread,
            )
        except BadParameter as exc:
            raise _bad_input(exc) from None
        t = res.tornado
        click.echo("One at a time, low / high end (paired change against the scenario as given):")
        for lab, rows in t.groupby("label", sort=False):
            lo = rows[rows["side"] == "low"].iloc[0]
            hi = rows[rows["side"] == "high"].iloc[0]
            click.echo(
                f"  {lab:<32} {lo['range']:>14}  P(target) "
                f"{lo['delta_p_target'] * 100:+.1f} / {hi['delta_p_target'] * 100:+.1f} pp   "
                f"revenue {lo['delta_revenue'] / 1e6:+.2f}M / {hi['delta_revenue'] / 1e6:+.2f}M"
            )
        if res.sobol is not None:
            click.echo("Sobol total indices (ST) of revenue / P(target):")
            s = res.sobol.pivot(index="label", columns="output", values="ST")
            for lab, row in s.sort_values("revenue", ascending=False).iterrows():
                click.echo(f"  {lab:<32} {row['revenue']:.2f} / {row['p_target']:.2f}")
        stdout.print(f"results in {folder}/", highlight=False)

    guarded(debug, go)


__all__ = ["cli", "paired", "sensitivity", "sweep"]
