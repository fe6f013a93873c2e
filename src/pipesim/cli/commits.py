"""``pipesim commits RUN_DIR commits.csv``: the chance each manager's commit call is met.

Exit codes: 0 success, 2 bad input (a folder that holds no finished run, a commits file that
cannot be read, an unknown team), 1 anything else. No tracebacks unless ``--debug``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from pipesim.cli.options import EXIT_BAD_INPUT, EXIT_OK, money
from pipesim.results.commits import (
    OPTIMISTIC_BELOW,
    SANDBAGGED_ABOVE,
    CommitsError,
    judge_calls,
    read_commits,
)
from pipesim.runs.runner import read_output


@click.command(name="commits")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("commits_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def commits(run_dir: Path, commits_csv: Path, debug: bool) -> None:
    """The chance each commit call in COMMITS_CSV is met in the run in RUN_DIR.

    COMMITS_CSV has the columns team, commit and optionally manager: one row per team of the
    run's scenario (or 'company'). A call met in under 50% of the replications is flagged
    optimistic, in over 90% sandbagged; a verdict the interval cannot settle says so. Writes
    commits.csv into RUN_DIR.
    """
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file() or not (run_dir / "replications.csv").is_file():
        click.echo(f"error: {run_dir} holds no finished run (pipesim run ... --out DIR)", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        teams = [lv["team"] for lv in summary.get("levels") or []]
        calls = read_commits(commits_csv, teams)
        table = read_output(run_dir / "replications.csv")
        judged = judge_calls(table, calls)
    except CommitsError as exc:
        click.echo(f"cannot judge the calls: {exc}", err=True)
        if debug:
            raise
        raise SystemExit(EXIT_BAD_INPUT) from None
    cur = summary["target"]["currency"]
    n = summary["replications"]
    click.echo(
        f"{summary['scenario']}: commit calls against {n:,} simulated periods (optimistic: met "
        f"in under {OPTIMISTIC_BELOW:.0%}; sandbagged: over {SANDBAGGED_ABOVE:.0%})"
    )
    width = max(len(c.team) for c in judged)
    for c in judged:
        who = f" ({c.manager})" if c.manager else ""
        note = (
            ""
            if c.line_crossed is None
            else f", not resolved at n={n:,}: the interval reaches across {c.line_crossed:.0%}"
        )
        click.echo(
            f"  {c.team:<{width}}  {money(c.commit, cur):>14}  met in {c.p:.1%} "
            f"(95% CI {c.low:.1%}-{c.high:.1%}): {c.verdict}{note}{who}"
        )
    out = run_dir / "commits.csv"
    pd.DataFrame([c.as_row() for c in judged]).to_csv(out, index=False)
    click.echo(f"wrote {out}")
    raise SystemExit(EXIT_OK)
