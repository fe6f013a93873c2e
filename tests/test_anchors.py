"""The calibration table: tuned rows, held-out rows with their gaps, the command's output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.engine.model import LOST, NO_DECISION, WON, simulate
from pipesim.results.anchors import (
    ANCHORS,
    HELD_OUT,
    HELD_OUT_FIGURES,
    RESPONSE_RATIOS,
    TUNED,
    HeldOut,
    anchor_table,
    to_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


@pytest.fixture(scope="module")
def baseline() -> tuple[pipesim.Scenario, pd.DataFrame]:
    sc = pipesim.load_scenario(BASELINE)
    res = pipesim.run(sc, replications=12, seed=2, workers=1)
    return sc, anchor_table(res.table, sc)


def test_rows_are_marked_tuned_or_held_out(
    baseline: tuple[pipesim.Scenario, pd.DataFrame],
) -> None:
    _, df = baseline
    assert list(df["kind"]) == [TUNED] * len(ANCHORS) + [HELD_OUT] * len(HELD_OUT_FIGURES)
    held = df[df["kind"] == HELD_OUT].set_index("figure")
    assert held.loc["won share of forecast opportunities", "published_low"] == 0.473
    assert held.loc["no-decision share of forecast opportunities", "published_low"] == 0.207
    assert held.loc["lost-to-competitor share of forecast opportunities", "published_low"] == 0.32
    group = held.loc["mean buying group (people, leads that reached us)"]
    assert (group["published_low"], group["published_high"]) == (6.0, 10.0)
    # held-out rows carry no pass mark; tuned rows do
    assert held["passes"].isna().all()
    assert df.loc[df["kind"] == TUNED, "passes"].map(type).eq(bool).all()


def test_gap_is_simulated_minus_published_with_its_interval(
    baseline: tuple[pipesim.Scenario, pd.DataFrame],
) -> None:
    _, df = baseline
    for r in df.itertuples():
        assert r.ci_low <= r.simulated <= r.ci_high, r.figure
        assert r.gap_low <= r.gap <= r.gap_high, r.figure
        if r.published_low == r.published_high:  # a point figure
            assert r.gap == pytest.approx(r.simulated - r.published_low)
            assert r.gap_low == pytest.approx(r.ci_low - r.published_low)
            assert r.gap_high == pytest.approx(r.ci_high - r.published_low)
        else:  # a range: the gap is to its nearest end, 0 inside
            inside = r.published_low <= r.simulated <= r.published_high
            assert (r.gap == 0.0) == inside
    # the three CSO shares partition the forecast opportunities
    held = df[df["kind"] == HELD_OUT].set_index("figure")["simulated"]
    assert held.iloc[:3].sum() == pytest.approx(1.0)


def test_range_gap_is_distance_to_nearest_end() -> None:
    fig = HeldOut("x", 6.0, 10.0, "s")
    assert fig.gap(5.5) == pytest.approx(-0.5)
    assert fig.gap(7.0) == 0.0
    assert fig.gap(10.25) == pytest.approx(0.25)
    assert HeldOut("p", 0.32, 0.32, "s").gap(0.22) == pytest.approx(-0.1)


def test_held_out_shares_use_the_forecast_opportunities_of_the_tuned_rows() -> None:
    """Recomputed from each replication's per-lead records: pursued and resolved in the horizon."""
    sc = pipesim.load_scenario(BASELINE)
    res = pipesim.run(sc, replications=4, seed=9, workers=1)
    df = anchor_table(res.table, sc)
    held = df[df["kind"] == HELD_OUT].set_index("figure")
    tuned = df[df["kind"] == TUNED].set_index("figure")
    counts = np.zeros(3)
    group_sum = leads = 0.0
    for seed in res.table["seed"]:
        m = simulate(sc, int(seed))
        resolved = m.pursued & np.isin(m.status, (WON, LOST, NO_DECISION))
        counts += [(resolved & (m.status == s)).sum() for s in (WON, NO_DECISION, LOST)]
        group_sum += float(m.leads.group_size.sum())
        leads += len(m.leads)
    shares = counts / counts.sum()
    names = [f.name for f in HELD_OUT_FIGURES]
    for name, share in zip(names[:3], shares, strict=True):
        assert held.loc[name, "simulated"] == pytest.approx(share, rel=1e-12), name
    assert held.loc[names[3], "simulated"] == pytest.approx(group_sum / leads, rel=1e-12)
    # the tuned not-won row is one minus the held-out won share (same opportunities)
    assert tuned.loc["forecast opportunities not won", "simulated"] == pytest.approx(1 - shares[0])
    assert tuned.loc[names[1], "simulated"] == pytest.approx(shares[1])


def test_without_the_scenario_the_buying_group_row_is_left_out_and_said() -> None:
    sc = pipesim.load_scenario(BASELINE)
    res = pipesim.run(sc, replications=3, seed=1, workers=1)
    df = anchor_table(res.table)
    assert len(df[df["kind"] == HELD_OUT]) == 3
    assert "buying group not measured" in to_markdown(df)


def test_markdown_shows_both_sets(baseline: tuple[pipesim.Scenario, pd.DataFrame]) -> None:
    _, df = baseline
    text = to_markdown(df)
    lines = text.splitlines()
    tuned = [ln for ln in lines if ln.startswith("| tuned |")]
    held = [ln for ln in lines if ln.startswith("| held out |")]
    assert len(tuned) == len(ANCHORS) and len(held) == len(HELD_OUT_FIGURES)
    assert text.index("Tuned") < text.index("Held out")
    lost = next(ln for ln in held if "lost-to-competitor" in ln)
    cells = [c.strip() for c in lost.strip("|").split("|")]
    row = (
        df[df["kind"] == HELD_OUT]
        .set_index("figure")
        .loc["lost-to-competitor share of forecast opportunities"]
    )
    assert cells[2] == "0.320"
    assert cells[5] == f"{row['gap']:+.3f}"
    assert cells[6] == f"{row['gap_low']:+.3f} to {row['gap_high']:+.3f}"
    assert "| 6-10 |" in text


def test_anchors_command_prints_held_out_rows_and_judges_only_tuned_ones() -> None:
    result = CliRunner().invoke(
        main,
        ["anchors", str(BASELINE), "-n", "30", "--seed", "3", "--workers", "1",
         "--response-replications", "40"],
    )  # fmt: skip
    # the lost-to-competitor share is far from its held-out figure; that is reported, not failed
    assert result.exit_code == 0, result.output
    held_response = sum(r.kind == HELD_OUT for r in RESPONSE_RATIOS)
    assert result.output.count("| held out |") == len(HELD_OUT_FIGURES) + held_response
    assert result.output.count("| tuned |") == len(ANCHORS) + len(RESPONSE_RATIOS) - held_response
    lost = next(ln for ln in result.output.splitlines() if "lost-to-competitor" in ln)
    gap = float(lost.split("|")[6])
    assert not math.isnan(gap) and gap < -0.05
