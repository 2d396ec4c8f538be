"""Macro drivers of a bilateral balance: trade equations, cointegration, breaks, and a
decomposition of the change in the balance into price, income, exchange-rate, agreement and
misfit parts with intervals from the joint covariance of both equations.

Imperfect-substitutes trade equations (Goldstein and Khan 1985): log real US imports from the
partner on log US real demand, the log bilateral real exchange rate and (Gagnon 2003) the
partner's supply capacity; log real US exports to the partner on the partner's real demand and
the real exchange rate. An agreement step enters as a fixed (deterministic) regressor.

The inference follows these rules, stated once here and applied by the functions below:

- **Lag orders** (:func:`select_ardl`): ARDL(p, q_1, ..., q_k) with ``1 <= p <= max_p`` and
  ``0 <= q_j <= max_q`` (2 and 2 for annual data, 4 and 4 for quarterly), every order fitted on
  the same sample; the order with the lowest BIC among those whose residuals pass the
  Breusch-Godfrey test (F form, 5%) is chosen; if none passes, the lowest BIC, flagged.
- **Bounds test** (:func:`bounds_test`): the Pesaran-Shin-Smith F (and t) test of no level
  relation; ``k`` counts the regressors of the level relation only (statsmodels'
  ``UECM.bounds_test`` looks its tables up with the dependent variable counted as well).
  Case III (unrestricted constant) or V (unrestricted constant and trend); the agreement step
  is a fixed regressor outside the test. Critical values and p-values are simulated for the
  sample at hand (seeded): the same design, the same lag orders, the same fixed regressors, under
  the null with the regressors all I(0) (lower bound) or all I(1) (upper bound), Narayan's (2005)
  method.
- **Verdict** (:func:`cointegration_verdict`): a relation *passes* when the F statistic exceeds
  its simulated 5% I(1) bound and the t statistic lies below its 5% I(1) bound (PSS's two-step
  rule). The decomposition takes long-run elasticities only from a relation that passes; for an
  equation whose relation does not pass it uses the growth-rate (first-difference) model.
- **Unit roots** (:func:`unit_root_table`): ADF (lags by AIC up to ``l4``), Phillips-Perron and
  KPSS (Bartlett kernel, bandwidth ``l4``), ``l4 = floor(4 (T/100)^(1/4))`` (Schwert 1989), with
  the deterministic terms of :func:`deterministic_rule`: a constant and a trend for the level of a
  trending variable (real flows and real GDP), a constant only for the real exchange rate and for
  every first difference; the other choice is shown beside it. Zivot-Andrews for one break at an
  unknown date.
- **Breaks**: Chow at the entry year; Bai-Perron (global SSR minimisation, up to ``max_breaks``
  breaks, trimming 15%) with sup-F and sequential sup-F(l+1|l) tests whose p-values are simulated
  (seeded, the regressors held fixed); recursive-residual CUSUM and CUSUM of squares (Brown,
  Durbin and Evans 1975) with p-values simulated from their exact null distribution under
  normal errors.

References
----------
Bai, J. and Perron, P. (1998). Estimating and testing linear models with multiple structural
    changes. Econometrica 66(1), 47-78.
Bai, J. and Perron, P. (2003). Computation and analysis of multiple structural change models.
    Journal of Applied Econometrics 18(1), 1-22.
Brown, R. L., Durbin, J. and Evans, J. M. (1975). Techniques for testing the constancy of
    regression relationships over time. JRSS B 37(2), 149-192.
Chow, G. C. (1960). Tests of equality between sets of coefficients in two linear regressions.
    Econometrica 28(3), 591-605.
Engle, R. F. and Granger, C. W. J. (1987). Co-integration and error correction. Econometrica
    55(2), 251-276.
Gagnon, J. E. (2003). Long-run supply effects and the elasticities approach to trade. Federal
    Reserve IFDP 754.
Goldstein, M. and Khan, M. S. (1985). Income and price effects in foreign trade. In Handbook of
    International Economics, vol. 2, 1041-1105.
Johansen, S. (1991). Estimation and hypothesis testing of cointegration vectors in Gaussian
    vector autoregressive models. Econometrica 59(6), 1551-1580.
Kwiatkowski, D., Phillips, P. C. B., Schmidt, P. and Shin, Y. (1992). Testing the null
    hypothesis of stationarity against the alternative of a unit root. J. Econometrics 54, 159-178.
Narayan, P. K. (2005). The saving and investment nexus for China: evidence from cointegration
    tests. Applied Economics 37(17), 1979-1990.
Newey, W. K. and West, K. D. (1987). A simple, positive semi-definite, heteroskedasticity and
    autocorrelation consistent covariance matrix. Econometrica 55(3), 703-708.
Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Bounds testing approaches to the analysis of
    level relationships. Journal of Applied Econometrics 16(3), 289-326.
Phillips, P. C. B. and Hansen, B. E. (1990). Statistical inference in instrumental variables
    regression with I(1) processes. Review of Economic Studies 57(1), 99-125.
Phillips, P. C. B. and Ouliaris, S. (1990). Asymptotic properties of residual based tests for
    cointegration. Econometrica 58(1), 165-193.
Phillips, P. C. B. and Perron, P. (1988). Testing for a unit root in time series regression.
    Biometrika 75(2), 335-346.
Reinsel, G. C. and Ahn, S. K. (1992). Vector autoregressive models with unit roots and reduced
    rank structure. Journal of Time Series Analysis 13(4), 353-375.
Schwert, G. W. (1989). Tests for unit roots: a Monte Carlo investigation. JBES 7(2), 147-159.
Stock, J. H. and Watson, M. W. (1993). A simple estimator of cointegrating vectors in higher
    order integrated systems. Econometrica 61(4), 783-820.
Zellner, A. (1962). An efficient method of estimating seemingly unrelated regressions and tests
    for aggregation bias. JASA 57(298), 348-368.
Zivot, E. and Andrews, D. W. K. (1992). Further evidence on the great crash, the oil-price
    shock, and the unit-root hypothesis. JBES 10(3), 251-270.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .balance import latest_vintage
from .errors import EstimationError, ParameterError
from .study import capabilities, entry_period


class MacroError(EstimationError):
    """Bad input for the macro module (gaps, mismatched frequencies, non-positive values, ...)."""


#: Default seed of every simulation in this module (critical values, p-values).
SEED = 2012
#: Simulation sizes: bounds-test critical values, Bai-Perron and CUSUM p-values.
BOUNDS_NSIM = 20_000
BREAKS_NSIM = 1_000
CUSUM_NSIM = 20_000
#: Maximum lag orders of the ARDL by frequency (p, q).
MAX_LAGS = {"annual": (2, 2), "quarterly": (4, 4)}

INCOME, RER, SUPPLY, AGREEMENT, DRIFT, PRICES, MISFIT, TOTAL = (
    "income (real demand)", "real exchange rate", "partner supply", "agreement indicator",
    "trend growth (growth model's constant)", "trade prices (deflator)", "residual (model misfit)", "total")


# ---------------------------------------------------------------- data ------------------


def _annual_mean(series: pd.Series, periods: int) -> pd.Series:
    """Calendar-year means of a dated series, complete years only (``periods`` per year)."""
    grouped = series.groupby(series.index.year)
    counts = grouped.size()
    return grouped.mean()[counts == periods]


def _to_frequency(series: pd.Series, frequency: str, per_year: int) -> pd.Series:
    if frequency == "annual":
        return _annual_mean(series, per_year)
    if frequency == "quarterly":
        if per_year == 4:
            return series.set_axis(series.index.to_period("Q"))
        if per_year == 12:
            q = series.groupby(series.index.to_period("Q"))
            return q.mean()[q.size() == 3]
    raise MacroError(f"cannot put a series with {per_year} observations a year at {frequency} frequency")


def check_series(series: pd.Series, name: str, positive: bool = True) -> pd.Series:
    """No gaps inside the series' span and (for logs) only positive values."""
    s = series.sort_index()
    inner = s.loc[s.first_valid_index():s.last_valid_index()]
    gaps = inner.index[inner.isna()]
    if len(gaps):
        raise MacroError(f"series {name!r} has gaps at {[str(g) for g in gaps[:10]]}")
    if positive and (inner <= 0).any():
        raise MacroError(f"series {name!r} has non-positive values before a log at "
                         f"{[str(g) for g in inner.index[inner <= 0][:10]]}")
    return inner


def resolve_rer_measure(tables: dict[str, pd.DataFrame], partner: str, measure: str, frequency: str) -> str:
    """``auto``: the bilateral rate where the data have it (the partner's ``fx_table`` in
    ``tables/partner_data.csv``; annual), else the BIS effective rates where they cover the
    partner, else ``none`` (equations without a price term, stated in the notebook)."""
    if measure != "auto":
        return measure
    caps = capabilities(partner)
    if caps.bilateral_fx and frequency == "annual" and caps.fx_table in tables:
        return "bilateral"
    codes = set(tables["bis_eer_monthly"]["series_code"])
    return "bis" if caps.bis_code and f"RB{caps.bis_code}" in codes else "none"


def real_exchange_rate(tables: dict[str, pd.DataFrame], partner: str, measure: str, frequency: str) -> pd.Series:
    """Log-ready bilateral real exchange rate, partner currency per USD in real terms
    (a rise is a real depreciation of the partner's currency against the dollar).

    ``bilateral``: the partner's dollar rate (its ``fx_table``, a ``<currency>_per_usd``
    column) x US CPI / partner CPI (World Bank, annual). ``bis``: the ratio of the BIS real
    effective exchange rates of the US and the partner (CPI-based, broad basket; 60
    economies, monthly from 1994).
    """
    caps = capabilities(partner)
    if measure == "bilateral":
        if not caps.bilateral_fx:
            raise MacroError(f"no bilateral exchange rate for {partner} in the data (tables/partner_data.csv): "
                             "use rer_measure='bis' or 'none'")
        if frequency != "annual":
            raise MacroError("the bilateral real rate needs both CPIs, annual in the data: use frequency='annual' "
                             "or rer_measure='bis'")
        fx_table = tables[caps.fx_table]
        rate = [c for c in fx_table.columns if c.endswith("_per_usd")]
        fx = fx_table.set_index("year")[rate[0]]
        wb = tables["worldbank_indicators"]
        cpi = wb[wb["indicator_code"] == "FP.CPI.TOTL"].pivot(index="year", columns="iso3", values="value")
        if partner not in cpi or "USA" not in cpi:
            raise MacroError(f"consumer prices of {partner} or the USA are not in the World Bank table")
        rer = (fx * cpi["USA"] / cpi[partner]).dropna()
        return rer.rename("rer")
    if measure == "bis":
        bis = tables["bis_eer_monthly"]
        real = bis[bis["kind"] == "real"]
        code_p, code_us = f"RB{caps.bis_code}", "RBUS"
        have = set(real["series_code"])
        if code_p not in have:
            raise MacroError(f"no bilateral rate and no BIS effective rate ({code_p}) for {partner}: "
                             "neither measure exists in the data")
        wide = real[real["series_code"].isin([code_p, code_us])].pivot(index="date", columns="series_code",
                                                                        values="index_2010_100")
        monthly = (wide[code_us] / wide[code_p]).dropna()
        return _to_frequency(monthly, frequency, 12).rename("rer")
    raise MacroError(f"rer_measure {measure!r}: choose 'auto', 'bilateral', 'bis' or 'none'")


def _census_flows(tables, partner: str, frequency: str) -> pd.DataFrame:
    if frequency == "annual":
        ann = tables["census_annual"]
        rows = ann[(ann["vintage"] == latest_vintage(ann)) & (ann["iso3"] == partner) & (ann["months_reported"] == 12)]
        return rows.groupby("year")[["exports_usd_mn", "imports_usd_mn"]].sum()
    mon = tables["census_monthly"]
    rows = mon[(mon["vintage"] == latest_vintage(mon)) & (mon["iso3"] == partner)]
    g = rows.groupby(["year", "month"])[["exports_usd_mn", "imports_usd_mn"]].sum().reset_index()
    g.index = pd.PeriodIndex(pd.to_datetime(dict(year=g["year"], month=g["month"], day=1)), freq="M")
    q = g[["exports_usd_mn", "imports_usd_mn"]].groupby(g.index.asfreq("Q"))
    return q.sum()[q.size() == 3]


def _fred(tables, series_id: str) -> pd.Series:
    f = tables["fred_macro"]
    s = f[f["series_id"] == series_id].set_index("date")["value"]
    if s.empty:
        raise MacroError(f"FRED series {series_id} not in the fred_macro table")
    return s


def _rebased(index: pd.Series, base) -> pd.Series:
    return index / index.loc[base] * 100 if base in index.index else index / index.mean() * 100


def build_frame(tables: dict[str, pd.DataFrame], partner: str, frequency: str = "annual",
                demand: str = "gdp", rer_measure: str = "bilateral", entry: pd.Timestamp | None = None,
                prices: pd.DataFrame | None = None, price_years: tuple | None = None) -> pd.DataFrame:
    """The estimation frame: nominal and real flows, their price indexes, demands, the real
    exchange rate and the agreement indicator.

    Deflators: trade price indexes where the data have them (``prices``: columns
    ``import_price`` and/or ``export_price`` by period, e.g. the BLS import price index by
    locality of origin from :mod:`korus_research.bls`), used for a flow only when they cover
    every period of ``price_years`` (the estimation sample); otherwise the US GDP deflator
    (FRED GDPDEF). Every index is rebased to 100 in 2012 (real flows in 2012 dollars). Which
    deflator each flow got, and why, is in ``frame.attrs["deflators"]``.

    US demand: real GDP (``gdp``, FRED GDPC1) or real domestic demand (``domestic_demand``,
    World Bank, annual). Partner demand (and supply capacity): the partner's real GDP (its
    ``demand_series`` in tables/partner_data.csv) where the data have it; without it the export
    equation and the supply term cannot be estimated (column missing).
    """
    if frequency not in ("annual", "quarterly"):
        raise MacroError(f"frequency {frequency!r}: choose 'annual' or 'quarterly'")
    flows = _census_flows(tables, partner, frequency)
    frame = pd.DataFrame(index=flows.index)
    base = 2012 if frequency == "annual" else pd.Period("2012Q1", "Q")
    gdp_deflator = _rebased(_to_frequency(_fred(tables, "GDPDEF"), frequency, 4), base).reindex(frame.index)
    deflators = {}
    for flow, column in (("imports", "import_price"), ("exports", "export_price")):
        price, why = gdp_deflator, "US GDP deflator (no trade price index given)"
        if prices is not None and column in prices:
            own = prices[column].dropna()
            want = frame.index if price_years is None else frame.loc[price_years[0]:price_years[1]].index
            missing = [p for p in want if p not in own.index]
            if missing:
                why = (f"US GDP deflator: the trade price index ({prices.attrs.get(column, column)}) misses "
                       f"{len(missing)} periods of the sample, e.g. {[str(m) for m in missing[:3]]}")
            else:
                price = _rebased(own, base).reindex(frame.index)
                why = f"trade price index: {prices.attrs.get(column, column)}"
        frame[f"{flow}_price"] = price
        frame[f"{flow}_nominal"] = flows[f"{flow}_usd_mn"]
        frame[f"{flow}_real"] = flows[f"{flow}_usd_mn"] / price * 100
        deflators[flow] = why
    wb = tables["worldbank_indicators"]
    if demand == "gdp":
        frame["us_demand"] = _to_frequency(_fred(tables, "GDPC1"), frequency, 4).reindex(frame.index)
    elif demand == "domestic_demand":
        if frequency != "annual":
            raise MacroError("domestic demand is annual in the data (World Bank): use frequency='annual'")
        dd = wb[(wb["iso3"] == "USA") & (wb["indicator_code"] == "NE.DAB.TOTL.KD")].set_index("year")["value"]
        frame["us_demand"] = dd.reindex(frame.index)
    else:
        raise MacroError(f"demand {demand!r}: choose 'gdp' or 'domestic_demand'")
    demand_series = capabilities(partner).demand_series
    if demand_series.startswith("fred:"):
        frame["partner_demand"] = _to_frequency(_fred(tables, demand_series[5:]), frequency, 4).reindex(frame.index)
    elif demand_series.startswith("worldbank:") and frequency == "annual":
        pdem = wb[(wb["iso3"] == partner) & (wb["indicator_code"] == demand_series[10:])].set_index("year")["value"]
        if not pdem.empty:
            frame["partner_demand"] = pdem.reindex(frame.index)
    if "partner_demand" in frame:
        frame["partner_supply"] = frame["partner_demand"]  # supply capacity: the same real GDP (Gagnon 2003)
    if rer_measure != "none":
        frame["rer"] = real_exchange_rate(tables, partner, rer_measure, frequency).reindex(frame.index)
    if entry is not None:
        # the rule of korus_research.study.entry_period: in force from the period containing the date
        frame["agreement"] = (frame.index >= entry_period(entry, frequency)).astype(float)
    else:
        frame["agreement"] = 0.0
    frame.attrs["deflators"] = deflators
    return frame


def sample(frame: pd.DataFrame, columns: list[str], start, end) -> pd.DataFrame:
    """The rows from ``start`` to ``end`` with every column present; gaps inside are an error."""
    sub = frame.loc[start:end, columns]
    # years before a flow is first positive (e.g. no trade under an embargo) start the sample later
    logged = [c for c in columns if c != "agreement"]
    positive = (sub[logged] > 0).all(axis=1)
    if positive.any() and not positive.iloc[0]:
        sub = sub.loc[positive.idxmax():]
    missing = sub.isna().any(axis=1)
    if missing.all():
        raise MacroError(f"no period from {start} to {end} has all of {columns}")
    first, last = sub.index[~missing].min(), sub.index[~missing].max()
    inner = sub.loc[first:last]
    if inner.isna().any().any():
        bad = inner.index[inner.isna().any(axis=1)]
        raise MacroError(f"gaps in {[c for c in columns if inner[c].isna().any()]} at {[str(b) for b in bad[:10]]}")
    for c in columns:
        if c != "agreement":
            check_series(inner[c], c)
    return inner


def log_levels(frame: pd.DataFrame, flow: str, regressors: list[str], start, end) -> pd.DataFrame:
    """``ln_<flow>``, ``ln_<regressor>`` and the agreement step on the common sample."""
    cols = [flow, *regressors, "agreement"]
    data = sample(frame, cols, start, end)
    out = pd.DataFrame({f"ln_{c}": np.log(data[c]) for c in [flow, *regressors]}, index=data.index)
    out["agreement"] = data["agreement"]
    return out


# ---------------------------------------------------------------- static levels ---------


def ols_newey_west(y: pd.Series, x: pd.DataFrame, lags: int) -> sm.regression.linear_model.RegressionResultsWrapper:
    """OLS with a constant and Newey-West (Bartlett kernel, ``lags``) standard errors, no
    small-sample correction.

    References
    ----------
    Newey, W. K. and West, K. D. (1987). Econometrica 55(3), 703-708.
    """
    exog = sm.add_constant(x, has_constant="add")
    return sm.OLS(y, exog).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})


# ---------------------------------------------------------------- ARDL / UECM -----------


def _lag(a: np.ndarray, k: int) -> np.ndarray:
    """Shift along the last time axis by ``k`` periods (NaN-filled)."""
    out = np.full_like(a, np.nan, dtype=float)
    if k == 0:
        return a.astype(float)
    out[..., k:] = a[..., :-k]
    return out


def _uecm_arrays(y: np.ndarray, x: np.ndarray, p: int, q: tuple[int, ...], case: int,
                 fixed: np.ndarray | None, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The UECM of an ARDL(p, q_1..q_k) as arrays, for one or many series at once.

    ``y``: (..., T); ``x``: (..., k, T); ``fixed``: (m, T) fixed regressors. Columns, in order:
    constant, [trend], ``y_{t-1}``, each regressor's level (``x_{t-1}``, or ``x_t`` when its
    order is 0), ``dy_{t-i}`` for i < p, ``dx_{t-i}`` for i < q_j, fixed regressors. Rows from
    ``first`` on. Returns ``(endog (..., n), exog (..., n, K))``.
    """
    T = y.shape[-1]
    lead = y.shape[:-1]
    dy = y - _lag(y, 1)
    cols = [np.ones(lead + (T,))]
    if case == 5:
        cols.append(np.broadcast_to(np.arange(1, T + 1, dtype=float), lead + (T,)))
    cols.append(_lag(y, 1))
    for j, qj in enumerate(q):
        cols.append(_lag(x[..., j, :], 1) if qj >= 1 else x[..., j, :].astype(float))
    for i in range(1, p):
        cols.append(_lag(dy, i))
    for j, qj in enumerate(q):
        dx = x[..., j, :] - _lag(x[..., j, :], 1)
        for i in range(qj):
            cols.append(_lag(dx, i))
    if fixed is not None:
        for row in np.atleast_2d(fixed):
            cols.append(np.broadcast_to(row.astype(float), lead + (T,)))
    exog = np.stack(cols, axis=-1)[..., first:, :]
    return dy[..., first:], exog


def _uecm_names(y: str, xs: list[str], p: int, q: tuple[int, ...], case: int, fixed: list[str]) -> list[str]:
    names = ["const"] + (["trend"] if case == 5 else []) + [f"L1.{y}"]
    names += [f"L1.{x}" if qj >= 1 else x for x, qj in zip(xs, q, strict=True)]
    names += [f"L{i}.D.{y}" for i in range(1, p)]
    for x, qj in zip(xs, q, strict=True):
        names += ["D." + x if i == 0 else f"L{i}.D.{x}" for i in range(qj)]
    return names + list(fixed)


def level_names(y: str, xs: list[str], q: tuple[int, ...]) -> list[str]:
    """Names of the level terms of the UECM (the bounds test's restrictions)."""
    return [f"L1.{y}"] + [f"L1.{x}" if qj >= 1 else x for x, qj in zip(xs, q, strict=True)]


def uecm_design(levels: pd.DataFrame, y: str, xs: list[str], p: int, q: tuple[int, ...], case: int = 3,
                fixed: list[str] | None = None, first: int | None = None) -> tuple[pd.Series, pd.DataFrame]:
    """The unrestricted error-correction form of an ARDL(p, q) on a frame of log levels.

    Parameters
    ----------
    levels : DataFrame
        Log levels (consecutive periods), with the fixed regressors as columns.
    y, xs : str, list of str
        The dependent variable and the regressors of the level relation.
    p, q : int, tuple of int
        ARDL orders (``p >= 1``, ``q_j >= 0``).
    case : {3, 5}
        Pesaran-Shin-Smith case: III (unrestricted constant) or V (unrestricted constant and trend).
    fixed : list of str
        Fixed regressors (e.g. the agreement step): in the model, not in the test.
    first : int, optional
        First row used (default ``max(p, q, 1)``); give a common value to compare orders.

    Returns
    -------
    (Series, DataFrame)
        ``D.<y>`` and the regressors, indexed by period.

    References
    ----------
    Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Journal of Applied Econometrics 16(3), 289-326.
    """
    if case not in (3, 5):
        raise ParameterError("case", case, [3, 5])
    if p < 1 or len(q) != len(xs) or min(q, default=0) < 0:
        raise ParameterError("orders", (p, q), "p >= 1 and one q_j >= 0 per regressor")
    fixed = list(fixed or [])
    first = max(p, *q, 1) if first is None else first
    endog, exog = _uecm_arrays(levels[y].to_numpy(), levels[xs].to_numpy().T, p, tuple(q), case,
                               levels[fixed].to_numpy().T if fixed else None, first)
    index = levels.index[first:]
    names = _uecm_names(y, xs, p, tuple(q), case, fixed)
    return pd.Series(endog, index=index, name=f"D.{y}"), pd.DataFrame(exog, index=index, columns=names)


def residual_diagnostics(res, bg_lags: int = 2) -> dict:
    """Breusch-Godfrey (F form, ``bg_lags``), Jarque-Bera and Breusch-Pagan (Koenker's
    studentised LM) tests of an OLS fit's residuals.

    References
    ----------
    Breusch, T. S. (1978). Australian Economic Papers 17, 334-355. Godfrey, L. G. (1978).
    Econometrica 46, 1293-1301. Jarque, C. M. and Bera, A. K. (1980). Economics Letters 6,
    255-259. Koenker, R. (1981). Journal of Econometrics 17, 107-112.
    """
    from statsmodels.stats.diagnostic import acorr_breusch_godfrey, het_breuschpagan
    from statsmodels.stats.stattools import jarque_bera

    bg = acorr_breusch_godfrey(res, nlags=bg_lags)
    jb = jarque_bera(res.resid)
    bp = het_breuschpagan(res.resid, res.model.exog)
    return {"Breusch-Godfrey F": float(bg[2]), "Breusch-Godfrey p": float(bg[3]),
            "Jarque-Bera": float(jb[0]), "Jarque-Bera p": float(jb[1]),
            "Breusch-Pagan LM": float(bp[0]), "Breusch-Pagan p": float(bp[1])}


def diagnostics_pass(diag: dict, level: float = 0.05) -> tuple[bool, str]:
    """Whether the residual tests all fail to reject at ``level``, and which rejected."""
    failed = [name for name in ("Breusch-Godfrey", "Jarque-Bera", "Breusch-Pagan") if diag[f"{name} p"] < level]
    return (not failed), ("residual tests pass" if not failed else
                          "rejected at 5%: " + ", ".join(f"{n} (p={diag[n + ' p']:.3f})" for n in failed))


def select_ardl(levels: pd.DataFrame, y: str, xs: list[str], fixed: list[str] | None = None, case: int = 3,
                max_p: int = 2, max_q: int = 2, ic: str = "bic", bg_lags: int = 2) -> pd.DataFrame:
    """Every ARDL(p, q) order within the maxima, fitted on one common sample, with AIC, BIC and
    the Breusch-Godfrey p-value; sorted by ``ic``; column ``chosen`` marks the order of the rule
    (lowest ``ic`` among orders whose residuals pass Breusch-Godfrey at 5%, else lowest ``ic``).

    References
    ----------
    Pesaran, M. H. and Shin, Y. (1999). An autoregressive distributed lag modelling approach to
    cointegration analysis. In Econometrics and Economic Theory in the 20th Century, ch. 11.
    """
    from statsmodels.stats.diagnostic import acorr_breusch_godfrey

    if ic not in ("aic", "bic"):
        raise ParameterError("ic", ic, ["aic", "bic"])
    first = max(max_p, max_q, 1)
    rows = []
    for p in range(1, max_p + 1):
        for q in itertools.product(range(max_q + 1), repeat=len(xs)):
            endog, exog = uecm_design(levels, y, xs, p, q, case, fixed, first)
            if exog.shape[1] >= len(endog) - 2:
                continue
            res = sm.OLS(endog, exog).fit()
            bg = acorr_breusch_godfrey(res, nlags=bg_lags)
            rows.append({"p": p, **{f"q {x}": qj for x, qj in zip(xs, q, strict=True)}, "aic": res.aic,
                         "bic": res.bic, "Breusch-Godfrey p": float(bg[3]), "parameters": exog.shape[1]})
    if not rows:
        raise MacroError(f"too few observations ({len(levels)}) for any ARDL order up to ({max_p}, {max_q})")
    table = pd.DataFrame(rows).sort_values(ic, kind="stable").reset_index(drop=True)
    ok = table["Breusch-Godfrey p"] >= 0.05
    chosen = table.index[ok][0] if ok.any() else table.index[0]
    table["chosen"] = table.index == chosen
    table.attrs["rule"] = (f"lowest {ic.upper()} among orders whose residuals pass Breusch-Godfrey ({bg_lags} lags, 5%)"
                           if ok.any() else f"lowest {ic.upper()}: no order passes Breusch-Godfrey ({bg_lags} lags, 5%)")
    table.attrs["serial_correlation_free"] = bool(ok.any())
    return table


@dataclass
class BoundsTest:
    """The Pesaran-Shin-Smith bounds test with simulated small-sample critical values."""

    F: float
    t: float
    k: int
    case: int
    nobs: int
    critical_values: pd.DataFrame   # rows 10%, 5%, 1%; columns F I(0), F I(1), t I(0), t I(1)
    p_values: pd.Series             # F I(0), F I(1), t I(0), t I(1)
    nsim: int
    seed: int

    @property
    def verdict(self) -> str:
        """``cointegrated``, ``no cointegration`` or ``inconclusive`` at 5% (PSS's F-then-t rule)."""
        cv = self.critical_values.loc["5%"]
        if self.F > cv["F I(1)"] and self.t < cv["t I(1)"]:
            return "cointegrated"
        if self.F < cv["F I(0)"]:
            return "no cointegration"
        return "inconclusive"

    def table(self) -> pd.Series:
        cv = self.critical_values
        out = {"k (regressors)": self.k, "case": self.case, "observations": self.nobs, "F": self.F}
        for lvl in cv.index:
            out[f"F {lvl} I(0)"] = cv.loc[lvl, "F I(0)"]
            out[f"F {lvl} I(1)"] = cv.loc[lvl, "F I(1)"]
        out["F p (all I(0))"] = self.p_values["F I(0)"]
        out["F p (all I(1))"] = self.p_values["F I(1)"]
        out["t"] = self.t
        out["t 5% I(0)"] = cv.loc["5%", "t I(0)"]
        out["t 5% I(1)"] = cv.loc["5%", "t I(1)"]
        out["t p (all I(1))"] = self.p_values["t I(1)"]
        out["verdict (5%)"] = self.verdict
        return pd.Series(out, dtype=object)


def _batch_ols(endog: np.ndarray, exog: np.ndarray, test_cols: list[int], t_col: int) -> tuple[np.ndarray, np.ndarray]:
    """F statistic of ``test_cols`` = 0 and t statistic of ``t_col`` for many OLS fits at once."""
    n, K = exog.shape[-2], exog.shape[-1]
    xtx = np.einsum("snk,snl->skl", exog, exog)
    xty = np.einsum("snk,sn->sk", exog, endog)
    inv = np.linalg.inv(xtx)
    beta = np.einsum("skl,sl->sk", inv, xty)
    resid = endog - np.einsum("snk,sk->sn", exog, beta)
    s2 = (resid ** 2).sum(axis=1) / (n - K)
    rb = beta[:, test_cols]
    v = inv[:, test_cols][:, :, test_cols]
    f = np.einsum("sk,sk->s", rb, np.linalg.solve(v, rb[..., None])[..., 0]) / len(test_cols) / s2
    t = beta[:, t_col] / np.sqrt(s2 * inv[:, t_col, t_col])
    return f, t


def simulate_bounds(T: int, p: int, q: tuple[int, ...], case: int = 3, fixed: np.ndarray | None = None,
                    first: int | None = None, nsim: int = BOUNDS_NSIM, seed: int = SEED,
                    batch: int = 5_000) -> dict[str, np.ndarray]:
    """Null distributions of the bounds F and t statistics for one UECM design.

    Under the null of no level relation, ``y`` is a driftless random walk independent of the
    regressors; the regressors are all I(0) (white noise: the lower bound) or all I(1)
    (random walks: the upper bound). Each simulated sample is fitted with the same design as the
    data (same T, lag orders, case and fixed regressors), so the critical values are those of
    this sample size (Narayan 2005) rather than the asymptotic tables.

    Returns
    -------
    dict
        ``F I(0)``, ``F I(1)``, ``t I(0)``, ``t I(1)``: arrays of ``nsim`` draws.

    References
    ----------
    Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Journal of Applied Econometrics 16(3), 289-326.
    Narayan, P. K. (2005). Applied Economics 37(17), 1979-1990.
    """
    rng = np.random.default_rng(seed)
    k = len(q)
    first = max(p, *q, 1) if first is None else first
    K = 1 + (case == 5)
    test_cols = list(range(K, K + 1 + k))
    out = {key: [] for key in ("F I(0)", "F I(1)", "t I(0)", "t I(1)")}
    done = 0
    while done < nsim:
        m = min(batch, nsim - done)
        e = rng.standard_normal((m, k + 1, T))
        y = np.cumsum(e[:, 0, :], axis=-1)
        for label, x in (("I(0)", e[:, 1:, :]), ("I(1)", np.cumsum(e[:, 1:, :], axis=-1))):
            endog, exog = _uecm_arrays(y, x, p, q, case, fixed, first)
            f, t = _batch_ols(endog, exog, test_cols, K)
            out[f"F {label}"].append(f)
            out[f"t {label}"].append(t)
        done += m
    return {key: np.concatenate(v) for key, v in out.items()}


def bounds_test(res, y: str, xs: list[str], p: int, q: tuple[int, ...], case: int, T: int,
                fixed: np.ndarray | None = None, first: int | None = None, nsim: int = BOUNDS_NSIM,
                seed: int = SEED) -> BoundsTest:
    """The bounds F test (level terms jointly zero) and t test (``y_{t-1}``) of a fitted UECM,
    with critical values and p-values simulated for this design (:func:`simulate_bounds`).

    ``k`` is the number of regressors in the level relation (the dependent variable is not
    counted). The statistic comes from the fitted statsmodels results (``f_test``).

    References
    ----------
    Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Journal of Applied Econometrics 16(3), 289-326.
    Narayan, P. K. (2005). Applied Economics 37(17), 1979-1990.
    """
    names = level_names(y, xs, q)
    restriction = np.zeros((len(names), len(res.params)))
    for i, name in enumerate(names):
        restriction[i, list(res.params.index).index(name)] = 1.0
    f_stat = float(np.squeeze(res.f_test(restriction).fvalue))
    t_stat = float(res.tvalues[f"L1.{y}"])
    draws = simulate_bounds(T, p, q, case, fixed, first, nsim, seed)
    levels = {"10%": 0.10, "5%": 0.05, "1%": 0.01}
    cv = pd.DataFrame({"F I(0)": [np.quantile(draws["F I(0)"], 1 - a) for a in levels.values()],
                       "F I(1)": [np.quantile(draws["F I(1)"], 1 - a) for a in levels.values()],
                       "t I(0)": [np.quantile(draws["t I(0)"], a) for a in levels.values()],
                       "t I(1)": [np.quantile(draws["t I(1)"], a) for a in levels.values()]}, index=list(levels))
    pv = pd.Series({"F I(0)": float(np.mean(draws["F I(0)"] >= f_stat)),
                    "F I(1)": float(np.mean(draws["F I(1)"] >= f_stat)),
                    "t I(0)": float(np.mean(draws["t I(0)"] <= t_stat)),
                    "t I(1)": float(np.mean(draws["t I(1)"] <= t_stat))})
    return BoundsTest(f_stat, t_stat, len(xs), case, int(res.nobs), cv, pv, nsim, seed)


def long_run(res, y: str, xs: list[str], q: tuple[int, ...], fixed: list[str] | None = None) -> tuple[pd.Series, pd.DataFrame]:
    """Long-run coefficients ``-pi_x / pi_y`` of a fitted UECM and their delta-method covariance
    (from the fit's own covariance).

    References
    ----------
    Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Journal of Applied Econometrics 16(3), 289-326.
    """
    terms = dict(zip(xs, level_names(y, xs, q)[1:], strict=True))
    terms.update({f: f for f in (fixed or [])})
    theta, jac = long_run_jacobian(res.params, y, terms)
    cov = jac @ res.cov_params().to_numpy() @ jac.T
    return theta, pd.DataFrame(cov, index=theta.index, columns=theta.index)


def long_run_jacobian(params: pd.Series, y: str, terms: dict[str, str]) -> tuple[pd.Series, np.ndarray]:
    """``theta_x = -b[term_x] / b[L1.y]`` and its Jacobian with respect to ``params``."""
    names = list(params.index)
    py = params[f"L1.{y}"]
    theta = pd.Series({x: -params[t] / py for x, t in terms.items()})
    jac = np.zeros((len(terms), len(names)))
    for i, t in enumerate(terms.values()):
        jac[i, names.index(t)] = -1.0 / py
        jac[i, names.index(f"L1.{y}")] = params[t] / py ** 2
    return theta, jac


def dynamic_multipliers(params: pd.Series, y: str, xs: list[str], p: int, q: tuple[int, ...], x: str,
                        horizons: int = 6) -> pd.Series:
    """Cumulative response of ``y`` to a permanent unit rise in ``x`` at horizon 0 .. ``horizons``
    (the J-curve of an exchange-rate change), from the UECM coefficients mapped back to the
    ARDL in levels; it converges to the long-run coefficient when the relation is stable.

    References
    ----------
    Pesaran, M. H. and Shin, Y. (1999), as in :func:`select_ardl`.
    """
    pi_y = params[f"L1.{y}"]
    gam = [params[f"L{i}.D.{y}"] for i in range(1, p)]
    a = np.zeros(p)
    a[0] = 1 + pi_y + (gam[0] if gam else 0.0)
    for i in range(1, p):
        a[i] = (gam[i] if i < len(gam) else 0.0) - gam[i - 1]
    j = xs.index(x)
    qj = q[j]
    if qj == 0:
        b = np.array([params[x]])
    else:
        omega = [params["D." + x if i == 0 else f"L{i}.D.{x}"] for i in range(qj)]
        b = np.zeros(qj + 1)
        for i in range(qj + 1):
            b[i] = (omega[i] if i < qj else 0.0) - (omega[i - 1] if i >= 1 else 0.0) + (params[f"L1.{x}"] if i == 1 else 0.0)
    m = np.zeros(horizons + 1)
    for h in range(horizons + 1):
        m[h] = sum(a[i] * m[h - 1 - i] for i in range(p) if h - 1 - i >= 0) + b[:h + 1].sum()
    return pd.Series(m, index=pd.RangeIndex(horizons + 1, name="horizon"), name=x)


@dataclass
class ARDLFit:
    """A fitted ARDL in error-correction form with its bounds test and diagnostics."""

    y: str
    xs: list[str]
    fixed: list[str]
    p: int
    q: tuple[int, ...]
    case: int
    result: object
    levels: pd.DataFrame
    selection: pd.DataFrame
    bounds: BoundsTest
    long_run: pd.Series
    long_run_cov: pd.DataFrame
    diagnostics: dict

    @property
    def order(self) -> str:
        return f"ARDL({self.p}, {', '.join(str(v) for v in self.q)})"

    @property
    def passes(self) -> bool:
        """A level relation supported by the bounds test (the decomposition's condition)."""
        return self.bounds.verdict == "cointegrated"

    def long_run_table(self) -> pd.DataFrame:
        se = np.sqrt(np.diag(self.long_run_cov))
        z = stats.norm.ppf(0.975)
        return pd.DataFrame({"estimate": self.long_run, "se": se, "ci_low": self.long_run - z * se,
                             "ci_high": self.long_run + z * se})


def fit_ardl(levels: pd.DataFrame, y: str, xs: list[str], fixed: list[str] | None = None, case: int = 3,
             max_p: int = 2, max_q: int = 2, ic: str = "bic", orders: tuple[int, tuple[int, ...]] | None = None,
             nsim: int = BOUNDS_NSIM, seed: int = SEED) -> ARDLFit:
    """Select the lag orders (:func:`select_ardl`, unless ``orders`` is given), fit the UECM on
    the common sample, run the bounds test with simulated critical values, and compute the
    long-run coefficients (regressors and fixed terms) with their delta-method covariance.

    References
    ----------
    Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Journal of Applied Econometrics 16(3), 289-326.
    """
    fixed = [f for f in (fixed or []) if levels[f].nunique() > 1]
    selection = select_ardl(levels, y, xs, fixed, case, max_p, max_q, ic)
    if orders is None:
        row = selection[selection["chosen"]].iloc[0]
        p, q = int(row["p"]), tuple(int(row[f"q {x}"]) for x in xs)
    else:
        p, q = orders
    first = max(max_p, max_q, 1)
    endog, exog = uecm_design(levels, y, xs, p, q, case, fixed, first)
    res = sm.OLS(endog, exog).fit()
    bounds = bounds_test(res, y, xs, p, q, case, len(levels), levels[fixed].to_numpy().T if fixed else None,
                         first, nsim, seed)
    theta, cov = long_run(res, y, xs, q, fixed)
    return ARDLFit(y, list(xs), fixed, p, q, case, res, levels, selection, bounds, theta, cov,
                   residual_diagnostics(res))


# ---------------------------------------------------------------- growth-rate model -----


@dataclass
class GrowthFit:
    """The first-difference (growth-rate) model: the fallback when no level relation passes."""

    y: str
    xs: list[str]
    rer_lags: int
    result: object
    levels: pd.DataFrame
    diagnostics: dict

    def terms(self) -> dict[str, list[tuple[str, int]]]:
        """Regressor -> its (column, lag) terms in the fit."""
        out = {}
        for x in self.xs:
            lags = range(self.rer_lags + 1) if x == "ln_rer" else range(1)
            out[x] = [("D." + x if i == 0 else f"L{i}.D.{x}", i) for i in lags]
        if "D.agreement" in self.result.params:
            out["agreement"] = [("D.agreement", 0)]
        return out


def fit_growth(levels: pd.DataFrame, y: str, xs: list[str], rer_lags: int = 1, first: int | None = None) -> GrowthFit:
    """OLS of ``d ln y`` on a constant, ``d ln x`` for each regressor, ``rer_lags`` lags of the
    real exchange rate's growth (the J-curve) and the change in the agreement step (an impulse in
    the year of entry); classical standard errors (the residual tests are reported beside).

    References
    ----------
    Goldstein, M. and Khan, M. S. (1985), as in the module references.
    """
    first = max(1 + rer_lags, 1) if first is None else first
    data = {}
    for x in xs:
        d = levels[x].diff()
        data["D." + x] = d
        if x == "ln_rer":
            for i in range(1, rer_lags + 1):
                data[f"L{i}.D.{x}"] = d.shift(i)
    if levels["agreement"].iloc[first:].diff().abs().sum() > 0:
        data["D.agreement"] = levels["agreement"].diff()
    exog = sm.add_constant(pd.DataFrame(data, index=levels.index), has_constant="add").iloc[first:]
    endog = levels[y].diff().iloc[first:].rename(f"D.{y}")
    res = sm.OLS(endog, exog).fit()
    return GrowthFit(y, list(xs), rer_lags, res, levels, residual_diagnostics(res))


# ---------------------------------------------------------------- unit roots ------------


def schwert_lags(nobs: int) -> int:
    """``l4 = floor(4 (T/100)^(1/4))`` (Schwert 1989): the bandwidth and maximum ADF lag used."""
    return int(np.floor(4 * (nobs / 100) ** 0.25))


def deterministic_rule(variable: str, differenced: bool) -> str:
    """The unit-root tests' deterministic terms: ``ct`` for the level of a trending variable
    (real flows, real GDP), ``c`` for the real exchange rate (no trend under purchasing-power
    parity) and for every first difference."""
    if differenced or variable in ("rer", "ln_rer"):
        return "c"
    return "ct"


def _unit_root_row(series: pd.Series, trend: str, bandwidth: int) -> dict:
    from arch.unitroot import ADF, KPSS, PhillipsPerron

    adf = ADF(series, trend=trend, max_lags=bandwidth, method="aic")
    pp = PhillipsPerron(series, lags=bandwidth, trend=trend, test_type="tau")
    kp = KPSS(series, lags=bandwidth, trend=trend)
    return {"ADF": adf.stat, "ADF p": adf.pvalue, "ADF lags": adf.lags, "PP": pp.stat, "PP p": pp.pvalue,
            "KPSS": kp.stat, "KPSS p": kp.pvalue}


def _verdict(row: dict, level: float = 0.05) -> str:
    unit = row["ADF p"] >= level and row["PP p"] >= level
    stationary = row["ADF p"] < level and row["PP p"] < level
    if unit and row["KPSS p"] < level:
        return "unit root"
    if stationary and row["KPSS p"] >= level:
        return "stationary"
    return "mixed"


def unit_root_table(levels: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """ADF, Phillips-Perron and KPSS on each log level and its first difference, with the
    deterministic terms of :func:`deterministic_rule` and the Schwert bandwidth; the verdict
    (``unit root`` when ADF and PP do not reject and KPSS does, ``stationary`` when the opposite,
    else ``mixed``) under the rule and under the other choice of deterministic terms; and the
    Zivot-Andrews test (one break in intercept and trend, or intercept only for the real
    exchange rate) on the levels.

    References
    ----------
    Dickey, D. A. and Fuller, W. A. (1979). JASA 74, 427-431. Phillips and Perron (1988);
    Kwiatkowski et al. (1992); Zivot and Andrews (1992); Schwert (1989): module references.
    """
    from arch.unitroot import ZivotAndrews
    from arch.utility.exceptions import InfeasibleTestException

    rows = []
    for c in columns:
        s = levels[c]
        for differenced, series in ((False, s), (True, s.diff().dropna())):
            label = f"d {c}" if differenced else c
            bw = schwert_lags(len(series))
            trend = deterministic_rule(c, differenced)
            other = "c" if trend == "ct" else "ct"
            main = _unit_root_row(series, trend, bw)
            alt = _unit_root_row(series, other, bw)
            row = {"series": label, "terms": trend, "bandwidth": bw, **main, "verdict": _verdict(main),
                   "verdict with the other terms": f"{_verdict(alt)} ({other})"}
            if not differenced:
                row.update({"ZA": np.nan, "ZA p": np.nan, "ZA lags": np.nan, "ZA break": "not computable"})
                try:
                    za = ZivotAndrews(series, trend="c" if trend == "c" else "ct", max_lags=bw, method="aic", trim=0.15)
                    position = int(np.argmin(_za_stats(series, za)))  # the first period of the shifted regime
                    row.update({"ZA": za.stat, "ZA p": za.pvalue, "ZA lags": za.lags, "ZA break": str(series.index[position])})
                except InfeasibleTestException:
                    pass  # too short or singular for the break regressions: left empty, stated
            rows.append(row)
    return pd.DataFrame(rows).set_index("series")


def _za_stats(series: pd.Series, za) -> np.ndarray:
    """The Zivot-Andrews t statistic at every candidate break (arch's trimming and lag order),
    to date the break: ``stats[b]`` is for a shift from period ``b`` on (``inf`` outside the range)."""
    y = series.to_numpy(dtype=float)
    T = len(y)
    trim = int(T * 0.15)
    lags = za.lags
    stats_ = np.full(T, np.inf)
    dy = np.diff(y)
    t = np.arange(T, dtype=float)
    for b in range(trim + 1, T - trim + 1):
        if b >= T:
            break
        du = (t >= b).astype(float)
        dt = np.where(t >= b, t - b + 1, 0.0)
        cols = [np.ones(T), du, t] + ([dt] if za.trend == "ct" else []) + [np.r_[np.nan, y[:-1]]]
        cols += [np.r_[np.full(i + 1, np.nan), dy[:-i]] for i in range(1, lags + 1)]
        X = np.column_stack(cols)[lags + 1:]
        res = sm.OLS(dy[lags:], X).fit()
        ylag = X.shape[1] - lags - 1
        stats_[b] = res.params[ylag] / res.bse[ylag]
    return stats_


# ---------------------------------------------------------------- cointegration ---------


def cointegration_tests(levels: pd.DataFrame, y: str, xs: list[str]) -> pd.DataFrame:
    """Residual-based tests of no cointegration on the static relation (constant, no agreement
    step: their critical values assume none): Engle-Granger (ADF on the residuals, lags by BIC
    up to ``l4``) and Phillips-Ouliaris (Z_t and P_z, Bartlett kernel, bandwidth ``l4``).

    References
    ----------
    Engle and Granger (1987); Phillips and Ouliaris (1990): module references.
    """
    from arch.unitroot.cointegration import engle_granger, phillips_ouliaris

    bw = schwert_lags(len(levels))
    rows = []
    eg = engle_granger(levels[y], levels[xs], trend="c", max_lags=bw, method="bic")
    rows.append({"test": "Engle-Granger (ADF t)", "statistic": eg.stat, "p-value": eg.pvalue,
                 "5% critical value": float(eg.critical_values[5]), "lags or bandwidth": eg.lags})
    for kind in ("Zt", "Pz"):
        po = phillips_ouliaris(levels[y], levels[xs], trend="c", test_type=kind, kernel="bartlett", bandwidth=bw)
        rows.append({"test": f"Phillips-Ouliaris {kind}", "statistic": po.stat, "p-value": po.pvalue,
                     "5% critical value": float(po.critical_values[5]), "lags or bandwidth": bw})
    out = pd.DataFrame(rows).set_index("test")
    out["rejects no cointegration (5%)"] = out["p-value"] < 0.05
    return out


def cointegrating_estimators(levels: pd.DataFrame, y: str, xs: list[str], leads_lags: int = 1) -> pd.DataFrame:
    """Long-run elasticities with standard errors from dynamic OLS (``leads_lags`` leads and lags
    of the differences, long-run-variance covariance, Bartlett bandwidth ``l4``) and fully
    modified OLS (Bartlett, bandwidth ``l4``), constant only (no agreement step).

    References
    ----------
    Stock and Watson (1993); Phillips and Hansen (1990): module references.
    """
    from arch.unitroot.cointegration import DynamicOLS, FullyModifiedOLS

    bw = schwert_lags(len(levels))
    dols = DynamicOLS(levels[y], levels[xs], trend="c", lags=leads_lags, leads=leads_lags).fit(
        cov_type="unadjusted", kernel="bartlett", bandwidth=bw)
    fmols = FullyModifiedOLS(levels[y], levels[xs], trend="c").fit(kernel="bartlett", bandwidth=bw)
    rows = []
    for name, res in (("DOLS", dols), ("FMOLS", fmols)):
        for x in xs:
            rows.append({"estimator": name, "term": x, "estimate": float(res.params[x]), "se": float(res.std_errors[x])})
    return pd.DataFrame(rows).set_index(["estimator", "term"])


def johansen_test(levels: pd.DataFrame, columns: list[str], max_lags: int = 2) -> tuple[pd.DataFrame, dict]:
    """Johansen's trace and maximum-eigenvalue tests (unrestricted constant), the VAR order by
    BIC up to ``max_lags`` (at least 1 lagged difference), the trace statistics also with the
    Reinsel-Ahn small-sample factor ``(T - n p) / T``; the rank is the first ``r`` whose adjusted
    trace statistic is below its 95% critical value; the first cointegrating vector is normalised
    on the first column (elasticities ``-beta_x / beta_y``; no standard errors).

    References
    ----------
    Johansen (1991); Reinsel and Ahn (1992): module references.
    """
    from statsmodels.tsa.vector_ar.vecm import coint_johansen, select_order

    data = levels[columns]
    order = select_order(data, maxlags=max_lags, deterministic="ci")
    k_ar_diff = max(int(order.bic), 1)
    res = coint_johansen(data, det_order=0, k_ar_diff=k_ar_diff)
    n = len(columns)
    T = len(data) - k_ar_diff - 1
    factor = (T - n * (k_ar_diff + 1)) / T
    table = pd.DataFrame({"eigenvalue": res.eig, "trace": res.lr1, "trace (small-sample)": res.lr1 * factor,
                          "trace 95% cv": res.cvt[:, 1], "max-eigenvalue": res.lr2, "max-eig 95% cv": res.cvm[:, 1]},
                         index=pd.Index([f"r <= {r}" for r in range(n)], name="null"))
    below = np.flatnonzero(table["trace (small-sample)"].to_numpy() < table["trace 95% cv"].to_numpy())
    rank = int(below[0]) if len(below) else n
    beta = res.evec[:, 0]
    elasticities = pd.Series({c: -beta[i] / beta[0] for i, c in enumerate(columns[1:], start=1)})
    return table, {"rank": rank, "lagged differences": k_ar_diff, "small-sample factor": factor,
                   "elasticities (first vector)": elasticities}


# ---------------------------------------------------------------- breaks ----------------


def chow_test(y: pd.Series, x: pd.DataFrame, break_at) -> dict:
    """Chow (1960) F test of equal coefficients before and from ``break_at``.

    References
    ----------
    Chow, G. C. (1960). Econometrica 28(3), 591-605.
    """
    exog = sm.add_constant(x, has_constant="add")
    before = y.index < break_at
    n, k = len(y), exog.shape[1]
    if before.sum() <= k or (~before).sum() <= k:
        raise MacroError(f"too few observations on one side of {break_at} for a Chow test")
    rss = sm.OLS(y, exog).fit().ssr
    rss1 = sm.OLS(y[before], exog[before]).fit().ssr
    rss2 = sm.OLS(y[~before], exog[~before]).fit().ssr
    f = ((rss - rss1 - rss2) / k) / ((rss1 + rss2) / (n - 2 * k))
    return {"F": f, "df1": k, "df2": n - 2 * k, "p_value": float(stats.f.sf(f, k, n - 2 * k))}


def _cusum_stats(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rec-CUSUM (max |W_r| / (1 + 2 t_r), W scaled by sigma sqrt(n)) and CUSUM-of-squares (max
    |S_r - t_r|) statistics of recursive residuals ``w`` (rows: draws)."""
    w = np.atleast_2d(w)
    n = w.shape[1]
    sigma = w.std(axis=1, ddof=1)
    process = np.cumsum(w, axis=1) / (sigma[:, None] * np.sqrt(n))
    t = np.arange(1, n + 1) / n
    cusum = np.max(np.abs(process) / (1 + 2 * t), axis=1)
    sq = np.cumsum(w ** 2, axis=1) / np.sum(w ** 2, axis=1)[:, None]
    cusumsq = np.max(np.abs(sq - t), axis=1)
    return cusum, cusumsq


def cusum_tests(res, nsim: int = CUSUM_NSIM, seed: int = SEED) -> dict:
    """Recursive-residual CUSUM and CUSUM-of-squares tests of parameter constancy.

    Recursive residuals from statsmodels (``recursive_olsresiduals``, scaled form). CUSUM: the
    cumulated residuals over ``sigma sqrt(n)`` against the boundary ``lambda (1 + 2 t)``; CUSUM of
    squares: the largest gap between the cumulated share of squares and ``t``. Both p-values and
    5% critical values are simulated (seeded) from the statistics' exact null distribution: under
    normal errors recursive residuals are independent N(0, sigma^2) (Brown et al. 1975).

    References
    ----------
    Brown, R. L., Durbin, J. and Evans, J. M. (1975). JRSS B 37(2), 149-192.
    """
    from statsmodels.stats.diagnostic import recursive_olsresiduals

    k = int(res.model.exog.shape[1])
    out = recursive_olsresiduals(res, skip=k)
    w = np.asarray(out[4])[k:]
    cusum, cusumsq = _cusum_stats(w)
    rng = np.random.default_rng(seed)
    null_c, null_s = _cusum_stats(rng.standard_normal((nsim, len(w))))
    labels = res.model.data.row_labels
    index = labels[k:] if labels is not None else pd.RangeIndex(k, k + len(w))
    return {"recursive residuals": pd.Series(w, index=index),
            "CUSUM": float(cusum[0]), "CUSUM 5% cv": float(np.quantile(null_c, 0.95)),
            "CUSUM p": float(np.mean(null_c >= cusum[0])),
            "CUSUM of squares": float(cusumsq[0]), "CUSUM of squares 5% cv": float(np.quantile(null_s, 0.95)),
            "CUSUM of squares p": float(np.mean(null_s >= cusumsq[0]))}


def _segment_ssr(y: np.ndarray, X: np.ndarray, h: int) -> np.ndarray:
    """SSR of OLS on every segment [i, j] (inclusive) at least ``h`` long; ``y`` (..., T)."""
    T = X.shape[0]
    lead = y.shape[:-1]
    ssr = np.full(lead + (T, T), np.inf)
    for i in range(T):
        for j in range(i + h - 1, T):
            Xs = X[i:j + 1]
            q, _ = np.linalg.qr(Xs)
            ys = y[..., i:j + 1]
            fitted = (ys @ q) @ q.T
            ssr[..., i, j] = np.sum((ys - fitted) ** 2, axis=-1)
    return ssr


def _optimal_partitions(ssr: np.ndarray, T: int, h: int, max_breaks: int) -> dict[int, tuple[float, tuple[int, ...]]]:
    """Global minimisers of the SSR with m = 0..max_breaks breaks (dynamic programming).
    Breaks are given as the index of the last observation of each regime but the last."""
    out = {0: (float(ssr[0, T - 1]), ())}
    # best[m][j]: min SSR of observations 0..j with m breaks, and the partition
    best = {0: {j: (ssr[0, j], ()) for j in range(T)}}
    for m in range(1, max_breaks + 1):
        best[m] = {}
        for j in range((m + 1) * h - 1, T):
            cand = [(best[m - 1][b][0] + ssr[b + 1, j], best[m - 1][b][1] + (b,))
                    for b in range(m * h - 1, j - h + 1) if b in best[m - 1]]
            if cand:
                best[m][j] = min(cand, key=lambda c: c[0])
        if T - 1 in best[m]:
            out[m] = (float(best[m][T - 1][0]), best[m][T - 1][1])
    return out


def _sup_f_draws(y: np.ndarray, X: np.ndarray, h: int, max_breaks: int) -> tuple[np.ndarray, np.ndarray]:
    """sup-F(m) for m = 1..max_breaks and sup-F(2|1) for many ``y`` draws (rows)."""
    T, q = X.shape
    ssr = _segment_ssr(y, X, h)
    S = y.shape[0]
    ssr0 = ssr[:, 0, T - 1]
    supf = np.zeros((S, max_breaks))
    # one break
    b1 = np.arange(h - 1, T - h)
    s1 = ssr[:, 0, b1] + ssr[:, b1 + 1, T - 1]
    ssr1 = s1.min(axis=1)
    arg1 = b1[np.argmin(s1, axis=1)]
    supf[:, 0] = ((ssr0 - ssr1) / q) / (ssr1 / (T - 2 * q))
    if max_breaks >= 2:
        best2 = np.full(S, np.inf)
        for a in range(h - 1, T - 2 * h):
            for b in range(a + h, T - h):
                best2 = np.minimum(best2, ssr[:, 0, a] + ssr[:, a + 1, b] + ssr[:, b + 1, T - 1])
        supf[:, 1] = ((ssr0 - best2) / (2 * q)) / (best2 / (T - 3 * q))
    # sequential sup-F(2|1): one more break inside either regime of the one-break partition
    seq = np.zeros(S)
    for s in range(S):
        b = arg1[s]
        gains = []
        for lo, hi in ((0, b), (b + 1, T - 1)):
            whole = ssr[s, lo, hi]
            splits = [ssr[s, lo, c] + ssr[s, c + 1, hi] for c in range(lo + h - 1, hi - h + 1)]
            if splits:
                gains.append(whole - min(splits))
        seq[s] = max(gains) / (ssr1[s] / (T - 2 * q)) / q if gains else 0.0
    return supf, seq


def bai_perron(y: pd.Series, x: pd.DataFrame, max_breaks: int = 2, trim: float = 0.15,
               nsim: int = BREAKS_NSIM, seed: int = SEED) -> dict:
    """Multiple structural breaks at unknown dates in all coefficients of ``y ~ 1 + x``.

    Break dates minimise the total SSR for each number of breaks (dynamic programming over
    regimes at least ``h = ceil(trim T)`` long). Tests: sup-F(m) of no break against m breaks
    (m = 1..``max_breaks``) and the sequential sup-F(2|1) of one break against two. The p-values
    are simulated (seeded, ``nsim`` draws) with the regressors held fixed and normal errors:
    under no break for sup-F(m), under the estimated one-break model for sup-F(2|1). With I(1)
    regressors (a levels relation) these simulated p-values condition on the observed regressors.

    Returns
    -------
    dict
        ``breaks`` (DataFrame by m: SSR, BIC, break dates), ``tests`` (DataFrame: statistic,
        p-value), ``h``, ``number of breaks`` (sequential rule at 5%).

    References
    ----------
    Bai, J. and Perron, P. (1998). Econometrica 66(1), 47-78. Bai, J. and Perron, P. (2003).
    Journal of Applied Econometrics 18(1), 1-22.
    """
    X = sm.add_constant(x, has_constant="add").to_numpy()
    yv = y.to_numpy()
    T, q = X.shape
    h = int(np.ceil(trim * T))
    if h <= q or (max_breaks + 1) * h > T:
        raise MacroError(f"too few observations ({T}) for {max_breaks} breaks with regimes of {h} periods and {q} coefficients")
    ssr = _segment_ssr(yv[None, :], X, h)[0]
    parts = _optimal_partitions(ssr, T, h, max_breaks)
    rows = []
    for m, (s, b) in parts.items():
        bic = T * np.log(s / T) + (q * (m + 1) + m) * np.log(T)
        rows.append({"breaks": m, "SSR": s, "BIC": bic, "break dates": ", ".join(str(y.index[i + 1]) for i in b)})
    table = pd.DataFrame(rows).set_index("breaks")
    supf, seq = _sup_f_draws(yv[None, :], X, h, max_breaks)
    rng = np.random.default_rng(seed)
    fit0 = sm.OLS(yv, X).fit()
    null0 = fit0.fittedvalues[None, :] + np.sqrt(fit0.scale) * rng.standard_normal((nsim, T))
    supf0, _ = _sup_f_draws(null0, X, h, max_breaks)
    b1 = parts[1][1][0]
    regimes = [slice(0, b1 + 1), slice(b1 + 1, T)]
    fitted1 = np.zeros(T)
    for r in regimes:
        fitted1[r] = sm.OLS(yv[r], X[r]).fit().fittedvalues
    sigma1 = np.sqrt(parts[1][0] / (T - 2 * q))
    null1 = fitted1[None, :] + sigma1 * rng.standard_normal((nsim, T))
    _, seq1 = _sup_f_draws(null1, X, h, max_breaks)
    tests = [{"test": f"sup-F({m}) (0 vs {m} breaks)", "statistic": float(supf[0, m - 1]),
              "p-value": float(np.mean(supf0[:, m - 1] >= supf[0, m - 1]))} for m in range(1, max_breaks + 1)]
    tests.append({"test": "sup-F(2|1) (1 vs 2 breaks)", "statistic": float(seq[0]),
                  "p-value": float(np.mean(seq1 >= seq[0]))})
    tests = pd.DataFrame(tests).set_index("test")
    number = 0
    if tests.iloc[0]["p-value"] < 0.05:
        number = 1 + int(tests.loc["sup-F(2|1) (1 vs 2 breaks)", "p-value"] < 0.05)
    return {"breaks": table, "tests": tests, "h": h, "number of breaks": number,
            "break dates": table.loc[number, "break dates"] if number else "none"}


# ---------------------------------------------------------------- one equation ----------


@dataclass
class EquationResults:
    """Everything estimated for one trade equation."""

    label: str
    y: str
    xs: list[str]
    levels: pd.DataFrame
    static: object
    ardl: ARDLFit
    growth: GrowthFit
    cointegration: pd.DataFrame
    estimators: pd.DataFrame
    johansen: tuple[pd.DataFrame, dict]
    notes: list[str] = field(default_factory=list)

    @property
    def uses_long_run(self) -> bool:
        return self.ardl.passes

    @property
    def model(self) -> str:
        return "long-run ARDL" if self.uses_long_run else "growth-rate model"

    def verdict(self) -> str:
        """One line: the bounds verdict and what the other tests say."""
        others = ", ".join(f"{t} p={p:.3f}" for t, p in self.cointegration["p-value"].items())
        joh = self.johansen[1]["rank"]
        return (f"{self.label}: bounds test {self.ardl.bounds.verdict} (F={self.ardl.bounds.F:.2f}, "
                f"5% I(1) bound {self.ardl.bounds.critical_values.loc['5%', 'F I(1)']:.2f}, "
                f"p={self.ardl.bounds.p_values['F I(1)']:.3f}); {others}; Johansen rank {joh}")


def estimate_equation(frame: pd.DataFrame, label: str, flow: str, regressors: list[str], start, end,
                      frequency: str = "annual", hac_lags: int = 2, case: int = 3, ic: str = "bic",
                      rer_lags: int = 1, nsim: int = BOUNDS_NSIM, seed: int = SEED) -> EquationResults:
    """Estimate one trade equation every way the decomposition and its checks need: static
    levels (Newey-West; descriptive), ARDL/UECM with the bounds test, the growth-rate model,
    Engle-Granger and Phillips-Ouliaris tests, DOLS and FMOLS, and Johansen's test.

    References
    ----------
    See the module references (Pesaran et al. 2001; Stock and Watson 1993; Phillips and Hansen
    1990; Johansen 1991).
    """
    if frequency not in MAX_LAGS:
        raise ParameterError("frequency", frequency, list(MAX_LAGS))
    levels = log_levels(frame, flow, regressors, start, end)
    y = f"ln_{flow}"
    xs = [f"ln_{r}" for r in regressors]
    max_p, max_q = MAX_LAGS[frequency]
    if len(levels) < 4 * (len(xs) + 2) or levels.shape[0] <= max(max_p, max_q) + 2 * (len(xs) + 2):
        raise MacroError(f"{label}: {len(levels)} periods are too few for an ARDL with {len(xs)} regressors")
    static_x = levels[xs + (["agreement"] if levels["agreement"].nunique() > 1 else [])]
    static = ols_newey_west(levels[y], static_x, hac_lags)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ardl = fit_ardl(levels, y, xs, ["agreement"], case, max_p, max_q, ic, nsim=nsim, seed=seed)
        growth = fit_growth(levels, y, xs, rer_lags if "ln_rer" in xs else 0, first=max(max_p, max_q, 1))
        coint = cointegration_tests(levels, y, xs)
        estimators = cointegrating_estimators(levels, y, xs)
        johansen = johansen_test(levels, [y, *xs], max_lags=max_p)
    return EquationResults(label, y, xs, levels, static, ardl, growth, coint, estimators, johansen)


def elasticity_table(eqs: dict[str, EquationResults]) -> pd.DataFrame:
    """Long-run elasticities by estimator (ARDL with s.e., DOLS and FMOLS with s.e., Johansen
    point estimates, static levels with Newey-West s.e.) and the growth model's short-run ones."""
    rows = []
    for label, eq in eqs.items():
        lr = eq.ardl.long_run_table()
        for term in eq.xs + eq.ardl.fixed:
            rows.append({"equation": label, "term": term, "estimator": "ARDL long run",
                         "estimate": lr.loc[term, "estimate"], "se": lr.loc[term, "se"]})
        for (est, term), r in eq.estimators.iterrows():
            rows.append({"equation": label, "term": term, "estimator": est, "estimate": r["estimate"], "se": r["se"]})
        for term, v in eq.johansen[1]["elasticities (first vector)"].items():
            rows.append({"equation": label, "term": term, "estimator": "Johansen (first vector)", "estimate": v, "se": np.nan})
        for term in eq.static.params.index.drop("const"):
            rows.append({"equation": label, "term": term, "estimator": "static levels (Newey-West)",
                         "estimate": eq.static.params[term], "se": eq.static.bse[term]})
        g = eq.growth.result
        for term in g.params.index.drop("const"):
            rows.append({"equation": label, "term": term, "estimator": "growth-rate model (short run)",
                         "estimate": g.params[term], "se": g.bse[term]})
    return pd.DataFrame(rows).set_index(["equation", "term", "estimator"])


def lag_and_diagnostics_table(eqs: dict[str, EquationResults]) -> pd.DataFrame:
    """Per equation: the selected order and the rule, the error-correction coefficient, the
    residual tests of the UECM and of the growth model, and the bounds test."""
    out = {}
    for label, eq in eqs.items():
        a = eq.ardl
        d, g = a.diagnostics, eq.growth.diagnostics
        rows = {"ARDL order": a.order, "selection rule": a.selection.attrs["rule"], "observations": int(a.result.nobs),
                "error-correction coefficient": float(a.result.params[f"L1.{a.y}"]),
                "UECM Breusch-Godfrey p (2 lags)": d["Breusch-Godfrey p"], "UECM Jarque-Bera p": d["Jarque-Bera p"],
                "UECM Breusch-Pagan p": d["Breusch-Pagan p"]}
        rows.update({f"bounds {k}": v for k, v in a.bounds.table().items()})
        rows.update({"growth model Breusch-Godfrey p": g["Breusch-Godfrey p"], "growth model Jarque-Bera p": g["Jarque-Bera p"],
                     "growth model Breusch-Pagan p": g["Breusch-Pagan p"], "model used in the decomposition": eq.model})
        out[label] = pd.Series(rows, dtype=object)
    return pd.DataFrame(out)


def j_curve(eqs: dict[str, EquationResults], horizons: int = 5) -> pd.DataFrame:
    """Cumulative response of each flow to a permanent 1% real depreciation of the partner's
    currency (ARDL dynamic multipliers), beside its long-run value."""
    cols = {}
    for label, eq in eqs.items():
        a = eq.ardl
        if "ln_rer" in a.xs:
            m = dynamic_multipliers(a.result.params, a.y, a.xs, a.p, a.q, "ln_rer", horizons)
            cols[label] = pd.concat([m.rename(index=lambda h: f"period {h}"), pd.Series({"long run": a.long_run["ln_rer"]})])
    return pd.DataFrame(cols)


def break_tests(eq: EquationResults, break_at, max_breaks: int = 2, nsim: int = BREAKS_NSIM, seed: int = SEED) -> dict:
    """Chow test at ``break_at`` and Bai-Perron on the static relation without the agreement step
    (which would absorb the break it tests); recursive CUSUM and CUSUM of squares on the UECM."""
    y = eq.levels[eq.y]
    x = eq.levels[eq.xs]
    out = {}
    if break_at is not None:
        try:
            chow = chow_test(y, x, break_at)
            out.update({"Chow F": chow["F"], "Chow p": chow["p_value"]})
        except MacroError:  # the entry is too near an end of this equation's sample
            out.update({"Chow F": np.nan, "Chow p": np.nan})
    bp = bai_perron(y, x, max_breaks=max_breaks, nsim=nsim, seed=seed)
    for test, r in bp["tests"].iterrows():
        out[f"{test}"] = r["statistic"]
        out[f"{test} p"] = r["p-value"]
    out["Bai-Perron breaks (sequential, 5%)"] = bp["number of breaks"]
    out["Bai-Perron break dates"] = bp["break dates"]
    out["Bai-Perron dates if 1 break"] = bp["breaks"].loc[1, "break dates"]
    cs = cusum_tests(stability_fit(eq), seed=seed)
    out.update({k: v for k, v in cs.items() if k != "recursive residuals"})
    return out


def stability_fit(eq: EquationResults):
    """The selected UECM without the agreement step, for the recursive tests: a step that is zero
    for the first regimes makes the first recursive regressions singular, and it is itself the kind
    of break the CUSUM tests should see."""
    a = eq.ardl
    endog, exog = uecm_design(a.levels, a.y, a.xs, a.p, a.q, a.case, None, int(len(a.levels) - a.result.nobs))
    return sm.OLS(endog, exog).fit()


# ---------------------------------------------------------------- decomposition ---------


def _logmean(a: float, b: float) -> float:
    return a if np.isclose(a, b) else (a - b) / (np.log(a) - np.log(b))


_COMPONENT = {"ln_us_demand": INCOME, "ln_partner_demand": INCOME, "ln_rer": RER, "ln_partner_supply": SUPPLY,
              "agreement": AGREEMENT}


@dataclass
class FlowParts:
    """One flow's change split into parts (US$ million), each a function of the fit's coefficients."""

    label: str
    model: str
    parts: pd.Series            # component -> US$ million (price, model parts, misfit; sums to the total)
    gradients: pd.DataFrame     # component -> gradient over the fit's parameters (model parts only)
    total: float


def flow_parts(eq: EquationResults, frame: pd.DataFrame, base, compare) -> FlowParts:
    """Split the change in one nominal flow between ``base`` and ``compare``.

    ``d ln V_nominal = d ln P + d ln V_real``; the real change is split by the model the equation
    passes for: the long-run ARDL elasticities (``theta_x d ln x``, ``theta_A d A``) when its level
    relation passes the bounds test, else the growth-rate model (its coefficients times the summed
    growth of each regressor over the years ``base+1 .. compare``, the constant times the number
    of years as trend growth). What the model does not explain is the misfit. Dollars: each log
    part times the logarithmic mean ``L(V1, V0)`` of the nominal flow, so the parts add up
    exactly to ``V1 - V0``.
    """
    flow = eq.y.removeprefix("ln_").removesuffix("_real")
    nominal = frame[f"{flow}_nominal"]
    price = frame[f"{flow}_price"]
    v0, v1 = float(nominal.loc[base]), float(nominal.loc[compare])
    weight = _logmean(v1, v0)
    total_log = np.log(v1 / v0)
    price_log = float(np.log(price.loc[compare] / price.loc[base]))
    levels = eq.levels
    if base not in levels.index or compare not in levels.index:
        raise MacroError(f"{eq.label}: {base}->{compare} is outside the estimation sample "
                         f"{levels.index.min()}-{levels.index.max()}")
    parts, grads = {}, {}
    if eq.uses_long_run:
        res = eq.ardl.result
        terms = dict(zip(eq.xs, level_names(eq.y, eq.xs, eq.ardl.q)[1:], strict=True))
        terms.update({f: f for f in eq.ardl.fixed})
        theta, jac = long_run_jacobian(res.params, eq.y, terms)
        for i, x in enumerate(theta.index):
            dx = float(levels.loc[compare, x] - levels.loc[base, x])
            comp = _COMPONENT[x]
            parts[comp] = parts.get(comp, 0.0) + weight * theta[x] * dx
            grads[comp] = grads.get(comp, 0.0) + weight * dx * jac[i]
        names = list(res.params.index)
    else:
        res = eq.growth.result
        names = list(res.params.index)
        years = levels.loc[base:compare].index[1:]
        for x, terms in eq.growth.terms().items():
            comp = _COMPONENT[x]
            g = np.zeros(len(names))
            for col, lag in terms:
                series = levels[x].diff().shift(lag) if x != "agreement" else levels["agreement"].diff().shift(lag)
                g[names.index(col)] += weight * float(series.loc[years].sum())
            parts[comp] = parts.get(comp, 0.0) + float(g @ res.params.to_numpy())
            grads[comp] = grads.get(comp, 0.0) + g
        g = np.zeros(len(names))
        g[names.index("const")] = weight * len(years)
        parts[DRIFT] = float(g @ res.params.to_numpy())
        grads[DRIFT] = g
    model_sum = sum(parts.values())
    out = {PRICES: weight * price_log, **parts, MISFIT: weight * (total_log - price_log) - model_sum}
    grads[MISFIT] = -sum(grads.values())
    gradients = pd.DataFrame(grads, index=names).T
    return FlowParts(eq.label, eq.model, pd.Series(out), gradients, v1 - v0)


def joint_covariance(fits: dict[str, object]) -> pd.DataFrame:
    """The joint covariance of equation-by-equation OLS coefficients of several equations.

    Within an equation, its classical OLS covariance. Across equations i and j, the
    seemingly-unrelated-regressions form ``s_ij (X_i'X_i)^-1 X_i'X_j (X_j'X_j)^-1`` with the
    cross products over the periods both equations cover and ``s_ij = u_i'u_j / sqrt((n_i -
    k_i)(n_j - k_j))`` over those periods (Zellner 1962): the two flows' errors are correlated, so
    parts of the balance that combine both equations need this covariance.

    References
    ----------
    Zellner, A. (1962). JASA 57(298), 348-368.
    """
    labels = list(fits)
    index = pd.MultiIndex.from_tuples([(lab, n) for lab in labels for n in fits[lab].params.index])
    cov = pd.DataFrame(0.0, index=index, columns=index)
    for a in labels:
        cov.loc[a, a] = fits[a].cov_params().to_numpy()
    for a, b in itertools.combinations(labels, 2):
        fa, fb = fits[a], fits[b]
        common = fa.model.data.row_labels.intersection(fb.model.data.row_labels)
        xa = pd.DataFrame(fa.model.exog, index=fa.model.data.row_labels)
        xb = pd.DataFrame(fb.model.exog, index=fb.model.data.row_labels)
        ua, ub = fa.resid.loc[common], fb.resid.loc[common]
        s_ab = float(ua @ ub) / np.sqrt(fa.df_resid * fb.df_resid)
        ia, ib = np.linalg.inv(fa.model.exog.T @ fa.model.exog), np.linalg.inv(fb.model.exog.T @ fb.model.exog)
        block = s_ab * ia @ xa.loc[common].to_numpy().T @ xb.loc[common].to_numpy() @ ib
        cov.loc[a, b] = block
        cov.loc[b, a] = block.T
    return cov


def decompose_balance(eqs: dict[str, EquationResults], frame: pd.DataFrame, base, compare,
                      level: float = 0.95) -> tuple[pd.DataFrame, dict]:
    """The change in the US balance (exports minus imports, US$ million) split into trade prices,
    income, partner supply, the real exchange rate, the agreement step, trend growth and misfit,
    with delta-method intervals over the joint covariance of both equations
    (:func:`joint_covariance`). Without an export equation the export side is left out (the
    parts are the import side's, with the balance's sign).

    Returns
    -------
    (DataFrame, dict)
        Parts by component (``exports, imports, balance, se, ci_low, ci_high``; rows add up to the
        ``total`` row) and the pieces for :func:`macro_share` (gradients, covariance, totals).
    """
    sides = {label: flow_parts(eq, frame, base, compare) for label, eq in eqs.items()}
    fits = {label: (eq.ardl.result if eq.uses_long_run else eq.growth.result) for label, eq in eqs.items()}
    cov = joint_covariance(fits)
    sign = {label: (1.0 if "export" in label.lower() else -1.0) for label in eqs}
    comps = [PRICES, INCOME, SUPPLY, RER, AGREEMENT, DRIFT, MISFIT]
    comps = [c for c in comps if any(c in s.parts.index for s in sides.values())]
    z = stats.norm.ppf(0.5 + level / 2)
    rows = {}
    grads = {}
    for c in comps:
        g = pd.Series(0.0, index=cov.index)
        row = {"exports": 0.0, "imports": 0.0}
        for label, s in sides.items():
            side = "exports" if sign[label] > 0 else "imports"
            row[side] = float(s.parts.get(c, 0.0))
            if c in s.gradients.index:
                g.loc[label] = sign[label] * s.gradients.loc[c].to_numpy()
        row["balance"] = row["exports"] - row["imports"]
        grads[c] = g
        if c == PRICES:
            row.update({"se": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        else:
            se = float(np.sqrt(g.to_numpy() @ cov.to_numpy() @ g.to_numpy()))
            row.update({"se": se, "ci_low": row["balance"] - z * se, "ci_high": row["balance"] + z * se})
        rows[c] = row
    table = pd.DataFrame(rows).T[["exports", "imports", "balance", "se", "ci_low", "ci_high"]].astype(float)
    totals = {"exports": 0.0, "imports": 0.0}
    for label, s in sides.items():
        totals["exports" if sign[label] > 0 else "imports"] = s.total
    table.loc[TOTAL] = [totals["exports"], totals["imports"], totals["exports"] - totals["imports"], np.nan, np.nan, np.nan]
    table.index.name = "component"
    return table, {"gradients": grads, "covariance": cov, "level": level, "sides": sides,
                   "models": {label: s.model for label, s in sides.items()}}


def macro_share(table: pd.DataFrame, pieces: dict, components: tuple[str, ...] = (INCOME, RER)) -> pd.Series:
    """Share of the balance change due to income and the real exchange rate, with a delta-method
    interval over the joint covariance (the total change is data, not estimated)."""
    rows = [c for c in components if c in table.index]
    total = table.loc[TOTAL, "balance"]
    if total == 0 or not rows:
        raise MacroError("no change in the balance or no macro part: the macro share is undefined")
    share = table.loc[rows, "balance"].sum() / total
    g = sum(pieces["gradients"][c] for c in rows) / total
    se = float(np.sqrt(g.to_numpy() @ pieces["covariance"].to_numpy() @ g.to_numpy()))
    z = stats.norm.ppf(0.5 + pieces["level"] / 2)
    return pd.Series({"macro share": share, "se": se, "ci_low": share - z * se, "ci_high": share + z * se})


# ---------------------------------------------------------------- other tables ----------


def savings_investment(worldbank: pd.DataFrame, partner: str, bilateral: pd.Series, us_gdp: pd.Series) -> pd.DataFrame:
    """Saving, investment and current account (% of GDP) of the US and the partner beside
    the bilateral goods balance (% of US GDP)."""
    codes = {"NY.GNS.ICTR.ZS": "gross saving", "NE.GDI.TOTL.ZS": "gross capital formation",
             "BN.CAB.XOKA.GD.ZS": "current account"}
    rows = worldbank[worldbank["indicator_code"].isin(codes) & worldbank["iso3"].isin(["USA", partner])]
    if partner not in set(rows["iso3"]):
        raise MacroError(f"no World Bank saving and investment data for {partner}")
    wide = rows.assign(name=rows["iso3"] + " " + rows["indicator_code"].map(codes)).pivot(
        index="year", columns="name", values="value")
    wide[f"US goods balance with {partner}, % of US GDP"] = (bilateral / us_gdp * 100).reindex(wide.index)
    return wide.dropna()


# ---------------------------------------------------------------- figures ---------------


def cusum_figure(eqs: dict[str, EquationResults], seed: int = SEED):
    """Recursive CUSUM and CUSUM of squares of each UECM with their simulated 5% boundaries."""
    import matplotlib.pyplot as plt

    from . import plots

    fig, axes = plt.subplots(2, len(eqs), figsize=(6 * len(eqs), 6), squeeze=False)
    for j, (label, eq) in enumerate(eqs.items()):
        cs = cusum_tests(stability_fit(eq), seed=seed)
        w = cs["recursive residuals"]
        n = len(w)
        t = np.arange(1, n + 1) / n
        x = w.index.to_timestamp() if hasattr(w.index, "to_timestamp") else w.index
        process = np.cumsum(w) / (w.std(ddof=1) * np.sqrt(n))
        ax = axes[0, j]
        ax.plot(x, process, color="navy")
        ax.plot(x, cs["CUSUM 5% cv"] * (1 + 2 * t), color="firebrick", linestyle="--")
        ax.plot(x, -cs["CUSUM 5% cv"] * (1 + 2 * t), color="firebrick", linestyle="--")
        ax.set_title(f"{label}: recursive CUSUM (p = {cs['CUSUM p']:.2f})")
        ax.set_ylabel("scaled cumulative sum of\nrecursive residuals")
        ax = axes[1, j]
        sq = np.cumsum(w ** 2) / np.sum(w ** 2)
        ax.plot(x, sq, color="navy")
        ax.plot(x, t + cs["CUSUM of squares 5% cv"], color="firebrick", linestyle="--")
        ax.plot(x, t - cs["CUSUM of squares 5% cv"], color="firebrick", linestyle="--")
        ax.set_title(f"{label}: CUSUM of squares (p = {cs['CUSUM of squares p']:.2f})")
        ax.set_ylabel("cumulative share of the\nsquared recursive residuals")
    for ax in axes.ravel():
        if hasattr(x, "year"):
            plots.date_axis(ax)
        ax.set_xlabel("period (end of the recursive sample)")
    axes[0, 0].plot([], [], color="firebrick", linestyle="--", label="5% boundaries (simulated)")
    axes[0, 0].plot([], [], color="navy", label="statistic")
    axes[0, 0].legend(loc="upper left", fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def decomposition_figure(table: pd.DataFrame, partner: str, span: str):
    """The balance change's parts (US$ bn) with their 95% intervals."""
    import matplotlib.pyplot as plt

    parts = table.drop(index=TOTAL)
    fig, ax = plt.subplots(figsize=(9, 4))
    y = np.arange(len(parts))
    ax.barh(y, parts["balance"] / 1e3, color="steelblue")
    has = parts["ci_low"].notna()
    ax.errorbar(parts.loc[has, "balance"] / 1e3, y[has.to_numpy()],
                xerr=[(parts.loc[has, "balance"] - parts.loc[has, "ci_low"]) / 1e3,
                      (parts.loc[has, "ci_high"] - parts.loc[has, "balance"]) / 1e3], fmt="none", color="black")
    ax.set_yticks(y, parts.index)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("US$ bn")
    ax.set_title(f"Change in the US goods balance with {partner}, {span}: parts (total {table.loc[TOTAL, 'balance'] / 1e3:+.1f} bn)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- rules, results, findings


def prefer_supply(with_supply: EquationResults, level: float = 0.95) -> tuple[bool, str]:
    """The rule for the partner-supply term (Gagnon 2003) in the import equation: it is kept when
    the equation with it passes the bounds test and the supply term's long-run coefficient has a
    ``level`` interval that excludes zero; otherwise the baseline import equation is used."""
    a = with_supply.ardl
    lr = a.long_run_table().loc["ln_partner_supply"]
    z = stats.norm.ppf(0.5 + level / 2)
    low, high = lr["estimate"] - z * lr["se"], lr["estimate"] + z * lr["se"]
    text = (f"partner supply: long-run elasticity {lr['estimate']:.2f} (95% interval {low:.2f} to {high:.2f}) in "
            f"{a.order}, bounds test {a.bounds.verdict}")
    keep = a.passes and (low > 0 or high < 0)
    return keep, text + ("; kept in the import equation" if keep else "; not supported, the baseline import equation is used")


def model_check(eq: EquationResults) -> tuple[bool, str]:
    """Whether the model the decomposition uses for ``eq`` passes its checks, and why."""
    b = eq.ardl.bounds
    cv = b.critical_values.loc["5%"]
    bounds = (f"bounds F {b.F:.2f} vs 5% I(1) bound {cv['F I(1)']:.2f}, t {b.t:.2f} vs {cv['t I(1)']:.2f} "
              f"(simulated for T={b.nobs}, k={b.k})")
    if eq.uses_long_run:
        ok, diag = diagnostics_pass(eq.ardl.diagnostics)
        return ok, f"{eq.label}: long-run {eq.ardl.order}, level relation supported ({bounds}); {diag}"
    ok, diag = diagnostics_pass(eq.growth.diagnostics)
    return ok, (f"{eq.label}: no level relation (bounds test {b.verdict}: {bounds}), growth-rate model used; "
                f"its {diag}")


def _elasticity(eq: EquationResults, term: str, level: float = 0.95) -> tuple[float, float, float, str]:
    z = stats.norm.ppf(0.5 + level / 2)
    if eq.uses_long_run:
        lr = eq.ardl.long_run_table().loc[term]
        value, se, name = lr["estimate"], lr["se"], f"trade equation: long-run {eq.ardl.order} (bounds test)"
    else:
        g = eq.growth.result
        value, se, name = g.params["D." + term], g.bse["D." + term], "trade equation: growth-rate model (short run)"
    return float(value), float(value - z * se), float(value + z * se), name


def estimate_rows(eqs: dict[str, EquationResults], table: pd.DataFrame | None, share: pd.Series | None,
                  span: str) -> list[dict]:
    """Rows for the study's estimate table (:mod:`korus_research.results`): elasticities from
    the model each equation passes for (then DOLS and FMOLS beside them), the balance change's
    parts and the macro share with their joint-covariance intervals, and the bounds statistics.
    Diagnostics are ``passed`` only when the model used passes its checks (a level relation for
    the long-run reading; residual tests for either model); the agreement step counts as a
    level effect only when every equation has a level relation."""
    from .results import to_bn

    rows = []
    names = {"ln_us_demand": "income elasticity of US imports", "ln_partner_demand": "income elasticity of US exports"}
    for label, eq in eqs.items():
        ok, detail = model_check(eq)
        for term in eq.xs:
            quantity = names.get(term) or (f"real-exchange-rate elasticity of {label}" if term == "ln_rer"
                                           else f"partner-supply elasticity of {label}")
            value, low, high, estimator = _elasticity(eq, term)
            rows.append({"quantity": quantity, "estimator": estimator, "unit": "elasticity", "value": value,
                         "low": low, "high": high, "diagnostics": "passed" if ok else "failed",
                         "diagnostics_detail": detail})
            for name in ("DOLS", "FMOLS"):
                if (name, term) in eq.estimators.index:
                    r = eq.estimators.loc[(name, term)]
                    z = stats.norm.ppf(0.975)
                    rows.append({"quantity": quantity, "estimator": f"trade equation: {name} (constant, no agreement step)",
                                 "unit": "elasticity", "value": r["estimate"], "low": r["estimate"] - z * r["se"],
                                 "high": r["estimate"] + z * r["se"],
                                 "diagnostics": "passed" if eq.uses_long_run else "failed",
                                 "diagnostics_detail": ("valid under cointegration: " + detail)})
        b = eq.ardl.bounds
        rows.append({"quantity": f"bounds test F of the {label} equation", "estimator": f"{eq.ardl.order}, case {b.case}",
                     "unit": "statistic", "value": b.F, "diagnostics": "passed" if b.verdict == "cointegrated" else "failed",
                     "diagnostics_detail": (f"5% bounds {b.critical_values.loc['5%', 'F I(0)']:.2f} / "
                                            f"{b.critical_values.loc['5%', 'F I(1)']:.2f} (simulated, {b.nsim} draws, "
                                            f"seed {b.seed}); p (all I(1)) {b.p_values['F I(1)']:.4f}; {b.verdict}")})
    if table is None:
        return rows
    checks = [model_check(eq) for eq in eqs.values()]
    all_ok = all(ok for ok, _ in checks)
    detail = "; ".join(d for _, d in checks)
    models = ", ".join(f"{label}: {eq.model}" for label, eq in eqs.items())
    estimator = f"trade equations ({models}; joint covariance)"
    bn = table.copy()
    for c in ("exports", "imports", "balance", "se", "ci_low", "ci_high"):
        bn[c] = to_bn(bn[c], "US$ million")
    parts = {INCOME: "balance change due to income", RER: "balance change due to the real exchange rate",
             AGREEMENT: "agreement effect on the balance change", SUPPLY: "balance change due to partner supply",
             DRIFT: "balance change due to trend growth in the trade equations",
             MISFIT: "balance change left unexplained by the trade equations",
             PRICES: "balance change due to trade prices"}
    level_everywhere = all(eq.uses_long_run for eq in eqs.values())
    for comp, quantity in parts.items():
        if comp not in bn.index:
            continue
        r = bn.loc[comp]
        row = {"quantity": quantity, "estimator": estimator, "period": span, "unit": "US$ bn", "value": r["balance"],
               "diagnostics": "passed" if all_ok else "failed", "diagnostics_detail": detail}
        if pd.notna(r["ci_low"]):
            row.update({"low": r["ci_low"], "high": r["ci_high"]})
        if comp == PRICES:
            row.update({"diagnostics": "not tested", "diagnostics_detail": "data: the deflators' change"})
        if comp == AGREEMENT and not level_everywhere:
            row.update({"diagnostics": "failed", "diagnostics_detail": (
                "the agreement step is a level effect only in a relation that passes the bounds test; "
                + "; ".join(f"{label} has none (growth-rate model: the step's change is a one-year growth impulse)"
                            for label, eq in eqs.items() if not eq.uses_long_run))})
        rows.append(row)
    if share is not None:
        quantity = ("macro share of the balance change" if any("export" in label.lower() for label in eqs)
                    else "macro share of the import side of the balance change")
        rows.append({"quantity": quantity, "estimator": estimator, "period": span, "unit": "share",
                     "value": share["macro share"], "low": share["ci_low"], "high": share["ci_high"],
                     "diagnostics": "passed" if all_ok else "failed", "diagnostics_detail": detail})
    return rows


def findings(eqs: dict[str, EquationResults], table: pd.DataFrame | None, share: pd.Series | None,
             partner: str, span: str, deflators: dict | None = None) -> list[str]:
    """Sentences written from the computed numbers: which equations support a long-run reading,
    what the decomposition used instead, the breaks found and the macro share."""
    out = []
    for label, eq in eqs.items():
        b = eq.ardl.bounds
        cv = b.critical_values.loc["5%"]
        others = [t for t, r in eq.cointegration.iterrows() if r["rejects no cointegration (5%)"]]
        reading = ("supports a long-run reading" if eq.uses_long_run else "does not support a long-run reading")
        out.append(f"{label} ({eq.ardl.order}, {int(eq.ardl.result.nobs)} years): {reading}: the bounds F is {b.F:.2f} "
                   f"against a 5% I(1) bound of {cv['F I(1)']:.2f} simulated for this sample (p = {b.p_values['F I(1)']:.3f}), "
                   f"t = {b.t:.2f} against {cv['t I(1)']:.2f}; residual-based tests that reject no cointegration at 5%: "
                   f"{', '.join(others) if others else 'none'}; Johansen rank {eq.johansen[1]['rank']}.")
    used = [f"{label}: {eq.model}" for label, eq in eqs.items()]
    out.append("The decomposition uses " + "; ".join(used) + ": long-run elasticities only where the level relation passes.")
    if deflators:
        out.append("Deflators: " + "; ".join(f"{k}: {v}" for k, v in deflators.items()) + ".")
    if table is not None and share is not None:
        total = table.loc[TOTAL, "balance"] / 1e3
        side = "" if len(eqs) > 1 else " (import side only: no export equation)"
        drivers = "income and the real exchange rate" if RER in table.index else "income"
        out.append(f"Of the {span} change in the US balance with {partner}{side} ({total:+.1f} bn), {drivers} account for "
                   f"{share['macro share']:.0%} (95% interval {share['ci_low']:.0%} to {share['ci_high']:.0%}, delta method over "
                   f"the joint covariance of the equations); trade prices for {table.loc[PRICES, 'balance'] / 1e3:+.1f} bn; "
                   f"the models leave {table.loc[MISFIT, 'balance'] / 1e3:+.1f} bn unexplained.")
    return out


def nominal_price_real(table: pd.DataFrame) -> pd.DataFrame:
    """The nominal change of each flow and of the balance split into the trade-price part and the
    real change, and the real change into what the models explain and the misfit (US$ million)."""
    cols = ["exports", "imports", "balance"]
    nominal = table.loc[TOTAL, cols]
    price = table.loc[PRICES, cols]
    misfit = table.loc[MISFIT, cols]
    real = nominal - price
    return pd.DataFrame({"nominal change": nominal, "trade prices": price, "real change": real,
                         "explained by the trade equations": real - misfit, "misfit": misfit}).T


def side_correlation(pieces: dict, component: str) -> float | None:
    """Correlation of the export side's and the import side's estimated parts of ``component``
    in the joint covariance (None with one equation): why the balance's interval needs it."""
    g = pieces["gradients"][component]
    cov = pieces["covariance"]
    labels = list(dict.fromkeys(cov.index.get_level_values(0)))
    if len(labels) < 2:
        return None
    ga = pd.Series(0.0, index=cov.index)
    gb = pd.Series(0.0, index=cov.index)
    ga.loc[labels[0]] = g.loc[labels[0]].to_numpy()
    gb.loc[labels[1]] = g.loc[labels[1]].to_numpy()
    c = cov.to_numpy()
    va, vb = ga.to_numpy() @ c @ ga.to_numpy(), gb.to_numpy() @ c @ gb.to_numpy()
    if va <= 0 or vb <= 0:
        return None
    # the balance gradient carries opposite signs for the two sides: undo it for the sides' own parts
    return float(-(ga.to_numpy() @ c @ gb.to_numpy()) / np.sqrt(va * vb))


def format_elasticities(table: pd.DataFrame, growth: bool = False) -> pd.DataFrame:
    """``estimate (se)`` by equation and term, one column per estimator: the long-run estimators,
    or (``growth``) the growth-rate model's short-run coefficients."""
    est = table.index.get_level_values("estimator")
    keep = est.str.startswith("growth") if growth else ~est.str.startswith("growth")
    sub = table[keep]
    text = sub["estimate"].map("{:.3f}".format) + sub["se"].map(lambda s: "" if pd.isna(s) else f" ({s:.3f})")
    return text.unstack("estimator").fillna("")
