"""Why the forecast moved between two pipeline snapshots: the change split deal by deal.

Two runs of one scenario a week apart differ in their snapshot of deals (``--pipeline``), in the
time that passed and perhaps in settings. :func:`deal_changes` sorts what changed into
:data:`CATEGORIES`, matching deals by id:

==================  ========================================================================
category            what it holds
==================  ========================================================================
time passed         ``target.start_date``, ``horizon_weeks`` and ``period_start``; the days in
                    stage of deals still in the same stage
won                 deals booked in B (``booked``) that were not booked in A
lost                deals open in A, neither open nor booked in B
new                 deals open in B that were not open in A
pushed out          deals whose close date moved later (or was set)
pulled in           deals whose close date moved earlier (or was cleared)
amount changed      deals whose value changed
stage moved         deals in another stage (with its days in stage and known preference)
other deal changes  any other field of a deal (owner, buying group, ...), deals booked in A
                    and changed in B, and the deals' order (owners are dealt in turn)
parameters          every other setting of the scenario
==================  ========================================================================

:func:`attribute_deals` applies the categories to A one after another in that order, every
scenario re-simulated with one root seed (common random numbers; a deal with an id draws from a
stream of its own, so it meets the same market in every scenario), and a category's part is the
step it makes: the parts add up exactly to the re-simulated change from A to B. Each category
applied to A alone is simulated too; the gap between its part and its effect alone is its
interaction with the categories before it. The result is an
:class:`~pipesim.experiments.attribution.Attribution`, so ``pipesim diff`` prints, writes and
draws it like a parameter attribution.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipesim.experiments.attribution import (
    Attribution,
    Part,
    RunDiff,
    _count,
    assemble,
    paired_interval,
    simulate_states,
)
from pipesim.experiments.diff import (
    Change,
    apply_changes,
    format_setting,
    scenario_changes,
    scenario_from_record,
)
from pipesim.runs.records import RunRecord
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import validate
from pipesim.scenario.schema import Scenario

CATEGORIES: tuple[str, ...] = (
    "time passed",
    "won",
    "lost",
    "new",
    "pushed out",
    "pulled in",
    "amount changed",
    "stage moved",
    "other deal changes",
    "parameters",
)
"""The parts of a deal diff, in the order they are applied."""

TIME_KEYS = ("start_date", "horizon_weeks", "period_start")
"""Target settings that move with the calendar (the ``time passed`` category)."""

STAGE_FIELDS = ("stage", "days_in_stage", "preferred")
"""Deal fields that change with a stage move."""


@dataclass(frozen=True)
class DealChange:
    """One deal in one category: its id, name and how it read in A and in B."""

    category: str
    deal: str
    name: str
    before: str
    after: str

    def as_change(self) -> Change:
        """As a :class:`~pipesim.experiments.diff.Change` (for the tables of ``pipesim diff``)."""
        label = f"{self.deal} {self.name}".strip()
        return Change((label,), self.category, self.before, self.after)


def _expand(data: dict[str, Any], scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Open deals by id, one entry each (``count: 1``), in deal order.

    A deal with an id keeps it (suffixed as :meth:`Scenario.deal_ids` does); a deal without one
    is keyed by its label and keeps no id, so it is drawn as before.
    """
    ids = scenario.deal_ids()
    out: dict[str, dict[str, Any]] = {}
    k = 0
    for entry in data["open_pipeline"]:
        for _ in range(int(entry.get("count", 1))):
            one = {**entry, "count": 1}
            if entry.get("id") is not None:
                one["id"] = ids[k]
            out[ids[k]] = one
            k += 1
    return out


def _describe(entry: dict[str, Any] | None, booked: bool = False) -> str:
    if entry is None:
        return "–"
    value = format_setting(entry.get("value")) if entry.get("value") is not None else "drawn"
    if booked:
        closed = f" on {entry['closed']}" if entry.get("closed") else ""
        return f"won {value}{closed}"
    close = f", close {entry['close_date']}" if entry.get("close_date") else ""
    days = entry.get("days_in_stage")
    age = f" ({days:.0f} d)" if isinstance(days, int | float) else ""
    return f"{entry['stage']}{age}, {value}{close}"


def _close_key(entry: dict[str, Any]) -> str:
    return str(entry.get("close_date") or "")


class _Snapshots:
    """The two scenarios' deals and settings, and the scenario with some categories applied."""

    def __init__(self, a: Scenario, b: Scenario) -> None:
        self.da, self.db = a.model_dump(mode="json"), b.model_dump(mode="json")
        self.open_a, self.open_b = _expand(self.da, a), _expand(self.db, b)
        self.booked_a = {d["id"]: d for d in self.da["booked"]}
        self.booked_b = {d["id"]: d for d in self.db["booked"]}
        self.name = a.name
        self.changes: dict[str, list[DealChange]] = {c: [] for c in CATEGORIES}
        self.fields: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in CATEGORIES}
        self._sort()

    def _add(self, category: str, deal: str, before: str, after: str, name: str = "") -> None:
        self.changes[category].append(DealChange(category, deal, name, before, after))

    def _sort(self) -> None:
        oa, ob, ba, bb = self.open_a, self.open_b, self.booked_a, self.booked_b
        ta, tb = self.da["target"], self.db["target"]
        for key in TIME_KEYS:
            if ta.get(key) != tb.get(key):
                self._add("time passed", f"target.{key}", str(ta.get(key)), str(tb.get(key)))
        for key in [k for k in bb if k not in ba]:
            before = _describe(oa.get(key)) if key in oa else "not in the pipeline"
            name = bb[key].get("name") or (oa.get(key) or {}).get("name", "")
            self._add("won", key, before, _describe(bb[key], booked=True), name)
        for key in [k for k in oa if k not in ob and k not in bb]:
            self._add("lost", key, _describe(oa[key]), "gone (lost or removed)", oa[key]["name"])
        for key in [k for k in ob if k not in oa]:
            before = _describe(ba[key], booked=True) if key in ba else "–"
            self._add("new", key, before, _describe(ob[key]), ob[key]["name"])
        for key in [k for k in oa if k in ob]:
            a, b = oa[key], ob[key]
            name = b["name"]
            same_stage = a["stage"] == b["stage"]
            if same_stage and a.get("days_in_stage") != b.get("days_in_stage"):
                self.fields["time passed"].setdefault(key, {})["days_in_stage"] = b.get(
                    "days_in_stage"
                )
            if _close_key(a) != _close_key(b):
                cat = "pushed out" if _close_key(b) > _close_key(a) else "pulled in"
                self.fields[cat].setdefault(key, {})["close_date"] = b.get("close_date")
                self._add(cat, key, *self._pair("close_date", a, b), name=name)
            if a.get("value") != b.get("value"):
                self.fields["amount changed"].setdefault(key, {})["value"] = b.get("value")
                self._add("amount changed", key, *self._pair("value", a, b), name=name)
            if not same_stage:
                self.fields["stage moved"][key] = {f: b.get(f) for f in STAGE_FIELDS}
                self._add("stage moved", key, _describe(a), _describe(b), name)
            done = {"close_date", "value", "count", "id", "stage", "days_in_stage"}
            if not same_stage:
                done.add("preferred")
            other = [f for f in b if f not in done and a.get(f) != b.get(f)]
            if other:
                self.fields["other deal changes"][key] = {f: b.get(f) for f in other}
                self._add(
                    "other deal changes",
                    key,
                    ", ".join(f"{f} {format_setting(a.get(f))}" for f in other),
                    ", ".join(f"{f} {format_setting(b.get(f))}" for f in other),
                    name,
                )
        for key in [k for k in ba if k in bb and ba[k] != bb[k]] + [k for k in ba if k not in bb]:
            after = _describe(bb[key], booked=True) if key in bb else "gone"
            self._add("other deal changes", key, _describe(ba[key], booked=True), after)
        common = [k for k in oa if k in ob]
        if common != [k for k in ob if k in oa]:
            self._add("other deal changes", "(order)", "A's deal order", "B's deal order")
        self.params = [
            c for c in scenario_changes(self._rest(self.da), self._rest(self.db)) if c.simulated
        ]
        for c in self.params:
            self.changes["parameters"].append(
                DealChange("parameters", c.name, "", format_setting(c.old), format_setting(c.new))
            )

    @staticmethod
    def _pair(key: str, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
        return f"{key} {format_setting(a.get(key))}", f"{key} {format_setting(b.get(key))}"

    @staticmethod
    def _rest(data: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in data.items() if k not in ("open_pipeline", "booked")}
        out["target"] = {k: v for k, v in data["target"].items() if k not in TIME_KEYS}
        return out

    def present(self) -> list[str]:
        """The categories with something in them, in order."""
        return [c for c in CATEGORIES if self.changes[c]]

    def data(self, chosen: Iterable[str]) -> dict[str, Any]:
        """A's scenario (plain data) with the ``chosen`` categories applied."""
        on = set(chosen)
        data = copy.deepcopy(self.da)
        if "time passed" in on:
            for key in TIME_KEYS:
                data["target"][key] = self.db["target"].get(key)
        deals = {k: dict(v) for k, v in self.open_a.items()}
        booked = dict(self.booked_a)
        if "won" in on:
            for key in [k for k in self.booked_b if k not in self.booked_a]:
                deals.pop(key, None)
                booked[key] = self.booked_b[key]
        if "lost" in on:
            for key in [k for k in self.open_a if k not in self.open_b and k not in self.booked_b]:
                deals.pop(key, None)
        if "new" in on:
            for key in [k for k in self.open_b if k not in self.open_a]:
                deals[key] = dict(self.open_b[key])
                booked.pop(key, None)
        for cat in ("time passed", *CATEGORIES[4:9]):
            if cat in on:
                for key, fields in self.fields[cat].items():
                    if key in deals:
                        deals[key].update(fields)
        if "other deal changes" in on:
            for key in self.booked_a:
                if key in self.booked_b:
                    booked[key] = self.booked_b[key]
                elif key not in self.open_b:
                    booked.pop(key, None)
            order = {k: i for i, k in enumerate(self.open_b)}
            deals = dict(sorted(deals.items(), key=lambda kv: order.get(kv[0], len(order))))
        data["open_pipeline"] = list(deals.values())
        data["booked"] = list(booked.values())
        if "parameters" in on:
            data = apply_changes(data, self.params)
        return data


def deal_changes(a: Scenario, b: Scenario) -> dict[str, list[DealChange]]:
    """What changed from A to B, by category (every category, empty ones too)."""
    return _Snapshots(a, b).changes


def attribute_deals(
    a: Scenario,
    b: Scenario,
    replications: int = 400,
    seed: int = 0,
    workers: int = 1,
) -> Attribution:
    """Split the change in P(target) and mean bookings from ``a`` to ``b`` by category.

    The categories present are applied to A one after another (:data:`CATEGORIES` order); a
    state that is not a valid scenario on its own (a new deal in a segment only B has) is joined
    with the next step. Every scenario, and A with each category alone, is re-simulated with
    the root ``seed``; parts are paired differences with 95% intervals and add up exactly to the
    re-simulated change.
    """
    if replications < 2:
        raise ValueError("replications must be at least 2 for an interval")
    snap = _Snapshots(a, b)
    present = snap.present()
    built: dict[frozenset[str], Scenario | None] = {}

    def build(chosen: frozenset[str]) -> Scenario | None:
        if chosen not in built:
            label = " + ".join(c for c in CATEGORIES if c in chosen) or "as it was"
            try:
                built[chosen] = validate(snap.data(chosen), f"{snap.name} ({label})")
            except ScenarioError:
                built[chosen] = None
        return built[chosen]

    path: list[frozenset[str]] = [frozenset()]
    steps: list[list[str]] = []
    pending: list[str] = []
    for cat in present:
        pending.append(cat)
        state = path[-1] | set(pending)
        if build(state) is not None or cat == present[-1]:
            path.append(state)
            steps.append(pending)
            pending = []
    full = path[-1]
    if build(full) is None or build(frozenset()) is None:  # pragma: no cover - A and B validate
        raise RuntimeError("A with every change applied should be B")
    singles = [frozenset([c]) for c in present if build(frozenset([c])) is not None]
    states = list(dict.fromkeys([*path, *singles]))
    hits, revenue = simulate_states({s: built[s] for s in states}, replications, seed, workers)
    empty = frozenset[str]()
    interval = paired_interval

    parts: list[Part] = []
    for (prev, cur), cats in zip(itertools.pairwise(path), steps, strict=True):
        deals = [d.as_change() for c in cats for d in snap.changes[c]]
        note = "applied together: not a valid scenario one at a time" if len(cats) > 1 else ""
        part = Part(deals, note, title=" + ".join(cats))
        part.estimate, part.low, part.high = interval(hits[prev], hits[cur])
        part.revenue, part.revenue_low, part.revenue_high = interval(revenue[prev], revenue[cur])
        if len(cats) == 1 and frozenset(cats) in hits:
            part.alone, part.alone_low, part.alone_high = interval(
                hits[empty], hits[frozenset(cats)]
            )
        parts.append(part)
    changes = [d.as_change() for c in present for d in snap.changes[c]]
    note = (
        "deal by deal: the categories applied to A one after another in the order listed "
        f"({', '.join(present) or 'none'}); each part is the step it makes "
        f"({_count(len(states), 'scenario')} re-simulated under common random numbers); parts "
        "add up exactly to the re-simulated total; 'alone' is the category applied to A by itself"
    )
    return assemble(
        changes, parts, "deals", note, replications, seed, len(states),
        (hits[empty], hits[full]), (revenue[empty], revenue[full]),
    )  # fmt: skip


def snapshots_differ(a: Scenario, b: Scenario, dates_only: bool = False) -> bool:
    """Whether two scenarios differ in their deals or dates (a deal diff has more to say).

    With ``dates_only`` (neither run read a ``--pipeline`` snapshot) only the dates and the
    bookings to date count: an open pipeline changed in the scenario itself is a setting.
    """
    ta, tb = a.target, b.target
    return (
        (not dates_only and a.open_pipeline != b.open_pipeline)
        or a.booked != b.booked
        or any(getattr(ta, k) != getattr(tb, k) for k in TIME_KEYS)
    )


class DealDiffError(ValueError):
    """Two runs a deal diff cannot compare (the CLI exits 2)."""


def diff_snapshots(
    run_a: RunRecord,
    run_b: RunRecord,
    replications: int = 400,
    seed: int | None = None,
    workers: int = 1,
) -> RunDiff | None:
    """The deal diff of two recorded runs, or None when a parameter diff says it all.

    A deal diff is made when either run read a pipeline snapshot (``--pipeline``) and the deals
    or dates differ, or when the dates or bookings to date differ.

    Raises :class:`DealDiffError` for runs of different scenarios: how one scenario's
    forecast moved is a question about one scenario (``pipesim compare`` sets two side by side).
    """
    a, b = scenario_from_record(run_a), scenario_from_record(run_b)
    snapshot = run_a.pipeline is not None or run_b.pipeline is not None
    if not snapshots_differ(a, b, dates_only=not snapshot):
        return None
    if run_a.scenario != run_b.scenario:
        raise DealDiffError(
            f"run {run_a.short_id} is of scenario {run_a.scenario!r} and run {run_b.short_id} "
            f"of {run_b.scenario!r}: a diff of pipeline snapshots explains how one scenario's "
            "forecast moved; choose two runs of one scenario (pipesim history lists them), or "
            "set two scenarios side by side with pipesim compare"
        )
    at = attribute_deals(a, b, replications, run_a.seed if seed is None else seed, workers)
    return RunDiff(run_a, run_b, at)
