"""USITC DataWeb client, tested against a loopback server (tests/replay.py) that replays the report
recorded in tests/data/recorded/dataweb/. That report was CONSTRUCTED FROM THE DATAWEB API USER
GUIDE (its response layout; assumed column labels, illustrative numbers), not captured from
datawebws.usitc.gov: no test uses the network. Waits between retries are made instant."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest

from korus_research import apiclient, dataweb
from korus_research.errors import ParameterError
from replay import ReplayServer
from test_secrets import KEY_LIKE

RECORDED = Path(__file__).parent / "data" / "recorded" / "dataweb"
# a fake token shaped like a JWT (a base64 header, then payload and signature), built here so the
# file holds no token-like literal
TOKEN = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=") + ".fake-token-only-for-these-tests.sig"
FAST = apiclient.RetryPolicy(tries=3, base=0.01)
YEARS, CODES = [2011, 2016], ["8703", "8708", "6110"]


def recorded() -> bytes:
    return (RECORDED / "kor_hts10_2011_2016.json").read_bytes()


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(dataweb.TOKEN_VARIABLE, TOKEN)
    monkeypatch.delenv(dataweb.URL_VARIABLE, raising=False)


def serve(reply=lambda p, q: recorded()):
    return ReplayServer(reply, "/dataweb", with_path=True)


def fetch(tmp_path, server_url, **kw):
    return dataweb.fetch_tariff_lines(YEARS, "KOR", CODES, raw_dir=tmp_path, url=server_url, **kw)


def test_query_builder_changes_the_guides_basic_query_as_documented():
    query = dataweb.report_query(YEARS, "KOR", CODES)
    assert query["reportOptions"] == {"tradeType": "Import", "classificationSystem": "HTS"}
    options = query["searchOptions"]
    assert options["componentSettings"]["dataToReport"] == ["CONS_CUSTOMS_VALUE", "CONS_CALC_DUTY"]
    assert options["componentSettings"]["years"] == ["2011", "2016"]
    assert options["componentSettings"]["yearsTimeline"] == "Annual" and options["componentSettings"]["scale"] == "1"
    assert options["commodities"]["granularity"] == "10" and options["commodities"]["commodities"] == CODES
    assert options["commodities"]["aggregation"] == "Break Out Commodities"
    assert options["commodities"]["commoditySelectType"] == "list"
    assert options["countries"]["countries"] == ["5800"] and options["countries"]["countriesSelectType"] == "list"
    assert options["MiscGroup"]["extImportPrograms"]["aggregation"] == "Break Out CSC"
    assert options["MiscGroup"]["provisionCodes"]["aggregation"] == "Break Out RPCODE"
    assert query["sortingAndDataFormat"] == dataweb.BASIC_QUERY["sortingAndDataFormat"]
    assert dataweb.BASIC_QUERY["searchOptions"]["componentSettings"]["years"] == ["2022", "2023"]  # not mutated
    every = dataweb.report_query([2016], "COL", country_value="3010X")
    assert every["searchOptions"]["commodities"]["commoditySelectType"] == "all"
    assert every["searchOptions"]["countries"]["countries"] == ["3010X"]
    for bad in [dict(years=[]), dict(years=[1980]), dict(commodities=["870"]), dict(partner="XXX")]:
        with pytest.raises(ParameterError):
            dataweb.report_query(**(dict(years=YEARS, partner="KOR") | bad))


def test_normal_answer_is_tidy_with_programs_and_duties(tmp_path, waits):
    with serve() as server:
        lines = fetch(tmp_path, server.url)
    assert server.seen[0][0] == "/dataweb/api/v2/report2/runReport"
    assert json.loads(server.bodies[0]) == dataweb.report_query(YEARS, "KOR", CODES)
    assert server.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    assert list(lines.columns) == ["hts10", "partner", "year", "program", "rate_provision", "customs_value_usd",
                                   "calculated_duties_usd"]
    assert len(lines) == 7  # lines with neither value nor duties in a year are dropped
    cars = lines.set_index(["hts10", "year", "program"]).sort_index().loc[("8703230190", 2016)]
    assert cars.loc["KR", "customs_value_usd"] == 10_540_000_000 and cars.loc["KR", "calculated_duties_usd"] == 0
    assert cars.loc["KR", "rate_provision"] == "18"
    assert cars.loc["none", "calculated_duties_usd"] == 3_000_000 and cars.loc["none", "rate_provision"] == "61"
    assert set(lines["partner"]) == {"KOR"} and set(lines["program"]) == {"KR", "none"}
    dataweb.DATAWEB_TARIFF_LINES.validate(lines)
    shares = dataweb.program_shares(lines).set_index(["hts10", "year"])
    assert shares.loc[("8703230190", 2016), "share_kr"] == pytest.approx(10_540 / (10_540 + 120))
    assert shares.loc[("8703230190", 2011), "share_kr"] == 0
    assert shares.loc[("8703230190", 2011), "duty_rate"] == pytest.approx(0.025)
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    (name, record), = manifest.items()
    assert name.startswith("dataweb/runReport_KOR_2011_2016_8703_8708_6110-") and len(record["sha256"]) == 64
    assert record["source"].startswith("POST http://127.0.0.1") and '"CONS_CALC_DUTY"' in record["source"]
    assert "[header Authorization: REDACTED]" in record["source"]


def test_second_call_is_a_cache_hit_even_without_a_token(tmp_path, waits, monkeypatch):
    with serve() as server:
        first = fetch(tmp_path, server.url)
        again = fetch(tmp_path, server.url)
    assert len(server.seen) == 1
    pd.testing.assert_frame_equal(first, again)
    monkeypatch.delenv(dataweb.TOKEN_VARIABLE)
    pd.testing.assert_frame_equal(first, fetch(tmp_path, "http://127.0.0.1:9"))


def test_no_token_and_nothing_cached_says_how_to_get_one(tmp_path, waits, monkeypatch):
    monkeypatch.delenv(dataweb.TOKEN_VARIABLE)
    with pytest.raises(apiclient.APIRequestError, match="no DATAWEB_TOKEN in the environment") as err:
        fetch(tmp_path, "http://127.0.0.1:9")
    assert "API tab" in str(err.value) and not (tmp_path / "dataweb").exists()


def test_an_unfinished_report_is_asked_again(tmp_path, waits):
    replies = [b'{"dto": null}', b'{"dto": null}']

    with serve(lambda p, q: replies.pop(0) if replies else recorded()) as server:
        lines = fetch(tmp_path, server.url, policy=FAST)
    assert len(server.seen) == 3 and len(waits) == 2 and len(lines) == 7


def test_rate_limit_then_success_honours_retry_after(tmp_path, waits):
    with serve(lambda p, q: (429, b"", {"Retry-After": "3"}) if len(server.seen) == 1 else recorded()) as server:
        lines = fetch(tmp_path, server.url, policy=FAST)
    assert len(server.seen) == 2 and waits == [3.0] and len(lines) == 7


def test_rate_limit_forever_is_a_rate_limit_error(tmp_path, waits):
    with serve(lambda p, q: (429, b"Too many requests")) as server:
        with pytest.raises(apiclient.RateLimitError) as err:
            fetch(tmp_path, server.url, policy=FAST)
    assert len(server.seen) == 3 and waits == FAST.waits()
    text = str(err.value)
    assert text.startswith("dataweb API, query POST http://127.0.0.1") and '"years":["2011","2016"]' in text
    assert "on all 3 tries" in text and TOKEN not in text and "Authorization: REDACTED" in text
    too_long = apiclient.RetryPolicy(tries=3, max_retry_after=60)
    with serve(lambda p, q: (429, b"", {"Retry-After": "3600"})) as server:
        with pytest.raises(apiclient.RateLimitError, match="Retry-After 3600 s, longer than the 60 s"):
            fetch(tmp_path, server.url, policy=too_long)
    assert len(server.seen) == 1


def test_empty_result_names_the_query(tmp_path, waits):
    empty = json.loads(recorded())
    for table in empty["dto"]["tables"]:
        table["row_groups"] = [{"rowsNew": []}]
    with serve(lambda p, q: json.dumps(empty).encode()) as server:
        with pytest.raises(apiclient.EmptyResultError) as err:
            fetch(tmp_path, server.url)
    text = str(err.value)
    assert "the report has no rows" in text and '"countries":["5800"]' in text and "runReport" in text
    assert not (tmp_path / "dataweb").exists()


def test_dataweb_errors_are_reported(tmp_path, waits):
    failed = json.dumps({"dto": {"errors": ["Dataweb is in data load mode"], "tables": []}}).encode()
    with serve(lambda p, q: failed) as server:
        with pytest.raises(apiclient.APIRequestError, match="DataWeb rejected the query: .*data load mode"):
            fetch(tmp_path, server.url)


def test_a_renamed_column_is_a_schema_change(tmp_path, waits):
    renamed = recorded().replace(b'"HTS Number"', b'"Tariff Line"')
    with serve(lambda p, q: renamed) as server:
        with pytest.raises(apiclient.SchemaChangedError) as err:
            fetch(tmp_path, server.url)
    assert "field 'HTS Number'" in str(err.value) and "'Tariff Line'" in str(err.value)
    assert not (tmp_path / "dataweb").exists()
    swapped = json.loads(recorded())
    swapped["dto"]["tables"].reverse()
    with serve(lambda p, q: json.dumps(swapped).encode()) as server:
        with pytest.raises(apiclient.SchemaChangedError, match="dataToReportDesc"):
            fetch(tmp_path, server.url)


def test_no_token_in_any_written_file_or_error(tmp_path, waits, caplog):
    def echoes(path, query):  # answers that echo the token, as an error page might
        token = server.headers[-1]["Authorization"].split()[-1]
        if len(server.seen) > 1:
            return 401, f"invalid token {token}".encode()
        body = json.loads(recorded())
        body["dto"]["tables"][0]["tableInfo"]["note"] = f"run for {token.upper()}"
        return json.dumps(body).encode()

    with caplog.at_level("DEBUG"), serve(echoes) as server:
        fetch(tmp_path, server.url)
        with pytest.raises(apiclient.APIRequestError) as err:
            dataweb.fetch_tariff_lines([2012], "KOR", CODES, raw_dir=tmp_path, url=server.url)
    assert "HTTP 401: invalid token REDACTED" in str(err.value) and TOKEN not in str(err.value)
    assert TOKEN.lower() not in caplog.text.lower()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 2
    for path in written:
        text = path.read_text()
        assert TOKEN.lower() not in text.lower(), path
        for pattern in KEY_LIKE:
            assert not pattern.search(text), path


def test_command_line_downloads_into_the_raw_folder(tmp_path, waits, monkeypatch, capsys):
    monkeypatch.setenv("KORUS_DATA_RAW", str(tmp_path))
    with serve() as server:
        monkeypatch.setenv(dataweb.URL_VARIABLE, server.url)
        assert dataweb.main(["--years", "2011", "2016", "--commodities", *CODES]) == 0
    monkeypatch.delenv(dataweb.TOKEN_VARIABLE)
    assert dataweb.main(["--years", "2012"]) == 1
    out = capsys.readouterr().out
    assert "KR" in out and "none" in out and "error: dataweb API" in out and "DATAWEB_TOKEN" in out
    assert len(list((tmp_path / "dataweb").glob("*.json"))) == 1
