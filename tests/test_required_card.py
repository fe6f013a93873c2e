"""The report's "new opportunities needed" is the answer `pipesim required` simulated, or nothing.

A run cannot see what an added opportunity would book, so the report never extrapolates the
figure: it shows the stored answer of `pipesim required` for the same scenario and target
(runs.answers), says "not simulated" without one and "out of date" when the scenario changed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipesim.report.data import load_run
from pipesim.report.drivers import indicators_section
from pipesim.runs.answers import OUTBOUND_LEVER, REQUIRED_FILE, read_required, write_required
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("yep")
    run(load_scenario(YEAR_END), 20, 0, 1, out=out)
    return out


def _answer(target: float, needed: float = 2.75) -> dict:
    ev = {
        "value": 1.5,
        "p_target": 0.82,
        "p_target_low": 0.80,
        "p_target_high": 0.84,
        "revenue_mean": 4.1e6,
        "new_opportunities_per_rep_week": needed,
        "replications": 1600,
    }
    below = {**ev, "value": 1.25, "p_target": 0.77, "new_opportunities_per_rep_week": 2.5}
    today = {**ev, "value": 0.0, "p_target": 0.4, "new_opportunities_per_rep_week": 1.1}
    return {"lever": OUTBOUND_LEVER, "confidence": 0.8, "target": target, "step": 0.25,
            "answer": ev, "below": below, "today": today,
            "resolution": {"resolved": True, "text": "resolved with 1,600 replications"},
            }  # fmt: skip


def _card(folder: Path) -> str:
    html = indicators_section(load_run(folder))
    card = re.search(r'id="indicator-2">(.*?)</div>', html, re.S)
    assert card is not None and "New opportunities needed" in card.group(1)
    return re.sub(r"<[^>]+>", " ", card.group(1))


def test_without_an_answer_the_card_gives_no_figure_and_the_command(folder: Path) -> None:
    (folder / REQUIRED_FILE).unlink(missing_ok=True)
    text = _card(folder)
    assert "not simulated" in text and "pipesim required" in text
    assert "/rep/wk" in text  # today's rate only
    assert not re.search(r"\b2\.\d/rep/wk", text)
    summary = json.loads((folder / "summary.json").read_text())
    assert "new_opportunities_needed_per_rep_week" not in summary["indicators"]


def test_the_card_shows_the_simulated_answer_for_the_same_scenario(folder: Path) -> None:
    sha = json.loads((folder / "run.json").read_text())["scenario_sha256"]
    target = load_run(folder).target
    write_required(folder, _answer(target), sha)
    text = _card(folder)
    assert "2.8/rep/wk" in text  # the answer's measured new opportunities, not the lever value
    assert "for an 80% chance" in text and "82%" in text and "one step fewer: 77%" in text
    today = load_run(folder).table["new_opportunities_per_rep_week"].mean()
    assert f"today {today:.1f}/rep/wk" in text  # today's rate is this run's, same column


def test_an_answer_for_another_scenario_version_is_out_of_date(folder: Path) -> None:
    target = load_run(folder).target
    write_required(folder, _answer(target), "another-hash")
    text = _card(folder)
    assert "out of date" in text and "2.8/rep/wk" not in text
    sha = json.loads((folder / "run.json").read_text())["scenario_sha256"]
    write_required(folder, _answer(target * 1.1), sha)  # another target
    ans = read_required(folder, sha, target)
    assert ans is not None and not ans.current


def test_only_the_outbound_lever_is_kept() -> None:
    assert write_required("/nonexistent", {"lever": "reps.count"}, "x") is None
