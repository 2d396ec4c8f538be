"""Build every processed table in ``data/processed/`` from the raw files in ``data/raw/``.

Each builder reads registered raw files (fetched and verified by
:mod:`korus_research.fetch`), parses them (:mod:`korus_research.parsers`) and writes
validated parquet tables (:func:`korus_research.io.write_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, io, parsers
from .errors import DataError

COUNTRY = "census/country.xlsx"
COUNTRY_OLD = "census/country_vintage-2024-06.xlsx"
ENDUSE = "census/enduse_imports.xlsx"
COMTRADE_NEW = "comtrade/US_Trade_HS2_2010-2019.RData"
COMTRADE_OLD = "comtrade/US_Trade_HS2_2007-2013_vintage2015.RData"
FX_FILES = ["fred/EXKOUS_1981-04_2020-03.csv", "fred/EXKOUS_2015-01_2024-12.csv"]
FRED_MACRO = {
    "fred/GDP.csv": ("$ billion, SAAR", "quarterly"),
    "fred/GDPC1.csv": ("chained 2012 $ billion, SAAR", "quarterly"),
    "fred/GDPDEF.csv": ("index 2012=100", "quarterly"),
    "fred/NAEXKP01KRQ189S.csv": ("KRW, SA", "quarterly"),
    "fred/KORCPIALLMINMEI.csv": ("index 2015=100", "monthly"),
}
BIS = "bis/broad.xlsx"
WORLDBANK = ["worldbank/API_KOR_DS2_en_csv_v2_15934.csv", "worldbank/API_USA_DS2_en_csv_v2_3173.csv"]
BENCHMARKS = "published/benchmarks.csv"

#: Year from which the newer Comtrade extract (2020) replaces the older one (2015).
COMTRADE_SWITCH_YEAR = 2010


def verify_raw(raw_dir: Path) -> None:
    """Check every registered raw file present in ``raw_dir`` against the registry's size and
    sha256.

    Raises
    ------
    DataError
        Naming the file (and what differs) when a raw file was edited, truncated or replaced
        since it was fetched; ``make data`` restores it from the mirror or the source.
    """
    from . import registry
    from .fetch import sha256_of

    for path, source in registry.SOURCES.items():
        full = raw_dir / path
        if not full.exists():
            continue
        size, expected = full.stat().st_size, registry.SIZES.get(path)
        if expected is not None and size != expected:
            raise DataError(f"data/raw/{path}", "bytes", f"{size:,} bytes, the registry expects {expected:,}: the file "
                            "changed since it was fetched; `make data` restores it")
        digest = sha256_of(full)
        if digest != source.sha256:
            raise DataError(f"data/raw/{path}", "sha256", f"{digest[:12]}..., the registry expects "
                            f"{source.sha256[:12]}...: the file changed since it was fetched; `make data` restores it")


def _raw(path: str, raw_dir: Path) -> Path:
    full = raw_dir / path
    if not full.exists():
        raise FileNotFoundError(f"data/raw/{path} not found; run `make data` (korus-research fetch)")
    return full


def build_census(raw_dir: Path, out: Path) -> None:
    """census_monthly, census_annual: both Census vintages stacked, keyed by ``vintage``."""
    monthly, annual = [], []
    for path in (COUNTRY, COUNTRY_OLD):
        m, a = parsers.parse_census_country(_raw(path, raw_dir), file=path)
        monthly.append(m)
        annual.append(a)
    io.write_table("census_monthly", pd.concat(monthly, ignore_index=True), out)
    io.write_table("census_annual", pd.concat(annual, ignore_index=True), out)


def build_enduse(raw_dir: Path, out: Path) -> None:
    io.write_table("enduse_imports", parsers.parse_enduse_imports(_raw(ENDUSE, raw_dir), file=ENDUSE), out)


def harmonise_comtrade(new: pd.DataFrame, old: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack the two Comtrade vintages and compare them where they overlap.

    Vintage rule: the 2020 extract is used from :data:`COMTRADE_SWITCH_YEAR` on (it is
    later, carries codes and covers all years to 2019); the 2015 extract only for
    2007-2009. In the overlap 2010-2013 both are compared partner by partner and flow by
    flow (``comtrade_vintage_overlap``), so that revisions are visible.

    Returns
    -------
    table, overlap : DataFrame
    """
    stacked = pd.concat([old[old["year"] < COMTRADE_SWITCH_YEAR], new], ignore_index=True)
    stacked["basis"] = np.where(stacked["flow"] == "import", "CIF", "FOB")
    years = sorted(set(old["year"]) & set(new["year"]))
    keys = ["year", "flow", "partner_key"]
    a = old[old["year"].isin(years)].groupby(keys)["value_usd"].sum().rename("value_usd_vintage2015")
    b = new[new["year"].isin(years)].groupby(keys)["value_usd"].sum().rename("value_usd_vintage2020")
    overlap = pd.concat([a, b], axis=1).reset_index()
    overlap["difference_usd"] = overlap["value_usd_vintage2020"] - overlap["value_usd_vintage2015"]
    overlap["relative_difference"] = overlap["difference_usd"] / overlap["value_usd_vintage2015"].replace(0, np.nan)
    return stacked, overlap


def build_comtrade(raw_dir: Path, out: Path) -> None:
    """comtrade_hs2, comtrade_vintage_overlap, comtrade_chapter_matches."""
    new = parsers.parse_comtrade_2010_2019(_raw(COMTRADE_NEW, raw_dir), file=COMTRADE_NEW)
    old, matches = parsers.parse_comtrade_2007_2013(_raw(COMTRADE_OLD, raw_dir), new, file=COMTRADE_OLD)
    table, overlap = harmonise_comtrade(new, old)
    io.write_table("comtrade_chapter_matches", matches, out)
    io.write_table("comtrade_vintage_overlap", overlap, out)
    io.write_table("comtrade_hs2", table, out)


def splice_series(frames: list[pd.DataFrame], files: list[str], tolerance: float = 1e-6) -> pd.DataFrame:
    """Splice vintages of one series: later files win; overlaps must agree within ``tolerance``.

    Raises
    ------
    DataError
        Naming the files and the dates where two vintages disagree.
    """
    out = None
    for frame, file in zip(frames, files, strict=False):
        frame = frame.assign(source_file=file)
        if out is None:
            out = frame
            continue
        both = out.merge(frame, on="date", suffixes=("_a", "_b"))
        bad = (both["value_a"] - both["value_b"]).abs() > tolerance * both["value_a"].abs().clip(lower=1)
        if bad.any():
            raise DataError(
                f"{out['source_file'].iloc[-1]} vs {file}", "value",
                "vintages disagree on their overlap", both.loc[bad, "date"].dt.strftime("%Y-%m-%d").tolist(),
            )
        out = pd.concat([out[~out["date"].isin(frame["date"])], frame], ignore_index=True)
    return out.sort_values("date").reset_index(drop=True)


def build_fx(raw_dir: Path, out: Path) -> None:
    """fx_krw_usd_monthly (the two FRED EXKOUS vintages spliced) and fx_krw_usd_annual."""
    frames = [parsers.parse_fred(_raw(f, raw_dir), file=f) for f in FX_FILES]
    spliced = splice_series(frames, FX_FILES)
    monthly = spliced.rename(columns={"value": "krw_per_usd"})[["date", "krw_per_usd", "source_file"]]
    io.write_table("fx_krw_usd_monthly", monthly, out)
    annual = (monthly.assign(year=monthly["date"].dt.year.astype("int64")).groupby("year")["krw_per_usd"]
              .agg(["mean", "size"]).reset_index().rename(columns={"mean": "krw_per_usd", "size": "months"}))
    annual = annual[annual["months"] == 12].astype({"months": "int64"})  # only complete years: a partial year's mean is another quantity
    io.write_table("fx_krw_usd_annual", annual, out)


def build_macro(raw_dir: Path, out: Path) -> None:
    frames = []
    for path, (unit, freq) in FRED_MACRO.items():
        frames.append(parsers.parse_fred(_raw(path, raw_dir), file=path).assign(unit=unit, frequency=freq))
    io.write_table("fred_macro", pd.concat(frames, ignore_index=True), out)
    io.write_table("bis_eer_monthly", parsers.parse_bis_eer(_raw(BIS, raw_dir), file=BIS), out)
    wb = pd.concat([parsers.parse_worldbank(_raw(f, raw_dir), file=f) for f in WORLDBANK], ignore_index=True)
    io.write_table("worldbank_indicators", wb, out)


def build_benchmarks(raw_dir: Path, out: Path) -> None:
    io.write_table("benchmarks", parsers.parse_benchmarks(_raw(BENCHMARKS, raw_dir), file=BENCHMARKS), out)


def build_gravity(raw_dir: Path, out: Path) -> None:
    """gravity_dta, gravity_wiod, gravity_oecd, cepii_dist."""
    files = {"dta": "gravity/penppml_trade.rda", "wiod": "gravity/GEGravity_TradeData0014.rda",
             "oecd": "gravity/oecd_asia_rta_2010-2019.zip", "dist": "gravity/dist_cepii.zip"}
    io.write_table("gravity_dta", parsers.parse_penppml_trade(_raw(files["dta"], raw_dir), file=files["dta"]), out)
    io.write_table("gravity_wiod", parsers.parse_wiod_gravity(_raw(files["wiod"], raw_dir), file=files["wiod"]), out)
    io.write_table("gravity_oecd", parsers.parse_oecd_rta(_raw(files["oecd"], raw_dir), file=files["oecd"]), out)
    io.write_table("cepii_dist", parsers.parse_cepii_dist(_raw(files["dist"], raw_dir), file=files["dist"]), out)


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "census": build_census,
    "enduse": build_enduse,
    "comtrade": build_comtrade,
    "fx": build_fx,
    "macro": build_macro,
    "benchmarks": build_benchmarks,
    "gravity": build_gravity,
}


def prepare(
    steps: Iterable[str] | None = None,
    raw_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> None:
    """Run the builders (all by default), showing progress. Every raw file is verified
    against the registry (size and sha256) first, so an edited raw file never reaches a
    processed table."""
    raw_dir = Path(raw_dir or config.data_raw())
    out_dir = Path(out_dir or config.data_processed())
    steps = list(steps or BUILDERS)
    unknown = sorted(set(steps) - set(BUILDERS))
    if unknown:
        raise KeyError(f"unknown prepare step(s) {unknown}; known: {list(BUILDERS)}")
    verify_raw(raw_dir)
    iterator = steps
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(steps, desc="prepare", unit="table group")
    for step in iterator:
        BUILDERS[step](raw_dir, out_dir)
