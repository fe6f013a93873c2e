"""What an export must have to be used, and the report of what it had: rows read, used, skipped.

:class:`DataReport` counts every row the reader skipped, per reason with example rows, and what
was kept with a note; :class:`UsableFloor` is the least share and count of usable opportunity
rows a calibration, backtest or pipeline accepts (``--min-usable``), and :func:`skip_lines` words
the skipped rows for an error or a report, with what a dominant reason usually means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 3

MIN_USABLE_SHARE = 0.5
"""Default floor on the share of opportunity rows that must be usable.

When more than half of an export cannot be read the cause is nearly always systematic (swapped or
misnamed columns, a wrong ``date_format``, an id column that is not unique), and the rows that
survive are then not a random part of the data but the ones that happened to parse: fits on them
describe those rows, not the business."""

MIN_USABLE_ROWS = 100
"""Default floor on the number of usable opportunity rows.

With fewer, a win rate's 95% interval is about +/-10 points wide at best (1.96 x sqrt(0.25/100)),
and most stage and segment fits, which need ten episodes each, fall back to the base scenario:
the calibrated scenario would be the base under another name."""


@dataclass(frozen=True)
class UsableFloor:
    """The least of an opportunity export that must be usable (see :func:`check_usable`)."""

    share: float = MIN_USABLE_SHARE
    rows: int = MIN_USABLE_ROWS

    def __str__(self) -> str:
        return f"{self.share:.0%} and {self.rows} rows"

    @classmethod
    def parse(cls, text: str) -> UsableFloor:
        """``"50%,100"``, ``"0.5,100"``, ``"50%"`` (share only) or ``"100"`` (rows only).

        Raises ``ValueError`` naming what is allowed.
        """
        share, rows = MIN_USABLE_SHARE, MIN_USABLE_ROWS
        parts = [p.strip() for p in text.split(",")]
        allowed = (
            "give SHARE,ROWS such as 50%,100 (a share as a percentage or a fraction, a number "
            "of rows; 0,0 turns the floor off)"
        )
        if len(parts) > 2 or not all(parts):
            raise ValueError(f"{text!r}: {allowed}")
        try:
            if len(parts) == 2:
                share = _share(parts[0])
                rows = int(parts[1])
            elif parts[0].endswith("%") or "." in parts[0]:
                share = _share(parts[0])
            else:
                rows = int(parts[0])
        except ValueError:
            raise ValueError(f"{text!r}: {allowed}") from None
        if not 0 <= share <= 1 or rows < 0:
            raise ValueError(f"{text!r}: the share must be 0%-100% and the rows at least 0")
        return cls(share, rows)


def _share(text: str) -> float:
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text)


@dataclass
class DataReport:
    """What was read, used and skipped (and why)."""

    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    rows_read: int = 0
    rows_used: int = 0
    history_rows_read: int = 0
    history_rows_used: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    """Kept but incomplete or adjusted (e.g. blank amount, unmapped lead source): counts."""
    currency: str = ""
    """What is known of the amounts' currency, in words (converted, single, or not given)."""
    floor: UsableFloor | None = None
    """The floor the export was checked against (:func:`check_usable`), if it was."""

    @property
    def share_used(self) -> float:
        """Share of the opportunity rows read that were used."""
        return self.rows_used / self.rows_read if self.rows_read else 0.0

    def opportunity_skips(self) -> dict[str, int]:
        """Skip counts of the opportunity rows (the history's are prefixed ``history``)."""
        return {k: v for k, v in self.skipped.items() if not k.startswith("history")}

    def headline(self) -> str:
        """One line: how much of the export was used, against the floor if one was checked."""
        floor = f"; floor {self.floor}" if self.floor is not None else ""
        return (
            f"opportunities: read {self.rows_read} rows, used {self.rows_used} "
            f"({self.share_used:.1%} of the export{floor})"
        )

    def skip(self, reason: str, example: str) -> None:
        """Count a skipped row under ``reason`` and keep it as an example if few are kept."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(example)

    def note(self, what: str) -> None:
        """Count something kept with a caveat."""
        self.notes[what] = self.notes.get(what, 0) + 1

    def to_text(self) -> str:
        """A readable account: rows read and used, skips per reason with examples, notes."""
        lines = [self.headline()]
        if self.history_rows_read:
            lines.append(
                f"stage history: read {self.history_rows_read} rows, used {self.history_rows_used}"
            )
        if self.skipped:
            lines.append(f"skipped {sum(self.skipped.values())} rows:")
            for reason, count in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {count} x {reason}")
                lines.extend(f"      e.g. {ex}" for ex in self.examples.get(reason, []))
        else:
            lines.append("skipped no rows")
        if self.currency:
            lines.append(f"amounts: {self.currency}")
        if self.notes:
            lines.append("kept with a note:")
            for what, count in sorted(self.notes.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {count} x {what}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready content."""
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "share_used": round(self.share_used, 4),
            "floor": (
                {"share": self.floor.share, "rows": self.floor.rows}
                if self.floor is not None
                else None
            ),
            "currency": self.currency,
            "history_rows_read": self.history_rows_read,
            "history_rows_used": self.history_rows_used,
            "skipped": dict(self.skipped),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "notes": dict(self.notes),
        }


_HINTS: tuple[tuple[str, str], ...] = (
    (
        " before ",
        "most rows close before they were created: are the created and close date columns "
        "swapped (mapping opportunity_columns: {created: ..., close: ...})?",
    ),
    (
        "duplicate ",
        "most rows repeat another row's id: is the id column the opportunity's own id "
        "(mapping opportunity_columns: {id: ...})? An export of line items or stage changes "
        "has several rows per opportunity.",
    ),
    (
        "unparseable ",
        "most rows have a value that does not parse: check date_format, decimal and thousands "
        "in the mapping against the export",
    ),
    ("not in the mapping", "most stages are not in the mapping: add them under stages:"),
)


def skip_lines(report: DataReport) -> list[str]:
    """The opportunity rows skipped, per reason with examples, and what a dominant reason means."""
    skips = report.opportunity_skips()
    lines = [f"skipped {sum(skips.values())} rows:"]
    ordered = sorted(skips.items(), key=lambda kv: (-kv[1], kv[0]))
    for reason, count in ordered:
        lines.append(f"  {count} x {reason}")
        lines.extend(f"      e.g. {ex}" for ex in report.examples.get(reason, []))
    if ordered and ordered[0][1] * 2 > report.rows_read:
        top = ordered[0][0]
        lines += [hint for key, hint in _HINTS if key in top][:1]
    return lines
