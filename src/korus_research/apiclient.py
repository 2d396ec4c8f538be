"""The HTTP layer shared by the clients of the official trade APIs (Census, UN Comtrade, USITC
DataWeb): one request function with retries, a cache in ``data/raw/<client>/`` with a provenance
record in the raw manifest, and the errors that say what went wrong.

- **Retries.** :func:`request` retries an answer of HTTP 429 or 5xx and a failed connection, with
  exponential backoff and jitter drawn from a seeded generator (the same waits on every run, see
  :class:`RetryPolicy`); a ``Retry-After`` header (seconds or an HTTP date) is honoured. What is left
  after the last try is one error: :class:`RateLimitError` for 429 (or a quota answer),
  :class:`APIRequestError` otherwise.
- **Cache.** :func:`fetch_json` keys each query by the sha256 of the query without its key
  (endpoint, parameters, JSON body: not the host, so a response fetched through a mirror or a test
  server is the same cache entry), stores the response atomically as
  ``data/raw/<client>/<label>-<hash>.json`` through :func:`korus_research.services.store_response`
  and records it in ``data/raw/MANIFEST.json`` (the query without the key, the time, the sha256 and
  size of the stored file), as the BEA and BLS clients do. A response is checked before it is
  stored: an empty or malformed answer never enters the cache. A cached file whose sha256 no
  longer matches its manifest record is refused.
- **Keys.** A key travels only in the request (a header where the API allows it). Every text that
  leaves this module (a stored file, the manifest, a log line, an error message) passes through
  :func:`redact`, which replaces each form of each key (any letter case, URL-encoded or not) with
  ``REDACTED``.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import logging
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import config
from .errors import DataError

log = logging.getLogger(__name__)

#: Waits go through this name, so that tests can make them instant (monkeypatch ``apiclient.sleep``).
sleep: Callable[[float], None] = time.sleep

REDACTED = "REDACTED"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_QUOTA = re.compile(r"quota|rate limit", re.IGNORECASE)


# --------------------------------------------------------------------------------------- errors
class APIError(DataError):
    """An official API's answer could not be had or used.

    The message names the client, the query (with any key ``REDACTED``) and what was expected.
    """

    def __init__(self, client: str, query: str, problem: str, *, field: str = "response",
                 expected: str = ""):
        self.client = client
        self.query = query
        self.problem = problem
        self.expected = expected
        detail = f"{problem}; expected {expected}" if expected else problem
        super().__init__(f"{client} API, query {query}", field, detail)


class APIRequestError(APIError):
    """The request failed: a refused connection, an HTTP error, an answer that is not JSON, an
    error reported by the API itself, or a missing credential."""


class RateLimitError(APIError):
    """The API kept answering 'too many requests' (HTTP 429) or reported a spent quota."""


class EmptyResultError(APIError):
    """The query is valid but the API has no rows for it (nothing is cached)."""


class SchemaChangedError(APIError):
    """The answer lacks a field the client reads (a renamed or dropped column), or its values no
    longer pass the client's schema: the API changed and the client must be updated."""


# ------------------------------------------------------------------------------------ redaction
def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (any letter case, URL-encoded with ``%20`` or
    ``+``, or not) replaced by ``REDACTED``."""
    text = str(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
    return text


def _redact_json(payload: Any, secrets: Iterable[str]) -> Any:
    secrets = [s for s in secrets if s]
    if not secrets:
        return payload
    return json.loads(redact(json.dumps(payload), secrets))


# ---------------------------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    The wait before retry ``n`` (0-based) is ``d/2 + u * d/2`` with ``d = min(cap, base * 2**n)`` and
    ``u`` drawn from ``random.Random(seed)`` (equal jitter: the same schedule on every run). A
    ``Retry-After`` header replaces the computed wait; one longer than ``max_retry_after`` is not
    waited for (the error says how long the server asked for).
    """

    tries: int = 5
    base: float = 1.0
    cap: float = 60.0
    seed: int = 0
    max_retry_after: float = 300.0

    def waits(self) -> list[float]:
        """The waits between the tries (``tries - 1`` of them)."""
        rng = random.Random(self.seed)
        out = []
        for n in range(max(self.tries - 1, 0)):
            d = min(self.cap, self.base * 2 ** n)
            out.append(d / 2 + rng.random() * d / 2)
        return out


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or an HTTP date);
    ``None`` when absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --------------------------------------------------------------------------------------- requests
@dataclass
class Query:
    """One request to an official API.

    ``endpoint`` is the path below the client's base address (``imports/hs``); ``params`` and
    ``body`` hold no secret: keys go in ``secret_params`` (sent in the query string, for an API that
    takes them only there) or ``secret_headers``.
    """

    client: str
    base: str
    endpoint: str = ""
    params: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    secret_params: dict[str, str] = field(default_factory=dict)
    secret_headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        base = self.base.rstrip("/")
        return f"{base}/{self.endpoint.lstrip('/')}" if self.endpoint else base

    @property
    def secrets(self) -> list[str]:
        """Every secret value, and the credential alone of a header like ``Bearer <token>``."""
        values = [v for v in (*self.secret_params.values(), *self.secret_headers.values()) if v]
        return values + [v.split()[-1] for v in values if len(v.split()) > 1]

    def describe(self) -> str:
        """The request as text, every key shown as ``REDACTED`` (what errors, logs and the manifest
        show)."""
        params = {**self.params, **{k: REDACTED for k, v in self.secret_params.items() if v}}
        text = f"{self.method} {self.url}"
        if params:
            text += "?" + urllib.parse.urlencode(params, safe=",*:")
        if self.body is not None:
            text += " with JSON body " + json.dumps(self.body, sort_keys=True, separators=(",", ":"))
        for name, value in self.secret_headers.items():
            if value:
                text += f" [header {name}: {REDACTED}]"
        return redact(text, self.secrets)

    def identity(self) -> str:
        """sha256 of the query without its key and host: the cache key."""
        ident = {"client": self.client, "endpoint": self.endpoint, "method": self.method,
                 "params": dict(sorted(self.params.items())), "body": self.body}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _send(query: Query, timeout: float) -> Response:
    params = {**query.params, **{k: v for k, v in query.secret_params.items() if v}}
    url = query.url + ("?" + urllib.parse.urlencode(params, safe=",*:") if params else "")
    data = None
    headers = {"Accept": "application/json", "User-Agent": "korus-research (reproducible research)",
               **query.headers, **{k: v for k, v in query.secret_headers.items() if v}}
    if query.body is not None:
        data = json.dumps(query.body).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    req = urllib.request.Request(url, data=data, headers=headers, method=query.method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        try:
            body = err.read()
        except Exception:  # a broken error body: the status is what matters
            body = b""
        return Response(err.code, dict(err.headers.items()) if err.headers else {}, body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the letter case of its name."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


_CONNECTION_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout,
                      http.client.HTTPException, OSError)


def request(query: Query, *, policy: RetryPolicy | None = None, timeout: float = 60,
            not_ready: Callable[[Response], bool] | None = None) -> Response:
    """Send ``query``, retrying HTTP 429, 5xx, failed connections and (``not_ready``) answers that
    the API has not finished computing; return the first usable answer (2xx).

    Raises
    ------
    RateLimitError
        HTTP 429 on every try, a ``Retry-After`` longer than the policy allows, or an answer that
        reports a spent quota.
    APIRequestError
        Any other HTTP error (at once for 4xx, after the tries for 5xx), or no connection after
        the tries. Messages never hold a key.
    """
    policy = policy or RetryPolicy()
    waits = policy.waits()
    described = query.describe()
    last = ""
    for attempt in range(policy.tries):
        asked = None
        try:
            resp = _send(query, timeout)
        except _CONNECTION_ERRORS as exc:
            last = f"no connection ({type(exc).__name__}: {redact(str(exc), query.secrets)[:200]})"
            status = None
        else:
            status = resp.status
            if 200 <= status < 300 and not (not_ready and not_ready(resp)):
                return resp
            text = redact(resp.body.decode("utf-8", "replace"), query.secrets)[:300].strip()
            if 200 <= status < 300:
                last = "the API had not finished computing the answer"
            elif status == 403 and _QUOTA.search(text):
                raise RateLimitError(query.client, described, f"HTTP 403, quota spent: {text}",
                                     field="HTTP status", expected="a 2xx answer: try again when the quota is renewed")
            elif status in RETRY_STATUSES or status >= 500:
                # Retry-After is honoured on 429 and on 503 (and any 5xx that sends it)
                asked = retry_after(_header(resp.headers, "Retry-After"))
                last = f"HTTP {status}{' (too many requests)' if status == 429 else ''}{': ' + text if text else ''}"
                if asked is not None and asked > policy.max_retry_after:
                    error = RateLimitError if status == 429 else APIRequestError
                    raise error(query.client, described,
                                f"HTTP {status} with Retry-After {asked:.0f} s, longer than the "
                                f"{policy.max_retry_after:.0f} s this client waits",
                                field="HTTP status", expected="a 2xx answer: try again later")
            else:
                raise APIRequestError(query.client, described, f"HTTP {status}{': ' + text if text else ''}",
                                      field="HTTP status", expected="a 2xx answer")
        if attempt + 1 >= policy.tries:
            break
        wait = asked if asked is not None else waits[attempt]
        log.warning("%s: %s; try %d of %d again in %.1f s", described, last, attempt + 2, policy.tries, wait)
        sleep(wait)
    if last.startswith("HTTP 429"):
        raise RateLimitError(query.client, described, f"{last}, on all {policy.tries} tries",
                             field="HTTP status", expected="a 2xx answer: try again later")
    raise APIRequestError(query.client, described, f"{last}, on all {policy.tries} tries",
                          field="HTTP status" if not last.startswith("no connection") else "connection",
                          expected="a 2xx answer")


# -------------------------------------------------------------------------------------- the cache
def cache_path(query: Query, label: str, raw_dir: Path) -> Path:
    """``raw_dir/<client>/<label>-<first 16 hex digits of the query's sha256>.json``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") or "query"
    return Path(raw_dir) / query.client / f"{slug}-{query.identity()[:16]}.json"


def _read_cached(path: Path, raw_dir: Path, query: Query) -> Any:
    from .fetch import read_manifest

    data = path.read_bytes()
    record = read_manifest(raw_dir).get(str(path.relative_to(raw_dir)))
    if record and record.get("sha256") != hashlib.sha256(data).hexdigest():
        raise APIError(query.client, query.describe(),
                       f"the cached response {path.relative_to(raw_dir)} changed after it was fetched "
                       "(its sha256 differs from data/raw/MANIFEST.json)", field="sha256",
                       expected="the recorded sha256: fetch again with refresh=True")
    return json.loads(data)


def fetch_json(query: Query, *, label: str, official_url: str, raw_dir: Path | None = None,
               refresh: bool = False, check: Callable[[Any], None] | None = None,
               policy: RetryPolicy | None = None, timeout: float = 60,
               empty_statuses: Iterable[int] = (204,),
               not_ready: Callable[[Any], bool] | None = None) -> Any:
    """The JSON answer to ``query``: from the cache, or (``refresh`` or nothing cached) from the API.

    Parameters
    ----------
    query : Query
        The request (keys only in its ``secret_*`` fields).
    label : str
        Readable start of the cache file's name.
    official_url : str
        The official address of the API, recorded in the manifest.
    check : callable, optional
        Called with the parsed answer before it is stored; raises :class:`EmptyResultError` or
        :class:`SchemaChangedError` for an answer that must not be cached.
    empty_statuses : iterable of int
        2xx statuses that mean "no rows" (the Census API answers 204 No Content).
    not_ready : callable, optional
        ``not_ready(payload)`` true for an answer the API has not finished (asked again, with the
        retry policy's waits).

    Raises
    ------
    APIError
        And its subclasses; see :func:`request`.
    """
    raw_dir = Path(raw_dir or config.data_raw())
    path = cache_path(query, label, raw_dir)
    if path.exists() and not refresh:
        log.info("%s: from the cache %s", query.client, path.relative_to(raw_dir))
        return _read_cached(path, raw_dir, query)

    def _unfinished(resp: Response) -> bool:
        if not not_ready or resp.status in set(empty_statuses):
            return False
        try:
            return bool(not_ready(json.loads(resp.body)))
        except ValueError:
            return False

    resp = request(query, policy=policy, timeout=timeout, not_ready=_unfinished if not_ready else None)
    described = query.describe()
    if resp.status in set(empty_statuses) or not resp.body.strip():
        raise EmptyResultError(query.client, described, f"HTTP {resp.status} with no rows",
                               field="rows", expected="at least one row for the query")
    try:
        payload = json.loads(resp.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        excerpt = redact(resp.body[:200].decode("utf-8", "replace"), query.secrets).strip()
        raise APIRequestError(query.client, described, f"the answer is not JSON: {excerpt!r}",
                              expected="a JSON document") from None
    payload = _redact_json(payload, query.secrets)
    if check is not None:
        check(payload)
    from .services import store_response

    store_response(payload, path, raw_dir, described, official_url)
    log.info("%s: stored %s", query.client, path.relative_to(raw_dir))
    return payload


def validate(schema, frame, client: str, query: str):
    """``schema.validate(frame)``; a failure becomes :class:`SchemaChangedError` naming the column
    and the first failing rows."""
    import pandera.errors

    try:
        return schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases
        columns = sorted({str(c) for c in cases["column"].dropna()}) if "column" in cases else []
        checks = sorted({str(c) for c in cases["check"].dropna()})[:3] if "check" in cases else []
        rows = cases["index"].dropna().tolist()[:10] if "index" in cases else []
        raise SchemaChangedError(client, query, f"the tidy table fails {schema.name}: checks {checks}; rows {rows}",
                                 field=",".join(columns) or "table", expected=f"the {schema.name} schema") from None
