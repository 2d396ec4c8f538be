from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from korus_research import balance, io


@pytest.fixture(scope="module")
def annual():
    return io.read_table("census_annual")


def _raw_balance(mirror, code: int, years: set[int]) -> dict[int, float]:
    """Independent computation straight from the workbook cells with openpyxl (no pandas)."""
    ws = openpyxl.load_workbook(mirror / "census/country.xlsx", read_only=True)["country"]
    rows = ws.iter_rows(values_only=True)
    header = list(next(rows))
    y, c, e, i = (header.index(k) for k in ("year", "CTY_CODE", "EYR", "IYR"))
    return {r[y]: (r[e] - r[i]) / 1000 for r in rows if r[c] == code and r[y] in years}


def test_partner_annual_matches_the_workbook(annual, mirror):
    series = balance.partner_annual(annual, "KOR")
    raw = _raw_balance(mirror, 5800, {1990, 2011, 2016, 2024})
    for year, value in raw.items():
        assert series.loc[year, "balance_usd_bn"] == pytest.approx(value, abs=1e-9)
    assert round(series.loc[2011, "balance_usd_bn"], 1) == -13.2
    assert round(series.loc[2016, "balance_usd_bn"], 1) == -27.6
    assert 2026 not in series.index  # incomplete year left out


def test_codes_of_one_country_are_summed(annual):
    isr = balance.partner_annual(annual, "ISR")
    rows = annual[(annual["iso3"] == "ISR") & (annual["year"] == 1995) & (annual["vintage"] == "2026-01")]
    assert rows["cty_code"].nunique() == 2
    assert isr.loc[1995, "imports_usd_bn"] == pytest.approx(rows["imports_usd_mn"].sum() / 1000)


def test_unknown_partner_suggests_codes(annual):
    with pytest.raises(ValueError, match=r"partner 'KOS' is not an ISO3 code.*close matches: \["):
        balance.partner_annual(annual, "KOS")


def test_balance_change_and_missing_year(annual):
    series = balance.partner_annual(annual, "KOR")
    change = balance.balance_change(series, 2011, 2016)
    assert change.loc["balance_usd_bn", "change"] == pytest.approx(
        series.loc[2016, "balance_usd_bn"] - series.loc[2011, "balance_usd_bn"])
    with pytest.raises(ValueError, match=r"year\(s\) \[1900\] not in the series"):
        balance.balance_change(series, 1900, 2016)


def test_auto_imports_by_hand():
    # SYNTHETIC end-use rows: cars 10, parts 2+3, other 5 -> autos 15 of 20
    rows = [("30000", 10e9), ("30200", 2e9), ("30230", 3e9), ("00000", 5e9)]
    enduse = pd.DataFrame({"iso3": "KOR", "year": 2016, "end_use": [r[0] for r in rows],
                           "imports_usd": [r[1] for r in rows]})
    autos = balance.auto_imports(enduse, "KOR", 2016)
    assert autos.loc["automotive total", "imports_usd_bn"] == pytest.approx(15)
    summary = balance.auto_share_summary(autos, balance_usd_bn=-30)
    assert summary.loc["share of all imports from the partner", "value"] == pytest.approx(0.75)
    assert summary.loc["automotive imports / goods deficit", "value"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no end-use imports for KOR in 2010"):
        balance.auto_imports(enduse, "KOR", 2010)


def test_real_auto_share_2016():
    enduse = io.read_table("enduse_imports")
    autos = balance.auto_imports(enduse, "KOR", 2016)
    assert autos.loc["automotive total", "imports_usd_bn"] == pytest.approx(25.107, abs=1e-3)


def test_benchmark_comparison(annual):
    bm = io.read_table("benchmarks")
    series = balance.partner_annual(annual, "KOR")
    ours = balance.our_benchmark_values(bm, "KOR", series)
    assert set(ours) >= {"ustr_goods_balance_2011", "ustr_goods_balance_2016", "piie_goods_2016_exports"}
    table = balance.compare_with_benchmarks(ours, bm)
    assert table.loc["ustr_goods_balance_2011", "difference"] == pytest.approx(
        ours["ustr_goods_balance_2011"] + 13.2)
    assert balance.our_benchmark_values(bm, "JPN", balance.partner_annual(annual, "JPN")) == {}
    with pytest.raises(KeyError, match="not in benchmarks.csv"):
        balance.compare_with_benchmarks({"nope": 1.0}, bm)


def test_benchmark_partner_parsing():
    assert balance.benchmark_partner("US goods exports to Korea") == "KOR"
    assert balance.benchmark_partner("US services imports from Korea") == "KOR"
    assert balance.benchmark_partner("Income elasticity of US bilateral import demand") is None


def test_top_deficits_only_countries(annual):
    top = balance.top_deficits(annual, 2016, 5)
    assert top.index[0] == "CHN" and len(top) == 5
    assert top["balance_usd_bn"].is_monotonic_increasing


def test_monthly_and_revisions(annual):
    monthly = balance.partner_monthly(io.read_table("census_monthly"), "KOR")
    assert monthly.loc[monthly["year"] == 2016, "balance_usd_bn"].sum() == pytest.approx(
        balance.partner_annual(annual, "KOR").loc[2016, "balance_usd_bn"], abs=1e-3)
    rev = balance.vintage_revisions(annual, "KOR")
    assert "revision" in rev and rev.index.max() == 2023


# --------------------------------------------------------------------------- the autos claim, three ways
def _autos_tables(enduse_year=2016):
    """SYNTHETIC tables of one partner (KOR): Census 2011 and 2016, end-use autos, Comtrade HS 87 and the rest."""
    annual = pd.DataFrame({"iso3": "KOR", "vintage": "2026-01", "months_reported": 12, "year": [2011, 2016],
                           "exports_usd_mn": [40_000.0, 40_000.0], "imports_usd_mn": [50_000.0, 70_000.0]})
    enduse = pd.DataFrame({"iso3": "KOR", "year": enduse_year, "end_use": ["30000", "30200", "00000"],
                           "imports_usd": [15e9, 5e9, 50e9]})
    rows = []
    for year, (x87, m87, x_other, m_other) in {2011: (1e9, 10e9, 39e9, 41e9), 2016: (2e9, 23e9, 38e9, 49e9)}.items():
        rows += [(year, "export", "87", x87), (year, "import", "87", m87),
                 (year, "export", "01", x_other), (year, "import", "01", m_other), (year, "re_export", "87", 0.5e9)]
    comtrade = pd.DataFrame(rows, columns=["year", "flow", "hs2", "value_usd"]).assign(partner_key="KOR")
    return enduse, comtrade, annual


def test_autos_reconciliation_by_hand():
    enduse, comtrade, annual = _autos_tables()
    table = balance.autos_reconciliation(enduse, comtrade, annual, "KOR", 2011, 2016)
    assert list(table.index) == [balance.AUTOS_GROSS, balance.AUTOS_NET, balance.AUTOS_CHANGE]
    # (a) gross: end-use autos 20 over the Census deficit 30
    assert table.loc[balance.AUTOS_GROSS, "share"] == pytest.approx(20 / 30)
    # (b) net: HS 87 deficit 23 - 2 = 21 over the Comtrade deficit (23 + 49) - (2 + 38) = 32 (re-exports not added)
    assert table.loc[balance.AUTOS_NET, ["numerator_usd_bn", "denominator_usd_bn"]].tolist() == pytest.approx([21, 32])
    assert table.loc[balance.AUTOS_NET, "share"] == pytest.approx(21 / 32)
    # (c) the HS 87 change (2 - 23) - (1 - 10) = -12 over the total change -32 - (-11) = -21
    assert table.loc[balance.AUTOS_CHANGE, ["numerator_usd_bn", "denominator_usd_bn", "share"]].tolist() == pytest.approx(
        [-12, -21, 12 / 21])
    assert table.loc[balance.AUTOS_CHANGE, "period"] == "2011->2016"
    assert table.attrs["missing"] == {} and table.attrs["components"]["hs87_exports_usd_bn"] == pytest.approx(2)
    assert set(table["kind"]) == {"gross", "net", "change"} and table["source"].str.len().gt(0).all()
    rows = balance.autos_claim_rows(table)
    assert [(r["quantity"], r["unit"], r["period"]) for r in rows] == [
        (balance.AUTOS_NET_QUANTITY, "share", "2016"), (balance.AUTOS_CHANGE_QUANTITY, "share", "2011->2016")]


def test_autos_reconciliation_says_why_a_measure_is_missing():
    enduse, comtrade, annual = _autos_tables(enduse_year=2018)
    table = balance.autos_reconciliation(enduse, comtrade, annual, "KOR", 2011, 2016)
    assert balance.AUTOS_GROSS not in table.index
    assert "not the compare year 2016" in table.attrs["missing"][balance.AUTOS_GROSS]
    table = balance.autos_reconciliation(enduse, comtrade[comtrade["year"] == 2016], annual, "KOR", 2011, 2016)
    assert balance.AUTOS_CHANGE in table.attrs["missing"] and balance.AUTOS_NET in table.index
    assert balance.autos_claim_rows(table.iloc[0:0]) == []
    table = balance.autos_reconciliation(enduse, comtrade.assign(partner_key="JPN"), annual, "KOR", 2011, 2016)
    assert list(table.index) == [] and "not in the Comtrade table" in table.attrs["missing"][balance.AUTOS_CHANGE]


def test_the_closer_measure_decides_the_published_claim():
    enduse, comtrade, annual = _autos_tables()
    table = balance.autos_reconciliation(enduse, comtrade, annual, "KOR", 2011, 2016)
    assert balance.closest_to_published(table, 0.68)["kind"] == "gross"   # 0.667 against 0.656
    assert balance.closest_to_published(table, 0.64)["kind"] == "net"
    assert balance.closest_to_published(table.iloc[0:0], 0.9) is None


def test_published_auto_share_and_the_real_autos_claim():
    bm = io.read_table("benchmarks")
    published = balance.published_auto_share(bm, "KOR")
    assert published["share"].tolist() == [pytest.approx(0.9)] and published["kind"].eq("published").all()
    assert balance.published_auto_share(bm, "COL").empty
    table = balance.autos_reconciliation(io.read_table("enduse_imports"), io.read_table("comtrade_hs2"),
                                         io.read_table("census_annual"), "KOR", 2011, 2016)
    assert table["share"].round(3).tolist() == [0.909, 0.652, 0.553]
    assert balance.closest_to_published(table, 0.9)["kind"] == "gross"
