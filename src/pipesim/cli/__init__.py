"""The ``pipesim`` command line: one module per command group (top layer).

``main`` is the click group (:mod:`pipesim.cli.main`); ``options`` holds what every command shares
(exit codes, clean errors, shared options, the progress bar); ``inputs`` reads input files that are
not scenarios (an open pipeline CSV or CRM export) and puts them into a loaded scenario.
"""

from pipesim.cli.main import main

__all__ = ["main"]
