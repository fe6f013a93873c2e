"""A finished run as the report sees it, and the words and numbers formats every page shares.

:class:`RunData` holds what a run folder contains (``summary.json``, ``replications.csv``,
``bookings.csv``, ``reps.csv``, ``scenario.yaml``); it is built either from the saved folder
(:func:`load_run`, what ``pipesim report DIR`` does) or from an in-memory
:class:`pipesim.runs.runner.Results` (:func:`from_results`). Reports never re-run the simulation.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipesim.runs.answers import RequiredAnswer, read_required
from pipesim.runs.runner import (
    BOOKINGS_DTYPES,
    REPS_DTYPES,
    Results,
    read_output,
    scenario_hash,
)
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario
from pipesim.scenario.schema import Scenario

CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
"""Currencies written with a symbol before the amount; any other code follows the amount."""

RUN_FILES: tuple[str, ...] = ("summary.json", "replications.csv", "bookings.csv", "reps.csv")
"""Files a run folder must hold for a report (``scenario.yaml`` is optional)."""


@dataclass(frozen=True)
class RunData:
    """Everything a run report needs, as tidy tables.

    Attributes
    ----------
    summary
        The ``summary.json`` content.
    table
        One row per replication (``replications.csv``).
    bookings
        Cumulative bookings per replication and week (``bookings.csv``).
    reps
        Bookings and quota attainment per replication and seat (``reps.csv``).
    scenario
        The resolved scenario, or None when ``scenario.yaml`` is missing or no longer loads.
    folder
        The run folder, when the data came from (or went to) disk.
    run_date
        When the run finished (the modification date of ``summary.json``), if known.
    deals
        The deal-level forecast (``deals.csv``), when the run had an open pipeline.
    catalogue
        Run catalogue for the forecast-drift section (None: ``$PIPESIM_CATALOGUE`` or
        ``reports/runs.sqlite``).
    """

    summary: dict[str, Any]
    table: pd.DataFrame
    bookings: pd.DataFrame
    reps: pd.DataFrame
    scenario: Scenario | None = None
    folder: Path | None = None
    run_date: dt.date | None = None
    deals: pd.DataFrame | None = None
    catalogue: Path | None = None

    def required_answer(self) -> RequiredAnswer | None:
        """The ``pipesim required`` answer kept in the run folder, if any (see runs.answers)."""
        if self.folder is None:
            return None
        sha = None
        try:
            sha = json.loads((self.folder / "run.json").read_text(encoding="utf-8")).get(
                "scenario_sha256"
            )
        except (OSError, ValueError):
            pass
        if sha is None and self.scenario is not None:
            sha = scenario_hash(self.scenario)
        return read_required(self.folder, str(sha), self.target)

    @property
    def name(self) -> str:
        """Scenario name."""
        return str(self.summary["scenario"])

    @property
    def currency(self) -> str:
        """ISO currency code of every amount."""
        return str(self.summary["target"]["currency"])

    @property
    def target(self) -> float:
        """Revenue target over the horizon (currency)."""
        return float(self.summary["target"]["amount"])

    @property
    def horizon_weeks(self) -> float:
        """Forecast horizon (weeks)."""
        return float(self.summary["target"]["horizon_weeks"])

    @property
    def start_date(self) -> dt.date:
        """Calendar date of day 0."""
        return dt.date.fromisoformat(str(self.summary["target"]["start_date"]))

    @property
    def end_date(self) -> dt.date:
        """Last calendar day inside the horizon (deals must close by the end of this day)."""
        days = float(self.summary["target"]["horizon_days"])
        return self.start_date + dt.timedelta(days=math.ceil(days) - 1)

    @property
    def period(self) -> str:
        """What one replication simulates: ``year``, ``quarter`` or e.g. ``6-week period``."""
        weeks = self.horizon_weeks
        if 50 <= weeks <= 53:
            return "year"
        if 12 <= weeks <= 14:
            return "quarter"
        return f"{weeks:g}-week period"

    @property
    def quota_text(self) -> str:
        """The rep quota as the report words it: one figure, or the range of per-rep quotas."""
        target = self.summary["target"]
        named = target.get("rep_quotas") or {}
        if not named:
            return money(target["rep_quota"], self.currency)
        seats = sorted(set(self.reps["rep"].astype(str))) if len(self.reps) else list(named)
        values = [float(named.get(s, target["rep_quota"])) for s in seats]
        lo, hi = money(min(values), self.currency), money(max(values), self.currency)
        return f"{lo}–{hi}, set per rep"

    @property
    def segments(self) -> list[str]:
        """Segment names, from the scenario or else from the ``<SEG>_leads`` columns."""
        if self.scenario is not None:
            return list(self.scenario.segments)
        return [c[: -len("_leads")] for c in self.table.columns if re.fullmatch(r".+_leads", c)]


def load_run(folder: str | Path, catalogue: str | Path | None = None) -> RunData:
    """Read a run folder written by :func:`pipesim.run` (or ``pipesim run``).

    Parameters
    ----------
    folder
        The run's output folder.

    Raises
    ------
    FileNotFoundError
        When one of :data:`RUN_FILES` is missing, naming it.
    """
    folder = Path(folder)
    missing = [f for f in RUN_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a complete run folder: missing {', '.join(missing)} "
            "(write one with `pipesim run SCENARIO --out DIR`)"
        )
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    scenario: Scenario | None = None
    if (folder / "scenario.yaml").is_file():
        try:
            scenario = load_scenario(folder / "scenario.yaml")
        except ScenarioError:
            scenario = None  # the report says the assumptions are unavailable
    finished = summary.get("finished_at")
    run_date = (
        dt.datetime.fromisoformat(finished).date()
        if isinstance(finished, str)
        else dt.datetime.fromtimestamp(summary_path.stat().st_mtime).date()
    )
    deals_path = folder / "deals.csv"
    # deals.csv only belongs to this run when it had an open pipeline (then summary.json holds
    # its leading indicators); a reused folder may keep one from an earlier run.
    has_deals = deals_path.is_file() and bool(summary.get("indicators"))
    return RunData(
        summary=summary,
        table=read_output(folder / "replications.csv"),
        bookings=read_output(folder / "bookings.csv", BOOKINGS_DTYPES),
        reps=read_output(folder / "reps.csv", REPS_DTYPES),
        scenario=scenario,
        folder=folder,
        run_date=run_date,
        deals=_read_deals(deals_path) if has_deals else None,
        catalogue=Path(catalogue) if catalogue is not None else None,
    )


def _read_deals(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path, dtype={"deal_id": str, "name": str, "flags": str}, keep_default_na=False,
        na_values={c: [""] for c in ("value", "days_in_stage", "swing", "swing_ci_low",
                                     "swing_ci_high", "p_target_if_won", "p_target_if_not_won")},
    )  # fmt: skip


def from_results(results: Results, catalogue: str | Path | None = None) -> RunData:
    """Wrap an in-memory run (no files needed)."""
    return RunData(
        summary=results.summary,
        table=results.table,
        bookings=results.bookings,
        reps=results.reps,
        scenario=results.scenario,
        folder=results.out,
        run_date=dt.date.today(),
        deals=results.deals if results.summary.get("indicators") else None,
        catalogue=Path(catalogue) if catalogue is not None else None,
    )


# --------------------------------------------------------------------------- formats
def money_unit(amount: float) -> tuple[float, str]:
    """Divisor and suffix that suit ``amount``: ``(1e6, "M")``, ``(1e3, "k")`` or ``(1, "")``."""
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= div:
            return div, suffix
    return 1.0, ""


def money(amount: float | None, currency: str, digits: int = 1, unit: float | None = None) -> str:
    """Format an amount for a reader: ``€21.8M``, ``$950k``, ``1.2M CHF``.

    Parameters
    ----------
    amount
        Amount in ``currency``; None gives ``n/a``.
    currency
        ISO code; EUR, USD, GBP and JPY are written with their symbol.
    digits
        Decimals after scaling.
    unit
        Force a divisor (1e6, 1e3, 1) so several amounts share one scale.
    """
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "n/a"
    if unit is None:
        div, suffix = money_unit(amount)
    else:
        div = unit
        suffix = {1e9: "bn", 1e6: "M", 1e3: "k"}.get(unit, "")
    value = amount / div
    text = f"{abs(value):,.{digits if div > 1 else 0}f}{suffix}"
    sign = "−" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def money_axis_label(what: str, currency: str, div: float) -> str:
    """Axis label with unit and currency, e.g. ``Revenue (€M)`` or ``Revenue (M CHF)``."""
    suffix = {1e9: "bn", 1e6: "M", 1e3: "k"}.get(div, "")
    symbol = CURRENCY_SYMBOLS.get(currency)
    unit = f"{symbol}{suffix}" if symbol else f"{suffix} {currency}".strip()
    return f"{what} ({unit})"


def article(share: str) -> str:
    """``a`` or ``an`` before a spoken percentage (an 8x%, an 11%, an 18%)."""
    digits = share.split(".")[0].rstrip("%")
    return "an" if digits.startswith("8") or digits in ("11", "18") else "a"


def pct(p: float | None, digits: int = 0) -> str:
    """Format a probability as a percentage: ``62%``; ``<1%`` / ``>99%`` near the ends."""
    if p is None or math.isnan(p):
        return "n/a"
    scale = 10.0**digits
    if 0 < p < 0.01 and digits == 0:
        return "<1%"
    if 0.99 < p < 1 and digits == 0:
        return ">99%"
    return f"{round(p * 100 * scale) / scale:.{digits}f}%"


def day_text(date: dt.date, with_year: bool = True) -> str:
    """Format a date as ``30 Dec 2026`` (no locale dependence, no leading zero)."""
    text = f"{date.day} {date.strftime('%b')}"
    return f"{text} {date.year}" if with_year else text
