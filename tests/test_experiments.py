"""Experiments machinery: paired comparisons, sweeps and sensitivity, and their commands."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipesim import load_scenario
from pipesim.cli.research import cli
from pipesim.engine.replication import run_replication
from pipesim.engine.summary import DETAIL_COLUMNS
from pipesim.experiments.paired import (
    compare_scenarios,
    format_value,
    paired_differences,
    run_points,
)
from pipesim.experiments.sensitivity import expand, factor_from_text
from pipesim.experiments.sweep import (
    BadParameter,
    ParamRange,
    grid_design,
    lhs_design,
    parse_param,
)
from pipesim.scenario.loader import dump_scenario

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "research" / "research_base.yaml"
EFFECTIVE = ROOT / "scenarios" / "research" / "01_qualification_effective.yaml"
SHORT = ["target.horizon_weeks=6", "target.revenue=1500000"]  # a quick run for the plumbing
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def short_args() -> list[str]:
    return [x for s in SHORT for x in ("--set", s)]


# --------------------------------------------------------------------------- parsing
def test_parse_param_grid_and_hypercube_forms():
    r = parse_param("qualification.threshold=0.3:0.9:7")
    assert (r.path, r.low, r.high, r.count) == ("qualification.threshold", 0.3, 0.9, 7)
    assert r.values() == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert parse_param("reps.count=12:18", need_count=False).count is None
    assert parse_param("x.y=1e-3:2E1:2").high == 20.0
    assert ParamRange("reps.count", 12, 18, 4, integer=True).values() == [12, 14, 16, 18]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qualification.threshold", "must look like"),
        ("qualification.threshold=0.3-0.9", "must look like"),
        ("qualification.threshold=0.3:0.9", "missing the number of values"),
        ("qualification.threshold=0.9:0.3:3", "HIGH"),
        ("qualification.threshold=0.3:0.9:0", "at least 1"),
        ("qualification..threshold=0.3:0.9:3", "empty key part"),
    ],
)
def test_parse_param_rejects_bad_ranges(text, message):
    with pytest.raises(BadParameter, match=message):
        parse_param(text)


def test_grid_and_latin_hypercube_designs():
    a = ParamRange("a", 0.0, 1.0, 3)
    b = ParamRange("b", 10.0, 20.0, 2)
    grid = grid_design([a, b])
    assert len(grid) == 6 and grid[0] == {"a": 0.0, "b": 10.0} and grid[-1] == {"a": 1.0, "b": 20.0}
    lhs = lhs_design([a, b], 8, seed=1)
    assert len(lhs) == 8
    for r in (a, b):
        x = np.array([p[r.path] for p in lhs])
        assert x.min() >= r.low and x.max() <= r.high
        # Latin: exactly one point in each eighth of each range
        strata = np.floor((x - r.low) / (r.high - r.low) * 8).astype(int)
        assert sorted(strata) == list(range(8))


def test_wildcard_paths_expand_to_each_key_that_has_the_rest():
    data = yaml.safe_load(dump_scenario(load_scenario(BASE)))
    leaves = expand(data, "journey.*.stall_hazard_per_week")
    assert [p for p, _ in leaves] == [
        f"journey.{s}.stall_hazard_per_week"
        for s in ("awareness", "interest", "preference", "decision")
    ]
    assert next(p for p, _ in expand(data, "segments.*.buyers_per_week")) == (
        "segments.S1.buyers_per_week"
    )
    assert expand(data, "segments.*.nothing") == []
    f = factor_from_text("reps.count", 0.25)
    assert (f.low, f.high, f.relative, f.describe()) == (0.75, 1.25, True, "±25%")
    g = factor_from_text("reps.count=12:18")
    assert (g.low, g.high, g.relative, g.describe()) == (12, 18, False, "12 to 18")


# --------------------------------------------------------------------------- paired
def test_detailed_row_extends_the_engine_row():
    sc = load_scenario(BASE, SHORT)
    row = run_replication(sc, 3, 12345, detail=True).row
    plain = run_replication(sc, 3, 12345).row
    assert {k: row[k] for k in plain} == plain
    assert list(row)[len(plain) :] == list(DETAIL_COLUMNS)
    assert row["late_won"] + row["late_lost"] <= row["late_resolved"] <= row["late_opportunities"]
    assert row["flank_attempts"] == 0 and row["flank_hours"] == 0


def test_run_points_is_the_same_with_any_number_of_workers():
    sc = load_scenario(BASE, SHORT)
    one = run_points([("a", sc)], 4, seed=5, workers=1, chunk_size=2)
    two = run_points([("a", sc)], 4, seed=5, workers=2, chunk_size=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one["replication"]) == [0, 1, 2, 3]


def test_common_random_numbers_give_narrower_intervals_than_independent_runs():
    ref = load_scenario(BASE, ["target.horizon_weeks=13", "target.revenue=3500000"])
    alt = load_scenario(EFFECTIVE, ["target.horizon_weeks=13", "target.revenue=3500000"])
    comp = compare_scenarios(ref, alt, 60, seed=0, workers=2,
                             metrics=["revenue", "win_rate", "opportunities"])  # fmt: skip
    for metric in ("revenue", "win_rate", "opportunities"):
        d = comp.difference(metric)
        assert d["paired_width"] < 0.6 * d["unpaired_width"], d.to_dict()
        assert d["correlation"] > 0.6
    # the unpaired interval is what truly independent runs give: the alternative run with
    # another root seed spreads its revenue as widely as the common-seed run
    other = compare_scenarios(ref, alt, 60, seed=99, workers=2, metrics=["revenue"])
    independent = paired_differences(
        comp.reference_table, other.alternative_table.assign(seed=comp.reference_table["seed"]),
        ["revenue"],
    )  # fmt: skip
    assert comp.difference("revenue")["paired_width"] < 0.6 * independent["paired_width"].iloc[0]


def test_paired_differences_drop_undefined_rates():
    a = pd.DataFrame(
        {"replication": [0, 1, 2], "seed": [1, 2, 3], "win_rate": [0.5, math.nan, 0.4]}
    )
    b = a.assign(win_rate=[0.6, 0.7, 0.5])
    d = paired_differences(a, b, ["win_rate"]).iloc[0]
    assert d["n"] == 2 and d["estimate"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="needs columns"):
        paired_differences(a, b, ["revenue"])


def test_format_value_units():
    assert format_value(0.031, "share", signed=True) == "+3.1 pp"
    assert format_value(0.5, "share") == "50.0%"
    assert format_value(-1_234_000, "money", signed=True) == "−1.23M"
    assert format_value(2.5, "days", signed=True) == "+2.5 d"
    assert format_value(math.nan, "count") == "n/a"


def test_paired_command_prints_and_writes(tmp_path):
    res = invoke("paired", BASE, EFFECTIVE, "-n", "3", "--workers", "1", "--metric", "revenue",
                 "--metric", "win_rate", *short_args(), "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "paired 95% interval" in res.output and "win rate" in res.output
    diffs = pd.read_csv(tmp_path / "differences.csv")
    assert list(diffs["metric"]) == ["revenue", "win_rate"]
    assert (tmp_path / "paired.png").read_bytes().startswith(PNG)
    assert len(pd.read_csv(tmp_path / "reference_replications.csv")) == 3


# --------------------------------------------------------------------------- sweep
def test_sweep_writes_tables_and_the_frontier_charts(tmp_path):
    res = invoke("sweep", BASE, "--param", "qualification.threshold=0.35:0.55:3", "-n", "3",
                 "--workers", "2", *short_args(), "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    points = pd.read_csv(tmp_path / "sweep_points.csv")
    assert list(points["qualification.threshold"]) == pytest.approx([0.35, 0.45, 0.55])
    for col in ("p_target", "revenue_mean", "opportunities", "win_rate", "no_decision_rate"):
        assert points[col].notna().all(), col
    assert points["delta_revenue"].iloc[0] == 0
    # more demanding qualification pursues fewer opportunities (same buyers in every point)
    assert points["opportunities"].is_monotonic_decreasing
    reps = pd.read_csv(tmp_path / "sweep_replications.csv")
    assert len(reps) == 9 and set(reps["point"]) == {0, 1, 2}
    # common random numbers: every point ran the same replication seeds
    assert reps.groupby("point")["seed"].apply(tuple).nunique() == 1
    for name in ("sweep_frontier.png", "sweep_tradeoff.png"):
        assert (tmp_path / "charts" / name).read_bytes().startswith(PNG)
    if _has_pyarrow():
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "sweep_points.parquet"), points, check_dtype=False
        )


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_sweep_grid_of_two_and_latin_hypercube(tmp_path):
    res = invoke("sweep", BASE, "--param", "reps.count=12:16:2", "--param",
                 "qualification.threshold=0.4:0.5:2", "-n", "2", "--workers", "1", *short_args(),
                 "--out", tmp_path / "grid")  # fmt: skip
    assert res.exit_code == 0, res.output
    points = pd.read_csv(tmp_path / "grid" / "sweep_points.csv")
    assert len(points) == 4 and set(points["reps.count"]) == {12, 16}
    for name in ("heatmap_p_target", "heatmap_revenue", "scatter"):
        assert (tmp_path / "grid" / "charts" / f"sweep_{name}.png").exists()
    res = invoke("sweep", BASE, "--param", "reps.count=12:16", "--param",
                 "qualification.threshold=0.4:0.5", "--lhs", "3", "-n", "2", "--workers", "1",
                 *short_args(), "--out", tmp_path / "lhs")  # fmt: skip
    assert res.exit_code == 0, res.output
    points = pd.read_csv(tmp_path / "lhs" / "sweep_points.csv")
    assert len(points) == 3 and points["reps.count"].between(12, 16).all()
    assert (tmp_path / "lhs" / "charts" / "sweep_scatter.png").exists()


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("qualification.threshold=0.9:0.3:3", "HIGH"),
        ("qualification.threshold=abc", "must look like"),
        ("qualification.threshold=0.3:0.9", "missing the number"),
        ("qualification.treshold=0.3:0.5:2", "did you mean 'threshold'"),
        ("qualification.threshold=0.5:1.5:3", "qualification.threshold"),
        ("qualification.policy=0:1:2", "not a number"),
    ],
    ids=["reversed", "syntax", "no_count", "unknown_path", "out_of_bounds", "not_numeric"],
)
def test_sweep_bad_input_exits_2(tmp_path, param, message):
    res = invoke("sweep", BASE, "--param", param, "-n", "2", "--out", tmp_path)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "sweep_points.csv").exists()


# --------------------------------------------------------------------------- sensitivity
def test_sensitivity_writes_tornado_and_sobol(tmp_path):
    res = invoke("sensitivity", BASE, "--param", "reps.count", "--param",
                 "qualification.threshold=0.35:0.55", "-n", "3", "--samples", "2",
                 "--sobol-replications", "2", "--workers", "2", *short_args(),
                 "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Sobol total indices" in res.output
    tornado = pd.read_csv(tmp_path / "tornado.csv")
    assert len(tornado) == 4 and set(tornado["side"]) == {"low", "high"}
    counts = tornado[tornado["factor"] == "reps.count"].set_index("side")["values"]
    assert (float(counts["low"]), float(counts["high"])) == (12, 18)  # 15 reps ±20%
    # a stricter threshold costs revenue against the scenario as given (paired)
    high = tornado[(tornado["factor"] == "qualification.threshold") & (tornado["side"] == "high")]
    assert high["delta_revenue"].iloc[0] < 0
    sobol = pd.read_csv(tmp_path / "sobol.csv")
    assert len(sobol) == 4 and set(sobol["output"]) == {"p_target", "revenue"}
    assert len(pd.read_csv(tmp_path / "sobol_points.csv")) == 2 * (2 + 2)
    for name in ("tornado.png", "sobol.png"):
        assert (tmp_path / "charts" / name).read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("segments.*.nothing", "no such number"),
        ("reps.count=18:12", "HIGH"),
        ("qualification.policy", "not a number"),
        ("qualification.threshold=0.5:1.5", "qualification.threshold"),
    ],
)
def test_sensitivity_bad_input_exits_2(tmp_path, param, message):
    res = invoke("sensitivity", BASE, "--param", param, "-n", "2", "--samples", "0",
                 "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_commands_run_as_a_module():
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "pipesim.cli", "sweep", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0 and "--lhs" in res.stdout
