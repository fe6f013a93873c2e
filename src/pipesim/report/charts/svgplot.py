"""A small SVG drawing kit for the report charts: scales, round ticks, text, legends, documents.

No plotting library and no global state: a :class:`Canvas` collects the elements of one chart
and :meth:`Canvas.document` returns the SVG text with its ``<title>`` and ``<desc>`` (named by
``aria-labelledby``), so a screen reader announces each chart. The element is made to sit inside
an HTML page (no namespace, which HTML does not need); :func:`standalone` makes it a file. Text
is laid out with Arial's character widths (:func:`text_width`; the charts ask for Arial,
Liberation Sans or Helvetica, which share them), so labels are placed where they do not overlap
without measuring in a browser. Coordinates are user units of the ``viewBox``; the page scales
the chart to its column.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipesim.report.charts.palette import GRID, INK

FONT_FAMILY = "Arial, 'Liberation Sans', Helvetica, sans-serif"
"""Fonts with Arial's metrics, which :func:`text_width` assumes."""

FONT = 13.5
"""Body text size (user units); a 760-unit chart printed 15 cm wide shows it at about 7.5 pt."""

SMALL = 12.5
"""Tick labels, annotations and legends."""

WIDTH = 760.0
"""Width of a full-width chart (user units)."""

MUTED = "#5b6770"
"""Secondary text (axis labels), as the page's muted colour."""

# Arial advance widths (1/1000 em) of the printable ASCII characters, space to tilde.
_ASCII_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip
_OTHER_WIDTHS = {"€": 556, "£": 556, "¥": 556, "–": 556, "—": 1000, "−": 584, "≥": 549,
                 "≤": 549, "…": 1000, "×": 584, "÷": 584, "·": 278, "’": 222}  # fmt: skip


def text_width(text: str, size: float = SMALL, bold: bool = False) -> float:
    """Width of ``text`` set in Arial at ``size`` (user units), bold about 7% wider."""
    total = 0
    for ch in text:
        code = ord(ch)
        total += _ASCII_WIDTHS[code - 32] if 32 <= code < 127 else _OTHER_WIDTHS.get(ch, 600)
    return total / 1000.0 * size * (1.07 if bold else 1.0)


def esc(text: object) -> str:
    """Escape text for SVG content and attribute values."""
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def num(v: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --------------------------------------------------------------------------- scales and ticks
@dataclass(frozen=True)
class Scale:
    """A linear map from data values (``lo`` to ``hi``) to user units (``start`` to ``end``)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, v: float) -> float:
        """The user-unit position of the value ``v``."""
        span = self.hi - self.lo
        t = (v - self.lo) / span if span else 0.5
        return self.start + t * (self.end - self.start)


def nice_step(span: float, max_ticks: int = 6) -> float:
    """The round step (1, 2, 2.5 or 5 times a power of ten) giving at most ``max_ticks`` ticks."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(max_ticks - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> tuple[float, float, list[float]]:
    """Round ticks that cover ``lo`` to ``hi``: the axis limits (the outer ticks) and the ticks.

    The first tick is at or below ``lo`` and the last at or above ``hi``, so the ticks cover the
    data; a zero span is widened to show one step either side of the value.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    for n in range(max_ticks, 2, -1):
        step = nice_step(hi - lo, n)
        first = math.floor(lo / step + 1e-9) * step
        last = math.ceil(hi / step - 1e-9) * step
        count = round((last - first) / step) + 1
        if count <= max_ticks:
            break
    ticks = [first + k * step for k in range(count)]
    ticks = [0.0 if abs(t) < step * 1e-9 else t for t in ticks]
    return ticks[0], ticks[-1], ticks


def money_tick(v: float, div: float) -> str:
    """A tick label of an amount axis in units of ``div``: one decimal below 100 unless whole."""
    x = v / div
    x = 0.0 if abs(x) < 1e-9 else x
    if abs(x) >= 100 or float(round(x, 9)).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def percent_tick(p: float) -> str:
    """A share as a tick label: ``20%``, ``2.5%``."""
    return f"{round(p * 100, 6):g}%"


def date_ticks(start: dt.date, end: dt.date, max_ticks: int = 8) -> list[tuple[dt.date, str]]:
    """Round calendar ticks from ``start`` to ``end``, with their labels.

    Month starts (every 1, 2, 3 or 6 months) or, over a short span, Mondays; labelled ``Mar``
    or ``5 Jan``, with the year on the first tick and on each January (``Jan 2027``).
    """
    days = (end - start).days
    if days < 70:
        step = max(1, math.ceil(days / 7 / max(max_ticks - 1, 1)))
        first = start + dt.timedelta(days=(7 - start.weekday()) % 7)  # Mondays
        out: list[tuple[dt.date, str]] = []
        d = first
        while d <= end:
            text = f"{d.day} {d.strftime('%b')}"
            out.append((d, text if out else f"{text} {d.year}"))
            d += dt.timedelta(days=7 * step)
        return out
    months = []
    y, m = start.year, start.month
    if start.day != 1:
        m += 1
    while True:
        y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
        d = dt.date(y, m, 1)
        if d > end:
            break
        months.append(d)
        m += 1
    every = next((k for k in (1, 2, 3, 6, 12) if math.ceil(len(months) / k) <= max_ticks), 12)
    chosen = [d for d in months if (d.month - 1) % every == 0] or months[:1]
    return [
        (d, f"{d.strftime('%b')} {d.year}" if k == 0 or d.month == 1 else d.strftime("%b"))
        for k, d in enumerate(chosen)
    ]


# --------------------------------------------------------------------------- legend items
@dataclass(frozen=True)
class Key:
    """One legend entry: a swatch and its label.

    ``kind`` is ``box`` (a filled square, optionally hatched), ``line`` (a stroke with ``dash``),
    ``band`` (a translucent fill), ``dot`` or ``diamond`` (a marker).
    """

    label: str
    colour: str
    kind: str = "box"
    dash: str = ""
    opacity: float = 1.0
    hatch: str = ""
    width: float = 2.0


# --------------------------------------------------------------------------- the canvas
_HATCH_PATHS = {
    "//": "M-1,1 l2,-2 M0,8 l8,-8 M7,9 l2,-2",
    "\\\\": "M-1,7 l2,2 M0,0 l8,8 M7,-1 l2,2",
    "xx": "M0,0 l8,8 M0,8 l8,-8",
    "--": "M0,4 h8",
}


@dataclass
class Canvas:
    """The elements of one chart, in drawing order.

    Parameters
    ----------
    width, height
        Size of the ``viewBox`` (user units).
    ident
        Prefix of the ids inside the SVG (title, description, hatch patterns), unique per page.
    """

    width: float
    height: float
    ident: str
    parts: list[str] = field(default_factory=list)
    defs: dict[str, str] = field(default_factory=dict)

    def add(self, element: str) -> None:
        """Append raw SVG markup."""
        self.parts.append(element)

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        colour: str = INK,
        width: float = 1.0,
        dash: str = "",
        opacity: float = 1.0,
        cls: str = "",
    ) -> None:
        """A straight line."""
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' stroke-opacity="{num(opacity)}"' if opacity < 1 else ""
        extra += f' class="{cls}"' if cls else ""
        self.add(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
            f'stroke="{colour}" stroke-width="{num(width)}"{extra}/>'
        )

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str,
        stroke: str = "none",
        stroke_width: float = 1.0,
        opacity: float = 1.0,
        rx: float = 0.0,
        attrs: str = "",
    ) -> None:
        """A rectangle (negative sizes are turned round)."""
        if w < 0:
            x, w = x + w, -w
        if h < 0:
            y, h = y + h, -h
        extra = f' stroke="{stroke}" stroke-width="{num(stroke_width)}"' if stroke != "none" else ""
        extra += f' fill-opacity="{num(opacity)}"' if opacity < 1 else ""
        extra += f' rx="{num(rx)}"' if rx else ""
        extra += f" {attrs}" if attrs else ""
        self.add(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" '
            f'fill="{fill}"{extra}/>'
        )

    def hatch(self, pattern: str) -> str:
        """The fill reference of a white hatch ``pattern`` (``//``, ``..``, ``xx``, ...)."""
        key = {"\\\\": "back", "//": "fwd", "..": "dots", "xx": "cross", "--": "dash"}[pattern]
        pid = f"{self.ident}-hatch-{key}"
        if pid not in self.defs:
            if pattern == "..":
                body = "".join(f'<circle cx="{v}" cy="{v}" r="1.1" fill="#fff"/>' for v in (2, 6))
            else:
                body = f'<path d="{_HATCH_PATHS[pattern]}" stroke="#fff" stroke-width="1.2"/>'
            self.defs[pid] = (
                f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
                f"{body}</pattern>"
            )
        return f"url(#{pid})"

    def path(
        self,
        d: str,
        colour: str = INK,
        width: float = 1.0,
        fill: str = "none",
        dash: str = "",
        opacity: float = 1.0,
        attrs: str = "",
    ) -> None:
        """A path; ``fill`` with ``opacity`` for a band, ``colour`` for its stroke."""
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        if fill != "none" and opacity < 1:
            extra += f' fill-opacity="{num(opacity)}"'
        extra += f" {attrs}" if attrs else ""
        stroke = (
            f' stroke="{colour}" stroke-width="{num(width)}" stroke-linejoin="round"'
            if colour != "none"
            else ""
        )
        self.add(f'<path d="{d}" fill="{fill}"{stroke}{extra}/>')

    def polyline(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        colour: str = INK,
        width: float = 1.0,
        dash: str = "",
        attrs: str = "",
    ) -> None:
        """A line through points."""
        self.path(points_path(xs, ys), colour, width, dash=dash, attrs=attrs)

    def band(
        self,
        xs: Sequence[float],
        lows: Sequence[float],
        highs: Sequence[float],
        fill: str,
        opacity: float,
        attrs: str = "",
    ) -> None:
        """A filled band between two lines over the same x."""
        top = points_path(xs, highs)
        back = " ".join(f"L{num(x)},{num(y)}" for x, y in zip(xs[::-1], lows[::-1], strict=True))
        self.path(f"{top} {back} Z", "none", fill=fill, opacity=opacity, attrs=attrs)

    def circle(
        self, x: float, y: float, r: float, fill: str, stroke: str = "#fff", attrs: str = ""
    ) -> None:
        """A dot marker."""
        extra = f" {attrs}" if attrs else ""
        self.add(
            f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1.2"{extra}/>'
        )

    def diamond(self, x: float, y: float, r: float, fill: str, attrs: str = "") -> None:
        """A diamond marker."""
        pts = ((x, y - r), (x + r, y), (x, y + r), (x - r, y))
        self.path(points_path(*zip(*pts, strict=True)) + " Z", "none", fill=fill, attrs=attrs)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        size: float = SMALL,
        anchor: str = "start",
        colour: str = INK,
        bold: bool = False,
        italic: bool = False,
        rotate: float = 0.0,
        middle: bool = False,
        halo: bool = False,
        attrs: str = "",
    ) -> None:
        """Text with its baseline at ``y`` (or centred on ``y`` with ``middle``)."""
        if middle:
            y += 0.35 * size
        extra = f' text-anchor="{anchor}"' if anchor != "start" else ""
        extra += ' font-weight="bold"' if bold else ""
        extra += ' font-style="italic"' if italic else ""
        extra += f' fill="{colour}"' if colour != INK else ""
        extra += (
            ' stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
            if halo
            else ""
        )
        extra += f' transform="rotate({num(rotate)} {num(x)} {num(y)})"' if rotate else ""
        extra += f" {attrs}" if attrs else ""
        self.add(
            f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}"{extra}>{esc(content)}</text>'
        )

    def label_box(
        self,
        x: float,
        y: float,
        content: str,
        edge: str,
        size: float = SMALL,
        anchor: str = "middle",
    ) -> tuple[float, float, float, float]:
        """Text on a white rounded box with an ``edge`` border; returns the box (x, y, w, h)."""
        w = text_width(content, size) + 8
        h = size + 6
        left = x - w / 2 if anchor == "middle" else x - w if anchor == "end" else x
        self.rect(left, y - h, w, h, "#fff", stroke=edge, stroke_width=1.0, rx=3)
        self.text(left + w / 2, y - h / 2, content, size, anchor="middle", middle=True)
        return left, y - h, w, h

    def legend(self, keys: Sequence[Key], x: float, y: float, max_width: float) -> float:
        """Lay ``keys`` out in rows from (``x``, ``y``) within ``max_width``; returns the height."""
        if not keys:
            return 0.0
        row_h = SMALL + 8
        cx, cy = x, y
        for key in keys:
            w = 26 + text_width(key.label, SMALL) + 18
            if cx > x and cx + w - 18 > x + max_width:
                cx, cy = x, cy + row_h
            self._swatch(key, cx, cy + row_h / 2)
            self.text(cx + 26, cy + row_h / 2, key.label, SMALL, middle=True)
            cx += w
        return cy + row_h - y

    def legend_height(self, keys: Sequence[Key], max_width: float) -> float:
        """The height :meth:`legend` would take, without drawing."""
        if not keys:
            return 0.0
        rows, cx = 1, 0.0
        for key in keys:
            w = 26 + text_width(key.label, SMALL) + 18
            if cx > 0 and cx + w - 18 > max_width:
                rows, cx = rows + 1, 0.0
            cx += w
        return rows * (SMALL + 8)

    def _swatch(self, key: Key, x: float, y: float) -> None:
        if key.kind == "line":
            self.line(x, y, x + 20, y, key.colour, key.width, key.dash)
        elif key.kind == "band":
            self.rect(x, y - 6, 20, 12, key.colour, opacity=key.opacity)
        elif key.kind == "dot":
            self.circle(x + 10, y, 4.5, key.colour)
        elif key.kind == "diamond":
            self.diamond(x + 10, y, 6, key.colour)
        else:
            self.rect(x + 2, y - 7, 14, 14, key.colour, opacity=key.opacity)
            if key.hatch:
                self.rect(x + 2, y - 7, 14, 14, self.hatch(key.hatch))

    def message(self, content: Sequence[str], kind: str = "empty") -> None:
        """A centred note in place of a chart that has nothing to draw."""
        lines = list(content)
        w = max(text_width(t, FONT) for t in lines) + 32
        h = len(lines) * (FONT + 6) + 20
        x0, y0 = (self.width - w) / 2, (self.height - h) / 2
        self.rect(x0, y0, w, h, "#f4f6f8", stroke="#d9dee2", rx=8, attrs=f'class="{kind}"')
        for k, t in enumerate(lines):
            self.text(self.width / 2, y0 + 10 + (k + 0.5) * (FONT + 6), t, FONT, "middle",
                      middle=True)  # fmt: skip

    def document(self, title: str, desc: str, kind: str) -> str:
        """The complete ``<svg>`` element: accessible title and description, then the drawing."""
        t, d = f"{self.ident}-title", f"{self.ident}-desc"
        defs = f"<defs>{''.join(self.defs.values())}</defs>" if self.defs else ""
        return (
            f'<svg class="chart" data-chart="{esc(kind)}" '
            f'viewBox="0 0 {num(self.width)} {num(self.height)}" width="{num(self.width)}" '
            f'height="{num(self.height)}" role="img" aria-labelledby="{t} {d}" '
            f'font-family="{esc(FONT_FAMILY)}" font-size="{num(SMALL)}" fill="{INK}">'
            f'<title id="{t}">{esc(title)}</title><desc id="{d}">{esc(desc)}</desc>{defs}'
            f'<rect width="{num(self.width)}" height="{num(self.height)}" fill="#fff"/>'
            f"{''.join(self.parts)}</svg>"
        )


SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def standalone(svg: str) -> str:
    """A chart made for a page (no namespace needed inside HTML) as an ``.svg`` file's text."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + svg.replace("<svg ", f'<svg xmlns="{SVG_NAMESPACE}" ', 1)
        + "\n"
    )


def points_path(xs: Iterable[float], ys: Iterable[float]) -> str:
    """``M x,y L x,y ...`` through the points."""
    pts = [f"{num(x)},{num(y)}" for x, y in zip(xs, ys, strict=True)]
    return ("M" + " L".join(pts)) if pts else ""


# --------------------------------------------------------------------------- axes
@dataclass(frozen=True)
class Frame:
    """The plot area of a chart and its two scales."""

    x: Scale
    y: Scale

    @property
    def left(self) -> float:
        """Left edge of the plot area."""
        return min(self.x.start, self.x.end)

    @property
    def right(self) -> float:
        """Right edge of the plot area."""
        return max(self.x.start, self.x.end)

    @property
    def top(self) -> float:
        """Top edge of the plot area."""
        return min(self.y.start, self.y.end)

    @property
    def bottom(self) -> float:
        """Bottom edge of the plot area."""
        return max(self.y.start, self.y.end)


def grid_and_axes(
    c: Canvas,
    f: Frame,
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    x_label: str,
    y_label: str,
    x_grid: bool = True,
    y_grid: bool = True,
    rotate_x: bool = False,
) -> None:
    """Grid lines behind the data, the left and bottom axis lines, tick labels, axis labels."""
    for v, _ in x_ticks if x_grid else ():
        c.line(f.x(v), f.top, f.x(v), f.bottom, GRID, 0.8)
    for v, _ in y_ticks if y_grid else ():
        c.line(f.left, f.y(v), f.right, f.y(v), GRID, 0.8)
    c.line(f.left, f.bottom, f.right, f.bottom, INK, 1.0)
    c.line(f.left, f.top, f.left, f.bottom, INK, 1.0)
    for v, text in x_ticks:
        x = f.x(v)
        c.line(x, f.bottom, x, f.bottom + 4, INK, 1.0)
        tag = f'class="tick-x" data-value="{v!r}" data-at="{num(x)}"'
        if rotate_x:
            c.text(x + 3, f.bottom + 10, text, SMALL, "end", rotate=-45, attrs=tag)
        else:
            c.text(x, f.bottom + 6 + SMALL, text, SMALL, "middle", attrs=tag)
    for v, text in y_ticks:
        y = f.y(v)
        c.line(f.left - 4, y, f.left, y, INK, 1.0)
        c.text(f.left - 7, y, text, SMALL, "end", middle=True,
               attrs=f'class="tick-y" data-value="{v!r}" data-at="{num(y)}"')  # fmt: skip
    if x_label:
        extra = max((text_width(t, SMALL) for _, t in x_ticks), default=0) * 0.7 if rotate_x else 0
        c.text((f.left + f.right) / 2, f.bottom + 12 + SMALL + FONT + extra, x_label, FONT,
               "middle", colour=MUTED)  # fmt: skip
    if y_label:
        widest = max((text_width(t, SMALL) for _, t in y_ticks), default=0.0)
        x = f.left - 14 - widest - 0.3 * FONT
        c.text(x, (f.top + f.bottom) / 2, y_label, FONT, "middle", colour=MUTED, rotate=-90)


def left_margin(y_ticks: Sequence[tuple[float, str]], y_label: bool = True) -> float:
    """Room left of the plot for the tick labels and the rotated axis label."""
    widest = max((text_width(t, SMALL) for _, t in y_ticks), default=0.0)
    return 14 + widest + (FONT + 10 if y_label else 4)


BOTTOM = 12 + SMALL + FONT + 10
"""Room below the plot for tick labels and the axis label."""


def category_plot(
    labels: Sequence[str],
    y_range: tuple[float, float],
    y_ticks: Sequence[tuple[float, str]],
    keys: Sequence[Key],
    chart_id: str,
    x_label: str,
    y_label: str,
    right: float = 18.0,
    plot_height: float = 230.0,
) -> tuple[Canvas, Frame, float]:
    """A canvas with one slot per label along x, legend on top, grid and axes drawn.

    Labels too wide for their slot are rotated, and the plot grows to hold them. Returns the
    canvas, the frame (slot ``k`` is centred on ``f.x(k + 0.5)``) and a slot's width.
    """
    left = left_margin(y_ticks)
    n = max(len(labels), 1)
    slot = (WIDTH - right - left) / n
    rotate = any(text_width(s, SMALL) > slot - 6 for s in labels)
    label_h = max((text_width(s, SMALL) for s in labels), default=0.0) * 0.71 if rotate else 0.0
    legend_h = Canvas(WIDTH, 0, chart_id).legend_height(keys, WIDTH - left - right)
    top = 8 + legend_h + 10
    height = top + plot_height + BOTTOM + label_h
    c = Canvas(WIDTH, height, chart_id)
    y_lo, y_hi = y_range
    f = Frame(Scale(0.0, float(n), left, WIDTH - right),
              Scale(y_lo, y_hi, height - BOTTOM - label_h, top))  # fmt: skip
    c.legend(keys, left, 8, WIDTH - left - right)
    grid_and_axes(c, f, [(k + 0.5, s) for k, s in enumerate(labels)], y_ticks, x_label,
                  y_label, x_grid=False, rotate_x=rotate)  # fmt: skip
    return c, f, slot


def series_dash(style: object, width: float) -> str:
    """An SVG ``stroke-dasharray`` for a matplotlib line style drawn ``width`` wide.

    The styles are those of :data:`pipesim.report.charts.palette.SERIES_STYLES`.
    """
    named = {"-": "", "--": "6 4", "-.": "6 3 1.5 3", ":": "1.5 3"}
    if isinstance(style, str):
        return named.get(style, "")
    if isinstance(style, tuple) and len(style) == 2 and isinstance(style[1], tuple):
        return " ".join(num(v * width) for v in style[1])
    return ""
