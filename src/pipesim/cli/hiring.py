"""``pipesim hiring``: a hiring schedule at least cost that reaches P(target) >= confidence.

Exit codes: 0 success, 2 bad input (scenario, options, a horizon without a target period), 3 no
schedule within the limits reaches the confidence (the message says how far and what binds), 1
anything else, 130 interrupted. No tracebacks unless ``--debug``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
import yaml

from pipesim.cli.optimise import EXIT_INFEASIBLE, guarded_exit
from pipesim.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    out_option,
    replications_option,
    scenario_options,
    seed_option,
    workers_option,
)
from pipesim.optimise.hiring import (
    DEFAULT_MAX_HIRES_PER_MONTH,
    DEFAULT_REPLICATIONS,
    HiringError,
    HiringPlan,
    HiringSettings,
    NoHiringPlan,
    hiring_json,
    plan_hiring,
)
from pipesim.optimise.text import money, pct
from pipesim.report.hiring import write_hiring_page
from pipesim.scenario.loader import load_scenario


def _p(e: dict[str, Any]) -> str:
    p = e["p_target"]
    return f"{pct(p['estimate'])} (95% CI {pct(p['ci_low'])}-{pct(p['ci_high'])})"


def summary_lines(plan: HiringPlan) -> list[str]:
    """What the command prints."""
    data = hiring_json(plan)
    cur = data["currency"]
    total = sum(h["salary_cost"] + h["recruiting_cost"] for h in data["hires"])
    months = [h["month"] for h in data["hires"]]
    lines = [
        f"{data['scenario']}: {len(months)} hires "
        + (f"starting in months {months}" if months else "(none needed)")
        + f", cost {money(total, cur)} over {data['horizon_months']} months",
        f"P(target {money(data['period']['revenue'], cur)}, weeks 0-"
        f"{data['period']['end_week']:g}): with the plan {_p(data['with_plan'])}, without it "
        f"{_p(data['without_plan'])} ({data['replications']:,} replications each, seed "
        f"{data['seed']}, common random numbers)",
        f"  {data['with_plan']['resolution']}",
    ]
    for h in data["hires"]:
        lines.append(
            f"  {h['name']}: month {h['month']} ({h['start_date']}, week {h['start_week']:g}); "
            f"salary {money(h['salary_cost'], cur)}, recruiting {money(h['recruiting_cost'], cur)}"
        )
    for e in data["without_one_hire"]:
        lines.append(f"  one hire of month {e['removed_month']} fewer: P(target) {_p(e)}")
    lines.append(
        "  the plan is minimal: each hire removed falls short of the confidence"
        if data["minimal"]
        else "  the plan is not minimal within the step: a schedule with one hire fewer reaches "
        "the confidence on these replications"
    )
    lines.append(f"  recruiting cost per hire: {data['cost_per_hire_source']}")
    lines.append(
        "effective headcount by month (deterministic with the plan / without / simulated):"
    )
    for r in data["headcount"]:
        sim = r["simulated_effective_headcount"]
        lines.append(
            f"  month {r['month']:2d}: hires {r['hires']}  {r['effective_headcount']:.2f} / "
            f"{r['effective_headcount_without_plan']:.2f} / "
            + ("-" if sim is None else f"{sim:.2f}")
        )
    return lines


@click.command(name="hiring")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--horizon-months",
    type=click.IntRange(min=1, max=120),
    required=True,
    help="Months of the hiring plan from target.start_date; must hold the target period.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.8,
    show_default=True,
    help="P(target) the plan must reach.",
)
@click.option(
    "--max-hires-per-month",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_HIRES_PER_MONTH,
    show_default=True,
    help="Most new reps starting in one month.",
)
@click.option(
    "--cost-per-hire",
    type=click.FloatRange(min=0),
    default=None,
    help="Recruiting cost of one hire [20% of a year's loaded cost of a rep: "
    "reps.hours_per_week x reps.cost_per_hour x 52].",
)
@replications_option(
    DEFAULT_REPLICATIONS, "Replications per schedule (all on the same seeds).", minimum=20
)
@seed_option()
@workers_option
@out_option("Output folder [reports/<scenario name>-hiring/].")
@scenario_options
@click.option("--quiet", is_flag=True, help="No progress lines.")
def hiring(
    scenario: Path,
    horizon_months: int,
    confidence: float,
    max_hires_per_month: int,
    cost_per_hire: float | None,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
    """A hiring schedule for SCENARIO: the least-cost hires per month reaching --confidence.

    Ramp-up, attrition and backfill as the scenario sets them. Writes hiring.csv (per month:
    hires, expected reps in seat, effective headcount with and without the plan, simulated),
    hiring.json, plan.yaml (apply it with pipesim run SCENARIO --plan plan.yaml) and the page
    hiring.html. Exit 3 when no schedule within the limits reaches the confidence.
    """

    def go() -> int:
        sc = load_scenario(scenario, overrides)
        settings = HiringSettings(
            horizon_months=horizon_months,
            confidence=confidence,
            max_hires_per_month=max_hires_per_month,
            cost_per_hire=cost_per_hire,
            replications=replications,
            seed=seed,
            workers=workers,
        )
        try:
            plan = plan_hiring(sc, settings, None if quiet else (lambda s: click.echo(s, err=True)))
        except HiringError as exc:
            click.echo(f"error: {exc}", err=True)
            return EXIT_BAD_INPUT
        except NoHiringPlan as exc:
            click.echo(f"unreachable: {exc}", err=True)
            return EXIT_INFEASIBLE
        folder = out if out is not None else Path("reports") / f"{sc.name}-hiring"
        folder.mkdir(parents=True, exist_ok=True)
        data = hiring_json(plan)
        pd.DataFrame(data["headcount"]).to_csv(
            folder / "hiring.csv", index=False, lineterminator="\n"
        )
        (folder / "hiring.json").write_text(
            json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        head = (
            f"# hiring plan from pipesim hiring for scenario '{sc.name}' ({scenario}): "
            f"{len(plan.plan.months)} hires, P(target) {pct(plan.plan.p)} with it, "
            f"{pct(plan.today.p)} without\n# apply with pipesim run {scenario} --plan "
            f"{folder / 'plan.yaml'}\n"
        )
        (folder / "plan.yaml").write_text(
            head + yaml.safe_dump(plan.overlay, sort_keys=False), encoding="utf-8"
        )
        page = write_hiring_page(folder, data)
        for line in summary_lines(plan):
            click.echo(line)
        click.echo(f"wrote {folder / 'hiring.csv'}, hiring.json and plan.yaml; page: {page}")
        return EXIT_OK if plan.reached else EXIT_INFEASIBLE

    guarded_exit(debug, go)
