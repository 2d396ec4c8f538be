"""Macro module: Newey-West against a hand-written sandwich, ARDL recovery on seeded
SYNTHETIC cointegrated series, exact decompositions, tests on the real frame, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from korus_research import io, macro


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


def test_ardl_recovers_long_run_coefficients():
    rng = np.random.default_rng(42)
    n = 400
    ln_y = np.cumsum(rng.normal(0.01, 0.02, n))
    ln_q = np.cumsum(rng.normal(0, 0.03, n))
    ln_m = np.zeros(n)
    for t in range(1, n):  # error correction towards ln m = 1.5 ln y - 0.8 ln q
        gap = ln_m[t - 1] - (1.5 * ln_y[t - 1] - 0.8 * ln_q[t - 1])
        ln_m[t] = ln_m[t - 1] - 0.4 * gap + 1.5 * (ln_y[t] - ln_y[t - 1]) + rng.normal(0, 0.01)
    frame = pd.DataFrame({"flow": np.exp(ln_m + 5), "demand": np.exp(ln_y + 3), "rer": np.exp(ln_q + 1),
                          "agreement": 0.0}, index=range(2000, 2000 + n))
    eq = macro.trade_equation(frame, "flow", "demand", None, None, hac_lags=4, ardl_lags=1, with_agreement=False)
    table = macro.coefficient_table(eq)
    assert table.loc["ln_demand", "long run (ARDL)"] == pytest.approx(1.5, abs=0.05)
    assert table.loc["ln_rer", "long run (ARDL)"] == pytest.approx(-0.8, abs=0.05)
    assert macro.diagnostics(eq)["bounds p (all I(1))"] < 0.05


def test_decomposition_adds_up_exactly():
    rng = np.random.default_rng(1)
    years = range(1990, 2020)
    frame = pd.DataFrame({"flow": np.exp(rng.normal(0, 0.05, 30).cumsum() + 10),
                          "demand": np.exp(np.linspace(0, 0.6, 30) + rng.normal(0, 0.01, 30)),
                          "rer": np.exp(rng.normal(0, 0.05, 30)), "agreement": [0.0] * 22 + [1.0] * 8},
                         index=years)
    eq = macro.trade_equation(frame, "flow", "demand", 1990, 2019)
    nominal = frame["flow"] * 1.02
    parts = macro.decompose_change(eq, nominal, 2011, 2016)
    assert parts.drop(index="total")["change"].sum() == pytest.approx(nominal[2016] - nominal[2011], rel=1e-12)
    bal = macro.balance_decomposition(parts, parts)
    assert bal["balance"].abs().max() == pytest.approx(0.0, abs=1e-9)


def test_chow_detects_a_break():
    rng = np.random.default_rng(3)
    idx = pd.RangeIndex(1990, 2020)
    x = pd.DataFrame({"x": rng.normal(size=30)}, index=idx)
    y = pd.Series(np.where(idx < 2012, 1.0, 3.0) + x["x"] + rng.normal(0, 0.1, 30), index=idx)
    assert macro.chow_test(y, x, 2012)["p_value"] < 0.001
    with pytest.raises(macro.MacroError, match="too few observations"):
        macro.chow_test(y, x, 2019)


def test_bad_input():
    s = pd.Series([1.0, np.nan, 3.0], index=[2000, 2001, 2002])
    with pytest.raises(macro.MacroError, match="series 'x' has gaps at \\['2001'\\]"):
        macro.check_series(s, "x")
    with pytest.raises(macro.MacroError, match="non-positive values before a log at \\['2001'\\]"):
        macro.check_series(pd.Series([1.0, 0.0, 2.0], index=[2000, 2001, 2002]), "x")
    monthly = pd.Series([1.0] * 4, index=pd.date_range("2000-01-01", periods=4, freq="QS"))
    with pytest.raises(macro.MacroError, match="cannot put a series with 4 observations a year at monthly"):
        macro._to_frequency(monthly, "monthly", 4)


@pytest.fixture(scope="module")
def tables():
    names = ["census_annual", "census_monthly", "fred_macro", "worldbank_indicators", "bis_eer_monthly",
             "fx_krw_usd_annual"]
    return {n: io.read_table(n) for n in names}


def test_real_frames_and_errors(tables):
    frame = macro.build_frame(tables, "KOR", "annual", "gdp", "bilateral")
    assert frame.loc[2016, "imports_nominal"] == pytest.approx(69886.78, abs=0.01)
    # bilateral real rate by hand: KRW/USD x US CPI / Korea CPI
    wb = tables["worldbank_indicators"]
    cpi = wb[wb["indicator_code"] == "FP.CPI.TOTL"].pivot(index="year", columns="iso3", values="value")
    fx = tables["fx_krw_usd_annual"].set_index("year")["krw_per_usd"]
    assert frame.loc[2011, "rer"] == pytest.approx(fx[2011] * cpi.loc[2011, "USA"] / cpi.loc[2011, "KOR"])
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
