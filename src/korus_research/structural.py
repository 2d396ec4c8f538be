"""A structural account of the bilateral balance: aggregate imbalances, trade costs and
third-country trade in one general-equilibrium gravity model.

On any panel with domestic flows (the WIOD panel ``gravity_wiod``: 43 economies and the rest
of the world, goods and services, 2000/2005/2010/2014) this module

1. solves the one-sector general-equilibrium gravity model with trade imbalances, additive
   (``E = Y + D``) or multiplicative (``E = delta Y``) as Stata's ``ge_gravity`` does, in exact
   hat algebra from a baseline that reproduces the data (:func:`solve_ge`; a change of trade
   costs alone is :func:`korus_research.gravity.ge_with_imbalances`, checked against Stata's
   published results; a change of the aggregate imbalances is :func:`ge_imbalance_change`);
2. runs counterfactuals for the reporter's (US) balance with the partner: every aggregate
   imbalance closed (Dekle, Eaton and Kortum 2007), the agreement removed with one
   coefficient per direction of trade (estimated on the DTA panel,
   :func:`directional_coefficients`), both together with a Shapley split, and the change of
   the balance between two years split into incomes, aggregate imbalances, the agreement, the
   pair's other trade costs and the rest of the world's trade costs (:func:`change_split`);
3. decomposes the bilateral imbalance into an aggregate-imbalance part, a triangular
   (third-country) part and an asymmetric-trade-cost part (:func:`decompose_balance`);
4. gives every number a percentile interval from a seeded bootstrap over pairs
   (:func:`structural_account`).

References
----------
Davis, D. R. and Weinstein, D. E. (2002). The mystery of the excess trade (balances).
    American Economic Review 92(2), 170-174.
Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
    97(2), 351-355.
Anderson, J. E. and van Wincoop, E. (2003). Gravity with gravitas: a solution to the border
    puzzle. American Economic Review 93(1), 170-192.
Fally, T. (2015). Structural gravity and fixed effects. Journal of International Economics
    97(1), 76-85.
Felbermayr, G. and Yotov, Y. V. (2021). From theory to policy with gravitas: a solution to
    the mystery of the excess trade balances. European Economic Review 139, 103875.
Cunat, A. and Zymek, R. (2024). Bilateral trade imbalances. Review of Economic Studies
    91(3), 1537-1583 (IMF Working Paper 22/90, 2022).
Shapley, L. S. (1953). A value for n-person games. In Contributions to the Theory of Games
    II, Annals of Mathematics Studies 28, 307-317.
Ang, B. W. (2004). Decomposition analysis for policymaking in energy: which is the preferred
    method? Energy Policy 32(9), 1131-1139 (the logarithmic mean Divisia index).
Zylkin, T. (2019). GE_GRAVITY: Stata module to solve a simple general equilibrium one-sector
    trade model. Statistical Software Components S458678.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import gravity
from .errors import EstimationError, KorusError, ParameterError

#: The reporter whose balance is studied.
REPORTER = "USA"
#: The panel of the account: table, flow column and the divisor that gives US$ billion.
WIOD_TABLE, WIOD_FLOW, WIOD_TO_BN = "gravity_wiod", "trade_usd_mn", 1e3
#: The specification whose directional agreement effects the account uses
#: (:data:`korus_research.gravity.SPECIFICATIONS`; notebook 04 estimates the same one).
COEFFICIENT_SPEC = "dta_directional"
IMBALANCES = ("additive", "multiplicative")

#: The factors of the change in the balance between two years (:func:`change_split`).
FACTORS = {
    "incomes": "macro: incomes (outputs)",
    "imbalances": "macro: aggregate imbalances",
    "agreement": "trade costs: the agreement",
    "pair": "trade costs: the pair's other costs",
    "world": "the rest of the world's trade costs",
}

#: The parts of the bilateral balance (:func:`decompose_balance`).
PARTS = {
    "aggregate": "aggregate-imbalance part",
    "triangular": "triangular part",
    "asymmetric": "asymmetric trade-cost part",
}


class StructuralError(EstimationError):
    """The structural account cannot run on these data (a partner outside the panel, a year
    without a complete square of flows, ...)."""


# --------------------------------------------------------------------------- the data


def flow_matrix(panel: pd.DataFrame, year: int, flow: str = WIOD_FLOW) -> pd.DataFrame:
    """The ``year`` flows as a square exporter (rows) x importer (columns) matrix with the
    domestic flows on the diagonal; :class:`StructuralError` when the square is incomplete."""
    rows = panel[panel["year"] == year]
    if rows.empty:
        years = sorted(int(y) for y in panel["year"].unique())
        raise StructuralError(f"the panel has no flows in {year} (its years: {years})")
    matrix = rows.pivot_table(index="exporter", columns="importer", values=flow, aggfunc="sum")
    countries = sorted(set(matrix.index) | set(matrix.columns))
    matrix = matrix.reindex(index=countries, columns=countries)
    if matrix.isna().any().any():
        raise StructuralError(f"the {year} flows are not a complete square matrix with domestic flows")
    if (matrix.to_numpy() <= 0).any():
        raise StructuralError(f"the {year} flows hold zeros: the calibrated model needs every flow positive")
    matrix.index.name, matrix.columns.name = "exporter", "importer"
    return matrix


def check_partner(panel: pd.DataFrame, reporter: str, partner: str) -> bool:
    """``True``, or :class:`StructuralError` naming the panel's economies when ``reporter`` or
    ``partner`` is not one of them (for the notebook's skip)."""
    economies = sorted(set(panel["exporter"]) | set(panel["importer"]))
    missing = [c for c in (reporter, partner) if c not in economies]
    if missing:
        raise StructuralError(f"{', '.join(missing)} not in the panel of {len(economies)} economies "
                              f"({', '.join(economies)}): no structural account")
    return True


def nearest_years(years, base_year: int, compare_year: int) -> tuple[int, int]:
    """The panel years nearest to the study's base and compare years (a tie goes to the
    earlier year for the base and the later for the compare year), e.g. 2010 and 2014 in
    the WIOD panel for Korea's 2011-2016."""
    years = sorted(int(y) for y in years)
    if not years:
        raise StructuralError("the panel has no years")
    base = min(years, key=lambda y: (abs(y - base_year), y))
    compare = min(years, key=lambda y: (abs(y - compare_year), -y))
    return base, compare


def bilateral_balance(flows: pd.DataFrame, reporter: str, partner: str) -> float:
    """The reporter's balance with the partner, ``X_rp - X_pr`` (flow units)."""
    return float(flows.loc[reporter, partner] - flows.loc[partner, reporter])


# --------------------------------------------------------------------------- GE with imbalances


def ge_imbalance_change(flows: pd.DataFrame, beta: pd.DataFrame | None = None, theta: float = 6.0,
                        imbalances: str = "additive", keep_imbalances: float | pd.Series = 1.0,
                        absorber: str | None = None, tol: float = 1e-13,
                        max_iter: int = 100000) -> gravity.GEImbalanceResult:
    """General-equilibrium counterfactual of a change in trade costs and in the aggregate
    trade imbalances (exact hat algebra).

    Parameters
    ----------
    flows : DataFrame
        Baseline flows, exporters (rows) x importers (columns), domestic flows on the
        diagonal (same order in both).
    beta : DataFrame, optional
        Partial (log) changes of trade, ``B_ij = exp(beta_ij)`` (diagonal ignored); none: 0.
    theta : float
        Trade elasticity.
    imbalances : {"additive", "multiplicative"}
        How the imbalances enter: ``E_j = Y_j + D_j`` or ``E_j = delta_j Y_j``.
    keep_imbalances : float or Series
        Share of each country's baseline imbalance kept, in [0, 1]: 1 keeps them (the case
        of :func:`korus_research.gravity.ge_with_imbalances`), 0 closes every one (Dekle,
        Eaton and Kortum 2007). A Series (by country, 1 where absent) keeps a share per
        country; the deficits then no longer add to zero, and ``absorber`` takes what the
        others gave up (additive convention only).
    absorber : str, optional
        The country whose deficit absorbs ``sum_j (1 - kappa_j) D_j`` when
        ``keep_imbalances`` is a Series (e.g. the rest of the world, ``"ROW"``), so that
        world deficits still add to zero.

    Returns
    -------
    korus_research.gravity.GEImbalanceResult

    Notes
    -----
    With ``pi_ij = X_ij / E_j``, outputs ``Y_i = sum_j X_ij``, expenditures
    ``E_j = sum_i X_ij`` and deficits ``D_j = E_j - Y_j``, the wage changes ``w`` solve
    market clearing ``w_i Y_i = sum_j pi'_ij E'_j`` with
    ``pi'_ij = pi_ij B_ij w_i^-theta / P_j`` and ``P_j = sum_k pi_kj B_kj w_k^-theta``, and
    the new expenditures

    - additive: ``E'_j = w_j Y_j + kappa D_j`` (deficits in units of world output);
    - multiplicative: ``E'_j = (1 + kappa (delta_j - 1)) w_j Y_j`` with ``delta_j = E_j / Y_j``;

    ``kappa`` = ``keep_imbalances``. Closing the imbalances (``kappa = 0``) gives
    ``E'_j = w_j Y_j`` under both conventions. Solved by the fixed point of
    :func:`korus_research.gravity.ge_with_imbalances`,
    ``w_i^(1+theta) = sum_j pi_ij B_ij E'_j / P_j / Y_i``, with world output as numeraire
    (``sum_i w_i Y_i = sum_i Y_i``). Welfare is real expenditure, ``E'_j / E_j / P_j^(-1/theta)``.

    References
    ----------
    Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
        97(2), 351-355.
    Zylkin, T. (2019). GE_GRAVITY: Stata module to solve a simple general equilibrium
        one-sector trade model. Statistical Software Components S458678.
    """
    if imbalances not in IMBALANCES:
        raise ParameterError("imbalances", imbalances, IMBALANCES)
    per_country = isinstance(keep_imbalances, pd.Series)
    if per_country:
        unknown = sorted(set(keep_imbalances.index) - set(flows.index))
        if unknown:
            raise ParameterError("keep_imbalances", unknown, sorted(flows.index), "countries of the flow matrix")
        kept = keep_imbalances.reindex(flows.index).fillna(1.0).astype(float)
        if imbalances != "additive":
            raise ParameterError("imbalances", imbalances, ["additive"],
                                 "a per-country closing keeps world deficits at zero only in the additive convention")
        if absorber not in flows.index:
            raise ParameterError("absorber", absorber, sorted(flows.index),
                                 "a country of the flow matrix, which takes the deficits given up")
    else:
        kept = pd.Series(float(keep_imbalances), index=flows.index)
    if not ((kept >= 0.0) & (kept <= 1.0)).all():
        raise ParameterError("keep_imbalances", keep_imbalances, "shares in [0, 1] (1 keeps, 0 closes them)")
    if not theta > 0:
        raise ParameterError("theta", theta, "a positive trade elasticity")
    if list(flows.index) != list(flows.columns):
        raise StructuralError("flows must be a square exporter x importer matrix with the same order")
    x = flows.to_numpy(dtype=float)
    if np.isnan(x).any() or (x < 0).any():
        raise StructuralError("flows must be non-negative with no missing values")
    if beta is None:
        b = np.ones_like(x)
    else:
        b = np.exp(np.nan_to_num(beta.reindex(index=flows.index, columns=flows.columns).to_numpy(dtype=float)))
    np.fill_diagonal(b, 1.0)
    y, e = x.sum(axis=1), x.sum(axis=0)
    pi = x / e[None, :]
    kappa = kept.to_numpy()
    new_deficits = kappa * (e - y)
    if per_country:  # the absorber takes what the others gave up: world deficits still add to zero
        new_deficits[list(flows.index).index(absorber)] += float(((1 - kappa) * (e - y)).sum())

    def expenditure(w):
        if imbalances == "additive":
            return y * w + new_deficits
        return (1 + kappa * (e / y - 1)) * y * w

    w = np.ones(len(y))
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        p = (pi * b * (w ** -theta)[:, None]).sum(axis=0)
        w_next = (((pi * b) @ (expenditure(w) / p)) / y) ** (1 / (1 + theta))
        w_next *= y.sum() / (y * w_next).sum()  # numeraire: world output
        done = np.max(np.abs(w_next / w - 1)) < tol
        w = w_next
        if done:
            break
    p = (pi * b * (w ** -theta)[:, None]).sum(axis=0)
    e_new = expenditure(w)
    new = pi * b * (w ** -theta)[:, None] / p[None, :] * e_new[None, :]
    clearing = float(np.max(np.abs(new.sum(axis=1) / (y * w) - 1)))
    price_index = p ** (-1 / theta)
    names = flows.index
    return gravity.GEImbalanceResult(pd.DataFrame(new, index=names, columns=flows.columns), pd.Series(w, index=names),
                                     pd.Series(price_index, index=names), pd.Series(w / price_index, index=names),
                                     pd.Series(e_new / e / price_index, index=names), clearing, iterations)


def solve_ge(flows: pd.DataFrame, beta: pd.DataFrame | None = None, theta: float = 6.0,
             imbalances: str = "additive", keep_imbalances: float | pd.Series = 1.0,
             absorber: str | None = None, tol: float = 1e-13) -> gravity.GEImbalanceResult:
    """The GE counterfactual of the account.

    A change of trade costs alone (``keep_imbalances = 1``) is solved by
    :func:`korus_research.gravity.ge_with_imbalances`, which reproduces Stata's
    ``ge_gravity``; one that also changes the aggregate imbalances by
    :func:`ge_imbalance_change` (the same model and fixed point, see its Notes for the
    formulas: ``w_i^(1+theta) = sum_j pi_ij B_ij E'_j / P_j / Y_i`` with
    ``E'_j = w_j Y_j + kappa D_j`` or ``(1 + kappa (delta_j - 1)) w_j Y_j``).

    References
    ----------
    Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
        97(2), 351-355.
    Zylkin, T. (2019). GE_GRAVITY: Stata module to solve a simple general equilibrium
        one-sector trade model. Statistical Software Components S458678.
    """
    if not isinstance(keep_imbalances, pd.Series) and float(keep_imbalances) == 1.0:
        if imbalances not in IMBALANCES:
            raise ParameterError("imbalances", imbalances, IMBALANCES)
        beta = beta if beta is not None else pd.DataFrame(0.0, index=flows.index, columns=flows.columns)
        return gravity.ge_with_imbalances(flows, beta, theta=theta, imbalances=imbalances, tol=tol)
    return ge_imbalance_change(flows, beta, theta=theta, imbalances=imbalances, keep_imbalances=keep_imbalances,
                               absorber=absorber, tol=tol)


def directional_beta(flows: pd.DataFrame, effects: dict) -> pd.DataFrame:
    """A ``beta`` matrix for :func:`solve_ge` that removes directional effects:
    ``-effects[(i, j)]`` on the ``i -> j`` flow, 0 elsewhere."""
    beta = pd.DataFrame(0.0, index=flows.index, columns=flows.columns)
    for (i, j), value in effects.items():
        beta.loc[i, j] = -float(value)
    return beta


# --------------------------------------------------------------------------- the decomposition


@dataclass
class MRPositions:
    """Each country's position in the symmetric-cost gravity model of one year.

    ``d``: ``d_i = ln(Y_i / E_i) + ln(Phi_i / Omega_i)`` up to a common constant (mean 0):
    the part of the antisymmetric flows that the country's size, aggregate imbalance and
    multilateral resistances explain; ``own_gap``: the reporter-partner pair's own asymmetry
    (the coefficient of its directional dummy); ``explained``: share of the variance of the
    bilateral log export/import ratios of every other pair explained by ``d_i - d_j``;
    ``pseudo_r2``: of the PPML fit.
    """

    d: pd.Series
    own_gap: float
    explained: float
    pseudo_r2: float
    pairs: int


def mr_positions(flows: pd.DataFrame, reporter: str, partner: str, weights: pd.Series | None = None,
                 tol: float = 1e-10) -> MRPositions:
    """Estimate the countries' positions ``d`` of a year's flows by PPML with exporter,
    importer and symmetric pair effects (:func:`korus_research.gravity.ppml`).

    Parameters
    ----------
    flows : DataFrame
        One year's flows (exporter x importer); the domestic flows are not used (each would
        have its own pair effect).
    weights : Series, optional
        Weight of each symmetric pair (index: :func:`korus_research.gravity.pair_ids`
        ``"symmetric"``), e.g. how often a bootstrap drew it; the reporter-partner pair is
        always weighted 1.

    Notes
    -----
    The model is ``X_ij = exp(pi_i + chi_j + s_ij + g D_ij)`` with ``s_ij = s_ji`` (trade
    costs symmetric) and a dummy ``D`` on the reporter -> partner flow, which fits the pair
    exactly so that its own asymmetry ``g`` does not enter the other estimates. Structural
    gravity gives ``exp(pi_i) = Y_i / Omega_i`` and ``exp(chi_j) = E_j / Phi_j`` (Fally 2015:
    PPML with these effects satisfies the adding-up constraints), so for every other pair
    ``ln(X^_ij / X^_ji) = d_i - d_j`` with ``d_i = pi_i - chi_i``; ``d`` is recovered from the
    fitted flows by least squares on those exact differences (mean 0). With symmetric pair
    effects, ``d`` is identified; the exporter- or importer-specific part of trade costs
    (Waugh 2010) is observationally a multilateral resistance and is counted in ``d``.

    References
    ----------
    Fally, T. (2015). Structural gravity and fixed effects. Journal of International
        Economics 97(1), 76-85.
    Felbermayr, G. and Yotov, Y. V. (2021). From theory to policy with gravitas: a solution
        to the mystery of the excess trade balances. European Economic Review 139, 103875.
    Waugh, M. E. (2010). International trade and income differences. American Economic
        Review 100(5), 2093-2124.
    """
    long = flows.rename_axis(index="exporter", columns="importer").stack().rename("flow").reset_index()
    long = long[long["exporter"] != long["importer"]].reset_index(drop=True)
    long["year"] = 0
    long["pair_sym"] = gravity.pair_ids(long, "symmetric")
    long["own_direction"] = ((long["exporter"] == reporter) & (long["importer"] == partner)).astype(float)
    if not long["own_direction"].any():
        raise StructuralError(f"no {reporter} -> {partner} flow")
    own_pair = gravity.pair_ids(pd.DataFrame({"exporter": [reporter], "importer": [partner]}), "symmetric").iloc[0]
    weight_column = None
    if weights is not None:
        long["weight"] = long["pair_sym"].map(weights).fillna(0.0).astype(float)
        long.loc[long["pair_sym"] == own_pair, "weight"] = 1.0
        long = long[long["weight"] > 0].reset_index(drop=True)
        weight_column = "weight"
    result = gravity.ppml(long, "flow", ["own_direction"], "three-way", pair_column="pair_sym", errors="hetero",
                          weights=weight_column, tol=tol)
    fitted = np.asarray(result.fit.predict(type="response"), dtype=float)
    if len(fitted) != len(long) or result.info["used"] != len(long):
        raise StructuralError(f"the PPML dropped {len(long) - result.info['used']} of {len(long)} flows "
                              "(a country without flows?): the positions are not identified")
    countries = list(flows.index)
    position = pd.Series(np.arange(len(countries)), index=countries)
    i, j = position[long["exporter"]].to_numpy(), position[long["importer"]].to_numpy()
    log_fit = np.full((len(countries), len(countries)), np.nan)
    log_fit[i, j] = np.log(fitted)
    # pairs with both directions fitted, the members' own pair left out: ln(X^_ij / X^_ji) = d_i - d_j exactly
    ratio = log_fit - log_fit.T
    used = ~np.isnan(ratio)
    a, b = position[reporter], position[partner]
    used[a, b] = used[b, a] = False
    np.fill_diagonal(used, False)
    # least squares on the exact differences: the graph Laplacian's normal equations, with sum(d) = 0
    laplacian = np.diag(used.sum(axis=1)) - used
    d = np.linalg.solve(laplacian + 1.0 / len(countries), np.where(used, ratio, 0.0).sum(axis=1))
    d -= d.mean()
    upper = np.triu(used)
    logs = np.log(flows.to_numpy(dtype=float))
    observed = (logs - logs.T)[upper]
    predicted = (d[:, None] - d[None, :])[upper]
    explained = 1 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2)
    gap = float(result.table.set_index("term").loc["own_direction", "estimate"])
    return MRPositions(pd.Series(d, index=countries, name="d"), gap, float(explained), float(result.info["pseudo_r2"]),
                       int(upper.sum()))


def log_mean(a: float, b: float) -> float:
    """The logarithmic mean ``(a - b) / (ln a - ln b)`` (``a`` when ``a == b``)."""
    if a <= 0 or b <= 0:
        raise StructuralError("the logarithmic mean needs positive flows")
    return a if math.isclose(a, b, rel_tol=1e-14) else (a - b) / (math.log(a) - math.log(b))


def decompose_balance(flows: pd.DataFrame, reporter: str, partner: str, d: pd.Series,
                      agreement_gap: float = 0.0, unit: float = 1.0) -> pd.DataFrame:
    """Decompose the reporter's bilateral balance into an aggregate-imbalance part, a
    triangular (third-country) part and an asymmetric-trade-cost part.

    Parameters
    ----------
    flows : DataFrame
        One year's flows with the domestic ones (exporter x importer).
    d : Series
        The countries' positions (:func:`mr_positions`).
    agreement_gap : float
        The agreement's directional effects in force, ``b_rp - b_pp`` (log points): the part
        of the asymmetric trade costs the agreement accounts for.
    unit : float
        Divides the flows (e.g. 1e3 for US$ billion from US$ million).

    Returns
    -------
    DataFrame
        Index: the three parts, then ``"asymmetric trade-cost part: the agreement"`` and
        ``": other"`` (which add up to the third) and ``"balance"``; columns ``log points``
        (parts of ``ln(X_rp / X_pr)``) and ``balance`` (parts of ``X_rp - X_pr`` in flow units
        divided by ``unit``).

    Notes
    -----
    Structural gravity, ``X_ij = (Y_i / Omega_i) (E_j / Phi_j) phi_ij`` with outward and
    inward multilateral resistances ``Omega_i = sum_j phi_ij E_j / Phi_j`` and
    ``Phi_j = sum_i phi_ij Y_i / Omega_i``, gives for the reporter ``r`` and the partner ``p``

    ``ln(X_rp / X_pr) = A + M + T``, with

    - ``A = ln(Y_r / E_r) - ln(Y_p / E_p)``: aggregate imbalances (zero when both balance);
    - ``M = ln(Phi_r / Omega_r) - ln(Phi_p / Omega_p)``: triangular trade, the two countries'
      different positions towards third countries (zero with symmetric costs and balanced
      trade everywhere: Anderson and van Wincoop 2003);
    - ``T = ln(phi_rp / phi_pr)``: asymmetric bilateral trade costs.

    From the data: ``Y`` and ``E`` are the row and column sums (domestic flows included),
    ``A + M = d_r - d_p`` (:func:`mr_positions`) and ``T = ln(X_rp / X_pr) - (d_r - d_p)``.
    The agreement's part of ``T`` is ``agreement_gap``. In dollars, each part ``k`` is
    ``L(X_rp, X_pr) k`` with ``L`` the logarithmic mean (:func:`log_mean`), so that the parts
    add up to the balance exactly (the logarithmic mean Divisia index, Ang 2004).

    References
    ----------
    Davis, D. R. and Weinstein, D. E. (2002). The mystery of the excess trade (balances).
        American Economic Review 92(2), 170-174.
    Felbermayr, G. and Yotov, Y. V. (2021). From theory to policy with gravitas: a solution
        to the mystery of the excess trade balances. European Economic Review 139, 103875.
    Cunat, A. and Zymek, R. (2024). Bilateral trade imbalances. Review of Economic Studies
        91(3), 1537-1583.
    Ang, B. W. (2004). Decomposition analysis for policymaking in energy: which is the
        preferred method? Energy Policy 32(9), 1131-1139.
    """
    y, e = flows.sum(axis=1), flows.sum(axis=0)
    x_rp, x_pr = float(flows.loc[reporter, partner]), float(flows.loc[partner, reporter])
    aggregate = math.log(y[reporter] / e[reporter]) - math.log(y[partner] / e[partner])
    position = float(d[reporter] - d[partner])
    asymmetric = math.log(x_rp / x_pr) - position
    logs = {PARTS["aggregate"]: aggregate, PARTS["triangular"]: position - aggregate,
            PARTS["asymmetric"]: asymmetric,
            f"{PARTS['asymmetric']}: the agreement": float(agreement_gap),
            f"{PARTS['asymmetric']}: other": asymmetric - float(agreement_gap),
            "balance": math.log(x_rp / x_pr)}
    scale = log_mean(x_rp, x_pr) / unit
    out = pd.DataFrame({"log points": logs, "balance": {k: v * scale for k, v in logs.items()}})
    out.loc["balance", "balance"] = (x_rp - x_pr) / unit
    out.index.name = "part"
    return out


# --------------------------------------------------------------------------- trade costs over time


def log_trade_costs(flows: pd.DataFrame, d: pd.Series) -> pd.DataFrame:
    """Calibrated trade costs ``ln phi_ij`` of one year, normalised so that domestic trade
    costs nothing (``phi_ii = 1``) and their antisymmetric part is the pair's own asymmetry:

    ``ln phi_ij = ln X_ij - (ln X_ii + ln X_jj) / 2 - (d_i - d_j) / 2``.

    Its symmetric part is half the log of the Head-Ries index ``X_ij X_ji / (X_ii X_jj)``;
    gravity (:func:`structural_flows`) with the year's outputs and expenditures returns the
    year's flows exactly.

    References
    ----------
    Head, K. and Ries, J. (2001). Increasing returns versus national product differentiation
        as an explanation for the pattern of U.S.-Canada trade. American Economic Review
        91(4), 858-876.
    """
    logs = np.log(flows.to_numpy(dtype=float))
    own = np.diag(logs)
    dv = d.reindex(flows.index).to_numpy(dtype=float)
    out = logs - (own[:, None] + own[None, :]) / 2 - (dv[:, None] - dv[None, :]) / 2
    return pd.DataFrame(out, index=flows.index, columns=flows.columns)


def structural_flows(log_phi: pd.DataFrame, output: pd.Series, expenditure: pd.Series, tol: float = 1e-13,
                     max_iter: int = 100000) -> pd.DataFrame:
    """The flows of structural gravity with given trade costs, outputs and expenditures
    (the conditional general equilibrium).

    Notes
    -----
    ``X_ij = (Y_i / Omega_i) (E_j / Phi_j) phi_ij`` with the multilateral resistances
    solving ``Omega_i = sum_j phi_ij E_j / Phi_j`` and ``Phi_j = sum_i phi_ij Y_i / Omega_i``
    is the matrix ``diag(a) phi diag(b)`` whose rows sum to ``Y`` and columns to ``E``; it is
    found by Sinkhorn's iterative proportional fitting (unique when every ``phi`` is
    positive and ``sum Y = sum E``). Scaling ``phi_ij`` by ``f_i g_j`` leaves it unchanged.

    References
    ----------
    Anderson, J. E. and van Wincoop, E. (2003). Gravity with gravitas: a solution to the
        border puzzle. American Economic Review 93(1), 170-192.
    Sinkhorn, R. (1964). A relationship between arbitrary positive matrices and doubly
        stochastic matrices. Annals of Mathematical Statistics 35(2), 876-879.
    """
    y = output.reindex(log_phi.index).to_numpy(dtype=float)
    e = expenditure.reindex(log_phi.columns).to_numpy(dtype=float)
    if not math.isclose(y.sum(), e.sum(), rel_tol=1e-9):
        raise StructuralError(f"outputs ({y.sum():.6g}) and expenditures ({e.sum():.6g}) must add up to the same total")
    if (y <= 0).any() or (e <= 0).any():
        raise StructuralError("outputs and expenditures must be positive")
    logs = log_phi.to_numpy(dtype=float)
    kernel = np.exp(logs - logs.max())
    b = np.ones(len(e))
    for _ in range(max_iter):
        a = y / (kernel @ b)
        b = e / (kernel.T @ a)
        rows = a * (kernel @ b)
        if np.max(np.abs(rows / y - 1)) < tol:
            break
    else:
        raise StructuralError(f"structural gravity did not converge in {max_iter} iterations")
    return pd.DataFrame(a[:, None] * kernel * b[None, :], index=log_phi.index, columns=log_phi.columns)


@dataclass
class ChangeSplit:
    """The change of the balance between two years split by factor (:func:`change_split`).

    ``parts``: Shapley value of each factor (flow units divided by ``unit``); ``values``:
    the balance in the world of each subset of factors moved to the compare year (keys:
    tuples of factor keys); ``base``, ``compare``: the balances of the two years;
    ``endpoint_error``: largest relative error of the model's flows in the two years.
    """

    parts: pd.Series
    values: dict
    base: float
    compare: float
    endpoint_error: float

    @property
    def base_costs(self) -> float:
        """The balance with compare-year incomes and imbalances and base-year trade costs."""
        return self.values[("incomes", "imbalances")]


def shapley(values: dict, factors: list[str]) -> pd.Series:
    """Shapley values of ``factors`` from ``values`` (subset, as a tuple in the order of
    ``factors`` -> value): ``phi_k = sum_S |S|! (n - |S| - 1)! / n! (v(S + k) - v(S))``."""
    n = len(factors)
    out = {}
    for k in factors:
        others = [f for f in factors if f != k]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                with_k = tuple(f for f in factors if f in subset or f == k)
                total += weight * (values[with_k] - values[tuple(f for f in factors if f in subset)])
        out[k] = total
    return pd.Series(out)


def change_split(flows_base: pd.DataFrame, flows_compare: pd.DataFrame, d_base: pd.Series, d_compare: pd.Series,
                 reporter: str, partner: str, agreement_change: dict | None = None,
                 unit: float = 1.0) -> ChangeSplit:
    """Split the change of the reporter's balance between two years by factor.

    Parameters
    ----------
    flows_base, flows_compare : DataFrame
        The two years' flows (same economies, domestic flows included).
    d_base, d_compare : Series
        The countries' positions in each year (:func:`mr_positions`).
    agreement_change : dict, optional
        ``{(exporter, importer): change of the agreement's directional effect}`` for the two
        directions of the pair (log points; e.g. the effect in force in the compare year when
        the agreement was not in force in the base year).

    Notes
    -----
    Each year is a structural gravity world (:func:`structural_flows`) of outputs ``Y``,
    deficits as shares of world output ``s = (E - Y) / sum Y`` and trade costs
    ``ln phi`` (:func:`log_trade_costs`), which returns the year's flows exactly. The
    factors move from the base year to the compare year:

    - ``incomes``: every country's output (world nominal growth and relative sizes), the
      deficits ``s sum Y`` following world output;
    - ``imbalances``: every country's deficit share ``s``;
    - ``agreement``: the pair's trade costs times ``exp(agreement_change)``;
    - ``pair``: the rest of the change of the pair's trade costs, both directions;
    - ``world``: the trade costs of every other pair (third countries among themselves and
      with the two members, relative to domestic trade).

    The balance of each of the 32 worlds (subsets moved) gives every factor's Shapley value,
    whose sum is the observed change exactly (no residual, no dependence on an order). With
    observed incomes the model needs no price solution: the multilateral resistances adjust
    (a conditional general equilibrium), and the trade elasticity does not enter.

    References
    ----------
    Shapley, L. S. (1953). A value for n-person games. Annals of Mathematics Studies 28,
        307-317.
    Anderson, J. E. and van Wincoop, E. (2003). Gravity with gravitas: a solution to the
        border puzzle. American Economic Review 93(1), 170-192.
    """
    if list(flows_base.index) != list(flows_compare.index):
        raise StructuralError("the two years must hold the same economies in the same order")
    agreement_change = agreement_change or {}
    costs = {"base": log_trade_costs(flows_base, d_base), "compare": log_trade_costs(flows_compare, d_compare)}
    output = {"base": flows_base.sum(axis=1), "compare": flows_compare.sum(axis=1)}
    share = {k: (f.sum(axis=0) - f.sum(axis=1)) / f.to_numpy().sum()
             for k, f in (("base", flows_base), ("compare", flows_compare))}
    own = [(reporter, partner), (partner, reporter)]
    delta_agreement = {pair: float(agreement_change.get(pair, 0.0)) for pair in own}
    delta_other = {pair: costs["compare"].loc[pair] - costs["base"].loc[pair] - delta_agreement[pair] for pair in own}
    factors = list(FACTORS)
    values, error = {}, 0.0
    for size in range(len(factors) + 1):
        for subset in itertools.combinations(factors, size):
            y = output["compare" if "incomes" in subset else "base"]
            s = share["compare" if "imbalances" in subset else "base"]
            expenditure = y + s * y.sum()
            log_phi = (costs["compare"] if "world" in subset else costs["base"]).copy()
            for pair in own:
                log_phi.loc[pair] = (costs["base"].loc[pair] + delta_agreement[pair] * ("agreement" in subset)
                                     + delta_other[pair] * ("pair" in subset))
            flows = structural_flows(log_phi, y, expenditure)
            values[subset] = bilateral_balance(flows, reporter, partner) / unit
            if size in (0, len(factors)):
                observed = flows_base if size == 0 else flows_compare
                error = max(error, float(np.max(np.abs(flows.to_numpy() / observed.to_numpy() - 1))))
    parts = shapley(values, factors)
    return ChangeSplit(parts, values, bilateral_balance(flows_base, reporter, partner) / unit,
                       bilateral_balance(flows_compare, reporter, partner) / unit, error)


# --------------------------------------------------------------------------- agreement coefficients


@dataclass
class AgreementCoefficients:
    """Directional agreement effects estimated on a gravity panel
    (:func:`directional_coefficients`).

    ``estimates``: every term's full-sample coefficient; ``switch_off``: the agreement's
    own terms (not the leads), ``start``: the first panel year each is in force;
    ``lead_test``: ``(status, detail)`` of the joint test that the leads are zero;
    ``data``, ``terms``, ``flow``: what the bootstrap re-estimates.
    """

    label: str
    table: str
    members: tuple[str, str]
    estimates: pd.Series
    switch_off: list[str]
    start: dict
    lead_test: tuple[str, str]
    data: pd.DataFrame = field(repr=False)
    terms: list[str] = field(repr=False)
    flow: str = "trade_usd"
    fixed_effects: str = "three-way"

    def direction(self, term: str) -> tuple[str, str]:
        """The ``(exporter, importer)`` of a directional term ``..._<A>_to_<B>``."""
        a, _, b = term.rsplit("_", 3)[-3:]
        return a, b

    def effects(self, year: int, coefficients: pd.Series | None = None) -> dict:
        """The agreement's effect on each direction in ``year`` of another panel, in log
        points: the sum of the coefficients of the terms in force by then (the agreement's
        own term from its entry, each lag from the first panel year at or before ``year``
        that it covers). The caller decides whether the agreement is in force in ``year``."""
        coefficients = self.estimates if coefficients is None else coefficients
        main = min(self.start.values())
        out: dict = {}
        for term in self.switch_off:
            if self.start[term] <= max(year, main):
                pair = self.direction(term)
                out[pair] = out.get(pair, 0.0) + float(coefficients[term])
        return out

    def summary(self) -> pd.DataFrame:
        """The agreement's own terms: estimate and first panel year in force."""
        return pd.DataFrame({"estimate": self.estimates[self.switch_off], "in force from": pd.Series(self.start)})


def directional_coefficients(panel: pd.DataFrame, reporter: str, partner: str, entry_year: int,
                             spec: str = COEFFICIENT_SPEC, ssc: str = "stata", tol: float = 1e-8,
                             table: str = "gravity_dta") -> AgreementCoefficients:
    """The agreement's effects by direction of trade, as notebook 04 estimates them
    (:data:`korus_research.gravity.SPECIFICATIONS` ``spec``, by default
    ``"dta_directional"``: PPML with exporter-year, importer-year and pair effects on the DTA
    panel, the agreement's term, its lag and lead split by direction, every other agreement
    pooled, errors clustered by pair).

    Returns
    -------
    AgreementCoefficients
        With the joint Wald test that the leads are zero (passed when p >= 0.05).

    References
    ----------
    Baier, S. L. and Bergstrand, J. H. (2007). Do free trade agreements actually increase
        members' international trade? Journal of International Economics 71(1), 72-95.
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide
        to Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD.
    """
    if spec not in gravity.SPECIFICATIONS:
        raise ParameterError("spec", spec, list(gravity.SPECIFICATIONS))
    specification = gravity.SPECIFICATIONS[spec]
    if not specification.directional or specification.fixed_effects != "three-way":
        raise ParameterError("spec", spec, [k for k, s in gravity.SPECIFICATIONS.items()
                                            if s.directional and s.fixed_effects == "three-way"],
                             "directional three-way specifications only")
    if entry_year is None:
        raise StructuralError(f"the agreement is not in force in any year of {table}")
    members = tuple(sorted((reporter, partner)))
    other = panel[specification.other] if specification.other else None
    data, terms = gravity.add_agreement_terms(panel, members, entry_year, "agreement", other=other,
                                              lags=specification.lags, lead=specification.lead,
                                              border_by_year=specification.border_by_year, within_pair=True)
    data, terms = gravity.split_by_direction(data, terms, members, "agreement")
    result = gravity.ppml(data, specification.flow, terms, specification.fixed_effects, ssc=ssc, tol=tol)
    estimates = result.table.set_index("term")["estimate"]
    own = [t for t in terms if t.startswith("agreement")]
    leads = [t for t in own if "_lead" in t]
    switch_off = [t for t in own if "_lead" not in t and t in estimates.index]
    if not switch_off:
        raise StructuralError(f"no agreement term of {members[0]}-{members[1]} was estimated on {table}")
    pair_rows = data[data["exporter"].isin(members) & data["importer"].isin(members)
                     & (data["exporter"] != data["importer"])]
    start = {t: int(pair_rows.loc[pair_rows[t] > 0, "year"].min()) for t in switch_off}
    if leads:
        test = gravity.wald_test(result, leads)
        status = "passed" if test["p_value"] >= 0.05 else "failed"
        detail = (f"joint Wald test that the {test['df']} lead(s) of {spec} are zero: chi2 = {test['statistic']:.2f}, "
                  f"p = {test['p_value']:.3f} (errors clustered by pair)")
    else:
        status, detail = "not tested", f"{spec} has no lead"
    keep = ["exporter", "importer", "year", specification.flow] + terms
    return AgreementCoefficients(specification.label, table, members, estimates, switch_off, start, (status, detail),
                                 data[keep].reset_index(drop=True), terms, specification.flow,
                                 specification.fixed_effects)


# --------------------------------------------------------------------------- the bootstrap

_WORKER: dict = {}


def _init_worker(data: pd.DataFrame, flow: str, terms: list[str], fixed_effects: str, code: np.ndarray,
                 switch_off: list[str]) -> None:
    """Hold one panel in a worker process (set once, used by every draw)."""
    _WORKER.update(data=data, flow=flow, terms=terms, fixed_effects=fixed_effects, code=code, switch_off=switch_off)


def _fit_counts(counts: np.ndarray):
    """Re-estimate the agreement's terms on the pairs drawn ``counts`` times (the treated
    pair once); returns the coefficients of ``switch_off`` or the error's text."""
    w = _WORKER
    code = w["code"]
    weight = np.where(code < 0, 1.0, counts[np.maximum(code, 0)])
    boot = drop_separated(w["data"].assign(bootstrap_weight=weight)[weight > 0], w["flow"])
    try:
        # coefficients only: heteroskedasticity-robust errors (the cheapest) and a tolerance of
        # 1e-6, which moves these coefficients by less than 1e-6 (far inside the draws' spread)
        result = gravity.ppml(boot, w["flow"], w["terms"], w["fixed_effects"], errors="hetero",
                              weights="bootstrap_weight", tol=1e-6)
    except (KorusError, ValueError, np.linalg.LinAlgError) as err:
        return str(err)[:120]
    estimates = result.table.set_index("term")["estimate"]
    missing = [t for t in w["switch_off"] if t not in estimates.index]
    return f"term(s) {missing} not estimated" if missing else estimates[w["switch_off"]]


def drop_separated(panel: pd.DataFrame, flow: str,
                   groups=(("exporter", "year"), ("importer", "year"))) -> pd.DataFrame:
    """Drop the observations of every exporter-year and importer-year whose flows are all zero,
    until none is left: their fixed effect goes to minus infinity (the Poisson estimates do
    not exist with them in the sample, and the other estimates are those without them:
    Correia, Guimaraes and Zylkin 2019). A bootstrap draw that keeps only a small
    country-year's zero flows would otherwise never converge.

    References
    ----------
    Correia, S., Guimaraes, P. and Zylkin, T. (2019). Verifying the existence of maximum
        likelihood estimates for generalized linear models. arXiv:1903.01633.
    """
    out = panel
    while True:
        separated = pd.Series(False, index=out.index)
        for group in groups:
            separated |= out.groupby(list(group))[flow].transform("sum") == 0
        if not separated.any():
            return out
        out = out[~separated]


def _resampling_units(units: pd.Series, treated: set) -> tuple[list, np.ndarray]:
    """The control units (sorted) and each row's index among them (-1: treated, kept once)."""
    control = sorted(set(units) - treated)
    code = pd.Series(np.arange(len(control)), index=control).reindex(units).fillna(-1).astype(int).to_numpy()
    return control, code


def bootstrap_coefficients(coefficients: AgreementCoefficients, counts: list[np.ndarray],
                           jobs: int = 1) -> list:
    """Re-estimate the agreement's terms once per entry of ``counts`` (how often each control
    pair of :func:`coefficient_units` is drawn), ``jobs`` processes at a time; each entry of
    the result is the coefficients (Series) or the error's text."""
    units = gravity.pair_ids(coefficients.data, "symmetric")
    _, code = _resampling_units(units, coefficient_treated(coefficients))
    args = (coefficients.data, coefficients.flow, coefficients.terms, coefficients.fixed_effects, code,
            coefficients.switch_off)
    if jobs <= 1 or len(counts) <= 1:
        _init_worker(*args)
        try:
            return [_fit_counts(c) for c in counts]
        finally:
            _WORKER.clear()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawned workers (not forked: numba's thread pool is not fork-safe) each hold the panel once
    with ProcessPoolExecutor(max_workers=min(jobs, len(counts)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=args) as pool:
        return list(pool.map(_fit_counts, counts))


def coefficient_treated(coefficients: AgreementCoefficients) -> set:
    """The pair(s) that carry the agreement's terms (kept once in every draw)."""
    units = gravity.pair_ids(coefficients.data, "symmetric")
    own = [t for t in coefficients.terms if t.startswith("agreement")]
    return set(units[(coefficients.data[own] != 0).any(axis=1)])


def coefficient_units(coefficients: AgreementCoefficients) -> list:
    """The control pairs that the bootstrap resamples (sorted)."""
    units = gravity.pair_ids(coefficients.data, "symmetric")
    return _resampling_units(units, coefficient_treated(coefficients))[0]


# --------------------------------------------------------------------------- the account

#: Quantities of the estimate table (notebook 07), by key of :attr:`StructuralAccount.table`.
QUANTITIES = {
    "balance": "structural: balance, WIOD (goods and services)",
    "closed": "structural: aggregate imbalances closed (GE)",
    "closed at unchanged wages": "structural: aggregate imbalances closed at unchanged wages",
    "closed: members": "structural: the two countries' imbalances closed (GE)",
    "agreement": "structural: agreement removed (GE)",
    "both": "structural: imbalances closed and agreement removed (GE)",
    "both: imbalances": "structural: aggregate imbalances, Shapley part of the joint counterfactual",
    "both: agreement": "structural: agreement, Shapley part of the joint counterfactual",
    "aggregate": "structural: aggregate-imbalance part",
    "triangular": "structural: triangular part",
    "asymmetric": "structural: asymmetric trade-cost part",
    "asymmetric: agreement": "structural: asymmetric trade-cost part, the agreement",
    "change": "structural: change in the balance",
    "base costs": "structural: balance with base-year trade costs",
    "split: incomes": "structural change: incomes",
    "split: imbalances": "structural change: aggregate imbalances",
    "split: agreement": "structural change: the agreement",
    "split: pair": "structural change: the pair's other trade costs",
    "split: world": "structural change: the rest of the world's trade costs",
}


@dataclass
class StructuralAccount:
    """The structural account of one reporter-partner balance (:func:`structural_account`).

    ``table``: per quantity key (``<key>@<period>``) the point estimate and the bootstrap
    percentile interval (flow units divided by ``unit``: US$ bn for WIOD); ``draws``: every
    successful draw's quantities and coefficients; ``counterfactuals``, ``decomposition``,
    ``change``: the table arranged for display; ``baseline``: the fit of the baseline in
    each year; ``sensitivity``: the GE counterfactuals under other trade elasticities and
    the other imbalance convention; ``coefficients``: the directional agreement effects
    with their bootstrap intervals; ``skipped``: ``(section, reason)`` of what the data
    could not support; ``info``: years, draws, seed, timings, checks.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    baseline: pd.DataFrame
    sensitivity: pd.DataFrame
    coefficients: pd.DataFrame
    skipped: list
    info: dict
    checks: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- views
    def _rows(self, keys: list[tuple[str, str]]) -> pd.DataFrame:
        rows = []
        for key, label in keys:
            if key in self.table.index:
                r = self.table.loc[key]
                rows.append({"": label, "estimate": r["estimate"], "low": r["low"], "high": r["high"]})
        return pd.DataFrame(rows, columns=["", "estimate", "low", "high"]).set_index("")

    @property
    def counterfactuals(self) -> pd.DataFrame:
        """The GE counterfactuals in the compare year: each one's contribution to the balance
        (actual minus counterfactual) and the counterfactual balance, US$ bn."""
        c = self.info["compare_wiod"]
        r, p, a = self.info["reporter"], self.info["partner"], self.info.get("absorber", "ROW")
        keys = [("closed", "aggregate imbalances closed"),
                ("closed: members", f"  only {r}'s and {p}'s closed ({a} absorbs them)"),
                ("closed at unchanged wages", "  at unchanged wages (expenditure = output, the same import shares)"),
                ("agreement", "agreement removed"),
                ("both", "both together"), ("both: imbalances", "  both: Shapley part of the imbalances"),
                ("both: agreement", "  both: Shapley part of the agreement")]
        out = self._rows([(f"{k}@{c}", v) for k, v in keys])
        levels = self.info.get("counterfactual balances", {})
        out["counterfactual balance"] = [levels.get(label, np.nan) for label in out.index]
        return out

    @property
    def decomposition(self) -> pd.DataFrame:
        """The three parts of the balance in each panel year and their change (US$ bn)."""
        periods = self.info["decomposition periods"]
        parts = [("aggregate", PARTS["aggregate"]), ("triangular", PARTS["triangular"]),
                 ("asymmetric", PARTS["asymmetric"]), ("asymmetric: agreement", "  of which the agreement"),
                 ("balance", "balance (WIOD)")]
        frames = {}
        for period in periods:
            keys = [(f"{'change' if k == 'balance' and '-' in period else k}@{period}", v) for k, v in parts]
            frames[period] = self._rows(keys)
        return pd.concat(frames, names=["period"]) if frames else pd.DataFrame()

    @property
    def change(self) -> pd.DataFrame:
        """The change of the balance between the two panel years split by factor (US$ bn)."""
        span = self.info.get("span")
        if not span:
            return pd.DataFrame(columns=["estimate", "low", "high"])
        keys = [(f"split: {k}@{span}", v) for k, v in FACTORS.items()] + [(f"change@{span}", "change in the balance")]
        return self._rows(keys)

    # ---------------------------------------------------------------- the estimate table
    def estimate_rows(self) -> list[dict]:
        """Rows of the estimate table (:func:`korus_research.results.estimate_rows`): every
        quantity of :data:`QUANTITIES` in US$ bn (WIOD basis: goods and services), with the
        bootstrap's 95% percentile interval where the quantity varies over the draws, the
        range over trade elasticities for the imbalances closed alone (no estimated
        coefficient enters it), and the diagnostics of each."""
        if self.info["level"] != 0.95:
            raise ParameterError("level", self.info["level"], [0.95], "the estimate table holds 95% intervals")
        how = (f"{self.info['draws used']} of {self.info['draws asked']} pairs-bootstrap draws (seed "
               f"{self.info['seed']}; {self.info['resampled']})")
        source = (f"directional agreement effects from {self.info['coefficients from']}"
                  if self.info["coefficients from"] != "none" else "no agreement effects")
        estimator = (f"structural gravity GE (WIOD {self.info['base_wiod']}/{self.info['compare_wiod']}, theta = "
                     f"{self.info['theta']:g}, {self.info['imbalances']} imbalances; {source})")
        rows = []
        for key, r in self.table.iterrows():
            name, period = key.split("@")
            quantity = QUANTITIES.get(name)
            if quantity is None or pd.isna(r["estimate"]):
                continue
            status, detail = self.checks.get(name, ("not tested", ""))
            if name.endswith("agreement") and r["estimate"] == 0 and not (r["high"] - r["low"] > 1e-9):
                status, detail = "not tested", f"the agreement is not in force in {period}"
            row = {"quantity": quantity, "estimator": estimator, "period": period, "unit": "US$ bn",
                   "value": float(r["estimate"]), "diagnostics": status}
            varies = pd.notna(r["low"]) and r["high"] - r["low"] > 1e-9
            if name in ("closed", "closed: members") and key in self.sensitivity.index:
                lo, hi = self.sensitivity.loc[key, ["low", "high"]]
                row.update(low=float(min(lo, r["estimate"])), high=float(max(hi, r["estimate"])),
                           interval="range across estimators")
                conventions = "both imbalance conventions" if name == "closed" else "the additive convention"
                detail = (f"{detail}; no estimated coefficient enters (the baseline is the data): the interval is the "
                          f"range over trade elasticities {self.info['theta range']} and {conventions}")
            elif varies:
                row.update(low=float(r["low"]), high=float(r["high"]), interval="95% CI")
                detail = f"{detail}; percentile interval of {how}" if detail else f"percentile interval of {how}"
            else:
                detail = (f"{detail}; no estimated coefficient enters it" if detail
                          else "no estimated coefficient enters it")
            row["diagnostics_detail"] = detail
            rows.append(row)
        return rows


def _quantile_table(point: dict, sample: pd.DataFrame, level: float) -> pd.DataFrame:
    tails = [(1 - level) / 2, (1 + level) / 2]
    rows = {}
    for key, value in point.items():
        values = sample[key].dropna().to_numpy() if key in sample else np.array([])
        if len(values):
            low, high = stats.mstats.mquantiles(values, prob=tails, alphap=1, betap=1)
        else:
            low = high = np.nan
        rows[key] = {"estimate": value, "low": float(low), "high": float(high)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "quantity"
    return out


def structural_account(panel: pd.DataFrame, reporter: str, partner: str, base_year: int, compare_year: int,
                       entry_year: int | None = None, coefficients: AgreementCoefficients | None = None,
                       theta: float = 6.0, imbalances: str = "additive", draws: int = 19, seed: int = 0,
                       jobs: int = 1, level: float = 0.95, theta_range: tuple[float, float] = (4.0, 8.0),
                       flow: str = WIOD_FLOW, unit: float = WIOD_TO_BN, absorber: str = "ROW") -> StructuralAccount:
    """The structural account of the reporter's balance with the partner.

    Parameters
    ----------
    panel : DataFrame
        A panel with domestic flows (``exporter, importer, year, <flow>``), e.g. the WIOD panel.
    base_year, compare_year : int
        The study's years; the account uses the panel years nearest to them
        (:func:`nearest_years`).
    entry_year : int, optional
        First panel year in which the agreement is in force (``Study.entry_in``); none: no
        agreement.
    coefficients : AgreementCoefficients, optional
        The directional agreement effects (:func:`directional_coefficients`); none: the
        agreement's parts are skipped.
    theta : float
        Trade elasticity of the GE counterfactuals.
    imbalances : {"additive", "multiplicative"}
        Convention of the counterfactuals that keep the imbalances.
    draws, seed, jobs : int
        Bootstrap draws, the seed of ``np.random.default_rng``, and the processes that
        re-estimate the agreement's coefficients (the costly step) at once. The draws are
        planned in this process, so the results do not depend on ``jobs``; with ``jobs > 1``
        the workers are spawned, so a script must call this under
        ``if __name__ == "__main__":`` (notebooks and tests need nothing).
    theta_range : tuple of float
        Trade elasticities of the sensitivity table.
    absorber : str
        The panel's country (the rest of the world in WIOD) whose deficit takes what the
        reporter and the partner give up when only their two imbalances are closed.

    Returns
    -------
    StructuralAccount

    Notes
    -----
    The counterfactuals, in the compare year, are each one's contribution to the balance
    (actual minus counterfactual; :func:`solve_ge`): (a) every aggregate imbalance closed,
    and (a') only the reporter's and the partner's closed, the ``absorber`` taking the
    deficits they give up (the part of the balance owed to the two countries' own
    saving-investment gaps, additive convention);
    (b) the agreement removed (``-b`` on each direction's flow); (c) both, split by Shapley
    values (the interaction is what makes the order matter). The decomposition
    (:func:`decompose_balance`) is made in both years, the change split
    (:func:`change_split`) between them.

    Each bootstrap draw resamples with replacement the unordered pairs of the coefficient
    panel (the members' pair kept once: without it the agreement is not identified),
    re-estimates the agreement's terms, resamples the unordered international pairs of the
    account's panel (the members' pair kept once) and re-estimates the countries' positions
    in both years, then recomputes every quantity; the interval is the percentile interval
    of the draws. It reflects the estimation of the coefficients and of the positions, not
    the members' own shocks, which one treated pair cannot measure (Conley and Taber 2011),
    nor the trade elasticity (see ``sensitivity``).

    References
    ----------
    Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
    Anderson, J. E. and Yotov, Y. V. (2016). Terms of trade and global efficiency effects of
        free trade agreements, 1990-2002. Journal of International Economics 99, 279-298.
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with
        a small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    """
    if imbalances not in IMBALANCES:
        raise ParameterError("imbalances", imbalances, IMBALANCES)
    if draws < 1:
        raise ParameterError("draws", draws, "at least 1")
    if not theta > 0:
        raise ParameterError("theta", theta, "a positive trade elasticity")
    start = time.perf_counter()
    check_partner(panel, reporter, partner)
    years = sorted(int(y) for y in panel["year"].unique())
    base, compare = nearest_years(years, base_year, compare_year)
    flows = {y: flow_matrix(panel, y, flow) for y in dict.fromkeys((base, compare))}
    skipped = []

    def in_force(year):
        return entry_year is not None and year >= entry_year

    with_agreement = coefficients is not None and in_force(compare)
    if coefficients is None:
        skipped.append(("structural: the agreement's parts", "no directional agreement effects (no agreement, or "
                                                             "they could not be estimated)"))
    elif not in_force(compare):
        skipped.append(("structural: the agreement's parts",
                        f"the agreement is not in force in the panel's year {compare} (in force from "
                        f"{entry_year or 'never'})"))
    span = f"{base}-{compare}" if base != compare else None
    if span is None:
        skipped.append(("structural: change between the study's years",
                        f"the base and compare years {base_year} and {compare_year} fall on the same panel year {base}"))

    def effects_in(year, coef=None):
        if not (coefficients is not None and in_force(year)):
            return {}
        return coefficients.effects(year, coef)

    def gap(effects):
        return effects.get((reporter, partner), 0.0) - effects.get((partner, reporter), 0.0)

    x_c = flows[compare]
    closed = solve_ge(x_c, None, theta, imbalances, keep_imbalances=0.0)
    members = pd.Series(0.0, index=[reporter, partner])

    def members_closed(th):
        """The balance with only the reporter's and the partner's imbalances closed (additive)."""
        shut = solve_ge(x_c, None, th, "additive", keep_imbalances=members, absorber=absorber)
        return bilateral_balance(shut.flows, reporter, partner) / unit, shut.max_clearing_error

    if absorber in x_c.index and absorber not in (reporter, partner):
        v_members, members_clearing = members_closed(theta)
    else:
        v_members, members_clearing = None, None
        skipped.append(("structural: only the two countries' imbalances closed",
                        f"the panel has no country {absorber!r} (other than the two) to absorb their deficits"))
    # the same closing with no change of wages or prices: each country spends its output with the baseline shares
    unchanged_wages = x_c / x_c.sum(axis=0) * x_c.sum(axis=1)
    b_c = bilateral_balance(x_c, reporter, partner) / unit

    def quantities(coef, weights):
        """Every quantity for one set of coefficients and pair weights."""
        q, levels = {}, {}
        eff_b, eff_c = effects_in(base, coef), effects_in(compare, coef)
        positions = {y: mr_positions(flows[y], reporter, partner, weights) for y in flows}
        q[f"closed@{compare}"] = b_c - bilateral_balance(closed.flows, reporter, partner) / unit
        q[f"closed at unchanged wages@{compare}"] = b_c - bilateral_balance(unchanged_wages, reporter, partner) / unit
        levels["aggregate imbalances closed"] = b_c - q[f"closed@{compare}"]
        if v_members is not None:
            q[f"closed: members@{compare}"] = b_c - v_members
            levels[f"  only {reporter}'s and {partner}'s closed ({absorber} absorbs them)"] = v_members
        levels["  at unchanged wages (expenditure = output, the same import shares)"] = (
            b_c - q[f"closed at unchanged wages@{compare}"])
        if with_agreement:
            removed = solve_ge(x_c, directional_beta(x_c, eff_c), theta, imbalances)
            both = solve_ge(x_c, directional_beta(x_c, eff_c), theta, imbalances, keep_imbalances=0.0)
            v_removed = bilateral_balance(removed.flows, reporter, partner) / unit
            v_both = bilateral_balance(both.flows, reporter, partner) / unit
            v_closed = levels["aggregate imbalances closed"]
            q[f"agreement@{compare}"] = b_c - v_removed
            q[f"both@{compare}"] = b_c - v_both
            q[f"both: imbalances@{compare}"] = 0.5 * ((b_c - v_closed) + (v_removed - v_both))
            q[f"both: agreement@{compare}"] = 0.5 * ((b_c - v_removed) + (v_closed - v_both))
            q[f"interaction@{compare}"] = q[f"both@{compare}"] - q[f"closed@{compare}"] - q[f"agreement@{compare}"]
            levels.update({"agreement removed": v_removed, "both together": v_both})
            q["_clearing"] = max(removed.max_clearing_error, both.max_clearing_error)
        for y, x in flows.items():
            parts = decompose_balance(x, reporter, partner, positions[y].d, gap(effects_in(y, coef)), unit)
            for key, label in (("aggregate", PARTS["aggregate"]), ("triangular", PARTS["triangular"]),
                               ("asymmetric", PARTS["asymmetric"]),
                               ("asymmetric: agreement", f"{PARTS['asymmetric']}: the agreement"),
                               ("balance", "balance")):
                q[f"{key}@{y}"] = float(parts.loc[label, "balance"])
        if span:
            for key in ("aggregate", "triangular", "asymmetric", "asymmetric: agreement"):
                q[f"{key}@{span}"] = q[f"{key}@{compare}"] - q[f"{key}@{base}"]
            change = {pair: eff_c.get(pair, 0.0) - eff_b.get(pair, 0.0)
                      for pair in ((reporter, partner), (partner, reporter))}
            split = change_split(flows[base], x_c, positions[base].d, positions[compare].d, reporter, partner,
                                 change, unit)
            for k, v in split.parts.items():
                q[f"split: {k}@{span}"] = float(v)
            q[f"change@{span}"] = split.compare - split.base
            q[f"base costs@{compare}"] = split.base_costs
            q["_endpoint"] = split.endpoint_error
        for y in flows:
            q[f"balance@{y}"] = bilateral_balance(flows[y], reporter, partner) / unit
        return q, levels, positions

    point, levels, positions = quantities(None, None)

    # ---- the bootstrap: draws of the coefficient panel's pairs and of the account panel's pairs
    rng = np.random.default_rng(seed)
    international = x_c.rename_axis(index="exporter", columns="importer").stack().reset_index()
    international = international[international["exporter"] != international["importer"]]
    wiod_units = sorted(set(gravity.pair_ids(international, "symmetric")))
    own_unit = gravity.pair_ids(pd.DataFrame({"exporter": [reporter], "importer": [partner]}), "symmetric").iloc[0]
    wiod_control = [u for u in wiod_units if u != own_unit]
    need_coefficients = coefficients is not None and (in_force(compare) or in_force(base))
    coef_control = coefficient_units(coefficients) if need_coefficients else []
    plan = []
    for _ in range(draws):
        c_counts = (np.bincount(rng.integers(0, len(coef_control), len(coef_control)), minlength=len(coef_control))
                    if need_coefficients else None)
        w_counts = np.bincount(rng.integers(0, len(wiod_control), len(wiod_control)), minlength=len(wiod_control))
        plan.append((c_counts, pd.Series(w_counts.astype(float), index=wiod_control)))
    coefficient_seconds = time.perf_counter()
    coef_draws = (bootstrap_coefficients(coefficients, [c for c, _ in plan], jobs) if need_coefficients
                  else [None] * draws)
    coefficient_seconds = time.perf_counter() - coefficient_seconds
    rows, failed = [], []
    for k, ((_, weights), coef) in enumerate(zip(plan, coef_draws, strict=True)):
        if isinstance(coef, str):
            failed.append(f"draw {k}: {coef}")
            continue
        try:
            q, _, _ = quantities(coef, weights)
        except (KorusError, ValueError, np.linalg.LinAlgError) as err:
            failed.append(f"draw {k}: {str(err)[:100]}")
            continue
        coef_part = {f"b[{t}]": float(v) for t, v in coef.items()} if coef is not None else {}
        rows.append({"draw": k, **coef_part, **q})
    if not rows:
        raise StructuralError(f"every bootstrap draw failed ({failed[0] if failed else 'no draws'})")
    sample = pd.DataFrame(rows).set_index("draw")
    public = {k: v for k, v in point.items() if not k.startswith("_")}
    table = _quantile_table(public, sample, level)

    # ---- the sensitivity of the GE counterfactuals to theta and to the imbalance convention
    grid = sorted({float(theta_range[0]), float(theta), float(theta_range[1])})
    sens_rows = []
    eff_c = effects_in(compare)
    for th in grid:
        for convention in IMBALANCES:
            shut = solve_ge(x_c, None, th, convention, keep_imbalances=0.0)
            row = {"theta": th, "imbalances": convention,
                   "aggregate imbalances closed": b_c - bilateral_balance(shut.flows, reporter, partner) / unit}
            if with_agreement:
                removed = solve_ge(x_c, directional_beta(x_c, eff_c), th, convention)
                both = solve_ge(x_c, directional_beta(x_c, eff_c), th, convention, keep_imbalances=0.0)
                row["agreement removed"] = b_c - bilateral_balance(removed.flows, reporter, partner) / unit
                row["both together"] = b_c - bilateral_balance(both.flows, reporter, partner) / unit
            sens_rows.append(row)
    sensitivity_grid = pd.DataFrame(sens_rows).set_index(["theta", "imbalances"])
    closed_values = sensitivity_grid["aggregate imbalances closed"]
    sensitivity = pd.DataFrame({"low": [closed_values.min()], "high": [closed_values.max()]},
                               index=[f"closed@{compare}"])
    if v_members is not None:
        member_values = pd.Series({th: b_c - members_closed(th)[0] for th in grid})
        sensitivity.loc[f"closed: members@{compare}"] = [member_values.min(), member_values.max()]
    sensitivity.attrs["grid"] = sensitivity_grid

    # ---- the baseline's fit in each year
    baseline = {}
    for y, x in flows.items():
        fit = positions[y]
        same = solve_ge(x, None, theta, imbalances)
        totals = x.to_numpy().sum()
        output, expenditure = x.sum(axis=1), x.sum(axis=0)
        rebuilt = structural_flows(log_trade_costs(x, fit.d), output, expenditure)
        dd = float(fit.d[reporter] - fit.d[partner])
        total = x.loc[reporter, partner] + x.loc[partner, reporter]
        baseline[y] = {
            f"{reporter} exports to {partner}, US$ bn": x.loc[reporter, partner] / unit,
            f"{reporter} imports from {partner}, US$ bn": x.loc[partner, reporter] / unit,
            f"{reporter} balance with {partner}, US$ bn": (x.loc[reporter, partner] - x.loc[partner, reporter]) / unit,
            "balance with symmetric pair costs (same total trade), US$ bn": total * math.tanh(dd / 2) / unit,
            f"{reporter} aggregate deficit, % of world output": 100 * (expenditure[reporter] - output[reporter]) / totals,
            f"{partner} aggregate deficit, % of world output": 100 * (expenditure[partner] - output[partner]) / totals,
            "PPML (exporter, importer, symmetric pair effects): pseudo R2": fit.pseudo_r2,
            "variance of bilateral log export/import ratios explained by the positions": fit.explained,
            "pairs used for the positions": fit.pairs,
            "calibrated baseline: largest relative error of the flows (GE, no change)":
                float(np.max(np.abs(same.flows.to_numpy() / x.to_numpy() - 1))),
            "calibrated baseline: largest relative error of the flows (gravity with calibrated costs)":
                float(np.max(np.abs(rebuilt.to_numpy() / x.to_numpy() - 1))),
        }
    baseline = pd.DataFrame(baseline)
    baseline.columns.name = "year"

    # ---- checks that become each quantity's diagnostics
    clearing = closed.max_clearing_error
    ge_status = ("passed", f"GE converged, largest market-clearing error {clearing:.1e}") if clearing < 1e-8 else (
        "failed", f"GE did not clear markets (largest error {clearing:.1e})")
    checks = {"closed": ge_status,
              "closed: members": (("passed" if members_clearing is not None and members_clearing < 1e-8 else "failed"),
                                  f"only {reporter}'s and {partner}'s deficits closed, {absorber} absorbing them; "
                                  f"largest market-clearing error {members_clearing or 0:.1e}"),
              "closed at unchanged wages": ("not tested", "each country spends its output with the baseline import "
                                                          "shares: the part of closing the imbalances without the "
                                                          "relative-wage adjustment (the transfer problem)")}
    lead_status, lead_detail = coefficients.lead_test if coefficients is not None else ("not tested", "")
    if with_agreement:
        inter = point[f"interaction@{compare}"]
        joint = point[f"both@{compare}"]
        order_ok = abs(inter) <= max(0.05 * abs(joint), 0.05)
        order = (f"closing the imbalances first, the agreement then accounts for "
                 f"{point[f'agreement@{compare}'] + inter:.2f} and the imbalances {point[f'closed@{compare}']:.2f}; "
                 f"removing the agreement first, it accounts for {point[f'agreement@{compare}']:.2f} and the "
                 f"imbalances then for {point[f'closed@{compare}'] + inter:.2f} (interaction {inter:.2f} US$ bn)")
        independent = ("the order does not matter (interaction within 5% of the joint effect or 0.05 bn)" if order_ok
                       else "the order matters (interaction beyond 5% of the joint effect): the Shapley split "
                            "averages both orders")
        checks.update({
            "agreement": (lead_status, f"{lead_detail}; {ge_status[1]}"),
            "both": (lead_status, f"{lead_detail}; {order}; {independent}"),
            "both: imbalances": (ge_status[0], f"Shapley part; {order}; {independent}"),
            "both: agreement": (lead_status, f"Shapley part; {lead_detail}; {order}"),
        })
        checks["_order independent"] = order_ok
    explained = "; ".join(f"{y}: the countries' positions explain {positions[y].explained:.0%} of the variance of "
                          "bilateral log export/import ratios" for y in flows)
    for key in ("aggregate", "triangular", "asymmetric", "balance"):
        checks[key] = ("not tested", f"exact decomposition (the parts add up to the WIOD balance); {explained}")
    checks["asymmetric: agreement"] = (lead_status, lead_detail)
    if span:
        endpoint = point["_endpoint"]
        end_status = "passed" if endpoint < 1e-8 else "failed"
        end_detail = (f"Shapley split over 32 worlds; the model reproduces the observed flows of {base} and {compare} "
                      f"(largest relative error {endpoint:.1e})")
        for k in FACTORS:
            checks[f"split: {k}"] = (end_status, end_detail)
        checks["split: agreement"] = ("failed" if "failed" in (end_status, lead_status) else end_status,
                                      f"{end_detail}; {lead_detail}" if lead_detail else end_detail)
        checks["change"] = ("not tested", f"observed in WIOD, {base} to {compare}")
        checks["base costs"] = (end_status, f"compare-year outputs and deficits, base-year trade costs; {end_detail}")

    # ---- the coefficients with their bootstrap intervals
    if coefficients is not None and need_coefficients:
        coef_table = coefficients.summary()
        coef_table["low"], coef_table["high"] = np.nan, np.nan
        tails = [(1 - level) / 2, (1 + level) / 2]
        for t in coefficients.switch_off:
            column = sample.get(f"b[{t}]")
            if column is not None and column.notna().any():
                coef_table.loc[t, ["low", "high"]] = stats.mstats.mquantiles(column.dropna().to_numpy(), prob=tails,
                                                                              alphap=1, betap=1)
        coef_table["direction"] = [" -> ".join(coefficients.direction(t)) for t in coef_table.index]
        used = coefficients.effects(compare) if in_force(compare) else {}
        coef_table[f"in force in {compare}"] = [in_force(compare) and coefficients.start[t] <= max(
            compare, min(coefficients.start.values())) and coefficients.direction(t) in used for t in coef_table.index]
    else:
        coef_table = pd.DataFrame()

    resampled = (f"{len(wiod_control)} international pairs of the WIOD panel"
                 + (f" and {len(coef_control)} pairs of {coefficients.table}" if need_coefficients else "")
                 + f" with replacement; the {reporter}-{partner} pair kept once in each")
    info = {
        "reporter": reporter, "partner": partner, "absorber": absorber, "base_year": base_year,
        "compare_year": compare_year,
        "base_wiod": base, "compare_wiod": compare, "span": span,
        "years": (f"the panel years nearest to the study's {base_year} and {compare_year}: {base} and {compare}"),
        "decomposition periods": [str(y) for y in flows] + ([span] if span else []),
        "theta": theta, "theta range": f"{grid[0]:g}-{grid[-1]:g}", "imbalances": imbalances,
        "draws asked": draws, "draws used": len(sample), "draws failed": len(failed), "seed": seed, "jobs": jobs,
        "level": level, "interval": "percentile", "resampled": resampled,
        "coefficients from": (f"{coefficients.label} ({coefficients.table})" if coefficients is not None else "none"),
        "counterfactual balances": levels,
        "seconds": round(time.perf_counter() - start, 1),
        "seconds re-estimating the coefficients": round(coefficient_seconds, 1),
        "failures": "; ".join(failed[:5]),
    }
    return StructuralAccount(table, sample, baseline, sensitivity, coef_table, skipped, info, checks)


# --------------------------------------------------------------------------- goods and the rest


def goods_and_services(account: StructuralAccount, census: pd.DataFrame, published_services: pd.DataFrame,
                       years: list[int] | None = None, window: int = 1) -> pd.DataFrame:
    """The model's (WIOD) balance beside the Census goods balance and the published BEA
    services balance (US$ bn), by year.

    Census: the latest vintage, the partner's row (``iso3``), exports minus imports. Services:
    the published figures (:func:`korus_research.services.published_services`) of the year
    itself or, when a direction is missing there, of the nearest year within ``window`` that
    has both (its year is shown). ``gap``: the WIOD balance minus goods plus services: WIOD
    measures gross flows of every sector at basic prices from national supply-use tables
    balanced to the partners' reports, Census goods at customs value (imports) and F.A.S.
    (exports).
    """
    reporter, partner = account.info["reporter"], account.info["partner"]
    years = sorted(set(years or [account.info["base_wiod"], account.info["compare_wiod"],
                                 account.info["base_year"], account.info["compare_year"]]))
    latest = census[(census["vintage"] == census["vintage"].max()) & (census["iso3"] == partner)].set_index("year")
    services = (published_services.pivot_table(index="year", columns="direction", values="value_usd_bn", aggfunc="first")
                if len(published_services) else pd.DataFrame(columns=["exports", "imports"]))
    complete = services.dropna(subset=[c for c in ("exports", "imports") if c in services]) if len(services) else services
    rows = []
    for y in years:
        row = {"year": y}
        key = f"balance@{y}"
        row["WIOD balance (goods and services)"] = account.table.loc[key, "estimate"] if key in account.table.index else np.nan
        if y in latest.index:
            row["Census goods exports"] = latest.loc[y, "exports_usd_mn"] / 1e3
            row["Census goods imports"] = latest.loc[y, "imports_usd_mn"] / 1e3
            row["Census goods balance"] = row["Census goods exports"] - row["Census goods imports"]
        near = [s for s in complete.index if abs(s - y) <= window] if {"exports", "imports"} <= set(complete.columns) else []
        if near:
            s = min(near, key=lambda s: (abs(s - y), -s))
            row["BEA services balance (published)"] = complete.loc[s, "exports"] - complete.loc[s, "imports"]
            row["services year"] = int(s)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("year")
    for column in ("Census goods balance", "BEA services balance (published)", "WIOD balance (goods and services)"):
        if column not in out:
            out[column] = np.nan
    out["services year"] = (out["services year"] if "services year" in out else pd.Series(np.nan, index=out.index)
                            ).astype("Int64")
    out["goods + services"] = out["Census goods balance"] + out["BEA services balance (published)"]
    out["gap: WIOD minus goods and services"] = out["WIOD balance (goods and services)"] - out["goods + services"]
    out["gap: WIOD minus goods"] = out["WIOD balance (goods and services)"] - out["Census goods balance"]
    out.attrs["note"] = (f"{reporter} balance with {partner}, US$ bn; WIOD: gross flows of every sector (goods and "
                         "services) at basic prices; Census: goods, latest vintage; BEA services: published figures")
    return out


def gap_rows(gaps: pd.DataFrame, account: StructuralAccount) -> list[dict]:
    """Estimate rows of the definitional gap between the model's balance and the Census
    goods balance in the panel years (US$ bn, no interval)."""
    estimator = f"WIOD minus Census goods (latest vintage), {account.info['partner']}"
    rows = []
    for y, r in gaps.iterrows():
        if pd.notna(r.get("gap: WIOD minus goods")):
            rows.append({"quantity": "structural: WIOD balance minus the Census goods balance", "estimator": estimator,
                         "period": str(y), "unit": "US$ bn", "value": float(r["gap: WIOD minus goods"]),
                         "diagnostics": "not tested", "diagnostics_detail": gaps.attrs.get("note", "")})
    return rows


# --------------------------------------------------------------------------- the figure


def waterfall(account: StructuralAccount, title: str | None = None):
    """Waterfall of the structural account (a matplotlib Figure): the change of the balance
    between the panel years by factor (left) and the compare year's balance by part (right),
    each bar with its bootstrap interval."""
    import matplotlib.pyplot as plt

    info = account.info
    reporter, partner = info["reporter"], info["partner"]
    panels = []
    if info.get("span"):
        span = info["span"]
        steps = [(v, f"split: {k}@{span}") for k, v in FACTORS.items()]
        panels.append((f"Change {span}", f"balance {info['base_wiod']}", f"balance@{info['base_wiod']}", steps,
                       f"balance {info['compare_wiod']}"))
    c = info["compare_wiod"]
    steps = [(PARTS["aggregate"], f"aggregate@{c}"), (PARTS["triangular"], f"triangular@{c}"),
             ("asymmetric costs: the agreement", f"asymmetric: agreement@{c}"),
             ("asymmetric costs: other", None)]
    panels.append((f"Balance {c} by part", "start", None, steps, f"balance {c}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.8 * len(panels), 5.4), squeeze=False)
    table = account.table
    for ax, (heading, start_label, start_key, steps, end_label) in zip(axes[0], panels, strict=True):
        level = float(table.loc[start_key, "estimate"]) if start_key else 0.0
        labels, bottoms, heights, errors = [], [], [], []
        if start_key:
            labels.append(start_label)
            bottoms.append(0.0)
            heights.append(level)
            errors.append((np.nan, np.nan))
        for label, key in steps:
            if key is None:  # the rest of the asymmetric part
                total = table.loc[f"asymmetric@{c}"]
                part = table.loc[f"asymmetric: agreement@{c}"]
                value, low, high = total["estimate"] - part["estimate"], np.nan, np.nan
            elif key in table.index:
                value, low, high = table.loc[key, ["estimate", "low", "high"]]
            else:
                continue
            labels.append(label)
            bottoms.append(level)
            heights.append(value)
            errors.append((low, high) if pd.notna(low) and high - low > 1e-9 else (np.nan, np.nan))
            level += value
        labels.append(end_label)
        bottoms.append(0.0)
        heights.append(level)
        errors.append((np.nan, np.nan))
        levels_at = {0, len(labels) - 1} if start_key else {len(labels) - 1}  # bars of a level, not a step
        colors = ["#4c72b0" if k in levels_at else ("#c44e52" if h < 0 else "#55a868") for k, h in enumerate(heights)]
        positions = np.arange(len(labels))
        ax.bar(positions, heights, bottom=bottoms, color=colors, width=0.65)
        # each step's interval drawn from the level it starts at (a percentile interval need not hold the point)
        for k, (low, high) in enumerate(errors):
            if pd.notna(low):
                ax.vlines(k, bottoms[k] + low, bottoms[k] + high, color="black", linewidth=1)
                ax.hlines([bottoms[k] + low, bottoms[k] + high], k - 0.08, k + 0.08, color="black", linewidth=1)
        for k, (b, h) in enumerate(zip(bottoms, heights, strict=True)):
            ax.annotate(f"{h:.1f}" if k in levels_at else f"{h:+.1f}",
                        xy=(k, b + h), xytext=(0, 3 if h >= 0 else -11), textcoords="offset points", ha="center",
                        fontsize=10)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(positions)
        ax.set_xticklabels([lbl.replace(": ", ":\n") for lbl in labels], rotation=35, ha="right", fontsize=10)
        ax.set_title(heading, fontsize=10)
        ax.set_ylabel("US$ bn (WIOD, goods and services)")
    fig.suptitle(title or f"Structural account of the {reporter} balance with {partner} "
                          f"(whiskers: 95% bootstrap intervals, {info['draws used']} draws)", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- findings


def _with_interval(table: pd.DataFrame, key: str) -> str:
    r = table.loc[key]
    if pd.notna(r["low"]) and r["high"] - r["low"] > 1e-9:
        return f"{r['estimate']:+.1f} bn [{r['low']:+.1f}, {r['high']:+.1f}]"
    return f"{r['estimate']:+.1f} bn"


def findings(account: StructuralAccount, gaps: pd.DataFrame | None = None) -> list[str]:
    """Sentences written from the account's numbers (US$ bn, 95% bootstrap intervals in
    brackets), for the notebook's closing note."""
    info, table = account.info, account.table
    r, p, b, c, span = info["reporter"], info["partner"], info["base_wiod"], info["compare_wiod"], info["span"]
    levels_text = ", ".join(f"{table.loc[f'balance@{y}', 'estimate']:.1f} bn in {y}" for y in dict.fromkeys((b, c)))
    out = [f"Years: {info['years']}; the model's balance is WIOD's (goods and services): {levels_text}. "
           f"Intervals: {info['draws used']} pairs-bootstrap draws (seed {info['seed']})."]
    if gaps is not None and c in gaps.index and pd.notna(gaps.loc[c, "Census goods balance"]):
        g = gaps.loc[c]
        services = (f", published BEA services {g['BEA services balance (published)']:+.1f} bn "
                    f"({int(g['services year'])})" if pd.notna(g.get("BEA services balance (published)")) else
                    ", no published BEA services balance near that year")
        out.append(f"Goods and the rest: in {c} the Census goods balance was {g['Census goods balance']:.1f} bn"
                   f"{services}; the model's balance differs from goods by {g['gap: WIOD minus goods']:+.1f} bn "
                   "(WIOD counts every sector at basic prices).")
    levels = info.get("counterfactual balances", {})
    out.append(f"(a) Closing every country's aggregate imbalance (Dekle-Eaton-Kortum) would move the {c} balance to "
               f"{levels.get('aggregate imbalances closed', float('nan')):.1f} bn: the imbalances account for "
               f"{_with_interval(table, f'closed@{c}')} (no estimated coefficient enters; over trade elasticities "
               f"{info['theta range']} and both imbalance conventions {account.sensitivity.loc[f'closed@{c}', 'low']:+.1f}"
               f" to {account.sensitivity.loc[f'closed@{c}', 'high']:+.1f} bn). At unchanged wages (each country "
               f"spending its output with the same import shares) the imbalances would account for "
               f"{table.loc[f'closed at unchanged wages@{c}', 'estimate']:+.1f} bn: the rest is the transfer problem, "
               "the relative wages that move when the deficits close.")
    if f"closed: members@{c}" in table.index:
        sens = account.sensitivity.loc[f"closed: members@{c}"]
        out.append(f"(a') Closing only {r}'s and {p}'s imbalances ({info['absorber']} absorbing them, additive) "
                   f"would move it to {table.loc[f'balance@{c}', 'estimate'] - table.loc[f'closed: members@{c}', 'estimate']:.1f}"
                   f" bn: the two countries' own saving-investment gaps account for "
                   f"{table.loc[f'closed: members@{c}', 'estimate']:+.1f} bn (over trade elasticities "
                   f"{info['theta range']} {sens['low']:+.1f} to {sens['high']:+.1f} bn); the rest of (a) comes from "
                   "third countries' imbalances.")
    if f"agreement@{c}" in table.index:
        lead = account.checks.get("agreement", ("", ""))[0]
        out.append(f"(b) Removing the agreement (directional effects from {info['coefficients from']}, lead test "
                   f"{lead}) would move it to {levels.get('agreement removed', float('nan')):.1f} bn: the agreement "
                   f"accounts for {_with_interval(table, f'agreement@{c}')}.")
        order = "the order does not matter" if account.checks.get("_order independent") else "the order matters"
        out.append(f"(c) Both together: {_with_interval(table, f'both@{c}')}; Shapley split: imbalances "
                   f"{_with_interval(table, f'both: imbalances@{c}')}, agreement "
                   f"{_with_interval(table, f'both: agreement@{c}')} ({order}; interaction "
                   f"{table.loc[f'interaction@{c}', 'estimate']:+.1f} bn).")
    out.append(f"Decomposition of the {c} balance: aggregate imbalances {_with_interval(table, f'aggregate@{c}')}, "
               f"triangular trade {_with_interval(table, f'triangular@{c}')}, asymmetric trade costs "
               f"{_with_interval(table, f'asymmetric@{c}')}"
               + (f" (of which the agreement {_with_interval(table, f'asymmetric: agreement@{c}')})"
                  if table.loc[f"asymmetric: agreement@{c}", "estimate"] != 0 else "") + ".")
    if span:
        parts = ", ".join(f"{FACTORS[k]} {_with_interval(table, f'split: {k}@{span}')}" for k in FACTORS)
        out.append(f"(d) The change of the {r} balance with {p} from {b} to {c}, "
                   f"{table.loc[f'change@{span}', 'estimate']:+.1f} bn, splits into {parts}. With {c} incomes and "
                   f"imbalances but {b} trade costs the {c} balance would have been "
                   f"{table.loc[f'base costs@{c}', 'estimate']:.1f} bn.")
    return out
