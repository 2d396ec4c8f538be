"""US goods trade by product with a partner: a client for the Census International Trade API.

The mirror holds the partner totals and HS 2-digit chapters only (a known gap); this client
downloads the detail from the Census Bureau's monthly international trade time series:

- imports by HS commodity: ``/data/timeseries/intltrade/imports/hs`` (``I_COMMODITY``, general
  imports at customs value ``GEN_VAL_MO`` for a month, ``GEN_VAL_YR`` year to date);
- exports by HS commodity: ``/exports/hs`` (``E_COMMODITY``, total exports F.A.S. ``ALL_VAL_MO`` /
  ``ALL_VAL_YR``);
- exports by end use: ``/exports/enduse`` (``E_ENDUSE``, 1- and 5-digit end-use codes).

The detail is chosen with ``COMM_LVL`` (``HS2``, ``HS4``, ``HS6``, ``HS10``), the partner with
``CTY_CODE`` (Korea, South = ``5800``). A monthly query asks for every month of one year
(``time=YYYY``, the month's value); an annual one for December's year-to-date value
(``time=YYYY`` with ``MONTH=12``), which is the calendar-year total. The answer is a JSON array
of rows whose first row names the columns, the predicates (``time``, ``CTY_CODE``, ``COMM_LVL``,
``MONTH``) appended as columns; a valid query without rows is answered with HTTP 204 and no body.
Values are US dollars, the same bases as the mirror's ``census/country.xlsx`` (general imports at
customs value, total exports F.A.S.).

A key is optional (without one the Census allows 500 queries a day per address): it is read from
``CENSUS_API_KEY`` only, sent as the ``key`` parameter and never written anywhere. Responses are
cached in ``data/raw/census/`` with a manifest record (:mod:`korus_research.apiclient`).

Command line: ``python -m korus_research.census_api --flow import --level HS6 --years 2011 2016``.

References
----------
U.S. Census Bureau, "Guide to Using U.S. International Trade Datasets in the Census Data API"
(endpoints, parameters, COMM_LVL, valid requests with no results) and the variables lists of the
``timeseries/intltrade`` endpoints at api.census.gov.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from pandera.pandas import Check, Column, DataFrameSchema

from . import apiclient
from .apiclient import APIRequestError, EmptyResultError, Query, RetryPolicy, SchemaChangedError
from .errors import ParameterError

CENSUS_URL = "https://api.census.gov/data/timeseries/intltrade"
KEY_VARIABLE = "CENSUS_API_KEY"
URL_VARIABLE = "KORUS_CENSUS_URL"
CLIENT = "census"

LEVELS = {"HS2": 2, "HS4": 4, "HS6": 6, "HS10": 10}
ENDUSE_LEVELS = {"1": 1, "5": 5}
FLOWS = ("import", "export")
FREQUENCIES = ("annual", "monthly")
_ENDPOINT = {"import": "imports/hs", "export": "exports/hs"}
_COMMODITY = {"import": "I_COMMODITY", "export": "E_COMMODITY"}
_VALUE = {("import", "monthly"): "GEN_VAL_MO", ("import", "annual"): "GEN_VAL_YR",
          ("export", "monthly"): "ALL_VAL_MO", ("export", "annual"): "ALL_VAL_YR"}

#: Census ``CTY_CODE`` (Schedule C) of the US agreement partners and the largest US partners,
#: checked against the codes and names of the mirror's ``census/country.xlsx``. A four-digit code
#: may be given instead of an ISO3 code.
CTY_CODES: dict[str, str] = {
    "KOR": "5800", "CAN": "1220", "MEX": "2010", "ISR": "5081", "JOR": "5110", "CHL": "3370",
    "SGP": "5590", "AUS": "6021", "MAR": "7140", "SLV": "2110", "HND": "2150", "NIC": "2190",
    "GTM": "2050", "BHR": "5250", "DOM": "2470", "CRI": "2230", "OMN": "5230", "PER": "3330",
    "COL": "3010", "PAN": "2250", "JPN": "5880", "CHN": "5700", "DEU": "4280", "GBR": "4120",
    "FRA": "4279", "ITA": "4759", "TWN": "5830", "IND": "5330", "VNM": "5520", "BRA": "3510",
}

CENSUS_TRADE = DataFrameSchema(
    {
        "flow": Column(str, Check.isin(FLOWS)),
        "partner": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "hs": Column(str, Check.str_matches(r"^(\d{2}|\d{4}|\d{6}|\d{10})$")),
        "level": Column(str, Check.isin(list(LEVELS))),
        "period": Column(str, Check.str_matches(r"^\d{4}(-(0[1-9]|1[0-2]))?$")),
        "value_usd": Column(float, Check.ge(0)),
    },
    checks=[Check(lambda df: df["hs"].str.len() == df["level"].map(LEVELS), error="hs code length != level")],
    unique=["flow", "partner", "hs", "period"], strict=True, name="census_trade",
)

CENSUS_ENDUSE = DataFrameSchema(
    {
        "flow": Column(str, Check.isin(["export"])),
        "partner": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "enduse": Column(str, Check.str_matches(r"^(\d|\d{5})$")),
        "description": Column(str, nullable=True),
        "period": Column(str, Check.str_matches(r"^\d{4}(-(0[1-9]|1[0-2]))?$")),
        "value_usd": Column(float, Check.ge(0)),
    },
    unique=["flow", "partner", "enduse", "period"], strict=True, name="census_enduse",
)


def cty_code(partner: str) -> str:
    """The Census ``CTY_CODE`` of a partner given as ISO3 (see :data:`CTY_CODES`) or as the code."""
    partner = str(partner).strip().upper()
    if re.fullmatch(r"\d{4}", partner):
        return partner
    if partner in CTY_CODES:
        return CTY_CODES[partner]
    raise ParameterError("partner", partner, sorted(CTY_CODES) + ["a four-digit Census CTY_CODE"])


def _iso3(partner: str) -> str:
    partner = str(partner).strip().upper()
    if re.fullmatch(r"[A-Z]{3}", partner):
        return partner
    for iso, code in CTY_CODES.items():
        if code == partner:
            return iso
    raise ParameterError("partner", partner, sorted(CTY_CODES), "give the ISO3 code of a partner outside the table")


def _check_choice(name: str, value, valid: Iterable) -> None:
    if value not in valid:
        raise ParameterError(name, value, list(valid))


def _year(year) -> int:
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError("year", year, "a year from 2010 (the API's first)") from None
    if not 2010 <= year <= 2100:
        raise ParameterError("year", year, "a year from 2010 (the API's first)")
    return year


def trade_query(flow: str, level: str, year: int, frequency: str = "annual", partner: str = "KOR",
                commodity: str | None = None, *, base: str | None = None, key: str = "") -> Query:
    """The Census query for one flow, detail level, partner and year (testable without a network).

    ``annual``: ``time=YYYY&MONTH=12`` and the year-to-date value; ``monthly``: ``time=YYYY`` and
    each month's value. ``commodity`` restricts the query to one code of the level.
    """
    _check_choice("flow", flow, FLOWS)
    _check_choice("level", level, LEVELS)
    _check_choice("frequency", frequency, FREQUENCIES)
    year = _year(year)
    comm = _COMMODITY[flow]
    params = {"get": f"{comm},CTY_NAME,{_VALUE[flow, frequency]}", "CTY_CODE": cty_code(partner),
              "COMM_LVL": level, "time": str(year)}
    if frequency == "annual":
        params["MONTH"] = "12"
    if commodity:
        if not re.fullmatch(rf"\d{{{LEVELS[level]}}}", str(commodity)):
            raise ParameterError("commodity", commodity, f"a {LEVELS[level]}-digit code for level {level}")
        params[comm] = str(commodity)
    return Query(CLIENT, base or os.environ.get(URL_VARIABLE, CENSUS_URL), _ENDPOINT[flow], params,
                 secret_params={"key": key} if key else {})


def enduse_query(year: int, frequency: str = "annual", partner: str = "KOR", *, base: str | None = None,
                 key: str = "") -> Query:
    """The Census query for US exports to a partner by end-use code (1- and 5-digit) in one year."""
    _check_choice("frequency", frequency, FREQUENCIES)
    year = _year(year)
    params = {"get": f"E_ENDUSE,E_ENDUSE_LDESC,{_VALUE['export', frequency]}", "CTY_CODE": cty_code(partner),
              "time": str(year)}
    if frequency == "annual":
        params["MONTH"] = "12"
    return Query(CLIENT, base or os.environ.get(URL_VARIABLE, CENSUS_URL), "exports/enduse", params,
                 secret_params={"key": key} if key else {})


def _table(payload, query: Query, required: list[str]) -> pd.DataFrame:
    """The Census answer (header row, then rows) as a frame of strings; a missing column is a
    :class:`SchemaChangedError` naming it."""
    described = query.describe()
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], list):
        raise SchemaChangedError(CLIENT, described, f"the answer is a {type(payload).__name__}, not rows",
                                 field="rows", expected="a JSON array whose first row names the columns")
    header = [str(h) for h in payload[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise SchemaChangedError(CLIENT, described, f"column {missing[0]!r} is missing (the answer has {header})",
                                 field=missing[0], expected=f"columns {required}")
    rows = payload[1:]
    if not rows:
        raise EmptyResultError(CLIENT, described, "the answer holds the header row only", field="rows",
                               expected="at least one row for the query")
    bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(header)]
    if bad:
        raise SchemaChangedError(CLIENT, described, f"rows {bad[:10]} do not have {len(header)} fields",
                                 field="rows", expected="rows as long as the header")
    return pd.DataFrame(rows, columns=header, dtype=object)


def _values(frame: pd.DataFrame, column: str, query: Query) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame.index[values.isna()].tolist()
    if bad:
        raise SchemaChangedError(CLIENT, query.describe(), f"non-numeric values {frame.loc[bad[:5], column].tolist()} "
                                 f"in rows {[i + 1 for i in bad[:10]]}", field=column, expected="US dollars as numbers")
    return values.astype(float)


def _periods(frame: pd.DataFrame, frequency: str, year: int, query: Query) -> pd.Series:
    time = frame["time"].astype(str)
    if frequency == "annual":
        ok = time.str.match(rf"^{year}(-12)?$")
        period = pd.Series(str(year), index=frame.index)
    else:
        ok = time.str.match(rf"^{year}-(0[1-9]|1[0-2])$")
        period = time
    if not ok.all():
        raise SchemaChangedError(CLIENT, query.describe(), f"periods {sorted(set(time[~ok]))[:5]} outside the query",
                                 field="time", expected=f"{year}-12" if frequency == "annual" else f"months {year}-MM")
    return period


def parse_trade(payload, query: Query, flow: str, level: str, frequency: str, year: int,
                partner: str) -> pd.DataFrame:
    """Tidy ``flow, partner, hs, level, period, value_usd`` from one Census answer, validated by
    :data:`CENSUS_TRADE`."""
    comm, value = _COMMODITY[flow], _VALUE[flow, frequency]
    frame = _table(payload, query, [comm, value, "CTY_CODE", "time"])
    code = query.params["CTY_CODE"]
    other = sorted(set(frame["CTY_CODE"].astype(str)) - {code})
    if other:
        raise SchemaChangedError(CLIENT, query.describe(), f"rows for partners {other[:5]}", field="CTY_CODE",
                                 expected=f"only CTY_CODE {code}")
    hs = frame[comm].astype(str).str.strip()
    keep = hs.str.fullmatch(rf"\d{{{LEVELS[level]}}}")  # a total row (code '-' or '') is not a product
    frame, hs = frame[keep], hs[keep]
    if frame.empty:
        raise EmptyResultError(CLIENT, query.describe(), f"no {level} rows", field=comm,
                               expected=f"{LEVELS[level]}-digit codes")
    tidy = pd.DataFrame({
        "flow": flow, "partner": _iso3(partner), "hs": hs.values, "level": level,
        "period": _periods(frame, frequency, year, query).values, "value_usd": _values(frame, value, query).values,
    })
    return apiclient.validate(CENSUS_TRADE, tidy, CLIENT, query.describe())


def parse_enduse(payload, query: Query, frequency: str, year: int, partner: str, level: str = "5") -> pd.DataFrame:
    """Tidy ``flow, partner, enduse, description, period, value_usd`` (end-use codes of ``level``
    digits; the all-codes total row dropped), validated by :data:`CENSUS_ENDUSE`."""
    value = _VALUE["export", frequency]
    frame = _table(payload, query, ["E_ENDUSE", value, "CTY_CODE", "time"])
    code = frame["E_ENDUSE"].astype(str).str.strip()
    keep = code.str.fullmatch(rf"\d{{{ENDUSE_LEVELS[level]}}}")
    frame, code = frame[keep], code[keep]
    if frame.empty:
        raise EmptyResultError(CLIENT, query.describe(), f"no {level}-digit end-use rows", field="E_ENDUSE",
                               expected=f"{level}-digit end-use codes")
    description = frame["E_ENDUSE_LDESC"].astype(str) if "E_ENDUSE_LDESC" in frame else None
    tidy = pd.DataFrame({
        "flow": "export", "partner": _iso3(partner), "enduse": code.values,
        "description": description.values if description is not None else None,
        "period": _periods(frame, frequency, year, query).values, "value_usd": _values(frame, value, query).values,
    })
    return apiclient.validate(CENSUS_ENDUSE, tidy, CLIENT, query.describe())


def _check(query: Query, required: list[str]):
    def check(payload):
        _table(payload, query, required)  # an empty or malformed answer never enters the cache
    return check


def fetch_trade(flow: str, level: str = "HS6", years: Iterable[int] = (2011, 2016), frequency: str = "annual",
                partner: str = "KOR", commodity: str | None = None, *, raw_dir: Path | None = None,
                url: str | None = None, refresh: bool = False, policy: RetryPolicy | None = None,
                timeout: float = 60) -> pd.DataFrame:
    """US imports from or exports to ``partner`` by HS code at ``level``, one query per year, from
    the cache or (``refresh``, or nothing cached) from the API.

    Returns
    -------
    DataFrame
        ``flow, partner, hs, level, period, value_usd`` (validated by :data:`CENSUS_TRADE`).

    Raises
    ------
    EmptyResultError, SchemaChangedError, RateLimitError, APIRequestError
        See :mod:`korus_research.apiclient`; messages name the query with the key ``REDACTED``.
    """
    key = os.environ.get(KEY_VARIABLE, "")
    frames = []
    for year in years:
        query = trade_query(flow, level, year, frequency, partner, commodity, base=url, key=key)
        required = [_COMMODITY[flow], _VALUE[flow, frequency], "CTY_CODE", "time"]
        payload = apiclient.fetch_json(query, label=f"{_ENDPOINT[flow]}_{level}_{frequency}_{year}_{query.params['CTY_CODE']}",
                                       official_url=f"{CENSUS_URL}/{_ENDPOINT[flow]}", raw_dir=raw_dir, refresh=refresh,
                                       check=_check(query, required), policy=policy, timeout=timeout)
        frames.append(parse_trade(payload, query, flow, level, frequency, int(year), partner))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CENSUS_TRADE.columns))


def fetch_enduse_exports(years: Iterable[int] = (2011, 2016), frequency: str = "annual", partner: str = "KOR",
                         level: str = "5", *, raw_dir: Path | None = None, url: str | None = None,
                         refresh: bool = False, policy: RetryPolicy | None = None, timeout: float = 60) -> pd.DataFrame:
    """US exports to ``partner`` by end-use code (``level`` ``"5"`` or ``"1"`` digits), one query
    per year, validated by :data:`CENSUS_ENDUSE`: the end-use exports the mirror lacks."""
    _check_choice("level", level, ENDUSE_LEVELS)
    key = os.environ.get(KEY_VARIABLE, "")
    frames = []
    for year in years:
        query = enduse_query(year, frequency, partner, base=url, key=key)
        required = ["E_ENDUSE", _VALUE["export", frequency], "CTY_CODE", "time"]
        payload = apiclient.fetch_json(query, label=f"exports_enduse_{frequency}_{year}_{query.params['CTY_CODE']}",
                                       official_url=f"{CENSUS_URL}/exports/enduse", raw_dir=raw_dir, refresh=refresh,
                                       check=_check(query, required), policy=policy, timeout=timeout)
        frames.append(parse_enduse(payload, query, frequency, int(year), partner, level))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CENSUS_ENDUSE.columns))


def main(argv: list[str] | None = None) -> int:
    """Download US trade with a partner by HS code (or exports by end use) into ``data/raw/census``."""
    parser = argparse.ArgumentParser(prog="python -m korus_research.census_api", description=main.__doc__)
    parser.add_argument("--flow", choices=[*FLOWS, "enduse"], default="import")
    parser.add_argument("--level", default="HS6", help="HS2, HS4, HS6 or HS10 (end use: 1 or 5)")
    parser.add_argument("--years", type=int, nargs="+", default=[2011, 2016])
    parser.add_argument("--frequency", choices=FREQUENCIES, default="annual")
    parser.add_argument("--partner", default="KOR")
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.flow == "enduse":
            table = fetch_enduse_exports(args.years, args.frequency, args.partner,
                                         args.level if args.level in ENDUSE_LEVELS else "5", refresh=args.refresh)
        else:
            table = fetch_trade(args.flow, args.level, args.years, args.frequency, args.partner, refresh=args.refresh)
    except (apiclient.APIError, ParameterError) as err:
        print(f"error: {err}")
        return 1
    print(table.groupby(["flow", "period"])["value_usd"].sum().div(1e9).round(3).to_string())
    return 0


__all__ = ["CENSUS_TRADE", "CENSUS_ENDUSE", "APIRequestError", "EmptyResultError", "SchemaChangedError",
           "cty_code", "trade_query", "enduse_query", "parse_trade", "parse_enduse", "fetch_trade",
           "fetch_enduse_exports"]

if __name__ == "__main__":
    raise SystemExit(main())
