"""What-ifs are not the forecast: own folders, variant records, separate drift lines, labels.

Also: a run whose stdout is closed early (``pipesim run ... | head``) still writes its report
and catalogue entry.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pipesim.cli.main import main
from pipesim.report import load_run
from pipesim.report.answer import headline_words
from pipesim.report.context import drift_records
from pipesim.report.drift import VERSION_NOTE, drift_figure, load_runs, same_settings
from pipesim.runs import database
from pipesim.runs.catalogue import list_runs, rebuild, record_run
from pipesim.runs.database import SCHEMA_VERSION
from pipesim.runs.records import RunSettings

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
QUICK = ["-n", "6", "--workers", "1", "--quiet"]


def scenario_file(folder: Path, revenue: int = 700_000) -> Path:
    """A small scenario (named baseline) with two open deals of its own."""
    path = folder / "tiny.yaml"
    path.write_text(
        f"extends: {BASELINE}\n"
        f"target: {{horizon_weeks: 4, revenue: {revenue}}}\n"
        "reps: {count: 4}\n"
        "open_pipeline:\n"
        "  - {id: d1, segment: S1, stage: preference}\n"
        "  - {id: d2, segment: S2, stage: interest}\n",
        encoding="utf-8",
    )
    return path


def cli(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def flat(text: str) -> str:
    return " ".join(text.split())


def variant_of(*overrides: str, **paths: Path) -> str:
    v = RunSettings.of(overrides, **paths).variant
    assert v is not None
    return v


# --------------------------------------------------------------------------- folders and records
def test_what_if_gets_its_own_folder_and_leaves_the_forecast_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc, cat = scenario_file(tmp_path), tmp_path / "runs.sqlite"
    cli("run", sc, *QUICK, "--catalogue", cat)
    forecast = tmp_path / "reports" / "baseline"
    before = (forecast / "summary.json").read_bytes()

    out = cli("run", sc, *QUICK, "--catalogue", cat, "--set", "reps.count=6").output
    folder = Path("reports") / f"baseline--{variant_of('reps.count=6')}"
    assert f"results in {folder}/" in flat(out)
    assert json.loads((tmp_path / folder / "summary.json").read_text())["replications"] == 6
    assert (tmp_path / folder / "report.html").is_file()
    assert (forecast / "summary.json").read_bytes() == before  # the forecast is untouched
    assert "count: 4" in (forecast / "scenario.yaml").read_text()
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "baseline",
        folder.name,
    ]
    # an explicit --out still wins, and the run is still recorded as a what-if
    cli("run", sc, *QUICK, "--catalogue", cat, "--set", "reps.count=6", "--out", "mine")
    manifest = json.loads((tmp_path / "mine" / "run.json").read_text())
    assert manifest["variant"] == {"id": folder.name[-8:], "overrides": ["reps.count=6"]}


def test_what_if_is_recorded_as_a_variant_and_listed_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc, cat = scenario_file(tmp_path), tmp_path / "runs.sqlite"
    cli("run", sc, *QUICK, "--catalogue", cat, "--note", "plan")
    out = cli("run", sc, *QUICK, "--catalogue", cat,
              "--set", "reps.count = 6", "--set", "qualification.threshold=0.5").output  # fmt: skip
    forecast, what_if = list_runs(cat)
    vid = variant_of("qualification.threshold=0.5", "reps.count=6")
    assert forecast.scenario == what_if.scenario == "baseline"
    assert forecast.variant is None and forecast.overrides == () and forecast.what_if == ""
    assert what_if.variant == vid
    assert what_if.overrides == ("qualification.threshold=0.5", "reps.count=6")
    assert what_if.what_if == "what-if: qualification.threshold=0.5, reps.count=6"
    assert f"what-if {vid}" in out
    with sqlite3.connect(cat) as con:
        row = con.execute("SELECT variant, overrides FROM runs WHERE id = 2").fetchone()
    assert row == (vid, '["qualification.threshold=0.5", "reps.count=6"]')

    listed = flat(cli("history", "--catalogue", cat).output)
    assert "what-if" in listed and f"{vid}: qualification.threshold=0.5," in listed
    only = cli("history", "--catalogue", cat, "--variant", vid.upper()).output
    assert what_if.short_id in only and forecast.short_id not in only

    # the settings are in the run folders too: a rebuild keeps them
    rebuilt = rebuild(tmp_path / "reports", tmp_path / "rebuilt.sqlite").records
    assert [(r.variant, r.overrides) for r in rebuilt] == [
        (None, ()),
        (vid, ("qualification.threshold=0.5", "reps.count=6")),
    ]


def test_plan_and_another_pipeline_are_what_ifs_the_own_pipeline_is_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc, cat = scenario_file(tmp_path), tmp_path / "runs.sqlite"
    same = tmp_path / "same.csv"
    same.write_text("id,segment,stage\nd1,S1,preference\nd2,S2,interest\n")
    other = tmp_path / "other.csv"
    other.write_text("id,segment,stage\nd1,S1,decision\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text("reps: {count: 5}\n")
    cli("run", sc, *QUICK, "--catalogue", cat, "--pipeline", same)
    cli("run", sc, *QUICK, "--catalogue", cat, "--pipeline", other)
    cli("run", sc, *QUICK, "--catalogue", cat, "--plan", plan)
    own, piped, planned = list_runs(cat)
    assert own.variant is None and own.pipeline is None
    assert own.folder == str((tmp_path / "reports" / "baseline").resolve())
    assert piped.variant == variant_of(pipeline=other)
    assert piped.pipeline == str(other.resolve()) and piped.plan is None
    assert piped.what_if == "what-if: pipeline other.csv"
    assert planned.variant == variant_of(plan=plan) and planned.plan == str(plan.resolve())
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(
        ["baseline", f"baseline--{piped.variant}", f"baseline--{planned.variant}"]
    )


# --------------------------------------------------------------------------- schema upgrade
_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, finished_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL, scenario TEXT NOT NULL, scenario_sha256 TEXT NOT NULL,
    scenario_yaml TEXT NOT NULL, seed INTEGER NOT NULL, replications INTEGER NOT NULL,
    p_target REAL, p_target_low REAL, p_target_high REAL, revenue_p10 REAL, revenue_p50 REAL,
    revenue_p90 REAL, revenue_mean REAL, target REAL, currency TEXT, horizon_weeks REAL,
    partial INTEGER NOT NULL DEFAULT 0, note TEXT, folder TEXT NOT NULL, pipesim_version TEXT
);
CREATE INDEX runs_by_scenario ON runs (scenario, finished_at);
CREATE INDEX runs_by_folder ON runs (folder);
INSERT INTO meta VALUES ('application', 'pipesim run catalogue'), ('schema_version', '1'),
    ('created_at', '2026-01-05T09:00:00+00:00');
INSERT INTO runs (key, finished_at, recorded_at, scenario, scenario_sha256, scenario_yaml, seed,
    replications, p_target, p_target_low, p_target_high, partial, note, folder)
VALUES ('ab12cd34ef', '2026-01-05T09:00:00+00:00', '2026-01-05T09:00:01+00:00', 'baseline',
    'f00d', 'name: baseline', 0, 400, 0.54, 0.49, 0.59, 0, 'plan as approved', '/old/run');
"""


def _catalogue_v1(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.executescript(_SCHEMA_1)
    return path


def _meta_version(path: Path) -> str:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


def test_catalogue_of_schema_1_is_upgraded_and_keeps_its_runs(tmp_path, monkeypatch):
    assert SCHEMA_VERSION == 3
    # a reader that cannot write the file still reads it as it is
    readonly = _catalogue_v1(tmp_path / "readonly.sqlite")

    def refuse(con):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    with monkeypatch.context() as m:
        m.setattr(database, "_migrate", refuse)
        (old,) = list_runs(readonly)
        assert old.note == "plan as approved" and old.variant is None and old.overrides == ()
    assert _meta_version(readonly) == "1"

    cat = _catalogue_v1(tmp_path / "runs.sqlite")
    (old,) = list_runs(cat)
    assert (old.id, old.p_target, old.variant, old.what_if) == (1, 0.54, None, "")
    assert _meta_version(cat) == "3"
    with sqlite3.connect(cat) as con:
        columns = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"variant", "overrides", "plan", "pipeline"} <= columns
    assert {"what_ifs", "comments", "decisions"} <= tables  # the studio's, empty
    sc = scenario_file(tmp_path)
    cli("run", sc, *QUICK, "--catalogue", cat, "--set", "reps.count=6", "--out", tmp_path / "w")
    runs = list_runs(cat)
    assert [r.id for r in runs] == [1, 2] and runs[0].note == "plan as approved"
    assert runs[1].variant == variant_of("reps.count=6")
    assert record_run(tmp_path / "w", cat).id == 2  # recording again: still one record


# --------------------------------------------------------------------------- drift
def test_drift_leaves_what_ifs_out_and_marks_a_changed_scenario(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc, cat = scenario_file(tmp_path), tmp_path / "runs.sqlite"
    cli("run", sc, *QUICK, "--catalogue", cat, "--note", "plan")
    cli("run", sc, *QUICK, "--catalogue", cat, "--set", "reps.count=8", "--seed", 1)
    scenario_file(tmp_path, revenue=650_000)  # the scenario file itself changes
    cli("run", sc, *QUICK, "--catalogue", cat, "--seed", 2)
    first, what_if, second = list_runs(cat)
    assert first.scenario_sha256 != second.scenario_sha256 and what_if.variant is not None

    # the forecast's report charts its own runs only, the scenario change marked
    runs, _ = drift_records(load_run(tmp_path / "reports" / "baseline", cat))
    assert list(runs["id"]) == [first.id, second.id]
    fig = drift_figure(runs)
    top = fig.axes[0]
    (line,) = [ln for ln in top.get_lines() if ln.get_label() == "baseline"]
    assert list(line.get_ydata()) == [first.p_target, second.p_target]
    assert [t.get_text() for t in top.texts].count(VERSION_NOTE) == 1
    html = (tmp_path / "reports" / "baseline" / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-forecast_drift"' in html

    # the what-if's report does not draw the forecast as its history
    folder = Path(what_if.folder)
    none, note = drift_records(load_run(folder, cat))
    assert none is None and "first recorded run of this what-if" in note

    # every run in one figure: the what-if is a line of its own, never joined to the forecast
    everything = drift_figure(load_runs(cat))
    labels = sorted(t.get_text() for t in everything.axes[0].get_legend().get_texts())
    assert labels == ["baseline", "baseline (what-if: reps.count=8)"]
    assert len(same_settings(load_runs(cat))) == 2

    chart = cli("history", "--chart", "--scenario", "baseline", "--catalogue", cat).output
    assert "drift chart of 2 runs" in chart
    wi = cli("history", "--chart", "--variant", what_if.variant, "--catalogue", cat).output
    assert "drift chart of 1 run:" in wi


# --------------------------------------------------------------------------- labels
def test_console_and_report_headline_name_the_overrides(tmp_path):
    sc, cat = scenario_file(tmp_path), tmp_path / "runs.sqlite"
    out = cli("run", sc, *QUICK, "--catalogue", cat, "--set", "reps.count=18",
              "--out", tmp_path / "w").output  # fmt: skip
    assert flat(out).startswith("baseline (what-if: reps.count=18): P(target")
    html = (tmp_path / "w" / "report.html").read_text(encoding="utf-8")
    assert 'id="headline-whatif">what-if: reps.count=18 — </span>' in html
    assert 'id="whatif-note">A what-if, not the forecast' in html
    assert headline_words(load_run(tmp_path / "w")).startswith("what-if: reps.count=18 — ")

    plain = cli("run", sc, *QUICK, "--catalogue", cat, "--out", tmp_path / "p").output
    assert "what-if" not in plain
    assert "what-if" not in headline_words(load_run(tmp_path / "p"))


# --------------------------------------------------------------------------- closed stdout
def _run_args(sc: Path, out: Path, cat: Path) -> list[str]:
    return [sys.executable, "-m", "pipesim.cli.main", "run", str(sc), *QUICK,
            "--out", str(out), "--catalogue", str(cat)]  # fmt: skip


def _check_complete(out: Path, cat: Path) -> None:
    for name in ("summary.json", "report.html", "run.json", "replications.csv"):
        assert (out / name).is_file(), name
    (record,) = list_runs(cat)
    assert record.folder == str(out.resolve()) and not record.partial


def test_run_finishes_when_stdout_is_closed_before_it_writes(tmp_path):
    sc, out, cat = scenario_file(tmp_path), tmp_path / "out", tmp_path / "runs.sqlite"
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first line printed finds the pipe closed
    try:
        proc = subprocess.run(
            _run_args(sc, out, cat), stdout=write, stderr=subprocess.PIPE, text=True, timeout=300
        )
    finally:
        os.close(write)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    _check_complete(out, cat)


def test_run_piped_into_head_keeps_its_report_and_record(tmp_path):
    sc, out, cat = scenario_file(tmp_path), tmp_path / "out", tmp_path / "runs.sqlite"
    command = " ".join(f"'{a}'" for a in _run_args(sc, out, cat))
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("baseline: P(target") and proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr
    _check_complete(out, cat)


def test_the_same_settings_give_the_same_settings_id():
    a = RunSettings.of(["b.x = 2", "a=1"])
    assert a.overrides == ("a=1", "b.x=2")
    assert a.variant == RunSettings.of(["a=1", "b.x=2"]).variant
    assert a.variant != RunSettings.of(["a=1", "b.x=3"]).variant
    # a later override may rewrite an earlier one: then their order is kept
    whole, part = "campaigns.w={budget_per_week: 1}", "campaigns.w.budget_per_week=2"
    assert RunSettings.of([whole, part]).overrides == (whole, part)
    assert RunSettings.of([whole, part]).variant != RunSettings.of([part, whole]).variant
    assert RunSettings.of([]).variant is None and not RunSettings.of([]).is_what_if
