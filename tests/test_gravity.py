"""Gravity: recovery on seeded SYNTHETIC panels, a statsmodels GLM dummy-variable
cross-check, hand-written sandwiches under both conventions, the GE solver's equilibrium
conditions, the OECD unit fix, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from korus_research import gravity, io
from korus_research.errors import DataError


def simulated_gravity(beta: float, seed: int, n: int = 10, years=(2000, 2004, 2008, 2012, 2016)) -> pd.DataFrame:
    """SYNTHETIC structural-gravity panel with a known agreement effect ``beta`` between C0 and C1."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    rows = []
    pair_cost = {(i, j): rng.normal(0, 0.8) for i in countries for j in countries}
    for y in years:
        ex = {c: rng.normal(0, 0.5) for c in countries}
        im = {c: rng.normal(0, 0.5) for c in countries}
        for i in countries:
            for j in countries:
                if i == j:
                    continue
                agreement = {i, j} == {"C0", "C1"} and y >= 2012
                mu = np.exp(5 + ex[i] + im[j] + pair_cost[(i, j)] + beta * agreement)
                rows.append({"exporter": i, "importer": j, "year": y, "trade": rng.poisson(mu),
                             "other": float(rng.random() < 0.1)})
    return pd.DataFrame(rows)


def test_recovers_a_known_agreement_effect():
    panel = simulated_gravity(0.3, seed=1, n=14)
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012, "fta", other=panel["other"])
    res = gravity.ppml(data, "trade", terms)
    row = res.table.set_index("term").loc["fta"]
    assert abs(row["estimate"] - 0.3) < 3 * row["se"]
    assert abs(res.table.set_index("term").loc["other_agreements", "estimate"]) < 0.05


def _small():
    panel = simulated_gravity(0.25, seed=4, n=6, years=(2000, 2008, 2016))
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012, "fta", other=panel["other"])
    data = data.assign(exp_year=data["exporter"] + "_" + data["year"].astype(str),
                       imp_year=data["importer"] + "_" + data["year"].astype(str),
                       pair=data["exporter"] + "_" + data["importer"])
    return data, terms


def test_agrees_with_statsmodels_glm_dummies_and_hand_sandwich():
    data, terms = _small()
    res = gravity.ppml(data, "trade", terms, ssc="stata")
    glm = smf.glm(f"trade ~ {' + '.join(terms)} + C(exp_year) + C(imp_year) + C(pair)", data=data,
                  family=sm.families.Poisson()).fit(tol=1e-13, maxiter=500)
    est = res.table.set_index("term")
    for t in terms:
        assert est.loc[t, "estimate"] == pytest.approx(glm.params[t], abs=1e-6)
    # hand-written pair-clustered sandwich on the full dummy design
    X = glm.model.exog
    mu = glm.mu
    u = data["trade"].to_numpy() - mu
    bread = np.linalg.pinv(X.T @ (X * mu[:, None]))
    meat = np.zeros((X.shape[1], X.shape[1]))
    groups = data["pair"].to_numpy()
    for g in np.unique(groups):
        s = X[groups == g].T @ u[groups == g]
        meat += np.outer(s, s)
    G = len(np.unique(groups))
    V = bread @ meat @ bread
    cols = list(glm.params.index)
    for t in terms:
        i = cols.index(t)
        assert est.loc[t, "se"] == pytest.approx(np.sqrt(G / (G - 1) * V[i, i]), rel=1e-5)
    # fixest convention: also (N-1)/(N-K), K counting the coefficients and the levels of the
    # fixed effects not nested in the clusters, less one per additional dimension (pair
    # effects, nested in the pair clusters, are not counted)
    fx = gravity.ppml(data, "trade", terms, ssc="fixest").table.set_index("term")
    N = len(data)
    K = len(terms) + data["exp_year"].nunique() + data["imp_year"].nunique() - 1
    for t in terms:
        i = cols.index(t)
        assert fx.loc[t, "se"] == pytest.approx(np.sqrt(G / (G - 1) * (N - 1) / (N - K) * V[i, i]), rel=1e-5)


def test_pe_counterfactual_by_hand():
    data, terms = _small()
    res = gravity.ppml(data, "trade", terms)
    out = gravity.pe_counterfactual(data, "trade", res, ("C0", "C1"), terms, [2016])
    b = res.table.set_index("term").loc["fta", "estimate"]
    x01 = data.query("exporter == 'C0' and importer == 'C1' and year == 2016")["trade"].iloc[0]
    x10 = data.query("exporter == 'C1' and importer == 'C0' and year == 2016")["trade"].iloc[0]
    assert out.loc[2016, "balance effect"] == pytest.approx((x01 - x10) * (1 - np.exp(-b)))
    assert out.loc[2016, "active terms"] == "fta"


def test_ge_solver_baseline_and_market_clearing():
    rng = np.random.default_rng(2)
    names = [f"C{i}" for i in range(6)]
    flows = pd.DataFrame(rng.uniform(1, 10, (6, 6)) + np.eye(6) * 50, index=names, columns=names)
    ones = pd.DataFrame(1.0, index=names, columns=names)
    base = gravity.ge_counterfactual(flows, ones)
    np.testing.assert_allclose(base.flows.to_numpy(), flows.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(base.price_change, 1.0, rtol=1e-12)
    tau = ones.copy()
    tau.loc["C0", "C1"] = tau.loc["C1", "C0"] = np.exp(-0.3)
    cf = gravity.ge_counterfactual(flows, tau)
    assert cf.max_clearing_error < 1e-8
    # market clearing written out: output = sales to every destination, expenditure shares fixed
    y_new = cf.price_change * flows.sum(axis=1)
    np.testing.assert_allclose(cf.flows.sum(axis=1), y_new, rtol=1e-8)
    deficit = flows.sum(axis=0) - flows.sum(axis=1)
    np.testing.assert_allclose(cf.flows.sum(axis=0), y_new + deficit, rtol=1e-8)
    assert cf.flows.to_numpy().sum() == pytest.approx(flows.to_numpy().sum(), rel=1e-10)
    assert cf.flows.loc["C0", "C1"] < flows.loc["C0", "C1"]  # higher costs, less trade
    assert cf.real_income_change["C0"] < 1 and cf.real_income_change["C1"] < 1


def test_bad_input():
    panel = simulated_gravity(0.0, seed=3, n=4, years=(2008, 2016))
    with pytest.raises(DataError, match="duplicated pair-year; rows: C0/C1/2008"):
        gravity.ppml(pd.concat([panel, panel.iloc[[0]]]), "trade", [])
    neg = panel.copy()
    neg.loc[0, "trade"] = -1
    with pytest.raises(DataError, match="negative or missing trade flow; rows: C0/C1/2008"):
        gravity.ppml(neg, "trade", [])
    with pytest.raises(gravity.GravityError, match="no flows between C0 and XX"):
        gravity.add_agreement_terms(panel, ("C0", "XX"), 2012)
    with pytest.raises(gravity.GravityError, match="does not vary"):
        gravity.add_agreement_terms(panel, ("C0", "C1"), 2030)
    # a pair with only zeros is reported and dropped, not hidden
    zeros = panel.copy()
    zeros.loc[(zeros["exporter"] == "C2") & (zeros["importer"] == "C3"), "trade"] = 0
    data, terms = gravity.add_agreement_terms(zeros, ("C0", "C1"), 2012)
    res = gravity.ppml(data, "trade", terms)
    assert res.info["pairs with only zeros (dropped)"] == 2


def test_real_panels():
    dta = io.read_table("gravity_dta")
    assert dta.loc[dta["agreement_id"] == 211, ["exporter", "importer"]].apply(frozenset, axis=1).eq(
        frozenset({"KOR", "USA"})).all()
    oecd = io.read_table("gravity_oecd")
    # after the unit fix, domestic sales exceed total exports (both in $ thousand)
    dom = oecd[oecd["exporter"] == oecd["importer"]].set_index(["exporter", "year"])["trade_usd_th"]
    intl = oecd[oecd["exporter"] != oecd["importer"]].groupby(["exporter", "year"])["trade_usd_th"].sum()
    share = (dom / (dom + intl)).dropna()
    assert share.loc[("USA", 2015)] > 0.8 and share.loc[("KOR", 2015)] > 0.5
    assert share.median() > 0.5  # without the fix the domestic share would be about 1000 times smaller
    wiod = io.read_table("gravity_wiod")
    assert wiod.query("exporter == 'KOR' and importer == 'USA' and year == 2014")["fta"].iloc[0] == 1
    dist = io.read_table("cepii_dist")
    assert dist.query("exporter == 'KOR' and importer == 'USA'")["dist_km"].iloc[0] > 10000


def test_agreement_id_absent_or_not_bilateral():
    dta = io.read_table("gravity_dta")
    assert gravity.members_of_agreement(dta, 211) == (("KOR", "USA"), 2012)
    with pytest.raises(gravity.GravityError, match="agreement id 999999 is absent"):
        gravity.members_of_agreement(dta, 999999)
    plurilateral = int(dta.loc[dta["agreement"].str.contains("European", na=False), "agreement_id"].iloc[0])
    with pytest.raises(gravity.GravityError, match="a bilateral agreement is needed"):
        gravity.members_of_agreement(dta, plurilateral)


def test_terms_outside_the_pairs_years():
    panel = simulated_gravity(0.0, seed=5, n=4, years=(2008, 2012, 2016))
    # a lag beyond the panel's last year is left out, not estimated as a constant
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2016, lags=(4,), lead=4)
    assert "agreement_lag4" not in terms and data.attrs["dropped_terms"] == ["agreement_lag4"]
    assert "agreement_lead4" in terms
    # with pair effects, an agreement in force over the whole panel cannot be identified
    with pytest.raises(gravity.GravityError, match="pair effect absorbs it"):
        gravity.add_agreement_terms(panel, ("C0", "C1"), 2005, within_pair=True)
    # without pair effects (two-way) the same term varies across pairs and is kept
    _, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2005)
    assert terms == ["agreement"]


def test_agreements_of_a_pair_include_plurilateral_ones():
    dta = io.read_table("gravity_dta")
    kor = gravity.agreements_of_pair(dta, "USA", "KOR")
    assert kor.iloc[0].to_dict() == {"agreement_id": 211, "first_year": 2012, "members": 2}
    mex = gravity.agreements_of_pair(dta, "USA", "MEX")
    assert len(mex) and (mex["members"] > 2).any()  # NAFTA is plurilateral
    assert gravity.agreements_of_pair(dta, "USA", "CHN").empty


def _guide_panel(mirror, name: str) -> pd.DataFrame:
    """The Yotov et al. (2016) guide's teaching data, 1986-2006 every 4 years."""
    path = mirror / "published" / "yotov2016" / name
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    d = pd.read_stata(path)
    d = d[d["year"].isin([1986, 1990, 1994, 1998, 2002, 2006])].copy()
    d["year"] = d["year"].astype(int)
    for c in [c for c in ("CNTG", "LANG", "CLNY", "RTA") if c in d]:
        d[c] = d[c].astype(float)
    return d


def test_reproduces_yotov_et_al_2016_table_1_ppml(mirror):
    # published: Table 1, PPML column (international flows, exporter-year and importer-year
    # effects, errors clustered by the symmetric pair_id), N = 28,152
    d = _guide_panel(mirror, "Chapter1Application1.dta")
    d = d[d["exporter"] != d["importer"]].assign(ln_DIST=lambda f: np.log(f["DIST"]))
    res = gravity.ppml(d, "trade", [], fixed_effects="two-way", covariates=["ln_DIST", "CNTG", "LANG", "CLNY"],
                       errors="cluster", cluster_column="pair_id")
    est = res.table.set_index("term")["estimate"]
    assert res.info["used"] == 28152
    for term, published in {"ln_DIST": -0.841, "CNTG": 0.437, "LANG": 0.247, "CLNY": -0.222}.items():
        assert est[term] == pytest.approx(published, abs=5e-4), term
    # the symmetric pair_id of the guide is our "symmetric" pair kind
    assert d.groupby(gravity.pair_ids(d, "symmetric"))["pair_id"].nunique().max() == 1


def test_reproduces_the_guides_rta_effect_with_shared_domestic_pair_effects(mirror):
    # published (RTAsEffects.log): RTA 0.5571853, semi-robust s.e. 0.055771, N = 28,482 (84 zero-pair
    # observations excluded), exporter-year, importer-year and pair effects, one pair effect shared
    # by all intra-national flows
    d = _guide_panel(mirror, "Chapter2Application2.dta")
    d["pair"] = gravity.pair_ids(d, "symmetric, shared domestic")
    res = gravity.ppml(d, "trade", ["RTA"], pair_column="pair", errors="hetero", ssc="stata")
    row = res.table.set_index("term").loc["RTA"]
    assert row["estimate"] == pytest.approx(0.5571853, abs=1e-6)
    assert row["se"] == pytest.approx(0.055771, abs=2e-6)
    assert res.info["used"] == 28482 and res.info["pairs with only zeros (dropped)"] == 84
    with pytest.raises(gravity.GravityError, match="choose 'cluster' or 'hetero'"):
        gravity.ppml(d, "trade", ["RTA"], errors="robust")


def _ge_gravity_published(mirror) -> pd.DataFrame:
    import pyreadr

    path = mirror / "published" / "ge_gravity_stata_results_TradeData0014.rda"
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    return pyreadr.read_r(str(path))["TradeData0014_Results"]


def test_partial_effect_matches_stata_ge_gravity_example(mirror):
    # published: PPML with exporter-year, importer-year and pair effects on international flows,
    # eu_enlargement + other_fta: partial effect 0.224249
    r = _ge_gravity_published(mirror)
    intl = r[r["exporter"] != r["importer"]].assign(year=lambda f: f["year"].astype(int))
    res = gravity.ppml(intl, "trade", ["eu_enlargement", "other_fta"])
    assert res.table.set_index("term").loc["eu_enlargement", "estimate"] == pytest.approx(0.224249, abs=1e-6)
    assert r.loc[r["new_eu_pair"] == 1, "eu_effect"].round(6).eq(0.224249).all()


@pytest.mark.parametrize("imbalances, welfare, flows", [("additive", "w_eu", "X_eu"),
                                                        ("multiplicative", "w_mult", "X_mult")])
def test_ge_with_imbalances_reproduces_stata_ge_gravity(mirror, imbalances, welfare, flows):
    # published: Stata ge_gravity, 2000 baseline, theta = 4, the EU enlargements' partial effect
    r = _ge_gravity_published(mirror)
    d = r[r["year"] == 2000]
    res = gravity.ge_with_imbalances(d.pivot(index="exporter", columns="importer", values="trade"),
                                     d.pivot(index="exporter", columns="importer", values="eu_effect"),
                                     theta=4, imbalances=imbalances)
    published_w = d.groupby("exporter")[welfare].first()
    published_x = d.pivot(index="exporter", columns="importer", values=flows)
    # the published columns are single precision (about 7 digits)
    assert np.max(np.abs(res.welfare / published_w - 1)) < 1e-6
    assert np.nanmax(np.abs((res.flows / published_x - 1).to_numpy())) < 1e-6
    if imbalances == "multiplicative":
        assert np.allclose(res.welfare, res.real_wage)
    else:
        assert res.max_clearing_error < 1e-10
        assert not np.allclose(res.welfare, res.real_wage)  # with deficits, welfare is not the real wage
    # no change in costs: the baseline back
    zero = gravity.ge_with_imbalances(res.flows * 0 + d.pivot(index="exporter", columns="importer", values="trade"),
                                      res.flows * 0, theta=4, imbalances=imbalances)
    assert np.allclose(zero.welfare, 1) and np.allclose(zero.flows, d.pivot(index="exporter", columns="importer",
                                                                              values="trade"))


def test_directional_agreement_effects_are_estimated_not_imposed():
    # SYNTHETIC panel: the agreement raises C0 -> C1 flows by 0.6 and C1 -> C0 flows by 0.1
    rng = np.random.default_rng(11)
    countries = [f"C{i}" for i in range(8)]
    pair_cost = {(i, j): rng.normal(0, 0.5) for i in countries for j in countries}
    rows = []
    for y in (2000, 2004, 2008, 2012, 2016):
        ex = {c: rng.normal(0, 0.3) for c in countries}
        im = {c: rng.normal(0, 0.3) for c in countries}
        for i in countries:
            for j in countries:
                if i != j:
                    effect = 0.6 if (i, j) == ("C0", "C1") else (0.1 if (i, j) == ("C1", "C0") else 0.0)
                    mu = np.exp(8 + ex[i] + im[j] + pair_cost[(i, j)] + effect * (y >= 2012))
                    rows.append({"exporter": i, "importer": j, "year": y, "trade": float(rng.poisson(mu))})
    panel = pd.DataFrame(rows)
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012)
    data, terms = gravity.split_by_direction(data, terms, ("C0", "C1"))
    assert terms == ["agreement_C0_to_C1", "agreement_C1_to_C0"]
    res = gravity.ppml(data, "trade", terms)
    est = res.table.set_index("term")["estimate"]
    assert est["agreement_C0_to_C1"] == pytest.approx(0.6, abs=0.03)
    assert est["agreement_C1_to_C0"] == pytest.approx(0.1, abs=0.03)
    pe = gravity.pe_counterfactual(data, "trade", res, ("C0", "C1"), terms, [2016])
    row = pe.loc[2016]
    x01 = data.query("exporter == 'C0' and importer == 'C1' and year == 2016")["trade"].iloc[0]
    x10 = data.query("exporter == 'C1' and importer == 'C0' and year == 2016")["trade"].iloc[0]
    by_hand = x01 * (1 - np.exp(-est["agreement_C0_to_C1"])) - x10 * (1 - np.exp(-est["agreement_C1_to_C0"]))
    assert row["balance effect"] == pytest.approx(by_hand, rel=1e-12)
    assert row["exports effect"] == pytest.approx(x01 * (1 - np.exp(-est["agreement_C0_to_C1"])), rel=1e-12)
    assert row["balance effect ci_low"] < by_hand < row["balance effect ci_high"]
