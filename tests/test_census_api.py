"""Census International Trade API client, tested against a loopback server (tests/replay.py) that
replays answers recorded in tests/data/recorded/census/. Those answers were CONSTRUCTED FROM THE
API'S DOCUMENTATION (the documented layout, illustrative numbers), not captured from
api.census.gov: no test uses the network. Waits between retries are made instant."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from korus_research import apiclient, census_api
from korus_research.errors import DataError, ParameterError
from replay import ReplayServer
from test_secrets import KEY_LIKE

RECORDED = Path(__file__).parent / "data" / "recorded" / "census"
KEY = "c" * 8 + "0123456789abcdef0123456789abcdef"  # a fake 40-character key, only for these tests
FAST = apiclient.RetryPolicy(tries=3, base=0.01)


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def answer(path: str, query: dict) -> bytes | tuple:
    """The recorded answer to a query, chosen by endpoint and frequency (like the real API)."""
    flow = "imports" if "/imports/" in path else "exports"
    kind = "enduse" if path.endswith("enduse") else "hs6"
    freq = "annual" if "MONTH" in query else "monthly"
    name = f"{flow}_{kind}_{query['time'][0]}_{freq}.json"
    return recorded(name) if (RECORDED / name).exists() else (204, b"")


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv(census_api.KEY_VARIABLE, raising=False)
    monkeypatch.delenv(census_api.URL_VARIABLE, raising=False)


def serve(reply=answer):
    return ReplayServer(reply, "/data/timeseries/intltrade", with_path=True)


def test_query_follows_the_documented_parameters():
    annual = census_api.trade_query("import", "HS6", 2016)
    assert annual.url == "https://api.census.gov/data/timeseries/intltrade/imports/hs"
    assert annual.params == {"get": "I_COMMODITY,CTY_NAME,GEN_VAL_YR", "CTY_CODE": "5800", "COMM_LVL": "HS6",
                             "time": "2016", "MONTH": "12"}
    monthly = census_api.trade_query("export", "HS10", 2013, "monthly", "COL", commodity="8802400000")
    assert monthly.url.endswith("/exports/hs") and "MONTH" not in monthly.params
    assert monthly.params["get"] == "E_COMMODITY,CTY_NAME,ALL_VAL_MO" and monthly.params["CTY_CODE"] == "3010"
    assert monthly.params["E_COMMODITY"] == "8802400000"
    enduse = census_api.enduse_query(2016)
    assert enduse.url.endswith("/exports/enduse") and enduse.params["get"].startswith("E_ENDUSE,E_ENDUSE_LDESC,ALL_VAL_YR")
    for bad in [dict(flow="re_export"), dict(level="HS8"), dict(year=2005), dict(partner="XXX"), dict(commodity="87")]:
        args = dict(flow="import", level="HS6", year=2016) | bad
        commodity = args.pop("commodity", None)
        with pytest.raises(ParameterError):
            census_api.trade_query(**args, commodity=commodity)


def test_normal_answer_is_tidy_validated_cached_and_recorded(tmp_path, waits):
    with serve() as server:
        table = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
    path, query = server.seen[0]
    assert path.endswith("/imports/hs") and query["COMM_LVL"] == ["HS6"] and query["CTY_CODE"] == ["5800"]
    assert list(table.columns) == ["flow", "partner", "hs", "level", "period", "value_usd"]
    row = table.set_index("hs").loc["870323"]
    assert (row["flow"], row["partner"], row["level"], row["period"], row["value_usd"]) == (
        "import", "KOR", "HS6", "2016", 11_250_000_000.0)
    census_api.CENSUS_TRADE.validate(table)
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    (name, record), = manifest.items()
    assert name.startswith("census/imports_hs_HS6_annual_2016_5800-") and name.endswith(".json")
    assert len(record["sha256"]) == 64 and record["fetched_at"] and "COMM_LVL=HS6" in record["source"]
    assert record["official_url"] == "https://api.census.gov/data/timeseries/intltrade/imports/hs"
    assert waits == []


def test_exports_monthly_and_end_use(tmp_path, waits):
    with serve() as server:
        exports = census_api.fetch_trade("export", "HS6", [2016], raw_dir=tmp_path, url=server.url)
        monthly = census_api.fetch_trade("import", "HS6", [2016], "monthly", raw_dir=tmp_path, url=server.url)
        enduse = census_api.fetch_enduse_exports([2016], raw_dir=tmp_path, url=server.url)
        chapters = census_api.fetch_enduse_exports([2016], level="1", raw_dir=tmp_path, url=server.url)
    assert exports.set_index("hs").loc["880240", "value_usd"] == 3_120_000_000
    assert sorted(monthly["period"].unique()) == ["2016-01", "2016-02"]
    assert monthly.groupby("hs")["value_usd"].sum()["870323"] == 905_000_000 + 948_000_000
    assert enduse["enduse"].tolist() == ["30000", "30200"]  # the total row and the 1-digit group dropped
    assert chapters["enduse"].tolist() == ["3"]
    assert len(server.seen) == 3  # the second end-use call is a cache hit


def test_second_call_is_a_cache_hit(tmp_path, waits):
    with serve() as server:
        first = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
        again = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
    assert len(server.seen) == 1
    pd.testing.assert_frame_equal(first, again)
    # no server at all: still answered from the cache
    offline = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url="http://127.0.0.1:9/none")
    pd.testing.assert_frame_equal(first, offline)
    # refresh asks again
    with serve() as server:
        census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url, refresh=True)
    assert len(server.seen) == 1


def test_an_edited_cache_file_is_refused(tmp_path, waits):
    with serve() as server:
        census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
    cached, = (tmp_path / "census").glob("*.json")
    cached.write_text(cached.read_text().replace("11250000000", "99"))
    with pytest.raises(DataError, match="changed after it was fetched"):
        census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url="http://127.0.0.1:9/none")


def test_rate_limit_then_success_honours_retry_after(tmp_path, waits):
    calls = []

    def limited(path, query):
        calls.append(path)
        if len(calls) == 1:
            return 429, b"Too Many Requests", {"Retry-After": "7"}
        return answer(path, query)

    with serve(limited) as server:
        table = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 2 and waits == [7.0]
    assert len(table) == 4


def test_rate_limit_forever_is_a_rate_limit_error(tmp_path, waits, monkeypatch):
    monkeypatch.setenv(census_api.KEY_VARIABLE, KEY)
    with serve(lambda p, q: (429, b"slow down", {})) as server:
        with pytest.raises(census_api.apiclient.RateLimitError) as err:
            census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 3 and len(waits) == 2 and waits == FAST.waits()
    text = str(err.value)
    assert text.startswith("census API, query GET http://127.0.0.1") and "COMM_LVL=HS6" in text
    assert "key=REDACTED" in text and KEY not in text and "on all 3 tries" in text
    assert server.seen[0][1]["key"] == [KEY]  # the key is sent, never shown
    assert not (tmp_path / "census").exists()


def test_server_errors_are_retried_and_4xx_is_not(tmp_path, waits):
    calls = []

    def flaky(path, query):
        calls.append(1)
        return (503, b"busy") if len(calls) < 3 else answer(path, query)

    with serve(flaky) as server:
        table = census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(table) == 4 and len(waits) == 2
    with serve(lambda p, q: (400, b"error: unknown variable 'I_COMMODITY'")) as server:
        with pytest.raises(apiclient.APIRequestError, match="HTTP 400: error: unknown variable"):
            census_api.fetch_trade("import", "HS6", [2015], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 1


def test_no_connection_after_the_tries(tmp_path, waits):
    with pytest.raises(apiclient.APIRequestError, match="no connection") as err:
        census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url="http://127.0.0.1:9/none",
                               policy=FAST, timeout=2)
    assert len(waits) == 2 and "field 'connection'" in str(err.value)


def test_empty_result_names_the_query(tmp_path, waits):
    with serve() as server:
        with pytest.raises(apiclient.EmptyResultError) as err:
            census_api.fetch_trade("import", "HS6", [2015], raw_dir=tmp_path, url=server.url)
    text = str(err.value)
    assert "HTTP 204" in text and "time=2015" in text and "CTY_CODE=5800" in text and "/imports/hs" in text
    assert not (tmp_path / "census").exists() and not (tmp_path / "MANIFEST.json").exists()
    header_only = json.dumps([json.loads(recorded("imports_hs6_2016_annual.json"))[0]]).encode()
    with serve(lambda p, q: header_only) as server:
        with pytest.raises(apiclient.EmptyResultError, match="header row only"):
            census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)


def test_a_renamed_column_is_a_schema_change(tmp_path, waits):
    renamed = recorded("imports_hs6_2016_annual.json").replace(b'"GEN_VAL_YR"', b'"GEN_VALUE_YR"')
    with serve(lambda p, q: renamed) as server:
        with pytest.raises(apiclient.SchemaChangedError) as err:
            census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
    assert "field 'GEN_VAL_YR'" in str(err.value) and "GEN_VALUE_YR" in str(err.value)
    assert not (tmp_path / "census").exists()  # a changed answer never enters the cache


def test_values_that_break_the_schema_are_a_schema_change(tmp_path, waits):
    payload = json.loads(recorded("imports_hs6_2016_annual.json"))
    payload[1][2] = "-5"
    with serve(lambda p, q: json.dumps(payload).encode()) as server:
        with pytest.raises(apiclient.SchemaChangedError, match="census_trade") as err:
            census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
    assert "value_usd" in str(err.value)
    payload[1][2] = "(D)"
    with serve(lambda p, q: json.dumps(payload).encode()) as server:
        with pytest.raises(apiclient.SchemaChangedError, match="non-numeric"):
            census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url, refresh=True)


def test_no_key_in_any_written_file_or_error(tmp_path, waits, monkeypatch, caplog):
    monkeypatch.setenv(census_api.KEY_VARIABLE, KEY)

    def echoes(path, query):  # an answer that echoes the key, as an error page might
        if query["time"] == ["2015"]:
            return 400, f"Invalid Key: {query['key'][0].upper()} is not active".encode()
        body = json.loads(answer(path, query))
        body[1][1] = f"KOREA, SOUTH (key {query['key'][0]})"
        return json.dumps(body).encode()

    with caplog.at_level("DEBUG"), serve(echoes) as server:
        census_api.fetch_trade("import", "HS6", [2016], raw_dir=tmp_path, url=server.url)
        with pytest.raises(apiclient.APIRequestError) as err:
            census_api.fetch_trade("import", "HS6", [2015], raw_dir=tmp_path, url=server.url)
    assert all(q.get("key") == [KEY] for _, q in server.seen)
    assert KEY.lower() not in str(err.value).lower() and "REDACTED" in str(err.value)
    assert KEY.lower() not in caplog.text.lower()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 2
    for path in written:
        text = path.read_text()
        assert KEY.lower() not in text.lower(), path
        assert "REDACTED" in text or path.name.startswith(".")
        for pattern in KEY_LIKE:
            assert not pattern.search(text), path


def test_partner_codes_agree_with_the_census_table():
    """The built-in codes are those the processed Census table maps to each ISO3 code."""
    from korus_research import io

    try:
        table = io.read_table("census_annual")
    except FileNotFoundError:
        pytest.skip("no processed census_annual table")
    codes = table[table["partner_kind"] == "country"].groupby("iso3")["cty_code"].agg(set)
    for iso3, code in census_api.CTY_CODES.items():
        assert int(code) in codes[iso3], iso3
    assert census_api.cty_code("kor") == "5800" and census_api.cty_code("5800") == "5800"


def test_command_line_downloads_into_the_raw_folder(tmp_path, waits, monkeypatch, capsys):
    monkeypatch.setenv("KORUS_DATA_RAW", str(tmp_path))
    with serve() as server:
        monkeypatch.setenv(census_api.URL_VARIABLE, server.url)
        assert census_api.main(["--flow", "import", "--level", "HS6", "--years", "2016"]) == 0
        assert census_api.main(["--flow", "enduse", "--years", "2016"]) == 0
        assert census_api.main(["--flow", "export", "--years", "2015"]) == 1
    out = capsys.readouterr().out
    assert "import  2016" in out and "export  2016" in out and "error: census API, query" in out
    assert len(list((tmp_path / "census").glob("*.json"))) == 2
