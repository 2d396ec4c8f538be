"""Effect estimators: recovery of known effects on seeded SYNTHETIC panels, pyfixest
against a statsmodels dummy-variable fit, clustered errors against a hand-written
sandwich, synthetic-control properties, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from korus_research import effects

ENTRY = pd.Timestamp("2012-03-15")


def simulated_panel(effect: float, seed: int, n_partners: int = 25, start: int = 2000, end: int = 2019,
                    noise: float = 0.05) -> pd.DataFrame:
    """SYNTHETIC partner-year panel: log flow = partner + year effects + effect x post for T0."""
    rng = np.random.default_rng(seed)
    partners = [f"P{i:02d}" for i in range(n_partners)]
    years = np.arange(start, end + 1)
    alpha = rng.normal(8, 1, n_partners)
    gamma = np.cumsum(rng.normal(0.03, 0.02, len(years)))
    rows = []
    for i, p in enumerate(partners):
        for j, y in enumerate(years):
            post = (i == 0) and y >= ENTRY.year
            log_v = alpha[i] + gamma[j] + effect * post + rng.normal(0, noise)
            rows.append({"partner": p, "year": int(y), "exports": np.exp(log_v), "imports": np.exp(log_v + 0.3)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("method", ["ols", "ppml"])
def test_event_study_recovers_a_known_effect(method):
    panel = simulated_panel(effect=0.25, seed=7)
    res = effects.event_study(panel, "P00", ENTRY, "imports", method, window=(-4, 3))
    post = res.coefficients[res.coefficients["event_time"] >= 0]
    # every post coefficient is within 3 standard errors (and 0.1) of the true 0.25
    assert (np.abs(post["estimate"] - 0.25) < np.maximum(3 * post["se"], 0.1)).all()
    leads = res.coefficients[res.coefficients["event_time"] < -1]
    assert (np.abs(leads["estimate"]) < 0.15).all()
    assert res.pretrend["df1"] == 3 and 0 <= res.pretrend["p_value"] <= 1


def test_pyfixest_equals_statsmodels_dummies_and_hand_sandwich():
    panel = simulated_panel(effect=0.2, seed=3, n_partners=8, start=2006, end=2016)
    res = effects.event_study(panel, "P00", ENTRY, "exports", "ols", window=(-2, 2))
    data, names = effects.add_event_time(panel, "P00", ENTRY, (-2, 2), -1)
    data = data.assign(y=np.log(data["exports"]))
    sm = smf.ols(f"y ~ {' + '.join(names)} + C(partner) + C(year)", data=data).fit()
    got = res.coefficients.set_index("event_time")["estimate"]
    for k, name in zip([-2, 0, 1, 2], names, strict=True):
        assert got[k] == pytest.approx(sm.params[name], abs=1e-6)
    # hand-written CR1 sandwich on the full dummy design, G/(G-1) small-sample factor
    X = sm.model.exog
    u = sm.resid.to_numpy()
    bread = np.linalg.inv(X.T @ X)
    groups = data["partner"].to_numpy()
    meat = np.zeros((X.shape[1], X.shape[1]))
    for g in np.unique(groups):
        s = X[groups == g].T @ u[groups == g]
        meat += np.outer(s, s)
    G = len(np.unique(groups))
    V = G / (G - 1) * bread @ meat @ bread
    cols = list(sm.params.index)
    se = res.coefficients.set_index("event_time")["se"]
    for k, name in zip([-2, 0, 1, 2], names, strict=True):
        i = cols.index(name)
        assert se[k] == pytest.approx(np.sqrt(V[i, i]), rel=1e-6)


def test_dollar_effects_by_hand():
    panel = simulated_panel(effect=0.0, seed=1, n_partners=6)
    table = pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, np.log(2), 0.0], "se": [0.0, 0.1, 0.0]})
    fake = {f: effects.EventStudyResult(table, {}, 0, 0, "ols", f) for f in ("exports", "imports")}
    out = effects.dollar_effects(panel, "P00", ENTRY, fake, [2012], unit=1.0)
    actual_m = panel.set_index(["partner", "year"]).loc[("P00", 2012), "imports"]
    assert out.loc[2012, "imports_counterfactual"] == pytest.approx(actual_m / 2)
    assert out.loc[2012, "imports_effect"] == pytest.approx(actual_m / 2)
    assert out.loc[2012, "imports_effect_se"] == pytest.approx(actual_m / 2 * 0.1)
    assert out.loc[2012, "balance_effect"] == pytest.approx(out.loc[2012, "exports_effect"] - actual_m / 2)


def test_mean_dollar_effect_keeps_the_covariances():
    panel = simulated_panel(effect=0.0, seed=1, n_partners=6)
    names = ["ev_p0", "ev_p1"]
    table = pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, 0.2, 0.3], "se": [0.0, 0.1, 0.2]})
    vcov = pd.DataFrame([[0.01, 0.015], [0.015, 0.04]], index=names, columns=names)  # correlation 0.75
    fake = {f: effects.EventStudyResult(table, {}, 0, 0, "ols", f, vcov) for f in ("exports", "imports")}
    got = effects.mean_dollar_effect(panel, "P00", ENTRY, fake, "imports_effect", [2012, 2013], unit=1.0)
    y = panel.set_index(["partner", "year"]).loc["P00", "imports"]
    mean = (y[2012] * (1 - np.exp(-0.2)) + y[2013] * (1 - np.exp(-0.3))) / 2
    g = np.array([y[2012] * np.exp(-0.2), y[2013] * np.exp(-0.3)]) / 2
    assert got["estimate"] == pytest.approx(mean)
    assert got["se"] == pytest.approx(np.sqrt(g @ vcov.to_numpy() @ g))
    # independence across years (the old shortcut) would understate it with a positive correlation
    assert got["se"] > np.sqrt(g[0] ** 2 * 0.01 + g[1] ** 2 * 0.04)
    assert got["ci_high"] - got["estimate"] == pytest.approx(got["se"] * 1.959963984540054)
    balance = effects.mean_dollar_effect(panel, "P00", ENTRY, fake, "balance_effect", [2012, 2013], unit=1.0)
    x = panel.set_index(["partner", "year"]).loc["P00", "exports"]
    assert balance["estimate"] == pytest.approx((x[2012] * (1 - np.exp(-0.2)) + x[2013] * (1 - np.exp(-0.3))) / 2 - mean)
    with pytest.raises(effects.EffectsError, match="quantity 'trade'"):
        effects.mean_dollar_effect(panel, "P00", ENTRY, fake, "trade", [2012])


def test_product_did_recovers_group_effects():
    rng = np.random.default_rng(11)
    rows = []
    for p in [f"P{i}" for i in range(12)]:
        a = rng.normal(0, 0.5)
        for h in [f"{c:02d}" for c in range(1, 13)]:
            b = rng.normal(10, 1)
            for y in range(2007, 2020):
                g = "autos" if h in ("01", "02", "03") else "other"
                eff = 0.4 if (p == "P0" and y >= 2012 and g == "autos") else 0.0
                mu = np.exp(a + b + 0.02 * (y - 2007) + eff)
                rows.append({"partner": p, "hs2": h, "group": g, "year": y, "value": mu * rng.gamma(5000, 1 / 5000)})
    panel = pd.DataFrame(rows)
    # low noise: with one treated partner the partner-clustered errors rest on one treated
    # cluster (Conley and Taber 2011), so the check is against the truth, not only the s.e.
    for method in ("ppml", "ols"):
        out = effects.product_did(panel, "P0", ENTRY, method=method).set_index("group")
        assert abs(out.loc["autos", "estimate"] - 0.4) < max(3 * out.loc["autos", "se"], 0.03), method
        assert abs(out.loc["other", "estimate"]) < max(3 * out.loc["other", "se"], 0.03), method


def test_synth_weights_are_a_convex_combination_and_copy_a_donor():
    rng = np.random.default_rng(5)
    donors = rng.uniform(0.01, 0.1, size=(12, 6))
    w = effects.synth_weights(donors[:, 2], donors)
    assert (w >= 0).all() and w.sum() == pytest.approx(1, abs=1e-12)
    np.testing.assert_allclose(w, np.eye(6)[2], atol=1e-8)
    w2 = effects.synth_weights(rng.uniform(0, 1, 12), donors)
    assert (w2 >= 0).all() and w2.sum() == pytest.approx(1, abs=1e-12)


def test_synthetic_control_recovers_a_known_gap():
    rng = np.random.default_rng(9)
    years = range(2000, 2020)
    donors = pd.DataFrame(rng.uniform(0.01, 0.05, (20, 8)) + np.linspace(0, 0.01, 20)[:, None],
                          index=years, columns=[f"D{i}" for i in range(8)])
    treated = 0.5 * donors["D1"] + 0.5 * donors["D4"] + np.where(np.array(list(years)) >= 2012, 0.01, 0.0)
    shares = donors.assign(T=treated)
    fit = effects.synthetic_control(shares, "T", 2012)
    assert fit.rmspe_pre < 1e-8
    np.testing.assert_allclose(fit.path.loc[2012:, "gap"], 0.01, atol=1e-8)
    placebo = effects.placebo_in_space(shares, "T", 2012)
    assert placebo.loc[0, "unit"] == "T" and placebo.attrs["p_value"] == pytest.approx(1 / 9)


def test_bad_input():
    panel = simulated_panel(effect=0.0, seed=2, n_partners=4)
    with pytest.raises(effects.EffectsError, match="treated partner 'KOR' is absent"):
        effects.event_study(panel, "KOR", ENTRY)
    with pytest.raises(effects.EffectsError, match="no pre-period for P00"):
        effects.event_study(panel[panel["year"] >= 2012], "P00", ENTRY)
    with pytest.raises(effects.EffectsError, match="control group is empty"):
        effects.event_study(panel[panel["partner"] == "P00"], "P00", ENTRY)
    shares = pd.DataFrame({"T": [0.1, 0.2, 0.3]}, index=[2010, 2011, 2012])
    with pytest.raises(effects.EffectsError, match="donor pool is empty"):
        effects.synthetic_control(shares, "T", 2012)
    with pytest.raises(effects.EffectsError, match="method 'iv'"):
        effects.event_study(panel, "P00", ENTRY, method="iv")


def test_control_groups_on_the_real_data():
    from korus_research import io

    annual = io.read_table("census_annual")
    group = effects.default_control_group(annual, "KOR")
    assert len(group) == 30 and "KOR" not in group
    assert not {"COL", "PAN", "PER", "OMN", "CRI", "DOM"} & set(group)
    assert effects.parse_control_group("JPN, DEU", annual, "KOR") == ["JPN", "DEU"]
    with pytest.raises(effects.EffectsError, match="control group is empty"):
        effects.parse_control_group(" , ", annual, "KOR")
    with pytest.raises(ValueError, match="not an ISO3 code"):
        effects.parse_control_group("XXX", annual, "KOR")
