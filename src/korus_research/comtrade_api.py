"""Partner-reported trade with the US by HS 6-digit product: a client for the UN Comtrade v1 API.

For mirror statistics the study needs what the partner reports: Korea's exports to the US (FOB)
beside US imports from Korea (Census, customs value; Comtrade's US import figures are CIF), and
Korea's imports from the US (CIF) beside US exports (F.A.S.). The query is the reporter = the
partner (its UN M49 code, Korea 410) and the partner = the USA (Comtrade's code 842), final data,
annual, HS as reported (``clCode=HS``), flows ``M`` and ``X``, every HS 6-digit code
(``cmdCode=AG6``), with the totals over second partner, customs procedure and mode of transport
(``partner2Code=0``, ``customsCode=C00``, ``motCode=0``) so that each product and flow is one row.

- With a subscription key in ``COMTRADE_API_KEY`` (and only there), the data endpoint
  ``https://comtradeapi.un.org/data/v1/get/C/A/HS`` is used, the key sent in the
  ``Ocp-Apim-Subscription-Key`` header (never in the address); up to 100,000 rows a query.
- Without a key, the public preview endpoint ``https://comtradeapi.un.org/public/v1/preview/C/A/HS``
  answers at most 500 rows a query: a full answer of that size is refused as truncated, with the
  advice to set a key.

The answer is ``{"elapsedTime", "count", "data": [records], "error"}``; each record carries
``reporterCode, reporterISO, partnerCode, flowCode, classificationCode, cmdCode, aggrLevel, refYear,
period, cifvalue, fobvalue, primaryValue`` among others. ``primaryValue`` is the value the reporter
published: CIF for imports (``M``, ``RM``), FOB for exports (``X``, ``RX``); the tidy table says so
in its ``valuation`` column. One query per year; responses are cached in ``data/raw/comtrade/`` with
a manifest record (:mod:`korus_research.apiclient`).

The maintained ``comtradeapicall`` package (installable here) was considered and not used: its
functions build the address themselves (no base address to point at a test server), send the key
as a query parameter, print an HTTP error's body and return ``None`` instead of raising (no status
or ``Retry-After`` for a retry), and return a DataFrame, not the answer whose sha256 the manifest
records. This client asks the same endpoints with the same parameter names.

Command line: ``python -m korus_research.comtrade_api --reporter KOR --years 2011 2016``.

References
----------
United Nations Statistics Division, "UN Comtrade Database: API" (comtradedeveloper.un.org, the
``data/v1/get`` and ``public/v1/preview`` endpoints and their parameters), and the
``comtradeapicall`` package's documentation.
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

COMTRADE_URL = "https://comtradeapi.un.org"
DATA_ENDPOINT = "data/v1/get/C/{freq}/{cl}"
PREVIEW_ENDPOINT = "public/v1/preview/C/{freq}/{cl}"
KEY_VARIABLE = "COMTRADE_API_KEY"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
URL_VARIABLE = "KORUS_COMTRADE_URL"
CLIENT = "comtrade"
PREVIEW_LIMIT = 500
DATA_LIMIT = 100_000

#: UN Comtrade reporter and partner codes (UN M49, with Comtrade's own codes where they differ:
#: the USA 842, France 251, India 699, Switzerland 757, Norway 579, Taiwan "Other Asia, nes" 490).
M49: dict[str, int] = {
    "USA": 842, "KOR": 410, "CAN": 124, "MEX": 484, "ISR": 376, "JOR": 400, "CHL": 152, "SGP": 702,
    "AUS": 36, "MAR": 504, "SLV": 222, "HND": 340, "NIC": 558, "GTM": 320, "BHR": 48, "DOM": 214,
    "CRI": 188, "OMN": 512, "PER": 604, "COL": 170, "PAN": 591, "JPN": 392, "CHN": 156, "DEU": 276,
    "GBR": 826, "FRA": 251, "IND": 699, "CHE": 757, "NOR": 579, "TWN": 490, "VNM": 704, "BRA": 76,
}
FLOWS = {"M": "import", "X": "export", "RM": "re_import", "RX": "re_export"}
VALUATION = {"M": "CIF", "RM": "CIF", "X": "FOB", "RX": "FOB"}
REQUIRED = ["reporterCode", "partnerCode", "flowCode", "cmdCode", "refYear", "primaryValue"]

COMTRADE_HS6 = DataFrameSchema(
    {
        "reporter": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "partner": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "flow": Column(str, Check.isin(list(FLOWS.values()))),
        "hs6": Column(str, Check.str_matches(r"^\d{6}$")),
        "year": Column(int, Check.in_range(1962, 2100)),
        "value_usd": Column(float, Check.ge(0)),
        "valuation": Column(str, Check.isin(["CIF", "FOB"])),
        "classification": Column(str, Check.str_matches(r"^H[0-9]$"), nullable=True),
    },
    unique=["reporter", "partner", "flow", "hs6", "year"], strict=True, name="comtrade_hs6",
)


def m49(iso3: str) -> int:
    """Comtrade's code of a country given as ISO3 (:data:`M49`, else country_converter's UN code)."""
    iso3 = str(iso3).strip().upper()
    if iso3 in M49:
        return M49[iso3]
    if re.fullmatch(r"[A-Z]{3}", iso3):
        from .partners import _converter

        code = _converter().convert(iso3, src="ISO3", to="UNcode", not_found=None)
        if isinstance(code, int | float) and code == code:
            return int(code)
    raise ParameterError("reporter", iso3, sorted(M49), "no UN M49 code for it")


def hs6_query(reporter: str = "KOR", year: int = 2016, partner: str = "USA", flows: str = "M,X",
              commodities: str = "AG6", *, key: str = "", base: str | None = None, frequency: str = "A") -> Query:
    """The Comtrade query for one reporter, partner and year (testable without a network): the data
    endpoint with a key, the preview endpoint without one."""
    if not re.fullmatch(r"(M|X|RM|RX)(,(M|X|RM|RX))*", flows):
        raise ParameterError("flows", flows, "M, X, RM, RX, comma-separated")
    if not re.fullmatch(r"AG6|\d{6}(,\d{6})*", commodities):
        raise ParameterError("commodities", commodities, "AG6 or 6-digit HS codes, comma-separated")
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError("year", year, "a year from 1988 (HS data)") from None
    if not 1988 <= year <= 2100:
        raise ParameterError("year", year, "a year from 1988 (HS data)")
    endpoint = (DATA_ENDPOINT if key else PREVIEW_ENDPOINT).format(freq=frequency, cl="HS")
    params = {"reporterCode": str(m49(reporter)), "partnerCode": str(m49(partner)), "period": str(year),
              "cmdCode": commodities, "flowCode": flows, "partner2Code": "0", "customsCode": "C00",
              "motCode": "0", "maxRecords": str(DATA_LIMIT if key else PREVIEW_LIMIT), "includeDesc": "false"}
    return Query(CLIENT, base or os.environ.get(URL_VARIABLE, COMTRADE_URL), endpoint, params,
                 secret_headers={KEY_HEADER: key} if key else {})


def _records(payload, query: Query) -> list[dict]:
    described = query.describe()
    if not isinstance(payload, dict) or "data" not in payload:
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise SchemaChangedError(CLIENT, described, f"no 'data' in the answer ({found})", field="data",
                                 expected="an object with 'count', 'data' and 'error'")
    if payload.get("error"):
        raise APIRequestError(CLIENT, described, f"the API reports an error: {str(payload['error'])[:300]}",
                              field="error", expected="an empty 'error'")
    records = payload["data"] or []
    if not records:
        raise EmptyResultError(CLIENT, described, "'data' is empty (count 0)", field="data",
                               expected="at least one record for the query")
    limit = int(query.params["maxRecords"])
    if len(records) >= limit:
        advice = f"; set {KEY_VARIABLE} to use the data endpoint" if limit == PREVIEW_LIMIT else ""
        raise APIRequestError(CLIENT, described, f"{len(records)} records, the query's limit: the answer is "
                              f"probably truncated{advice}", field="count", expected=f"fewer than {limit} records")
    for i, record in enumerate(records):
        missing = [f for f in REQUIRED if not isinstance(record, dict) or f not in record]
        if missing:
            raise SchemaChangedError(CLIENT, described, f"record {i} lacks {missing[0]!r} (it has "
                                     f"{sorted(record)[:12] if isinstance(record, dict) else record!r})",
                                     field=missing[0], expected=f"fields {REQUIRED} in every record")
    return records


def parse_hs6(payload, query: Query, reporter: str, partner: str = "USA") -> pd.DataFrame:
    """Tidy ``reporter, partner, flow, hs6, year, value_usd, valuation, classification`` from one
    Comtrade answer (HS 6-digit rows only), validated by :data:`COMTRADE_HS6`."""
    records = _records(payload, query)
    frame = pd.DataFrame(records)
    described = query.describe()
    for column, code in [("reporterCode", query.params["reporterCode"]), ("partnerCode", query.params["partnerCode"])]:
        other = sorted({str(v) for v in frame[column]} - {code})
        if other:
            raise SchemaChangedError(CLIENT, described, f"records for {column} {other[:5]}", field=column,
                                     expected=f"only {code}")
    unknown = sorted(set(frame["flowCode"].astype(str)) - set(FLOWS))
    if unknown:
        raise SchemaChangedError(CLIENT, described, f"unknown flow codes {unknown}", field="flowCode",
                                 expected=f"one of {sorted(FLOWS)}")
    frame = frame[frame["cmdCode"].astype(str).str.fullmatch(r"\d{6}")]
    if frame.empty:
        raise EmptyResultError(CLIENT, described, "no HS 6-digit records", field="cmdCode",
                               expected="6-digit commodity codes")
    values = pd.to_numeric(frame["primaryValue"], errors="coerce")
    flow = frame["flowCode"].astype(str)
    classification = frame["classificationCode"] if "classificationCode" in frame else None
    tidy = pd.DataFrame({
        "reporter": str(reporter).upper(), "partner": str(partner).upper(), "flow": flow.map(FLOWS).values,
        "hs6": frame["cmdCode"].astype(str).values,
        "year": pd.to_numeric(frame["refYear"], errors="coerce").astype("Int64").values,
        "value_usd": values.astype(float).values, "valuation": flow.map(VALUATION).values,
        "classification": classification.astype(object).values if classification is not None else None,
    })
    if tidy["year"].isna().any() or tidy["value_usd"].isna().any():
        raise SchemaChangedError(CLIENT, described, "records without a year or a value", field="primaryValue",
                                 expected="numbers in refYear and primaryValue")
    tidy["year"] = tidy["year"].astype(int)
    return apiclient.validate(COMTRADE_HS6, tidy, CLIENT, described)


def fetch_hs6(reporter: str = "KOR", years: Iterable[int] = (2011, 2016), partner: str = "USA",
              flows: str = "M,X", commodities: str = "AG6", *, raw_dir: Path | None = None, url: str | None = None,
              refresh: bool = False, policy: RetryPolicy | None = None, timeout: float = 120) -> pd.DataFrame:
    """Trade of ``reporter`` with ``partner`` by HS 6-digit code as ``reporter`` reports it, one
    query per year, from the cache or (``refresh``, or nothing cached) from the API.

    Returns
    -------
    DataFrame
        ``reporter, partner, flow, hs6, year, value_usd, valuation, classification`` (validated by
        :data:`COMTRADE_HS6`; ``valuation`` is CIF for imports and FOB for exports, as reported).

    Raises
    ------
    EmptyResultError, SchemaChangedError, RateLimitError, APIRequestError
        See :mod:`korus_research.apiclient`; no message holds the key.
    """
    key = os.environ.get(KEY_VARIABLE, "")
    frames = []
    for year in years:
        query = hs6_query(reporter, year, partner, flows, commodities, key=key, base=url)
        kind = "data" if key else "preview"
        payload = apiclient.fetch_json(
            query, label=f"{kind}_{reporter}_{partner}_{commodities[:12]}_{year}",
            official_url=f"{COMTRADE_URL}/{query.endpoint}", raw_dir=raw_dir, refresh=refresh,
            check=lambda p, q=query: _records(p, q), policy=policy, timeout=timeout)
        frames.append(parse_hs6(payload, query, reporter, partner))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COMTRADE_HS6.columns))


def main(argv: list[str] | None = None) -> int:
    """Download a partner's reported trade with the US by HS 6-digit code into ``data/raw/comtrade``."""
    parser = argparse.ArgumentParser(prog="python -m korus_research.comtrade_api", description=main.__doc__)
    parser.add_argument("--reporter", default="KOR")
    parser.add_argument("--years", type=int, nargs="+", default=[2011, 2016])
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    try:
        table = fetch_hs6(args.reporter, args.years, refresh=args.refresh)
    except (apiclient.APIError, ParameterError) as err:
        print(f"error: {err}")
        return 1
    print(table.groupby(["flow", "valuation", "year"])["value_usd"].sum().div(1e9).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
