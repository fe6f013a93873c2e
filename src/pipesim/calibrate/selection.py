"""Selection correction and simulated spread: the fitted scenario checked by simulation.

The mapping of the fits onto a scenario ignores which buyers become opportunities: a CRM sees
buyers engaged before a stage began, who survived to it, over a finite window. So the mapped
scenario is simulated over the data's window (:func:`window_scenario`), the same fits run on the
simulated exports, and the stage values are corrected until the simulated fits match the data's
(:func:`correct_selection`, indirect inference; the result is a :class:`Correction`). Then every
interval is widened to at least the spread of its estimate across simulated histories
(:func:`simulated_spread`, :func:`widen`): what a whole history shares, no resampling inside it
can see. A corrected value's interval is the fitted values' uncertainty carried through the
correction by the delta method (:meth:`Correction.adjust`): the fitted values respond to the stage
values less than one for one (elasticities measured by simulation, :func:`_jacobian`), so the
corrected values are less certain than the fits they are matched to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipesim.calibrate.crm import CrmData
from pipesim.calibrate.episodes import in_days
from pipesim.calibrate.estimates import Calibration, Estimate, Fits
from pipesim.calibrate.observables import observables, pool_crm
from pipesim.calibrate.synthetic import simulated_histories
from pipesim.scenario.edit import get_value, parse_path, set_value
from pipesim.scenario.loader import validate
from pipesim.scenario.rng import replication_seeds
from pipesim.scenario.schema import Scenario

SIM_VOLUME = 10
"""Simulated opportunities per opportunity in the data when correcting for selection."""
MAX_HISTORIES = 200
"""At most this many simulated histories per step of the correction."""
SIM_HISTORIES = 40
"""Simulated histories of the data's window behind the spread of each estimate."""
MAX_ITERATIONS = 8
"""Steps of the selection correction at most."""
TOLERANCE = 0.5
"""The correction stops when every simulated value is within this many standard errors of the
data's (the simulation's own noise is about a third of a standard error at ``SIM_VOLUME``)."""
_SPREAD_FIRST = 1000
"""Replication index of the first spread history (the correction's histories come before)."""
JACOBIAN_STEP = 0.1
"""Log-step of each stage value when measuring how the simulated fits respond to it."""
MIN_ELASTICITY = 0.25
"""A fitted value is taken to respond to its own stage value at least this much (elasticity):
below it the delta method would stretch the interval without bound on simulation noise."""
_ROUNDING = {"mean_days": 3, "cv": 4, "stall_hazard_per_week": 6}
"""Decimals a corrected stage value is written with (as the uncorrected mapping does)."""


class CorrectionError(Exception):
    """The scenario cannot be simulated into histories that show what the data shows."""


def _observable(path: str) -> str:
    """The fitted value a journey parameter is corrected against."""
    _, stage, param = path.split(".")
    return (
        f"stall.{stage}.per_week" if param == "stall_hazard_per_week" else f"dwell.{stage}.{param}"
    )


def _is_share(name: str) -> bool:
    return name.split(".")[0] in ("conversion", "decision", "outcome")


def data_window(data: CrmData, as_of: pd.Timestamp) -> tuple[pd.Timestamp, float]:
    """The export's window: midnight of its first creation date, and its length in days."""
    start = pd.Timestamp(data.opportunities["created"].min()).normalize()
    return start, float(in_days(as_of, start))


def window_scenario(
    scenario: Scenario, start: pd.Timestamp, days: float, values: dict[str, float] | None = None
) -> Scenario:
    """``scenario`` over the data's window, ``values`` set, one team in every history.

    The window starts empty (no open pipeline). Named reps without a skill or qualification
    noise get the team's means: the data's history had one team, so the simulated histories
    hold it fixed instead of drawing a new team each time (backfills are still drawn).
    """
    raw = scenario.model_dump(mode="json")
    for path, value in (values or {}).items():
        set_value(raw, parse_path(path), value)
    reps = raw["reps"]
    for member in reps.get("members") or []:
        if member.get("skill") is None:
            member["skill"] = reps["skill_mean"]
        if member.get("qualification_noise") is None:
            member["qualification_noise"] = reps["qualification_noise_mean"]
    raw["target"]["start_date"] = start.date().isoformat()
    raw["target"]["horizon_weeks"] = days / 7.0
    raw["open_pipeline"] = []
    if "uncertainty" in raw:
        raw["uncertainty"] = {}
    return validate(raw, "simulated history")


@dataclass
class Correction:
    """The selection correction of the stage values: what was simulated and what it gave."""

    values: dict[str, float]
    """Scenario path -> corrected value."""
    uncorrected: dict[str, float]
    target: dict[str, float]
    """Fitted value -> its value in the data."""
    simulated: dict[str, float]
    """Fitted value -> the same fit on the histories simulated at the corrected values."""
    gap_se: dict[str, float]
    records: dict[str, tuple[int, int]]
    """Fitted value -> (records in the data, records in the pooled simulated histories)."""
    histories: int
    iterations: list[dict[str, Any]]
    converged: bool
    window_start: str
    window_days: float
    seed: int
    jacobian: dict[str, dict[str, float]] = field(default_factory=dict)
    """Fitted value -> scenario path -> elasticity d log(simulated fit) / d log(stage value) at
    the corrected values (empty: not measured; the sds are then carried over unchanged)."""
    fitted_sd: dict[str, float] = field(default_factory=dict)
    """Fitted value -> its relative standard error, widened to the simulated spread."""
    fitted_corr: dict[str, dict[str, float]] = field(default_factory=dict)
    """Correlation of the logs of the fitted values across simulated histories."""

    def _log_sds(self) -> dict[str, tuple[float, float]]:
        """Scenario path -> (log-sd by the delta method, own elasticity) at the corrected values.

        The corrected values solve simulated fit(values) = the data's fits, so to first order
        ``log values = J^-1 log fits`` with ``J`` the elasticities (:attr:`jacobian`), and
        ``Cov(log values) = J^-1 S R S J^-T`` with ``S`` the fits' relative standard errors
        (each times its simulation noise) and ``R`` their correlation across histories. Each
        value's log-sd is at least its own fit's over the own elasticity (clamped to at least
        ``MIN_ELASTICITY``).
        """
        paths = list(self.values)
        obs = [_observable(p) for p in paths]
        if not self.jacobian or any(o not in self.jacobian or o not in self.fitted_sd for o in obs):
            return {}
        jac = np.array([[self.jacobian[o].get(p, 0.0) for p in paths] for o in obs])
        sd = np.array([self.fitted_sd[o] * self._noise(o) for o in obs])
        corr = np.array(
            [[1.0 if a == b else self.fitted_corr.get(a, {}).get(b, 0.0) for b in obs] for a in obs]
        )
        own = np.maximum(np.diag(jac), MIN_ELASTICITY)
        floor = sd / own
        try:
            inv = np.linalg.inv(jac)
            full = np.sqrt(np.maximum(np.diag(inv @ (sd[:, None] * corr * sd[None, :]) @ inv.T), 0))
        except np.linalg.LinAlgError:
            full = floor
        if not np.all(np.isfinite(full)):
            full = floor
        return {
            p: (float(max(full[k], floor[k])), float(np.diag(jac)[k])) for k, p in enumerate(paths)
        }

    def _noise(self, obs: str) -> float:
        """Simulation noise and the gap left, as a factor on a fitted value's standard error."""
        n_data, n_sim = self.records.get(obs, (0, 0))
        gap = self.gap_se.get(obs, 0.0)
        return math.sqrt(1.0 + (n_data / n_sim if n_sim else 0.0) + gap * gap)

    def adjust(
        self, path: str, value: float, sd: float, dist: str, how: str
    ) -> tuple[float, float, str, float]:
        """Corrected value, sd, description and the uncorrected value of a scenario path.

        The sd is the fitted values' uncertainty carried through the correction by the delta
        method (:meth:`_log_sds`): the fits' relative standard errors (widened to the simulated
        spread, and by the simulation's own noise, whose variance is the data's times the ratio
        of records in the data to records simulated, and by the gap left between the simulated
        and the data's value) divided by how much the simulated fits respond to the stage values.
        On the log scale for ``mean_days``; ``cv`` and the stall hazard get value x log-sd.
        Without measured elasticities the sd of the uncorrected mapping is carried over in
        proportion (lognormal: unchanged; stall hazard: scaled with the value; cv: through
        ``1 + cv^2`` moving with ``1 + cv_obs^2``), times the same noise.
        """
        new = self.values[path]
        obs = _observable(path)
        noise = self._noise(obs)
        delta = self._log_sds().get(path)
        if delta is not None:
            log_sd, elasticity = delta
            new_sd = log_sd if dist == "lognormal" else new * log_sd
            note = (
                f"; interval through the correction (delta method, elasticity of {obs} "
                f"{elasticity:.2f})"
            )
        else:
            note = ""
            if dist == "lognormal":
                new_sd = sd * noise
            elif path.endswith(".cv"):

                def slope(c: float) -> float:
                    return (1.0 + c * c) / c

                new_sd = sd * slope(new) / slope(value) * noise if value > 0 else sd * noise
            else:
                new_sd = sd * (new / value if value > 0 else 1.0) * noise
        text = (
            f"selection-corrected: {self.histories} histories of the data's window simulated "
            f"until their {obs} matched the data's; uncorrected {value:.4g} = {how}{note}"
        )
        return new, new_sd, text, value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        delta = self._log_sds()
        rows = [
            {
                "path": path,
                "uncorrected": self.uncorrected[path],
                "corrected": value,
                "fitted": _observable(path),
                "data": self.target.get(_observable(path)),
                "simulated": self.simulated.get(_observable(path)),
                "gap_se": self.gap_se.get(_observable(path)),
                "elasticity": self.jacobian.get(_observable(path), {}).get(path),
                "fitted_sd": self.fitted_sd.get(_observable(path)),
                "log_sd": delta[path][0] if path in delta else None,
            }
            for path, value in self.values.items()
        ]
        return {
            "method": (
                "indirect inference: the scenario is simulated over the data's window, the same "
                "fits run on the simulated histories, and each stage value is scaled until the "
                "simulated fit matches the data's"
            ),
            "seed": self.seed,
            "window_start": self.window_start,
            "window_days": self.window_days,
            "histories": self.histories,
            "converged": self.converged,
            "tolerance_se": TOLERANCE,
            "values": rows,
            "iterations": self.iterations,
            "interval_method": (
                "delta method through the correction: the fits' relative standard errors "
                "(widened to the simulated spread and the simulation's noise, correlated as "
                "across simulated histories) times the inverse of the elasticities of the "
                "simulated fits with respect to the stage values"
            ),
            "jacobian": self.jacobian,
        }


def _step(path: str, theta: float, target: float, sim: float) -> float:
    """One fixed-point step: scale the parameter by the data / simulation ratio.

    ``cv`` moves ``1 + cv^2`` with ``1 + cv_obs^2`` (the mixture identity); a step is at most a
    factor of three.
    """
    if path.endswith(".cv"):
        ratio = (1.0 + target**2) / (1.0 + sim**2)
        return math.sqrt(max((1.0 + theta**2) * min(max(ratio, 1 / 3), 3.0) - 1.0, 1e-4))
    if target <= 0:
        return 0.0
    ratio = target / sim if sim > 0 else 3.0
    return theta * min(max(ratio, 1 / 3), 3.0)


def correct_selection(cal: Calibration, data: CrmData, seed: int = 0) -> Correction:
    """Correct the journey's stage values for which buyers become opportunities.

    The uncorrected mapping divides each fitted dwell and stall rate by the journey-scale and
    buying-group multipliers, but a CRM sees a selected group: buyers engaged before the stage
    began, who survived to it, over a finite window. So the fitted scenario is simulated over
    the data's window (the same start, the same length; enough histories for ``SIM_VOLUME``
    simulated opportunities per opportunity in the data, seeds from ``seed``), the same fits
    run on the pooled simulated exports, and each stage value scaled by data / simulation until
    every simulated value is within ``TOLERANCE`` standard errors of the data's (at most
    ``MAX_ITERATIONS`` steps; the closest step is kept otherwise). Common random numbers (the
    same seeds every step) make the steps deterministic.
    """
    est = cal.fits.estimates
    paths = [a.path for a in cal.applied if a.path.startswith("journey.")]
    paths = [p for p in paths if _observable(p) in est]
    if not paths:
        raise CorrectionError("no stage value was fitted")
    start, days = data_window(data, cal.fits.as_of)
    as_of = start + pd.Timedelta(days=days)
    theta = {
        p: float(get_value(cal.scenario.model_dump(mode="json"), parse_path(p))) for p in paths
    }
    uncorrected = dict(theta)
    target = {_observable(p): est[_observable(p)].value for p in paths}
    rel_se = {o: est[o].se / est[o].value if est[o].value > 0 else math.inf for o in target}
    n_data = {o: est[o].n for o in target}
    probe = simulated_histories(window_scenario(cal.scenario, start, days, theta), [seed])
    per_history = len(probe[0].opportunities)
    if per_history == 0:
        raise CorrectionError(
            "the scenario's simulated histories hold no opportunities (check its lead flows)"
        )
    histories = min(
        max(math.ceil(SIM_VOLUME * len(data.opportunities) / per_history), 2), MAX_HISTORIES
    )
    seeds = replication_seeds(seed, histories)
    iterations: list[dict[str, Any]] = []
    best: tuple[float, dict[str, float], dict[str, tuple[float, int]], dict[str, float]] | None
    best = None
    converged = False
    for step in range(1, MAX_ITERATIONS + 1):
        sc = window_scenario(cal.scenario, start, days, theta)
        pooled = pool_crm(simulated_histories(sc, seeds))
        sim = observables(pooled, as_of)
        gaps = {
            o: math.log(target[o] / sim[o][0]) / rel_se[o]
            for o in target
            if o in sim and target[o] > 0 and sim[o][0] > 0 and math.isfinite(rel_se[o])
        }
        worst = max((abs(g) for g in gaps.values()), default=0.0)
        iterations.append(
            {
                "iteration": step,
                "values": dict(theta),
                "simulated": {o: sim[o][0] for o in target if o in sim},
                "max_gap_se": worst,
            }
        )
        if best is None or worst < best[0]:
            best = (worst, dict(theta), sim, gaps)
        if worst <= TOLERANCE:
            converged = True
            break
        theta = {
            p: _step(p, theta[p], target[_observable(p)], sim[_observable(p)][0])
            if _observable(p) in sim
            else theta[p]
            for p in paths
        }
        theta = {p: round(v, _ROUNDING[p.split(".")[-1]]) for p, v in theta.items()}
    assert best is not None
    _, values, sim, gaps = best

    def simulate_fits(v: dict[str, float]) -> dict[str, tuple[float, int]]:
        return observables(
            pool_crm(simulated_histories(window_scenario(cal.scenario, start, days, v), seeds)),
            as_of,
        )

    at = {o: sim[o][0] for o in target if o in sim}
    jacobian = _jacobian(values, at, simulate_fits)
    corrected = window_scenario(cal.scenario, start, days, values)
    fitted_sd, fitted_corr = _fitted_spread(
        est, list(target), _spread_histories(corrected, data, cal.fits.as_of, seed)
    )
    return Correction(
        values=values,
        uncorrected=uncorrected,
        target=target,
        simulated={o: sim[o][0] for o in target if o in sim},
        gap_se=gaps,
        records={o: (n_data[o], sim[o][1] if o in sim else 0) for o in target},
        histories=histories,
        iterations=iterations,
        converged=converged,
        window_start=start.date().isoformat(),
        window_days=days,
        seed=seed,
        jacobian=jacobian,
        fitted_sd=fitted_sd,
        fitted_corr=fitted_corr,
    )


_SPREAD_CACHE: dict[tuple[str, str, int, int], list[dict[str, tuple[float, int]]]] = {}
"""The last spread histories' fits (the correction and the spread share them)."""


def _spread_histories(
    scenario: Scenario, data: CrmData, as_of: pd.Timestamp, seed: int
) -> list[dict[str, tuple[float, int]]]:
    """The fits on each of ``SIM_HISTORIES`` histories of the data's window from ``scenario``."""
    start, days = data_window(data, as_of)
    end = start + pd.Timedelta(days=days)
    sc = window_scenario(scenario, start, days)
    key = (sc.model_dump_json(), end.isoformat(), seed, SIM_HISTORIES)
    if key not in _SPREAD_CACHE:
        seeds = replication_seeds(seed, SIM_HISTORIES, start=_SPREAD_FIRST)
        _SPREAD_CACHE.clear()
        _SPREAD_CACHE[key] = [observables(h, end) for h in simulated_histories(sc, seeds)]
    return _SPREAD_CACHE[key]


def _spread_row(e: Estimate, pairs: list[tuple[float, int]]) -> dict[str, Any] | None:
    """An estimate's spread across simulated histories beside its own standard error."""
    if len(pairs) < 3 or not math.isfinite(e.se) or e.n < 1:
        return None
    v = np.array([p[0] for p in pairs])
    n = np.array([p[1] for p in pairs], float)
    share = _is_share(e.name)
    spread = float(v.std(ddof=1)) if share else float(v.std(ddof=1) / max(v.mean(), 1e-300))
    data_sd = e.se if share else (e.se / e.value if e.value > 0 else math.inf)
    scaled = spread * math.sqrt(float(n.mean()) / e.n)
    factor = max(1.0, scaled / data_sd) if data_sd > 0 and math.isfinite(data_sd) else 1.0
    return {
        "data": e.value,
        "simulated_mean": float(v.mean()),
        "data_se": data_sd,
        "simulated_sd": scaled,
        "scale": "share" if share else "relative",
        "widened": factor,
        "histories": len(v),
    }


def simulated_spread(
    scenario: Scenario, data: CrmData, fits: Fits, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """How much each estimate varies between independent histories like the data's.

    ``SIM_HISTORIES`` histories of the data's window are simulated from ``scenario`` (seeds from
    ``seed``, apart from the correction's) and the fits run on each. The standard deviation of
    an estimate across them, scaled to the data's number of records (``x sqrt(n_sim / n)``),
    is set beside the data's own standard error (relative for dwell, stall and deal size, on
    the share scale for shares): the larger of the two makes the interval. What the histories
    share (rep load, the lead mix, the start of the history, the season) moves all their deals
    together, which no resampling within one history can see.
    """
    histories = _spread_histories(scenario, data, fits.as_of, seed)
    out: dict[str, dict[str, Any]] = {}
    for name, e in fits.estimates.items():
        row = _spread_row(e, [h[name] for h in histories if name in h])
        if row is not None:
            out[name] = row
    return out


def _jacobian(
    values: dict[str, float], at: dict[str, float], simulate_fits: Any
) -> dict[str, dict[str, float]]:
    """Elasticities of the simulated fits with respect to each stage value, at ``values``.

    ``at`` holds the simulated fits at ``values``; each stage value in turn is raised by
    ``JACOBIAN_STEP`` on the log scale with the same seeds (common random numbers) and the
    change of each fit's log divided by the step (a forward difference).
    """
    jac: dict[str, dict[str, float]] = {o: {} for o in at}
    for path, value in values.items():
        if value <= 0:
            continue
        moved = simulate_fits({**values, path: value * math.exp(JACOBIAN_STEP)})
        for o, base in at.items():
            if o in moved and base > 0 and moved[o][0] > 0:
                jac[o][path] = math.log(moved[o][0] / base) / JACOBIAN_STEP
    return jac


def _fitted_spread(
    est: dict[str, Estimate], names: list[str], histories: list[dict[str, tuple[float, int]]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Fits' relative standard errors widened to the simulated spread, and their correlation.

    The correlation is that of the fits' logs across the simulated histories that hold all of
    them.
    """
    sd: dict[str, float] = {}
    for name in names:
        e = est[name]
        row = _spread_row(e, [h[name] for h in histories if name in h])
        rel = e.se / e.value if e.value > 0 else math.inf
        sd[name] = rel * (float(row["widened"]) if row is not None else 1.0)
    full = [h for h in histories if all(n in h and h[n][0] > 0 for n in names)]
    corr: dict[str, dict[str, float]] = {}
    if len(full) >= 3:
        logs = np.log(np.array([[h[n][0] for n in names] for h in full]))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.corrcoef(logs, rowvar=False)
        r = np.nan_to_num(np.atleast_2d(r))
        corr = {a: {b: float(r[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)}
    return sd, corr


def widen(fits: Fits, spread: dict[str, dict[str, Any]]) -> Fits:
    """The fits with each interval widened by its ``spread`` factor (about the estimate)."""
    estimates = dict(fits.estimates)
    for name, row in spread.items():
        f = float(row["widened"])
        if f <= 1.0:
            continue
        e = estimates[name]
        v = e.value
        if row["scale"] == "share":
            low, high = max(v - f * (v - e.low), 0.0), min(v + f * (e.high - v), 1.0)
        else:
            low = v * (e.low / v) ** f if e.low > 0 and v > 0 else e.low
            high = v * (e.high / v) ** f if v > 0 else e.high
        estimates[name] = replace(
            e,
            se=e.se * f,
            low=low,
            high=high,
            widened=f,
            method=f"{e.method}; widened x{f:.2f} to the spread across {row['histories']} "
            "simulated histories",
        )
    return replace(fits, estimates=estimates)


def spread_report(spread: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What ``Calibration.simulation`` records of the spread behind each widened interval."""
    return {
        "histories": SIM_HISTORIES,
        "method": (
            "the standard deviation of each fit across independent simulated histories of "
            "the data's window, scaled to the data's records; the interval is widened "
            "where it exceeds the data's own standard error"
        ),
        "values": spread,
    }
