"""The page shell of the HTML reports: styles, HTML helpers, embedded charts and file writing.

A page embeds every chart, as inline SVG (the run report, :mod:`pipesim.report.charts.svg`) or
as a base64 PNG (matplotlib figures, the comparison report), and carries its own CSS (with a print
stylesheet): no scripts, no fonts, no links that load anything, so it opens offline in any browser
and prints on A4. The run report (:mod:`pipesim.report.html`) and the comparison report
(:mod:`pipesim.report.compare`) are both built from these pieces.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipesim.report import charts
from pipesim.report.charts.svgplot import standalone

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHART_DIR = "charts"

CSS = """
:root { --ink: #1d2327; --muted: #5b6770; --line: #d9dee2; --accent: #0072B2;
        --good: #007a5a; --bad: #b84400; --card: #f4f6f8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
       font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
             "Liberation Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 48px; }
header.top { border-bottom: 3px solid var(--ink); padding-bottom: 10px; margin-bottom: 22px; }
header.top .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 13px;
                     color: var(--muted); margin: 0; }
header.top h1 { font-size: 30px; margin: 2px 0 4px; }
header.top .meta { color: var(--muted); font-size: 14px; margin: 0; }
h2 { font-size: 21px; margin: 0 0 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
section { margin: 0 0 34px; }
.lead { font-size: 16px; margin: 2px 0 12px; }
.note { color: var(--muted); font-size: 13.5px; margin: 6px 0 0; }
.hero { display: flex; gap: 28px; align-items: center; background: var(--card);
        border-left: 8px solid var(--accent); padding: 18px 24px; }
.hero .big { font-size: 88px; font-weight: 800; line-height: 1; letter-spacing: -.02em;
             color: var(--accent); font-variant-numeric: tabular-nums; }
.hero .words { font-size: 22px; font-weight: 600; margin: 0 0 6px; }
.hero .sub { color: var(--muted); font-size: 15px; margin: 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 14px 0 0; }
.card { border: 1px solid var(--line); border-top: 5px solid var(--accent); padding: 10px 14px; }
.card.target { border-top-color: var(--ink); }
.card .label { font-size: 13px; text-transform: uppercase; letter-spacing: .05em;
               color: var(--muted); margin: 0; }
.card .value { font-size: 30px; font-weight: 700; margin: 2px 0;
               font-variant-numeric: tabular-nums; }
.card .expl { font-size: 13.5px; margin: 0; color: var(--muted); }
.gap-up { color: var(--good); } .gap-down { color: var(--bad); }
ul.brief { margin: 14px 0 0; padding-left: 20px; } ul.brief li { margin: 3px 0; }
figure { margin: 6px 0 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line); }
figure svg.chart { display: block; width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0 0;
        font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
table.kv td:first-child, table.kv th:first-child { width: 30%; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.nowrap { white-space: nowrap; }
.banner { background: #fff4e0; border: 1px solid #e69f00; padding: 8px 12px; margin-bottom: 16px; }
.whatif { color: #b35900; font-weight: 600; }
details { margin-top: 12px; } summary { cursor: pointer; color: var(--muted); }
pre { font-size: 12px; background: var(--card); padding: 10px; overflow: auto; }
footer { border-top: 1px solid var(--line); color: var(--muted); font-size: 13px;
         padding-top: 8px; }
@media (max-width: 760px) {
  .cards { grid-template-columns: repeat(2, 1fr); } .cols { grid-template-columns: 1fr; }
  .hero { flex-direction: column; align-items: flex-start; } .hero .big { font-size: 64px; }
}
.empty { background: var(--card); border-left: 4px solid var(--line); padding: 8px 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  /* Sections flow from page to page (no forced breaks); what must not be cut stays whole: a
     chart with its heading and lead (section.chart, .keep), a figure, a table row. */
  section.chart, figure, .hero, .cards, .keep, tr, table.kv {
    break-inside: avoid; page-break-inside: avoid; }
  h2, h3, p.lead { break-after: avoid; page-break-after: avoid; break-inside: avoid; }
  thead { display: table-header-group; }
  /* A4 is narrower than the small-screen breakpoint: keep the desktop layout on paper. */
  .hero { flex-direction: row; align-items: center; padding: 12px 18px; }
  .hero .big { font-size: 54pt; }
  .cards { grid-template-columns: repeat(4, 1fr); gap: 8px; }
  .card { padding: 6px 10px; }
  .card .value { font-size: 18pt; }
  figure img { border: none; max-height: 64mm; width: auto; max-width: 100%; }
  figure svg.chart { border: none; width: 100%; height: auto; max-height: 66mm; }
  table { font-size: 9pt; }
  section { margin-bottom: 18px; }
  details, .screen-only { display: none; }
  .cols { grid-template-columns: 1fr 1fr; }
}
"""


@dataclass(frozen=True)
class Chart:
    """A rendered chart: file stem, alt text, and its picture as SVG text or PNG bytes."""

    name: str
    alt: str
    png: bytes = b""
    svg: str = ""

    @property
    def file_name(self) -> str:
        """Its file in ``charts/``: ``<name>.svg`` or ``<name>.png``."""
        return f"{self.name}.svg" if self.svg else f"{self.name}.png"


def esc(text: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text), quote=True)


def render_chart(name: str, alt: str, fig: Figure, dpi: int = 150) -> Chart:
    """Render the matplotlib figure ``fig`` to PNG and free it."""
    png = charts.figure_png(fig, dpi=dpi)
    fig.clear()
    return Chart(name, alt, png)


def img_tag(chart: Chart, caption: str = "") -> str:
    """A ``figure`` with the chart inline (SVG) or embedded as a data URL (PNG)."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    if chart.svg:
        return f'<figure id="chart-{esc(chart.name)}">{chart.svg}{cap}</figure>'
    data = base64.b64encode(chart.png).decode("ascii")
    return (
        f'<figure id="chart-{esc(chart.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(chart.alt)}">{cap}</figure>'
    )


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (), **attrs: str
) -> str:
    """A simple escaped HTML table; columns listed in ``numeric`` are right-aligned."""
    extra = "".join(f' {k.rstrip("_")}="{esc(v)}"' for k, v in attrs.items())  # id_, class_

    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{esc(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """Wrap ``body`` in a complete, self-contained HTML document."""
    # The CSP makes the "nothing leaves the file" promise explicit to the browser as well.
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def write_files(folder: Path, html_text: str, chart_list: Sequence[Chart], name: str) -> Path:
    """Write ``name`` and each chart's file (``charts/*.svg`` or ``*.png``) into ``folder``.

    The HTML is written atomically.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHART_DIR).mkdir(exist_ok=True)
    for c in chart_list:
        path = folder / CHART_DIR / c.file_name
        if c.svg:
            path.write_text(standalone(c.svg), encoding="utf-8")
        else:
            path.write_bytes(c.png)
    path = folder / name
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    os.replace(tmp, path)
    return path
