"""``pipesim optimise`` spends replications once: engine calls counted by a wrapper.

Today's run is the today level of every pilot curve and no scenario is simulated twice (even
when today's run is shorter than a pilot point); every scenario's replication ``i`` has the same
seed (common random numbers); the plan's check says whether it is resolved and with how many
replications, and the gain carries its interval. The engine runs in this process
(``--workers 1``) so the wrapper sees every call.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import pipesim.engine.replication as replication_module
from pipesim.cli.optimise import cli
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def scenario_key(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()


def _relative(levels: list[float], revenue: list[float]) -> dict[str, Any]:
    return {"relative": True, "levels": levels, "revenue": revenue}


# pilot curves for two levers only (paid search, outbound in S4), judgement for the others;
# today's run (loop.replications) is shorter than a pilot point (pilot.replications)
SETTINGS = {
    "optimise": {
        "pilot": {"replications": 12, "load_replications": 1},
        "loop": {"replications": 10, "max_iterations": 1},
        "fairness_band": 0.5,
        "judgement": {
            "campaigns.webinars.budget_per_week": {
                "relative": True,
                "revenue": [0.85, 0.93, 1.0, 1.04, 1.06],
            },
            "campaigns.trade_shows.budget_per_week": {
                "relative": True,
                "revenue": [0.85, 0.93, 1.0, 1.03, 1.04],
            },
            "leads.prospecting.hours_per_week": {
                "relative": True,
                "revenue": [0.9, 0.96, 1.0, 1.02, 1.03],
            },
            **{
                f"leads.outbound.opportunities_per_rep_week[{s}]": _relative(
                    [0.0, 0.2, 0.5, 1.0], [1.0, 1.01, 1.015, 1.0]
                )
                for s in ("S1", "S2", "S3")
            },
        },
    }
}


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory):
    """``pipesim optimise`` in one process, every engine call recorded."""
    folder = tmp_path_factory.mktemp("sampling")
    settings = folder / "optimise.yaml"
    settings.write_text(yaml.safe_dump(SETTINGS), encoding="utf-8")
    calls: list[tuple[str, int]] = []
    original = replication_module.simulate

    def counting(scenario: Scenario, seed: int, *args: Any, **kwargs: Any) -> Any:
        calls.append((scenario_key(scenario), int(seed)))
        return original(scenario, seed, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(replication_module, "simulate", counting)
        result = CliRunner().invoke(
            cli,
            [
                "optimise",
                str(BASELINE),
                "--settings",
                str(settings),
                "--confidence",
                "0.5",
                "--workers",
                "1",
                "--out",
                str(folder / "plan"),
            ],
            catch_exceptions=False,
        )
    return result, folder / "plan", calls


def test_no_scenario_is_simulated_twice_and_today_is_every_curves_today_level(counted):
    result, out, calls = counted
    assert result.exit_code == 0, result.output
    twice = [pair for pair, k in Counter(calls).items() if k > 1]
    assert twice == []  # today's run is not run again for the pilots, nor anything else
    summary = json.loads((out / "optimise.json").read_text(encoding="utf-8"))
    today = summary["checks"]["before"]["replications"]
    # today's run covers the pilot's limit (12) although loop.replications is 10
    assert today == 12
    # today, at most 6 pilot points (paid search at 0, 50%, 200%; S4 at 0.15, 0.4, 1), the plan
    scenarios = {key for key, _ in calls}
    assert 1 + 3 + 1 <= len(scenarios) <= 1 + 6 + 1
    assert len(calls) <= today + 6 * 12 + 10


def test_every_scenario_uses_the_same_seed_for_the_same_replication(counted):
    _, _, calls = counted
    seeds: dict[str, list[int]] = {}
    for key, seed in calls:
        seeds.setdefault(key, []).append(seed)
    reference = replication_seeds(0, 12)
    for key, used in seeds.items():
        # replications 0 .. n-1 of the root seed, whatever rounds they were simulated in
        assert sorted(used) == sorted(reference[: len(used)]), key


def test_the_plans_check_says_it_is_resolved_and_with_how_many(counted):
    result, out, _ = counted
    summary = json.loads((out / "optimise.json").read_text(encoding="utf-8"))
    after = summary["checks"]["after"]
    assert (
        after["limit"] == 10 and after["replications"] == summary["iterations"][0]["replications"]
    )
    assert after["text"] in result.output
    page = (out / "optimise.html").read_text(encoding="utf-8")
    assert 'id="check-resolution"' in page
    gain = summary["gain"]
    assert gain["total_ci_low"] <= gain["total"] <= gain["total_ci_high"]
