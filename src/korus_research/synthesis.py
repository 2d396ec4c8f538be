"""The joint study: attribution of the change in the balance, the literature comparison and
findings written from the numbers, all read from the study's long estimate table
(:mod:`korus_research.results`); nothing is re-estimated here.

The attribution is an accounting, not a decomposition with orthogonal parts: the macro
drivers (notebook 05) also move autos, and the agreement estimates come from designs that
each hold other things fixed. It sets the estimates side by side on one scale (US$ bn of
the change in the US balance) with the notebook each comes from and the kind of interval
each carries (a 95% confidence interval, or the range across estimators).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ResultsError
from .study import Study

AUTOS_QUANTITY = "autos contribution to the balance change"
AGREEMENT = "agreement effect on the balance"
TOTAL = "total change in the US balance (Census)"
RESIDUAL = "residual (everything else, overlaps)"
AGREEMENT_ROW = "agreement (median of the estimators)"
ATTRIBUTION_COLUMNS = ["usd_bn", "interval", "low", "high", "notebook"]
#: A share of the change beyond this (150%) means the change is small beside its parts; it is not quoted.
MEANINGFUL_SHARE = 1.5


def _rows(est: pd.DataFrame, quantity: str, period: str | None = None, estimator: str | None = None) -> pd.DataFrame:
    sel = est["quantity"] == quantity
    if period is not None:
        sel &= est["period"] == period
    if estimator is not None:
        sel &= est["estimator"] == estimator
    return est[sel]


def _one(est: pd.DataFrame, quantity: str, period: str | None = None, estimator: str | None = None) -> pd.Series | None:
    rows = _rows(est, quantity, period, estimator)
    return rows.iloc[0] if len(rows) else None


def agreement_estimates(est: pd.DataFrame, study: Study, year: int | None = None) -> pd.DataFrame:
    """Every estimate of the agreement's effect on the US balance in ``year`` (default: the
    compare year), US$ bn: ``estimator, estimate, interval, ci_low, ci_high, diagnostics,
    diagnostics_detail, notebook``. The trade equations' agreement indicator (notebook 05)
    measures the effect on the base-to-compare change and is listed with them."""
    year = study.compare_year if year is None else year
    span = f"{study.base_year}->{study.compare_year}"
    rows = pd.concat([_rows(est, AGREEMENT, str(year)),
                      _rows(est, "agreement effect on the balance change", span)], ignore_index=True)
    if study.has_agreement and study.base_year >= study.entry.year and year == study.compare_year:
        # the base year is already treated: the agreement's part of the change is its effect in the
        # compare year minus its effect in the base year (no interval: the two are not independent)
        base = _rows(est, AGREEMENT, str(study.base_year)).set_index("estimator")["value"]
        at_compare = rows[rows["quantity"] == AGREEMENT]
        rows = at_compare[at_compare["estimator"].isin(base.index)].copy()
        rows["value"] = rows["value"].to_numpy() - base.reindex(rows["estimator"]).to_numpy()
        rows[["low", "high"]] = np.nan
        rows["interval"] = "none"
    out = rows.rename(columns={"value": "estimate", "low": "ci_low", "high": "ci_high"})
    return out[["estimator", "estimate", "interval", "ci_low", "ci_high", "diagnostics", "diagnostics_detail",
                "notebook"]].reset_index(drop=True)


def attribution(est: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The change in the US goods balance between the study's base and compare years (US$ bn,
    Census) attributed to macro drivers, the agreement (median and range across
    estimators), autos beyond the agreement, and the residual.

    Returns the attribution table (``usd_bn, interval, low, high, notebook`` by component)
    and the agreement estimates it summarises.

    Raises
    ------
    ResultsError
        When the study's total change (notebook 01) is missing.
    """
    span = f"{study.base_year}->{study.compare_year}"
    total_row = _one(est, "balance change", span, "Census")
    if total_row is None:
        raise ResultsError(f"the total change {span} of study {study.study_id} is not in the estimate table: "
                           "run notebook 01 for this study")
    total = float(total_row["value"])
    rows = []
    for quantity, label in (("balance change due to income", "macro: demand"),
                            ("balance change due to the real exchange rate", "macro: real exchange rate")):
        r = _one(est, quantity, span)
        if r is not None:
            rows.append((label, r["value"], r["interval"], r["low"], r["high"], r["notebook"]))
    agreement = agreement_estimates(est, study)
    if len(agreement):
        rows.append((AGREEMENT_ROW, float(agreement["estimate"].median()), "range across estimators",
                     float(agreement["estimate"].min()), float(agreement["estimate"].max()),
                     ", ".join(sorted(set(agreement["notebook"])))))
    autos = _one(est, AUTOS_QUANTITY, span)
    if autos is not None:
        did = _one(est, "agreement effect on the autos balance", str(study.compare_year))
        if did is not None:
            beyond = autos["value"] - did["value"]
            rows.append(("autos beyond the agreement", beyond, did["interval"], autos["value"] - did["high"],
                         autos["value"] - did["low"], "02, 03"))
        else:
            rows.append(("autos beyond the agreement", autos["value"], "none", np.nan, np.nan, "02"))
    explained = sum(float(v[1]) for v in rows)
    rows.append((RESIDUAL, total - explained, "none", np.nan, np.nan, "-"))
    rows.append((TOTAL, total, "none", np.nan, np.nan, "01"))
    table = pd.DataFrame(rows, columns=["component"] + ATTRIBUTION_COLUMNS).set_index("component")
    table[["usd_bn", "low", "high"]] = table[["usd_bn", "low", "high"]].astype(float)
    return table, agreement


def attribution_rows(table: pd.DataFrame, study: Study) -> list[dict]:
    """The attribution as rows of the estimate table (notebook 06)."""
    span = f"{study.base_year}->{study.compare_year}"
    return [{"quantity": f"attribution: {component}", "estimator": "joint study (accounting)", "period": span,
             "unit": "US$ bn", "value": r["usd_bn"], "interval": r["interval"],
             "low": r["low"] if r["interval"] != "none" else None, "high": r["high"] if r["interval"] != "none" else None}
            for component, r in table.iterrows()]


#: Published figures set beside ours: benchmark id -> (how to get ours, definitional note, the partner
#: the figure is about when its text does not name it: a declared fact of the benchmark, not a rule).
LITERATURE = {
    "usitc2016_korus_balance_effect": ("agreement_balance_2015",
                                       "USITC: economy-wide CGE/gravity simulation, merchandise balance, 2015; ours: effect on the bilateral balance, median and range of our estimators", None),
    "usitc2007_exports_effect": ("gravity_exports", "USITC 2007: ex-ante, tariff cuts only, at full implementation; ours: ex-post, all channels, compare year", None),
    "usitc2007_imports_effect": ("gravity_imports", "as above, US imports", None),
    "russ_swenson_diversion_2013": ("event_imports_2013", "Russ and Swenson: diversion towards Korea by product; ours: all US imports from the partner vs controls", "KOR"),
    "russ_swenson_diversion_2014": ("event_imports_2014", "as above, 2014", "KOR"),
    "kr_joint_review_imports_fta": ("event_exports_avg", "Korean review: Korea-reported imports, FTA share of the rise vs 5 years before; ours: US exports, event study, mean over the effect years", "KOR"),
    "kr_joint_review_exports_fta": ("event_imports_avg", "Korean review: Korea-reported exports; ours: US imports, event study, mean over the effect years", "KOR"),
    "kiep2023_exports_fta": ("event_imports_avg", "KIEP 2023: ten-year review 2012-2021; ours ends in the compare year", "KOR"),
    "gagnon2003_income_elasticity": ("income_elasticity", "Gagnon: 1977-2001, many partners; ours: this partner, our sample", "any"),
}


def _summary(rows: pd.DataFrame) -> tuple[float, float, float] | None:
    return (float(rows["value"].median()), float(rows["value"].min()), float(rows["value"].max())) if len(rows) else None


def _ours(est: pd.DataFrame, study: Study) -> dict[str, tuple[float, float, float] | None]:
    compare = str(study.compare_year)
    gravity = est["estimator"].str.startswith("gravity")
    ols = est[est["estimator"] == "event study (OLS)"]
    ols_imports = ols[ols["quantity"] == "agreement effect on US imports"].set_index("period")
    ols_exports = ols[ols["quantity"] == "agreement effect on US exports"].set_index("period")
    effect_years = [str(y) for y in study.effect_years]

    def at(frame, year):
        return (float(frame.loc[year, "value"]), float(frame.loc[year, "low"]), float(frame.loc[year, "high"])) \
            if year in frame.index else None

    def mean(frame):
        sub = frame.reindex([y for y in effect_years if y in frame.index])
        return (float(sub["value"].mean()), float(sub["low"].mean()), float(sub["high"].mean())) if len(sub) else None

    income = _one(est, "income elasticity of US imports")
    return {
        "agreement_balance_2015": _summary(_rows(est, AGREEMENT, "2015")),
        "gravity_exports": _summary(est[gravity & (est["quantity"] == "agreement effect on US exports") & (est["period"] == compare)]),
        "gravity_imports": _summary(est[gravity & (est["quantity"] == "agreement effect on US imports") & (est["period"] == compare)]),
        "event_imports_2013": at(ols_imports, "2013"),
        "event_imports_2014": at(ols_imports, "2014"),
        "event_imports_avg": mean(ols_imports),
        "event_exports_avg": mean(ols_exports),
        "income_elasticity": (float(income["value"]), np.nan, np.nan) if income is not None else None,
    }


def literature(est: pd.DataFrame, benchmarks: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Our estimates beside the published figures about the study's partner (benchmarks.csv)."""
    from .balance import benchmark_partner

    ours = _ours(est, study)
    rows = []
    bm = benchmarks.set_index("id")
    for bid, (key, note, about) in LITERATURE.items():
        if bid not in bm.index or ours.get(key) is None:
            continue
        about = about or benchmark_partner(bm.loc[bid, "quantity"])
        if about not in ("any", study.partner):
            continue
        value, low, high = ours[key]
        b = bm.loc[bid]
        rows.append({"published": b["quantity"], "period": b["period"], "unit": b["unit"],
                     "published value": (b["value_low"] + b["value_high"]) / 2, "published low": b["value_low"],
                     "published high": b["value_high"], "ours": value, "ours low": low, "ours high": high,
                     "difference in definitions": note, "source": b["source"]})
    return pd.DataFrame(rows, columns=["published", "period", "unit", "published value", "published low",
                                       "published high", "ours", "ours low", "ours high",
                                       "difference in definitions", "source"])


def findings(attrib: pd.DataFrame, agreement: pd.DataFrame, lit: pd.DataFrame, est: pd.DataFrame, study: Study,
             services: dict | None = None, skipped: pd.DataFrame | None = None) -> list[str]:
    """Sentences written from the computed numbers (no typed-in conclusions); a sentence is
    written only when the study has the facts it states."""
    span = f"{study.base_year}->{study.compare_year}"
    partner, base, compare = study.partner, study.base_year, study.compare_year
    b0 = _one(est, "balance", str(base), "Census")
    b1 = _one(est, "balance", str(compare), "Census")
    out = []
    if b0 is not None and b1 is not None:
        out.append(f"The US goods balance with {partner} went from {b0['value']:.1f} to {b1['value']:.1f} US$ bn "
                   f"between {base} and {compare}, a change of {b1['value'] - b0['value']:+.1f} bn (Census basis).")
    autos = _one(est, AUTOS_QUANTITY, span)
    share = _one(est, "autos share of the balance change", span)
    if autos is not None and share is not None:
        out.append(f"Autos (HS 87) contributed {autos['value']:+.1f} bn"
                   + (f", {share['value']:.0%} of the change on the Comtrade basis." if abs(share["value"]) <= MEANINGFUL_SHARE
                      else " on the Comtrade basis (the total change is too small beside its parts for a share to mean much)."))
    macro = _one(est, "macro share of the balance change", span)
    macro_imports = _one(est, "macro share of the import side of the balance change", span)
    has_rer = _one(est, "balance change due to the real exchange rate", span) is not None
    price = " and the real exchange rate" if has_rer else ""
    if macro is not None and abs(macro["value"]) > MEANINGFUL_SHARE:
        macro = None  # the change is small beside its parts: the dollar parts are in the attribution table
        out.append("The change is too small beside its parts for a macro share to mean much; the attribution table "
                   "gives the parts in dollars.")
    if macro_imports is not None and abs(macro_imports["value"]) > MEANINGFUL_SHARE:
        macro_imports = None
        out.append("The import side of the change is too small beside its parts for a macro share to mean much; the "
                   "attribution table gives the parts in dollars.")
    if macro is not None:
        out.append(f"US and {partner} demand{price} account for {macro['value']:.0%} of the change "
                   f"(95% interval {macro['low']:.0%} to {macro['high']:.0%}) in the trade equations.")
    elif macro_imports is not None:
        out.append(f"US demand{price} account{'' if has_rer else 's'} for {macro_imports['value']:.0%} of the import side of the change "
                   f"(95% interval {macro_imports['low']:.0%} to {macro_imports['high']:.0%}); the data hold no "
                   f"demand series for {partner}, so the export side is not explained.")
    if len(agreement):
        n = len(agreement)
        neg = int((agreement["estimate"] < 0).sum())
        passed = int((agreement["diagnostics"] == "passed").sum())
        failed = int((agreement["diagnostics"] == "failed").sum())
        has_ci = agreement["interval"] == "95% CI"
        excl = int((has_ci & ((agreement["ci_low"] > 0) | (agreement["ci_high"] < 0))).sum())
        what = "the hypothetical agreement (a placebo date)" if study.hypothetical else "the agreement"
        out.append(f"The {n} estimates of the effect of {what} on the {compare} balance range from "
                   f"{agreement['estimate'].min():+.1f} to {agreement['estimate'].max():+.1f} bn (median "
                   f"{agreement['estimate'].median():+.1f}); {neg} of {n} point estimates say the agreement widened "
                   f"the deficit, {excl} of the {int(has_ci.sum())} with a 95% interval exclude zero, and {failed} "
                   f"fail their own diagnostics ({passed} pass, {n - passed - failed} not tested).")
        spread = agreement["estimate"].max() - agreement["estimate"].min()
        lo = agreement.loc[agreement["estimate"].idxmin(), "estimator"]
        hi = agreement.loc[agreement["estimate"].idxmax(), "estimator"]
        out.append(f"The estimators disagree by {spread:.1f} bn: the lowest is {lo}, the highest {hi}; they differ in the "
                   "comparison they make (control partners, all other pairs, or the partner's own history).")
    pre = est[est["quantity"] == "pre-trend p-value"]
    if len(pre):
        worst = float(pre["value"].min())
        out.append(f"The event study's leads are {'jointly significant' if worst < 0.05 else 'not jointly significant'} "
                   f"(smallest pre-trend p-value {worst:.3f}), "
                   + ("so the control partners did not trend like the partner before entry and those estimates carry "
                      "that bias." if worst < 0.05 else "consistent with parallel pre-trends."))
    usitc = lit[lit["published"].str.startswith("Improvement of the US bilateral")] if len(lit) else lit
    if len(usitc):
        row = usitc.iloc[0]
        side = ("above" if row["published value"] > row["ours high"]
                else ("below" if row["published value"] < row["ours low"] else "within"))
        out.append(f"The USITC's {row['published value']:+.1f} bn effect on the 2015 balance lies {side} the range of our "
                   f"2015 estimates ({row['ours low']:+.1f} to {row['ours high']:+.1f} bn); the USITC simulated the "
                   "economy-wide counterfactual, ours measure bilateral flows ex post.")
    if RESIDUAL in attrib.index and len(attrib) > 2:
        out.append(f"What the macro drivers, the agreement (median) and autos beyond it leave unexplained is "
                   f"{attrib.loc[RESIDUAL, 'usd_bn']:+.1f} bn.")
    if services and len(services.get("years", [])) >= 2 and np.isfinite(services.get("growth", np.nan)):
        out.append(f"US services exports to {partner} (published figures, {services['years'][0]}-{services['years'][-1]}) "
                   f"changed by {services['growth']:+.1%}: "
                   + ("they stalled (growth within 5% of zero)." if services["stalled"]
                      else "they did not stall by a 5% criterion."))
    if skipped is not None and len(skipped):
        out.append(f"{len(skipped)} sections could not run on this partner's data and are listed with their reasons "
                   "(e.g. " + "; ".join(f"{r.section}: {r.reason}" for r in skipped.head(2).itertuples()) + ").")
    return out
