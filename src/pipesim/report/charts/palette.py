"""The look every report chart shares, PNG or SVG: the palette, series styles and outcome styles.

Colours follow the Okabe-Ito palette (safe for colour-blind readers) and every series also
differs in lightness, line style or hatch, so the charts read in greyscale print. Nothing here
draws: :mod:`pipesim.report.charts.style` turns it into matplotlib settings and
:mod:`pipesim.report.charts.svg` into SVG.
"""

from __future__ import annotations

# Okabe-Ito, ordered so neighbours differ in lightness as well as hue.
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8C8C8C"
INK = "#222222"
BELOW_TARGET = "#c7c7c7"
"""Histogram bars of revenue below the target."""
GRID = "#dddddd"
"""Grid lines behind the data."""

LineStyle = str | tuple[int, tuple[int, ...]]

SERIES_STYLES: tuple[tuple[str, LineStyle], ...] = (
    (BLUE, "-"),
    (VERMILLION, "--"),
    (GREEN, "-."),
    (PURPLE, ":"),
    (ORANGE, (0, (5, 1, 1, 1, 1, 1))),
    (INK, (0, (1, 1))),
)
"""Colour and line style of the k-th overlaid series (scenarios in a comparison)."""

OUTCOMES: dict[str, tuple[str, str, str]] = {
    # state: (label, colour, hatch)
    "won": ("won", GREEN, ""),
    "lost": ("lost to a competitor", VERMILLION, "//"),
    "no_decision_status_quo": ("no decision: kept status quo", ORANGE, ".."),
    "no_decision_indecision": ("no decision: stalled", YELLOW, "xx"),
    "no_decision": ("no decision (causes not split)", ORANGE, ".."),
    "disqualified": ("disqualified by rep", SKY, ""),
    "uncaptured": ("never picked up", PURPLE, "\\\\"),
    "open_at_end": ("still open at horizon end", GREY, "--"),
}
"""Display label, colour and hatch of each outcome, in stacking order."""

DARK_FILLS = (GREEN, VERMILLION, BLUE)
"""Fills on which a label is written in white (ink on the others)."""
