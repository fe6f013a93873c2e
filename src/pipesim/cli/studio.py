"""Command line of the studio: ``pipesim studio [FOLDER]`` serves the what-if workspace.

The studio needs the ``studio`` extra (Shiny for Python, uvicorn); without it the command says
how to install it and exits 2. Loopback is the default host. Another host always runs behind an
access token: the one given with ``--token``, or one generated and printed with the address; a
token shorter than :data:`MIN_TOKEN` characters is refused. Exit codes follow ``pipesim``: 0 after
Ctrl-C, 2 bad input (no such folder, the port taken, a weak token, the extra missing).
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
from pathlib import Path

import click
from rich.markup import escape

from pipesim.cli.options import EXIT_BAD_INPUT, catalogue_option, fail, stdout
from pipesim.runs.database import resolve_catalogue

MIN_TOKEN = 16
"""Shortest access token accepted with ``--token``."""

INSTALL_HINT = "pip install 'pipesim[studio]'"
"""How to install what the studio needs."""


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@click.command()
@click.argument(
    "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("scenarios")
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; another than loopback serves the LAN and needs a token.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on.",
)
@catalogue_option(
    "Run catalogue shared by everyone using the studio (saved what-ifs, comments, decisions; "
    "their runs go beside it) [default: $PIPESIM_CATALOGUE, else reports/runs.sqlite]."
)
@click.option(
    "--token",
    default=None,
    help=f"Access token (at least {MIN_TOKEN} characters) every browser must present; with "
    "a host other than loopback one is generated and printed when not given.",
)
@click.option(
    "-n",
    "--replications",
    type=click.IntRange(min=20),
    default=1000,
    show_default=True,
    help="Replications of each live run and saved what-if.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes per live run.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Root seed of every run (reference and what-if share it).",
)
def studio(
    folder: Path,
    host: str,
    port: int,
    catalogue: Path | None,
    token: str | None,
    replications: int,
    workers: int,
    seed: int,
) -> None:
    """Serve the studio: live what-ifs on FOLDER's scenarios in the browser [default: scenarios/].

    Pick a scenario and see today's answer; move a lever for a what-if run under common random
    numbers against it (first estimate in one to two seconds, refined as batches arrive); ask
    what it takes to reach a confidence; save a what-if as a scenario file that extends the
    reference, with its run in the catalogue; comment and decide on each other's what-ifs.
    Prints the address to open; Ctrl-C stops it (saved what-ifs are already on disk).
    """
    if importlib.util.find_spec("shiny") is None or importlib.util.find_spec("uvicorn") is None:
        fail(f"pipesim studio needs Shiny for Python: {escape(INSTALL_HINT)}", EXIT_BAD_INPUT)
    if not folder.is_dir():
        fail(
            f"{folder} is not a folder of scenarios (give FOLDER, default scenarios/)",
            EXIT_BAD_INPUT,
        )
    if token is not None and len(token.strip()) < MIN_TOKEN:
        fail(
            f"--token must be at least {MIN_TOKEN} characters (leave it out on another host to "
            "have one generated)",
            EXIT_BAD_INPUT,
        )
    # lazy: the optional studio extra (Shiny, uvicorn) is imported only once known installed
    serve_module = importlib.import_module("pipesim.studio.serve")
    app_module = importlib.import_module("pipesim.studio.app")
    live_module = importlib.import_module("pipesim.studio.live")
    generated = False
    if token is None and not serve_module.is_loopback(host):
        token, generated = serve_module.new_token(), True
    try:
        serve_module.check_host(host, token)
    except serve_module.HostError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if not _port_free(host, port):
        fail(f"{host}:{port} is taken or cannot be used; choose another --port", EXIT_BAD_INPUT)
    path = resolve_catalogue(catalogue)
    config = app_module.Config(
        folder=folder,
        catalogue=path,
        settings=live_module.Settings(replications=replications, workers=workers, seed=seed),
        save_replications=replications,
        take_replications=min(200, replications),
        take_max_replications=4 * min(200, replications),
    )

    def announce(address: str) -> None:
        stdout.print(f"pipesim studio on {address}", highlight=False, soft_wrap=True)
        stdout.print(f"scenarios: {folder}/ · catalogue: {path}", highlight=False, soft_wrap=True)
        if generated:
            stdout.print(
                "access token generated (share the address above, token included, with the "
                f"people who may use it): {token}",
                highlight=False,
                soft_wrap=True,
            )
        stdout.print("Ctrl-C stops it", highlight=False)

    try:
        serve_module.serve(config, host, port, token, announce)
    except KeyboardInterrupt:
        pass
