"""Paired differences with common random numbers, and `pipesim compare`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim import load_scenario
from pipesim.cli.main import main
from pipesim.report.compare import pair_tables, paired_difference, run_comparison, slug

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


# --------------------------------------------------------------------------- statistics
def test_paired_interval_is_narrower_for_correlated_pairs():
    rng = np.random.default_rng(0)
    a = rng.normal(100, 10, 100)
    b = a + 1 + rng.normal(0, 1, 100)  # same luck plus a small effect
    est, paired, unpaired, corr = paired_difference(a, b)
    assert est == pytest.approx(np.mean(b - a))
    assert paired[0] < est < paired[1]
    assert paired[0] > 0  # the effect is detected when paired...
    assert unpaired[0] < 0  # ...and drowned in noise when not
    assert (paired[1] - paired[0]) < 0.2 * (unpaired[1] - unpaired[0])
    assert corr > 0.9


def test_paired_difference_closed_forms():
    a = np.array([0, 1, 1, 0, 1, 0, 1, 1], float)
    b = np.array([1, 1, 1, 0, 1, 1, 1, 1], float)
    est, (lo, hi), (ulo, uhi), _ = paired_difference(a, b)
    d = b - a
    se = d.std(ddof=1) / np.sqrt(8)
    assert est == pytest.approx(0.25)
    assert (lo, hi) == pytest.approx((0.25 - 1.959964 * se, 0.25 + 1.959964 * se))
    use = np.sqrt(a.var(ddof=1) / 8 + b.var(ddof=1) / 8)
    assert (ulo, uhi) == pytest.approx((0.25 - 1.959964 * use, 0.25 + 1.959964 * use))
    same = paired_difference(a, a)
    assert same[0] == 0 and same[1] == (0.0, 0.0)
    with pytest.raises(ValueError, match="length"):
        paired_difference(a, b[:-1])


def test_pairs_must_share_seeds():
    a = pd.DataFrame({"replication": [0, 1], "seed": [11, 12], "revenue": [1.0, 2.0]})
    b = a.assign(revenue=[2.0, 3.0])
    assert len(pair_tables(a, b)) == 2
    with pytest.raises(ValueError, match="same --seed"):
        pair_tables(a, b.assign(seed=[11, 99]))


def test_slugs_are_unique_folder_names():
    taken: set[str] = set()
    assert [slug(n, taken) for n in ("baseline", "baseline", "year end/push")] == [
        "baseline",
        "baseline-2",
        "year-end-push",
    ]


# --------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    a = load_scenario(BASELINE)
    b = load_scenario(BASELINE, ["reps.count=18", "name=more_reps"])
    comp, path = run_comparison([a, b], replications=60, seed=5, workers=2, out=out)
    return comp, path


def test_common_random_numbers_narrow_the_interval(comparison):
    comp, path = comparison
    diffs = {d.metric: d for d in comp.differences}
    assert set(diffs) == {"p_target", "mean_revenue"}
    for d in diffs.values():
        assert d.n == 60 and d.scenario == "more_reps" and d.reference == "baseline"
        assert d.paired_width < d.unpaired_width, d
    assert diffs["mean_revenue"].correlation > 0.3
    # three more reps book more on the very same market histories
    assert diffs["mean_revenue"].paired_low > 0
    saved = json.loads((path.parent / "compare.json").read_text())
    assert [s["folder"] for s in saved["scenarios"]] == ["baseline", "more_reps"]
    assert all(d["paired_width"] < d["unpaired_width"] for d in saved["differences"])


def test_comparison_page(comparison):
    _, path = comparison
    html = path.read_text(encoding="utf-8")
    for section in (
        "compare-headline",
        "compare-differences",
        "compare-exceedance",
        "compare-changes",
    ):
        assert f'<section id="{section}"' in html
    assert html.count('src="data:image/png;base64,') == 3
    assert "<td>reps.count</td><td>15</td><td>18</td>" in html
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert all(r.startswith("data:") or r.endswith("/report.html") for r in refs), refs
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for run in ("baseline", "more_reps"):
        assert (path.parent / run / "report.html").is_file()


def _shipped_pair(tmp_path: Path) -> list[Path]:
    """Two shipped scenarios; with only the baseline shipped, it and a 3-rep-larger variant."""
    shipped = sorted((ROOT / "scenarios").glob("*.yaml"))
    if len(shipped) >= 2:
        others = [p for p in shipped if p != BASELINE]
        return [BASELINE, others[0]]
    variant = tmp_path / "more_reps.yaml"
    text = BASELINE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^name: baseline$", "name: more_reps", text)
    text = re.sub(r"(?m)^  count: 15\b", "  count: 18", text)
    variant.write_text(text, encoding="utf-8")
    return [BASELINE, variant]


def test_compare_command_and_rebuild(tmp_path):
    a, b = _shipped_pair(tmp_path)
    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        main,
        [
            "compare",
            str(a),
            str(b),
            "-n",
            "30",
            "--seed",
            "2",
            "--workers",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "paired 95% interval" in res.output and "unpaired would be" in res.output
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert 'id="pairing-note"' in html
    before = html
    (out / "compare.html").unlink()
    res = CliRunner().invoke(main, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "compare.html").read_text(encoding="utf-8") == before


def test_compare_needs_two_scenarios():
    res = CliRunner().invoke(main, ["compare", str(BASELINE)])
    assert res.exit_code == 2
    assert "at least two" in res.output
