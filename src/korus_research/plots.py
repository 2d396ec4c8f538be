"""Figures of the study (matplotlib/seaborn), each returned as a Figure and saved as PNG.

Notebooks call :func:`save_figure`, which writes ``reports/figures/<group>/<name>.png``
so that the HTML report can show every figure, and beside it ``<name>.alt.txt`` (alt text,
whose first sentence is the caption) and, when given the data behind the figure,
``<name>.csv``. Given the processed tables the figure is drawn from (``sources=``), it draws a
``Source:`` line under the figure naming the agency, data set, registered raw files and their
vintages (:func:`source_line`, from :mod:`korus_research.dictionary` and
:mod:`korus_research.registry`).

Every figure follows one style, so that it reads at the report's width:

- a title, and axis labels that state the units;
- year axes with integer ticks only (:func:`year_axis`), date axes with a year or concise
  date locator whose labels do not run together (:func:`date_axis`);
- legends outside the data area (below the axes or to their right), at the theme's size
  (11 pt, never smaller than :data:`MIN_FONT_SIZE`), with full labels wrapped on word
  boundaries; category labels (heatmap rows, bars, estimators) wrapped, never cut;
- bar values and point estimates written on the figure;
- notes and the source line under the figure (:func:`add_footer`), outside every axes.

Layouts use matplotlib's constrained layout, so legends and colour bars placed outside the
axes are given room rather than laid over the data.
"""

from __future__ import annotations

import calendar
import os
import re
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from . import config
from .errors import ParameterError

sns.set_theme(style="whitegrid", context="notebook")

#: Resolution of the saved PNGs.
DPI = 120
#: Smallest font size (pt) any text of a figure is drawn at.
MIN_FONT_SIZE = 9
#: Size (pt) of the notes and source line under a figure.
FOOTER_FONT_SIZE = 9.5
#: Characters per line of wrapped category labels and legend entries.
LABEL_WIDTH = 44
#: Characters per line of a wrapped title.
TITLE_WIDTH = 72

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FOOTER = "korus-footer"
#: Footer kinds in the order they are stacked under a figure: notes, a source line the plotting
#: function made as a placeholder (replaced by ``save_figure(sources=...)``), a source line the
#: caller gave the plotting function (kept), and the registry source line of ``save_figure``.
_FOOTER_KINDS = ("note", "default-source", "source", "registry")

# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

#: Short name of the data set each processed table comes from (shown in the source line).
DATA_SETS: dict[str, str] = {
    "census_monthly": "US trade in goods by country",
    "census_annual": "US trade in goods by country",
    "enduse_imports": "US imports by end-use category",
    "comtrade_hs2": "US trade by HS chapter",
    "comtrade_vintage_overlap": "US trade by HS chapter",
    "comtrade_chapter_matches": "US trade by HS chapter",
    "fx_krw_usd_monthly": "KRW per US$",
    "fx_krw_usd_annual": "KRW per US$",
    "bis_eer_monthly": "effective exchange rates, broad basket",
    "fred_macro": "GDP and price series",
    "worldbank_indicators": "World Development Indicators",
    "benchmarks": "published estimates",
    "gravity_dta": "bilateral trade panel with Deep Trade Agreements",
    "gravity_wiod": "WIOD trade flows",
    "gravity_oecd": "OECD-Asia trade panel",
    "cepii_dist": "GeoDist distances",
}


def _vintage(text: str) -> str:
    """``"2026-01 release (1985 - Jan 2026)"`` -> ``"2026-01 release, 1985 - Jan 2026"``."""
    return re.sub(r"\s*\(([^()]*)\)", r", \1", text).strip()


def _check_sources(sources) -> list[str]:
    from . import dictionary

    valid = [*dictionary.TABLE_SOURCES, dictionary.ESTIMATES_TABLE]
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, Sequence) or not all(isinstance(s, str) for s in sources):
        raise ParameterError("sources", sources, valid, "a list of processed table names")
    unknown = [s for s in sources if s not in valid]
    if unknown:
        raise ParameterError("sources", unknown, valid, "not a processed table of korus_research.dictionary")
    return list(dict.fromkeys(sources))


def source_line(sources: list[str]) -> str:
    """The ``Source:`` line of a figure drawn from the given processed tables.

    Parameters
    ----------
    sources : list of str
        Processed table names, as in :data:`korus_research.dictionary.TABLE_SOURCES` (the
        Makefile's ``TABLES``), e.g. ``["census_annual", "comtrade_hs2"]``; also
        ``"estimates (results store)"`` for a figure of the study's own estimates.

    Returns
    -------
    str
        ``"Source: <agency> (<data set>): <raw file> (<vintage>), ...; <agency> ..."``: one group
        per agency in the order the tables are given, each registered raw file once.

    Raises
    ------
    ParameterError
        ``sources`` is not a list of table names, or names a table the dictionary does not know.

    Examples
    --------
    >>> source_line(["cepii_dist"])
    'Source: CEPII (GeoDist distances): gravity/dist_cepii.zip (GeoDist 2011).'
    """
    from . import dictionary, registry

    tables = _check_sources(sources)
    if not tables:
        raise ParameterError("sources", sources, "at least one processed table name", "empty")
    groups: dict[str, dict[str, list[str]]] = {}  # agency -> {"sets": [...], "files": [...]}
    seen: set[str] = set()
    extra: list[str] = []
    for table in tables:
        if table == dictionary.ESTIMATES_TABLE:
            extra.append("the study's results store (estimates saved by notebooks 01-07)")
            continue
        for path in dictionary.TABLE_SOURCES[table]:
            entry = registry.SOURCES.get(path)
            agency = entry.agency if entry else "unregistered file"
            group = groups.setdefault(agency, {"sets": [], "files": []})
            data_set = DATA_SETS.get(table)
            if data_set and data_set not in group["sets"] and data_set not in agency:
                group["sets"].append(data_set)
            if path not in seen:
                seen.add(path)
                group["files"].append(f"{path} ({_vintage(entry.vintage)})" if entry else path)
    parts = []
    for agency, group in groups.items():
        if not group["files"]:
            continue
        sets = "; ".join(group["sets"])
        name = agency if not sets else f"{agency}, {sets}" if agency.endswith(")") else f"{agency} ({sets})"
        parts.append(f"{name}: {', '.join(group['files'])}")
    return "Source: " + "; ".join(parts + extra) + "."


# ----------------------------------------------------------------------------------------------
# Footers (notes and source lines under a figure)
# ----------------------------------------------------------------------------------------------

def _footers(fig: plt.Figure) -> list:
    return [t for t in fig.texts if str(t.get_gid() or "").startswith(_FOOTER)]


def _footer_kind(text) -> str:
    return str(text.get_gid())[len(_FOOTER) + 1:]


def add_footer(fig: plt.Figure, text: str, kind: str = "note") -> None:
    """Write ``text`` under the figure, below everything else (axes, legends, colour bars).

    ``kind``: ``"note"`` (kept), ``"source"`` (a source line given by the caller: kept),
    ``"default-source"`` (a placeholder source line, replaced by ``save_figure(sources=...)``)
    or ``"registry"`` (the line of :func:`source_line`; one per figure). Footers stack in that
    order and are wrapped to the figure's width when the figure is finished (every plotting
    function of this module) or saved (:func:`save_figure`).
    """
    if kind not in _FOOTER_KINDS:
        raise ParameterError("kind", kind, _FOOTER_KINDS)
    if kind == "registry":
        for old in _footers(fig):
            if _footer_kind(old) in ("registry", "default-source"):
                old.remove()
    artist = fig.text(0.0, 0.0, text, gid=f"{_FOOTER}-{kind}", ha="left", va="top", fontsize=FOOTER_FONT_SIZE,
                      color="#3a3a3a")
    artist.set_label(text)  # the text before wrapping (the label is not used by a figure's text)


def _renderer(fig: plt.Figure):
    fig.draw_without_rendering()
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else None


def _freeze(fig: plt.Figure) -> None:
    """Lay the figure out once (its layout engine, e.g. constrained layout) and keep that layout.

    A figure saved or shown with ``bbox_inches="tight"`` is redrawn inside a larger box when
    footers sit under it; a legend anchored to the figure's edge would then move onto them.
    Figure legends placed by the layout are therefore pinned where the layout put them, and
    the layout engine is switched off (the figure's size does not change afterwards).
    """
    engine = fig.get_layout_engine()
    if engine is None or type(engine).__name__ == "PlaceHolderLayoutEngine":
        return
    footers = _footers(fig)
    for t in footers:
        t.set_visible(False)
    renderer = _renderer(fig)
    for t in footers:
        t.set_visible(True)
    if renderer is None:
        return
    to_figure = fig.transFigure.inverted()
    for legend in fig.legends:
        if legend.get_bbox_to_anchor() is fig.bbox:
            box = legend.get_window_extent(renderer).transformed(to_figure)
            legend.set_bbox_to_anchor(box, transform=fig.transFigure)
            legend.set_loc("center")
    fig.set_layout_engine("none")


def _layout_footers(fig: plt.Figure) -> None:
    """Place the footers under the figure's content, wrapped to its width (a figure saved or
    shown with ``bbox_inches="tight"`` includes them)."""
    _freeze(fig)
    footers = sorted(_footers(fig), key=lambda t: _FOOTER_KINDS.index(_footer_kind(t)))
    if not footers:
        return
    for t in footers:
        t.set_visible(False)
    renderer = _renderer(fig)
    content = fig.get_tightbbox(renderer) if renderer is not None else None  # inches, footers hidden
    for t in footers:
        t.set_visible(True)
    if content is None:
        return
    width_in, height_in = fig.get_size_inches()
    x0 = min(content.x0, 0.0) + 0.05
    available = max(content.x1, width_in) - x0 - 0.05
    y = content.y0 - 0.12
    for t in footers:
        raw = t.get_label()
        chars = max(30, int(available * 72 / (FOOTER_FONT_SIZE * 0.52)))
        while True:
            t.set_text("\n".join(textwrap.fill(p, chars, break_long_words=False, break_on_hyphens=False)
                                 for p in raw.split("\n")))
            extent = t.get_window_extent(renderer)
            if extent.width / fig.dpi <= available or chars <= 30:
                break
            chars -= 4
        t.set_position((x0 / width_in, y / height_in))
        y -= t.get_window_extent(renderer).height / fig.dpi + 0.04


# ----------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------

def _check_name(name, parameter: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().endswith(".png"):
        raise ParameterError(parameter, name, "a file name without folder or extension: letters, digits, '_', "
                             "'-' and '.', starting with a letter or digit")
    return name


def _check_group(group) -> str:
    parts = group.split("/") if isinstance(group, str) else []
    if not parts or not all(_NAME.match(p) and p not in (".", "..") for p in parts):
        raise ParameterError("group", group, "a relative folder under reports/figures, e.g. "
                             "'01_balance_overview/KOR' (letters, digits, '_', '-', '.' and '/')")
    return group


def _plain(text: str) -> str:
    return " ".join(str(text).split())


def describe(fig: plt.Figure) -> str:
    """Default alt text of a figure: its title (the first sentence, used as the caption), then
    each panel's title, axes and series, the colour scale, and the notes and source line."""
    axes = [ax for ax in fig.axes if ax.get_visible()]
    panels = [ax for ax in axes if ax.get_label() != "<colorbar>"]
    titles = [_plain(ax.get_title()) for ax in panels if ax.get_title()]
    title = _plain(fig.get_suptitle()) or (titles[0] if titles else "")
    sentences = [(title or "Figure").rstrip(".") + "."]
    for i, ax in enumerate(panels):
        bits = []
        if len(panels) > 1:
            bits.append(f"panel {i + 1}" + (f" ({_plain(ax.get_title())})" if ax.get_title() else ""))
        if ax.get_xlabel():
            bits.append(f"horizontal axis: {_plain(ax.get_xlabel())}")
        if ax.get_ylabel():
            bits.append(f"vertical axis: {_plain(ax.get_ylabel())}")
        if ax.get_legend() is not None:
            bits.append("series: " + "; ".join(_plain(t.get_text()) for t in ax.get_legend().get_texts()))
        if bits:
            text = "; ".join(bits)
            sentences.append(text[0].upper() + text[1:] + ".")
    for ax in axes:
        if ax.get_label() == "<colorbar>" and ax.get_ylabel():
            sentences.append(f"Colour scale: {_plain(ax.get_ylabel())}.")
    legend_labels = [_plain(t.get_text()) for legend in fig.legends for t in legend.get_texts()]
    if legend_labels:
        sentences.append("Series: " + "; ".join(legend_labels) + ".")
    for t in sorted(_footers(fig), key=lambda t: _FOOTER_KINDS.index(_footer_kind(t))):
        sentences.append(_plain(t.get_label()).rstrip(".") + ".")
    return " ".join(sentences)


def _temp(folder: Path, name: str, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=f"{suffix}.tmp")
    os.close(fd)
    return tmp


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def save_figure(fig: plt.Figure, name: str, group: str, *, sources: list[str] | None = None,
                alt: str | None = None, data: pd.DataFrame | pd.Series | None = None) -> Path:
    """Save ``fig`` as ``reports/figures/<group>/<name>.png``, close it, return the path.

    Parameters
    ----------
    fig : Figure
    name : str
        File name without extension (letters, digits, ``_``, ``-``, ``.``).
    group : str
        Folder under ``reports/figures`` (e.g. ``store.figure_group("01_balance_overview")``).
    sources : list of str, optional
        Processed tables the figure is drawn from (:func:`source_line`): a ``Source:`` line
        naming the agency, data set, raw files and vintages is drawn under the figure (it
        replaces a placeholder source line of the plotting function; notes and a source line
        the caller gave the plotting function are kept).
    alt : str, optional
        Alt text, written to ``<name>.alt.txt`` and to the PNG's ``Description``. Its first
        sentence is the report's caption. Default: :func:`describe` (title, axes, series,
        notes, source line).
    data : DataFrame or Series, optional
        The data behind the figure, written to ``<name>.csv`` (full precision, a meaningful
        index as leading columns). Without it, a CSV left by an earlier save is removed.

    Every file is written to a temporary file in the same folder and moved into place, the
    PNG last; the PNG's metadata hold no software version or time (identical figures give
    identical bytes). Closing keeps the inline backend from drawing the figure a second
    time; the closed figure still displays as the cell's result.

    Raises
    ------
    ParameterError
        A bad ``name``, ``group``, ``sources``, ``alt`` or ``data``.
    """
    _check_name(name, "name")
    _check_group(group)
    if not isinstance(fig, plt.Figure):
        raise ParameterError("fig", type(fig).__name__, "a matplotlib Figure")
    tables = _check_sources(sources) if sources is not None else []
    if alt is not None and (not isinstance(alt, str) or not alt.strip()):
        raise ParameterError("alt", alt, "a non-empty text (or None for the default alt text)")
    if isinstance(data, pd.Series):
        data = data.to_frame(data.name if data.name is not None else "value")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ParameterError("data", type(data).__name__, "a pandas DataFrame or Series (or None)")

    if tables:
        add_footer(fig, source_line(tables), "registry")
    _layout_footers(fig)
    alt_text = _plain(alt) if alt is not None else describe(fig)
    source = next((_plain(t.get_label()) for t in _footers(fig) if _footer_kind(t) == "registry"), None)

    folder = config.figures_dir() / group
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    alt_path, csv_path = folder / f"{name}.alt.txt", folder / f"{name}.csv"
    temps: list[str] = []
    try:
        publish = []
        if data is not None:
            tmp = _temp(folder, name, ".csv")
            temps.append(tmp)
            frame = data if isinstance(data.index, pd.RangeIndex) else data.reset_index()
            frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
            publish.append((tmp, csv_path))
        tmp = _temp(folder, name, ".alt.txt")
        temps.append(tmp)
        Path(tmp).write_text(alt_text + "\n", encoding="utf-8")
        publish.append((tmp, alt_path))
        tmp = _temp(folder, name, ".png")
        temps.append(tmp)
        metadata = {"Software": None, "Title": _latin1(alt_text.split(". ")[0].rstrip(".")),
                    "Description": alt_text}
        if source:
            metadata["Source"] = source
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15, metadata=metadata)
        publish.append((tmp, path))
        for tmp, dest in publish:
            config.publish(tmp, dest)
        if data is None:
            csv_path.unlink(missing_ok=True)
    finally:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# Shared pieces of style
# ----------------------------------------------------------------------------------------------

def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)


def wrap(text, width: int = LABEL_WIDTH) -> str:
    """``text`` wrapped on word boundaries (never cut inside a word) to ``width`` characters."""
    return textwrap.fill(_plain(text), width, break_long_words=False, break_on_hyphens=False)


def year_axis(ax, axis: str = "x") -> None:
    """Integer year ticks only (no 2012.5), written without thousands separators or offsets."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mticker.MaxNLocator(integer=True, nbins="auto", min_n_ticks=3))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.0f}"))
    target.set_minor_locator(mticker.NullLocator())


def date_axis(ax, axis: str = "x", maxticks: int = 8) -> None:
    """Monthly or quarterly dates: at most ``maxticks`` ticks, concise labels (years, or months
    within a short span), so that the labels do not run together."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    locator = mdates.AutoDateLocator(minticks=3, maxticks=maxticks)
    target.set_major_locator(locator)
    target.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))


def _time_x(index) -> tuple[np.ndarray | pd.Index, str]:
    """x values of a time index and its kind: ``"year"`` (integers) or ``"date"``."""
    if isinstance(index, pd.PeriodIndex):
        if index.freqstr.startswith(("Y", "A")):
            return np.asarray(index.year), "year"
        return index.to_timestamp(), "date"
    if isinstance(index, pd.DatetimeIndex):
        return index, "date"
    values = np.asarray(index)
    if np.issubdtype(values.dtype, np.number):
        return values, "year"
    return pd.to_datetime(values), "date"


def _time_axis(ax, kind: str) -> None:
    (year_axis if kind == "year" else date_axis)(ax)
    ax.set_xlabel("year" if kind == "year" else "date")


def legend_below(fig: plt.Figure, axes, ncol: int | None = None, width: int = LABEL_WIDTH):
    """One legend for ``axes`` under the figure (outside every axes), full labels wrapped.

    The figure needs ``layout="constrained"`` (which gives the legend its room).
    """
    handles, labels = [], []
    for ax in np.atleast_1d(axes):
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            if lbl and not lbl.startswith("_") and lbl not in labels:
                handles.append(h)
                labels.append(lbl)
    if not handles:
        return None
    longest = max(len(lbl) for lbl in labels)
    ncol = ncol or max(1, min(len(labels), 4 if longest <= 22 else 3 if longest <= 32 else 2))
    return fig.legend(handles, [wrap(lbl, width) for lbl in labels], loc="outside lower center", ncol=ncol,
                      frameon=False)


def legend_right(ax, width: int = 34, **kwargs):
    """A legend to the right of ``ax``, outside its data area, full labels wrapped."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, [wrap(lbl, width) for lbl in labels], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, frameon=False, **kwargs)


def _row_height(labels: Sequence[str], fontsize: float = 11.0, minimum: float = 0.34) -> float:
    """Height (inches) of one row of a chart with one row per (wrapped) label, so that labels of
    neighbouring rows never overlap."""
    lines = max((str(lbl).count("\n") + 1 for lbl in labels), default=1)
    return max(minimum, lines * fontsize * 1.25 / 72 + 0.12)


def _title(ax, text: str, width: int = TITLE_WIDTH) -> None:
    ax.set_title(wrap(text, width))


def _number(value: float, decimals: int = 1, sign: bool = False) -> str:
    """A value as shown on a figure: rounded, never ``-0.0``."""
    if value is None or not np.isfinite(value):
        return "–"
    rounded = round(float(value), decimals)
    if rounded == 0:
        rounded = 0.0
    return f"{rounded:+.{decimals}f}" if sign and rounded != 0 else f"{rounded:.{decimals}f}"


def _mark_entry(ax, entry: pd.Timestamp | None, label: str, as_year: bool):
    """A dashed vertical line at the agreement's entry into force, labelled for the legend."""
    if entry is None:
        return None
    x = entry.year + (entry.dayofyear - 1) / 365.25 if as_year else entry
    return ax.axvline(x, color="firebrick", linestyle="--", linewidth=1.2,
                      label=f"{label} ({entry.day} {entry:%b} {entry.year})")


def _finish(fig: plt.Figure) -> plt.Figure:
    _layout_footers(fig)
    return fig


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------

def balance_over_time(series: pd.DataFrame, partner: str, entry: pd.Timestamp | None,
                      entry_label: str = "agreement in force") -> plt.Figure:
    """US exports, imports (lines) and balance (bars) with the partner by year."""
    fig, ax = _figure(9, 5)
    years, _ = _time_x(series.index)
    ax.bar(years, series["balance_usd_bn"], color="steelblue", alpha=0.6, label="US balance (exports - imports)")
    ax.plot(years, series["exports_usd_bn"], color="darkgreen", label="US exports")
    ax.plot(years, series["imports_usd_bn"], color="darkorange", label="US imports")
    ax.axhline(0, color="black", linewidth=0.8)
    _mark_entry(ax, entry, entry_label, as_year=True)
    year_axis(ax)
    ax.set_xlabel("year")
    ax.set_ylabel("US$ billion")
    span = f", {int(min(years))}-{int(max(years))}" if len(years) else ""
    _title(ax, f"US goods trade with {partner}{span} (Census basis)")
    legend_below(fig, ax)
    return _finish(fig)


def monthly_pattern(monthly: pd.DataFrame, partner: str, entry: pd.Timestamp | None,
                    entry_label: str = "agreement in force") -> plt.Figure:
    """Monthly balance with a 12-month moving average, and the average by calendar month."""
    fig, (ax1, ax2) = _figure(11, 4.8, 1, 2, gridspec_kw={"width_ratios": [3, 1]})
    ax1.plot(monthly["date"], monthly["balance_usd_bn"], color="lightsteelblue", label="monthly balance")
    ax1.plot(monthly["date"], monthly["balance_usd_bn"].rolling(12).mean(), color="navy",
             label="12-month moving average")
    ax1.axhline(0, color="black", linewidth=0.8)
    _mark_entry(ax1, entry, entry_label, as_year=False)
    date_axis(ax1)
    ax1.set_xlabel("month")
    ax1.set_ylabel("US$ billion per month")
    _title(ax1, f"Monthly US goods balance with {partner}", 60)
    season = monthly.groupby("month")["balance_usd_bn"].mean().reindex(range(1, 13))
    bars = ax2.barh(np.arange(12), season.to_numpy(), color="steelblue")
    ax2.use_sticky_edges = False
    ax2.set_yticks(np.arange(12), [calendar.month_abbr[m] for m in range(1, 13)])
    ax2.invert_yaxis()
    ax2.bar_label(bars, labels=[_number(v) for v in season.to_numpy()], padding=3, fontsize=MIN_FONT_SIZE + 1)
    ax2.margins(x=0.25, y=0.02)
    ax2.axvline(0, color="black", linewidth=0.8)
    ax2.set_xlabel("US$ billion per month")
    ax2.set_ylabel("calendar month")
    ax2.set_title("Average by calendar month")
    legend_below(fig, ax1)
    return _finish(fig)


def top_deficits_bar(table: pd.DataFrame, year: int, highlight: str | None = None) -> plt.Figure:
    """Horizontal bars of the largest US goods deficits, the studied partner highlighted."""
    labels = [wrap(p, 30) for p in table["partner"].to_list()[::-1]]
    fig, ax = _figure(8.5, _row_height(labels) * len(labels) + 1.8)
    ax.use_sticky_edges = False
    values = table["balance_usd_bn"].to_numpy()[::-1]
    colors = ["firebrick" if iso == highlight else "steelblue" for iso in table.index[::-1]]
    y = np.arange(len(values))
    bars = ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    ax.bar_label(bars, labels=[_number(v) for v in values], padding=3, fontsize=MIN_FONT_SIZE + 1)
    ax.margins(x=0.12, y=0.02)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("US goods balance, US$ billion (negative = US deficit)")
    ax.set_ylabel("partner")
    _title(ax, f"Largest US goods deficits by partner, {year}" + (f" ({highlight} in red)" if highlight else ""))
    return _finish(fig)


def waterfall(contributions: pd.DataFrame, title: str, scale: float = 1e9,
              unit: str = "US$ billion") -> plt.Figure:
    """Waterfall of the change in the balance by group (from ``balance_contributions``)."""
    parts = contributions.drop(index="total")["balance_change"] / scale
    parts = parts.reindex(parts.abs().sort_values(ascending=False).index)
    total = contributions.loc["total", "balance_change"] / scale
    labels = [wrap(lbl, 48) for lbl in list(parts.index) + ["total change"]]
    fig, ax = _figure(9.5, _row_height(labels) * len(labels) + 1.8)
    ax.use_sticky_edges = False  # room for the value labels beyond the bars' ends
    start = 0.0
    for i, value in enumerate(parts.to_numpy()):
        bar = ax.barh(i, value, left=start, color="firebrick" if value < 0 else "seagreen")
        ax.bar_label(bar, labels=[_number(value, sign=True)], padding=3, fontsize=MIN_FONT_SIZE + 1)
        start += value
    bar = ax.barh(len(parts), total, color="navy")
    ax.bar_label(bar, labels=[_number(total, sign=True)], padding=3, fontsize=MIN_FONT_SIZE + 1, fontweight="bold")
    ax.set_yticks(range(len(labels)), labels)
    ax.margins(x=0.12, y=0.01)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"change in the US balance, {unit} (negative = larger deficit)")
    ax.set_ylabel("product group")
    _title(ax, title)
    return _finish(fig)


def _period_label(period) -> str:
    match = re.fullmatch(r"(\d{4})-(\d{4})", str(period))
    return f"{match.group(1)}-{match.group(2)[2:]}" if match else str(period)


def contributions_heatmap(consecutive: pd.DataFrame, title: str, scale: float = 1e9) -> plt.Figure:
    """Heatmap of yearly contributions to the balance change (group x period).

    Row labels are wrapped on word boundaries (never cut); periods ``2007-2008`` are shown as
    ``2007-08``; cells are annotated (one decimal, no ``-0.0``) when there are at most 25 rows.
    """
    from .decomposition import group_sort_key

    wide = consecutive.pivot_table(index="group", columns="period", values="balance_change", aggfunc="sum") / scale
    wide = wide.loc[sorted(wide.index, key=group_sort_key)]
    rows = [wrap(i, 48) for i in wide.index]
    fig, ax = _figure(0.72 * wide.shape[1] + 5.4, _row_height(rows, MIN_FONT_SIZE + 1) * wide.shape[0] + 2.0)
    values = wide.to_numpy()
    lim = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    lim = lim or 1.0
    annot = wide.shape[0] <= 25
    labels = np.vectorize(lambda v: _number(v) if np.isfinite(v) else "")(values) if annot else False
    sns.heatmap(wide, cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot=labels, fmt="",
                annot_kws={"size": MIN_FONT_SIZE}, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "change in the US balance, US$ billion", "shrink": 0.6}, ax=ax)
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows, rotation=0, fontsize=MIN_FONT_SIZE + 1, va="center")
    ax.set_xticks(np.arange(wide.shape[1]) + 0.5, [_period_label(p) for p in wide.columns],
                  rotation=0 if wide.shape[1] <= 14 else 45, fontsize=MIN_FONT_SIZE + 1)
    _title(ax, title)
    ax.set_xlabel("period (change from one year to the next)")
    ax.set_ylabel("product group")
    return _finish(fig)


def autos_bases(table: pd.DataFrame, partner: str) -> plt.Figure:
    """Automotive imports on the Comtrade (CIF, chapter 87) and Census end-use bases."""
    fig, ax = _figure(9, 5)
    years, _ = _time_x(table.index)
    ax.plot(years, table["comtrade_ch87_cif_usd_bn"], marker="o", label="Comtrade chapter 87, CIF")
    ax.plot(years, table["comtrade_ch87_at_census_value_usd_bn"], marker="o", linestyle="--",
            label="Comtrade chapter 87 at Census customs value")
    ax.plot(years, table["census_enduse_autos_usd_bn"], marker="s", label="Census end use: cars and parts")
    year_axis(ax)
    ax.set_xlabel("year")
    ax.set_ylabel("US imports, US$ billion")
    _title(ax, f"US automotive imports from {partner} on two data bases")
    legend_below(fig, ax, ncol=2)
    return _finish(fig)


def event_study_plot(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Event-study coefficients with intervals, one line per model (label -> coefficients)."""
    fig, ax = _figure(9, 5.2)
    offsets = np.linspace(-0.15, 0.15, len(tables)) if len(tables) > 1 else [0.0]
    times: set[int] = set()
    for (label, table), off in zip(tables.items(), offsets, strict=True):
        x = table["event_time"] + off
        times.update(int(t) for t in table["event_time"])
        ax.errorbar(x, table["estimate"], yerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
                    fmt="o-", capsize=3, label=f"{label} (95% interval)", markersize=5, linewidth=1.2)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="firebrick", linestyle="--", linewidth=1, label="entry into force")
    if times:
        ticks = sorted(times)
        ax.set_xticks(ticks, [str(t) for t in ticks])
    else:
        year_axis(ax)
    ax.set_xlabel("years since entry into force (endpoints binned)")
    ax.set_ylabel("log points vs the year before entry")
    _title(ax, title)
    legend_below(fig, ax)
    return _finish(fig)


def synth_plot(paths: dict[str, pd.DataFrame], entry_year: int, partner: str) -> plt.Figure:
    """Actual versus synthetic share, one panel per flow."""
    fig, axes = _figure(5.2 * len(paths) + 0.4, 4.8, 1, len(paths), squeeze=False)
    for ax, (flow, path) in zip(axes[0], paths.items(), strict=True):
        years, _ = _time_x(path.index)
        ax.plot(years, path["actual"] * 100, label=f"{partner}, actual", color="navy")
        ax.plot(years, path["synthetic"] * 100, label="synthetic control", color="darkorange", linestyle="--")
        ax.axvline(entry_year - 0.5, color="firebrick", linestyle="--", linewidth=1,
                   label=f"entry into force ({entry_year})")
        year_axis(ax)
        ax.set_xlabel("year")
        ax.set_ylabel(f"share of US {flow}, %")
        _title(ax, f"{partner}'s share of US {flow}", 40)
    legend_below(fig, axes[0])
    return _finish(fig)


def placebo_plot(placebos: dict[str, pd.DataFrame], partner: str) -> plt.Figure:
    """Post/pre RMSPE ratios of every unit, the treated partner highlighted."""
    n = max((len(t) for t in placebos.values()), default=1)
    fig, axes = _figure(5.0 * len(placebos) + 0.4, 0.24 * n + 2.2, 1, len(placebos), squeeze=False)
    for ax, (flow, table) in zip(axes[0], placebos.items(), strict=True):
        units = table["unit"].to_list()[::-1]
        values = np.log10(table["ratio"].to_numpy()[::-1])
        colors = ["firebrick" if u == partner else "steelblue" for u in units]
        y = np.arange(len(units))
        bars = ax.barh(y, values, color=colors)
        ax.use_sticky_edges = False
        ax.set_yticks(y, units, fontsize=MIN_FONT_SIZE + 0.5)
        for tick in ax.get_yticklabels():
            if tick.get_text() == partner:
                tick.set_color("firebrick")
                tick.set_fontweight("bold")
        mine = [i for i, u in enumerate(units) if u == partner]
        if mine:
            ax.bar_label(bars, labels=[_number(v, 2) if i in mine else "" for i, v in enumerate(values)],
                         padding=3, fontsize=MIN_FONT_SIZE + 1, color="firebrick")
        ax.margins(x=0.12, y=0.01)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("log10 of the post/pre-entry RMSPE ratio")
        ax.set_ylabel("unit (partner)")
        p = table.attrs.get("p_value", float("nan"))
        _title(ax, f"Placebos in space, US {flow} (p = {_number(p, 2)})", 40)
    return _finish(fig)


def coefficient_plot(table: pd.DataFrame, label: str, title: str) -> plt.Figure:
    """Point estimates with intervals, one row per ``label`` (columns estimate, ci_low, ci_high)."""
    labels = [wrap(x) for x in table[label]]
    fig, ax = _figure(9, _row_height(labels, minimum=0.45) * len(labels) + 1.9)
    y = np.arange(len(table))
    est = table["estimate"].to_numpy(dtype=float)
    low, high = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
    ax.errorbar(est, y, xerr=[np.clip(est - low, 0, None), np.clip(high - est, 0, None)], fmt="o", capsize=4,
                color="navy")
    for yi, e, h in zip(y, est, high, strict=True):
        ax.annotate(_number(e, 3), xy=(h if np.isfinite(h) else e, yi), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=MIN_FONT_SIZE + 1, color="navy")
    ax.set_yticks(y, labels)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set_xlabel("coefficient (log points), 95% interval")
    ax.set_ylabel("specification")
    _title(ax, title)
    return _finish(fig)


def counterfactual_flows(table: pd.DataFrame, reporter: str, partner: str, label: str) -> plt.Figure:
    """Actual and no-agreement flows between two members (from ``gravity.pe_counterfactual``)."""
    fig, ax = _figure(9, 5.2)
    years, kind = _time_x(table.index)
    for direction, color in ((f"{reporter} exports to {partner}", "darkgreen"), (f"{reporter} imports from {partner}", "darkorange")):
        ax.plot(years, table[f"{direction}, actual"], marker="o", color=color, label=f"{direction}, actual")
        ax.plot(years, table[f"{direction}, without"], marker="o", linestyle="--", color=color,
                label=f"{direction}, without the agreement")
    _time_axis(ax, kind)
    ax.set_ylabel("US$ billion")
    _title(ax, f"Actual and counterfactual flows ({label})")
    legend_below(fig, ax, ncol=2)
    return _finish(fig)


def macro_paths(paths: dict[str, pd.DataFrame], partner: str, base) -> plt.Figure:
    """Actual, fitted and counterfactual (agreement off, exchange rate held) real flows."""
    fig, axes = _figure(5.2 * len(paths) + 0.4, 4.8, 1, len(paths), squeeze=False)
    for ax, (label, path) in zip(axes[0], paths.items(), strict=True):
        x, kind = _time_x(path.index)
        ax.plot(x, path["actual"] / 1e3, color="navy", label="actual")
        ax.plot(x, path["fitted"] / 1e3, color="darkorange", linestyle="--", label="fitted")
        ax.plot(x, path["counterfactual"] / 1e3, color="seagreen", linestyle=":",
                label=f"no agreement, exchange rate at {base}")
        _time_axis(ax, kind)
        ax.set_ylabel("real flow, 2012 US$ billion")
        _title(ax, f"{label} ({partner})", 40)
    legend_below(fig, axes[0])
    return _finish(fig)


def rer_plot(rer: pd.Series, partner: str, measure: str) -> plt.Figure:
    """The real exchange rate as an index (sample mean = 100)."""
    fig, ax = _figure(9, 4.4)
    x, kind = _time_x(rer.index)
    ax.plot(x, rer.to_numpy() / rer.mean() * 100, color="navy")
    ax.axhline(100, color="black", linewidth=0.6, linestyle=":")
    _time_axis(ax, kind)
    ax.set_ylabel("index, sample mean = 100")
    _title(ax, f"Real exchange rate, {partner} currency per US$ ({measure}; up = {partner} real depreciation)")
    return _finish(fig)


def savings_plot(table: pd.DataFrame, partner: str) -> plt.Figure:
    """Saving, investment and current accounts (% of GDP) of the USA and the partner."""
    fig, ax = _figure(9.5, 5.6)
    x, kind = _time_x(table.index)
    for col in table.columns:
        style = "-" if "current account" in col or "balance" in col else "--"
        ax.plot(x, table[col], style, label=col)
    ax.axhline(0, color="black", linewidth=0.8)
    _time_axis(ax, kind)
    ax.set_ylabel("% of GDP")
    _title(ax, f"Saving, investment and current accounts: USA and {partner}")
    legend_below(fig, ax, ncol=2)
    return _finish(fig)


def attribution_chart(table: pd.DataFrame, partner: str, base: int, compare: int) -> plt.Figure:
    """Stacked bar of the attribution of the balance change, beside the total.

    Each part is labelled with its value on the bar when the segment is tall enough, and in
    the legend (full component names, wrapped) in every case.
    """
    totals = [i for i in table.index if str(i).startswith("total")]
    parts = table.drop(index=totals)["usd_bn"]
    total = table.loc[totals[0], "usd_bn"]
    fig, ax = _figure(10, 6)
    colors = sns.color_palette("Set2", len(parts))
    pos_base = neg_base = 0.0
    span = max(sum(v for v in parts if v > 0), 0) - min(sum(v for v in parts if v < 0), 0)
    span = max(span, abs(total), 1e-9)
    for (name, value), color in zip(parts.items(), colors, strict=True):
        bottom = pos_base if value >= 0 else neg_base
        ax.bar(0, value, bottom=bottom, color=color, label=f"{name} ({_number(value, sign=True)})", width=0.55,
               edgecolor="white")
        if abs(value) >= 0.06 * span:
            ax.text(0, bottom + value / 2, _number(value, sign=True), ha="center", va="center",
                    fontsize=MIN_FONT_SIZE + 2, color="black")
        if value >= 0:
            pos_base += value
        else:
            neg_base += value
    bar = ax.bar(1, total, color="navy", width=0.55, label=f"total change ({_number(total, sign=True)})")
    ax.bar_label(bar, labels=[_number(total, sign=True)], padding=3, fontsize=MIN_FONT_SIZE + 2, fontweight="bold")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([0, 1], ["attributed parts", "total change"])
    ax.margins(y=0.08)
    ax.set_xlabel("")
    ax.set_ylabel("US$ billion (negative = larger US deficit)")
    _title(ax, f"Change in the US goods balance with {partner}, {base}-{compare}", 60)
    legend_right(ax, width=36)
    return _finish(fig)


def estimates_beside_published(estimates: pd.DataFrame, published: float | None, label: str, title: str) -> plt.Figure:
    """Our estimates with intervals (forest plot) and a published figure as a line."""
    labels = [wrap(e) for e in estimates["estimator"]]
    fig, ax = _figure(9.5, _row_height(labels, minimum=0.45) * len(labels) + 2.4)
    y = np.arange(len(estimates))
    err_low = (estimates["estimate"] - estimates["ci_low"]).fillna(0).clip(lower=0)
    err_high = (estimates["ci_high"] - estimates["estimate"]).fillna(0).clip(lower=0)
    ax.errorbar(estimates["estimate"].to_numpy(dtype=float), y,
                xerr=np.vstack([err_low.to_numpy(dtype=float), err_high.to_numpy(dtype=float)]), fmt="o", capsize=3,
                color="navy",
                label="estimate, 95% interval")
    for yi, e, h in zip(y, estimates["estimate"], estimates["estimate"] + err_high, strict=True):
        ax.annotate(_number(e), xy=(h, yi), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=MIN_FONT_SIZE + 1, color="navy")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.axvline(0, color="black", linewidth=0.8)
    if published is not None:
        ax.axvline(published, color="firebrick", linestyle="--", label=f"{label} ({_number(published)})")
    ax.set_xlabel("effect on the US balance, US$ billion")
    ax.set_ylabel("estimator")
    _title(ax, title)
    legend_below(fig, ax)
    return _finish(fig)


#: Colours of the diagnostics in the specification curve.
DIAGNOSTIC_COLOURS = {"passed": "#1b7837", "failed": "#b2182b", "not tested": "#737373"}

#: Placeholder source line of :func:`specification_curve` (replaced by ``save_figure(sources=...)``).
SPECIFICATION_SOURCE = ("Source: the study's estimate table (notebooks 03-05); Census, Comtrade, gravity panels as "
                        "listed in the report's provenance table.")


def specification_curve(curve: pd.DataFrame, published: float | None, label: str, title: str,
                        source: str | None = None) -> plt.Figure:
    """Every estimate of the agreement's effect, sorted (a specification curve: Simonsohn, Simmons
    and Nelson 2020): point and 95% interval, coloured by whether the design passed its own
    diagnostics, the headline circled, a published figure as a dashed line.

    ``curve``: :func:`korus_research.synthesis.robustness`. ``source``: the source line under
    the figure; by default :data:`SPECIFICATION_SOURCE`, which ``save_figure(sources=...)``
    replaces by the registry's line.
    """
    labels = [wrap(e) for e in curve["estimator"]]
    fig, ax = _figure(11, _row_height(labels, MIN_FONT_SIZE + 1, minimum=0.5) * len(labels) + 2.0)
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
        err = np.vstack([(sub["estimate"] - low).where(has, 0).clip(lower=0).to_numpy(dtype=float),
                         (high - sub["estimate"]).where(has, 0).clip(lower=0).to_numpy(dtype=float)])
        ax.errorbar(sub["estimate"].to_numpy(dtype=float), y[rows.to_numpy()], xerr=err, fmt="o", capsize=3, color=colour,
                    label=f"diagnostics {status}")
        for yi, e in zip(y[rows.to_numpy()], sub["estimate"], strict=True):
            ax.annotate(_number(e), xy=(e, yi), xytext=(0, 7), textcoords="offset points", ha="center",
                        va="bottom", fontsize=MIN_FONT_SIZE, color=colour)
        for side, marker in ((sub["ci_low"] < -limit, "<"), (sub["ci_high"] > limit, ">")):
            if (side & has).any():
                cut = True
                ax.plot(np.where(marker == "<", -limit, limit) * np.ones(int((side & has).sum())),
                        y[rows.to_numpy()][(side & has).to_numpy()], marker, color=colour, markersize=8)
    ax.set_xlim(-limit * 1.05, limit * 1.05)
    if cut:
        add_footer(fig, f"Intervals wider than +-{limit:.0f} bn are cut (arrow); the robustness table gives them "
                        "in full.", "note")
    if curve["headline"].any():
        h = curve.index[curve["headline"]][0]
        ax.plot(curve.loc[h, "estimate"], y[curve.index.get_loc(h)], "o", markersize=15, markerfacecolor="none",
                markeredgecolor="black", label="headline (rule)")
    ax.set_yticks(y, labels, fontsize=MIN_FONT_SIZE + 1)
    ax.set_ylim(len(curve) - 0.4, -0.7)
    ax.axvline(0, color="black", linewidth=0.8)
    if published is not None:
        ax.axvline(published, color="#2166ac", linestyle="--", label=f"{label} ({_number(published)})")
    ax.set_xlabel("effect on the US goods balance, US$ billion (95% interval where the design gives one)")
    ax.set_ylabel("design")
    _title(ax, title, 80)
    legend_right(ax, width=28)
    add_footer(fig, source or SPECIFICATION_SOURCE, "default-source" if source is None else "source")
    return _finish(fig)


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
        The ``Source:`` line under the figure (``StaggeredPanel.source_line()``); kept when
        ``save_figure(sources=...)`` adds the registry's line under it.

    Returns
    -------
    Figure
    """
    rows = table.reset_index(drop=True)
    n = len(rows) + (2 if pooled is not None else 0)
    fig, ax = _figure(9.5, 0.36 * n + 2.2)
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
                        textcoords="offset points", va="center", fontsize=MIN_FONT_SIZE, color="dimgrey",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    if pooled is not None:
        y = len(rows) + 0.8
        ax.axhline(len(rows) - 0.1, color="grey", linewidth=0.6)
        est, low, high = float(pooled["estimate"]), float(pooled["ci_low"]), float(pooled["ci_high"])
        ax.fill_betweenx([y - 0.3, y + 0.3], low, high, color="darkorange", alpha=0.35)
        ax.plot(est, y, marker="D", color="darkorange", markersize=8)
        ax.annotate(f"{_number(est, 3)} [{_number(low, 3)}, {_number(high, 3)}]", xy=(high, y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=MIN_FONT_SIZE + 1, color="darkorange")
        ax.axvline(est, color="darkorange", linestyle="--", linewidth=1)
        labels.append(pooled_label)
        ypos.append(y)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ypos, labels, fontsize=MIN_FONT_SIZE + 1)
    for tick in ax.get_yticklabels():
        if highlight is not None and tick.get_text().split(" ")[0] == highlight:
            tick.set_color("firebrick")
            tick.set_fontweight("bold")
        elif tick.get_text() == pooled_label:
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.margins(x=0.1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("agreement partner")
    ax.set_title(wrap(title or "Effect of each US agreement on trade with its partner", TITLE_WIDTH))
    if source:
        add_footer(fig, source if source.startswith("Source:") else f"Source: {source}", "source")
    return _finish(fig)


def figure_data(frame: pd.DataFrame | Mapping[str, pd.DataFrame], key: str = "panel") -> pd.DataFrame:
    """The data behind a figure drawn from several frames (``{"imports": path, ...}``), as one
    long frame with a ``key`` column, for ``save_figure(data=...)``."""
    if isinstance(frame, pd.DataFrame):
        return frame
    parts = []
    for name, part in frame.items():
        part = part if isinstance(part.index, pd.RangeIndex) else part.reset_index()
        parts.append(part.assign(**{key: name})[[key, *part.columns]])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
