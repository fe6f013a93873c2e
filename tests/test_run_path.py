"""`pipesim run` pays no fixed cost it does not need: no matplotlib, no scipy.stats.

The run path (the command, the runner, the deal forecast, the report with its drift chart) draws
its charts as SVG and computes the deal flags with numpy and the standard library; PNG charts
come only with `pipesim report DIR --png`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from pipesim.cli.main import main
from pipesim.results.deals import dwell_quantiles, group_quantile, poisson_quantile
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"

_PROBE = """
import json, sys
from pipesim.cli.main import main
out, catalogue, scenario = sys.argv[1:4]
for seed in ("1", "2"):  # the second run's report draws the drift chart
    args = ["run", scenario, "-n", "1", "--seed", seed, "--workers", "1", "--quiet",
            "--out", out, "--catalogue", catalogue]
    main(args, standalone_mode=False)
main(["report", out, "--catalogue", catalogue], standalone_mode=False)
heavy = sorted(
    m for m in sys.modules if m.split(".")[0] == "matplotlib" or m.startswith("scipy.stats")
)
print(json.dumps(heavy))
"""


def test_run_and_report_import_neither_matplotlib_nor_scipy_stats(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), str(tmp_path / "runs.sqlite"), str(BASELINE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == []
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-forecast_drift"><svg' in html  # the second run drew the drift chart
    assert json.loads((out / "summary.json").read_text())["indicators"]  # and the deal forecast


def test_report_png_writes_the_charts_as_png_too_and_a_plain_report_clears_them(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    args = ["run", str(BASELINE), "-n", "4", "--workers", "1", "--quiet", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--catalogue", str(tmp_path / "runs.sqlite")])
    assert res.exit_code == 0, res.output
    charts = out / "charts"
    assert sorted(p.suffix for p in charts.iterdir()) == [".svg"] * 6
    res = CliRunner().invoke(main, ["report", str(out), "--png"])
    assert res.exit_code == 0, res.output
    pngs = sorted(p.stem for p in charts.glob("*.png"))
    assert pngs == sorted(p.stem for p in charts.glob("*.svg"))
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in charts.glob("*.png"))
    res = CliRunner().invoke(main, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert list(charts.glob("*.png")) == []  # no chart left from an earlier report


@pytest.mark.parametrize("q", [0.05, 0.5, 0.8, 0.95])
def test_poisson_quantile_is_scipy_stats_ppf(q: float) -> None:
    means = np.concatenate([np.linspace(0.001, 40.0, 4001), [75.0, 300.0, 900.0]])
    ours = [poisson_quantile(q, float(m)) for m in means]
    assert ours == [int(stats.poisson.ppf(q, m)) for m in means]
    assert poisson_quantile(q, 0.0) == 0


def test_deal_flags_read_the_same_numbers() -> None:
    sc = load_scenario(BASELINE)
    for seg, g in sc.segments.items():
        mean = max(g.buying_group_mean - 1.0, 0.0)
        want = 1.0 + float(stats.poisson.ppf(0.8, mean)) if mean > 0 else 1.0
        assert group_quantile(sc, seg, 0.8) == want
    one = dwell_quantiles(sc, 0.8, seed=3, segments={"S2"})
    every = dwell_quantiles(sc, 0.8, seed=3)
    assert list(one) == ["S2"] and list(every) == list(sc.segments)
    assert np.array_equal(one["S2"], every["S2"])  # a segment's own stream
