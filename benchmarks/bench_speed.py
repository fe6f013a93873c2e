"""How fast is one answer? The engine against a naive SimPy funnel, and the CLI's fixed costs.

Sections (``--sections``, default ``engine cli``):

* ``engine``: replications per second on one core of the naive SimPy funnel
  (:mod:`naive_funnel`), pipesim on the reference scenario and pipesim on the baseline, measured
  in alternating rounds in one process; the ratios pipesim / naive per round and their medians.
  Goals: reference >= 5x, baseline >= 8x.
* ``cli``: wall time of ``pipesim validate`` and ``pipesim run -n 1`` (goal: run within 2x of
  validate), and the whole CLI run's parallel efficiency ``t(1 worker) / (2 t(2 workers))``
  (goal >= 0.9), each a fresh process, alternating, medians.
* ``precision``: ``pipesim run --precision P``: replications run against the number the
  interval needs, ``1.96^2 p (1 - p) / P^2`` at the final p (goal: within 10%).
* ``optimise``: wall time of ``pipesim optimise`` against one default ``pipesim run`` of the
  same scenario, alternating (goal: no slower).

Memory (peak RSS at 200 and 20,000 replications) is ``bench_engine.py --sections memory
--memory-replications 200 20000``.

Usage::

    python benchmarks/bench_speed.py [--sections engine cli precision optimise] [--rounds 5]
        [--json out.json]

Timings are wall clock on a shared machine: read the medians, and the per-round ratios (both
sides of a ratio are measured in the same round, so load moves both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import naive_funnel  # noqa: E402

from pipesim.engine.replication import run_replication  # noqa: E402
from pipesim.scenario.loader import load_scenario  # noqa: E402
from pipesim.scenario.rng import replication_seeds  # noqa: E402

BASELINE = ROOT / "scenarios" / "baseline.yaml"
REFERENCE = HERE / "reference.yaml"


def _rate(fn: Any, seeds: list[int]) -> float:
    """Replications per second of ``fn(seed)`` over ``seeds`` (CPU time of this process)."""
    t0 = time.process_time()
    for s in seeds:
        fn(s)
    return len(seeds) / (time.process_time() - t0)


def engine(rounds: int, replications: int) -> dict[str, Any]:
    """Naive funnel vs pipesim (reference, baseline), one core, alternating rounds."""
    funnel = naive_funnel.Funnel()
    events = naive_funnel.replication(funnel, 0, count_events=True)["events"]
    ref, base = load_scenario(REFERENCE), load_scenario(BASELINE)
    run_replication(ref, 0, 0)  # warm-up (imports, caches)
    run_replication(base, 0, 0)
    rows = []
    for r in range(rounds):
        seeds = replication_seeds(1000 + r, replications)
        naive = _rate(lambda s: naive_funnel.replication(funnel, s % 2**32), seeds)
        ref_rate = _rate(lambda s: run_replication(ref, 0, s), seeds)
        base_rate = _rate(lambda s: run_replication(base, 0, s), seeds)
        rows.append(
            {
                "naive_per_s": naive,
                "reference_per_s": ref_rate,
                "baseline_per_s": base_rate,
                "reference_ratio": ref_rate / naive,
                "baseline_ratio": base_rate / naive,
            }
        )
    med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
    return {"naive_events_per_replication": events, "rounds": rows, "median": med}


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def _pipesim(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipesim.cli", *args]


def cli(rounds: int, replications: int) -> dict[str, Any]:
    """``validate`` vs ``run -n 1``; the CLI run's parallel efficiency at 2 workers."""
    with tempfile.TemporaryDirectory(prefix="pipesim-speed-") as tmp:
        cat = str(Path(tmp) / "runs.sqlite")
        common = ["--quiet", "--catalogue", cat]
        validate, one, w1, w2 = [], [], [], []
        for r in range(rounds):
            validate.append(_wall(_pipesim("validate", str(BASELINE))))
            one.append(_wall(_pipesim("run", str(BASELINE), "-n", "1", "--out", f"{tmp}/one{r}",
                                      *common)))  # fmt: skip
            w1.append(_wall(_pipesim("run", str(BASELINE), "-n", str(replications), "--workers",
                                     "1", "--out", f"{tmp}/w1{r}", *common)))  # fmt: skip
            w2.append(_wall(_pipesim("run", str(BASELINE), "-n", str(replications), "--workers",
                                     "2", "--out", f"{tmp}/w2{r}", *common)))  # fmt: skip
    v, o = statistics.median(validate), statistics.median(one)
    t1, t2 = statistics.median(w1), statistics.median(w2)
    return {
        "validate_s": v,
        "run_n1_s": o,
        "run_n1_over_validate": o / v,
        "replications": replications,
        "run_1_worker_s": t1,
        "run_2_workers_s": t2,
        "parallel_efficiency": t1 / (2 * t2),
    }


def precision(half_widths: list[float]) -> list[dict[str, Any]]:
    """Replications a ``--precision`` run used against those its interval needed."""
    out = []
    with tempfile.TemporaryDirectory(prefix="pipesim-speed-") as tmp:
        for k, hw in enumerate(half_widths):
            folder = Path(tmp) / f"p{k}"
            _wall(_pipesim("run", str(BASELINE), "--precision", str(hw), "--out", str(folder),
                           "--quiet", "--catalogue", f"{tmp}/runs.sqlite"))  # fmt: skip
            summary = json.loads((folder / "summary.json").read_text())
            n, p = summary["replications"], summary["p_target"]["estimate"]
            needed = 1.96**2 * p * (1 - p) / hw**2
            out.append({"precision": hw, "replications": n, "needed": needed, "ratio": n / needed})
    return out


def optimise(rounds: int) -> dict[str, Any]:
    """``pipesim optimise`` vs one default ``pipesim run`` of the baseline."""
    opt, run = [], []
    with tempfile.TemporaryDirectory(prefix="pipesim-speed-") as tmp:
        cat = ["--catalogue", f"{tmp}/runs.sqlite"]
        for r in range(rounds):
            run.append(_wall(_pipesim("run", str(BASELINE), "--quiet", "--out", f"{tmp}/r{r}",
                                      *cat)))  # fmt: skip
            opt.append(_wall(_pipesim("optimise", str(BASELINE), "--out", f"{tmp}/o{r}")))
    o, r_ = statistics.median(opt), statistics.median(run)
    return {"optimise_s": o, "run_s": r_, "optimise_over_run": o / r_}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", nargs="+", default=["engine", "cli"],
                    choices=["engine", "cli", "precision", "optimise"])  # fmt: skip
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--replications", type=int, default=20, help="per engine round")
    ap.add_argument("--cli-replications", type=int, default=400)
    ap.add_argument("--precision", type=float, nargs="+", default=[0.02, 0.01])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    fig: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if "engine" in a.sections:
        fig["engine"] = e = engine(a.rounds, a.replications)
        m = e["median"]
        print("| engine, one core (median of rounds) | replications/s | vs naive funnel |")
        print("|---|---:|---:|")
        print(f"| naive SimPy funnel ({e['naive_events_per_replication']:,} events) "
              f"| {m['naive_per_s']:.1f} | 1 |")  # fmt: skip
        print(f"| pipesim, reference | {m['reference_per_s']:.1f} | {m['reference_ratio']:.2f}x |")
        print(f"| pipesim, baseline | {m['baseline_per_s']:.1f} | {m['baseline_ratio']:.2f}x |")
        ratios = ", ".join(
            f"{r['reference_ratio']:.2f}/{r['baseline_ratio']:.2f}" for r in e["rounds"]
        )
        print(f"\nper round (reference/baseline): {ratios}\n")
    if "cli" in a.sections:
        fig["cli"] = c = cli(a.rounds, a.cli_replications)
        print(f"validate {c['validate_s']:.2f} s, run -n 1 {c['run_n1_s']:.2f} s "
              f"({c['run_n1_over_validate']:.2f}x); run -n {c['replications']}: "
              f"1 worker {c['run_1_worker_s']:.1f} s, 2 workers {c['run_2_workers_s']:.1f} s, "
              f"efficiency {c['parallel_efficiency']:.2f}")  # fmt: skip
    if "precision" in a.sections:
        fig["precision"] = rows = precision(a.precision)
        for row in rows:
            print(f"--precision {row['precision']}: {row['replications']} replications, "
                  f"{row['needed']:.0f} needed ({row['ratio']:.2f}x)")  # fmt: skip
    if "optimise" in a.sections:
        fig["optimise"] = o = optimise(max(1, a.rounds // 2))
        print(f"optimise {o['optimise_s']:.1f} s, run {o['run_s']:.1f} s "
              f"({o['optimise_over_run']:.2f}x)")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
