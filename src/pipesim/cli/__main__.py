"""``python -m pipesim.cli``: the same as the ``pipesim`` command."""

from pipesim.cli.main import main

main()
