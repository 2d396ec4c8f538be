"""US free trade agreements and their dates of entry into force.

Source: USTR, "Free Trade Agreements" pages for each agreement (dates of entry into
force). CAFTA-DR entered into force country by country. Used to mark the agreement
on figures and as the default treatment date; every notebook lets the date be
overridden with its ``entry_date`` parameter.
"""

from __future__ import annotations

import pandas as pd

US_AGREEMENTS: list[tuple[str, str, str]] = [
    # (partner ISO3, agreement, entry into force)
    ("ISR", "US-Israel FTA", "1985-09-01"),
    ("CAN", "US-Canada FTA", "1989-01-01"),
    ("MEX", "NAFTA", "1994-01-01"),
    ("JOR", "US-Jordan FTA", "2001-12-17"),
    ("CHL", "US-Chile FTA", "2004-01-01"),
    ("SGP", "US-Singapore FTA", "2004-01-01"),
    ("AUS", "US-Australia FTA", "2005-01-01"),
    ("MAR", "US-Morocco FTA", "2006-01-01"),
    ("SLV", "CAFTA-DR", "2006-03-01"),
    ("HND", "CAFTA-DR", "2006-04-01"),
    ("NIC", "CAFTA-DR", "2006-04-01"),
    ("GTM", "CAFTA-DR", "2006-07-01"),
    ("BHR", "US-Bahrain FTA", "2006-08-01"),
    ("DOM", "CAFTA-DR", "2007-03-01"),
    ("CRI", "CAFTA-DR", "2009-01-01"),
    ("OMN", "US-Oman FTA", "2009-01-01"),
    ("PER", "US-Peru TPA", "2009-02-01"),
    ("KOR", "KORUS FTA", "2012-03-15"),
    ("COL", "US-Colombia TPA", "2012-05-15"),
    ("PAN", "US-Panama TPA", "2012-10-31"),
    ("JPN", "US-Japan Trade Agreement", "2020-01-01"),
    ("MEX", "USMCA", "2020-07-01"),
    ("CAN", "USMCA", "2020-07-01"),
]


def agreements_table() -> pd.DataFrame:
    """The table of US agreements: ``partner, agreement, entry_into_force``."""
    frame = pd.DataFrame(US_AGREEMENTS, columns=["partner", "agreement", "entry_into_force"])
    frame["entry_into_force"] = pd.to_datetime(frame["entry_into_force"])
    return frame


def entry_date(partner: str, override: str | None = None, before: int | None = None) -> pd.Timestamp | None:
    """Entry into force of the partner's first US agreement (or of ``override``).

    Parameters
    ----------
    partner : str
        ISO3 code.
    override : str, optional
        A date (YYYY-MM-DD) that takes precedence; ``""`` or ``None`` looks the table up.
    before : int, optional
        Only agreements in force before this year count (e.g. ``2019`` leaves out
        the 2020 agreements when studying the 2010s).

    Returns
    -------
    Timestamp or None
        ``None`` when the partner has no US agreement.
    """
    if override:
        return pd.Timestamp(override)
    table = agreements_table()
    rows = table[table["partner"] == partner.upper()]
    if before is not None:
        rows = rows[rows["entry_into_force"].dt.year < before]
    return None if rows.empty else rows["entry_into_force"].min()
