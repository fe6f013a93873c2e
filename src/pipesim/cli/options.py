"""What every ``pipesim`` command shares: exit codes, consoles, clean errors, options, progress.

Exit codes: :data:`EXIT_OK` 0 success, :data:`EXIT_BAD_INPUT` 2 bad input (scenario or
arguments), :data:`EXIT_ERROR` 1 anything else, :data:`EXIT_INTERRUPTED` 130 interrupted.
:func:`guarded` runs a command's body, turning known failures into a message on :data:`err` and
the matching exit code (a traceback only with ``--debug``). The ``*_option`` decorators are the
click options several commands take, with the same names, types and defaults everywhere.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from pipesim.scenario.errors import ScenarioError

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
F = TypeVar("F", bound=Callable[..., Any])

err = Console(stderr=True)
"""Console for messages, warnings and progress (stderr)."""

stdout = Console()
"""Console for results (stdout)."""


def fail(message: str, code: int) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def guarded(debug: bool, fn: Callable[[], None]) -> None:
    """Run ``fn`` turning known failures into clean messages and exit codes."""
    try:
        fn()
    except ScenarioError as exc:
        err.print("[bold red]invalid scenario:[/]", highlight=False)
        err.print(str(exc), markup=False, highlight=False, emoji=False, soft_wrap=True)
        if debug:
            traceback.print_exc()
        sys.exit(EXIT_BAD_INPUT)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # a clean message, a traceback only on request
        if debug:
            traceback.print_exc()
        fail(f"{type(exc).__name__}: {exc} (use --debug for the traceback)", EXIT_ERROR)


def money(x: float | None, currency: str) -> str:
    """An amount for the terminal: ``1.23M EUR``, ``45.60k EUR``, ``980 EUR`` or ``n/a``."""
    if x is None:
        return "n/a"
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:,.2f}{unit} {currency}"
    return f"{x:,.0f} {currency}"


workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: number of CPUs].",
)
"""The ``--workers`` option every simulating command shares."""


def resolve_workers(workers: int | None) -> int:
    """``--workers`` as given, else the number of CPUs."""
    return workers or os.cpu_count() or 1


def progress_bar(quiet: bool) -> Progress:
    """The progress bar every simulating command shows on stderr (none with ``--quiet``)."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=True,
    )


def replications_option(
    default: int, help: str = "Monte Carlo replications.", minimum: int = 1
) -> Callable[[F], F]:
    """The ``-n/--replications`` option, with a command's own default and help."""
    return click.option(
        "-n",
        "--replications",
        type=click.IntRange(min=minimum),
        default=default,
        show_default=True,
        help=help,
    )


def seed_option(help: str = "Root seed.") -> Callable[[F], F]:
    """The ``--seed`` option (default 0)."""
    return click.option(
        "--seed", type=click.IntRange(min=0), default=0, show_default=True, help=help
    )


def out_option(help: str) -> Callable[[F], F]:
    """The ``--out`` folder option; ``help`` says what goes there and the default."""
    return click.option(
        "--out", type=click.Path(file_okay=False, path_type=Path), default=None, help=help
    )


def catalogue_option(
    help: str = "Run catalogue (SQLite) [default: $PIPESIM_CATALOGUE, else reports/runs.sqlite].",
) -> Callable[[F], F]:
    """The ``--catalogue`` option of the commands that read or write the run catalogue."""
    return click.option(
        "--catalogue", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help
    )


def scenario_options(fn: F) -> F:
    """Options shared by commands that read a scenario."""
    fn = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a scenario value by dotted path, e.g. reps.count=12 (repeatable).",
    )(fn)
    fn = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(fn)
    return fn
