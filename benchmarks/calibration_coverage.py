"""Coverage of the calibration's 95% intervals over many synthetic exports.

For each known scenario and each export seed: simulate two years of history from the scenario
(``generate_export``), calibrate it in full with the scenario itself as base (the fits, the
selection correction and the widening, as ``pipesim calibrate`` does), and ask whether each
value's 95% interval holds the truth:

* every scenario value calibrate sets (``journey.*``, ``segments.*.deal_size.*``) against the
  known scenario's own value;
* every fitted value (``dwell.*``, ``stall.*``, shares, deal sizes) against what the fits aim
  at (the same fits on ``--truth-histories`` pooled exports of the scenario,
  ``export_observables``).

A value's coverage is judged against the central 95% range of Binomial(exports, 0.95): a count
below it says the interval is too narrow, above it (possible only for the lower tail with few
exports) too wide. Exports are calibrated in parallel (``--workers``); the results do not
depend on the number of workers.

    python benchmarks/calibration_coverage.py [--exports 20] [--workers 2] [--fits]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from scipy import stats

from pipesim.calibrate.crm import read_crm
from pipesim.calibrate.fit import calibrated_scenario, fit_all
from pipesim.calibrate.synthetic import export_observables, generate_export, with_years
from pipesim.scenario.edit import get_value, parse_path
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "long interest stage (tests/fixtures/crm_long)": ROOT / "tests/fixtures/crm_long/truth.yaml",
    "fixture truth (tests/fixtures/crm)": ROOT / "tests/fixtures/crm/truth.yaml",
}
FIRST_SEED = 1000
"""Export seeds start here (apart from the fixtures' seed 1 and the slow test's 100-249)."""


def calibrate_one(task: tuple[str, int]) -> dict[str, Any]:
    """Calibrate one synthetic export: each value with its interval and the log-sd behind it."""
    path, seed = task
    truth = load_scenario(path)
    with tempfile.TemporaryDirectory() as tmp:
        data = read_crm(*generate_export(with_years(truth, 2), seed, Path(tmp)))
    cal = calibrated_scenario(data, fit_all(data, seed=seed), truth, "coverage", seed=seed)
    return {
        "values": {a.path: (a.value, a.low, a.high, a.sd) for a in cal.applied},
        "fits": {n: (e.value, e.low, e.high, e.se) for n, e in cal.fits.estimates.items()},
        "opportunities": len(data.opportunities),
    }


def binomial_range(n: int, p: float = 0.95) -> tuple[int, int]:
    """Central 95% range of the number of intervals holding the truth out of ``n``."""
    return int(stats.binom.ppf(0.025, n, p)), int(stats.binom.ppf(0.975, n, p))


def table(rows: dict[str, list[tuple[float, float, float, float]]], truth: dict[str, float]) -> int:
    """Print one coverage table; return how many values fall outside their binomial range."""
    bad = 0
    print(
        f"  {'value':42s} {'truth':>10s} {'covered':>8s} {'range':>8s} {'sd log est':>10s} "
        f"{'mean log-sd':>11s}  verdict"
    )
    for name in sorted(rows):
        if name not in truth:
            continue
        r, t = rows[name], truth[name]
        k = sum(low <= t <= high for _, low, high, _ in r)
        lo, hi = binomial_range(len(r))
        logs = [math.log(v) for v, *_ in r if v > 0]
        mean_log = sum(logs) / len(logs)
        sd_log = math.sqrt(sum((x - mean_log) ** 2 for x in logs) / max(len(logs) - 1, 1))
        half = [math.log(high / low) / (2 * 1.96) for _, low, high, _ in r if low > 0 < high]
        width = sum(half) / len(half) if half else math.nan
        ok = lo <= k <= hi
        bad += not ok
        verdict = "ok" if ok else ("UNDER-COVERS" if k < lo else "over-covers")
        print(
            f"  {name:42s} {t:10.4g} {k:>4d}/{len(r):<3d} {lo:>3d}-{hi:<4d} {sd_log:10.3f} "
            f"{width:11.3f}  {verdict}"
        )
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--exports", type=int, default=20, help="exports per scenario")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--fits", action="store_true", help="also the fitted values (slower truth)")
    p.add_argument("--truth-histories", type=int, default=40)
    p.add_argument("--only", choices=["long", "fixture"], default=None)
    args = p.parse_args(argv)
    bad = 0
    for label, path in SCENARIOS.items():
        if args.only and not label.startswith({"long": "long", "fixture": "fixture"}[args.only]):
            continue
        t0 = time.perf_counter()
        tasks = [(str(path), FIRST_SEED + k) for k in range(args.exports)]
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(calibrate_one, tasks))
        known = load_scenario(path)
        raw = known.model_dump(mode="json")
        values: dict[str, list[tuple[float, float, float, float]]] = {}
        for res in results:
            for name, row in res["values"].items():
                values.setdefault(name, []).append(row)
        truth = {n: float(get_value(raw, parse_path(n))) for n in values}
        opps = [r["opportunities"] for r in results]
        print(
            f"\n{label}: {len(results)} two-year exports (seeds {FIRST_SEED}-"
            f"{FIRST_SEED + args.exports - 1}, {min(opps)}-{max(opps)} opportunities), "
            f"{time.perf_counter() - t0:.0f} s"
        )
        print(" scenario values against the known scenario:")
        bad += table(values, truth)
        if args.fits:
            aimed = export_observables(known, 20_240_101, 2.0, args.truth_histories)
            fits: dict[str, list[tuple[float, float, float, float]]] = {}
            for res in results:
                for name, row in res["fits"].items():
                    fits.setdefault(name, []).append(row)
            print(
                f" fitted values against what the fits aim at ({args.truth_histories} pooled "
                "histories):"
            )
            bad += table(fits, aimed)
    print(f"\n{bad} value(s) outside the binomial range")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
