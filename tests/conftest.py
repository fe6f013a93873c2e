"""Shared test setup: runs are recorded in a throw-away run catalogue, never in reports/."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_run_catalogue(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point ``$PIPESIM_CATALOGUE`` at a temporary file for the whole session."""
    path = tmp_path_factory.mktemp("catalogue") / "runs.sqlite"
    previous = os.environ.get("PIPESIM_CATALOGUE")
    os.environ["PIPESIM_CATALOGUE"] = str(path)
    yield
    if previous is None:
        os.environ.pop("PIPESIM_CATALOGUE", None)
    else:
        os.environ["PIPESIM_CATALOGUE"] = previous
