"""Structural gravity: PPML with high-dimensional fixed effects, agreement terms,
partial-equilibrium and general-equilibrium counterfactuals.

Works on any bilateral panel with columns ``exporter, importer, year`` and a flow.

References
----------
Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics
    and Statistics 88(4), 641-658.
Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
    Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD (chapters 1-2).
Correia, S., Guimaraes, P. and Zylkin, T. (2020). Fast Poisson estimation with
    high-dimensional fixed effects. Stata Journal 20(1), 95-115 (ppmlhdfe).
Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
    97(2), 351-355 (exact hat algebra).
Baier, S. L. and Bergstrand, J. H. (2007). Do free trade agreements actually increase
    members' international trade? Journal of International Economics 71(1), 72-95.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError, EstimationError

#: Small-sample conventions of the pair-clustered standard errors.
#: ``stata``: G/(G-1) only; ``fixest``: G/(G-1) times (N-1)/(N-K), K counting coefficients
#: and the levels of fixed effects not nested in the clusters, less one per extra dimension
#: (fixest's default, ``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``).
SSC_CONVENTIONS = {
    "stata": {"k_adj": False, "G_adj": True},
    "fixest": {"k_adj": True, "k_fixef": "nonnested", "G_adj": True},
}


class GravityError(EstimationError):
    """Bad input for the gravity estimator."""


def validate_panel(panel: pd.DataFrame, flow: str, file: str = "gravity panel") -> None:
    """Columns present, pair-years unique, flows non-negative, no pair with only zeros."""
    need = ["exporter", "importer", "year", flow]
    missing = [c for c in need if c not in panel]
    if missing:
        raise DataError(file, missing[0], f"missing column(s) {missing}")
    dup = panel.duplicated(["exporter", "importer", "year"], keep=False)
    if dup.any():
        raise DataError(file, "exporter+importer+year", "duplicated pair-year",
                        panel.loc[dup, ["exporter", "importer", "year"]].astype(str).agg("/".join, axis=1).tolist())
    bad = panel[flow].isna() | (panel[flow] < 0)
    if bad.any():
        raise DataError(file, flow, "negative or missing trade flow",
                        panel.loc[bad, ["exporter", "importer", "year"]].astype(str).agg("/".join, axis=1).tolist())


def add_agreement_terms(panel: pd.DataFrame, members: tuple[str, str], entry_year: int,
                        name: str = "agreement", other: pd.Series | None = None,
                        lags: tuple[int, ...] = (), lead: int | None = None,
                        border_by_year: bool = False, within_pair: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Add the agreement's terms to a gravity panel.

    ``<name>``: 1 for flows between the two ``members`` (both directions) from
    ``entry_year`` on; ``<name>_lag<L>``: from ``entry_year + L`` on (phase-in: the effect
    after L years is the sum of the terms); ``<name>_lead<L>``: from ``entry_year - L`` on
    (a lead: non-zero means trade moved before the agreement); ``other_agreements``: every
    other agreement (``other``, a 0/1 series aligned with the panel), the specific one
    excluded; ``border_<year>``: international flows in that year, when domestic flows are
    present (one year left out), which absorbs globalisation trends (Bergstrand, Larch and
    Yotov 2015). A lead or lag that is constant over the members' years (it falls outside the
    panel) is left out and listed in ``attrs["dropped_terms"]``. ``within_pair`` (models with
    pair effects): the agreement's own term must vary over the members' years, else
    :class:`GravityError` (the pair effect would absorb it).
    """
    a, b = members
    pair = ((panel["exporter"] == a) & (panel["importer"] == b)) | ((panel["exporter"] == b) & (panel["importer"] == a))
    if not pair.any():
        raise GravityError(f"no flows between {a} and {b} in the panel")
    out = panel.copy()
    terms = []
    out[name] = (pair & (out["year"] >= entry_year)).astype(float)
    terms.append(name)
    for lag in lags:
        col = f"{name}_lag{lag}"
        out[col] = (pair & (out["year"] >= entry_year + lag)).astype(float)
        terms.append(col)
    if lead:
        col = f"{name}_lead{lead}"
        out[col] = (pair & (out["year"] >= entry_year - lead) & (out["year"] < entry_year)).astype(float)
        terms.append(col)
    if other is not None:
        out["other_agreements"] = ((other.reindex(out.index).fillna(0) > 0) & ~(out[name] > 0)).astype(float)
        terms.append("other_agreements")
    if border_by_year:
        intl = out["exporter"] != out["importer"]
        if intl.all():
            raise GravityError("border-by-year terms need domestic flows (exporter == importer)")
        for y in sorted(out["year"].unique())[1:]:
            out[f"border_{y}"] = (intl & (out["year"] == y)).astype(float)
            terms.append(f"border_{y}")
    # a lead or lag that falls outside the panel's years (constant for the pair) is left out
    timing = [t for t in terms if t.startswith(f"{name}_lag") or t.startswith(f"{name}_lead")]
    dropped = [t for t in timing if out.loc[pair, t].nunique() < 2]
    terms = [t for t in terms if t not in dropped]
    out = out.drop(columns=dropped)
    out.attrs["dropped_terms"] = dropped
    for t in terms:
        if out[t].nunique() < 2:
            raise GravityError(f"term {t!r} does not vary in the panel (is the agreement in these years?)")
    if within_pair:
        # with pair effects a term that is constant over the members' years is absorbed by them
        years = f"{int(out['year'].min())}-{int(out['year'].max())}"
        if out.loc[pair, name].nunique() < 2:
            raise GravityError(f"the agreement's term is constant for {a}-{b} over the panel's years ({years}; in force "
                               f"from {entry_year}): the pair effect absorbs it, so the panel cannot identify it")
    return out, terms


def split_by_direction(data: pd.DataFrame, terms: list[str], members: tuple[str, str],
                       name: str = "agreement") -> tuple[pd.DataFrame, list[str]]:
    """Replace each of the agreement's terms (``<name>``, its lags and lead) by two directional
    terms, ``<term>_<a>_to_<b>`` and ``<term>_<b>_to_<a>``, so that the effect on each member's
    exports is estimated rather than imposed to be equal: with a bilateral deficit, one
    coefficient for both directions fixes the sign of the balance effect.
    """
    a, b = members
    a_to_b = (data["exporter"] == a) & (data["importer"] == b)
    b_to_a = (data["exporter"] == b) & (data["importer"] == a)
    out, new_terms = data.copy(), []
    for t in terms:
        if t == name or t.startswith(f"{name}_lag") or t.startswith(f"{name}_lead"):
            for label, mask in ((f"{t}_{a}_to_{b}", a_to_b), (f"{t}_{b}_to_{a}", b_to_a)):
                out[label] = out[t].where(mask, 0.0)
                new_terms.append(label)
            out = out.drop(columns=t)
        else:
            new_terms.append(t)
    return out, new_terms


@dataclass
class GravityResult:
    """A fitted gravity model.

    ``table``: ``term, estimate, se, ci_low, ci_high, pct_effect`` (pct: 100 (e^b - 1)).
    ``info``: observations, dropped observations (zeros absorbed by fixed effects and
    separation), fixed-effect counts, pseudo-R2, specification and convention.
    """

    table: pd.DataFrame
    info: dict
    vcov: pd.DataFrame = field(repr=False)
    fit: object = field(repr=False, default=None)


def ppml(panel: pd.DataFrame, flow: str, terms: list[str], fixed_effects: str = "three-way",
         covariates: list[str] | None = None, ssc: str = "stata", level: float = 0.95,
         pair_column: str | None = None, errors: str = "cluster", cluster_column: str | None = None) -> GravityResult:
    """Gravity by Poisson pseudo-maximum likelihood with high-dimensional fixed effects.

    Parameters
    ----------
    panel : DataFrame
        ``exporter, importer, year, <flow>`` and the term columns.
    flow : str
        The trade flow (levels; zeros allowed).
    terms : list of str
        Policy terms (see :func:`add_agreement_terms`).
    fixed_effects : {"three-way", "two-way"}
        Exporter-year, importer-year and pair effects; or exporter-year and importer-year
        with ``covariates`` (e.g. log distance, contiguity, language, colony).
    ssc : {"stata", "fixest"}
        Small-sample convention of the pair-clustered errors (:data:`SSC_CONVENTIONS`).
    pair_column : str, optional
        Column defining the pair effects: default the directional pair (exporter, importer);
        e.g. a symmetric pair id, with every intra-national flow given one shared id as in
        Yotov, Piermartini, Monteiro and Larch (2016, ch. 2).
    errors : {"cluster", "hetero"}
        Errors clustered by ``cluster_column`` (default: the pair effects' column), or
        heteroskedasticity-robust ("semi-robust" in Stata's ``ppml``).

    References
    ----------
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
        Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD.

    Examples
    --------
    >>> from korus_research import gravity, io  # doctest: +SKIP
    >>> dta = io.read_table("gravity_dta")  # doctest: +SKIP
    >>> data, terms = gravity.add_agreement_terms(dta, ("KOR", "USA"), 2012, "korus",
    ...                                           other=dta["agreement_id"], lead=4)  # doctest: +SKIP
    >>> gravity.ppml(data, "trade_usd", terms).table  # doctest: +SKIP
    """
    import pyfixest as pf

    validate_panel(panel, flow)
    if ssc not in SSC_CONVENTIONS:
        raise GravityError(f"ssc {ssc!r}: choose one of {list(SSC_CONVENTIONS)}")
    covariates = covariates or []
    pair = (panel[pair_column].astype(str) if pair_column else panel["exporter"] + "_" + panel["importer"])
    data = panel.assign(exp_year=panel["exporter"] + "_" + panel["year"].astype(str),
                        imp_year=panel["importer"] + "_" + panel["year"].astype(str), pair=pair)
    if errors == "cluster":
        cluster = cluster_column or "pair"
        if cluster != "pair":
            data["cluster_id"] = data[cluster].astype(str)
            cluster = "cluster_id"
        vcov = {"CRV1": cluster}
    elif errors == "hetero":
        vcov = "hetero"
    else:
        raise GravityError(f"errors {errors!r}: choose 'cluster' or 'hetero'")
    # a pair whose flows are all zero carries no information under pair effects: reported, then dropped
    zero_pairs = data.groupby("pair")[flow].transform("sum") == 0
    if fixed_effects == "three-way":
        fe = "exp_year + imp_year + pair"
        rhs = terms
    elif fixed_effects == "two-way":
        fe = "exp_year + imp_year"
        rhs = terms + covariates
        zero_pairs = zero_pairs & False
    else:
        raise GravityError(f"fixed_effects {fixed_effects!r}: choose 'three-way' or 'two-way'")
    used = data[~zero_pairs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pf.fepois(f"{flow} ~ {' + '.join(rhs)} | {fe}", data=used, vcov=vcov,
                        ssc=pf.ssc(**SSC_CONVENTIONS[ssc]), iwls_maxiter=100, iwls_tol=1e-10, fixef_tol=1e-10)
    coef, se = fit.coef(), fit.se()
    z = stats.norm.ppf(0.5 + level / 2)
    table = pd.DataFrame({"estimate": coef, "se": se})
    table["ci_low"] = table["estimate"] - z * table["se"]
    table["ci_high"] = table["estimate"] + z * table["se"]
    table["pct_effect"] = np.expm1(table["estimate"]) * 100
    table.index.name = "term"
    n_fit = int(fit._N)
    info = {
        "observations": len(data), "pairs with only zeros (dropped)": int(zero_pairs.sum()),
        "dropped by the estimator (separation, singletons)": len(used) - n_fit, "used": n_fit,
        "exporter-year effects": used["exp_year"].nunique(), "importer-year effects": used["imp_year"].nunique(),
        "pair effects": used["pair"].nunique() if fixed_effects == "three-way" else 0,
        "pseudo_r2": float(getattr(fit, "_pseudo_r2", np.nan)) if getattr(fit, "_pseudo_r2", None) is not None else _pseudo_r2(fit, used, flow),
        "fixed_effects": fixed_effects, "ssc": ssc,
        "clusters": used[vcov["CRV1"]].nunique() if isinstance(vcov, dict) else "none (heteroskedasticity-robust)",
        "terms dropped as collinear": ", ".join(t for t in rhs if t not in coef.index) or "none",
        "warnings": "; ".join(sorted({str(w.message)[:120] for w in caught})),
    }
    vcov = pd.DataFrame(fit._vcov, index=coef.index, columns=coef.index)
    return GravityResult(table.reset_index(), info, vcov, fit)


PAIR_KINDS = ("directional", "symmetric", "symmetric, shared domestic")


def pair_ids(panel: pd.DataFrame, kind: str = "directional") -> pd.Series:
    """Pair identifiers for pair fixed effects or clustering.

    ``directional``: exporter-importer (i->j differs from j->i); ``symmetric``: the unordered
    pair; ``symmetric, shared domestic``: the unordered pair, with every intra-national flow
    (i == j) sharing one id, as in Yotov et al. (2016, ch. 2), where the pair effects of
    domestic flows are not separately identified from the country-year effects.
    """
    if kind not in PAIR_KINDS:
        raise GravityError(f"pair kind {kind!r}: choose one of {list(PAIR_KINDS)}")
    if kind == "directional":
        return (panel["exporter"] + "_" + panel["importer"]).rename("pair")
    a, b = panel["exporter"].astype(str), panel["importer"].astype(str)
    first = a.where(a <= b, b)
    ids = (first + "_" + b.where(a <= b, a)).rename("pair")
    if kind == "symmetric, shared domestic":
        ids = ids.where(panel["exporter"] != panel["importer"], "domestic")
    return ids


def _pseudo_r2(fit, data: pd.DataFrame, flow: str) -> float:
    """Squared correlation of actual and fitted flows (the PPML pseudo-R2 in ppml)."""
    try:
        y = np.asarray(fit._Y).ravel()
        mu = np.asarray(fit._Y_hat_response).ravel()
        return float(np.corrcoef(y, mu)[0, 1] ** 2)
    except Exception:  # pragma: no cover - attributes differ across pyfixest versions
        return float("nan")


def pe_counterfactual(panel: pd.DataFrame, flow: str, result: GravityResult, members: tuple[str, str],
                      terms: list[str], years: list[int], unit: float = 1.0, level: float = 0.95) -> pd.DataFrame:
    """Partial-equilibrium effect of switching ``terms`` off on the flows between ``members``.

    For each year the counterfactual flow is ``actual x exp(-sum of active terms' b)``; the
    effect is the actual minus the counterfactual. The balance is that of ``members[0]``
    (exports to minus imports from ``members[1]``); its interval is by the delta method with
    the estimated covariance of the coefficients. ``unit`` divides the flows (e.g. 1e9 for
    US$ bn from US$). Years in which the panel lacks the flows in either direction are
    left out and listed in ``attrs["years without flows"]``.
    """
    a, b = members
    beta = result.table.set_index("term")["estimate"]
    z = stats.norm.ppf(0.5 + level / 2)
    rows, missing = [], []
    for year in years:
        sub = panel[panel["year"] == year]
        x_ab = sub.loc[(sub["exporter"] == a) & (sub["importer"] == b), flow]
        x_ba = sub.loc[(sub["exporter"] == b) & (sub["importer"] == a), flow]
        if x_ab.empty or x_ba.empty:
            missing.append(int(year))
            continue
        # the terms active on each direction's flow (the same ones unless split by direction)
        on_ab = [t for t in terms if sub.loc[x_ab.index, t].iloc[0] > 0]
        on_ba = [t for t in terms if sub.loc[x_ba.index, t].iloc[0] > 0]
        idx = list(beta.index)
        g_ab, g_ba = np.zeros(len(beta)), np.zeros(len(beta))
        for t in on_ab:
            g_ab[idx.index(t)] = 1.0
        for t in on_ba:
            g_ba[idx.index(t)] = 1.0
        total_ab = float(beta[on_ab].sum()) if on_ab else 0.0
        total_ba = float(beta[on_ba].sum()) if on_ba else 0.0
        exp_ab, exp_ba = float(x_ab.iloc[0]) / unit, float(x_ba.iloc[0]) / unit
        exports_effect = exp_ab * (1 - np.exp(-total_ab))
        imports_effect = exp_ba * (1 - np.exp(-total_ba))
        bal_effect = exports_effect - imports_effect
        # delta method: d(balance)/d(beta) = exp_ab exp(-total_ab) g_ab - exp_ba exp(-total_ba) g_ba
        grad = exp_ab * np.exp(-total_ab) * g_ab - exp_ba * np.exp(-total_ba) * g_ba
        vcov = result.vcov.to_numpy()
        se_bal = float(np.sqrt(grad @ vcov @ grad))
        se_total = float(np.sqrt(g_ab @ vcov @ g_ab))
        on = list(dict.fromkeys(on_ab + on_ba))
        rows.append({
            "year": year, "active terms": ", ".join(on) or "none", "effect (log points)": total_ab,
            f"{a} exports to {b}, actual": exp_ab, f"{a} exports to {b}, without": exp_ab * np.exp(-total_ab),
            f"{a} imports from {b}, actual": exp_ba, f"{a} imports from {b}, without": exp_ba * np.exp(-total_ba),
            "balance effect": bal_effect, "balance effect ci_low": bal_effect - z * se_bal,
            "balance effect ci_high": bal_effect + z * se_bal,
            "exports effect": exports_effect, "imports effect": imports_effect,
            "log effect se": se_total,
        })
    if not rows:
        raise GravityError(f"no {a}-{b} flows in both directions in any of the years {years}")
    out = pd.DataFrame(rows).set_index("year")
    out.attrs["years without flows"] = missing
    return out


# ---------------------------------------------------------------- general equilibrium ---


@dataclass
class GEResult:
    """General-equilibrium counterfactual (exact hat algebra): new flows, price changes,
    real income changes, and the largest market-clearing error."""

    flows: pd.DataFrame
    price_change: pd.Series
    price_index_change: pd.Series
    real_income_change: pd.Series
    max_clearing_error: float
    iterations: int


def ge_counterfactual(flows: pd.DataFrame, tau: pd.DataFrame, sigma: float = 7.0, tol: float = 1e-12,
                      max_iter: int = 100000) -> GEResult:
    """Full-endowment general-equilibrium counterfactual of a structural gravity model.

    Parameters
    ----------
    flows : DataFrame
        Baseline flows, exporters (rows) x importers (columns), domestic flows on the
        diagonal (same country order in both).
    tau : DataFrame
        Change in bilateral trade costs as a factor on ``t_ij^(1-sigma)``, e.g.
        ``exp(-b)`` for the member pairs when an agreement with coefficient ``b`` is
        removed, 1 elsewhere.
    sigma : float
        Elasticity of substitution (7 in Yotov et al. 2016).

    Returns
    -------
    GEResult
        ``price_change`` (factory-gate prices, world output held constant),
        ``price_index_change`` (inward multilateral resistance), ``real_income_change``
        (``p_hat / P_hat``), the new flows, and the largest relative market-clearing error.

    Notes
    -----
    With import shares ``pi_ij = X_ij / E_j``, output ``Y_i`` and expenditure
    ``E_j = Y_j + D_j`` (trade deficits ``D`` held fixed in units of world output, so that
    world expenditure equals world output), the equilibrium price changes solve
    ``p_i Y_i = sum_j pi'_ij (p_j Y_j + D_j)`` with
    ``pi'_ij = pi_ij tau_ij p_i^(1-sigma) / sum_k pi_kj tau_kj p_k^(1-sigma)``
    (Dekle, Eaton and Kortum 2007; Yotov et al. 2016, ch. 2). Solved by the fixed-point
    update ``p <- p (demand / supply)^(1/sigma)`` (demand for a country's goods falls with
    ``p^-sigma``), world output as numeraire; ``tau = 1`` returns the baseline exactly.
    """
    x = flows.to_numpy(dtype=float)
    t = tau.reindex(index=flows.index, columns=flows.columns).to_numpy(dtype=float)
    if x.shape[0] != x.shape[1] or list(flows.index) != list(flows.columns):
        raise GravityError("flows must be a square exporter x importer matrix with the same order")
    if np.isnan(t).any() or (t <= 0).any():
        raise GravityError("tau must be positive for every pair")
    y = x.sum(axis=1)
    e = x.sum(axis=0)
    pi = x / e[None, :]
    deficit = e - y
    p = np.ones(len(y))
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        weights = pi * t * (p ** (1 - sigma))[:, None]
        pi_new = weights / weights.sum(axis=0, keepdims=True)
        demand = pi_new @ (p * y + deficit)
        excess = demand / (p * y) - 1
        if np.max(np.abs(excess)) < tol:
            break
        p = p * (1 + excess) ** (1 / sigma)
        p = p * y.sum() / (p * y).sum()  # numeraire: world output
    weights = pi * t * (p ** (1 - sigma))[:, None]
    index = weights.sum(axis=0) ** (1 / (1 - sigma))
    pi_new = weights / weights.sum(axis=0, keepdims=True)
    e_new = p * y + deficit
    new_flows = pi_new * e_new[None, :]
    clearing = np.max(np.abs(new_flows.sum(axis=1) / (p * y) - 1))
    names = flows.index
    return GEResult(pd.DataFrame(new_flows, index=names, columns=flows.columns), pd.Series(p, index=names),
                    pd.Series(index, index=names), pd.Series(p / index, index=names), float(clearing), iterations)


@dataclass
class GEImbalanceResult:
    """A counterfactual of the one-sector Armington-CES model with trade imbalances.

    ``flows``: new flows (exporter x importer); ``wage``: nominal wage (factory-gate price)
    changes, world output held constant; ``price_index``: inward price index changes;
    ``real_wage``: ``wage / price_index``; ``welfare``: real expenditure change
    (``E'/E / price_index``, equal to the real wage under multiplicative imbalances).
    """

    flows: pd.DataFrame
    wage: pd.Series
    price_index: pd.Series
    real_wage: pd.Series
    welfare: pd.Series
    max_clearing_error: float
    iterations: int


def ge_with_imbalances(flows: pd.DataFrame, beta: pd.DataFrame, theta: float = 4.0,
                       imbalances: str = "additive", tol: float = 1e-13, max_iter: int = 100000) -> GEImbalanceResult:
    """General-equilibrium effects of a change in trade costs with trade imbalances, additive
    (``E_j = Y_j + D_j`` with the deficit ``D_j`` fixed) or multiplicative (``E_j = delta_j Y_j``).

    Parameters
    ----------
    flows : DataFrame
        Baseline flows, exporters (rows) x importers (columns), domestic flows on the
        diagonal (same country order in both).
    beta : DataFrame
        Partial (log) changes in trade, e.g. an agreement's coefficient for the pairs whose
        agreement changes; the diagonal is ignored.
    theta : float
        Trade elasticity.
    imbalances : {"additive", "multiplicative"}

    Notes
    -----
    With ``pi_ij = X_ij / E_j`` and ``B_ij = exp(beta_ij)``, the changes in wages ``w`` and
    price indexes ``P`` solve market clearing ``w_i Y_i = sum_j pi'_ij E'_j`` with
    ``pi'_ij = pi_ij B_ij w_i^-theta / P_j`` and ``P_j = sum_k pi_kj B_kj w_k^-theta``
    (Dekle, Eaton and Kortum 2007; Yotov et al. 2016, ch. 2), world output held constant.
    Solved by the fixed point ``w_i^(1+theta) = sum_j pi_ij B_ij E'_j / P_j / Y_i``. The
    price index change is ``P^(-1/theta)``.

    References
    ----------
    Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
        97(2), 351-355.
    Anderson, J. E. and Yotov, Y. V. (2016). Terms of trade and global efficiency effects of
        free trade agreements, 1990-2002. Journal of International Economics 99, 279-298.
    Zylkin, T. (2019). GE_GRAVITY: Stata module to solve a simple general equilibrium
        one-sector trade model. Statistical Software Components S458678 (checked against its
        published output in ``tests/test_gravity.py``).
    """
    if imbalances not in ("additive", "multiplicative"):
        raise GravityError(f"imbalances {imbalances!r}: choose 'additive' or 'multiplicative'")
    if list(flows.index) != list(flows.columns):
        raise GravityError("flows must be a square exporter x importer matrix with the same order")
    x = flows.to_numpy(dtype=float)
    if np.isnan(x).any() or (x < 0).any():
        raise GravityError("flows must be non-negative with no missing values")
    b = np.exp(np.nan_to_num(beta.reindex(index=flows.index, columns=flows.columns).to_numpy(dtype=float)))
    np.fill_diagonal(b, 1.0)
    y, e = x.sum(axis=1), x.sum(axis=0)
    deficit = e - y
    pi = x / e[None, :]
    w = np.ones(len(y))
    iterations = 0

    def solve_prices(w):
        p = (pi * b * (w ** -theta)[:, None]).sum(axis=0)
        e_new = y * w + deficit if imbalances == "additive" else e * w
        return p, e_new

    while iterations < max_iter:
        iterations += 1
        p, e_new = solve_prices(w)
        w_next = (((pi * b) @ (e_new / p)) / y) ** (1 / (1 + theta))
        w_next *= y.sum() / (y * w_next).sum()  # numeraire: world output
        if np.max(np.abs(w_next / w - 1)) < tol:
            w = w_next
            break
        w = w_next
    p, e_new = solve_prices(w)
    share = pi * b * (w ** -theta)[:, None] / p[None, :]
    new = share * e_new[None, :]
    clearing = float(np.max(np.abs(new.sum(axis=1) / (y * w) - 1)))
    price_index = p ** (-1 / theta)
    names = flows.index
    return GEImbalanceResult(pd.DataFrame(new, index=names, columns=flows.columns), pd.Series(w, index=names),
                             pd.Series(price_index, index=names), pd.Series(w / price_index, index=names),
                             pd.Series(e_new / e / price_index, index=names), clearing, iterations)


# ---------------------------------------------------------------- specifications --------


@dataclass(frozen=True)
class Specification:
    """One gravity specification of the study: a panel, its flow and unit, and the terms."""

    label: str
    table: str
    flow: str
    unit_to_bn: float  # divide the flow by this to get US$ billion
    other: str | None  # column marking other agreements
    lead: int | None
    lags: tuple[int, ...]
    border_by_year: bool
    fixed_effects: str = "three-way"
    directional: bool = False  # one agreement term per direction of trade (split_by_direction)


#: The specifications estimated by the gravity notebook (keys are its ``panels`` parameter).
SPECIFICATIONS = {
    "dta": Specification("DTA 1964-2016, three-way", "gravity_dta", "trade_usd", 1e9, "agreement_id", 4, (4,), False),
    "dta_twoway": Specification("DTA 1964-2016, two-way + CEPII", "gravity_dta", "trade_usd", 1e9, "agreement_id",
                                None, (), False, "two-way"),
    # the same three-way model with one agreement term per direction of trade: the sign of the
    # balance effect is estimated, not imposed by a common coefficient
    "dta_directional": Specification("DTA 1964-2016, three-way, directional", "gravity_dta", "trade_usd", 1e9,
                                     "agreement_id", 4, (4,), False, directional=True),
    # no lead: the panel starts in 2010, two years before entry, so a lead would be collinear
    # with the agreement term and the pair effect
    "oecd": Specification("OECD-Asia 2010-2019, three-way + border", "gravity_oecd", "trade_usd_th", 1e6, "rta",
                          None, (3,), True),
    "wiod": Specification("WIOD 2000-2014, three-way + border", "gravity_wiod", "trade_usd_mn", 1e3, "fta",
                          5, (), True),
}

TWO_WAY_COVARIATES = ["ln_dist", "contig", "comlang_off", "colony"]


def members_of_agreement(dta: pd.DataFrame, agreement_id: int) -> tuple[tuple[str, str], int]:
    """The two members and first year of a bilateral agreement id of the DTA panel."""
    rows = dta[dta["agreement_id"] == agreement_id]
    if rows.empty:
        raise GravityError(f"agreement id {agreement_id} is absent from the DTA panel")
    members = sorted(set(rows["exporter"]) | set(rows["importer"]))
    if len(members) != 2:
        raise GravityError(f"agreement id {agreement_id} has {len(members)} members; a bilateral agreement is needed")
    return (members[0], members[1]), int(rows["year"].min())


def agreement_of_pair(dta: pd.DataFrame, a: str, b: str) -> int:
    """The DTA agreement id in force between ``a`` and ``b`` that covers only them."""
    pair = dta[((dta["exporter"] == a) & (dta["importer"] == b)) | ((dta["exporter"] == b) & (dta["importer"] == a))]
    ids = [i for i in sorted(pair.loc[pair["agreement_id"] > 0, "agreement_id"].unique())
           if set(dta.loc[dta["agreement_id"] == i, "exporter"]) | set(dta.loc[dta["agreement_id"] == i, "importer"]) == {a, b}]
    if not ids:
        raise GravityError(f"no bilateral agreement between {a} and {b} in the DTA panel")
    return int(ids[-1])


def agreements_of_pair(dta: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Every DTA agreement id in force between ``a`` and ``b`` (bilateral or plurilateral),
    with its first year in the panel and its number of members."""
    pair = dta[(((dta["exporter"] == a) & (dta["importer"] == b)) | ((dta["exporter"] == b) & (dta["importer"] == a)))
               & (dta["agreement_id"] > 0)]
    rows = []
    for agreement_id, sub in pair.groupby("agreement_id"):
        all_rows = dta[dta["agreement_id"] == agreement_id]
        rows.append({"agreement_id": int(agreement_id), "first_year": int(sub["year"].min()),
                     "members": len(set(all_rows["exporter"]) | set(all_rows["importer"]))})
    return pd.DataFrame(rows, columns=["agreement_id", "first_year", "members"]).sort_values("first_year")


def has_pair(table: pd.DataFrame, a: str, b: str) -> bool:
    """Whether a panel holds flows between ``a`` and ``b``."""
    return bool(((table["exporter"] == a) & (table["importer"] == b)).any())


def with_cepii(panel: pd.DataFrame, dist: pd.DataFrame) -> pd.DataFrame:
    """Add log distance, contiguity, common official language and colony ties (CEPII);
    pairs without CEPII data are dropped and counted in ``attrs['no_cepii']``."""
    merged = panel.merge(dist, on=["exporter", "importer"], how="inner", suffixes=("", "_cepii"))
    merged = merged[merged["dist_km"] > 0]
    merged["ln_dist"] = np.log(merged["dist_km"])
    merged.attrs["no_cepii"] = len(panel) - len(merged)
    return merged


def estimate_specification(spec: Specification, table: pd.DataFrame, members: tuple[str, str],
                           entry_year: int, ssc: str = "stata", dist: pd.DataFrame | None = None,
                           name: str = "agreement") -> tuple[GravityResult, pd.DataFrame, list[str]]:
    """Build the terms of ``spec`` and fit it; returns the result, the data and the terms."""
    panel = table
    if spec.fixed_effects == "two-way":
        if dist is None:
            raise GravityError("the two-way specification needs the CEPII distances")
        panel = with_cepii(table[table["exporter"] != table["importer"]], dist)
    other = panel[spec.other] if spec.other else None
    data, terms = add_agreement_terms(panel, members, entry_year, name, other=other, lags=spec.lags,
                                      lead=spec.lead, border_by_year=spec.border_by_year,
                                      within_pair=spec.fixed_effects == "three-way")
    if spec.directional:
        data, terms = split_by_direction(data, terms, members, name)
    covariates = TWO_WAY_COVARIATES if spec.fixed_effects == "two-way" else None
    result = ppml(data, spec.flow, terms, spec.fixed_effects, covariates, ssc)
    return result, data, terms


def ge_from_panel(panel: pd.DataFrame, flow: str, year: int, members: tuple[str, str], beta: float,
                  sigma: float = 7.0) -> tuple[GEResult, pd.DataFrame]:
    """GE counterfactual on one year of a panel with domestic flows: the agreement's effect
    ``beta`` removed between ``members`` (``tau = exp(-beta)`` both ways).

    Returns the result and a summary for the members: bilateral flows, total exports and
    real income (percentage changes).
    """
    year_rows = panel[panel["year"] == year]
    flows = year_rows.pivot_table(index="exporter", columns="importer", values=flow, aggfunc="sum")
    countries = sorted(set(flows.index) & set(flows.columns))
    flows = flows.reindex(index=countries, columns=countries)
    if flows.isna().any().any():
        raise GravityError(f"the {year} flows are not a complete square matrix (domestic flows needed)")
    a, b = members
    tau = pd.DataFrame(1.0, index=countries, columns=countries)
    tau.loc[a, b] = tau.loc[b, a] = np.exp(-beta)
    result = ge_counterfactual(flows, tau, sigma)
    rows = []
    for c in (a, b):
        other = b if c == a else a
        intl = [k for k in countries if k != c]
        rows.append({
            "country": c,
            "exports to the other member, % change": 100 * (result.flows.loc[c, other] / flows.loc[c, other] - 1),
            "total exports, % change": 100 * (result.flows.loc[c, intl].sum() / flows.loc[c, intl].sum() - 1),
            "real income, % change": 100 * (result.real_income_change[c] - 1),
            "factory-gate price, % change": 100 * (result.price_change[c] - 1),
        })
    return result, pd.DataFrame(rows).set_index("country")
