import pandas as pd
import pytest

from korus_research import partners
from korus_research.errors import DataError


def test_mapping_of_census_codes():
    codes = pd.DataFrame({"CTY_CODE": [15, 5800, 4610, 8220, 5830], "CTYNAME": [
        "World, Not Seasonally Adjusted", "Korea, South", "USSR", "Unidentified Countries", "Taiwan"]})
    out = partners.map_census_partners(codes).set_index("cty_code")
    assert out.loc[15, "partner_kind"] == "aggregate" and pd.isna(out.loc[15, "iso3"])
    assert out.loc[5800, "iso3"] == "KOR"
    assert out.loc[4610, "iso3"] == "SUN"
    assert out.loc[8220, "partner_kind"] == "other"
    assert out.loc[5830, "iso3"] == "TWN"


def test_unknown_code_names_file_field_rows():
    codes = pd.DataFrame({"CTY_CODE": [9999], "CTYNAME": ["Atlantis"]})  # SYNTHETIC
    with pytest.raises(DataError, match=r"^f.xlsx: field 'CTY_CODE': unknown partner code.*9999"):
        partners.map_census_partners(codes, "f.xlsx")
