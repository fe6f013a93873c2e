"""The studio's page: a Shiny for Python app over the live runs, the what-ifs and the catalogue.

The page leads with today's answer for the chosen scenario (P(target) with its interval, commit /
most likely / best case with theirs, the report's exceedance curve and bookings fan, redrawn as
replications arrive). The lever panel is generated from the schema (:mod:`pipesim.studio.levers`);
moving a lever cancels the what-if running and starts a new one, paired with the reference under
common random numbers, so the page shows the reference on the same replications beside the what-if
and the paired difference in P(target) with its interval (flagged when the interval still holds
zero). A value the schema refuses is not run: the schema's message is shown instead. "What does it
take?" runs :func:`pipesim.optimise.required.required` in the background. Saving writes the
what-if's file and run (:mod:`pipesim.studio.whatif`); everyone's saved what-ifs, comments and
decisions come from the catalogue (:mod:`pipesim.runs.discussion`), polled, so each session
sees the others'.

Every text a user typed reaches the page through htmltools, which escapes it; nothing typed is
evaluated (a lever's value is a number or a registered policy name, a path is looked up in the
schema).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiny import App, Inputs, Outputs, Session, reactive, render, ui

from pipesim.optimise.required import BadLever, TargetUnreachable, required
from pipesim.optimise.required_text import message as required_message
from pipesim.report.data import money, pct
from pipesim.runs.catalogue import list_runs
from pipesim.runs.database import DECISIONS, CatalogueError, resolve_catalogue
from pipesim.runs.discussion import (
    DiscussionError,
    SavedWhatIf,
    add_comment,
    decide,
    discussion,
    list_what_ifs,
    standing_decisions,
)
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario
from pipesim.studio import figures
from pipesim.studio.files import FileError, inside, scenario_files
from pipesim.studio.levers import HIRES, Lever, LeverError, lever_at, panel, scenario_changes
from pipesim.studio.live import LiveRun, References, Settings, Snapshot
from pipesim.studio.whatif import SaveError, build, problems_text, record, run_saved, save

POLL_S = 0.2
"""How often the page looks for a new estimate (seconds)."""

CATALOGUE_POLL_S = 1.0
"""How often the page looks for others' what-ifs, comments and decisions (seconds)."""

CSS = """
body { font-family: Arial, 'Liberation Sans', Helvetica, sans-serif; }
.big { font-size: 2.6rem; font-weight: 700; color: #0072b2; line-height: 1.1; }
.ci { color: #5b6770; }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin: .6rem 0; }
.case { border: 1px solid #d9dee2; border-radius: 6px; padding: .5rem .8rem; min-width: 12rem; }
.case .label { font-size: .8rem; text-transform: uppercase; color: #5b6770; margin: 0; }
.case .value { font-size: 1.3rem; font-weight: 700; margin: 0; }
.whatif-tag { background: #fff3d6; border: 1px solid #e69f00; border-radius: 4px;
  padding: 0 .4rem; font-weight: 700; }
.problem { color: #b33b00; font-weight: 600; white-space: pre-wrap; }
.side { display: grid; grid-template-columns: repeat(3, minmax(10rem, 1fr)); gap: .8rem; }
.side > div { border: 1px solid #d9dee2; border-radius: 6px; padding: .5rem .8rem; }
.unresolved { color: #b33b00; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 1rem; }
.charts svg { width: 100%; height: auto; }
.saved-whatif { border: 1px solid #d9dee2; border-radius: 6px; padding: .6rem .8rem;
  margin-bottom: .6rem; }
.decision-accepted { color: #007a4d; font-weight: 700; }
.decision-rejected { color: #b33b00; font-weight: 700; }
.decision-proposed { color: #5b6770; font-weight: 700; }
.lever-help { font-size: .75rem; color: #5b6770; margin-top: -.6rem; margin-bottom: .6rem; }
pre.take { white-space: pre-wrap; font-size: .8rem; }
"""


def input_id(path: str) -> str:
    """The page id of a lever's input (``reps.count`` -> ``lever_reps_count``)."""
    return "lever_" + re.sub(r"[^A-Za-z0-9]", "_", path)


@dataclass(frozen=True)
class Config:
    """What the studio serves.

    Attributes
    ----------
    folder
        The scenario folder (everything the page reads and writes as scenarios is inside it).
    catalogue
        The run catalogue (saved what-ifs' runs go beside it).
    settings
        How the live runs simulate.
    save_replications
        Replications of a saved what-if's run.
    take_replications, take_max_replications
        Replications per value and at most while resolving in "what does it take?".
    """

    folder: Path
    catalogue: Path
    settings: Settings = field(default_factory=Settings)
    save_replications: int = 1000
    take_replications: int = 200
    take_max_replications: int = 800


def _lever_input(lever: Lever, value: Any = None) -> Any:
    """A lever's input, at ``value`` (None: today's value) with its unit, bounds and help."""
    iid = input_id(lever.path)
    label = f"{lever.label}" + (f" ({lever.unit})" if lever.unit else "")
    shown = lever.value if value is None else value
    if lever.kind == "choice":
        chosen = shown if shown in lever.choices else lever.value
        control = ui.input_select(iid, label, list(lever.choices), selected=chosen)
    else:
        control = ui.input_numeric(
            iid,
            label,
            shown,
            min=lever.minimum,
            max=lever.maximum,
            step=lever.step,
        )
    bounds = lever.bounds_text
    help_text = lever.description + (f" Allowed: {bounds}." if bounds else "")
    return ui.div(
        control,
        ui.p(help_text, class_="lever-help", title=f"{lever.path} · source: {lever.source}"),
        class_="lever",
        **{"data-path": lever.path},
    )


def _case_cards(estimate: Any, currency: str, prefix: str) -> Any:
    return ui.div(
        *[
            ui.div(
                ui.p(c.label, class_="label"),
                ui.p(money(c.interval.estimate, currency), class_="value", id=f"{prefix}-{c.key}"),
                ui.p(
                    f"95% CI {money(c.interval.low, currency)}–{money(c.interval.high, currency)}",
                    class_="ci",
                ),
                class_="case",
            )
            for c in figures.cases(estimate)
        ],
        class_="cards",
    )


def _status(snap: Snapshot, total: int) -> str:
    est = snap.estimate
    n = 0 if est is None else est.replications
    if snap.error:
        return f"the run failed: {snap.error}"
    if snap.running:
        return f"running: {n:,} of {total:,} replications (refined as batches arrive)"
    if snap.cancelled:
        return f"stopped at {n:,} replications"
    return f"final: {n:,} replications" + (f" in {est.elapsed_s:.1f} s" if est else "")


def build_ui(config: Config) -> Any:
    """The page."""
    files = scenario_files(config.folder)
    first = "baseline.yaml" if "baseline.yaml" in files else (files[0] if files else None)
    sidebar = ui.sidebar(
        ui.input_select("scenario", "Scenario", files, selected=first),
        ui.input_text("author", "Your name", placeholder="who you are, for saves and comments"),
        ui.h5("Levers"),
        ui.output_ui("levers_out"),
        ui.input_text(
            "add_path", "Add a lever (dotted path)", placeholder="segments.S1.buyers_per_week"
        ),
        ui.input_action_button("add_lever", "Add lever", class_="btn-sm"),
        ui.output_ui("add_message_out"),
        ui.input_action_button("reset", "Back to the reference", class_="btn-sm mt-2"),
        width=360,
    )
    main = ui.div(
        ui.tags.style(CSS),
        ui.h3("Today's answer", id="answer-title"),
        ui.div(ui.output_ui("reference_out"), id="reference-section"),
        ui.hr(),
        ui.h3("What-if"),
        ui.div(ui.output_ui("whatif_out"), id="whatif-section"),
        ui.hr(),
        ui.h3("What does it take?"),
        ui.layout_columns(
            ui.output_ui("take_lever_out"),
            ui.input_numeric("take_confidence", "Confidence", 0.8, min=0.05, max=0.99, step=0.05),
            ui.div(ui.input_action_button("take_run", "Find the smallest value"), class_="mt-4"),
        ),
        ui.div(ui.output_ui("take_answer_out"), id="take-section"),
        ui.hr(),
        ui.h3("Save the what-if"),
        ui.layout_columns(
            ui.input_text("save_name", "Name", placeholder="hire_three_more"),
            ui.input_text("save_note", "Note", placeholder="why this what-if"),
            ui.div(
                ui.input_action_button("save", "Save what-if", class_="btn-primary"), class_="mt-4"
            ),
        ),
        ui.output_ui("save_message_out"),
        ui.hr(),
        ui.h3("Saved what-ifs"),
        ui.output_ui("saved_out"),
        ui.h4("Discuss"),
        ui.layout_columns(
            ui.input_select("discuss_whatif", "What-if", []),
            ui.input_text_area("comment_text", "Comment", rows=2),
            ui.div(ui.input_action_button("post_comment", "Post comment"), class_="mt-4"),
        ),
        ui.layout_columns(
            ui.input_select("decision", "Decision", list(DECISIONS), selected="proposed"),
            ui.div(ui.input_action_button("mark_decision", "Mark"), class_="mt-4"),
            ui.output_ui("discuss_message_out"),
        ),
    )
    return ui.page_sidebar(sidebar, main, title="pipesim studio", window_title="pipesim studio")


def make_server(
    config: Config, references: References
) -> Callable[[Inputs, Outputs, Session], None]:
    """The server function: one call per browser session."""
    settings = config.settings

    def server(input: Inputs, output: Outputs, session: Session) -> None:
        extra_levers: reactive.Value[list[str]] = reactive.value([])
        add_problem: reactive.Value[str] = reactive.value("")
        live: dict[str, LiveRun | None] = {"run": None}
        drawn_for: dict[str, str | None] = {"scenario": None}
        current: reactive.Value[tuple[tuple[str, Any], ...] | None] = reactive.value(None)
        problems: reactive.Value[list[str]] = reactive.value([])
        ref_snap: reactive.Value[Snapshot | None] = reactive.value(None)
        what_snap: reactive.Value[Snapshot | None] = reactive.value(None)
        save_message: reactive.Value[Any] = reactive.value("")
        discuss_message: reactive.Value[Any] = reactive.value("")

        def stop_live() -> None:
            run = live["run"]
            if run is not None:
                run.cancel()
            live["run"] = None

        session.on_ended(stop_live)

        # ------------------------------------------------------------- the reference
        @reactive.calc
        def ref_scenario() -> tuple[str, Path, Scenario] | tuple[str, None, str]:
            rel = input.scenario()
            try:
                path = inside(config.folder, rel or "")
                return rel, path, load_scenario(path)
            except FileError as exc:
                return rel, None, str(exc)
            except ScenarioError as exc:
                return rel, None, "\n".join(problems_text(exc))

        @reactive.calc
        def lever_set() -> dict[str, Lever]:
            ref = ref_scenario()
            if ref[1] is None:
                return {}
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            out = {lv.path: lv for lv in panel(scenario)}
            for path in extra_levers():
                try:
                    lv = lever_at(scenario, path)
                except LeverError:
                    continue
                out.setdefault(lv.path, lv)
            return out

        @reactive.effect
        @reactive.event(input.scenario)
        def _new_scenario() -> None:
            extra_levers.set([])
            stop_live()
            current.set(None)
            problems.set([])
            what_snap.set(None)

        @reactive.effect
        def _poll() -> None:
            reactive.invalidate_later(POLL_S)
            ref = ref_scenario()
            with reactive.isolate():
                if ref[1] is not None:
                    scenario = ref[2]
                    assert isinstance(scenario, Scenario)
                    snap = references.get(ref[1], scenario).snapshot()
                    if _changed(ref_snap.get(), snap):
                        ref_snap.set(snap)
                run = live["run"]
                if run is not None:
                    snap = run.snapshot()
                    if _changed(what_snap.get(), snap):
                        what_snap.set(snap)

        @render.ui
        def reference_out() -> Any:
            ref = ref_scenario()
            if ref[1] is None:
                return ui.p(str(ref[2]), class_="problem", id="scenario-problem")
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            snap = ref_snap()
            cur = scenario.economics.currency
            head = ui.p(
                f"{scenario.name}: chance of reaching {money(scenario.target.revenue, cur, 2)} "
                f"in {scenario.target.horizon_weeks:g} weeks from {scenario.target.start_date}",
            )
            if snap is None or snap.estimate is None:
                return ui.div(head, ui.p("simulating the first batch…", id="ref-status"))
            est = snap.estimate
            exceed, fan = (
                figures.charts(est.samples.revenue, est.samples.bookings, scenario, "ref")
                if est.samples is not None
                else ("", "")
            )
            return ui.div(
                head,
                ui.div(
                    pct(est.p_target.estimate, 1),
                    class_="big",
                    id="ref-p",
                    **{"data-p": repr(est.p_target.estimate)},
                ),
                ui.p(
                    f"95% CI {pct(est.p_target.low, 1)}–{pct(est.p_target.high, 1)}",
                    class_="ci",
                    id="ref-ci",
                ),
                ui.p(_status(snap, settings.replications), id="ref-status", class_="ci"),
                _case_cards(est, cur, "ref"),
                ui.div(ui.HTML(exceed), ui.HTML(fan), class_="charts", id="ref-charts"),
            )

        # ------------------------------------------------------------- levers
        @render.ui
        def levers_out() -> Any:
            # a lever added to the panel redraws it: the others keep the values they were moved to
            inputs = []
            for lv in lever_set().values():
                with reactive.isolate():
                    try:
                        now = input[input_id(lv.path)]()
                    except Exception:  # not drawn yet: today's value
                        now = None
                keep = now is not None and input.scenario() == drawn_for["scenario"]
                inputs.append(_lever_input(lv, now if keep else None))
            with reactive.isolate():
                drawn_for["scenario"] = input.scenario()
            return ui.div(*inputs, id="lever-panel")

        @reactive.effect
        @reactive.event(input.add_lever)
        def _add() -> None:
            ref = ref_scenario()
            if ref[1] is None:
                return
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            path = (input.add_path() or "").strip()
            try:
                lv = lever_at(scenario, path)
            except LeverError as exc:
                add_problem.set(str(exc))
                return
            add_problem.set("")
            if lv.path not in lever_set():
                extra_levers.set([*extra_levers(), lv.path])

        @render.ui
        def add_message_out() -> Any:
            text = add_problem()
            return ui.p(text, class_="problem", id="add-problem") if text else None

        @reactive.effect
        @reactive.event(input.reset)
        def _reset() -> None:
            for lv in lever_set().values():
                iid = input_id(lv.path)
                if lv.kind == "choice":
                    ui.update_select(iid, selected=lv.value)
                else:
                    ui.update_numeric(iid, value=lv.value)

        def panel_values() -> dict[str, Any] | None:
            """The panel's values by path; None while an input holds no number."""
            values: dict[str, Any] = {}
            for path, lv in lever_set().items():
                try:
                    value = input[input_id(path)]()
                except Exception:  # an input not rendered yet (the panel is being redrawn)
                    value = lv.value
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    return None
                if lv.kind == "integer" and isinstance(value, float) and value.is_integer():
                    value = int(value)
                values[path] = value
            return values

        @reactive.effect
        def _levers_moved() -> None:
            ref = ref_scenario()
            all_levers = lever_set()
            if ref[1] is None or not all_levers:
                return
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            values = panel_values()
            if values is None:
                with reactive.isolate():
                    stop_live()
                    what_snap.set(None)
                problems.set(["a lever is empty: type a number"])
                current.set(None)
                return
            try:
                changes = scenario_changes(scenario, all_levers, values)
            except LeverError as exc:
                with reactive.isolate():
                    stop_live()
                    what_snap.set(None)
                problems.set([str(exc)])
                current.set(None)
                return
            key = tuple(sorted((k, repr(v)) for k, v in changes.items()))
            with reactive.isolate():
                if current.get() == key and live["run"] is not None:
                    return
                stop_live()
                what_snap.set(None)
            if not changes:
                problems.set([])
                current.set(key)
                return
            try:
                alternative = build(scenario, changes)
            except ScenarioError as exc:
                problems.set(problems_text(exc))
                current.set(None)
                return
            problems.set([])
            current.set(key)
            live["run"] = LiveRun(alternative, settings, reference=scenario)

        @reactive.calc
        def changes_now() -> dict[str, Any]:
            ref = ref_scenario()
            if ref[1] is None or current() is None:
                return {}
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            values = panel_values()
            if values is None:
                return {}
            try:
                return scenario_changes(scenario, lever_set(), values)
            except LeverError:
                return {}

        @render.ui
        def whatif_out() -> Any:
            msgs = problems()
            if msgs:
                return ui.div(
                    ui.p("Not run: the value is refused.", class_="problem"),
                    ui.p("\n".join(msgs), class_="problem", id="whatif-problems"),
                )
            changes = changes_now()
            if not changes:
                return ui.p("Move a lever to ask a what-if.", id="whatif-idle")
            ref = ref_scenario()
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            cur = scenario.economics.currency
            label = "what-if: " + ", ".join(_change_text(k, v) for k, v in changes.items())
            snap = what_snap()
            if snap is None or snap.estimate is None:
                return ui.div(
                    ui.p(ui.span(label, class_="whatif-tag", id="whatif-label")),
                    ui.p("simulating the first batch…", id="whatif-status"),
                )
            est = snap.estimate
            assert est.reference_p_target is not None and est.difference is not None
            diff = est.difference
            verdict = (
                ui.span("resolved: the interval leaves out zero", id="whatif-verdict")
                if figures.resolved(diff)
                else ui.span(
                    "not resolved: the interval still holds zero (no difference shown yet)",
                    class_="unresolved",
                    id="whatif-verdict",
                )
            )
            charts = ("", "")
            if est.samples is not None:
                charts = figures.charts(est.samples.revenue, est.samples.bookings, scenario, "wi")
            return ui.div(
                ui.p(
                    ui.span(label, class_="whatif-tag", id="whatif-label"),
                    " — a what-if, not the forecast",
                ),
                ui.div(
                    ui.div(
                        ui.p("Reference (same replications)", class_="ci"),
                        ui.div(
                            pct(est.reference_p_target.estimate, 1), class_="big", id="whatif-ref-p"
                        ),
                        ui.p(_ci(est.reference_p_target), class_="ci", id="whatif-ref-ci"),
                    ),
                    ui.div(
                        ui.p("What-if", class_="ci"),
                        ui.div(
                            pct(est.p_target.estimate, 1),
                            class_="big",
                            id="whatif-p",
                            **{"data-p": repr(est.p_target.estimate)},
                        ),
                        ui.p(_ci(est.p_target), class_="ci", id="whatif-ci"),
                    ),
                    ui.div(
                        ui.p("Paired difference in P(target)", class_="ci"),
                        ui.div(
                            f"{diff.estimate * 100:+.1f} pp",
                            class_="big",
                            id="whatif-diff",
                            **{"data-diff": repr(diff.estimate)},
                        ),
                        ui.p(
                            f"95% CI {diff.low * 100:+.1f} to {diff.high * 100:+.1f} pp",
                            class_="ci",
                            id="whatif-diff-ci",
                        ),
                        ui.p(verdict),
                    ),
                    class_="side",
                ),
                ui.p(_status(snap, settings.replications), id="whatif-status", class_="ci"),
                ui.p(
                    "Mean revenue difference: "
                    + (
                        f"{money(est.revenue_difference.estimate, cur)} (95% CI "
                        f"{money(est.revenue_difference.low, cur)} to "
                        f"{money(est.revenue_difference.high, cur)})"
                        if est.revenue_difference is not None
                        else "n/a"
                    ),
                    class_="ci",
                ),
                _case_cards(est, cur, "wi"),
                ui.div(ui.HTML(charts[0]), ui.HTML(charts[1]), class_="charts", id="wi-charts"),
            )

        # ------------------------------------------------------------- what does it take
        @render.ui
        def take_lever_out() -> Any:
            ref = ref_scenario()
            choices = ["reps.count", "new_opportunities_per_rep_week"]
            if ref[1] is not None:
                scenario = ref[2]
                assert isinstance(scenario, Scenario)
                choices += [f"campaigns.{c}.budget_per_week" for c in scenario.campaigns]
            return ui.input_select("take_lever", "Lever", choices)

        @reactive.extended_task
        async def take_task(scenario: Scenario, lever: str, confidence: float) -> tuple[str, Any]:
            def go() -> tuple[str, Any]:
                try:
                    result = required(
                        scenario,
                        lever,
                        confidence,
                        replications=config.take_replications,
                        seed=settings.seed,
                        workers=settings.workers,
                        max_replications=config.take_max_replications,
                    )
                except (BadLever, ValueError) as exc:
                    return "problem", str(exc)
                except TargetUnreachable as exc:
                    return "unreachable", str(exc)
                return "answer", result

            return await asyncio.to_thread(go)

        @reactive.effect
        @reactive.event(input.take_run)
        def _take() -> None:
            ref = ref_scenario()
            if ref[1] is None:
                return
            scenario = ref[2]
            assert isinstance(scenario, Scenario)
            changes = changes_now()
            if changes:
                try:
                    scenario = build(scenario, changes)
                except ScenarioError:
                    pass
            confidence = input.take_confidence()
            if confidence is None or not 0 < confidence < 1:
                take_problem.set("the confidence must be between 0 and 1, e.g. 0.8")
                return
            take_problem.set("")
            take_task.invoke(scenario, input.take_lever(), float(confidence))

        take_problem: reactive.Value[str] = reactive.value("")

        @render.ui
        def take_answer_out() -> Any:
            if take_problem():
                return ui.p(take_problem(), class_="problem", id="take-problem")
            status = take_task.status()
            if status == "initial":
                return ui.p(
                    "Pick a lever and a confidence: the smallest value that reaches it, with "
                    "P(target) there and one step below (common random numbers).",
                    class_="ci",
                )
            if status == "running":
                return ui.p("searching… (each value simulated on the same seeds)", id="take-status")
            if status == "error":
                return ui.p("the search failed", class_="problem", id="take-problem")
            kind, value = take_task.result()
            if kind != "answer":
                return ui.p(str(value), class_="problem", id="take-problem")
            r = value
            rows = []
            if r.answer is not None:
                rows.append(("answer", r.answer))
            if r.below is not None:
                rows.append(("one step below", r.below))
            rows.append(("today", r.today))
            return ui.div(
                ui.tags.table(
                    ui.tags.tr(ui.tags.th("at"), ui.tags.th(r.lever), ui.tags.th("P(target)")),
                    *[
                        ui.tags.tr(
                            ui.tags.td(name),
                            ui.tags.td(f"{ev.value:g}"),
                            ui.tags.td(
                                f"{pct(ev.p, 1)} (95% CI {pct(ev.p_target['ci_low'], 1)}–"
                                f"{pct(ev.p_target['ci_high'], 1)}), {ev.replications:,} "
                                "replications"
                            ),
                        )
                        for name, ev in rows
                    ],
                    class_="table table-sm",
                    id="take-table",
                ),
                ui.p(
                    "resolved: the answer reaches the confidence and the step below does not"
                    if r.resolution is not None and r.resolution.resolved
                    else "not resolved: the intervals still reach across the confidence (see "
                    "below which way the answer could move)",
                    class_="ci"
                    if r.resolution is not None and r.resolution.resolved
                    else "unresolved",
                    id="take-verdict",
                ),
                ui.tags.pre(required_message(r), class_="take", id="take-answer"),
            )

        # ------------------------------------------------------------- save
        @reactive.extended_task
        async def save_task(saved: Any, note: str) -> tuple[str, str]:
            def go() -> tuple[str, str]:
                try:
                    folder = run_saved(
                        saved,
                        config.catalogue,
                        replications=config.save_replications,
                        seed=settings.seed,
                        workers=settings.workers,
                        note=note,
                    )
                except (DiscussionError, CatalogueError, OSError) as exc:
                    return "problem", f"{saved.name} is saved, but its run failed: {exc}"
                return "saved", folder

            return await asyncio.to_thread(go)

        @reactive.effect
        @reactive.event(input.save)
        def _save() -> None:
            ref = ref_scenario()
            if ref[1] is None:
                return
            changes = changes_now()
            if problems():
                save_message.set(
                    ui.p("fix the refused value first", class_="problem", id="save-problem")
                )
                return
            try:
                saved = save(
                    config.folder,
                    ref[0],
                    input.save_name() or "",
                    input.author() or "",
                    input.save_note() or "",
                    changes,
                    runs_root=config.catalogue.parent,
                )
            except SaveError as exc:
                save_message.set(ui.p(str(exc), class_="problem", id="save-problem"))
                return
            try:
                record(
                    saved,
                    ref[0],
                    input.author() or "",
                    input.save_note() or "",
                    changes,
                    config.catalogue,
                )
            except (DiscussionError, CatalogueError) as exc:
                save_message.set(
                    ui.p(
                        f"{saved.relative} is saved but not listed: {exc}",
                        class_="problem",
                        id="save-problem",
                    )
                )
                return
            save_message.set(
                ui.p(f"saved {saved.relative}; running it for the catalogue…", id="save-status")
            )
            save_task.invoke(saved, input.save_note() or "")

        @reactive.effect
        def _save_done() -> None:
            status = save_task.status()
            if status == "success":
                kind, text = save_task.result()
                if kind == "saved":
                    save_message.set(
                        ui.p(f"saved the what-if and its run ({text})", id="save-done")
                    )
                else:
                    save_message.set(ui.p(text, class_="problem", id="save-problem"))
            elif status == "error":
                save_message.set(
                    ui.p(
                        "the what-if's file is saved but its run failed",
                        class_="problem",
                        id="save-problem",
                    )
                )

        @render.ui
        def save_message_out() -> Any:
            return save_message()

        # ------------------------------------------------------------- shared memory
        def catalogue_stamp() -> tuple[int, ...]:
            path = resolve_catalogue(config.catalogue)
            out = []
            for p in (path, path.with_name(path.name + "-wal")):
                try:
                    st = p.stat()
                    out += [st.st_mtime_ns, st.st_size]
                except OSError:
                    out += [0, 0]
            return tuple(out)

        @reactive.poll(catalogue_stamp, CATALOGUE_POLL_S)
        def shared() -> tuple[list[SavedWhatIf], dict[str, Any], list[Any], dict[str, Any]]:
            try:
                saved = list_what_ifs(config.catalogue)
                decisions = standing_decisions(config.catalogue)
                entries = discussion(config.catalogue)
                runs = {r.key: r for r in list_runs(config.catalogue)}
            except CatalogueError:
                return [], {}, [], {}
            return saved, decisions, entries, runs

        @reactive.effect
        def _new_files() -> None:
            shared()
            with reactive.isolate():
                files = scenario_files(config.folder)
                chosen = input.scenario()
            ui.update_select("scenario", choices=files, selected=chosen)

        @render.ui
        def saved_out() -> Any:
            saved, decisions, entries, runs = shared()
            if not saved:
                return ui.p("No saved what-ifs yet.", id="saved-empty")
            cards = []
            for w in reversed(saved):
                run = runs.get(w.run_key) if w.run_key else None
                decision = decisions.get(w.name)
                result = (
                    f"P(target) {pct(run.p_target, 1)} (95% CI {pct(run.p_target_low, 1)}–"
                    f"{pct(run.p_target_high, 1)}), {run.replications:,} replications"
                    if run is not None and run.p_target is not None
                    else "run not finished"
                )
                notes = [e for e in entries if e.what_if == w.name]
                cards.append(
                    ui.div(
                        ui.h5(w.name, " ", ui.span("what-if of ", w.reference, class_="ci")),
                        ui.p(
                            ui.span(
                                decision.text if decision else "no decision",
                                class_=f"decision-{decision.text}" if decision else "ci",
                                id=f"decision-{w.name}",
                            ),
                            " · ",
                            result,
                            " · ",
                            ui.a(
                                "report",
                                href=f"whatif/{w.name}/report.html",
                                target="_blank",
                                id=f"report-{w.name}",
                            )
                            if w.run_key
                            else "",
                        ),
                        ui.p(
                            "changes: ",
                            ", ".join(_change_text(k, v) for k, v in w.changes.items()),
                            class_="ci",
                        ),
                        ui.p(
                            f"by {w.author} · {w.created_at[:16].replace('T', ' ')} UTC",
                            (f" · {w.note}" if w.note else ""),
                            class_="ci note",
                        ),
                        ui.tags.ul(
                            *[
                                ui.tags.li(
                                    ui.strong(e.author),
                                    f" {'marked it ' if e.kind == 'decision' else ''}",
                                    e.text,
                                    ui.span(
                                        f" · {e.created_at[:19].replace('T', ' ')}", class_="ci"
                                    ),
                                    class_=f"entry entry-{e.kind}",
                                )
                                for e in notes
                            ],
                            class_="discussion",
                        ),
                        class_="saved-whatif",
                        id=f"whatif-{w.name}",
                    )
                )
            return ui.div(*cards, id="saved-list")

        @reactive.calc
        def saved_names() -> tuple[str, ...]:
            return tuple(w.name for w in reversed(shared()[0]))

        @reactive.effect
        def _discuss_choices() -> None:
            # only when the set of what-ifs changes (a save), never on a comment: the choice a
            # user is making is not reset under them
            names = list(saved_names())
            with reactive.isolate():
                chosen = input.discuss_whatif()
            ui.update_select(
                "discuss_whatif",
                choices=names,
                selected=chosen if chosen in names else (names[0] if names else None),
            )

        @reactive.effect
        @reactive.event(input.post_comment)
        def _post() -> None:
            try:
                add_comment(
                    input.discuss_whatif() or "",
                    input.author() or "",
                    input.comment_text() or "",
                    config.catalogue,
                )
            except (DiscussionError, CatalogueError) as exc:
                discuss_message.set(ui.p(str(exc), class_="problem", id="discuss-problem"))
                return
            discuss_message.set(ui.p("comment posted", id="discuss-done"))
            ui.update_text_area("comment_text", value="")

        @reactive.effect
        @reactive.event(input.mark_decision)
        def _mark() -> None:
            try:
                decide(
                    input.discuss_whatif() or "",
                    input.decision(),
                    input.author() or "",
                    config.catalogue,
                )
            except (DiscussionError, CatalogueError) as exc:
                discuss_message.set(ui.p(str(exc), class_="problem", id="discuss-problem"))
                return
            discuss_message.set(ui.p(f"marked {input.decision()}", id="discuss-done"))

        @render.ui
        def discuss_message_out() -> Any:
            return discuss_message()

    return server


def _changed(old: Snapshot | None, new: Snapshot) -> bool:
    if old is None:
        return True
    n_old = None if old.estimate is None else old.estimate.replications
    n_new = None if new.estimate is None else new.estimate.replications
    return (n_old, old.running, old.error) != (n_new, new.running, new.error)


def _ci(i: Any) -> str:
    return f"95% CI {pct(i.low, 1)}–{pct(i.high, 1)}"


def _change_text(path: str, value: Any) -> str:
    if path == "reps.members" and isinstance(value, list):
        hires = sum(1 for m in value if isinstance(m, dict) and m.get("tenure_weeks") == 0)
        return f"reps.members: {len(value)} reps ({hires} new hires)"
    if path == HIRES:
        return f"{value} new hires"
    return f"{path}={value}"


def make_app(config: Config, references: References | None = None) -> App:
    """The Shiny app of the studio (without the token check and the report route)."""
    refs = references or References(config.settings)
    return App(lambda _request: build_ui(config), make_server(config, refs))
