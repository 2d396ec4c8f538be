"""Every parser on the real mirror files, and on bad inputs (small synthetic edits)."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from korus_research import parsers
from korus_research.errors import DataError


@pytest.fixture(scope="module")
def census(mirror):
    return parsers.parse_census_country(mirror / "census/country.xlsx", file="census/country.xlsx")


def test_census_korea_balance_matches_published(census):
    monthly, annual = census
    kor = annual[annual["iso3"] == "KOR"].set_index("year")
    assert round(kor.loc[2011, "balance_usd_mn"] / 1000, 1) == -13.2
    assert round(kor.loc[2016, "balance_usd_mn"] / 1000, 1) == -27.6


def test_census_unreleased_months_are_dropped(census):
    monthly, annual = census
    assert set(monthly["vintage"]) == {"2026-01"}
    assert monthly.loc[monthly["year"] == 2026, "month"].max() == 1
    assert annual.loc[annual["year"] == 2026, "months_reported"].eq(1).all()
    assert annual.loc[annual["year"] == 2025, "months_reported"].eq(12).all()


def test_census_aggregates_flagged_not_dropped(census):
    _, annual = census
    kinds = annual.drop_duplicates("cty_code").set_index("cty_code")["partner_kind"]
    assert kinds[15] == "aggregate"  # World, NSA
    assert kinds[3] == "aggregate"  # European Union
    assert kinds[5800] == "country"
    assert kinds[8220] == "other"
    assert kinds[4610] == "former country"


def test_census_twelve_months_sum_to_the_year(census):
    monthly, annual = census
    sums = monthly.groupby(["cty_code", "year"])[["exports_usd_mn", "imports_usd_mn"]].sum()
    full = annual[annual["months_reported"] == 12].set_index(["cty_code", "year"])
    joined = full.join(sums, rsuffix="_months")
    assert (joined["exports_usd_mn"] - joined["exports_usd_mn_months"]).abs().max() < 0.5
    assert (joined["imports_usd_mn"] - joined["imports_usd_mn_months"]).abs().max() < 0.5


def test_census_old_vintage(mirror):
    monthly, annual = parsers.parse_census_country(mirror / "census/country_vintage-2024-06.xlsx")
    assert set(annual["vintage"]) == {"2024-06"}
    assert annual.loc[annual["year"] == 2024, "months_reported"].eq(6).all()


def _edited_census(mirror, tmp_path, edit) -> str:
    """Write a SYNTHETIC edit of the Census workbook (first rows only) and return its path."""
    frame = pd.read_excel(mirror / "census/country.xlsx", nrows=60)
    frame = edit(frame)
    path = tmp_path / "country_edited.xlsx"
    frame.to_excel(path, sheet_name="country", index=False)
    return str(path)


def test_census_missing_column(mirror, tmp_path):
    path = _edited_census(mirror, tmp_path, lambda f: f.drop(columns=["IYR"]))
    with pytest.raises(DataError, match=r"country_edited.xlsx: field 'IYR': missing column"):
        parsers.parse_census_country(path)


def test_census_duplicated_partner_year(mirror, tmp_path):
    path = _edited_census(mirror, tmp_path, lambda f: pd.concat([f, f.iloc[[5]]]))
    with pytest.raises(DataError, match=r"field 'year\+CTY_CODE': duplicated key; rows: .*2002/3"):
        parsers.parse_census_country(path)


def test_census_unknown_partner_code(mirror, tmp_path):
    def edit(f):
        f.loc[f.index[:2], ["CTY_CODE", "CTYNAME"]] = [9999, "Atlantis"]
        f.loc[f.index[1], "year"] = 1998
        return f
    path = _edited_census(mirror, tmp_path, edit)
    with pytest.raises(DataError, match=r"field 'CTY_CODE': unknown partner code.*CTY_CODE=9999 \(Atlantis\)"):
        parsers.parse_census_country(path)


def test_census_negative_value(mirror, tmp_path):
    def edit(f):
        f.loc[f.index[3], "EMAR"] = -5.0
        return f
    path = _edited_census(mirror, tmp_path, edit)
    with pytest.raises(DataError, match=r"field 'EMAR': missing or negative trade value; rows: 5"):
        parsers.parse_census_country(path)


def test_enduse_imports(mirror):
    table = parsers.parse_enduse_imports(mirror / "census/enduse_imports.xlsx")
    assert table["end_use"].str.len().eq(5).all()
    kor = table[(table["iso3"] == "KOR") & (table["year"] == 2016)].set_index("end_use")
    assert kor.loc["30000", "imports_usd"] == 16070135286
    # the end-use total equals the Census total for the year within rounding ($ million)
    assert kor["imports_usd"].sum() / 1e6 == pytest.approx(69886.778, abs=1)


def test_enduse_missing_value_column(tmp_path):
    # SYNTHETIC workbook with no value_YY column
    frame = pd.DataFrame({"CTY_CODE": [5800], "CTY_DESC": ["Korea, South"], "END_USE": [30000],
                          "COMM_DESC": ["Passenger cars"]})
    path = tmp_path / "enduse.xlsx"
    frame.to_excel(path, sheet_name="EnduseImp", index=False)
    with pytest.raises(DataError, match=r"field 'value_YY': no yearly value columns"):
        parsers.parse_enduse_imports(path)


@pytest.fixture(scope="module")
def comtrade(mirror):
    new = parsers.parse_comtrade_2010_2019(mirror / "comtrade/US_Trade_HS2_2010-2019.RData")
    old, matches = parsers.parse_comtrade_2007_2013(
        mirror / "comtrade/US_Trade_HS2_2007-2013_vintage2015.RData", new)
    return new, old, matches


def test_comtrade_new_vintage(comtrade):
    new, _, _ = comtrade
    assert new["year"].between(2010, 2019).all()
    assert new["hs2"].str.fullmatch(r"\d\d").all()
    kor = new[(new["partner_key"] == "KOR") & (new["year"] == 2011)]
    # Comtrade exports equal the Census total (43.46 bn); imports are CIF, above Census 56.66 bn
    assert kor.loc[kor["flow"] == "export", "value_usd"].sum() / 1e9 == pytest.approx(43.46, abs=0.01)
    assert kor.loc[kor["flow"] == "import", "value_usd"].sum() / 1e9 == pytest.approx(58.61, abs=0.01)
    taiwan = new[new["partner_name"] == "Other Asia, nes"]
    assert taiwan["partner_iso3"].isna().all() and taiwan["partner_key"].str.startswith("C").all()


def test_comtrade_old_vintage_descriptions_matched(comtrade):
    _, old, matches = comtrade
    assert (matches["method"] != "unmatched").all()
    assert len(old) == 230892  # nothing dropped
    assert matches.set_index("description").loc["Live animals", "hs2"] == "01"
    assert old["value_usd"].max() > 1e9  # converted from US$ million


def test_chapter_matching_reports_unmatched():
    # SYNTHETIC reference and descriptions
    ref = pd.DataFrame({"hs2": ["01", "87"], "description": ["Animals; live", "Vehicles; other than railway"]})
    out = match = parsers.match_chapter_descriptions(pd.Series(["Live animals", "Unicorn horns"]), ref)
    assert match.set_index("description").loc["Live animals", "method"] == "tokens"
    row = out.set_index("description").loc["Unicorn horns"]
    assert row["method"] == "unmatched" and row["hs2"] is None


def test_fred_both_header_styles(mirror):
    old = parsers.parse_fred(mirror / "fred/EXKOUS_1981-04_2020-03.csv")
    new = parsers.parse_fred(mirror / "fred/EXKOUS_2015-01_2024-12.csv")
    assert old["series_id"].eq("EXKOUS").all() and new["series_id"].eq("EXKOUS").all()
    assert new["date"].max() == pd.Timestamp("2024-12-01")
    gdp = parsers.parse_fred(mirror / "fred/GDP.csv")
    assert gdp["value"].gt(0).all()


def test_fred_bad_header(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("when,EXKOUS\n2020-01-01,1100\n")  # SYNTHETIC
    with pytest.raises(DataError, match="field 'DATE'"):
        parsers.parse_fred(path)


def test_bis(mirror):
    table = parsers.parse_bis_eer(mirror / "bis/broad.xlsx")
    kr = table[(table["series_code"] == "RBKR")]
    assert kr["economy"].iloc[0].startswith("Korea")
    assert kr["date"].min() == pd.Timestamp("1994-01-01")
    assert table["series_code"].nunique() == 120


def test_worldbank_with_and_without_preamble(mirror):
    kor = parsers.parse_worldbank(mirror / "worldbank/API_KOR_DS2_en_csv_v2_15934.csv")
    usa = parsers.parse_worldbank(mirror / "worldbank/API_USA_DS2_en_csv_v2_3173.csv")
    assert set(kor["iso3"]) == {"KOR"} and set(usa["iso3"]) == {"USA"}
    assert set(kor["indicator_code"]) == set(parsers.WDI_INDICATORS)
    assert usa["year"].min() == 1989


def test_benchmarks(mirror):
    table = parsers.parse_benchmarks(mirror / "published/benchmarks.csv")
    assert table.set_index("id").loc["ustr_goods_balance_2016", "value_low"] == -27.6


def test_rdata_wrong_object(mirror):
    with pytest.raises(DataError, match="R object not found"):
        parsers._read_rdata(mirror / "gravity/geo_cepii.rda", "geo_cepii.rda", "df1")


def test_workbook_edit_helper_is_real(mirror, tmp_path):
    # guard: the edited-workbook helper writes a readable workbook with the original layout
    path = _edited_census(mirror, tmp_path, lambda f: f)
    assert openpyxl.load_workbook(path).sheetnames == ["country"]


def test_oecd_domestic_flows_put_in_thousands(tmp_path):
    """SYNTHETIC Stata file: a domestic row in $ million becomes $ thousand; others unchanged."""
    import zipfile

    frame = pd.DataFrame({"iso3_i": ["KOR", "KOR"], "iso3_j": ["KOR", "USA"], "year": [2015, 2015],
                          "trade": [1500.0, 70_000_000.0], "dist": [0.0, 11000.0], "contig": [0, 0],
                          "col": [1, 0], "comcol": [0, 0], "rta": [0, 1]})
    dta = tmp_path / "data_RTA_OECD_ASIA.dta"
    frame.to_stata(dta, write_index=False)
    archive = tmp_path / "panel.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(dta, "data/data_RTA_OECD_ASIA.dta")
    out = parsers.parse_oecd_rta(archive).set_index(["exporter", "importer"])
    assert out.loc[("KOR", "KOR"), "trade_usd_th"] == 1_500_000.0
    assert out.loc[("KOR", "USA"), "trade_usd_th"] == 70_000_000.0
    with pytest.raises(DataError, match="member not in the archive"):
        parsers.parse_oecd_rta(archive, member="data/other.dta")


def test_gravity_duplicates_and_negative_flows(mirror, tmp_path):
    table = parsers.parse_wiod_gravity(mirror / "gravity/GEGravity_TradeData0014.rda")
    assert {"USA", "KOR", "ROW"} <= set(table["exporter"])
    with pytest.raises(DataError, match="duplicated key"):
        parsers._gravity_checks(pd.concat([table, table.iloc[[0]]]), "wiod", "trade_usd_mn")
    bad = table.copy()
    bad.loc[3, "trade_usd_mn"] = -1.0
    with pytest.raises(DataError, match="field 'trade_usd_mn': missing or negative trade flow"):
        parsers._gravity_checks(bad, "wiod", "trade_usd_mn")


def test_dta_panel_and_cepii(mirror):
    dta = parsers.parse_penppml_trade(mirror / "gravity/penppml_trade.rda")
    assert len(dta) == 316317
    korus = dta[dta["agreement_id"] == 211]
    assert sorted(korus["year"].unique()) == [2012, 2016]
    dist = parsers.parse_cepii_dist(mirror / "gravity/dist_cepii.zip")
    assert len(dist) == 224 * 224


def test_census_year_total_that_disagrees_with_its_months(mirror, tmp_path):
    def edit(f):
        f.loc[f.index[7], "IYR"] = f.loc[f.index[7], "IYR"] * 1000  # SYNTHETIC: a mis-scaled annual total
        return f
    path = _edited_census(mirror, tmp_path, edit)
    with pytest.raises(DataError, match=r"country_edited.xlsx: field 'IYR': the year's total differs from the sum "
                                        r"of its months.*rows: 9$"):
        parsers.parse_census_country(path)


@pytest.mark.parametrize("content, what", [
    (b"SYNTHETIC: not a workbook at all", "sheet country"),
    (None, "sheet country"),  # a real workbook truncated to half its bytes
    ("other-sheet", "sheet country"),
])
def test_unreadable_workbooks_are_one_error_naming_the_file(mirror, tmp_path, snap, content, what):
    path = tmp_path / "census" / "country.xlsx"
    path.parent.mkdir()
    if content is None:
        data = (mirror / "census/country.xlsx").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "other-sheet":
        pd.DataFrame({"a": [1]}).to_excel(path, sheet_name="not_country", index=False)  # SYNTHETIC
    else:
        path.write_bytes(content)
    before = snap(tmp_path)
    with pytest.raises(DataError, match=rf"census/country.xlsx: field '{what}': cannot be read: \w+"):
        parsers.parse_census_country(path, file="census/country.xlsx")
    assert snap(tmp_path) == before


def test_unreadable_mirror_file_is_reported_not_raised(tmp_path, monkeypatch):
    import os

    from korus_research import fetch

    if os.geteuid() == 0:
        # root reads any file: simulate the OS refusing the read instead
        def refuse(src, dst, *a, **k):
            raise PermissionError(13, "Permission denied", str(src))
        monkeypatch.setattr(fetch.shutil, "copyfile", refuse)
    mirror = tmp_path / "mirror"
    (mirror / "published").mkdir(parents=True)
    (mirror / "published/benchmarks.csv").write_text("SYNTHETIC")
    (mirror / "published/benchmarks.csv").chmod(0)
    with pytest.raises(fetch.FetchError, match=r"benchmarks.csv: unreadable \(PermissionError: Permission denied\)"):
        fetch.fetch("published/benchmarks.csv", raw_dir=tmp_path / "raw", mirror=mirror)
    assert not (tmp_path / "raw" / "published" / "benchmarks.csv").exists()


def test_duplicates_are_reported_with_their_own_rows():
    frame = pd.DataFrame({"k": ["A", "A", "B", "B", "C"], "v": range(5)})  # SYNTHETIC
    with pytest.raises(DataError) as err:
        parsers._no_duplicates(frame, ["k"], "f.csv")
    assert err.value.rows == ["2 (A)", "3 (A)", "4 (B)", "5 (B)"]


def test_r_data_with_row_names_and_of_the_wrong_shape(tmp_path, monkeypatch):
    import pyreadr

    framed = pd.DataFrame({"Year": [2011, 2011], "x": [1.0, 1.0]}, index=["r1", "r2"])  # SYNTHETIC, row names
    monkeypatch.setattr(pyreadr, "read_r", lambda path: {"df1": framed})
    out = parsers._read_rdata(tmp_path / "x.RData", "x.RData", "df1")
    assert list(out.index) == [0, 1]
    with pytest.raises(DataError, match="duplicated key; rows: 2 \\(2011\\), 3 \\(2011\\)"):
        parsers._no_duplicates(out, ["Year"], "x.RData")
    monkeypatch.setattr(pyreadr, "read_r", lambda path: {"df1": pd.DataFrame()})
    with pytest.raises(DataError, match="x.RData: field 'df1': R object is not a data frame with rows"):
        parsers._read_rdata(tmp_path / "x.RData", "x.RData", "df1")


@pytest.mark.parametrize("column, value, problem", [
    ("IAPR", "n.a.", "missing or negative trade value"),   # text in a numeric column
    ("IAPR", float("nan"), "missing or negative trade value"),
    ("year", "twenty", "not an integer"),
])
def test_census_bad_cells_are_named(mirror, tmp_path, column, value, problem):
    def edit(f):
        f[column] = f[column].astype(object)
        f.loc[f.index[3], column] = value  # SYNTHETIC bad cell
        return f
    path = _edited_census(mirror, tmp_path, edit)
    with pytest.raises(DataError, match=rf"field '{column}': {problem}; rows: 5$"):
        parsers.parse_census_country(path)
