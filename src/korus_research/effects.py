"""The agreement's effect on trade flows: event study, product-level DiD, synthetic control.

Estimators compare the treated partner with partners that got no new US agreement,
before and after the entry into force. Fixed-effects regressions use pyfixest
(OLS on logs and Poisson pseudo-maximum likelihood on levels); the synthetic control is
written here (non-negative weights summing to one, fitted on the pre-period).

References
----------
Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control methods for
    comparative case studies. Journal of the American Statistical Association 105, 493-505.
Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics
    and Statistics 88(4), 641-658.
Freyaldenhoven, S., Hansen, C., Perez, J. P. and Shapiro, J. M. (2021). Visualization,
    identification, and estimation in the linear panel event-study design. NBER w29170.
Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
    small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
    inference. Journal of Human Resources 50(2), 317-372.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import agreements
from .balance import check_partner, latest_vintage
from .errors import EstimationError

#: Years in which a new US agreement disqualifies a partner from the default control group.
NO_NEW_AGREEMENT_YEARS = (2007, 2019)
#: Size of the default control group and the year in which partners are ranked by total trade.
CONTROL_SIZE = 30
CONTROL_RANK_YEAR = 2011
#: Small-sample convention of the clustered standard errors: G/(G-1) only (no (N-1)/(N-K)),
#: so that they equal the textbook CR1 sandwich (Cameron and Miller 2015, eq. 11).
SSC = {"k_adj": False, "G_adj": True}


class EffectsError(EstimationError):
    """Bad input for an effect estimator (treated partner absent, no pre-period, ...)."""


def default_control_group(annual: pd.DataFrame, treated: str, size: int = CONTROL_SIZE,
                          rank_year: int = CONTROL_RANK_YEAR,
                          no_agreement: tuple[int, int] = NO_NEW_AGREEMENT_YEARS) -> list[str]:
    """The ``size`` largest US trading partners (exports plus imports in ``rank_year``) that
    had no new US agreement in the years ``no_agreement`` (inclusive), the treated partner
    left out. Partners with older agreements (NAFTA, Israel, Chile, ...) stay in.
    """
    table = agreements.agreements_table()
    lo, hi = no_agreement
    excluded = set(table.loc[table["entry_into_force"].dt.year.between(lo, hi), "partner"]) | {treated.upper()}
    vintage = latest_vintage(annual)
    rows = annual[(annual["vintage"] == vintage) & (annual["year"] == rank_year)
                  & (annual["partner_kind"] == "country") & ~annual["iso3"].isin(excluded)]
    trade = (rows["exports_usd_mn"] + rows["imports_usd_mn"]).groupby(rows["iso3"]).sum()
    return trade.nlargest(size).index.tolist()


def parse_control_group(spec: str, annual: pd.DataFrame, treated: str, rank_year: int = CONTROL_RANK_YEAR,
                        no_agreement: tuple[int, int] = NO_NEW_AGREEMENT_YEARS) -> list[str]:
    """``"default"`` (:func:`default_control_group` with ``rank_year`` and ``no_agreement``)
    or a comma-separated list of ISO3 codes."""
    if spec.strip().lower() == "default":
        return default_control_group(annual, treated, rank_year=rank_year, no_agreement=no_agreement)
    codes = [c.strip().upper() for c in spec.split(",") if c.strip()]
    if not codes:
        raise EffectsError("control group is empty")
    for code in codes:
        check_partner(annual, code)
    if treated.upper() in codes:
        raise EffectsError(f"the treated partner {treated} is also in the control group")
    return codes


def partner_panel(annual: pd.DataFrame, partners: list[str], start: int, end: int) -> pd.DataFrame:
    """``partner, year, exports, imports`` (US$ million, Census) for complete years."""
    vintage = latest_vintage(annual)
    rows = annual[(annual["vintage"] == vintage) & annual["iso3"].isin(partners)
                  & annual["year"].between(start, end) & (annual["months_reported"] == 12)]
    out = (rows.groupby(["iso3", "year"], as_index=False)[["exports_usd_mn", "imports_usd_mn"]].sum()
           .rename(columns={"iso3": "partner", "exports_usd_mn": "exports", "imports_usd_mn": "imports"}))
    out["date"] = pd.to_datetime(dict(year=out["year"], month=1, day=1))
    return out


def partner_panel_monthly(monthly: pd.DataFrame, partners: list[str], start: int, end: int) -> pd.DataFrame:
    """``partner, year, month, date, exports, imports`` (US$ million, Census) by month."""
    vintage = latest_vintage(monthly)
    rows = monthly[(monthly["vintage"] == vintage) & monthly["iso3"].isin(partners)
                   & monthly["year"].between(start, end)]
    out = (rows.groupby(["iso3", "year", "month"], as_index=False)[["exports_usd_mn", "imports_usd_mn"]].sum()
           .rename(columns={"iso3": "partner", "exports_usd_mn": "exports", "imports_usd_mn": "imports"}))
    out["date"] = pd.to_datetime(dict(year=out["year"], month=out["month"], day=1))
    return out


def _dummy_name(k: int) -> str:
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


def add_event_time(panel: pd.DataFrame, treated: str, entry: pd.Timestamp,
                   window: tuple[int, int] = (-5, 4), reference: int = -1) -> tuple[pd.DataFrame, list[str]]:
    """Add ``event_time`` (whole years since entry; the year of entry is 0) and one
    indicator per event time of the treated partner, endpoints binned, ``reference`` omitted.

    For monthly panels event time counts the 12-month periods from the entry month.
    """
    if treated not in set(panel["partner"]):
        raise EffectsError(f"treated partner {treated!r} is absent from the panel")
    if panel["partner"].nunique() < 2:
        raise EffectsError("the control group is empty: the panel holds only the treated partner")
    monthly = "month" in panel
    if monthly:
        months = (panel["date"].dt.year - entry.year) * 12 + (panel["date"].dt.month - entry.month)
        event = np.floor_divide(months, 12)
    else:
        event = panel["year"] - entry.year
    lo, hi = window
    if not lo < reference < hi + 1:
        raise EffectsError(f"reference period {reference} outside the window {window}")
    treated_rows = panel["partner"] == treated
    if not (event[treated_rows] < 0).any():
        raise EffectsError(f"no pre-period for {treated}: the panel starts at or after the entry into force")
    if not (event[treated_rows] >= 0).any():
        raise EffectsError(f"no post-period for {treated}: the panel ends before the entry into force")
    out = panel.assign(event_time=event.clip(lo, hi).where(treated_rows))
    names = []
    for k in range(lo, hi + 1):
        if k == reference:
            continue
        name = _dummy_name(k)
        out[name] = (out["event_time"] == k).astype(float)
        names.append(name)
    return out, names


@dataclass
class EventStudyResult:
    """Event-study estimates for one outcome.

    Attributes
    ----------
    coefficients : DataFrame
        ``event_time, estimate, se, ci_low, ci_high, pct_effect`` (reference row = 0).
    pretrend : dict
        Joint Wald test that every lead is zero: ``F``, ``df1``, ``df2``, ``p_value``.
    nobs, n_partners : int
    method, outcome : str
    """

    coefficients: pd.DataFrame
    pretrend: dict
    nobs: int
    n_partners: int
    method: str
    outcome: str
    vcov: pd.DataFrame = field(repr=False, default=None)


def event_study(panel: pd.DataFrame, treated: str, entry: pd.Timestamp, outcome: str = "imports",
                method: str = "ols", window: tuple[int, int] = (-5, 4), reference: int = -1,
                level: float = 0.95) -> EventStudyResult:
    """Event study of ``outcome`` for the treated partner against the control partners.

    ``ols``: ``log(outcome) ~ sum_k D_k | partner + time`` (zeros dropped, reported);
    ``ppml``: Poisson pseudo-maximum likelihood on levels with the same fixed effects
    (zeros kept; Santos Silva and Tenreyro 2006). Time fixed effects are years, or months
    plus partner-by-calendar-month effects for a monthly panel. Standard errors are
    clustered by partner (CR1 with G/(G-1), :data:`SSC`). With a single treated partner
    these clustered errors rest on one treated cluster and understate uncertainty
    (Conley and Taber 2011); the synthetic control's placebo inference complements them.

    Examples
    --------
    >>> from korus_research import io, effects  # doctest: +SKIP
    >>> annual = io.read_table("census_annual")  # doctest: +SKIP
    >>> panel = effects.partner_panel(annual, ["KOR"] + effects.default_control_group(annual, "KOR"), 2000, 2019)  # doctest: +SKIP
    >>> effects.event_study(panel, "KOR", pd.Timestamp("2012-03-15")).coefficients  # doctest: +SKIP
    """
    import pyfixest as pf

    data, names = add_event_time(panel, treated, entry, window, reference)
    monthly = "month" in data
    fe = "partner + date + partner^month" if monthly else "partner + year"
    if method == "ols":
        positive = data[outcome] > 0
        data = data[positive].assign(y=np.log(data.loc[positive, outcome]))
        fit = pf.feols(f"y ~ {' + '.join(names)} | {fe}", data=data, vcov={"CRV1": "partner"}, ssc=pf.ssc(**SSC), fixef_tol=1e-10)
    elif method == "ppml":
        data = data.assign(y=data[outcome])
        fit = pf.fepois(f"y ~ {' + '.join(names)} | {fe}", data=data, vcov={"CRV1": "partner"}, ssc=pf.ssc(**SSC), fixef_tol=1e-10)
    else:
        raise EffectsError(f"method {method!r}: choose 'ols' or 'ppml'")
    coef, se = fit.coef(), fit.se()
    vcov = coefficient_vcov(fit, coef.index)
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for k in range(window[0], window[1] + 1):
        if k == reference:
            rows.append((k, 0.0, 0.0))
        else:
            name = _dummy_name(k)
            rows.append((k, float(coef.get(name, np.nan)), float(se.get(name, np.nan))))
    table = pd.DataFrame(rows, columns=["event_time", "estimate", "se"])
    table["ci_low"] = table["estimate"] - z * table["se"]
    table["ci_high"] = table["estimate"] + z * table["se"]
    table["pct_effect"] = np.expm1(table["estimate"]) * 100
    leads = [_dummy_name(k) for k in range(window[0], reference) if _dummy_name(k) in coef.index]
    pretrend = wald_test(coef[leads].to_numpy(), vcov.loc[leads, leads].to_numpy(),
                         df2=data["partner"].nunique() - 1)
    return EventStudyResult(table, pretrend, observations_used(fit), int(data["partner"].nunique()), method, outcome, vcov)


def observations_used(fit) -> int:
    """Observations a pyfixest model used (after dropping singletons, separation and missing values):
    the length of its residuals (public API)."""
    return len(fit.resid())


def coefficient_vcov(fit, names: pd.Index) -> pd.DataFrame:
    """The coefficients' variance matrix of a pyfixest model.

    pyfixest (0.60) has no public accessor for the matrix: ``vcov()`` re-sets the variance type,
    and ``tidy()`` / ``confint()`` give only its diagonal. The event-study dollar effects need the
    covariances (a mean over years of correlated coefficients), so this one function reads the
    model's stored matrix and checks it against the public standard errors.
    """
    matrix = pd.DataFrame(np.asarray(fit._vcov), index=names, columns=names)
    if not np.allclose(np.sqrt(np.diag(matrix)), fit.se().reindex(names).to_numpy(), rtol=1e-8, equal_nan=True):
        raise EffectsError("pyfixest's stored variance matrix does not match its standard errors: check the "
                           "pyfixest version against constraints.txt")
    return matrix


def wald_test(beta: np.ndarray, vcov: np.ndarray, df2: int) -> dict:
    """Joint test that ``beta`` is zero: ``F = b' V^-1 b / q`` against F(q, df2)."""
    q = len(beta)
    if q == 0:
        return {"F": np.nan, "df1": 0, "df2": df2, "p_value": np.nan}
    stat = float(beta @ np.linalg.solve(vcov, beta)) / q
    return {"F": stat, "df1": q, "df2": df2, "p_value": float(stats.f.sf(stat, q, df2))}


def dollar_effects(panel: pd.DataFrame, treated: str, entry: pd.Timestamp,
                   results: dict[str, EventStudyResult], years: list[int], level: float = 0.95,
                   unit: float = 1e3) -> pd.DataFrame:
    """Implied effect in dollars: actual flow minus the counterfactual without the agreement.

    For year ``t`` at event time ``k``, the counterfactual is ``y_t exp(-b_k)`` and the
    effect ``y_t (1 - exp(-b_k))``; its standard error by the delta method is
    ``y_t exp(-b_k) se_k``. The balance effect is the export effect minus the import
    effect; its standard error treats the two equations' errors as independent (they are
    estimated separately), which is stated, not tested. ``unit`` converts the panel's
    US$ million to the output unit (1e3: US$ billion).
    """
    if not years:
        raise EffectsError("no year of the agreement's effect in the study (the compare year or the panel ends "
                           "before the entry into force)")
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    treated_rows = panel[panel["partner"] == treated].set_index("year")
    for year in years:
        if year not in treated_rows.index:
            raise EffectsError(f"year {year} not in the panel for {treated}")
        row = {"year": year}
        k = year - entry.year
        for flow in ("exports", "imports"):
            res = results[flow].coefficients.set_index("event_time")
            k_bin = min(max(k, res.index.min()), res.index.max())
            b, se = res.loc[k_bin, "estimate"], res.loc[k_bin, "se"]
            actual = treated_rows.loc[year, flow] / unit
            row[f"{flow}_actual"] = actual
            row[f"{flow}_counterfactual"] = actual * np.exp(-b)
            row[f"{flow}_effect"] = actual * (1 - np.exp(-b))
            row[f"{flow}_effect_se"] = actual * np.exp(-b) * se
        row["balance_effect"] = row["exports_effect"] - row["imports_effect"]
        row["balance_effect_se"] = float(np.hypot(row["exports_effect_se"], row["imports_effect_se"]))
        rows.append(row)
    out = pd.DataFrame(rows).set_index("year")
    for name in ("exports_effect", "imports_effect", "balance_effect"):
        out[f"{name}_ci_low"] = out[name] - z * out[f"{name}_se"]
        out[f"{name}_ci_high"] = out[name] + z * out[f"{name}_se"]
    return out


# ---------------------------------------------------------------- product-level DiD ----


def product_panel(comtrade: pd.DataFrame, partners: list[str], flow: str, start: int, end: int,
                  group_of) -> pd.DataFrame:
    """``partner, hs2, group, year, value`` (US$) from ``comtrade_hs2``, every chapter x year
    filled (a missing flow is a zero)."""
    rows = comtrade[comtrade["partner_key"].isin(partners) & (comtrade["flow"] == flow)
                    & comtrade["year"].between(start, end) & comtrade["hs2"].notna()]
    absent = sorted(set(partners) - set(rows["partner_key"]))
    if absent:
        raise EffectsError(f"partner(s) {absent} absent from the Comtrade table")
    value = rows.groupby(["partner_key", "hs2", "year"])["value_usd"].sum()
    index = pd.MultiIndex.from_product([sorted(partners), sorted(rows["hs2"].unique()), range(start, end + 1)],
                                       names=["partner_key", "hs2", "year"])
    out = value.reindex(index, fill_value=0.0).rename("value").reset_index().rename(columns={"partner_key": "partner"})
    out["group"] = out["hs2"].map(group_of)
    return out


def product_did(panel: pd.DataFrame, treated: str, entry: pd.Timestamp, method: str = "ppml",
                level: float = 0.95) -> pd.DataFrame:
    """Product-level difference-in-differences by product group.

    ``value ~ sum_g treated x post x group_g | hs2^year + partner^hs2`` by PPML (levels,
    zeros kept) or OLS on logs; clustered by partner (:data:`SSC`). Post means years from
    the year of entry on. Each group's coefficient is the agreement's effect on the
    treated partner's trade in that group relative to the same product elsewhere.

    Returns ``group, estimate, se, ci_low, ci_high, pct_effect, n_chapters``.
    """
    import pyfixest as pf

    if treated not in set(panel["partner"]):
        raise EffectsError(f"treated partner {treated!r} is absent from the product panel")
    if panel["partner"].nunique() < 2:
        raise EffectsError("the control group is empty")
    if not (panel["year"] < entry.year).any():
        raise EffectsError(f"no pre-period in the product panel: it covers {int(panel['year'].min())}-"
                           f"{int(panel['year'].max())}, the agreement is in force from {entry.year}")
    groups = sorted(panel["group"].unique())
    data = panel.copy()
    names = {}
    for i, g in enumerate(groups):
        names[g] = f"d{i}"
        data[f"d{i}"] = ((data["partner"] == treated) & (data["year"] >= entry.year) & (data["group"] == g)).astype(float)
    rhs = " + ".join(names.values())
    fe = "hs2^year + partner^hs2"
    if method == "ppml":
        import warnings

        with warnings.catch_warnings():  # separation is reported in attrs, not as a warning
            warnings.simplefilter("ignore", UserWarning)
            fit = pf.fepois(f"value ~ {rhs} | {fe}", data=data, vcov={"CRV1": "partner"}, ssc=pf.ssc(**SSC), fixef_tol=1e-10)
    elif method == "ols":
        data = data[data["value"] > 0].assign(value=lambda f: np.log(f["value"]))
        fit = pf.feols(f"value ~ {rhs} | {fe}", data=data, vcov={"CRV1": "partner"}, ssc=pf.ssc(**SSC), fixef_tol=1e-10)
    else:
        raise EffectsError(f"method {method!r}: choose 'ppml' or 'ols'")
    coef, se = fit.coef(), fit.se()
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for g, name in names.items():
        b, s = float(coef.get(name, np.nan)), float(se.get(name, np.nan))
        rows.append({"group": g, "estimate": b, "se": s, "ci_low": b - z * s, "ci_high": b + z * s,
                     "pct_effect": np.expm1(b) * 100,
                     "n_chapters": panel.loc[panel["group"] == g, "hs2"].nunique()})
    out = pd.DataFrame(rows)
    nobs = observations_used(fit)
    out.attrs.update(nobs=nobs, rows_in=len(data), dropped=len(data) - nobs, method=method)
    return out


# ---------------------------------------------------------------- synthetic control ----


def partner_shares(annual: pd.DataFrame, partners: list[str], flow: str, start: int, end: int) -> pd.DataFrame:
    """Each partner's share of US ``flow`` (exports or imports) with all countries, year x partner."""
    vintage = latest_vintage(annual)
    column = f"{flow}_usd_mn"
    rows = annual[(annual["vintage"] == vintage) & (annual["partner_kind"].isin(["country", "former country"]))
                  & annual["year"].between(start, end) & (annual["months_reported"] == 12)]
    total = rows.groupby("year")[column].sum()
    sub = rows[rows["iso3"].isin(partners)].groupby(["year", "iso3"])[column].sum().unstack("iso3")
    return sub.div(total, axis=0).reindex(columns=partners)


def synth_weights(treated: np.ndarray, donors: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that minimise ``||treated - donors @ w||``.

    Solved exactly by non-negative least squares on the system augmented with a heavily
    weighted row ``sum(w) = 1``, then polished by SLSQP with the equality imposed.
    """
    t = np.asarray(treated, float)
    d = np.asarray(donors, float)
    if d.ndim != 2 or d.shape[0] != t.shape[0] or d.shape[1] == 0:
        raise EffectsError("synthetic control needs a (periods x donors) matrix matching the treated series")
    scale = max(np.abs(d).max(), np.abs(t).max(), 1e-12)
    big = 1e4
    a = np.vstack([d / scale, big * np.ones((1, d.shape[1]))])
    b = np.concatenate([t / scale, [big]])
    w, _ = optimize.nnls(a, b, maxiter=50 * d.shape[1])
    w = np.clip(w, 0, None)
    w = w / w.sum() if w.sum() > 0 else np.full(d.shape[1], 1 / d.shape[1])

    def loss(v):
        r = d @ v - t
        return float(r @ r) / scale**2

    def grad(v):
        return 2 * d.T @ (d @ v - t) / scale**2

    res = optimize.minimize(loss, w, jac=grad, method="SLSQP", bounds=[(0, 1)] * d.shape[1],
                            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1, "jac": lambda v: np.ones_like(v)}],
                            options={"ftol": 1e-16, "maxiter": 500})
    best = res.x if res.success and loss(res.x) <= loss(w) else w
    best = np.clip(best, 0, None)
    return best / best.sum()


@dataclass
class SynthResult:
    """A synthetic control fit: ``weights`` (donor -> weight), the ``path`` (year x actual,
    synthetic, gap) and the pre/post root mean squared prediction errors."""

    weights: pd.Series
    path: pd.DataFrame
    rmspe_pre: float
    rmspe_post: float

    @property
    def ratio(self) -> float:
        return self.rmspe_post / self.rmspe_pre if self.rmspe_pre > 0 else np.inf


def synthetic_control(shares: pd.DataFrame, treated: str, entry_year: int,
                      donors: list[str] | None = None) -> SynthResult:
    """Synthetic control for ``treated``'s series in ``shares`` (year x unit), fitted on the
    years before ``entry_year`` on the outcome path (Abadie, Diamond and Hainmueller 2010)."""
    if treated not in shares.columns:
        raise EffectsError(f"treated partner {treated!r} absent from the shares table")
    donors = [c for c in (donors or list(shares.columns)) if c != treated]
    if not donors:
        raise EffectsError("the donor pool is empty")
    data = shares[[treated, *donors]].dropna()
    pre = data.index < entry_year
    if pre.sum() < 2:
        raise EffectsError(f"fewer than two pre-period years before {entry_year}")
    if (~pre).sum() < 1:
        raise EffectsError(f"no post-period years from {entry_year}")
    w = synth_weights(data.loc[pre, treated].to_numpy(), data.loc[pre, donors].to_numpy())
    synthetic = data[donors].to_numpy() @ w
    path = pd.DataFrame({"actual": data[treated], "synthetic": synthetic}, index=data.index)
    path["gap"] = path["actual"] - path["synthetic"]
    rmspe_pre = float(np.sqrt((path.loc[pre, "gap"] ** 2).mean()))
    rmspe_post = float(np.sqrt((path.loc[~pre, "gap"] ** 2).mean()))
    return SynthResult(pd.Series(w, index=donors, name="weight"), path, rmspe_pre, rmspe_post)


def placebo_in_space(shares: pd.DataFrame, treated: str, entry_year: int,
                     donors: list[str] | None = None) -> pd.DataFrame:
    """Placebo-in-space inference: the synthetic control refitted with each donor as the
    treated unit (the real treated unit left out of its pool).

    Returns ``unit, rmspe_pre, rmspe_post, ratio, rank`` sorted by ratio (rank 1 = largest);
    ``attrs["p_value"]`` is the treated unit's rank divided by the number of units.
    """
    donors = [c for c in (donors or list(shares.columns)) if c != treated]
    rows = []
    for unit in [treated, *donors]:
        pool = [d for d in donors if d != unit]
        fit = synthetic_control(shares, unit, entry_year, pool)
        rows.append({"unit": unit, "rmspe_pre": fit.rmspe_pre, "rmspe_post": fit.rmspe_post, "ratio": fit.ratio,
                     "post_gap_mean": float(fit.path.loc[fit.path.index >= entry_year, "gap"].mean())})
    out = pd.DataFrame(rows).sort_values("ratio", ascending=False).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out.attrs["p_value"] = float(out.loc[out["unit"] == treated, "rank"].iloc[0] / len(out))
    return out


def synth_dollar_effect(fit: SynthResult, totals: pd.Series, entry_year: int) -> pd.Series:
    """The synthetic-control gap in shares times the US total flow (same unit as ``totals``)."""
    post = fit.path.loc[fit.path.index >= entry_year, "gap"]
    return (post * totals.reindex(post.index)).rename("effect")


#: Published estimates comparable with ours: benchmark id -> (partner, our quantity,
#: years averaged). Signs follow ours: effects on US exports, on US imports, and on the
#: US balance (positive = the agreement improved it).
BENCHMARK_EFFECTS: dict[str, tuple[str, str, list[int]]] = {
    "russ_swenson_diversion_2013": ("KOR", "imports_effect", [2013]),
    "russ_swenson_diversion_2014": ("KOR", "imports_effect", [2014]),
    "kr_joint_review_exports_fta": ("KOR", "imports_effect", [2012, 2013, 2014, 2015, 2016]),
    "kr_joint_review_imports_fta": ("KOR", "exports_effect", [2012, 2013, 2014, 2015, 2016]),
    "usitc2016_korus_balance_effect": ("KOR", "balance_effect", [2015]),
}


def mean_dollar_effect(panel: pd.DataFrame, treated: str, entry: pd.Timestamp,
                       results: dict[str, EventStudyResult], quantity: str, years: list[int],
                       level: float = 0.95, unit: float = 1e3) -> dict:
    """The mean over ``years`` of the event study's dollar effect (:func:`dollar_effects`) with
    a delta-method interval that keeps the covariances of the event-time coefficients.

    For a flow, ``mean = (1/n) sum_t y_t (1 - exp(-b_k(t)))``; its gradient in ``b_k`` is
    ``(1/n) sum_{t: k(t)=k} y_t exp(-b_k)`` and its variance ``g' V g`` with ``V`` the
    coefficients' clustered variance matrix. ``balance_effect`` is the export mean minus the import
    mean, its variance the sum of the two (the equations are estimated separately; stated, not tested).

    Returns
    -------
    dict
        ``estimate, se, ci_low, ci_high, years``.
    """
    if quantity not in ("exports_effect", "imports_effect", "balance_effect"):
        raise EffectsError(f"quantity {quantity!r}: choose 'exports_effect', 'imports_effect' or 'balance_effect'")
    if not years:
        raise EffectsError("no year of the agreement's effect to average over")
    rows = panel[panel["partner"] == treated].set_index("year")
    missing = [y for y in years if y not in rows.index]
    if missing:
        raise EffectsError(f"years {missing} not in the panel for {treated}")
    flows = [quantity.removesuffix("_effect")] if quantity != "balance_effect" else ["exports", "imports"]
    total, variance = 0.0, 0.0
    for flow in flows:
        res = results[flow]
        coefficients = res.coefficients.set_index("event_time")["estimate"]
        names = res.vcov.index
        gradient = pd.Series(0.0, index=names)
        mean = 0.0
        for year in years:
            k = min(max(year - entry.year, coefficients.index.min()), coefficients.index.max())
            b = float(coefficients.loc[k])
            actual = rows.loc[year, flow] / unit
            mean += actual * (1 - np.exp(-b)) / len(years)
            if _dummy_name(k) in gradient.index:
                gradient[_dummy_name(k)] += actual * np.exp(-b) / len(years)
        sign = -1.0 if (quantity == "balance_effect" and flow == "imports") else 1.0
        total += sign * mean
        variance += float(gradient @ res.vcov.to_numpy() @ gradient)
    z = stats.norm.ppf(0.5 + level / 2)
    se = float(np.sqrt(variance))
    return {"estimate": total, "se": se, "ci_low": total - z * se, "ci_high": total + z * se,
            "years": f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])}


def compare_effects_with_benchmarks(panel: pd.DataFrame, treated: str, entry: pd.Timestamp,
                                    results: dict[str, EventStudyResult], benchmarks: pd.DataFrame,
                                    label: str, level: float = 0.95) -> pd.DataFrame:
    """Our dollar effects (US$ bn; means over several years by :func:`mean_dollar_effect`) beside
    the published estimates. Only benchmarks about ``treated`` whose years are all in the panel
    are shown."""
    rows = []
    published = benchmarks.set_index("id")
    have = set(panel.loc[panel["partner"] == treated, "year"])
    for bid, (who, quantity, years) in BENCHMARK_EFFECTS.items():
        if who != treated.upper() or bid not in published.index or not set(years) <= have:
            continue
        b = published.loc[bid]
        ours = mean_dollar_effect(panel, treated, entry, results, quantity, years, level)
        rows.append({"published quantity": b["quantity"], "period": b["period"], "estimator": label,
                     "ours": ours["estimate"], "ours_ci_low": ours["ci_low"], "ours_ci_high": ours["ci_high"],
                     "published_low": b["value_low"], "published_high": b["value_high"],
                     "our years": ours["years"], "source": b["source"]})
    return pd.DataFrame(rows)


def did_dollar_effects(panel: pd.DataFrame, did: pd.DataFrame, treated: str, year: int,
                       unit: float = 1e9, level: float = 0.95) -> pd.DataFrame:
    """Dollar effect of the agreement by product group in ``year`` from the product DiD:
    ``value (1 - exp(-b_g))`` with a delta-method interval; the total treats the groups'
    errors as independent (the covariance across groups is not kept), which is stated."""
    z = stats.norm.ppf(0.5 + level / 2)
    values = panel[(panel["partner"] == treated) & (panel["year"] == year)].groupby("group")["value"].sum() / unit
    if values.empty:
        raise EffectsError(f"no product values for {treated} in {year}")
    coef = did.set_index("group")
    out = pd.DataFrame(index=coef.index)
    out["value"] = values.reindex(coef.index).fillna(0.0)
    out["effect"] = out["value"] * (1 - np.exp(-coef["estimate"]))
    out["effect_se"] = out["value"] * np.exp(-coef["estimate"]) * coef["se"]
    out.loc["total"] = [out["value"].sum(), out["effect"].sum(), float(np.sqrt((out["effect_se"] ** 2).sum()))]
    out["ci_low"] = out["effect"] - z * out["effect_se"]
    out["ci_high"] = out["effect"] + z * out["effect_se"]
    return out
