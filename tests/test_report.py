"""The HTML report: every link and image resolves, every executed notebook is listed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd

from korus_research import report
from korus_research.study import Study


def _executed_notebook(folder: Path, stem: str) -> None:
    """SYNTHETIC tiny executed notebook."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Title of {stem}"),
                nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "2"}, execution_count=1)])]
    nbformat.write(nb, folder / f"{stem}.ipynb")


def _check_site(folder: Path, page: str = "index.html") -> str:
    """Every link and image of the page resolves: files exist, and a link to a section names an
    id of its page."""
    index = (folder / page).read_text()
    for target in re.findall(r"""(?:href|src)=["']([^"']+)["']""", index):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        path = path or page  # a link to a section of this page
        assert (folder / path).exists(), target
        if anchor:
            assert f"id='{anchor}'" in (folder / path).read_text(), target
    return index


def test_report_links_resolve(tmp_path):
    _executed_notebook(tmp_path, "01_first")
    _executed_notebook(tmp_path, "02_second")
    (tmp_path / "figures" / "g").mkdir(parents=True)
    (tmp_path / "figures" / "g" / "fig.png").write_bytes(b"\x89PNG SYNTHETIC")
    study = Study.default()
    (tmp_path / "figures" / "g" / study.study_id).mkdir(parents=True)
    (tmp_path / "figures" / "g" / study.study_id / "mine.png").write_bytes(b"\x89PNG SYNTHETIC")
    _executed_notebook(tmp_path, "03_third.failed")  # a failed run's copy is never published
    _executed_notebook(tmp_path, ".04_fourth.running")
    report.build_report(tmp_path, study=study, pdf=False)
    index = _check_site(tmp_path)
    for page in ("dictionary.html", "references.html"):
        _check_site(tmp_path, page)
    # every table shown is downloadable as CSV and XLSX, and the files read back
    tables = re.findall(r"""href=["'](tables/[^"']+\.csv)["']""", index)
    assert "tables/provenance.csv" in tables and "tables/environment.csv" in tables
    for csv in tables:
        assert (tmp_path / csv).with_suffix(".xlsx").exists()
        assert len(pd.read_csv(tmp_path / csv)) > 0
    assert "<nav class='site'>" in index and "@media print" in index
    assert "korus_research" in (tmp_path / "dictionary.html").read_text()
    refs = (tmp_path / "references.html").read_text()
    assert "references.bib" in refs and (tmp_path / "references.bib").exists() and "cff-version" in refs
    assert "03_third" not in index and "04_fourth" not in index
    assert f"figures/g/{study.study_id}/mine.png" in index
    assert "figures/g/fig.png" not in index  # another study's (or no study's) figure is not shown
    assert "Title of 01_first" in index and "Title of 02_second" in index
    assert "census/country.xlsx" in index  # provenance table
    assert "pandas" in index  # environment


def test_built_report_if_present():
    from korus_research import config

    folder = config.reports_dir()
    if not (folder / "index.html").exists():
        import pytest

        pytest.skip("no report built yet (make report)")
    index = _check_site(folder)
    for nb in folder.glob("*.ipynb"):
        if nb.name.startswith(".") or nb.stem.endswith(".failed"):
            assert f"html/{nb.stem}.html" not in index
        else:
            assert f"html/{nb.stem}.html" in index
    if (config.results_dir() / "default" / "synthesis_literature.parquet").exists():
        assert "Findings: KOR" in index and "Our estimates beside the published ones" in index
        assert "Sections skipped for lack of data" in index
        assert "Findings: COL" not in index  # only the default study


def test_comparison_page(tmp_path, monkeypatch):
    import pandas as pd

    from korus_research import results

    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path / "processed"))
    monkeypatch.delenv("KORUS_STUDY_SCOPE", raising=False)
    for partner, value in (("COL", -1.0), ("PAN", 2.0)):  # SYNTHETIC attribution tables
        study = Study.build(partner)
        store = results.open_store(study, "06")
        store.save("synthesis_attribution", pd.DataFrame({"component": ["total"], "usd_bn": [value],
                                                          "counted": [False]}))
        store.save("synthesis_headline", pd.DataFrame([{"design": "event study", "estimator": "event study (PPML)",
                                                        "estimate": value, "ci_low": value - 1, "ci_high": value + 1,
                                                        "interval": "95% CI", "notebook": "03"}]))
        store.done()
        (tmp_path / "reports" / "studies" / study.study_id).mkdir(parents=True)
        (tmp_path / "reports" / "studies" / study.study_id / "index.html").write_text("<html></html>")
    out = report.build_comparison(tmp_path / "reports")
    page = _check_site_file(out)
    for partner in ("COL", "PAN"):
        assert f"studies/{Study.build(partner).study_id}/index.html" in page
    assert "-1.0" in page and "2.0" in page


def _check_site_file(page_path: Path) -> str:
    return _check_site(page_path.parent, page_path.name)


def test_the_joint_study_prints_to_pdf(tmp_path, monkeypatch):
    import shutil

    import pytest

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Chromium on PATH: the PDF is not built (apt-get install chromium)")
    _executed_notebook(tmp_path, "06_joint_study")
    out = report.print_pdf(tmp_path)
    assert out == tmp_path / "joint_study.pdf" and out.read_bytes()[:5] == b"%PDF-"
    assert "1 + 1" not in (tmp_path / "html" / "06_joint_study.print.html").read_text()  # code hidden
    monkeypatch.setenv("KORUS_CHROMIUM", str(tmp_path / "no-such-browser"))
    monkeypatch.setenv("PATH", "")
    (tmp_path / "joint_study.pdf").unlink()
    with pytest.raises(FileNotFoundError):  # a browser named but absent is an error, not a silent skip
        report.print_pdf(tmp_path)
    assert not (tmp_path / "joint_study.pdf").exists()
