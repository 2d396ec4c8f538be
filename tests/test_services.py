"""BEA services client, tested against a loopback server that replays a response recorded
by the test (SYNTHETIC values in the BEA layout); no network, and the key never stored."""

from __future__ import annotations

import json

import pytest

from korus_research import io, services
from replay import ReplayServer

KEY = "ABCDEF12-3456-7890-ABCD-EF1234567890"  # a fake key, only for these tests


def recorded_response(user_id: str) -> dict:
    """A response in the BEA layout (SYNTHETIC numbers); it echoes the request, key included."""
    return {"BEAAPI": {
        "Request": {"RequestParam": [{"ParameterName": "USERID", "ParameterValue": user_id},
                                     {"ParameterName": "DATASETNAME", "ParameterValue": "IntlServTrade"}]},
        "Results": {"Data": [
            {"TypeOfService": "AllServiceTypes", "TradeDirection": "Exports", "Affiliation": "AllAffiliations",
             "AreaOrCountry": "Korea, South", "TimePeriod": str(y), "DataValue": f"{v:,}", "UNIT_MULT": "6"}
            for y, v in [(2013, 20900), (2014, 21500), (2015, 22400), (2016, 21600)]]}}}


def test_download_strips_the_key_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv(services.KEY_VARIABLE, KEY)
    with ReplayServer(lambda q: json.dumps(recorded_response(q["UserID"][0])).encode(), "/api/data") as server:
        payload = services.fetch_services("Korea, South", raw_dir=tmp_path, url=server.url)
    assert server.seen[0]["datasetname"] == ["IntlServTrade"]
    assert server.seen[0]["AreaOrCountry"] == ["Korea, South"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(), path
    assert KEY not in json.dumps(payload)
    table = services.parse_services(payload)
    assert table.set_index("year").loc[2016, "value_usd_mn"] == 21600
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert "bea/IntlServTrade_Korea_South.json" in manifest
    # cached: no key, no server needed
    monkeypatch.delenv(services.KEY_VARIABLE)
    assert services.fetch_services("Korea, South", raw_dir=tmp_path) == payload


def test_api_error_is_clear_and_keyless(tmp_path, monkeypatch):
    monkeypatch.setenv(services.KEY_VARIABLE, KEY)
    error = {"BEAAPI": {"Error": {"APIErrorCode": "3", "APIErrorDescription": f"bad key {KEY}"}}}
    with ReplayServer(lambda q: json.dumps(error).encode(), "/api/data") as server:
        with pytest.raises(services.ServicesError) as err:
            services.fetch_services("Korea, South", raw_dir=tmp_path, url=server.url)
    assert "BEA API error" in str(err.value) and KEY not in str(err.value)
    assert not (tmp_path / "bea").exists()


def test_no_key_no_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(services.KEY_VARIABLE, raising=False)
    with pytest.raises(services.ServicesError, match="no BEA_API_KEY in the environment"):
        services.fetch_services("Korea, South", raw_dir=tmp_path)


def test_published_services_and_the_stall_claim():
    pub = services.published_services(io.read_table("benchmarks"))
    exports = pub[pub["direction"] == "exports"].set_index("year")["value_usd_bn"]
    assert exports[2013] == 20.9 and exports[2016] == 21.6
    verdict = services.stalled(exports, 2013, 2016)
    assert verdict["years"] == [2013, 2015, 2016] and verdict["stalled"] is True


def _keyless(text: str) -> bool:
    import urllib.parse

    low = text.lower()
    return all(form.lower() not in low for form in (KEY, urllib.parse.quote(KEY, safe="")))


def _slow(q):
    import time

    time.sleep(1.5)
    return b"{}"


@pytest.mark.parametrize("case", ["scheme-less url", "refused", "not json", "echo in other case", "api error",
                                  "http 500", "timeout"])
def test_every_error_path_scrubs_the_key(tmp_path, monkeypatch, capsys, case):
    monkeypatch.setenv(services.KEY_VARIABLE, KEY)
    echo = {"BEAAPI": {"Results": {"Error": {"APIErrorDescription": f"bad UserID {KEY.lower()}"}}}}
    replies = {"not json": lambda q: b"<html>SYNTHETIC not json " + KEY.encode() + b"</html>",
               "echo in other case": lambda q: json.dumps(recorded_response(q["UserID"][0].lower())).encode(),
               "api error": lambda q: json.dumps(echo).encode(),
               "http 500": lambda q: (500, f"SYNTHETIC server error for UserID={q['UserID'][0]}".encode()),
               "timeout": _slow}
    raised = None
    try:
        if case == "scheme-less url":
            services.fetch_services("Korea, South", raw_dir=tmp_path, url="apps.bea.gov/api/data")
        elif case == "refused":
            services.fetch_services("Korea, South", raw_dir=tmp_path, url="http://127.0.0.1:9/api/data", timeout=5)
        else:
            with ReplayServer(replies[case], "/api/data") as server:
                services.fetch_services("Korea, South", raw_dir=tmp_path, url=server.url,
                                        timeout=0.5 if case == "timeout" else 60)
    except services.ServicesError as err:
        raised = str(err)
    if case != "echo in other case":
        assert raised is not None and _keyless(raised)
    out = capsys.readouterr()
    assert _keyless(out.out + out.err)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert _keyless(path.read_text(errors="ignore")), path
