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

from . import config, registry
from .fetch import read_manifest

PACKAGES = ["pandas", "numpy", "scipy", "statsmodels", "pyfixest", "pandera", "pyreadr",
            "country_converter", "matplotlib", "seaborn", "papermill", "nbconvert", "nbval", "pyarrow"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #446;padding-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef}
figure{display:inline-block;margin:.5em;max-width:520px}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.8em;color:#555}
code{background:#f4f4f4;padding:0 .2em}
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


def _study_summary(report_dir: Path, study, store, figure_key: str) -> list[str]:
    """The study's parameters, findings, attribution, literature comparison and the
    sections its data could not support (from its own results store only)."""
    from .errors import ResultsError

    partner = html.escape(study.partner)
    study_table = [f"<h2>Study {html.escape(study.study_id)}: {partner}, {html.escape(study.agreement)}, "
                   f"{study.base_year} to {study.compare_year}</h2>", _table(study.summary().reset_index())]
    try:
        findings = store.load("synthesis_findings")["finding"]
        attribution = store.load("synthesis_attribution")
    except ResultsError as err:
        return study_table + [f"<p>No synthesis for this study yet ({html.escape(str(err))}).</p>"]
    # the report opens with the attribution built on the structural account (notebook 06)
    out = [f"<h2>What changed the US goods balance with {partner}, {study.base_year} to {study.compare_year}: "
           "the attribution on the structural account (US$ bn)</h2>",
           "<p>Aggregate imbalances and incomes are counterfactuals of a general-equilibrium gravity model with "
           "trade imbalances (notebook 07); the agreement is the headline design's estimate, its GE counterpart "
           "shown beside it and not added; the counted rows and what is left add up to the total change.</p>"]
    chart = report_dir / "figures" / "06_joint_study" / figure_key / "attribution.png"
    if chart.exists():
        rel = chart.relative_to(report_dir).as_posix()
        out.append(f"<figure><img src='{html.escape(rel)}' alt='attribution of the change in the balance'></figure>")
    out.append(_table(attribution.round(2)))
    if store.has("synthesis_bridge"):
        bridge = store.load("synthesis_bridge")
        if len(bridge):
            out.append("<h3>From the model's change to the study's Census goods change</h3>")
            out.append(_table(bridge.round(2)))
    out += study_table
    out.append(f"<h2>Findings: {partner}</h2><ul>")
    out += [f"<li>{html.escape(f)}</li>" for f in findings]
    out.append("</ul>")
    if store.has("synthesis_accounting"):
        out.append("<h3>Cross-check: the additive accounting (trade equations, notebook 05)</h3>")
        out.append(_table(store.load("synthesis_accounting").round(2)))
    if store.has("synthesis_headline"):
        chosen = store.load("synthesis_headline").iloc[0]
        out.append(f"<h3>The agreement's effect: the headline rule</h3><p>Rule: {html.escape(str(chosen['rule']))}.</p>"
                   f"<p>{html.escape(str(chosen['reason']))}.</p>")
    if store.has("synthesis_robustness"):
        curve = store.load("synthesis_robustness")
        out.append(f"<h3>Robustness: every estimate of the agreement's effect ({partner}, US$ bn, "
                   f"{study.compare_year} balance)</h3>")
        spec = report_dir / "figures" / "06_joint_study" / figure_key / "agreement_estimates.png"
        if spec.exists():
            rel = spec.relative_to(report_dir).as_posix()
            out.append(f"<figure><img src='{html.escape(rel)}' alt='specification curve of the agreement estimates'></figure>")
        cols = ["estimate", "ci_low", "ci_high", "interval", "design", "estimator", "diagnostics", "check",
                "diagnostics_detail", "headline"]
        out.append(_table(curve[[c for c in cols if c in curve]].round(2)))
    if store.has("synthesis_literature"):
        lit = store.load("synthesis_literature")
        if len(lit):
            out.append(f"<h3>Our estimates beside the published ones: {partner}</h3>")
            cols = ["published", "period", "unit", "published value", "ours", "ours low", "ours high",
                    "difference in definitions", "source"]
            out.append(_table(lit[[c for c in cols if c in lit]].round(2)))
    skipped = store.skipped()
    out.append("<h3>Sections skipped for lack of data</h3>")
    out.append(_table(skipped) if len(skipped) else "<p>None: every section ran for this partner.</p>")
    out.append("<h3>How each notebook ran for this study</h3>")
    out.append(_table(store.runs()))
    return out


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0, na_rep="")


def build_report(report_dir: Path | None = None, study=None) -> Path:
    """Build ``index.html`` (and the notebook pages) in ``report_dir`` for one study and
    return its path. Default: the headline study, read from the default results folder."""
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

    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>korus-research: {html.escape(study.partner)} ({html.escape(study.study_id)})</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>korus-research: the US goods balance with {html.escape(study.capabilities.name)}</h1>",
             *_study_summary(report_dir, study, store, figure_key),
             f"<p>Built {html.escape(time.strftime('%Y-%m-%d %H:%M %Z'))} from official data "
             "(see the provenance table). Each notebook below was executed by papermill; its "
             "parameters and run time are listed with it.</p>",
             "<h2>Notebooks</h2><table><tr><th>notebook</th><th>parameters</th><th>run time (s)</th>"
             "<th>finished</th></tr>"]
    for stem, title, target in pages:
        info = log.get(stem, {})
        params = ", ".join(f"{k}={v}" for k, v in info.get("parameters", {}).items()) or "defaults"
        parts.append(
            f"<tr><td><a href='{html.escape(target.relative_to(report_dir).as_posix())}'>"
            f"{html.escape(title)}</a></td><td>{html.escape(params)}</td>"
            f"<td>{info.get('seconds', '')}</td><td>{html.escape(info.get('finished', ''))}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Figures</h2>")
    for fig in figures:
        rel = fig.relative_to(report_dir).as_posix()
        parts.append(f"<figure><a href='{html.escape(rel)}'><img src='{html.escape(rel)}' "
                     f"alt='{html.escape(rel)}'></a><figcaption>{html.escape(rel)}</figcaption></figure>")

    parts.append("<h2>Data provenance</h2><p>Every raw file, verified against its sha256 "
                 "before use (registry: <code>korus_research.registry</code>).</p>")
    parts.append(_table(provenance_frame()))
    parts.append("<h2>Environment</h2>")
    parts.append(_table(environment_frame()))
    parts.append("</body></html>")
    index = report_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, index)
    return index


def build_comparison(report_dir: Path | None = None) -> Path:
    """``reports/studies.html``: the attribution of every study in the results store side by
    side (each read from its own store), with links to each study's report."""
    from . import results
    from .errors import KorusError

    report_dir = Path(report_dir or config.reports_dir())
    columns, links, skipped = {}, [], []
    for folder in results.study_folders():
        try:
            study = results.load_study(folder)
            store = results.read_store(study, folder)
            attribution = store.load("synthesis_attribution")
            if "counted" in attribution:  # a part shown beside another (the agreement's GE counterpart) is left out
                attribution = attribution[attribution["counted"] | attribution["component"].str.startswith("total")]
            table = attribution.set_index("component")["usd_bn"]
        except (KorusError, ValueError, KeyError) as err:  # a stale or broken folder is listed, not fatal
            skipped.append(f"<li>{html.escape(folder.name)}: not shown ({html.escape(str(err))})</li>")
            continue
        default = folder.name == results.DEFAULT_FOLDER
        label = f"{study.partner} {study.base_year}-{study.compare_year}" + (" (default)" if default else f" [{study.study_id}]")
        columns[label] = table
        page = Path("index.html") if default else Path("studies") / study.study_id / "index.html"
        if (report_dir / page).exists():
            links.append(f"<li><a href='{html.escape(page.as_posix())}'>{html.escape(label)}</a>: "
                         f"{html.escape(str(study))}</li>")
        n = len(store.skipped())
        if n:
            skipped.append(f"<li>{html.escape(label)}: {n} sections skipped (listed in its report)</li>")
    # one row per study, one column per part of the attribution (total first)
    wide = pd.DataFrame(columns).T.round(2)
    if len(wide):
        order = [c for c in wide.columns if c.startswith("total")] + [c for c in wide.columns if not c.startswith("total")]
        wide = wide[order]
        wide.columns.name = None
    page = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>korus-research: studies compared</title>"
            f"<style>{_CSS}</style></head><body><h1>The change in the US goods balance, study by study (US$ bn)</h1>",
            "<p>Each row comes from that study's own results store (notebook 06), between its own base and "
            "compare years; each study's report:</p><ul>", *links, "</ul>",
            wide.reset_index(names="study").to_html(index=False, border=0, na_rep="") if len(wide) else
            "<p>No study has a synthesis yet.</p>",
            "<h2>Sections skipped</h2><ul>", *skipped, "</ul></body></html>"]
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir / "studies.html"
    out.write_text("\n".join(page), encoding="utf-8")
    return out
