"""Command line of the optimiser: ``optimise`` and ``required``.

They are registered lazily on the ``pipesim`` group (``pipesim optimise``, ``pipesim required``);
:func:`cli` groups the two on their own. Exit codes: 0 success, 2 bad input (scenario, settings
or options), 3 the target cannot be reached at the asked confidence within capacity and budget
(the message names the binding constraints), 1 anything else, 130 interrupted. No tracebacks
unless ``--debug``.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import click

from pipesim.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    resolve_workers,
    workers_option,
)
from pipesim.optimise.explain import InfeasiblePlan, group_bindings, more_text
from pipesim.optimise.quotas import QuotaError
from pipesim.optimise.required import DEFAULT_MAX_REPLICATIONS, BadLever, TargetUnreachable
from pipesim.optimise.required import required as search
from pipesim.optimise.required_text import message
from pipesim.optimise.result import conclusion
from pipesim.optimise.settings import SettingsError, load_settings, with_options
from pipesim.optimise.solver import SolverFailed, UnknownSolver, make_solver
from pipesim.optimise.text import interval_of, money, money_interval
from pipesim.runs.answers import write_required
from pipesim.runs.records import RunSettings, default_run_folder
from pipesim.runs.runner import scenario_hash
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario

EXIT_INFEASIBLE = 3
"""Exit code when the target cannot be reached at the confidence within capacity and budget."""


def _err(text: str) -> None:
    click.echo(text, err=True)


def _report(exc: Exception) -> int:
    """Print a known failure in plain words and return its exit code."""
    if isinstance(exc, ScenarioError):
        _err("invalid scenario:")
        _err(str(exc))
        return EXIT_BAD_INPUT
    if isinstance(exc, SettingsError | UnknownSolver | BadLever | QuotaError):
        _err(f"error: {exc}")
        return EXIT_BAD_INPUT
    if isinstance(exc, InfeasiblePlan):
        _err(f"infeasible: {exc}")
        return EXIT_INFEASIBLE
    if isinstance(exc, TargetUnreachable):
        _err(f"unreachable: {exc}")
        return EXIT_INFEASIBLE
    if isinstance(exc, SolverFailed):
        _err(f"error: solver: {exc}")
        return EXIT_ERROR
    _err(f"error: {type(exc).__name__}: {exc} (use --debug for the traceback)")
    return EXIT_ERROR


def guarded_exit(debug: bool, fn: Callable[[], int]) -> None:
    """Run ``fn`` and exit with its code, turning known failures into messages and exit codes."""
    try:
        code = fn()
    except (click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:
        code = _report(exc)
        if debug:
            traceback.print_exc()
    except KeyboardInterrupt:
        _err("interrupted")
        code = EXIT_INTERRUPTED
    sys.exit(code)


_scenario_arg = click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))


@click.command(name="optimise")
@_scenario_arg
@click.option(
    "--objective",
    type=click.Choice(["max-margin", "min-cost", "max-p-target", "cvar"]),
    default=None,
    help="Maximise expected gross margin, minimise spend + rep-hour cost to the target, "
    "maximise P(target) on simulated replications, or maximise the CVaR of gross margin "
    "(--alpha); the last two are checked out of sample beside the max-margin plan "
    "[default: max-margin].",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="--objective cvar: the worst share of replications whose mean margin is maximised [0.1].",
)
@click.option(
    "--sample-replications",
    type=click.IntRange(min=10, max=2000),
    default=None,
    help="max-p-target / cvar: replications of today and of every pilot level the plan is "
    "chosen on (optimise.risk.replications) [200].",
)
@click.option(
    "--check-replications",
    type=click.IntRange(min=10),
    default=None,
    help="max-p-target / cvar: replications of the out-of-sample check, on seeds after the "
    "sample's (optimise.risk.check_replications) [400].",
)
@click.option(
    "--target",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Revenue target [default: the scenario's target.revenue].",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="P(target) the plan must reach [default: 0.8].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: reports/<scenario name>-plan/].",
)
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file with an 'optimise:' section (bounds, fairness, "
    "strategic segments, judgmental curves); options below override it.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=None,
    help="Most total campaign budget per week [default: today's total].",
)
@click.option(
    "--fairness-band",
    type=click.FloatRange(min=0),
    default=None,
    help="Each rep group's quota within this share of the team average [0.25].",
)
@click.option(
    "--integer-quotas",
    is_flag=True,
    default=None,
    help="Whole-number weekly quotas (solves a MILP).",
)
@click.option("--solver", default=None, help="highs (default), cbc, or a PuLP solver name.")
@click.option(
    "--outbound-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Rep hours to find and open one outbound opportunity [default: the scenario's "
    "leads.outbound.hours_per_opportunity if it states it, else 10 (SDR benchmarks)].",
)
@click.option(
    "--curves",
    type=click.Choice(["auto", "pilot", "judgement"]),
    default=None,
    help="Response curves from pilot simulations, judgmental points, or both [auto].",
)
@click.option(
    "--pilot-replications",
    type=click.IntRange(min=5),
    default=None,
    help="Most replications per pilot point: each starts with pilot.first_replications [10] "
    "and gets more until its curve's pieces reach pilot.standard_error [40].",
)
@click.option(
    "-n",
    "--replications",
    type=click.IntRange(min=10),
    default=None,
    help="Most replications per check of a plan: it starts with loop.first_replications [30] "
    "and doubles until P(target) is resolved against --confidence; also caps today's run "
    "(loop.today_replications [60]) [400].",
)
@click.option(
    "--max-iterations",
    type=click.IntRange(min=1, max=20),
    default=None,
    help="Most plans the closed loop tries [6].",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Root seed [0].")
@workers_option
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario value by dotted path (repeatable).",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def optimise(
    scenario: Path,
    objective: str | None,
    alpha: float | None,
    sample_replications: int | None,
    check_replications: int | None,
    target: float | None,
    confidence: float | None,
    out: Path | None,
    settings_file: Path | None,
    budget: float | None,
    fairness_band: float | None,
    integer_quotas: bool | None,
    solver: str | None,
    outbound_hours: float | None,
    curves: str | None,
    pilot_replications: int | None,
    replications: int | None,
    max_iterations: int | None,
    seed: int | None,
    workers: int | None,
    overrides: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
    """Plan rep hours, campaign budgets and opportunity quotas for SCENARIO, and check the plan.

    Writes plan.yaml (a scenario overlay: pipesim run SCENARIO --plan plan.yaml), plan.csv
    (per rep: hours per activity and segment, weekly opportunity quota following the rep's
    hours, skill and ramp; per campaign: spend), quotas.csv (each rep's quota week by week),
    optimise.json and optimise.html (before/after charts, where the gain comes from, what each
    lever costs). Warns when the gain over today exceeds what field results of sales-effort
    reallocation report. Exit 3 when the target cannot be reached at the confidence within
    capacity and budget.

    With --objective max-p-target or cvar the plan is chosen on simulated replications (a
    MILP under the same constraints) and checked on other seeds beside the max-margin plan:
    plan.yaml, max_margin_plan.yaml, plan.csv, risk.json and risk.html.
    """
    # lazy: start-up speed (the loop pulls in matplotlib and the runner; `required` needs neither)
    from pipesim.optimise.loop import optimise as run_loop
    from pipesim.optimise.plan import plan_table
    from pipesim.optimise.risk import optimise_risk, risk_text

    def go() -> int:
        settings = with_options(
            load_settings(settings_file),
            objective=objective,
            alpha=alpha,
            sample_replications=sample_replications,
            check_replications=check_replications,
            target=target,
            confidence=confidence,
            budget=budget,
            fairness_band=fairness_band,
            integer_quotas=integer_quotas,
            solver=solver,
            outbound_hours=outbound_hours,
            curves=curves,
            pilot_replications=pilot_replications,
            replications=replications,
            max_iterations=max_iterations,
            seed=seed,
            workers=workers,
        )
        make_solver(settings.solver)  # fail early on an unknown solver
        name = load_scenario(scenario, overrides).name
        folder = out or Path("reports") / f"{name}-plan"
        if alpha is not None and settings.objective != "cvar":
            raise SettingsError("--alpha applies to --objective cvar only")
        if settings.objective in ("max-p-target", "cvar"):
            risky = optimise_risk(
                scenario, overrides, settings, folder, (lambda s: None) if quiet else _err
            )
            for line in risk_text(risky):
                click.echo(line)
            click.echo(
                f"plan: {folder / 'plan.yaml'} | compared: {folder / 'max_margin_plan.yaml'} | "
                f"report: {folder / 'risk.html'}"
            )
            return EXIT_OK if risky.reached else EXIT_INFEASIBLE
        res = run_loop(scenario, overrides, settings, folder, (lambda s: None) if quiet else _err)
        final = res.final
        assert final is not None
        s = final.solution
        cur = res.problem.currency
        click.echo(
            f"{res.scenario.name}: plan ({settings.objective}, response curves from "
            f"{res.curve_source}; {s.solver}: {s.status})"
        )
        click.echo(
            f"P(target {money(res.problem.target_revenue, cur)}): before "
            f"{interval_of(res.before.summary['p_target'], res.before.replications)} -> after "
            f"{interval_of(final.check.summary['p_target'], final.check.replications)}"
        )
        click.echo(f"  the plan's check: {final.check.resolution()}")
        click.echo(
            f"expected revenue: LP {money(s.revenue, cur)}; simulated "
            f"{money_interval(*final.check.revenue_interval(), cur)}; today "
            f"{money_interval(*res.before.revenue_interval(), cur)}"
        )
        for key, lever in res.problem.levers.items():
            new = s.levels.get(key, lever.today)
            if abs(new - lever.today) > 1e-9:
                click.echo(f"  {key}: {lever.today:g} -> {new:.4g} {lever.unit}")
        split = res.gain()
        if split is not None:
            click.echo(
                f"gain over today: {split.total_text()}, {split.relative:+.1%} (simulated); "
                "by lever (response curves):"
            )
            for label, value in split.rows()[:-1]:
                click.echo(f"  {label}: {money(value, cur)}")
        click.echo(
            "quota per rep (new opportunities per week: mean over the horizon, first week -> "
            "once ramped; of which outbound):"
        )
        table = plan_table(res.problem, s)
        totals = table[(table["kind"] == "rep") & (table["segment"] == "all")]
        shown = 30
        for _, r in totals.head(shown).iterrows():
            click.echo(
                f"  {r['name']} ({r['group']}; skill {r['skill']:.2f}, productivity "
                f"{r['productivity']:.0%}, {r['selling_hours']:.1f} h): "
                f"{r['new_opportunities_per_week']:.2f} ({r['quota_first_week']:.2f} -> "
                f"{r['quota_ramped']:.2f}), of which {r['outbound_opportunities_per_week']:.2f} "
                "outbound"
            )
        if len(totals) > shown:
            click.echo(f"  ... and {len(totals) - shown} more reps: see plan.csv")
        for b, more in group_bindings(s.binding):
            click.echo(f"  binding: {b.describe(cur, settings.objective)}{more_text(more)}")
        click.echo(conclusion(res))
        warning = res.warning()
        if warning is not None:
            click.echo(warning)
        click.echo(
            f"plan: {folder / 'plan.yaml'} | table: {folder / 'plan.csv'} | "
            f"report: {folder / 'optimise.html'}"
        )
        return EXIT_OK if res.reached else EXIT_INFEASIBLE

    guarded_exit(debug, go)


@click.command(name="required")
@_scenario_arg
@click.option(
    "--lever",
    required=True,
    help="new_opportunities_per_rep_week, reps.count or campaigns.<name>.budget_per_week.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.8,
    show_default=True,
    help="P(target) to reach.",
)
@click.option(
    "-n",
    "--replications",
    type=click.IntRange(min=10),
    default=400,
    show_default=True,
    help="Replications per lever value (all with the same seed).",
)
@click.option(
    "--max-replications",
    type=click.IntRange(min=10),
    default=DEFAULT_MAX_REPLICATIONS,
    show_default=True,
    help="Most replications at the answer and the step below: until the answer is resolved "
    "(its 95% interval at or above --confidence, the step below's under it) they double from "
    "-n, continuing the same seeds.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Root seed shared by every value (common random numbers).",
)
@workers_option
@click.option(
    "--step",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Grid step of the lever [0.25 opportunities, 1 rep, ~10% of a budget].",
)
@click.option(
    "--max",
    "maximum",
    type=click.FloatRange(min=0),
    default=None,
    help="Largest lever value to search.",
)
@click.option(
    "--hires",
    type=click.Choice(["ramping", "ramped"]),
    default="ramping",
    show_default=True,
    help="reps.count: new reps ramp up, or are fully productive.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the answer, the step below, today, every value simulated and whether the "
    "answer is resolved to this JSON file.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario value by dotted path (repeatable).",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def required(
    scenario: Path,
    lever: str,
    confidence: float,
    replications: int,
    max_replications: int,
    seed: int,
    workers: int | None,
    step: float | None,
    maximum: float | None,
    hires: str,
    json_path: Path | None,
    overrides: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
    """Find the smallest value of one lever for which P(target) >= --confidence in SCENARIO.

    Prints, e.g., "each rep needs N new opportunities per week (today M) for an X% chance
    (interval)", with P(target) at the answer and one grid step below it, and whether the
    answer is resolved: "resolved with N replications", or "not resolved at the limit of N
    replications: the answer could be one step lower/higher".
    """

    def go() -> int:
        sc = load_scenario(scenario, overrides)
        result = search(
            sc,
            lever,
            confidence=confidence,
            replications=replications,
            seed=seed,
            workers=resolve_workers(workers),
            step=step,
            maximum=maximum,
            hires=hires,
            echo=None if quiet else _err,
            max_replications=max_replications,
        )
        click.echo(message(result))
        # the run report of the same scenario (and --set what-if) shows this answer
        kept = write_required(
            default_run_folder(sc.name, RunSettings.of(overrides)),
            result.as_dict(),
            scenario_hash(sc),
        )
        if kept is not None:
            click.echo(f"kept for the run report: {kept}")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(result.as_dict(), indent=2, allow_nan=False)
            json_path.write_text(text + "\n", encoding="utf-8")
            click.echo(f"json: {json_path}")
        return EXIT_OK

    guarded_exit(debug, go)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The optimiser's commands (also ``pipesim optimise`` and ``pipesim required``)."""


cli.add_command(optimise)
cli.add_command(required)
