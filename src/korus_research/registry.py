"""The registry of raw source files: one entry per file of the offline mirror.

Each entry states where the file officially comes from, who publishes it, under
which licence, the sha256 of the exact bytes the study uses, and which parser
(:mod:`korus_research.parsers`) turns it into a processed table. The mirror at
``../shared/korus-data`` holds byte-for-byte copies; :func:`korus_research.fetch.fetch`
takes a file from there, else from ``download_url``, and verifies the hash either way.

``download_url`` is the address that serves the file; for files whose official
address only serves the *current* release (Census, BIS), a download will be a newer
vintage and fail the hash check with a message saying so, which is the point: the
study pins the vintage it was computed on.

Newer releases are taken only on request: ``korus-research fetch --update`` (module
:mod:`korus_research.vintages`) verifies a current release and records its sha256 in the
lock file ``data-vintages.lock.json`` at the project root. The pinned checksums below stay
the default; with ``KORUS_VINTAGES=locked`` the lock file's entries replace them in
:data:`SOURCES` and :data:`SIZES` (the pinned ones stay in :data:`PINNED` and
:data:`PINNED_SIZES`), so that fetching, the raw-file check of ``prepare``, the manifest and
the provenance table all follow the locked vintages.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import config
from .errors import DataError, ParameterError


@dataclass(frozen=True)
class Source:
    """One raw file of the study.

    Attributes
    ----------
    path : str
        Path relative to the mirror and to ``data/raw/``.
    description : str
        What the file holds, units included.
    agency : str
        Publishing agency.
    licence : str
        Terms of use.
    url : str
        Official page or download address.
    sha256 : str
        Checksum of the exact bytes the study uses.
    parser : str
        Name of the parsing function in :mod:`korus_research.parsers` (``""`` when the
        file is read by a later issue's module or by another file's parser).
    vintage : str
        Release the bytes belong to.
    download_url : str or None
        Address that serves these bytes when there is no mirror.
    """

    path: str
    description: str
    agency: str
    licence: str
    url: str
    sha256: str
    parser: str
    vintage: str
    download_url: str | None = None


_CENSUS = "US Census Bureau, Foreign Trade Division"
_WB = "World Bank, World Development Indicators"
_FRED = "Federal Reserve Bank of St. Louis (FRED)"
_GH = "https://raw.githubusercontent.com"

SOURCES: dict[str, Source] = {
    s.path: s
    for s in [
        Source(
            "census/country.xlsx",
            "US goods trade by partner, monthly and annual, $ million NSA, exports F.A.S., general imports customs value",
            _CENSUS, "public domain",
            "https://www.census.gov/foreign-trade/balance/country.xlsx",
            "767bfb694e25e9662fac212b0644ad3b915712c393f57e1f15ebcb6aeb408dc6",
            "parse_census_country", "2026-01 release (1985 - Jan 2026)",
            "https://www.census.gov/foreign-trade/balance/country.xlsx",
        ),
        Source(
            "census/country_vintage-2024-06.xlsx",
            "Older release of census/country.xlsx (1985 - Jun 2024), for revision comparisons",
            _CENSUS, "public domain",
            "https://www.census.gov/foreign-trade/balance/country.xlsx",
            "4b16c664bfc35e4c3bc3b9f169e372e522dd0cb8a1150669d5a83d672eaf8149",
            "parse_census_country", "2024-06 release",
        ),
        Source(
            "census/enduse_imports.xlsx",
            "US imports by partner and 5-digit end-use category, US$, 2016-2025",
            _CENSUS, "public domain",
            "https://www.census.gov/foreign-trade/statistics/product/enduse/imports/enduse_imports.xlsx",
            "0cb950ca2ba7e3492a25a60ed3187d464c0e2e9a606f772e33bba6089de1739c",
            "parse_enduse_imports", "2025 annual release",
            "https://www.census.gov/foreign-trade/statistics/product/enduse/imports/enduse_imports.xlsx",
        ),
        Source(
            "comtrade/US_Trade_HS2_2010-2019.RData",
            "UN Comtrade, reporter USA, all partners, HS 2-digit, Import (CIF) / Export / Re-Export, US$",
            "UN Statistics Division (UN Comtrade)", "free use with citation 'UN Comtrade Database'",
            "https://comtradeapi.un.org (reporter 842, cc=AG2, partner all)",
            "2920b8ef2f98b2a1335642d0c1efa9fddb6d8aaf3dc7f47be098c82e8ac2cc09",
            "parse_comtrade_2010_2019", "extract of 2020",
        ),
        Source(
            "comtrade/US_Trade_HS2_2007-2013_vintage2015.RData",
            "Older UN Comtrade extract, same query, chapter descriptions without codes, US$ million",
            "UN Statistics Division (UN Comtrade)", "free use with citation 'UN Comtrade Database'",
            "https://comtradeapi.un.org (reporter 842, cc=AG2, partner all)",
            "7e5995fb75cf78a1bceb21300eb96fb748f4c6d03cf9eebd4a686f5c61b6b93d",
            "parse_comtrade_2007_2013", "extract of 2015",
        ),
        Source(
            "fred/EXKOUS_1981-04_2020-03.csv",
            "KRW per USD, monthly average", "Federal Reserve Board H.10 via FRED", "public domain",
            "https://fred.stlouisfed.org/series/EXKOUS",
            "7bb512fe154c3467909f35b8cc07af398860e418a4c65738a7dea84653ffea44",
            "parse_fred", "2020-03 download",
        ),
        Source(
            "fred/EXKOUS_2015-01_2024-12.csv",
            "KRW per USD, monthly average", "Federal Reserve Board H.10 via FRED", "public domain",
            "https://fred.stlouisfed.org/series/EXKOUS",
            "b47ad2917ab02d5ae1d66da2aa5f3356914210d7ebfb025afc169408141a981a",
            "parse_fred", "2025-01 download",
        ),
        Source(
            "fred/DEXKOUS_1999-01-04_2021-07-02.csv",
            "KRW per USD, daily noon buying rate ('.' = no rate)", "Federal Reserve Board H.10 via FRED", "public domain",
            "https://fred.stlouisfed.org/series/DEXKOUS",
            "482d3f428360cee7116e1ea58484bb67527299b217459edc7287b0017d1e4054",
            "", "2021-07 download",
        ),
        Source(
            "fred/DEXKOUS_2016-12-19_2022-01-28.csv",
            "KRW per USD, daily noon buying rate ('.' = no rate)", "Federal Reserve Board H.10 via FRED", "public domain",
            "https://fred.stlouisfed.org/series/DEXKOUS",
            "d1159e627fe2c865ff405419d1bad717185a6dd7fb2a692b5e976405c9618a1d",
            "", "2022-01 download",
        ),
        Source(
            "fred/GDP.csv", "US nominal GDP, $ billion SAAR, quarterly", "BEA via FRED", "public domain",
            "https://fred.stlouisfed.org/series/GDP",
            "8b9dc8827cc4cd9b10c63295ce7c23832c57403a6b9af30cb4977fd211f9e672",
            "parse_fred", "2022 download (to 2021Q4)",
        ),
        Source(
            "fred/GDPC1.csv", "US real GDP, chained 2012 $ billion SAAR, quarterly", "BEA via FRED", "public domain",
            "https://fred.stlouisfed.org/series/GDPC1",
            "c52bfb0d55e4a66195b0f1b672c3b931fcafe100af1de1b6ed0627477fefb5c0",
            "parse_fred", "2023 download (to 2023Q1)",
        ),
        Source(
            "fred/GDPDEF.csv", "US GDP implicit price deflator, 2012=100, quarterly", "BEA via FRED", "public domain",
            "https://fred.stlouisfed.org/series/GDPDEF",
            "57e12263eaff9f54355ffff629bba6805b7f392619becb964eceb37e4f35d893",
            "parse_fred", "2022 download (to 2021Q4)",
        ),
        Source(
            "fred/NAEXKP01KRQ189S.csv", "Korea real GDP, KRW, quarterly SA", "OECD Main Economic Indicators via FRED", "CC BY 4.0",
            "https://fred.stlouisfed.org/series/NAEXKP01KRQ189S",
            "b221912d2d715f6268444dc8a801d8e340a1b2ddd7b72c94f888bd0d10cd3b3d",
            "parse_fred", "2021 download (to 2021Q3)",
        ),
        Source(
            "fred/KORCPIALLMINMEI.csv", "Korea CPI all items, 2015=100, monthly", "OECD Main Economic Indicators via FRED", "CC BY 4.0",
            "https://fred.stlouisfed.org/series/KORCPIALLMINMEI",
            "43028b6af38c0822d7f21e5154be325efe6e7fc804937defa069e5cc40454de7",
            "parse_fred", "2021 download (to 2021-11)",
        ),
        Source(
            "bis/broad.xlsx", "BIS effective exchange rates, broad basket, monthly averages, 2010=100; sheets Real and Nominal",
            "Bank for International Settlements", "reuse with source cited",
            "https://www.bis.org/statistics/eer/broad.xlsx",
            "2dc9f483046c3f9464418fe7a86feee2a4a9471f005297724995a128ec5fe1d0",
            "parse_bis_eer", "2021-03 release (to Feb 2021)",
            "https://www.bis.org/statistics/eer/broad.xlsx",
        ),
        Source(
            "worldbank/API_KOR_DS2_en_csv_v2_15934.csv", "World Development Indicators, all indicators for Korea, 1960-2023",
            _WB, "CC BY 4.0", "https://api.worldbank.org/v2/en/country/KOR?downloadformat=csv",
            "4d5971f828c2021db6c755de142904f452beb21225846d0b833ff01b479845a4",
            "parse_worldbank", "2025-03-24 update",
        ),
        Source(
            "worldbank/API_USA_DS2_en_csv_v2_3173.csv", "World Development Indicators, all indicators for the USA, 1989-2023 (preamble removed by the uploader)",
            _WB, "CC BY 4.0", "https://api.worldbank.org/v2/en/country/USA?downloadformat=csv",
            "2fc048a5a0cdbb74bf41c23e3203acfaf4c38fe8c37c312afae7d5e70c21ac16",
            "parse_worldbank", "2024 update",
        ),
        Source(
            "worldbank/Metadata_Country_API_KOR_DS2_en_csv_v2_15934.csv", "WDI country metadata, Korea", _WB, "CC BY 4.0",
            "https://api.worldbank.org/v2/en/country/KOR?downloadformat=csv",
            "4b55431fe52087b0a700aef739fc34fad497d1ed7f2237724b607dc2e1525348", "", "2025-03-24 update",
        ),
        Source(
            "worldbank/Metadata_Country_API_USA_DS2_en_csv_v2_3173.csv", "WDI country metadata, USA", _WB, "CC BY 4.0",
            "https://api.worldbank.org/v2/en/country/USA?downloadformat=csv",
            "424fb6627c06e967807e39e006bb75e90c2a8ef13ee3add5a9ed8edbb13b6ceb", "", "2024 update",
        ),
        Source(
            "worldbank/Metadata_Indicator_API_KOR_DS2_en_csv_v2_15934.csv", "WDI indicator metadata (definitions, sources)", _WB, "CC BY 4.0",
            "https://api.worldbank.org/v2/en/country/KOR?downloadformat=csv",
            "ab751d7785629574bfc4d1724279f365a78c8499ef656268692d0554cb2f2520", "", "2025-03-24 update",
        ),
        Source(
            "worldbank/Metadata_Indicator_API_USA_DS2_en_csv_v2_3173.csv", "WDI indicator metadata (definitions, sources)", _WB, "CC BY 4.0",
            "https://api.worldbank.org/v2/en/country/USA?downloadformat=csv",
            "01afd83242d1bc897c452aa3d202ec3a716176f9a1a5bcb739961b9f3c333cd3", "", "2024 update",
        ),
        Source(
            "gravity/penppml_trade.rda", "Bilateral trade panel with Deep Trade Agreements ids (KOR-USA id 211 from 2012), every 4 years 1964-2016",
            "World Bank DTA, via R package penppml", "MIT (package)", f"{_GH}/tomzylkin/penppml/e902bb4c/data/trade.rda",
            "d97178aa1cfa26b89f24a70004f86b4de6c36a903d3a5b5bb0e7da7d7870ee9e", "", "penppml @e902bb4c",
        ),
        Source(
            "gravity/penppml_countries.rda", "ISO3, name and region of the penppml panel's countries",
            "World Bank DTA, via R package penppml", "MIT (package)", f"{_GH}/tomzylkin/penppml/e902bb4c/data/countries.rda",
            "a0297f2404119c362a23ad4f7197549196690114f2633f133b670e9e0a5205f4", "", "penppml @e902bb4c",
        ),
        Source(
            "gravity/GEGravity_TradeData0014.rda", "WIOD goods and services trade among 43 economies + RoW incl. domestic flows, $ million, 2000/2005/2010/2014",
            "WIOD 2016 release via R package GEGravity", "GPL-3 (package); WIOD free with citation",
            f"{_GH}/VKudlay/GEGravity/2fff5923/data/TradeData0014.rda",
            "32085dd98c4bbbcba40c21079c7672c043ed2108c7eba21c75aecc0e7f042bc4", "", "GEGravity @2fff5923",
        ),
        Source(
            "gravity/oecd_asia_rta_2010-2019.zip", "Annual gravity panel 2010-2019 (51 countries): international flows $ thousand, domestic flows $ million",
            "research extract (ITPD-E, TAPED)", "no licence stated; cite the sources",
            f"{_GH}/Julie-byte-22/quant_trade_RTA_data/6ad180f0/data.zip",
            "b8e6cbec5b279fb925e4ad491478bf7979d0a6ca3311905eac8755a0cb3a0cd4", "", "@6ad180f0",
        ),
        Source(
            "gravity/dist_cepii.zip", "CEPII GeoDist bilateral distances, contiguity, language, colony (224 x 224)",
            "CEPII", "cite Mayer and Zignago (2011)", "http://www.cepii.fr/CEPII/en/bdd_modele/download.asp?id=6",
            "1854825bab1abe7197f6e47295a7ced5f72c83bc95076768f733c4969ed86780", "", "GeoDist 2011",
        ),
        Source(
            "gravity/geo_cepii.rda", "CEPII country geography (area, landlocked, coordinates, languages)",
            "CEPII", "cite Mayer and Zignago (2011)", "http://www.cepii.fr/CEPII/en/bdd_modele/download.asp?id=6",
            "ef537279e0f82969274be0dc6da547c67a22d4d0df6f90f5b52a543fb30e46c3", "", "GeoDist 2011",
        ),
        Source(
            "autos/hyundai-by-plant.csv", "Hyundai monthly production and sales by overseas plant and model, units",
            "Hyundai Motor investor relations", "company statistics; no licence stated",
            "https://www.hyundai.com/worldwide/en/company/ir",
            "1ab726b7ac8b1135616fb3dbc5afd34375c1c166075515e1a105963aec6f5391", "", "2016-01 to 2025-02",
        ),
        Source(
            "autos/kia-by-plant.csv", "Kia monthly production and sales by overseas plant and model, units",
            "Kia investor relations", "company statistics; no licence stated",
            "https://worldwide.kia.com/int/company/ir",
            "5ed1510368dec8b77aa93942509ffdb3a171f37b1874d2f5c00fecc5aeec51d8", "", "2016-01 to 2025-02",
        ),
        Source(
            "published/benchmarks.csv", "Figures published by USTR, USITC, CRS, KIEP, PIIE and papers, with their sources",
            "compiled from the cited publications", "facts with citations",
            "see the source column of each row",
            "b195a36d43ccc4b77f9e3d08f65bbedd6819848050879bc7a8e0b7391a7d061a",
            "parse_benchmarks", "2026",
        ),
        Source(
            "published/ge_gravity_stata_results_TradeData0014.rda",
            "Stata ge_gravity (Zylkin) with ppmlhdfe on GEGravity_TradeData0014: EU enlargements 2000-2014, partial effect 0.224249, GE counterfactual (theta = 4, 2000 baseline), additive and multiplicative imbalances",
            "Stata ge_gravity output, via R package GEGravity", "GPL-3 (package)",
            f"{_GH}/VKudlay/GEGravity/a5c1db9/data/TradeData0014_Results.rda",
            "a833b26edbf7146b2e5c1dab23970ad8e2a8fb57c2bce1003851d65046631dba", "", "GEGravity @a5c1db9",
        ),
        Source(
            "published/yotov2016/Chapter1Application1.dta",
            "Yotov et al. (2016) guide, ch. 1 application 1: 69 countries incl. domestic flows, 1986-2006 every 4 years, trade, DIST, CNTG, LANG, CLNY, symmetric pair_id",
            "WTO/UNCTAD, An Advanced Guide to Trade Policy Analysis", "teaching material; cite the guide",
            "https://vi.unctad.org/tpa/",
            "90f70f002e107cd91e4e2bed5e3dd9df535d555934c04fb86eec02995826eea6", "", "guide application files (2016)",
        ),
        Source(
            "published/yotov2016/Chapter2Application2.dta",
            "Yotov et al. (2016) guide, ch. 2 application 2: the same panel with the RTA dummy",
            "WTO/UNCTAD, An Advanced Guide to Trade Policy Analysis", "teaching material; cite the guide",
            "https://vi.unctad.org/tpa/",
            "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547", "", "guide application files (2016)",
        ),
        Source(
            "published/yotov2016/RTAsEffects.log",
            "Stata log of the guide's ch. 2 application (RTA effects: PPML with pair FE, RTA 0.5571853, and the GE steps)",
            "WTO/UNCTAD, An Advanced Guide to Trade Policy Analysis", "teaching material; cite the guide",
            "https://vi.unctad.org/tpa/",
            "0154f63f80be78716b101ba07017b04170b42ef03bc1a32c66d1bb442d7271e3", "", "log of 6 Nov 2016",
        ),
    ]
}


def get(path: str) -> Source:
    """Return the registry entry of ``path``, with a clear error for an unknown file."""
    try:
        return SOURCES[path]
    except KeyError:
        raise KeyError(
            f"{path!r} is not in the source registry; known files: {', '.join(sorted(SOURCES))}"
        ) from None


def provenance_table() -> pd.DataFrame:
    """The registry as a table (for the README and the report)."""
    rows = [
        {
            "file": s.path,
            "what": s.description,
            "agency": s.agency,
            "licence": s.licence,
            "official address": s.url,
            "vintage": s.vintage,
            "sha256": s.sha256,
            "parser": s.parser or "none (read directly where it is used)",
        }
        for s in SOURCES.values()
    ]
    return pd.DataFrame(rows)


#: Size in bytes of each registered file (a short file is reported as truncated).
SIZES: dict[str, int] = {
    "autos/hyundai-by-plant.csv": 84448,
    "autos/kia-by-plant.csv": 19254,
    "bis/broad.xlsx": 274223,
    "census/country.xlsx": 1832797,
    "census/country_vintage-2024-06.xlsx": 1756074,
    "census/enduse_imports.xlsx": 2050679,
    "comtrade/US_Trade_HS2_2007-2013_vintage2015.RData": 631508,
    "comtrade/US_Trade_HS2_2010-2019.RData": 2461825,
    "fred/DEXKOUS_1999-01-04_2021-07-02.csv": 114521,
    "fred/DEXKOUS_2016-12-19_2022-01-28.csv": 25456,
    "fred/EXKOUS_1981-04_2020-03.csv": 9514,
    "fred/EXKOUS_2015-01_2024-12.csv": 2544,
    "fred/GDP.csv": 5959,
    "fred/GDPC1.csv": 6201,
    "fred/GDPDEF.csv": 5406,
    "fred/KORCPIALLMINMEI.csv": 16895,
    "fred/NAEXKP01KRQ189S.csv": 7066,
    "gravity/GEGravity_TradeData0014.rda": 64795,
    "gravity/dist_cepii.zip": 2102114,
    "gravity/geo_cepii.rda": 14068,
    "gravity/oecd_asia_rta_2010-2019.zip": 1751196,
    "gravity/penppml_countries.rda": 3316,
    "gravity/penppml_trade.rda": 989324,
    "published/benchmarks.csv": 3869,
    "published/ge_gravity_stata_results_TradeData0014.rda": 84710,
    "published/yotov2016/Chapter1Application1.dta": 3309443,
    "published/yotov2016/Chapter2Application2.dta": 3709529,
    "published/yotov2016/RTAsEffects.log": 334783,
    "worldbank/API_KOR_DS2_en_csv_v2_15934.csv": 991300,
    "worldbank/API_USA_DS2_en_csv_v2_3173.csv": 454506,
    "worldbank/Metadata_Country_API_KOR_DS2_en_csv_v2_15934.csv": 131,
    "worldbank/Metadata_Country_API_USA_DS2_en_csv_v2_3173.csv": 127,
    "worldbank/Metadata_Indicator_API_KOR_DS2_en_csv_v2_15934.csv": 1001064,
    "worldbank/Metadata_Indicator_API_USA_DS2_en_csv_v2_3173.csv": 1002378,
}


# ------------------------------------------------------------- pinned and locked vintages

#: The registry's own entries and sizes: the pinned vintages, whatever ``KORUS_VINTAGES`` says.
PINNED: dict[str, Source] = dict(SOURCES)
PINNED_SIZES: dict[str, int] = dict(SIZES)

#: Name of the lock file of newer vintages, at the project root (kept in git; absent until the
#: first ``korus-research fetch --update``).
LOCK_NAME = "data-vintages.lock.json"
LOCK_VERSION = 1
#: Values of ``KORUS_VINTAGES``: the registry's checksums (default) or the lock file's.
VINTAGE_MODES = ("pinned", "locked")
_LOCK_FIELDS = {"sha256": str, "bytes": int, "vintage": str, "retrieved_at": str, "url": str, "pinned_sha256": str}

#: Entries of the lock file in use (path -> entry), and what they replaced in SOURCES.
_APPLIED: dict[str, dict] = {}
_REPLACED: dict[str, tuple[Source, int | None]] = {}


def lock_path() -> Path:
    """The lock file: ``KORUS_VINTAGES_LOCK`` (relative: from the project root), else
    ``<project root>/data-vintages.lock.json``."""
    value = os.environ.get("KORUS_VINTAGES_LOCK")
    if not value:
        return config.PROJECT_ROOT / LOCK_NAME
    path = Path(value)
    return path if path.is_absolute() else config.PROJECT_ROOT / path


def vintages_mode() -> str:
    """``KORUS_VINTAGES``: ``pinned`` (the default, also when unset or empty) or ``locked``."""
    mode = os.environ.get("KORUS_VINTAGES", "").strip() or "pinned"
    if mode not in VINTAGE_MODES:
        raise ParameterError("KORUS_VINTAGES", mode, VINTAGE_MODES)
    return mode


def read_lock(path: Path | None = None) -> dict:
    """Read and check the lock file; an absent file is an empty lock.

    Returns
    -------
    dict
        ``{"version": 1, "files": {registry path: entry}}``; each entry holds ``sha256``,
        ``bytes``, ``vintage``, ``retrieved_at``, ``url``, ``pinned_sha256`` (the registry's
        checksum the release was compared with) and what else the update recorded.

    Raises
    ------
    DataError
        Naming the lock file and the field when it is not valid JSON of that form, names a
        file the registry does not know, or carries a malformed checksum.
    """
    path = Path(path or lock_path())
    if not path.exists():
        return {"version": LOCK_VERSION, "files": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(str(path), "(file)", f"not a readable JSON lock file: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION or not isinstance(data.get("files"), dict):
        raise DataError(str(path), "version", f"expected {{\"version\": {LOCK_VERSION}, \"files\": {{...}}}}")
    for name, entry in data["files"].items():
        if name not in PINNED:
            raise DataError(str(path), name, "the lock names a file that is not in the source registry")
        if not isinstance(entry, dict):
            raise DataError(str(path), name, "the entry is not an object")
        for field, kind in _LOCK_FIELDS.items():
            if not isinstance(entry.get(field), kind):
                raise DataError(str(path), f"{name}.{field}", f"missing or not a {kind.__name__}")
        for field in ("sha256", "pinned_sha256"):
            if not re.fullmatch(r"[0-9a-f]{64}", entry[field]):
                raise DataError(str(path), f"{name}.{field}", "not a hex sha256")
    return data


def pinned(path: str) -> Source:
    """The registry's own (pinned) entry of ``path``, whatever vintages are in use."""
    return _REPLACED[path][0] if path in _REPLACED else get(path)


def locked_files() -> dict[str, dict]:
    """The lock file's entries in use now (empty unless ``KORUS_VINTAGES=locked``)."""
    return dict(_APPLIED)


def checksum_from(path: str) -> str:
    """Where the checksum of ``path`` in use comes from: ``registry`` or ``lock file``."""
    return "lock file" if path in _APPLIED else "registry"


def use_vintages(mode: str | None = None, lock: Path | None = None) -> dict[str, dict]:
    """Put the pinned or the locked vintages in :data:`SOURCES` and :data:`SIZES`.

    Parameters
    ----------
    mode : {"pinned", "locked"}, optional
        Default :func:`vintages_mode` (``KORUS_VINTAGES``).
    lock : Path, optional
        The lock file (default :func:`lock_path`).

    Returns
    -------
    dict
        The lock entries now in use (empty for ``pinned``).

    Raises
    ------
    DataError
        When a lock entry was recorded against another pinned checksum than the registry's
        (the registry moved on: run ``korus-research fetch --update`` again).
    """
    mode = mode or vintages_mode()
    if mode not in VINTAGE_MODES:
        raise ParameterError("KORUS_VINTAGES", mode, VINTAGE_MODES)
    entries = read_lock(lock)["files"] if mode == "locked" else {}
    for name, entry in entries.items():
        if entry["pinned_sha256"] != pinned(name).sha256:
            raise DataError(str(lock or lock_path()), f"{name}.pinned_sha256",
                            f"the locked release was compared with sha256 {entry['pinned_sha256'][:12]}..., but the "
                            f"registry now pins {pinned(name).sha256[:12]}...: run `korus-research fetch --update {name}` again")
    for name in list(_APPLIED):
        source, size = _REPLACED.pop(name)
        SOURCES[name] = source
        if size is None:
            SIZES.pop(name, None)
        else:
            SIZES[name] = size
        del _APPLIED[name]
    for name, entry in entries.items():
        _REPLACED[name] = (SOURCES[name], SIZES.get(name))
        SOURCES[name] = dataclasses.replace(
            SOURCES[name], sha256=entry["sha256"], download_url=entry["url"],
            vintage=f"{entry['vintage']} release (locked, retrieved {entry['retrieved_at'][:10]})",
        )
        SIZES[name] = entry["bytes"]
        _APPLIED[name] = dict(entry)
    return locked_files()


use_vintages()
