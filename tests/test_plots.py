"""Figures to publication standard (:mod:`korus_research.plots`).

Every frame here is a small SYNTHETIC example shaped like what the notebooks pass; the source
line is checked against the real registry and dictionary (no data files are read).
"""

from __future__ import annotations

import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from PIL import Image  # noqa: E402

from korus_research import decomposition, dictionary, plots, registry  # noqa: E402
from korus_research.errors import KorusError, ParameterError  # noqa: E402

ENTRY = pd.Timestamp("2012-03-15")
#: HS section names as the decomposition gives them (the longest is 135 characters).
ALL_SECTIONS = sorted({decomposition.hs_section(f"{i:02d}") for i in range(1, 100)}, key=decomposition.group_sort_key)
#: The five longest section names and five short ones (a smaller heatmap draws faster).
SECTIONS = sorted(sorted(ALL_SECTIONS, key=len)[-5:] + sorted(ALL_SECTIONS, key=len)[:5],
                  key=decomposition.group_sort_key)
ATTRIBUTION = ["aggregate imbalances (GE)", "incomes (GE)", "the agreement (headline design)",
               "autos composition (beyond the agreement)",
               "what is left (other trade costs, third countries, years)",
               "total change in the US balance (Census)"]


# ------------------------------------------------------------------ SYNTHETIC inputs ----
def _synthetic_figures() -> dict[str, plt.Figure]:
    """One figure per plotting function, from SYNTHETIC frames (short year spans on purpose:
    they are where a default locator puts ticks at half years)."""
    rng = np.random.default_rng(15)
    figs = {}
    years = np.arange(2012, 2017)
    series = pd.DataFrame({"exports_usd_bn": rng.uniform(40, 45, 5), "imports_usd_bn": rng.uniform(60, 70, 5)},
                          index=pd.Index(years, name="year"))
    series["balance_usd_bn"] = series["exports_usd_bn"] - series["imports_usd_bn"]
    figs["balance_over_time"] = plots.balance_over_time(series, "SYN", ENTRY)
    dates = pd.date_range("2008-01-01", "2019-12-01", freq="MS")
    monthly = pd.DataFrame({"date": dates, "balance_usd_bn": rng.normal(-2, 0.5, len(dates))})
    monthly["month"], monthly["year"] = monthly["date"].dt.month, monthly["date"].dt.year
    figs["monthly_pattern"] = plots.monthly_pattern(monthly, "SYN", ENTRY)
    ranking = pd.DataFrame({"partner": [f"Partner {c}" for c in "ABCDE"], "balance_usd_bn": [-300, -200, -150, -90, -0.04]},
                           index=["AAA", "BBB", "SYN", "DDD", "EEE"])
    figs["top_deficits_bar"] = plots.top_deficits_bar(ranking, 2016, highlight="SYN")
    contributions = pd.DataFrame({"balance_change": rng.normal(0, 2e9, 6)}, index=SECTIONS[2:8])
    contributions.loc["total"] = contributions["balance_change"].sum()
    figs["waterfall"] = plots.waterfall(contributions, "SYNTHETIC change by group")
    long = pd.DataFrame([{"period": f"{y}-{y + 1}", "group": g, "balance_change": rng.normal(0, 1e9)}
                         for y in range(2010, 2014) for g in SECTIONS])
    long.loc[0, "balance_change"] = -1e6  # shows as 0.0, never -0.0
    figs["contributions_heatmap"] = plots.contributions_heatmap(long, "SYNTHETIC yearly change by group (US$ bn)")
    autos = pd.DataFrame({"comtrade_ch87_cif_usd_bn": rng.uniform(15, 20, 4),
                          "comtrade_ch87_at_census_value_usd_bn": rng.uniform(14, 19, 4),
                          "census_enduse_autos_usd_bn": [np.nan, 22, 23, 24]}, index=range(2016, 2020))
    figs["autos_bases"] = plots.autos_bases(autos, "SYN")
    event = {f"{flow}, {method}": pd.DataFrame({"event_time": range(-3, 3), "estimate": rng.normal(0, 0.1, 6)})
             .assign(ci_low=lambda t: t["estimate"] - 0.1, ci_high=lambda t: t["estimate"] + 0.1)
             for flow in ("imports", "exports") for method in ("ols", "ppml")}
    figs["event_study_plot"] = plots.event_study_plot(event, "SYNTHETIC event study")
    paths = {flow: pd.DataFrame({"actual": rng.uniform(0.02, 0.03, 8), "synthetic": rng.uniform(0.02, 0.03, 8)},
                                index=range(2008, 2016)) for flow in ("imports", "exports")}
    figs["synth_plot"] = plots.synth_plot(paths, 2012, "SYN")
    placebos = {}
    for flow in ("imports", "exports"):
        table = pd.DataFrame({"unit": ["SYN", *[f"U{i:02d}" for i in range(7)]], "ratio": rng.uniform(0.5, 30, 8)})
        table = table.sort_values("ratio", ascending=False)
        table.attrs["p_value"] = 0.31
        placebos[flow] = table
    figs["placebo_plot"] = plots.placebo_plot(placebos, "SYN")
    coef = pd.DataFrame({"specification": ["SYNTHETIC panel, three-way + border SYN to USA", "SYNTHETIC panel, two-way"],
                         "estimate": [0.1, -0.05], "ci_low": [0.0, -0.2], "ci_high": [0.2, 0.1]})
    figs["coefficient_plot"] = plots.coefficient_plot(coef, "specification", "SYNTHETIC coefficients")
    flows = pd.DataFrame({f"USA {d} SYN, {k}": rng.uniform(30, 60, 4) for d in ("exports to", "imports from")
                          for k in ("actual", "without")}, index=range(2013, 2017))
    figs["counterfactual_flows"] = plots.counterfactual_flows(flows, "USA", "SYN", "SYNTHETIC panel")
    quarters = pd.period_range("2005Q1", "2019Q4", freq="Q")
    macro = {name: pd.DataFrame({c: rng.uniform(1e4, 2e4, len(quarters)) for c in ("actual", "fitted", "counterfactual")},
                                index=quarters) for name in ("US imports", "US exports")}
    figs["macro_paths"] = plots.macro_paths(macro, "SYN", 2011)
    figs["rer_plot"] = plots.rer_plot(pd.Series(rng.uniform(90, 110, len(quarters)), index=quarters), "SYN", "bis")
    saving = pd.DataFrame({c: rng.uniform(-5, 40, 6) for c in ["SYN current account", "SYN gross saving",
                                                                 "USA current account", "USA gross saving",
                                                                 "US goods balance with SYN, % of US GDP"]},
                          index=range(2015, 2021))
    figs["savings_plot"] = plots.savings_plot(saving, "SYN")
    attribution = pd.DataFrame({"usd_bn": [-0.1, -2.9, -6.8, -6.6, 1.9, -14.5]}, index=ATTRIBUTION)
    figs["attribution_chart"] = plots.attribution_chart(attribution, "SYN", 2011, 2016)
    estimates = pd.DataFrame({"estimator": ["SYNTHETIC staggered DiD (Callaway-Sant'Anna), partner alone, "
                                            "not-yet-treated", "SYNTHETIC synthetic control"],
                              "estimate": [-5.0, 2.0], "ci_low": [-9.0, np.nan], "ci_high": [-1.0, np.nan]})
    figs["estimates_beside_published"] = plots.estimates_beside_published(estimates, 15.0, "published", "SYNTHETIC")
    curve = pd.DataFrame({"estimator": ["design A, a long name that has to wrap onto a second line", "design B",
                                        "design C"],
                          "estimate": [-5.0, 1.0, 3.0], "ci_low": [-200.0, -2.0, np.nan], "ci_high": [4.0, 3.0, np.nan],
                          "interval": ["95% CI", "95% CI", "none"], "diagnostics": ["passed", "failed", "not tested"],
                          "headline": [True, False, False]})
    figs["specification_curve"] = plots.specification_curve(curve, 15.0, "published", "SYNTHETIC every design")
    forest = pd.DataFrame({"partner": ["SYN", "AAA"], "agreement": ["SYN-FTA", "A-FTA"], "cohort_label": ["2012", "2005"],
                           "estimate": [0.1, 0.05], "ci_low": [0.0, -0.1], "ci_high": [0.2, 0.2]})
    figs["forest_plot"] = plots.forest_plot(forest, {"estimate": 0.08, "ci_low": 0.0, "ci_high": 0.16}, highlight="SYN",
                                            title="SYNTHETIC forest", source="Source: SYNTHETIC panel.")
    return figs


@pytest.fixture(scope="module")
def figures():
    figs = _synthetic_figures()
    for fig in figs.values():
        fig.draw_without_rendering()  # ticks, labels and layout as drawn, without rasterizing
    yield figs
    for fig in figs.values():
        plt.close(fig)


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("KORUS_REPORTS", str(tmp_path / "reports"))
    return tmp_path / "reports" / "figures"


def _small_figure(title: str = "SYNTHETIC small figure") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([2010, 2011, 2012], [1.0, 2.0, 1.5], label="series")
    ax.set_title(title)
    ax.set_xlabel("year")
    ax.set_ylabel("US$ billion")
    return fig


def _plot_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_every_plotting_function_is_exercised(figures):
    made = {name for name in dir(plots) if callable(getattr(plots, name)) and not name.startswith("_")
            and getattr(getattr(plots, name), "__module__", "") == plots.__name__}
    helpers = {"save_figure", "source_line", "add_footer", "describe", "wrap", "year_axis", "date_axis",
               "legend_below", "legend_right", "figure_data"}
    assert made - helpers == set(figures), "a new plotting function needs a SYNTHETIC figure in this test"


# ------------------------------------------------------------------ the source line ----
def test_source_line_names_registry_files_agency_and_vintage():
    line = plots.source_line(["census_annual", "comtrade_hs2"])
    assert line.startswith("Source: ") and line.endswith(".")
    for table in ("census_annual", "comtrade_hs2"):
        for path in dictionary.TABLE_SOURCES[table]:
            entry = registry.get(path)
            assert path in line
            assert entry.agency in line
            assert plots._vintage(entry.vintage) in line
    assert line.count("census/country.xlsx") == 1  # files are named once
    # every processed table has a line naming each of its registered files
    for table, files in dictionary.TABLE_SOURCES.items():
        text = plots.source_line([table])
        assert all(path in text for path in files), table


def test_source_line_refuses_unknown_tables():
    with pytest.raises(ParameterError) as info:
        plots.source_line(["census_anual"])
    assert info.value.parameter == "sources" and "census_annual" in str(info.value)
    with pytest.raises(ParameterError):
        plots.source_line([])
    with pytest.raises(ParameterError):
        plots.source_line([3])


# ------------------------------------------------------------------ saving ----
def test_save_figure_writes_png_alt_and_csv(reports):
    data = pd.DataFrame({"balance_usd_bn": [1.0, 2.0, 1.5]}, index=pd.Index([2010, 2011, 2012], name="year"))
    fig = _small_figure()
    path = plots.save_figure(fig, "small", "99_test/SYN", sources=["census_annual"], data=data)
    folder = reports / "99_test" / "SYN"
    assert path == folder / "small.png"
    assert sorted(p.name for p in folder.iterdir()) == ["small.alt.txt", "small.csv", "small.png"]  # no temp files
    alt = (folder / "small.alt.txt").read_text(encoding="utf-8").strip()
    assert alt.split(". ")[0] == "SYNTHETIC small figure"  # the caption is the title, in words
    assert "census/country.xlsx" in alt and "US$ billion" in alt
    back = pd.read_csv(folder / "small.csv")
    assert back.columns.tolist() == ["year", "balance_usd_bn"] and back["balance_usd_bn"].tolist() == [1.0, 2.0, 1.5]
    with Image.open(path) as image:
        assert image.info["Description"] == alt
        assert "Software" not in image.info  # no version or time stamps: identical figures, identical bytes
        assert "census/country.xlsx" in image.info["Source"]
    footer = [t for t in fig.texts if t.get_text().startswith("Source:")]
    assert len(footer) == 1 and "census/country.xlsx" in footer[0].get_text().replace("\n", " ")


def test_save_figure_default_alt_and_no_stale_csv(reports):
    plots.save_figure(_small_figure(), "small", "99_test", data=pd.DataFrame({"x": [1]}))
    plots.save_figure(_small_figure("SYNTHETIC again"), "small", "99_test")  # positional call, as the notebooks do
    folder = reports / "99_test"
    assert not (folder / "small.csv").exists()  # the data of the earlier figure is not left beside this one
    alt = (folder / "small.alt.txt").read_text(encoding="utf-8")
    assert alt.startswith("SYNTHETIC again.") and "vertical axis: US$ billion" in alt


def test_save_figure_is_deterministic(reports):
    first = plots.save_figure(_small_figure(), "one", "99_test", sources=["census_annual"]).read_bytes()
    second = plots.save_figure(_small_figure(), "two", "99_test", sources=["census_annual"]).read_bytes()
    assert first == second


def test_save_figure_is_atomic(reports, monkeypatch):
    plots.save_figure(_small_figure(), "kept", "99_test", data=pd.DataFrame({"x": [1]}))
    folder = reports / "99_test"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    fig = _small_figure("SYNTHETIC broken")

    def broken(path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise OSError("disk full (SYNTHETIC)")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError):
        plots.save_figure(fig, "kept", "99_test", data=pd.DataFrame({"x": [2]}), alt="SYNTHETIC new alt text.")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # old files intact, no partial or temp file
    plt.close(fig)


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"name": "../escape"}, "name"), ({"name": "a/b"}, "name"), ({"name": ""}, "name"), ({"name": "fig.png"}, "name"),
    ({"name": ".hidden"}, "name"), ({"name": 7}, "name"),
    ({"group": "../outside"}, "group"), ({"group": "/abs"}, "group"), ({"group": ""}, "group"),
    ({"sources": ["no_such_table"]}, "sources"), ({"alt": "  "}, "alt"), ({"data": [1, 2]}, "data"),
])
def test_save_figure_refuses_bad_arguments(reports, kwargs, parameter):
    args = {"name": "ok", "group": "99_test", **kwargs}
    fig = _small_figure()
    with pytest.raises(ParameterError) as info:
        plots.save_figure(fig, args.pop("name"), args.pop("group"), **args)
    assert info.value.parameter == parameter and isinstance(info.value, KorusError)
    assert not reports.exists() or not any(reports.rglob("*.png"))
    plt.close(fig)


# ------------------------------------------------------------------ every figure ----
def test_titles_and_axis_labels(figures):
    for name, fig in figures.items():
        axes = _plot_axes(fig)
        assert axes[0].get_title().strip(), name
        for ax in axes:
            assert ax.get_xlabel().strip() or ax.get_xticklabels() == [] or name == "attribution_chart", name
            assert ax.get_ylabel().strip(), name
        assert plots.describe(fig).split(". ")[0] == " ".join(axes[0].get_title().split()), name


def test_year_axes_have_integer_ticks_only(figures):
    year_figures = ["balance_over_time", "autos_bases", "event_study_plot", "synth_plot", "counterfactual_flows",
                    "savings_plot"]
    for name in year_figures:
        for ax in _plot_axes(figures[name]):
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert len(ticks) >= 3, name
            assert all(float(t).is_integer() for t in ticks), (name, ticks)
            labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
            assert all(re.fullmatch(r"[−-]?\d+", lbl) for lbl in labels), (name, labels)


def _overlap(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_tick_labels_do_not_run_together(figures):
    renderer = figures["monthly_pattern"].canvas.get_renderer()
    for name in ("monthly_pattern", "macro_paths", "rer_plot", "contributions_heatmap", "balance_over_time"):
        for ax in _plot_axes(figures[name]):
            for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
                for a, b in itertools.combinations(boxes, 2):
                    assert not _overlap(a, b), name


def test_legends_do_not_cover_data(figures):
    checked = 0
    for name, fig in figures.items():
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in _plot_axes(fig):
                assert not _overlap(box, ax.get_window_extent(renderer)), name
            assert min(t.get_fontsize() for t in legend.get_texts()) >= 10, name
            checked += 1
    assert checked >= 11


def test_footers_sit_under_everything(figures, reports):
    fig = figures["forest_plot"]
    plots.add_footer(fig, plots.source_line(["census_annual"]), "registry")
    plots._layout_footers(fig)
    renderer = fig.canvas.get_renderer()
    footers = [t for t in fig.texts if t.get_text().startswith("Source:")]
    assert len(footers) == 2  # the caller's line is kept, the registry's added under it
    content = [ax.get_tightbbox(renderer) for ax in fig.axes] + [lg.get_window_extent(renderer) for lg in fig.legends]
    for footer in footers:
        box = footer.get_window_extent(renderer)
        assert all(box.y1 <= c.y0 + 0.5 for c in content)
    assert footers[1].get_window_extent(renderer).y1 <= footers[0].get_window_extent(renderer).y0 + 0.5


def test_specification_curve_placeholder_source_is_replaced(figures):
    fig = figures["specification_curve"]
    assert any(t.get_text().startswith("Intervals wider") for t in fig.texts)  # the note on cut intervals
    plots.add_footer(fig, plots.source_line(["estimates (results store)", "benchmarks"]), "registry")
    sources = [t.get_label() for t in fig.texts if t.get_label().startswith("Source:")]
    assert sources == [plots.source_line(["estimates (results store)", "benchmarks"])]


def test_no_text_smaller_than_the_minimum(figures):
    for name, fig in figures.items():
        texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < plots.MIN_FONT_SIZE]
        assert not small, (name, small[:3])


def _words(text: str) -> list[str]:
    return text.split()


def test_heatmap_labels_wrap_on_word_boundaries(figures):
    ax = figures["contributions_heatmap"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(SECTIONS)
    for label, section in zip(labels, SECTIONS, strict=True):
        assert _words(label) == _words(section)  # every word kept whole, none cut, nothing dropped
        assert all(len(line) <= 48 or " " not in line for line in label.split("\n"))
    assert any("\n" in label for label in labels)  # the long names did wrap
    periods = [t.get_text() for t in ax.get_xticklabels()]
    assert periods[0] == "2010-11"
    annotations = [t.get_text() for t in ax.texts]
    assert annotations and "-0.0" not in annotations and "0.0" in annotations


def test_attribution_legend_has_full_labels_and_values(figures):
    fig = figures["attribution_chart"]
    ax = fig.axes[0]
    entries = [" ".join(t.get_text().split()) for t in ax.get_legend().get_texts()]
    for name in ATTRIBUTION[:-1]:
        assert any(e.startswith(name + " (") for e in entries), name  # never truncated
    assert entries[-1] == "total change (-14.5)"
    written = {t.get_text() for t in ax.texts}  # bar labels and the values written on the segments
    assert {"-6.8", "-6.6", "-2.9", "+1.9", "-14.5"} <= written


def test_bars_and_estimates_are_labelled(figures):
    texts = {name: {t.get_text() for t in figures[name].axes[0].texts} for name in figures}
    assert {"-300.0", "-150.0", "0.0"} <= texts["top_deficits_bar"]  # -0.04 shows as 0.0, never -0.0
    assert {"0.100", "-0.050"} <= texts["coefficient_plot"]
    assert any(t.startswith("0.080 [") for t in texts["forest_plot"])


def test_numbers_never_show_negative_zero():
    assert plots._number(-0.04) == "0.0" and plots._number(-0.04, sign=True) == "0.0"
    assert plots._number(-2.55) in {"-2.5", "-2.6"} and plots._number(1.25, sign=True).startswith("+")
    assert plots._number(float("nan")) == "–"


def test_wrap_never_cuts_a_word():
    long = "Natural or cultured pearls, precious or semi-precious stones, precious metals"
    wrapped = plots.wrap(long, 20)
    assert _words(wrapped) == _words(long) and max(len(line) for line in wrapped.split("\n")) <= 20
    assert plots.wrap("a-very-long-hyphenated-word", 5) == "a-very-long-hyphenated-word"
