"""Tests of the table formatting layer (korus_research.formatting)."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korus_research import formatting as F
from korus_research.errors import ParameterError
from korus_research.results import ESTIMATE_COLUMNS

NEGATIVE_ZERO = re.compile(r"^-0(\.0*)?$")


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, unit, shown", [
    (-0.04, "US$ bn", "0.0"),
    (-0.0, "US$ bn", "0.0"),
    (-0.0004, "log points", "0.000"),
    (-0.004, "share", "0.00"),
    (-0.4, "count", "0"),
    (-0.049, "percent", "0.0"),
])
def test_negative_zero_is_never_shown(value, unit, shown):
    assert F.format_number(value, unit) == shown


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1.0, max_value=1.0, allow_nan=False), st.sampled_from(sorted(F.UNIT_RULES)))
def test_no_value_formats_as_negative_zero(value, unit):
    assert not NEGATIVE_ZERO.match(F.format_number(value, unit))


@pytest.mark.parametrize("value, unit, shown", [
    (-2.55, "US$ bn", "-2.6"),     # f"{-2.55:.1f}" is '-2.5': the float is -2.54999...
    (-3.05, "US$ bn", "-3.1"),     # f"{-3.05:.1f}" is '-3.0'
    (2.675, "share", "2.68"),      # f"{2.675:.2f}" is '2.67'
    (0.0005, "log points", "0.001"),
    (-1234.55, "US$ bn", "-1,234.6"),
    (1234.5, "US$ million", "1,235"),
    (12.25, "percent", "12.3"),
])
def test_rounding_is_half_away_from_zero_on_the_printed_digits(value, unit, shown):
    assert F.format_number(value, unit) == shown


def test_rounding_cases_differ_from_plain_float_formatting():
    # the rule matters: Python's own formatting rounds these the other way
    assert f"{-2.55:.1f}" == "-2.5" and f"{-3.05:.1f}" == "-3.0"


def test_years_have_no_separators_and_counts_do():
    frame = pd.DataFrame({"year": [1985, 2012], "nobs": [316317, 620], "cohort": [2004.0, np.nan]})
    text = F.format_frame(frame, header=False)
    assert text["year"].tolist() == ["1985", "2012"]
    assert text["cohort"].tolist() == ["2004", F.NA_REP]
    assert text["nobs"].tolist() == ["316,317", "620"]
    assert F.format_number(2012, "year") == "2012"
    assert F.format_number(2012.0, "count") == "2,012"


@pytest.mark.parametrize("p, shown", [(0.004, "<0.01"), (0.0, "<0.01"), (4.7e-07, "<0.01"), (0.0099, "<0.01"),
                                      (0.01, "0.01"), (0.123, "0.12"), (0.125, "0.13"), (1.0, "1.00")])
def test_p_values(p, shown):
    assert F.format_number(p, "p-value") == shown


def test_p_values_with_more_decimals_and_by_column_name():
    assert F.format_number(0.0004, "p-value", decimals=3) == "<0.001"
    frame = pd.DataFrame({"model": ["a", "b"], "p_value": [4.7e-07, 0.6027], "ADF p": [0.05, 0.0499],
                          "pretrend_p": [0.999, 0.5]})
    text = F.format_frame(frame, header=False)
    assert text["p_value"].tolist() == ["<0.01", "0.60"]
    assert text["ADF p"].tolist() == ["0.05", "0.05"]
    assert text["pretrend_p"].tolist() == ["1.00", "0.50"]


def test_missing_values():
    frame = pd.DataFrame({"usd_bn": [1.0, np.nan, None], "note": ["x", None, "nan"], "flag": [True, False, None]})
    text = F.format_frame(frame, header=False)
    assert text["usd_bn"].tolist() == ["1.0", "–", "–"]
    assert text["note"].tolist() == ["x", "–", "–"]
    assert text["flag"].tolist() == ["yes", "no", "–"]
    assert F.format_frame(frame, header=False, na_rep="")["usd_bn"].tolist() == ["1.0", "", ""]
    assert "nan" not in F.to_text(frame).lower()


def test_text_cells_are_not_reinterpreted():
    frame = pd.DataFrame({"notebook": ["05", "06"], "period": ["2015", "2011->2016"], "value": [1.5, 2.25]})
    text = F.format_frame(frame, header=False)
    assert text["notebook"].tolist() == ["05", "06"]
    assert text["period"].tolist() == ["2015", "2011->2016"]


def test_text_numbers_with_a_unit_in_their_name_are_formatted():
    frame = pd.DataFrame({"specification": ["a", "b"], "observations": ["316317", "24910"],
                          "pseudo_r2": ["0.9889829076607685", "nan"]})
    text = F.format_frame(frame, header=False)
    assert text["observations"].tolist() == ["316,317", "24,910"]
    assert text["pseudo_r2"].tolist() == ["0.99", "–"]


def test_units_given_explicitly_and_per_row():
    frame = pd.DataFrame({"item": ["imports", "share", "year"], "value": [25.107207, 0.359255, 2016]})
    text = F.format_frame(frame, units={"value": ["US$ bn", "share", "year"]}, header=False)
    assert text["value"].tolist() == ["25.1", "0.36", "2016"]
    text = F.format_frame(frame.iloc[:1], units="US$ million", header=False)
    assert text["value"].tolist() == ["25"]


def test_the_estimate_table_takes_each_rows_unit():
    rows = [("effect", "US$ bn", -6.756691, -47.596404, 34.083022),
            ("coefficient", "log points", 0.11412, 0.0192, 0.2081),
            ("lead test", "p-value", 3.2e-9, np.nan, np.nan),
            ("share", "share", 0.5543, np.nan, np.nan)]
    frame = pd.DataFrame([{"study_id": "KOR-581173f2", "notebook": "04", "quantity": q, "estimator": "x",
                           "period": "2016", "unit": u, "value": v, "interval": "95% CI" if lo == lo else "none",
                           "low": lo, "high": hi, "diagnostics": "passed", "diagnostics_detail": ""}
                          for q, u, v, lo, hi in rows], columns=ESTIMATE_COLUMNS)
    text = F.format_frame(frame, header=False)
    assert text["value"].tolist() == ["-6.8", "0.114", "<0.01", "0.55"]
    assert text["low"].tolist() == ["-47.6", "0.019", "–", "–"]
    assert text["period"].tolist() == ["2016"] * 4
    assert text["unit"].tolist() == ["US$ bn", "log points", "p-value", "share"]


def test_bounds_share_the_unit_of_their_estimate():
    frame = pd.DataFrame({"component": ["a", "b"], "usd_bn": [1.08, -3.23], "low": [-7.58292, -4.518],
                          "high": [9.74797, -1.946]})
    text = F.format_frame(frame, header=False)
    assert text["low"].tolist() == ["-7.6", "-4.5"]


def test_unknown_units_and_decimals_are_refused():
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(ParameterError, match="units"):
        F.format_frame(frame, units={"x": "furlongs"})
    with pytest.raises(ParameterError, match="units"):
        F.format_frame(frame, units={"y": "share"})
    with pytest.raises(ParameterError, match="decimals"):
        F.format_frame(frame, decimals=-1)
    with pytest.raises(ParameterError, match="frame"):
        F.format_frame([1, 2, 3])


def test_a_series_or_dict_is_shown_as_item_and_value():
    text = F.format_frame({"a": 1.5, "b": 2.25}, units={"value": "share"})
    assert text.columns.tolist() == ["Item", "Value"]
    assert text["Value"].tolist() == ["1.50", "2.25"]


# --------------------------------------------------------------------------- totals
def test_displayed_parts_add_up_to_the_displayed_total():
    parts, total = F.consistent_total([-2.55, -3.05], -5.60)
    assert total == -5.6
    assert Decimal(str(parts[0])) + Decimal(str(parts[1])) == Decimal("-5.6")
    assert parts == [-2.6, -3.0]
    # rounded one by one, the same numbers do not add up
    one_by_one = [F.format_number(v, "US$ bn") for v in (-2.55, -3.05, -5.60)]
    assert one_by_one == ["-2.6", "-3.1", "-5.6"]


def test_the_residual_row_absorbs_the_rounding():
    parts, total = F.consistent_total([1.04, 1.04, 1.04, -0.02], absorb=3)
    assert parts == [1.0, 1.0, 1.0, 0.1] and total == 3.1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=3), st.booleans())
def test_consistent_total_always_adds_up(values, decimals, residual):
    absorb = len(values) - 1 if residual else None
    parts, total = F.consistent_total(values, decimals=decimals, absorb=absorb)
    shown = [Decimal(F.format_number(p, decimals=decimals).replace(",", "")) for p in parts]
    assert sum(shown, Decimal(0)) == Decimal(F.format_number(total, decimals=decimals).replace(",", ""))
    if absorb is None:
        unit = 10.0 ** -decimals
        assert all(abs(p - v) < unit + 1e-9 for p, v in zip(parts, values, strict=True))


def test_parts_that_do_not_add_up_are_refused():
    with pytest.raises(ParameterError, match="ROUNDING_NOTE"):
        F.consistent_total([1.0, 2.0], 3.5)
    with pytest.raises(ParameterError, match="parts"):
        F.consistent_total([1.0, np.nan], 1.0)


def test_format_frame_keeps_a_table_adding_up():
    frame = pd.DataFrame({"component": ["demand", "prices", "memo: GE counterpart", "residual", "total"],
                          "usd_bn": [-2.55, -3.05, -2.27, 0.04, -5.56]})
    text = F.format_frame(frame, totals={"usd_bn": 4}, parts=[0, 1, 3], absorb=3, header=False)
    assert text["usd_bn"].tolist() == ["-2.6", "-3.1", "-2.3", "0.1", "-5.6"]
    plain = F.format_frame(frame, header=False)["usd_bn"].tolist()
    assert plain[3] == "0.0"  # on its own the residual would break the sum


# --------------------------------------------------------------------------- headers
def test_header_labels():
    frame = pd.DataFrame({"estimate": [1.0], "ci_low": [0.5], "ci_high": [1.5], "exports_usd_bn": [2.0],
                          "pct_effect": [3.0], "balance_effect_se": [0.1], "odd_column_name": [1.0]})
    assert F.format_frame(frame).columns.tolist() == [
        "Estimate", "95% CI low", "95% CI high", "Exports, US$ bn", "Effect, %", "Effect on the balance, SE",
        "Odd column name"]
    # the bounds of a US$ bn estimate say so
    attribution = pd.DataFrame({"usd_bn": [1.0], "low": [0.5], "high": [1.5], "interval": ["95% CI"]})
    assert F.format_frame(attribution).columns.tolist() == [
        "US$ bn", "95% CI low, US$ bn", "95% CI high, US$ bn", "Interval"]
    assert F.label("diagnostics_detail") == "Diagnostics, detail" and F.label("study_id") == "Study"


def test_interval_headers_follow_the_interval_kind():
    mixed = pd.DataFrame({"estimate": [1.0, 2.0], "interval": ["95% CI", "range across estimators"],
                          "ci_low": [0.0, 1.0]})
    assert F.format_frame(mixed).columns.tolist()[-1] == "Low"
    level = pd.DataFrame({"estimate": [1.0], "level": [0.9], "ci_low": [0.0]})
    assert F.format_frame(level).columns.tolist()[-1] == "90% CI low"


def test_units_go_into_headers_and_labels_override():
    frame = pd.DataFrame({"estimate": [1.0], "p_value": [0.5]})
    assert F.format_frame(frame, units={"estimate": "US$ bn"}).columns.tolist() == ["Estimate, US$ bn", "p-value"]
    assert F.format_frame(frame, labels={"estimate": "Effect"}).columns.tolist() == ["Effect", "p-value"]


# --------------------------------------------------------------------------- rendering
def _frame():
    return pd.DataFrame({"component": ["a & b", "residual", "total"], "usd_bn": [-1312.55, 3.05, np.nan],
                         "p_value": [0.004, 0.5, 1.0]})


def test_html_has_scroll_container_nowrap_numbers_and_source():
    page = F.to_html(_frame(), caption="Attribution <2016>", source="Census",
                     downloads={"CSV": "tables/a.csv", "XLSX": "tables/a.xlsx"})
    assert page.startswith('<div class="table-block"><div class="table-scroll">')
    assert 'class="korus-table"' in page
    assert "white-space: nowrap" in page
    numbers = re.findall(r'<td class="([^"]*)" >([^<]*(?:&lt;[^<]*)?)</td>', page)
    by_text = {text: cls for cls, text in numbers}
    assert "num" in by_text["-1,312.6"].split() and "num" in by_text["&lt;0.01"].split()
    assert "num" not in by_text["a &amp; b"].split()
    assert "<caption>Attribution &lt;2016&gt;</caption>" in page
    assert '<p class="table-source">Source: Census</p>' in page
    assert '<a href="tables/a.csv" download>CSV</a>' in page
    assert "row_heading" not in page            # a RangeIndex is hidden
    assert "usd_bn" not in page and "US$ bn" in page


def test_a_meaningful_index_is_shown():
    frame = pd.DataFrame({"value": [1.0]}, index=pd.Index(["partner"], name="parameter"))
    assert "row_heading" in F.to_html(frame)
    assert "partner" in F.to_text(frame)


def test_styled_for_notebooks_is_deterministic_and_prints_as_text():
    first, second = F.styled(_frame(), caption="c", source="s"), F.styled(_frame(), caption="c", source="s")
    assert first._repr_html_() == second._repr_html_()
    assert "overflow-x: auto" in first._repr_html_() and "Source: s" in first._repr_html_()
    text = repr(first)
    assert "0x" not in text and "-1,312.6" in text and text.splitlines()[0] == "c"
    assert text.splitlines()[-1] == "Source: s"
    assert "<0.01" in F.to_text(_frame())


def test_css_covers_scrolling_nowrap_and_print():
    assert ".table-scroll{overflow-x:auto" in F.CSS
    assert "td.num{" in F.CSS and "white-space:nowrap" in F.CSS
    assert "@media print" in F.CSS and ".table-scroll{overflow:visible}" in F.CSS


# --------------------------------------------------------------------------- downloads
def test_csv_and_xlsx_round_trip(tmp_path):
    frame = pd.DataFrame({"year": [2011, 2016], "usd_bn": [-13.195384712345678, -27.6245913],
                          "p_value": [0.0041, np.nan], "component": ["a", "b, c"]})
    paths = F.write_downloads(frame, tmp_path / "tables", "balance", caption="Balance", source="Census")
    assert paths == {"csv": tmp_path / "tables" / "balance.csv", "xlsx": tmp_path / "tables" / "balance.xlsx"}
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), frame)
    # Excel keeps about 16 significant digits; the CSV keeps every one
    pd.testing.assert_frame_equal(pd.read_excel(paths["xlsx"], sheet_name="data"), frame, rtol=1e-15)
    book = openpyxl.load_workbook(paths["xlsx"])
    sheet = book["data"]
    assert [c.value for c in sheet[1]] == ["year", "usd_bn", "p_value", "component"]
    assert sheet["A1"].font.bold
    assert sheet["B2"].value == pytest.approx(-13.195384712345678, rel=1e-15)
    assert sheet["B2"].number_format == "#,##0.0"
    assert sheet["A2"].number_format == "0" and sheet["C2"].number_format == "0.00"
    assert sheet["C3"].value is None
    assert sheet.column_dimensions["D"].width >= len("component")
    labels = {row[0]: row[1] for row in book["columns"].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert labels["usd_bn"] == "US$ bn" and labels["caption"] == "Balance"
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["balance.csv", "balance.xlsx"]


def test_downloads_replace_old_files_and_keep_a_named_index(tmp_path):
    F.write_downloads(pd.DataFrame({"x": [1.0]}), tmp_path, "t")
    frame = pd.DataFrame({"value": [0.5]}, index=pd.Index(["KOR"], name="partner"))
    paths = F.write_downloads(frame, tmp_path, "t")
    assert pd.read_csv(paths["csv"]).columns.tolist() == ["partner", "value"]
    assert pd.read_excel(paths["xlsx"]).iloc[0].tolist() == ["KOR", 0.5]


@pytest.mark.parametrize("stem", ["", "a/b", "../x", "a\\b", ".hidden", "..", "-x", None, 5, "a b"])
def test_bad_stems_are_refused(tmp_path, stem):
    with pytest.raises(ParameterError) as err:
        F.write_downloads(pd.DataFrame({"x": [1]}), tmp_path, stem)
    assert err.value.parameter == "stem" and "letters, digits" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_only_a_dataframe_can_be_downloaded(tmp_path):
    for bad in ([1, 2], pd.Series([1.0]), {"a": 1}, None):
        with pytest.raises(ParameterError, match="frame"):
            F.write_downloads(bad, tmp_path, "t")
    with pytest.raises(ParameterError, match="folder"):
        F.write_downloads(pd.DataFrame({"x": [1]}), None, "t")
