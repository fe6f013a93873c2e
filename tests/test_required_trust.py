"""Answers that say how sure they are.

``required`` resolves its answer or says it could not; the report's "new opportunities needed" is
the same measure; sweeps and the tornado print their intervals and flag changes their
replications cannot resolve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim.cli.main import main as main_cli
from pipesim.cli.optimise import cli as optimise_cli
from pipesim.cli.research import cli as research_cli
from pipesim.experiments.sensitivity import Factor, ResolvedFactor, effect_note, tornado_table
from pipesim.optimise.levers import apply_overlay
from pipesim.optimise.required import Resolution, required
from pipesim.optimise.required_text import message
from pipesim.runs.answers import REQUIRED_FILE
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
YEAR_END = ROOT / "scenarios" / "year_end_push.yaml"
BASE = ROOT / "scenarios" / "research" / "research_base.yaml"
SHORT = ["--set", "target.horizon_weeks=6", "--set", "target.revenue=1500000"]
LEVER = "new_opportunities_per_rep_week"


@pytest.fixture(scope="module")
def small_search():
    """20 replications per value, up to 80 at the answer and the step below (grid step 0.5)."""
    scenario = load_scenario(YEAR_END)
    result = required(
        scenario, LEVER, replications=20, seed=0, workers=2, step=0.5, max_replications=80
    )
    return scenario, result


# --------------------------------------------------------------------------- required
def test_required_adds_replications_continuing_the_same_seeds(small_search):
    scenario, r = small_search
    a, b, res = r.answer, r.below, r.resolution
    assert a is not None and b is not None and res is not None
    # 20 replications do not resolve the answer (its interval is about +-15 points wide), so
    # replications were added at the answer and the step below
    assert a.replications == b.replications == res.replications > 20
    assert r.today.replications == 20 and max(e.replications for e in r.evaluations) <= 80
    # the rule: resolved when the answer's interval is at/above the confidence and the step
    # below's under it; otherwise the limit was reached and the text says which way it may move
    assert res.higher == (a.p_target["ci_low"] < r.confidence)
    assert res.lower == (b.p_target["ci_high"] >= r.confidence)
    assert res.resolved == (not res.higher and not res.lower)
    if not res.resolved:
        assert res.replications == 80
        assert res.text().startswith(
            "not resolved at the limit of 80 replications: the answer could be one step "
        )
    assert res.text() in message(r)
    # the added replications continue the seed sequence: the same as one run of that many
    what_if = apply_overlay(
        scenario, {"leads": {"outbound": {"opportunities_per_rep_week": a.value}}}
    )
    direct = run(what_if, a.replications, seed=0, workers=2)
    assert a.p == direct.summary["p_target"]["estimate"]
    assert a.p_target["ci_low"] == pytest.approx(direct.summary["p_target"]["ci_low"])
    assert a.revenue_mean == pytest.approx(direct.summary["revenue"]["mean"])
    est, lo, hi = res.difference
    assert lo <= est <= hi and est == pytest.approx(a.p - b.p)


def test_resolution_says_resolved_or_which_way_at_the_limit():
    assert Resolution(True, 1600, 3200, False, False).text() == "resolved with 1,600 replications"
    both = Resolution(False, 3200, 3200, True, True)
    assert both.text() == (
        "not resolved at the limit of 3,200 replications: the answer could be one step lower "
        "or higher"
    )
    assert Resolution(False, 400, 400, False, True).text().endswith("one step higher")
    assert Resolution(False, 400, 400, True, False).as_dict()["could_be_one_step_lower"]


def test_required_command_reports_resolution_on_console_and_in_json(tmp_path):
    out = tmp_path / "required.json"
    args = ["required", str(YEAR_END), "--lever", LEVER, "-n", "20", "--step", "0.5"]
    res = CliRunner().invoke(
        optimise_cli,
        [*args, "--max-replications", "20", "--workers", "2", "--quiet", "--json", str(out)],
    )
    assert res.exit_code == 0, res.output
    limit = "not resolved at the limit of 20 replications: the answer could be one step"
    assert limit in res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["resolution"]["resolved"] is False
    assert data["resolution"]["text"].startswith(limit)
    assert data["answer"]["p_target"] >= 0.8 > data["below"]["p_target"]
    # fewer allowed than asked for is bad input
    res = CliRunner().invoke(optimise_cli, [*args, "--max-replications", "10"])
    assert res.exit_code == 2 and "--max-replications (10) must be at least" in res.output
    assert "Traceback" not in res.output


def test_required_keeps_its_answer_and_the_run_report_shows_it(tmp_path, monkeypatch):
    """`pipesim required` then `pipesim run` of the same scenario: the card is the answer."""
    monkeypatch.chdir(tmp_path)  # both commands use the default run folder reports/<name>/
    args = [str(YEAR_END), "--lever", LEVER, "-n", "20", "--max-replications", "40",
            "--step", "0.5", "--workers", "1", "--seed", "0", "--quiet"]  # fmt: skip
    res = CliRunner().invoke(optimise_cli, ["required", *args])
    assert res.exit_code == 0, res.output
    kept = tmp_path / "reports" / "year_end_push" / REQUIRED_FILE
    assert f"kept for the run report: {Path('reports') / 'year_end_push' / REQUIRED_FILE}" in (
        res.output
    )
    answer = json.loads(kept.read_text(encoding="utf-8"))
    assert answer["answer"] is not None
    res = CliRunner().invoke(
        main_cli, ["run", str(YEAR_END), "-n", "20", "--workers", "1", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    html = (tmp_path / "reports" / "year_end_push" / "report.html").read_text(encoding="utf-8")
    card = re.search(r'id="indicator-2">(.*?)</div>', html, re.S)
    assert card is not None
    text = re.sub(r"<[^>]+>", " ", card.group(1))
    needed = answer["answer"]["new_opportunities_per_rep_week"]
    assert f"{needed:.1f}/rep/wk" in text and "out of date" not in text
    # the same measure: today's rate in the answer is the run's own column at today's value
    today = pd.read_csv(tmp_path / "reports" / "year_end_push" / "replications.csv")
    assert answer["today"]["new_opportunities_per_rep_week"] == pytest.approx(
        today["new_opportunities_per_rep_week"].mean()
    )
    # a what-if of the scenario is another folder: its report does not claim the answer
    res = CliRunner().invoke(
        main_cli,
        ["run", str(YEAR_END), "-n", "5", "--workers", "1", "--quiet",
         "--set", "target.revenue=4000000"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not any(
        (p / REQUIRED_FILE).exists()
        for p in (tmp_path / "reports").iterdir()
        if p.name != "year_end_push"
    )


# --------------------------------------------------------------------------- sweep / tornado
def test_sweep_prints_each_points_interval(tmp_path):
    res = CliRunner().invoke(
        research_cli,
        ["sweep", str(BASE), "--param", "qualification.threshold=0.35:0.55:3", "-n", "3",
         "--workers", "1", *SHORT, "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "P(target) (95% CI)" in res.output and "paired 95% CI" in res.output
    points = pd.read_csv(tmp_path / "sweep_points.csv")
    for p in points.itertuples(index=False):
        shown = f"{100 * p.p_target:.1f}% ({100 * p.p_target_low:.1f}-{100 * p.p_target_high:.1f}%)"
        assert shown in res.output
    assert len(re.findall(r"[+-]\d+\.\d pp \([+-]\d+\.\d to [+-]\d+\.\d\)", res.output)) == 2


def _tornado_input(n: int, changed: int) -> pd.DataFrame:
    """A base and one factor's two ends over ``n`` paired replications.

    The high end reaches the target in ``changed`` more replications than the base, the low end
    in the same ones.
    """
    base_hit = np.arange(n) % 2 == 0
    high_hit = base_hit.copy()
    high_hit[np.flatnonzero(~base_hit)[:changed]] = True
    rng = np.random.default_rng(0)
    revenue = rng.normal(1e6, 2e5, n)
    rows = []
    for point, hit, rev in (
        ("base", base_hit, revenue),
        ((0, "low"), base_hit, revenue),
        ((0, "high"), high_hit, revenue + 50_000 + rng.normal(0, 1e3, n)),
    ):
        rows += [
            {"point": point, "replication": i, "hit_target": bool(hit[i]), "revenue": rev[i]}
            for i in range(n)
        ]
    return pd.DataFrame(rows)


def test_tornado_marks_changes_the_sample_cannot_resolve():
    factor = ResolvedFactor(Factor("reps.count", "team size (reps)"), (("reps.count", 15.0, True),))
    # 20 replications where none crossed the target differently: +0.0 pp, not resolved
    small = tornado_table(_tornado_input(20, 0), [factor]).set_index("side")
    assert small.loc["high", "delta_p_target"] == 0.0
    assert small.loc["high", "delta_p_target_note"] == "not resolved at n=20"
    assert small.loc["high", "delta_revenue_note"] == ""  # +50k against noise of 1k: resolved
    # 200 replications, 38 more reach the target: +19 pp, resolved
    large = tornado_table(_tornado_input(200, 38), [factor]).set_index("side")
    assert large.loc["high", "delta_p_target"] == pytest.approx(0.19)
    assert large.loc["high", "delta_p_target_note"] == ""
    assert large.loc["low", "delta_p_target_note"] == "not resolved at n=200"  # exactly 0
    # an interval wider than the change, or one including 0, is not resolved either
    assert effect_note(0.2, 0.02, 0.38, 20) == "not resolved at n=20"
    assert effect_note(0.05, -0.01, 0.11, 100) == "not resolved at n=100"
    assert effect_note(float("nan"), float("nan"), float("nan"), 1) == "not resolved at n=1"


def test_sensitivity_prints_paired_intervals_and_unresolved_changes(tmp_path):
    res = CliRunner().invoke(
        research_cli,
        ["sensitivity", str(BASE), "--param", "reps.count", "-n", "3", "--samples", "0",
         "--workers", "1", *SHORT, "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    tornado = pd.read_csv(tmp_path / "tornado.csv", keep_default_na=False)
    assert set(tornado["delta_p_target_note"]) == {"not resolved at n=3"}
    for r in tornado.itertuples(index=False):
        lo, hi = 100 * r.delta_p_target_low, 100 * r.delta_p_target_high
        assert (
            f"P(target) {100 * r.delta_p_target:+.1f} pp ({lo:+.1f} to {hi:+.1f}, "
            "not resolved at n=3)"
        ) in res.output
    meta = json.loads((tmp_path / "sensitivity.json").read_text(encoding="utf-8"))
    assert {(x["side"], x["output"]) for x in meta["not_resolved"]} >= {
        ("low", "p_target"),
        ("high", "p_target"),
    }
