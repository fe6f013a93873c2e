"""Pilot simulations designed for the plan: which levels, how many replications, where it matters.

A lever's response curve is measured at a few levels (:func:`pipesim.optimise.pilot.pilot_levels`)
besides today's, every one on the same seeds as today's run: replication ``i`` of every pilot
point meets the same buyers as replication ``i`` of today's run (common random numbers), so the
revenue change is estimated on pairs, and today's run *is* the today level of every curve (the
shared :class:`~pipesim.optimise.sampling.Replications` never simulates it twice).

What the LP uses of a curve is its pieces: the revenue change between neighbouring levels. So
:class:`PilotDesign` spends replications on pieces, not on a fixed count per point:

* **Levels.** A curve starts with the nearest level on each side of today (``pilot.adaptive``).
  A level further out is simulated when a plan reaches the end of the curve measured so far
  (:meth:`PilotDesign.follow`), or when no plan is feasible without it
  (:meth:`PilotDesign.complete`); so the curve's domain ends where the design's does wherever a
  plan could use it.
* **Replications.** Every point starts with ``pilot.first_replications``. A piece whose standard
  error (as the curve estimates it, the replications its two ends share paired) is above its aim
  gets, at both ends, as many replications as its paired standard deviation asks for, up to
  ``pilot.replications``; the added replications continue the same seeds. The aim is
  ``pilot.standard_error`` times today's mean revenue, and the finer
  ``pilot.standard_error_at_plan`` for the pieces a plan sits on: those decide how the plan
  trades one lever against another.

:meth:`PilotDesign.curves` fits each lever's measured points by a concave piecewise-linear curve
(:func:`pipesim.optimise.curves.curve_from_points`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from pipesim.optimise.curves import ResponseCurve, curve_from_points
from pipesim.optimise.levers import Lever, apply_overlay, overlay
from pipesim.optimise.pilot import pilot_levels
from pipesim.optimise.sampling import Replications, difference_interval
from pipesim.optimise.settings import Pilot
from pipesim.scenario.schema import Scenario

Echo = Callable[[str], None]
PieceKey = tuple[str, int | None, int | None]
"""A piece by its lever and its two ends (indices of pilot points; None for today's run)."""


@dataclass(frozen=True)
class PilotPoint:
    """One pilot point: a lever moved to one level, everything else as today."""

    lever: Lever
    level: float
    scenario: Scenario


def pilot_points(scenario: Scenario, levers: list[Lever], settings: Pilot) -> list[PilotPoint]:
    """Every level of the design of ``levers``: each lever at each of its :func:`pilot_levels`."""
    return [
        PilotPoint(lever, level, apply_overlay(scenario, overlay(scenario, {lever.key: level})))
        for lever in levers
        for level in pilot_levels(lever, settings)
    ]


def first_round(settings: Pilot) -> int:
    """Replications of every pilot point in its first round."""
    return min(settings.first_replications, settings.replications)


def _se(d: np.ndarray) -> tuple[float, float]:
    """Standard deviation and standard error of the mean of paired differences ``d``."""
    if d.size < 2:
        return math.inf, math.inf
    sd = float(d.std(ddof=1))
    return sd, sd / math.sqrt(d.size)


@dataclass(frozen=True)
class Piece:
    """A piece of a pilot curve: the revenue change between neighbouring levels of one lever.

    ``a`` and ``b`` are its ends (indices of pilot points; None for today's run), ``a`` the
    lower level. ``se`` is the standard error of the change as the curve estimates it (the
    difference of the two points' mean paired changes, each over its own replications, the
    shared ones paired); ``sd`` the standard deviation of the change per replication, over the
    replications both ends share.
    """

    lever: str
    a: int | None
    b: int | None
    sd: float
    se: float

    @property
    def key(self) -> PieceKey:
        """The piece by its lever and ends."""
        return (self.lever, self.a, self.b)


def _pieces(
    points: list[PilotPoint], today: np.ndarray, revenue: Mapping[int, np.ndarray]
) -> list[Piece]:
    """Every piece between the measured levels (``revenue``'s points) of each lever."""
    by_lever: dict[str, list[int]] = {}
    for j in sorted(revenue):
        by_lever.setdefault(points[j].lever.key, []).append(j)
    out: list[Piece] = []
    for key, idx in by_lever.items():
        knots: list[tuple[float, int | None]] = [(points[idx[0]].lever.today, None)]
        knots += [(points[j].level, j) for j in idx]
        knots.sort(key=lambda k: k[0])
        for (_, a), (_, b) in itertools.pairwise(knots):
            if a is None or b is None:  # a point against today's run: its own paired change
                end = b if a is None else a
                assert end is not None
                sd, se = _se(revenue[end] - today[: revenue[end].size])
            else:  # two points: each one's change against today, the shared replications paired
                da = revenue[a] - today[: revenue[a].size]
                db = revenue[b] - today[: revenue[b].size]
                m = min(da.size, db.size)
                sd = _se(db[:m] - da[:m])[0]
                _, low, high = difference_interval(db, da, z=1.0)
                se = (high - low) / 2 if math.isfinite(high - low) else math.inf
            out.append(Piece(key, a, b, sd, se))
    return out


def _wanted(
    pieces: list[Piece], n: Mapping[int, int], settings: Pilot, aims: Mapping[PieceKey, float]
) -> dict[int, int]:
    """Replications each point needs next for every piece to reach its aim.

    A piece short of its aim brings both its ends (today's run aside) to the replications its
    paired standard deviation says it needs, at least to the larger end's and at least one first
    round more than the smaller end's, at most ``settings.replications``.
    """
    want = dict(n)
    cap = settings.replications
    for piece in pieces:
        aim = aims[piece.key]
        if piece.se <= aim:
            continue
        ends = [j for j in (piece.a, piece.b) if j is not None]
        need = math.ceil((piece.sd / aim) ** 2) if math.isfinite(piece.sd) else cap
        least = min(n[j] for j in ends) + first_round(settings)
        target = min(cap, max(need, least, *(n[j] for j in ends)))
        for j in ends:
            want[j] = max(want[j], target)
    return want


class PilotDesign:
    """The pilot points of some levers, simulated as the plan needs them (module docstring).

    Parameters
    ----------
    scenario
        Today's scenario (its replications in ``store`` are the today level of every curve).
    levers
        The levers whose curves come from pilot simulations.
    settings
        ``optimise.pilot``.
    store
        The replications shared with today's run and the plan's checks.
    """

    def __init__(
        self, scenario: Scenario, levers: list[Lever], settings: Pilot, store: Replications
    ) -> None:
        self.scenario, self.settings, self.store = scenario, settings, store
        self.points = pilot_points(scenario, levers, settings)
        self.n: dict[int, int] = {}  # replications of each simulated point
        self.focus: set[PieceKey] = set()  # pieces a plan sits on
        self.rounds = 0
        start = range(len(self.points)) if not settings.adaptive else self._nearest()
        for j in start:
            self.n[j] = first_round(settings)

    def _levels(self, key: str) -> list[int]:
        return [j for j, pt in enumerate(self.points) if pt.lever.key == key]

    def _nearest(self) -> list[int]:
        """The nearest level on each side of today, per lever."""
        out = []
        for key in dict.fromkeys(pt.lever.key for pt in self.points):
            idx = self._levels(key)
            today = self.points[idx[0]].lever.today
            below = [j for j in idx if self.points[j].level < today]
            above = [j for j in idx if self.points[j].level > today]
            if below:
                out.append(max(below, key=lambda j: self.points[j].level))
            if above:
                out.append(min(above, key=lambda j: self.points[j].level))
        return out

    def wants(self) -> list[tuple[Scenario, int]]:
        """What to simulate for the points as they stand (with today's run, in one pool)."""
        return [(self.points[j].scenario, k) for j, k in sorted(self.n.items())]

    @property
    def simulated_points(self) -> int:
        """Pilot points simulated so far."""
        return len(self.n)

    def _revenue(self) -> dict[int, np.ndarray]:
        return {j: self.store.revenue(self.points[j].scenario, k) for j, k in self.n.items()}

    def pieces(self) -> list[Piece]:
        """The pieces between the levels simulated so far, with their precision."""
        return _pieces(self.points, self.store.revenue(self.scenario), self._revenue())

    def aims(self) -> tuple[float, float]:
        """The standard errors aimed at, in currency: for any piece, and where a plan sits."""
        scale = abs(float(self.store.revenue(self.scenario).mean()))
        s = self.settings
        return s.standard_error * scale, s.standard_error_at_plan * scale

    def measure(self, echo: Echo | None = None) -> None:
        """Rounds of replications until every piece reaches its aim or its ends the limit."""
        aim, fine = self.aims()
        while True:
            self.store.ensure([(self.scenario, max(self.n.values(), default=0)), *self.wants()])
            pieces = self.pieces()
            aims = {p.key: fine if p.key in self.focus else aim for p in pieces}
            want = _wanted(pieces, self.n, self.settings, aims)
            if want == self.n:
                return
            self.rounds += 1
            if echo:
                more = sum(1 for j in want if want[j] > self.n[j])
                echo(
                    f"  pilot round {self.rounds + 1}: {more} points get more replications "
                    f"(up to {max(want.values())}) for their curve's pieces to reach a standard "
                    f"error of {aim / 1e6:.2f}M ({fine / 1e6:.2f}M where a plan sits)"
                )
            self.n = want

    def follow(self, levels: Mapping[str, float]) -> bool:
        """Simulate where a plan at ``levels`` (curve values by lever key) needs it.

        A level beyond the end of a curve measured so far, when the plan sits at that end and
        the design has one; the finer aim for the pieces the plan sits on. Returns whether
        anything is new (then :meth:`measure` again).
        """
        changed = False
        measured = self.pieces()
        for key in dict.fromkeys(pt.lever.key for pt in self.points):
            if key not in levels:
                continue
            x = levels[key]
            idx = self._levels(key)
            today = self.points[idx[0]].lever.today
            have = [self.points[j].level for j in idx if j in self.n] + [today]
            lo, hi = min(have), max(have)
            tol = 1e-6 * max(1.0, abs(hi), abs(lo))
            for end in (hi, lo):
                if abs(x - end) > tol or (end == lo and end == hi):
                    continue
                side = 1.0 if end == hi else -1.0
                more = [
                    j for j in idx if j not in self.n and side * (self.points[j].level - end) > tol
                ]
                if more:
                    nearest = min(more, key=lambda j: abs(self.points[j].level - x))
                    self.n[nearest] = first_round(self.settings)
                    changed = True
            for piece in measured:
                if piece.lever != key or piece.key in self.focus:
                    continue
                xa = today if piece.a is None else self.points[piece.a].level
                xb = today if piece.b is None else self.points[piece.b].level
                if xa - tol <= x <= xb + tol:
                    self.focus.add(piece.key)
                    changed = True
        return changed

    def complete(self) -> bool:
        """Simulate every level of the design not simulated yet; whether there was any."""
        missing = [j for j in range(len(self.points)) if j not in self.n]
        for j in missing:
            self.n[j] = first_round(self.settings)
        return bool(missing)

    def curves(self, echo: Echo | None = None) -> dict[str, ResponseCurve]:
        """Each lever's curve fitted to its simulated points (see the module docstring)."""
        today_table = self.store.table(self.scenario)
        aim, fine = self.aims()
        short = {p.lever for p in self.pieces() if p.se > (fine if p.key in self.focus else aim)}
        results: dict[str, list[tuple[float, float, float]]] = {}
        opps: dict[str, dict[float, float]] = {}
        counts: dict[str, list[int]] = {}
        for j, m in sorted(self.n.items()):
            pt = self.points[j]
            key = pt.lever.key
            results.setdefault(key, [(pt.lever.today, 0.0, 0.0)])
            opps.setdefault(key, {pt.lever.today: 0.0})
            table = self.store.table(pt.scenario, m)
            ref = today_table.iloc[:m]
            diff = table["revenue"].to_numpy(dtype=float) - ref["revenue"].to_numpy(dtype=float)
            d_opp = table["new_opportunities_per_rep_week"].to_numpy(dtype=float) - ref[
                "new_opportunities_per_rep_week"
            ].to_numpy(dtype=float)
            mean, se = float(diff.mean()), _se(diff)[1]
            results[key].append((pt.level, mean, se))
            opps[key][pt.level] = float(d_opp.mean())
            counts.setdefault(key, []).append(m)
            if echo:
                echo(
                    f"  pilot: {key} = {pt.level:g} ({pt.lever.unit}): revenue "
                    f"{mean / 1e6:+.2f}M (se {se / 1e6:.2f}M, {m} replications)"
                )
        curves = {}
        s = self.settings
        for key, pts in results.items():
            lever = self.points[self._levels(key)[0]].lever
            lo, hi = min(counts[key]), max(counts[key])
            skipped = [f"{self.points[j].level:g}" for j in self._levels(key) if j not in self.n]
            note = (
                f"pilot simulations, {lo if lo == hi else f'{lo}-{hi}'} paired replications per "
                f"point (aim: standard error of each piece {s.standard_error:.1%} of today's mean "
                f"revenue, {s.standard_error_at_plan:.1%} where the plan sits), seed "
                f"{self.store.seed}"
            )
            if skipped:
                note += f"; levels not simulated (no plan reached them): {', '.join(skipped)}"
            if key in short:
                note += (
                    f"; not resolved: a piece is still short of the aim at the limit of "
                    f"{s.replications} replications (pilot.replications)"
                )
            curves[key] = curve_from_points(
                key, lever.unit, lever.today, pts, "pilot", opportunities=opps[key], note=note
            )
        return curves
