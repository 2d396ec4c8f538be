"""Schemas are checked on write and on read; a bad frame never replaces a stored table."""

from __future__ import annotations

import pandas as pd
import pytest

from korus_research import io
from korus_research.errors import DataError


def _annual() -> pd.DataFrame:
    """SYNTHETIC two-row census_annual table."""
    return pd.DataFrame({
        "vintage": ["2026-01", "2026-01"], "cty_code": [5800, 5800], "partner_name": ["Korea, South"] * 2,
        "iso3": ["KOR", "KOR"], "partner_kind": ["country"] * 2, "year": [2011, 2016],
        "exports_usd_mn": [43461.6, 42262.2], "imports_usd_mn": [56661.4, 69886.8],
        "balance_usd_mn": [43461.6 - 56661.4, 42262.2 - 69886.8], "months_reported": [12, 12],
    })


def test_round_trip(tmp_path):
    io.write_table("census_annual", _annual(), tmp_path)
    back = io.read_table("census_annual", tmp_path)
    pd.testing.assert_frame_equal(back, _annual())


@pytest.mark.parametrize(
    "edit, field, rows",
    [
        (lambda f: f.assign(imports_usd_mn=[-1.0, 5.0], balance_usd_mn=[43462.6, 42257.2]), "imports_usd_mn", [0]),
        (lambda f: f.assign(year=[2011, 2011]), "vintage+cty_code+year", [0]),
        (lambda f: f.assign(iso3=["KOR", "Korea"]), "iso3", [1]),
        (lambda f: f.drop(columns=["months_reported"]), "months_reported", []),
    ],
)
def test_bad_frame_is_refused_and_stored_table_kept(tmp_path, snap, edit, field, rows):
    io.write_table("census_annual", _annual(), tmp_path)
    before = snap(tmp_path)
    with pytest.raises(DataError) as err:
        io.write_table("census_annual", edit(_annual()), tmp_path)
    assert "census_annual.parquet" in str(err.value)
    assert field in str(err.value)
    if rows:
        assert f"rows: {', '.join(map(str, rows))}" in str(err.value)
    assert snap(tmp_path) == before


def test_balance_identity_is_checked(tmp_path):
    frame = _annual()
    frame.loc[1, "balance_usd_mn"] = 0.0
    with pytest.raises(DataError, match="balance_usd_mn != exports_usd_mn - imports_usd_mn"):
        io.write_table("census_annual", frame, tmp_path)


def test_read_checks_the_stored_table(tmp_path):
    bad = _annual().assign(months_reported=[12, 13])
    bad.to_parquet(tmp_path / "census_annual.parquet", index=False)  # written around the schema
    with pytest.raises(DataError, match=r"data/processed/census_annual.parquet: field 'months_reported'.*rows: 1"):
        io.read_table("census_annual", tmp_path)


def test_missing_table_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make processed"):
        io.read_table("census_annual", tmp_path)


def test_reads_are_recorded_with_their_checksum(tmp_path):
    import hashlib

    io.write_table("census_annual", _annual(), tmp_path)
    io.read_table("census_annual", tmp_path)
    digest = hashlib.sha256((tmp_path / "census_annual.parquet").read_bytes()).hexdigest()
    assert io.tables_read()["census_annual"] == digest


def test_processed_tables_pass_their_schemas():
    # the tables built by `make processed` from the real data
    from korus_research.schemas import TABLES

    for name in TABLES:
        assert len(io.read_table(name)) > 0, name


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = io.write_table("census_annual", _annual(), tmp_path)
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_extra_column_and_duplicates_are_named(tmp_path):
    with pytest.raises(DataError, match=r"field 'extra': schema census_annual: unexpected column\(s\) \['extra'\]"):
        io.validate("census_annual", _annual().assign(extra=1))
    twice = _annual()
    twice.index = [10, 11]  # SYNTHETIC: labels that are not positions, then a duplicated row
    with pytest.raises(DataError, match=r"field 'vintage\+cty_code\+year'.*duplicat|uniqueness.*rows: 0, 2"):
        io.validate("census_annual", pd.concat([twice, twice.iloc[[0]]]))
