"""US services trade with a partner: a client for the BEA International Services API.

The BEA's ``IntlServTrade`` dataset has no offline copy in the mirror (a known gap). With
a key in the ``BEA_API_KEY`` environment variable (and only there) the client downloads a
partner's services trade, removes the key from the response before anything is stored,
caches it in ``data/raw/bea/`` (atomically) and records it in the fetch manifest with its
sha256. Without a key the cached response is used, or a clear error says how to get one.

References
----------
U.S. Bureau of Economic Analysis, "BEA API User Guide", datasets ``IntlServTrade``
(parameters TypeOfService, TradeDirection, Affiliation, AreaOrCountry, Year).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from . import config
from .errors import KorusError
from .fetch import _write_manifest, manifest_lock, read_manifest

BEA_URL = "https://apps.bea.gov/api/data"
KEY_VARIABLE = "BEA_API_KEY"


class ServicesError(KorusError, RuntimeError):
    """The BEA services data could not be had (no key and no cache, an API error, ...)."""


def _cache_path(area: str, raw_dir: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", area).strip("_")
    return raw_dir / "bea" / f"IntlServTrade_{slug}.json"


def scrub(text: str, key: str) -> str:
    """``text`` with every form of ``key`` removed: any letter case, URL-encoded or not."""
    if not key:
        return text
    forms = {key, urllib.parse.quote(key, safe=""), urllib.parse.quote_plus(key)}
    for form in sorted(forms, key=len, reverse=True):
        text = re.sub(re.escape(form), "REMOVED", text, flags=re.IGNORECASE)
    return text


def _strip_key(payload: dict, key: str) -> dict:
    """Remove every trace of the key from a BEA response (it echoes the request), in any case."""
    clean = json.loads(scrub(json.dumps(payload), key))
    request = clean.get("BEAAPI", {}).get("Request", {})
    params = request.get("RequestParam", [])
    request["RequestParam"] = [p for p in params if str(p.get("ParameterName", "")).upper() != "USERID"]
    return clean


def fetch_services(area: str = "Korea, South", raw_dir: Path | None = None, url: str | None = None,
                   refresh: bool = False, timeout: float = 60) -> dict:
    """Return the BEA ``IntlServTrade`` response for ``area`` (all services, both directions,
    all years), from the cache or, with ``BEA_API_KEY`` set, from the API.

    Raises
    ------
    ServicesError
        When there is neither a cached response nor a key, or the API answers with an error
        (the message never contains the key).
    """
    raw_dir = Path(raw_dir or config.data_raw())
    cache = _cache_path(area, raw_dir)
    if cache.exists() and not refresh:
        return json.loads(cache.read_text())
    key = os.environ.get(KEY_VARIABLE, "")
    if not key:
        raise ServicesError(
            f"no cached BEA services data for {area!r} (data/raw/bea/{cache.name}) "
            f"and no {KEY_VARIABLE} in the environment: register at https://apps.bea.gov/api/signup/ and "
            f"export {KEY_VARIABLE}=...; offline, the published figures in benchmarks.csv are used")
    params = {"UserID": key, "method": "GetData", "datasetname": "IntlServTrade", "TypeOfService": "All",
              "TradeDirection": "All", "Affiliation": "All", "AreaOrCountry": area, "Year": "All",
              "ResultFormat": "JSON"}
    base = url or os.environ.get("KORUS_BEA_URL", BEA_URL)
    try:
        with urllib.request.urlopen(f"{base}?{urllib.parse.urlencode(params)}", timeout=timeout) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except Exception as exc:  # any failure (a bad URL, the network, a non-JSON answer): never show the key
        raise ServicesError(f"BEA API request for {area!r} failed: {type(exc).__name__}: "
                            f"{scrub(str(exc), key)[:300]}") from None
    payload = _strip_key(payload, key)
    error = payload.get("BEAAPI", {}).get("Error") or payload.get("BEAAPI", {}).get("Results", {}).get("Error")
    if error:
        raise ServicesError(f"BEA API error for {area!r}: {scrub(json.dumps(error), key)[:400]}")
    if not payload.get("BEAAPI", {}).get("Results", {}).get("Data"):
        raise ServicesError(f"BEA API returned no data for {area!r}")
    store_response(payload, cache, raw_dir, f"{base} (IntlServTrade, AreaOrCountry={area}; key removed)", BEA_URL)
    return payload


def store_response(payload: dict, cache: Path, raw_dir: Path, source: str, official_url: str) -> None:
    """Write an API response (already scrubbed of its key) to ``cache`` atomically and record it in
    ``raw_dir``'s fetch manifest (source without the key, sha256, size, time), as the registry's
    downloads are recorded."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.stem}-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    config.publish(tmp, cache)
    data = cache.read_bytes()
    with manifest_lock(raw_dir):
        manifest = read_manifest(raw_dir)
        manifest[str(cache.relative_to(raw_dir))] = {
            "source": source, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "official_url": official_url, "vintage": "as downloaded",
        }
        _write_manifest(raw_dir, manifest)


def parse_services(payload: dict) -> pd.DataFrame:
    """Tidy ``year, type_of_service, direction, affiliation, value_usd_mn`` from a BEA response."""
    rows = payload.get("BEAAPI", {}).get("Results", {}).get("Data", [])
    if not rows:
        raise ServicesError("the BEA response holds no data rows")
    frame = pd.DataFrame(rows)
    need = ["TimePeriod", "TypeOfService", "TradeDirection", "Affiliation", "DataValue", "UNIT_MULT"]
    missing = [c for c in need if c not in frame]
    if missing:
        raise ServicesError(f"BEA response rows lack fields {missing}")
    value = pd.to_numeric(frame["DataValue"].astype(str).str.replace(",", ""), errors="coerce")
    scale = 10.0 ** (pd.to_numeric(frame["UNIT_MULT"], errors="coerce") - 6)
    return pd.DataFrame({
        "year": pd.to_numeric(frame["TimePeriod"].astype(str).str[:4], errors="coerce").astype("Int64"),
        "type_of_service": frame["TypeOfService"], "direction": frame["TradeDirection"],
        "affiliation": frame["Affiliation"], "value_usd_mn": value * scale,
    }).dropna(subset=["value_usd_mn"])


def published_services(benchmarks: pd.DataFrame, partner: str = "KOR") -> pd.DataFrame:
    """US services exports and imports with ``partner`` (ISO3) from ``benchmarks.csv``
    (published figures of several BEA vintages, labelled with their sources): ``year,
    direction, value_usd_bn, source``."""
    from .balance import benchmark_partner

    services = benchmarks[benchmarks["quantity"].str.match(r"US services (exports to|imports from) ")]
    rows = services[services["quantity"].map(benchmark_partner) == partner.upper()]
    return pd.DataFrame({
        "year": rows["period"].astype(int), "direction": rows["quantity"].str.extract(r"services (\w+)")[0],
        "value_usd_bn": rows["value_low"], "source": rows["source"],
    }).sort_values(["direction", "year"]).reset_index(drop=True)


def stalled(series: pd.Series, start: int, end: int, tolerance: float = 0.05) -> dict:
    """Whether a series 'stalled' between two years: growth from ``start`` to ``end`` within
    ``tolerance`` (relative) of zero, judged on the years available."""
    available = series.dropna()
    years = [y for y in available.index if start <= y <= end]
    if len(years) < 2:
        return {"years": years, "growth": float("nan"), "stalled": None}
    growth = available[max(years)] / available[min(years)] - 1
    return {"years": years, "growth": float(growth), "stalled": bool(abs(growth) <= tolerance)}

