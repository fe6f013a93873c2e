"""Pinned outputs: for a fixed seed, every result file of ``pipesim run`` is byte-identical.

The hashes in ``fixtures/identity.json`` were taken from ``pipesim run`` at a small replication
count. A change that alters any number a user reads (the engine, the runner, the deal forecast,
the summary) fails here. When a change of results is deliberate, regenerate the hashes and say
why in the commit::

    PIPESIM_REGENERATE_IDENTITY=1 pytest tests/test_identity.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipesim.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PINNED = Path(__file__).parent / "fixtures" / "identity.json"
SCENARIOS = ["baseline", "year_end_push", "hire_three"]
FILES = [
    "replications.csv",
    "bookings.csv",
    "reps.csv",
    "deal_outcomes.csv",
    "deals.csv",
    "scenario.yaml",
    "summary.json",
]
VOLATILE = ("runtime_s", "pipesim_version", "finished_at")
"""summary.json keys that differ between any two runs (left out of its hash)."""


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "summary.json":
        summary = json.loads(data)
        for key in VOLATILE:
            summary.pop(key, None)
        data = json.dumps(summary, sort_keys=True).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _hashes(name: str, out: Path) -> dict[str, str]:
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(ROOT / "scenarios" / f"{name}.yaml"),
            "-n",
            "12",
            "--seed",
            "11",
            "--workers",
            "1",
            "--quiet",
            "--out",
            str(out),
            "--catalogue",
            str(out.parent / "runs.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    return {f: _digest(out / f) for f in FILES if (out / f).exists()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_run_outputs_are_pinned(name: str, tmp_path: Path) -> None:
    got = _hashes(name, tmp_path / name)
    assert {"replications.csv", "bookings.csv", "reps.csv", "summary.json"} <= set(got)
    if os.environ.get("PIPESIM_REGENERATE_IDENTITY"):
        pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
        pinned[name] = got
        PINNED.write_text(json.dumps(pinned, indent=2, sort_keys=True) + "\n")
    pinned = json.loads(PINNED.read_text())[name]
    assert got == pinned, f"{name}: outputs changed for a fixed seed: " + ", ".join(
        f for f in sorted(set(got) | set(pinned)) if got.get(f) != pinned.get(f)
    )
