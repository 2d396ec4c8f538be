"""The joint study: attribution of the change in the balance, the literature comparison and
findings written from the numbers, all from the results saved by notebooks 01-05
(:func:`korus_research.io.save_results`); nothing is re-estimated here.

The attribution is an accounting, not a decomposition with orthogonal parts: the macro
drivers (notebook 05) also move autos, and the agreement estimates come from designs that
each hold other things fixed. It sets the estimates side by side on one scale (US$ bn of
the change in the US balance) with the notebook each comes from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import io

AUTOS_GROUP = "autos (ch. 87)"


def load(partner: str, names: list[str]) -> dict[str, pd.DataFrame]:
    """The saved results ``names`` for ``partner``; a missing one is reported by name."""
    out = {}
    for name in names:
        out[name] = io.load_results(name, partner)
    return out


RESULTS = ["balance_change", "balance_annual", "decomposition_contributions", "effects_dollars",
           "effects_did_dollars", "effects_synth_dollars", "effects_pretrend", "effects_placebo",
           "gravity_pe", "macro_balance_parts", "macro_coefficients", "macro_share"]


def agreement_estimates(r: dict[str, pd.DataFrame], year: int) -> pd.DataFrame:
    """Every estimate of the agreement's effect on the US balance in ``year`` (US$ bn):
    ``estimator, estimate, ci_low, ci_high, notebook``."""
    rows = []
    ed = r["effects_dollars"]
    for method in ("ols", "ppml"):
        row = ed[(ed["method"] == method) & (ed["year"] == year)]
        if len(row):
            rows.append((f"event study ({method.upper()})", row["balance_effect"].iloc[0],
                         row["balance_effect_ci_low"].iloc[0], row["balance_effect_ci_high"].iloc[0], "03"))
    dd = r["effects_did_dollars"]
    if len(dd) and (dd["year"] == year).all():
        tot = dd[dd["group"] == "total"].set_index("flow")
        if {"US exports", "US imports"} <= set(tot.index):
            est = tot.loc["US exports", "effect"] - tot.loc["US imports", "effect"]
            se = float(np.hypot(tot.loc["US exports", "effect_se"], tot.loc["US imports", "effect_se"]))
            rows.append(("product difference-in-differences (PPML)", est, est - 1.96 * se, est + 1.96 * se, "03"))
    sd = r["effects_synth_dollars"].set_index("year")
    if year in sd.index:
        rows.append(("synthetic control (shares)", sd.loc[year, "balance_effect"], np.nan, np.nan, "03"))
    gp = r["gravity_pe"]
    for spec, sub in gp[gp["year"] == year].groupby("specification", sort=False):
        rows.append((f"gravity PPML: {spec}", sub["balance effect"].iloc[0], sub["balance effect ci_low"].iloc[0],
                     sub["balance effect ci_high"].iloc[0], "04"))
    mp = r["macro_balance_parts"].set_index("component")
    if "agreement indicator" in mp.index:
        m = mp.loc["agreement indicator"]
        rows.append(("trade equations, agreement indicator", m["balance"] / 1e3, m["balance ci_low"] / 1e3,
                     m["balance ci_high"] / 1e3, "05"))
    return pd.DataFrame(rows, columns=["estimator", "estimate", "ci_low", "ci_high", "notebook"])


def attribution(r: dict[str, pd.DataFrame], base: int, compare: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The change in the US goods balance between ``base`` and ``compare`` (US$ bn, Census)
    attributed to macro drivers, the agreement (median and range across estimators), autos
    beyond the agreement, and the residual.

    Returns the attribution table and the agreement estimates it summarises.
    """
    bc = r["balance_change"].set_index("flow")
    if str(compare) not in bc.columns or str(base) not in bc.columns:
        raise ValueError(f"the saved balance change is for {list(bc.columns[:2])}, not {base}->{compare}: rerun notebook 01")
    total = float(bc.loc["balance_usd_bn", "change"])
    mp = r["macro_balance_parts"].set_index("component") / 1e3
    rows = []
    for comp, label in (("income (real demand)", "macro: demand"), ("real exchange rate", "macro: real exchange rate")):
        if comp in mp.index:
            rows.append((label, mp.loc[comp, "balance"], mp.loc[comp, "balance ci_low"], mp.loc[comp, "balance ci_high"], "05"))
    est = agreement_estimates(r, compare)
    if len(est):
        rows.append(("agreement (median of the estimators; interval = their range)", float(est["estimate"].median()),
                     float(est["estimate"].min()), float(est["estimate"].max()), "03, 04, 05"))
    contrib = r["decomposition_contributions"].set_index("group")
    if AUTOS_GROUP in contrib.index:
        autos = contrib.loc[AUTOS_GROUP, "balance_change"] / 1e9
        dd = r["effects_did_dollars"]
        auto_rows = dd[dd["group"] == AUTOS_GROUP].set_index("flow")
        if {"US exports", "US imports"} <= set(auto_rows.index):
            agreement_autos = auto_rows.loc["US exports", "effect"] - auto_rows.loc["US imports", "effect"]
            se = float(np.hypot(auto_rows.loc["US exports", "effect_se"], auto_rows.loc["US imports", "effect_se"]))
        else:
            agreement_autos, se = 0.0, np.nan
        beyond = autos - agreement_autos
        rows.append(("autos beyond the agreement", beyond, beyond - 1.96 * se, beyond + 1.96 * se, "02, 03"))
    explained = sum(v[1] for v in rows)
    rows.append(("residual (everything else, overlaps)", total - explained, np.nan, np.nan, "-"))
    rows.append(("total change in the US balance (Census)", total, np.nan, np.nan, "01"))
    table = pd.DataFrame(rows, columns=["component", "usd_bn", "interval_low", "interval_high", "notebook"])
    return table.set_index("component"), est


#: Published figures set beside ours: benchmark id -> (how to get ours, definitional note).
LITERATURE = {
    "usitc2016_korus_balance_effect": ("agreement_balance_2015",
                                       "USITC: economy-wide CGE/gravity simulation, merchandise balance, 2015; ours: effect on the bilateral balance, median and range of our estimators"),
    "usitc2007_exports_effect": ("gravity_exports", "USITC 2007: ex-ante, tariff cuts only, at full implementation; ours: ex-post, all channels, compare year"),
    "usitc2007_imports_effect": ("gravity_imports", "as above, US imports"),
    "russ_swenson_diversion_2013": ("event_imports_2013", "Russ and Swenson: diversion towards Korea by product; ours: all US imports from the partner vs controls"),
    "russ_swenson_diversion_2014": ("event_imports_2014", "as above, 2014"),
    "kr_joint_review_imports_fta": ("event_exports_avg", "Korean review: Korea-reported imports, FTA share of the rise vs 5 years before; ours: US exports, event study, 2012-2016 mean"),
    "kr_joint_review_exports_fta": ("event_imports_avg", "Korean review: Korea-reported exports; ours: US imports, event study, 2012-2016 mean"),
    "kiep2023_exports_fta": ("event_imports_avg", "KIEP 2023: ten-year review 2012-2021; ours ends in 2016"),
    "gagnon2003_income_elasticity": ("income_elasticity", "Gagnon: 1977-2001, many partners; ours: this partner, our sample"),
}


def literature(r: dict[str, pd.DataFrame], benchmarks: pd.DataFrame, partner: str, compare: int) -> pd.DataFrame:
    """Our estimates beside the published figures about ``partner`` (from benchmarks.csv)."""
    from .balance import benchmark_partner

    ed = r["effects_dollars"]
    ols = ed[ed["method"] == "ols"].set_index("year")
    gp = r["gravity_pe"]
    gp_year = gp[gp["year"] == compare]
    est2015 = agreement_estimates(r, 2015)
    coef = r["macro_coefficients"]
    income = coef[(coef["equation"] == "US imports") & (coef["level_1"] == "ln_us_demand")]["estimate"]
    ours = {
        "agreement_balance_2015": (est2015["estimate"].median(), est2015["estimate"].min(), est2015["estimate"].max()) if len(est2015) else None,
        "gravity_exports": (gp_year["exports effect"].median(), gp_year["exports effect"].min(), gp_year["exports effect"].max()) if len(gp_year) else None,
        "gravity_imports": (gp_year["imports effect"].median(), gp_year["imports effect"].min(), gp_year["imports effect"].max()) if len(gp_year) else None,
        "event_imports_2013": (ols.loc[2013, "imports_effect"], ols.loc[2013, "imports_effect_ci_low"], ols.loc[2013, "imports_effect_ci_high"]) if 2013 in ols.index else None,
        "event_imports_2014": (ols.loc[2014, "imports_effect"], ols.loc[2014, "imports_effect_ci_low"], ols.loc[2014, "imports_effect_ci_high"]) if 2014 in ols.index else None,
        "event_imports_avg": (ols["imports_effect"].mean(), ols["imports_effect_ci_low"].mean(), ols["imports_effect_ci_high"].mean()),
        "event_exports_avg": (ols["exports_effect"].mean(), ols["exports_effect_ci_low"].mean(), ols["exports_effect_ci_high"].mean()),
        "income_elasticity": (float(income.iloc[0]), np.nan, np.nan) if len(income) else None,
    }
    rows = []
    bm = benchmarks.set_index("id")
    korea_like = {"russ_swenson_diversion_2013", "russ_swenson_diversion_2014", "kr_joint_review_imports_fta",
                  "kr_joint_review_exports_fta", "kiep2023_exports_fta"}
    for bid, (key, note) in LITERATURE.items():
        if bid not in bm.index or ours.get(key) is None:
            continue
        about = "KOR" if bid in korea_like else benchmark_partner(bm.loc[bid, "quantity"])
        if bid != "gagnon2003_income_elasticity" and about != partner:
            continue
        value, low, high = ours[key]
        b = bm.loc[bid]
        rows.append({"published": b["quantity"], "period": b["period"], "unit": b["unit"],
                     "published value": (b["value_low"] + b["value_high"]) / 2, "published low": b["value_low"],
                     "published high": b["value_high"], "ours": value, "ours low": low, "ours high": high,
                     "difference in definitions": note, "source": b["source"]})
    return pd.DataFrame(rows)


def findings(attrib: pd.DataFrame, estimates: pd.DataFrame, lit: pd.DataFrame, r: dict[str, pd.DataFrame],
             partner: str, base: int, compare: int, services: dict | None = None) -> list[str]:
    """Sentences written from the computed numbers (no typed-in conclusions)."""
    bc = r["balance_change"].set_index("flow")
    b0, b1 = bc.loc["balance_usd_bn", str(base)], bc.loc["balance_usd_bn", str(compare)]
    out = [f"The US goods balance with {partner} went from {b0:.1f} to {b1:.1f} US$ bn between {base} and {compare}, "
           f"a change of {b1 - b0:+.1f} bn (Census basis)."]
    contrib = r["decomposition_contributions"].set_index("group")
    if AUTOS_GROUP in contrib.index:
        out.append(f"Autos (HS 87) contributed {contrib.loc[AUTOS_GROUP, 'balance_change'] / 1e9:+.1f} bn, "
                   f"{contrib.loc[AUTOS_GROUP, 'share_of_balance_change']:.0%} of the change on the Comtrade basis.")
    ms = r["macro_share"].set_index("item")["value"]
    out.append(f"US and {partner} demand and the real exchange rate account for {ms['macro share']:.0%} of the change "
               f"(95% interval {ms['ci_low']:.0%} to {ms['ci_high']:.0%}) in the trade equations.")
    if len(estimates):
        neg = int((estimates["estimate"] < 0).sum())
        out.append(f"The {len(estimates)} estimates of the agreement's effect on the {compare} balance range from "
                   f"{estimates['estimate'].min():+.1f} to {estimates['estimate'].max():+.1f} bn (median "
                   f"{estimates['estimate'].median():+.1f}); {neg} of {len(estimates)} say the agreement widened the deficit.")
        spread = estimates["estimate"].max() - estimates["estimate"].min()
        lo = estimates.loc[estimates["estimate"].idxmin(), "estimator"]
        hi = estimates.loc[estimates["estimate"].idxmax(), "estimator"]
        out.append(f"The estimators disagree by {spread:.1f} bn: the lowest is {lo}, the highest {hi}; they differ in the "
                   "comparison they make (control partners, all other pairs, or the partner's own history).")
    pre = r["effects_pretrend"]
    worst = pre["p_value"].min()
    out.append(f"The event study's leads are {'jointly significant' if worst < 0.05 else 'not jointly significant'} "
               f"(smallest pre-trend p-value {worst:.3f}), "
               + ("so the control partners did not trend like the partner before entry and those estimates carry that bias."
                  if worst < 0.05 else "consistent with parallel pre-trends."))
    usitc = lit[lit["published"].str.startswith("Improvement of the US bilateral")] if len(lit) else lit
    if len(usitc):
        row = usitc.iloc[0]
        side = "above" if row["published value"] > row["ours high"] else ("below" if row["published value"] < row["ours low"] else "within")
        out.append(f"The USITC's {row['published value']:+.1f} bn effect on the 2015 balance lies {side} the range of our "
                   f"2015 estimates ({row['ours low']:+.1f} to {row['ours high']:+.1f} bn); the USITC simulated the "
                   "economy-wide counterfactual, ours measure bilateral flows ex post.")
    res = attrib.loc["residual (everything else, overlaps)", "usd_bn"]
    out.append(f"What the macro drivers, the agreement (median) and autos beyond it leave unexplained is {res:+.1f} bn.")
    if services:
        out.append(f"US services exports to {partner} (published figures, {services['years'][0]}-{services['years'][-1]}) "
                   f"changed by {services['growth']:+.1%}: "
                   + ("they stalled, as USTR said." if services["stalled"] else "they did not stall by a 5% criterion."))
    return out
