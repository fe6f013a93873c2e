"""Benchmark the risk objectives' MILP: size and solve time against the sample's replications.

``optimise --objective max-p-target | cvar`` solves a sample-average approximation
(:mod:`pipesim.optimise.saa`): a binary per replication (``max-p-target``) or a shortfall
variable per replication (``cvar``), a binary per piece of each lever between its pilot levels,
on top of the LP's constraints. This script builds the baseline's shape with synthetic
per-replication responses (8 levers with 4 levels each, as the baseline's default pilot design:
3 campaigns, prospecting, 4 outbound segments; 6 rep groups) and times the solve with HiGHS
(both stages of ``max-p-target``) and, for ``max-p-target``, with CBC.

Usage::

    python benchmarks/bench_risk.py [--replications 100 200 400] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import numpy as np

from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.levers import Lever
from pipesim.optimise.problem import CampaignInput, LeadCosts, Problem, RepGroup
from pipesim.optimise.saa import Sample, build_risk_model, counted, prefer_margin
from pipesim.optimise.solver import solve

SEGMENTS = ("S1", "S2", "S3", "S4")
CAMPAIGNS = ("paid_search", "webinars", "trade_shows")


def synthetic(n: int, seed: int = 0) -> tuple[Problem, Sample]:
    """A baseline-shaped problem and a sample of ``n`` replications (concave on average)."""
    rng = np.random.default_rng(seed)
    free = LeadCosts(2.0, dict.fromkeys(SEGMENTS, 4.0), dict.fromkeys(SEGMENTS, 0.2))
    levers: dict[str, Lever] = {}
    campaigns = {}
    levels: dict[str, tuple[float, ...]] = {}
    change: dict[str, np.ndarray] = {}
    curves: dict[str, ResponseCurve] = {}

    def add(key: str, lv: tuple[float, ...], today: float, gain: float, unit: str) -> None:
        idx = lv.index(today)
        shape = np.sqrt(np.asarray(lv) / max(lv)) * gain
        shape = shape - shape[idx]
        noise = rng.normal(0.0, 0.15 * gain, size=(len(lv), n))
        noise[idx] = 0.0
        levels[key] = lv
        change[key] = shape[:, None] + noise
        curves[key] = ResponseCurve(key, unit, lv, tuple(shape), today, "pilot")

    for name in CAMPAIGNS:
        key = f"campaigns.{name}.budget_per_week"
        levers[key] = Lever(key, "campaign", name, "EUR per week", 2000.0)
        campaigns[name] = CampaignInput(
            name, 2000.0, 300.0, 52.0, dict.fromkeys(SEGMENTS, 0.25), free
        )
        add(key, (0.0, 1000.0, 2000.0, 4000.0), 2000.0, 2e6, "EUR per week")
    key = "leads.prospecting.hours_per_week"
    levers[key] = Lever(key, "prospecting", "", "hours per rep per week", 4.0)
    add(key, (0.0, 2.0, 4.0, 8.0), 4.0, 1e6, "hours per rep per week")
    for s in SEGMENTS:
        key = f"leads.outbound.opportunities_per_rep_week[{s}]"
        levers[key] = Lever(key, "outbound", s, "opportunities per rep per week", 0.0)
        add(key, (0.0, 0.15, 0.4, 1.0), 0.0, 3e6, "opportunities per rep per week")
    groups = tuple(RepGroup(f"g{k}", (f"r{k}a", f"r{k}b"), 30.0) for k in range(6))
    problem = Problem(
        segments=SEGMENTS,
        groups=groups,
        levers=levers,
        curves=curves,
        campaigns=campaigns,
        horizon_weeks=52.0,
        gross_margin=0.7,
        base_revenue=21e6,
        target_revenue=24e6,
        prospecting_costs=free,
        prospecting_split=dict.fromkeys(SEGMENTS, 0.25),
        hours_per_opportunity=10.0,
        outbound_pursue_hours=dict.fromkeys(SEGMENTS, 10.0),
        budget_total=(None, 6000.0),
        fairness_band=0.25,
    )
    sample = Sample(21e6 + rng.normal(0.0, 2e6, n), levels, change)
    return problem, sample


def time_solve(problem: Problem, sample: Sample, objective: str, solver: str) -> dict[str, Any]:
    """Build and solve once; the size and the seconds of each part."""
    t0 = time.perf_counter()
    rm = build_risk_model(problem, sample, objective, alpha=0.1)  # type: ignore[arg-type]
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    solve(rm.model, solver, 120.0, 1e-4, tie=False)
    first = time.perf_counter() - t0
    second = 0.0
    if objective == "max-p-target":
        prefer_margin(rm, counted(rm))
        t0 = time.perf_counter()
        solve(rm.model, solver, 120.0, 1e-4, tie=False)
        second = time.perf_counter() - t0
    n_var, n_con, n_bin = rm.size
    return {
        "variables": n_var,
        "constraints": n_con,
        "binaries": n_bin,
        "build_s": built,
        "solve_s": first,
        "second_stage_s": second,
    }


def main() -> None:
    """Run the benchmark and print a table (and JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replications", type=int, nargs="+", default=[100, 200, 400])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for n in args.replications:
        problem, sample = synthetic(n)
        for objective, solver in (
            ("max-p-target", "highs"),
            ("cvar", "highs"),
            ("max-p-target", "cbc"),
        ):
            runs = [time_solve(problem, sample, objective, solver) for _ in range(args.repeats)]
            row = {
                "replications": n,
                "objective": objective,
                "solver": solver,
                **{k: runs[0][k] for k in ("variables", "constraints", "binaries")},
                **{
                    k: statistics.median(r[k] for r in runs)
                    for k in ("build_s", "solve_s", "second_stage_s")
                },
            }
            rows.append(row)
            print(
                f"N={n:4d} {objective:12s} {solver:5s} {row['variables']:6d} vars "
                f"{row['binaries']:5d} binary {row['constraints']:6d} cons  build "
                f"{row['build_s']:.2f} s  solve {row['solve_s']:.2f} s  second stage "
                f"{row['second_stage_s']:.2f} s"
            )
    if args.json:
        meta = {"python": platform.python_version(), "machine": platform.machine()}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
