"""Sensitivity analysis: which inputs move P(target) and revenue most.

Two views, both under common random numbers (every setting runs with the same root seed):

* **Tornado** (one at a time): each factor is set to the low and the high end of its range with
  everything else at the scenario's value; the bar shows the paired change in P(target) and in
  mean revenue against the scenario itself, with its interval. A change the replications cannot
  resolve (its interval includes 0 or is wider than the change itself; with few replications a
  change in P(target) can be zero only because no replication crossed the target) is marked
  ``not resolved at n=...`` (:func:`effect_note`) in ``tornado.csv``, on the chart and on the
  console.
* **Sobol indices** (variance based, via SALib): all factors vary together over their ranges on a
  Saltelli/Sobol' sample of ``samples * (factors + 2)`` settings; the first-order index ``S1`` is
  the share of the output's variance a factor explains alone, the total index ``ST`` includes
  its interactions. Each setting's output is estimated from a few replications, so the indices
  carry simulation noise as well as SALib's bootstrap interval: read them as a ranking and raise
  ``--samples`` and ``--sobol-replications`` for figures to quote.

A factor is a dotted scenario path; ``*`` stands for every key of a mapping, so
``segments.*.buyers_per_week`` moves every segment's market flow together. Default factors move
by ±20% of the scenario's own values (*relative*); a factor given as ``PATH=LOW:HIGH`` takes those
absolute values instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pipesim.experiments.paired import run_points
from pipesim.experiments.sweep import BadParameter, parse_param, save_figure, write_table
from pipesim.report import charts
from pipesim.report.compare import paired_difference
from pipesim.scenario.loader import dump_scenario, load_scenario
from pipesim.scenario.schema import Scenario


@dataclass(frozen=True)
class Factor:
    """An input of the sensitivity analysis.

    Attributes
    ----------
    path
        Dotted scenario path; ``*`` matches every key of a mapping.
    label
        Words for charts.
    low, high
        Range: multipliers of the scenario's value(s) when ``relative``, else absolute values.
    relative
        Whether ``low`` and ``high`` multiply the scenario's own value(s).
    """

    path: str
    label: str
    low: float = 0.8
    high: float = 1.2
    relative: bool = True

    def describe(self) -> str:
        """The range in words, e.g. ``±20%`` or ``12 to 18``."""
        if self.relative:
            if math.isclose(1 - self.low, self.high - 1):
                return f"±{(self.high - 1) * 100:.0f}%"
            return f"×{self.low:g} to ×{self.high:g}"
        return f"{self.low:g} to {self.high:g}"


DEFAULT_FACTORS: tuple[Factor, ...] = (
    Factor("reps.count", "team size (reps)"),
    Factor("reps.skill_mean", "rep skill"),
    Factor("reps.attrition_per_year", "rep attrition"),
    Factor("reps.qualification_noise_mean", "qualification noise"),
    Factor("qualification.threshold", "qualification threshold"),
    Factor("segments.*.buyers_per_week", "market flow (buyers per week)"),
    Factor("segments.*.deal_size.mean", "deal size"),
    Factor("engagement.mean_fraction", "buyers' engagement point"),
    Factor("campaigns.*.budget_per_week", "campaign budgets"),
    Factor("journey.*.stall_hazard_per_week", "stall hazard (indecision)"),
    Factor("choice.early_shaping", "early shaping by reps"),
)
"""The main parameters, each ±20% of the scenario's value."""


def factor_from_text(text: str, spread: float = 0.2) -> Factor:
    """``PATH`` (relative ±``spread``) or ``PATH=LOW:HIGH`` (absolute) as a :class:`Factor`."""
    if "=" in text:
        r = parse_param(text, need_count=False)
        if not r.high > r.low:
            raise BadParameter(f"--param {text!r}: HIGH must be above LOW")
        return Factor(r.path, r.path, r.low, r.high, relative=False)
    path = text.strip()
    if not path or any(not p.strip() for p in path.split(".")):
        raise BadParameter(f"--param {text!r} must be PATH or PATH=LOW:HIGH")
    return Factor(path, path, 1 - spread, 1 + spread, relative=True)


def expand(data: Any, path: str) -> list[tuple[str, Any]]:
    """Concrete ``(path, current value)`` pairs matching ``path`` (``*`` = every key).

    Only leaves that exist are returned; a ``*`` skips keys whose value lacks the rest of the
    path (``journey.*.stall_hazard_per_week`` matches the four stages, not
    ``journey.reference_group_size``).
    """
    parts = path.split(".")
    found: list[tuple[str, Any]] = []

    def walk(node: Any, k: int, prefix: list[str]) -> None:
        if k == len(parts):
            found.append((".".join(prefix), node))
            return
        part = parts[k]
        if part == "*":
            if isinstance(node, dict):
                for key in node:
                    walk(node[key], k + 1, [*prefix, str(key)])
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, k + 1, [*prefix, str(i)])
        elif isinstance(node, dict) and part in node:
            walk(node[part], k + 1, [*prefix, part])
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            walk(node[int(part)], k + 1, [*prefix, part])

    walk(data, 0, [])
    return found


@dataclass(frozen=True)
class ResolvedFactor:
    """A factor tied to the scenario: its concrete paths and their current values."""

    factor: Factor
    leaves: tuple[tuple[str, float, bool], ...]  # (path, current value, is integer)

    def overrides(self, x: float) -> list[str]:
        """``--set`` strings putting the factor at ``x`` (a multiplier or an absolute value)."""
        out = []
        for path, base, integer in self.leaves:
            v = base * x if self.factor.relative else x
            out.append(f"{path}={round(v)}" if integer else f"{path}={float(v)!r}")
        return out


def resolve_factors(
    scenario_path: str | Path, factors: Sequence[Factor], overrides: Sequence[str] = ()
) -> list[ResolvedFactor]:
    """Tie factors to the scenario and check both ends of each range load.

    Raises
    ------
    BadParameter
        When a path matches nothing or something that is not a number.
    pipesim.scenario.errors.ScenarioError
        When an end of a range is not a valid value (e.g. a probability above 1).
    """
    data = yaml.safe_load(dump_scenario(load_scenario(scenario_path, overrides)))
    out = []
    for f in factors:
        leaves = []
        for path, value in expand(data, f.path):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadParameter(f"--param {f.path}: {path} is not a number")
            leaves.append((path, float(value), isinstance(value, int)))
        if not leaves:
            raise BadParameter(f"--param {f.path}: no such number in the scenario")
        rf = ResolvedFactor(f, tuple(leaves))
        for x in (f.low, f.high):
            load_scenario(scenario_path, [*overrides, *rf.overrides(x)])
        out.append(rf)
    return out


def _scenario_at(
    scenario_path: str | Path,
    overrides: Sequence[str],
    factors: Sequence[ResolvedFactor],
    setting: Sequence[float | None],
) -> Scenario:
    extra = [o for rf, x in zip(factors, setting, strict=True) if x is not None
             for o in rf.overrides(x)]  # fmt: skip
    return load_scenario(scenario_path, [*overrides, *extra])


# --------------------------------------------------------------------------- tornado
def effect_note(estimate: float, low: float, high: float, replications: int) -> str:
    """``""`` when a paired change is resolved, else ``not resolved at n=<replications>``.

    Not resolved: the 95% interval is undefined, includes 0, or is wider than the change
    itself (the sample cannot tell its size). A change in P(target) moves in steps of one
    replication (``1 / n``); when no replication crossed the target differently the change is
    0 with a zero-width interval, which includes 0: not resolved, however it prints.
    """
    if not all(math.isfinite(x) for x in (estimate, low, high)):
        return f"not resolved at n={replications}"
    if low <= 0.0 <= high or high - low > abs(estimate):
        return f"not resolved at n={replications}"
    return ""


TORNADO_NOTES = ("delta_p_target_note", "delta_revenue_note")
"""``tornado.csv`` columns saying which changes are not resolved (empty when resolved)."""


def tornado_table(table: pd.DataFrame, factors: Sequence[ResolvedFactor]) -> pd.DataFrame:
    """Paired change of P(target) and mean revenue at each factor's low and high end.

    ``table`` is :func:`pipesim.experiments.paired.run_points` output with point ``"base"``
    and points ``(index, "low"|"high")``. Each change has its paired 95% interval and a note
    (:data:`TORNADO_NOTES`, :func:`effect_note`): ``not resolved at n=...`` or empty.
    """
    base = table[table["point"].map(lambda p: p == "base")].sort_values("replication")
    rows = []
    for k, rf in enumerate(factors):
        f = rf.factor
        for side, x in (("low", f.low), ("high", f.high)):
            t = table[table["point"].map(lambda p, key=(k, side): p == key)]
            t = t.sort_values("replication")
            row: dict[str, Any] = {
                "factor": f.path,
                "label": f.label,
                "range": f.describe(),
                "side": side,
                "setting": x,
                "values": "; ".join(o.split("=", 1)[1] for o in rf.overrides(x)[:4])
                + ("; ..." if len(rf.leaves) > 4 else ""),
            }
            n = min(len(base), len(t))
            row["replications"] = n
            for out, col in (("p_target", "hit_target"), ("revenue", "revenue")):
                a = base[col].astype(float).to_numpy()
                b = t[col].astype(float).to_numpy()
                est, (lo, hi), _, _ = paired_difference(a, b)
                row[out] = float(b.mean())
                row[f"delta_{out}"] = est
                row[f"delta_{out}_low"] = lo
                row[f"delta_{out}_high"] = hi
                row[f"delta_{out}_note"] = effect_note(est, lo, hi, n)
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    swing = df.groupby("factor")["delta_revenue"].agg(lambda s: s.max() - s.min())
    df["revenue_swing"] = df["factor"].map(swing)
    return df.sort_values(["revenue_swing", "factor", "side"], ascending=[False, True, False])


def tornado_chart(tornado: pd.DataFrame, currency: str = "EUR") -> Figure:
    """Two tornado panels: change in P(target) (pp) and in mean revenue, low and high ends.

    Whiskers are the paired 95% intervals (when the table has them); a change that is not
    resolved (:data:`TORNADO_NOTES`) is drawn pale and the title says at which n.
    """
    charts.require_columns(
        tornado,
        ["factor", "label", "range", "side", "delta_p_target", "delta_revenue"],
        "tornado_chart",
    )
    order = tornado.groupby("label")["delta_revenue"].agg(lambda s: s.max() - s.min()).sort_values()
    labels = list(order.index)
    fig = Figure(figsize=(charts.WIDE[0] + 1.5, 1.2 + 0.42 * len(labels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    ranges = tornado.drop_duplicates("label").set_index("label")["range"]
    pale = False
    whisker = {"ecolor": charts.INK, "capsize": 2, "elinewidth": 0.8}
    for ax, col, scale, title in (
        (axes[0], "delta_p_target", 100.0, "change in P(target) (pp)"),
        (axes[1], "delta_revenue", 1e-6, f"change in mean revenue (M {currency})"),
    ):
        for y, lab in enumerate(labels):
            rows = tornado[tornado["label"] == lab]
            for side, colour, hatch in (("low", charts.ORANGE, "//"), ("high", charts.BLUE, "")):
                r = rows[rows["side"] == side]
                if r.empty:
                    continue
                v = float(r[col].iloc[0]) * scale
                unresolved = f"{col}_note" in r and bool(r[f"{col}_note"].fillna("").iloc[0])
                pale = pale or unresolved
                err = None
                if f"{col}_low" in r and f"{col}_high" in r:
                    lo, hi = float(r[f"{col}_low"].iloc[0]), float(r[f"{col}_high"].iloc[0])
                    if math.isfinite(lo) and math.isfinite(hi):
                        err = [[max(v - lo * scale, 0.0)], [max(hi * scale - v, 0.0)]]
                ax.barh(y, v, color=colour, hatch=hatch, edgecolor=charts.INK, height=0.6,
                        linewidth=0.5, alpha=0.3 if unresolved else 1.0, xerr=err,
                        error_kw=whisker)  # fmt: skip
        ax.axvline(0, color=charts.INK, linewidth=1)
        ax.set_xlabel(title)
        charts.style_axes(ax)
        ax.grid(False, axis="y")
    axes[0].set_yticks(range(len(labels)), [f"{lab} ({ranges[lab]})" for lab in labels])
    axes[1].bar([0], [0], color=charts.ORANGE, hatch="//", label="low end")
    axes[1].bar([0], [0], color=charts.BLUE, label="high end")
    axes[1].legend(frameon=False, loc="lower right", fontsize=8)
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:+.1f}"))
    title = "One-at-a-time sensitivity (paired against the scenario as given; 95% intervals)"
    if pale:
        n = int(tornado["replications"].min()) if "replications" in tornado else None
        title += f"\npale bars: not resolved at n={n}" if n else "\npale bars: not resolved"
    fig.suptitle(title, fontsize=11)
    return fig


# --------------------------------------------------------------------------- Sobol
def sobol_problem(factors: Sequence[ResolvedFactor]) -> dict[str, Any]:
    """The SALib problem: one variable per factor over its range."""
    return {
        "num_vars": len(factors),
        "names": [rf.factor.path for rf in factors],
        "bounds": [[rf.factor.low, rf.factor.high] for rf in factors],
    }


def sobol_indices(
    problem: dict[str, Any], outputs: dict[str, np.ndarray], labels: Sequence[str], seed: int
) -> pd.DataFrame:
    """First-order and total Sobol indices of each output (SALib, no second order)."""
    # lazy: SALib is slow to import and only Sobol indices need it
    from SALib.analyze import sobol

    rows = []
    nan = np.full(len(problem["names"]), math.nan)
    for out, y in outputs.items():
        y = np.asarray(y, float)
        if np.nanstd(y) > 0:
            res = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
        else:  # the output never moved (e.g. P(target) 0 everywhere): no variance to share out
            res = {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
        for k, name in enumerate(problem["names"]):
            rows.append(
                {
                    "factor": name,
                    "label": labels[k],
                    "output": out,
                    "S1": float(res["S1"][k]),
                    "S1_conf": float(res["S1_conf"][k]),
                    "ST": float(res["ST"][k]),
                    "ST_conf": float(res["ST_conf"][k]),
                }
            )
    return pd.DataFrame(rows)


def sobol_chart(indices: pd.DataFrame) -> Figure:
    """First-order and total indices per factor, one panel per output, with SALib intervals."""
    charts.require_columns(
        indices, ["label", "output", "S1", "S1_conf", "ST", "ST_conf"], "sobol_chart"
    )
    outputs = list(dict.fromkeys(indices["output"]))
    first = indices[indices["output"] == outputs[0]].sort_values("ST")
    labels = list(first["label"])
    fig = Figure(figsize=(charts.WIDE[0] + 1.5, 1.2 + 0.42 * len(labels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(outputs), sharey=True, squeeze=False)[0]
    y = np.arange(len(labels), dtype=float)
    for ax, out in zip(axes, outputs, strict=True):
        d = indices[indices["output"] == out].set_index("label").loc[labels]
        ax.barh(y + 0.2, d["ST"], xerr=d["ST_conf"], height=0.38, color=charts.BLUE,
                label="total (ST)", capsize=2)  # fmt: skip
        ax.barh(y - 0.2, d["S1"], xerr=d["S1_conf"], height=0.38, color=charts.SKY,
                hatch="//", edgecolor=charts.INK, linewidth=0.4, label="first order (S1)",
                capsize=2)  # fmt: skip
        ax.axvline(0, color=charts.INK, linewidth=1)
        ax.set_xlabel(f"Sobol index of {out.replace('_', ' ')}")
        charts.style_axes(ax)
        ax.grid(False, axis="y")
    axes[0].set_yticks(y, labels)
    axes[-1].legend(frameon=False, loc="lower right", fontsize=8)
    fig.suptitle("Variance-based sensitivity (Sobol indices, SALib; bars: 95% bootstrap)",
                 fontsize=11)  # fmt: skip
    return fig


# --------------------------------------------------------------------------- running
@dataclass
class SensitivityResult:
    """Tornado and Sobol tables, and the files written."""

    tornado: pd.DataFrame
    sobol: pd.DataFrame | None
    sobol_points: pd.DataFrame | None
    factors: list[ResolvedFactor]
    files: list[Path] = field(default_factory=list)


def run_sensitivity(
    scenario_path: str | Path,
    factors: Sequence[Factor | str] | None = None,
    *,
    overrides: Sequence[str] = (),
    replications: int = 100,
    samples: int = 8,
    sobol_replications: int = 20,
    seed: int = 0,
    workers: int = 1,
    out: str | Path | None = None,
    spread: float = 0.2,
) -> SensitivityResult:
    """One-at-a-time tornado and Sobol indices of P(target) and mean revenue.

    Parameters
    ----------
    scenario_path
        Scenario file.
    factors
        :class:`Factor` objects or ``PATH`` / ``PATH=LOW:HIGH`` strings; default
        :data:`DEFAULT_FACTORS`.
    overrides
        ``--set`` overrides applied everywhere.
    replications
        Replications per tornado setting (the base and each factor's two ends).
    samples
        Sobol base sample size N (a power of 2); ``samples * (factors + 2)`` settings are run.
        0 skips the Sobol analysis.
    sobol_replications
        Replications per Sobol setting.
    seed, workers
        Root seed shared by every setting (common random numbers); worker processes.
    out
        Folder for ``tornado.csv``, ``sobol.csv``, ``sobol_points.csv`` (and ``.parquet``),
        ``sensitivity.json`` and ``charts/``; None writes nothing.
    spread
        Relative half-range of factors given as a bare ``PATH``.
    """
    given = list(DEFAULT_FACTORS) if not factors else factors
    parsed = [f if isinstance(f, Factor) else factor_from_text(f, spread) for f in given]
    paths = [f.path for f in parsed]
    if len(set(paths)) != len(paths):
        raise BadParameter("a factor is given twice")
    if samples < 0:
        raise BadParameter("--samples must be 0 (no Sobol analysis) or more")
    resolved = resolve_factors(scenario_path, parsed, overrides)
    base = load_scenario(scenario_path, overrides)
    currency = base.economics.currency
    points: list[tuple[Any, Scenario]] = [("base", base)]
    for k, rf in enumerate(resolved):
        for side, x in (("low", rf.factor.low), ("high", rf.factor.high)):
            setting: list[float | None] = [None] * len(resolved)
            setting[k] = x
            points.append(((k, side), _scenario_at(scenario_path, overrides, resolved, setting)))
    table = run_points(points, replications, seed, workers)
    tornado = tornado_table(table, resolved)

    sobol = sobol_points = None
    if samples > 0:
        # lazy: SALib is slow to import and only Sobol indices need it
        from SALib.sample import sobol as sobol_sample

        problem = sobol_problem(resolved)
        x = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
        spoints = [
            (i, _scenario_at(scenario_path, overrides, resolved, list(row)))
            for i, row in enumerate(x)
        ]
        stable = run_points(spoints, sobol_replications, seed, workers)
        grouped = stable.groupby("point")
        p_target = grouped["hit_target"].mean().reindex(range(len(x))).to_numpy(float)
        revenue = grouped["revenue"].mean().reindex(range(len(x))).to_numpy(float)
        labels = [rf.factor.label for rf in resolved]
        sobol = sobol_indices(problem, {"p_target": p_target, "revenue": revenue}, labels, seed)
        sobol_points = pd.DataFrame(x, columns=problem["names"])
        sobol_points.insert(0, "point", range(len(x)))
        sobol_points["p_target"] = p_target
        sobol_points["revenue_mean"] = revenue
    result = SensitivityResult(tornado, sobol, sobol_points, resolved)
    if out is None:
        return result
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result.files += write_table(tornado.reset_index(drop=True), folder / "tornado.csv")
    result.files.append(save_figure(tornado_chart(tornado, currency),
                                    folder / "charts" / "tornado.png"))  # fmt: skip
    if sobol is not None and sobol_points is not None:
        result.files += write_table(sobol, folder / "sobol.csv")
        result.files += write_table(sobol_points, folder / "sobol_points.csv")
        result.files.append(save_figure(sobol_chart(sobol), folder / "charts" / "sobol.png"))
    meta = {
        "scenario": str(scenario_path),
        "overrides": list(overrides),
        "factors": [
            {
                "path": rf.factor.path,
                "label": rf.factor.label,
                "range": rf.factor.describe(),
                "relative": rf.factor.relative,
            }
            for rf in resolved
        ],
        "replications": replications,
        "samples": samples,
        "sobol_replications": sobol_replications,
        "sobol_settings": 0 if sobol_points is None else len(sobol_points),
        "seed": seed,
        "not_resolved": [
            {
                "factor": r["factor"],
                "side": r["side"],
                "output": out,
                "note": r[f"delta_{out}_note"],
            }
            for r in tornado.to_dict("records")
            for out in ("p_target", "revenue")
            if r.get(f"delta_{out}_note")
        ],
    }
    (folder / "sensitivity.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    result.files.append(folder / "sensitivity.json")
    return result
