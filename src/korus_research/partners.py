"""Census partner codes and names mapped to ISO3 with country_converter.

Census ``CTY_CODE`` values below 1000 are aggregates (world, regions, agreement
groups, advanced technology products); they are kept and flagged, never dropped.
Codes of former countries get their ISO 3166-3 code; areas that are no country
(unidentified countries, international organisations, the neutral zone) have no
ISO3 and are flagged ``other``.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import pandas as pd

from .errors import DataError

#: Census codes below this are aggregates (regions, groupings, world totals).
AGGREGATE_MAX_CODE = 1000

#: Codes whose names country_converter cannot map to a present-day ISO3 code.
OVERRIDES: dict[int, tuple[str | None, str]] = {
    2771: ("ANT", "former country"),  # Netherlands Antilles, dissolved 2010
    4350: ("CSK", "former country"),  # Czechoslovakia
    4610: ("SUN", "former country"),  # USSR
    4790: ("YUG", "former country"),  # Yugoslavia (former)
    4799: ("SCG", "former country"),  # Serbia and Montenegro
    5082: ("PSE", "country"),  # Gaza Strip administered by Israel
    5083: ("PSE", "country"),  # West Bank administered by Israel
    5160: (None, "other"),  # Iraq-Saudi Arabia Neutral Zone
    8220: (None, "other"),  # Unidentified countries
    8500: (None, "other"),  # International organizations
}

_ISO3 = re.compile(r"^[A-Z]{3}$")


@lru_cache(maxsize=1)
def _converter():
    import country_converter as coco

    logging.getLogger("country_converter").setLevel(logging.CRITICAL)
    return coco.CountryConverter()


@lru_cache(maxsize=4096)
def name_to_iso3(name: str) -> str | None:
    """Map a country name to ISO3 with country_converter; ``None`` when not found."""
    out = _converter().convert(name, to="ISO3", not_found=None)
    return out if isinstance(out, str) and _ISO3.match(out) else None


def map_census_partners(codes: pd.DataFrame, file: str = "census table") -> pd.DataFrame:
    """Return ``cty_code, partner_name, iso3, partner_kind`` for distinct Census codes.

    Parameters
    ----------
    codes : DataFrame
        With columns ``CTY_CODE`` and a name column ``CTYNAME`` (or ``CTY_DESC``).
    file : str
        Source file, for error messages.

    Raises
    ------
    DataError
        For a code at or above 1000 whose name maps to no country and that is not a
        known non-country code (an unknown partner code).
    """
    name_col = "CTYNAME" if "CTYNAME" in codes else "CTY_DESC"
    distinct = codes[["CTY_CODE", name_col]].drop_duplicates("CTY_CODE", keep="last")
    rows = []
    unknown = []
    for code, name in distinct.itertuples(index=False):
        code = int(code)
        name = str(name).strip()
        if code < AGGREGATE_MAX_CODE:
            rows.append((code, name, None, "aggregate"))
        elif code in OVERRIDES:
            iso3, kind = OVERRIDES[code]
            rows.append((code, name, iso3, kind))
        else:
            iso3 = name_to_iso3(name)
            if iso3 is None:
                unknown.append(f"CTY_CODE={code} ({name})")
            rows.append((code, name, iso3, "country"))
    if unknown:
        raise DataError(
            file, "CTY_CODE",
            "unknown partner code: not an aggregate, not a known non-country code, and its "
            "name maps to no ISO3 code (add it to korus_research.partners.OVERRIDES)",
            unknown,
        )
    return pd.DataFrame(rows, columns=["cty_code", "partner_name", "iso3", "partner_kind"])
