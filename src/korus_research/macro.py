"""Macro drivers of a bilateral balance: trade equations, real exchange rates, tests,
and a decomposition of the change in the balance into income, price and residual parts.

Imperfect-substitutes trade equations (Goldstein and Khan 1985): log real US imports from
the partner on log US real demand, the log bilateral real exchange rate and an agreement
indicator; log real US exports to the partner on the partner's real demand and the real
exchange rate.

References
----------
Goldstein, M. and Khan, M. S. (1985). Income and price effects in foreign trade. In
    Handbook of International Economics, vol. 2, 1041-1105.
Newey, W. K. and West, K. D. (1987). A simple, positive semi-definite, heteroskedasticity
    and autocorrelation consistent covariance matrix. Econometrica 55(3), 703-708.
Pesaran, M. H., Shin, Y. and Smith, R. J. (2001). Bounds testing approaches to the analysis
    of level relationships. Journal of Applied Econometrics 16(3), 289-326.
Chow, G. C. (1960). Tests of equality between sets of coefficients in two linear
    regressions. Econometrica 28(3), 591-605.
Brown, R. L., Durbin, J. and Evans, J. M. (1975). Techniques for testing the constancy of
    regression relationships over time. JRSS B 37(2), 149-192.
Gagnon, J. E. (2003). Long-run supply effects and the elasticities approach to trade.
    Federal Reserve IFDP 754.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .balance import latest_vintage
from .errors import EstimationError
from .study import capabilities, entry_period


class MacroError(EstimationError):
    """Bad input for the macro module (gaps, mismatched frequencies, non-positive values, ...)."""


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


def build_frame(tables: dict[str, pd.DataFrame], partner: str, frequency: str = "annual",
                demand: str = "gdp", rer_measure: str = "bilateral", entry: pd.Timestamp | None = None) -> pd.DataFrame:
    """The estimation frame: real flows, demands, real exchange rate, agreement indicator.

    Flows (Census, US$ million) are deflated by the US GDP deflator (2012 = 100): no
    bilateral trade price index is in the data. US demand: real GDP (``gdp``, FRED GDPC1)
    or real domestic demand (``domestic_demand``, World Bank, annual). Partner demand: the
    partner's real GDP (its ``demand_series`` in tables/partner_data.csv: FRED or World Bank) where the
    data have it; without it the export equation cannot be estimated (column missing).
    """
    if frequency not in ("annual", "quarterly"):
        raise MacroError(f"frequency {frequency!r}: choose 'annual' or 'quarterly'")
    flows = _census_flows(tables, partner, frequency)
    deflator = _to_frequency(_fred(tables, "GDPDEF"), frequency, 4)
    frame = pd.DataFrame(index=flows.index)
    frame["imports_real"] = flows["imports_usd_mn"] / deflator.reindex(frame.index) * 100
    frame["exports_real"] = flows["exports_usd_mn"] / deflator.reindex(frame.index) * 100
    frame["imports_nominal"] = flows["imports_usd_mn"]
    frame["exports_nominal"] = flows["exports_usd_mn"]
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
    if rer_measure != "none":
        frame["rer"] = real_exchange_rate(tables, partner, rer_measure, frequency).reindex(frame.index)
    if entry is not None:
        # the rule of korus_research.study.entry_period: in force from the period containing the date
        frame["agreement"] = (frame.index >= entry_period(entry, frequency)).astype(float)
    else:
        frame["agreement"] = 0.0
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
    first, last = sub.index[~missing].min(), sub.index[~missing].max()
    inner = sub.loc[first:last]
    if inner.isna().any().any():
        bad = inner.index[inner.isna().any(axis=1)]
        raise MacroError(f"gaps in {[c for c in columns if inner[c].isna().any()]} at {[str(b) for b in bad[:10]]}")
    for c in columns:
        if c != "agreement":
            check_series(inner[c], c)
    return inner


# ---------------------------------------------------------------- estimation ------------


def ols_newey_west(y: pd.Series, x: pd.DataFrame, lags: int) -> sm.regression.linear_model.RegressionResultsWrapper:
    """OLS with a constant and Newey-West (Bartlett kernel, ``lags``) standard errors,
    no small-sample correction (Newey and West 1987)."""
    exog = sm.add_constant(x, has_constant="add")
    return sm.OLS(y, exog).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})


@dataclass
class Equation:
    """A fitted trade equation in levels and its error-correction form."""

    name: str
    levels: object
    uecm: object | None
    long_run: pd.Series | None
    bounds: object | None
    frame: pd.DataFrame


def trade_equation(frame: pd.DataFrame, flow: str, demand: str, start, end, hac_lags: int = 2,
                   ardl_lags: int = 1, with_agreement: bool = True) -> Equation:
    """Estimate ``log flow ~ log demand + log rer (+ agreement)`` in levels (Newey-West) and
    as an ARDL error-correction model (``ardl_lags`` lags of each variable) with the
    Pesaran-Shin-Smith bounds test (case 3: unrestricted constant, no trend)."""
    from statsmodels.tsa.ardl import UECM

    cols = [flow, demand] + (["rer"] if "rer" in frame else []) + (["agreement"] if with_agreement else [])
    data = sample(frame, cols, start, end)
    logs = pd.DataFrame({f"ln_{c}": np.log(data[c]) for c in cols if c != "agreement"}, index=data.index)
    x = logs.drop(columns=f"ln_{flow}")
    if with_agreement and data["agreement"].nunique() > 1:
        x["agreement"] = data["agreement"]
    levels = ols_newey_west(logs[f"ln_{flow}"], x, hac_lags)
    uecm = long_run = bounds = None
    try:
        exog = x.reset_index(drop=True)
        model = UECM(logs[f"ln_{flow}"].reset_index(drop=True), lags=ardl_lags, exog=exog, order=ardl_lags, trend="c")
        uecm = model.fit()
        long_run = uecm.ci_params.drop(labels=[p for p in uecm.ci_params.index if "const" in str(p)], errors="ignore")
        bounds = uecm.bounds_test(case=3)
    except (ValueError, np.linalg.LinAlgError):  # too few observations for the lags
        pass
    return Equation(flow, levels, uecm, long_run, bounds, data)


def coefficient_table(eq: Equation) -> pd.DataFrame:
    """Levels coefficients with Newey-West standard errors and the long-run ARDL ones."""
    res = eq.levels
    out = pd.DataFrame({"estimate": res.params, "se (Newey-West)": res.bse, "p-value": res.pvalues})
    if eq.long_run is not None:
        lr = eq.long_run.copy()
        lr.index = [str(i).replace(".L1", "").replace("L1.", "") for i in lr.index]
        # ci_params are normalised as y - b x: the long-run elasticities are -b
        out["long run (ARDL)"] = pd.Series({k: -v for k, v in lr.items()}).reindex(out.index)
    return out.drop(index="const")


def diagnostics(eq: Equation) -> pd.Series:
    """Fit and residual diagnostics of the levels equation and the bounds test."""
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import durbin_watson

    res = eq.levels
    lags = max(1, min(4, int(res.nobs) // 5))
    out = {"observations": int(res.nobs), "R2": res.rsquared, "Durbin-Watson": durbin_watson(res.resid),
           f"Ljung-Box p ({lags} lags)": float(acorr_ljungbox(res.resid, lags=[lags])["lb_pvalue"].iloc[0])}
    if eq.bounds is not None:
        out["bounds F"] = float(eq.bounds.statistic)
        out["bounds p (all I(0))"] = float(eq.bounds.pvalue["lower"])
        out["bounds p (all I(1))"] = float(eq.bounds.pvalue["upper"])
    return pd.Series(out)


def unit_root_tests(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """ADF (null: unit root) and KPSS (null: stationary) on the logs and their differences."""
    from statsmodels.tsa.stattools import adfuller, kpss

    rows = []
    for c in columns:
        s = np.log(check_series(frame[c].dropna(), c))
        for label, series in ((f"ln {c}", s), (f"d ln {c}", s.diff().dropna())):
            adf = adfuller(series, autolag="AIC", result_object=False)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kp = kpss(series, regression="c", nlags="auto")
            rows.append({"series": label, "ADF stat": adf[0], "ADF p": adf[1], "KPSS stat": kp[0], "KPSS p": kp[1]})
    return pd.DataFrame(rows).set_index("series")


def chow_test(y: pd.Series, x: pd.DataFrame, break_at) -> dict:
    """Chow (1960) F test of equal coefficients before and from ``break_at``."""
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


def cusum_test(eq: Equation) -> dict:
    """OLS-residual CUSUM test of parameter stability (Ploberger and Kramer 1992)."""
    from statsmodels.stats.diagnostic import breaks_cusumolsresid

    stat, p, _ = breaks_cusumolsresid(np.asarray(eq.levels.resid), ddof=int(eq.levels.df_model) + 1)
    return {"statistic": float(stat), "p_value": float(p)}


# ---------------------------------------------------------------- decomposition ---------


def _logmean(a: float, b: float) -> float:
    return a if np.isclose(a, b) else (a - b) / (np.log(a) - np.log(b))


def decompose_change(eq: Equation, nominal: pd.Series, base, compare, level: float = 0.95) -> pd.DataFrame:
    """Split the change in a nominal flow between two periods into income, relative-price,
    agreement and residual parts (US$ million), with intervals.

    ``d ln V = b_y d ln Y + b_q d ln q + b_a d A + residual`` where the residual holds the
    change in the deflator, in the fitted errors and everything else; the dollar change is
    allocated with the logarithmic mean ``L(V1, V0)``, so the parts add up exactly to
    ``V1 - V0``. Intervals: ``L x d ln x x se(b)`` from the Newey-West errors.
    """
    res = eq.levels
    z = stats.norm.ppf(0.5 + level / 2)
    v0, v1 = float(nominal.loc[base]), float(nominal.loc[compare])
    total_log = np.log(v1 / v0)
    weight = _logmean(v1, v0)
    rows = []
    explained = 0.0
    for name in res.params.index:
        if name == "const":
            continue
        if name == "agreement":
            dx = float(eq.frame.loc[compare, "agreement"] - eq.frame.loc[base, "agreement"])
            label = "agreement indicator"
        else:
            col = name.removeprefix("ln_")
            dx = float(np.log(eq.frame.loc[compare, col] / eq.frame.loc[base, col]))
            label = {"rer": "real exchange rate"}.get(col, "income (real demand)")
        part = weight * res.params[name] * dx
        se = abs(weight * dx) * res.bse[name]
        explained += res.params[name] * dx
        rows.append({"component": label, "change": part, "ci_low": part - z * se, "ci_high": part + z * se})
    rows.append({"component": "residual (prices, other)", "change": weight * (total_log - explained),
                 "ci_low": np.nan, "ci_high": np.nan})
    out = pd.DataFrame(rows).set_index("component")
    out.loc["total"] = [v1 - v0, np.nan, np.nan]
    return out


def balance_decomposition(exports: pd.DataFrame | None, imports: pd.DataFrame) -> pd.DataFrame:
    """The balance change's parts: exports parts minus imports parts (intervals combined
    as independent)."""
    comps = imports.index
    out = pd.DataFrame(index=comps, columns=["exports", "imports", "balance", "balance ci_low", "balance ci_high"], dtype=float)
    ex = exports.reindex(comps) if exports is not None else pd.DataFrame(0.0, index=comps, columns=imports.columns)
    out["exports"] = ex["change"].fillna(0.0)
    out["imports"] = imports["change"]
    out["balance"] = out["exports"] - out["imports"]
    half = np.sqrt(((ex["ci_high"] - ex["change"]).fillna(0) ** 2) + ((imports["ci_high"] - imports["change"]).fillna(0) ** 2))
    out["balance ci_low"] = np.where(imports["ci_low"].notna(), out["balance"] - half, np.nan)
    out["balance ci_high"] = np.where(imports["ci_low"].notna(), out["balance"] + half, np.nan)
    return out


def macro_share(balance_parts: pd.DataFrame) -> pd.Series:
    """Share of the change in the balance explained by income and the real exchange rate."""
    macro_rows = [r for r in ("income (real demand)", "real exchange rate") if r in balance_parts.index]
    total = balance_parts.loc["total", "balance"]
    share = balance_parts.loc[macro_rows, "balance"].sum() / total
    half = np.sqrt(sum(((balance_parts.loc[r, "balance ci_high"] - balance_parts.loc[r, "balance"]) ** 2)
                       for r in macro_rows)) / abs(total)
    return pd.Series({"macro share": share, "ci_low": share - half, "ci_high": share + half})


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


def counterfactual_path(eq: Equation, base) -> pd.DataFrame:
    """Actual, fitted and counterfactual log flows: the counterfactual switches the
    agreement indicator off and holds the real exchange rate at its ``base`` value."""
    res = eq.levels
    actual = np.log(eq.frame[eq.name])
    fitted = res.fittedvalues
    cf = fitted.copy()
    if "agreement" in res.params:
        cf = cf - res.params["agreement"] * eq.frame["agreement"]
    if "ln_rer" in res.params:
        dq = np.log(eq.frame["rer"]) - np.log(eq.frame.loc[base, "rer"])
        cf = cf - res.params["ln_rer"] * dq.where(eq.frame.index >= base, 0.0)
    return pd.DataFrame({"actual": np.exp(actual), "fitted": np.exp(fitted), "counterfactual": np.exp(cf)})


def break_tests(eq: Equation, break_at) -> dict:
    """Chow test at ``break_at`` on the levels equation without the agreement indicator
    (which would absorb the break it tests), and the CUSUM test."""
    res = eq.levels
    names = list(res.model.exog_names)
    keep = [i for i, n in enumerate(names) if n not in ("const", "agreement")]
    x = pd.DataFrame(res.model.exog[:, keep], index=eq.frame.index, columns=[names[i] for i in keep])
    y = pd.Series(res.model.endog, index=eq.frame.index)
    chow = chow_test(y, x, break_at)
    cusum = cusum_test(eq)
    return {"Chow F": chow["F"], "Chow p": chow["p_value"], "CUSUM stat": cusum["statistic"], "CUSUM p": cusum["p_value"]}
