"""Regression tables (:mod:`korus_research.regtables`).

- an independent check: fixed-effects models fitted by pyfixest on a SYNTHETIC panel, rendered
  by pyfixest's own public ``pf.etable(..., type="tex")``, and the same table built with
  :class:`RegressionTable` from the fits' public ``tidy()``: the printed coefficients, stars,
  standard errors and observations agree digit for digit;
- LaTeX escaping and the structure of the LaTeX (every row has as many cells as columns, braces
  and math shifts balance); it is compiled when a ``pdflatex`` is installed;
- the significance thresholds, the missing-result handling (``None``), ``write_all`` on a
  store built under ``tmp_path`` from SYNTHETIC result tables;
- every builder on the default study's saved results (skipped when they are absent).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from korus_research import config, regtables, results
from korus_research.errors import ParameterError
from korus_research.regtables import (
    STARS,
    RegressionTable,
    from_tidy,
    latex_escape,
    significance_stars,
    two_sided_p,
    write_all,
)
from korus_research.study import Study

DECIMALS = 3


# --------------------------------------------------------------------------- helpers
def _tabular_rows(tex: str) -> list[str]:
    """The rows of the (first) tabular between \\toprule and \\bottomrule, rules left out."""
    body = tex.split(r"\toprule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith((r"\midrule", r"\cmidrule", r"\addlinespace")):
            continue
        rows.append(line)
    return rows


def _cells(row: str) -> list[str]:
    """The cells of one LaTeX row (``a & b \\\\``), splitting on unescaped ``&`` outside braces."""
    row = row.rstrip()
    assert row.endswith(r"\\"), row
    row = row[:-2]
    cells, depth, current, i = [], 0, "", 0
    while i < len(row):
        c = row[i]
        if c == "\\" and i + 1 < len(row):
            current += row[i:i + 2]
            i += 2
            continue
        depth += c == "{"
        depth -= c == "}"
        if c == "&" and depth == 0:
            cells.append(current.strip())
            current = ""
        else:
            current += c
        i += 1
    cells.append(current.strip())
    return cells


def _width(cells: list[str]) -> int:
    """Columns a row spans (``\\multicolumn{n}`` counts n)."""
    total = 0
    for cell in cells:
        match = re.match(r"\\multicolumn\{(\d+)\}", cell)
        total += int(match.group(1)) if match else 1
    return total


def _check_latex_structure(tex: str, n_models: int) -> None:
    """Every row has 1 + n_models cells; braces and unescaped $ balance; no bare special."""
    assert re.search(r"\\begin\{tabular\}\{l" + "c" * n_models + r"\}", tex)
    for row in _tabular_rows(tex):
        assert _width(_cells(row)) == n_models + 1, row
    unescaped = re.sub(r"\\[\\{}$&%#_]", "", tex)       # drop escaped specials
    assert unescaped.count("{") == unescaped.count("}")
    body = "\n".join(line for line in unescaped.splitlines() if not line.startswith("%"))
    assert body.count("$") % 2 == 0
    assert "%" not in body and "#" not in body
    assert "_" not in re.sub(r"\\label\{[^}]*\}", "", body)


def _plain(cell: str) -> str:
    """A LaTeX number cell back to plain text: ``$-$0.210$^{**}$`` -> ``-0.210**``."""
    return cell.replace("$-$", "-").replace("$<$", "<").replace("$^{", "").replace("}$", "").strip()


# --------------------------------------------------------------------------- pyfixest, independently
@pytest.fixture(scope="module")
def fits():
    """Two fixed-effects models on a SYNTHETIC panel (seeded): OLS with unit and year effects
    and a Poisson model with the same effects, both clustered by unit."""
    pf = pytest.importorskip("pyfixest")
    rng = np.random.default_rng(20120315)
    units, years = 60, 10
    panel = pd.DataFrame([(u, t) for u in range(units) for t in range(years)], columns=["unit", "year"])
    unit_effect, year_effect = rng.normal(size=units), rng.normal(scale=0.5, size=years)
    panel["x1"] = rng.normal(size=len(panel))
    panel["x2"] = rng.normal(size=len(panel))
    panel["treated_post"] = ((panel["unit"] < 15) & (panel["year"] >= 6)).astype(float)
    panel["y"] = (0.4 * panel["x1"] - 0.15 * panel["x2"] + 0.3 * panel["treated_post"]
                  + unit_effect[panel["unit"]] + year_effect[panel["year"]] + rng.normal(size=len(panel)))
    rate = np.exp(0.5 + 0.25 * panel["x1"] + 0.05 * panel["x2"] + 0.2 * panel["treated_post"]
                  + 0.3 * unit_effect[panel["unit"]])
    panel["count"] = rng.poisson(rate)
    ols = pf.feols("y ~ x1 + x2 + treated_post | unit + year", data=panel, vcov={"CRV1": "unit"})
    ppml = pf.fepois("count ~ x1 + x2 + treated_post | unit + year", data=panel, vcov={"CRV1": "unit"})
    return pf, {"(OLS)": ols, "(PPML)": ppml}


def _parse_etable(tex: str) -> tuple[dict[str, list[tuple[str, str, str]]], list[str]]:
    """``term -> [(coefficient, stars, se) per model]`` and the observations row of
    ``pf.etable(type="tex")`` (cells ``\\makecell{b*** \\\\ (se)}``)."""
    cell = re.compile(r"\\makecell\{\s*(-?[\d,]+\.\d+)(\**)\s*\\\\\s*\((-?[\d,]+\.\d+)\)\s*\}")
    coefficients, observations = {}, []
    for line in tex.splitlines():
        found = cell.findall(line)
        if found:
            coefficients[latex_escape_inverse(line.split("&", 1)[0].strip())] = [tuple(f) for f in found]
        elif line.strip().startswith("Observations"):
            observations = [c.strip() for c in line.rstrip().rstrip("\\").split("&")[1:]]
    return coefficients, observations


def _parse_ours(tex: str) -> tuple[dict[str, list[tuple[str, str, str]]], list[str]]:
    rows = _tabular_rows(tex)
    coefficients, observations = {}, []
    for i, row in enumerate(rows):
        cells = _cells(row)
        if cells[0] == "Observations":
            observations = [c.replace(",", "") for c in cells[1:]]
        elif cells[0] and i + 1 < len(rows) and _cells(rows[i + 1])[0] == "":
            errors = _cells(rows[i + 1])[1:]
            entries = []
            for coefficient, error in zip(cells[1:], errors, strict=True):
                text = _plain(coefficient)
                number, stars = re.fullmatch(r"(-?[\d,.]+)(\**)", text).groups()
                entries.append((number, stars, _plain(error)[1:-1]))
            coefficients[latex_escape_inverse(cells[0])] = entries
    return coefficients, observations


def latex_escape_inverse(text: str) -> str:
    return text.replace(r"\_", "_")


def test_etable_and_regression_table_print_the_same_numbers(fits):
    """pyfixest's own LaTeX table and ours, from the same fits, agree to the shown precision
    (coefficients, stars at 10/5/1 %, standard errors, observations)."""
    pf, models = fits
    thresholds = [t for t, _ in sorted(STARS)]
    theirs = pf.etable(list(models.values()), type="tex", signif_code=thresholds,
                       coef_fmt=f"b:.{DECIMALS}f* \n (se:.{DECIMALS}f)")
    table = from_tidy({name: fit.tidy() for name, fit in models.items()}, "SYNTHETIC panel",
                      footer={"Observations": {name: len(fit.resid()) for name, fit in models.items()}},
                      decimals=DECIMALS)
    ours = table.to_latex()
    _check_latex_structure(ours, len(models))

    their_cells, their_n = _parse_etable(theirs)
    our_cells, our_n = _parse_ours(ours)
    assert set(their_cells) == {"x1", "x2", "treated_post"}
    assert our_cells == their_cells
    assert our_n == their_n
    # the comparison means something: stars of every kind and none occur, and no printed value
    # sits on a rounding tie (where half-even and half-away-from-zero rounding could differ)
    stars = {s for cells in our_cells.values() for _, s, _ in cells}
    assert {"", "***"} <= stars and len(stars) >= 3
    long = table.to_long()
    for value in pd.concat([long["estimate"], long["se"]]):
        scaled = Decimal(repr(abs(float(value)))) * 10 ** DECIMALS
        assert abs(scaled - scaled.to_integral_value() - Decimal("0.5")) > Decimal("1e-6")


def test_from_tidy_keeps_the_estimators_p_values(fits):
    _, models = fits
    fit = models["(OLS)"]
    table = from_tidy({"(OLS)": fit.tidy()}, "SYNTHETIC")
    long = table.to_long().set_index("term")
    tidy = fit.tidy()
    assert np.allclose(long.loc[tidy.index, "p_value"], tidy["Pr(>|t|)"])
    assert long["p_reported"].all()
    assert "as reported by the estimator" in table.star_note()


# --------------------------------------------------------------------------- significance
@pytest.mark.parametrize("p, stars", [(0.0001, "***"), (0.0099, "***"), (0.01, "**"), (0.049, "**"), (0.05, "*"),
                                      (0.0999, "*"), (0.10, ""), (0.5, ""), (np.nan, ""), (None, "")])
def test_stars_thresholds(p, stars):
    assert significance_stars(p) == stars


def test_stars_from_estimate_and_se_use_the_normal_distribution():
    """SYNTHETIC cells: z = 2.6, 2.0, 1.7, 1.6 give p = 0.009, 0.046, 0.089, 0.110."""
    z = {"a": 2.6, "b": 2.0, "c": 1.7, "d": 1.6}
    frame = pd.DataFrame({"model": "m", "term": list(z), "estimate": [v * 0.1 for v in z.values()], "se": 0.1})
    table = RegressionTable("SYNTHETIC", frame)
    assert table.to_long().set_index("term")["stars"].to_dict() == {"a": "***", "b": "**", "c": "*", "d": ""}
    assert two_sided_p(1.959963984540054, 1.0) == pytest.approx(0.05, abs=1e-12)
    note = table.full_note()
    assert "* p < 0.10, ** p < 0.05, *** p < 0.01" in note
    assert "normal distribution" in note


def test_custom_thresholds_and_cells_without_standard_errors():
    frame = pd.DataFrame({"model": ["m", "m"], "term": ["x", "y"], "estimate": [0.5, 1.25], "se": [0.1, np.nan]})
    table = RegressionTable("SYNTHETIC", frame, thresholds=[(0.001, "c"), (0.05, "a")])
    text = table.to_frame()
    assert text.iloc[0, 1] == "0.500c"          # z = 5: p < 0.001
    assert text.iloc[2, 1] == "1.250"           # no SE: no parentheses, no stars
    assert text.iloc[3, 1] == ""
    assert "a p < 0.05, c p < 0.001" in table.star_note()


def test_invalid_tables_are_refused():
    frame = pd.DataFrame({"model": ["m", "m"], "term": ["x", "x"], "estimate": [1.0, 2.0], "se": [0.1, 0.1]})
    with pytest.raises(ParameterError, match="repeated"):
        RegressionTable("SYNTHETIC", frame)
    ok = frame.iloc[:1]
    with pytest.raises(ParameterError, match="column_groups"):
        RegressionTable("SYNTHETIC", ok, column_groups=[("g", 2)])
    with pytest.raises(ParameterError, match="footer"):
        RegressionTable("SYNTHETIC", ok, footer={"Observations": {"other": 3}})
    with pytest.raises(ParameterError, match="coefficients"):
        RegressionTable("SYNTHETIC", ok.drop(columns="estimate"))
    with pytest.raises(ParameterError, match="label"):
        RegressionTable("SYNTHETIC", ok).to_latex(label="bad label{}")


# --------------------------------------------------------------------------- rendering
def test_latex_escape_specials():
    assert latex_escape("a_b & 5% $x #1 {y} ~ ^") == r"a\_b \& 5\% \$x \#1 \{y\} \textasciitilde{} \textasciicircum{}"
    assert latex_escape("back\\slash") == r"back\textbackslash{}slash"
    assert latex_escape("KOR → USA, Δ ln x ≤ −5, R²") == r"KOR $\rightarrow$ USA, $\Delta$ ln x $\leq$ $-$5, R$^{2}$"


def test_latex_of_a_table_with_special_characters():
    """SYNTHETIC table whose title, labels, headers, footer, note and source all hold specials."""
    frame = pd.DataFrame({"model": ["m_1", "m_1", "m&2"], "term": ["ln_dist", "share_%", "ln_dist"],
                          "estimate": [-0.5, 1234.5678, -0.0004], "se": [0.1, 0.2, 0.3]})
    table = RegressionTable(
        "Costs in $ & 100% of trade_flows", frame, model_labels={"m_1": "Model_1\n50% sample", "m&2": "A & B"},
        labels={"ln_dist": "ln_dist (#km)"}, footer={"Fixed effects": {"m_1": "exporter_year", "m&2": "$ & %"},
                                                  "Observations": {"m_1": 12345, "m&2": 7}},
        column_groups=[("Group_A", 1), ("", 1)], note="Note with 5% and a_b", source="file_name.csv")
    tex = table.to_latex(label="tab:special")
    _check_latex_structure(tex, 2)
    assert r"\caption{Costs in \$ \& 100\% of trade\_flows}" in tex
    assert r"ln\_dist (\#km) & $-$0.500$^{***}$ & 0.000 \\" in tex      # no negative zero
    assert r"share\_\% & 1,234.568$^{***}$ &  \\" in tex
    assert r"\begin{tabular}[b]{@{}c@{}}Model\_1 \\ 50\% sample\end{tabular} & A \& B \\" in tex
    assert r"Fixed effects & exporter\_year & \$ \& \% \\" in tex
    assert r"Observations & 12,345 & 7 \\" in tex
    assert r"\multicolumn{1}{c}{Group\_A}" in tex
    assert r"Source: file\_name.csv" in tex
    assert r"\usepackage" not in tex.replace(r"needs \usepackage{booktabs}", "")
    bare = table.to_latex(float_env=False)
    assert bare.startswith(r"\begin{tabular}") and r"\caption" not in bare


def test_latex_compiles_where_pdflatex_is_installed(tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("no pdflatex on this machine (apt-get install texlive-latex-recommended to run this test)")
    frame = pd.DataFrame({"model": ["m_1", "m&2"], "term": ["x_1", "x_1"], "estimate": [-0.5, 2.0], "se": [0.1, 0.2]})
    table = RegressionTable("Costs in $ & 100%", frame, labels={"x_1": "KOR → USA, Δ ≤ −5"},
                            footer={"Pseudo R²": {"m_1": 0.5}}, column_groups=[("G_1", 2)])
    document = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                + table.to_latex() + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(document, encoding="utf-8")
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


def test_html_and_frame():
    frame = pd.DataFrame({"model": ["a", "a", "b"], "term": ["x", "y<1", "x"], "estimate": [-0.5, 2.0, 0.25],
                          "se": [0.1, 0.2, 0.3]})
    table = RegressionTable("A <b> title", frame, model_labels={"a": "OLS", "b": "OLS"},
                            footer={"Observations": {"a": 1000, "b": 999}, "FE": {"a": True, "b": False}},
                            column_groups=[("imports", 1), ("exports", 1)], source="x & y")
    out = table.to_html(table_id="t1")
    assert out.startswith('<div class="table-block"><div class="table-scroll">')
    assert '<table class="korus-table regression-table" id="t1">' in out
    assert "<caption>A &lt;b&gt; title</caption>" in out
    assert '<th colspan="1" class="group" scope="colgroup">imports</th>' in out
    assert '<td class="num">-0.500<sup>***</sup></td>' in out
    assert '<tr class="se"><th></th><td class="num">(0.100)</td><td class="num">(0.300)</td></tr>' in out
    assert '<th scope="row" class="text">y&lt;1</th>' in out
    assert '<td class="num">1,000</td><td class="num">999</td>' in out
    assert '<td class="text">Yes</td><td class="text">No</td>' in out
    assert '<p class="table-source">Source: x &amp; y</p>' in out
    text = table.to_frame()
    assert list(text.columns) == ["term", "(1) imports: OLS", "(2) exports: OLS"]
    assert text["term"].tolist() == ["x", "", "y<1", "", "Observations", "FE"]
    assert text.iloc[2].tolist() == ["y<1", "2.000***", ""]
    assert "Observations" in table.to_text()


# --------------------------------------------------------------------------- the store
KOR = Study.build("KOR")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path / "processed"))
    monkeypatch.delenv(results.SCOPE_VARIABLE, raising=False)
    return tmp_path


def _synthetic_results(folder: Path) -> None:
    """SYNTHETIC result tables with the columns the notebooks save."""
    s03 = results.open_store(KOR, "03", folder=folder)
    es = pd.DataFrame([(f"{flow}|{m}", k, 0.0 if k == -1 else 0.1 * k, 0.0 if k == -1 else 0.05, 0, 0, 0)
                       for flow in ("imports", "exports") for m in ("ols", "ppml") for k in range(-3, 3)],
                      columns=["model", "event_time", "estimate", "se", "ci_low", "ci_high", "pct_effect"])
    s03.save("effects_event_study", es)
    s03.save("effects_pretrend", pd.DataFrame({"model": ["imports, ols", "imports, ppml", "exports, ols",
                                                         "exports, ppml"], "F": 1.0, "df1": 2.0, "df2": 20.0,
                                               "p_value": 0.4, "nobs": 200}))
    s03.save("effects_did", pd.DataFrame({"flow": ["US imports", "US exports"], "group": "autos (ch. 87)",
                                          "estimate": [0.3, 0.5], "se": [0.1, 0.1], "ci_low": 0, "ci_high": 1,
                                          "pct_effect": 1.0, "n_chapters": 1}))
    s03.save("effects_staggered", pd.DataFrame({
        "outcome": ["log_imports", "log_exports", "log_imports", "balance, US$ bn"], "control_group": "notyet",
        "quantity": ["pooled effect of US agreements", "pooled effect of US agreements", "KOR alone (group of one)",
                     "KOR 2016 (partner ATT, bootstrap 999)"],
        "estimate": [0.2, 0.1, 0.3, -5.0], "se": [0.1, 0.1, 0.07, 2.0], "n": [15, 15, 5, 999],
        "pretrend_p": [0.5, 0.5, 0.01, np.nan], "placebo_p": [np.nan, np.nan, 0.5, np.nan]}))
    s03.save("effects_single_unit_sdid", pd.DataFrame({"treated": "KOR", "outcome": ["log imports", "log exports"],
                                                       "estimate": [0.14, 0.05], "se": [0.4, 0.2],
                                                       "placebo_p_value": 0.5, "n_controls": 30}))
    s03.save("effects_single_unit_honest", pd.DataFrame({"outcome": ["imports", "exports"],
                                                         "target": "average of event times 0..2",
                                                         "estimate": [0.17, 0.0], "se": [0.07, 0.02]}))
    s03.done()
    s04 = results.open_store(KOR, "04", folder=folder)
    s04.save("gravity_estimates", pd.DataFrame({"specification": ["DTA 1964-2016, three-way"] * 2,
                                                "term": ["agreement", "other_agreements"], "estimate": [-0.25, 0.15],
                                                "se": [0.076, 0.04], "ci_low": 0.0, "ci_high": 0.0,
                                                "pct_effect": 0.0}))
    s04.save("gravity_info", pd.DataFrame({"specification": ["DTA 1964-2016, three-way"], "used": ["283566"],
                                           "exporter-year effects": ["1839"], "importer-year effects": ["2992"],
                                           "pair effects": ["31683"], "pseudo_r2": ["0.9889"],
                                           "clusters": ["pair: 31683"], "ssc": ["stata"]}))
    s04.done()
    s05 = results.open_store(KOR, "05", folder=folder)
    s05.save("macro_coefficients", pd.DataFrame({"equation": ["US imports", "US imports", "US exports"],
                                                 "term": ["ln_us_demand", "ln_us_demand", "ln_rer"],
                                                 "estimator": ["ARDL long run", "Johansen (first vector)", "DOLS"],
                                                 "estimate": [1.3, 1.5, -0.3], "se": [0.09, np.nan, 0.2]}))
    s05.done()


def test_builders_return_none_when_results_are_missing(isolated):
    folder = isolated / "results" / KOR.study_id
    results.open_store(KOR, "03", folder=folder).done()           # a run that saved nothing
    store = results.read_store(KOR, folder)
    for name, builder in regtables.BUILDERS.items():
        assert builder(store) is None, name
    assert regtables.all_tables(store) == {}
    out = isolated / "tables"
    out.mkdir()
    (out / "gravity.tex").write_text("stale")                    # a table of an earlier run
    assert write_all(store, out) == []
    assert not (out / "gravity.tex").exists()


def test_write_all_on_a_synthetic_store(isolated):
    folder = isolated / "results" / KOR.study_id
    _synthetic_results(folder)
    store = results.read_store(KOR, folder)
    tables = regtables.all_tables(store)
    assert set(tables) == {"gravity", "effects_summary", "event_study", "product_did", "staggered", "macro"}
    assert regtables.gravity_models_table(store) is None           # not saved in this store

    out = isolated / "reports" / "regtables"
    paths = write_all(store, out)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{s}" for n in tables for s in ("tex", "html"))
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert not [p for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    gravity = (out / "gravity.tex").read_text(encoding="utf-8")
    assert r"\label{tab:gravity}" in gravity and "KORUS FTA in force & $-$0.250$^{***}$" in gravity
    assert 'id="regtable-gravity"' in (out / "gravity.html").read_text(encoding="utf-8")

    g = tables["gravity"].to_frame().set_index("term")
    assert g.loc["Observations"].tolist() == ["283,566"]
    assert g.loc["Clustered by (clusters)"].tolist() == ["pair (31,683)"]
    assert g.loc["Pair FE"].tolist() == ["Yes"]
    assert g.loc["Pseudo R²"].tolist() == ["0.989"]
    es = tables["event_study"]
    assert es.terms == ["-3", "-2", "0", "1", "2"]                 # the reference (-1) left out
    assert es.labels["-3"] == "Event time ≤ −3" and es.labels["2"] == "Event time ≥ 2"
    assert [g for g, _ in es.column_groups] == ["US imports", "US exports"]
    st = tables["staggered"]
    assert "KOR 2016 (partner ATT, bootstrap 999)" not in st.terms  # the US$ row is another unit
    summary = tables["effects_summary"].to_frame().set_index("term")
    assert summary.loc["Placebo p-value, imports"].tolist() == ["", "0.500", "0.500"]
    macro = tables["macro"].to_frame().set_index("term")
    assert macro.loc["ln US real demand"].tolist() == ["1.300***", "1.500", ""]   # Johansen: no SE, no stars
    for table in tables.values():
        _check_latex_structure(table.to_latex(), len(table.models))


# --------------------------------------------------------------------------- the default study
DEFAULT = config.results_dir() / results.DEFAULT_FOLDER


@pytest.mark.skipif(not (DEFAULT / "manifest.json").exists(), reason="no default study in data/processed/results")
def test_every_builder_on_the_default_study():
    store = results.read_store(results.load_study(DEFAULT), DEFAULT)
    for name, builder in regtables.BUILDERS.items():
        table = builder(store)
        assert table is not None, f"{name}: no table from the default study's results"
        assert len(table.models) and len(table._body()), name
        _check_latex_structure(table.to_latex(), len(table.models))
        assert '<div class="table-scroll">' in table.to_html()
        long = table.to_long()
        assert long["estimate"].notna().all(), name
