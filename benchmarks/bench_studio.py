"""How soon does the studio answer? Time to the first estimate and to +/- 2 points on the baseline.

Two measurements, each repeated ``--rounds`` times (medians reported):

* ``live``: the studio's own background run (:class:`pipesim.studio.live.LiveRun`, the code the
  page polls) on ``scenarios/baseline.yaml``, from the moment the run is created (the worker pool
  starts inside it) to (a) the first estimate, (b) P(target)'s 95% Wilson interval within
  +/- 2 points. First the reference alone (what opening the page starts), then a paired what-if
  (``reps.count=18`` against the baseline, common random numbers: two replications per seed),
  where (b) is the what-if's P(target) and (c) the paired difference's interval within +/- 2
  points.
* ``page`` (``--page``, needs the studio extra and Chromium): ``pipesim studio`` in a subprocess,
  Playwright types 18 in the rep-count lever and waits for the what-if's P(target) to appear on
  the page: the delay a user sees, browser and server round trips included; once two seconds
  after the page opened (the reference's run still under way on the same cores) and once after
  the reference's run finished.

Usage::

    python benchmarks/bench_studio.py [--rounds 3] [--workers 2] [--batch 10] [--page]
        [--json out.json]

Timings are wall clock on a shared machine; the machine's load moves them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pipesim
from pipesim.studio.live import LiveRun, Settings

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
PRECISION = 0.02
CAP = 20_000


def _half(i: Any) -> float:
    return (i.high - i.low) / 2


def live_once(paired: bool, workers: int, batch: int) -> dict[str, Any]:
    """One live run until the asked intervals are within +/- 2 points (or the cap)."""
    reference = pipesim.load_scenario(BASELINE)
    scenario = pipesim.what_if(reference, {"reps.count": 18}) if paired else reference
    started = time.perf_counter()
    run = LiveRun(
        scenario,
        Settings(replications=CAP, batch=batch, workers=workers),
        reference=reference if paired else None,
    )
    first = p_done = d_done = None
    n_p = n_d = None
    try:
        while True:
            snap = run.snapshot()
            est = snap.estimate
            now = time.perf_counter() - started
            if est is not None:
                if first is None:
                    first = now
                if p_done is None and _half(est.p_target) <= PRECISION:
                    p_done, n_p = now, est.replications
                if paired and d_done is None and _half(est.difference) <= PRECISION:
                    d_done, n_d = now, est.replications
            if snap.error:
                raise RuntimeError(snap.error)
            if (p_done is not None and (not paired or d_done is not None)) or not snap.running:
                break
            time.sleep(0.01)
    finally:
        run.cancel()
        run.wait(30)
    return {
        "first_estimate_s": first,
        "p_target_2pt_s": p_done,
        "p_target_2pt_replications": n_p,
        "difference_2pt_s": d_done,
        "difference_2pt_replications": n_d,
    }


def page_once(workers: int, settled: bool = False) -> float:
    """Seconds from typing a rep count to the what-if's P(target) shown on the page.

    With ``settled`` the lever moves once the reference's run has finished; else two seconds
    after the page opened, while the reference's run still takes the workers' cores.
    """
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenarios"
        folder.mkdir()
        shutil.copy(BASELINE, folder / "baseline.yaml")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipesim.cli", "studio", str(folder), "--port", str(port),
             "--catalogue", str(Path(tmp) / "runs.sqlite"), "--workers", str(workers)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            url = re.search(r"on (http://\S+)", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
            chromium = shutil.which("chromium") or "/usr/bin/chromium"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("#ref-p", timeout=60_000)
                if settled:
                    page.wait_for_function(
                        "document.querySelector('#ref-status').innerText.startsWith('final')",
                        timeout=300_000,
                    )
                else:
                    time.sleep(2)  # the reference run under way, as when a user starts
                box = page.locator("#lever_reps_count")
                box.fill("18")
                started = time.perf_counter()
                box.press("Tab")
                page.wait_for_selector("#whatif-p", timeout=60_000)
                seconds = time.perf_counter() - started
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=Settings().batch)
    parser.add_argument("--page", action="store_true", help="also time the page in Chromium")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out: dict[str, Any] = {"workers": args.workers, "batch": args.batch, "rounds": {}}
    for paired in (False, True):
        name = "what-if (paired)" if paired else "reference"
        rounds = [live_once(paired, args.workers, args.batch) for _ in range(args.rounds)]
        out["rounds"][name] = rounds
        print(f"\n{name}, {args.workers} workers, batches of {args.batch}")
        for key in rounds[0]:
            values = [r[key] for r in rounds if r[key] is not None]
            if values:
                print(f"  {key}: median {statistics.median(values):.2f} ({values})")
    if args.page:
        for settled in (False, True):
            seconds = [page_once(args.workers, settled) for _ in range(args.rounds)]
            when = "reference finished" if settled else "reference still running"
            out[f"page_first_estimate_s ({when})"] = seconds
            shown = [round(x, 2) for x in seconds]
            print(f"\npage ({when}): lever to what-if P(target) shown: median "
                  f"{statistics.median(seconds):.2f} s ({shown})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
