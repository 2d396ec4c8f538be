"""Imports for consumption by tariff line, special program and rate provision, with calculated
duties: a client for the USITC DataWeb API.

Preference use under an agreement (how much of a partner's trade enters under its program, KORUS
being ``KR``, HTSUS General Note 33) and the tariff-line difference-in-differences need US imports
for consumption at HTS 10 digits broken out by the special program claimed (the CSC, "special
import program indicator") and the rate provision code, with the customs value and the calculated
duties. DataWeb runs a report from a query object posted as JSON to
``https://datawebws.usitc.gov/dataweb/api/v2/report2/runReport`` with a bearer token.

The query (:func:`report_query`) starts from the sample ``basicQuery`` of the DataWeb API user
guide and changes what the guide's steps describe: trade flow ``Import`` (imports for
consumption), classification ``HTS``; ``dataToReport`` ``CONS_CUSTOMS_VALUE`` and
``CONS_CALC_DUTY``; whole years (``timeframeSelectType fullYears``, ``yearsTimeline Annual``, scale
1: dollars); commodities broken out at granularity 10 (all, or the listed chapters or headings);
the partner broken out (``countriesSelectType list``); programs broken out (``extImportPrograms``
aggregation ``Break Out CSC``) and rate provision codes broken out (``provisionCodes`` aggregation
``Break Out RPCODE``).

The answer (:func:`parse_report`) is ``{"dto": {"errors": [...], "tables": [...]}}`` with one table
per measure, in the order of ``dataToReport``; a table's ``column_groups`` give the column labels
(the first group the dimensions, the next the years) and ``row_groups[*].rowsNew[*].rowEntries[*]
.value`` the cells, numbers written with thousands separators. Dimension columns are found by their
labels (``HTS...``, ``Country...``, ``...Program...``/``CSC``, ``Rate Provision...``); a table
without one of them is a :class:`~korus_research.apiclient.SchemaChangedError` naming it. An answer
whose ``dto`` is empty (the report not yet computed) is asked for again with the retry policy's
waits. A blank cell counts as zero; a line with neither customs value nor duties is dropped.

The token is read from ``DATAWEB_TOKEN`` only (DataWeb, "API" tab after signing in; tokens expire
after six months), sent in the ``Authorization`` header and never written anywhere. Reports are
cached in ``data/raw/dataweb/`` with a manifest record (:mod:`korus_research.apiclient`).

Command line: ``python -m korus_research.dataweb --partner KOR --years 2011 2016 --commodities 8703 8708``.

References
----------
U.S. International Trade Commission, "DataWeb API User Guide" (usitc.gov/applications/dataweb/api),
its sample ``basicQuery`` and the Swagger description of ``runReport``; HTSUS General Note 33 for
the KORUS program indicator ``KR``.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from pandera.pandas import Check, Column, DataFrameSchema

from . import apiclient, config
from .apiclient import APIRequestError, EmptyResultError, Query, RetryPolicy, SchemaChangedError
from .census_api import CTY_CODES, cty_code
from .errors import ParameterError

DATAWEB_URL = "https://datawebws.usitc.gov/dataweb"
ENDPOINT = "api/v2/report2/runReport"
TOKEN_VARIABLE = "DATAWEB_TOKEN"
URL_VARIABLE = "KORUS_DATAWEB_URL"
CLIENT = "dataweb"
MEASURES = {"CONS_CUSTOMS_VALUE": "customs_value_usd", "CONS_CALC_DUTY": "calculated_duties_usd"}
#: KORUS's special program indicator in the HTSUS (General Note 33).
KORUS_PROGRAM = "KR"
NO_PROGRAM = "none"

#: Column labels of the report's dimensions, found by pattern (the label shown is the guide's name).
DIMENSIONS = {
    "hts": ("HTS Number", re.compile(r"^\s*HTS", re.IGNORECASE)),
    "country": ("Country", re.compile(r"^\s*Countr", re.IGNORECASE)),
    "program": ("Special Import Program", re.compile(r"program|\bCSC\b", re.IGNORECASE)),
    "rate_provision": ("Rate Provision Code", re.compile(r"rate\s*provision|\bRP\s*CODE\b", re.IGNORECASE)),
}

#: The DataWeb API user guide's sample query (``basicQuery``), the base every report starts from.
BASIC_QUERY: dict = {
    "savedQueryName": "", "savedQueryDesc": "", "isOwner": True, "runMonthly": False,
    "reportOptions": {"tradeType": "Import", "classificationSystem": "HTS"},
    "searchOptions": {
        "MiscGroup": {
            "districts": {"aggregation": "Aggregate District", "districtGroups": {"userGroups": []}, "districts": [],
                          "districtsExpanded": [{"name": "All Districts", "value": "all"}], "districtsSelectType": "all"},
            "importPrograms": {"aggregation": None, "importPrograms": [], "programsSelectType": "all"},
            "extImportPrograms": {"aggregation": "Aggregate CSC", "extImportPrograms": [],
                                  "extImportProgramsExpanded": [], "programsSelectType": "all"},
            "provisionCodes": {"aggregation": "Aggregate RPCODE", "provisionCodesSelectType": "all",
                               "rateProvisionCodes": [], "rateProvisionCodesExpanded": []},
        },
        "commodities": {"aggregation": "Aggregate Commodities", "codeDisplayFormat": "YES", "commodities": [],
                        "commoditiesExpanded": [], "commoditiesManual": "",
                        "commodityGroups": {"systemGroups": [], "userGroups": []}, "commoditySelectType": "all",
                        "granularity": "2", "groupGranularity": None, "searchGranularity": None},
        "componentSettings": {"dataToReport": ["CONS_FIR_UNIT_QUANT"], "scale": "1", "timeframeSelectType": "fullYears",
                              "years": ["2022", "2023"], "startDate": None, "endDate": None, "startMonth": None,
                              "endMonth": None, "yearsTimeline": "Annual"},
        "countries": {"aggregation": "Aggregate Countries", "countries": [],
                      "countriesExpanded": [{"name": "All Countries", "value": "all"}], "countriesSelectType": "all",
                      "countryGroups": {"systemGroups": [], "userGroups": []}},
    },
    "sortingAndDataFormat": {
        "DataSort": {"columnOrder": [], "fullColumnOrder": [], "sortOrder": []},
        "reportCustomizations": {"exportCombineTables": False, "showAllSubtotal": True, "subtotalRecords": "",
                                 "totalRecords": "20000", "exportRawData": False},
    },
}
ROW_LIMIT = 20_000

DATAWEB_TARIFF_LINES = DataFrameSchema(
    {
        "hts10": Column(str, Check.str_matches(r"^\d{10}$")),
        "partner": Column(str, Check.str_matches(r"^[A-Z]{3}$")),
        "year": Column(int, Check.in_range(1989, 2100)),
        "program": Column(str),
        "rate_provision": Column(str),
        "customs_value_usd": Column(float, Check.ge(0)),
        "calculated_duties_usd": Column(float, Check.ge(0)),
    },
    unique=["hts10", "partner", "year", "program", "rate_provision"], strict=True, name="dataweb_tariff_lines",
)


def report_query(years: Iterable[int], partner: str = "KOR", commodities: Iterable[str] | None = None,
                 country_value: str | None = None) -> dict:
    """The runReport query object: imports for consumption from ``partner`` by HTS 10-digit line,
    program and rate provision, customs value and calculated duties, for whole ``years``.

    ``commodities``: HTS chapters or headings (2 or 4 digits, up to 10) to restrict the report to;
    ``None`` asks for every line. ``country_value``: DataWeb's value for the partner (its
    ``getAllCountries`` list); by default the partner's Census code (Korea 5800).
    """
    years = [str(_year(y)) for y in years]
    if not years:
        raise ParameterError("years", years, "one year or more")
    codes = [str(c).replace(".", "") for c in (commodities or [])]
    bad = [c for c in codes if not re.fullmatch(r"\d{2}|\d{4}|\d{6}|\d{8}|\d{10}", c)]
    if bad:
        raise ParameterError("commodities", bad, "HTS codes of 2, 4, 6, 8 or 10 digits")
    query = copy.deepcopy(BASIC_QUERY)
    query["reportOptions"] = {"tradeType": "Import", "classificationSystem": "HTS"}
    options = query["searchOptions"]
    options["componentSettings"].update(dataToReport=list(MEASURES), scale="1", timeframeSelectType="fullYears",
                                        years=years, yearsTimeline="Annual")
    options["commodities"].update(aggregation="Break Out Commodities", granularity="10",
                                  commoditySelectType="list" if codes else "all", commodities=codes)
    options["countries"].update(aggregation="Break Out Countries", countries=[country_value or cty_code(partner)],
                                countriesExpanded=[], countriesSelectType="list")
    misc = options["MiscGroup"]
    misc["extImportPrograms"].update(aggregation="Break Out CSC", programsSelectType="all")
    misc["provisionCodes"].update(aggregation="Break Out RPCODE", provisionCodesSelectType="all")
    return query


def _year(year) -> int:
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError("years", year, "years from 1989 (HTS data)") from None
    if not 1989 <= year <= 2100:
        raise ParameterError("years", year, "years from 1989 (HTS data)")
    return year


def _labels(groups) -> list[list[str]]:
    """Column labels of each column group (nested groups flattened, as the guide's ``getColumns``)."""
    def flat(node, out):
        if isinstance(node, dict) and "columns" in node:
            flat(node["columns"], out)
        elif isinstance(node, dict) and "label" in node:
            out.append(str(node["label"]))
        elif isinstance(node, list):
            for item in node:
                flat(item, out)
        return out
    return [flat(group, []) for group in (groups or [])]


def _number(value) -> float:
    text = str(value if value is not None else "").replace(",", "").replace("$", "").strip()
    return float(text) if text else 0.0


def _program(value) -> str:
    text = str(value or "").strip()
    if not text or re.search(r"no program|^00\b|^none$", text, re.IGNORECASE):
        return NO_PROGRAM
    match = re.match(r"^([A-Z0-9][A-Z0-9+*#]{0,2})(?:\s*[-:]\s|\s*$)", text)
    return match.group(1) if match else text


def _rate_provision(value) -> str:
    text = str(value or "").strip()
    match = re.match(r"^(\d{1,2})\b", text)
    return match.group(1).zfill(2) if match else text


def _not_ready(payload) -> bool:
    return isinstance(payload, dict) and "dto" in payload and payload["dto"] is None


def _tables(payload, described: str) -> list[dict]:
    if not isinstance(payload, dict) or not isinstance(payload.get("dto"), dict):
        raise SchemaChangedError(CLIENT, described, "no 'dto' object in the answer", field="dto",
                                 expected="{'dto': {'tables': [...]}}")
    dto = payload["dto"]
    errors = dto.get("errors") or []
    if errors:
        raise APIRequestError(CLIENT, described, f"DataWeb rejected the query: {str(errors)[:300]}",
                              field="dto.errors", expected="no errors")
    tables = dto.get("tables")
    if tables is None:
        raise SchemaChangedError(CLIENT, described, "no 'tables' in the answer's dto", field="dto.tables",
                                 expected="one table per measure")
    rows = sum(len(g.get("rowsNew") or []) for t in tables for g in (t.get("row_groups") or []))
    if not tables or rows == 0:
        raise EmptyResultError(CLIENT, described, "the report has no rows", field="rowsNew",
                               expected="at least one tariff line")
    if len(tables) != len(MEASURES):
        raise SchemaChangedError(CLIENT, described, f"{len(tables)} tables", field="dto.tables",
                                 expected=f"one table per measure: {list(MEASURES)}")
    return tables


def _parse_table(table: dict, measure: str, described: str) -> pd.DataFrame:
    desc = str((table.get("tableInfo") or {}).get("dataToReportDesc") or "")
    word = "custom" if measure == "CONS_CUSTOMS_VALUE" else "dut"
    if desc and word not in desc.lower():
        raise SchemaChangedError(CLIENT, described, f"the table for {measure} is labelled {desc!r}",
                                 field="tableInfo.dataToReportDesc", expected=f"tables in the order {list(MEASURES)}")
    groups = _labels(table.get("column_groups"))
    dims = groups[0] if groups else []
    years = [label for group in groups[1:] for label in group]
    where = {}
    for name, (label, pattern) in DIMENSIONS.items():
        found = [i for i, d in enumerate(dims) if pattern.search(d)]
        if not found:
            raise SchemaChangedError(CLIENT, described, f"no {label!r} column in the {measure} table (its "
                                     f"dimension columns: {dims})", field=label, expected=f"a column {label!r}")
        where[name] = found[0]
    if not years or not all(re.fullmatch(r"\d{4}", y.strip()) for y in years):
        raise SchemaChangedError(CLIENT, described, f"year columns {years} in the {measure} table", field="years",
                                 expected="one column per year, labelled YYYY")
    records = []
    for group in table.get("row_groups") or []:
        for row in group.get("rowsNew") or []:
            cells = [e.get("value") if isinstance(e, dict) else None for e in row.get("rowEntries") or []]
            if len(cells) != len(dims) + len(years):
                raise SchemaChangedError(CLIENT, described, f"a row of {len(cells)} cells in the {measure} table",
                                         field="rowEntries", expected=f"{len(dims) + len(years)} cells")
            for k, year in enumerate(years):
                records.append({"hts": cells[where["hts"]], "country": cells[where["country"]],
                                "program": _program(cells[where["program"]]),
                                "rate_provision": _rate_provision(cells[where["rate_provision"]]),
                                "year": int(year), MEASURES[measure]: _number(cells[len(dims) + k])})
    return pd.DataFrame(records)


def parse_report(payload, described: str, partner: str = "KOR") -> pd.DataFrame:
    """Tidy ``hts10, partner, year, program, rate_provision, customs_value_usd,
    calculated_duties_usd`` from a runReport answer, validated by :data:`DATAWEB_TARIFF_LINES`."""
    tables = _tables(payload, described)
    keys = ["hts", "country", "program", "rate_provision", "year"]
    parts = [_parse_table(t, m, described).set_index(keys) for t, m in zip(tables, MEASURES, strict=True)]
    for part in parts:
        if part.index.duplicated().any():
            raise SchemaChangedError(CLIENT, described, f"repeated lines {part.index[part.index.duplicated()][:3].tolist()}",
                                     field="rowsNew", expected="one row per line, country, program and rate provision")
    frame = parts[0].join(parts[1], how="outer").fillna(0.0).reset_index()
    countries = sorted(set(frame["country"].astype(str)))
    if len(countries) != 1:
        raise SchemaChangedError(CLIENT, described, f"rows for countries {countries[:5]}", field="Country",
                                 expected=f"only the partner {partner}")
    hts = frame["hts"].astype(str).str.replace(".", "", regex=False).str.extract(r"^\s*(\d{10})\b")[0]
    if hts.isna().any():
        raise SchemaChangedError(CLIENT, described, f"HTS values {frame.loc[hts.isna(), 'hts'].tolist()[:5]}",
                                 field="HTS Number", expected="10-digit HTS numbers")
    frame = frame.assign(hts10=hts, partner=str(partner).upper())
    frame = frame[(frame["customs_value_usd"] != 0) | (frame["calculated_duties_usd"] != 0)]
    if frame.empty:
        raise EmptyResultError(CLIENT, described, "every line is zero", field="rowsNew",
                               expected="at least one line with trade")
    tidy = frame[list(DATAWEB_TARIFF_LINES.columns)].sort_values(["year", "hts10", "program", "rate_provision"])
    return apiclient.validate(DATAWEB_TARIFF_LINES, tidy.reset_index(drop=True), CLIENT, described)


def _check(described: str):
    def check(payload):
        tables = _tables(payload, described)
        rows = max(len(g.get("rowsNew") or []) for t in tables for g in (t.get("row_groups") or []))
        if rows >= ROW_LIMIT:
            raise APIRequestError(CLIENT, described, f"{rows} rows, DataWeb's limit: the report is truncated; "
                                  "ask for fewer commodities (chapters or headings) or fewer years",
                                  field="rowsNew", expected=f"fewer than {ROW_LIMIT} rows")
        for table, measure in zip(tables, MEASURES, strict=True):
            _parse_table(table, measure, described)
    return check


def fetch_tariff_lines(years: Iterable[int] = (2011, 2016), partner: str = "KOR",
                       commodities: Iterable[str] | None = None, *, country_value: str | None = None,
                       raw_dir: Path | None = None, url: str | None = None, refresh: bool = False,
                       policy: RetryPolicy | None = None, timeout: float = 300) -> pd.DataFrame:
    """US imports for consumption from ``partner`` by HTS 10-digit line, special program and rate
    provision, with customs value and calculated duties, from the cache or (``refresh``, or nothing
    cached) from DataWeb.

    Returns
    -------
    DataFrame
        ``hts10, partner, year, program, rate_provision, customs_value_usd, calculated_duties_usd``
        (validated by :data:`DATAWEB_TARIFF_LINES`; ``program`` is the indicator claimed, ``KR`` for
        KORUS, ``none`` when no program was claimed).

    Raises
    ------
    APIRequestError
        No token and nothing cached, DataWeb's own errors, a truncated report, HTTP errors.
    EmptyResultError, SchemaChangedError, RateLimitError
        See :mod:`korus_research.apiclient`; no message holds the token.
    """
    years = list(years)
    token = os.environ.get(TOKEN_VARIABLE, "")
    body = report_query(years, partner, commodities, country_value)
    query = Query(CLIENT, url or os.environ.get(URL_VARIABLE, DATAWEB_URL), ENDPOINT, body=body, method="POST",
                  secret_headers={"Authorization": f"Bearer {token}"} if token else {})
    label = f"runReport_{partner}_{'-'.join(str(y) for y in years)}_{'-'.join(body['searchOptions']['commodities']['commodities'])[:40] or 'all'}"
    raw = Path(raw_dir) if raw_dir else None
    if not token and (refresh or not apiclient.cache_path(query, label, raw or config.data_raw()).exists()):
        raise APIRequestError(CLIENT, query.describe(), f"no {TOKEN_VARIABLE} in the environment and no cached report",
                              field=TOKEN_VARIABLE, expected="a DataWeb API token: sign in at dataweb.usitc.gov, copy "
                              f"the token from the API tab and export {TOKEN_VARIABLE}=... (tokens expire after six months)")
    payload = apiclient.fetch_json(query, label=label, official_url=f"{DATAWEB_URL}/{ENDPOINT}", raw_dir=raw,
                                   refresh=refresh, check=_check(query.describe()), policy=policy, timeout=timeout,
                                   not_ready=_not_ready)
    return parse_report(payload, query.describe(), partner)


def program_shares(lines: pd.DataFrame, program: str = KORUS_PROGRAM) -> pd.DataFrame:
    """Preference use by line and year: customs value in total and under ``program``, the share
    entering under it and the duties collected per dollar (``duty_rate``)."""
    grouped = lines.assign(under=lines["customs_value_usd"].where(lines["program"] == program, 0.0))
    out = grouped.groupby(["partner", "hts10", "year"], as_index=False)[
        ["customs_value_usd", "under", "calculated_duties_usd"]].sum()
    out = out.rename(columns={"under": f"customs_value_{program.lower()}_usd"})
    total = out["customs_value_usd"].where(out["customs_value_usd"] > 0)
    out[f"share_{program.lower()}"] = out[f"customs_value_{program.lower()}_usd"] / total
    out["duty_rate"] = out["calculated_duties_usd"] / total
    return out


def main(argv: list[str] | None = None) -> int:
    """Download US imports for consumption from a partner by HTS 10-digit line and program into
    ``data/raw/dataweb``."""
    parser = argparse.ArgumentParser(prog="python -m korus_research.dataweb", description=main.__doc__)
    parser.add_argument("--partner", default="KOR", choices=sorted(CTY_CODES))
    parser.add_argument("--years", type=int, nargs="+", default=[2011, 2016])
    parser.add_argument("--commodities", nargs="*", default=None, help="HTS chapters or headings, e.g. 8703 8708")
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    try:
        lines = fetch_tariff_lines(args.years, args.partner, args.commodities, refresh=args.refresh)
    except (apiclient.APIError, ParameterError) as err:
        print(f"error: {err}")
        return 1
    print(lines.groupby(["year", "program"])[["customs_value_usd", "calculated_duties_usd"]].sum().div(1e6).round(1).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
