"""Benchmark: the deal-level forecast's cost in time and memory.

A run with an open pipeline streams each deal's outcome in each replication to
``deal_outcomes.csv`` and builds ``deals.csv`` from it at the end. This measures, for growing
replication counts of ``scenarios/year_end_push.yaml`` (152 open deals):

* the size of ``deal_outcomes.csv``;
* the time ``deal_forecast`` takes to read it back and summarise it;
* the parent process's peak memory for the whole run (a fresh child process per count, so
  peaks do not carry over).

    python benchmarks/bench_deals.py [--counts 1000 5000] [--workers 2]

Figures go to stdout as a Markdown table; the benchmark README records them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "year_end_push.yaml"


def child(replications: int, workers: int, out: Path) -> None:
    """Run the scenario and time the deal forecast; print one JSON line."""
    import pandas as pd

    import pipesim
    from pipesim.results.deals import deal_forecast
    from pipesim.runs.runner import run

    sc = pipesim.load_scenario(SCENARIO)
    started = time.perf_counter()
    run(sc, replications, seed=0, workers=workers, out=out)
    run_s = time.perf_counter() - started
    table = pd.read_csv(out / "replications.csv")
    started = time.perf_counter()
    chunks = pd.read_csv(
        out / "deal_outcomes.csv",
        keep_default_na=False,
        na_values={"close_day": [""]},
        chunksize=500_000,
    )
    deal_forecast(sc, chunks, table, seed=0)
    forecast_s = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mib = (out / "deal_outcomes.csv").stat().st_size / 2**20
    print(
        json.dumps(
            {
                "replications": replications,
                "run_s": round(run_s, 1),
                "deal_forecast_s": round(forecast_s, 2),
                "deal_outcomes_mib": round(size_mib, 1),
                "parent_peak_mib": round(peak_mib),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.workers, args.out)
        return 0
    rows = []
    for n in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--workers", str(args.workers),
                 "--out", str(Path(tmp) / "run")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"year_end_push, 152 open deals, {args.workers} workers\n")
    print("| replications | run (s) | deal_forecast (s) | deal_outcomes.csv (MiB) | peak (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['replications']:,} | {r['run_s']} | {r['deal_forecast_s']} | "
            f"{r['deal_outcomes_mib']} | {r['parent_peak_mib']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
