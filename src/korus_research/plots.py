"""Figures of the study (matplotlib/seaborn), each returned as a Figure and saved as PNG.

Notebooks call :func:`save_figure`, which writes ``reports/figures/<group>/<name>.png``
so that the HTML report can show every figure.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import config

sns.set_theme(style="whitegrid", context="notebook")


def save_figure(fig: plt.Figure, name: str, group: str) -> Path:
    """Save ``fig`` as ``reports/figures/<group>/<name>.png``, close it, return the path.

    Closing keeps the inline backend from drawing it a second time; the closed figure
    still displays as the cell's result.
    """
    folder = config.figures_dir() / group
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _mark_entry(ax, entry: pd.Timestamp | None, label: str, as_year: bool) -> None:
    if entry is None:
        return
    x = entry.year + (entry.dayofyear - 1) / 365.25 if as_year else entry
    ax.axvline(x, color="firebrick", linestyle="--", linewidth=1.2)
    ax.annotate(label, xy=(x, 1), xycoords=("data", "axes fraction"), xytext=(4, -14),
                textcoords="offset points", color="firebrick", fontsize=9)


def balance_over_time(series: pd.DataFrame, partner: str, entry: pd.Timestamp | None,
                      entry_label: str = "agreement in force") -> plt.Figure:
    """US exports, imports (lines) and balance (bars) with the partner by year."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    years = series.index.to_numpy()
    ax.bar(years, series["balance_usd_bn"], color="steelblue", alpha=0.6, label="balance")
    ax.plot(years, series["exports_usd_bn"], color="darkgreen", label="US exports")
    ax.plot(years, series["imports_usd_bn"], color="darkorange", label="US imports")
    ax.axhline(0, color="black", linewidth=0.8)
    _mark_entry(ax, entry, entry_label, as_year=True)
    ax.set_ylabel("US$ billion")
    ax.set_title(f"US goods trade with {partner} (Census basis)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def monthly_pattern(monthly: pd.DataFrame, partner: str, entry: pd.Timestamp | None,
                    entry_label: str = "agreement in force") -> plt.Figure:
    """Monthly balance with a 12-month moving average, and the average by calendar month."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    ax1.plot(monthly["date"], monthly["balance_usd_bn"], color="lightsteelblue", label="monthly")
    ax1.plot(monthly["date"], monthly["balance_usd_bn"].rolling(12).mean(), color="navy",
             label="12-month average")
    ax1.axhline(0, color="black", linewidth=0.8)
    _mark_entry(ax1, entry, entry_label, as_year=False)
    ax1.set_ylabel("US$ billion per month")
    ax1.set_title(f"Monthly US goods balance with {partner}")
    ax1.legend(loc="lower left")
    season = monthly.groupby("month")["balance_usd_bn"].mean()
    ax2.bar(season.index, season.to_numpy(), color="steelblue")
    ax2.set_xticks(range(1, 13))
    ax2.set_title("Average by month")
    fig.tight_layout()
    return fig


def top_deficits_bar(table: pd.DataFrame, year: int, highlight: str | None = None) -> plt.Figure:
    """Horizontal bars of the largest US goods deficits, the studied partner highlighted."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = table["partner"].to_list()[::-1]
    values = table["balance_usd_bn"].to_numpy()[::-1]
    colors = ["firebrick" if iso == highlight else "steelblue" for iso in table.index[::-1]]
    ax.barh(labels, values, color=colors)
    ax.set_xlabel("US goods balance, US$ billion")
    ax.set_title(f"Largest US goods deficits by partner, {year}")
    fig.tight_layout()
    return fig


def waterfall(contributions: pd.DataFrame, title: str, scale: float = 1e9,
              unit: str = "US$ billion") -> plt.Figure:
    """Waterfall of the change in the balance by group (from ``balance_contributions``)."""
    parts = contributions.drop(index="total")["balance_change"] / scale
    parts = parts.reindex(parts.abs().sort_values(ascending=False).index)
    total = contributions.loc["total", "balance_change"] / scale
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(parts) + 2.5))
    start = 0.0
    labels = list(parts.index) + ["total change"]
    for i, value in enumerate(parts.to_numpy()):
        ax.barh(i, value, left=start, color="firebrick" if value < 0 else "seagreen")
        start += value
    ax.barh(len(parts), total, color="navy")
    ax.set_yticks(range(len(labels)), [str(lbl)[:60] for lbl in labels])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"change in the US balance, {unit} (negative = larger deficit)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def contributions_heatmap(consecutive: pd.DataFrame, title: str, scale: float = 1e9) -> plt.Figure:
    """Heatmap of yearly contributions to the balance change (group x period)."""
    from .decomposition import group_sort_key

    wide = consecutive.pivot_table(index="group", columns="period", values="balance_change", aggfunc="sum") / scale
    wide = wide.loc[sorted(wide.index, key=group_sort_key)]
    wide.index = [str(i)[:55] for i in wide.index]
    fig, ax = plt.subplots(figsize=(1.0 * wide.shape[1] + 5, 0.35 * wide.shape[0] + 2))
    lim = float(np.nanmax(np.abs(wide.to_numpy()))) or 1.0
    sns.heatmap(wide, cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot=wide.shape[0] <= 25,
                fmt=".1f", annot_kws={"size": 7}, cbar_kws={"label": "US$ billion"}, ax=ax)
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def autos_bases(table: pd.DataFrame, partner: str) -> plt.Figure:
    """Automotive imports on the Comtrade (CIF, chapter 87) and Census end-use bases."""
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(table.index, table["comtrade_ch87_cif_usd_bn"], marker="o", label="Comtrade ch. 87, CIF")
    ax.plot(table.index, table["comtrade_ch87_at_census_value_usd_bn"], marker="o", linestyle="--",
            label="Comtrade ch. 87 at Census customs value")
    ax.plot(table.index, table["census_enduse_autos_usd_bn"], marker="s",
            label="Census end use: cars + parts")
    ax.set_ylabel("US$ billion")
    ax.set_title(f"US automotive imports from {partner} on two data bases")
    ax.legend()
    fig.tight_layout()
    return fig


def event_study_plot(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Event-study coefficients with intervals, one line per model (label -> coefficients)."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    offsets = np.linspace(-0.15, 0.15, len(tables)) if len(tables) > 1 else [0.0]
    for (label, table), off in zip(tables.items(), offsets, strict=True):
        x = table["event_time"] + off
        ax.errorbar(x, table["estimate"], yerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
                    fmt="o-", capsize=3, label=label, markersize=4, linewidth=1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="firebrick", linestyle="--", linewidth=1)
    ax.set_xlabel("years since entry into force (endpoints binned)")
    ax.set_ylabel("log points vs the year before entry")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def synth_plot(paths: dict[str, pd.DataFrame], entry_year: int, partner: str) -> plt.Figure:
    """Actual versus synthetic share, one panel per flow."""
    fig, axes = plt.subplots(1, len(paths), figsize=(6 * len(paths), 4), squeeze=False)
    for ax, (flow, path) in zip(axes[0], paths.items(), strict=True):
        ax.plot(path.index, path["actual"] * 100, label=f"{partner}, actual", color="navy")
        ax.plot(path.index, path["synthetic"] * 100, label="synthetic control", color="darkorange", linestyle="--")
        ax.axvline(entry_year - 0.5, color="firebrick", linestyle="--", linewidth=1)
        ax.set_ylabel(f"share of US {flow}, %")
        ax.set_title(f"{partner}'s share of US {flow}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def placebo_plot(placebos: dict[str, pd.DataFrame], partner: str) -> plt.Figure:
    """Post/pre RMSPE ratios of every unit, the treated partner highlighted."""
    fig, axes = plt.subplots(1, len(placebos), figsize=(6 * len(placebos), 4), squeeze=False)
    for ax, (flow, table) in zip(axes[0], placebos.items(), strict=True):
        colors = ["firebrick" if u == partner else "steelblue" for u in table["unit"]]
        ax.barh(table["unit"][::-1], np.log10(table["ratio"][::-1]), color=colors[::-1])
        ax.set_xlabel("log10 post/pre RMSPE ratio")
        ax.set_title(f"Placebos in space, US {flow} (p = {table.attrs.get('p_value', float('nan')):.2f})")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def coefficient_plot(table: pd.DataFrame, label: str, title: str) -> plt.Figure:
    """Point estimates with intervals, one row per ``label`` (columns estimate, ci_low, ci_high)."""
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(table) + 1.8))
    y = np.arange(len(table))
    ax.errorbar(table["estimate"], y, xerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
                fmt="o", capsize=4, color="navy")
    ax.set_yticks(y, table[label])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("coefficient (log points), 95% interval")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def counterfactual_flows(table: pd.DataFrame, reporter: str, partner: str, label: str) -> plt.Figure:
    """Actual and no-agreement flows between two members (from ``gravity.pe_counterfactual``)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for direction, color in ((f"{reporter} exports to {partner}", "darkgreen"), (f"{reporter} imports from {partner}", "darkorange")):
        ax.plot(table.index, table[f"{direction}, actual"], marker="o", color=color, label=f"{direction}, actual")
        ax.plot(table.index, table[f"{direction}, without"], marker="o", linestyle="--", color=color,
                label=f"{direction}, without the agreement")
    ax.set_ylabel("US$ billion")
    ax.set_title(f"Actual and counterfactual flows ({label})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def macro_paths(paths: dict[str, pd.DataFrame], partner: str, base) -> plt.Figure:
    """Actual, fitted and counterfactual (agreement off, exchange rate held) real flows."""
    fig, axes = plt.subplots(1, len(paths), figsize=(6 * len(paths), 4), squeeze=False)
    for ax, (label, path) in zip(axes[0], paths.items(), strict=True):
        x = path.index.to_timestamp() if hasattr(path.index, "to_timestamp") else path.index
        ax.plot(x, path["actual"] / 1e3, color="navy", label="actual")
        ax.plot(x, path["fitted"] / 1e3, color="darkorange", linestyle="--", label="fitted")
        ax.plot(x, path["counterfactual"] / 1e3, color="seagreen", linestyle=":",
                label=f"no agreement, exchange rate at {base}")
        ax.set_title(f"{label} ({partner}), real, 2012 US$ bn")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def rer_plot(rer: pd.Series, partner: str, measure: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(9, 3.5))
    x = rer.index.to_timestamp() if hasattr(rer.index, "to_timestamp") else rer.index
    ax.plot(x, rer / rer.mean() * 100, color="navy")
    ax.set_ylabel("index, sample mean = 100")
    ax.set_title(f"Real exchange rate, {partner} currency per US$ ({measure}; up = {partner} real depreciation)")
    fig.tight_layout()
    return fig


def savings_plot(table: pd.DataFrame, partner: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 4))
    for col in table.columns:
        style = "-" if "current account" in col or "balance" in col else "--"
        ax.plot(table.index, table[col], style, label=col)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("% of GDP")
    ax.set_title(f"Saving, investment and current accounts: USA and {partner}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def attribution_chart(table: pd.DataFrame, partner: str, base: int, compare: int) -> plt.Figure:
    """Stacked bar of the attribution of the balance change, beside the total."""
    parts = table.drop(index=[i for i in table.index if i.startswith("total")])["usd_bn"]
    total = table.loc[[i for i in table.index if i.startswith("total")][0], "usd_bn"]
    fig, ax = plt.subplots(figsize=(9, 5))
    colors = sns.color_palette("Set2", len(parts))
    pos_base = neg_base = 0.0
    for (name, value), color in zip(parts.items(), colors, strict=True):
        bottom = pos_base if value >= 0 else neg_base
        ax.bar(0, value, bottom=bottom, color=color, label=f"{name[:55]} ({value:+.1f})", width=0.5)
        if value >= 0:
            pos_base += value
        else:
            neg_base += value
    ax.bar(1, total, color="navy", width=0.5, label=f"total change ({total:+.1f})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([0, 1], ["attributed parts", "total"])
    ax.set_ylabel("US$ billion (negative = larger US deficit)")
    ax.set_title(f"Change in the US goods balance with {partner}, {base}-{compare}")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    fig.tight_layout()
    return fig


def estimates_beside_published(estimates: pd.DataFrame, published: float | None, label: str, title: str) -> plt.Figure:
    """Our estimates with intervals (forest plot) and a published figure as a line."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(estimates) + 2))
    y = np.arange(len(estimates))
    err_low = (estimates["estimate"] - estimates["ci_low"]).fillna(0).clip(lower=0)
    err_high = (estimates["ci_high"] - estimates["estimate"]).fillna(0).clip(lower=0)
    ax.errorbar(estimates["estimate"], y, xerr=[err_low, err_high], fmt="o", capsize=3, color="navy")
    ax.set_yticks(y, [str(e)[:55] for e in estimates["estimator"]])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    if published is not None:
        ax.axvline(published, color="firebrick", linestyle="--", label=label)
        ax.legend(fontsize=8)
    ax.set_xlabel("effect on the US balance, US$ billion")
    ax.set_title(title)
    fig.tight_layout()
    return fig


#: Colours of the diagnostics in the specification curve.
DIAGNOSTIC_COLOURS = {"passed": "#1b7837", "failed": "#b2182b", "not tested": "#737373"}


def specification_curve(curve: pd.DataFrame, published: float | None, label: str, title: str,
                        source: str = "Source: the study's estimate table (notebooks 03-05); Census, Comtrade, "
                                      "gravity panels as listed in the report's provenance table.") -> plt.Figure:
    """Every estimate of the agreement's effect, sorted (a specification curve: Simonsohn, Simmons
    and Nelson 2020): point and 95% interval, coloured by whether the design passed its own
    diagnostics, the headline circled, a published figure as a dashed line.

    ``curve``: :func:`korus_research.synthesis.robustness`.
    """
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(curve) + 2.4))
    y = np.arange(len(curve))
    # a very wide interval would squeeze every other one: intervals are cut at +-limit, the cut marked
    limit = max(20.0, 3 * float(curve["estimate"].abs().max()), abs(published or 0) * 1.3)
    cut = False
    for status, colour in DIAGNOSTIC_COLOURS.items():
        rows = curve["diagnostics"] == status
        if not rows.any():
            continue
        sub = curve[rows]
        has = sub["interval"].eq("95% CI") & sub[["ci_low", "ci_high"]].notna().all(axis=1)
        low, high = sub["ci_low"].clip(lower=-limit), sub["ci_high"].clip(upper=limit)
        err = [(sub["estimate"] - low).where(has, 0).clip(lower=0), (high - sub["estimate"]).where(has, 0).clip(lower=0)]
        ax.errorbar(sub["estimate"], y[rows.to_numpy()], xerr=err, fmt="o", capsize=3, color=colour,
                    label=f"diagnostics {status}")
        for side, marker in ((sub["ci_low"] < -limit, "<"), (sub["ci_high"] > limit, ">")):
            if (side & has).any():
                cut = True
                ax.plot(np.where(marker == "<", -limit, limit) * np.ones(int((side & has).sum())),
                        y[rows.to_numpy()][(side & has).to_numpy()], marker, color=colour, markersize=8)
    ax.set_xlim(-limit * 1.05, limit * 1.05)
    if cut:
        source = f"Intervals wider than +-{limit:.0f} bn are cut (arrow); the robustness table gives them in full. " + source
    if curve["headline"].any():
        h = curve.index[curve["headline"]][0]
        ax.plot(curve.loc[h, "estimate"], y[curve.index.get_loc(h)], "o", markersize=15, markerfacecolor="none",
                markeredgecolor="black", label="headline (rule)")
    ax.set_yticks(y, [textwrap.fill(str(e), 44) for e in curve["estimator"]], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    if published is not None:
        ax.axvline(published, color="#2166ac", linestyle="--", label=label)
    ax.set_xlabel("effect on the US goods balance, US$ billion (95% interval where the design gives one)")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.text(0.01, 0.005, source, fontsize=7, color="#555555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def forest_plot(table: pd.DataFrame, pooled=None, highlight: str | None = "KOR", title: str = "",
                xlabel: str = "effect (log points), 95% interval", source: str = "",
                pooled_label: str = "pooled effect of US agreements") -> plt.Figure:
    """Forest plot: one row per agreement partner (estimate and interval), the pooled effect
    as a separate row and a vertical line, the ``highlight`` partner in red.

    Parameters
    ----------
    table : DataFrame
        ``partner, estimate, ci_low, ci_high``; optional ``agreement`` and ``cohort_label``
        (shown in the row label) and ``note`` (shown for a row without an estimate, e.g. a
        partner excluded from the panel). Rows are drawn top to bottom in table order.
    pooled : mapping or Series, optional
        ``estimate, ci_low, ci_high`` of the pooled effect (e.g. ``CSResult.pooled``).
    highlight : str, optional
        Partner drawn in red with a bold label.
    title, xlabel : str
        The x label should state the units.
    source : str
        The ``Source:`` line under the figure (``StaggeredPanel.source_line()``).

    Returns
    -------
    Figure
    """
    rows = table.reset_index(drop=True)
    n = len(rows) + (2 if pooled is not None else 0)
    fig, ax = plt.subplots(figsize=(9, 0.34 * n + 2.2))
    labels, ypos = [], []
    for i, row in rows.iterrows():
        label = str(row["partner"])
        if "agreement" in rows and isinstance(row.get("agreement"), str) and row["agreement"]:
            label += f"  {row['agreement']}"
        if "cohort_label" in rows and isinstance(row.get("cohort_label"), str) and row["cohort_label"]:
            label += f" ({row['cohort_label']})"
        labels.append(label)
        ypos.append(i)
        is_hl = highlight is not None and row["partner"] == highlight
        color = "firebrick" if is_hl else "navy"
        if pd.notna(row["estimate"]):
            low = row["estimate"] - row["ci_low"] if pd.notna(row["ci_low"]) else 0.0
            high = row["ci_high"] - row["estimate"] if pd.notna(row["ci_high"]) else 0.0
            ax.errorbar(row["estimate"], i, xerr=[[max(low, 0.0)], [max(high, 0.0)]], fmt="s" if is_hl else "o",
                        color=color, capsize=3, markersize=6 if is_hl else 4, linewidth=2 if is_hl else 1.2)
        else:
            note = row.get("note", "") if "note" in rows else ""
            text = f"not estimated{': ' + str(note) if isinstance(note, str) and note else ''}"
            ax.annotate(textwrap.shorten(text, 90), xy=(0, i), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7, color="dimgrey",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    if pooled is not None:
        y = len(rows) + 0.8
        ax.axhline(len(rows) - 0.1, color="grey", linewidth=0.6)
        est, low, high = float(pooled["estimate"]), float(pooled["ci_low"]), float(pooled["ci_high"])
        ax.fill_betweenx([y - 0.3, y + 0.3], low, high, color="darkorange", alpha=0.35)
        ax.plot(est, y, marker="D", color="darkorange", markersize=8)
        ax.axvline(est, color="darkorange", linestyle="--", linewidth=1)
        labels.append(pooled_label)
        ypos.append(y)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ypos, labels, fontsize=8)
    for tick in ax.get_yticklabels():
        if highlight is not None and tick.get_text().split(" ")[0] == highlight:
            tick.set_color("firebrick")
            tick.set_fontweight("bold")
        elif tick.get_text() == pooled_label:
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(textwrap.fill(title or "Effect of each US agreement on trade with its partner", 75), fontsize=11)
    fig.tight_layout()
    if source:
        fig.subplots_adjust(bottom=max(0.08, 0.9 / (0.34 * n + 2.2)))
        fig.text(0.01, 0.005, source if source.startswith("Source:") else f"Source: {source}", fontsize=7,
                 color="dimgrey", ha="left", va="bottom", wrap=True)
    return fig
