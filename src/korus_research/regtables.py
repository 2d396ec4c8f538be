"""Regression tables for papers (LaTeX) and for the report (HTML), built from the results store.

A :class:`RegressionTable` is the classic layout of an economics paper: one column per model,
one row per term holding the coefficient with its significance stars and, beneath it, the
standard error in parentheses; then footer rows (observations, fixed effects, clustering,
pseudo R², estimator ...), a title, a note and a source. It renders to

- :meth:`RegressionTable.to_latex`: a ``booktabs`` table (plain ``tabular``, no ``siunitx``,
  no ``makecell``/``threeparttable``), which compiles with any standard LaTeX installation
  (``\\usepackage{booktabs}`` is the only package it needs); every text is escaped
  (:func:`latex_escape`);
- :meth:`RegressionTable.to_html`: a plain ``<table class="korus-table regression-table">``
  inside ``<div class="table-scroll">`` (the classes of :mod:`korus_research.formatting`, so
  that its :data:`~korus_research.formatting.CSS` applies), number cells of class ``num``;
- :meth:`RegressionTable.to_frame`: the text a reader sees, as a DataFrame (for CSV/XLSX
  downloads through :func:`korus_research.formatting.write_downloads`), and
  :meth:`RegressionTable.to_long`: the numbers behind it.

Numbers are formatted by :func:`korus_research.formatting.format_number` (rounded half away
from zero on the shortest decimal form, never a negative zero, thousands separators).

Significance stars: ``*`` p < 0.10, ``**`` p < 0.05, ``***`` p < 0.01 (:data:`STARS`), stated in
every table's note. The p-value is the one the estimator reported when the table is given one
(``p_value`` column, e.g. pyfixest's ``Pr(>|t|)`` through :func:`from_tidy`); otherwise it is
two-sided from the normal distribution of estimate / standard error (:func:`two_sided_p`),
which is what the saved results allow: they hold estimates and standard errors, not p-values
nor degrees of freedom. The note says which applies.

The builders (:func:`gravity_table`, :func:`gravity_models_table`, :func:`macro_table`,
:func:`effects_table`, :func:`event_study_table`, :func:`did_table`, :func:`staggered_table`)
read a study's saved results (:class:`korus_research.results.Store`) and return ``None`` when
the store lacks the result; :func:`all_tables` runs them all and :func:`write_all` writes
``<name>.tex`` and ``<name>.html`` for each table, atomically.

References
----------
Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics and
    Statistics 88(4), 641-658.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
    Journal of Human Resources 50(2), 317-372.
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. Journal of Econometrics 225(2), 200-230.
Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies with
    heterogeneous treatment effects. Journal of Econometrics 225(2), 175-199.
Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021). Synthetic
    difference-in-differences. American Economic Review 111(12), 4088-4118.
Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Bounds testing approaches to the analysis of
    level relationships. Journal of Applied Econometrics 16(3), 289-326.
"""

from __future__ import annotations

import html
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import config, formatting
from .errors import ParameterError, ResultsError

__all__ = [
    "BUILDERS", "CSS", "STARS", "RegressionTable", "all_tables", "did_table", "effects_table", "event_study_table",
    "from_tidy", "gravity_models_table", "gravity_table", "latex_escape", "macro_table", "significance_stars",
    "source_line", "staggered_table", "two_sided_p", "write_all",
]

STARS: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))
"""Significance thresholds, smallest first: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.10."""

_NORMAL_BASIS = "two-sided, from the normal distribution of the estimate over its standard error"
_REPORTED_BASIS = "as reported by the estimator"


# --------------------------------------------------------------------------- significance
def two_sided_p(estimate: float, se: float) -> float:
    """Two-sided p-value of ``estimate / se`` under the standard normal; NaN without a positive SE.

    Examples
    --------
    >>> round(two_sided_p(1.959963984540054, 1.0), 6)
    0.05
    """
    if not (_finite(estimate) and _finite(se)) or se <= 0:
        return math.nan
    return float(2 * stats.norm.sf(abs(estimate / se)))


def significance_stars(p: float | None, thresholds: Sequence[tuple[float, str]] = STARS) -> str:
    """The stars of a p-value: the mark of the smallest threshold it is below (strictly).

    Examples
    --------
    >>> significance_stars(0.009), significance_stars(0.01), significance_stars(0.07), significance_stars(0.5)
    ('***', '**', '*', '')
    """
    if p is None or not _finite(p):
        return ""
    for threshold, mark in sorted(thresholds):
        if p < threshold:
            return mark
    return ""


def _finite(value) -> bool:
    try:
        return value is not None and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- escaping
_LATEX_CHARS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"$<$", ">": r"$>$", "|": r"$|$",
    # characters of the labels that pdfLaTeX's default fonts cannot show as text
    "–": "--", "—": "---", "−": "$-$", "×": r"$\times$", "→": r"$\rightarrow$", "←": r"$\leftarrow$",
    "Δ": r"$\Delta$", "≤": r"$\leq$", "≥": r"$\geq$", "²": r"$^{2}$", "±": r"$\pm$", "·": r"$\cdot$",
    "…": r"\ldots{}", "’": "'", "‘": "`", "“": "``", "”": "''", "\u00a0": "~",
}


def latex_escape(text: object) -> str:
    """``text`` as LaTeX source that prints it literally.

    The ten special characters (``\\ & % $ # _ { } ~ ^``), ``< > |`` (which the default OT1
    font encoding prints as other glyphs) and the few non-ASCII symbols the labels use
    (en dash, minus, times, arrows, Delta, <=, >=, superscript two ...) are replaced; accented
    Latin letters are left to LaTeX's UTF-8 input (the default since 2018).

    Examples
    --------
    >>> latex_escape("ln_dist & 5% of $ #1 {x}")
    'ln\\\\_dist \\\\& 5\\\\% of \\\\$ \\\\#1 \\\\{x\\\\}'
    """
    return "".join(_LATEX_CHARS.get(c, c) for c in str(text))


def _latex_lines(text: str) -> str:
    """A header that may hold line breaks (``\\n``): a one-column nested tabular (LaTeX kernel)."""
    parts = [latex_escape(p) for p in str(text).split("\n")]
    if len(parts) == 1:
        return parts[0]
    return r"\begin{tabular}[b]{@{}c@{}}" + r" \\ ".join(parts) + r"\end{tabular}"


def _latex_number(text: str) -> str:
    """A formatted number: a true minus sign and ``<`` in math mode."""
    text = latex_escape(text)
    return "$-$" + text[1:] if text.startswith("-") else text


def _html_lines(text: str) -> str:
    return "<br>".join(html.escape(p) for p in str(text).split("\n"))


# --------------------------------------------------------------------------- the table
@dataclass(eq=False)
class RegressionTable:
    """Models (columns) by terms (rows): coefficients with stars, standard errors beneath them
    in parentheses, then footer rows.

    Parameters
    ----------
    title : str
        What the table shows (the LaTeX ``\\caption`` and the HTML ``<caption>``).
    coefficients : DataFrame
        Long table, one row per (model, term): ``model``, ``term``, ``estimate`` and
        optionally ``se`` and ``p_value`` (the estimator's own; missing values are computed
        by :func:`two_sided_p`). A term without a row for a model leaves that cell blank;
        a missing ``se`` shows the coefficient alone, without parentheses or stars.
    models : sequence of str, optional
        Column order (default: order of first appearance in ``coefficients``); these are the
        models' identifiers, used by ``footer``.
    model_labels : mapping, optional
        Model -> column header (default: the model itself); headers may repeat across column
        groups and may hold line breaks (``\\n``).
    terms : sequence of str, optional
        Row order and selection (default: order of first appearance).
    labels : mapping, optional
        Term -> row label (default: the term itself).
    footer : mapping, optional
        Row label -> {model -> value}: observations (int), fixed effects (text or bool),
        clustering, pseudo R² (float), estimator ... A model absent from a row shows blank.
        Floats show with ``decimals`` digits, or as p-values (3 digits, ``<0.001``) when the
        row label says "p-value"; integers as counts with separators; booleans as Yes/No.
    column_groups : sequence of (str, int), optional
        Spanning headers above the models, left to right: (label, number of columns); the
        spans add up to the number of models.
    note : str
        Table note, before the standard sentence on standard errors and stars.
    source : str
        Data sources, shown as "Source: ...".
    decimals : int
        Digits of the coefficients and standard errors (3: log points).
    thresholds : sequence of (float, str)
        Significance thresholds and their marks (:data:`STARS`).
    numbered : bool
        Number the columns (1), (2), ... under their headers.
    """

    title: str
    coefficients: pd.DataFrame
    models: Sequence[str] | None = None
    model_labels: Mapping[str, str] = field(default_factory=dict)
    terms: Sequence[str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    footer: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    column_groups: Sequence[tuple[str, int]] = ()
    note: str = ""
    source: str = ""
    decimals: int = 3
    thresholds: Sequence[tuple[float, str]] = STARS
    numbered: bool = True

    def __post_init__(self) -> None:
        frame = self.coefficients
        if not isinstance(frame, pd.DataFrame):
            raise ParameterError("coefficients", type(frame).__name__, "a DataFrame with model, term, estimate")
        missing = [c for c in ("model", "term", "estimate") if c not in frame.columns]
        if missing:
            raise ParameterError("coefficients", ", ".join(missing), "columns model, term, estimate (se, p_value)",
                                 problem="missing columns")
        frame = frame.copy()
        for column in ("se", "p_value"):
            if column not in frame.columns:
                frame[column] = np.nan
        frame["model"] = frame["model"].astype(str)
        frame["term"] = frame["term"].astype(str)
        for column in ("estimate", "se", "p_value"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        duplicated = frame.duplicated(["model", "term"])
        if duplicated.any():
            pairs = frame.loc[duplicated, ["model", "term"]].astype(str).agg(" / ".join, axis=1)
            raise ParameterError("coefficients", "; ".join(pairs.head(5)), "one row per (model, term)",
                                 problem="repeated (model, term)")
        self.models = [str(m) for m in (self.models if self.models is not None else pd.unique(frame["model"]))]
        self.terms = [str(t) for t in (self.terms if self.terms is not None else pd.unique(frame["term"]))]
        if len(set(self.models)) != len(self.models) or not self.models:
            raise ParameterError("models", self.models, "a non-empty sequence of distinct model names")
        if len(set(self.terms)) != len(self.terms):
            raise ParameterError("terms", self.terms, "distinct terms")
        frame = frame[frame["model"].isin(self.models) & frame["term"].isin(self.terms)].copy()
        self.model_labels = {str(m): str(h) for m, h in (self.model_labels or {}).items()}
        strange = sorted(set(self.model_labels) - set(self.models))
        if strange:
            raise ParameterError("model_labels", ", ".join(strange), self.models, problem="not models of the table")
        self.footer = {str(row): {str(m): v for m, v in values.items()} for row, values in (self.footer or {}).items()}
        for row, values in self.footer.items():
            strange = sorted(set(map(str, values)) - set(self.models))
            if strange:
                raise ParameterError(f"footer[{row!r}]", ", ".join(strange), self.models, problem="not models of the table")
        self.column_groups = [(str(label), int(span)) for label, span in self.column_groups]
        if self.column_groups and (sum(s for _, s in self.column_groups) != len(self.models)
                                   or any(s < 1 for _, s in self.column_groups)):
            raise ParameterError("column_groups", self.column_groups,
                                 f"spans of at least 1 adding up to the {len(self.models)} models")
        if isinstance(self.decimals, (bool, np.bool_)) or not isinstance(self.decimals, (int, np.integer)) \
                or not 0 <= self.decimals <= 8:
            raise ParameterError("decimals", self.decimals, "an integer from 0 to 8")
        marks = sorted((float(t), str(m)) for t, m in self.thresholds)
        if not marks or any(not 0 < t < 1 for t, _ in marks) or len({t for t, _ in marks}) != len(marks):
            raise ParameterError("thresholds", self.thresholds, "distinct (p threshold in (0, 1), mark) pairs")
        self.thresholds = tuple(marks)
        reported = frame["p_value"].notna()
        frame["p_reported"] = reported
        frame.loc[~reported, "p_value"] = [two_sided_p(e, s) for e, s in frame.loc[~reported, ["estimate", "se"]]
                                           .itertuples(index=False)]
        self.coefficients = frame.reset_index(drop=True)

    # ------------------------------------------------------------ text of the cells
    def _cell(self, model: str, term: str) -> tuple[str, str, str] | None:
        """(coefficient, stars, standard error in parentheses) or None for a blank cell."""
        rows = self.coefficients[(self.coefficients["model"] == model) & (self.coefficients["term"] == term)]
        if rows.empty or not _finite(rows["estimate"].iloc[0]):
            return None
        row = rows.iloc[0]
        coefficient = formatting.format_number(float(row["estimate"]), decimals=self.decimals)
        if not _finite(row["se"]):
            return coefficient, "", ""
        se = formatting.format_number(float(row["se"]), decimals=self.decimals)
        return coefficient, significance_stars(row["p_value"], self.thresholds), f"({se})"

    def _footer_text(self, row: str, value) -> tuple[str, bool]:
        """(text, numeric) of a footer cell."""
        if value is None or isinstance(value, float) and math.isnan(value) or value is pd.NA:
            return "", False
        if isinstance(value, (bool, np.bool_)):
            return ("Yes" if value else "No"), False
        if isinstance(value, (int, np.integer)):
            return formatting.format_number(int(value), "count"), True
        if isinstance(value, (float, np.floating)):
            if "p-value" in row.lower():
                return formatting.format_number(float(value), "p-value", decimals=3), True
            return formatting.format_number(float(value), decimals=self.decimals), True
        return str(value), False

    def star_note(self) -> str:
        """The sentence on standard errors and stars, with the basis of the p-values."""
        marks = ", ".join(f"{m} p < {_threshold_text(t)}" for t, m in sorted(self.thresholds, reverse=True))
        reported = self.coefficients.loc[self.coefficients["se"].notna(), "p_reported"]
        if reported.empty or reported.all():
            basis = _REPORTED_BASIS
        elif not reported.any():
            basis = _NORMAL_BASIS
        else:
            basis = f"{_REPORTED_BASIS} where reported, else {_NORMAL_BASIS}"
        return f"Standard errors in parentheses. {marks} (p-values {basis})."

    def full_note(self) -> str:
        """The table's note followed by :meth:`star_note`."""
        note = self.note.strip()
        if note and not note.endswith("."):
            note += "."
        return f"{note} {self.star_note()}".strip()

    def header(self, model: str) -> str:
        """The column header of ``model`` (may hold line breaks)."""
        return self.model_labels.get(model, model)

    def headers(self) -> list[str]:
        """One header per column, unique, on one line: ``(i) group: header``."""
        groups = [g for g, span in self.column_groups for _ in range(span)] or [""] * len(self.models)
        out = []
        for i, (group, model) in enumerate(zip(groups, self.models, strict=True), start=1):
            text = (f"{group}: {self.header(model)}" if group else self.header(model)).replace("\n", " ")
            out.append(f"({i}) {text}" if self.numbered else text)
        seen: dict[str, int] = {}
        for i, h in enumerate(out):
            seen[h] = seen.get(h, 0) + 1
            if seen[h] > 1:
                out[i] = f"{h} [{seen[h]}]"
        return out

    def _body(self) -> list[tuple[str, list[tuple[str, str, str] | None]]]:
        rows = []
        for term in self.terms:
            cells = [self._cell(m, term) for m in self.models]
            if any(c is not None for c in cells):
                rows.append((self.labels.get(term, term), cells))
        return rows

    def _footer_rows(self) -> list[tuple[str, list[tuple[str, bool]]]]:
        return [(row, [self._footer_text(row, values.get(m)) for m in self.models])
                for row, values in self.footer.items()]

    # ------------------------------------------------------------ frames
    def to_frame(self) -> pd.DataFrame:
        """The table as a reader sees it, every cell text: a ``term`` column (blank on the
        standard-error rows), then one column per model (:meth:`headers`); coefficient rows
        carry their stars, footer rows follow."""
        headers = self.headers()
        records = []
        for label, cells in self._body():
            records.append([label] + [c[0] + c[1] if c else "" for c in cells])
            records.append([""] + [c[2] if c else "" for c in cells])
        for label, cells in self._footer_rows():
            records.append([label] + [text for text, _ in cells])
        return pd.DataFrame(records, columns=["term", *headers])

    def to_long(self) -> pd.DataFrame:
        """The numbers behind the table: ``model, term, label, estimate, se, p_value,
        p_reported, stars``, in the table's order."""
        out = self.coefficients.copy()
        out["model"] = pd.Categorical(out["model"], self.models, ordered=True)
        out["term"] = pd.Categorical(out["term"], self.terms, ordered=True)
        out = out.sort_values(["term", "model"]).reset_index(drop=True)
        out["model"] = out["model"].astype(str)
        out["term"] = out["term"].astype(str)
        out.insert(2, "label", [self.labels.get(t, t) for t in out["term"]])
        out["stars"] = [significance_stars(p, self.thresholds) if _finite(s) else ""
                        for p, s in zip(out["p_value"], out["se"], strict=True)]
        return out

    def to_text(self) -> str:
        """A plain-text rendering (title, table, note, source), e.g. for a notebook's text output."""
        frame = self.to_frame()
        columns = ["", *frame.columns[1:]]
        body = frame.to_numpy().tolist()
        widths = [max([len(c)] + [len(r[j]) for r in body]) for j, c in enumerate(columns)]

        def line(cells):
            return "  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                             for j, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        lines = [self.title, line(columns), line(["-" * w for w in widths]), *(line(r) for r in body)]
        lines.append(f"Note: {self.full_note()}")
        if self.source:
            lines.append(_source_text(self.source))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"RegressionTable({self.title!r}, {len(self.models)} models, {len(self.terms)} terms)"

    def _repr_html_(self) -> str:  # noqa: D401 - IPython hook
        return self.to_html()

    # ------------------------------------------------------------ LaTeX
    def to_latex(self, label: str | None = None, float_env: bool = True, fontsize: str = "small") -> str:
        """The table as LaTeX (``booktabs``; nothing else beyond the LaTeX kernel).

        Parameters
        ----------
        label : str, optional
            ``\\label`` of the table (letters, digits, ``:-_.``).
        float_env : bool
            Wrap in a ``table`` float with the caption, and the note and source under the
            tabular; ``False`` gives the bare ``tabular`` (to ``\\input`` into a float of
            one's own; the caption, note and source are then left out).
        fontsize : str
            A size command for the float (``small``, ``footnotesize``, ``normalsize`` ...).
        """
        if label is not None and not re.fullmatch(r"[A-Za-z0-9:._-]+", label):
            raise ParameterError("label", label, "letters, digits and : . _ -")
        if fontsize not in ("tiny", "scriptsize", "footnotesize", "small", "normalsize", "large"):
            raise ParameterError("fontsize", fontsize, ["tiny", "scriptsize", "footnotesize", "small", "normalsize",
                                                        "large"])
        n = len(self.models)
        lines = [r"\begin{tabular}{l" + "c" * n + "}", r"\toprule"]
        if self.column_groups:
            cells, rules, start = [""], [], 2
            for group, span in self.column_groups:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{_latex_lines(group)}}}" if group else
                             " & ".join([""] * span))
                if group:
                    rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
                start += span
            lines.append(" & ".join(cells) + r" \\")
            if rules:
                lines.append(" ".join(rules))
        lines.append(" & ".join([""] + [_latex_lines(self.header(m)) for m in self.models]) + r" \\")
        if self.numbered:
            lines.append(" & ".join([""] + [f"({i})" for i in range(1, n + 1)]) + r" \\")
        lines.append(r"\midrule")
        for row_label, cells in self._body():
            coefficients = [(_latex_number(c[0]) + (f"$^{{{c[1]}}}$" if c[1] else "")) if c else "" for c in cells]
            errors = [("(" + _latex_number(c[2][1:-1]) + ")") if c and c[2] else "" for c in cells]
            lines.append(" & ".join([latex_escape(row_label), *coefficients]) + r" \\")
            if any(errors):
                lines.append(" & ".join(["", *errors]) + r" \\")
        footer = self._footer_rows()
        if footer:
            lines.append(r"\midrule")
            for row_label, cells in footer:
                texts = [_latex_number(t) if numeric else latex_escape(t) for t, numeric in cells]
                lines.append(" & ".join([latex_escape(row_label), *texts]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        tabular = "\n".join(lines)
        if not float_env:
            return tabular + "\n"
        notes = [r"\textit{Note:} " + latex_escape(self.full_note())]
        if self.source:
            notes.append(latex_escape(_source_text(self.source)))
        out = [
            f"% {latex_escape(self.title)}",
            r"% generated by korus_research.regtables; needs \usepackage{booktabs}",
            r"\begin{table}[htbp]",
            r"\centering",
            f"\\{fontsize}",
            r"\caption{" + latex_escape(self.title) + "}",
            *([rf"\label{{{label}}}"] if label else []),
            tabular,
            r"\par\medskip",
            r"\begin{minipage}{\linewidth}\footnotesize",
            " \\par\n".join(notes),
            r"\end{minipage}",
            r"\end{table}",
        ]
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------ HTML
    def to_html(self, table_id: str | None = None) -> str:
        """The table as an HTML fragment for the report.

        ``<div class="table-block"><div class="table-scroll"><table class="korus-table
        regression-table">`` with the title as ``<caption>``, spanning group headers, model
        headers and numbers; coefficient and standard-error cells of class ``num`` (the
        standard-error rows also of class ``se``), footer rows in ``<tbody class="footer">``
        (numbers ``num``, text ``text``); then the note and the source as
        ``<p class="table-note">`` and ``<p class="table-source">``. The page needs
        :data:`korus_research.formatting.CSS` and :data:`CSS` in its stylesheet.
        """
        n = len(self.models)
        ident = f' id="{html.escape(table_id, quote=True)}"' if table_id else ""
        out = ['<div class="table-block"><div class="table-scroll">',
               f'<table class="korus-table regression-table"{ident}>',
               f"<caption>{html.escape(self.title)}</caption>", "<thead>"]
        if self.column_groups:
            cells = ["<th></th>"] + [f'<th colspan="{span}" class="group" scope="colgroup">{_html_lines(g)}</th>'
                                     for g, span in self.column_groups]
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("<tr><th></th>" + "".join(f'<th class="num" scope="col">{_html_lines(self.header(m))}</th>'
                                             for m in self.models) + "</tr>")
        if self.numbered:
            out.append("<tr><th></th>" + "".join(f'<th class="num">({i})</th>' for i in range(1, n + 1)) + "</tr>")
        out += ["</thead>", "<tbody>"]
        for row_label, cells in self._body():
            coefficients = "".join(
                f'<td class="num">{html.escape(c[0])}' + (f"<sup>{html.escape(c[1])}</sup>" if c[1] else "") + "</td>"
                if c else '<td class="num"></td>' for c in cells)
            out.append(f'<tr><th scope="row" class="text">{html.escape(row_label)}</th>{coefficients}</tr>')
            if any(c and c[2] for c in cells):
                errors = "".join(f'<td class="num">{html.escape(c[2]) if c else ""}</td>' for c in cells)
                out.append(f'<tr class="se"><th></th>{errors}</tr>')
        out.append("</tbody>")
        footer = self._footer_rows()
        if footer:
            out.append('<tbody class="footer">')
            for row_label, cells in footer:
                tds = "".join(f'<td class="{"num" if numeric else "text"}">{html.escape(text)}</td>'
                              for text, numeric in cells)
                out.append(f'<tr><th scope="row" class="text">{html.escape(row_label)}</th>{tds}</tr>')
            out.append("</tbody>")
        out += ["</table>", "</div>", f'<p class="table-note">Note: {html.escape(self.full_note())}</p>']
        if self.source:
            out.append(f'<p class="table-source">{html.escape(_source_text(self.source))}</p>')
        out.append("</div>")
        return "\n".join(out) + "\n"


CSS = """
table.regression-table th.group{text-align:center;border-bottom:1px solid #999}
table.regression-table thead th.num{text-align:center}
table.regression-table tbody th{text-align:left;font-weight:normal;white-space:nowrap}
table.regression-table td.num,table.regression-table td.text{text-align:center;white-space:nowrap}
table.regression-table tr.se td{padding-top:0;color:#333}
table.regression-table tbody.footer tr:first-child th,table.regression-table tbody.footer tr:first-child td{border-top:1px solid #666}
"""
"""Stylesheet fragment for regression tables (besides :data:`korus_research.formatting.CSS`):
coefficients centred in their column, the footer ruled off."""


def _threshold_text(threshold: float) -> str:
    """``0.1`` -> ``"0.10"``, ``0.05`` -> ``"0.05"``, ``0.001`` -> ``"0.001"``."""
    return f"{threshold:.2f}" if round(threshold, 2) == threshold else f"{threshold:g}"


def _source_text(source: str) -> str:
    source = str(source).strip()
    return source if source.lower().startswith("source") else f"Source: {source}"


def from_tidy(tidies: Mapping[str, pd.DataFrame], title: str, **options) -> RegressionTable:
    """A table from fitted models' tidy tables (pyfixest's public ``Fixest.tidy()``).

    Parameters
    ----------
    tidies : mapping
        Model name -> tidy table: index = coefficient names, columns ``Estimate``,
        ``Std. Error`` and ``Pr(>|t|)`` (pyfixest's names; ``estimate``, ``se``, ``p_value``
        are accepted too). The p-values are the estimator's own.
    title : str
    **options
        Passed to :class:`RegressionTable` (``labels``, ``footer``, ``note`` ...).
    """
    names = {"Estimate": "estimate", "Std. Error": "se", "Pr(>|t|)": "p_value"}
    parts = []
    for model, tidy in tidies.items():
        frame = tidy.rename(columns=names)
        if "estimate" not in frame.columns:
            raise ParameterError(f"tidies[{model!r}]", list(tidy.columns), "a tidy table with Estimate, Std. Error")
        frame = frame.reindex(columns=["estimate", "se", "p_value"])
        parts.append(frame.rename_axis("term").reset_index().assign(model=str(model)))
    if not parts:
        raise ParameterError("tidies", "{}", "at least one model")
    return RegressionTable(title, pd.concat(parts, ignore_index=True), models=[str(m) for m in tidies], **options)


# --------------------------------------------------------------------------- sources
def source_line(tables: Sequence[str], extra: str = "") -> str:
    """The ``Source:`` text of a table computed from processed tables: each registered raw file
    (agency, path, vintage) of :data:`korus_research.dictionary.TABLE_SOURCES`, then ``extra``."""
    from . import dictionary, registry

    by_agency: dict[str, list[str]] = {}
    for table in tables:
        for path in dictionary.TABLE_SOURCES.get(table, ()):
            try:
                entry = registry.get(path)
            except KeyError:  # a file missing from the registry is named without details
                by_agency.setdefault("", []).append(path)
                continue
            item = f"{path} ({entry.vintage})"
            if item not in by_agency.setdefault(entry.agency, []):
                by_agency[entry.agency].append(item)
    parts = [f"{agency}, {', '.join(items)}" if agency else ", ".join(items) for agency, items in by_agency.items()]
    if extra:
        parts.append(extra)
    return "Source: " + "; ".join(parts) + "." if parts else ""


# --------------------------------------------------------------------------- reading the store
def _load(store, name: str) -> pd.DataFrame | None:
    """A saved result, or None when the store lacks it (or it is empty)."""
    if not store.has(name):
        return None
    frame = store.load(name)
    return frame if len(frame) else None


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsError(f"saved result {name!r} lacks column(s) {', '.join(missing)}: rerun the notebook that "
                           "saves it with the current package")


def _number(value):
    """A number from a saved text cell (``gravity_info`` is saved as text); None if not one."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        number = float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _header(label: str, lines: int = 2) -> str:
    """A long model label as a header of at most ``lines`` lines: its first comma-separated
    parts, one a line (``"DTA 1964-2016, three-way"`` -> ``"DTA 1964-2016\\nthree-way"``)."""
    return "\n".join(str(label).split(", ")[:lines])


def _study_words(store) -> tuple[str, str, str]:
    study = store.study
    entry = study.entry.date().isoformat() if getattr(study, "entry", None) is not None else "no entry date"
    return study.partner, study.agreement or "the agreement", entry


# --------------------------------------------------------------------------- term labels
_COVARIATES = {"ln_dist": "ln distance", "contig": "Contiguity", "comlang_off": "Common official language",
               "colony": "Colonial tie", "other_agreements": "Other agreements in force"}
_TERM = re.compile(r"^agreement(?:_(lag|lead)(\d+)([wy]?))?(?:_([A-Z]{3})_to_([A-Z]{3}))?$")
_UNITS = {"": "years", "y": "years", "w": "waves"}


def _term_key(term: str) -> tuple:
    """Sort key: the study's agreement terms (in force, then lags, then leads; by direction),
    other agreements, single agreements by id, covariates, anything else."""
    match = _TERM.match(term)
    if match:
        kind, number, unit, origin, destination = match.groups()
        return (0, {None: 0, "lag": 1, "lead": 2}[kind], unit or "", int(number or 0), origin or "", destination or "")
    if term == "other_agreements":
        return (1,)
    fta = re.match(r"^fta_(\d+)$", term)
    if fta:
        return (2, int(fta.group(1)))
    if term in _COVARIATES:
        return (3, list(_COVARIATES).index(term))
    return (4, term)


def _gravity_label(term: str, agreement: str, names: Mapping[str, str] | None = None) -> str:
    match = _TERM.match(term)
    if match:
        kind, number, unit, origin, destination = match.groups()
        text = f"{agreement} in force"
        if kind:
            count = int(number)
            text += f", {kind} {count} {_UNITS[unit][:-1] if count == 1 else _UNITS[unit]}"
        if origin:
            text += f", {origin} → {destination}"
        return text
    if names and names.get(term):
        return str(names[term])
    return _COVARIATES.get(term, term)


# --------------------------------------------------------------------------- gravity
def _fixed_effects_flags(info: pd.Series) -> dict[str, bool]:
    flags = {}
    for key, row in (("exporter-year effects", "Exporter-year FE"), ("importer-year effects", "Importer-year FE"),
                     ("pair effects", "Pair FE")):
        if key in info.index:
            flags[row] = _number(info[key]) is not None and _number(info[key]) > 0
    return flags


def _clusters_text(value) -> str:
    """``"pair: 31683"`` -> ``"pair (31,683)"``; other text unchanged."""
    parts = []
    for piece in str(value).split(";"):
        name, _, count = piece.strip().partition(":")
        number = _number(count.strip()) if count else None
        parts.append(f"{name.strip()} ({formatting.format_number(number, 'count')})" if isinstance(number, int)
                     else piece.strip())
    return "; ".join(p for p in parts if p and p != "nan")


def gravity_table(store) -> RegressionTable | None:
    """The structural gravity specifications (notebook 04), one column each.

    Reads ``gravity_estimates`` (``specification, term, estimate, se``) and, when saved,
    ``gravity_info`` (per specification: ``used`` observations, ``exporter-year effects``,
    ``importer-year effects``, ``pair effects``, ``clusters``, ``pseudo_r2``, ``ssc``).

    Returns
    -------
    RegressionTable or None
        None when the store has no ``gravity_estimates``.
    """
    from . import gravity

    estimates = _load(store, "gravity_estimates")
    if estimates is None:
        return None
    _require(estimates, "gravity_estimates", ["specification", "term", "estimate", "se"])
    partner, agreement, entry = _study_words(store)
    estimates = estimates[~estimates["term"].astype(str).str.startswith("border_")]
    specs = list(pd.unique(estimates["specification"].astype(str)))
    coefficients = estimates.assign(model=estimates["specification"].astype(str))[["model", "term", "estimate", "se"]]
    terms = sorted(pd.unique(coefficients["term"].astype(str)), key=_term_key)
    info = _load(store, "gravity_info")
    footer: dict[str, dict] = {}
    ssc = set()
    if info is not None and "specification" in info.columns:
        info = info.assign(specification=info["specification"].astype(str)).set_index("specification")
        for spec in specs:
            if spec not in info.index:
                continue
            row = info.loc[spec]
            model = spec
            if "used" in row.index:
                footer.setdefault("Observations", {})[model] = _number(row["used"])
            for name, flag in _fixed_effects_flags(row).items():
                footer.setdefault(name, {})[model] = flag
            if "clusters" in row.index:
                footer.setdefault("Clustered by (clusters)", {})[model] = _clusters_text(row["clusters"])
            if "pseudo_r2" in row.index:
                footer.setdefault("Pseudo R²", {})[model] = _number(row["pseudo_r2"])
            if "ssc" in row.index and str(row["ssc"]) not in ("", "nan"):
                ssc.add(str(row["ssc"]))
    footer["Estimator"] = {s: "PPML" for s in specs}
    tables = {s.label: s.table for s in gravity.SPECIFICATIONS.values()}
    used = sorted({tables[s] for s in specs if s in tables}) + (
        ["cepii_dist"] if any("CEPII" in s for s in specs) else [])
    note = (f"Poisson pseudo-maximum-likelihood gravity regressions of bilateral trade flows in levels, zeros kept "
            f"(Santos Silva and Tenreyro 2006). '{agreement} in force' is the {partner}-USA agreement "
            f"(entry into force {entry}); lags and leads shift it by the years (or panel waves) shown. "
            "Specifications marked '+ border' include international-border-by-year terms, not shown. "
            "Standard errors clustered as shown"
            + (f" (small-sample convention: {', '.join(sorted(ssc))})" if ssc else "")
            + ("" if info is not None else "; observations, fixed effects and clustering not saved"))
    return RegressionTable(
        title=f"Structural gravity: the effect of {agreement} on trade flows",
        coefficients=coefficients, models=specs, model_labels={s: _header(s, 3) for s in specs}, terms=terms,
        labels={t: _gravity_label(t, agreement) for t in terms}, footer=footer, note=note,
        source=source_line(used))


def _fixed_effects_words(spec) -> str:
    from . import gravity

    dims = gravity.FIXED_EFFECT_PRESETS.get(spec, spec) if isinstance(spec, str) else spec
    words = []
    for dim in dims:
        parts = (dim,) if isinstance(dim, str) else tuple(dim)
        words.append(" × ".join(f"pair ({gravity.PAIR_IDS[p]})" if p in gravity.PAIR_IDS else p for p in parts))
    return ", ".join(words)


def gravity_models_table(store) -> RegressionTable | None:
    """The general-interface gravity models of notebook 04 (one term per US agreement, annual
    phase-in, symmetric pair effects), one column each.

    Reads ``gravity_models`` (``model, term, agreement, estimate, se, leads p-value``); the
    fixed effects and clustering of each model come from its definition in
    :data:`korus_research.gravity.MODELS` (the saved table names the model by its key).
    """
    from . import gravity

    frame = _load(store, "gravity_models")
    if frame is None:
        return None
    _require(frame, "gravity_models", ["model", "term", "estimate", "se"])
    partner, agreement, entry = _study_words(store)
    keys = list(pd.unique(frame["model"].astype(str)))
    definitions = {k: gravity.MODELS.get(k) for k in keys}
    coefficients = frame.assign(model=frame["model"].astype(str))[["model", "term", "estimate", "se"]]
    terms = sorted(pd.unique(coefficients["term"].astype(str)), key=_term_key)
    names = {}
    if "agreement" in frame.columns:
        names = {str(t): str(a) for t, a in zip(frame["term"], frame["agreement"], strict=True)
                 if isinstance(a, str) and a.strip()}
    footer: dict[str, dict] = {}
    if "leads p-value" in frame.columns:
        footer["Leads, joint test p-value"] = {k: float(frame.loc[frame["model"].astype(str) == k, "leads p-value"]
                                                      .iloc[0]) for k in keys}
    footer["Fixed effects"] = {k: _fixed_effects_words(d.fixed_effects) for k, d in definitions.items() if d}
    footer["Clustered by"] = {k: (" and ".join(d.cluster) if isinstance(d.cluster, (tuple, list)) else
                                  d.cluster or "pair") for k, d in definitions.items() if d}
    footer["Estimator"] = {k: "PPML" for k in keys}
    described = "; ".join(f"({i}) {definitions[k].label}" for i, k in enumerate(keys, 1) if definitions[k])
    note = (f"Poisson pseudo-maximum-likelihood gravity models. {described}. Terms named after an agreement are "
            f"that US agreement's own coefficient; '{agreement} in force' is split by direction of trade "
            f"(entry into force {entry}). Fixed effects and clustering as defined in korus_research.gravity.MODELS; "
            "observations and pseudo R² are not saved with these models")
    used = sorted({definitions[k].table for k in keys if definitions[k]})
    return RegressionTable(
        title=f"Gravity models with heterogeneous agreement effects: {agreement} and other US agreements",
        coefficients=coefficients, models=keys,
        model_labels={k: _header(definitions[k].label) if definitions[k] else k for k in keys}, terms=terms,
        labels={t: _gravity_label(t, agreement, names) for t in terms}, footer=footer, note=note,
        source=source_line(used))


# --------------------------------------------------------------------------- macro
_MACRO_ESTIMATORS = {
    "ARDL long run": "ARDL\nlong run", "DOLS": "DOLS", "FMOLS": "FMOLS", "Johansen (first vector)": "Johansen",
    "static levels (Newey-West)": "Static\n(Newey-West)", "growth-rate model (short run)": "Growth rates\nshort run",
}
_MACRO_VARIABLES = {"ln_us_demand": "ln US real demand", "ln_partner_demand": "ln partner real demand",
                    "ln_partner_supply": "ln partner real supply", "ln_rer": "ln real exchange rate",
                    "agreement": "Agreement in force (0/1)"}


def _macro_label(term: str, partner: str) -> str:
    lag = re.match(r"^L(\d+)\.(.+)$", term)
    if lag:
        return f"{_macro_label(lag.group(2), partner)} (t−{lag.group(1)})"
    if term.startswith("D."):
        return f"Δ {_macro_label(term[2:], partner)}"
    return _MACRO_VARIABLES.get(term, term).replace("partner", partner)


def _macro_key(term: str) -> tuple:
    base = re.sub(r"^(L\d+\.)?(D\.)?", "", term)
    order = list(_MACRO_VARIABLES)
    differenced = term.startswith(("D.", "L"))
    lag = int(re.match(r"^L(\d+)\.", term).group(1)) if re.match(r"^L(\d+)\.", term) else 0
    return (differenced, order.index(base) if base in order else len(order), base, lag)


def macro_table(store) -> RegressionTable | None:
    """The trade equations of notebook 05: long-run elasticities by estimator (ARDL, DOLS,
    FMOLS, Johansen, static levels) and the growth-rate model's short-run ones, one column per
    equation and estimator.

    Reads ``macro_coefficients`` (``equation, term, estimator, estimate, se``) and, when saved,
    ``macro_lags_diagnostics`` (``item`` rows ``observations``, ``ARDL order``,
    ``bounds verdict (5%)`` by equation) for the ARDL columns.
    """
    frame = _load(store, "macro_coefficients")
    if frame is None:
        return None
    _require(frame, "macro_coefficients", ["equation", "term", "estimator", "estimate", "se"])
    partner, agreement, entry = _study_words(store)
    equations = [e for e in ("US imports", "US exports") if e in set(frame["equation"])] + \
        [e for e in pd.unique(frame["equation"]) if e not in ("US imports", "US exports")]
    estimators = [e for e in _MACRO_ESTIMATORS if e in set(frame["estimator"])] + \
        [e for e in pd.unique(frame["estimator"]) if e not in _MACRO_ESTIMATORS]
    columns = [(eq, est) for eq in equations for est in estimators
               if ((frame["equation"] == eq) & (frame["estimator"] == est)).any()]
    model_of = {c: f"{c[0]}|{c[1]}" for c in columns}
    coefficients = frame.assign(model=[model_of.get((q, e)) for q, e in zip(frame["equation"], frame["estimator"],
                                                                            strict=True)])
    coefficients = coefficients[coefficients["model"].notna()][["model", "term", "estimate", "se"]]
    terms = sorted(pd.unique(coefficients["term"].astype(str)), key=_macro_key)
    groups = [(eq, sum(1 for c in columns if c[0] == eq)) for eq in equations if any(c[0] == eq for c in columns)]
    footer: dict[str, dict] = {}
    diagnostics = _load(store, "macro_lags_diagnostics")
    if diagnostics is not None and "item" in diagnostics.columns:
        diagnostics = diagnostics.set_index("item")
        for eq in equations:
            if eq not in diagnostics.columns or (eq, "ARDL long run") not in model_of:
                continue
            model = model_of[(eq, "ARDL long run")]
            for item, row in (("observations", "Observations"), ("ARDL order", "ARDL order"),
                              ("bounds verdict (5%)", "Bounds test (5%)")):
                if item in diagnostics.index:
                    value = diagnostics.loc[item, eq]
                    footer.setdefault(row, {})[model] = _number(value) if row == "Observations" else str(value)
    parameters = {}
    try:
        parameters = store.record("05").get("notebook_parameters", {})
    except ResultsError:
        pass
    start, end = store.study.macro_years
    frequency = parameters.get("frequency", "annual")
    hac = parameters.get("hac_lags")
    note = (f"Trade equations in logs of real US imports from and exports to {partner}, {frequency} data "
            f"{start}-{end}. Long-run elasticities: ARDL (Pesaran, Shin and Smith 2001), DOLS, FMOLS, Johansen's "
            "first cointegrating vector (normalised; no standard errors) and the static levels regression "
            f"(Newey-West standard errors{f', {hac} lags' if hac is not None else ''}; descriptive); short-run "
            f"elasticities from the growth-rate model (Δ: first difference). The agreement dummy is 1 from the entry "
            f"into force of {agreement} ({entry}). Observations, ARDL order and bounds test are those of the ARDL; "
            "the other estimators' sample sizes are not saved")
    return RegressionTable(
        title=f"Trade equations: income and price elasticities of US trade with {partner}",
        coefficients=coefficients, models=[model_of[c] for c in columns],
        model_labels={model_of[c]: _MACRO_ESTIMATORS.get(c[1], c[1]) for c in columns}, terms=terms,
        labels={t: _macro_label(t, partner) for t in terms}, footer=footer, column_groups=groups, note=note,
        source=source_line(["census_annual", "fred_macro", "worldbank_indicators", "bis_eer_monthly"],
                           "deflators and the exchange-rate measure as chosen in notebook 05"))


# --------------------------------------------------------------------------- agreement effects
_FLOWS = {"imports": "imports", "log imports": "imports", "log_imports": "imports", "US imports": "imports",
          "exports": "exports", "log exports": "exports", "log_exports": "exports", "US exports": "exports"}


def _flow_label(flow: str, partner: str) -> str:
    return f"ln US imports from {partner}" if flow == "imports" else f"ln US exports to {partner}"


def effects_table(store) -> RegressionTable | None:
    """Summary of the agreement's estimated effect on log US imports and exports (notebook 03),
    one column per estimator of the partner's own effect.

    Columns, each when its result is saved:

    - Event study (OLS, two-way fixed effects): the mean of the post-entry event-time
      coefficients with its standard error, from ``effects_single_unit_honest`` (``outcome,
      target, estimate, se``, the row whose target starts with "average"; the event study of
      the single-unit section, on the balanced panel of its controls). Its observations and
      pre-trend test are not saved with it (those of ``effects_pretrend`` belong to the main
      event study, whose panel may keep more controls): see :func:`event_study_table`;
    - Callaway-Sant'Anna, the partner alone (group of one), not-yet-treated comparisons, from
      ``effects_staggered`` (``outcome, control_group, quantity, estimate, se, n, pretrend_p,
      placebo_p``);
    - Synthetic difference-in-differences, from ``effects_single_unit_sdid`` (``outcome,
      estimate, se, placebo_p_value, n_controls``).

    The product-level difference-in-differences has no single log effect (one per product
    group): see :func:`did_table`.
    """
    partner, agreement, entry = _study_words(store)
    parts, footer, columns = [], {}, []

    def put(row: str, model: str, value) -> None:
        footer.setdefault(row, {})[model] = value

    honest = _load(store, "effects_single_unit_honest")
    if honest is not None and {"outcome", "target", "estimate", "se"} <= set(honest.columns):
        rows = honest[honest["target"].astype(str).str.startswith("average")]
        if len(rows):
            model = "event_study_ols"
            columns.append(model)
            parts.append(pd.DataFrame({"model": model, "term": rows["outcome"].map(_FLOWS),
                                       "estimate": rows["estimate"], "se": rows["se"]}))
            target = str(rows["target"].iloc[0]).replace("average", "mean").replace("..", "–")
            put("Effect measured", model, target)
            put("Comparison", model, "control partners; partner and year FE")
            put("Standard errors", model, "clustered by partner")

    staggered = _load(store, "effects_staggered")
    if staggered is not None and {"outcome", "quantity", "estimate", "se"} <= set(staggered.columns):
        alone = staggered[staggered["quantity"].astype(str).str.endswith("alone (group of one)")]
        if "control_group" in alone.columns and len(alone):
            preferred = "notyet" if (alone["control_group"] == "notyet").any() else alone["control_group"].iloc[0]
            alone = alone[alone["control_group"] == preferred]
        alone = alone[alone["outcome"].map(_FLOWS).notna()]
        if len(alone):
            model = "callaway_santanna_alone"
            columns.append(model)
            parts.append(pd.DataFrame({"model": model, "term": alone["outcome"].map(_FLOWS),
                                       "estimate": alone["estimate"], "se": alone["se"]}))
            n = alone["n"].iloc[0] if "n" in alone.columns else None
            put("Effect measured", model, f"mean of {int(n)} post-entry years" if _finite(n) else "mean post-entry effect")
            group = str(alone["control_group"].iloc[0]) if "control_group" in alone.columns else ""
            put("Comparison", model, {"notyet": "not-yet-treated partners", "never": "never-treated partners"}.get(
                group, group or "–"))
            put("Standard errors", model, "analytic (influence function)")
            by_flow = alone.assign(flow=alone["outcome"].map(_FLOWS)).set_index("flow")
            for flow in ("imports", "exports"):
                if flow in by_flow.index and "pretrend_p" in by_flow.columns:
                    put(f"Pre-trend p-value, {flow}", model, float(by_flow.loc[flow, "pretrend_p"]))
                if flow in by_flow.index and "placebo_p" in by_flow.columns:
                    put(f"Placebo p-value, {flow}", model, float(by_flow.loc[flow, "placebo_p"]))

    sdid = _load(store, "effects_single_unit_sdid")
    if sdid is not None and {"outcome", "estimate", "se"} <= set(sdid.columns):
        sdid = sdid[sdid["outcome"].map(_FLOWS).notna()]
        if len(sdid):
            model = "synthetic_did"
            columns.append(model)
            parts.append(pd.DataFrame({"model": model, "term": sdid["outcome"].map(_FLOWS),
                                       "estimate": sdid["estimate"], "se": sdid["se"]}))
            put("Effect measured", model, "mean over the post-entry years of its panel")
            controls = sdid["n_controls"].iloc[0] if "n_controls" in sdid.columns else None
            put("Comparison", model, f"{int(controls)} control partners, weighted" if _finite(controls)
                else "control partners, weighted")
            put("Standard errors", model, "placebo (one control at a time)")
            by_flow = sdid.assign(flow=sdid["outcome"].map(_FLOWS)).set_index("flow")
            for flow in ("imports", "exports"):
                if flow in by_flow.index and "placebo_p_value" in by_flow.columns:
                    put(f"Placebo p-value, {flow}", model, float(by_flow.loc[flow, "placebo_p_value"]))

    if not parts:
        return None
    # the footer rows in a fixed order
    order = ["Effect measured", "Comparison", "Standard errors", "Observations", "Pre-trend p-value, imports",
             "Pre-trend p-value, exports", "Placebo p-value, imports", "Placebo p-value, exports"]
    footer = {row: footer[row] for row in order if row in footer}
    note = (f"Estimated effect of {agreement} (in force {entry}) on log US goods imports from and exports to "
            f"{partner}, in log points (100 × (exp(b) − 1) is the percent effect). Each column compares {partner} "
            "with other US trading partners; with a single treated partner, clustered standard errors rest on one "
            "treated cluster and the placebo p-values are the more honest guide (Conley and Taber 2011). The "
            "event study's coefficients by year and its pre-trend tests are in the event-study table")
    return RegressionTable(
        title=f"The effect of {agreement} on US trade with {partner}: estimators compared",
        coefficients=pd.concat(parts, ignore_index=True), models=columns,
        model_labels={k: v for k, v in {"event_study_ols": "Event study\nOLS, TWFE", "callaway_santanna_alone":
                                        f"Callaway-Sant'Anna\n{partner} alone", "synthetic_did": "Synthetic\nDiD"}
                      .items() if k in columns},
        terms=["imports", "exports"],
        labels={f: _flow_label(f, partner) for f in ("imports", "exports")}, footer=footer, note=note,
        source=source_line(["census_annual"], "USTR agreement dates"))


def event_study_table(store) -> RegressionTable | None:
    """The annual event study of notebook 03: one column per flow and estimator (OLS on logs,
    PPML on levels), one row per event time.

    Reads ``effects_event_study`` (``model`` as ``"<flow>|<method>"``, ``event_time, estimate,
    se``; the reference period is the row with estimate and SE both zero, left out) and
    ``effects_pretrend`` (``model`` as ``"<flow>, <method>"``, ``F, p_value, nobs``).
    """
    frame = _load(store, "effects_event_study")
    if frame is None:
        return None
    _require(frame, "effects_event_study", ["model", "event_time", "estimate", "se"])
    partner, agreement, entry = _study_words(store)
    keys = list(pd.unique(frame["model"].astype(str)))
    flows = list(dict.fromkeys(k.split("|")[0] for k in keys))
    keys = [k for f in flows for k in keys if k.split("|")[0] == f]
    headers = {k: k.split("|")[1].upper() if "|" in k else k for k in keys}
    reference = frame[(frame["estimate"] == 0) & (frame["se"] == 0)]["event_time"]
    reference_time = int(reference.iloc[0]) if len(reference) else None
    data = frame[~((frame["estimate"] == 0) & (frame["se"] == 0))]
    times = sorted(int(t) for t in pd.unique(data["event_time"]))
    low, high = min(frame["event_time"]), max(frame["event_time"])
    entry_year = store.study.entry.year if store.study.entry is not None else None

    def label(k: int) -> str:
        number = f"−{-k}" if k < 0 else str(k)  # a true minus sign (LaTeX: $-$)
        if k == low:
            return f"Event time ≤ {number}"
        if k == high:
            return f"Event time ≥ {number}"
        return f"Event time {number}" + (f" ({entry_year + k})" if entry_year is not None else "")

    coefficients = pd.DataFrame({"model": data["model"].astype(str),
                                 "term": data["event_time"].astype(int).astype(str),
                                 "estimate": data["estimate"], "se": data["se"]})
    footer: dict[str, dict] = {}
    pretrend = _load(store, "effects_pretrend")
    if pretrend is not None and "model" in pretrend.columns:
        pre = pretrend.set_index(pretrend["model"].astype(str))
        for k in keys:
            name = k.replace("|", ", ")
            if name in pre.index:
                if "nobs" in pre.columns:
                    footer.setdefault("Observations", {})[k] = int(pre.loc[name, "nobs"])
                if "F" in pre.columns:
                    footer.setdefault("Pre-trend F", {})[k] = float(pre.loc[name, "F"])
                if "p_value" in pre.columns:
                    footer.setdefault("Pre-trend p-value", {})[k] = float(pre.loc[name, "p_value"])
    footer["Partner FE"] = {k: True for k in keys}
    footer["Year FE"] = {k: True for k in keys}
    footer["Clustered by"] = {k: "partner" for k in keys}
    footer["Estimator"] = {k: {"ols": "OLS, log flow", "ppml": "PPML, flow"}.get(k.split("|")[-1], k) for k in keys}
    groups = [(f"US {f}" if f in ("imports", "exports") else f, sum(1 for k in keys if k.split("|")[0] == f))
              for f in flows]
    note = (f"Event study of US goods trade with {partner} around the entry into force of {agreement} ({entry}): "
            f"coefficients on indicators of {partner} at each event time (years since entry; endpoints binned), "
            f"relative to event time {'−1' if reference_time is None else str(reference_time).replace('-', '−')} "
            "(the reference, normalised to zero). Control partners as in notebook 03. "
            "Standard errors clustered by partner (CR1 with G/(G−1)); the pre-trend F tests the leads jointly")
    return RegressionTable(
        title=f"Event study: US trade with {partner} around the entry into force of {agreement}",
        coefficients=coefficients, models=keys, model_labels=headers, terms=[str(t) for t in times],
        labels={str(t): label(t) for t in times}, footer=footer, column_groups=groups, note=note,
        source=source_line(["census_annual"], "USTR agreement dates"))


def did_table(store) -> RegressionTable | None:
    """The product-level difference-in-differences of notebook 03: one column per flow, one row
    per product group (treated partner x post-entry x group).

    Reads ``effects_did`` (``flow, group, estimate, se``; ``n_chapters`` is named in the row
    labels).
    """
    frame = _load(store, "effects_did")
    if frame is None:
        return None
    _require(frame, "effects_did", ["flow", "group", "estimate", "se"])
    partner, agreement, entry = _study_words(store)
    flows = list(pd.unique(frame["flow"].astype(str)))
    groups = list(pd.unique(frame["group"].astype(str)))
    chapters = {}
    if "n_chapters" in frame.columns:
        chapters = frame.drop_duplicates("group").set_index(frame.drop_duplicates("group")["group"].astype(str))[
            "n_chapters"].to_dict()
    coefficients = pd.DataFrame({"model": frame["flow"].astype(str), "term": frame["group"].astype(str),
                                 "estimate": frame["estimate"], "se": frame["se"]})

    def label(group: str) -> str:
        n = chapters.get(group)
        count = f" [{int(n)} HS chapter{'s' if int(n) != 1 else ''}]" if _finite(n) else ""
        return f"{partner} × post × {group}{count}"

    footer = {"HS chapter × year FE": {f: True for f in flows}, "Partner × HS chapter FE": {f: True for f in flows},
              "Clustered by": {f: "partner" for f in flows}, "Estimator": {f: "PPML" for f in flows}}
    note = (f"Product-level difference-in-differences: US trade in each HS 2-digit chapter with {partner} and the "
            f"control partners, before and after the entry into force ({entry}), by Poisson pseudo-maximum likelihood "
            "(zeros kept); one coefficient per product group. Standard errors clustered by partner. Observations "
            "used are not saved")
    return RegressionTable(
        title=f"Product-level difference-in-differences: the effect of {agreement} by product group",
        coefficients=coefficients, models=flows, terms=groups, labels={g: label(g) for g in groups}, footer=footer,
        note=note, source=source_line(["comtrade_hs2"], "USTR agreement dates"))


_STAGGERED_ORDER = ("pooled effect of US agreements", "pooled effect (Sun-Abraham)", "cohort", "alone")


def _staggered_key(quantity: str) -> tuple:
    for i, start in enumerate(_STAGGERED_ORDER):
        if quantity.startswith(start) or quantity.endswith(f"{start} (group of one)"):
            return (i, quantity)
    return (len(_STAGGERED_ORDER), quantity)


def _staggered_label(quantity: str) -> str:
    if quantity == "pooled effect of US agreements":
        return "All US agreements, pooled (Callaway-Sant'Anna)"
    if quantity == "pooled effect (Sun-Abraham)":
        return "All US agreements, pooled (Sun-Abraham)"
    if quantity.startswith("cohort"):
        return "Cohort " + quantity[len("cohort "):]
    if quantity.endswith("alone (group of one)"):
        return quantity.replace(" (group of one)", "") + " (group of one)"
    return quantity


def staggered_table(store) -> RegressionTable | None:
    """The staggered design of notebook 03 (every US agreement as a cohort): one column per
    outcome and control group, one row per aggregation.

    Reads ``effects_staggered`` (``outcome, control_group, quantity, estimate, se, n``); the
    US$ balance row (another unit) is left out.
    """
    frame = _load(store, "effects_staggered")
    if frame is None:
        return None
    _require(frame, "effects_staggered", ["outcome", "control_group", "quantity", "estimate", "se"])
    frame = frame[frame["outcome"].map(_FLOWS).notna()]
    if frame.empty:
        return None
    partner, agreement, entry = _study_words(store)
    flows = [f for f in ("imports", "exports") if (frame["outcome"].map(_FLOWS) == f).any()]
    controls = [c for c in ("notyet", "never") if c in set(frame["control_group"])] + \
        [c for c in pd.unique(frame["control_group"]) if c not in ("notyet", "never")]
    words = {"notyet": "Not yet\ntreated", "never": "Never\ntreated"}
    columns = [(f, c) for f in flows for c in controls
               if ((frame["outcome"].map(_FLOWS) == f) & (frame["control_group"] == c)).any()]
    ids = {col: f"{col[0]}|{col[1]}" for col in columns}
    coefficients = pd.DataFrame({
        "model": [ids.get((_FLOWS[o], c)) for o, c in zip(frame["outcome"], frame["control_group"], strict=True)],
        "term": frame["quantity"].astype(str), "estimate": frame["estimate"], "se": frame["se"]})
    terms = sorted(pd.unique(coefficients["term"]), key=_staggered_key)
    footer: dict[str, dict] = {}
    if "n" in frame.columns:
        pooled = frame[frame["quantity"] == "pooled effect of US agreements"]
        for o, c, n in zip(pooled["outcome"], pooled["control_group"], pooled["n"], strict=True):
            if (_FLOWS[o], c) in ids and _finite(n):
                footer.setdefault("Agreement partners (pooled)", {})[ids[(_FLOWS[o], c)]] = int(n)
    groups = [(f"ln US {f}", sum(1 for col in columns if col[0] == f)) for f in flows]
    note = ("Staggered difference-in-differences over the US agreements in force during the panel, each partner's "
            "entry year its cohort (Callaway and Sant'Anna 2021; Sun and Abraham 2021), annual Census data, log "
            f"flows. Pooled rows average over every agreement partner; the cohort row over {partner}'s cohort; the "
            f"last row is {partner} alone, averaged over its post-entry years up to the compare year. Analytic "
            "standard errors (influence function; for Sun-Abraham, the regression's clustered errors)")
    return RegressionTable(
        title=f"Staggered adoption: US agreements' effects on trade, and {partner}'s own",
        coefficients=coefficients, models=[ids[c] for c in columns],
        model_labels={ids[c]: words.get(c[1], c[1]) for c in columns}, terms=terms,
        labels={t: _staggered_label(t) for t in terms}, footer=footer, column_groups=groups, note=note,
        source=source_line(["census_annual"], "USTR agreement dates"))


# --------------------------------------------------------------------------- all of them
BUILDERS: dict[str, Callable] = {
    "gravity": gravity_table,
    "gravity_models": gravity_models_table,
    "effects_summary": effects_table,
    "event_study": event_study_table,
    "product_did": did_table,
    "staggered": staggered_table,
    "macro": macro_table,
}
"""File stem -> builder, in the order a paper's appendix would show them."""


def all_tables(store) -> dict[str, RegressionTable]:
    """Every table the store's results allow, by file stem (:data:`BUILDERS`); builders whose
    result is missing are left out."""
    out = {}
    for name, builder in BUILDERS.items():
        table = builder(store)
        if table is not None:
            out[name] = table
    return out


def _write_text(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix + ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        config.publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_all(store, folder: str | Path) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.html`` for every table of :func:`all_tables` into
    ``folder`` (created if needed), each file atomically (a temporary file moved into place).
    Files of a builder whose result is no longer in the store are removed, so that the folder
    never shows a table of an earlier run. Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = all_tables(store)
    written = []
    for name, table in tables.items():
        written.append(_write_text(folder / f"{name}.tex", table.to_latex(label=f"tab:{name}")))
        written.append(_write_text(folder / f"{name}.html", table.to_html(table_id=f"regtable-{name}")))
    for name in set(BUILDERS) - set(tables):
        for suffix in (".tex", ".html"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)
    return written
