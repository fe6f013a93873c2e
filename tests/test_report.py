"""`pipesim run` writes report.html with every section; `pipesim report DIR` rebuilds it."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipesim.cli.main import main
from pipesim.report import load_run, write_run_report
from pipesim.report.answer import headline_words
from pipesim.report.data import money, pct

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SECTIONS = (
    "headline",
    "scenarios",
    "exceedance",
    "distribution",
    "bookings",
    "outcomes",
    "reps",
    "assumptions",
)
CHARTS = (
    "exceedance",
    "revenue_distribution",
    "bookings_fan",
    "outcomes",
    "funnel",
    "rep_attainment",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("run")
    out = base / "baseline"
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(BASELINE),
            "--catalogue",  # its own catalogue: the first run, so no drift chart yet
            str(base / "runs.sqlite"),
            "-n",
            "60",
            "--seed",
            "3",
            "--workers",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'report.html'}" in res.output
    return out


def _html(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def test_run_writes_report_with_every_section(run_dir):
    html = _html(run_dir)
    for section in SECTIONS:
        assert f'<section id="{section}"' in html, section
    for name in CHARTS:
        # each chart inline as SVG, with its title and description for screen readers
        figure = re.search(rf'<figure id="chart-{name}">(.*?)</figure>', html, flags=re.S)
        assert figure, name
        assert re.match(rf'<svg class="chart" data-chart="{name}" ', figure.group(1)), name
        assert 'role="img"' in figure.group(1) and "<title id=" in figure.group(1), name
        # and as a file beside the report that any SVG reader opens
        root = ET.parse(run_dir / "charts" / f"{name}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert float(root.get("width", 0)) > 500 and float(root.get("height", 0)) > 120, name
    assert html.count("<svg ") == len(CHARTS)
    assert "data:image/png" not in html  # no raster image, no matplotlib


def test_headline_matches_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    html = _html(run_dir)
    p = summary["p_target"]["estimate"]
    m = re.search(r'id="headline-p" data-p="([^"]+)">([^<]+)<', html)
    assert m, "headline figure missing"
    assert float(m.group(1)) == p
    assert m.group(2) == pct(p)
    inner = re.search(r'id="headline-text">(.*?)</p>', html, flags=re.S).group(1)
    words = re.sub(r"<[^>]+>", "", inner)  # the interval sits in a no-wrap span
    assert words.startswith(f"{pct(p)} chance to reach {money(21_800_000, 'EUR')} by 30 Dec 2026")
    assert f"{pct(summary['p_target']['ci_high'])})" in words
    assert words == headline_words(load_run(run_dir))
    r = summary["revenue"]
    for card, key in (("commit", "p10"), ("most-likely", "p50"), ("best-case", "p90")):
        assert f'id="case-{card}">{money(r[key], "EUR")}<' in html
    assert f'id="case-target">{money(summary["target"]["amount"], "EUR")}<' in html
    assert "baseline" in html and "seed 3" in html and "60 simulated years" in html


def test_report_is_self_contained(run_dir):
    html = _html(run_dir)
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', html, flags=re.I)
    assert all(r.startswith(("data:", "#")) for r in refs), refs
    lowered = html.lower()
    for forbidden in ("<script", "<link", "@import", "http://", "https://", "@font-face"):
        assert forbidden not in lowered, forbidden
    # url() only names a hatch pattern inside the page, never something to load
    assert re.findall(r"url\((?!#)", lowered) == []
    assert "@media print" in html


def test_assumptions_list_the_scenario(run_dir):
    html = _html(run_dir)
    section = html[html.index('<section id="assumptions"') :]
    for text in (
        "Rep seats",
        "<td>15</td>",
        "€21.80M",
        "Incumbent",
        "trade_shows",
        "threshold: pursue at perceived fit ≥ 0.45",
        'id="segments-table"',
    ):
        assert text in section, text


def test_report_command_rebuilds_the_same_page(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    original = _html(copy)
    (copy / "report.html").unlink()
    shutil.rmtree(copy / "charts")
    catalogue = run_dir.parent / "runs.sqlite"
    res = CliRunner().invoke(main, ["report", str(copy), "--catalogue", str(catalogue)])
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output
    rebuilt = _html(copy)

    def strip(text: str) -> str:  # the run date and the rebuild hint name the folder
        text = re.sub(r'id="run-meta">.*?</p>', "", text, flags=re.S)
        return text.replace(str(copy), "DIR").replace(str(run_dir), "DIR")

    assert strip(rebuilt) == strip(original)
    assert sorted(p.name for p in (copy / "charts").iterdir()) == sorted(f"{c}.svg" for c in CHARTS)


def test_report_command_rejects_a_folder_without_results(tmp_path):
    res = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "missing summary.json" in res.output


def test_report_without_scenario_file_still_builds(run_dir, tmp_path):
    copy = tmp_path / "noscenario"
    shutil.copytree(run_dir, copy)
    (copy / "scenario.yaml").unlink()
    html = write_run_report(copy).read_text(encoding="utf-8")
    assert "assumptions cannot be listed" in html
    assert '<section id="outcomes"' in html  # segments come from the columns instead
    assert ">S4<" in html


def test_partial_run_is_flagged(run_dir, tmp_path):
    copy = tmp_path / "partial"
    shutil.copytree(run_dir, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary.update(partial=True, replications_requested=1000)
    (copy / "summary.json").write_text(json.dumps(summary))
    html = write_run_report(copy).read_text(encoding="utf-8")
    assert "Interrupted run: 60 of 1000" in html
