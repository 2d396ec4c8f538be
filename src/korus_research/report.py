"""Build the static HTML report in ``reports/``.

``reports/index.html`` links every executed notebook (rendered to HTML with
nbconvert into ``reports/html/``), shows every figure of ``reports/figures/``, the
data provenance table (registry and fetch manifest) and the run's environment
(package versions, run date, run time per notebook).
"""

from __future__ import annotations

import html
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import config, formatting, registry, regtables
from .errors import KorusError
from .fetch import read_manifest

PACKAGES = ["pandas", "numpy", "scipy", "statsmodels", "pyfixest", "pandera", "pyreadr",
            "country_converter", "matplotlib", "seaborn", "papermill", "nbconvert", "nbval", "pyarrow"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.3em}
nav.site{display:flex;flex-wrap:wrap;gap:.4em 1.2em;font-size:.9em;border-bottom:1px solid #ccd;padding:.4em 0;margin-bottom:1em}
nav.site a{color:#224;text-decoration:none}nav.site a:hover{text-decoration:underline}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef}
figure{display:block;margin:1em 0;max-width:900px}
figure.lead{display:block;max-width:900px}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#444}
code{background:#f4f4f4;padding:0 .2em}
@media print{
  nav.site,.table-downloads,.figure-links{display:none}
  body{max-width:none;margin:0;font-size:10pt}
  figure{display:block;max-width:100%;break-inside:avoid;page-break-inside:avoid}
  h2,h3{break-after:avoid;page-break-after:avoid}
  a{color:inherit;text-decoration:none}
}
"""


def _notebook_title(path: Path) -> str:
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            first = "".join(cell.get("source", "")).strip().splitlines()[0]
            return first.lstrip("# ").strip()
    return path.stem


def render_notebooks(report_dir: Path) -> list[tuple[str, str, Path]]:
    """Render each executed notebook of ``report_dir`` to ``report_dir/html/``.

    Returns ``(stem, title, html path)`` for each, in file-name order.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    out_dir = report_dir / "html"
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    # only completed runs: not a failed run's copy (``.failed.ipynb``) nor one still running (``.*``)
    completed = [p for p in report_dir.glob("*.ipynb") if not p.name.startswith(".") and not p.stem.endswith(".failed")]
    for nb_path in sorted(completed):
        body, _ = exporter.from_filename(str(nb_path))
        target = out_dir / f"{nb_path.stem}.html"
        target.write_text(body, encoding="utf-8")
        pages.append((nb_path.stem, _notebook_title(nb_path), target))
    return pages


def provenance_frame() -> pd.DataFrame:
    """Registry entries joined with the fetch manifest (where each file came from, when)."""
    table = registry.provenance_table()
    manifest = read_manifest()
    table["fetched from"] = table["file"].map(lambda f: manifest.get(f, {}).get("source", "not fetched"))
    table["fetched at"] = table["file"].map(lambda f: manifest.get(f, {}).get("fetched_at", ""))
    table["bytes"] = table["file"].map(registry.SIZES)
    return table


def environment_frame() -> pd.DataFrame:
    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])


class _Tables:
    """Every table a page shows: formatted by :mod:`korus_research.formatting` and written as CSV
    and XLSX into ``<report_dir>/tables/``, with links to both under it."""

    def __init__(self, report_dir: Path, page_dir: Path | None = None):
        self.folder = report_dir / "tables"
        self.page_dir = page_dir or report_dir
        self.written: list[str] = []

    def __call__(self, frame: pd.DataFrame, stem: str, caption: str | None = None, source: str | None = None,
                 **options) -> str:
        paths = formatting.write_downloads(frame, self.folder, stem, units=options.get("units"), caption=caption,
                                           source=source)
        links = {kind.upper(): Path(os.path.relpath(path, self.page_dir)).as_posix() for kind, path in paths.items()}
        self.written.append(stem)
        return formatting.to_html(frame, caption=caption, source=source, downloads=links, **options)


def _figure(report_dir: Path, png: Path, css_class: str = "") -> str:
    """A figure with its caption in words (the alt text saved beside it by ``plots.save_figure``)
    and a link to the data behind it when saved."""
    rel = png.relative_to(report_dir).as_posix()
    alt_file = png.with_name(png.stem + ".alt.txt")
    alt = alt_file.read_text(encoding="utf-8").strip() if alt_file.exists() else png.stem.replace("_", " ")
    caption = alt.split(". ")[0].rstrip(".") + "."
    data = png.with_suffix(".csv")
    links = [f"<a href='{html.escape(rel)}'>PNG</a>"]
    if data.exists():
        links.append(f"<a href='{html.escape(data.relative_to(report_dir).as_posix())}'>data (CSV)</a>")
    cls = f" class='{css_class}'" if css_class else ""
    return (f"<figure{cls}><img src='{html.escape(rel)}' alt='{html.escape(alt)}'><figcaption>{html.escape(caption)} "
            f"<span class='figure-links'>{' · '.join(links)}</span></figcaption></figure>")


_SYNTHESIS_SOURCE = "korus-research results store (notebook 06), from the study's notebooks 01-05 and 07"


def _study_summary(report_dir: Path, study, store, figure_key: str, table) -> list[str]:
    """The study's attribution (first), parameters, findings, cross-check, headline rule,
    robustness, literature and the sections its data could not support (from its own
    results store only)."""
    from .errors import ResultsError

    partner = html.escape(study.partner)
    study_table = [f"<h2 id='study'>Study {html.escape(study.study_id)}: {partner}, {html.escape(study.agreement)}, "
                   f"{study.base_year} to {study.compare_year}</h2>",
                   table(study.summary().reset_index(), "study", "The study's parameters")]
    try:
        findings = store.load("synthesis_findings")["finding"]
        attribution = store.load("synthesis_attribution")
    except ResultsError as err:
        return study_table + [f"<p>No synthesis for this study yet ({html.escape(str(err))}).</p>"]
    # the report opens with the attribution built on the structural account (notebook 06)
    out = [f"<h2 id='attribution'>What changed the US goods balance with {partner}, {study.base_year} to "
           f"{study.compare_year}: the attribution on the structural account</h2>",
           "<p>Aggregate imbalances and incomes are counterfactuals of a general-equilibrium gravity model with "
           "trade imbalances (notebook 07); the agreement is the headline design's estimate, its GE counterpart "
           "shown beside it and not added; the counted rows and what is left add up to the total change.</p>"]
    chart = report_dir / "figures" / "06_joint_study" / figure_key / "attribution.png"
    if chart.exists():
        out.append(_figure(report_dir, chart, "lead"))
    shown = attribution.set_index("component")
    options = {"units": {"usd_bn": "US$ bn", "low": "US$ bn", "high": "US$ bn"}}
    if "counted" in shown and shown["component" if False else "counted"].any():
        total = [c for c in shown.index if c.startswith("total")]
        left = [c for c in shown.index if c.startswith("what is left")]
        if total:
            options.update(totals={"usd_bn": total[0]}, parts=list(shown.index[shown["counted"]]),
                           absorb=left[0] if left else None)
    try:
        out.append(table(shown, "attribution", f"Attribution of the change in the US goods balance with {partner}, "
                         f"{study.base_year}-{study.compare_year} (US$ bn)", _SYNTHESIS_SOURCE, **options))
    except KorusError:  # parts that cannot be shown adding up: shown as they are, with the rounding note
        out.append(table(shown, "attribution", "Attribution of the change (US$ bn)", _SYNTHESIS_SOURCE,
                         units=options["units"], note=formatting.ROUNDING_NOTE))
    if store.has("synthesis_bridge"):
        bridge = store.load("synthesis_bridge")
        if len(bridge):
            out.append(table(bridge.set_index(bridge.columns[0]), "bridge",
                             "From the model's change to the study's Census goods change (US$ bn)", _SYNTHESIS_SOURCE,
                             units={"usd_bn": "US$ bn", "low": "US$ bn", "high": "US$ bn"}))
    out += study_table
    out.append(f"<h2 id='findings'>Findings: {partner}</h2><ul>")
    out += [f"<li>{html.escape(f)}</li>" for f in findings]
    out.append("</ul>")
    if store.has("synthesis_accounting"):
        out.append("<h3>Cross-check: the additive accounting (trade equations, notebook 05)</h3>")
        out.append(table(store.load("synthesis_accounting").set_index("component"), "accounting",
                         "The additive accounting (US$ bn)", _SYNTHESIS_SOURCE,
                         units={"usd_bn": "US$ bn", "low": "US$ bn", "high": "US$ bn"}))
    if store.has("synthesis_headline"):
        chosen = store.load("synthesis_headline").iloc[0]
        out.append(f"<h3 id='headline'>The agreement's effect: the headline rule</h3><p>Rule: "
                   f"{html.escape(str(chosen['rule']))}.</p><p>{html.escape(str(chosen['reason']))}.</p>")
    if store.has("synthesis_robustness"):
        curve = store.load("synthesis_robustness")
        out.append(f"<h3 id='robustness'>Robustness: every estimate of the agreement's effect ({partner}, "
                   f"{study.compare_year} balance)</h3>")
        spec = report_dir / "figures" / "06_joint_study" / figure_key / "agreement_estimates.png"
        if spec.exists():
            out.append(_figure(report_dir, spec, "lead"))
        cols = ["estimate", "ci_low", "ci_high", "interval", "design", "estimator", "diagnostics", "check",
                "diagnostics_detail", "headline"]
        out.append(table(curve[[c for c in cols if c in curve]], "robustness",
                         "Every estimate of the agreement's effect on the balance (US$ bn)", _SYNTHESIS_SOURCE,
                         units={"estimate": "US$ bn", "ci_low": "US$ bn", "ci_high": "US$ bn"}))
    if store.has("synthesis_literature"):
        lit = store.load("synthesis_literature")
        if len(lit):
            out.append(f"<h3 id='literature'>Our estimates beside the published ones: {partner}</h3>")
            cols = ["published", "period", "unit", "published value", "ours", "ours low", "ours high",
                    "difference in definitions", "reference", "source"]
            out.append(table(lit[[c for c in cols if c in lit]], "literature",
                             "Published estimates and ours (units as stated by row)",
                             "published/benchmarks.csv (see the references page for each publication)"))
    skipped = store.skipped()
    out.append("<h3>Sections skipped for lack of data</h3>")
    out.append(table(skipped, "skipped", "Sections the data could not support") if len(skipped)
               else "<p>None: every section ran for this partner.</p>")
    out.append("<h3>How each notebook ran for this study</h3>")
    out.append(table(store.runs(), "runs", "Notebook runs of this study"))
    return out


def _table(frame: pd.DataFrame) -> str:
    return formatting.to_html(frame)


def _nav(report_dir: Path, prefix: str, own_pages: bool, sections: str | None = None) -> str:
    """The site's navigation: this page's sections (those ``sections``, the page's HTML, has),
    then the site's pages that exist (``prefix``: the path from ``report_dir`` to the site's
    top folder; ``own_pages``: the data dictionary and the references are built in ``report_dir``)."""
    links = [(f"index.html#{anchor}", text) for anchor, text in (
        ("attribution", "Attribution"), ("findings", "Findings"), ("notebooks", "Notebooks"),
        ("regressions", "Regression tables"), ("figures", "Figures"), ("provenance", "Data provenance"))
        if sections is None or f"id='{anchor}'" in sections]
    site = [("studies.html", "Studies compared"), ("dictionary.html", "Data dictionary"),
            ("references.html", "References and citation"), ("joint_study.pdf", "The joint study (PDF)")]
    for href, text in site:
        built_here = own_pages and href in ("dictionary.html", "references.html")
        if built_here or (report_dir / prefix / href).exists():
            links.append((prefix + href if not built_here else href, text))
    return "<nav class='site'>" + "".join(f"<a href='{html.escape(h)}'>{html.escape(t)}</a>" for h, t in links) + "</nav>"


def _page(title: str, body: list[str], nav: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}{formatting.CSS}{regtables.CSS}</style></head><body>{nav}" + "\n".join(body) + "</body></html>")


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _dictionary_page(report_dir: Path, nav: str) -> Path:
    from . import dictionary

    table = _Tables(report_dir)
    body = ["<h1>Data dictionary</h1><p>Every processed table and the results store's estimate table: each column, "
            "its type, unit, basis, the checks its schema makes, and the raw files it is built from (with their "
            "references).</p>",
            table(dictionary.data_dictionary(), "data_dictionary", "Data dictionary",
                  "korus_research.schemas, korus_research.registry")]
    return _write(report_dir / "dictionary.html", _page("korus-research: data dictionary", body, nav))


def _references_page(report_dir: Path, nav: str) -> Path:
    """The bibliography (every data source, benchmark and method) and how to cite the suite."""
    from . import dictionary

    body = ["<h1>References and citation</h1>"]
    cff = config.PROJECT_ROOT / "CITATION.cff"
    if cff.exists():
        body.append("<h2>Citing korus-research</h2><pre>" + html.escape(cff.read_text(encoding="utf-8")) + "</pre>")
        (report_dir / "CITATION.cff").write_bytes(cff.read_bytes())
    try:
        entries = dictionary.bib_entries()
    except (KorusError, FileNotFoundError) as err:
        body.append(f"<p>No bibliography ({html.escape(str(err))}).</p>")
    else:
        _write(report_dir / "references.bib", dictionary.bibliography())
        body.append("<h2>Data sources, published benchmarks and methods</h2><p><a href='references.bib'>BibTeX</a> · "
                    "<a href='CITATION.cff'>CITATION.cff</a></p><ol>")
        for key, e in sorted(entries.items(), key=lambda kv: (kv[1].fields.get("author", kv[0]).lower(), kv[0])):
            f = {k: v.replace("{", "").replace("}", "") for k, v in e.fields.items()}
            who = f.get("author") or f.get("organization") or f.get("institution") or ""
            where = f.get("journal") or f.get("publisher") or f.get("institution") or f.get("howpublished") or ""
            link = f.get("url") or (f"https://doi.org/{f['doi']}" if f.get("doi") else "")
            body.append(f"<li id='{html.escape(key)}'>{html.escape(who)} ({html.escape(f.get('year', ''))}). "
                        f"<em>{html.escape(f.get('title', ''))}</em>. {html.escape(where)}."
                        + (f" <a href='{html.escape(link)}'>{html.escape(link)}</a>" if link else "")
                        + f" <code>{html.escape(key)}</code></li>")
        body.append("</ol>")
    return _write(report_dir / "references.html", _page("korus-research: references", body, nav))


def print_pdf(report_dir: Path, stem: str = "06_joint_study", target: str = "joint_study.pdf") -> Path | None:
    """The executed notebook ``stem`` as a PDF (code hidden), printed by headless Chromium
    (``chromium`` or ``chromium-browser`` on PATH, or ``KORUS_CHROMIUM``). Returns None, and
    says so, when no Chromium is installed."""
    import shutil
    import subprocess

    from nbconvert import HTMLExporter

    notebook = report_dir / f"{stem}.ipynb"
    browser = os.environ.get("KORUS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not notebook.exists() or browser is None:
        print(f"no PDF of {stem}: " + ("no executed notebook" if not notebook.exists() else
                                       "no Chromium on PATH (apt-get install chromium)"))
        return None
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_filename(str(notebook))
    page = report_dir / "html" / f"{stem}.print.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    _write(page, body)
    out = report_dir / target
    tmp = out.with_name(f".{out.name}.tmp")
    with __import__("tempfile").TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={tmp}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=180)
    os.replace(tmp, out)
    return out


def build_report(report_dir: Path | None = None, study=None, pdf: bool = True) -> Path:
    """Build ``index.html`` (and the notebook pages, the data dictionary, the references and,
    with ``pdf``, the joint study as a PDF) in ``report_dir`` for one study and return its
    path. Default: the headline study, read from the default results folder. Every table is
    also written as CSV and XLSX into ``tables/``."""
    from . import results
    from .study import Study

    report_dir = Path(report_dir or config.reports_dir())
    report_dir.mkdir(parents=True, exist_ok=True)
    if study is None:
        study = Study.default()
        folder = config.results_dir() / results.DEFAULT_FOLDER
    else:
        folder = results.study_folder(study, "study")
    store = results.read_store(study, folder)
    figure_key = store.figure_group("x").split("/", 1)[1]
    pages = render_notebooks(report_dir)
    log_path = report_dir / "run_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    figures = sorted(p for p in (report_dir / "figures").rglob("*.png") if p.parent.name == figure_key) \
        if (report_dir / "figures").exists() else []
    if pdf:
        print_pdf(report_dir)
    # a study's report (reports/studies/<id>/) links to the site's pages two folders up
    in_studies = (report_dir.resolve().parent.name == "studies"
                  and report_dir.resolve().parent.parent == config.reports_dir().resolve())
    top = "../../" if in_studies else ""
    table = _Tables(report_dir)

    body = [f"<h1>korus-research: the US goods balance with {html.escape(study.capabilities.name)}</h1>",
            *_study_summary(report_dir, study, store, figure_key, table),
            f"<p>Built {html.escape(time.strftime('%Y-%m-%d %H:%M %Z'))} from official data "
            "(see the provenance table). Each notebook below was executed by papermill; its "
            "parameters and run time are listed with it.</p>",
            "<h2 id='notebooks'>Notebooks</h2><table><tr><th>notebook</th><th>parameters</th><th>run time (s)</th>"
            "<th>finished</th></tr>"]
    for stem, title, target in pages:
        info = log.get(stem, {})
        params = ", ".join(f"{k}={v}" for k, v in info.get("parameters", {}).items()) or "defaults"
        body.append(
            f"<tr><td><a href='{html.escape(target.relative_to(report_dir).as_posix())}'>"
            f"{html.escape(title)}</a></td><td>{html.escape(params)}</td>"
            f"<td>{info.get('seconds', '')}</td><td>{html.escape(info.get('finished', ''))}</td></tr>"
        )
    body.append("</table>")

    regression = regtables.all_tables(store)
    if regression:
        written = {p.name for p in regtables.write_all(store, report_dir / "regtables")}
        body.append("<h2 id='regressions'>Regression tables</h2><p>The estimated models as a paper shows them "
                    "(coefficients, standard errors in parentheses, stars as each note states), each also in LaTeX "
                    "(booktabs) for a manuscript and its numbers as CSV and XLSX.</p>")
        for name, reg in regression.items():
            paths = formatting.write_downloads(reg.to_long(), report_dir / "tables", f"regtable_{name}",
                                               caption=reg.title, source=reg.source)
            links = [f"<a href='regtables/{name}.tex'>LaTeX</a>"] if f"{name}.tex" in written else []
            links += [f"<a href='tables/{p.name}'>{k.upper()}</a>" for k, p in paths.items()]
            body.append(reg.to_html(table_id=f"regtable-{name}")
                        + f"<p class='table-downloads'>Download: {' · '.join(links)}</p>")
    body.append("<h2 id='figures'>Figures</h2>")
    body += [_figure(report_dir, fig) for fig in figures]

    body.append("<h2 id='provenance'>Data provenance</h2><p>Every raw file, verified against its sha256 "
                "before use (registry: <code>korus_research.registry</code>).</p>")
    body.append(table(provenance_frame(), "provenance", "Raw files, their sources and checksums",
                      "korus_research.registry and data/raw/MANIFEST.json"))
    body.append("<h2>Environment</h2>")
    body.append(table(environment_frame(), "environment", "Python and package versions of this build"))
    nav = _nav(report_dir, top, own_pages=not in_studies, sections="".join(body))
    if not in_studies:
        # the other pages link to the index's sections that exist
        _dictionary_page(report_dir, nav)
        _references_page(report_dir, nav)
    return _write(report_dir / "index.html",
                  _page(f"korus-research: {study.partner} ({study.study_id})", body, nav))


def build_comparison(report_dir: Path | None = None) -> Path:
    """``reports/studies.html``: every study in the results store compared (each read from its
    own store): the agreement effects as a forest plot, the attributions side by side, and the
    headline across the sensitivity grid (:func:`korus_research.comparison.build_studies_page`)."""
    from .comparison import build_studies_page

    return build_studies_page(report_dir)

