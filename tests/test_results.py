"""The results store (:mod:`korus_research.results`): round trips, the estimate-table
contract, refusal of another study's results, rerun hygiene, the default/study scope and
skipped sections.

Every test writes under ``tmp_path`` only: ``KORUS_DATA_PROCESSED`` points there, so
``config.results_dir()`` is ``tmp_path/results`` and the real ``data/processed/results`` is
never touched. Frames saved here are SYNTHETIC examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from korus_research import config
from korus_research.errors import DataError, ParameterError, ResultsError
from korus_research.results import (
    ESTIMATE_COLUMNS,
    SCOPE_VARIABLE,
    Store,
    estimate_rows,
    load_study,
    open_store,
    read_store,
    scope,
    study_folder,
    study_folders,
    to_bn,
    validate_estimates,
)
from korus_research.study import Study

KOR = Study.build("KOR")
COL = Study.build("COL")
KOR_2010 = Study.build("KOR", base_year=2010)       # same partner, another study

#: SYNTHETIC result table
FRAME = pd.DataFrame({"year": [2011, 2016], "exports_usd_bn": [43.5, 42.3], "label": ["base", "compare"]})


def _row(**kw) -> dict:
    row = {"quantity": "exports change", "estimator": "difference", "unit": "US$ bn", "value": 1.25,
           "low": 0.5, "high": 2.0, "period": "2011-2016"}
    row.update(kw)
    return row


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path))
    monkeypatch.delenv(SCOPE_VARIABLE, raising=False)
    assert config.results_dir() == tmp_path / "results"
    return tmp_path


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "study"


# ----------------------------------------------------------------------------- to_bn
def test_to_bn():
    assert to_bn(1500, "US$ million") == pytest.approx(1.5)
    assert to_bn(2500, "US$ thousand") == pytest.approx(0.0025)
    assert to_bn(3e9, "US$") == pytest.approx(3.0)
    assert to_bn(7.0, "US$ bn") == 7.0
    series = to_bn(pd.Series([1000.0, 250.0]), "US$ million")
    np.testing.assert_allclose(series.to_numpy(), [1.0, 0.25])


def test_to_bn_unknown_unit():
    with pytest.raises(ParameterError) as info:
        to_bn(1500, "EUR million")
    assert info.value.parameter == "unit"
    assert "US$ million" in str(info.value) and "EUR million" in str(info.value)


# ----------------------------------------------------------------------------- round trip
def test_save_load_round_trip(folder):
    store = open_store(KOR, "01", folder=folder)
    path = store.save("exports_by_year", FRAME)
    assert path == folder / "exports_by_year.parquet"
    pd.testing.assert_frame_equal(store.load("exports_by_year"), FRAME)
    reader = read_store(KOR, folder=folder)
    pd.testing.assert_frame_equal(reader.load("exports_by_year"), FRAME)
    assert reader.has("exports_by_year") and not reader.has("nothing_saved")
    record = reader.record("01")
    assert record["study_id"] == KOR.study_id and record["results"] == ["exports_by_year"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["study_id"] == KOR.study_id
    assert manifest["parameters"] == json.loads(json.dumps(KOR.parameters()))
    assert load_study(folder).study_id == KOR.study_id


def test_load_of_an_unsaved_result_is_refused(folder):
    open_store(KOR, "01", folder=folder).save("exports_by_year", FRAME)
    with pytest.raises(ResultsError, match="not_saved"):
        read_store(KOR, folder=folder).load("not_saved")


def test_save_bad_name_and_bad_notebook(folder):
    store = open_store(KOR, "01", folder=folder)
    with pytest.raises(ParameterError, match="name"):
        store.save("../escape", FRAME)
    assert not (folder.parent / "escape.parquet").exists()
    with pytest.raises(ParameterError) as info:
        Store(KOR, "09", folder=folder)
    assert info.value.parameter == "notebook" and "06" in str(info.value)


def test_add_estimates_round_trip(folder):
    store = open_store(KOR, "01", folder=folder)
    store.add_estimates([
        _row(),
        _row(quantity="share of exports", unit="share", value=0.03, low=None, high=None, period=2016),
    ])
    store.done()
    table = read_store(KOR, folder=folder).estimates()
    assert list(table.columns) == ESTIMATE_COLUMNS
    assert len(table) == 2
    assert set(table["study_id"]) == {KOR.study_id} and set(table["notebook"]) == {"01"}
    first = table.set_index("quantity").loc["exports change"]
    assert (first["unit"], first["period"], first["interval"]) == ("US$ bn", "2011-2016", "95% CI")
    assert (first["value"], first["low"], first["high"]) == (1.25, 0.5, 2.0)
    assert first["diagnostics"] == "not tested"
    second = table.set_index("quantity").loc["share of exports"]
    assert second["period"] == "2016"                        # stored as text
    assert second["interval"] == "none"
    assert np.isnan(second["low"]) and np.isnan(second["high"])


def test_add_estimates_replaces_rows_with_the_same_key(folder):
    store = open_store(KOR, "01", folder=folder)
    store.add_estimates([_row(value=1.0), _row(estimator="other", value=5.0)])
    store.add_estimates(pd.DataFrame([_row(value=2.0, low=1.0, high=3.0)]))
    table = read_store(KOR, folder=folder).estimates()
    assert len(table) == 2
    values = table.set_index("estimator")["value"]
    assert values["difference"] == 2.0 and values["other"] == 5.0


def test_estimates_of_several_notebooks_and_required(folder):
    first = open_store(KOR, "01", folder=folder, parameters={"vintage": ""})
    first.add_estimates([_row()])
    open_store(KOR, "03", folder=folder).add_estimates([_row(estimator="PPML", unit="log points")])
    reader = read_store(KOR, folder=folder)
    assert sorted(reader.estimates()["notebook"]) == ["01", "03"]
    assert list(reader.estimates(notebooks=("03",))["notebook"]) == ["03"]
    with pytest.raises(ResultsError, match="notebook 01 did not finish"):
        reader.estimates(required=("01",))
    first.done()
    assert len(reader.estimates(required=("01",))) == 2
    with pytest.raises(ResultsError, match="notebook 02"):
        reader.estimates(required=("01", "02"))
    runs = reader.runs().set_index("notebook")
    assert runs.loc["01", "notebook parameters"] == "vintage=" and runs.loc["03", "finished"] == "no"


def test_estimates_of_an_empty_study_is_an_empty_table(folder):
    table = read_store(KOR, folder=folder).estimates()
    assert table.empty and list(table.columns) == ESTIMATE_COLUMNS


# ----------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("row, column, problem", [
    (_row(unit="US$ million"), "unit", "isin"),      # amounts are converted with to_bn first
    (_row(unit="furlongs"), "unit", "isin"),
    (_row(diagnostics="fine"), "diagnostics", "isin"),
    (_row(interval="90% CI"), "interval", "isin"),
    (_row(quantity=""), "quantity", "str_length"),
])
def test_bad_column_value_names_the_column(row, column, problem):
    with pytest.raises(DataError) as info:
        estimate_rows([row], "01", KOR.study_id)
    assert info.value.field == column
    assert f"field {column!r}" in str(info.value) and problem in str(info.value)
    assert info.value.rows == [0]


def test_low_above_high_is_refused():
    with pytest.raises(DataError, match="low > high") as info:
        estimate_rows([_row(), _row(estimator="b", low=3.0, high=2.0)], "01", KOR.study_id)
    assert info.value.rows == [1]


def test_interval_none_with_bounds_is_refused_by_the_contract():
    frame = estimate_rows([_row()], "01", KOR.study_id)
    frame.loc[0, "interval"] = "none"
    with pytest.raises(DataError, match="interval 'none' with bounds"):
        validate_estimates(frame, "estimates_01.parquet")
    frame = estimate_rows([_row(low=None, high=None)], "01", KOR.study_id)
    frame.loc[0, "interval"] = "95% CI"                       # an interval without bounds
    with pytest.raises(DataError, match="interval without bounds"):
        validate_estimates(frame)


def test_duplicate_keys_are_refused():
    with pytest.raises(DataError, match="uniqueness") as info:
        estimate_rows([_row(), _row(value=9.0)], "01", KOR.study_id)
    assert info.value.rows == [0, 1]
    # another period is another key
    assert len(estimate_rows([_row(), _row(period="2012")], "01", KOR.study_id)) == 2


def test_bad_study_id_and_notebook_are_refused():
    with pytest.raises(DataError, match="study_id"):
        estimate_rows([_row()], "01", "korea")
    with pytest.raises(DataError, match="notebook"):
        estimate_rows([_row()], "09", KOR.study_id)


def test_unknown_column_is_refused():
    frame = estimate_rows([_row()], "01", KOR.study_id).assign(extra=1)
    with pytest.raises(DataError):
        validate_estimates(frame)


def test_a_refused_row_leaves_the_stored_estimates_alone(folder):
    store = open_store(KOR, "01", folder=folder)
    store.add_estimates([_row()])
    before = (folder / "estimates_01.parquet").read_bytes()
    with pytest.raises(DataError):
        store.add_estimates([_row(estimator="b", low=3.0, high=1.0)])
    assert (folder / "estimates_01.parquet").read_bytes() == before


@pytest.mark.parametrize("row, columns", [
    (_row(low=3.0, high=2.0), {"low", "high"}),
    (_row(interval="95% CI", low=None, high=None), {"interval", "low", "high"}),
])
def test_frame_level_failure_names_its_columns(row, columns):
    with pytest.raises(DataError) as info:
        estimate_rows([row], "01", KOR.study_id)
    assert info.value.field in columns or any(c in info.value.field for c in columns)


def test_interval_none_with_bounds_is_refused_when_rows_are_built():
    with pytest.raises(DataError, match="interval"):
        estimate_rows([_row(interval="none", low=0.5, high=2.0)], "01", KOR.study_id)


# ----------------------------------------------------------------------------- refusal
def test_results_of_another_study_are_refused_naming_both_ids(folder):
    writer = open_store(KOR, "01", folder=folder)
    writer.save("exports_by_year", FRAME)
    writer.add_estimates([_row()])
    writer.done()
    reader = read_store(COL, folder=folder)
    with pytest.raises(ResultsError) as info:
        reader.load("exports_by_year")
    assert KOR.study_id in str(info.value) and COL.study_id in str(info.value)
    with pytest.raises(ResultsError) as info:
        reader.estimates()
    assert KOR.study_id in str(info.value) and COL.study_id in str(info.value)
    assert not reader.has("exports_by_year")
    # another study of the same partner is refused too
    with pytest.raises(ResultsError, match=KOR_2010.study_id):
        read_store(KOR_2010, folder=folder).estimates()


def test_a_study_folder_cannot_be_claimed_by_another_study(folder):
    open_store(KOR, "01", folder=folder).save("exports_by_year", FRAME)
    with pytest.raises(ResultsError) as info:
        open_store(COL, "02", folder=folder)
    assert KOR.study_id in str(info.value) and COL.study_id in str(info.value)
    assert json.loads((folder / "manifest.json").read_text())["study_id"] == KOR.study_id
    assert not (folder / "runs" / "02.json").exists()
    pd.testing.assert_frame_equal(read_store(KOR, folder=folder).load("exports_by_year"), FRAME)


def test_estimate_rows_of_another_study_are_refused(folder):
    """A handcrafted estimates file: the run record is this study's, the rows are not."""
    open_store(COL, "01", folder=folder).add_estimates([_row()])
    estimate_rows([_row()], "01", KOR.study_id).to_parquet(folder / "estimates_01.parquet")
    with pytest.raises(ResultsError) as info:
        read_store(COL, folder=folder).estimates()
    assert KOR.study_id in str(info.value) and COL.study_id in str(info.value)


def test_a_handcrafted_record_of_another_study_is_refused(folder):
    open_store(KOR, "01", folder=folder).save("exports_by_year", FRAME)
    record_path = folder / "runs" / "01.json"
    record = json.loads(record_path.read_text())
    record["study_id"] = COL.study_id
    record_path.write_text(json.dumps(record))
    with pytest.raises(ResultsError) as info:
        read_store(KOR, folder=folder).load("exports_by_year")
    assert KOR.study_id in str(info.value) and COL.study_id in str(info.value)


# ----------------------------------------------------------------------------- rerun hygiene
def test_rerun_forgets_what_the_previous_run_listed(folder):
    first = open_store(KOR, "01", folder=folder)
    first.save("stale_table", FRAME)
    first.add_estimates([_row()])
    other = open_store(KOR, "02", folder=folder)
    other.save("kept_table", FRAME)
    open_store(KOR, "01", folder=folder)                    # the rerun saves nothing yet
    reader = read_store(KOR, folder=folder)
    assert reader.record("01")["results"] == []
    with pytest.raises(ResultsError, match="stale_table"):
        reader.load("stale_table")
    pd.testing.assert_frame_equal(reader.load("kept_table"), FRAME)      # other notebooks' results stay


def test_rerun_drops_the_previous_results(folder):
    first = open_store(KOR, "01", folder=folder)
    first.save("stale_table", FRAME)
    first.add_estimates([_row()])
    open_store(KOR, "01", folder=folder)
    assert not (folder / "stale_table.parquet").exists()
    assert not (folder / "estimates_01.parquet").exists()
    assert read_store(KOR, folder=folder).estimates().empty


# ----------------------------------------------------------------------------- scope
def test_scope_unset_is_the_study_folder(tmp_path):
    assert scope() == "study"
    default = Study.default()
    assert study_folder(default) == tmp_path / "results" / default.study_id
    assert study_folder(default).name != "default"
    assert study_folder(COL) == tmp_path / "results" / COL.study_id


def test_scope_default(tmp_path, monkeypatch):
    monkeypatch.setenv(SCOPE_VARIABLE, "default")
    assert scope() == "default"
    assert study_folder(Study.default()) == tmp_path / "results" / "default"
    assert study_folder(Study.build("kor")) == tmp_path / "results" / "default"
    with pytest.raises(ResultsError) as info:
        study_folder(COL)
    assert COL.study_id in str(info.value) and Study.default().study_id in str(info.value)
    with pytest.raises(ResultsError):
        study_folder(KOR_2010)
    with pytest.raises(ResultsError):
        open_store(COL, "01")
    assert not (tmp_path / "results" / "default").exists()


@pytest.mark.parametrize("value", ["Default", "headline", "1"])
def test_bad_scope(monkeypatch, value):
    monkeypatch.setenv(SCOPE_VARIABLE, value)
    with pytest.raises(ParameterError) as info:
        scope()
    assert info.value.parameter == SCOPE_VARIABLE
    assert "default" in info.value.valid and "study" in info.value.valid
    with pytest.raises(ParameterError):
        study_folder(KOR)


def test_interactive_run_leaves_the_default_folder_alone(tmp_path, monkeypatch, snap):
    default = Study.default()
    monkeypatch.setenv(SCOPE_VARIABLE, "default")
    made = open_store(default, "01")                          # what `make` wrote before
    made.save("exports_by_year", FRAME)
    made.add_estimates([_row()])
    made.done()
    default_folder = tmp_path / "results" / "default"
    assert made.folder == default_folder
    before = snap(default_folder)
    assert "exports_by_year.parquet" in before

    monkeypatch.delenv(SCOPE_VARIABLE)                        # JupyterLab: scope unset
    explored = FRAME.assign(exports_usd_bn=[1.0, 2.0])
    run = open_store(default, "01")
    run.save("exports_by_year", explored)
    run.add_estimates([_row(value=99.0, low=98.0, high=100.0)])
    run.done()
    open_store(default, "02").skip("gravity", "exploring")

    assert snap(default_folder) == before
    own = tmp_path / "results" / default.study_id
    assert run.folder == own
    pd.testing.assert_frame_equal(read_store(default).load("exports_by_year"), explored)
    assert list(read_store(default).estimates()["value"]) == [99.0]
    assert study_folders() == [default_folder, own]          # the default one first


def test_default_folder_of_an_older_default_study_is_emptied(tmp_path, monkeypatch):
    monkeypatch.setenv(SCOPE_VARIABLE, "default")
    default_folder = tmp_path / "results" / "default"
    (default_folder / "runs").mkdir(parents=True)
    (default_folder / "manifest.json").write_text(json.dumps({"study_id": "KOR-00000000"}))
    (default_folder / "runs" / "01.json").write_text(json.dumps({"study_id": "KOR-00000000"}))
    (default_folder / "old_result.parquet").write_bytes(b"stale")
    open_store(Study.default(), "03")
    assert not (default_folder / "old_result.parquet").exists()
    assert not (default_folder / "runs" / "01.json").exists()
    assert json.loads((default_folder / "manifest.json").read_text())["study_id"] == Study.default().study_id


# ----------------------------------------------------------------------------- skipped sections
def test_skip_is_recorded_and_listed(folder, capsys):
    store = open_store(COL, "02", folder=folder)
    store.skip("bilateral exchange rate", "no fx table for COL")
    store.skip("bilateral exchange rate", "no fx table for COL")       # recorded once
    open_store(COL, "04", folder=folder).skip("partner demand", "no demand series")
    assert "skipped: bilateral exchange rate: no fx table for COL" in capsys.readouterr().out
    skipped = read_store(COL, folder=folder).skipped()
    assert list(skipped.columns) == ["notebook", "section", "reason"]
    assert skipped.to_dict("records") == [
        {"notebook": "02", "section": "bilateral exchange rate", "reason": "no fx table for COL"},
        {"notebook": "04", "section": "partner demand", "reason": "no demand series"},
    ]
    assert read_store(COL, folder=folder).record("02")["skipped"] == [
        {"section": "bilateral exchange rate", "reason": "no fx table for COL"}]


def test_rerun_clears_the_skipped_sections(folder):
    open_store(COL, "02", folder=folder).skip("gravity", "no wave")
    open_store(COL, "02", folder=folder)
    assert read_store(COL, folder=folder).skipped().empty


def test_skipped_sections_of_another_study_are_not_listed(folder):
    open_store(KOR, "02", folder=folder).skip("gravity", "no wave")
    assert read_store(COL, folder=folder).skipped().empty
