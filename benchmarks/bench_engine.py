"""Benchmark the pipesim engine on the reference scenario.

Measures, on this machine:

(a) replications per second with 1 worker (in-process) and 2 workers (``pipesim.runs.runner.run``
    with ``workers=2, out=None``), per worker, and the parallel efficiency
    ``rate2 / (2 * rate1)``;
(b) SimPy events processed per replication (counted by an :class:`simpy.Environment` subclass
    in a separate pass, so counting costs nothing in the timed pass) and events per second of
    wall time, with the wall time split into lead generation (``build_leads``), ``env.run`` and
    the rest (model set-up, summary);
(c) events per second of a bare SimPy model (generator processes, timeouts and a
    ``Resource(capacity=20)``) processing about as many events, and the ratio pipesim / bare;
(d) peak memory (``ru_maxrss``) of fresh processes running a small and a large number of
    replications streamed to a temporary folder (``out=tmpdir``);
(e) a cProfile of a few replications (top functions by own time).

Usage::

    python benchmarks/bench_engine.py [--replications N] [--json out.json]
    python benchmarks/bench_engine.py --sections memory [--json memory.json]

The default sections are events (b, c), throughput (a) and profile (e); memory (d) takes minutes
and runs with ``--sections memory`` (or ``all``). Every figure is printed as a Markdown table;
``--json`` also writes them to a file. On a shared machine, read the CPU-time rows and the
"other processes" rows next to the wall-clock ones.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import simpy

import pipesim
from pipesim.engine import model as engine
from pipesim.engine.replication import run_replication
from pipesim.runs.runner import run
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

HERE = Path(__file__).resolve().parent
DEFAULT_SCENARIO = HERE / "reference.yaml"
BARE_CAPACITY = 20


# --------------------------------------------------------------------------- instrumentation
class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (one per ``step``)."""

    created: ClassVar[list[CountingEnvironment]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps = 0
        CountingEnvironment.created.append(self)

    def step(self) -> None:
        """Process the next event and count it."""
        self.steps += 1
        super().step()


class TimedEnvironment(simpy.Environment):
    """A SimPy environment that records the wall time of ``run`` (``step`` is untouched)."""

    run_seconds = 0.0

    def run(self, until: Any = None) -> Any:
        """Run as usual, adding the wall time to ``TimedEnvironment.run_seconds``."""
        t0 = time.perf_counter()
        try:
            return super().run(until)
        finally:
            TimedEnvironment.run_seconds += time.perf_counter() - t0


@contextlib.contextmanager
def environment_class(cls: type[simpy.Environment]) -> Iterator[None]:
    """Make ``simpy.Environment()`` (as the engine calls it) build ``cls`` for a while."""
    original = simpy.Environment
    simpy.Environment = cls  # type: ignore[misc]
    try:
        yield
    finally:
        simpy.Environment = original  # type: ignore[misc]


@contextlib.contextmanager
def timed_lead_generation(clock: list[float]) -> Iterator[None]:
    """Add the wall time of ``pipesim.engine.model.build_leads`` calls to ``clock[0]``."""
    original = engine.build_leads

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            clock[0] += time.perf_counter() - t0

    engine.build_leads = timed
    try:
        yield
    finally:
        engine.build_leads = original


# --------------------------------------------------------------------------- (a) throughput
def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Wall time, this process tree's CPU time, and other processes' CPU use over a block.

    Other processes' share is the machine's busy time (``/proc/stat``) minus our own: on a
    shared machine it tells how much of the two cores somebody else took during a measurement.
    """

    def __enter__(self) -> CpuMeter:
        self._t = os.times()
        self._busy = _machine_busy_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        t = os.times()
        self.cpu_self = (t.user - self._t.user) + (t.system - self._t.system)
        self.cpu_children = (t.children_user - self._t.children_user) + (
            t.children_system - self._t.children_system
        )
        busy = _machine_busy_seconds()
        self.other_cores = (
            max(0.0, busy - self._busy - self.cpu_self - self.cpu_children) / self.wall
            if busy is not None and self._busy is not None
            else None
        )


def replication_rate(
    scenario: Scenario, replications: int, workers: int, seed: int
) -> dict[str, Any]:
    """Replications per second of ``pipesim.runs.runner.run`` (in memory, ``out=None``)."""
    with CpuMeter() as m:
        run(scenario, replications=replications, seed=seed, workers=workers, out=None)
    return {
        "rate": replications / m.wall,
        "seconds": m.wall,
        "cpu_ms_per_replication": 1000.0 * (m.cpu_self + m.cpu_children) / replications,
        "other_processes_cores": m.other_cores,
    }


def throughput(scenario: Scenario, replications: int, seed: int, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` replications/s with 1 and 2 workers, and the parallel efficiency."""
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            runs[workers].append(replication_rate(scenario, replications, workers, seed))
    best = {w: max(r, key=lambda x: x["rate"]) for w, r in runs.items()}
    rate1, rate2 = best[1]["rate"], best[2]["rate"]
    return {
        "replications": replications,
        "repeats": repeats,
        "rate_1_worker": rate1,
        "rate_2_workers": rate2,
        "rate_per_worker_2_workers": rate2 / 2,
        "efficiency": rate2 / (2 * rate1),
        # CPU cost per replication with 2 workers vs 1: the parallel overhead (pickling, IPC,
        # pool start-up), insensitive to other processes competing for the cores.
        "cpu_efficiency": best[1]["cpu_ms_per_replication"] / best[2]["cpu_ms_per_replication"],
        "best": best,
        "runs": runs,
    }


# --------------------------------------------------------------------------- (b) pipesim events
def pipesim_events(scenario: Scenario, seeds: list[int]) -> dict[str, Any]:
    """Count SimPy events per replication, then time the same replications uninstrumented."""
    events: list[int] = []
    leads: list[int] = []
    for k, s in enumerate(seeds):
        CountingEnvironment.created.clear()
        with environment_class(CountingEnvironment):
            res = run_replication(scenario, k, s)
        events.append(sum(env.steps for env in CountingEnvironment.created))
        leads.append(int(res.row["leads"]))

    lead_clock = [0.0]
    TimedEnvironment.run_seconds = 0.0
    walls: list[float] = []
    cpu0 = time.process_time()
    with environment_class(TimedEnvironment), timed_lead_generation(lead_clock):
        for k, s in enumerate(seeds):
            t0 = time.perf_counter()
            run_replication(scenario, k, s)
            walls.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    wall = sum(walls)
    total_events = sum(events)
    n = len(seeds)
    return {
        "replications": n,
        "events_per_replication": total_events / n,
        "leads_per_replication": sum(leads) / n,
        "events_per_lead": total_events / max(1, sum(leads)),
        "ms_per_replication": 1000.0 * wall / n,
        "ms_per_replication_min": 1000.0 * min(walls),
        "cpu_ms_per_replication": 1000.0 * cpu / n,
        "ms_lead_generation": 1000.0 * lead_clock[0] / n,
        "ms_env_run": 1000.0 * TimedEnvironment.run_seconds / n,
        "ms_other": 1000.0 * (wall - lead_clock[0] - TimedEnvironment.run_seconds) / n,
        "events_per_s_wall": total_events / wall,
        "events_per_cpu_s": total_events / cpu,
        "events_per_s_env_run": total_events / TimedEnvironment.run_seconds,
    }


# --------------------------------------------------------------------------- (c) bare SimPy
def bare_model(env: simpy.Environment, gaps: list[float], services: list[float]) -> None:
    """Run customers who arrive after ``gaps``, queue for a ``Resource(capacity=20)``, hold it."""
    server = simpy.Resource(env, capacity=BARE_CAPACITY)

    def customer(service: float) -> Generator[simpy.Event, Any, None]:
        with server.request() as req:
            yield req
            yield env.timeout(service)

    def source() -> Generator[simpy.Event, Any, None]:
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    env.process(source())
    env.run()


def bare_timeouts(env: simpy.Environment, processes: int, steps: int) -> None:
    """Run ``processes`` generator processes that each yield ``steps`` unit timeouts."""

    def ticker() -> Generator[simpy.Event, Any, None]:
        for _ in range(steps):
            yield env.timeout(1.0)

    for _ in range(processes):
        env.process(ticker())
    env.run()


def bare_draws(customers: int, seed: int) -> tuple[list[float], list[float]]:
    """Pre-drawn inter-arrival gaps and service times (load 0.8 on 20 servers)."""
    rng = random.Random(seed)
    rate = 0.8 * BARE_CAPACITY
    gaps = [rng.expovariate(rate) for _ in range(customers)]
    services = [rng.expovariate(1.0) for _ in range(customers)]
    return gaps, services


def bare_simpy(target_events: float, repeats: int = 3, seed: int = 1) -> dict[str, Any]:
    """Events per second of the bare model, sized to process about ``target_events`` events."""
    probe = 2000
    env = CountingEnvironment()
    bare_model(env, *bare_draws(probe, seed))
    per_customer = env.steps / probe
    customers = max(100, round(target_events / per_customer))
    gaps, services = bare_draws(customers, seed)
    env = CountingEnvironment()
    bare_model(env, gaps, services)
    events = env.steps
    times, cpu_times = [], []
    for _ in range(repeats):
        env = simpy.Environment()
        t0, c0 = time.perf_counter(), time.process_time()
        bare_model(env, gaps, services)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    best, median = min(times), float(np.median(times))
    # Context: the cheapest SimPy model (timeouts only, no resource), same number of events.
    steps = max(1, round(events / BARE_CAPACITY))
    ticks = []
    for _ in range(repeats):
        env = simpy.Environment()
        t0 = time.perf_counter()
        bare_timeouts(env, BARE_CAPACITY, steps)
        ticks.append(time.perf_counter() - t0)
    return {
        "timeouts_only_events_per_s": BARE_CAPACITY * steps / float(np.median(ticks)),
        "customers": customers,
        "events": events,
        "events_per_customer": events / customers,
        "ms_median": 1000.0 * median,
        "events_per_s": events / median,
        "events_per_s_best": events / best,
        "events_per_cpu_s": events / float(np.median(cpu_times)),
    }


# --------------------------------------------------------------------------- (d) memory
def memory_child(scenario_path: Path, replications: int, workers: int, seed: int) -> None:
    """Run in a fresh process: stream ``replications`` to a temp dir, print peak RSS as JSON."""
    scenario = load_scenario(scenario_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pipesim-bench-") as tmp:
        run(scenario, replications=replications, seed=seed, workers=workers, out=tmp)
        csv_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
    elapsed = time.perf_counter() - t0
    with open("/proc/self/statm", encoding="ascii") as f:
        rss_now = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "replications": replications,
                "workers": workers,
                "seconds": elapsed,
                "maxrss_mib_before_run": before / 1024.0,
                "maxrss_mib_parent": parent / 1024.0,
                "rss_mib_parent_after_run": rss_now,
                "maxrss_mib_worker": children / 1024.0 if workers > 1 else None,
                "output_mib": csv_bytes / 2**20,
            }
        )
    )


def peak_memory(scenario_path: Path, counts: list[int], workers: int, seed: int) -> list[Any]:
    """Peak RSS of a fresh process per replication count (``ru_maxrss``, Linux KiB)."""
    out = []
    for n in counts:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--scenario",
            str(scenario_path),
            "--seed",
            str(seed),
            "--memory-child",
            str(n),
            "--memory-workers",
            str(workers),
        ]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


# --------------------------------------------------------------------------- (e) profile
def profile(scenario: Scenario, seeds: list[int], top: int) -> tuple[list[dict[str, Any]], str]:
    """CProfile ``run_replication`` over ``seeds``; the top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    for k, s in enumerate(seeds):
        run_replication(scenario, k, s)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = file.split("site-packages/")[-1].split("/src/")[-1]
        rows.append(
            {
                "function": f"{short}:{line}({func})",
                "calls_per_replication": ncalls / len(seeds),
                "tottime_share": tottime / total,
                "cumtime_share": cumtime / total,
            }
        )
    rows.sort(key=lambda r: -r["tottime_share"])
    lines = ["| function | calls/rep | own time | cumulative |", "| --- | ---: | ---: | ---: |"]
    for r in rows[:top]:
        lines.append(
            f"| `{r['function']}` | {r['calls_per_replication']:,.0f} | "
            f"{100 * r['tottime_share']:.1f}% | {100 * r['cumtime_share']:.1f}% |"
        )
    return rows[:top], "\n".join(lines)


# --------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    """Describe what the figures were measured on."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "pipesim": pipesim.__version__,
        "commit": commit or None,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _cores(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def table(fig: dict[str, Any]) -> str:
    """Format the headline figures as a Markdown table."""
    rows: list[tuple[str, str]] = []
    if "pipesim" in fig:
        ev, bare = fig["pipesim"], fig["bare_simpy"]
        rows += [
            ("leads per replication (mean)", f"{ev['leads_per_replication']:,.0f}"),
            ("ms per replication (in-process, wall, mean)", f"{ev['ms_per_replication']:.1f}"),
            ("CPU ms per replication (in-process)", f"{ev['cpu_ms_per_replication']:.1f}"),
            (
                "  of which lead generation / env.run / other (ms)",
                f"{ev['ms_lead_generation']:.1f} / {ev['ms_env_run']:.1f} / {ev['ms_other']:.1f}",
            ),
        ]
    if "throughput" in fig:
        a = fig["throughput"]
        n, b1, b2 = a["replications"], a["best"][1], a["best"][2]
        rows += [
            (f"replications/s, 1 worker ({n} replications)", f"{a['rate_1_worker']:.2f}"),
            (f"replications/s, 2 workers, total ({n})", f"{a['rate_2_workers']:.2f}"),
            ("replications/s per worker, 2 workers", f"{a['rate_per_worker_2_workers']:.2f}"),
            ("parallel efficiency rate2 / (2 rate1)", f"{100 * a['efficiency']:.0f}%"),
            (
                "CPU ms per replication, 1 / 2 workers",
                f"{b1['cpu_ms_per_replication']:.0f} / {b2['cpu_ms_per_replication']:.0f}",
            ),
            (
                "CPU-time efficiency (CPU per replication, 1 worker / 2 workers)",
                f"{100 * a['cpu_efficiency']:.0f}%",
            ),
            (
                "other processes' CPU (cores) during the 1 / 2-worker runs",
                f"{_cores(b1['other_processes_cores'])} / {_cores(b2['other_processes_cores'])}",
            ),
        ]
    if "pipesim" in fig:
        rows += [
            ("SimPy events per replication", f"{ev['events_per_replication']:,.0f}"),
            ("SimPy events per lead", f"{ev['events_per_lead']:.2f}"),
            ("pipesim events/s (replication wall time)", f"{ev['events_per_s_wall']:,.0f}"),
            ("pipesim events/s (env.run time only)", f"{ev['events_per_s_env_run']:,.0f}"),
            (
                "bare SimPy events/s (processes, timeouts, Resource(20))",
                f"{bare['events_per_s']:,.0f}",
            ),
            (
                "bare SimPy events/s, timeouts only (context)",
                f"{bare['timeouts_only_events_per_s']:,.0f}",
            ),
            ("ratio pipesim / bare (wall)", f"{100 * fig['ratio_wall']:.0f}%"),
            ("ratio pipesim / bare (env.run)", f"{100 * fig['ratio_env_run']:.0f}%"),
            (
                "events per CPU second, pipesim / bare (ratio)",
                f"{ev['events_per_cpu_s']:,.0f} / {bare['events_per_cpu_s']:,.0f} "
                f"({100 * fig['ratio_cpu']:.0f}%)",
            ),
            (
                "other processes' CPU (cores) during events / bare",
                f"{_cores(ev['other_processes_cores'])} / {_cores(bare['other_processes_cores'])}",
            ),
        ]
    for m in fig.get("memory", []):
        worker = m["maxrss_mib_worker"]
        rows.append(
            (
                f"peak RSS, {m['replications']:,} replications to a temp dir "
                f"({m['workers']} workers)",
                f"parent {m['maxrss_mib_parent']:.0f} MiB (now {m['rss_mib_parent_after_run']:.0f})"
                + (f", worker {worker:.0f} MiB" if worker is not None else "")
                + f" ({m['maxrss_mib_before_run']:.0f} MiB before the run; {m['seconds']:.0f} s)",
            )
        )
    lines = ["| figure | value |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


SECTIONS = ("events", "throughput", "memory", "profile")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--memory-child``, one memory measurement)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sections",
        nargs="+",
        choices=(*SECTIONS, "all"),
        default=["events", "throughput", "profile"],
        help="what to measure (default: events throughput profile; memory takes minutes)",
    )
    p.add_argument(
        "--replications",
        type=int,
        default=100,
        help="replications for each throughput measurement (default 100)",
    )
    p.add_argument(
        "--repeats", type=int, default=2, help="throughput repeats, best kept (default 2)"
    )
    p.add_argument(
        "--event-replications",
        type=int,
        default=10,
        help="replications for the event count and time split (default 10)",
    )
    p.add_argument(
        "--memory-replications",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="replication counts for the memory runs (default 100 1000)",
    )
    p.add_argument(
        "--memory-workers", type=int, default=2, help="workers for the memory runs (default 2)"
    )
    p.add_argument(
        "--profile-replications",
        type=int,
        default=3,
        help="replications to profile with cProfile (default 3)",
    )
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_child is not None:
        memory_child(args.scenario, args.memory_child, args.memory_workers, args.seed)
        return 0
    sections = set(SECTIONS if "all" in args.sections else args.sections)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    fig: dict[str, Any] = {"machine": machine(), "scenario": str(args.scenario)}
    scenario = load_scenario(args.scenario)
    seeds = replication_seeds(args.seed, max(args.event_replications, args.profile_replications))

    if sections & {"events", "throughput", "profile"}:
        say("warming up ...")
        run_replication(scenario, 0, seeds[0])

    if "events" in sections:
        n = args.event_replications
        say(f"events: counting and timing SimPy events over {n} replications ...")
        with CpuMeter() as m:
            fig["pipesim"] = pipesim_events(scenario, seeds[:n])
        fig["pipesim"]["other_processes_cores"] = m.other_cores
        say("events: bare SimPy model of the same size ...")
        with CpuMeter() as m:
            fig["bare_simpy"] = bare_simpy(fig["pipesim"]["events_per_replication"])
        fig["bare_simpy"]["other_processes_cores"] = m.other_cores
        bare = fig["bare_simpy"]["events_per_s"]
        fig["ratio_wall"] = fig["pipesim"]["events_per_s_wall"] / bare
        fig["ratio_env_run"] = fig["pipesim"]["events_per_s_env_run"] / bare
        fig["ratio_cpu"] = (
            fig["pipesim"]["events_per_cpu_s"] / fig["bare_simpy"]["events_per_cpu_s"]
        )

    if "throughput" in sections:
        n, k = args.replications, args.repeats
        say(f"throughput: {n} replications with 1 worker, then 2 workers, best of {k} ...")
        fig["throughput"] = throughput(scenario, n, args.seed, k)

    if "memory" in sections:
        counts = args.memory_replications
        say(f"memory: peak RSS for {counts} replications (fresh processes) ...")
        fig["memory"] = peak_memory(args.scenario, counts, args.memory_workers, args.seed)

    profile_md = ""
    if "profile" in sections:
        n = args.profile_replications
        say(f"profile: cProfile of {n} replications ...")
        fig["profile"], profile_md = profile(scenario, seeds[:n], 20)
    fig["benchmark_seconds"] = time.perf_counter() - started

    print(table(fig))
    if profile_md:
        print("\nTop functions by own time (cProfile; shares of the profiled time):\n")
        print(profile_md)
    print(
        f"\nbenchmark took {fig['benchmark_seconds']:.0f} s; load average at start "
        f"{fig['machine']['loadavg_at_start'][0]:.2f}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(fig, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
