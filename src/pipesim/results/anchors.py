"""Calibration anchors: the baseline's outputs against the seed figures of domain.md.

The model's defaults are tuned so that simulated outputs reproduce three published figures:

* about 26% of forecast (qualified) opportunities end in no decision (CSO Insights, 003);
* about 51% of forecast opportunities do not close as wins (003);
* inbound buyers engage vendors on average 57% through their journey (CEB, 003).

"Forecast opportunities" are the pursued opportunities that reached an outcome (won, lost, no
decision) within the horizon. ``pipesim anchors SCENARIO`` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipesim.results.statistics import ratio_interval


@dataclass(frozen=True)
class Anchor:
    """A published figure the model should reproduce, with the tolerance we accept."""

    name: str
    target: float
    tolerance: float
    source: str


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "no-decision share of forecast opportunities",
        0.26,
        0.03,
        "domain.md §1 (003, CSO Insights)",
    ),
    Anchor("forecast opportunities not won", 0.51, 0.04, "domain.md §2 (003)"),
    Anchor("inbound engagement point (journey fraction)", 0.57, 0.02, "domain.md §1 (003, CEB)"),
)


def anchor_table(table: pd.DataFrame) -> pd.DataFrame:
    """Simulated value and 95% interval of each anchor from a per-replication table.

    A row passes when its whole interval lies within target +/- tolerance.
    """
    resolved = table["resolved_opportunities"].to_numpy(float)
    inbound = table["leads_inbound"].to_numpy(float)
    eng = np.nan_to_num(table["inbound_engagement_fraction"].to_numpy(float)) * inbound
    values = [
        ratio_interval(table["no_decision_opportunities"].to_numpy(float), resolved),
        ratio_interval(resolved - table["won_opportunities"].to_numpy(float), resolved),
        ratio_interval(eng, inbound),
    ]
    rows = []
    for anchor, (est, lo, hi) in zip(ANCHORS, values, strict=True):
        rows.append(
            {
                "figure": anchor.name,
                "target": anchor.target,
                "tolerance": anchor.tolerance,
                "simulated": est,
                "ci_low": lo,
                "ci_high": hi,
                "passes": bool(
                    anchor.target - anchor.tolerance <= lo
                    and hi <= anchor.target + anchor.tolerance
                ),
                "source": anchor.source,
            }
        )
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """The anchor table as a Markdown table."""
    lines = [
        "| figure | target | simulated | 95% interval | passes | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lines.append(
            f"| {r.figure} | {r.target:.2f} ± {r.tolerance:.2f} | {r.simulated:.3f} | "
            f"{r.ci_low:.3f}-{r.ci_high:.3f} | {'yes' if r.passes else 'NO'} | {r.source} |"
        )
    return "\n".join(lines)
