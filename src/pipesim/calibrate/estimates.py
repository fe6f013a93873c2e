"""What the fits report and what a calibration produces.

* :class:`Estimate`: one fitted value with its standard error, 95% interval, records used and
  how many of them were censored;
* :class:`SurvivalFit`: a censored maximum-likelihood fit of one family of dwell distributions;
* :class:`Fits`: every estimate from one export, plus what could not be estimated;
* :class:`Applied`: a scenario value set from the data, with its uncertainty;
* :class:`Calibration`: the calibrated scenario, what set each value and what was kept.

``Z95`` (the normal 97.5% quantile) and ``MIN_EPISODES`` (below it a value is not identified)
are shared by every fit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipesim.scenario.schema import Scenario

Z95 = float(stats.norm.ppf(0.975))
MIN_EPISODES = 10
"""Fewer episodes (or deals) than this and a value is reported as not identified."""


@dataclass
class Estimate:
    """One fitted value with its uncertainty and where it goes in the scenario."""

    name: str
    value: float
    se: float
    low: float
    high: float
    n: int
    n_censored: int = 0
    unit: str = ""
    method: str = ""
    gof: dict[str, float] = field(default_factory=dict)
    note: str = ""
    widened: float = 1.0
    """Factor the interval was widened by to the spread across simulated histories."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (NaN as None)."""
        out = asdict(self)
        for key in ("value", "se", "low", "high"):
            if not math.isfinite(out[key]):
                out[key] = None
        out["gof"] = {k: (v if math.isfinite(v) else None) for k, v in self.gof.items()}
        return out


@dataclass
class SurvivalFit:
    """A censored maximum-likelihood fit of one family."""

    family: str
    params: np.ndarray  # on the optimiser's (log) scale
    cov: np.ndarray
    loglik: float
    aic: float
    ks: float


@dataclass
class Fits:
    """Every estimate from one export, plus what could not be estimated."""

    estimates: dict[str, Estimate]
    reps: list[dict[str, Any]]
    team: dict[str, float]
    episodes: pd.DataFrame
    as_of: pd.Timestamp
    not_identified: dict[str, str]
    gamma: dict[str, SurvivalFit]


@dataclass
class Applied:
    """A scenario value set from the data."""

    path: str
    value: float
    base_value: float | None
    estimate: str
    sd: float
    distribution: str  # "normal" or "lognormal" (sd of the log)
    how: str
    uncorrected: float | None = None
    """The value before the selection correction (None: not corrected)."""
    low: float = field(init=False)
    high: float = field(init=False)

    def __post_init__(self) -> None:
        """The 95% interval the uncertainty block implies (normal truncated at zero)."""
        if not math.isfinite(self.sd):
            self.low = self.high = math.nan
        elif self.distribution == "lognormal":
            self.low = self.value * math.exp(-Z95 * self.sd)
            self.high = self.value * math.exp(Z95 * self.sd)
        else:
            self.low = max(self.value - Z95 * self.sd, 0.0)
            self.high = self.value + Z95 * self.sd

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (NaN as None)."""
        out = asdict(self)
        for key in ("sd", "low", "high"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


@dataclass
class Calibration:
    """A fitted scenario, what set each value, and what was kept from the base."""

    scenario: Scenario
    applied: list[Applied]
    kept: dict[str, str]
    fits: Fits
    uncertainty: dict[str, dict[str, Any]]
    simulation: dict[str, Any] | None = None
    """The selection correction and the simulated spread of each estimate (None: not run)."""
