"""One formatting layer for every table the suite shows, and its downloads.

Every table shown in a notebook or in the HTML report passes through :func:`format_frame`,
which turns numbers into the text a reader sees, by one set of rules:

- **decimals by quantity** (:data:`UNIT_RULES`): US$ bn 1 decimal, US$ million 0, shares
  and elasticities 2, log points 3, percent 1, statistics 2, p-values 2 with ``<0.01`` below
  the last shown digit, counts integers with thousands separators, years integers without;
- **thousands separators** for every number but years (``316,317``; ``1,234.5``);
- **rounding as a reader would**: the shortest decimal form of the value is rounded half
  away from zero, so ``-2.55`` shows as ``-2.6`` and ``-3.05`` as ``-3.1`` (plain float
  formatting gives ``-2.5`` and ``-3.0``, because neither value is exact in binary);
- **no negative zero**: a value is rounded first and a zero result loses its sign
  (``-0.04`` at one decimal shows as ``0.0``);
- **missing values** show as an en dash (``–``, :data:`NA_REP`), never ``nan``;
- **human headers with units** from :data:`LABELS` (``usd_bn`` -> ``US$ bn``, ``ci_low`` ->
  ``95% CI low``), the unit appended when a column's unit is known and the header lacks it.

The unit of a column comes, in this order, from the ``units`` argument; from its name
(``*_usd_bn``, ``*_p``, ``p_value``, ``pct_*``, ``share``, ``year``, ``n_*`` ...); from a
``unit`` column giving each row's unit (the long estimate table of :mod:`.results`); from
the estimate a bound or error belongs to (``low`` and ``se`` beside ``usd_bn`` are US$ bn
too); otherwise from its values: integer-valued columns show as counts, other numbers with one
number of decimals for the whole table chosen from their median size (3 below 1, 2 below
100, 1 below 1,000, else 0). Passing ``units`` is the way to be sure. Text cells are never
reinterpreted (``"05"`` stays ``"05"``) unless the column's unit is given explicitly.

A displayed table whose rows add up to a total keeps adding up after rounding: see
:func:`consistent_total` (and the ``totals`` argument of :func:`format_frame`).

Rendering: :func:`styled` returns a pandas ``Styler`` for notebooks, :func:`to_html` the HTML
of the static report (inside ``<div class="table-scroll">``, with :data:`CSS`), and
:func:`to_text` a plain-text table (what a notebook's text output holds, so that nbval
compares the rounded numbers). :func:`write_downloads` writes the CSV and XLSX files.

Why pandas ``Styler`` and not Great Tables (1.1.0): both work offline, but Great Tables puts
about 9 KB of CSS in every table, and part of it is not scoped to the table
(``#id thead, tbody, tfoot, tr, td, th {border-style: none}`` restyles every other table of
the page); it renders the title as a table row rather than a ``<caption>``; it gives no way
to put a class on a cell (only inline styles); and its number formatters work column by column, whereas the
estimate table needs a unit per row and totals that keep adding up. The text is therefore
made here and ``Styler`` (pandas' own, with deterministic ids so that nbval can compare the
HTML output) lays it out.
"""

from __future__ import annotations

import hashlib
import html
import math
import numbers
import os
import re
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from . import config
from .errors import ParameterError

__all__ = [
    "CSS", "LABELS", "NA_REP", "ROUNDING_NOTE", "UNIT_RULES", "Rule", "TableStyler", "canonical_unit",
    "consistent_total", "format_frame", "format_number", "label", "styled", "to_html", "to_text",
    "write_downloads",
]

NA_REP = "–"
"""What a missing value shows (an en dash)."""

ROUNDING_NOTE = "Parts may not add up to the total because of rounding."
"""The footnote for a table whose parts and total are not an exact identity (so that
:func:`consistent_total` cannot apply)."""


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    """How the numbers of one unit are shown.

    Parameters
    ----------
    unit : str
        Canonical unit name (a key of :data:`UNIT_RULES`), or ``""`` for a number whose unit
        is unknown.
    decimals : int
        Digits after the decimal point.
    separators : bool
        Thousands separators (``1,234``); off for years.
    kind : {"number", "p-value", "year"}
        ``p-value`` shows values below ``10**-decimals`` as ``<0.01``.
    suffix : str
        What a header gets appended (``", US$ bn"``) when it does not name the unit already.
    """

    unit: str
    decimals: int
    separators: bool = True
    kind: str = "number"
    suffix: str = ""


UNIT_RULES: dict[str, Rule] = {
    "US$ bn": Rule("US$ bn", 1, suffix="US$ bn"),
    "US$ million": Rule("US$ million", 0, suffix="US$ million"),
    "share": Rule("share", 2),
    "elasticity": Rule("elasticity", 2),
    "log points": Rule("log points", 3, suffix="log points"),
    "percent": Rule("percent", 1, suffix="%"),
    "p-value": Rule("p-value", 2, separators=False, kind="p-value"),
    "statistic": Rule("statistic", 2),
    "count": Rule("count", 0),
    "year": Rule("year", 0, separators=False, kind="year"),
}
"""Decimals and separators by unit. The units of :data:`korus_research.results.UNITS` are all
here, plus ``US$ million`` and ``year``."""

# spellings met in saved tables, mapped to the canonical unit
_ALIASES = {
    "us$ bn": "US$ bn", "us$ billion": "US$ bn", "usd bn": "US$ bn", "usd billion": "US$ bn", "usd_bn": "US$ bn",
    "$ bn": "US$ bn", "us$ bn per year": "US$ bn", "usd bn per year": "US$ bn",
    "us$ million": "US$ million", "us$ mn": "US$ million", "usd million": "US$ million", "usd_m": "US$ million",
    "share": "share", "ratio": "share", "fraction": "share",
    "elasticity": "elasticity",
    "log points": "log points", "log point": "log points", "log": "log points",
    "percent": "percent", "%": "percent", "pct": "percent", "per cent": "percent",
    "p-value": "p-value", "p value": "p-value", "p": "p-value",
    "statistic": "statistic", "count": "count", "number": "count", "year": "year",
}


def canonical_unit(unit: str, strict: bool = True) -> str | None:
    """The canonical name of ``unit`` (a key of :data:`UNIT_RULES`).

    Parameters
    ----------
    unit : str
        A unit as written in a table (``"US$ bn"``, ``"USD bn per year"``, ``"%"`` ...).
    strict : bool
        Raise :class:`~korus_research.errors.ParameterError` for an unknown unit; else
        return ``None``.
    """
    if isinstance(unit, str):
        key = unit.strip().lower()
        if key in _ALIASES:
            return _ALIASES[key]
    if strict:
        raise ParameterError("units", unit, sorted(UNIT_RULES))
    return None


# --------------------------------------------------------------------------- numbers
def _decimal(value) -> Decimal:
    """The shortest decimal form of a finite number (``-2.55`` is ``Decimal('-2.55')``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Decimal(int(value))
    return Decimal(repr(float(value)))


def _round(value, decimals: int) -> Decimal:
    """Round half away from zero on the shortest decimal form; never negative zero."""
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded == 0 else rounded


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _parse_number(text: str) -> float | None:
    """The number a text cell holds (``"316317"``, ``"1,234.5"``, ``"nan"``), else ``None``."""
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def format_number(value, unit: str | None = None, decimals: int | None = None, na_rep: str = NA_REP) -> str:
    """The text one number shows.

    Parameters
    ----------
    value : float, int or None
    unit : str, optional
        A unit of :data:`UNIT_RULES` (or an alias); ``None`` shows 2 decimals.
    decimals : int, optional
        Overrides the unit's decimals.
    na_rep : str
        Text of a missing value.

    Examples
    --------
    >>> format_number(-2.55, "US$ bn"), format_number(-0.04, "US$ bn"), format_number(2012, "year")
    ('-2.6', '0.0', '2012')
    >>> format_number(0.004, "p-value"), format_number(316317, "count")
    ('<0.01', '316,317')
    """
    rule = UNIT_RULES[canonical_unit(unit)] if unit is not None else Rule("", 2)
    if decimals is not None:
        rule = replace(rule, decimals=_check_decimals(decimals, "decimals"))
    return _format_value(value, rule, na_rep)


def _format_value(value, rule: Rule, na_rep: str) -> str:
    if _is_missing(value):
        return na_rep
    if isinstance(value, str):
        number = _parse_number(value)
        if number is None:
            return value
        if math.isnan(number):
            return na_rep
        value = number
    if not _is_number(value):
        return _text(value, na_rep)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if rule.kind == "p-value" and value < 10.0 ** -rule.decimals:
        return f"<{Decimal(1).scaleb(-rule.decimals):f}"
    rounded = _round(value, rule.decimals)
    if rule.kind == "year" or not rule.separators:
        return f"{rounded:.{rule.decimals}f}"
    return f"{rounded:,.{rule.decimals}f}"


def _text(value, na_rep: str) -> str:
    """A non-number cell: booleans as yes/no, dates as ISO, containers readably."""
    if _is_missing(value) or isinstance(value, str) and value.strip() in _MISSING_TEXT:
        return na_rep
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat(sep=" ")
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v, na_rep)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return ", ".join(_text(v, na_rep) for v in value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if _is_number(value):
        return format_number(value, na_rep=na_rep)
    return str(value)


# --------------------------------------------------------------------------- rounding consistency
def consistent_total(parts: Sequence[float], total: float | None = None, decimals: int = 1,
                     absorb: int | None = None) -> tuple[list[float], float]:
    """Round the parts of a sum so that the displayed parts add up to the displayed total.

    Rounding each number on its own breaks the arithmetic a reader checks: parts -2.55 and
    -3.05 of a total -5.60 show as -2.6, -3.1 and -5.6, and -2.6 - 3.1 is -5.7. The total
    is rounded as usual (half away from zero), and the parts are made to add up to it:

    - with ``absorb=None``, by **largest-remainder rounding**: each part is rounded down
      (to the next lower multiple of ``10**-decimals``), and the units still missing from
      the total go, one each, to the parts with the largest remainders (ties: the larger part
      in absolute value, then the earlier one). Every part thus shows one of the two
      multiples nearest to it, off by less than one unit of the last digit;
    - with ``absorb=i``, part ``i`` (a residual, defined as the total minus the other parts)
      is shown as the displayed total minus the other displayed parts, which are rounded as
      usual. This is the choice for an attribution table whose residual row is itself a
      difference, since it keeps every other row at its own rounding.

    The parts must add up to the total (within half a unit of the last digit shown); when
    they do not, no rounding can make the table add up honestly: show each number rounded on
    its own with the footnote :data:`ROUNDING_NOTE` instead.

    Parameters
    ----------
    parts : sequence of float
        The exact parts (no missing values).
    total : float, optional
        The exact total; the sum of ``parts`` when omitted.
    decimals : int
        Digits shown after the decimal point (1 for US$ bn).
    absorb : int, optional
        Position in ``parts`` of the part that takes up the rounding.

    Returns
    -------
    (list of float, float)
        The displayed parts and the displayed total, already rounded to ``decimals``: format
        them with the same number of decimals (:func:`format_number` does not change them).

    Raises
    ------
    ParameterError
        A part is missing or infinite, ``absorb`` is out of range, or the parts do not add up
        to the total.

    Examples
    --------
    >>> consistent_total([-2.55, -3.05], -5.60)
    ([-2.6, -3.0], -5.6)
    >>> consistent_total([1.04, 1.04, 1.04, -0.02], absorb=3)
    ([1.0, 1.0, 1.0, 0.1], 3.1)
    """
    decimals = _check_decimals(decimals, "decimals")
    values = list(parts)
    if not values or not all(_is_number(v) and math.isfinite(v) for v in values):
        raise ParameterError("parts", parts, "a non-empty sequence of finite numbers")
    exact = [_decimal(v) for v in values]
    exact_total = sum(exact, Decimal(0)) if total is None else None
    if total is not None:
        if not (_is_number(total) and math.isfinite(total)):
            raise ParameterError("total", total, "a finite number")
        exact_total = _decimal(total)
    unit = Decimal(1).scaleb(-decimals)
    gap = abs(sum(exact, Decimal(0)) - exact_total)
    if gap > unit / 2:
        raise ParameterError("total", total, f"the sum of the parts ({float(sum(exact, Decimal(0)))!r}) within "
                             f"half a unit of the last digit ({float(unit / 2)!r})",
                             problem="the parts do not add up to the total; show them rounded on their own "
                                     "with the footnote ROUNDING_NOTE")
    shown_total = _round(exact_total, decimals)
    if absorb is not None:
        if not isinstance(absorb, (int, np.integer)) or not -len(values) <= absorb < len(values):
            raise ParameterError("absorb", absorb, f"a position in parts, 0 to {len(values) - 1}, or None")
        absorb = int(absorb) % len(values)
        shown = [_round(v, decimals) for v in exact]
        shown[absorb] = Decimal(0)
        shown[absorb] = shown_total - sum(shown, Decimal(0))
    else:
        floors = [v.quantize(unit, rounding=ROUND_FLOOR) for v in exact]
        missing = int((shown_total - sum(floors, Decimal(0))) / unit)
        order = sorted(range(len(values)), key=lambda i: (-(exact[i] - floors[i]), -abs(exact[i]), i))
        shown = list(floors)
        for i in order[:missing]:
            shown[i] += unit
    clean = [s.copy_abs() if s == 0 else s for s in shown]
    return [float(s) for s in clean], float(shown_total)


# --------------------------------------------------------------------------- headers
def _flow_labels() -> dict[str, str]:
    out = {}
    for flow, name in (("exports", "exports"), ("imports", "imports"), ("balance", "the balance")):
        effect = f"Effect on {name}"
        out |= {f"{flow}_actual": f"{flow.capitalize()}, actual",
                f"{flow}_counterfactual": f"{flow.capitalize()}, counterfactual",
                f"{flow}_effect": effect, f"{flow}_effect_se": f"{effect}, SE",
                f"{flow}_effect_ci_low": f"{effect}, 95% CI low", f"{flow}_effect_ci_high": f"{effect}, 95% CI high",
                f"{flow}_change": f"Change in {name}", f"{flow}_usd_bn": f"{flow.capitalize()}, US$ bn"}
    return out


LABELS: dict[str, str] = {
    # the estimate table (results.ESTIMATE_SCHEMA)
    "study_id": "Study", "notebook": "Notebook", "quantity": "Quantity", "estimator": "Estimator",
    "period": "Period", "unit": "Unit", "value": "Value", "interval": "Interval", "low": "Low", "high": "High",
    "diagnostics": "Diagnostics", "diagnostics_detail": "Diagnostics, detail",
    # estimates and intervals
    "usd_bn": "US$ bn", "usd_m": "US$ million", "estimate": "Estimate", "se": "SE", "ci_low": "95% CI low",
    "ci_high": "95% CI high", "pct_effect": "Effect, %", "effect": "Effect", "effect_se": "Effect, SE",
    "set_low": "Set, low", "set_high": "Set, high", "level": "Level", "log effect se": "Log effect, SE (log points)",
    "effect (log points)": "Effect, log points",
    "balance_effect_year": "Effect on the balance in the year",
    "balance_effect_year_se": "Effect on the balance in the year, SE",
    "balance_effect_year_ci_low": "Effect on the balance in the year, 95% CI low",
    "balance_effect_year_ci_high": "Effect on the balance in the year, 95% CI high",
    "balance effect": "Effect on the balance", "balance effect ci_low": "Effect on the balance, 95% CI low",
    "balance effect ci_high": "Effect on the balance, 95% CI high", "exports effect": "Effect on exports",
    "imports effect": "Effect on imports",
    # tests
    "p_value": "p-value", "p_value_no_effect": "p-value (no effect)", "min_attainable_p": "Smallest attainable p",
    "placebo_p_value": "Placebo p-value", "placebo_p": "Placebo p-value", "pretrend_p": "Pre-trend p-value",
    "placebo_pretrend_p": "Placebo pre-trend p-value", "leads p-value": "Leads p-value",
    "pretrend_stat": "Pre-trend statistic", "pretrend_df": "Pre-trend df", "pretrend_leads": "Pre-trend leads",
    "placebo_ci_low": "Placebo 95% CI low", "placebo_ci_high": "Placebo 95% CI high",
    "F": "F", "df1": "df (numerator)", "df2": "df (denominator)", "nobs": "Observations", "n": "N",
    "n_chapters": "HS chapters", "n_controls": "Control units", "n_pre": "Pre-period years",
    "n_post": "Post-period years", "rank": "Rank", "draw": "Draw",
    "breakdown_mbar": "Breakdown M̄", "breakdown_m": "Breakdown M", "se_sampled": "SE, sampled",
    "pre_fit_rmse": "Pre-period fit RMSE", "rmspe_pre": "Pre-period RMSPE", "rmspe_post": "Post-period RMSPE",
    "ratio": "Post/pre RMSPE ratio", "post_gap_mean": "Mean post-period gap",
    "placebo_correlation": "Placebo correlation", "pseudo_r2": "Pseudo R²",
    # dimensions
    "year": "Year", "cohort": "Cohort", "cohort_label": "Cohort label", "event_time": "Event time (years)",
    "flow": "Flow", "group": "Product group", "model": "Model", "method": "Method", "treated": "Treated",
    "outcome": "Outcome", "proxy": "Proxy", "scheme": "Scheme", "target": "Target",
    "control_group": "Control group", "partner": "Partner", "agreement": "Agreement",
    "specification": "Specification", "term": "Term", "equation": "Equation", "series": "Series",
    "component": "Component", "design": "Design", "check": "Check", "headline": "Headline",
    "excludes zero": "Excludes zero", "contiguous": "Contiguous", "grid_limited": "Limited by the grid",
    "fixed_effects": "Fixed effects", "ssc": "Small-sample correction", "item": "Item", "basis": "Basis",
    "finding": "Finding", "rule": "Rule", "reason": "Reason", "section": "Section", "source": "Source",
    "ZA break": "ZA break (year)",
    # decomposition
    "change": "Change", "share_of_balance_change": "Share of the balance change", "product_mix": "Product mix",
    "within_product_share": "Within-product share", "share_change": "Change in share",
    "product_mix_log": "Product mix, log points", "within_product_share_log": "Within-product share, log points",
    "total_demand": "Total demand", "partner_share": "Partner share",
    "comtrade_ch87_cif_usd_bn": "Comtrade HS 87 imports (CIF), US$ bn",
    "census_to_comtrade_import_ratio": "Census / Comtrade import ratio",
    "comtrade_ch87_at_census_value_usd_bn": "Comtrade HS 87 at Census value, US$ bn",
    "census_enduse_autos_usd_bn": "Census end-use autos, US$ bn",
    # the literature comparison
    "published": "Published figure", "published value": "Published value", "published low": "Published, low",
    "published high": "Published, high", "ours": "Ours", "ours low": "Ours, low", "ours high": "Ours, high",
    "difference in definitions": "Difference in definitions",
    **_flow_labels(),
}
"""Human headers (with units where the name implies one) of the columns of saved results."""

_INTERVAL_LABELS = {"ci_low": "low", "ci_high": "high", "low": "low", "high": "high"}
_MACHINE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOKENS = {"usd": "US$", "bn": "bn", "se": "SE", "pct": "%", "ci": "CI", "rmse": "RMSE", "gdp": "GDP",
           "ppml": "PPML", "ols": "OLS", "hs": "HS", "fe": "FE", "rer": "RER"}


def _interval_kind(frame: pd.DataFrame | None) -> str:
    """``95% CI`` when every interval of ``frame`` is a 95% CI, else the level shown, or ``""``."""
    if frame is None:
        return "95% CI"
    if "interval" in frame:
        kinds = {str(k) for k in frame["interval"].dropna()} - {"none"}
        if kinds and kinds != {"95% CI"}:
            return ""
    if "level" in frame:
        levels = pd.to_numeric(frame["level"], errors="coerce").dropna().unique()
        if len(levels) > 1:
            return "CI"
        if len(levels) == 1:
            level = float(levels[0]) * (100 if levels[0] <= 1 else 1)
            return f"{level:g}% CI"
    return "95% CI"


def label(column: Hashable, unit: str | None = None, labels: Mapping[str, str] | None = None,
          frame: pd.DataFrame | None = None) -> str:
    """The header a column shows.

    From ``labels`` (the caller's own), else :data:`LABELS`, else the name made readable
    (``exports_change`` -> ``Exports change``). Interval bounds (``ci_low``, ``low`` ...) name
    their kind from the ``interval`` and ``level`` columns of ``frame``: "95% CI low" only when
    every interval is a 95% CI, "Low" when the kinds differ by row. The unit is appended
    (``, US$ bn``) when ``unit`` is given and the header does not name it already.
    """
    name = ", ".join(str(c) for c in column) if isinstance(column, tuple) else str(column)
    if labels and column in labels:
        return str(labels[column])
    if name in _INTERVAL_LABELS:
        kind = _interval_kind(frame)
        bound = _INTERVAL_LABELS[name]
        text = f"{kind} {bound}" if kind else bound.capitalize()
    elif name in LABELS:
        text = LABELS[name]
    elif _MACHINE_NAME.match(name):
        words = [_TOKENS.get(w, w) for w in name.split("_")]
        text = re.sub(r"\bUS\$ bn\b", ", US$ bn", " ".join(words)).replace(" , ", ", ").lstrip(", ")
        text = text.replace("CI low", "95% CI low").replace("CI high", "95% CI high")
        text = text.replace("p value", "p-value")
        text = text[:1].upper() + text[1:]
    elif name[:1].islower() and not any(c in name for c in "[@") and not name.startswith("_"):
        text = name[:1].upper() + name[1:]
    else:
        text = name
    if unit is not None:
        rule = UNIT_RULES.get(canonical_unit(unit, strict=False) or "")
        if rule and rule.suffix and rule.suffix.lower() not in text.lower():
            text = f"{text}, {rule.suffix}"
    return text


# --------------------------------------------------------------------------- units of columns
_YEAR_NAMES = {"year", "cohort", "cohort_label", "services year", "in force from", "za break", "entry year",
               "base_year", "compare_year", "vintage"}
_COUNT_NAMES = {"n", "nobs", "observations", "used", "df1", "df2", "pretrend_df", "pretrend_leads", "rank",
                "draw", "event_time", "clusters", "bandwidth"}


def _unit_from_name(name: str) -> str | None:
    """The unit a column's name implies (``exports_usd_bn`` -> US$ bn, ``ADF p`` -> p-value), or ``None``."""
    low = name.strip().lower()
    words = [w for w in re.split(r"[\s_,()/:;.-]+", low) if w]
    if not words:
        return None
    if low in _YEAR_NAMES:
        return "year"
    if low in _COUNT_NAMES or low.startswith("n_") or words[-1] == "lags":
        return "count"
    if "p_value" in low or "p-value" in low or words[-1] == "p":
        return "p-value"
    if "usd_bn" in low or "us$ bn" in low:
        return "US$ bn"
    if "usd_m" in low or "us$ million" in low:
        return "US$ million"
    if "pct" in words or "percent" in words or "%" in low:
        return "percent"
    if "log points" in low or words[0] == "log" or words[-1] == "log":
        return "log points"
    if "elasticity" in words or low == "theta":
        return "elasticity"
    if {"share", "ratio", "correlation", "r2"} & set(words) or low == "level":
        return "share"
    return None


_ESTIMATE_COLUMNS = ("usd_bn", "estimate", "value", "effect")
_BARE_COMPANIONS = {"low", "high", "ci_low", "ci_high", "se", "set_low", "set_high"}
_COMPANION = re.compile(r"^(.+?)[ _](ci_low|ci_high|low|high|se)$")
_MISSING_TEXT = {"nan", "NaN", "None", "<NA>", "NaT"}


def _measure(plan) -> bool:
    """Whether a column plan is a measured quantity whose unit its bounds share."""
    if isinstance(plan, list):
        return any(u is not None for u in plan)
    return plan in UNIT_RULES and plan not in ("count", "year", "p-value")


def _parsed_text(column: pd.Series) -> pd.Series | None:
    """The numbers of a text column whose every cell is a number or missing, else ``None``."""
    if column.dtype != object:
        return None
    out = []
    for v in column:
        if _is_missing(v) or isinstance(v, str) and v.strip() in _MISSING_TEXT:
            out.append(np.nan)
        elif isinstance(v, str) and _parse_number(v) is not None:
            out.append(_parse_number(v))
        else:
            return None
    return pd.Series(out, index=column.index, dtype=float) if np.isfinite(out).any() else None


def _numbers(column: pd.Series) -> pd.Series:
    """The cells of ``column`` that are real numbers (not booleans), as floats; else NaN."""
    if pd.api.types.is_bool_dtype(column):
        return pd.Series(np.nan, index=column.index)
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    return column.map(lambda v: float(v) if _is_number(v) else np.nan).astype(float)


def _integral(values: pd.Series) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) > 0 and bool((finite == np.round(finite)).all()) and bool((finite.abs() < 1e15).all())


def _auto_decimals(values: list[pd.Series]) -> int:
    """One number of decimals for the table's numbers of unknown unit, from their typical size."""
    finite = pd.concat(values) if values else pd.Series(dtype=float)
    finite = finite[np.isfinite(finite) & (finite != 0)].abs()
    if finite.empty:
        return 2
    typical = float(finite.median())
    return 3 if typical < 1 else 2 if typical < 100 else 1 if typical < 1000 else 0


def _check_decimals(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 12:
        raise ParameterError(name, value, "an integer from 0 to 12")
    return int(value)


def _as_frame(frame, parameter: str = "frame") -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, pd.Series):
        return frame.rename_axis(frame.index.name or "item").reset_index(name=frame.name or "value")
    if isinstance(frame, Mapping):
        return pd.DataFrame({"item": [str(k) for k in frame], "value": list(frame.values())})
    raise ParameterError(parameter, type(frame).__name__, "a pandas DataFrame (or, to display, a Series or dict)")


def _show_index(frame: pd.DataFrame) -> bool:
    """Whether the index means something: not a RangeIndex nor an unnamed integer index."""
    index = frame.index
    if isinstance(index, pd.MultiIndex):
        return True
    if isinstance(index, pd.RangeIndex) or (index.name is None and pd.api.types.is_integer_dtype(index)):
        return False
    return True


@dataclass
class _Layout:
    text: pd.DataFrame          # cells as shown, original column names
    numeric: np.ndarray         # True where a cell is a number (right-aligned, nowrap)
    rules: dict                 # column -> the Rule of each cell (None for a text cell)
    units: dict                 # column -> canonical unit when one unit holds for the whole column
    headers: list[str]


def _layout(frame, units=None, decimals=None, labels=None, totals=None, absorb=None, na_rep=NA_REP,
            unit_column="unit", parts=None) -> _Layout:
    frame = _as_frame(frame)
    if frame.columns.has_duplicates:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ParameterError("frame", ", ".join(dup), "a frame with unique column names")
    columns = list(frame.columns)
    if units is not None and not isinstance(units, (str, Mapping)):
        raise ParameterError("units", units, "a unit for every number column, or a mapping column -> unit "
                             "(or -> one unit per row)")
    if isinstance(units, Mapping):
        unknown = [c for c in units if c not in frame.columns]
        if unknown:
            raise ParameterError("units", ", ".join(map(str, unknown)), [str(c) for c in columns],
                                 problem="not columns of the frame")
    if isinstance(decimals, Mapping):
        for c, d in decimals.items():
            if c not in frame.columns:
                raise ParameterError("decimals", c, [str(x) for x in columns], problem="not a column of the frame")
            _check_decimals(d, f"decimals[{c!r}]")
    elif decimals is not None:
        _check_decimals(decimals, "decimals")
    if unit_column is not None and unit_column not in frame.columns:
        unit_column = None

    # the unit of each column: one unit, one per row, or None (decided by the values)
    plan: dict = {}
    for c in columns:
        if isinstance(units, Mapping) and c in units:
            given = units[c]
            if isinstance(given, str):
                plan[c] = canonical_unit(given)
            else:
                given = list(given)
                if len(given) != len(frame):
                    raise ParameterError(f"units[{c!r}]", f"{len(given)} units", f"one unit per row ({len(frame)})")
                plan[c] = [None if _is_missing(u) else canonical_unit(u) for u in given]
        elif c == unit_column:
            plan[c] = "text"
        else:
            plan[c] = None
    source = frame.copy()
    number_cols = {c: _numbers(frame[c]) for c in columns}
    for c in columns:
        # a text column of numbers ("316317") whose name says what they are: shown as numbers
        parsed = _parsed_text(frame[c]) if plan[c] is None and number_cols[c].isna().all() else None
        if parsed is not None and _unit_from_name(str(c)) is not None:
            source[c] = parsed
            number_cols[c] = parsed
    has_numbers = {c: bool(number_cols[c].notna().any() or pd.api.types.is_numeric_dtype(source[c])
                           and not pd.api.types.is_bool_dtype(source[c])) for c in columns}
    row_units = None
    if unit_column is not None:
        row_units = [canonical_unit(u, strict=False) if isinstance(u, str) else None for u in frame[unit_column]]
        row_units = row_units if any(row_units) else None
    pending = [c for c in columns if plan[c] is None and has_numbers[c]]
    for c in pending:                      # 1. the name, the units given for all, each row's unit
        by_name = _unit_from_name(str(c))
        values = number_cols[c]
        if by_name == "year" and not _integral(values) and values.notna().any():
            by_name = None
        if by_name is None and _integral(values):
            in_range = values.dropna().between(1800, 2200).all()
            by_name = "year" if in_range and re.search(r"year|cohort|break|vintage|from", str(c).lower()) else None
        if by_name is None and isinstance(units, str):
            by_name = canonical_unit(units)
        if by_name is None and row_units is not None:
            by_name = row_units
        plan[c] = by_name
    estimates = [c for c in _ESTIMATE_COLUMNS if c in plan and _measure(plan[c])]
    for c in pending:                      # 2. bounds and errors take the unit of their estimate
        if plan[c] is not None:
            continue
        match = _COMPANION.match(str(c))
        base = match.group(1) if match else None
        if base is not None and base in plan and _measure(plan[base]):
            plan[c] = plan[base]
        elif str(c) in _BARE_COMPANIONS and len(estimates) == 1:
            plan[c] = plan[estimates[0]]
    for c in pending:                      # 3. integers are counts
        if plan[c] is None and _integral(number_cols[c]):
            plan[c] = "count"
    auto = [number_cols[c] for c in columns if has_numbers[c] and plan[c] is None]
    auto_rule = Rule("", _auto_decimals(auto))

    def rule_for(c, unit) -> Rule:
        rule = UNIT_RULES[unit] if unit else auto_rule
        wanted = decimals.get(c) if isinstance(decimals, Mapping) else decimals
        if wanted is not None and rule.kind != "year":
            rule = replace(rule, decimals=int(wanted))
        return rule

    # values adjusted so that the shown parts add up to the shown totals
    values = source.copy()
    for c, total_row in (totals or {}).items():
        if c not in frame.columns:
            raise ParameterError("totals", c, [str(x) for x in columns], problem="not a column of the frame")
        if total_row not in frame.index:
            raise ParameterError(f"totals[{c!r}]", total_row, "a row label of the frame")
        if plan[c] is None or isinstance(plan[c], str) and plan[c] != "text":
            rule = rule_for(c, plan[c])
        else:
            raise ParameterError(f"totals[{c!r}]", c, "a number column with one unit")
        if parts is None:
            rows = [i for i in frame.index if i != total_row]
        else:
            rows = list(parts.tolist() if isinstance(parts, (pd.Index, pd.Series, np.ndarray)) else parts)
            wrong = [i for i in rows if i not in frame.index or i == total_row]
            if wrong or not rows:
                raise ParameterError("parts", ", ".join(map(str, wrong)) or "none",
                                     "row labels of the frame other than the total")
        if absorb is not None and absorb not in rows:
            raise ParameterError("absorb", absorb, "a row label among the parts")
        shown, shown_total = consistent_total(
            [float(source.at[i, c]) for i in rows], float(source.at[total_row, c]), rule.decimals,
            None if absorb is None else rows.index(absorb))
        values[c] = values[c].astype(float)
        for i, v in zip(rows, shown, strict=True):
            values.at[i, c] = v
        values.at[total_row, c] = shown_total

    text = pd.DataFrame(index=frame.index, columns=columns, dtype=object)
    numeric = np.zeros(frame.shape, dtype=bool)
    rules: dict = {}
    whole: dict = {}
    for j, c in enumerate(columns):
        unit = plan[c]
        column = values[c]
        explicit = isinstance(units, Mapping) and c in units
        if unit == "text" or not has_numbers[c] and not explicit:
            text[c] = [_text(v, na_rep) for v in column]
            rules[c] = [None] * len(column)
            continue
        per_row = unit if isinstance(unit, list) else [unit] * len(column)
        cells, cell_rules = [], []
        for i, (v, u) in enumerate(zip(column, per_row, strict=True)):
            rule = rule_for(c, u)
            if (_is_number(v) or _is_missing(v) and (pd.api.types.is_numeric_dtype(column) or explicit)
                    or explicit and isinstance(v, str) and _parse_number(v) is not None):
                cells.append(_format_value(v, rule, na_rep))
                cell_rules.append(rule)
                numeric[i, j] = True
            else:
                cells.append(_text(v, na_rep))
                cell_rules.append(None)
        text[c] = cells
        rules[c] = cell_rules
        if isinstance(unit, str):
            whole[c] = unit
    headers = [label(c, whole.get(c), labels, frame) for c in columns]
    seen: dict[str, int] = {}
    for j, h in enumerate(headers):
        if h in seen:
            headers[j] = f"{h} ({columns[j]})"
        seen[headers[j]] = j
    return _Layout(text, numeric, rules, whole, headers)


def format_frame(frame, units: str | Mapping | None = None, decimals: int | Mapping | None = None, *,
                 labels: Mapping[str, str] | None = None, totals: Mapping[str, Hashable] | None = None,
                 absorb: Hashable | None = None, parts: Sequence[Hashable] | None = None,
                 na_rep: str = NA_REP, header: bool = True, unit_column: str | None = "unit") -> pd.DataFrame:
    """The text a table shows: every cell a string, formatted by the rules of this module.

    Parameters
    ----------
    frame : DataFrame (or Series or dict, shown as item and value)
    units : str or mapping, optional
        The unit of every number column whose name does not say it (a string), or a mapping
        column -> unit, or column -> a sequence of one unit per row (a long table whose rows
        hold different quantities). Units: the keys of :data:`UNIT_RULES` or their aliases
        (``"USD bn"``, ``"%"`` ...). A column given a unit has its numeric text cells
        formatted too.
    decimals : int or mapping, optional
        Overrides the unit's decimals, for every number column or by column.
    labels : mapping, optional
        Headers of the caller's own, over :data:`LABELS`.
    totals : mapping, optional
        Column -> row label of its total: the other rows of that column are shown so that they
        add up to the shown total (:func:`consistent_total`).
    absorb : hashable, optional
        Row label of the part that takes up the rounding in ``totals`` (a residual row); by
        default, largest-remainder rounding spreads it.
    parts : sequence of hashable, optional
        Row labels of the parts that add up to the totals (default: every other row). Rows
        that are neither parts nor the total (a memo item) are rounded on their own.
    na_rep : str
        Text of a missing value (:data:`NA_REP`).
    header : bool
        Replace the column names by their human headers (:func:`label`).
    unit_column : str or None
        Column giving each row's unit (``unit`` in the estimate table); used for the number
        columns whose unit is neither given nor in their name.

    Returns
    -------
    DataFrame
        Strings only, same index and order as ``frame``.
    """
    layout = _layout(frame, units, decimals, labels, totals, absorb, na_rep, unit_column, parts)
    out = layout.text.copy()
    if header:
        out.columns = layout.headers
    return out


# --------------------------------------------------------------------------- rendering
def to_text(frame, caption: str | None = None, source: str | None = None, *, note: str | None = None,
            **options) -> str:
    """A plain-text table (numbers right-aligned, text left-aligned), with caption and source.

    ``options`` are those of :func:`format_frame`. This is what a notebook's text output of
    :func:`styled` holds, so that nbval compares the rounded numbers a reader sees.
    """
    frame = _as_frame(frame)
    layout = _layout(frame, **options)
    headers, body, numeric = list(layout.headers), layout.text.to_numpy().tolist(), layout.numeric
    right = [bool(numeric[:, j].any()) for j in range(len(headers))]
    if _show_index(frame):
        names = [str(n) if n is not None else "" for n in frame.index.names]
        headers = [" / ".join(n for n in names if n)] + headers
        index = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in frame.index]
        body = [[i, *row] for i, row in zip(index, body, strict=True)]
        right = [False, *right]
    widths = [max([len(h)] + [len(r[j]) for r in body]) for j, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    lines = [caption] if caption else []
    lines += [line(headers), line(["-" * w for w in widths])] + [line(r) for r in body]
    lines += [f"Note: {note}"] if note else []
    lines += [_source_text(source)] if source else []
    return "\n".join(lines)


def _source_text(source: str) -> str:
    source = str(source).strip()
    return source if source.lower().startswith("source") else f"Source: {source}"


class TableStyler(Styler):
    """A ``Styler`` of formatted text that also knows its source note and plain text.

    In a notebook its HTML output is the table inside a horizontally scrolling block with the
    source below it; its text output is :func:`to_text` (rounded numbers that nbval compares),
    not ``<Styler at 0x...>``.
    """

    source: str | None = None
    note: str | None = None
    plain: str = ""

    def _repr_html_(self) -> str | None:  # noqa: D401 - IPython hook
        table = super()._repr_html_()
        if table is None:
            return None
        return _wrap(table, self.source, self.note, None, inline=True)

    def __repr__(self) -> str:
        return self.plain


def _uuid(*parts) -> str:
    digest = hashlib.sha1(repr(parts).encode("utf-8")).hexdigest()
    return f"k{digest[:10]}"


def styled(frame, caption: str | None = None, source: str | None = None, *, note: str | None = None,
           **options) -> TableStyler:
    """The table as a pandas ``Styler``, for notebooks.

    Numbers right-aligned with ``white-space: nowrap`` (class ``num``), human headers, the
    index hidden when it is a RangeIndex (or an unnamed integer index), the caption as a
    ``<caption>``, ``source`` (and ``note``) below the table. The HTML ids derive from the
    content, so a rerun gives the same output.

    Parameters
    ----------
    frame : DataFrame (or Series or dict)
    caption : str, optional
        What the table shows, with its unit when all its numbers share one.
    source : str, optional
        Shown as "Source: ..." under the table.
    note : str, optional
        A footnote (for example :data:`ROUNDING_NOTE`).
    **options
        Passed to :func:`format_frame` (``units``, ``decimals``, ``labels``, ``totals``,
        ``absorb``, ``parts``, ``na_rep``, ``unit_column``).
    """
    frame = _as_frame(frame)
    show_index = _show_index(frame)
    if show_index and not frame.index.is_unique:
        # Styler places classes by label: a repeated index is shown as leading columns instead
        frame, show_index = frame.reset_index(), False
    layout = _layout(frame, **options)
    text = layout.text.copy()
    text.columns = layout.headers
    if not show_index:
        text.index = pd.RangeIndex(len(text))
    classes = pd.DataFrame(np.where(layout.numeric, "num", "text"), index=text.index, columns=text.columns)
    uuid = _uuid(text.to_json(orient="split", default_handler=str), caption, source, note)
    styler = TableStyler(text, uuid=uuid, cell_ids=False, caption=html.escape(caption) if caption else None)
    styler.source, styler.note = source, note
    styler.plain = to_text(frame, caption, source, note=note, **options)
    styler = styler.format(escape="html").format_index(escape="html", axis=1)
    if show_index:
        styler = styler.format_index(escape="html", axis=0)
    else:
        styler = styler.hide(axis="index")
    styler = styler.set_td_classes(classes)
    numeric_cols = [j for j in range(text.shape[1]) if layout.numeric[:, j].any()]
    styles = [
        {"selector": "", "props": "border-collapse: collapse; margin: 0.5em 0;"},
        {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: 600; padding: 0.3em 0;"},
        {"selector": "th", "props": "text-align: left; vertical-align: bottom; padding: 0.25em 0.6em; "
                                    "overflow-wrap: normal; word-break: normal;"},
        {"selector": "td", "props": "vertical-align: top; padding: 0.25em 0.6em;"},
        {"selector": "td.text", "props": "text-align: left; overflow-wrap: break-word; word-break: normal;"},
        {"selector": "td.num", "props": "text-align: right; white-space: nowrap; overflow-wrap: normal; "
                                        "word-break: keep-all; font-variant-numeric: tabular-nums;"},
    ] + [{"selector": f"th.col_heading.col{j}", "props": "text-align: right;"} for j in numeric_cols]
    return styler.set_table_styles(styles, overwrite=True)


def _wrap(table: str, source, note, downloads, inline: bool) -> str:
    scroll = ' style="overflow-x: auto; max-width: 100%;"' if inline else ""
    small = ' style="font-size: 0.85em; margin: 0.2em 0 1em;"' if inline else ""
    out = [f'<div class="table-block"><div class="table-scroll"{scroll}>', table.strip(), "</div>"]
    if note:
        out.append(f'<p class="table-note"{small}>Note: {html.escape(str(note))}</p>')
    if source:
        out.append(f'<p class="table-source"{small}>{html.escape(_source_text(source))}</p>')
    if downloads:
        links = " · ".join(f'<a href="{html.escape(str(href), quote=True)}" download>{html.escape(str(name))}</a>'
                           for name, href in downloads.items())
        out.append(f'<p class="table-downloads"{small}>Download: {links}</p>')
    out.append("</div>")
    return "\n".join(out)


def to_html(frame, caption: str | None = None, source: str | None = None, *, note: str | None = None,
            downloads: Mapping[str, str | Path] | None = None, **options) -> str:
    """The table as HTML for the static report: ``<table class="korus-table">`` inside
    ``<div class="table-scroll">`` (wide tables scroll sideways), number cells of class
    ``num`` (right-aligned, no wrapping), then the note, the source and the download links.

    Parameters
    ----------
    frame, caption, source, note, **options
        As for :func:`styled`.
    downloads : mapping, optional
        Link text -> address relative to the page, e.g. ``{"CSV": "tables/x.csv",
        "XLSX": "tables/x.xlsx"}`` (the paths :func:`write_downloads` returned, made relative).

    Notes
    -----
    The page needs :data:`CSS` in its stylesheet (the table's own ``<style>`` covers alignment
    and wrapping, :data:`CSS` adds the scroll container and the print rules).
    """
    styler = styled(frame, caption, source, note=note, **options)
    table = Styler.to_html(styler, table_attributes='class="korus-table"')
    return _wrap(table, source, note, downloads, inline=False)


CSS = """
.table-block{margin:1em 0 1.5em;max-width:100%}
.table-scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table.korus-table{border-collapse:collapse;margin:0;font-size:.85em}
table.korus-table caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
table.korus-table th,table.korus-table td{padding:.25em .6em;vertical-align:top}
table.korus-table thead th{vertical-align:bottom;border-bottom:1px solid #666;overflow-wrap:normal;word-break:normal}
table.korus-table td.text{text-align:left;overflow-wrap:break-word;word-break:normal}
table.korus-table td.num{text-align:right;white-space:nowrap;overflow-wrap:normal;word-break:keep-all;font-variant-numeric:tabular-nums lining-nums}
.table-note,.table-source,.table-downloads{font-size:.8em;color:#555;margin:.2em 0}
@media print{
  .table-scroll{overflow:visible}
  table.korus-table{font-size:7.5pt;width:100%}
  table.korus-table thead{display:table-header-group}
  table.korus-table tr,table.korus-table td.num{break-inside:avoid;page-break-inside:avoid}
  table.korus-table caption{break-after:avoid;page-break-after:avoid}
  .table-downloads{display:none}
}
"""
"""Stylesheet fragment the report needs for tables made by :func:`to_html` (it overrides a
page-wide ``overflow-wrap:anywhere`` on number cells)."""


# --------------------------------------------------------------------------- downloads
_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _excel_format(rule: Rule | None) -> str:
    if rule is None:
        return "General"
    if rule.kind == "year":
        return "0"
    body = "#,##0" if rule.separators else "0"
    return body + ("." + "0" * rule.decimals if rule.decimals else "")


def _excel_value(value):
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if _is_number(value):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, str):
        return value
    return _text(value, "")


def write_downloads(frame: pd.DataFrame, folder: str | Path, stem: str, *, units: str | Mapping | None = None,
                    labels: Mapping[str, str] | None = None, caption: str | None = None,
                    source: str | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv`` and ``<stem>.xlsx`` of a table into ``folder``, each atomically.

    Both keep the **machine column names** in one header row, so that a download reads back
    into the same columns as the saved result (``pd.read_csv`` / ``pd.read_excel`` need no
    options, and code written against the results keeps working); the human headers are in
    the workbook's ``columns`` sheet.

    - CSV: UTF-8, full precision (every float written so that it reads back exactly), missing
      values empty, a meaningful index written as leading columns.
    - XLSX (openpyxl): sheet ``data`` with values at Excel's precision (16 significant digits,
      as openpyxl writes them; the CSV is the exact copy) and, per column, the number
      format of its unit (``#,##0.0`` for US$ bn, ``0`` for years ...), so Excel shows what
      the report shows but keeps every digit; header bold and frozen, column widths fitted to
      the displayed text. Sheet ``columns``: column, header, unit, number format; and the
      caption and source when given.

    Parameters
    ----------
    frame : DataFrame
    folder : str or Path
        Created when missing.
    stem : str
        File name without extension: letters, digits, ``_``, ``-`` and ``.``, not starting with
        ``.`` or ``-`` (no folder part).
    units, labels : optional
        As for :func:`format_frame` (the number formats and the headers of the ``columns`` sheet).
    caption, source : str, optional
        Written to the ``columns`` sheet.

    Returns
    -------
    dict
        ``{"csv": path, "xlsx": path}``.

    Raises
    ------
    ParameterError
        ``frame`` is not a DataFrame, ``folder`` is not a path, or ``stem`` is not a plain file
        name.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if not isinstance(frame, pd.DataFrame):
        raise ParameterError("frame", type(frame).__name__, "a pandas DataFrame")
    if not isinstance(folder, (str, os.PathLike)) or not str(folder):
        raise ParameterError("folder", folder, "a folder path (str or Path)")
    if not isinstance(stem, str) or not _STEM.match(stem) or stem in (".", ".."):
        raise ParameterError("stem", stem, "a file name without folder or extension: letters, digits, '_', '-' "
                             "and '.', starting with a letter or digit")
    data = frame.reset_index() if _show_index(frame) else frame.reset_index(drop=True)
    if data.columns.has_duplicates:
        raise ParameterError("frame", ", ".join(map(str, data.columns[data.columns.duplicated()])),
                             "a frame with unique column names")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layout = _layout(data, units=units, labels=labels)
    paths = {"csv": folder / f"{stem}.csv", "xlsx": folder / f"{stem}.xlsx"}

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}-", suffix=".csv.tmp")
    os.close(fd)
    try:
        data.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        config.publish(tmp, paths["csv"])
    finally:
        Path(tmp).unlink(missing_ok=True)

    book = Workbook()
    sheet = book.active
    sheet.title = "data"
    bold = Font(bold=True)
    names = [str(c) for c in data.columns]
    sheet.append(names)
    for cell in sheet[1]:
        cell.font = bold
    for row in data.itertuples(index=False, name=None):
        sheet.append([_excel_value(v) for v in row])
    formats = []
    for j, c in enumerate(data.columns):
        cell_formats = [_excel_format(r) for r in layout.rules[c]]
        kinds = {f for f, r in zip(cell_formats, layout.rules[c], strict=True) if r is not None}
        formats.append(kinds.pop() if len(kinds) == 1 else "by row" if kinds else "General")
        letter = get_column_letter(j + 1)
        for (cell,), fmt in zip(sheet.iter_rows(min_row=2, min_col=j + 1, max_col=j + 1), cell_formats, strict=True):
            if fmt != "General" and isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                cell.number_format = fmt
        width = max([len(names[j])] + [len(t) for t in layout.text[c]])
        sheet.column_dimensions[letter].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"

    about = book.create_sheet("columns")
    about.append(["column", "header", "unit", "number format"])
    for cell in about[1]:
        cell.font = bold
    for j, c in enumerate(data.columns):
        unit = layout.units.get(c) or ("by row" if formats[j] == "by row" else "")
        about.append([names[j], layout.headers[j], unit, formats[j]])
    if caption or source:
        about.append([])
        if caption:
            about.append(["caption", str(caption)])
        if source:
            about.append(["source", str(source)])
    for letter, width in zip("ABCD", (max(len(n) for n in names + ["column"]) + 2, 40, 14, 14), strict=True):
        about.column_dimensions[letter].width = min(width, 60)

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}-", suffix=".xlsx.tmp")
    os.close(fd)
    try:
        book.save(tmp)
        config.publish(tmp, paths["xlsx"])
    finally:
        Path(tmp).unlink(missing_ok=True)
    return paths


#: Columns that hold an amount of the table's unit when a table is all in one unit (an estimate and its bounds).
AMOUNT_COLUMNS = ("usd_bn", "low", "high", "estimate", "ci_low", "ci_high", "counterfactual balance")


def in_unit(frame: pd.DataFrame, unit: str, columns: Sequence[Hashable] = AMOUNT_COLUMNS) -> dict:
    """The ``units`` mapping that puts the frame's amount columns (those of ``columns`` it has) in
    ``unit``, for :func:`styled`, :func:`to_html` and :func:`write_downloads`.

    Examples
    --------
    >>> import pandas as pd
    >>> in_unit(pd.DataFrame({"usd_bn": [1.0], "low": [0.5], "note": ["x"]}), "US$ bn")
    {'usd_bn': 'US$ bn', 'low': 'US$ bn'}
    """
    canonical_unit(unit)
    return {c: unit for c in columns if c in frame.columns}
