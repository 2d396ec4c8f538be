"""The US goods balance with a partner: series, automotive share, benchmarks, rankings.

Pure functions on the processed tables (:mod:`korus_research.io`); the balance
overview notebook calls them. Values come in US$ million from Census and are
returned in US$ billion (``_usd_bn``) where stated.
"""

from __future__ import annotations

import difflib

import pandas as pd

#: Census end-use codes of the automotive group: passenger cars (new and used) and
#: parts (engines and engine parts; bodies and chassis for cars; tires and tubes;
#: other parts and accessories).
AUTO_END_USE = {
    "passenger cars": ["30000"],
    "parts": ["30200", "30210", "30220", "30230"],
}


def latest_vintage(table: pd.DataFrame) -> str:
    """The most recent Census vintage in a table with a ``vintage`` column."""
    return max(table["vintage"])


def check_partner(table: pd.DataFrame, partner: str, column: str = "iso3") -> str:
    """Return the upper-cased ISO3 ``partner`` or raise a clear error with close matches."""
    code = str(partner).upper()
    known = sorted(table[column].dropna().unique())
    if code not in known:
        close = difflib.get_close_matches(code, known, n=5)
        raise ValueError(
            f"partner {partner!r} is not an ISO3 code in the {column!r} column of this table "
            f"({len(known)} partners); close matches: {close or 'none'}"
        )
    return code


def partner_annual(annual: pd.DataFrame, partner: str, vintage: str | None = None,
                   complete_only: bool = True) -> pd.DataFrame:
    """US exports, imports and balance with ``partner`` by year, in US$ billion.

    Census partner codes mapping to the same ISO3 code are summed (e.g. Israel's
    two codes). Incomplete years (the current year of a release) are dropped unless
    ``complete_only`` is false.
    """
    code = check_partner(annual, partner)
    vintage = vintage or latest_vintage(annual)
    rows = annual[(annual["iso3"] == code) & (annual["vintage"] == vintage)]
    if complete_only:
        rows = rows[rows["months_reported"] == 12]
    out = rows.groupby("year")[["exports_usd_mn", "imports_usd_mn"]].sum() / 1000.0
    out.columns = ["exports_usd_bn", "imports_usd_bn"]
    out["balance_usd_bn"] = out["exports_usd_bn"] - out["imports_usd_bn"]
    return out


def partner_monthly(monthly: pd.DataFrame, partner: str, vintage: str | None = None) -> pd.DataFrame:
    """Monthly exports, imports and balance with ``partner`` (US$ billion), dated."""
    code = check_partner(monthly, partner)
    vintage = vintage or latest_vintage(monthly)
    rows = monthly[(monthly["iso3"] == code) & (monthly["vintage"] == vintage)]
    out = rows.groupby(["year", "month"])[["exports_usd_mn", "imports_usd_mn"]].sum() / 1000.0
    out.columns = ["exports_usd_bn", "imports_usd_bn"]
    out["balance_usd_bn"] = out["exports_usd_bn"] - out["imports_usd_bn"]
    out = out.reset_index()
    out["date"] = pd.to_datetime(dict(year=out["year"], month=out["month"], day=1))
    return out


def balance_change(series: pd.DataFrame, base_year: int, compare_year: int) -> pd.DataFrame:
    """Exports, imports and balance in two years and their change (US$ billion)."""
    missing = [y for y in (base_year, compare_year) if y not in series.index]
    if missing:
        raise ValueError(f"year(s) {missing} not in the series ({series.index.min()}-{series.index.max()})")
    table = series.loc[[base_year, compare_year]].T
    table.columns = [str(base_year), str(compare_year)]
    table["change"] = table[str(compare_year)] - table[str(base_year)]
    return table


def auto_imports(enduse: pd.DataFrame, partner: str, year: int) -> pd.DataFrame:
    """US automotive imports from ``partner`` in ``year`` on the end-use basis (US$ billion).

    Returns one row per automotive component (:data:`AUTO_END_USE`), the automotive
    total and all imports from the partner (sum of every 5-digit end-use code).
    """
    code = check_partner(enduse, partner)
    rows = enduse[(enduse["iso3"] == code) & (enduse["year"] == year)]
    if rows.empty:
        years = sorted(enduse["year"].unique())
        raise ValueError(f"no end-use imports for {code} in {year}; the table covers {years[0]}-{years[-1]}")
    parts = {
        name: rows.loc[rows["end_use"].isin(codes), "imports_usd"].sum() / 1e9
        for name, codes in AUTO_END_USE.items()
    }
    parts["automotive total"] = sum(parts.values())
    parts["all imports (end-use total)"] = rows["imports_usd"].sum() / 1e9
    return pd.Series(parts, name="imports_usd_bn").to_frame()


def auto_share_summary(autos: pd.DataFrame, balance_usd_bn: float) -> pd.DataFrame:
    """Automotive imports as a share of all imports and relative to the deficit."""
    total = autos.loc["automotive total", "imports_usd_bn"]
    return pd.DataFrame(
        {
            "value": [
                total,
                total / autos.loc["all imports (end-use total)", "imports_usd_bn"],
                -balance_usd_bn,
                total / -balance_usd_bn if balance_usd_bn < 0 else float("nan"),
            ]
        },
        index=[
            "automotive imports, US$ bn",
            "share of all imports from the partner",
            "goods deficit, US$ bn",
            "automotive imports / goods deficit",
        ],
    )


def compare_with_benchmarks(ours: dict[str, float], benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Set our numbers beside published ones.

    Parameters
    ----------
    ours : dict
        Benchmark id (``benchmarks.csv``) -> our value, in the benchmark's unit.
    benchmarks : DataFrame
        The processed ``benchmarks`` table.

    Returns
    -------
    DataFrame
        ``quantity, period, unit, ours, published, difference, source`` where
        ``published`` is the midpoint of the published range and ``difference`` is
        ours minus published.
    """
    unknown = sorted(set(ours) - set(benchmarks["id"]))
    if unknown:
        raise KeyError(f"benchmark id(s) {unknown} not in benchmarks.csv")
    rows = benchmarks.set_index("id").loc[list(ours)]
    out = pd.DataFrame({
        "quantity": rows["quantity"],
        "period": rows["period"],
        "unit": rows["unit"],
        "ours": pd.Series(ours),
        "published": (rows["value_low"] + rows["value_high"]) / 2,
    })
    out["difference"] = out["ours"] - out["published"]
    out["source"] = rows["source"]
    return out


def top_deficits(annual: pd.DataFrame, year: int, n: int = 10, vintage: str | None = None) -> pd.DataFrame:
    """The ``n`` countries with the largest US goods deficits in ``year`` (US$ billion)."""
    vintage = vintage or latest_vintage(annual)
    rows = annual[(annual["vintage"] == vintage) & (annual["year"] == year)
                  & (annual["partner_kind"] == "country")]
    if rows.empty:
        raise ValueError(f"no Census data for {year} in vintage {vintage}")
    out = rows.groupby("iso3").agg(partner=("partner_name", "first"),
                                   balance_usd_mn=("balance_usd_mn", "sum"))
    out["balance_usd_bn"] = out.pop("balance_usd_mn") / 1000.0
    return out.nsmallest(n, "balance_usd_bn")


def vintage_revisions(annual: pd.DataFrame, partner: str) -> pd.DataFrame:
    """The partner's balance in each Census vintage and the revision between them."""
    code = check_partner(annual, partner)
    rows = annual[(annual["iso3"] == code) & (annual["months_reported"] == 12)]
    wide = rows.groupby(["year", "vintage"])["balance_usd_mn"].sum().unstack("vintage") / 1000.0
    wide.columns = [f"balance_usd_bn_{v}" for v in wide.columns]
    if wide.shape[1] == 2:
        wide["revision"] = wide.iloc[:, 1] - wide.iloc[:, 0]
    return wide.dropna()


def benchmark_partner(quantity: str) -> str | None:
    """ISO3 code of the country a published quantity is about (the name after its last
    'with', 'to' or 'from'), e.g. 'US goods exports to Korea' -> 'KOR'."""
    import re

    from .partners import name_to_iso3

    match = re.search(r"\b(?:with|to|from)\s+([A-Z][A-Za-z .,'-]+?)(?:\s+(?:due|in|from|by)\b|\s*\(|$)", quantity)
    return name_to_iso3(match.group(1).strip()) if match else None


#: Published quantities we can compute from the Census tables, by the start of their
#: ``quantity`` text in benchmarks.csv (followed by the partner's name).
_COMPUTABLE = {
    "us goods trade balance with": "balance_usd_bn",
    "us goods exports to": "exports_usd_bn",
    "us goods imports from": "imports_usd_bn",
}
_AUTO_SHARE = "automotive share of the us goods deficit"


def our_benchmark_values(benchmarks: pd.DataFrame, partner: str, series: pd.DataFrame,
                         auto_import_ratio: dict[int, float] | None = None) -> dict[str, float]:
    """Our values for every published figure about ``partner`` we can compute.

    Goods balance, exports and imports in a year come from ``series``
    (:func:`partner_annual`); the automotive share of the deficit is matched with our
    automotive *imports* relative to the deficit (``auto_import_ratio``: year -> ratio),
    because end-use exports are not in the offline data (a stated difference in
    definitions).
    """
    code = partner.upper()
    ours: dict[str, float] = {}
    for row in benchmarks.itertuples():
        text = row.quantity.lower()
        if benchmark_partner(row.quantity) != code or not str(row.period).isdigit():
            continue
        year = int(row.period)
        for prefix, column in _COMPUTABLE.items():
            if text.startswith(prefix) and year in series.index:
                ours[row.id] = float(series.loc[year, column])
        if text.startswith(_AUTO_SHARE) and auto_import_ratio and year in auto_import_ratio:
            ours[row.id] = float(auto_import_ratio[year])
    return ours
