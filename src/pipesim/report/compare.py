"""Scenario comparison with common random numbers: paired differences and a comparison page.

Scenarios run with the same root seed get the same per-replication seeds and the same named
random sub-streams, so replication *i* of A and replication *i* of B face the same market luck.
The difference between them is then estimated on the *pairs*: the interval of the mean paired
difference is narrower than the interval that treats the two runs as independent, by the factor
``sqrt(1 - correlation)`` (roughly), which is the point of common random numbers. Both intervals
are reported so the gain is visible.

``compare.json`` records the comparison and the run folders it rests on, so ``pipesim report``
can rebuild ``compare.html`` without re-running.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pandas as pd

from pipesim.report import charts
from pipesim.report.data import RunData, day_text, from_results, load_run, money, money_unit, pct
from pipesim.report.html import write_run_report
from pipesim.report.page import Chart, esc, html_table, img_tag, page, render_chart, write_files
from pipesim.results.statistics import paired_difference
from pipesim.runs.runner import run, write_json_atomic
from pipesim.scenario.schema import Scenario

COMPARE_FILE = "compare.html"
COMPARE_JSON = "compare.json"
Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class PairedDifference:
    """Difference ``scenario - reference`` of a per-replication metric's mean, two ways.

    Attributes
    ----------
    metric
        ``"p_target"`` (mean of ``hit_target``) or ``"mean_revenue"``.
    scenario, reference
        Scenario names; the difference is scenario minus reference.
    estimate
        Mean difference.
    paired_low, paired_high
        95% interval from the paired differences (common random numbers).
    unpaired_low, unpaired_high
        95% interval treating the two runs as independent samples (for contrast).
    correlation
        Correlation of the metric across paired replications.
    n
        Number of pairs.
    """

    metric: str
    scenario: str
    reference: str
    estimate: float
    paired_low: float
    paired_high: float
    unpaired_low: float
    unpaired_high: float
    correlation: float
    n: int

    @property
    def paired_width(self) -> float:
        """Width of the paired interval."""
        return self.paired_high - self.paired_low

    @property
    def unpaired_width(self) -> float:
        """Width of the unpaired interval."""
        return self.unpaired_high - self.unpaired_low


def pair_tables(reference: pd.DataFrame, scenario: pd.DataFrame) -> pd.DataFrame:
    """Join two replication tables on ``replication``, checking they share seeds.

    Returns
    -------
    pandas.DataFrame
        The common replications with columns suffixed ``_ref`` and ``_alt``.

    Raises
    ------
    ValueError
        When a replication's seed differs between the runs (they were not run with the same
        root seed, so pairing them would not be common random numbers).
    """
    charts.require_columns(reference, ["replication", "seed"], "pair_tables")
    charts.require_columns(scenario, ["replication", "seed"], "pair_tables")
    both = reference.merge(scenario, on="replication", suffixes=("_ref", "_alt"))
    if both.empty:
        raise ValueError("the runs share no replications to pair")
    if not (both["seed_ref"].astype(str) == both["seed_alt"].astype(str)).all():
        raise ValueError(
            "replication seeds differ between the runs: run both with the same --seed so "
            "replication i of each uses the same random numbers"
        )
    return both


def differences(reference: RunData, scenario: RunData) -> list[PairedDifference]:
    """Paired differences in P(target) and mean revenue of ``scenario`` against ``reference``."""
    both = pair_tables(reference.table, scenario.table)
    out = []
    for metric, col in (("p_target", "hit_target"), ("mean_revenue", "revenue")):
        a = both[f"{col}_ref"].astype(float).to_numpy()
        b = both[f"{col}_alt"].astype(float).to_numpy()
        est, (plo, phi), (ulo, uhi), corr = paired_difference(a, b)
        out.append(
            PairedDifference(
                metric, scenario.name, reference.name, est, plo, phi, ulo, uhi, corr, len(both)
            )
        )
    return out


@dataclass
class Comparison:
    """Runs of several scenarios with common random numbers, the first being the reference."""

    runs: list[RunData]
    folders: list[str]
    differences: list[PairedDifference]

    @property
    def reference(self) -> RunData:
        """The scenario the others are compared with."""
        return self.runs[0]

    def to_json(self) -> dict[str, Any]:
        """What ``compare.json`` holds."""
        ref = self.reference.summary
        return {
            "reference": self.reference.name,
            "replications": ref["replications"],
            "seed": ref["seed"],
            "scenarios": [
                {
                    "name": r.name,
                    "folder": f,
                    "target": r.summary["target"],
                    "p_target": r.summary["p_target"],
                    "revenue": r.summary["revenue"],
                }
                for r, f in zip(self.runs, self.folders, strict=True)
            ],
            "differences": [
                {**asdict(d), "paired_width": d.paired_width, "unpaired_width": d.unpaired_width}
                for d in self.differences
            ],
        }


def compare(runs: Sequence[RunData], folders: Sequence[str] | None = None) -> Comparison:
    """Compare finished runs; the first is the reference.

    Parameters
    ----------
    runs
        At least two runs made with the same root seed.
    folders
        Their folders relative to the comparison folder (for links and ``compare.json``).
    """
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two scenarios")
    diffs = [d for r in runs[1:] for d in differences(runs[0], r)]
    names = list(folders) if folders is not None else [r.name for r in runs]
    return Comparison(list(runs), names, diffs)


def slug(name: str, taken: set[str]) -> str:
    """A folder name for a scenario, unique among ``taken`` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "scenario"
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}-{k}", k + 1
    taken.add(candidate)
    return candidate


def run_comparison(
    scenarios: Sequence[Scenario],
    replications: int,
    seed: int,
    workers: int,
    out: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Comparison, Path]:
    """Run each scenario with the same seed into ``out/<name>/`` and write the comparison.

    Parameters
    ----------
    scenarios
        Two or more scenarios; the first is the reference.
    replications, seed, workers
        As for :func:`pipesim.run`; the same for every scenario (common random numbers).
    out
        Comparison folder: ``compare.html``, ``compare.json``, ``charts/`` and one run folder
        (with its own ``report.html``) per scenario.
    progress
        Called with (scenario index, replications just finished).

    Returns
    -------
    tuple
        The comparison and the path of ``compare.html``.
    """
    if len(scenarios) < 2:
        raise ValueError("a comparison needs at least two scenarios")
    out = Path(out)
    taken: set[str] = set()
    runs, folders = [], []
    for k, sc in enumerate(scenarios):
        folder = slug(sc.name, taken)
        cb = (lambda n, k=k: progress(k, n)) if progress else None
        res = run(sc, replications, seed, workers, out / folder, progress=cb)
        data = from_results(res)
        write_run_report(out / folder, data)
        runs.append(data)
        folders.append(folder)
    comparison = compare(runs, folders)
    return comparison, write_compare_report(out, comparison)


def load_comparison(folder: str | Path) -> Comparison:
    """Rebuild a comparison from ``compare.json`` and the run folders it names."""
    folder = Path(folder)
    meta = json.loads((folder / COMPARE_JSON).read_text(encoding="utf-8"))
    names = [s["folder"] for s in meta["scenarios"]]
    return compare([load_run(folder / n) for n in names], names)


# --------------------------------------------------------------------------- page
def _pp(x: float) -> str:
    return f"{x * 100:+.1f} pp" if not math.isnan(x) else "n/a"


def _interval_pp(lo: float, hi: float) -> str:
    return f"{lo * 100:+.1f} to {hi * 100:+.1f} pp"


def _money_diff(x: float, currency: str, unit: float) -> str:
    text = money(abs(x), currency, 2, unit=unit)
    return ("+" if x >= 0 else "−") + text


def changed_parameters(runs: Sequence[RunData]) -> list[list[str]]:
    """Rows ``[parameter, value per scenario...]`` for every setting that differs.

    Settings are dotted paths into the resolved scenarios, in the order they first appear; a
    list (reps, open pipeline) is compared and shown as a whole. A setting left to its default
    shows the value the model uses (:func:`effective_settings`). Empty when a run has no
    scenario file.
    """
    flats = []
    for r in runs:
        if r.scenario is None:
            return []
        flats.append(_flatten(effective_settings(r.scenario)))
    keys = dict.fromkeys(k for f in flats for k in f if k not in ("name", "description"))
    rows = []
    missing = object()
    for k in keys:
        vals = [f.get(k, missing) for f in flats]
        if any(v != vals[0] for v in vals[1:]):
            texts = ["–" if v is missing else _short(v) for v in vals]
            if len(set(texts)) == 1:  # differ below the shown precision: show them in full
                texts = ["–" if v is missing else _full(v) for v in vals]
            rows.append([k, *texts])
    return rows


def _full(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else repr(value)
    return _short(value)


def effective_settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario's settings as the model runs them (a JSON-like dump).

    A setting left unset means a default the model works out from other settings; here it
    holds that value instead, so a comparison shows what each scenario actually uses and two
    scenarios that run alike do not differ: the quota per seat (revenue / seats), the team's
    seats (``rep01``, ``rep02``, ... when no members are listed), a campaign's last week (the
    horizon), a segment's competitors (all of them) and the segment split of referrals and
    outbound opportunities (in proportion to buyer flow, as :mod:`pipesim.market.sources`
    splits them).
    """
    d: dict[str, Any] = scenario.model_dump(mode="json")
    d["target"]["rep_quota"] = scenario.rep_quota
    if d["reps"].get("members") is None:
        d["reps"]["members"] = [{"name": label} for label in scenario.reps.labels()]
    for camp in d["campaigns"].values():
        if camp.get("end_week") is None:
            camp["end_week"] = scenario.target.horizon_weeks
    for seg in d["segments"].values():
        if seg.get("competitors") is None:
            seg["competitors"] = list(scenario.competitors)
    flow = {k: seg.buyers_per_week for k, seg in scenario.segments.items()}
    total = sum(flow.values())
    by_flow = {k: (v / total if total > 0 else 1 / len(flow)) for k, v in flow.items()}
    for block in ("referrals", "outbound"):
        if d["leads"][block].get("segments") is None:
            d["leads"][block]["segments"] = by_flow
    return d


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def _short(value: Any) -> str:
    """A setting's value in a few words."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, list):
        if not value:
            return "none"
        if all(isinstance(v, dict) for v in value):
            return _short_entries(value)
        return ", ".join(map(_short, value))
    if isinstance(value, dict) and not value:
        return "none"
    return str(value)


def _short_entries(entries: list[dict[str, Any]]) -> str:
    """A list of entries (reps, open opportunities) in a few words: names, else what they hold."""
    names = [str(v["name"]) for v in entries if v.get("name")]
    if len(names) == len(entries):
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        return f"{len(entries)}: {shown}"
    if all("count" in v for v in entries):  # open opportunities: count, segment and stage
        parts = [
            " ".join(str(v[k]) for k in ("count", "segment", "stage") if v.get(k) is not None)
            for v in entries
        ]
        shown = ", ".join(parts[:6]) + (", …" if len(parts) > 6 else "")
        return f"{sum(int(v['count']) for v in entries)} in {len(entries)} rows: {shown}"
    return f"{len(entries)} entries"


def _summary_table(runs: Sequence[RunData], cur: str) -> str:
    rows = []
    for r in runs:
        s = r.summary
        p = s["p_target"]
        interval = f"{pct(p['ci_low']).rstrip('%')}–{pct(p['ci_high'])}"
        rev = s["revenue"]
        rows.append(
            [r.name, money(r.target, cur), f"{pct(p['estimate'])} ({interval})"]
            + [money(rev[k], cur) for k in ("p10", "p50", "p90", "mean")]
        )
    headers = ["Scenario", "Target", "P(target)", "Commit (P10)", "Most likely (P50)",
               "Best case (P90)", "Mean revenue"]  # fmt: skip
    return html_table(headers, rows, numeric=range(1, 7), id_="compare-table")


def _difference_table(comparison: Comparison, cur: str, div: float) -> str:
    p_diffs = [d for d in comparison.differences if d.metric == "p_target"]
    r_diffs = [d for d in comparison.differences if d.metric == "mean_revenue"]
    rows = []
    for dp, dr in zip(p_diffs, r_diffs, strict=True):
        rows.append([
            f"{dp.scenario} − {dp.reference}",
            _pp(dp.estimate),
            _interval_pp(dp.paired_low, dp.paired_high),
            _interval_pp(dp.unpaired_low, dp.unpaired_high),
            _money_diff(dr.estimate, cur, div),
            f"{_money_diff(dr.paired_low, cur, div)} to {_money_diff(dr.paired_high, cur, div)}",
            f"{_money_diff(dr.unpaired_low, cur, div)} to "
            f"{_money_diff(dr.unpaired_high, cur, div)}",
        ])  # fmt: skip
    headers = ["Change", "Δ P(target)", "paired 95% interval", "unpaired 95% interval",
               "Δ mean revenue", "paired 95% interval", "unpaired 95% interval"]  # fmt: skip
    return html_table(headers, rows, numeric=range(1, 7), id_="difference-table")


def _pairing_note(comparison: Comparison, cur: str, div: float) -> str:
    """How much narrower pairing made the intervals, for the first alternative scenario."""
    dp = next(d for d in comparison.differences if d.metric == "p_target")
    dr = next(d for d in comparison.differences if d.metric == "mean_revenue")
    corr = (
        f"correlation of paired revenues {dr.correlation:.2f}"
        if math.isfinite(dr.correlation)
        else "no correlation: a scenario's revenue is the same in every replication"
    )
    if dp.paired_width > 0:
        gain = (dp.unpaired_width / dp.paired_width) ** 2
        cost = f": independent runs would need about {gain:.1f}× the replications to match it."
    else:
        cost = "."
    return (
        "Pairing replication <em>i</em> of each scenario (same seed, same market luck) makes the "
        f"interval of the change in P(target) for {esc(dp.scenario)} "
        f"{dp.paired_width * 100:.1f} pp wide instead of {dp.unpaired_width * 100:.1f} pp if "
        f"the runs were independent{cost} For mean revenue: "
        f"{money(dr.paired_width, cur, 2, unit=div)} against "
        f"{money(dr.unpaired_width, cur, 2, unit=div)} ({corr})."
    )


def compare_charts(comparison: Comparison, dpi: int = 150) -> list[Chart]:
    """Render the comparison's charts."""
    runs = comparison.runs
    p_rows = pd.DataFrame(
        [{"scenario": r.name, **r.summary["p_target"]} for r in runs],
        columns=["scenario", "estimate", "ci_low", "ci_high"],
    )
    revenue = pd.concat(
        [r.table[["revenue"]].assign(scenario=r.name) for r in runs], ignore_index=True
    )
    targets = {r.name: r.target for r in runs}
    diffs = pd.DataFrame([asdict(d) for d in comparison.differences if d.metric == "p_target"])
    figures = [
        ("compare_p_target", "Chance of reaching target per scenario",
         charts.p_target_chart(p_rows)),
        ("compare_exceedance", "Exceedance curves of all scenarios",
         charts.exceedance_chart(revenue, targets, comparison.reference.currency,
                                 confidence=None)),
        ("compare_difference", "Paired and unpaired intervals of the difference",
         charts.difference_chart(diffs)),
    ]  # fmt: skip
    return [render_chart(name, alt, fig, dpi) for name, alt, fig in figures]


def build_compare_report(comparison: Comparison, dpi: int = 150) -> tuple[str, list[Chart]]:
    """The comparison page's HTML and charts."""
    runs = comparison.runs
    ref = comparison.reference
    cur = ref.currency
    div, _ = money_unit(ref.target)
    chart_list = compare_charts(comparison, dpi)
    ch = {c.name: c for c in chart_list}
    s0 = ref.summary
    period = esc(ref.period)
    names = " vs ".join(r.name for r in runs)
    best = max(runs, key=lambda r: r.summary["p_target"]["estimate"])
    best_p = esc(pct(best.summary["p_target"]["estimate"]))
    ref_p = esc(pct(s0["p_target"]["estimate"]))
    links = " · ".join(
        f'<a href="{esc(f)}/report.html">{esc(r.name)} report</a>'
        for r, f in zip(runs, comparison.folders, strict=True)
    )
    changed = changed_parameters(runs)
    if changed:
        changed_html = html_table(["Parameter", *[r.name for r in runs]], changed,
                                  id_="changed-table")  # fmt: skip
    else:
        changed_html = '<p class="note">No parameter differs (or a scenario file is missing).</p>'
    p_figure = img_tag(ch["compare_p_target"], "Chance of reaching the target, 95% interval.")
    d_figure = img_tag(
        ch["compare_difference"],
        "Change in P(target) against the reference: paired interval (blue) and the interval "
        "independent runs would give (grey).",
    )
    e_figure = img_tag(ch["compare_exceedance"], "Exceedance curves of all scenarios.")
    body = f"""
<header class="top">
  <p class="kicker">Scenario comparison · pipesim Monte Carlo, common random numbers</p>
  <h1>{esc(names)}</h1>
  <p class="meta" id="compare-meta">{len(runs)} scenarios · {s0["replications"]:,} simulated
  {period}s each · seed {esc(s0["seed"])} · reference {esc(ref.name)} · horizon to
  {esc(day_text(ref.end_date))}</p>
</header>
<section id="compare-headline">
  <div class="hero">
    <div class="big" id="compare-best">{best_p}</div>
    <div>
      <p class="words" id="compare-best-text">{esc(best.name)} has the best chance to reach its
      target: {best_p} (reference {esc(ref.name)}: {ref_p}).</p>
      <p class="sub">Each scenario is simulated over the same {s0["replications"]:,} market
      histories; intervals are 95%.</p>
    </div>
  </div>
  {_summary_table(runs, cur)}
  {p_figure}
</section>
<section id="compare-differences">
  <h2>What the change buys (paired differences)</h2>
  <p class="lead">Difference of each scenario from {esc(ref.name)} over the same simulated
  {period}s. An interval that excludes zero means the change is real, not simulation noise.</p>
  {_difference_table(comparison, cur, div)}
  <p class="note" id="pairing-note">{_pairing_note(comparison, cur, div)}</p>
  {d_figure}
</section>
<section id="compare-exceedance">
  <h2>What each scenario lets us promise</h2>
  <p class="lead">Chance of reaching at least each revenue level, per scenario; dashed: target.
  A curve further right promises more at every confidence level.</p>
  {e_figure}
</section>
<section id="compare-changes">
  <h2>What differs between the scenarios</h2>
  {changed_html}
  <p class="note">Full reports: {links}</p>
</section>
<footer>Made by pipesim from saved runs; rebuild with <code>pipesim report DIR</code> on this
folder. Paired intervals use the per-replication differences (normal approximation).</footer>
"""
    return page(f"Comparison: {names}", body), chart_list


def write_compare_report(folder: str | Path, comparison: Comparison, dpi: int = 150) -> Path:
    """Write ``compare.html``, ``compare.json`` and the charts into ``folder``."""
    folder = Path(folder)
    text, chart_list = build_compare_report(comparison, dpi)
    path = write_files(folder, text, chart_list, COMPARE_FILE)
    write_json_atomic(folder / COMPARE_JSON, _json_safe(comparison.to_json()))
    return path


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
