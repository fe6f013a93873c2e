"""The studio's parts without a browser: levers, what-ifs, saving, paths, catalogue, token, CLI."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.runs import database, discussion
from pipesim.runs.catalogue import list_runs, record_run
from pipesim.runs.stream import iterate
from pipesim.scenario.errors import ScenarioError
from pipesim.studio import figures
from pipesim.studio.files import FileError, inside, scenario_files
from pipesim.studio.levers import HIRES, LeverError, lever_at, panel, scenario_changes
from pipesim.studio.whatif import SaveError, build, problems_text, save

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"

SMALL = """\
extends: baseline.yaml
name: small
description: The baseline over twelve weeks, for quick studio tests.
target: {revenue: 2350000, horizon_weeks: 12}
prehistory_days: 120
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A scenario folder with the baseline and a twelve-week scenario extending it."""
    f = tmp_path / "scenarios"
    f.mkdir()
    (f / "baseline.yaml").write_text(BASELINE.read_text(encoding="utf-8"), encoding="utf-8")
    (f / "small.yaml").write_text(SMALL, encoding="utf-8")
    return f


@pytest.fixture(scope="module")
def baseline() -> pipesim.Scenario:
    return pipesim.load_scenario(BASELINE)


# --------------------------------------------------------------------------- levers
def test_panel_is_generated_from_the_schema(baseline: pipesim.Scenario) -> None:
    levers = {lv.path: lv for lv in panel(baseline)}
    count = levers["reps.count"]
    assert (count.kind, count.value, count.minimum, count.maximum) == ("integer", 15, 1, 1000)
    assert count.description.startswith("Number of rep seats")
    for name in baseline.campaigns:
        lv = levers[f"campaigns.{name}.budget_per_week"]
        assert lv.unit == "EUR per week" and lv.value == baseline.campaigns[name].budget_per_week
    threshold = levers["qualification.threshold"]
    assert (threshold.minimum, threshold.maximum) == (0, 1)
    assert levers["qualification.policy"].choices == ("discretion", "pursue_all", "threshold")
    assert "flank" in levers["flanking.policy"].choices
    assert set(levers["leads.follow_up"].choices) >= {"fifo", "inbound_first"}
    assert (
        levers["reps.admin_share"].exclusive_max
        and "below 1" in levers["reps.admin_share"].bounds_text
    )
    assert levers[HIRES].value == 0


def test_any_numeric_parameter_can_be_added_by_path(baseline: pipesim.Scenario) -> None:
    lv = lever_at(baseline, "segments.S1.buyers_per_week")
    assert lv.value == 22 and lv.kind == "number" and lv.minimum is not None
    with pytest.raises(LeverError, match="not a number"):
        lever_at(baseline, "segments.S1.description")
    with pytest.raises(LeverError, match=r"segments\.S9"):
        lever_at(baseline, "segments.S9.buyers_per_week")


def test_hires_become_members_that_ramp_up(baseline: pipesim.Scenario) -> None:
    levers = {lv.path: lv for lv in panel(baseline)}
    values = {p: lv.value for p, lv in levers.items()}
    values.update({HIRES: 3, "reps.count": 16})
    changes = scenario_changes(baseline, levers, values)
    assert "reps.count" not in changes
    members = changes["reps.members"]
    assert len(members) == 19 and [m.get("tenure_weeks") for m in members[-3:]] == [0.0] * 3
    scenario = build(baseline, changes)
    assert scenario.reps.seats == 19
    assert scenario.reps.members is not None and scenario.reps.members[-1].tenure_weeks == 0


def test_new_hires_must_be_a_whole_number_in_bounds(baseline: pipesim.Scenario) -> None:
    levers = {lv.path: lv for lv in panel(baseline)}
    for bad in (-1, 2.5, 986):
        with pytest.raises(LeverError, match="hires: must be a whole number from 0 to 985"):
            scenario_changes(baseline, levers, {HIRES: bad})


def test_unchanged_levers_make_no_changes(baseline: pipesim.Scenario) -> None:
    levers = {lv.path: lv for lv in panel(baseline)}
    values = {p: lv.value for p, lv in levers.items()}
    assert scenario_changes(baseline, levers, values) == {}
    values["campaigns.webinars.budget_per_week"] = 4000.0
    assert scenario_changes(baseline, levers, values) == {
        "campaigns.webinars.budget_per_week": 4000.0
    }


def test_a_refused_value_gives_the_schemas_message(baseline: pipesim.Scenario) -> None:
    with pytest.raises(ScenarioError) as exc:
        build(baseline, {"reps.count": -4})
    assert problems_text(exc.value) == ["reps.count: must be between 1 and 1000 (got -4)"]


# --------------------------------------------------------------------------- files
def test_paths_stay_inside_the_scenario_folder(folder: Path, tmp_path: Path) -> None:
    assert inside(folder, "small.yaml") == (folder / "small.yaml").resolve()
    outside = tmp_path / "secret.yaml"
    outside.write_text("name: secret\n", encoding="utf-8")
    (folder / "link.yaml").symlink_to(outside)
    for bad in ("../secret.yaml", str(outside), "/etc/passwd.yaml", "link.yaml", "x.txt", ""):
        with pytest.raises(FileError):
            inside(folder, bad)
    assert scenario_files(folder) == ["baseline.yaml", "small.yaml"]


# --------------------------------------------------------------------------- saving
def test_a_saved_what_if_extends_the_reference_and_holds_only_the_changes(folder: Path) -> None:
    changes = {"reps.count": 18, "campaigns.webinars.budget_per_week": 4000.0}
    saved = save(folder, "small.yaml", "more_reps", "Ana <b>", "three more\n# not yaml: {", changes)
    text = saved.file.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert set(data) == {"extends", "name", "description", "reps", "campaigns"}
    assert data["extends"] == "small.yaml" and data["name"] == "more_reps"
    assert data["reps"] == {"count": 18}
    assert data["campaigns"] == {"webinars": {"budget_per_week": 4000.0}}
    assert "Ana <b>" in data["description"]
    result = CliRunner().invoke(main, ["validate", str(saved.file)])
    assert result.exit_code == 0, result.output
    loaded = pipesim.load_scenario(saved.file)
    assert loaded.reps.count == 18 and loaded.target.horizon_weeks == 12
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_saving_refuses_bad_names_and_taken_names(folder: Path) -> None:
    changes = {"reps.count": 18}
    for name in ("../escape", "a/b", "", "x" * 61, "-dash"):
        with pytest.raises(SaveError, match="name"):
            save(folder, "small.yaml", name, "Ana", "", changes)
    with pytest.raises(SaveError, match="already exists"):
        save(folder, "small.yaml", "baseline", "Ana", "", changes)
    with pytest.raises(SaveError, match="author"):
        save(folder, "small.yaml", "ok", " ", "", changes)
    with pytest.raises(SaveError, match="nothing changed"):
        save(folder, "small.yaml", "ok", "Ana", "", {})
    with pytest.raises(SaveError, match=r"\.\."):
        save(folder, "../small.yaml", "ok", "Ana", "", changes)


def test_two_sessions_saving_one_name_at_once_overwrite_nothing(folder: Path) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def one(k: int) -> None:
        barrier.wait()
        try:
            save(folder, "small.yaml", "same", f"author{k}", "", {"reps.count": 10 + k})
            outcomes.append(f"saved{k}")
        except SaveError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("saved")]
    assert len(winners) == 1, outcomes
    k = int(winners[0][-1])
    assert yaml.safe_load((folder / "same.yaml").read_text())["reps"] == {"count": 10 + k}
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]


# --------------------------------------------------------------------------- catalogue
def _saved_what_if(name: str) -> discussion.SavedWhatIf:
    return discussion.SavedWhatIf(
        name, f"{name}.yaml", "small.yaml", {"reps.count": 18}, "Ana", "a note", discussion.now()
    )


def test_comments_and_decisions_from_many_writers_are_all_kept(tmp_path: Path) -> None:
    cat = tmp_path / "runs.sqlite"
    discussion.record_what_if(_saved_what_if("w1"), cat)
    barrier = threading.Barrier(4)

    def writer(k: int) -> None:
        barrier.wait()
        for i in range(10):
            discussion.add_comment("w1", f"person{k}", f"comment {k}.{i}", cat)
        discussion.decide("w1", "accepted" if k % 2 else "rejected", f"person{k}", cat)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = discussion.discussion(cat, "w1")
    comments = {e.text for e in entries if e.kind == "comment"}
    assert comments == {f"comment {k}.{i}" for k in range(4) for i in range(10)}
    assert sum(e.kind == "decision" for e in entries) == 4
    standing = discussion.standing_decisions(cat)["w1"]
    assert standing == [e for e in entries if e.kind == "decision"][-1]


def test_discussion_refuses_unknown_what_ifs_and_statuses(tmp_path: Path) -> None:
    cat = tmp_path / "runs.sqlite"
    discussion.record_what_if(_saved_what_if("w1"), cat)
    with pytest.raises(discussion.DiscussionError, match="no saved what-if"):
        discussion.add_comment("nope", "Ana", "hello", cat)
    with pytest.raises(discussion.DiscussionError, match="allowed: proposed, accepted, rejected"):
        discussion.decide("w1", "maybe", "Ana", cat)
    with pytest.raises(discussion.DiscussionError, match="empty"):
        discussion.add_comment("w1", "Ana", "   ", cat)
    with pytest.raises(discussion.DiscussionError, match="already saved"):
        discussion.record_what_if(_saved_what_if("w1"), cat)


def test_a_schema_2_catalogue_is_upgraded_with_its_runs_kept(tmp_path: Path) -> None:
    cat = tmp_path / "runs.sqlite"
    sc = pipesim.load_scenario(BASELINE, overrides=["target.horizon_weeks=4"])
    pipesim.run(sc, 3, 0, 1, out=tmp_path / "run")
    record_run(tmp_path / "run", cat)
    with sqlite3.connect(cat) as con:  # make it what pipesim wrote before the studio
        for table in ("what_ifs", "comments", "decisions"):
            con.execute(f"DROP TABLE {table}")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    assert discussion.list_what_ifs(cat) == []  # read as it is: no studio tables yet
    discussion.record_what_if(_saved_what_if("w1"), cat)  # writing upgrades it
    discussion.add_comment("w1", "Ana", "kept", cat)
    with sqlite3.connect(cat) as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version[0] == str(database.SCHEMA_VERSION) == "3"
    assert len(list_runs(cat)) == 1
    assert [e.text for e in discussion.discussion(cat)] == ["kept"]


def test_history_shows_comments_and_decisions(tmp_path: Path) -> None:
    cat = tmp_path / "runs.sqlite"
    sc = pipesim.load_scenario(BASELINE, overrides=["target.horizon_weeks=4"])
    pipesim.run(sc, 3, 0, 1, out=tmp_path / "run")
    record_run(tmp_path / "run", cat)
    discussion.record_what_if(_saved_what_if("more_reps"), cat)
    discussion.add_comment("more_reps", "Ben", "worth the hires", cat)
    discussion.decide("more_reps", "accepted", "Cleo", cat)
    result = CliRunner().invoke(main, ["history", "--catalogue", str(cat)], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "comment: worth the hires" in out and "decision: accepted" in out
    assert "saved (extends small.yaml: reps.count=18)" in out
    assert out.index("comment: worth") < out.index("decision: accepted")


# --------------------------------------------------------------------------- live figures
def test_a_stream_with_samples_carries_what_pipesim_run_gives(tmp_path: Path) -> None:
    sc = pipesim.load_scenario(BASELINE, overrides=["target.horizon_weeks=6"])
    alt = pipesim.what_if(sc, {"reps.count": 20})
    with iterate(alt, 3, batch=4, workers=1, max_replications=8, reference=sc, samples=True) as s:
        last = list(s)[-1]
    assert last.samples is not None and last.samples.reference_revenue is not None
    run_alt = pipesim.run(alt, 8, 3, 1)
    run_ref = pipesim.run(sc, 8, 3, 1)
    np.testing.assert_allclose(last.samples.revenue, run_alt.table["revenue"])
    np.testing.assert_allclose(last.samples.reference_revenue, run_ref.table["revenue"])
    weeks = int(np.ceil(sc.target.horizon_weeks))
    assert last.samples.bookings.shape == (8, weeks)
    final = run_alt.bookings[run_alt.bookings["week"] == run_alt.bookings["week"].max()]
    np.testing.assert_allclose(last.samples.bookings[:, -1], final["cumulative_bookings"])


def test_quantile_interval_brackets_the_quantile() -> None:
    rng = np.random.default_rng(1)
    misses = 0
    for _ in range(400):
        i = figures.quantile_interval(rng.normal(size=200), 0.1)
        misses += not (i.low <= -1.2815515655446004 <= i.high)
        assert i.low <= i.estimate <= i.high
    assert misses / 400 < 0.1  # 95% nominal; 400 draws


# --------------------------------------------------------------------------- command line
def test_studio_help_and_bad_input_exit_2(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["studio", "--help"])
    assert result.exit_code == 0 and "--token" in result.output and "--host" in result.output
    result = runner.invoke(main, ["studio", str(folder / "nope")])
    assert result.exit_code == 2 and "not a folder" in result.output
    result = runner.invoke(main, ["studio", str(folder), "--token", "short"])
    assert result.exit_code == 2 and "at least 16 characters" in result.output
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "shiny" else real(name, *a)
    )
    result = runner.invoke(main, ["studio", str(folder)])
    assert result.exit_code == 2 and "pip install 'pipesim[studio]'" in result.output


def test_another_host_needs_a_token() -> None:
    pytest.importorskip("shiny")
    from pipesim.studio.serve import HostError, check_host, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    check_host("127.0.0.1", None)
    check_host("0.0.0.0", "x" * 20)
    with pytest.raises(HostError, match="access token"):
        check_host("0.0.0.0", None)


def test_catalogue_env_is_private() -> None:
    assert "PIPESIM_CATALOGUE" in os.environ  # conftest: tests never write reports/runs.sqlite


def test_a_live_run_refines_and_a_cancel_stops_it() -> None:
    from pipesim.studio.live import LiveRun, Settings

    sc = pipesim.load_scenario(BASELINE, overrides=["target.horizon_weeks=6"])
    alt = pipesim.what_if(sc, {"reps.count": 20})
    live = LiveRun(alt, Settings(replications=100_000, batch=4, workers=1), reference=sc)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while len(set(seen)) < 2 and time.monotonic() < deadline:
        snap = live.snapshot()
        if snap.estimate is not None:
            seen.append(snap.estimate.replications)
        time.sleep(0.02)
    assert len(set(seen)) >= 2 and sorted(seen) == seen  # refined batch by batch
    live.cancel()
    assert live.wait(10)
    snap = live.snapshot()
    assert snap.cancelled and not snap.running and snap.error is None
    assert snap.estimate is not None and snap.estimate.replications < 100_000
    assert snap.estimate.difference is not None and snap.estimate.samples is not None
