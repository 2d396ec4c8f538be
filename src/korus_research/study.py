"""The declared study: one partner, one agreement, one pair of years, one set of windows.

Every notebook builds the same :class:`Study` from its ``parameters`` cell
(``Study.build(partner, entry=..., base_year=..., compare_year=..., controls=...)``), and
every number it saves is stored under that study's id (:mod:`korus_research.results`).
Nothing about a partner is decided by ``if partner == ...`` in the code: what the data
hold for a partner (bilateral exchange rate, partner demand series, BIS code, BEA area)
is read from the documented table ``tables/partner_data.csv`` (:func:`capabilities`).

Rules that derive the defaults
------------------------------
- **Entry into force**: the partner's first US agreement in :mod:`korus_research.agreements`
  that entered into force before :data:`LAST_ENTRY_YEAR` (USTR dates); ``entry`` overrides it
  (a *hypothetical* date for a partner without an agreement).
- **Base year**: the last full calendar year before the entry into force (the year before
  the year of entry); **compare year**: four years after the year of entry. Korea: entry
  2012-03-15 gives 2011 and 2016. Both are clipped to the complete years of the Census
  table (:data:`DATA_YEARS`), with a note. Without an agreement and without ``entry``:
  :data:`NO_AGREEMENT_YEARS`.
- **Entry period of a panel** (:func:`entry_period`): the treatment starts in the first
  period of the panel that contains the entry date (annual: the year of entry; monthly:
  the month of entry) or, for panels observed only every few years (the 4-yearly DTA waves,
  the WIOD years), in the first observed year at or after the year of entry. US-Australia
  (2005-01-01) is in force from 2005 in annual panels and from the 2008 wave of the DTA panel.
- **Partner-level panel** (event study, synthetic control): the Census years from
  ``entry - 12`` to ``entry + 12``, clipped to 1985 and 2019 (pre-pandemic): 2000-2019 for Korea.
- **Control group**: the 30 largest US partners in the base year with no US agreement entering
  into force from the start of the event window (entry - 5) to the end of the panel.

References
----------
USTR, "Free Trade Agreements" (dates of entry into force of each agreement).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import pandas as pd

from . import agreements
from .errors import ParameterError

#: First and last year of each data source (complete years), checked against the processed
#: tables by ``tests/test_study.py``.
DATA_YEARS: dict[str, tuple[int, int]] = {
    "census": (1985, 2025),           # census_annual, latest release, 12 months reported
    "comtrade": (2007, 2019),         # comtrade_hs2 (HS 2-digit by partner)
    "enduse": (2016, 2025),           # enduse_imports
    "macro": (1990, 2019),            # estimation sample of the trade equations
}
#: Years observed in each gravity panel and the panel's frequency.
GRAVITY_PANELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "gravity_dta": ("waves", tuple(range(1964, 2017, 4))),
    "gravity_oecd": ("annual", tuple(range(2010, 2020))),
    "gravity_wiod": ("waves", (2000, 2005, 2010, 2014)),
}
#: Agreements entering into force from this year on are outside the study period (2020 on:
#: USMCA, US-Japan) and are not looked up as a partner's default agreement.
LAST_ENTRY_YEAR = 2019
#: Base and compare years of a study with no agreement and no hypothetical entry date.
NO_AGREEMENT_YEARS = (2011, 2016)
#: The study that ``make`` builds and ``reports/index.html`` shows.
DEFAULT_PARTNER = "KOR"
#: Event window (first and last event year, endpoints binned).
EVENT_WINDOW = (-5, 4)
#: Partner-level panel: years either side of the entry year, and the last year used.
PANEL_HALF_WIDTH = 12
PANEL_LAST_YEAR = 2019

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO3 = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Capabilities:
    """What the data hold for a partner (from ``tables/partner_data.csv``)."""

    name: str
    bis_code: str = ""          # ISO2 code of the partner's BIS real effective exchange rate (RB<code>)
    bea_area: str = ""          # BEA International Services AreaOrCountry
    fx_table: str = ""          # processed table with the partner currency per USD
    demand_series: str = ""     # "fred:<id>" or "worldbank:<indicator>" real GDP series
    demand_frequency: str = ""  # frequency of the demand series
    note: str = ""

    @property
    def bilateral_fx(self) -> bool:
        return bool(self.fx_table)

    @property
    def partner_demand(self) -> bool:
        return bool(self.demand_series)


@lru_cache(maxsize=1)
def partner_table() -> pd.DataFrame:
    """The documented table of partner data capabilities (``tables/partner_data.csv``)."""
    with resources.files("korus_research").joinpath("tables/partner_data.csv").open() as fh:
        table = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return table.set_index("iso3")


def capabilities(partner: str) -> Capabilities:
    """The partner's row of the table; a partner not listed gets the default rule: its ISO2
    code as BIS code (used only if the BIS table has it), no bilateral rate, no demand series."""
    table = partner_table()
    if partner in table.index:
        row = table.loc[partner]
        return Capabilities(**{f.name: row[f.name] for f in dataclasses.fields(Capabilities)})
    from .partners import _converter

    conv = _converter()
    iso2 = conv.convert(partner, src="ISO3", to="ISO2", not_found=None)
    name = conv.convert(partner, src="ISO3", to="name_short", not_found=None)
    return Capabilities(name=str(name or partner), bis_code=iso2 if isinstance(iso2, str) else "",
                        note="not in partner_data.csv: default rule")


@lru_cache(maxsize=1)
def census_partners() -> frozenset[str] | None:
    """ISO3 codes of the countries in the processed Census table (``None`` before it is built)."""
    from . import config

    path = config.data_processed() / "census_annual.parquet"
    if not path.exists():
        return None
    table = pd.read_parquet(path, columns=["iso3", "partner_kind"])
    return frozenset(table.loc[table["partner_kind"] == "country", "iso3"].dropna())


def _check_in_census(name: str, value, codes: list[str]) -> None:
    known = census_partners()
    if known is None:
        return
    absent = [c for c in codes if c not in known]
    if absent:
        raise ParameterError(name, value, f"ISO3 codes of US trade partners in census_annual ({len(known)} countries, "
                             "e.g. KOR, COL, CHN, MEX)", f"{', '.join(absent)} not in the Census data")


@lru_cache(maxsize=1)
def _known_iso3() -> frozenset[str]:
    from .partners import _converter

    return frozenset(str(c) for c in _converter().data["ISO3"].dropna())


def check_choice(name: str, value, valid) -> None:
    """A notebook parameter must be one of ``valid`` (a comma-separated value: each part)."""
    valid = list(valid)
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) and "," in value else [value]
    bad = [p for p in parts if p not in valid]
    if bad or not parts:
        raise ParameterError(name, value, valid)


def check_number(name: str, value, low: float | None = None, high: float | None = None, integer: bool = True) -> None:
    """A numeric notebook parameter within ``[low, high]``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (not integer or float(value).is_integer())
    if ok and low is not None:
        ok = value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        kind = "a whole number" if integer else "a number"
        bounds = f" from {low}" if low is not None else ""
        bounds += f" to {high}" if high is not None else ""
        raise ParameterError(name, value, f"{kind}{bounds}")


def _year(name: str, value) -> int | None:
    """A year parameter: ``0``/empty means "derive"; anything but a whole number is refused."""
    if isinstance(value, bool):
        raise ParameterError(name, value, "a year such as 2011, or 0 to derive it")
    if value in (None, 0, "", "0"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "a year such as 2011, or 0 to derive it") from None
    if not number.is_integer():
        raise ParameterError(name, value, "a whole year such as 2011, or 0 to derive it")
    return int(number)


def entry_period(entry: pd.Timestamp, frequency: str, periods=None):
    """The first period of a panel in which the agreement counts as in force.

    Parameters
    ----------
    entry : Timestamp
        Date of entry into force.
    frequency : {"annual", "quarterly", "monthly", "waves"}
        ``annual``: the year containing the date; ``quarterly`` / ``monthly``: the quarter or
        month containing it (a ``Period``); ``waves``: the first observed year in ``periods`` at or after the
        year of entry (panels observed every few years).
    periods : iterable of int, optional
        The observed years (required for ``waves``).

    Returns
    -------
    int or Period or None
        ``None`` when no observed wave is at or after the entry (waves only).
    """
    entry = pd.Timestamp(entry)
    if frequency == "annual":
        return int(entry.year)
    if frequency == "monthly":
        return pd.Period(entry, "M")
    if frequency == "quarterly":
        return pd.Period(entry, "Q")
    if frequency == "waves":
        if periods is None:
            raise ParameterError("periods", None, "the observed years of the panel",
                                 "needed for frequency 'waves'")
        later = sorted(int(p) for p in periods if int(p) >= entry.year)
        return later[0] if later else None
    raise ParameterError("frequency", frequency, ["annual", "quarterly", "monthly", "waves"])


@dataclass(frozen=True)
class Study:
    """One study: a partner, its agreement and entry date, the years compared, the windows.

    Build it with :meth:`Study.build`, which derives the defaults and validates every field.
    """

    partner: str
    agreement: str
    entry: pd.Timestamp | None
    entry_source: str                 # "agreements table", "override (hypothetical)", "override", "none"
    base_year: int
    compare_year: int
    controls: str                     # "default" or comma-separated ISO3 codes
    panel_years: tuple[int, int]      # partner-level annual and monthly panels
    product_years: tuple[int, int]    # Comtrade product panel
    macro_years: tuple[int, int]      # trade-equation sample
    event_window: tuple[int, int]
    control_exclusion_years: tuple[int, int]
    control_rank_year: int
    effect_years: tuple[int, ...]
    capabilities: Capabilities
    notes: tuple[str, ...] = field(default=())

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, partner: str = DEFAULT_PARTNER, entry: str | None = "", base_year: int | None = 0,
              compare_year: int | None = 0, controls: str = "default") -> Study:
        """Derive and validate a study (``0`` / ``""`` mean "derive the default").

        Raises
        ------
        ParameterError
            Unknown partner code, malformed date, base >= compare, years outside the data,
            malformed control list; the message names the parameter and the valid values.
        """
        if not isinstance(partner, str) or not partner.strip():
            raise ParameterError("partner", partner, "an ISO3 code such as KOR, COL, CHN")
        code = partner.strip().upper()
        if not _ISO3.match(code) or code not in _known_iso3():
            raise ParameterError("partner", partner, "an ISO3 country code such as KOR, COL, CHN, MEX",
                                 "unknown country code")
        if code == "USA":
            raise ParameterError("partner", partner, "any ISO3 code but USA", "the study is of US trade with a partner")
        _check_in_census("partner", partner, [code])
        notes: list[str] = []
        lo, hi = DATA_YEARS["census"]
        table = agreements.agreements_table()
        own = table[(table["partner"] == code) & (table["entry_into_force"].dt.year <= LAST_ENTRY_YEAR)]
        entry_text = (entry or "").strip() if isinstance(entry, str) else entry
        if entry_text:
            if not isinstance(entry_text, str) or not _DATE.match(entry_text):
                raise ParameterError("entry", entry, "a date YYYY-MM-DD, or empty to look it up", "malformed date")
            try:
                when = pd.Timestamp(entry_text)
            except ValueError:
                raise ParameterError("entry", entry, "a date YYYY-MM-DD, or empty to look it up",
                                     "not a calendar date") from None
            if not lo <= when.year <= hi:
                raise ParameterError("entry", entry, f"a date in {lo}-{hi} (years of the Census data)")
            every = table[table["partner"] == code].sort_values("entry_into_force")
            before = every[every["entry_into_force"] <= when]
            if when in set(own["entry_into_force"]):
                agreement = str(own.loc[own["entry_into_force"] == when, "agreement"].iloc[0])
                source = "agreements table"
            elif len(before):
                agreement, source = str(before.iloc[-1]["agreement"]), "override"
            else:
                agreement, source = "hypothetical agreement", "override (hypothetical)"
        elif len(own):
            first = own.sort_values("entry_into_force").iloc[0]
            when, agreement, source = first["entry_into_force"], str(first["agreement"]), "agreements table"
        else:
            when, agreement, source = None, "none", "none"

        if when is not None:
            default_base, default_compare = when.year - 1, when.year + 4
        else:
            default_base, default_compare = NO_AGREEMENT_YEARS
            notes.append(f"{code} has no US agreement in force by {LAST_ENTRY_YEAR} and no entry date was given: "
                         "the agreement sections are skipped (pass entry=YYYY-MM-DD for a hypothetical date)")
        base, compare = _year("base_year", base_year), _year("compare_year", compare_year)
        for name, value in (("base_year", base), ("compare_year", compare)):
            if value is not None and not lo <= value <= hi:
                raise ParameterError(name, value, f"a year in {lo}-{hi} (complete years of census_annual)",
                                     "outside the data")
        if base is None:
            base = min(max(default_base, lo), hi - 1)
            if base != default_base:
                notes.append(f"base year {default_base} is outside the Census data ({lo}-{hi}): {base} is used")
        if compare is None:
            compare = min(max(default_compare, base + 1), hi)
            if compare != default_compare:
                why = (f"is outside the Census data ({lo}-{hi})" if not lo <= default_compare <= hi
                       else f"is not after the base year {base}")
                notes.append(f"compare year {default_compare} {why}: {compare} is used")
        if base >= compare:
            raise ParameterError("base_year", base, f"a year before compare_year={compare}", "base >= compare")

        if controls is not None and not isinstance(controls, str):
            raise ParameterError("controls", controls, "'default' or comma-separated ISO3 codes (e.g. JPN,DEU,GBR)")
        controls_text = (controls or "default").strip()
        if controls_text.lower() == "default":
            controls_text = "default"
        else:
            codes = sorted({c.strip().upper() for c in controls_text.split(",") if c.strip()})
            bad = [c for c in codes if not _ISO3.match(c) or c not in _known_iso3() or c == "USA"]
            if not codes or bad:
                raise ParameterError("controls", controls, "'default' or comma-separated ISO3 codes (e.g. JPN,DEU,GBR)",
                                     f"unknown codes {bad}" if bad else "empty list")
            if code in codes:
                raise ParameterError("controls", controls, "codes other than the treated partner",
                                     f"{code} is the treated partner")
            _check_in_census("controls", controls, codes)
            controls_text = ",".join(codes)

        anchor = when.year if when is not None else base + 1
        panel = (max(lo, anchor - PANEL_HALF_WIDTH), min(PANEL_LAST_YEAR, anchor + PANEL_HALF_WIDTH))
        product = DATA_YEARS["comtrade"]
        macro_years = DATA_YEARS["macro"]
        exclusion = (anchor + EVENT_WINDOW[0], panel[1])
        if when is not None:
            last_effect = min(compare, panel[1])
            effects = tuple(range(when.year, last_effect + 1))
            if not effects:
                notes.append(f"no year of the agreement's effect: the compare year {compare} or the panel's end "
                             f"{panel[1]} is before the entry year {when.year}")
            if base >= when.year:
                notes.append(f"the base year {base} is not before the entry year {when.year}: the agreement's part of "
                             f"the change is its effect in {compare} minus its effect in {base}")
        else:
            effects = ()
        return cls(partner=code, agreement=agreement, entry=when, entry_source=source, base_year=base,
                   compare_year=compare, controls=controls_text, panel_years=panel, product_years=product,
                   macro_years=macro_years, event_window=EVENT_WINDOW, control_exclusion_years=exclusion,
                   control_rank_year=base, effect_years=effects, capabilities=capabilities(code),
                   notes=tuple(notes))

    @classmethod
    def default(cls) -> Study:
        """The headline study (Korea, KORUS) that ``make`` builds."""
        return cls.build(DEFAULT_PARTNER)

    # ---------------------------------------------------------------- identity
    def parameters(self) -> dict:
        """The fields that define the study (what its id hashes), as JSON-ready values."""
        return {
            "partner": self.partner, "agreement": self.agreement,
            "entry": self.entry.date().isoformat() if self.entry is not None else None,
            "entry_source": self.entry_source, "base_year": self.base_year, "compare_year": self.compare_year,
            "controls": self.controls, "panel_years": list(self.panel_years),
            "product_years": list(self.product_years), "macro_years": list(self.macro_years),
            "event_window": list(self.event_window), "control_exclusion_years": list(self.control_exclusion_years),
            "control_rank_year": self.control_rank_year, "effect_years": list(self.effect_years),
        }

    @property
    def study_id(self) -> str:
        """A readable id: the partner plus 8 hex digits of the parameters' sha256."""
        text = json.dumps(self.parameters(), sort_keys=True)
        return f"{self.partner}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    @property
    def has_agreement(self) -> bool:
        return self.entry is not None

    @property
    def hypothetical(self) -> bool:
        return self.entry_source == "override (hypothetical)"

    @property
    def effect_span(self) -> str:
        return f"{self.effect_years[0]}-{self.effect_years[-1]}" if self.effect_years else ""

    def entry_in(self, table: str):
        """The first year the agreement is in force in gravity panel ``table`` (None: never)."""
        if self.entry is None:
            return None
        if table not in GRAVITY_PANELS:
            raise ParameterError("table", table, sorted(GRAVITY_PANELS))
        frequency, years = GRAVITY_PANELS[table]
        return entry_period(self.entry, frequency, years)

    def summary(self) -> pd.DataFrame:
        """The study as a two-column table for the notebooks' first output."""
        p = self.parameters()
        rows = [("study id", self.study_id), ("partner", f"{self.partner} ({self.capabilities.name})"),
                ("agreement", self.agreement), ("entry into force", f"{p['entry'] or 'none'} ({self.entry_source})"),
                ("base -> compare year", f"{self.base_year} -> {self.compare_year}"),
                ("years of the agreement's effect", self.effect_span or "none"),
                ("partner-level panel", "{}-{}".format(*self.panel_years)),
                ("product panel (Comtrade)", "{}-{}".format(*self.product_years)),
                ("control group", self.controls),
                ("bilateral exchange rate", self.capabilities.fx_table or "none"),
                ("partner demand series", self.capabilities.demand_series or "none"),
                ("BIS real effective rate", f"RB{self.capabilities.bis_code}" if self.capabilities.bis_code else "none")]
        rows += [("note", n) for n in self.notes]
        return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")

    def __str__(self) -> str:
        entry = self.entry.date().isoformat() if self.entry is not None else "no entry date"
        return (f"study {self.study_id}: {self.partner}, {self.agreement} ({entry}, {self.entry_source}), "
                f"{self.base_year}->{self.compare_year}")


def from_parameters(params: dict) -> Study:
    """Rebuild a study from :meth:`Study.parameters` (as stored in a results manifest)."""
    overridden = str(params.get("entry_source", "")).startswith("override")
    return Study.build(params["partner"], entry=(params.get("entry") or "") if overridden else "",
                       base_year=params["base_year"],
                       compare_year=params["compare_year"], controls=params.get("controls", "default"))
