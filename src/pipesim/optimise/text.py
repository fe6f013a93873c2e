"""Small formatting helpers shared by the optimiser's messages, tables and report."""

from __future__ import annotations

import math


def money(x: float | None, currency: str) -> str:
    """Format an amount as ``21.80M EUR``, ``10.5k EUR`` or ``950 EUR``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:,.2f}{unit} {currency}"
    return f"{x:,.0f} {currency}"


def pct(x: float | None, digits: int = 1) -> str:
    """Format a share as a percentage."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def interval(p: dict[str, float]) -> str:
    """``51.3% (95% CI 48.2%-54.4%)`` from a ``p_target`` summary block."""
    return f"{pct(p['estimate'])} (95% CI {pct(p['ci_low'])}-{pct(p['ci_high'])})"


def interval_of(p: dict[str, float], replications: int) -> str:
    """``51.3% (95% CI 48.2%-54.4%, 200 replications)``."""
    return (
        f"{pct(p['estimate'])} (95% CI {pct(p['ci_low'])}-{pct(p['ci_high'])}, "
        f"{replications:,} replications)"
    )


def money_interval(est: float, low: float, high: float, currency: str) -> str:
    """``30.16M EUR (95% CI 29.50M-30.82M EUR)``; without the interval when it is not known."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return money(est, currency)
    lo, hi = money(low, currency), money(high, currency)
    suffix = f" {currency}"
    if lo.endswith(suffix):
        lo = lo[: -len(suffix)]
    return f"{money(est, currency)} (95% CI {lo} to {hi})"


def number(x: float, digits: int = 2) -> str:
    """A plain number without trailing zeros (``1.5``, ``2``, ``0.25``)."""
    text = f"{x:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
