"""Macro module: the bounds test's k and critical values against a simulation and the PSS tables,
every statistic against the R peer's golden values (tests/data/macro_golden_r.csv, computed by
tests/peers/macro_peer.R from the SYNTHETIC input tests/data/macro_synthetic_input.csv), ARDL
recovery on seeded SYNTHETIC series, decompositions that add up exactly (property test), break
and CUSUM tests that find planted breaks, the estimate rows' contract, and the real frame."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korus_research import io, macro, results

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "macro_golden_r.csv"
SYNTHETIC = DATA / "macro_synthetic_input.csv"
#: Precision of the comparison with R: relative to max(1, |value|). urca's Phillips-Perron uses the
#: moment form of Phillips and Perron (1988), which differs from the regression form by O(1/T):
#: it is compared at 2%; the regression form itself is compared at 1e-8 (``PP <series>``).
PRECISION = {"PP urca": 0.02}


def test_newey_west_equals_hand_sandwich():
    rng = np.random.default_rng(0)
    n = 60
    x = pd.DataFrame({"a": rng.normal(size=n).cumsum(), "b": rng.normal(size=n)})
    e = np.zeros(n)
    for t in range(1, n):
        e[t] = 0.6 * e[t - 1] + rng.normal()
    y = 1 + 0.5 * x["a"] - 0.3 * x["b"] + e
    res = macro.ols_newey_west(y, x, lags=3)
    X = np.column_stack([np.ones(n), x.to_numpy()])
    beta, *_ = np.linalg.lstsq(X, y.to_numpy(), rcond=None)
    u = y.to_numpy() - X @ beta
    scores = X * u[:, None]
    S = scores.T @ scores
    for lag in range(1, 4):
        w = 1 - lag / (3 + 1)  # Bartlett kernel
        G = scores[lag:].T @ scores[:-lag]
        S += w * (G + G.T)
    bread = np.linalg.inv(X.T @ X)
    V = bread @ S @ bread
    np.testing.assert_allclose(res.params.to_numpy(), beta, atol=1e-8)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt(np.diag(V)), rtol=1e-8)


# ------------------------------------------------------------------ the bounds test


@pytest.mark.parametrize("case, q", [(3, (1, 1)), (5, (1, 1, 1))])
def test_bounds_k_counts_regressors_only(case, q):
    """Large-sample simulated bounds equal Pesaran-Shin-Smith's asymptotic table for k = the number
    of regressors (statsmodels' tables, keyed by k), and differ from the row k + 1 that
    statsmodels' UECM.bounds_test looks up (it counts the dependent variable as well)."""
    from statsmodels.tsa.ardl import pss_critical_values as pss

    k = len(q)
    draws = macro.simulate_bounds(300, 1, q, case, nsim=10_000, seed=1, batch=2_500)
    at5 = list(pss.crit_percentiles).index(95)
    for bound, i1 in (("F I(0)", False), ("F I(1)", True)):
        simulated = np.quantile(draws[bound], 0.95)
        assert simulated == pytest.approx(pss.crit_vals[(k, case, i1)][at5], rel=0.05)
        assert abs(simulated - pss.crit_vals[(k + 1, case, i1)][at5]) > 0.3


def test_simulated_statistics_equal_statsmodels_f_test():
    """The batched statistics behind the critical values are the fitted model's own F and t."""
    rng = np.random.default_rng(5)
    T = 30
    y = np.cumsum(rng.standard_normal(T))
    x = np.cumsum(rng.standard_normal((2, T)), axis=1)
    step = (np.arange(T) >= 20).astype(float)
    endog, exog = macro._uecm_arrays(y, x, 2, (0, 2), 3, step[None, :], 2)
    f, t = macro._batch_ols(endog[None], exog[None], [1, 2, 3], 1)
    res = sm.OLS(endog, exog).fit()
    R = np.zeros((3, exog.shape[1]))
    R[[0, 1, 2], [1, 2, 3]] = 1
    assert f[0] == pytest.approx(float(np.squeeze(res.f_test(R).fvalue)), rel=1e-10)
    assert t[0] == pytest.approx(res.tvalues[1], rel=1e-10)


def _frame(ln_m, ln_y, ln_q, agreement=None, start=1900):
    n = len(ln_m)
    return pd.DataFrame({"flow": np.exp(ln_m + 5), "demand": np.exp(ln_y + 3), "rer": np.exp(ln_q + 1),
                         "agreement": np.zeros(n) if agreement is None else agreement},
                        index=range(start, start + n))


def test_ardl_recovers_long_run_and_tells_cointegration_apart():
    rng = np.random.default_rng(42)
    n = 300
    ln_y = np.cumsum(rng.normal(0.01, 0.02, n))
    ln_q = np.cumsum(rng.normal(0, 0.03, n))
    ln_m = np.zeros(n)
    for t in range(1, n):  # error correction towards ln m = 1.5 ln y - 0.8 ln q
        gap = ln_m[t - 1] - (1.5 * ln_y[t - 1] - 0.8 * ln_q[t - 1])
        ln_m[t] = ln_m[t - 1] - 0.4 * gap + 1.5 * (ln_y[t] - ln_y[t - 1]) + rng.normal(0, 0.01)
    frame = _frame(ln_m, ln_y, ln_q)
    eq = macro.estimate_equation(frame, "flow", "flow", ["demand", "rer"], None, None, nsim=2_000)
    lr = eq.ardl.long_run_table()
    assert lr.loc["ln_demand", "estimate"] == pytest.approx(1.5, abs=0.05)
    assert lr.loc["ln_rer", "estimate"] == pytest.approx(-0.8, abs=0.05)
    assert eq.ardl.bounds.verdict == "cointegrated" and eq.uses_long_run
    assert eq.estimators.loc[("DOLS", "ln_demand"), "estimate"] == pytest.approx(1.5, abs=0.05)
    assert eq.estimators.loc[("FMOLS", "ln_rer"), "estimate"] == pytest.approx(-0.8, abs=0.05)
    # independent random walks: no level relation, the growth model is used
    walk = _frame(np.cumsum(rng.normal(0, 0.02, n)), ln_y, ln_q)
    none = macro.estimate_equation(walk, "flow", "flow", ["demand", "rer"], None, None, nsim=2_000)
    assert none.ardl.bounds.verdict != "cointegrated" and none.model == "growth-rate model"


def test_dynamic_multipliers_follow_the_ardl_and_reach_the_long_run():
    rng = np.random.default_rng(7)
    n = 200
    x = np.cumsum(rng.normal(0, 0.05, n))
    q = np.cumsum(rng.normal(0, 0.05, n))
    y = np.zeros(n)
    for t in range(2, n):  # ARDL(2, 1): y = 0.5 y-1 + 0.2 y-2 + 0.3 q - 0.1 q-1 + 0.4 x
        y[t] = 0.5 * y[t - 1] + 0.2 * y[t - 2] + 0.3 * q[t] - 0.1 * q[t - 1] + 0.4 * x[t] + rng.normal(0, 1e-4)
    levels = pd.DataFrame({"y": y, "x": x, "q": q, "agreement": 0.0})
    endog, exog = macro.uecm_design(levels, "y", ["x", "q"], 2, (0, 1))
    params = sm.OLS(endog, exog).fit().params
    m = macro.dynamic_multipliers(params, "y", ["x", "q"], 2, (0, 1), "q", horizons=60)
    assert m[0] == pytest.approx(0.3, abs=1e-3)
    assert m[1] == pytest.approx(0.5 * 0.3 + 0.3 - 0.1, abs=1e-3)
    assert m.iloc[-1] == pytest.approx((0.3 - 0.1) / (1 - 0.5 - 0.2), abs=1e-3)


# ------------------------------------------------------------------ golden values from R


def _rname(name: str) -> str:
    """statsmodels / macro term names -> R dynlm names."""
    if name == "const":
        return "(Intercept)"
    for pattern, repl in ((r"L(\d+)\.D\.(.+)", r"L(d(\2), \1)"), (r"L1\.(.+)", r"L(\1, 1)"), (r"D\.(.+)", r"d(\1)")):
        if re.fullmatch(pattern, name):
            return re.sub(pattern, repl, name)
    return name


@pytest.fixture(scope="module")
def synthetic():
    return pd.read_csv(SYNTHETIC).set_index("year")


@pytest.fixture(scope="module")
def synthetic_equations(synthetic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"imports": macro.estimate_equation(synthetic, "US imports", "imports_real", ["us_demand", "rer"],
                                                   1990, 2019, nsim=2_000),
                "exports": macro.estimate_equation(synthetic, "US exports", "exports_real", ["partner_demand", "rer"],
                                                   1990, 2019, nsim=2_000)}


def _ours(synthetic, eqs) -> pd.Series:
    ours = {}

    def uecm(tag, fit):
        r = fit.result
        ours.update({f"{tag} uecm nobs": r.nobs, f"{tag} uecm ssr": r.ssr, f"{tag} uecm loglik": r.llf,
                     f"{tag} bounds F": fit.bounds.F, f"{tag} bounds t": fit.bounds.t})
        for n in r.params.index:
            ours[f"{tag} uecm coef {_rname(n)}"] = r.params[n]
            ours[f"{tag} uecm se {_rname(n)}"] = r.bse[n]
        lr = fit.long_run_table()
        for x in lr.index:
            ours[f"{tag} long run {x}"] = lr.loc[x, "estimate"]
            ours[f"{tag} long run se {x}"] = lr.loc[x, "se"]
        d = fit.diagnostics
        for k in ("Breusch-Godfrey F", "Breusch-Godfrey p", "Jarque-Bera", "Breusch-Pagan LM", "Breusch-Pagan p"):
            ours[f"{tag} {k}"] = d[k]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag, e in eqs.items():
            a = e.ardl
            ours[f"{tag} selected p"] = a.p
            ours.update({f"{tag} selected q {x}": q for x, q in zip(a.xs, a.q, strict=True)})
            uecm(tag, a)
            uecm(f"{tag} forced", macro.fit_ardl(e.levels, a.y, a.xs, ["agreement"], orders=(2, (1, 2)), nsim=100))
            g = e.growth.result
            for n in g.params.index:
                ours[f"{tag} growth coef {_rname(n)}"] = g.params[n]
                ours[f"{tag} growth se {_rname(n)}"] = g.bse[n]
            ours[f"{tag} growth Breusch-Godfrey F"] = e.growth.diagnostics["Breusch-Godfrey F"]
            for n in e.static.params.index:
                ours[f"{tag} static coef {_rname(n)}"] = e.static.params[n]
                ours[f"{tag} static nw se {_rname(n)}"] = e.static.bse[n]
            ours[f"{tag} Engle-Granger"] = e.cointegration.loc["Engle-Granger (ADF t)", "statistic"]
            ours[f"{tag} Phillips-Ouliaris Zt"] = e.cointegration.loc["Phillips-Ouliaris Zt", "statistic"]
            for (est, term), r in e.estimators.iterrows():
                ours[f"{tag} {est} {term}"] = r["estimate"]
                ours[f"{tag} {est} se {term}"] = r["se"]
            jt = e.johansen[0]
            for r in range(3):
                ours[f"{tag} Johansen eigenvalue {r}"] = jt["eigenvalue"].iloc[r]
                ours[f"{tag} Johansen trace r<={r}"] = jt["trace"].iloc[r]
            bt = macro.break_tests(e, 2012, nsim=20)
            ours.update({f"{tag} Chow F": bt["Chow F"], f"{tag} Rec-CUSUM": bt["CUSUM"],
                         f"{tag} CUSUM of squares": bt["CUSUM of squares"]})
            bp = macro.bai_perron(e.levels[e.y], e.levels[e.xs], nsim=20)
            ours[f"{tag} sup-F(1) x k"] = bp["tests"].iloc[0]["statistic"] * 3
            ours[f"{tag} Bai-Perron 1 break year"] = float(bp["breaks"].loc[1, "break dates"])
            first, second = bp["breaks"].loc[2, "break dates"].split(", ")
            ours[f"{tag} Bai-Perron 2 breaks first year"] = float(first)
            ours[f"{tag} Bai-Perron 2 breaks second year"] = float(second)
            for m in range(3):
                ours[f"{tag} Bai-Perron SSR {m}"] = bp["breaks"].loc[m, "SSR"]
        levels = macro.log_levels(synthetic, "imports_real", ["us_demand", "rer"], 1990, 2019)
        for s, r in macro.unit_root_table(levels, ["ln_imports_real", "ln_us_demand", "ln_rer"]).iterrows():
            ours.update({f"ADF {s}": r["ADF"], f"PP {s}": r["PP"], f"PP urca {s}": r["PP"], f"KPSS {s}": r["KPSS"]})
            if not s.startswith("d "):
                ours.update({f"ZA {s}": r["ZA"], f"ZA break year {s}": float(r["ZA break"])})
        labelled = {"US imports": eqs["imports"], "US exports": eqs["exports"]}
        table, pieces = macro.decompose_balance(labelled, synthetic, 2011, 2016)
    for key, comp in (("income", macro.INCOME), ("rer", macro.RER), ("agreement", macro.AGREEMENT),
                      ("drift", macro.DRIFT)):
        ours[f"decomposition {key} balance"] = table.loc[comp, "balance"]
        ours[f"decomposition {key} se"] = table.loc[comp, "se"]
    ours["decomposition prices balance"] = table.loc[macro.PRICES, "balance"]
    ours["decomposition misfit balance"] = table.loc[macro.MISFIT, "balance"]
    ours["decomposition total balance"] = table.loc[macro.TOTAL, "balance"]
    share = macro.macro_share(table, pieces)
    ours["macro share"], ours["macro share se"] = share["macro share"], share["se"]
    level = macro.level_names(eqs["imports"].y, eqs["imports"].xs, eqs["imports"].ardl.q)[1]
    ours["joint cross covariance income terms"] = pieces["covariance"].loc[("US imports", level), ("US exports", "D.ln_partner_demand")]
    return pd.Series(ours, dtype=float)


def test_every_statistic_equals_the_r_peer(synthetic, synthetic_equations):
    golden = pd.read_csv(GOLDEN).set_index("quantity")["value"]
    ours = _ours(synthetic, synthetic_equations)
    assert sorted(golden.index) == sorted(ours.index), set(golden.index) ^ set(ours.index)
    assert len(golden) > 250
    # the synthetic equations take the two paths of the decomposition
    assert synthetic_equations["imports"].uses_long_run and not synthetic_equations["exports"].uses_long_run
    bad = {}
    for name, value in golden.items():
        tol = next((t for prefix, t in PRECISION.items() if name.startswith(prefix)), 1e-8)
        if abs(ours[name] - value) > tol * max(1.0, abs(value)):
            bad[name] = (value, ours[name])
    assert not bad, bad


def test_adf_lags_given_to_r_are_the_ones_chosen(synthetic, synthetic_equations):
    """The R peer fixes the lag orders macro chose; they must still be the chosen ones."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_macro_input", Path(__file__).parent / "peers" / "make_macro_input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pd.testing.assert_frame_equal(module.adf_lags(synthetic.reset_index()), pd.read_csv(DATA / "macro_adf_lags.csv"))
    pd.testing.assert_frame_equal(module.make().set_index("year"), synthetic, rtol=1e-14, check_dtype=False)


# ------------------------------------------------------------------ decomposition


def _decomposition_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years = np.arange(1990, 2020)
    n = len(years)
    ln_y = np.cumsum(rng.normal(0.02, 0.01, n))
    ln_p = np.cumsum(rng.normal(0.04, 0.02, n))
    ln_q = np.cumsum(rng.normal(0, 0.05, n))
    ln_m = 1.3 * ln_y + 0.4 * ln_q + rng.normal(0, 0.03, n)
    ln_x = np.cumsum(rng.normal(0.01, 0.05, n))
    frame = pd.DataFrame({"imports_real": np.exp(ln_m + 9), "exports_real": np.exp(ln_x + 9),
                          "us_demand": np.exp(ln_y + 9), "partner_demand": np.exp(ln_p + 30), "rer": np.exp(ln_q + 7),
                          "agreement": (years >= 2012).astype(float),
                          "imports_price": 100 * np.exp(np.cumsum(rng.normal(0.01, 0.02, n))),
                          "exports_price": 100 * np.exp(np.cumsum(rng.normal(0.01, 0.02, n)))}, index=years)
    for flow in ("imports", "exports"):
        frame[f"{flow}_nominal"] = frame[f"{flow}_real"] * frame[f"{flow}_price"] / 100
    return frame


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), base=st.integers(1993, 2012), length=st.integers(1, 7))
def test_decomposition_parts_add_up_to_the_actual_change(seed, base, length):
    frame = _decomposition_frame(seed)
    compare = min(base + length, 2019)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eqs = {"US imports": macro.estimate_equation(frame, "US imports", "imports_real", ["us_demand", "rer"], 1990, 2019,
                                                     nsim=200, seed=seed),
               "US exports": macro.estimate_equation(frame, "US exports", "exports_real", ["partner_demand", "rer"],
                                                     1990, 2019, nsim=200, seed=seed)}
    table, pieces = macro.decompose_balance(eqs, frame, base, compare)
    actual = {flow: frame.loc[compare, f"{flow}_nominal"] - frame.loc[base, f"{flow}_nominal"] for flow in ("exports", "imports")}
    parts = table.drop(index=macro.TOTAL)
    for flow in ("exports", "imports"):
        assert parts[flow].sum() == pytest.approx(actual[flow], rel=1e-10, abs=1e-6)
    assert parts["balance"].sum() == pytest.approx(actual["exports"] - actual["imports"], rel=1e-10, abs=1e-6)
    # nominal = price + real; real = explained + misfit
    npr = macro.nominal_price_real(table)
    np.testing.assert_allclose(npr.loc["nominal change"], npr.loc["trade prices"] + npr.loc["real change"], rtol=1e-12)
    share = macro.macro_share(table, pieces)
    assert share["ci_low"] <= share["macro share"] <= share["ci_high"]


def test_joint_covariance_blocks_and_cross_terms(synthetic_equations):
    fits = {"a": synthetic_equations["imports"].ardl.result, "b": synthetic_equations["exports"].growth.result}
    cov = macro.joint_covariance(fits)
    np.testing.assert_allclose(cov.loc["a", "a"].to_numpy(), fits["a"].cov_params().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cov.loc["b", "b"].to_numpy(), fits["b"].cov_params().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cov.loc["a", "b"].to_numpy(), cov.loc["b", "a"].to_numpy().T, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(cov.to_numpy()) > -1e-12)  # a covariance matrix


def test_long_run_parts_use_only_relations_that_pass(synthetic, synthetic_equations):
    table, pieces = macro.decompose_balance({"US imports": synthetic_equations["imports"],
                                             "US exports": synthetic_equations["exports"]}, synthetic, 2011, 2016)
    assert pieces["models"] == {"US imports": "long-run ARDL", "US exports": "growth-rate model"}
    assert table.loc[macro.DRIFT, "imports"] == 0.0 and table.loc[macro.DRIFT, "exports"] != 0.0
    rows = macro.estimate_rows({"US imports": synthetic_equations["imports"], "US exports": synthetic_equations["exports"]},
                               table, macro.macro_share(table, pieces), "2011->2016")
    frame = results.estimate_rows(rows, "05", "KOR-00000000")
    one = frame.set_index(["quantity", "estimator"])
    agreement = frame[frame["quantity"] == "agreement effect on the balance change"].iloc[0]
    assert agreement["diagnostics"] == "failed" and "US exports has none" in agreement["diagnostics_detail"]
    assert agreement["estimator"].startswith("trade equations")  # the synthesis ranks it by this prefix
    income = frame[frame["quantity"] == "income elasticity of US imports"].iloc[0]  # the first is the one used
    assert income["estimator"].startswith("trade equation: long-run ARDL(") and income["interval"] == "95% CI"
    exports = frame[frame["quantity"] == "income elasticity of US exports"].iloc[0]
    assert exports["estimator"] == "trade equation: growth-rate model (short run)"
    for name in ("balance change due to income", "balance change due to the real exchange rate",
                 "macro share of the balance change", "balance change due to trade prices"):
        assert name in set(frame["quantity"]), name
    assert len(one) == len(frame)


# ------------------------------------------------------------------ breaks, CUSUM, unit roots


def test_chow_detects_a_break():
    rng = np.random.default_rng(3)
    idx = pd.RangeIndex(1990, 2020)
    x = pd.DataFrame({"x": rng.normal(size=30)}, index=idx)
    y = pd.Series(np.where(idx < 2012, 1.0, 3.0) + x["x"] + rng.normal(0, 0.1, 30), index=idx)
    assert macro.chow_test(y, x, 2012)["p_value"] < 0.001
    with pytest.raises(macro.MacroError, match="too few observations"):
        macro.chow_test(y, x, 2019)


def test_bai_perron_finds_planted_breaks_and_not_absent_ones():
    rng = np.random.default_rng(11)
    idx = pd.RangeIndex(1980, 2020)
    x = pd.DataFrame({"x": rng.normal(size=40)}, index=idx)
    shift = np.select([idx < 1993, idx < 2006], [0.0, 2.0], 4.0)
    y = pd.Series(shift + x["x"] + rng.normal(0, 0.3, 40), index=idx)
    bp = macro.bai_perron(y, x, max_breaks=2, nsim=200, seed=1)
    assert bp["number of breaks"] == 2 and bp["break dates"] == "1993, 2006"
    calm = pd.Series(1 + x["x"] + rng.normal(0, 0.3, 40), index=idx)
    assert macro.bai_perron(calm, x, max_breaks=2, nsim=200, seed=1)["number of breaks"] == 0
    with pytest.raises(macro.MacroError, match="too few observations"):
        macro.bai_perron(y.iloc[:10], x.iloc[:10], max_breaks=2)


def test_recursive_cusum_tests():
    rng = np.random.default_rng(2)
    n = 60
    X = sm.add_constant(rng.normal(size=(n, 1)))
    stable = sm.OLS(X @ [1.0, 0.5] + rng.normal(0, 0.2, n), X).fit()
    shifted = sm.OLS(X @ [1.0, 0.5] + np.r_[np.zeros(40), np.full(20, 1.5)] + rng.normal(0, 0.2, n), X).fit()
    noisy = sm.OLS(X @ [1.0, 0.5] + rng.normal(0, 1, n) * np.r_[np.full(30, 0.1), np.full(30, 1.0)], X).fit()
    assert macro.cusum_tests(stable, nsim=5_000)["CUSUM p"] > 0.05
    assert macro.cusum_tests(shifted, nsim=5_000)["CUSUM p"] < 0.01
    assert macro.cusum_tests(noisy, nsim=5_000)["CUSUM of squares p"] < 0.01
    # the 5% boundary constant of Brown, Durbin and Evans (1975) for many residuals is 0.948
    null, _ = macro._cusum_stats(np.random.default_rng(0).standard_normal((20_000, 400)))
    assert np.quantile(null, 0.95) == pytest.approx(0.948, abs=0.03)


def test_unit_root_rule_and_table(synthetic):
    assert macro.deterministic_rule("ln_us_demand", False) == "ct"
    assert macro.deterministic_rule("ln_rer", False) == "c"
    assert macro.deterministic_rule("ln_us_demand", True) == "c"
    assert macro.schwert_lags(30) == 2 and macro.schwert_lags(100) == 4
    levels = macro.log_levels(synthetic, "imports_real", ["rer"], 1990, 2019)
    table = macro.unit_root_table(levels, ["ln_rer"])
    assert table.loc["ln_rer", "terms"] == "c" and table.loc["ln_rer", "verdict with the other terms"].endswith("(ct)")
    assert set(table["bandwidth"]) == {2}


# ------------------------------------------------------------------ input checks and the real frame


def test_bad_input():
    s = pd.Series([1.0, np.nan, 3.0], index=[2000, 2001, 2002])
    with pytest.raises(macro.MacroError, match="series 'x' has gaps at \\['2001'\\]"):
        macro.check_series(s, "x")
    with pytest.raises(macro.MacroError, match="non-positive values before a log at \\['2001'\\]"):
        macro.check_series(pd.Series([1.0, 0.0, 2.0], index=[2000, 2001, 2002]), "x")
    monthly = pd.Series([1.0] * 4, index=pd.date_range("2000-01-01", periods=4, freq="QS"))
    with pytest.raises(macro.MacroError, match="cannot put a series with 4 observations a year at monthly"):
        macro._to_frequency(monthly, "monthly", 4)
    levels = pd.DataFrame({"y": np.arange(1.0, 11), "x": np.arange(2.0, 12), "agreement": 0.0})
    with pytest.raises(macro.ParameterError, match="case"):
        macro.uecm_design(levels, "y", ["x"], 1, (1,), case=4)


@pytest.fixture(scope="module")
def tables():
    names = ["census_annual", "census_monthly", "fred_macro", "worldbank_indicators", "bis_eer_monthly",
             "fx_krw_usd_annual"]
    return {n: io.read_table(n) for n in names}


def test_real_frames_and_errors(tables):
    frame = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral")
    assert frame.loc[2016, "imports_nominal"] == pytest.approx(69886.78, abs=0.01)
    assert frame.loc[2012, "imports_price"] == pytest.approx(100.0)
    assert frame.attrs["deflators"]["imports"].startswith("US GDP deflator")
    # bilateral real rate by hand: KRW/USD x US CPI / Korea CPI
    wb = tables["worldbank_indicators"]
    cpi = wb[wb["indicator_code"] == "FP.CPI.TOTL"].pivot(index="year", columns="iso3", values="value")
    fx = tables["fx_krw_usd_annual"].set_index("year")["krw_per_usd"]
    assert frame.loc[2011, "rer"] == pytest.approx(fx[2011] * cpi.loc[2011, "USA"] / cpi.loc[2011, "KOR"])
    # trade prices are used only when they cover the sample
    prices = pd.DataFrame({"import_price": np.linspace(90, 110, 30)}, index=range(1990, 2020))
    prices.attrs["import_price"] = "SYNTHETIC index"
    covered = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral", prices=prices, price_years=(1990, 2019))
    assert covered.attrs["deflators"]["imports"] == "trade price index: SYNTHETIC index"
    assert covered.loc[2012, "imports_price"] == pytest.approx(100.0)
    short = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral", prices=prices.loc[2000:], price_years=(1990, 2019))
    assert "misses 10 periods" in short.attrs["deflators"]["imports"]
    jpn = macro.build_frame(tables, "JPN", "annual", "gdp", "bis")
    assert "partner_demand" not in jpn and jpn["rer"].notna().sum() > 20
    with pytest.raises(macro.MacroError, match="no bilateral exchange rate for JPN"):
        macro.build_frame(tables, "JPN", "annual", "gdp", "bilateral")
    with pytest.raises(macro.MacroError, match="neither measure exists"):
        macro.build_frame(tables, "PAN", "annual", "gdp", "bis")
    with pytest.raises(macro.MacroError, match="domestic demand is annual"):
        macro.build_frame(tables, "KOR", "quarterly", "domestic_demand", "bis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = macro.build_frame(tables, "KOR", "quarterly", "gdp", "bis")
    assert str(q.dropna().index.min()) == "1994Q1"
