"""Benchmark the optimiser's model: build and solve time for a plan with about 5,000 variables.

A synthetic :class:`pipesim.optimise.problem.Problem` of the real shape (rep groups x segments
of outbound variables, prospecting per group, campaigns with piecewise-linear concave response
curves, the shared lead queue, quotas with a fairness band, a strategic segment and the revenue
target) is built with :func:`pipesim.optimise.constraints.build_model` and solved through PuLP:

(a) build time (Python objects: variables, named constraints, objective), median of repeats;
(b) LP solve time with HiGHS (highspy, in-process; PuLP's transfer of the model included) and
    with CBC (PuLP's bundled binary: an LP file written and read back);
(c) the same with integer quotas (a MILP), HiGHS, to a 1% gap (``--mip-gap``);
(d) the time inside HiGHS itself (``getRunTime``), to separate the solver from PuLP.

Usage::

    python benchmarks/bench_optimise.py [--groups 490] [--segments 8] [--campaigns 20]
                                        [--repeats 5] [--json out.json]

Goals: build under 0.2 s, LP solve under 1 s on this machine.

**End to end** (``--end-to-end SCENARIO``): the wall time of ``pipesim optimise SCENARIO``
against one default ``pipesim run SCENARIO`` measured in the same minutes, in alternating
rounds (the order rotates each round), medians over ``--rounds``; with ``--old-src DIR`` (the
``src`` folder of another checkout, e.g. ``git archive HEAD`` unpacked) that code's
``pipesim optimise`` runs in the same rounds too, and the plans' headline figures (P(target)
before and after, mean revenue, the gain) are printed side by side. Goal: ``optimise`` no slower
than ``run``::

    python benchmarks/bench_optimise.py --end-to-end scenarios/baseline.yaml --rounds 3 \
        [--old-src /tmp/old/src] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pulp

from pipesim.optimise.constraints import build_model
from pipesim.optimise.curves import ResponseCurve
from pipesim.optimise.levers import Lever
from pipesim.optimise.problem import CampaignInput, LeadCosts, Problem, RepGroup
from pipesim.optimise.solver import solve


def synthetic_problem(groups: int, segments: int, campaigns: int, seed: int = 0) -> Problem:
    """A problem of the optimiser's real shape with random (concave) inputs."""
    rng = np.random.default_rng(seed)
    segs = tuple(f"S{k + 1}" for k in range(segments))

    def costs() -> LeadCosts:
        return LeadCosts(
            2.0,
            {s: float(rng.uniform(2, 15)) for s in segs},
            {s: float(rng.uniform(0.2, 0.6)) for s in segs},
        )

    def curve(key: str, unit: str, hi: float, pieces: int, scale: float) -> ResponseCurve:
        widths = np.full(pieces, hi / pieces)
        slopes = np.sort(rng.uniform(0.1, 1.0, pieces))[::-1] * scale
        levels = np.concatenate([[0.0], np.cumsum(widths)])
        revenue = np.concatenate([[0.0], np.cumsum(widths * slopes)])
        revenue -= np.interp(hi / 3, levels, revenue)
        return ResponseCurve(key, unit, tuple(levels), tuple(revenue), hi / 3, "pilot")

    levers: dict[str, Lever] = {}
    curves: dict[str, ResponseCurve] = {}
    camps: dict[str, CampaignInput] = {}
    for c in range(campaigns):
        name = f"c{c:02d}"
        key = f"campaigns.{name}.budget_per_week"
        levers[key] = Lever(key, "campaign", name, "EUR per week", 3000.0)
        curves[key] = curve(key, "EUR per week", 9000.0, 6, 800.0)
        reach = rng.dirichlet(np.ones(segments))
        camps[name] = CampaignInput(
            name,
            3000.0,
            float(rng.uniform(200, 1500)),
            52.0,
            {s: float(r) for s, r in zip(segs, reach, strict=True)},
            costs(),
        )
    key = "leads.prospecting.hours_per_week"
    levers[key] = Lever(key, "prospecting", "", "hours per rep per week", 4.0)
    curves[key] = curve(key, "hours per rep per week", 12.0, 6, 3e5)
    for s in segs:
        key = f"leads.outbound.opportunities_per_rep_week[{s}]"
        levers[key] = Lever(key, "outbound", s, "opportunities per rep per week", 0.3)
        curves[key] = curve(key, "opportunities per rep per week", 0.9, 6, 2e7)
    reps = [
        RepGroup(f"g{g:03d}", (f"rep{g:03d}",), 30.0 * float(rng.uniform(0.6, 1.0)))
        for g in range(groups)
    ]
    return Problem(
        segments=segs,
        groups=tuple(reps),
        levers=levers,
        curves=curves,
        campaigns=camps,
        horizon_weeks=52.0,
        base_revenue=2e8,
        target_revenue=1.8e8,
        prospecting_split={s: 1 / segments for s in segs},
        prospecting_costs=costs(),
        outbound_pursue_hours={s: float(rng.uniform(5, 20)) for s in segs},
        fixed_team_hours={s: {"qualifying": 50.0, "pursuing": 300.0} for s in segs},
        fixed_team_opportunities=dict.fromkeys(segs, 5.0),
        fixed_rep_hours={"flanking": 0.5},
        budget_total=(None, 3000.0 * campaigns),
        fairness_band=0.3,
        strategic_segments={segs[-1]: 0.1},
        quota_bounds=(0.2, 6.0),
    )


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time over ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _command(src: str | None, *args: str) -> tuple[list[str], dict[str, str]]:
    """The ``pipesim`` command line, with the code of ``src`` first on the path when given."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return [
        sys.executable,
        "-c",
        "import sys; from pipesim.cli import main; sys.exit(main())",
        *args,
    ], env


def _headline(folder: Path) -> dict[str, Any]:
    """The plan's headline figures from ``optimise.json``."""
    d = json.loads((folder / "optimise.json").read_text(encoding="utf-8"))
    gain = d.get("gain") or {}
    return {
        "p_before": d["p_target_before"],
        "p_after": d["p_target_after"],
        "revenue_before": d["revenue_before"]["mean"],
        "revenue_after": d["revenue_after"]["mean"],
        "lp_expected_revenue": d["plan"]["expected_revenue"],
        "gain": gain.get("total"),
        "gain_ci": [gain.get("total_ci_low"), gain.get("total_ci_high")],
        "levels": d["plan"]["levels"],
        "replications": {
            k: (v or {}).get("replications") for k, v in (d.get("checks") or {}).items()
        },
    }


def end_to_end(scenario: str, rounds: int, old_src: str | None) -> dict[str, Any]:
    """Median wall times of ``run`` and ``optimise`` (and the old ``optimise``), alternating."""
    scenario = str(Path(scenario).resolve())
    work = Path(tempfile.mkdtemp(prefix="bench_optimise_"))
    env_extra = {"PIPESIM_CATALOGUE": str(work / "runs.sqlite")}
    jobs: dict[str, tuple[list[str], dict[str, str]]] = {
        "run": _command(None, "run", scenario, "--quiet", "--out", str(work / "run")),
        "optimise": _command(None, "optimise", scenario, "--quiet", "--out", str(work / "new")),
    }
    if old_src is not None:
        jobs["optimise (old)"] = _command(
            old_src, "optimise", scenario, "--quiet", "--out", str(work / "old")
        )
    names = list(jobs)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            cmd, env = jobs[name]
            t = time.perf_counter()
            proc = subprocess.run(
                cmd, env={**env, **env_extra}, cwd=work, capture_output=True, text=True
            )
            wall = time.perf_counter() - t
            if proc.returncode not in (0, 3):
                raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
            times[name].append(wall)
            print(f"round {r + 1}: {name} {wall:.1f} s", file=sys.stderr)
    out: dict[str, Any] = {
        "scenario": scenario,
        "rounds": rounds,
        "times_s": times,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "headline": {"optimise": _headline(work / "new")},
    }
    if old_src is not None:
        out["headline"]["optimise (old)"] = _headline(work / "old")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, default=490, help="rep groups (one rep each)")
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--campaigns", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mip-gap", type=float, default=0.01, help="relative gap for the MILP row")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument(
        "--end-to-end",
        metavar="SCENARIO",
        default=None,
        help="time `pipesim optimise SCENARIO` against `pipesim run SCENARIO` instead",
    )
    ap.add_argument("--rounds", type=int, default=3, help="end-to-end rounds (alternating)")
    ap.add_argument("--old-src", default=None, help="end to end: also time this src's optimise")
    args = ap.parse_args()
    if args.end_to_end:
        res = end_to_end(args.end_to_end, args.rounds, args.old_src)
        res["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
        print(f"End to end on {res['scenario']}, {res['machine']}, {args.rounds} rounds\n")
        print("| command | median wall time | every round |\n|---|---|---|")
        for name, med in res["median_s"].items():
            every = ", ".join(f"{t:.1f}" for t in res["times_s"][name])
            print(f"| {name} | {med:.1f} s | {every} |")
        ratio = res["median_s"]["optimise"] / res["median_s"]["run"]
        print(f"\noptimise / run: {ratio:.2f} (goal: at most 1)")
        for name, h in res["headline"].items():
            print(f"\n{name}: {json.dumps(h, default=float)}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2, default=float), encoding="utf-8")
        return

    problem = synthetic_problem(args.groups, args.segments, args.campaigns)
    required = problem.target_revenue
    build_s, model = timed(lambda: build_model(problem, required_revenue=required), args.repeats)
    n_vars, n_cons = model.size
    nonzeros = sum(len(c) for c in model.prob.constraints())

    def lp(solver: str) -> tuple[float, Any, float | None]:
        m = build_model(problem, required_revenue=required)
        t = time.perf_counter()
        sol = solve(m, solver)
        wall = time.perf_counter() - t
        inner = None
        highs = getattr(m.prob, "solverModel", None)
        if highs is not None:
            inner = float(highs.getRunTime())
        return wall, sol, inner

    rows: list[tuple[str, str]] = []
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "pulp": pulp.__version__,
        "variables": n_vars,
        "constraints": n_cons,
        "nonzeros": nonzeros,
        "build_s": build_s,
    }
    rows += [
        ("variables / constraints / non-zeros", f"{n_vars:,} / {n_cons:,} / {nonzeros:,}"),
        (f"build (median of {args.repeats})", f"{build_s:.3f} s"),
    ]
    for solver in ("highs", "cbc"):
        walls, inner_times, sol = [], [], None
        for _ in range(args.repeats):
            wall, sol, inner = lp(solver)
            walls.append(wall)
            if inner is not None:
                inner_times.append(inner)
        wall = statistics.median(walls)
        results[f"lp_{solver}_s"] = wall
        assert sol is not None
        label = f"LP solve, {sol.solver} (median of {args.repeats}; {sol.status})"
        rows.append((label, f"{wall:.3f} s"))
        if inner_times:
            inner = statistics.median(inner_times)
            results[f"lp_{solver}_inside_s"] = inner
            rows.append(("  of which inside HiGHS (getRunTime)", f"{inner:.3f} s"))
    # whole-number quotas; no fairness band (a 30% band around a mean quota of about 1.6 leaves
    # no whole number for some groups: the model says so and exits 3)
    milp = replace(problem, integer_quotas=True, fairness_band=None)
    t = time.perf_counter()
    sol = solve(build_model(milp, required_revenue=required), "highs", 60, args.mip_gap)
    milp_s = time.perf_counter() - t
    results["milp_highs_s"] = milp_s
    label = f"MILP solve, integer quotas, gap tolerance {args.mip_gap:g}, {sol.solver}"
    rows.append((f"{label} ({sol.status})", f"{milp_s:.3f} s"))

    print(
        f"Optimiser benchmark: {results['machine']}, Python {results['python']}, "
        f"PuLP {results['pulp']}, load average {results['load_average']:.1f} at the start\n"
    )
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
