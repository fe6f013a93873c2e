"""``pipesim quotas``: equal-chance rep quotas that add up to the target plus over-assignment.

Exit codes: 0 success, 2 bad input (scenario, options, a total no split can give a chance), 1
anything else, 130 interrupted. No tracebacks unless ``--debug``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from pipesim.cli.optimise import guarded_exit
from pipesim.cli.options import (
    EXIT_OK,
    out_option,
    replications_option,
    resolve_workers,
    scenario_options,
    seed_option,
    workers_option,
)
from pipesim.optimise.quotas import (
    DEFAULT_OVER_ASSIGN,
    DEFAULT_REPLICATIONS,
    QuotaPlan,
    plan_quotas,
)
from pipesim.optimise.text import money, pct
from pipesim.report.quotas import write_quotas_page
from pipesim.scenario.loader import load_scenario


def summary_lines(plan: QuotaPlan) -> list[str]:
    """What the command prints: the split, each rep's quota and chance, and the spread."""
    cur = plan.currency
    n = plan.replications
    lines = [
        f"{plan.scenario}: quotas summing to {money(plan.total, cur)} "
        f"({money(plan.target, cur)} + {plan.over_assign:.0%} over-assignment), each rep with "
        f"the same chance of making theirs ({pct(plan.p_set)} on the {n:,} replications that "
        f"set them)",
        f"checked on {n:,} other replications (seed {plan.seed}, later replication indices):",
    ]
    width = max(len(s.rep) for s in plan.seats)
    lines.append(
        f"  {'rep':<{width}}  {'quota':>12}  {'P(quota)':>8} {'95% CI':>13}   "
        f"{'today':>12}  {'P(quota)':>8} {'95% CI':>13}"
    )
    for s in plan.seats:
        lines.append(
            f"  {s.rep:<{width}}  {money(s.quota, cur):>12}  {pct(s.p_quota):>8} "
            f"{pct(s.p_quota_low) + '-' + pct(s.p_quota_high):>13}   "
            f"{money(s.today_quota, cur):>12}  {pct(s.today_p_quota):>8} "
            f"{pct(s.today_p_quota_low) + '-' + pct(s.today_p_quota_high):>13}"
        )
    noise = plan.noise_spread()
    verdict = (
        "within what the check's sampling gives equal chances"
        if plan.spread() <= noise
        else "wider than the check's sampling alone explains: raise -n"
    )
    lines.append(
        f"spread of P(quota) across reps: {pct(plan.spread())} with these quotas, "
        f"{pct(plan.spread(today=True))} with today's; {n:,} check replications give equal "
        f"chances a spread up to {pct(noise)} (95%): {verdict}"
    )
    fair, today = plan.fairness(), plan.fairness(today=True)
    if fair is None or today is None:
        lines.append("territories: every rep works the same leads, so no quota follows size")
    else:
        lines.append(
            f"P(quota) against territory size (leads a rep can work), correlation across reps: "
            f"{fair[0]:+.2f} (95% CI {fair[1]:+.2f} to {fair[2]:+.2f}) with these quotas, "
            f"{today[0]:+.2f} ({today[1]:+.2f} to {today[2]:+.2f}) with today's"
        )
    return lines


@click.command(name="quotas")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--total",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The company figure to split [the scenario's target.revenue].",
)
@click.option(
    "--over-assign",
    type=click.FloatRange(0, 1),
    default=DEFAULT_OVER_ASSIGN,
    show_default=True,
    help="Quotas sum to the total times 1 + this share.",
)
@replications_option(
    DEFAULT_REPLICATIONS, "Replications that set the quotas; as many again check them.", minimum=20
)
@seed_option()
@workers_option
@out_option("Output folder [reports/<scenario name>-quotas/].")
@scenario_options
def quotas(
    scenario: Path,
    total: float | None,
    over_assign: float,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    debug: bool,
) -> None:
    """Equal-chance quotas per rep for SCENARIO, summing to the target plus over-assignment.

    Every rep gets the same chance of making their quota, checked on other replications beside
    today's quotas. Writes quotas.csv, quotas.json, plan.yaml (apply it with pipesim run
    SCENARIO --plan) and the page quotas.html.
    """

    def go() -> int:
        sc = load_scenario(scenario, overrides)
        plan = plan_quotas(
            sc,
            total=total,
            over_assign=over_assign,
            replications=replications,
            seed=seed,
            workers=resolve_workers(workers),
        )
        folder = out if out is not None else Path("reports") / f"{sc.name}-quotas"
        folder.mkdir(parents=True, exist_ok=True)
        plan.table().to_csv(folder / "quotas.csv", index=False)
        (folder / "quotas.json").write_text(
            json.dumps(plan.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        (folder / "plan.yaml").write_text(
            "# equal-chance quotas from pipesim quotas; apply with pipesim run SCENARIO --plan\n"
            + yaml.safe_dump(plan.overlay(), sort_keys=False),
            encoding="utf-8",
        )
        page = write_quotas_page(folder, plan.to_json(), plan.table(), plan.currency)
        for line in summary_lines(plan):
            click.echo(line)
        click.echo(f"wrote {folder / 'quotas.csv'}, quotas.json and plan.yaml; page: {page}")
        return EXIT_OK

    guarded_exit(debug, go)
