"""The errors raised for CRM input that cannot be used.

:class:`CrmError` covers both halves of reading an export: the mapping file
(:mod:`pipesim.calibrate.mapping`) and the export itself (:mod:`pipesim.calibrate.crm`).
:class:`BacktestError` is one of them: an export that does not fit the backtest asked of it
(:mod:`pipesim.calibrate.backtest`).
"""

from __future__ import annotations


class CrmError(Exception):
    """A CRM export or mapping that cannot be used at all (the CLI exits 2)."""


class BacktestError(CrmError):
    """Bad backtest input: dates outside the export, an empty export, unknown segments.

    A :class:`CrmError`, so callers that report unusable exports report these too (the CLI
    exits 2).
    """
