"""Fetching from a temporary mirror and from a loopback HTTP server.

The registered files here are small synthetic byte strings written by the tests
(labelled SYNTHETIC); one test copies a real file from the offline mirror.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from korus_research import fetch, registry
from replay import ReplayServer

GOOD = b"SYNTHETIC test file: year,value\n2011,1\n2016,2\n"
KEY = "synthetic/test.csv"


@pytest.fixture
def entry(monkeypatch):
    """Register a synthetic file (and a download address set per test)."""
    def make(download_url=None):
        source = registry.Source(
            KEY, "synthetic test file", "tests", "none", "https://example.invalid/test.csv",
            hashlib.sha256(GOOD).hexdigest(), "", "test", download_url,
        )
        monkeypatch.setitem(registry.SOURCES, KEY, source)
        monkeypatch.setitem(registry.SIZES, KEY, len(GOOD))
        return source
    return make


def _mirror(tmp_path: Path, content: bytes | None) -> Path:
    folder = tmp_path / "mirror"
    (folder / "synthetic").mkdir(parents=True)
    if content is not None:
        (folder / KEY).write_bytes(content)
    return folder


def test_fetch_from_mirror_verifies_and_records(tmp_path, entry):
    entry()
    raw = tmp_path / "raw"
    out = fetch.fetch(KEY, raw_dir=raw, mirror=_mirror(tmp_path, GOOD))
    assert out.read_bytes() == GOOD
    manifest = json.loads((raw / "MANIFEST.json").read_text())
    assert manifest[KEY]["source"] == "mirror"
    assert manifest[KEY]["bytes"] == len(GOOD)
    assert manifest[KEY]["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert not list(raw.rglob("*.part"))


def test_checksum_mismatch_names_file_and_places_and_keeps_raw(tmp_path, entry, snap):
    entry()
    raw = tmp_path / "raw"
    (raw / "synthetic").mkdir(parents=True)
    before = snap(raw)
    mirror = _mirror(tmp_path, GOOD.replace(b"2016,2", b"2016,9"))
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch(KEY, raw_dir=raw, mirror=mirror)
    msg = str(err.value)
    assert KEY in msg and "checksum mismatch" in msg and str(mirror / KEY) in msg
    assert "no byte-stable download address" in msg
    assert snap(raw) == before


def test_truncated_file_is_reported_as_truncated(tmp_path, entry, snap):
    entry()
    raw = tmp_path / "raw"
    raw.mkdir()
    with pytest.raises(fetch.FetchError, match=r"truncated at .*: 10 of \d+ bytes"):
        fetch.fetch(KEY, raw_dir=raw, mirror=_mirror(tmp_path, GOOD[:10]))
    assert snap(raw) == {}


def test_missing_file_lists_every_place_looked(tmp_path, entry):
    entry()
    mirror = _mirror(tmp_path, None)
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch(KEY, raw_dir=tmp_path / "raw", mirror=mirror)
    assert f"{mirror / KEY}: missing" in str(err.value)
    assert "https://example.invalid/test.csv" in str(err.value)


def test_good_cache_is_never_replaced_by_a_bad_mirror_copy(tmp_path, entry, snap):
    entry()
    raw = tmp_path / "raw"
    fetch.fetch(KEY, raw_dir=raw, mirror=_mirror(tmp_path, GOOD))
    before = snap(raw)
    (tmp_path / "mirror" / KEY).write_bytes(b"SYNTHETIC corrupted")
    assert fetch.fetch(KEY, raw_dir=raw, mirror=tmp_path / "mirror").read_bytes() == GOOD
    assert snap(raw) == before


def test_bad_cache_is_kept_when_no_good_copy_exists(tmp_path, entry):
    entry()
    raw = tmp_path / "raw"
    (raw / "synthetic").mkdir(parents=True)
    (raw / KEY).write_bytes(b"SYNTHETIC stale bytes")
    with pytest.raises(fetch.FetchError, match="cached copy is bad"):
        fetch.fetch(KEY, raw_dir=raw, mirror=_mirror(tmp_path, b"SYNTHETIC other bad bytes"))
    assert (raw / KEY).read_bytes() == b"SYNTHETIC stale bytes"


def test_download_when_no_mirror(tmp_path, entry):
    with ReplayServer(lambda q: GOOD, "/test.csv") as server:
        entry(server.url)
        raw = tmp_path / "raw"
        out = fetch.fetch(KEY, raw_dir=raw, mirror=None)
    assert out.read_bytes() == GOOD
    assert json.loads((raw / "MANIFEST.json").read_text())[KEY]["source"] == server.url


def test_bad_download_leaves_cache_alone(tmp_path, entry, snap):
    raw = tmp_path / "raw"
    (raw / "synthetic").mkdir(parents=True)
    (raw / "other.txt").write_text("SYNTHETIC unrelated cached file")
    before = snap(raw)
    with ReplayServer(lambda q: b"SYNTHETIC a newer release with other bytes", "/test.csv") as server:
        entry(server.url)
        with pytest.raises(fetch.FetchError) as err:
            fetch.fetch(KEY, raw_dir=raw, mirror=None)
    assert server.url in str(err.value)
    assert snap(raw) == before


def test_real_file_from_the_mirror(tmp_path, mirror):
    out = fetch.fetch("published/benchmarks.csv", raw_dir=tmp_path, mirror=mirror)
    assert fetch.sha256_of(out) == registry.get("published/benchmarks.csv").sha256


def test_interrupted_fetch_is_repaired(tmp_path, entry):
    entry()
    raw = tmp_path / "raw"
    (raw / "synthetic").mkdir(parents=True)
    # as left by a kill between moving the file into place and recording it, plus leftovers
    (raw / KEY).write_bytes(GOOD)
    (raw / "synthetic" / ".test.csv-abc.part").write_bytes(GOOD[:5])
    (raw / ".manifest-xyz.tmp").write_text("{")
    fetch.fetch_all([KEY], raw_dir=raw, mirror=None, progress=False)
    manifest = json.loads((raw / "MANIFEST.json").read_text())
    assert manifest[KEY]["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert not list(raw.rglob("*.part")) and not list(raw.rglob("*.tmp"))


def test_a_fetch_that_changes_nothing_leaves_the_manifest_untouched(tmp_path, entry):
    entry()
    raw = tmp_path / "raw"
    fetch.fetch(KEY, raw_dir=raw, mirror=_mirror(tmp_path, GOOD))
    before = (raw / "MANIFEST.json").stat().st_mtime_ns, (raw / "MANIFEST.json").read_bytes()
    fetch.fetch_all([KEY], raw_dir=raw, mirror=_mirror(tmp_path / "again", GOOD), progress=False)
    assert ((raw / "MANIFEST.json").stat().st_mtime_ns, (raw / "MANIFEST.json").read_bytes()) == before


def test_an_edited_raw_file_never_reaches_the_tables(tmp_path, mirror, snap):
    from korus_research import prepare
    from korus_research.errors import DataError

    raw, out = tmp_path / "raw", tmp_path / "processed"
    fetch.fetch("fred/GDP.csv", raw_dir=raw, mirror=mirror)
    out.mkdir()
    text = (raw / "fred/GDP.csv").read_text()
    (raw / "fred/GDP.csv").write_text(text.replace(text.splitlines()[-1].split(",")[1], "99999.9", 1))  # SYNTHETIC edit
    with pytest.raises(DataError, match=r"data/raw/fred/GDP.csv: field '(sha256|bytes)'.*`make data` restores it"):
        prepare.prepare(["macro"], raw_dir=raw, out_dir=out, progress=False)
    assert snap(out) == {}
    fetch.fetch("fred/GDP.csv", raw_dir=raw, mirror=mirror)  # `make data` restores the registered bytes
    assert fetch.sha256_of(raw / "fred/GDP.csv") == registry.get("fred/GDP.csv").sha256


def test_relative_mirror_is_taken_from_the_project_root(monkeypatch, tmp_path):
    from korus_research import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KORUS_DATA_MIRROR", "../shared/korus-data")
    assert config.mirror_candidates() == [config.PROJECT_ROOT / "../shared/korus-data"]
