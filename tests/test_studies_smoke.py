"""Smoke test on the real data: the whole study (every notebook and its report) for partners
of different kinds, each into its own study folder, leaving the default study alone.

- COL: a recent agreement (2012) with a partner outside the WIOD panel, so the joint study takes its
  macro parts from the trade equations and says so (in ``make test``);
- MEX: an early agreement (NAFTA, 1994): panels start before 2000, no Comtrade pre-period, the
  study's years on one WIOD year;
- SLV: a CAFTA-DR member (2006), small partner, no BIS rate, and
- CHN: no US agreement, run with a hypothetical entry date (these three marked ``heavy``: ``make
  test-studies``, to keep ``make test`` within its time budget).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from korus_research import config, results
from korus_research.study import Study

pytestmark = pytest.mark.mirror

CASES = [("COL", "")]
HEAVY_CASES = [("MEX", ""), ("SLV", ""), ("CHN", "2015-01-01")]


def _run_studies(tmp_path_factory, cases):
    if not (config.data_processed() / "census_annual.parquet").exists():
        pytest.skip("processed tables not built (make processed)")
    root = tmp_path_factory.mktemp("smoke")
    processed = root / "processed"
    processed.mkdir()
    # the processed tables are read from data/processed through symlinks; results go to the tmp folder
    for table in config.data_processed().glob("*.parquet"):
        (processed / table.name).symlink_to(table)
    env = {**os.environ, "KORUS_DATA_PROCESSED": str(processed), "KORUS_REPORTS": str(root / "reports"),
           "MPLBACKEND": "Agg"}
    env.pop("KORUS_STUDY_SCOPE", None)

    def run(case):
        partner, entry = case
        # one study alone gets both cores (its notebooks run two at a time); two studies get one each
        jobs = "2" if len(cases) == 1 else "1"
        args = [sys.executable, "-m", "korus_research", "study", "--partner", partner, "--jobs", jobs]
        if entry:
            args += ["--entry", entry]
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=False)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip([c[0] for c in cases], pool.map(run, cases), strict=True))
    return root, done


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    return _run_studies(tmp_path_factory, CASES)


@pytest.fixture(scope="module")
def heavy_studies(tmp_path_factory):
    return _run_studies(tmp_path_factory, HEAVY_CASES)


@pytest.mark.parametrize("partner, entry", CASES)
def test_study_runs_end_to_end(studies, partner, entry, monkeypatch):
    _check_study(studies, partner, entry, monkeypatch)


@pytest.mark.heavy
@pytest.mark.parametrize("partner, entry", HEAVY_CASES)
def test_more_studies_run_end_to_end(heavy_studies, partner, entry, monkeypatch):
    _check_study(heavy_studies, partner, entry, monkeypatch)


def _check_study(studies, partner, entry, monkeypatch):
    root, done = studies
    proc = done[partner]
    assert proc.returncode == 0, proc.stderr[-2000:]
    study = Study.build(partner, entry=entry)
    folder = root / "processed" / "results" / study.study_id
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(root / "processed"))
    store = results.read_store(study, folder)
    for nb in results.NOTEBOOKS:
        assert store.record(nb)["finished"], nb
    findings = store.load("synthesis_findings")["finding"]
    assert findings.str.contains(partner).any()
    index = (root / "reports" / "studies" / study.study_id / "index.html").read_text()
    assert f"Findings: {partner}" in index and "Sections skipped for lack of data" in index
    skipped = store.skipped()
    assert (skipped["reason"].str.len() > 10).all()
    estimates = store.estimates()
    agreement = estimates[estimates["quantity"] == "agreement effect on the balance"]
    assert len(agreement) > 0  # each has an agreement date, real or hypothetical
    if partner in ("SLV", "CHN"):
        assert not findings.str.contains(f"{partner} demand").any()  # no demand series in the data
    if partner == "MEX":
        assert "decomposition by product (comtrade basis)" in set(skipped["section"])
    if partner == "COL":  # outside WIOD: no structural account, and the joint study says so
        assert findings.str.contains("no structural account for COL").any()
        attribution = store.load("synthesis_attribution")
        assert attribution["component"].str.endswith("(trade equations)").any()
    # the default study is never touched by these runs
    assert not (root / "processed" / "results" / results.DEFAULT_FOLDER).exists()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["study_id"] == study.study_id and manifest["parameters"]["partner"] == partner
