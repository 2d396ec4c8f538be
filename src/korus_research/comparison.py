"""The comparison across studies (``reports/studies.html``), read from the results store only.

Every study folder of the store (:func:`korus_research.results.study_folders`) that has run its
joint study (notebook 06) contributes:

- its **headline effect of the agreement** on the US goods balance in its compare year: the
  estimate and 95% interval that :func:`korus_research.synthesis.headline` chooses from the
  study's ``synthesis_estimates`` (its stored ``synthesis_headline`` when the estimates are not
  there). One row per partner makes the forest plot: the partner's study with every parameter
  derived (what ``make study`` runs), else each of its studies;
- its **attribution** of the change in the balance (``synthesis_attribution``): the counted rows
  (its ``counted`` column) and the total, one row per study;
- for Korea (or ``partner``), its headline across every stored variant of the study (the
  sensitivity grid of :mod:`korus_research.runner`) as a **specification curve** (Simonsohn,
  Simmons and Nelson 2020): the estimates sorted, with below them which base year, compare
  year, entry date and control group each one used.

A study whose folder cannot be read (no synthesis yet, results of older rules) is listed with
the reason, never fatal. Two folders of one study (``default/`` and its id) count once: the
one whose notebook 06 finished last.

References
----------
Simonsohn, U., Simmons, J. P. and Nelson, L. D. (2020). Specification curve analysis.
    Nature Human Behaviour 4, 1208-1214.
"""

from __future__ import annotations

import contextlib
import html
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, formatting
from .errors import KorusError

SOURCE = ("korus-research results store: each study's joint study (notebook 06), from its notebooks 01-05 and 07; "
          "headline by the rule of korus_research.synthesis.headline")
FIGURE_GROUP = "studies"
AMOUNTS = {"estimate": "US$ bn", "ci_low": "US$ bn", "ci_high": "US$ bn"}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.3em}
nav.site{display:flex;flex-wrap:wrap;gap:.4em 1.2em;font-size:.9em;border-bottom:1px solid #ccd;padding:.4em 0;margin-bottom:1em}
nav.site a{color:#224;text-decoration:none}nav.site a:hover{text-decoration:underline}
figure{display:block;margin:1em 0;max-width:900px}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#444}
@media print{nav.site,.table-downloads,.figure-links{display:none}body{max-width:none;margin:0;font-size:10pt}
figure{break-inside:avoid;page-break-inside:avoid}}
"""


@dataclass
class StoredStudy:
    """One study folder of the store as the comparison reads it."""

    folder: Path
    study: object                 # korus_research.study.Study
    headline: dict                # synthesis.headline(...) of the study
    attribution: pd.DataFrame | None
    skipped: int
    finished: str                 # when its notebook 06 finished
    derived: bool                 # every parameter derived from the partner (the `make study` study)

    @property
    def default(self) -> bool:
        from .results import DEFAULT_FOLDER

        return self.folder.name == DEFAULT_FOLDER

    @property
    def page(self) -> str:
        """The study's report, relative to the site's top folder."""
        return "index.html" if self.default else f"studies/{self.study.study_id}/index.html"

    def years(self) -> str:
        return study_label(self.study)


def study_label(study, arrow: str = "-") -> str:
    """A study's parameters in words: ``2011-2016``, plus the entry date and the control group
    when they are not derived (the runner's summary uses ``arrow="->"``)."""
    text = f"{study.base_year}{arrow}{study.compare_year}"
    if study.entry_source.startswith("override"):
        text += f", entry {study.entry.date().isoformat()}" + (" (hypothetical)" if study.hypothetical else "")
    if study.controls != "default":
        text += f", controls {study.controls}"
    return text


def _derived_id(partner: str, cache: dict) -> str | None:
    if partner not in cache:
        from .study import Study

        try:
            cache[partner] = Study.build(partner).study_id
        except KorusError:
            cache[partner] = None
    return cache[partner]


def collect(folders: list[Path] | None = None) -> tuple[list[StoredStudy], list[tuple[str, str]]]:
    """The studies of the store with a joint study, and ``(folder, reason)`` of those left out."""
    from . import results, synthesis

    chosen: dict[str, StoredStudy] = {}
    left_out: list[tuple[str, str]] = []
    derived: dict = {}
    for folder in (results.study_folders() if folders is None else folders):
        try:
            study = results.load_study(folder)
            store = results.read_store(study, folder)
            record = store.record("06")
            if store.has("synthesis_estimates"):
                headline = synthesis.headline(store.load("synthesis_estimates"))
            else:
                headline = store.load("synthesis_headline").iloc[0].to_dict()
            attribution = store.load("synthesis_attribution") if store.has("synthesis_attribution") else None
            skipped = len(store.skipped())
        except (KorusError, ValueError, KeyError, OSError) as err:  # a stale or broken folder: listed, not fatal
            left_out.append((folder.name, " ".join(str(err).split())[:300]))
            continue
        entry = StoredStudy(folder, study, headline, attribution, skipped, str(record.get("finished") or ""),
                            study.study_id == _derived_id(study.partner, derived))
        old = chosen.get(study.study_id)
        if old is None or (entry.finished, entry.default) > (old.finished, old.default):
            chosen[study.study_id] = entry
    return list(chosen.values()), left_out


def headline_table(studies: list[StoredStudy]) -> pd.DataFrame:
    """One row per study: partner, agreement, years, the headline design and its estimate and
    95% interval (US$ bn, effect on the compare-year balance), or why there is none."""
    rows = []
    for s in studies:
        h, st = s.headline, s.study
        has = h.get("design") is not None and pd.notna(h.get("estimate"))
        rows.append({"study": st.study_id, "partner": st.partner, "agreement": st.agreement,
                     "entry": st.entry.date().isoformat() if st.entry is not None else "",
                     "base_year": st.base_year, "compare_year": st.compare_year, "controls": st.controls,
                     "parameters": s.years(), "derived": s.derived,
                     "design": h.get("design") or "none", "estimate": h.get("estimate") if has else np.nan,
                     "ci_low": h.get("ci_low") if has else np.nan, "ci_high": h.get("ci_high") if has else np.nan,
                     "note": "" if has else " ".join(str(h.get("reason", "no headline")).split())[:160],
                     "sections skipped": s.skipped})
    frame = pd.DataFrame(rows, columns=["study", "partner", "agreement", "entry", "base_year", "compare_year",
                                        "controls", "parameters", "derived", "design", "estimate", "ci_low",
                                        "ci_high", "note", "sections skipped"])
    frame[["estimate", "ci_low", "ci_high"]] = frame[["estimate", "ci_low", "ci_high"]].astype(float)
    order = frame.assign(_entry=frame["entry"].replace("", "9999"))
    return frame.loc[order.sort_values(["_entry", "partner", "base_year", "compare_year", "study"]).index] \
        .reset_index(drop=True)


def forest_table(headlines: pd.DataFrame) -> pd.DataFrame:
    """The forest plot's rows: each partner's derived study, else every study of the partner."""
    keep = headlines["derived"] | ~headlines["partner"].isin(headlines.loc[headlines["derived"], "partner"])
    rows = headlines[keep].copy()
    rows["cohort_label"] = rows["parameters"]
    return rows[["partner", "agreement", "cohort_label", "estimate", "ci_low", "ci_high", "note", "study"]] \
        .reset_index(drop=True)


def clip_intervals(forest: pd.DataFrame, factor: float = 3.0, floor: float = 5.0) -> tuple[pd.DataFrame, str]:
    """Intervals cut at +-``factor`` times the largest estimate (at least ``floor``) for drawing, so
    that one very wide interval does not squeeze every other; and the note that says which were
    cut, with their full bounds (the figure's data and the table keep them whole)."""
    finite = forest["estimate"].abs().dropna()
    limit = max(floor, factor * float(finite.max())) if len(finite) else floor
    limit = float(np.ceil(limit))
    drawn = forest.copy()
    drawn["ci_low"] = drawn["ci_low"].clip(lower=-limit)
    drawn["ci_high"] = drawn["ci_high"].clip(upper=limit)
    wide = forest[(forest["ci_low"] < -limit) | (forest["ci_high"] > limit)]
    if not len(wide):
        return drawn, ""
    listed = "; ".join(f"{r.partner} [{r.ci_low:.1f}, {r.ci_high:.1f}]" for r in wide.itertuples())
    return drawn, f"Intervals are drawn cut at +-{limit:.0f} bn; in full: {listed}."


def attribution_table(studies: list[StoredStudy]) -> pd.DataFrame:
    """Each study's attribution side by side: one row per study, one column per counted part
    and the total (US$ bn); a part a study's attribution does not have is empty."""
    columns: dict[str, pd.Series] = {}
    for s in sorted(studies, key=lambda s: (s.study.entry is None, s.study.entry or pd.Timestamp(0),
                                            s.study.partner, s.study.study_id)):
        table = s.attribution
        if table is None or not len(table):
            continue
        shown = table["component"].str.startswith("total")
        if "counted" in table:
            shown |= table["counted"].astype(bool)
        else:
            shown[:] = True
        label = f"{s.study.partner} {s.years()}" + (" (default)" if s.default else "")
        columns[label] = table[shown].set_index("component")["usd_bn"].astype(float)
    if not columns:
        return pd.DataFrame()
    wide = pd.DataFrame(columns).T
    order = [c for c in wide.columns if c.startswith("total")] + [c for c in wide.columns if not c.startswith("total")]
    wide = wide[order]
    wide.index.name = "study"
    wide.columns.name = None
    return wide


def sensitivity_table(headlines: pd.DataFrame, partner: str) -> pd.DataFrame:
    """``partner``'s studies with a headline, sorted by the estimate (the specification curve)."""
    rows = headlines[(headlines["partner"] == partner) & headlines["estimate"].notna()]
    return rows.sort_values(["estimate", "study"], kind="stable").reset_index(drop=True)


def horizon_table(headlines: pd.DataFrame) -> pd.DataFrame:
    """Every partner's headline by the compare year's distance from entry into force (years),
    for the partners with more than one study at the derived base year and controls (the
    compare-year grid, ``GRID=default``), in order of entry; empty when no partner has two."""
    rows = headlines[headlines["entry"].ne("")].copy()
    if not len(rows):
        return rows.assign(horizon=pd.Series(dtype=int))
    rows["horizon"] = rows["compare_year"].astype(int) - pd.to_datetime(rows["entry"]).dt.year
    # a partner's studies at its derived study's base year and control group
    derived_base = rows.merge(rows[rows["derived"]][["partner", "base_year", "controls"]],
                              on=["partner", "base_year", "controls"], how="left", indicator=True)["_merge"]
    rows = rows[(derived_base == "both").to_numpy()]
    many = rows.groupby("partner")["study"].transform("size") > 1
    rows = rows[many]
    return rows[["partner", "agreement", "entry", "horizon", "parameters", "design", "estimate", "ci_low", "ci_high",
                 "note", "derived", "study"]].reset_index(drop=True)


def horizon_findings(table: pd.DataFrame) -> list[str]:
    """Sentences on :func:`horizon_table`, written from its numbers: how many partners' headline
    keeps its sign across the compare years, which intervals exclude zero at every one, and
    the partners without a headline."""
    out = []
    full, none = [], []
    for partner, part in table.groupby("partner", sort=False):
        if part["estimate"].isna().all():
            none.append(partner)
        elif part["estimate"].notna().all():
            full.append((partner, part.sort_values("horizon")))
    if full:
        same = [p for p, part in full if (np.sign(part["estimate"]) == np.sign(part["estimate"].iloc[0])).all()]
        other = [p for p, _ in full if p not in same]
        n = len(full)
        if n == 1:
            sentence = (f"The one partner with a headline estimate at every compare year, {full[0][0]}, "
                        f"{'keeps' if same else 'does not keep'} its sign at every one")
        else:
            sentence = (f"Of the {n} partners with a headline estimate at every compare year, {len(same)} "
                        f"{'keeps' if len(same) == 1 else 'keep'} its sign at every one")
            if same and other:  # name the smaller group
                sentence += (f" ({', '.join(same)})" if len(same) <= len(other) else
                             f"; {', '.join(other)} {'does' if len(other) == 1 else 'do'} not")
        out.append(sentence + ".")
        firm = [p for p, part in full if ((part["ci_low"] > 0) | (part["ci_high"] < 0)).all()]
        if firm:
            parts = []
            for p, part in full:
                if p in firm:
                    values = ", ".join(f"{e:+.1f}" for e in part["estimate"])
                    years = ", ".join(f"+{h}" for h in part["horizon"])
                    parts.append(f"{p} ({values} US$ bn at {years} years)")
            out.append(f"The 95% interval excludes zero at every compare year for {len(firm)}: {'; '.join(parts)}.")
        else:
            out.append("No partner's 95% interval excludes zero at every compare year.")
    for partner in none:
        why = table.loc[(table["partner"] == partner) & table["derived"], "note"]
        why = str(why.iloc[0]).rstrip(".") if len(why) and str(why.iloc[0]) else "see its report"
        out.append(f"No study of {partner} has a headline estimate ({why}).")
    return out


def horizon_figure(table: pd.DataFrame):
    """One small panel per partner: the headline (95% interval) against the years from entry
    into force to the compare year; the derived study (entry + 4) in red."""
    import matplotlib.pyplot as plt

    from . import plots

    partners = list(dict.fromkeys(table["partner"]))
    cols = min(5, len(partners))
    rows_n = int(np.ceil(len(partners) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(2.3 * cols + 1.2, 2.0 * rows_n + 1.4), layout="constrained",
                             sharex=True, squeeze=False)
    for ax in axes.flat[len(partners):]:
        ax.set_visible(False)
    for ax, partner in zip(axes.flat, partners, strict=False):
        part = table[table["partner"] == partner].sort_values("horizon")
        low, high = part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float)
        est = part["estimate"].to_numpy(dtype=float)
        x = part["horizon"].to_numpy(dtype=float)
        ok = ~np.isnan(est)
        ax.vlines(x[ok], low[ok], high[ok], color="#8899bb", linewidth=2)
        derived = part["derived"].to_numpy(dtype=bool)
        ax.plot(x[ok & ~derived], est[ok & ~derived], "o", color="navy", markersize=5)
        ax.plot(x[ok & derived], est[ok & derived], "s", color="firebrick", markersize=5)
        if not ok.any():
            ax.text(0.5, 0.5, "no headline estimate\nin any study", transform=ax.transAxes, ha="center",
                    va="center", fontsize=plots.MIN_FONT_SIZE, color="#666")
            ax.set_yticks([])
        for xi in x[~ok]:
            ax.annotate("none", xy=(xi, 0), xycoords=("data", "axes fraction"), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=plots.MIN_FONT_SIZE, color="#666")
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_title(partner, fontsize=plots.MIN_FONT_SIZE + 1)
        ax.tick_params(labelsize=plots.MIN_FONT_SIZE)
        ax.set_xticks(sorted(table["horizon"].unique()))
    fig.supxlabel("years from entry into force to the compare year", fontsize=plots.MIN_FONT_SIZE + 1)
    fig.supylabel("effect on the US goods balance, US$ bn", fontsize=plots.MIN_FONT_SIZE + 1)
    fig.suptitle(plots.wrap("The agreement's headline effect by the compare year, every partner (red: the study "
                            "with every parameter derived; bars: 95% intervals)", 90))
    return fig


def specification_figure(curve: pd.DataFrame, partner: str):
    """The specification curve of ``partner``'s headline across its studies: the estimates
    sorted, 95% intervals, the derived study marked; below, the choices each study made."""
    import matplotlib.pyplot as plt

    from . import plots

    choices: list[tuple[str, str, pd.Series]] = []
    for column, name in (("base_year", "base year"), ("compare_year", "compare year"), ("entry", "entry date"),
                         ("controls", "control group")):
        for value in sorted(curve[column].astype(str).unique()):
            choices.append((name, f"{name} {value or 'none'}", curve[column].astype(str) == value))
    n = len(curve)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(7.5, 0.45 * n + 4), 4.2 + 0.3 * len(choices)),
                                      layout="constrained", sharex=True,
                                      gridspec_kw={"height_ratios": [3, max(1.0, 0.25 * len(choices))]})
    x = np.arange(n)
    low = (curve["estimate"] - curve["ci_low"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
    high = (curve["ci_high"] - curve["estimate"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
    derived = curve["derived"].to_numpy(dtype=bool)
    for mask, colour, label, marker in ((~derived, "navy", "a variant of the study", "o"),
                                        (derived, "firebrick", "parameters derived (the study's report)", "s")):
        if mask.any():
            top.errorbar(x[mask], curve["estimate"].to_numpy(dtype=float)[mask], yerr=[low[mask], high[mask]],
                         fmt=marker, color=colour, capsize=3, label=label)
    for xi, e in zip(x, curve["estimate"], strict=True):
        top.annotate(f"{e:.1f}", xy=(xi, e), xytext=(6, 0), textcoords="offset points", va="center",
                     fontsize=plots.MIN_FONT_SIZE)
    top.axhline(0, color="black", linewidth=0.8)
    top.set_ylabel(plots.wrap("effect on the US goods balance in the compare year, US$ bn (95% interval)", 34))
    top.set_title(plots.wrap(f"{partner}: the agreement's headline effect across the sensitivity grid "
                             f"({n} {'study' if n == 1 else 'studies'}, sorted)", 70))
    plots.legend_right(top, width=26)
    for row, (_, _label, used) in enumerate(choices):
        bottom.plot(x[used.to_numpy()], [row] * int(used.sum()), "s", color="#444", markersize=6)
    bottom.set_yticks(range(len(choices)), [c[1] for c in choices], fontsize=plots.MIN_FONT_SIZE + 1)
    bottom.set_ylim(len(choices) - 0.5, -0.5)
    bottom.set_xticks(x, [str(i + 1) for i in x], fontsize=plots.MIN_FONT_SIZE)
    bottom.set_xlabel("study, sorted by its headline estimate")
    bottom.set_xlim(-0.6, n - 0.4)
    plots.add_footer(fig, "Each study's headline is the estimate of its best-ranked design that passes its own "
                          "diagnostics with a 95% interval (korus_research.synthesis.headline); designs can differ "
                          "between studies.", "note")
    return fig


@contextlib.contextmanager
def _reports_at(report_dir: Path):
    """Figures are saved under ``<report_dir>/figures`` (plots.save_figure follows KORUS_REPORTS)."""
    old = os.environ.get("KORUS_REPORTS")
    os.environ["KORUS_REPORTS"] = str(report_dir)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("KORUS_REPORTS", None)
        else:
            os.environ["KORUS_REPORTS"] = old


def _figure_html(report_dir: Path, png: Path) -> str:
    rel = png.relative_to(report_dir).as_posix()
    alt_file = png.with_name(png.stem + ".alt.txt")
    alt = alt_file.read_text(encoding="utf-8").strip() if alt_file.exists() else png.stem.replace("_", " ")
    caption = alt.split(". ")[0].rstrip(".") + "."
    links = [f"<a href='{html.escape(rel)}'>PNG</a>"]
    data = png.with_suffix(".csv")
    if data.exists():
        links.append(f"<a href='{html.escape(data.relative_to(report_dir).as_posix())}'>data (CSV)</a>")
    return (f"<figure><img src='{html.escape(rel)}' alt='{html.escape(alt)}'><figcaption>{html.escape(caption)} "
            f"<span class='figure-links'>{' · '.join(links)}</span></figcaption></figure>")


def _table(report_dir: Path, frame: pd.DataFrame, stem: str, caption: str, **options) -> str:
    paths = formatting.write_downloads(frame, report_dir / "tables", stem, units=options.get("units"),
                                       caption=caption, source=SOURCE)
    links = {kind.upper(): Path(os.path.relpath(path, report_dir)).as_posix() for kind, path in paths.items()}
    return formatting.to_html(frame, caption=caption, source=SOURCE, downloads=links, **options)


def _nav(report_dir: Path, body: str) -> str:
    """The site's pages that exist, and the sections this page has (``body``: the page's HTML)."""
    links = [(href, text) for href, text in (("index.html", "The headline study"), ("dictionary.html", "Data dictionary"),
                                             ("references.html", "References and citation"))
             if (report_dir / href).exists()]
    links += [(f"#{anchor}", text) for anchor, text in (
        ("effects", "Agreement effects"), ("attribution", "Attribution"), ("horizons", "By compare year"),
        ("sensitivity", "Sensitivity"), ("studies", "Every study")) if f"id='{anchor}'" in body]
    return "<nav class='site'>" + "".join(f"<a href='{html.escape(h)}'>{html.escape(t)}</a>" for h, t in links) \
        + "</nav>"


def build_studies_page(report_dir: Path | None = None, partner: str | None = None,
                       folders: list[Path] | None = None) -> Path:
    """Write ``<report_dir>/studies.html`` (default ``reports/``) from the results store: the
    forest plot of every partner's agreement effect, the attributions side by side, and
    ``partner``'s (default Korea's) headline across the sensitivity grid; figures go to
    ``<report_dir>/figures/studies/``, tables (CSV, XLSX) to ``<report_dir>/tables/``."""
    from . import dictionary, plots
    from .study import DEFAULT_PARTNER

    report_dir = Path(report_dir or config.reports_dir())
    report_dir.mkdir(parents=True, exist_ok=True)
    partner = (partner or DEFAULT_PARTNER).upper()
    studies, left_out = collect(folders)
    headlines = headline_table(studies)
    body = ["<h1>US agreements compared: the effect on the US goods balance, partner by partner</h1>",
            f"<p>{len(studies)} studies with a joint study in the results store, from "
            f"{headlines['partner'].nunique() if len(headlines) else 0} partners. Each number comes from that "
            "study's own results store (notebook 06), between its own base and compare years; the run that "
            "made them: <code>korus-research studies</code> (<code>make studies</code>).</p>"]
    with _reports_at(report_dir):
        body.append("<h2 id='effects'>The agreement's effect on the US goods balance, every partner</h2>")
        forest = forest_table(headlines)
        if len(forest):
            drawn, cut = clip_intervals(forest)
            fig = plots.forest_plot(drawn, highlight=partner, title="The agreement's effect on the US goods "
                                    "balance with each partner in its compare year (headline design of each study)",
                                    xlabel="effect on the US goods balance, US$ bn (95% interval)")
            if cut:
                plots.add_footer(fig, cut, "note")
            png = plots.save_figure(fig, "agreement_effects", FIGURE_GROUP, sources=[dictionary.ESTIMATES_TABLE],
                                    data=forest)
            body.append(_figure_html(report_dir, png))
            shown = forest.drop(columns=["study"]).rename(columns={"cohort_label": "years"})
            body.append(_table(report_dir, shown, "studies_effects", "The headline effect of each agreement on the "
                               "US goods balance in the compare year (US$ bn, 95% interval)", units=AMOUNTS))
        else:
            body.append("<p>No study has a joint study yet: run <code>make studies</code>.</p>")

        body.append("<h2 id='attribution'>What changed the balance: each partner's attribution side by side</h2>"
                    "<p>The counted parts of each study's attribution (notebook 06, on the structural account) and "
                    "the total change; with what is left they add up to the total. A part a study does not have "
                    "(the macro parts come from the GE model where the partner is in WIOD, else from the trade "
                    "equations) is empty.</p>")
        wide = attribution_table(studies)
        body.append(_table(report_dir, wide, "studies_attribution", "Attribution of the change in the US goods "
                           "balance, study by study (US$ bn)", units="US$ bn", note=formatting.ROUNDING_NOTE)
                    if len(wide) else "<p>No attribution yet.</p>")

        horizons = horizon_table(headlines)
        if len(horizons):
            body.append("<h2 id='horizons'>Every partner: the headline by the compare year</h2>"
                        f"<p>{horizons['partner'].nunique()} partners with more than one compare year at the derived "
                        "base year and control group. Each point is a study of its own (its own synthetic control, "
                        "event study and headline rule), so the designs chosen can differ between years.</p>")
            labelled = horizons.assign(partner=horizons["partner"] + " +" + horizons["horizon"].astype(str) + " y")
            drawn, cut = clip_intervals(labelled)
            fig = horizon_figure(drawn.assign(partner=horizons["partner"]))
            if cut:
                plots.add_footer(fig, cut, "note")
            findings = horizon_findings(horizons)
            png = plots.save_figure(fig, "agreement_effects_by_horizon", FIGURE_GROUP,
                                    sources=[dictionary.ESTIMATES_TABLE], data=horizons,
                                    alt="The agreement's headline effect on the US goods balance by the years from "
                                        "entry to the compare year, one panel per partner. " + " ".join(findings))
            body.append("<p>" + html.escape(" ".join(findings)) + "</p>")
            body.append(_figure_html(report_dir, png))
            body.append(_table(report_dir, horizons.drop(columns=["study", "derived"]), "studies_horizons",
                               "The headline effect of each agreement by the years from entry to the compare year "
                               "(US$ bn, 95% interval)", units=AMOUNTS))

        body.append(f"<h2 id='sensitivity'>{html.escape(partner)}: the headline across the sensitivity grid</h2>")
        curve = sensitivity_table(headlines, partner)
        if len(curve):
            fig = specification_figure(curve, partner)
            png = plots.save_figure(fig, f"sensitivity_{partner}", FIGURE_GROUP,
                                    sources=[dictionary.ESTIMATES_TABLE],
                                    data=curve[["study", "parameters", "design", "estimate", "ci_low", "ci_high",
                                                "derived"]])
            body.append(_figure_html(report_dir, png))
            body.append(_table(report_dir, curve[["parameters", "design", "estimate", "ci_low", "ci_high",
                                                  "sections skipped", "study"]],
                               f"studies_sensitivity_{partner}", f"{partner}: the headline effect in each study of "
                               "the grid, sorted (US$ bn, 95% interval)", units=AMOUNTS))
        else:
            body.append(f"<p>No study of {html.escape(partner)} with a headline effect in the store.</p>")

    body.append("<h2 id='studies'>Every study</h2><ul>")
    for s in sorted(studies, key=lambda s: (s.study.partner, s.study.study_id)):
        label = html.escape(f"{s.study.partner} {s.years()} [{s.study.study_id}]" + (" (default)" if s.default else ""))
        link = f"<a href='{html.escape(s.page)}'>{label}</a>" if (report_dir / s.page).exists() else label
        body.append(f"<li>{link}: {html.escape(s.study.agreement)}; {s.skipped} sections skipped "
                    "(listed in its report)</li>")
    body.append("</ul>")
    if left_out:
        body.append("<h3>Study folders not shown</h3><ul>")
        body += [f"<li>{html.escape(name)}: {html.escape(reason)}</li>" for name, reason in left_out]
        body.append("</ul>")
    body.append(f"<p>Built {html.escape(time.strftime('%Y-%m-%d %H:%M %Z'))}.</p>")
    content = "\n".join(body)
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>korus-research: studies compared</title>"
            f"<style>{_CSS}{formatting.CSS}</style></head><body>{_nav(report_dir, content)}" + content
            + "</body></html>")
    out = report_dir / "studies.html"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
