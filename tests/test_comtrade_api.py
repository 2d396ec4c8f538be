"""UN Comtrade v1 client, tested against a loopback server (tests/replay.py) that replays answers
recorded in tests/data/recorded/comtrade/. Those answers were CONSTRUCTED FROM THE API'S
DOCUMENTATION (the documented v1 record layout, illustrative numbers), not captured from
comtradeapi.un.org: no test uses the network. Waits between retries are made instant."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from korus_research import apiclient, comtrade_api
from korus_research.errors import ParameterError
from replay import ReplayServer
from test_secrets import KEY_LIKE

RECORDED = Path(__file__).parent / "data" / "recorded" / "comtrade"
KEY = "0123456789abcdef" + "fedcba9876543210"  # a fake subscription key, only for these tests
FAST = apiclient.RetryPolicy(tries=3, base=0.01)


def recorded(name: str = "kor_usa_hs6_2016.json") -> bytes:
    return (RECORDED / name).read_bytes()


def answer(path: str, query: dict) -> bytes:
    if query["period"] == ["2016"]:
        return recorded()
    return json.dumps({"elapsedTime": "0.1 secs", "count": 0, "data": [], "error": ""}).encode()


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv(comtrade_api.KEY_VARIABLE, raising=False)
    monkeypatch.delenv(comtrade_api.URL_VARIABLE, raising=False)


def serve(reply=answer):
    return ReplayServer(reply, "", with_path=True)


def test_query_uses_the_preview_without_a_key_and_the_data_endpoint_with_one():
    preview = comtrade_api.hs6_query("KOR", 2016)
    assert preview.url == "https://comtradeapi.un.org/public/v1/preview/C/A/HS"
    assert preview.params == {"reporterCode": "410", "partnerCode": "842", "period": "2016", "cmdCode": "AG6",
                              "flowCode": "M,X", "partner2Code": "0", "customsCode": "C00", "motCode": "0",
                              "maxRecords": "500", "includeDesc": "false"}
    full = comtrade_api.hs6_query("KOR", 2016, key=KEY)
    assert full.url == "https://comtradeapi.un.org/data/v1/get/C/A/HS" and full.params["maxRecords"] == "100000"
    assert full.secret_headers == {"Ocp-Apim-Subscription-Key": KEY} and KEY not in full.describe()
    assert full.identity() != preview.identity()
    assert comtrade_api.m49("fra") == 251 and comtrade_api.m49("USA") == 842
    for bad in [dict(flows="I"), dict(commodities="87"), dict(year=1970), dict(reporter="XXX")]:
        with pytest.raises(ParameterError):
            comtrade_api.hs6_query(**(dict(reporter="KOR", year=2016) | bad))


def test_normal_answer_is_tidy_with_cif_and_fob(tmp_path, waits):
    with serve() as server:
        table = comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
    path, query = server.seen[0]
    assert path == "/public/v1/preview/C/A/HS" and query["reporterCode"] == ["410"] and query["partnerCode"] == ["842"]
    assert list(table.columns) == ["reporter", "partner", "flow", "hs6", "year", "value_usd", "valuation", "classification"]
    cars = table.set_index(["flow", "hs6"]).loc[("export", "870323")]
    assert (cars["reporter"], cars["partner"], cars["year"], cars["value_usd"], cars["valuation"]) == (
        "KOR", "USA", 2016, 10_850_000_000.0, "FOB")
    assert set(table.loc[table["flow"] == "import", "valuation"]) == {"CIF"}
    assert set(table["classification"]) == {"H4"}
    comtrade_api.COMTRADE_HS6.validate(table)
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    (name, record), = manifest.items()
    assert name.startswith("comtrade/preview_KOR_USA_AG6_2016-") and len(record["sha256"]) == 64
    assert "reporterCode=410" in record["source"] and record["official_url"].endswith("/public/v1/preview/C/A/HS")


def test_second_call_is_a_cache_hit(tmp_path, waits):
    with serve() as server:
        first = comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
        again = comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
    assert len(server.seen) == 1
    pd.testing.assert_frame_equal(first, again)
    offline = comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url="http://127.0.0.1:9")
    pd.testing.assert_frame_equal(first, offline)


def test_rate_limit_then_success_honours_retry_after(tmp_path, waits):
    def limited(path, query):
        return (429, recorded("rate_limited.json"), {"Retry-After": "2"}) if len(server.seen) == 1 else answer(path, query)

    with serve(limited) as server:
        table = comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 2 and waits == [2.0] and len(table) == 5


def test_rate_limit_forever_is_a_rate_limit_error(tmp_path, waits, monkeypatch):
    monkeypatch.setenv(comtrade_api.KEY_VARIABLE, KEY)
    with serve(lambda p, q: (429, recorded("rate_limited.json"))) as server:
        with pytest.raises(apiclient.RateLimitError) as err:
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 3 and waits == FAST.waits()
    assert all(h.get("Ocp-Apim-Subscription-Key") == KEY for h in server.headers)  # sent in the header ...
    assert all("subscription-key" not in {k.lower() for k in q} for _, q in server.seen)  # ... not the address
    text = str(err.value)
    assert text.startswith("comtrade API, query GET http://127.0.0.1") and "/data/v1/get/C/A/HS" in text
    assert "Rate limit is exceeded" in text and "on all 3 tries" in text
    assert f"[header {comtrade_api.KEY_HEADER}: REDACTED]" in text and KEY not in text


def test_a_spent_quota_is_a_rate_limit_error_at_once(tmp_path, waits):
    quota = json.dumps({"statusCode": 403, "message": "Out of call volume quota. Quota will be replenished in 07:21:53."})
    with serve(lambda p, q: (403, quota.encode())) as server:
        with pytest.raises(apiclient.RateLimitError, match="quota spent"):
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url, policy=FAST)
    assert len(server.seen) == 1 and waits == []


def test_empty_result_names_the_query(tmp_path, waits):
    with serve() as server:
        with pytest.raises(apiclient.EmptyResultError) as err:
            comtrade_api.fetch_hs6("KOR", [2015], raw_dir=tmp_path, url=server.url)
    text = str(err.value)
    assert "'data' is empty" in text and "period=2015" in text and "reporterCode=410" in text
    assert not (tmp_path / "comtrade").exists()


def test_an_error_in_the_answer_and_a_truncated_preview(tmp_path, waits):
    failed = json.dumps({"elapsedTime": "0 secs", "count": 0, "data": None, "error": "Invalid period"}).encode()
    with serve(lambda p, q: failed) as server:
        with pytest.raises(apiclient.APIRequestError, match="Invalid period"):
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
    full = json.loads(recorded())
    full["data"] = [dict(full["data"][0], cmdCode=f"{870000 + i}") for i in range(500)]
    with serve(lambda p, q: json.dumps(full).encode()) as server:
        with pytest.raises(apiclient.APIRequestError, match=f"truncated; set {comtrade_api.KEY_VARIABLE}"):
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
    assert not (tmp_path / "comtrade").exists()


def test_a_renamed_field_is_a_schema_change(tmp_path, waits):
    renamed = recorded().replace(b'"primaryValue"', b'"primaryTradeValue"')
    with serve(lambda p, q: renamed) as server:
        with pytest.raises(apiclient.SchemaChangedError) as err:
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
    assert "field 'primaryValue'" in str(err.value) and "record 0 lacks 'primaryValue'" in str(err.value)
    assert not (tmp_path / "comtrade").exists()
    other = recorded().replace(b'"reporterCode": 410', b'"reporterCode": 392', 1)
    with serve(lambda p, q: other) as server:
        with pytest.raises(apiclient.SchemaChangedError, match="reporterCode"):
            comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)


def test_no_key_in_any_written_file_or_error(tmp_path, waits, monkeypatch, caplog):
    monkeypatch.setenv(comtrade_api.KEY_VARIABLE, KEY)

    def echoes(path, query):  # answers that echo the key, as a gateway error might
        key = server.headers[-1]["Ocp-Apim-Subscription-Key"]
        if query["period"] == ["2015"]:
            return 401, json.dumps({"statusCode": 401, "message": f"Access denied: invalid key {key}"}).encode()
        body = json.loads(recorded())
        body["elapsedTime"] = f"0.2 secs for {key.upper()}"
        return json.dumps(body).encode()

    with caplog.at_level("DEBUG"), serve(echoes) as server:
        comtrade_api.fetch_hs6("KOR", [2016], raw_dir=tmp_path, url=server.url)
        with pytest.raises(apiclient.APIRequestError) as err:
            comtrade_api.fetch_hs6("KOR", [2015], raw_dir=tmp_path, url=server.url)
    assert server.seen[0][0] == "/data/v1/get/C/A/HS"
    assert "HTTP 401" in str(err.value) and KEY.lower() not in str(err.value).lower()
    assert KEY.lower() not in caplog.text.lower()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 2
    for path in written:
        text = path.read_text()
        assert KEY.lower() not in text.lower(), path
        for pattern in KEY_LIKE:
            assert not pattern.search(text), path


def test_command_line_downloads_into_the_raw_folder(tmp_path, waits, monkeypatch, capsys):
    monkeypatch.setenv("KORUS_DATA_RAW", str(tmp_path))
    with serve() as server:
        monkeypatch.setenv(comtrade_api.URL_VARIABLE, server.url)
        assert comtrade_api.main(["--reporter", "KOR", "--years", "2016"]) == 0
        assert comtrade_api.main(["--reporter", "KOR", "--years", "2015"]) == 1
    out = capsys.readouterr().out
    assert "export  FOB" in out and "import  CIF" in out and "error: comtrade API" in out
    assert len(list((tmp_path / "comtrade").glob("*.json"))) == 1
