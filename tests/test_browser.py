"""The report in a real headless Chromium: charts render, the headline is right, nothing leaves.

Chromium comes from the Debian package ``chromium`` (``.ci/run`` installs it). Locally the test
skips when no Chromium is found; under CI (``CI=true``) a missing browser is a failure.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from browser import capture, find_chromium
from pipesim.cli.main import main
from pipesim.report.data import pct
from pipesim.report.html import CHART_ALT

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = find_chromium()

if CHROMIUM is None:
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("CI=true but no Chromium found: install the Debian package `chromium`")
    pytest.skip(
        "no Chromium found (apt-get install -y chromium, or set PIPESIM_CHROMIUM); "
        "the browser test runs in CI",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "baseline"
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(ROOT / "scenarios" / "baseline.yaml"),
            "-n",
            "40",
            "--seed",
            "11",
            "--workers",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return out


def test_report_renders_offline_in_chromium(report_dir, tmp_path):
    summary = json.loads((report_dir / "summary.json").read_text())
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    charts = ["exceedance", "revenue_distribution", "bookings_fan", "outcomes", "funnel"]
    charts += ["rep_attainment"] + ["forecast_drift"] * ('id="chart-forecast_drift"' in html)
    ids = [f"chart-{name}" for name in charts]
    cap = capture(report_dir / "report.html", ids=["headline-p", "headline-text", *ids], pdf=True)

    # every chart is inline SVG in the page (the drift chart appears once the catalogue has two
    # runs of it): its title and tick labels are there as text, and no image is fetched
    assert cap.images == []
    for name in charts:
        text = cap.texts[f"chart-{name}"] or ""
        assert text.startswith(CHART_ALT[name]) or name == "forecast_drift", (name, text[:80])

    # the headline figure is summary.json's
    p = summary["p_target"]["estimate"]
    assert cap.texts["headline-p"] == pct(p)
    assert float(cap.data["headline-p"]["p"]) == p
    assert cap.texts["headline-text"].startswith(pct(p) + " chance to reach")

    # no request left the file (the page itself and its data: images only)
    assert cap.requests[0] == (report_dir / "report.html").resolve().as_uri()
    assert cap.external_requests() == []

    # the first screen rendered, and the page prints
    shot = Image.open(io.BytesIO(cap.screenshot))
    assert shot.size == (1280, 860)
    darkest, lightest = shot.convert("L").getextrema()
    assert darkest < 80 and lightest > 200  # ink on paper, not a blank page
    (tmp_path / "first-screen.png").write_bytes(cap.screenshot)
    assert cap.pdf is not None and cap.pdf.startswith(b"%PDF")
    assert cap.title == "baseline: sales forecast"


def test_capture_notices_a_request_leaving_the_file(tmp_path):
    # Control: the check would catch a page that fetches from the network.
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p id="x">hi</p>'
        '<img src="http://example.invalid/chart.png"></body></html>',
        encoding="utf-8",
    )
    cap = capture(page, ids=["x", "absent"])
    assert cap.texts == {"x": "hi", "absent": None}
    assert cap.external_requests() == ["http://example.invalid/chart.png"]
    assert cap.images[0]["naturalWidth"] == 0
