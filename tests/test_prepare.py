from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korus_research import io, prepare
from korus_research.errors import DataError


def test_splice_agrees_on_overlap_and_later_file_wins():
    # SYNTHETIC vintages
    a = pd.DataFrame({"date": pd.to_datetime(["2015-01-01", "2015-02-01"]), "value": [1.0, 2.0]})
    b = pd.DataFrame({"date": pd.to_datetime(["2015-02-01", "2015-03-01"]), "value": [2.0, 3.0]})
    out = prepare.splice_series([a, b], ["a.csv", "b.csv"])
    assert out["value"].tolist() == [1.0, 2.0, 3.0]
    assert out["source_file"].tolist() == ["a.csv", "b.csv", "b.csv"]


def test_splice_disagreement_names_files_and_dates():
    a = pd.DataFrame({"date": pd.to_datetime(["2015-02-01"]), "value": [2.0]})  # SYNTHETIC
    b = pd.DataFrame({"date": pd.to_datetime(["2015-02-01"]), "value": [2.5]})
    with pytest.raises(DataError, match=r"a.csv vs b.csv: field 'value': vintages disagree.*2015-02-01"):
        prepare.splice_series([a, b], ["a.csv", "b.csv"])


def test_fx_vintages_agree_exactly_on_the_overlap():
    fx = io.read_table("fx_krw_usd_monthly")
    assert fx["date"].min() == pd.Timestamp("1981-04-01")
    assert fx["date"].max() == pd.Timestamp("2024-12-01")
    assert fx["date"].diff().dropna().dt.days.between(28, 31).all()  # no gaps
    annual = io.read_table("fx_krw_usd_annual")
    assert annual.set_index("year").loc[2011, "krw_per_usd"] == pytest.approx(
        fx[fx["date"].dt.year == 2011]["krw_per_usd"].mean())


def test_comtrade_vintage_rule_and_overlap():
    table = io.read_table("comtrade_hs2")
    rule = table.groupby("year")["source_vintage"].agg(set)
    assert all(rule[y] == {"comtrade-2015"} for y in range(2007, 2010))
    assert all(rule[y] == {"comtrade-2020"} for y in range(2010, 2020))
    assert (table.loc[table["flow"] == "import", "basis"] == "CIF").all()
    overlap = io.read_table("comtrade_vintage_overlap")
    assert sorted(overlap["year"].unique()) == [2010, 2011, 2012, 2013]
    kor = overlap[(overlap["partner_key"] == "KOR") & (overlap["flow"] == "import")]
    assert kor["relative_difference"].abs().max() < 0.01


def test_bad_raw_file_leaves_processed_tables_as_they_were(tmp_path, mirror, snap):
    raw = tmp_path / "raw"
    (raw / "census").mkdir(parents=True)
    out = tmp_path / "processed"
    shutil.copytree(io.table_path("census_annual").parent, out,
                    ignore=shutil.ignore_patterns("results", ".*"))
    # SYNTHETIC edit of the real workbook: a duplicated partner-year
    frame = pd.read_excel(mirror / "census/country.xlsx", nrows=40)
    pd.concat([frame, frame.iloc[[0]]]).to_excel(raw / "census/country.xlsx", sheet_name="country", index=False)
    shutil.copy(mirror / "census/country_vintage-2024-06.xlsx", raw / "census/")
    before_raw, before_out = snap(raw), snap(out)
    with pytest.raises(DataError, match=r"census/country.xlsx: field 'year\+CTY_CODE': duplicated key"):
        prepare.build_census(raw, out)
    assert snap(raw) == before_raw and snap(out) == before_out


def test_unknown_step():
    with pytest.raises(KeyError, match="unknown prepare step"):
        prepare.prepare(["census", "nope"], progress=False)


# ---------------------------------------------------------------- identities ------------


def test_balance_equals_exports_minus_imports_in_the_real_tables():
    for name in ("census_annual", "census_monthly"):
        t = io.read_table(name)
        assert np.allclose(t["balance_usd_mn"], t["exports_usd_mn"] - t["imports_usd_mn"])


@settings(max_examples=50, deadline=None)
@given(
    months=st.lists(
        st.tuples(st.floats(0, 1e5, allow_nan=False), st.floats(0, 1e5, allow_nan=False)),
        min_size=12, max_size=12,
    )
)
def test_twelve_months_sum_to_the_year_property(tmp_path_factory, months):
    """SYNTHETIC workbooks: the parser's annual row equals the sum of its 12 months."""
    from korus_research import parsers

    row = {"year": 2015, "CTY_CODE": 5800, "CTYNAME": "Korea, South"}
    for (e, i), m in zip(months, parsers.MONTHS, strict=False):
        row[f"I{m}"], row[f"E{m}"] = i, e
    row["IYR"] = sum(i for _, i in months)
    row["EYR"] = sum(e for e, _ in months)
    world = {**row, "CTY_CODE": 15, "CTYNAME": "World, Not Seasonally Adjusted"}
    path = tmp_path_factory.mktemp("wb") / "country.xlsx"
    pd.DataFrame([row, world]).to_excel(path, sheet_name="country", index=False)
    monthly, annual = parsers.parse_census_country(path)
    kor_m = monthly[monthly["cty_code"] == 5800]
    kor_a = annual[annual["cty_code"] == 5800].iloc[0]
    if kor_a["months_reported"] == 12:
        assert kor_m["exports_usd_mn"].sum() == pytest.approx(kor_a["exports_usd_mn"], abs=1e-6)
        assert kor_m["imports_usd_mn"].sum() == pytest.approx(kor_a["imports_usd_mn"], abs=1e-6)
    assert np.allclose(kor_m["balance_usd_mn"], kor_m["exports_usd_mn"] - kor_m["imports_usd_mn"])
