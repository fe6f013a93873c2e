"""How a CRM export's columns and values map onto pipesim's opportunities.

The defaults follow Salesforce's Opportunity and OpportunityHistory exports (standard stage
names, ``IsWon``/``IsClosed``, ``LeadSource`` picklist values). A small YAML file adapts other
CRMs; it is merged over the defaults (mappings key by key) and validated like a scenario: an
unknown key, a stage mapped to something that is not a journey stage or terminal state, or a
source that is not a pipesim source is a :class:`pipesim.calibrate.errors.CrmError` naming the
file, line, key and what is allowed.

Example ``mapping.yaml`` for a CRM with its own stage names and a deal-size segmentation::

    opportunity_columns: {id: DealId, created: Opened, close: Closed, stage: Phase}
    date_format: "%d/%m/%Y"
    stages:
      Lead: awareness
      Discovery: interest
      Shortlisted: preference
      Contract: decision
      Signed: won
      Dropped: lost
      Parked: no_decision
    no_decision_reasons: [No decision, Status quo, Budget frozen]
    sources: {Website: inbound, Event: campaign, SDR: prospecting}
    segment: {amount_bands: {small: 25000, mid: 100000, large: .inf}}
    currency: {to: EUR, rates: {USD: 0.92, GBP: 1.17}}   # EUR per unit of each other currency

An export whose amounts are in more than one currency (``CurrencyIsoCode`` by default) is
converted with ``currency.rates`` or refused; it is never pooled as one currency.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from pipesim.calibrate.errors import CrmError
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.schema import STAGES, Spec
from pipesim.scenario.yaml_io import compose_with_marks

StageKind = Literal["awareness", "interest", "preference", "decision", "won", "lost", "no_decision"]
SourceName = Literal["inbound", "campaign", "prospecting", "referral", "outbound", "other"]
STAGE_KINDS: tuple[str, ...] = (*STAGES, "won", "lost", "no_decision")
SOURCE_NAMES: tuple[str, ...] = (
    "inbound",
    "campaign",
    "prospecting",
    "referral",
    "outbound",
    "other",
)
TERMINAL_KINDS: tuple[str, ...] = ("won", "lost", "no_decision")

SALESFORCE_STAGES: dict[str, StageKind] = {
    "Prospecting": "awareness",
    "Qualification": "interest",
    "Needs Analysis": "interest",
    "Value Proposition": "preference",
    "Id. Decision Makers": "preference",
    "Perception Analysis": "preference",
    "Proposal/Price Quote": "preference",
    "Negotiation/Review": "decision",
    "Closed Won": "won",
    "Closed Lost": "lost",
}
"""Salesforce's standard opportunity stages and where each sits in the buyer's journey."""

SALESFORCE_SOURCES: dict[str, SourceName] = {
    "Web": "inbound",
    "Phone Inquiry": "inbound",
    "Inbound": "inbound",
    "Partner Referral": "referral",
    "Employee Referral": "referral",
    "External Referral": "referral",
    "Referral": "referral",
    "Purchased List": "prospecting",
    "Cold Call": "prospecting",
    "Prospecting": "prospecting",
    "Campaign": "campaign",
    "Advertisement": "campaign",
    "Trade Show": "campaign",
    "Webinar": "campaign",
    "Seminar - Internal": "campaign",
    "Seminar - Partner": "campaign",
    "Outbound": "outbound",
    "Other": "other",
}
"""Salesforce's standard LeadSource values (and common additions) mapped to pipesim sources."""


class OpportunityColumns(Spec):
    """Column names in the opportunity export (null: the export has no such column)."""

    id: str = "Id"
    name: str | None = "Name"
    created: str = "CreatedDate"
    close: str = "CloseDate"
    stage: str = "StageName"
    amount: str | None = "Amount"
    is_won: str | None = "IsWon"
    is_closed: str | None = "IsClosed"
    owner: str | None = "OwnerId"
    source: str | None = "LeadSource"
    type: str | None = "Type"
    loss_reason: str | None = "Loss_Reason__c"
    currency: str | None = "CurrencyIsoCode"


class HistoryColumns(Spec):
    """Column names in the stage-history export."""

    id: str = "OpportunityId"
    created: str = "CreatedDate"
    stage: str = "StageName"


class SegmentRule(Spec):
    """Where an opportunity's segment comes from: a column, or bands of the amount."""

    column: str | None = "Segment__c"
    amount_bands: dict[str, float] | None = None

    @model_validator(mode="after")
    def _bands_ascend(self) -> SegmentRule:
        if self.amount_bands is not None:
            bounds = list(self.amount_bands.values())
            if not bounds:
                raise ValueError("amount_bands needs at least one band: {name: upper bound}")
            if any(b <= a for a, b in itertools.pairwise(bounds)):
                raise ValueError(
                    "amount_bands upper bounds must increase, e.g. {small: 25000, large: .inf}"
                )
        return self


class CurrencyRule(Spec):
    """The currency amounts are converted to and the rates that convert them.

    ``rates`` gives, for each other currency of the export, how many units of ``to`` one unit of
    it is worth (``{to: EUR, rates: {USD: 0.92}}``: 1 USD = 0.92 EUR). Without ``to`` amounts are
    converted to the scenario's ``economics.currency``.
    """

    to: str | None = None
    rates: dict[str, float] = Field(default_factory=dict)

    @field_validator("to")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if not code:
            raise ValueError("a currency code such as EUR or USD")
        return code

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for code, rate in value.items():
            if not (rate > 0 and rate < float("inf")):
                raise ValueError(
                    f"rate of {code}: {rate!r} is not allowed; a rate is a positive number of "
                    "the target currency per unit of this one, e.g. {USD: 0.92}"
                )
            out[code.strip().upper()] = float(rate)
        return out


class Mapping(Spec):
    """How one CRM's export maps onto pipesim (defaults: Salesforce)."""

    opportunity_columns: OpportunityColumns = OpportunityColumns()
    history_columns: HistoryColumns = HistoryColumns()
    date_format: str | None = None
    """strftime format of dates; None reads ISO 8601 (2026-01-31, 2026-01-31T09:30:00.000Z)."""
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ",", ".", " ", "'"] = ""
    stages: dict[str, StageKind] = Field(default_factory=lambda: dict(SALESFORCE_STAGES))
    no_decision_reasons: list[str] = Field(default_factory=lambda: ["No decision", "Status quo"])
    sources: dict[str, SourceName] = Field(default_factory=lambda: dict(SALESFORCE_SOURCES))
    segment: SegmentRule = SegmentRule()
    currency: CurrencyRule = CurrencyRule()

    @model_validator(mode="after")
    def _separators_differ(self) -> Mapping:
        if self.decimal == self.thousands:
            raise ValueError("decimal and thousands separators must differ")
        return self


_ALLOWED_VALUES = {
    "stages": STAGE_KINDS,
    "sources": SOURCE_NAMES,
}


def _message(err: Any) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        block: Any = Mapping
        for part in loc[:-1]:
            info = block.model_fields.get(str(part)) if hasattr(block, "model_fields") else None
            block = info.annotation if info is not None else None
        allowed = list(block.model_fields) if hasattr(block, "model_fields") else []
        return f"unknown key {loc[-1]!r}; allowed here: {', '.join(allowed)}"
    if kind == "literal_error" and loc and loc[0] in _ALLOWED_VALUES:
        choices = ", ".join(_ALLOWED_VALUES[str(loc[0])])
        return f"{got!r} is not allowed; allowed: {choices}"
    if kind == "literal_error":
        return f"{err['msg']} (got {got!r})"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{msg} (got {got!r})" if got is not None and not isinstance(got, dict) else msg


def merge_mapping(given: dict[str, Any]) -> dict[str, Any]:
    """Merge a user mapping over the defaults: stage and source tables extend the defaults."""
    data = dict(given)
    for key, default in (("stages", SALESFORCE_STAGES), ("sources", SALESFORCE_SOURCES)):
        if isinstance(data.get(key), dict):
            data[key] = {**default, **data[key]}
    return data


def load_mapping(path: Path | None) -> Mapping:
    """Read and validate a mapping file; None gives the Salesforce defaults.

    Raises
    ------
    pipesim.calibrate.errors.CrmError
        Unreadable file, malformed YAML, unknown keys or values not allowed; the message names
        the file, line and key and what is allowed.
    """
    if path is None:
        return Mapping()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CrmError(f"{source}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CrmError(f"{source}: cannot read mapping file ({exc})") from None
    try:
        data, marks = compose_with_marks(text, source)
    except ScenarioError as exc:
        raise CrmError(str(exc).replace("scenario", "mapping")) from None
    if not isinstance(data, dict):
        raise CrmError(
            f"{source}:1:1: a mapping file must be a mapping of keys to values; allowed keys: "
            f"{', '.join(Mapping.model_fields)}"
        )
    try:
        return Mapping.model_validate(merge_mapping(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            where = source
            for cut in range(len(loc), -1, -1):
                if loc[:cut] in marks:
                    line, col = marks[loc[:cut]]
                    where = f"{source}:{line}:{col}"
                    break
            key = ".".join(str(p) for p in loc) or "(top level)"
            lines.append(f"{where}: {key}: {_message({**err, 'loc': loc})}")
        raise CrmError("invalid mapping:\n" + "\n".join(lines)) from None
