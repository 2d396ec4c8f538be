"""The data dictionary (korus_research.dictionary): every column of every table, with its unit,
basis, checks and sources; the same table every time."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from pandera.pandas import Check, Column, DataFrameSchema

from korus_research import config, dictionary, registry, results, schemas

ROOT = config.PROJECT_ROOT


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return dictionary.data_dictionary()


def _makefile_tables() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^TABLES :=((?:.*\\\n)*.*)$", text, flags=re.MULTILINE)
    assert match, "the Makefile has no TABLES list"
    return match.group(1).replace("\\\n", " ").split()


def _is_money(column: str) -> bool:
    tokens = column.split("_")
    return "usd" in tokens and "per" not in tokens


def test_tables_follow_the_makefile_then_the_results_store(table):
    assert list(dict.fromkeys(table["table"])) == _makefile_tables() + [dictionary.ESTIMATES_TABLE]


def test_every_column_of_every_schema_once_in_schema_order(table):
    every = {**schemas.TABLES, dictionary.ESTIMATES_TABLE: results.ESTIMATE_SCHEMA}
    expected = [(name, column) for name, schema in every.items() for column in schema.columns]
    assert list(zip(table["table"], table["column"], strict=True)) == expected
    assert list(table.columns) == dictionary.COLUMNS


def test_dtype_and_nullable_are_the_schema_s(table):
    every = {**schemas.TABLES, dictionary.ESTIMATES_TABLE: results.ESTIMATE_SCHEMA}
    for row in table.itertuples():
        column = every[row.table].columns[row.column]
        assert row.dtype == str(column.dtype), (row.table, row.column)
        assert row.nullable is bool(column.nullable), (row.table, row.column)


def test_money_columns_have_a_dollar_unit_and_a_basis(table):
    money = table[table["column"].map(_is_money)]
    assert len(money) >= 12
    wrong = money[~money["unit"].str.startswith("US$")]
    assert wrong.empty, f"money columns without a US$ unit: {wrong[['table', 'column', 'unit']].values.tolist()}"
    no_basis = money[money["basis"].str.strip() == ""]
    assert no_basis.empty, f"money columns without a basis: {no_basis[['table', 'column']].values.tolist()}"
    census = table[(table["table"] == "census_annual") & (table["column"] == "imports_usd_mn")].iloc[0]
    assert census["unit"] == "US$ million" and "customs value" in census["basis"]


def test_every_column_has_a_unit_and_every_number_a_stated_one(table):
    assert (table["unit"].str.strip() != "").all()
    numbers = table[table["dtype"].str.startswith(("int", "float"))]
    unstated = numbers[numbers["unit"] == dictionary.UNSTATED]
    assert unstated.empty, ("state the unit in the column name or the schema's metadata: "
                            f"{unstated[['table', 'column']].values.tolist()}")


@pytest.mark.parametrize(("column", "dtype", "unit"), [
    ("value_usd", "float64", "US$"),
    ("exports_usd_mn", "float64", "US$ million"),
    ("trade_usd_th", "float64", "US$ thousand"),
    ("balance_bn", "float64", "US$ bn"),
    ("effect_usd_bn", "float64", "US$ bn"),
    ("value_usd_vintage2015", "float64", "US$"),
    ("krw_per_usd", "float64", "KRW per US$"),
    ("index_2010_100", "float64", "index, 2010 = 100"),
    ("distw_km", "float64", "km"),
    ("year", "int64", "year"),
    ("partner_name", "str", "none"),
    ("cty_code", "int64", "code"),
    ("mystery", "float64", dictionary.UNSTATED),
])
def test_unit_from_the_column_name(column, dtype, unit):
    assert dictionary.infer_unit(column, dtype) == unit


def test_a_0_1_integer_is_an_indicator():
    assert dictionary.infer_unit("contig", "int64", [Check.isin([0, 1])]) == "indicator (0/1)"
    assert dictionary.infer_unit("contig", "int64", [Check.isin([0, 1, 2])]) == dictionary.UNSTATED


def test_schema_metadata_then_description_then_name():
    schema = DataFrameSchema({  # a small synthetic schema
        "weight": Column(float, metadata={"unit": "tonnes", "basis": "gross weight"}),
        "value_usd": Column(float, description="FOB value at the port of export"),
        "trade_bn": Column(float, nullable=True),
    }, name="synthetic")
    frame = dictionary.data_dictionary({"synthetic": schema}).set_index("column")
    assert frame.loc["weight", ["unit", "basis"]].tolist() == ["tonnes", "gross weight"]
    assert frame.loc["value_usd", ["unit", "basis"]].tolist() == ["US$", "FOB value at the port of export"]
    assert frame.loc["trade_bn", ["unit", "nullable"]].tolist() == ["US$ bn", True]
    assert (frame["source"] == "no registered source").all()


def test_checks_in_words(table):
    def checks(name, column):
        return table[(table["table"] == name) & (table["column"] == column)]["checks"].iloc[0]

    assert checks("census_monthly", "year") == ("1950 <= x <= 2100; part of unique key "
                                                "(vintage, cty_code, year, month)")
    assert "rows rejected if: balance_usd_mn != exports_usd_mn - imports_usd_mn" in checks("census_monthly",
                                                                                          "exports_usd_mn")
    assert checks("comtrade_hs2", "classification") == "one of: H3, H4, H5"
    assert checks("fx_krw_usd_monthly", "krw_per_usd") == "> 0"
    assert checks("benchmarks", "id") == "unique key"
    assert "rows rejected if: low > high" in checks(dictionary.ESTIMATES_TABLE, "high")


def test_sources_are_registered_files_with_their_bibkeys(table):
    assert set(dictionary.TABLE_SOURCES) == set(schemas.TABLES)
    bib = dictionary.bib_entries()
    for name, files in dictionary.TABLE_SOURCES.items():
        source = table.loc[table["table"] == name, "source"].iloc[0]
        assert files, name
        for path in files:
            registry.get(path)  # an unregistered file raises, naming it
            keys = dictionary.citations_for("registry", path)
            assert f"{path} ({', '.join(keys)})" in source, (name, path)
            assert set(keys) <= set(bib), (name, path)
    assert table.loc[table["table"] == "census_annual", "source"].iloc[0] == (
        "census/country.xlsx (uscensus_country_2026); "
        "census/country_vintage-2024-06.xlsx (uscensus_country_2024)")
    assert "notebooks 01-07" in table.loc[table["table"] == dictionary.ESTIMATES_TABLE, "source"].iloc[0]


def test_every_raw_file_prepare_reads_is_a_source_of_some_table():
    text = (ROOT / "src" / "korus_research" / "prepare.py").read_text()
    read = {path for path in re.findall(r'"([a-z]+/[^"\s]+)"', text) if path in registry.SOURCES}
    listed = {path for files in dictionary.TABLE_SOURCES.values() for path in files}
    assert len(read) >= 15
    assert read <= listed, f"read by prepare.py but not in dictionary.TABLE_SOURCES: {sorted(read - listed)}"


def test_the_same_dictionary_every_time_and_in_every_process(table):
    pd.testing.assert_frame_equal(table, dictionary.data_dictionary())
    code = ("import sys; from korus_research import dictionary; "
            "sys.stdout.write(dictionary.data_dictionary().to_csv(index=False))")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert other.stdout == table.to_csv(index=False)
