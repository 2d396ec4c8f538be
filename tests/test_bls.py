"""BLS trade price client, tested against a loopback server that replays recorded responses in the
BLS API layout (tests/data/bls/*.json, SYNTHETIC values); no network, and the key never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from korus_research import bls, macro
from replay import ReplayServer

RECORDED = Path(__file__).parent / "data" / "bls"
KEY = "0123456789abcdef0123456789abcdef"  # a fake key, only for these tests


def _recorded(series: str, query: dict) -> bytes:
    path = RECORDED / f"{series}_{query['startyear'][0]}-{query['endyear'][0]}.json"
    return path.read_bytes() if path.exists() else json.dumps(
        {"status": "REQUEST_NOT_PROCESSED", "message": [f"Series does not exist for {series}"]}).encode()


class BLSReplay(ReplayServer):
    """Serve ``/<series id>?startyear=&endyear=`` from the recorded responses on 127.0.0.1;
    ``reply(series, query)`` may override the answer (bytes, or (status, bytes)); ``seen`` keeps
    ``(series, query)``."""

    def __init__(self, reply=None):
        def body_for(path, query):
            series = path.rstrip("/").rsplit("/", 1)[-1]
            body = reply(series, query) if reply else None
            return _recorded(series, query) if body is None else body

        super().__init__(body_for, "/publicAPI/v2/timeseries/data", with_path=True)

    @property
    def series_seen(self):
        return [(path.rstrip("/").rsplit("/", 1)[-1], query) for path, query in self.seen]


def test_download_parses_caches_and_annualises(tmp_path, monkeypatch):
    monkeypatch.delenv(bls.KEY_VARIABLE, raising=False)
    with BLSReplay() as server:
        table = bls.fetch_trade_prices("KOR", 2000, 2019, raw_dir=tmp_path, url=server.url)
    # keyless: 10-year windows, one request per window and series
    assert sorted((s, q["startyear"][0]) for s, q in server.series_seen) == [
        ("EIUCOPRIMTOT", "2000"), ("EIUCOPRIMTOT", "2010"), ("EIUIQ", "2000"), ("EIUIQ", "2010")]
    assert table.attrs["import_price"].startswith("BLS import price index, locality of origin: Pacific Rim")
    # annual mean of the twelve recorded months (the M13 annual average is not used)
    recorded = json.loads((RECORDED / "EIUCOPRIMTOT_2010-2019.json").read_text())["Results"]["series"][0]["data"]
    months = [float(o["value"]) for o in recorded if o["year"] == "2019" and o["period"] != "M13"]
    assert table.loc[2019, "import_price"] == pytest.approx(sum(months) / 12)
    # a month reported as "-" leaves its year incomplete: no annual value
    assert pd.isna(table.loc[2000, "export_price"]) and table.loc[2000, "import_price"] > 0
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert "bls/EIUIQ_2010-2019.json" in manifest and len(manifest["bls/EIUIQ_2010-2019.json"]["sha256"]) == 64
    # the cache answers without a server; the notebooks read only the cache
    again = bls.fetch_trade_prices("KOR", 2000, 2019, raw_dir=tmp_path)
    pd.testing.assert_frame_equal(again, table)
    cached, note = bls.cached_trade_prices("KOR", 2000, 2019, raw_dir=tmp_path)
    pd.testing.assert_frame_equal(cached, table)
    assert note == "BLS (cached responses)"


def test_nothing_cached_says_how_to_download(tmp_path):
    table, note = bls.cached_trade_prices("KOR", 1990, 2019, raw_dir=tmp_path)
    assert table is None and "python -m korus_research.bls --partner KOR" in note


def test_key_is_sent_but_never_stored_or_shown(tmp_path, monkeypatch):
    monkeypatch.setenv(bls.KEY_VARIABLE, KEY)

    def echo(series, query):  # an answer that echoes the key, as an error message might
        if series == "EIUIQ":
            return json.dumps({"status": "REQUEST_NOT_PROCESSED", "message": [f"bad key {query['registrationkey'][0]}"]}).encode()
        payload = json.loads((RECORDED / f"{series}_2010-2019.json").read_text())
        payload["message"] = [f"key {query['registrationkey'][0].upper()} accepted"]
        return json.dumps(payload).encode()

    with BLSReplay(echo) as server:
        with pytest.raises(bls.BLSError) as err:
            bls.fetch_trade_prices("KOR", 2010, 2019, raw_dir=tmp_path, url=server.url)
    assert server.series_seen[0][1]["registrationkey"] == [KEY]  # with a key: 20-year windows
    assert server.series_seen[0][1]["startyear"] == ["2010"] and server.series_seen[0][1]["endyear"] == ["2019"]
    assert "BLS API error" in str(err.value) and KEY not in str(err.value)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.lower() not in path.read_text().lower(), path


@pytest.mark.parametrize("case", ["not json", "http 500", "no data", "refused"])
def test_failures_are_one_clear_error(tmp_path, monkeypatch, case):
    monkeypatch.setenv(bls.KEY_VARIABLE, KEY)
    replies = {"not json": lambda s, q: b"<html>SYNTHETIC</html>",
               "http 500": lambda s, q: (500, f"SYNTHETIC failure for {q['registrationkey'][0]}".encode()),
               "no data": lambda s, q: json.dumps({"status": "REQUEST_SUCCEEDED", "message": ["No Data Available"],
                                                   "Results": {"series": [{"seriesID": s, "data": []}]}}).encode()}
    if case == "refused":
        with pytest.raises(bls.BLSError, match="failed"):
            bls.fetch_series("EIUIQ", 2010, 2019, raw_dir=tmp_path, url="http://127.0.0.1:9/data", timeout=5)
    else:
        with BLSReplay(replies[case]) as server, pytest.raises(bls.BLSError) as err:
            bls.fetch_series("EIUIQ", 2010, 2019, raw_dir=tmp_path, url=server.url)
        assert KEY not in str(err.value)
    assert not (tmp_path / "bls").exists()


def test_series_for_partners():
    assert bls.series_for("KOR")["import_price"][0] == "EIUCOPRIMTOT"
    assert bls.series_for("chn")["import_price"][0] == "EIUCOCHNTOT"
    assert bls.series_for("SLV")["import_price"][0] == bls.ALL_IMPORTS
    assert bls.series_for("KOR")["export_price"][0] == bls.ALL_EXPORTS


def test_cached_prices_deflate_only_when_they_cover_the_sample(tmp_path, monkeypatch):
    """The recorded indexes cover 2000-2019 (exports from 2001): the frame uses them for a sample
    they cover, and the GDP deflator, with the reason, for one they do not."""
    from korus_research import io

    monkeypatch.delenv(bls.KEY_VARIABLE, raising=False)
    with BLSReplay() as server:
        bls.fetch_trade_prices("KOR", 2000, 2019, raw_dir=tmp_path, url=server.url)
    prices, _ = bls.cached_trade_prices("KOR", 2000, 2019, raw_dir=tmp_path)
    tables = {n: io.read_table(n) for n in ["census_annual", "fred_macro", "worldbank_indicators", "bis_eer_monthly",
                                            "fx_krw_usd_annual"]}
    frame = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral", prices=prices, price_years=(2001, 2019))
    assert frame.attrs["deflators"]["imports"].startswith("trade price index: BLS import price index")
    assert frame.loc[2015, "imports_real"] == pytest.approx(
        frame.loc[2015, "imports_nominal"] / (prices.loc[2015, "import_price"] / prices.loc[2012, "import_price"]))
    full = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral", prices=prices, price_years=(1990, 2019))
    assert full.attrs["deflators"]["exports"].startswith("US GDP deflator: the trade price index")
