"""The study runner (korus_research.runner) and the comparison page (korus_research.comparison).

The cluster tests run notebook 01 only (about 5-10 s a study) for three studies on a 2-worker
LocalCluster, into temporary results and report folders that read the real processed tables:
KOR and COL, and SSD with base year 2005, which Study.build accepts (a year of the Census data)
but notebook 01 refuses (the Census table has South Sudan from 2011 only): it fails on the
worker, and the others do not notice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from korus_research import comparison, config, results, runner, synthesis
from korus_research.errors import ParameterError
from korus_research.study import Study

HAVE_TABLES = (config.data_processed() / "census_annual.parquet").exists()
needs_tables = pytest.mark.skipif(not HAVE_TABLES, reason="processed tables not built (make processed)")

PARTNERS = ["KOR", "COL", {"partner": "SSD", "base_year": 2005}]


def _scratch(root: Path) -> Path:
    """A processed folder linking the real tables (the results store goes into it)."""
    processed = root / "processed"
    processed.mkdir(parents=True)
    for table in config.data_processed().glob("*.parquet"):
        (processed / table.name).symlink_to(table.resolve())
    return processed


def _point(monkeypatch, root: Path) -> Path:
    processed = _scratch(root)
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(processed))
    monkeypatch.setenv("KORUS_REPORTS", str(root / "reports"))
    monkeypatch.delenv("KORUS_STUDY_SCOPE", raising=False)
    return processed


# --------------------------------------------------------------------------- planning (no notebook runs)
@needs_tables
def test_plan_crosses_partners_with_the_grid_and_places_relative_years():
    specs = runner.plan_studies(["KOR", "CHN"], "default")
    kor = [s for s in specs if s.partner == "KOR"]
    assert [s.study.compare_year for s in kor] == [2016, 2014, 2018]  # derived (entry + 4), entry+2, entry+6
    assert kor[0].study_id == Study.build("KOR").study_id and kor[0].parameters == {"partner": "KOR"}
    assert kor[1].parameters == {"partner": "KOR", "compare_year": 2014}
    chn = [s for s in specs if s.partner == "CHN"]
    assert chn[0].study is not None and {s.status for s in chn[1:]} == {"not applicable"}
    assert "needs an entry date" in chn[1].reason


@needs_tables
def test_plan_lists_invalid_points_once_and_drops_duplicate_studies():
    specs = runner.plan_studies(["XXX", "KOR", {"partner": "KOR", "compare_year": 2016}], "default")
    invalid = [s for s in specs if s.status == "invalid"]
    assert len(invalid) == 1 and "unknown country code" in invalid[0].reason
    ids = [s.study_id for s in specs if s.study is not None]
    assert len(ids) == len(set(ids)) == 3  # KOR's own compare_year=2016 is the derived study


def test_grid_and_notebook_choices_are_checked():
    assert runner.resolve_grid("none") == {}
    assert runner.resolve_grid('{"controls": ["default", "JPN,DEU"]}') == {"controls": ["default", "JPN,DEU"]}
    with pytest.raises(ParameterError, match="grid"):
        runner.resolve_grid("everything")
    with pytest.raises(ParameterError, match="not a Study parameter"):
        runner.resolve_grid({"theta": [4, 6]})
    assert runner.select_notebooks("06,01") == ("01", "06")
    assert runner.select_notebooks(None)[-1] == "06"
    with pytest.raises(ParameterError, match="notebooks"):
        runner.select_notebooks(["09"])


def test_child_environment_and_cluster_parameters(monkeypatch, tmp_path):
    # DASK_SCHEDULER is the runner's; Dask would read it as its own `scheduler` config key
    monkeypatch.setenv("DASK_SCHEDULER", "tcp://example:8786")
    monkeypatch.setenv("KORUS_KEEP_ME", "1")
    env = runner._env({"processed": "/p"}, "/r")
    assert "DASK_SCHEDULER" not in env and env["KORUS_KEEP_ME"] == "1" and env["KORUS_DATA_PROCESSED"] == "/p"

    # the cluster's extra notebook parameters reach the child, not the stamp's parameters
    import papermill as pm

    for nb, extra in runner.ON_CLUSTER.items():
        declared = pm.inspect_notebook(str(config.notebooks_dir() / f"{runner.STEMS[nb]}.ipynb"))
        assert set(extra) <= set(declared), f"notebook {nb} does not declare {set(extra) - set(declared)}"
    seen = {}

    def fake_watched(args, env, timeout):
        seen["params"] = json.loads(args[-1])
        return 1, "error: notebook 07_structural_account failed in cell 3: boom", 0.0

    monkeypatch.setattr(runner, "_watched", fake_watched)
    job = {"key": "k", "study_id": "KOR-x", "notebook": "07", "stem": runner.STEMS["07"],
           "parameters": {"partner": "KOR"}, "extra": runner.ON_CLUSTER["07"], "processed": str(tmp_path),
           "results": str(tmp_path), "reports": str(tmp_path), "reports_root": str(tmp_path), "timeout": 5}
    out = runner.run_notebook_job(job)
    assert seen["params"] == {"partner": "KOR", "jobs": 1}
    assert out["status"] == "failed" and "boom" in out["reason"]


@needs_tables
def test_an_interrupted_run_records_what_finished_and_what_did_not(tmp_path, monkeypatch):
    _point(monkeypatch, tmp_path)
    calls = []

    def fake_job(job, *inputs):
        calls.append(job["study_id"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {**runner._result(job), "status": "done", "seconds": 1.0}

    monkeypatch.setattr(runner, "run_notebook_job", fake_job)
    with pytest.raises(KeyboardInterrupt):
        runner.run_studies(["KOR", "COL"], "none", scheduler="serial", notebooks=["01"], progress=False, report=False)
    log = json.loads((tmp_path / "reports" / runner.RUN_LOG).read_text())
    assert log["interrupted"] is True and [t["study_id"] for t in log["tasks"]] == calls[:1]
    status = {r["partner"]: (r["status"], r["reason"]) for r in log["studies"]}
    assert status["KOR"] == ("done", "")
    assert status["COL"] == ("unfinished", "0 of its 1 tasks finished before the interruption")

    monkeypatch.setattr(runner, "run_notebook_job", lambda job, *inputs: {**runner._result(job), "status": "done"})
    summary = runner.run_studies(["COL"], "none", scheduler="serial", notebooks=["01"], progress=False, report=False)
    log = json.loads(Path(summary.attrs["log"]).read_text())
    assert log["interrupted"] is False and [r["status"] for r in log["studies"]] == ["done"]


# --------------------------------------------------------------------------- the cluster runs
@pytest.fixture(scope="module")
def client():
    if not HAVE_TABLES:
        pytest.skip("processed tables not built (make processed)")
    from distributed import Client

    cluster = runner.local_cluster(2)
    dask_client = Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()


@pytest.mark.mirror
def test_cluster_run_isolates_a_failure_resumes_and_matches_a_serial_run(client, tmp_path, monkeypatch):
    processed = _point(monkeypatch, tmp_path / "cluster")
    first = runner.run_studies(PARTNERS, "none", scheduler=client, notebooks=["01"], progress=False)
    status = dict(zip(first["partner"], first["status"], strict=True))
    assert status == {"KOR": "done", "COL": "done", "SSD": "failed"}, runner.format_summary(first)
    ssd = first.set_index("partner").loc["SSD"]
    assert "not in the series" in ssd["reason"] and "\n" not in ssd["reason"]
    assert {t["worker"] for t in first.attrs["tasks"]} <= set(client.scheduler_info()["workers"])

    # each study's results in its own folder (never default/), with the runner's stamp
    kor = Study.build("KOR")
    folder = processed / "results" / kor.study_id
    assert (folder / "runs" / "01.json").exists() and (folder / "runner" / "01.json").exists()
    assert not (processed / "results" / results.DEFAULT_FOLDER).exists()
    assert (tmp_path / "cluster" / "reports" / "studies" / kor.study_id / "01_balance_overview.ipynb").exists()

    # a second run, to the same cluster by its address (DASK_SCHEDULER, as on a real cluster): the
    # finished studies are up to date, the failed one runs again on the cluster's workers
    monkeypatch.setenv("DASK_SCHEDULER", client.scheduler.address)
    second = runner.run_studies(PARTNERS, "none", notebooks=["01"], progress=False)
    monkeypatch.delenv("DASK_SCHEDULER")
    status = dict(zip(second["partner"], second["status"], strict=True))
    assert status == {"KOR": "up to date", "COL": "up to date", "SSD": "failed"}
    assert [t["study_id"] for t in second.attrs["tasks"]] == [second.set_index("partner").loc["SSD", "study"]]
    assert set(second.attrs["workers"]) == set(client.scheduler_info()["workers"])
    assert {t["worker"] for t in second.attrs["tasks"]} <= set(client.scheduler_info()["workers"])

    # what makes a study stale: its data or its code (checked without running anything)
    spec = next(s for s in runner.plan_studies(["KOR"], "none"))
    ctx = runner._Context.current()
    assert runner.notebook_state(spec, "01", ctx) == (True, "up to date")
    ctx.checksums["census_annual"] = "0" * 64
    assert runner.notebook_state(spec, "01", ctx)[1] == "processed tables changed: census_annual"
    stamp_path = folder / "runner" / "01.json"
    stamp = json.loads(stamp_path.read_text())
    stamp_path.write_text(json.dumps({**stamp, "source_sha256": "0" * 64}))
    assert runner.notebook_state(spec, "01", runner._Context.current()) == (False, "the code changed")
    stamp_path.write_text(json.dumps(stamp))

    # the same study run serially elsewhere stores the same tables
    serial_processed = _point(monkeypatch, tmp_path / "serial")
    serial = runner.run_studies(["KOR"], "none", scheduler="serial", notebooks=["01"], progress=False)
    assert list(serial["status"]) == ["done"] and serial.attrs["tasks"][0]["worker"] == "local"
    record = json.loads((folder / "runs" / "01.json").read_text())
    for name in ["estimates_01", *record["results"]]:
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{name}.parquet"),
                                      pd.read_parquet(serial_processed / "results" / kor.study_id / f"{name}.parquet"))


def test_progress_counts_only_the_tasks_executing(client):
    import time

    slow = client.submit(time.sleep, 2, pure=False)
    deadline = time.time() + 10
    while time.time() < deadline and not any(client.run(runner._executing).values()):
        time.sleep(0.1)
    running = [k for keys in client.run(runner._executing).values() for k in keys]
    assert running == [str(slow.key)]
    slow.result()


# --------------------------------------------------------------------------- the comparison page
def _fake_joint_study(folder_root: Path, study: Study, estimate: float, design_rank: int = 0) -> None:
    """A study folder holding only what notebook 06 saves for the comparison (small synthetic
    numbers, labelled so), written through the store's own API."""
    store = results.open_store(study, "06", folder=folder_root / study.study_id)
    design = synthesis.DESIGNS[design_rank]
    estimates = pd.DataFrame([{"estimator": "synthetic example", "estimate": estimate, "interval": "95% CI",
                               "ci_low": estimate - 2.0, "ci_high": estimate + 2.0, "diagnostics": "passed",
                               "diagnostics_detail": "", "notebook": "03", "design": design.name,
                               "rank": design_rank}])
    store.save("synthesis_estimates", estimates)
    store.save("synthesis_headline", pd.DataFrame([synthesis.headline(estimates)]))
    store.save("synthesis_attribution", pd.DataFrame({
        "component": [synthesis.AGREEMENT_ROW, "what is left", synthesis.TOTAL],
        "usd_bn": [estimate, 1.0 - estimate, 1.0], "counted": [True, True, False]}))
    store.done()


@needs_tables
def test_studies_page_forest_attribution_and_specification_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path / "processed"))
    root = tmp_path / "processed" / "results"
    kor = [Study.build("KOR"), Study.build("KOR", compare_year=2014), Study.build("KOR", compare_year=2018)]
    for study, value in zip(kor, (-6.0, -3.0, -9.0), strict=True):
        _fake_joint_study(root, study, value)
    _fake_joint_study(root, Study.build("COL"), 4.0)
    (root / "broken").mkdir()
    (root / "broken" / "manifest.json").write_text("{}")

    page = comparison.build_studies_page(tmp_path / "reports")
    text = page.read_text()
    assert "broken" in text  # listed with its reason, not fatal
    figures = tmp_path / "reports" / "figures" / comparison.FIGURE_GROUP
    assert (figures / "agreement_effects.png").exists() and (figures / "sensitivity_KOR.png").exists()
    forest = pd.read_csv(figures / "agreement_effects.csv")
    assert sorted(forest["partner"]) == ["COL", "KOR"]  # one row per partner: its derived study
    assert forest.set_index("partner").loc["KOR", "estimate"] == pytest.approx(-6.0)
    curve = pd.read_csv(figures / "sensitivity_KOR.csv")
    assert list(curve["estimate"]) == [-9.0, -6.0, -3.0] and curve["derived"].sum() == 1
    wide = pd.read_csv(tmp_path / "reports" / "tables" / "studies_attribution.csv")
    assert len(wide) == 4
    effects = pd.read_csv(tmp_path / "reports" / "tables" / "studies_effects.csv")
    assert np.isfinite(effects[["estimate", "ci_low", "ci_high"]].to_numpy()).all()
    # every partner with more than one compare year, by the years from entry (COL has one study)
    horizons = pd.read_csv(figures / "agreement_effects_by_horizon.csv")
    assert list(horizons["partner"]) == ["KOR"] * 3
    assert dict(zip(horizons["horizon"], horizons["estimate"], strict=True)) == {2: -3.0, 4: -6.0, 6: -9.0}
    assert "id='horizons'" in text
    # the sentences are the numbers': every KOR interval (estimate +-2) excludes zero
    assert "The one partner with a headline estimate at every compare year, KOR, keeps its sign at every one." in text
    assert "excludes zero at every compare year for 1: KOR (-3.0, -6.0, -9.0 US$ bn at +2, +4, +6 years)" in text


def test_horizon_findings_name_sign_changes_and_partners_without_a_headline():
    table = pd.DataFrame({
        "partner": ["AAA"] * 2 + ["BBB"] * 2 + ["CCC"] * 2, "horizon": [2, 4] * 3,
        "estimate": [1.0, -1.0, 2.0, 3.0, np.nan, np.nan], "ci_low": [-1.0, -3.0, 0.5, -1.0, np.nan, np.nan],
        "ci_high": [3.0, 1.0, 3.5, 7.0, np.nan, np.nan], "note": ["", "", "", "", "no design passed.", "x"],
        "derived": [False, True] * 3})
    assert comparison.horizon_findings(table) == [
        "Of the 2 partners with a headline estimate at every compare year, 1 keeps its sign at every one (BBB).",
        "No partner's 95% interval excludes zero at every compare year.",
        "No study of CCC has a headline estimate (x)."]


# --------------------------------------------------------------------------- the command line
@needs_tables
def test_studies_command_prints_the_summary_and_exits_1_for_an_invalid_study(tmp_path, monkeypatch, capsys):
    from korus_research.cli import main

    _point(monkeypatch, tmp_path)
    code = main(["studies", "--partners", "XXX", "CHN", "--grid", '{"compare_year": ["entry+2"]}', "--quiet",
                 "--no-compare"])
    out = capsys.readouterr().out
    assert code == 1  # nothing to run: XXX is not a country, CHN has no entry date to place entry+2 on
    assert "invalid" in out and "not applicable" in out and "unknown country code" in out
    assert main(["studies", "--partners", "KOR", "--grid", "everything"]) == 2
    assert capsys.readouterr().err.startswith("error: parameter grid='everything' is not valid")
