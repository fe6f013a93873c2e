"""Run catalogue: recording, listing, concurrency, rebuild from folders, bad files, drift chart."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from pipesim import load_scenario
from pipesim.cli.main import main
from pipesim.report.drift import RUN_COLUMNS, drift_figure, load_runs
from pipesim.runs.catalogue import RunNotFound, find_run, list_runs, rebuild, record_run
from pipesim.runs.database import SCHEMA_VERSION, CatalogueError, resolve_catalogue
from pipesim.runs.records import RunFolderError, read_run_folder
from pipesim.runs.runner import run

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TINY = ["target.horizon_weeks=4", "reps.count=4", "target.revenue=700000"]
PNG = b"\x89PNG\r\n\x1a\n"


def tiny(*extra: str):
    return load_scenario(BASELINE, [*TINY, *extra])


def set_args(*extra: str) -> list[str]:
    return [x for s in [*TINY, *extra] for x in ("--set", s)]


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def make_run(folder: Path, *extra: str, seed: int = 0, n: int = 6) -> Path:
    """A finished run folder of the tiny scenario (no report, no catalogue)."""
    run(tiny(*extra), n, seed, 1, folder)
    return folder


def comparable(records) -> list[tuple]:
    """What must survive a rebuild: everything but the recording time."""
    return [
        (r.id, r.key, r.finished_at, r.scenario, r.scenario_sha256, r.scenario_yaml, r.seed,
         r.replications, r.p_target, r.p_target_low, r.p_target_high, r.revenue_p10,
         r.revenue_p50, r.revenue_p90, r.revenue_mean, r.target, r.partial, r.note, r.folder)
        for r in records
    ]  # fmt: skip


# --------------------------------------------------------------------------- recording
def test_two_runs_with_different_parameters_both_appear_in_history(tmp_path):
    cat = tmp_path / "runs.sqlite"
    a = cli("run", BASELINE, "-n", 6, "--workers", 1, "--quiet", *set_args(),
            "--out", tmp_path / "a", "--catalogue", cat, "--note", "before")  # fmt: skip
    b = cli("run", BASELINE, "-n", 6, "--workers", 1, "--quiet", *set_args("reps.count=6"),
            "--out", tmp_path / "b", "--catalogue", cat)  # fmt: skip
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    runs = list_runs(cat)
    assert [r.id for r in runs] == [1, 2]
    assert runs[0].scenario_sha256 != runs[1].scenario_sha256
    assert "count: 4" in runs[0].scenario_yaml and "count: 6" in runs[1].scenario_yaml
    assert [r.note for r in runs] == ["before", None]
    assert runs[0].folder == str((tmp_path / "a").resolve())
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert runs[1].p_target == summary["p_target"]["estimate"]
    assert runs[1].revenue_p50 == summary["revenue"]["p50"]
    assert runs[1].replications == 6 and runs[1].seed == 0 and not runs[1].partial
    assert f"recorded as run 1 ({runs[0].short_id})" in a.output
    # the note is in the run's own files too
    assert json.loads((tmp_path / "a" / "run.json").read_text())["note"] == "before"

    listed = cli("history", "--catalogue", cat)
    assert listed.exit_code == 0, listed.output
    for r in runs:
        assert r.short_id in listed.output
    assert "before" in listed.output
    only = cli("history", "--catalogue", cat, "--scenario", "nothing-like-it")
    assert only.exit_code == 0 and "recorded scenarios: baseline" in only.output


def test_history_filters_by_scenario(tmp_path):
    cat = tmp_path / "runs.sqlite"
    record_run(make_run(tmp_path / "a"), cat)
    record_run(make_run(tmp_path / "b", "name=other"), cat)
    assert [r.scenario for r in list_runs(cat, scenario="other")] == ["other"]
    assert len(list_runs(cat)) == 2
    out = cli("history", "--catalogue", cat, "--scenario", "other").output
    assert list_runs(cat, "other")[0].short_id in out
    assert list_runs(cat, "baseline")[0].short_id not in out


def test_recording_again_updates_the_note_not_the_count(tmp_path):
    cat = tmp_path / "runs.sqlite"
    folder = make_run(tmp_path / "a")
    first = record_run(folder, cat, note="draft")
    again = record_run(folder, cat, note="final")
    assert first.key == again.key and first.id == again.id
    assert [r.note for r in list_runs(cat)] == ["final"]
    assert record_run(folder, cat).note == "final"  # no note given keeps the saved one


def test_resume_keeps_the_note(tmp_path):
    cat = tmp_path / "runs.sqlite"
    folder = make_run(tmp_path / "a", n=4)
    record_run(folder, cat, note="kept")
    again = cli("run", BASELINE, "--workers", 1, "--quiet", *set_args(), "--resume", folder,
                "--catalogue", cat)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads((folder / "run.json").read_text())["note"] == "kept"
    assert {r.note for r in list_runs(cat)} == {"kept"}


def test_environment_variable_names_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPESIM_CATALOGUE", str(tmp_path / "env.sqlite"))
    assert resolve_catalogue(None) == tmp_path / "env.sqlite"
    assert resolve_catalogue(tmp_path / "given.sqlite") == tmp_path / "given.sqlite"
    record_run(make_run(tmp_path / "a"))
    assert len(list_runs(tmp_path / "env.sqlite")) == 1
    monkeypatch.delenv("PIPESIM_CATALOGUE")
    assert resolve_catalogue(None) == Path("reports") / "runs.sqlite"


def test_partial_run_is_flagged_and_replaced_when_completed(tmp_path):
    cat = tmp_path / "runs.sqlite"
    folder = make_run(tmp_path / "a")
    path = folder / "summary.json"
    complete = json.loads(path.read_text())
    partial = {**complete, "partial": True, "replications": 3, "runtime_s": 0.01}
    path.write_text(json.dumps(partial))
    assert record_run(folder, cat, note="cut short").partial
    path.write_text(json.dumps(complete))
    manifest = json.loads((folder / "run.json").read_text())
    del manifest["note"]  # a resume rewrites run.json
    (folder / "run.json").write_text(json.dumps(manifest))
    record_run(folder, cat)
    runs = list_runs(cat)
    assert len(runs) == 1 and not runs[0].partial and runs[0].replications == 6
    assert runs[0].note == "cut short"
    assert json.loads((folder / "run.json").read_text())["note"] == "cut short"


# --------------------------------------------------------------------------- concurrency
def _record_in_process(folder: str, catalogue: str, note: str) -> None:
    record_run(folder, catalogue, note)


def test_concurrent_recording_keeps_every_run(tmp_path):
    cat = tmp_path / "runs.sqlite"  # does not exist yet: creation races too
    folders = [make_run(tmp_path / f"r{k}", seed=k, n=3) for k in range(8)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    procs = [
        ctx.Process(target=_record_in_process, args=(str(f), str(cat), f"proc {k}"))
        for k, f in enumerate(folders[:4])
    ]
    threads = [
        threading.Thread(target=record_run, args=(f, cat, f"thread {k}"))
        for k, f in enumerate(folders[4:])
    ]
    for p in procs:
        p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    runs = list_runs(cat)
    assert len(runs) == 8
    assert len({r.id for r in runs}) == 8
    assert {r.folder for r in runs} == {str(f.resolve()) for f in folders}
    assert sorted(r.note or "" for r in runs) == sorted(
        [f"proc {k}" for k in range(4)] + [f"thread {k}" for k in range(4)]
    )
    with sqlite3.connect(cat) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------- rebuild
def test_rebuild_restores_a_deleted_catalogue_from_the_folders(tmp_path):
    root = tmp_path / "reports"
    cat = root / "runs.sqlite"
    for k, extra in enumerate([(), ("reps.count=6",), ("name=other",)]):
        folder = make_run(root / f"run{k}", *extra, seed=k)
        record_run(folder, cat, note=f"note {k}" if k != 1 else None)
    before = list_runs(cat)
    assert len(before) == 3
    for suffix in ("", "-wal", "-shm"):
        Path(str(cat) + suffix).unlink(missing_ok=True)
    assert list_runs(cat) == []
    result = cli("history", "--rebuild", "--root", root, "--catalogue", cat)
    assert result.exit_code == 0, result.output
    assert "3 runs" in result.output
    after = list_runs(cat)
    assert comparable(after) == comparable(before)
    assert [r.note for r in after] == ["note 0", None, "note 2"]
    # ids and short ids still name the same runs
    assert find_run(before[2].short_id, cat).folder == before[2].folder


def test_rebuild_skips_folders_that_are_not_complete_runs(tmp_path):
    root = tmp_path / "reports"
    good = make_run(root / "good")
    bad = make_run(root / "edited")
    (bad / "scenario.yaml").write_text("name: edited by hand\n")
    (root / "half").mkdir()
    (root / "half" / "run.json").write_text("{}")
    result = rebuild(root, tmp_path / "runs.sqlite")
    assert [r.folder for r in result.records] == [str(good.resolve())]
    reasons = {f.name: why for f, why in result.skipped}
    assert "does not match the scenario_sha256" in reasons["edited"]
    assert "missing summary.json, scenario.yaml" in reasons["half"]
    with pytest.raises(RunFolderError, match="does not match"):
        read_run_folder(bad)


def test_rebuild_moves_an_unusable_file_aside(tmp_path):
    root = tmp_path / "reports"
    make_run(root / "a")
    cat = root / "runs.sqlite"
    cat.write_text("not a database\n")
    result = rebuild(root, cat)
    assert result.moved_aside is not None
    assert result.moved_aside.read_text() == "not a database\n"
    assert len(list_runs(cat)) == 1


# --------------------------------------------------------------------------- bad catalogue files
def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")


def _newer(path: Path) -> None:
    record_run(make_run(path.parent / "newer-run"), path)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION + 1),))  # fmt: skip


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda p: p.write_text("hello, I am a text file\n" * 50), "is not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000), "SQLite"),
        (_foreign, "not a pipesim run catalogue"),
        (_newer, "newer pipesim"),
    ],
    ids=["text", "damaged", "foreign", "newer"],
)
def test_bad_catalogue_file_exits_2_with_a_clear_message(tmp_path, make_bad, message):
    cat = tmp_path / "runs.sqlite"
    make_bad(cat)
    before = cat.read_bytes()
    for args in (["history"], ["history", "--chart"], ["diff", "1", "2"]):
        result = cli(*args, "--catalogue", cat)
        assert result.exit_code == 2, result.output
        assert message in flat(result.output)
        assert str(cat) in result.output.replace("\n", "")
        assert "Traceback" not in result.output
    with pytest.raises(CatalogueError):
        list_runs(cat)
    assert cat.read_bytes() == before  # never written to


def test_run_with_an_unusable_catalogue_keeps_its_results(tmp_path):
    cat = tmp_path / "runs.sqlite"
    cat.write_text("garbage\n")
    out = tmp_path / "reports" / "a"
    result = cli("run", BASELINE, "-n", 4, "--workers", 1, "--quiet", *set_args(),
                 "--out", out, "--catalogue", cat, "--note", "kept")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "warning" in text and "not recorded" in text and "--rebuild" in text
    assert (tmp_path / "reports" / "a" / "summary.json").is_file()
    assert cat.read_text() == "garbage\n"
    rebuilt = cli("history", "--rebuild", "--root", tmp_path / "reports", "--catalogue", cat)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert [r.note for r in list_runs(cat)] == ["kept"]


# --------------------------------------------------------------------------- finding runs
def test_find_run_by_id_short_id_and_folder(tmp_path):
    cat = tmp_path / "runs.sqlite"
    a = record_run(make_run(tmp_path / "a"), cat)
    b = record_run(make_run(tmp_path / "b", seed=1), cat)
    assert find_run("2", cat).key == b.key
    assert find_run(a.short_id, cat).key == a.key
    assert find_run(a.key[:5].upper(), cat).key == a.key
    assert find_run(str(tmp_path / "b"), cat).id == b.id
    unrecorded = find_run(str(make_run(tmp_path / "c", seed=2)), cat)
    assert unrecorded.id is None and unrecorded.seed == 2
    with pytest.raises(RunNotFound, match="no run '9'"):
        find_run("9", cat)
    with pytest.raises(RunNotFound, match="no runs recorded"):
        find_run("1", tmp_path / "missing.sqlite")
    broken = tmp_path / "broken.sqlite"
    broken.write_text("garbage")
    assert find_run(str(tmp_path / "a"), broken).key == a.key  # a folder needs no catalogue
    with pytest.raises(CatalogueError):
        find_run("1", broken)


# --------------------------------------------------------------------------- drift chart
def test_drift_table_and_chart(tmp_path):
    cat = tmp_path / "runs.sqlite"
    record_run(make_run(tmp_path / "a"), cat, note="first")
    record_run(make_run(tmp_path / "b", "reps.count=6", seed=1), cat)
    record_run(make_run(tmp_path / "c", "name=other"), cat)
    df = load_runs(cat)
    assert list(df.columns) == list(RUN_COLUMNS)
    assert len(df) == 3 and str(df["finished_at"].dt.tz) == "UTC"
    assert list(load_runs(cat, scenario="baseline")["short_id"]) == [
        r.short_id for r in list_runs(cat, "baseline")
    ]
    fig = drift_figure(df)
    assert isinstance(fig, Figure)
    top, _ = fig.axes
    assert sorted(t.get_text() for t in top.get_legend().get_texts()) == ["baseline", "other"]
    assert any(t.get_text() == "first" for t in top.texts)
    baseline_line = next(ln for ln in top.get_lines() if ln.get_label() == "baseline")
    assert list(baseline_line.get_ydata()) == list(df[df["scenario"] == "baseline"]["p_target"])
    assert load_runs(tmp_path / "none.sqlite").empty


def test_drift_chart_leaves_out_partial_runs_and_needs_one_complete():
    row = {
        "finished_at": pd.Timestamp("2026-01-05", tz="UTC"), "scenario": "s", "p_target": 0.5,
        "p_target_low": 0.4, "p_target_high": 0.6, "revenue_p10": 1.0, "revenue_p50": 2.0,
        "revenue_p90": 3.0, "partial": True,
    }  # fmt: skip
    with pytest.raises(ValueError, match="at least one complete run"):
        drift_figure(pd.DataFrame([row]))
    with pytest.raises(ValueError, match="needs columns revenue_p90"):
        drift_figure(pd.DataFrame([row]).drop(columns="revenue_p90"))
    done = {**row, "finished_at": pd.Timestamp("2026-02-05", tz="UTC"), "p_target": 0.7,
            "p_target_low": 0.6, "p_target_high": 0.8, "partial": False}  # fmt: skip
    fig = drift_figure(pd.DataFrame([row, done]))
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "s")
    assert list(line.get_ydata()) == [0.7]


def test_history_chart_writes_a_png(tmp_path):
    cat = tmp_path / "runs.sqlite"
    record_run(make_run(tmp_path / "a"), cat)
    record_run(make_run(tmp_path / "b", seed=1), cat)
    out = tmp_path / "drift.png"
    result = cli("history", "--chart", "--scenario", "baseline", "--catalogue", cat, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    default = cli("history", "--chart", "--catalogue", cat)
    assert default.exit_code == 0, default.output
    assert (tmp_path / "drift.png").is_file()
    empty = cli("history", "--chart", "--catalogue", tmp_path / "none.sqlite")
    assert empty.exit_code == 2 and "nothing to chart" in empty.output
    assert cli("history", "--out", out, "--catalogue", cat).exit_code == 2
