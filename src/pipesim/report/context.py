"""The closing sections of the run report: how the forecast moved, and what it rests on.

The drift section reads the run catalogue (:func:`pipesim.report.drift_runs.load_runs`) for earlier
runs of the same scenario with the same settings (a what-if's runs, or the forecast's, never the
two mixed); the assumptions section lists the scenario's key parameters
(:func:`assumption_rows`), its segments and vendors, and the run settings (with a what-if's
``--set``, ``--plan`` and ``--pipeline``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from pipesim.report.data import RunData, day_text, money, pct
from pipesim.report.drift_runs import load_runs, same_settings
from pipesim.report.page import Chart, esc, html_table, img_tag
from pipesim.runs.moved import read_moved
from pipesim.runs.records import saved_settings
from pipesim.scenario.loader import dump_scenario
from pipesim.scenario.schema import Scenario


def drift_records(data: RunData) -> tuple[Any, str]:
    """Recorded complete runs of this scenario with this run's settings, or None and why not.

    A what-if's report charts the runs of that what-if; the forecast's report the runs without
    what-if settings: what-ifs never move the forecast's line.
    """
    settings, variant = saved_settings(data.folder)
    try:
        runs = same_settings(load_runs(data.catalogue, scenario=data.name), variant)
    except Exception as exc:  # a missing or unusable catalogue must not cost the report
        return None, f"The run history is unavailable ({type(exc).__name__}: {exc})."
    runs = runs[~runs["partial"].astype(bool)].dropna(subset=["p_target"])
    if len(runs) < 2:
        what = (
            f"this what-if of {data.name} ({', '.join(settings.items())})"
            if variant is not None
            else f"{data.name} without what-if settings"
        )
        return None, (
            f"This is the first recorded run of {what}: the chart appears once there are two "
            "(`pipesim history` lists them)."
        )
    return runs, ""


def drift_section(data: RunData, chart: Chart | None, note: str) -> str:
    """How the forecast moved from run to run: the drift chart, or why there is none."""
    settings, variant = saved_settings(data.folder)
    if variant is not None:
        lead = (
            f"How P(target) and the revenue forecast of this what-if "
            f"({', '.join(settings.items())}) moved "
            f"from run to run. Only runs of {data.name} with these same settings are shown: the "
            "forecast itself and other what-ifs are kept apart."
        )
    else:
        lead = (
            f"How P(target) and the revenue forecast of {data.name} moved from run to run. "
            "What-ifs (runs with --set, --plan or another --pipeline) are left out."
        )
    if chart is None:
        body = f'<p class="note" id="drift-note">{esc(note)}</p>'
    else:
        body = img_tag(chart, "Each point is one recorded run (pipesim history); notes are "
                       "written beside their runs. The band is the 95% interval of P(target) "
                       "(top) and the P10-P90 revenue range (bottom). A dotted vertical line "
                       "marks a change of the scenario itself (a new version of its file) "
                       "between two runs.")  # fmt: skip
    lead = esc(lead)
    return f"""
<section id="drift" class="chart">
  <h2>How the forecast moved</h2>
  <p class="lead">{lead} To see why it moved between two runs, use
  <code>pipesim diff RUN_A RUN_B</code>.</p>
  {body}{moved_table(read_moved(data.folder), data.currency)}
</section>"""


def _points(x: float | None) -> str:
    return "n/a" if x is None else f"{round(x * 100, 1) + 0.0:+.1f} pts"


def _signed(x: float | None, currency: str) -> str:
    return "n/a" if x is None else ("+" if x >= 0 else "−") + money(abs(x), currency)


MAX_DEALS_SHOWN = 4
"""Deals named in a part's row of the move table (the rest are counted)."""


def moved_table(doc: dict[str, Any] | None, currency: str) -> str:
    """The deal diff kept by ``pipesim diff`` (``moved.json``) as a table, or nothing."""
    if doc is None:
        return ""
    a, total = doc["run_a"], doc["total"]
    rows = []
    for p in doc["parts"]:
        names = p["changes"]
        shown = ", ".join(names[:MAX_DEALS_SHOWN])
        more = len(names) - MAX_DEALS_SHOWN
        rows.append(
            (
                p["label"],
                _points(p["estimate"]),
                f"{_points(p['ci_low'])} to {_points(p['ci_high'])}",
                _signed(p["revenue"], currency),
                shown + (f" and {more} more" if more > 0 else ""),
            )
        )
    rows.append(
        (
            "total",
            _points(total["estimate"]),
            f"{_points(total['ci_low'])} to {_points(total['ci_high'])}",
            _signed(total["revenue"], currency),
            "",
        )
    )
    res = doc["resimulated"]
    when = str(a.get("finished_at") or "")[:16].replace("T", " ")
    lead = (
        f"Why it moved since run {a['short_id']} ({when}): the change "
        f"in P(target), {pct(res['p_target_a'], 1)} → {pct(res['p_target_b'], 1)} re-simulated "
        f"with {doc['replications']} replications under common random numbers, split deal by "
        "deal in the order listed; the parts add up to the total, each with its paired 95% "
        "interval (pipesim diff; the deals behind each part are in its diff.csv)."
    )
    table = html_table(
        ("part", "P(target)", "95% interval", "mean bookings", "deals"),
        rows,
        numeric=(1, 2, 3),
        id_="moved-table",
    )
    return f'\n  <p class="note" id="moved-lead">{esc(lead)}</p>\n  {table}'


def assumption_rows(sc: Scenario) -> dict[str, list[tuple[str, str]]]:
    """The scenario's key parameters, grouped, as (parameter, value) text pairs."""
    cur = sc.economics.currency
    start = sc.target.start_date
    end = start + dt.timedelta(days=int(np.ceil(sc.horizon_days)) - 1)
    r, q, leads = sc.reps, sc.qualification, sc.leads
    groups: dict[str, list[tuple[str, str]]] = {
        "Target": [
            ("Bookings target", money(sc.target.revenue, cur, 2)),
            ("Horizon", f"{sc.target.horizon_weeks:g} weeks, {day_text(start)} – {day_text(end)}"),
            (
                "Quota per rep seat",
                money(sc.rep_quota, cur, 2)
                if not sc.target.rep_quotas
                else ", ".join(
                    f"{label} {money(q, cur, 2)}"
                    for label, q in zip(sc.reps.labels(), sc.seat_quotas(), strict=True)
                ),
            ),
            ("Gross margin", pct(sc.economics.gross_margin)),
        ],
        "Sales team": [
            ("Rep seats", f"{r.seats}"),
            (
                "Selling hours per rep",
                f"{r.hours_per_week:g} h/week, {pct(r.admin_share)} lost to admin",
            ),
            ("Skill (mean ± sd)", f"{r.skill_mean:g} ± {r.skill_sd:g}"),
            (
                "Attrition",
                f"{pct(r.attrition_per_year)} a year; seat empty "
                f"{r.backfill_weeks:g} weeks; new hires ramp over {r.ramp_weeks:g} weeks",
            ),
            (
                "Qualification",
                (
                    f"{q.policy}: pursue at perceived fit ≥ {q.threshold:g}; checks "
                    f"{', '.join(q.checks) or 'none'}"
                )
                if q.policy == "threshold"
                else q.policy,
            ),
            (
                "Time per opportunity",
                f"{r.pursue_hours_per_week:g} h/week while open; "
                f"{r.qualify_hours:g} h to qualify a lead",
            ),
        ],
        "Lead sources": [
            (
                "Prospecting",
                f"{leads.prospecting.hours_per_week:g} h/rep/week, "
                f"{leads.prospecting.hours_per_lead:g} h per lead",
            ),
            ("Referrals", f"{leads.referrals.per_week:g} leads/week"),
            ("Lead goes cold after", f"{leads.max_wait_days:g} days without a rep"),
        ],
    }
    for name, c in sc.campaigns.items():
        weeks_end = c.end_week if c.end_week is not None else sc.target.horizon_weeks
        segs = ", ".join(f"{k} {v:.0%}" for k, v in c.segments.items())
        groups["Lead sources"].append(
            (
                f"Campaign {name}",
                f"{money(c.budget_per_week, cur)}/week, "
                f"{money(c.cost_per_lead, cur)} per lead, weeks "
                f"{c.start_week:g}–{weeks_end:g}; {segs}",
            )
        )
    if sc.open_pipeline:
        total = sum(o.count for o in sc.open_pipeline)
        detail = "; ".join(f"{o.count} {o.segment} in {o.stage}" for o in sc.open_pipeline)
        groups["Pipeline at start"] = [("Open opportunities", f"{total}: {detail}")]
    return groups


def _scenario_text(data: RunData, sc: Scenario) -> str:
    """The resolved scenario as YAML: the run's own ``scenario.yaml``, else written afresh.

    The runner writes ``scenario.yaml`` from the same scenario, so reading it saves a dump.
    """
    saved = data.folder / "scenario.yaml" if data.folder is not None else None
    if saved is not None and saved.is_file():
        return saved.read_text(encoding="utf-8")
    return dump_scenario(sc)


def assumptions_section(data: RunData) -> str:
    """What the forecast rests on: the scenario's key assumptions and the run settings."""
    sc = data.scenario
    s = data.summary
    run_rows = [
        (f"Simulated {data.period}s (replications)", f"{s['replications']:,}"),
        ("Root seed", f"{s['seed']}"),
        (
            "Interval method",
            f"{s['p_target'].get('method', '?')} {s['p_target'].get('level', 0.95):.0%}",
        ),
        ("Run time", f"{s.get('runtime_s', float('nan')):.1f} s"),
    ]
    settings, variant = saved_settings(data.folder)
    if variant is not None:
        files = (
            ("--plan", settings.plan),
            ("--pipeline", settings.pipeline),
            ("--pipeline-history", settings.pipeline_history),
            ("--pipeline-mapping", settings.pipeline_mapping),
        )
        run_rows[:0] = [
            ("What-if", f"settings id {variant}: not the forecast of {data.name}"),
            *(("--set", o) for o in settings.overrides),
            *((option, path) for option, path in files if path is not None),
        ]
    if sc is None:
        body = (
            '<p class="banner">The resolved scenario (scenario.yaml) is missing or no longer '
            "loads, so its assumptions cannot be listed.</p>"
        )
    else:
        parts = []
        for group, rows in assumption_rows(sc).items():
            parts.append(
                f"<h3>{esc(group)}</h3>" + html_table(["Parameter", "Value"], rows, class_="kv")
            )
        cur = sc.economics.currency
        seg_rows = [
            [
                name,
                f"{g.buyers_per_week:g}",
                pct(g.inbound_share),
                money(g.deal_size.mean, cur),
                f"{g.fit.mean:.2f}",
                f"{g.buying_group_mean:g}",
                f"{g.journey_scale:g}×",
                g.description,
            ]
            for name, g in sc.segments.items()
        ]
        parts.append(
            "<h3>Market segments</h3>"
            + html_table(
                [
                    "Segment",
                    "Buyers/week",
                    "Inbound",
                    "Mean deal",
                    "Fit",
                    "Buying group",
                    "Journey length",
                    "Description",
                ],
                seg_rows,
                numeric=(1, 2, 3, 4, 5, 6),
                id_="segments-table",
            )
        )
        criteria = list(sc.criteria)
        vendors = [
            ("us", sc.us.scores, 1.0),
            *((n, c.scores, c.presence) for n, c in sc.competitors.items()),
        ]
        parts.append(
            "<h3>Vendors (scores 0-10)</h3>"
            + html_table(
                ["Vendor", "In the deal", *criteria],
                [
                    [n, pct(pres), *(f"{sc_.get(k, float('nan')):g}" for k in criteria)]
                    for n, sc_, pres in vendors
                ],
                numeric=range(1, len(criteria) + 2),
                id_="vendors-table",
            )
        )
        parts.append(f'<p class="note">Description: {esc(sc.description or "–")}</p>')
        parts.append(
            "<details><summary>Full resolved scenario (scenario.yaml)</summary>"
            f"<pre>{esc(_scenario_text(data, sc))}</pre></details>"
        )
        body = "".join(parts)
    return f"""
<section id="assumptions">
  <h2>What the forecast rests on</h2>
  <p class="lead">The scenario's key assumptions. Change them in the YAML file (or with
  <code>--set key=value</code>) and re-run to see how the answer moves.</p>
  {body}
  <h3>Run</h3>
  {html_table(["Parameter", "Value"], run_rows, id_="run-table", class_="kv")}
</section>"""
