"""Beyond the mirror: what the data the API clients fetch add to the study (notebook 08).

Three analyses, each run only on answers already cached in ``data/raw/`` by the clients of the
official APIs (this module never fetches; it finds what was fetched, checks each cached file
against its manifest record, and says what is missing and which command fetches it):

- **Mirror statistics** (:func:`cached_partner_reports`, :func:`mirror_chapters`,
  :func:`gap_accounting`): what the US reports importing from the partner (UN Comtrade, HS
  chapters, CIF: the mirror's ``comtrade_hs2``) against what the partner reports exporting to the
  US (UN Comtrade, partner-reported HS6 summed to chapters, FOB), and the other way round. The
  gap is split into freight and insurance, *measured* as the US's own CIF value over its customs
  value (Census), and a residual, which holds timing (goods in transit at the year's end),
  re-exports and origin attribution (the US records imports by country of origin, the partner
  its exports by destination) and other valuation differences (Hamanaka 2012; Javorsek 2016).
- **Preference use and the tariff-line difference-in-differences** (:func:`cached_tariff_lines`,
  :func:`preference_use`, :func:`tariff_panel`, :func:`tariff_did`): from USITC DataWeb lines,
  the share of imports eligible for the agreement's preference that entered under its program
  (KORUS ``KR``) by year, and a difference-in-differences of imports at HTS 10 digits with the
  line's tariff cut as treatment intensity and the same line's imports from third countries as
  the control: ``y_lot = a_lo + d_lt + g D_ot + b D_ot cut_l + e``, line-by-origin and
  line-by-year fixed effects, clustered by line (pyfixest ``feols`` on logs, ``fepois`` on
  levels; Santos Silva and Tenreyro 2006).
- **Services by type** (:func:`cached_services`, :func:`services_by_type`, :func:`stall_by_type`):
  BEA's trade in services with the partner by type, against the claim that US services exports
  "stalled" in the years after entry (2013-2016 for KORUS).

References
----------
Hamanaka, S. (2012). Whose trade statistics are correct? Multiple mirror comparison
    techniques: a test case of Cambodia. Journal of Economic Policy Reform 15(1), 33-56.
Javorsek, M. (2016). Asymmetries in international merchandise trade statistics: a case study of
    selected countries in Asia and the Pacific. ARTNeT Working Paper 156, UN ESCAP, Bangkok.
Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics and
    Statistics 88(4), 641-658.
Keck, A. and Lendle, A. (2012). New evidence on preference utilization. WTO Staff Working Paper
    ERSD-2012-12 (utilisation rate: imports under the preference over eligible imports).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .apiclient import Query
from .errors import DataError, EstimationError

BN = 1e9
PARTNER, THIRD = "partner", "third countries"
SECTIONS = {
    "mirror": "mirror statistics",
    "use": "preference utilisation",
    "did": "tariff-line difference-in-differences",
    "services": "services by type",
}
#: A chapter whose two reports are both below this (US$) is not read.
SMALL_USD = 1e6


# --------------------------------------------------------------------------- cached answers
@dataclass(frozen=True)
class CachedAnswer:
    """One API answer cached in ``data/raw/<client>/``, with the query it answers (read back from
    its manifest record: keys never appear there)."""

    client: str
    name: str                 # path relative to the raw folder (the manifest's key)
    path: Path
    method: str
    url: str
    params: dict
    body: dict | None
    sha256: str

    @property
    def query(self) -> Query:
        """The query as the client made it (for its parser's messages)."""
        return Query(self.client, self.url, "", dict(self.params), self.body, self.method)

    def payload(self):
        """The cached JSON, refused when its bytes no longer match the manifest's sha256."""
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise DataError(f"data/raw/{self.name}", "sha256", "the cached answer changed after it was fetched "
                            "(its sha256 differs from data/raw/MANIFEST.json): fetch it again")
        return json.loads(data)


_DESCRIBED = re.compile(r"^(?P<method>GET|POST) (?P<url>\S+?)(?: with JSON body (?P<body>\{.*\}))?"
                        r"(?: \[header [^\]]*\])*$", re.DOTALL)


def cached_answers(client: str, raw_dir: Path | None = None) -> list[CachedAnswer]:
    """Every answer of ``client`` (``census``, ``comtrade``, ``dataweb``) cached in ``raw_dir``
    (default ``data/raw``) and recorded in its manifest, with its query; nothing is fetched."""
    from .fetch import read_manifest

    raw = Path(raw_dir or config.data_raw())
    if not (raw / "MANIFEST.json").exists():
        return []
    out = []
    for name, record in sorted(read_manifest(raw).items()):
        if not name.startswith(f"{client}/") or not name.endswith(".json") or not (raw / name).exists():
            continue
        match = _DESCRIBED.match(str(record.get("source", "")))
        if match is None:
            continue
        address = urllib.parse.urlsplit(match["url"])
        params = dict(urllib.parse.parse_qsl(address.query, keep_blank_values=True))
        url = urllib.parse.urlunsplit(address._replace(query=""))
        body = json.loads(match["body"]) if match["body"] else None
        out.append(CachedAnswer(client, name, raw / name, match["method"], url, params, body,
                                str(record.get("sha256", ""))))
    return out


@dataclass
class Cached:
    """What a section found cached, and what it lacks.

    ``frame`` holds the parsed data (``None`` when nothing usable is cached), ``files`` the cached
    answers read, ``missing`` what is not cached and ``command`` how to fetch it.
    """

    section: str
    frame: pd.DataFrame | None
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    command: str = ""
    extra: dict = field(default_factory=dict)
    more: str = ""            # an optional further fetch (more control partners), when nothing is missing

    @property
    def ready(self) -> bool:
        return self.frame is not None and len(self.frame) > 0

    def reason(self) -> str:
        """The skip reason: what is missing and the command that fetches it."""
        return f"not cached in data/raw: {'; '.join(self.missing) or 'nothing usable'}; fetch with: {self.command}"

    def status(self) -> dict:
        fetch = self.command if self.missing or not self.ready else (self.more or "nothing to fetch")
        return {"section": self.section, "cached": "yes" if self.ready else "no",
                "answers read": len(self.files), "missing": "; ".join(self.missing) or "nothing",
                "command that fetches it": fetch}


def data_status(*cached: Cached) -> pd.DataFrame:
    """One row per section: cached or not, answers read, what is missing, the fetch command."""
    return pd.DataFrame([c.status() for c in cached]).set_index("section")


def _iso3_of_cty(code: str) -> str | None:
    from .census_api import CTY_CODES

    return next((iso for iso, cty in CTY_CODES.items() if cty == str(code)), None)


def _years_text(years: Iterable[int]) -> str:
    return " ".join(str(y) for y in sorted(set(years)))


# --------------------------------------------------------------------------- mirror statistics
def cached_partner_reports(partner: str, years: Iterable[int], raw_dir: Path | None = None) -> Cached:
    """The partner's own report of its trade with the US by HS6 (UN Comtrade, cached by
    :func:`korus_research.comtrade_api.fetch_hs6`) for ``years``: the data endpoint's answer when
    both it and the keyless preview's are cached for a year.

    ``frame``: ``reporter, partner, flow, hs6, year, value_usd, valuation, classification``
    (:data:`korus_research.comtrade_api.COMTRADE_HS6`) for the years found, or ``None``.
    """
    from .comtrade_api import M49, parse_hs6

    years = sorted({int(y) for y in years})
    reporter, usa = str(M49.get(partner, "")), str(M49["USA"])
    chosen: dict[int, CachedAnswer] = {}
    for answer in cached_answers("comtrade", raw_dir):
        p = answer.params
        if p.get("reporterCode") != reporter or p.get("partnerCode") != usa or p.get("cmdCode") != "AG6":
            continue
        year = int(p.get("period", 0) or 0)
        if year in years and (year not in chosen or "/data/" in answer.url):
            chosen[year] = answer
    frames = [parse_hs6(a.payload(), a.query, partner, "USA") for _, a in sorted(chosen.items())]
    missing = [y for y in years if y not in chosen]
    return Cached(
        SECTIONS["mirror"], pd.concat(frames, ignore_index=True) if frames else None,
        [a.name for _, a in sorted(chosen.items())],
        [f"UN Comtrade, {partner}-reported trade with the USA by HS6 for {_years_text(missing)}"] if missing else [],
        f"python -m korus_research.comtrade_api --reporter {partner} --years {_years_text(missing or years)} "
        "(with COMTRADE_API_KEY set: the keyless preview stops at 500 records)")


def partner_chapters(hs6: pd.DataFrame) -> pd.DataFrame:
    """The partner-reported HS6 lines summed to HS chapters: ``flow, year, hs2, value_usd`` (the
    partner's flows: ``export`` to the US FOB, ``import`` from the US CIF)."""
    rows = hs6[hs6["flow"].isin(["import", "export"])]
    out = rows.assign(hs2=rows["hs6"].str[:2]).groupby(["flow", "year", "hs2"], as_index=False)["value_usd"].sum()
    return out


def us_chapters(comtrade: pd.DataFrame, partner: str) -> pd.DataFrame:
    """US trade with ``partner`` by chapter as the US reports it (the mirror's ``comtrade_hs2``:
    imports CIF, exports FOB): ``flow, year, hs2, value_usd``."""
    rows = comtrade[(comtrade["partner_key"] == partner) & comtrade["flow"].isin(["import", "export"])
                    & comtrade["hs2"].notna()]
    return rows.groupby(["flow", "year", "hs2"], as_index=False)["value_usd"].sum()


#: The two comparisons: (direction, the CIF-valued report, the FOB-valued report), each a
#: (reporter, flow) pair of the inputs to :func:`mirror_chapters`.
DIRECTIONS = {
    "US imports from the partner": (("US", "import"), ("partner", "export")),
    "US exports to the partner": (("partner", "import"), ("US", "export")),
}


def freight_margin(comtrade: pd.DataFrame, annual: pd.DataFrame, partner: str, years: Iterable[int]) -> pd.Series:
    """Freight and insurance as a share of the customs value, measured on US imports from the
    partner: US-reported imports CIF (``comtrade_hs2``, every chapter) over the Census customs
    value of the same imports, less one, by year."""
    from .balance import partner_annual

    us = us_chapters(comtrade, partner)
    cif = us[us["flow"] == "import"].groupby("year")["value_usd"].sum() / BN
    customs = partner_annual(annual, partner)["imports_usd_bn"]
    years = [y for y in sorted(set(years)) if y in cif.index and y in customs.index]
    return (cif.reindex(years) / customs.reindex(years) - 1).rename("freight_margin")


def mirror_chapters(us: pd.DataFrame, reported: pd.DataFrame, margin: pd.Series) -> pd.DataFrame:
    """Each chapter's two reports, their gap and its reading, by direction and year.

    Parameters
    ----------
    us : DataFrame
        :func:`us_chapters` (US-reported).
    reported : DataFrame
        :func:`partner_chapters` (partner-reported).
    margin : Series
        :func:`freight_margin` by year: the share freight and insurance add to a FOB value.

    Returns
    -------
    DataFrame
        ``direction, year, hs2, cif_report_usd, fob_report_usd, gap_usd, gap_share, reading``:
        the gap is the CIF-valued report minus the FOB-valued one (US imports CIF minus partner
        exports FOB; partner imports CIF minus US exports FOB), so freight and insurance make it
        positive; ``gap_share`` is the gap over the FOB report. ``reading`` (:func:`gap_reading`)
        names what a gap of that sign and size most likely holds.
    """
    sources = {"US": us, "partner": reported}
    years = sorted(set(reported["year"]) & set(us["year"]) & set(margin.index))
    frames = []
    for direction, ((cif_who, cif_flow), (fob_who, fob_flow)) in DIRECTIONS.items():
        cif = sources[cif_who].loc[lambda f, flow=cif_flow: f["flow"] == flow].set_index(["year", "hs2"])["value_usd"]
        fob = sources[fob_who].loc[lambda f, flow=fob_flow: f["flow"] == flow].set_index(["year", "hs2"])["value_usd"]
        index = cif.index.union(fob.index)
        frame = pd.DataFrame({"cif_report_usd": cif.reindex(index, fill_value=0.0),
                              "fob_report_usd": fob.reindex(index, fill_value=0.0)}).reset_index()
        frame = frame[frame["year"].isin(years)]
        frames.append(frame.assign(direction=direction))
    out = pd.concat(frames, ignore_index=True)
    out["gap_usd"] = out["cif_report_usd"] - out["fob_report_usd"]
    out["gap_share"] = out["gap_usd"] / out["fob_report_usd"].where(out["fob_report_usd"] > 0)
    out["reading"] = gap_reading(out, margin)
    columns = ["direction", "year", "hs2", "cif_report_usd", "fob_report_usd", "gap_usd", "gap_share", "reading"]
    return out[columns].sort_values(["direction", "year", "hs2"]).reset_index(drop=True)


def gap_reading(chapters: pd.DataFrame, margin: pd.Series) -> pd.Series:
    """What each chapter's gap most likely holds, from its sign and size beside the measured
    freight and insurance margin ``m`` of its year:

    - both reports under US$1 million: ``too small to read``;
    - ``0 <= gap share <= 2 m``: ``valuation (CIF/FOB)``, freight and insurance;
    - ``gap share > 2 m``: ``origin attribution or timing``: the CIF report counts more than freight
      explains (goods of this origin shipped through third countries are the partner's imports for
      the US, which records origin; or goods shipped in December entered in January);
    - ``gap share < 0``: ``re-exports or timing``: the FOB report counts more (third-country goods
      the exporter re-ships, which the importer assigns to their origin; goods in transit at the
      year's end; goods declared for one destination and entered in another);
    - and ``, reverses between years: timing`` when the same chapter's gap beyond the margin changes
      sign between the years compared (a timing gap unwinds the next year).
    """
    m = chapters["year"].map(margin).astype(float)
    share = chapters["gap_share"]
    band = 2 * m.clip(lower=0.01)
    reading = pd.Series("", index=chapters.index, dtype=object)
    small = chapters[["cif_report_usd", "fob_report_usd"]].max(axis=1) < SMALL_USD
    reading[(share >= 0) & (share <= band)] = "valuation (CIF/FOB)"
    reading[share > band] = "origin attribution or timing"
    reading[share < 0] = "re-exports or timing"
    reading[chapters["fob_report_usd"] <= 0] = "reported by the CIF side only"
    reading[small] = "too small to read"
    # a gap beyond the margin, with its sign (none within the valuation band or unreadable)
    valuation = (share >= 0) & (share <= band)
    beyond = np.sign(share - m).where(~small & share.notna() & ~valuation)
    flips = (pd.DataFrame({"direction": chapters["direction"], "hs2": chapters["hs2"], "sign": beyond})
             .groupby(["direction", "hs2"])["sign"].transform(lambda s: s.dropna().nunique() > 1))
    flipped = flips.astype(bool) & ~small & beyond.notna()
    reading[flipped] = reading[flipped] + ", reverses between years: timing"
    return reading


def reading_summary(chapters: pd.DataFrame) -> pd.DataFrame:
    """Chapters and gap by reading (:func:`gap_reading`), per direction and year:
    ``direction, year, reading, chapters, gap_usd``."""
    return (chapters.groupby(["direction", "year", "reading"], as_index=False)
            .agg(chapters=("hs2", "size"), gap_usd=("gap_usd", "sum"))
            .sort_values(["direction", "year", "gap_usd"], ascending=[True, True, False]).reset_index(drop=True))


def gap_accounting(chapters: pd.DataFrame, annual: pd.DataFrame, partner: str, margin: pd.Series) -> pd.DataFrame:
    """The total gap of each direction and year split into freight and insurance and the rest.

    US imports: the US's CIF report minus the partner's FOB report = (CIF minus the Census customs
    value: freight and insurance, measured) + (customs value minus the partner's FOB: timing,
    re-exports and origin attribution, other valuation). US exports: the partner's CIF report
    minus the US's FOB report = freight and insurance (approximated with the import side's margin
    ``m``: ``CIF m / (1 + m)``) + the rest.

    Returns ``direction, year, item, usd_bn`` (items in order; the two parts add up to the gap).
    """
    from .balance import partner_annual

    census = partner_annual(annual, partner)
    rows = []
    order = {d: i for i, d in enumerate(DIRECTIONS)}
    groups = sorted(chapters.groupby(["direction", "year"]), key=lambda g: (order[g[0][0]], g[0][1]))
    for (direction, year), sub in groups:
        cif, fob = sub["cif_report_usd"].sum() / BN, sub["fob_report_usd"].sum() / BN
        m = float(margin.get(year, np.nan))
        if direction == "US imports from the partner":
            customs = float(census.loc[year, "imports_usd_bn"]) if year in census.index else np.nan
            freight, what = cif - customs, "freight and insurance (US CIF minus Census customs value, measured)"
            cif_label, fob_label = "US-reported imports (CIF)", f"{partner}-reported exports to the US (FOB)"
        else:
            freight, what = cif * m / (1 + m), "freight and insurance (at the import side's margin, approximated)"
            cif_label, fob_label = f"{partner}-reported imports from the US (CIF)", "US-reported exports (FOB)"
        gap = cif - fob
        rows += [(direction, year, cif_label, cif), (direction, year, fob_label, fob),
                 (direction, year, "gap (CIF report minus FOB report)", gap), (direction, year, what, freight),
                 (direction, year, "rest: timing, re-exports and origin attribution, other valuation", gap - freight)]
    return pd.DataFrame(rows, columns=["direction", "year", "item", "usd_bn"])


def accounting_table(accounting: pd.DataFrame) -> pd.DataFrame:
    """:func:`gap_accounting` with one column per year (US$ bn), the items in their order."""
    order = pd.MultiIndex.from_frame(accounting[["direction", "item"]].drop_duplicates())
    wide = accounting.pivot(index=["direction", "item"], columns="year", values="usd_bn").reindex(order)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


# --------------------------------------------------------------------------- tariff lines
#: The special program indicators of the US agreements in the HTSUS (General Note 3(c)(i)): what
#: the DataWeb ``program`` column holds for imports claiming each partner's agreement (NAFTA's
#: ``CA`` / ``MX`` and USMCA's ``S`` / ``S+`` for Canada and Mexico; CAFTA-DR's ``P`` / ``P+``).
PROGRAMS: dict[str, tuple[str, ...]] = {
    "KOR": ("KR",), "AUS": ("AU",), "BHR": ("BH",), "CHL": ("CL",), "COL": ("CO",), "ISR": ("IL",),
    "JOR": ("JO",), "MAR": ("MA",), "OMN": ("OM",), "PAN": ("PA",), "PER": ("PE",), "SGP": ("SG",),
    "CAN": ("CA", "S", "S+"), "MEX": ("MX", "S", "S+"),
    **dict.fromkeys(("SLV", "HND", "NIC", "GTM", "DOM", "CRI"), ("P", "P+")),
}


def cached_tariff_lines(partner: str, controls: Sequence[str], years: Iterable[int],
                        raw_dir: Path | None = None) -> tuple[Cached, Cached]:
    """USITC DataWeb tariff lines cached by :func:`korus_research.dataweb.fetch_tariff_lines`:
    the partner's (for preference use) and the control partners' (third countries, for the
    difference-in-differences).

    Every cached report of a country is read (several reports of one country, e.g. by chapter,
    are put together; a line repeated across them is kept once). ``years`` are those a fetch
    should ask for (the command shown).

    Returns
    -------
    (partner, controls) : Cached
        ``frame``: :data:`korus_research.dataweb.DATAWEB_TARIFF_LINES` rows. The controls'
        ``extra["partners"]`` lists the control partners found.
    """
    from .census_api import CTY_CODES
    from .dataweb import parse_report

    years = sorted({int(y) for y in years})
    by_country: dict[str, list] = {}
    files: dict[str, list[str]] = {}
    for answer in cached_answers("dataweb", raw_dir):
        countries = (((answer.body or {}).get("searchOptions") or {}).get("countries") or {}).get("countries") or []
        iso = _iso3_of_cty(countries[0]) if len(countries) == 1 else None
        if iso is None:
            continue
        by_country.setdefault(iso, []).append(parse_report(answer.payload(), answer.query.describe(), iso))
        files.setdefault(iso, []).append(answer.name)
    keys = ["hts10", "partner", "year", "program", "rate_provision"]

    def lines(iso: str) -> pd.DataFrame | None:
        if iso not in by_country:
            return None
        return pd.concat(by_country[iso], ignore_index=True).drop_duplicates(keys).reset_index(drop=True)

    span = _years_text(years)
    own = Cached(SECTIONS["use"], lines(partner), files.get(partner, []),
                 [] if partner in by_country else [f"USITC DataWeb tariff lines of imports from {partner}"],
                 f"DATAWEB_TOKEN=... python -m korus_research.dataweb --partner {partner} --years {span}")
    fetchable = [c for c in controls if c in CTY_CODES]
    found = [c for c in fetchable if c in by_country]
    absent = [c for c in fetchable if c not in by_country]
    missing = [] if found else [f"USITC DataWeb tariff lines of imports from a control partner ({', '.join(fetchable) or 'none fetchable'})"]
    if own.frame is None:
        missing = own.missing + missing
    loop = (f"for c in {' '.join(absent)}; do DATAWEB_TOKEN=... python -m korus_research.dataweb --partner $c "
            f"--years {span}; done") if absent else ""
    command = "; then ".join(c for c in (own.command if own.frame is None else "", loop if not found else "") if c)
    frame = pd.concat([lines(c) for c in found], ignore_index=True) if found else None
    third = Cached(SECTIONS["did"], frame if own.frame is not None else None, sum((files[c] for c in found), []),
                   missing, command or "nothing to fetch", extra={"partners": found, "absent": absent},
                   more=f"more control partners (optional): {loop}" if loop and found else "")
    return own, third


def eligible_lines(*frames: pd.DataFrame, programs: Sequence[str] = ("KR",)) -> set[str]:
    """HTS lines eligible for the preference: dutiable at the general (MFN) rate, seen as duties
    paid on entries that claimed no program (any origin, any year), or entered under one of
    ``programs`` at least once."""
    from .dataweb import NO_PROGRAM

    lines = pd.concat(frames, ignore_index=True)
    dutiable = lines[(lines["program"] == NO_PROGRAM) & (lines["calculated_duties_usd"] > 0)]["hts10"]
    claimed = lines[lines["program"].isin(list(programs)) & (lines["customs_value_usd"] > 0)]["hts10"]
    return set(dutiable) | set(claimed)


def preference_use(lines: pd.DataFrame, eligible: set[str], programs: Sequence[str] = ("KR",)) -> pd.DataFrame:
    """Preference use by year: imports, imports in eligible lines, imports entered under
    ``programs`` (the partner's :data:`PROGRAMS`), the utilisation rate (under the program over eligible; Keck and Lendle 2012),
    the program's share of all imports, duties collected and their rate.

    Returns a frame indexed by ``year`` (US$ and shares).
    """
    value = lines["customs_value_usd"]
    frame = lines.assign(eligible_usd=value.where(lines["hts10"].isin(eligible), 0.0),
                         under_program_usd=value.where(lines["program"].isin(list(programs)), 0.0))
    out = frame.groupby("year")[["customs_value_usd", "eligible_usd", "under_program_usd",
                                 "calculated_duties_usd"]].sum()
    out = out.rename(columns={"customs_value_usd": "imports_usd", "calculated_duties_usd": "duties_usd"})
    out["utilisation"] = out["under_program_usd"] / out["eligible_usd"].where(out["eligible_usd"] > 0)
    out["program_share_of_imports"] = out["under_program_usd"] / out["imports_usd"].where(out["imports_usd"] > 0)
    out["duty_rate"] = out["duties_usd"] / out["imports_usd"].where(out["imports_usd"] > 0)
    out.index = out.index.astype(int)
    return out


def tariff_cut(partner_lines: pd.DataFrame, control_lines: pd.DataFrame, entry_year: int) -> pd.Series:
    """Each line's tariff cut: its applied general (MFN) rate in the last year before entry, the
    rate the agreement removes: duties over customs value of the partner's entries under no program
    that year, else (no such entry) of the control partners' entries, which pay the same rate.

    Raises
    ------
    EstimationError
        When the lines hold no year before entry.
    """
    from .dataweb import NO_PROGRAM

    years = sorted(set(partner_lines["year"]) | set(control_lines["year"]))
    before = [y for y in years if y < entry_year]
    if not before:
        raise EstimationError(f"the tariff lines cover {years[0]}-{years[-1]}, no year before entry in {entry_year}: "
                              "the tariff cut (the rate before entry) cannot be measured")
    year = before[-1]

    def rate(lines):
        rows = lines[(lines["year"] == year) & (lines["program"] == NO_PROGRAM)]
        sums = rows.groupby("hts10")[["calculated_duties_usd", "customs_value_usd"]].sum()
        return (sums["calculated_duties_usd"] / sums["customs_value_usd"].where(sums["customs_value_usd"] > 0)).dropna()

    own, other = rate(partner_lines), rate(control_lines)
    cut = own.combine_first(other).rename("cut")
    cut.attrs["year"] = year
    return cut


def tariff_panel(partner_lines: pd.DataFrame, control_lines: pd.DataFrame, entry_year: int) -> pd.DataFrame:
    """The line x origin x year panel of the difference-in-differences.

    Origins: the partner, and the control partners together (``third countries``); every line
    with a measured cut (:func:`tariff_cut`) and imports from both origins in some year; every
    year both hold; imports summed over programs and rate provisions (missing = 0).

    Returns ``hts10, origin, year, imports_usd, cut, treated, post, treated_post,
    treated_post_cut`` (``post``: years from entry on).
    """
    cut = tariff_cut(partner_lines, control_lines, entry_year)
    years = sorted(set(partner_lines["year"]) & set(control_lines["year"]))
    if len(years) < 2 or not any(y < entry_year for y in years) or not any(y >= entry_year for y in years):
        raise EstimationError(f"the partner's and the controls' tariff lines share the years {years}: the "
                              f"difference-in-differences needs one before and one from entry in {entry_year}")
    values = []
    for origin, lines in ((PARTNER, partner_lines), (THIRD, control_lines)):
        sums = lines[lines["year"].isin(years)].groupby(["hts10", "year"])["customs_value_usd"].sum()
        values.append(sums.rename("imports_usd").reset_index().assign(origin=origin))
    long = pd.concat(values, ignore_index=True)
    both = long[long["imports_usd"] > 0].groupby("hts10")["origin"].nunique()
    lines_kept = sorted(set(both[both == 2].index) & set(cut.index))
    if not lines_kept:
        raise EstimationError("no tariff line has a measured cut and imports from both the partner and third countries")
    grid = pd.MultiIndex.from_product([lines_kept, [PARTNER, THIRD], years], names=["hts10", "origin", "year"])
    panel = (long.set_index(["hts10", "origin", "year"])["imports_usd"].reindex(grid, fill_value=0.0).reset_index())
    panel["cut"] = panel["hts10"].map(cut)
    panel["treated"] = (panel["origin"] == PARTNER).astype(float)
    panel["post"] = (panel["year"] >= entry_year).astype(float)
    panel["treated_post"] = panel["treated"] * panel["post"]
    panel["treated_post_cut"] = panel["treated_post"] * panel["cut"]
    panel.attrs.update(cut_year=cut.attrs["year"], entry_year=entry_year, years=years)
    return panel


def tariff_did(panel: pd.DataFrame, method: str = "ols", level: float = 0.95) -> pd.DataFrame:
    """The tariff-line difference-in-differences on :func:`tariff_panel`.

    ``y ~ treated_post + treated_post_cut | hts10^origin + hts10^year``, standard errors clustered
    by line; ``ols``: ``y = log(imports)`` (positive flows only); ``ppml``: ``y = imports`` (zeros
    kept). ``treated_post`` is the partner's change relative to third countries common to all
    lines; ``treated_post_cut`` the change per unit of tariff cut (a semi-elasticity: a cut of one
    percentage point changes imports by about ``b / 100`` log points).

    Returns
    -------
    DataFrame
        One row per term: ``method, term, estimate, se, ci_low, ci_high, p_value, nobs, lines``
        (the interval at ``level`` from pyfixest's ``tidy``). ``attrs``: ``nobs``, ``lines``,
        ``mean_cut``.

    Raises
    ------
    EstimationError
        An unknown method, or pyfixest cannot estimate the model (no variation left).
    """
    import pyfixest as pf

    data = panel.copy()
    data["unit"] = data["hts10"] + "|" + data["origin"]
    formula = "y ~ treated_post + treated_post_cut | unit + hts10^year"
    try:
        with warnings.catch_warnings():  # separation and singleton drops are reported in nobs
            warnings.simplefilter("ignore")
            if method == "ols":
                data = data[data["imports_usd"] > 0].assign(y=lambda f: np.log(f["imports_usd"]))
                fit = pf.feols(formula, data=data, vcov={"CRV1": "hts10"}, fixef_tol=1e-10)
            elif method == "ppml":
                data = data.assign(y=data["imports_usd"])
                fit = pf.fepois(formula, data=data, vcov={"CRV1": "hts10"}, fixef_tol=1e-10)
            else:
                raise EstimationError(f"method {method!r}: choose 'ols' or 'ppml'")
    except EstimationError:
        raise
    except Exception as exc:  # pyfixest's own errors (collinearity, nothing left to estimate)
        raise EstimationError(f"the tariff-line difference-in-differences ({method}) could not be estimated: "
                              f"{type(exc).__name__}: {exc}") from None
    tidy = fit.tidy(alpha=1 - level)
    low, high = tidy.columns[4], tidy.columns[5]
    nobs = len(fit.resid())
    n_lines = int(data["hts10"].nunique())
    rows = [{"method": method, "term": term, "estimate": float(tidy.loc[term, "Estimate"]),
             "se": float(tidy.loc[term, "Std. Error"]), "ci_low": float(tidy.loc[term, low]),
             "ci_high": float(tidy.loc[term, high]), "p_value": float(tidy.loc[term, "Pr(>|t|)"]),
             "nobs": nobs, "lines": n_lines} for term in ("treated_post", "treated_post_cut") if term in tidy.index]
    out = pd.DataFrame(rows)
    out.attrs.update(nobs=nobs, lines=n_lines, mean_cut=float(panel.drop_duplicates("hts10")["cut"].mean()))
    return out


#: What each term of :func:`tariff_did` measures (for tables).
TERMS = {"treated_post": "partner x after entry (common to all lines)",
         "treated_post_cut": "partner x after entry x tariff cut (per unit of cut)"}


def did_bins(panel: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """The difference-in-differences by size of cut, for the figure: lines in ``bins`` quantile
    bins of their cut; per bin the mean cut and the mean over lines of the change in log imports
    (mean after entry minus mean before) of the partner minus that of third countries (lines with
    imports from both origins in every year)."""
    positive = panel[panel["imports_usd"] > 0]
    full = positive.groupby("hts10")["year"].count() == panel.groupby("hts10")["year"].count()
    data = positive[positive["hts10"].isin(full[full].index)].assign(y=lambda f: np.log(f["imports_usd"]))
    means = data.groupby(["hts10", "origin", "post"])["y"].mean().unstack("post")
    change = (means[1.0] - means[0.0]).unstack("origin")
    did = (change[PARTNER] - change[THIRD]).rename("did_log_points")
    cut = panel.drop_duplicates("hts10").set_index("hts10")["cut"].reindex(did.index)
    codes = pd.qcut(cut.rank(method="first"), q=min(bins, len(cut)), labels=False)
    out = pd.DataFrame({"cut": cut, "did_log_points": did, "bin": codes}).groupby("bin").agg(
        mean_cut=("cut", "mean"), did_log_points=("did_log_points", "mean"), lines=("cut", "size"))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- services
def cached_services(area: str, partner: str, raw_dir: Path | None = None) -> Cached:
    """BEA's services trade with the partner (``IntlServTrade`` for ``area``, cached by
    :func:`korus_research.services.fetch_services`), parsed by
    :func:`korus_research.services.parse_services`; never fetched here."""
    from .services import _cache_path, parse_services

    raw = Path(raw_dir or config.data_raw())
    command = (f"BEA_API_KEY=... python -c \"from korus_research import services; "
               f"services.fetch_services('{area}')\"") if area else "no BEA area for this partner (tables/partner_data.csv)"
    if not area:
        return Cached(SECTIONS["services"], None, [], [f"a BEA area for {partner}"], command)
    path = _cache_path(area, raw)
    if not path.exists():
        return Cached(SECTIONS["services"], None, [],
                      [f"BEA services trade with {area!r} ({path.relative_to(raw)})"], command)
    return Cached(SECTIONS["services"], parse_services(json.loads(path.read_text())), [str(path.relative_to(raw))], [],
                  command)


TOTAL_SERVICES = "AllServiceTypes"


def services_by_type(table: pd.DataFrame, affiliation: str = "AllAffiliations") -> pd.DataFrame:
    """Exports and imports by type of service and year (US$ bn), from
    :func:`korus_research.services.parse_services`, for one affiliation (``AllAffiliations`` when
    present, else the first there is: ``attrs["affiliation"]``).

    Returns ``type_of_service, direction, year, usd_bn`` (directions ``Exports``, ``Imports``).
    Types are as BEA names them; a type and its sub-types may both appear (no sum is taken).
    """
    kinds = sorted(set(table["affiliation"]))
    chosen = affiliation if affiliation in kinds else kinds[0]
    rows = table[(table["affiliation"] == chosen) & table["direction"].isin(["Exports", "Imports"])]
    out = (rows.groupby(["type_of_service", "direction", "year"], as_index=False)["value_usd_mn"].sum()
           .assign(usd_bn=lambda f: f.pop("value_usd_mn") / 1e3))
    out["year"] = out["year"].astype(int)
    out.attrs["affiliation"] = chosen
    return out


def stall_by_type(by_type: pd.DataFrame, start: int, end: int, tolerance: float = 0.05) -> pd.DataFrame:
    """For each type and direction, the growth from ``start`` to ``end`` and whether it
    "stalled" (:func:`korus_research.services.stalled`: growth within ``tolerance`` of zero),
    the total (``AllServiceTypes``) first, then the types by their value in ``start``."""
    from .services import stalled

    rows = []
    for (kind, direction), sub in by_type.groupby(["type_of_service", "direction"]):
        series = sub.set_index("year")["usd_bn"]
        verdict = stalled(series, start, end, tolerance)
        years = verdict["years"]
        rows.append({"type_of_service": kind, "direction": direction,
                     "first_year": years[0] if years else np.nan, "last_year": years[-1] if years else np.nan,
                     "value_first_usd_bn": series.get(years[0], np.nan) if years else np.nan,
                     "value_last_usd_bn": series.get(years[-1], np.nan) if years else np.nan,
                     "growth": verdict["growth"], "stalled": verdict["stalled"]})
    out = pd.DataFrame(rows)
    out["order"] = np.where(out["type_of_service"] == TOTAL_SERVICES, 0, 1)
    out = out.sort_values(["direction", "order", "value_first_usd_bn"], ascending=[True, True, False])
    return out.drop(columns="order").reset_index(drop=True)


# --------------------------------------------------------------------------- figures
def _source_footer(fig, text: str) -> None:
    from .plots import add_footer

    add_footer(fig, f"Source: {text}.", "source")


def mirror_figure(chapters: pd.DataFrame, partner: str, year: int, top: int = 12):
    """US imports from the partner by chapter as each side reports them, the ``top`` chapters of
    ``year`` by the larger report (horizontal bars, US$ bn)."""
    import matplotlib.pyplot as plt

    from .plots import legend_below, wrap

    sub = chapters[(chapters["direction"] == "US imports from the partner") & (chapters["year"] == year)].copy()
    sub["size"] = sub[["cif_report_usd", "fob_report_usd"]].max(axis=1)
    sub = sub.nlargest(top, "size").iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(sub) + 2.2), layout="constrained")
    y = np.arange(len(sub))
    ax.barh(y + 0.2, sub["cif_report_usd"] / BN, height=0.4, label="US-reported imports (CIF)", color="#1f4e79")
    ax.barh(y - 0.2, sub["fob_report_usd"] / BN, height=0.4, label=f"{partner}-reported exports to the US (FOB)",
            color="#e69f00")
    ax.set_yticks(y, [f"ch. {c}" for c in sub["hs2"]])
    ax.set_xlabel("US$ bn")
    ax.set_title(wrap(f"US imports from {partner} by HS chapter, {year}: the two reports", 70))
    legend_below(fig, [ax])
    _source_footer(fig, f"UN Comtrade, US-reported (mirror file, comtrade_hs2) and {partner}-reported "
                        "(UN Comtrade API, cached in data/raw/comtrade)")
    return fig


def utilisation_figure(use: pd.DataFrame, partner: str, programs: Sequence[str], entry_year: int):
    """Preference utilisation by year (share of eligible imports entering under the program)."""
    import matplotlib.pyplot as plt

    from .plots import year_axis

    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    ax.plot(use.index, use["utilisation"] * 100, marker="o", color="#1f4e79")
    ax.axvline(entry_year - 0.5, color="grey", linestyle="--", linewidth=1)
    ax.text(entry_year - 0.4, 2, "entry", color="grey")
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"imports under {'/'.join(programs)}, % of eligible imports")
    ax.set_title(f"Preference utilisation: US imports from {partner}")
    year_axis(ax)
    _source_footer(fig, "USITC DataWeb, imports for consumption by HTS 10-digit line and program (cached in "
                        "data/raw/dataweb)")
    return fig


def did_figure(bins: pd.DataFrame, result: pd.DataFrame, partner: str):
    """The difference-in-differences by size of cut (:func:`did_bins`) with the OLS line
    ``g + b cut`` of :func:`tariff_did`."""
    import matplotlib.pyplot as plt

    from .plots import legend_below, wrap

    fig, ax = plt.subplots(figsize=(8, 5.2), layout="constrained")
    ax.scatter(bins["mean_cut"] * 100, bins["did_log_points"], color="#1f4e79", label="lines binned by cut (means)")
    est = result.set_index("term")["estimate"]
    if {"treated_post", "treated_post_cut"} <= set(est.index):
        x = np.linspace(0, max(float(bins["mean_cut"].max()), 1e-3), 50)
        ax.plot(x * 100, est["treated_post"] + est["treated_post_cut"] * x, color="#e69f00",
                label="difference-in-differences (OLS)")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("tariff cut (the general rate before entry), percentage points")
    ax.set_ylabel(wrap("change in log imports, partner minus third countries", 34))
    ax.set_title(wrap(f"US imports from {partner} against third countries, by size of tariff cut", 60))
    legend_below(fig, [ax])
    _source_footer(fig, "USITC DataWeb, imports for consumption by HTS 10-digit line, program and partner (cached in "
                        "data/raw/dataweb)")
    return fig


def services_figure(by_type: pd.DataFrame, partner: str, window: tuple[int, int], top: int = 6):
    """US services exports to the partner by type (the ``top`` types by their largest value, and
    the total), the stall window shaded."""
    import matplotlib.pyplot as plt

    from .plots import legend_below, wrap, year_axis

    exports = by_type[by_type["direction"] == "Exports"].pivot_table(index="year", columns="type_of_service",
                                                                       values="usd_bn")
    kinds = [c for c in exports.max().sort_values(ascending=False).index if c != TOTAL_SERVICES][:top]
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    if TOTAL_SERVICES in exports:
        ax.plot(exports.index, exports[TOTAL_SERVICES], color="black", linewidth=2.2, label="all services")
    for kind in kinds:
        ax.plot(exports.index, exports[kind], marker=".", label=wrap(kind, 30))
    ax.axvspan(window[0], window[1], color="#dddddd", alpha=0.6, label=f"{window[0]}-{window[1]}")
    ax.set_ylabel("US$ bn")
    ax.set_title(f"US services exports to {partner} by type")
    year_axis(ax)
    legend_below(fig, [ax])
    _source_footer(fig, "BEA, International Services (IntlServTrade), cached in data/raw/bea")
    return fig


# --------------------------------------------------------------------------- what this shows
def _bn(value: float) -> str:
    return f"{value:+.1f} bn" if np.isfinite(value) else "n/a"


def findings(partner: str, skipped: dict[str, str], accounting: pd.DataFrame | None = None,
             use: pd.DataFrame | None = None, did: pd.DataFrame | None = None,
             stall: pd.DataFrame | None = None, programs: Sequence[str] = ("KR",), window: tuple[int, int] | None = None) -> list[str]:
    """The closing sentences of notebook 08, written from its numbers: one or two per section that
    ran, and one listing the sections that could not (``skipped``: section -> reason)."""
    out = []
    if accounting is not None and len(accounting):
        imports = accounting[accounting["direction"] == "US imports from the partner"]
        for year, sub in imports.groupby("year"):
            items = sub.set_index("item")["usd_bn"]
            gap = items["gap (CIF report minus FOB report)"]
            freight = items.filter(like="freight").iloc[0]
            rest = items.filter(like="rest:").iloc[0]
            out.append(f"In {year} the US reported {_bn(gap).lstrip('+')} more imports from {partner} than {partner} reported "
                       f"exporting to the US: freight and insurance {_bn(freight)}, the rest {_bn(rest)} "
                       "(timing, re-exports and origin attribution, other valuation)." if gap >= 0 else
                       f"In {year} {partner} reported {_bn(-gap).lstrip('+')} more exports to the US than the US reported "
                       f"importing: freight and insurance {_bn(freight)} are outweighed by the rest {_bn(rest)} "
                       "(re-exports, timing, origin attribution).")
    if use is not None and len(use) and use["utilisation"].notna().any():
        last = use["utilisation"].dropna()
        year = int(last.index[-1])
        out.append(f"In {year}, {last.iloc[-1]:.0%} of US imports from {partner} in lines eligible for the preference "
                   f"entered under {'/'.join(programs)} ({use.loc[year, 'under_program_usd'] / BN:.1f} bn of "
                   f"{use.loc[year, 'eligible_usd'] / BN:.1f} bn); duties collected were "
                   f"{use.loc[year, 'duty_rate']:.2%} of all imports from {partner} that year.")
    if did is not None and len(did):
        for method, sub in did.groupby("method", sort=False):
            row = sub.set_index("term")
            if "treated_post_cut" not in row.index:
                continue
            b, lo, hi = (row.loc["treated_post_cut", c] for c in ("estimate", "ci_low", "ci_high"))
            sign = "excludes" if lo > 0 or hi < 0 else "includes"
            out.append(f"Tariff lines ({method.upper()}): per percentage point of tariff cut, imports from {partner} "
                       f"changed by {b / 100:+.3f} log points relative to the same lines from third countries "
                       f"(95% CI {lo / 100:+.3f} to {hi / 100:+.3f}, which {sign} zero; {int(row['lines'].iloc[0])} lines).")
    if stall is not None and len(stall) and window is not None:
        exports = stall[stall["direction"] == "Exports"]
        total = exports[exports["type_of_service"] == TOTAL_SERVICES]
        if len(total) and np.isfinite(total["growth"].iloc[0]):
            verdict = "stalled (within 5% of zero)" if total["stalled"].iloc[0] else "did not stall by a 5% criterion"
            out.append(f"BEA: US services exports to {partner} grew {total['growth'].iloc[0]:+.1%} from "
                       f"{int(total['first_year'].iloc[0])} to {int(total['last_year'].iloc[0])}: they {verdict}.")
        kinds = exports[(exports["type_of_service"] != TOTAL_SERVICES) & exports["growth"].notna()]
        if len(kinds):
            fell = kinds.nsmallest(1, "growth").iloc[0]
            rose = kinds.nlargest(1, "growth").iloc[0]
            out.append(f"By type, {fell['type_of_service']} changed most downwards ({fell['growth']:+.0%}) and "
                       f"{rose['type_of_service']} most upwards ({rose['growth']:+.0%}) over {window[0]}-{window[1]}.")
    if skipped:
        out.append("Not run, for lack of cached data: " + "; ".join(
            f"{section} ({reason.split('; fetch with:')[0].removeprefix('not cached in data/raw: ')})"
            for section, reason in skipped.items()) + ". The fetch commands are in the skip lines above; "
            "the notebook never fetches.")
    if not out:
        out.append("No section had data to run.")
    return out

