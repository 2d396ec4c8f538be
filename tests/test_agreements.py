import pandas as pd

from korus_research import agreements


def test_entry_dates():
    assert agreements.entry_date("KOR") == pd.Timestamp("2012-03-15")
    assert agreements.entry_date("col") == pd.Timestamp("2012-05-15")
    assert agreements.entry_date("PAN") == pd.Timestamp("2012-10-31")
    assert agreements.entry_date("KOR", "2012-01-01") == pd.Timestamp("2012-01-01")
    assert agreements.entry_date("CHN") is None
    assert agreements.entry_date("JPN", before=2019) is None
    assert agreements.entry_date("MEX") == pd.Timestamp("1994-01-01")
