"""Executive reports: charts and a self-contained HTML page per run, and scenario comparisons.

``pipesim run`` writes ``report.html`` (its charts inline as SVG, also ``charts/*.svg``) into its
output folder; ``pipesim report DIR`` rebuilds it from the saved files (``--png``: also
``charts/*.png``); ``pipesim compare`` runs scenarios with common random numbers and writes
``compare.html``. The chart functions live in :mod:`pipesim.report.charts` (the run report's
in :mod:`pipesim.report.charts.svg`), the page shell and HTML helpers in
:mod:`pipesim.report.page`, the run report's sections in :mod:`pipesim.report.answer`,
:mod:`pipesim.report.drivers` and :mod:`pipesim.report.context`, their assembly in
:mod:`pipesim.report.html`, paired statistics in :mod:`pipesim.report.compare`.
"""

from __future__ import annotations

from pipesim.report.data import RunData, from_results, load_run
from pipesim.report.html import REPORT_FILE, build_run_report, write_run_report

__all__ = [
    "REPORT_FILE",
    "RunData",
    "build_run_report",
    "from_results",
    "load_run",
    "write_run_report",
]
