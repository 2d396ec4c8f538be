"""The shared HTTP layer of the API clients: the retry schedule, Retry-After, redaction and the
cache key (no network; the client tests exercise requests through tests/replay.py)."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from korus_research import apiclient
from korus_research.errors import DataError, KorusError

KEY = "Ab12Cd34Ef56Gh78Ij90"  # a fake key, only for these tests


def test_backoff_is_exponential_jittered_capped_and_reproducible():
    policy = apiclient.RetryPolicy(tries=8, base=1.0, cap=20.0, seed=3)
    waits = policy.waits()
    assert len(waits) == 7 and waits == policy.waits()  # the same schedule on every run
    for n, wait in enumerate(waits):
        d = min(20.0, 2.0 ** n)
        assert d / 2 <= wait <= d
    assert waits != apiclient.RetryPolicy(tries=8, base=1.0, cap=20.0, seed=4).waits()
    assert apiclient.RetryPolicy(tries=1).waits() == []


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert apiclient.retry_after("7") == 7.0 and apiclient.retry_after(" 2.5 ") == 2.5
    assert apiclient.retry_after(later, now=now) == pytest.approx(90)
    assert apiclient.retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now=now) == 0.0
    assert apiclient.retry_after(None) is None and apiclient.retry_after("soon") is None


def test_redact_removes_every_form_of_a_key():
    spaced = "a key/with+signs"
    text = f"{KEY} {KEY.lower()} {urllib.parse.quote(spaced, safe='')} {urllib.parse.quote_plus(spaced)} {spaced}"
    out = apiclient.redact(text, [KEY, spaced, ""])
    assert out == " ".join(["REDACTED"] * 5)
    assert apiclient.redact("nothing secret", []) == "nothing secret"


def test_query_description_and_identity_hide_the_key_and_ignore_the_host():
    query = apiclient.Query("census", "https://api.census.gov/data/timeseries/intltrade", "imports/hs",
                            {"get": "I_COMMODITY,GEN_VAL_MO", "time": "from 2016-01 to 2016-03"},
                            secret_params={"key": KEY})
    text = query.describe()
    assert text == ("GET https://api.census.gov/data/timeseries/intltrade/imports/hs?get=I_COMMODITY,GEN_VAL_MO"
                    "&time=from+2016-01+to+2016-03&key=REDACTED")
    elsewhere = apiclient.Query("census", "http://127.0.0.1:8080/x", "imports/hs", dict(query.params))
    assert elsewhere.identity() == query.identity()  # no key, another host: the same cache entry
    other = apiclient.Query("census", query.base, "imports/hs", {**query.params, "time": "2016"})
    assert other.identity() != query.identity()
    bearer = apiclient.Query("dataweb", "https://x", "run", body={"a": 1}, method="POST",
                             secret_headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.secrets == [f"Bearer {KEY}", KEY]
    assert bearer.describe() == 'POST https://x/run with JSON body {"a":1} [header Authorization: REDACTED]'


def test_errors_belong_to_the_hierarchy_and_name_client_query_and_expectation():
    err = apiclient.SchemaChangedError("census", "GET https://x?key=REDACTED", "column 'A' is missing",
                                       field="A", expected="columns ['A']")
    assert isinstance(err, DataError) and isinstance(err, KorusError) and isinstance(err, apiclient.APIError)
    assert str(err) == ("census API, query GET https://x?key=REDACTED: field 'A': column 'A' is missing; "
                        "expected columns ['A']")
    for cls in (apiclient.RateLimitError, apiclient.EmptyResultError, apiclient.APIRequestError):
        assert issubclass(cls, apiclient.APIError)


def test_cache_path_is_readable_and_keyed_by_the_query(tmp_path):
    query = apiclient.Query("comtrade", "https://h", "public/v1/preview/C/A/HS", {"period": "2016"})
    path = apiclient.cache_path(query, "preview KOR/USA 2016", tmp_path)
    assert path.parent == tmp_path / "comtrade"
    assert path.name == f"preview_KOR_USA_2016-{query.identity()[:16]}.json"


def test_retry_after_is_honoured_on_503_too(monkeypatch):
    from replay import ReplayServer

    asked: list[float] = []
    monkeypatch.setattr(apiclient, "sleep", asked.append)
    replies = [(503, b"maintenance", {"Retry-After": "4"}), (502, b"bad gateway"), (200, b"{}")]
    with ReplayServer(lambda q: replies.pop(0)) as server:
        resp = apiclient.request(apiclient.Query("test", server.url), policy=apiclient.RetryPolicy(tries=3, seed=1))
    assert resp.status == 200 and asked == [4.0, apiclient.RetryPolicy(tries=3, seed=1).waits()[1]]
