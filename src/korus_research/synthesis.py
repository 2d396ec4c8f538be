"""The joint study: attribution of the change in the balance, the literature comparison and
findings written from the numbers, all read from the study's long estimate table
(:mod:`korus_research.results`); nothing is re-estimated here.

The agreement's part is chosen by a stated rule (:func:`headline`): the estimate of the
highest-ranked design in :data:`DESIGNS` whose own diagnostics passed and which carries a
95% confidence interval, with that interval. Every other estimate goes into the robustness
table (:func:`robustness`), with its design, its interval and the check it failed.

The attribution is an accounting, not a decomposition with orthogonal parts: the macro
drivers (notebook 05) also move autos, and the agreement estimates come from designs that
each hold other things fixed. It sets the estimates side by side on one scale (US$ bn of
the change in the US balance) with the notebook each comes from and the kind of interval
each carries.

References
----------
Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021). Synthetic
    difference-in-differences. American Economic Review 111(12), 4088-4118.
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. Journal of Econometrics 225(2), 200-230.
Roth, J., Sant'Anna, P. H. C., Bilinski, A. and Poe, J. (2023). What's trending in
    difference-in-differences? Journal of Econometrics 235(2), 2218-2244.
Simonsohn, U., Simmons, J. P. and Nelson, L. D. (2020). Specification curve analysis.
    Nature Human Behaviour 4, 1208-1214.
Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
    Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ResultsError
from .study import Study

#: The notebooks whose estimates the joint study (notebook 06) reads.
INPUT_NOTEBOOKS = ("01", "02", "03", "04", "05", "07")
AUTOS_QUANTITY = "autos contribution to the balance change"
AUTOS_AGREEMENT = "agreement effect on the autos balance"
#: The parts of notebook 05's decomposition the attribution shows (quantity -> row); its misfit stays in the residual.
MACRO_PARTS = (("balance change due to income", "macro: demand"),
               ("balance change due to the real exchange rate", "macro: real exchange rate"),
               ("balance change due to trade prices", "macro: trade prices (deflator)"),
               ("balance change due to partner supply", "macro: partner supply"),
               ("balance change due to trend growth in the trade equations", "trend growth in the trade equations"))
AGREEMENT = "agreement effect on the balance"
DIRECTIONAL = "agreement effect on the balance (directional terms)"
#: Notebook 04's general gravity models (one agreement term per direction, phase-in lags and leads).
GENERAL_GRAVITY = "agreement effect on the balance (general gravity models)"
TOTAL = "total change in the US balance (Census)"
RESIDUAL = "residual (everything else, overlaps)"
AGREEMENT_ROW = "agreement (headline design)"
ATTRIBUTION_COLUMNS = ["usd_bn", "interval", "low", "high", "notebook"]
#: A share of the change beyond this (150%) means the change is small beside its parts; it is not quoted.
MEANINGFUL_SHARE = 1.5


@dataclass(frozen=True)
class Design:
    """A research design of the agreement's effect, as the headline rule ranks it.

    ``prefix``: estimators whose name starts with it belong to the design, for rows of one of
    ``quantities``; ``check``: the diagnostic its estimates must pass; ``why``: the reason for its rank.
    """

    name: str
    prefix: str
    check: str
    why: str
    quantities: tuple[str, ...] = (AGREEMENT,)


#: The designs, best first. The rank is the design's, not the estimate's: a design is better when
#: it compares the partner with units that plausibly share its counterfactual path AND its
#: inference is valid with one treated partner.
DESIGNS: tuple[Design, ...] = (
    Design("synthetic difference-in-differences", "synthetic DiD",
           "placebo entry date before the real one gives no effect (p >= 0.05)",
           "re-weights control partners and years to match the partner's pre-period path; placebo variance "
           "built for one treated unit (Arkhangelsky et al. 2021)"),
    Design("staggered DiD, the partner's own effect", "staggered DiD (Callaway-Sant'Anna), partner",
           "pre-period effects jointly zero (p >= 0.05)",
           "compares the partner with not-yet- and never-treated partners, free of the negative weights of "
           "two-way fixed effects (Callaway and Sant'Anna 2021); one treated unit, so its interval is the weakest link"),
    Design("gravity with directional agreement terms", "gravity PPML",
           "lead terms jointly zero (p >= 0.05)",
           "structural gravity with pair and country-year effects; the sign of the balance effect estimated per "
           "direction, not imposed (Yotov et al. 2016)", quantities=(DIRECTIONAL, GENERAL_GRAVITY)),
    Design("staggered DiD, pooled effect of US agreements", "staggered DiD (Callaway-Sant'Anna), pooled",
           "pre-period effects jointly zero (p >= 0.05)",
           "many treated partners give valid inference, but it assumes the partner's effect equals the average "
           "of US agreements"),
    Design("event study against control partners", "event study",
           "leads jointly zero (p >= 0.05)",
           "two-way fixed effects with one treated unit: clustered errors rest on one treated cluster"),
    Design("gravity with one agreement term", "gravity PPML: ",
           "lead terms jointly zero (p >= 0.05); pair effects required",
           "one coefficient for both directions fixes the sign of the balance effect"),
    Design("synthetic control on shares", "synthetic control",
           "placebo-in-space p-value <= 0.10 for both flows",
           "no interval of its own; the placebo rank is its only inference"),
    Design("product difference-in-differences", "product difference-in-differences",
           "pre-period effects jointly zero (not estimated: not tested)",
           "product-group effects on the Comtrade basis, imports CIF"),
    Design("trade equations", "trade equations",
           "long-run relation supported (see notebook 05)",
           "an agreement step in macro trade equations, identified from one break in a time series",
           quantities=(AGREEMENT, "agreement effect on the balance change")),
)
#: The one headline rule, stated where the rule is applied and printed with the headline.
HEADLINE_RULE = ("the estimate of the highest-ranked design (DESIGNS order) whose own diagnostics passed and "
                 "which carries a 95% confidence interval, with that interval")


def design_of(estimator: str, quantity: str = AGREEMENT) -> tuple[int, Design] | tuple[None, None]:
    """The rank (0 = best) and design of an estimate, by its quantity and the longest matching prefix
    of its estimator's name."""
    hits = [(len(d.prefix), i, d) for i, d in enumerate(DESIGNS)
            if str(estimator).startswith(d.prefix) and quantity in d.quantities]
    if not hits:
        return None, None
    _, rank, design = max(hits)
    return rank, design


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
    diagnostics_detail, notebook, design, rank`` (rank 0 = best design, :data:`DESIGNS`).
    The trade equations' agreement indicator (notebook 05) measures the effect on the
    base-to-compare change and is listed with them; directional gravity estimates (one agreement
    term per direction) are listed beside the one-term ones."""
    year = study.compare_year if year is None else year
    span = f"{study.base_year}->{study.compare_year}"
    rows = pd.concat([_rows(est, AGREEMENT, str(year)), _rows(est, DIRECTIONAL, str(year)),
                      _rows(est, GENERAL_GRAVITY, str(year))]
                     + ([_rows(est, "agreement effect on the balance change", span)] if year == study.compare_year else []),
                     ignore_index=True)
    if study.has_agreement and study.base_year >= study.entry.year and year == study.compare_year:
        # the base year is already treated: the agreement's part of the change is its effect in the
        # compare year minus its effect in the base year (no interval: the two are not independent)
        base = pd.concat([_rows(est, q, str(study.base_year)) for q in (AGREEMENT, DIRECTIONAL, GENERAL_GRAVITY)])
        base = base.set_index(["quantity", "estimator"])["value"]
        at_compare = rows[rows["quantity"].isin([AGREEMENT, DIRECTIONAL, GENERAL_GRAVITY])]
        keys = pd.MultiIndex.from_frame(at_compare[["quantity", "estimator"]])
        rows = at_compare[keys.isin(base.index)].copy()
        rows["value"] = rows["value"].to_numpy() - base.reindex(pd.MultiIndex.from_frame(rows[["quantity", "estimator"]])).to_numpy()
        rows[["low", "high"]] = np.nan
        rows["interval"] = "none"
    return _ranked(rows)


def _ranked(rows: pd.DataFrame, as_quantity: str | None = None) -> pd.DataFrame:
    """Estimate rows as candidates of the headline rule: ``design`` and ``rank`` added (by the
    rows' quantity, or ``as_quantity`` for another outcome estimated by the same designs)."""
    out = rows.rename(columns={"value": "estimate", "low": "ci_low", "high": "ci_high"})
    quantities = [as_quantity] * len(out) if as_quantity else list(out["quantity"])
    ranked = [design_of(e, q) for e, q in zip(out["estimator"], quantities, strict=True)]
    out["design"] = [d.name if d is not None else "unranked" for _, d in ranked]
    out["rank"] = [r if r is not None else len(DESIGNS) for r, _ in ranked]
    out = out.sort_values(["rank", "estimator"], kind="stable")
    return out[["estimator", "estimate", "interval", "ci_low", "ci_high", "diagnostics", "diagnostics_detail",
                "notebook", "design", "rank"]].reset_index(drop=True)


def autos_agreement_estimates(est: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Every estimate of the agreement's effect on the autos balance in the compare year, ranked
    as :func:`agreement_estimates` ranks the balance estimates (the same designs)."""
    return _ranked(_rows(est, AUTOS_AGREEMENT, str(study.compare_year)), as_quantity=AGREEMENT)


def _why_not(r) -> str:
    """Why an estimate (a row of :func:`agreement_estimates`) is not the headline."""
    if r.diagnostics == "passed":
        return f"{r.estimator} (passed, but no 95% interval)"
    return f"{r.estimator} ({r.diagnostics}" + (f": {r.diagnostics_detail})" if r.diagnostics_detail else ")")


def headline(agreement: pd.DataFrame) -> dict:
    """The agreement's effect by the rule :data:`HEADLINE_RULE`.

    Parameters
    ----------
    agreement : DataFrame
        :func:`agreement_estimates`.

    Returns
    -------
    dict
        ``estimator, design, estimate, ci_low, ci_high, interval, notebook, rule, reason``; the
        estimate is NaN (and ``design`` None) when no design passes its diagnostics with a 95%
        interval, and ``reason`` then says why each candidate was set aside.
    """
    eligible = agreement[(agreement["diagnostics"] == "passed") & (agreement["interval"] == "95% CI")
                         & agreement[["ci_low", "ci_high"]].notna().all(axis=1)]
    eligible = eligible[eligible["rank"] < len(DESIGNS)].sort_values(["rank", "estimator"], kind="stable")
    if len(eligible):
        best = eligible.iloc[0]
        passed_better = agreement[(agreement["rank"] < best["rank"])]
        reason = (f"design ranked {int(best['rank']) + 1} of {len(DESIGNS)}, {best['design']}, passes its check "
                  f"({DESIGNS[int(best['rank'])].check})")
        if len(passed_better):
            reason += "; set aside from better-ranked designs: " + "; ".join(
                _why_not(r) for r in passed_better.itertuples())
        return {"estimator": best["estimator"], "design": best["design"], "estimate": float(best["estimate"]),
                "ci_low": float(best["ci_low"]), "ci_high": float(best["ci_high"]), "interval": "95% CI",
                "notebook": best["notebook"], "rule": HEADLINE_RULE, "reason": reason}
    reason = "no design passes its own diagnostics with a 95% interval" + (
        ": " + "; ".join(_why_not(r) for r in agreement.itertuples()) if len(agreement)
        else ": no estimate of the agreement's effect")
    return {"estimator": None, "design": None, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "interval": "none", "notebook": None, "rule": HEADLINE_RULE, "reason": reason}


def robustness(agreement: pd.DataFrame, chosen: dict | None = None) -> pd.DataFrame:
    """The specification curve: every estimate of the agreement's effect, sorted by value, with
    its design and rank, its interval and the interval's kind, whether it passed its diagnostics
    (and which check failed), whether the interval excludes zero, and which one is the headline."""
    chosen = headline(agreement) if chosen is None else chosen
    out = agreement.copy()
    out["check"] = [DESIGNS[r].check if r < len(DESIGNS) else "none" for r in out["rank"]]
    with_ci = out["interval"] == "95% CI"
    out["excludes zero"] = np.where(with_ci, (out["ci_low"] > 0) | (out["ci_high"] < 0), np.nan)
    out["excludes zero"] = out["excludes zero"].map({1.0: "yes", 0.0: "no"}).fillna("no interval")
    out["headline"] = out["estimator"].eq(chosen["estimator"]) & out["design"].eq(chosen["design"])
    out = out.sort_values("estimate", kind="stable").reset_index(drop=True)
    return out[["estimate", "ci_low", "ci_high", "interval", "design", "rank", "estimator", "diagnostics",
                "check", "diagnostics_detail", "excludes zero", "headline", "notebook"]]


def attribution(est: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The change in the US goods balance between the study's base and compare years (US$ bn,
    Census) attributed to macro drivers, the agreement (the headline design by :func:`headline`,
    with its own 95% interval), autos beyond the agreement, and the residual.

    Returns the attribution table (``usd_bn, interval, low, high, notebook`` by component)
    and the agreement estimates the headline was chosen from. When no design passes its
    diagnostics the agreement row is left out (its part stays in the residual) and the table's
    ``attrs["agreement"]`` says why.

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
    for quantity, label in MACRO_PARTS:
        r = _one(est, quantity, span)
        if r is not None:
            rows.append((label, r["value"], r["interval"], r["low"], r["high"], r["notebook"]))
    agreement = agreement_estimates(est, study)
    chosen = headline(agreement)
    if chosen["design"] is not None:
        rows.append((AGREEMENT_ROW, chosen["estimate"], chosen["interval"], chosen["ci_low"], chosen["ci_high"],
                     chosen["notebook"]))
    autos = _one(est, AUTOS_QUANTITY, span)
    autos_chosen = headline(autos_agreement_estimates(est, study))
    if autos is not None:
        if autos_chosen["design"] is not None:
            # the autos contribution minus the agreement's effect on the autos balance, chosen by the same rule
            beyond = autos["value"] - autos_chosen["estimate"]
            rows.append(("autos beyond the agreement", beyond, "95% CI", autos["value"] - autos_chosen["ci_high"],
                         autos["value"] - autos_chosen["ci_low"], f"02, {autos_chosen['notebook']}"))
        else:
            # no design of the autos effect passes its checks: the whole autos contribution is shown, and the
            # agreement's part of it is not separated
            rows.append(("autos (agreement's part not separated)", autos["value"], "none", np.nan, np.nan, "02"))
    explained = sum(float(v[1]) for v in rows)
    rows.append((RESIDUAL, total - explained, "none", np.nan, np.nan, "-"))
    rows.append((TOTAL, total, "none", np.nan, np.nan, "01"))
    table = pd.DataFrame(rows, columns=["component"] + ATTRIBUTION_COLUMNS).set_index("component")
    table[["usd_bn", "low", "high"]] = table[["usd_bn", "low", "high"]].astype(float)
    table.attrs["agreement"] = chosen
    table.attrs["autos agreement"] = autos_chosen
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
                                       "USITC: economy-wide CGE/gravity simulation, merchandise balance, 2015; ours: effect on the bilateral balance", None),
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
    effect_years = [str(y) for y in study.effect_years]

    def at(frame, year):
        return (float(frame.loc[year, "value"]), float(frame.loc[year, "low"]), float(frame.loc[year, "high"])) \
            if year in frame.index else None

    def mean(flow):
        # notebook 03 saves the mean over the effect years with its own interval (the years' coefficients
        # are correlated): averaging the yearly bounds would not be an interval of the mean
        span = f"{effect_years[0]}-{effect_years[-1]}" if effect_years else ""
        row = _one(est, f"agreement effect on US {flow}, mean over the effect years", span, "event study (OLS)")
        return (float(row["value"]), float(row["low"]), float(row["high"])) if row is not None else None

    income = _one(est, "income elasticity of US imports")
    in_2015 = agreement_estimates(est, study, 2015)
    chosen = headline(in_2015)
    return {
        "agreement_balance_2015": ((chosen["estimate"], chosen["ci_low"], chosen["ci_high"]) if chosen["design"]
                                   else _summary(in_2015.rename(columns={"estimate": "value"}))),
        "gravity_exports": _summary(est[gravity & (est["quantity"] == "agreement effect on US exports") & (est["period"] == compare)]),
        "gravity_imports": _summary(est[gravity & (est["quantity"] == "agreement effect on US imports") & (est["period"] == compare)]),
        "event_imports_2013": at(ols_imports, "2013"),
        "event_imports_2014": at(ols_imports, "2014"),
        "event_imports_avg": mean("imports"),
        "event_exports_avg": mean("exports"),
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
        if key == "agreement_balance_2015":
            chosen = headline(agreement_estimates(est, study, 2015))
            note = note + (f" (the headline design, {chosen['estimator']}, 95% CI)" if chosen["design"]
                           else " (no design passes its checks: median and range across the estimators)")
        b = bm.loc[bid]
        rows.append({"published": b["quantity"], "period": b["period"], "unit": b["unit"],
                     "published value": (b["value_low"] + b["value_high"]) / 2, "published low": b["value_low"],
                     "published high": b["value_high"], "ours": value, "ours low": low, "ours high": high,
                     "difference in definitions": note, "source": b["source"], "reference": _reference(bid)})
    return pd.DataFrame(rows, columns=["published", "period", "unit", "published value", "published low",
                                       "published high", "ours", "ours low", "ours high",
                                       "difference in definitions", "source", "reference"])


def _reference(benchmark_id: str) -> str:
    """The primary publication of a benchmark, as "Author (year), title [bibkey]" from
    ``references.bib`` (:mod:`korus_research.dictionary`); "" when it is not mapped."""
    from . import dictionary
    from .errors import KorusError

    try:
        keys = dictionary.citations_for("benchmark", benchmark_id)
        entries = dictionary.bib_entries()
    except (KorusError, FileNotFoundError):
        return ""
    out = []
    for key in keys:
        f = ({k: v.replace("{", "").replace("}", "") for k, v in entries[key].fields.items()}
             if key in entries else {})
        who = (f.get("author") or f.get("organization") or f.get("institution") or key).split(" and ")
        who = who[0].split(",")[0] + (" et al." if len(who) > 2 else f" and {who[1].split(',')[0]}" if len(who) == 2 else "")
        out.append(f"{who} ({f.get('year', 'n.d.')}), {f.get('title', '')} [{key}]")
    return "; ".join(out)


def _agreement_sentences(agreement: pd.DataFrame, chosen: dict, study: Study) -> list[str]:
    """The agreement's effect in words: the headline by the rule, then the intervals of every
    design and whether the designs that pass their checks agree (intervals, not point counts)."""
    what = "the hypothetical agreement (a placebo date)" if study.hypothetical else "the agreement"
    compare = study.compare_year
    out = []
    if chosen["design"] is not None:
        zero = ("excludes zero" if chosen["ci_low"] > 0 or chosen["ci_high"] < 0 else "includes zero")
        out.append(f"By the headline rule ({HEADLINE_RULE}), the effect of {what} on the {compare} US balance is "
                   f"{chosen['estimate']:+.1f} bn (95% CI {chosen['ci_low']:+.1f} to {chosen['ci_high']:+.1f}; the "
                   f"interval {zero}), from the {chosen['design']} ({chosen['estimator']}, notebook {chosen['notebook']}).")
    else:
        out.append(f"No design passes its own diagnostics with a 95% interval, so the study states no headline effect of "
                   f"{what}: its part of the change stays in the residual, and the robustness table lists every "
                   "estimate with the check it failed.")
    n = len(agreement)
    status = agreement["diagnostics"].value_counts()
    with_ci = agreement[(agreement["interval"] == "95% CI") & agreement[["ci_low", "ci_high"]].notna().all(axis=1)]
    sentence = (f"Of the {n} estimates, {status.get('passed', 0)} pass their diagnostics, {status.get('failed', 0)} fail "
                f"them and {status.get('not tested', 0)} are not tested; {len(with_ci)} carry a 95% interval, "
                f"{int(((with_ci['ci_low'] > 0) | (with_ci['ci_high'] < 0)).sum())} of which exclude zero "
                "(the robustness table lists each with its design and check).")
    out.append(sentence)
    passing = with_ci[with_ci["diagnostics"] == "passed"]
    if len(passing) >= 2:
        lo, hi = float(passing["ci_low"].max()), float(passing["ci_high"].min())
        designs = passing["design"].nunique()
        who = f"The {len(passing)} estimates that pass their checks ({designs} design{'s' if designs > 1 else ''})"
        out.append(f"{who} agree: their intervals overlap from {lo:+.1f} to {hi:+.1f} bn." if lo <= hi else
                   f"{who} disagree: their intervals do not all overlap (the highest lower bound is {lo:+.1f} bn, "
                   f"the lowest upper bound {hi:+.1f} bn).")
    spread_rows = agreement.dropna(subset=["estimate"])
    if len(spread_rows) >= 2:
        lo_r = spread_rows.loc[spread_rows["estimate"].idxmin()]
        hi_r = spread_rows.loc[spread_rows["estimate"].idxmax()]
        out.append(f"The estimates run from {lo_r['estimate']:+.1f} bn ({lo_r['estimator']}: {lo_r['diagnostics']}) to "
                   f"{hi_r['estimate']:+.1f} bn ({hi_r['estimator']}: {hi_r['diagnostics']}); the designs differ in the "
                   "comparison they make (control partners, all other pairs, or the partner's own history).")
    return out


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
        out += _agreement_sentences(agreement, attrib.attrs.get("agreement") or headline(agreement), study)
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
        parts = [c for c in attrib.index if c not in (RESIDUAL, TOTAL)]
        named = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        out.append(f"In the additive accounting (the cross-check), what the parts ({named}) leave unexplained"
                   + ("" if AGREEMENT_ROW in attrib.index else ", the agreement's part included,")
                   + f" is {attrib.loc[RESIDUAL, 'usd_bn']:+.1f} bn.")
    if services and len(services.get("years", [])) >= 2 and np.isfinite(services.get("growth", np.nan)):
        out.append(f"US services exports to {partner} (published figures, {services['years'][0]}-{services['years'][-1]}) "
                   f"changed by {services['growth']:+.1%}: "
                   + ("they stalled (growth within 5% of zero)." if services["stalled"]
                      else "they did not stall by a 5% criterion."))
    if skipped is not None and len(skipped):
        out.append(f"{len(skipped)} sections could not run on this partner's data and are listed with their reasons "
                   "(e.g. " + "; ".join(f"{r.section}: {r.reason}" for r in skipped.head(2).itertuples()) + ").")
    return out


#: Notebook 07's split of the change in the model's balance between the WIOD years (rows in order).
STRUCTURAL_CHANGE = ("structural change: incomes", "structural change: aggregate imbalances",
                     "structural change: the agreement", "structural change: the pair's other trade costs",
                     "structural change: the rest of the world's trade costs", "structural: change in the balance")
#: Notebook 07's general-equilibrium counterfactuals in the last WIOD year.
STRUCTURAL_COUNTERFACTUALS = ("structural: aggregate imbalances closed (GE)",
                              "structural: the two countries' imbalances closed (GE)",
                              "structural: agreement removed (GE)",
                              "structural: imbalances closed and agreement removed (GE)",
                              "structural: aggregate imbalances, Shapley part of the joint counterfactual",
                              "structural: agreement, Shapley part of the joint counterfactual")


def structural_account(est: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 07's structural account as it stands beside the accounting attribution: the split
    of the change in the model's US-partner balance between the WIOD years, and the GE
    counterfactuals, each with its period, interval kind and diagnostics (US$ bn, WIOD goods and
    services basis: not added to the Census goods attribution). Empty frames when notebook 07
    could not run for the partner."""
    cols = ["quantity", "period", "value", "interval", "low", "high", "diagnostics", "diagnostics_detail"]

    def pick(names):
        rows = est[est["quantity"].isin(names)]
        order = {q: i for i, q in enumerate(names)}
        return (rows.assign(_o=rows["quantity"].map(order)).sort_values(["_o", "period"])[cols]
                .rename(columns={"value": "usd_bn"}).reset_index(drop=True))

    return pick(STRUCTURAL_CHANGE), pick(STRUCTURAL_COUNTERFACTUALS)


# --------------------------------------------------------------------------- the attribution on the structural account

#: Rows of the attribution built on the structural account (:func:`structural_attribution`).
GE_IMBALANCES = "aggregate imbalances (GE)"
GE_INCOMES = "incomes (GE)"
GE_HEADLINE = "the agreement (headline design)"
GE_AGREEMENT = "the agreement's GE counterpart (beside the headline, not added)"
AUTOS_COMPOSITION = "autos composition (beyond the agreement)"
LEFT = "what is left (other trade costs, third countries, years and basis)"
STRUCTURAL_COLUMNS = ["usd_bn", "interval", "low", "high", "diagnostics", "basis", "notebook", "counted"]
#: The level counterfactuals of notebook 07 (compare year of the model) quoted by the findings.
_CLOSED = "structural: aggregate imbalances closed (GE)"
_MEMBERS = "structural: the two countries' imbalances closed (GE)"
_WIOD_BALANCE = "structural: balance, WIOD (goods and services)"
_GAP = "structural: WIOD balance minus the Census goods balance"


def _structural_span(est: pd.DataFrame) -> str | None:
    rows = _rows(est, "structural change: incomes")
    return str(rows["period"].iloc[0]) if len(rows) else None


def structural_attribution(est: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The change in the US goods balance between the study's years attributed on the
    structural account (notebook 07): aggregate imbalances and incomes from the
    general-equilibrium model, the agreement by the headline rule (its GE counterpart beside
    it), autos composition beyond the agreement, and what is left.

    Parameters
    ----------
    est : DataFrame
        The study's estimate table (notebooks 01-05 and 07).
    study : Study

    Returns
    -------
    (table, bridge)
        ``table``: by component ``usd_bn, interval, low, high, diagnostics, basis, notebook,
        counted``; the counted rows and "what is left" add up to the total change (Census
        goods); the agreement's GE counterpart is shown, not counted (it measures what the
        headline measures). ``table.attrs``: the headline choice (``agreement``), the autos
        choice, and ``macro source`` ("GE" or "trade equations").
        ``bridge``: the exact path from the model's change (WIOD, goods and services, the
        panel years nearest the study's) to the study's Census goods change: the model's
        five parts, the change in the definitional gap (WIOD minus Census goods), and the
        difference the years make. Empty when notebook 07 has no account for the partner.

    Notes
    -----
    The macro parts are the Shapley parts of the change in the model's balance that the
    countries' outputs (incomes) and aggregate trade imbalances (saving less investment)
    account for, in the GE model with imbalances (Dekle, Eaton and Kortum 2007; the model's
    trade costs are calibrated to the data, so every part is counterfactual, not a fitted
    residual). They are measured between the WIOD years nearest to the study's years and on
    WIOD's basis, which the bridge reconciles to the Census goods change; "what is left"
    carries that difference with the other trade costs and third countries' trade. When the
    partner is outside the WIOD panel the macro parts are notebook 05's trade equations
    (labelled as such) and the bridge is empty.

    References
    ----------
    Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
        97(2), 351-355.
    Felbermayr, G. and Yotov, Y. V. (2021). From theory to policy with gravitas: a solution
        to the mystery of the excess trade balances. European Economic Review 139, 103875.
    """
    accounting, _ = attribution(est, study)
    span = f"{study.base_year}->{study.compare_year}"
    total = float(accounting.loc[TOTAL, "usd_bn"])
    wiod_span = _structural_span(est)
    rows = []

    def add(component, r, basis, notebook, counted=True):
        has = r["interval"] != "none"
        rows.append((component, float(r["value"]), r["interval"], float(r["low"]) if has else np.nan,
                     float(r["high"]) if has else np.nan, r.get("diagnostics", "not tested"), basis, notebook, counted))

    if wiod_span:
        basis = f"GE model, WIOD goods and services, {wiod_span}"
        add(GE_IMBALANCES, _one(est, "structural change: aggregate imbalances", wiod_span), basis, "07")
        add(GE_INCOMES, _one(est, "structural change: incomes", wiod_span), basis, "07")
        macro_source = "GE"
    else:
        for quantity, label in MACRO_PARTS:
            r = _one(est, quantity, span)
            if r is not None:
                add(f"{label} (trade equations)", r, f"trade equations, Census goods, {span}", "05")
        macro_source = "trade equations"
    chosen = accounting.attrs["agreement"]
    if chosen["design"] is not None:
        rows.append((GE_HEADLINE, chosen["estimate"], chosen["interval"], chosen["ci_low"], chosen["ci_high"], "passed",
                     f"{chosen['design']}; Census goods, {study.compare_year} balance", chosen["notebook"], True))
    ge_agreement = _one(est, "structural change: the agreement", wiod_span) if wiod_span else None
    if ge_agreement is not None:
        add(GE_AGREEMENT, ge_agreement, f"GE model, WIOD goods and services, {wiod_span}", "07", counted=False)
    autos = [c for c in accounting.index if c.startswith("autos")]
    if autos:
        r = accounting.loc[autos[0]]
        label = AUTOS_COMPOSITION if autos[0] == "autos beyond the agreement" else autos[0]
        rows.append((label, r["usd_bn"], r["interval"], r["low"], r["high"],
                     "passed" if r["interval"] != "none" else "not tested", f"Comtrade HS 87, {span}", r["notebook"],
                     True))
    counted = sum(r[1] for r in rows if r[-1])
    rows.append((LEFT, total - counted, "none", np.nan, np.nan, "not tested", "the total less the counted parts", "-",
                 True))
    rows.append((TOTAL, total, "none", np.nan, np.nan, "not tested", f"Census goods, {span}", "01", False))
    table = pd.DataFrame(rows, columns=["component"] + STRUCTURAL_COLUMNS).set_index("component")
    table[["usd_bn", "low", "high"]] = table[["usd_bn", "low", "high"]].astype(float)
    table["counted"] = table["counted"].astype(bool)
    table.attrs.update({"agreement": chosen, "autos agreement": accounting.attrs["autos agreement"],
                        "macro source": macro_source, "structural span": wiod_span})
    return table, structural_bridge(est, study)


def structural_bridge(est: pd.DataFrame, study: Study) -> pd.DataFrame:
    """From the model's change in the balance (notebook 07: WIOD, goods and services, the panel
    years nearest the study's) to the study's Census goods change, exactly: the model's parts,
    less the change in the definitional gap (WIOD minus Census goods) over the same years, plus
    the difference the study's years make. Columns ``usd_bn, interval, low, high, step``
    (``step``: "part" of the model's change, "subtotal", or "bridge"). Empty without an account."""
    wiod_span = _structural_span(est)
    cols = ["usd_bn", "interval", "low", "high", "step"]
    if not wiod_span:
        return pd.DataFrame(columns=cols)
    base, compare = wiod_span.split("-")
    span = f"{study.base_year}->{study.compare_year}"
    rows = []
    for quantity in (q for q in STRUCTURAL_CHANGE if q.startswith("structural change: ")):
        r = _one(est, quantity, wiod_span)
        if r is not None:
            has = r["interval"] != "none"
            rows.append((f"model: {quantity.removeprefix('structural change: ')}", float(r["value"]), r["interval"],
                         float(r["low"]) if has else np.nan, float(r["high"]) if has else np.nan, "part"))
    model = _one(est, "structural: change in the balance", wiod_span)
    gaps = {y: _one(est, _GAP, y) for y in (base, compare)}
    total = _one(est, "balance change", span, "Census")
    if model is None or total is None or any(g is None for g in gaps.values()):
        return pd.DataFrame(columns=cols)
    gap_change = float(gaps[compare]["value"] - gaps[base]["value"])
    census_wiod_years = float(model["value"]) - gap_change
    rows += [(f"the model's change, WIOD goods and services, {wiod_span}", float(model["value"]), "none", np.nan, np.nan,
              "subtotal"),
             (f"less the change in the gap WIOD minus Census goods, {wiod_span} (services, basic prices)", -gap_change,
              "none", np.nan, np.nan, "bridge"),
             (f"Census goods change, {wiod_span}", census_wiod_years, "none", np.nan, np.nan, "subtotal"),
             (f"the study's years instead ({span})", float(total["value"]) - census_wiod_years, "none", np.nan, np.nan,
              "bridge"),
             (f"Census goods change, {span}", float(total["value"]), "none", np.nan, np.nan, "subtotal")]
    return pd.DataFrame(rows, columns=["step name"] + cols).set_index("step name")


def structural_attribution_rows(table: pd.DataFrame, study: Study) -> list[dict]:
    """The attribution on the structural account as rows of the estimate table (notebook 06)."""
    span = f"{study.base_year}->{study.compare_year}"
    return [{"quantity": f"structural attribution: {component}", "estimator": "joint study (structural account)",
             "period": span, "unit": "US$ bn", "value": r["usd_bn"], "interval": r["interval"],
             "low": r["low"] if r["interval"] != "none" else None,
             "high": r["high"] if r["interval"] != "none" else None,
             "diagnostics": r["diagnostics"], "diagnostics_detail": f"{r['basis']}; notebook {r['notebook']}"
             + ("" if r["counted"] else "; shown, not counted in the sum")}
            for component, r in table.iterrows()]


def _interval_text(r) -> str:
    return (f"{r['usd_bn']:+.1f} bn [{r['low']:+.1f}, {r['high']:+.1f}]" if r["interval"] != "none"
            else f"{r['usd_bn']:+.1f} bn")


def structural_findings(table: pd.DataFrame, bridge: pd.DataFrame, est: pd.DataFrame, study: Study) -> list[str]:
    """Sentences written from the attribution on the structural account, its bridge and the
    level counterfactuals of notebook 07 (95% intervals in brackets)."""
    span = f"{study.base_year}-{study.compare_year}"
    parts = [f"{c} {_interval_text(r)}" for c, r in table.iterrows() if r["counted"]]
    lead = ("Built on the structural account" if table.attrs.get("macro source") == "GE"
            else "With the trade equations' macro parts")
    out = [f"{lead}, the {span} change of {table.loc[TOTAL, 'usd_bn']:+.1f} bn (Census goods) "
           f"splits into {'; '.join(parts)}."]
    if table.attrs.get("macro source") != "GE":
        out.append(f"There is no structural account for {study.partner} (notebook 07 says why, e.g. a partner outside "
                   "the WIOD panel), so the macro parts come from notebook 05's trade equations, not from the "
                   "general-equilibrium model.")
    if GE_AGREEMENT in table.index and GE_HEADLINE in table.index:
        h, g = table.loc[GE_HEADLINE], table.loc[GE_AGREEMENT]
        overlap = (np.isfinite([h["low"], h["high"], g["low"], g["high"]]).all()
                   and h["low"] <= g["high"] and g["low"] <= h["high"])
        out.append(f"The agreement's GE counterpart (directional gravity effects inside the GE model, "
                   f"{table.attrs.get('structural span')}; diagnostics {g['diagnostics']}) is {_interval_text(g)}, "
                   f"beside the headline's {_interval_text(h)}: the intervals "
                   + ("overlap." if overlap else "do not overlap."))
    wiod_span = table.attrs.get("structural span")
    if wiod_span:
        c = wiod_span.split("-")[1]
        level, closed, members = (_one(est, q, c) for q in (_WIOD_BALANCE, _CLOSED, _MEMBERS))
        if level is not None and closed is not None:
            text = (f"In {c} the model's US balance with {study.partner} was {level['value']:.1f} bn; closing every "
                    f"country's aggregate imbalance would change it by {-closed['value']:+.1f} bn, so the imbalances "
                    f"account for {closed['value']:+.1f} bn of it")
            if members is not None:
                text += (f"; closing only the US's and {study.partner}'s own imbalances accounts for "
                         f"{members['value']:+.1f} bn (range over trade elasticities {members['low']:+.1f} to "
                         f"{members['high']:+.1f})")
            out.append(text + ".")
    if len(bridge):
        model = bridge[bridge["step"] == "subtotal"]
        out.append(f"The bridge: the model's change ({model.index[0].split(', ')[-1]}) of {model['usd_bn'].iloc[0]:+.1f} bn "
                   f"on WIOD's goods-and-services basis is {model['usd_bn'].iloc[1]:+.1f} bn on Census goods over the "
                   f"same years, and {model['usd_bn'].iloc[2]:+.1f} bn over the study's years; these differences are "
                   "part of what is left.")
    return out
