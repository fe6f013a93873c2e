"""Exports not to be trusted as they are: mixed currencies, unusable rows, duplicate ids.

Also backtest errors that name the file, line and column. Every input is a modified copy of
the shipped fixture (tests/fixtures/crm), written to tmp_path.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipesim.calibrate.crm import CrmError, read_crm
from pipesim.cli.inputs import with_pipeline
from pipesim.cli.main import main
from pipesim.scenario.errors import ScenarioError
from pipesim.scenario.loader import load_scenario

CRM = Path(__file__).resolve().parent / "fixtures" / "crm"
OPP = CRM / "Opportunity.csv"
TRUTH = CRM / "truth.yaml"


def _rows() -> list[list[str]]:
    with OPP.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _with_currency(path: Path, usd_every: int = 2) -> Path:
    """The fixture with a CurrencyIsoCode column: every ``usd_every``-th row in USD."""
    rows = _rows()
    out = [[*rows[0], "CurrencyIsoCode"]]
    out += [[*r, "USD" if k % usd_every == 0 else "EUR"] for k, r in enumerate(rows[1:])]
    return _write(path, out)


def _swapped_dates(path: Path) -> Path:
    rows = _rows()
    c, k = rows[0].index("CreatedDate"), rows[0].index("CloseDate")
    for r in rows[1:]:
        r[c], r[k] = r[k], r[c]
    return _write(path, rows)


def _one_id(path: Path) -> Path:
    rows = _rows()
    for r in rows[1:]:
        r[0] = rows[1][0]
    return _write(path, rows)


def _with_duplicates(path: Path, n: int) -> Path:
    """The fixture with its first ``n`` rows repeated at the end (same ids)."""
    rows = _rows()
    return _write(path, rows + rows[1 : n + 1])


def _cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _calibrate(export: Path, out: Path, *extra: str) -> object:
    return _cli("calibrate", str(export), "--out", str(out), "--no-correct", *extra)


# --------------------------------------------------------------------------- currencies
def test_mixed_currencies_are_refused_naming_each_with_its_rows(tmp_path: Path) -> None:
    export = _with_currency(tmp_path / "o.csv")
    res = _calibrate(export, tmp_path / "s.yaml")
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert "mixes currencies" in text and "EUR 411 rows" in text and "USD 411 rows" in text
    assert "currency: {to: EUR, rates: {USD:" in text
    assert "Traceback" not in res.output
    assert not (tmp_path / "s.yaml").exists()


def test_mixed_currencies_are_converted_with_the_mapping_rates(tmp_path: Path) -> None:
    export = _with_currency(tmp_path / "o.csv")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("currency: {to: EUR, rates: {USD: 0.92}}\n", encoding="utf-8")
    plain = read_crm(OPP).opportunities.set_index("id")["amount"]
    data = read_crm(export, mapping=mapping)
    got = data.opportunities.set_index("id")["amount"]
    usd = pd.read_csv(export).set_index("Id")["CurrencyIsoCode"] == "USD"
    assert data.currency == "EUR"
    pd.testing.assert_series_equal(got[usd], plain[usd] * 0.92, check_names=False)
    pd.testing.assert_series_equal(got[~usd], plain[~usd], check_names=False)
    assert "411 rows from USD at 0.92 EUR per USD" in data.report.to_text()
    # the command says so in its report
    res = _calibrate(export, tmp_path / "s.yaml", "--mapping", str(mapping))
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "s.calibration.json").read_text(encoding="utf-8"))
    assert "converted" in report["data"]["currency"]


def test_a_rate_for_every_other_currency_is_required(tmp_path: Path) -> None:
    rows = _rows()
    out = [[*rows[0], "CurrencyIsoCode"]]
    out += [[*r, ("USD", "EUR", "GBP")[k % 3]] for k, r in enumerate(rows[1:])]
    export = _write(tmp_path / "o.csv", out)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("currency: {to: EUR, rates: {USD: 0.92}}\n", encoding="utf-8")
    with pytest.raises(CrmError, match=r"mixes currencies .*GBP 274 rows"):
        read_crm(export, mapping=mapping)


def test_a_single_currency_other_than_the_scenarios_is_refused(tmp_path: Path) -> None:
    export = _with_currency(tmp_path / "o.csv", usd_every=1)  # every row in USD
    res = _calibrate(export, tmp_path / "s.yaml", "--base", str(TRUTH))  # truth is in EUR
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert "amounts are in USD (822 rows" in text and "economics.currency is EUR" in text
    # without a base the scenario takes the export's one currency, and says so
    res = _calibrate(export, tmp_path / "u.yaml")
    assert res.exit_code == 0, res.output
    assert load_scenario(tmp_path / "u.yaml").economics.currency == "USD"
    assert "Amounts: USD" in res.output


def test_backtest_refuses_mixed_currencies(tmp_path: Path) -> None:
    export = _with_currency(tmp_path / "o.csv")
    res = _cli(
        "backtest", str(TRUTH), "--history", str(export), "--as-of", "2025-03-03",
        "--until", "2025-04-28", "-n", "10", "--quiet", "--out", str(tmp_path / "bt"),
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "EUR 411 rows, USD 411 rows" in _flat(res.output)
    assert not (tmp_path / "bt").exists()


def test_run_pipeline_refuses_mixed_currencies(tmp_path: Path) -> None:
    export = _with_currency(tmp_path / "o.csv")
    sc = load_scenario(TRUTH, ["target.start_date=2025-03-03"])
    with pytest.raises(ScenarioError, match="EUR 411 rows, USD 411 rows"):
        with_pipeline(sc, export)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("currency: {rates: {USD: 0.5}}\n", encoding="utf-8")
    plain = {o.id: o.value for o in with_pipeline(sc, OPP).open_pipeline}
    usd = set(pd.read_csv(export).query("CurrencyIsoCode == 'USD'")["Id"])
    for o in with_pipeline(sc, export, mapping=mapping).open_pipeline:
        assert o.value == pytest.approx(plain[o.id] * (0.5 if o.id in usd else 1.0))


# --------------------------------------------------------------------------- usable floor
def test_swapped_dates_are_refused_with_the_reasons_counted(tmp_path: Path) -> None:
    res = _calibrate(_swapped_dates(tmp_path / "o.csv"), tmp_path / "s.yaml")
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert "only 77 of 822 opportunity rows are usable" in text
    assert "745 x CloseDate before CreatedDate" in text
    assert "o.csv:2:" in text  # an example row with its line
    assert "swapped" in text and "--min-usable" in text
    assert not (tmp_path / "s.yaml").exists()


def test_one_shared_id_is_refused(tmp_path: Path) -> None:
    res = _calibrate(_one_id(tmp_path / "o.csv"), tmp_path / "s.yaml")
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert "only 1 of 822 opportunity rows are usable" in text
    assert "821 x duplicate Id (the first row with it is kept)" in text
    assert not (tmp_path / "s.yaml").exists()


def test_min_usable_lowers_the_floor_and_the_report_says_what_was_used(tmp_path: Path) -> None:
    export = _swapped_dates(tmp_path / "o.csv")
    res = _calibrate(export, tmp_path / "s.yaml", "--min-usable", "5%,50")
    assert res.exit_code == 0, res.output
    lead = "Used 77 of 822 opportunity rows (9.4%), above the floor of 5% and 50 rows."
    assert res.output.startswith(lead), res.output
    assert "Skipped 745: 745 x CloseDate before CreatedDate" in res.output.splitlines()[0]
    md = (tmp_path / "s.calibration.md").read_text(encoding="utf-8")
    data = md.split("## Data\n\n", 1)[1]
    assert data.startswith(lead)
    report = json.loads((tmp_path / "s.calibration.json").read_text(encoding="utf-8"))
    assert next(iter(report)) == "data_used" and report["data_used"].startswith(lead)
    assert report["data"]["share_used"] == pytest.approx(77 / 822, abs=1e-4)
    assert report["data"]["floor"] == {"share": 0.05, "rows": 50}


@pytest.mark.parametrize("value", ["half", "50%,100,3", "150%,10", "50%,-1", ","])
def test_bad_min_usable_is_a_usage_error(tmp_path: Path, value: str) -> None:
    res = _calibrate(OPP, tmp_path / "s.yaml", "--min-usable", value)
    assert res.exit_code == 2, res.output
    assert "Invalid value for '--min-usable'" in res.output
    assert "SHARE,ROWS" in res.output or "the share must be 0%-100%" in res.output


def test_a_clean_export_is_above_the_floor_and_says_so(tmp_path: Path) -> None:
    export = _with_duplicates(tmp_path / "o.csv", 30)
    res = _calibrate(export, tmp_path / "s.yaml")
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first.startswith("Used 822 of 852 opportunity rows (96.5%), above the floor of 50%")
    assert "30 x duplicate Id" in first


# --------------------------------------------------------------------------- backtest
def _backtest(export: Path, out: Path, *extra: str) -> object:
    return _cli(
        "backtest", str(TRUTH), "--history", str(export), "--as-of", "2025-03-03",
        "--until", "2025-04-28", "-n", "10", "--workers", "1", "--quiet", "--out", str(out),
        *extra,
    )  # fmt: skip


def test_backtest_reports_duplicate_ids(tmp_path: Path) -> None:
    res = _backtest(_with_duplicates(tmp_path / "o.csv", 25), tmp_path / "bt")
    assert res.exit_code == 0, res.output
    text = _flat(res.output)
    assert "25 x duplicate Id (the first row with it is kept)" in text
    assert "o.csv:824:" in text  # the first repeated row, with its line
    payload = json.loads((tmp_path / "bt" / "backtest.json").read_text(encoding="utf-8"))
    assert payload["data"]["skipped"] == {"duplicate Id (the first row with it is kept)": 25}
    assert payload["data"]["rows_read"] == 847 and payload["data"]["rows_used"] == 822


def test_backtest_bad_header_names_file_and_line_without_usage(tmp_path: Path) -> None:
    res = _backtest(CRM / "bad_missing_column.csv", tmp_path / "bt")
    assert res.exit_code == 2, res.output
    assert "Usage:" not in res.output and "cannot backtest" in res.output
    assert "bad_missing_column.csv:1: required column 'CreatedDate' (created)" in _flat(res.output)
    rows = _rows()
    rows[0][rows[0].index("Name")] = "Id"  # the id column twice
    res = _backtest(_write(tmp_path / "o.csv", rows), tmp_path / "bt")
    assert res.exit_code == 2 and "Usage:" not in res.output
    assert "o.csv:1:2: column 'Id' (id) appears twice (columns 1 and 2)" in _flat(res.output)


def test_backtest_bad_dates_name_the_file_without_usage(tmp_path: Path) -> None:
    res = _cli(
        "backtest", str(TRUTH), "--history", str(OPP), "--as-of", "2023-06-01",
        "--until", "2023-08-01", "-n", "10", "--quiet",
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "Usage:" not in res.output
    assert f"{OPP}: as-of 2023-06-01 is before the export's first opportunity" in _flat(res.output)
    # dates that do not parse: the rows are counted per reason with their lines
    mapping = tmp_path / "map.yaml"
    mapping.write_text('date_format: "%d/%m/%Y"\n', encoding="utf-8")
    res = _backtest(OPP, tmp_path / "bt", "--mapping", str(mapping))
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert "Usage:" not in text and "cannot backtest" in text
    assert "822 x unparseable CreatedDate (expected %d/%m/%Y)" in text
    assert "Opportunity.csv:2:" in text and "date_format" in text
