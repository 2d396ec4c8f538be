"""The Makefile under dry runs and edits: `make -n` and `make -q` change no file, and a raw
file edited after the fetch makes the build out of date (so `make` restores and rebuilds)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from korus_research import config

ROOT = config.PROJECT_ROOT
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def _make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(["make", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _built() -> bool:
    return (ROOT / "data" / "raw" / ".fetched").exists() and (ROOT / "data" / "processed" / "census_annual.parquet").exists()


def test_dry_runs_change_no_file(snap):
    folders = [ROOT / d for d in ("reports", "data/processed", "data/raw") if (ROOT / d).exists()]
    before = {f: snap(f) for f in folders}
    for args in (["-n"], ["-q"], ["-n", "clean"], ["-n", "studies", "PARTNERS=KOR COL"], ["-n", "study", "PARTNER=COL"]):
        _make(*args)
    assert {f: snap(f) for f in folders} == before


def test_an_edited_raw_file_makes_the_build_out_of_date():
    if not _built():
        pytest.skip("data not fetched and prepared yet")
    raw = ROOT / "data" / "raw" / "fred" / "GDP.csv"
    stamp = (ROOT / "data" / "raw" / ".fetched").stat()
    old = raw.stat()
    try:
        os.utime(raw, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))  # as if edited after the fetch
        dry = _make("-n", "processed")
        assert "korus-research fetch" in dry.stdout and "korus-research prepare" in dry.stdout
    finally:
        os.utime(raw, ns=(old.st_atime_ns, old.st_mtime_ns))


def test_a_change_to_the_report_code_rebuilds_the_report_only():
    if not (ROOT / "reports" / "index.html").exists() or _make("-q").returncode != 0:
        pytest.skip("the default study is not built and up to date (make)")
    dry = _make("-n", "-W", "src/korus_research/report.py")
    assert "korus-research report" in dry.stdout and "korus-research run" not in dry.stdout
    dry = _make("-n", "-W", "src/korus_research/study.py")
    assert dry.stdout.count("korus-research run") == len(list((ROOT / "notebooks").glob("*.ipynb")))
