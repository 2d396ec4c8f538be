"""The declared study (:mod:`korus_research.study`): defaults, overrides, validation, the
entry-period rule, the gravity entry years, the data years and the partner capabilities.

Tests that compare the declared years with the processed tables read ``data/processed`` and
skip when the table was not built.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from korus_research import agreements, io
from korus_research.errors import KorusError, ParameterError
from korus_research.study import (
    DATA_YEARS,
    GRAVITY_PANELS,
    Study,
    capabilities,
    entry_period,
    from_parameters,
    partner_table,
)

DTA_YEARS = GRAVITY_PANELS["gravity_dta"][1]


def _table(name: str) -> pd.DataFrame:
    if not io.table_path(name).exists():
        pytest.skip(f"{name}.parquet not in data/processed (make processed builds it)")
    return io.read_table(name)


# ----------------------------------------------------------------------------- defaults
def test_korea_defaults():
    s = Study.build("KOR")
    assert s.partner == "KOR"
    assert s.agreement == "KORUS FTA"
    assert s.entry == pd.Timestamp("2012-03-15")
    assert s.entry_source == "agreements table"
    assert (s.base_year, s.compare_year) == (2011, 2016)
    assert s.panel_years == (2000, 2019)
    assert s.control_exclusion_years == (2007, 2019)
    assert s.control_rank_year == 2011
    assert s.effect_years == (2012, 2013, 2014, 2015, 2016)
    assert s.effect_span == "2012-2016"
    assert s.controls == "default"
    assert s.has_agreement and not s.hypothetical
    assert s.notes == ()
    assert re.fullmatch(r"KOR-[0-9a-f]{8}", s.study_id)


def test_default_is_korea():
    assert Study.default().study_id == Study.build("KOR").study_id


@pytest.mark.parametrize("spelling", ["kor", "Kor", " KOR "])
def test_partner_is_case_insensitive(spelling):
    s = Study.build(spelling)
    assert s.partner == "KOR"
    assert s.study_id == Study.build("KOR").study_id


def test_same_parameters_same_id_and_different_parameters_different_id():
    a = Study.build("KOR", base_year=2010, compare_year=2016)
    b = Study.build("KOR", base_year=2010, compare_year=2016)
    assert a.study_id == b.study_id
    assert a.study_id != Study.build("KOR").study_id                   # base 2010 vs 2011
    assert Study.build("KOR", compare_year=2017).study_id != Study.build("KOR").study_id
    assert Study.build("KOR", controls="JPN").study_id != Study.build("KOR").study_id
    assert Study.build("COL").study_id.startswith("COL-")


def test_explicit_defaults_are_the_defaults():
    """0 / "" / "default" mean "derive the default": the same study as no argument."""
    assert Study.build("KOR", entry="", base_year=0, compare_year=0, controls="default").study_id == \
        Study.build("KOR").study_id
    assert Study.build("KOR", entry=None, base_year=None, compare_year=None, controls="DEFAULT").study_id == \
        Study.build("KOR").study_id


@pytest.mark.parametrize("kwargs", [
    {"partner": "KOR"},
    {"partner": "CHN"},
    {"partner": "CHN", "entry": "2015-01-01"},
    {"partner": "ISR"},
    {"partner": "KOR", "entry": "2013-01-01", "controls": "JPN,DEU"},
    {"partner": "COL", "base_year": 2010, "compare_year": 2018},
])
def test_from_parameters_rebuilds_the_same_study(kwargs):
    s = Study.build(**kwargs)
    assert from_parameters(s.parameters()).study_id == s.study_id


# ----------------------------------------------------------------------------- overrides
def test_base_and_compare_overrides():
    s = Study.build("KOR", base_year=2010, compare_year=2018)
    assert (s.base_year, s.compare_year) == (2010, 2018)
    assert s.control_rank_year == 2010
    assert s.effect_years == tuple(range(2012, 2019))
    assert s.entry == pd.Timestamp("2012-03-15")            # the entry is not moved
    assert s.panel_years == (2000, 2019)


def test_entry_override_moves_the_derived_years():
    s = Study.build("KOR", entry="2014-07-01")
    assert s.entry == pd.Timestamp("2014-07-01")
    assert s.entry_source == "override"
    assert s.agreement == "KORUS FTA"
    assert not s.hypothetical
    assert (s.base_year, s.compare_year) == (2013, 2018)
    assert s.panel_years == (2002, 2019)
    assert s.control_exclusion_years == (2009, 2019)
    assert s.effect_years == tuple(range(2014, 2019))
    assert s.entry_in("gravity_dta") == 2016


def test_controls_override_is_normalised():
    s = Study.build("KOR", controls=" jpn, deu ,GBR")
    assert s.controls == "DEU,GBR,JPN"  # sorted: the order of the codes does not change the study
    assert Study.build("KOR", controls="JPN,DEU,GBR").study_id == s.study_id
    # the other fields are untouched
    d = Study.build("KOR")
    assert (s.base_year, s.compare_year, s.entry) == (d.base_year, d.compare_year, d.entry)


def test_partner_without_agreement():
    s = Study.build("CHN")
    assert s.entry is None
    assert s.agreement == "none"
    assert s.entry_source == "none"
    assert not s.has_agreement and not s.hypothetical
    assert s.effect_years == () and s.effect_span == ""
    assert s.entry_in("gravity_dta") is None
    assert any("no US agreement" in n and "entry=" in n for n in s.notes)
    assert (s.base_year, s.compare_year) == (2011, 2016)


def test_hypothetical_entry_for_a_partner_without_agreement():
    s = Study.build("CHN", entry="2015-01-01")
    assert s.entry == pd.Timestamp("2015-01-01")
    assert (s.base_year, s.compare_year) == (2014, 2019)
    assert s.hypothetical and s.has_agreement
    assert s.entry_source == "override (hypothetical)"
    assert s.agreement == "hypothetical agreement"
    assert s.effect_years == tuple(range(2015, 2020))
    assert s.study_id != Study.build("CHN").study_id


def test_israel_base_year_is_clipped_to_the_census_start():
    s = Study.build("ISR")
    assert s.entry == pd.Timestamp("1985-09-01")
    assert s.base_year == 1985 == DATA_YEARS["census"][0]    # 1984 is before the Census table
    assert s.compare_year == 1989
    assert any("1984" in n and "1985" in n for n in s.notes)
    assert s.panel_years[0] == 1985


def test_late_hypothetical_entry_clips_compare_year_with_a_note():
    hi = DATA_YEARS["census"][1]
    s = Study.build("CHN", entry=f"{hi - 1}-06-01")
    assert (s.base_year, s.compare_year) == (hi - 2, hi)
    assert any(str(hi + 3) in n for n in s.notes)


# ----------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("kwargs, parameter, valid", [
    ({"partner": "XXX"}, "partner", "ISO3"),
    ({"partner": "KORE"}, "partner", "ISO3"),
    ({"partner": ""}, "partner", "ISO3"),
    ({"partner": "USA"}, "partner", "but USA"),
    ({"partner": "KOR", "entry": "2012/03/15"}, "entry", "YYYY-MM-DD"),
    ({"partner": "KOR", "entry": "2012-13-01"}, "entry", "YYYY-MM-DD"),
    ({"partner": "KOR", "entry": "2012-02-30"}, "entry", "YYYY-MM-DD"),
    ({"partner": "KOR", "entry": "2040-01-01"}, "entry", "1985-2025"),
    ({"partner": "KOR", "base_year": 2016, "compare_year": 2011}, "base_year", "compare_year=2011"),
    ({"partner": "KOR", "base_year": 2016, "compare_year": 2016}, "base_year", "compare_year=2016"),
    ({"partner": "KOR", "compare_year": 2010}, "base_year", "compare_year=2010"),
    ({"partner": "KOR", "base_year": 1970}, "base_year", "1985-2025"),
    ({"partner": "KOR", "base_year": 2030}, "base_year", "1985-2025"),
    ({"partner": "KOR", "compare_year": 1970}, "compare_year", "1985-2025"),
    ({"partner": "KOR", "compare_year": 2030}, "compare_year", "1985-2025"),
    ({"partner": "KOR", "controls": "JPN,XXX"}, "controls", "ISO3"),
    ({"partner": "KOR", "controls": "JAPAN"}, "controls", "ISO3"),
    ({"partner": "KOR", "controls": ","}, "controls", "ISO3"),
    ({"partner": "KOR", "controls": "JPN,kor"}, "controls", "treated partner"),
])
def test_bad_parameter_names_the_parameter_and_the_valid_values(kwargs, parameter, valid):
    with pytest.raises(ParameterError) as info:
        Study.build(**kwargs)
    err = info.value
    assert err.parameter == parameter
    message = str(err)
    assert f"parameter {parameter}=" in message
    assert "valid:" in message and valid in message
    assert isinstance(err, KorusError)


def test_non_numeric_base_year_is_a_parameter_error():
    with pytest.raises(ParameterError, match="base_year"):
        Study.build("KOR", base_year="2011a")


def test_israel_entry_date_given_explicitly_is_accepted():
    assert Study.build("ISR", entry="1985-09-01").entry == Study.build("ISR").entry


# ----------------------------------------------------------------------------- entry_period
def test_entry_period_annual_and_monthly():
    when = pd.Timestamp("2012-03-15")
    assert entry_period(when, "annual") == 2012
    assert entry_period("2012-12-31", "annual") == 2012
    assert entry_period(when, "monthly") == pd.Period("2012-03", "M")
    assert entry_period(pd.Timestamp("2012-12-31"), "monthly") == pd.Period("2012-12", "M")


@pytest.mark.parametrize("entry, expected", [
    ("2005-01-01", 2008),       # between waves: the next wave
    ("2008-12-31", 2008),       # in a wave year: that wave
    ("2016-01-01", 2016),       # last wave
    ("2017-01-01", None),       # no wave after the entry
    ("1960-01-01", 1964),       # before the first wave
])
def test_entry_period_waves(entry, expected):
    assert entry_period(pd.Timestamp(entry), "waves", DTA_YEARS) == expected


def test_entry_period_waves_does_not_rely_on_sorted_periods():
    assert entry_period(pd.Timestamp("2005-01-01"), "waves", [2016, 2004, 2012, 2008]) == 2008


def test_entry_period_bad_frequency_and_missing_waves():
    with pytest.raises(ParameterError) as info:
        entry_period(pd.Timestamp("2012-03-15"), "weekly")
    assert info.value.parameter == "frequency"
    assert all(f in str(info.value) for f in ("annual", "quarterly", "monthly", "waves"))
    assert entry_period(pd.Timestamp("2012-03-15"), "quarterly") == pd.Period("2012Q1", "Q")
    with pytest.raises(ParameterError, match="periods"):
        entry_period(pd.Timestamp("2012-03-15"), "waves")


# ----------------------------------------------------------------------------- gravity entry year
@pytest.mark.parametrize("partner, dta, oecd, wiod", [
    ("AUS", 2008, 2005, 2005),
    ("MAR", 2008, 2006, 2010),
    ("JOR", 2004, 2001, 2005),
    ("PER", 2012, 2009, 2010),
    ("ISR", 1988, 1985, 2000),
    ("KOR", 2012, 2012, 2014),
    ("CHL", 2004, 2004, 2005),
    ("PAN", 2012, 2012, 2014),
])
def test_gravity_entry_year(partner, dta, oecd, wiod):
    s = Study.build(partner)
    assert s.entry_in("gravity_dta") == dta
    assert s.entry_in("gravity_oecd") == oecd
    assert s.entry_in("gravity_wiod") == wiod


def test_entry_in_unknown_table():
    with pytest.raises(ParameterError) as info:
        Study.build("KOR").entry_in("gravity_cepii")
    assert info.value.parameter == "table"
    assert "gravity_dta" in str(info.value)


# ----------------------------------------------------------------------------- data years
def test_census_years_match_the_latest_release():
    census = _table("census_annual")
    latest = census[census["vintage"] == census["vintage"].max()]
    full = latest[latest["months_reported"] == 12]
    assert (int(full["year"].min()), int(full["year"].max())) == DATA_YEARS["census"]


def test_comtrade_years_match_the_table():
    comtrade = _table("comtrade_hs2")
    assert (int(comtrade["year"].min()), int(comtrade["year"].max())) == DATA_YEARS["comtrade"]


def test_enduse_years_match_the_table():
    enduse = _table("enduse_imports")
    years = sorted(int(y) for y in enduse["year"].unique())
    assert (years[0], years[-1]) == DATA_YEARS["enduse"]
    assert years == list(range(years[0], years[-1] + 1))


@pytest.mark.parametrize("name", sorted(GRAVITY_PANELS))
def test_gravity_panel_years_match_the_table(name):
    frequency, years = GRAVITY_PANELS[name]
    observed = tuple(sorted(int(y) for y in _table(name)["year"].unique()))
    assert observed == years
    if frequency == "annual":
        assert observed == tuple(range(observed[0], observed[-1] + 1))
    else:
        assert frequency == "waves"


# ----------------------------------------------------------------------------- capabilities
def test_capabilities_korea_and_colombia():
    kor = capabilities("KOR")
    assert kor.bilateral_fx and kor.partner_demand
    assert kor.fx_table == "fx_krw_usd_annual" and kor.demand_series.startswith("fred:")
    assert kor.bis_code == "KR"
    col = capabilities("COL")
    assert not col.bilateral_fx and not col.partner_demand
    assert col.bis_code == "CO"
    assert Study.build("COL").capabilities == col


def test_capabilities_fx_tables_exist_in_processed_data():
    for table in sorted({t for t in partner_table()["fx_table"] if t}):
        _table(table)       # skips if absent, fails if the stored table is invalid


def test_every_bis_code_is_in_the_bis_table():
    codes = {c for c in partner_table()["bis_code"] if c}
    assert codes, "partner_data.csv lists no BIS code"
    series = set(_table("bis_eer_monthly")["series_code"])
    missing = sorted(c for c in codes if f"RB{c}" not in series)
    assert not missing, f"BIS codes of partner_data.csv not in bis_eer_monthly: {missing}"


def test_partner_table_lists_each_partner_once_with_iso3_codes():
    table = partner_table()
    assert table.index.is_unique
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in table.index)


def test_partner_not_in_the_table_gets_the_default_rule():
    assert "FRA" not in partner_table().index
    fra = capabilities("FRA")
    assert fra.name == "France"
    assert fra.bis_code == "FR"
    assert not fra.bilateral_fx and not fra.partner_demand
    assert fra.bea_area == ""
    assert "default rule" in fra.note
    assert Study.build("fra").capabilities == fra


# ----------------------------------------------------------------------------- all agreements
_IN_STUDY = agreements.agreements_table()
_IN_STUDY = _IN_STUDY[_IN_STUDY["entry_into_force"].dt.year <= 2019]
_FIRST = _IN_STUDY.sort_values("entry_into_force").groupby("partner").first()


@pytest.mark.parametrize("partner", sorted(_FIRST.index))
def test_every_agreement_partner_builds(partner):
    s = Study.build(partner)
    first = _FIRST.loc[partner]
    assert s.entry == first["entry_into_force"]
    assert s.agreement == first["agreement"]
    assert s.entry_source == "agreements table"
    lo, hi = DATA_YEARS["census"]
    assert lo <= s.base_year < s.compare_year <= hi
    assert s.effect_years and s.effect_years[0] == s.entry.year
    assert s.panel_years[0] <= s.entry.year <= s.panel_years[1]
    assert re.fullmatch(rf"{partner}-[0-9a-f]{{8}}", s.study_id)


def test_2020_agreements_are_outside_the_study():
    assert Study.build("JPN").entry is None                                 # US-Japan 2020
    assert Study.build("MEX").agreement == "NAFTA"                          # not USMCA
    assert Study.build("CAN").entry == pd.Timestamp("1989-01-01")


def test_partner_and_controls_must_be_in_the_census_data():
    from korus_research import study as study_module

    if study_module.census_partners() is None:
        pytest.skip("census_annual not built")
    with pytest.raises(ParameterError, match="not in the Census data"):
        Study.build("KOR", controls="JPN,ATA")
    assert "KOR" in study_module.census_partners()


def test_overrides_name_the_agreement_in_force():
    assert Study.build("CAN", entry="2020-07-01").agreement == "USMCA"
    assert Study.build("JPN", entry="2020-01-01").agreement == "US-Japan Trade Agreement"
    assert Study.build("CHN", entry="2015-01-01").hypothetical
    late = Study.build("KOR", base_year=2013)
    assert any("not before the entry year" in n for n in late.notes)
    with pytest.raises(ParameterError, match="base_year"):
        Study.build("KOR", base_year=True)
