"""Trade price indexes: a client for the BLS Public Data API (import and export price indexes).

The mirror holds no trade price index (a known gap): notebook 05 deflates flows by the US GDP
deflator unless a BLS response is cached in ``data/raw/bls/``. This client downloads the BLS
import price index by locality of origin for the partner (its own index where BLS publishes one,
else its region's) and the US all-exports price index, caches each response atomically,
records it in the fetch manifest with its sha256, and turns the monthly indexes into annual
means. Notebooks only read the cache (:func:`cached_trade_prices`); downloading is a separate
step (``python -m korus_research.bls --partner KOR``), never done inside a notebook.

Keys: the API answers without a key (version 1: 10 years a request); a key in the
``BLS_API_KEY`` environment variable (and only there) lifts the limits (version 2: 20 years a
request). The key is removed from every response, message and cached file.

Series identifiers (BLS MXP program, "EI" survey): ``EIUCO<area>TOT`` is the import price index
by locality of origin, all commodities; ``EIUIR`` all imports; ``EIUIQ`` all exports. BLS publishes
no locality index for Korea: its imports are deflated by the Pacific Rim index (stated with
the result). Locality indexes start in the 1990s or 2000s, so a sample that starts earlier
falls back to the GDP deflator (:func:`korus_research.macro.build_frame` checks coverage).

References
----------
U.S. Bureau of Labor Statistics, "BLS Public Data API" (versions 1.0 and 2.0), and
"Import/Export Price Indexes (MXP)": series by locality of origin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd

from . import config
from .errors import KorusError
from .services import scrub, store_response

BLS_URL = "https://api.bls.gov/publicAPI/v2/timeseries/data"
KEY_VARIABLE = "BLS_API_KEY"
ALL_IMPORTS, ALL_EXPORTS = "EIUIR", "EIUIQ"

#: Partner -> (import price index by locality of origin, what it covers). A partner not listed
#: gets the all-imports index (stated). Korea, Taiwan and most of East Asia: the Pacific Rim.
LOCALITY: dict[str, tuple[str, str]] = {
    "KOR": ("EIUCOPRIMTOT", "Pacific Rim (BLS has no index for Korea alone)"),
    "TWN": ("EIUCOPRIMTOT", "Pacific Rim"),
    "SGP": ("EIUCOPRIMTOT", "Pacific Rim"),
    "AUS": ("EIUCOPRIMTOT", "Pacific Rim"),
    "CHN": ("EIUCOCHNTOT", "China"),
    "JPN": ("EIUCOJPNTOT", "Japan"),
    "CAN": ("EIUCOCANTOT", "Canada"),
    "MEX": ("EIUCOMEXTOT", "Mexico"),
    "DEU": ("EIUCOGERTOT", "Germany"),
    "GBR": ("EIUCOUKTOT", "United Kingdom"),
    "COL": ("EIUCOLATTOT", "Latin America"),
    "PER": ("EIUCOLATTOT", "Latin America"),
    "CHL": ("EIUCOLATTOT", "Latin America"),
    "PAN": ("EIUCOLATTOT", "Latin America"),
}


class BLSError(KorusError, RuntimeError):
    """The BLS price indexes could not be had (no cache offline, an API error, no data)."""


def series_for(partner: str) -> dict[str, tuple[str, str]]:
    """``{"import_price": (series id, description), "export_price": (...)}`` for a partner."""
    series, area = LOCALITY.get(partner.upper(), (ALL_IMPORTS, "all US imports (no locality index for the partner)"))
    return {"import_price": (series, f"BLS import price index, locality of origin: {area} ({series})"),
            "export_price": (ALL_EXPORTS, f"BLS export price index, all US exports ({ALL_EXPORTS}; "
                                          "no index by destination for the partner)")}


def _cache_path(series_id: str, start: int, end: int, raw_dir: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", series_id)
    return raw_dir / "bls" / f"{slug}_{start}-{end}.json"


def _windows(start: int, end: int, width: int) -> list[tuple[int, int]]:
    return [(y, min(y + width - 1, end)) for y in range(start, end + 1, width)]


def fetch_series(series_id: str, start: int, end: int, raw_dir: Path | None = None, url: str | None = None,
                 refresh: bool = False, timeout: float = 60) -> list[dict]:
    """The BLS responses for ``series_id`` over ``start``-``end``, one per request window (10
    years without a key, 20 with one), from the cache or from the API.

    Raises
    ------
    BLSError
        When a window is neither cached nor downloadable, or the API answers with an error
        (messages never contain the key).
    """
    raw_dir = Path(raw_dir or config.data_raw())
    key = os.environ.get(KEY_VARIABLE, "")
    base = (url or os.environ.get("KORUS_BLS_URL", BLS_URL)).rstrip("/")
    payloads = []
    for lo, hi in _windows(start, end, 20 if key else 10):
        cache = _cache_path(series_id, lo, hi, raw_dir)
        if cache.exists() and not refresh:
            payloads.append(json.loads(cache.read_text()))
            continue
        params = {"startyear": str(lo), "endyear": str(hi)}
        if key:
            params["registrationkey"] = key
        request = f"{base}/{urllib.parse.quote(series_id)}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                text = resp.read().decode("utf-8")
            payload = json.loads(scrub(text, key))
        except Exception as exc:  # the network, a bad URL, a non-JSON answer: never show the key
            raise BLSError(f"BLS request for {series_id} {lo}-{hi} failed: {type(exc).__name__}: "
                           f"{scrub(str(exc), key)[:300]}") from None
        if payload.get("status") != "REQUEST_SUCCEEDED":
            raise BLSError(f"BLS API error for {series_id} {lo}-{hi}: {payload.get('status')}: "
                           f"{scrub('; '.join(map(str, payload.get('message', []))), key)[:400]}")
        series = payload.get("Results", {}).get("series", [])
        if not series or not series[0].get("data"):
            raise BLSError(f"BLS API returned no data for {series_id} {lo}-{hi}: "
                           f"{scrub('; '.join(map(str, payload.get('message', []))), key)[:300]}")
        store_response(payload, cache, raw_dir, f"{base}/{series_id} ({lo}-{hi}; key removed)", BLS_URL)
        payloads.append(payload)
    return payloads


def parse_series(payloads: list[dict]) -> pd.DataFrame:
    """Tidy monthly ``series_id, year, month, value`` from BLS responses (annual averages ``M13``
    and footnoted missing values ``-`` dropped)."""
    rows = []
    for payload in payloads:
        for series in payload.get("Results", {}).get("series", []):
            for obs in series.get("data", []):
                period = str(obs.get("period", ""))
                if not re.fullmatch(r"M(0[1-9]|1[0-2])", period):
                    continue
                value = pd.to_numeric(str(obs.get("value", "")).replace(",", ""), errors="coerce")
                rows.append({"series_id": series.get("seriesID"), "year": int(obs["year"]), "month": int(period[1:]),
                             "value": value})
    if not rows:
        raise BLSError("the BLS responses hold no monthly observations")
    frame = pd.DataFrame(rows).dropna(subset=["value"])
    return frame.drop_duplicates(["series_id", "year", "month"]).sort_values(["series_id", "year", "month"],
                                                                             ignore_index=True)


def annual_prices(monthly: pd.DataFrame, partner: str) -> pd.DataFrame:
    """Calendar-year means (complete years only) of the partner's import and export indexes:
    ``import_price``, ``export_price`` by year; ``attrs`` describe each column."""
    out = {}
    attrs = {}
    for column, (series_id, text) in series_for(partner).items():
        rows = monthly[monthly["series_id"] == series_id]
        grouped = rows.groupby("year")["value"]
        means = grouped.mean()[grouped.size() == 12]
        if len(means):
            out[column] = means
            attrs[column] = text
    if not out:
        raise BLSError(f"no complete year of the BLS indexes for {partner}")
    frame = pd.DataFrame(out)
    frame.index.name = "year"
    frame.attrs.update(attrs)
    return frame


def fetch_trade_prices(partner: str, start: int, end: int, raw_dir: Path | None = None, url: str | None = None,
                       refresh: bool = False, timeout: float = 60) -> pd.DataFrame:
    """Download (or read from the cache) and annualise the partner's trade price indexes."""
    payloads = []
    for series_id, _ in series_for(partner).values():
        payloads += fetch_series(series_id, start, end, raw_dir, url, refresh, timeout)
    return annual_prices(parse_series(payloads), partner)


def cached_trade_prices(partner: str, start: int, end: int, raw_dir: Path | None = None) -> tuple[pd.DataFrame | None, str]:
    """The partner's trade price indexes from the cache only (what notebooks use): the table, or
    ``None`` and the reason (nothing cached: download with ``python -m korus_research.bls``)."""
    raw_dir = Path(raw_dir or config.data_raw())
    payloads = []
    for series_id, _ in series_for(partner).values():
        slug = re.sub(r"[^A-Za-z0-9]+", "_", series_id)
        for cache in sorted((raw_dir / "bls").glob(f"{slug}_*-*.json")):
            lo, hi = (int(v) for v in cache.stem.rsplit("_", 1)[1].split("-"))
            if hi >= start and lo <= end:
                payloads.append(json.loads(cache.read_text()))
    if not payloads:
        return None, (f"no BLS trade price index cached in data/raw/bls for {partner} "
                      f"(python -m korus_research.bls --partner {partner} downloads it)")
    try:
        return annual_prices(parse_series(payloads), partner), "BLS (cached responses)"
    except BLSError as err:
        return None, str(err)


def main(argv: list[str] | None = None) -> int:
    """Download a partner's BLS trade price indexes into the cache (``data/raw/bls``)."""
    parser = argparse.ArgumentParser(prog="python -m korus_research.bls", description=main.__doc__)
    parser.add_argument("--partner", default="KOR")
    parser.add_argument("--start", type=int, default=1990)
    parser.add_argument("--end", type=int, default=2019)
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    try:
        table = fetch_trade_prices(args.partner, args.start, args.end, refresh=args.refresh)
    except BLSError as err:
        print(f"error: {err}")
        return 1
    print(table.round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
