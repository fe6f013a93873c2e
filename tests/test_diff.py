"""pipesim diff: parameter differences and the attribution of a change in P(target)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim import load_scenario
from pipesim.cli.main import main
from pipesim.experiments.attribution import attribute
from pipesim.experiments.diff import MISSING, apply_changes, format_setting, scenario_changes
from pipesim.runs.catalogue import list_runs, record_run
from pipesim.runs.runner import run
from pipesim.scenario.loader import validate

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
# eight weeks, five reps: a target reached about a fifth of the time, so changes move it
TINY = ["target.horizon_weeks=8", "reps.count=5", "target.revenue=1500000"]
CHANGES = ["reps.count=7", "qualification.threshold=0.35", "open_pipeline=[]"]
PNG = b"\x89PNG\r\n\x1a\n"


def tiny(*extra: str):
    return load_scenario(BASELINE, [*TINY, *extra])


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- parameter diff
def test_changes_are_listed_by_dotted_path_with_kind_and_values():
    a = {
        "name": "a",
        "reps": {"count": 5, "skill_sd": 0.2},
        "campaigns": {"webinars": {"budget_per_week": 2000, "segments": {"S2": 1.0}}},
        "open_pipeline": [{"segment": "S1", "count": 3}],
        "referrals": {"segments": None},
        "same": {"x": 1},
    }
    b = copy.deepcopy(a)
    b["name"] = "b"
    b["reps"]["count"] = 7
    b["reps"]["skill_sd"] = 0.2  # unchanged
    del b["campaigns"]["webinars"]
    b["campaigns"]["fairs"] = {"budget_per_week": 900, "segments": {"S1": 1.0}}
    b["open_pipeline"] = []
    b["referrals"]["segments"] = {"S1": 1.0}
    changes = scenario_changes(a, b)
    got = {(c.name, c.kind) for c in changes}
    assert got == {
        ("name", "changed"),
        ("reps.count", "changed"),
        ("campaigns.webinars", "removed"),
        ("campaigns.fairs", "added"),
        ("open_pipeline", "changed"),
        ("referrals.segments", "changed"),
    }
    by_name = {c.name: c for c in changes}
    assert (by_name["reps.count"].old, by_name["reps.count"].new) == (5, 7)
    assert not by_name["name"].simulated and by_name["reps.count"].simulated
    assert by_name["campaigns.fairs"].old is MISSING
    leaves = {row["path"]: row for row in by_name["campaigns.fairs"].leaves()}
    assert set(leaves) == {"campaigns.fairs.budget_per_week", "campaigns.fairs.segments.S1"}
    assert leaves["campaigns.fairs.budget_per_week"]["new"] == 900
    assert apply_changes(a, changes) == b
    assert scenario_changes(a, a) == []
    assert scenario_changes({"x": 1}, {"x": 1.0}) == []  # same number


def test_format_setting_is_short():
    assert format_setting(MISSING) == "–"
    assert format_setting(0.35) == "0.35"
    assert format_setting(21_800_000.0) == "21,800,000"
    assert format_setting(None) == "null"
    assert len(format_setting([{"segment": "S1", "stage": "decision", "count": 3}] * 9)) == 48


# --------------------------------------------------------------------------- attribution
def _p_target(scenario, n: int, seed: int) -> pd.Series:
    return run(scenario, n, seed, 1).table["hit_target"].astype(float)


def test_shapley_parts_sum_to_the_total_and_match_a_direct_computation():
    n, seed = 30, 3
    a, b = tiny(), tiny(*CHANGES[:2])
    at = attribute(a, b, replications=n, seed=seed, workers=1, method="shapley")
    assert at.method == "shapley" and at.scenarios_simulated == 4
    assert [p.label for p in at.parts] == ["reps.count", "qualification.threshold"]
    assert math.isclose(at.sum_of_parts, at.total, abs_tol=1e-12)
    assert at.parts_within_interval
    # the same four scenarios built independently (overrides, the runner) and the formula
    v = {
        (): _p_target(a, n, seed),
        (0,): _p_target(tiny(CHANGES[0]), n, seed),
        (1,): _p_target(tiny(CHANGES[1]), n, seed),
        (0, 1): _p_target(b, n, seed),
    }
    mean = {k: s.mean() for k, s in v.items()}
    assert at.p_a == pytest.approx(mean[()]) and at.p_b == pytest.approx(mean[(0, 1)])
    phi0 = 0.5 * ((mean[(0,)] - mean[()]) + (mean[(0, 1)] - mean[(1,)]))
    phi1 = 0.5 * ((mean[(1,)] - mean[()]) + (mean[(0, 1)] - mean[(0,)]))
    assert at.parts[0].estimate == pytest.approx(phi0)
    assert at.parts[1].estimate == pytest.approx(phi1)
    assert at.parts[0].alone == pytest.approx(mean[(0,)] - mean[()])
    assert at.total != 0  # the tiny scenario does move
    for p in at.parts:
        assert p.low <= p.estimate <= p.high
        assert p.high - p.low > 0
    # paired interval of a part: mean +/- 1.96 sd / sqrt(n) of the per-replication parts
    d = 0.5 * ((v[(0,)] - v[()]) + (v[(0, 1)] - v[(1,)]))
    half = 1.959964 * d.std(ddof=1) / math.sqrt(n)
    assert at.parts[0].high - at.parts[0].estimate == pytest.approx(half, rel=1e-4)


def test_sequential_parts_telescope_from_a_to_b():
    a, b = tiny(), tiny(*CHANGES)
    at = attribute(a, b, replications=20, seed=1, workers=1, method="sequential")
    assert at.method == "sequential"
    assert [p.label for p in at.parts] == ["reps.count", "qualification.threshold", "open_pipeline"]
    assert math.isclose(sum(p.estimate for p in at.parts), at.p_b - at.p_a, abs_tol=1e-12)
    assert at.parts_within_interval
    # the first step of the path is the first change alone
    assert at.parts[0].estimate == pytest.approx(at.parts[0].alone)
    assert math.isclose(sum(p.revenue for p in at.parts), at.revenue_b - at.revenue_a, rel_tol=1e-9)


def test_results_do_not_depend_on_workers():
    a, b = tiny(), tiny(CHANGES[0])
    one = attribute(a, b, replications=12, seed=2, workers=1)
    two = attribute(a, b, replications=12, seed=2, workers=2)
    assert [p.estimate for p in one.parts] == [p.estimate for p in two.parts]
    assert (one.total, one.total_low) == (two.total, two.total_low)


def test_changes_that_are_not_valid_alone_are_applied_as_a_block():
    a = tiny()
    data = a.model_dump(mode="json")
    data["segments"]["S5"] = copy.deepcopy(data["segments"]["S1"])
    data["campaigns"]["fairs"] = {**copy.deepcopy(data["campaigns"]["paid_search"]),
                                  "segments": {"S5": 1.0}}  # fmt: skip
    data["reps"]["count"] = 7
    b = validate(data, "b")
    at = attribute(a, b, replications=6, seed=0, workers=1)
    labels = sorted(p.label for p in at.parts)
    assert labels == ["reps.count", "segments.S5 + campaigns.fairs"]
    block = next(p for p in at.parts if "fairs" in p.label)
    assert "campaigns.fairs not valid alone" in block.note
    assert math.isclose(at.sum_of_parts, at.total, abs_tol=1e-12)


# --------------------------------------------------------------------------- command
def test_diff_command_attributes_the_move_between_two_recorded_runs(tmp_path):
    cat = tmp_path / "runs.sqlite"
    run(tiny(), 10, 0, 1, tmp_path / "a")
    run(tiny(*CHANGES), 10, 0, 1, tmp_path / "b")
    a = record_run(tmp_path / "a", cat, note="before")
    record_run(tmp_path / "b", cat, note="after the Q3 review")
    out = tmp_path / "diff"
    result = cli("diff", a.short_id, tmp_path / "b", "-n", 24, "--workers", 1,
                 "--method", "sequential", "--catalogue", cat, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "the parts sum to the total change within its interval" in text
    assert "sequential" in text
    for name in ("reps.count", "qualification.threshold", "open_pipeline"):
        assert name in text
    data = json.loads((out / "diff.json").read_text())
    assert data["method"] == "sequential" and data["replications"] == 24 and data["seed"] == 0
    assert [p["label"] for p in data["parts"]] == [
        "reps.count",
        "qualification.threshold",
        "open_pipeline",
    ]
    parts_sum = sum(p["estimate"] for p in data["parts"])
    assert parts_sum == pytest.approx(data["total"]["estimate"], abs=1e-12)
    assert data["check"]["parts_within_total_interval"] is True
    assert data["total"]["ci_low"] <= parts_sum <= data["total"]["ci_high"]
    changed = {c["path"]: c for c in data["changes"]}
    assert (changed["reps.count"]["old"], changed["reps.count"]["new"]) == (5, 7)
    assert data["run_b"]["note"] == "after the Q3 review" and data["run_b"]["id"] == 2
    table = pd.read_csv(out / "diff.csv")
    assert list(table["row"]) == ["start", "part", "part", "part", "total", "end"]
    assert table.loc[table["row"] == "part", "value"].sum() == pytest.approx(
        table.loc[table["row"] == "total", "value"].iloc[0]
    )
    assert (out / "waterfall.png").read_bytes().startswith(PNG)
    assert len(list_runs(cat)) == 2  # diff records nothing


def test_diff_of_unknown_runs_exits_2(tmp_path):
    cat = tmp_path / "runs.sqlite"
    record_run(run(tiny(), 4, 0, 1, tmp_path / "a").out, cat)
    for args in (["1", "7"], ["1", "zzzz"], ["1", str(tmp_path)]):
        result = cli("diff", *args, "--catalogue", cat, "--out", tmp_path / "d")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
    assert "no run '7'" in flat(cli("diff", "1", "7", "--catalogue", cat).output)
    assert "not a finished run folder" in flat(
        cli("diff", "1", tmp_path, "--catalogue", cat).output
    )


def test_auto_method_takes_sequential_above_four_changes():
    more = [*CHANGES, "campaigns.webinars.budget_per_week=3000", "leads.max_wait_days=7"]
    at = attribute(tiny(), tiny(*more), replications=4, seed=0, workers=1)
    assert at.method == "sequential" and len(at.parts) == 5
    assert at.scenarios_simulated == 10  # the path (6) and each change alone (5), sharing one
    assert "more than 4" in at.method_note
    assert math.isclose(at.sum_of_parts, at.total, abs_tol=1e-12)
    few = attribute(tiny(), tiny(*CHANGES), replications=4, seed=0, workers=1)
    assert few.method == "shapley" and few.scenarios_simulated == 8
