"""The data dictionary of the processed tables and of the results store, and their citations.

:func:`data_dictionary` describes every column of every processed table (the pandera schemas
of :mod:`korus_research.schemas`, in the order of ``schemas.TABLES``, which is the Makefile's
``TABLES``) and of the long estimate table of the results store
(:data:`korus_research.results.ESTIMATE_SCHEMA`, listed as ``"estimates (results store)"``):
its type, unit, basis (what the number measures: valuation, adjustment, coverage), whether it
may be missing, the checks the schema applies, and the registered raw files it is built from
with their BibTeX keys.

Where the units and bases come from, in order:

1. the schema column's ``metadata`` (``{"unit": ..., "basis": ...}``);
2. the schema column's ``description`` (used as the basis);
3. this module's :data:`COLUMN_NOTES` (what the registry and :mod:`korus_research.prepare`
   state about a column whose unit or basis its name cannot say);
4. the column name (:func:`infer_unit`): ``_usd`` US$, ``_usd_mn`` US$ million, ``_usd_th``
   US$ thousand, ``_bn`` US$ bn, ``krw_per_usd`` KRW per US$, ``index_2010_100``, ``_km``;
   0/1 integer columns are indicators, text columns have no unit.

Citations: ``tables/citations.csv`` maps each registry file, each published benchmark
(``published/benchmarks.csv``, by its ``id``), each method the docstrings cite and each
source read outside the registry (kinds ``registry``, ``benchmark``, ``method``, ``source``)
to keys of ``references.bib`` at the project root. :func:`citations_for` reads the map and
:func:`bibliography` returns the BibTeX text of given keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
from pandera.pandas import DataFrameSchema

from . import config, prepare
from .errors import DataError, ParameterError

#: Name of the results store's estimate table in the dictionary.
ESTIMATES_TABLE = "estimates (results store)"
#: Columns of the data dictionary.
COLUMNS = ["table", "column", "dtype", "unit", "basis", "nullable", "checks", "source"]
#: Kinds of rows of ``tables/citations.csv``.
KINDS = ("registry", "benchmark", "method", "source")
#: The bibliography, at the project root.
BIB_FILE = "references.bib"
#: Unit given to a numeric column whose unit nothing states (a test keeps it out of the tables).
UNSTATED = "not stated"

_CITATIONS = "tables/citations.csv"
# the files of prepare.build_gravity (local there); a test checks every file prepare.py reads is listed
_GRAVITY = {
    "gravity_dta": "gravity/penppml_trade.rda",
    "gravity_wiod": "gravity/GEGravity_TradeData0014.rda",
    "gravity_oecd": "gravity/oecd_asia_rta_2010-2019.zip",
    "cepii_dist": "gravity/dist_cepii.zip",
}

#: Registered raw files each processed table is built from (:mod:`korus_research.prepare`).
TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    "census_monthly": (prepare.COUNTRY, prepare.COUNTRY_OLD),
    "census_annual": (prepare.COUNTRY, prepare.COUNTRY_OLD),
    "enduse_imports": (prepare.ENDUSE,),
    "comtrade_hs2": (prepare.COMTRADE_NEW, prepare.COMTRADE_OLD),
    "comtrade_vintage_overlap": (prepare.COMTRADE_NEW, prepare.COMTRADE_OLD),
    "comtrade_chapter_matches": (prepare.COMTRADE_OLD, prepare.COMTRADE_NEW),
    "fx_krw_usd_monthly": tuple(prepare.FX_FILES),
    "fx_krw_usd_annual": tuple(prepare.FX_FILES),
    "bis_eer_monthly": (prepare.BIS,),
    "fred_macro": tuple(prepare.FRED_MACRO),
    "worldbank_indicators": tuple(prepare.WORLDBANK),
    "benchmarks": (prepare.BENCHMARKS,),
    **{table: (path,) for table, path in _GRAVITY.items()},
}

_ESTIMATES_SOURCE = ("computed by notebooks 01-07 from the processed tables and saved to "
                     "data/processed/results/<study id>/estimates_<notebook>.parquet")

_CENSUS_EXPORTS = "total exports, F.A.S. value, not seasonally adjusted (Census basis)"
_CENSUS_IMPORTS = "general imports, customs value, not seasonally adjusted (Census basis)"
_CENSUS_BALANCE = "exports minus imports (Census basis)"

#: ``(table, column) -> (unit or None, basis)`` for what a column's name cannot say.
COLUMN_NOTES: dict[tuple[str, str], tuple[str | None, str]] = {
    ("census_monthly", "exports_usd_mn"): (None, _CENSUS_EXPORTS),
    ("census_monthly", "imports_usd_mn"): (None, _CENSUS_IMPORTS),
    ("census_monthly", "balance_usd_mn"): (None, _CENSUS_BALANCE),
    ("census_monthly", "vintage"): ("none", "Census release the row comes from (YYYY-MM)"),
    ("census_annual", "exports_usd_mn"): (None, _CENSUS_EXPORTS + "; calendar-year total"),
    ("census_annual", "imports_usd_mn"): (None, _CENSUS_IMPORTS + "; calendar-year total"),
    ("census_annual", "balance_usd_mn"): (None, _CENSUS_BALANCE + "; calendar-year total"),
    ("census_annual", "vintage"): ("none", "Census release the row comes from (YYYY-MM)"),
    ("census_annual", "months_reported"): ("months", "months of the year in the release"),
    ("enduse_imports", "imports_usd"): (None, "general imports, customs value, calendar year (Census end-use basis)"),
    ("comtrade_hs2", "value_usd"): (None, "reported by the USA; imports CIF, exports and re-exports FOB "
                                          "(column basis); 2015 extract before 2010, 2020 extract from 2010"),
    ("comtrade_vintage_overlap", "value_usd_vintage2015"): (None, "sum over HS chapters, 2015 extract"),
    ("comtrade_vintage_overlap", "value_usd_vintage2020"): (None, "sum over HS chapters, 2020 extract"),
    ("comtrade_vintage_overlap", "difference_usd"): (None, "2020 extract minus 2015 extract"),
    ("comtrade_vintage_overlap", "relative_difference"): ("ratio", "difference over the 2015 extract's value"),
    ("fx_krw_usd_monthly", "krw_per_usd"): (None, "monthly average of daily noon buying rates (FRB H.10); "
                                                  "two FRED vintages spliced, equal on their overlap"),
    ("fx_krw_usd_monthly", "date"): ("date", "first day of the month"),
    ("fx_krw_usd_monthly", "source_file"): ("none", "registry file the month's rate comes from"),
    ("fx_krw_usd_annual", "krw_per_usd"): (None, "mean of the 12 monthly averages (complete years only)"),
    ("fx_krw_usd_annual", "months"): ("months", "months averaged (always 12)"),
    ("bis_eer_monthly", "index_2010_100"): (None, "monthly average, broad basket; real (CPI-based) or "
                                                   "nominal as in column kind"),
    ("bis_eer_monthly", "date"): ("date", "month of the observation"),
    ("fred_macro", "value"): ("as in column unit", "as in columns unit and frequency (seasonal adjustment "
                                                   "as the unit states)"),
    ("fred_macro", "date"): ("date", "first day of the period (month or quarter)"),
    ("fred_macro", "unit"): ("none", "unit of column value"),
    ("worldbank_indicators", "value"): ("as in column indicator_name", "World Development Indicators, annual"),
    ("benchmarks", "value_low"): ("as in column unit", "as published (column source); lower end of a range"),
    ("benchmarks", "value_high"): ("as in column unit", "as published (column source); upper end of a range"),
    ("benchmarks", "unit"): ("none", "unit of columns value_low and value_high"),
    ("gravity_dta", "trade_usd"): (None, "merchandise trade from exporter to importer, as in the penppml "
                                         "panel (every 4 years)"),
    ("gravity_dta", "agreement_id"): ("code", "World Bank Deep Trade Agreements id (0 = no agreement)"),
    ("gravity_wiod", "trade_usd_mn"): (None, "goods and services from exporter to importer, including "
                                             "domestic flows (exporter = importer); WIOD 2016 release"),
    ("gravity_oecd", "trade_usd_th"): (None, "international flows as published; domestic flows converted "
                                             "from US$ million"),
    ("gravity_oecd", "dist_km"): (None, "bilateral distance as in the extract"),
    ("cepii_dist", "dist_km"): (None, "distance between the most populated cities (CEPII GeoDist dist)"),
    ("cepii_dist", "distw_km"): (None, "population-weighted distance (CEPII GeoDist distw)"),
    (ESTIMATES_TABLE, "value"): ("as in column unit", "dollar amounts converted once to US$ bn when saved"),
    (ESTIMATES_TABLE, "low"): ("as in column unit", "lower bound of the interval named in column interval"),
    (ESTIMATES_TABLE, "high"): ("as in column unit", "upper bound of the interval named in column interval"),
    (ESTIMATES_TABLE, "unit"): ("none", "unit of columns value, low and high"),
}

_SCALE = {"mn": "US$ million", "th": "US$ thousand", "bn": "US$ bn"}
_CHECK_TEXT = {
    "greater_than_or_equal_to": ">= {min_value}",
    "greater_than": "> {min_value}",
    "less_than_or_equal_to": "<= {max_value}",
    "less_than": "< {max_value}",
    "equal_to": "== {value}",
    "not_equal_to": "!= {value}",
}


def infer_unit(column: str, dtype: str = "", checks: list | None = None) -> str:
    """The unit a column's name (else its type and checks) implies.

    Parameters
    ----------
    column : str
        Column name, e.g. ``"value_usd"``, ``"exports_usd_mn"``, ``"krw_per_usd"``.
    dtype : str
        The column's data type as the schema states it (``"int64"``, ``"float64"``, ``"str"``).
    checks : list of pandera.Check, optional
        The column's checks (an integer column checked to be 0 or 1 is an indicator).

    Returns
    -------
    str
        The unit, ``"none"`` for text, or :data:`UNSTATED` for a number whose unit nothing says.

    Examples
    --------
    >>> infer_unit("value_usd"), infer_unit("exports_usd_mn"), infer_unit("trade_bn")
    ('US$', 'US$ million', 'US$ bn')
    >>> infer_unit("krw_per_usd"), infer_unit("index_2010_100")
    ('KRW per US$', 'index, 2010 = 100')
    """
    tokens = column.lower().split("_")
    if "per" in tokens[1:-1]:
        at = tokens.index("per")
        name = {"usd": "US$"}
        left, right = tokens[at - 1], tokens[at + 1]
        return f"{name.get(left, left.upper())} per {name.get(right, right.upper())}"
    if "usd" in tokens:
        after = tokens[tokens.index("usd") + 1:]
        return _SCALE.get(after[0], "US$") if after else "US$"
    if tokens[-1] in _SCALE:
        return _SCALE[tokens[-1]]
    if tokens[0] == "index" and len(tokens) == 3 and tokens[1].isdigit():
        return f"index, {tokens[1]} = {tokens[2]}"
    if tokens[-1] == "km":
        return "km"
    if tokens[-1] in {"share", "ratio"}:
        return "ratio"
    if tokens[-1] in {"pct", "percent"}:
        return "percent"
    if column == "year":
        return "year"
    if column == "month":
        return "month of the year (1-12)"
    if column == "date" or dtype.startswith("datetime"):
        return "date"
    if tokens[-1] == "months" or column == "months":
        return "months"
    allowed = [c.statistics.get("allowed_values") for c in checks or [] if c.name == "isin"]
    if dtype.startswith("int") and allowed and sorted(allowed[0]) == [0, 1]:
        return "indicator (0/1)"
    if dtype.startswith("int") and (tokens[-1] in {"code", "id"} or column == "id"):
        return "code"
    if dtype in {"str", "string", "object", "category"} or dtype.startswith("bool"):
        return "none"
    return UNSTATED


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_check(check) -> str:
    """One pandera check in words (``"1950 <= x <= 2100"``, ``"one of: H3, H4, H5"``)."""
    stats = dict(check.statistics or {})
    name = check.name
    if name == "in_range":
        low = "<=" if stats.get("include_min", True) else "<"
        high = "<=" if stats.get("include_max", True) else "<"
        return f"{_number(stats['min_value'])} {low} x {high} {_number(stats['max_value'])}"
    if name in _CHECK_TEXT:
        return _CHECK_TEXT[name].format(**{k: _number(v) for k, v in stats.items()})
    if name == "isin":
        return "one of: " + ", ".join(str(v) for v in stats["allowed_values"])
    if name == "notin":
        return "none of: " + ", ".join(str(v) for v in stats["forbidden_values"])
    if name == "str_matches":
        return f"matches {stats['pattern']}"
    if name == "str_length":
        parts = [f"length >= {stats['min_value']}" if stats.get("min_value") is not None else "",
                 f"length <= {stats['max_value']}" if stats.get("max_value") is not None else "",
                 f"length == {stats['exact_value']}" if stats.get("exact_value") is not None else ""]
        return ", ".join(p for p in parts if p)
    return str(check.error or name)


def _column_checks(name: str, column, schema: DataFrameSchema) -> str:
    parts = [describe_check(c) for c in column.checks]
    unique = list(schema.unique or [])
    if name in unique:
        parts.append("unique key" if unique == [name] else f"part of unique key ({', '.join(unique)})")
    for check in schema.checks:  # table-level checks: shown on every column they name
        text = str(check.error or check.name)  # a check's error names what it rejects
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            parts.append(f"rows rejected if: {text}")
    return "; ".join(parts)


def _source_text(table: str) -> str:
    if table == ESTIMATES_TABLE:
        return _ESTIMATES_SOURCE
    files = TABLE_SOURCES.get(table)
    if not files:
        return "no registered source"
    cited = []
    for path in files:
        keys = citations_for("registry", path)
        cited.append(f"{path} ({', '.join(keys)})")
    return "; ".join(cited)


def default_tables() -> dict[str, DataFrameSchema]:
    """Every processed table's schema (Makefile order) and the results store's estimate table."""
    from .results import ESTIMATE_SCHEMA
    from .schemas import TABLES

    return {**TABLES, ESTIMATES_TABLE: ESTIMATE_SCHEMA}


def data_dictionary(tables: dict[str, DataFrameSchema] | None = None) -> pd.DataFrame:
    """The data dictionary: one row per column of every table.

    Parameters
    ----------
    tables : dict of str to pandera.DataFrameSchema, optional
        Tables to describe (name -> schema); default :func:`default_tables` (every processed
        table, in the order of the Makefile's ``TABLES``, then ``"estimates (results store)"``).

    Returns
    -------
    DataFrame
        Columns ``table, column, dtype, unit, basis, nullable, checks, source``, in table order
        and then schema column order. ``unit`` and ``basis`` come from the column's metadata,
        then its description, then :data:`COLUMN_NOTES`, then the name (:func:`infer_unit`);
        ``source`` names the registry files the table is built from with their BibTeX keys.

    Examples
    --------
    >>> from korus_research import dictionary
    >>> d = dictionary.data_dictionary()  # doctest: +SKIP
    >>> d.loc[d["column"] == "exports_usd_mn", ["table", "unit"]].iloc[0].tolist()  # doctest: +SKIP
    ['census_monthly', 'US$ million']
    """
    tables = default_tables() if tables is None else tables
    rows = []
    for table, schema in tables.items():
        source = _source_text(table)
        for name, column in schema.columns.items():
            dtype = str(column.dtype)
            metadata = dict(column.metadata or {})
            note_unit, note_basis = COLUMN_NOTES.get((table, name), (None, ""))
            unit = metadata.get("unit") or note_unit or infer_unit(name, dtype, column.checks)
            basis = metadata.get("basis") or column.description or note_basis
            rows.append({"table": table, "column": name, "dtype": dtype, "unit": unit, "basis": basis,
                         "nullable": bool(column.nullable), "checks": _column_checks(name, column, schema),
                         "source": source})
    return pd.DataFrame(rows, columns=COLUMNS).astype({"nullable": bool})


# ----------------------------------------------------------------------------------------------
# Citations and the bibliography
# ----------------------------------------------------------------------------------------------

def citation_table() -> pd.DataFrame:
    """``tables/citations.csv``: ``kind, key, bibkey`` (kinds :data:`KINDS`)."""
    with resources.files("korus_research").joinpath(_CITATIONS).open() as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def citations_for(kind: str, key: str) -> list[str]:
    """BibTeX keys citing one registry file, benchmark id, method or other source.

    Parameters
    ----------
    kind : {"registry", "benchmark", "method", "source"}
    key : str
        A registry file path (as in :func:`korus_research.registry.get`), a benchmark ``id``, a
        method name or a source name, as listed in ``tables/citations.csv``.

    Returns
    -------
    list of str
        The keys, in the order of the table.

    Raises
    ------
    ParameterError
        For an unknown kind, or a key the table does not list for that kind (naming those it
        lists).

    Examples
    --------
    >>> from korus_research.dictionary import citations_for
    >>> citations_for("registry", "gravity/dist_cepii.zip")
    ['mayer_zignago_2011']
    """
    if kind not in KINDS:
        raise ParameterError("kind", kind, KINDS)
    table = citation_table()
    table = table[table["kind"] == kind]
    keys = table.loc[table["key"] == key, "bibkey"].tolist()
    if not keys:
        raise ParameterError(f"key ({kind})", key, sorted(set(table["key"])),
                             "not in tables/citations.csv")
    return keys


@dataclass(frozen=True)
class BibEntry:
    """One BibTeX entry: its type (lower case), key, fields (lower-case names) and exact text."""

    type: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""


def _closing(text: str, start: int, file: str) -> int:
    """Index of the brace closing the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return i
    line = text.count("\n", 0, start) + 1
    raise DataError(file, "braces", f"entry opened on line {line} is never closed")


def _fields(body: str, file: str, key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i, n = 0, len(body)
    while i < n:
        while i < n and body[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        match = re.match(r"([A-Za-z][A-Za-z0-9_\-]*)\s*=\s*", body[i:])
        if not match:
            raise DataError(file, key, f"cannot read a field at {body[i:i + 30]!r}")
        name = match.group(1).lower()
        i += match.end()
        if i < n and body[i] == "{":
            end = _closing(body, i, file)
            value, i = body[i + 1:end], end + 1
        elif i < n and body[i] == '"':
            end = body.index('"', i + 1)
            value, i = body[i + 1:end], end + 1
        else:
            match = re.match(r"[^,\s]+", body[i:])
            value = match.group(0) if match else ""
            i += len(value)
        if name in out:
            raise DataError(file, key, f"field {name!r} given twice")
        out[name] = " ".join(value.split())
    return out


def parse_bibtex(text: str, file: str = BIB_FILE) -> dict[str, BibEntry]:
    """Parse BibTeX text into entries keyed by citation key (file order).

    Text outside entries (``%`` comments) is ignored, as BibTeX does.

    Raises
    ------
    DataError
        On an unclosed entry, an unreadable field, a field given twice or a key used twice.
    """
    entries: dict[str, BibEntry] = {}
    start = re.compile(r"^@([A-Za-z]+)\s*\{\s*([^,\s]+)\s*,", flags=re.MULTILINE)
    position = 0
    while match := start.search(text, position):
        open_at = text.index("{", match.start())
        close_at = _closing(text, open_at, file)
        kind, key = match.group(1).lower(), match.group(2)
        if key in entries:
            raise DataError(file, key, "citation key used twice")
        body = text[match.end():close_at]
        entries[key] = BibEntry(kind, key, _fields(body, file, key), text[match.start():close_at + 1])
        position = close_at + 1
    return entries


def bib_path() -> Path:
    """``references.bib`` at the project root."""
    return config.PROJECT_ROOT / BIB_FILE


def bib_entries() -> dict[str, BibEntry]:
    """Every entry of ``references.bib``.

    Raises
    ------
    FileNotFoundError
        When the project root has no ``references.bib`` (an installed copy without the repository).
    """
    path = bib_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the bibliography lives at the repository root")
    return parse_bibtex(path.read_text(encoding="utf-8"), BIB_FILE)


def bibliography(keys: list[str] | None = None) -> str:
    """The BibTeX text of the given entries (all of ``references.bib`` by default).

    Parameters
    ----------
    keys : list of str, optional
        Citation keys, e.g. from :func:`citations_for`; repeated keys are given once, in the
        order of their first appearance.

    Returns
    -------
    str
        The entries' text exactly as in ``references.bib``, separated by blank lines.

    Raises
    ------
    ParameterError
        For a key that ``references.bib`` does not hold.

    Examples
    --------
    >>> from korus_research.dictionary import bibliography, citations_for
    >>> print(bibliography(citations_for("registry", "gravity/dist_cepii.zip")))  # doctest: +SKIP
    @techreport{mayer_zignago_2011, ...
    """
    entries = bib_entries()
    if keys is None:
        chosen = list(entries)
    else:
        chosen = list(dict.fromkeys(keys))
        missing = [k for k in chosen if k not in entries]
        if missing:
            raise ParameterError("keys", missing, "citation keys of references.bib", "not in the bibliography")
    return "\n\n".join(entries[k].text for k in chosen) + ("\n" if chosen else "")
