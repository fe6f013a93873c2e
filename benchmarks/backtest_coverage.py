"""Backtest coverage over many synthetic exports (the figures in docs/calibration.md, Backtest).

For each export seed: simulate two years of history from the acceptance tests' known scenario
(``tests/test_backtest.py``: ``KNOWN`` over the fixture's truth), backtest the same scenario on
it over the tests' windows, and pool the windows:

    python benchmarks/backtest_coverage.py [--seeds 1 8] [--pursue-all] [--replications 80]

Prints each export's verdict and the pooled share of actuals inside P10-P90 with its exact 95%
interval, the shares below P10 and above P90, and the mean percentile.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import pandas as pd

from pipesim.calibrate.backtest import exact_interval, run_backtest
from pipesim.calibrate.crm import read_crm
from pipesim.calibrate.synthetic import generate_export, with_years
from pipesim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _tests_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bt", ROOT / "tests" / "test_backtest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs=2, default=[1, 8], metavar=("FIRST", "LAST"))
    p.add_argument("--pursue-all", action="store_true", help="every lead pursued")
    p.add_argument("--replications", type=int, default=80)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    t = _tests_module()
    known = (["qualification.policy=pursue_all"] if args.pursue_all else []) + t.KNOWN
    tables = []
    for seed in range(args.seeds[0], args.seeds[1] + 1):
        sc = load_scenario(t.TRUTH, known)
        with tempfile.TemporaryDirectory() as tmp:
            data = read_crm(*generate_export(with_years(sc, 2), seed, Path(tmp)))
        result = run_backtest(
            sc, data, t._windows(data), replications=args.replications, seed=0,
            workers=args.workers,
        )  # fmt: skip
        tables.append(result.table)
        print(f"export seed {seed}: {result.summary['status']}", flush=True)
    table = pd.concat(tables)
    inside = int(table["inside_p10_p90"].sum())
    lo, hi = exact_interval(inside, len(table))
    print(
        f"{len(table)} windows: inside P10-P90 {inside / len(table):.0%} ({inside}; 95% CI "
        f"{lo:.0%}-{hi:.0%}), below P10 {(table['actual'] < table['sim_p10']).mean():.0%}, "
        f"above P90 {(table['actual'] > table['sim_p90']).mean():.0%}, mean percentile "
        f"{table['percentile'].mean():.0%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
