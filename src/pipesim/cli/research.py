"""Command line of the experiments: ``paired``, ``sweep`` and ``sensitivity``.

The commands are registered lazily on the ``pipesim`` group (``pipesim sweep ...``); :func:`cli`
groups the three on their own. Exit codes follow ``pipesim``: 0 success, 2 bad input (a scenario
problem, an unknown parameter path, a bad range), 1 anything else.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
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
        loaded = load_scenario(scenario, overrides)
        folder = out or Path("reports") / f"sweep-{loaded.name}"
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
        currency = loaded.economics.currency
        click.echo(sweep_text(res.points, [r.path for r in res.params], currency))
        stdout.print(f"{len(res.points)} points x {replications} replications; results in "
                  f"{folder}/", highlight=False)  # fmt: skip

    guarded(debug, go)


def _share(x: float, sign: bool = False) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:{'+' if sign else ''}.1f}"


def _amount(x: float, sign: bool = False, div: float | None = None) -> str:
    """``7.88M``, ``-350.00k``, ``950`` (the header names the currency); ``div`` fixes the unit."""
    if not np.isfinite(x):
        return "n/a"
    plus = "+" if sign else ""
    for unit, d in (("M", 1e6), ("k", 1e3)):
        if (div is None and abs(x) >= d) or div == d:
            return f"{x / d:{plus},.2f}{unit}"
    return f"{x:{plus},.0f}"


def sweep_text(points: pd.DataFrame, cols: list[str], currency: str = "") -> str:
    """The sweep's points as a console table, every estimate with its 95% interval.

    P(target) with its Wilson interval, the paired change in P(target) against the first point
    (common random numbers) with its interval, mean revenue with its interval, then opportunity
    volume, win and no-decision rates.
    """
    rows = list(points.itertuples(index=False))
    top = float(points["revenue_mean"].abs().max())
    div = 1e6 if top >= 1e6 else 1e3 if top >= 1e3 else 1.0
    show = points[cols].copy()
    show["P(target) (95% CI)"] = [
        f"{_share(r.p_target)}% ({_share(r.p_target_low)}-{_share(r.p_target_high)}%)" for r in rows
    ]
    show["ΔP(target) vs first point (paired 95% CI)"] = [
        f"{_share(r.delta_p_target, True)} pp ({_share(r.delta_p_target_low, True)} to "
        f"{_share(r.delta_p_target_high, True)})"
        if k
        else "(reference)"
        for k, r in enumerate(rows)
    ]
    show[f"mean revenue {currency} (95% CI)".replace("  ", " ")] = [
        f"{_amount(r.revenue_mean, div=div)} ({_amount(r.revenue_low, div=div)}-"
        f"{_amount(r.revenue_high, div=div)})"
        for r in rows
    ]
    show["opportunities"] = points["opportunities"].map("{:,.0f}".format)
    show["win rate"] = points["win_rate"].map(lambda x: f"{_share(x)}%")
    show["no decision"] = points["no_decision_rate"].map(lambda x: f"{_share(x)}%")
    return show.to_string(index=False)


def tornado_text(tornado: pd.DataFrame, replications: int, currency: str = "") -> str:
    """The tornado for the console: each factor's low and high end, paired change with interval.

    A change the replications cannot resolve carries its note (``not resolved at n=...``).
    """
    lines = [
        f"One at a time (paired change against the scenario as given, 95% interval; "
        f"{replications:,} replications per setting; revenue in {currency or 'currency units'}):"
    ]
    top = float(tornado["delta_revenue"].abs().max()) if len(tornado) else 0.0
    div = 1e6 if top >= 1e6 else 1e3 if top >= 1e3 else 1.0

    def money(x: float, sign: bool = False) -> str:
        return _amount(x, sign, div)

    for lab, rows in tornado.groupby("label", sort=False):
        lines.append(f"  {lab} ({rows['range'].iloc[0]})")
        for side in ("low", "high"):
            r = rows[rows["side"] == side]
            if r.empty:
                continue
            x = r.iloc[0]
            parts = []
            for out, fmt, unit in (("p_target", _share, " pp"), ("revenue", money, "")):
                est, lo, hi = (x[f"delta_{out}{s}"] for s in ("", "_low", "_high"))
                note = x.get(f"delta_{out}_note", "")
                note = f", {note}" if isinstance(note, str) and note else ""
                name = "P(target)" if out == "p_target" else "revenue"
                parts.append(
                    f"{name} {fmt(est, True)}{unit} ({fmt(lo, True)} to {fmt(hi, True)}{note})"
                )
            lines.append(f"    {side} end ({x['values']}): {';  '.join(parts)}")
    return "\n".join(lines)


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
        loaded = load_scenario(scenario, overrides)
        folder = out or Path("reports") / f"sensitivity-{loaded.name}"
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
        click.echo(tornado_text(res.tornado, replications, loaded.economics.currency))
        if res.sobol is not None:
            click.echo(
                "Sobol total indices (ST) of revenue / P(target), ± SALib's 95% bootstrap "
                "half-width:"
            )
            st = res.sobol.pivot(index="label", columns="output", values="ST")
            conf = res.sobol.pivot(index="label", columns="output", values="ST_conf")
            for lab, row in st.sort_values("revenue", ascending=False).iterrows():
                c = conf.loc[lab]
                click.echo(
                    f"  {lab:<32} {row['revenue']:.2f} ± {c['revenue']:.2f} / "
                    f"{row['p_target']:.2f} ± {c['p_target']:.2f}"
                )
        stdout.print(f"results in {folder}/", highlight=False)

    guarded(debug, go)


__all__ = ["cli", "paired", "sensitivity", "sweep"]
