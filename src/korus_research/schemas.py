"""Schemas of the processed tables (pandera), checked on write and on read.

Units are in the column names: ``_usd`` (US dollars), ``_usd_mn`` (US$ million),
``krw_per_usd``, ``index_2010_100``. Keys are declared unique.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.pandas import Check, Column, DataFrameSchema

PARTNER_KINDS = ["country", "former country", "aggregate", "other"]
FLOWS = ["import", "export", "re_export"]

_year = Column(int, Check.in_range(1950, 2100))
_nonneg = Column(float, Check.ge(0))
_partner_cols = {
    "cty_code": Column(int, Check.ge(0)),
    "partner_name": Column(str),
    "iso3": Column(str, Check.str_matches(r"^[A-Z]{3}$"), nullable=True),
    "partner_kind": Column(str, Check.isin(PARTNER_KINDS)),
}


def _balance_identity(df):
    return (df["balance_usd_mn"] - (df["exports_usd_mn"] - df["imports_usd_mn"])).abs() < 1e-6


CENSUS_MONTHLY = DataFrameSchema(
    {
        "vintage": Column(str, Check.str_matches(r"^\d{4}-\d{2}$")),
        **_partner_cols,
        "year": _year,
        "month": Column(int, Check.in_range(1, 12)),
        "exports_usd_mn": _nonneg,
        "imports_usd_mn": _nonneg,
        "balance_usd_mn": Column(float),
    },
    checks=[Check(_balance_identity, error="balance_usd_mn != exports_usd_mn - imports_usd_mn")],
    unique=["vintage", "cty_code", "year", "month"],
    strict=True, name="census_monthly",
)

CENSUS_ANNUAL = DataFrameSchema(
    {
        "vintage": Column(str, Check.str_matches(r"^\d{4}-\d{2}$")),
        **_partner_cols,
        "year": _year,
        "exports_usd_mn": _nonneg,
        "imports_usd_mn": _nonneg,
        "balance_usd_mn": Column(float),
        "months_reported": Column(int, Check.in_range(1, 12)),
    },
    checks=[Check(_balance_identity, error="balance_usd_mn != exports_usd_mn - imports_usd_mn")],
    unique=["vintage", "cty_code", "year"],
    strict=True, name="census_annual",
)

ENDUSE_IMPORTS = DataFrameSchema(
    {
        **_partner_cols,
        "end_use": Column(str, Check.str_matches(r"^\d{5}$")),
        "end_use_desc": Column(str),
        "year": _year,
        "imports_usd": _nonneg,
    },
    unique=["cty_code", "end_use", "year"],
    strict=True, name="enduse_imports",
)

COMTRADE_HS2 = DataFrameSchema(
    {
        "year": _year,
        "flow": Column(str, Check.isin(FLOWS)),
        "partner_key": Column(str),
        "partner_iso3": Column(str, Check.str_matches(r"^[A-Z0-9]{3}$"), nullable=True),
        "partner_name": Column(str),
        "hs2": Column(str, Check.str_matches(r"^\d{2}$"), nullable=True),
        "commodity": Column(str),
        "classification": Column(str, Check.isin(["H3", "H4", "H5"])),
        "value_usd": _nonneg,
        "basis": Column(str, Check.isin(["CIF", "FOB"])),
        "source_vintage": Column(str, Check.isin(["comtrade-2015", "comtrade-2020"])),
    },
    unique=["year", "flow", "partner_key", "hs2", "commodity"],
    strict=True, name="comtrade_hs2",
)

COMTRADE_OVERLAP = DataFrameSchema(
    {
        "year": _year,
        "flow": Column(str, Check.isin(FLOWS)),
        "partner_key": Column(str),
        "value_usd_vintage2015": Column(float, nullable=True),
        "value_usd_vintage2020": Column(float, nullable=True),
        "difference_usd": Column(float, nullable=True),
        "relative_difference": Column(float, nullable=True),
    },
    unique=["year", "flow", "partner_key"], strict=True, name="comtrade_vintage_overlap",
)

COMTRADE_MATCHES = DataFrameSchema(
    {
        "description": Column(str),
        "hs2": Column(str, Check.str_matches(r"^\d{2}$"), nullable=True),
        "method": Column(str, Check.isin(["exact", "tokens", "similar", "unmatched"])),
    },
    unique=["description"], strict=True, name="comtrade_chapter_matches",
)

FX_MONTHLY = DataFrameSchema(
    {
        "date": Column("datetime64[ns]"),
        "krw_per_usd": Column(float, Check.gt(0)),
        "source_file": Column(str),
    },
    unique=["date"], strict=True, name="fx_krw_usd_monthly",
)

FX_ANNUAL = DataFrameSchema(
    {
        "year": _year,
        "krw_per_usd": Column(float, Check.gt(0)),
        "months": Column(int, Check.in_range(1, 12)),
    },
    unique=["year"], strict=True, name="fx_krw_usd_annual",
)

BIS_EER = DataFrameSchema(
    {
        "kind": Column(str, Check.isin(["real", "nominal"])),
        "series_code": Column(str, Check.str_matches(r"^[RN]B[A-Z]{2}$")),
        "economy": Column(str),
        "date": Column("datetime64[ns]"),
        "index_2010_100": Column(float, Check.gt(0)),
    },
    unique=["kind", "series_code", "date"], strict=True, name="bis_eer_monthly",
)

FRED_MACRO = DataFrameSchema(
    {
        "series_id": Column(str),
        "date": Column("datetime64[ns]"),
        "value": Column(float, Check.gt(0)),
        "unit": Column(str),
        "frequency": Column(str, Check.isin(["monthly", "quarterly"])),
    },
    unique=["series_id", "date"], strict=True, name="fred_macro",
)

WORLDBANK = DataFrameSchema(
    {
        "iso3": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "indicator_code": Column(str),
        "indicator_name": Column(str),
        "year": _year,
        "value": Column(float),
    },
    unique=["iso3", "indicator_code", "year"], strict=True, name="worldbank_indicators",
)

BENCHMARKS = DataFrameSchema(
    {
        "id": Column(str),
        "quantity": Column(str),
        "value_low": Column(float),
        "value_high": Column(float),
        "unit": Column(str),
        "period": Column(str),
        "source": Column(str),
        "note": Column(str),
    },
    unique=["id"], strict=True, name="benchmarks",
)

_iso = Column(str, Check.str_matches(r"^[A-Z][A-Z0-9]{2}$"))  # ISO3; a few source codes (KN1, ROW) kept

GRAVITY_DTA = DataFrameSchema(
    {"exporter": _iso, "importer": _iso, "year": _year, "trade_usd": _nonneg,
     "agreement_id": Column(int, Check.ge(0)), "agreement": Column(str)},
    unique=["exporter", "importer", "year"], strict=True, name="gravity_dta",
)

GRAVITY_WIOD = DataFrameSchema(
    {"exporter": _iso, "importer": _iso, "year": _year, "trade_usd_mn": _nonneg,
     "fta": Column(int, Check.isin([0, 1])), "other_fta": Column(int, Check.isin([0, 1])),
     "eu_enlargement": Column(int, Check.isin([0, 1]))},
    unique=["exporter", "importer", "year"], strict=True, name="gravity_wiod",
)

GRAVITY_OECD = DataFrameSchema(
    {"exporter": _iso, "importer": _iso, "year": _year, "trade_usd_th": _nonneg,
     "dist_km": Column(float, Check.ge(0)), "contig": Column(int, Check.isin([0, 1])),
     "col": Column(int, Check.isin([0, 1])), "comcol": Column(int, Check.isin([0, 1])),
     "rta": Column(int, Check.isin([0, 1]))},
    unique=["exporter", "importer", "year"], strict=True, name="gravity_oecd",
)

CEPII_DIST = DataFrameSchema(
    {"exporter": _iso, "importer": _iso, "dist_km": Column(float, Check.ge(0), nullable=True),
     "distw_km": Column(float, Check.ge(0), nullable=True), "contig": Column(int, Check.isin([0, 1])),
     "comlang_off": Column(int, Check.isin([0, 1])), "colony": Column(int, Check.isin([0, 1]))},
    unique=["exporter", "importer"], strict=True, name="cepii_dist",
)

#: Every processed table: name -> schema (file ``data/processed/<name>.parquet``).
TABLES: dict[str, pa.DataFrameSchema] = {
    "census_monthly": CENSUS_MONTHLY,
    "census_annual": CENSUS_ANNUAL,
    "enduse_imports": ENDUSE_IMPORTS,
    "comtrade_hs2": COMTRADE_HS2,
    "comtrade_vintage_overlap": COMTRADE_OVERLAP,
    "comtrade_chapter_matches": COMTRADE_MATCHES,
    "fx_krw_usd_monthly": FX_MONTHLY,
    "fx_krw_usd_annual": FX_ANNUAL,
    "bis_eer_monthly": BIS_EER,
    "fred_macro": FRED_MACRO,
    "worldbank_indicators": WORLDBANK,
    "benchmarks": BENCHMARKS,
    "gravity_dta": GRAVITY_DTA,
    "gravity_wiod": GRAVITY_WIOD,
    "gravity_oecd": GRAVITY_OECD,
    "cepii_dist": CEPII_DIST,
}
