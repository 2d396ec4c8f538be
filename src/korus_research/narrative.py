"""What a notebook's numbers show, in sentences written from the numbers.

Each notebook ends with a "What this shows" section that prints the sentences of one function
here: what the estimate means, how confident it is, and what it does not say. The rules:

- **every number comes from the values passed in**, formatted by
  :func:`korus_research.formatting.format_number` (the rounding a reader sees in the tables);
- **every qualitative word comes from the values too**: the sign words (rose/fell,
  worsened/improved, deficit/surplus), whether an interval excludes zero, whether a
  diagnostic passed, which of two measures is closer to a published figure, whether a
  published figure lies inside, above or below our interval;
- **a sentence is written only when its facts exist**: a section a partner's data cannot
  support (no end-use year, no agreement, no published figure) writes no sentence, and no
  sentence ever shows ``nan``;
- what a design *is* (an accounting identity, a comparison with control partners, a model
  counterfactual) is stated as a description of the method, never as a finding.

The functions take the notebook's own tables, or the rows it saved to the study's estimate
table (:data:`korus_research.results.ESTIMATE_SCHEMA`: ``quantity, estimator, period, unit,
value, low, high, diagnostics, diagnostics_detail``), so that the sentences say what was saved.

:func:`autos_note` writes the note of notebook 01's autos reconciliation
(:func:`korus_research.balance.autos_reconciliation`); :func:`series_alt`, :func:`bars_alt` and
:func:`cells_alt` write the alt text of figures from the data plotted (``plots.save_figure(alt=...)``);
:func:`statistic_units` gives the unit of each row of a table whose rows are different measures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from . import formatting

__all__ = [
    "MEANINGFUL_SHARE", "agreement_effects", "autos_note", "balance_overview", "bars_alt", "cells_alt", "decomposition",
    "gravity", "macro", "series_alt", "statistic_units",
]

#: A share of a change beyond this (150%) means the change is small beside its parts: it is not
#: quoted as a share (as :data:`korus_research.synthesis.MEANINGFUL_SHARE`).
MEANINGFUL_SHARE = 1.5
#: Conventional significance level of the tests the sentences read.
ALPHA = 0.05

# what each level measure of the autos reconciliation is called
_KIND = {"gross": "gross ratio", "net": "net share"}
# quantities of the estimate table the sentences read
_BALANCE_EFFECT = "agreement effect on the balance"
_USITC_PREFIX = "Improvement of the US bilateral"


# --------------------------------------------------------------------------- numbers as text
def _finite(*values) -> bool:
    """Whether every value is a real, finite number."""
    for v in values:
        try:
            if v is None or isinstance(v, bool) or not math.isfinite(float(v)):
                return False
        except (TypeError, ValueError):
            return False
    return True


def _num(value, decimals: int = 1, signed: bool = False) -> str:
    text = formatting.format_number(float(value), decimals=decimals)
    if signed and not text.startswith("-") and float(text.replace(",", "")) != 0:
        text = "+" + text
    return text


def _bn(value, signed: bool = True) -> str:
    """``-14.4 bn`` (US$ billion, one decimal, signed by default)."""
    return f"{_num(value, 1, signed)} bn"


def _pct(share, decimals: int = 0, signed: bool = False) -> str:
    """A share as percent: ``0.553`` -> ``55%``."""
    return f"{_num(100 * float(share), decimals, signed)}%"


def _interval(low, high, decimals: int = 1, suffix: str = "") -> str:
    return f"[{_num(low, decimals, True)}, {_num(high, decimals, True)}{suffix}]"


def _p(value) -> str:
    """``p = 0.48`` or ``p < 0.01``."""
    text = formatting.format_number(float(value), "p-value")
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def _deficit_words(balance) -> str:
    """``a deficit of 13.2 bn`` / ``a surplus of 1.0 bn`` / ``balance`` (after rounding)."""
    text = _num(abs(balance), 1)
    if float(text.replace(",", "")) == 0:
        return "balance (0.0 bn)"
    return f"a {'deficit' if balance < 0 else 'surplus'} of {text} bn"


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _rows(est: pd.DataFrame | None, quantity: str, period: str | None = None) -> pd.DataFrame:
    """Rows of the estimate table with a finite value."""
    if est is None or not len(est) or "quantity" not in est:
        return pd.DataFrame(columns=["quantity", "estimator", "period", "value", "low", "high", "diagnostics"])
    rows = est[est["quantity"] == quantity]
    if period is not None:
        rows = rows[rows["period"].astype(str) == str(period)]
    return rows[pd.to_numeric(rows["value"], errors="coerce").notna()]


def _has_interval(row) -> bool:
    return _finite(row.get("low"), row.get("high"))


def _excludes_zero(row) -> bool:
    return _has_interval(row) and (row["low"] > 0 or row["high"] < 0)


def _with_interval(row, decimals: int = 1, unit: str = " bn") -> str:
    text = f"{_num(row['value'], decimals, True)}{unit}"
    return text + (f" {_interval(row['low'], row['high'], decimals)}" if _has_interval(row) else "")


def _short(estimator: str) -> str:
    """An estimator's name without the library's prefixes (``gravity PPML: ``)."""
    return re.sub(r"^gravity PPML( general| \+ GE)?: ", "", str(estimator))


# --------------------------------------------------------------------------- figure alt text
def series_alt(what: str, frame: pd.DataFrame | pd.Series, unit: str = "US$ bn",
               columns: Mapping[str, str] | None = None, decimals: int = 1) -> str:
    """Alt text of a line or bar chart over time, written from the data plotted.

    ``"<what>. <name>: from <first> in <year> to <last> in <year>; lowest <min> (<year>),
    highest <max> (<year>)."`` for each column (``columns``: column -> name shown; default
    every numeric column under its own name). Missing values are skipped; a column with none
    writes nothing.
    """
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    columns = dict(columns) if columns is not None else {
        c: str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
    out = [what.rstrip(".") + f" ({unit})." if unit else what.rstrip(".") + "."]
    for column, name in columns.items():
        values = pd.to_numeric(frame[column], errors="coerce").dropna() if column in frame else pd.Series(dtype=float)
        if values.empty:
            continue

        def at(i, values=values):
            key = values.index[i]
            return key.date().isoformat() if isinstance(key, pd.Timestamp) else str(key)

        low, high = int(np.argmin(values.to_numpy())), int(np.argmax(values.to_numpy()))
        out.append(f"{name}: from {_num(values.iloc[0], decimals)} in {at(0)} to {_num(values.iloc[-1], decimals)} "
                   f"in {at(-1)}; lowest {_num(values.iloc[low], decimals)} ({at(low)}), highest "
                   f"{_num(values.iloc[high], decimals)} ({at(high)}).")
    return " ".join(out)


def bars_alt(what: str, values: pd.Series, unit: str = "US$ bn", decimals: int = 1, top: int | None = None) -> str:
    """Alt text of a bar chart of categories: ``"<what> (<unit>): A -8.0; B -5.8; ..."``, in the
    order given (the first ``top`` only, with how many are left out)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    shown = values if top is None else values.iloc[:top]
    items = "; ".join(f"{k} {_num(v, decimals, True)}" for k, v in shown.items())
    rest = f"; and {len(values) - len(shown)} more" if len(values) > len(shown) else ""
    head = what.rstrip(".") + (f" ({unit})" if unit else "")
    return f"{head}: {items}{rest}." if items else f"{head}."


def cells_alt(what: str, wide: pd.DataFrame, unit: str = "US$ bn", top: int = 5, decimals: int = 1) -> str:
    """Alt text of a heatmap (rows x columns): its size and its ``top`` largest cells in absolute
    value, ``"<row>, <column> <value>"``."""
    cells = wide.stack().dropna() if len(wide) else pd.Series(dtype=float)
    cells = pd.to_numeric(cells, errors="coerce").dropna()
    head = f"{what.rstrip('.')} ({unit}), {wide.shape[0]} rows by {wide.shape[1]} columns"
    if cells.empty:
        return head + "."
    largest = cells.reindex(cells.abs().sort_values(ascending=False, kind="stable").index[:top])
    return (head + f"; the {len(largest)} largest in size: "
            + "; ".join(f"{r}, {c} {_num(v, decimals, True)}" for (r, c), v in largest.items()) + ".")


def statistic_units(labels: Iterable) -> list[str]:
    """The unit of each row of a table whose rows are different measures (test statistics, a
    model's fit), from its label, for ``formatting.styled(units={column: statistic_units(index)})``:

    - ``US$ bn`` when the label says so, ``percent`` for ``"..., %"`` and ``"% of ..."``;
    - ``p-value`` for a p-value (``"... p"``, ``"... p (2 lags)"``, ``"p-value"``);
    - ``year`` for dates; ``count`` for observations, lags, cases, regressors, numbers of
      breaks and pairs used;
    - ``share`` for shares, ratios, correlations, R² and variance explained;
    - else ``statistic``.

    A ``5%`` inside a label names a test's level, not a unit. Text cells stay text whatever the
    unit of their row.
    """
    out = []
    for label in labels:
        low = str(label).lower()
        head = low
        while re.search(r"\([^()]*\)", head):  # innermost parentheses first: "(all I(0))"
            head = re.sub(r"\s*\([^()]*\)", "", head)
        head = head.strip()
        words = set(re.split(r"[^a-z0-9]+", head))
        if "us$ bn" in low:
            out.append("US$ bn")
        elif head.endswith(" p") or head == "p" or "p-value" in low:
            out.append("p-value")
        elif low.rstrip().endswith("%") or "% of" in low:
            out.append("percent")
        elif "date" in head:
            out.append("year")
        elif (head.startswith(("observations", "pairs used")) or
              head.endswith((" observations", " lags", " case", " k", " breaks"))):
            out.append("count")
        elif words & {"share", "ratio", "correlation", "r2", "explained"}:
            out.append("share")
        else:
            out.append("statistic")
    return out


# --------------------------------------------------------------------------- notebook 01
def autos_note(reconciliation: pd.DataFrame, published: pd.DataFrame | None = None) -> str | None:
    """The note of the autos reconciliation table: why the gross ratio (a) and the net share (b)
    differ, and which of them a published "autos share of the deficit" is (the closer one).

    Parameters
    ----------
    reconciliation : DataFrame
        :func:`korus_research.balance.autos_reconciliation`.
    published : DataFrame, optional
        :func:`korus_research.balance.published_auto_share` (``period, share, source``).
    """
    from .balance import AUTOS_GROSS, AUTOS_NET, closest_to_published

    parts = []
    has_gross, has_net = AUTOS_GROSS in reconciliation.index, AUTOS_NET in reconciliation.index
    if has_gross:
        a = reconciliation.loc[AUTOS_GROSS]
        parts.append(f"(a) sets gross imports ({_bn(a['numerator_usd_bn'], False)}) beside a balance: US auto exports "
                     "are not netted out, so it is not a share of the deficit"
                     + (" (it exceeds 1)" if a["share"] > 1 else ""))
    if has_net:
        b = reconciliation.loc[AUTOS_NET]
        components = reconciliation.attrs.get("components", {})
        exports, imports = components.get("hs87_exports_usd_bn"), components.get("hs87_imports_usd_bn")
        detail = (f" (HS 87 imports {_bn(imports, False)} less exports {_bn(exports, False)})"
                  if _finite(exports, imports) else "")
        if b["numerator_usd_bn"] > 0:
            parts.append(f"(b) nets them out: the autos deficit{detail} is the part of the deficit autos account for, "
                         f"on one basis for numerator and denominator (Comtrade, imports CIF)")
        else:
            parts.append(f"(b) nets them out: autos trade was in US surplus{detail}, so autos account for none of "
                         "the deficit")
    if has_gross and has_net:
        a, b = reconciliation.loc[AUTOS_GROSS], reconciliation.loc[AUTOS_NET]
        parts.append(f"(a) is {'larger' if a['share'] > b['share'] else 'smaller'} than (b) by "
                     f"{_num(abs(a['share'] - b['share']), 2)} because of the netting, of coverage (end-use autos "
                     "include tires and engines outside HS 87; HS 87 includes trucks and motorcycles) and of "
                     f"valuation (CIF imports; the Comtrade deficit is {_bn(b['denominator_usd_bn'], False)} against "
                     f"{_bn(a['denominator_usd_bn'], False)} on the Census basis)")
    claims = []
    if published is not None and len(published):
        for row in published.itertuples():
            closest = closest_to_published(reconciliation, row.share) if _finite(row.share) else None
            if closest is None:
                continue
            text = (f"The published {_num(row.share, 2)} ({row.source}, {row.period}) is closest to "
                    f"{closest['measure'][:3]}, the {_KIND[closest['kind']]} ({_num(closest['share'], 2)})")
            if closest["other"]:
                text += (f", not to {closest['other']['measure'][:3]}, the {_KIND[closest['other']['kind']]} "
                         f"({_num(closest['other']['share'], 2)})")
            text += (": it counts gross auto imports against the deficit." if closest["kind"] == "gross"
                     else ": it nets auto exports out.")
            claims.append(text)
    text = (parts[0][:1].upper() + "; ".join(parts)[1:] + ".") if parts else ""
    return " ".join([t for t in [text, *claims] if t]) or None


def balance_overview(change: pd.DataFrame, auto_reconciliation: pd.DataFrame | None, comparison: pd.DataFrame | None,
                     study, revisions: pd.DataFrame | None = None, published_autos: pd.DataFrame | None = None) -> list[str]:
    """What notebook 01 shows: the balance and its change, the sides of the change, autos three
    ways (and which one a published claim is), how our figures match the published ones, and the
    size of Census revisions.

    Parameters
    ----------
    change : DataFrame
        :func:`korus_research.balance.balance_change` (rows ``exports_usd_bn, imports_usd_bn,
        balance_usd_bn``; columns base year, compare year, ``change``).
    auto_reconciliation : DataFrame or None
        :func:`korus_research.balance.autos_reconciliation`.
    comparison : DataFrame or None
        :func:`korus_research.balance.compare_with_benchmarks`.
    study : Study
    revisions : DataFrame, optional
        :func:`korus_research.balance.vintage_revisions` (its ``revision`` column).
    published_autos : DataFrame, optional
        :func:`korus_research.balance.published_auto_share`.
    """
    partner, base, compare = study.partner, str(study.base_year), str(study.compare_year)
    out = []
    b0, b1 = change.loc["balance_usd_bn", base], change.loc["balance_usd_bn", compare]
    if _finite(b0, b1):
        text = (f"The US goods balance with {partner} went from {_deficit_words(b0)} in {base} to {_deficit_words(b1)} "
                f"in {compare} (Census basis), a change of {_bn(b1 - b0)}")
        if b0 < 0 and b1 < 0:
            ratio = b1 / b0
            text += (f": the {compare} deficit was {_num(ratio, 1)} times the {base} deficit" if ratio >= 1 else
                     f": the {compare} deficit was {_pct(ratio)} of the {base} deficit")
        out.append(text + ".")
    dx, dm = change.loc["exports_usd_bn", "change"], change.loc["imports_usd_bn", "change"]
    if _finite(dx, dm, b1 - b0):
        text = (f"US imports from {partner} {'rose' if dm > 0 else 'fell'} by {_bn(abs(dm), False)} and US exports "
                f"{'rose' if dx > 0 else 'fell'} by {_bn(abs(dx), False)}")
        total = b1 - b0
        share = -dm / total if total else float("nan")
        if _finite(share) and abs(share) <= MEANINGFUL_SHARE:
            text += f": the import side accounts for {_pct(share)} of the change in the balance"
        out.append(text + ".")
    out += _autos_sentences(auto_reconciliation, published_autos, partner)
    if comparison is not None and len(comparison):
        close, far = [], []
        for row in comparison.itertuples():
            if not _finite(row.ours, row.published):
                continue
            # a published figure is quoted to one decimal of its unit: within half of that, it matches
            (close if abs(row.difference) <= 0.05 + 1e-9 else far).append(row)
        if close or far:
            text = (f"Our figures match {len(close)} of the {len(close) + len(far)} published ones about {partner} "
                    "to the published rounding")
            if far:
                items = [f"{r.quantity.split(' with ')[0].split(' to ')[0]} {r.period} ({r.source}): ours "
                         f"{_num(r.ours, 2)} against {_num(r.published, 2)}" for r in far]
                text += "; they differ on " + "; ".join(items)
            out.append(text + ".")
    if revisions is not None and "revision" in revisions and len(revisions):
        rev = pd.to_numeric(revisions["revision"], errors="coerce").dropna()
        if len(rev):
            worst_year = rev.abs().idxmax()
            vintages = [c.rsplit("_", 1)[-1] for c in revisions.columns if c != "revision"]
            out.append(f"Between the {' and '.join(vintages)} releases Census revised the balance of "
                       f"{rev.index.min()}-{rev.index.max()} by {_num(rev.abs().max(), 2)} bn at most ({worst_year}: "
                       f"{_num(rev[worst_year], 2, True)} bn): the figures are recorded flows, not estimates, so they "
                       "carry no sampling error, but they are revised.")
    if out:
        out.append("These figures say where the deficit is and how it moved, not why: the agreement's part is "
                   "estimated in notebooks 03, 04 and 07, the macroeconomic part in notebooks 05 and 07.")
    return out


def _autos_sentences(rec: pd.DataFrame | None, published: pd.DataFrame | None, partner: str) -> list[str]:
    from .balance import AUTOS_CHANGE, AUTOS_GROSS, AUTOS_NET, closest_to_published

    if rec is None or not len(rec):
        return []
    out = []
    if AUTOS_GROSS in rec.index:
        a = rec.loc[AUTOS_GROSS]
        out.append(f"In {a['period']} gross US automotive imports from {partner} (Census end use, "
                   f"{_bn(a['numerator_usd_bn'], False)}) equalled {_pct(a['share'])} of the goods deficit "
                   f"({_bn(a['denominator_usd_bn'], False)}, Census basis); this sets imports beside a balance.")
    if AUTOS_NET in rec.index:
        b = rec.loc[AUTOS_NET]
        if b["numerator_usd_bn"] > 0:
            out.append(f"Net of US auto exports, the autos deficit (Comtrade HS 87, {_bn(b['numerator_usd_bn'], False)}) "
                       f"was {_pct(b['share'])} of the goods deficit on the same basis "
                       f"({_bn(b['denominator_usd_bn'], False)}, Comtrade) in {b['period']}.")
        else:
            out.append(f"Net of US auto exports, autos trade with {partner} was in US surplus "
                       f"({_bn(-b['numerator_usd_bn'], False)}, Comtrade HS 87) in {b['period']}: autos account for "
                       "none of the deficit.")
    if AUTOS_CHANGE in rec.index:
        c = rec.loc[AUTOS_CHANGE]
        text = (f"From {c['period'].replace('->', ' to ')} the autos balance changed by {_bn(c['numerator_usd_bn'])} "
                f"and the goods balance by {_bn(c['denominator_usd_bn'])} (Comtrade basis)")
        if _finite(c["share"]) and abs(c["share"]) <= MEANINGFUL_SHARE:
            text += (f": autos account for {_pct(c['share'])} of the change" if c["share"] >= 0 else
                     f": autos moved the balance the other way ({_pct(c['share'])} of the change)")
        else:
            text += ": the total change is too small beside its parts for a share to mean much"
        out.append(text + ".")
    if published is not None and len(published):
        for row in published.itertuples():
            closest = closest_to_published(rec, row.share) if _finite(row.share) else None
            if closest is None:
                continue
            text = (f"The published \"autos {_pct(row.share)} of the deficit\" ({row.source}) is the "
                    f"{_KIND[closest['kind']]}: it is within {_num(closest['distance'], 2)} of "
                    f"{closest['measure'][:3]} ({_num(closest['share'], 2)})")
            if closest["other"]:
                text += (f" and {_num(closest['other']['distance'], 2)} away from {closest['other']['measure'][:3]}, "
                         f"the {_KIND[closest['other']['kind']]} ({_num(closest['other']['share'], 2)})")
            out.append(text + ".")
    return out


# --------------------------------------------------------------------------- notebook 02
def decomposition(contributions: pd.DataFrame | None, study, data_basis: str = "comtrade",
                  shift: pd.DataFrame | None = None, lmdi: pd.DataFrame | None = None,
                  autos_share: pd.DataFrame | None = None, scale: float = 1e9) -> list[str]:
    """What notebook 02 shows: which groups and which side moved the balance, what the shift-share
    and LMDI say about demand, mix and the partner's share, and how the autos share depends on
    the basis.

    Parameters
    ----------
    contributions : DataFrame or None
        :func:`korus_research.decomposition.balance_contributions` (US$, ``total`` row).
    study : Study
    data_basis : str
        ``comtrade`` or ``census_enduse``.
    shift, lmdi : DataFrame, optional
        :func:`~korus_research.decomposition.shift_share` (US$) and
        :func:`~korus_research.decomposition.lmdi_share` (shares; ``attrs`` share_base, share_compare).
    autos_share : DataFrame, optional
        One column of the autos share of the balance change by basis (index: the basis).
    scale : float
        Dollars per unit of ``contributions`` and ``shift`` (1e9: US$ -> US$ bn).
    """
    partner, base, compare = study.partner, study.base_year, study.compare_year
    basis = {"comtrade": "Comtrade basis, imports CIF", "census_enduse": "Census end-use basis"}.get(data_basis, data_basis)
    out = []
    if contributions is not None and "total" in contributions.index:
        c = contributions[["exports_change", "imports_change", "balance_change"]] / scale
        total = c.loc["total", "balance_change"]
        parts = c.drop(index="total").sort_values("balance_change", key=lambda s: -s.abs())
        if _finite(total) and len(parts):
            meaningful = total != 0 and (parts["balance_change"] / total).abs().max() <= MEANINGFUL_SHARE
            items = [f"{g} {_bn(v)}" + (f" ({_pct(v / total)})" if meaningful else "")
                     for g, v in parts["balance_change"].items()]
            out.append(f"From {base} to {compare} the US balance with {partner} changed by {_bn(total)} ({basis}); "
                       f"by product group: {'; '.join(items)}.")
            top = parts.index[0]
            r = parts.loc[top]
            out.append(f"The largest contribution, {top}, came from US imports that {'rose' if r['imports_change'] > 0 else 'fell'} "
                       f"by {_bn(abs(r['imports_change']), False)} and US exports that "
                       f"{'rose' if r['exports_change'] > 0 else 'fell'} by {_bn(abs(r['exports_change']), False)}.")
            against = parts[np.sign(parts["balance_change"]) == -np.sign(total)]
            if len(against) and total != 0:
                out.append(f"Moving the balance the other way: {_join([f'{g} ({_bn(v)})' for g, v in against['balance_change'].items()])}.")
    if shift is not None and "total" in shift.index and {"change", "total_demand", "product_mix", "partner_share"} <= set(shift):
        s = shift.loc["total"] / scale
        if _finite(s["change"], s["total_demand"], s["product_mix"], s["partner_share"]):
            named = {"total_demand": f"US import demand {'growing' if s['total_demand'] > 0 else 'shrinking'} as a whole",
                     "product_mix": f"{partner}'s products {'outgrowing' if s['product_mix'] > 0 else 'lagging'} US imports "
                                    "overall (product mix)",
                     "partner_share": f"{partner} {'gaining' if s['partner_share'] > 0 else 'losing'} share within products"}
            largest = max(named, key=lambda k: abs(s[k]))
            out.append(f"Of the {_bn(s['change'])} change in US imports from {partner}, total import demand accounts for "
                       f"{_bn(s['total_demand'])}, the product mix for {_bn(s['product_mix'])} and the partner's share "
                       f"within products for {_bn(s['partner_share'])}: the largest part is {named[largest]}.")
    if lmdi is not None and "total" in lmdi.index and _finite(lmdi.attrs.get("share_base"), lmdi.attrs.get("share_compare")):
        t = lmdi.loc["total"]
        s0, s1 = lmdi.attrs["share_base"], lmdi.attrs["share_compare"]
        if _finite(t.get("product_mix"), t.get("within_product_share")):
            out.append(f"{partner}'s share of US imports {'rose' if s1 > s0 else 'fell'} from {_pct(s0, 2)} in {base} to "
                       f"{_pct(s1, 2)} in {compare}: the product mix accounts for {_num(100 * t['product_mix'], 2, True)} "
                       f"share points and shares within products for {_num(100 * t['within_product_share'], 2, True)} "
                       "(LMDI, no residual).")
    if autos_share is not None and len(autos_share):
        values = pd.to_numeric(autos_share.iloc[:, 0], errors="coerce").dropna()
        values = values[values.abs() <= MEANINGFUL_SHARE]
        if len(values) >= 2:
            spread = values.max() - values.min()
            out.append("The autos share of the change is " + _join([f"{_pct(v)} on the {k}" for k, v in values.items()])
                       + f": the basis moves it by {_num(100 * spread, 0)} percentage "
                       + ("point." if _num(100 * spread, 0) == "1" else "points."))
        elif len(values) == 1:
            out.append(f"The autos share of the change is {_pct(values.iloc[0])} on the {values.index[0]}.")
    if out:
        out.append("These are accounting identities (the parts add up to the total to the dollar): they carry no "
                   "sampling error and say where the change happened, not what caused it; the agreement's part is "
                   "estimated in notebooks 03, 04 and 07.")
    return out


# --------------------------------------------------------------------------- notebook 03
def agreement_effects(estimates: pd.DataFrame | None, comparison: pd.DataFrame | None, study,
                      benchmarks: pd.DataFrame | None = None, n_controls: int | None = None) -> list[str]:
    """What notebook 03 shows: the agreement's estimated effect on the compare-year balance by
    design, how confident each is (intervals, its own diagnostics, single-unit inference,
    sensitivity to parallel trends), how the estimates stand beside the published ones, and in
    particular how and why they disagree with the USITC's.

    Parameters
    ----------
    estimates : DataFrame
        The notebook's rows of the estimate table (``store.add_estimates`` returns them).
    comparison : DataFrame or None
        :func:`korus_research.effects.compare_effects_with_benchmarks` (``published quantity,
        period, estimator, ours, ours_ci_low, ours_ci_high, published_low, published_high, source``).
    study : Study
    benchmarks : DataFrame, optional
        The ``benchmarks`` table (for the published figures' notes).
    n_controls : int, optional
        Number of control partners of the event study.
    """
    partner, year = study.partner, str(study.compare_year)
    out = []
    if not getattr(study, "has_agreement", True):
        return out
    effects = _rows(estimates, _BALANCE_EFFECT, year)
    if len(effects):
        neg, pos = int((effects["value"] < 0).sum()), int((effects["value"] > 0).sum())
        sign = ("all negative: each says the agreement worsened the US balance" if neg == len(effects) else
                "all positive: each says the agreement improved the US balance" if pos == len(effects) else
                f"{neg} negative (a worse US balance) and {pos} positive")
        out.append(f"{len(effects)} estimates of the agreement's effect on the {year} US balance with {partner} range from "
                   f"{_bn(effects['value'].min())} to {_bn(effects['value'].max())}; {sign}.")
        with_ci = effects[effects.apply(_has_interval, axis=1)]
        if len(with_ci):
            excl = with_ci[with_ci.apply(_excludes_zero, axis=1)]
            incl = with_ci[~with_ci.apply(_excludes_zero, axis=1)]

            def listed(rows):
                return "; ".join(f"{_short(r.estimator)} {_with_interval(r._asdict())}" for r in rows.itertuples())

            text = f"Of the {len(with_ci)} with a 95% interval, "
            text += (f"{len(excl)} exclude{'s' if len(excl) == 1 else ''} zero ({listed(excl)})" if len(excl)
                     else "none excludes zero")
            text += (f", and {len(incl)} include{'s' if len(incl) == 1 else ''} it ({listed(incl)})" if len(incl)
                     else ", and none includes it")
            out.append(text + ".")
        passed = effects[effects["diagnostics"] == "passed"]
        failed = effects[effects["diagnostics"] == "failed"]
        if len(passed) or len(failed):
            text = f"Designs that pass their own diagnostics: {'; '.join(sorted(set(passed['estimator']))) or 'none'}"
            if len(failed):
                text += f". Designs that fail them: {'; '.join(sorted(set(failed['estimator'])))}"
            if len(passed) and passed.apply(_has_interval, axis=1).all():
                covers = ~passed.apply(_excludes_zero, axis=1)
                text += (". Every design that passes has an interval that includes zero" if covers.all() else
                         ". Among those that pass, " + _join([f"{_short(r.estimator)} excludes zero"
                                                                for r in passed[~covers].itertuples()]))
            out.append(text + ".")
    pre = _rows(estimates, "pre-trend p-value")
    if len(pre):
        worst = float(pre["value"].min())
        out.append(f"The event study's leads are {'jointly significant' if worst < ALPHA else 'not jointly significant'} "
                   f"at 5% (smallest pre-trend {_p(worst)}): "
                   + (f"{partner}'s trade was already moving apart from the control partners' before entry, so the "
                      "event study attributes to the agreement whatever continued that trend."
                      if worst < ALPHA else "consistent with parallel trends before entry."))
    placebo = _rows(estimates, "placebo p-value")
    if len(placebo):
        flows = {r.estimator.split(", ")[-1]: float(r.value) for r in placebo.itertuples()}
        stand_out = [f for f, p in flows.items() if p <= 0.10]
        out.append("The synthetic control's placebo p-values (" + "; ".join(f"{f} {_p(p)}" for f, p in flows.items()) + "): "
                   + ("the partner's gap stands out among the control partners' placebo gaps (p at most 0.10) for every flow."
                      if len(stand_out) == len(flows) else
                      "the partner's gap does not stand out among the control partners' placebo gaps (p above 0.10) for "
                      "any flow." if not stand_out else
                      f"the partner's gap stands out among the placebo gaps (p at most 0.10) for {_join(stand_out)} only."))
    conformal = _rows(estimates, "p-value of no effect (conformal, one treated unit)")
    if len(conformal):
        low, high = conformal["value"].min(), conformal["value"].max()
        out.append(f"Conformal inference, valid with one treated partner, gives p-values of no effect from "
                   f"{formatting.format_number(low, 'p-value')} to {formatting.format_number(high, 'p-value')}: "
                   + ("no-effect is rejected at 5% for every outcome." if high < ALPHA else
                      "no-effect is rejected at 5% for none of the outcomes." if low >= ALPHA else
                      "no-effect is rejected at 5% for some outcomes only."))
    honest = _rows(estimates, "breakdown value of the event study (relative magnitudes)")
    if len(honest):
        top = float(honest["value"].max())
        out.append(f"The event study stays significant only if post-entry departures from parallel trends are at most "
                   f"{_num(top, 2)} times the largest pre-entry one (HonestDiD breakdown values "
                   f"{_num(honest['value'].min(), 2)}-{_num(top, 2)}): "
                   + ("smaller than departures already seen before entry." if top < 1 else
                      "at least as large as those seen before entry."))
    out += _usitc_sentences(estimates, comparison, benchmarks, partner, n_controls)
    out += _other_published(comparison)
    if out:
        out.append("What these estimates do not say: they compare the partner's trade with that of partners without a "
                   "new US agreement, so they cannot separate the agreement from anything else that moved the "
                   "partner's trade with the US after entry and not the controls'.")
    return out


def _usitc_sentences(estimates, comparison, benchmarks, partner, n_controls) -> list[str]:
    if comparison is None or not len(comparison) or "published quantity" not in comparison:
        return []
    usitc = comparison[comparison["published quantity"].str.startswith(_USITC_PREFIX)]
    usitc = usitc[pd.to_numeric(usitc["ours"], errors="coerce").notna()]
    if not len(usitc):
        return []
    first = usitc.iloc[0]
    published = (first["published_low"] + first["published_high"]) / 2
    period = str(first["period"])
    ours = "; ".join(f"{r['estimator']} {_bn(r['ours'])}" + (f" {_interval(r['ours_ci_low'], r['ours_ci_high'])}"
                                                               if _finite(r["ours_ci_low"], r["ours_ci_high"]) else "")
                     for _, r in usitc.iterrows())
    opposite = int((np.sign(usitc["ours"]) == -np.sign(published)).sum())
    same = len(usitc) - opposite
    out = [f"The USITC (2016) reported that the agreement {'improved' if published > 0 else 'worsened'} the {period} US "
           f"balance with {partner} by {_bn(abs(published), False)}; our estimates for {period} are {ours}: "
           + (f"{'all' if opposite == len(usitc) else opposite} of the opposite sign" if opposite else "all of the same sign")
           + (f" ({same} of the same sign)" if opposite and same else "")
           + _position(published, usitc) + "."]
    if benchmarks is not None and "note" in benchmarks:
        note = benchmarks.loc[benchmarks["quantity"].str.startswith(_USITC_PREFIX), "note"].dropna()
        if len(note) and str(note.iloc[0]).strip():
            out.append(f"The USITC figure is a counterfactual of the model economy in {period} ({note.iloc[0]}): it "
                       "removes the agreement and lets the model say what trade would have been; ours are ex post, the "
                       f"partner's actual trade against {n_controls or 'the'} control partners' before and after entry.")
    flows = []
    for _, r in usitc.iterrows():
        label = str(r["estimator"])
        name = f"event study ({label.split(', ')[-1].upper()})" if label.startswith("event study, ") else label
        m = _rows(estimates, "agreement effect on US imports", period)
        x = _rows(estimates, "agreement effect on US exports", period)
        m, x = m[m["estimator"] == name], x[x["estimator"] == name]
        if len(m) and len(x):
            flows.append((label, float(x["value"].iloc[0]), float(m["value"].iloc[0])))
    if flows:
        items = "; ".join(f"{e}: US imports {_bn(mm)}, US exports {_bn(xx)}" for e, xx, mm in flows)
        imports_more = [xx - mm < 0 for _, xx, mm in flows]
        text = (f"Where our sign comes from: the estimated effects in {period} are {items}, so in "
                + (f"{'every' if all(imports_more) else sum(imports_more)} estimate{'' if all(imports_more) and len(flows) > 1 else 's' if sum(imports_more) > 1 else ''} "
                   "the agreement raised US imports more than US exports" if any(imports_more) else
                   "every estimate the agreement raised US exports more than US imports"))
        text += (f". A balance {'improvement' if published > 0 else 'deterioration'} of {_bn(abs(published), False)}, as "
                 f"the USITC's, needs the agreement to have raised US {'exports' if published > 0 else 'imports'} by that "
                 f"much more than US {'imports' if published > 0 else 'exports'}.")
        out.append(text)
    pre = _rows(estimates, "pre-trend p-value")
    if len(pre) and pre["value"].min() < ALPHA:
        out.append(f"Part of the gap can come from the event study itself: its leads fail the pre-trend test "
                   f"(smallest {_p(pre['value'].min())}), so its estimates carry whatever set {partner}'s trade apart "
                   "from the controls' before entry.")
    passed = _rows(estimates, _BALANCE_EFFECT)
    passed = passed[(passed["diagnostics"] == "passed") & passed.apply(_has_interval, axis=1)]
    if len(passed):
        contain = passed[(passed["low"] <= published) & (published <= passed["high"])]
        out.append("The estimates whose designs pass their own diagnostics ("
                   + "; ".join(f"{_short(r.estimator)}, {r.period}: {_with_interval(r._asdict())}" for r in passed.itertuples())
                   + f") have intervals of which {len(contain)} of {len(passed)} contain the USITC's {_bn(published)}"
                   + (": with one treated partner, those intervals are too wide to tell the two apart." if len(contain) == len(passed)
                      else "." if len(contain) else ": none of them is consistent with it."))
    return out


def _position(published: float, rows: pd.DataFrame) -> str:
    """``; the published figure lies above every interval`` etc., from the intervals."""
    have = rows[rows.apply(lambda r: _finite(r["ours_ci_low"], r["ours_ci_high"]), axis=1)]
    if not len(have):
        return ""
    above = (published > have["ours_ci_high"]).all()
    below = (published < have["ours_ci_low"]).all()
    inside = ((published >= have["ours_ci_low"]) & (published <= have["ours_ci_high"])).sum()
    if above:
        return "; the published figure lies above every one of our 95% intervals"
    if below:
        return "; the published figure lies below every one of our 95% intervals"
    return f"; the published figure lies inside {inside} of our {len(have)} 95% intervals"


def _other_published(comparison) -> list[str]:
    if comparison is None or not len(comparison) or "published quantity" not in comparison:
        return []
    rest = comparison[~comparison["published quantity"].str.startswith(_USITC_PREFIX)]
    items = []
    for (quantity, _), rows in rest.groupby(["published quantity", "period"], sort=False):
        rows = rows[rows.apply(lambda r: _finite(r["ours_ci_low"], r["ours_ci_high"], r["published_low"],
                                                 r["published_high"]), axis=1)]
        if not len(rows):
            continue
        overlap = ((rows["ours_ci_low"] <= rows["published_high"]) & (rows["published_low"] <= rows["ours_ci_high"])).sum()
        lo, hi = rows["published_low"].iloc[0], rows["published_high"].iloc[0]
        pub = _num(lo, 2) if lo == hi else f"{_num(lo, 2)} to {_num(hi, 2)}"
        items.append(f"{quantity} ({rows['period'].iloc[0]}, published {pub}): {overlap} of {len(rows)} of our intervals "
                     "overlap it")
    return [f"Beside the other published estimates: {'; '.join(items)}."] if items else []


# --------------------------------------------------------------------------- notebook 04
def gravity(estimates: pd.DataFrame | None, comparison: pd.DataFrame | None, study) -> list[str]:
    """What notebook 04 shows: the agreement's gravity coefficient across specifications, its
    partial-equilibrium effect on the balance, the GE counterfactual, the lead tests, and the
    comparison with the USITC's figure.

    Parameters
    ----------
    estimates : DataFrame
        The notebook's rows of the estimate table.
    comparison : DataFrame or None
        The notebook's table beside the published estimates (``published, published value,
        published period, specification, our year, ours``); its USITC row (the effect on the
        balance) is the one the sentences compare with.
    study : Study
    """
    partner, year = study.partner, study.compare_year
    usitc, usitc_period = None, None
    if comparison is not None and len(comparison) and {"published", "published value"} <= set(comparison):
        rows = comparison[comparison["published"].astype(str).str.startswith(_USITC_PREFIX)]
        if len(rows):
            try:
                usitc = float(str(rows["published value"].iloc[0]))
                usitc_period = str(rows["published period"].iloc[0]) if "published period" in rows else None
            except ValueError:
                usitc = None
    out = []
    if not getattr(study, "has_agreement", True):
        return out
    coef = _rows(estimates, "agreement coefficient")
    if len(coef):
        one_term = coef[coef["estimator"].str.endswith("(agreement)")]
        if len(one_term):
            low, high = one_term.loc[one_term["value"].idxmin()], one_term.loc[one_term["value"].idxmax()]
            excl = int(one_term.apply(_excludes_zero, axis=1).sum())
            out.append(f"The agreement's coefficient (one term for both directions) ranges from "
                       f"{_num(low['value'], 2, True)} ({_short(low['estimator']).replace(' (agreement)', '')}) to "
                       f"{_num(high['value'], 2, True)} ({_short(high['estimator']).replace(' (agreement)', '')}) log "
                       f"points across {len(one_term)} specifications, {excl} of which exclude zero at 95%: "
                       + ("the specifications disagree on its sign." if low["value"] < 0 < high["value"] else
                          "every specification gives it the same sign."))
        three_way = coef[coef["estimator"].str.contains("three-way") & coef["estimator"].str.endswith("(agreement)")]
        for r in three_way.itertuples():
            if r.estimator.startswith("gravity PPML: DTA"):
                effect = math.exp(r.value) - 1
                out.append(f"In the design of the USITC and the WTO/UNCTAD guide (exporter-year, importer-year and pair "
                           f"effects, DTA panel) the coefficient is {_with_interval(r._asdict(), 2, '')}: trade between "
                           f"the members after entry was {_pct(abs(effect))} {'higher' if effect > 0 else 'lower'} than "
                           "the fixed effects predict" + (", and the interval excludes zero." if _excludes_zero(r._asdict())
                                                          else ", and the interval includes zero."))
    pe = _rows(estimates, _BALANCE_EFFECT)
    pe = pe[pe["estimator"].str.startswith("gravity PPML: ")]
    if len(pe):
        pe = pe.assign(year=pd.to_numeric(pe["period"], errors="coerce"))
        pick = []
        for _, rows in pe.groupby("estimator", sort=False):
            rows = rows.dropna(subset=["year"])
            at = rows[rows["year"] <= year]
            row = (at.loc[at["year"].idxmax()] if len(at) else rows.loc[rows["year"].idxmin()]) if len(rows) else None
            if row is not None:
                pick.append(row)
        if pick:
            neg = sum(r["value"] < 0 for r in pick)
            out.append("The partial-equilibrium effect on the US balance (flows divided by the agreement's terms, "
                       "prices and incomes held) in the compare year or the panel's nearest year before it: "
                       + "; ".join(f"{_short(r['estimator'])}, {int(r['year'])}: {_with_interval(r)}" for r in pick)
                       + f" — {neg} of {len(pick)} negative.")
    leads = _rows(estimates, "lead test p-value (general gravity models)")
    if len(leads):
        failed = leads[leads["value"] < ALPHA]
        out.append(f"The joint test that the leads are zero fails (p < 0.05) for {len(failed)} of the {len(leads)} general "
                   "models" + (f" ({_join([_short(e).split(',')[0] for e in failed['estimator']])}): in those, trade "
                               "between the members moved before entry, and the agreement's terms also pick that up"
                               if len(failed) else ": no sign of trade moving before entry") + ".")
    ge = _rows(estimates, "GE bootstrap: agreement effect on the balance")
    if len(ge):
        r = ge.iloc[0]
        welfare = _rows(estimates, "GE bootstrap: welfare effect on the partner")
        text = (f"In general equilibrium (WIOD {r['period']}, the agreement's directional terms removed, prices and "
                f"incomes adjusting) the agreement's effect on the US balance is {_with_interval(r)} (pairs bootstrap), "
                + ("the interval excluding zero" if _excludes_zero(r) else "the interval including zero")
                + f"; its model's lead test {r['diagnostics']}")
        if len(welfare):
            w = welfare.iloc[0]
            text += f"; {partner}'s welfare changes by {_num(w['value'], 3, True)}%"
        out.append(text + ".")
    if usitc is not None and _finite(usitc) and len(pe):
        target = pd.to_numeric(usitc_period, errors="coerce") if usitc_period else float("nan")
        # each specification's year nearest the published one (the panels' years differ)
        latest = pe.assign(gap=(pe["year"] - target).abs() if _finite(target) else -pe["year"]).sort_values(
            ["gap", "year"]).groupby("estimator", sort=False).head(1)
        same = latest[np.sign(latest["value"]) == np.sign(usitc)]
        covers = latest[latest.apply(lambda r: _has_interval(r) and r["low"] <= usitc <= r["high"], axis=1)]
        out.append(f"Beside the USITC's {_bn(usitc)} ({usitc_period}): in each specification's year nearest to it, "
                   f"{len(same)} of our {len(latest)} partial-equilibrium estimates have its sign "
                   f"({'; '.join(f'{_short(e)}, {int(y)}' for e, y in zip(same['estimator'], same['year'], strict=True)) or 'none'}) and "
                   f"{len(covers)} have an interval that contains it. The designs differ: a coefficient estimated on "
                   "one of these panels measures what the pair's trade did after entry beside what the fixed effects "
                   "predict, and the dollar effect depends on which years and flows the panel has.")
    if out:
        out.append("What these estimates do not say: a gravity coefficient is the change in the members' trade that "
                   "the fixed effects do not explain, so anything else that changed the pair's trade costs after entry "
                   "is in it; the partial-equilibrium effect holds prices and incomes fixed, and the GE effect holds "
                   "each country's aggregate imbalance as data.")
    return out


# --------------------------------------------------------------------------- notebook 05
def macro(estimates: pd.DataFrame | None, study, published_income_elasticity: float | None = None) -> list[str]:
    """What notebook 05 shows: how much of the change in the balance the trade equations put on
    income, the real exchange rate and the agreement, how confident that is, and which equations
    support a long-run reading.

    Parameters
    ----------
    estimates : DataFrame
        The notebook's rows of the estimate table (US$ bn, shares, elasticities).
    study : Study
    published_income_elasticity : float, optional
        Gagnon's (2003) income elasticity of US imports, to set beside ours.
    """
    partner = study.partner
    span = f"{study.base_year}->{study.compare_year}"
    out = []
    parts = {q: _rows(estimates, q, span) for q in (
        "balance change due to income", "balance change due to the real exchange rate", "agreement effect on the balance change",
        "balance change due to trend growth in the trade equations", "balance change due to trade prices",
        "balance change left unexplained by the trade equations")}
    names = {"balance change due to income": "income", "balance change due to the real exchange rate": "the real exchange rate",
             "agreement effect on the balance change": "the agreement indicator",
             "balance change due to trend growth in the trade equations": "trend growth",
             "balance change due to trade prices": "trade prices",
             "balance change left unexplained by the trade equations": "what the equations leave unexplained"}
    shown = [(names[q], rows.iloc[0]) for q, rows in parts.items() if len(rows)]
    if shown:
        total = sum(r["value"] for _, r in shown)
        out.append(f"The trade equations split the {span.replace('->', '-')} change in the US balance with {partner} "
                   f"({_bn(total)}) into " + "; ".join(f"{n} {_with_interval(r)}" for n, r in shown) + ".")
        sig = [n for n, r in shown if _excludes_zero(r)]
        notsig = [n for n, r in shown if _has_interval(r) and not _excludes_zero(r)]
        if sig or notsig:
            out.append("Of these, " + _join([f"{_join(sig)} {'has' if len(sig) == 1 else 'have'} a 95% interval that "
                                                 "excludes zero" if sig else "",
                                                 f"{_join(notsig)} {'has' if len(notsig) == 1 else 'have'} one that "
                                                 "includes it" if notsig else ""]) + ".")
    share = _rows(estimates, "macro share of the balance change", span)
    if len(share):
        r = share.iloc[0]
        if abs(r["value"]) <= MEANINGFUL_SHARE:
            text = (f"Income and the real exchange rate together account for {_pct(r['value'])} of the change"
                    + (f" (95% interval {_pct(r['low'])} to {_pct(r['high'])})" if _has_interval(r) else ""))
            if _has_interval(r):
                text += (": the interval includes zero, so these equations cannot say that macroeconomic forces "
                         "explain any of the change" if not _excludes_zero(r) else
                         ": the interval excludes zero")
            out.append(text + ".")
        else:
            out.append("The change is too small beside its parts for a macroeconomic share to mean much.")
    agreement = parts["agreement effect on the balance change"]
    if len(shown) and len(agreement):
        a = agreement.iloc[0]
        macro_rows = [r for n, r in shown if n in ("income", "the real exchange rate")]
        if macro_rows:
            macro_total = sum(r["value"] for r in macro_rows)
            out.append(f"Macroeconomic forces against the agreement: income and the real exchange rate account for "
                       f"{_bn(macro_total)} together, the agreement indicator for {_with_interval(a)}; the agreement's "
                       f"part is "
                       f"{'larger' if abs(a['value']) > abs(macro_total) else 'smaller'} in size"
                       + (", though its interval includes zero" if _has_interval(a) and not _excludes_zero(a) else "")
                       + (f" and its diagnostics {a['diagnostics']}" if a["diagnostics"] != "not tested" else "") + ".")
    for flow in ("imports", "exports"):
        bounds = _rows(estimates, f"bounds test F of the US {flow} equation")
        if len(bounds):
            r = bounds.iloc[0]
            out.append(f"The US {flow} equation ({r['estimator']}) {'passes' if r['diagnostics'] == 'passed' else 'does not pass'} "
                       f"the bounds test (F = {_num(r['value'], 2)}): its long-run elasticities "
                       + ("are used." if r["diagnostics"] == "passed" else "are not used; the growth-rate model is."))
    income = _rows(estimates, "income elasticity of US imports")
    if len(income) and published_income_elasticity is not None and _finite(published_income_elasticity):
        ardl = income[income["estimator"].str.contains("ARDL")]
        r = ardl.iloc[0] if len(ardl) else income.iloc[0]
        text = (f"The income elasticity of US imports from {partner} is {_with_interval(r, 2, '')} "
                f"({r['estimator'].split(': ')[-1]}), "
                f"{'below' if r['value'] < published_income_elasticity else 'above'} Gagnon's (2003) "
                f"{_num(published_income_elasticity, 2)}")
        if _has_interval(r):
            text += (", which lies inside our interval" if r["low"] <= published_income_elasticity <= r["high"]
                     else ", which lies outside our interval")
        out.append(text + ".")
    if out:
        out.append("What these equations do not say: they are partial-equilibrium relations of one pair's flows, "
                   "with no account of why incomes and exchange rates moved (saving and investment are shown as an "
                   "association only), and the agreement indicator is a step in the equations, not an identified effect.")
    return out
