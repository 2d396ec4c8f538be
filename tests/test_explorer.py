"""The explorer's core and its ipywidgets panel: on a results store built in tmp_path from
SYNTHETIC estimate rows (numbers checked by hand), and on the default study's results when
``make`` has built them. Runs of a missing study use a SYNTHETIC child command that writes the
store as the notebooks would, so the guard against writing the default study is tested without
running the notebooks."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from korus_research import config, explorer, results, synthesis
from korus_research.cli import NotebookError, study_parameters
from korus_research.errors import ParameterError, ResultsError
from korus_research.explorer import DESIGN_NAMES, Explorer
from korus_research.study import Study

SDID, STAGGERED, EVENT = "synthetic DiD (placebo variance)", "staggered DiD (Callaway-Sant'Anna), partner alone", \
    "event study (PPML)"


def synthetic_rows(study: Study) -> dict[str, list[dict]]:
    """SYNTHETIC rows in the layout notebooks 01-05 and 07 write, per notebook (notebook 07
    without the split of the change, so the macro parts come from the trade equations)."""
    span, c = f"{study.base_year}->{study.compare_year}", str(study.compare_year)
    agreement = "agreement effect on the balance"
    return {
        "01": [dict(quantity="balance", estimator="Census", period=str(study.base_year), unit="US$ bn", value=-10.0),
               dict(quantity="balance", estimator="Census", period=c, unit="US$ bn", value=-20.0),
               dict(quantity="balance change", estimator="Census", period=span, unit="US$ bn", value=-10.0)],
        "02": [dict(quantity=synthesis.AUTOS_QUANTITY, estimator="decomposition (autos (ch. 87))", period=span,
                    unit="US$ bn", value=-6.0)],
        "03": [dict(quantity=agreement, estimator=SDID, period=c, unit="US$ bn", value=-4.0, low=-8.0, high=0.0,
                    diagnostics="passed"),
               dict(quantity=agreement, estimator=STAGGERED, period=c, unit="US$ bn", value=-6.0, low=-12.0, high=0.0,
                    diagnostics="passed"),
               dict(quantity=agreement, estimator="event study (OLS)", period=c, unit="US$ bn", value=-3.0, low=-5.0,
                    high=1.0, diagnostics="failed", diagnostics_detail="pre-trend p: 0.01"),
               dict(quantity=agreement, estimator=EVENT, period=c, unit="US$ bn", value=-1.0, low=-5.0, high=1.0,
                    diagnostics="passed"),
               dict(quantity=agreement, estimator="synthetic control (shares)", period=c, unit="US$ bn", value=-4.0,
                    diagnostics="failed"),
               dict(quantity=agreement, estimator="product difference-in-differences (PPML)", period=c, unit="US$ bn",
                    value=-3.0, low=-4.0, high=-2.0),
               dict(quantity=synthesis.AUTOS_AGREEMENT, estimator=SDID, period=c, unit="US$ bn", value=-1.0,
                    low=-1.5, high=-0.5, diagnostics="passed"),
               dict(quantity=synthesis.AUTOS_AGREEMENT, estimator="product difference-in-differences (PPML)", period=c,
                    unit="US$ bn", value=-2.0, low=-2.5, high=-1.5, diagnostics="passed")],
        "04": [dict(quantity=agreement, estimator="gravity PPML: G", period=c, unit="US$ bn", value=2.0, low=0.0,
                    high=4.0)],
        "05": [dict(quantity="balance change due to income", estimator="trade equations (levels)", period=span,
                    unit="US$ bn", value=-3.0, low=-4.0, high=-2.0),
               dict(quantity="balance change due to the real exchange rate", estimator="trade equations (levels)",
                    period=span, unit="US$ bn", value=-1.0, low=-2.0, high=0.0)],
        "07": [dict(quantity="structural: balance, WIOD (goods and services)", estimator="GE gravity (WIOD)",
                    period="2014", unit="US$ bn", value=-20.0)],   # no account of the change: trade equations
        "06": [],
        "08": [],
    }


def write_study(study: Study, notebooks=explorer.NEEDED) -> None:
    """Write SYNTHETIC results of ``study`` into the store (the scope decides the folder)."""
    rows = synthetic_rows(study)
    for nb in notebooks:
        store = results.open_store(study, nb)
        if rows[nb]:
            store.add_estimates(rows[nb])
        store.done()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A processed-data folder whose results store holds SYNTHETIC studies: the default study
    (KOR) in ``default/``, Colombia's study in its own folder, and an incomplete Panama study
    (notebook 01 only). Built once; each test works on a copy."""
    processed = tmp_path_factory.mktemp("explorer") / "processed"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KORUS_DATA_PROCESSED", str(processed))
        mp.setenv(results.SCOPE_VARIABLE, "default")
        write_study(Study.default())
        mp.setenv(results.SCOPE_VARIABLE, "study")
        write_study(Study.build("COL"))
        write_study(Study.build("PAN"), notebooks=("01",))
    return processed


@pytest.fixture
def store(template, tmp_path, monkeypatch) -> Path:
    """The results folder of a fresh copy of :func:`template` (``KORUS_DATA_PROCESSED`` points at it)."""
    shutil.copytree(template, tmp_path / "processed")
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path / "processed"))
    monkeypatch.setenv("KORUS_REPORTS", str(tmp_path / "reports"))
    monkeypatch.delenv(results.SCOPE_VARIABLE, raising=False)
    return config.results_dir()


def test_available_lists_the_store(store):
    table = Explorer().available()
    assert table.iloc[0]["where"] == "default study" and table.iloc[0]["study_id"] == Study.default().study_id
    by = table.set_index("partner")
    assert by.loc["COL", "complete"] and not by.loc["PAN", "complete"]
    assert by.loc["COL", "folder"] == store / Study.build("COL").study_id


def test_select_finds_the_default_folder_and_missing_studies(store):
    ex = Explorer()
    sel = ex.select("kor")
    assert (sel.folder, sel.source, sel.exists) == (store / "default", "default study", True)
    missing = ex.select("KOR", base_year=2013, compare_year=2019)
    assert not missing.exists and missing.source == "not in the store"
    assert missing.folder == store / missing.study.study_id and "not in the results store" in missing.describe()
    with pytest.raises(ResultsError, match="run it first"):
        ex.view()
    partial = ex.select("PAN")
    assert partial.finished == ("01",) and partial.missing == ("02", "03", "04", "05", "07")
    with pytest.raises(ParameterError, match="controls"):
        ex.select("KOR", controls="XXX")


def test_view_with_every_design_is_the_report_rule(store):
    ex = Explorer()
    ex.select("KOR")
    view = ex.view()
    # by hand: the synthetic DiD (rank 1) passes with a 95% CI
    assert (view.headline["estimator"], view.headline["estimate"]) == (SDID, -4.0)
    assert view.headline == view.reference and not view.changed
    att = view.attribution
    assert att.loc[synthesis.GE_HEADLINE, "usd_bn"] == -4.0
    # autos beyond the agreement: -6 less the synthetic DiD's autos effect (-1)
    assert att.loc[synthesis.AUTOS_COMPOSITION, "usd_bn"] == pytest.approx(-5.0)
    # what is left: -10 - (-3 - 1 - 4 - 5) = 3; the counted parts add up to the total
    assert att.loc[synthesis.LEFT, "usd_bn"] == pytest.approx(3.0)
    assert att.loc[att["counted"], "usd_bn"].sum() == pytest.approx(att.loc[synthesis.TOTAL, "usd_bn"])
    assert view.estimates["counts"].all() and view.estimates["headline"].sum() == 1
    assert "Same as the report's rule" in view.headline_text()


def test_setting_a_design_aside_moves_the_headline_and_the_attribution(store):
    ex = Explorer()
    ex.select("KOR")
    view = ex.view(designs=DESIGN_NAMES[1:])
    assert (view.headline["estimator"], view.headline["estimate"], view.headline["ci_low"]) == (STAGGERED, -6.0, -12.0)
    assert view.reference["estimate"] == -4.0 and view.changed
    att = view.attribution
    assert att.loc[synthesis.GE_HEADLINE, "usd_bn"] == -6.0
    # the autos headline follows the same designs: product DiD (-2), so autos beyond = -6 - (-2)
    assert att.loc[synthesis.AUTOS_COMPOSITION, "usd_bn"] == pytest.approx(-4.0)
    assert att.loc[synthesis.LEFT, "usd_bn"] == pytest.approx(-10.0 - (-3.0 - 1.0 - 6.0 - 4.0))
    assert view.accounting.loc[synthesis.AGREEMENT_ROW, "usd_bn"] == -6.0
    counts = view.estimates.set_index("estimator")["counts"]
    assert not counts[SDID] and counts[STAGGERED]
    assert "-6.0 bn" in view.headline_text() and "report's rule with every design gives -4.0 bn" in view.headline_text()
    tables = view.tables()
    assert list(tables["estimates"].iloc[0, :2]) == ["no", ""]        # the synthetic DiD: set aside
    assert "-6.0" in set(tables["attribution"].iloc[:, 1])


def test_setting_estimators_aside_one_by_one(store):
    ex = Explorer()
    ex.select("KOR")
    view = ex.view(designs=DESIGN_NAMES[1:], exclude_estimators=[STAGGERED])
    assert (view.headline["estimator"], view.headline["estimate"]) == (EVENT, -1.0)
    view = ex.view(exclude_estimators=[SDID, STAGGERED, EVENT])
    assert view.headline["design"] is None and synthesis.GE_HEADLINE not in view.attribution.index
    assert "No counted design passes" in view.headline_text()
    with pytest.raises(ParameterError, match="designs"):
        ex.view(designs=["a design that does not exist"])


def test_sensitivity_is_the_ladder_of_the_headline_rule(store):
    ex = Explorer()
    ex.select("KOR")
    curve = ex.view().sensitivity
    assert list(curve["estimate"].iloc[:4]) == [-4.0, -4.0, -6.0, -1.0] and np.isnan(curve["estimate"].iloc[4])
    assert list(curve["scenario"].iloc[2:]) == [f"then without {DESIGN_NAMES[0]}", f"then without {DESIGN_NAMES[1]}",
                                                f"then without {DESIGN_NAMES[4]}"]
    assert list(curve["change from the report"].iloc[:4]) == [0.0, 0.0, -2.0, 3.0]
    assert curve["what is left"].iloc[0] == pytest.approx(3.0) and curve["what is left"].iloc[2] == pytest.approx(4.0)


def test_counted_estimates_keep_every_other_row(store):
    ex = Explorer()
    ex.select("KOR")
    est = ex.estimates()
    kept = explorer.counted_estimates(est, designs=[])
    assert not kept["quantity"].isin(explorer.AGREEMENT_QUANTITIES[:-1]).any()
    assert len(kept[~kept["quantity"].isin(explorer.AGREEMENT_QUANTITIES)]) == \
        len(est[~est["quantity"].isin(explorer.AGREEMENT_QUANTITIES)])


# --------------------------------------------------------------------------- running a missing study
FAKE_RUN = r"""
import json, sys, time
from korus_research import results
from korus_research.study import Study
rows, params = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
study = Study.build(**params)
for nb in ("01", "02", "03", "04", "05", "07", "06"):
    store = results.open_store(study, nb)     # the folder follows KORUS_STUDY_SCOPE, as in a notebook
    if rows[nb]:
        store.add_estimates(rows[nb])
    time.sleep(0.05)
    store.done()
"""


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """Replace ``korus-research study`` by a SYNTHETIC child that writes the store as the notebooks would."""
    def command(study, jobs=2):
        rows, params = tmp_path / "rows.json", tmp_path / "params.json"
        rows.write_text(json.dumps(synthetic_rows(study)))
        params.write_text(json.dumps({"partner": study.partner, "base_year": study.base_year,
                                      "compare_year": study.compare_year, "controls": study.controls}))
        return [sys.executable, "-c", FAKE_RUN, str(rows), str(params)]

    monkeypatch.setattr(explorer, "study_command", command)


def test_a_run_writes_the_study_folder_never_the_default_one(store, fake_run, monkeypatch, snap):
    # the default folder holds another (older) default study's partial run: the default study is missing
    default = store / "default"
    manifest = json.loads((default / "manifest.json").read_text())
    manifest["study_id"] = "KOR-00000000"
    (default / "manifest.json").write_text(json.dumps(manifest))
    before = snap(default)
    monkeypatch.setenv(results.SCOPE_VARIABLE, "default")   # as inside `make`: the run must not inherit it
    ex = Explorer()
    sel = ex.select("KOR")
    assert not sel.exists and sel.folder == store / Study.default().study_id
    calls = []
    after = ex.run_missing(lambda done, total, message: calls.append((done, total, message)), poll=0.05)
    assert after.exists and after.folder == store / Study.default().study_id and ex.selection is after
    assert snap(default) == before
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][:2] == (len(explorer.RUN_NOTEBOOKS) + 1,) * 2 and "done" in calls[-1][2]
    assert ex.view().headline["estimate"] == -4.0


def test_the_run_folder_is_never_the_default_folder(store, monkeypatch):
    ex = Explorer()
    ex.select("KOR", base_year=2013, compare_year=2019)
    monkeypatch.setattr(results, "study_folder", lambda study, scope_=None: store / results.DEFAULT_FOLDER)

    def no_run(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(explorer.subprocess, "Popen", no_run)
    with pytest.raises(ResultsError, match="default study's folder: refused"):
        ex.run_missing()
    with pytest.raises(ResultsError, match="refused"):
        explorer.run_folder(ex.selection.study)


def test_a_failed_notebook_is_one_line(store, monkeypatch):
    script = "import sys; print('error: notebook 03_agreement_effects failed in cell 7: ValueError: x', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(explorer, "study_command", lambda study, jobs=2: [sys.executable, "-c", script])
    ex = Explorer()
    ex.select("KOR", base_year=2013, compare_year=2019)
    with pytest.raises(NotebookError, match=r"^notebook 03_agreement_effects failed in cell 7: ValueError: x$"):
        ex.run_missing(poll=0.05)
    assert ex.selection.study.study_id not in explorer._RUNNING


def test_a_run_can_be_cancelled(store, monkeypatch):
    monkeypatch.setattr(explorer, "study_command",
                        lambda study, jobs=2: [sys.executable, "-c", "import time; time.sleep(60)"])
    ex = Explorer()
    ex.select("KOR", base_year=2013, compare_year=2019)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.perf_counter()
    with pytest.raises(ResultsError, match="cancelled"):
        ex.run_missing(cancel=cancel, poll=0.05)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("args", [dict(partner="KOR", base_year=2013, compare_year=2019),
                                  dict(partner="CHN", entry="2015-01-01"),
                                  dict(partner="PAN", controls="JPN,DEU,CHN,MEX,CAN")])
def test_the_run_command_is_make_study_for_the_same_study(args):
    study = Study.build(**args)
    argv = explorer.study_command(study)
    assert argv[1:4] == ["-m", "korus_research", "study"]
    flags = dict(zip(argv[4::2], argv[5::2], strict=True))
    params = study_parameters(flags["--partner"], flags.get("--entry", ""), flags.get("--base", ""),
                              flags.get("--compare", ""), flags.get("--controls", "default"))
    again = Study.build(params["partner"], entry=params.get("entry", ""), base_year=params.get("base_year", 0),
                        compare_year=params.get("compare_year", 0), controls=params.get("controls", "default"))
    assert again.study_id == study.study_id


# --------------------------------------------------------------------------- the ipywidgets panel
def test_widgets_build_without_a_kernel_and_follow_the_controls(store, fake_run):
    ipywidgets = pytest.importorskip("ipywidgets")
    box = Explorer().widgets()
    assert isinstance(box, ipywidgets.VBox)
    panel = box.panel
    assert "-4.0 bn" in panel.headline.value and "default study" in panel.status.value
    assert panel.figure.value[:4] == b"\x89PNG" and "what is left" in panel.attribution.value
    panel.designs[0].value = False                         # set the synthetic DiD aside
    assert "-6.0 bn" in panel.headline.value and "-4.0 bn" in panel.headline.value
    assert ">-6.0<" in panel.attribution.value
    panel.exclude.value = (STAGGERED,)
    assert "-1.0 bn" in panel.headline.value
    panel.reset.click()                                     # back to the report's rule
    assert "Same as the report" in panel.headline.value and not panel.exclude.value
    panel.designs[0].value = False
    panel.exclude.value = (STAGGERED,)
    panel.compare.value = 2019                              # a study not in the store
    assert "not in the results store" in panel.status.value and not panel.run.disabled
    assert panel.headline.value == "" and panel.attribution.value == ""
    panel.run_now()                                         # what the Run button does (here: in this thread)
    assert panel.progress.value == panel.progress.max == len(explorer.RUN_NOTEBOOKS) + 1 and "done" in panel.progress_text.value
    assert panel.run.disabled and "-1.0 bn" in panel.headline.value   # the choice of estimators still applies
    panel.controls.value = "XXX"
    assert "controls" in panel.status.value and panel.headline.value == ""


def test_widgets_pick_a_study_from_the_store(store):
    pytest.importorskip("ipywidgets")
    panel = explorer.ExplorerWidgets(Explorer())
    col = [v for label, v in panel.stored.options if "COL" in label][0]
    panel.stored.value = col
    assert panel.partner.value == "COL" and "COL" in panel.status.value and "-4.0 bn" in panel.headline.value


# --------------------------------------------------------------------------- the default study, when built
@pytest.fixture(scope="module")
def default_results() -> Path:
    folder = explorer.default_folder()
    sel = Explorer().select()
    if not sel.exists or sel.folder != folder or not (folder / "synthesis_headline.parquet").exists():
        pytest.skip("the default study's results are not in the store (run make)")
    finished = {nb: json.loads((folder / "runs" / f"{nb}.json").read_text()).get("finished") or ""
                for nb in explorer.RUN_NOTEBOOKS}
    if finished["06"] < max(finished[nb] for nb in explorer.NEEDED):
        pytest.skip("the default study's synthesis (notebook 06) is older than its notebooks: make has not finished")
    return folder


def test_the_default_study_is_the_report_and_is_only_read(default_results, snap):
    before = snap(default_results)
    ex = Explorer()
    ex.select()
    start = time.perf_counter()
    view = ex.view()
    seconds = time.perf_counter() - start
    stored = pd.read_parquet(default_results / "synthesis_headline.parquet").iloc[0]
    assert view.reference["estimator"] == stored["estimator"]
    assert view.reference["estimate"] == pytest.approx(stored["estimate"])
    saved = pd.read_parquet(default_results / "synthesis_attribution.parquet").set_index("component")
    assert list(view.attribution.index) == list(saved.index)
    np.testing.assert_allclose(view.attribution["usd_bn"], saved["usd_bn"])
    assert seconds < 2.0, f"the explorer took {seconds:.2f} s to update"
    # setting the headline's design aside gives the next design's headline, and the attribution follows
    rank = DESIGN_NAMES.index(view.reference["design"])
    other = ex.view(designs=[d for d in DESIGN_NAMES if d != view.reference["design"]])
    assert other.headline["design"] != view.reference["design"]
    if other.headline["design"] is not None:
        assert DESIGN_NAMES.index(other.headline["design"]) > rank
        assert other.attribution.loc[synthesis.GE_HEADLINE, "usd_bn"] == other.headline["estimate"]
    counted = other.attribution[other.attribution["counted"]]
    assert counted["usd_bn"].sum() == pytest.approx(other.attribution.loc[synthesis.TOTAL, "usd_bn"])
    assert snap(default_results) == before
