"""Read a CRM opportunity export (and its stage history) into normalised tables.

:func:`read_crm` turns an export (Salesforce's Opportunity / OpportunityHistory by default, any
CRM through a :mod:`mapping <pipesim.calibrate.mapping>` file) into :class:`CrmData`:

* ``opportunities``: one row per usable opportunity: ``id``, ``created`` (when the opportunity
  was opened, the pursuit start), ``close`` (NaT while open), ``outcome`` (``won``, ``lost``,
  ``no_decision``, ``open``), ``stage`` (the journey stage of an open deal; the last journey
  stage a closed deal reached, from the history, or ``""`` without one), ``amount``, ``owner``,
  ``source`` (a pipesim source or ``other``), ``segment``, ``line`` (CSV line number);
* ``history``: ``id``, ``stage``, ``entered``: each journey stage an opportunity entered, in time
  order (consecutive rows of the same stage collapsed; close events are in ``opportunities``);
* ``report``: every row that was skipped and why (counts per reason, up to three example rows
  with their CSV line numbers) and notes on what was kept but is incomplete.

Bad rows are skipped and reported, never dropped silently; problems that leave nothing to work
with (a missing file or required column, nothing usable left) raise :class:`CrmError`. An export
of which too little is usable to describe the business is refused by :func:`check_usable` (the
commands call it with their ``--min-usable`` floor, :class:`UsableFloor`).

Amounts in more than one currency (the ``CurrencyIsoCode`` column by default) are converted with
the mapping's ``currency.rates`` to the target currency (the mapping's ``currency.to``, else the
scenario's ``economics.currency`` passed as ``currency``), or refused naming each currency and
its row count; a single currency other than the target is refused the same way. They are never
pooled as one currency.
A no-decision is a closed, not-won deal whose stage maps to ``no_decision`` or whose loss reason
is one of the mapping's ``no_decision_reasons``.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipesim.calibrate.errors import CrmError
from pipesim.calibrate.mapping import STAGE_KINDS, TERMINAL_KINDS, Mapping, load_mapping
from pipesim.calibrate.usable import DataReport, UsableFloor, skip_lines
from pipesim.scenario.schema import STAGES

OUTCOMES: tuple[str, ...] = ("won", "lost", "no_decision", "open")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass
class CrmData:
    """Normalised opportunities, their stage history (if given) and the data report."""

    opportunities: pd.DataFrame
    history: pd.DataFrame | None
    report: DataReport
    currency: str | None = None
    """The currency of ``amount`` (after any conversion); None where the export does not say."""


# --------------------------------------------------------------------------- CSV rows
def _rows(path: Path, required: dict[str, str]) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """Header and ``(line number, row)`` pairs; fatal problems raise :class:`CrmError`."""
    if not path.exists():
        raise CrmError(f"{path}: file not found")
    if path.is_dir():
        raise CrmError(f"{path}: is a folder, not a CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CrmError(f"{path}: cannot read file: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise CrmError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise CrmError(f"{path}: the file is empty; expected a CSV header line") from None
    except csv.Error as exc:
        raise CrmError(f"{path}:1: malformed CSV header ({exc})") from None
    header = [h.strip() for h in header]
    for role, column in required.items():
        if header.count(column) > 1:
            first = header.index(column) + 1
            again = header.index(column, first) + 1
            raise CrmError(
                f"{path}:1:{again}: column {column!r} ({role}) appears twice (columns {first} and "
                f"{again}); keep one, or name the one to use in the mapping file"
            )
        if column not in header:
            raise CrmError(
                f"{path}:1: required column {column!r} ({role}) is missing; columns found: "
                f"{', '.join(header) or '(none)'}; name the column in the mapping file "
                f"(e.g. opportunity_columns: {{{role}: <your column>}})"
            )

    def gen() -> Iterator[tuple[int, dict]]:
        line = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, {"__error__": f"malformed CSV ({exc})"}
                line = reader.line_num + 1
                continue
            if values:
                if len(values) != len(header):
                    yield (
                        line,
                        {
                            "__error__": f"{len(values)} fields where the header has {len(header)}",
                            "__raw__": ",".join(values),
                        },
                    )
                else:
                    yield line, dict(zip(header, values, strict=True))
            line = reader.line_num + 1

    return header, gen()


def _example(path: Path, line: int, row: dict, cols: Sequence[str | None]) -> str:
    if "__raw__" in row:
        shown = row["__raw__"][:80]
    else:
        shown = ", ".join(f"{c}={row.get(c, '')!r}" for c in cols if c and c in row)
    return f"{path.name}:{line}: {shown}"


def _parse_dates(values: list[str], fmt: str | None) -> pd.Series:
    """Datetimes (tz-naive, UTC where a zone is given); NaT where unparseable or blank."""
    s = pd.Series(values, dtype="object").str.strip()
    if fmt:
        out = pd.to_datetime(s, format=fmt, errors="coerce")
    else:
        out = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True)
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _parse_amount(text: str, mapping: Mapping) -> float | None:
    """A number, NaN for a blank, None when unparseable."""
    t = text.strip()
    if not t:
        return float("nan")
    if mapping.thousands:
        t = t.replace(mapping.thousands, "")
    if mapping.decimal != ".":
        t = t.replace(mapping.decimal, ".")
    try:
        value = float(t)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _flag(text: str) -> bool | None:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


def _stage_kind(name: str, mapping: Mapping, folded: AbcMapping[str, str]) -> str | None:
    kind: str | None = mapping.stages.get(name)
    if kind is None:
        kind = folded.get(name.strip().casefold())
    return kind


# --------------------------------------------------------------------------- opportunities
def read_crm(
    opportunities: Path,
    history: Path | None = None,
    mapping: Path | None = None,
    currency: str | None = None,
) -> CrmData:
    """Read an opportunity export (and optionally its stage history) with a column mapping.

    Parameters
    ----------
    opportunities
        Opportunity CSV (one row per opportunity).
    history
        Optional stage-history CSV (one row per stage change).
    mapping
        Optional mapping YAML (default: Salesforce column names and stages).
    currency
        The currency the amounts are wanted in: the scenario's ``economics.currency`` (the
        mapping's ``currency.to`` takes its place where given; they may not differ). None
        accepts the export's one currency, whichever it is.

    Raises
    ------
    CrmError
        Missing or unreadable file, missing required column, bad mapping, no usable row, or
        amounts in a currency other than the target (or in several) without a rate for it.
    """
    mp = load_mapping(mapping)
    target = currency.strip().upper() if currency else None
    if mp.currency.to is not None and target is not None and mp.currency.to != target:
        raise CrmError(
            f"{mapping}: currency.to is {mp.currency.to} but the scenario's economics.currency is "
            f"{target}; convert to the scenario's currency, or use a scenario in {mp.currency.to}"
        )
    target = mp.currency.to or target
    report = DataReport()
    opps, found = _read_opportunities(Path(opportunities), mp, report, target)
    hist = None
    if history is not None:
        hist = _read_history(Path(history), mp, opps, report)
        last = hist.groupby("id", sort=False)["stage"].last()
        closed = opps["outcome"] != "open"
        opps.loc[closed, "stage"] = opps.loc[closed, "id"].map(last).fillna("").to_numpy()
    return CrmData(opportunities=opps, history=hist, report=report, currency=found)


def _currency_of(
    path: Path, column: str | None, codes: Counter[str], target: str | None, mp: Mapping
) -> tuple[str | None, str]:
    """The amounts' currency after conversion and a sentence on it; refuse mixing.

    ``codes`` counts the used rows per currency code (rows converted already when a rate was
    given). Raises :class:`CrmError` naming each currency and its row count when the export
    mixes currencies, or holds one other than ``target``, without a rate for each.
    """
    if column is None:
        where = target or "the scenario's currency"
        return target, f"no currency column in {path.name}: taken to be in {where}"
    if not codes:
        return target, f"{column} blank in every row: taken to be in {target or 'one currency'}"
    counts = ", ".join(
        f"{c} {n} rows" for c, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    if target is None and len(codes) == 1:
        only = next(iter(codes))
        return only, f"{only} ({column}, every row)"
    example_to = target or "EUR"
    missing = [c for c in codes if c != target and c not in mp.currency.rates]
    if target is None or missing:
        lacking = [c for c in codes if c != example_to] or list(codes)
        rates = ", ".join(f"{c}: <{example_to} per {c}>" for c in lacking)
        give = f"currency: {{to: {example_to}, rates: {{{rates}}}}}"
        if len(codes) > 1:
            raise CrmError(
                f"{path}: the export mixes currencies ({column}): {counts}; amounts in "
                f"different currencies cannot be pooled: give rates in the mapping file "
                f"({give}) or filter the export to one currency"
            )
        only = next(iter(codes))
        raise CrmError(
            f"{path}: the export's amounts are in {only} ({codes[only]} rows, {column}) but the "
            f"scenario's economics.currency is {target}: give a rate in the mapping file "
            f"({give}) or use a scenario in {only}"
        )
    converted = [
        f"{codes[c]} rows from {c} at {mp.currency.rates[c]:g} {target} per {c}"
        for c in sorted(codes)
        if c != target
    ]
    if not converted:
        return target, f"{target} ({column}, every row)"
    return target, (
        f"in {target}; converted with the mapping's currency.rates: {'; '.join(converted)} "
        f"(found: {counts})"
    )


def _read_opportunities(
    path: Path, mp: Mapping, report: DataReport, target: str | None = None
) -> tuple[pd.DataFrame, str | None]:
    cols = mp.opportunity_columns
    required = {"id": cols.id, "created": cols.created, "close": cols.close, "stage": cols.stage}
    header, rows = _rows(path, required)
    optional: dict[str, str | None] = {}
    for role in ("amount", "is_won", "is_closed", "owner", "source", "loss_reason"):
        column = getattr(cols, role)
        optional[role] = column if column in header else None
        if column is not None and column not in header:
            report.notes[f"column {column!r} ({role}) not in {path.name}: not used"] = 1
    cur_col = cols.currency if cols.currency in header else None
    codes: Counter[str] = Counter()
    seg_col = mp.segment.column if mp.segment.amount_bands is None else None
    if seg_col is not None and seg_col not in header:
        report.notes[f"column {seg_col!r} (segment) not in {path.name}: every deal in 'all'"] = 1
        seg_col = None
    shown = [cols.id, cols.created, cols.close, cols.stage, optional["amount"]]
    folded = {k.strip().casefold(): v for k, v in mp.stages.items()}
    sources_folded = {k.strip().casefold(): v for k, v in mp.sources.items()}
    nd_reasons = {r.strip().casefold() for r in mp.no_decision_reasons}

    kept: list[tuple[int, dict]] = []
    for line, row in rows:
        report.rows_read += 1
        if "__error__" in row:
            report.skip(f"row not readable: {row['__error__']}", _example(path, line, row, shown))
            continue
        kept.append((line, row))
    if not kept:
        raise CrmError(f"{path}: no data rows after the header")

    created = _parse_dates([r[cols.created] for _, r in kept], mp.date_format)
    close = _parse_dates([r[cols.close] for _, r in kept], mp.date_format)
    fmt = mp.date_format or "ISO 8601, e.g. 2026-01-31 or 2026-01-31T09:30:00Z"
    seen: set[str] = set()
    records = []
    for k, (line, row) in enumerate(kept):
        ex = _example(path, line, row, shown)
        opp_id = row[cols.id].strip()
        if not opp_id:
            report.skip(f"blank {cols.id}", ex)
            continue
        if opp_id in seen:
            report.skip(f"duplicate {cols.id} (the first row with it is kept)", ex)
            continue
        if pd.isna(created[k]):
            report.skip(f"unparseable {cols.created} (expected {fmt})", ex)
            continue
        stage_name = row[cols.stage]
        kind = _stage_kind(stage_name, mp, folded)
        if kind is None:
            report.skip(
                f"{cols.stage} not in the mapping (allowed: {', '.join(mp.stages)}; add it under "
                f"stages: with one of {', '.join(STAGE_KINDS)})",
                ex,
            )
            continue
        amount = float("nan")
        if optional["amount"]:
            parsed = _parse_amount(row[optional["amount"]], mp)
            if parsed is None:
                report.skip(f"unparseable {optional['amount']} (expected a number)", ex)
                continue
            amount = parsed
            if np.isnan(amount):
                report.note(f"blank {optional['amount']} (kept; not used for deal sizes)")
            elif amount <= 0:
                report.note(f"{optional['amount']} zero or negative (kept; not used for sizes)")
        code = row[cur_col].strip().upper() if cur_col else ""
        if cur_col and not code and np.isfinite(amount):
            report.skip(f"blank {cur_col} with an amount (its currency is unknown)", ex)
            continue
        if code and target is not None and code != target and code in mp.currency.rates:
            amount = amount * mp.currency.rates[code]
        is_closed = kind in TERMINAL_KINDS
        if optional["is_closed"]:
            flag = _flag(row[optional["is_closed"]])
            if flag is None:
                report.skip(f"unparseable {optional['is_closed']} (expected true or false)", ex)
                continue
            is_closed = flag
        is_won = kind == "won"
        if optional["is_won"]:
            flag = _flag(row[optional["is_won"]])
            if flag is None:
                report.skip(f"unparseable {optional['is_won']} (expected true or false)", ex)
                continue
            is_won = flag
        if (kind in TERMINAL_KINDS) != is_closed or (is_won and (not is_closed or kind != "won")):
            report.skip(
                f"{cols.stage}, {optional['is_closed'] or 'IsClosed'} and "
                f"{optional['is_won'] or 'IsWon'} contradict each other",
                ex,
            )
            continue
        outcome, stage = "open", kind
        close_day = pd.NaT
        if is_closed:
            reason = row[optional["loss_reason"]] if optional["loss_reason"] else ""
            if is_won:
                outcome = "won"
            elif kind == "no_decision" or reason.strip().casefold() in nd_reasons:
                outcome = "no_decision"
            else:
                outcome = "lost"
            stage = ""
            close_day = close[k]
            if pd.isna(close_day):
                report.skip(f"closed deal with blank or unparseable {cols.close} ({fmt})", ex)
                continue
            if close_day.normalize() < created[k].normalize():
                report.skip(f"{cols.close} before {cols.created}", ex)
                continue
        source = "other"
        if optional["source"]:
            raw = row[optional["source"]].strip()
            mapped = mp.sources.get(raw) or sources_folded.get(raw.casefold())
            if mapped is None:
                report.note(
                    f"{optional['source']} {raw!r} not in the mapping: counted as 'other'"
                    if raw
                    else f"blank {optional['source']}: counted as 'other'"
                )
            else:
                source = mapped
        if mp.segment.amount_bands is not None:
            segment = "unknown"
            if np.isfinite(amount):
                for name, upper in mp.segment.amount_bands.items():
                    if amount <= upper:
                        segment = name
                        break
            if segment == "unknown":
                report.note("amount blank or above every band: segment 'unknown'")
        elif seg_col is not None:
            segment = row[seg_col].strip() or "unknown"
            if segment == "unknown":
                report.note(f"blank {seg_col}: segment 'unknown'")
        else:
            segment = "all"
        owner = row[optional["owner"]].strip() if optional["owner"] else ""
        seen.add(opp_id)
        if code:
            codes[code] += 1
        records.append(
            (
                opp_id,
                created[k],
                close_day,
                outcome,
                stage,
                amount,
                owner or "unknown",
                source,
                segment,
                line,
            )
        )
    if not records:
        raise CrmError(
            f"{path}: no usable opportunity left after skipping bad rows (read "
            f"{report.rows_read})\n" + "\n".join(skip_lines(report))
        )
    report.rows_used = len(records)
    found, report.currency = _currency_of(path, cur_col, codes, target, mp)
    df = pd.DataFrame(
        records,
        columns=[
            "id",
            "created",
            "close",
            "outcome",
            "stage",
            "amount",
            "owner",
            "source",
            "segment",
            "line",
        ],
    )
    df["created"] = df["created"].astype("datetime64[ns]")
    df["close"] = df["close"].astype("datetime64[ns]")
    df["amount"] = df["amount"].astype(float)
    return df, found


# --------------------------------------------------------------------------- the floor
def check_usable(data: CrmData, floor: UsableFloor, source: Path | str) -> None:
    """Refuse an export of which less than ``floor`` is usable; record the floor in the report.

    Raises :class:`CrmError` counting the skipped rows per reason (with example rows and their
    line numbers) and, where one reason dominates, what it usually means.
    """
    report = data.report
    report.floor = floor
    used, read = report.rows_used, report.rows_read
    if used >= floor.rows and report.share_used >= floor.share:
        return
    short = []
    if report.share_used < floor.share:
        short.append(f"{report.share_used:.1%} of the rows, below {floor.share:.0%}")
    if used < floor.rows:
        short.append(f"{used} row{'' if used == 1 else 's'}, fewer than {floor.rows}")
    head = (
        f"{source}: only {used} of {read} opportunity rows are usable ({'; '.join(short)}); "
        f"the floor is {floor} (--min-usable)"
    )
    raise CrmError(
        "\n".join([head, *skip_lines(report)])
        + "\nfix the export or the mapping, or lower the floor with --min-usable SHARE,ROWS "
        "(e.g. --min-usable 20%,50)"
    )


# --------------------------------------------------------------------------- history
def _read_history(path: Path, mp: Mapping, opps: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    cols = mp.history_columns
    required = {"id": cols.id, "created": cols.created, "stage": cols.stage}
    _, rows = _rows(path, required)
    shown = [cols.id, cols.created, cols.stage]
    folded = {k.strip().casefold(): v for k, v in mp.stages.items()}
    kept = []
    for line, row in rows:
        report.history_rows_read += 1
        if "__error__" in row:
            report.skip(
                f"history row not readable: {row['__error__']}", _example(path, line, row, shown)
            )
            continue
        kept.append((line, row))
    entered = _parse_dates([r[cols.created] for _, r in kept], mp.date_format)
    close_of = dict(zip(opps["id"], opps["close"], strict=True))
    fmt = mp.date_format or "ISO 8601"
    records = []
    for k, (line, row) in enumerate(kept):
        ex = _example(path, line, row, shown)
        opp_id = row[cols.id].strip()
        if opp_id not in close_of:
            report.skip(
                f"history: {cols.id} not among the usable opportunities (unknown or skipped)", ex
            )
            continue
        if pd.isna(entered[k]):
            report.skip(f"history: unparseable {cols.created} (expected {fmt})", ex)
            continue
        kind = _stage_kind(row[cols.stage], mp, folded)
        if kind is None:
            report.skip(
                f"history: {cols.stage} not in the mapping (add it under stages: with one of "
                f"{', '.join(STAGE_KINDS)})",
                ex,
            )
            continue
        if kind in TERMINAL_KINDS:
            report.note("history rows of a closing stage (the close is read from the opportunity)")
            continue
        close = close_of[opp_id]
        if not pd.isna(close) and entered[k].normalize() > close:
            report.skip("history: stage entered after the opportunity's close date", ex)
            continue
        records.append((opp_id, kind, entered[k], line))
    df = pd.DataFrame(records, columns=["id", "stage", "entered", "line"])
    df["entered"] = df["entered"].astype("datetime64[ns]")
    df = df.sort_values(["id", "entered", "line"], kind="stable").reset_index(drop=True)
    # collapse consecutive rows of the same stage (amount or date edits are history rows too)
    same = (df["id"] == df["id"].shift()) & (df["stage"] == df["stage"].shift())
    report.history_rows_used = len(df)
    df = df[~same].reset_index(drop=True)
    order = {s: i for i, s in enumerate(STAGES)}
    back = (df["id"] == df["id"].shift()) & (
        df["stage"].map(order) < df["stage"].shift().map(order)
    )
    for _ in range(int(back.sum())):
        report.note("history moves back to an earlier stage (kept in time order)")
    return df[["id", "stage", "entered"]]
