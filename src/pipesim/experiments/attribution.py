"""Attribution of a change in P(target) to the settings that differ between two scenarios.

Attribution re-simulates A with the changes applied, every scenario with the same root seed, so
replication *i* of each sees the same market (common random numbers,
:func:`pipesim.experiments.paired.run_points`), and a part is the mean of per-replication
differences with a paired interval (:func:`pipesim.report.compare.paired_difference`). Two
decompositions, both of which add up exactly to the re-simulated change from A to B:

- ``shapley`` (default up to :data:`MAX_EXACT_SHAPLEY` changes): every subset of the changes is
  simulated; a change's part is its marginal effect averaged over all orders in which the
  changes could be made. Order-free; costs 2^k scenarios.
- ``sequential`` (path): the changes are applied one after another in the order they appear in
  the scenario; a change's part is the step it makes on that path. Costs about 2k scenarios;
  parts depend on the order when changes interact.

Each change's effect *alone* (A plus that change only) is reported beside its part; the gap
between the two is its interaction with the other changes. A change that does not make a valid
scenario on its own is merged with the other such changes into one block.

:func:`attribute` splits the change between two scenarios; :func:`diff_runs` does it for two
recorded runs and returns a :class:`RunDiff`. The changes themselves come from
:mod:`pipesim.experiments.diff`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipesim.experiments.diff import (
    MISSING,
    Change,
    apply_changes,
    scenario_changes,
    scenario_from_record,
)
from pipesim.experiments.paired import run_points
from pipesim.report.compare import paired_difference
from pipesim.runs.records import RunRecord
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import validate
from pipesim.scenario.schema import Scenario

MAX_EXACT_SHAPLEY = 4
"""With ``method="auto"``, Shapley parts up to this many changes (2^4 = 16 scenarios)."""

METHODS = ("auto", "shapley", "sequential")


@dataclass
class Part:
    """A change (or block of changes) and its share of the change in P(target).

    Attributes
    ----------
    changes
        The changes applied together in this part.
    note
        Why changes were grouped, if they were.
    estimate, low, high
        The part of the change in P(target) (probability points) with its paired 95% interval.
    alone, alone_low, alone_high
        Effect of this part applied to A alone, with its paired interval (None when the part
        was not simulated alone).
    revenue, revenue_low, revenue_high
        The part of the change in mean revenue, with its paired interval.
    """

    changes: list[Change]
    note: str = ""
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    alone: float | None = None
    alone_low: float | None = None
    alone_high: float | None = None
    revenue: float = math.nan
    revenue_low: float = math.nan
    revenue_high: float = math.nan
    title: str = ""

    @property
    def label(self) -> str:
        """The part's title, else the changed paths, shortened when many."""
        if self.title:
            return self.title
        names = [c.name for c in self.changes]
        if len(names) <= 2:
            return " + ".join(names)
        return f"{names[0]} + {len(names) - 1} more"


@dataclass
class Attribution:
    """The parts of the change in P(target) from scenario A to scenario B.

    Attributes
    ----------
    changes
        Every setting that differs (including name and description, not simulated).
    parts
        The simulated changes, as applied (in path order for ``sequential``).
    method
        ``"shapley"`` or ``"sequential"``.
    method_note
        How the parts were computed and why this method.
    replications, seed
        Replications of each simulated scenario and their shared root seed.
    scenarios_simulated
        How many distinct scenarios were run.
    p_a, p_b
        Re-simulated P(target) of A and of B.
    total, total_low, total_high
        Re-simulated change ``p_b - p_a`` with its paired 95% interval.
    revenue_a, revenue_b, revenue_total, revenue_total_low, revenue_total_high
        The same for mean revenue.
    sum_of_parts
        Sum of the parts (equals ``total`` up to rounding).
    """

    changes: list[Change]
    parts: list[Part]
    method: str
    method_note: str
    replications: int
    seed: int
    scenarios_simulated: int
    p_a: float
    p_b: float
    total: float
    total_low: float
    total_high: float
    revenue_a: float
    revenue_b: float
    revenue_total: float
    revenue_total_low: float
    revenue_total_high: float
    sum_of_parts: float
    notes: list[str] = field(default_factory=list)

    @property
    def parts_within_interval(self) -> bool:
        """True when the sum of the parts lies within the total change's 95% interval."""
        if math.isnan(self.total_low):
            return math.isclose(self.sum_of_parts, self.total, abs_tol=1e-12)
        return self.total_low - 1e-12 <= self.sum_of_parts <= self.total_high + 1e-12


class _Builder:
    """Scenarios of A with subsets of the parts applied, validated once each."""

    def __init__(self, a: dict[str, Any], name: str) -> None:
        self.a = a
        self.name = name
        self.cache: dict[frozenset[int], Scenario | None] = {}
        self.errors: dict[frozenset[int], str] = {}

    def build(self, parts: Sequence[Part], chosen: frozenset[int]) -> Scenario | None:
        if chosen not in self.cache:
            changes = [c for k in sorted(chosen) for c in parts[k].changes]
            data = apply_changes(self.a, changes)
            try:
                self.cache[chosen] = validate(data, f"{self.name} with {len(changes)} change(s)")
            except ScenarioError as exc:
                self.cache[chosen] = None
                self.errors[chosen] = str(exc)
        return self.cache[chosen]


def _group_invalid(builder: _Builder, parts: list[Part]) -> tuple[list[Part], list[str]]:
    """Join each change that is not a valid scenario alone to the change(s) it needs.

    A change invalid alone (a campaign aimed at a new segment) is paired with the first other
    change that makes it valid (adding that segment); pairs sharing a change join. Whatever is
    still invalid is merged into one block, and if even that is not valid, every change is.
    """
    k = len(parts)
    bad = [j for j in range(k) if builder.build(parts, frozenset([j])) is None]
    if not bad:
        return parts, []
    group = list(range(k))  # union-find over parts

    def root(j: int) -> int:
        while group[j] != j:
            j = group[j]
        return j

    def join(i: int, j: int) -> None:
        group[root(i)] = root(j)

    unpaired = []
    for j in bad:
        partner = next(
            (i for i in range(k) if i != j and builder.build(parts, frozenset([i, j])) is not None),
            None,
        )
        if partner is None:
            unpaired.append(j)
        else:
            join(j, partner)
    for j in unpaired[1:]:
        join(j, unpaired[0])
    members: dict[int, list[int]] = {}
    for j in range(k):
        members.setdefault(root(j), []).append(j)
    blocks = list(members.values())
    invalid = [m for m in blocks if builder.build(parts, frozenset(m)) is None]
    if invalid:
        joined = sorted(j for m in invalid for j in m)
        blocks = [m for m in blocks if m not in invalid] + [joined]
        if builder.build(parts, frozenset(joined)) is None:
            blocks = [list(range(k))]
    merged, notes = [], []
    for m in sorted(blocks, key=min):
        if len(m) == 1:
            merged.append(parts[m[0]])
            continue
        names = [c.name for j in m for c in parts[j].changes]
        alone = [parts[j].label for j in m if j in bad]
        note = f"{', '.join(alone)} not valid alone: applied together with the rest of the block"
        merged.append(Part([c for j in m for c in parts[j].changes], note))
        notes.append(f"applied as one block: {' + '.join(names)} ({note})")
    builder.cache.clear()
    return merged, notes


def _sequential_path(builder: _Builder, parts: list[Part]) -> list[frozenset[int]]:
    """Coalitions from none to all, adding parts in order, skipping ahead past invalid states."""
    path = [frozenset[int]()]
    remaining = list(range(len(parts)))
    while remaining:
        current = path[-1]
        for k in remaining:
            if builder.build(parts, current | {k}) is not None:
                path.append(current | {k})
                remaining.remove(k)
                break
        else:  # nothing applies alone from here: take the rest in one step
            path.append(current | set(remaining))
            remaining = []
    return path


def attribute(
    a: Scenario,
    b: Scenario,
    replications: int = 400,
    seed: int = 0,
    workers: int = 1,
    method: str = "auto",
) -> Attribution:
    """Split the change in P(target) from ``a`` to ``b`` among the settings that differ.

    Parameters
    ----------
    a, b
        The two scenarios (A is the starting point).
    replications
        Replications of every simulated scenario (at least 2).
    seed
        Root seed shared by every simulated scenario (common random numbers).
    workers
        Worker processes; results do not depend on it.
    method
        ``"shapley"``, ``"sequential"`` or ``"auto"`` (Shapley up to :data:`MAX_EXACT_SHAPLEY`
        parts, else sequential). Shapley falls back to sequential when a subset of the changes
        is not a valid scenario.

    Returns
    -------
    Attribution
        Parts that add up to the re-simulated change, each with a paired interval.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if replications < 2:
        raise ValueError("replications must be at least 2 for an interval")
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    changes = scenario_changes(da, db)
    builder = _Builder(da, a.name)
    parts, notes = _group_invalid(builder, [Part([c]) for c in changes if c.simulated])
    k = len(parts)
    chosen = method
    if method == "auto":
        chosen = "shapley" if k <= MAX_EXACT_SHAPLEY else "sequential"
        why = (
            f"{_count(k, 'change')}, at most {MAX_EXACT_SHAPLEY}: every subset simulated"
            if chosen == "shapley"
            else f"{k} parts, more than {MAX_EXACT_SHAPLEY}: 2^{k} subsets would be too many"
        )
    else:
        why = "as requested"
    coalitions: list[frozenset[int]]
    if chosen == "shapley":
        coalitions = [
            frozenset(s) for r in range(k + 1) for s in itertools.combinations(range(k), r)
        ]
        invalid = [s for s in coalitions if builder.build(parts, s) is None]
        if invalid:
            chosen = "sequential"
            labels = " + ".join(parts[j].label for j in sorted(invalid[0]))
            why = f"Shapley needs every subset to be a valid scenario, and {labels} is not"
    path: list[frozenset[int]] = []
    if chosen == "sequential":
        path = _sequential_path(builder, parts)
        singles = [frozenset([j]) for j in range(k)]
        coalitions = list(dict.fromkeys([*path, *singles]))
        coalitions = [s for s in coalitions if builder.build(parts, s) is not None]
    full = frozenset(range(k))
    if full not in coalitions:
        coalitions.append(full)
    scenarios = {s: builder.build(parts, s) for s in coalitions}
    if scenarios.get(full) is None or scenarios.get(frozenset()) is None:  # pragma: no cover
        raise RuntimeError("A with every change applied should be B: " + str(builder.errors))
    hits, revenue = simulate_states(scenarios, replications, seed, workers)
    empty = frozenset[int]()
    interval = paired_interval

    for j, part in enumerate(parts):
        if frozenset([j]) in hits:
            part.alone, part.alone_low, part.alone_high = interval(
                hits[empty], hits[frozenset([j])]
            )
    if chosen == "shapley":
        for j, part in enumerate(parts):
            for values, target in ((hits, "p"), (revenue, "r")):
                before, after = _shapley_sides(values, j, k)
                est, lo, hi = interval(before, after)
                if target == "p":
                    part.estimate, part.low, part.high = est, lo, hi
                else:
                    part.revenue, part.revenue_low, part.revenue_high = est, lo, hi
        note = (
            "shapley: each part is the change's marginal effect averaged over every order of "
            f"making the changes ({_count(len(coalitions), 'scenario')}); parts add up exactly "
            f"to the re-simulated total ({why})"
        )
        ordered = parts
    else:
        ordered = []
        for prev, cur in itertools.pairwise(path):
            added = sorted(cur - prev)
            if len(added) == 1:
                part = parts[added[0]]
            else:
                part = Part(
                    [c for j in added for c in parts[j].changes],
                    "applied together: no single one of them was valid at this step",
                )
            part.estimate, part.low, part.high = interval(hits[prev], hits[cur])
            part.revenue, part.revenue_low, part.revenue_high = interval(
                revenue[prev], revenue[cur]
            )
            ordered.append(part)
        note = (
            "sequential: changes applied one after another in the order listed; each part is "
            f"the step it makes on that path ({_count(len(coalitions), 'scenario')}); parts add "
            f"up exactly to the re-simulated total ({why})"
        )
    return assemble(
        changes, ordered, chosen, note, replications, seed, len(coalitions),
        (hits[empty], hits[full]), (revenue[empty], revenue[full]), notes,
    )  # fmt: skip


def simulate_states(
    states: dict[Any, Scenario | None], replications: int, seed: int, workers: int
) -> tuple[dict[Any, np.ndarray], dict[Any, np.ndarray]]:
    """Run every valid scenario of ``states`` with one root seed; per-replication hits, revenue.

    Both are keyed like ``states`` and ordered by replication, so element *i* of any two pairs.
    """
    keys = [k for k, sc in states.items() if sc is not None]
    table = run_points(
        [(i, sc) for i, k in enumerate(keys) if (sc := states[k]) is not None],
        replications,
        seed,
        workers,
    )
    hits: dict[Any, np.ndarray] = {}
    revenue: dict[Any, np.ndarray] = {}
    for i, k in enumerate(keys):
        rows = table[table["point"] == i].sort_values("replication")
        hits[k] = rows["hit_target"].astype(float).to_numpy()
        revenue[k] = rows["revenue"].astype(float).to_numpy()
    return hits, revenue


def paired_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``y - x`` with its paired 95% interval."""
    est, (lo, hi), _, _ = paired_difference(x, y)
    return est, lo, hi


def assemble(
    changes: list[Change],
    parts: list[Part],
    method: str,
    note: str,
    replications: int,
    seed: int,
    scenarios_simulated: int,
    hits: tuple[np.ndarray, np.ndarray],
    revenue: tuple[np.ndarray, np.ndarray],
    notes: list[str] | None = None,
) -> Attribution:
    """The :class:`Attribution` of ``parts``, with the totals from A's and B's replications."""
    total, tlo, thi = paired_interval(*hits)
    rtotal, rlo, rhi = paired_interval(*revenue)
    return Attribution(
        changes=changes,
        parts=parts,
        method=method,
        method_note=note,
        replications=replications,
        seed=seed,
        scenarios_simulated=scenarios_simulated,
        p_a=float(hits[0].mean()),
        p_b=float(hits[1].mean()),
        total=total,
        total_low=tlo,
        total_high=thi,
        revenue_a=float(revenue[0].mean()),
        revenue_b=float(revenue[1].mean()),
        revenue_total=rtotal,
        revenue_total_low=rlo,
        revenue_total_high=rhi,
        sum_of_parts=float(sum(p.estimate for p in parts)),
        notes=list(notes or []),
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _shapley_sides(
    values: dict[frozenset[int], np.ndarray], j: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-replication weighted sums without and with part ``j`` (their difference is its part)."""
    n = len(next(iter(values.values())))
    before, after = np.zeros(n), np.zeros(n)
    others = [i for i in range(k) if i != j]
    for r in range(k):
        weight = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
        for s in itertools.combinations(others, r):
            coalition = frozenset(s)
            before += weight * values[coalition]
            after += weight * values[coalition | {j}]
    return before, after


@dataclass
class RunDiff:
    """Two recorded runs and the attribution of the change between them."""

    run_a: RunRecord
    run_b: RunRecord
    attribution: Attribution

    @property
    def recorded_change(self) -> float | None:
        """P(target) of B minus A as recorded (their own seeds and replications)."""
        if self.run_a.p_target is None or self.run_b.p_target is None:
            return None
        return self.run_b.p_target - self.run_a.p_target

    def notes(self) -> list[str]:
        """Caveats for the reader (partial runs, other versions, other seeds)."""
        out = list(self.attribution.notes)
        a, b = self.run_a, self.run_b
        for tag, r in (("A", a), ("B", b)):
            if r.partial:
                out.append(f"run {tag} ({r.short_id}) was interrupted (partial)")
        if a.pipesim_version != b.pipesim_version:
            out.append(
                f"the runs were made with pipesim {a.pipesim_version} and {b.pipesim_version}; "
                "the re-simulation uses this version, so a change in the model itself is not a part"
            )
        if a.seed != b.seed or a.replications != b.replications:
            out.append(
                f"the recorded runs differ in seed or replications ({a.seed}/{a.replications} and "
                f"{b.seed}/{b.replications}); the re-simulation uses one seed for both, so the "
                "recorded move also holds sampling noise the parts do not explain"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """What ``diff.json`` holds."""
        at = self.attribution

        def run(r: RunRecord) -> dict[str, Any]:
            return {
                "id": r.id,
                "short_id": r.short_id,
                "scenario": r.scenario,
                "finished_at": r.finished_at,
                "folder": r.folder,
                "seed": r.seed,
                "replications": r.replications,
                "p_target": {
                    "estimate": r.p_target,
                    "ci_low": r.p_target_low,
                    "ci_high": r.p_target_high,
                },
                "note": r.note,
            }

        return _json_safe(
            {
                "run_a": run(self.run_a),
                "run_b": run(self.run_b),
                "recorded_change": self.recorded_change,
                "method": at.method,
                "method_note": at.method_note,
                "replications": at.replications,
                "seed": at.seed,
                "scenarios_simulated": at.scenarios_simulated,
                "changes": [
                    {
                        **row,
                        "simulated": c.simulated,
                        "old": None if row["old"] is MISSING else row["old"],
                        "new": None if row["new"] is MISSING else row["new"],
                    }
                    for c in at.changes
                    for row in c.leaves()
                ],
                "resimulated": {
                    "p_target_a": at.p_a,
                    "p_target_b": at.p_b,
                    "revenue_mean_a": at.revenue_a,
                    "revenue_mean_b": at.revenue_b,
                },
                "total": {
                    "estimate": at.total,
                    "ci_low": at.total_low,
                    "ci_high": at.total_high,
                    "revenue": at.revenue_total,
                    "revenue_ci_low": at.revenue_total_low,
                    "revenue_ci_high": at.revenue_total_high,
                },
                "parts": [
                    {
                        "step": i + 1,
                        "label": p.label,
                        "changes": [c.name for c in p.changes],
                        "note": p.note,
                        "estimate": p.estimate,
                        "ci_low": p.low,
                        "ci_high": p.high,
                        "alone": p.alone,
                        "alone_ci_low": p.alone_low,
                        "alone_ci_high": p.alone_high,
                        "revenue": p.revenue,
                        "revenue_ci_low": p.revenue_low,
                        "revenue_ci_high": p.revenue_high,
                    }
                    for i, p in enumerate(at.parts)
                ],
                "check": {
                    "sum_of_parts": at.sum_of_parts,
                    "total": at.total,
                    "parts_within_total_interval": at.parts_within_interval,
                },
                "notes": self.notes(),
            }
        )


def diff_runs(
    run_a: RunRecord,
    run_b: RunRecord,
    replications: int = 400,
    seed: int | None = None,
    workers: int = 1,
    method: str = "auto",
) -> RunDiff:
    """Re-simulate and attribute the move from recorded run A to run B.

    ``seed`` defaults to run A's seed.
    """
    a, b = scenario_from_record(run_a), scenario_from_record(run_b)
    at = attribute(a, b, replications, run_a.seed if seed is None else seed, workers, method=method)
    return RunDiff(run_a, run_b, at)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj
